//! The agent loop.
//!
//! For each step (at most `limits.max_steps`): call the LLM with the conversation and the
//! agent's tool definitions, stream its text as `token_delta` events, then run every tool
//! call it made and append the results; stop when the model answers without tool calls.
//! Every step is persisted as [`RunEventKind`] events before the next begins.
//!
//! **Durable resume.** The events are the run's checkpoint. An executor first claims the
//! run ([`Store::claim_run`](crate::store::Store::claim_run)), which yields a fencing epoch
//! that every later write carries, so an executor that stalled past its lease can no longer
//! write once another took over. A run claimed again (crash, lost lease, a serverless time
//! budget) is rebuilt from its events: a step whose `assistant_message` is recorded is
//! replayed without calling the model again, a tool call whose `tool_result` is recorded is
//! not run again, and the loop continues with the first step that has no recorded message.
//! The only work that can repeat is the step in flight when the previous executor stopped:
//! its model call (nothing of it was recorded but token deltas), or a tool call whose result
//! was not yet recorded (tools are therefore at-least-once across crashes).
//!
//! Cancellation is checked while the model streams and between tool calls; the wall-time
//! limit covers the whole run, counted from its first start.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::capability::{CapabilityCall, CapabilityToken, RunGrant};
use crate::governance::{Approval, ApprovalStatus, Policy, PolicyAction};
use crate::llm::{ChatMessage, ChatRequest, ChatRole, ProviderFactory, ToolCall};
use crate::model::{RunEvent, RunEventKind, RunMode, RunStatus, Usage};
use crate::service::Service;
use crate::store::RunUpdate;
use crate::tool::{ToolContext, ToolRegistry};
use crate::{Error, Result};

/// Longest a single tool call may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the executor also polls the store for a cancel request, besides being woken
/// by [`crate::service::Service::cancels`]: the safety net for a lost cross-process
/// notification.
pub const CANCEL_POLL: Duration = Duration::from_secs(2);
/// How long a run's capability token outlives the run's remaining wall time (minted at
/// every claim, so time parked for an approval never counts against it).
pub const CAPABILITY_SLACK: Duration = Duration::from_secs(60);

/// What the agent loop needs besides the run itself.
#[derive(Clone)]
pub struct RunEnv {
    pub service: Arc<Service>,
    pub providers: Arc<dyn ProviderFactory>,
    pub tools: ToolRegistry,
    /// Per-organization tools (MCP connections), asked for the spec's names that `tools`
    /// lacks.
    pub resolvers: Vec<Arc<dyn crate::tool::ToolResolver>>,
}

enum Stop {
    Cancelled,
    Timeout,
}

/// Bounds of one execution attempt (not of the run itself).
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    /// Do not start a new step after this instant (a serverless function's time budget):
    /// the run stays `running` and [`Outcome::Suspended`] is returned, so the caller can
    /// enqueue its continuation. `None`: no budget.
    pub budget: Option<Instant>,
    /// Fired when this executor must stop at once and write nothing more (its queue lease
    /// was lost, so another executor will resume the run).
    pub abandon: CancellationToken,
}

/// How one execution attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The run is terminal (now, or it already was).
    Finished(RunStatus),
    /// The budget ran out between steps; executing the run again resumes at `next_step`.
    Suspended { next_step: u32 },
    /// This executor stopped because another one claimed the run or its lease was lost.
    Abandoned,
    /// The run is parked in `waiting_approval`: nothing runs until the approval is decided
    /// (or expires), which enqueues its continuation. The job that ran it is done.
    WaitingApproval,
}

/// What a run's events say was already done.
#[derive(Default)]
struct Recorded {
    started: bool,
    usage: Usage,
    steps: BTreeMap<u32, RecordedStep>,
    /// Time spent parked for approvals (from `approval_requested` to the next resume),
    /// which the wall-time limit does not count.
    waited: chrono::Duration,
    /// When the run last parked, if it has not resumed since.
    parked_since: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Default)]
struct RecordedStep {
    /// The assistant message and its tool calls (the step's model call is done).
    message: Option<(String, Vec<ToolCall>)>,
    /// Tool calls whose `tool_call` event exists.
    calls: HashSet<String>,
    /// Tool results by call id: (output, is_error).
    results: HashMap<String, (String, bool)>,
    /// Policy decisions by call id: the action and the rule that chose it.
    decisions: HashMap<String, (PolicyAction, String)>,
    /// Calls whose approval was requested.
    requested: HashSet<String>,
    /// Approval decisions by call id.
    decided: HashMap<String, Decided>,
}

