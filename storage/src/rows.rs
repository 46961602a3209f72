//! Row types both backends decode with `#[derive(sqlx::FromRow)]` and turn into the domain's
//! records. The tables have the same columns on both engines; only the encoding of ids
//! differs, so every row is generic over its id type `I`: [`uuid::Uuid`] on PostgreSQL
//! (native `uuid`), [`uuid::fmt::Hyphenated`] on SQLite (hyphenated `TEXT`). JSON columns
//! (`jsonb` / `TEXT`) decode through [`Json`] and timestamps (`timestamptz` / sqlx's `TEXT`
//! encoding) as [`DateTime<Utc>`] on both.

use autonoma_core::knowledge::store::ChunkWithSource;
use autonoma_core::knowledge::{Chunk, Document, DocumentStatus, KnowledgeBase};
use autonoma_core::model::*;
use autonoma_core::store::Session;
use autonoma_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

fn parse_role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| Error::internal(format!("bad role {s}")))
}

/// `users` with the password hash.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow<I> {
    id: I,
    email: String,
    name: String,
    password_hash: String,
    created_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> UserRow<I> {
    /// The user and their argon2 PHC hash.
    pub(crate) fn into_model(self) -> (User, String) {
        let user = User {
            id: self.id.into(),
            email: self.email,
            name: self.name,
            created_at: self.created_at,
        };
        (user, self.password_hash)
    }
}

/// A membership with the user's e-mail and the organization's name ([`crate::sql::MEMBERSHIP_SELECT`]).
#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow<I> {
    org_id: I,
    user_id: I,
    role: String,
    email: String,
    org_name: String,
}

impl<I: Into<Uuid>> MembershipRow<I> {
    pub(crate) fn into_model(self) -> Result<Membership> {
        Ok(Membership {
            org_id: self.org_id.into(),
            user_id: self.user_id.into(),
            role: parse_role(&self.role)?,
            email: self.email,
            org_name: self.org_name,
        })
    }
}

/// `sessions` without the token hash.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow<I> {
    user_id: I,
    org_id: I,
    csrf_token: String,
    expires_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> SessionRow<I> {
    /// The session, or `None` once it has expired.
    pub(crate) fn into_live(self) -> Option<Session> {
        let s = Session {
            user_id: self.user_id.into(),
            org_id: self.org_id.into(),
            csrf_token: self.csrf_token,
            expires_at: self.expires_at,
        };
        (s.expires_at > Utc::now()).then_some(s)
    }
}

