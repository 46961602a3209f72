//! Statements that are the same text on SQLite and PostgreSQL (both accept `$N`
//! parameters; SQLite binds ids as hyphenated text, PostgreSQL as `uuid`). Where the engines
//! differ (row-level security lookups, `FOR UPDATE [SKIP LOCKED]`, `uuid[]` vs `json_each`,
//! typed `NULL` checks, time arithmetic) each backend keeps its own statement next to its
//! code. Each constant lists its parameters in order.

/// The select list of a membership with the user's e-mail and the organization's name
/// (a macro so that statements can extend it with `concat!`).
macro_rules! membership_select {
    () => {
        "SELECT m.org_id, m.user_id, m.role, u.email, o.name AS org_name \
         FROM memberships m JOIN users u ON u.id = m.user_id JOIN organizations o ON o.id = m.org_id"
    };
}

/// An agent with its current version's spec.
macro_rules! agent_select {
    () => {
        "SELECT a.id, a.org_id, a.current_version, a.created_at, a.updated_at, v.spec \
         FROM agents a JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.current_version"
    };
}

/// The columns of a document row (without `blob_key`).
macro_rules! doc_columns {
    () => {
        "id, kb_id, org_id, name, media_type, size_bytes, sha256, status, chunks_total, chunks_embedded, error, created_at"
    };
}
/// The columns of a chunk row, table alias `c`.
macro_rules! chunk_columns {
    () => {
        "c.id, c.document_id, c.kb_id, c.ordinal, c.text, c.heading, c.page, c.start_char, c.end_char, c.token_count"
    };
}
pub(crate) use {agent_select, chunk_columns, doc_columns, membership_select};

// ---- accounts
/// id, email, name, password_hash, created_at.
pub(crate) const INSERT_USER: &str =
    "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)";
/// id, name, created_at.
pub(crate) const INSERT_ORG: &str =
    "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)";
/// org_id, user_id, created_at.
pub(crate) const INSERT_OWNER: &str =
    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)";
/// org_id, user_id.
pub(crate) const ROLE_OF: &str = "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2";
/// org_id, user_id, role, created_at.
/// The conflict of a change that would leave an organization without an owner.
pub(crate) const LAST_OWNER: &str =
    "an organization keeps at least one owner: make another member owner first";

/// Changes nothing (0 rows) when it would take the organization's last owner away, so
/// an organization always keeps one; the check and the write are one statement.
pub(crate) const UPSERT_MEMBER: &str =
    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role \
     WHERE excluded.role = 'owner' OR memberships.role <> 'owner' \
        OR (SELECT count(*) FROM memberships o \
            WHERE o.org_id = excluded.org_id AND o.role = 'owner') > 1";
/// org_id, user_id.
pub(crate) const MEMBERSHIP: &str = concat!(
    membership_select!(),
    " WHERE m.org_id = $1 AND m.user_id = $2"
);
/// org_id.
pub(crate) const LIST_MEMBERS: &str = concat!(
    membership_select!(),
    " WHERE m.org_id = $1 ORDER BY u.email"
);
/// token_hash, user_id, org_id, csrf_token, expires_at.
pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions (token_hash, user_id, org_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)";
/// token_hash.
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";

// ---- API keys
/// id, org_id, user_id, name, prefix, key_hash, role, created_at.
pub(crate) const INSERT_API_KEY: &str = "INSERT INTO api_keys (id, org_id, user_id, name, prefix, key_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// org_id.
pub(crate) const LIST_API_KEYS: &str = "SELECT * FROM api_keys WHERE org_id = $1 ORDER BY id DESC";
/// now, org_id, id.
pub(crate) const REVOKE_API_KEY: &str =
    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE org_id = $2 AND id = $3";
/// now, org_id, id.
pub(crate) const TOUCH_API_KEY: &str =
    "UPDATE api_keys SET last_used_at = $1 WHERE org_id = $2 AND id = $3";

