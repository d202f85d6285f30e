//! Who a token is about, as far as the grant knows it.

use serde::{Deserialize, Serialize};

/// How the user in a token came to be there. The grants decide it, the
/// plugin pipeline hands it to plugins (the WIT `user-source`, kebab-case in
/// JSON contexts), so it is defined once here, below both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserSource {
    /// The resource owner authenticated in this grant.
    SignedIn,
    /// The service-account user linked to a confidential client.
    ServiceAccount,
    /// The subject of a token exchange (RFC 8693).
    Impersonated,
}
