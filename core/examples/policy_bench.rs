//! Cost of what the agent loop does before every tool call: the tool policy decision
//! ([`autonoma_core::policy::decide`]: the agent's rules, then the organization's, with CEL
//! conditions compiled and evaluated on the call's arguments), the capability token check
//! ([`autonoma_core::capability::CapabilityKey::verify`]: Biscuit deserialization, Ed25519
//! signature chain, Datalog checks, then the signed CEL rules), and both together.
//!
//! `cargo run --release -p autonoma-core --example policy_bench` prints, per scenario, the
//! median and p99 of 200 batches (1,000 calls per batch for decisions alone, 100 for
//! scenarios with a token check), in µs per call.

use std::time::Instant;

use autonoma_core::capability::{CapabilityCall, CapabilityKey, RunGrant};
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
    measure_batches(name, 1000, f)
}

fn measure_batches(name: &str, batch: usize, f: impl Fn()) {
    let mut per_call: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / batch as f64
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
    // The peer in the same run: the same condition compiled on every evaluation, as
    // `condition_holds` did before compiled programs were cached.
    measure("peer: the same CEL condition compiled per call", || {
        let program =
            cel::Program::compile("args.expression.contains('*') && args.amount > 100").unwrap();
        let mut ctx = cel::Context::default();
        ctx.add_variable_from_value("args", cel::to_value(&args).unwrap());
        std::hint::black_box(program.execute(&ctx).unwrap());
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

    // Capability tokens: a run of an agent with three tools.
    let key = CapabilityKey::generate();
    let (org_id, run_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let tools = [
        ("calculator".to_string(), true),
        ("current_time".to_string(), true),
        ("http_fetch".to_string(), true),
    ];
    let expires = now + chrono::Duration::hours(1);
    let call = |approved| CapabilityCall {
        org_id,
        run_id,
        ancestors: &[],
        tool: "calculator",
        arguments: &args,
        now,
        approved,
    };
    let bare = key
        .mint(&RunGrant::new(org_id, run_id, &tools, &[], &[], expires))
        .unwrap();
    println!("token sizes: no rules {} bytes", bare.bytes.len());
    measure_batches("token check, no rules signed", 100, || {
        key.verify(&bare.bytes, &call(false)).unwrap();
    });
    let with_cel = key
        .mint(&RunGrant::new(org_id, run_id, &tools, &cel, &[], expires))
        .unwrap();
    println!("token sizes: one CEL rule {} bytes", with_cel.bytes.len());
    measure_batches(
        "token check, one CEL rule signed (approved call)",
        100,
        || {
            key.verify(&with_cel.bytes, &call(true)).unwrap();
        },
    );
    measure_batches(
        "decision + token check, one CEL rule (approved call)",
        100,
        || {
            std::hint::black_box(decide(&cel, &[], "calculator", &args, true));
            key.verify(&with_cel.bytes, &call(true)).unwrap();
        },
    );
    let org_calc: Vec<Policy> = org_cel
        .iter()
        .map(|p| Policy {
            id: uuid::Uuid::now_v7(),
            ..p.clone()
        })
        .collect();
    let ten = key
        .mint(&RunGrant::new(
            org_id,
            run_id,
            &tools,
            &[],
            &org_calc,
            expires,
        ))
        .unwrap();
    println!("token sizes: 10 CEL rules {} bytes", ten.bytes.len());
    measure_batches(
        "decision + token check, 10 org CEL rules all false",
        100,
        || {
            std::hint::black_box(decide(&[], &org_calc, "calculator", &args, true));
            key.verify(&ten.bytes, &call(false)).unwrap();
        },
    );
}
