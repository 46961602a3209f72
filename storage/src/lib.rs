//! # autonoma-storage
//!
//! [`SqliteStore`]: the embedded backend of [`Store`], [`JobQueue`] and
//! [`KnowledgeStore`](autonoma_core::knowledge::store::KnowledgeStore) on one SQLite file
//! (WAL mode, `busy_timeout` 5 s, foreign keys on), migrations from `migrations/sqlite`
//! applied by [`SqliteStore::migrate`]; [`LocalBlobStore`]: blobs in a local folder.
//!
//! Tenant scoping: every tenant query has `org_id = ?` in its `WHERE` clause; rows of other
//! organizations are indistinguishable from missing ones.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use autonoma_core::model::*;
use autonoma_core::rate_limit::{gcra, Quota};
use autonoma_core::store::{JobQueue, NewRun, RunUpdate, Session, Store};
use autonoma_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

pub mod blob;
mod knowledge;
pub mod postgres;

pub use blob::LocalBlobStore;
pub use postgres::{PasswordRotation, PasswordSource, PgEndpoint, PgStore, RunSignal};

/// How write transactions begin on SQLite: `BEGIN IMMEDIATE` takes the write lock up front
/// (waiting up to `busy_timeout`). A deferred transaction that reads first and writes later
/// can instead fail at once with `SQLITE_BUSY` when another connection writes in between
/// (WAL mode cannot upgrade a stale read snapshot); that made a test flaky.
pub(crate) const WRITE_TX: &str = "BEGIN IMMEDIATE";

/// Migrations embedded at compile time from `migrations/sqlite`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// How stale an API key's `last_used_at` may get before a request rewrites it (60 s).
pub const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The SQLite store and queue.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn db(e: sqlx::Error) -> Error {
    Error::internal(format!("database: {e}"))
}

fn uid(row: &SqliteRow, col: &str) -> Result<Uuid> {
    let s: String = row.try_get(col).map_err(db)?;
    Uuid::parse_str(&s).map_err(Error::internal)
}

fn ts(row: &SqliteRow, col: &str) -> Result<DateTime<Utc>> {
    row.try_get::<DateTime<Utc>, _>(col).map_err(db)
}

fn opt_ts(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<DateTime<Utc>>, _>(col).map_err(db)
}

fn role(row: &SqliteRow, col: &str) -> Result<Role> {
    let s: String = row.try_get(col).map_err(db)?;
    Role::parse(&s).ok_or_else(|| Error::internal(format!("bad role {s}")))
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`, e.g. `sqlite://data/autonoma.db`.
    /// Errors: [`Error::Internal`] if the file cannot be opened.
    pub async fn connect(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .map_err(db)?;
        Ok(SqliteStore { pool })
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| Error::internal(format!("migrations: {e}")))
    }

    /// The underlying pool (for tests and diagnostics).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn run_from_row(row: &SqliteRow) -> Result<Run> {
        let status: String = row.try_get("status").map_err(db)?;
        Ok(Run {
            id: uid(row, "id")?,
            org_id: uid(row, "org_id")?,
            agent_id: uid(row, "agent_id")?,
            agent_version: row.try_get("agent_version").map_err(db)?,
            thread_id: uid(row, "thread_id")?,
            status: RunStatus::parse(&status).ok_or_else(|| Error::internal("bad run status"))?,
            input: row.try_get("input").map_err(db)?,
            output: row.try_get("output").map_err(db)?,
            error: row.try_get("error").map_err(db)?,
            usage: Usage {
                input_tokens: row.try_get::<i64, _>("input_tokens").map_err(db)? as u64,
                output_tokens: row.try_get::<i64, _>("output_tokens").map_err(db)? as u64,
            },
            steps: row.try_get("steps").map_err(db)?,
            created_by: uid(row, "created_by")?,
            created_at: ts(row, "created_at")?,
            started_at: opt_ts(row, "started_at")?,
            finished_at: opt_ts(row, "finished_at")?,
        })
    }

    fn agent_from_row(row: &SqliteRow) -> Result<Agent> {
        let spec: String = row.try_get("spec").map_err(db)?;
        Ok(Agent {
            id: uid(row, "id")?,
            org_id: uid(row, "org_id")?,
            version: row.try_get("current_version").map_err(db)?,
            spec: serde_json::from_str(&spec).map_err(Error::internal)?,
            created_at: ts(row, "created_at")?,
            updated_at: ts(row, "updated_at")?,
        })
    }

    fn provider_from_row(row: &SqliteRow) -> Result<ProviderConnection> {
        let kind: String = row.try_get("kind").map_err(db)?;
        let models: String = row.try_get("models").map_err(db)?;
        let sealed: Option<Vec<u8>> = row.try_get("api_key_sealed").map_err(db)?;
        Ok(ProviderConnection {
            id: uid(row, "id")?,
            org_id: uid(row, "org_id")?,
            name: row.try_get("name").map_err(db)?,
            kind: ProviderKind::parse(&kind).ok_or_else(|| Error::internal("bad provider kind"))?,
            base_url: row.try_get("base_url").map_err(db)?,
            models: serde_json::from_str(&models).map_err(Error::internal)?,
            has_api_key: sealed.is_some(),
            created_at: ts(row, "created_at")?,
        })
    }

    fn api_key_from_row(row: &SqliteRow) -> Result<ApiKey> {
        Ok(ApiKey {
            id: uid(row, "id")?,
            org_id: uid(row, "org_id")?,
            user_id: uid(row, "user_id")?,
            name: row.try_get("name").map_err(db)?,
            prefix: row.try_get("prefix").map_err(db)?,
            role: role(row, "role")?,
            created_at: ts(row, "created_at")?,
            last_used_at: opt_ts(row, "last_used_at")?,
            revoked_at: opt_ts(row, "revoked_at")?,
        })
    }

    fn membership_from_row(row: &SqliteRow) -> Result<Membership> {
        Ok(Membership {
            org_id: uid(row, "org_id")?,
            user_id: uid(row, "user_id")?,
            role: role(row, "role")?,
            email: row.try_get("email").map_err(db)?,
            org_name: row.try_get("org_name").map_err(db)?,
        })
    }
}

