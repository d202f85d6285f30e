//! The management API's reference as plain view structs, read from the
//! OpenAPI document the API serves ([`super::openapi_document`]): every
//! operation grouped by resource (its tag) with method, path, scope,
//! parameters, request and response schemas; every schema with its fields;
//! every problem type; every scope. The console renders it as a page
//! (`web/console/reference.rs`), so the page shows what the document says
//! and cannot drift from the code either.

use super::problem::ProblemKind;
use crate::service::oauth::management::ManagementScope;
use serde_json::{Map, Value};

/// The whole reference.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The API's version (the server's).
    pub version: String,
    /// The document's description.
    pub description: String,
    /// Operations by resource, in the order the API mounts them.
    pub groups: Vec<Group>,
    /// Every named schema, by name.
    pub schemas: Vec<SchemaDoc>,
    /// Every problem type.
    pub errors: Vec<ErrorType>,
    /// Every scope.
    pub scopes: Vec<ScopeDoc>,
}

/// The operations of one resource.
#[derive(Debug, Clone)]
pub struct Group {
    /// The resource (the operations' tag).
    pub tag: String,
    /// Its operations.
    pub operations: Vec<Operation>,
}

/// One operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path template (`/api/v1/apis/{id}`).
    pub path: String,
    /// An HTML id for links to it.
    pub anchor: String,
    /// The first line of its description.
    pub summary: String,
    /// The scopes it needs.
    pub scopes: Vec<String>,
    /// Its parameters.
    pub params: Vec<Param>,
    /// Its request body, if it takes one.
    pub request: Option<Body>,
    /// Its responses, by status.
    pub responses: Vec<Response>,
}

/// A parameter of an operation.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// `path`, `query` or `header`.
    pub location: String,
    /// Whether it must be sent.
    pub required: bool,
    /// Its type, as text.
    pub ty: String,
    /// What it means.
    pub description: String,
}

/// A request or response body.
#[derive(Debug, Clone)]
pub struct Body {
    /// Its media type.
    pub content_type: String,
    /// Its schema, as text (a schema's name, or a type).
    pub schema: String,
    /// The named schema it is, for a link to its fields.
    pub schema_ref: Option<String>,
}

/// A documented response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: String,
    /// What it means here.
    pub description: String,
    /// Its body, if it has one.
    pub body: Option<Body>,
}

/// A named schema.
#[derive(Debug, Clone)]
pub struct SchemaDoc {
    /// Its name (an HTML id too).
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its fields (empty for a non-object schema).
    pub fields: Vec<Field>,
}

/// A field of a schema.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type, as text.
    pub ty: String,
    /// The named schema it is, for a link.
    pub schema_ref: Option<String>,
    /// Whether every body has it.
    pub required: bool,
    /// What it means.
    pub description: String,
}

/// A problem type (RFC 9457 `type`).
#[derive(Debug, Clone)]
pub struct ErrorType {
    /// The `type` URI.
    pub type_uri: String,
    /// The HTTP status.
    pub status: u16,
    /// The fixed title.
    pub title: String,
}

/// A scope of the management API.
#[derive(Debug, Clone)]
pub struct ScopeDoc {
    /// Its name (`read:clients`).
    pub name: String,
    /// What it allows.
    pub description: String,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The name of the component schema `schema` refers to, if it is a `$ref`.
fn ref_name(schema: &Value) -> Option<String> {
    schema["$ref"].as_str().map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
}

/// A schema as short text (`string | null`, `array of ApiView`), and the
/// named schema it is or holds.
fn type_text(schema: &Value) -> (String, Option<String>) {
    if let Some(name) = ref_name(schema) {
        return (name.clone(), Some(name));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema[key].as_array() {
            let parts: Vec<(String, Option<String>)> = alts.iter().map(type_text).collect();
            let named = parts.iter().find_map(|(_, r)| r.clone());
            let joined: Vec<String> = parts.into_iter().map(|(t, _)| t).collect();
            return (joined.join(" | "), named);
        }
    }
    let types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts.iter().map(text).collect(),
        _ => vec![],
    };
    if types.iter().any(|t| t == "array") {
        let (inner, named) = type_text(&schema["items"]);
        let rest: Vec<&String> = types.iter().filter(|t| *t != "array").collect();
        let mut out = format!("array of {inner}");
        for r in rest {
            out.push_str(&format!(" | {r}"));
        }
        return (out, named);
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<String> =
            values.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect();
        return (format!("one of {}", names.join(", ")), None);
    }
    if types.is_empty() {
        return ("any".into(), None);
    }
    (types.join(" | "), None)
}

