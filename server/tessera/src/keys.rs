//! Signing keys: generation, encryption at rest, the JWKS, rotation, and a
//! per-node cache that re-reads the database at most every `refresh_ms`, so a
//! rotation done on any node (or by the CLI) reaches every node within a second.
//! A server's background poller (`service::snapshot`) re-reads it at half
//! that interval ([`KeyRing::refresh_in_background`]), so requests find
//! fresh keys and do not read the database themselves; if a re-read fails
//! (database down), the keys already loaded keep signing.
//!
//! Life cycle per algorithm: a `next` key is published before it signs, then
//! becomes `current`, then `retired` (still published for
//! `keys.retired_publish_secs` so tokens it signed keep verifying).
//!
//! Signing: each key version is decrypted and parsed into an aws-lc-rs key
//! pair once, when the key ring first meets it, and [`Signer::sign`] writes
//! the JWS compact serialization (RFC 7515 §7.1) itself with that pair, so a
//! token costs one signature and no key parsing. jsonwebtoken verifies
//! (our own tokens here, and the end-to-end tests with `openidconnect` and
//! `oauth2`), builds the published JWKs, and signs HS256.

use crate::clock::{self, SharedClock};
use crate::crypto::{CryptoError, MasterKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_protocol::model::{SigningAlg, UnsupportedAlg};
use tessera_protocol::token::ACCESS_TOKEN_TYP;
use tessera_store::keys::{self as repo, KeyState, SigningKey};
use tessera_store::{DbConn, Store, StoreError};
use zeroize::Zeroizing;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key could not open a key.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Key generation or parsing failed.
    #[error("key material error: {0}")]
    Material(String),
    /// No current key exists for an algorithm (run `tessera migrate`/`serve` once).
    #[error("no current signing key for {0}")]
    NoCurrentKey(SigningAlg),
}

fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
        SigningAlg::HS256 => Algorithm::HS256,
    }
}

/// Generates a private key as PKCS#8 v1 DER (Ed25519 needs v1: `Jwk::from_encoding_key` rejects the v2 DER aws-lc-rs generates).
fn generate_pkcs8(alg: SigningAlg) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let err = |what: &str| KeyError::Material(format!("cannot generate {what} key"));
    let der = match alg {
        SigningAlg::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| err("RSA"))?;
            kp.as_der().map_err(|_| err("RSA"))?.as_ref().to_vec()
        }
        SigningAlg::ES256 => {
            let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| err("P-256"))?;
            kp.to_pkcs8v1().map_err(|_| err("P-256"))?.as_ref().to_vec()
        }
        SigningAlg::EdDSA => {
            let kp = Ed25519KeyPair::generate().map_err(|_| err("Ed25519"))?;
            kp.to_pkcs8v1().map_err(|_| err("Ed25519"))?.as_ref().to_vec()
        }
        SigningAlg::HS256 => {
            return Err(KeyError::Material("HS256 keys belong to APIs, not the key ring".into()));
        }
    };
    Ok(Zeroizing::new(der))
}

/// The key as jsonwebtoken takes it, to build its public JWK when a key is
/// created (signing goes through [`PrivateKey`]).
fn encoding_key(alg: SigningAlg, der: &[u8]) -> Result<EncodingKey, KeyError> {
    Ok(match alg {
        SigningAlg::RS256 => {
            let pem = Zeroizing::new(format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64::engine::general_purpose::STANDARD.encode(der)
            ));
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| KeyError::Material(e.to_string()))?
        }
        SigningAlg::ES256 => EncodingKey::from_ec_der(der),
        SigningAlg::EdDSA => EncodingKey::from_ed_der(der),
        SigningAlg::HS256 => return Err(KeyError::Material("HS256 keys are not published".into())),
    })
}

