//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3 and §3.2.1), throttled per (client, address).

use crate::clock::SharedClock;
use crate::service::sign_in::ThrottleSettings;
use crate::service::store_failure;
use tessera_protocol::client_auth::{self, AuthMethod};
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_protocol::{ErrorCode, OAuthError};
use tessera_store::Store;
use tessera_store::clients::{self, Client};
use tessera_store::throttle::{self, Admission};

/// Authenticates confidential clients and identifies public ones.
pub struct ClientAuthenticator {
    store: Store,
    clock: SharedClock,
    throttle: ThrottleSettings,
    assertion_audiences: Vec<String>,
}

impl ClientAuthenticator {
    /// Wrong secrets count against the `pair` limit of `throttle`; a
    /// client assertion's `aud` must name one of `assertion_audiences`.
    pub fn new(
        store: Store,
        clock: SharedClock,
        throttle: ThrottleSettings,
        assertion_audiences: Vec<String>,
    ) -> ClientAuthenticator {
        ClientAuthenticator { store, clock, throttle, assertion_audiences }
    }

    /// RFC 6749 §2.3 and §3.2.1: authenticate confidential clients, identify
    /// public ones. `addr` is the client address (`web::client_addr`).
    ///
    /// Issue #11 item 8: wrong secrets count per (client id, address) pair
    /// with the sign-in pair limits (`[login] max_failures` in the window,
    /// then a lock that doubles each time). A locked pair is answered 429
    /// `invalid_client` with `Retry-After` without looking at the secret.
    /// Keying on the pair means nobody can lock the real client out from
    /// another address. Only a check (one read) runs on the success path.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        params: &Params,
        addr: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let presented = client_auth::extract(authorization, params)?;
        let mut conn = self.store.conn().map_err(store_failure)?;
        let now = self.clock.now();
        let limits = &self.throttle;
        let key = (presented.secret.is_some()).then(|| {
            let id = SecretHash::of(presented.client_id.as_str());
            format!("client:pair:{}|{}", id.as_str(), addr.unwrap_or("unknown"))
        });
        if let Some(k) = &key
            && let Admission::Refused { until } =
                throttle::check(&mut conn, k, now, limits.pair).map_err(store_failure)?
        {
            return Err(OAuthError::invalid_client()
                .with_detail("too many wrong client secrets from this address")
                .throttled((until - now).max(1) as u64));
        }
        let found = clients::find(&mut conn, presented.client_id.as_str()).map_err(store_failure)?;
        let result = match found {
            // Issue #11 item 5: a disabled client authenticates as nothing
            // (after the same hashing work, so the answer takes as long).
            Some(client) if client.disabled => {
                let _ = client_auth::verify_secret(&presented, &[SecretHash::of("")]);
                Err(OAuthError::invalid_client().with_detail("client disabled"))
            }
            Some(client) if client.confidential && presented.method == AuthMethod::PrivateKeyJwt => {
                let assertion = presented.assertion.as_deref().unwrap_or_default();
                super::client_assertion::verify(&mut conn, &client, assertion, &self.assertion_audiences, now)
                    .map(|()| client)
            }
            Some(client) if client.confidential => {
                let hashes = clients::active_secret_hashes(&mut conn, &client.id, now).map_err(store_failure)?;
                client_auth::verify_secret(&presented, &hashes).map(|()| client)
            }
            Some(client) if presented.method == AuthMethod::None => Ok(client),
            Some(_) => Err(OAuthError::invalid_client().with_detail("public client sent a secret")),
            None => {
                // Hash anyway so an unknown id costs what a known one does.
                let _ = client_auth::verify_secret(&presented, &[SecretHash::of("")]);
                Err(OAuthError::invalid_client().with_detail("unknown client"))
            }
        };
        if let (Some(k), Err(e)) = (&key, &result)
            && e.code == ErrorCode::InvalidClient
        {
            throttle::record_failure(&mut conn, k, now, limits.pair).map_err(store_failure)?;
            if let Some(until) =
                throttle::lock_if_spent(&mut conn, k, now, limits.pair, limits.lock_secs, limits.max_lock_secs)
                    .map_err(store_failure)?
            {
                tracing::warn!(key = %k, until, "client authentication locked for this address");
            }
        }
        result
    }
}
