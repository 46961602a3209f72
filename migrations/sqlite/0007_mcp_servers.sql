-- MCP server connections of organizations: how to reach each server (stdio command or
-- streamable HTTP URL), its secrets sealed, and the tools its last tools/list returned.

CREATE TABLE mcp_servers (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,               -- slug, prefix of its tools' names
    transport          TEXT NOT NULL CHECK (transport IN ('stdio', 'streamable_http')),
    command            TEXT,                        -- stdio: absolute path
    args               TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
    env_names          TEXT NOT NULL DEFAULT '[]',  -- JSON array (values are in secrets_sealed)
    url                TEXT,                        -- streamable_http endpoint
    header_names       TEXT NOT NULL DEFAULT '[]',  -- JSON array (values are in secrets_sealed)
    has_bearer_token   INTEGER NOT NULL DEFAULT 0,
    secrets_sealed     BLOB,                        -- XChaCha20-Poly1305: nonce || ciphertext of McpSecrets JSON
    timeout_secs       INTEGER NOT NULL,
    tools              TEXT NOT NULL DEFAULT '[]',  -- JSON array of McpTool
    tools_refreshed_at TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX mcp_servers_org ON mcp_servers(org_id, id);