// ---- provider connections
/// id, org_id, name, kind, base_url, models (JSON), api_key_sealed, created_at.
pub(crate) const INSERT_PROVIDER: &str = "INSERT INTO provider_connections (id, org_id, name, kind, base_url, models, api_key_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// org_id.
pub(crate) const LIST_PROVIDERS: &str =
    "SELECT * FROM provider_connections WHERE org_id = $1 ORDER BY id";
/// org_id, id.
pub(crate) const GET_PROVIDER: &str =
    "SELECT * FROM provider_connections WHERE org_id = $1 AND id = $2";
/// org_id, provider_id.
pub(crate) const AGENTS_USING_PROVIDER: &str =
    "SELECT COUNT(*) FROM agents WHERE org_id = $1 AND provider_id = $2 AND deleted_at IS NULL";
/// org_id, id.
pub(crate) const DELETE_PROVIDER: &str =
    "DELETE FROM provider_connections WHERE org_id = $1 AND id = $2";

// ---- MCP server connections
/// id, org_id, name, transport, command, args (JSON), env_names (JSON), url, header_names (JSON),
/// has_bearer_token, secrets_sealed, timeout_secs, tools (JSON), tools_refreshed_at, created_at,
/// oauth (JSON or NULL).
pub(crate) const INSERT_MCP_SERVER: &str = "INSERT INTO mcp_servers (id, org_id, name, transport, command, args, env_names, url, header_names, has_bearer_token, secrets_sealed, timeout_secs, tools, tools_refreshed_at, created_at, oauth) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
/// org_id.
pub(crate) const LIST_MCP_SERVERS: &str = "SELECT * FROM mcp_servers WHERE org_id = $1 ORDER BY id";
/// org_id, id.
pub(crate) const GET_MCP_SERVER: &str = "SELECT * FROM mcp_servers WHERE org_id = $1 AND id = $2";
/// tools (JSON), tools_refreshed_at, org_id, id.
pub(crate) const SET_MCP_TOOLS: &str =
    "UPDATE mcp_servers SET tools = $1, tools_refreshed_at = $2 WHERE org_id = $3 AND id = $4";
/// org_id, id.
pub(crate) const DELETE_MCP_SERVER: &str = "DELETE FROM mcp_servers WHERE org_id = $1 AND id = $2";
/// `$1` oauth JSON, `$2` sealed secrets or NULL (kept), `$3` org, `$4` id.
pub(crate) const SET_MCP_OAUTH: &str = "UPDATE mcp_servers SET oauth = $1, secrets_sealed = COALESCE($2, secrets_sealed) WHERE org_id = $3 AND id = $4";
pub(crate) const INSERT_MCP_OAUTH_PENDING: &str = "INSERT INTO mcp_oauth_pending (state_hash, org_id, user_id, server_id, flow_sealed, redirect_uri, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// `$1` org, `$2` now.
pub(crate) const DELETE_EXPIRED_MCP_OAUTH_PENDING: &str =
    "DELETE FROM mcp_oauth_pending WHERE org_id = $1 AND expires_at < $2";
/// `$1` org, `$2` state hash: deleted and returned (single use).
pub(crate) const TAKE_MCP_OAUTH_PENDING: &str =
    "DELETE FROM mcp_oauth_pending WHERE org_id = $1 AND state_hash = $2 RETURNING *";

// ---- agents
/// id, org_id, provider_id, now (created and updated).
pub(crate) const INSERT_AGENT: &str = "INSERT INTO agents (id, org_id, current_version, provider_id, created_at, updated_at) VALUES ($1, $2, 1, $3, $4, $4)";
/// agent_id, version, org_id, spec (JSON), created_at.
pub(crate) const INSERT_AGENT_VERSION: &str = "INSERT INTO agent_versions (agent_id, version, org_id, spec, created_at) VALUES ($1, $2, $3, $4, $5)";
/// org_id, id.
pub(crate) const GET_AGENT: &str = concat!(
    agent_select!(),
    " WHERE a.org_id = $1 AND a.id = $2 AND a.deleted_at IS NULL"
);
/// provider_id, now, org_id, id; returns the new current_version.
pub(crate) const BUMP_AGENT_VERSION: &str =
    "UPDATE agents SET current_version = current_version + 1, provider_id = $1, updated_at = $2 \
     WHERE org_id = $3 AND id = $4 AND deleted_at IS NULL RETURNING current_version";
