//! The in-memory snapshot of what the client_credentials path needs, so that
//! in the steady state a token request reads nothing from the database
//! (issue #13 item 2): clients with their unrevoked secret hashes, APIs by
//! audience, the service-account users clients link to, the bindings of the
//! token trigger and the metadata of the plugin versions they run (live
//! and shadow candidates). It also
//! mirrors the client-authentication locks of `store::throttle`.
//!
//! A [`Snapshot`] is immutable; [`Snapshots`] holds the current one in an
//! `RwLock<Arc<_>>` taken only to clone or replace the `Arc`, so readers
//! never wait for a reload and never hold a lock while they work.
//!
//! # How a change reaches every node: a change counter
//!
//! Database triggers (migration 000014) bump the one-row `config_generation`
//! counter in the same transaction as every change of those tables, whoever
//! makes it: the console, a CLI process writing the database while the
//! server runs, another node. Each node reads the counter every
//! [`POLL_INTERVAL`] (one single-row query) and rebuilds its snapshot when it
//! moved, so a change is in force on every node within one second.
//! A counter rather than PostgreSQL `LISTEN/NOTIFY`: diesel has no `LISTEN`,
//! SQLite has no `NOTIFY`, and a notification sent while a node was
//! reconnecting is lost for good, while a counter cannot be missed: the next
//! read sees it. A change made through this node's own services is synced
//! before the response returns ([`Snapshots::sync`], called by the web layer
//! after a console change).
//!
//! If the counter cannot be read (database down), the node keeps serving
//! from the last snapshot and tries again at the next tick.
//!
//! A reload is also when a node learns that a binding was deleted or its
//! HTTP allow-list, cache TTL or secrets changed, wherever that was done:
//! the plugin host then forgets that binding's HTTP response cache
//! ([`PluginHost::forget_http_cache`]), on every node.

use crate::clock::SharedClock;
use crate::keys::KeyRing;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use tessera_plugin_host::PluginHost;
use tessera_protocol::secret::SecretHash;
use tessera_store::apis::{self, Api};
use tessera_store::clients::{self, Client};
use tessera_store::generation::{self, Generation};
use tessera_store::plugins::{self, Binding, Trigger};
use tessera_store::users::{self, User};
use tessera_store::{DbConn, Store, StoreError, throttle};

/// How often each node reads the change counter. Five reads a second keeps
/// the "within one second on every node" promise with room for a reload.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The throttle keys of client authentication start with this
/// (`service::oauth::client_auth`); their locks are mirrored here.
pub const CLIENT_LOCK_PREFIX: &str = "client:pair:";

/// A plugin version as the pipeline needs it (versions are immutable).
#[derive(Debug, Clone)]
pub struct VersionMeta {
    /// The plugin's id.
    pub plugin_id: String,
    /// 1, 2, 3, ... per plugin: the `version` label of plugin metrics.
    pub number: i32,
    /// Hex sha256 of the component: the host's compile-cache key.
    pub sha256: String,
    /// The claims it declared, or `None` for any non-reserved claim.
    pub declared: Option<Vec<String>>,
}

/// A client and the secrets that may authenticate it.
#[derive(Debug, Clone)]
pub struct ClientEntry {
    /// The client row.
    pub client: Client,
    /// Unrevoked secret hashes with their expiry (Unix seconds), if any.
    secrets: Vec<(SecretHash, Option<i64>)>,
}

impl ClientEntry {
    /// The hashes of the secrets that authenticate at `now` (the caller's
    /// clock, so rotation overlaps end without a reload).
    pub fn active_secret_hashes(&self, now: i64) -> Vec<SecretHash> {
        self.secrets.iter().filter(|(_, exp)| exp.is_none_or(|e| now < e)).map(|(h, _)| h.clone()).collect()
    }
}

