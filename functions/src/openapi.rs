//! Completes the OpenAPI document that utoipa derives from the handlers, so that it says
//! exactly what the API answers (checked by Schemathesis, `cli/tests/schemathesis.rs`):
//!
//! * every answer whose body is a [`crate::problem::Problem`] is documented as
//!   `application/problem+json` (RFC 9457 §3), not `application/json`;
//! * the error answers every operation of a kind can give are added where a handler's
//!   annotation does not list them (each with the problem schema): 401 and 403 for
//!   authenticated operations (no or a revoked credential; a role too low or a missing
//!   CSRF token), 404 for operations on a resource (`{id}` in the path: also an id that is
//!   not a UUID), 400 for operations with query or header parameters (`invalid_query`) or a
//!   JSON body (`malformed_json`), 413, 415 and 422 for operations with a body, 507 for
//!   uploads (`multipart/form-data`: the blob store is full);
//! * authenticated operations carry their `security` (an API key as bearer token, or the
//!   session cookie);
//! * optional query and header parameters are not nullable: absence is how a client leaves
//!   one out (`?limit=null` is a 400, not a null);
//! * a record that embeds another with `#[serde(flatten)]` (`Agent` and its `AgentSpec`,
//!   `Policy` and its `ToolRule`) embeds a copy of it without `additionalProperties: false`:
//!   the embedded schema refuses unknown fields as a request body, but inside the record the
//!   record's own fields are expected;
//! * no string may hold U+0000 (PostgreSQL stores it neither in `text` nor in `jsonb`, so the
//!   API refuses it, [`crate::problem::refuse_nul`]): every free string schema and string
//!   parameter gets the pattern [`NO_NUL`], and free-form JSON objects (an approval's edited
//!   `arguments`) the recursive `JsonWithoutNul`.
//!
//! The rules are here, once, rather than repeated in ~55 handler annotations; the handler
//! annotations keep the answers specific to them (200/201/202/204, 409, 429…).

use serde_json::{json, Map, Value};

/// ECMA-262 pattern of a string without U+0000.
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// Operations that need no credential: `(method, path)`.
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/.well-known/autonoma/audit-key"),
];

/// Operations that also answer Server-Sent Events (`text/event-stream`) with 200, chosen by
/// the `Accept` header; utoipa keeps one body per status, the JSON one.
const EVENT_STREAMS: &[(&str, &str, &str)] = &[(
    "get",
    "/api/v1/runs/{id}/events",
    "Server-Sent Events: `id: <seq>`, `event: <type>`, `data: <RunEvent JSON>`, until the terminal event.",
)];

/// Operations whose body may be left out (an empty body is the default decision).
const OPTIONAL_BODIES: &[(&str, &str)] = &[
    ("post", "/api/v1/approvals/{id}/approve"),
    ("post", "/api/v1/approvals/{id}/deny"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// What each added status means, for its `description`.
fn description(status: &str) -> &'static str {
    match status {
        "400" => "Malformed request: a query or header parameter of the wrong type (`invalid_query`) or a body that is not JSON (`malformed_json`).",
        "401" => "No credential, or an unknown, expired or revoked one (`unauthenticated`).",
        "403" => "The caller's role is too low, or a cookie session sent no valid `X-CSRF-Token` (`forbidden`, `csrf_failed`).",
        "404" => "No such resource in the caller's organization, or an id that is not a UUID (`not_found`).",
        "413" => "The body is larger than the limit (`payload_too_large`).",
        "415" => "The body is not of a documented media type (`unsupported_media_type`).",
        "422" => "The body or a parameter is well-formed but invalid; `field` names it (`validation_failed`).",
        "507" => "The server is out of storage space; nothing was saved (`insufficient_storage`).",
        _ => "Error.",
    }
}

fn problem_response(status: &str) -> Value {
    json!({
        "description": description(status),
        "content": {
            "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/Problem" }
            }
        }
    })
}

fn is_problem(schema: &Value) -> bool {
    schema.get("$ref").and_then(Value::as_str) == Some("#/components/schemas/Problem")
}

