//! The storage error type.

/// What went wrong in storage, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was violated (e.g. the username is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row is not the version the caller's change was made against
    /// (a failed precondition, `row_lock`): it changed since it was read.
    #[error("changed since it was read: {0}")]
    Stale(String),
    /// The database cannot be reached or the pool is exhausted: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Backend(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound("row".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_owned())
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            // A column whose value its Rust type does not accept (an unknown
            // enum name, say): the data is wrong, not the database.
            Error::DeserializationError(e) => StoreError::Corrupt(e.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}
