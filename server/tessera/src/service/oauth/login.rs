//! The hosted login form's use case (OIDC Core §3.1.2.3): check the
//! user's name and password (throttled, see `service::sign_in`), then the
//! second factor when the user has or needs one
//! (`service::user_second_factor`), open a browser session and resume the
//! authorization request.

use crate::clock::{self, SharedClock};
use crate::crypto::MasterKey;
use crate::service::sign_in::{SignInError, ThrottleSettings, sign_in};
use crate::service::store_failure;
use crate::service::totp::Enrolment;
use crate::service::user_second_factor::{self as factor, AMR_PASSWORD, AMR_SECOND_FACTOR, FactorError, NextStep};
use std::sync::Arc;
use tessera_protocol::OAuthError;
use tessera_protocol::secret::{PlainSecret, SecretHash};
use tessera_store::Store;
use tessera_store::grants::{self, Session};
use tessera_store::user_factors::{self, PendingSignIn};
use tessera_store::users::{self, User};

/// A sign-in waits this long for its second factor.
const PENDING_SECS: i64 = 600;

/// The result of a login form submission.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in: set this session cookie value and go back to the authorization endpoint.
    SignedIn {
        /// The new session's cookie value.
        session: String,
        /// The authorization request to resume (without `prompt=login`).
        resume_query: String,
    },
    /// The password was right and a second factor comes next: set this
    /// cookie value (the waiting sign-in) and show the code form, or the
    /// enrolment form with this secret.
    SecondFactor {
        /// The waiting sign-in's cookie value.
        pending: String,
        /// A secret to enrol; `None`: ask for a code.
        enrolment: Option<Enrolment>,
    },
    /// Show the form again with this message.
    Failed(String),
    /// Too many failures (429): retry after this many seconds.
    Throttled(u64),
    /// Every password-hashing worker was busy (503): retry in a moment.
    Busy,
}

/// The result of the second stage (a code, or a first code confirming an
/// enrolment).
#[derive(Debug)]
pub enum FactorOutcome {
    /// Signed in: set this session cookie value and resume; after an
    /// enrolment, show the recovery codes first.
    SignedIn {
        /// The new session's cookie value; `None` after a step-up, whose
        /// session (and the browser's cookie for it) stays.
        session: Option<String>,
        /// The authorization request to resume.
        resume_query: String,
        /// A new enrolment's recovery codes, shown once.
        recovery_codes: Option<Vec<String>>,
    },
    /// Show the stage again with this message (the enrolment's secret
    /// again when it was one).
    Again {
        /// What was wrong.
        message: String,
        /// The secret being enrolled; `None`: the code form.
        enrolment: Option<Enrolment>,
    },
    /// Too many wrong codes (429): retry after this many seconds.
    Throttled(u64),
    /// No waiting sign-in (expired, finished, or never started): sign in again.
    Expired,
}

/// The end users' second factor as sign-in needs it.
#[derive(Clone)]
pub struct SecondFactorSettings {
    /// Seals and opens TOTP secrets.
    pub master: Arc<MasterKey>,
    /// `[login] require_second_factor`: every user enrols one.
    pub required: bool,
    /// What authenticator apps show as the issuer: the server's host.
    pub label: String,
}

impl std::fmt::Debug for SecondFactorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactorSettings").field("required", &self.required).field("label", &self.label).finish()
    }
}

/// The login form behind the authorization endpoint.
pub struct LoginService {
    store: Store,
    clock: SharedClock,
    throttle: ThrottleSettings,
    session_lifetime_secs: i64,
    factor: SecondFactorSettings,
}

