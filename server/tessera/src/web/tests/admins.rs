//! Administrators, roles, invitations and sessions in process (issue #18
//! item 2): the console's routes over a temporary SQLite database on a set
//! clock. Sessions are opened through `ConsoleAuth::sign_in` (the sign-in
//! form itself is tested in `console.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::harness::Harness;
use crate::clock::Clock as _;
use crate::service::console::{Client, create_admin};
use crate::service::roles::Role;
use crate::web::routes::console as paths;
use actix_web::cookie::Cookie;
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{App, test};

const PASSWORD: &str = "a long console passphrase";

/// A Tessera with one administrator of each role, named after it.
fn with_every_role() -> Harness {
    let h = Harness::new(|_| {});
    for role in Role::ALL {
        create_admin(h.store(), "test", h.clock.now(), role.as_str(), PASSWORD, role).unwrap();
    }
    h
}

/// A new session of `username`: the cookie's value.
fn session(h: &Harness, username: &str) -> String {
    let client = Client { address: Some("192.0.2.7".into()), user_agent: Some("test-agent/1".into()) };
    h.state.console.sign_in(username, PASSWORD, &client).unwrap().1
}

fn cookie(h: &Harness, value: &str) -> Cookie<'static> {
    Cookie::new(crate::web::console::cookie_name(&h.state), value.to_owned())
}

fn location(resp: &ServiceResponse) -> String {
    resp.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn body(resp: ServiceResponse) -> String {
    String::from_utf8(test::read_body(resp).await.to_vec()).unwrap()
}

/// The CSRF token of a session (every console page's forms carry it).
fn csrf(h: &Harness, value: &str) -> String {
    h.state.console.session(value).unwrap().unwrap().csrf
}

/// The form fields of a POST as the session `s`: its CSRF token, then `form`.
fn with_csrf(h: &Harness, s: &str, form: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields = vec![("csrf".to_owned(), csrf(h, s))];
    fields.extend(form.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    fields
}

/// GET `path` as the session `s` (a macro: the service's request type is
/// not nameable from here).
macro_rules! get {
    ($app:expr, $h:expr, $s:expr, $path:expr) => {
        test::call_service(&$app, test::TestRequest::get().uri($path).cookie(cookie(&$h, $s)).to_request()).await
    };
}

/// POST a form, with the session's CSRF token, to `path` as the session `s`.
macro_rules! post {
    ($app:expr, $h:expr, $s:expr, $path:expr, $form:expr) => {{
        let fields = with_csrf(&$h, $s, $form);
        let req = test::TestRequest::post().uri($path).cookie(cookie(&$h, $s)).set_form(fields).to_request();
        test::call_service(&$app, req).await
    }};
}

macro_rules! console_app {
    ($h:expr) => {
        test::init_service(App::new().app_data($h.state.clone()).configure(crate::web::console::routes)).await
    };
}

/// Issue #18 item 2: each role against a sample of reading and changing
/// routes of every kind; a refusal is the 403 page, never the action.
#[actix_web::test]
async fn every_role_reaches_exactly_the_routes_its_scopes_allow() {
    let h = with_every_role();
    let app = console_app!(h);
    let gets = [
        paths::HOME,
        paths::ACCOUNT,
        paths::CLIENTS,
        paths::NEW_CLIENT,
        paths::USERS,
        paths::PLUGINS,
        paths::BINDINGS,
        paths::NEW_BINDING,
        paths::KEYS,
        paths::AUDIT,
        paths::RUNS,
        paths::ADMINS,
    ];
    //                    owner  editor author viewer
    let allowed: [[bool; 4]; 12] = [
        [true, true, true, true],   // dashboard
        [true, true, true, true],   // own account
        [true, true, false, true],  // clients
        [true, true, false, false], // new client form
        [true, true, false, true],  // users
        [true, true, true, true],   // plugins
        [true, true, false, true],  // bindings
        [true, true, false, false], // new binding form
        [true, true, false, true],  // keys
        [true, true, false, true],  // audit
        [true, true, true, true],   // runs
        [true, true, false, true],  // administrators
    ];
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let s = session(&h, role.as_str());
        for (path, row) in gets.iter().zip(allowed) {
            let resp = get!(app, h, &s, path);
            let status = resp.status().as_u16();
            if row[i] {
                assert_eq!(status, 200, "{} GET {path}", role.as_str());
            } else {
                assert_eq!(status, 403, "{} GET {path}", role.as_str());
                assert!(body(resp).await.contains("Your role does not allow this"), "the 403 page says why");
            }
        }
        // The menu links exactly the lists this role opens.
        let home = body(get!(app, h, &s, paths::HOME)).await;
        let start = home.find("<nav aria-label=\"Console\">").unwrap();
        let nav = &home[start..start + home[start..].find("</nav>").unwrap()];
        for (path, row) in gets.iter().zip(allowed).filter(|(p, _)| !p.ends_with("/new") && **p != paths::ACCOUNT) {
            assert_eq!(
                nav.contains(&format!("href=\"{path}\"")),
                row[i],
                "{} menu link to {path}: {nav}",
                role.as_str()
            );
        }
    }
    // Changes: a viewer and a plugin author cannot create a user or rotate
    // keys; an editor creates users but cannot rotate keys; an owner can.
    let user_form = [("username", "someone"), ("password", "a fine user password")];
    for (role, creates_user, rotates) in
        [("viewer", false, false), ("plugin-author", false, false), ("editor", true, false), ("owner", true, true)]
    {
        let s = session(&h, role);
        let name = format!("user-by-{role}");
        let form = [&[("username", name.as_str())][..], &user_form[1..]].concat();
        let resp = post!(app, h, &s, paths::USERS, &form);
        assert_eq!(resp.status().as_u16() == 403, !creates_user, "{role} POST users: {}", resp.status());
        let found = crate::service::admin::list_users(h.store(), &name, 0, 10).unwrap();
        assert_eq!(found.iter().any(|u| u.username == name), creates_user, "{role}: the user exists only if allowed");
        let resp = post!(app, h, &s, paths::KEYS_ROTATE, &[]);
        assert_eq!(resp.status().as_u16() == 403, !rotates, "{role} POST keys/rotate: {}", resp.status());
    }
}

/// "Sign out everywhere" on a user's page: refused to a viewer; for an
/// editor it ends the user's sessions, keeps the account, and is audited.
#[actix_web::test]
async fn an_editor_signs_a_user_out_everywhere_and_a_viewer_cannot() {
    let h = with_every_role();
    let app = console_app!(h);
    h.user("dana", "dana's long password");
    let user = crate::service::admin::list_users(h.store(), "dana", 0, 1).unwrap().remove(0);
    let now = h.clock.now();
    let browser = tessera_store::grants::Session {
        id_hash: "dana-session".into(),
        user_id: user.id.clone(),
        auth_time: now,
        created_at: now,
        expires_at: now + 3600,
        amr: "pwd".into(),
    };
    tessera_store::grants::insert_session(&mut h.store().conn().unwrap(), &browser).unwrap();
    let action = paths::action(&paths::user(&user.id), "sign-out");
    let viewer = session(&h, "viewer");
    let refused = post!(app, h, &viewer, &action, &[]);
    assert_eq!(refused.status(), 403);
    assert!(body(refused).await.contains("Your role does not allow this"));
    let live = |h: &Harness| tessera_store::grants::session(&mut h.store().conn().unwrap(), "dana-session", now);
    assert!(live(&h).unwrap().is_some(), "the viewer changed nothing");
    let editor = session(&h, "editor");
    let resp = post!(app, h, &editor, &action, &[]);
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), paths::done(&paths::user(&user.id), "signed-out"));
    assert!(live(&h).unwrap().is_none(), "the session ended");
    let u = crate::service::admin::find_user(h.store(), &user.id).unwrap().unwrap();
    assert!(!u.disabled, "the account stays");
    let events =
        crate::service::admin::audit_events(h.store(), None, Some("user.sign_out".into()), None, 0, 10).unwrap();
    assert_eq!(
        events.iter().map(|e| (e.actor.as_str(), e.target.as_str())).collect::<Vec<_>>(),
        [("admin:editor", user.id.as_str())]
    );
}

