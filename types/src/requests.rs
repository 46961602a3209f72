//! Request and response bodies of the operations (sign-up, provider connections, API keys,
//! runs).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{ApiKey, ProviderKind};

/// Sign-up form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 254, pattern = r"^[^@\s]+@\S+$")
    )]
    pub email: String,
    /// 10..=256 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 256))]
    pub password: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub name: String,
    /// Defaults to "<name>'s organization".
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub org_name: Option<String>,
}

/// Input for a new provider connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: String,
    pub kind: ProviderKind,
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub base_url: Option<String>,
    /// Stored encrypted; never returned.
    pub api_key: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
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
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// The user's message, 1..=100 000 bytes.
    #[cfg_attr(feature = "openapi", schema(max_length = 100000))]
    pub input: String,
    /// Continue this conversation (a previous run's `thread_id`); new thread when absent.
    #[serde(default)]
    pub thread_id: Option<Uuid>,
    /// Follow this preflight's plan (a completed preflight of the same agent): the run's
    /// receipt records where it deviated. `input` may then be empty: the preflight's is used.
    #[serde(default)]
    pub preflight_id: Option<Uuid>,
}
