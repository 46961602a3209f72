//! Runs: starting (queued on [`RUNS_QUEUE`]), reading, cancelling, and a run's events —
//! a page of them, or followed live until the terminal event ([`RunFollower`]).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use uuid::Uuid;

use super::Service;
use crate::guard::{check_len, into_page, page_limit, parse_cursor, require};
use crate::model::*;
use crate::store::NewRun;
use crate::{Error, Result};

/// Queue carrying run jobs (`{"run_id": "..."}`).
pub const RUNS_QUEUE: &str = "runs";
/// Deliveries of a run job before it is dead-lettered (then
/// [`Service::fail_dead_lettered_runs`] ends the run `failed`). A delivery counts whether it
/// ended in an error (retried after [`crate::worker::retry_delay`]: 1 s, 2 s, … 256 s, about
/// 8.5 min in all) or in an expired lease, which is what a crashed executor leaves: the
/// queue cannot tell a crash from a run that crashes its executor each time, so a crash
/// costs the run one of these. Ten lets a run survive nine consecutive executor crashes
/// and a database outage of several minutes.
pub const RUN_MAX_ATTEMPTS: u32 = 10;
/// Most events one read of a run's events returns ([`Service::run_events`]).
const EVENTS_PAGE: u32 = 500;
/// How long a [`RunFollower`] waits for a wake-up from [`Service::notifier`] before it reads
/// the run's events again anyway: the safety net for a lost notification.
pub const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(500);

pub use autonoma_types::requests::RunInput;

impl Service {
    /// Queues a run of the agent's current version (member+). Returns the run and whether
    /// it was newly created (false when `idempotency_key` matched an earlier run).
    pub async fn start_run(
        &self,
        actor: &Actor,
        agent_id: Uuid,
        input: RunInput,
        idempotency_key: Option<&str>,
    ) -> Result<(Run, bool)> {
        require(actor, Role::Member, "starting runs needs member")?;
        if let Some(k) = idempotency_key {
            check_len("Idempotency-Key", k, 1, 255)?;
        }
        let mut input = input;
        if let Some(preflight_id) = input.preflight_id {
            // The agent first: another organization's agent is a 404 either way.
            self.store.get_agent(actor.org_id, agent_id).await?;
            let preflight = self
                .followed_preflight(actor, agent_id, preflight_id)
                .await?;
            if input.input.trim().is_empty() {
                input.input = preflight.input;
            }
        }
        self.queue_run(actor, agent_id, input, idempotency_key, RunMode::Live)
            .await
    }

    /// Creates a run of `mode` and queues it (the caller checked the role and the key).
    pub(super) async fn queue_run(
        &self,
        actor: &Actor,
        agent_id: Uuid,
        input: RunInput,
        idempotency_key: Option<&str>,
        mode: RunMode,
    ) -> Result<(Run, bool)> {
        if input.input.trim().is_empty() || input.input.len() > 100_000 {
            return Err(Error::validation(
                "input",
                "must be 1 to 100000 bytes of text",
            ));
        }
        let agent = self.store.get_agent(actor.org_id, agent_id).await?;
        let thread_id = match input.thread_id {
            Some(t) => {
                let runs = self.store.list_thread_runs(actor.org_id, t).await?;
                let Some(last) = runs.last() else {
                    return Err(Error::validation("thread_id", "no such thread"));
                };
                if last.agent_id != agent_id {
                    return Err(Error::validation(
                        "thread_id",
                        "thread belongs to another agent",
                    ));
                }
                if !last.status.is_terminal() {
                    return Err(Error::Conflict(
                        "the thread's previous run is still in progress".into(),
                    ));
                }
                t
            }
            None => Uuid::now_v7(),
        };
        let new = NewRun {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            agent_id,
            agent_version: agent.version,
            thread_id,
            input: input.input,
            created_by: actor.user_id,
            mode,
            preflight_id: input.preflight_id,
        };
        let (run, created) = self.store.create_run(&new, idempotency_key).await?;
        if created {
            if let Err(e) = self
                .queue
                .enqueue(
                    RUNS_QUEUE,
                    &serde_json::json!({ "run_id": run.id }),
                    RUN_MAX_ATTEMPTS,
                    Duration::ZERO,
                )
                .await
            {
                let _ = self.store.mark_run_enqueued(run.id).await;
                // Epoch 0: no executor has claimed the run (it was never enqueued).
                let _ = self
                    .store
                    .update_run(
                        run.id,
                        0,
                        &crate::store::RunUpdate {
                            status: RunStatus::Failed,
                            output: None,
                            error: Some("could not enqueue".into()),
                            usage: Usage::default(),
                            steps: 0,
                        },
                    )
                    .await;
                return Err(e);
            }
            // A failure here leaves the outbox row: the recovery sweep finds the run claimed
            // or finished and only deletes it.
            if let Err(e) = self.store.mark_run_enqueued(run.id).await {
                tracing::warn!(run = %run.id, error = %e, "could not clear the run's outbox row");
            }
            self.audit_after(
                actor.org_id,
                super::audit::audit_actor(actor),
                crate::audit::actions::RUN_START,
                Some(run.id.to_string()),
                serde_json::json!({
                    "agent_id": run.agent_id,
                    "agent_version": run.agent_version,
                    "thread_id": run.thread_id,
                    "mode": run.mode.as_str(),
                    "preflight_id": run.preflight_id,
                }),
            )
            .await;
        }
        Ok((run, created))
    }