/// now, org_id, id.
pub(crate) const DELETE_AGENT: &str =
    "UPDATE agents SET deleted_at = $1 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL";
/// org_id, agent_id, version.
pub(crate) const GET_AGENT_VERSION: &str = "SELECT version, spec, created_at FROM agent_versions WHERE org_id = $1 AND agent_id = $2 AND version = $3";
/// org_id, agent_id.
pub(crate) const LIST_AGENT_VERSIONS: &str = "SELECT version, spec, created_at FROM agent_versions WHERE org_id = $1 AND agent_id = $2 ORDER BY version";

// ---- runs
/// id, org_id, agent_id, agent_version, thread_id, input, idempotency_key, created_by, created_at, mode, preflight_id.
pub(crate) const INSERT_RUN: &str =
    "INSERT INTO runs (id, org_id, agent_id, agent_version, thread_id, status, input, idempotency_key, created_by, created_at, mode, preflight_id) \
     VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $10, $11)";
/// run_id, due_at.
pub(crate) const INSERT_RUN_OUTBOX: &str =
    "INSERT INTO run_outbox (run_id, due_at) VALUES ($1, $2)";
/// run_id.
pub(crate) const DELETE_RUN_OUTBOX: &str = "DELETE FROM run_outbox WHERE run_id = $1";
/// org_id, idempotency_key.
pub(crate) const RUN_BY_IDEMPOTENCY_KEY: &str =
    "SELECT * FROM runs WHERE org_id = $1 AND idempotency_key = $2";
/// org_id, id.
pub(crate) const GET_RUN: &str = "SELECT * FROM runs WHERE org_id = $1 AND id = $2";
/// org_id, thread_id.
pub(crate) const LIST_THREAD_RUNS: &str =
    "SELECT * FROM runs WHERE org_id = $1 AND thread_id = $2 ORDER BY id";
/// now, id; returns the new executor_epoch.
pub(crate) const CLAIM_RUN: &str =
    "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, $1), executor_epoch = executor_epoch + 1 \
     WHERE id = $2 AND status IN ('queued', 'running', 'waiting_approval') RETURNING executor_epoch";
/// status, output, error, input_tokens, output_tokens, steps, finished_at (or NULL), id, epoch.
pub(crate) const WRITE_RUN_STATE: &str =
    "UPDATE runs SET status = $1, output = $2, error = $3, input_tokens = $4, output_tokens = $5, steps = $6, \
     finished_at = COALESCE($7, finished_at) WHERE id = $8 AND executor_epoch = $9";
/// id.
pub(crate) const CANCEL_REQUESTED: &str = "SELECT cancel_requested FROM runs WHERE id = $1";
/// run_id, after, limit.
pub(crate) const LIST_EVENTS: &str = "SELECT seq, data, created_at FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";

// ---- knowledge
/// id, org_id, name, description, created_at.
pub(crate) const INSERT_KNOWLEDGE_BASE: &str = "INSERT INTO knowledge_bases (id, org_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)";
/// org_id, id.
pub(crate) const GET_KNOWLEDGE_BASE: &str =
    "SELECT * FROM knowledge_bases WHERE org_id = $1 AND id = $2";
/// org_id, kb_id.
pub(crate) const BLOB_KEYS_OF_BASE: &str =
    "SELECT blob_key FROM documents WHERE org_id = $1 AND kb_id = $2";
