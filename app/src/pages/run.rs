//! `/runs/:id`: one run's transcript, live while it runs.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::run::get_run;
use crate::components::feedback::{ErrorBox, Loading};
use crate::components::format::short_time;
use crate::components::header::PageHeader;
use crate::components::transcript::RunTranscript;

/// The run page.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let run = Resource::new(id, get_run);
    view! {
        <Suspense fallback=|| view! { <Loading what="the run"/> }>
            {move || Suspend::new(async move {
                match run.await {
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    Ok(turn) => {
                        let r = turn.run.clone();
                        let status = r.status.as_str();
                        let short_id: String = r.id.to_string().chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
                        let subtitle = format!(
                            "Started {} · agent version {} · {} step{}",
                            short_time(r.created_at),
                            r.agent_version,
                            r.steps,
                            if r.steps == 1 { "" } else { "s" },
                        );
                        view! {
                            <Title text=format!("Run …{short_id}")/>
                            <PageHeader title=format!("Run …{short_id}") subtitle=subtitle>
                                <span class=format!("status status-{status}")>{status.replace('_', " ")}</span>
                                {(r.mode == autonoma_types::RunMode::Preflight).then(|| view! { <span class="badge" title="A preflight: tools that are not read-only were simulated">"preflight"</span> })}
                                <a class="btn btn-secondary btn-small" href=format!("/agents/{}?thread={}", r.agent_id, r.thread_id)>
                                    "Open conversation"
                                </a>
                            </PageHeader>
                            <div class="card run-card">
                                <div class="turn">
                                    <div class="bubble user">
                                        <div class="bubble-text">{r.input.clone()}</div>
                                    </div>
                                    <RunTranscript
                                        run_id=r.id
                                        status=r.status
                                        initial=turn.events.clone()
                                        run_error=r.error.clone().unwrap_or_default()
                                    />
                                </div>
                            </div>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
