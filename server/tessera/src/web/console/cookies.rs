//! The console's session cookie.

use crate::web::AppState;
use actix_web::cookie::{Cookie, SameSite};

/// The session cookie's name: with https the `__Host-` prefix pins it to
/// this origin and path `/` (browsers refuse it without Secure, so plain-http
/// development uses the bare name).
pub fn cookie_name(state: &AppState) -> &'static str {
    if secure(state) { "__Host-tessera_admin" } else { "tessera_admin" }
}

fn secure(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

/// The session cookie (HttpOnly, SameSite=Strict, Secure under https).
pub fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(cookie_name(state), value)
        .path("/")
        .http_only(true)
        .secure(secure(state))
        .same_site(SameSite::Strict)
        .finish()
}
