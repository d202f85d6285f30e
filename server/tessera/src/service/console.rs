//! Console sign-in: administrator accounts, the first-run setup link, and
//! server-side sessions with idle and absolute timeouts (OWASP session
//! management). Sessions live in the database, so sign-out and timeouts hold
//! on every node; the browser holds only a random id whose hash is stored.

use super::admin::{AdminError, audit};
pub use super::sign_in::SignInError;
use super::sign_in::{Attempt, Checked, ThrottleSettings, check_password};
use crate::clock::{self, SharedClock};
use crate::crypto::MasterKey;
use crate::passwords;
use crate::service::db::Db;
use crate::service::passkeys::{self as service_passkeys, Ceremony, PasskeyView, RelyingParty};
use crate::service::roles::Role;
use crate::service::second_factor::{self, CodeError, Enrolment};
use crate::service::views::AdminView;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tessera_protocol::secret::SecretHash;
use tessera_store::admins::{self, Admin, AdminSession, Invitation};
use tessera_store::passkeys;
use tessera_store::{Store, StoreError};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

/// Without a second factor, OWASP (citing NIST SP 800-63B) asks for 15.
pub const MIN_PASSWORD_CHARS: usize = 15;
/// Long passphrases are welcome; this only bounds the hashing work.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Timeouts and throttling.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Idle timeout, seconds.
    pub idle_secs: i64,
    /// Absolute timeout, seconds.
    pub absolute_secs: i64,
    /// Lifetime of a setup link, seconds.
    pub setup_link_secs: i64,
    /// Lifetime of an invitation link, seconds.
    pub invitation_secs: i64,
    /// Sign-in throttling (the same model as user sign-in, its own counters).
    pub throttle: ThrottleSettings,
    /// The server as a WebAuthn relying party; `None` when the issuer's
    /// host cannot be one (an IP address): no passkeys then.
    pub relying_party: Option<Arc<RelyingParty>>,
}

/// The audit actor of a sign-in attempt nobody authenticated (issue #11
/// item 12): the typed name is never the actor, only bounded detail.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// The most characters of a typed name kept in the audit log.
pub const MAX_TYPED_NAME_CHARS: usize = 64;

/// A typed (unauthenticated) name as the audit log keeps it: control
/// characters (newlines included) removed, at most
/// [`MAX_TYPED_NAME_CHARS`] characters, and whether it was cut.
pub fn typed_name(raw: &str) -> (String, bool) {
    let mut clean = raw.chars().filter(|c| !c.is_control());
    let kept: String = clean.by_ref().take(MAX_TYPED_NAME_CHARS).collect();
    (kept, clean.next().is_some())
}

/// The most characters of a `User-Agent` kept with a session.
pub const MAX_USER_AGENT_CHARS: usize = 200;

/// Where a sign-in came from, as the account page's session list shows it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The client address (`web::client_addr`, trusted proxies applied).
    pub address: Option<String>,
    /// The `User-Agent` header as sent (bounded when stored).
    pub user_agent: Option<String>,
}

/// A `User-Agent` as a session keeps it: no control characters, at most
/// [`MAX_USER_AGENT_CHARS`] characters.
fn typed_agent(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect()
}

const INVITATION_USED: &str = "This invitation was already used or has expired. Ask an owner for a new one.";

/// A signed-in administrator, as a request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub admin: Admin,
    /// The synchronizer token state-changing forms must carry.
    pub csrf: String,
    /// The hash of this session's cookie (its row's key), so the account
    /// page can tell "this session" from the others.
    pub id_hash: String,
    /// `Some` while the second factor is outstanding ([`PENDING_CODE`] or
    /// [`PENDING_ENROL`]): such a session opens nothing but the sign-in page.
    pub pending: Option<String>,
}

/// A session past the password that must give a second-factor code.
pub const PENDING_CODE: &str = "code";
/// A session past the password that must enrol a second factor first (the
/// server requires one and the administrator has none).
pub const PENDING_ENROL: &str = "enrol";

