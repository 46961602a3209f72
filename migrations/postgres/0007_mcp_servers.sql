-- MCP server connections of organizations: how to reach each server (stdio command or
-- streamable HTTP URL), its secrets sealed, and the tools its last tools/list returned.

CREATE TABLE mcp_servers (
    id                 uuid PRIMARY KEY,
    org_id             uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name               text NOT NULL,                  -- slug, prefix of its tools' names
    transport          text NOT NULL CHECK (transport IN ('stdio', 'streamable_http')),
    command            text,                           -- stdio: absolute path
    args               jsonb NOT NULL DEFAULT '[]',    -- array of strings
    env_names          jsonb NOT NULL DEFAULT '[]',    -- values are in secrets_sealed
    url                text,                           -- streamable_http endpoint
    header_names       jsonb NOT NULL DEFAULT '[]',    -- values are in secrets_sealed
    has_bearer_token   boolean NOT NULL DEFAULT false,
    secrets_sealed     bytea,                          -- XChaCha20-Poly1305: nonce || ciphertext of McpSecrets JSON
    timeout_secs       bigint NOT NULL,
    tools              jsonb NOT NULL DEFAULT '[]',    -- array of McpTool
    tools_refreshed_at timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX mcp_servers_org ON mcp_servers(org_id, id);

ALTER TABLE mcp_servers ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_servers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mcp_servers
    USING (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid)
    WITH CHECK (org_id = NULLIF(current_setting('autonoma.org_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON mcp_servers TO autonoma_app;
