//! Cost of one tool policy decision ([`autonoma_core::policy::decide`]) as the agent loop
//! makes it before every tool call: the agent's rules, then the organization's, with CEL
//! conditions compiled and evaluated on the call's arguments.
//!
//! `cargo run --release -p autonoma-core --example policy_bench` prints, per scenario, the
//! median and p99 of 200 batches of 1,000 decisions (µs per decision).

use std::time::Instant;

use autonoma_core::governance::{Policy, PolicyAction, ToolRule};
use autonoma_core::policy::decide;
use serde_json::json;

fn rule(tool: &str, action: PolicyAction, when: Option<&str>) -> ToolRule {
    ToolRule {
        tool: tool.into(),
        action,
        when: when.map(str::to_string),
    }
}

fn measure(name: &str, f: impl Fn()) {
    const BATCH: usize = 1000;
    let mut per_call: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..BATCH {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / BATCH as f64
        })
        .collect();
    per_call.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name:<55} median {:>7.2} µs   p99 {:>7.2} µs",
        per_call[per_call.len() / 2],
        per_call[per_call.len() * 99 / 100]
    );
}

fn main() {
    let args = json!({"expression": "17*23", "path": "/srv/data/report.txt", "amount": 250});
    let now = chrono::Utc::now();
    let org: Vec<Policy> = (0..10)
        .map(|i| Policy {
            id: uuid::Uuid::now_v7(),
            org_id: uuid::Uuid::nil(),
            rule: rule(
                &format!("other_tool_{i}"),
                PolicyAction::Deny,
                Some("args.amount > 100"),
            ),
            priority: 100,
            description: String::new(),
            created_at: now,
            updated_at: now,
        })
        .collect();
    measure("no rules (default by read-only hint)", || {
        std::hint::black_box(decide(&[], &[], "calculator", &args, true));
    });
    let plain = vec![rule("calculator", PolicyAction::Allow, None)];
    measure("one matching rule, no condition", || {
        std::hint::black_box(decide(&plain, &[], "calculator", &args, true));
    });
    let cel = vec![rule(
        "calculator",
        PolicyAction::RequireApproval,
        Some("args.expression.contains('*') && args.amount > 100"),
    )];
    measure("one matching rule with a CEL condition", || {
        std::hint::black_box(decide(&cel, &[], "calculator", &args, true));
    });
    measure("10 non-matching org rules, then a CEL agent rule", || {
        std::hint::black_box(decide(&cel, &org, "calculator", &args, true));
    });
    let org_cel: Vec<Policy> = org
        .iter()
        .map(|p| Policy {
            rule: rule("calculator", PolicyAction::Deny, Some("args.amount > 1000")),
            ..p.clone()
        })
        .collect();
    measure("10 org rules whose CEL conditions are all false", || {
        std::hint::black_box(decide(&[], &org_cel, "calculator", &args, true));
    });
}
