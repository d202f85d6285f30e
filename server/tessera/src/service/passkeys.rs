//! WebAuthn passkeys as the console's second factor (issue #18 item 2),
//! through the `webauthn-rs` crate's passkey ceremonies (user verification
//! required, no attestation policy of ours).
//!
//! - The relying party is the issuer: its host is the RP id, its origin the
//!   only origin accepted. An issuer whose host is an IP address has no
//!   passkeys (browsers refuse an IP address as an RP id): [`RelyingParty::for_issuer`]
//!   returns `None` and the console says so.
//! - A ceremony's state stays server-side: serialized, sealed with the
//!   master key bound to the session (`crypto::purpose::admin_passkey_ceremony`),
//!   stored in the session's one ceremony row, taken once, valid for
//!   [`CEREMONY_SECS`]. A challenge is never answered twice, nor by another
//!   ceremony.
//! - The credential is stored as the crate serializes it; after each
//!   sign-in the updated counter and backup state are written back.
//! - Failed sign-ins are throttled and audited exactly as wrong TOTP codes
//!   are (`service::second_factor`: the same per-administrator key, so
//!   switching factors does not buy more guesses).

use super::admin::{AdminError, audit};
use super::second_factor::{self, CodeError};
use super::sign_in::ThrottleSettings;
use crate::clock;
use crate::crypto::{MasterKey, purpose};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tessera_store::admins::{self, Admin};
use tessera_store::passkeys::{self, Passkey as Row};
use tessera_store::{Store, StoreError};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// How long a ceremony (the browser's prompt) may take, in seconds.
pub const CEREMONY_SECS: i64 = 300;
/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
const REGISTER: &str = "register";
const AUTHENTICATE: &str = "authenticate";

/// The server as a WebAuthn relying party.
#[derive(Debug)]
pub struct RelyingParty {
    webauthn: Webauthn,
}

impl RelyingParty {
    /// The relying party of `issuer` (the console's public URL): `None`
    /// when its host is not a domain name (an IP address), which browsers
    /// refuse as an RP id.
    pub fn for_issuer(issuer: &str) -> Option<RelyingParty> {
        let origin = Url::parse(issuer).ok()?;
        let host = origin.domain()?.to_owned();
        let webauthn = WebauthnBuilder::new(&host, &origin).ok()?.rp_name("Tessera").build().ok()?;
        Some(RelyingParty { webauthn })
    }
}

/// The console session a ceremony belongs to: its administrator and the
/// hash of its cookie (the ceremony row's key and the sealing's binding).
#[derive(Debug, Clone, Copy)]
pub struct Ceremony<'a> {
    /// The administrator.
    pub admin: &'a Admin,
    /// The session's id hash.
    pub session_hash: &'a str,
}

impl Ceremony<'_> {
    fn actor(&self) -> String {
        format!("admin:{}", self.admin.username)
    }
}

/// A passkey as the account page lists it.
#[derive(Debug, Clone)]
pub struct PasskeyView {
    /// Row id (the remove form's value).
    pub id: String,
    /// The administrator's name for it.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of its last sign-in.
    pub last_used_at: Option<i64>,
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    AdminError::Internal(e.to_string())
}

/// The credential id as stored: unpadded base64url, as WebAuthn's JSON
/// carries it.
fn credential_id(passkey: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(passkey.cred_id())
}

fn seal_state(master: &MasterKey, ceremony: Ceremony<'_>, state: &impl Serialize) -> Result<Vec<u8>, AdminError> {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(state).map_err(internal)?);
    master.seal(&purpose::admin_passkey_ceremony(ceremony.session_hash), &json).map_err(internal)
}

/// The session's ceremony of `kind`, taken once; `None` if there is none,
/// it expired or it was sealed for another ceremony.
fn take_state<T: DeserializeOwned>(
    store: &Store,
    master: &MasterKey,
    ceremony: Ceremony<'_>,
    kind: &str,
    now: i64,
) -> Result<Option<T>, AdminError> {
    let Some(sealed) = passkeys::take_ceremony(&mut *store.conn()?, ceremony.session_hash, kind, now)? else {
        return Ok(None);
    };
    let Ok(json) = master.open(&purpose::admin_passkey_ceremony(ceremony.session_hash), &sealed) else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&json).ok())
}

