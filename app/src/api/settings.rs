//! Settings server functions: provider connections and API keys.

use autonoma_types::{ApiKey, CreatedApiKey, ProviderConnection};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

// ---------------------------------------------------------------------------- providers

/// The organization's provider connections.
#[server(prefix = "/sfn", endpoint = "providers/list")]
pub async fn list_providers() -> Result<Vec<ProviderConnection>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc.list_providers(&actor).await?)
}

/// Adds a provider connection. `kind` is `local` or `openai_compatible`; `models` is one
/// name per line (or comma-separated); the API key is write-only.
#[server(prefix = "/sfn", endpoint = "providers/create")]
pub async fn create_provider(
    #[doc = "Display name."] name: String,
    #[doc = "`local` or `openai_compatible`."] kind: String,
    #[doc = "Endpoint of an OpenAI-compatible provider."] base_url: Option<String>,
    #[doc = "API key (write-only)."] api_key: Option<String>,
    #[doc = "Model names, one per line."] models: Option<String>,
) -> Result<ProviderConnection, AppError> {
    use autonoma_types::ProviderKind;
    let (svc, actor) = ssr::actor().await?;
    let kind = ProviderKind::parse(kind.trim())
        .ok_or_else(|| AppError::field("kind", "choose Local or OpenAI-compatible"))?;
    let models = models
        .unwrap_or_default()
        .split(['\n', ','])
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    let conn = svc
        .create_provider(
            &actor,
            autonoma_types::NewProvider {
                name,
                kind,
                base_url: base_url.filter(|u| !u.trim().is_empty()),
                api_key: api_key.filter(|k| !k.is_empty()),
                models,
            },
        )
        .await?;
    Ok(conn)
}

/// Deletes a provider connection.
#[server(prefix = "/sfn", endpoint = "providers/delete")]
pub async fn delete_provider(#[doc = "Connection id."] id: String) -> Result<(), AppError> {
    let (svc, actor) = ssr::actor().await?;
    svc.delete_provider(&actor, ssr::uuid("id", &id)?).await?;
    Ok(())
}

// ---------------------------------------------------------------------------- API keys

/// The organization's API keys (revoked ones included).
#[server(prefix = "/sfn", endpoint = "keys/list")]
pub async fn list_api_keys() -> Result<Vec<ApiKey>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc.list_api_keys(&actor).await?)
}

/// Creates an API key; the secret is in the answer (and, for a form posted without
/// JavaScript, handed to the next page load through a short-lived HttpOnly cookie).
#[server(prefix = "/sfn", endpoint = "keys/create")]
pub async fn create_api_key(
    #[doc = "Label of the key."] name: String,
    #[doc = "Role it acts with (`admin`, `member`, `viewer`); empty for the caller's."]
    role: Option<String>,
) -> Result<CreatedApiKey, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let role = match role.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(
            autonoma_types::Role::parse(r)
                .ok_or_else(|| AppError::field("role", "unknown role"))?,
        ),
    };
    let created = svc.create_api_key(&actor, &name, role).await?;
    if ssr::is_plain_form_post() {
        ssr::set_cookie(
            ssr::NEW_KEY_COOKIE,
            &format!("{}:{}", created.key.id, created.secret),
            "/settings/api-keys",
            300,
            "Strict",
        );
    }
    Ok(created)
}

/// The key created by the previous plain form post, if any (read once).
#[server(prefix = "/sfn", endpoint = "keys/flash")]
pub async fn take_new_key() -> Result<Option<CreatedApiKey>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let Some(flash) = ssr::parts()?.extensions.get::<ssr::NewKeyFlash>().cloned() else {
        return Ok(None);
    };
    let keys = svc.list_api_keys(&actor).await?;
    let Some(key) = keys.into_iter().find(|k| k.id.to_string() == flash.0) else {
        return Ok(None);
    };
    Ok(Some(CreatedApiKey {
        key,
        secret: flash.1,
    }))
}

/// Revokes an API key.
#[server(prefix = "/sfn", endpoint = "keys/revoke")]
pub async fn revoke_api_key(#[doc = "Key id."] id: String) -> Result<(), AppError> {
    let (svc, actor) = ssr::actor().await?;
    svc.revoke_api_key(&actor, ssr::uuid("id", &id)?).await?;
    Ok(())
}