/// org_id, id (cascades to documents, chunks and vectors).
pub(crate) const DELETE_KNOWLEDGE_BASE: &str =
    "DELETE FROM knowledge_bases WHERE org_id = $1 AND id = $2";
/// id, kb_id, org_id, name, media_type, size_bytes, sha256, blob_key, status, chunks_total,
/// chunks_embedded, error, created_at.
pub(crate) const INSERT_DOCUMENT: &str =
    "INSERT INTO documents (id, kb_id, org_id, name, media_type, size_bytes, sha256, blob_key, status, chunks_total, chunks_embedded, error, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
/// id, document_id, kb_id, org_id, ordinal, text, heading, page, start_char, end_char, token_count.
pub(crate) const INSERT_CHUNK: &str =
    "INSERT INTO chunks (id, document_id, kb_id, org_id, ordinal, text, heading, page, start_char, end_char, token_count) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
/// org_id, kb_id, sha256.
pub(crate) const DOCUMENT_BY_SHA256: &str = concat!(
    "SELECT ",
    doc_columns!(),
    " FROM documents WHERE org_id = $1 AND kb_id = $2 AND sha256 = $3"
);
/// org_id, kb_id, id.
pub(crate) const GET_DOCUMENT: &str = concat!(
    "SELECT ",
    doc_columns!(),
    " FROM documents WHERE org_id = $1 AND kb_id = $2 AND id = $3"
);
/// org_id, id.
pub(crate) const GET_DOCUMENT_BY_ID: &str = concat!(
    "SELECT ",
    doc_columns!(),
    " FROM documents WHERE org_id = $1 AND id = $2"
);
/// org_id, kb_id, id; returns the blob key.
pub(crate) const DELETE_DOCUMENT: &str =
    "DELETE FROM documents WHERE org_id = $1 AND kb_id = $2 AND id = $3 RETURNING blob_key";
/// org_id, kb_id.
pub(crate) const BUMP_KNOWLEDGE_BASE_VERSION: &str =
    "UPDATE knowledge_bases SET version = version + 1 WHERE org_id = $1 AND id = $2";
/// status, error, org_id, id.
pub(crate) const SET_DOCUMENT_STATUS: &str = "UPDATE documents SET status = $1, error = $2 WHERE org_id = $3 AND id = $4 AND status NOT IN ('ready', 'failed') AND status <> $1";
/// model, dim, vector, chunk_id, document_id, org_id: only a chunk of this document; an
/// existing vector is kept (idempotent redelivery).
pub(crate) const INSERT_VECTOR: &str =
    "INSERT INTO chunk_vectors (chunk_id, document_id, kb_id, org_id, model, dim, vector) \
     SELECT id, document_id, kb_id, org_id, $1, $2, $3 FROM chunks WHERE id = $4 AND document_id = $5 AND org_id = $6 \
     ON CONFLICT (chunk_id) DO NOTHING";
/// org_id, document_id.
pub(crate) const COUNT_VECTORS: &str =
    "SELECT COUNT(*) FROM chunk_vectors WHERE org_id = $1 AND document_id = $2";
/// org_id, kb_id.
pub(crate) const KNOWLEDGE_BASE_VERSION: &str =
    "SELECT version FROM knowledge_bases WHERE org_id = $1 AND id = $2";
/// org_id, kb_id.
pub(crate) const LOAD_VECTORS: &str =
    "SELECT chunk_id, vector FROM chunk_vectors WHERE org_id = $1 AND kb_id = $2";

// ---- jobs
/// job_id, lease_token.
pub(crate) const COMPLETE_JOB: &str = "DELETE FROM jobs WHERE id = $1 AND lease_token = $2";
/// queue.
pub(crate) const DEAD_LETTERS: &str = "SELECT id, payload, COALESCE(last_error, '') AS last_error FROM jobs WHERE queue = $1 AND status = 'dead' ORDER BY id";