impl Session {
    /// The administrator's role; a name this build does not know (a row
    /// written by a newer version) counts as a viewer, the least power.
    pub fn role(&self) -> Role {
        Role::parse(&self.admin.role).unwrap_or(Role::Viewer)
    }

    /// The audit log's actor for this administrator.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.admin.username)
    }

    /// This session as the owner of a passkey ceremony.
    pub fn ceremony(&self) -> Ceremony<'_> {
        Ceremony { admin: &self.admin, session_hash: &self.id_hash }
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }
}

/// Checks a new administrator's name and password.
fn validate(username: &str, password: &str) -> Result<(), AdminError> {
    let name_ok = !username.is_empty()
        && username.len() <= 100
        && username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !name_ok {
        return Err(AdminError::Invalid {
            field: "username",
            message: "must be 1 to 100 letters, digits, '.', '_', '-' or '@'".into(),
        });
    }
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(AdminError::Invalid {
            field: "password",
            message: format!("must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        });
    }
    Ok(())
}

fn new_admin(username: &str, password: &str, now: i64, role: Role) -> Result<Admin, AdminError> {
    validate(username, password)?;
    let password_hash = passwords::hash(password).map_err(|e| AdminError::Internal(e.to_string()))?;
    Ok(Admin {
        id: clock::uuid(),
        username: username.to_owned(),
        password_hash,
        created_at: now,
        last_login_at: None,
        role: role.as_str().to_owned(),
        disabled: false,
        totp_secret_enc: None,
        totp_last_step: None,
    })
}

/// The role named `name`, or `Invalid` on the `role` field.
pub fn parse_role(name: &str) -> Result<Role, AdminError> {
    Role::parse(name.trim()).ok_or_else(|| AdminError::Invalid {
        field: "role",
        message: format!("must be one of {}", Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")),
    })
}

/// Creates an administrator with `role` (`tessera admin create`, the
/// management API).
pub fn create_admin(
    store: &Store,
    actor: &str,
    now: i64,
    username: &str,
    password: &str,
    role: Role,
) -> Result<Admin, AdminError> {
    let admin = new_admin(username.trim(), password, now, role)?;
    store.tx(|conn| {
        admins::insert(conn, &admin)?;
        // An administrator now exists: outstanding setup links are void.
        admins::delete_setup_tokens(conn)?;
        audit(conn, actor, now, "admin.create", &admin.id, json!({"username": admin.username, "role": admin.role}))
    })?;
    Ok(admin)
}

/// Gives the administrator `id` a new role, unless that demotes the last
/// owner (`Conflict`); audited.
pub fn set_admin_role(store: &impl Db, actor: &str, now: i64, id: &str, role: Role) -> Result<(), AdminError> {
    store.tx(|conn| {
        let was = admins::set_role(conn, id, role.as_str())?;
        let detail = json!({"username": was.username, "from": was.role, "to": role.as_str()});
        audit(conn, actor, now, "admin.role", id, detail)
    })?;
    Ok(())
}

/// Disables (ending every session) or enables the administrator `id`; the
/// last owner cannot be disabled (`Conflict`); audited.
pub fn set_admin_disabled(store: &impl Db, actor: &str, now: i64, id: &str, disabled: bool) -> Result<(), AdminError> {
    store.tx(|conn| {
        let was = admins::set_disabled(conn, id, disabled)?;
        let action = if disabled { "admin.disable" } else { "admin.enable" };
        audit(conn, actor, now, action, id, json!({"username": was.username}))
    })?;
    Ok(())
}

/// Ends every session of the administrator `id` (an owner signing someone
/// out everywhere); audited with how many ended.
pub fn sign_out_everywhere(store: &Store, actor: &str, now: i64, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let admin = admins::find(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("administrator {id}")))?;
        let ended = admins::delete_sessions(conn, id, None)?;
        audit(conn, actor, now, "admin.sessions.end", id, json!({"username": admin.username, "ended": ended}))
    })?;
    Ok(())
}

/// Invitations not used yet, newest first.
pub fn open_invitations(store: &Store, now: i64) -> Result<Vec<Invitation>, StoreError> {
    admins::open_invitations(&mut *store.conn()?, now)
}