/// A recorded approval decision.
#[derive(Clone)]
struct Decided {
    approved: bool,
    comment: String,
    edited_arguments: Option<serde_json::Value>,
}

impl Recorded {
    fn fold(events: &[RunEvent]) -> Recorded {
        let mut r = Recorded::default();
        for e in events {
            match &e.kind {
                RunEventKind::RunStarted { .. } => r.started = true,
                RunEventKind::RunResumed { .. } => {
                    if let Some(since) = r.parked_since.take() {
                        r.waited += e.created_at - since;
                    }
                }
                RunEventKind::PolicyDecision {
                    step,
                    call_id,
                    decision,
                    rule,
                    ..
                } => {
                    r.steps
                        .entry(*step)
                        .or_default()
                        .decisions
                        .insert(call_id.clone(), (*decision, rule.clone()));
                }
                RunEventKind::ApprovalRequested { step, call_id, .. } => {
                    r.steps
                        .entry(*step)
                        .or_default()
                        .requested
                        .insert(call_id.clone());
                    r.parked_since = Some(e.created_at);
                }
                RunEventKind::ApprovalDecided {
                    step,
                    call_id,
                    approved,
                    comment,
                    edited_arguments,
                    ..
                } => {
                    r.steps.entry(*step).or_default().decided.insert(
                        call_id.clone(),
                        Decided {
                            approved: *approved,
                            comment: comment.clone(),
                            edited_arguments: edited_arguments.clone(),
                        },
                    );
                }
                RunEventKind::Usage {
                    input_tokens,
                    output_tokens,
                    ..
                } => {
                    r.usage.input_tokens += input_tokens;
                    r.usage.output_tokens += output_tokens;
                }
                RunEventKind::AssistantMessage {
                    step,
                    text,
                    tool_calls,
                } => {
                    r.steps.entry(*step).or_default().message =
                        Some((text.clone(), tool_calls.clone()));
                }
                RunEventKind::ToolCall { step, call_id, .. } => {
                    r.steps
                        .entry(*step)
                        .or_default()
                        .calls
                        .insert(call_id.clone());
                }
                RunEventKind::ToolResult {
                    step,
                    call_id,
                    output,
                    is_error,
                    ..
                } => {
                    r.steps
                        .entry(*step)
                        .or_default()
                        .results
                        .insert(call_id.clone(), (output.clone(), *is_error));
                }
                _ => {}
            }
        }
        r
    }

    /// The first step not fully recorded (message and every tool result).
    fn resume_step(&self) -> u32 {
        let mut next = 1;
        for (n, s) in &self.steps {
            match &s.message {
                Some((_, calls)) if calls.iter().all(|c| s.results.contains_key(&c.id)) => {
                    next = n + 1
                }
                _ => return *n,
            }
        }
        next
    }
}

impl RunEnv {
    async fn emit(&self, run_id: Uuid, epoch: i64, kind: RunEventKind) -> Result<()> {
        self.service
            .store
            .append_event(run_id, epoch, &kind)
            .await?;
        self.service.notifier.notify(run_id);
        Ok(())
    }

    /// Executes a queued run to a terminal state (or until it parks for an approval:
    /// `waiting_approval`) and returns its status; `cancel` ends it as
    /// `cancelled`. A run already terminal is left untouched (a redelivered job is a no-op);
    /// a run that was `running` is resumed from its events. Storage errors are returned so
    /// the queue can retry; model and tool errors end the run as `failed`.
    pub async fn execute(&self, run_id: Uuid, cancel: CancellationToken) -> Result<RunStatus> {
        match self
            .execute_attempt(run_id, &Attempt::default(), Some(cancel))
            .await?
        {
            Outcome::Finished(status) => Ok(status),
            Outcome::Suspended { .. } | Outcome::Abandoned | Outcome::WaitingApproval => {
                Ok(self.service.store.get_run_unscoped(run_id).await?.status)
            }
        }
    }

    /// One execution attempt of a run under `attempt`'s bounds: claims the run, rebuilds it
    /// from its events, and runs steps until it is terminal, the budget is spent
    /// ([`Outcome::Suspended`]) or another executor takes over ([`Outcome::Abandoned`]).
    /// Errors: storage failures (the caller retries the job).
    pub async fn execute_until(&self, run_id: Uuid, attempt: &Attempt) -> Result<Outcome> {
        self.execute_attempt(run_id, attempt, None).await
    }

