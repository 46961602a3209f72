//! [`AccountStore`] on SQLite: e-mails compare case-insensitively by the column's
//! `COLLATE NOCASE`.

use async_trait::async_trait;
use autonoma_core::model::*;
use autonoma_core::store::{AccountStore, Session};
use autonoma_core::{Error, Result};
use chrono::Utc;
use uuid::Uuid;

use super::{Id, SqliteStore};
use crate::error::{conflict_on_unique, db, in_tx};
use crate::rows::{MembershipRow, SessionRow, UserRow};
use crate::sql;

#[async_trait]
impl AccountStore for SqliteStore {
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
        in_tx!(self.write_tx(), |c| {
            let r = sqlx::query(sql::INSERT_USER)
                .bind(user.id.to_string())
                .bind(email)
                .bind(name)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *c)
                .await;
            conflict_on_unique(r, "an account with this e-mail already exists")?;
            sqlx::query(sql::INSERT_ORG)
                .bind(org.id.to_string())
                .bind(org_name)
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            sqlx::query(sql::INSERT_OWNER)
                .bind(org.id.to_string())
                .bind(user.id.to_string())
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(db)?;
            Ok(())
        })?;
        Ok((user, org))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query_as::<_, UserRow<Id>>(
            "SELECT id, email, name, password_hash, created_at FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.map(UserRow::into_model))
    }

    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Membership>> {
        let rows = sqlx::query_as::<_, MembershipRow<Id>>(concat!(
            sql::membership_select!(),
            " WHERE m.user_id = $1 ORDER BY m.created_at, m.org_id"
        ))
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(MembershipRow::into_model).collect()
    }

    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar(sql::ROLE_OF)
            .bind(org_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        role.map(|s| Role::parse(&s).ok_or_else(|| Error::internal(format!("bad role {s}"))))
            .transpose()
    }

    async fn upsert_member(&self, org_id: Uuid, email: &str, r: Role) -> Result<Membership> {
        let user: Option<Id> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(user) = user else {
            return Err(Error::NotFound("user"));
        };
        let user_id = user.into_uuid();
        let changed = sqlx::query(sql::UPSERT_MEMBER)
            .bind(org_id.to_string())
            .bind(user_id.to_string())
            .bind(r.as_str())
            .bind(Utc::now())
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
        if changed == 0 {
            return Err(Error::Conflict(sql::LAST_OWNER.into()));
        }
        sqlx::query_as::<_, MembershipRow<Id>>(sql::MEMBERSHIP)
            .bind(org_id.to_string())
            .bind(user_id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?
            .into_model()
    }

    async fn list_members(&self, org_id: Uuid) -> Result<Vec<Membership>> {
        let rows = sqlx::query_as::<_, MembershipRow<Id>>(sql::LIST_MEMBERS)
            .bind(org_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.into_iter().map(MembershipRow::into_model).collect()
    }

    async fn create_session(&self, token_hash: &[u8], s: &Session) -> Result<()> {
        sqlx::query(sql::INSERT_SESSION)
            .bind(token_hash)
            .bind(s.user_id.to_string())
            .bind(s.org_id.to_string())
            .bind(&s.csrf_token)
            .bind(s.expires_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        let row = sqlx::query_as::<_, SessionRow<Id>>(
            "SELECT user_id, org_id, csrf_token, expires_at FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.and_then(SessionRow::into_live))
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query(sql::DELETE_SESSION)
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
