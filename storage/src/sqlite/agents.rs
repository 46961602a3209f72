//! [`AgentStore`] on SQLite (specs as JSON text).

use async_trait::async_trait;
use autonoma_core::model::{Agent, AgentSpec, AgentVersion};
use autonoma_core::store::AgentStore;
use autonoma_core::{Error, Result};
use chrono::Utc;
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::{db, in_tx};
use crate::rows::{AgentRow, AgentVersionRow};
use crate::sql;

#[async_trait]
impl AgentStore for SqliteStore {
    async fn create_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_string(spec).map_err(Error::internal)?;
        in_tx!(self.write_tx(), |c| {
            sqlx::query(sql::INSERT_AGENT)
                .bind(id.to_string())
                .bind(org_id.to_string())
                .bind(spec.provider_id.to_string())
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            sqlx::query(sql::INSERT_AGENT_VERSION)
                .bind(id.to_string())
                .bind(1_i64)
                .bind(org_id.to_string())
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
        let row = sqlx::query_as::<_, AgentRow<Id>>(sql::GET_AGENT)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("agent"))?;
        Ok(row.into_model())
    }

    async fn list_agents(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Agent>> {
        let rows = sqlx::query_as::<_, AgentRow<Id>>(concat!(
            sql::agent_select!(),
            " WHERE a.org_id = $1 AND a.deleted_at IS NULL AND ($2 IS NULL OR a.id < $2) ORDER BY a.id DESC LIMIT $3"
        ))
        .bind(org_id.to_string())
        .bind(after.map(|u| u.to_string()))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(AgentRow::into_model).collect())
    }

    async fn update_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_string(spec).map_err(Error::internal)?;
        in_tx!(self.write_tx(), |c| {
            let version: Option<i64> = sqlx::query_scalar(sql::BUMP_AGENT_VERSION)
                .bind(spec.provider_id.to_string())
                .bind(now)
                .bind(org_id.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            let Some(version) = version else {
                return Err(Error::NotFound("agent"));
            };
            sqlx::query(sql::INSERT_AGENT_VERSION)
                .bind(id.to_string())
                .bind(version)
                .bind(org_id.to_string())
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
        let r = sqlx::query(sql::DELETE_AGENT)
            .bind(Utc::now())
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("agent"));
        }
        Ok(())
    }

    async fn get_agent_version(
        &self,
        org_id: Uuid,
        agent_id: Uuid,
        version: i64,
    ) -> Result<AgentVersion> {
        let row = sqlx::query_as::<_, AgentVersionRow>(sql::GET_AGENT_VERSION)
            .bind(org_id.to_string())
            .bind(agent_id.to_string())
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("agent version"))?;
        Ok(row.into_model(agent_id))
    }

    async fn list_agent_versions(&self, org_id: Uuid, agent_id: Uuid) -> Result<Vec<AgentVersion>> {
        self.get_agent(org_id, agent_id).await?;
        let rows = sqlx::query_as::<_, AgentVersionRow>(sql::LIST_AGENT_VERSIONS)
            .bind(org_id.to_string())
            .bind(agent_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().map(|r| r.into_model(agent_id)).collect())
    }
}
