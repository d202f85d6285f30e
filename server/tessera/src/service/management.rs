//! What the management API needs beyond the console's use cases (issue #14):
//! cursor paging over the views (configuration in memory, the audit log and
//! plugin runs in the database), the upload that is idempotent by content
//! hash, and the bootstrap of the first management client. Every change
//! still goes through `service::admin` and `service::plugins`, the console's
//! own functions, so the rules and the audit trail are the same on both.

use crate::clock;
use crate::crypto::MasterKey;
use crate::plugin_signatures::SignaturePolicy;
use crate::service::admin::{self, AdminError, ApiEdit, NewApi, NewClient};
use crate::service::oauth::management::{MANAGEMENT_AUDIENCE, ManagementScope};
use crate::service::plugins::{self, BindingEntry, NewUpload};
use crate::service::views::{
    self, AdminView, ApiView, AuditChainView, AuditEventView, ClientView, PluginVersionView, PluginView, RunView,
    SigningKeyView, UserView,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tessera_plugin_host::PluginHost;
use tessera_protocol::model::{GrantType, SigningAlg};
use tessera_protocol::secret::PlainSecret;
use tessera_store::audit::{self, AuditFilter};
use tessera_store::clients::Client;
use tessera_store::keys::KeyState;
use tessera_store::plugins::RunFilter;
use tessera_store::{Store, StoreError, apis, plugins as plugin_rows};

/// The page size when a request names none.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page a request may ask for.
pub const MAX_LIMIT: usize = 200;

/// One page as a list request asks for it.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Items per page; `None`: [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page; `None`: the first page.
    pub cursor: Option<String>,
    /// Only items whose name starts with this.
    pub prefix: Option<String>,
}

/// One page of a list, in a stable order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Opaque; give it back as `cursor` for the next page. `None` on the last.
    pub next_cursor: Option<String>,
}

/// Pages `rows` by keyset: sorted by `sort_key` (unique per row), the cursor
/// is the last key shown, so rows added or removed between two requests
/// neither repeat nor shift a page. `name` is what `prefix` filters on.
///
/// The rows come whole from the store: the resources paged this way
/// (users, clients, APIs, plugins, bindings) are configuration, hundreds of rows,
/// not millions.
pub fn page<T>(
    rows: Vec<T>,
    req: &PageRequest,
    sort_key: impl Fn(&T) -> String,
    name: impl Fn(&T) -> &str,
) -> Result<Page<T>, AdminError> {
    let limit = limit_of(req.limit)?;
    let after = cursor_key(req.cursor.as_deref())?;
    let mut keyed: Vec<(String, T)> = rows
        .into_iter()
        .filter(|r| req.prefix.as_deref().is_none_or(|p| name(r).starts_with(p)))
        .map(|r| (sort_key(&r), r))
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let more = keyed.len() > limit;
    keyed.truncate(limit);
    let next_cursor = if more { keyed.last().map(|(k, _)| URL_SAFE_NO_PAD.encode(k)) } else { None };
    Ok(Page { items: keyed.into_iter().map(|(_, r)| r).collect(), next_cursor })
}

/// The page size `limit` asks for, or [`DEFAULT_LIMIT`]; out of range is
/// an invalid `limit`.
fn limit_of(limit: Option<usize>) -> Result<usize, AdminError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AdminError::Invalid { field: "limit", message: format!("must be between 1 and {MAX_LIMIT}") });
    }
    Ok(limit)
}

/// The sort key a cursor carries; one this API did not give is an invalid
/// `cursor`.
fn cursor_key(cursor: Option<&str>) -> Result<Option<String>, AdminError> {
    let Some(c) = cursor else { return Ok(None) };
    let key = URL_SAFE_NO_PAD.decode(c).ok().and_then(|b| String::from_utf8(b).ok());
    key.map(Some)
        .ok_or_else(|| AdminError::Invalid { field: "cursor", message: "is not a cursor this API gave".into() })
}

