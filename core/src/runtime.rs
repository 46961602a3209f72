//! The agent loop.
//!
//! For each step (at most `limits.max_steps`): call the LLM with the conversation and the
//! agent's tool definitions, stream its text as `token_delta` events, then run every tool
//! call it made and append the results; stop when the model answers without tool calls.
//! Every step is persisted as [`RunEventKind`] events before the next begins.
//!
//! Cancellation is checked while the model streams and between tool calls; the wall-time
//! limit covers the whole run.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::llm::{ChatMessage, ChatRequest, ChatRole, ProviderFactory};
use crate::model::{RunEventKind, RunStatus, Usage};
use crate::service::Service;
use crate::store::RunUpdate;
use crate::tool::{ToolContext, ToolRegistry};
use crate::{Error, Result};

/// Longest a single tool call may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the executor polls the store for a cancel request.
pub const CANCEL_POLL: Duration = Duration::from_millis(250);

/// What the agent loop needs besides the run itself.
#[derive(Clone)]
pub struct RunEnv {
    pub service: Arc<Service>,
    pub providers: Arc<dyn ProviderFactory>,
    pub tools: ToolRegistry,
}

enum Stop {
    Cancelled,
    Timeout,
}

impl RunEnv {
    async fn emit(&self, run_id: Uuid, kind: RunEventKind) -> Result<()> {
        self.service.store.append_event(run_id, &kind).await?;
        self.service.notifier.notify(run_id);
        Ok(())
    }

