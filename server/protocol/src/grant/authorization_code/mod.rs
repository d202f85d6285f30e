//! The authorization code grant (RFC 6749 §4.1) in its two halves: the
//! authorization request at the authorization endpoint ([`request`], which
//! also validates the implicit and hybrid response types it shares its
//! parameters with) and the code's redemption at the token endpoint
//! ([`redemption`]). [`response`] encodes the answer for the chosen
//! response mode. [`pushed`] takes the authorization request at the
//! pushed authorization request endpoint (RFC 9126) instead, and
//! [`request_object`] reads one signed as a JWT (RFC 9101).

pub mod pushed;
pub mod redemption;
pub mod request;
pub mod request_object;
pub mod response;
