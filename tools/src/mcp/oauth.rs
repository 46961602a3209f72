//! OAuth 2.1 (authorization code + PKCE) for streamable HTTP connections with `auth: oauth`,
//! over rmcp's `auth` module (its `AuthorizationManager` runs the protocol on the `oauth2`
//! crate: RFC 9728 protected resource metadata, RFC 8414 authorization server metadata,
//! RFC 7591 dynamic client registration, PKCE S256, RFC 8707 `resource`, RFC 9207 `iss`,
//! refresh).
//!
//! Every OAuth request (metadata, registration, token) goes through the same HTTP client as
//! the MCP requests ([`connect::vetted_client`]): no redirects, no proxy, every resolved
//! address vetted. The browser's visit to the authorization endpoint is not ours to guard.
//!
//! State kept between the steps, all sealed by the domain:
//! * [`Flow`] — from `start_authorization` to the callback: the client registration and
//!   rmcp's `StoredAuthorizationState` (the PKCE verifier, the CSRF `state`, the expected
//!   issuer);
//! * [`Grant`] — after the callback, in the connection's secrets: the client registration
//!   and rmcp's `StoredCredentials` (access and refresh tokens, granted scopes). A live
//!   session refreshes through [`DbCredentials`], which writes every new token pair back.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use autonoma_core::mcp::{McpEndpoint, McpSecrets, McpServerStatus, OAuthGrant, OAuthStart};
use autonoma_core::secret::SecretBox;
use autonoma_core::store::prelude::*;
use autonoma_core::{Error, Result};
use rmcp::transport::auth::{
    AuthClient, AuthError, AuthorizationManager, CredentialRefreshGuard, CredentialStore,
    OAuthClientConfig, StateStore, StoredAuthorizationState, StoredCredentials,
};
use rmcp::transport::StreamableHttpClientTransport;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{connect, McpSettings};

/// The name sent in dynamic client registration.
const CLIENT_NAME: &str = "Autonoma";

/// An OAuth client as registered with the authorization server.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Client {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    redirect_uri: String,
    #[serde(default)]
    scopes: Vec<String>,
}

impl Client {
    fn config(&self) -> OAuthClientConfig {
        let mut c = OAuthClientConfig::new(self.client_id.clone(), self.redirect_uri.clone())
            .with_scopes(self.scopes.clone());
        if let Some(s) = &self.client_secret {
            c = c.with_client_secret(s.clone());
        }
        c
    }
}

/// An authorization between `start_authorization` and the callback.
#[derive(Serialize, Deserialize)]
struct Flow {
    client: Client,
    csrf: String,
    state: StoredAuthorizationState,
}

/// A finished authorization: what a session needs to send and refresh tokens.
#[derive(Clone, Serialize, Deserialize)]
struct Grant {
    client: Client,
    credentials: StoredCredentials,
}

fn needs_authorization(name: &str, id: Uuid) -> Error {
    Error::validation(
        "auth",
        format!(
            "MCP server '{name}' needs authorization: an admin must connect it again \
             (POST /api/v1/mcp-servers/{id}/authorize, or Connect under Settings → MCP servers)"
        ),
    )
}

/// A manager for the connection's URL on the vetted client, with the authorization server's
/// metadata discovered (protected resource metadata first). Errors: [`Error::Validation`]
/// (`auth`) when the server publishes no OAuth metadata, (`url`) when it cannot be read.
async fn manager(settings: &McpSettings, endpoint: &McpEndpoint) -> Result<AuthorizationManager> {
    let url = endpoint.server.url.as_deref().unwrap_or("");
    let mut m = AuthorizationManager::new(url)
        .await
        .map_err(|e| Error::validation("url", format!("OAuth: {e}")))?;
    m.with_client(connect::vetted_client(settings)?)
        .map_err(|e| Error::internal(format!("OAuth client: {e}")))?;
    let resolution = m
        .resolve_metadata()
        .await
        .map_err(|e| Error::validation("url", format!("OAuth metadata discovery failed: {e}")))?;
    if !resolution.source.is_discovered() {
        return Err(Error::validation(
            "auth",
            "the server publishes no OAuth metadata (RFC 9728 protected resource metadata or \
             RFC 8414 authorization server metadata): use a bearer token or headers instead",
        ));
    }
    m.set_metadata(resolution.metadata);
    Ok(m)
}

