//! `/settings/api-keys` and `/settings/providers`.

use leptos::prelude::*;
use leptos_meta::Title;

use autonoma_types::CreatedApiKey;

use crate::api::settings::{
    list_api_keys, list_providers, take_new_key, CreateApiKey, CreateProvider, DeleteProvider,
    RevokeApiKey,
};
use crate::components::feedback::{ErrorBox, Loading};
use crate::components::form::{field_error, FieldHint};
use crate::components::format::{kind_label, short_time};
use crate::components::header::PageHeader;

/// API keys: create (the secret is shown once), list, revoke.
#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    // A key created by a form posted without JavaScript comes back through a flash cookie.
    let flashed = Resource::new(|| (), |_| take_new_key());
    let pending = create.pending();
    view! {
        <Title text="API keys"/>
        <PageHeader title="API keys" subtitle="Keys let programs call the REST API as your organization. Send them as “Authorization: Bearer ak_…”."/>
        {move || {
            create.value().get().map(|r| match r {
                Ok(created) => view! { <NewKeySecret created/> }.into_any(),
                Err(e) => view! { <ErrorBox err=e/> }.into_any(),
            })
        }}
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                flashed.await.ok().flatten().map(|created| view! { <NewKeySecret created/> })
            })}
        </Suspense>
        <div class="card form-card">
            <h2>"Create a key"</h2>
            <ActionForm action=create>
                <div class="field-row">
                    <div class="field grow">
                        <label for="key-name">"Name"</label>
                        <input id="key-name" type="text" name="name" required maxlength="100" placeholder="CI pipeline"/>
                        <FieldHint err=move || field_error(create.value().get(), "name")/>
                    </div>
                    <div class="field">
                        <label for="key-role">"Role"</label>
                        <select id="key-role" name="role">
                            <option value="" selected>"Same as mine"</option>
                            <option value="admin">"admin"</option>
                            <option value="member">"member"</option>
                            <option value="viewer">"viewer (read-only)"</option>
                        </select>
                        <FieldHint err=move || field_error(create.value().get(), "role")/>
                    </div>
                    <div class="field field-button">
                        <button type="submit" class="btn btn-primary" disabled=move || pending.get()>
                            {move || if pending.get() { "Creating…" } else { "Create key" }}
                        </button>
                    </div>
                </div>
            </ActionForm>
        </div>
        {move || revoke.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
        <div class="card">
            <Transition fallback=|| view! { <Loading what="API keys"/> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                        Ok(keys) if keys.is_empty() => {
                            view! {
                                <div class="empty-small">
                                    <p>"No API keys yet."</p>
                                    <p class="muted small">"Create one above to call the API from scripts, CI or other services."</p>
                                </div>
                            }
                                .into_any()
                        }
                        Ok(keys) => {
                            view! {
                                <table class="table">
                                    <thead>
                                        <tr>
                                            <th>"Name"</th>
                                            <th>"Key"</th>
                                            <th>"Role"</th>
                                            <th>"Created"</th>
                                            <th>"Last used"</th>
                                            <th></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {keys
                                            .into_iter()
                                            .map(|k| {
                                                let revoked = k.revoked_at.is_some();
                                                view! {
                                                    <tr class:revoked=revoked>
                                                        <td>{k.name.clone()}</td>
                                                        <td>
                                                            <code>{format!("{}…", k.prefix)}</code>
                                                        </td>
                                                        <td>
                                                            <span class="badge">{k.role.as_str()}</span>
                                                        </td>
                                                        <td class="small">{short_time(k.created_at)}</td>
                                                        <td class="small">
                                                            {k.last_used_at.map(short_time).unwrap_or_else(|| "never".into())}
                                                        </td>
                                                        <td class="right">
                                                            {if revoked {
                                                                view! {
                                                                    <span class="badge badge-error">
                                                                        {format!("revoked {}", k.revoked_at.map(short_time).unwrap_or_default())}
                                                                    </span>
                                                                }
                                                                    .into_any()
                                                            } else {
                                                                view! {
                                                                    <ActionForm action=revoke>
                                                                        <input type="hidden" name="id" value=k.id.to_string()/>
                                                                        <button type="submit" class="btn btn-danger btn-small">
                                                                            "Revoke"
                                                                        </button>
                                                                    </ActionForm>
                                                                }
                                                                    .into_any()
                                                            }}
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </div>
    }
}

/// The secret of a new key, shown once.
#[component]
fn NewKeySecret(created: CreatedApiKey) -> impl IntoView {
    let copied = RwSignal::new(false);
    let secret = created.secret.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&secret);
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &secret;
    };
    view! {
        <div class="alert alert-success secret-box" role="status">
            <div>
                <strong>{format!("Key “{}” created.", created.key.name)}</strong>
                " Copy it now — it will not be shown again."
            </div>
            <div class="secret-row">
                <input class="secret" type="text" readonly value=created.secret.clone() aria-label="The new API key" onfocus="this.select()"/>
                <button type="button" class="btn btn-secondary btn-small" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
            <p class="hint">"Tip: click the field and press Ctrl+C (⌘C) if the button does not work."</p>
        </div>
    }
}

/// Provider connections: list, add (Local or OpenAI-compatible), delete.
#[component]
pub fn ProvidersPage() -> impl IntoView {
    let create = ServerAction::<CreateProvider>::new();
    let delete = ServerAction::<DeleteProvider>::new();
    let providers = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_providers(),
    );
    let pending = create.pending();
    let err = move |field: &'static str| move || field_error(create.value().get(), field);
    view! {
        <Title text="Providers"/>
        <PageHeader title="Model providers" subtitle="Connections to the LLMs your agents use. API keys are encrypted at rest and never shown again."/>
        {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
        <div class="card">
            <Transition fallback=|| view! { <Loading what="providers"/> }>
                {move || Suspend::new(async move {
                    match providers.await {
                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                        Ok(list) if list.is_empty() => {
                            view! {
                                <div class="empty-small">
                                    <p>"No provider connections yet."</p>
                                    <p class="muted small">
                                        "Add the built-in Local model below to get started without any API key, or connect an OpenAI-compatible endpoint."
                                    </p>
                                </div>
                            }
                                .into_any()
                        }
                        Ok(list) => {
                            view! {
                                <table class="table">
                                    <thead>
                                        <tr>
                                            <th>"Name"</th>
                                            <th>"Kind"</th>
                                            <th>"Endpoint"</th>
                                            <th>"Models"</th>
                                            <th>"Key"</th>
                                            <th></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list
                                            .into_iter()
                                            .map(|p| {
                                                view! {
                                                    <tr>
                                                        <td>{p.name.clone()}</td>
                                                        <td>
                                                            <span class="badge">{kind_label(p.kind)}</span>
                                                        </td>
                                                        <td class="small">
                                                            <code>{p.base_url.clone().unwrap_or_else(|| "built in".into())}</code>
                                                        </td>
                                                        <td>
                                                            <div class="chips">
                                                                {p.models.iter().map(|m| view! { <span class="chip">{m.clone()}</span> }).collect_view()}
                                                            </div>
                                                        </td>
                                                        <td class="small">{if p.has_api_key { "stored" } else { "—" }}</td>
                                                        <td class="right">
                                                            <ActionForm action=delete>
                                                                <input type="hidden" name="id" value=p.id.to_string()/>
                                                                <button type="submit" class="btn btn-danger btn-small">
                                                                    "Delete"
                                                                </button>
                                                            </ActionForm>
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </div>
        <div class="card form-card provider-form">
            <h2>"Add a provider"</h2>
            {move || {
                create.value().get().and_then(|r| r.err()).map(|e| {
                    view! {
                        <div class="alert alert-error" role="alert">
                            <strong>"Could not add the provider. "</strong>
                            {e.headline()}
                        </div>
                    }
                })
            }}
            <ActionForm action=create>
                <fieldset class="field kind-picker">
                    <legend>"Kind"</legend>
                    <label class="radio-card">
                        <input type="radio" name="kind" value="local" checked/>
                        <span>
                            <strong>"Local"</strong>
                            <span class="hint block">"The embedded SmolLM2 model on this server. No key, no network."</span>
                        </span>
                    </label>
                    <label class="radio-card">
                        <input type="radio" name="kind" value="openai_compatible"/>
                        <span>
                            <strong>"OpenAI-compatible"</strong>
                            <span class="hint block">"OpenAI, vLLM, Ollama, llama.cpp server… (Chat Completions API)."</span>
                        </span>
                    </label>
                    <FieldHint err=err("kind")/>
                </fieldset>
                <div class="field">
                    <label for="provider-name">"Name"</label>
                    <input id="provider-name" type="text" name="name" required maxlength="100" placeholder="Local model"/>
                    <FieldHint err=err("name")/>
                </div>
                <div class="openai-only">
                    <div class="field">
                        <label for="base_url">"Base URL" <span class="optional">"OpenAI-compatible only"</span></label>
                        <input id="base_url" type="url" name="base_url" placeholder="https://api.openai.com/v1"/>
                        <FieldHint err=err("base_url")/>
                    </div>
                    <div class="field">
                        <label for="api_key">"API key" <span class="optional">"write-only"</span></label>
                        <input id="api_key" type="password" name="api_key" autocomplete="off" placeholder="sk-…"/>
                        <p class="hint">"Stored encrypted; it is never displayed again."</p>
                    </div>
                </div>
                <div class="field">
                    <label for="models">"Models"</label>
                    <textarea id="models" name="models" rows="3" placeholder="gpt-4o-mini"></textarea>
                    <p class="hint">"One model name per line. For Local, leave empty to use smollm2-135m-instruct."</p>
                    <FieldHint err=err("models")/>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || pending.get()>
                        {move || if pending.get() { "Adding…" } else { "Add provider" }}
                    </button>
                </div>
            </ActionForm>
        </div>
    }
}
