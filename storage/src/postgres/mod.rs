//! [`PgStore`]: the PostgreSQL backend of [`Store`], [`JobQueue`] and
//! [`KnowledgeStore`](autonoma_core::knowledge::store::KnowledgeStore), for the cloud shape
//! (several API and worker processes on one database).
//!
//! Tenant scoping is enforced twice: every tenant query still filters by `org_id`, and every
//! tenant-scoped operation runs in a transaction that first sets `autonoma.org_id`
//! (`set_config(..., true)`, transaction-local), which the FORCEd row-level security
//! policies of `migrations/postgres` check. The store connects as a non-owner role (see
//! [`PgStore::connect`]); schema changes run as the owner ([`PgStore::migrate`]). The few
//! lookups that precede knowing the tenant (session by token hash, API key by hash, a
//! user's memberships, a run's organization) call SECURITY DEFINER functions of the schema.
//!
//! The job queue leases with `FOR UPDATE SKIP LOCKED`, so concurrent consumers never
//! receive the same delivery; times are the database server's clock.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use autonoma_core::model::*;
use autonoma_core::rate_limit::{gcra, Quota};
use autonoma_core::store::{JobQueue, NewRun, RunUpdate, Session, Store};
use autonoma_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::LAST_USED_GRANULARITY;

mod knowledge;
mod rotation;

pub use rotation::{PasswordRotation, PasswordSource};

/// Pool size of [`PgStore::connect`]: 8 connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// The `NOTIFY` channel that carries the id of each run that got a new event (payload: the
/// run id as text), published in the appending transaction.
pub const RUN_EVENTS_CHANNEL: &str = "autonoma_run_events";

/// The `NOTIFY` channel that carries the id of each run whose cancellation was requested
/// (payload: the run id as text), published in the requesting transaction.
pub const RUN_CANCELS_CHANNEL: &str = "autonoma_run_cancels";

/// What [`PgStore::listen_runs`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSignal {
    /// The run got a new event ([`RUN_EVENTS_CHANNEL`]).
    Event(Uuid),
    /// Someone asked the run to stop ([`RUN_CANCELS_CHANNEL`]).
    CancelRequested(Uuid),
}

