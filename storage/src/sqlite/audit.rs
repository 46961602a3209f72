//! [`AuditStore`] on SQLite: appends run in a `BEGIN IMMEDIATE` transaction, so the head
//! read and the insert happen under the database's single write lock.

use async_trait::async_trait;
use autonoma_core::audit::{AuditEntry, AuditHead};
use autonoma_core::store::{AuditFilter, AuditStore, Seal};
use autonoma_core::{Error, Result};
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::{db, in_tx};
use crate::rows::AuditRow;
use crate::sql;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, org_id: Uuid, seal: &Seal<'_>) -> Result<AuditEntry> {
        in_tx!(self.write_tx(), |c| {
            let head: Option<(i64, String)> = sqlx::query_as(sql::AUDIT_HEAD)
                .bind(org_id.to_string())
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
                .bind(e.id.to_string())
                .bind(org_id.to_string())
                .bind(e.seq)
                .bind(e.at)
                .bind(e.actor.kind())
                .bind(e.actor.user_id().map(|u| u.to_string()))
                .bind(e.actor.api_key_id().map(|u| u.to_string()))
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
        let rows = sqlx::query_as::<_, AuditRow<Id>>(sql::LIST_AUDIT)
            .bind(org_id.to_string())
            .bind(exact)
            .bind(prefix)
            .bind(filter.actor_user_id.map(|u| u.to_string()))
            .bind(filter.since)
            .bind(filter.until)
            .bind(filter.before_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.into_iter().map(AuditRow::into_model).collect()
    }

    async fn audit_chain(
        &self,
        org_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query_as::<_, AuditRow<Id>>(sql::AUDIT_CHAIN)
            .bind(org_id.to_string())
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.into_iter().map(AuditRow::into_model).collect()
    }
}