/// A user's second factor on their console page: a viewer sees it and
/// cannot change it; an editor requires one, stops requiring it, and
/// resets an enrolled one, which ends the user's sessions; each audited.
#[actix_web::test]
async fn an_editor_requires_and_resets_a_users_second_factor_and_a_viewer_cannot() {
    use tessera_store::user_factors;
    let h = with_every_role();
    let app = console_app!(h);
    h.user("erin", "erin's long password");
    let user = crate::service::admin::list_users(h.store(), "erin", 0, 1).unwrap().remove(0);
    let page = paths::user(&user.id);
    let action = paths::action(&page, "second-factor");
    let viewer = session(&h, "viewer");
    let shown = body(get!(app, h, &viewer, &page)).await;
    assert!(shown.contains("id=\"factor-status\">none"), "{shown}");
    assert_eq!(post!(app, h, &viewer, &action, &[("required", "true")]).status(), 403);
    let factor = |h: &Harness| user_factors::find(&mut h.store().conn().unwrap(), &user.id).unwrap();
    assert_eq!(factor(&h), None, "the viewer changed nothing");

    let editor = session(&h, "editor");
    let resp = post!(app, h, &editor, &action, &[("required", "true")]);
    assert_eq!(location(&resp), paths::done(&page, "factor-required"));
    assert!(factor(&h).unwrap().required);
    assert!(body(get!(app, h, &editor, &page)).await.contains("id=\"factor-status\">required"));
    let resp = post!(app, h, &editor, &action, &[("required", "false")]);
    assert_eq!(location(&resp), paths::done(&page, "factor-optional"));
    assert!(!factor(&h).unwrap().required);

    // Enrolled, with a browser session: the reset takes both away.
    let now = h.clock.now();
    user_factors::enrol(&mut h.store().conn().unwrap(), &user.id, b"sealed", 1, now, &["h".into()]).unwrap();
    let browser = tessera_store::grants::Session {
        id_hash: "erin-session".into(),
        user_id: user.id.clone(),
        auth_time: now,
        created_at: now,
        expires_at: now + 3600,
        amr: "pwd otp mfa".into(),
    };
    tessera_store::grants::insert_session(&mut h.store().conn().unwrap(), &browser).unwrap();
    assert!(body(get!(app, h, &editor, &page)).await.contains("id=\"reset-factor\""));
    let resp = post!(app, h, &editor, &action, &[("reset", "true")]);
    assert_eq!(location(&resp), paths::done(&page, "factor-reset"));
    let after = factor(&h).unwrap();
    assert!(!after.enrolled() && after.required, "removed; enrols again at the next sign-in");
    let live = tessera_store::grants::session(&mut h.store().conn().unwrap(), "erin-session", now).unwrap();
    assert!(live.is_none(), "the reset ended the session");
    let audited = |action: &str| {
        crate::service::admin::audit_events(h.store(), None, Some(action.into()), None, 0, 10).unwrap().len()
    };
    assert_eq!((audited("user.second_factor.require"), audited("user.second_factor.reset")), (2, 1));
}

