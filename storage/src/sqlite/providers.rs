//! [`ProviderStore`] on SQLite (`models` as JSON text).

use async_trait::async_trait;
use autonoma_core::model::ProviderConnection;
use autonoma_core::store::ProviderStore;
use autonoma_core::{Error, Result};
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::db;
use crate::rows::ProviderRow;
use crate::sql;

#[async_trait]
impl ProviderStore for SqliteStore {
    async fn create_provider(&self, c: &ProviderConnection, sealed: Option<&[u8]>) -> Result<()> {
        sqlx::query(sql::INSERT_PROVIDER)
            .bind(c.id.to_string())
            .bind(c.org_id.to_string())
            .bind(&c.name)
            .bind(c.kind.as_str())
            .bind(&c.base_url)
            .bind(serde_json::to_string(&c.models).map_err(Error::internal)?)
            .bind(sealed)
            .bind(c.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_providers(&self, org_id: Uuid) -> Result<Vec<ProviderConnection>> {
        let rows = sqlx::query_as::<_, ProviderRow<Id>>(sql::LIST_PROVIDERS)
            .bind(org_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.into_iter().map(ProviderRow::into_model).collect()
    }

    async fn get_provider(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<Vec<u8>>)> {
        sqlx::query_as::<_, ProviderRow<Id>>(sql::GET_PROVIDER)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("provider connection"))?
            .into_parts()
    }

    async fn delete_provider(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let used: i64 = sqlx::query_scalar(sql::AGENTS_USING_PROVIDER)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "{used} agent(s) still use this provider connection"
            )));
        }
        let r = sqlx::query(sql::DELETE_PROVIDER)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("provider connection"));
        }
        Ok(())
    }
}
