-- Autonoma schema (PostgreSQL). The same tables as migrations/sqlite/0001_init.sql, with
-- native types (uuid, timestamptz, jsonb, bytea, bigint).
--
-- Roles. This migration runs as the OWNER role (it owns every table and function). The
-- application connects as a different, non-owner login role that is a member of
-- `autonoma_app` (created here, NOLOGIN, when missing; the owner then needs CREATEROLE, or
-- an administrator creates `autonoma_app` first). `autonoma_app` gets plain DML on the
-- tables and nothing else: it cannot alter tables, policies or functions.
--
-- Tenant isolation (row-level security). Every table whose rows belong to one
-- organization (a column org_id; for `organizations` its id) has RLS ENABLEd and FORCEd
-- (so the owner is subject to it too) with the single policy `tenant_isolation`:
--     USING / WITH CHECK (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
-- The store sets `autonoma.org_id` per transaction (set_config(..., true)). Without it
-- current_setting(..., true) is NULL (or '' on a connection that had it set in an earlier
-- transaction; NULLIF maps that to NULL too), `org_id = NULL` is never true, and every
-- query sees and may write no row: a forgotten tenant fails closed.
--
-- Cross-tenant tables and lookups (documented exceptions):
--   * users: an identity may belong to several organizations, so it is not a tenant row;
--     no RLS (login by e-mail and member invitations read it).
--   * jobs: the durable queue is shared by all tenants' workers; no org_id, no RLS.
--   * Four lookups happen before the tenant is known. They are SECURITY DEFINER functions
--     owned by the owner role, with a fixed search_path, each returning only the rows for
--     one secret or one id:
--       autonoma_session_by_token(bytea)  – a session by its token's SHA-256
--       autonoma_api_key_by_hash(bytea)   – an unrevoked API key by its hash
--       autonoma_user_memberships(uuid)   – a user's memberships (org picker after login)
--       autonoma_run_org(uuid)            – the organization of a run (the executor gets
--                                           bare run ids from the queue)
--     For them to see rows despite FORCE RLS, the owner role alone has an extra permissive
--     SELECT-only policy `owner_lookup` on the tables they read (sessions, api_keys,
--     memberships, organizations, runs). The application role never matches it, and all
--     writes, by anyone, still go through `tenant_isolation`.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL
);
-- Case-insensitive uniqueness, like SQLite's COLLATE NOCASE.
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE organizations (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE memberships (
    org_id     uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner','admin','member','viewer')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id     uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_org ON sessions(org_id);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    role         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_org ON api_keys(org_id);

CREATE TABLE provider_connections (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name           text NOT NULL,
    kind           text NOT NULL,
    base_url       text,
    models         jsonb NOT NULL, -- array of strings
    api_key_sealed bytea,          -- XChaCha20-Poly1305: nonce || ciphertext
    created_at     timestamptz NOT NULL
);
CREATE INDEX provider_connections_org ON provider_connections(org_id);

CREATE TABLE agents (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    current_version bigint NOT NULL,
    provider_id     uuid NOT NULL, -- of the current version, to refuse deleting a used provider
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deleted_at      timestamptz
);
CREATE INDEX agents_org ON agents(org_id, id);

CREATE TABLE agent_versions (
    agent_id   uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    version    bigint NOT NULL,
    org_id     uuid NOT NULL,
    spec       jsonb NOT NULL, -- AgentSpec
    created_at timestamptz NOT NULL,
    PRIMARY KEY (agent_id, version)
);
CREATE INDEX agent_versions_org ON agent_versions(org_id);

CREATE TABLE runs (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_id         uuid NOT NULL REFERENCES agents(id),
    agent_version    bigint NOT NULL,
    thread_id        uuid NOT NULL,
    status           text NOT NULL,
    input            text NOT NULL,
    output           text,
    error            text,
    input_tokens     bigint NOT NULL DEFAULT 0,
    output_tokens    bigint NOT NULL DEFAULT 0,
    steps            bigint NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    idempotency_key  text,
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (org_id, idempotency_key)
);
CREATE INDEX runs_org_agent ON runs(org_id, agent_id, id);
CREATE INDEX runs_thread ON runs(org_id, thread_id, id);

-- Unlike SQLite, events carry org_id so that RLS can scope them without a join.
CREATE TABLE run_events (
    run_id     uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    org_id     uuid NOT NULL,
    data       jsonb NOT NULL, -- RunEventKind (tagged by "type")
    created_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_events_org ON run_events(org_id);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    queue            text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('ready','leased','dead')),
    attempt          bigint NOT NULL DEFAULT 0,
    max_attempts     bigint NOT NULL,
    available_at     timestamptz NOT NULL,
    lease_token      uuid,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL
);
CREATE INDEX jobs_ready ON jobs(queue, status, available_at);

-- ---- row-level security
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['memberships', 'sessions', 'api_keys', 'provider_connections', 'agents',
                             'agent_versions', 'runs', 'run_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
            WITH CHECK (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)$p$, t);
    END LOOP;
    -- An organization is its own tenant.
    ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
    ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON organizations
        USING (id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
        WITH CHECK (id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid);
    -- Read-only visibility for the owner role, which runs the SECURITY DEFINER lookups below.
    FOREACH t IN ARRAY ARRAY['sessions', 'api_keys', 'memberships', 'organizations', 'runs'] LOOP
        EXECUTE format('CREATE POLICY owner_lookup ON %I FOR SELECT TO %I USING (true)', t, current_user);
    END LOOP;
END
$$;

-- ---- pre-tenant lookups (SECURITY DEFINER, owned by the owner role)
CREATE FUNCTION autonoma_session_by_token(p_token_hash bytea)
RETURNS TABLE (user_id uuid, org_id uuid, csrf_token text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT s.user_id, s.org_id, s.csrf_token, s.expires_at FROM public.sessions s WHERE s.token_hash = p_token_hash
$$;

CREATE FUNCTION autonoma_api_key_by_hash(p_key_hash bytea)
RETURNS SETOF api_keys
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM public.api_keys k WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
$$;

CREATE FUNCTION autonoma_user_memberships(p_user_id uuid)
RETURNS TABLE (org_id uuid, user_id uuid, role text, email text, org_name text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT m.org_id, m.user_id, m.role, u.email, o.name, m.created_at
    FROM public.memberships m JOIN public.users u ON u.id = m.user_id JOIN public.organizations o ON o.id = m.org_id
    WHERE m.user_id = p_user_id
    ORDER BY m.created_at, m.org_id
$$;

CREATE FUNCTION autonoma_run_org(p_run_id uuid)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT r.org_id FROM public.runs r WHERE r.id = p_run_id
$$;

-- ---- the application role
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'autonoma_app') THEN
        CREATE ROLE autonoma_app NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO autonoma_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, organizations, memberships, sessions, api_keys,
    provider_connections, agents, agent_versions, runs, run_events, jobs TO autonoma_app;
REVOKE EXECUTE ON FUNCTION autonoma_session_by_token(bytea), autonoma_api_key_by_hash(bytea),
    autonoma_user_memberships(uuid), autonoma_run_org(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION autonoma_session_by_token(bytea), autonoma_api_key_by_hash(bytea),
    autonoma_user_memberships(uuid), autonoma_run_org(uuid) TO autonoma_app;
