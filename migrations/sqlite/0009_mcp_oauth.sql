-- OAuth 2.1 (authorization code + PKCE) for streamable HTTP MCP connections: the public
-- OAuth state of a connection (its tokens are sealed in secrets_sealed with the other
-- secrets), and the authorizations in progress between POST …/authorize and the callback.

ALTER TABLE mcp_servers ADD COLUMN oauth TEXT;  -- JSON McpOAuth; NULL: no OAuth

CREATE TABLE mcp_oauth_pending (
    state_hash   TEXT PRIMARY KEY,             -- hex SHA-256 of the state parameter
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    server_id    TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    flow_sealed  BLOB NOT NULL,                -- XChaCha20-Poly1305: PKCE verifier, client registration
    redirect_uri TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX mcp_oauth_pending_org ON mcp_oauth_pending(org_id, expires_at);