/// [`autonoma_core::mcp::McpConnector::discover_oauth`].
pub(crate) async fn discover(settings: &McpSettings, endpoint: &McpEndpoint) -> Result<()> {
    manager(settings, endpoint).await.map(|_| ())
}

/// Holds the one authorization state of a flow (rmcp's manager saves it when it builds the
/// authorization URL and loads and deletes it at the code exchange).
#[derive(Clone, Default)]
struct OneState(Arc<Mutex<Option<(String, StoredAuthorizationState)>>>);

#[async_trait]
impl StateStore for OneState {
    async fn save(
        &self,
        csrf_token: &str,
        state: StoredAuthorizationState,
    ) -> std::result::Result<(), AuthError> {
        *self.0.lock().unwrap() = Some((csrf_token.to_string(), state));
        Ok(())
    }

    async fn load(
        &self,
        csrf_token: &str,
    ) -> std::result::Result<Option<StoredAuthorizationState>, AuthError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .as_ref()
            .filter(|(k, _)| k == csrf_token)
            .map(|(_, s)| s.clone()))
    }

    async fn delete(&self, csrf_token: &str) -> std::result::Result<(), AuthError> {
        let mut s = self.0.lock().unwrap();
        if s.as_ref().is_some_and(|(k, _)| k == csrf_token) {
            *s = None;
        }
        Ok(())
    }
}

/// Receives the credentials of the code exchange.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Option<StoredCredentials>>>);

#[async_trait]
impl CredentialStore for Captured {
    async fn load(&self) -> std::result::Result<Option<StoredCredentials>, AuthError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn save(&self, credentials: StoredCredentials) -> std::result::Result<(), AuthError> {
        *self.0.lock().unwrap() = Some(credentials);
        Ok(())
    }
    async fn clear(&self) -> std::result::Result<(), AuthError> {
        *self.0.lock().unwrap() = None;
        Ok(())
    }
}

/// [`autonoma_core::mcp::McpConnector::start_authorization`]: registers a client (RFC 7591)
/// unless one is pre-registered, then builds the authorization URL (PKCE S256 challenge,
/// random `state`, `resource`, scopes: the configured ones or those the server advertises).
pub(crate) async fn start(
    settings: &McpSettings,
    endpoint: &McpEndpoint,
    redirect_uri: &str,
) -> Result<OAuthStart> {
    let oauth = endpoint
        .server
        .oauth
        .as_ref()
        .ok_or_else(|| Error::validation("auth", "this connection does not use OAuth"))?;
    let mut m = manager(settings, endpoint).await?;
    let states = OneState::default();
    m.set_state_store(states.clone());
    let scopes = if oauth.scopes.is_empty() {
        m.select_scopes(None, &[])
    } else {
        oauth.scopes.clone()
    };
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let client = match (&oauth.client_id, oauth.preregistered) {
        (Some(id), true) => Client {
            client_id: id.clone(),
            client_secret: endpoint.secrets.oauth_client_secret.clone(),
            redirect_uri: redirect_uri.to_string(),
            scopes: scopes.clone(),
        },
        _ => {
            let c = m
                .register_client(CLIENT_NAME, redirect_uri, &scope_refs)
                .await
                .map_err(|e| {
                    Error::validation("auth", format!("client registration failed: {e}"))
                })?;
            Client {
                client_id: c.client_id,
                client_secret: c.client_secret,
                redirect_uri: redirect_uri.to_string(),
                scopes: scopes.clone(),
            }
        }
    };
    m.configure_client(client.config())
        .map_err(|e| Error::validation("auth", format!("OAuth client: {e}")))?;
    let authorization_url = m
        .get_authorization_url(&scope_refs)
        .await
        .map_err(|e| Error::validation("auth", format!("authorization URL: {e}")))?;
    let (csrf, state) = states
        .0
        .lock()
        .unwrap()
        .take()
        .ok_or_else(|| Error::internal("the OAuth manager kept no authorization state"))?;
    let flow = Flow {
        client,
        csrf: csrf.clone(),
        state,
    };
    Ok(OAuthStart {
        authorization_url,
        state: csrf,
        flow: serde_json::to_value(&flow).map_err(Error::internal)?,
    })
}

