//! Turns a run's event list into what the chat shows, and follows a live run over SSE.

use leptos::prelude::*;

use autonoma_types::{RunEvent, RunEventKind, RunStatus};
use uuid::Uuid;

use crate::api::run::CancelRun;

/// One tool call and, once it arrived, its result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolStep {
    /// Pairs call and result.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments, pretty-printed JSON.
    pub arguments: String,
    /// `(output, is_error)` once the tool answered.
    pub result: Option<(String, bool)>,
    /// The approval this call waits for or got: `Some(None)` while pending,
    /// `Some(Some(approved))` once decided; `None` when none was needed.
    pub approval: Option<Option<bool>>,
}

/// One LLM call of a run: its text and the tools it called.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// LLM call number, from 1.
    pub number: u32,
    /// Assistant text (streamed deltas until the complete message arrives).
    pub text: String,
    /// True once `assistant_message` replaced the deltas.
    pub text_final: bool,
    /// Tools called in this step, in order.
    pub tools: Vec<ToolStep>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Finished with this answer.
    Completed(String),
    /// Failed: reason and code.
    Failed(String, String),
    /// Cancelled, with the reason.
    Cancelled(String),
}

/// Everything the transcript view needs, folded from events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    /// The model, once the run started.
    pub model: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Tokens used so far (input, output).
    pub usage: (u64, u64),
    /// Set by the terminal event.
    pub outcome: Option<Outcome>,
    /// Highest `seq` seen.
    pub last_seq: i64,
}

impl Transcript {
    /// True while the run is not over and a tool call waits for an approval.
    pub fn is_waiting(&self) -> bool {
        self.outcome.is_none()
            && self
                .steps
                .iter()
                .any(|s| s.tools.iter().any(|t| t.approval == Some(None)))
    }

    /// Folds events (in `seq` order; duplicates are ignored).
    pub fn from_events(events: &[RunEvent]) -> Self {
        let mut t = Transcript::default();
        for e in events {
            t.apply(e);
        }
        t
    }

    fn step_mut(&mut self, number: u32) -> &mut Step {
        if let Some(i) = self.steps.iter().position(|s| s.number == number) {
            return &mut self.steps[i];
        }
        self.steps.push(Step {
            number,
            ..Step::default()
        });
        self.steps.last_mut().unwrap()
    }

    /// Applies one event; events at or below `last_seq` are skipped.
    pub fn apply(&mut self, e: &RunEvent) {
        if e.seq <= self.last_seq {
            return;
        }
        self.last_seq = e.seq;
        match &e.kind {
            RunEventKind::RunStarted { model, .. } => self.model = Some(model.clone()),
            RunEventKind::RunResumed { from_step, .. } => {
                // Text streamed by the executor that stopped is replayed by the next one.
                for s in self
                    .steps
                    .iter_mut()
                    .filter(|s| s.number >= *from_step && !s.text_final)
                {
                    s.text.clear();
                }
            }
            RunEventKind::TokenDelta { step, text } => {
                let s = self.step_mut(*step);
                if !s.text_final {
                    s.text.push_str(text);
                }
            }
            RunEventKind::AssistantMessage { step, text, .. } => {
                let s = self.step_mut(*step);
                s.text = text.clone();
                s.text_final = true;
            }
            RunEventKind::ToolCall {
                step,
                call_id,
                name,
                arguments,
            } => {
                let arguments = serde_json::to_string_pretty(arguments)
                    .unwrap_or_else(|_| arguments.to_string());
                self.step_mut(*step).tools.push(ToolStep {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    arguments,
                    result: None,
                    approval: None,
                });
            }
            RunEventKind::ToolResult {
                step,
                call_id,
                name,
                output,
                is_error,
                ..
            } => {
                let s = self.step_mut(*step);
                match s.tools.iter_mut().find(|t| &t.call_id == call_id) {
                    Some(t) => t.result = Some((output.clone(), *is_error)),
                    None => s.tools.push(ToolStep {
                        call_id: call_id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                        result: Some((output.clone(), *is_error)),
                        approval: None,
                    }),
                }
            }
            RunEventKind::Usage {
                input_tokens,
                output_tokens,
                ..
            } => {
                self.usage.0 += input_tokens;
                self.usage.1 += output_tokens;
            }
            RunEventKind::PolicyDecision { .. } | RunEventKind::CapabilityIssued { .. } => {}
            RunEventKind::ApprovalRequested { step, call_id, .. } => {
                if let Some(t) = self
                    .step_mut(*step)
                    .tools
                    .iter_mut()
                    .find(|t| &t.call_id == call_id)
                {
                    t.approval = Some(None);
                }
            }
            RunEventKind::ApprovalDecided {
                step,
                call_id,
                approved,
                ..
            } => {
                if let Some(t) = self
                    .step_mut(*step)
                    .tools
                    .iter_mut()
                    .find(|t| &t.call_id == call_id)
                {
                    t.approval = Some(Some(*approved));
                }
            }
            RunEventKind::Completed { output } => {
                self.outcome = Some(Outcome::Completed(output.clone()))
            }
            RunEventKind::Failed { reason, code } => {
                self.outcome = Some(Outcome::Failed(reason.clone(), code.clone()))
            }
            RunEventKind::Cancelled { reason } => {
                self.outcome = Some(Outcome::Cancelled(reason.clone()))
            }
        }
    }

