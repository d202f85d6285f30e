//! The end-session endpoint's use case (OpenID Connect RP-Initiated
//! Logout 1.0): end the browser session, after asking the user when nothing
//! proves their own application sent the request, tell the session's
//! clients that registered a `backchannel_logout_uri` (Back-Channel Logout
//! 1.0, posted by `backchannel.rs`), load the pages of those that
//! registered a `frontchannel_logout_uri` in the browser (Front-Channel
//! Logout 1.0), and return to a registered post-logout redirect URI.

use super::backchannel::{BackchannelSender, Delivery};
use super::issuer::Issuer;
use crate::clock::{self, SharedClock};
use crate::service::{key_failure, store_failure};
use std::sync::Arc;
use tessera_protocol::OAuthError;
use tessera_protocol::backchannel::{self, LOGOUT_TOKEN_TYP};
use tessera_protocol::grant::authorization_code::response::with_query;
use tessera_protocol::model::SigningAlg;
use tessera_protocol::params::Params;
use tessera_protocol::secret::SecretHash;
use tessera_store::grants::Session;
use tessera_store::{DbConn, Store, clients, grants};

/// A client's Front-Channel Logout page (with `iss` and `sid`) and its
/// origin.
type FrontChannelPage = (String, String);

/// What the browser gets from the end-session endpoint.
#[derive(Debug)]
pub enum LogoutOutcome {
    /// Back to the client's registered post-logout redirect URI.
    Redirect(String),
    /// A "signed out" page (no valid post-logout redirect URI).
    SignedOut,
    /// The request cannot be honoured safely.
    Page(String),
    /// The session ended, and some of its clients registered a
    /// Front-Channel Logout page: show a page that loads each (hidden), then
    /// goes on to `then` (the post-logout redirect) if there is one.
    FrontChannel {
        /// Each client's page, with `iss` and `sid`.
        pages: Vec<String>,
        /// The origins of `pages`, for the page's `frame-src`.
        origins: Vec<String>,
        /// Where to go once they loaded.
        then: Option<String>,
    },
    /// Ask the user first (RP-Initiated Logout §2): nothing proves the
    /// user's own application sent this request; nobody is signed out yet.
    Confirm {
        /// The logout request, to resume when the user confirms.
        query: String,
        /// The client's display name, if the request named a known client.
        client_name: Option<String>,
    },
}

/// The end-session endpoint.
pub struct LogoutService {
    store: Store,
    clock: SharedClock,
    issuer: Arc<Issuer>,
    backchannel: Arc<BackchannelSender>,
}

impl LogoutService {
    /// ID token hints are verified, and Logout Tokens signed, with
    /// `issuer`'s keys; `backchannel` posts the Logout Tokens.
    pub(crate) fn new(
        store: Store,
        clock: SharedClock,
        issuer: Arc<Issuer>,
        backchannel: Arc<BackchannelSender>,
    ) -> LogoutService {
        LogoutService { store, clock, issuer, backchannel }
    }

    /// What ending `session` tells its clients: Back-Channel Logout §2.4's
    /// Logout Token for each that registered a `backchannel_logout_uri`
    /// (signed with the ID tokens' key, RS256, typed `logout+jwt`), and
    /// Front-Channel Logout §4's page, with `iss` and `sid`, and its origin,
    /// for each that registered a `frontchannel_logout_uri`.
    fn logout_notices(
        &self,
        conn: &mut DbConn,
        session: &Session,
    ) -> Result<(Vec<Delivery>, Vec<FrontChannelPage>), OAuthError> {
        let sid = backchannel::session_id(&session.id_hash);
        let clients = grants::session_clients(conn, &session.id_hash).map_err(store_failure)?;
        let pages = clients
            .iter()
            .filter_map(|c| c.frontchannel_logout_uri.as_deref())
            .filter_map(|u| backchannel::frontchannel_page(u, self.issuer.url(), &sid))
            .collect();
        let tokens = clients
            .into_iter()
            .filter_map(|c| Some(self.delivery(c.client_id, c.backchannel_logout_uri?, &session.user_id, &sid)))
            .collect::<Result<_, _>>()?;
        Ok((tokens, pages))
    }

    /// A Logout Token for `client_id` about user `sub` and session `sid`.
    fn delivery(&self, client_id: String, uri: String, sub: &str, sid: &str) -> Result<Delivery, OAuthError> {
        let signer = self.issuer.keys().signer(SigningAlg::RS256).map_err(key_failure)?;
        let jti = clock::random_id(22).map_err(|e| OAuthError::server_error(e.to_string()))?;
        let claims = backchannel::logout_token_claims(self.issuer.url(), &client_id, sub, sid, self.clock.now(), &jti);
        let token = signer.sign(LOGOUT_TOKEN_TYP, &claims).map_err(key_failure)?;
        Ok(Delivery { client_id, uri, token })
    }

    /// Posts the Logout Tokens of sessions an administrator ended (a
    /// password reset, a disabled or deleted user: `grants::end_user_grants`
    /// queues a notice per client in that change's transaction, whichever
    /// process made it). Takes at most 100 at a time, each once across all
    /// servers; returns how many it took. A notice whose token cannot be
    /// signed (no key loaded) is counted as failed and logged, as an
    /// unreachable client is: the rest are still sent.
    pub fn send_queued(&self) -> Result<usize, OAuthError> {
        let notices = {
            let mut conn = self.store.conn().map_err(store_failure)?;
            grants::take_logout_notices(&mut conn, 100).map_err(store_failure)?
        };
        let taken = notices.len();
        for n in notices {
            let client_id = n.client_id.clone();
            match self.delivery(n.client_id, n.uri, &n.user_id, &n.sid) {
                Ok(delivery) => self.backchannel.send(delivery),
                Err(e) => super::backchannel::not_signed(&client_id, &e.description),
            }
        }
        Ok(taken)
    }

