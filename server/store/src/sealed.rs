//! Every durable value sealed with the master key, by kind and row, for
//! `tessera master-key rewrap`: after a master-key rotation each is opened
//! with whichever configured key seals it and sealed again with the current
//! one, so the previous key can be dropped.
//!
//! Short-lived sealed state is not listed: a passkey ceremony (minutes) and
//! a DPoP nonce (not stored) are opened with any configured key meanwhile,
//! and started again once the previous key is gone.

use crate::StoreError;
use crate::conn::DbConn;
use crate::schema::{admins, apis, bindings, signing_keys, user_second_factors};
use diesel::prelude::*;

/// Which column a sealed value lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealedKind {
    /// `signing_keys.private_key_enc`, by kid.
    SigningKey,
    /// `apis.hs256_secret_enc`, by API id.
    ApiSecret,
    /// `bindings.secrets_enc`, by binding id.
    BindingSecrets,
    /// `admins.totp_secret_enc`, by administrator id.
    AdminTotp,
    /// `user_second_factors.totp_secret_enc`, by user id.
    UserTotp,
}

impl SealedKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [SealedKind; 5] = [
        SealedKind::SigningKey,
        SealedKind::ApiSecret,
        SealedKind::BindingSecrets,
        SealedKind::AdminTotp,
        SealedKind::UserTotp,
    ];

    /// The kind's name in reports and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            SealedKind::SigningKey => "signing_keys",
            SealedKind::ApiSecret => "api_secrets",
            SealedKind::BindingSecrets => "binding_secrets",
            SealedKind::AdminTotp => "admin_totp",
            SealedKind::UserTotp => "user_totp",
        }
    }
}

/// One sealed value and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Its column.
    pub kind: SealedKind,
    /// Its row's key (kid or id), which its purpose is bound to.
    pub id: String,
    /// Nonce, ciphertext and tag, as stored.
    pub value: Vec<u8>,
}

/// Every sealed value of every kind.
pub fn all(conn: &mut DbConn) -> Result<Vec<Sealed>, StoreError> {
    let mut out = Vec::new();
    let mut push = |kind, rows: Vec<(String, Option<Vec<u8>>)>| {
        out.extend(rows.into_iter().filter_map(|(id, value)| Some(Sealed { kind, id, value: value? })));
    };
    let keys: Vec<(String, Vec<u8>)> =
        signing_keys::table.select((signing_keys::kid, signing_keys::private_key_enc)).load(conn)?;
    push(SealedKind::SigningKey, keys.into_iter().map(|(id, v)| (id, Some(v))).collect());
    push(
        SealedKind::ApiSecret,
        apis::table
            .select((apis::id, apis::hs256_secret_enc))
            .filter(apis::hs256_secret_enc.is_not_null())
            .load(conn)?,
    );
    push(
        SealedKind::BindingSecrets,
        bindings::table
            .select((bindings::id, bindings::secrets_enc))
            .filter(bindings::secrets_enc.is_not_null())
            .load(conn)?,
    );
    push(
        SealedKind::AdminTotp,
        admins::table
            .select((admins::id, admins::totp_secret_enc))
            .filter(admins::totp_secret_enc.is_not_null())
            .load(conn)?,
    );
    push(
        SealedKind::UserTotp,
        user_second_factors::table
            .select((user_second_factors::user_id, user_second_factors::totp_secret_enc))
            .filter(user_second_factors::totp_secret_enc.is_not_null())
            .load(conn)?,
    );
    Ok(out)
}

/// Replaces `old`'s value with `new` if the row still holds `old.value`
/// (a change made meanwhile, e.g. new binding secrets, is left alone and
/// `false` returned).
pub fn replace(conn: &mut DbConn, old: &Sealed, new: &[u8]) -> Result<bool, StoreError> {
    let id = old.id.as_str();
    let value = old.value.as_slice();
    let n = match old.kind {
        SealedKind::SigningKey => {
            diesel::update(signing_keys::table.find(id).filter(signing_keys::private_key_enc.eq(value)))
                .set(signing_keys::private_key_enc.eq(new))
                .execute(conn)?
        }
        SealedKind::ApiSecret => diesel::update(apis::table.find(id).filter(apis::hs256_secret_enc.eq(value)))
            .set(apis::hs256_secret_enc.eq(new))
            .execute(conn)?,
        SealedKind::BindingSecrets => diesel::update(bindings::table.find(id).filter(bindings::secrets_enc.eq(value)))
            .set(bindings::secrets_enc.eq(new))
            .execute(conn)?,
        SealedKind::AdminTotp => diesel::update(admins::table.find(id).filter(admins::totp_secret_enc.eq(value)))
            .set(admins::totp_secret_enc.eq(new))
            .execute(conn)?,
        SealedKind::UserTotp => {
            diesel::update(user_second_factors::table.find(id).filter(user_second_factors::totp_secret_enc.eq(value)))
                .set(user_second_factors::totp_secret_enc.eq(new))
                .execute(conn)?
        }
    };
    Ok(n == 1)
}