    /// The final answer when it differs from the last step's text (otherwise it is
    /// already shown there).
    pub fn extra_output(&self) -> Option<String> {
        match &self.outcome {
            Some(Outcome::Completed(out)) if !out.trim().is_empty() => {
                let last_text = self
                    .steps
                    .iter()
                    .rev()
                    .find(|s| !s.text.trim().is_empty())
                    .map(|s| s.text.trim());
                (last_text != Some(out.trim())).then(|| out.clone())
            }
            _ => None,
        }
    }
}

/// Live view of one run: the assistant's side of a chat turn, or a whole run page.
///
/// Renders `initial` (loaded by the page); in the browser, while `status` is not final,
/// it follows `GET /api/v1/runs/{id}/events` with an `EventSource` (history is replayed
/// and de-duplicated by `seq`) until the terminal event. `on_done` runs once it ends.
#[component]
pub fn RunTranscript(
    /// Run id.
    run_id: Uuid,
    /// Run status when the page loaded.
    status: RunStatus,
    /// Events known when the page loaded.
    initial: Vec<RunEvent>,
    /// Error recorded on the run (shown when no terminal event explains it).
    #[prop(optional)]
    run_error: Option<String>,
    /// Called once the run reaches a final state (live only).
    #[prop(optional)]
    on_done: Option<Callback<()>>,
    /// Set to whether the run is parked waiting for a person's approval.
    #[prop(optional)]
    waiting: Option<RwSignal<bool>>,
) -> impl IntoView {
    let run_error = run_error.filter(|e| !e.trim().is_empty());
    let transcript = RwSignal::new(Transcript::from_events(&initial));
    let live = RwSignal::new(!status.is_terminal());
    let stream_error = RwSignal::new(None::<String>);
    let cancel = ServerAction::<CancelRun>::new();
    if let Some(waiting) = waiting {
        Effect::new(move |_| {
            let now = transcript.with(Transcript::is_waiting);
            if waiting.get_untracked() != now {
                waiting.set(now);
            }
        });
    }

    #[cfg(feature = "hydrate")]
    {
        Effect::new(move |prev: Option<()>| {
            if prev.is_some() || !live.get_untracked() {
                return;
            }
            follow_run(run_id, transcript, live, stream_error, on_done);
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (on_done, &stream_error);

    let run_id_for_cancel = run_id.to_string();
    let queued = status == RunStatus::Queued;
    view! {
        <div class="transcript">
            {move || {
                let t = transcript.get();
                let streaming = live.get() && t.outcome.is_none();
                let steps = t.steps.clone();
                let n_steps = steps.len();
                let extra = t.extra_output();
                let nothing_yet = steps.iter().all(|s| s.text.is_empty() && s.tools.is_empty()) && extra.is_none();
                view! {
                    {steps
                        .into_iter()
                        .enumerate()
                        .map(|(i, step)| {
                            let is_last = i + 1 == n_steps;
                            view! { <StepView step=step streaming=streaming && is_last/> }
                        })
                        .collect_view()}
                    {extra.map(|out| view! { <div class="bubble assistant"><div class="bubble-text">{out}</div></div> })}
                    {(streaming && nothing_yet)
                        .then(|| {
                            view! {
                                <div class="bubble assistant pending">
                                    <span class="typing" aria-label="The agent is working">
                                        <i></i>
                                        <i></i>
                                        <i></i>
                                    </span>
                                    <span class="muted">{if queued && t.model.is_none() { "Queued…" } else { "Thinking…" }}</span>
                                </div>
                            }
                        })}
                    {match t.outcome.clone() {
                        Some(Outcome::Failed(reason, code)) => {
                            Some(
                                view! {
                                    <div class="alert alert-error" role="alert">
                                        <strong>"The run failed. "</strong>
                                        {reason}
                                        <span class="muted">" (" {code} ")"</span>
                                    </div>
                                }
                                    .into_any(),
                            )
                        }
                        Some(Outcome::Cancelled(reason)) => {
                            Some(
                                view! {
                                    <div class="alert alert-muted">
                                        "Cancelled" {(!reason.is_empty()).then(|| format!(": {reason}"))}
                                    </div>
                                }
                                    .into_any(),
                            )
                        }
                        _ => None,
                    }}
                    {(t.outcome.is_none() && !streaming)
                        .then(|| run_error.clone())
                        .flatten()
                        .map(|e| view! { <div class="alert alert-error">{e}</div> })}
                    {(t.usage != (0, 0))
                        .then(|| {
                            view! {
                                <div class="run-meta muted">
                                    {t.model.clone().map(|m| format!("{m} · "))}
                                    {format!("{} tokens in, {} out", t.usage.0, t.usage.1)}
                                </div>
                            }
                        })}
                }
            }}
            {move || stream_error.get().map(|e| view! { <div class="alert alert-error">{e}</div> })}
            <Show when=move || live.get() && transcript.with(|t| t.outcome.is_none())>
                <CancelButton run_id=run_id_for_cancel.clone() action=cancel/>
            </Show>
            {move || {
                cancel
                    .value()
                    .get()
                    .and_then(|r| r.err())
                    .map(|e| view! { <div class="alert alert-error">{e.headline()}</div> })
            }}
        </div>
    }
}

/// "Cancel" for a running run (a plain form post without JavaScript).
#[component]
fn CancelButton(run_id: String, action: ServerAction<CancelRun>) -> impl IntoView {
    view! {
        <div class="run-actions">
            <ActionForm action=action>
                <input type="hidden" name="id" value=run_id/>
                <button type="submit" class="btn btn-secondary btn-small" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Cancelling…" } else { "Cancel" }}
                </button>
            </ActionForm>
            <noscript>
                <a href="" class="btn btn-link btn-small">"Refresh to see progress"</a>
            </noscript>
        </div>
    }
}

/// One step: the assistant text bubble and the tool cards.
#[component]
fn StepView(step: Step, streaming: bool) -> impl IntoView {
    let text = step.text.clone();
    let show_text = !text.trim().is_empty();
    view! {
        {show_text
            .then(|| {
                view! {
                    <div class="bubble assistant" class:streaming=streaming && !step.text_final>
                        <div class="bubble-text">{text.clone()}</div>
                    </div>
                }
            })}
        {step
            .tools
            .into_iter()
            .map(|tool| {
                if tool.name == KNOWLEDGE_SEARCH {
                    return view! { <KnowledgeStep tool/> }.into_any();
                }
                let state = match (&tool.result, tool.approval) {
                    (None, Some(None)) => "waiting",
                    (None, _) => "running",
                    (Some((_, true)), _) => "error",
                    (Some((_, false)), _) => "ok",
                };
                let label = match state {
                    "waiting" => "waiting for approval",
                    "running" => "running…",
                    "error" => "error",
                    _ => "done",
                };
                let approval_note = match tool.approval {
                    Some(None) => Some(view! {
                        <p class="small tool-approval">
                            "A policy holds this call for a person. " <a href="/approvals">"Open the approvals inbox"</a>
                        </p>
                    }.into_any()),
                    Some(Some(true)) => Some(view! { <p class="small muted tool-approval">"Approved by a person."</p> }.into_any()),
                    Some(Some(false)) => Some(view! { <p class="small muted tool-approval">"Declined (or expired) — the agent was told."</p> }.into_any()),
                    None => None,
                };
                view! {
                    <details class=format!("tool-step tool-{state}") open=state == "error" || state == "waiting">
                        <summary>
                            <span class="tool-icon" aria-hidden="true">"⚙"</span>
                            <span class="tool-name">{tool.name.clone()}</span>
                            <span class=format!("badge badge-{state}")>{label}</span>
                        </summary>
                        <div class="tool-body">
                            {approval_note}
                            <div class="tool-label">"Arguments"</div>
                            <pre class="code">{tool.arguments.clone()}</pre>
                            {tool
                                .result
                                .clone()
                                .map(|(out, _)| {
                                    view! {
                                        <div class="tool-label">"Output"</div>
                                        <pre class="code">{out}</pre>
                                    }
                                })}
                        </div>
                    </details>
                }
                    .into_any()
            })
            .collect_view()}
    }
}

/// Name of the knowledge-base search tool (its steps get their own rendering).
pub const KNOWLEDGE_SEARCH: &str = "knowledge_search";

/// One passage of a `knowledge_search` result.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The number the model cites it by (`[n]`).
    pub number: usize,
    /// `<document> § <heading> (chunk n)`.
    pub citation: String,
    /// The passage text.
    pub text: String,
}

/// Splits a `knowledge_search` result (`"<summary line>\n\n[1] <citation>\n<text>\n\n[2] …"`)
/// into its summary line and passages. A passage marker follows an empty line and counts up
/// from 1, so a line of a passage that happens to start with `[2] ` is kept as text. `None` when the output has no
/// passages (e.g. "No passages found …").
pub fn parse_knowledge_results(output: &str) -> Option<(String, Vec<Passage>)> {
    let mut lines = output.lines();
    let summary = lines.next()?.trim().to_string();
    let mut passages: Vec<Passage> = Vec::new();
    let mut after_blank = false;
    for line in lines {
        let next = passages.len() + 1;
        let marker = format!("[{next}] ");
        let blank = line.trim().is_empty();
        if let Some(citation) = line.strip_prefix(&marker).filter(|_| after_blank) {
            passages.push(Passage {
                number: next,
                citation: citation.trim().to_string(),
                text: String::new(),
            });
        } else if let Some(p) = passages.last_mut() {
            if !p.text.is_empty() {
                p.text.push('\n');
            }
            p.text.push_str(line);
        }
        after_blank = blank;
    }
    for p in &mut passages {
        p.text = p.text.trim().to_string();
    }
    (!passages.is_empty()).then_some((summary, passages))
}

/// A `knowledge_search` step: the query in the summary line; the passages with their
/// citations once it answered (raw output when it failed or found nothing).
#[component]
fn KnowledgeStep(tool: ToolStep) -> impl IntoView {
    let args: serde_json::Value = serde_json::from_str(&tool.arguments).unwrap_or_default();
    let query = args
        .get("query")
        .and_then(|q| q.as_str())
        .unwrap_or("")
        .to_string();
    let state = match &tool.result {
        None => "running",
        Some((_, true)) => "error",
        Some((_, false)) => "ok",
    };
    let parsed = match &tool.result {
        Some((out, false)) => parse_knowledge_results(out),
        _ => None,
    };
    let label = match (state, &parsed) {
        ("running", _) => "searching…".to_string(),
        ("error", _) => "error".to_string(),
        (_, Some((_, p))) => format!("{} passage{}", p.len(), if p.len() == 1 { "" } else { "s" }),
        _ => "no passages".to_string(),
    };
    view! {
        <details class=format!("tool-step tool-{state} tool-knowledge") open=state == "error">
            <summary>
                <span class="tool-icon" aria-hidden="true">"⌕"</span>
                <span class="tool-name">"knowledge_search"</span>
                {(!query.is_empty()).then(|| view! { <span class="tool-query">{format!("“{query}”")}</span> })}
                <span class=format!("badge badge-{state}")>{label}</span>
            </summary>
            <div class="tool-body">
                {match (parsed, tool.result.clone()) {
                    (Some((_, passages)), _) => {
                        view! {
                            <ol class="passages">
                                {passages
                                    .into_iter()
                                    .map(|p| {
                                        view! {
                                            <li class="passage">
                                                <div class="passage-cite">
                                                    <span class="passage-num">{format!("[{}]", p.number)}</span>
                                                    {p.citation}
                                                </div>
                                                <div class="passage-text">{crate::components::format::passage(&p.text)}</div>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ol>
                        }
                            .into_any()
                    }
                    (None, Some((out, _))) => view! { <pre class="code">{out}</pre> }.into_any(),
                    (None, None) => {
                        view! {
                            <div class="tool-label">"Arguments"</div>
                            <pre class="code">{tool.arguments.clone()}</pre>
                        }
                            .into_any()
                    }
                }}
            </div>
        </details>
    }
}

/// Opens the run's event stream and feeds it into `transcript`.
#[cfg(feature = "hydrate")]
fn follow_run(
    run_id: Uuid,
    transcript: RwSignal<Transcript>,
    live: RwSignal<bool>,
    stream_error: RwSignal<Option<String>>,
    on_done: Option<Callback<()>>,
) {
    use send_wrapper::SendWrapper;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    const TYPES: [&str; 13] = [
        "run_started",
        "run_resumed",
        "token_delta",
        "assistant_message",
        "tool_call",
        "tool_result",
        "usage",
        "policy_decision",
        "approval_requested",
        "approval_decided",
        "completed",
        "failed",
        "cancelled",
    ];

    let url = format!("/api/v1/runs/{run_id}/events");
    let es = match EventSource::new(&url) {
        Ok(es) => es,
        Err(_) => {
            stream_error.set(Some(
                "Could not open the live event stream; reload the page to see progress.".into(),
            ));
            return;
        }
    };
    let finish = {
        let es = es.clone();
        move || {
            es.close();
            if live.get_untracked() {
                live.set(false);
                if let Some(cb) = on_done {
                    cb.run(());
                }
            }
        }
    };
    let on_event = {
        let finish = finish.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(data) = ev.data().as_string() else {
                return;
            };
            match serde_json::from_str::<RunEvent>(&data) {
                Ok(e) => {
                    let terminal = e.kind.is_terminal();
                    let stick = near_bottom();
                    transcript.update(|t| t.apply(&e));
                    if stick {
                        request_animation_frame(scroll_to_bottom);
                    }
                    stream_error.set(None);
                    if terminal {
                        finish();
                    }
                }
                Err(err) => leptos::logging::warn!("unreadable run event: {err}"),
            }
        })
    };
    for ty in TYPES {
        let _ = es.add_event_listener_with_callback(ty, on_event.as_ref().unchecked_ref());
    }
    let on_error = {
        let es = es.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            // CLOSED means the browser gave up (e.g. 401/404); otherwise it reconnects
            // by itself with Last-Event-ID.
            if es.ready_state() == EventSource::CLOSED && live.get_untracked() {
                stream_error.set(Some(
                    "Lost the live event stream. Reload the page to see the latest state.".into(),
                ));
                live.set(false);
            }
        })
    };
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let holder = SendWrapper::new((es, on_event, on_error));
    on_cleanup(move || {
        let (es, _on_event, _on_error) = holder.take();
        es.close();
    });
}

/// Whether the window is scrolled (nearly) to the end of the page.
#[cfg(feature = "hydrate")]
pub(crate) fn near_bottom() -> bool {
    let Some(w) = web_sys::window() else {
        return false;
    };
    let Some(root) = w.document().and_then(|d| d.document_element()) else {
        return false;
    };
    let y = w.scroll_y().unwrap_or(0.0);
    let h = w
        .inner_height()
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    y + h >= root.scroll_height() as f64 - 160.0
}

/// Scrolls the window to the end of the page (the newest message).
#[cfg(feature = "hydrate")]
pub(crate) fn scroll_to_bottom() {
    if let Some(w) = web_sys::window() {
        let h = w
            .document()
            .and_then(|d| d.document_element())
            .map(|e| e.scroll_height())
            .unwrap_or(0);
        w.scroll_to_with_x_and_y(0.0, h as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: i64, kind: RunEventKind) -> RunEvent {
        RunEvent {
            run_id: Uuid::nil(),
            seq,
            kind,
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn folds_deltas_tools_and_outcome() {
        let events = vec![
            ev(
                1,
                RunEventKind::RunStarted {
                    agent_version: 1,
                    model: "m".into(),
                },
            ),
            ev(
                2,
                RunEventKind::TokenDelta {
                    step: 1,
                    text: "Let me ".into(),
                },
            ),
            ev(
                3,
                RunEventKind::TokenDelta {
                    step: 1,
                    text: "compute.".into(),
                },
            ),
            ev(
                4,
                RunEventKind::AssistantMessage {
                    step: 1,
                    text: "Let me compute.".into(),
                    tool_calls: vec![],
                },
            ),
            ev(
                5,
                RunEventKind::ToolCall {
                    step: 1,
                    call_id: "c".into(),
                    name: "calculator".into(),
                    arguments: serde_json::json!({"expression": "2+2"}),
                },
            ),
            ev(
                6,
                RunEventKind::ToolResult {
                    step: 1,
                    call_id: "c".into(),
                    name: "calculator".into(),
                    output: "4".into(),
                    is_error: false,
                    simulated: false,
                },
            ),
            ev(
                7,
                RunEventKind::TokenDelta {
                    step: 2,
                    text: "It is 4.".into(),
                },
            ),
            ev(
                7,
                RunEventKind::TokenDelta {
                    step: 2,
                    text: "dup".into(),
                },
            ),
            ev(
                8,
                RunEventKind::Usage {
                    step: 2,
                    input_tokens: 10,
                    output_tokens: 3,
                },
            ),
            ev(
                9,
                RunEventKind::Completed {
                    output: "It is 4.".into(),
                },
            ),
        ];
        let t = Transcript::from_events(&events);
        assert_eq!(t.steps.len(), 2);
        assert_eq!(t.steps[0].text, "Let me compute.");
        assert_eq!(t.steps[0].tools[0].result, Some(("4".into(), false)));
        assert_eq!(t.steps[1].text, "It is 4.");
        assert_eq!(t.usage, (10, 3));
        assert_eq!(t.outcome, Some(Outcome::Completed("It is 4.".into())));
        assert_eq!(t.extra_output(), None);
    }

    #[test]
    fn a_resumed_run_drops_the_partial_deltas_of_the_unfinished_step() {
        let events = vec![
            ev(
                1,
                RunEventKind::RunStarted {
                    agent_version: 1,
                    model: "m".into(),
                },
            ),
            ev(
                2,
                RunEventKind::AssistantMessage {
                    step: 1,
                    text: "Step one.".into(),
                    tool_calls: vec![],
                },
            ),
            ev(
                3,
                RunEventKind::TokenDelta {
                    step: 2,
                    text: "half an ans".into(),
                },
            ),
            ev(
                4,
                RunEventKind::RunResumed {
                    from_step: 2,
                    attempt: 2,
                },
            ),
            ev(
                5,
                RunEventKind::TokenDelta {
                    step: 2,
                    text: "The answer.".into(),
                },
            ),
        ];
        let t = Transcript::from_events(&events);
        assert_eq!(t.steps[0].text, "Step one.");
        assert_eq!(t.steps[1].text, "The answer.");
    }

    #[test]
    fn knowledge_results_are_split_into_passages() {
        let out = "2 passages for \"retries\". Cite them by number, e.g. [1].\n\n[1] ARCHITECTURE.md § Architecture > Invariants (chunk 4)\nJobs are at-least-once.\n[2] is not a marker here\n\n[2] notes.txt (chunk 0)\nBackoff doubles.\n";
        let (summary, passages) = parse_knowledge_results(out).unwrap();
        assert!(summary.starts_with("2 passages"));
        assert_eq!(passages.len(), 2);
        assert_eq!(
            passages[0].citation,
            "ARCHITECTURE.md § Architecture > Invariants (chunk 4)"
        );
        assert_eq!(
            passages[0].text,
            "Jobs are at-least-once.\n[2] is not a marker here"
        );
        assert_eq!(passages[1].number, 2);
        assert_eq!(passages[1].text, "Backoff doubles.");
        assert_eq!(
            parse_knowledge_results("No passages found for \"x\"."),
            None
        );
    }
}
