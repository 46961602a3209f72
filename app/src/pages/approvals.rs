//! `/approvals`: tool calls waiting for a person (approve, edit, deny), and recent
//! decisions.

use leptos::prelude::*;
use leptos_meta::Title;

use autonoma_types::governance::{Approval, ApprovalStatus};

use crate::api::approvals::{list_approvals, DecideApproval};
use crate::components::feedback::{ErrorBox, Loading};
use crate::components::form::{field_error, FieldHint};
use crate::components::format::short_time;
use crate::components::header::PageHeader;

fn status_badge(s: ApprovalStatus) -> (&'static str, &'static str) {
    match s {
        ApprovalStatus::Pending => ("badge badge-warn", "pending"),
        ApprovalStatus::Approved => ("badge badge-ok", "approved"),
        ApprovalStatus::Denied => ("badge badge-error", "denied"),
        ApprovalStatus::Expired => ("badge", "expired"),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// The approvals inbox.
#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let decide = ServerAction::<DecideApproval>::new();
    let pending = Resource::new(
        move || decide.version().get(),
        |_| list_approvals("pending".into()),
    );
    let all = Resource::new(
        move || decide.version().get(),
        |_| list_approvals(String::new()),
    );
    view! {
        <Title text="Approvals"/>
        <PageHeader title="Approvals" subtitle="Tool calls that a policy holds for a person. The run waits, holding nothing, until someone decides; a denial's comment is what the agent is told."/>
        {move || decide.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
        <Transition fallback=|| view! { <Loading what="approvals"/> }>
            {move || Suspend::new(async move {
                match pending.await {
                    Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                    Ok(page) if page.items.is_empty() => {
                        view! {
                            <div class="card empty-small" id="approvals-empty">
                                <p>"Nothing is waiting for approval."</p>
                                <p class="muted small">"When an agent calls a tool whose policy says require_approval, the call appears here."</p>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(page) => {
                        page.items
                            .into_iter()
                            .map(|a| view! { <PendingApproval a decide/> })
                            .collect_view()
                            .into_any()
                    }
                }
            })}
        </Transition>
        <div class="card">
            <h2>"Recent decisions"</h2>
            <Transition fallback=|| view! { <Loading what="decisions"/> }>
                {move || Suspend::new(async move {
                    match all.await {
                        Err(e) => view! { <ErrorBox err=e/> }.into_any(),
                        Ok(page) => {
                            let decided: Vec<Approval> = page
                                .items
                                .into_iter()
                                .filter(|a| a.status != ApprovalStatus::Pending)
                                .collect();
                            if decided.is_empty() {
                                return view! { <p class="muted small">"No decisions yet."</p> }.into_any();
                            }
                            view! {
                                <table class="table" id="approvals-decided">
                                    <thead>
                                        <tr>
                                            <th>"Tool"</th>
                                            <th>"Decision"</th>
                                            <th>"Comment"</th>
                                            <th>"Run"</th>
                                            <th>"Decided"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {decided
                                            .into_iter()
                                            .map(|a| {
                                                let (class, label) = status_badge(a.status);
                                                view! {
                                                    <tr>
                                                        <td><code>{a.tool.clone()}</code></td>
                                                        <td>
                                                            <span class=class>{label}</span>
                                                            {a.edited_arguments.is_some().then(|| view! { <span class="badge">"edited"</span> })}
                                                        </td>
                                                        <td class="small">{a.comment.clone()}</td>
                                                        <td class="small"><a href=format!("/runs/{}", a.run_id)>"open run"</a></td>
                                                        <td class="small">{a.decided_at.map(short_time).unwrap_or_default()}</td>
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

/// One pending approval with its decision form.
#[component]
fn PendingApproval(a: Approval, decide: ServerAction<DecideApproval>) -> impl IntoView {
    let busy = decide.pending();
    let args = pretty(&a.arguments);
    view! {
        <div class="card approval" data-approval=a.id.to_string()>
            <div class="approval-head">
                <h2>
                    "Call to " <code>{a.tool.clone()}</code>
                </h2>
                <span class="badge badge-warn">"waiting"</span>
            </div>
            <p class="muted small">
                {format!("Step {} of ", a.step)}
                <a href=format!("/runs/{}", a.run_id)>"this run"</a>
                {format!(" · asked {} · rule {} · expires {}", short_time(a.created_at), a.rule, short_time(a.expires_at))}
            </p>
            <ActionForm action=decide>
                <input type="hidden" name="id" value=a.id.to_string()/>
                <div class="field">
                    <label for=format!("args-{}", a.id)>"Arguments (edit to approve different ones)"</label>
                    <textarea id=format!("args-{}", a.id) name="arguments" rows="4" class="mono">{args}</textarea>
                    <FieldHint err=move || field_error(decide.value().get(), "arguments")/>
                </div>
                <div class="field">
                    <label for=format!("comment-{}", a.id)>"Comment"</label>
                    <input id=format!("comment-{}", a.id) type="text" name="comment" maxlength="2000" placeholder="Why (a denial's comment is given to the agent)"/>
                    <FieldHint err=move || field_error(decide.value().get(), "comment")/>
                </div>
                <div class="actions">
                    <button type="submit" name="decision" value="approve" class="btn btn-primary" disabled=move || busy.get()>"Approve"</button>
                    <button type="submit" name="decision" value="deny" class="btn btn-danger" disabled=move || busy.get()>"Deny"</button>
                </div>
            </ActionForm>
        </div>
    }
}
