//! The shared fixture: a temporary data directory, a migrated SQLite
//! database with signing keys (`commands::open`, as every command), an
//! in-process plugin host, and an [`AppState`] built by
//! [`AppState::build`] exactly as `tessera serve` builds it, on a
//! [`SetClock`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::clock::{self, Clock as _, SetClock};
use crate::commands;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::service::admin::{self, NewApi, NewClient, NewUser};
use crate::web::{AppState, routes};
use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{test, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use tessera_plugin_host::{Compiler, PluginHost};
use tessera_protocol::model::SigningAlg;
use tessera_store::Store;

/// The issuer the tests run as.
pub const ISSUER: &str = "http://tessera.test";
/// The API most tests request tokens for.
pub const AUD: &str = "https://api.example";
/// The redirect URI of the browser client.
pub const CB: &str = "https://app.example/cb";

/// One Tessera, in process.
pub struct Harness {
    _dir: tempfile::TempDir,
    /// The state the routes see.
    pub state: web::Data<AppState>,
    /// The clock every service reads.
    pub clock: Arc<SetClock>,
    /// The master key (binding secrets, HS256 secrets).
    pub master: Arc<MasterKey>,
}

/// A registered client and its secret.
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl Harness {
    /// A fresh Tessera; `tune` adjusts the configuration first.
    pub fn new(tune: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config { data_dir: dir.path().to_owned(), issuer: Some(ISSUER.into()), ..Config::default() };
        tune(&mut config);
        let ctx = commands::open(config).unwrap();
        let node_key = crate::crypto::node_key(&ctx.config.data_dir).unwrap();
        let host_config = ctx.config.plugin_host();
        crate::files::private_dir(&host_config.cache_dir).unwrap();
        let host = Arc::new(PluginHost::new(host_config, *node_key, Compiler::InProcess).unwrap());
        let clock = SetClock::at(clock::now());
        let state = AppState::build(&ctx.config, ctx.store.clone(), ctx.master.clone(), host, clock.clone()).unwrap();
        Harness { _dir: dir, state: web::Data::new(state), clock, master: ctx.master }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// An RS256 API at [`AUD`] defining `read` and `write`.
    pub fn api(&self) {
        let api = NewApi {
            identifier: AUD.into(),
            name: None,
            alg: SigningAlg::RS256,
            token_lifetime_secs: 300,
            scopes: vec!["read".into(), "write".into()],
            resource_servers: Vec::new(),
        };
        admin::create_api(self.store(), &self.master, "test", self.clock.now(), api).unwrap();
    }

    /// A confidential client allowed `grant_types`, first party (no consent page).
    pub fn client(&self, grant_types: &[&str]) -> TestClient {
        let new = NewClient {
            name: "app".into(),
            grant_types: grant_types.iter().map(|g| (*g).to_owned()).collect(),
            redirect_uris: vec![CB.into()],
            metadata: json!({}),
            first_party: true,
            ..NewClient::default()
        };
        let (client, secret) = admin::create_client(self.store(), "test", self.clock.now(), new).unwrap();
        TestClient { id: client.id, secret: secret.unwrap().expose().to_owned() }
    }

    /// A user who can sign in with `password`.
    pub fn user(&self, username: &str, password: &str) {
        let new = NewUser {
            username: username.into(),
            password: Some(password.into()),
            metadata: json!({}),
            profile: json!({}),
            ..NewUser::default()
        };
        admin::create_user(self.store(), "test", self.clock.now(), new).unwrap();
    }

    /// The bytes of a built plugin component (`plugins/build.sh`).
    pub fn component(kind: &str, name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../plugins/build")
            .join(kind)
            .join(format!("{name}.wasm"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run plugins/build.sh)", p.display()))
    }
}

/// Syncs the configuration snapshot before every request. The tests change
/// configuration by calling the services directly (no console request, so
/// no sync after it), and the next request must see the change: this is
/// their explicit, observable wait, instead of the poller's next tick.
pub async fn sync_first(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        state.snapshots.sync().unwrap();
    }
    next.call(req).await
}

/// The public routes over the harness's state, as `web::servers` mounts them
/// (a macro: the service's request type is not nameable from this crate),
/// with the snapshot synced before each request ([`sync_first`]).
macro_rules! app {
    ($h:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .app_data($h.state.clone())
                .wrap(actix_web::middleware::from_fn(crate::web::tests::harness::sync_first))
                .configure(crate::web::public_routes),
        )
        .await
    };
}
pub(crate) use app;

/// Sends a `TestRequest` to the app; the status and the JSON body (`Null` if none).
macro_rules! send {
    ($app:expr, $req:expr) => {
        crate::web::tests::harness::json(actix_web::test::call_service($app, $req.to_request()).await).await
    };
}
pub(crate) use send;

/// The password of the users the tests sign in as.
pub const PASSWORD: &str = "correct horse battery";

/// Signs `alice` (password [`PASSWORD`]) in through the hosted login form
/// for the authorization request `query` (a `String`) and evaluates to the
/// parameters of the redirect back to [`CB`], from its query or fragment.
/// The client must be first-party: no consent page.
macro_rules! sign_in_and_authorize {
    ($app:expr, $query:expr) => {{
        use crate::web::browser::{CSRF_COOKIE, SESSION_COOKIE};
        use crate::web::routes;
        use crate::web::tests::harness::{CB, PASSWORD};
        use actix_web::cookie::Cookie;
        use actix_web::http::header;
        use actix_web::test;
        let query: String = $query;
        let cookie = |resp: &actix_web::dev::ServiceResponse<_>, name: &str| {
            resp.response().cookies().find(|c| c.name() == name).map(|c| c.value().to_owned()).unwrap()
        };
        let authorize = format!("{}?{query}", routes::AUTHORIZE);
        let login_page = test::call_service($app, test::TestRequest::get().uri(&authorize).to_request()).await;
        assert_eq!(login_page.status().as_u16(), 200, "not signed in: the login form");
        let csrf = cookie(&login_page, CSRF_COOKIE);
        let form = serde_urlencoded::to_string([
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
            ("authorize", query.as_str()),
        ])
        .unwrap();
        let signed_in = test::call_service(
            $app,
            test::TestRequest::post()
                .uri(routes::LOGIN)
                .cookie(Cookie::new(CSRF_COOKIE, csrf.clone()))
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(form)
                .to_request(),
        )
        .await;
        assert_eq!(signed_in.status().as_u16(), 303, "signed in");
        let session = cookie(&signed_in, SESSION_COOKIE);
        let back = test::call_service(
            $app,
            test::TestRequest::get().uri(&authorize).cookie(Cookie::new(SESSION_COOKIE, session)).to_request(),
        )
        .await;
        assert_eq!(back.status().as_u16(), 302, "first-party client: straight back");
        let location = back.headers().get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
        assert!(location.starts_with(CB), "{location}");
        let (_, rest) = location.split_once(['?', '#']).unwrap();
        serde_urlencoded::from_str::<Vec<(String, String)>>(rest)
            .unwrap()
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>()
    }};
}
pub(crate) use sign_in_and_authorize;

/// Signs `alice` in through the login form and returns a code for `client`
/// (scopes `openid offline_access`, no audience: the userinfo API).
macro_rules! code_for {
    ($app:expr, $client:expr) => {{
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", $client.id.as_str()),
            ("redirect_uri", crate::web::tests::harness::CB),
            ("scope", "openid offline_access"),
            ("state", "st"),
        ])
        .unwrap();
        let params = crate::web::tests::harness::sign_in_and_authorize!($app, query);
        assert_eq!(params["state"], "st");
        params["code"].clone()
    }};
}
pub(crate) use code_for;

/// A form POST to the token endpoint as `client` (HTTP Basic).
pub fn token_request(client: &TestClient, form: &[(&str, &str)]) -> test::TestRequest {
    let basic = STANDARD.encode(format!("{}:{}", client.id, client.secret));
    test::TestRequest::post()
        .uri(routes::TOKEN)
        .insert_header((header::AUTHORIZATION, format!("Basic {basic}")))
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(serde_urlencoded::to_string(form).unwrap())
}

/// The status and JSON body of a response (`Null` when the body is not JSON).
pub async fn json<B: MessageBody>(resp: ServiceResponse<B>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = test::read_body(resp).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The claims of a JWT, unverified (the tests check what was signed, the
/// signature is checked by the endpoints themselves).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
