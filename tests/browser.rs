//! A real headless Chromium (Debian's chromium and chromium-driver, driven
//! through WebDriver by fantoccini) signs in through the hosted login page,
//! and walks the main console pages at 1280 and at 390 px wide (issue #18
//! items 5 and 10). Screenshots go to `<target>/tmp/screenshots/`
//! (`support::chrome::screenshot_dir`), which CI keeps.

use crate::admins::totp_code;
use crate::client_credentials::oauth2_token;
use crate::console::{ADMIN, ADMIN_PASSWORD, create_admin};
use crate::plugins::component;
use crate::support::chrome::{chromium, full_page_screenshot, screenshot_dir};
use crate::support::{Backend, TestServer};
use fantoccini::{Client, Locator};
use serde_json::Value;
use std::time::Duration;
use tessera::web::routes;

/// A loopback "client" that answers 200 to every request, so the browser
/// has somewhere to land after the redirect.
fn landing_server() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (paths, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nlanded ok");
            let _ = paths.send(path);
        }
    });
    (port, seen)
}

/// The browser's URL once it starts with `prefix` (or, after 10 s, the URL
/// it is at then).
async fn url_once_at(c: &Client, prefix: &str) -> String {
    let mut at = String::new();
    for _ in 0..100 {
        at = c.current_url().await.unwrap().to_string();
        if at.starts_with(prefix) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    at
}

/// The text of the element `css` once it contains `wanted` (or the last
/// text read, after 10 s), reading again while the page navigates: a
/// script's reload can replace the page between finding the element and
/// reading it ("aborted by navigation").
async fn text_once_containing(c: &Client, css: &str, wanted: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(text) = e.text().await
        {
            if text.contains(wanted) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_through_the_hosted_login_page() {
    let server = TestServer::start(Backend::Sqlite);
    server.create_user("carol", "carol's long password", &[]);
    let (landing, landing_paths) = landing_server();
    let redirect = format!("http://127.0.0.1:{landing}/callback");
    let signed_out = format!("http://127.0.0.1:{landing}/signed-out");
    let spa = server.cli_json(&[
        "client",
        "create",
        "--name",
        "Single-page app",
        "--public",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        &redirect,
        "--post-logout-redirect-uri",
        &signed_out,
        "--frontchannel-logout-uri",
        &format!("http://127.0.0.1:{landing}/front-channel-logout"),
    ]);
    let id = spa["client_id"].as_str().unwrap();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let url = format!(
        "{}{}?response_type=code&client_id={id}&redirect_uri={}&scope=openid%20profile&state=st4te&nonce=n0nce&code_challenge={challenge}&code_challenge_method=S256",
        server.base,
        routes::AUTHORIZE,
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );

    let (_driver, c) = chromium().await;
    c.goto(&url).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Sign in · Tessera");
    std::fs::write(screenshot_dir().join("login.png"), c.screenshot().await.unwrap()).unwrap();

    // A wrong password keeps the user on the page with a generic message.
    c.find(Locator::Css("#username")).await.unwrap().send_keys("carol").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys("wrong password").await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let message = c.wait().for_element(Locator::Css("#login-error")).await.unwrap().text().await.unwrap();
    assert_eq!(message, "Incorrect username or password.");
    std::fs::write(screenshot_dir().join("login-error.png"), c.screenshot().await.unwrap()).unwrap();

    c.find(Locator::Css("#password")).await.unwrap().send_keys("carol's long password").await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    // A third-party SPA: the user is asked to allow access.
    let allow = c.wait().for_element(Locator::Css("#allow")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Allow access · Tessera");
    std::fs::write(screenshot_dir().join("consent.png"), c.screenshot().await.unwrap()).unwrap();
    allow.click().await.unwrap();
    let landed = url_once_at(&c, &redirect).await;
    assert!(landed.starts_with(&redirect), "browser ended at {landed}");
    let landed = url::Url::parse(&landed).unwrap();
    let param = |n: &str| landed.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some("st4te"));
    let code = param("code").expect("code");

    // The public client redeems the code with its PKCE verifier.
    let r = reqwest::Client::new()
        .post(server.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", id),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body["id_token"].is_string(), "{body}");

    // OpenID Connect Front-Channel Logout, in the browser: signing out loads
    // the app's logout page (iss and sid in its query) in a hidden iframe,
    // which the page's CSP allows, then the page's script goes on to the
    // registered return address.
    let id_token = body["id_token"].as_str().unwrap();
    let sid = {
        use base64::Engine as _;
        let payload = id_token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["sid"].as_str().unwrap().to_owned()
    };
    while landing_paths.try_recv().is_ok() {}
    let logout = format!(
        "{}{}?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye",
        server.base,
        routes::END_SESSION,
        url::form_urlencoded::byte_serialize(signed_out.as_bytes()).collect::<String>()
    );
    c.goto(&logout).await.unwrap();
    let landed = url_once_at(&c, &signed_out).await;
    assert_eq!(landed, format!("{signed_out}?state=bye"), "the script went on to the return address");
    let paths: Vec<String> = landing_paths.try_iter().collect();
    let front = paths.iter().find(|p| p.starts_with("/front-channel-logout?")).unwrap_or_else(|| panic!("{paths:?}"));
    assert!(front.ends_with(&format!("&sid={sid}")) && front.contains("iss="), "{front}");
    c.close().await.unwrap();
}

/// Why the page at this width fails the phone rules, if it does: the
/// document scrolls sideways, or a control in `main` or the header (a row
/// action above all) is hidden or reaches past the viewport's edge. Controls
/// folded away in a closed `<details>` are left out: one click shows them.
const LAYOUT_PROBLEMS: &str = r#"
const root = document.scrollingElement;
const width = root.clientWidth;
const problems = [];
if (root.scrollWidth > width) problems.push(`the page scrolls sideways: ${root.scrollWidth} > ${width}`);
const controls = "main a, main button, main input:not([type=hidden]), main select, main textarea, header a, header button, header summary";
for (const el of document.querySelectorAll(controls)) {
  const folded = el.parentElement.closest("details:not([open])");
  if (folded && !(el.matches("summary") && el.parentElement === folded)) continue;
  const r = el.getBoundingClientRect();
  const what = el.outerHTML.slice(0, 100);
  if (r.width === 0 && r.height === 0) {
    if (el.closest("tbody tr, .pipeline li")) problems.push(`a row action is hidden: ${what}`);
    continue;
  }
  if (r.left < -1 || r.right > width + 1) problems.push(`past the edge (${Math.round(r.left)}..${Math.round(r.right)} of ${width}): ${what}`);
}
return problems;
"#;

/// Loads `path`, checks the layout at the window's width, and saves a
/// full-page screenshot as `console-<name>-<width>.png`.
async fn walk(c: &Client, base: &str, path: &str, name: &str, width: u32) {
    c.goto(&format!("{base}{path}")).await.unwrap();
    c.wait().for_element(Locator::Css("main h1")).await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let inner = c.execute("return window.innerWidth;", vec![]).await.unwrap().as_u64().unwrap();
    assert!(inner.abs_diff(u64::from(width)) <= 20, "{path}: the viewport is {inner} px, not about {width}");
    let problems = c.execute(LAYOUT_PROBLEMS, vec![]).await.unwrap();
    assert_eq!(problems, Value::Array(vec![]), "{path} at {width} px");
    full_page_screenshot(c, width, &screenshot_dir().join(format!("console-{name}-{width}.png"))).await;
}

/// The `href` of the first element matching `css` on the current page.
async fn first_href(c: &Client, css: &str) -> String {
    let e = c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    e.attr("href").await.unwrap().unwrap_or_else(|| panic!("{css} has no href"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_walks_the_console_at_desktop_and_phone_width() {
    let server = TestServer::start(Backend::Sqlite);
    create_admin(&server);
    let (_driver, c) = chromium().await;
    let base = server.base.clone();

    // Sign in; a fresh server's dashboard shows the first-run checklist.
    c.goto(&format!("{base}{}", routes::console::LOGIN)).await.unwrap();
    c.find(Locator::Css("#username")).await.unwrap().send_keys(ADMIN).await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(ADMIN_PASSWORD).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#checklist")).await.unwrap();
    for width in [1280, 390] {
        c.set_window_size(width, 900).await.unwrap();
        walk(&c, &base, routes::console::HOME, "dashboard-first-run", width).await;
    }

    // Something on every page: an API, a service account, a client, a
    // plugin bound to client_credentials, and a token that ran it.
    let audience = "https://orders.example";
    server.cli_json(&["api", "create", "--identifier", audience, "--scopes", "orders:read,orders:write"]);
    server.create_user("reporting-bot", "a password for the bot", &[]);
    let client = server.cli_json(&[
        "client",
        "create",
        "--name",
        "Reporting job",
        "--grant-types",
        "client_credentials",
        "--service-account",
        "reporting-bot",
    ]);
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    server.cli_json(&["plugin", "upload", &component("examples", "rust-username"), "--name", "username-claim"]);
    server.cli_json(&["binding", "create", "--plugin", "username-claim", "--grant-types", "client_credentials"]);
    let runs_before = server.count_rows("plugin_runs");
    oauth2_token(&server, id, secret, audience, &[], false).await;
    server.wait_for_rows("plugin_runs", runs_before + 1);

    // Detail pages are reached the way an administrator reaches them: the
    // first row of each list.
    c.set_window_size(1280, 900).await.unwrap();
    let mut pages: Vec<(String, &str)> = vec![
        (routes::console::HOME.into(), "dashboard"),
        (routes::console::USERS.into(), "users"),
        (routes::console::CLIENTS.into(), "clients"),
        (routes::console::APIS.into(), "apis"),
        (routes::console::PLUGINS.into(), "plugins"),
        (routes::console::BINDINGS.into(), "bindings"),
        (routes::console::KEYS.into(), "keys"),
        (routes::console::AUDIT.into(), "audit"),
        (routes::console::RUNS.into(), "runs"),
        (routes::console::ACCOUNT.into(), "account"),
        (routes::console::NEW_CLIENT.into(), "client-new"),
    ];
    for (list, css, name) in [
        (routes::console::USERS, "main tbody a", "user"),
        (routes::console::CLIENTS, "main tbody a", "client"),
        (routes::console::APIS, "main tbody a", "api"),
        (routes::console::PLUGINS, "main tbody a", "plugin"),
        (routes::console::BINDINGS, ".binding-link", "binding"),
    ] {
        c.goto(&format!("{base}{list}")).await.unwrap();
        let href = first_href(&c, css).await;
        let path = url::Url::parse(&href).map(|u| u.path().to_owned()).unwrap_or(href);
        pages.push((path, name));
    }
    let test_panel = format!(
        "{}?grant_type=client_credentials&client={id}",
        routes::console::action(&routes::console::plugin("username-claim"), "test")
    );
    pages.push((test_panel, "plugin-test"));

    for width in [1280, 390] {
        c.set_window_size(width, 900).await.unwrap();
        for (path, name) in &pages {
            walk(&c, &base, path, name, width).await;
        }
    }

    // The test panel's result, for the README.
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&format!("{base}{}", pages.iter().find(|(_, n)| *n == "plugin-test").unwrap().0)).await.unwrap();
    c.wait().for_element(Locator::Css("#run")).await.unwrap().click().await.unwrap();
    assert_eq!(c.wait().for_element(Locator::Css("#outcome")).await.unwrap().text().await.unwrap(), "ok");
    full_page_screenshot(&c, 1280, &screenshot_dir().join("console-plugin-test-result-1280.png")).await;

    // At phone width the menu is one disclosure button; it opens in place.
    c.set_window_size(390, 900).await.unwrap();
    c.goto(&format!("{base}{}", routes::console::HOME)).await.unwrap();
    let users_link = c.wait().for_element(Locator::Css("header nav a[href='/admin/users']")).await.unwrap();
    assert!(!users_link.is_displayed().await.unwrap(), "the menu starts closed on a phone");
    c.find(Locator::Css("#menu > summary")).await.unwrap().click().await.unwrap();
    assert!(users_link.is_displayed().await.unwrap(), "the menu button shows the menu");
    full_page_screenshot(&c, 390, &screenshot_dir().join("console-menu-390.png")).await;
    // ...and at desktop width there is no button, only the menu.
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&format!("{base}{}", routes::console::HOME)).await.unwrap();
    let users_link = c.wait().for_element(Locator::Css("header nav a[href='/admin/users']")).await.unwrap();
    assert!(users_link.is_displayed().await.unwrap());
    assert!(!c.find(Locator::Css("#menu > summary")).await.unwrap().is_displayed().await.unwrap());

    // A form error at phone width: the summary is on top, names the field,
    // and the field has the focus.
    c.set_window_size(390, 900).await.unwrap();
    c.goto(&format!("{base}{}", routes::console::NEW_API)).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#identifier"))
        .await
        .unwrap()
        .send_keys("https://billing.example")
        .await
        .unwrap();
    let lifetime = c.find(Locator::Css("#lifetime")).await.unwrap();
    lifetime.clear().await.unwrap();
    lifetime.send_keys("soon").await.unwrap();
    c.find(Locator::Css("#save")).await.unwrap().click().await.unwrap();
    let summary = c.wait().for_element(Locator::Css("#error-summary")).await.unwrap().text().await.unwrap();
    assert!(summary.contains("Access-token lifetime:"), "{summary}");
    let focused = c.execute("return document.activeElement.id;", vec![]).await.unwrap();
    assert_eq!(focused, "lifetime", "the first failed field has the focus");
    let invalid = c.find(Locator::Css("#lifetime")).await.unwrap().attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    full_page_screenshot(&c, 390, &screenshot_dir().join("console-form-error-390.png")).await;
    // The summary's entry takes the focus back to its field from anywhere.
    c.find(Locator::Css("#scopes")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("#error-summary a")).await.unwrap().click().await.unwrap();
    let focused = c.execute("return document.activeElement.id;", vec![]).await.unwrap();
    assert_eq!(focused, "lifetime", "the summary links to its field");
    c.close().await.unwrap();
}

/// Types `root`'s password into the console's sign-in form.
async fn console_sign_in(c: &fantoccini::Client, base: &str, password: &str) {
    c.goto(&format!("{base}{}", routes::console::LOGIN)).await.unwrap();
    c.find(Locator::Css("#username")).await.unwrap().send_keys("root").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
}

/// A user who must have a second factor enrols it on the hosted page in
/// Chromium: the secret and the app link shown after the password, a first
/// code, the recovery codes, then on to the application; a later sign-in
/// asks for a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_enrols_a_users_second_factor_on_the_hosted_page() {
    let server = TestServer::start(Backend::Sqlite);
    let user = server.create_user("carol", "carol's long password", &[]);
    server.cli_json(&["user", "second-factor", user["id"].as_str().unwrap(), "--require"]);
    let (landing, _paths) = landing_server();
    let redirect = format!("http://127.0.0.1:{landing}/callback");
    let app = server.cli_json(&[
        "client",
        "create",
        "--name",
        "Ledger",
        "--public",
        "--first-party",
        "--grant-types",
        "authorization_code",
        "--redirect-uri",
        &redirect,
    ]);
    let url = format!(
        "{}{}?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=st4te&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.base,
        routes::AUTHORIZE,
        app["client_id"].as_str().unwrap(),
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    let sign_in = |c: Client, url: String| async move {
        c.goto(&url).await.unwrap();
        c.find(Locator::Css("#username")).await.unwrap().send_keys("carol").await.unwrap();
        c.find(Locator::Css("#password")).await.unwrap().send_keys("carol's long password").await.unwrap();
        c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        c
    };

    let (_driver, c) = chromium().await;
    let c = sign_in(c, url.clone()).await;
    c.wait().for_element(Locator::Css("#confirm-second-factor")).await.unwrap();
    let secret = c.find(Locator::Css("#secret-text")).await.unwrap().prop("value").await.unwrap().unwrap();
    let link = c.find(Locator::Css("#otpauth-link")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(link.starts_with("otpauth://totp/127.0.0.1:carol?") && link.contains(&secret), "{link}");
    std::fs::write(screenshot_dir().join("login-second-factor-enrol.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#code")).await.unwrap().send_keys(&totp_code(&secret, 0)).await.unwrap();
    c.find(Locator::Css("#confirm-second-factor")).await.unwrap().click().await.unwrap();
    let codes = c.wait().for_element(Locator::Css("#recovery-codes")).await.unwrap().text().await.unwrap();
    assert_eq!(codes.lines().count(), 10, "{codes}");
    std::fs::write(screenshot_dir().join("login-recovery-codes.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#continue")).await.unwrap().click().await.unwrap();
    let landed = url_once_at(&c, &redirect).await;
    assert!(landed.contains("code=") && landed.contains("state=st4te"), "{landed}");
    c.delete_all_cookies().await.unwrap();

    // The next sign-in asks for a code from the app.
    let c = sign_in(c, url).await;
    c.wait().for_element(Locator::Css("#verify-code")).await.unwrap();
    std::fs::write(screenshot_dir().join("login-second-factor-code.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#code")).await.unwrap().send_keys(&totp_code(&secret, 1)).await.unwrap();
    c.find(Locator::Css("#verify-code")).await.unwrap().click().await.unwrap();
    let landed = url_once_at(&c, &redirect).await;
    assert!(landed.contains("code="), "{landed}");
    c.close().await.unwrap();
}

/// Issue #18 item 2: an administrator enrols TOTP from the account page and
/// then signs in to the console with password and code in Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_enrols_totp_and_signs_in_to_the_console_with_a_code() {
    let server = TestServer::start(Backend::Sqlite);
    let password = "a long console passphrase";
    let out = server.cli_output(&["admin", "create", "--username", "root", "--password-stdin"], Some(password));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_driver, c) = chromium().await;
    console_sign_in(&c, &server.base, password).await;
    c.wait().for_element(Locator::Css("form.signout")).await.unwrap();
    c.goto(&format!("{}{}", server.base, routes::console::ACCOUNT_SECOND_FACTOR)).await.unwrap();
    let secret = c.find(Locator::Css("#secret-text")).await.unwrap().prop("value").await.unwrap().unwrap();
    let uri = c.find(Locator::Css("#otpauth-uri")).await.unwrap().prop("value").await.unwrap().unwrap();
    assert!(uri.starts_with("otpauth://totp/Tessera:root?") && uri.contains(&secret), "{uri}");
    std::fs::write(screenshot_dir().join("console-second-factor-enrol.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#code")).await.unwrap().send_keys(&totp_code(&secret, 0)).await.unwrap();
    c.find(Locator::Css("#confirm-second-factor")).await.unwrap().click().await.unwrap();
    let codes = c.wait().for_element(Locator::Css("#recovery-codes")).await.unwrap().text().await.unwrap();
    assert_eq!(codes.lines().count(), 10, "{codes}");
    std::fs::write(screenshot_dir().join("console-recovery-codes.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#continue")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("form.signout button")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#username")).await.unwrap();

    // Password first, then the code: a wrong one is refused, the next step's
    // code (within the one step of skew) lets the administrator in.
    console_sign_in(&c, &server.base, password).await;
    c.wait().for_element(Locator::Css("#verify-code")).await.unwrap();
    std::fs::write(screenshot_dir().join("console-second-factor-code.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#code")).await.unwrap().send_keys("000000").await.unwrap();
    c.find(Locator::Css("#verify-code")).await.unwrap().click().await.unwrap();
    let error = c.wait().for_element(Locator::Css("#second-factor-error")).await.unwrap().text().await.unwrap();
    assert!(error.starts_with("That code is not valid"), "{error}");
    c.find(Locator::Css("#code")).await.unwrap().send_keys(&totp_code(&secret, 1)).await.unwrap();
    c.find(Locator::Css("#verify-code")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("form.signout")).await.unwrap();
    c.goto(&format!("{}{}", server.base, routes::console::ACCOUNT)).await.unwrap();
    let state = c.find(Locator::Css("#second-factor-state")).await.unwrap().text().await.unwrap();
    assert!(state.starts_with("On:"), "{state}");
    std::fs::write(screenshot_dir().join("console-account.png"), c.screenshot().await.unwrap()).unwrap();
    c.goto(&format!("{}{}", server.base, routes::console::ADMINS)).await.unwrap();
    let row = c.find(Locator::Css("#admin-root")).await.unwrap().text().await.unwrap();
    assert!(row.contains("on"), "the second factor shows on the Administrators page: {row}");
    std::fs::write(screenshot_dir().join("console-admins.png"), c.screenshot().await.unwrap()).unwrap();
    c.set_window_size(390, 844).await.unwrap();
    let sideways = "const s = document.querySelector('.scroll'); return s.scrollWidth > s.clientWidth + 1;";
    let overflow = c.execute(sideways, vec![]).await.unwrap().as_bool().unwrap();
    assert!(!overflow, "the administrators table scrolls sideways at phone width");
    std::fs::write(screenshot_dir().join("console-admins-phone.png"), c.screenshot().await.unwrap()).unwrap();

    // An invitation: the owner picks a role and gets the link once; the
    // invitee picks a name and password on the link's page.
    c.set_window_size(1280, 900).await.unwrap();
    c.find(Locator::Css("#invite-role option[value=editor]")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("#invite")).await.unwrap().click().await.unwrap();
    let link = c.wait().for_element(Locator::Css("#secret")).await.unwrap().prop("value").await.unwrap().unwrap();
    assert!(link.starts_with(&format!("{}{}?token=", server.base, routes::console::INVITATION)), "{link}");
    std::fs::write(screenshot_dir().join("console-invitation-link.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("form.signout button")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#username")).await.unwrap();
    c.goto(&link).await.unwrap();
    c.set_window_size(390, 844).await.unwrap();
    std::fs::write(screenshot_dir().join("console-invitation-phone.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#username")).await.unwrap().send_keys("ed").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("#confirm")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("form.signout")).await.unwrap();
    c.goto(&format!("{}{}", server.base, routes::console::ACCOUNT)).await.unwrap();
    let role = c.find(Locator::Css("#my-role")).await.unwrap().text().await.unwrap();
    assert_eq!(role, "Editor");
    std::fs::write(screenshot_dir().join("console-account-phone.png"), c.screenshot().await.unwrap()).unwrap();
    c.close().await.unwrap();
}

/// Adds a WebDriver virtual authenticator (CTAP2, platform, resident keys,
/// user verification that always succeeds) to the browser session, through
/// chromedriver's WebAuthn extension commands (fantoccini has no method).
async fn add_virtual_authenticator(driver: &crate::support::chrome::Driver, c: &Client) {
    let session = c.session_id().await.unwrap().unwrap();
    let body = serde_json::json!({
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": true,
        "hasUserVerification": true,
        "isUserVerified": true,
    });
    let url = format!("{}/session/{session}/webauthn/authenticator", driver.url());
    let answer: Value = reqwest::Client::new().post(&url).json(&body).send().await.unwrap().json().await.unwrap();
    assert!(answer["value"].is_string(), "virtual authenticator: {answer}");
}

/// The sign-in page's passkey ceremony run by hand: the options from the
/// server, the virtual authenticator's answer, returned as the JSON the
/// page would post (without posting it).
const PASSKEY_ANSWER_JS: &str = r#"
const box = document.getElementById("passkey-sign-in");
const buf = (t) => Uint8Array.from(atob(t.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(t.length / 4) * 4, "=")), (c) => c.charCodeAt(0)).buffer;
const b64 = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
return (async () => {
  const r = await fetch(box.dataset.options, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf: box.dataset.csrf }) });
  const o = (await r.json()).publicKey;
  o.challenge = buf(o.challenge);
  for (const c of o.allowCredentials) c.id = buf(c.id);
  const cred = await navigator.credentials.get({ publicKey: o });
  const x = cred.response;
  return JSON.stringify({ id: cred.id, rawId: b64(cred.rawId), type: cred.type, response: { authenticatorData: b64(x.authenticatorData), clientDataJSON: b64(x.clientDataJSON), signature: b64(x.signature), userHandle: x.userHandle ? b64(x.userHandle) : null } });
})();
"#;

