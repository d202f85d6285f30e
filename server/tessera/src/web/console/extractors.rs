//! The extractors every console handler gets its caller through: [`Admin`]
//! (a valid session whose role holds what the route needs, see
//! `permissions.rs`) and [`Posted`] (that, a same-origin request and a
//! matching CSRF token, then the form).

use super::permissions::{self, Need};
use super::{Refusal, cookie_name};
use crate::service::console::Session;
use crate::web::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// The signed-in administrator of a request. Extracting it checks the
/// session (idle and absolute timeouts), that the administrator's role holds
/// the scope the matched route declares in `permissions::ROUTES` (a route
/// that declares nothing is refused to everyone) and, for anything but GET
/// and HEAD, that the request comes from this origin.
pub struct Admin {
    /// The session.
    pub session: Session,
    /// The application state.
    pub state: web::Data<AppState>,
}

impl Admin {
    /// The audit log's actor.
    pub fn actor(&self) -> String {
        self.session.actor()
    }

    /// The time of this request's changes, from the console's clock (the
    /// admin services take it rather than reading a clock).
    pub fn now(&self) -> i64 {
        self.state.console.now()
    }

    /// Checks a submitted synchronizer token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), Refusal> {
        if self.session.csrf_matches(submitted) {
            Ok(())
        } else {
            Err(Refusal::Forbidden(
                "This form expired or did not come from the console. Go back, reload and try again.",
            ))
        }
    }
}

/// OWASP CSRF defence in depth: a browser's `Sec-Fetch-Site` must be
/// same-origin, and an `Origin` header must be the issuer's origin.
pub(super) fn same_origin(req: &HttpRequest, issuer: &str) -> bool {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match h("origin") {
        None => true,
        Some(origin) => url::Url::parse(issuer).is_ok_and(|u| u.origin().ascii_serialization() == origin),
    }
}

const NOT_YOUR_ROLE: &str = "Your role does not allow this. An owner can change roles on the Administrators page.";

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, Refusal>>>>;

impl FromRequest for Admin {
    type Error = Refusal;
    type Future = Boxed<Admin>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or(Refusal::Unavailable)?;
            let changing = !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
            if changing && !same_origin(&req, &state.issuer) {
                return Err(Refusal::Forbidden("Cross-site requests to the console are refused."));
            }
            let cookie = req.cookie(cookie_name(&state)).map(|c| c.value().to_owned()).ok_or(Refusal::SignIn)?;
            let auth = state.console.clone();
            let session = crate::web::block(move || auth.session(&cookie))
                .await
                .map_err(|_| Refusal::Unavailable)?
                .map_err(|_| Refusal::Unavailable)?
                .ok_or(Refusal::SignIn)?;
            // Past the password but not the second factor: the sign-in page
            // asks for the code (or the enrolment) and nothing else opens.
            if session.pending.is_some() {
                return Err(Refusal::SignIn);
            }
            let need = req.match_pattern().and_then(|p| permissions::need(req.method().as_str(), &p));
            match need {
                Some(Need::Public | Need::SignedIn) => {}
                Some(Need::Scope(scope)) if session.role().allows(scope) => {}
                Some(Need::Scope(_)) => return Err(Refusal::Forbidden(NOT_YOUR_ROLE)),
                None => return Err(Refusal::Forbidden("This page declares no permission, so nobody may use it.")),
            }
            Ok(Admin { session, state })
        })
    }
}

/// A state-changing form: the session, the CSRF token checked, and the
/// fields both typed (`form`) and raw (`pairs`, for repeated checkboxes).
pub struct Posted<T> {
    /// The administrator.
    pub admin: Admin,
    /// The typed form.
    pub form: T,
    /// Every field in order, repeated names included.
    pub pairs: Vec<(String, String)>,
}

impl<T> Posted<T> {
    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = Refusal;
    type Future = Boxed<Posted<T>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = Admin::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let admin = admin.await?;
            let body = body.await.map_err(|e| Refusal::BadForm(format!("The form could not be read: {e}")))?;
            let pairs: Vec<(String, String)> =
                url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let csrf = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
            admin.check_csrf(csrf)?;
            let form = serde_urlencoded::from_bytes::<T>(&body)
                .map_err(|e| Refusal::BadForm(format!("The form could not be read: {e}")))?;
            Ok(Posted { admin, form, pairs })
        })
    }
}

/// A form with nothing but the CSRF token (delete, rotate, sign out).
#[derive(serde::Deserialize)]
pub struct Empty {}
