//! Throttling that cannot be used to lock people out (issue #11 items 6 and
//! 8, docs/security-checklist.md ), the bound on password hashing in flight
//! (item 17), and what a password reset, disable or delete ends (item 9).
//!
//! The server trusts 127.0.0.1 as a proxy here, so each request names its
//! client address in `X-Forwarded-For`, as a reverse proxy would.

use crate::console::{ADMIN, ADMIN_PASSWORD, Console, create_admin};
use crate::oidc::hidden;
use crate::on_both_backends;
use crate::support::{Backend, Options, TestServer};
use serde_json::Value;
use tessera::web::routes;

const AUD: &str = "https://throttle.api.example";
const PASSWORD: &str = "alice's long password";
const CB: &str = "https://app.example/cb";
const OWNER: &str = "203.0.113.5";
const ATTACKER: &str = "198.51.100.7";

fn env(extra: &[(&str, &str)]) -> Options {
    let mut env = vec![("TESSERA_TRUSTED_PROXIES".to_owned(), "[\"127.0.0.1\"]".to_owned())];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Options { env, ..Options::default() }
}

struct Fixture {
    server: TestServer,
    id: String,
    secret: String,
    user_id: String,
}

fn fixture(backend: Backend, opts: Options) -> Fixture {
    let server = TestServer::start_with(backend, opts);
    server.cli_json(&["api", "create", "--identifier", AUD, "--scopes", "read"]);
    let user = server.create_user("alice", PASSWORD, &[]);
    server.create_user("bob", PASSWORD, &[]);
    let c = server.cli_json(&[
        "client",
        "create",
        "--name",
        "app",
        "--grant-types",
        "authorization_code,password,refresh_token",
        "--redirect-uri",
        CB,
        "--first-party",
    ]);
    Fixture {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
        user_id: user["id"].as_str().unwrap().to_owned(),
        server,
    }
}

/// A token request from `addr` (via the trusted proxy): status, Retry-After, body.
async fn token_from(f: &Fixture, addr: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let r = reqwest::Client::new()
        .post(f.server.token_url())
        .header("X-Forwarded-For", addr)
        .basic_auth(&f.id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry, r.json().await.unwrap())
}

async fn password_grant(f: &Fixture, addr: &str, user: &str, password: &str) -> (u16, Option<String>, Value) {
    let form = [("grant_type", "password"), ("username", user), ("password", password), ("audience", AUD)];
    token_from(f, addr, &f.secret.clone(), &form).await
}

/// Issue #11 item 6 (docs/security-checklist.md A-15): someone who knows a username cannot
/// lock its owner out, and one address cannot lock out others behind the
/// same proxy. The attacker's pair locks after 10 failures with a growing
/// delay; the owner's correct password from their usual address still
/// works; another account from the attacker's address still works; many
/// addresses against one account are throttled except at known addresses.
async fn no_lockout_lever(backend: Backend) {
    let f = fixture(backend, env(&[]));
    // The owner signs in from their usual address (it becomes known).
    assert_eq!(password_grant(&f, OWNER, "alice", PASSWORD).await.0, 200);
    for i in 0..10 {
        let (status, _, body) = password_grant(&f, ATTACKER, "alice", "wrong guess").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "failure {i}");
    }
    let (status, retry, body) = password_grant(&f, ATTACKER, "alice", PASSWORD).await;
    assert_eq!((status, body["error"].as_str()), (429, Some("invalid_grant")), "the attacker's pair is locked");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 50, "a lock of about lock_secs");
    // The owner is not locked out, nor is anyone else behind the proxy.
    assert_eq!(password_grant(&f, OWNER, "alice", PASSWORD).await.0, 200, "owner from their usual address");
    assert_eq!(password_grant(&f, ATTACKER, "bob", PASSWORD).await.0, 200, "another account from that address");
    assert_eq!(password_grant(&f, "192.0.2.1", "alice", PASSWORD).await.0, 200, "owner from a new address");

    // A-15's second run: one wrong password from each of many addresses.
    let mut refused_at = None;
    for i in 0..30 {
        let (status, _, _) = password_grant(&f, &format!("10.9.0.{i}"), "alice", "wrong guess").await;
        if status == 429 {
            refused_at = Some(i);
            break;
        }
        assert_eq!(status, 400);
    }
    // The attacker's 10 failures above and 10 more reach account_max_failures (20).
    assert_eq!(refused_at, Some(10), "many addresses against one account are throttled");
    assert_eq!(password_grant(&f, OWNER, "alice", PASSWORD).await.0, 200, "known addresses still work");
    assert_eq!(password_grant(&f, "10.9.1.1", "alice", PASSWORD).await.0, 429, "unknown ones wait");
}
on_both_backends!(sign_in_throttling_is_no_lockout_lever, no_lockout_lever);