    /// Every event of run `run_id` (no scoping: the caller read the run in its
    /// organization first), in `seq` order, read in pages.
    pub(crate) async fn all_events(&self, run_id: Uuid) -> Result<Vec<RunEvent>> {
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |e: &RunEvent| e.seq);
            let page = self.store.list_events(run_id, after, EVENTS_PAGE).await?;
            let done = page.len() < EVENTS_PAGE as usize;
            events.extend(page);
            if done {
                return Ok(events);
            }
        }
    }

    /// One run (viewer+).
    pub async fn get_run(&self, actor: &Actor, id: Uuid) -> Result<Run> {
        self.store.get_run(actor.org_id, id).await
    }

    /// A page of runs, newest first, optionally of one agent (viewer+).
    pub async fn list_runs(
        &self,
        actor: &Actor,
        agent_id: Option<Uuid>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Run>> {
        let limit = page_limit(limit)?;
        let after = parse_cursor(cursor)?;
        let items = self
            .store
            .list_runs(actor.org_id, agent_id, after, limit + 1)
            .await?;
        Ok(into_page(items, limit, |r| r.id))
    }

    /// Runs of a thread, oldest first (viewer+).
    pub async fn thread(&self, actor: &Actor, thread_id: Uuid) -> Result<Vec<Run>> {
        self.store.list_thread_runs(actor.org_id, thread_id).await
    }

    /// Asks a run to stop (member+); its executor is woken at once (in this process, or
    /// through the store's notifications in another), stops mid-stream if need be, and
    /// records a `cancelled` event. A run parked for approvals has them denied by the
    /// caller ("the run was cancelled"), so the inbox does not keep them, and is woken to
    /// end.
    pub async fn cancel_run(&self, actor: &Actor, id: Uuid) -> Result<Run> {
        require(actor, Role::Member, "cancelling runs needs member")?;
        self.store.request_cancel(actor.org_id, id).await?;
        self.cancels.notify(id);
        self.notifier.notify(id);
        let run = self.store.get_run(actor.org_id, id).await?;
        if run.status == RunStatus::WaitingApproval {
            let mut pending = std::collections::BTreeSet::new();
            for e in self.all_events(id).await? {
                match e.kind {
                    RunEventKind::ApprovalRequested { approval_id, .. } => {
                        pending.insert(approval_id);
                    }
                    RunEventKind::ApprovalDecided { approval_id, .. } => {
                        pending.remove(&approval_id);
                    }
                    _ => {}
                }
            }
            for approval_id in pending {
                let input = crate::governance::ApprovalInput {
                    comment: "the run was cancelled".into(),
                    arguments: None,
                };
                match self
                    .decide(
                        actor,
                        approval_id,
                        crate::governance::ApprovalStatus::Denied,
                        input,
                    )
                    .await
                {
                    // Decided meanwhile (a person, or its expiry): nothing to do.
                    Ok(_) | Err(Error::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            // No executor holds a parked run: wake one to end it.
            self.enqueue_continuation(id, Duration::ZERO).await?;
        }
        Ok(run)
    }

    /// Events of a run after `after` (viewer+), up to 500. Viewers get tool arguments and
    /// tool outputs PII-redacted ([`redacted_for_viewer`]).
    pub async fn run_events(
        &self,
        actor: &Actor,
        run_id: Uuid,
        after: i64,
    ) -> Result<Vec<RunEvent>> {
        self.store.get_run(actor.org_id, run_id).await?;
        let events = self.store.list_events(run_id, after, EVENTS_PAGE).await?;
        Ok(if actor.role == Role::Viewer {
            events.into_iter().map(redacted_for_viewer).collect()
        } else {
            events
        })
    }

    /// Follows a run's events live (viewer+): those with `seq > after_seq` in order, then
    /// each new one as it is written, until the terminal event (`completed`, `failed` or
    /// `cancelled`), which is the last one given. See [`RunFollower`] for the wake-ups.
    /// `after_seq` is what an SSE client's `Last-Event-ID` says (0: from the start).
    ///
    /// Errors (now, before anything is followed): `NotFound` for a run that is missing or
    /// belongs to another organization. Later errors come out of [`RunFollower::next`].
    pub async fn follow_run_events(
        self: &Arc<Self>,
        actor: &Actor,
        run_id: Uuid,
        after_seq: i64,
    ) -> Result<RunFollower> {
        self.get_run(actor, run_id).await?;
        Ok(RunFollower {
            notify: self.notifier.for_run(run_id),
            service: self.clone(),
            actor: actor.clone(),
            run_id,
            last_seq: after_seq,
            pending: VecDeque::new(),
            armed: None,
            finished: false,
        })
    }
}

/// An event as a viewer sees it: the arguments of tool calls (also inside the assistant
/// message and approval events) through [`crate::redact::redact_json`], tool outputs
/// through [`crate::redact::redact_text`] (e-mail addresses, phone and card numbers, API
/// keys). Members and up see events as recorded; hashes in receipts cover the originals.
pub fn redacted_for_viewer(mut e: RunEvent) -> RunEvent {
    use crate::redact::{redact_json, redact_text};
    match &mut e.kind {
        RunEventKind::ToolCall { arguments, .. }
        | RunEventKind::ApprovalRequested { arguments, .. } => *arguments = redact_json(arguments),
        RunEventKind::AssistantMessage { tool_calls, .. } => {
            for c in tool_calls {
                c.arguments = redact_json(&c.arguments);
            }
        }
        RunEventKind::ApprovalDecided {
            edited_arguments: Some(a),
            ..
        } => *a = redact_json(a),
        RunEventKind::ToolResult { output, .. } => {
            if let std::borrow::Cow::Owned(r) = redact_text(output) {
                *output = r;
            }
        }
        _ => {}
    }
    e
}

/// A run's events as they come ([`Service::follow_run_events`]).
///
/// Each read of the store ([`Service::run_events`], up to 500 events) is preceded by
/// registering for the run's wake-up in [`Service::notifier`], so an event written while a
/// read or the caller's handling of its events is under way is never missed: after handing
/// out a read's events the follower waits for that wake-up (this process's executor, or on
/// PostgreSQL any process's through `LISTEN`), at most [`FOLLOW_POLL_INTERVAL`], then reads
/// again. It ends after the terminal event, or after the first error.
pub struct RunFollower {
    service: Arc<Service>,
    actor: Actor,
    run_id: Uuid,
    notify: Arc<Notify>,
    /// The highest `seq` handed out (or the starting point).
    last_seq: i64,
    /// Events of the last read not yet handed out.
    pending: VecDeque<RunEvent>,
    /// The wake-up registered before the last read (`None` until the first read).
    armed: Option<Pin<Box<OwnedNotified>>>,
    /// The terminal event is in `pending` (or was handed out), or a read failed.
    finished: bool,
}

impl RunFollower {
    /// The next event; `None` once the terminal event (or an error) has been handed out.
    /// Errors: the store's, from a read (the follower ends after it).
    ///
    /// Cancel safety: dropping the future while it waits loses nothing (the registered
    /// wake-up is kept for the next call).
    pub async fn next(&mut self) -> Option<Result<RunEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last_seq = event.seq;
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            // The first read does not wait; later ones wait for the wake-up registered
            // before the previous read, at most one poll interval.
            if let Some(armed) = self.armed.as_mut() {
                let _ = tokio::time::timeout(FOLLOW_POLL_INTERVAL, armed.as_mut()).await;
            }
            let mut armed = Box::pin(self.notify.clone().notified_owned());
            armed.as_mut().enable();
            self.armed = Some(armed);
            match self
                .service
                .run_events(&self.actor, self.run_id, self.last_seq)
                .await
            {
                Ok(events) => {
                    self.finished = events.iter().any(|e| e.kind.is_terminal());
                    self.pending.extend(events);
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
        }
    }

    /// The `seq` of the last event handed out (the starting `after_seq` before the first).
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }
}
