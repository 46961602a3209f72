//! [`McpStore`] on PostgreSQL (lists and tools as `jsonb`), under row-level security.

use async_trait::async_trait;
use autonoma_core::mcp::{McpOAuth, McpOAuthPending, McpServer, McpTool};
use autonoma_core::store::McpStore;
use autonoma_core::{Error, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PgStore;
use crate::error::{conflict_on_unique, db, in_tx};
use crate::rows::{McpOAuthPendingRow, McpServerRow};
use crate::sql;

macro_rules! json {
    ($v:expr) => {
        serde_json::to_value($v).map_err(Error::internal)
    };
}

#[async_trait]
impl McpStore for PgStore {
    async fn create_mcp_server(&self, s: &McpServer, sealed: Option<&[u8]>) -> Result<()> {
        let (args, env_names, header_names, tools) = (
            json!(&s.args)?,
            json!(&s.env_names)?,
            json!(&s.header_names)?,
            json!(&s.tools)?,
        );
        let oauth = s.oauth.as_ref().map(|o| json!(o)).transpose()?;
        in_tx!(self.tenant_tx(s.org_id), |tx| {
            let r = sqlx::query(sql::INSERT_MCP_SERVER)
                .bind(s.id)
                .bind(s.org_id)
                .bind(&s.name)
                .bind(s.transport.as_str())
                .bind(&s.command)
                .bind(&args)
                .bind(&env_names)
                .bind(&s.url)
                .bind(&header_names)
                .bind(s.has_bearer_token)
                .bind(sealed)
                .bind(i64::from(s.timeout_secs))
                .bind(&tools)
                .bind(s.tools_refreshed_at)
                .bind(s.created_at)
                .bind(&oauth)
                .execute(&mut *tx)
                .await;
            conflict_on_unique(r, "an MCP server with this name already exists")?;
            Ok(())
        })
    }

    async fn list_mcp_servers(&self, org_id: Uuid) -> Result<Vec<McpServer>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, McpServerRow<Uuid>>(sql::LIST_MCP_SERVERS)
                .bind(org_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        rows.into_iter().map(McpServerRow::into_model).collect()
    }

    async fn get_mcp_server(&self, org_id: Uuid, id: Uuid) -> Result<(McpServer, Option<Vec<u8>>)> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, McpServerRow<Uuid>>(sql::GET_MCP_SERVER)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("MCP server"))
        })?;
        row.into_parts()
    }

    async fn set_mcp_tools(
        &self,
        org_id: Uuid,
        id: Uuid,
        tools: &[McpTool],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tools = json!(&tools)?;
        in_tx!(self.tenant_tx(org_id), |c| {
            let r = sqlx::query(sql::SET_MCP_TOOLS)
                .bind(&tools)
                .bind(at)
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("MCP server"));
            }
            Ok(())
        })
    }

    async fn delete_mcp_server(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let r = sqlx::query(sql::DELETE_MCP_SERVER)
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("MCP server"));
            }
            Ok(())
        })
    }

    async fn set_mcp_oauth(
        &self,
        org_id: Uuid,
        id: Uuid,
        oauth: &McpOAuth,
        sealed: Option<&[u8]>,
    ) -> Result<()> {
        let oauth = json!(oauth)?;
        in_tx!(self.tenant_tx(org_id), |c| {
            let r = sqlx::query(sql::SET_MCP_OAUTH)
                .bind(&oauth)
                .bind(sealed)
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("MCP server"));
            }
            Ok(())
        })
    }

    async fn create_mcp_oauth_pending(&self, p: &McpOAuthPending) -> Result<()> {
        in_tx!(self.tenant_tx(p.org_id), |c| {
            sqlx::query(sql::DELETE_EXPIRED_MCP_OAUTH_PENDING)
                .bind(p.org_id)
                .bind(p.created_at)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            sqlx::query(sql::INSERT_MCP_OAUTH_PENDING)
                .bind(&p.state_hash)
                .bind(p.org_id)
                .bind(p.user_id)
                .bind(p.server_id)
                .bind(&p.flow_sealed)
                .bind(&p.redirect_uri)
                .bind(p.created_at)
                .bind(p.expires_at)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    async fn take_mcp_oauth_pending(
        &self,
        org_id: Uuid,
        state_hash: &str,
    ) -> Result<Option<McpOAuthPending>> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, McpOAuthPendingRow<Uuid>>(sql::TAKE_MCP_OAUTH_PENDING)
                .bind(org_id)
                .bind(state_hash)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)
        })?;
        Ok(row.map(McpOAuthPendingRow::into_model))
    }
}