/// Rewrites `doc` (an OpenAPI 3.1 document as JSON) as described in the module docs.
pub fn complete(doc: &mut Value) {
    inline_flattened(doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.values_mut().for_each(without_nul);
        let json = "#/components/schemas/JsonWithoutNul";
        schemas.insert(
            "JsonWithoutNul".into(),
            json!({
                "description": "Any JSON value whose strings and keys hold no U+0000.",
                "anyOf": [
                    {"type": "string", "pattern": NO_NUL},
                    {"type": ["number", "boolean", "null"]},
                    {"type": "array", "items": {"$ref": json}},
                    {"type": "object", "additionalProperties": {"$ref": json},
                     "propertyNames": {"pattern": NO_NUL}}
                ]
            }),
        );
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            let Some(op) = item.get_mut(*method).and_then(Value::as_object_mut) else {
                continue;
            };
            complete_operation(method, path, op);
        }
    }
}

/// Replaces, inside every component's `allOf`, a `$ref` to a closed schema
/// (`additionalProperties: false`) by an open copy of it.
fn inline_flattened(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let closed: Map<String, Value> = schemas
        .iter()
        .filter(|(_, s)| s.get("additionalProperties") == Some(&Value::Bool(false)))
        .map(|(name, s)| {
            let mut open = s.clone();
            open.as_object_mut()
                .expect("a closed schema is an object")
                .remove("additionalProperties");
            (format!("#/components/schemas/{name}"), open)
        })
        .collect();
    open_all_of(doc, &closed);
}

/// Recursively, in every `allOf` of `v`, replaces `$ref`s found in `closed` by their open copy.
fn open_all_of(v: &mut Value, closed: &Map<String, Value>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(all_of)) = o.get_mut("allOf") {
                for part in all_of.iter_mut() {
                    if let Some(open) = part
                        .get("$ref")
                        .and_then(Value::as_str)
                        .and_then(|r| closed.get(r))
                    {
                        *part = open.clone();
                    }
                }
            }
            o.values_mut().for_each(|v| open_all_of(v, closed));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| open_all_of(v, closed)),
        _ => {}
    }
}

/// Adds [`NO_NUL`] to every free string (no `format`, no `enum`) of `schema`, recursively,
/// and closes free-form objects over `JsonWithoutNul`.
fn without_nul(schema: &mut Value) {
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    let is_string = match o.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    if is_string && !o.contains_key("format") && !o.contains_key("enum") {
        if o.contains_key("pattern") {
            o.entry("allOf")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("allOf is an array")
                .push(json!({"pattern": NO_NUL}));
        } else {
            o.insert("pattern".into(), json!(NO_NUL));
        }
    }
    let is_object = match o.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => false,
    };
    let free_object =
        is_object && !o.contains_key("properties") && !o.contains_key("additionalProperties");
    if free_object {
        o.insert(
            "additionalProperties".into(),
            json!({"$ref": "#/components/schemas/JsonWithoutNul"}),
        );
        o.insert("propertyNames".into(), json!({"pattern": NO_NUL}));
    }
    for key in ["properties", "$defs"] {
        if let Some(Value::Object(props)) = o.get_mut(key) {
            props.values_mut().for_each(without_nul);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = o.get_mut(key) {
            without_nul(v);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(parts)) = o.get_mut(key) {
            parts.iter_mut().for_each(without_nul);
        }
    }
}

/// `["integer", "null"]` → `"integer"` for a parameter's schema.
fn not_nullable(param: &mut Value) {
    let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(Value::Array(types)) = schema.get("type") {
        let rest: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        let t = if rest.len() == 1 {
            rest[0].clone()
        } else {
            Value::Array(rest)
        };
        schema.insert("type".into(), t);
    }
    // `Option<Enum>` comes out as `oneOf: [{type: null}, {$ref}]`.
    if let Some(Value::Array(one_of)) = schema.get("oneOf") {
        let rest: Vec<Value> = one_of
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if rest.len() == 1 {
            let only = rest[0].clone();
            schema.remove("oneOf");
            if let Value::Object(o) = only {
                schema.extend(o);
            }
        }
    }
}

