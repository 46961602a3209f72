//! `/mcp-servers`: the organization's MCP server connections — status, the discovered tools
//! (input schema and annotations), add (stdio, or streamable HTTP with a bearer token or
//! OAuth), Connect / Reconnect for OAuth connections, refresh, delete.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use autonoma_types::mcp::{McpServer, McpServerStatus, McpTool, McpTransport};

use crate::api::mcp::{
    list_mcp_servers, AuthorizeMcpServer, CreateMcpServer, DeleteMcpServer, RefreshMcpTools,
};
use crate::components::feedback::{ErrorBox, Loading};
use crate::components::form::{field_error, FieldHint};
use crate::components::format::short_time;
use crate::components::header::PageHeader;

/// The MCP servers page.
#[component]
pub fn McpServersPage() -> impl IntoView {
    let create = ServerAction::<CreateMcpServer>::new();
    let delete = ServerAction::<DeleteMcpServer>::new();
    let refresh = ServerAction::<RefreshMcpTools>::new();
    let authorize = ServerAction::<AuthorizeMcpServer>::new();
    let servers = Resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                refresh.version().get(),
            )
        },
        |_| list_mcp_servers(),
    );
    // With JavaScript the authorization URL comes back as the action's value: go there.
    Effect::new(move |_| {
        if let Some(Ok(url)) = authorize.value().get() {
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href(&url);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = url;
        }
    });
    let query = use_query_map();
    let connected = move || query.read().get("connected");
    let pending = create.pending();
    let err = move |field: &'static str| move || field_error(create.value().get(), field);
    view! {
        <Title text="MCP servers"/>
        <PageHeader title="MCP servers" subtitle="External Model Context Protocol servers whose tools your agents can use. Secrets and OAuth tokens are encrypted at rest and never shown again."/>
        {move || connected().map(|_| view! {
            <div class="alert alert-success" role="status" id="mcp-connected">
                <strong>"Connected."</strong>
                " The authorization server granted access; the server's tools are listed below."
            </div>
        })}
        {move || create.value().get().and_then(|r| r.ok()).map(|s| view! {
            <div class="alert alert-success" role="status">
                <strong>{format!("Added “{}”.", s.name)}</strong>
                {if s.status == McpServerStatus::NeedsAuthorization {
                    " Press Connect to authorize it with its OAuth server."
                } else {
                    " Its tools are listed below."
                }}
            </div>
        })}
        {move || delete.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
        {move || refresh.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
        {move || authorize.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
        <div class="card">
            <Transition fallback=|| view! { <Loading what="MCP servers"/> }>
                {move || Suspend::new(async move {
                    match servers.await {
                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <div class="empty-small" id="mcp-empty">
                                <p>"No MCP servers yet."</p>
                                <p class="muted small">"Add one below: a program on this host (stdio) or a remote server (streamable HTTP). Its tools then appear in the agent editor as connection__tool."</p>
                            </div>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="mcp-list">
                                {list.into_iter().map(|s| view! {
                                    <ServerCard server=s delete refresh authorize/>
                                }).collect_view()}
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>
        <div class="card form-card mcp-form">
            <h2>"Add an MCP server"</h2>
            {move || create.value().get().and_then(|r| r.err()).map(|e| view! {
                <div class="alert alert-error" role="alert">
                    <strong>"Could not add the server. "</strong>
                    {e.headline()}
                </div>
            })}
            <ActionForm action=create>
                <div class="field-row">
                    <div class="field grow">
                        <label for="mcp-name">"Name"</label>
                        <input id="mcp-name" type="text" name="name" required maxlength="32" placeholder="files" pattern="[a-z][a-z0-9-]*"/>
                        <p class="hint">"Lowercase letters, digits and “-”; the prefix of its tools’ names."</p>
                        <FieldHint err=err("name")/>
                    </div>
                    <div class="field">
                        <label for="mcp-timeout">"Call timeout (s)"</label>
                        <input id="mcp-timeout" type="number" name="timeout_secs" min="1" max="600" placeholder="30"/>
                        <FieldHint err=err("timeout_secs")/>
                    </div>
                </div>
                <fieldset class="field kind-picker">
                    <legend>"Transport"</legend>
                    <label class="radio-card">
                        <input type="radio" name="transport" value="stdio" checked/>
                        <span>
                            <strong>"stdio"</strong>
                            <span class="hint block">"A program on this host, in a cleared environment (the operator must allow it)."</span>
                        </span>
                    </label>
                    <label class="radio-card">
                        <input type="radio" name="transport" value="streamable_http"/>
                        <span>
                            <strong>"Streamable HTTP"</strong>
                            <span class="hint block">"A remote server by URL, with a bearer token, headers or OAuth."</span>
                        </span>
                    </label>
                    <FieldHint err=err("transport")/>
                </fieldset>
                <div class="mcp-stdio-only">
                    <div class="field">
                        <label for="mcp-command">"Command" <span class="optional">"stdio"</span></label>
                        <input id="mcp-command" type="text" name="command" placeholder="/usr/bin/node"/>
                        <p class="hint">"Absolute path: PATH is not searched."</p>
                        <FieldHint err=err("command")/>
                    </div>
                    <div class="field">
                        <label for="mcp-args">"Arguments" <span class="optional">"stdio, one per line"</span></label>
                        <textarea id="mcp-args" name="args" rows="2" placeholder="/opt/mcp/server.js"></textarea>
                        <FieldHint err=err("args")/>
                    </div>
                    <div class="field">
                        <label for="mcp-env">"Environment" <span class="optional">"stdio, NAME=value lines, write-only"</span></label>
                        <textarea id="mcp-env" name="env" rows="2" placeholder="API_KEY=…"></textarea>
                        <FieldHint err=err("env")/>
                    </div>
                </div>
                <div class="mcp-http-only">
                    <div class="field">
                        <label for="mcp-url">"URL" <span class="optional">"HTTP"</span></label>
                        <input id="mcp-url" type="url" name="url" placeholder="https://mcp.example.com/mcp"/>
                        <FieldHint err=err("url")/>
                    </div>
                    <div class="field">
                        <label for="mcp-headers">"Headers" <span class="optional">"HTTP, Name: value lines, write-only"</span></label>
                        <textarea id="mcp-headers" name="headers" rows="2" placeholder="X-Workspace: …"></textarea>
                        <FieldHint err=err("headers")/>
                    </div>
                    <div class="field">
                        <label for="mcp-auth">"Authentication" <span class="optional">"HTTP"</span></label>
                        <select id="mcp-auth" name="auth">
                            <option value="none" selected>"None (or headers)"</option>
                            <option value="bearer">"Bearer token"</option>
                            <option value="oauth">"OAuth 2.1 (the server asks for it)"</option>
                        </select>
                        <FieldHint err=err("auth")/>
                    </div>
                    <div class="field">
                        <label for="mcp-bearer">"Bearer token" <span class="optional">"write-only"</span></label>
                        <input id="mcp-bearer" type="password" name="bearer_token" autocomplete="off"/>
                        <FieldHint err=err("bearer_token")/>
                    </div>
                    <div class="field-row">
                        <div class="field grow">
                            <label for="mcp-client-id">"OAuth client id" <span class="optional">"optional: registered automatically"</span></label>
                            <input id="mcp-client-id" type="text" name="client_id" autocomplete="off"/>
                            <FieldHint err=err("oauth.client_id")/>
                        </div>
                        <div class="field grow">
                            <label for="mcp-client-secret">"Client secret" <span class="optional">"write-only"</span></label>
                            <input id="mcp-client-secret" type="password" name="client_secret" autocomplete="off"/>
                            <FieldHint err=err("oauth.client_secret")/>
                        </div>
                        <div class="field grow">
                            <label for="mcp-scopes">"Scopes" <span class="optional">"space-separated; empty: the server's"</span></label>
                            <input id="mcp-scopes" type="text" name="scopes"/>
                            <FieldHint err=err("oauth.scopes")/>
                        </div>
                    </div>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" id="mcp-add" disabled=move || pending.get()>
                        {move || if pending.get() { "Connecting…" } else { "Add server" }}
                    </button>
                </div>
            </ActionForm>
        </div>
    }
}

/// One connection: what it is, its status, its actions and its tools.
#[component]
fn ServerCard(
    server: McpServer,
    delete: ServerAction<DeleteMcpServer>,
    refresh: ServerAction<RefreshMcpTools>,
    authorize: ServerAction<AuthorizeMcpServer>,
) -> impl IntoView {
    let id = server.id.to_string();
    let needs_auth = server.status == McpServerStatus::NeedsAuthorization;
    let target = match server.transport {
        McpTransport::Stdio => format!(
            "{} {}",
            server.command.clone().unwrap_or_default(),
            server.args.join(" ")
        ),
        McpTransport::StreamableHttp => server.url.clone().unwrap_or_default(),
    };
    let auth_label = match (&server.oauth, server.has_bearer_token) {
        (Some(_), _) => "OAuth",
        (None, true) => "bearer token",
        (None, false) if !server.header_names.is_empty() => "headers",
        _ => "",
    };
    let ever_authorized = server
        .oauth
        .as_ref()
        .is_some_and(|o| o.authorized_at.is_some());
    let reason = server.oauth.as_ref().and_then(|o| o.reason.clone());
    let tools = server.tools.clone();
    let count = tools.len();
    view! {
        <section class="mcp-server" data-name=server.name.clone()>
            <div class="mcp-server-head">
                <div>
                    <h3>{server.name.clone()}</h3>
                    <div class="chips">
                        <span class="badge">{server.transport.as_str()}</span>
                        {(!auth_label.is_empty()).then(|| view! { <span class="badge">{auth_label}</span> })}
                        {if needs_auth {
                            view! { <span class="badge badge-error mcp-status">"needs authorization"</span> }.into_any()
                        } else {
                            view! { <span class="badge badge-ok mcp-status">"ready"</span> }.into_any()
                        }}
                    </div>
                    <p class="small muted"><code>{target}</code></p>
                    {needs_auth.then(|| view! {
                        <p class="small mcp-reason">{reason.unwrap_or_else(|| "Not authorized yet.".into())}" Tool calls fail until it is connected."</p>
                    })}
                    {server.oauth.as_ref().and_then(|o| o.authorized_at).map(|t| view! {
                        <p class="small muted">{format!("Authorized {}", short_time(t))}</p>
                    })}
                </div>
                <div class="mcp-actions">
                    {server.oauth.is_some().then(|| {
                        let id = id.clone();
                        view! {
                            <ActionForm action=authorize>
                                <input type="hidden" name="id" value=id/>
                                <button type="submit" class="btn btn-primary btn-small mcp-connect">
                                    {if ever_authorized { "Reconnect" } else { "Connect" }}
                                </button>
                            </ActionForm>
                        }
                    })}
                    {(!needs_auth).then(|| {
                        let id = id.clone();
                        view! {
                            <ActionForm action=refresh>
                                <input type="hidden" name="id" value=id/>
                                <button type="submit" class="btn btn-secondary btn-small">"Refresh tools"</button>
                            </ActionForm>
                        }
                    })}
                    <ActionForm action=delete>
                        <input type="hidden" name="id" value=id.clone()/>
                        <button type="submit" class="btn btn-danger btn-small">"Delete"</button>
                    </ActionForm>
                </div>
            </div>
            {if tools.is_empty() {
                view! {
                    <p class="small muted">{if needs_auth { "No tools yet: they are listed once it is connected." } else { "This server lists no tools." }}</p>
                }.into_any()
            } else {
                view! {
                    <details class="mcp-tools" open=true>
                        <summary>{format!("{count} tool{}", if count == 1 { "" } else { "s" })}</summary>
                        <ul class="mcp-tool-list">
                            {tools.into_iter().map(|t| view! { <ToolRow tool=t/> }).collect_view()}
                        </ul>
                    </details>
                }.into_any()
            }}
        </section>
    }
}

/// One discovered tool: its agent name, description, hints and input schema.
#[component]
fn ToolRow(tool: McpTool) -> impl IntoView {
    let a = &tool.annotations;
    let hints: Vec<&'static str> = [
        (a.read_only_hint == Some(true), "read-only"),
        (a.destructive_hint == Some(true), "destructive"),
        (a.idempotent_hint == Some(true), "idempotent"),
        (a.open_world_hint == Some(true), "open world"),
    ]
    .into_iter()
    .filter_map(|(on, label)| on.then_some(label))
    .collect();
    let read_only = tool.read_only();
    let schema = serde_json::to_string_pretty(&tool.input_schema).unwrap_or_default();
    view! {
        <li class="mcp-tool" data-tool=tool.name.clone()>
            <div class="mcp-tool-head">
                <code class="mcp-tool-name">{tool.name.clone()}</code>
                {hints.into_iter().map(|h| view! { <span class="chip">{h}</span> }).collect_view()}
                {(!read_only).then(|| view! { <span class="chip chip-warn" title="Not marked read-only: without a policy rule its calls need approval">"needs approval by default"</span> })}
            </div>
            <p class="small">{tool.description.clone()}</p>
            <details class="mcp-schema">
                <summary class="small">"Input schema"</summary>
                <pre class="small">{schema}</pre>
            </details>
        </li>
    }
}
