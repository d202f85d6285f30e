//! DPoP proofs (RFC 9449) as the services check them: the token endpoint
//! binds what it issues to the proof's key, the PAR endpoint binds the
//! authorization code to it (§10.1), userinfo checks that a bound token
//! comes with a proof of that key.
//!
//! The pure rules are `tessera_protocol::dpop`; this file adds what needs
//! keys or state: the signature (with the header's `jwk`, by jsonwebtoken),
//! the proof's `jti` recorded once in the database
//! (`tessera_store::dpop`, shared by every node, so a proof replayed to
//! another node behind the balancer is refused too: RFC 9449 §11.1), and
//! the server nonces (§8). A nonce is the current time slot sealed with the
//! master key (AES-GCM, purpose `dpop-nonce`): every node holds that key,
//! so any node accepts any node's nonce without shared state, and a nonce
//! expires with its slot (the previous slot is still accepted, so a nonce
//! handed out just before a rotation works).

use crate::clock::SharedClock;
use crate::crypto::{CryptoError, MasterKey};
use crate::keys::KeyRing;
use crate::service::store_failure;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::sync::Arc;
use tessera_protocol::dpop::{self, Expected};
use tessera_protocol::{ErrorCode, Jkt, OAuthError};
use tessera_store::Store;
use tessera_store::clients::Client;

/// How proofs are checked (config `[dpop]`) and the URLs they name.
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// Token requests need a server nonce in their proof.
    pub require_nonce: bool,
    /// The length of a nonce's time slot.
    pub nonce_lifetime_secs: i64,
    /// The oldest `iat` accepted, in seconds before now.
    pub proof_max_age_secs: i64,
    /// The token endpoint's URL (`htu` of token requests); the HTTP layer
    /// knows the path, the services are told.
    pub token_url: String,
    /// The userinfo endpoint's URL (`htu` at userinfo).
    pub userinfo_url: String,
    /// The PAR endpoint's URL (`htu` of pushed authorization requests,
    /// RFC 9449 §10.1).
    pub par_url: String,
}

/// Checks DPoP proofs and makes server nonces.
pub struct DpopProofs {
    store: Store,
    clock: SharedClock,
    keys: Arc<KeyRing>,
    settings: DpopSettings,
}

impl DpopProofs {
    /// Proofs recorded in `store`, nonces sealed with `keys`' master key.
    pub(crate) fn new(store: Store, clock: SharedClock, keys: Arc<KeyRing>, settings: DpopSettings) -> DpopProofs {
        DpopProofs { store, clock, keys, settings }
    }

    /// The settings, for the HTTP layer (whether to send nonces).
    pub fn settings(&self) -> &DpopSettings {
        &self.settings
    }

    /// A fresh nonce for a `DPoP-Nonce` response header, when nonces are
    /// required; `None` otherwise (or if sealing failed, which is logged:
    /// the client then gets `use_dpop_nonce` again and retries).
    pub fn fresh_nonce(&self) -> Option<String> {
        if !self.settings.require_nonce {
            return None;
        }
        match seal_nonce(self.keys.master(), self.slot()) {
            Ok(nonce) => Some(nonce),
            Err(e) => {
                tracing::error!(error = %e, "could not make a DPoP nonce");
                None
            }
        }
    }

    /// The nonce time slot `now` falls in.
    fn slot(&self) -> i64 {
        self.clock.now().div_euclid(self.settings.nonce_lifetime_secs)
    }

    /// True if `nonce` was made by a node of this deployment in the current
    /// or the previous slot.
    fn nonce_is_current(&self, nonce: &str) -> bool {
        nonce_is_current(self.keys.master(), nonce, self.slot())
    }

    /// The token endpoint (RFC 9449 §5): the key a token request's proof
    /// binds the tokens to, `None` without a proof. A client registered
    /// with `dpop_bound_access_tokens` must send one (§5.2).
    pub(crate) fn token_request(&self, proof: Option<&str>, client: &Client) -> Result<Option<Jkt>, OAuthError> {
        let Some(proof) = proof else {
            if client.dpop_bound_access_tokens {
                return Err(dpop::invalid("this client must send a DPoP proof with every token request")
                    .with_detail("dpop_bound_access_tokens"));
            }
            return Ok(None);
        };
        let expected = Expected {
            htm: "POST",
            htu: &self.settings.token_url,
            now: self.clock.now(),
            max_age_secs: self.settings.proof_max_age_secs,
            access_token: None,
        };
        self.check(proof, &expected, self.settings.require_nonce).map(Some)
    }