/// Issue #18 item 2: the last owner cannot be demoted, disabled or removed
/// from the console; another owner can be, and the role change is audited.
#[actix_web::test]
async fn the_last_owner_stays_an_owner() {
    let h = with_every_role();
    let app = console_app!(h);
    let s = session(&h, "owner");
    let me = h.state.console.session(&s).unwrap().unwrap().admin.id;
    let role = paths::action(&paths::admin(&me), "role");
    let resp = post!(app, h, &s, &role, &[("role", "viewer")]);
    assert_eq!(resp.status(), 422);
    assert!(body(resp).await.contains("the last owner cannot be demoted"));
    let status = paths::action(&paths::admin(&me), "status");
    assert_eq!(post!(app, h, &s, &status, &[("disabled", "true")]).status(), 422);
    assert_eq!(post!(app, h, &s, &paths::action(&paths::admin(&me), "delete"), &[]).status(), 422);
    // A second owner: now the first may step down.
    let editor = crate::service::console::list_admins(h.store()).unwrap().into_iter().find(|a| a.username == "editor");
    let editor = editor.unwrap().id;
    let promote = post!(app, h, &s, &paths::action(&paths::admin(&editor), "role"), &[("role", "owner")]);
    assert_eq!((promote.status().as_u16(), location(&promote)), (303, paths::done(paths::ADMINS, "saved")));
    assert_eq!(post!(app, h, &s, &role, &[("role", "viewer")]).status(), 303);
    assert_eq!(get!(app, h, &s, paths::ADMINS).status(), 200, "a viewer reads the list");
    assert_eq!(post!(app, h, &s, &role, &[("role", "owner")]).status(), 403, "but changes nothing");
    let audit = crate::service::admin::audit_events(h.store(), None, None, None, 0, 50).unwrap();
    assert!(audit.iter().any(|e| e.action == "admin.role" && e.target == me), "role changes are audited");
}

/// Issue #18 item 2: disabling or removing an administrator ends their
/// sessions at once, and a disabled administrator cannot sign in.
#[actix_web::test]
async fn disabling_or_removing_an_administrator_ends_their_sessions() {
    let h = with_every_role();
    let app = console_app!(h);
    let owner = session(&h, "owner");
    let viewer = session(&h, "viewer");
    let author = session(&h, "plugin-author");
    assert_eq!(get!(app, h, &viewer, paths::HOME).status(), 200);
    let ids = crate::service::console::list_admins(h.store()).unwrap();
    let id = |name: &str| ids.iter().find(|a| a.username == name).unwrap().id.clone();
    let disable = paths::action(&paths::admin(&id("viewer")), "status");
    assert_eq!(post!(app, h, &owner, &disable, &[("disabled", "true")]).status(), 303);
    let resp = get!(app, h, &viewer, paths::HOME);
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, paths::LOGIN.to_owned()), "the session ended");
    let refused = h.state.console.sign_in("viewer", PASSWORD, &Client::default());
    assert!(matches!(refused, Err(crate::service::console::SignInError::BadCredentials)));
    let remove = paths::action(&paths::admin(&id("plugin-author")), "delete");
    assert_eq!(post!(app, h, &owner, &remove, &[]).status(), 303);
    assert_eq!(get!(app, h, &author, paths::HOME).status(), 303, "a removed administrator is signed out");
    // Signing out everywhere ends every session but keeps the account.
    let editor = session(&h, "editor");
    let everywhere = paths::action(&paths::admin(&id("editor")), "sessions");
    assert_eq!(post!(app, h, &owner, &everywhere, &[]).status(), 303);
    assert_eq!(get!(app, h, &editor, paths::HOME).status(), 303);
    assert!(h.state.console.sign_in("editor", PASSWORD, &Client::default()).is_ok());
}