fn complete_operation(method: &str, path: &str, op: &mut Map<String, Value>) {
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params.iter_mut() {
            if p.get("in").and_then(Value::as_str) != Some("path") {
                not_nullable(p);
            }
            if let Some(schema) = p.get_mut("schema") {
                without_nul(schema);
            }
        }
    }
    let public = PUBLIC.contains(&(method, path));
    if OPTIONAL_BODIES.contains(&(method, path)) {
        if let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut) {
            body.insert("required".into(), Value::Bool(false));
        }
    }
    let has_body = op.contains_key("requestBody");
    let is_upload = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(|c| c.as_object())
        .is_some_and(|c| c.contains_key("multipart/form-data"));
    let params: Vec<String> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("in").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let has_query_or_header = params.iter().any(|p| p == "query" || p == "header");
    let on_resource = path.contains('{');

    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    // Problem bodies are application/problem+json.
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(json) = content.get("application/json") {
            if json.get("schema").is_some_and(is_problem) {
                let json = content.remove("application/json").expect("present");
                content.insert("application/problem+json".into(), json);
            }
        }
    }
    for (m, p, what) in EVENT_STREAMS {
        if (*m, *p) == (method, path) {
            if let Some(content) = responses
                .get_mut("200")
                .and_then(|r| r.get_mut("content"))
                .and_then(Value::as_object_mut)
            {
                content.insert(
                    "text/event-stream".into(),
                    json!({"schema": {"type": "string", "description": what}}),
                );
            }
        }
    }
    let mut add = |status: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(status));
    };
    if !public {
        add("401");
        add("403");
    }
    if on_resource {
        add("404");
    }
    if has_query_or_header || has_body {
        add("400");
    }
    if has_query_or_header {
        add("422");
    }
    if has_body {
        add("413");
        add("415");
        add("422");
    }
    if is_upload {
        add("507");
    }
    if !public {
        op.insert(
            "security".into(),
            json!([{ "bearer": [] }, { "session": [] }]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_get_their_media_type_and_operations_their_errors() {
        let mut doc = json!({"paths": {
            "/api/v1/things/{id}": {"put": {
                "parameters": [{"name": "id", "in": "path"}],
                "requestBody": {"content": {"application/json": {}}},
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "409": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
                }
            }},
            "/api/v1/auth/login": {"post": {"requestBody": {}, "responses": {}}}
        }});
        complete(&mut doc);
        let put = &doc["paths"]["/api/v1/things/{id}"]["put"];
        assert!(put["responses"]["200"]["content"]["application/json"].is_object());
        assert!(put["responses"]["409"]["content"]["application/problem+json"].is_object());
        assert!(put["responses"]["409"]["content"]["application/json"].is_null());
        for s in ["400", "401", "403", "404", "413", "415", "422"] {
            assert!(
                put["responses"][s]["content"]["application/problem+json"].is_object(),
                "{s}"
            );
        }
        assert_eq!(put["security"], json!([{"bearer": []}, {"session": []}]));
        let login = &doc["paths"]["/api/v1/auth/login"]["post"];
        assert!(login["responses"]["401"].is_null());
        assert!(login["responses"]["404"].is_null());
        assert!(login["security"].is_null());
        assert!(login["responses"]["415"].is_object());
    }

    #[test]
    fn parameters_lose_null_and_flattened_records_open_up() {
        let mut doc = json!({
            "paths": {"/api/v1/things": {"get": {
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": ["integer", "null"], "minimum": 1}},
                    {"name": "status", "in": "query", "schema": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/S"}]}}
                ],
                "responses": {}
            }}},
            "components": {"schemas": {
                "Rule": {"type": "object", "additionalProperties": false, "properties": {"tool": {"type": "string"}}},
                "Policy": {"allOf": [{"$ref": "#/components/schemas/Rule"}, {"type": "object"}]}
            }}
        });
        complete(&mut doc);
        let params = &doc["paths"]["/api/v1/things"]["get"]["parameters"];
        assert_eq!(
            params[0]["schema"],
            json!({"type": "integer", "minimum": 1})
        );
        assert_eq!(
            params[1]["schema"],
            json!({"$ref": "#/components/schemas/S"})
        );
        let policy = &doc["components"]["schemas"]["Policy"]["allOf"][0];
        assert!(policy["additionalProperties"].is_null());
        assert_eq!(policy["properties"]["tool"]["type"], "string");
        assert_eq!(
            doc["components"]["schemas"]["Rule"]["additionalProperties"],
            false
        );
    }
}
