-- Tool policies and approvals (core/src/policy.rs, core/src/service/governance.rs).
-- Every table carries org_id; every query filters by it.

-- Organization-wide tool policy rules, checked after an agent's own rules, by priority
-- (lower first), then age.
CREATE TABLE policies (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    tool        TEXT NOT NULL,  -- exact tool name, '*', or a prefix ending in '*'
    action      TEXT NOT NULL CHECK (action IN ('allow','deny','require_approval')),
    when_expr   TEXT,           -- CEL over `args`; NULL = always
    priority    INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX policies_org ON policies(org_id, priority, created_at);

-- One row per tool call that needed a person's decision. (run_id, call_id) is unique, so
-- an executor that requests the same approval again (a resumed run) finds the first one.
CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    run_id           TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    agent_id         TEXT NOT NULL,
    step             INTEGER NOT NULL,
    call_id          TEXT NOT NULL,
    tool             TEXT NOT NULL,
    arguments        TEXT NOT NULL,
    rule             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending','approved','denied','expired')),
    comment          TEXT NOT NULL DEFAULT '',
    edited_arguments TEXT,
    decided_by       TEXT,
    decided_at       TEXT,
    expires_at       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (run_id, call_id)
);
CREATE INDEX approvals_org_status ON approvals(org_id, status, id);
