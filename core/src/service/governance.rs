//! Tool policies (organization rules) and approvals: the inbox, and deciding.
//!
//! Roles: anyone in the organization (viewer+) reads policies and approvals; admins write
//! organization policies; members decide approvals (the role that may start runs may also
//! let them act). A decision enqueues the run's continuation on [`RUNS_QUEUE`]; the executor
//! resumes the run from its recorded events, without calling the model again for them.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::audit::audit_actor;
use super::{Service, RUNS_QUEUE, RUN_MAX_ATTEMPTS};
use crate::audit::{actions, AuditActor};
use crate::governance::{Approval, ApprovalInput, ApprovalStatus, Policy, PolicyInput, ToolRule};
use crate::guard::{check_len, into_page, page_limit, parse_cursor, require};
use crate::model::{Actor, Page, Role};
use crate::store::{ApprovalDecision, PolicyWrite};
use crate::{Error, Result};

/// How long an approval waits for a decision by default: 24 hours. Undecided approvals
/// then expire, which counts as a denial.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most organization-wide rules.
pub const MAX_ORG_POLICIES: usize = 500;

impl Service {
    /// The organization's tool policy rules in evaluation order (viewer+).
    pub async fn list_policies(&self, actor: &Actor) -> Result<Vec<Policy>> {
        self.store.list_policies(actor.org_id).await
    }

    /// One rule (viewer+). Errors: [`Error::NotFound`].
    pub async fn get_policy(&self, actor: &Actor, id: Uuid) -> Result<Policy> {
        self.store.get_policy(actor.org_id, id).await
    }

    /// Adds an organization rule (admin+). Errors: [`Error::Validation`] (pattern,
    /// condition, priority, description, or more than [`MAX_ORG_POLICIES`] rules).
    pub async fn create_policy(&self, actor: &Actor, input: PolicyInput) -> Result<Policy> {
        require(actor, Role::Admin, "changing policies needs admin")?;
        let write = policy_write(input)?;
        if self.store.list_policies(actor.org_id).await?.len() >= MAX_ORG_POLICIES {
            return Err(Error::validation(
                "policies",
                format!("an organization has at most {MAX_ORG_POLICIES} rules"),
            ));
        }
        let policy = self
            .store
            .create_policy(actor.org_id, Uuid::now_v7(), &write)
            .await?;
        self.audit_policy(actor, actions::POLICY_CREATE, &policy)
            .await;
        Ok(policy)
    }

    async fn audit_policy(&self, actor: &Actor, action: &str, p: &Policy) {
        self.audit_after(
            actor.org_id,
            audit_actor(actor),
            action,
            Some(p.id.to_string()),
            serde_json::json!({
                "tool": p.rule.tool, "action": p.rule.action.as_str(), "when": p.rule.when,
                "priority": p.priority,
            }),
        )
        .await;
    }

    /// Replaces a rule (admin+). Errors: as [`Service::create_policy`], [`Error::NotFound`].
    pub async fn update_policy(
        &self,
        actor: &Actor,
        id: Uuid,
        input: PolicyInput,
    ) -> Result<Policy> {
        require(actor, Role::Admin, "changing policies needs admin")?;
        let write = policy_write(input)?;
        let policy = self.store.update_policy(actor.org_id, id, &write).await?;
        self.audit_policy(actor, actions::POLICY_UPDATE, &policy)
            .await;
        Ok(policy)
    }

