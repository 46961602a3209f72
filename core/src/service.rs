//! Operations callers perform, with authentication, authorization and validation.
//!
//! Both the REST handlers (`autonoma-functions`) and the web UI's server functions
//! (`autonoma-app`) call these; neither talks to the [`Store`] directly for writes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::model::*;
use crate::rate_limit::{self, Quota};
use crate::store::{JobQueue, NewRun, Session, Store};
use crate::{Error, Result};

/// Name of the session cookie (HttpOnly, SameSite=Lax, Secure behind https).
pub const SESSION_COOKIE: &str = "autonoma_session";
/// Session lifetime: 14 days.
pub const SESSION_TTL: chrono::TimeDelta = chrono::TimeDelta::days(14);
/// Queue carrying run jobs (`{"run_id": "..."}`).
pub const RUNS_QUEUE: &str = "runs";
/// Delivery attempts for a run job before it is dead-lettered.
pub const RUN_MAX_ATTEMPTS: u32 = 3;
/// Largest page size for list endpoints.
pub const MAX_PAGE: u32 = 100;
/// Names of the built-in tools an agent may enable.
/// (`knowledge_search` is added automatically when an agent attaches knowledge bases.)
pub const BUILTIN_TOOLS: [&str; 4] = [
    "calculator",
    "current_time",
    "http_fetch",
    "knowledge_search",
];
/// Login attempts allowed per client IP: 10 per minute (a burst of 10, then one every 6 s),
/// counted across every process on the store.
pub const LOGIN_PER_IP: Quota = Quota::per_minute(10);
/// Login attempts allowed per e-mail address: 5 per minute (a burst of 5, then one every
/// 12 s), counted across every process on the store, so spreading password guesses for one
/// account over instances or IPs gains nothing.
pub const LOGIN_PER_EMAIL: Quota = Quota::per_minute(5);
/// Sign-ups allowed per client IP: 10 per hour (a burst of 10, then one every 6 minutes),
/// counted across every process on the store. Each sign-up costs an argon2id hash and
/// creates an organization, so mass sign-ups from one address are cut short.
pub const SIGN_UP_PER_IP: Quota = Quota::per_hour(10);
/// Model name of the embedded local provider.
pub const LOCAL_MODEL: &str = "smollm2-135m-instruct";

pub use autonoma_types::requests::{CreatedApiKey, NewProvider, RunInput, SignUp};

/// A newly created session; `token` goes into the cookie, `csrf_token` into pages.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub actor: Actor,
}

/// Seals secrets at rest with XChaCha20-Poly1305 (RFC 8439 construction, 24-byte nonce).
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// From a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }
    /// Returns `nonce (24 bytes) || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(XNonce::from_slice(&nonce), plaintext)
                .expect("encryption cannot fail"),
        );
        out
    }
    /// Inverse of [`SecretBox::seal`]. Errors: [`Error::Internal`] if tampered or wrong key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 24 {
            return Err(Error::internal("sealed secret too short"));
        }
        let (nonce, ct) = sealed.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| Error::internal("cannot decrypt secret (wrong key?)"))
    }
}

/// SHA-256 of a bearer secret (session token or API key), as stored.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Wakes SSE followers when a run gets new events: called by this process's executor, and
/// on PostgreSQL for events of other processes too (the binary forwards the store's
/// `LISTEN` notifications here). Followers also poll every 500 ms as a safety net.
#[derive(Default)]
pub struct RunNotifier {
    inner: std::sync::Mutex<std::collections::HashMap<Uuid, Arc<Notify>>>,
}

impl RunNotifier {
    /// The [`Notify`] for a run (created on first use).
    pub fn for_run(&self, run_id: Uuid) -> Arc<Notify> {
        self.inner
            .lock()
            .unwrap()
            .entry(run_id)
            .or_default()
            .clone()
    }
    /// Wakes every waiter of a run.
    pub fn notify(&self, run_id: Uuid) {
        if let Some(n) = self.inner.lock().unwrap().get(&run_id) {
            n.notify_waiters();
        }
    }
    /// Forgets a finished run.
    pub fn forget(&self, run_id: Uuid) {
        self.inner.lock().unwrap().remove(&run_id);
    }
}