/// The token of the invitation link on the page that shows it once.
fn token_in(html: &str) -> String {
    let at = html.find("?token=").expect("an invitation link");
    html[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// Issue #18 item 2: an invitation link works once, gives the invited role,
/// and expires.
#[actix_web::test]
async fn invitations_are_single_use_give_their_role_and_expire() {
    let h = with_every_role();
    let app = console_app!(h);
    let owner = session(&h, "owner");
    let editor = session(&h, "editor");
    assert_eq!(post!(app, h, &editor, paths::ADMIN_INVITE, &[("role", "owner")]).status(), 403);
    let resp = post!(app, h, &owner, paths::ADMIN_INVITE, &[("role", "plugin-author")]);
    assert_eq!(resp.status(), 200);
    let token = token_in(&body(resp).await);
    let stored = crate::service::console::open_invitations(h.store(), h.clock.now()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].token_hash, token, "stored hashed");
    let link = format!("{}?token={token}", paths::INVITATION);
    let page = test::call_service(&app, test::TestRequest::get().uri(&link).to_request()).await;
    assert_eq!(page.status(), 200);
    assert!(body(page).await.contains("Plugin author"));
    let accept = |username: &'static str| {
        test::TestRequest::post().uri(paths::INVITATION).set_form([
            ("token", token.as_str()),
            ("username", username),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
    };
    let resp = test::call_service(&app, accept("invited").to_request()).await;
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, paths::HOME.to_owned()));
    let invited = resp.response().cookies().next().unwrap().value().to_owned();
    assert_eq!(get!(app, h, &invited, paths::PLUGINS).status(), 200, "signed in as a plugin author");
    assert_eq!(get!(app, h, &invited, paths::CLIENTS).status(), 403);
    let again = test::call_service(&app, accept("second").to_request()).await;
    assert_eq!(again.status(), 410, "single use");
    assert!(crate::service::console::list_admins(h.store()).unwrap().iter().all(|a| a.username != "second"));
    let audit = crate::service::admin::audit_events(h.store(), None, None, None, 0, 50).unwrap();
    assert!(
        audit.iter().any(|e| e.action == "admin.invite") && audit.iter().any(|e| e.action == "admin.invitation.accept")
    );

    let resp = post!(app, h, &owner, paths::ADMIN_INVITE, &[("role", "viewer")]);
    let token = token_in(&body(resp).await);
    h.clock.advance(crate::config::ConsoleConfig::default().invitation_secs);
    let link = format!("{}?token={token}", paths::INVITATION);
    let page = test::call_service(&app, test::TestRequest::get().uri(&link).to_request()).await;
    assert_eq!(page.status(), 404, "expired");
}

/// Issue #18 item 2: the account page lists your sessions with where they
/// came from, and "sign out other sessions" ends all but this one.
#[actix_web::test]
async fn signing_out_other_sessions_keeps_only_this_one() {
    let h = with_every_role();
    let app = console_app!(h);
    let first = session(&h, "viewer");
    let second = session(&h, "viewer");
    let page = body(get!(app, h, &second, paths::ACCOUNT)).await;
    assert_eq!(page.matches("test-agent/1").count(), 2, "both sessions listed: {page}");
    assert!(page.contains("192.0.2.7") && page.contains("this session"));
    let resp = post!(app, h, &second, paths::ACCOUNT_SESSIONS, &[]);
    assert_eq!(resp.status(), 303);
    assert_eq!(get!(app, h, &first, paths::HOME).status(), 303, "the other session ended");
    let page = body(get!(app, h, &second, paths::ACCOUNT)).await;
    assert_eq!(page.matches("test-agent/1").count(), 1, "this one stays");
}

/// The value of the form field `name` on a page.
fn field(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key).unwrap_or_else(|| panic!("a {name} field in {html}"));
    html[at + key.len()..].chars().take_while(|c| *c != '"').collect()
}

/// The TOTP code for a base32 secret at `now`, computed as an authenticator
/// app would (RFC 6238 defaults).
fn code_at(secret: &str, now: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret.as_ref()).build().unwrap();
    totp.generate(now as u64).to_string()
}

/// The recovery codes on the page that shows them once.
fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li><code>").skip(1).map(|s| s.split('<').next().unwrap().to_owned()).collect()
}

/// Enrols `username`'s second factor from the account page; returns the
/// base32 secret and the recovery codes.
macro_rules! enrol {
    ($app:expr, $h:expr, $s:expr) => {{
        let page = body(get!($app, $h, $s, paths::ACCOUNT_SECOND_FACTOR)).await;
        let secret = field(&page, "secret");
        let code = code_at(&secret, $h.clock.now());
        let wrong = post!($app, $h, $s, paths::ACCOUNT_SECOND_FACTOR, &[("secret", &secret), ("code", "000000")]);
        assert_eq!(wrong.status(), 422, "a wrong first code enrols nothing");
        let resp = post!($app, $h, $s, paths::ACCOUNT_SECOND_FACTOR, &[("secret", &secret), ("code", &code)]);
        assert_eq!(resp.status(), 200);
        let codes = recovery_codes(&body(resp).await);
        (secret, codes)
    }};
}