/// A list of events in time, and the part of it one request asks for: the
/// audit log and the plugin runs are paged in the database (they grow with
/// traffic), by a keyset cursor, newest first unless `oldest_first`.
#[derive(Debug, Clone, Default)]
pub struct TimeRange {
    /// Items per page; `None`: [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page; `None`: the first page.
    pub cursor: Option<String>,
    /// Only items at or after this, Unix seconds.
    pub since: Option<i64>,
    /// Only items before this, Unix seconds.
    pub until: Option<i64>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

impl TimeRange {
    /// Checks the limit and the range; returns the limit.
    fn limit(&self) -> Result<usize, AdminError> {
        if let (Some(s), Some(u)) = (self.since, self.until)
            && u <= s
        {
            return Err(AdminError::Invalid { field: "until", message: "must be after since".into() });
        }
        limit_of(self.limit)
    }
}

/// Cuts a page fetched with one row more than `limit`: the extra row only
/// says there is a next page, whose cursor is the last kept row's key.
fn keyset_page<T>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(|r| URL_SAFE_NO_PAD.encode(key(r))) } else { None };
    Page { items: rows, next_cursor }
}

/// A page of audit events matching `filter` within `range`, by time.
pub fn audit_page(store: &Store, filter: &AuditFilter, range: &TimeRange) -> Result<Page<AuditEventView>, AdminError> {
    let limit = range.limit()?;
    let after = match cursor_key(range.cursor.as_deref())? {
        None => None,
        Some(k) => {
            let parsed = k.split_once('\u{1}').and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())));
            Some(parsed.ok_or_else(|| AdminError::Invalid {
                field: "cursor",
                message: "is not a cursor this API gave".into(),
            })?)
        }
    };
    let rows = audit::page(
        &mut *store.conn()?,
        filter,
        range.since,
        range.until,
        range.oldest_first,
        after.as_ref().map(|(at, id)| (*at, id.as_str())),
        i64::try_from(limit + 1).unwrap_or(i64::MAX),
    )?;
    let page = keyset_page(rows, limit, |r| key(&[&r.event.at.to_string(), &r.event.id]));
    Ok(Page { items: page.items.into_iter().map(AuditEventView::from).collect(), next_cursor: page.next_cursor })
}

/// A page of the audit log's hash chain in `seq` order (what `tessera
/// audit verify --server` walks and `audit export --server` writes): only
/// chained events, within `range`'s time bounds, after the cursor's `seq`.
pub fn audit_chain_page(store: &Store, range: &TimeRange) -> Result<Page<AuditEventView>, AdminError> {
    let limit = range.limit()?;
    let after_seq = match cursor_key(range.cursor.as_deref())? {
        None => 0,
        Some(k) => k.parse::<i64>().map_err(|_| AdminError::Invalid {
            field: "cursor",
            message: "is not a cursor this API gave for order=chain".into(),
        })?,
    };
    let rows = audit::chained(
        &mut *store.conn()?,
        range.since,
        range.until,
        after_seq,
        i64::try_from(limit + 1).unwrap_or(i64::MAX),
    )?;
    let page = keyset_page(rows, limit, |e| e.seq.unwrap_or_default().to_string());
    Ok(Page { items: views::all(page.items), next_cursor: page.next_cursor })
}

/// The audit chain's head and the oldest event outside the chain: where
/// a verification of the chain ends, and what it reports after an intact
/// walk.
pub fn audit_chain_head(store: &Store) -> Result<AuditChainView, StoreError> {
    let mut conn = store.conn()?;
    let head = audit::head(&mut conn)?;
    let unchained = audit::first_unchained(&mut conn)?;
    Ok(AuditChainView { seq: head.seq, hash: head.hash, unchained: unchained.map(AuditEventView::from) })
}

/// One audit event, if it exists.
pub fn audit_event(store: &Store, id: &str) -> Result<Option<AuditEventView>, StoreError> {
    Ok(audit::find(&mut *store.conn()?, id)?.map(AuditEventView::from))
}

