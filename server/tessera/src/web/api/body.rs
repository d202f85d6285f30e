//! Request bodies: JSON read to a bound, parsed into a body type with every
//! field named on failure, and JSON Merge Patch (RFC 7396) applied to the
//! current representation before it is parsed the same way.

use super::problem::{Problem, ProblemKind};
use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The largest JSON body the management API reads: configuration objects,
/// not files (plugin components have their own bound).
pub const MAX_JSON_BYTES: usize = 256 * 1024;

/// The media type of a merge patch (RFC 7396 §4).
pub const MERGE_PATCH_JSON: &str = "application/merge-patch+json";

/// Reads up to `limit` bytes of `payload`; more is 413.
pub async fn read_limited(payload: web::Payload, limit: usize) -> Result<web::Bytes, Problem> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => Err(Problem::new(ProblemKind::InvalidBody, format!("the body could not be read: {e}"))),
        Err(_) => Err(Problem::new(ProblemKind::PayloadTooLarge, format!("the body exceeds {limit} bytes"))),
    }
}

/// The body as a JSON object; `patch` also admits `application/merge-patch+json`.
pub async fn json_object(req: &HttpRequest, payload: web::Payload, patch: bool) -> Result<Map<String, Value>, Problem> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != "application/json" && !(patch && essence == MERGE_PATCH_JSON) {
        let wanted = if patch { "application/merge-patch+json or application/json" } else { "application/json" };
        return Err(Problem::new(ProblemKind::UnsupportedMediaType, format!("send {wanted}")));
    }
    let bytes = read_limited(payload, MAX_JSON_BYTES).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Problem::new(ProblemKind::InvalidBody, "the body must be a JSON object")),
        Err(e) => Err(Problem::new(ProblemKind::InvalidBody, format!("the body is not valid JSON: {e}"))),
    }
}

/// Applies `patch` to `target` (RFC 7396 §2): objects merge key by key, a
/// `null` removes the key, anything else replaces the value.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// `current` with the JSON Merge Patch (RFC 7396) `patch` applied, read
/// back as `T` with only `fields` allowed ([`parse_fields`]): how every
/// PATCH of the management API merges, so an absent field keeps its value
/// and a `null` one clears it.
pub fn patched<T: Serialize + DeserializeOwned>(current: &T, patch: &Value, fields: &[&str]) -> Result<T, Problem> {
    let mut merged = serde_json::to_value(current).map_err(Problem::internal)?;
    merge_patch(&mut merged, patch);
    let Value::Object(merged) = merged else { return Err(Problem::internal("a merged resource is an object")) };
    parse_fields(merged, fields)
}

/// Parses `object` into `T`, whose fields all have defaults (so one field
/// parses alone). A key outside `fields` is refused by name; a key whose
/// value does not fit is found by parsing each key alone and named too.
pub fn parse_fields<T: DeserializeOwned>(object: Map<String, Value>, fields: &[&str]) -> Result<T, Problem> {
    if let Some(unknown) = object.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(Problem::field(unknown.clone(), format!("is not a field here (fields: {})", fields.join(", "))));
    }
    match serde_json::from_value::<T>(Value::Object(object.clone())) {
        Ok(t) => Ok(t),
        Err(whole) => {
            for (k, v) in object {
                if let Err(e) = serde_json::from_value::<T>(Value::Object(Map::from_iter([(k.clone(), v)]))) {
                    return Err(Problem::field(k, e.to_string()));
                }
            }
            Err(Problem::new(ProblemKind::InvalidBody, whole.to_string()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7396 Appendix A.
    #[test]
    fn merge_patch_follows_rfc_7396() {
        for (target, patch, result) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ] {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, result, "{target} + {patch}");
        }
    }

    #[derive(Debug, serde::Deserialize, Default)]
    #[serde(default)]
    struct Body {
        name: String,
        count: i64,
    }

    #[test]
    fn parse_errors_name_the_field() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        let ok: Body = parse_fields(obj(json!({"name": "x"})), &["name", "count"]).unwrap();
        assert_eq!((ok.name.as_str(), ok.count), ("x", 0));
        let e = parse_fields::<Body>(obj(json!({"name": "x", "colour": 1})), &["name", "count"]).unwrap_err();
        assert_eq!(e.invalid_params[0].name, "colour");
        let e = parse_fields::<Body>(obj(json!({"name": "x", "count": "many"})), &["name", "count"]).unwrap_err();
        assert_eq!((e.status(), e.invalid_params[0].name.as_str()), (400, "count"));
    }
}
