//! Configuration: one typed struct, layered as
//! defaults < TOML file (`--config`) < `TESSERA_*` environment < command-line flags.
//!
//! Nested fields use `__` in environment names: `TESSERA_TOKENS__ACCESS_TOKEN_LIFETIME_SECS`.
//! Unknown keys in a file are errors, so a typo never silently falls back to a
//! default. Unknown `TESSERA_*` environment variables are left out and
//! reported by [`unknown_env_vars`] (`main` logs a warning naming the closest
//! known key): the environment is shared with things Tessera does not own,
//! such as the `TESSERA_PORT` and `TESSERA_SERVICE_HOST` Kubernetes injects
//! into every pod when a Service is named `tessera`, or a wrapper script's
//! own variables.

use crate::plugin_signatures::{SignaturePolicy, SignerConfig};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The prefix of every configuration variable in the environment.
const ENV_PREFIX: &str = "TESSERA_";
/// `TESSERA_CONFIG` names the file (read by the command line), not a key.
const ENV_CONFIG: &str = "config";
/// `TESSERA_*` variables the command line reads itself for `--server`
/// (`cli.rs`): not configuration keys, and not typos to warn about.
const ENV_CLI: [&str; 3] = ["server", "client_id", "client_secret"];

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder for the SQLite database, the generated master key and the plugin
    /// cache. Default: `./tessera-data`.
    pub data_dir: PathBuf,
    /// Database URL: `postgres://user:pass@host/db` for several nodes, or
    /// `sqlite://PATH`. Default: `sqlite://<data_dir>/tessera.db`.
    pub database_url: Option<String>,
    /// Address to listen on. Default: `127.0.0.1:8080`.
    pub listen: String,
    /// A second address for the admin console (`/admin`, and the metrics
    /// when they come), e.g. `127.0.0.1:9090` or an address only the
    /// operators' network reaches. When set, the public `listen` address
    /// answers 404 for the console; both answer `/healthz` and `/readyz`.
    /// Default: none (the console is served on `listen`).
    pub admin_listen: Option<String>,
    /// On SIGTERM or SIGINT the server stops accepting connections and
    /// gives requests in flight this long to finish, seconds, before it
    /// drops them and exits. Keep it below the orchestrator's own grace
    /// period (Kubernetes: 30 s). Default: 30.
    pub shutdown_timeout_secs: u64,
    /// The issuer URL published in tokens and discovery. Default:
    /// `http://<listen>`. Behind a proxy, set the public https URL.
    pub issuer: Option<String>,
    /// The 32-byte master key that encrypts private keys at rest, base64.
    /// Default: generated into `<data_dir>/master.key` (mode 0600) on first start.
    /// Several nodes on one database must share it.
    pub master_key: Option<String>,
    /// A file holding the base64 master key (alternative to `master_key`).
    pub master_key_file: Option<PathBuf>,
    /// More master keys, base64, that open what they sealed but never seal:
    /// the previous key after a rotation (until `tessera master-key rewrap`
    /// has sealed everything again with the current one), and on a cluster
    /// the next key, given to every node before any node makes it current.
    /// Default: none.
    pub accepted_master_keys: Vec<String>,
    /// Token lifetimes.
    pub tokens: TokenConfig,
    /// Signing-key life cycle.
    pub keys: KeyConfig,
    /// Sign-in throttling.
    pub login: LoginConfig,
    /// Database pool.
    pub database: DatabaseConfig,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Plugins (`[plugins]`): the host's limits and the upload signature
    /// policy; see [`PluginsConfig`].
    pub plugins: PluginsConfig,
    /// Plugin run records.
    pub plugin_runs: PluginRunsConfig,
    /// The admin console (`[console]`): session timeouts, setup link.
    pub console: ConsoleConfig,
    /// Reverse proxies whose `X-Forwarded-For` header is believed, as IP
    /// addresses or CIDR ranges (`["10.0.0.0/8", "::1"]`). Only when the TCP
    /// peer is one of them is the client address taken from the header (the
    /// first hop from the right that is not a trusted proxy); otherwise the
    /// peer is the client. Throttling counts per client address, so set this
    /// behind a proxy, or every client shares the proxy's address. Default:
    /// none (the header is ignored).
    pub trusted_proxies: Vec<String>,
    /// Password hashing (`[passwords]`): how much argon2 work runs at once.
    pub passwords: PasswordsConfig,
    /// Background deletion of expired grant and session state (`[purge]`).
    pub purge: PurgeConfig,
    /// Pushed authorization requests (`[par]`, RFC 9126).
    pub par: ParConfig,
    /// Dynamic Client Registration (`[registration]`, RFC 7591 and 7592).
    pub registration: RegistrationConfig,
    /// Public keys fetched from a client's or a trusted issuer's
    /// `jwks_uri` (`[remote_jwks]`); see [`RemoteJwksConfig`].
    pub remote_jwks: RemoteJwksConfig,
    /// DPoP proofs at the token endpoint and userinfo (`[dpop]`, RFC 9449).
    pub dpop: DpopConfig,
    /// Request rate limits per source address and per client
    /// (`[rate_limits]`); see [`RateLimitsConfig`].
    pub rate_limits: RateLimitsConfig,
    /// OpenTelemetry traces (`[tracing]`): off unless `otlp_endpoint` is
    /// set; see [`TracingConfig`].
    pub tracing: TracingConfig,
}

