//! Tool policies, approvals and preflight runs in the store, one scenario each, run on both
//! engines (on PostgreSQL as the application role, under row-level security): rules are
//! ordered by priority and scoped to their organization; an approval is unique per tool
//! call, decided once, and moves its parked run back to the queue in the same write; an
//! expiry applies only once due; preflight runs keep their mode and link and stay out of
//! the run list.

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;

use autonoma_core::governance::{Approval, ApprovalStatus, PolicyAction, ToolRule};
use autonoma_core::model::{RunMode, RunStatus, Usage};
use autonoma_core::store::{ApprovalDecision, NewRun, PolicyWrite, RunUpdate};
use autonoma_core::Error;
use chrono::{Duration, SubsecRound, Utc};
use serde_json::json;
use uuid::Uuid;

#[path = "support/backends.rs"]
#[macro_use]
mod backends;
#[path = "support/fixtures.rs"]
mod fixtures;

on_both_backends!(
    policies_are_ordered_and_scoped,
    approvals_are_decided_once_and_requeue_their_run,
    preflight_runs_keep_their_mode_and_stay_out_of_the_run_list,
);

/// An organization with a user, a provider and an agent: (org, user, agent).
async fn setup<S: Store + ?Sized>(s: &S, email: &str) -> (Uuid, Uuid, Uuid) {
    let (user, org) = s
        .create_user_with_org(email, "n", "hash", "org")
        .await
        .unwrap();
    let p = fixtures::provider(s, org.id).await;
    let agent_id = Uuid::now_v7();
    s.create_agent(org.id, agent_id, &fixtures::spec(p.id, "a"))
        .await
        .unwrap();
    (org.id, user.id, agent_id)
}

fn new_run(org: Uuid, user: Uuid, agent: Uuid, mode: RunMode, preflight: Option<Uuid>) -> NewRun {
    NewRun {
        id: Uuid::now_v7(),
        org_id: org,
        agent_id: agent,
        agent_version: 1,
        thread_id: Uuid::now_v7(),
        input: "write the report".into(),
        created_by: user,
        mode,
        preflight_id: preflight,
    }
}

fn rule(tool: &str, action: PolicyAction, when: Option<&str>) -> ToolRule {
    ToolRule {
        tool: tool.into(),
        action,
        when: when.map(Into::into),
    }
}

async fn policies_are_ordered_and_scoped<S: Store + ?Sized>(s: &S) {
    let (a, _, _) = setup(s, "a@example.com").await;
    let (b, _, _) = setup(s, "b@example.com").await;
    let write = |tool: &str, priority: i32, when: Option<&str>| PolicyWrite {
        rule: rule(tool, PolicyAction::Deny, when),
        priority,
        description: format!("{tool} at {priority}"),
    };
    let late = s
        .create_policy(a, Uuid::now_v7(), &write("late", 200, None))
        .await
        .unwrap();
    let early = s
        .create_policy(a, Uuid::now_v7(), &write("early", 10, Some("args.x > 1")))
        .await
        .unwrap();
    let order: Vec<String> = s
        .list_policies(a)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.rule.tool)
        .collect();
    assert_eq!(order, ["early", "late"]);
    assert_eq!(
        s.get_policy(a, early.id)
            .await
            .unwrap()
            .rule
            .when
            .as_deref(),
        Some("args.x > 1")
    );
    // Another organization neither sees nor changes them.
    assert!(s.list_policies(b).await.unwrap().is_empty());
    assert!(matches!(
        s.get_policy(b, late.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.update_policy(b, late.id, &write("hijack", 1, None)).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.delete_policy(b, late.id).await,
        Err(Error::NotFound(_))
    ));
    let moved = s
        .update_policy(a, late.id, &write("late", 1, None))
        .await
        .unwrap();
    assert_eq!(moved.priority, 1);
    assert_eq!(s.list_policies(a).await.unwrap()[0].id, late.id);
    s.delete_policy(a, early.id).await.unwrap();
    assert_eq!(s.list_policies(a).await.unwrap().len(), 1);
}

