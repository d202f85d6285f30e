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
