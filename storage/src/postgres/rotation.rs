//! Short-lived database passwords (RDS IAM auth tokens): the pool's connect options are
//! re-issued with a fresh password before the old one expires.
//!
//! PostgreSQL checks the password only when a connection opens, so open connections are
//! unaffected; only connections opened later use the new password. Refreshes happen from
//! a background loop ([`PasswordRotation::run`]) and, where a process can be frozen for a
//! long time (an AWS Lambda function between invocations), also at the start of each unit
//! of work ([`PasswordRotation::ensure_fresh`]), so a thawed process never opens a
//! connection with an expired password.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use autonoma_core::Result;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

/// Issues passwords for the application login, e.g. an RDS IAM auth token generator.
#[async_trait]
pub trait PasswordSource: Send + Sync {
    /// A password valid now, for at least the rotation's `max_age` plus the time a
    /// connection takes to open. Errors: whatever keeps one from being issued.
    async fn password(&self) -> Result<String>;
}

/// Keeps a pool's connect options carrying a password younger than `max_age`.
pub struct PasswordRotation {
    pool: PgPool,
    /// The options without the password.
    base: PgConnectOptions,
    source: Arc<dyn PasswordSource>,
    max_age: Duration,
    /// Wall-clock time of the last successful refresh (wall clock, not monotonic: a frozen
    /// process must see the time that passed while frozen).
    issued: Mutex<SystemTime>,
    /// Serialises refreshes so concurrent callers do not all issue a password.
    refreshing: tokio::sync::Mutex<()>,
}

impl PasswordRotation {
    pub(crate) fn new(
        pool: PgPool,
        base: PgConnectOptions,
        source: Arc<dyn PasswordSource>,
        max_age: Duration,
        issued: SystemTime,
    ) -> Self {
        PasswordRotation {
            pool,
            base,
            source,
            max_age,
            issued: Mutex::new(issued),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Age of the password in the pool's options (zero if the clock went backwards).
    pub fn age(&self) -> Duration {
        let issued = *self.issued.lock().unwrap_or_else(|p| p.into_inner());
        SystemTime::now().duration_since(issued).unwrap_or_default()
    }

    /// Issues a password now and makes the pool's future connections use it.
    /// Errors: the source's; the previous password stays in place.
    pub async fn refresh(&self) -> Result<()> {
        let _one = self.refreshing.lock().await;
        self.refresh_locked().await
    }

    async fn refresh_locked(&self) -> Result<()> {
        let password = self.source.password().await?;
        self.pool
            .set_connect_options(self.base.clone().password(&password));
        *self.issued.lock().unwrap_or_else(|p| p.into_inner()) = SystemTime::now();
        Ok(())
    }

    /// [`PasswordRotation::refresh`] when the password is `max_age` old or older; a cheap
    /// clock comparison otherwise. Errors: the source's.
    pub async fn ensure_fresh(&self) -> Result<()> {
        if self.age() < self.max_age {
            return Ok(());
        }
        let _one = self.refreshing.lock().await;
        if self.age() < self.max_age {
            return Ok(()); // another caller refreshed while we waited
        }
        self.refresh_locked().await
    }

    /// Calls [`PasswordRotation::ensure_fresh`] every `every` until the pool is closed,
    /// logging failures (the next tick retries). Spawn it once per pool.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.pool.close_event() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.ensure_fresh().await {
                tracing::warn!(error = %e, age_secs = self.age().as_secs(), "refreshing the database password failed; retrying");
            }
        }
    }
}