async fn approvals_are_decided_once_and_requeue_their_run<S: Store + ?Sized>(s: &S) {
    let (org, user, agent) = setup(s, "a@example.com").await;
    let (other, _, _) = setup(s, "b@example.com").await;
    let (run, _) = s
        .create_run(&new_run(org, user, agent, RunMode::Live, None), None)
        .await
        .unwrap();
    let epoch = s.claim_run(run.id).await.unwrap().unwrap();
    let park = RunUpdate {
        status: RunStatus::WaitingApproval,
        output: None,
        error: None,
        usage: Usage::default(),
        steps: 1,
    };
    s.update_run(run.id, epoch, &park).await.unwrap();
    let now = Utc::now().trunc_subsecs(6);
    let approval = |call: &str, expires: chrono::DateTime<Utc>| Approval {
        id: Uuid::now_v7(),
        org_id: org,
        run_id: run.id,
        agent_id: agent,
        step: 1,
        call_id: call.into(),
        tool: "files__write_file".into(),
        arguments: json!({"path": "/tmp/r", "content": "x"}),
        rule: "default".into(),
        status: ApprovalStatus::Pending,
        comment: String::new(),
        edited_arguments: None,
        decided_by: None,
        decided_at: None,
        expires_at: expires,
        created_at: now,
    };
    let first = s
        .create_approval(&approval("c1", now + Duration::hours(1)))
        .await
        .unwrap();
    // The same call asks again (a resumed run): the stored approval comes back.
    let again = s
        .create_approval(&approval("c1", now + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        s.approval_for_call(org, run.id, "c1")
            .await
            .unwrap()
            .map(|a| a.id),
        Some(first.id)
    );
    assert!(s
        .approval_for_call(org, run.id, "c9")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .approval_for_call(other, run.id, "c1")
        .await
        .unwrap()
        .is_none());
    let pending = s
        .list_approvals(org, Some(ApprovalStatus::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert!(s
        .list_approvals(other, None, None, 10)
        .await
        .unwrap()
        .is_empty());

    // An expiry before it is due is refused and writes nothing.
    let expire = ApprovalDecision {
        status: ApprovalStatus::Expired,
        comment: "expired".into(),
        edited_arguments: None,
        decided_by: None,
        decided_at: Utc::now(),
    };
    assert!(matches!(
        s.decide_approval(org, first.id, &expire).await,
        Err(Error::Conflict(_))
    ));
    let approve = ApprovalDecision {
        status: ApprovalStatus::Approved,
        comment: "fine".into(),
        edited_arguments: Some(json!({"path": "/tmp/r", "content": "y"})),
        decided_by: Some(user),
        decided_at: Utc::now(),
    };
    assert!(matches!(
        s.decide_approval(other, first.id, &approve).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        s.get_run(org, run.id).await.unwrap().status,
        RunStatus::WaitingApproval
    );
    let decided = s.decide_approval(org, first.id, &approve).await.unwrap();
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.edited_arguments.unwrap()["content"], "y");
    assert_eq!(decided.decided_by, Some(user));
    assert_eq!(
        s.get_run(org, run.id).await.unwrap().status,
        RunStatus::Queued,
        "the decision requeues the parked run in the same write"
    );
    assert!(matches!(
        s.decide_approval(org, first.id, &approve).await,
        Err(Error::Conflict(_))
    ));
    // A due expiry applies.
    let late = s
        .create_approval(&approval("c2", now - Duration::seconds(1)))
        .await
        .unwrap();
    let expired = s.decide_approval(org, late.id, &expire).await.unwrap();
    assert_eq!(
        (expired.status, expired.decided_by),
        (ApprovalStatus::Expired, None)
    );
}

async fn preflight_runs_keep_their_mode_and_stay_out_of_the_run_list<S: Store + ?Sized>(s: &S) {
    let (org, user, agent) = setup(s, "a@example.com").await;
    let (preflight, _) = s
        .create_run(&new_run(org, user, agent, RunMode::Preflight, None), None)
        .await
        .unwrap();
    assert_eq!(
        (preflight.mode, preflight.preflight_id),
        (RunMode::Preflight, None)
    );
    let (live, _) = s
        .create_run(
            &new_run(org, user, agent, RunMode::Live, Some(preflight.id)),
            None,
        )
        .await
        .unwrap();
    let got = s.get_run(org, live.id).await.unwrap();
    assert_eq!(
        (got.mode, got.preflight_id),
        (RunMode::Live, Some(preflight.id))
    );
    let listed: Vec<Uuid> = s
        .list_runs(org, Some(agent), None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, [live.id], "preflights are not listed as runs");
    assert_eq!(
        s.get_run_unscoped(preflight.id).await.unwrap().mode,
        RunMode::Preflight
    );
}
