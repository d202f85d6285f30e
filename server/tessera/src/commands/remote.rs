//! The CLI against a running server (issue #14 item 4): `--server URL`
//! with a management client's credentials, from flags, the environment or
//! a config file (`remote_settings`). [`Remote`] gets a management token by
//! `client_credentials` for [`MANAGEMENT_AUDIENCE`] and implements
//! [`Backend`] over `/api/v1/`, reading the `ETag` of an item before it
//! changes it (`If-Match`), so a concurrent change is refused, not lost.

use super::backend::{Backend, Kind, Refused, Upload};
use super::{admin, apply, audit, export, pipeline, resources};
use crate::cli::Cli;
use crate::cli::{AuditCommand, Command};
use crate::service::admin::FactorChange;
use crate::service::oauth::management::MANAGEMENT_AUDIENCE;
use crate::service::user_second_factor::FactorStatus;
use crate::web::api::plugins::SIGNATURE_HEADER;
use crate::web::routes::{self, api as paths};
use anyhow::{Context as _, anyhow, bail};
use figment::providers::Format as _;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use tessera_store::audit::{AuditEvent, ChainHead, ChainedEvent};
use zeroize::Zeroizing;

/// Where the CLI finds a server and its credentials.
pub struct RemoteSettings {
    /// The server's base URL (its issuer), e.g. `https://auth.example.com`.
    pub server: url::Url,
    /// The management client's id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: Zeroizing<String>,
}

impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("server", &self.server.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// The keys of the CLI's config file (`cli.toml`); unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CliFile {
    server: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The config file: `--cli-config FILE`, else
/// `$XDG_CONFIG_HOME/tessera/cli.toml` (`~/.config/tessera/cli.toml`) if
/// it exists. The flag's file must exist.
fn config_file(flag: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    if let Some(p) = flag {
        if !p.exists() {
            bail!("--cli-config {}: no such file", p.display());
        }
        return Ok(Some(p.to_owned()));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".config"),
            None => return Ok(None),
        },
    };
    let p = base.join("tessera").join("cli.toml");
    Ok(p.exists().then_some(p))
}

fn read_config_file(path: &Path) -> anyhow::Result<CliFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: CliFile =
        figment::Figment::from(figment::providers::Toml::string(&text)).extract().with_context(|| {
            format!("{} is not a valid CLI config (keys: server, client_id, client_secret)", path.display())
        })?;
    if file.client_secret.is_some() {
        let mode =
            std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?.permissions().mode();
        if mode & 0o004 != 0 {
            bail!(
                "{} holds a client secret and is readable by every user of this machine: \
                 run `chmod 600 {}` (or take the secret from TESSERA_CLIENT_SECRET)",
                path.display(),
                path.display()
            );
        }
    }
    Ok(file)
}

/// The remote server and credentials, if any: flags (and their environment
/// variables) first, then the config file. `None`: no server anywhere, so
/// commands run on this machine's database.
pub fn remote_settings(cli: &Cli) -> anyhow::Result<Option<RemoteSettings>> {
    let file = match config_file(cli.cli_config.as_deref())? {
        Some(p) => read_config_file(&p)?,
        None => CliFile::default(),
    };
    let Some(server) = cli.server.clone().or(file.server) else {
        if cli.client_id.is_some() || cli.client_secret.is_some() {
            bail!("--client-id and --client-secret are for a remote server: give --server URL (or TESSERA_SERVER)");
        }
        return Ok(None);
    };
    let server = url::Url::parse(server.trim_end_matches('/'))
        .with_context(|| format!("--server {server:?} is not a URL (e.g. https://auth.example.com)"))?;
    if !matches!(server.scheme(), "http" | "https") {
        bail!("--server {server}: the URL must be http or https");
    }
    let client_id = cli.client_id.clone().or(file.client_id).ok_or_else(|| {
        anyhow!(
            "--server needs a management client: --client-id (or TESSERA_CLIENT_ID, or client_id in the CLI config)"
        )
    })?;
    let client_secret = Zeroizing::new(cli.client_secret.clone().or(file.client_secret).ok_or_else(|| {
        anyhow!("--server needs the client's secret: TESSERA_CLIENT_SECRET, --client-secret, or client_secret in the CLI config")
    })?);
    Ok(Some(RemoteSettings { server, client_id, client_secret }))
}

