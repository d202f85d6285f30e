//! The HTTP shell: state, routes, middleware. Public OAuth routes are mounted
//! by their own function so admin routes (mounted separately) can never be
//! reached without their authentication.

pub mod access_log;
pub mod api;
pub mod browser;
pub mod client_addr;
pub mod console;
pub mod device;
pub mod health;
pub mod metrics;
pub mod oauth;
pub mod pages;
pub mod par;
pub mod rate_limit;
pub mod registration;
pub mod render;
pub mod request_id;
pub mod routes;

#[cfg(test)]
mod tests;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::cpu_pool::CpuPool;
use crate::crypto::MasterKey;
use crate::keys::KeyRing;
use crate::service::console::{ConsoleAuth, ConsoleSettings};
use crate::service::metrics::PluginFigures;
use crate::service::oauth::{
    DpopSettings, OAuthServices, OAuthSettings, ParSettings, RefreshLifetimes, RemoteJwksSettings,
    SecondFactorSettings, UserinfoApiSettings,
};
use crate::service::passkeys::RelyingParty;
use crate::service::pipeline::Pipeline;
use crate::service::rate_limit::RateLimiter;
use crate::service::registration::RegistrationService;
use crate::service::run_log::RunLog;
use crate::service::shadow::ShadowRunner;
use crate::service::sign_in::ThrottleSettings;
use crate::service::snapshot::{self, Snapshots};
use crate::service::suspensions::Suspensions;
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
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
    /// The token path's in-memory configuration (`service::snapshot`).
    pub snapshots: Arc<Snapshots>,
    /// The asynchronous plugin run log; `flush` it before the process ends.
    pub run_log: Arc<RunLog>,
    /// The shadow runs of binding candidates (`service::shadow`); `flush`
    /// it before the process ends.
    pub shadows: Arc<ShadowRunner>,
    /// Request rate limits per address and client (`web::rate_limit`);
    /// its refusal counters are for the metrics.
    pub rate_limits: RateLimiter,
    /// Recent plugin run figures, for the dashboard (`service::metrics`).
    pub plugin_figures: Arc<PluginFigures>,
    /// Where token requests with a plugin bound run (`crate::cpu_pool`).
    pub cpu: Arc<CpuPool>,
    /// Dynamic Client Registration (RFC 7591, 7592).
    pub registration: Arc<RegistrationService>,
    /// The bindings this node suspended (`service::suspensions`), for the
    /// console and the metrics.
    pub suspensions: Arc<Suspensions>,
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
        // Once per process, whichever state is built first (`service::metrics`).
        crate::service::metrics::install();
        // Also once per process: the plugin host tells the CPU pool's
        // threads when a call waits (`crate::cpu_pool`).
        tessera_plugin_host::set_wait_hooks(tessera_plugin_host::WaitHooks {
            begins: crate::cpu_pool::wait_begins,
            ends: crate::cpu_pool::wait_ends,
        });
        let issuer = config.issuer();
        let keys = Arc::new(KeyRing::new(
            store.clone(),
            master.clone(),
            Duration::from_millis(config.keys.refresh_ms),
            config.keys.retired_publish_secs,
            clock.clone(),
        ));
        let snapshots = Snapshots::load(store.clone(), clock.clone(), Some(host.clone()))?;
        snapshots.spawn_poller(&keys, snapshot::POLL_INTERVAL)?;
        let run_log = Arc::new(RunLog::start(store.clone(), config.plugin_runs.keep)?);
        let plugin_figures = Arc::new(PluginFigures::default());
        let shadows = Arc::new(ShadowRunner::start(store.clone(), host.clone())?);
        let suspensions = Arc::new(Suspensions::new(
            config.plugins.suspend_after_deadlines,
            Duration::from_secs(config.plugins.suspend_secs),
        ));
        let pipeline = Arc::new(Pipeline::new(
            store.clone(),
            host.clone(),
            master.clone(),
            clock.clone(),
            snapshots.clone(),
            run_log.clone(),
            plugin_figures.clone(),
            shadows.clone(),
            suspensions.clone(),
        ));
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
            pkce: config.tokens.pkce,
            session_lifetime_secs: config.login.session_secs,
            throttle: ThrottleSettings::from(&config.login),
            device_verification_uri: format!("{issuer}{}", routes::DEVICE),
            par: ParSettings { enabled: config.par.enabled, lifetime_secs: config.par.lifetime_secs },
            dpop: DpopSettings {
                require_nonce: config.dpop.require_nonce,
                nonce_lifetime_secs: config.dpop.nonce_lifetime_secs,
                proof_max_age_secs: config.dpop.proof_max_age_secs,
                token_url: format!("{issuer}{}", routes::TOKEN),
                userinfo_url: format!("{issuer}{}", routes::USERINFO),
                par_url: format!("{issuer}{}", routes::PAR),
            },
            second_factor: SecondFactorSettings {
                master: master.clone(),
                required: config.login.require_second_factor,
                label: url::Url::parse(&issuer)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| issuer.clone()),
            },
            assertion_audiences: std::iter::once(String::new())
                .chain(
                    [routes::TOKEN, routes::PAR, routes::INTROSPECT, routes::REVOKE, routes::DEVICE_AUTHORIZATION]
                        .map(str::to_owned),
                )
                .map(|path| format!("{issuer}{path}"))
                .collect(),
            bearer_audiences: vec![issuer.clone(), format!("{issuer}{}", routes::TOKEN)],
            remote_jwks: RemoteJwksSettings {
                cache_secs: config.remote_jwks.cache_secs,
                refetch_secs: config.remote_jwks.refetch_secs,
                timeout: std::time::Duration::from_millis(config.remote_jwks.timeout_ms),
                max_bytes: config.remote_jwks.max_bytes,
            },
        };
        let oauth =
            OAuthServices::new(store.clone(), keys.clone(), pipeline, clock.clone(), settings, snapshots.clone());
        let registration = Arc::new(RegistrationService::new(
            store.clone(),
            clock.clone(),
            oauth.management.clone(),
            config.registration.mode,
            format!("{issuer}{}", routes::REGISTER),
        ));
        let console = Arc::new(ConsoleAuth::new(
            store.clone(),
            ConsoleSettings {
                idle_secs: config.console.idle_timeout_secs,
                absolute_secs: config.console.absolute_timeout_secs,
                setup_link_secs: config.console.setup_link_secs,
                invitation_secs: config.console.invitation_secs,
                throttle: ThrottleSettings::from(&config.login),
                relying_party: RelyingParty::for_issuer(&issuer).map(Arc::new),
            },
            clock,
            master.clone(),
        ));
        let admin = AdminSettings {
            api_lifetime_secs: config.tokens.access_token_lifetime_secs,
            retired_publish_secs: config.keys.retired_publish_secs,
            max_upload_bytes: config.plugins.host.max_upload_bytes,
            signature_policy: Arc::new(config.signature_policy()?),
        };
        let trusted_proxies = client_addr::TrustedProxies::parse(&config.trusted_proxies)?;
        let rate_limits = RateLimiter::new(&config.rate_limits);
        Ok(AppState {
            store,
            keys,
            oauth,
            issuer,
            console,
            host,
            admin,
            trusted_proxies,
            snapshots,
            run_log,
            shadows,
            rate_limits,
            plugin_figures,
            cpu: Arc::new(CpuPool::per_cpu()),
            registration,
            suspensions,
        })
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
    .route(routes::LOGIN_SECOND_FACTOR, web::post().to(browser::login_second_factor))
    .route(routes::CONSENT, web::post().to(browser::consent))
    .service(
        web::resource(routes::DEVICE_AUTHORIZATION)
            .route(web::post().to(device::authorize))
            .default_service(web::to(oauth::token_method_not_allowed)),
    )
    .service(
        web::resource(routes::PAR)
            .route(web::post().to(par::push))
            .default_service(web::to(oauth::token_method_not_allowed)),
    )
    .service(
        web::resource(routes::REGISTER)
            .route(web::post().to(registration::register))
            .default_service(web::to(oauth::token_method_not_allowed)),
    )
    .service(
        web::resource(routes::registered_client("{client_id}"))
            .route(web::get().to(registration::read))
            .route(web::put().to(registration::update))
            .route(web::delete().to(registration::delete)),
    )
    .service(web::resource(routes::DEVICE).route(web::get().to(device::page)).route(web::post().to(device::decide)))
    .route(routes::DEVICE_LOGIN, web::post().to(device::login))
    .route(routes::DEVICE_LOGIN_SECOND_FACTOR, web::post().to(device::second_factor))
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
    .route(routes::OPENID_CONFIGURATION, web::get().to(oauth::metadata))
    .route(routes::OAUTH_AUTHORIZATION_SERVER, web::get().to(oauth::metadata))
    .route(routes::JWKS, web::get().to(oauth::jwks))
    .configure(asset_routes)
    .configure(health::routes);
}