/// Which plugin runs to list: every set field must match.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// The plugin's name (any of its versions).
    pub plugin: Option<String>,
    /// The binding's id.
    pub binding: Option<String>,
    /// The token request's client id.
    pub client: Option<String>,
    /// The outcome (`ok`, `denied`, or a failure code).
    pub outcome: Option<String>,
}

/// A page of plugin run records matching `q` within `range`, by time.
pub fn runs_page(store: &Store, q: &RunQuery, range: &TimeRange) -> Result<Page<RunView>, AdminError> {
    let limit = range.limit()?;
    let after = cursor_key(range.cursor.as_deref())?;
    let mut conn = store.conn()?;
    let version_ids = match &q.plugin {
        None => None,
        Some(name) => Some(match plugin_rows::find_by_name(&mut conn, name)? {
            Some(p) => plugin_rows::versions(&mut conn, &p.id)?.into_iter().map(|v| v.id).collect(),
            None => vec![],
        }),
    };
    let filter = RunFilter {
        binding_id: q.binding.clone(),
        client_id: q.client.clone(),
        outcome: q.outcome.clone(),
        version_ids,
        since: range.since,
        until: range.until,
    };
    let rows = plugin_rows::run_page(
        &mut conn,
        &filter,
        range.oldest_first,
        after.as_deref(),
        i64::try_from(limit + 1).unwrap_or(i64::MAX),
    )?;
    let page = keyset_page(rows, limit, |r| r.id.clone());
    Ok(Page { items: page.items.into_iter().map(RunView::from).collect(), next_cursor: page.next_cursor })
}

/// One plugin run record, if it is still kept.
pub fn plugin_run(store: &Store, id: &str) -> Result<Option<RunView>, StoreError> {
    Ok(plugin_rows::find_run(&mut *store.conn()?, id)?.map(RunView::from))
}

/// A page of signing keys, by algorithm, then current, next, retired,
/// newest first; `alg` and `state` filter.
pub fn keys_page(
    store: &Store,
    req: &PageRequest,
    alg: Option<&str>,
    state: Option<KeyState>,
) -> Result<Page<SigningKeyView>, AdminError> {
    let all: Vec<SigningKeyView> = admin::list_keys(store)?
        .into_iter()
        .filter(|k| alg.is_none_or(|a| k.alg == a) && state.is_none_or(|s| k.state == s))
        .collect();
    let rank = |s: KeyState| match s {
        KeyState::Current => "0",
        KeyState::Next => "1",
        KeyState::Retired => "2",
    };
    // Newest first within a state: the creation time counted down from the largest i64, padded.
    let sort = |k: &SigningKeyView| key(&[&k.alg, rank(k.state), &format!("{:020}", i64::MAX - k.created_at), &k.kid]);
    page(all, req, sort, |k| &k.kid)
}

/// A page of administrators, by username; `prefix` filters the username.
pub fn admins_page(store: &Store, req: &PageRequest) -> Result<Page<AdminView>, AdminError> {
    let all = crate::service::console::list_admins(store)?;
    page(all, req, |a| key(&[&a.username, &a.id]), |a| &a.username)
}

/// Sort keys join their parts with a byte that names never hold.
fn key(parts: &[&str]) -> String {
    parts.join("\u{1}")
}

/// A page of clients, by name then id.
pub fn clients_page(store: &Store, req: &PageRequest) -> Result<Page<ClientView>, AdminError> {
    let all = admin::list_clients(store, 0, i64::MAX)?;
    page(all, req, |c| key(&[&c.name, &c.id]), |c| &c.name)
}

/// A page of users, by username then id; `prefix` filters the username.
pub fn users_page(store: &Store, req: &PageRequest) -> Result<Page<UserView>, AdminError> {
    let all = admin::list_users(store, "", 0, i64::MAX)?;
    page(all, req, |u| key(&[&u.username, &u.id]), |u| &u.username)
}

/// A page of APIs, by identifier; `prefix` filters the identifier.
pub fn apis_page(store: &Store, req: &PageRequest) -> Result<Page<ApiView>, AdminError> {
    let all = admin::list_apis(store, 0, i64::MAX)?;
    page(all, req, |a| key(&[&a.identifier, &a.id]), |a| &a.identifier)
}

