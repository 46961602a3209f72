//! [`PgStore`]: the PostgreSQL backend of every store trait
//! ([`Store`](autonoma_core::store::Store) and [`JobQueue`](autonoma_core::store::JobQueue)),
//! for the cloud shape (several API and worker processes on one database). One module per
//! area, the same areas as `crate::sqlite`.
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

use autonoma_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::db;

mod accounts;
mod agents;
mod api_keys;
mod audit;
mod governance;
mod jobs;
mod knowledge;
mod limits;
mod mcp;
mod providers;
mod rotation;
mod runs;

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
    /// Every tenant read and write runs in one (with [`in_tx!`](crate::error::in_tx)).
    pub async fn tenant_tx(&self, org_id: Uuid) -> Result<Transaction<'static, Postgres>> {
        self.begin_tenant(org_id, None).await
    }

    /// [`PgStore::tenant_tx`] as one read-only `REPEATABLE READ` snapshot: every statement
    /// sees the same moment.
    pub(crate) async fn tenant_snapshot_tx(
        &self,
        org_id: Uuid,
    ) -> Result<Transaction<'static, Postgres>> {
        self.begin_tenant(
            org_id,
            Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"),
        )
        .await
    }

    async fn begin_tenant(
        &self,
        org_id: Uuid,
        mode: Option<&str>,
    ) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        if let Some(mode) = mode {
            // Must precede every other statement of the transaction.
            sqlx::query(mode).execute(&mut *tx).await.map_err(db)?;
        }
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
}