/// POST a code at the second stage of sign-in for the waiting session `s`.
macro_rules! code {
    ($app:expr, $h:expr, $s:expr, $code:expr) => {{
        let fields = with_csrf(&$h, $s, &[("code", $code)]);
        let req =
            test::TestRequest::post().uri(paths::LOGIN_CODE).cookie(cookie(&$h, $s)).set_form(fields).to_request();
        test::call_service(&$app, req).await.status().as_u16()
    }};
}

/// Issue #18 item 2: TOTP enrolled from the account page (secret sealed at
/// rest), asked after the password, each code once; recovery codes once;
/// wrong codes throttled.
#[actix_web::test]
async fn totp_is_asked_after_the_password_and_each_code_works_once() {
    let h = with_every_role();
    let app = console_app!(h);
    let first = session(&h, "editor");
    let (secret, codes) = enrol!(app, h, &first);
    assert_eq!(codes.len(), crate::service::second_factor::RECOVERY_CODES);
    let row = tessera_store::admins::find_by_username(&mut h.store().conn().unwrap(), "editor").unwrap().unwrap();
    let sealed = row.totp_secret_enc.unwrap();
    let raw = totp_rs::Secret::try_from_base32(&secret).unwrap();
    assert!(!sealed.windows(raw.as_ref().len()).any(|w| w == raw.as_ref()), "sealed, not stored in clear");
    assert!(body(get!(app, h, &first, paths::ACCOUNT)).await.contains("10 recovery codes left"));

    // The password alone now opens nothing: the sign-in page asks for a code.
    let s = session(&h, "editor");
    let resp = get!(app, h, &s, paths::HOME);
    assert_eq!((resp.status().as_u16(), location(&resp)), (303, paths::LOGIN.to_owned()));
    let page = body(get!(app, h, &s, paths::LOGIN)).await;
    assert!(page.contains(paths::LOGIN_CODE), "the code form: {page}");
    assert_eq!(code!(app, h, &s, "123456"), 401, "a wrong code");
    let enrolment_code = code_at(&secret, h.clock.now());
    assert_eq!(code!(app, h, &s, &enrolment_code), 401, "the enrolment's code is spent");
    h.clock.advance(30);
    let now_code = code_at(&secret, h.clock.now());
    assert_eq!(code!(app, h, &s, &now_code), 303, "the current code");
    assert_eq!(get!(app, h, &s, paths::HOME).status(), 200, "the session is complete");
    let other = session(&h, "editor");
    assert_eq!(code!(app, h, &other, &now_code), 401, "a code works once, even in its window");

    // A recovery code works once, typed with or without its dash.
    assert_eq!(code!(app, h, &other, &codes[0].replace('-', "")), 303);
    let third = session(&h, "editor");
    assert_eq!(code!(app, h, &third, &codes[0]), 401, "used up");
    let audit = crate::service::admin::audit_events(h.store(), None, None, None, 0, 50).unwrap();
    assert!(audit.iter().any(|e| e.action == "admin.second_factor.recovery"));
    assert!(audit.iter().any(|e| e.action == "admin.second_factor.failed"));

    // Wrong codes are throttled per administrator.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(code!(app, h, &third, "000000"));
    }
    assert!(statuses.contains(&429), "throttled: {statuses:?}");
    h.clock.advance(30);
    assert_eq!(code!(app, h, &third, &code_at(&secret, h.clock.now())), 429, "even a right code waits out the lock");
}

/// Issue #18 item 2: with the owner's switch on, an administrator without a
/// second factor is sent to enrolment after the password, and only an
/// owner may set the switch.
#[actix_web::test]
async fn a_required_second_factor_sends_administrators_to_enrolment() {
    let h = with_every_role();
    let app = console_app!(h);
    let owner = session(&h, "owner");
    let editor = session(&h, "editor");
    assert_eq!(post!(app, h, &editor, paths::ADMINS_SECOND_FACTOR, &[("required", "true")]).status(), 403);
    assert_eq!(post!(app, h, &owner, paths::ADMINS_SECOND_FACTOR, &[("required", "true")]).status(), 303);
    assert!(body(get!(app, h, &owner, paths::ADMINS)).await.contains("Every administrator must have a second factor"));

    let s = session(&h, "viewer");
    assert_eq!(get!(app, h, &s, paths::AUDIT).status(), 303, "nothing opens before enrolment");
    let page = body(get!(app, h, &s, paths::LOGIN)).await;
    assert!(page.contains("otpauth://totp/Tessera:viewer?"), "the enrolment form: {page}");
    let secret = field(&page, "secret");
    let fields = with_csrf(&h, &s, &[("secret", &secret), ("code", &code_at(&secret, h.clock.now()))]);
    let req = test::TestRequest::post().uri(paths::LOGIN_ENROL).cookie(cookie(&h, &s)).set_form(fields).to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(recovery_codes(&body(resp).await).len(), 10);
    assert_eq!(get!(app, h, &s, paths::AUDIT).status(), 200, "enrolled: the session is complete");
    // While required, nobody can turn theirs off.
    assert_eq!(post!(app, h, &s, paths::ACCOUNT_SECOND_FACTOR_REMOVE, &[]).status(), 422);
    // A waiting session can still sign out.
    let waiting = session(&h, "plugin-author");
    let fields = with_csrf(&h, &waiting, &[]);
    let req = test::TestRequest::post().uri(paths::LOGOUT).cookie(cookie(&h, &waiting)).set_form(fields).to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 303);
    assert!(h.state.console.session(&waiting).unwrap().is_none(), "ended server-side");
}

