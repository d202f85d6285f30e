//! The command line: `tessera [--data-dir DIR] [--database-url URL] [--config FILE] COMMAND`,
//! or `tessera --server URL [--client-id ID] COMMAND` against a running
//! server's management API (`commands/remote.rs`).
//!
//! Flag names and `--json` output are an interface that scripts and CI
//! pipelines rely on (README, "A machine token in one minute"): add, never rename.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Tessera: an OAuth 2.0 / OpenID Connect authorization server with WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// Data directory (SQLite database, master key, plugin cache) [env: TESSERA_DATA_DIR]
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL, e.g. postgres://user:pass@host/db [env: TESSERA_DATABASE_URL]
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// TOML configuration file (before the command: `binding create --config` is the binding's JSON).
    #[arg(long, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Work on this running server through its management API instead of
    /// the local database, e.g. https://auth.example.com (also `server` in
    /// the CLI config). The user, client, api, plugin, binding, export and
    /// apply commands work remotely; the others only on the server's machine.
    #[arg(long, global = true, env = "TESSERA_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The management client (`tessera mgmt-client create`) for --server.
    // Its own id: `client secret add CLIENT_ID` has a positional `client_id`.
    #[arg(id = "mgmt_client_id", long = "client-id", global = true, env = "TESSERA_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// Its secret (visible in the process list: prefer TESSERA_CLIENT_SECRET
    /// or the CLI config).
    #[arg(
        id = "mgmt_client_secret",
        long = "client-secret",
        global = true,
        env = "TESSERA_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// The CLI config, TOML with `server`, `client_id` and `client_secret`
    /// (refused if others may read it while it holds a secret). Default:
    /// $XDG_CONFIG_HOME/tessera/cli.toml, if it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub cli_config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (pending migrations run first unless database.auto_migrate is false).
    Serve(ServeArgs),
    /// Apply database migrations and create missing signing keys, then exit.
    Migrate,
    /// Write a consistent copy of the SQLite database while the server runs
    /// (PostgreSQL: use pg_dump). The master key is not in it: back it up apart.
    Backup(BackupArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage APIs (resource servers).
    #[command(subcommand)]
    Api(ApiCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Rotate the master key that seals private keys and secrets at rest.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Upload, list, run and roll back WebAssembly plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Bind plugins to grant types and clients.
    #[command(subcommand)]
    Binding(BindingCommand),
    /// Manage administrators of the web console.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check and export the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Clients of the management API (`/api/v1/`), for automation.
    #[command(subcommand)]
    MgmtClient(MgmtClientCommand),
    /// Write users, clients, APIs, plugins (with their components) and
    /// bindings as a directory of JSON files, one object per file, for git.
    Export(ExportArgs),
    /// Make the server match a directory written by `export`: print the
    /// plan (create, update, delete), and carry it out with --yes.
    Apply(ApplyArgs),
}

/// `export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The directory to write (created if missing; files of objects that no
    /// longer exist are removed).
    pub dir: PathBuf,
    /// Include users' password hashes (argon2 PHC strings); only on the
    /// server's machine: the management API never returns them.
    #[arg(long)]
    pub with_password_hashes: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `apply` flags.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The directory (as `export` writes it).
    pub dir: PathBuf,
    /// Carry out the plan; without it, only print it.
    #[arg(long)]
    pub yes: bool,
    /// Leave objects the directory does not name alone (no deletes).
    #[arg(long)]
    pub no_delete: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mgmt-client` subcommands.
#[derive(Debug, Subcommand)]
pub enum MgmtClientCommand {
    /// Create a management client (client_credentials for the management
    /// API's audience, `urn:tessera:management-api`); prints its id and
    /// secret once.
    Create(MgmtClientCreateArgs),
}

/// `mgmt-client create` flags.
#[derive(Debug, Args)]
pub struct MgmtClientCreateArgs {
    /// Display name.
    #[arg(long, default_value = "management")]
    pub name: String,
    /// Scopes it may obtain, comma-separated (read:clients, write:clients,
    /// read:apis, write:apis, read:plugins, write:plugins, read:bindings,
    /// write:bindings, read:keys, write:keys, read:admins, write:admins,
    /// read:audit, read:runs, read:users, write:users); default: all of them.
    #[arg(long)]
    pub scopes: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `audit` subcommands: the audit log is a hash chain (server/store/src/audit.rs).
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the chain in order: OK with the count, or the first broken link (exit status 1)
    /// (with --server: over the events the management API serves, checked on this machine).
    Verify {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write the events as JSON lines, one per event with its hashes, in chain order
    /// (the same lines with --server).
    Export(AuditExportArgs),
}

/// `audit export` flags.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Events at or after this time: RFC 3339 (2026-11-30T08:00:00Z) or a UTC day (2026-11-30).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Events at or before this time: RFC 3339, or a UTC day (that whole day included).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Where a password comes from.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from standard input (first line).
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// The password (visible in the process list: prefer --password-stdin).
    #[arg(long)]
    pub password: Option<String>,
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a console administrator (for scripts; a browser can use the setup link or an invitation instead).
    Create(AdminNewArgs),
    /// Set an administrator's password (for a forgotten one); their sessions end.
    Password(AdminCreateArgs),
    /// Take away an administrator's second factors (authenticator app, recovery codes, passkeys) after a lost
    /// device; their sessions end, and where a second factor is required they enrol again at the next sign-in.
    ResetSecondFactor {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the console administrators, by username.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete an administrator and end their console sessions (never the last one).
    Delete {
        /// The administrator's id (`admin list` shows it).
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `admin create` and `admin password` flags.
#[derive(Debug, Args)]
pub struct AdminCreateArgs {
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// The password (15 characters or more).
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `admin create` flags: a name, a password and a role.
#[derive(Debug, Args)]
pub struct AdminNewArgs {
    /// Name, password and output.
    #[command(flatten)]
    pub account: AdminCreateArgs,
    /// owner, editor, plugin-author or viewer (README, "What an administrator
    /// can do"). Optional for the first administrator, who becomes the
    /// owner; required once one exists, so nobody becomes an owner by default.
    #[arg(long)]
    pub role: Option<String>,
}

/// `backup` flags.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write; it must not exist.
    pub path: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080 [env: TESSERA_LISTEN]
    #[arg(long)]
    pub listen: Option<String>,
    /// Public issuer URL, e.g. https://auth.example.com [env: TESSERA_ISSUER]
    #[arg(long)]
    pub issuer: Option<String>,
    /// Serve the console on this address instead of --listen, e.g.
    /// 127.0.0.1:9090; --listen then answers 404 for /admin [env: TESSERA_ADMIN_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create(UserCreateArgs),
    /// List users: id, username, e-mail, disabled.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show a user (never the password or its hash).
    Show {
        /// The user's id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change a user; flags not given keep the stored value.
    Update(UserUpdateArgs),
    /// Set a user's password; their sessions and refresh tokens end.
    Password(UserPasswordArgs),
    /// Sign a user out everywhere: their browser sessions end (clients with
    /// a back-channel logout URL are told) and their tokens are revoked.
    SignOut {
        /// The user's id.
        id: String,
    },
    /// Show or change a user's second factor (TOTP at the hosted sign-in):
    /// `--reset` takes it away (lost device) and ends their browser
    /// sessions, and they enrol a new one at their next sign-in;
    /// `--require` makes them enrol one at their next sign-in.
    SecondFactor {
        /// The user's id.
        id: String,
        /// Take the user's second factor and recovery codes away.
        #[arg(long)]
        reset: bool,
        /// Require a second factor of this user (`--require=false` stops
        /// requiring it; the user keeps one they have).
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        require: Option<bool>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user with their sessions, consents and refresh tokens.
    Delete {
        /// The user's id.
        id: String,
    },
}

/// `user update` flags: each one given replaces the stored value.
#[derive(Debug, Args)]
pub struct UserUpdateArgs {
    /// The user's id.
    pub id: String,
    /// E-mail address; empty: none.
    #[arg(long)]
    pub email: Option<String>,
    /// Metadata, a JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Profile (OIDC standard claims such as name), a JSON object.
    #[arg(long)]
    pub profile: Option<String>,
    /// Roles, comma-separated; empty: none.
    #[arg(long)]
    pub roles: Option<String>,
    /// Disable (true) or enable (false); disabling ends their grants.
    #[arg(long, value_name = "true|false")]
    pub disabled: Option<bool>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `user password` flags.
#[derive(Debug, Args)]
pub struct UserPasswordArgs {
    /// The user's id.
    pub id: String,
    /// The new password (8 characters or more).
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `user create` flags.
#[derive(Debug, Args)]
pub struct UserCreateArgs {
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// The password.
    #[command(flatten)]
    pub password: PasswordArgs,
    /// E-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Metadata, a JSON object.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Profile (OIDC standard claims such as name), a JSON object.
    #[arg(long)]
    pub profile: Option<String>,
    /// Roles, comma-separated.
    #[arg(long)]
    pub roles: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `client` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a client; a confidential client's secret is printed once.
    Create(ClientCreateArgs),
    /// Manage a client's secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// List clients: id, name, type, grant types, disabled.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show a client's settings, its secrets (ids and dates, never the
    /// secrets), service account and token-exchange policy.
    Show {
        /// The client id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's settings; flags not given keep the stored value.
    Update(ClientUpdateArgs),
    /// Disable a client: it can no longer authenticate or start an
    /// authorization, and its access and refresh tokens end (enabling it
    /// again brings none of them back).
    Disable {
        /// The client id.
        id: String,
    },
    /// Enable a disabled client again.
    Enable {
        /// The client id.
        id: String,
    },
    /// Delete a client with its secrets and grants (token hooks left with
    /// no client are disabled).
    Delete {
        /// The client id.
        id: String,
    },
}

/// `client update` flags: each one given replaces the stored value.
#[derive(Debug, Args)]
pub struct ClientUpdateArgs {
    /// The client id.
    pub id: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Allowed grant types, comma-separated.
    #[arg(long)]
    pub grant_types: Option<String>,
    /// Redirect URIs, comma-separated (matched exactly); empty: none.
    #[arg(long, value_name = "LIST")]
    pub redirect_uris: Option<String>,
    /// Post-logout redirect URIs, comma-separated (matched exactly); empty: none.
    #[arg(long, value_name = "LIST")]
    pub post_logout_redirect_uris: Option<String>,
    /// Scopes the client may request, comma-separated.
    #[arg(long, value_name = "LIST")]
    pub scopes: Option<String>,
    /// Audiences the client may request, comma-separated.
    #[arg(long, value_name = "LIST")]
    pub audiences: Option<String>,
    /// Metadata, a JSON object shown to plugins.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Username of the service-account user for client_credentials tokens.
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// APIs the client may obtain tokens for by token exchange, comma-separated.
    #[arg(long, value_name = "LIST")]
    pub exchange_audiences: Option<String>,
    /// Scopes the client may obtain by token exchange, comma-separated.
    #[arg(long, value_name = "LIST")]
    pub exchange_scopes: Option<String>,
    /// Whether the client may exchange a user's token without an actor token.
    #[arg(long, value_name = "true|false")]
    pub exchange_impersonation: Option<bool>,
    /// Whether the client must push its authorization requests (RFC 9126 PAR).
    #[arg(long, value_name = "true|false")]
    pub require_par: Option<bool>,
    /// Whether every token request of the client must carry a DPoP proof
    /// (RFC 9449 `dpop_bound_access_tokens`).
    #[arg(long, value_name = "true|false")]
    pub require_dpop: Option<bool>,
    /// Whether the client's authorization requests count only as signed
    /// request objects (RFC 9101 `require_signed_request_object`).
    #[arg(long, value_name = "true|false")]
    pub require_signed_requests: Option<bool>,
    /// Public keys for private_key_jwt, a JWK Set as JSON (`null` removes them).
    #[arg(long, value_name = "JSON")]
    pub jwks: Option<String>,
    /// Where the client publishes its private_key_jwt keys instead of
    /// --jwks: an https URL (http only for a loopback host); "" removes it.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// Where a Logout Token is posted when a browser session the client
    /// signed in through ends (OpenID Connect Back-Channel Logout): https,
    /// or http for a confidential client; "" removes it.
    #[arg(long, value_name = "URL")]
    pub backchannel_logout_uri: Option<String>,
    /// The client's page the browser loads (hidden) when a session it
    /// signed in through ends at the end-session endpoint (OpenID Connect
    /// Front-Channel Logout); "" removes it.
    #[arg(long, value_name = "URL")]
    pub frontchannel_logout_uri: Option<String>,
    /// Issuers whose assertions the client may trade for tokens with the
    /// JWT bearer grant (RFC 7523 §2.1), a JSON array replacing the list:
    /// `[{"issuer": "...", "jwks_uri": "..." or "jwks": {...}, "subject":
    /// "user_id" or "username"}]`; `[]` removes them all.
    #[arg(long, value_name = "JSON")]
    pub jwt_bearer_issuers: Option<String>,
    /// Whether users are not asked for consent (the operator's own application).
    #[arg(long, value_name = "true|false")]
    pub first_party: Option<bool>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `client create` flags.
#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Allowed grant types, comma-separated (e.g. client_credentials).
    #[arg(long)]
    pub grant_types: String,
    /// A public client (no secret; SPAs and native apps).
    #[arg(long)]
    pub public: bool,
    /// A redirect URI (repeatable; matched exactly).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeatable; matched exactly).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may request, comma-separated (default: any scope an API defines).
    #[arg(long)]
    pub scopes: Option<String>,
    /// Audiences the client may request, comma-separated (default: any API).
    #[arg(long)]
    pub audiences: Option<String>,
    /// Metadata, a JSON object shown to plugins.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Username of the service-account user for client_credentials tokens.
    #[arg(long)]
    pub service_account: Option<String>,
    /// The operator's own application: users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// APIs the client may obtain tokens for by token exchange (RFC 8693),
    /// comma-separated (default: none). The grant type must be enabled too.
    #[arg(long)]
    pub exchange_audiences: Option<String>,
    /// Scopes the client may obtain by token exchange, comma-separated (default: none).
    #[arg(long)]
    pub exchange_scopes: Option<String>,
    /// The client may exchange a user's token without an actor token
    /// (impersonation); without it, only delegation is allowed.
    #[arg(long)]
    pub exchange_impersonation: bool,
    /// The client must push its authorization requests (RFC 9126 PAR):
    /// the authorization endpoint takes them only by `request_uri`.
    #[arg(long)]
    pub require_par: bool,
    /// Every token request must carry a DPoP proof (RFC 9449
    /// `dpop_bound_access_tokens`), so the client's access tokens are all
    /// bound to its key.
    #[arg(long)]
    pub require_dpop: bool,
    /// The client's authorization requests count only as request objects
    /// signed with its keys (RFC 9101 `require_signed_request_object`; needs
    /// --jwks or --jwks-uri).
    #[arg(long)]
    pub require_signed_requests: bool,
    /// Public keys for private_key_jwt client authentication (RFC 7523
    /// §2.2), a JWK Set as JSON: `{"keys":[...]}`.
    #[arg(long, value_name = "JSON")]
    pub jwks: Option<String>,
    /// Where the client publishes its private_key_jwt keys, instead of
    /// --jwks: an https URL (http only for a loopback host), fetched and
    /// cached by each node.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// Where a Logout Token is posted when a browser session the client
    /// signed in through ends (OpenID Connect Back-Channel Logout): https,
    /// or http for a confidential client.
    #[arg(long, value_name = "URL")]
    pub backchannel_logout_uri: Option<String>,
    /// The client's page the browser loads (hidden) when a session it
    /// signed in through ends at the end-session endpoint (OpenID Connect
    /// Front-Channel Logout): same scheme, host and port as a redirect URI.
    #[arg(long, value_name = "URL")]
    pub frontchannel_logout_uri: Option<String>,
    /// Issuers whose assertions the client may trade for tokens with the
    /// JWT bearer grant (RFC 7523 §2.1), a JSON array: `[{"issuer": "...",
    /// "jwks_uri": "..." or "jwks": {...}, "subject": "user_id" or
    /// "username"}]`.
    #[arg(long, value_name = "JSON")]
    pub jwt_bearer_issuers: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `client secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Add a secret; with --overlap, the other secrets expire after that many seconds.
    Add(SecretAddArgs),
    /// Revoke one secret now.
    Revoke(SecretRevokeArgs),
}

/// `client secret add` flags.
#[derive(Debug, Args)]
pub struct SecretAddArgs {
    /// The client.
    pub client_id: String,
    /// Seconds the existing secrets keep working (rotation); omitted: they stay.
    #[arg(long)]
    pub overlap: Option<i64>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `client secret revoke` flags.
#[derive(Debug, Args)]
pub struct SecretRevokeArgs {
    /// The client.
    pub client_id: String,
    /// The secret's id (from `client secret add --json`).
    pub secret_id: String,
}

/// `api` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Create an API.
    Create(ApiCreateArgs),
    /// List APIs: id, identifier, algorithm, name.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show an API.
    Show {
        /// The API's id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete an API (tokens already issued stay valid until they expire).
    Delete {
        /// The API's id.
        id: String,
    },
}

/// `api create` flags.
#[derive(Debug, Args)]
pub struct ApiCreateArgs {
    /// The identifier: the tokens' audience (a URI is recommended).
    #[arg(long)]
    pub identifier: String,
    /// Display name (default: the identifier).
    #[arg(long)]
    pub name: Option<String>,
    /// Signing algorithm: RS256, ES256, EdDSA or HS256.
    #[arg(long, default_value = "RS256")]
    pub alg: String,
    /// Scopes the API defines, comma-separated.
    #[arg(long)]
    pub scopes: Option<String>,
    /// Access-token lifetime in seconds (default: tokens.access_token_lifetime_secs).
    #[arg(long)]
    pub lifetime: Option<i64>,
    /// The client id of a resource server of this API, which may introspect
    /// its tokens (repeatable; RFC 7662 §4).
    #[arg(long = "resource-server")]
    pub resource_servers: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Rotate: next -> current -> retired for every algorithm (or only --alg).
    Rotate {
        /// Only this algorithm's keys (RS256, ES256 or EdDSA).
        #[arg(long)]
        alg: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Retire one key now (its algorithm keeps a current and a next key:
    /// retiring the current key rotates the algorithm).
    Retire {
        /// The key's kid (`keys list` shows it).
        kid: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List keys and their states.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `master-key` subcommands: the rotation in README "Master key rotation".
#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Print a new random master key (base64), for `master_key` or its file.
    Generate {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Count the stored values the master key seals and those an accepted
    /// key (`accepted_master_keys`) still seals; changes nothing.
    Status {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Seal again with the master key every stored value an accepted key
    /// seals, so that key can leave `accepted_master_keys`.
    Rewrap {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Upload a component as a new version of plugin NAME (validated and compiled first).
    Upload(PluginUploadArgs),
    /// List plugins and their latest versions.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin: its versions and the bindings that run it.
    Show {
        /// The plugin name.
        name: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the versions of a plugin.
    Versions {
        /// The plugin name.
        name: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Point every binding of a plugin at an earlier (or later) version.
    Rollback {
        /// The plugin name.
        name: String,
        /// The version number to run.
        #[arg(long)]
        to: i32,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run a plugin file locally on a context (no server, no database needed).
    Run(PluginRunArgs),
    /// Create a plugin project NAME from a template: source, WIT, build.sh,
    /// a test case and test.sh.
    New(PluginNewArgs),
    /// Run a plugin file on a folder of cases (NAME.context.json and
    /// NAME.expected.json) and report every difference; fails if any case does.
    Test(PluginTestArgs),
    /// Make an Ed25519 key pair for signing plugins: the private key goes to
    /// --out (PKCS#8 PEM, mode 0600), the public key is printed for
    /// `[plugins] trusted_signers`.
    Keygen(PluginKeygenArgs),
    /// Sign a component for `plugin upload --signature`: an Ed25519
    /// signature over its sha256, base64, in a detached file; or with
    /// --bundle a Sigstore bundle (what `cosign sign-blob --bundle` writes).
    Sign(PluginSignArgs),
    /// Internal: compile a component in a bounded child process.
    #[command(hide = true)]
    CompileWorker {
        /// The component.
        wasm_in: PathBuf,
        /// Where to write the compiled artefact.
        cwasm_out: PathBuf,
    },
}

/// `plugin upload` flags.
#[derive(Debug, Args)]
pub struct PluginUploadArgs {
    /// The .wasm component.
    pub file: PathBuf,
    /// The plugin name (new versions go under the same name).
    #[arg(long)]
    pub name: String,
    /// Claims this version may set, comma-separated; any other claim is refused.
    #[arg(long)]
    pub declare_claims: Option<String>,
    /// The signature file: a detached signature (`plugin sign`) or a
    /// Sigstore bundle (`plugin sign --bundle`, `cosign sign-blob --key
    /// --bundle`); needed where `[plugins] require_signatures` is on, and
    /// verified whenever given.
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `plugin keygen` flags.
#[derive(Debug, Args)]
pub struct PluginKeygenArgs {
    /// Where to write the private key (must not exist yet).
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `plugin sign` flags.
#[derive(Debug, Args)]
pub struct PluginSignArgs {
    /// The .wasm component.
    pub file: PathBuf,
    /// The private key: PKCS#8 Ed25519, PEM or DER (`plugin keygen` writes one).
    #[arg(long)]
    pub key: PathBuf,
    /// Write a Sigstore bundle (v0.3, key-signed, no transparency-log
    /// entry) instead of a detached signature.
    #[arg(long)]
    pub bundle: bool,
    /// Where to write the signature. Default: FILE.sig, or with --bundle
    /// FILE.sigstore.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `plugin run` flags.
#[derive(Debug, Args)]
pub struct PluginRunArgs {
    /// The .wasm component.
    pub file: PathBuf,
    /// The context, a JSON file (see plugins/examples/context.sample.json).
    #[arg(long)]
    pub context: PathBuf,
    /// Override the context's config with this JSON.
    #[arg(long)]
    pub config: Option<String>,
    /// Claims the plugin may set, comma-separated.
    #[arg(long)]
    pub declare_claims: Option<String>,
    /// A URL prefix a 0.2.0 plugin may fetch (repeatable; as a binding's
    /// `--http-allow`); secret headers take the context's `secrets`.
    #[arg(long = "http-allow", value_name = "URL_PREFIX")]
    pub http_allow: Vec<String>,
}

/// `plugin new` flags.
#[derive(Debug, Args)]
pub struct PluginNewArgs {
    /// The plugin's language.
    #[arg(long, value_enum)]
    pub lang: PluginLang,
    /// The project's name, also its folder: lowercase letters, digits and '-'.
    pub name: String,
    /// Where to create the folder (default: the current directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The contract to build against: 0.1.0, or 0.2.0 for plugins that call
    /// HTTP (plugins/README.md, "HTTP"); not 0.2.0 for Go, whose bindings
    /// are generated for 0.1.0.
    #[arg(long, value_enum, default_value = "0.1.0")]
    pub wit: WitVersion,
}

/// The versions of the plugin contract (`plugins/wit/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WitVersion {
    /// `tessera:plugin@0.1.0`.
    #[value(name = "0.1.0")]
    V0_1_0,
    /// `tessera:plugin@0.2.0`: 0.1.0 and the `http` import.
    #[value(name = "0.2.0")]
    V0_2_0,
}

/// The languages `plugin new` has a template for (plugins/templates/).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PluginLang {
    /// Rust, with wit-bindgen.
    Rust,
    /// JavaScript, with jco's QuickJS backend.
    Js,
    /// Python, with componentize-py.
    Python,
    /// Go, the standard toolchain (1.25+).
    Go,
    /// Zig, over wit-bindgen's C bindings.
    Zig,
    /// C, with clang and wit-bindgen.
    C,
}

/// `plugin test` flags.
#[derive(Debug, Args)]
pub struct PluginTestArgs {
    /// The .wasm component.
    pub file: PathBuf,
    /// The folder of cases: NAME.context.json (as for `plugin run --context`)
    /// with NAME.expected.json (a JSON object the result must contain).
    #[arg(long)]
    pub cases: PathBuf,
    /// A URL prefix a 0.2.0 plugin may fetch in every case (repeatable).
    #[arg(long = "http-allow", value_name = "URL_PREFIX")]
    pub http_allow: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `binding` subcommands.
#[derive(Debug, Subcommand)]
pub enum BindingCommand {
    /// Bind a plugin version to grant types (and optionally clients).
    Create(BindingCreateArgs),
    /// List bindings in pipeline order.
    List {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show a binding.
    Show {
        /// The binding id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change a binding: version, position, enabled, config, policy, secrets.
    Update(BindingUpdateArgs),
    /// Point one binding at another version of its plugin (a rollback or
    /// an upgrade); `plugin rollback` moves every binding of a plugin.
    Rollback {
        /// The binding id.
        id: String,
        /// The version number to run.
        #[arg(long)]
        to: i32,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Enable a binding.
    Enable {
        /// The binding id.
        id: String,
    },
    /// Disable a binding.
    Disable {
        /// The binding id.
        id: String,
    },
    /// Delete a binding.
    Delete {
        /// The binding id.
        id: String,
    },
    /// Run a candidate version in shadow beside a binding's live version,
    /// compare them, then promote or discard it.
    #[command(subcommand)]
    Shadow(ShadowCommand),
    /// Recent plugin runs, newest first.
    Runs {
        /// Only this binding's runs.
        #[arg(long)]
        binding: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `binding shadow ...`: a binding's shadow candidate.
#[derive(Debug, Subcommand)]
pub enum ShadowCommand {
    /// Set (or replace) the candidate; earlier comparisons are dropped.
    Set(ShadowSetArgs),
    /// The candidate and its comparison with the live version.
    Show {
        /// The binding id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Make the candidate the live version and clear the shadow.
    Promote {
        /// The binding id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Clear the candidate; the live version stays.
    Discard {
        /// The binding id.
        id: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `binding shadow set` flags.
#[derive(Debug, Args)]
pub struct ShadowSetArgs {
    /// The binding id.
    pub id: String,
    /// The candidate: a version number of the binding's plugin.
    #[arg(long)]
    pub version: i32,
    /// The share of token requests it runs on, more than 0 and at most 1.
    #[arg(long, default_value_t = 1.0)]
    pub share: f64,
    /// A claim whose values comparisons show only as a sha256 prefix
    /// (repeatable, or comma-separated).
    #[arg(long = "sensitive-claim")]
    pub sensitive_claims: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `binding create` flags.
#[derive(Debug, Args)]
pub struct BindingCreateArgs {
    /// NAME (latest version) or NAME@VERSION.
    #[arg(long)]
    pub plugin: String,
    /// Grant types, comma-separated, or `all`.
    #[arg(long)]
    pub grant_types: String,
    /// Run only for this client (repeatable): a client hook. Default: every client.
    #[arg(long = "client")]
    pub clients: Vec<String>,
    /// Configuration, JSON.
    #[arg(long)]
    pub config: Option<String>,
    /// A secret as NAME=VALUE (repeatable); never shown again.
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// deny (refuse the request with server_error) or skip (log and go on).
    #[arg(long, default_value = "deny")]
    pub failure_policy: String,
    /// Position in the pipeline (ascending). Default: after the last binding.
    #[arg(long)]
    pub position: Option<i32>,
    /// Create it disabled.
    #[arg(long)]
    pub disabled: bool,
    /// A URL prefix a tessera:plugin@0.2.0 plugin may reach with http.fetch
    /// (repeatable): https, or http to a loopback host; scheme, host and port
    /// exact, path prefix. Default: none.
    #[arg(long = "http-allow", value_name = "URL_PREFIX")]
    pub http_allow: Vec<String>,
    /// Seconds a successful http.fetch answer is reused (0: no cache, the
    /// default; at most 86400).
    #[arg(long = "http-cache-ttl", value_name = "SECS")]
    pub http_cache_ttl: Option<i64>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `binding update` flags.
#[derive(Debug, Args)]
pub struct BindingUpdateArgs {
    /// The binding id.
    pub id: String,
    /// Run this version of the plugin (rollback or upgrade).
    #[arg(long)]
    pub version: Option<i32>,
    /// New position.
    #[arg(long)]
    pub position: Option<i32>,
    /// New grant types, comma-separated, or `all`.
    #[arg(long)]
    pub grant_types: Option<String>,
    /// New configuration, JSON.
    #[arg(long)]
    pub config: Option<String>,
    /// New failure policy.
    #[arg(long)]
    pub failure_policy: Option<String>,
    /// Replace all secrets with these NAME=VALUE pairs (repeatable).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Replace the HTTP allow-list with these URL prefixes (repeatable).
    #[arg(long = "http-allow", value_name = "URL_PREFIX", conflicts_with = "no_http_allow")]
    pub http_allow: Vec<String>,
    /// Remove every allowed URL prefix: the plugin may make no request.
    #[arg(long)]
    pub no_http_allow: bool,
    /// New HTTP cache TTL in seconds (0: no cache).
    #[arg(long = "http-cache-ttl", value_name = "SECS")]
    pub http_cache_ttl: Option<i64>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}
