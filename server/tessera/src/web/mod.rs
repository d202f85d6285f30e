//! The HTTP shell: state, routes, middleware. Public OAuth routes are mounted
//! by their own function so admin routes (mounted separately) can never be
//! reached without their authentication.

pub mod api;
pub mod browser;
pub mod client_addr;
pub mod console;
pub mod health;
pub mod oauth;
pub mod pages;
pub mod render;
pub mod routes;

#[cfg(test)]
mod tests;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::keys::KeyRing;
use crate::service::console::{ConsoleAuth, ConsoleSettings};
use crate::service::oauth::{OAuthServices, OAuthSettings, RefreshLifetimes, UserinfoApiSettings};
use crate::service::pipeline::Pipeline;
use crate::service::sign_in::ThrottleSettings;
use actix_web::middleware::{Condition, DefaultHeaders, Logger};
use actix_web::{App, HttpServer, web};
use std::sync::Arc;
use std::time::Duration;
use tessera_plugin_host::PluginHost;
use tessera_store::Store;

/// Shared by every handler.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Signing keys.
    pub keys: Arc<KeyRing>,
    /// One service per OAuth/OIDC endpoint.
    pub oauth: OAuthServices,
    /// The issuer URL, without trailing slash.
    pub issuer: String,
    /// Console sign-in and sessions.
    pub console: Arc<ConsoleAuth>,
    /// The plugin host (uploads are validated and test runs made with it).
    pub host: Arc<tessera_plugin_host::PluginHost>,
    /// Defaults and limits the console applies.
    pub admin: AdminSettings,
    /// Proxies whose `X-Forwarded-For` is believed (see `client_addr`).
    pub trusted_proxies: client_addr::TrustedProxies,
}

impl AppState {
    /// Builds the state from `config`: the one wiring of keys, plugin
    /// pipeline and services, shared by `tessera serve` and the in-process
    /// tests (which pass an in-process plugin host and a set clock).
    pub fn build(
        config: &Config,
        store: Store,
        master: Arc<MasterKey>,
        host: Arc<PluginHost>,
        clock: SharedClock,
    ) -> anyhow::Result<AppState> {
        let issuer = config.issuer();
        let keys = Arc::new(KeyRing::new(
            store.clone(),
            master.clone(),
            Duration::from_millis(config.keys.refresh_ms),
            config.keys.retired_publish_secs,
            clock.clone(),
        ));
        let pipeline =
            Arc::new(Pipeline::new(store.clone(), host.clone(), master, clock.clone(), config.plugin_runs.keep));
        let settings = OAuthSettings {
            issuer: issuer.clone(),
            userinfo: UserinfoApiSettings {
                audience: format!("{issuer}{}", routes::USERINFO),
                token_lifetime_secs: config.tokens.access_token_lifetime_secs,
            },
            refresh: RefreshLifetimes {
                absolute_secs: config.tokens.refresh_token_absolute_secs,
                idle_secs: config.tokens.refresh_token_idle_secs,
            },
            code_lifetime_secs: config.tokens.authorization_code_secs,
            session_lifetime_secs: config.login.session_secs,
            throttle: ThrottleSettings::from(&config.login),
        };
        let oauth = OAuthServices::new(store.clone(), keys.clone(), pipeline, clock.clone(), settings);
        let console = Arc::new(ConsoleAuth::new(
            store.clone(),
            ConsoleSettings {
                idle_secs: config.console.idle_timeout_secs,
                absolute_secs: config.console.absolute_timeout_secs,
                setup_link_secs: config.console.setup_link_secs,
                throttle: ThrottleSettings::from(&config.login),
            },
            clock,
        ));
        let admin = AdminSettings {
            api_lifetime_secs: config.tokens.access_token_lifetime_secs,
            retired_publish_secs: config.keys.retired_publish_secs,
            max_upload_bytes: config.plugins.host.max_upload_bytes,
            signature_policy: Arc::new(config.signature_policy()?),
        };
        let trusted_proxies = client_addr::TrustedProxies::parse(&config.trusted_proxies)?;
        Ok(AppState { store, keys, oauth, issuer, console, host, admin, trusted_proxies })
    }