    async fn execute_attempt(
        &self,
        run_id: Uuid,
        attempt: &Attempt,
        user_cancel: Option<CancellationToken>,
    ) -> Result<Outcome> {
        let store = &self.service.store;
        // A terminal (or missing) run is not claimed; its status answers (or NotFound).
        let Some(epoch) = store.claim_run(run_id).await? else {
            return Ok(Outcome::Finished(
                store.get_run_unscoped(run_id).await?.status,
            ));
        };
        match self
            .run_claimed(run_id, epoch, attempt, user_cancel.unwrap_or_default())
            .await
        {
            Err(Error::LeaseLost) => {
                tracing::info!(run = %run_id, epoch, "run taken over by another executor; stopping");
                Ok(Outcome::Abandoned)
            }
            other => other,
        }
    }

    async fn run_claimed(
        &self,
        run_id: Uuid,
        epoch: i64,
        attempt: &Attempt,
        cancel: CancellationToken,
    ) -> Result<Outcome> {
        let store = &self.service.store;
        let run = store.get_run_unscoped(run_id).await?;
        let version = store
            .get_agent_version(run.org_id, run.agent_id, run.agent_version)
            .await?;
        let spec = version.spec;

        let events = self.service.all_events(run_id).await?;
        let recorded = Recorded::fold(&events);
        if recorded.started {
            let from_step = recorded.resume_step();
            tracing::info!(run = %run_id, epoch, from_step, "resuming run");
            self.emit(
                run_id,
                epoch,
                RunEventKind::RunResumed {
                    from_step,
                    attempt: epoch,
                },
            )
            .await?;
        } else {
            self.emit(
                run_id,
                epoch,
                RunEventKind::RunStarted {
                    agent_version: run.agent_version,
                    model: spec.model.clone(),
                },
            )
            .await?;
        }

        // Watch for cancel requests made through the store (from any process): checked now
        // (one may predate this attempt), then whenever the service is told of one, and
        // every CANCEL_POLL in case a notification was lost.
        // A parked run woken to be cancelled must not park again before the watcher looks.
        if store.cancel_requested(run_id).await? {
            cancel.cancel();
        }
        let watcher = {
            let store = store.clone();
            let cancel = cancel.clone();
            let signal = self.service.cancels.for_run(run_id);
            tokio::spawn(async move {
                loop {
                    let woken = signal.notified();
                    tokio::pin!(woken);
                    woken.as_mut().enable();
                    if cancel.is_cancelled() {
                        break;
                    }
                    if matches!(store.cancel_requested(run_id).await, Ok(true)) {
                        cancel.cancel();
                        break;
                    }
                    tokio::select! {
                        _ = &mut woken => {}
                        _ = tokio::time::sleep(CANCEL_POLL) => {}
                        _ = cancel.cancelled() => break,
                    }
                }
            })
        };
        let outcome = self
            .agent_loop(&run, epoch, &spec, recorded, &cancel, attempt)
            .await;
        watcher.abort();
        self.service.cancels.forget(run_id);

        let (status, output, error, usage, steps, last) = match outcome? {
            LoopEnd::Answer { text, usage, steps } => (
                RunStatus::Completed,
                Some(text.clone()),
                None,
                usage,
                steps,
                RunEventKind::Completed { output: text },
            ),
            LoopEnd::Stopped {
                stop: Stop::Cancelled,
                usage,
                steps,
            } => {
                let reason = "cancelled by request".to_string();
                (
                    RunStatus::Cancelled,
                    None,
                    Some(reason.clone()),
                    usage,
                    steps,
                    RunEventKind::Cancelled { reason },
                )
            }
            LoopEnd::Stopped {
                stop: Stop::Timeout,
                usage,
                steps,
            } => {
                let reason = format!("wall-time limit of {} s reached", spec.limits.timeout_secs);
                (
                    RunStatus::Failed,
                    None,
                    Some(reason.clone()),
                    usage,
                    steps,
                    RunEventKind::Failed {
                        reason,
                        code: "timeout".into(),
                    },
                )
            }
            LoopEnd::Failed {
                reason,
                code,
                usage,
                steps,
            } => (
                RunStatus::Failed,
                None,
                Some(reason.clone()),
                usage,
                steps,
                RunEventKind::Failed { reason, code },
            ),
            LoopEnd::Suspended {
                next_step,
                usage,
                steps,
            } => {
                // Progress so far, for readers of the run; the events hold the checkpoint.
                store
                    .update_run(
                        run_id,
                        epoch,
                        &RunUpdate {
                            status: RunStatus::Running,
                            output: None,
                            error: None,
                            usage,
                            steps,
                        },
                    )
                    .await?;
                return Ok(Outcome::Suspended { next_step });
            }
            LoopEnd::Abandoned => return Ok(Outcome::Abandoned),
            LoopEnd::Parked => return Ok(Outcome::WaitingApproval),
        };
        // Status and terminal event in one transaction: a client that sees `completed` on
        // the event stream and then reads the run finds it terminal too, and a crash cannot
        // separate them.
        store
            .finish_run(
                run_id,
                epoch,
                &RunUpdate {
                    status,
                    output,
                    error,
                    usage,
                    steps,
                },
                &last,
            )
            .await?;
        self.service.notifier.notify(run_id);
        self.service.notifier.forget(run_id);
        self.service
            .audit_after(
                run.org_id,
                crate::audit::AuditActor::System,
                crate::audit::actions::RUN_FINISH,
                Some(run_id.to_string()),
                serde_json::json!({
                    "status": status.as_str(), "steps": steps,
                    "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                }),
            )
            .await;
        Ok(Outcome::Finished(status))
    }

    async fn agent_loop(
        &self,
        run: &crate::model::Run,
        epoch: i64,
        spec: &crate::model::AgentSpec,
        mut recorded: Recorded,
        cancel: &CancellationToken,
        attempt: &Attempt,
    ) -> Result<LoopEnd> {
        // The wall-time limit counts from the run's first start, across resumes.
        let limit = Duration::from_secs(spec.limits.timeout_secs as u64);
        let now = chrono::Utc::now();
        let waited = recorded.waited
            + recorded
                .parked_since
                .map_or(chrono::Duration::zero(), |t| now - t);
        let elapsed = run
            .started_at
            .map(|t| (now - t - waited).to_std().unwrap_or_default())
            .unwrap_or_default();
        let deadline = Instant::now() + limit.saturating_sub(elapsed);
        let mut usage = recorded.usage;
        let mut steps: i64 = 0;
        let abandon = &attempt.abandon;

        let provider = match self
            .service
            .provider_with_key(run.org_id, spec.provider_id)
            .await
        {
            Ok((conn, key)) => match self.providers.build(&conn, key) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(LoopEnd::Failed {
                        reason: e.to_string(),
                        code: "provider_error".into(),
                        usage,
                        steps,
                    })
                }
            },
            Err(Error::NotFound(_)) => {
                return Ok(LoopEnd::Failed {
                    reason: "the agent's provider connection was deleted".into(),
                    code: "provider_error".into(),
                    usage,
                    steps,
                })
            }
            Err(e) => return Err(e),
        };

        // Conversation: instructions, earlier turns of the thread, this input.
        let mut messages = Vec::new();
        if !spec.instructions.trim().is_empty() {
            messages.push(ChatMessage::text(
                ChatRole::System,
                spec.instructions.clone(),
            ));
        }
        for earlier in self
            .service
            .store
            .list_thread_runs(run.org_id, run.thread_id)
            .await?
        {
            if earlier.id == run.id {
                break;
            }
            if let Some(out) = earlier
                .output
                .filter(|_| earlier.status == RunStatus::Completed)
            {
                messages.push(ChatMessage::text(ChatRole::User, earlier.input));
                messages.push(ChatMessage::text(ChatRole::Assistant, out));
            }
        }
        messages.push(ChatMessage::text(ChatRole::User, run.input.clone()));

        let mut tools: Vec<_> = spec
            .tools
            .iter()
            .filter_map(|n| self.tools.get(n))
            .collect();
        let missing: Vec<String> = spec
            .tools
            .iter()
            .filter(|n| self.tools.get(n).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            for r in &self.resolvers {
                tools.extend(r.resolve(run.org_id, &missing).await?);
            }
        }
        let tool_defs: Vec<_> = tools.iter().map(|t| t.definition()).collect();
        let org_rules = self.service.store.list_policies(run.org_id).await?;
        let mut tool_ctx = ToolContext {
            http_allowlist: spec.http_allowlist.clone(),
            org_id: run.org_id,
            knowledge_base_ids: spec.knowledge_base_ids.clone(),
            run_id: run.id,
            idempotency_key: String::new(),
        };
        let capability = self
            .mint_capability(
                run,
                epoch,
                &tools,
                spec,
                &org_rules,
                limit.saturating_sub(elapsed),
            )
            .await?;

        for step in 1..=spec.limits.max_steps {
            steps = step as i64;
            let mut done = recorded.steps.remove(&step).unwrap_or_default();
            let (content, tool_calls) = match done.message.take() {
                // Checkpointed: replay the recorded answer instead of calling the model.
                Some(m) => m,
                None => {
                    if abandon.is_cancelled() {
                        return Ok(LoopEnd::Abandoned);
                    }
                    if attempt.budget.is_some_and(|b| Instant::now() >= b) {
                        return Ok(LoopEnd::Suspended {
                            next_step: step,
                            usage,
                            steps: step as i64 - 1,
                        });
                    }
                    let request = ChatRequest {
                        model: spec.model.clone(),
                        messages: messages.clone(),
                        tools: tool_defs.clone(),
                        max_tokens: spec.limits.max_output_tokens,
                    };
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                    let call = provider.chat(request, tx);
                    tokio::pin!(call);
                    let response = loop {
                        tokio::select! {
                            biased;
                            _ = abandon.cancelled() => return Ok(LoopEnd::Abandoned),
                            _ = cancel.cancelled() => return Ok(LoopEnd::Stopped { stop: Stop::Cancelled, usage, steps }),
                            _ = tokio::time::sleep_until(deadline) => return Ok(LoopEnd::Stopped { stop: Stop::Timeout, usage, steps }),
                            Some(text) = rx.recv() => {
                                if !text.is_empty() {
                                    self.emit(run.id, epoch, RunEventKind::TokenDelta { step, text }).await?;
                                }
                            }
                            r = &mut call => break r,
                        }
                    };
                    // Deltas sent just before the call returned.
                    while let Ok(text) = rx.try_recv() {
                        if !text.is_empty() {
                            self.emit(run.id, epoch, RunEventKind::TokenDelta { step, text })
                                .await?;
                        }
                    }
                    let response = match response {
                        Ok(r) => r,
                        Err(e) => {
                            return Ok(LoopEnd::Failed {
                                reason: e.to_string(),
                                code: "provider_error".into(),
                                usage,
                                steps,
                            })
                        }
                    };
                    usage.input_tokens += response.usage.input_tokens;
                    usage.output_tokens += response.usage.output_tokens;
                    // Usage first: the assistant message is the step's checkpoint, written last.
                    self.emit(
                        run.id,
                        epoch,
                        RunEventKind::Usage {
                            step,
                            input_tokens: response.usage.input_tokens,
                            output_tokens: response.usage.output_tokens,
                        },
                    )
                    .await?;
                    self.emit(
                        run.id,
                        epoch,
                        RunEventKind::AssistantMessage {
                            step,
                            text: response.content.clone(),
                            tool_calls: response.tool_calls.clone(),
                        },
                    )
                    .await?;
                    (response.content, response.tool_calls)
                }
            };

            if tool_calls.is_empty() {
                return Ok(LoopEnd::Answer {
                    text: content,
                    usage,
                    steps,
                });
            }
            messages.push(ChatMessage {
                role: ChatRole::Assistant,
                content,
                tool_calls: tool_calls.clone(),
                tool_call_id: None,
            });
            for call in &tool_calls {
                if let Some((output, _)) = done.results.get(&call.id) {
                    messages.push(ChatMessage {
                        role: ChatRole::Tool,
                        content: output.clone(),
                        tool_calls: vec![],
                        tool_call_id: Some(call.id.clone()),
                    });
                    continue;
                }
                if abandon.is_cancelled() {
                    return Ok(LoopEnd::Abandoned);
                }
                if cancel.is_cancelled() {
                    return Ok(LoopEnd::Stopped {
                        stop: Stop::Cancelled,
                        usage,
                        steps,
                    });
                }
                if !done.calls.contains(&call.id) {
                    self.emit(
                        run.id,
                        epoch,
                        RunEventKind::ToolCall {
                            step,
                            call_id: call.id.clone(),
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                        },
                    )
                    .await?;
                }
                // What came of the call: its result for the model, whether that is an error,
                // the audit outcome, and whether it was simulated (a preflight).
                let (output, is_error, outcome, simulated) = match tools
                    .iter()
                    .find(|t| t.definition().name == call.name)
                {
                    None => (
                        format!(
                            "unknown tool '{}'; available: {}",
                            call.name,
                            spec.tools.join(", ")
                        ),
                        true,
                        "executed",
                        false,
                    ),
                    Some(tool) => {
                        let gate = self
                            .gate(GateCall {
                                run,
                                epoch,
                                step,
                                call,
                                read_only: tool.read_only(),
                                rules: (&spec.tool_policies, &org_rules),
                                done: &done,
                                preflight: run.mode == RunMode::Preflight,
                                usage,
                            })
                            .await?;
                        match gate {
                            Gate::Park => return Ok(LoopEnd::Parked),
                            Gate::Refuse(message) => (message, true, "refused", false),
                            Gate::Simulate(decision) => (
                                crate::preflight::simulated_result(
                                    &call.name,
                                    &call.arguments,
                                    decision,
                                ),
                                false,
                                "simulated",
                                true,
                            ),
                            Gate::Run {
                                arguments,
                                approved,
                            } => {
                                // The run's capability token must let this very call run too.
                                let check = self.service.capability_key().verify(
                                    &capability.bytes,
                                    &CapabilityCall {
                                        org_id: run.org_id,
                                        run_id: run.id,
                                        ancestors: &[],
                                        tool: &call.name,
                                        arguments: &arguments,
                                        now: chrono::Utc::now(),
                                        approved,
                                    },
                                );
                                match check {
                                    Err(refusal) => {
                                        tracing::warn!(run = %run.id, tool = %call.name, %refusal, "capability token refused a tool call");
                                        (
                                            format!(
                                                "the call to '{}' was refused: {refusal}",
                                                call.name
                                            ),
                                            true,
                                            "refused",
                                            false,
                                        )
                                    }
                                    Ok(()) => {
                                        tool_ctx.idempotency_key =
                                            crate::tool::idempotency_key(run.id, step, &call.id);
                                        let fut = tool.call(arguments, &tool_ctx);
                                        let (out, err) = tokio::select! {
                                            _ = abandon.cancelled() => return Ok(LoopEnd::Abandoned),
                                            _ = cancel.cancelled() => return Ok(LoopEnd::Stopped { stop: Stop::Cancelled, usage, steps }),
                                            _ = tokio::time::sleep_until(deadline) => return Ok(LoopEnd::Stopped { stop: Stop::Timeout, usage, steps }),
                                            r = tokio::time::timeout(TOOL_TIMEOUT, fut) => match r {
                                                Ok(Ok(out)) => (out, false),
                                                Ok(Err(e)) => (e.0, true),
                                                Err(_) => (format!("tool timed out after {} s", TOOL_TIMEOUT.as_secs()), true),
                                            },
                                        };
                                        (out, err, "executed", false)
                                    }
                                }
                            }
                        }
                    }
                };
                self.emit(
                    run.id,
                    epoch,
                    RunEventKind::ToolResult {
                        step,
                        call_id: call.id.clone(),
                        name: call.name.clone(),
                        output: output.clone(),
                        is_error,
                        simulated,
                    },
                )
                .await?;
                self.audit_tool_call(run, step, call, outcome, is_error)
                    .await;
                messages.push(ChatMessage {
                    role: ChatRole::Tool,
                    content: output,
                    tool_calls: vec![],
                    tool_call_id: Some(call.id.clone()),
                });
            }
        }
        Ok(LoopEnd::Failed {
            reason: format!(
                "step limit of {} reached without a final answer",
                spec.limits.max_steps
            ),
            code: "max_steps".into(),
            usage,
            steps,
        })
    }
}

