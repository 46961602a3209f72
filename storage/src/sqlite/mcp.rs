//! [`McpStore`] on SQLite (lists and tools as JSON text).

use async_trait::async_trait;
use autonoma_core::mcp::{McpOAuth, McpOAuthPending, McpServer, McpTool};
use autonoma_core::store::McpStore;
use autonoma_core::{Error, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::{conflict_on_unique, db};
use crate::rows::{McpOAuthPendingRow, McpServerRow};
use crate::sql;

macro_rules! json {
    ($v:expr) => {
        serde_json::to_string($v).map_err(Error::internal)
    };
}

#[async_trait]
impl McpStore for SqliteStore {
    async fn create_mcp_server(&self, s: &McpServer, sealed: Option<&[u8]>) -> Result<()> {
        let r = sqlx::query(sql::INSERT_MCP_SERVER)
            .bind(s.id.to_string())
            .bind(s.org_id.to_string())
            .bind(&s.name)
            .bind(s.transport.as_str())
            .bind(&s.command)
            .bind(json!(&s.args)?)
            .bind(json!(&s.env_names)?)
            .bind(&s.url)
            .bind(json!(&s.header_names)?)
            .bind(s.has_bearer_token)
            .bind(sealed)
            .bind(i64::from(s.timeout_secs))
            .bind(json!(&s.tools)?)
            .bind(s.tools_refreshed_at)
            .bind(s.created_at)
            .bind(s.oauth.as_ref().map(|o| json!(o)).transpose()?)
            .execute(&self.pool)
            .await;
        conflict_on_unique(r, "an MCP server with this name already exists")?;
        Ok(())
    }

    async fn list_mcp_servers(&self, org_id: Uuid) -> Result<Vec<McpServer>> {
        let rows = sqlx::query_as::<_, McpServerRow<Id>>(sql::LIST_MCP_SERVERS)
            .bind(org_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.into_iter().map(McpServerRow::into_model).collect()
    }

    async fn get_mcp_server(&self, org_id: Uuid, id: Uuid) -> Result<(McpServer, Option<Vec<u8>>)> {
        sqlx::query_as::<_, McpServerRow<Id>>(sql::GET_MCP_SERVER)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("MCP server"))?
            .into_parts()
    }

    async fn set_mcp_tools(
        &self,
        org_id: Uuid,
        id: Uuid,
        tools: &[McpTool],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let r = sqlx::query(sql::SET_MCP_TOOLS)
            .bind(json!(&tools)?)
            .bind(at)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("MCP server"));
        }
        Ok(())
    }

    async fn delete_mcp_server(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let r = sqlx::query(sql::DELETE_MCP_SERVER)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("MCP server"));
        }
        Ok(())
    }

    async fn set_mcp_oauth(
        &self,
        org_id: Uuid,
        id: Uuid,
        oauth: &McpOAuth,
        sealed: Option<&[u8]>,
    ) -> Result<()> {
        let r = sqlx::query(sql::SET_MCP_OAUTH)
            .bind(json!(oauth)?)
            .bind(sealed)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("MCP server"));
        }
        Ok(())
    }

    async fn create_mcp_oauth_pending(&self, p: &McpOAuthPending) -> Result<()> {
        sqlx::query(sql::DELETE_EXPIRED_MCP_OAUTH_PENDING)
            .bind(p.org_id.to_string())
            .bind(p.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        sqlx::query(sql::INSERT_MCP_OAUTH_PENDING)
            .bind(&p.state_hash)
            .bind(p.org_id.to_string())
            .bind(p.user_id.to_string())
            .bind(p.server_id.to_string())
            .bind(&p.flow_sealed)
            .bind(&p.redirect_uri)
            .bind(p.created_at)
            .bind(p.expires_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn take_mcp_oauth_pending(
        &self,
        org_id: Uuid,
        state_hash: &str,
    ) -> Result<Option<McpOAuthPending>> {
        Ok(
            sqlx::query_as::<_, McpOAuthPendingRow<Id>>(sql::TAKE_MCP_OAUTH_PENDING)
                .bind(org_id.to_string())
                .bind(state_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?
                .map(McpOAuthPendingRow::into_model),
        )
    }
}
