//! Administrators end to end on both backends (issue #18 item 2): roles
//! given by the CLI and enforced by the real server, an invitation link,
//! and a sign-in with a TOTP code. The in-process suite
//! (`server/tessera/src/web/tests/admins.rs`) covers each rule in detail.

use crate::console::Console;
use crate::on_both_backends;
use crate::support::TestServer;
use tessera::web::routes::console as paths;

const PASSWORD: &str = "a long console passphrase";

/// The first `name="NAME" value="…"` on a page.
fn field(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key).unwrap_or_else(|| panic!("a {name} field"));
    html[at + key.len()..].chars().take_while(|c| *c != '"').collect()
}

/// The current TOTP code for a base32 secret, `ahead` steps ahead.
pub(crate) fn totp_code(secret: &str, ahead: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret.as_ref()).build().unwrap();
    let now = tessera::clock::now() as u64;
    totp.generate(now + 30 * ahead).to_string()
}

/// A form post with the CSRF token of the page at `from`.
async fn post_from(c: &Console, from: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let csrf = field(&c.get(from).await.text().await.unwrap(), "csrf");
    let mut all = form.to_vec();
    all.push(("csrf", &csrf));
    c.post(path, &all).await
}

on_both_backends!(
    /// Roles from the CLI hold on the server; an invitation signs its invitee
    /// in with the invited role; TOTP is asked after the password.
    roles_invitations_and_totp_hold_on_the_real_server, |backend| async move {
    let server = TestServer::start(backend);
    let create = |name: &str, role: Option<&str>| {
        let mut args = vec!["admin", "create", "--username", name, "--password-stdin"];
        if let Some(r) = role {
            args.extend(["--role", r]);
        }
        server.cli_output(&args, Some(PASSWORD))
    };
    assert!(create("root", None).status.success(), "the first administrator needs no role");
    let refused = create("nameless", None);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--role"), "later ones must name it");
    assert!(create("watcher", Some("viewer")).status.success());
    let listed = server.cli_json(&["admin", "list"]);
    let roles: Vec<(String, String)> = listed["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["username"].as_str().unwrap().to_owned(), a["role"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(roles, [("root".into(), "owner".into()), ("watcher".into(), "viewer".into())]);

    // A viewer reads but cannot rotate keys: the 403 page.
    let viewer = Console::new(&server);
    assert_eq!(viewer.login("watcher", PASSWORD).await.status(), 303);
    assert_eq!(viewer.get(paths::KEYS).await.status(), 200);
    let r = post_from(&viewer, paths::ACCOUNT, paths::KEYS_ROTATE, &[]).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Your role does not allow this"));

    // The owner invites an editor; the link works once.
    let owner = Console::new(&server);
    assert_eq!(owner.login("root", PASSWORD).await.status(), 303);
    let html = post_from(&owner, paths::ADMINS, paths::ADMIN_INVITE, &[("role", "editor")]).await.text().await.unwrap();
    let at = html.find("?token=").unwrap();
    let token: String = html[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let invitee = Console::new(&server);
    let form = [("token", token.as_str()), ("username", "ed"), ("password", PASSWORD), ("confirm", PASSWORD)];
    assert_eq!(invitee.post(paths::INVITATION, &form).await.status(), 303);
    assert_eq!(invitee.get(paths::USERS).await.status(), 200, "signed in as an editor");
    assert_eq!(invitee.get(paths::ADMINS).await.status(), 200);
    assert_eq!(Console::new(&server).post(paths::INVITATION, &form).await.status(), 410, "single use");

    // TOTP: enrol, then the password alone opens nothing until the code.
    let secret = field(&owner.get(paths::ACCOUNT_SECOND_FACTOR).await.text().await.unwrap(), "secret");
    let code = totp_code(&secret, 0);
    let r = post_from(&owner, paths::ACCOUNT, paths::ACCOUNT_SECOND_FACTOR, &[("secret", &secret), ("code", &code)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().matches("<li><code>").count(), 10, "ten recovery codes");
    let again = Console::new(&server);
    assert_eq!(again.login("root", PASSWORD).await.status(), 303);
    assert_eq!(again.get(paths::HOME).await.status(), 303, "waiting for the code");
    let r = post_from(&again, paths::LOGIN, paths::LOGIN_CODE, &[("code", &code)]).await;
    assert_eq!(r.status(), 401, "the enrolment's code is spent");
    let r = post_from(&again, paths::LOGIN, paths::LOGIN_CODE, &[("code", &totp_code(&secret, 1))]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(again.get(paths::HOME).await.status(), 200);
});