enum LoopEnd {
    Answer {
        text: String,
        usage: Usage,
        steps: i64,
    },
    Stopped {
        stop: Stop,
        usage: Usage,
        steps: i64,
    },
    Failed {
        reason: String,
        code: String,
        usage: Usage,
        steps: i64,
    },
    Suspended {
        next_step: u32,
        usage: Usage,
        steps: i64,
    },
    Abandoned,
    /// Parked for an approval (the run's status is `waiting_approval`).
    Parked,
}

/// What the policy lets a tool call do.
enum Gate {
    /// Run the tool with these arguments (the model's, or an approver's edit); `approved`
    /// when a person approved this call (the capability check needs to know).
    Run {
        arguments: serde_json::Value,
        approved: bool,
    },
    /// Do not run it; this is the tool's (error) result for the model.
    Refuse(String),
    /// The call waits for a person: the run is parked.
    Park,
    /// A preflight does not run it: its result is synthesized. The policy's decision (what
    /// a live run would do) goes with it.
    Simulate(PolicyAction),
}

/// One tool call as the gate sees it.
struct GateCall<'a> {
    run: &'a crate::model::Run,
    epoch: i64,
    step: u32,
    call: &'a ToolCall,
    read_only: bool,
    /// The agent's rules, then the organization's.
    rules: (&'a [crate::governance::ToolRule], &'a [Policy]),
    /// What the run's events recorded for this step.
    done: &'a RecordedStep,
    /// The run is a preflight: only allowed read-only calls run; nothing parks.
    preflight: bool,
    /// The run's token usage so far (written with the parked status).
    usage: Usage,
}

