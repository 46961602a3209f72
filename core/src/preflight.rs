//! Preflight ("ghost run"): what an agent would do for an input, found without doing it.
//!
//! A preflight is a run of mode [`RunMode::Preflight`] through the ordinary agent loop
//! ([`crate::runtime`]), so the model, the conversation and the tool policy are the real
//! ones. The differences are in how tool calls are carried out: a call the policy allows
//! *and* whose tool is read-only runs for real (reading is what the agent would see);
//! every other call is never executed — its result is synthesized by
//! [`simulated_result`] and its `tool_result` event is marked `simulated` — and nothing
//! waits for approval (the decision is recorded; the plan counts it). A denial gets the
//! same refusal a live run would, so the model adapts the same way.
//!
//! The run's events then *are* the plan ([`plan_from_events`]). Its hash
//! ([`plan_hash`]) covers the sequence of `(tool, arguments)` pairs in order, so a live
//! run started from the preflight ([`crate::service::Service::start_run`] with
//! `preflight_id`) can be compared with it call by call ([`deviations`]); the run's signed
//! receipt carries that comparison.
//!
//! Limits: a preflight executes read-only tools, so what they read can differ when the
//! live run reads again; and models are not deterministic at temperature > 0, so a live
//! run may make other calls than its plan — which is what the deviations report.

use serde_json::{json, Value};

use crate::audit::json_sha256;
use crate::governance::PolicyAction;
use crate::model::{Pricing, Run, RunEvent, RunEventKind, RunMode, RunStatus, Usage};
use crate::plan::{CallSummary, Deviation, Plan, PlannedCall};
use crate::{Error, Result};

/// The synthesized result of a tool call a preflight does not execute: a JSON object the
/// model can read, saying that the call was simulated, what it would have been, and (from
/// the policy) whether a live run would wait for a person first.
pub fn simulated_result(tool: &str, arguments: &Value, decision: PolicyAction) -> String {
    let live = match decision {
        PolicyAction::Allow => "would run",
        PolicyAction::RequireApproval => "would wait for a person's approval, then run",
        PolicyAction::Deny => "would be refused",
    };
    json!({
        "simulated": true,
        "tool": tool,
        "arguments": arguments,
        "note": format!(
            "preflight: '{tool}' was not executed; in a live run this call {live}. \
             Assume it succeeded and continue."
        ),
    })
    .to_string()
}

/// The `(tool, arguments hash)` summaries of `calls`, in order.
pub fn summaries(calls: &[PlannedCall]) -> Result<Vec<CallSummary>> {
    calls
        .iter()
        .map(|c| {
            Ok(CallSummary {
                tool: c.tool.clone(),
                arguments_sha256: json_sha256(&c.arguments)?,
            })
        })
        .collect()
}

/// Lowercase hex SHA-256 of the RFC 8785 canonical JSON of
/// `[{"tool": …, "arguments": …}, …]` for `calls` in order.
pub fn plan_hash(calls: &[PlannedCall]) -> Result<String> {
    let list: Vec<Value> = calls
        .iter()
        .map(|c| json!({ "tool": c.tool, "arguments": c.arguments }))
        .collect();
    json_sha256(&Value::Array(list))
}

/// Where `actual` departs from `planned`, position by position: every index where the tool
/// or the arguments hash differ, or where one sequence has a call the other lacks. Empty:
/// the run followed the plan exactly. (A positional comparison, not a minimal edit script:
/// one inserted call shows as a deviation at every later position, which is what a
/// reviewer needs to see — the plan stopped describing the run there.)
pub fn deviations(planned: &[CallSummary], actual: &[CallSummary]) -> Vec<Deviation> {
    (0..planned.len().max(actual.len()))
        .filter_map(|i| {
            let (p, a) = (planned.get(i), actual.get(i));
            (p != a).then(|| Deviation {
                index: i,
                planned: p.cloned(),
                actual: a.cloned(),
            })
        })
        .collect()
}

