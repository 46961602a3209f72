//! [`GovernanceStore`] on SQLite.

use async_trait::async_trait;
use autonoma_core::governance::{Approval, ApprovalStatus, Policy};
use autonoma_core::store::{ApprovalDecision, GovernanceStore, PolicyWrite};
use autonoma_core::{Error, Result};
use chrono::Utc;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::{db, in_tx};
use crate::rows::{ApprovalRow, PolicyRow};
use crate::sql;

#[async_trait]
impl GovernanceStore for SqliteStore {
    async fn create_policy(&self, org_id: Uuid, id: Uuid, p: &PolicyWrite) -> Result<Policy> {
        let now = Utc::now();
        sqlx::query_as::<_, PolicyRow<Id>>(sql::INSERT_POLICY)
            .bind(id.to_string())
            .bind(org_id.to_string())
            .bind(&p.rule.tool)
            .bind(p.rule.action.as_str())
            .bind(&p.rule.when)
            .bind(p.priority)
            .bind(&p.description)
            .bind(now)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?
            .into_model()
    }

    async fn list_policies(&self, org_id: Uuid) -> Result<Vec<Policy>> {
        sqlx::query_as::<_, PolicyRow<Id>>(sql::LIST_POLICIES)
            .bind(org_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .into_iter()
            .map(PolicyRow::into_model)
            .collect()
    }

    async fn get_policy(&self, org_id: Uuid, id: Uuid) -> Result<Policy> {
        sqlx::query_as::<_, PolicyRow<Id>>(sql::GET_POLICY)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("policy"))?
            .into_model()
    }

    async fn update_policy(&self, org_id: Uuid, id: Uuid, p: &PolicyWrite) -> Result<Policy> {
        sqlx::query_as::<_, PolicyRow<Id>>(sql::UPDATE_POLICY)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .bind(&p.rule.tool)
            .bind(p.rule.action.as_str())
            .bind(&p.rule.when)
            .bind(p.priority)
            .bind(&p.description)
            .bind(Utc::now())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("policy"))?
            .into_model()
    }

    async fn delete_policy(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let r = sqlx::query(sql::DELETE_POLICY)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("policy"));
        }
        Ok(())
    }

    async fn create_approval(&self, a: &Approval) -> Result<Approval> {
        in_tx!(self.write_tx(), |c| {
            sqlx::query(sql::INSERT_APPROVAL)
                .bind(a.id.to_string())
                .bind(a.org_id.to_string())
                .bind(a.run_id.to_string())
                .bind(a.agent_id.to_string())
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
            sqlx::query_as::<_, ApprovalRow<Id>>(sql::APPROVAL_FOR_CALL)
                .bind(a.org_id.to_string())
                .bind(a.run_id.to_string())
                .bind(&a.call_id)
                .fetch_one(&mut *c)
                .await
                .map_err(db)?
                .into_model()
        })
    }

    async fn get_approval(&self, org_id: Uuid, id: Uuid) -> Result<Approval> {
        sqlx::query_as::<_, ApprovalRow<Id>>(sql::GET_APPROVAL)
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("approval"))?
            .into_model()
    }

    async fn approval_for_call(
        &self,
        org_id: Uuid,
        run_id: Uuid,
        call_id: &str,
    ) -> Result<Option<Approval>> {
        sqlx::query_as::<_, ApprovalRow<Id>>(sql::APPROVAL_FOR_CALL)
            .bind(org_id.to_string())
            .bind(run_id.to_string())
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(ApprovalRow::into_model)
            .transpose()
    }

    async fn list_approvals(
        &self,
        org_id: Uuid,
        status: Option<ApprovalStatus>,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Approval>> {
        sqlx::query_as::<_, ApprovalRow<Id>>(
            "SELECT * FROM approvals WHERE org_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(org_id.to_string())
        .bind(status.map(|s| s.as_str()))
        .bind(before.map(|u| u.to_string()))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .into_iter()
        .map(ApprovalRow::into_model)
        .collect()
    }

    async fn decide_approval(
        &self,
        org_id: Uuid,
        id: Uuid,
        d: &ApprovalDecision,
    ) -> Result<Approval> {
        in_tx!(self.write_tx(), |c| {
            let row = sqlx::query_as::<_, ApprovalRow<Id>>(sql::DECIDE_APPROVAL)
                .bind(org_id.to_string())
                .bind(id.to_string())
                .bind(d.status.as_str())
                .bind(&d.comment)
                .bind(d.edited_arguments.as_ref().map(Json))
                .bind(d.decided_by.map(|u| u.to_string()))
                .bind(d.decided_at)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            let Some(row) = row else {
                let exists = sqlx::query(sql::GET_APPROVAL)
                    .bind(org_id.to_string())
                    .bind(id.to_string())
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
                .bind(org_id.to_string())
                .bind(approval.run_id.to_string())
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(approval)
        })
    }
}
