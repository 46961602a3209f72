//! [`AccountStore`] on PostgreSQL: e-mails compare through `lower()` (the unique index is on
//! `lower(email)`); a session or a user's memberships are found before the tenant is known
//! through SECURITY DEFINER functions.

use async_trait::async_trait;
use autonoma_core::model::*;
use autonoma_core::store::{AccountStore, Session};
use autonoma_core::{Error, Result};
use chrono::Utc;
use uuid::Uuid;

use super::PgStore;
use crate::error::{conflict_on_unique, db, in_tx};
use crate::rows::{MembershipRow, SessionRow, UserRow};
use crate::sql;

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user_with_org(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        org_name: &str,
    ) -> Result<(User, Organization)> {
        let now = Utc::now();
        let user = User {
            id: Uuid::now_v7(),
            email: email.to_string(),
            name: name.to_string(),
            created_at: now,
        };
        let org = Organization {
            id: Uuid::now_v7(),
            name: org_name.to_string(),
            created_at: now,
        };
        in_tx!(self.tenant_tx(org.id), |c| {
            let r = sqlx::query(sql::INSERT_USER)
                .bind(user.id)
                .bind(email)
                .bind(name)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *c)
                .await;
            conflict_on_unique(r, "an account with this e-mail already exists")?;
            sqlx::query(sql::INSERT_ORG)
                .bind(org.id)
                .bind(org_name)
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            sqlx::query(sql::INSERT_OWNER)
                .bind(org.id)
                .bind(user.id)
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })?;
        Ok((user, org))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query_as::<_, UserRow<Uuid>>("SELECT id, email, name, password_hash, created_at FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.map(UserRow::into_model))
    }

    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Membership>> {
        let rows = sqlx::query_as::<_, MembershipRow<Uuid>>(
            "SELECT org_id, user_id, role, email, org_name FROM autonoma_user_memberships($1)",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(MembershipRow::into_model).collect()
    }

    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<Role>> {
        let role: Option<String> = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_scalar(sql::ROLE_OF)
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(&mut *c)
                .await
                .map_err(db)
        })?;
        role.map(|s| Role::parse(&s).ok_or_else(|| Error::internal(format!("bad role {s}"))))
            .transpose()
    }

    async fn upsert_member(&self, org_id: Uuid, email: &str, r: Role) -> Result<Membership> {
        let row = in_tx!(self.tenant_tx(org_id), |c| {
            let user_id: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
                    .bind(email)
                    .fetch_optional(&mut *c)
                    .await
                    .map_err(db)?;
            let Some(user_id) = user_id else {
                return Err(Error::NotFound("user"));
            };
            // Membership changes of one organization are serialized, so two owners demoting
            // each other at once cannot both see the other still an owner.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
                .bind(org_id)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            let changed = sqlx::query(sql::UPSERT_MEMBER)
                .bind(org_id)
                .bind(user_id)
                .bind(r.as_str())
                .bind(Utc::now())
                .execute(&mut *c)
                .await
                .map_err(db)?
                .rows_affected();
            if changed == 0 {
                return Err(Error::Conflict(sql::LAST_OWNER.into()));
            }
            sqlx::query_as::<_, MembershipRow<Uuid>>(sql::MEMBERSHIP)
                .bind(org_id)
                .bind(user_id)
                .fetch_one(&mut *c)
                .await
                .map_err(db)
        })?;
        row.into_model()
    }

    async fn list_members(&self, org_id: Uuid) -> Result<Vec<Membership>> {
        let rows = in_tx!(self.tenant_tx(org_id), |c| {
            sqlx::query_as::<_, MembershipRow<Uuid>>(sql::LIST_MEMBERS)
                .bind(org_id)
                .fetch_all(&mut *c)
                .await
                .map_err(db)
        })?;
        rows.into_iter().map(MembershipRow::into_model).collect()
    }

    async fn create_session(&self, token_hash: &[u8], s: &Session) -> Result<()> {
        in_tx!(self.tenant_tx(s.org_id), |c| {
            sqlx::query(sql::INSERT_SESSION)
                .bind(token_hash)
                .bind(s.user_id)
                .bind(s.org_id)
                .bind(&s.csrf_token)
                .bind(s.expires_at)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        let row = sqlx::query_as::<_, SessionRow<Uuid>>(
            "SELECT user_id, org_id, csrf_token, expires_at FROM autonoma_session_by_token($1)",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.and_then(SessionRow::into_live))
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        let org: Option<Uuid> =
            sqlx::query_scalar("SELECT org_id FROM autonoma_session_by_token($1)")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        let Some(org) = org else { return Ok(()) };
        in_tx!(self.tenant_tx(org), |c| {
            sqlx::query(sql::DELETE_SESSION)
                .bind(token_hash)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })
    }
}