/// The public JWK of a key, with `kid`, `use` and `alg` (OIDC Core §10.1).
fn public_jwk(alg: SigningAlg, kid: &str, key: &EncodingKey) -> Result<Value, KeyError> {
    let jwk = Jwk::from_encoding_key(key, jwt_alg(alg)).map_err(|e| KeyError::Material(e.to_string()))?;
    let mut v = serde_json::to_value(jwk).map_err(|e| KeyError::Material(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert("kid".into(), json!(kid));
        m.insert("use".into(), json!("sig"));
        m.insert("alg".into(), json!(alg.as_str()));
    }
    Ok(v)
}

/// Creates a key in `key_state` and stores it encrypted.
fn create_key(
    conn: &mut DbConn,
    master: &MasterKey,
    alg: SigningAlg,
    key_state: KeyState,
    now: i64,
) -> Result<String, KeyError> {
    let kid = format!(
        "{}-{}",
        alg.as_str().to_ascii_lowercase(),
        clock::random_id(16).map_err(|e| KeyError::Material(e.to_string()))?
    );
    let der = generate_pkcs8(alg)?;
    let jwk = public_jwk(alg, &kid, &encoding_key(alg, &der)?)?;
    repo::insert(
        conn,
        &SigningKey {
            kid: kid.clone(),
            alg: alg.as_str().into(),
            state: key_state,
            private_key_enc: master.seal(&crate::crypto::purpose::signing_key(&kid), &der)?,
            public_jwk: jwk.to_string(),
            created_at: now,
            activated_at: (key_state == KeyState::Current).then_some(now),
            retired_at: None,
        },
    )?;
    Ok(kid)
}

/// Makes sure every asymmetric algorithm has a current and a next key.
/// Returns the kids created (empty when nothing was missing).
pub fn ensure_keys(store: &Store, master: &MasterKey, now: i64) -> Result<Vec<String>, KeyError> {
    store
        .tx(|conn| {
            let mut created = Vec::new();
            for alg in SigningAlg::ASYMMETRIC {
                for s in [KeyState::Current, KeyState::Next] {
                    if repo::by_state(conn, alg.as_str(), s)?.is_empty() {
                        created.push(create_key(conn, master, alg, s, now).map_err(to_store)?);
                    }
                }
            }
            Ok(created)
        })
        .map_err(KeyError::from)
}

fn to_store(e: KeyError) -> StoreError {
    match e {
        KeyError::Store(s) => s,
        other => StoreError::Backend(other.to_string()),
    }
}

/// One rotation step per algorithm: current -> retired, next -> current, and a
/// new next. Retired keys older than `retired_publish_secs` are deleted. In
/// the caller's transaction, so the audit event of the rotation commits with it.
pub fn rotate(
    conn: &mut DbConn,
    master: &MasterKey,
    now: i64,
    retired_publish_secs: i64,
) -> Result<Vec<Value>, StoreError> {
    let mut report = Vec::new();
    for alg in SigningAlg::ASYMMETRIC {
        report.push(rotate_alg(conn, master, alg, now)?);
    }
    repo::purge_retired(conn, now - retired_publish_secs)?;
    Ok(report)
}

/// One rotation step of `alg` in the caller's transaction: its current
/// keys retire, its next key becomes current (a new one if it has none),
/// and a new next key is published. Returns what happened, as [`rotate`]
/// reports each algorithm.
pub fn rotate_alg(conn: &mut DbConn, master: &MasterKey, alg: SigningAlg, now: i64) -> Result<Value, StoreError> {
    let a = alg.as_str();
    let retired: Vec<String> = repo::by_state(conn, a, KeyState::Current)?.into_iter().map(|k| k.kid).collect();
    for kid in &retired {
        repo::set_state(conn, kid, KeyState::Retired, now)?;
    }
    let promoted = match repo::by_state(conn, a, KeyState::Next)?.into_iter().next() {
        Some(k) => {
            repo::set_state(conn, &k.kid, KeyState::Current, now)?;
            k.kid
        }
        None => create_key(conn, master, alg, KeyState::Current, now).map_err(to_store)?,
    };
    let next = create_key(conn, master, alg, KeyState::Next, now).map_err(to_store)?;
    Ok(json!({"alg": a, "retired": retired, "current": promoted, "next": next}))
}

/// Retires the key `kid` now, in the caller's transaction, keeping its
/// algorithm able to sign and to announce a successor: a current key
/// retires by a rotation step of its algorithm ([`rotate_alg`]); a next key
/// retires and a new next key replaces it; a retired key stays as it is.
/// Returns what happened (`None`: it was already retired); an unknown
/// `kid` is `StoreError::NotFound`.
pub fn retire(conn: &mut DbConn, master: &MasterKey, kid: &str, now: i64) -> Result<Option<Value>, StoreError> {
    let key = repo::all(conn)?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| StoreError::NotFound(format!("signing key {kid}")))?;
    let alg: SigningAlg = key.alg.parse().map_err(|e: UnsupportedAlg| StoreError::Corrupt(e.to_string()))?;
    match key.state {
        KeyState::Retired => Ok(None),
        KeyState::Current => rotate_alg(conn, master, alg, now).map(Some),
        KeyState::Next => {
            repo::set_state(conn, kid, KeyState::Retired, now)?;
            let next = create_key(conn, master, alg, KeyState::Next, now).map_err(to_store)?;
            Ok(Some(json!({"alg": alg.as_str(), "retired": [kid], "next": next})))
        }
    }
}