/// `web::block` inside the caller's tracing span: a handler's work on the
/// blocking pool logs under its `request{request_id}` span and its spans
/// (`client_auth`, `plugin_call`, `sign`) become children of the request's
/// trace (`crate::telemetry`). Every `web::block` in the HTTP shell goes
/// through here.
pub fn block<F, R>(f: F) -> impl Future<Output = Result<R, actix_web::error::BlockingError>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    web::block(move || span.in_scope(f))
}

/// [`block`] for the CPU pool (`crate::cpu_pool`): runs `f` there inside
/// the caller's tracing span.
pub fn on_cpu<F, R>(pool: &CpuPool, f: F) -> impl Future<Output = Result<R, crate::cpu_pool::Canceled>> + use<F, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    pool.run(move || span.in_scope(f))
}

/// After a console, management API or client registration request that may
/// have changed configuration (any method but GET and HEAD under their
/// prefixes), syncs this node's snapshot
/// before the response leaves, so the next token request here sees the
/// change; other nodes see it through the change counter within one second
/// (`service::snapshot`).
pub async fn sync_after_console_change(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let changes = !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD)
        && [routes::console::HOME, routes::api::PREFIX, routes::REGISTER].iter().any(|p| req.path().starts_with(p));
    let snapshots = changes.then(|| req.app_data::<web::Data<AppState>>().map(|s| s.snapshots.clone())).flatten();
    let resp = next.call(req).await?;
    if let Some(snapshots) = snapshots {
        match block(move || snapshots.sync()).await {
            Ok(Ok(_)) => {}
            // The poller retries; the change is in the database either way.
            Ok(Err(e)) => tracing::warn!(error = %e, "could not sync the snapshot after a console change"),
            Err(e) => tracing::warn!(error = %e, "could not sync the snapshot after a console change"),
        }
    }
    Ok(resp)
}