/// Issue #18 item 2: whoever makes or changes a management client gives it
/// at most the scopes they hold: an administrator their role's, a
/// management client (the API) its own; the server's own CLI is not limited.
#[actix_web::test]
async fn a_management_client_gets_at_most_the_scopes_of_whoever_makes_it() {
    use crate::service::admin::{AdminError, NewClient, create_client, update_client};
    use crate::service::oauth::management::{MANAGEMENT_AUDIENCE, ManagementScope};
    let h = with_every_role();
    let now = h.clock.now();
    let new = |scopes: &[&str]| NewClient {
        name: "automation".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        audiences: Some(vec![MANAGEMENT_AUDIENCE.into()]),
        metadata: serde_json::json!({}),
        ..NewClient::default()
    };
    fn refused<T>(r: Result<T, AdminError>) -> bool {
        matches!(r, Err(AdminError::Invalid { field: "scopes", .. }))
    }
    assert!(refused(create_client(h.store(), "admin:editor", now, new(&["write:clients", "write:admins"]))));
    let (made, _) = create_client(h.store(), "admin:editor", now, new(&["read:clients", "write:clients"])).unwrap();
    assert!(refused(update_client(h.store(), "admin:editor", now, &made.id, new(&["write:keys"]))));
    assert!(refused(create_client(h.store(), "admin:viewer", now, new(&["write:clients"]))));
    assert!(create_client(h.store(), "admin:owner", now, new(&["write:admins", "write:keys"])).is_ok());
    // Not a management client: an ordinary API's scopes are not limited.
    let ordinary = NewClient { audiences: Some(vec!["https://api.example".into()]), ..new(&["write:admins"]) };
    assert!(create_client(h.store(), "admin:plugin-author", now, ordinary).is_ok());
    // Over the API the actor is a management client: at most its own scopes.
    let scopes = [ManagementScope::ReadClients, ManagementScope::WriteClients];
    let (ci, _) =
        crate::service::management::create_management_client(h.store(), &h.master, "cli", "ci", &scopes, 3600).unwrap();
    let actor = format!("client:{}", ci.id);
    assert!(refused(create_client(h.store(), &actor, now, new(&["write:clients", "write:admins"]))));
    assert!(create_client(h.store(), &actor, now, new(&["read:clients"])).is_ok());
    assert!(create_client(h.store(), "cli", now, new(&["write:admins"])).is_ok(), "the server's own CLI");
}

/// A registration answer no authenticator made (the ceremony must refuse it).
const FORGED_REGISTRATION: &str = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"attestationObject":"AAAA","clientDataJSON":"AAAA"}}"#;
/// A sign-in answer no authenticator made.
const FORGED_ASSERTION: &str = r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"authenticatorData":"AAAA","clientDataJSON":"AAAA","signature":"AAAA","userHandle":null}}"#;

/// Issue #18 item 2: enrolling a passkey starts with options naming the
/// issuer's host as relying party, a new challenge each time, never cached;
/// an answer no authenticator made, or one without a name, enrols nothing;
/// the form's CSRF token is checked.
#[actix_web::test]
async fn passkey_enrolment_offers_the_issuer_as_relying_party_and_refuses_forged_answers() {
    let h = with_every_role();
    let app = console_app!(h);
    let s = session(&h, "viewer");
    let page = body(get!(app, h, &s, paths::ACCOUNT)).await;
    assert!(page.contains("passkey-enrol") && page.contains("/static/passkeys.js"), "{page}");
    let resp = post!(app, h, &s, paths::ACCOUNT_PASSKEY_OPTIONS, &[]);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    let options: serde_json::Value = test::read_body_json(resp).await;
    let key = &options["publicKey"];
    assert_eq!(key["rp"]["id"], "tessera.test", "{options}");
    assert_eq!(key["user"]["name"], "viewer");
    let again: serde_json::Value = test::read_body_json(post!(app, h, &s, paths::ACCOUNT_PASSKEY_OPTIONS, &[])).await;
    assert_ne!(again["publicKey"]["challenge"], key["challenge"], "a new challenge each time");

    let resp = post!(app, h, &s, paths::ACCOUNT_PASSKEYS, &[("name", "Laptop"), ("credential", FORGED_REGISTRATION)]);
    assert_eq!(resp.status(), 422);
    let refused: serde_json::Value = test::read_body_json(resp).await;
    assert!(refused["error"].as_str().unwrap().starts_with("The passkey was refused"), "{refused}");
    let resp = post!(app, h, &s, paths::ACCOUNT_PASSKEYS, &[("name", "Laptop"), ("credential", FORGED_REGISTRATION)]);
    let refused: serde_json::Value = test::read_body_json(resp).await;
    assert!(refused["error"].as_str().unwrap().contains("not created for this page"), "single use: {refused}");
    let resp = post!(app, h, &s, paths::ACCOUNT_PASSKEYS, &[("name", " "), ("credential", FORGED_REGISTRATION)]);
    let refused: serde_json::Value = test::read_body_json(resp).await;
    assert!(refused["error"].as_str().unwrap().starts_with("The name must be"), "{refused}");
    let forged_csrf = [("csrf", "not-the-token")];
    let req = test::TestRequest::post()
        .uri(paths::ACCOUNT_PASSKEY_OPTIONS)
        .cookie(cookie(&h, &s))
        .set_form(forged_csrf)
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 403);
    let admin = tessera_store::admins::find_by_username(&mut h.store().conn().unwrap(), "viewer").unwrap().unwrap();
    assert_eq!(tessera_store::passkeys::count(&mut h.store().conn().unwrap(), &admin.id).unwrap(), 0);
}