    /// Starts the thread that calls [`LogoutService::send_queued`] every
    /// `every` (`serve` starts it on every node).
    pub fn spawn_notice_sender(self: &Arc<Self>, every: std::time::Duration) -> std::io::Result<()> {
        let this = Arc::clone(self);
        std::thread::Builder::new().name("tessera-logout-notices".into()).spawn(move || {
            loop {
                std::thread::sleep(every);
                if let Err(e) = this.send_queued() {
                    tracing::warn!(error = %e.description, "queued back-channel logouts not sent yet");
                }
            }
        })?;
        Ok(())
    }

    /// OpenID Connect RP-Initiated Logout 1.0 §2-§3: ends the browser session
    /// and, when `post_logout_redirect_uri` is registered (exactly) for the
    /// client named by `client_id` or the `id_token_hint`'s audience, returns
    /// there with `state`. An unregistered URI is never followed.
    ///
    /// §2: "the OP MUST ask the End-User this question if an id_token_hint
    /// was not provided or if the supplied ID Token does not belong to the
    /// current OP session". Unless `confirmed` (the user posted the
    /// confirmation form) or the hint's `sub` is the session's user, a live
    /// session gives [`LogoutOutcome::Confirm`] and stays (issue #11 item 11).
    pub fn end_session(
        &self,
        query: &str,
        session_cookie: Option<&str>,
        confirmed: bool,
    ) -> Result<LogoutOutcome, OAuthError> {
        let params = match Params::parse(query.as_bytes()) {
            Ok(p) => p,
            Err(e) => return Ok(LogoutOutcome::Page(format!("The request is malformed: {}.", e.description))),
        };
        let (hint_aud, hint_sub) = match params.get("id_token_hint") {
            Some(t) => match self.issuer.keys().verify_id_token_hint(t, self.issuer.url()).map_err(key_failure)? {
                Some(c) => {
                    let claim = |n: &str| c.get(n).and_then(|a| a.as_str()).map(str::to_owned);
                    (claim("aud"), claim("sub"))
                }
                None => return Ok(LogoutOutcome::Page("The id_token_hint was not issued here.".into())),
            },
            None => (None, None),
        };
        let client_id = match (params.get("client_id"), hint_aud.as_deref()) {
            (Some(c), Some(a)) if c != a => {
                return Ok(LogoutOutcome::Page("client_id and id_token_hint name different applications.".into()));
            }
            (Some(c), _) => Some(c.to_owned()),
            (None, a) => a.map(str::to_owned),
        };
        let mut conn = self.store.conn().map_err(store_failure)?;
        let mut frontchannel = Vec::new();
        if let Some(c) = session_cookie {
            let hash = SecretHash::of(c);
            let live = grants::session(&mut conn, hash.as_str(), self.clock.now()).map_err(store_failure)?;
            if let Some(s) = &live
                && !confirmed
                && hint_sub.as_deref() != Some(s.user_id.as_str())
            {
                let client_name = match &client_id {
                    Some(id) => clients::find(&mut conn, id).map_err(store_failure)?.map(|c| c.name),
                    None => None,
                };
                return Ok(LogoutOutcome::Confirm { query: query.to_owned(), client_name });
            }
            let (notices, pages) = match &live {
                Some(s) => self.logout_notices(&mut conn, s)?,
                None => (Vec::new(), Vec::new()),
            };
            grants::delete_session(&mut conn, hash.as_str()).map_err(store_failure)?;
            for notice in notices {
                self.backchannel.send(notice);
            }
            frontchannel = pages;
        }
        let outcome = self.return_to(&mut conn, &params, client_id.as_deref())?;
        if frontchannel.is_empty() {
            return Ok(outcome);
        }
        let (pages, mut origins): (Vec<String>, Vec<String>) = frontchannel.into_iter().unzip();
        origins.sort();
        origins.dedup();
        Ok(match outcome {
            LogoutOutcome::Redirect(to) => LogoutOutcome::FrontChannel { pages, origins, then: Some(to) },
            LogoutOutcome::SignedOut => LogoutOutcome::FrontChannel { pages, origins, then: None },
            other => other,
        })
    }

    /// RP-Initiated Logout §3: where the browser goes once signed out.
    fn return_to(
        &self,
        conn: &mut DbConn,
        params: &Params,
        client_id: Option<&str>,
    ) -> Result<LogoutOutcome, OAuthError> {
        let Some(target) = params.get("post_logout_redirect_uri") else { return Ok(LogoutOutcome::SignedOut) };
        let registered = match client_id {
            Some(id) => clients::find(conn, id).map_err(store_failure)?.map(|c| c.post_logout_redirect_uris),
            None => None,
        };
        if !registered.is_some_and(|r| r.iter().any(|u| u == target)) {
            return Ok(LogoutOutcome::Page(
                "You are signed out. The return address is not registered for this application.".into(),
            ));
        }
        let mut pairs = Vec::new();
        if let Some(s) = params.get("state") {
            pairs.push(("state", s));
        }
        Ok(LogoutOutcome::Redirect(if pairs.is_empty() { target.to_owned() } else { with_query(target, &pairs) }))
    }
}