/// Every administrator, by username (the management API pages them).
pub fn list_admins(store: &Store) -> Result<Vec<AdminView>, StoreError> {
    let mut guard = store.conn()?;
    let conn: &mut tessera_store::DbConn = &mut guard;
    admins::all(conn)?.into_iter().map(|a| with_passkeys(conn, a)).collect()
}

/// The administrator `id`, if they exist.
pub fn find_admin(store: &impl Db, id: &str) -> Result<Option<AdminView>, StoreError> {
    let mut guard = store.conn()?;
    let conn: &mut tessera_store::DbConn = &mut guard;
    admins::find(conn, id)?.map(|a| with_passkeys(conn, a)).transpose()
}

/// The view of `admin`, whose second factor may be a passkey as well as TOTP.
fn with_passkeys(conn: &mut tessera_store::DbConn, admin: Admin) -> Result<AdminView, StoreError> {
    let id = admin.id.clone();
    let mut view = AdminView::from(admin);
    view.second_factor = view.second_factor || passkeys::count(conn, &id)? > 0;
    Ok(view)
}

/// Deletes the administrator `id` and ends their sessions, unless they are
/// the last enabled owner (`Conflict`: nobody could manage administrators
/// any more); recorded in the same transaction.
pub fn delete_admin(store: &impl Db, actor: &str, now: i64, id: &str) -> Result<(), AdminError> {
    store.tx(|conn| {
        let admin = admins::delete_unless_last(conn, id)?;
        audit(conn, actor, now, "admin.delete", &admin.id, json!({"username": admin.username}))
    })?;
    Ok(())
}

/// Sets an administrator's password (`tessera admin password`); every
/// session of theirs ends.
pub fn reset_admin_password(
    store: &impl Db,
    actor: &str,
    now: i64,
    username: &str,
    password: &str,
) -> Result<(), AdminError> {
    validate(username, password)?;
    let hash = passwords::hash(password).map_err(|e| AdminError::Internal(e.to_string()))?;
    store.tx(|conn| {
        let admin = admins::find_by_username(conn, username)?
            .ok_or_else(|| StoreError::NotFound(format!("administrator {username:?}")))?;
        admins::set_password(conn, &admin.id, &hash, None)?;
        audit(conn, actor, now, "admin.password", &admin.id, json!({"username": username}))
    })?;
    Ok(())
}

/// The console's sign-in and session service.
pub struct ConsoleAuth {
    store: Store,
    settings: ConsoleSettings,
    clock: SharedClock,
    master: Arc<MasterKey>,
}

impl ConsoleAuth {
    /// A service over `store`, telling time by `clock` (a set clock in
    /// tests, so timeouts are crossed without waiting).
    /// The master key seals second-factor secrets.
    pub fn new(store: Store, settings: ConsoleSettings, clock: SharedClock, master: Arc<MasterKey>) -> ConsoleAuth {
        ConsoleAuth { store, settings, clock, master }
    }

    /// The time console actions are recorded at: handlers pass it to the
    /// admin services, which never read a clock themselves.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// With no administrator yet, stores a new one-time setup token and
    /// returns it (the caller prints the link); otherwise `None`.
    pub fn issue_setup_token(&self) -> Result<Option<String>, AdminError> {
        let token = clock::random_id(32).map_err(|e| AdminError::Internal(e.to_string()))?;
        let now = self.clock.now();
        let issued = self.store.tx(|conn| {
            if admins::count(conn)? > 0 {
                return Ok(false);
            }
            admins::insert_setup_token(
                conn,
                SecretHash::of(&token).as_str(),
                now,
                now + self.settings.setup_link_secs,
            )?;
            Ok(true)
        })?;
        Ok(issued.then_some(token))
    }

    /// True if `token` is a setup token that can still be used.
    pub fn setup_token_valid(&self, token: &str) -> Result<bool, StoreError> {
        admins::setup_token_valid(&mut *self.store.conn()?, SecretHash::of(token).as_str(), self.clock.now())
    }

