//! # autonoma-storage
//!
//! Both backends of every store trait of `autonoma_core::store`
//! ([`Store`](autonoma_core::store::Store) — accounts, API keys, providers, agents, runs, rate
//! limits, knowledge — and [`JobQueue`](autonoma_core::store::JobQueue)), side by side, one
//! module per area on each side:
//!
//! * [`sqlite`] — [`SqliteStore`], the embedded backend on one SQLite file (WAL);
//! * [`postgres`] — [`PgStore`], PostgreSQL with forced row-level security per tenant, for
//!   several processes on one database;
//! * [`blob`] — [`LocalBlobStore`]: blobs in a local folder.
//!
//! What the two share lives here: the row types both decode with `sqlx::FromRow`
//! (`rows`), the statements whose text is the same on both engines (`sql`), and the error
//! mapping and the commit-on-success transaction helper (`error`).
//!
//! Tenant scoping: every tenant query has `org_id = $n` in its `WHERE` clause; rows of other
//! organizations are indistinguishable from missing ones.

mod error;
mod rows;
mod sql;

pub mod blob;
pub mod postgres;
pub mod sqlite;

pub use blob::LocalBlobStore;
pub use postgres::{PasswordRotation, PasswordSource, PgEndpoint, PgStore, RunSignal, PG_MIGRATOR};
pub use sqlite::{SqliteStore, MIGRATOR};

/// How stale an API key's `last_used_at` may get before a request rewrites it (60 s).
pub const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
