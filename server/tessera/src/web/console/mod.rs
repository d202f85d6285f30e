//! The admin console: server-rendered pages under `/admin`, each behind a
//! server-side session (the [`Admin`] extractor) and, for every
//! state-changing request, a synchronizer CSRF token plus an Origin /
//! Sec-Fetch-Site check (the [`Posted`] extractor). No handler can forget
//! either: a POST handler gets its form only through `Posted`.

mod account;
mod admins;
mod apis;
mod auth;
mod bindings;
mod clients;
mod dashboard;
mod keys;
mod logs;
mod names;
mod passkeys;
mod plugins;
mod reference;
mod second_factor;
mod shadow;
mod trusted_issuers;
mod users;

mod cookies;
mod errors;
mod extractors;
mod layout;
mod paging;
mod permissions;

pub use cookies::{cookie_name, session_cookie};
pub use errors::{ConsoleError, Failure, FieldErrors, Refusal};
pub use extractors::{Admin, Empty, Posted};
pub use layout::{Layout, filters, message_page, pretty, render, render_form, secret_page, see_other, when};
pub use paging::{PAGE_SIZE, PageQuery, Pager};

use crate::web::routes::console as paths;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};
use extractors::same_origin;

/// Largest console form body (uploads have their own multipart limit).
pub const CONSOLE_FORM_BYTES: usize = 512 * 1024;

/// The Content-Security-Policy of every console page (docs/security-checklist.md A-9): no
/// inline script or style, nothing from other origins, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Mounts every console route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(paths::HOME)
            // Forms here carry JSON (metadata, a plugin test context of up to
            // the host's 128 KiB input), so they get more room than OAuth forms.
            .app_data(web::PayloadConfig::new(CONSOLE_FORM_BYTES))
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, CSP))
                    .add((header::CACHE_CONTROL, "no-store"))
                    .add(("Cross-Origin-Opener-Policy", "same-origin"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "same-origin")),
            )
            .configure(auth::routes)
            .configure(account::routes)
            .configure(second_factor::routes)
            .configure(passkeys::routes)
            .configure(admins::routes)
            .configure(dashboard::routes)
            .configure(users::routes)
            .configure(clients::routes)
            .configure(trusted_issuers::routes)
            .configure(apis::routes)
            .configure(plugins::routes)
            .configure(bindings::routes)
            .configure(shadow::routes)
            .configure(keys::routes)
            .configure(logs::routes)
            .configure(reference::routes),
    );
}

/// Runs a blocking closure (diesel, argon2, wasm) off the event loop.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ConsoleError> {
    crate::web::block(f).await.map_err(|_| ConsoleError::Internal)
}

/// What every console handler returns.
pub type Page = Result<HttpResponse, ConsoleError>;
