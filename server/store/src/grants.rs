//! Grant state: refresh-token families (RFC 6749 §6, RFC 9700 §4.14.2).
//!
//! Only the SHA-256 of a refresh token is stored. Rotation marks the
//! presented token used in a single conditional UPDATE, so of two concurrent
//! redemptions (on any nodes) exactly one wins; the loser is treated as reuse.

use crate::revocations::{self, RevocationKind};
use crate::schema::refresh_tokens;
use crate::{DbConn, StoreError};
use diesel::prelude::*;
use tessera_protocol::model::GrantType;

/// A refresh_tokens row as the database holds it; [`RefreshToken`] is it
/// parsed.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
struct Row {
    id: String,
    family_id: String,
    token_hash: String,
    client_id: String,
    user_id: String,
    api_id: String,
    scopes: String,
    created_at: i64,
    absolute_expires_at: i64,
    idle_expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    grant_type: Option<String>,
    access_jti: Option<String>,
    access_expires_at: Option<i64>,
    dpop_jkt: Option<String>,
    auth_time: Option<i64>,
    sid: Option<String>,
    amr: Option<String>,
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// Row id.
    pub id: String,
    /// Every token rotated from one grant shares the family.
    pub family_id: String,
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user it speaks for.
    pub user_id: String,
    /// The API (audience) of the grant.
    pub api_id: String,
    /// Granted scopes, space-separated: a refresh can narrow, never widen.
    pub scopes: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The family's absolute end, carried over on rotation.
    pub absolute_expires_at: i64,
    /// Ends if not used before; renewed on rotation.
    pub idle_expires_at: i64,
    /// When it was rotated; a second use is reuse.
    pub used_at: Option<i64>,
    /// When its family was revoked.
    pub revoked_at: Option<i64>,
    /// The grant type that started the family (authorization code or
    /// password), carried over on rotation; `None` for families started
    /// before it was recorded.
    pub grant_type: Option<GrantType>,
    /// The access token issued with this refresh token, revoked with its
    /// family; `None` for tokens stored before it was recorded.
    pub access: Option<IssuedAccess>,
    /// The RFC 7638 thumbprint of the DPoP key a public client's token is
    /// bound to (RFC 9449 §5): a refresh must prove possession of that key,
    /// and the rotated token keeps it. `None`: not bound.
    pub dpop_jkt: Option<String>,
    /// When the user signed in, if the grant that started the family gave
    /// an ID token: a refresh then gives one too, with this `auth_time`
    /// (OpenID Connect Core §12.2). Carried over on rotation.
    pub auth_time: Option<i64>,
    /// The browser session's `sid` of the family's first ID token, carried
    /// into each refreshed one (Back-Channel Logout §2.4).
    pub sid: Option<String>,
    /// How the user authenticated for the family's first ID token (RFC
    /// 8176 values, space-separated), carried into each refreshed one.
    pub amr: Option<String>,
}

/// An access token issued with a refresh token or from a code: enough to
/// revoke it (`revocations::revoke_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccess {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: i64,
}

fn issued_access(jti: Option<String>, expires_at: Option<i64>) -> Option<IssuedAccess> {
    Some(IssuedAccess { jti: jti?, expires_at: expires_at? })
}

impl TryFrom<Row> for RefreshToken {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(RefreshToken {
            grant_type: r.grant_type.map(|g| crate::parse_column("refresh_tokens.grant_type", &g)).transpose()?,
            id: r.id,
            family_id: r.family_id,
            token_hash: r.token_hash,
            client_id: r.client_id,
            user_id: r.user_id,
            api_id: r.api_id,
            scopes: r.scopes,
            created_at: r.created_at,
            absolute_expires_at: r.absolute_expires_at,
            idle_expires_at: r.idle_expires_at,
            used_at: r.used_at,
            revoked_at: r.revoked_at,
            access: issued_access(r.access_jti, r.access_expires_at),
            dpop_jkt: r.dpop_jkt,
            auth_time: r.auth_time,
            sid: r.sid,
            amr: r.amr,
        })
    }
}

