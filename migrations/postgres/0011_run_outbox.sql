-- Transactional outbox for run creation. Creating a run writes two places: its row here
-- and its job in the queue (this database's `jobs`, or SQS in the cloud shape), and no
-- transaction spans both. The run's outbox row is inserted in the run's own transaction
-- and deleted once its job is enqueued; a process killed in between leaves the row, and
-- a recovery sweep (core/src/worker.rs, `requeue_unqueued_runs`) enqueues the job when
-- `due_at` has passed. Claiming a row moves `due_at` forward (a lease), so concurrent
-- sweepers in several processes do not enqueue one run twice.
--
-- Cross-tenant table (a documented exception, like `jobs`): the sweep runs before any
-- tenant is known and the rows hold run ids only; no row-level security.
CREATE TABLE run_outbox (
    run_id uuid PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    due_at timestamptz NOT NULL
);
CREATE INDEX run_outbox_due ON run_outbox(due_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON run_outbox TO autonoma_app;