/// Runs `command` against the server of `settings`: the commands the
/// management API serves, through [`Remote`]; the others refuse, naming the
/// reason, since they need the server's own database or files.
pub fn run(settings: RemoteSettings, command: Command) -> anyhow::Result<()> {
    let local_only = |what: &str| {
        Err(anyhow!(
            "`tessera {what}` works only on the server's own machine (it opens the database directly): run it there \
             without --server, or use the management API (see /api/v1/openapi.json)"
        ))
    };
    let remote = Remote::new(settings)?;
    match command {
        Command::User(c) => resources::user(&remote, c),
        Command::Client(c) => resources::client(&remote, c),
        Command::Api(c) => resources::api(&remote, c),
        Command::Plugin(c) => pipeline::plugin(&remote, c),
        Command::Binding(c) => pipeline::binding(&remote, c),
        Command::Export(a) => export::export(&remote, a),
        Command::Apply(a) => apply::apply(&remote, a),
        Command::Serve(_) => local_only("serve"),
        Command::Migrate => local_only("migrate"),
        Command::Backup(_) => local_only("backup"),
        Command::Keys(c) => admin::keys(&remote, c),
        Command::Admin(c) => admin::admin(&remote, c),
        Command::Audit(AuditCommand::Export(a)) => audit::export(&remote, a),
        Command::Audit(AuditCommand::Verify { json }) => audit::verify(&remote, json),
        Command::MgmtClient(_) => local_only("mgmt-client"),
        Command::MasterKey(_) => local_only("master-key"),
    }
}

/// A management-API session with one server.
pub struct Remote {
    settings: RemoteSettings,
    http: Client,
    token: OnceCell<Zeroizing<String>>,
}

/// The server's refusal, as `main` prints it (`error: ...`).
fn problem(status: u16, url: &str, body: &str) -> anyhow::Error {
    let Ok(p) = serde_json::from_str::<Value>(body) else {
        return anyhow!("{url} answered HTTP {status}");
    };
    let title = p["title"].as_str().unwrap_or("error");
    let message = match p["detail"].as_str() {
        Some(detail) => format!("{detail} ({title}, HTTP {status})"),
        None => format!("{title} (HTTP {status})"),
    };
    Refused { status, message }.into()
}

