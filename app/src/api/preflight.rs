//! Preflight server functions: run an agent's preflight and wait for its plan; start a
//! live run that follows a plan.

use autonoma_types::preflight::Plan;
use autonoma_types::Run;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// How long the editor waits for a preflight before showing the plan so far: 60 s.
#[cfg(feature = "ssr")]
const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs a preflight of the agent on `input` (non-read-only tools simulated, nothing waits
/// for approval) and returns its plan once it ends (or as far as it got after 60 s).
#[server(prefix = "/sfn", endpoint = "preflight/run")]
pub async fn run_preflight(
    #[doc = "Agent id."] agent_id: String,
    #[doc = "The message to plan for."] input: String,
) -> Result<Plan, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let agent_id = ssr::uuid("agent_id", &agent_id)?;
    let run = svc
        .start_preflight(
            &actor,
            agent_id,
            autonoma_types::preflight::PreflightInput { input },
        )
        .await?;
    Ok(svc.await_preflight(&actor, run.id, WAIT).await?)
}

/// Starts a live run that follows preflight `preflight_id` (its input), then opens its
/// conversation.
#[server(prefix = "/sfn", endpoint = "preflight/follow")]
pub async fn run_plan(
    #[doc = "Agent id."] agent_id: String,
    #[doc = "The preflight whose plan the run follows."] preflight_id: String,
) -> Result<Run, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let (run, _) = svc
        .start_run(
            &actor,
            ssr::uuid("agent_id", &agent_id)?,
            autonoma_types::RunInput {
                input: String::new(),
                thread_id: None,
                preflight_id: Some(ssr::uuid("preflight_id", &preflight_id)?),
            },
            None,
        )
        .await?;
    leptos_axum::redirect(&format!(
        "/agents/{}?thread={}",
        run.agent_id, run.thread_id
    ));
    Ok(run)
}
