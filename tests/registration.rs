//! Dynamic Client Registration (RFC 7591) and its management protocol (RFC
//! 7592), driven by the `openidconnect` crate's registration client: a
//! program registers itself, its users sign in with it (consent included,
//! a registered client being third-party), it reads, replaces and deletes
//! its registration; and the modes (`off`, `token`, `open`) decide who may
//! register.

use crate::oidc::{hidden, sign_in_as};
use crate::support::{Backend, Options, TestServer};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientRegistrationRequest, CoreGrantType, CoreProviderMetadata,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AccessToken, AuthorizationCode, ClientName, CsrfToken, IssuerUrl, LocalizedClaim, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::service::oauth::management::MANAGEMENT_AUDIENCE;
use tessera::web::routes;

const CB: &str = "https://printer.example/cb";
const PASSWORD: &str = "alice's long password";

fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn server(backend: Backend, mode: &str) -> TestServer {
    let env = vec![("TESSERA_REGISTRATION__MODE".to_owned(), mode.to_owned())];
    TestServer::start_with(backend, Options { env, ..Default::default() })
}

async fn discover(s: &TestServer) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &http()).await.expect("discovery")
}

/// A raw JSON request to a registration endpoint: status, headers, body.
async fn send(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A management token holding `scopes` (comma-separated), from a client
/// made with `tessera mgmt-client create`.
async fn management_token(s: &TestServer, scopes: &str) -> String {
    let c = s.cli_json(&["mgmt-client", "create", "--name", "registrar", "--scopes", scopes]);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let wanted = scopes.replace(',', " ");
    let pairs = [("grant_type", "client_credentials"), ("audience", MANAGEMENT_AUDIENCE), ("scope", wanted.as_str())];
    let (status, body) = s.token_form(id, secret, &pairs).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// docs/security-checklist.md C-3. Open registration through the
/// `openidconnect` crate; the registered client signs a user in (after
/// consent) and gets a verified ID token; RFC 7592 read, update and delete
/// with the registration access token and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_registers_itself_and_its_users_sign_in_with_it() {
    let s = server(Backend::Sqlite, "open");
    let user = s.create_user("alice", PASSWORD, &[]);
    let meta = discover(&s).await;
    let endpoint = meta.registration_endpoint().expect("discovery lists the registration endpoint").clone();
    assert_eq!(endpoint.as_str(), format!("{}{}", s.base, routes::REGISTER));

    let mut name = LocalizedClaim::new();
    name.insert(None, ClientName::new("Photo Printer".into()));
    let registered = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(CB.into()).unwrap()],
        EmptyAdditionalClientMetadata::default(),
    )
    .set_client_name(Some(name))
    .set_grant_types(Some(vec![CoreGrantType::AuthorizationCode, CoreGrantType::RefreshToken]))
    .register_async(&endpoint, &http())
    .await
    .expect("RFC 7591 registration");
    let client_id = registered.client_id().clone();
    let secret = registered.client_secret().expect("a confidential client gets a secret").clone();
    let rat = registered.registration_access_token().expect("RFC 7592 registration access token").secret().clone();
    let config_uri = registered.registration_client_uri().expect("RFC 7592 client configuration endpoint").clone();
    assert_eq!(config_uri.as_str(), format!("{}{}", s.base, routes::registered_client(client_id.as_str())));

    // The registered client signs alice in; being third-party, it asks her.
    let client = CoreClient::from_provider_metadata(meta, client_id.clone(), Some(secret.clone()))
        .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let b = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consent = sign_in_as(&s.base, &b, url.as_str(), "alice", PASSWORD).await;
    assert_eq!(consent.status(), 200, "a registered client is third-party: the consent page");
    let html = consent.text().await.unwrap();
    assert!(html.contains("Photo Printer"), "{html}");
    assert!(html.contains("registered itself") && html.contains("<strong>printer.example</strong>"), "{html}");
    let form =
        [("csrf", hidden(&html, "csrf")), ("authorize", hidden(&html, "authorize")), ("decision", "allow".to_owned())];
    let allowed = b.post(format!("{}{}", s.base, routes::CONSENT)).form(&form).send().await.unwrap();
    let location = allowed.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("the registered client redeems its code");
    let claims = token.id_token().unwrap().claims(&client.id_token_verifier(), &nonce).expect("ID token verifies");
    assert_eq!(claims.subject().as_str(), user["id"].as_str().unwrap());
    assert!(token.refresh_token().is_some(), "it registered the refresh_token grant");

    // RFC 7592 §2.1: read with the registration access token only.
    let (status, headers, read) = send(reqwest::Method::GET, config_uri.as_str(), Some(&rat), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(read["client_id"], client_id.as_str());
    assert_eq!(read["client_name"], "Photo Printer");
    assert_eq!(read["redirect_uris"], json!([CB]));
    assert_eq!(read["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(read["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(read["registration_access_token"], rat.as_str());
    assert!(read.get("client_secret").is_none(), "only its hash is kept: {read}");
    for token in [Some("not-the-token"), Some(secret.secret().as_str()), None] {
        let (status, headers, _) = send(reqwest::Method::GET, config_uri.as_str(), token, None).await;
        assert_eq!(status, 401, "{token:?}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert_eq!(challenge.contains("invalid_token"), token.is_some(), "{challenge}");
    }

    // RFC 7592 §2.2: a full replacement; client_id must name it; the
    // authentication method cannot switch to none.
    let mut update = json!({
        "client_id": client_id.as_str(),
        "client_name": "Photo Printer 2",
        "redirect_uris": [CB, "https://printer.example/cb2"],
        "grant_types": ["authorization_code"],
        "contacts": ["ops@printer.example"],
    });
    let (status, _, updated) = send(reqwest::Method::PUT, config_uri.as_str(), Some(&rat), Some(update.clone())).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Photo Printer 2");
    assert_eq!(updated["redirect_uris"], json!([CB, "https://printer.example/cb2"]));
    assert_eq!(updated["grant_types"], json!(["authorization_code"]));
    assert_eq!(updated["contacts"], json!(["ops@printer.example"]));
    let shown = s.cli_json(&["client", "show", client_id.as_str()]);
    assert_eq!(shown["name"], "Photo Printer 2", "the client itself changed: {shown}");
    update["token_endpoint_auth_method"] = json!("none");
    let (status, _, body) = send(reqwest::Method::PUT, config_uri.as_str(), Some(&rat), Some(update.clone())).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}");
    update["token_endpoint_auth_method"] = json!("client_secret_basic");
    update["client_id"] = json!("someone-else");
    let (status, _, body) = send(reqwest::Method::PUT, config_uri.as_str(), Some(&rat), Some(update)).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_request")), "{body}");

    // Open registration: only grants a user approves; RFC 7591 §3.2.2 codes.
    let reg = |body: Value| send(reqwest::Method::POST, endpoint.as_str(), None, Some(body));
    let (status, headers, body) = reg(json!({"grant_types": ["client_credentials"], "response_types": []})).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, body) = reg(json!({"redirect_uris": ["https://printer.example/cb#x"]})).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_redirect_uri")), "{body}");
    let (status, _, body) = reg(json!({"client_name": "no redirect"})).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_redirect_uri")), "{body}");
    // Nothing the server would fetch or post to, from an anonymous caller.
    let (status, _, body) = reg(json!({"redirect_uris": [CB], "backchannel_logout_uri": "https://10.0.0.5/bye"})).await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_client_metadata")), "{body}");
    // A public client (none) gets no secret; its token cannot touch the first.
    let (status, _, public) =
        reg(json!({"redirect_uris": ["http://127.0.0.1:8123/cb"], "token_endpoint_auth_method": "none"})).await;
    assert_eq!(status, 201, "{public}");
    assert!(public.get("client_secret").is_none() && public.get("client_secret_expires_at").is_none(), "{public}");
    assert_eq!(public["client_name"], "Registered client (127.0.0.1)");
    let other = public["registration_access_token"].as_str().unwrap();
    let (status, _, _) = send(reqwest::Method::GET, config_uri.as_str(), Some(other), None).await;
    assert_eq!(status, 401, "one client's registration token is not another's");

    // The audit log names the registration as the actor.
    let audit = s.cli(&["audit", "export"]);
    let created = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["action"] == "client.create" && e["target"] == client_id.as_str())
        .unwrap_or_else(|| panic!("no client.create in {audit}"));
    assert_eq!(created["actor"], "registration");

    // Runtime data, not configuration: export leaves it out, and applying
    // that directory (GitOps) does not delete it.
    let dir = s.data_dir().join("config");
    s.cli(&["export", dir.to_str().unwrap()]);
    let exported: Vec<String> = std::fs::read_dir(dir.join("clients"))
        .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap()).collect())
        .unwrap_or_default();
    assert!(exported.iter().all(|f| !f.contains("Photo Printer")), "{exported:?}");
    s.cli(&["apply", dir.to_str().unwrap(), "--yes"]);
    let (status, _, _) = send(reqwest::Method::GET, config_uri.as_str(), Some(&rat), None).await;
    assert_eq!(status, 200, "apply left the registered client alone");
    assert_eq!(s.cli_json(&["client", "show", client_id.as_str()])["self_registered"], true);

    // RFC 7592 §2.3: deleted, the client and its registration are gone.
    let (status, headers, _) = send(reqwest::Method::DELETE, config_uri.as_str(), Some(&rat), None).await;
    assert_eq!(status, 204);
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, _) = send(reqwest::Method::GET, config_uri.as_str(), Some(&rat), None).await;
    assert_eq!(status, 401);
    let (status, body) =
        s.token_form(client_id.as_str(), secret.secret(), &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
}