/// The algorithm of the key that verified a token, and the token's claims.
pub type Verified = (SigningAlg, Map<String, Value>);

/// A private key in the form that signs without further parsing.
enum PrivateKey {
    /// RS256: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rsa(RsaKeyPair),
    /// ES256: ECDSA P-256 with SHA-256, `r || s` in 64 bytes (RFC 7518 §3.4).
    Ecdsa(EcdsaKeyPair),
    /// EdDSA with Ed25519 (RFC 8037 §3.1).
    Ed25519(Ed25519KeyPair),
    /// HS256 (RFC 7518 §3.2): an API's secret, signed by jsonwebtoken (an
    /// HMAC key has nothing to parse ahead).
    Hmac(EncodingKey),
}

impl PrivateKey {
    /// Parses a key ring key (PKCS#8 v1 DER, as [`generate_pkcs8`] writes it).
    fn from_pkcs8(alg: SigningAlg, der: &[u8]) -> Result<PrivateKey, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Material(format!("{alg} key rejected: {e}"));
        Ok(match alg {
            SigningAlg::RS256 => PrivateKey::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
            SigningAlg::ES256 => {
                PrivateKey::Ecdsa(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(rejected)?)
            }
            SigningAlg::EdDSA => PrivateKey::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?),
            SigningAlg::HS256 => {
                return Err(KeyError::Material("HS256 keys belong to APIs, not the key ring".into()));
            }
        })
    }

    /// The signature of `message` (the JWS signing input), base64url-encoded.
    fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        let failed = |_| KeyError::Material("signing failed".into());
        let signature = match self {
            PrivateKey::Rsa(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut out).map_err(failed)?;
                out
            }
            PrivateKey::Ecdsa(pair) => pair.sign(&SystemRandom::new(), message).map_err(failed)?.as_ref().to_vec(),
            PrivateKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            PrivateKey::Hmac(key) => {
                return jsonwebtoken::crypto::sign(message, key, Algorithm::HS256)
                    .map_err(|e| KeyError::Material(e.to_string()));
            }
        };
        Ok(URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The JOSE header of every token we sign: these members, in this order,
/// are what `jsonwebtoken::Header` wrote before the key ring signed itself
/// (a unit test holds the two byte-equal).
#[derive(Serialize)]
struct JoseHeader<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
}

/// A ready-to-use signing key: parsed once per key version and shared by
/// `Arc`, so signing takes no lock.
pub struct Signer {
    /// The `kid` header value.
    pub kid: String,
    /// The algorithm.
    pub alg: SigningAlg,
    key: PrivateKey,
}

impl Signer {
    /// A signer for an API's HS256 secret (not published in the JWKS).
    pub fn hs256(kid: String, secret: &[u8]) -> Signer {
        Signer { kid, alg: SigningAlg::HS256, key: PrivateKey::Hmac(EncodingKey::from_secret(secret)) }
    }

    /// A signer for a key ring key (PKCS#8 v1 DER), parsed here once.
    fn from_pkcs8(kid: String, alg: SigningAlg, der: &[u8]) -> Result<Signer, KeyError> {
        Ok(Signer { kid, alg, key: PrivateKey::from_pkcs8(alg, der)? })
    }

    /// Signs claims as a JWT with the given `typ`: the JWS compact
    /// serialization (RFC 7515 §7.1), header and claims as JSON in base64url
    /// without padding.
    #[tracing::instrument(name = "sign", level = "info", skip_all, fields(alg = self.alg.as_str(), kid = %self.kid, typ = %typ))]
    pub fn sign(&self, typ: &str, claims: &serde_json::Map<String, Value>) -> Result<String, KeyError> {
        let json = |e: serde_json::Error| KeyError::Material(e.to_string());
        let header = serde_json::to_vec(&JoseHeader { typ, alg: self.alg.as_str(), kid: &self.kid }).map_err(json)?;
        let claims = serde_json::to_vec(claims).map_err(json)?;
        // Room for both parts and an RSA-2048 signature, each in base64url.
        let mut token = String::with_capacity((header.len() + claims.len() + 256) * 4 / 3 + 8);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let signature = self.key.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }
}

