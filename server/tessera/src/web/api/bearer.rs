//! The bearer-token extractor: a handler names the scope it needs in its
//! signature (`Bearer<scope::WriteClients>`), so no handler can run without
//! a valid management token holding that scope (RFC 6750 §2.1 header only;
//! tokens in query strings or forms are not accepted).

use super::problem::Problem;
use crate::service::oauth::management::{ManagementActor, ManagementScope};
use crate::web::AppState;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev, web};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

/// A scope as a type, so a handler's signature states what it needs.
pub trait Needs {
    /// The scope.
    const SCOPE: ManagementScope;
}

/// The scopes as types, one per [`ManagementScope`].
pub mod scope {
    use super::{ManagementScope, Needs};

    macro_rules! scopes {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("Needs [`ManagementScope::", stringify!($name), "`].")]
            #[derive(Debug)]
            pub struct $name;
            impl Needs for $name {
                const SCOPE: ManagementScope = ManagementScope::$name;
            }
        )*};
    }

    scopes!(
        ReadClients,
        WriteClients,
        ReadApis,
        WriteApis,
        ReadPlugins,
        WritePlugins,
        ReadBindings,
        WriteBindings,
        ReadKeys,
        WriteKeys,
        ReadAdmins,
        WriteAdmins,
        ReadAudit,
        ReadRuns,
        ReadUsers,
        WriteUsers,
    );
}

/// A request made with a valid management token holding `S`'s scope.
#[derive(Debug)]
pub struct Bearer<S> {
    /// The client the token was issued to.
    pub actor: ManagementActor,
    scope: PhantomData<S>,
}

impl<S> Bearer<S> {
    /// The name the audit log records for the actor.
    pub fn audit_name(&self) -> String {
        self.actor.audit_name()
    }
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive);
/// also the registration endpoints' (`web::registration`).
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

impl<S: Needs + 'static> FromRequest for Bearer<S> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| Problem::internal("no application state"))?;
            let actor = crate::web::block(move || state.oauth.management.authorize(token.as_deref(), S::SCOPE))
                .await
                .map_err(Problem::internal)??;
            Ok(Bearer { actor, scope: PhantomData })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_header_carries_a_token() {
        let req =
            actix_web::test::TestRequest::default().insert_header(("Authorization", "bearer abc")).to_http_request();
        assert_eq!(bearer_token(&req).as_deref(), Some("abc"));
        let req =
            actix_web::test::TestRequest::default().insert_header(("Authorization", "Basic abc")).to_http_request();
        assert_eq!(bearer_token(&req), None);
        let req = actix_web::test::TestRequest::default().insert_header(("Authorization", "Bearer ")).to_http_request();
        assert_eq!(bearer_token(&req), None);
        let req = actix_web::test::TestRequest::with_uri("/api/v1/clients?access_token=abc").to_http_request();
        assert_eq!(bearer_token(&req), None);
    }
}