    /// Creates the first administrator with a setup token and signs them in.
    /// The token is used up in the same transaction.
    pub fn setup(
        &self,
        token: &str,
        username: &str,
        password: &str,
        client: &Client,
    ) -> Result<(Admin, String), AdminError> {
        let now = self.clock.now();
        let admin = new_admin(username.trim(), password, now, Role::Owner)?;
        let (cookie, row) = self.new_session(&admin.id, now, client)?;
        self.store.tx(|conn| {
            if !admins::consume_setup_tokens(conn, SecretHash::of(token).as_str(), now)? {
                return Err(StoreError::Conflict(
                    "This setup link was already used or has expired. Use `tessera admin create`, or restart \
                     the server with no administrator for a new link."
                        .into(),
                ));
            }
            admins::insert(conn, &admin)?;
            admins::insert_session(conn, &row)?;
            audit(conn, &format!("admin:{}", admin.username), now, "admin.setup", &admin.id, json!({}))
        })?;
        Ok((admin, cookie))
    }

    fn new_session(&self, admin_id: &str, now: i64, client: &Client) -> Result<(String, AdminSession), AdminError> {
        let internal = |e: clock::RngError| AdminError::Internal(e.to_string());
        let cookie = clock::random_id(32).map_err(internal)?;
        let csrf = clock::random_id(32).map_err(internal)?;
        let row = AdminSession {
            id_hash: SecretHash::of(&cookie).as_str().to_owned(),
            admin_id: admin_id.to_owned(),
            csrf,
            created_at: now,
            last_seen_at: now,
            address: client.address.clone(),
            user_agent: client.user_agent.as_deref().map(typed_agent),
            pending: None,
        };
        Ok((cookie, row))
    }

    /// True if `token` is an invitation that can still be used; its role.
    pub fn invitation(&self, token: &str) -> Result<Option<Role>, StoreError> {
        let found =
            admins::find_invitation(&mut *self.store.conn()?, SecretHash::of(token).as_str(), self.clock.now())?;
        Ok(found.map(|i| Role::parse(&i.role).unwrap_or(Role::Viewer)))
    }

    /// Invites a new administrator with `role`: returns the token of a
    /// one-time link (stored hashed, shown once, expiring after
    /// `invitation_secs`); audited.
    pub fn invite(&self, actor: &str, role: Role) -> Result<String, AdminError> {
        let token = clock::random_id(32).map_err(|e| AdminError::Internal(e.to_string()))?;
        let now = self.clock.now();
        let invitation = Invitation {
            token_hash: SecretHash::of(&token).as_str().to_owned(),
            role: role.as_str().to_owned(),
            invited_by: actor.to_owned(),
            created_at: now,
            expires_at: now + self.settings.invitation_secs,
        };
        self.store.tx(|conn| {
            admins::insert_invitation(conn, &invitation)?;
            let detail = json!({"role": role.as_str(), "expires_at": invitation.expires_at});
            audit(conn, actor, now, "admin.invite", "console", detail)
        })?;
        Ok(token)
    }

    /// Accepts an invitation: creates the administrator with the invited
    /// role and the username and password they picked, and signs them in.
    /// The invitation is used up in the same transaction (`Conflict` if it
    /// was already used or has expired).
    pub fn accept_invitation(
        &self,
        token: &str,
        username: &str,
        password: &str,
        client: &Client,
    ) -> Result<(Admin, String), AdminError> {
        let now = self.clock.now();
        let Some(role) = self.invitation(token)? else {
            return Err(AdminError::Conflict(INVITATION_USED.into()));
        };
        let mut admin = new_admin(username.trim(), password, now, role)?;
        let (cookie, row) = self.new_session(&admin.id, now, client)?;
        self.store.tx(|conn| {
            let Some(invitation) = admins::take_invitation(conn, SecretHash::of(token).as_str(), now)? else {
                return Err(StoreError::Conflict(INVITATION_USED.into()));
            };
            admin.role = invitation.role.clone();
            admins::insert(conn, &admin)?;
            admins::touch_login(conn, &admin.id, now)?;
            admins::insert_session(conn, &row)?;
            let detail =
                json!({"username": admin.username, "role": invitation.role, "invited_by": invitation.invited_by});
            audit(conn, &format!("admin:{}", admin.username), now, "admin.invitation.accept", &admin.id, detail)
        })?;
        Ok((admin, cookie))
    }