/// [`autonoma_core::mcp::McpConnector::finish_authorization`]: the code exchange with the
/// PKCE verifier of `flow` (and the RFC 9207 issuer check when the callback has `iss` or
/// the server requires it).
pub(crate) async fn finish(
    settings: &McpSettings,
    endpoint: &McpEndpoint,
    flow: &serde_json::Value,
    code: &str,
    issuer: Option<&str>,
) -> Result<OAuthGrant> {
    let flow: Flow = serde_json::from_value(flow.clone()).map_err(Error::internal)?;
    let mut m = manager(settings, endpoint).await?;
    let states = OneState::default();
    *states.0.lock().unwrap() = Some((flow.csrf.clone(), flow.state));
    m.set_state_store(states);
    let captured = Captured::default();
    m.set_credential_store(captured.clone());
    m.configure_client(flow.client.config())
        .map_err(|e| Error::validation("auth", format!("OAuth client: {e}")))?;
    m.exchange_code_for_token_with_issuer(code, &flow.csrf, issuer)
        .await
        .map_err(|e| {
            Error::validation(
                "code",
                format!("the authorization server did not issue a token: {e}"),
            )
        })?;
    let credentials = captured
        .0
        .lock()
        .unwrap()
        .take()
        .ok_or_else(|| Error::internal("the OAuth manager kept no credentials"))?;
    let grant = Grant {
        client: flow.client,
        credentials,
    };
    Ok(OAuthGrant {
        client_id: grant.client.client_id.clone(),
        has_client_secret: grant.client.client_secret.is_some(),
        granted_scopes: grant.credentials.granted_scopes.clone(),
        grant: serde_json::to_value(&grant).map_err(Error::internal)?,
    })
}

/// Marks connection `id` as needing an authorization, with `reason`.
async fn mark_needs_authorization(store: &dyn Store, org_id: Uuid, id: Uuid, reason: &str) {
    let result = async {
        let (server, _) = store.get_mcp_server(org_id, id).await?;
        let Some(mut oauth) = server.oauth else {
            return Ok(());
        };
        oauth.authorized = false;
        oauth.reason = Some(reason.to_string());
        store.set_mcp_oauth(org_id, id, &oauth, None).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::warn!(server = %id, "MCP OAuth connection needs authorization: {reason}")
        }
        Err(e) => tracing::warn!(server = %id, "marking an MCP connection unauthorized: {e}"),
    }
}

/// The credential store of a live OAuth session: the grant in memory, reloaded from the
/// store before each refresh (another process may have rotated the refresh token), and
/// every refreshed token pair sealed back into the connection's secrets.
#[derive(Clone)]
struct DbCredentials {
    store: Arc<dyn Store>,
    secrets: SecretBox,
    org_id: Uuid,
    server_id: Uuid,
    grant: Arc<Mutex<Grant>>,
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
}

impl DbCredentials {
    async fn reload(&self) -> Result<()> {
        let (_, sealed) = self
            .store
            .get_mcp_server(self.org_id, self.server_id)
            .await?;
        let secrets = McpSecrets::open(&self.secrets, sealed.as_deref())?;
        if let Some(g) = secrets.oauth_grant {
            *self.grant.lock().unwrap() = serde_json::from_value(g).map_err(Error::internal)?;
        }
        Ok(())
    }