/// The static assets (style sheets, scripts) the sign-in pages and the
/// console both use.
fn asset_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(&format!("{}/{{path:.*}}", routes::STATIC), web::get().to(browser::asset));
}

/// Which routes one listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything on one address (no `admin_listen`).
    All,
    /// The OAuth/OIDC endpoints and the probes; `/admin`, `/api/v1` and
    /// `/metrics` answer 404.
    Public,
    /// The console, the management API, `/metrics` and the probes, for an
    /// address only operators reach.
    Admin,
}

impl Surface {
    /// Mounts this surface's routes.
    pub fn routes(self, cfg: &mut web::ServiceConfig) {
        match self {
            Surface::All => {
                cfg.configure(public_routes)
                    .configure(console::routes)
                    .configure(api::routes)
                    .configure(metrics::routes);
            }
            Surface::Public => {
                cfg.configure(public_routes);
            }
            Surface::Admin => {
                cfg.configure(console::routes)
                    .configure(api::routes)
                    .configure(asset_routes)
                    .configure(health::routes)
                    .configure(metrics::routes);
            }
        }
    }
}

/// Where `tessera serve` listens and how it stops.
#[derive(Debug, Clone)]
pub struct Listeners {
    /// The public address (`listen`).
    pub public: String,
    /// The console's own address (`admin_listen`), if any; the public
    /// listener then leaves the console out.
    pub admin: Option<String>,
    /// Largest form body of OAuth endpoints (`limits.max_form_bytes`).
    pub max_form_bytes: usize,
    /// How long a stop waits for requests in flight (`shutdown_timeout_secs`).
    pub shutdown_timeout_secs: u64,
}

