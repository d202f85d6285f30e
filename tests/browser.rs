//! A real headless Chromium (Debian's chromium and chromium-driver, driven
//! through WebDriver by fantoccini) signs in through the hosted login page.
//! Screenshots go to `<target>/tmp/screenshots/`.

use crate::support::chrome::{chromium, screenshot_dir};
use crate::support::{Backend, TestServer};
use fantoccini::Locator;
use serde_json::Value;
use std::time::Duration;
use tessera::web::routes;

/// A loopback "client" that answers 200 to every request, so the browser
/// has somewhere to land after the redirect.
fn landing_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nlanded ok");
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_through_the_hosted_login_page() {
    let server = TestServer::start(Backend::Sqlite);
    server.create_user("carol", "carol's long password", &[]);
    let landing = landing_server();
    let redirect = format!("http://127.0.0.1:{landing}/callback");
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
    let mut landed = String::new();
    for _ in 0..100 {
        landed = c.current_url().await.unwrap().to_string();
        if landed.starts_with(&redirect) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(landed.starts_with(&redirect), "browser ended at {landed}");
    let landed = url::Url::parse(&landed).unwrap();
    let param = |n: &str| landed.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some("st4te"));
    let code = param("code").expect("code");
    c.close().await.unwrap();

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
}

/// The current TOTP code for a base32 secret, `ahead` steps ahead,
/// computed as an authenticator app would (RFC 6238 defaults, the server's
/// crate).
fn totp_code(secret: &str, ahead: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret.as_ref()).build().unwrap();
    let now = tessera::clock::now() as u64;
    totp.generate(now + 30 * ahead).to_string()
}

/// Types `root`'s password into the console's sign-in form.
async fn console_sign_in(c: &fantoccini::Client, base: &str, password: &str) {
    c.goto(&format!("{base}{}", routes::console::LOGIN)).await.unwrap();
    c.find(Locator::Css("#username")).await.unwrap().send_keys("root").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
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