/// OpenTelemetry traces over OTLP/HTTP (`[tracing]`). Each request is a
/// trace whose root is the `request` span (the one that carries the request
/// id in the logs), with child spans for client authentication
/// (`client_auth`), each plugin call (`plugin_call`) and token signing
/// (`sign`). Spans carry ids only (client, plugin, binding, key), never
/// claims or secrets. Spans are batched and sent from a background thread;
/// the batch still queued is sent at shutdown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`;
    /// spans are POSTed to `<otlp_endpoint>/v1/traces` as protobuf. Plain
    /// `http` only: the exporter carries no TLS stack, so run a collector
    /// or sidecar next to the server and let it forward over TLS.
    /// Default: none (no traces are exported).
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute. Default: `tessera`.
    pub service_name: String,
    /// The share of new traces kept, from 0.0 to 1.0 (a trace started by a
    /// sampled parent is kept too). Default: 1.0.
    pub sampling_ratio: f64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig { otlp_endpoint: None, service_name: "tessera".into(), sampling_ratio: 1.0 }
    }
}

/// Request rate limits (`[rate_limits]`): a brake on floods, counted in
/// memory on each node without a database query. They count every request
/// to an endpoint, unlike the sign-in and client-secret throttles
/// (`[login]`), which count failures in the database. Each node counts on
/// its own, so behind a load balancer over N nodes a client gets up to N
/// times the per-node figure. A refused request is answered 429 with
/// `Retry-After` (whole seconds). The source address is the TCP peer, or the
/// `X-Forwarded-For` client behind a `trusted_proxies` entry; IPv6 addresses
/// are counted per /64. Defaults are generous: set them to your traffic.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// How many addresses and clients are tracked at once, across all
    /// endpoints; the memory bound (about 40 bytes each). When it is reached
    /// the entries nearest to a full allowance are dropped first, so a flood
    /// of distinct addresses cannot grow memory. Default: 100000.
    pub max_tracked: usize,
    /// `POST /oauth/token`. Default: 1000 a second with a burst of 3000,
    /// per address and per client.
    pub token: ClientEndpointLimits,
    /// `/authorize` (GET and POST). Default: 3000 a minute, burst 600, per address.
    pub authorize: AddressLimits,
    /// The hosted sign-in forms (`/login`, `/device/login`). Default: 600 a
    /// minute, burst 120, per address (wrong passwords are also throttled
    /// per account and address pair, `[login]`).
    pub login: AddressLimits,
    /// The device authorization endpoint and the user's `/device` page, per
    /// address (default 1200 a minute, burst 300); per client, the device
    /// authorization endpoint only (default 600 a minute, burst 120).
    pub device: ClientEndpointLimits,
    /// `POST /oauth/par`. Default: 6000 a minute, burst 600, per address and per client.
    pub par: ClientEndpointLimits,
    /// The client registration endpoint and the registered clients'
    /// configuration endpoints (RFC 7591, 7592). Default: 60 a minute,
    /// burst 20, per address: registering is rare, and open registration
    /// must not let one address fill the clients table.
    pub register: AddressLimits,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let both = |per_minute, burst| ClientEndpointLimits {
            per_address: RateLimit { per_minute, burst },
            per_client: RateLimit { per_minute, burst },
        };
        RateLimitsConfig {
            max_tracked: 100_000,
            // Above what one node issues (about 20,000 tokens/s on one core,
            // BENCHMARKS.md): a flood brake that never caps a busy machine
            // client, nor every client behind a proxy left out of
            // `trusted_proxies`, below the server's own capacity.
            token: both(1_200_000, 20_000),
            authorize: AddressLimits { per_address: RateLimit { per_minute: 3000, burst: 600 } },
            login: AddressLimits { per_address: RateLimit { per_minute: 600, burst: 120 } },
            device: ClientEndpointLimits {
                per_address: RateLimit { per_minute: 1200, burst: 300 },
                per_client: RateLimit { per_minute: 600, burst: 120 },
            },
            par: both(6000, 600),
            register: AddressLimits { per_address: RateLimit { per_minute: 60, burst: 20 } },
        }
    }
}

/// The limits of an endpoint a client authenticates to, whose client id is
/// known from the request itself before any work is done.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEndpointLimits {
    /// Per source address.
    pub per_address: RateLimit,
    /// Per client id claimed by the request (HTTP Basic, the form's
    /// `client_id`, or a client assertion's subject); counted before the
    /// client is authenticated, so a wrong secret counts too.
    pub per_client: RateLimit,
}

/// The limits of a browser endpoint: per source address only.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressLimits {
    /// Per source address.
    pub per_address: RateLimit,
}

/// One limit: a sustained rate and the burst allowed on top of it (a token
/// bucket holding `burst` requests, refilled at `per_minute`). 0 in either
/// turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests a minute, sustained.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

/// Pushed authorization requests (RFC 9126): a client POSTs its
/// authorization request to `/oauth/par` and sends the browser to the
/// authorization endpoint with only the `request_uri` it got back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParConfig {
    /// Serve the PAR endpoint and advertise it in discovery. Off, the
    /// endpoint answers 404 and clients that require PAR cannot authorize.
    /// Default: true.
    pub enabled: bool,
    /// The `request_uri` must reach the authorization endpoint this fast
    /// (`expires_in`, RFC 9126 §2.2; short because it only bridges one
    /// redirect). Default: 60.
    pub lifetime_secs: i64,
}

