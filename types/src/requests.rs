//! Request and response bodies of the operations (sign-up, provider connections, API keys,
//! runs).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{ApiKey, ProviderKind};

/// Sign-up form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignUp {
    pub email: String,
    /// 10..=256 characters.
    pub password: String,
    #[serde(default)]
    pub name: String,
    /// Defaults to "<name>'s organization".
    #[serde(default)]
    pub org_name: Option<String>,
}

/// Input for a new provider connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewProvider {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    /// Stored encrypted; never returned.
    pub api_key: Option<String>,
    #[serde(default)]
    pub models: Vec<String>,
}

/// An API key as returned once at creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret (`ak_` + 43 base64url characters). Shown only now.
    pub secret: String,
}

/// Input for a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunInput {
    /// The user's message, 1..=100 000 bytes.
    pub input: String,
    /// Continue this conversation (a previous run's `thread_id`); new thread when absent.
    #[serde(default)]
    pub thread_id: Option<Uuid>,
    /// Follow this preflight's plan (a completed preflight of the same agent): the run's
    /// receipt records where it deviated. `input` may then be empty: the preflight's is used.
    #[serde(default)]
    pub preflight_id: Option<Uuid>,
}
