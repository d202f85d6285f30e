//! The console in process: its routes over a temporary SQLite database, on a
//! set clock, so the session timeouts are crossed by moving the clock
//! instead of sleeping (issue #12 item 3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::Harness;
use crate::clock::Clock as _;
use crate::config::{Config, ConsoleConfig};
use crate::web::routes;
use actix_web::cookie::Cookie;
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{App, test};

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "a long console passphrase";

/// A Tessera tuned by `tune`, with the test administrator.
fn console(tune: impl FnOnce(&mut Config)) -> Harness {
    let h = Harness::new(tune);
    let owner = crate::service::roles::Role::Owner;
    crate::service::console::create_admin(h.store(), "test", h.clock.now(), ADMIN, ADMIN_PASSWORD, owner).unwrap();
    h
}

/// The CSRF token in a console form.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field");
    html[at + 19..].chars().take_while(|c| *c != '"').collect()
}

fn cookie_of(resp: &ServiceResponse, name: &str) -> String {
    resp.response().cookies().find(|c| c.name() == name).map(|c| c.value().to_owned()).unwrap()
}

fn location(resp: &ServiceResponse) -> String {
    resp.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The sign-in form's request: its CSRF cookie and token come from the
/// page that `GET /admin/login` answered.
async fn login_request(page: ServiceResponse) -> test::TestRequest {
    let login_csrf = cookie_of(&page, "tessera_admin_csrf");
    let html = String::from_utf8(test::read_body(page).await.to_vec()).unwrap();
    let csrf = csrf_of(&html);
    test::TestRequest::post()
        .uri(routes::console::LOGIN)
        .cookie(Cookie::new("tessera_admin_csrf", login_csrf))
        .set_form([("csrf", csrf.as_str()), ("username", ADMIN), ("password", ADMIN_PASSWORD)])
}

/// Signs in through the form and evaluates to the session cookie's value.
/// (A macro: the service's request type is not nameable from here.)
macro_rules! sign_in {
    ($app:expr, $state:expr) => {{
        let page = test::call_service(&$app, test::TestRequest::get().uri(routes::console::LOGIN).to_request()).await;
        let resp = test::call_service(&$app, login_request(page).await.to_request()).await;
        assert_eq!(resp.status(), 303, "signed in");
        cookie_of(&resp, crate::web::console::cookie_name(&$state))
    }};
}

/// GET the dashboard with a session cookie; evaluates to its status and Location.
macro_rules! dashboard {
    ($app:expr, $state:expr, $session:expr) => {{
        let cookie = Cookie::new(crate::web::console::cookie_name(&$state), $session.clone());
        let req = test::TestRequest::get().uri(routes::console::HOME).cookie(cookie).to_request();
        let resp = test::call_service(&$app, req).await;
        (resp.status().as_u16(), location(&resp))
    }};
}

/// docs/security-checklist.md A-7: a session unused for the idle timeout ends.
#[actix_web::test]
async fn idle_sessions_end_at_the_idle_timeout() {
    let c = console(|config| config.console = ConsoleConfig { idle_timeout_secs: 2, ..ConsoleConfig::default() });
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    assert_eq!(dashboard!(app, c.state, session).0, 200);
    c.clock.advance(1);
    assert_eq!(dashboard!(app, c.state, session).0, 200, "used within the idle timeout");
    c.clock.advance(2);
    assert_eq!(dashboard!(app, c.state, session), (303, routes::console::LOGIN.into()), "idle session ended");
}

/// docs/security-checklist.md A-7: the absolute timeout ends a session
/// however busy it is.
#[actix_web::test]
async fn busy_sessions_still_end_at_the_absolute_timeout() {
    let c = console(|config| config.console = ConsoleConfig { absolute_timeout_secs: 3, ..ConsoleConfig::default() });
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    // Busy: a request every second, each moving the idle timeout on.
    for _ in 0..3 {
        assert_eq!(dashboard!(app, c.state, session).0, 200, "active within the limit");
        c.clock.advance(1);
    }
    assert_eq!(dashboard!(app, c.state, session), (303, routes::console::LOGIN.into()), "absolute timeout");
}

/// Issue #14 item 3: the API reference page lists every operation of the
/// OpenAPI document with its method, path and scope, every problem type and
/// every scope, for a signed-in administrator only, and loads no script
/// beyond the console's own.
#[actix_web::test]
async fn the_api_reference_renders_every_operation_of_the_openapi_document() {
    let c = console(|_| {});
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let anonymous = test::TestRequest::get().uri(routes::console::API_REFERENCE).to_request();
    let resp = test::call_service(&app, anonymous).await;
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, routes::console::LOGIN.into()));
    let session = sign_in!(app, c.state);
    let cookie = Cookie::new(crate::web::console::cookie_name(&c.state), session.clone());
    let req = test::TestRequest::get().uri(routes::console::API_REFERENCE).cookie(cookie).to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 200);
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    let doc = serde_json::to_value(crate::web::api::openapi_document()).unwrap();
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let anchor = format!("op-{}-{}", method, path.replace(['/', '{', '}'], "-").trim_matches('-'));
            let at = html.find(&format!("id=\"{anchor}\"")).unwrap_or_else(|| panic!("{method} {path} is not listed"));
            let block = &html[at..at + html[at..].find("</details>").unwrap()];
            assert!(block.contains(&method.to_uppercase()) && block.contains(path.as_str()), "{block}");
            let scope = op["security"][0]["bearer"][0].as_str().unwrap();
            assert!(block.contains(scope), "{method} {path} does not show {scope}");
            n += 1;
        }
    }
    assert!(n >= 30, "{n} operations");
    for kind in crate::web::api::problem::ProblemKind::ALL {
        assert!(html.contains(&kind.type_uri()), "{}", kind.type_uri());
    }
    for scope in crate::service::oauth::management::ManagementScope::ALL {
        assert!(html.contains(scope.description()), "{}", scope.as_str());
    }
    assert!(html.contains("id=\"schema-KeyRotation\""), "schemas are listed");
    assert!(html.contains(&format!("href=\"{}\"", routes::console::API_REFERENCE)), "linked from the menu");
    assert_eq!(html.matches("<script").count(), 1, "only the console's own script");
}

