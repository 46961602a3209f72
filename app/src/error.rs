//! The error every server function returns, readable in the UI.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A failure shown to the user: a stable `code` (as in the REST API), a readable
/// `message`, and for validation errors the form `field` it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppError {
    /// `validation_failed`, `unauthenticated`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `rate_limited`, `unavailable` (a feature this server does not
    /// run), `internal`, or `request` for transport problems.
    pub code: String,
    /// What went wrong, in words (for a field error: without the field's name).
    pub message: String,
    /// The offending field for `validation_failed` (core names, e.g. `limits.max_steps`).
    #[serde(default)]
    pub field: Option<String>,
}

impl AppError {
    /// An error with a code and message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AppError {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// `rate_limited`: "Too many {what}. Try again in N seconds." (or minutes, rounded up,
    /// from 2 minutes on), for a wait of `retry_after_secs`.
    pub fn rate_limited(what: &str, retry_after_secs: u64) -> Self {
        let (n, unit) = if retry_after_secs >= 120 {
            (retry_after_secs.div_ceil(60), "minute")
        } else {
            (retry_after_secs.max(1), "second")
        };
        AppError::new(
            "rate_limited",
            format!(
                "Too many {what}. Try again in {n} {unit}{}.",
                if n == 1 { "" } else { "s" }
            ),
        )
    }

    /// A validation error on one form field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError {
            code: "validation_failed".into(),
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// The session is missing or expired.
    pub fn unauthenticated() -> Self {
        AppError::new(
            "unauthenticated",
            "Your session has ended. Please log in again.",
        )
    }

    /// True when the user must log in again.
    pub fn is_unauthenticated(&self) -> bool {
        self.code == "unauthenticated"
    }

    /// The message for the field `name`, if this error concerns it.
    pub fn for_field(&self, name: &str) -> Option<String> {
        (self.field.as_deref() == Some(name)).then(|| self.message.clone())
    }

    /// One line for a banner: `"Max steps: must be 1 to 100"`.
    pub fn headline(&self) -> String {
        match &self.field {
            Some(f) => format!("{}: {}", field_label(f), self.message),
            None => self.message.clone(),
        }
    }
}

/// Human label of a core field name.
pub fn field_label(field: &str) -> String {
    match field {
        "email" => "E-mail".into(),
        "password" => "Password".into(),
        "name" => "Name".into(),
        "org_name" => "Organization".into(),
        "description" => "Description".into(),
        "instructions" => "Instructions".into(),
        "provider_id" | "model" => "Model".into(),
        "tools" => "Tools".into(),
        "http_allowlist" => "HTTP allowlist".into(),
        "limits.max_steps" => "Max steps".into(),
        "limits.max_output_tokens" => "Max output tokens".into(),
        "limits.timeout_secs" => "Timeout".into(),
        "base_url" => "Base URL".into(),
        "models" => "Models".into(),
        "role" => "Role".into(),
        "input" => "Message".into(),
        "thread_id" => "Conversation".into(),
        "knowledge_base_ids" => "Knowledge bases".into(),
        "file" => "File".into(),
        "media_type" => "File type".into(),
        "query" => "Query".into(),
        "k" => "Number of results".into(),
        other => other.replace(['_', '.'], " "),
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.headline())
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(e) => AppError::new(
                "request",
                format!("Could not reach the server ({e}). Check your connection and try again."),
            ),
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => AppError::new(
                "validation_failed",
                format!("The form was incomplete or malformed: {e}"),
            ),
            ServerFnErrorErr::MiddlewareError(e) => AppError::new("forbidden", e),
            other => AppError::new("internal", other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<autonoma_core::Error> for AppError {
    fn from(e: autonoma_core::Error) -> Self {
        use autonoma_core::Error as E;
        match e {
            E::Validation { field, message } => AppError {
                code: "validation_failed".into(),
                message,
                field: Some(field),
            },
            E::Unauthenticated => AppError::unauthenticated(),
            E::Internal(detail) => {
                tracing::error!(%detail, "internal error in a UI server function");
                AppError::new(
                    "internal",
                    "Something went wrong on the server. Please try again.",
                )
            }
            other => {
                let code = other.code();
                let message = other.to_string();
                let mut chars = message.chars();
                let message = match chars.next() {
                    Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
                    None => message,
                };
                AppError::new(code, message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AppError;

    #[test]
    fn rate_limited_waits_read_in_seconds_then_minutes() {
        assert_eq!(
            AppError::rate_limited("login attempts", 12).message,
            "Too many login attempts. Try again in 12 seconds."
        );
        assert_eq!(
            AppError::rate_limited("login attempts", 1).message,
            "Too many login attempts. Try again in 1 second."
        );
        assert_eq!(
            AppError::rate_limited("sign-ups", 119).message,
            "Too many sign-ups. Try again in 119 seconds."
        );
        assert_eq!(
            AppError::rate_limited("sign-ups", 121).message,
            "Too many sign-ups. Try again in 3 minutes."
        );
        assert_eq!(AppError::rate_limited("sign-ups", 360).code, "rate_limited");
    }
}