/// `registration.mode`: off (the default) serves nothing and lists
/// nothing; `token` takes an initial access token, a management token with
/// `write:clients`, and then any grant type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_off_by_default_and_token_mode_needs_an_administrators_token() {
    let off = TestServer::start(Backend::Postgres);
    assert!(discover(&off).await.registration_endpoint().is_none());
    let url = format!("{}{}", off.base, routes::REGISTER);
    let (status, _, _) = send(reqwest::Method::POST, &url, None, Some(json!({"redirect_uris": [CB]}))).await;
    assert_eq!(status, 404);
    let (status, _, _) = send(reqwest::Method::GET, &format!("{url}/anything"), Some("x"), None).await;
    assert_eq!(status, 404);
    drop(off);

    let s = server(Backend::Postgres, "token");
    let endpoint = discover(&s).await.registration_endpoint().expect("listed in token mode").clone();
    let machine = json!({"grant_types": ["client_credentials"], "response_types": [], "client_name": "Nightly job"});
    let (status, headers, _) = send(reqwest::Method::POST, endpoint.as_str(), None, Some(machine.clone())).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"tessera\"");
    let (status, headers, _) =
        send(reqwest::Method::POST, endpoint.as_str(), Some("forged"), Some(machine.clone())).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let reader = management_token(&s, "read:clients").await;
    let (status, headers, _) =
        send(reqwest::Method::POST, endpoint.as_str(), Some(&reader), Some(machine.clone())).await;
    assert_eq!(status, 403);
    assert!(headers["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));

    // With write:clients, through the crate's initial access token.
    let writer = management_token(&s, "write:clients").await;
    let registered = CoreClientRegistrationRequest::new(vec![], EmptyAdditionalClientMetadata::default())
        .set_grant_types(Some(vec![CoreGrantType::ClientCredentials]))
        .set_response_types(Some(vec![]))
        .set_initial_access_token(Some(AccessToken::new(writer)))
        .register_async(&endpoint, &http())
        .await
        .expect("registration with an initial access token");
    let api = "https://reports.api.example";
    s.cli_json(&["api", "create", "--identifier", api, "--scopes", "read"]);
    let id = registered.client_id().as_str();
    let secret = registered.client_secret().unwrap().secret();
    let (status, body) =
        s.token_form(id, secret, &[("grant_type", "client_credentials"), ("audience", api), ("scope", "read")]).await;
    assert_eq!(status, 200, "the registered machine client gets tokens: {body}");

    // An administrator edits it through the management API twice in a row:
    // each answer's ETag is the one the next change must match.
    let admin = management_token(&s, "read:clients,write:clients").await;
    let url = format!("{}{}/{id}", s.base, tessera::web::routes::api::CLIENTS);
    let http = reqwest::Client::new();
    let shown = http.get(&url).bearer_auth(&admin).send().await.unwrap();
    let mut tag = shown.headers()["etag"].to_str().unwrap().to_owned();
    for name in ["Nightly job (reports)", "Nightly job (billing)"] {
        let r = http
            .patch(&url)
            .bearer_auth(&admin)
            .header("If-Match", &tag)
            .header("Content-Type", "application/merge-patch+json")
            .body(json!({"name": name}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        tag = r.headers()["etag"].to_str().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["name"].as_str(), body["self_registered"].as_bool()), (Some(name), Some(true)), "{body}");
    }
}
