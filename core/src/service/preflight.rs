//! Preflights ("ghost runs", [`crate::preflight`]): starting one, reading its plan, and
//! checking the preflight a live run says it follows.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::Service;
use crate::guard::require;
use crate::model::*;
use crate::plan::{Plan, PreflightInput};
use crate::service::RunInput;
use crate::{Error, Result};

impl Service {
    /// Queues a preflight of the agent's current version for `input` (member+: it calls
    /// the model and the read-only tools, which cost what a run costs). It runs in a thread
    /// of its own, so it never becomes context of a conversation. Returns the preflight
    /// run; its plan is [`Service::preflight_plan`]. Errors as [`Service::start_run`].
    pub async fn start_preflight(
        &self,
        actor: &Actor,
        agent_id: Uuid,
        input: PreflightInput,
    ) -> Result<Run> {
        require(actor, Role::Member, "preflights need member")?;
        let input = RunInput {
            input: input.input,
            thread_id: None,
            preflight_id: None,
        };
        let (run, _) = self
            .queue_run(actor, agent_id, input, None, RunMode::Preflight)
            .await?;
        Ok(run)
    }

    /// The plan of preflight `id` (viewer+), from its events so far: complete once its
    /// `status` is terminal. Errors: [`Error::NotFound`] (also for another organization's
    /// preflight and for a run that is not a preflight).
    pub async fn preflight_plan(&self, actor: &Actor, id: Uuid) -> Result<Plan> {
        self.plan_of(actor.org_id, id).await
    }

    /// Waits up to `wait` for preflight `id` to end (following its events, so it returns as
    /// soon as the terminal event is written), then returns its plan — complete, or as far
    /// as it got when `wait` ran out (its `status` says which). Errors as
    /// [`Service::preflight_plan`].
    pub async fn await_preflight(
        self: &Arc<Self>,
        actor: &Actor,
        id: Uuid,
        wait: Duration,
    ) -> Result<Plan> {
        let plan = self.preflight_plan(actor, id).await?;
        if plan.status.is_terminal() {
            return Ok(plan);
        }
        let mut follower = self.follow_run_events(actor, id, 0).await?;
        let until_end = async {
            while let Some(e) = follower.next().await {
                if e?.kind.is_terminal() {
                    break;
                }
            }
            Ok::<(), Error>(())
        };
        if let Ok(r) = tokio::time::timeout(wait, until_end).await {
            r?;
        }
        self.preflight_plan(actor, id).await
    }

    /// [`Service::preflight_plan`] within `org_id`.
    pub(crate) async fn plan_of(&self, org_id: Uuid, id: Uuid) -> Result<Plan> {
        let run = self.store.get_run(org_id, id).await?;
        if run.mode != RunMode::Preflight {
            return Err(Error::NotFound("preflight"));
        }
        let version = self
            .store
            .get_agent_version(org_id, run.agent_id, run.agent_version)
            .await?;
        let events = self.all_events(run.id).await?;
        crate::preflight::plan_from_events(&run, &events, version.spec.pricing.as_ref())
    }

    /// The preflight a live run of `agent_id` wants to follow: it must be a completed
    /// preflight of the same agent in the caller's organization. Errors:
    /// [`Error::Validation`] on `preflight_id` otherwise.
    pub(super) async fn followed_preflight(
        &self,
        actor: &Actor,
        agent_id: Uuid,
        preflight_id: Uuid,
    ) -> Result<Run> {
        let invalid = |m: &str| Error::validation("preflight_id", m);
        let run = match self.store.get_run(actor.org_id, preflight_id).await {
            Ok(r) => r,
            Err(Error::NotFound(_)) => return Err(invalid("no such preflight")),
            Err(e) => return Err(e),
        };
        if run.mode != RunMode::Preflight {
            return Err(invalid("no such preflight"));
        }
        if run.agent_id != agent_id {
            return Err(invalid("that preflight is of another agent"));
        }
        if run.status != RunStatus::Completed {
            return Err(invalid("that preflight has not completed"));
        }
        Ok(run)
    }
}
