//! Tessera's OAuth 2.0 and OpenID Connect protocol logic.
//!
//! Everything here is pure: functions take parsed input and already-loaded data
//! and return a decision (a token plan, an error). No I/O, no HTTP framework, no
//! database, no clock and no randomness: the caller passes `now` and random
//! bytes in, which keeps every rule unit-testable and the crate boundary honest.
//! Modules are named after the RFC feature they implement.

pub mod backchannel;
pub mod claims;
pub mod client_assertion;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod grant;
pub mod ids;
pub mod introspection;
pub mod model;
pub mod names;
pub mod oidc;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod registration;
pub mod scope;
pub mod secret;
pub mod subject;
pub mod token;

pub use error::{ErrorCode, OAuthError};
pub use ids::{ApiId, Audience, ClientId, Jkt, UserId};
pub use scope::ScopeSet;
pub use subject::UserSource;