fn body(content: &Map<String, Value>) -> Option<Body> {
    let (media, c) = content.iter().next()?;
    let (schema, schema_ref) = type_text(&c["schema"]);
    Some(Body { content_type: media.clone(), schema, schema_ref })
}

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let params = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Param {
            name: text(&p["name"]),
            location: text(&p["in"]),
            required: p["required"].as_bool().unwrap_or(false),
            ty: type_text(&p["schema"]).0,
            description: text(&p["description"]),
        })
        .collect();
    let mut responses: Vec<Response> = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| Response {
            status: status.clone(),
            description: text(&r["description"]),
            body: r["content"].as_object().and_then(body),
        })
        .collect();
    responses.sort_by(|a, b| a.status.cmp(&b.status));
    let scopes = op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["bearer"].as_array())
        .flatten()
        .map(text)
        .collect();
    let description = text(&op["description"]);
    let summary = match text(&op["summary"]) {
        s if s.is_empty() => description.lines().next().unwrap_or_default().to_owned(),
        s => s,
    };
    let anchor = format!("op-{}-{}", method, path.replace(['/', '{', '}'], "-").trim_matches('-'));
    Operation {
        method: method.to_uppercase(),
        path: path.to_owned(),
        anchor,
        summary,
        scopes,
        params,
        request: op["requestBody"]["content"].as_object().and_then(body),
        responses,
    }
}

fn schema_doc(name: &str, schema: &Value) -> SchemaDoc {
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let fields = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(field, s)| {
            let (ty, schema_ref) = type_text(s);
            Field {
                name: field.clone(),
                ty,
                schema_ref,
                required: required.contains(&field.as_str()),
                description: text(&s["description"]),
            }
        })
        .collect();
    SchemaDoc { name: name.to_owned(), description: text(&schema["description"]), fields }
}

/// The reference of `doc`, an OpenAPI 3.1 document as JSON.
pub fn reference(doc: &Value) -> Reference {
    let mut groups: Vec<Group> = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let operation = operation(path, method, op);
            match groups.iter_mut().find(|g| g.tag == tag) {
                Some(g) => g.operations.push(operation),
                None => groups.push(Group { tag, operations: vec![operation] }),
            }
        }
    }
    let mut schemas: Vec<SchemaDoc> =
        doc["components"]["schemas"].as_object().into_iter().flatten().map(|(name, s)| schema_doc(name, s)).collect();
    schemas.sort_by(|a, b| a.name.cmp(&b.name));
    Reference {
        version: text(&doc["info"]["version"]),
        description: text(&doc["info"]["description"]),
        groups,
        schemas,
        errors: ProblemKind::ALL
            .iter()
            .map(|k| ErrorType { type_uri: k.type_uri(), status: k.status().as_u16(), title: k.title().to_owned() })
            .collect(),
        scopes: ManagementScope::ALL
            .iter()
            .map(|s| ScopeDoc { name: s.as_str().to_owned(), description: s.description().to_owned() })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_document_is_in_the_reference_with_its_scope() {
        let doc = serde_json::to_value(super::super::openapi_document()).unwrap();
        let r = reference(&doc);
        let documented: usize = doc["paths"].as_object().unwrap().values().map(|i| i.as_object().unwrap().len()).sum();
        let listed: usize = r.groups.iter().map(|g| g.operations.len()).sum();
        assert_eq!(listed, documented);
        for tag in ["clients", "apis", "plugins", "bindings", "keys", "admins", "audit", "runs"] {
            assert!(r.groups.iter().any(|g| g.tag == tag), "{tag} is not a group");
        }
        for op in r.groups.iter().flat_map(|g| &g.operations) {
            assert_eq!(op.scopes.len(), 1, "{} {}", op.method, op.path);
            assert!(op.responses.iter().any(|x| x.status == "401"), "{} {}", op.method, op.path);
        }
        let rotate =
            r.groups.iter().flat_map(|g| &g.operations).find(|o| o.method == "POST" && o.path == "/api/v1/keys");
        let rotate = rotate.unwrap();
        assert_eq!(rotate.scopes, ["write:keys"]);
        assert_eq!(rotate.request.as_ref().unwrap().schema_ref.as_deref(), Some("RotateBody"));
        assert!(r.schemas.iter().any(|s| s.name == "KeyRotation" && s.fields.iter().any(|f| f.name == "next")));
        assert_eq!(r.errors.len(), ProblemKind::ALL.len());
        assert_eq!(r.scopes.len(), ManagementScope::ALL.len());
    }

    #[test]
    fn types_read_as_text() {
        let t = |v: Value| type_text(&v).0;
        assert_eq!(t(serde_json::json!({"type": ["string", "null"]})), "string | null");
        assert_eq!(
            t(serde_json::json!({"type": "array", "items": {"$ref": "#/components/schemas/ApiView"}})),
            "array of ApiView"
        );
        assert_eq!(t(serde_json::json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/X"}]})), "null | X");
        assert_eq!(t(serde_json::json!({})), "any");
    }
}