/// Issue #18 item 2: the sign-in page offers a passkey only to an
/// administrator who has one; answers no authenticator made are refused,
/// audited and throttled together with wrong codes; a complete session
/// cannot use the sign-in routes.
#[actix_web::test]
async fn passkey_sign_in_needs_a_passkey_and_forged_answers_count_with_wrong_codes() {
    let h = with_every_role();
    let app = console_app!(h);
    let first = session(&h, "editor");
    enrol!(app, h, &first);
    let s = session(&h, "editor");
    let page = body(get!(app, h, &s, paths::LOGIN)).await;
    assert!(page.contains(paths::LOGIN_CODE) && !page.contains("use-passkey"), "no passkey, no offer: {page}");
    assert_eq!(post!(app, h, &s, paths::LOGIN_PASSKEY_OPTIONS, &[]).status(), 404);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(post!(app, h, &s, paths::LOGIN_PASSKEY, &[("credential", FORGED_ASSERTION)]).status().as_u16());
    }
    assert_eq!(statuses[0], 401, "{statuses:?}");
    assert!(statuses.contains(&429), "throttled: {statuses:?}");
    assert_eq!(code!(app, h, &s, "123456"), 429, "one throttle for codes and passkeys");
    let audit = crate::service::admin::audit_events(h.store(), None, None, None, 0, 50).unwrap();
    assert!(audit.iter().any(|e| e.action == "admin.second_factor.failed" && e.detail.contains("passkey")));
    assert_eq!(get!(app, h, &s, paths::HOME).status(), 303, "still waiting");
    let resp = post!(app, h, &first, paths::LOGIN_PASSKEY, &[("credential", FORGED_ASSERTION)]);
    assert_eq!(resp.status(), 403, "only a session waiting for its second factor");
}

/// Issue #18 item 2: a passkey is a second factor. With one (stored
/// directly: only its existence matters here), the password alone opens
/// nothing and the sign-in page offers it instead of a code form; while a
/// factor is required, TOTP may go when a passkey stays, and the last
/// passkey may not go.
#[actix_web::test]
async fn a_passkey_counts_as_the_required_second_factor() {
    let h = with_every_role();
    let app = console_app!(h);
    let owner = session(&h, "owner");
    assert_eq!(post!(app, h, &owner, paths::ADMINS_SECOND_FACTOR, &[("required", "true")]).status(), 303);
    let first = session(&h, "viewer");
    let page = body(get!(app, h, &first, paths::LOGIN)).await;
    let secret = field(&page, "secret");
    let fields = with_csrf(&h, &first, &[("secret", &secret), ("code", &code_at(&secret, h.clock.now()))]);
    let req =
        test::TestRequest::post().uri(paths::LOGIN_ENROL).cookie(cookie(&h, &first)).set_form(fields).to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 200, "enrolled TOTP: complete");
    assert_eq!(post!(app, h, &first, paths::ACCOUNT_SECOND_FACTOR_REMOVE, &[]).status(), 422, "the only factor");

    let admin = tessera_store::admins::find_by_username(&mut h.store().conn().unwrap(), "viewer").unwrap().unwrap();
    let passkey = tessera_store::passkeys::Passkey {
        id: "pk-1".into(),
        admin_id: admin.id.clone(),
        credential_id: "cred".into(),
        name: "Laptop".into(),
        credential: "{}".into(),
        created_at: h.clock.now(),
        last_used_at: None,
    };
    tessera_store::passkeys::insert(&mut h.store().conn().unwrap(), &passkey).unwrap();
    assert!(body(get!(app, h, &owner, paths::ADMINS)).await.contains("badge ok"));
    assert_eq!(post!(app, h, &first, paths::ACCOUNT_SECOND_FACTOR_REMOVE, &[]).status(), 303, "the passkey stays");
    let page = body(get!(app, h, &first, paths::ACCOUNT)).await;
    assert!(page.contains("Passkeys only") && page.contains("Laptop"), "{page}");
    let resp = post!(app, h, &first, paths::ACCOUNT_PASSKEY_REMOVE, &[("id", "pk-1")]);
    assert_eq!(resp.status(), 422);
    assert!(body(resp).await.contains("this is your last one"), "the last factor while one is required");
    let resp = post!(app, h, &owner, paths::ACCOUNT_PASSKEY_REMOVE, &[("id", "pk-1")]);
    assert_eq!(resp.status(), 422);
    assert!(body(resp).await.contains("passkey pk-1 not found"), "only its administrator removes it");

    let s = session(&h, "viewer");
    assert_eq!(get!(app, h, &s, paths::HOME).status(), 303, "the password alone opens nothing");
    let page = body(get!(app, h, &s, paths::LOGIN)).await;
    assert!(page.contains("use-passkey") && !page.contains("verify-code"), "{page}");

    assert_eq!(post!(app, h, &owner, paths::ADMINS_SECOND_FACTOR, &[("required", "false")]).status(), 303);
    assert_eq!(post!(app, h, &first, paths::ACCOUNT_PASSKEY_REMOVE, &[("id", "pk-1")]).status(), 303);
    let audit = crate::service::admin::audit_events(h.store(), None, None, None, 0, 50).unwrap();
    assert!(audit.iter().any(|e| e.action == "admin.passkey.remove" && e.detail.contains("Laptop")));
    let s = session(&h, "viewer");
    assert_eq!(get!(app, h, &s, paths::HOME).status(), 200, "no factor left: the password is enough");
}

