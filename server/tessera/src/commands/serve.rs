//! `tessera serve`: wire the services together and run the HTTP server.

use super::Context;
use crate::clock::SystemClock;
use crate::web::{self, AppState};
use anyhow::Context as _;
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
    let host = super::plugins::host(&config)?;
    let state = AppState::build(&config, store.clone(), master, host.clone(), SystemClock::shared())?;
    state.keys.jwks().context("cannot load signing keys")?;
    crate::service::warmer::spawn(store.clone(), host, Duration::from_secs(1))
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