    /// Executes a queued run to a terminal state and returns it. A run already terminal is
    /// left untouched (a redelivered job is a no-op). Storage errors are returned so the
    /// queue can retry; model and tool errors end the run as `failed`.
    pub async fn execute(&self, run_id: Uuid, cancel: CancellationToken) -> Result<RunStatus> {
        let store = &self.service.store;
        let run = store.get_run_unscoped(run_id).await?;
        if run.status.is_terminal() {
            return Ok(run.status);
        }
        if !store.start_run(run_id).await? {
            return Ok(store.get_run_unscoped(run_id).await?.status);
        }
        let version = store.get_agent_version(run.org_id, run.agent_id, run.agent_version).await?;
        let spec = version.spec;
        self.emit(run_id, RunEventKind::RunStarted { agent_version: run.agent_version, model: spec.model.clone() }).await?;

        // Watch for cancel requests made through the store (from any process).
        let watcher = {
            let store = store.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(CANCEL_POLL).await;
                    if cancel.is_cancelled() {
                        break;
                    }
                    if matches!(store.cancel_requested(run_id).await, Ok(true)) {
                        cancel.cancel();
                        break;
                    }
                }
            })
        };
        let outcome = self.agent_loop(&run, &spec, &cancel).await;
        watcher.abort();

        let (status, output, error, usage, steps, last) = match outcome {
            Ok(LoopEnd::Answer { text, usage, steps }) => {
                (RunStatus::Completed, Some(text.clone()), None, usage, steps, RunEventKind::Completed { output: text })
            }
            Ok(LoopEnd::Stopped { stop: Stop::Cancelled, usage, steps }) => {
                let reason = "cancelled by request".to_string();
                (RunStatus::Cancelled, None, Some(reason.clone()), usage, steps, RunEventKind::Cancelled { reason })
            }
            Ok(LoopEnd::Stopped { stop: Stop::Timeout, usage, steps }) => {
                let reason = format!("wall-time limit of {} s reached", spec.limits.timeout_secs);
                (RunStatus::Failed, None, Some(reason.clone()), usage, steps, RunEventKind::Failed { reason, code: "timeout".into() })
            }
            Ok(LoopEnd::Failed { reason, code, usage, steps }) => {
                (RunStatus::Failed, None, Some(reason.clone()), usage, steps, RunEventKind::Failed { reason, code })
            }
            Err(e) => return Err(e),
        };
        // Status first, then the terminal event: a client that sees `completed` on the event
        // stream and then reads the run finds it terminal too.
        store.update_run(run_id, &RunUpdate { status, output, error, usage, steps }).await?;
        self.emit(run_id, last).await?;
        self.service.notifier.notify(run_id);
        self.service.notifier.forget(run_id);
        Ok(status)
    }

    async fn agent_loop(&self, run: &crate::model::Run, spec: &crate::model::AgentSpec, cancel: &CancellationToken) -> Result<LoopEnd> {
        let deadline = Instant::now() + Duration::from_secs(spec.limits.timeout_secs as u64);
        let mut usage = Usage::default();
        let mut steps: i64 = 0;

        let provider = match self.service.provider_with_key(run.org_id, spec.provider_id).await {
            Ok((conn, key)) => match self.providers.build(&conn, key) {
                Ok(p) => p,
                Err(e) => return Ok(LoopEnd::Failed { reason: e.to_string(), code: "provider_error".into(), usage, steps }),
            },
            Err(Error::NotFound(_)) => {
                return Ok(LoopEnd::Failed { reason: "the agent's provider connection was deleted".into(), code: "provider_error".into(), usage, steps })
            }
            Err(e) => return Err(e),
        };

        // Conversation: instructions, earlier turns of the thread, this input.
        let mut messages = Vec::new();
        if !spec.instructions.trim().is_empty() {
            messages.push(ChatMessage::text(ChatRole::System, spec.instructions.clone()));
        }
        for earlier in self.service.store.list_thread_runs(run.org_id, run.thread_id).await? {
            if earlier.id == run.id {
                break;
            }
            if let Some(out) = earlier.output.filter(|_| earlier.status == RunStatus::Completed) {
                messages.push(ChatMessage::text(ChatRole::User, earlier.input));
                messages.push(ChatMessage::text(ChatRole::Assistant, out));
            }
        }
        messages.push(ChatMessage::text(ChatRole::User, run.input.clone()));

        let tools: Vec<_> = spec.tools.iter().filter_map(|n| self.tools.get(n)).collect();
        let tool_defs: Vec<_> = tools.iter().map(|t| t.definition()).collect();
        let tool_ctx = ToolContext { http_allowlist: spec.http_allowlist.clone(), org_id: run.org_id, knowledge_base_ids: spec.knowledge_base_ids.clone() };

        for step in 1..=spec.limits.max_steps {
            steps = step as i64;
            let request = ChatRequest { model: spec.model.clone(), messages: messages.clone(), tools: tool_defs.clone(), max_tokens: spec.limits.max_output_tokens };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let call = provider.chat(request, tx);
            tokio::pin!(call);
            let response = loop {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Ok(LoopEnd::Stopped { stop: Stop::Cancelled, usage, steps }),
                    _ = tokio::time::sleep_until(deadline) => return Ok(LoopEnd::Stopped { stop: Stop::Timeout, usage, steps }),
                    Some(text) = rx.recv() => {
                        if !text.is_empty() {
                            self.emit(run.id, RunEventKind::TokenDelta { step, text }).await?;
                        }
                    }
                    r = &mut call => break r,
                }
            };
            // Deltas sent just before the call returned.
            while let Ok(text) = rx.try_recv() {
                if !text.is_empty() {
                    self.emit(run.id, RunEventKind::TokenDelta { step, text }).await?;
                }
            }
            let response = match response {
                Ok(r) => r,
                Err(e) => return Ok(LoopEnd::Failed { reason: e.to_string(), code: "provider_error".into(), usage, steps }),
            };
            usage.input_tokens += response.usage.input_tokens;
            usage.output_tokens += response.usage.output_tokens;
            self.emit(run.id, RunEventKind::AssistantMessage { step, text: response.content.clone() }).await?;
            self.emit(run.id, RunEventKind::Usage { step, input_tokens: response.usage.input_tokens, output_tokens: response.usage.output_tokens }).await?;

            if response.tool_calls.is_empty() {
                return Ok(LoopEnd::Answer { text: response.content, usage, steps });
            }
            messages.push(ChatMessage { role: ChatRole::Assistant, content: response.content.clone(), tool_calls: response.tool_calls.clone(), tool_call_id: None });
            for call in &response.tool_calls {
                if cancel.is_cancelled() {
                    return Ok(LoopEnd::Stopped { stop: Stop::Cancelled, usage, steps });
                }
                self.emit(run.id, RunEventKind::ToolCall { step, call_id: call.id.clone(), name: call.name.clone(), arguments: call.arguments.clone() }).await?;
                let (output, is_error) = match tools.iter().find(|t| t.definition().name == call.name) {
                    None => (format!("unknown tool '{}'; available: {}", call.name, spec.tools.join(", ")), true),
                    Some(tool) => {
                        let fut = tool.call(call.arguments.clone(), &tool_ctx);
                        tokio::select! {
                            _ = cancel.cancelled() => return Ok(LoopEnd::Stopped { stop: Stop::Cancelled, usage, steps }),
                            _ = tokio::time::sleep_until(deadline) => return Ok(LoopEnd::Stopped { stop: Stop::Timeout, usage, steps }),
                            r = tokio::time::timeout(TOOL_TIMEOUT, fut) => match r {
                                Ok(Ok(out)) => (out, false),
                                Ok(Err(e)) => (e.0, true),
                                Err(_) => (format!("tool timed out after {} s", TOOL_TIMEOUT.as_secs()), true),
                            },
                        }
                    }
                };
                self.emit(run.id, RunEventKind::ToolResult { step, call_id: call.id.clone(), name: call.name.clone(), output: output.clone(), is_error }).await?;
                messages.push(ChatMessage { role: ChatRole::Tool, content: output, tool_calls: vec![], tool_call_id: Some(call.id.clone()) });
            }
        }
        Ok(LoopEnd::Failed {
            reason: format!("step limit of {} reached without a final answer", spec.limits.max_steps),
            code: "max_steps".into(),
            usage,
            steps,
        })
    }
}

enum LoopEnd {
    Answer { text: String, usage: Usage, steps: i64 },
    Stopped { stop: Stop, usage: Usage, steps: i64 },
    Failed { reason: String, code: String, usage: Usage, steps: i64 },
}