/// One immutable view of the token path's configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    generation: i64,
    clients: HashMap<String, ClientEntry>,
    apis: HashMap<String, Api>,
    /// By API id, the clients that are its resource servers and may
    /// introspect its tokens (RFC 7662 §4).
    resource_servers: HashMap<String, HashSet<String>>,
    users: HashMap<String, User>,
    token_bindings: Vec<Binding>,
    versions: HashMap<String, VersionMeta>,
}

impl Snapshot {
    /// Reads everything from the database, tagged with `generation` (read
    /// before the data, so newer data than the tag only costs one more
    /// reload).
    pub fn load(conn: &mut DbConn, generation: i64) -> Result<Snapshot, StoreError> {
        let mut secrets: HashMap<String, Vec<(SecretHash, Option<i64>)>> = HashMap::new();
        for s in generation::unrevoked_client_secrets(conn)? {
            secrets.entry(s.client_id).or_default().push((SecretHash::from_stored(s.secret_hash), s.expires_at));
        }
        let mut users = HashMap::new();
        let mut clients = HashMap::new();
        for client in clients::list(conn, 0, i64::MAX)? {
            if let Some(id) = &client.service_account_user_id
                && !users.contains_key(id)
                && let Some(u) = users::find(conn, id)?
            {
                users.insert(id.clone(), u);
            }
            let secrets = secrets.remove(&client.id).unwrap_or_default();
            clients.insert(client.id.clone(), ClientEntry { client, secrets });
        }
        let apis = apis::list(conn)?.into_iter().map(|a| (a.identifier.clone(), a)).collect();
        let mut resource_servers: HashMap<String, HashSet<String>> = HashMap::new();
        for (api_id, client_id) in apis::all_resource_servers(conn)? {
            resource_servers.entry(api_id).or_default().insert(client_id);
        }
        let token_bindings = plugins::bindings_for_trigger(conn, Trigger::Token)?;
        let mut versions = HashMap::new();
        // The live versions, and the shadow candidates (`service::shadow`).
        let ids = token_bindings
            .iter()
            .flat_map(|b| std::iter::once(&b.plugin_version_id).chain(b.shadow.as_ref().map(|c| &c.version_id)));
        for id in ids {
            if versions.contains_key(id) {
                continue;
            }
            let info =
                plugins::version(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("plugin version {id}")))?;
            versions.insert(
                info.id.clone(),
                VersionMeta {
                    declared: info.declared()?,
                    plugin_id: info.plugin_id,
                    number: info.version,
                    sha256: info.sha256,
                },
            );
        }
        Ok(Snapshot { generation, clients, apis, resource_servers, users, token_bindings, versions })
    }

    /// The bindings of this snapshot whose HTTP answers `newer` no longer
    /// stands behind: gone, or with another allow-list, cache TTL or
    /// secrets (compared sealed: a re-save of the same secrets counts as a
    /// change, which only costs a refetch).
    fn http_changed_in<'a>(&'a self, newer: &Snapshot) -> Vec<&'a str> {
        self.token_bindings
            .iter()
            .filter(|old| {
                !newer.token_bindings.iter().any(|new| {
                    new.id == old.id
                        && new.http_allow == old.http_allow
                        && new.http_cache_ttl_secs == old.http_cache_ttl_secs
                        && new.secrets_enc == old.secrets_enc
                })
            })
            .map(|b| b.id.as_str())
            .collect()
    }

    /// The `config` counter this snapshot was loaded at.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// A client by client_id.
    pub fn client(&self, id: &str) -> Option<&ClientEntry> {
        self.clients.get(id)
    }

    /// An API by its audience identifier.
    pub fn api_by_identifier(&self, identifier: &str) -> Option<&Api> {
        self.apis.get(identifier)
    }

    /// Whether `client_id` is a resource server of the API `api_id`.
    pub fn is_resource_server(&self, api_id: &str, client_id: &str) -> bool {
        self.resource_servers.get(api_id).is_some_and(|clients| clients.contains(client_id))
    }

    /// Every scope an API declares, sorted, once each: discovery's
    /// `scopes_supported`, served from memory so that discovery keeps
    /// answering while the database is away.
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut all: Vec<String> = self.apis.values().flat_map(|a| a.scopes.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// A service-account user linked to a client (disabled ones included:
    /// the caller decides).
    pub fn service_account(&self, user_id: &str) -> Option<&User> {
        self.users.get(user_id)
    }

    /// The bindings of the token trigger in pipeline order.
    pub fn token_bindings(&self) -> &[Binding] {
        &self.token_bindings
    }

    /// The metadata of a bound plugin version.
    pub fn version(&self, id: &str) -> Option<&VersionMeta> {
        self.versions.get(id)
    }
}

