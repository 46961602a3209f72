//! Reaching one MCP server: the stdio child process (cleared environment) or the streamable
//! HTTP transport on an HTTP client that refuses redirects and vets every address it
//! connects to ([`crate::address`]).

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;

use autonoma_core::mcp::{McpEndpoint, McpTransport};
use autonoma_core::{Error, Result};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use tokio::io::AsyncBufReadExt;

use super::McpSettings;

/// Whether `ip` may be contacted: a globally routable address ([`crate::address::classify`]
/// finds no special-purpose block), or loopback where the settings allow it.
pub(crate) fn address_allowed(
    settings: &McpSettings,
    ip: IpAddr,
) -> std::result::Result<(), String> {
    if settings.allow_loopback && ip.is_loopback() {
        return Ok(());
    }
    match crate::address::classify(ip) {
        None => Ok(()),
        Some(refusal) => Err(refusal.to_string()),
    }
}

/// The checks of [`autonoma_core::mcp::McpConnector::check`].
pub(crate) async fn check(settings: &McpSettings, endpoint: &McpEndpoint) -> Result<()> {
    match endpoint.server.transport {
        McpTransport::Stdio => {
            if !settings.allow_stdio {
                return Err(Error::validation(
                    "transport",
                    "stdio MCP servers are disabled on this server (AUTONOMA_MCP_ALLOW_STDIO)",
                ));
            }
            Ok(())
        }
        McpTransport::StreamableHttp => {
            let raw = endpoint.server.url.as_deref().unwrap_or("");
            let url = url::Url::parse(raw)
                .map_err(|e| Error::validation("url", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(Error::validation("url", "must be http(s)"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(Error::validation(
                    "url",
                    "put credentials in headers or bearer_token, not in the URL",
                ));
            }
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<IpAddr> = match url.host() {
                Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
                Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
                Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|e| Error::validation("url", format!("cannot resolve {d}: {e}")))?
                    .map(|a| a.ip())
                    .collect(),
                None => return Err(Error::validation("url", "has no host")),
            };
            if addrs.is_empty() {
                return Err(Error::validation("url", "the host resolves to no address"));
            }
            for ip in addrs {
                address_allowed(settings, ip).map_err(|why| {
                    Error::validation("url", format!("refused address {ip}: {why}"))
                })?;
            }
            Ok(())
        }
    }
}

/// The child process of a stdio connection: `command args…` with a cleared environment
/// holding only the configured variables, working directory `/`, stdin/stdout piped to the
/// client, stderr forwarded line by line to the log (at `debug`, at most 200 lines).
pub(crate) fn stdio_transport(endpoint: &McpEndpoint) -> Result<TokioChildProcess> {
    let s = &endpoint.server;
    let command = s
        .command
        .as_deref()
        .ok_or_else(|| Error::validation("command", "missing"))?;
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(&s.args)
        .env_clear()
        .envs(&endpoint.secrets.env)
        .current_dir("/")
        .kill_on_drop(true);
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::validation("command", format!("cannot start {command}: {e}")))?;
    if let Some(stderr) = stderr {
        let name = s.name.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut n = 0;
            while let Ok(Some(line)) = lines.next_line().await {
                if n < 200 {
                    tracing::debug!(server = %name, "mcp stderr: {line}");
                }
                n += 1;
            }
        });
    }
    Ok(transport)
}

/// Resolves names like the system, refusing the whole answer when any address is not
/// allowed ([`address_allowed`]), so a name cannot be re-pointed at an internal address
/// between the check and the connection (DNS rebinding).
struct VettingResolver {
    settings: McpSettings,
}

impl reqwest013::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest013::dns::Name) -> reqwest013::dns::Resolving {
        let settings = self.settings.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for a in &addrs {
                address_allowed(&settings, a.ip())
                    .map_err(|why| format!("refused address {} of {host}: {why}", a.ip()))?;
            }
            let addrs: reqwest013::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The streamable HTTP transport of a connection: its URL, headers and bearer token, on a
/// client without redirects or proxies whose resolver vets every address.
pub(crate) fn http_transport(
    settings: &McpSettings,
    endpoint: &McpEndpoint,
) -> Result<StreamableHttpClientTransport<reqwest013::Client>> {
    let mut config = http_config(endpoint)?;
    if let Some(token) = &endpoint.secrets.bearer_token {
        config = config.auth_header(token.clone());
    }
    Ok(StreamableHttpClientTransport::with_client(
        vetted_client(settings)?,
        config,
    ))
}

/// The streamable HTTP config of a connection: its URL and extra headers (no
/// `Authorization`: an OAuth connection's token comes from its [`super::oauth`] manager).
pub(crate) fn http_config(endpoint: &McpEndpoint) -> Result<StreamableHttpClientTransportConfig> {
    let url = endpoint
        .server
        .url
        .clone()
        .ok_or_else(|| Error::validation("url", "missing"))?;
    let mut headers = std::collections::HashMap::new();
    for (k, v) in &endpoint.secrets.headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| Error::validation("headers", format!("{k}: {e}")))?;
        let value = http::HeaderValue::from_str(v)
            .map_err(|e| Error::validation("headers", format!("{k}: {e}")))?;
        headers.insert(name, value);
    }
    Ok(StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers))
}

/// The HTTP client for everything sent to a connection's hosts (MCP requests, and the OAuth
/// metadata, registration and token requests): no redirects, no proxy, every resolved
/// address vetted ([`VettingResolver`]), the connect timeout of the settings.
pub(crate) fn vetted_client(settings: &McpSettings) -> Result<reqwest013::Client> {
    reqwest013::Client::builder()
        .redirect(reqwest013::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(VettingResolver {
            settings: settings.clone(),
        }))
        .connect_timeout(settings.connect_timeout)
        .user_agent(concat!("autonoma/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(format!("HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allow_loopback: bool) -> McpSettings {
        McpSettings {
            allow_loopback,
            ..McpSettings::default()
        }
    }

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        for ip in [
            "169.254.169.254",
            "10.0.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "::1",
            "fd00::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(address_allowed(&settings(false), ip).is_err(), "{ip}");
        }
        assert!(address_allowed(&settings(false), "93.184.215.14".parse().unwrap()).is_ok());
        // Loopback only where the operator allowed it; metadata never.
        assert!(address_allowed(&settings(true), "127.0.0.1".parse().unwrap()).is_ok());
        assert!(address_allowed(&settings(true), "169.254.169.254".parse().unwrap()).is_err());
    }
}
