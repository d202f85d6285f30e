//! One storage conformance suite, run on every backend (docs/architecture.md, "Tests"):
//! the same assertions against SQLite and PostgreSQL.
//!
//! PostgreSQL needs `POSTGRES_TEST_URL` (scripts/test sets it); without it the
//! PostgreSQL half fails rather than skipping.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use diesel::{Connection, RunQueryDsl};
use serde_json::json;
use std::time::Duration;
use tessera_protocol::model::GrantType;
use tessera_store::clients::{self, Client, ClientSecret, ExchangePolicy};
use tessera_store::keys::{self, KeyState, SigningKey};
use tessera_store::users::{self, User};
use tessera_store::{Store, StoreError, apis, audit};

struct Db {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    pg: Option<String>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(name) = &self.pg
            && let Ok(mut c) = diesel::PgConnection::establish(&admin_url())
        {
            {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c);
            }
        }
    }
}

fn admin_url() -> String {
    std::env::var("POSTGRES_TEST_URL").expect("POSTGRES_TEST_URL must be set (scripts/test sets it)")
}

fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::connect(&url, 4, Duration::from_secs(5)).unwrap();
    store.migrate().unwrap();
    Db { store, _dir: Some(dir), pg: None }
}

fn postgres() -> Db {
    let (db, _) = postgres_unmigrated();
    db.store.migrate().unwrap();
    db
}

/// A new, empty PostgreSQL database (dropped with the `Db`) and its URL.
fn postgres_unmigrated() -> (Db, url::Url) {
    let admin = admin_url();
    let name = format!("tessera_store_{}", uuid::Uuid::new_v4().simple());
    let mut c = diesel::PgConnection::establish(&admin).expect("connect to POSTGRES_TEST_URL");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut c).unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    let store = Store::connect(url.as_str(), 4, Duration::from_secs(5)).unwrap();
    (Db { store, _dir: None, pg: Some(name) }, url)
}

fn user(id: &str, name: &str) -> User {
    User {
        id: id.into(),
        username: name.into(),
        password_hash: None,
        email: Some(format!("{name}@example.com")),
        profile: json!({"name": name}),
        metadata: json!({"k": 1}),
        roles: vec!["admin".into()],
        disabled: false,
        created_at: 1,
        updated_at: 1,
    }
}

fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: "c".into(),
        confidential: true,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        allowed_scopes: Some(vec!["read".into()]),
        allowed_audiences: None,
        metadata: json!({"tier": "gold"}),
        service_account_user_id: None,
        first_party: false,
        disabled: false,
        exchange: ExchangePolicy::default(),
        require_pushed_authorization_requests: false,
        jwks: None,
        jwks_uri: None,
        jwt_bearer_issuers: Vec::new(),
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        require_signed_request_object: false,
        frontchannel_logout_uri: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn users_roundtrip_and_unique_username(db: &Db) {
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("u1", "alice")).unwrap();
    let got = users::find_by_username(&mut c, "alice").unwrap().unwrap();
    assert_eq!(got.profile, json!({"name": "alice"}));
    assert_eq!(got.roles, vec!["admin".to_string()]);
    assert!(matches!(users::insert(&mut c, &user("u2", "alice")), Err(StoreError::Conflict(_))));
    assert!(users::find(&mut c, "nope").unwrap().is_none());
    users::insert(&mut c, &user("u3", "al_ice")).unwrap();
    assert_eq!(users::list(&mut c, "_", 0, 10).unwrap().len(), 1, "LIKE wildcards are escaped");
    assert_eq!(users::count(&mut c).unwrap(), 2);
}

fn secrets_expire_and_revoke(db: &Db) {
    let mut c = db.store.conn().unwrap();
    clients::insert(&mut c, &client("c1")).unwrap();
    let s = |id: &str, hash: &str, at: i64| ClientSecret {
        id: id.into(),
        client_id: "c1".into(),
        secret_hash: hash.into(),
        hint: "abcd".into(),
        created_at: at,
        expires_at: None,
        revoked_at: None,
    };
    clients::insert_secret(&mut c, &s("s1", "h1", 10)).unwrap();
    clients::insert_secret(&mut c, &s("s2", "h2", 20)).unwrap();
    assert_eq!(clients::active_secret_hashes(&mut c, "c1", 100).unwrap().len(), 2);
    clients::expire_other_secrets(&mut c, "c1", "s2", 150).unwrap();
    assert_eq!(clients::active_secret_hashes(&mut c, "c1", 149).unwrap().len(), 2, "overlap window");
    assert_eq!(clients::active_secret_hashes(&mut c, "c1", 150).unwrap().len(), 1, "old secret expired");
    clients::revoke_secret(&mut c, "c1", "s2", 151).unwrap();
    assert!(clients::active_secret_hashes(&mut c, "c1", 152).unwrap().is_empty());
    assert!(matches!(clients::revoke_secret(&mut c, "c1", "nope", 1), Err(StoreError::NotFound(_))));
    let got = clients::find(&mut c, "c1").unwrap().unwrap();
    assert_eq!(got.allowed_scopes, Some(vec!["read".to_string()]));
    assert_eq!(got.metadata, json!({"tier": "gold"}));
    assert_eq!(got.exchange, ExchangePolicy::default(), "token exchange allows nothing by default");
    assert!(!got.require_pushed_authorization_requests, "PAR is optional by default");
    let mut edited = got;
    edited.exchange = ExchangePolicy {
        audiences: vec!["https://b.example".into()],
        scopes: vec!["read".into(), "write".into()],
        impersonation: true,
    };
    clients::update(&mut c, &edited).unwrap();
    assert_eq!(clients::find(&mut c, "c1").unwrap().unwrap().exchange, edited.exchange);
}

fn key_states_move_and_retired_keys_purge(db: &Db) {
    let mut c = db.store.conn().unwrap();
    let k = |kid: &str, st: KeyState| SigningKey {
        kid: kid.into(),
        alg: "RS256".into(),
        state: st,
        private_key_enc: vec![1, 2, 3],
        public_jwk: "{}".into(),
        created_at: 1,
        activated_at: None,
        retired_at: None,
    };
    keys::insert(&mut c, &k("k1", KeyState::Current)).unwrap();
    keys::insert(&mut c, &k("k2", KeyState::Next)).unwrap();
    keys::set_state(&mut c, "k1", KeyState::Retired, 100).unwrap();
    keys::set_state(&mut c, "k2", KeyState::Current, 100).unwrap();
    assert_eq!(keys::by_state(&mut c, "RS256", KeyState::Current).unwrap()[0].kid, "k2");
    assert_eq!(keys::by_state(&mut c, "RS256", KeyState::Retired).unwrap()[0].private_key_enc, vec![1, 2, 3]);
    assert_eq!(keys::purge_retired(&mut c, 100).unwrap(), 0, "retired exactly at the cutoff stays");
    assert_eq!(keys::purge_retired(&mut c, 101).unwrap(), 1);
    assert_eq!(keys::all(&mut c).unwrap().len(), 1);
}

fn transactions_roll_back_on_error(db: &Db) {
    let r: Result<(), StoreError> = db.store.tx(|c| {
        users::insert(c, &user("tx1", "tx-user"))?;
        Err(StoreError::Conflict("forced".into()))
    });
    assert!(r.is_err());
    assert!(users::find(&mut db.store.conn().unwrap(), "tx1").unwrap().is_none(), "nothing half-saved");
}

fn apis_and_audit(db: &Db) {
    let mut c = db.store.conn().unwrap();
    let api = apis::Api {
        id: "a1".into(),
        identifier: "https://api".into(),
        name: "API".into(),
        alg: tessera_protocol::model::SigningAlg::HS256,
        token_lifetime_secs: 60,
        scopes: vec!["read".into()],
        hs256_secret_enc: Some(vec![9; 40]),
        created_at: 1,
        updated_at: 1,
    };
    apis::insert(&mut c, &api).unwrap();
    assert!(matches!(
        apis::insert(&mut c, &apis::Api { id: "a2".into(), ..api.clone() }),
        Err(StoreError::Conflict(_))
    ));
    let got = apis::find_by_identifier(&mut c, "https://api").unwrap().unwrap();
    assert_eq!(got.hs256_secret_enc, Some(vec![9; 40]));
    assert_eq!(got.profile().scopes.to_string(), "read");
    for (i, action) in ["client.create", "keys.rotate", "client.delete"].iter().enumerate() {
        audit::record(
            &mut c,
            &audit::AuditEvent {
                id: format!("e{i}"),
                at: i as i64,
                actor: "cli".into(),
                action: (*action).into(),
                target: "t".into(),
                detail: "{}".into(),
            },
        )
        .unwrap();
    }
    let clients_only = audit::recent(
        &mut c,
        &audit::AuditFilter { action_prefix: Some("client.".into()), ..Default::default() },
        0,
        10,
    )
    .unwrap();
    assert_eq!(
        clients_only.iter().map(|e| e.event.action.as_str()).collect::<Vec<_>>(),
        ["client.delete", "client.create"]
    );
    // Several prefixes, comma-separated: any of them; `_` and `%` are literal.
    let filter = |p: &str| audit::AuditFilter { action_prefix: Some(p.into()), ..Default::default() };
    let either = audit::recent(&mut c, &filter("keys.,client.create"), 0, 10).unwrap();
    assert_eq!(either.iter().map(|e| e.event.action.as_str()).collect::<Vec<_>>(), ["keys.rotate", "client.create"]);
    assert!(audit::recent(&mut c, &filter("client_,%"), 0, 10).unwrap().is_empty());
}

/// Issue #17 item 3: a version keeps who signed it and the signature; an
/// unsigned one has neither.
fn plugin_versions_keep_their_signer(db: &Db) {
    use tessera_store::plugins::{self, NewVersion, VersionSignature};
    let v = |id: &'static str, signature: Option<VersionSignature<'static>>| NewVersion {
        id,
        wasm: b"\0asm-bytes",
        sha256: "aa",
        world: "tessera:plugin/token-plugin@0.1.0",
        declared_claims: None,
        interface: json!({}),
        uploaded_by: "cli",
        now: 5,
        signature,
    };
    let signed = VersionSignature { signed_by: "ci", signature: "c2lnbmF0dXJl" };
    let (p, v1) = db.store.tx(|c| plugins::add_version(c, "signed", "p1", v("s1", Some(signed)))).unwrap();
    assert_eq!((v1.signed_by.as_deref(), v1.signature.as_deref()), (Some("ci"), Some("c2lnbmF0dXJl")));
    let (_, v2) = db.store.tx(|c| plugins::add_version(c, "signed", "p1", v("s2", None))).unwrap();
    assert_eq!((v2.signed_by, v2.signature), (None, None));
    let mut c = db.store.conn().unwrap();
    let listed = plugins::versions(&mut c, &p.id).unwrap();
    assert_eq!(listed.iter().map(|v| v.signed_by.as_deref()).collect::<Vec<_>>(), [None, Some("ci")]);
}

/// Issue #17 item 2: a binding's shadow candidate is stored in its row;
/// comparisons count only for the candidate that is set and stay bounded
/// (the newest window, plus the newest differences beyond it).
fn shadow_candidates_round_trip_and_comparisons_stay_bounded(db: &Db) {
    use tessera_store::plugins::{
        self, Binding, DIFF_WINDOW, NewVersion, RESULT_WINDOW, ShadowCandidate, ShadowResult, ShadowShare, TotalsDelta,
    };
    let v = |id: &'static str| NewVersion {
        id,
        wasm: b"\0asm-bytes",
        sha256: "aa",
        world: "tessera:plugin/token-plugin@0.1.0",
        declared_claims: None,
        interface: json!({}),
        uploaded_by: "cli",
        now: 5,
        signature: None,
    };
    let (p, _) = db.store.tx(|c| plugins::add_version(c, "shadowed", "sp", v("sv1"))).unwrap();
    db.store.tx(|c| plugins::add_version(c, "shadowed", "ignored", v("sv2"))).unwrap();
    let mut c = db.store.conn().unwrap();
    let mut b = Binding {
        id: "sb".into(),
        plugin_id: p.id.clone(),
        plugin_version_id: "sv1".into(),
        trigger: plugins::Trigger::Token,
        grant_types: vec![GrantType::ClientCredentials],
        client_ids: None,
        position: 1,
        enabled: true,
        config: json!({}),
        secrets_enc: None,
        secret_names: vec![],
        failure_policy: plugins::FailurePolicy::Deny,
        created_at: 1,
        updated_at: 1,
        shadow: None,
        http_allow: vec![],
        http_cache_ttl_secs: None,
    };
    plugins::insert_binding(&mut c, &b).unwrap();
    let candidate = ShadowCandidate {
        version_id: "sv2".into(),
        share: ShadowShare::new(0.25).unwrap(),
        sensitive_claims: vec!["email".into()],
        since: 7,
    };
    b.shadow = Some(candidate.clone());
    plugins::update_binding(&mut c, &b).unwrap();
    plugins::start_totals(&mut c, "sb", "sv2").unwrap();
    assert_eq!(plugins::binding(&mut c, "sb").unwrap().unwrap().shadow, Some(candidate));

    // 600 comparisons, every 20th differed: 30 differences, 25 of them in the newest 500.
    let n = RESULT_WINDOW + 100;
    let results: Vec<ShadowResult> = (0..n)
        .map(|i| ShadowResult {
            id: format!("r{i:04}"),
            binding_id: "sb".into(),
            version_id: "sv2".into(),
            at: i,
            live_us: 100,
            shadow_us: 200,
            live_outcome: "ok".into(),
            shadow_outcome: "ok".into(),
            differed: i % 20 == 0,
            diff: "[]".into(),
        })
        .collect();
    let delta = TotalsDelta { compared: n, differed: 30, live_errors: 0, shadow_errors: 2, skipped: 3 };
    assert!(db.store.tx(|c| plugins::record_batch(c, "sb", "sv2", &delta, &results)).unwrap());
    let t = plugins::totals(&mut c, "sb").unwrap().unwrap();
    assert_eq!((t.compared, t.differed, t.shadow_errors, t.skipped), (n, 30, 2, 3));
    const { assert!(30 <= DIFF_WINDOW) };
    assert_eq!(plugins::results(&mut c, "sb", false, 10_000).unwrap().len() as i64, RESULT_WINDOW + 5);
    let diffs = plugins::results(&mut c, "sb", true, 10_000).unwrap();
    assert_eq!(diffs.len(), 30, "differences beyond the window are kept up to DIFF_WINDOW");
    assert_eq!(diffs[0].id, "r0580", "newest first");

    // Fewer rows than the window: nothing is trimmed, even with more than
    // DIFF_WINDOW differences among them.
    plugins::clear_results(&mut c, "sb").unwrap();
    plugins::start_totals(&mut c, "sb", "sv2").unwrap();
    let all_differ: Vec<ShadowResult> =
        results[..80].iter().cloned().map(|r| ShadowResult { differed: true, ..r }).collect();
    assert!(db.store.tx(|c| plugins::record_batch(c, "sb", "sv2", &delta, &all_differ)).unwrap());
    assert_eq!(plugins::results(&mut c, "sb", true, 10_000).unwrap().len(), 80);

    // Results of a candidate that is no longer set are dropped, not counted.
    assert!(!db.store.tx(|c| plugins::record_batch(c, "sb", "sv1", &delta, &results[..1])).unwrap());
    assert_eq!(plugins::totals(&mut c, "sb").unwrap().unwrap().compared, n);
    assert_eq!(plugins::results(&mut c, "sb", false, 10_000).unwrap().len(), 80);
    plugins::clear_results(&mut c, "sb").unwrap();
    assert_eq!(plugins::totals(&mut c, "sb").unwrap(), None);
    assert!(plugins::results(&mut c, "sb", false, 10).unwrap().is_empty());
}