/// The client-authentication locks in force, by throttle key.
#[derive(Debug, Default)]
struct Locks {
    generation: i64,
    until: HashMap<String, i64>,
}

/// The current snapshot and lock mirror of this node, and how they are kept
/// up to date. Built once by `AppState::build`; shared by the services.
pub struct Snapshots {
    store: Store,
    clock: SharedClock,
    // Told at each reload which bindings' HTTP caches to forget; `None` in
    // tests of the snapshot alone.
    host: Option<Arc<PluginHost>>,
    current: RwLock<Arc<Snapshot>>,
    locks: RwLock<Arc<Locks>>,
    // Serialises reloads (the poller and syncs after local changes); never
    // taken on the token path.
    reload: Mutex<()>,
    // When the change counter was last read successfully.
    checked: RwLock<Instant>,
}

/// Reads an `RwLock<Arc<T>>` whatever a panicking writer left: the value is
/// always a whole `Arc`, so a poisoned lock still holds a valid one.
fn read_arc<T>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    match lock.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write_arc<T>(lock: &RwLock<Arc<T>>, value: Arc<T>) {
    match lock.write() {
        Ok(mut g) => *g = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

impl Snapshots {
    /// Loads the first snapshot; fails if the database cannot be read (a
    /// node does not start without its configuration). Each later reload
    /// makes `host` forget the HTTP response caches of the bindings it finds
    /// deleted or changed.
    pub fn load(store: Store, clock: SharedClock, host: Option<Arc<PluginHost>>) -> Result<Arc<Snapshots>, StoreError> {
        let snapshots = Snapshots {
            store,
            clock,
            host,
            current: RwLock::new(Arc::new(Snapshot { generation: -1, ..Snapshot::default() })),
            locks: RwLock::new(Arc::new(Locks { generation: -1, ..Locks::default() })),
            reload: Mutex::new(()),
            checked: RwLock::new(Instant::now()),
        };
        snapshots.sync()?;
        Ok(Arc::new(snapshots))
    }

    /// The snapshot in force: an `Arc` clone, nothing else.
    pub fn current(&self) -> Arc<Snapshot> {
        read_arc(&self.current)
    }

    /// The `config` counter of the snapshot in force: what `/readyz` shows,
    /// so tests and operators can see when a change has reached this node.
    pub fn generation(&self) -> i64 {
        self.current().generation
    }

    /// How long ago the change counter was last read successfully: how
    /// stale the snapshot in force may be. About the poll interval while
    /// the database answers; grows while it does not.
    pub fn age(&self) -> Duration {
        match self.checked.read() {
            Ok(g) => g.elapsed(),
            Err(poisoned) => poisoned.into_inner().elapsed(),
        }
    }

    /// Until when a lock holds `key` at `now`, from the in-memory mirror.
    pub fn locked_until(&self, key: &str, now: i64) -> Option<i64> {
        read_arc(&self.locks).until.get(key).copied().filter(|until| *until > now)
    }

    /// Records a lock this node just set, so its next request sees it
    /// before the counter is read again (other nodes see it through the
    /// counter).
    pub fn note_lock(&self, key: &str, until: i64) {
        let _reload = self.reload.lock();
        let old = read_arc(&self.locks);
        let mut until_map = old.until.clone();
        until_map.insert(key.to_owned(), until);
        write_arc(&self.locks, Arc::new(Locks { generation: old.generation, until: until_map }));
    }

    /// Reads the change counter and reloads what changed. Returns whether
    /// anything was reloaded. On error the last snapshot stays in force.
    pub fn sync(&self) -> Result<bool, StoreError> {
        let _reload = self.reload.lock();
        let mut conn = self.store.conn()?;
        let Generation { config, locks } = generation::read(&mut conn)?;
        let mut changed = false;
        if config != self.current().generation {
            let snapshot = Snapshot::load(&mut conn, config)?;
            tracing::info!(generation = config, clients = snapshot.clients.len(), "configuration snapshot loaded");
            let (old, snapshot) = (self.current(), Arc::new(snapshot));
            write_arc(&self.current, Arc::clone(&snapshot));
            if let Some(host) = &self.host {
                for id in old.http_changed_in(&snapshot) {
                    host.forget_http_cache(id);
                }
            }
            changed = true;
        }
        if locks != read_arc(&self.locks).generation {
            let now = self.clock.now();
            let until = throttle::locked_with_prefix(&mut conn, CLIENT_LOCK_PREFIX, now)?.into_iter().collect();
            write_arc(&self.locks, Arc::new(Locks { generation: locks, until }));
            changed = true;
        }
        match self.checked.write() {
            Ok(mut g) => *g = Instant::now(),
            Err(poisoned) => *poisoned.into_inner() = Instant::now(),
        }
        Ok(changed)
    }

    /// Starts the thread that calls [`Snapshots::sync`] every `interval`,
    /// and keeps `keys` fresh on the same tick
    /// ([`KeyRing::refresh_in_background`]), so no request waits for a
    /// database read of either. It holds only weak references and ends when
    /// the snapshots are dropped (in-process tests build many).
    pub fn spawn_poller(self: &Arc<Self>, keys: &Arc<KeyRing>, interval: Duration) -> std::io::Result<()> {
        let weak: Weak<Snapshots> = Arc::downgrade(self);
        let keys: Weak<KeyRing> = Arc::downgrade(keys);
        std::thread::Builder::new().name("config-snapshot".into()).spawn(move || {
            let mut failing = false;
            loop {
                std::thread::sleep(interval);
                let (Some(snapshots), Some(keys)) = (weak.upgrade(), keys.upgrade()) else { return };
                let outcome = snapshots.sync().map(drop).map_err(|e| e.to_string()).and_then(|()| {
                    keys.refresh_in_background().map_err(|e| e.to_string())
                });
                match outcome {
                    Ok(()) if failing => {
                        tracing::info!("configuration and keys readable again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        tracing::warn!(error = %e, "cannot read the configuration counter or keys; serving the last ones");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })?;
        Ok(())
    }
}

/// A client_credentials token binding with the given HTTP settings and
/// sealed secrets, the rest fixed: for the tests of the snapshot's reload
/// and of the pipeline's HTTP grant.
#[cfg(test)]
pub(crate) fn test_binding(id: &str, allow: &[&str], ttl: Option<i64>, secrets: &[u8]) -> Binding {
    Binding {
        id: id.into(),
        plugin_id: "p".into(),
        plugin_version_id: "v".into(),
        trigger: Trigger::Token,
        grant_types: vec![tessera_protocol::model::GrantType::ClientCredentials],
        client_ids: None,
        position: 10,
        enabled: true,
        config: serde_json::json!({}),
        secrets_enc: Some(secrets.to_vec()),
        secret_names: vec![],
        failure_policy: Default::default(),
        created_at: 0,
        updated_at: 0,
        shadow: None,
        http_allow: allow.iter().map(|a| (*a).to_owned()).collect(),
        http_cache_ttl_secs: ttl,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::clock::SetClock;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("t.db").display().to_string();
        let store = Store::connect(&url, 4, Duration::from_secs(5)).unwrap();
        store.migrate().unwrap();
        (dir, store)
    }

    fn client(id: &str, service_account: Option<&str>) -> Client {
        Client {
            id: id.into(),
            name: id.into(),
            confidential: true,
            grant_types: vec![tessera_protocol::model::GrantType::ClientCredentials],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            allowed_scopes: None,
            allowed_audiences: None,
            metadata: json!({}),
            service_account_user_id: service_account.map(str::to_owned),
            first_party: false,
            disabled: false,
            exchange: Default::default(),
            require_pushed_authorization_requests: false,
            jwks: None,
            jwks_uri: None,
            backchannel_logout_uri: None,
            jwt_bearer_issuers: Vec::new(),
            dpop_bound_access_tokens: false,
            require_signed_request_object: false,
            frontchannel_logout_uri: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn secret(
        id: &str,
        client: &str,
        hash: &str,
        expires_at: Option<i64>,
        revoked_at: Option<i64>,
    ) -> clients::ClientSecret {
        clients::ClientSecret {
            id: id.into(),
            client_id: client.into(),
            secret_hash: hash.into(),
            hint: "h".into(),
            created_at: 0,
            expires_at,
            revoked_at,
        }
    }

    #[test]
    fn snapshot_holds_clients_secrets_and_service_accounts() {
        let (_dir, store) = store();
        let mut c = store.conn().unwrap();
        let user = users::User {
            id: "u1".into(),
            username: "svc".into(),
            password_hash: None,
            email: None,
            profile: json!({}),
            metadata: json!({}),
            roles: vec![],
            disabled: false,
            created_at: 0,
            updated_at: 0,
        };
        users::insert(&mut c, &user).unwrap();
        clients::insert(&mut c, &client("a", Some("u1"))).unwrap();
        clients::insert(&mut c, &client("b", None)).unwrap();
        clients::insert_secret(&mut c, &secret("s1", "a", "aa", None, None)).unwrap();
        clients::insert_secret(&mut c, &secret("s2", "a", "bb", Some(100), None)).unwrap();
        clients::insert_secret(&mut c, &secret("s3", "a", "cc", None, Some(5))).unwrap();
        let snap = Snapshot::load(&mut c, 7).unwrap();
        assert_eq!(snap.generation(), 7);
        let a = snap.client("a").unwrap();
        let hashes = |now| a.active_secret_hashes(now).iter().map(|h| h.as_str().to_owned()).collect::<Vec<_>>();
        let mut early = hashes(99);
        early.sort();
        assert_eq!(early, ["aa", "bb"], "revoked secrets are left out, expiring ones counted until they expire");
        assert_eq!(hashes(100), ["aa"], "expiry is evaluated at use, against the given time");
        assert!(snap.client("b").unwrap().active_secret_hashes(0).is_empty());
        assert_eq!(snap.service_account("u1").unwrap().username, "svc");
        assert!(snap.client("nobody").is_none());
        assert!(snap.token_bindings().is_empty());
    }

    #[test]
    fn every_write_bumps_the_counter_and_sync_reloads() {
        let (_dir, store) = store();
        let snapshots = Snapshots::load(store.clone(), SetClock::at(1_000), None).unwrap();
        let before = snapshots.generation();
        assert!(!snapshots.sync().unwrap(), "nothing changed: nothing reloaded");
        let mut c = store.conn().unwrap();
        clients::insert(&mut c, &client("a", None)).unwrap();
        assert!(snapshots.current().client("a").is_none(), "not before a sync");
        assert!(snapshots.sync().unwrap());
        assert!(snapshots.generation() > before);
        assert!(snapshots.current().client("a").is_some());
        let mut disabled = client("a", None);
        disabled.disabled = true;
        clients::update(&mut c, &disabled).unwrap();
        assert!(snapshots.sync().unwrap());
        assert!(snapshots.current().client("a").unwrap().client.disabled, "an update is seen");
        clients::insert_secret(&mut c, &secret("s1", "a", "aa", None, None)).unwrap();
        snapshots.sync().unwrap();
        assert_eq!(snapshots.current().client("a").unwrap().active_secret_hashes(0).len(), 1, "a new secret is seen");
        clients::delete(&mut c, "a").unwrap();
        snapshots.sync().unwrap();
        assert!(snapshots.current().client("a").is_none(), "a delete is seen");
    }

    #[test]
    fn client_locks_are_mirrored_and_reloaded() {
        let (_dir, store) = store();
        let snapshots = Snapshots::load(store.clone(), SetClock::at(1_000), None).unwrap();
        let key = format!("{CLIENT_LOCK_PREFIX}x|1.2.3.4");
        let limit = throttle::Limit { max: 1, window_secs: 60 };
        let mut c = store.conn().unwrap();
        throttle::record_failure(&mut c, &key, 1_000, limit).unwrap();
        let until = throttle::lock_if_spent(&mut c, &key, 1_000, limit, 30, 300).unwrap().unwrap();
        assert_eq!(snapshots.locked_until(&key, 1_000), None, "not before a sync");
        assert!(snapshots.sync().unwrap(), "setting a lock bumps the lock counter");
        assert_eq!(snapshots.locked_until(&key, 1_000), Some(until));
        assert_eq!(snapshots.locked_until(&key, until), None, "a lock ends at its time, without a reload");
        throttle::clear(&mut c, &key).unwrap();
        assert!(snapshots.sync().unwrap(), "removing a lock bumps the lock counter");
        assert_eq!(snapshots.locked_until(&key, 1_000), None);
        snapshots.note_lock(&key, 2_000);
        assert_eq!(snapshots.locked_until(&key, 1_000), Some(2_000), "a lock set by this node is seen at once");
    }

    use test_binding as binding;

    /// A reload names the bindings whose HTTP caches every node forgets:
    /// deleted ones, and those with another allow-list, TTL or secrets;
    /// not the unchanged or merely reordered or reconfigured ones.
    #[test]
    fn a_reload_names_the_deleted_bindings_and_those_whose_http_grant_changed() {
        let allow = ["https://dir.example/"];
        let old = |id| binding(id, &allow, Some(60), b"s");
        let before = Snapshot {
            token_bindings: ["same", "moved", "deleted", "allow", "ttl", "secrets"].map(old).to_vec(),
            ..Snapshot::default()
        };
        let mut moved = old("moved");
        moved.position = 20;
        moved.config = json!({"claim": "x"});
        let after = Snapshot {
            token_bindings: vec![
                old("same"),
                moved,
                binding("allow", &["https://other.example/"], Some(60), b"s"),
                binding("ttl", &allow, Some(5), b"s"),
                binding("secrets", &allow, Some(60), b"t"),
                old("new"),
            ],
            ..Snapshot::default()
        };
        assert_eq!(before.http_changed_in(&after), ["deleted", "allow", "ttl", "secrets"]);
        assert!(Snapshot::default().http_changed_in(&after).is_empty(), "the first load forgets nothing");
    }

    #[test]
    fn a_failing_counter_read_keeps_the_last_snapshot() {
        let (dir, store) = store();
        let mut c = store.conn().unwrap();
        clients::insert(&mut c, &client("a", None)).unwrap();
        drop(c);
        let snapshots = Snapshots::load(store.clone(), SetClock::at(1_000), None).unwrap();
        let mut c = store.conn().unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut *c, "DROP TABLE config_generation").unwrap();
        assert!(snapshots.sync().is_err());
        assert!(snapshots.current().client("a").is_some(), "still serving the last snapshot");
        drop(dir);
    }
}