/// The body of a GET of `path` with the session cookie (a macro, like
/// `sign_in!`).
macro_rules! page_of {
    ($app:expr, $state:expr, $session:expr, $path:expr) => {{
        let cookie = Cookie::new(crate::web::console::cookie_name(&$state), $session.clone());
        let resp = test::call_service(&$app, test::TestRequest::get().uri($path).cookie(cookie).to_request()).await;
        assert_eq!(resp.status(), 200, "GET {}", $path);
        String::from_utf8(test::read_body(resp).await.to_vec()).unwrap()
    }};
}

/// The HTML from the element with `id` to the end of its table.
fn table<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    &html[at..at + html[at..].find("</table>").unwrap()]
}

/// Issue #18 item 7: the dashboard says where this server is, ticks the
/// first-run checklist from what the database holds, and lists sign-ins
/// apart from changes.
#[actix_web::test]
async fn the_dashboard_ticks_its_checklist_from_real_data_and_keeps_sign_ins_apart() {
    let c = console(|_| {});
    c.api();
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    let html = page_of!(app, c.state, session, routes::console::HOME);
    assert!(html.contains("id=\"step-api\" class=\"done\""), "an API exists");
    for step in ["client", "plugin", "binding", "test"] {
        assert!(html.contains(&format!("id=\"step-{step}\" class=\"todo\"")), "{step} is still to do");
    }
    for path in [routes::OPENID_CONFIGURATION, routes::JWKS] {
        assert!(html.contains(&format!("value=\"{}{path}\"", c.state.issuer)), "{path} is shown");
    }
    let sign_ins = table(&html, "sign-ins");
    assert!(sign_ins.contains("admin:root") && sign_ins.contains("signed in"), "{sign_ins}");
    let changes = table(&html, "changes");
    assert!(changes.contains("api.create"), "{changes}");
    assert!(!changes.contains("admin.login") && !changes.contains("signed in"), "sign-ins are not changes: {changes}");

    // Once a client exists, its step is ticked too.
    c.client(&["client_credentials"]);
    let html = page_of!(app, c.state, session, routes::console::HOME);
    assert!(html.contains("id=\"step-client\" class=\"done\""));
}