    /// The PAR endpoint (§10.1): the key a pushed authorization request's
    /// proof binds its authorization code to, `None` without a proof. The
    /// proof is checked as at the token endpoint (§4.3, nonce included),
    /// with `htu` the PAR endpoint's URL.
    pub(crate) fn par_request(&self, proof: Option<&str>) -> Result<Option<Jkt>, OAuthError> {
        let Some(proof) = proof else { return Ok(None) };
        let expected = Expected {
            htm: "POST",
            htu: &self.settings.par_url,
            now: self.clock.now(),
            max_age_secs: self.settings.proof_max_age_secs,
            access_token: None,
        };
        self.check(proof, &expected, self.settings.require_nonce).map(Some)
    }

    /// A protected resource of this server (§7): the proof that came with
    /// `access_token` in a request `method` to `url`; the key it proves.
    pub(crate) fn at_resource(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: &str,
    ) -> Result<Jkt, OAuthError> {
        let expected = Expected {
            htm: method,
            htu: url,
            now: self.clock.now(),
            max_age_secs: self.settings.proof_max_age_secs,
            access_token: Some(access_token),
        };
        // Nonces are the authorization server's (§8); userinfo does not
        // ask for its own (§9 makes that optional).
        self.check(proof, &expected, false)
    }

    /// §4.3 in full: header, signature, claims, nonce, then `jti` once.
    fn check(&self, proof: &str, expected: &Expected<'_>, nonce_required: bool) -> Result<Jkt, OAuthError> {
        let header = dpop::parse_header(proof)?;
        let claims = verify_signature(proof, &header)?;
        let accepted = dpop::check_claims(&claims, &header, expected)?;
        if nonce_required && !accepted.nonce.as_deref().is_some_and(|n| self.nonce_is_current(n)) {
            return Err(OAuthError::new(
                ErrorCode::UseDpopNonce,
                "a DPoP nonce is required: retry with the one in the DPoP-Nonce header",
            ));
        }
        let mut conn = self.store.conn().map_err(store_failure)?;
        let first =
            tessera_store::dpop::record(&mut conn, accepted.jkt.as_str(), &accepted.jti, accepted.remember_until)
                .map_err(store_failure)?;
        if !first {
            return Err(dpop::invalid("this proof was already used (jti)"));
        }
        Ok(accepted.jkt)
    }
}

/// A nonce for time slot `slot`: the slot sealed with the master key.
fn seal_nonce(master: &MasterKey, slot: i64) -> Result<String, CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(master.seal(&crate::crypto::purpose::dpop_nonce(), &slot.to_be_bytes())?))
}

/// True if `nonce` opens with `master` and was made in `slot` or the one
/// before.
fn nonce_is_current(master: &MasterKey, nonce: &str, slot: i64) -> bool {
    let Ok(sealed) = URL_SAFE_NO_PAD.decode(nonce) else { return false };
    let Ok(plain) = master.open(&crate::crypto::purpose::dpop_nonce(), &sealed) else { return false };
    let Ok(bytes) = <[u8; 8]>::try_from(&plain[..]) else { return false };
    let made = i64::from_be_bytes(bytes);
    made == slot || made == slot - 1
}

/// §4.3 items 6 and 7: the signature verifies with the header's `jwk`,
/// under the header's `alg`. Returns the claims.
fn verify_signature(proof: &str, header: &dpop::ProofHeader) -> Result<Map<String, Value>, OAuthError> {
    let jwk: Jwk = serde_json::from_value(Value::Object(header.jwk.clone()))
        .map_err(|_| dpop::invalid("the jwk is not a usable public key"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| dpop::invalid("the jwk is not a usable public key"))?;
    let alg: Algorithm = header.alg.parse().map_err(|_| dpop::invalid("unsupported alg"))?;
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &v)
        .map(|d| d.claims)
        .map_err(|_| dpop::invalid("the signature does not verify with the header's jwk"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn a_nonce_is_good_for_its_slot_and_the_next_only() {
        let m = master(1);
        let nonce = seal_nonce(&m, 100).unwrap();
        assert!(nonce_is_current(&m, &nonce, 100));
        assert!(nonce_is_current(&m, &nonce, 101), "a rotation never refuses a nonce just handed out");
        assert!(!nonce_is_current(&m, &nonce, 102), "then it expires");
        assert!(!nonce_is_current(&m, &nonce, 99), "nor is it good before it was made");
    }

    #[test]
    fn a_nonce_opens_only_with_this_deployments_master_key() {
        let nonce = seal_nonce(&master(1), 100).unwrap();
        assert!(!nonce_is_current(&master(2), &nonce, 100));
        assert!(!nonce_is_current(&master(1), "made-up", 100));
        let mut tampered = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!nonce_is_current(&master(1), &URL_SAFE_NO_PAD.encode(tampered), 100));
        // Sealed for another purpose (a signing key's), the same bytes do not open.
        let other = master(1).seal("signing-key:k", &100i64.to_be_bytes()).unwrap();
        assert!(!nonce_is_current(&master(1), &URL_SAFE_NO_PAD.encode(other), 100));
    }
}