/// Migrations embedded at compile time from `migrations/postgres`.
pub static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Where and as whom to connect, without a password (see [`PgStore::connect_rotating`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgEndpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port (PostgreSQL's default: 5432).
    pub port: u16,
    /// Database name.
    pub database: String,
    /// Login role.
    pub user: String,
    /// libpq `sslmode`: `disable`, `allow`, `prefer`, `require`, `verify-ca` or
    /// `verify-full` (the last two check the server certificate against `PGSSLROOTCERT`).
    pub ssl_mode: String,
}

impl PgEndpoint {
    fn options(&self) -> Result<PgConnectOptions> {
        let ssl_mode: PgSslMode = self.ssl_mode.parse().map_err(|_| {
            Error::validation("ssl_mode", format!("unknown sslmode {:?} (disable, allow, prefer, require, verify-ca, verify-full)", self.ssl_mode))
        })?;
        Ok(PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .database(&self.database)
            .username(&self.user)
            .ssl_mode(ssl_mode))
    }
}

/// The PostgreSQL store and queue.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

pub(crate) fn db(e: sqlx::Error) -> Error {
    Error::internal(format!("database: {e}"))
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn role(row: &PgRow, col: &str) -> Result<Role> {
    let s: String = row.try_get(col).map_err(db)?;
    Role::parse(&s).ok_or_else(|| Error::internal(format!("bad role {s}")))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl PgStore {
    /// Connects the application role, e.g.
    /// `postgres://autonoma_app_login:secret@db:5432/autonoma`. That role must not own the
    /// tables (row-level security is then enforced on it) and must be a member of
    /// `autonoma_app`. The pool holds at most [`DEFAULT_MAX_CONNECTIONS`].
    /// Errors: [`Error::Internal`] if the server cannot be reached.
    pub async fn connect(app_url: &str) -> Result<Self> {
        Self::connect_sized(app_url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`PgStore::connect`] with a pool of at most `max_connections` (at least 1), e.g. 2
    /// in an AWS Lambda function, which serves one request at a time, so that many
    /// instances fit the database's connection limit.
    pub async fn connect_sized(app_url: &str, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect(app_url)
            .await
            .map_err(db)?;
        Ok(PgStore { pool })
    }

    /// Connects the application role at `endpoint` with a password from `source` (e.g. RDS
    /// IAM auth tokens) in a pool of at most `max_connections`, and returns the store with the [`PasswordRotation`] that renews the
    /// password of future connections once it is `max_age` old: spawn
    /// [`PasswordRotation::run`], and call [`PasswordRotation::ensure_fresh`] where the
    /// process may have been frozen. Same role requirements as [`PgStore::connect`].
    ///
    /// Errors: [`Error::Validation`] (field `ssl_mode`) for an unknown SSL mode; the
    /// source's error; [`Error::Internal`] if the server cannot be reached or refuses the
    /// login.
    pub async fn connect_rotating(
        endpoint: &PgEndpoint,
        source: Arc<dyn PasswordSource>,
        max_age: Duration,
        max_connections: u32,
    ) -> Result<(Self, Arc<PasswordRotation>)> {
        let base = endpoint.options()?;
        let password = source.password().await?;
        let issued = SystemTime::now();
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(base.clone().password(&password))
            .await
            .map_err(db)?;
        let rotation = Arc::new(PasswordRotation::new(
            pool.clone(),
            base,
            source,
            max_age,
            issued,
        ));
        Ok((PgStore { pool }, rotation))
    }

    /// Applies pending migrations (idempotent) as the owner role at `owner_url`, on a
    /// short-lived connection of its own.
    pub async fn migrate(owner_url: &str) -> Result<()> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(owner_url)
            .await
            .map_err(db)?;
        let r = PG_MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("migrations: {e}")));
        pool.close().await;
        r
    }

    /// Creates the application login `role` when missing (LOGIN, no password; an existing
    /// role is given LOGIN), makes it a member of `autonoma_app`, and grants it `rds_iam` where that role exists (RDS and
    /// Aurora: the login then authenticates only with IAM auth tokens). Idempotent; run as
    /// the owner at `owner_url` after [`PgStore::migrate`]; the owner needs CREATEROLE (the
    /// RDS master user has it).
    ///
    /// Errors: [`Error::Validation`] (field `role`) unless `role` matches
    /// `^[a-z_][a-z0-9_]{0,62}$` or is `autonoma_app`; [`Error::Internal`] when a statement fails.
    pub async fn ensure_login_role(owner_url: &str, role: &str) -> Result<()> {
        let mut chars = role.chars();
        let valid = role.len() <= 63
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid || role == "autonoma_app" {
            return Err(Error::validation("role", format!("{role:?} is not a lowercase PostgreSQL identifier other than autonoma_app (the group role it joins)")));
        }
        let mut conn = PgConnection::connect(owner_url).await.map_err(db)?;
        // The name is validated above, so it can be spliced (DDL takes no bind parameters).
        let sql = format!(
            "DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE \"{role}\" LOGIN; END IF;
                ALTER ROLE \"{role}\" LOGIN;
                GRANT autonoma_app TO \"{role}\";
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam') THEN GRANT rds_iam TO \"{role}\"; END IF;
            END $$"
        );
        let r = sqlx::query(&sql)
            .execute(&mut conn)
            .await
            .map_err(db)
            .map(|_| ());
        let _ = conn.close().await;
        r
    }

    /// Calls `on_signal` for every run event and every cancel request committed by any
    /// process on this database (`LISTEN` on [`RUN_EVENTS_CHANNEL`] and
    /// [`RUN_CANCELS_CHANNEL`] over one dedicated connection), until the pool is closed.
    /// This is how a process streaming a run's events learns of events another process
    /// wrote, and how an executor learns that its run was cancelled elsewhere. Delivery is
    /// best effort: notifications sent while the
    /// connection is being re-established are lost (sqlx's `PgListener` reconnects by
    /// itself), so followers keep a slow poll as a safety net. The listener holds one of the
    /// pool's connections.
    ///
    /// Errors: [`Error::Internal`] when the first `LISTEN` fails.
    pub async fn listen_runs(
        &self,
        on_signal: impl Fn(RunSignal) + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool)
            .await
            .map_err(db)?;
        listener
            .listen_all([RUN_EVENTS_CHANNEL, RUN_CANCELS_CHANNEL])
            .await
            .map_err(db)?;
        let pool = self.pool.clone();
        Ok(tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = pool.close_event() => return,
                    r = listener.recv() => r,
                };
                match received {
                    Ok(n) => match (n.channel(), Uuid::parse_str(n.payload())) {
                        (RUN_EVENTS_CHANNEL, Ok(run_id)) => on_signal(RunSignal::Event(run_id)),
                        (RUN_CANCELS_CHANNEL, Ok(run_id)) => {
                            on_signal(RunSignal::CancelRequested(run_id))
                        }
                        (channel, _) => tracing::warn!(
                            channel,
                            payload = n.payload(),
                            "unexpected notification"
                        ),
                    },
                    Err(e) => {
                        // recv() reconnects on its own; an error here is one failed attempt.
                        tracing::warn!(error = %e, "listening for run events failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }))
    }

    /// The underlying pool (for tests and diagnostics).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Begins a transaction scoped to `org_id`: row-level security admits only its rows.
    pub async fn tenant_tx(&self, org_id: Uuid) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SELECT set_config('autonoma.org_id', $1, true)")
            .bind(org_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(tx)
    }

    /// The organization of a run, through the `autonoma_run_org` lookup function.
    async fn run_org(&self, run_id: Uuid) -> Result<Option<Uuid>> {
        sqlx::query_scalar("SELECT autonoma_run_org($1)")
            .bind(run_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    fn run_from_row(row: &PgRow) -> Result<Run> {
        let status: String = row.try_get("status").map_err(db)?;
        Ok(Run {
            id: row.try_get("id").map_err(db)?,
            org_id: row.try_get("org_id").map_err(db)?,
            agent_id: row.try_get("agent_id").map_err(db)?,
            agent_version: row.try_get("agent_version").map_err(db)?,
            thread_id: row.try_get("thread_id").map_err(db)?,
            status: RunStatus::parse(&status).ok_or_else(|| Error::internal("bad run status"))?,
            input: row.try_get("input").map_err(db)?,
            output: row.try_get("output").map_err(db)?,
            error: row.try_get("error").map_err(db)?,
            usage: Usage {
                input_tokens: row.try_get::<i64, _>("input_tokens").map_err(db)? as u64,
                output_tokens: row.try_get::<i64, _>("output_tokens").map_err(db)? as u64,
            },
            steps: row.try_get("steps").map_err(db)?,
            created_by: row.try_get("created_by").map_err(db)?,
            created_at: row.try_get("created_at").map_err(db)?,
            started_at: row.try_get("started_at").map_err(db)?,
            finished_at: row.try_get("finished_at").map_err(db)?,
        })
    }

    fn agent_from_row(row: &PgRow) -> Result<Agent> {
        let spec: serde_json::Value = row.try_get("spec").map_err(db)?;
        Ok(Agent {
            id: row.try_get("id").map_err(db)?,
            org_id: row.try_get("org_id").map_err(db)?,
            version: row.try_get("current_version").map_err(db)?,
            spec: serde_json::from_value(spec).map_err(Error::internal)?,
            created_at: row.try_get("created_at").map_err(db)?,
            updated_at: row.try_get("updated_at").map_err(db)?,
        })
    }

    fn version_from_row(agent_id: Uuid, row: &PgRow) -> Result<AgentVersion> {
        let spec: serde_json::Value = row.try_get("spec").map_err(db)?;
        Ok(AgentVersion {
            agent_id,
            version: row.try_get("version").map_err(db)?,
            spec: serde_json::from_value(spec).map_err(Error::internal)?,
            created_at: row.try_get("created_at").map_err(db)?,
        })
    }

    fn provider_from_row(row: &PgRow) -> Result<ProviderConnection> {
        let kind: String = row.try_get("kind").map_err(db)?;
        let models: serde_json::Value = row.try_get("models").map_err(db)?;
        let sealed: Option<Vec<u8>> = row.try_get("api_key_sealed").map_err(db)?;
        Ok(ProviderConnection {
            id: row.try_get("id").map_err(db)?,
            org_id: row.try_get("org_id").map_err(db)?,
            name: row.try_get("name").map_err(db)?,
            kind: ProviderKind::parse(&kind).ok_or_else(|| Error::internal("bad provider kind"))?,
            base_url: row.try_get("base_url").map_err(db)?,
            models: serde_json::from_value(models).map_err(Error::internal)?,
            has_api_key: sealed.is_some(),
            created_at: row.try_get("created_at").map_err(db)?,
        })
    }

    fn api_key_from_row(row: &PgRow) -> Result<ApiKey> {
        Ok(ApiKey {
            id: row.try_get("id").map_err(db)?,
            org_id: row.try_get("org_id").map_err(db)?,
            user_id: row.try_get("user_id").map_err(db)?,
            name: row.try_get("name").map_err(db)?,
            prefix: row.try_get("prefix").map_err(db)?,
            role: role(row, "role")?,
            created_at: row.try_get("created_at").map_err(db)?,
            last_used_at: row.try_get("last_used_at").map_err(db)?,
            revoked_at: row.try_get("revoked_at").map_err(db)?,
        })
    }

    fn membership_from_row(row: &PgRow) -> Result<Membership> {
        Ok(Membership {
            org_id: row.try_get("org_id").map_err(db)?,
            user_id: row.try_get("user_id").map_err(db)?,
            role: role(row, "role")?,
            email: row.try_get("email").map_err(db)?,
            org_name: row.try_get("org_name").map_err(db)?,
        })
    }
}

use crate::{AGENT_SELECT, MEMBERSHIP_SELECT};

#[async_trait]
impl Store for PgStore {
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
        let mut tx = self.tenant_tx(org.id).await?;
        let r = sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(user.id)
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
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id)
            .bind(org_name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(org.id)
            .bind(user.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok((user, org))
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query("SELECT id, email, name, password_hash, created_at FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok((
                User {
                    id: r.try_get("id").map_err(db)?,
                    email: r.try_get("email").map_err(db)?,
                    name: r.try_get("name").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                },
                r.try_get("password_hash").map_err(db)?,
            ))
        })
        .transpose()
    }

    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT org_id, user_id, role, email, org_name FROM autonoma_user_memberships($1)",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::membership_from_row).collect()
    }

    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<Role>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        row.map(|r| role(&r, "role")).transpose()
    }

    async fn upsert_member(&self, org_id: Uuid, email: &str, r: Role) -> Result<Membership> {
        let mut tx = self.tenant_tx(org_id).await?;
        let user_id: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
                .bind(email)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let Some(user_id) = user_id else {
            return Err(Error::NotFound("user"));
        };
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(r.as_str())
        .bind(Utc::now())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = $1 AND m.user_id = $2"
        ))
        .bind(org_id)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Self::membership_from_row(&row)
    }

    async fn list_members(&self, org_id: Uuid) -> Result<Vec<Membership>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = $1 ORDER BY u.email"
        ))
        .bind(org_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(Self::membership_from_row).collect()
    }

    async fn create_session(&self, token_hash: &[u8], s: &Session) -> Result<()> {
        let mut tx = self.tenant_tx(s.org_id).await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, org_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(s.user_id)
            .bind(s.org_id)
            .bind(&s.csrf_token)
            .bind(s.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT user_id, org_id, csrf_token, expires_at FROM autonoma_session_by_token($1)",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let s = Session {
            user_id: r.try_get("user_id").map_err(db)?,
            org_id: r.try_get("org_id").map_err(db)?,
            csrf_token: r.try_get("csrf_token").map_err(db)?,
            expires_at: r.try_get("expires_at").map_err(db)?,
        };
        Ok((s.expires_at > Utc::now()).then_some(s))
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        let org: Option<Uuid> =
            sqlx::query_scalar("SELECT org_id FROM autonoma_session_by_token($1)")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        let Some(org) = org else { return Ok(()) };
        let mut tx = self.tenant_tx(org).await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn rate_limit(
        &self,
        key: &[u8],
        quota: Quota,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Duration>> {
        // No tenant: `rate_limits` is a cross-tenant table (migrations/postgres/0004).
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Make sure the row exists, then lock it: callers for one key queue up here, in
        // whatever process they run. (ON CONFLICT DO NOTHING waits for a concurrent first
        // insert of the same key to commit or roll back.)
        sqlx::query(
            "INSERT INTO rate_limits (key, tat) VALUES ($1, NULL) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let tat: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT tat FROM rate_limits WHERE key = $1 FOR UPDATE")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .flatten();
        let decision = gcra(tat, now, quota);
        match decision {
            Ok(next) => {
                // An upsert: a sweep in another transaction may have deleted the row between
                // our insert and our lock.
                sqlx::query("INSERT INTO rate_limits (key, tat) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat")
                    .bind(key)
                    .bind(next)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                // Rows whose time has passed carry no information; sweep some in the same
                // round of work (no extra transaction). SKIP LOCKED: never wait for a row
                // another decision holds.
                sqlx::query("DELETE FROM rate_limits WHERE key IN (SELECT key FROM rate_limits WHERE tat < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                tx.commit().await.map_err(db)?;
            }
            // Nothing to store (and a NULL row of ours goes away with the rollback).
            Err(_) => tx.rollback().await.map_err(db)?,
        }
        Ok(decision.map(|_| ()))
    }

    async fn create_api_key(&self, k: &ApiKey, key_hash: &[u8]) -> Result<()> {
        let mut tx = self.tenant_tx(k.org_id).await?;
        sqlx::query("INSERT INTO api_keys (id, org_id, user_id, name, prefix, key_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(k.id)
            .bind(k.org_id)
            .bind(k.user_id)
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(key_hash)
            .bind(k.role.as_str())
            .bind(k.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query("SELECT * FROM api_keys WHERE org_id = $1 ORDER BY id DESC")
            .bind(org_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(Self::api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.tenant_tx(org_id).await?;
        let r = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE org_id = $2 AND id = $3")
            .bind(Utc::now())
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("API key"));
        }
        tx.commit().await.map_err(db)
    }

    async fn use_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>> {
        let row = sqlx::query("SELECT * FROM autonoma_api_key_by_hash($1)")
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
            let mut tx = self.tenant_tx(key.org_id).await?;
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE org_id = $2 AND id = $3")
                .bind(now)
                .bind(key.org_id)
                .bind(key.id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            key.last_used_at = Some(now);
        }
        Ok(Some(key))
    }

    async fn create_provider(&self, c: &ProviderConnection, sealed: Option<&[u8]>) -> Result<()> {
        let mut tx = self.tenant_tx(c.org_id).await?;
        sqlx::query(
            "INSERT INTO provider_connections (id, org_id, name, kind, base_url, models, api_key_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.id)
        .bind(c.org_id)
        .bind(&c.name)
        .bind(c.kind.as_str())
        .bind(&c.base_url)
        .bind(serde_json::to_value(&c.models).map_err(Error::internal)?)
        .bind(sealed)
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn list_providers(&self, org_id: Uuid) -> Result<Vec<ProviderConnection>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query("SELECT * FROM provider_connections WHERE org_id = $1 ORDER BY id")
            .bind(org_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(Self::provider_from_row).collect()
    }

    async fn get_provider(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<Vec<u8>>)> {
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query("SELECT * FROM provider_connections WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("provider connection"))?;
        tx.commit().await.map_err(db)?;
        Ok((
            Self::provider_from_row(&row)?,
            row.try_get("api_key_sealed").map_err(db)?,
        ))
    }

    async fn delete_provider(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.tenant_tx(org_id).await?;
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE org_id = $1 AND provider_id = $2 AND deleted_at IS NULL")
            .bind(org_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "{used} agent(s) still use this provider connection"
            )));
        }
        let r = sqlx::query("DELETE FROM provider_connections WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("provider connection"));
        }
        tx.commit().await.map_err(db)
    }

    async fn create_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_value(spec).map_err(Error::internal)?;
        let mut tx = self.tenant_tx(org_id).await?;
        sqlx::query("INSERT INTO agents (id, org_id, current_version, provider_id, created_at, updated_at) VALUES ($1, $2, 1, $3, $4, $4)")
            .bind(id)
            .bind(org_id)
            .bind(spec.provider_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO agent_versions (agent_id, version, org_id, spec, created_at) VALUES ($1, 1, $2, $3, $4)")
            .bind(id)
            .bind(org_id)
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
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query(&format!(
            "{AGENT_SELECT} WHERE a.org_id = $1 AND a.id = $2 AND a.deleted_at IS NULL"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(Error::NotFound("agent"))?;
        tx.commit().await.map_err(db)?;
        Self::agent_from_row(&row)
    }

    async fn list_agents(
        &self,
        org_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Agent>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query(&format!(
            "{AGENT_SELECT} WHERE a.org_id = $1 AND a.deleted_at IS NULL AND ($2::uuid IS NULL OR a.id < $2) ORDER BY a.id DESC LIMIT $3"
        ))
        .bind(org_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(Self::agent_from_row).collect()
    }

    async fn update_agent(&self, org_id: Uuid, id: Uuid, spec: &AgentSpec) -> Result<Agent> {
        let now = Utc::now();
        let json = serde_json::to_value(spec).map_err(Error::internal)?;
        let mut tx = self.tenant_tx(org_id).await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE agents SET current_version = current_version + 1, provider_id = $1, updated_at = $2 \
             WHERE org_id = $3 AND id = $4 AND deleted_at IS NULL RETURNING current_version",
        )
        .bind(spec.provider_id)
        .bind(now)
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(version) = version else {
            return Err(Error::NotFound("agent"));
        };
        sqlx::query("INSERT INTO agent_versions (agent_id, version, org_id, spec, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(version)
            .bind(org_id)
            .bind(&json)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.get_agent(org_id, id).await
    }

    async fn delete_agent(&self, org_id: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.tenant_tx(org_id).await?;
        let r = sqlx::query("UPDATE agents SET deleted_at = $1 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(Utc::now())
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(Error::NotFound("agent"));
        }
        tx.commit().await.map_err(db)
    }

    async fn get_agent_version(
        &self,
        org_id: Uuid,
        agent_id: Uuid,
        version: i64,
    ) -> Result<AgentVersion> {
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query("SELECT version, spec, created_at FROM agent_versions WHERE org_id = $1 AND agent_id = $2 AND version = $3")
            .bind(org_id)
            .bind(agent_id)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("agent version"))?;
        tx.commit().await.map_err(db)?;
        Self::version_from_row(agent_id, &row)
    }

    async fn list_agent_versions(&self, org_id: Uuid, agent_id: Uuid) -> Result<Vec<AgentVersion>> {
        self.get_agent(org_id, agent_id).await?;
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query("SELECT version, spec, created_at FROM agent_versions WHERE org_id = $1 AND agent_id = $2 ORDER BY version")
            .bind(org_id)
            .bind(agent_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter()
            .map(|r| Self::version_from_row(agent_id, r))
            .collect()
    }

    async fn create_run(&self, run: &NewRun, idempotency_key: Option<&str>) -> Result<(Run, bool)> {
        let now = Utc::now();
        let mut tx = self.tenant_tx(run.org_id).await?;
        let r = sqlx::query(
            "INSERT INTO runs (id, org_id, agent_id, agent_version, thread_id, status, input, idempotency_key, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9)",
        )
        .bind(run.id)
        .bind(run.org_id)
        .bind(run.agent_id)
        .bind(run.agent_version)
        .bind(run.thread_id)
        .bind(&run.input)
        .bind(idempotency_key)
        .bind(run.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {
                tx.commit().await.map_err(db)?;
                Ok((self.get_run(run.org_id, run.id).await?, true))
            }
            Err(e) if is_unique_violation(&e) && idempotency_key.is_some() => {
                tx.rollback().await.map_err(db)?;
                let mut tx = self.tenant_tx(run.org_id).await?;
                let row =
                    sqlx::query("SELECT * FROM runs WHERE org_id = $1 AND idempotency_key = $2")
                        .bind(run.org_id)
                        .bind(idempotency_key)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db)?;
                tx.commit().await.map_err(db)?;
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
        let mut tx = self.tenant_tx(org_id).await?;
        let row = sqlx::query("SELECT * FROM runs WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::NotFound("run"))?;
        tx.commit().await.map_err(db)?;
        Self::run_from_row(&row)
    }

    async fn get_run_unscoped(&self, id: Uuid) -> Result<Run> {
        let org = self.run_org(id).await?.ok_or(Error::NotFound("run"))?;
        self.get_run(org, id).await
    }

    async fn list_runs(
        &self,
        org_id: Uuid,
        agent_id: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Run>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows = sqlx::query(
            "SELECT * FROM runs WHERE org_id = $1 AND ($2::uuid IS NULL OR agent_id = $2) AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(org_id)
        .bind(agent_id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(Self::run_from_row).collect()
    }

    async fn list_thread_runs(&self, org_id: Uuid, thread_id: Uuid) -> Result<Vec<Run>> {
        let mut tx = self.tenant_tx(org_id).await?;
        let rows =
            sqlx::query("SELECT * FROM runs WHERE org_id = $1 AND thread_id = $2 ORDER BY id")
                .bind(org_id)
                .bind(thread_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(Self::run_from_row).collect()
    }

    async fn claim_run(&self, id: Uuid) -> Result<Option<i64>> {
        let Some(org) = self.run_org(id).await? else {
            return Ok(None);
        };
        let mut tx = self.tenant_tx(org).await?;
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, $1), executor_epoch = executor_epoch + 1 \
             WHERE id = $2 AND status IN ('queued', 'running') RETURNING executor_epoch",
        )
        .bind(Utc::now())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(epoch)
    }

    async fn update_run(&self, id: Uuid, epoch: i64, u: &RunUpdate) -> Result<()> {
        let org = self.run_org(id).await?.ok_or(Error::NotFound("run"))?;
        let mut tx = self.tenant_tx(org).await?;
        write_run_state(&mut tx, id, epoch, u).await?;
        tx.commit().await.map_err(db)
    }

    async fn finish_run(
        &self,
        id: Uuid,
        epoch: i64,
        u: &RunUpdate,
        last: &RunEventKind,
    ) -> Result<RunEvent> {
        let org = self.run_org(id).await?.ok_or(Error::NotFound("run"))?;
        let mut tx = self.tenant_tx(org).await?;
        // Event first: it takes the run row's lock and checks the epoch under it.
        let event = insert_event(&mut tx, org, id, epoch, last).await?;
        write_run_state(&mut tx, id, epoch, u).await?;
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
        let mut tx = self.tenant_tx(org_id).await?;
        sqlx::query("UPDATE runs SET cancel_requested = true WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(RUN_CANCELS_CHANNEL)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn cancel_requested(&self, id: Uuid) -> Result<bool> {
        let Some(org) = self.run_org(id).await? else {
            return Ok(false);
        };
        let mut tx = self.tenant_tx(org).await?;
        let v: Option<bool> = sqlx::query_scalar("SELECT cancel_requested FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(v == Some(true))
    }

    async fn append_event(
        &self,
        run_id: Uuid,
        epoch: i64,
        kind: &RunEventKind,
    ) -> Result<RunEvent> {
        let org = self.run_org(run_id).await?.ok_or(Error::NotFound("run"))?;
        let mut tx = self.tenant_tx(org).await?;
        let event = insert_event(&mut tx, org, run_id, epoch, kind).await?;
        tx.commit().await.map_err(db)?;
        Ok(event)
    }

    async fn list_events(&self, run_id: Uuid, after: i64, limit: u32) -> Result<Vec<RunEvent>> {
        let Some(org) = self.run_org(run_id).await? else {
            return Ok(vec![]);
        };
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query("SELECT seq, data, created_at FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
            .bind(run_id)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter()
            .map(|r| {
                let data: serde_json::Value = r.try_get("data").map_err(db)?;
                Ok(RunEvent {
                    run_id,
                    seq: r.try_get("seq").map_err(db)?,
                    kind: serde_json::from_value(data).map_err(Error::internal)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }
}

/// Writes a run's state under the fencing `epoch` (inside a tenant transaction). Errors:
/// [`Error::LeaseLost`] when another executor claimed the run since.
async fn write_run_state(
    conn: &mut PgConnection,
    id: Uuid,
    epoch: i64,
    u: &RunUpdate,
) -> Result<()> {
    let finished = u.status.is_terminal().then(Utc::now);
    let r = sqlx::query(
        "UPDATE runs SET status = $1, output = $2, error = $3, input_tokens = $4, output_tokens = $5, steps = $6, \
         finished_at = COALESCE($7, finished_at) WHERE id = $8 AND executor_epoch = $9",
    )
    .bind(u.status.as_str())
    .bind(&u.output)
    .bind(&u.error)
    .bind(u.usage.input_tokens as i64)
    .bind(u.usage.output_tokens as i64)
    .bind(u.steps)
    .bind(finished)
    .bind(id)
    .bind(epoch)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if r.rows_affected() == 0 {
        return Err(Error::LeaseLost);
    }
    Ok(())
}

/// Appends a run event with the next `seq` under the fencing `epoch` (inside a tenant
/// transaction of `org`). Errors: [`Error::LeaseLost`]; [`Error::NotFound`].
async fn insert_event(
    conn: &mut PgConnection,
    org: Uuid,
    run_id: Uuid,
    epoch: i64,
    kind: &RunEventKind,
) -> Result<RunEvent> {
    let now = Utc::now();
    let data = serde_json::to_value(kind).map_err(Error::internal)?;
    // Serializes appends to one run (SQLite has a single writer; here the run row's lock)
    // and checks the fencing epoch under that lock.
    let current: Option<i64> =
        sqlx::query_scalar("SELECT executor_epoch FROM runs WHERE id = $1 FOR UPDATE")
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    match current {
        None => return Err(Error::NotFound("run")),
        Some(e) if e != epoch => return Err(Error::LeaseLost),
        Some(_) => {}
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO run_events (run_id, seq, org_id, data, created_at) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM run_events WHERE run_id = $1 RETURNING seq",
    )
    .bind(run_id)
    .bind(org)
    .bind(&data)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    // Delivered to every listening process when the transaction commits (and never if it
    // rolls back): see PgStore::listen_runs.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(RUN_EVENTS_CHANNEL)
        .bind(run_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(RunEvent {
        run_id,
        seq,
        kind: kind.clone(),
        created_at: now,
    })
}

#[async_trait]
impl JobQueue for PgStore {
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        max_attempts: u32,
        delay: Duration,
    ) -> Result<Uuid> {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO jobs (id, queue, payload, status, max_attempts, available_at, created_at) \
             VALUES ($1, $2, $3, 'ready', $4, now() + make_interval(secs => $5), now())",
        )
        .bind(id)
        .bind(queue)
        .bind(payload)
        .bind(max_attempts.max(1) as i64)
        .bind(secs(delay))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(id)
    }

    async fn lease(&self, queue: &str, lease: Duration) -> Result<Option<Job>> {
        // A lease that expired on the last attempt means the consumer died every time: dead-letter.
        sqlx::query(
            "UPDATE jobs SET status = 'dead', last_error = COALESCE(last_error, 'lease expired') \
             WHERE queue = $1 AND status = 'leased' AND lease_expires_at <= now() AND attempt >= max_attempts",
        )
        .bind(queue)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let token = Uuid::new_v4();
        let row = sqlx::query(
            "UPDATE jobs SET status = 'leased', attempt = attempt + 1, lease_token = $1, lease_expires_at = now() + make_interval(secs => $2) \
             WHERE id = (SELECT id FROM jobs WHERE queue = $3 AND \
                ((status = 'ready' AND available_at <= now()) OR (status = 'leased' AND lease_expires_at <= now() AND attempt < max_attempts)) \
                ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, queue, payload, attempt, max_attempts, lease_expires_at",
        )
        .bind(token)
        .bind(secs(lease))
        .bind(queue)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Job {
            id: row.try_get("id").map_err(db)?,
            queue: row.try_get("queue").map_err(db)?,
            payload: row.try_get("payload").map_err(db)?,
            attempt: row.try_get::<i64, _>("attempt").map_err(db)? as u32,
            max_attempts: row.try_get::<i64, _>("max_attempts").map_err(db)? as u32,
            lease_token: token,
            lease_expires_at: row
                .try_get::<DateTime<Utc>, _>("lease_expires_at")
                .map_err(db)?,
        }))
    }

    async fn heartbeat(&self, job_id: Uuid, lease_token: Uuid, lease: Duration) -> Result<bool> {
        let r = sqlx::query("UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $1) WHERE id = $2 AND lease_token = $3 AND status = 'leased'")
            .bind(secs(lease))
            .bind(job_id)
            .bind(lease_token)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    async fn complete(&self, job_id: Uuid, lease_token: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM jobs WHERE id = $1 AND lease_token = $2")
            .bind(job_id)
            .bind(lease_token)
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
             available_at = now() + make_interval(secs => $1), last_error = $2, lease_token = NULL, lease_expires_at = NULL \
             WHERE id = $3 AND lease_token = $4",
        )
        .bind(secs(retry_in))
        .bind(error)
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn dead_letters(&self, queue: &str) -> Result<Vec<(Uuid, serde_json::Value, String)>> {
        let rows = sqlx::query("SELECT id, payload, COALESCE(last_error, '') AS last_error FROM jobs WHERE queue = $1 AND status = 'dead' ORDER BY id")
            .bind(queue)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id").map_err(db)?,
                    r.try_get("payload").map_err(db)?,
                    r.try_get("last_error").map_err(db)?,
                ))
            })
            .collect()
    }
}