#[derive(Clone)]
struct Snapshot {
    loaded: Instant,
    current: HashMap<SigningAlg, Arc<Signer>>,
    jwks: Arc<Value>,
    /// The same keys parsed once, for verifying our own tokens.
    jwk_set: Arc<jsonwebtoken::jwk::JwkSet>,
}

/// The node's view of the signing keys, refreshed from the database.
pub struct KeyRing {
    store: Store,
    master: Arc<MasterKey>,
    refresh: Duration,
    retired_publish_secs: i64,
    /// Tells which retired keys are still published and whether a token has
    /// expired (services and tests share one clock; see `clock.rs`).
    clock: SharedClock,
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    /// Decrypted keys by kid, so a refresh only decrypts new keys.
    decrypted: Mutex<HashMap<String, Arc<Signer>>>,
}

impl KeyRing {
    /// A key ring over `store`.
    pub fn new(
        store: Store,
        master: Arc<MasterKey>,
        refresh: Duration,
        retired_publish_secs: i64,
        clock: SharedClock,
    ) -> KeyRing {
        KeyRing {
            store,
            master,
            refresh,
            retired_publish_secs,
            clock,
            snapshot: Mutex::new(None),
            decrypted: Mutex::new(HashMap::new()),
        }
    }

    /// The master key (for HS256 API secrets and other sealed data).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    fn cached(&self) -> Result<Option<Arc<Snapshot>>, KeyError> {
        Ok(self.snapshot.lock().map_err(|_| KeyError::Material("key cache poisoned".into()))?.clone())
    }

    fn keep(&self, snapshot: Arc<Snapshot>) -> Result<(), KeyError> {
        *self.snapshot.lock().map_err(|_| KeyError::Material("key cache poisoned".into()))? = Some(snapshot);
        Ok(())
    }

    fn snapshot(&self) -> Result<Arc<Snapshot>, KeyError> {
        let cached = self.cached()?;
        if let Some(s) = cached.as_ref().filter(|s| s.loaded.elapsed() < self.refresh) {
            return Ok(s.clone());
        }
        match self.load() {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                self.keep(fresh.clone())?;
                Ok(fresh)
            }
            // The keys already loaded keep signing through an outage; the
            // next try is one interval away, so requests do not queue on it.
            Err(e) => match cached {
                Some(old) => {
                    tracing::warn!(error = %e, "could not re-read signing keys; keeping the loaded ones");
                    let kept = Arc::new(Snapshot { loaded: Instant::now(), ..(*old).clone() });
                    self.keep(kept.clone())?;
                    Ok(kept)
                }
                None => Err(e),
            },
        }
    }

    /// Re-reads the keys once they are older than half the refresh
    /// interval. Called by the server's background poller every few hundred
    /// milliseconds, so a request never finds the keys due for a re-read and
    /// never reads the database itself (issue #13 item 2). On error the
    /// loaded keys stay in force.
    pub fn refresh_in_background(&self) -> Result<(), KeyError> {
        if self.cached()?.is_some_and(|s| s.loaded.elapsed() < self.refresh / 2) {
            return Ok(());
        }
        let fresh = Arc::new(self.load()?);
        self.keep(fresh)
    }

    fn load(&self) -> Result<Snapshot, KeyError> {
        let now = self.clock.now();
        let rows = repo::all(&mut *self.store.conn()?)?;
        let mut current: HashMap<SigningAlg, Arc<Signer>> = HashMap::new();
        let mut keys = Vec::new();
        let mut cache = self.decrypted.lock().map_err(|_| KeyError::Material("key cache poisoned".into()))?;
        // Rows come oldest first, so the newest current key of an algorithm wins.
        for row in rows {
            let published = match row.state {
                KeyState::Next | KeyState::Current => true,
                KeyState::Retired => row.retired_at.is_some_and(|t| t > now - self.retired_publish_secs),
            };
            if published {
                keys.push(
                    serde_json::from_str::<Value>(&row.public_jwk).map_err(|e| KeyError::Material(e.to_string()))?,
                );
            }
            if row.state == KeyState::Current {
                let alg: SigningAlg = row.alg.parse().map_err(|e: UnsupportedAlg| KeyError::Material(e.to_string()))?;
                let signer = match cache.get(&row.kid) {
                    Some(s) => s.clone(),
                    None => {
                        let der =
                            self.master.open(&crate::crypto::purpose::signing_key(&row.kid), &row.private_key_enc)?;
                        let s = Arc::new(Signer::from_pkcs8(row.kid.clone(), alg, &der)?);
                        cache.insert(row.kid.clone(), s.clone());
                        s
                    }
                };
                current.insert(alg, signer);
            }
        }
        // Only current keys sign: a parsed key that is no longer current is
        // dropped, so the cache holds one entry per algorithm, not one per
        // rotation since start (a rotated-back key would be parsed again).
        cache.retain(|kid, _| current.values().any(|s| s.kid == *kid));
        let jwks = json!({ "keys": keys });
        let jwk_set = serde_json::from_value(jwks.clone()).map_err(|e| KeyError::Material(e.to_string()))?;
        Ok(Snapshot { loaded: Instant::now(), current, jwks: Arc::new(jwks), jwk_set: Arc::new(jwk_set) })
    }

    /// Whether the keys are loaded and not due for a re-read, so that
    /// [`Self::signer`] answers from memory. The background poller keeps
    /// them so; a caller that must not block (an HTTP worker) checks this
    /// first and hands the request to a blocking thread otherwise.
    pub fn fresh(&self) -> bool {
        self.cached().ok().flatten().is_some_and(|s| s.loaded.elapsed() < self.refresh)
    }

    /// The current signer for an asymmetric algorithm.
    pub fn signer(&self, alg: SigningAlg) -> Result<Arc<Signer>, KeyError> {
        self.snapshot()?.current.get(&alg).cloned().ok_or(KeyError::NoCurrentKey(alg))
    }

    /// The JWKS document: next, current and recently retired public keys.
    pub fn jwks(&self) -> Result<Arc<Value>, KeyError> {
        Ok(self.snapshot()?.jwks.clone())
    }

    /// Verifies the signature of an access token this issuer signed with a
    /// published key: `typ: at+jwt` (RFC 8725 §3.11), the algorithm of the
    /// key its `kid` names (never the header's choice, RFC 8725 §3.1),
    /// signature, `iss`, `exp` and `nbf`. Returns the key's algorithm with the
    /// claims, for `tessera_protocol::token::check_access_token`, which
    /// callers must apply next. `None` for anything else, including HS256
    /// tokens, whose keys are not published.
    pub fn verify_access_token(&self, token: &str, issuer: &str) -> Result<Option<Verified>, KeyError> {
        self.verify_own(token, issuer, ACCESS_TOKEN_TYP, true)
    }

    /// Verifies an ID token this issuer signed, as an `id_token_hint`
    /// (OIDC Core §3.1.2.1): signature and issuer, but an expired one is
    /// still a good hint of who the user was.
    pub fn verify_id_token_hint(&self, token: &str, issuer: &str) -> Result<Option<Map<String, Value>>, KeyError> {
        Ok(self.verify_own(token, issuer, "JWT", false)?.map(|(_, claims)| claims))
    }

    fn verify_own(&self, token: &str, issuer: &str, typ: &str, check_exp: bool) -> Result<Option<Verified>, KeyError> {
        let Ok(header) = jsonwebtoken::decode_header(token) else { return Ok(None) };
        if header.typ.as_deref() != Some(typ) {
            return Ok(None);
        }
        let Some(kid) = header.kid else { return Ok(None) };
        let set = self.snapshot()?.jwk_set.clone();
        let Some(jwk) = set.find(&kid) else { return Ok(None) };
        let Some(alg) = jwk.common.key_algorithm.and_then(|a| Algorithm::try_from(a).ok()) else {
            return Ok(None);
        };
        let Some(signing_alg) = SigningAlg::ASYMMETRIC.into_iter().find(|a| jwt_alg(*a) == alg) else {
            return Ok(None);
        };
        let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else { return Ok(None) };
        let now = self.clock.now();
        Ok(decode_claims(token, &key, alg, issuer, now, check_exp).map(|claims| (signing_alg, claims)))
    }
}