/// Issue #11 item 6: password spraying from one address is throttled by
/// `address_max_failures`, but people behind that address who signed in
/// from it before (bob) keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spraying_from_a_shared_address_spares_its_known_users() {
    let f = fixture(Backend::Sqlite, env(&[("TESSERA_LOGIN__ADDRESS_MAX_FAILURES", "5")]));
    const NAT: &str = "192.0.2.77";
    assert_eq!(password_grant(&f, NAT, "bob", PASSWORD).await.0, 200, "bob signs in from the shared address");
    for i in 0..5 {
        assert_eq!(password_grant(&f, NAT, &format!("user{i}"), "spray").await.0, 400);
    }
    assert_eq!(password_grant(&f, NAT, "user9", "spray").await.0, 429, "the sprayer is stopped");
    assert_eq!(password_grant(&f, NAT, "alice", PASSWORD).await.0, 429, "new to this address: waits");
    assert_eq!(password_grant(&f, NAT, "bob", PASSWORD).await.0, 200, "known here: not locked out");
    assert_eq!(password_grant(&f, OWNER, "alice", PASSWORD).await.0, 200, "other addresses unaffected");
}

/// Issue #11 item 6 on the hosted login page: it shares the pair lock with
/// the password grant; the locked page is 429 with `Retry-After`, and the
/// owner signs in from their own address meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_login_page_locks_the_pair_not_the_account() {
    let f = fixture(Backend::Sqlite, env(&[]));
    let login = |addr: &'static str, password: &'static str| {
        let f = &f;
        async move {
            let b = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let page = b.get(authorize_url(f)).header("X-Forwarded-For", addr).send().await.unwrap();
            let page = page.text().await.unwrap();
            let form = [
                ("username", "alice".to_owned()),
                ("password", password.to_owned()),
                ("csrf", hidden(&page, "csrf")),
                ("authorize", hidden(&page, "authorize")),
            ];
            let url = format!("{}{}", f.server.base, routes::LOGIN);
            b.post(url).header("X-Forwarded-For", addr).form(&form).send().await.unwrap()
        }
    };
    for _ in 0..10 {
        assert_eq!(login(ATTACKER, "wrong guess").await.status(), 401);
    }
    let locked = login(ATTACKER, PASSWORD).await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    assert!(locked.text().await.unwrap().contains("Too many failed attempts"));
    assert_eq!(login(OWNER, PASSWORD).await.status(), 303, "the owner signs in");
}

/// Issue #11 item 6: the counting is atomic. 40 concurrent wrong passwords
/// for one account from one address run exactly the limit (10) of password
/// checks: every other one is refused before any check. Checks are counted
/// from the answers ("invalid username or password" means a check ran) and
/// from the server's "sign-in password checked" log lines.
async fn atomic_counting(backend: Backend) {
    let opts = env(&[("TESSERA_PASSWORDS__MAX_CONCURRENT", "4"), ("TESSERA_PASSWORDS__QUEUE_WAIT_MS", "120000")]);
    let f = std::sync::Arc::new(fixture(backend, opts));
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move { password_grant(&f, ATTACKER, "alice", "wrong guess").await }));
    }
    let (mut checked, mut throttled) = (0, 0);
    for t in tasks {
        let (status, _, body) = t.await.unwrap();
        match (status, body["error_description"].as_str()) {
            (400, Some("invalid username or password")) => checked += 1,
            (429, _) => throttled += 1,
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    let logged = f.server.log_text().matches("sign-in password checked").count();
    assert_eq!((checked, throttled, logged), (10, 30, 10), "no more checks than the limit");
}
on_both_backends!(concurrent_wrong_passwords_run_no_more_checks_than_the_limit, atomic_counting);

/// Issue #11 item 8: a burst of wrong client secrets from one address is
/// answered 401 `invalid_client` until the limit, then 429 `invalid_client`
/// with `Retry-After` (even for the right secret from there), while the
/// real secret from another address keeps working.
async fn client_secret_throttling(backend: Backend) {
    let f = fixture(backend, env(&[]));
    let cc = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("audience", AUD)];
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let (status, retry, body) = token_from(&f, ATTACKER, "not-the-secret", &cc).await;
        assert_eq!(body["error"], "invalid_client");
        if status == 429 {
            assert!(retry.unwrap().parse::<u64>().unwrap() >= 50, "Retry-After names the lock");
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 10, "{statuses:?} in {:?}", started.elapsed());
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20);
    let (status, _, body) = token_from(&f, ATTACKER, &f.secret.clone(), &cc).await;
    assert_eq!((status, body["error"].as_str()), (429, Some("invalid_client")), "the locked pair is not checked");
    let (status, _, body) = token_from(&f, OWNER, &f.secret.clone(), &cc).await;
    assert_eq!(status, 200, "the real client from elsewhere: {body}");
}
on_both_backends!(wrong_client_secrets_are_throttled_per_client_and_address, client_secret_throttling);