fn plugin_versions_number_up_and_bindings_order(db: &Db) {
    use tessera_store::plugins::{self, Binding, NewVersion, PluginRunRecord};
    let v = |id: &'static str, sha: &'static str| NewVersion {
        id,
        wasm: b"\0asm-bytes",
        sha256: sha,
        world: "tessera:plugin/token-plugin@0.1.0",
        declared_claims: Some(vec!["x".into()]),
        interface: json!({}),
        uploaded_by: "cli",
        now: 5,
        signature: None,
    };
    let (p, v1) = db.store.tx(|c| plugins::add_version(c, "claims", "p1", v("v1", "aa"))).unwrap();
    let (p2, v2) = db.store.tx(|c| plugins::add_version(c, "claims", "ignored", v("v2", "bb"))).unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(p.id, p2.id, "second upload reuses the plugin");
    let mut c = db.store.conn().unwrap();
    assert_eq!(plugins::version_by_number(&mut c, &p.id, None).unwrap().unwrap().id, "v2");
    assert_eq!(
        plugins::version_by_number(&mut c, &p.id, Some(1)).unwrap().unwrap().declared().unwrap(),
        Some(vec!["x".to_string()])
    );
    assert_eq!(plugins::wasm(&mut c, "v1").unwrap(), b"\0asm-bytes");
    let b = |id: &str, pos: i32, clients: Option<Vec<String>>| Binding {
        id: id.into(),
        plugin_id: p.id.clone(),
        plugin_version_id: "v1".into(),
        trigger: plugins::Trigger::Token,
        grant_types: vec![GrantType::ClientCredentials],
        client_ids: clients,
        position: pos,
        enabled: true,
        config: json!({"a": 1}),
        secrets_enc: None,
        secret_names: vec![],
        failure_policy: plugins::FailurePolicy::Deny,
        created_at: 1,
        updated_at: 1,
        shadow: None,
        http_allow: vec![],
        http_cache_ttl_secs: None,
    };
    plugins::insert_binding(&mut c, &b("b2", 20, None)).unwrap();
    plugins::insert_binding(&mut c, &b("b1", 10, Some(vec!["c9".into()]))).unwrap();
    let all = plugins::bindings_for_trigger(&mut c, plugins::Trigger::Token).unwrap();
    assert_eq!(all.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["b1", "b2"]);
    assert!(all[0].applies_to(GrantType::ClientCredentials, "c9"));
    assert!(!all[0].applies_to(GrantType::ClientCredentials, "other"), "client hook only for its clients");
    assert!(!all[1].applies_to(GrantType::Password, "c9"));
    assert_eq!(plugins::max_position(&mut c, plugins::Trigger::Token).unwrap(), 20);
    assert_eq!(plugins::binding_count(&mut c, plugins::Trigger::Token).unwrap(), 2);
    // Issue #17 item 4: the HTTP allow-list and cache TTL round-trip.
    assert!(all[0].http_allow.is_empty() && all[0].http_cache_ttl_secs.is_none());
    let mut with_http = all[0].clone();
    with_http.http_allow = vec!["https://api.example/v1/".into(), "http://127.0.0.1:9/".into()];
    with_http.http_cache_ttl_secs = Some(30);
    plugins::update_binding(&mut c, &with_http).unwrap();
    let back = plugins::binding(&mut c, "b1").unwrap().unwrap();
    assert_eq!(back.http_allow, with_http.http_allow);
    assert_eq!(back.http_cache_ttl_secs, Some(30));
    let run = |i: usize| PluginRunRecord {
        id: format!("r{i:03}"),
        binding_id: "b1".into(),
        plugin_version_id: "v1".into(),
        grant_type: "client_credentials".into(),
        client_id: "c".into(),
        at: i as i64,
        duration_us: 5,
        outcome: "ok".into(),
        detail: String::new(),
        logs: "[]".into(),
        http: "[]".into(),
    };
    let runs: Vec<_> = (0..12).map(run).collect();
    plugins::record_runs(&mut c, &runs, 10).unwrap();
    let kept = plugins::recent_runs(&mut c, None, 0, 100).unwrap();
    assert_eq!(kept.len(), 10, "run records are bounded");
    assert_eq!(kept[0].id, "r011");
}

/// The run log's batch write (issue #13 item 5): a batch of a few hundred
/// records is one insert on either backend, nothing is pruned until asked,
/// and a prune keeps the newest `keep`.
fn run_records_insert_as_one_batch_and_prune_on_demand(db: &Db) {
    use tessera_store::plugins::{self, PluginRunRecord};
    let mut c = db.store.conn().unwrap();
    let run = |i: usize| PluginRunRecord {
        id: format!("r{i:04}"),
        binding_id: "b1".into(),
        plugin_version_id: "v1".into(),
        grant_type: "client_credentials".into(),
        client_id: "c".into(),
        at: i as i64,
        duration_us: 5,
        outcome: if i.is_multiple_of(7) { "trap".into() } else { "ok".into() },
        detail: format!("detail {i}"),
        logs: "[]".into(),
        http: "[]".into(),
    };
    let runs: Vec<_> = (0..300).map(run).collect();
    db.store.tx(|c| plugins::insert_runs(c, &runs)).unwrap();
    plugins::insert_runs(&mut c, &[]).unwrap();
    let all = plugins::recent_runs(&mut c, None, 0, 1000).unwrap();
    assert_eq!(all.len(), 300, "every record written, none pruned");
    assert_eq!((all[0].id.as_str(), all[0].detail.as_str()), ("r0299", "detail 299"));
    assert_eq!(plugins::runs(&mut c, None, true, 0, 1000).unwrap().len(), 43, "outcomes kept per row");
    plugins::prune_runs(&mut c, 250).unwrap();
    let kept = plugins::recent_runs(&mut c, None, 0, 1000).unwrap();
    assert_eq!(kept.len(), 250);
    assert_eq!(kept.last().unwrap().id, "r0050", "the oldest went");
}

/// docs/security-checklist.md O-21 and O-28 (storage half): rotation is one conditional
/// UPDATE, so of two uses exactly one wins, on any node; a family revokes
/// together.
/// RFC 7591/7592: a registration round-trips, is replaced in place, and
/// goes with its client.
fn client_registrations_round_trip_and_go_with_their_client(db: &Db) {
    use tessera_store::registrations::{self, Registration};
    let mut c = db.store.conn().unwrap();
    clients::insert(&mut c, &client("dyn")).unwrap();
    let r = Registration {
        client_id: "dyn".into(),
        token_hash: "h1".into(),
        registered: json!({"token_endpoint_auth_method": "client_secret_post", "contacts": ["ops@app.example"]}),
        created_at: 5,
        updated_at: 5,
    };
    registrations::insert(&mut c, &r).unwrap();
    assert_eq!(registrations::find(&mut c, "dyn").unwrap(), Some(r.clone()));
    assert_eq!(registrations::client_ids(&mut c).unwrap(), ["dyn".to_owned()].into_iter().collect());
    assert_eq!(registrations::find(&mut c, "other").unwrap(), None);
    let changed = Registration { registered: json!({}), updated_at: 9, ..r.clone() };
    assert!(registrations::update(&mut c, &changed).unwrap());
    assert_eq!(registrations::find(&mut c, "dyn").unwrap(), Some(changed));
    assert!(matches!(registrations::insert(&mut c, &r), Err(StoreError::Conflict(_))), "one per client");
    assert!(!registrations::update(&mut c, &Registration { client_id: "other".into(), ..r.clone() }).unwrap());
    clients::delete(&mut c, "dyn").unwrap();
    assert_eq!(registrations::find(&mut c, "dyn").unwrap(), None, "deleted with its client");
}

/// A write transaction that reads first still commits when another
/// connection commits between its read and its first write (the console's
/// changes beside the run log's writer). On SQLite a deferred transaction
/// was refused at once (`SQLITE_BUSY_SNAPSHOT`, not waited out by
/// `busy_timeout`): `Store::tx` takes the write lock when it begins.
fn a_transaction_that_reads_first_survives_a_writer_committing_meanwhile(db: &Db) {
    let store = db.store.clone();
    let (read, wait_for_read) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        wait_for_read.recv().unwrap();
        store.tx(|c| users::insert(c, &user("w2", "the-other-writer")))
    });
    let result = db.store.tx(|c| {
        assert!(users::find_by_username(c, "nobody")?.is_none(), "a read first");
        read.send(()).unwrap();
        // The other writer commits now, or waits for this transaction.
        std::thread::sleep(Duration::from_millis(300));
        users::insert(c, &user("w1", "reads-then-writes"))
    });
    assert!(result.is_ok(), "{result:?}");
    writer.join().unwrap().unwrap();
    let mut c = db.store.conn().unwrap();
    assert!(users::find_by_username(&mut c, "the-other-writer").unwrap().is_some());
}

fn refresh_rotation_is_single_use_and_families_revoke(db: &Db) {
    use tessera_store::grants::{self, RefreshToken};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("ru", "refresh-user")).unwrap();
    clients::insert(&mut c, &client("rc")).unwrap();
    let t = |id: &str, hash: &str| RefreshToken {
        id: id.into(),
        family_id: "fam".into(),
        token_hash: hash.into(),
        client_id: "rc".into(),
        user_id: "ru".into(),
        api_id: "a".into(),
        scopes: "read".into(),
        created_at: 1,
        absolute_expires_at: 100,
        idle_expires_at: 50,
        used_at: None,
        revoked_at: None,
        grant_type: Some(GrantType::Password),
        access: None,
        dpop_jkt: None,
        auth_time: None,
        sid: None,
        amr: None,
    };
    grants::insert(&mut c, &t("t1", "h1")).unwrap();
    assert_eq!(grants::find_by_hash(&mut c, "h1").unwrap().unwrap().grant_type, Some(GrantType::Password));
    let bound = RefreshToken { family_id: "bound".into(), dpop_jkt: Some("jkt-1".into()), ..t("tb", "hb") };
    grants::insert(&mut c, &bound).unwrap();
    assert_eq!(grants::find_by_hash(&mut c, "hb").unwrap().unwrap().dpop_jkt.as_deref(), Some("jkt-1"));
    assert_eq!(grants::find_by_hash(&mut c, "h1").unwrap().unwrap().dpop_jkt, None);
    let signed_in = RefreshToken {
        family_id: "oidc".into(),
        auth_time: Some(3),
        sid: Some("sid-1".into()),
        amr: Some("pwd otp mfa".into()),
        ..t("ts", "hs")
    };
    grants::insert(&mut c, &signed_in).unwrap();
    let found = grants::find_by_hash(&mut c, "hs").unwrap().unwrap();
    assert_eq!(
        (found.auth_time, found.sid.as_deref(), found.amr.as_deref()),
        (Some(3), Some("sid-1"), Some("pwd otp mfa")),
        "the sign-in is remembered"
    );
    assert_eq!(grants::find_by_hash(&mut c, "h1").unwrap().unwrap().auth_time, None);
    assert!(matches!(grants::insert(&mut c, &t("t9", "h1")), Err(StoreError::Conflict(_))), "hashes are unique");
    assert!(grants::mark_used(&mut c, "t1", 5).unwrap(), "first use wins");
    assert!(!grants::mark_used(&mut c, "t1", 6).unwrap(), "second use loses");
    grants::insert(&mut c, &t("t2", "h2")).unwrap();
    assert_eq!(grants::revoke_family(&mut c, "fam", 7).unwrap(), 2);
    assert!(!grants::mark_used(&mut c, "t2", 8).unwrap(), "revoked tokens cannot rotate");
    assert_eq!(grants::find_by_hash(&mut c, "h2").unwrap().unwrap().revoked_at, Some(7));
}

