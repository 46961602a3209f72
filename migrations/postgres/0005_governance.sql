-- Tool policies and approvals (core/src/policy.rs, core/src/service/governance.rs), as in
-- migrations/sqlite/0005_governance.sql. Both tables carry org_id and are under the same
-- FORCEd row-level security policy as 0001 (see its header).

-- Organization-wide tool policy rules, checked after an agent's own rules, by priority
-- (lower first), then age.
CREATE TABLE policies (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    tool        text NOT NULL,  -- exact tool name, '*', or a prefix ending in '*'
    action      text NOT NULL CHECK (action IN ('allow','deny','require_approval')),
    when_expr   text,           -- CEL over `args`; NULL = always
    priority    integer NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX policies_org ON policies(org_id, priority, created_at);

-- One row per tool call that needed a person's decision. (run_id, call_id) is unique, so
-- an executor that requests the same approval again (a resumed run) finds the first one.
CREATE TABLE approvals (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    run_id           uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    agent_id         uuid NOT NULL,
    step             bigint NOT NULL,
    call_id          text NOT NULL,
    tool             text NOT NULL,
    arguments        jsonb NOT NULL,
    rule             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending','approved','denied','expired')),
    comment          text NOT NULL DEFAULT '',
    edited_arguments jsonb,
    decided_by       uuid,
    decided_at       timestamptz,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    UNIQUE (run_id, call_id)
);
CREATE INDEX approvals_org_status ON approvals(org_id, status, id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['policies', 'approvals'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
            WITH CHECK (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON policies, approvals TO autonoma_app;
