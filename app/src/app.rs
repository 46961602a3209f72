//! The application shell, the route table and the top navigation around signed-in pages.
//! (Widgets shared by the pages live in [`crate::components`].)

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Outlet, ParentRoute, Redirect, Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

use crate::api::auth::{current_user, LogOut};
use crate::components::feedback::NotFound;
use crate::pages::agents::{AgentEditorPage, AgentsPage};
use crate::pages::approvals::ApprovalsPage;
use crate::pages::auth::{LoginPage, SignupPage};
use crate::pages::chat::ChatPage;
use crate::pages::knowledge::{KnowledgeBasePage, KnowledgeListPage};
use crate::pages::mcp::McpServersPage;
use crate::pages::run::RunPage;
use crate::pages::settings::{ApiKeysPage, ProvidersPage};

/// URLs of the built assets under `/pkg` (content-hashed when `manifest.json` exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    /// wasm-bindgen's JS loader, e.g. `autonoma.1a2b….js`.
    pub js: String,
    /// The wasm module.
    pub wasm: String,
    /// The stylesheet.
    pub css: String,
}

impl Default for Assets {
    fn default() -> Self {
        Assets {
            js: "autonoma.js".into(),
            wasm: "autonoma_bg.wasm".into(),
            css: "autonoma.css".into(),
        }
    }
}

/// The logo as an inline SVG icon (no extra request).
const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Cdefs%3E%3ClinearGradient id='g' x1='0' y1='0' x2='1' y2='1'%3E%3Cstop offset='0' stop-color='%236366f1'/%3E%3Cstop offset='.55' stop-color='%238b5cf6'/%3E%3Cstop offset='1' stop-color='%23ec4899'/%3E%3C/linearGradient%3E%3C/defs%3E%3Crect width='32' height='32' rx='8' fill='url(%23g)'/%3E%3C/svg%3E";

/// The HTML document around [`App`], rendered on the server only.
///
/// Reads the [`Assets`] from context (the router provides them) to link the stylesheet and
/// start hydration.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let _ = options;
    let assets = use_context::<Assets>().unwrap_or_default();
    let script = format!(
        "import init, {{ hydrate }} from '/pkg/{js}';\ninit({{ module_or_path: '/pkg/{wasm}' }}).then(() => hydrate());",
        js = assets.js,
        wasm = assets.wasm
    );
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href=FAVICON/>
                <link rel="stylesheet" href=format!("/pkg/{}", assets.css)/>
                <link rel="modulepreload" href=format!("/pkg/{}", assets.js)/>
                <link rel="preload" href=format!("/pkg/{}", assets.wasm) r#as="fetch" r#type="application/wasm" crossorigin=""/>
                <script type="module" inner_html=script></script>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: routes of every page.
///
/// Pages render with in-order streaming: the HTML arrives complete and in order, so
/// every page and form works without JavaScript (out-of-order streaming would need a
/// script to move resolved `<Suspense>` content into place).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|t: String| if t.is_empty() { "Autonoma".to_string() } else { format!("{t} · Autonoma") }/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::InOrder/>
                <Route path=path!("/signup") view=SignupPage ssr=SsrMode::InOrder/>
                <Route path=path!("/") view=|| view! { <Redirect path="/agents"/> }/>
                <ParentRoute path=path!("") view=AppLayout ssr=SsrMode::InOrder>
                    <Route path=path!("/agents") view=AgentsPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/agents/new") view=AgentEditorPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/agents/:id/edit") view=AgentEditorPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/agents/:id") view=ChatPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/runs/:id") view=RunPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/approvals") view=ApprovalsPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/knowledge") view=KnowledgeListPage ssr=SsrMode::InOrder/>
                    // Another organization's base answers 404: the status is set by the
                    // router's guard (server.rs), the page renders "not found".
                    <Route path=path!("/knowledge/:id") view=KnowledgeBasePage ssr=SsrMode::InOrder/>
                    <Route path=path!("/mcp-servers") view=McpServersPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/settings/api-keys") view=ApiKeysPage ssr=SsrMode::InOrder/>
                    <Route path=path!("/settings/providers") view=ProvidersPage ssr=SsrMode::InOrder/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Top navigation around every signed-in page.
#[component]
fn AppLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_user());
    let logout = ServerAction::<LogOut>::new();

    // A session that ended while the app was open: go to the login page.
    #[cfg(feature = "hydrate")]
    {
        let navigate = leptos_router::hooks::use_navigate();
        Effect::new(move |_| {
            if let Some(Ok(None)) = me.get() {
                navigate("/login", Default::default());
            }
        });
    }

    view! {
        <div class="app">
            <header class="topnav">
                <div class="topnav-inner">
                    <a class="brand" href="/agents">
                        <span class="brand-mark" aria-hidden="true"></span>
                        "Autonoma"
                    </a>
                    <Transition fallback=|| view! { <span class="org-name muted">"…"</span> }>
                        {move || Suspend::new(async move {
                            me.await
                                .ok()
                                .flatten()
                                .map(|m| view! { <span class="org-name" title=format!("Your role: {}", m.role.as_str())>{m.org_name}</span> })
                        })}
                    </Transition>
                    <nav class="nav-links" aria-label="Main">
                        <A href="/agents">"Agents"</A>
                        <A href="/knowledge">"Knowledge"</A>
                        <A href="/approvals">"Approvals"</A>
                        <A href="/settings/providers">"Providers"</A>
                        <A href="/mcp-servers">"MCP servers"</A>
                        <A href="/settings/api-keys">"API keys"</A>
                    </nav>
                    <div class="nav-spacer"></div>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            me.await.ok().flatten().map(|m| view! { <span class="user-email muted">{m.email}</span> })
                        })}
                    </Transition>
                    <ActionForm action=logout>
                        <button type="submit" class="btn btn-secondary btn-small">
                            "Log out"
                        </button>
                    </ActionForm>
                </div>
            </header>
            <main class="container">
                <Outlet/>
            </main>
        </div>
    }
}
