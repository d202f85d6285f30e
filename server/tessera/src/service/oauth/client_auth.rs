//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3 and §3.2.1), throttled per (client, address).
//!
//! The success path reads nothing from the database (issue #13 item 2): the
//! client, its secret hashes and the locks in force come from the node's
//! snapshot (`service::snapshot`). Only a failure writes (the cold path):
//! the count and, once spent, the lock, which this node mirrors at once and
//! other nodes within one second.

use super::remote_jwks::RemoteJwks;
use crate::clock::SharedClock;
use crate::service::sign_in::ThrottleSettings;
use crate::service::snapshot::{CLIENT_LOCK_PREFIX, Snapshots};
use crate::service::store_failure;
use std::sync::Arc;
use tessera_protocol::client_auth::{self, AuthMethod, PresentedCredentials};
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::{ErrorCode, OAuthError};
use tessera_store::Store;
use tessera_store::clients::Client;
use tessera_store::throttle;

/// Authenticates confidential clients and identifies public ones.
pub struct ClientAuthenticator {
    store: Store,
    clock: SharedClock,
    throttle: ThrottleSettings,
    snapshots: Arc<Snapshots>,
    assertion_audiences: Vec<String>,
    remote_jwks: Arc<RemoteJwks>,
}

impl ClientAuthenticator {
    /// Wrong secrets count against the `pair` limit of `throttle`; clients
    /// and locks are read from `snapshots`, failures written to `store`; a
    /// client assertion's `aud` must name one of `assertion_audiences`,
    /// and keys registered by URL come through `remote_jwks`.
    pub fn new(
        store: Store,
        clock: SharedClock,
        throttle: ThrottleSettings,
        snapshots: Arc<Snapshots>,
        assertion_audiences: Vec<String>,
        remote_jwks: Arc<RemoteJwks>,
    ) -> ClientAuthenticator {
        ClientAuthenticator { store, clock, throttle, snapshots, assertion_audiences, remote_jwks }
    }