impl RunEnv {
    /// Mints this attempt's capability token ([`crate::capability`]): the resolved tools
    /// (minus those an unconditional `deny` forbids), the agent's then the organization's
    /// rules as they are now, bound to the run and its organization, valid for the run's
    /// remaining wall time plus [`CAPABILITY_SLACK`]. Records its identity as a
    /// `capability_issued` event and a `capability.issue` audit entry (never the token).
    async fn mint_capability(
        &self,
        run: &crate::model::Run,
        epoch: i64,
        tools: &[Arc<dyn crate::tool::Tool>],
        spec: &crate::model::AgentSpec,
        org_rules: &[Policy],
        remaining: Duration,
    ) -> Result<CapabilityToken> {
        let key = self.service.capability_key();
        let named: Vec<(String, bool)> = tools
            .iter()
            .map(|t| (t.definition().name, t.read_only()))
            .collect();
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(remaining + CAPABILITY_SLACK)
                .unwrap_or(chrono::Duration::hours(24));
        let grant = RunGrant::new(
            run.org_id,
            run.id,
            &named,
            &spec.tool_policies,
            org_rules,
            expires_at,
        );
        let token = key.mint(&grant)?;
        let granted: Vec<String> = grant.tools.iter().map(|t| t.name.clone()).collect();
        self.emit(
            run.id,
            epoch,
            RunEventKind::CapabilityIssued {
                token_id: token.token_id().to_string(),
                key_id: key.key_id().to_string(),
                tools: granted.clone(),
                expires_at: token.expires_at,
            },
        )
        .await?;
        self.service
            .audit_after(
                run.org_id,
                crate::audit::AuditActor::System,
                crate::audit::actions::CAPABILITY_ISSUE,
                Some(run.id.to_string()),
                serde_json::json!({
                    "token_id": token.token_id(), "key_id": key.key_id(),
                    "tools": granted, "expires_at": token.expires_at,
                    "rules": grant.rules.len(),
                }),
            )
            .await;
        Ok(token)
    }