    async fn persist(&self, credentials: StoredCredentials) -> Result<()> {
        let grant = {
            let mut g = self.grant.lock().unwrap();
            g.credentials = credentials;
            g.clone()
        };
        let (server, sealed) = self
            .store
            .get_mcp_server(self.org_id, self.server_id)
            .await?;
        let mut secrets = McpSecrets::open(&self.secrets, sealed.as_deref())?;
        secrets.oauth_grant = Some(serde_json::to_value(&grant).map_err(Error::internal)?);
        let mut oauth = server.oauth.unwrap_or_default();
        oauth.authorized = true;
        oauth.reason = None;
        oauth.granted_scopes = grant.credentials.granted_scopes.clone();
        self.store
            .set_mcp_oauth(
                self.org_id,
                self.server_id,
                &oauth,
                Some(&secrets.seal(&self.secrets)),
            )
            .await
    }
}

fn store_error(e: Error) -> AuthError {
    AuthError::CredentialStoreError(e.to_string())
}

#[async_trait]
impl CredentialStore for DbCredentials {
    async fn load(&self) -> std::result::Result<Option<StoredCredentials>, AuthError> {
        Ok(Some(self.grant.lock().unwrap().credentials.clone()))
    }

    async fn save(&self, credentials: StoredCredentials) -> std::result::Result<(), AuthError> {
        self.persist(credentials).await.map_err(store_error)
    }

    async fn clear(&self) -> std::result::Result<(), AuthError> {
        mark_needs_authorization(
            &*self.store,
            self.org_id,
            self.server_id,
            "the stored credentials were discarded (the authorization server changed)",
        )
        .await;
        Ok(())
    }

    async fn on_refresh_token_rejected(
        &self,
        _credentials: &StoredCredentials,
    ) -> std::result::Result<(), AuthError> {
        mark_needs_authorization(
            &*self.store,
            self.org_id,
            self.server_id,
            "the authorization server refused the refresh token",
        )
        .await;
        Ok(())
    }

    async fn acquire_refresh_guard(
        &self,
    ) -> std::result::Result<Option<CredentialRefreshGuard>, AuthError> {
        let guard = self.refresh_lock.clone().lock_owned().await;
        self.reload().await.map_err(store_error)?;
        Ok(Some(CredentialRefreshGuard::new(guard)))
    }
}

/// The streamable HTTP transport of an OAuth connection: requests carry the grant's access
/// token, refreshed (and stored again) when it expires. Errors: [`Error::Validation`]
/// (`auth`) when the connection needs an authorization — never authorized, or the refresh
/// was refused (it is then marked so); (`url`) when the metadata cannot be read.
pub(crate) async fn transport(
    settings: &McpSettings,
    store: Arc<dyn Store>,
    secrets: SecretBox,
    endpoint: &McpEndpoint,
) -> Result<StreamableHttpClientTransport<AuthClient<reqwest013::Client>>> {
    let s = &endpoint.server;
    let grant: Grant = match (&endpoint.secrets.oauth_grant, s.status) {
        (Some(g), McpServerStatus::Ready) => {
            serde_json::from_value(g.clone()).map_err(Error::internal)?
        }
        _ => return Err(needs_authorization(&s.name, s.id)),
    };
    let mut m = manager(settings, endpoint).await?;
    let client = grant.client.clone();
    m.set_credential_store(DbCredentials {
        store: store.clone(),
        secrets,
        org_id: s.org_id,
        server_id: s.id,
        grant: Arc::new(Mutex::new(grant)),
        refresh_lock: Arc::default(),
    });
    m.configure_client(client.config())
        .map_err(|e| Error::validation("auth", format!("OAuth client: {e}")))?;
    match m.get_access_token().await {
        Ok(_) => {}
        Err(AuthError::AuthorizationRequired) => {
            mark_needs_authorization(
                &*store,
                s.org_id,
                s.id,
                "the access token expired and could not be refreshed",
            )
            .await;
            return Err(needs_authorization(&s.name, s.id));
        }
        Err(e) => {
            return Err(Error::validation(
                "url",
                format!("MCP server '{}': OAuth token refresh failed: {e}", s.name),
            ))
        }
    }
    let config = connect::http_config(endpoint)?;
    Ok(StreamableHttpClientTransport::with_client(
        AuthClient::new(connect::vetted_client(settings)?, m),
        config,
    ))
}