/// A page of plugins, by name.
pub fn plugins_page(store: &Store, req: &PageRequest) -> Result<Page<PluginView>, AdminError> {
    let all: Vec<PluginView> = plugins::list_plugins(store, 0, i64::MAX)?.into_iter().map(|(p, _)| p).collect();
    page(all, req, |p| key(&[&p.name, &p.id]), |p| &p.name)
}

/// A page of token bindings in pipeline order (position, then id);
/// `prefix` filters the plugin's name.
pub fn bindings_page(store: &Store, req: &PageRequest) -> Result<Page<BindingEntry>, AdminError> {
    let all = plugins::binding_entries(store)?;
    // Positions are i32: shifted to u32 and zero-padded they sort as text.
    let position = |b: &BindingEntry| format!("{:010}", i64::from(b.binding.position) - i64::from(i32::MIN));
    page(all, req, |b| key(&[&position(b), &b.binding.id]), |b| &b.plugin)
}

/// One plugin, if it exists.
pub fn plugin(store: &Store, name: &str) -> Result<Option<PluginView>, StoreError> {
    Ok(plugins::plugin_detail(store, name)?.map(|d| d.plugin))
}

/// A plugin's versions, newest first; `None` if the plugin does not exist.
pub fn plugin_versions(store: &Store, name: &str) -> Result<Option<Vec<PluginVersionView>>, StoreError> {
    Ok(plugins::plugin_detail(store, name)?.map(|d| d.versions))
}

/// The component of version `number` of plugin `name`; `None` if either
/// does not exist (what `tessera export` writes beside the plugin).
pub fn component(store: &Store, name: &str, number: i32) -> Result<Option<Vec<u8>>, StoreError> {
    let mut conn = store.conn()?;
    let Some(p) = plugin_rows::find_by_name(&mut conn, name)? else { return Ok(None) };
    let Some(v) = plugin_rows::version_by_number(&mut conn, &p.id, Some(number))? else { return Ok(None) };
    Ok(Some(plugin_rows::wasm(&mut conn, &v.id)?))
}

/// Uploads a plugin version unless the plugin already has one with the same
/// content (and, when this upload is signed, the same signer): then that
/// version is returned and nothing is written (`false`), so a CI pipeline
/// can upload on every run. The signature policy is applied either way: a
/// repeat upload is refused where a first one would be; a signed upload of
/// content stored unsigned makes a new, signed version.
pub fn upload_once(
    store: &Store,
    host: &PluginHost,
    policy: &SignaturePolicy,
    actor: &str,
    now: i64,
    up: NewUpload<'_>,
) -> Result<(PluginVersionView, bool), AdminError> {
    plugins::validate_name(up.name)?;
    let signed_by = policy
        .check(up.wasm, up.signature)
        .map_err(|e| AdminError::Invalid { field: "signature", message: e.to_string() })?;
    let sha256 = crate::crypto::sha256_hex(up.wasm);
    {
        let mut conn = store.conn()?;
        if let Some(p) = plugin_rows::find_by_name(&mut conn, up.name)? {
            let same = plugin_rows::versions(&mut conn, &p.id)?
                .into_iter()
                .find(|v| v.sha256 == sha256 && (signed_by.is_none() || v.signed_by == signed_by));
            if let Some(v) = same {
                return Ok((v.into(), false));
            }
        }
    }
    let (_, version, _) = plugins::upload(store, host, policy, actor, now, up)?;
    Ok((version.into(), true))
}

