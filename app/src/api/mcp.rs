//! MCP server connections page (`/mcp-servers`) server functions: list, add (stdio or
//! streamable HTTP with a bearer token or OAuth), start an OAuth authorization, refresh
//! the tools, delete. Secrets are write-only; the records never carry them.

use autonoma_types::mcp::McpServer;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// The organization's MCP server connections with their cached tools.
#[server(prefix = "/sfn", endpoint = "mcp/list")]
pub async fn list_mcp_servers() -> Result<Vec<McpServer>, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc.list_mcp_servers(&actor).await?)
}

/// Lines of a textarea, trimmed, empty ones left out.
#[cfg(feature = "ssr")]
fn lines(s: Option<String>) -> Vec<String> {
    s.unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `KEY=value` lines into a map. Errors: a line without `=` ([`AppError::field`] on
/// `field`).
#[cfg(feature = "ssr")]
fn pairs(
    field: &str,
    sep: char,
    s: Option<String>,
) -> Result<std::collections::BTreeMap<String, String>, AppError> {
    lines(s)
        .into_iter()
        .map(|l| match l.split_once(sep) {
            Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
            None => Err(AppError::field(
                field,
                format!("each line is NAME{sep}value (got “{l}”)"),
            )),
        })
        .collect()
}

/// Adds a connection (admin+). `transport` is `stdio` or `streamable_http`; `args` one
/// per line; `env` and `headers` are `NAME=value` / `Name: value` lines (write-only);
/// `auth` is `none`, `bearer` (with `bearer_token`) or `oauth` (optional pre-registered
/// `client_id` / `client_secret`, `scopes` separated by spaces). The server is reached and
/// its tools listed before anything is stored (an OAuth one only has its metadata read:
/// it is connected afterwards with [`authorize_mcp_server`]).
#[server(prefix = "/sfn", endpoint = "mcp/create")]
#[allow(clippy::too_many_arguments)]
pub async fn create_mcp_server(
    #[doc = "Slug, e.g. `files`."] name: String,
    #[doc = "`stdio` or `streamable_http`."] transport: String,
    #[doc = "stdio: absolute path of the program."] command: Option<String>,
    #[doc = "stdio: arguments, one per line."] args: Option<String>,
    #[doc = "stdio: `NAME=value` lines (write-only)."] env: Option<String>,
    #[doc = "HTTP: endpoint URL."] url: Option<String>,
    #[doc = "HTTP: `Name: value` lines (write-only)."] headers: Option<String>,
    #[doc = "HTTP: `none`, `bearer` or `oauth`."] auth: Option<String>,
    #[doc = "HTTP bearer token (write-only)."] bearer_token: Option<String>,
    #[doc = "OAuth: pre-registered client id."] client_id: Option<String>,
    #[doc = "OAuth: its secret (write-only)."] client_secret: Option<String>,
    #[doc = "OAuth: scopes separated by spaces."] scopes: Option<String>,
    #[doc = "Longest tool call in seconds."] timeout_secs: Option<String>,
) -> Result<McpServer, AppError> {
    use autonoma_types::mcp::{NewMcpOAuth, NewMcpServer};
    let (svc, actor) = ssr::actor().await?;
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let stdio = transport.trim() == "stdio";
    let auth = nonempty(auth).unwrap_or_else(|| "none".into());
    let timeout_secs = match nonempty(timeout_secs) {
        None => None,
        Some(t) => Some(
            t.parse::<u32>()
                .map_err(|_| AppError::field("timeout_secs", "a whole number of seconds"))?,
        ),
    };
    let input = NewMcpServer {
        name,
        transport: transport.trim().to_string(),
        command: if stdio { nonempty(command) } else { None },
        args: if stdio { lines(args) } else { vec![] },
        env: if stdio {
            pairs("env", '=', env)?
        } else {
            Default::default()
        },
        url: if stdio { None } else { nonempty(url) },
        headers: if stdio {
            Default::default()
        } else {
            pairs("headers", ':', headers)?
        },
        bearer_token: if !stdio && auth == "bearer" {
            nonempty(bearer_token)
        } else {
            None
        },
        auth: (!stdio && auth == "oauth").then(|| "oauth".to_string()),
        oauth: (!stdio && auth == "oauth").then(|| NewMcpOAuth {
            client_id: nonempty(client_id),
            client_secret: nonempty(client_secret),
            scopes: scopes
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }),
        timeout_secs,
    };
    Ok(svc.create_mcp_server(&actor, input).await?)
}

/// Starts the OAuth authorization of connection `id` (admin+) and answers the URL of the
/// authorization server's page to send the browser to (a plain form post is redirected
/// there). The authorization server sends the browser back to
/// `/api/v1/mcp-servers/oauth/callback`, which lands on this page again.
#[server(prefix = "/sfn", endpoint = "mcp/authorize")]
pub async fn authorize_mcp_server(
    #[doc = "Connection id."] id: String,
) -> Result<String, AppError> {
    let (svc, actor) = ssr::actor().await?;
    let parts = ssr::parts()?;
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .unwrap_or("localhost")
        .to_string();
    let scheme = if ssr::is_https(&parts) {
        "https"
    } else {
        "http"
    };
    let redirect_uri = format!("{scheme}://{host}/api/v1/mcp-servers/oauth/callback");
    let start = svc
        .start_mcp_authorization(&actor, ssr::uuid("id", &id)?, &redirect_uri)
        .await?;
    if ssr::is_plain_form_post() {
        leptos_axum::redirect(&start.authorization_url);
    }
    Ok(start.authorization_url)
}

/// Lists the connection's tools again (admin+).
#[server(prefix = "/sfn", endpoint = "mcp/refresh")]
pub async fn refresh_mcp_tools(
    #[doc = "Connection id."] id: String,
) -> Result<McpServer, AppError> {
    let (svc, actor) = ssr::actor().await?;
    Ok(svc.refresh_mcp_tools(&actor, ssr::uuid("id", &id)?).await?)
}

/// Deletes the connection (admin+); agents keep the tool names but runs go without them.
#[server(prefix = "/sfn", endpoint = "mcp/delete")]
pub async fn delete_mcp_server(#[doc = "Connection id."] id: String) -> Result<(), AppError> {
    let (svc, actor) = ssr::actor().await?;
    svc.delete_mcp_server(&actor, ssr::uuid("id", &id)?).await?;
    Ok(())
}
