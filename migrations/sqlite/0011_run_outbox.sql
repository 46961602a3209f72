-- Transactional outbox for run creation (see migrations/postgres/0011_run_outbox.sql): the
-- run's row is inserted with its outbox row in one transaction; the row is deleted once the
-- run's job is enqueued, and a recovery sweep enqueues the job of any row left past due_at.
CREATE TABLE run_outbox (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    due_at INTEGER NOT NULL -- Unix time in milliseconds
);
CREATE INDEX run_outbox_due ON run_outbox(due_at);