fn stored(rows: &[Row]) -> Result<Vec<Passkey>, AdminError> {
    rows.iter().map(|r| serde_json::from_str(&r.credential).map_err(internal)).collect()
}

/// The administrator's passkeys, oldest first.
pub fn list(store: &Store, admin_id: &str) -> Result<Vec<PasskeyView>, StoreError> {
    let rows = passkeys::of_admin(&mut *store.conn()?, admin_id)?;
    Ok(rows
        .into_iter()
        .map(|r| PasskeyView { id: r.id, name: r.name, created_at: r.created_at, last_used_at: r.last_used_at })
        .collect())
}

/// How many passkeys the administrator has.
pub fn count(store: &Store, admin_id: &str) -> Result<i64, StoreError> {
    passkeys::count(&mut *store.conn()?, admin_id)
}

/// Starts enrolling a passkey for the session's administrator: the options
/// for `navigator.credentials.create` (their passkeys excluded, so one
/// authenticator is not enrolled twice).
pub fn begin_registration(
    store: &Store,
    master: &MasterKey,
    rp: &RelyingParty,
    ceremony: Ceremony<'_>,
    now: i64,
) -> Result<CreationChallengeResponse, AdminError> {
    let admin = ceremony.admin;
    let user = Uuid::parse_str(&admin.id).map_err(internal)?;
    let existing = stored(&passkeys::of_admin(&mut *store.conn()?, &admin.id)?)?;
    let exclude = Some(existing.iter().map(|p| p.cred_id().clone()).collect());
    let (options, state) =
        rp.webauthn.start_passkey_registration(user, &admin.username, &admin.username, exclude).map_err(internal)?;
    let sealed = seal_state(master, ceremony, &state)?;
    passkeys::put_ceremony(&mut *store.conn()?, ceremony.session_hash, REGISTER, &sealed, now + CEREMONY_SECS)?;
    Ok(options)
}

/// A passkey's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, one line.
fn valid_name(raw: &str) -> Result<String, AdminError> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AdminError::Invalid {
            field: "name",
            message: format!("must be 1 to {MAX_NAME_CHARS} characters on one line"),
        });
    }
    Ok(name.to_owned())
}

/// Finishes enrolling: checks the browser's answer (`credential`, JSON)
/// against the session's registration ceremony and stores the passkey as
/// `name`; audited as `admin.passkey.enrol`.
pub fn finish_registration(
    store: &Store,
    master: &MasterKey,
    rp: &RelyingParty,
    ceremony: Ceremony<'_>,
    name: &str,
    credential: &str,
    now: i64,
) -> Result<(), AdminError> {
    let name = valid_name(name)?;
    let expired = || AdminError::Invalid {
        field: "passkey",
        message: "was not created for this page's request, or it took over five minutes; try again".into(),
    };
    let Some(state) = take_state::<PasskeyRegistration>(store, master, ceremony, REGISTER, now)? else {
        return Err(expired());
    };
    let answer: RegisterPublicKeyCredential = serde_json::from_str(credential).map_err(|_| expired())?;
    let passkey = rp
        .webauthn
        .finish_passkey_registration(&answer, &state)
        .map_err(|e| AdminError::Invalid { field: "passkey", message: format!("was refused ({e}); try again") })?;
    let row = Row {
        id: clock::uuid(),
        admin_id: ceremony.admin.id.clone(),
        credential_id: credential_id(&passkey),
        name: name.clone(),
        credential: serde_json::to_string(&passkey).map_err(internal)?,
        created_at: now,
        last_used_at: None,
    };
    store.tx(|conn| {
        passkeys::insert(conn, &row)?;
        audit(conn, &ceremony.actor(), now, "admin.passkey.enrol", &ceremony.admin.id, json!({"name": name}))
    })?;
    Ok(())
}

/// Removes the administrator's passkey `id`; refused (`Conflict`) when it
/// is their last second factor and the server requires one; audited as
/// `admin.passkey.remove`.
pub fn remove(store: &Store, actor: &str, admin_id: &str, id: &str, now: i64) -> Result<(), AdminError> {
    store.tx(|conn| {
        let Some(removed) = passkeys::delete(conn, admin_id, id)? else {
            return Err(StoreError::NotFound(format!("passkey {id}")));
        };
        let has_totp = admins::find(conn, admin_id)?.is_some_and(|a| a.totp_secret_enc.is_some());
        if !has_totp && passkeys::count(conn, admin_id)? == 0 && admins::second_factor_required(conn)? {
            return Err(StoreError::Conflict(
                "A second factor is required for every administrator; this is your last one. Add another first.".into(),
            ));
        }
        audit(conn, actor, now, "admin.passkey.remove", admin_id, json!({"name": removed.name}))
    })?;
    Ok(())
}

