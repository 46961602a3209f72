//! Agents: validated specs, immutable versions, pages of agents.

use uuid::Uuid;

use super::Service;
use crate::guard::{check_len, into_page, page_limit, parse_cursor, require};
use crate::model::*;
use crate::{Error, Result};

/// Names of the built-in tools an agent may enable.
/// (`knowledge_search` is added automatically when an agent attaches knowledge bases.)
pub const BUILTIN_TOOLS: [&str; 4] = [
    "calculator",
    "current_time",
    "http_fetch",
    "knowledge_search",
];

impl Service {
    async fn validate_spec(&self, actor: &Actor, spec: &mut AgentSpec) -> Result<()> {
        spec.name = spec.name.trim().to_string();
        check_len("name", &spec.name, 1, 100)?;
        check_len("description", &spec.description, 0, 2000)?;
        check_len("instructions", &spec.instructions, 0, 32 * 1024)?;
        let (conn, _) = self
            .store
            .get_provider(actor.org_id, spec.provider_id)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::validation(
                    "provider_id",
                    "no such provider connection in this organization",
                ),
                e => e,
            })?;
        if !conn.models.iter().any(|m| m == &spec.model) {
            return Err(Error::validation(
                "model",
                format!(
                    "provider '{}' offers: {}",
                    conn.name,
                    conn.models.join(", ")
                ),
            ));
        }
        if let Some(p) = &spec.pricing {
            for (field, v) in [
                ("pricing.input_usd_per_mtok", p.input_usd_per_mtok),
                ("pricing.output_usd_per_mtok", p.output_usd_per_mtok),
            ] {
                if !(v.is_finite() && (0.0..=10_000.0).contains(&v)) {
                    return Err(Error::validation(field, "must be 0 to 10000 dollars"));
                }
            }
        }
        spec.knowledge_base_ids.sort();
        spec.knowledge_base_ids.dedup();
        if spec.knowledge_base_ids.len() > crate::knowledge::MAX_AGENT_KNOWLEDGE_BASES {
            return Err(Error::validation(
                "knowledge_base_ids",
                format!(
                    "at most {} knowledge bases",
                    crate::knowledge::MAX_AGENT_KNOWLEDGE_BASES
                ),
            ));
        }
        if !spec.knowledge_base_ids.is_empty() {
            let Some(k) = self.knowledge.as_ref() else {
                return Err(Error::validation(
                    "knowledge_base_ids",
                    "knowledge bases are not available on this server",
                ));
            };
            for id in &spec.knowledge_base_ids {
                match k.store.get_knowledge_base(actor.org_id, *id).await {
                    Ok(_) => {}
                    Err(Error::NotFound(_)) => {
                        return Err(Error::validation(
                            "knowledge_base_ids",
                            format!("no knowledge base {id} in this organization"),
                        ))
                    }
                    Err(e) => return Err(e),
                }
            }
            // Attaching knowledge is what enables searching it.
            spec.tools
                .push(crate::knowledge::tool::KNOWLEDGE_SEARCH.to_string());
        }
        spec.tools.sort();
        spec.tools.dedup();
        if spec
            .tools
            .iter()
            .any(|t| !BUILTIN_TOOLS.contains(&t.as_str()))
        {
            // Tools of the organization's MCP servers, as cached at their last listing.
            let mcp = self.mcp_tool_names(actor.org_id).await?;
            if let Some(t) = spec
                .tools
                .iter()
                .find(|t| !BUILTIN_TOOLS.contains(&t.as_str()) && mcp.binary_search(t).is_err())
            {
                return Err(Error::validation(
                    "tools",
                    format!(
                        "unknown tool '{t}'; available: {}{}",
                        BUILTIN_TOOLS.join(", "),
                        if mcp.is_empty() {
                            String::new()
                        } else {
                            format!(", and the MCP server tools {}", mcp.join(", "))
                        }
                    ),
                ));
            }
        }
        super::governance::validate_agent_rules(&mut spec.tool_policies)?;
        if spec
            .tools
            .iter()
            .any(|t| t == crate::knowledge::tool::KNOWLEDGE_SEARCH)
            && spec.knowledge_base_ids.is_empty()
        {
            return Err(Error::validation(
                "tools",
                "knowledge_search needs at least one knowledge base in knowledge_base_ids",
            ));
        }
        for d in spec.http_allowlist.iter_mut() {
            *d = d.trim().trim_start_matches("*.").to_lowercase();
        }
        spec.http_allowlist.retain(|d| !d.is_empty());
        if spec.http_allowlist.len() > 100
            || spec.http_allowlist.iter().any(|d| {
                d.len() > 253
                    || !d
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            })
        {
            return Err(Error::validation(
                "http_allowlist",
                "up to 100 domain names (letters, digits, '.', '-')",
            ));
        }
        let l = &spec.limits;
        if !(1..=100).contains(&l.max_steps) {
            return Err(Error::validation("limits.max_steps", "must be 1 to 100"));
        }
        if !(1..=32768).contains(&l.max_output_tokens) {
            return Err(Error::validation(
                "limits.max_output_tokens",
                "must be 1 to 32768",
            ));
        }
        if !(1..=3600).contains(&l.timeout_secs) {
            return Err(Error::validation(
                "limits.timeout_secs",
                "must be 1 to 3600",
            ));
        }
        Ok(())
    }

    /// Creates an agent at version 1 (member+).
    pub async fn create_agent(&self, actor: &Actor, mut spec: AgentSpec) -> Result<Agent> {
        require(actor, Role::Member, "creating agents needs member")?;
        self.validate_spec(actor, &mut spec).await?;
        let agent = self
            .store
            .create_agent(actor.org_id, Uuid::now_v7(), &spec)
            .await?;
        self.audit_agent(actor, crate::audit::actions::AGENT_CREATE, &agent)
            .await;
        Ok(agent)
    }

    async fn audit_agent(&self, actor: &Actor, action: &str, agent: &Agent) {
        self.audit_after(
            actor.org_id,
            super::audit::audit_actor(actor),
            action,
            Some(agent.id.to_string()),
            serde_json::json!({ "name": agent.spec.name, "version": agent.version }),
        )
        .await;
    }

    /// One agent (viewer+).
    pub async fn get_agent(&self, actor: &Actor, id: Uuid) -> Result<Agent> {
        self.store.get_agent(actor.org_id, id).await
    }

    /// A page of agents, newest first (viewer+). `limit` is clamped to 1..=[`MAX_PAGE`].
    pub async fn list_agents(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Agent>> {
        let limit = page_limit(limit)?;
        let after = parse_cursor(cursor)?;
        let items = self
            .store
            .list_agents(actor.org_id, after, limit + 1)
            .await?;
        Ok(into_page(items, limit, |a| a.id))
    }

    /// Saves a new version of an agent (member+).
    pub async fn update_agent(
        &self,
        actor: &Actor,
        id: Uuid,
        mut spec: AgentSpec,
    ) -> Result<Agent> {
        require(actor, Role::Member, "editing agents needs member")?;
        self.store.get_agent(actor.org_id, id).await?;
        self.validate_spec(actor, &mut spec).await?;
        let agent = self.store.update_agent(actor.org_id, id, &spec).await?;
        self.audit_agent(actor, crate::audit::actions::AGENT_UPDATE, &agent)
            .await;
        Ok(agent)
    }

    /// Deletes an agent (member+).
    pub async fn delete_agent(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Member, "deleting agents needs member")?;
        self.store.delete_agent(actor.org_id, id).await?;
        self.audit_after(
            actor.org_id,
            super::audit::audit_actor(actor),
            crate::audit::actions::AGENT_DELETE,
            Some(id.to_string()),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// All versions of an agent, oldest first (viewer+).
    pub async fn agent_versions(&self, actor: &Actor, id: Uuid) -> Result<Vec<AgentVersion>> {
        self.store.list_agent_versions(actor.org_id, id).await
    }
}