impl RefreshToken {
    fn to_row(&self) -> Row {
        Row {
            id: self.id.clone(),
            family_id: self.family_id.clone(),
            token_hash: self.token_hash.clone(),
            client_id: self.client_id.clone(),
            user_id: self.user_id.clone(),
            api_id: self.api_id.clone(),
            scopes: self.scopes.clone(),
            created_at: self.created_at,
            absolute_expires_at: self.absolute_expires_at,
            idle_expires_at: self.idle_expires_at,
            used_at: self.used_at,
            revoked_at: self.revoked_at,
            grant_type: self.grant_type.map(String::from),
            access_jti: self.access.as_ref().map(|a| a.jti.clone()),
            access_expires_at: self.access.as_ref().map(|a| a.expires_at),
            dpop_jkt: self.dpop_jkt.clone(),
            auth_time: self.auth_time,
            sid: self.sid.clone(),
            amr: self.amr.clone(),
        }
    }
}

/// Stores a token.
pub fn insert(conn: &mut DbConn, t: &RefreshToken) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table).values(t.to_row()).execute(conn)?;
    Ok(())
}

/// The token with this hash, if any.
pub fn find_by_hash(conn: &mut DbConn, hash: &str) -> Result<Option<RefreshToken>, StoreError> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(RefreshToken::try_from)
        .transpose()
}

/// Marks a token used if it is still unused and unrevoked; false means
/// someone used it first (reuse).
pub fn mark_used(conn: &mut DbConn, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes every token of a family, and every unexpired access token issued
/// with one of them (`revocations`); returns how many refresh tokens were
/// still unrevoked. Run it in a transaction.
pub fn revoke_family(conn: &mut DbConn, family_id: &str, now: i64) -> Result<usize, StoreError> {
    // A rotation that commits while the UPDATE waits for its row lock adds
    // a token the UPDATE's snapshot (PostgreSQL, read committed) cannot see;
    // the next UPDATE, a statement of its own, does. Repeat until none is left.
    let mut revoked = 0;
    loop {
        let n = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(family_id))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(Some(now)))
        .execute(conn)?;
        if n == 0 {
            break;
        }
        revoked += n;
    }
    let issued: Vec<(Option<String>, Option<i64>)> = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::access_expires_at.gt(now))
        .select((refresh_tokens::access_jti, refresh_tokens::access_expires_at))
        .load(conn)?;
    for a in issued.into_iter().filter_map(|(j, e)| issued_access(j, e)) {
        revocations::revoke_token(conn, &a.jti, a.expires_at, now)?;
    }
    Ok(revoked)
}

/// Revokes every unrevoked refresh token of a client (all its families)
/// and every access token issued to it so far (a cut-off in
/// `revocations`); returns how many refresh tokens.
pub fn revoke_client(conn: &mut DbConn, client_id: &str, now: i64) -> Result<usize, StoreError> {
    revocations::cut_off(conn, RevocationKind::Client, client_id, now)?;
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::client_id.eq(client_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?)
}

use crate::schema::{authorization_codes, sessions};

/// A browser session (the cookie holds the random id; this its hash).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// SHA-256 hex of the cookie value.
    pub id_hash: String,
    /// The signed-in user.
    pub user_id: String,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// How the user authenticated: RFC 8176 values, space-separated
    /// (`pwd`, or `pwd otp mfa` after a second factor); the ID token's `amr`.
    pub amr: String,
}

/// Stores a session.
pub fn insert_session(conn: &mut DbConn, s: &Session) -> Result<(), StoreError> {
    diesel::insert_into(sessions::table).values(s).execute(conn)?;
    Ok(())
}

/// The unexpired session with this hash.
pub fn session(conn: &mut DbConn, id_hash: &str, now: i64) -> Result<Option<Session>, StoreError> {
    Ok(sessions::table
        .find(id_hash)
        .filter(sessions::expires_at.gt(now))
        .select(Session::as_select())
        .first(conn)
        .optional()?)
}

