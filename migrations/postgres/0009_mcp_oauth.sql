-- OAuth 2.1 (authorization code + PKCE) for streamable HTTP MCP connections: the public
-- OAuth state of a connection (its tokens are sealed in secrets_sealed with the other
-- secrets), and the authorizations in progress between POST …/authorize and the callback.

ALTER TABLE mcp_servers ADD COLUMN oauth jsonb;  -- McpOAuth; NULL: no OAuth

CREATE TABLE mcp_oauth_pending (
    state_hash   text PRIMARY KEY,             -- hex SHA-256 of the state parameter
    org_id       uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id    uuid NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    flow_sealed  bytea NOT NULL,               -- XChaCha20-Poly1305: PKCE verifier, client registration
    redirect_uri text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX mcp_oauth_pending_org ON mcp_oauth_pending(org_id, expires_at);

ALTER TABLE mcp_oauth_pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_oauth_pending FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mcp_oauth_pending
    USING (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
    WITH CHECK (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON mcp_oauth_pending TO autonoma_app;