impl Default for ParConfig {
    fn default() -> Self {
        ParConfig { enabled: true, lifetime_secs: 60 }
    }
}

/// Dynamic Client Registration (`[registration]`): programs create their
/// own clients at `POST /oauth/register` (RFC 7591) and read, replace and
/// delete them with the registration access token they get back (RFC
/// 7592). Off by default, as at Hydra and Auth0.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Who may register. Default: `off`.
    pub mode: RegistrationMode,
}

/// Who may register a client (`registration.mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Nobody: the endpoint answers 404 and discovery leaves it out.
    #[default]
    Off,
    /// Whoever presents an initial access token (RFC 7591 §3): a
    /// management API token with `write:clients`. Any grant type.
    Token,
    /// Anyone, for the grants where a user signs in and consents
    /// (`authorization_code`, `refresh_token`, `device_code`); with a
    /// management token, any grant type as in `token` mode.
    Open,
}

/// Public keys fetched from a `jwks_uri` (`[remote_jwks]`): a client's keys
/// for `private_key_jwt` and a trusted issuer's keys for the JWT bearer
/// grant. Each node fetches over HTTPS (plain HTTP only to loopback hosts),
/// follows no redirects, and caches each set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteJwksConfig {
    /// A fetched set is used this long, then fetched again. Default: 300.
    pub cache_secs: i64,
    /// An assertion whose `kid` the cached set lacks (a key rotation)
    /// fetches the set again, and a failed fetch is retried, at most once
    /// this often per URL. Default: 30.
    pub refetch_secs: i64,
    /// Connect timeout and the bound on the whole fetch, in milliseconds;
    /// a slower key server fails the assertion. Default: 3000.
    pub timeout_ms: u64,
    /// Larger documents are refused (the assertion fails). Default: 65536.
    pub max_bytes: usize,
}

impl Default for RemoteJwksConfig {
    fn default() -> Self {
        RemoteJwksConfig { cache_secs: 300, refetch_secs: 30, timeout_ms: 3000, max_bytes: 64 * 1024 }
    }
}

/// DPoP (RFC 9449): a client proves, with a key it holds, each token
/// request and each use of a token bound to that key. Proofs are always
/// accepted (and required for clients registered with
/// `dpop_bound_access_tokens`); these settings tune how strictly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// Require a server nonce in every proof at the token endpoint (§8):
    /// a proof without a current one is answered `use_dpop_nonce` with a
    /// `DPoP-Nonce` header, and every token response carries a fresh one.
    /// Nonces are stateless (sealed with the master key), so any node
    /// accepts any node's. Stops proofs made in advance by a client whose
    /// key was briefly in an attacker's hands. Default: false.
    pub require_nonce: bool,
    /// A nonce is valid for this long after the slot it was made in, and
    /// for one more slot (so a rotation never refuses a nonce just handed
    /// out). Default: 300.
    pub nonce_lifetime_secs: i64,
    /// The oldest proof accepted: its `iat` at most this many seconds ago
    /// (and at most 5 s ahead). Each proof's `jti` is remembered this long
    /// in the database, shared by every node. Default: 60.
    pub proof_max_age_secs: i64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig { require_nonce: false, nonce_lifetime_secs: 300, proof_max_age_secs: 60 }
    }
}

/// Password hashing. Each argon2id hash or check holds 19 MiB while it
/// runs, so the number in flight bounds the server's memory under a burst
/// of sign-ins; the excess is answered quickly with a retryable error (503
/// `temporarily_unavailable` with `Retry-After` at the token endpoint, a
/// "try again" message on the sign-in pages).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    /// Hashes and checks running at once (one worker thread each); 0 means
    /// one per CPU core. Default: 0.
    pub max_concurrent: usize,
    /// How long a sign-in waits for a free worker before the retryable
    /// error, milliseconds. Default: 250.
    pub queue_wait_ms: u64,
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        PasswordsConfig { max_concurrent: 0, queue_wait_ms: 250 }
    }
}

/// Background purge of expired codes, sessions, refresh-token families,
/// setup links and throttle windows (`service/purge.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeConfig {
    /// Seconds between purge rounds; 0 turns the purge off. Every node runs
    /// it; the deletes are idempotent, so several nodes never conflict. Default: 300.
    pub interval_secs: u64,
    /// Rows deleted per statement, so a purge never holds a long write lock. Default: 1000.
    pub batch: i64,
    /// Statements per table per round at most; the rest waits for the next
    /// round, so one round's work is bounded too. Default: 100.
    pub max_batches: u32,
    /// Expired authorization codes are kept this long, so a late replay of a
    /// used code still revokes what it issued (RFC 6749 §4.1.2). Default: 86400.
    pub code_retention_secs: i64,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        PurgeConfig { interval_secs: 300, batch: 1000, max_batches: 100, code_retention_secs: 86_400 }
    }
}

