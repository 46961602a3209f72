//! [`AgentStore`] on PostgreSQL (specs as `jsonb`).

use async_trait::async_trait;
use autonoma_core::model::{Agent, AgentSpec, AgentVersion};
use autonoma_core::store::AgentStore;
use autonoma_core::{Error, Result};
use chrono::Utc;
use uuid::Uuid;

use super::PgStore;
use crate::error::{db, in_tx};
use crate::rows::{AgentRow, AgentVersionRow};
use crate::sql;

#[async_trait]
impl AgentStore for PgStore {
    async fn create_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_value(spec).map_err(Error::internal)?;
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query(sql::INSERT_AGENT)
                .bind(id)
                .bind(org_id)
                .bind(spec.provider_id)
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            sqlx::query(sql::INSERT_AGENT_VERSION)
                .bind(id)
                .bind(1_i64)
                .bind(org_id)
                .bind(&json)
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })?;
        Ok(Agent {
            id,
            org_id,
            version: 1,
            spec: spec.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    async fn get_agent(&self, org_id: Uuid, id: Uuid) -> Result<Agent> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, AgentRow<Uuid>>(sql::GET_AGENT)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("agent"))
        })?;
        Ok(row.into_model())
    }

    async fn list_agents(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Agent>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, AgentRow<Uuid>>(concat!(
                sql::agent_select!(),
                " WHERE a.org_id = $1 AND a.deleted_at IS NULL AND ($2::uuid IS NULL OR a.id < $2) ORDER BY a.id DESC LIMIT $3"
            ))
            .bind(org_id)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(db)
        })?;
        Ok(rows.into_iter().map(AgentRow::into_model).collect())
    }

    async fn update_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_value(spec).map_err(Error::internal)?;
        in_tx!(self.tenant_tx(org_id), |c| {
            let version: Option<i64> = sqlx::query_scalar(sql::BUMP_AGENT_VERSION)
                .bind(spec.provider_id)
                .bind(now)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            let Some(version) = version else {
                return Err(Error::NotFound("agent"));
            };
            sqlx::query(sql::INSERT_AGENT_VERSION)
                .bind(id)
                .bind(version)
                .bind(org_id)
                .bind(&json)
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })?;
        self.get_agent(org_id, id).await
    }

    async fn delete_agent(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let r = sqlx::query(sql::DELETE_AGENT)
                .bind(Utc::now())
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("agent"));
            }
            Ok(())
        })
    }

    async fn get_agent_version(
        &self,
        org_id: Uuid,
        agent_id: Uuid,
        version: i64,
    ) -> Result<AgentVersion> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, AgentVersionRow>(sql::GET_AGENT_VERSION)
                .bind(org_id)
                .bind(agent_id)
                .bind(version)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("agent version"))
        })?;
        Ok(row.into_model(agent_id))
    }

    async fn list_agent_versions(&self, org_id: Uuid, agent_id: Uuid) -> Result<Vec<AgentVersion>> {
        self.get_agent(org_id, agent_id).await?;
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, AgentVersionRow>(sql::LIST_AGENT_VERSIONS)
                .bind(org_id)
                .bind(agent_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        Ok(rows.into_iter().map(|r| r.into_model(agent_id)).collect())
    }
}