/// Issue #11 item 6 for the console: an attacker hammering the
/// administrator's name from one address does not lock the administrator
/// out of their own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sign_in_cannot_be_locked_from_another_address() {
    let server = TestServer::start_with(Backend::Sqlite, env(&[]));
    create_admin(&server);
    let attacker = Console::new(&server).from(ATTACKER);
    for _ in 0..12 {
        let _ = attacker.login(ADMIN, "wrong password, long enough").await;
    }
    assert_eq!(attacker.login(ADMIN, ADMIN_PASSWORD).await.status(), 429, "the attacker's pair is locked");
    let owner = Console::new(&server).from(OWNER);
    assert_eq!(owner.login(ADMIN, ADMIN_PASSWORD).await.status(), 303, "the administrator signs in");
    // the lock is audited.
    let audit = owner.get("/admin/audit?action=admin.login.locked").await.text().await.unwrap();
    assert!(audit.contains("admin.login.locked") && audit.contains(ATTACKER), "{audit}");
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Issue #11 item 17 (docs/security-checklist.md R-10): 30 concurrent password grants with
/// two hashing workers. The excess is answered at once with 503
/// `temporarily_unavailable` and `Retry-After`, and the server's peak
/// resident memory (VmHWM) grows by at most 100 MiB: two workers at 19 MiB
/// each, twice over for allocator slack, plus 24 MiB for everything else.
/// Without the bound, 30 hashes at 19 MiB each would add about 570 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_is_bounded_in_memory_and_told_to_retry() {
    const BOUND_KIB: u64 = 100 * 1024;
    let opts = env(&[
        ("TESSERA_PASSWORDS__MAX_CONCURRENT", "2"),
        ("TESSERA_PASSWORDS__QUEUE_WAIT_MS", "0"),
        // Room for 30 sign-ins at once, so only the hashing bound answers.
        ("TESSERA_LOGIN__MAX_FAILURES", "100"),
        ("TESSERA_LOGIN__ACCOUNT_MAX_FAILURES", "100"),
    ]);
    let f = std::sync::Arc::new(fixture(Backend::Sqlite, opts));
    assert_eq!(password_grant(&f, OWNER, "alice", PASSWORD).await.0, 200);
    let before = vm_hwm_kib(f.server.pid());
    let mut tasks = Vec::new();
    for i in 0..30 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move { password_grant(&f, &format!("10.8.0.{i}"), "alice", PASSWORD).await }));
    }
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                assert_eq!(body["error"], "temporarily_unavailable");
                assert!(retry.is_some(), "Retry-After on 503");
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let after = vm_hwm_kib(f.server.pid());
    eprintln!("VmHWM {before} KiB before, {after} KiB after; {ok} signed in, {busy} told to retry");
    assert!(after - before <= BOUND_KIB, "VmHWM grew by {} KiB (from {before} KiB)", after - before);
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
}

