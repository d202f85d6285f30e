//! The hosted login form's use case (OIDC Core §3.1.2.3): check the
//! user's name and password (throttled, see `service::sign_in`), open a
//! browser session and resume the authorization request.

use crate::clock::{self, SharedClock};
use crate::service::sign_in::{SignInError, ThrottleSettings, sign_in};
use crate::service::store_failure;
use tessera_protocol::OAuthError;
use tessera_protocol::secret::PlainSecret;
use tessera_store::Store;
use tessera_store::grants::{self, Session};

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
    /// Show the form again with this message.
    Failed(String),
    /// Too many failures (429): retry after this many seconds.
    Throttled(u64),
    /// Every password-hashing worker was busy (503): retry in a moment.
    Busy,
}

/// The login form behind the authorization endpoint.
pub struct LoginService {
    store: Store,
    clock: SharedClock,
    throttle: ThrottleSettings,
    session_lifetime_secs: i64,
}

impl LoginService {
    /// Sign-ins throttled by `throttle`; browser sessions end
    /// `session_lifetime_secs` after sign-in.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        throttle: ThrottleSettings,
        session_lifetime_secs: i64,
    ) -> LoginService {
        LoginService { store, clock, throttle, session_lifetime_secs }
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
        let cookie =
            PlainSecret::from_random(clock::random::<32>().map_err(|e| OAuthError::server_error(e.to_string()))?);
        let session = Session {
            id_hash: cookie.hash().as_str().to_owned(),
            user_id: user.id,
            auth_time: now,
            created_at: now,
            expires_at: now + self.session_lifetime_secs,
        };
        grants::insert_session(&mut *self.store.conn().map_err(store_failure)?, &session).map_err(store_failure)?;
        Ok(LoginOutcome::SignedIn { session: cookie.expose().to_owned(), resume_query: without_prompt_login(query) })
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
