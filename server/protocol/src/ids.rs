//! Identifier newtypes. A client id is never a user id: mixing them up is a
//! security bug (RFC 9700 §4.15), so each has its own type.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a stored or received identifier.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// An OAuth `client_id` (RFC 6749 §2.2).
    ClientId
);
string_id!(
    /// A user's stable id, used as `sub` of user tokens.
    UserId
);
string_id!(
    /// An API's (resource server's) internal id.
    ApiId
);
string_id!(
    /// An API identifier as used in `aud`, `audience` and `resource`.
    Audience
);
string_id!(
    /// The JWK SHA-256 thumbprint (RFC 7638) of a DPoP key: what a token is
    /// bound to (`cnf.jkt`, RFC 9449 §6.1). A newtype so it is never taken
    /// for a `jti` or another base64url string.
    Jkt
);
