//! API keys: created with a role no higher than the creator's, shown once, stored as SHA-256.

use chrono::Utc;
use uuid::Uuid;

use super::Service;
use crate::guard::{check_len, require};
use crate::model::*;
use crate::secret::{hash_secret, random_token};
use crate::{Error, Result};

pub use autonoma_types::requests::CreatedApiKey;

impl Service {
    /// Creates an API key (member+). `role` defaults to the caller's and may not exceed it.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        role: Option<Role>,
    ) -> Result<CreatedApiKey> {
        require(actor, Role::Member, "creating API keys needs member")?;
        check_len("name", name.trim(), 1, 100)?;
        let role = role.unwrap_or(actor.role);
        if role > actor.role {
            return Err(Error::validation("role", "cannot exceed your own role"));
        }
        let secret = random_token("ak_");
        let key = ApiKey {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            user_id: actor.user_id,
            name: name.trim().to_string(),
            prefix: secret[..11].to_string(),
            role,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store
            .create_api_key(&key, &hash_secret(&secret))
            .await?;
        self.audit_after(
            actor.org_id,
            super::audit::audit_actor(actor),
            crate::audit::actions::API_KEY_CREATE,
            Some(key.id.to_string()),
            serde_json::json!({ "name": key.name, "role": key.role.as_str(), "prefix": key.prefix }),
        )
        .await;
        Ok(CreatedApiKey { key, secret })
    }

    /// API keys of the organization (viewer+).
    pub async fn list_api_keys(&self, actor: &Actor) -> Result<Vec<ApiKey>> {
        self.store.list_api_keys(actor.org_id).await
    }

    /// Revokes a key (member+).
    pub async fn revoke_api_key(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Member, "revoking API keys needs member")?;
        self.store.revoke_api_key(actor.org_id, id).await?;
        self.audit_after(
            actor.org_id,
            super::audit::audit_actor(actor),
            crate::audit::actions::API_KEY_REVOKE,
            Some(id.to_string()),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }
}
