//! [`ApiKeyStore`] on PostgreSQL: a key is found by its hash before the tenant is known
//! through the `autonoma_api_key_by_hash` function.

use async_trait::async_trait;
use autonoma_core::model::ApiKey;
use autonoma_core::store::ApiKeyStore;
use autonoma_core::{Error, Result};
use chrono::Utc;
use uuid::Uuid;

use super::PgStore;
use crate::error::{db, in_tx};
use crate::rows::ApiKeyRow;
use crate::{sql, LAST_USED_GRANULARITY};

#[async_trait]
impl ApiKeyStore for PgStore {
    async fn create_api_key(&self, k: &ApiKey, key_hash: &[u8]) -> Result<()> {
        in_tx!(self.tenant_tx(k.org_id), |c| {
            sqlx::query(sql::INSERT_API_KEY)
                .bind(k.id)
                .bind(k.org_id)
                .bind(k.user_id)
                .bind(&k.name)
                .bind(&k.prefix)
                .bind(key_hash)
                .bind(k.role.as_str())
                .bind(k.created_at)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ApiKeyRow<Uuid>>(sql::LIST_API_KEYS)
                .bind(org_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        rows.into_iter().map(ApiKeyRow::into_model).collect()
    }

    async fn revoke_api_key(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let r = sqlx::query(sql::REVOKE_API_KEY)
                .bind(Utc::now())
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("API key"));
            }
            Ok(())
        })
    }

    async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>> {
        let row =
            sqlx::query_as::<_, ApiKeyRow<Uuid>>("SELECT * FROM autonoma_api_key_by_hash($1)")
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
            in_tx!(self.tenant_tx(key.org_id), |c| {
                sqlx::query(sql::TOUCH_API_KEY)
                    .bind(now)
                    .bind(key.org_id)
                    .bind(key.id)
                    .execute(&mut *c)
                    .await
                    .map_err(db)?;
                Ok(())
            })?;
            key.last_used_at = Some(now);
        }
        Ok(Some(key))
    }
}