/// Posts a passkey answer as the sign-in page would; returns the status.
const PASSKEY_POST_JS: &str = r#"
const [answer] = arguments;
const box = document.getElementById("passkey-sign-in");
return (async () => {
  const r = await fetch(box.dataset.action, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf: box.dataset.csrf, credential: answer }) });
  return r.status;
})();
"#;

/// Issue #18 item 2: an administrator enrols a passkey from the account
/// page (WebDriver's virtual authenticator in Chromium) and signs in with
/// password and passkey. Removed from another browser while a sign-in
/// ceremony is in flight, the passkey's valid answer is refused, and the
/// sign-in page no longer offers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_enrols_a_passkey_and_signs_in_to_the_console_with_it() {
    let opts = crate::support::Options { localhost: true, ..Default::default() };
    let server = TestServer::start_with(Backend::Sqlite, opts);
    let password = "a long console passphrase";
    let out = server.cli_output(&["admin", "create", "--username", "root", "--password-stdin"], Some(password));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (driver, c) = chromium().await;
    add_virtual_authenticator(&driver, &c).await;
    console_sign_in(&c, &server.base, password).await;
    c.wait().for_element(Locator::Css("form.signout")).await.unwrap();

    // Enrol: a name is required, then the authenticator creates the passkey.
    c.goto(&format!("{}{}", server.base, routes::console::ACCOUNT)).await.unwrap();
    c.find(Locator::Css("#add-passkey")).await.unwrap().click().await.unwrap();
    let error = c.find(Locator::Css("#passkey-error")).await.unwrap().text().await.unwrap();
    assert!(error.contains("name"), "{error}");
    c.find(Locator::Css("#passkey-name")).await.unwrap().send_keys("Virtual key").await.unwrap();
    c.find(Locator::Css("#add-passkey")).await.unwrap().click().await.unwrap();
    let list = text_once_containing(&c, "#passkey-list", "Virtual key").await;
    assert!(list.contains("Virtual key") && list.contains("never"), "{list}");
    let state = c.find(Locator::Css("#second-factor-state")).await.unwrap().text().await.unwrap();
    assert!(state.starts_with("Passkeys only"), "{state}");
    std::fs::write(screenshot_dir().join("console-passkeys.png"), c.screenshot().await.unwrap()).unwrap();
    c.goto(&format!("{}{}", server.base, routes::console::ADMINS)).await.unwrap();
    let row = c.find(Locator::Css("#admin-root")).await.unwrap().text().await.unwrap();
    assert!(row.contains("on"), "a passkey is a second factor on the Administrators page: {row}");
    c.find(Locator::Css("form.signout button")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#username")).await.unwrap();

    // Password, then the passkey (no code form: no authenticator app).
    console_sign_in(&c, &server.base, password).await;
    c.wait().for_element(Locator::Css("#use-passkey")).await.unwrap();
    assert!(c.find(Locator::Css("#verify-code")).await.is_err(), "no TOTP, no code form");
    std::fs::write(screenshot_dir().join("console-passkey-sign-in.png"), c.screenshot().await.unwrap()).unwrap();
    c.find(Locator::Css("#use-passkey")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("form.signout")).await.unwrap();
    c.goto(&format!("{}{}", server.base, routes::console::ACCOUNT)).await.unwrap();
    let list = c.find(Locator::Css("#passkey-list")).await.unwrap().text().await.unwrap();
    assert!(!list.contains("never"), "the sign-in is recorded as the passkey's last use: {list}");

    // TOTP too, so another browser can sign in while this one holds a
    // passkey answer for a ceremony begun before the passkey is removed.
    c.goto(&format!("{}{}", server.base, routes::console::ACCOUNT_SECOND_FACTOR)).await.unwrap();
    let secret = c.find(Locator::Css("#secret-text")).await.unwrap().prop("value").await.unwrap().unwrap();
    c.find(Locator::Css("#code")).await.unwrap().send_keys(&totp_code(&secret, 0)).await.unwrap();
    c.find(Locator::Css("#confirm-second-factor")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#continue")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("form.signout button")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#username")).await.unwrap();
    console_sign_in(&c, &server.base, password).await;
    c.wait().for_element(Locator::Css("#use-passkey")).await.unwrap();
    c.find(Locator::Css("#verify-code")).await.unwrap();
    let answer = c.execute(PASSKEY_ANSWER_JS, vec![]).await.unwrap();
    let answer = answer.as_str().unwrap().to_owned();

    let (_other_driver, other) = chromium().await;
    console_sign_in(&other, &server.base, password).await;
    other.wait().for_element(Locator::Css("#code")).await.unwrap().send_keys(&totp_code(&secret, 1)).await.unwrap();
    other.find(Locator::Css("#verify-code")).await.unwrap().click().await.unwrap();
    other.wait().for_element(Locator::Css("form.signout")).await.unwrap();
    other.goto(&format!("{}{}", server.base, routes::console::ACCOUNT)).await.unwrap();
    other.find(Locator::Css(".remove-passkey")).await.unwrap().click().await.unwrap();
    other.accept_alert().await.unwrap();
    other.wait().for_element(Locator::Css("#passkey-enrol")).await.unwrap();
    assert!(other.find(Locator::Css("#passkey-list")).await.is_err(), "the passkey is gone from the list");
    other.close().await.unwrap();

    let status = c.execute(PASSKEY_POST_JS, vec![Value::String(answer)]).await.unwrap();
    assert_eq!(status.as_u64(), Some(401), "a removed passkey's answer opens nothing");
    c.goto(&format!("{}{}", server.base, routes::console::HOME)).await.unwrap();
    c.wait().for_element(Locator::Css("#verify-code")).await.unwrap();
    assert!(c.find(Locator::Css("#use-passkey")).await.is_err(), "no passkey offered any more");
    c.close().await.unwrap();
    let audit = server.cli_output(&["audit", "export"], None);
    let audit = String::from_utf8_lossy(&audit.stdout);
    for action in ["admin.passkey.enrol", "admin.second_factor.passkey", "admin.passkey.remove"] {
        assert!(audit.contains(action), "{action} is audited:\n{audit}");
    }
    assert!(audit.contains(r#"\"method\":\"passkey\""#) || audit.contains(r#""method":"passkey""#), "{audit}");
}
