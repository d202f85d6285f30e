//! Command implementations. Each creating command prints one JSON object with
//! `--json`, or a short human summary otherwise.

pub mod admin;
pub mod audit;
pub mod mgmt;
pub mod plugin_author;
pub mod plugins;
pub mod serve;

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

/// Opens the database (creating the data directory for SQLite), runs
/// migrations and makes sure signing keys exist.
pub fn open(config: Config) -> anyhow::Result<Context> {
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
    let ran = store.migrate().context("cannot migrate the database")?;
    if ran > 0 {
        tracing::info!(migrations = ran, backend = ?backend, "database migrated");
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
