//! Provider connections (model backends): their keys are sealed with
//! [`SecretBox`](crate::secret::SecretBox) and only the executor gets them back.

use chrono::Utc;
use uuid::Uuid;

use super::Service;
use crate::guard::{check_len, require};
use crate::model::*;
use crate::{Error, Result};

/// Model name of the embedded local provider.
pub const LOCAL_MODEL: &str = "smollm2-135m-instruct";

pub use autonoma_types::requests::NewProvider;

impl Service {
    /// Adds a provider connection (admin+). The key is sealed with [`SecretBox`].
    pub async fn create_provider(
        &self,
        actor: &Actor,
        input: NewProvider,
    ) -> Result<ProviderConnection> {
        require(actor, Role::Admin, "managing providers needs admin")?;
        check_len("name", input.name.trim(), 1, 100)?;
        if input
            .base_url
            .as_deref()
            .is_some_and(|u| u.chars().count() > 2048)
        {
            return Err(Error::validation(
                "base_url",
                "must be at most 2048 characters",
            ));
        }
        let mut models: Vec<String> = input
            .models
            .iter()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        let base_url = match input.kind {
            ProviderKind::Local => {
                if models.is_empty() {
                    models.push(LOCAL_MODEL.to_string());
                }
                None
            }
            ProviderKind::OpenaiCompatible => {
                let url = input.base_url.as_deref().map(str::trim).unwrap_or("");
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && url.len() <= 2048;
                if !ok {
                    return Err(Error::validation("base_url", "must be an http(s) URL"));
                }
                if models.is_empty() {
                    return Err(Error::validation("models", "list at least one model"));
                }
                Some(url.trim_end_matches('/').to_string())
            }
        };
        if models.len() > 50 || models.iter().any(|m| m.len() > 200) {
            return Err(Error::validation(
                "models",
                "at most 50 names of up to 200 characters",
            ));
        }
        let sealed = input
            .api_key
            .filter(|k| !k.is_empty())
            .map(|k| self.secrets.seal(k.as_bytes()));
        let conn = ProviderConnection {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            name: input.name.trim().to_string(),
            kind: input.kind,
            base_url,
            models,
            has_api_key: sealed.is_some(),
            created_at: Utc::now(),
        };
        self.store.create_provider(&conn, sealed.as_deref()).await?;
        Ok(conn)
    }

    /// Provider connections (viewer+), without keys.
    pub async fn list_providers(&self, actor: &Actor) -> Result<Vec<ProviderConnection>> {
        self.store.list_providers(actor.org_id).await
    }

    /// Deletes a provider connection (admin+).
    pub async fn delete_provider(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Admin, "managing providers needs admin")?;
        self.store.delete_provider(actor.org_id, id).await
    }

    /// A connection and its decrypted key, for the executor.
    pub async fn provider_with_key(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<String>)> {
        let (conn, sealed) = self.store.get_provider(org_id, id).await?;
        let key = match sealed {
            Some(s) => Some(String::from_utf8(self.secrets.open(&s)?).map_err(Error::internal)?),
            None => None,
        };
        Ok((conn, key))
    }
}