/// Step-up: the unexpired session `id_hash` of `user_id` is now
/// authenticated by `amr`, at `now` (its `auth_time`: OpenID Connect's
/// `max_age` counts from the last authentication). False if it ended
/// meanwhile; the session keeps its id, so its `sid` and the clients
/// signed in with it stay.
pub fn step_up_session(
    conn: &mut DbConn,
    id_hash: &str,
    user_id: &str,
    amr: &str,
    now: i64,
) -> Result<bool, StoreError> {
    use sessions::dsl as t;
    let n = diesel::update(t::sessions.find(id_hash).filter(t::user_id.eq(user_id)).filter(t::expires_at.gt(now)))
        .set((t::amr.eq(amr), t::auth_time.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Ends a session (its signed-in clients go with it).
pub fn delete_session(conn: &mut DbConn, id_hash: &str) -> Result<(), StoreError> {
    diesel::delete(sessions::table.find(id_hash)).execute(conn)?;
    Ok(())
}

/// A Logout Token to post (OpenID Connect Back-Channel Logout), queued by
/// the transaction that ended a session and taken by a running server.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::logout_notices)]
pub struct LogoutNotice {
    /// `<sid>:<client_id>`: one notice per session and client.
    pub id: String,
    /// The client to tell.
    pub client_id: String,
    /// Its `backchannel_logout_uri` when the session ended.
    pub uri: String,
    /// The session's user (`sub`).
    pub user_id: String,
    /// The session's `sid`.
    pub sid: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Queues a notice for each client with a back-channel logout URL of each
/// of `user_id`'s sessions (before they are deleted).
fn queue_logout_notices(conn: &mut DbConn, user_id: &str, now: i64) -> Result<(), StoreError> {
    use crate::schema::logout_notices;
    let hashes: Vec<String> =
        sessions::table.filter(sessions::user_id.eq(user_id)).select(sessions::id_hash).load(conn)?;
    for session_hash in hashes {
        let sid = tessera_protocol::backchannel::session_id(&session_hash);
        for SessionClient { client_id, backchannel_logout_uri, .. } in session_clients(conn, &session_hash)? {
            let Some(uri) = backchannel_logout_uri else { continue };
            let notice = LogoutNotice {
                id: format!("{sid}:{client_id}"),
                client_id,
                uri,
                user_id: user_id.to_owned(),
                sid: sid.clone(),
                created_at: now,
            };
            diesel::insert_into(logout_notices::table).values(&notice).execute(conn)?;
        }
    }
    Ok(())
}

/// Takes up to `limit` queued notices, oldest first. Each is deleted as it
/// is taken, and only the ones this call deleted are returned, so of
/// several servers taking at once each notice goes to exactly one.
pub fn take_logout_notices(conn: &mut DbConn, limit: i64) -> Result<Vec<LogoutNotice>, StoreError> {
    use crate::schema::logout_notices;
    let queued: Vec<LogoutNotice> = logout_notices::table
        .order((logout_notices::created_at, logout_notices::id))
        .limit(limit)
        .select(LogoutNotice::as_select())
        .load(conn)?;
    let mut taken = Vec::with_capacity(queued.len());
    for n in queued {
        if diesel::delete(logout_notices::table.find(&n.id)).execute(conn)? == 1 {
            taken.push(n);
        }
    }
    Ok(taken)
}

/// Remembers that `client_id` signed in through session `id_hash`, once.
pub fn record_session_client(conn: &mut DbConn, id_hash: &str, client_id: &str, now: i64) -> Result<(), StoreError> {
    use crate::schema::session_clients;
    let known = session_clients::table.find((id_hash, client_id)).count().get_result::<i64>(conn)? > 0;
    if known {
        return Ok(());
    }
    // Both backends through one connection type: no ON CONFLICT clause, so a
    // row another request inserted meanwhile is a conflict, and just as good.
    match diesel::insert_into(session_clients::table)
        .values((
            session_clients::session_hash.eq(id_hash),
            session_clients::client_id.eq(client_id),
            session_clients::created_at.eq(now),
        ))
        .execute(conn)
        .map_err(StoreError::from)
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A client that signed in through a session, with the URLs it registered
/// to hear of the session's end.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SessionClient {
    /// The client.
    pub client_id: String,
    /// Where its Logout Token is posted (Back-Channel Logout); `None`: none.
    pub backchannel_logout_uri: Option<String>,
    /// Its page the browser loads (Front-Channel Logout); `None`: none.
    pub frontchannel_logout_uri: Option<String>,
}

/// The clients that signed in through session `id_hash`, with their logout
/// URLs, by client id: one query for both kinds of logout.
pub fn session_clients(conn: &mut DbConn, id_hash: &str) -> Result<Vec<SessionClient>, StoreError> {
    use crate::schema::{clients, session_clients};
    Ok(session_clients::table
        .inner_join(clients::table)
        .filter(session_clients::session_hash.eq(id_hash))
        .select((clients::id, clients::backchannel_logout_uri, clients::frontchannel_logout_uri))
        .order(clients::id)
        .load(conn)?)
}

/// An authorization code (RFC 6749 §4.1.2), stored by hash.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct AuthorizationCode {
    /// SHA-256 hex of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authorized it.
    pub user_id: String,
    /// The redirect URI it was sent to; the token request must repeat it.
    pub redirect_uri: String,
    /// Granted scopes, space-separated.
    pub scopes: String,
    /// The requested API, if any.
    pub audience: Option<String>,
    /// The OIDC nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// The PKCE S256 challenge (RFC 7636).
    pub code_challenge: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; short (RFC 9700: at most 10 minutes; we use 60 s).
    pub expires_at: i64,
    /// When it was redeemed; a second redemption is reuse.
    pub used_at: Option<i64>,
    /// The refresh-token family its tokens belong to, revoked on reuse.
    pub family_id: String,
    /// The `jti` of the access token issued from it ([`record_code_tokens`]).
    pub access_jti: Option<String>,
    /// That access token's `exp`.
    pub access_expires_at: Option<i64>,
    /// When a replay of the code was first seen ([`mark_code_replayed`]).
    pub replayed_at: Option<i64>,
    /// The DPoP key thumbprint the code is bound to (RFC 9449 §10): only a
    /// token request with a proof of that key redeems it.
    pub dpop_jkt: Option<String>,
    /// The session it was issued in (OpenID Connect Back-Channel Logout
    /// `sid`), carried into the ID token its redemption issues.
    pub sid: Option<String>,
    /// How the user authenticated in that session (RFC 8176 values,
    /// space-separated), for the ID token's `amr`.
    pub amr: Option<String>,
}

/// Stores a code.
pub fn insert_code(conn: &mut DbConn, c: &AuthorizationCode) -> Result<(), StoreError> {
    diesel::insert_into(authorization_codes::table).values(c).execute(conn)?;
    Ok(())
}

/// The code with this hash, used or not.
pub fn code(conn: &mut DbConn, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError> {
    Ok(authorization_codes::table.find(code_hash).select(AuthorizationCode::as_select()).first(conn).optional()?)
}

/// Marks a code redeemed if it was not; false means it was already used
/// (on this node or another).
pub fn redeem_code(conn: &mut DbConn, code_hash: &str, now: i64) -> Result<bool, StoreError> {
    let n = diesel::update(authorization_codes::table.find(code_hash).filter(authorization_codes::used_at.is_null()))
        .set(authorization_codes::used_at.eq(Some(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records that a used code was presented again (RFC 6749 §4.1.2) and
/// returns the access token issued from it, if its redemption has recorded
/// one ([`record_code_tokens`]). Run it in a transaction with nothing before
/// it: the UPDATE locks the code's row, so of this and
/// [`record_code_tokens`], on any nodes, whichever runs second sees the
/// other's write. Then the replay revokes the token, or the redemption
/// learns of the replay and revokes its own tokens.
pub fn mark_code_replayed(conn: &mut DbConn, code_hash: &str, now: i64) -> Result<Option<IssuedAccess>, StoreError> {
    use authorization_codes::dsl as t;
    diesel::update(t::authorization_codes.find(code_hash).filter(t::replayed_at.is_null()))
        .set(t::replayed_at.eq(Some(now)))
        .execute(conn)?;
    let issued: Option<(Option<String>, Option<i64>)> =
        t::authorization_codes.find(code_hash).select((t::access_jti, t::access_expires_at)).first(conn).optional()?;
    Ok(issued.and_then(|(jti, exp)| issued_access(jti, exp)))
}

/// Records the access token issued from a redeemed code; true if a replay
/// of the code was seen already (the caller must then revoke what it
/// issued). The other half of [`mark_code_replayed`]; same transaction rule.
pub fn record_code_tokens(conn: &mut DbConn, code_hash: &str, access: &IssuedAccess) -> Result<bool, StoreError> {
    use authorization_codes::dsl as t;
    diesel::update(t::authorization_codes.find(code_hash))
        .set((t::access_jti.eq(Some(&access.jti)), t::access_expires_at.eq(Some(access.expires_at))))
        .execute(conn)?;
    let replayed: Option<Option<i64>> =
        t::authorization_codes.find(code_hash).select(t::replayed_at).first(conn).optional()?;
    Ok(replayed.flatten().is_some())
}

/// Ends everything a user signed in to (issue #11 item 9: after a password
/// reset, a disable or a delete): revokes every access token issued so far
/// (a cut-off in `revocations`) and every refresh token, deletes
/// every browser session ([`end_user_sessions`]) and expires every
/// unredeemed authorization code.
/// The sessions' clients with a back-channel logout URL get a queued
/// [`LogoutNotice`] each. Returns the refresh tokens revoked and the
/// sessions deleted. Run it in the same transaction as the change that
/// calls for it.
pub fn end_user_grants(conn: &mut DbConn, user_id: &str, now: i64) -> Result<(usize, usize), StoreError> {
    revocations::cut_off(conn, RevocationKind::User, user_id, now)?;
    let revoked = diesel::update(
        refresh_tokens::table.filter(refresh_tokens::user_id.eq(user_id)).filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    // The sign-ins waiting for a second factor end too: they began with the
    // password that may be the reason for this call.
    let sessions = end_user_sessions(conn, user_id, now)?;
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::user_id.eq(user_id))
            .filter(authorization_codes::used_at.is_null())
            .filter(authorization_codes::expires_at.gt(now)),
    )
    .set(authorization_codes::expires_at.eq(now))
    .execute(conn)?;
    Ok((revoked, sessions))
}

/// Ends every browser session of `user_id` (each signed-in client with a
/// back-channel logout URL is told) and every sign-in of theirs still
/// waiting for a second factor, keeping their tokens; returns how many
/// sessions ended. Run it in a transaction.
pub fn end_user_sessions(conn: &mut DbConn, user_id: &str, now: i64) -> Result<usize, StoreError> {
    use crate::schema::pending_sign_ins;
    queue_logout_notices(conn, user_id, now)?;
    diesel::delete(pending_sign_ins::table.filter(pending_sign_ins::user_id.eq(user_id))).execute(conn)?;
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?)
}

use crate::schema::consents;

/// The scopes a user consented to for a client and one API (space-separated),
/// if any. `api_id` is the API's internal id, or `userinfo` for OpenID
/// Connect requests without an audience: consent to one API's scopes never
/// covers another's, even when the scope names are the same.
pub fn consent(conn: &mut DbConn, user_id: &str, client_id: &str, api_id: &str) -> Result<Option<String>, StoreError> {
    Ok(consents::table.find((user_id, client_id, api_id)).select(consents::scopes).first(conn).optional()?)
}

/// Records consent to `scopes` for a client and one API (replacing an
/// earlier one for the same three).
pub fn record_consent(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    api_id: &str,
    scopes: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::delete(consents::table.find((user_id, client_id, api_id))).execute(conn)?;
    diesel::insert_into(consents::table)
        .values((
            consents::user_id.eq(user_id),
            consents::client_id.eq(client_id),
            consents::api_id.eq(api_id),
            consents::scopes.eq(scopes),
            consents::granted_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
