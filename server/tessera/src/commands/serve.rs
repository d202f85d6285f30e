//! `tessera serve`: wire the services together and run the HTTP server.

use super::Context;
use crate::clock::{SharedClock, SystemClock};
use crate::keys::KeyRing;
use crate::service::console::{ConsoleAuth, ConsoleSettings};
use crate::service::pipeline::Pipeline;
use crate::service::token::{TokenService, UserGrantSettings};
use crate::web::client_addr::TrustedProxies;
use crate::web::{self, AdminSettings, AppState};
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Duration;

/// Runs until SIGINT/SIGTERM.
pub fn run(ctx: Context) -> anyhow::Result<()> {
    let issuer = ctx.config.issuer();
    if issuer.starts_with("http://") {
        tracing::warn!(%issuer, "the issuer is plain http: fine for development, use https in production");
    }
    let config = ctx.config.clone();
    // Issue #11 item 17: bound the argon2 work in flight before anything hashes.
    crate::passwords::configure(config.passwords.max_concurrent, Duration::from_millis(config.passwords.queue_wait_ms));
    tracing::info!(workers = crate::passwords::max_concurrent(), "password hashing bounded");
    let state = app_state(ctx, SystemClock::shared())?;
    let store = state.store.clone();
    crate::service::warmer::spawn(store.clone(), state.host.clone(), Duration::from_secs(1))
        .context("cannot start the plugin warmer")?;
    crate::service::purge::Purger::new(&config).spawn(store).context("cannot start the purge thread")?;
    // First start with no administrator: print a one-time link (stdout and
    // stderr, never the log file's structured fields, which may be shipped).
    if let Some(token) = state.console.issue_setup_token().context("cannot create the console setup link")? {
        eprintln!(
            "No console administrator exists yet. Create one within {} h at:\n  {issuer}{}?token={token}\n\
             (or run `tessera admin create --username NAME --password-stdin`)",
            config.console.setup_link_secs / 3600,
            web::routes::console::SETUP
        );
    }
    let listen = config.listen.clone();
    let max_form = config.limits.max_form_bytes;
    actix_web::rt::System::new().block_on(async move {
        let server = web::server(state, &listen, max_form).with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(%listen, %issuer, "tessera is serving");
        eprintln!("Tessera is listening on {listen}; issuer {issuer}");
        server.await.context("server failed")
    })
}

/// Wires the services the HTTP handlers share, telling time by `clock`: the
/// server passes the system clock, in-process tests a set one, so both build
/// the state the same way. Starts no thread and binds nothing.
pub fn app_state(ctx: Context, clock: SharedClock) -> anyhow::Result<AppState> {
    let Context { config, store, master } = ctx;
    let issuer = config.issuer();
    let keys = Arc::new(KeyRing::new(
        store.clone(),
        master.clone(),
        Duration::from_millis(config.keys.refresh_ms),
        config.keys.retired_publish_secs,
    ));
    keys.jwks().context("cannot load signing keys")?;
    let host = super::plugins::host(&config)?;
    let pipeline = Arc::new(Pipeline::new(store.clone(), host.clone(), master.clone(), config.plugin_runs.keep));
    let settings = UserGrantSettings {
        refresh_absolute_secs: config.tokens.refresh_token_absolute_secs,
        refresh_idle_secs: config.tokens.refresh_token_idle_secs,
        throttle: config.login.throttle(),
        userinfo_token_lifetime_secs: config.tokens.access_token_lifetime_secs,
        userinfo_audience: format!("{issuer}{}", web::routes::USERINFO),
        code_lifetime_secs: config.tokens.authorization_code_secs,
        session_lifetime_secs: config.login.session_secs,
    };
    let tokens = Arc::new(TokenService::new(store.clone(), keys.clone(), issuer.clone(), pipeline, settings));
    let console = Arc::new(ConsoleAuth::new(
        store.clone(),
        ConsoleSettings {
            idle_secs: config.console.idle_timeout_secs,
            absolute_secs: config.console.absolute_timeout_secs,
            setup_link_secs: config.console.setup_link_secs,
            throttle: config.login.throttle(),
        },
        clock,
    ));
    let admin = AdminSettings {
        api_lifetime_secs: config.tokens.access_token_lifetime_secs,
        retired_publish_secs: config.keys.retired_publish_secs,
        max_upload_bytes: config.plugins.max_upload_bytes,
    };
    let trusted_proxies = TrustedProxies::parse(&config.trusted_proxies)?;
    Ok(AppState { store, keys, tokens, issuer, console, host, admin, trusted_proxies })
}
