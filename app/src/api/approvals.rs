//! Approvals inbox server functions: the organization's approvals, and deciding one.

use autonoma_types::governance::Approval;
use autonoma_types::Page;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// Approvals newest first: `status` is `pending` (the inbox) or empty for all.
#[server(prefix = "/sfn", endpoint = "approvals/list")]
pub async fn list_approvals(
    #[doc = "`pending`, `approved`, `denied`, `expired`, or empty for all."] status: String,
) -> Result<Page<Approval>, AppError> {
    use autonoma_types::governance::ApprovalStatus;
    let (svc, actor) = ssr::actor().await?;
    let status = match status.trim() {
        "" => None,
        s => Some(
            ApprovalStatus::parse(s)
                .ok_or_else(|| AppError::field("status", "unknown approval status"))?,
        ),
    };
    Ok(svc.list_approvals(&actor, status, None, Some(50)).await?)
}

/// Approves (`decision` = `approve`) or denies (`deny`) a pending tool call, with an
/// optional comment and, for an approval, optionally edited arguments (a JSON object).
#[server(prefix = "/sfn", endpoint = "approvals/decide")]
pub async fn decide_approval(
    #[doc = "Approval id."] id: String,
    #[doc = "`approve` or `deny`."] decision: String,
    #[doc = "Optional comment; a denial's comment is what the agent is told."] comment: Option<
        String,
    >,
    #[doc = "Edited arguments (JSON object), approve only; empty keeps the model's."]
    arguments: Option<String>,
) -> Result<Approval, AppError> {
    use autonoma_types::governance::ApprovalInput;
    let (svc, actor) = ssr::actor().await?;
    let id = ssr::uuid("id", &id)?;
    let arguments = match arguments
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| AppError::field("arguments", format!("not valid JSON: {e}")))?,
        ),
    };
    let input = ApprovalInput {
        comment: comment.unwrap_or_default(),
        arguments,
    };
    let approval = match decision.as_str() {
        "approve" => svc.approve(&actor, id, input).await?,
        "deny" => svc.deny(&actor, id, input).await?,
        _ => return Err(AppError::field("decision", "choose Approve or Deny")),
    };
    Ok(approval)
}