    /// Completes a session waiting for a code ([`PENDING_CODE`]) with a
    /// TOTP or recovery code (see `service::second_factor::check`).
    pub fn complete_with_code(&self, session: &Session, code: &str) -> Result<(), CodeError> {
        if session.pending.as_deref() != Some(PENDING_CODE) {
            return Err(CodeError::Wrong);
        }
        let now = self.clock.now();
        second_factor::check(&self.store, &self.master, &self.settings.throttle, &session.admin, code, now)?;
        admins::complete_session(&mut *self.store.conn()?, &session.id_hash)?;
        Ok(())
    }

    /// A new TOTP secret for the session's administrator to enrol.
    pub fn begin_enrolment(&self, session: &Session) -> Result<Enrolment, AdminError> {
        second_factor::begin(&session.admin.username)
    }

    /// Confirms an enrolment with its first code: stores the sealed secret,
    /// completes the session if it was waiting for enrolment, and returns
    /// the recovery codes (shown once).
    pub fn confirm_enrolment(&self, session: &Session, secret: &str, code: &str) -> Result<Vec<String>, AdminError> {
        let now = self.clock.now();
        let codes = second_factor::confirm(&self.store, &self.master, &session.admin, secret, code, now)?;
        admins::complete_session(&mut *self.store.conn()?, &session.id_hash)?;
        Ok(codes)
    }

    /// The relying party, or `NotFound` when this server has no passkeys.
    fn relying_party(&self) -> Result<&RelyingParty, AdminError> {
        self.settings.relying_party.as_deref().ok_or_else(|| AdminError::NotFound("passkeys on this server".into()))
    }

    /// Whether passkeys work here (the issuer's host is a domain name).
    pub fn passkeys_available(&self) -> bool {
        self.settings.relying_party.is_some()
    }

    /// The session's administrator's passkeys, oldest first.
    pub fn passkeys(&self, session: &Session) -> Result<Vec<PasskeyView>, StoreError> {
        service_passkeys::list(&self.store, &session.admin.id)
    }

    /// How many passkeys the session's administrator has (the sign-in page
    /// offers "Use a passkey" when they have one).
    pub fn passkey_count(&self, session: &Session) -> Result<i64, StoreError> {
        service_passkeys::count(&self.store, &session.admin.id)
    }

    /// Starts enrolling a passkey: the browser's creation options.
    pub fn begin_passkey_enrolment(&self, session: &Session) -> Result<CreationChallengeResponse, AdminError> {
        let rp = self.relying_party()?;
        service_passkeys::begin_registration(&self.store, &self.master, rp, session.ceremony(), self.clock.now())
    }

    /// Finishes enrolling a passkey named `name` from the browser's answer.
    pub fn finish_passkey_enrolment(&self, session: &Session, name: &str, credential: &str) -> Result<(), AdminError> {
        let rp = self.relying_party()?;
        let now = self.clock.now();
        service_passkeys::finish_registration(&self.store, &self.master, rp, session.ceremony(), name, credential, now)
    }

    /// Removes one of the session's administrator's passkeys.
    pub fn remove_passkey(&self, session: &Session, id: &str) -> Result<(), AdminError> {
        service_passkeys::remove(&self.store, &session.actor(), &session.admin.id, id, self.clock.now())
    }

    /// Starts the passkey sign-in of a session waiting for a code: the
    /// browser's request options.
    pub fn begin_passkey_sign_in(&self, session: &Session) -> Result<RequestChallengeResponse, AdminError> {
        if session.pending.as_deref() != Some(PENDING_CODE) {
            return Err(AdminError::NotFound("sign-in waiting for a second factor".into()));
        }
        let rp = self.relying_party()?;
        service_passkeys::begin_authentication(&self.store, &self.master, rp, session.ceremony(), self.clock.now())
    }