/// `api_keys` without the key hash.
#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow<I> {
    id: I,
    org_id: I,
    user_id: I,
    name: String,
    prefix: String,
    role: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl<I: Into<Uuid>> ApiKeyRow<I> {
    pub(crate) fn into_model(self) -> Result<ApiKey> {
        Ok(ApiKey {
            id: self.id.into(),
            org_id: self.org_id.into(),
            user_id: self.user_id.into(),
            name: self.name,
            prefix: self.prefix,
            role: parse_role(&self.role)?,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// `provider_connections` with the sealed key.
#[derive(sqlx::FromRow)]
pub(crate) struct ProviderRow<I> {
    id: I,
    org_id: I,
    name: String,
    kind: String,
    base_url: Option<String>,
    models: Json<Vec<String>>,
    api_key_sealed: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> ProviderRow<I> {
    /// The connection and its sealed key.
    pub(crate) fn into_parts(self) -> Result<(ProviderConnection, Option<Vec<u8>>)> {
        let conn = ProviderConnection {
            id: self.id.into(),
            org_id: self.org_id.into(),
            name: self.name,
            kind: ProviderKind::parse(&self.kind)
                .ok_or_else(|| Error::internal("bad provider kind"))?,
            base_url: self.base_url,
            models: self.models.0,
            has_api_key: self.api_key_sealed.is_some(),
            created_at: self.created_at,
        };
        Ok((conn, self.api_key_sealed))
    }

    pub(crate) fn into_model(self) -> Result<ProviderConnection> {
        Ok(self.into_parts()?.0)
    }
}

/// `mcp_servers` with the sealed secrets.
#[derive(sqlx::FromRow)]
pub(crate) struct McpServerRow<I> {
    id: I,
    org_id: I,
    name: String,
    transport: String,
    command: Option<String>,
    args: Json<Vec<String>>,
    env_names: Json<Vec<String>>,
    url: Option<String>,
    header_names: Json<Vec<String>>,
    has_bearer_token: bool,
    secrets_sealed: Option<Vec<u8>>,
    timeout_secs: i64,
    tools: Json<Vec<autonoma_core::mcp::McpTool>>,
    tools_refreshed_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    oauth: Option<Json<autonoma_core::mcp::McpOAuth>>,
}

impl<I: Into<Uuid>> McpServerRow<I> {
    /// The connection and its sealed secrets.
    pub(crate) fn into_parts(self) -> Result<(autonoma_core::mcp::McpServer, Option<Vec<u8>>)> {
        let server = autonoma_core::mcp::McpServer {
            id: self.id.into(),
            org_id: self.org_id.into(),
            name: self.name,
            transport: autonoma_core::mcp::McpTransport::parse(&self.transport)
                .ok_or_else(|| Error::internal("bad MCP transport"))?,
            command: self.command,
            args: self.args.0,
            env_names: self.env_names.0,
            url: self.url,
            header_names: self.header_names.0,
            has_bearer_token: self.has_bearer_token,
            status: match &self.oauth {
                Some(o) if !o.0.authorized => {
                    autonoma_core::mcp::McpServerStatus::NeedsAuthorization
                }
                _ => autonoma_core::mcp::McpServerStatus::Ready,
            },
            oauth: self.oauth.map(|o| o.0),
            timeout_secs: u32::try_from(self.timeout_secs).map_err(Error::internal)?,
            tools: self.tools.0,
            tools_refreshed_at: self.tools_refreshed_at,
            created_at: self.created_at,
        };
        Ok((server, self.secrets_sealed))
    }

    pub(crate) fn into_model(self) -> Result<autonoma_core::mcp::McpServer> {
        Ok(self.into_parts()?.0)
    }
}

/// `mcp_oauth_pending`.
#[derive(sqlx::FromRow)]
pub(crate) struct McpOAuthPendingRow<I> {
    state_hash: String,
    org_id: I,
    user_id: I,
    server_id: I,
    flow_sealed: Vec<u8>,
    redirect_uri: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> McpOAuthPendingRow<I> {
    pub(crate) fn into_model(self) -> autonoma_core::mcp::McpOAuthPending {
        autonoma_core::mcp::McpOAuthPending {
            state_hash: self.state_hash,
            org_id: self.org_id.into(),
            user_id: self.user_id.into(),
            server_id: self.server_id.into(),
            flow_sealed: self.flow_sealed,
            redirect_uri: self.redirect_uri,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

/// An agent at its current version ([`crate::sql::AGENT_SELECT`]).
#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow<I> {
    id: I,
    org_id: I,
    current_version: i64,
    spec: Json<AgentSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> AgentRow<I> {
    pub(crate) fn into_model(self) -> Agent {
        Agent {
            id: self.id.into(),
            org_id: self.org_id.into(),
            version: self.current_version,
            spec: self.spec.0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// `agent_versions` without its keys (the caller knows the agent).
#[derive(sqlx::FromRow)]
pub(crate) struct AgentVersionRow {
    version: i64,
    spec: Json<AgentSpec>,
    created_at: DateTime<Utc>,
}

impl AgentVersionRow {
    pub(crate) fn into_model(self, agent_id: Uuid) -> AgentVersion {
        AgentVersion {
            agent_id,
            version: self.version,
            spec: self.spec.0,
            created_at: self.created_at,
        }
    }
}

/// `runs`.
#[derive(sqlx::FromRow)]
pub(crate) struct RunRow<I> {
    id: I,
    org_id: I,
    agent_id: I,
    agent_version: i64,
    thread_id: I,
    status: String,
    input: String,
    output: Option<String>,
    error: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    steps: i64,
    created_by: I,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    mode: String,
    preflight_id: Option<I>,
}

impl<I: Into<Uuid>> RunRow<I> {
    pub(crate) fn into_model(self) -> Result<Run> {
        Ok(Run {
            id: self.id.into(),
            org_id: self.org_id.into(),
            agent_id: self.agent_id.into(),
            agent_version: self.agent_version,
            thread_id: self.thread_id.into(),
            status: RunStatus::parse(&self.status)
                .ok_or_else(|| Error::internal("bad run status"))?,
            input: self.input,
            output: self.output,
            error: self.error,
            usage: Usage {
                input_tokens: self.input_tokens as u64,
                output_tokens: self.output_tokens as u64,
            },
            steps: self.steps,
            created_by: self.created_by.into(),
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            mode: RunMode::parse(&self.mode).ok_or_else(|| Error::internal("bad run mode"))?,
            preflight_id: self.preflight_id.map(Into::into),
        })
    }
}

/// `run_events` without its keys (the caller knows the run).
#[derive(sqlx::FromRow)]
pub(crate) struct RunEventRow {
    seq: i64,
    data: Json<RunEventKind>,
    created_at: DateTime<Utc>,
}

impl RunEventRow {
    pub(crate) fn into_model(self, run_id: Uuid) -> RunEvent {
        RunEvent {
            run_id,
            seq: self.seq,
            kind: self.data.0,
            created_at: self.created_at,
        }
    }
}

/// A job as a lease returns it (the backend adds the token and the expiry).
#[derive(sqlx::FromRow)]
pub(crate) struct LeasedJobRow<I> {
    id: I,
    queue: String,
    payload: Json<serde_json::Value>,
    attempt: i64,
    max_attempts: i64,
}

impl<I: Into<Uuid>> LeasedJobRow<I> {
    pub(crate) fn into_model(self, lease_token: Uuid, lease_expires_at: DateTime<Utc>) -> Job {
        Job {
            id: self.id.into(),
            queue: self.queue,
            payload: self.payload.0,
            attempt: self.attempt as u32,
            max_attempts: self.max_attempts as u32,
            lease_token,
            lease_expires_at,
        }
    }
}

/// A dead-lettered job: id, payload, last error (`''` when none).
#[derive(sqlx::FromRow)]
pub(crate) struct DeadJobRow<I> {
    id: I,
    payload: Json<serde_json::Value>,
    last_error: String,
}

impl<I: Into<Uuid>> DeadJobRow<I> {
    pub(crate) fn into_model(self) -> (Uuid, serde_json::Value, String) {
        (self.id.into(), self.payload.0, self.last_error)
    }
}

/// `knowledge_bases` without its version.
#[derive(sqlx::FromRow)]
pub(crate) struct KnowledgeBaseRow<I> {
    id: I,
    org_id: I,
    name: String,
    description: String,
    created_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> KnowledgeBaseRow<I> {
    pub(crate) fn into_model(self) -> KnowledgeBase {
        KnowledgeBase {
            id: self.id.into(),
            org_id: self.org_id.into(),
            name: self.name,
            description: self.description,
            created_at: self.created_at,
        }
    }
}

/// `documents` ([`crate::sql::DOC_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct DocumentRow<I> {
    id: I,
    kb_id: I,
    org_id: I,
    name: String,
    media_type: String,
    size_bytes: i64,
    sha256: String,
    status: String,
    chunks_total: i64,
    chunks_embedded: i64,
    error: Option<String>,
    created_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> DocumentRow<I> {
    pub(crate) fn into_model(self) -> Result<Document> {
        Ok(Document {
            id: self.id.into(),
            kb_id: self.kb_id.into(),
            org_id: self.org_id.into(),
            name: self.name,
            media_type: self.media_type,
            size_bytes: self.size_bytes,
            sha256: self.sha256,
            status: DocumentStatus::parse(&self.status)
                .ok_or_else(|| Error::internal(format!("bad document status {}", self.status)))?,
            chunks_total: self.chunks_total,
            chunks_embedded: self.chunks_embedded,
            error: self.error,
            created_at: self.created_at,
        })
    }
}

/// `chunks` ([`crate::sql::CHUNK_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct ChunkRow<I> {
    id: I,
    document_id: I,
    ordinal: i64,
    text: String,
    heading: String,
    page: Option<i64>,
    start_char: i64,
    end_char: i64,
    token_count: i64,
}

impl<I: Into<Uuid>> ChunkRow<I> {
    pub(crate) fn into_model(self) -> Chunk {
        Chunk {
            id: self.id.into(),
            document_id: self.document_id.into(),
            ordinal: self.ordinal,
            text: self.text,
            heading: self.heading,
            page: self.page,
            start_char: self.start_char,
            end_char: self.end_char,
            token_count: self.token_count,
        }
    }
}

/// A chunk with its base and its document's name.
#[derive(sqlx::FromRow)]
pub(crate) struct ChunkWithSourceRow<I> {
    #[sqlx(flatten)]
    chunk: ChunkRow<I>,
    kb_id: I,
    document_name: String,
}

impl<I: Into<Uuid>> ChunkWithSourceRow<I> {
    pub(crate) fn into_model(self) -> ChunkWithSource {
        ChunkWithSource {
            chunk: self.chunk.into_model(),
            kb_id: self.kb_id.into(),
            document_name: self.document_name,
        }
    }
}

/// A base's [`Snapshot`] at `version` from its vector rows, each read by `read` as
/// `(chunk id, little-endian f32 bytes)`. Errors: [`Error::Internal`] when the rows mix
/// vector widths, or whatever `read` returns.
pub(crate) fn snapshot<R>(
    kb_id: Uuid,
    version: i64,
    rows: &[R],
    read: impl Fn(&R) -> Result<(Uuid, &[u8])>,
) -> Result<autonoma_core::knowledge::index::Snapshot> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut matrix = Vec::new();
    let mut dim = 0;
    for r in rows {
        let (id, bytes) = read(r)?;
        let d = bytes.len() / 4;
        if dim == 0 {
            dim = d;
            matrix.reserve(rows.len() * d);
        }
        if d != dim {
            return Err(Error::internal(format!(
                "knowledge base {kb_id} mixes vector widths {dim} and {d}"
            )));
        }
        autonoma_core::knowledge::index::bytes_to_vector(bytes, &mut matrix);
        ids.push(id);
    }
    Ok(autonoma_core::knowledge::index::Snapshot {
        kb_id,
        version,
        dim,
        ids,
        matrix,
    })
}

/// `policies`.
#[derive(sqlx::FromRow)]
pub(crate) struct PolicyRow<I> {
    id: I,
    org_id: I,
    tool: String,
    action: String,
    when_expr: Option<String>,
    priority: i32,
    description: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> PolicyRow<I> {
    pub(crate) fn into_model(self) -> Result<autonoma_core::governance::Policy> {
        use autonoma_core::governance::{Policy, PolicyAction, ToolRule};
        Ok(Policy {
            id: self.id.into(),
            org_id: self.org_id.into(),
            rule: ToolRule {
                tool: self.tool,
                action: PolicyAction::parse(&self.action)
                    .ok_or_else(|| Error::internal(format!("bad policy action {}", self.action)))?,
                when: self.when_expr,
            },
            priority: self.priority,
            description: self.description,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// `approvals`.
#[derive(sqlx::FromRow)]
pub(crate) struct ApprovalRow<I> {
    id: I,
    org_id: I,
    run_id: I,
    agent_id: I,
    step: i64,
    call_id: String,
    tool: String,
    arguments: Json<serde_json::Value>,
    rule: String,
    status: String,
    comment: String,
    edited_arguments: Option<Json<serde_json::Value>>,
    decided_by: Option<I>,
    decided_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> ApprovalRow<I> {
    pub(crate) fn into_model(self) -> Result<autonoma_core::governance::Approval> {
        use autonoma_core::governance::{Approval, ApprovalStatus};
        Ok(Approval {
            id: self.id.into(),
            org_id: self.org_id.into(),
            run_id: self.run_id.into(),
            agent_id: self.agent_id.into(),
            step: self.step as u32,
            call_id: self.call_id,
            tool: self.tool,
            arguments: self.arguments.0,
            rule: self.rule,
            status: ApprovalStatus::parse(&self.status)
                .ok_or_else(|| Error::internal(format!("bad approval status {}", self.status)))?,
            comment: self.comment,
            edited_arguments: self.edited_arguments.map(|j| j.0),
            decided_by: self.decided_by.map(Into::into),
            decided_at: self.decided_at,
            expires_at: self.expires_at,
            created_at: self.created_at,
        })
    }
}

/// `audit_log`: one signed entry; `details` is canonical JSON text.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow<I> {
    id: I,
    org_id: I,
    seq: i64,
    at: DateTime<Utc>,
    actor_kind: String,
    actor_user_id: Option<I>,
    actor_api_key_id: Option<I>,
    action: String,
    target: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
    key_id: String,
    signature: String,
}

impl<I: Into<Uuid>> AuditRow<I> {
    pub(crate) fn into_model(self) -> Result<autonoma_core::audit::AuditEntry> {
        use autonoma_core::audit::{AuditActor, AuditEntry, FORMAT_VERSION};
        let user = self.actor_user_id.map(Into::into);
        let key = self.actor_api_key_id.map(Into::into);
        let actor = match (self.actor_kind.as_str(), user, key) {
            ("user", Some(user_id), None) => AuditActor::User { user_id },
            ("api_key", Some(user_id), Some(api_key_id)) => AuditActor::ApiKey {
                user_id,
                api_key_id,
            },
            ("system", None, None) => AuditActor::System,
            (kind, ..) => return Err(Error::internal(format!("bad audit actor {kind}"))),
        };
        Ok(AuditEntry {
            v: FORMAT_VERSION,
            id: self.id.into(),
            org_id: self.org_id.into(),
            seq: self.seq,
            at: self.at,
            actor,
            action: self.action,
            target: self.target,
            details: serde_json::from_str(&self.details)
                .map_err(|e| Error::internal(format!("audit details: {e}")))?,
            prev_hash: self.prev_hash,
            hash: self.hash,
            key_id: self.key_id,
            signature: self.signature,
        })
    }
}
