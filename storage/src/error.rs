//! What both backends share around a statement: mapping sqlx errors into the domain's
//! [`Error`], and running a body inside a transaction that commits only when it succeeds.

use std::future::Future;

use autonoma_core::{Error, Result};
use sqlx::{Database, Transaction};

/// Any database failure: [`Error::Internal`] with sqlx's message.
pub(crate) fn db(e: sqlx::Error) -> Error {
    Error::internal(format!("database: {e}"))
}

/// Whether `e` is a violated UNIQUE (or primary key) constraint.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// `r` with a unique violation reported as [`Error::Conflict`] (`message`) and any other
/// failure as [`db`].
pub(crate) fn conflict_on_unique<T>(r: sqlx::Result<T>, message: &str) -> Result<T> {
    r.map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict(message.into())
        } else {
            db(e)
        }
    })
}

/// Awaits `body` (an `async` block whose `?` converts into [`Error`]: the bound names its
/// output type for inference).
pub(crate) async fn body<T>(body: impl Future<Output = Result<T>>) -> Result<T> {
    body.await
}

/// Commits `tx` when `out` is `Ok`; otherwise drops it, which rolls it back.
pub(crate) async fn finish<DB: Database, T>(tx: Transaction<'_, DB>, out: Result<T>) -> Result<T> {
    let value = out?;
    tx.commit().await.map_err(db)?;
    Ok(value)
}

/// `in_tx!(begin, |c| body)`: awaits `begin` (a future of `Result<Transaction>`, e.g.
/// `self.tenant_tx(org_id)` or `self.write_tx()`), runs the `async` body with `c` bound to
/// the transaction's connection, then commits when the body returned `Ok` and rolls back
/// (drops the transaction) when it returned `Err`, which is returned. The one way the stores
/// run a multi-statement or tenant-scoped unit of work.
macro_rules! in_tx {
    ($begin:expr, |$c:ident| $body:expr) => {{
        let mut tx = $begin.await?;
        let out = $crate::error::body(async {
            let $c = &mut *tx;
            $body
        })
        .await;
        $crate::error::finish(tx, out).await
    }};
}
pub(crate) use in_tx;