/// Signature, `iss` and the required claims by jsonwebtoken; `exp` and `nbf`
/// against `now` here, because jsonwebtoken reads the system clock and
/// every time decision in Tessera follows the injected one.
fn decode_claims(
    token: &str,
    key: &jsonwebtoken::DecodingKey,
    alg: Algorithm,
    issuer: &str,
    now: i64,
    check_exp: bool,
) -> Option<Map<String, Value>> {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.set_issuer(&[issuer]);
    v.validate_aud = false;
    if check_exp {
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
    } else {
        v.set_required_spec_claims(&["iss", "sub"]);
    }
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &v).ok()?.claims;
    let leeway = tessera_protocol::token::LEEWAY_SECS;
    let time = |name: &str| claims.get(name).map(|v| v.as_i64());
    match time("nbf") {
        Some(Some(nbf)) if nbf > now.saturating_add(leeway) => return None,
        Some(None) => return None,
        _ => {}
    }
    if check_exp {
        match time("exp") {
            Some(Some(exp)) if exp >= now.saturating_sub(leeway) => {}
            _ => return None,
        }
    }
    Some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Header, Validation};

    /// A fresh key ring key: its signer, and the verifying key built from
    /// the JWK we publish for it (as a relying party would).
    fn fresh(alg: SigningAlg, kid: &str) -> (Signer, EncodingKey, DecodingKey) {
        let der = generate_pkcs8(alg).unwrap();
        let key = encoding_key(alg, &der).unwrap();
        let jwk: Jwk = serde_json::from_value(public_jwk(alg, kid, &key).unwrap()).unwrap();
        (Signer::from_pkcs8(kid.into(), alg, &der).unwrap(), key, DecodingKey::from_jwk(&jwk).unwrap())
    }

    fn sample_claims() -> Map<String, Value> {
        let claims = json!({
            "iss": "https://i.test", "sub": "s", "aud": "https://api.test", "exp": 4_000_000_000_i64,
            "iat": 1_000, "nbf": 1_000, "jti": "j", "client_id": "c", "scope": "read write",
            "https://example.com/name": "Zoë \"quoted\" </script>",
        });
        claims.as_object().unwrap().clone()
    }

    fn segment(token: &str, n: usize) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(token.split('.').nth(n).unwrap()).unwrap()
    }

    /// Issue #13 item 1: what the pre-parsed key pairs sign verifies with
    /// jsonwebtoken's own verifier from the published JWK, with the claims
    /// and the header intact, and the signature has the size its algorithm
    /// prescribes (ES256 is `r || s`, not DER: RFC 7518 §3.4).
    #[test]
    fn tokens_verify_with_jsonwebtoken_from_the_published_jwk() {
        for (alg, signature_len) in [(SigningAlg::RS256, 256), (SigningAlg::ES256, 64), (SigningAlg::EdDSA, 64)] {
            let (signer, _, decoding) = fresh(alg, "k1");
            let token = signer.sign("at+jwt", &sample_claims()).unwrap();
            let mut v = Validation::new(jwt_alg(alg));
            v.set_audience(&["https://api.test"]);
            let data = jsonwebtoken::decode::<Map<String, Value>>(&token, &decoding, &v)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(data.claims, sample_claims(), "{alg}");
            assert_eq!(data.header.alg, jwt_alg(alg));
            assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(data.header.kid.as_deref(), Some("k1"));
            assert_eq!(segment(&token, 2).len(), signature_len, "{alg}");
            assert!(!token.contains('='), "{alg}: base64url without padding");
            // Another key's JWK must not verify it.
            let (_, _, other) = fresh(alg, "k1");
            assert!(jsonwebtoken::decode::<Map<String, Value>>(&token, &other, &v).is_err(), "{alg}");
        }
    }

    /// The header is byte for byte what `jsonwebtoken::Header` wrote before
    /// the key ring signed by itself: `typ`, `alg`, `kid`, in that order.
    #[test]
    fn header_is_the_one_jsonwebtoken_writes() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::HS256] {
            let signer = match alg {
                SigningAlg::HS256 => Signer::hs256("hs256-api".into(), b"an HS256 secret of 32 bytes....."),
                alg => fresh(alg, "k-7").0,
            };
            for typ in [ACCESS_TOKEN_TYP, "JWT"] {
                let mut before = Header::new(jwt_alg(alg));
                before.typ = Some(typ.to_owned());
                before.kid = Some(signer.kid.clone());
                let token = signer.sign(typ, &sample_claims()).unwrap();
                assert_eq!(segment(&token, 0), serde_json::to_vec(&before).unwrap(), "{alg} {typ}");
                assert_eq!(segment(&token, 1), serde_json::to_vec(&sample_claims()).unwrap(), "{alg} {typ}");
            }
        }
    }

    /// RS256 (PKCS#1 v1.5) and Ed25519 signatures are deterministic, so the
    /// whole token equals the one `jsonwebtoken::encode` makes with the same
    /// key; ES256 is randomised and is checked by verification above.
    #[test]
    fn deterministic_algorithms_give_the_token_jsonwebtoken_gives() {
        for alg in [SigningAlg::RS256, SigningAlg::EdDSA] {
            let (signer, key, _) = fresh(alg, "k2");
            let mut header = Header::new(jwt_alg(alg));
            header.typ = Some("JWT".into());
            header.kid = Some("k2".into());
            let expected = jsonwebtoken::encode(&header, &sample_claims(), &key).unwrap();
            assert_eq!(signer.sign("JWT", &sample_claims()).unwrap(), expected, "{alg}");
        }
    }

    /// HS256 (an API's own secret) verifies with that secret and no other.
    #[test]
    fn hs256_verifies_with_its_secret() {
        let signer = Signer::hs256("hs256-api".into(), b"an HS256 secret of 32 bytes.....");
        let token = signer.sign(ACCESS_TOKEN_TYP, &sample_claims()).unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&["https://api.test"]);
        let ok = DecodingKey::from_secret(b"an HS256 secret of 32 bytes.....");
        assert_eq!(jsonwebtoken::decode::<Map<String, Value>>(&token, &ok, &v).unwrap().claims, sample_claims());
        let wrong = DecodingKey::from_secret(b"another HS256 secret of 32 bytes");
        assert!(jsonwebtoken::decode::<Map<String, Value>>(&token, &wrong, &v).is_err());
    }

    #[test]
    fn the_key_ring_refuses_key_material_of_another_algorithm() {
        let der = generate_pkcs8(SigningAlg::ES256).unwrap();
        assert!(Signer::from_pkcs8("k".into(), SigningAlg::RS256, &der).is_err());
        assert!(Signer::from_pkcs8("k".into(), SigningAlg::EdDSA, &der).is_err());
        assert!(Signer::from_pkcs8("k".into(), SigningAlg::HS256, &der).is_err());
    }

    /// Issue #14: retiring a key keeps its algorithm a current and a next
    /// key: the current key retires by a rotation step (its next key signs),
    /// a next key is replaced, a retired key stays as it is; the other
    /// algorithms are untouched.
    #[test]
    fn retiring_a_key_keeps_its_algorithm_a_current_and_a_next_key() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let store = Store::connect(&url, 2, Duration::from_secs(5)).unwrap();
        store.migrate().unwrap();
        let master = MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap();
        ensure_keys(&store, &master, 1_000).unwrap();
        let mut c = store.conn().unwrap();
        let one = |c: &mut DbConn, alg: SigningAlg, s: KeyState| {
            let keys = repo::by_state(c, alg.as_str(), s).unwrap();
            assert_eq!(keys.len(), 1, "{alg} {s}");
            keys[0].kid.clone()
        };
        let (current, next) =
            (one(&mut c, SigningAlg::ES256, KeyState::Current), one(&mut c, SigningAlg::ES256, KeyState::Next));
        let rs_current = one(&mut c, SigningAlg::RS256, KeyState::Current);

        retire(&mut c, &master, &current, 2_000).unwrap().unwrap();
        assert_eq!(one(&mut c, SigningAlg::ES256, KeyState::Current), next, "the next key signs");
        let new_next = one(&mut c, SigningAlg::ES256, KeyState::Next);
        assert_ne!(new_next, next);
        retire(&mut c, &master, &new_next, 3_000).unwrap().unwrap();
        assert_eq!(one(&mut c, SigningAlg::ES256, KeyState::Current), next, "retiring a next key changes no signer");
        assert_ne!(one(&mut c, SigningAlg::ES256, KeyState::Next), new_next, "a new next key is published");
        let retired = repo::by_state(&mut c, "ES256", KeyState::Retired).unwrap();
        assert_eq!(retired.iter().map(|k| k.retired_at).collect::<Vec<_>>(), [Some(3_000), Some(2_000)]);
        assert!(retire(&mut c, &master, &current, 4_000).unwrap().is_none(), "already retired");
        assert_eq!(one(&mut c, SigningAlg::RS256, KeyState::Current), rs_current, "other algorithms untouched");
        assert!(matches!(retire(&mut c, &master, "nope", 4_000), Err(StoreError::NotFound(_))));
    }

    /// Issue #13 item 1: a key version is decrypted and parsed once; every
    /// refresh of the key ring hands out the same parsed signer until a
    /// rotation makes another key current.
    #[test]
    fn each_key_version_is_parsed_once_across_refreshes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let store = Store::connect(&url, 2, Duration::from_secs(5)).unwrap();
        store.migrate().unwrap();
        let master =
            Arc::new(MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap());
        ensure_keys(&store, &master, 1_000_000).unwrap();
        // A zero refresh interval: every call below reloads from the database.
        let ring = KeyRing::new(store.clone(), master.clone(), Duration::ZERO, 3_600, clock::SetClock::at(1_000_000));
        for alg in SigningAlg::ASYMMETRIC {
            let first = ring.signer(alg).unwrap();
            assert!(Arc::ptr_eq(&first, &ring.signer(alg).unwrap()), "{alg}");
        }
        let before: Vec<_> = SigningAlg::ASYMMETRIC.iter().map(|a| ring.signer(*a).unwrap()).collect();
        store.tx(|c| rotate(c, &master, 1_000_001, 3_600)).unwrap();
        for (alg, old) in SigningAlg::ASYMMETRIC.into_iter().zip(before) {
            let new = ring.signer(alg).unwrap();
            assert_ne!(new.kid, old.kid, "{alg}");
            assert!(Arc::ptr_eq(&new, &ring.signer(alg).unwrap()), "{alg}");
        }
        // The cache keeps the current keys only, however often keys rotate.
        store.tx(|c| rotate(c, &master, 1_000_002, 3_600)).unwrap();
        for alg in SigningAlg::ASYMMETRIC {
            ring.signer(alg).unwrap();
        }
        let cached = ring.decrypted.lock().unwrap().len();
        assert_eq!(cached, SigningAlg::ASYMMETRIC.len(), "one parsed key per algorithm");
    }

    /// Issue #13 item 2: when the keys cannot be re-read (database down),
    /// the ones already loaded keep signing and stay published.
    #[test]
    fn a_failed_re_read_keeps_the_loaded_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let store = Store::connect(&url, 2, Duration::from_secs(5)).unwrap();
        store.migrate().unwrap();
        let master =
            Arc::new(MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap());
        ensure_keys(&store, &master, 1_000_000).unwrap();
        let ring = KeyRing::new(store.clone(), master, Duration::ZERO, 3_600, clock::SetClock::at(1_000_000));
        ring.refresh_in_background().unwrap();
        let before = ring.signer(SigningAlg::ES256).unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut *store.conn().unwrap(), "DROP TABLE signing_keys")
            .unwrap();
        assert!(ring.refresh_in_background().is_err(), "the re-read fails");
        let after = ring.signer(SigningAlg::ES256).unwrap();
        assert!(Arc::ptr_eq(&before, &after), "the loaded key still signs");
        assert!(!ring.jwks().unwrap()["keys"].as_array().unwrap().is_empty(), "and is still published");
    }

    /// Issue #12 item 3: `exp` and `nbf` of our own tokens are judged by the
    /// injected time, with the protocol's leeway, not by the system clock.
    #[test]
    fn expiry_and_not_before_follow_the_given_time() {
        let alg = SigningAlg::ES256;
        let (signer, _, decoding) = fresh(alg, "k1");
        let claims = json!({"iss": "https://i.test", "sub": "s", "nbf": 1_000, "exp": 2_000});
        let token = signer.sign("at+jwt", claims.as_object().unwrap()).unwrap();
        let valid = |now, check_exp| decode_claims(&token, &decoding, jwt_alg(alg), "https://i.test", now, check_exp);
        assert!(valid(1_500, true).is_some());
        assert!(valid(2_030, true).is_some(), "within the leeway");
        assert!(valid(2_031, true).is_none(), "expired");
        assert!(valid(5_000, false).is_some(), "a hint may be expired");
        assert!(valid(969, false).is_none(), "not yet valid");
        assert!(valid(970, true).is_some(), "nbf within the leeway");
        assert!(valid(1_500, true).map(|c| c["sub"] == "s").unwrap());
    }

    #[test]
    fn every_algorithm_signs_and_its_jwk_has_no_private_members() {
        for alg in SigningAlg::ASYMMETRIC {
            let der = generate_pkcs8(alg).unwrap();
            let key = encoding_key(alg, &der).unwrap();
            let jwk = public_jwk(alg, "k1", &key).unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(jwk.get(private).is_none(), "{alg}: {private}");
            }
            assert_eq!(jwk["kid"], "k1");
            let signer = Signer::from_pkcs8("k1".into(), alg, &der).unwrap();
            let token = signer.sign("at+jwt", &serde_json::Map::new()).unwrap();
            assert_eq!(token.split('.').count(), 3);
        }
    }
}