/// An administrator lost their device and their recovery codes: an owner
/// resets their second factor from the Administrators page. Their TOTP,
/// codes and passkeys go and their sessions end; with a second factor
/// required they enrol again at the next sign-in. Nobody resets their own
/// this way, and only an owner may.
#[actix_web::test]
async fn an_owner_resets_the_second_factor_of_an_administrator_who_lost_it() {
    let h = with_every_role();
    let app = console_app!(h);
    let owner = session(&h, "owner");
    let first = session(&h, "editor");
    let (secret, _) = enrol!(app, h, &first);
    let ids = crate::service::console::list_admins(h.store()).unwrap();
    let id = |name: &str| ids.iter().find(|a| a.username == name).unwrap().id.clone();
    let passkey = tessera_store::passkeys::Passkey {
        id: "pk1".into(),
        admin_id: id("editor"),
        credential_id: "cred-1".into(),
        name: "laptop".into(),
        credential: "{}".into(),
        created_at: h.clock.now(),
        last_used_at: None,
    };
    tessera_store::passkeys::insert(&mut h.store().conn().unwrap(), &passkey).unwrap();
    assert!(body(get!(app, h, &owner, paths::ADMINS)).await.contains("Reset second factor"));
    let reset = |name: &str| paths::ADMIN_SECOND_FACTOR_RESET.replace("{id}", &id(name));

    let editor = session(&h, "plugin-author");
    assert_eq!(post!(app, h, &editor, &reset("editor"), &[]).status(), 403, "an owner's action");
    assert_eq!(post!(app, h, &owner, &reset("owner"), &[]).status(), 422, "not one's own: the account page does that");
    assert_eq!(post!(app, h, &owner, &reset("editor"), &[]).status(), 303);

    assert_eq!(get!(app, h, &first, paths::HOME).status(), 303, "their sessions ended");
    let row = tessera_store::admins::find_by_username(&mut h.store().conn().unwrap(), "editor").unwrap().unwrap();
    assert!(row.totp_secret_enc.is_none());
    assert_eq!(crate::service::second_factor::recovery_codes_left(h.store(), &row.id).unwrap(), 0);
    assert_eq!(crate::service::passkeys::count(h.store(), &row.id).unwrap(), 0);
    let audit = crate::service::admin::audit_events(h.store(), None, None, None, 0, 50).unwrap();
    let event = audit.iter().find(|e| e.action == "admin.second_factor.reset").expect("audited");
    assert_eq!((event.actor.as_str(), event.target.as_str()), ("admin:owner", row.id.as_str()));
    let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
    assert_eq!((detail["passkeys"].as_i64(), detail["totp"].as_bool()), (Some(1), Some(true)));

    // The password alone now signs in (no code asked); once a factor is
    // required, they enrol a new one first.
    let s = session(&h, "editor");
    assert_eq!(get!(app, h, &s, paths::HOME).status(), 200, "no old code is asked for: {secret}");
    assert_eq!(post!(app, h, &owner, paths::ADMINS_SECOND_FACTOR, &[("required", "true")]).status(), 303);
    let s = session(&h, "editor");
    let page = body(get!(app, h, &s, paths::LOGIN)).await;
    assert!(page.contains("otpauth://totp/Tessera:editor?"), "the enrolment form: {page}");
}