/// An agent with its current version (both backends: the same tables and columns).
pub(crate) const AGENT_SELECT: &str =
    "SELECT a.id, a.org_id, a.current_version, a.created_at, a.updated_at, v.spec \
     FROM agents a JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.current_version";

/// A membership with the user's e-mail and the organization's name (both backends).
pub(crate) const MEMBERSHIP_SELECT: &str =
    "SELECT m.org_id, m.user_id, m.role, u.email, o.name AS org_name \
     FROM memberships m JOIN users u ON u.id = m.user_id JOIN organizations o ON o.id = m.org_id";

#[async_trait]
impl Store for SqliteStore {
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
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        let r = sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.id.to_string())
        .bind(email)
        .bind(name)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(
                    "an account with this e-mail already exists".into(),
                ))
            }
            r => r.map_err(db)?,
        };
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)")
            .bind(org.id.to_string())
            .bind(org_name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
        )
        .bind(org.id.to_string())
        .bind(user.id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok((user, org))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT id, email, name, password_hash, created_at FROM users WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok((
                User {
                    id: uid(&r, "id")?,
                    email: r.try_get("email").map_err(db)?,
                    name: r.try_get("name").map_err(db)?,
                    created_at: ts(&r, "created_at")?,
                },
                r.try_get("password_hash").map_err(db)?,
            ))
        })
        .transpose()
    }

    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Membership>> {
        let rows = sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.user_id = ? ORDER BY m.created_at, m.org_id"
        ))
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::membership_from_row).collect()
    }

    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM memberships WHERE org_id = ? AND user_id = ?")
            .bind(org_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| role(&r, "role")).transpose()
    }

    async fn upsert_member(&self, org_id: Uuid, email: &str, r: Role) -> Result<Membership> {
        let user = sqlx::query("SELECT id FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(user) = user else {
            return Err(Error::NotFound("user"));
        };
        let user_id = uid(&user, "id")?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(org_id.to_string())
        .bind(user_id.to_string())
        .bind(r.as_str())
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let row = sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = ? AND m.user_id = ?"
        ))
        .bind(org_id.to_string())
        .bind(user_id.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Self::membership_from_row(&row)
    }

    async fn list_members(&self, org_id: Uuid) -> Result<Vec<Membership>> {
        let rows = sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = ? ORDER BY u.email"
        ))
        .bind(org_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::membership_from_row).collect()
    }

    async fn create_session(&self, token_hash: &[u8], s: &Session) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, org_id, csrf_token, expires_at) VALUES (?, ?, ?, ?, ?)")
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
        let row = sqlx::query(
            "SELECT user_id, org_id, csrf_token, expires_at FROM sessions WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let s = Session {
            user_id: uid(&r, "user_id")?,
            org_id: uid(&r, "org_id")?,
            csrf_token: r.try_get("csrf_token").map_err(db)?,
            expires_at: ts(&r, "expires_at")?,
        };
        Ok((s.expires_at > Utc::now()).then_some(s))
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn rate_limit(
        &self,
        key: &[u8],
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Duration>> {
        // BEGIN IMMEDIATE: the write lock serializes every decision, for all keys.
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        sqlx::query("DELETE FROM rate_limits WHERE tat < ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let tat: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT tat FROM rate_limits WHERE key = ?")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .flatten();
        let decision = gcra(tat, now, quota);
        if let Ok(next) = decision {
            sqlx::query("INSERT INTO rate_limits (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat")
                .bind(key)
                .bind(next)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(decision.map(|_| ()))
    }

    async fn create_api_key(&self, k: &ApiKey, key_hash: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (id, org_id, user_id, name, prefix, key_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(k.id.to_string())
            .bind(k.org_id.to_string())
            .bind(k.user_id.to_string())
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(key_hash)
            .bind(k.role.as_str())
            .bind(k.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query("SELECT * FROM api_keys WHERE org_id = ? ORDER BY id DESC")
            .bind(org_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(Self::api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let r = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE org_id = ? AND id = ?",
        )
        .bind(Utc::now())
        .bind(org_id.to_string())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("API key"));
        }
        Ok(())
    }

    async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>> {
        // A read on every request; the write only when the recorded time is older than
        // LAST_USED_GRANULARITY, so authenticated reads do not serialize on SQLite's writer.
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(mut key) = row.as_ref().map(Self::api_key_from_row).transpose()? else {
            return Ok(None);
        };
        let now = Utc::now();
        if key
            .last_used_at
            .is_none_or(|t| now - t > LAST_USED_GRANULARITY)
        {
            sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
                .bind(now)
                .bind(key.id.to_string())
                .execute(&self.pool)
                .await
                .map_err(db)?;
            key.last_used_at = Some(now);
        }
        Ok(Some(key))
    }

    async fn create_provider(&self, c: &ProviderConnection, sealed: Option<&[u8]>) -> Result<()> {
        sqlx::query("INSERT INTO provider_connections (id, org_id, name, kind, base_url, models, api_key_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(c.id.to_string())
            .bind(c.org_id.to_string())
            .bind(&c.name)
            .bind(c.kind.as_str())
            .bind(&c.base_url)
            .bind(serde_json::to_string(&c.models).map_err(Error::internal)?)
            .bind(sealed)
            .bind(c.created_at)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_providers(&self, org_id: Uuid) -> Result<Vec<ProviderConnection>> {
        let rows = sqlx::query("SELECT * FROM provider_connections WHERE org_id = ? ORDER BY id")
            .bind(org_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(Self::provider_from_row).collect()
    }

    async fn get_provider(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<Vec<u8>>)> {
        let row = sqlx::query("SELECT * FROM provider_connections WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("provider connection"))?;
        Ok((
            Self::provider_from_row(&row)?,
            row.try_get("api_key_sealed").map_err(db)?,
        ))
    }

    async fn delete_provider(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE org_id = ? AND provider_id = ? AND deleted_at IS NULL")
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "{used} agent(s) still use this provider connection"
            )));
        }
        let r = sqlx::query("DELETE FROM provider_connections WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("provider connection"));
        }
        Ok(())
    }

    async fn create_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_string(spec).map_err(Error::internal)?;
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        sqlx::query("INSERT INTO agents (id, org_id, current_version, provider_id, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?)")
            .bind(id.to_string())
            .bind(org_id.to_string())
            .bind(spec.provider_id.to_string())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO agent_versions (agent_id, version, org_id, spec, created_at) VALUES (?, 1, ?, ?, ?)")
            .bind(id.to_string())
            .bind(org_id.to_string())
            .bind(&json)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Agent {
            id,
            org_id,
            version: 1,
            spec: spec.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    async fn get_agent(&self, org_id: Uuid, id: Uuid) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "{AGENT_SELECT} WHERE a.org_id = ? AND a.id = ? AND a.deleted_at IS NULL"
        ))
        .bind(org_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or(Error::NotFound("agent"))?;
        Self::agent_from_row(&row)
    }

    async fn list_agents(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Agent>> {
        let rows = sqlx::query(&format!(
            "{AGENT_SELECT} WHERE a.org_id = ? AND a.deleted_at IS NULL AND (? IS NULL OR a.id < ?) ORDER BY a.id DESC LIMIT ?"
        ))
        .bind(org_id.to_string())
        .bind(after.map(|u| u.to_string()))
        .bind(after.map(|u| u.to_string()))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::agent_from_row).collect()
    }

    async fn update_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_string(spec).map_err(Error::internal)?;
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE agents SET current_version = current_version + 1, provider_id = ?, updated_at = ? \
             WHERE org_id = ? AND id = ? AND deleted_at IS NULL RETURNING current_version",
        )
        .bind(spec.provider_id.to_string())
        .bind(now)
        .bind(org_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(version) = version else {
            return Err(Error::NotFound("agent"));
        };
        sqlx::query("INSERT INTO agent_versions (agent_id, version, org_id, spec, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id.to_string())
            .bind(version)
            .bind(org_id.to_string())
            .bind(&json)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.get_agent(org_id, id).await
    }

    async fn delete_agent(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let r = sqlx::query(
            "UPDATE agents SET deleted_at = ? WHERE org_id = ? AND id = ? AND deleted_at IS NULL",
        )
        .bind(Utc::now())
        .bind(org_id.to_string())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("agent"));
        }
        Ok(())
    }

    async fn get_agent_version(
        &self,
        org_id: Uuid,
        agent_id: Uuid,
        version: i64,
    ) -> Result<AgentVersion> {
        let row = sqlx::query("SELECT agent_id, version, spec, created_at FROM agent_versions WHERE org_id = ? AND agent_id = ? AND version = ?")
            .bind(org_id.to_string())
            .bind(agent_id.to_string())
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("agent version"))?;
        let spec: String = row.try_get("spec").map_err(db)?;
        Ok(AgentVersion {
            agent_id,
            version,
            spec: serde_json::from_str(&spec).map_err(Error::internal)?,
            created_at: ts(&row, "created_at")?,
        })
    }

    async fn list_agent_versions(&self, org_id: Uuid, agent_id: Uuid) -> Result<Vec<AgentVersion>> {
        self.get_agent(org_id, agent_id).await?;
        let rows = sqlx::query("SELECT version, spec, created_at FROM agent_versions WHERE org_id = ? AND agent_id = ? ORDER BY version")
            .bind(org_id.to_string())
            .bind(agent_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let spec: String = r.try_get("spec").map_err(db)?;
                Ok(AgentVersion {
                    agent_id,
                    version: r.try_get("version").map_err(db)?,
                    spec: serde_json::from_str(&spec).map_err(Error::internal)?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }

    async fn create_run(&self, run: &NewRun, idempotency_key: Option<&str>) -> Result<(Run, bool)> {
        let now = Utc::now();
        let r = sqlx::query(
            "INSERT INTO runs (id, org_id, agent_id, agent_version, thread_id, status, input, idempotency_key, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
        )
        .bind(run.id.to_string())
        .bind(run.org_id.to_string())
        .bind(run.agent_id.to_string())
        .bind(run.agent_version)
        .bind(run.thread_id.to_string())
        .bind(&run.input)
        .bind(idempotency_key)
        .bind(run.created_by.to_string())
        .bind(now)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok((self.get_run(run.org_id, run.id).await?, true)),
            Err(e) if is_unique_violation(&e) && idempotency_key.is_some() => {
                let row =
                    sqlx::query("SELECT * FROM runs WHERE org_id = ? AND idempotency_key = ?")
                        .bind(run.org_id.to_string())
                        .bind(idempotency_key)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db)?;
                let existing = Self::run_from_row(&row)?;
                if existing.agent_id != run.agent_id || existing.input != run.input {
                    return Err(Error::Conflict(
                        "Idempotency-Key was already used with a different request".into(),
                    ));
                }
                Ok((existing, false))
            }
            Err(e) => Err(db(e)),
        }
    }

    async fn get_run(&self, org_id: Uuid, id: Uuid) -> Result<Run> {
        let row = sqlx::query("SELECT * FROM runs WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("run"))?;
        Self::run_from_row(&row)
    }

    async fn get_run_unscoped(&self, id: Uuid) -> Result<Run> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("run"))?;
        Self::run_from_row(&row)
    }

    async fn list_runs(
        &self,
        org_id: Uuid,
        agent_id: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Run>> {
        let rows = sqlx::query(
            "SELECT * FROM runs WHERE org_id = ? AND (? IS NULL OR agent_id = ?) AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(org_id.to_string())
        .bind(agent_id.map(|u| u.to_string()))
        .bind(agent_id.map(|u| u.to_string()))
        .bind(after.map(|u| u.to_string()))
        .bind(after.map(|u| u.to_string()))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::run_from_row).collect()
    }

    async fn list_thread_runs(&self, org_id: Uuid, thread_id: Uuid) -> Result<Vec<Run>> {
        let rows = sqlx::query("SELECT * FROM runs WHERE org_id = ? AND thread_id = ? ORDER BY id")
            .bind(org_id.to_string())
            .bind(thread_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(Self::run_from_row).collect()
    }

    async fn claim_run(&self, id: Uuid) -> Result<Option<i64>> {
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?), executor_epoch = executor_epoch + 1 \
             WHERE id = ? AND status IN ('queued', 'running') RETURNING executor_epoch",
        )
        .bind(Utc::now())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(epoch)
    }

    async fn update_run(&self, id: Uuid, epoch: i64, u: &RunUpdate) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        write_run_state(&mut conn, id, epoch, u).await
    }

    async fn finish_run(
        &self,
        id: Uuid,
        epoch: i64,
        u: &RunUpdate,
        last: &RunEventKind,
    ) -> Result<RunEvent> {
        let mut tx = self.pool.begin_with(WRITE_TX).await.map_err(db)?;
        write_run_state(&mut tx, id, epoch, u).await?;
        let event = insert_event(&mut tx, id, epoch, last).await?;
        tx.commit().await.map_err(db)?;
        Ok(event)
    }

    async fn request_cancel(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let run = self.get_run(org_id, id).await?;
        if run.status.is_terminal() {
            return Err(Error::Conflict(format!(
                "run already {}",
                run.status.as_str()
            )));
        }
        sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE org_id = ? AND id = ?")
            .bind(org_id.to_string())
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn cancel_requested(&self, id: Uuid) -> Result<bool> {
        let v: Option<i64> = sqlx::query_scalar("SELECT cancel_requested FROM runs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(v == Some(1))
    }

    async fn append_event(
        &self,
        run_id: Uuid,
        epoch: i64,
        kind: &RunEventKind,
    ) -> Result<RunEvent> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_event(&mut conn, run_id, epoch, kind).await
    }

    async fn list_events(&self, run_id: Uuid, after: i64, limit: u32) -> Result<Vec<RunEvent>> {
        let rows = sqlx::query("SELECT seq, data, created_at FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?")
            .bind(run_id.to_string())
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data").map_err(db)?;
                Ok(RunEvent {
                    run_id,
                    seq: r.try_get("seq").map_err(db)?,
                    kind: serde_json::from_str(&data).map_err(Error::internal)?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }
}

/// Writes a run's state under the fencing `epoch`. Errors: [`Error::LeaseLost`] when another
/// executor claimed the run since.
async fn write_run_state(
    conn: &mut SqliteConnection,
    id: Uuid,
    epoch: i64,
    u: &RunUpdate,
) -> Result<()> {
    let finished = u.status.is_terminal().then(Utc::now);
    let r = sqlx::query(
        "UPDATE runs SET status = ?, output = ?, error = ?, input_tokens = ?, output_tokens = ?, steps = ?, finished_at = COALESCE(?, finished_at) \
         WHERE id = ? AND executor_epoch = ?",
    )
    .bind(u.status.as_str())
    .bind(&u.output)
    .bind(&u.error)
    .bind(u.usage.input_tokens as i64)
    .bind(u.usage.output_tokens as i64)
    .bind(u.steps)
    .bind(finished)
    .bind(id.to_string())
    .bind(epoch)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if r.rows_affected() == 0 {
        return Err(Error::LeaseLost);
    }
    Ok(())
}

/// Appends a run event with the next `seq` under the fencing `epoch`. Errors:
/// [`Error::LeaseLost`] when another executor claimed the run since; [`Error::NotFound`].
async fn insert_event(
    conn: &mut SqliteConnection,
    run_id: Uuid,
    epoch: i64,
    kind: &RunEventKind,
) -> Result<RunEvent> {
    let now = Utc::now();
    let data = serde_json::to_string(kind).map_err(Error::internal)?;
    // One statement: the epoch check and the insert are atomic under SQLite's single writer.
    let seq: Option<i64> = sqlx::query_scalar(
        "INSERT INTO run_events (run_id, seq, data, created_at) \
         SELECT ?1, COALESCE((SELECT MAX(seq) FROM run_events WHERE run_id = ?1), 0) + 1, ?2, ?3 \
         WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND executor_epoch = ?4) RETURNING seq",
    )
    .bind(run_id.to_string())
    .bind(&data)
    .bind(now)
    .bind(epoch)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    match seq {
        Some(seq) => Ok(RunEvent {
            run_id,
            seq,
            kind: kind.clone(),
            created_at: now,
        }),
        None => {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM runs WHERE id = ?")
                .bind(run_id.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
            Err(if exists.is_some() {
                Error::LeaseLost
            } else {
                Error::NotFound("run")
            })
        }
    }
}

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        max_attempts: u32,
        delay: Duration,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO jobs (id, queue, payload, status, max_attempts, available_at_ms, created_at) VALUES (?, ?, ?, 'ready', ?, ?, ?)")
            .bind(id.to_string())
            .bind(queue)
            .bind(payload.to_string())
            .bind(max_attempts.max(1) as i64)
            .bind(now_ms() + delay.as_millis() as i64)
            .bind(Utc::now())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(id)
    }

    async fn lease(&self, queue: &str, lease: Duration) -> Result<Option<Job>> {
        let now = now_ms();
        // A lease that expired on the last attempt means the consumer died every time: dead-letter.
        sqlx::query(
            "UPDATE jobs SET status = 'dead', last_error = COALESCE(last_error, 'lease expired') \
             WHERE queue = ? AND status = 'leased' AND lease_expires_ms <= ? AND attempt >= max_attempts",
        )
        .bind(queue)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let token = Uuid::new_v4();
        let expires = now + lease.as_millis() as i64;
        let row = sqlx::query(
            "UPDATE jobs SET status = 'leased', attempt = attempt + 1, lease_token = ?, lease_expires_ms = ? \
             WHERE id = (SELECT id FROM jobs WHERE queue = ? AND \
                ((status = 'ready' AND available_at_ms <= ?) OR (status = 'leased' AND lease_expires_ms <= ?)) \
                ORDER BY available_at_ms, id LIMIT 1) \
             RETURNING id, queue, payload, attempt, max_attempts",
        )
        .bind(token.to_string())
        .bind(expires)
        .bind(queue)
        .bind(now)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let payload: String = row.try_get("payload").map_err(db)?;
        Ok(Some(Job {
            id: uid(&row, "id")?,
            queue: row.try_get("queue").map_err(db)?,
            payload: serde_json::from_str(&payload).map_err(Error::internal)?,
            attempt: row.try_get::<i64, _>("attempt").map_err(db)? as u32,
            max_attempts: row.try_get::<i64, _>("max_attempts").map_err(db)? as u32,
            lease_token: token,
            lease_expires_at: DateTime::from_timestamp_millis(expires).unwrap_or_else(Utc::now),
        }))
    }

    async fn heartbeat(&self, job_id: Uuid, lease_token: Uuid, lease: Duration) -> Result<bool> {
        let r = sqlx::query("UPDATE jobs SET lease_expires_ms = ? WHERE id = ? AND lease_token = ? AND status = 'leased'")
            .bind(now_ms() + lease.as_millis() as i64)
            .bind(job_id.to_string())
            .bind(lease_token.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn complete(&self, job_id: Uuid, lease_token: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM jobs WHERE id = ? AND lease_token = ?")
            .bind(job_id.to_string())
            .bind(lease_token.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn fail(
        &self,
        job_id: Uuid,
        lease_token: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET status = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'ready' END, \
             available_at_ms = ?, last_error = ?, lease_token = NULL, lease_expires_ms = NULL \
             WHERE id = ? AND lease_token = ?",
        )
        .bind(now_ms() + retry_in.as_millis() as i64)
        .bind(error)
        .bind(job_id.to_string())
        .bind(lease_token.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<(Uuid, serde_json::Value, String)>> {
        let rows = sqlx::query("SELECT id, payload, COALESCE(last_error, '') AS last_error FROM jobs WHERE queue = ? AND status = 'dead' ORDER BY id")
            .bind(queue)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let p: String = r.try_get("payload").map_err(db)?;
                Ok((
                    uid(r, "id")?,
                    serde_json::from_str(&p).map_err(Error::internal)?,
                    r.try_get("last_error").map_err(db)?,
                ))
            })
            .collect()
    }
}
