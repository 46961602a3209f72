//! [`ProviderStore`] on PostgreSQL (`models` as `jsonb`).

use async_trait::async_trait;
use autonoma_core::model::ProviderConnection;
use autonoma_core::store::ProviderStore;
use autonoma_core::{Error, Result};
use uuid::Uuid;

use super::PgStore;
use crate::error::{db, in_tx};
use crate::rows::ProviderRow;
use crate::sql;

#[async_trait]
impl ProviderStore for PgStore {
    async fn create_provider(&self, c: &ProviderConnection, sealed: Option<&[u8]>) -> Result<()> {
        let models = serde_json::to_value(&c.models).map_err(Error::internal)?;
        in_tx!(self.tenant_tx(c.org_id), |tx| {
            sqlx::query(sql::INSERT_PROVIDER)
                .bind(c.id)
                .bind(c.org_id)
                .bind(&c.name)
                .bind(c.kind.as_str())
                .bind(&c.base_url)
                .bind(&models)
                .bind(sealed)
                .bind(c.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    async fn list_providers(&self, org_id: Uuid) -> Result<Vec<ProviderConnection>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ProviderRow<Uuid>>(sql::LIST_PROVIDERS)
                .bind(org_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        rows.into_iter().map(ProviderRow::into_model).collect()
    }

    async fn get_provider(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<Vec<u8>>)> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ProviderRow<Uuid>>(sql::GET_PROVIDER)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("provider connection"))
        })?;
        row.into_parts()
    }

    async fn delete_provider(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let used: i64 = sqlx::query_scalar(sql::AGENTS_USING_PROVIDER)
                .bind(org_id)
                .bind(id)
                .fetch_one(&mut *c)
                .await
                .map_err(db)?;
            if used > 0 {
                return Err(Error::Conflict(format!(
                    "{used} agent(s) still use this provider connection"
                )));
            }
            let r = sqlx::query(sql::DELETE_PROVIDER)
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("provider connection"));
            }
            Ok(())
        })
    }
}
