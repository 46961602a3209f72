//! In-process wake-ups of a run's followers and executor ([`RunNotifier`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use uuid::Uuid;

/// Wakes SSE followers when a run gets new events: called by this process's executor, and
/// on PostgreSQL for events of other processes too (the binary forwards the store's
/// `LISTEN` notifications here). Followers also poll every 500 ms as a safety net.
#[derive(Default)]
pub struct RunNotifier {
    inner: Mutex<HashMap<Uuid, Arc<Notify>>>,
}

impl RunNotifier {
    /// The [`Notify`] for a run (created on first use).
    pub fn for_run(&self, run_id: Uuid) -> Arc<Notify> {
        self.inner
            .lock()
            .unwrap()
            .entry(run_id)
            .or_default()
            .clone()
    }
    /// Wakes every waiter of a run.
    pub fn notify(&self, run_id: Uuid) {
        if let Some(n) = self.inner.lock().unwrap().get(&run_id) {
            n.notify_waiters();
        }
    }
    /// Forgets a finished run.
    pub fn forget(&self, run_id: Uuid) {
        self.inner.lock().unwrap().remove(&run_id);
    }
}
