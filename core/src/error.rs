//! Domain errors with stable machine-readable codes.
//!
//! The HTTP layer maps each variant to a status and an RFC 9457 `type`
//! (`https://autonoma.dev/problems/{code}`); the UI shows [`Error::to_string`].

/// Every failure a domain operation can report.
///
/// `code()` is stable across releases and is what API clients should match on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist *in the caller's organization* (also used for
    /// resources of other organizations, so their existence is not disclosed).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials are valid but the caller's role does not allow the operation.
    #[error("your role does not allow this: {0}")]
    Forbidden(&'static str),
    /// Input failed validation; `field` names the offending field.
    #[error("invalid {field}: {message}")]
    Validation { field: String, message: String },
    /// The operation conflicts with current state (duplicate e-mail, finished run…).
    #[error("{0}")]
    Conflict(String),
    /// The request or upload is larger than allowed; the message gives the size and limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many requests, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// This executor no longer holds the run: another one claimed it since (its epoch is
    /// newer), so the write was refused. Never shown to API clients.
    #[error("run claimed by another executor")]
    LeaseLost,
    /// The LLM provider failed (network, protocol, or model error).
    #[error("provider error: {0}")]
    Provider(String),
    /// The server has no room to store what was sent (its disk or blob store is full:
    /// `ENOSPC`, `EDQUOT`, or a file-size limit). Nothing was saved; the message says so
    /// without server paths. API: 507 `insufficient_storage`.
    #[error("the server is out of storage space; nothing was saved")]
    InsufficientStorage,
    /// Storage or another internal failure; details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// Stable error code, e.g. `not_found`, `validation_failed`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::Validation { .. } => "validation_failed",
            Error::Conflict(_) => "conflict",
            Error::TooLarge(_) => "payload_too_large",
            Error::RateLimited { .. } => "rate_limited",
            Error::LeaseLost => "lease_lost",
            Error::Provider(_) => "provider_error",
            Error::InsufficientStorage => "insufficient_storage",
            Error::Internal(_) => "internal",
        }
    }

    /// Shorthand for a [`Error::Validation`].
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Wraps any internal failure (storage, I/O) as [`Error::Internal`].
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
