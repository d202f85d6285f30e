//! `tessera serve`: wire the services together and run the HTTP server.
//!
//! Life cycle: SIGTERM or SIGINT stops every listener from accepting, gives
//! requests in flight up to `shutdown_timeout_secs` to finish, then runs
//! the [`ShutdownHooks`] (flushes of queued work), and the process exits 0.

use super::Context;
use crate::clock::SystemClock;
use crate::web::{self, AppState};
use actix_web::dev::ServerHandle;
use anyhow::Context as _;
use std::time::Duration;

/// Work that runs once the HTTP servers have stopped, so no request can add
/// to it any more, and before the process exits: flushing queued records to
/// the database, for one. Each hook runs once, in the order added; a
/// failing hook is logged and the others still run.
#[derive(Default)]
pub struct ShutdownHooks {
    hooks: Vec<(&'static str, Hook)>,
}

type Hook = Box<dyn FnOnce() -> anyhow::Result<()> + Send>;

impl ShutdownHooks {
    /// Adds a hook; `name` appears in the log line that reports it.
    pub fn add(&mut self, name: &'static str, hook: impl FnOnce() -> anyhow::Result<()> + Send + 'static) {
        self.hooks.push((name, Box::new(hook)));
    }

    /// Runs every hook.
    pub fn run(self) {
        for (name, hook) in self.hooks {
            match hook() {
                Ok(()) => tracing::info!(hook = name, "shutdown hook done"),
                Err(e) => tracing::error!(hook = name, error = %format!("{e:#}"), "shutdown hook failed"),
            }
        }
    }
}

/// During a master-key rotation (`accepted_master_keys` set), says at start
/// how many stored values still need an accepted key, so the last step
/// (`master-key rewrap`, then dropping the old key) is not forgotten.
fn remind_of_rewrap(store: &tessera_store::Store, master: &crate::crypto::MasterKey) {
    if master.accepted_count() == 0 {
        return;
    }
    match crate::service::admin::sealed_status(store, master) {
        Ok(r) if r.accepted() > 0 => tracing::warn!(
            values = r.accepted(),
            "stored values are still sealed with an accepted master key: run `tessera master-key rewrap`"
        ),
        Ok(_) => {
            tracing::info!("no stored value needs accepted_master_keys: they can go once every node has the master key")
        }
        Err(e) => tracing::warn!(error = %e, "cannot check which master key seals the stored values"),
    }
}

/// Runs until SIGINT/SIGTERM, then drains and exits cleanly.
/// `otlp` is the trace exporter when `[tracing]` configures one: its last
/// batch is sent by a shutdown hook, after the last request.
pub fn run(ctx: Context, otlp: Option<crate::telemetry::Otlp>) -> anyhow::Result<()> {
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
    remind_of_rewrap(&store, state.keys.master());
    let warmth = crate::service::warmer::spawn(store.clone(), host, Duration::from_secs(1))
        .context("cannot start the plugin warmer")?;
    crate::service::purge::Purger::new(&config).spawn(store).context("cannot start the purge thread")?;
    state
        .oauth
        .logout
        .spawn_notice_sender(Duration::from_secs(1))
        .context("cannot start the back-channel logout thread")?;
    // Issue #16 item 5: what must be flushed after the last request is
    // added here (`hooks.add("name", move || ...)`).
    let mut hooks = ShutdownHooks::default();
    let run_log = state.run_log.clone();
    hooks.add("plugin run records", move || {
        run_log.flush();
        Ok(())
    });
    let shadows = state.shadows.clone();
    hooks.add("shadow comparisons", move || {
        shadows.flush(crate::service::shadow::FLUSH_INTERVAL);
        Ok(())
    });
    if let Some(otlp) = otlp {
        hooks.add("trace export", move || otlp.shutdown());
    }
    // First start with no administrator: print a one-time link (stdout and
    // stderr, never the log file's structured fields, which may be shipped).
    if let Some(token) = state.console.issue_setup_token().context("cannot create the console setup link")? {
        let console = match &config.admin_listen {
            Some(admin) => format!("http://{admin}"),
            None => issuer.clone(),
        };
        eprintln!(
            "No console administrator exists yet. Create one within {} h at:\n  {console}{}?token={token}\n\
             (or run `tessera admin create --username NAME --password-stdin`)",
            config.console.setup_link_secs / 3600,
            web::routes::console::SETUP
        );
    }
    let listeners = web::Listeners {
        public: config.listen.clone(),
        admin: config.admin_listen.clone(),
        max_form_bytes: config.limits.max_form_bytes,
        shutdown_timeout_secs: config.shutdown_timeout_secs,
    };
    let readiness = web::health::Readiness { plugins: warmth };
    actix_web::rt::System::new().block_on(async move {
        let servers = web::servers(state, &listeners, readiness)?;
        stop_on_signals(servers.iter().map(|s| s.handle()).collect(), listeners.shutdown_timeout_secs)?;
        tracing::info!(listen = %listeners.public, admin_listen = ?listeners.admin, %issuer, "tessera is serving");
        match &listeners.admin {
            Some(admin) => {
                eprintln!("Tessera is listening on {}, console on {admin}; issuer {issuer}", listeners.public)
            }
            None => eprintln!("Tessera is listening on {}; issuer {issuer}", listeners.public),
        }
        // A server starts when first polled: run them all at once, then wait
        // for each to end (both end after one signal).
        let running: Vec<_> = servers.into_iter().map(actix_web::rt::spawn).collect();
        for server in running {
            server.await.context("server task failed")?.context("server failed")?;
        }
        anyhow::Ok(())
    })?;
    tracing::info!("HTTP stopped; running shutdown hooks");
    hooks.run();
    tracing::info!("tessera stopped");
    Ok(())
}

/// Stops every server gracefully on the first SIGTERM (what orchestrators
/// send) or SIGINT (Ctrl-C): actix's own handling would treat SIGINT as an
/// immediate stop and could stop one listener of two.
fn stop_on_signals(handles: Vec<ServerHandle>, timeout_secs: u64) -> anyhow::Result<()> {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    for (kind, name) in [(SignalKind::terminate(), "SIGTERM"), (SignalKind::interrupt(), "SIGINT")] {
        let mut stream = signal(kind).with_context(|| format!("cannot handle {name}"))?;
        let handles = handles.clone();
        actix_web::rt::spawn(async move {
            if stream.recv().await.is_some() {
                tracing::info!(
                    signal = name,
                    timeout_secs,
                    "stopping: no new connections, draining requests in flight"
                );
                // Every listener stops accepting at once; then wait for the drains.
                let stopping: Vec<_> = handles.iter().map(|h| h.stop(true)).collect();
                for done in stopping {
                    done.await;
                }
            }
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ShutdownHooks;
    use std::sync::{Arc, Mutex};

    /// Every hook runs once, in order, even after one fails.
    #[test]
    fn hooks_run_in_order_and_a_failure_does_not_stop_the_rest() {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let mut hooks = ShutdownHooks::default();
        for name in ["first", "failing", "last"] {
            let ran = ran.clone();
            hooks.add(name, move || {
                ran.lock().unwrap().push(name);
                if name == "failing" { Err(anyhow::anyhow!("disk full")) } else { Ok(()) }
            });
        }
        hooks.run();
        assert_eq!(*ran.lock().unwrap(), ["first", "failing", "last"]);
    }
}