impl LoginService {
    /// Sign-ins throttled by `throttle`; browser sessions end
    /// `session_lifetime_secs` after sign-in.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        throttle: ThrottleSettings,
        session_lifetime_secs: i64,
        factor: SecondFactorSettings,
    ) -> LoginService {
        LoginService { store, clock, throttle, session_lifetime_secs, factor }
    }

    /// Handles the login form: on success a new session and the request to resume.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        query: &str,
        peer: Option<&str>,
    ) -> Result<LoginOutcome, OAuthError> {
        let now = self.clock.now();
        let user = match sign_in(&self.store, &self.throttle, username, password, peer, now) {
            Ok(u) => u,
            Err(SignInError::BadCredentials) => {
                return Ok(LoginOutcome::Failed("Incorrect username or password.".into()));
            }
            Err(SignInError::Throttled(secs)) => return Ok(LoginOutcome::Throttled(secs)),
            Err(SignInError::Busy) => return Ok(LoginOutcome::Busy),
            Err(SignInError::Store(e)) => return Err(store_failure(e)),
            Err(SignInError::Internal(e)) => return Err(OAuthError::server_error(e)),
        };
        let step = factor::next_step(&mut *self.store.conn().map_err(store_failure)?, &user.id, self.factor.required)
            .map_err(store_failure)?;
        if step == NextStep::Done {
            let session = self.open_session(&user.id, now, AMR_PASSWORD)?;
            return Ok(LoginOutcome::SignedIn { session, resume_query: without_prompt_login(query) });
        }
        let (pending, enrolment) = self.wait_for_factor(&user, step == NextStep::Enrol, None, now)?;
        Ok(LoginOutcome::SecondFactor { pending, enrolment })
    }

    /// Step-up (OpenID Connect `acr_values` asking for the multi-factor
    /// policy): the user of a session signed in with the password alone
    /// gives a second factor, or enrols one if they have none, and that
    /// session (`session_hash`) gains it in place: the applications signed
    /// in with it keep their `sid`, and logging out still reaches them all.
    /// Returns the waiting sign-in's cookie value and the secret to enrol,
    /// if any.
    pub fn step_up(&self, user_id: &str, session_hash: &str) -> Result<(String, Option<Enrolment>), OAuthError> {
        let now = self.clock.now();
        let mut conn = self.store.conn().map_err(store_failure)?;
        let Some(user) = users::find(&mut conn, user_id).map_err(store_failure)?.filter(|u| !u.disabled) else {
            return Err(OAuthError::server_error("the session's user is gone"));
        };
        let enrol = factor::next_step(&mut conn, user_id, true).map_err(store_failure)? == NextStep::Enrol;
        drop(conn);
        self.wait_for_factor(&user, enrol, Some(session_hash.to_owned()), now)
    }

    /// Stores a sign-in waiting for `user`'s second factor (or its
    /// enrolment), a step-up of `session_hash` if given; its cookie value,
    /// and the secret to enrol.
    fn wait_for_factor(
        &self,
        user: &User,
        enrol: bool,
        session_hash: Option<String>,
        now: i64,
    ) -> Result<(String, Option<Enrolment>), OAuthError> {
        let mut conn = self.store.conn().map_err(store_failure)?;
        let cookie = random_secret()?;
        let pending = PendingSignIn {
            id_hash: cookie.hash().as_str().to_owned(),
            user_id: user.id.clone(),
            enrol,
            created_at: now,
            expires_at: now + PENDING_SECS,
            session_id_hash: session_hash,
        };
        user_factors::insert_pending(&mut conn, &pending).map_err(store_failure)?;
        let enrolment =
            if enrol { Some(factor::begin(&self.factor.label, user).map_err(factor_failure)?) } else { None };
        Ok((cookie.expose().to_owned(), enrolment))
    }

    /// Whether every user must have a second factor (`[login]
    /// require_second_factor`).
    pub fn second_factor_everyone(&self) -> bool {
        self.factor.required
    }

    /// The second stage for the waiting sign-in behind `pending_cookie`:
    /// `code` from the user's app (or a recovery code), or, when the user
    /// enrols, the first code for `secret` (the base32 secret the form
    /// showed). On success the waiting sign-in becomes a session whose
    /// `amr` says a second factor was used (a step-up: its session says so
    /// from now on; ended meanwhile, the step-up has expired).
    pub fn second_factor(
        &self,
        pending_cookie: Option<&str>,
        code: &str,
        secret: Option<&str>,
        query: &str,
    ) -> Result<FactorOutcome, OAuthError> {
        let now = self.clock.now();
        let Some((pending, user)) = self.waiting(pending_cookie, now)? else {
            return Ok(FactorOutcome::Expired);
        };
        let master = &self.factor.master;
        // A sign-in that began before the user enrolled (in another tab,
        // say) must not replace that factor: it starts again, and is asked
        // for a code.
        if pending.enrol {
            let mut conn = self.store.conn().map_err(store_failure)?;
            if factor::next_step(&mut conn, &user.id, true).map_err(store_failure)? != NextStep::Enrol {
                user_factors::finish_pending(&mut conn, &pending.id_hash).map_err(store_failure)?;
                return Ok(FactorOutcome::Expired);
            }
        }
        let recovery_codes = if pending.enrol {
            let secret = secret.unwrap_or_default();
            match factor::confirm(&self.store, master, &user, secret, code, now) {
                Ok(codes) => Some(codes),
                Err(e @ FactorError::NotConfirmed) => {
                    let enrolment = factor::resume(&self.factor.label, &user, secret)
                        .or_else(|_| factor::begin(&self.factor.label, &user))
                        .map_err(factor_failure)?;
                    return Ok(FactorOutcome::Again { message: e.to_string(), enrolment: Some(enrolment) });
                }
                Err(e) => return Err(factor_failure(e)),
            }
        } else {
            match factor::check(&self.store, master, &self.throttle, &user, code, now) {
                Ok(()) => None,
                Err(e @ FactorError::Wrong) => {
                    return Ok(FactorOutcome::Again { message: e.to_string(), enrolment: None });
                }
                Err(FactorError::Throttled(secs)) => return Ok(FactorOutcome::Throttled(secs)),
                Err(e) => return Err(factor_failure(e)),
            }
        };
        // Of two completions of one waiting sign-in, one opens a session.
        let mut conn = self.store.conn().map_err(store_failure)?;
        if !user_factors::finish_pending(&mut conn, &pending.id_hash).map_err(store_failure)? {
            return Ok(FactorOutcome::Expired);
        }
        let session = match &pending.session_id_hash {
            Some(stepped_up) => {
                if !grants::step_up_session(&mut conn, stepped_up, &user.id, AMR_SECOND_FACTOR, now)
                    .map_err(store_failure)?
                {
                    return Ok(FactorOutcome::Expired);
                }
                None
            }
            None => {
                drop(conn);
                Some(self.open_session(&user.id, now, AMR_SECOND_FACTOR)?)
            }
        };
        Ok(FactorOutcome::SignedIn { session, resume_query: without_prompt_login(query), recovery_codes })
    }

    /// The unexpired waiting sign-in behind the cookie, with its user
    /// (still enabled); a step-up only while its session lasts (an ended
    /// one takes its step-ups along; this catches one that expired).
    fn waiting(&self, cookie: Option<&str>, now: i64) -> Result<Option<(PendingSignIn, User)>, OAuthError> {
        let Some(cookie) = cookie else { return Ok(None) };
        let mut conn = self.store.conn().map_err(store_failure)?;
        let Some(pending) =
            user_factors::pending(&mut conn, SecretHash::of(cookie).as_str(), now).map_err(store_failure)?
        else {
            return Ok(None);
        };
        if let Some(session) = &pending.session_id_hash
            && grants::session(&mut conn, session, now).map_err(store_failure)?.is_none()
        {
            return Ok(None);
        }
        let user = users::find(&mut conn, &pending.user_id).map_err(store_failure)?.filter(|u| !u.disabled);
        Ok(user.map(|u| (pending, u)))
    }

    /// Opens a browser session for `user_id`, authenticated by `amr`;
    /// returns the cookie value.
    fn open_session(&self, user_id: &str, now: i64, amr: &str) -> Result<String, OAuthError> {
        let cookie = random_secret()?;
        let session = Session {
            id_hash: cookie.hash().as_str().to_owned(),
            user_id: user_id.to_owned(),
            auth_time: now,
            created_at: now,
            expires_at: now + self.session_lifetime_secs,
            amr: amr.to_owned(),
        };
        grants::insert_session(&mut *self.store.conn().map_err(store_failure)?, &session).map_err(store_failure)?;
        Ok(cookie.expose().to_owned())
    }
}

fn random_secret() -> Result<PlainSecret, OAuthError> {
    Ok(PlainSecret::from_random(clock::random::<32>().map_err(|e| OAuthError::server_error(e.to_string()))?))
}

fn factor_failure(e: FactorError) -> OAuthError {
    match e {
        FactorError::Store(s) => store_failure(s),
        other => OAuthError::server_error(other.to_string()),
    }
}

/// The authorization request to resume after a sign-in: `login` taken out of
/// `prompt` (a space-separated list, OIDC Core §3.1.2.1), or the user would
/// be asked to sign in again forever; other values such as `consent` stay.
/// Issue #11 item 16: `prompt=login consent` used to loop on the login page.
fn without_prompt_login(query: &str) -> String {
    let resume: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter_map(|(k, v)| {
            if k != "prompt" {
                return Some((k.into_owned(), v.into_owned()));
            }
            let rest: Vec<&str> = v.split(' ').filter(|p| !p.is_empty() && *p != "login").collect();
            (!rest.is_empty()).then(|| (k.into_owned(), rest.join(" ")))
        })
        .collect();
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(resume).finish()
}
