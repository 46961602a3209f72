//! `/agents/:id`: chat with an agent, with its runs history alongside.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use autonoma_types::{Agent, Run};

use crate::api::agents::get_agent;
use crate::api::chat::{get_thread, list_runs, SendMessage};
use crate::api::run::Turn;
use crate::components::feedback::{ErrorBox, Loading};
use crate::components::format::short_time;
use crate::components::transcript::RunTranscript;

/// The chat page. `?thread=<id>` reopens a conversation.
#[component]
pub fn ChatPage() -> impl IntoView {
    let params = use_params_map();
    let agent_id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let query = use_query_map();
    let thread_q = Memo::new(move |_| query.read().get("thread").filter(|t| !t.is_empty()));
    let agent = Resource::new(move || agent_id.get(), get_agent);
    let thread = Resource::new(
        move || thread_q.get(),
        |t| async move {
            match t {
                Some(t) => get_thread(t).await,
                None => Ok(Vec::new()),
            }
        },
    );
    let runs_version = RwSignal::new(0u32);
    let reset = RwSignal::new(0u32);
    let runs = Resource::new(
        move || (agent_id.get(), runs_version.get()),
        |(a, _)| list_runs(a, None),
    );

    view! {
        <Suspense fallback=|| view! { <Loading what="the agent"/> }>
            {move || Suspend::new(async move {
                match agent.await {
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    Ok(agent) => {
                        view! {
                            <Title text=agent.spec.name.clone()/>
                            <div class="chat-layout">
                                <section class="chat-main">
                                    <ChatHeader agent=agent.clone() reset/>
                                    <Suspense fallback=|| view! { <Loading what="the conversation"/> }>
                                        {
                                            let agent = agent.clone();
                                            move || {
                                                let agent = agent.clone();
                                                Suspend::new(async move {
                                                    match thread.await {
                                                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                                                        Ok(turns) => view! { <ChatThread agent turns runs_version reset/> }.into_any(),
                                                    }
                                                })
                                            }
                                        }
                                    </Suspense>
                                </section>
                                <aside class="runs-panel card">
                                    <h2>"Runs"</h2>
                                    <Transition fallback=|| view! { <Loading what="runs"/> }>
                                        {move || Suspend::new(async move {
                                            match runs.await {
                                                Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                                                Ok(page) if page.items.is_empty() => {
                                                    view! { <p class="muted empty-small">"No runs yet. Send a message to start one."</p> }.into_any()
                                                }
                                                Ok(page) => view! { <RunList runs=page.items/> }.into_any(),
                                            }
                                        })}
                                    </Transition>
                                </aside>
                            </div>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ChatHeader(agent: Agent, reset: RwSignal<u32>) -> impl IntoView {
    view! {
        <div class="chat-header">
            <div>
                <h1>{agent.spec.name.clone()}</h1>
                <div class="chips">
                    <span class="chip chip-model">{agent.spec.model.clone()}</span>
                    {agent.spec.tools.iter().map(|t| view! { <span class="chip">{t.clone()}</span> }).collect_view()}
                </div>
            </div>
            <div class="page-actions">
                <form method="get" action=format!("/agents/{}", agent.id)>
                    <button
                        type="submit"
                        class="btn btn-secondary btn-small"
                        on:click=move |ev| {
                            ev.prevent_default();
                            reset.update(|n| *n += 1);
                        }
                    >
                        "New conversation"
                    </button>
                </form>
                <a class="btn btn-secondary btn-small" href=format!("/agents/{}/edit", agent.id)>
                    "Edit agent"
                </a>
            </div>
        </div>
    }
}

/// The messages of one conversation and the composer.
#[component]
fn ChatThread(
    agent: Agent,
    turns: Vec<Turn>,
    runs_version: RwSignal<u32>,
    reset: RwSignal<u32>,
) -> impl IntoView {
    let busy = RwSignal::new(turns.last().is_some_and(|t| !t.run.status.is_terminal()));
    let thread_id = RwSignal::new(turns.last().map(|t| t.run.thread_id));
    // A run parked for approval: the composer says so, and the runs list shows it.
    let waiting = RwSignal::new(false);
    Effect::new(move |prev: Option<bool>| {
        let now = waiting.get();
        if prev.is_some_and(|p| p != now) {
            runs_version.update(|v| *v += 1);
        }
        now
    });
    let turns = RwSignal::new(turns);
    let send = ServerAction::<SendMessage>::new();
    let input = RwSignal::new(String::new());
    let agent_id = agent.id.to_string();

    // A message was accepted: show its run and follow it.
    Effect::new(move |_| {
        if let Some(Ok(run)) = send.value().get() {
            let known = turns.with_untracked(|ts| ts.iter().any(|t| t.run.id == run.id));
            if !known {
                thread_id.set(Some(run.thread_id));
                busy.set(true);
                input.set(String::new());
                remember_thread(&run);
                turns.update(|ts| {
                    ts.push(Turn {
                        run,
                        events: Vec::new(),
                    })
                });
                runs_version.update(|v| *v += 1);
                #[cfg(feature = "hydrate")]
                request_animation_frame(crate::components::transcript::scroll_to_bottom);
            }
        }
    });

    // "New conversation" (the header's button) without a page load once hydrated.
    Effect::new(move |prev: Option<u32>| {
        let n = reset.get();
        if prev.is_some_and(|p| p != n) {
            turns.set(Vec::new());
            thread_id.set(None);
            busy.set(false);
            send.value().set(None);
            forget_thread();
        }
        n
    });

    let on_done = Callback::new(move |_: ()| {
        busy.set(false);
        runs_version.update(|v| *v += 1);
    });
    let name = agent.spec.name.clone();
    let placeholder = format!("Message {}…", agent.spec.name);

    view! {
        <div class="chat-thread" aria-live="polite">
            <Show when=move || turns.with(|t| t.is_empty())>
                <div class="chat-empty">
                    <svg class="empty-svg" viewBox="0 0 24 24" width="36" height="36" aria-hidden="true">
                        <path
                            d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.6c-.5.4-1.3.1-1.3-.6V16A2.5 2.5 0 0 1 4 13.5z"
                            fill="none"
                            stroke="currentColor"
                            stroke-width="1.6"
                            stroke-linejoin="round"
                        ></path>
                    </svg>
                    <p>{format!("Start a conversation with {name}.")}</p>
                    <p class="muted small">"Answers stream in as they are written; tool calls appear as steps you can expand."</p>
                </div>
            </Show>
            <For
                each=move || turns.get()
                key=|t| t.run.id
                children=move |turn: Turn| {
                    let run = turn.run.clone();
                    view! {
                        <div class="turn">
                            <div class="bubble user">
                                <div class="bubble-text">{run.input.clone()}</div>
                            </div>
                            <RunTranscript
                                run_id=run.id
                                status=run.status
                                initial=turn.events.clone()
                                run_error=run.error.clone().unwrap_or_default()
                                on_done=on_done
                                waiting=waiting
                            />
                            <a class="turn-link" href=format!("/runs/{}", run.id)>
                                "Run details"
                            </a>
                        </div>
                    }
                }
            />
        </div>
        {move || {
            send.value()
                .get()
                .and_then(|r| r.err())
                .map(|e| view! { <ErrorBox err=e/> })
        }}
        <div class="composer card">
            <ActionForm action=send>
                <input type="hidden" name="agent_id" value=agent_id/>
                <input type="hidden" name="thread_id" value=move || thread_id.get().map(|t| t.to_string()).unwrap_or_default()/>
                <label class="sr-only" for="chat-input">
                    "Message"
                </label>
                <textarea
                    id="chat-input"
                    name="input"
                    rows="3"
                    required
                    placeholder=placeholder
                    prop:value=move || input.get()
                    on:input=move |ev| input.set(event_target_value(&ev))
                    on:keydown=submit_on_enter
                ></textarea>
                <div class="composer-actions">
                    <span class="hint">"Enter to send · Shift+Enter for a new line"</span>
                    <button type="submit" class="btn btn-primary" disabled=move || busy.get() || send.pending().get()>
                        {move || {
                            if send.pending().get() {
                                "Sending…"
                            } else if busy.get() && waiting.get() {
                                "Waiting for approval…"
                            } else if busy.get() {
                                "Running…"
                            } else {
                                "Send"
                            }
                        }}
                    </button>
                </div>
            </ActionForm>
        </div>
    }
}

/// Enter submits the composer (Shift+Enter inserts a newline).
fn submit_on_enter(ev: leptos::ev::KeyboardEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            if let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
                .and_then(|t| t.form())
            {
                let _ = form.request_submit();
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

/// Puts `?thread=` in the address bar so a reload reopens this conversation.
fn remember_thread(run: &Run) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        if let Ok(history) = w.history() {
            let url = format!("/agents/{}?thread={}", run.agent_id, run.thread_id);
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = run;
}

/// Drops `?thread=` from the address bar (a new conversation starts).
fn forget_thread() {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        if let Ok(history) = w.history() {
            let path = w.location().pathname().unwrap_or_default();
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
        }
    }
}

/// Runs as links to their transcript.
#[component]
pub fn RunList(
    /// Newest first.
    runs: Vec<Run>,
) -> impl IntoView {
    view! {
        <ul class="run-list">
            {runs
                .into_iter()
                .map(|r| {
                    let first_line: String = r.input.lines().next().unwrap_or("").chars().take(80).collect();
                    view! {
                        <li>
                            <a href=format!("/runs/{}", r.id)>
                                <span class=format!("status status-{}", r.status.as_str())>{r.status.as_str().replace('_', " ")}</span>
                                <span class="run-input">{first_line}</span>
                                <span class="muted small">{short_time(r.created_at)}</span>
                            </a>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