/// The application service.
pub struct Service {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn JobQueue>,
    pub secrets: SecretBox,
    pub notifier: RunNotifier,
    /// Wakes a run's executor when a cancel is requested: by [`Service::cancel_run`] in
    /// this process, and on PostgreSQL for requests made in other processes (the binary
    /// forwards the store's `LISTEN` notifications here).
    pub cancels: RunNotifier,
    knowledge: Option<Arc<crate::knowledge::Knowledge>>,
}

pub(crate) fn require(actor: &Actor, min: Role, what: &'static str) -> Result<()> {
    if actor.role >= min {
        Ok(())
    } else {
        Err(Error::Forbidden(what))
    }
}

pub(crate) fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(Error::validation(
            field,
            format!("must be {min} to {max} characters, got {n}"),
        ));
    }
    Ok(())
}

impl Service {
    /// Builds the service. Login is limited to [`LOGIN_PER_IP`] attempts per client IP and
    /// [`LOGIN_PER_EMAIL`] per e-mail, counted in the store so that every process sharing
    /// it counts together ([`crate::rate_limit`]).
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn JobQueue>, secrets: SecretBox) -> Self {
        Service {
            store,
            queue,
            secrets,
            notifier: RunNotifier::default(),
            cancels: RunNotifier::default(),
            knowledge: None,
        }
    }

    /// Enables knowledge bases (documents, search, agents' `knowledge_base_ids`) with this
    /// engine; without it those operations fail with [`Error::Internal`].
    pub fn with_knowledge(mut self, knowledge: Arc<crate::knowledge::Knowledge>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    /// The knowledge engine, if enabled.
    pub fn knowledge_engine(&self) -> Option<&Arc<crate::knowledge::Knowledge>> {
        self.knowledge.as_ref()
    }

    // ------------------------------------------------------------------ accounts

    /// Creates a user with their own organization (as owner) and logs them in. Valid
    /// requests count against [`SIGN_UP_PER_IP`] for `client_ip` (checked after validation,
    /// so a typo costs nothing; before the e-mail is looked up).
    /// Errors: [`Error::Validation`] for a bad e-mail or short password,
    /// [`Error::RateLimited`], [`Error::Conflict`] if taken.
    pub async fn sign_up(&self, input: SignUp, client_ip: Option<IpAddr>) -> Result<NewSession> {
        let email = input.email.trim().to_lowercase();
        check_len("email", &email, 3, 254)?;
        let at = email.find('@');
        if !matches!(at, Some(i) if i > 0 && i < email.len() - 1)
            || email.contains(char::is_whitespace)
        {
            return Err(Error::validation("email", "is not an e-mail address"));
        }
        check_len("password", &input.password, 10, 256)?;
        let name = if input.name.trim().is_empty() {
            email[..at.unwrap()].to_string()
        } else {
            input.name.trim().to_string()
        };
        check_len("name", &name, 1, 100)?;
        let org_name = input
            .org_name
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("{name}'s organization"));
        check_len("org_name", &org_name, 1, 100)?;
        if let Some(ip) = client_ip {
            self.limit(
                &rate_limit::key("sign-up-ip", &ip.to_string()),
                SIGN_UP_PER_IP,
            )
            .await?;
        }
        let password = input.password.clone();
        let hash = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
        })
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
        let (user, org) = self
            .store
            .create_user_with_org(&email, &name, &hash, &org_name)
            .await?;
        // Every organization starts with the embedded model, so a new user needs no API key.
        let local = ProviderConnection {
            id: Uuid::now_v7(),
            org_id: org.id,
            name: "Local (SmolLM2-135M)".into(),
            kind: ProviderKind::Local,
            base_url: None,
            models: vec![LOCAL_MODEL.to_string()],
            has_api_key: false,
            created_at: Utc::now(),
        };
        self.store.create_provider(&local, None).await?;
        self.open_session(user.id, org.id, Role::Owner).await
    }

    /// Verifies e-mail and password (argon2id) and opens a session in the user's first
    /// organization. Errors: [`Error::Unauthenticated`] (same for unknown e-mail and wrong
    /// password), [`Error::RateLimited`].
    pub async fn log_in(
        &self,
        email: &str,
        password: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<NewSession> {
        let email = email.trim().to_lowercase();
        if let Some(ip) = client_ip {
            self.limit(&rate_limit::key("login-ip", &ip.to_string()), LOGIN_PER_IP)
                .await?;
        }
        self.limit(&rate_limit::key("login-email", &email), LOGIN_PER_EMAIL)
            .await?;
        let found = self.store.find_user_by_email(&email).await?;
        let password = password.to_string();
        let (user, ok) = match found {
            Some((user, hash)) => {
                let ok = tokio::task::spawn_blocking(move || {
                    PasswordHash::new(&hash)
                        .map(|h| {
                            Argon2::default()
                                .verify_password(password.as_bytes(), &h)
                                .is_ok()
                        })
                        .unwrap_or(false)
                })
                .await
                .map_err(Error::internal)?;
                (Some(user), ok)
            }
            None => (None, false),
        };
        let Some(user) = user.filter(|_| ok) else {
            return Err(Error::Unauthenticated);
        };
        let m = self.store.memberships(user.id).await?;
        let first = m.first().ok_or(Error::Unauthenticated)?;
        self.open_session(user.id, first.org_id, first.role).await
    }

    /// One attempt against `quota` for `key`; [`Error::RateLimited`] (whole seconds, ≥ 1)
    /// when over it.
    async fn limit(&self, key: &[u8], quota: Quota) -> Result<()> {
        match self.store.rate_limit(key, quota, Utc::now()).await? {
            Ok(()) => Ok(()),
            Err(wait) => Err(Error::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }),
        }
    }

    async fn open_session(&self, user_id: Uuid, org_id: Uuid, role: Role) -> Result<NewSession> {
        let token = random_token("s_");
        let csrf_token = random_token("");
        let session = Session {
            user_id,
            org_id,
            csrf_token: csrf_token.clone(),
            expires_at: Utc::now() + SESSION_TTL,
        };
        self.store
            .create_session(&hash_secret(&token), &session)
            .await?;
        Ok(NewSession {
            token,
            csrf_token,
            actor: Actor {
                user_id,
                org_id,
                role,
                api_key_id: None,
            },
        })
    }

    /// Ends a session (idempotent).
    pub async fn log_out(&self, token: &str) -> Result<()> {
        self.store.delete_session(&hash_secret(token)).await
    }

    /// Resolves a session cookie to the caller and the session's CSRF token.
    /// Errors: [`Error::Unauthenticated`] for unknown/expired sessions or lost membership.
    pub async fn actor_from_session(&self, token: &str) -> Result<(Actor, String)> {
        let s = self
            .store
            .get_session(&hash_secret(token))
            .await?
            .ok_or(Error::Unauthenticated)?;
        let role = self
            .store
            .role_of(s.org_id, s.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok((
            Actor {
                user_id: s.user_id,
                org_id: s.org_id,
                role,
                api_key_id: None,
            },
            s.csrf_token,
        ))
    }

    /// Resolves an `Authorization: Bearer ak_…` key. The key acts with the lower of its own
    /// role and its creator's current role. Errors: [`Error::Unauthenticated`].
    pub async fn actor_from_api_key(&self, secret: &str) -> Result<Actor> {
        let key = self
            .store
            .use_api_key(&hash_secret(secret))
            .await?
            .ok_or(Error::Unauthenticated)?;
        let creator = self
            .store
            .role_of(key.org_id, key.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(Actor {
            user_id: key.user_id,
            org_id: key.org_id,
            role: key.role.min(creator),
            api_key_id: Some(key.id),
        })
    }

    /// The caller's user record and memberships.
    pub async fn me(&self, actor: &Actor) -> Result<Vec<Membership>> {
        self.store.memberships(actor.user_id).await
    }

    /// Adds an existing user to the caller's organization or changes their role (admin+;
    /// only an owner may grant `owner`).
    pub async fn set_member(&self, actor: &Actor, email: &str, role: Role) -> Result<Membership> {
        require(actor, Role::Admin, "managing members needs admin")?;
        if role == Role::Owner {
            require(actor, Role::Owner, "granting owner needs owner")?;
        }
        self.store
            .upsert_member(actor.org_id, &email.trim().to_lowercase(), role)
            .await
    }

    /// Members of the caller's organization (any role).
    pub async fn list_members(&self, actor: &Actor) -> Result<Vec<Membership>> {
        self.store.list_members(actor.org_id).await
    }

    // ------------------------------------------------------------------ API keys

    /// Creates an API key (member+). `role` defaults to the caller's and may not exceed it.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        role: Option<Role>,
    ) -> Result<CreatedApiKey> {
        require(actor, Role::Member, "creating API keys needs member")?;
        check_len("name", name.trim(), 1, 100)?;
        let role = role.unwrap_or(actor.role);
        if role > actor.role {
            return Err(Error::validation("role", "cannot exceed your own role"));
        }
        let secret = random_token("ak_");
        let key = ApiKey {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            user_id: actor.user_id,
            name: name.trim().to_string(),
            prefix: secret[..11].to_string(),
            role,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store
            .create_api_key(&key, &hash_secret(&secret))
            .await?;
        Ok(CreatedApiKey { key, secret })
    }

    /// API keys of the organization (viewer+).
    pub async fn list_api_keys(&self, actor: &Actor) -> Result<Vec<ApiKey>> {
        self.store.list_api_keys(actor.org_id).await
    }

    /// Revokes a key (member+).
    pub async fn revoke_api_key(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Member, "revoking API keys needs member")?;
        self.store.revoke_api_key(actor.org_id, id).await
    }

    // ------------------------------------------------------------------ providers

    /// Adds a provider connection (admin+). The key is sealed with [`SecretBox`].
    pub async fn create_provider(
        &self,
        actor: &Actor,
        input: NewProvider,
    ) -> Result<ProviderConnection> {
        require(actor, Role::Admin, "managing providers needs admin")?;
        check_len("name", input.name.trim(), 1, 100)?;
        let mut models: Vec<String> = input
            .models
            .iter()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        let base_url = match input.kind {
            ProviderKind::Local => {
                if models.is_empty() {
                    models.push(LOCAL_MODEL.to_string());
                }
                None
            }
            ProviderKind::OpenaiCompatible => {
                let url = input.base_url.as_deref().map(str::trim).unwrap_or("");
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && url.len() <= 2048;
                if !ok {
                    return Err(Error::validation("base_url", "must be an http(s) URL"));
                }
                if models.is_empty() {
                    return Err(Error::validation("models", "list at least one model"));
                }
                Some(url.trim_end_matches('/').to_string())
            }
        };
        if models.len() > 50 || models.iter().any(|m| m.len() > 200) {
            return Err(Error::validation(
                "models",
                "at most 50 names of up to 200 characters",
            ));
        }
        let sealed = input
            .api_key
            .filter(|k| !k.is_empty())
            .map(|k| self.secrets.seal(k.as_bytes()));
        let conn = ProviderConnection {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            name: input.name.trim().to_string(),
            kind: input.kind,
            base_url,
            models,
            has_api_key: sealed.is_some(),
            created_at: Utc::now(),
        };
        self.store.create_provider(&conn, sealed.as_deref()).await?;
        Ok(conn)
    }

    /// Provider connections (viewer+), without keys.
    pub async fn list_providers(&self, actor: &Actor) -> Result<Vec<ProviderConnection>> {
        self.store.list_providers(actor.org_id).await
    }

    /// Deletes a provider connection (admin+).
    pub async fn delete_provider(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Admin, "managing providers needs admin")?;
        self.store.delete_provider(actor.org_id, id).await
    }

    /// A connection and its decrypted key, for the executor.
    pub async fn provider_with_key(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<(ProviderConnection, Option<String>)> {
        let (conn, sealed) = self.store.get_provider(org_id, id).await?;
        let key = match sealed {
            Some(s) => Some(String::from_utf8(self.secrets.open(&s)?).map_err(Error::internal)?),
            None => None,
        };
        Ok((conn, key))
    }

    // ------------------------------------------------------------------ agents

    async fn validate_spec(&self, actor: &Actor, spec: &mut AgentSpec) -> Result<()> {
        spec.name = spec.name.trim().to_string();
        check_len("name", &spec.name, 1, 100)?;
        check_len("description", &spec.description, 0, 2000)?;
        check_len("instructions", &spec.instructions, 0, 32 * 1024)?;
        let (conn, _) = self
            .store
            .get_provider(actor.org_id, spec.provider_id)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::validation(
                    "provider_id",
                    "no such provider connection in this organization",
                ),
                e => e,
            })?;
        if !conn.models.iter().any(|m| m == &spec.model) {
            return Err(Error::validation(
                "model",
                format!(
                    "provider '{}' offers: {}",
                    conn.name,
                    conn.models.join(", ")
                ),
            ));
        }
        spec.knowledge_base_ids.sort();
        spec.knowledge_base_ids.dedup();
        if spec.knowledge_base_ids.len() > crate::knowledge::MAX_AGENT_KNOWLEDGE_BASES {
            return Err(Error::validation(
                "knowledge_base_ids",
                format!(
                    "at most {} knowledge bases",
                    crate::knowledge::MAX_AGENT_KNOWLEDGE_BASES
                ),
            ));
        }
        if !spec.knowledge_base_ids.is_empty() {
            let Some(k) = self.knowledge.as_ref() else {
                return Err(Error::validation(
                    "knowledge_base_ids",
                    "knowledge bases are not available on this server",
                ));
            };
            for id in &spec.knowledge_base_ids {
                match k.store.get_knowledge_base(actor.org_id, *id).await {
                    Ok(_) => {}
                    Err(Error::NotFound(_)) => {
                        return Err(Error::validation(
                            "knowledge_base_ids",
                            format!("no knowledge base {id} in this organization"),
                        ))
                    }
                    Err(e) => return Err(e),
                }
            }
            // Attaching knowledge is what enables searching it.
            spec.tools
                .push(crate::knowledge::tool::KNOWLEDGE_SEARCH.to_string());
        }
        spec.tools.sort();
        spec.tools.dedup();
        if let Some(t) = spec
            .tools
            .iter()
            .find(|t| !BUILTIN_TOOLS.contains(&t.as_str()))
        {
            return Err(Error::validation(
                "tools",
                format!(
                    "unknown tool '{t}'; available: {}",
                    BUILTIN_TOOLS.join(", ")
                ),
            ));
        }
        if spec
            .tools
            .iter()
            .any(|t| t == crate::knowledge::tool::KNOWLEDGE_SEARCH)
            && spec.knowledge_base_ids.is_empty()
        {
            return Err(Error::validation(
                "tools",
                "knowledge_search needs at least one knowledge base in knowledge_base_ids",
            ));
        }
        for d in spec.http_allowlist.iter_mut() {
            *d = d.trim().trim_start_matches("*.").to_lowercase();
        }
        spec.http_allowlist.retain(|d| !d.is_empty());
        if spec.http_allowlist.len() > 100
            || spec.http_allowlist.iter().any(|d| {
                d.len() > 253
                    || !d
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            })
        {
            return Err(Error::validation(
                "http_allowlist",
                "up to 100 domain names (letters, digits, '.', '-')",
            ));
        }
        let l = &spec.limits;
        if !(1..=100).contains(&l.max_steps) {
            return Err(Error::validation("limits.max_steps", "must be 1 to 100"));
        }
        if !(1..=32768).contains(&l.max_output_tokens) {
            return Err(Error::validation(
                "limits.max_output_tokens",
                "must be 1 to 32768",
            ));
        }
        if !(1..=3600).contains(&l.timeout_secs) {
            return Err(Error::validation(
                "limits.timeout_secs",
                "must be 1 to 3600",
            ));
        }
        Ok(())
    }

    /// Creates an agent at version 1 (member+).
    pub async fn create_agent(&self, actor: &Actor, mut spec: AgentSpec) -> Result<Agent> {
        require(actor, Role::Member, "creating agents needs member")?;
        self.validate_spec(actor, &mut spec).await?;
        self.store
            .create_agent(actor.org_id, Uuid::now_v7(), &spec)
            .await
    }

    /// One agent (viewer+).
    pub async fn get_agent(&self, actor: &Actor, id: Uuid) -> Result<Agent> {
        self.store.get_agent(actor.org_id, id).await
    }

    /// A page of agents, newest first (viewer+). `limit` is clamped to 1..=[`MAX_PAGE`].
    pub async fn list_agents(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Agent>> {
        let limit = limit.unwrap_or(20).clamp(1, MAX_PAGE);
        let after = parse_cursor(cursor)?;
        let mut items = self
            .store
            .list_agents(actor.org_id, after, limit + 1)
            .await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|a| a.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Saves a new version of an agent (member+).
    pub async fn update_agent(
        &self,
        actor: &Actor,
        id: Uuid,
        mut spec: AgentSpec,
    ) -> Result<Agent> {
        require(actor, Role::Member, "editing agents needs member")?;
        self.store.get_agent(actor.org_id, id).await?;
        self.validate_spec(actor, &mut spec).await?;
        self.store.update_agent(actor.org_id, id, &spec).await
    }

    /// Deletes an agent (member+).
    pub async fn delete_agent(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor, Role::Member, "deleting agents needs member")?;
        self.store.delete_agent(actor.org_id, id).await
    }

    /// All versions of an agent, oldest first (viewer+).
    pub async fn agent_versions(&self, actor: &Actor, id: Uuid) -> Result<Vec<AgentVersion>> {
        self.store.list_agent_versions(actor.org_id, id).await
    }

    // ------------------------------------------------------------------ runs

    /// Queues a run of the agent's current version (member+). Returns the run and whether
    /// it was newly created (false when `idempotency_key` matched an earlier run).
    pub async fn start_run(
        &self,
        actor: &Actor,
        agent_id: Uuid,
        input: RunInput,
        idempotency_key: Option<&str>,
    ) -> Result<(Run, bool)> {
        require(actor, Role::Member, "starting runs needs member")?;
        if let Some(k) = idempotency_key {
            check_len("Idempotency-Key", k, 1, 255)?;
        }
        if input.input.trim().is_empty() || input.input.len() > 100_000 {
            return Err(Error::validation(
                "input",
                "must be 1 to 100000 bytes of text",
            ));
        }
        let agent = self.store.get_agent(actor.org_id, agent_id).await?;
        let thread_id = match input.thread_id {
            Some(t) => {
                let runs = self.store.list_thread_runs(actor.org_id, t).await?;
                let Some(last) = runs.last() else {
                    return Err(Error::validation("thread_id", "no such thread"));
                };
                if last.agent_id != agent_id {
                    return Err(Error::validation(
                        "thread_id",
                        "thread belongs to another agent",
                    ));
                }
                if !last.status.is_terminal() {
                    return Err(Error::Conflict(
                        "the thread's previous run is still in progress".into(),
                    ));
                }
                t
            }
            None => Uuid::now_v7(),
        };
        let new = NewRun {
            id: Uuid::now_v7(),
            org_id: actor.org_id,
            agent_id,
            agent_version: agent.version,
            thread_id,
            input: input.input,
            created_by: actor.user_id,
        };
        let (run, created) = self.store.create_run(&new, idempotency_key).await?;
        if created {
            if let Err(e) = self
                .queue
                .enqueue(
                    RUNS_QUEUE,
                    &serde_json::json!({ "run_id": run.id }),
                    RUN_MAX_ATTEMPTS,
                    Duration::ZERO,
                )
                .await
            {
                // Epoch 0: no executor has claimed the run (it was never enqueued).
                let _ = self
                    .store
                    .update_run(
                        run.id,
                        0,
                        &crate::store::RunUpdate {
                            status: RunStatus::Failed,
                            output: None,
                            error: Some("could not enqueue".into()),
                            usage: Usage::default(),
                            steps: 0,
                        },
                    )
                    .await;
                return Err(e);
            }
        }
        Ok((run, created))
    }

    /// One run (viewer+).
    pub async fn get_run(&self, actor: &Actor, id: Uuid) -> Result<Run> {
        self.store.get_run(actor.org_id, id).await
    }

    /// A page of runs, newest first, optionally of one agent (viewer+).
    pub async fn list_runs(
        &self,
        actor: &Actor,
        agent_id: Option<Uuid>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Run>> {
        let limit = limit.unwrap_or(20).clamp(1, MAX_PAGE);
        let after = parse_cursor(cursor)?;
        let mut items = self
            .store
            .list_runs(actor.org_id, agent_id, after, limit + 1)
            .await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Runs of a thread, oldest first (viewer+).
    pub async fn thread(&self, actor: &Actor, thread_id: Uuid) -> Result<Vec<Run>> {
        self.store.list_thread_runs(actor.org_id, thread_id).await
    }

    /// Asks a run to stop (member+); its executor is woken at once (in this process, or
    /// through the store's notifications in another), stops mid-stream if need be, and
    /// records a `cancelled` event.
    pub async fn cancel_run(&self, actor: &Actor, id: Uuid) -> Result<Run> {
        require(actor, Role::Member, "cancelling runs needs member")?;
        self.store.request_cancel(actor.org_id, id).await?;
        self.cancels.notify(id);
        self.notifier.notify(id);
        self.store.get_run(actor.org_id, id).await
    }

    /// Events of a run after `after` (viewer+), up to 500.
    pub async fn run_events(
        &self,
        actor: &Actor,
        run_id: Uuid,
        after: i64,
    ) -> Result<Vec<RunEvent>> {
        self.store.get_run(actor.org_id, run_id).await?;
        self.store.list_events(run_id, after, 500).await
    }
}

pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<Uuid>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => Uuid::parse_str(c)
            .map(Some)
            .map_err(|_| Error::validation("cursor", "malformed cursor")),
    }
}
