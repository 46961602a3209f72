//! Run server functions: one run with its events, cancelling a run.

use autonoma_types::{Run, RunEvent};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// A run with its events so far, as one turn of a chat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Turn {
    /// The run.
    pub run: Run,
    /// Its events, in order.
    pub events: Vec<RunEvent>,
}

/// Asks a run to stop.
#[server(prefix = "/sfn", endpoint = "runs/cancel")]
pub async fn cancel_run(#[doc = "Run id."] id: String) -> Result<Run, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc.cancel_run(&actor, ssr::uuid("id", &id)?).await?)
}

/// A run and all its events so far.
#[server(prefix = "/sfn", endpoint = "runs/get")]
pub async fn get_run(#[doc = "Run id."] id: String) -> Result<Turn, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let id = ssr::uuid("id", &id)?;
    let run = svc.get_run(&actor, id).await?;
    let events = all_events(&svc, &actor, id).await?;
    Ok(Turn { run, events })
}

/// Every event of a run so far, in order (read in batches; at most about 20 000).
#[cfg(feature = "ssr")]
pub(crate) async fn all_events(
    svc: &autonoma_core::service::Service,
    actor: &autonoma_core::model::Actor,
    run_id: uuid::Uuid,
) -> Result<Vec<RunEvent>, AppError> {
    let mut out: Vec<RunEvent> = Vec::new();
    let mut after = 0;
    loop {
        let batch = svc.run_events(actor, run_id, after).await?;
        let n = batch.len();
        for e in batch {
            after = after.max(e.seq);
            out.push(e);
        }
        if n < 500 || out.len() >= 20_000 {
            break;
        }
    }
    Ok(out)
}