/// The admin console. Sign-in throttling shares `[login]`'s limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A console session with no request for this long ends (OWASP session
    /// management: 15 to 30 minutes for low-risk, less for high-value). Default: 900.
    pub idle_timeout_secs: i64,
    /// A console session ends this long after sign-in, however busy. Default: 28800 (8 h).
    pub absolute_timeout_secs: i64,
    /// The first-run setup link stays valid this long. Default: 86400.
    pub setup_link_secs: i64,
    /// An invitation link (Administrators page) stays valid this long; it is
    /// single use either way. Default: 172800 (48 h).
    pub invitation_secs: i64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            idle_timeout_secs: 900,
            absolute_timeout_secs: 8 * 3600,
            setup_link_secs: 86_400,
            invitation_secs: 172_800,
        }
    }
}

/// The `[plugins]` section: the host's limits and the upload signature policy
/// side by side in one table.
///
/// Host limits: deadline (which also ends waits in host calls), memory,
/// input/output/log sizes, upload size, compile bounds, the pool and each
/// plugin's share of it (`max_pool_share_percent`, default 25, and
/// `share_wait_ms`, default 10), and the
/// plugin clocks' resolution (`clock_resolution_ms`, default 1). Every such
/// key is documented on [`tessera_plugin_host::HostConfig`]. `cache_dir` is
/// relative to `data_dir`.
///
/// Signed uploads (`plugin_signatures/` has the forms):
///
/// ```toml
/// [plugins]
/// require_signatures = true
/// trusted_signers = [
///   { name = "ci", public_key = "<base64, as `tessera plugin keygen` prints it>" },
///   { name = "release", public_key = """
/// -----BEGIN PUBLIC KEY-----
/// <cosign.pub, as `cosign generate-key-pair` writes it>
/// -----END PUBLIC KEY-----""" },
/// ]
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct PluginsConfig {
    /// The host's limits (the other keys of `[plugins]`).
    #[serde(flatten)]
    pub host: tessera_plugin_host::HostConfig,
    /// Refuse plugin uploads that carry no signature by a trusted signer
    /// (then `trusted_signers` must name at least one). A signature given
    /// with an upload is verified (and its signer recorded) either way.
    /// Default: false.
    pub require_signatures: bool,
    /// The keys plugin signatures may be made with, each
    /// `{ name, public_key }`: `public_key` is a raw 32-byte Ed25519 public
    /// key in standard base64 (`tessera plugin keygen`), or a PEM public key
    /// (`-----BEGIN PUBLIC KEY-----`, or its base64 body on one line) of an
    /// ECDSA P-256 key (cosign.pub) or an Ed25519 key; `name` is recorded
    /// as the version's `signed_by`. A key that does not parse fails the
    /// configuration at load. Default: none.
    pub trusted_signers: Vec<SignerConfig>,
    /// A binding whose plugin runs out its deadline this many calls in a
    /// row is suspended on that node for `suspend_secs`: its plugin is not
    /// called, the run is recorded as `suspended`, and the binding's
    /// failure policy decides the token (`service::suspensions`). 0: never.
    /// Default: 5.
    pub suspend_after_deadlines: u32,
    /// How long such a suspension lasts, in seconds; then one call is tried
    /// again. Default: 30.
    pub suspend_secs: u64,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            host: tessera_plugin_host::HostConfig::default(),
            require_signatures: false,
            trusted_signers: Vec::new(),
            suspend_after_deadlines: 5,
            suspend_secs: 30,
        }
    }
}

/// The keys of `[plugins]` that the server reads (signatures,
/// suspensions), apart from the host's keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServerKeys {
    require_signatures: bool,
    trusted_signers: Vec<SignerConfig>,
    suspend_after_deadlines: u32,
    suspend_secs: u64,
}

impl Default for ServerKeys {
    fn default() -> Self {
        let d = PluginsConfig::default();
        ServerKeys {
            require_signatures: d.require_signatures,
            trusted_signers: d.trusted_signers,
            suspend_after_deadlines: d.suspend_after_deadlines,
            suspend_secs: d.suspend_secs,
        }
    }
}

// By hand, because `#[serde(flatten)]` would make the host's
// `deny_unknown_fields` silently accept typos: the server's keys are taken
// out of the table, and the host's struct reads the rest, refusing unknown keys.
impl<'de> Deserialize<'de> for PluginsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use figment::value::{Dict, Value};
        use serde::de::Error as _;
        let mut dict = Dict::deserialize(d)?;
        let mut server = Dict::new();
        for key in ["require_signatures", "trusted_signers", "suspend_after_deadlines", "suspend_secs"] {
            if let Some(v) = dict.remove(key) {
                server.insert(key.to_owned(), v);
            }
        }
        let keys: ServerKeys = Value::from(server).deserialize().map_err(D::Error::custom)?;
        let host = Value::from(dict).deserialize().map_err(D::Error::custom)?;
        Ok(PluginsConfig {
            host,
            require_signatures: keys.require_signatures,
            trusted_signers: keys.trusted_signers,
            suspend_after_deadlines: keys.suspend_after_deadlines,
            suspend_secs: keys.suspend_secs,
        })
    }
}

/// Plugin run records (for the console and the API).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginRunsConfig {
    /// Records kept in the database; older ones are deleted. Default: 10000.
    pub keep: i64,
}