impl Remote {
    /// The id of the administrator `username`: the API names administrators
    /// by id, the commands by username.
    fn admin_id(&self, username: &str) -> anyhow::Result<String> {
        self.admins()?
            .iter()
            .find(|a| a["username"] == username)
            .and_then(|a| a["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| Refused { status: 404, message: format!("administrator {username:?} not found") }.into())
    }

    /// A session with the server of `settings` (the token is fetched on
    /// first use).
    pub fn new(settings: RemoteSettings) -> anyhow::Result<Remote> {
        let http = Client::builder()
            .user_agent(concat!("tessera-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("cannot start the HTTP client")?;
        Ok(Remote { settings, http, token: OnceCell::new() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.server.as_str().trim_end_matches('/'))
    }

    /// A management token by client_credentials for every scope the client has.
    fn token(&self) -> anyhow::Result<&str> {
        if let Some(t) = self.token.get() {
            return Ok(t);
        }
        let url = self.url(routes::TOKEN);
        let res = self
            .http
            .post(&url)
            .basic_auth(&self.settings.client_id, Some(self.settings.client_secret.as_str()))
            .form(&[("grant_type", "client_credentials"), ("audience", MANAGEMENT_AUDIENCE)])
            .send()
            .with_context(|| format!("cannot reach {url}"))?;
        let status = res.status();
        let body: Value = res.json().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "the server refused the management client {}: {} {} (HTTP {})",
                self.settings.client_id,
                body["error"].as_str().unwrap_or("error"),
                body["error_description"].as_str().unwrap_or(""),
                status.as_u16()
            );
        }
        let token = body["access_token"].as_str().ok_or_else(|| anyhow!("{url} sent no access_token"))?;
        Ok(self.token.get_or_init(|| Zeroizing::new(token.to_owned())))
    }

    fn send(&self, build: impl FnOnce(&Client) -> RequestBuilder) -> anyhow::Result<Response> {
        let token = self.token()?.to_owned();
        let req = build(&self.http).bearer_auth(token);
        let res = req.send().context("the request to the server failed")?;
        if res.status().is_success() {
            return Ok(res);
        }
        let (status, url) = (res.status().as_u16(), res.url().to_string());
        let body = res.text().unwrap_or_default();
        Err(problem(status, &url, &body))
    }

    fn get_json(&self, path: &str) -> anyhow::Result<(Value, String)> {
        let res = self.send(|c| c.get(self.url(path)))?;
        let etag = res.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or("*").to_owned();
        Ok((res.json().context("the server's answer is not JSON")?, etag))
    }

    fn paged(&self, collection: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        self.each_item(collection, &[], usize::MAX, &mut |item| {
            items.push(item);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(items)
    }

    /// Hands the first `max` items of a list to `each`, a page (of at most
    /// 200) at a time, `query` added to every page's request, until `each`
    /// answers `Break`.
    fn each_item(
        &self,
        collection: &str,
        query: &[(&str, String)],
        max: usize,
        each: &mut dyn FnMut(Value) -> anyhow::Result<ControlFlow<()>>,
    ) -> anyhow::Result<()> {
        let mut left = max;
        let mut cursor: Option<String> = None;
        while left > 0 {
            let mut url = url::Url::parse(&self.url(collection))?;
            url.query_pairs_mut().append_pair("limit", &left.min(200).to_string());
            for (k, v) in query {
                url.query_pairs_mut().append_pair(k, v);
            }
            if let Some(c) = &cursor {
                url.query_pairs_mut().append_pair("cursor", c);
            }
            let res = self.send(|c| c.get(url.as_str()))?;
            let page: Value = res.json().context("the server's answer is not JSON")?;
            for item in page["items"].as_array().cloned().unwrap_or_default().into_iter().take(left) {
                left -= 1;
                if each(item)?.is_break() {
                    return Ok(());
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(()),
            }
        }
        Ok(())
    }
}

/// An audit event of the management API (`AuditEventView`) with its place
/// in the hash chain, as the store reads it on the server's machine.
fn chained_event(e: &Value) -> anyhow::Result<ChainedEvent> {
    let text = |f: &str| {
        e[f].as_str().map(str::to_owned).ok_or_else(|| anyhow!("an audit event from the server without {f}: {e}"))
    };
    let link = |f: &str| e[f].as_str().map(str::to_owned);
    Ok(ChainedEvent {
        event: AuditEvent {
            id: text("id")?,
            at: e["at"].as_i64().ok_or_else(|| anyhow!("an audit event from the server without at: {e}"))?,
            actor: text("actor")?,
            action: text("action")?,
            target: text("target")?,
            detail: text("detail")?,
        },
        seq: e["seq"].as_i64(),
        prev_hash: link("prev_hash"),
        hash: link("hash"),
    })
}

/// `collection/id`, the id percent-encoded as one path segment (RFC 3986
/// §2.3: only unreserved characters stay as they are).
fn item(collection: &str, id: &str) -> String {
    let mut path = format!("{collection}/");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            path.push(char::from(b));
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path
}

impl Backend for Remote {
    fn list(&self, kind: Kind) -> anyhow::Result<Vec<Value>> {
        self.paged(kind.collection())
    }

    fn get(&self, kind: Kind, id: &str) -> anyhow::Result<Value> {
        Ok(self.get_json(&item(kind.collection(), id))?.0)
    }

    fn create(&self, kind: Kind, body: Map<String, Value>) -> anyhow::Result<Value> {
        let res = self.send(|c| c.post(self.url(kind.collection())).json(&body))?;
        res.json().context("the server's answer is not JSON")
    }

    fn update(&self, kind: Kind, id: &str, patch: Value) -> anyhow::Result<Value> {
        let path = item(kind.collection(), id);
        let (_, etag) = self.get_json(&path)?;
        let res = self.send(|c| {
            c.patch(self.url(&path))
                .header(header::IF_MATCH, etag)
                .header(header::CONTENT_TYPE, "application/merge-patch+json")
                .body(patch.to_string())
        })?;
        res.json().context("the server's answer is not JSON")
    }

    fn delete(&self, kind: Kind, id: &str) -> anyhow::Result<()> {
        let path = item(kind.collection(), id);
        let (_, etag) = self.get_json(&path)?;
        self.send(|c| c.delete(self.url(&path)).header(header::IF_MATCH, etag))?;
        Ok(())
    }

    fn set_password(&self, user_id: &str, password: &str) -> anyhow::Result<()> {
        let (_, etag) = self.get_json(&paths::user(user_id))?;
        let body = json!({ "password": password });
        self.send(|c| c.put(self.url(&paths::user_password(user_id))).header(header::IF_MATCH, etag).json(&body))?;
        Ok(())
    }

    fn sign_out_user(&self, user_id: &str) -> anyhow::Result<()> {
        self.send(|c| c.post(self.url(&paths::user_sign_out(user_id))))?;
        Ok(())
    }

    fn user_second_factor(&self, user_id: &str, change: FactorChange) -> anyhow::Result<FactorStatus> {
        let path = paths::user_second_factor(user_id);
        let res = if change == FactorChange::default() {
            self.send(|c| c.get(self.url(&path)))?
        } else {
            let body = json!({ "reset": change.reset, "required": change.required });
            self.send(|c| c.post(self.url(&path)).json(&body))?
        };
        res.json().context("the server's answer is not a second factor")
    }

    fn client_secrets(&self, client_id: &str) -> anyhow::Result<Vec<Value>> {
        let (list, _) = self.get_json(&format!("{}/secrets", item(paths::CLIENTS, client_id)))?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    fn add_secret(&self, client_id: &str, overlap_secs: Option<i64>) -> anyhow::Result<Value> {
        let path = format!("{}/secrets", item(paths::CLIENTS, client_id));
        let res = self.send(|c| c.post(self.url(&path)).json(&json!({ "overlap_secs": overlap_secs })))?;
        res.json().context("the server's answer is not JSON")
    }

    fn revoke_secret(&self, client_id: &str, secret_id: &str) -> anyhow::Result<()> {
        let path = item(&format!("{}/secrets", item(paths::CLIENTS, client_id)), secret_id);
        let (_, etag) = self.get_json(&path)?;
        self.send(|c| c.delete(self.url(&path)).header(header::IF_MATCH, etag))?;
        Ok(())
    }

    fn plugins(&self) -> anyhow::Result<Vec<Value>> {
        self.paged(paths::PLUGINS)
    }

    fn plugin(&self, name: &str) -> anyhow::Result<Value> {
        Ok(self.get_json(&item(paths::PLUGINS, name))?.0)
    }

    fn versions(&self, name: &str) -> anyhow::Result<Vec<Value>> {
        let (list, _) = self.get_json(&format!("{}/versions", item(paths::PLUGINS, name)))?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    fn component(&self, name: &str, version: i32) -> anyhow::Result<Vec<u8>> {
        let path = format!("{}/versions/{version}/component", item(paths::PLUGINS, name));
        let res = self.send(|c| c.get(self.url(&path)))?;
        Ok(res.bytes().context("cannot read the component")?.to_vec())
    }

    fn upload(&self, up: Upload) -> anyhow::Result<Value> {
        let mut url = url::Url::parse(&self.url(&format!("{}/versions", item(paths::PLUGINS, &up.name))))?;
        if let Some(claims) = &up.declared_claims {
            url.query_pairs_mut().append_pair("declared_claims", &claims.join(","));
        }
        let res = self.send(|c| {
            let mut req = c.post(url.as_str()).header(header::CONTENT_TYPE, "application/wasm");
            if let Some(sig) = &up.signature {
                // A bundle's JSON may span lines; a header cannot.
                req = req.header(SIGNATURE_HEADER, crate::plugin_signatures::one_line(sig));
            }
            req.body(up.wasm)
        })?;
        res.json().context("the server's answer is not JSON")
    }

    fn password_hashes(&self) -> anyhow::Result<BTreeMap<String, String>> {
        bail!(
            "the management API never returns password hashes: export them on the server's machine (without --server)"
        )
    }

    fn set_password_hash(&self, _user_id: &str, _hash: &str) -> anyhow::Result<()> {
        bail!(
            "the management API takes passwords, never hashes: apply a directory holding password_hash on the \
             server's machine (without --server), or use {{\"password\": {{\"env\": \"NAME\"}}}} instead"
        )
    }

    fn shadow_report(&self, binding_id: &str) -> anyhow::Result<Option<Value>> {
        // 404 means no candidate once the binding itself is known to exist.
        self.get(Kind::Bindings, binding_id)?;
        match self.get_json(&paths::binding_shadow(binding_id)) {
            Ok((report, _)) => Ok(Some(report)),
            Err(e) if super::backend::is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn end_shadow(&self, binding_id: &str, promote: bool) -> anyhow::Result<Value> {
        let path =
            if promote { paths::binding_shadow_promote(binding_id) } else { paths::binding_shadow_discard(binding_id) };
        let res = self.send(|c| c.post(self.url(&path)))?;
        res.json().context("the server's answer is not JSON")
    }

    fn keys(&self) -> anyhow::Result<Vec<Value>> {
        self.paged(paths::KEYS)
    }

    fn rotate_keys(&self, alg: Option<&str>) -> anyhow::Result<Vec<Value>> {
        // The API rotates one algorithm per request (each audited on its
        // own); without --alg, every algorithm of the key ring, as locally.
        let algs: Vec<String> = match alg {
            Some(a) => vec![a.to_owned()],
            None => {
                let mut algs: Vec<String> =
                    self.keys()?.iter().filter_map(|k| k["alg"].as_str().map(str::to_owned)).collect();
                algs.dedup();
                algs
            }
        };
        let mut report = Vec::new();
        for alg in algs {
            let res = self.send(|c| c.post(self.url(paths::KEYS)).json(&json!({ "alg": alg })))?;
            let r: Value = res.json().context("the server's answer is not JSON")?;
            report.push(json!({"alg": r["alg"], "retired": r["retired"], "current": r["current"]["kid"], "next": r["next"]["kid"]}));
        }
        Ok(report)
    }

    fn retire_key(&self, kid: &str) -> anyhow::Result<Value> {
        let path = item(paths::KEYS, kid);
        let (_, etag) = self.get_json(&path)?;
        let res = self.send(|c| {
            c.patch(self.url(&path))
                .header(header::IF_MATCH, etag)
                .header(header::CONTENT_TYPE, "application/merge-patch+json")
                .body(json!({"state": "retired"}).to_string())
        })?;
        res.json().context("the server's answer is not JSON")
    }

    fn admins(&self) -> anyhow::Result<Vec<Value>> {
        self.paged(paths::ADMINS)
    }

    fn create_admin(&self, username: &str, password: &str, role: &str) -> anyhow::Result<Value> {
        let body = json!({ "username": username, "password": password, "role": role });
        let res = self.send(|c| c.post(self.url(paths::ADMINS)).json(&body))?;
        res.json().context("the server's answer is not JSON")
    }

    fn delete_admin(&self, id: &str) -> anyhow::Result<()> {
        let path = item(paths::ADMINS, id);
        let (_, etag) = self.get_json(&path)?;
        self.send(|c| c.delete(self.url(&path)).header(header::IF_MATCH, etag))?;
        Ok(())
    }

    fn set_admin_password(&self, username: &str, password: &str) -> anyhow::Result<()> {
        let id = self.admin_id(username)?;
        let (_, etag) = self.get_json(&item(paths::ADMINS, &id))?;
        let body = json!({ "password": password });
        let path = paths::admin_password(&id);
        self.send(|c| c.put(self.url(&path)).header(header::IF_MATCH, etag).json(&body))?;
        Ok(())
    }

    fn reset_admin_second_factor(&self, username: &str) -> anyhow::Result<()> {
        let id = self.admin_id(username)?;
        let (_, etag) = self.get_json(&item(paths::ADMINS, &id))?;
        let path = paths::admin_second_factor(&id);
        self.send(|c| c.delete(self.url(&path)).header(header::IF_MATCH, etag))?;
        Ok(())
    }

    fn audit_head(&self) -> anyhow::Result<(ChainHead, Option<AuditEvent>)> {
        let (head, _) = self.get_json(paths::AUDIT_CHAIN)?;
        let seq = head["seq"].as_i64().ok_or_else(|| anyhow!("the server's audit chain head has no seq"))?;
        let hash = head["hash"].as_str().ok_or_else(|| anyhow!("the server's audit chain head has no hash"))?;
        let unchained = match &head["unchained"] {
            Value::Null => None,
            e => Some(chained_event(e)?.event),
        };
        Ok((ChainHead { seq, hash: hash.to_owned() }, unchained))
    }

    fn audit_chain(
        &self,
        since: Option<i64>,
        before: Option<i64>,
        each: &mut dyn FnMut(ChainedEvent) -> anyhow::Result<ControlFlow<()>>,
    ) -> anyhow::Result<()> {
        let mut query = vec![("order", "chain".to_owned())];
        query.extend(since.map(|s| ("since", s.to_string())));
        query.extend(before.map(|u| ("until", u.to_string())));
        self.each_item(paths::AUDIT_EVENTS, &query, usize::MAX, &mut |e| each(chained_event(&e)?))
    }

    fn runs(&self, binding: Option<&str>, limit: usize) -> anyhow::Result<Vec<Value>> {
        let query: Vec<_> = binding.map(|b| ("binding", b.to_owned())).into_iter().collect();
        let mut runs = Vec::new();
        self.each_item(paths::PLUGIN_RUNS, &query, limit, &mut |r| {
            // The API's log lines are formatted ("level message").
            runs.push(json!({"id": r["id"], "binding_id": r["binding_id"], "grant_type": r["grant_type"],
                "client_id": r["client_id"], "at": r["at"], "duration_us": r["duration_us"], "outcome": r["outcome"],
                "detail": r["detail"], "logs": r["logs"], "http": r["http"]}));
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(runs)
    }

    fn rollback(&self, name: &str, to: i32) -> anyhow::Result<usize> {
        // The API has no plugin-wide rollback: each binding of the plugin
        // is patched to the version (each change audited on its own).
        self.versions(name)?
            .iter()
            .find(|v| v["version"] == to)
            .ok_or_else(|| anyhow!("plugin {name:?} version {to} not found"))?;
        let mut n = 0;
        for b in self.list(Kind::Bindings)?.iter().filter(|b| b["plugin"] == name) {
            let id = b["binding"]["id"].as_str().ok_or_else(|| anyhow!("a binding without an id"))?;
            self.update(Kind::Bindings, id, json!({ "version": to }))?;
            n += 1;
        }
        Ok(n)
    }
}
