//! [`AuditStore`] on PostgreSQL: an append takes a transaction-scoped advisory lock on the
//! organization's chain before reading its head, so appends from every process on the
//! database serialize per organization (READ COMMITTED: the head read after the lock sees
//! the previous holder's committed entry).

use async_trait::async_trait;
use autonoma_core::audit::{AuditEntry, AuditHead};
use autonoma_core::store::{AuditFilter, AuditStore, Seal};
use autonoma_core::{Error, Result};
use uuid::Uuid;

use super::PgStore;
use crate::error::{db, in_tx};
use crate::rows::AuditRow;
use crate::sql;

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, org_id: Uuid, seal: &Seal<'_>) -> Result<AuditEntry> {
        in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended('autonoma.audit:' || $1, 0))",
            )
            .bind(org_id.to_string())
            .execute(&mut *c)
            .await
            .map_err(db)?;
            let head: Option<(i64, String)> = sqlx::query_as(sql::AUDIT_HEAD)
                .bind(org_id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)?;
            let head = head.map(|(seq, hash)| AuditHead { seq, hash });
            let e = seal(head.as_ref())?;
            if e.org_id != org_id || e.seq != head.as_ref().map_or(1, |h| h.seq + 1) {
                return Err(Error::internal(
                    "sealed audit entry does not follow the head",
                ));
            }
            let details = autonoma_core::audit::canonical_json(&e.details)?;
            sqlx::query(sql::INSERT_AUDIT)
                .bind(e.id)
                .bind(org_id)
                .bind(e.seq)
                .bind(e.at)
                .bind(e.actor.kind())
                .bind(e.actor.user_id())
                .bind(e.actor.api_key_id())
                .bind(&e.action)
                .bind(&e.target)
                .bind(String::from_utf8(details).map_err(Error::internal)?)
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .bind(&e.key_id)
                .bind(&e.signature)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(e)
        })
    }

    async fn list_audit(
        &self,
        org_id: Uuid,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let (exact, prefix) = filter.action_match();
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, AuditRow<Uuid>>(sql::LIST_AUDIT)
                .bind(org_id)
                .bind(exact)
                .bind(prefix)
                .bind(filter.actor_user_id)
                .bind(filter.since)
                .bind(filter.until)
                .bind(filter.before_seq)
                .bind(i64::from(limit))
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        rows.into_iter().map(AuditRow::into_model).collect()
    }

    async fn audit_chain(
        &self,
        org_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, AuditRow<Uuid>>(sql::AUDIT_CHAIN)
                .bind(org_id)
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        rows.into_iter().map(AuditRow::into_model).collect()
    }
}
