//! Deletes expired grant and session state in the background (issue #11
//! item 15; docs/security-checklist.md R-4): authorization codes past their retention,
//! refresh-token families past their absolute end, revocations of access
//! tokens that have all expired, hosted and console sessions, console setup
//! links, throttle windows, used client assertion ids, and expired device
//! authorization requests (RFC 8628) and pushed authorization requests
//! (RFC 9126).
//!
//! Every node runs the same loop; the deletes are idempotent and batched
//! (`tessera_store::purge`), so nodes never conflict and a round never holds
//! a long write lock. A failed round (database away) is logged and retried at
//! the next interval; nothing else depends on it.

use crate::clock;
use crate::config::{Config, PurgeConfig};
use std::time::Duration;
use tessera_store::{DbConn, Store, StoreError, admins, assertions, device, dpop, purge, pushed};

/// What one round deleted, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Authorization codes.
    pub codes: usize,
    /// Refresh tokens.
    pub refresh_tokens: usize,
    /// Hosted sign-in sessions.
    pub sessions: usize,
    /// Console sessions.
    pub admin_sessions: usize,
    /// Console setup links.
    pub setup_links: usize,
    /// Throttle windows.
    pub throttle_windows: usize,
    /// Revocations of access tokens that have all expired.
    pub revocations: usize,
    /// Device authorization requests.
    pub device_codes: usize,
    /// Pushed authorization requests.
    pub pushed_requests: usize,
    /// Used client assertion ids (`jti`) past their assertion's expiry.
    pub assertion_jtis: usize,
    /// Used DPoP proof ids (`jti`) past the proof's window.
    pub dpop_proof_jtis: usize,
}

impl Purged {
    fn total(&self) -> usize {
        self.codes
            + self.refresh_tokens
            + self.sessions
            + self.admin_sessions
            + self.setup_links
            + self.throttle_windows
            + self.revocations
            + self.device_codes
            + self.pushed_requests
            + self.assertion_jtis
            + self.dpop_proof_jtis
    }
}

/// The cutoffs one round uses, all derived from the configuration.
#[derive(Debug, Clone)]
pub struct Purger {
    settings: PurgeConfig,
    /// Throttle rows older than this are dead: past their counting window
    /// and past the time a "known address" marker is trusted.
    throttle_retention_secs: i64,
    console_idle_secs: i64,
    console_absolute_secs: i64,
}

impl Purger {
    /// A purger for this configuration.
    pub fn new(config: &Config) -> Purger {
        Purger {
            settings: config.purge.clone(),
            throttle_retention_secs: config.login.window_secs.max(config.login.known_address_secs),
            console_idle_secs: config.console.idle_timeout_secs,
            console_absolute_secs: config.console.absolute_timeout_secs,
        }
    }

    /// Runs one round at `now` (unix seconds).
    pub fn run_once(&self, store: &Store, now: i64) -> Result<Purged, StoreError> {
        let mut conn = store.conn()?;
        let c = &mut *conn;
        let s = &self.settings;
        let mut batches = |f: &mut dyn FnMut(&mut DbConn) -> Result<usize, StoreError>| -> Result<usize, StoreError> {
            let mut total = 0;
            for _ in 0..s.max_batches {
                let n = f(c)?;
                total += n;
                if (n as i64) < s.batch {
                    break;
                }
            }
            Ok(total)
        };
        let codes = batches(&mut |c| purge::authorization_codes(c, now - s.code_retention_secs, s.batch))?;
        let refresh_tokens = batches(&mut |c| purge::refresh_tokens(c, now, s.batch))?;
        // Sign-ins waiting for a second factor count with the sessions.
        let sessions = batches(&mut |c| purge::sessions(c, now, s.batch))?
            + batches(&mut |c| purge::pending_sign_ins(c, now, s.batch))?;
        let setup_links = batches(&mut |c| purge::admin_setup_tokens(c, now, s.batch))?;
        let throttle_windows =
            batches(&mut |c| purge::login_failures(c, now - self.throttle_retention_secs, now, s.batch))?;
        let revocations = batches(&mut |c| purge::revocations(c, now, s.batch))?;
        // An expired device request answers nothing but expired_token, and
        // unknown codes are refused alike: it can go as soon as it expires.
        let device_codes = batches(&mut |c| device::purge(c, now, s.batch))?;
        // A pushed request past its expiry (or its sign-in hold) is refused
        // like an unknown one.
        let pushed_requests = batches(&mut |c| pushed::purge(c, now, s.batch))?;
        // After its exp (and the leeway) the assertion itself is refused.
        let assertion_jtis =
            batches(&mut |c| assertions::purge(c, now - tessera_protocol::token::LEEWAY_SECS, s.batch))?;
        // Past its window the proof itself is refused as too old.
        let dpop_proof_jtis = batches(&mut |c| dpop::purge(c, now, s.batch))?;
        let admin_sessions = admins::purge_sessions(c, now - self.console_idle_secs, now - self.console_absolute_secs)?;
        Ok(Purged {
            codes,
            refresh_tokens,
            sessions,
            admin_sessions,
            setup_links,
            throttle_windows,
            revocations,
            device_codes,
            pushed_requests,
            assertion_jtis,
            dpop_proof_jtis,
        })
    }

    /// Starts the purge thread (unless `interval_secs` is 0); it lives as
    /// long as the process.
    pub fn spawn(self, store: Store) -> std::io::Result<()> {
        if self.settings.interval_secs == 0 {
            return Ok(());
        }
        let interval = Duration::from_secs(self.settings.interval_secs);
        std::thread::Builder::new().name("purge".into()).spawn(move || {
            loop {
                std::thread::sleep(interval);
                match self.run_once(&store, clock::now()) {
                    Ok(p) if p.total() > 0 => tracing::info!(purged = ?p, "purged expired state"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purge round failed; retrying next interval"),
                }
            }
        })?;
        Ok(())
    }
}
