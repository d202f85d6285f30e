//! `tessera serve`: wire the services together and run the HTTP server.

use super::Context;
use crate::keys::KeyRing;
use crate::service::console::{ConsoleAuth, ConsoleSettings};
use crate::service::pipeline::Pipeline;
use crate::service::oauth::token::{TokenService, UserGrantSettings};
use crate::web::client_addr::TrustedProxies;
use crate::web::{self, AdminSettings, AppState};
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Duration;

/// Runs until SIGINT/SIGTERM.
pub fn run(ctx: Context) -> anyhow::Result<()> {
    let Context { config, store, master } = ctx;
    let issuer = config.issuer();
    if issuer.starts_with("http://") {
        tracing::warn!(%issuer, "the issuer is plain http: fine for development, use https in production");
    }
    // Issue #11 item 17: bound the argon2 work in flight before anything hashes.
    crate::passwords::configure(config.passwords.max_concurrent, Duration::from_millis(config.passwords.queue_wait_ms));
    tracing::info!(workers = crate::passwords::max_concurrent(), "password hashing bounded");
    let keys = Arc::new(KeyRing::new(
        store.clone(),
        master.clone(),
        Duration::from_millis(config.keys.refresh_ms),
        config.keys.retired_publish_secs,
    ));
    keys.jwks().context("cannot load signing keys")?;
    let host = super::plugins::host(&config)?;
    crate::service::warmer::spawn(store.clone(), host.clone(), Duration::from_secs(1))
        .context("cannot start the plugin warmer")?;
    crate::service::purge::Purger::new(&config).spawn(store.clone()).context("cannot start the purge thread")?;
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
    ));
    // First start with no administrator: print a one-time link (stdout and
    // stderr, never the log file's structured fields, which may be shipped).
    if let Some(token) = console.issue_setup_token().context("cannot create the console setup link")? {
        eprintln!(
            "No console administrator exists yet. Create one within {} h at:\n  {issuer}/admin/setup?token={token}\n\
             (or run `tessera admin create --username NAME --password-stdin`)",
            config.console.setup_link_secs / 3600
        );
    }
    let admin = AdminSettings {
        api_lifetime_secs: config.tokens.access_token_lifetime_secs,
        retired_publish_secs: config.keys.retired_publish_secs,
        max_upload_bytes: config.plugins.max_upload_bytes,
    };
    let trusted_proxies = TrustedProxies::parse(&config.trusted_proxies)?;
    let state = AppState { store, keys, tokens, issuer: issuer.clone(), console, host, admin, trusted_proxies };
    let listen = config.listen.clone();
    let max_form = config.limits.max_form_bytes;
    actix_web::rt::System::new().block_on(async move {
        let server = web::server(state, &listen, max_form).with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(%listen, %issuer, "tessera is serving");
        eprintln!("Tessera is listening on {listen}; issuer {issuer}");
        server.await.context("server failed")
    })
}
