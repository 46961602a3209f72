//! The agent editor's Preflight panel: plan a message without acting, see each tool call
//! the agent would make with the policy's decision, the estimated tokens and cost, and
//! start a live run that follows the plan.

use leptos::prelude::*;

use autonoma_types::governance::PolicyAction;
use autonoma_types::preflight::{Plan, PlannedCall};

use crate::api::preflight::{RunPlan, RunPreflight};
use crate::components::feedback::ErrorBox;
use crate::components::form::{field_error, FieldHint};

fn decision_badge(d: PolicyAction) -> (&'static str, &'static str) {
    match d {
        PolicyAction::Allow => ("badge badge-ok", "allow"),
        PolicyAction::RequireApproval => ("badge badge-warn", "needs approval"),
        PolicyAction::Deny => ("badge badge-error", "deny"),
    }
}

/// At most `n` characters of `s`, with an ellipsis when cut.
fn snippet(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let cut: String = s.chars().take(n).collect();
        format!("{cut}…")
    }
}

/// The panel (editing an existing agent only: a preflight runs the saved version).
#[component]
pub fn PreflightPanel(
    /// The agent whose saved version is planned.
    agent_id: String,
) -> impl IntoView {
    let preflight = ServerAction::<RunPreflight>::new();
    let busy = preflight.pending();
    let form_agent = agent_id.clone();
    view! {
        <div class="card preflight" id="preflight">
            <h2>"Preflight"</h2>
            <p class="muted small">
                "Run the saved version on a message with every tool that is not read-only simulated: nothing is written, sent or changed, and nothing waits for approval. You see each call the agent would make, what the policy would do with it, and what it would cost."
            </p>
            <ActionForm action=preflight>
                <input type="hidden" name="agent_id" value=form_agent/>
                <div class="field">
                    <label for="preflight-input">"Message"</label>
                    <textarea id="preflight-input" name="input" rows="2" required placeholder="What a user would ask this agent"></textarea>
                    <FieldHint err=move || field_error(preflight.value().get(), "input")/>
                </div>
                <div class="actions">
                    <button type="submit" class="btn btn-secondary" id="preflight-run" disabled=move || busy.get()>
                        {move || if busy.get() { "Planning…" } else { "Preflight" }}
                    </button>
                    {move || busy.get().then(|| view! { <span class="muted small">"The model is working through the plan; simulated calls return at once."</span> })}
                </div>
            </ActionForm>
            {move || match preflight.value().get() {
                None => None,
                Some(Err(e)) => Some(view! { <ErrorBox err=e/> }.into_any()),
                Some(Ok(plan)) => Some(view! { <PlanView plan agent_id=agent_id.clone()/> }.into_any()),
            }}
        </div>
    }
}

/// A plan: its summary, its calls, and the button that runs it for real.
#[component]
fn PlanView(plan: Plan, agent_id: String) -> impl IntoView {
    let follow = ServerAction::<RunPlan>::new();
    let finished = plan.status.is_terminal();
    let cost = plan
        .estimated_cost_usd
        .map(|c| format!("${c:.4}"))
        .unwrap_or_else(|| "no pricing set".into());
    let tokens = format!(
        "{} in · {} out",
        plan.estimated_usage.input_tokens, plan.estimated_usage.output_tokens
    );
    let hash = snippet(&plan.plan_hash, 12);
    let calls = plan.calls.clone();
    let empty = calls.is_empty();
    let can_follow = plan.status == autonoma_types::RunStatus::Completed;
    view! {
        <div class="plan" id="preflight-plan" data-plan-hash=plan.plan_hash.clone()>
            <div class="plan-summary">
                <div><span class="muted small">"Tool calls"</span><strong>{plan.calls.len()}</strong></div>
                <div><span class="muted small">"Need approval"</span><strong>{plan.approvals_needed}</strong></div>
                <div><span class="muted small">"Denied"</span><strong>{plan.denials}</strong></div>
                <div><span class="muted small">"Tokens"</span><strong>{tokens}</strong></div>
                <div><span class="muted small">"Estimated cost"</span><strong>{cost}</strong></div>
                <div><span class="muted small">"Plan hash"</span><code title=plan.plan_hash.clone()>{hash}</code></div>
            </div>
            {(!finished).then(|| view! { <div class="alert alert-info">"The preflight is still running; this is the plan so far."</div> })}
            {plan.error.clone().map(|e| view! { <div class="alert alert-error">"The preflight did not finish: " {e}</div> })}
            {if empty {
                view! { <p class="muted">"The agent would answer without calling any tool."</p> }.into_any()
            } else {
                view! {
                    <table class="table plan-calls">
                        <thead>
                            <tr><th>"Step"</th><th>"Tool"</th><th>"Arguments"</th><th>"Policy"</th><th>"Result"</th></tr>
                        </thead>
                        <tbody>{calls.into_iter().map(|c| view! { <CallRow c/> }).collect_view()}</tbody>
                    </table>
                }.into_any()
            }}
            {plan.answer.clone().map(|a| view! {
                <div class="plan-answer"><span class="muted small">"Answer with simulated results"</span><p>{a}</p></div>
            })}
            {can_follow.then(|| view! {
                <ActionForm action=follow>
                    <input type="hidden" name="agent_id" value=agent_id/>
                    <input type="hidden" name="preflight_id" value=plan.id.to_string()/>
                    <div class="actions">
                        <button type="submit" class="btn btn-primary" id="preflight-follow" disabled=move || follow.pending().get()>"Run this plan for real"</button>
                        <span class="muted small">"The run's receipt records where it departs from this plan."</span>
                    </div>
                </ActionForm>
            })}
            {move || follow.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox err=e/> })}
        </div>
    }
}

#[component]
fn CallRow(c: PlannedCall) -> impl IntoView {
    let (class, label) = decision_badge(c.decision);
    let args = snippet(&c.arguments.to_string(), 160);
    let output = c
        .output
        .clone()
        .map(|o| snippet(&o, 160))
        .unwrap_or_default();
    view! {
        <tr data-tool=c.tool.clone()>
            <td>{c.step}</td>
            <td><code>{c.tool.clone()}</code></td>
            <td><code class="small wrap">{args}</code></td>
            <td><span class=class>{label}</span><span class="muted small block">{c.rule.clone()}</span></td>
            <td class="small">
                {c.simulated.then(|| view! { <span class="badge">"simulated"</span> })}
                {c.is_error.then(|| view! { <span class="badge badge-error">"error"</span> })}
                <span class="block">{output}</span>
            </td>
        </tr>
    }
}