// ---- rate limits
/// key, tat.
pub(crate) const UPSERT_RATE_LIMIT: &str = "INSERT INTO rate_limits (key, tat) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat";

// ---- governance (policies, approvals)
/// id, org_id, tool, action, when_expr, priority, description, created_at, updated_at.
pub(crate) const INSERT_POLICY: &str = "INSERT INTO policies (id, org_id, tool, action, when_expr, priority, description, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *";
/// org_id.
pub(crate) const LIST_POLICIES: &str =
    "SELECT * FROM policies WHERE org_id = $1 ORDER BY priority, created_at, id";
/// org_id, id.
pub(crate) const GET_POLICY: &str = "SELECT * FROM policies WHERE org_id = $1 AND id = $2";
/// org_id, id, tool, action, when_expr, priority, description, updated_at.
pub(crate) const UPDATE_POLICY: &str = "UPDATE policies SET tool = $3, action = $4, when_expr = $5, priority = $6, description = $7, updated_at = $8 \
     WHERE org_id = $1 AND id = $2 RETURNING *";
/// org_id, id.
pub(crate) const DELETE_POLICY: &str = "DELETE FROM policies WHERE org_id = $1 AND id = $2";
/// id, org_id, run_id, agent_id, step, call_id, tool, arguments, rule, expires_at,
/// created_at; a second request for the same call inserts nothing.
pub(crate) const INSERT_APPROVAL: &str = "INSERT INTO approvals (id, org_id, run_id, agent_id, step, call_id, tool, arguments, rule, status, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11) ON CONFLICT (run_id, call_id) DO NOTHING";
/// org_id, run_id, call_id.
pub(crate) const APPROVAL_FOR_CALL: &str =
    "SELECT * FROM approvals WHERE org_id = $1 AND run_id = $2 AND call_id = $3";
/// org_id, id.
pub(crate) const GET_APPROVAL: &str = "SELECT * FROM approvals WHERE org_id = $1 AND id = $2";
/// org_id, id, status, comment, edited_arguments, decided_by, decided_at; only a pending
/// approval, and an expiry only once due.
pub(crate) const DECIDE_APPROVAL: &str = "UPDATE approvals SET status = $3, comment = $4, edited_arguments = $5, decided_by = $6, decided_at = $7 \
     WHERE org_id = $1 AND id = $2 AND status = 'pending' AND ($3 <> 'expired' OR expires_at <= $7) RETURNING *";
/// org_id, run_id: a parked run goes back to the queue.
pub(crate) const UNPARK_RUN: &str =
    "UPDATE runs SET status = 'queued' WHERE org_id = $1 AND id = $2 AND status = 'waiting_approval'";

// ---- audit log
/// id, org_id, seq, at, actor_kind, actor_user_id, actor_api_key_id, action, target,
/// details (canonical JSON text), prev_hash, hash, key_id, signature.
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log (id, org_id, seq, at, actor_kind, actor_user_id, actor_api_key_id, action, target, details, prev_hash, hash, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
/// org_id: the chain's head.
pub(crate) const AUDIT_HEAD: &str =
    "SELECT seq, hash FROM audit_log WHERE org_id = $1 ORDER BY seq DESC LIMIT 1";
/// org_id, action (exact), action prefix, actor user id, since, until, before seq, limit.
pub(crate) const LIST_AUDIT: &str = "SELECT * FROM audit_log WHERE org_id = $1 \
    AND ($2 IS NULL OR action = $2) \
    AND ($3 IS NULL OR substr(action, 1, length($3)) = $3) \
    AND ($4 IS NULL OR actor_user_id = $4) \
    AND ($5 IS NULL OR at >= $5) \
    AND ($6 IS NULL OR at < $6) \
    AND ($7 IS NULL OR seq < $7) \
    ORDER BY seq DESC LIMIT $8";
/// org_id, after seq, limit.
pub(crate) const AUDIT_CHAIN: &str =
    "SELECT * FROM audit_log WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