impl Default for PluginRunsConfig {
    fn default() -> Self {
        PluginRunsConfig { keep: 10_000 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("tessera-data"),
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            admin_listen: None,
            shutdown_timeout_secs: 30,
            issuer: None,
            master_key: None,
            master_key_file: None,
            accepted_master_keys: Vec::new(),
            tokens: TokenConfig::default(),
            keys: KeyConfig::default(),
            login: LoginConfig::default(),
            database: DatabaseConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            plugins: PluginsConfig::default(),
            plugin_runs: PluginRunsConfig::default(),
            console: ConsoleConfig::default(),
            purge: PurgeConfig::default(),
            par: ParConfig::default(),
            registration: RegistrationConfig::default(),
            remote_jwks: RemoteJwksConfig::default(),
            dpop: DpopConfig::default(),
            trusted_proxies: Vec::new(),
            passwords: PasswordsConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            tracing: TracingConfig::default(),
        }
    }
}

/// Token lifetimes, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Access-token lifetime of a new API unless `api create --lifetime` says
    /// otherwise. Default: 3600.
    pub access_token_lifetime_secs: i64,
    /// A refresh-token family ends this long after the sign-in that started
    /// it, however often it is used. Default: 2592000 (30 days).
    pub refresh_token_absolute_secs: i64,
    /// A refresh token not used for this long ends (RFC 9700 §4.14.2).
    /// Default: 1209600 (14 days).
    pub refresh_token_idle_secs: i64,
    /// Authorization codes expire this fast (RFC 9700 asks for short-lived
    /// codes; FAPI 2 tests 60 s). Default: 60.
    pub authorization_code_secs: i64,
    /// Which clients must send a PKCE challenge (S256) with an authorization
    /// request for a code: `"public"` (RFC 9700 §2.1.1; confidential
    /// clients may still rely on their secret) or `"all"` (OAuth 2.1,
    /// FAPI 2.0). Applies to pushed requests too. Default: `"public"`.
    pub pkce: tessera_protocol::pkce::Requirement,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            access_token_lifetime_secs: 3600,
            refresh_token_absolute_secs: 30 * 86_400,
            refresh_token_idle_secs: 14 * 86_400,
            authorization_code_secs: 60,
            pkce: tessera_protocol::pkce::Requirement::Public,
        }
    }
}

/// Sign-in throttling for users (hosted login page, password grant) and
/// the console, and client-secret throttling. Designed so that it cannot be
/// used to lock someone out (see `service::sign_in` for the whole model):
/// failures count per (account, client address) pair, which locks with a
/// growing delay; looser per-account and per-address limits apply only to
/// addresses the account has not signed in from lately.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failed sign-ins allowed per (account, address) pair in the window
    /// before the pair is locked; also wrong secrets per (client, address).
    /// Default: 10.
    pub max_failures: i32,
    /// The counting window, in seconds. Default: 900.
    pub window_secs: i64,
    /// The first lock of a pair, seconds; each further lock doubles it.
    /// Default: 60.
    pub lock_secs: i64,
    /// The longest lock, seconds. Default: 900.
    pub max_lock_secs: i64,
    /// Failed sign-ins per account in the window from addresses it has not
    /// signed in from lately (many addresses against one account). Its
    /// known addresses are not refused. Default: 20.
    pub account_max_failures: i32,
    /// Failed sign-ins per address in the window, across accounts that have
    /// not signed in from it lately (password spraying). Accounts known at
    /// that address are not refused. Default: 100.
    pub address_max_failures: i32,
    /// A successful sign-in makes its (account, address) pair known for this
    /// long, seconds. Default: 2592000 (30 days).
    pub known_address_secs: i64,
    /// A browser session ends this long after sign-in. Default: 86400.
    pub session_secs: i64,
    /// Every user must have a second factor (TOTP) to sign in at the hosted
    /// pages: one who has none enrols at their next sign-in, and the
    /// password grant refuses everyone. Default: false (only users who
    /// enrolled, or whom an administrator requires to, use one).
    pub require_second_factor: bool,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            max_failures: 10,
            window_secs: 900,
            lock_secs: 60,
            max_lock_secs: 900,
            account_max_failures: 20,
            address_max_failures: 100,
            known_address_secs: 30 * 86_400,
            session_secs: 86_400,
            require_second_factor: false,
        }
    }
}

/// Signing-key life cycle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyConfig {
    /// How long a retired key stays in the JWKS so tokens it signed still
    /// verify. Must exceed the longest access-token lifetime. Default: 172800 (2 days).
    pub retired_publish_secs: i64,
    /// How often a node re-reads keys from the database, so a rotation on one
    /// node reaches all. Default: 1000 ms.
    pub refresh_ms: u64,
}

impl Default for KeyConfig {
    fn default() -> Self {
        KeyConfig { retired_publish_secs: 172_800, refresh_ms: 1000 }
    }
}

/// Database pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Pool size. Default: 10.
    pub max_connections: u32,
    /// Seconds to wait for a connection before answering 503. Default: 5.
    pub connect_timeout_secs: u64,
    /// Apply pending migrations when any command starts (`serve` included).
    /// Convenient on the embedded SQLite database; with several nodes on
    /// one PostgreSQL, set it to false so that an upgrade is an explicit
    /// `tessera migrate` run once with the new binary, and a node started
    /// on a database its binary has not migrated refuses to start instead.
    /// Either way no command starts on a database migrated by a newer
    /// binary. Default: true.
    pub auto_migrate: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { max_connections: 10, connect_timeout_secs: 5, auto_migrate: true }
    }
}

/// Request limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest form body accepted by OAuth endpoints, bytes. Default: 65536.
    pub max_form_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { max_form_bytes: 64 * 1024 }
    }
}