    /// Removes a rule (admin+). Errors: [`Error::NotFound`].
    pub async fn delete_policy(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Admin, "changing policies needs admin")?;
        self.store.delete_policy(actor.org_id, id).await?;
        self.audit_after(
            actor.org_id,
            audit_actor(actor),
            actions::POLICY_DELETE,
            Some(id.to_string()),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// A page of approvals, newest first, optionally only those in `status` (viewer+;
    /// viewers see arguments PII-redacted).
    pub async fn list_approvals(
        &self,
        actor: &Actor,
        status: Option<ApprovalStatus>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Approval>> {
        let limit = page_limit(limit)?;
        let before = parse_cursor(cursor)?;
        let items = self
            .store
            .list_approvals(actor.org_id, status, before, limit + 1)
            .await?
            .into_iter()
            .map(|a| for_reader(actor, a))
            .collect();
        Ok(into_page(items, limit, |a| a.id))
    }

    /// One approval (viewer+). Errors: [`Error::NotFound`].
    pub async fn get_approval(&self, actor: &Actor, id: Uuid) -> Result<Approval> {
        Ok(for_reader(
            actor,
            self.store.get_approval(actor.org_id, id).await?,
        ))
    }

    /// Approves a pending tool call (member+), optionally with edited arguments (a JSON
    /// object), and enqueues the run's continuation. Errors: [`Error::Validation`]
    /// (comment, arguments); [`Error::NotFound`]; [`Error::Conflict`] when already decided.
    pub async fn approve(&self, actor: &Actor, id: Uuid, input: ApprovalInput) -> Result<Approval> {
        self.decide(actor, id, ApprovalStatus::Approved, input)
            .await
    }

    /// Denies a pending tool call (member+); the comment is given to the model as the
    /// tool's result. Errors: as [`Service::approve`]; edited arguments are refused.
    pub async fn deny(&self, actor: &Actor, id: Uuid, input: ApprovalInput) -> Result<Approval> {
        if input.arguments.is_some() {
            return Err(Error::validation(
                "arguments",
                "only an approval can edit the arguments",
            ));
        }
        self.decide(actor, id, ApprovalStatus::Denied, input).await
    }

    pub(super) async fn decide(
        &self,
        actor: &Actor,
        id: Uuid,
        status: ApprovalStatus,
        input: ApprovalInput,
    ) -> Result<Approval> {
        require(actor, Role::Member, "deciding approvals needs member")?;
        check_len("comment", &input.comment, 0, 2000)?;
        if let Some(args) = &input.arguments {
            if !args.is_object() {
                return Err(Error::validation("arguments", "must be a JSON object"));
            }
            if args.to_string().len() > 64 * 1024 {
                return Err(Error::validation("arguments", "at most 64 KiB of JSON"));
            }
        }
        let decision = ApprovalDecision {
            status,
            comment: input.comment,
            edited_arguments: input.arguments,
            decided_by: Some(actor.user_id),
            decided_at: Utc::now(),
        };
        let approval = self
            .store
            .decide_approval(actor.org_id, id, &decision)
            .await?;
        let action = if status == ApprovalStatus::Approved {
            actions::APPROVAL_APPROVE
        } else {
            actions::APPROVAL_DENY
        };
        self.audit_approval(audit_actor(actor), action, &approval)
            .await;
        self.enqueue_continuation(approval.run_id, Duration::ZERO)
            .await?;
        Ok(approval)
    }

    /// Marks approval `approval` expired if its time has passed and it is still pending
    /// (moving its run back to the queue). Returns the approval as it now is. Used by the
    /// executor, which is woken for a parked run at its approval's expiry.
    pub async fn expire_if_due(&self, approval: &Approval) -> Result<Approval> {
        if approval.status != ApprovalStatus::Pending || approval.expires_at > Utc::now() {
            return Ok(approval.clone());
        }
        let decision = ApprovalDecision {
            status: ApprovalStatus::Expired,
            comment: "the approval expired before anyone decided".into(),
            edited_arguments: None,
            decided_by: None,
            decided_at: Utc::now(),
        };
        match self
            .store
            .decide_approval(approval.org_id, approval.id, &decision)
            .await
        {
            Ok(a) => {
                self.audit_approval(AuditActor::System, actions::APPROVAL_EXPIRE, &a)
                    .await;
                Ok(a)
            }
            // Decided in between (by a person, or another executor's expiry).
            Err(Error::Conflict(_)) => self.store.get_approval(approval.org_id, approval.id).await,
            Err(e) => Err(e),
        }
    }

    async fn audit_approval(&self, actor: AuditActor, action: &str, a: &Approval) {
        let edited = a
            .edited_arguments
            .as_ref()
            .and_then(|v| crate::audit::json_sha256(v).ok());
        self.audit_after(
            a.org_id,
            actor,
            action,
            Some(a.id.to_string()),
            serde_json::json!({
                "run_id": a.run_id, "tool": a.tool, "step": a.step, "call_id": a.call_id,
                "comment": a.comment, "edited_arguments_sha256": edited,
            }),
        )
        .await;
    }

    /// Enqueues a job for run `run_id` after `delay` (a decision's continuation, or the
    /// wake-up at an approval's expiry). A job for a run that has nothing to do is a no-op.
    pub(crate) async fn enqueue_continuation(&self, run_id: Uuid, delay: Duration) -> Result<()> {
        self.queue
            .enqueue(
                RUNS_QUEUE,
                &serde_json::json!({ "run_id": run_id }),
                RUN_MAX_ATTEMPTS,
                delay,
            )
            .await
            .map(|_| ())
    }
}

/// Checks the rules of an agent spec (`tool_policies`): at most
/// [`crate::policy::MAX_AGENT_RULES`], each valid ([`crate::policy::validate_rule`]).
pub(crate) fn validate_agent_rules(rules: &mut [ToolRule]) -> Result<()> {
    if rules.len() > crate::policy::MAX_AGENT_RULES {
        return Err(Error::validation(
            "tool_policies",
            format!("at most {} rules", crate::policy::MAX_AGENT_RULES),
        ));
    }
    for (i, r) in rules.iter_mut().enumerate() {
        r.tool = r.tool.trim().to_string();
        crate::policy::validate_rule(&format!("tool_policies[{i}]"), r)?;
    }
    Ok(())
}

/// An approval as `actor` may see it: viewers get its arguments PII-redacted
/// ([`crate::redact::redact_json`]); members and up decide on the real ones.
fn for_reader(actor: &Actor, mut a: Approval) -> Approval {
    if actor.role == Role::Viewer {
        a.arguments = crate::redact::redact_json(&a.arguments);
        a.edited_arguments = a.edited_arguments.map(|v| crate::redact::redact_json(&v));
    }
    a
}

fn policy_write(input: PolicyInput) -> Result<PolicyWrite> {
    let rule = ToolRule {
        tool: input.tool.trim().to_string(),
        action: input.action,
        when: input.when,
    };
    crate::policy::validate_rule("", &rule)?;
    let priority = input.priority.unwrap_or(100);
    if !(-1000..=1000).contains(&priority) {
        return Err(Error::validation("priority", "must be -1000 to 1000"));
    }
    let description = input.description.unwrap_or_default();
    check_len("description", &description, 0, 500)?;
    Ok(PolicyWrite {
        rule,
        priority,
        description,
    })
}
