-- The audit log (core/src/audit.rs, docs/AUDIT.md), as in migrations/sqlite/0006_audit.sql:
-- one hash chain per organization, seq = 1, 2, … without gaps; `details` is the RFC 8785
-- canonical JSON text of the entry's details (text, not jsonb, so the row gives back
-- exactly the signed value).
--
-- Appends serialize per organization on a transaction-scoped advisory lock
-- (pg_advisory_xact_lock(hashtextextended('autonoma.audit:' || org_id, 0))), taken before
-- the head is read; UNIQUE (org_id, seq) backs it up.
--
-- Append-only: the application role may only SELECT and INSERT (no UPDATE, no DELETE);
-- rows are under the same FORCEd row-level security policy as 0001. Organizations with
-- audit entries cannot be deleted (no cascade).
CREATE TABLE audit_log (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organizations(id),
    seq              bigint NOT NULL,
    at               timestamptz NOT NULL,
    actor_kind       text NOT NULL CHECK (actor_kind IN ('user','api_key','system')),
    actor_user_id    uuid,
    actor_api_key_id uuid,
    action           text NOT NULL,
    target           text,
    details          text NOT NULL,
    prev_hash        text NOT NULL,
    hash             text NOT NULL,
    key_id           text NOT NULL,
    signature        text NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX audit_log_org_action ON audit_log(org_id, action, seq);
CREATE INDEX audit_log_org_actor ON audit_log(org_id, actor_user_id, seq);
CREATE INDEX audit_log_org_at ON audit_log(org_id, at);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
    WITH CHECK (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid);

GRANT SELECT, INSERT ON audit_log TO autonoma_app;