/// How log lines are written; an unknown name fails when the configuration
/// loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`. Default: `text`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `tessera=debug`; `RUST_LOG` wins. Default: `info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into() }
    }
}

/// Values from command-line flags; `None` leaves lower layers in charge.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `serve --listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `serve --issuer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `serve --admin-listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<String>,
}

impl Config {
    /// Loads the layers. `TESSERA_CONFIG` names the file when `--config` is absent.
    pub fn load(file: Option<&Path>, flags: FlagOverrides) -> Result<Config, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        let known = Arc::new(known_keys());
        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .ignore(&[ENV_CONFIG])
            .filter(move |key| known.contains(&key.as_str().to_ascii_lowercase()));
        fig = fig.merge(env).merge(Serialized::defaults(flags));
        fig.extract().map_err(Box::new)
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tessera.db").display()))
    }

    /// The issuer in force, without a trailing slash.
    pub fn issuer(&self) -> String {
        let raw = self.issuer.clone().unwrap_or_else(|| format!("http://{}", self.listen));
        raw.trim_end_matches('/').to_owned()
    }

    /// The plugin host configuration with `cache_dir` resolved against `data_dir`.
    pub fn plugin_host(&self) -> tessera_plugin_host::HostConfig {
        let mut h = self.plugins.host.clone();
        if h.cache_dir.is_relative() {
            h.cache_dir = self.data_dir.join(&h.cache_dir);
        }
        h
    }

    /// The plugin upload policy of `[plugins]`, its keys parsed.
    pub fn signature_policy(&self) -> Result<SignaturePolicy, crate::plugin_signatures::KeyError> {
        SignaturePolicy::new(self.plugins.require_signatures, &self.plugins.trusted_signers)
    }

    /// Checks values that would otherwise fail later and less clearly.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let issuer = self.issuer();
        let url = url::Url::parse(&issuer).map_err(|e| InvalidConfig::IssuerNotUrl(issuer.clone(), e))?;
        if !matches!(url.scheme(), "https" | "http") || url.query().is_some() || url.fragment().is_some() {
            return Err(InvalidConfig::IssuerShape(issuer));
        }
        if self.tokens.access_token_lifetime_secs <= 0 {
            return Err(InvalidConfig::OutOfRange("tokens.access_token_lifetime_secs must be positive"));
        }
        if self.dpop.nonce_lifetime_secs <= 0 || self.dpop.proof_max_age_secs <= 0 {
            return Err(InvalidConfig::OutOfRange(
                "dpop.nonce_lifetime_secs and dpop.proof_max_age_secs must be positive",
            ));
        }
        if self.par.lifetime_secs <= 0 {
            return Err(InvalidConfig::OutOfRange("par.lifetime_secs must be positive"));
        }
        let jwks = &self.remote_jwks;
        if jwks.cache_secs <= 0 || jwks.refetch_secs < 0 || jwks.timeout_ms == 0 || jwks.max_bytes == 0 {
            return Err(InvalidConfig::OutOfRange(
                "remote_jwks.cache_secs, timeout_ms and max_bytes must be positive, refetch_secs not negative",
            ));
        }
        if self.console.idle_timeout_secs <= 0 || self.console.absolute_timeout_secs <= 0 {
            return Err(InvalidConfig::OutOfRange(
                "console.idle_timeout_secs and console.absolute_timeout_secs must be positive",
            ));
        }
        if self.purge.batch <= 0 || self.purge.max_batches == 0 || self.purge.code_retention_secs < 0 {
            return Err(InvalidConfig::OutOfRange(
                "purge.batch and purge.max_batches must be positive, purge.code_retention_secs not negative",
            ));
        }
        crate::proxies::TrustedProxies::parse(&self.trusted_proxies)?;
        self.signature_policy()?;
        if self.login.max_failures < 1 || self.login.window_secs < 1 {
            return Err(InvalidConfig::OutOfRange("login.max_failures and login.window_secs must be positive"));
        }
        if !(0.0..=1.0).contains(&self.tracing.sampling_ratio) {
            return Err(InvalidConfig::OutOfRange("tracing.sampling_ratio must be between 0.0 and 1.0"));
        }
        if let Some(endpoint) = &self.tracing.otlp_endpoint {
            let url =
                url::Url::parse(endpoint).map_err(|e| InvalidConfig::OtlpEndpoint(endpoint.clone(), e.to_string()))?;
            if url.scheme() != "http" || url.query().is_some() || url.fragment().is_some() {
                return Err(InvalidConfig::OtlpEndpoint(
                    endpoint.clone(),
                    "plain http without query or fragment only (send to a local collector that forwards over TLS)"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// Every configuration key as a dotted path (`tokens.authorization_code_secs`),
/// sections included (`tokens`), read off the defaults so the list cannot
/// drift from the structs.
fn known_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, value: &figment::value::Value, out: &mut BTreeSet<String>) {
        if let figment::value::Value::Dict(_, dict) = value {
            for (k, v) in dict {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(&path, v, out);
                out.insert(path);
            }
        }
    }
    let mut out = BTreeSet::new();
    // Serializing plain structs into figment's value cannot fail; an empty
    // set would only make every variable "unknown", never crash.
    if let Ok(v) = figment::value::Value::serialize(Config::default()) {
        walk("", &v, &mut out);
    }
    out
}

/// A `TESSERA_*` environment variable that names no configuration key, so
/// it was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEnvVar {
    /// The variable, as set (`TESSERA_PORT`).
    pub name: String,
    /// The known variable nearest to it by edit distance, for the warning
    /// ("did you mean"): a typo such as `TESSERA_LISEN` points at `TESSERA_LISTEN`.
    pub closest: String,
}

/// The `TESSERA_*` variables among `vars` that [`Config::load`] leaves out
/// because they name no key, each with the closest known variable.
pub fn unknown_env_vars(vars: impl IntoIterator<Item = String>) -> Vec<UnknownEnvVar> {
    let known = known_keys();
    let names: Vec<String> =
        known.iter().map(|k| format!("{ENV_PREFIX}{}", k.replace('.', "__").to_ascii_uppercase())).collect();
    vars.into_iter()
        .filter_map(|name| {
            let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase().replace("__", ".");
            if key == ENV_CONFIG || ENV_CLI.contains(&key.as_str()) || known.contains(&key) {
                return None;
            }
            let upper = name.to_ascii_uppercase();
            let closest = names.iter().min_by_key(|n| levenshtein(&upper, n))?.clone();
            Some(UnknownEnvVar { name, closest })
        })
        .collect()
}

/// Edit distance (insertions, deletions, substitutions) over characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// Why a configuration that loaded cannot run; `main` prints it and exits 2.
#[derive(Debug, thiserror::Error)]
pub enum InvalidConfig {
    /// The issuer does not parse as a URL.
    #[error("issuer {0:?} is not a URL: {1}")]
    IssuerNotUrl(String, url::ParseError),
    /// RFC 8414 §2: the issuer is an http(s) URL without query or fragment.
    #[error("issuer {0:?} must be an http(s) URL without query or fragment (RFC 8414 §2)")]
    IssuerShape(String),
    /// A number outside the range it must be in; the message names the keys.
    #[error("{0}")]
    OutOfRange(&'static str),
    /// A `trusted_proxies` entry is neither an address nor a CIDR range.
    #[error(transparent)]
    TrustedProxies(#[from] crate::proxies::BadProxy),
    /// A `[plugins] trusted_signers` entry does not parse.
    #[error(transparent)]
    TrustedSigner(#[from] crate::plugin_signatures::KeyError),
    /// `[tracing] otlp_endpoint` is not a plain http URL.
    #[error("tracing.otlp_endpoint {0:?}: {1}")]
    OtlpEndpoint(String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9\"\n[tokens]\naccess_token_lifetime_secs = 60\n").unwrap();
        let flags = FlagOverrides { listen: Some("127.0.0.1:7".into()), ..Default::default() };
        let c = Config::load(Some(&file), flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:7");
        assert_eq!(c.tokens.access_token_lifetime_secs, 60);
        assert_eq!(c.issuer(), "http://127.0.0.1:7");
    }

    #[test]
    fn unknown_key_in_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        assert!(Config::load(Some(&file), FlagOverrides::default()).is_err());
    }

    /// Issue #16 item 4: one rate of an endpoint can be set alone (the rest
    /// keep their defaults); browser endpoints have no per-client limit, so
    /// one given for them is refused like any unknown key.
    #[test]
    fn rate_limits_load_from_the_file_and_keep_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[rate_limits.login.per_address]\nper_minute = 5\n[rate_limits]\nmax_tracked = 64\n")
            .unwrap();
        let c = Config::load(Some(&file), FlagOverrides::default()).unwrap();
        let d = RateLimitsConfig::default();
        assert_eq!(c.rate_limits.login.per_address, RateLimit { per_minute: 5, burst: d.login.per_address.burst });
        assert_eq!(c.rate_limits.max_tracked, 64);
        assert_eq!(c.rate_limits.token.per_client, d.token.per_client);
        std::fs::write(&file, "[rate_limits.login.per_client]\nper_minute = 5\n").unwrap();
        assert!(Config::load(Some(&file), FlagOverrides::default()).is_err());
    }

    /// Issue #11 items 2 and 14: the plugin pool share and clock resolution
    /// are `[plugins]` settings; unknown plugin keys are still refused.
    #[test]
    fn plugin_share_and_clock_settings_load_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[plugins]\nmax_pool_share_percent = 10\nclock_resolution_ms = 5\n").unwrap();
        let c = Config::load(Some(&file), FlagOverrides::default()).unwrap();
        assert_eq!(c.plugins.host.max_pool_share_percent, 10);
        assert_eq!(c.plugins.host.clock_resolution_ms, 5);
        assert_eq!(c.plugin_host().pool_share(), 6);
        let d = Config::default();
        assert_eq!((d.plugins.host.max_pool_share_percent, d.plugins.host.clock_resolution_ms), (25, 1));
        std::fs::write(&file, "[plugins]\nmax_pool_share = 10\n").unwrap();
        assert!(Config::load(Some(&file), FlagOverrides::default()).is_err());
    }

    /// The suspension settings sit in `[plugins]` beside the host's keys
    /// (docs/security-checklist.md W-14): on by default, 0 turns them off,
    /// and a misspelt key is still refused.
    #[test]
    fn suspension_settings_load_from_plugins() {
        let d = Config::default();
        assert_eq!((d.plugins.suspend_after_deadlines, d.plugins.suspend_secs), (5, 30));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "[plugins]
deadline_ms = 40
suspend_after_deadlines = 0
suspend_secs = 90
",
        )
        .unwrap();
        let c = Config::load(Some(&file), FlagOverrides::default()).unwrap();
        assert_eq!(
            (c.plugins.host.deadline_ms, c.plugins.suspend_after_deadlines, c.plugins.suspend_secs),
            (40, 0, 90)
        );
        std::fs::write(
            &file,
            "[plugins]
suspend_after_deadline = 3
",
        )
        .unwrap();
        assert!(Config::load(Some(&file), FlagOverrides::default()).is_err());
    }

    /// Issue #17 item 3: the signature policy sits in `[plugins]` beside the
    /// host's keys; it is off by default, and a bad key fails validation.
    #[test]
    fn signature_policy_loads_from_plugins_and_bad_keys_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        let (_, public) = crate::plugin_signatures::generate().unwrap();
        let text = format!(
            "[plugins]\ndeadline_ms = 77\nrequire_signatures = true\ntrusted_signers = [{{ name = \"ci\", public_key = \"{public}\" }}]\n"
        );
        std::fs::write(&file, text).unwrap();
        let c = Config::load(Some(&file), FlagOverrides::default()).unwrap();
        assert_eq!(c.plugins.host.deadline_ms, 77);
        c.validate().unwrap();
        let p = c.signature_policy().unwrap();
        assert!(p.required);
        assert_eq!(p.signers[0].name, "ci");
        assert!(!Config::default().plugins.require_signatures);
        assert!(Config::default().plugins.trusted_signers.is_empty());
        std::fs::write(&file, "[plugins]\ntrusted_signers = [{ name = \"ci\", public_key = \"AAAA\" }]\n").unwrap();
        let c = Config::load(Some(&file), FlagOverrides::default()).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("trusted_signers") && e.contains("\"ci\""), "{e}");
        std::fs::write(&file, "[plugins]\nrequire_signature = true\n").unwrap();
        assert!(Config::load(Some(&file), FlagOverrides::default()).is_err());
    }

    #[test]
    fn tracing_is_off_by_default_and_its_endpoint_must_be_plain_http() {
        let c = Config::default();
        assert_eq!(c.tracing.otlp_endpoint, None);
        assert_eq!(c.tracing.service_name, "tessera");
        assert_eq!(c.tracing.sampling_ratio, 1.0);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(Some(&file), FlagOverrides::default()).unwrap()
        };
        let c = load("[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsampling_ratio = 0.25\n");
        assert_eq!(c.tracing.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
        assert!(c.validate().is_ok());
        for bad in ["https://collector:4318", "collector:4318", "http://c:4318/?x=1"] {
            let e = load(&format!("[tracing]\notlp_endpoint = \"{bad}\"\n")).validate().unwrap_err().to_string();
            assert!(e.contains("tracing.otlp_endpoint"), "{bad}: {e}");
        }
        let e = load("[tracing]\nsampling_ratio = 1.5\n").validate().unwrap_err().to_string();
        assert!(e.contains("sampling_ratio"), "{e}");
        assert!(unknown_env_vars(["TESSERA_TRACING__OTLP_ENDPOINT".to_owned()]).is_empty());
    }

    #[test]
    fn log_format_is_text_or_json_when_the_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[log]\nformat = \"json\"\n").unwrap();
        assert_eq!(Config::load(Some(&file), FlagOverrides::default()).unwrap().log.format, LogFormat::Json);
        assert_eq!(Config::default().log.format, LogFormat::Text);
        std::fs::write(&file, "[log]\nformat = \"xml\"\n").unwrap();
        let e = Config::load(Some(&file), FlagOverrides::default()).unwrap_err().to_string();
        assert!(e.contains("xml") && e.contains("json"), "{e}");
    }

    /// Issue #16 item 7: the environment names keys, sections and unknown
    /// variables, which get the nearest known name.
    #[test]
    fn unknown_env_vars_are_reported_with_the_closest_key() {
        let vars = [
            "TESSERA_LISTEN",
            "TESSERA_CONFIG",
            "TESSERA_SERVER",
            "TESSERA_CLIENT_SECRET",
            "TESSERA_TOKENS__AUTHORIZATION_CODE_SECS",
            "TESSERA_PLUGINS__DEADLINE_MS",
            "TESSERA_LISEN",
            "TESSERA_TOKENS__AUTHORISATION_CODE_SECS",
            "TESSERA_PORT",
            "PATH",
        ];
        let unknown = unknown_env_vars(vars.iter().map(|v| v.to_string()));
        let got: Vec<(&str, &str)> = unknown.iter().map(|u| (u.name.as_str(), u.closest.as_str())).collect();
        assert_eq!(
            got[..2],
            [
                ("TESSERA_LISEN", "TESSERA_LISTEN"),
                ("TESSERA_TOKENS__AUTHORISATION_CODE_SECS", "TESSERA_TOKENS__AUTHORIZATION_CODE_SECS"),
            ]
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].0, "TESSERA_PORT");
        assert_eq!((levenshtein("kitten", "sitting"), levenshtein("", "ab"), levenshtein("ab", "ab")), (3, 2, 0));
    }

    #[test]
    fn issuer_with_query_is_rejected() {
        let c = Config { issuer: Some("https://a/?x=1".into()), ..Config::default() };
        assert!(c.validate().is_err());
    }
}
