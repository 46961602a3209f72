//! The agent list and the agent editor.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use autonoma_types::{Agent, KnowledgeBase, Limits, ProviderConnection};
use uuid::Uuid;

use crate::api::agents::{get_agent, list_agents, DeleteAgent, SaveAgent};
use crate::api::knowledge::knowledge_base_choices;
use crate::api::settings::list_providers;
use crate::components::feedback::{ErrorBox, Loading};
use crate::components::form::{field_error, FieldHint};
use crate::components::format::{kind_label, short_time};
use crate::components::header::PageHeader;
use crate::pages::preflight::PreflightPanel;

/// Built-in tools: name, label, description.
const TOOLS: [(&str, &str, &str); 3] = [
    (
        "calculator",
        "Calculator",
        "Evaluates arithmetic expressions exactly.",
    ),
    (
        "current_time",
        "Current time",
        "Tells the current date and time (UTC).",
    ),
    (
        "http_fetch",
        "HTTP fetch",
        "Fetches web pages from the allowlisted domains below.",
    ),
];

/// `/agents`: the organization's agents, with an invitation to create the first one.
#[component]
pub fn AgentsPage() -> impl IntoView {
    let query = use_query_map();
    let cursor = move || query.read().get("cursor").filter(|c| !c.is_empty());
    let agents = Resource::new(cursor, list_agents);
    view! {
        <Title text="Agents"/>
        <PageHeader title="Agents" subtitle="Each agent is a model with instructions, tools and limits.">
            <a class="btn btn-primary" href="/agents/new">
                "New agent"
            </a>
        </PageHeader>
        <Suspense fallback=|| view! { <Loading what="agents"/> }>
            {move || Suspend::new(async move {
                match agents.await {
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() && cursor().is_none() => {
                        view! {
                            <div class="empty-state card">
                                <div class="empty-icon" aria-hidden="true">"✦"</div>
                                <h2>"Create your first agent"</h2>
                                <p class="muted">
                                    "Pick a model, write its instructions, choose the tools it may use — then chat with it and watch every step."
                                </p>
                                <a class="btn btn-primary" href="/agents/new">
                                    "Create an agent"
                                </a>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(page) => {
                        let next = page.next_cursor.clone();
                        view! {
                            <div class="card-grid">
                                {page.items.into_iter().map(|a| view! { <AgentCard agent=a/> }).collect_view()}
                            </div>
                            <div class="pager">
                                {cursor().map(|_| view! { <a class="btn btn-secondary btn-small" href="/agents">"First page"</a> })}
                                {next.map(|c| view! { <a class="btn btn-secondary btn-small" href=format!("/agents?cursor={c}")>"Next page"</a> })}
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
fn AgentCard(agent: Agent) -> impl IntoView {
    let href = format!("/agents/{}", agent.id);
    let edit = format!("/agents/{}/edit", agent.id);
    let description = if agent.spec.description.trim().is_empty() {
        None
    } else {
        Some(agent.spec.description.clone())
    };
    view! {
        <article class="card agent-card">
            <div class="agent-card-head">
                <a class="agent-name" href=href.clone()>
                    {agent.spec.name.clone()}
                </a>
                <span class="badge">{format!("v{}", agent.version)}</span>
            </div>
            <p class="muted agent-desc">{description.unwrap_or_else(|| "No description.".into())}</p>
            <div class="chips">
                <span class="chip chip-model">{agent.spec.model.clone()}</span>
                {agent.spec.tools.iter().map(|t| view! { <span class="chip">{t.clone()}</span> }).collect_view()}
            </div>
            <div class="agent-card-foot">
                <span class="muted small">{format!("Updated {}", short_time(agent.updated_at))}</span>
                <div class="actions">
                    <a class="btn btn-secondary btn-small" href=edit>
                        "Edit"
                    </a>
                    <a class="btn btn-primary btn-small" href=href>
                        "Chat"
                    </a>
                </div>
            </div>
        </article>
    }
}

/// `/agents/new` and `/agents/:id/edit`: the agent editor.
#[component]
pub fn AgentEditorPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id");
    let providers = Resource::new(|| (), |_| list_providers());
    let knowledge = Resource::new(|| (), |_| knowledge_base_choices());
    let agent = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_agent(id).await.map(Some),
            None => Ok(None),
        }
    });
    view! {
        <Suspense fallback=|| view! { <Loading what="the editor"/> }>
            {move || Suspend::new(async move {
                let providers = providers.await;
                let knowledge = knowledge.await;
                let agent = agent.await;
                match (providers, knowledge, agent) {
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => view! { <ErrorBox err=e/> }.into_any(),
                    (Ok(providers), Ok(knowledge), Ok(agent)) => view! { <AgentForm providers knowledge agent/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The editor form. `knowledge` is `None` when the server has knowledge bases disabled.
#[component]
fn AgentForm(
    providers: Vec<ProviderConnection>,
    knowledge: Option<Vec<KnowledgeBase>>,
    agent: Option<Agent>,
) -> impl IntoView {
    let save = ServerAction::<SaveAgent>::new();
    let delete = ServerAction::<DeleteAgent>::new();
    let pending = save.pending();
    let err = move |field: &'static str| move || field_error(save.value().get(), field);
    let model_err = move || {
        field_error(save.value().get(), "model")
            .or_else(|| field_error(save.value().get(), "provider_id"))
    };

    let editing = agent.is_some();
    let title = match &agent {
        Some(a) => format!("Edit {}", a.spec.name),
        None => "New agent".to_string(),
    };
    let a = agent.as_ref().map(|a| &a.spec);
    let id = agent.as_ref().map(|a| a.id.to_string()).unwrap_or_default();
    let name = a.map(|a| a.name.clone()).unwrap_or_default();
    let description = a.map(|a| a.description.clone()).unwrap_or_default();
    let instructions = a.map(|a| a.instructions.clone()).unwrap_or_default();
    let tools = a.map(|a| a.tools.clone()).unwrap_or_default();
    let allowlist = a.map(|a| a.http_allowlist.join("\n")).unwrap_or_default();
    let other_tools = tools
        .iter()
        .filter(|t| {
            ![
                "calculator",
                "current_time",
                "http_fetch",
                "knowledge_search",
            ]
            .contains(&t.as_str())
        })
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let policies = a
        .filter(|a| !a.tool_policies.is_empty())
        .map(|a| serde_json::to_string_pretty(&a.tool_policies).unwrap_or_default())
        .unwrap_or_default();
    let attached = a.map(|a| a.knowledge_base_ids.clone()).unwrap_or_default();
    let limits = a.map(|a| a.limits.clone()).unwrap_or_default();
    let Limits {
        max_steps,
        max_output_tokens,
        timeout_secs,
    } = limits;
    let current_model = a.map(|a| format!("{}/{}", a.provider_id, a.model));
    let cancel_href = match &agent {
        Some(a) => format!("/agents/{}", a.id),
        None => "/agents".to_string(),
    };
    let no_providers = providers.is_empty();
    let header_cancel_href = cancel_href.clone();
    let delete_id = id.clone();
    let preflight_id = id.clone();
    let pricing = a.and_then(|a| a.pricing);
    let price_input = pricing
        .map(|p| p.input_usd_per_mtok.to_string())
        .unwrap_or_default();
    let price_output = pricing
        .map(|p| p.output_usd_per_mtok.to_string())
        .unwrap_or_default();
    let version_note = agent.as_ref().map(|a| {
        format!(
            "Version {} · saving creates version {}",
            a.version,
            a.version + 1
        )
    });

    view! {
        <div class="narrow">
        <Title text=title.clone()/>
        <PageHeader title=title subtitle=version_note.unwrap_or_else(|| "Define what the agent is, what it may do, and its limits.".into())>
            <a class="btn btn-secondary" href=header_cancel_href>
                "Cancel"
            </a>
        </PageHeader>
        {no_providers
            .then(|| {
                view! {
                    <div class="alert alert-info">
                        "An agent needs a model, and models come from provider connections. "
                        <a href="/settings/providers">"Add a provider"</a>
                        " (the built-in Local model needs no key), then come back."
                    </div>
                }
            })}
        {move || {
            save.value()
                .get()
                .and_then(|r| r.err())
                .map(|e| {
                    view! {
                        <div class="alert alert-error" role="alert">
                            <strong>"Could not save. "</strong>
                            {e.headline()}
                        </div>
                    }
                })
        }}
        <div class="card form-card">
            <ActionForm action=save>
                <input type="hidden" name="id" value=id/>
                <section class="form-section">
                    <h2>"Identity"</h2>
                    <div class="field">
                        <label for="name">"Name"</label>
                        <input id="name" type="text" name="name" required maxlength="100" value=name placeholder="Support assistant"/>
                        <FieldHint err=err("name")/>
                    </div>
                    <div class="field">
                        <label for="description">"Description" <span class="optional">"optional"</span></label>
                        <input id="description" type="text" name="description" maxlength="2000" value=description placeholder="What this agent is for"/>
                        <FieldHint err=err("description")/>
                    </div>
                </section>
                <section class="form-section">
                    <h2>"Model"</h2>
                    <div class="field">
                        <label for="model_ref">"Model"</label>
                        <select id="model_ref" name="model_ref" required>
                            <option value="" disabled selected=current_model.is_none()>
                                "Choose a model…"
                            </option>
                            {providers
                                .iter()
                                .map(|p| {
                                    let label = format!("{} ({})", p.name, kind_label(p.kind));
                                    let current_model = current_model.clone();
                                    view! {
                                        <optgroup label=label>
                                            {p
                                                .models
                                                .iter()
                                                .map(|m| {
                                                    let value = format!("{}/{}", p.id, m);
                                                    let selected = current_model.as_deref() == Some(value.as_str());
                                                    view! {
                                                        <option value=value selected=selected>
                                                            {m.clone()}
                                                        </option>
                                                    }
                                                })
                                                .collect_view()}
                                        </optgroup>
                                    }
                                })
                                .collect_view()}
                        </select>
                        <p class="hint">"Models come from your " <a href="/settings/providers">"provider connections"</a> "."</p>
                        <FieldHint err=model_err/>
                    </div>
                    <div class="field">
                        <label for="instructions">"Instructions"</label>
                        <textarea id="instructions" name="instructions" rows="8" maxlength="32768" placeholder="You are a helpful assistant. Answer briefly and cite your sources.">
                            {instructions}
                        </textarea>
                        <p class="hint">"The system prompt: who the agent is and how it should behave."</p>
                        <FieldHint err=err("instructions")/>
                    </div>
                </section>
                <section class="form-section">
                    <h2>"Tools"</h2>
                    <div class="checkbox-list">
                        {TOOLS
                            .iter()
                            .map(|(tool, label, desc)| {
                                let checked = tools.iter().any(|t| t == tool);
                                let field = format!("tool_{tool}");
                                view! {
                                    <label class="checkbox">
                                        <input type="checkbox" name=field value="on" checked=checked/>
                                        <span>
                                            <strong>{*label}</strong>
                                            <code class="tool-code">{*tool}</code>
                                            <span class="hint block">{*desc}</span>
                                        </span>
                                    </label>
                                }
                            })
                            .collect_view()}
                    </div>
                    <FieldHint err=err("tools")/>
                    <div class="field">
                        <label for="http_allowlist">"HTTP allowlist" <span class="optional">"for http_fetch"</span></label>
                        <textarea id="http_allowlist" name="http_allowlist" rows="3" placeholder="example.com\ndocs.rs">
                            {allowlist}
                        </textarea>
                        <p class="hint">"One domain per line; subdomains are included. Leave empty to allow nothing."</p>
                        <FieldHint err=err("http_allowlist")/>
                    </div>
                    <div class="field">
                        <label for="other_tools">"MCP tools" <span class="optional">"optional"</span></label>
                        <textarea id="other_tools" name="other_tools" rows="2" class="mono" placeholder="files__read_text_file">
                            {other_tools}
                        </textarea>
                        <p class="hint">"Tools of this organization's MCP servers, one name per line (connection__tool)."</p>
                    </div>
                    <div class="field">
                        <label for="tool_policies">"Tool policies" <span class="optional">"JSON, optional"</span></label>
                        <textarea id="tool_policies" name="tool_policies" rows="4" class="mono" placeholder=r#"[{"tool": "calculator", "action": "require_approval", "when": "args.expression.contains('*')"}]"#>
                            {policies}
                        </textarea>
                        <p class="hint">"Rules checked before the organization's, first match wins: action allow, deny or require_approval; when is an optional CEL condition over args. Without a match, read-only tools run and others wait for approval."</p>
                        <FieldHint err=err("tool_policies")/>
                    </div>
                </section>
                {knowledge.map(|bases| view! { <KnowledgeSection bases attached err=err("knowledge_base_ids")/> })}
                <section class="form-section">
                    <h2>"Limits"</h2>
                    <div class="field-row">
                        <div class="field">
                            <label for="max_steps">"Max steps"</label>
                            <input id="max_steps" type="number" name="max_steps" min="1" max="100" value=max_steps.to_string()/>
                            <p class="hint">"LLM calls per run (1–100)."</p>
                            <FieldHint err=err("limits.max_steps")/>
                        </div>
                        <div class="field">
                            <label for="max_output_tokens">"Max output tokens"</label>
                            <input id="max_output_tokens" type="number" name="max_output_tokens" min="1" max="32768" value=max_output_tokens.to_string()/>
                            <p class="hint">"Per LLM call (1–32768)."</p>
                            <FieldHint err=err("limits.max_output_tokens")/>
                        </div>
                        <div class="field">
                            <label for="timeout_secs">"Timeout (seconds)"</label>
                            <input id="timeout_secs" type="number" name="timeout_secs" min="1" max="3600" value=timeout_secs.to_string()/>
                            <p class="hint">"Wall clock per run (1–3600)."</p>
                            <FieldHint err=err("limits.timeout_secs")/>
                        </div>
                    </div>
                </section>
                <section class="form-section">
                    <h2>"Pricing" <span class="optional">"optional"</span></h2>
                    <div class="field-row">
                        <div class="field">
                            <label for="price_input">"Input, $ per million tokens"</label>
                            <input id="price_input" type="number" name="price_input" min="0" max="10000" step="any" value=price_input placeholder="3.00"/>
                            <FieldHint err=err("pricing.input_usd_per_mtok")/>
                        </div>
                        <div class="field">
                            <label for="price_output">"Output, $ per million tokens"</label>
                            <input id="price_output" type="number" name="price_output" min="0" max="10000" step="any" value=price_output placeholder="15.00"/>
                            <FieldHint err=err("pricing.output_usd_per_mtok")/>
                        </div>
                    </div>
                    <p class="hint">"What the model costs, from your provider's price list: preflights estimate a run's cost with it."</p>
                </section>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || pending.get()>
                        {move || {
                            if pending.get() {
                                "Saving…"
                            } else if editing {
                                "Save changes"
                            } else {
                                "Create agent"
                            }
                        }}
                    </button>
                    <a class="btn btn-secondary" href=cancel_href>
                        "Cancel"
                    </a>
                </div>
            </ActionForm>
        </div>
        {editing.then(|| view! { <PreflightPanel agent_id=preflight_id.clone()/> })}
        {editing
            .then(|| {
                view! {
                    <div class="card danger-zone">
                        <div>
                            <h2>"Delete this agent"</h2>
                            <p class="muted">"Its runs stay in the history. This cannot be undone from the UI."</p>
                        </div>
                        <ActionForm action=delete>
                            <input type="hidden" name="id" value=delete_id/>
                            <button type="submit" class="btn btn-danger">
                                "Delete agent"
                            </button>
                        </ActionForm>
                    </div>
                    {move || {
                        delete.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })
                    }}
                }
            })}
        </div>
    }
}

/// Checkboxes of the organization's knowledge bases (`knowledge_base_ids[]`, repeated).
#[component]
fn KnowledgeSection<F>(bases: Vec<KnowledgeBase>, attached: Vec<Uuid>, err: F) -> impl IntoView
where
    F: Fn() -> Option<String> + Send + Sync + 'static,
{
    let empty = bases.is_empty();
    view! {
        <section class="form-section">
            <h2>"Knowledge"</h2>
            <p class="hint kb-hint">
                "The agent searches the bases you tick with the " <code>"knowledge_search"</code>
                " tool (enabled by attaching any) and cites the passages it uses."
            </p>
            {empty
                .then(|| {
                    view! {
                        <p class="muted small">
                            "No knowledge bases yet. " <a href="/knowledge">"Create one"</a> " and upload documents, then attach it here."
                        </p>
                    }
                })}
            <div class="checkbox-list">
                {bases
                    .into_iter()
                    .map(|kb| {
                        let checked = attached.iter().any(|id| id == &kb.id);
                        let description = if kb.description.trim().is_empty() { None } else { Some(kb.description.clone()) };
                        view! {
                            <label class="checkbox">
                                <input type="checkbox" name="knowledge_base_ids[]" value=kb.id.to_string() checked=checked/>
                                <span>
                                    <strong>{kb.name.clone()}</strong>
                                    {description.map(|d| view! { <span class="hint block">{d}</span> })}
                                </span>
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
            <FieldHint err/>
        </section>
    }
}
