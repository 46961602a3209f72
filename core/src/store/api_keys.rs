//! API keys (only their SHA-256 is stored).

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::ApiKey;
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// API keys of organizations.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a key under the SHA-256 of its secret.
    async fn create_api_key(&self, key: &ApiKey, key_hash: &[u8]) -> Result<()>;
    /// An organization's keys, newest first.
    async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>>;
    /// Sets `revoked_at`. Errors: [`Error::NotFound`].
    async fn revoke_api_key(&self, org_id: Uuid, id: Uuid) -> Result<()>;
    /// An unrevoked key by hash; records `last_used_at` (implementations may skip the write
    /// when the recorded time is under a minute old, so reads stay reads).
    async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>>;
}