/// The steps of a second factor at sign-in (a wrong code, a passkey or a
/// recovery code accepted) are sign-ins, not changes: the dashboard lists
/// them with the sign-ins, and a password that still waits for its second
/// factor reads as accepted, not signed in.
#[actix_web::test]
async fn second_factor_steps_are_listed_as_sign_ins_not_changes() {
    let c = console(|_| {});
    c.api();
    let now = c.clock.now();
    c.store()
        .tx(|conn| {
            use crate::service::admin::audit;
            let pending = serde_json::json!({"address": null, "second_factor": "code"});
            audit(conn, "admin:carol", now, "admin.login", "console", pending)?;
            audit(conn, "admin:carol", now, "admin.second_factor.failed", "a1", serde_json::json!({}))?;
            audit(conn, "admin:carol", now, "admin.second_factor.recovery", "a1", serde_json::json!({"left": 9}))?;
            audit(conn, "admin:dave", now, "admin.second_factor.enrol", "a2", serde_json::json!({}))?;
            audit(conn, "admin:dave", now, "admin.second_factor.passkey", "a2", serde_json::json!({"name": "key"}))
        })
        .unwrap();
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    let html = page_of!(app, c.state, session, routes::console::HOME);
    let sign_ins = table(&html, "sign-ins");
    for result in ["password accepted", "second factor failed", "recovery code used", "passkey accepted", "signed in"] {
        assert!(sign_ins.contains(result), "{result}: {sign_ins}");
    }
    let changes = table(&html, "changes");
    assert!(changes.contains("api.create"), "{changes}");
    assert!(!changes.contains("second_factor.failed"), "second factor steps are not changes: {changes}");
    // "Every sign-in" lists every step of every sign-in, and nothing else.
    let at = html.find("id=\"every-sign-in\"").expect("the link");
    let start = html[..at].rfind("href=\"").unwrap() + 6;
    let href = html[start..at].trim_end_matches([' ', '"']).to_owned();
    let log = page_of!(app, c.state, session, &href);
    for step in
        ["admin.login", "admin.second_factor.failed", "admin.second_factor.recovery", "admin.second_factor.passkey"]
    {
        assert!(log.contains(&format!(">{step}<")), "{step} in {href}");
    }
    assert!(!log.contains(">admin.second_factor.enrol<") && !log.contains(">api.create<"), "only sign-ins: {href}");
}

/// A refused plugin upload changed nothing: it is not among the dashboard's
/// recent changes, and it stays on the audit log page.
#[actix_web::test]
async fn a_refused_upload_is_not_a_recent_change_but_stays_in_the_audit_log() {
    let c = console(|_| {});
    c.api();
    let detail = serde_json::json!({"name": "rule", "signature_given": false, "reason": "unsigned"});
    c.store()
        .tx(|conn| crate::service::admin::audit(conn, "cli", c.clock.now(), "plugin.upload.refused", "rule", detail))
        .unwrap();
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    let changes = page_of!(app, c.state, session, routes::console::HOME);
    let changes = table(&changes, "changes");
    assert!(changes.contains("api.create"), "{changes}");
    assert!(!changes.contains("plugin.upload.refused"), "a refused upload is not a change: {changes}");
    let audit = page_of!(app, c.state, session, routes::console::AUDIT);
    assert!(audit.contains("plugin.upload.refused"), "{audit}");
}

