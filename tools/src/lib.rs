//! Autonoma's built-in agent tools.
//!
//! Three tools implement [`autonoma_core::tool::Tool`]; [`builtin_registry`] registers all of them:
//!
//! | name           | arguments                          | returns |
//! |----------------|------------------------------------|---------|
//! | `calculator`   | `{"expression": string}`           | the value as text, e.g. `"391"` for `17*23` ([`Calculator`]) |
//! | `current_time` | `{"timezone"?: string}` (IANA name)| `2026-11-21T06:30:00+01:00 (Saturday, Europe/Paris)` ([`CurrentTime`]) |
//! | `http_fetch`   | `{"url": string}`                  | `HTTP <status>\ncontent-type: ...\n\n<body>` ([`HttpFetch`]) |
//!
//! Every failure is a [`ToolError`] whose message is meant for the
//! model: it says what was wrong and, where it can, what to do instead.
//!
//! `http_fetch` only reaches hosts on the agent's allowlist
//! ([`ToolContext::http_allowlist`](autonoma_core::tool::ToolContext)) and refuses every address in a
//! special-purpose range (loopback, private, link-local, …; see [`address`]), pinning the
//! connection to the addresses it vetted so DNS rebinding cannot slip past the check.
//!
//! [`mcp`] is the MCP client: an organization's external MCP servers' tools as agent tools
//! ([`mcp::McpPool`]: the service's `McpConnector` and the agent loop's `ToolResolver`).

#![warn(missing_docs)]

use std::sync::Arc;

use autonoma_core::tool::{ToolError, ToolRegistry};

pub mod address;
pub mod calculator;
pub mod current_time;
pub mod http_fetch;
pub mod mcp;

pub use address::AddressPolicy;
pub use calculator::Calculator;
pub use current_time::CurrentTime;
pub use http_fetch::HttpFetch;

/// A registry holding the three built-in tools — `calculator`, `current_time` and `http_fetch` —
/// with `http_fetch` under the strict [`AddressPolicy::Strict`].
pub fn builtin_registry() -> ToolRegistry {
    let mut registry = ToolRegistry::default();
    registry.register(Arc::new(Calculator));
    registry.register(Arc::new(CurrentTime));
    registry.register(Arc::new(HttpFetch::new()));
    registry
}

/// Reads the string argument `name` from a tool's arguments object.
///
/// `Ok(None)` when the key is absent or `null`; an error when `arguments` is not an object or the
/// value is not a string.
fn string_arg<'a>(
    tool: &str,
    arguments: &'a serde_json::Value,
    name: &str,
) -> Result<Option<&'a str>, ToolError> {
    let object = arguments.as_object().ok_or_else(|| {
        ToolError(format!(
            "{tool}: arguments must be a JSON object (got {}), e.g. {{\"{name}\": \"...\"}}",
            json_kind(arguments)
        ))
    })?;
    match object.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(value)) => Ok(Some(value)),
        Some(other) => Err(ToolError(format!(
            "{tool}: argument \"{name}\" must be a string, got {}",
            json_kind(other)
        ))),
    }
}

/// Like [`string_arg`], but a missing value is an error.
fn required_string_arg<'a>(
    tool: &str,
    arguments: &'a serde_json::Value,
    name: &str,
) -> Result<&'a str, ToolError> {
    string_arg(tool, arguments, name)?.ok_or_else(|| {
        ToolError(format!(
            "{tool}: missing required string argument \"{name}\""
        ))
    })
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_the_three_builtin_tools() {
        let registry = builtin_registry();
        assert_eq!(
            registry.names(),
            vec!["calculator", "current_time", "http_fetch"]
        );
        for name in registry.names() {
            let definition = registry.get(&name).unwrap().definition();
            assert_eq!(definition.name, name);
            assert!(!definition.description.is_empty());
            assert_eq!(definition.parameters["type"], "object");
        }
    }

    #[test]
    fn argument_errors_are_clear() {
        let args = serde_json::json!({"expression": 5});
        let err = required_string_arg("calculator", &args, "expression").unwrap_err();
        assert!(err.0.contains("must be a string, got a number"), "{err}");
        let err =
            required_string_arg("calculator", &serde_json::json!({}), "expression").unwrap_err();
        assert!(
            err.0
                .contains("missing required string argument \"expression\""),
            "{err}"
        );
        let err = required_string_arg("calculator", &serde_json::json!("17*23"), "expression")
            .unwrap_err();
        assert!(
            err.0.contains("must be a JSON object (got a string)"),
            "{err}"
        );
    }
}