/// The plan of preflight `run` from its events (in `seq` order), priced with `pricing`.
///
/// Calls are taken from `tool_call` events in order; each gets the decision of its
/// `policy_decision` event and the output of its `tool_result` event. A call the policy
/// refused before it was recorded as a `tool_call` (never the case today) is still listed
/// from its decision. Errors: [`Error::Validation`] when `run` is not a preflight;
/// [`Error::Internal`] when a hash cannot be computed.
pub fn plan_from_events(run: &Run, events: &[RunEvent], pricing: Option<&Pricing>) -> Result<Plan> {
    if run.mode != RunMode::Preflight {
        return Err(Error::validation(
            "preflight_id",
            "that run is not a preflight",
        ));
    }
    let mut calls: Vec<PlannedCall> = Vec::new();
    let mut usage = Usage::default();
    let mut answer = None;
    let mut failure = None;
    fn slot<'a>(
        calls: &'a mut Vec<PlannedCall>,
        step: u32,
        id: &str,
        name: &str,
    ) -> &'a mut PlannedCall {
        let pos = match calls.iter().position(|c| c.step == step && c.call_id == id) {
            Some(p) => p,
            None => {
                calls.push(PlannedCall {
                    step,
                    call_id: id.to_string(),
                    tool: name.to_string(),
                    arguments: Value::Null,
                    decision: PolicyAction::Allow,
                    rule: String::new(),
                    simulated: false,
                    output: None,
                    is_error: false,
                });
                calls.len() - 1
            }
        };
        &mut calls[pos]
    }
    for e in events {
        match &e.kind {
            RunEventKind::ToolCall {
                step,
                call_id,
                name,
                arguments,
            } => {
                slot(&mut calls, *step, call_id, name).arguments = arguments.clone();
            }
            RunEventKind::PolicyDecision {
                step,
                call_id,
                name,
                decision,
                rule,
            } => {
                let c = slot(&mut calls, *step, call_id, name);
                c.decision = *decision;
                c.rule = rule.clone();
            }
            RunEventKind::ToolResult {
                step,
                call_id,
                name,
                output,
                is_error,
                simulated,
            } => {
                let c = slot(&mut calls, *step, call_id, name);
                c.output = Some(output.clone());
                c.is_error = *is_error;
                c.simulated = *simulated;
            }
            RunEventKind::Usage {
                input_tokens,
                output_tokens,
                ..
            } => {
                usage.input_tokens += input_tokens;
                usage.output_tokens += output_tokens;
            }
            RunEventKind::Completed { output } => answer = Some(output.clone()),
            RunEventKind::Failed { reason, .. } | RunEventKind::Cancelled { reason } => {
                failure = Some(reason.clone())
            }
            _ => {}
        }
    }
    let count = |a: PolicyAction| {
        calls
            .iter()
            .filter(|c| c.decision == a && !c.rule.is_empty())
            .count() as u32
    };
    Ok(Plan {
        id: run.id,
        agent_id: run.agent_id,
        agent_version: run.agent_version,
        input: run.input.clone(),
        status: run.status,
        approvals_needed: count(PolicyAction::RequireApproval),
        denials: count(PolicyAction::Deny),
        plan_hash: plan_hash(&calls)?,
        estimated_cost_usd: pricing.map(|p| p.cost_usd(&usage)),
        estimated_usage: usage,
        answer: answer.filter(|_| run.status == RunStatus::Completed),
        error: failure.or_else(|| run.error.clone()),
        calls,
        created_at: run.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn summary(tool: &str, args: Value) -> CallSummary {
        CallSummary {
            tool: tool.into(),
            arguments_sha256: json_sha256(&args).unwrap(),
        }
    }

    #[test]
    fn deviations_name_each_position_that_differs() {
        let plan = vec![summary("a", json!({"x": 1})), summary("b", json!({}))];
        assert!(deviations(&plan, &plan).is_empty());
        let changed = vec![summary("a", json!({"x": 2})), summary("b", json!({}))];
        let d = deviations(&plan, &changed);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].index, 0);
        assert_eq!(d[0].actual, Some(changed[0].clone()));
        let shorter = &plan[..1];
        let d = deviations(&plan, shorter);
        assert_eq!((d.len(), d[0].index, d[0].actual.clone()), (1, 1, None));
        let longer = vec![plan[0].clone(), plan[1].clone(), summary("c", json!({}))];
        let d = deviations(&plan, &longer);
        assert_eq!((d.len(), d[0].index, d[0].planned.clone()), (1, 2, None));
    }

    #[test]
    fn plan_hash_covers_order_tools_and_arguments_not_key_order() {
        let call = |tool: &str, args: Value| PlannedCall {
            step: 1,
            call_id: "c".into(),
            tool: tool.into(),
            arguments: args,
            decision: PolicyAction::Allow,
            rule: "default".into(),
            simulated: false,
            output: None,
            is_error: false,
        };
        let a = plan_hash(&[call("a", json!({"x": 1, "y": 2})), call("b", json!({}))]).unwrap();
        let same = plan_hash(&[call("a", json!({"y": 2, "x": 1})), call("b", json!({}))]).unwrap();
        let reordered =
            plan_hash(&[call("b", json!({})), call("a", json!({"x": 1, "y": 2}))]).unwrap();
        let other = plan_hash(&[call("a", json!({"x": 3, "y": 2})), call("b", json!({}))]).unwrap();
        assert_eq!(a, same);
        assert_ne!(a, reordered);
        assert_ne!(a, other);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn plan_from_events_lists_calls_decisions_usage_and_cost() {
        let run = Run {
            id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            agent_id: Uuid::now_v7(),
            agent_version: 1,
            thread_id: Uuid::now_v7(),
            status: RunStatus::Completed,
            input: "write it".into(),
            output: Some("done".into()),
            error: None,
            usage: Usage::default(),
            steps: 2,
            created_by: Uuid::now_v7(),
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            mode: RunMode::Preflight,
            preflight_id: None,
        };
        let args = json!({"path": "/x", "content": "hi"});
        let kinds = vec![
            RunEventKind::Usage {
                step: 1,
                input_tokens: 1000,
                output_tokens: 200,
            },
            RunEventKind::ToolCall {
                step: 1,
                call_id: "c1".into(),
                name: "fs__write_file".into(),
                arguments: args.clone(),
            },
            RunEventKind::PolicyDecision {
                step: 1,
                call_id: "c1".into(),
                name: "fs__write_file".into(),
                decision: PolicyAction::RequireApproval,
                rule: "default".into(),
            },
            RunEventKind::ToolResult {
                step: 1,
                call_id: "c1".into(),
                name: "fs__write_file".into(),
                output: simulated_result("fs__write_file", &args, PolicyAction::RequireApproval),
                is_error: false,
                simulated: true,
            },
            RunEventKind::Usage {
                step: 2,
                input_tokens: 500,
                output_tokens: 100,
            },
            RunEventKind::Completed {
                output: "done".into(),
            },
        ];
        let events: Vec<RunEvent> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| RunEvent {
                run_id: run.id,
                seq: i as i64 + 1,
                kind,
                created_at: Utc::now(),
            })
            .collect();
        let pricing = Pricing {
            input_usd_per_mtok: 2.0,
            output_usd_per_mtok: 10.0,
        };
        let plan = plan_from_events(&run, &events, Some(&pricing)).unwrap();
        assert_eq!(plan.calls.len(), 1);
        let c = &plan.calls[0];
        assert_eq!(
            (c.tool.as_str(), c.decision, c.simulated),
            ("fs__write_file", PolicyAction::RequireApproval, true)
        );
        assert_eq!(c.arguments, args);
        assert_eq!(plan.approvals_needed, 1);
        assert_eq!(
            plan.estimated_usage,
            Usage {
                input_tokens: 1500,
                output_tokens: 300
            }
        );
        // 1500 × $2/M + 300 × $10/M = $0.003 + $0.003.
        assert!((plan.estimated_cost_usd.unwrap() - 0.006).abs() < 1e-12);
        assert_eq!(plan.answer.as_deref(), Some("done"));
        assert_eq!(plan.plan_hash, plan_hash(&plan.calls).unwrap());
        let live = Run {
            mode: RunMode::Live,
            ..run
        };
        assert!(matches!(
            plan_from_events(&live, &events, None),
            Err(Error::Validation { .. })
        ));
    }
}