/// Issue #11 item 17 on the sign-in pages: when every hashing worker is
/// busy, the hosted login page and the console answer 503 with a clear
/// "try again" message (and the hosted page `Retry-After`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_pages_say_busy_when_hashing_is_at_capacity() {
    let opts = env(&[
        ("TESSERA_PASSWORDS__MAX_CONCURRENT", "1"),
        ("TESSERA_PASSWORDS__QUEUE_WAIT_MS", "0"),
        ("TESSERA_LOGIN__MAX_FAILURES", "100"),
        ("TESSERA_LOGIN__ACCOUNT_MAX_FAILURES", "100"),
    ]);
    let f = std::sync::Arc::new(fixture(Backend::Sqlite, opts));
    create_admin(&f.server);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let addr = format!("10.7.0.{i}");
            if i % 2 == 0 {
                let b = reqwest::Client::builder()
                    .cookie_store(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                let page = b.get(authorize_url(&f)).send().await.unwrap().text().await.unwrap();
                let form = [
                    ("username", "alice".to_owned()),
                    ("password", PASSWORD.to_owned()),
                    ("csrf", hidden(&page, "csrf")),
                    ("authorize", hidden(&page, "authorize")),
                ];
                let url = format!("{}{}", f.server.base, routes::LOGIN);
                let r = b.post(url).header("X-Forwarded-For", &addr).form(&form).send().await.unwrap();
                let retry = r.headers().contains_key("retry-after");
                ("hosted", r.status().as_u16(), retry, r.text().await.unwrap())
            } else {
                let r = Console::new(&f.server).from(&addr).login(ADMIN, ADMIN_PASSWORD).await;
                ("console", r.status().as_u16(), true, r.text().await.unwrap())
            }
        }));
    }
    let mut busy = std::collections::BTreeMap::new();
    for t in tasks {
        let (page, status, retry, body) = t.await.unwrap();
        if status == 503 {
            assert!(body.contains("The server is busy. Try again in a few seconds."), "{page}: {body}");
            assert!(retry, "Retry-After on the hosted page");
            *busy.entry(page).or_insert(0) += 1;
        } else {
            assert!(matches!(status, 200 | 303), "{page} {status}: {body}");
        }
    }
    eprintln!("told to retry: {busy:?}");
    assert!(busy.contains_key("hosted") && busy.contains_key("console"), "both pages told someone to retry");
}

/// Signs `alice` in through the hosted login page; returns the browser.
async fn browser_session(f: &Fixture, password: &str) -> reqwest::Client {
    let b = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = b.get(authorize_url(f)).send().await.unwrap().text().await.unwrap();
    let form = [
        ("username", "alice".to_owned()),
        ("password", password.to_owned()),
        ("csrf", hidden(&page, "csrf")),
        ("authorize", hidden(&page, "authorize")),
    ];
    let r = b.post(format!("{}{}", f.server.base, routes::LOGIN)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "signed in");
    assert!(signed_in(f, &b).await);
    b
}

fn authorize_url(f: &Fixture) -> String {
    let cb: String = url::form_urlencoded::byte_serialize(CB.as_bytes()).collect();
    format!(
        "{}{}?response_type=code&client_id={}&redirect_uri={cb}&scope=openid",
        f.server.base,
        routes::AUTHORIZE,
        f.id
    )
}

/// True if the browser's session still answers the authorization request
/// (302 to the client) instead of the login page.
async fn signed_in(f: &Fixture, b: &reqwest::Client) -> bool {
    b.get(authorize_url(f)).send().await.unwrap().status() == 302
}

/// Issue #11 item 9: resetting a user's password, disabling them (even when
/// re-enabled right after) or deleting them ends their refresh tokens and
/// browser sessions. Done through the console.
async fn user_changes_end_grants(backend: Backend) {
    let f = fixture(backend, env(&[]));
    let console = Console::signed_in(&f.server).await;
    let user = format!("/admin/users/{}", f.user_id);
    let mut password = PASSWORD.to_owned();
    for step in ["password", "disable", "delete"] {
        let (_, _, body) = password_grant(&f, OWNER, "alice", &password).await;
        let rt = body["refresh_token"].as_str().unwrap_or_else(|| panic!("{step}: {body}")).to_owned();
        let b = browser_session(&f, &password).await;
        match step {
            "password" => {
                password = "a brand new long password".into();
                let r = console.post_csrf(&format!("{user}/password"), &[("password", &password)]).await;
                assert_eq!(r.status(), 303);
            }
            "disable" => {
                for disabled in ["true", "false"] {
                    let r = console.post_csrf(&format!("{user}/status"), &[("disabled", disabled)]).await;
                    assert_eq!(r.status(), 303);
                }
            }
            _ => assert_eq!(console.post_csrf(&format!("{user}/delete"), &[]).await.status(), 303),
        }
        let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
        let (status, _, body) = token_from(&f, OWNER, &f.secret.clone(), &refresh).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{step}: refresh token ended");
        assert!(!signed_in(&f, &b).await, "{step}: browser session ended");
    }
}
on_both_backends!(password_reset_disable_and_delete_end_refresh_tokens_and_sessions, user_changes_end_grants);