/// Makes sure the management API exists as an API (its audience, every
/// [`ManagementScope`]), so the token endpoint issues its tokens like any
/// other API's; an older row gains the scopes added since.
fn ensure_management_api(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    now: i64,
    lifetime_secs: i64,
) -> Result<(), AdminError> {
    let audience = MANAGEMENT_AUDIENCE.to_owned();
    let all: Vec<String> = ManagementScope::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    let existing = apis::find_by_identifier(&mut *store.conn()?, &audience)?;
    match existing {
        None => {
            admin::create_api(
                store,
                master,
                actor,
                now,
                NewApi {
                    identifier: audience,
                    name: Some("Tessera management API".into()),
                    alg: SigningAlg::RS256,
                    token_lifetime_secs: lifetime_secs,
                    scopes: all,
                    resource_servers: vec![],
                },
            )?;
        }
        Some(api) if all.iter().any(|s| !api.scopes.contains(s)) => {
            let resource_servers = apis::resource_servers(&mut *store.conn()?, &api.id)?;
            let mut scopes = api.scopes.clone();
            scopes.extend(all.into_iter().filter(|s| !api.scopes.contains(s)));
            admin::update_api(
                store,
                actor,
                now,
                &api.id,
                ApiEdit {
                    name: api.name,
                    alg: api.alg,
                    token_lifetime_secs: api.token_lifetime_secs,
                    scopes,
                    resource_servers,
                },
            )?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Creates a management client: a confidential `client_credentials` client
/// limited to the management API's audience and `scopes` (creating that API
/// on first use). The secret is returned once, as `client create` does.
pub fn create_management_client(
    store: &Store,
    master: &MasterKey,
    actor: &str,
    name: &str,
    scopes: &[ManagementScope],
    lifetime_secs: i64,
) -> Result<(Client, PlainSecret), AdminError> {
    if scopes.is_empty() {
        return Err(AdminError::Invalid { field: "scopes", message: "name at least one scope".into() });
    }
    let now = clock::now();
    ensure_management_api(store, master, actor, now, lifetime_secs)?;
    let new = NewClient {
        name: name.to_owned(),
        grant_types: vec![GrantType::ClientCredentials.as_str().to_owned()],
        scopes: Some(scopes.iter().map(|s| s.as_str().to_owned()).collect()),
        audiences: Some(vec![MANAGEMENT_AUDIENCE.to_owned()]),
        metadata: json!({"management": true}),
        ..NewClient::default()
    };
    let (client, secret) = admin::create_client(store, actor, now, new)?;
    let secret = secret.ok_or_else(|| AdminError::Internal("a confidential client got no secret".into()))?;
    Ok((client, secret))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names<'a>(p: &Page<&'a str>) -> Vec<&'a str> {
        p.items.clone()
    }

    #[test]
    fn pages_follow_the_cursor_in_key_order_and_filter_by_prefix() {
        let rows = vec!["delta", "alpha", "charlie", "bravo", "alpine"];
        let req = PageRequest { limit: Some(2), ..PageRequest::default() };
        let first = page(rows.clone(), &req, |r| r.to_string(), |r| r).unwrap();
        assert_eq!(names(&first), ["alpha", "alpine"]);
        let second =
            page(rows.clone(), &PageRequest { cursor: first.next_cursor, ..req.clone() }, |r| r.to_string(), |r| r)
                .unwrap();
        assert_eq!(names(&second), ["bravo", "charlie"]);
        let third =
            page(rows.clone(), &PageRequest { cursor: second.next_cursor, ..req.clone() }, |r| r.to_string(), |r| r)
                .unwrap();
        assert_eq!(names(&third), ["delta"]);
        assert!(third.next_cursor.is_none());
        let al =
            page(rows, &PageRequest { prefix: Some("al".into()), ..PageRequest::default() }, |r| r.to_string(), |r| r)
                .unwrap();
        assert_eq!(names(&al), ["alpha", "alpine"]);
    }

    #[test]
    fn bad_limits_and_cursors_name_their_field() {
        let rows = vec!["a"];
        for (req, field) in [
            (PageRequest { limit: Some(0), ..PageRequest::default() }, "limit"),
            (PageRequest { limit: Some(MAX_LIMIT + 1), ..PageRequest::default() }, "limit"),
            (PageRequest { cursor: Some("%%%".into()), ..PageRequest::default() }, "cursor"),
        ] {
            match page(rows.clone(), &req, |r| r.to_string(), |r| r) {
                Err(AdminError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }
}