    /// The client address of `req` (the one place that decides it).
    pub fn client_addr(&self, req: &actix_web::HttpRequest) -> Option<String> {
        client_addr::client_addr(req, &self.trusted_proxies)
    }
}

/// Configuration the console needs.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Token lifetime of a new API.
    pub api_lifetime_secs: i64,
    /// How long a retired key stays published after a rotation.
    pub retired_publish_secs: i64,
    /// Largest plugin upload, bytes.
    pub max_upload_bytes: usize,
    /// Which plugin signatures uploads need and whose are trusted (`[plugins]`).
    pub signature_policy: Arc<crate::plugin_signatures::SignaturePolicy>,
}

/// Mounts the public OAuth/OIDC routes.
pub fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(routes::TOKEN)
            .route(web::post().to(oauth::token))
            .default_service(web::to(oauth::token_method_not_allowed)),
    )
    .service(
        web::resource(routes::INTROSPECT)
            .route(web::post().to(oauth::introspect))
            .default_service(web::to(oauth::token_method_not_allowed)),
    )
    .service(
        web::resource(routes::REVOKE)
            .route(web::post().to(oauth::revoke))
            .default_service(web::to(oauth::token_method_not_allowed)),
    )
    .service(
        web::resource(routes::AUTHORIZE)
            .route(web::get().to(browser::authorize_get))
            .route(web::post().to(browser::authorize_post)),
    )
    .route(routes::LOGIN, web::post().to(browser::login))
    .route(routes::CONSENT, web::post().to(browser::consent))
    .service(
        web::resource(routes::END_SESSION)
            .route(web::get().to(browser::end_session))
            .route(web::post().to(browser::end_session)),
    )
    .service(
        web::resource(routes::USERINFO)
            .route(web::get().to(browser::userinfo))
            .route(web::post().to(browser::userinfo)),
    )
    .route(&format!("{}/{{path:.*}}", routes::STATIC), web::get().to(browser::asset))
    .route(routes::OPENID_CONFIGURATION, web::get().to(oauth::metadata))
    .route(routes::OAUTH_AUTHORIZATION_SERVER, web::get().to(oauth::metadata))
    .route(routes::JWKS, web::get().to(oauth::jwks))
    .route(routes::HEALTHZ, web::get().to(health::healthz))
    .route(routes::READYZ, web::get().to(health::readyz));
}

/// Binds `listen` and returns the server, ready to be awaited.
pub fn server(state: AppState, listen: &str, max_form_bytes: usize) -> std::io::Result<actix_web::dev::Server> {
    // Multipart overhead on top of the largest component the host accepts.
    let max_upload = state.admin.max_upload_bytes.saturating_add(64 * 1024);
    // An https issuer means browsers reach us over TLS (usually at a proxy):
    // tell them never to try plain http for a year (RFC 6797; issue #11
    // item 13). Under an http issuer (development) the header would be
    // ignored by browsers anyway, and would pin a name that later moves to
    // https with a different setup, so it is left out.
    let hsts = state.issuer.starts_with("https://");
    let state = web::Data::new(state);
    let srv = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(max_form_bytes))
            .app_data(
                actix_multipart::form::MultipartFormConfig::default().total_limit(max_upload).memory_limit(max_upload),
            )
            // %U is the path without the query: codes and tokens never reach the log.
            .wrap(
                Logger::new("%a \"%{method}xi %U\" %s %b %Dms")
                    .custom_request_replace("method", |req| req.method().to_string()),
            )
            .wrap(
                DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer"))
                    .add(("X-Frame-Options", "DENY")),
            )
            .wrap(Condition::new(
                hsts,
                DefaultHeaders::new().add(("Strict-Transport-Security", "max-age=31536000; includeSubDomains")),
            ))
            .configure(public_routes)
            .configure(console::routes)
            .configure(api::routes)
    })
    .bind(listen)?
    .run();
    Ok(srv)
}