/// Issue #18 item 6: a form with errors is shown again with a summary on
/// top that names each field and links to its message, and the failed field
/// is marked invalid, described by its message and focused (the only
/// autofocus on the page).
#[actix_web::test]
async fn a_form_error_is_summarised_marked_on_its_field_and_focused() {
    let c = console(|_| {});
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    let form = page_of!(app, c.state, session, routes::console::NEW_USER);
    assert!(!form.contains("error-summary") && form.contains("autofocus"), "a fresh form focuses its first field");
    let csrf = csrf_of(&form);
    let cookie = Cookie::new(crate::web::console::cookie_name(&c.state), session.clone());
    let req = test::TestRequest::post()
        .uri(routes::console::USERS)
        .cookie(cookie)
        .set_form([
            ("csrf", csrf.as_str()),
            ("username", "bob"),
            ("password", "a password for bob"),
            ("metadata", "{\"team\": "),
        ])
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 422);
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    let summary = &html[html.find("class=\"error-summary\"").expect("a summary")..];
    let summary = &summary[..summary.find("</div>").unwrap()];
    assert!(summary.contains("<a href=\"#metadata-error\">Metadata: "), "{summary}");
    let field = &html[html.find("<textarea id=\"metadata\"").unwrap()..];
    let field = &field[..field.find('>').unwrap()];
    assert!(
        field.contains("aria-invalid=\"true\" aria-describedby=\"metadata-error\" autofocus"),
        "the field is marked, described and focused: {field}"
    );
    assert!(html.contains("class=\"field-error\" id=\"metadata-error\""));
    assert_eq!(html.matches("autofocus").count(), 1, "only the failed field is focused");
    assert!(html.find("id=\"save\"").unwrap() > html.find("id=\"metadata\"").unwrap(), "submit below the fields");
}

/// Issue #18 item 7: a node that has run no plugin since it started shows
/// each plugin version's p50, p99 and error rate from the run log, and says
/// so.
#[actix_web::test]
async fn the_dashboard_reads_plugin_figures_from_the_run_log_when_this_node_has_none() {
    let c = console(|_| {});
    let wasm = Harness::component("fixtures", "allow-claim");
    let up = crate::service::plugins::NewUpload { name: "rule", wasm: &wasm, declared_claims: None, signature: None };
    crate::service::plugins::upload(c.store(), &c.state.host, &Default::default(), "test", c.clock.now(), up).unwrap();
    let mut conn = c.store().conn().unwrap();
    let plugin = tessera_store::plugins::list(&mut conn).unwrap().remove(0);
    let version = tessera_store::plugins::versions(&mut conn, &plugin.id).unwrap().remove(0);
    let run = |id: &str, duration_us: i64, outcome: &str| tessera_store::plugins::PluginRunRecord {
        id: id.into(),
        binding_id: "b".into(),
        plugin_version_id: version.id.clone(),
        grant_type: "client_credentials".into(),
        client_id: "c".into(),
        at: c.clock.now(),
        duration_us,
        outcome: outcome.into(),
        detail: String::new(),
        logs: "[]".into(),
        http: "[]".into(),
    };
    let runs = [run("r1", 1_000, "ok"), run("r2", 2_000, "denied"), run("r3", 4_000, "trap"), run("r4", 3_000, "ok")];
    tessera_store::plugins::record_runs(&mut conn, &runs, 1000).unwrap();
    drop(conn);
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    let html = page_of!(app, c.state, session, routes::console::HOME);
    let figures = table(&html, "plugin-figures");
    // Four runs: p50 2 ms, p99 4 ms; the trap fails, the deny does not.
    for cell in ["<td>rule</td>", "<td>4</td>", "<td>2.00 ms</td>", "<td>4.00 ms</td>", "<td>25.0 %</td>"] {
        assert!(figures.contains(cell), "{cell} missing from {figures}");
    }
    assert!(html.contains("in the run log"), "the page says where the figures come from");
}

/// Issue #18 item 6 on the setup form (before any session): the field the
/// refusal is about is marked invalid, described by the message and
/// focused, in place of the username.
#[actix_web::test]
async fn the_setup_form_marks_and_focuses_the_field_it_refused() {
    let h = Harness::new(|_| {});
    let token = h.state.console.issue_setup_token().unwrap().expect("no administrator yet");
    let app = test::init_service(App::new().app_data(h.state.clone()).configure(crate::web::console::routes)).await;
    let req = test::TestRequest::post()
        .uri(routes::console::SETUP)
        .set_form([("token", token.as_str()), ("username", "root"), ("password", "short"), ("confirm", "other")])
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 422);
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    let tag = |id: &str| {
        let at = html.find(&format!("<input id=\"{id}\"")).unwrap();
        html[at..at + html[at..].find('>').unwrap()].to_owned()
    };
    assert!(
        tag("confirm").contains("autofocus aria-invalid=\"true\" aria-describedby=\"setup-error\""),
        "{}",
        tag("confirm")
    );
    assert!(!tag("username").contains("autofocus") && !tag("username").contains("aria-invalid"));
    assert!(!tag("password").contains("aria-invalid"));
}

