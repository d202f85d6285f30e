//! Command implementations. Each creating command prints one JSON object with
//! `--json`, or a short human summary otherwise.

pub mod admin;
pub mod apply;
pub mod audit;
pub mod backend;
pub mod backup;
pub mod export;
pub mod master_key;
pub mod mgmt;
pub mod pipeline;
pub mod plugin_author;
pub mod plugins;
pub mod remote;
pub mod resources;
pub mod serve;
pub mod shadow;

use crate::config::Config;
use crate::crypto::MasterKey;
use crate::{clock, files, keys};
use anyhow::Context as _;
use serde_json::Value;
use tessera_store::{Backend, Store};

/// What a command needs: an open, migrated store with keys, and the master key.
pub struct Context {
    /// The configuration in force.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// The master key.
    pub master: std::sync::Arc<MasterKey>,
}

/// A start the operator has to resolve first; `main` prints it and exits 2,
/// as for an invalid configuration, so a supervisor does not restart into
/// the same refusal as if it were a crash.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Migrations applied by a newer binary: this one may misread or damage
    /// what the newer one stored.
    #[error(
        "the database was migrated by a newer Tessera: applied migrations {unknown} are unknown to this binary, \
         which knows up to {latest}; run the newer binary (or restore a backup taken before the upgrade)"
    )]
    NewerSchema {
        /// The unknown versions, comma-separated.
        unknown: String,
        /// The newest version this binary carries.
        latest: String,
    },
    /// Pending migrations while `database.auto_migrate` is off.
    #[error(
        "the database lacks migrations {0} of this binary and database.auto_migrate is false: \
         run `tessera migrate` with this binary first"
    )]
    PendingMigrations(String),
}

/// Opens the database (creating the data directory for SQLite), runs
/// migrations if `database.auto_migrate` says so, and makes sure signing
/// keys exist.
pub fn open(config: Config) -> anyhow::Result<Context> {
    let apply = config.database.auto_migrate;
    open_migrating(config, apply)
}

/// `tessera migrate`: [`open`], applying pending migrations whatever
/// `database.auto_migrate` says (the explicit upgrade step).
pub fn migrate(config: Config) -> anyhow::Result<Context> {
    open_migrating(config, true)
}

fn open_migrating(config: Config, apply: bool) -> anyhow::Result<Context> {
    let url = config.database_url();
    let (backend, target) = Backend::of(&url);
    files::private_dir(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    if backend == Backend::Sqlite {
        let db = std::path::Path::new(&target);
        files::private_sqlite(db).with_context(|| format!("cannot prepare the database file {}", db.display()))?;
    }
    let store = Store::connect(
        &url,
        config.database.max_connections,
        std::time::Duration::from_secs(config.database.connect_timeout_secs),
    )
    .with_context(|| format!("cannot open the database ({})", redact_url(&url)))?;
    let status = store.schema_status().context("cannot read the database's migrations")?;
    if !status.unknown.is_empty() {
        return Err(Refused::NewerSchema {
            unknown: status.unknown.join(", "),
            latest: status.latest_known.unwrap_or_else(|| "none".into()),
        }
        .into());
    }
    if apply {
        let ran = store.migrate().context("cannot migrate the database")?;
        if ran > 0 {
            tracing::info!(migrations = ran, backend = ?backend, "database migrated");
        }
    } else if !status.pending.is_empty() {
        return Err(Refused::PendingMigrations(status.pending.join(", ")).into());
    }
    let master = std::sync::Arc::new(MasterKey::load_or_create(&config).context("cannot load the master key")?);
    let created = keys::ensure_keys(&store, &master, clock::now()).context("cannot create signing keys")?;
    if !created.is_empty() {
        tracing::info!(keys = ?created, "created signing keys");
    }
    Ok(Context { config, store, master })
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Prints `json` with `--json`, else `human`.
pub fn output(json_flag: bool, json: &Value, human: &str) {
    if json_flag {
        println!("{json}");
    } else {
        println!("{human}");
    }
}