/// Binds the listeners and returns their servers, ready to be awaited. They
/// handle no OS signal themselves: the caller stops them together through
/// their handles (`commands/serve.rs`), which drains requests in flight for
/// up to `shutdown_timeout_secs`.
pub fn servers(
    state: AppState,
    listeners: &Listeners,
    readiness: health::Readiness,
) -> anyhow::Result<Vec<actix_web::dev::Server>> {
    use anyhow::Context as _;
    let state = web::Data::new(state);
    let readiness = web::Data::new(readiness);
    let bind = |surface: Surface, addr: &str| {
        server(state.clone(), readiness.clone(), surface, addr, listeners)
            .with_context(|| format!("cannot listen on {addr}"))
    };
    match &listeners.admin {
        None => Ok(vec![bind(Surface::All, &listeners.public)?]),
        Some(admin) => Ok(vec![bind(Surface::Public, &listeners.public)?, bind(Surface::Admin, admin)?]),
    }
}

/// One listener: the middleware every surface shares, and `surface`'s routes.
fn server(
    state: web::Data<AppState>,
    readiness: web::Data<health::Readiness>,
    surface: Surface,
    listen: &str,
    listeners: &Listeners,
) -> std::io::Result<actix_web::dev::Server> {
    let max_form_bytes = listeners.max_form_bytes;
    // Multipart overhead on top of the largest component the host accepts.
    let max_upload = state.admin.max_upload_bytes.saturating_add(64 * 1024);
    // An https issuer means browsers reach us over TLS (usually at a proxy):
    // tell them never to try plain http for a year (RFC 6797; issue #11
    // item 13). Under an http issuer (development) the header would be
    // ignored by browsers anyway, and would pin a name that later moves to
    // https with a different setup, so it is left out.
    let hsts = state.issuer.starts_with("https://");
    let srv = HttpServer::new(move || {
        // One per worker: the metrics' series of fixed routes (`web::metrics`).
        let fixed_paths = std::rc::Rc::new(metrics::FixedPaths::default());
        App::new()
            .app_data(state.clone())
            .app_data(readiness.clone())
            .app_data(web::PayloadConfig::new(max_form_bytes))
            .app_data(
                actix_multipart::form::MultipartFormConfig::default().total_limit(max_upload).memory_limit(max_upload),
            )
            // Innermost: a refusal still gets the headers and the access log
            // line. The admin listener serves no limited endpoint.
            .wrap(Condition::new(surface != Surface::Admin, from_fn(rate_limit::middleware)))
            // Inside the request's span, so the event carries its id.
            .wrap(from_fn(access_log::middleware))
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
            .wrap(from_fn(sync_after_console_change))
            .wrap(from_fn(move |req, next| metrics::middleware(fixed_paths.clone(), req, next)))
            // Outermost, so the access log line and everything inside carry the id.
            .wrap(from_fn(request_id::middleware))
            .configure(|cfg| surface.routes(cfg))
    })
    .disable_signals()
    .shutdown_timeout(listeners.shutdown_timeout_secs)
    .bind(listen)?
    .run();
    Ok(srv)
}
