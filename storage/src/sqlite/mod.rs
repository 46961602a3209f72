//! [`SqliteStore`]: the embedded backend of every store trait
//! ([`Store`](autonoma_core::store::Store) and [`JobQueue`](autonoma_core::store::JobQueue))
//! on one SQLite file (WAL mode, `busy_timeout` 5 s, foreign keys on), migrations from
//! `migrations/sqlite` applied by [`SqliteStore::migrate`]. One module per area.
//!
//! Tenant scoping: every tenant query has `org_id = $n` in its `WHERE` clause; rows of other
//! organizations are indistinguishable from missing ones. Ids are stored as hyphenated
//! `TEXT` (decoded as [`Id`]); times as sqlx's `TEXT` encoding of `DateTime<Utc>`, except the
//! queue's millisecond integers.

use std::str::FromStr;
use std::time::Duration;

use autonoma_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

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
mod runs;

/// How write transactions begin on SQLite: `BEGIN IMMEDIATE` takes the write lock up front
/// (waiting up to `busy_timeout`). A deferred transaction that reads first and writes later
/// can instead fail at once with `SQLITE_BUSY` when another connection writes in between
/// (WAL mode cannot upgrade a stale read snapshot); that made a test flaky.
pub(crate) const WRITE_TX: &str = "BEGIN IMMEDIATE";

/// How ids are decoded from SQLite's `TEXT` columns (into [`uuid::Uuid`] by the row types).
pub(crate) type Id = uuid::fmt::Hyphenated;

/// Migrations embedded at compile time from `migrations/sqlite`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The SQLite store and queue.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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

    /// Begins a write transaction ([`WRITE_TX`]: the write lock is taken up front). Use with
    /// [`in_tx!`](crate::error::in_tx).
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool.begin_with(WRITE_TX).await.map_err(db)
    }
}