    /// Completes a session waiting for a code with a passkey's answer
    /// (see `service::passkeys::finish_authentication`).
    pub fn complete_with_passkey(&self, session: &Session, credential: &str) -> Result<(), CodeError> {
        if session.pending.as_deref() != Some(PENDING_CODE) {
            return Err(CodeError::Wrong);
        }
        let rp = self.relying_party()?;
        let (settings, now) = (&self.settings.throttle, self.clock.now());
        service_passkeys::finish_authentication(
            &self.store,
            &self.master,
            rp,
            settings,
            session.ceremony(),
            credential,
            now,
        )?;
        admins::complete_session(&mut *self.store.conn()?, &session.id_hash)?;
        Ok(())
    }

    /// Removes the session's administrator's second factor (refused while
    /// the server requires one).
    pub fn remove_second_factor(&self, session: &Session) -> Result<(), AdminError> {
        second_factor::remove(&self.store, &session.actor(), &session.admin.id, self.clock.now())
    }

    /// The sessions of the signed-in administrator, newest first.
    pub fn sessions(&self, session: &Session) -> Result<Vec<AdminSession>, StoreError> {
        admins::sessions_of(&mut *self.store.conn()?, &session.admin.id)
    }

    /// Ends every session of the signed-in administrator but this one;
    /// audited with how many ended.
    pub fn sign_out_others(&self, session: &Session) -> Result<usize, StoreError> {
        let now = self.clock.now();
        self.store.tx(|conn| {
            let ended = admins::delete_sessions(conn, &session.admin.id, Some(&session.id_hash))?;
            audit(
                conn,
                &session.actor(),
                now,
                "admin.sessions.end_others",
                &session.admin.id,
                json!({"ended": ended}),
            )?;
            Ok(ended)
        })
    }

    /// Checks a name and password, throttled as user sign-in is (see
    /// `service::sign_in`); on success returns a new session's cookie value
    /// (a new id at every sign-in, so a planted cookie is never promoted).
    /// A failure is audited as [`UNAUTHENTICATED`] with the typed name
    /// bounded in the detail (docs/security-checklist.md A-14, issue #11 item 12); a pair
    /// that locks is audited too.
    /// A disabled administrator is refused exactly as an unknown name is.
    pub fn sign_in(&self, username: &str, password: &str, client: &Client) -> Result<(Admin, String), SignInError> {
        let now = self.clock.now();
        let addr = client.address.as_deref();
        let mut attempt = Attempt::new("console", &self.settings.throttle, username, addr, now);
        let found = check_password(&self.store, &mut attempt, password, |conn| {
            let admin = admins::find_by_username(conn, username)?.filter(|a| !a.disabled);
            let hash = admin.as_ref().map(|a| a.password_hash.clone());
            Ok((admin, hash))
        });
        let admin = match found {
            Ok(Some(admin)) => admin,
            Ok(None) => {
                let (typed, truncated) = typed_name(username);
                let detail = json!({"username": typed, "username_truncated": truncated, "address": addr});
                self.store.tx(|c| {
                    audit(c, UNAUTHENTICATED, now, "admin.login.failed", "console", detail.clone())?;
                    match attempt.locked_until() {
                        Some(until) => {
                            let mut locked = detail.clone();
                            locked["locked_until"] = json!(until);
                            audit(c, UNAUTHENTICATED, now, "admin.login.locked", "console", locked)
                        }
                        None => Ok(()),
                    }
                })?;
                return Err(SignInError::BadCredentials);
            }
            Err(Checked::Throttled(secs)) => return Err(SignInError::Throttled(secs)),
            Err(Checked::Busy) => return Err(SignInError::Busy),
            Err(Checked::Store(e)) => return Err(e.into()),
        };
        let (cookie, mut row) =
            self.new_session(&admin.id, now, client).map_err(|e| SignInError::Internal(e.to_string()))?;
        self.store.tx(|c| {
            // The password alone completes the session only for an
            // administrator without a second factor on a server that does
            // not require one.
            row.pending = if admin.totp_secret_enc.is_some() || passkeys::count(c, &admin.id)? > 0 {
                Some(PENDING_CODE.to_owned())
            } else if admins::second_factor_required(c)? {
                Some(PENDING_ENROL.to_owned())
            } else {
                None
            };
            // Sessions nobody signed out of end here rather than linger.
            admins::purge_sessions(c, now - self.settings.idle_secs, now - self.settings.absolute_secs)?;
            admins::touch_login(c, &admin.id, now)?;
            admins::insert_session(c, &row)?;
            let detail = json!({"address": addr, "second_factor": row.pending});
            audit(c, &format!("admin:{}", admin.username), now, "admin.login", "console", detail)
        })?;
        Ok((admin, cookie))
    }

