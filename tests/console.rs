//! The admin console end to end: a real headless Chromium walks the whole
//! story (first-run setup, sign-in, an API, a client with a service account,
//! a plugin upload, a binding, the test panel), then a token from outside
//! the browser carries the claim. Plain HTTP checks cover CSRF, cross-site
//! posts, headers, session expiry, sign-out, throttling and validation.
//! Screenshots of every page go to `<target>/tmp/screenshots/console-*.png`.

use crate::client_credentials::oauth2_token;
use crate::on_both_backends;
use crate::plugins::component;
use crate::support::chrome::{chromium, screenshot_dir};
use crate::support::{Backend, Options, TestServer, verify_with_discovery};
use fantoccini::{Client, Locator};
use std::time::Duration;
use tessera::web::routes;

/// The test administrator.
pub const ADMIN: &str = "root";
/// The test administrator's password.
pub const ADMIN_PASSWORD: &str = "a long console passphrase";

/// The setup link the server printed on first start.
fn setup_link(server: &TestServer) -> String {
    let log = server.log_text();
    let at = log
        .find(&format!("{}?token=", routes::console::SETUP))
        .unwrap_or_else(|| panic!("no setup link in the log:\n{log}"));
    let token: String = log[at + routes::console::SETUP.len() + "?token=".len()..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    format!("{}{}?token={token}", server.base, routes::console::SETUP)
}

async fn shot(c: &Client, name: &str) {
    std::fs::write(screenshot_dir().join(format!("console-{name}.png")), c.screenshot().await.unwrap()).unwrap();
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

/// Clicks something that loads a new page, and waits until the new page has
/// replaced the old one (a form posted to the same URL keeps the URL, and an
/// element found on the old page would be stale or show old text).
async fn click(c: &Client, css: &str) {
    c.execute("window.__tesseraOldPage = true;", vec![]).await.unwrap();
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    for _ in 0..200 {
        let old =
            c.execute("return window.__tesseraOldPage === true && document.readyState === 'complete';", vec![]).await;
        if matches!(old, Ok(serde_json::Value::Bool(false))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} did not load a new page");
}

async fn text(c: &Client, css: &str) -> String {
    c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

/// Chromium wants an absolute, canonical path for a file input.
fn upload_path(kind: &str, name: &str) -> String {
    std::fs::canonicalize(component(kind, name)).unwrap().to_string_lossy().into_owned()
}

async fn title(c: &Client) -> String {
    c.title().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_walks_the_whole_console_story() {
    let server = TestServer::start(Backend::Sqlite);
    let (_driver, c) = chromium().await;

    // First run: the one-time setup link creates the administrator.
    c.goto(&setup_link(&server)).await.unwrap();
    assert_eq!(title(&c).await, "Set up · Tessera console");
    shot(&c, "setup").await;
    fill(&c, "#username", ADMIN).await;
    fill(&c, "#password", "too short").await;
    fill(&c, "#confirm", "too short").await;
    click(&c, "button[type=submit]").await;
    assert!(text(&c, "#setup-error").await.contains("15"), "a short password is refused");
    fill(&c, "#password", ADMIN_PASSWORD).await;
    fill(&c, "#confirm", ADMIN_PASSWORD).await;
    click(&c, "button[type=submit]").await;
    c.wait().for_element(Locator::Css("#count-users")).await.unwrap();
    assert_eq!(title(&c).await, "Dashboard · Tessera console");
    shot(&c, "dashboard").await;

    // Sign out, and back in through the sign-in form.
    click(&c, "#sign-out").await;
    c.wait().for_element(Locator::Css("#password")).await.unwrap();
    assert_eq!(title(&c).await, "Sign in · Tessera console");
    fill(&c, "#username", ADMIN).await;
    fill(&c, "#password", "not the password").await;
    click(&c, "button[type=submit]").await;
    assert_eq!(text(&c, "#login-error").await, "Incorrect username or password.");
    shot(&c, "login").await;
    fill(&c, "#password", ADMIN_PASSWORD).await;
    click(&c, "button[type=submit]").await;
    c.wait().for_element(Locator::Css("#count-users")).await.unwrap();

    // An API.
    c.goto(&format!("{}{}", server.base, routes::console::NEW_API)).await.unwrap();
    fill(&c, "#identifier", "https://orders.example").await;
    fill(&c, "#scopes", "orders:read, orders:write").await;
    click(&c, "#save").await;
    assert_eq!(text(&c, "#notice").await, "Created.");
    assert_eq!(title(&c).await, "API https://orders.example · Tessera console");
    shot(&c, "api").await;

    // The service-account user of the README scenario ("Plugins: one rule for every grant").
    c.goto(&format!("{}{}", server.base, routes::console::NEW_USER)).await.unwrap();
    fill(&c, "#username", "reporting-bot").await;
    fill(&c, "#password", "a password for the bot").await;
    fill(&c, "#metadata", "{\"team\": ").await;
    click(&c, "#save").await;
    assert!(text(&c, "#metadata-error").await.contains("not valid JSON"), "bad metadata is shown next to its field");
    shot(&c, "user-error").await;
    fill(&c, "#password", "a password for the bot").await;
    fill(&c, "#metadata", "{\"team\": \"finance\"}").await;
    click(&c, "#save").await;
    assert_eq!(text(&c, "#notice").await, "Created.");
    c.goto(&format!("{}{}", server.base, routes::console::USERS)).await.unwrap();
    shot(&c, "users").await;

    // A confidential client with the service account; the secret is shown once.
    c.goto(&format!("{}{}", server.base, routes::console::NEW_CLIENT)).await.unwrap();
    fill(&c, "#name", "Reporting job").await;
    fill(&c, "#service_account", "reporting-bot").await;
    fill(&c, "#redirect_uris", "http://client.example/cb").await;
    shot(&c, "client-new").await;
    click(&c, "#save").await;
    assert!(text(&c, "#redirect-uri-error").await.contains("loopback"), "plain http redirect URIs are refused");
    fill(&c, "#redirect_uris", "").await;
    // The back-channel logout URL, under "Advanced" (open since the error).
    fill(&c, "#backchannel_logout_uri", "https://client.example/logout#part").await;
    click(&c, "#save").await;
    assert!(text(&c, "#backchannel-logout-uri-error").await.contains("fragment"), "§2.2: no fragment");
    fill(&c, "#backchannel_logout_uri", "https://client.example/logout").await;
    click(&c, "#save").await;
    let client_id = text(&c, "#owner-id").await;
    let shown = server.cli_json(&["client", "show", &client_id]);
    assert_eq!(shown["backchannel_logout_uri"], "https://client.example/logout", "{shown}");
    let secret = c.find(Locator::Css("#secret")).await.unwrap().prop("value").await.unwrap().unwrap();
    assert_eq!(secret.len(), 43, "a 256-bit secret, base64url");
    shot(&c, "client-secret").await;
    click(&c, "#continue").await;
    c.wait().for_element(Locator::Css("#secrets")).await.unwrap();
    shot(&c, "client").await;

    // Bad uploads are refused with their reason next to the file field.
    c.goto(&format!("{}{}", server.base, routes::console::PLUGINS)).await.unwrap();
    for (fixture, message) in [
        ("not-a-component", "not a WebAssembly component"),
        ("wrong-world", "does not implement tessera:plugin/token-plugin"),
    ] {
        fill(&c, "#name", "bad-plugin").await;
        c.find(Locator::Css("#file")).await.unwrap().send_keys(&upload_path("fixtures", fixture)).await.unwrap();
        click(&c, "#upload").await;
        let error = text(&c, "#file-error").await;
        assert!(error.contains(message), "{fixture}: {error}");
    }
    shot(&c, "plugin-upload-error").await;

    // The Rust username rule: upload, see its version and interface.
    fill(&c, "#name", "username-claim").await;
    c.find(Locator::Css("#file")).await.unwrap().send_keys(&upload_path("examples", "rust-username")).await.unwrap();
    click(&c, "#upload").await;
    assert_eq!(text(&c, "#notice").await, "Uploaded.");
    assert_eq!(title(&c).await, "Plugin username-claim · Tessera console");
    let versions = text(&c, "#versions").await;
    assert!(versions.contains("admin:root"), "{versions}");
    shot(&c, "plugin").await;

    // Bind it to client_credentials as a claim rule for every client.
    click(&c, "#bind").await;
    c.wait().for_element(Locator::Css("#grant-client_credentials")).await.unwrap();
    click(&c, "#save").await;
    assert_eq!(text(&c, "#notice").await, "Created.");
    c.goto(&format!("{}{}", server.base, routes::console::BINDINGS)).await.unwrap();
    let lane = text(&c, "#lane-client-credentials").await;
    assert!(lane.contains("username-claim") && lane.contains("claim rule"), "{lane}");
    shot(&c, "bindings").await;

    // The test panel runs it on the client's service account.
    c.goto(&format!(
        "{}{}?grant_type=client_credentials&client={client_id}",
        server.base,
        routes::console::action(&routes::console::plugin("username-claim"), "test")
    ))
    .await
    .unwrap();
    click(&c, "#run").await;
    assert_eq!(text(&c, "#outcome").await, "ok");
    let claims = text(&c, "#access-claims").await;
    assert!(claims.contains("\"https://example.com/username\": \"reporting-bot\""), "{claims}");
    shot(&c, "plugin-test").await;

    // A real token request from outside the browser carries the claim.
    let runs_before = server.count_rows("plugin_runs");
    let token = oauth2_token(&server, &client_id, &secret, "https://orders.example", &[], false).await;
    let verified = verify_with_discovery(&server.base, &token, "https://orders.example").await;
    assert_eq!(verified["https://example.com/username"], "reporting-bot");

    // The run and every change are on record (docs/security-checklist.md A-14).
    // Run records are written asynchronously: wait for this one.
    server.wait_for_rows("plugin_runs", runs_before + 1);
    c.goto(&format!("{}{}", server.base, routes::console::RUNS)).await.unwrap();
    assert!(text(&c, "#runs").await.contains("client_credentials"));
    shot(&c, "runs").await;
    c.goto(&format!("{}{}?actor=admin%3Aroot", server.base, routes::console::AUDIT)).await.unwrap();
    let audit = text(&c, "#audit").await;
    for action in ["api.create", "user.create", "client.create", "plugin.upload", "binding.create"] {
        assert!(audit.contains(action), "{action} missing from the audit log:\n{audit}");
    }
    shot(&c, "audit").await;
    c.goto(&format!("{}{}", server.base, routes::console::KEYS)).await.unwrap();
    assert!(text(&c, "#keys").await.contains("current"));
    shot(&c, "keys").await;
    c.goto(&format!("{}{}", server.base, routes::console::HOME)).await.unwrap();
    assert_eq!(text(&c, "#count-plugins").await, "1");

    // Phone width: the same pages stay usable in one column.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}{}", server.base, routes::console::BINDINGS)).await.unwrap();
    c.wait().for_element(Locator::Css("#lane-client-credentials")).await.unwrap();
    let overflow: bool = c
        .execute("return document.documentElement.scrollWidth > window.innerWidth + 1;", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!overflow, "the bindings page scrolls sideways at phone width");
    shot(&c, "bindings-phone").await;
    c.close().await.unwrap();
}

/// A console session driven with reqwest: cookies kept, redirects not followed.
pub struct Console {
    pub(crate) http: reqwest::Client,
    base: String,
    forwarded_for: Option<String>,
}

/// The first `name="csrf" value="…"` on a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field");
    html[at + 19..].chars().take_while(|c| *c != '"').collect()
}

impl Console {
    /// A client with an empty cookie jar.
    pub fn new(server: &TestServer) -> Console {
        let http =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Console { http, base: server.base.clone(), forwarded_for: None }
    }

    /// The same client, claiming `addr` in `X-Forwarded-For` (as a proxy the
    /// server trusts would).
    pub fn from(mut self, addr: &str) -> Console {
        self.forwarded_for = Some(addr.to_owned());
        self
    }

    fn with_forwarded(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.forwarded_for {
            Some(a) => r.header("X-Forwarded-For", a),
            None => r,
        }
    }

    /// GET a path of the server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.with_forwarded(self.http.get(format!("{}{path}", self.base))).send().await.unwrap()
    }

    /// POST a form (add the session's `csrf` yourself, or use `post_csrf`).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.with_forwarded(self.http.post(format!("{}{path}", self.base))).form(form).send().await.unwrap()
    }

    /// POST a form with the session's CSRF token.
    pub async fn post_csrf(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf().await;
        let mut all = form.to_vec();
        all.push(("csrf", &csrf));
        self.post(path, &all).await
    }

    /// POST an edit form as its page does: with the version (`etag`) the
    /// page at `path` carries now, read first (add `csrf` yourself).
    pub async fn post_edit(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let etag = etag_in(&self.get(path).await.text().await.unwrap());
        let mut all = form.to_vec();
        all.push(("etag", &etag));
        self.post(path, &all).await
    }

    /// Signs in through the form (its CSRF cookie and token included).
    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let page = self.get(routes::console::LOGIN).await.text().await.unwrap();
        let csrf = csrf_of(&page);
        self.post(routes::console::LOGIN, &[("csrf", &csrf), ("username", username), ("password", password)]).await
    }

    /// The test administrator, created and signed in (the sign-in answers 303).
    pub async fn signed_in(server: &TestServer) -> Console {
        create_admin(server);
        let console = Console::new(server);
        assert_eq!(console.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
        console
    }

    /// A page's CSRF token (the session's synchronizer token).
    pub async fn csrf(&self) -> String {
        csrf_of(&self.get(routes::console::NEW_API).await.text().await.unwrap())
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// `tessera admin create` with the test administrator.
pub fn create_admin(server: &TestServer) {
    let out = server.cli_output(&["admin", "create", "--username", ADMIN, "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

on_both_backends!(
    /// docs/security-checklist.md A-8 (CSRF token and Origin / Sec-Fetch-Site checks), A-5
    /// (cookie flags over http; `__Host-` and `Secure` in
    /// `console_cookie_is_host_prefixed_and_secure_under_https`), A-9 (headers on
    /// every page) and A-16's "no endpoint answers without a session".
    state_changes_need_the_session_csrf_token_and_this_origin, |backend| async move {
    let server = TestServer::start(backend);
    create_admin(&server);
    let console = Console::new(&server);
    // No session: every page sends the browser to sign in (A-16).
    for path in [
        routes::console::HOME,
        routes::console::CLIENTS,
        routes::console::NEW_CLIENT,
        routes::console::USERS,
        routes::console::APIS,
        routes::console::PLUGINS,
        routes::console::BINDINGS,
        routes::console::KEYS,
        routes::console::AUDIT,
        routes::console::RUNS,
        routes::console::ACCOUNT,
    ] {
        let r = console.get(path).await;
        assert_eq!((r.status().as_u16(), location(&r)), (303, routes::console::LOGIN.into()), "{path}");
    }
    // The sign-in form itself refuses a post without its CSRF cookie.
    let r = reqwest::Client::new()
        .post(format!("{}{}", server.base, routes::console::LOGIN))
        .form(&[("csrf", "x"), ("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = console.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");

    let api = [("identifier", "https://csrf.example"), ("alg", "RS256"), ("lifetime", "600"), ("scopes", "")];
    // Without the token, with a wrong one, and cross-site: 403, nothing saved.
    let r = console.post(routes::console::APIS, &api).await;
    assert_eq!(r.status(), 403);
    let mut wrong = api.to_vec();
    wrong.push(("csrf", "not-the-token"));
    assert_eq!(console.post(routes::console::APIS, &wrong).await.status(), 403);
    let csrf = console.csrf().await;
    let mut good = api.to_vec();
    good.push(("csrf", &csrf));
    let r = console
        .http
        .post(format!("{}{}", server.base, routes::console::APIS))
        .header("Origin", "https://evil.example")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = console
        .http
        .post(format!("{}{}", server.base, routes::console::APIS))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!console.get(routes::console::APIS).await.text().await.unwrap().contains("https://csrf.example"));
    // With the token from this origin: saved.
    let r = console
        .http
        .post(format!("{}{}", server.base, routes::console::APIS))
        .header("Origin", &server.base)
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(console.get(routes::console::APIS).await.text().await.unwrap().contains("https://csrf.example"));

    // Every page carries the hardening headers.
    for path in [routes::console::HOME, routes::console::USERS, routes::console::NEW_CLIENT, routes::console::PLUGINS, routes::console::BINDINGS, routes::console::LOGIN] {
        let r = console.get(path).await;
        let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let csp = h("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert!(!h("referrer-policy").is_empty(), "{path}");
        assert_eq!(h("cache-control"), "no-store", "{path}");
    }
});

/// docs/security-checklist.md A-6: a new session id at every sign-in;
/// sign-out deletes the session on the server, so a copied cookie is dead.
/// (The idle timeout of A-7 is tested in process, on a set clock:
/// `idle_sessions_end_at_the_idle_timeout`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_sessions_on_the_server() {
    let server = TestServer::start(Backend::Sqlite);
    create_admin(&server);
    let console = Console::new(&server);
    let r = console.login(ADMIN, ADMIN_PASSWORD).await;
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let again = Console::new(&server).login(ADMIN, ADMIN_PASSWORD).await;
    let other = again.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(cookie, other, "A-6: every sign-in gets a new session id");
    let csrf = console.csrf().await;
    assert_eq!(console.post(routes::console::LOGOUT, &[("csrf", &csrf)]).await.status(), 303);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{}", server.base, routes::console::HOME))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_link_works_once_and_sign_in_is_throttled() {
    let server = TestServer::start(Backend::Sqlite);
    let link = setup_link(&server);
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let console = Console::new(&server);
    let form =
        [("token", token.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD), ("confirm", ADMIN_PASSWORD)];
    assert_eq!(console.post(routes::console::SETUP, &form).await.status(), 303);
    assert_eq!(console.get(routes::console::HOME).await.status(), 200, "setup signs the administrator in");
    let second = Console::new(&server);
    assert_eq!(second.get(&link.replace(&server.base, "")).await.status(), 404);
    let again =
        [("token", token.as_str()), ("username", "mallory"), ("password", ADMIN_PASSWORD), ("confirm", ADMIN_PASSWORD)];
    assert_eq!(second.post(routes::console::SETUP, &again).await.status(), 410);

    // docs/security-checklist.md A-15: ten failures lock this (account, address) pair.
    for _ in 0..10 {
        assert_eq!(second.login(ADMIN, "wrong password, long enough").await.status(), 401);
    }
    let r = second.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many failed attempts"));
}

on_both_backends!(
    /// Issue #11 item 12 (docs/security-checklist.md A-14): a failed console sign-in is
    /// audited as `unauthenticated`, never as the typed name, which is kept in
    /// the detail bounded to 64 characters without control characters, even
    /// when it is 8 KB with newlines and another administrator's name.
    failed_console_sign_ins_are_audited_as_unauthenticated, |backend| async move {
    let server = TestServer::start(backend);
    create_admin(&server);
    let forged = format!("{ADMIN}\n2026-11-29 admin:{ADMIN} admin.login\r\n{}", "x".repeat(8192));
    let console = Console::new(&server);
    assert_eq!(console.login(&forged, "wrong password, long enough").await.status(), 401);
    assert_eq!(console.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
    let as_admin =
        console.get(&format!("{}?actor=admin:{ADMIN}&action=admin.login.failed", routes::console::AUDIT)).await.text().await.unwrap();
    assert!(as_admin.contains("No events match."), "the typed name is not the actor");
    let page = console.get(&format!("{}?actor=unauthenticated&action=admin.login.failed", routes::console::AUDIT)).await.text().await.unwrap();
    let row = page.split("<tr>").skip(1).find(|r| r.contains("admin.login.failed")).expect("the failure is audited");
    let at = row.find("class=\"detail\">").expect("a detail cell");
    let row = &row[at..at + row[at..].find("</code>").unwrap()];
    let kept: String = format!("{ADMIN}2026-11-29 admin:{ADMIN} admin.login{}", "x".repeat(64)).chars().take(64).collect();
    assert!(row.contains(&kept), "the bounded name is in the detail: {row}");
    assert!(!row.contains(&"x".repeat(65)) && !row.contains('\n'), "bounded, one line: {row}");
    assert!(row.contains("username_truncated"), "{row}");
});

/// docs/security-checklist.md A-5: under an https issuer the session cookie is
/// `__Host-tessera_admin` with `Secure`, `HttpOnly`, `SameSite=Strict`,
/// `Path=/` and no `Domain`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_cookie_is_host_prefixed_and_secure_under_https() {
    let opts = Options { serve_args: vec!["--issuer".into(), "https://tessera.example".into()], ..Options::default() };
    let server = TestServer::start_with(Backend::Sqlite, opts);
    create_admin(&server);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}{}", server.base, routes::console::LOGIN)).send().await.unwrap();
    let csrf_cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = csrf_of(&page.text().await.unwrap());
    let r = http
        .post(format!("{}{}", server.base, routes::console::LOGIN))
        .header("Cookie", csrf_cookie)
        .form(&[("csrf", csrf.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-tessera_admin="))
        .expect("a __Host- session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    assert!(!session.to_lowercase().contains("domain"), "{session}");
}

/// docs/security-checklist.md A-10: text an administrator or a client chose is escaped on
/// every console page (askama auto-escaping, no `|safe`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_controlled_text_is_rendered_inert() {
    let server = TestServer::start(Backend::Sqlite);
    create_admin(&server);
    let evil = "\"><svg onload=alert(1)>";
    let c = server.cli_json(&["client", "create", "--name", evil, "--grant-types", "client_credentials"]);
    let console = Console::new(&server);
    assert_eq!(console.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
    let id = c["client_id"].as_str().unwrap();
    for path in [routes::console::CLIENTS.to_owned(), routes::console::client(id)] {
        let html = console.get(&path).await.text().await.unwrap();
        assert!(html.contains("svg onload=alert(1)"), "{path} shows the name");
        assert!(!html.contains("<svg"), "{path} renders it inert");
    }
}

/// docs/security-checklist.md A-2 (in part): a wrong password and an unknown
/// administrator get the same status and message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sign_in_does_not_say_which_credential_was_wrong() {
    let server = TestServer::start(Backend::Sqlite);
    create_admin(&server);
    let message = |html: String| html.split("class=\"error\"").nth(1).map(|m| m.chars().take(80).collect::<String>());
    let wrong = Console::new(&server).login(ADMIN, "wrong password, long enough").await;
    let unknown = Console::new(&server).login("nobody", "wrong password, long enough").await;
    assert_eq!(
        (wrong.status(), unknown.status()),
        (reqwest::StatusCode::UNAUTHORIZED, reqwest::StatusCode::UNAUTHORIZED)
    );
    let (a, b) = (message(wrong.text().await.unwrap()), message(unknown.text().await.unwrap()));
    assert!(a.is_some() && a == b, "{a:?} vs {b:?}");
}

/// The lane of `grant_type` in the bindings matrix, as plugin names in order.
fn lane_order(html: &str, grant_type: &str) -> Vec<String> {
    let start = html.find(&format!("id=\"lane-{grant_type}\"")).expect("lane");
    let lane = &html[start..html[start..].find("</section>").map_or(html.len(), |e| start + e)];
    lane.match_indices("data-plugin=\"")
        .map(|(i, m)| lane[i + m.len()..].chars().take_while(|c| *c != '"').collect())
        .collect()
}

on_both_backends!(binding_changes_in_the_console_reach_the_next_token, |backend| async move {
    let server = TestServer::start(backend);
    create_admin(&server);
    let aud = "https://console-bindings.example";
    server.cli(&["api", "create", "--identifier", aud]);
    server.create_user("svc-console", "a long enough password", &[]);
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "console-job",
        "--grant-types",
        "client_credentials",
        "--service-account",
        "svc-console",
    ]);
    let (id, secret) = (c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned());
    for (kind, name) in [("examples", "rust-username"), ("fixtures", "allow-claim")] {
        server.cli(&["plugin", "upload", &component(kind, name), "--name", name]);
    }
    let console = Console::new(&server);
    assert_eq!(console.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
    let csrf = console.csrf().await;
    let claims = || async {
        let token = oauth2_token(&server, &id, &secret, aud, &[], false).await;
        verify_with_discovery(&server.base, &token, aud).await
    };

    // Bind with config and a secret: the next token has the configured claim.
    let r = console
        .post(
            routes::console::BINDINGS,
            &[
                ("csrf", &csrf),
                ("plugin", "rust-username"),
                ("version", ""),
                ("grant_types", "client_credentials"),
                ("clients", ""),
                ("config", r#"{"claim": "https://acme.test/login"}"#),
                ("secrets", "API_KEY=s3cret-value"),
                ("failure_policy", "deny"),
                ("position", ""),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let binding = location(&r).trim_start_matches(&routes::console::binding("")).split('?').next().unwrap().to_owned();
    assert_eq!(claims().await["https://acme.test/login"], "svc-console");
    // Secrets are write-only: the page names them, never shows them.
    let page = console.get(&routes::console::binding(&binding)).await.text().await.unwrap();
    assert!(page.contains("API_KEY") && !page.contains("s3cret-value"));

    // Disable: the next token goes without it. Re-enable with another claim name.
    let edit = |enabled: bool, claim: &'static str| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("version", "1".into()),
            ("grant_types", "client_credentials".into()),
            ("clients", String::new()),
            ("config", format!(r#"{{"claim": "{claim}"}}"#)),
            ("secrets", String::new()),
            ("failure_policy", "deny".into()),
            ("position", "10".into()),
        ];
        if enabled {
            f.push(("enabled", "on".into()));
        }
        f
    };
    let path = routes::console::binding(&binding);
    let form = edit(false, "https://acme.test/login");
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(console.post_edit(&path, &pairs).await.status(), 303);
    assert!(claims().await.get("https://acme.test/login").is_none(), "a disabled binding does not run");
    let form = edit(true, "https://acme.test/who");
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(console.post_edit(&path, &pairs).await.status(), 303);
    assert_eq!(claims().await["https://acme.test/who"], "svc-console");
    // Invalid config JSON: shown next to the field, nothing saved.
    let mut form = edit(true, "x");
    form[4].1 = "{not json".into();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = console.post_edit(&path, &pairs).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"config-error\""));
    assert_eq!(claims().await["https://acme.test/who"], "svc-console");

    // A second binding, then reorder it to the front of client_credentials.
    let r = console
        .post(
            routes::console::BINDINGS,
            &[
                ("csrf", &csrf),
                ("plugin", "allow-claim"),
                ("grant_types", "client_credentials"),
                ("config", "{}"),
                ("failure_policy", "skip"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let second = location(&r).trim_start_matches(&routes::console::binding("")).split('?').next().unwrap().to_owned();
    let matrix = console.get(routes::console::BINDINGS).await.text().await.unwrap();
    assert_eq!(lane_order(&matrix, "client-credentials"), ["rust-username", "allow-claim"]);
    let r = console
        .post(
            &routes::console::action(&routes::console::binding(&second), "move"),
            &[("csrf", &csrf), ("grant_type", "client_credentials"), ("direction", "up")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let matrix = console.get(routes::console::BINDINGS).await.text().await.unwrap();
    assert_eq!(lane_order(&matrix, "client-credentials"), ["allow-claim", "rust-username"]);
});

/// The `id` in a `/admin/KIND/{id}?done=...` redirect.
fn created_id(r: &reqwest::Response, kind: &str) -> String {
    location(r).trim_start_matches(&format!("{}/{kind}/", routes::console::HOME)).split('?').next().unwrap().to_owned()
}

on_both_backends!(console_manages_users_clients_apis_keys_and_versions, |backend| async move {
    let server = TestServer::start(backend);
    let console = Console::signed_in(&server).await;
    let csrf = console.csrf().await;

    // Users: create, edit, reset the password, disable, delete.
    let r = console
        .post(
            routes::console::USERS,
            &[
                ("csrf", &csrf),
                ("username", "dana"),
                ("password", "first password"),
                ("email", "dana@example.com"),
                ("profile", r#"{"name": "Dana"}"#),
                ("metadata", "{}"),
                ("roles", "admin, ops"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let user = created_id(&r, "users");
    let path = routes::console::user(&user);
    let r = console
        .post_edit(
            &path,
            &[("csrf", &csrf), ("email", "not-an-address"), ("profile", "{}"), ("metadata", "{}"), ("roles", "")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"email-error\""));
    let r = console
        .post_edit(
            &path,
            &[
                ("csrf", &csrf),
                ("email", "dana@corp.example"),
                ("profile", "{}"),
                ("metadata", r#"{"tier": "gold"}"#),
                ("roles", "ops"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = console.get(&path).await.text().await.unwrap();
    assert!(page.contains("dana@corp.example") && page.contains("gold"), "edits saved");
    assert_eq!(
        console.post(&format!("{path}/password"), &[("csrf", &csrf), ("password", "second password")]).await.status(),
        303
    );
    assert_eq!(console.post(&format!("{path}/status"), &[("csrf", &csrf), ("disabled", "true")]).await.status(), 303);
    assert!(console.get(&path).await.text().await.unwrap().contains("id=\"user-status\">disabled"));
    assert!(
        console.get(&format!("{}?q=dan", routes::console::USERS)).await.text().await.unwrap().contains("dana"),
        "search finds her"
    );
    assert!(!console.get(&format!("{}?q=zzz", routes::console::USERS)).await.text().await.unwrap().contains("dana"));
    assert_eq!(console.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await.status(), 303);
    assert_eq!(console.get(&path).await.status(), 404);

    // APIs: create, edit, refuse a bad lifetime.
    let r = console
        .post(
            routes::console::APIS,
            &[
                ("csrf", &csrf),
                ("identifier", "https://ledger.example"),
                ("name", ""),
                ("alg", "ES256"),
                ("lifetime", "900"),
                ("scopes", "ledger:read"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let api = created_id(&r, "apis");
    let r = console
        .post_edit(
            &routes::console::api(&api),
            &[("csrf", &csrf), ("name", "Ledger"), ("alg", "ES256"), ("lifetime", "-5"), ("scopes", "ledger:read")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"lifetime-error\""));
    let r = console
        .post_edit(
            &routes::console::api(&api),
            &[
                ("csrf", &csrf),
                ("name", "Ledger"),
                ("alg", "ES256"),
                ("lifetime", "300"),
                ("scopes", "ledger:read, ledger:write"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(console.get(routes::console::APIS).await.text().await.unwrap().contains("ledger:write"));

    // Clients: the secret is shown once; rotation keeps the old one for the
    // overlap; revocation ends it at once.
    let r = console
        .post(
            routes::console::CLIENTS,
            &[
                ("csrf", &csrf),
                ("name", "Ledger sync"),
                ("kind", "confidential"),
                ("grant_types", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    // The element's `value` attribute if its tag has one, else its text.
    let value_of = |page: &str, id: &str| -> String {
        let tail = &page[page.find(&format!("id=\"{id}\"")).unwrap()..];
        let tag = &tail[..tail.find('>').unwrap()];
        match tag.find("value=\"") {
            Some(i) => tag[i + 7..].chars().take_while(|c| *c != '"').collect(),
            None => tail[tag.len() + 1..].chars().take_while(|c| *c != '<').collect(),
        }
    };
    let (client, first) = (value_of(&page, "owner-id"), value_of(&page, "secret"));
    let aud = "https://ledger.example";
    oauth2_token(&server, &client, &first, aud, &[], false).await;
    // A refused overlap is shown on the client's page, on its field, as typed.
    let r = console.post(&routes::console::client_secrets(&client), &[("csrf", &csrf), ("overlap_hours", "ten")]).await;
    assert_eq!(r.status(), 422);
    let refused = r.text().await.unwrap();
    assert!(
        refused.contains(r#"value="ten" aria-invalid="true" aria-describedby="overlap-error""#)
            && refused.contains("id=\"overlap-error\"")
            && refused.contains("href=\"#overlap-error\""),
        "{refused}"
    );
    let r = console.post(&routes::console::client_secrets(&client), &[("csrf", &csrf), ("overlap_hours", "1")]).await;
    assert_eq!(r.status(), 200);
    let second = value_of(&r.text().await.unwrap(), "secret");
    assert_ne!(first, second);
    oauth2_token(&server, &client, &first, aud, &[], false).await;
    oauth2_token(&server, &client, &second, aud, &[], false).await;
    let detail = console.get(&routes::console::client(&client)).await.text().await.unwrap();
    assert!(!detail.contains(&first) && !detail.contains(&second), "secrets are never shown again");
    let first_id = {
        let hint: String = first.chars().take(4).collect();
        let row = &detail[detail.find(&format!("{hint}…")).unwrap()..];
        let at = row.find("/secrets/").unwrap() + "/secrets/".len();
        row[at..].chars().take_while(|c| *c != '/').collect::<String>()
    };
    assert_eq!(
        console.post(&routes::console::client_secret_revoke(&client, &first_id), &[("csrf", &csrf)]).await.status(),
        303
    );
    let refused = reqwest::Client::new()
        .post(server.token_url())
        .basic_auth(&client, Some(&first))
        .form(&[("grant_type", "client_credentials"), ("audience", aud)])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "a revoked secret stops working at once");
    oauth2_token(&server, &client, &second, aud, &[], false).await;

    // Deleting an API takes it out of the clients limited to it, so an API
    // created later under the same identifier does not inherit their access.
    let scratch_aud = "https://scratch.example";
    let r = console
        .post(
            routes::console::APIS,
            &[
                ("csrf", &csrf),
                ("identifier", scratch_aud),
                ("name", ""),
                ("alg", "ES256"),
                ("lifetime", "900"),
                ("scopes", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let scratch = created_id(&r, "apis");
    let r = console
        .post(
            routes::console::CLIENTS,
            &[
                ("csrf", &csrf),
                ("name", "Limited"),
                ("kind", "confidential"),
                ("grant_types", "client_credentials"),
                ("audiences", &format!("{aud}, {scratch_aud}")),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let (limited, limited_secret) = (value_of(&page, "owner-id"), value_of(&page, "secret"));
    oauth2_token(&server, &limited, &limited_secret, scratch_aud, &[], false).await;
    assert_eq!(
        console
            .post(&routes::console::action(&routes::console::api(&scratch), "delete"), &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    let form = console.get(&routes::console::client(&limited)).await.text().await.unwrap();
    assert_eq!(value_of(&form, "audiences"), aud, "the deleted API is gone from the client");

    // Keys: rotation moves next to current.
    let before = console.get(routes::console::KEYS).await.text().await.unwrap();
    assert_eq!(console.post(routes::console::KEYS_ROTATE, &[("csrf", &csrf)]).await.status(), 303);
    let after = console.get(routes::console::KEYS).await.text().await.unwrap();
    assert!(after.matches(">retired<").count() > before.matches(">retired<").count());

    // Versions: roll every binding back to version 1.
    for name in ["allow-claim", "drop-scope"] {
        server.cli(&["plugin", "upload", &component("fixtures", name), "--name", "versioned"]);
    }
    server.cli(&["binding", "create", "--plugin", "versioned", "--grant-types", "client_credentials"]);
    let page = console.get(&routes::console::plugin("versioned")).await.text().await.unwrap();
    assert!(page.contains("id=\"use-1\"") && page.contains("id=\"use-2\""));
    assert_eq!(
        console
            .post(
                &routes::console::action(&routes::console::plugin("versioned"), "rollback"),
                &[("csrf", &csrf), ("version", "1")]
            )
            .await
            .status(),
        303
    );
    let matrix = console.get(routes::console::BINDINGS).await.text().await.unwrap();
    assert!(matrix.contains("versioned <span class=\"muted\">v1</span>"), "the binding now runs version 1");

    // Deleting a client takes it out of its hooks; a hook left with no client is disabled.
    let hook = server.cli_json(&[
        "binding",
        "create",
        "--plugin",
        "versioned",
        "--grant-types",
        "client_credentials",
        "--client",
        &client,
    ]);
    let hook = hook["id"].as_str().unwrap().to_owned();
    assert!(
        console.get(&routes::console::client(&client)).await.text().await.unwrap().contains(&hook),
        "the client lists its hook"
    );
    assert_eq!(
        console
            .post(&routes::console::action(&routes::console::client(&client), "delete"), &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    let page = console.get(&routes::console::binding(&hook)).await.text().await.unwrap();
    assert!(page.contains("id=\"clients\" name=\"clients\" type=\"text\" value=\"\""), "no client left in the hook");
    assert!(
        page.contains("id=\"enabled\">") && !page.contains("id=\"enabled\" checked"),
        "the emptied hook is disabled"
    );

    // The test panel takes a large context (the host allows 128 KiB of input).
    let big = "x".repeat(100 * 1024);
    let context = serde_json::json!({
        "grant_type": "client_credentials",
        "client": {"id": "c1", "name": "Big", "metadata": {"blob": big}, "confidential": true},
    })
    .to_string();
    let r = console
        .post(
            &routes::console::action(&routes::console::plugin("versioned"), "test"),
            &[("csrf", &csrf), ("version", "1"), ("context", &context), ("config", "{}")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"outcome\">ok<"), "allow-claim runs on a 100 KiB context");

    // Every list pages.
    for i in 0..26 {
        let name = format!("bulk-{i:02}");
        let r = console
            .post(
                routes::console::USERS,
                &[
                    ("csrf", &csrf),
                    ("username", &name),
                    ("password", "bulk password"),
                    ("profile", "{}"),
                    ("metadata", "{}"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
    }
    let first_page = console.get(&format!("{}?q=bulk-", routes::console::USERS)).await.text().await.unwrap();
    assert!(first_page.contains("id=\"next-page\"") && !first_page.contains("bulk-25"));
    let second_page = console.get(&format!("{}?q=bulk-&page=2", routes::console::USERS)).await.text().await.unwrap();
    assert!(second_page.contains("bulk-25") && !second_page.contains("id=\"next-page\""));
    let audit = console
        .get(&format!("{}?target={user}&actor=admin%3Aroot", routes::console::AUDIT))
        .await
        .text()
        .await
        .unwrap();
    for action in ["user.create", "user.update", "user.password.reset", "user.disable", "user.delete"] {
        assert!(audit.contains(action), "{action} missing for the user");
    }
    assert!(!audit.contains("client.create") && !audit.contains("bulk-"), "the filter keeps other targets out");
    let resets = console.get(&format!("{}?action=user.password", routes::console::AUDIT)).await.text().await.unwrap();
    assert!(resets.contains("user.password.reset") && !resets.contains("user.create"));
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_explained_next_to_the_file_field() {
    let env = vec![
        ("TESSERA_PLUGINS__MAX_UPLOAD_BYTES".to_owned(), "60000".to_owned()),
        ("TESSERA_PLUGINS__COMPILE_TIMEOUT_MS".to_owned(), "1".to_owned()),
    ];
    let server = TestServer::start_with(Backend::Sqlite, Options { env, ..Options::default() });
    let console = Console::signed_in(&server).await;
    let csrf = console.csrf().await;
    let upload = |name: &'static str, file: String| {
        let bytes = std::fs::read(&file).unwrap();
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("name", name)
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("plugin.wasm"));
        console.http.post(format!("{}{}", server.base, routes::console::PLUGINS)).multipart(form).send()
    };
    let cases = [
        ("not-component", component("fixtures", "not-a-component"), "not a WebAssembly component"),
        ("too-large", component("fixtures", "echo-context"), "larger than"),
        ("far-too-large", component("examples", "js-permissions"), "larger than the upload limit"),
        // Compiling comes before the world check, so 1 ms fails every component here.
        ("slow-compile", component("fixtures", "deny"), "compilation exceeded the 1 ms time limit"),
        ("bad name!", component("fixtures", "deny"), "letters, digits"),
    ];
    for (name, file, message) in cases {
        let r = upload(name, file).await.unwrap();
        assert_eq!(r.status(), 422, "{name}");
        let page = r.text().await.unwrap();
        let error = page.split("role=\"alert\">").nth(1).unwrap_or("").split('<').next().unwrap_or("");
        assert!(error.contains(message), "{name}: expected {message:?}, got {error:?}");
    }
    // Nothing was stored.
    assert!(console.get(routes::console::PLUGINS).await.text().await.unwrap().contains("No plugins yet."));
    // Without the CSRF field the upload is refused outright.
    let form =
        reqwest::multipart::Form::new().text("name", "x").part("file", reqwest::multipart::Part::bytes(vec![0u8; 8]));
    let r =
        console.http.post(format!("{}{}", server.base, routes::console::PLUGINS)).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_change_their_password_and_other_sessions_end() {
    let server = TestServer::start(Backend::Sqlite);
    create_admin(&server);
    let (here, elsewhere) = (Console::new(&server), Console::new(&server));
    assert_eq!(here.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
    assert_eq!(elsewhere.login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
    let csrf = here.csrf().await;
    let new = "a brand new console passphrase";
    let change = |current: &'static str, password: &'static str, confirm: &'static str| {
        let csrf = csrf.clone();
        let here = &here;
        async move {
            here.post(
                routes::console::ACCOUNT,
                &[("csrf", &csrf), ("current", current), ("password", password), ("confirm", confirm)],
            )
            .await
        }
    };
    let r = change("not my password at all", new, new).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"current-error\""));
    let r = change(ADMIN_PASSWORD, new, "something else entirely").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"confirm-error\""));
    let r = change(ADMIN_PASSWORD, "too short", "too short").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"password-error\""));
    assert_eq!(change(ADMIN_PASSWORD, new, new).await.status(), 303);
    assert_eq!(here.get(routes::console::HOME).await.status(), 200, "the session that changed it stays");
    assert_eq!(elsewhere.get(routes::console::HOME).await.status(), 303, "every other session ended");
    let fresh = Console::new(&server);
    assert_eq!(fresh.login(ADMIN, ADMIN_PASSWORD).await.status(), 401);
    assert_eq!(fresh.login(ADMIN, new).await.status(), 303);

    // A forgotten password: the CLI sets a new one and ends every session.
    let out = server.cli_output(&["admin", "password", "--username", ADMIN, "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(here.get(routes::console::HOME).await.status(), 303);
    assert_eq!(Console::new(&server).login(ADMIN, ADMIN_PASSWORD).await.status(), 303);
    let audit = fresh.get(&format!("{}?action=admin.password", routes::console::AUDIT)).await;
    assert_eq!(audit.status(), 303, "the CLI reset ended this session too");
}

on_both_backends!(
    /// Issue #18 item 3: the audit log, the plugin runs and the binding form
    /// name clients, APIs, plugins and bindings (through one resolver) and
    /// link them to their pages; a deleted object keeps its id, marked deleted.
    console_pages_name_objects_and_mark_deleted_ones,
    |backend| async move {
        let server = TestServer::start(backend);
        let console = Console::signed_in(&server).await;
        let csrf = console.csrf().await;
        let aud = "https://names.example";
        let r = console
            .post(
                routes::console::APIS,
                &[("csrf", &csrf), ("identifier", aud), ("name", "Names API"), ("alg", "ES256"), ("lifetime", "600")],
            )
            .await;
        assert_eq!(r.status(), 303);
        let api = created_id(&r, "apis");
        let job = server.cli_json(&["client", "create", "--name", "Billing job", "--grant-types", "client_credentials"]);
        let (job, secret) = (job["client_id"].as_str().unwrap().to_owned(), job["client_secret"].as_str().unwrap().to_owned());
        let gone = server.cli_json(&["client", "create", "--name", "Gone app", "--grant-types", "client_credentials"]);
        let gone = gone["client_id"].as_str().unwrap().to_owned();
        server.cli(&["client", "delete", &gone]);
        server.cli(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "allow-claim"]);

        // The binding form: clients by name, and the chosen plugin's versions.
        let form = console.get(&format!("{}?plugin=allow-claim", routes::console::NEW_BINDING)).await.text().await.unwrap();
        assert!(form.contains(&format!("id=\"client-{job}\"> Billing job")), "{form}");
        assert!(form.contains("data-plugin=\"allow-claim\"><option value=\"1\">allow-claim v1</option>"), "{form}");
        let r = console
            .post(
                routes::console::BINDINGS,
                &[
                    ("csrf", &csrf),
                    ("plugin", "allow-claim"),
                    ("version", "1"),
                    ("grant_types", "client_credentials"),
                    ("client_ids", &job),
                    ("clients", ""),
                    ("config", "{}"),
                    ("failure_policy", "deny"),
                    ("enabled", "on"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let binding = created_id(&r, "bindings");
        let page = console.get(&routes::console::binding(&binding)).await.text().await.unwrap();
        assert!(page.contains(&format!("id=\"client-{job}\" checked")), "the picked client is the hook's");
        assert!(page.contains("id=\"clients\" name=\"clients\" type=\"text\" value=\"\""), "no id typed by hand");
        let matrix = console.get(routes::console::BINDINGS).await.text().await.unwrap();
        assert!(matrix.contains("<span class=\"help hook-clients\">Billing job</span>"), "{matrix}");

        // A run names its plugin (and version), binding and client.
        let runs_before = server.count_rows("plugin_runs");
        oauth2_token(&server, &job, &secret, aud, &[], false).await;
        server.wait_for_rows("plugin_runs", runs_before + 1);
        let runs = console.get(routes::console::RUNS).await.text().await.unwrap();
        let plugin_link = format!("href=\"{}\"", routes::console::plugin("allow-claim"));
        assert!(runs.contains(&plugin_link) && runs.contains(">allow-claim</a> v1"), "{runs}");
        assert!(runs.contains(&format!("href=\"{}\" title=\"{binding}\">allow-claim binding</a>", routes::console::binding(&binding))), "{runs}");
        assert!(runs.contains(&format!("href=\"{}\" title=\"{job}\">Billing job</a>", routes::console::client(&job))), "{runs}");

        // The client's page: the hook in its client_credentials pipeline, and a real test token.
        let page = console.get(&routes::console::client(&job)).await.text().await.unwrap();
        let pipeline = &page[page.find("id=\"pipeline\"").unwrap()..];
        assert!(pipeline.contains("id=\"pipeline-client-credentials\"") && pipeline.contains(">allow-claim</a> v1 <span class=\"badge hook\">hook</span>"), "{pipeline}");
        let r = console.post(&routes::console::client_test_token(&job), &[("csrf", &csrf), ("audience", aud)]).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"test-token-claims\"") && page.contains("&#34;fixture&#34;: &#34;allow-claim&#34;"), "{page}");
        let r = console.post(&routes::console::client_test_token(&job), &[("csrf", &csrf), ("audience", "https://nowhere.example")]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("id=\"test-token-error\""));

        // The audit log: names and links, the deleted client by its id.
        let audit = console.get(routes::console::AUDIT).await.text().await.unwrap();
        assert!(audit.contains(&format!("href=\"{}\" title=\"{api}\">Names API</a>", routes::console::api(&api))), "{audit}");
        assert!(audit.contains(&format!("href=\"{}\" title=\"{job}\">Billing job</a>", routes::console::client(&job))), "{audit}");
        assert!(audit.contains(&format!("<code>{gone}</code> <span class=\"badge deleted\">deleted</span>")), "{audit}");
        assert!(!audit.contains("Gone app</a>"), "a deleted client has no link");
        assert_eq!(audit.matches("client.test_token").count(), 1, "the issued test token is audited, the refused one is not");

        // The dashboard's recent changes name their targets the same way.
        let home = console.get(routes::console::HOME).await.text().await.unwrap();
        let changes = &home[home.find("id=\"changes\"").unwrap()..];
        assert!(changes.contains(&format!("href=\"{}\" title=\"{job}\">Billing job</a>", routes::console::client(&job))), "{changes}");
        assert!(changes.contains(&format!("<code>{gone}</code> <span class=\"badge deleted\">deleted</span>")), "{changes}");
    }
);

on_both_backends!(
    /// Issue #18 item 9: scope descriptions are stored, shown and checked;
    /// an API lists the clients allowed to use it; a plugin version no
    /// binding uses can be deleted, a used one cannot; one algorithm's keys
    /// rotate alone and a key can be retired at once.
    apis_plugins_and_keys_pages_manage_descriptions_versions_and_keys,
    |backend| async move {
        let server = TestServer::start(backend);
        let console = Console::signed_in(&server).await;
        let csrf = console.csrf().await;
        let aud = "https://described.example";
        let r = console
            .post(
                routes::console::APIS,
                &[("csrf", &csrf), ("identifier", aud), ("alg", "RS256"), ("lifetime", "600"), ("scopes", "orders:read, orders:write")],
            )
            .await;
        let api = created_id(&r, "apis");
        let scopes_path = routes::console::action(&routes::console::api(&api), "scopes");
        let describe = |pairs: Vec<(&'static str, String)>| {
            let console = &console;
            let path = scopes_path.clone();
            let csrf = csrf.clone();
            async move {
                let mut form: Vec<(&str, String)> = vec![("csrf", csrf)];
                form.extend(pairs);
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                console.post(&path, &form).await
            }
        };
        let r = describe(vec![
            ("scope", "orders:read".into()),
            ("description", "Read your orders".into()),
            ("scope", "orders:write".into()),
            ("description", String::new()),
        ])
        .await;
        assert_eq!(r.status(), 303);
        let page = console.get(&routes::console::api(&api)).await.text().await.unwrap();
        assert!(page.contains("value=\"Read your orders\""), "{page}");
        // A scope the API does not define, and an overlong text: refused next to the field.
        for (scope, text) in [("billing:read", "x".to_owned()), ("orders:read", "y".repeat(201))] {
            let r = describe(vec![("scope", scope.into()), ("description", text)]).await;
            assert_eq!(r.status(), 422);
            assert!(r.text().await.unwrap().contains("id=\"scope-descriptions-error\""));
        }
        assert!(console.get(&routes::console::api(&api)).await.text().await.unwrap().contains("value=\"Read your orders\""));
        // The management API shows them too (an additive field).
        let listed = server.cli_json(&["api", "list"]);
        let entry = listed["apis"].as_array().unwrap().iter().find(|a| a["identifier"] == aud).unwrap().clone();
        assert_eq!(entry["scope_descriptions"], serde_json::json!({"orders:read": "Read your orders"}), "{entry}");

        // Clients allowed to use the API: named ones and those allowing any API.
        let named = server.cli_json(&["client", "create", "--name", "Named", "--grant-types", "client_credentials", "--audiences", aud]);
        let any = server.cli_json(&["client", "create", "--name", "Anything", "--grant-types", "client_credentials"]);
        let other = server.cli_json(&["client", "create", "--name", "Elsewhere", "--grant-types", "client_credentials", "--audiences", "https://other.example"]);
        let page = console.get(&routes::console::api(&api)).await.text().await.unwrap();
        let allowed = &page[page.find("id=\"allowed-clients\"").unwrap()..];
        assert!(allowed.contains(&format!("href=\"{}\">Named</a>", routes::console::client(named["client_id"].as_str().unwrap()))));
        let any = any["client_id"].as_str().unwrap();
        assert!(allowed.contains(&format!(">Anything</a> <code class=\"muted\">{any}</code> <span class=\"badge\">any API</span>")));
        assert!(!allowed.contains(other["client_id"].as_str().unwrap()), "a client limited to another API is not listed");

        // Plugin versions: delete an unused one; a used one is refused, naming the binding.
        for name in ["allow-claim", "drop-scope"] {
            server.cli(&["plugin", "upload", &component("fixtures", name), "--name", "versions"]);
        }
        let bound = server.cli_json(&["binding", "create", "--plugin", "versions@2", "--grant-types", "client_credentials"]);
        let bound = bound["id"].as_str().unwrap().to_owned();
        let page = console.get(&routes::console::plugin("versions")).await.text().await.unwrap();
        assert!(page.contains("id=\"delete-version-1\"") && !page.contains("id=\"delete-version-2\""), "{page}");
        let r = console.post(&routes::console::plugin_version_delete("versions", 2), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), 422);
        let refusal = r.text().await.unwrap();
        assert!(refusal.contains(&bound) && refusal.contains("point it at another version first"), "{refusal}");
        let r = console.post(&routes::console::plugin_version_delete("versions", 1), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), 303);
        let page = console.get(&routes::console::plugin("versions")).await.text().await.unwrap();
        assert!(!page.contains("id=\"use-1\"") && page.contains("id=\"use-2\""), "version 1 is gone");
        let audit = console.get(&format!("{}?action=plugin.version", routes::console::AUDIT)).await.text().await.unwrap();
        assert!(audit.contains("plugin.version.delete") && audit.contains(">versions</a>"), "{audit}");

        // Keys: rotating ES256 leaves RS256 alone; retiring a current key makes the next one current.
        let keys = server.cli_json(&["keys", "list"]);
        let current = |alg: &str, keys: &serde_json::Value| -> String {
            keys.as_array().or_else(|| keys["keys"].as_array()).unwrap().iter()
                .find(|k| k["alg"] == alg && k["state"] == "current").map(|k| k["kid"].as_str().unwrap().to_owned()).unwrap()
        };
        let (rs, es) = (current("RS256", &keys), current("ES256", &keys));
        let page = console.get(routes::console::KEYS).await.text().await.unwrap();
        assert!(page.contains("id=\"rotate-ES256\"") && page.contains(&format!("id=\"retire-{rs}\"")), "{page}");
        let r = console.post(&routes::console::keys_rotate_alg("ES256"), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), 303);
        let keys = server.cli_json(&["keys", "list"]);
        assert_eq!(current("RS256", &keys), rs, "RS256 keeps its current key");
        assert_ne!(current("ES256", &keys), es, "ES256 rotated");
        let r = console.post(&routes::console::key_retire(&rs), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), routes::console::done(routes::console::KEYS, "key-retired"));
        let keys = server.cli_json(&["keys", "list"]);
        assert_ne!(current("RS256", &keys), rs, "the retired key no longer signs");
        let audit = console.get(&format!("{}?action=keys.", routes::console::AUDIT)).await.text().await.unwrap();
        assert!(audit.contains("keys.retire") && audit.contains(&rs), "{audit}");
        assert_eq!(console.post(&routes::console::keys_rotate_alg("HS256"), &[("csrf", &csrf)]).await.status(), 422);
    }
);

/// Clicks a button whose form asks for confirmation ([data-confirm]),
/// answering yes, and waits for the next page; returns the question asked.
async fn click_confirmed(c: &Client, css: &str) -> String {
    let button = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    let asked = c
        .execute("return arguments[0].closest('form').dataset.confirm;", vec![serde_json::to_value(button).unwrap()])
        .await
        .unwrap();
    c.execute("window.confirm = () => true;", vec![]).await.unwrap();
    click(c, css).await;
    asked.as_str().unwrap_or_default().to_owned()
}

/// True when the page is wider than the window (it would scroll sideways).
async fn scrolls_sideways(c: &Client) -> bool {
    c.execute("return document.documentElement.scrollWidth > window.innerWidth + 1;", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

/// Issue #18 items 3, 4 and 9 in Chromium, with screenshots at 1280 and
/// 390 px wide: a client from a preset, its effective pipeline and a test
/// token; names and links in runs and the audit log; the binding form's
/// pickers; scope descriptions on the API and consent pages; deleting a
/// plugin version; rotating one algorithm and retiring a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_names_pipelines_quick_start_descriptions_versions_and_keys() {
    let server = TestServer::start(Backend::Sqlite);
    create_admin(&server);
    let aud = "https://shop.example";
    server.cli_json(&["api", "create", "--identifier", aud, "--name", "Shop API", "--scopes", "orders:read"]);
    let api =
        server.cli_json(&["api", "list"])["apis"].as_array().unwrap().iter().find(|a| a["identifier"] == aud).unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
    server.cli(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "allow-claim"]);
    server.cli(&["plugin", "upload", &component("fixtures", "drop-scope"), "--name", "allow-claim"]);
    server.cli(&["binding", "create", "--plugin", "allow-claim@1", "--grant-types", "client_credentials"]);
    server.create_user("dana", "dana's long password", &[]);

    let (_driver, c) = chromium().await;
    let go = |path: String| {
        let c = c.clone();
        let url = format!("{}{path}", server.base);
        async move { c.goto(&url).await.unwrap() }
    };
    go(routes::console::LOGIN.to_owned()).await;
    fill(&c, "#username", ADMIN).await;
    fill(&c, "#password", ADMIN_PASSWORD).await;
    click(&c, "button[type=submit]").await;

    // A new client from the machine-to-machine preset.
    go(format!("{}?preset=native", routes::console::NEW_CLIENT)).await;
    assert!(c.find(Locator::Css("#kind-public[checked]")).await.is_ok(), "native apps are public clients");
    assert!(text(&c, "label[for=redirect_uris]").await.contains("RFC 8252"));
    shot(&c, "client-new-native").await;
    go(format!("{}?preset=m2m", routes::console::NEW_CLIENT)).await;
    assert!(c.find(Locator::Css("#grant-client_credentials[checked]")).await.is_ok());
    assert!(
        !c.find(Locator::Css("#scopes")).await.unwrap().is_displayed().await.unwrap(),
        "advanced fields start folded"
    );
    shot(&c, "client-new-m2m").await;
    fill(&c, "#name", "Shop backend").await;
    click(&c, "#save").await;
    let client = text(&c, "#owner-id").await;
    click(&c, "#continue").await;

    // Its page: the pipeline that runs, the quick-start box, a real test token.
    let pipeline = text(&c, "#pipeline").await;
    assert!(
        pipeline.contains("client_credentials")
            && pipeline.contains("allow-claim v1")
            && pipeline.contains("claim rule"),
        "{pipeline}"
    );
    assert!(text(&c, "#qs-token-endpoint").await.ends_with(routes::TOKEN));
    assert!(text(&c, "#qs-discovery").await.ends_with(routes::OPENID_CONFIGURATION));
    c.find(Locator::Css("#copy-client-id")).await.unwrap().click().await.unwrap();
    assert_eq!(text(&c, "#copy-client-id").await, "Copied");
    let runs_before = server.count_rows("plugin_runs");
    click(&c, "#get-test-token").await;
    let claims = text(&c, "#test-token-claims").await;
    assert!(
        claims.contains("\"fixture\": \"allow-claim\"") && claims.contains(&client) && claims.contains(aud),
        "{claims}"
    );
    shot(&c, "client-quickstart").await;

    // Runs and the audit log name the plugin, binding and client.
    server.wait_for_rows("plugin_runs", runs_before + 1);
    go(routes::console::RUNS.to_owned()).await;
    let runs = text(&c, "#runs").await;
    assert!(
        runs.contains("allow-claim v1") && runs.contains("Shop backend") && runs.contains("allow-claim binding"),
        "{runs}"
    );
    shot(&c, "runs-named").await;
    go(routes::console::AUDIT.to_owned()).await;
    let audit = text(&c, "#audit").await;
    assert!(audit.contains("client.test_token") && audit.contains("Shop backend"), "{audit}");
    shot(&c, "audit-named").await;

    // The binding form: clients by name, only the chosen plugin's versions.
    go(routes::console::NEW_BINDING.to_owned()).await;
    c.find(Locator::Css("#plugin")).await.unwrap().select_by_value("allow-claim").await.unwrap();
    let offered: Vec<String> = c
        .execute(
            "return [...document.querySelectorAll('#version option')].filter(o => !o.parentElement.disabled).map(o => o.textContent);",
            vec![],
        )
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(offered, ["latest", "allow-claim v2", "allow-claim v1"]);
    assert!(text(&c, "#client-picker").await.contains("Shop backend"));
    shot(&c, "binding-new-pickers").await;

    // Scope descriptions, then the consent page shows them.
    go(routes::console::api(&api)).await;
    fill(&c, "#description-1", "Read your orders").await;
    click(&c, "#save-descriptions").await;
    assert_eq!(text(&c, "#notice").await, "Saved.");
    assert!(text(&c, "#allowed-clients").await.contains("Shop backend"));
    shot(&c, "api-descriptions").await;

    // Plugin versions: version 2 is unused and can go.
    go(routes::console::plugin("allow-claim")).await;
    let asked = click_confirmed(&c, "#delete-version-2").await;
    assert!(asked.contains("Delete version 2"), "{asked}");
    assert_eq!(text(&c, "#notice").await, "Version deleted.");
    assert!(c.find(Locator::Css("#delete-version-1")).await.is_err(), "the bound version offers no delete");
    shot(&c, "plugin-version-deleted").await;

    // Keys: one algorithm, then a compromised key.
    go(routes::console::KEYS.to_owned()).await;
    click_confirmed(&c, "#rotate-ES256").await;
    assert_eq!(text(&c, "#notice").await, "Keys rotated.");
    let keys = server.cli_json(&["keys", "list"]);
    let rs = keys["keys"].as_array().unwrap().iter().find(|k| k["alg"] == "RS256" && k["state"] == "current").unwrap()
        ["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let asked = click_confirmed(&c, &format!("#retire-{rs}")).await;
    assert!(asked.contains("compromised"), "{asked}");
    assert!(text(&c, "#notice").await.starts_with("Key retired"));
    shot(&c, "keys-retired").await;

    // Phone width: the same pages, every action reachable without sideways scrolling.
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        (routes::console::client(&client), "client-quickstart"),
        (format!("{}?preset=native", routes::console::NEW_CLIENT), "client-new-native"),
        (routes::console::api(&api), "api-descriptions"),
        (routes::console::RUNS.to_owned(), "runs-named"),
        (routes::console::AUDIT.to_owned(), "audit-named"),
        (routes::console::NEW_BINDING.to_owned(), "binding-new-pickers"),
        (routes::console::plugin("allow-claim"), "plugin-version-deleted"),
        (routes::console::KEYS.to_owned(), "keys-retired"),
    ] {
        go(path.clone()).await;
        assert!(!scrolls_sideways(&c).await, "{path} scrolls sideways at phone width");
        shot(&c, &format!("{name}-phone")).await;
    }

    // A user approving a public app sees the description.
    c.set_window_size(1280, 900).await.unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let app = server.cli_json(&[
        "client",
        "create",
        "--name",
        "Shop app",
        "--public",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        redirect,
    ]);
    let app = app["client_id"].as_str().unwrap();
    go(format!(
        "{}?response_type=code&client_id={app}&redirect_uri={}&scope=openid%20orders%3Aread&audience={}&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        routes::AUTHORIZE,
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(aud.as_bytes()).collect::<String>(),
    ))
    .await;
    fill(&c, "#username", "dana").await;
    fill(&c, "#password", "dana's long password").await;
    click(&c, "button[type=submit]").await;
    let scopes = text(&c, ".scopes").await;
    assert!(scopes.contains("orders:read: Read your orders"), "{scopes}");
    shot(&c, "consent-described").await;
    c.set_window_size(390, 844).await.unwrap();
    shot(&c, "consent-described-phone").await;
    c.close().await.unwrap();
}

/// The hidden `etag` of an edit form (`service::precondition::form_version`).
fn etag_in(html: &str) -> String {
    let marker = "name=\"etag\" value=\"";
    let at = html.find(marker).unwrap_or_else(|| panic!("an etag field in:\n{html}")) + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The fields an edit form posts, but its `csrf` and `etag`, with `value`
/// in a field the page shows afterwards.
type Fields = fn(&str) -> Vec<(&'static str, String)>;

/// The four edit forms that carry a version, each as its path and its
/// fields: a client, an API, a user and a binding, created here.
fn edit_forms(server: &TestServer) -> [(String, Fields); 4] {
    let (client, _) = server.api_and_client("https://stale.api.example", "ES256", "read");
    let api = server.cli_json(&["api", "list"])["apis"][0]["id"].as_str().unwrap().to_owned();
    let user = server.create_user("stale-user", "a long enough password", &[])["id"].as_str().unwrap().to_owned();
    server.cli(&["plugin", "upload", &component("fixtures", "allow-claim"), "--name", "allow-claim"]);
    let binding =
        server.cli_json(&["binding", "create", "--plugin", "allow-claim", "--grant-types", "client_credentials"])["id"]
            .as_str()
            .unwrap()
            .to_owned();

    [
        (routes::console::client(&client), |v| {
            vec![("name", v.to_owned()), ("grant_types", "client_credentials".into()), ("metadata", "{}".into())]
        }),
        (routes::console::api(&api), |v| {
            vec![("name", v.to_owned()), ("alg", "ES256".into()), ("lifetime", "300".into()), ("scopes", "read".into())]
        }),
        (routes::console::user(&user), |v| {
            vec![
                ("email", format!("{v}@example.com")),
                ("profile", "{}".into()),
                ("metadata", "{}".into()),
                ("roles", "".into()),
            ]
        }),
        (routes::console::binding(&binding), |v| {
            vec![
                ("version", "1".into()),
                ("grant_types", "client_credentials".into()),
                ("clients", "".into()),
                ("config", format!("{{\"claim\": \"{v}\"}}")),
                ("secrets", "".into()),
                ("failure_policy", "deny".into()),
                ("position", "10".into()),
                ("enabled", "on".into()),
            ]
        }),
    ]
}

/// Two tabs (or two administrators) open the same edit page; the first
/// save wins and the second, made from the page as it was before, is
/// refused with the reason and saves nothing, instead of silently undoing
/// the first. Reloaded, it saves. For clients, APIs, users and bindings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_form_opened_before_another_save_is_refused_and_loses_nothing() {
    let server = TestServer::start(Backend::Sqlite);
    let console = Console::signed_in(&server).await;
    let csrf = console.csrf().await;
    let cases = edit_forms(&server);
    for (n, (path, fields)) in cases.into_iter().enumerate() {
        // Marks no other case's page shows (the API page lists the client by name).
        let (first, second) = (format!("firsttab{n}"), format!("secondtab{n}"));
        let opened = etag_in(&console.get(&path).await.text().await.unwrap());
        let save = |value: &str, etag: &str| {
            let mut form = fields(value);
            form.push(("csrf", csrf.clone()));
            form.push(("etag", etag.to_owned()));
            let (console, path) = (&console, path.clone());
            async move {
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let r = console.post(&path, &pairs).await;
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (status, page) = save(&first, &opened).await;
        assert_eq!(status, 303, "{path}: {page}");
        let (status, page) = save(&second, &opened).await;
        assert_eq!(status, 422, "{path}: the second tab's save is refused: {page}");
        assert!(page.contains("after you opened this page"), "{path}: {page}");
        assert!(page.contains(&second), "{path}: the refused edits stay in the form");
        let now = console.get(&path).await.text().await.unwrap();
        assert!(now.contains(&first) && !now.contains(&second), "{path}: the first save stands: {now}");
        let (status, page) = save(&second, &etag_in(&now)).await;
        assert_eq!(status, 303, "{path}: reloaded, it saves: {page}");
        assert!(console.get(&path).await.text().await.unwrap().contains(&second), "{path}");
    }
}

/// An edit form posted without its version (no `etag` field, or a blank
/// one: a script, not the console's page) is refused like a stale one and
/// saves nothing, as the management API refuses a change without
/// `If-Match` (428): "no version" must not mean "overwrite any version".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_form_without_its_version_is_refused_and_saves_nothing() {
    let server = TestServer::start(Backend::Sqlite);
    let console = Console::signed_in(&server).await;
    let csrf = console.csrf().await;
    for (n, (path, fields)) in edit_forms(&server).into_iter().enumerate() {
        for (m, etag) in [None, Some(""), Some("  ")].into_iter().enumerate() {
            let value = format!("unversioned{n}x{m}");
            let mut form = fields(&value);
            form.push(("csrf", csrf.clone()));
            if let Some(etag) = etag {
                form.push(("etag", etag.to_owned()));
            }
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = console.post(&path, &pairs).await;
            let (status, page) = (r.status().as_u16(), r.text().await.unwrap());
            assert_eq!(status, 422, "{path} with etag {etag:?}: refused: {page}");
            assert!(page.contains("without the version"), "{path}: the reason is shown: {page}");
            assert!(page.contains(&value), "{path}: the refused edits stay in the form");
            let now = console.get(&path).await.text().await.unwrap();
            assert!(!now.contains(&value), "{path} with etag {etag:?}: nothing was saved: {now}");
        }
    }
}