    /// RFC 6749 §2.3 and §3.2.1: authenticate confidential clients, identify
    /// public ones. `addr` is the client address (`web::client_addr`).
    ///
    /// Issue #11 item 8: wrong secrets count per (client id, address) pair
    /// with the sign-in pair limits (`[login] max_failures` in the window,
    /// then a lock that doubles each time). A locked pair is answered 429
    /// `invalid_client` with `Retry-After` without looking at the secret.
    /// Keying on the pair means nobody can lock the real client out from
    /// another address. The check reads the in-memory lock mirror: the
    /// success path makes no database query.
    #[tracing::instrument(name = "client_auth", level = "info", skip_all, fields(client_id = tracing::field::Empty))]
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        params: &Params,
        addr: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let presented = client_auth::extract(authorization, params)?;
        tracing::Span::current().record("client_id", presented.client_id.as_str());
        let now = self.clock.now();
        let key = self.lock_key(&presented, addr);
        self.check_lock(key.as_deref(), now)?;
        let result = match self.decide_from_snapshot(&presented, now) {
            Some(result) => result,
            None => {
                // The assertion's `jti` is recorded once for every node, so
                // this method, unlike a secret, writes to the database.
                let client = self.snapshots.current().client(presented.client_id.as_str()).map(|e| e.client.clone());
                let client = client.ok_or_else(|| OAuthError::invalid_client().with_detail("unknown client"))?;
                let assertion = presented.assertion.as_deref().unwrap_or_default();
                let audiences = &self.assertion_audiences;
                super::client_assertion::verify(&self.store, &self.remote_jwks, &client, assertion, audiences, now)
                    .map(|()| client)
            }
        };
        if let (Some(k), Err(e)) = (&key, &result)
            && e.code == ErrorCode::InvalidClient
        {
            self.record_failure(k, now)?;
        }
        result
    }

    /// [`Self::authenticate`] for a caller that must not block (an HTTP
    /// worker, issue #13 item 5): the same checks on the same snapshot,
    /// `None` where `authenticate` would touch the database (a client
    /// assertion, whose `jti` is recorded; a wrong secret, whose failure is
    /// counted). The caller then calls `authenticate` on a blocking thread,
    /// which decides the request from the start.
    #[tracing::instrument(name = "client_auth", level = "info", skip_all, fields(client_id = %presented.client_id.as_str()))]
    pub(crate) fn authenticate_without_blocking(
        &self,
        presented: &PresentedCredentials,
        addr: Option<&str>,
    ) -> Option<Result<Client, OAuthError>> {
        let now = self.clock.now();
        let key = self.lock_key(presented, addr);
        if let Err(e) = self.check_lock(key.as_deref(), now) {
            return Some(Err(e));
        }
        let result = self.decide_from_snapshot(presented, now)?;
        match &result {
            Err(e) if key.is_some() && e.code == ErrorCode::InvalidClient => None,
            _ => Some(result),
        }
    }

    /// The throttle key of a request that presents a secret: (client id,
    /// address), the id hashed so the key has a bounded length.
    fn lock_key(&self, presented: &PresentedCredentials, addr: Option<&str>) -> Option<String> {
        (presented.secret.is_some()).then(|| {
            let id = SecretHash::of(presented.client_id.as_str());
            format!("{CLIENT_LOCK_PREFIX}{}|{}", id.as_str(), addr.unwrap_or("unknown"))
        })
    }

    /// `Err` (429 `invalid_client` with `Retry-After`) while `key` is locked,
    /// from the in-memory lock mirror.
    fn check_lock(&self, key: Option<&str>, now: i64) -> Result<(), OAuthError> {
        if let Some(k) = key
            && let Some(until) = self.snapshots.locked_until(k, now)
        {
            crate::service::metrics::throttle_hit("client_auth");
            return Err(OAuthError::invalid_client()
                .with_detail("too many wrong client secrets from this address")
                .throttled((until - now).max(1) as u64));
        }
        Ok(())
    }

    /// Decides `presented` from the snapshot alone; `None` for a client
    /// assertion of a confidential client (its `jti` must be recorded).
    fn decide_from_snapshot(&self, presented: &PresentedCredentials, now: i64) -> Option<Result<Client, OAuthError>> {
        let snapshot = self.snapshots.current();
        Some(match snapshot.client(presented.client_id.as_str()) {
            // Issue #11 item 5: a disabled client authenticates as nothing
            // (after the same hashing work, so the answer takes as long).
            Some(entry) if entry.client.disabled => {
                let _ = client_auth::verify_secret(presented, &[SecretHash::of("")]);
                Err(OAuthError::invalid_client().with_detail("client disabled"))
            }
            Some(entry) if entry.client.confidential && presented.method == AuthMethod::PrivateKeyJwt => return None,
            Some(entry) if entry.client.confidential => {
                client_auth::verify_secret(presented, &entry.active_secret_hashes(now)).map(|()| entry.client.clone())
            }
            Some(entry) if presented.method == AuthMethod::None => Ok(entry.client.clone()),
            Some(_) => Err(OAuthError::invalid_client().with_detail("public client sent a secret")),
            None => {
                // Hash anyway so an unknown id costs what a known one does.
                let _ = client_auth::verify_secret(presented, &[SecretHash::of("")]);
                Err(OAuthError::invalid_client().with_detail("unknown client"))
            }
        })
    }

    /// The cold path: counts a failure in the database (shared by every
    /// node) and locks the pair once its failures are spent; a lock is
    /// mirrored here at once.
    fn record_failure(&self, key: &str, now: i64) -> Result<(), OAuthError> {
        let limits = &self.throttle;
        let mut conn = self.store.conn().map_err(store_failure)?;
        throttle::record_failure(&mut conn, key, now, limits.pair).map_err(store_failure)?;
        if let Some(until) =
            throttle::lock_if_spent(&mut conn, key, now, limits.pair, limits.lock_secs, limits.max_lock_secs)
                .map_err(store_failure)?
        {
            self.snapshots.note_lock(key, until);
            tracing::warn!(key = %key, until, "client authentication locked for this address");
        }
        Ok(())
    }
}
