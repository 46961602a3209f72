//! Shared rate-limit states (not tenant data: they guard logins, before any tenant is known).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;

/// The stored states of [`crate::rate_limit`]'s GCRA limits.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Applies one GCRA decision ([`crate::rate_limit::gcra`] with `quota` at `now`) to the
    /// stored state of `key` (a [`crate::rate_limit::key`], 32 bytes), atomically for every
    /// process on this database: concurrent calls for one key are serialized (a row lock on
    /// PostgreSQL, the write lock on SQLite), so `burst` concurrent requests from any mix of
    /// processes are allowed and the next is not. An allowed request stores the new state;
    /// a denied one stores nothing. States that have run out (older than `now`) are deleted
    /// along the way. Returns `Ok(Err(wait))` when denied.
    async fn rate_limit(
        &self,
        key: &[u8],
        quota: crate::rate_limit::Quota,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Duration>>;
}
