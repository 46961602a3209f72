//! [`ApiKeyStore`] on SQLite.

use async_trait::async_trait;
use autonoma_core::model::ApiKey;
use autonoma_core::store::ApiKeyStore;
use autonoma_core::{Error, Result};
use chrono::Utc;
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::db;
use crate::rows::ApiKeyRow;
use crate::{sql, LAST_USED_GRANULARITY};

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn create_api_key(&self, k: &ApiKey, key_hash: &[u8]) -> Result<()> {
        sqlx::query(sql::INSERT_API_KEY)
            .bind(k.id.to_string())
            .bind(k.org_id.to_string())
            .bind(k.user_id.to_string())
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(key_hash)
            .bind(k.role.as_str())
            .bind(k.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query_as::<_, ApiKeyRow<Id>>(sql::LIST_API_KEYS)
            .bind(org_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.into_iter().map(ApiKeyRow::into_model).collect()
    }

    async fn revoke_api_key(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let r = sqlx::query(sql::REVOKE_API_KEY)
            .bind(Utc::now())
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("API key"));
        }
        Ok(())
    }

    async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>> {
        // A read on every request; the write only when the recorded time is older than
        // LAST_USED_GRANULARITY, so authenticated reads do not serialize on SQLite's writer.
        let row = sqlx::query_as::<_, ApiKeyRow<Id>>(
            "SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(mut key) = row.map(ApiKeyRow::into_model).transpose()? else {
            return Ok(None);
        };
        let now = Utc::now();
        if key
            .last_used_at
            .is_none_or(|t| now - t > LAST_USED_GRANULARITY)
        {
            sqlx::query(sql::TOUCH_API_KEY)
                .bind(now)
                .bind(key.org_id.to_string())
                .bind(key.id.to_string())
                .execute(&self.pool)
                .await
                .map_err(db)?;
            key.last_used_at = Some(now);
        }
        Ok(Some(key))
    }
}
