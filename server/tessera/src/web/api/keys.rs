//! `/api/v1/keys`: the signing key ring, through the functions `tessera
//! keys` and the console's keys page call (`service::admin::keys`). Reads
//! show public facts only (the view has no private material); a rotation
//! works on one algorithm; retiring a key is a merge patch of its `state`.

use super::bearer::{Bearer, scope};
use super::body::{json_object, parse_fields, patched};
use super::etag::{self, etag_of};
use super::problem::{BodyProblems, GuardProblems, PreconditionProblems, Problem, ProblemBody};
use super::{Reply, blocking, created, ok};
use crate::service::admin::{self, AdminError};
use crate::service::db::Db;
use crate::service::management::{self, PageRequest};
use crate::service::precondition::guarded;
use crate::service::views::SigningKeyView;
use crate::web::AppState;
use crate::web::routes::api as paths;
use actix_web::{HttpRequest, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_protocol::model::{SigningAlg, UnsupportedAlg};
use tessera_store::keys::KeyState;
use tessera_store::row_lock::Row;
use utoipa::{IntoParams, ToSchema};

/// The query of the key list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only keys of this algorithm (RS256, ES256, EdDSA).
    pub alg: Option<String>,
    /// Only keys in this state (`next`, `current`, `retired`).
    pub state: Option<String>,
}

/// A page of signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The keys, by algorithm, then current, next, retired, newest first.
    pub items: Vec<SigningKeyView>,
    /// Give it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// A rotation request: which algorithm's key ring takes a step.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct RotateBody {
    /// RS256, ES256 or EdDSA.
    pub alg: String,
}

/// What a rotation did: the keys that now sign and come next, and the kids
/// it retired.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRotation {
    /// The algorithm rotated.
    pub alg: String,
    /// The key that now signs (the former next key).
    pub current: SigningKeyView,
    /// The new next key, published ahead of signing.
    pub next: SigningKeyView,
    /// The kids of the keys that stopped signing.
    pub retired: Vec<String>,
}

/// A key as it is patched: only `state`, and only to `retired`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default)]
pub struct KeyPatch {
    /// `retired` retires the key now (its algorithm keeps a current and a
    /// next key: retiring the current key rotates the algorithm).
    pub state: String,
}

fn find(store: &impl Db, kid: &str) -> Result<SigningKeyView, Problem> {
    admin::find_key(store, kid)?.ok_or_else(|| Problem::from(AdminError::NotFound(format!("signing key {kid}"))))
}

/// Lists signing keys, by algorithm, then current, next, retired.
#[utoipa::path(
    tag = "keys",
    params(KeyQuery),
    responses(
        (status = 200, description = "A page of keys", body = KeyList),
        (status = 400, description = "A bad limit, cursor, alg or state", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
    ),
    security(("bearer" = ["read:keys"]))
)]
#[get("/keys")]
async fn list(_auth: Bearer<scope::ReadKeys>, state: web::Data<AppState>, q: web::Query<KeyQuery>) -> Reply {
    let q = q.into_inner();
    let key_state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<KeyState>().map_err(|e| Problem::field("state", e.to_string()))?),
    };
    let alg = match q.alg.as_deref() {
        None => None,
        Some(a) => Some(a.parse::<SigningAlg>().map_err(|e: UnsupportedAlg| Problem::field("alg", e.to_string()))?),
    };
    let req = PageRequest { limit: q.limit, cursor: q.cursor, prefix: None };
    let page = blocking(move || Ok(management::keys_page(&state.store, &req, alg.map(SigningAlg::as_str), key_state)?))
        .await?;
    ok(&KeyList { items: page.items, next_cursor: page.next_cursor }, None)
}

/// Rotates one algorithm's keys: its current key retires, its next key
/// signs, and a new next key is published (as `tessera keys rotate` does
/// for every algorithm).
#[utoipa::path(
    tag = "keys",
    request_body(content = RotateBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Rotated; Location names the new next key", body = KeyRotation),
        (status = 400, description = "The alg is missing, unknown or HS256", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:keys"]))
)]
#[post("/keys")]
async fn rotate(
    auth: Bearer<scope::WriteKeys>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let body: RotateBody = parse_fields(json_object(&req, payload, false).await?, &["alg"])?;
    let alg: SigningAlg = body.alg.parse().map_err(|e: UnsupportedAlg| Problem::field("alg", e.to_string()))?;
    let actor = auth.audit_name();
    let rotation = blocking(move || {
        let now = state.oauth.management.now();
        let (master, publish) = (state.keys.master(), state.admin.retired_publish_secs);
        let report = admin::rotate_alg_keys(&state.store, master, &actor, now, alg, publish)?;
        let kid = |field: &str| report[field].as_str().map(str::to_owned).unwrap_or_default();
        let retired =
            report["retired"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
        Ok(KeyRotation {
            alg: alg.as_str().to_owned(),
            current: find(&state.store, &kid("current"))?,
            next: find(&state.store, &kid("next"))?,
            retired,
        })
    })
    .await?;
    created(&paths::key(&rotation.next.kid), &rotation)
}

/// One signing key: its public JWK, algorithm, state and dates.
#[utoipa::path(
    tag = "keys",
    params(("id" = String, Path, description = "The key's kid")),
    responses(
        (status = 200, description = "The key; ETag for If-Match", body = SigningKeyView,
            headers(("ETag" = String, description = "The version to send as If-Match"))),
        GuardProblems,
        (status = 404, description = "No such key (or purged after retirement)", body = ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read:keys"]))
)]
#[get("/keys/{id}")]
async fn show(_auth: Bearer<scope::ReadKeys>, state: web::Data<AppState>, id: web::Path<String>) -> Reply {
    let k = blocking(move || find(&state.store, &id)).await?;
    let tag = etag_of(&k)?;
    ok(&k, Some(tag))
}

/// Retires a key now: a merge patch `{"state": "retired"}` of its
/// [`KeyPatch`]. Tokens it signed still verify while it stays published.
#[utoipa::path(
    tag = "keys",
    params(("id" = String, Path, description = "The key's kid"),
        ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body(content = KeyPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The key, retired", body = SigningKeyView,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "A field is unknown, or a state other than retired", body = ProblemBody, content_type = "application/problem+json"),
        GuardProblems,
        (status = 404, description = "No such key", body = ProblemBody, content_type = "application/problem+json"),
        PreconditionProblems,
        BodyProblems,
    ),
    security(("bearer" = ["write:keys"]))
)]
#[patch("/keys/{id}")]
async fn update(
    auth: Bearer<scope::WriteKeys>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let if_match = etag::required_if_match(&req)?;
    let patch = Value::Object(json_object(&req, payload, true).await?);
    let actor = auth.audit_name();
    let key = blocking(move || {
        let now = state.oauth.management.now();
        let master = state.keys.master();
        guarded(&state.store, Row::SigningKey(&id), &if_match, |db| find(db, &id), |db| {
            let current = find(db, &id)?;
            let body = patched(&KeyPatch { state: current.state.as_str().to_owned() }, &patch, &["state"])?;
            if body.state == current.state.as_str() {
                return Ok(current);
            }
            if body.state != KeyState::Retired.as_str() {
                return Err(Problem::field(
                    "state",
                    "only \"retired\" can be set; POST /api/v1/keys rotates an algorithm to make its next key current",
                ));
            }
            admin::retire_key(db, master, &actor, now, &id)?;
            find(db, &id)
        })
    })
    .await?;
    let tag = etag_of(&key)?;
    ok(&key, Some(tag))
}

/// Mounts the key operations.
pub fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    scope.service(list).service(rotate).service(show).service(update)
}
