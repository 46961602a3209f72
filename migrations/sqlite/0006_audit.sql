-- The audit log (core/src/audit.rs, docs/AUDIT.md): one hash chain per organization,
-- numbered seq = 1, 2, … without gaps. Each row is one signed entry; `details` is the
-- RFC 8785 canonical JSON text of the entry's details, so the row gives back exactly the
-- signed value. The same table as migrations/postgres/0006_audit.sql.
--
-- Append-only: the triggers refuse UPDATE and DELETE (someone with the file can drop
-- them, which is what the hash chain and the signatures catch). Organizations with audit
-- entries therefore cannot be deleted (no cascade).
CREATE TABLE audit_log (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id),
    seq              INTEGER NOT NULL,
    at               TEXT NOT NULL,
    actor_kind       TEXT NOT NULL CHECK (actor_kind IN ('user','api_key','system')),
    actor_user_id    TEXT,
    actor_api_key_id TEXT,
    action           TEXT NOT NULL,
    target           TEXT,
    details          TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    key_id           TEXT NOT NULL,
    signature        TEXT NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX audit_log_org_action ON audit_log(org_id, action, seq);
CREATE INDEX audit_log_org_actor ON audit_log(org_id, actor_user_id, seq);
CREATE INDEX audit_log_org_at ON audit_log(org_id, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