/// Starts a sign-in with a passkey for a session waiting for its second
/// factor: the options for `navigator.credentials.get`. `NotFound` when
/// the administrator has no passkey.
pub fn begin_authentication(
    store: &Store,
    master: &MasterKey,
    rp: &RelyingParty,
    ceremony: Ceremony<'_>,
    now: i64,
) -> Result<RequestChallengeResponse, AdminError> {
    let existing = stored(&passkeys::of_admin(&mut *store.conn()?, &ceremony.admin.id)?)?;
    if existing.is_empty() {
        return Err(AdminError::NotFound("passkey".into()));
    }
    let (options, state) = rp.webauthn.start_passkey_authentication(&existing).map_err(internal)?;
    let sealed = seal_state(master, ceremony, &state)?;
    passkeys::put_ceremony(&mut *store.conn()?, ceremony.session_hash, AUTHENTICATE, &sealed, now + CEREMONY_SECS)?;
    Ok(options)
}

/// Checks the browser's answer (`credential`, JSON) to the session's
/// sign-in ceremony. Throttled and audited like a TOTP code
/// (`admin.second_factor.failed` with `"method": "passkey"`); a success
/// writes the passkey's new counter and backup state back and is audited
/// as `admin.second_factor.passkey`.
pub fn finish_authentication(
    store: &Store,
    master: &MasterKey,
    rp: &RelyingParty,
    settings: &ThrottleSettings,
    ceremony: Ceremony<'_>,
    credential: &str,
    now: i64,
) -> Result<(), CodeError> {
    let admin = ceremony.admin;
    let throttle = second_factor::admit(&mut *store.conn()?, settings, &admin.id, now)?;
    let state = take_state::<PasskeyAuthentication>(store, master, ceremony, AUTHENTICATE, now)?;
    let answer = serde_json::from_str::<PublicKeyCredential>(credential).ok();
    let result = match (state, answer) {
        (Some(state), Some(answer)) => rp.webauthn.finish_passkey_authentication(&answer, &state).ok(),
        _ => None,
    };
    let mut conn = store.conn()?;
    if let Some(result) = result {
        let rows = passkeys::of_admin(&mut conn, &admin.id)?;
        for row in rows {
            let mut passkey: Passkey = serde_json::from_str(&row.credential).map_err(internal)?;
            if passkey.cred_id() != result.cred_id() {
                continue;
            }
            passkey.update_credential(&result);
            let updated = serde_json::to_string(&passkey).map_err(internal)?;
            if passkeys::record_use(&mut conn, &admin.id, &row.credential_id, &updated, now)? {
                throttle.passed(&mut conn)?;
                let detail = json!({"name": row.name});
                audit(&mut conn, &ceremony.actor(), now, "admin.second_factor.passkey", &admin.id, detail)?;
                return Ok(());
            }
        }
    }
    throttle.failed(&mut conn)?;
    audit(&mut conn, &ceremony.actor(), now, "admin.second_factor.failed", &admin.id, json!({"method": "passkey"}))?;
    Err(CodeError::Wrong)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_issuers_host_and_never_an_ip_address() {
        assert!(RelyingParty::for_issuer("https://auth.example.com").is_some());
        assert!(RelyingParty::for_issuer("http://localhost:8080").is_some());
        assert!(RelyingParty::for_issuer("http://127.0.0.1:8080").is_none(), "browsers refuse IP addresses");
        assert!(RelyingParty::for_issuer("not a url").is_none());
    }

    #[test]
    fn passkey_names_are_bounded_and_single_line() {
        assert_eq!(valid_name("  Laptop  ").unwrap(), "Laptop");
        assert!(valid_name("").is_err());
        assert!(valid_name("two\nlines").is_err());
        assert!(valid_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(valid_name(&"é".repeat(MAX_NAME_CHARS)).is_ok(), "characters, not bytes");
    }
}