/// A client that registered itself (RFC 7591) says so on its page, with
/// the descriptive metadata it gave; one an administrator made does not.
#[actix_web::test]
async fn a_registered_clients_page_says_it_registered_itself() {
    let c = console(|config| config.registration.mode = crate::config::RegistrationMode::Open);
    let body = serde_json::json!({"client_name": "Photo Printer", "redirect_uris": ["https://printer.example/cb"],
        "contacts": ["ops@printer.example", "<b>bold</b>@printer.example"], "client_uri": "https://printer.example"});
    let registered = c.state.registration.register(None, body.to_string().as_bytes()).map_err(|_| "refused").unwrap();
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let other = c.client(&["client_credentials"]);
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    let page = |id: String| {
        let cookie = Cookie::new(crate::web::console::cookie_name(&c.state), session.clone());
        test::TestRequest::get().uri(&format!("{}/{id}", routes::console::CLIENTS)).cookie(cookie).to_request()
    };
    let resp = test::call_service(&app, page(id)).await;
    assert_eq!(resp.status(), 200);
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(html.contains("Registered by the application"), "{html}");
    assert!(html.contains("ops@printer.example") && html.contains("https://printer.example"), "{html}");
    assert!(
        html.contains("&#60;b&#62;bold&#60;/b&#62;") && !html.contains("<b>bold</b>"),
        "registrant text is escaped"
    );
    let resp = test::call_service(&app, page(other.id.clone())).await;
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(!html.contains("Registered by the application"));
    let cookie = Cookie::new(crate::web::console::cookie_name(&c.state), session.clone());
    let list = test::TestRequest::get().uri(routes::console::CLIENTS).cookie(cookie).to_request();
    let html = String::from_utf8(test::call_and_read_body(&app, list).await.to_vec()).unwrap();
    assert_eq!(html.matches(">self-registered</span>").count(), 1, "the list marks it, and only it: {html}");
}

/// A binding this node suspended (docs/security-checklist.md W-14) is
/// marked on the bindings page, and its own page says why and when its
/// plugin is tried again.
#[actix_web::test]
async fn a_suspended_binding_is_marked_in_the_console() {
    use crate::service::plugins::{self, NewBinding};
    let c = console(|config| config.plugins.suspend_after_deadlines = 2);
    let wasm = Harness::component("fixtures", "loop-forever");
    let up = plugins::NewUpload { name: "loop-forever", wasm: &wasm, declared_claims: None, signature: None };
    plugins::upload(c.store(), &c.state.host, &Default::default(), "test", c.clock.now(), up).unwrap();
    let new = NewBinding {
        plugin: "loop-forever".into(),
        grant_types: vec!["client_credentials".into()],
        failure_policy: Some("skip".into()),
        ..NewBinding::default()
    };
    let binding = plugins::create_binding(c.store(), &c.master, "test", c.clock.now(), new).unwrap().id;
    let app = test::init_service(App::new().app_data(c.state.clone()).configure(crate::web::console::routes)).await;
    let session = sign_in!(app, c.state);
    let get = |path: String| {
        let cookie = Cookie::new(crate::web::console::cookie_name(&c.state), session.clone());
        test::TestRequest::get().uri(&path).cookie(cookie).to_request()
    };
    let binding_page = format!("{}/{binding}", routes::console::BINDINGS);
    let html = String::from_utf8(test::call_and_read_body(&app, get(binding_page.clone())).await.to_vec()).unwrap();
    assert!(!html.contains("id=\"suspended\""), "not suspended yet");
    let now = std::time::Instant::now();
    c.state.suspensions.record(&binding, true, now);
    c.state.suspensions.record(&binding, true, now);
    let html = String::from_utf8(test::call_and_read_body(&app, get(binding_page)).await.to_vec()).unwrap();
    assert!(html.contains("id=\"suspended\"") && html.contains("2 times in a row"), "{html}");
    assert!(html.contains("its failure policy (skip)"), "{html}");
    let list = get(routes::console::BINDINGS.to_owned());
    let html = String::from_utf8(test::call_and_read_body(&app, list).await.to_vec()).unwrap();
    assert!(html.contains(">suspended</span>"), "{html}");
}