    /// Appends the `tool.call` audit entry of a call that got its result: the tool, a hash
    /// of its arguments, and whether it ran (`executed`) or was refused (`refused`).
    async fn audit_tool_call(
        &self,
        run: &crate::model::Run,
        step: u32,
        call: &ToolCall,
        outcome: &str,
        is_error: bool,
    ) {
        self.service
            .audit_after(
                run.org_id,
                crate::audit::AuditActor::System,
                crate::audit::actions::TOOL_CALL,
                Some(run.id.to_string()),
                serde_json::json!({
                    "tool": call.name, "step": step, "call_id": call.id,
                    "arguments_sha256": crate::audit::json_sha256(&call.arguments).ok(),
                    "outcome": outcome, "is_error": is_error,
                }),
            )
            .await;
    }

    /// Applies the tool policy to one call ([`crate::policy::decide`]), recording the
    /// decision (once: a resumed run keeps its recorded decision). A call that needs
    /// approval requests it (once per call), parks the run and returns [`Gate::Park`] until
    /// the approval is decided; then an approval runs the tool (with the approver's edited
    /// arguments, if any) and a denial or expiry refuses it with the approver's comment.
    async fn gate(&self, g: GateCall<'_>) -> Result<Gate> {
        let GateCall {
            run,
            epoch,
            step,
            call,
            read_only,
            rules,
            done,
            preflight,
            usage,
        } = g;
        let (action, rule) = match done.decisions.get(&call.id) {
            Some((a, rule)) => (*a, rule.clone()),
            None => {
                let d =
                    crate::policy::decide(rules.0, rules.1, &call.name, &call.arguments, read_only);
                self.emit(
                    run.id,
                    epoch,
                    RunEventKind::PolicyDecision {
                        step,
                        call_id: call.id.clone(),
                        name: call.name.clone(),
                        decision: d.action,
                        rule: d.rule.clone(),
                    },
                )
                .await?;
                if let Some(e) = d.error {
                    return Ok(Gate::Refuse(format!(
                        "the call was denied: policy rule {} could not be evaluated ({e})",
                        d.rule
                    )));
                }
                (d.action, d.rule)
            }
        };
        if preflight
            && action != PolicyAction::Deny
            && !(action == PolicyAction::Allow && read_only)
        {
            return Ok(Gate::Simulate(action));
        }
        match action {
            PolicyAction::Allow => {
                return Ok(Gate::Run {
                    arguments: call.arguments.clone(),
                    approved: false,
                })
            }
            PolicyAction::Deny => {
                return Ok(Gate::Refuse(format!(
                    "the call to '{}' is not allowed by the tool policy (rule {rule})",
                    call.name
                )))
            }
            PolicyAction::RequireApproval => {}
        }
        if let Some(d) = done.decided.get(&call.id) {
            return Ok(decided_gate(call, d.clone()));
        }
        let store = &self.service.store;
        let now = chrono::Utc::now();
        let ttl = chrono::Duration::from_std(self.service.approval_ttl)
            .unwrap_or(chrono::Duration::hours(24));
        let approval = store
            .create_approval(&Approval {
                id: Uuid::now_v7(),
                org_id: run.org_id,
                run_id: run.id,
                agent_id: run.agent_id,
                step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
                rule,
                status: ApprovalStatus::Pending,
                comment: String::new(),
                edited_arguments: None,
                decided_by: None,
                decided_at: None,
                expires_at: now + ttl,
                created_at: now,
            })
            .await?;
        let approval = self.service.expire_if_due(&approval).await?;
        if approval.status != ApprovalStatus::Pending {
            return self
                .apply_decision(run.id, epoch, step, call, &approval)
                .await;
        }
        if !done.requested.contains(&call.id) {
            self.emit(
                run.id,
                epoch,
                RunEventKind::ApprovalRequested {
                    step,
                    call_id: call.id.clone(),
                    approval_id: approval.id,
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                    expires_at: approval.expires_at,
                },
            )
            .await?;
        }
        // Park: the status first, then look again. A decision made before the status was
        // written saw a running run and left it so; it also enqueued a job, which claims
        // the parked run and continues it (claims take `waiting_approval` runs too).
        store
            .update_run(
                run.id,
                epoch,
                &RunUpdate {
                    status: RunStatus::WaitingApproval,
                    output: None,
                    error: None,
                    usage,
                    steps: step as i64,
                },
            )
            .await?;
        self.service.notifier.notify(run.id);
        // The wake-up at expiry (and the safety net for a decision whose job was lost).
        let delay = (approval.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        self.service.enqueue_continuation(run.id, delay).await?;
        tracing::info!(run = %run.id, approval = %approval.id, tool = %call.name, "run parked for approval");
        Ok(Gate::Park)
    }

    /// Records a decided approval as the run's `approval_decided` event and gates the call
    /// by it.
    async fn apply_decision(
        &self,
        run_id: Uuid,
        epoch: i64,
        step: u32,
        call: &ToolCall,
        a: &Approval,
    ) -> Result<Gate> {
        let approved = a.status == ApprovalStatus::Approved;
        self.emit(
            run_id,
            epoch,
            RunEventKind::ApprovalDecided {
                step,
                call_id: call.id.clone(),
                approval_id: a.id,
                approved,
                comment: a.comment.clone(),
                edited_arguments: a.edited_arguments.clone(),
                decided_by: a.decided_by,
            },
        )
        .await?;
        Ok(decided_gate(
            call,
            Decided {
                approved,
                comment: a.comment.clone(),
                edited_arguments: a.edited_arguments.clone(),
            },
        ))
    }
}

fn decided_gate(call: &ToolCall, d: Decided) -> Gate {
    if d.approved {
        Gate::Run {
            arguments: d.edited_arguments.unwrap_or_else(|| call.arguments.clone()),
            approved: true,
        }
    } else if d.comment.trim().is_empty() {
        Gate::Refuse(format!("a person declined the call to '{}'", call.name))
    } else {
        Gate::Refuse(format!(
            "a person declined the call to '{}': {}",
            call.name, d.comment
        ))
    }
}
