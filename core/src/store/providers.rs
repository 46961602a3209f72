//! LLM provider connections (their API keys sealed).

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::ProviderConnection;
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// Provider connections of organizations.
#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// `encrypted_api_key` is the sealed secret (nonce || ciphertext), never plaintext.
    async fn create_provider(
        &self,
        conn: &ProviderConnection,
        encrypted_api_key: Option<&[u8]>,
    ) -> Result<()>;
    /// An organization's connections, oldest first.
    async fn list_providers(&self, org_id: Uuid) -> Result<Vec<ProviderConnection>>;
    /// The connection and its sealed key. Errors: [`Error::NotFound`].
    async fn get_provider(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<Vec<u8>>)>;
    /// Errors: [`Error::NotFound`]; [`Error::Conflict`] if an agent still uses it.
    async fn delete_provider(&self, org_id: Uuid, id: Uuid) -> Result<()>;
}
