//! Agent server functions: list, get, save (create or update) and delete.

use autonoma_types::{Agent, Page};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// A page of agents, newest first.
#[server(prefix = "/sfn", endpoint = "agents/list")]
pub async fn list_agents(
    #[doc = "Cursor from the previous page."] cursor: Option<String>,
) -> Result<Page<Agent>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc.list_agents(&actor, cursor.as_deref(), Some(50)).await?)
}

/// One agent.
#[server(prefix = "/sfn", endpoint = "agents/get")]
pub async fn get_agent(#[doc = "Agent id."] id: String) -> Result<Agent, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc.get_agent(&actor, ssr::uuid("id", &id)?).await?)
}

/// Creates (`id` empty) or updates an agent from the editor form, then opens its chat.
///
/// `model_ref` is `<provider id>/<model name>`; `tool_*` are checkboxes (present when
/// ticked); `http_allowlist` is one domain per line (or comma-separated); the limits are
/// the raw text of the number inputs; `knowledge_base_ids[]` is repeated once per attached
/// knowledge base (attaching any enables the `knowledge_search` tool).
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/sfn", endpoint = "agents/save")]
pub async fn save_agent(
    #[doc = "Agent id to update; empty creates an agent."] id: Option<String>,
    #[doc = "Name."] name: String,
    #[doc = "Description."] description: Option<String>,
    #[doc = "`<provider id>/<model>`."] model_ref: Option<String>,
    #[doc = "System prompt."] instructions: Option<String>,
    #[doc = "Present when the calculator is enabled."] tool_calculator: Option<String>,
    #[doc = "Present when current_time is enabled."] tool_current_time: Option<String>,
    #[doc = "Present when http_fetch is enabled."] tool_http_fetch: Option<String>,
    #[doc = "Domains, one per line."] http_allowlist: Option<String>,
    #[doc = "MCP tool names, one per line."] other_tools: Option<String>,
    #[doc = "The agent's tool policy rules, a JSON array; empty for none."] tool_policies: Option<
        String,
    >,
    #[doc = "Max LLM calls per run."] max_steps: Option<String>,
    #[doc = "Max output tokens per call."] max_output_tokens: Option<String>,
    #[doc = "Wall-clock limit in seconds."] timeout_secs: Option<String>,
    #[doc = "Ids of the knowledge bases to search (`knowledge_base_ids[]`, one per ticked box)."]
    knowledge_base_ids: Option<Vec<String>>,
    #[doc = "US dollars per million input tokens; empty: no pricing."] price_input: Option<String>,
    #[doc = "US dollars per million output tokens; empty: no pricing."] price_output: Option<
        String,
    >,
) -> Result<Agent, AppError> {
    use autonoma_types::{AgentSpec, Limits};
    let (svc, actor) = ssr::actor().await?;
    let model_ref = model_ref.unwrap_or_default();
    let Some((provider, model)) = model_ref.split_once('/') else {
        return Err(AppError::field("model", "choose a model"));
    };
    let provider_id = ssr::uuid("model", provider)?;
    let number = |field: &str, v: Option<String>, default: u32| -> Result<u32, AppError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(s) => s
                .parse::<u32>()
                .map_err(|_| AppError::field(field, "must be a whole number")),
        }
    };
    let d = Limits::default();
    let limits = Limits {
        max_steps: number("limits.max_steps", max_steps, d.max_steps)?,
        max_output_tokens: number(
            "limits.max_output_tokens",
            max_output_tokens,
            d.max_output_tokens,
        )?,
        timeout_secs: number("limits.timeout_secs", timeout_secs, d.timeout_secs)?,
    };
    let price = |field: &str, v: Option<String>| -> Result<Option<f64>, AppError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<f64>()
                .map(Some)
                .map_err(|_| AppError::field(field, "must be a number of dollars")),
        }
    };
    let pricing = match (
        price("pricing.input_usd_per_mtok", price_input)?,
        price("pricing.output_usd_per_mtok", price_output)?,
    ) {
        (None, None) => None,
        (i, o) => Some(autonoma_types::Pricing {
            input_usd_per_mtok: i.unwrap_or(0.0),
            output_usd_per_mtok: o.unwrap_or(0.0),
        }),
    };
    let mut tools = Vec::new();
    for (name, on) in [
        ("calculator", &tool_calculator),
        ("current_time", &tool_current_time),
        ("http_fetch", &tool_http_fetch),
    ] {
        if on.is_some() {
            tools.push(name.to_string());
        }
    }
    tools.extend(
        other_tools
            .unwrap_or_default()
            .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    let tool_policies = match tool_policies.as_deref().map(str::trim) {
        None | Some("") => vec![],
        Some(text) => serde_json::from_str(text)
            .map_err(|e| AppError::field("tool_policies", format!("not a list of rules: {e}")))?,
    };
    let http_allowlist = http_allowlist
        .unwrap_or_default()
        .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let knowledge_base_ids = knowledge_base_ids
        .unwrap_or_default()
        .iter()
        .map(|id| ssr::uuid("knowledge_base_ids", id))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = AgentSpec {
        name,
        description: description.unwrap_or_default(),
        provider_id,
        model: model.to_string(),
        instructions: instructions.unwrap_or_default(),
        tools,
        http_allowlist,
        knowledge_base_ids,
        tool_policies,
        limits,
        pricing,
    };
    let agent = match id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => svc.update_agent(&actor, ssr::uuid("id", id)?, spec).await?,
        None => svc.create_agent(&actor, spec).await?,
    };
    leptos_axum::redirect(&format!("/agents/{}", agent.id));
    Ok(agent)
}

/// Deletes an agent and goes back to the list.
#[server(prefix = "/sfn", endpoint = "agents/delete")]
pub async fn delete_agent(#[doc = "Agent id."] id: String) -> Result<(), AppError> {
    let (svc, actor) = ssr::actor().await?;
    svc.delete_agent(&actor, ssr::uuid("id", &id)?).await?;
    leptos_axum::redirect("/agents");
    Ok(())
}