    /// The session behind a cookie, if it exists and has timed out neither
    /// idle nor absolutely; a timed-out session is deleted. Each use moves
    /// the idle timeout forward.
    pub fn session(&self, cookie: &str) -> Result<Option<Session>, StoreError> {
        let hash = SecretHash::of(cookie);
        let now = self.clock.now();
        let mut conn = self.store.conn()?;
        let Some((s, admin)) = admins::session(&mut conn, hash.as_str())? else {
            return Ok(None);
        };
        let idle = now - s.last_seen_at >= self.settings.idle_secs;
        let absolute = now - s.created_at >= self.settings.absolute_secs;
        if idle || absolute {
            admins::delete_session(&mut conn, hash.as_str())?;
            return Ok(None);
        }
        if now > s.last_seen_at {
            admins::touch_session(&mut conn, hash.as_str(), now)?;
        }
        Ok(Some(Session { admin, csrf: s.csrf, id_hash: s.id_hash, pending: s.pending }))
    }

    /// Changes the signed-in administrator's own password after checking the
    /// current one; their other sessions end, this one stays.
    pub fn change_password(&self, cookie: &str, current: &str, new: &str) -> Result<(), AdminError> {
        let hash = SecretHash::of(cookie);
        let Some((_, admin)) = admins::session(&mut *self.store.conn()?, hash.as_str())? else {
            return Err(AdminError::NotFound("session".into()));
        };
        let verified = passwords::verify(current, &admin.password_hash)
            .map_err(|b| AdminError::Internal(format!("{b}: try again in a few seconds")))?;
        if !verified {
            return Err(AdminError::Invalid { field: "current", message: "is not your current password".into() });
        }
        validate(&admin.username, new)?;
        let new_hash = passwords::hash(new).map_err(|e| AdminError::Internal(e.to_string()))?;
        let now = self.clock.now();
        self.store.tx(|conn| {
            admins::set_password(conn, &admin.id, &new_hash, Some(hash.as_str()))?;
            audit(conn, &format!("admin:{}", admin.username), now, "admin.password", &admin.id, json!({}))
        })?;
        Ok(())
    }

    /// Ends the session behind a cookie (server-side, so a copied cookie is dead too).
    pub fn sign_out(&self, cookie: &str) -> Result<(), StoreError> {
        admins::delete_session(&mut *self.store.conn()?, SecretHash::of(cookie).as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #11 item 12: a typed name keeps no control characters and at
    /// most 64 characters.
    #[test]
    fn typed_names_are_bounded_and_single_line() {
        assert_eq!(typed_name("root"), ("root".into(), false));
        let (t, cut) = typed_name(&format!("a\nadmin:root\r{}", "x".repeat(8192)));
        assert!(cut && t.starts_with("aadmin:root") && t.chars().count() == MAX_TYPED_NAME_CHARS, "{t}");
    }

    /// docs/security-checklist.md A-4: 15 characters at least without MFA; a 64-character
    /// passphrase is welcome.
    #[test]
    fn admin_passwords_need_fifteen_characters() {
        assert!(validate("root", &"p".repeat(64)).is_ok());
        assert!(validate("root", "fourteen chars").is_err());
        assert!(validate("root", "fifteen chars!!").is_ok());
        assert!(validate("bad name", "fifteen chars!!").is_err());
        assert!(validate("", "fifteen chars!!").is_err());
    }
}
