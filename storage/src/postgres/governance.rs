//! [`GovernanceStore`] on PostgreSQL: every statement in a tenant transaction (row-level security).

use async_trait::async_trait;
use autonoma_core::governance::{Approval, ApprovalStatus, Policy};
use autonoma_core::store::{ApprovalDecision, GovernanceStore, PolicyWrite};
use autonoma_core::{Error, Result};
use chrono::Utc;
use sqlx::types::Json;
use uuid::Uuid;

use super::PgStore;
use crate::error::{db, in_tx};
use crate::rows::{ApprovalRow, PolicyRow};
use crate::sql;

#[async_trait]
impl GovernanceStore for PgStore {
    async fn create_policy(&self, org_id: Uuid, id: Uuid, p: &PolicyWrite) -> Result<Policy> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let now = Utc::now();
            sqlx::query_as::<_, PolicyRow<Uuid>>(sql::INSERT_POLICY)
                .bind(id)
                .bind(org_id)
                .bind(&p.rule.tool)
                .bind(p.rule.action.as_str())
                .bind(&p.rule.when)
                .bind(p.priority)
                .bind(&p.description)
                .bind(now)
                .bind(now)
                .fetch_one(&mut *c)
                .await
                .map_err(db)?
                .into_model()
        })
    }

    async fn list_policies(&self, org_id: Uuid) -> Result<Vec<Policy>> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, PolicyRow<Uuid>>(sql::LIST_POLICIES)
                .bind(org_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)?
                .into_iter()
                .map(PolicyRow::into_model)
                .collect()
        })
    }

    async fn get_policy(&self, org_id: Uuid, id: Uuid) -> Result<Policy> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, PolicyRow<Uuid>>(sql::GET_POLICY)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("policy"))?
                .into_model()
        })
    }

    async fn update_policy(&self, org_id: Uuid, id: Uuid, p: &PolicyWrite) -> Result<Policy> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, PolicyRow<Uuid>>(sql::UPDATE_POLICY)
                .bind(org_id)
                .bind(id)
                .bind(&p.rule.tool)
                .bind(p.rule.action.as_str())
                .bind(&p.rule.when)
                .bind(p.priority)
                .bind(&p.description)
                .bind(Utc::now())
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("policy"))?
                .into_model()
        })
    }

    async fn delete_policy(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let r = sqlx::query(sql::DELETE_POLICY)
                .bind(org_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            if r.rows_affected() == 0 {
                return Err(Error::NotFound("policy"));
            }
            Ok(())
        })
    }

    async fn create_approval(&self, a: &Approval) -> Result<Approval> {
        in_tx!(self.tenant_tx(a.org_id), |c| {
            sqlx::query(sql::INSERT_APPROVAL)
                .bind(a.id)
                .bind(a.org_id)
                .bind(a.run_id)
                .bind(a.agent_id)
                .bind(a.step as i64)
                .bind(&a.call_id)
                .bind(&a.tool)
                .bind(Json(&a.arguments))
                .bind(&a.rule)
                .bind(a.expires_at)
                .bind(a.created_at)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            sqlx::query_as::<_, ApprovalRow<Uuid>>(sql::APPROVAL_FOR_CALL)
                .bind(a.org_id)
                .bind(a.run_id)
                .bind(&a.call_id)
                .fetch_one(&mut *c)
                .await
                .map_err(db)?
                .into_model()
        })
    }

    async fn get_approval(&self, org_id: Uuid, id: Uuid) -> Result<Approval> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ApprovalRow<Uuid>>(sql::GET_APPROVAL)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .ok_or(Error::NotFound("approval"))?
                .into_model()
        })
    }

    async fn approval_for_call(
        &self,
        org_id: Uuid,
        run_id: Uuid,
        call_id: &str,
    ) -> Result<Option<Approval>> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ApprovalRow<Uuid>>(sql::APPROVAL_FOR_CALL)
                .bind(org_id)
                .bind(run_id)
                .bind(call_id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?
                .map(ApprovalRow::into_model)
                .transpose()
        })
    }

    async fn list_approvals(
        &self,
        org_id: Uuid,
        status: Option<ApprovalStatus>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Approval>> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, ApprovalRow<Uuid>>(
                "SELECT * FROM approvals WHERE org_id = $1 AND ($2::text IS NULL OR status = $2) \
                 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
            )
            .bind(org_id)
            .bind(status.map(|s| s.as_str()))
            .bind(before)
            .bind(limit as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(db)?
            .into_iter()
            .map(ApprovalRow::into_model)
            .collect()
        })
    }

    async fn decide_approval(
        &self,
        org_id: Uuid,
        id: Uuid,
        d: &ApprovalDecision,
    ) -> Result<Approval> {
        in_tx!(self.tenant_tx(org_id), |c| {
            let row = sqlx::query_as::<_, ApprovalRow<Uuid>>(sql::DECIDE_APPROVAL)
                .bind(org_id)
                .bind(id)
                .bind(d.status.as_str())
                .bind(&d.comment)
                .bind(d.edited_arguments.as_ref().map(Json))
                .bind(d.decided_by)
                .bind(d.decided_at)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            let Some(row) = row else {
                let exists = sqlx::query(sql::GET_APPROVAL)
                    .bind(org_id)
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await
                    .map_err(db)?;
                return Err(match exists {
                    None => Error::NotFound("approval"),
                    Some(_) => Error::Conflict("the approval was already decided".into()),
                });
            };
            let approval = row.into_model()?;
            sqlx::query(sql::UNPARK_RUN)
                .bind(org_id)
                .bind(approval.run_id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(approval)
        })
    }
}