fn throttle_counts_in_a_window(db: &Db) {
    use tessera_store::throttle::{self, Admission, Limit};
    let mut c = db.store.conn().unwrap();
    let limit = Limit { max: 3, window_secs: 60 };
    for _ in 0..3 {
        assert_eq!(throttle::reserve(&mut c, "user:x", 100, limit).unwrap(), Admission::Admitted);
    }
    assert_eq!(throttle::reserve(&mut c, "user:x", 120, limit).unwrap(), Admission::Refused { until: 160 });
    assert_eq!(throttle::check(&mut c, "user:x", 120, limit).unwrap(), Admission::Refused { until: 160 });
    assert_eq!(throttle::reserve(&mut c, "user:x", 161, limit).unwrap(), Admission::Admitted, "window ended");
    throttle::release(&mut c, "user:x").unwrap();
    throttle::clear(&mut c, "user:x").unwrap();
    assert_eq!(throttle::check(&mut c, "user:x", 201, limit).unwrap(), Admission::Admitted);
}

/// Issue #11 item 6 (docs/security-checklist.md A-15): a spent key locks for a time that
/// doubles with every lock, and only one of several callers locks it.
/// Concurrent first attempts on one fresh key are all counted and admitted
/// while the limit has room: the row one of them inserts must not read as a
/// refusal to the others (regression: `reserve` refused when the row appeared
/// between its UPDATE and its read, so a console sign-in answered 429).
fn throttle_admits_concurrent_first_attempts(db: &Db) {
    use tessera_store::throttle::{self, Admission, Limit};
    let limit = Limit { max: 100, window_secs: 60 };
    for round in 0..50 {
        let key = format!("race:{round}");
        let start = std::sync::Barrier::new(8);
        let refused = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                let (key, start, refused) = (&key, &start, &refused);
                s.spawn(move || {
                    // The barrier before the connection: the pool may have
                    // fewer than eight, and a holder waiting here would block.
                    start.wait();
                    let mut c = db.store.conn().unwrap();
                    if throttle::reserve(&mut c, key, 1000, limit).unwrap() != Admission::Admitted {
                        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(refused.into_inner(), 0, "round {round}: every first attempt admitted");
        let spent = Limit { max: 8, ..limit };
        let after = throttle::check(&mut db.store.conn().unwrap(), &key, 1000, spent).unwrap();
        assert_eq!(after, Admission::Refused { until: 1060 }, "round {round}: all eight counted");
    }
}

fn throttle_locks_grow(db: &Db) {
    use tessera_store::throttle::{self, Admission, Limit};
    let mut c = db.store.conn().unwrap();
    let limit = Limit { max: 2, window_secs: 900 };
    for _ in 0..2 {
        assert_eq!(throttle::reserve(&mut c, "k", 1000, limit).unwrap(), Admission::Admitted);
    }
    assert_eq!(throttle::lock_if_spent(&mut c, "k", 1000, limit, 60, 900).unwrap(), Some(1060));
    assert_eq!(throttle::lock_if_spent(&mut c, "k", 1000, limit, 60, 900).unwrap(), None, "locked once");
    assert_eq!(throttle::reserve(&mut c, "k", 1059, limit).unwrap(), Admission::Refused { until: 1060 });
    for _ in 0..2 {
        assert_eq!(throttle::reserve(&mut c, "k", 1060, limit).unwrap(), Admission::Admitted);
    }
    assert_eq!(throttle::lock_if_spent(&mut c, "k", 1060, limit, 60, 900).unwrap(), Some(1180), "twice as long");
    throttle::mark(&mut c, "known", 50).unwrap();
    assert!(throttle::marked_since(&mut c, "known", 49).unwrap());
    assert!(!throttle::marked_since(&mut c, "known", 50).unwrap());
}

/// Issue #11 item 6: 40 concurrent reservations against a limit of 10 admit
/// exactly 10 (the check and the count are one atomic step).
fn throttle_reservations_are_atomic(db: &Db) {
    use tessera_store::throttle::{self, Admission, Limit};
    let limit = Limit { max: 10, window_secs: 900 };
    let admitted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..40 {
            s.spawn(|| {
                let mut c = db.store.conn().unwrap();
                if throttle::reserve(&mut c, "pair", 5000, limit).unwrap() == Admission::Admitted {
                    admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 10);
}

/// Issue #11 item 4: consent is kept per user, client and API; the same
/// scope name consented for one API says nothing about another.
fn consent_is_remembered_per_user_client_and_api(db: &Db) {
    use tessera_store::grants;
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("cu", "consent-user")).unwrap();
    clients::insert(&mut c, &client("cc")).unwrap();
    assert_eq!(grants::consent(&mut c, "cu", "cc", "api-a").unwrap(), None);
    grants::record_consent(&mut c, "cu", "cc", "api-a", "read", 1).unwrap();
    grants::record_consent(&mut c, "cu", "cc", "api-a", "read write", 2).unwrap();
    assert_eq!(
        grants::consent(&mut c, "cu", "cc", "api-a").unwrap().as_deref(),
        Some("read write"),
        "replaced, not duplicated"
    );
    assert_eq!(grants::consent(&mut c, "cu", "cc", "api-b").unwrap(), None, "another API is not covered");
    grants::record_consent(&mut c, "cu", "cc", "api-b", "read", 3).unwrap();
    assert_eq!(grants::consent(&mut c, "cu", "cc", "api-a").unwrap().as_deref(), Some("read write"));
    assert!(!clients::find(&mut c, "cc").unwrap().unwrap().first_party);
}

/// An RS256 API with no scopes, a minute's token lifetime.
fn plain_api(id: &str, identifier: &str) -> apis::Api {
    apis::Api {
        id: id.into(),
        identifier: identifier.into(),
        name: id.into(),
        alg: tessera_protocol::model::SigningAlg::RS256,
        token_lifetime_secs: 60,
        scopes: vec![],
        hs256_secret_enc: None,
        created_at: 1,
        updated_at: 1,
    }
}

/// Issue #11 item 7: the resource-server links of an API, which end with
/// either side.
fn resource_servers_are_linked_to_apis(db: &Db) {
    let mut c = db.store.conn().unwrap();
    apis::insert(&mut c, &plain_api("rs-api", "https://rs.example")).unwrap();
    for id in ["rs1", "rs2"] {
        clients::insert(&mut c, &client(id)).unwrap();
    }
    apis::set_resource_servers(&mut c, "rs-api", &["rs2".into(), "rs1".into(), "rs1".into()]).unwrap();
    assert_eq!(apis::resource_servers(&mut c, "rs-api").unwrap(), ["rs1", "rs2"]);
    assert!(apis::is_resource_server(&mut c, "rs-api", "rs1").unwrap());
    let mut all = apis::all_resource_servers(&mut c).unwrap();
    all.sort();
    assert_eq!(all, [("rs-api".to_owned(), "rs1".to_owned()), ("rs-api".to_owned(), "rs2".to_owned())]);
    assert!(matches!(apis::set_resource_servers(&mut c, "rs-api", &["nobody".into()]), Err(StoreError::NotFound(_))));
    apis::set_resource_servers(&mut c, "rs-api", &["rs1".into(), "rs2".into()]).unwrap();
    clients::delete(&mut c, "rs2").unwrap();
    assert_eq!(apis::resource_servers(&mut c, "rs-api").unwrap(), ["rs1"], "a deleted client is no longer linked");
    apis::delete(&mut c, "rs-api").unwrap();
    assert!(!apis::is_resource_server(&mut c, "rs-api", "rs1").unwrap(), "a deleted API has no resource servers");
}

fn admins_sessions_and_setup_tokens(db: &Db) {
    use tessera_store::admins::{self, Admin, AdminSession};
    let mut c = db.store.conn().unwrap();
    assert_eq!(admins::count(&mut c).unwrap(), 0);
    admins::insert_setup_token(&mut c, "h1", 100, 200).unwrap();
    admins::insert_setup_token(&mut c, "h2", 100, 200).unwrap();
    assert!(admins::setup_token_valid(&mut c, "h1", 150).unwrap());
    assert!(!admins::setup_token_valid(&mut c, "h1", 200).unwrap(), "expired");
    assert!(!admins::consume_setup_tokens(&mut c, "h1", 250).unwrap(), "an expired link is refused");
    assert!(admins::consume_setup_tokens(&mut c, "h1", 150).unwrap());
    assert!(!admins::consume_setup_tokens(&mut c, "h1", 150).unwrap(), "single use");
    assert!(!admins::setup_token_valid(&mut c, "h2", 150).unwrap(), "the others are void too");

    let a = Admin {
        id: "a1".into(),
        username: "root".into(),
        password_hash: "$argon2id$x".into(),
        created_at: 1,
        last_login_at: None,
        role: admins::OWNER.into(),
        disabled: false,
        totp_secret_enc: None,
        totp_last_step: None,
    };
    admins::insert(&mut c, &a).unwrap();
    assert!(matches!(admins::insert(&mut c, &Admin { id: "a2".into(), ..a.clone() }), Err(StoreError::Conflict(_))));
    let s = AdminSession {
        id_hash: "s1".into(),
        admin_id: "a1".into(),
        csrf: "t".into(),
        created_at: 10,
        last_seen_at: 10,
        address: None,
        user_agent: None,
        pending: None,
    };
    admins::insert_session(&mut c, &s).unwrap();
    admins::touch_session(&mut c, "s1", 20).unwrap();
    let (found, admin) = admins::session(&mut c, "s1").unwrap().unwrap();
    assert_eq!((found.last_seen_at, found.csrf.as_str(), admin.username.as_str()), (20, "t", "root"));
    let s2 = AdminSession { id_hash: "s2".into(), ..s.clone() };
    admins::insert_session(&mut c, &s2).unwrap();
    admins::set_password(&mut c, "a1", "$argon2id$y", Some("s1")).unwrap();
    assert!(admins::session(&mut c, "s2").unwrap().is_none(), "other sessions end with a new password");
    let (_, changed) = admins::session(&mut c, "s1").unwrap().unwrap();
    assert_eq!(changed.password_hash, "$argon2id$y");
    assert!(matches!(admins::set_password(&mut c, "nobody", "h", None), Err(StoreError::NotFound(_))));
    assert_eq!(admins::purge_sessions(&mut c, 15, 0).unwrap(), 0);
    assert_eq!(admins::purge_sessions(&mut c, 25, 0).unwrap(), 1);
    assert!(admins::session(&mut c, "s1").unwrap().is_none());
}

/// Issue #14: deleting administrators never leaves none, even when every
/// one of them is deleted at once; a deleted administrator's sessions end.
fn the_last_administrator_is_never_deleted(db: &Db) {
    use tessera_store::admins::{self, Admin, AdminSession};
    let admin = |i: i64| Admin {
        id: format!("a{i}"),
        username: format!("admin{i}"),
        password_hash: "$argon2id$x".into(),
        created_at: i,
        last_login_at: None,
        role: admins::OWNER.into(),
        disabled: false,
        totp_secret_enc: None,
        totp_last_step: None,
    };
    {
        let mut c = db.store.conn().unwrap();
        for i in 0..8 {
            admins::insert(&mut c, &admin(i)).unwrap();
        }
        let s = AdminSession {
            id_hash: "s0".into(),
            admin_id: "a0".into(),
            csrf: "t".into(),
            created_at: 1,
            last_seen_at: 1,
            address: None,
            user_agent: None,
            pending: None,
        };
        admins::insert_session(&mut c, &s).unwrap();
        assert_eq!(admins::all(&mut c).unwrap().iter().map(|a| a.username.as_str()).next(), Some("admin0"));
        assert!(matches!(admins::delete_unless_last(&mut c, "nobody"), Err(StoreError::NotFound(_))));
    }
    let won = winners(db, |c, i| {
        let id = format!("a{i}");
        c.transaction(|c| admins::delete_unless_last(c, &id)).is_ok()
    });
    let mut c = db.store.conn().unwrap();
    let left = admins::count(&mut c).unwrap();
    assert!(left >= 1, "an administrator remains");
    assert_eq!(won as i64, 8 - left, "every refusal left its administrator");
    let last = admins::all(&mut c).unwrap();
    assert!(matches!(admins::delete_unless_last(&mut c, &last[0].id), Err(StoreError::Conflict(_))));
    if admins::find(&mut c, "a0").unwrap().is_none() {
        assert!(admins::session(&mut c, "s0").unwrap().is_none(), "a deleted administrator's sessions end");
    }
}

/// Issue #18 item 2: the last enabled owner can be neither demoted, nor
/// disabled, nor removed, even when every owner is changed at once; other
/// roles can; disabling ends the administrator's sessions.
fn the_last_owner_is_never_demoted_disabled_or_removed(db: &Db) {
    use tessera_store::admins::{self, Admin, AdminSession};
    let admin = |i: i64, role: &str| Admin {
        id: format!("o{i}"),
        username: format!("owner{i}"),
        password_hash: "$argon2id$x".into(),
        created_at: i,
        last_login_at: None,
        role: role.into(),
        disabled: false,
        totp_secret_enc: None,
        totp_last_step: None,
    };
    {
        let mut c = db.store.conn().unwrap();
        for i in 0..6 {
            admins::insert(&mut c, &admin(i, admins::OWNER)).unwrap();
        }
        admins::insert(&mut c, &admin(9, "viewer")).unwrap();
        let s = AdminSession {
            id_hash: "v9".into(),
            admin_id: "o9".into(),
            csrf: "t".into(),
            created_at: 1,
            last_seen_at: 1,
            address: Some("192.0.2.1".into()),
            user_agent: Some("test".into()),
            pending: None,
        };
        admins::insert_session(&mut c, &s).unwrap();
        assert_eq!(admins::sessions_of(&mut c, "o9").unwrap()[0].address.as_deref(), Some("192.0.2.1"));
        admins::set_disabled(&mut c, "o9", true).unwrap();
        assert!(admins::session(&mut c, "v9").unwrap().is_none(), "disabling ends the sessions");
        assert!(admins::sessions_of(&mut c, "o9").unwrap().is_empty());
        admins::set_disabled(&mut c, "o9", false).unwrap();
        assert!(matches!(admins::set_role(&mut c, "nobody", "viewer"), Err(StoreError::NotFound(_))));
    }
    // Three ways to take an owner away, raced by six owners at once.
    let won = winners(db, |c, i| {
        let id = format!("o{}", i % 6);
        c.transaction(|c| match i % 3 {
            0 => admins::set_role(c, &id, "editor").map(drop),
            1 => admins::set_disabled(c, &id, true).map(drop),
            _ => admins::delete_unless_last(c, &id).map(drop),
        })
        .is_ok()
    });
    let mut c = db.store.conn().unwrap();
    assert_eq!(admins::count_owners(&mut c).unwrap(), 1, "exactly one owner is left ({won} changes won)");
    let last = admins::all(&mut c).unwrap().into_iter().find(|a| a.role == admins::OWNER && !a.disabled).unwrap();
    assert!(matches!(admins::set_role(&mut c, &last.id, "viewer"), Err(StoreError::Conflict(_))));
    assert!(matches!(admins::set_disabled(&mut c, &last.id, true), Err(StoreError::Conflict(_))));
    assert!(matches!(admins::delete_unless_last(&mut c, &last.id), Err(StoreError::Conflict(_))));
    admins::set_role(&mut c, &last.id, admins::OWNER).unwrap();
    admins::delete_unless_last(&mut c, "o9").unwrap();
}

/// Issue #18 item 2: an invitation is used once and not after it expires.
fn admin_invitations_are_single_use_and_expire(db: &Db) {
    use tessera_store::admins::{self, Invitation};
    let mut c = db.store.conn().unwrap();
    let inv = |h: &str| Invitation {
        token_hash: h.into(),
        role: "editor".into(),
        invited_by: "admin:root".into(),
        created_at: 100,
        expires_at: 200,
    };
    admins::insert_invitation(&mut c, &inv("i1")).unwrap();
    admins::insert_invitation(&mut c, &inv("i2")).unwrap();
    assert_eq!(admins::open_invitations(&mut c, 150).unwrap().len(), 2);
    assert!(admins::find_invitation(&mut c, "i1", 150).unwrap().is_some());
    assert!(admins::find_invitation(&mut c, "i1", 200).unwrap().is_none(), "expired");
    assert_eq!(admins::take_invitation(&mut c, "i1", 150).unwrap().unwrap().role, "editor");
    assert!(admins::take_invitation(&mut c, "i1", 150).unwrap().is_none(), "single use");
    assert!(admins::take_invitation(&mut c, "i2", 200).unwrap().is_none(), "an expired link is refused");
    assert!(admins::open_invitations(&mut c, 0).unwrap().is_empty(), "expired invitations are deleted");
}

/// Issue #18 item 2: a TOTP step is accepted once and never an earlier
/// one; recovery codes are single use and belong to their administrator;
/// the second-factor requirement is one server-wide switch, off at first.
fn second_factor_steps_and_recovery_codes_are_single_use(db: &Db) {
    use tessera_store::admins::{self, Admin};
    let mut c = db.store.conn().unwrap();
    let a = Admin {
        id: "t1".into(),
        username: "totp".into(),
        password_hash: "$argon2id$x".into(),
        created_at: 1,
        last_login_at: None,
        role: admins::OWNER.into(),
        disabled: false,
        totp_secret_enc: None,
        totp_last_step: None,
    };
    admins::insert(&mut c, &a).unwrap();
    admins::insert(&mut c, &Admin { id: "t2".into(), username: "other".into(), ..a.clone() }).unwrap();
    admins::set_totp(&mut c, "t1", Some(b"sealed"), Some(100), &["r1".into(), "r2".into()]).unwrap();
    assert_eq!(admins::find(&mut c, "t1").unwrap().unwrap().totp_secret_enc.as_deref(), Some(&b"sealed"[..]));
    assert!(!admins::accept_totp_step(&mut c, "t1", 100).unwrap(), "the enrolment's step is spent");
    assert!(admins::accept_totp_step(&mut c, "t1", 101).unwrap());
    assert!(!admins::accept_totp_step(&mut c, "t1", 101).unwrap(), "single use");
    assert!(!admins::accept_totp_step(&mut c, "t1", 99).unwrap(), "never an earlier step");
    assert_eq!(admins::recovery_codes_left(&mut c, "t1").unwrap(), 2);
    assert!(!admins::use_recovery_code(&mut c, "t2", "r1").unwrap(), "another administrator's code");
    assert!(admins::use_recovery_code(&mut c, "t1", "r1").unwrap());
    assert!(!admins::use_recovery_code(&mut c, "t1", "r1").unwrap(), "single use");
    admins::set_totp(&mut c, "t1", None, None, &[]).unwrap();
    assert_eq!(admins::recovery_codes_left(&mut c, "t1").unwrap(), 0, "removed with the secret");
    assert!(!admins::second_factor_required(&mut c).unwrap());
    admins::set_second_factor_required(&mut c, true).unwrap();
    assert!(admins::second_factor_required(&mut c).unwrap());
}

/// Issue #18 item 2: passkeys belong to their administrator (one credential
/// id enrolled once, removed only by its owner, gone with them); a
/// ceremony is taken once, only as the kind it was started as and before
/// it expires, and ends with its session.
fn passkeys_belong_to_their_administrator_and_ceremonies_are_single_use(db: &Db) {
    use tessera_store::admins::{self, Admin, AdminSession};
    use tessera_store::passkeys::{self, Passkey};
    let mut c = db.store.conn().unwrap();
    let a = Admin {
        id: "p1".into(),
        username: "keys".into(),
        password_hash: "$argon2id$x".into(),
        created_at: 1,
        last_login_at: None,
        role: admins::OWNER.into(),
        disabled: false,
        totp_secret_enc: None,
        totp_last_step: None,
    };
    admins::insert(&mut c, &a).unwrap();
    admins::insert(&mut c, &Admin { id: "p2".into(), username: "other-keys".into(), ..a.clone() }).unwrap();
    let k = Passkey {
        id: "k1".into(),
        admin_id: "p1".into(),
        credential_id: "cred-1".into(),
        name: "Laptop".into(),
        credential: "{}".into(),
        created_at: 10,
        last_used_at: None,
    };
    passkeys::insert(&mut c, &k).unwrap();
    let again = Passkey { id: "k2".into(), admin_id: "p2".into(), ..k.clone() };
    assert!(matches!(passkeys::insert(&mut c, &again), Err(StoreError::Conflict(_))), "one credential, once");
    passkeys::insert(&mut c, &Passkey { id: "k3".into(), credential_id: "cred-3".into(), created_at: 20, ..k.clone() })
        .unwrap();
    assert_eq!(passkeys::count(&mut c, "p1").unwrap(), 2);
    assert_eq!(
        passkeys::of_admin(&mut c, "p1").unwrap().iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["k1", "k3"]
    );
    assert!(!passkeys::record_use(&mut c, "p2", "cred-1", "{\"n\":1}", 30).unwrap(), "another administrator's");
    assert!(passkeys::record_use(&mut c, "p1", "cred-1", "{\"n\":1}", 30).unwrap());
    let used = passkeys::of_admin(&mut c, "p1").unwrap().remove(0);
    assert_eq!((used.credential.as_str(), used.last_used_at), ("{\"n\":1}", Some(30)));
    assert!(passkeys::delete(&mut c, "p2", "k1").unwrap().is_none(), "only its owner removes it");
    assert_eq!(passkeys::delete(&mut c, "p1", "k1").unwrap().unwrap().name, "Laptop");
    assert!(!passkeys::record_use(&mut c, "p1", "cred-1", "{}", 40).unwrap(), "a removed passkey is not used");

    let session = AdminSession {
        id_hash: "ps1".into(),
        admin_id: "p1".into(),
        csrf: "c".into(),
        created_at: 1,
        last_seen_at: 1,
        address: None,
        user_agent: None,
        pending: None,
    };
    admins::insert_session(&mut c, &session).unwrap();
    passkeys::put_ceremony(&mut c, "ps1", "register", b"old", 100).unwrap();
    passkeys::put_ceremony(&mut c, "ps1", "register", b"state", 100).unwrap();
    assert_eq!(passkeys::take_ceremony(&mut c, "ps1", "register", 50).unwrap().as_deref(), Some(&b"state"[..]));
    assert!(passkeys::take_ceremony(&mut c, "ps1", "register", 50).unwrap().is_none(), "single use");
    passkeys::put_ceremony(&mut c, "ps1", "register", b"state", 100).unwrap();
    assert!(passkeys::take_ceremony(&mut c, "ps1", "authenticate", 50).unwrap().is_none(), "another kind");
    assert!(passkeys::take_ceremony(&mut c, "ps1", "register", 50).unwrap().is_none(), "and it is spent");
    passkeys::put_ceremony(&mut c, "ps1", "authenticate", b"state", 100).unwrap();
    assert!(passkeys::take_ceremony(&mut c, "ps1", "authenticate", 100).unwrap().is_none(), "expired");
    passkeys::put_ceremony(&mut c, "ps1", "authenticate", b"state", 100).unwrap();
    admins::delete_session(&mut c, "ps1").unwrap();
    assert!(passkeys::take_ceremony(&mut c, "ps1", "authenticate", 50).unwrap().is_none(), "ends with its session");
    admins::delete_unless_last(&mut c, "p1").unwrap();
    assert_eq!(passkeys::count(&mut c, "p1").unwrap(), 0, "gone with their administrator");
}

/// Issue #14: the audit log pages by (time, id), newest or oldest first,
/// within a time range, each event once.
fn audit_events_page_by_keyset(db: &Db) {
    let mut c = db.store.conn().unwrap();
    for (id, at) in [("e1", 10), ("e2", 10), ("e3", 20), ("e4", 30), ("e5", 30)] {
        audit::record(&mut c, &audit_event(id, at, "{}")).unwrap();
    }
    let all = audit::AuditFilter::default();
    let ids = |events: Vec<audit::ChainedEvent>| events.into_iter().map(|e| e.event.id).collect::<Vec<_>>();
    assert_eq!(ids(audit::page(&mut c, &all, None, None, false, None, 2).unwrap()), ["e5", "e4"]);
    assert_eq!(ids(audit::page(&mut c, &all, None, None, false, Some((30, "e4")), 2).unwrap()), ["e3", "e2"]);
    assert_eq!(ids(audit::page(&mut c, &all, None, None, false, Some((10, "e2")), 2).unwrap()), ["e1"]);
    assert_eq!(ids(audit::page(&mut c, &all, None, None, true, Some((10, "e2")), 2).unwrap()), ["e3", "e4"]);
    assert_eq!(ids(audit::page(&mut c, &all, Some(20), Some(30), false, None, 9).unwrap()), ["e3"]);
    assert_eq!(audit::find(&mut c, "e3").unwrap().map(|e| e.event.at), Some(20));
    assert!(audit::find(&mut c, "nope").unwrap().is_none());
}

fn clients_naming_an_audience(db: &Db) {
    let mut c = db.store.conn().unwrap();
    let mut a = client("a");
    a.allowed_audiences = Some(vec!["https://x.example/api".into(), "https://y.example".into()]);
    let mut b = client("b");
    b.allowed_audiences = Some(vec!["https://x.example/api2".into(), "https://x_example/api".into()]);
    for cl in [&a, &b, &client("c")] {
        clients::insert(&mut c, cl).unwrap();
    }
    let naming = |c: &mut _, aud: &str| -> Vec<String> {
        clients::naming_audience(c, aud).unwrap().into_iter().map(|cl| cl.id).collect()
    };
    assert_eq!(naming(&mut c, "https://x.example/api"), ["a"], "a prefix of b's is not b's");
    // `_` is a LIKE wildcard that also matches a's `.`; the exact test drops a.
    assert_eq!(naming(&mut c, "https://x_example/api"), ["b"]);
    assert!(clients::naming_audience(&mut c, "https://none.example").unwrap().is_empty());
}

/// Issue #11 item 15 (docs/security-checklist.md R-4): expired codes, sessions, refresh
/// families, setup links and throttle windows are deleted in bounded
/// batches; live rows, used codes still inside their retention and rotated
/// tokens of a live family stay (they detect replays).
fn expired_state_is_purged_in_batches(db: &Db) {
    use tessera_store::grants::{self, AuthorizationCode, RefreshToken, Session};
    use tessera_store::{admins, purge, throttle};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("pu", "purge-user")).unwrap();
    clients::insert(&mut c, &client("pc")).unwrap();
    let code = |hash: &str, expires_at: i64| AuthorizationCode {
        code_hash: hash.into(),
        client_id: "pc".into(),
        user_id: "pu".into(),
        redirect_uri: "https://app.example/cb".into(),
        scopes: "openid".into(),
        audience: None,
        nonce: None,
        code_challenge: None,
        auth_time: 1,
        created_at: 1,
        expires_at,
        used_at: Some(2),
        family_id: "f".into(),
        access_jti: None,
        access_expires_at: None,
        replayed_at: None,
        dpop_jkt: None,
        sid: None,
        amr: None,
    };
    for i in 0..5 {
        grants::insert_code(&mut c, &code(&format!("old{i}"), 100)).unwrap();
    }
    grants::insert_code(&mut c, &code("live", 1_000)).unwrap();
    assert_eq!(purge::authorization_codes(&mut c, 500, 2).unwrap(), 2, "one batch is bounded");
    assert_eq!(purge::authorization_codes(&mut c, 500, 2).unwrap(), 2);
    assert_eq!(purge::authorization_codes(&mut c, 500, 2).unwrap(), 1);
    assert_eq!(purge::authorization_codes(&mut c, 500, 2).unwrap(), 0);
    assert!(grants::code(&mut c, "live").unwrap().is_some());
    assert!(grants::code(&mut c, "old0").unwrap().is_none());

    let rt = |id: &str, family: &str, absolute: i64| RefreshToken {
        id: id.into(),
        family_id: family.into(),
        token_hash: format!("hash-{id}"),
        client_id: "pc".into(),
        user_id: "pu".into(),
        api_id: "a".into(),
        scopes: "read".into(),
        created_at: 1,
        absolute_expires_at: absolute,
        idle_expires_at: 10,
        used_at: Some(5),
        revoked_at: None,
        grant_type: Some(GrantType::Password),
        access: None,
        dpop_jkt: None,
        auth_time: None,
        sid: None,
        amr: None,
    };
    grants::insert(&mut c, &rt("dead1", "dead", 100)).unwrap();
    grants::insert(&mut c, &rt("dead2", "dead", 100)).unwrap();
    // Rotated and idle-expired, but its family lives: reuse must still be seen.
    grants::insert(&mut c, &rt("rotated", "live", 1_000)).unwrap();
    assert_eq!(purge::refresh_tokens(&mut c, 500, 10).unwrap(), 2);
    assert!(grants::find_by_hash(&mut c, "hash-rotated").unwrap().is_some());

    let session = |id: &str, expires_at: i64| Session {
        id_hash: id.into(),
        user_id: "pu".into(),
        auth_time: 1,
        created_at: 1,
        expires_at,
        amr: "pwd".into(),
    };
    grants::insert_session(&mut c, &session("s-old", 100)).unwrap();
    grants::insert_session(&mut c, &session("s-live", 1_000)).unwrap();
    assert_eq!(purge::sessions(&mut c, 500, 10).unwrap(), 1);
    assert!(grants::session(&mut c, "s-live", 500).unwrap().is_some());

    admins::insert_setup_token(&mut c, "link-old", 1, 100).unwrap();
    admins::insert_setup_token(&mut c, "link-live", 1, 1_000).unwrap();
    assert_eq!(purge::admin_setup_tokens(&mut c, 500, 10).unwrap(), 1);
    assert!(admins::setup_token_valid(&mut c, "link-live", 500).unwrap());

    let limit = throttle::Limit { max: 1, window_secs: 60 };
    throttle::record_failure(&mut c, "old-window", 100, limit).unwrap();
    throttle::record_failure(&mut c, "live-window", 480, limit).unwrap();
    throttle::record_failure(&mut c, "locked", 100, limit).unwrap();
    assert!(throttle::lock_if_spent(&mut c, "locked", 100, limit, 1_000, 1_000).unwrap().is_some());
    throttle::mark(&mut c, "login:known:someone|127.0.0.1", 450).unwrap();
    assert_eq!(purge::login_failures(&mut c, 440, 500, 10).unwrap(), 1, "only the old, unlocked window");
    assert!(matches!(throttle::check(&mut c, "live-window", 500, limit).unwrap(), throttle::Admission::Refused { .. }));
    assert!(matches!(throttle::check(&mut c, "locked", 500, limit).unwrap(), throttle::Admission::Refused { .. }));
    assert!(throttle::marked_since(&mut c, "login:known:someone|127.0.0.1", 400).unwrap());
}

/// docs/security-checklist.md O-21 (storage half): an authorization code is
/// redeemed once. Redemption is one conditional UPDATE, so of two
/// redemptions, sequential or concurrent, on any node, exactly one wins.
fn authorization_codes_are_single_use(db: &Db) {
    use tessera_store::grants::{self, AuthorizationCode};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("acu", "code-user")).unwrap();
    clients::insert(&mut c, &client("acc")).unwrap();
    let code = |hash: &str| AuthorizationCode {
        code_hash: hash.into(),
        client_id: "acc".into(),
        user_id: "acu".into(),
        redirect_uri: "https://app.example/cb".into(),
        scopes: "openid".into(),
        audience: None,
        nonce: Some("n".into()),
        code_challenge: Some("challenge".into()),
        auth_time: 1,
        created_at: 1,
        expires_at: 61,
        used_at: None,
        family_id: format!("fam-{hash}"),
        access_jti: None,
        access_expires_at: None,
        replayed_at: None,
        dpop_jkt: None,
        sid: None,
        amr: None,
    };
    grants::insert_code(&mut c, &code("once")).unwrap();
    let stored = grants::code(&mut c, "once").unwrap().unwrap();
    assert_eq!((stored.used_at, stored.nonce.as_deref(), stored.family_id.as_str()), (None, Some("n"), "fam-once"));
    assert!(grants::redeem_code(&mut c, "once", 5).unwrap(), "first redemption wins");
    assert!(!grants::redeem_code(&mut c, "once", 6).unwrap(), "second redemption loses");
    assert_eq!(grants::code(&mut c, "once").unwrap().unwrap().used_at, Some(5), "the first redemption is kept");
    assert!(!grants::redeem_code(&mut c, "unknown", 5).unwrap(), "an unknown code redeems nothing");

    grants::insert_code(&mut c, &code("raced")).unwrap();
    assert_eq!(
        winners(db, |c, now| grants::redeem_code(c, "raced", 10 + now).unwrap()),
        1,
        "of concurrent redemptions exactly one wins"
    );
    assert!(grants::code(&mut c, "raced").unwrap().unwrap().used_at.is_some());

    // Ending a user's grants expires the codes not yet redeemed.
    grants::insert_code(&mut c, &code("pending")).unwrap();
    grants::end_user_grants(&mut c, "acu", 20).unwrap();
    assert_eq!(grants::code(&mut c, "pending").unwrap().unwrap().expires_at, 20);
    assert_eq!(grants::code(&mut c, "once").unwrap().unwrap().expires_at, 61, "a redeemed code is left as it was");
}

/// Browser sessions: stored by hash, found until they expire (and not at
/// the expiry instant), ended one at a time or all of a user's at once.
fn browser_sessions_live_expire_and_end(db: &Db) {
    use tessera_store::grants::{self, Session};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("su", "session-user")).unwrap();
    users::insert(&mut c, &user("so", "other-user")).unwrap();
    let session = |id: &str, user_id: &str, expires_at: i64| Session {
        id_hash: id.into(),
        user_id: user_id.into(),
        auth_time: 7,
        created_at: 10,
        expires_at,
        amr: "pwd".into(),
    };
    grants::insert_session(&mut c, &session("s1", "su", 100)).unwrap();
    assert!(matches!(grants::insert_session(&mut c, &session("s1", "so", 100)), Err(StoreError::Conflict(_))));
    let found = grants::session(&mut c, "s1", 50).unwrap().unwrap();
    assert_eq!((found.user_id.as_str(), found.auth_time, found.created_at, found.expires_at), ("su", 7, 10, 100));
    assert!(grants::session(&mut c, "s1", 99).unwrap().is_some());
    assert!(grants::session(&mut c, "s1", 100).unwrap().is_none(), "expired at its expiry instant");
    assert!(grants::session(&mut c, "nope", 50).unwrap().is_none());

    grants::delete_session(&mut c, "s1").unwrap();
    assert!(grants::session(&mut c, "s1", 50).unwrap().is_none(), "an ended session is gone");
    grants::delete_session(&mut c, "s1").unwrap();

    grants::insert_session(&mut c, &session("s2", "su", 100)).unwrap();
    grants::insert_session(&mut c, &session("s3", "su", 100)).unwrap();
    grants::insert_session(&mut c, &session("s4", "so", 100)).unwrap();
    assert_eq!(grants::end_user_grants(&mut c, "su", 50).unwrap(), (0, 2), "both of the user's sessions end");
    assert!(grants::session(&mut c, "s2", 50).unwrap().is_none());
    assert!(grants::session(&mut c, "s4", 50).unwrap().is_some(), "another user's session lives");
}

/// Domain values are stored by name and parsed when a row is read: a name
/// the code does not know is `Corrupt`, never a panic nor a silent default.
fn unknown_stored_names_are_corrupt(db: &Db) {
    let mut c = db.store.conn().unwrap();
    clients::insert(&mut c, &client("nc")).unwrap();
    keys::insert(
        &mut c,
        &SigningKey {
            kid: "nk".into(),
            alg: "RS256".into(),
            state: KeyState::Next,
            private_key_enc: vec![],
            public_jwk: "{}".into(),
            created_at: 1,
            activated_at: None,
            retired_at: None,
        },
    )
    .unwrap();
    assert_eq!(clients::find(&mut c, "nc").unwrap().unwrap().grant_types, [GrantType::ClientCredentials]);
    assert_eq!(keys::all(&mut c).unwrap()[0].state, KeyState::Next);
    diesel::sql_query(r#"UPDATE clients SET grant_types = '["client_credentials","jwt-bearer"]'"#)
        .execute(&mut c)
        .unwrap();
    diesel::sql_query("UPDATE signing_keys SET state = 'paused'").execute(&mut c).unwrap();
    assert!(matches!(clients::find(&mut c, "nc"), Err(StoreError::Corrupt(_))));
    assert!(matches!(keys::all(&mut c), Err(StoreError::Corrupt(_))));
}

fn audit_event(id: &str, at: i64, detail: &str) -> audit::AuditEvent {
    audit::AuditEvent {
        id: id.into(),
        at,
        actor: "admin:alice".into(),
        action: "client.create".into(),
        target: "c1".into(),
        detail: detail.into(),
    }
}

fn broken(db: &Db) -> audit::BrokenLink {
    match audit::verify(&mut db.store.conn().unwrap()).unwrap() {
        audit::ChainReport::Broken(b) => b,
        intact => panic!("expected a broken chain, got {intact:?}"),
    }
}

/// Issue #18 item 8: events chain from the genesis value with the encoding
/// the module doc gives (the vector is the doc's Python script's output);
/// a changed detail, a removed entry and a removed last entry are each
/// reported at the first broken link.
fn audit_chain_verifies_and_detects_tampering(db: &Db) {
    assert_eq!(
        audit::entry_hash(audit::GENESIS, &audit_event("e0", 1_764_460_800, r#"{"name":"Ünïcode"}"#)),
        "44ed711f74d97eae30c1e370aa96be870f642a2e17017b3823b5dee0ae16eebe"
    );
    assert_eq!(
        audit::verify(&mut db.store.conn().unwrap()).unwrap(),
        audit::ChainReport::Intact { count: 0, head: audit::GENESIS.into() }
    );
    for i in 0..5 {
        db.store.tx(|c| audit::record(c, &audit_event(&format!("e{i}"), 100 + i, "{}"))).unwrap();
    }
    let rows = audit::chained(&mut db.store.conn().unwrap(), None, None, 0, 100).unwrap();
    assert_eq!(rows.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(rows[0].prev_hash.as_deref(), Some(audit::GENESIS));
    assert_eq!(rows[1].prev_hash, rows[0].hash);
    let audit::ChainReport::Intact { count: 5, head } = audit::verify(&mut db.store.conn().unwrap()).unwrap() else {
        panic!("chain should hold 5 entries");
    };
    assert_eq!(Some(head), rows[4].hash);

    let mut c = db.store.conn().unwrap();
    diesel::sql_query(r#"UPDATE audit_events SET detail = '{"x":1}' WHERE id = 'e2'"#).execute(&mut c).unwrap();
    let b = broken(db);
    assert_eq!((b.seq, b.entry), (3, Some(("e2".into(), 102))));
    assert!(b.problem.contains("was changed"), "{}", b.problem);

    diesel::sql_query("UPDATE audit_events SET detail = '{}' WHERE id = 'e2'").execute(&mut c).unwrap();
    assert!(matches!(audit::verify(&mut c).unwrap(), audit::ChainReport::Intact { count: 5, .. }));
    diesel::sql_query("DELETE FROM audit_events WHERE id = 'e1'").execute(&mut c).unwrap();
    let b = broken(db);
    assert_eq!((b.seq, b.entry), (3, Some(("e2".into(), 102))));
    assert!(b.problem.contains("entry 2 is missing"), "{}", b.problem);

    diesel::sql_query("DELETE FROM audit_events WHERE id <> 'e0'").execute(&mut c).unwrap();
    let b = broken(db);
    assert_eq!((b.seq, b.entry), (2, None));
    assert!(b.problem.contains("the entries end at 1"), "{}", b.problem);
}

/// Issue #18 item 8: appends from many threads at once (several nodes on
/// PostgreSQL) wait for the chain head and form one unbroken chain.
fn audit_appends_chain_under_concurrency(db: &Db) {
    std::thread::scope(|s| {
        for t in 0..6 {
            s.spawn(move || {
                for i in 0..10 {
                    db.store.tx(|c| audit::record(c, &audit_event(&format!("t{t}-{i}"), 1000 + i, "{}"))).unwrap();
                }
            });
        }
    });
    let mut c = db.store.conn().unwrap();
    assert!(matches!(audit::verify(&mut c).unwrap(), audit::ChainReport::Intact { count: 60, .. }));
    let rows = audit::chained(&mut c, None, None, 0, 1000).unwrap();
    assert_eq!(rows.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(), (1..=60).collect::<Vec<_>>());
}

/// Issue #18 item 8: events written before the chain existed (null links,
/// as migration 000011 leaves them) fail verification until the store
/// migrates, which chains them oldest first after the existing head; the
/// export reads a time range in chain order.
fn audit_rows_from_before_the_chain_are_chained_at_migrate(db: &Db) {
    db.store.tx(|c| audit::record(c, &audit_event("new", 50, "{}"))).unwrap();
    let mut c = db.store.conn().unwrap();
    diesel::sql_query(
        "INSERT INTO audit_events (id, at, actor, action, target, detail) VALUES \
         ('old-b', 20, 'cli', 'user.create', 'u', '{}'), ('old-a', 10, 'cli', 'user.create', 'u', '{}')",
    )
    .execute(&mut c)
    .unwrap();
    let b = broken(db);
    assert_eq!(b.entry, Some(("old-a".into(), 10)));
    assert!(b.problem.contains("not in the chain"), "{}", b.problem);
    drop(c);
    db.store.migrate().unwrap();
    let mut c = db.store.conn().unwrap();
    assert!(matches!(audit::verify(&mut c).unwrap(), audit::ChainReport::Intact { count: 3, .. }));
    let ids = |rows: Vec<audit::ChainedEvent>| rows.into_iter().map(|r| r.event.id).collect::<Vec<_>>();
    assert_eq!(ids(audit::chained(&mut c, None, None, 0, 10).unwrap()), ["new", "old-a", "old-b"]);
    assert_eq!(ids(audit::chained(&mut c, Some(15), Some(50), 0, 10).unwrap()), ["old-b"]);
    assert_eq!(ids(audit::chained(&mut c, None, None, 1, 1).unwrap()), ["old-a"]);
}

/// Issue #15 item 1: revocations are read incrementally (new ids, and rows
/// written recently whatever their id), skip expired rows, and are purged
/// once every token they cover has expired.
fn revocations_are_read_incrementally_and_purged(db: &Db) {
    use tessera_store::revocations::{self, RevocationKind};
    use tessera_store::{grants, purge};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("vu", "revoked-user")).unwrap();
    clients::insert(&mut c, &client("vc")).unwrap();
    revocations::revoke_token(&mut c, "jti-1", 500, 100).unwrap();
    grants::revoke_client(&mut c, "vc", 110).unwrap();
    grants::end_user_grants(&mut c, "vu", 120).unwrap();
    let all = revocations::since(&mut c, 0, i64::MAX, 200).unwrap();
    let seen: Vec<_> = all.iter().map(|r| (r.kind, r.subject.as_str(), r.issued_before)).collect();
    assert_eq!(
        seen,
        [(RevocationKind::Token, "jti-1", 500), (RevocationKind::Client, "vc", 111), (RevocationKind::User, "vu", 121)]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "oldest first, ids grow");
    let last = all.last().unwrap().id;
    assert!(revocations::since(&mut c, last, i64::MAX, 200).unwrap().is_empty(), "nothing new");
    let recent = revocations::since(&mut c, last, 110, 200).unwrap();
    assert_eq!(recent.len(), 2, "rows written since 110 come again whatever their id");
    assert_eq!(revocations::since(&mut c, 0, i64::MAX, 500).unwrap().len(), 2, "the expired token is skipped");
    assert_eq!(purge::revocations(&mut c, 501, 10).unwrap(), 1, "only the expired row goes");
    let cut_off_end = 110 + revocations::CUT_OFF_RETENTION_SECS;
    assert_eq!(purge::revocations(&mut c, cut_off_end + 1, 10).unwrap(), 1);
    assert_eq!(revocations::since(&mut c, 0, 0, 0).unwrap().len(), 1);
}

/// Issue #15 item 1: revoking a family revokes the unexpired access tokens
/// issued with its refresh tokens.
fn revoking_a_family_revokes_its_access_tokens(db: &Db) {
    use tessera_store::grants::{self, IssuedAccess, RefreshToken};
    use tessera_store::revocations;
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("fu", "family-user")).unwrap();
    clients::insert(&mut c, &client("fc")).unwrap();
    let t = |id: &str, access: Option<(&str, i64)>| RefreshToken {
        id: id.into(),
        family_id: "fam-at".into(),
        token_hash: format!("h-{id}"),
        client_id: "fc".into(),
        user_id: "fu".into(),
        api_id: "a".into(),
        scopes: "read".into(),
        created_at: 1,
        absolute_expires_at: 1000,
        idle_expires_at: 500,
        used_at: None,
        revoked_at: None,
        grant_type: Some(GrantType::AuthorizationCode),
        access: access.map(|(jti, exp)| IssuedAccess { jti: jti.into(), expires_at: exp }),
        dpop_jkt: None,
        auth_time: None,
        sid: None,
        amr: None,
    };
    grants::insert(&mut c, &t("r1", Some(("at-1", 50)))).unwrap();
    grants::insert(&mut c, &t("r2", Some(("at-2", 400)))).unwrap();
    grants::insert(&mut c, &t("r3", None)).unwrap();
    assert_eq!(grants::find_by_hash(&mut c, "h-r2").unwrap().unwrap().access.unwrap().jti, "at-2");
    assert_eq!(db.store.tx(|c| grants::revoke_family(c, "fam-at", 100)).unwrap(), 3);
    let revoked: Vec<_> = revocations::since(&mut c, 0, 0, 100).unwrap().into_iter().map(|r| r.subject).collect();
    assert_eq!(revoked, ["at-2"], "the expired access token needs no row");
}

/// Issue #15 item 1 (RFC 6749 §4.1.2): a replay and the redemption it races
/// meet on the code's row: whichever writes second sees the other, in
/// either order, and under real concurrency on two connections.
fn code_replay_and_redemption_meet_in_either_order(db: &Db) {
    use tessera_store::grants::{self, AuthorizationCode, IssuedAccess};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("xu", "replay-user")).unwrap();
    clients::insert(&mut c, &client("xc")).unwrap();
    let code = |hash: &str| AuthorizationCode {
        code_hash: hash.into(),
        client_id: "xc".into(),
        user_id: "xu".into(),
        redirect_uri: "https://app.example/cb".into(),
        scopes: "openid".into(),
        audience: None,
        nonce: None,
        code_challenge: None,
        auth_time: 1,
        created_at: 1,
        expires_at: 61,
        used_at: Some(2),
        family_id: format!("fam-{hash}"),
        access_jti: None,
        access_expires_at: None,
        replayed_at: None,
        dpop_jkt: None,
        sid: None,
        amr: None,
    };
    let access = IssuedAccess { jti: "code-at".into(), expires_at: 3600 };
    grants::insert_code(&mut c, &code("redeemed-first")).unwrap();
    assert!(!db.store.tx(|c| grants::record_code_tokens(c, "redeemed-first", &access)).unwrap());
    assert_eq!(db.store.tx(|c| grants::mark_code_replayed(c, "redeemed-first", 5)).unwrap(), Some(access.clone()));
    grants::insert_code(&mut c, &code("replayed-first")).unwrap();
    assert_eq!(db.store.tx(|c| grants::mark_code_replayed(c, "replayed-first", 5)).unwrap(), None);
    assert!(db.store.tx(|c| grants::record_code_tokens(c, "replayed-first", &access)).unwrap());
    assert_eq!(grants::code(&mut c, "replayed-first").unwrap().unwrap().replayed_at, Some(5));
    drop(c);
    for round in 0..20 {
        let hash = format!("race-{round}");
        grants::insert_code(&mut db.store.conn().unwrap(), &code(&hash)).unwrap();
        let barrier = std::sync::Barrier::new(2);
        let (seen_by_redemption, seen_by_replay) = std::thread::scope(|s| {
            let redeem = s.spawn(|| {
                barrier.wait();
                db.store.tx(|c| grants::record_code_tokens(c, &hash, &access)).unwrap()
            });
            let replay = s.spawn(|| {
                barrier.wait();
                db.store.tx(|c| grants::mark_code_replayed(c, &hash, 9)).unwrap()
            });
            (redeem.join().unwrap(), replay.join().unwrap())
        });
        assert!(
            seen_by_redemption ^ seen_by_replay.is_some(),
            "round {round}: exactly one side sees the other ({seen_by_redemption}, {seen_by_replay:?})"
        );
    }
}

/// Migration 000014: triggers move the `config` counter with every change of
/// the snapshot's tables, and the `locks` counter only when a client lock
/// is set or removed (not on every counted failure, not for sign-in keys).
fn config_generation_moves_with_every_change(db: &Db) {
    use tessera_store::generation::{self, Generation};
    use tessera_store::throttle::{self, Limit};
    let mut c = db.store.conn().unwrap();
    let start = generation::read(&mut c).unwrap();
    let mut last = start;
    let mut moved = |c: &mut tessera_store::DbConn, what: &str| {
        let now = generation::read(c).unwrap();
        assert!(now.config > last.config, "{what} moves the config counter");
        assert_eq!(now.locks, last.locks, "{what} leaves the lock counter");
        last = now;
    };
    users::insert(&mut c, &user("u1", "alice")).unwrap();
    moved(&mut c, "a new user");
    clients::insert(&mut c, &client("c1")).unwrap();
    moved(&mut c, "a new client");
    apis::insert(&mut c, &plain_api("g-api", "https://g.example")).unwrap();
    moved(&mut c, "a new API");
    apis::set_resource_servers(&mut c, "g-api", &["c1".into()]).unwrap();
    moved(&mut c, "a resource server linked");
    apis::set_resource_servers(&mut c, "g-api", &[]).unwrap();
    moved(&mut c, "a resource server unlinked");
    apis::delete(&mut c, "g-api").unwrap();
    moved(&mut c, "a deleted API");
    clients::update(&mut c, &Client { disabled: true, ..client("c1") }).unwrap();
    moved(&mut c, "a client update");
    let secret = ClientSecret {
        id: "s1".into(),
        client_id: "c1".into(),
        secret_hash: "h".into(),
        hint: "h".into(),
        created_at: 1,
        expires_at: None,
        revoked_at: None,
    };
    clients::insert_secret(&mut c, &secret).unwrap();
    moved(&mut c, "a new secret");
    assert_eq!(generation::unrevoked_client_secrets(&mut c).unwrap().len(), 1);
    clients::revoke_secret(&mut c, "c1", "s1", 2).unwrap();
    moved(&mut c, "a revoked secret");
    assert!(generation::unrevoked_client_secrets(&mut c).unwrap().is_empty());
    clients::delete(&mut c, "c1").unwrap();
    moved(&mut c, "a deleted client");
    users::delete(&mut c, "u1").unwrap();
    moved(&mut c, "a deleted user");

    let limit = Limit { max: 1, window_secs: 60 };
    throttle::record_failure(&mut c, "client:pair:x|a", 10, limit).unwrap();
    throttle::record_failure(&mut c, "login:pair:x|a", 10, limit).unwrap();
    throttle::lock_if_spent(&mut c, "login:pair:x|a", 10, limit, 30, 300).unwrap().unwrap();
    assert_eq!(generation::read(&mut c).unwrap(), last, "failures and sign-in locks move nothing");
    let until = throttle::lock_if_spent(&mut c, "client:pair:x|a", 10, limit, 30, 300).unwrap().unwrap();
    let locked = generation::read(&mut c).unwrap();
    assert_eq!(locked, Generation { locks: last.locks + 1, ..last }, "a client lock moves the lock counter");
    assert_eq!(
        throttle::locked_with_prefix(&mut c, "client:pair:", 10).unwrap(),
        vec![("client:pair:x|a".to_string(), until)]
    );
    assert!(
        throttle::locked_with_prefix(&mut c, "client:pair:", until).unwrap().is_empty(),
        "ended locks are left out"
    );
    throttle::clear(&mut c, "client:pair:x|a").unwrap();
    assert_eq!(generation::read(&mut c).unwrap().locks, locked.locks + 1, "removing a client lock moves it too");
    assert!(start.config < last.config);
}

/// Issue #16 item 5: a migrated database has nothing pending; a migration
/// applied by a newer build shows as unknown, which `serve` refuses.
fn schema_status_names_pending_and_newer_migrations(db: &Db) {
    let status = db.store.schema_status().unwrap();
    assert!(status.pending.is_empty() && status.unknown.is_empty(), "{status:?}");
    let latest = status.latest_known.clone().unwrap();
    assert_eq!(latest.len(), 14, "a diesel version: {latest}");
    let mut c = db.store.conn().unwrap();
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('99991231000099')")
        .execute(&mut c)
        .unwrap();
    diesel::sql_query(format!("DELETE FROM __diesel_schema_migrations WHERE version = '{latest}'"))
        .execute(&mut c)
        .unwrap();
    drop(c);
    let status = db.store.schema_status().unwrap();
    assert_eq!(status.unknown, ["99991231000099"]);
    assert_eq!(status.pending, [latest]);
}

/// Nodes started together against a new PostgreSQL database migrate it
/// one at a time (`Store::migrate` holds an advisory lock): without it, two
/// ran the same migration at once and one failed on the catalog's unique
/// index (`pg_type_typname_nsp_index`).
#[test]
fn postgres_nodes_migrating_a_new_database_together_all_succeed() {
    let (db, url) = postgres_unmigrated();
    let nodes = 4;
    let start = std::sync::Barrier::new(nodes);
    let ran: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..nodes)
            .map(|_| {
                let (url, start) = (url.as_str(), &start);
                s.spawn(move || {
                    let store = Store::connect(url, 2, Duration::from_secs(30)).unwrap();
                    start.wait();
                    store.migrate()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap().expect("every node migrates")).collect()
    });
    let known = db.store.schema_status().unwrap();
    assert!(known.pending.is_empty(), "{:?}", known.pending);
    assert_eq!(ran.iter().filter(|&&n| n > 0).count(), 1, "one node ran the migrations: {ran:?}");
}

/// Issue #16 item 5: `VACUUM INTO` writes a copy that opens as a database
/// with the same rows, and PostgreSQL is refused.
#[test]
fn sqlite_backup_is_a_working_copy_and_postgres_is_refused() {
    let db = sqlite();
    db.store.tx(|c| users::insert(c, &user("u-1", "alice"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    db.store.backup_sqlite(&copy).unwrap();
    let restored = Store::connect(&format!("sqlite://{}", copy.display()), 1, Duration::from_secs(5)).unwrap();
    assert!(restored.schema_status().unwrap().pending.is_empty());
    let mut c = restored.conn().unwrap();
    assert_eq!(users::find_by_username(&mut c, "alice").unwrap().map(|u| u.id), Some("u-1".into()));
    drop(c);
    assert!(db.store.backup_sqlite(&copy).is_err(), "an existing, non-empty file is never overwritten");
    let pg = postgres();
    assert!(matches!(pg.store.backup_sqlite(&dir.path().join("pg.db")), Err(StoreError::Backend(_))));
}

/// Device authorization requests (RFC 8628): found by either code's hash,
/// decided once while pending and unexpired, redeemed once after approval
/// (of concurrent polls exactly one wins), a second live request with the
/// same user code is a conflict, and expired requests are purged.
fn device_requests_are_decided_once_and_redeemed_once(db: &Db) {
    use tessera_protocol::grant::device::Status;
    use tessera_store::device::{self, DeviceRequest};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("dvu", "device-user")).unwrap();
    clients::insert(&mut c, &client("dvc")).unwrap();
    let request = |dc: &str, uc: &str| DeviceRequest {
        device_code_hash: dc.into(),
        user_code_hash: uc.into(),
        client_id: "dvc".into(),
        scopes: "openid".into(),
        audience: None,
        created_at: 1,
        expires_at: 601,
        interval_secs: 5,
        last_polled_at: None,
        status: Status::Pending,
        user_id: None,
        auth_time: None,
        used_at: None,
        amr: None,
    };
    device::insert(&mut c, &request("d1", "u1")).unwrap();
    assert!(matches!(device::insert(&mut c, &request("d2", "u1")), Err(StoreError::Conflict(_))));
    assert_eq!(device::by_device_code(&mut c, "d1").unwrap(), Some(request("d1", "u1")));
    assert!(device::pending_by_user_code(&mut c, "u1", 600).unwrap().is_some());
    assert!(device::pending_by_user_code(&mut c, "u1", 601).unwrap().is_none(), "not at the expiry instant");
    device::record_poll(&mut c, "d1", 10, 10).unwrap();
    let polled = device::by_device_code(&mut c, "d1").unwrap().unwrap();
    assert_eq!((polled.last_polled_at, polled.interval_secs), (Some(10), 10));
    assert!(!device::redeem(&mut c, "d1", 11).unwrap(), "a pending request cannot be redeemed");
    assert!(!device::decide(&mut c, "u1", Status::Approved, "dvu", (7, "pwd"), 601).unwrap(), "too late");
    assert!(device::decide(&mut c, "u1", Status::Approved, "dvu", (7, "pwd"), 12).unwrap());
    assert!(!device::decide(&mut c, "u1", Status::Denied, "dvu", (7, "pwd"), 13).unwrap(), "the first decision wins");
    assert!(device::pending_by_user_code(&mut c, "u1", 14).unwrap().is_none());
    device::record_poll(&mut c, "d1", 15, 99).unwrap();
    let approved = device::by_device_code(&mut c, "d1").unwrap().unwrap();
    assert_eq!(
        (approved.status, approved.user_id.as_deref(), approved.auth_time, approved.amr.as_deref()),
        (Status::Approved, Some("dvu"), Some(7), Some("pwd"))
    );
    assert_eq!(approved.interval_secs, 10, "a decided request keeps its polls as they were");
    assert_eq!(
        winners(db, |c, now| device::redeem(c, "d1", 20 + now).unwrap()),
        1,
        "of concurrent redemptions exactly one wins"
    );
    device::insert(&mut c, &request("d3", "u3")).unwrap();
    assert!(device::decide(&mut c, "u3", Status::Denied, "dvu", (7, "pwd"), 12).unwrap());
    assert!(!device::redeem(&mut c, "d3", 13).unwrap(), "a denied request cannot be redeemed");
    assert_eq!(device::purge(&mut c, 601, 1).unwrap(), 0, "nothing expired before the cutoff");
    assert_eq!(device::purge(&mut c, 602, 1).unwrap(), 1);
    assert_eq!(device::purge(&mut c, 602, 10).unwrap(), 1);
    assert!(device::by_device_code(&mut c, "d1").unwrap().is_none());
}

/// Pushed authorization requests (RFC 9126): found only by the client that
/// pushed them and only before they expire; opened once (which extends the
/// life to the hold), used once (of concurrent uses exactly one wins);
/// expired requests are purged. The client column round-trips.
fn pushed_requests_are_opened_by_their_client_and_used_once(db: &Db) {
    use tessera_store::pushed::{self, PushedRequest};
    let mut c = db.store.conn().unwrap();
    let mut owner = client("parc");
    owner.require_pushed_authorization_requests = true;
    clients::insert(&mut c, &owner).unwrap();
    clients::insert(&mut c, &client("paro")).unwrap();
    assert!(clients::find(&mut c, "parc").unwrap().unwrap().require_pushed_authorization_requests);
    let row = |h: &str| PushedRequest {
        request_uri_hash: h.into(),
        client_id: "parc".into(),
        params: "response_type=code".into(),
        created_at: 1,
        expires_at: 61,
        opened_at: None,
        used_at: None,
    };
    pushed::insert(&mut c, &row("p1")).unwrap();
    pushed::insert(&mut c, &row("p2")).unwrap();
    assert!(pushed::insert(&mut c, &row("p1")).is_err(), "one row per request_uri");
    assert_eq!(pushed::open(&mut c, "p1", "paro", 2, 600).unwrap(), None, "another client's");
    assert_eq!(pushed::open(&mut c, "nope", "parc", 2, 600).unwrap(), None);
    assert_eq!(pushed::open(&mut c, "p2", "parc", 61, 600).unwrap(), None, "not at the expiry instant");
    let opened = pushed::open(&mut c, "p1", "parc", 10, 600).unwrap().unwrap();
    assert_eq!((opened.opened_at, opened.expires_at, opened.params.as_str()), (Some(10), 600, "response_type=code"));
    let again = pushed::open(&mut c, "p1", "parc", 300, 900).unwrap().unwrap();
    assert_eq!((again.opened_at, again.expires_at), (Some(10), 600), "opened once, held once");
    assert_eq!(
        winners(db, |c, now| pushed::consume(c, "p1", 400 + now).unwrap()),
        1,
        "of concurrent uses exactly one wins"
    );
    assert_eq!(pushed::open(&mut c, "p1", "parc", 410, 900).unwrap(), None, "used");
    assert!(!pushed::consume(&mut c, "p2", 61).unwrap(), "expired");
    assert_eq!(pushed::purge(&mut c, 61, 10).unwrap(), 0, "nothing expired before the cutoff");
    assert_eq!(pushed::purge(&mut c, 62, 10).unwrap(), 1);
    assert_eq!(pushed::purge(&mut c, 601, 10).unwrap(), 1);
}

/// Client assertion ids (RFC 7523): a (client, jti) pair is recorded once,
/// of concurrent uses exactly one wins, the same jti of another client is
/// its own, and records past their expiry are purged; a client's JWKS
/// round-trips.
fn assertion_ids_are_recorded_once_per_client(db: &Db) {
    use tessera_store::assertions;
    let mut c = db.store.conn().unwrap();
    let mut keyed = client("asc");
    keyed.jwks = Some(json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]}));
    clients::insert(&mut c, &keyed).unwrap();
    clients::insert(&mut c, &client("aso")).unwrap();
    assert_eq!(clients::find(&mut c, "asc").unwrap().unwrap().jwks, keyed.jwks);
    assert_eq!(clients::find(&mut c, "aso").unwrap().unwrap().jwks, None);
    assert_eq!(
        winners(db, |c, _| assertions::record(c, "asc", "j1", 100).unwrap()),
        1,
        "of concurrent uses exactly one wins"
    );
    assert!(assertions::record(&mut c, "aso", "j1", 100).unwrap(), "another client's jti is its own");
    assert!(assertions::record(&mut c, "asc", "j2", 200).unwrap());
    assert_eq!(assertions::purge(&mut c, 100, 10).unwrap(), 0, "nothing expired before the cutoff");
    assert_eq!(assertions::purge(&mut c, 101, 10).unwrap(), 2);
    assert!(!assertions::record(&mut c, "asc", "j2", 200).unwrap(), "still remembered");
}

/// DPoP proof ids (RFC 9449 §11.1): a (key, jti) pair is recorded once, of
/// concurrent uses exactly one wins, the same jti of another key is its
/// own, and records past their expiry are purged; a client's DPoP
/// requirement round-trips.
fn dpop_proof_ids_are_recorded_once_per_key(db: &Db) {
    use tessera_store::dpop;
    let mut c = db.store.conn().unwrap();
    let strict = Client { dpop_bound_access_tokens: true, ..client("dpc") };
    clients::insert(&mut c, &strict).unwrap();
    assert!(clients::find(&mut c, "dpc").unwrap().unwrap().dpop_bound_access_tokens);
    assert_eq!(winners(db, |c, _| dpop::record(c, "k1", "j1", 100).unwrap()), 1, "of concurrent uses exactly one wins");
    assert!(dpop::record(&mut c, "k2", "j1", 100).unwrap(), "another key's jti is its own");
    assert!(dpop::record(&mut c, "k1", "j2", 200).unwrap());
    assert_eq!(dpop::purge(&mut c, 100, 10).unwrap(), 0, "nothing expired before the cutoff");
    assert_eq!(dpop::purge(&mut c, 101, 10).unwrap(), 2);
    assert!(!dpop::record(&mut c, "k1", "j2", 200).unwrap(), "still remembered");
}

/// Eight threads try `attempt` at once, each on its own connection with its
/// index (0..8) as the time offset; how many it admitted. Single-use rows
/// (codes, device requests, pushed requests, assertion ids) must admit one.
fn winners(db: &Db, attempt: impl Fn(&mut tessera_store::DbConn, i64) -> bool + Sync) -> usize {
    let won = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (won, attempt) = (&won, &attempt);
            s.spawn(move || {
                if attempt(&mut db.store.conn().unwrap(), i) {
                    won.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    won.into_inner()
}

/// Scope descriptions replace each other, skip blank ones, and go with their API.
fn scope_descriptions_are_replaced_and_go_with_their_api(db: &Db) {
    let mut c = db.store.conn().unwrap();
    let api = apis::Api {
        id: "ad".into(),
        identifier: "https://described".into(),
        name: "Described".into(),
        alg: tessera_protocol::model::SigningAlg::RS256,
        token_lifetime_secs: 60,
        scopes: vec!["read".into(), "write".into()],
        hs256_secret_enc: None,
        created_at: 1,
        updated_at: 1,
    };
    apis::insert(&mut c, &api).unwrap();
    let map = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    apis::set_scope_descriptions(&mut c, "ad", &map(&[("read", " Read things "), ("write", "  ")])).unwrap();
    assert_eq!(apis::scope_descriptions(&mut c, "ad").unwrap(), map(&[("read", "Read things")]));
    apis::set_scope_descriptions(&mut c, "ad", &map(&[("write", "Write things")])).unwrap();
    assert_eq!(apis::scope_descriptions(&mut c, "ad").unwrap(), map(&[("write", "Write things")]));
    apis::delete(&mut c, "ad").unwrap();
    assert!(apis::scope_descriptions(&mut c, "ad").unwrap().is_empty(), "deleted with the API");
}

/// Names by id, many at once; a version in use cannot be deleted.
fn names_resolve_many_ids_and_used_versions_stay(db: &Db) {
    use tessera_store::names;
    use tessera_store::plugins::{self, Binding, NewVersion};
    let mut c = db.store.conn().unwrap();
    clients::insert(&mut c, &client("n1")).unwrap();
    let v = |id: &'static str| NewVersion {
        id,
        wasm: b"\0asm",
        sha256: id,
        world: "tessera:plugin/token-plugin@0.1.0",
        declared_claims: None,
        interface: json!({}),
        uploaded_by: "cli",
        now: 1,
        signature: None,
    };
    drop(c);
    let (p, _) = db.store.tx(|c| plugins::add_version(c, "named", "pn", v("nv1"))).unwrap();
    db.store.tx(|c| plugins::add_version(c, "named", "pn", v("nv2"))).unwrap();
    let mut c = db.store.conn().unwrap();
    plugins::insert_binding(
        &mut c,
        &Binding {
            id: "nb".into(),
            plugin_id: p.id.clone(),
            plugin_version_id: "nv2".into(),
            trigger: plugins::Trigger::Token,
            grant_types: vec![GrantType::ClientCredentials],
            client_ids: None,
            position: 1,
            enabled: true,
            config: json!({}),
            secrets_enc: None,
            secret_names: vec![],
            failure_policy: plugins::FailurePolicy::Deny,
            created_at: 1,
            updated_at: 1,
            shadow: None,
            http_allow: vec![],
            http_cache_ttl_secs: None,
        },
    )
    .unwrap();
    let ids = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let got = names::clients(&mut c, &ids(&["n1", "gone"])).unwrap();
    assert_eq!(got.len(), 1, "a missing id is absent");
    assert_eq!(names::plugins(&mut c, &ids(&[&p.id])).unwrap()[&p.id], "named");
    assert_eq!(names::binding_plugins(&mut c, &ids(&["nb"])).unwrap()["nb"], p.id);
    assert_eq!(names::versions(&mut c, &ids(&["nv1", "nv2"])).unwrap()["nv2"], (p.id.clone(), 2));
    assert!(names::users(&mut c, &[]).unwrap().is_empty());
    assert_eq!(plugins::version_users(&mut c, "nv2").unwrap(), ["nb"]);
    assert!(matches!(plugins::delete_version(&mut c, "nv2"), Err(StoreError::Conflict(_))));
    plugins::delete_version(&mut c, "nv1").unwrap();
    assert!(plugins::version(&mut c, "nv1").unwrap().is_none());
    assert!(matches!(plugins::delete_version(&mut c, "nv1"), Err(StoreError::NotFound(_))));
}

/// A deleted version's number is never given out again: deleting the newest
/// used to let the next upload take its number, and the metrics, the
/// dashboard and the audit log named two components by one number.
fn plugin_version_numbers_are_never_reused(db: &Db) {
    use tessera_store::plugins::{self, NewVersion};
    let v = |id: &'static str| NewVersion {
        id,
        wasm: b"\0asm",
        sha256: id,
        world: "tessera:plugin/token-plugin@0.1.0",
        declared_claims: None,
        interface: json!({}),
        uploaded_by: "cli",
        now: 1,
        signature: None,
    };
    let number =
        |id: &'static str| db.store.tx(|c| plugins::add_version(c, "renumbered", "pr", v(id))).unwrap().1.version;
    assert_eq!((number("r1"), number("r2"), number("r3")), (1, 2, 3));
    plugins::delete_version(&mut db.store.conn().unwrap(), "r3").unwrap();
    assert_eq!(number("r4"), 4, "3 was deleted, not freed");
    plugins::delete_version(&mut db.store.conn().unwrap(), "r1").unwrap();
    assert_eq!(number("r5"), 5);
}

/// Back- and Front-Channel Logout: a session's clients are recorded once
/// each, listed with their logout URLs, and go with the session or with the
/// client.
fn session_clients_are_recorded_once_and_go_with_their_session(db: &Db) {
    use tessera_store::grants;
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("su", "sam")).unwrap();
    clients::insert(&mut c, &Client { backchannel_logout_uri: Some("https://rp.example/bcl".into()), ..client("sc1") })
        .unwrap();
    clients::insert(
        &mut c,
        &Client { frontchannel_logout_uri: Some("https://rp2.example/fcl".into()), ..client("sc2") },
    )
    .unwrap();
    let session = |id: &str| grants::Session {
        id_hash: id.into(),
        user_id: "su".into(),
        auth_time: 1,
        created_at: 1,
        expires_at: 1_000,
        amr: "pwd".into(),
    };
    grants::insert_session(&mut c, &session("sess-a")).unwrap();
    grants::insert_session(&mut c, &session("sess-b")).unwrap();
    for (s, client) in [("sess-a", "sc1"), ("sess-a", "sc1"), ("sess-a", "sc2"), ("sess-b", "sc2")] {
        grants::record_session_client(&mut c, s, client, 5).unwrap();
    }
    let listed = |id: &str, back: Option<&str>, front: Option<&str>| grants::SessionClient {
        client_id: id.into(),
        backchannel_logout_uri: back.map(str::to_owned),
        frontchannel_logout_uri: front.map(str::to_owned),
    };
    assert_eq!(
        grants::session_clients(&mut c, "sess-a").unwrap(),
        [listed("sc1", Some("https://rp.example/bcl"), None), listed("sc2", None, Some("https://rp2.example/fcl"))]
    );
    grants::delete_session(&mut c, "sess-a").unwrap();
    assert!(grants::session_clients(&mut c, "sess-a").unwrap().is_empty(), "gone with the session");
    clients::delete(&mut c, "sc2").unwrap();
    assert!(grants::session_clients(&mut c, "sess-b").unwrap().is_empty(), "gone with the client");
}

/// Ending a user's grants queues one logout notice per session and client
/// with a back-channel URL; each notice is taken once.
fn ended_sessions_queue_logout_notices_taken_once(db: &Db) {
    use tessera_store::grants;
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("nu", "nora")).unwrap();
    clients::insert(&mut c, &Client { backchannel_logout_uri: Some("https://rp.example/bcl".into()), ..client("nc1") })
        .unwrap();
    clients::insert(&mut c, &client("nc2")).unwrap();
    for id in ["n-s1", "n-s2"] {
        let s = grants::Session {
            id_hash: id.into(),
            user_id: "nu".into(),
            auth_time: 1,
            created_at: 1,
            expires_at: 99,
            amr: "pwd".into(),
        };
        grants::insert_session(&mut c, &s).unwrap();
        grants::record_session_client(&mut c, id, "nc1", 2).unwrap();
        grants::record_session_client(&mut c, id, "nc2", 2).unwrap();
    }
    assert_eq!(grants::end_user_grants(&mut c, "nu", 10).unwrap().1, 2);
    let first = grants::take_logout_notices(&mut c, 1).unwrap();
    let rest = grants::take_logout_notices(&mut c, 10).unwrap();
    assert_eq!((first.len(), rest.len()), (1, 1), "one per session, none for the client without a URL");
    let mut sids: Vec<String> = first.iter().chain(&rest).map(|n| n.sid.clone()).collect();
    sids.sort();
    let mut want =
        vec![tessera_protocol::backchannel::session_id("n-s1"), tessera_protocol::backchannel::session_id("n-s2")];
    want.sort();
    assert_eq!(sids, want);
    assert!(first.iter().chain(&rest).all(|n| n.client_id == "nc1" && n.user_id == "nu" && n.uri.ends_with("/bcl")));
    assert!(grants::take_logout_notices(&mut c, 10).unwrap().is_empty(), "taken once");
}

/// End users' second factor: enrolment replaces codes and clears the
/// requirement, a TOTP step and a recovery code are accepted once, a reset
/// keeps (or sets) the requirement, a waiting sign-in is finished once and
/// purged once expired, and everything goes with the user.
fn user_second_factors_are_single_use_and_go_with_their_user(db: &Db) {
    use tessera_store::user_factors::{self, PendingSignIn};
    use tessera_store::{grants, purge};
    let mut c = db.store.conn().unwrap();
    users::insert(&mut c, &user("fu", "factor-user")).unwrap();
    assert_eq!(user_factors::find(&mut c, "fu").unwrap(), None, "no row: no factor, no requirement");
    user_factors::set_required(&mut c, "fu", true).unwrap();
    let row = user_factors::find(&mut c, "fu").unwrap().unwrap();
    assert!(row.required && !row.enrolled());
    assert!(!user_factors::accept_totp_step(&mut c, "fu", 5).unwrap(), "no secret: no step accepted");

    let hashes: Vec<String> = ["h1", "h2"].map(str::to_owned).to_vec();
    user_factors::enrol(&mut c, "fu", b"sealed", 10, 100, &hashes).unwrap();
    let row = user_factors::find(&mut c, "fu").unwrap().unwrap();
    assert!(row.enrolled() && !row.required, "enrolled: the requirement is met");
    assert_eq!((row.totp_last_step, row.enrolled_at), (Some(10), Some(100)));
    assert!(!user_factors::accept_totp_step(&mut c, "fu", 10).unwrap(), "the enrolment's step is used");
    assert!(user_factors::accept_totp_step(&mut c, "fu", 11).unwrap());
    assert!(!user_factors::accept_totp_step(&mut c, "fu", 11).unwrap(), "once");
    assert!(!user_factors::accept_totp_step(&mut c, "fu", 9).unwrap(), "never an older step");
    assert!(user_factors::use_recovery_code(&mut c, "fu", "h1").unwrap());
    assert!(!user_factors::use_recovery_code(&mut c, "fu", "h1").unwrap(), "once");
    assert_eq!(user_factors::recovery_codes_left(&mut c, "fu").unwrap(), 1);
    user_factors::set_required(&mut c, "fu", true).unwrap();
    assert!(user_factors::find(&mut c, "fu").unwrap().unwrap().enrolled(), "requiring keeps the secret");

    assert!(user_factors::reset(&mut c, "fu", true).unwrap(), "there was a secret");
    let row = user_factors::find(&mut c, "fu").unwrap().unwrap();
    assert!(!row.enrolled() && row.required && row.totp_last_step.is_none());
    assert_eq!(user_factors::recovery_codes_left(&mut c, "fu").unwrap(), 0);
    assert!(!user_factors::reset(&mut c, "fu", false).unwrap());

    let pending = |id: &str, expires_at: i64| PendingSignIn {
        id_hash: id.into(),
        user_id: "fu".into(),
        enrol: true,
        created_at: 1,
        expires_at,
        session_id_hash: None,
    };
    user_factors::insert_pending(&mut c, &pending("p1", 50)).unwrap();
    user_factors::insert_pending(&mut c, &pending("p2", 500)).unwrap();
    assert_eq!(user_factors::pending(&mut c, "p1", 40).unwrap(), Some(pending("p1", 50)));
    assert_eq!(user_factors::pending(&mut c, "p1", 50).unwrap(), None, "expired");
    assert!(user_factors::finish_pending(&mut c, "p2").unwrap());
    assert!(!user_factors::finish_pending(&mut c, "p2").unwrap(), "finished once");
    assert_eq!(purge::pending_sign_ins(&mut c, 100, 10).unwrap(), 1);
    user_factors::insert_pending(&mut c, &pending("p3", 500)).unwrap();
    assert_eq!(grants::end_user_sessions(&mut c, "fu", 60).unwrap(), 0);
    assert_eq!(user_factors::pending(&mut c, "p3", 60).unwrap(), None, "ending the sessions ends waiting sign-ins");
    user_factors::insert_pending(&mut c, &pending("p5", 500)).unwrap();
    grants::end_user_grants(&mut c, "fu", 70).unwrap();
    assert_eq!(
        user_factors::pending(&mut c, "p5", 70).unwrap(),
        None,
        "a password reset or a disable ends a sign-in waiting for its second factor"
    );

    // A step-up waits on its session, which gains the factor in place.
    let session = grants::Session {
        id_hash: "s1".into(),
        user_id: "fu".into(),
        auth_time: 10,
        created_at: 10,
        expires_at: 1_000,
        amr: "pwd".into(),
    };
    grants::insert_session(&mut c, &session).unwrap();
    let step_up = PendingSignIn { session_id_hash: Some("s1".into()), ..pending("p6", 500) };
    user_factors::insert_pending(&mut c, &step_up).unwrap();
    assert_eq!(user_factors::pending(&mut c, "p6", 80).unwrap(), Some(step_up.clone()));
    assert!(!grants::step_up_session(&mut c, "s1", "someone-else", "pwd otp mfa", 80).unwrap(), "not their session");
    assert!(!grants::step_up_session(&mut c, "s1", "fu", "pwd otp mfa", 1_000).unwrap(), "expired");
    assert!(grants::step_up_session(&mut c, "s1", "fu", "pwd otp mfa", 90).unwrap());
    let stepped = grants::session(&mut c, "s1", 90).unwrap().unwrap();
    assert_eq!((stepped.amr.as_str(), stepped.auth_time, stepped.created_at), ("pwd otp mfa", 90, 10));
    grants::delete_session(&mut c, "s1").unwrap();
    assert_eq!(user_factors::pending(&mut c, "p6", 90).unwrap(), None, "a step-up ends with its session");

    user_factors::enrol(&mut c, "fu", b"sealed", 20, 200, &hashes).unwrap();
    user_factors::insert_pending(&mut c, &pending("p4", 500)).unwrap();
    users::delete(&mut c, "fu").unwrap();
    assert_eq!(user_factors::find(&mut c, "fu").unwrap(), None);
    assert_eq!(user_factors::recovery_codes_left(&mut c, "fu").unwrap(), 0);
    assert_eq!(user_factors::pending(&mut c, "p4", 60).unwrap(), None, "gone with the user");
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_backend {
            $( #[test] fn $case() { super::$case(&super::sqlite()); } )*
        }
        mod postgres_backend {
            $( #[test] fn $case() { super::$case(&super::postgres()); } )*
        }
    };
}

conformance!(
    users_roundtrip_and_unique_username,
    session_clients_are_recorded_once_and_go_with_their_session,
    ended_sessions_queue_logout_notices_taken_once,
    secrets_expire_and_revoke,
    key_states_move_and_retired_keys_purge,
    transactions_roll_back_on_error,
    apis_and_audit,
    plugin_versions_number_up_and_bindings_order,
    plugin_version_numbers_are_never_reused,
    plugin_versions_keep_their_signer,
    shadow_candidates_round_trip_and_comparisons_stay_bounded,
    refresh_rotation_is_single_use_and_families_revoke,
    a_transaction_that_reads_first_survives_a_writer_committing_meanwhile,
    client_registrations_round_trip_and_go_with_their_client,
    throttle_counts_in_a_window,
    consent_is_remembered_per_user_client_and_api,
    resource_servers_are_linked_to_apis,
    throttle_admits_concurrent_first_attempts,
    throttle_locks_grow,
    throttle_reservations_are_atomic,
    admins_sessions_and_setup_tokens,
    the_last_administrator_is_never_deleted,
    the_last_owner_is_never_demoted_disabled_or_removed,
    admin_invitations_are_single_use_and_expire,
    second_factor_steps_and_recovery_codes_are_single_use,
    user_second_factors_are_single_use_and_go_with_their_user,
    passkeys_belong_to_their_administrator_and_ceremonies_are_single_use,
    audit_events_page_by_keyset,
    clients_naming_an_audience,
    expired_state_is_purged_in_batches,
    authorization_codes_are_single_use,
    browser_sessions_live_expire_and_end,
    unknown_stored_names_are_corrupt,
    audit_chain_verifies_and_detects_tampering,
    audit_appends_chain_under_concurrency,
    audit_rows_from_before_the_chain_are_chained_at_migrate,
    revocations_are_read_incrementally_and_purged,
    revoking_a_family_revokes_its_access_tokens,
    code_replay_and_redemption_meet_in_either_order,
    config_generation_moves_with_every_change,
    schema_status_names_pending_and_newer_migrations,
    device_requests_are_decided_once_and_redeemed_once,
    pushed_requests_are_opened_by_their_client_and_used_once,
    assertion_ids_are_recorded_once_per_client,
    dpop_proof_ids_are_recorded_once_per_key,
    run_records_insert_as_one_batch_and_prune_on_demand,
    scope_descriptions_are_replaced_and_go_with_their_api,
    names_resolve_many_ids_and_used_versions_stay,
);
