//! Chat server functions: send a message (start a run), an agent's runs, a conversation.

use autonoma_types::{Page, Run};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::run::all_events;
use super::run::Turn;
#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// Sends a chat message: starts a run of the agent, continuing `thread_id` when given.
/// A plain form post is redirected to the chat page of that thread.
#[server(prefix = "/sfn", endpoint = "runs/start")]
pub async fn send_message(
    #[doc = "Agent id."] agent_id: String,
    #[doc = "The user's message."] input: String,
    #[doc = "Conversation to continue; empty starts a new one."] thread_id: Option<String>,
) -> Result<Run, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let agent_id = ssr::uuid("agent_id", &agent_id)?;
    let thread_id = match thread_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(t) => Some(ssr::uuid("thread_id", t)?),
        None => None,
    };
    let (run, _) = svc
        .start_run(
            &actor,
            agent_id,
            autonoma_types::RunInput {
                input,
                thread_id,
                preflight_id: None,
            },
            None,
        )
        .await?;
    if ssr::is_plain_form_post() {
        leptos_axum::redirect(&format!(
            "/agents/{}?thread={}",
            run.agent_id, run.thread_id
        ));
    }
    Ok(run)
}

/// A page of runs of one agent, newest first.
#[server(prefix = "/sfn", endpoint = "runs/list")]
pub async fn list_runs(
    #[doc = "Agent id."] agent_id: String,
    #[doc = "Cursor from the previous page."] cursor: Option<String>,
) -> Result<Page<Run>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc
        .list_runs(
            &actor,
            Some(ssr::uuid("agent_id", &agent_id)?),
            cursor.as_deref(),
            Some(20),
        )
        .await?)
}

/// The runs of a conversation, oldest first, each with its events.
#[server(prefix = "/sfn", endpoint = "runs/thread")]
pub async fn get_thread(
    #[doc = "Conversation id (a run's `thread_id`)."] thread_id: String,
) -> Result<Vec<Turn>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let runs = svc
        .thread(&actor, ssr::uuid("thread_id", &thread_id)?)
        .await?;
    let mut turns = Vec::with_capacity(runs.len());
    for run in runs {
        let events = all_events(&svc, &actor, run.id).await?;
        turns.push(Turn { run, events });
    }
    Ok(turns)
}
