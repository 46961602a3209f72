//! The MCP server store on both engines: connections with sealed secrets and cached tools,
//! names unique per organization, tool-cache replacement, deletion, and isolation between
//! organizations (on PostgreSQL under row-level security).

#[allow(unused_imports)]
use autonoma_core::store::prelude::*;

use autonoma_core::mcp::{
    McpOAuth, McpOAuthPending, McpServer, McpServerStatus, McpTool, McpToolAnnotations,
    McpTransport,
};
use autonoma_core::Error;
use chrono::{Duration, Utc};
use uuid::Uuid;

#[path = "support/backends.rs"]
#[macro_use]
mod backends;

on_both_backends!(
    connections_keep_their_config_secrets_and_tools,
    names_are_unique_per_organization,
    other_organizations_see_nothing,
    oauth_state_and_pending_authorizations,
);

async fn org<S: Store + ?Sized>(s: &S, email: &str) -> Uuid {
    s.create_user_with_org(email, "n", "hash", "org")
        .await
        .unwrap()
        .1
        .id
}

fn tool(name: &str, read_only: bool) -> McpTool {
    McpTool {
        name: format!("everything__{name}"),
        remote_name: name.into(),
        description: format!("the {name} tool"),
        input_schema: serde_json::json!({"type": "object", "properties": {"message": {"type": "string"}}}),
        annotations: McpToolAnnotations {
            read_only_hint: Some(read_only),
            ..Default::default()
        },
    }
}

fn server(org_id: Uuid, name: &str, transport: McpTransport) -> McpServer {
    let now = Utc::now();
    McpServer {
        id: Uuid::now_v7(),
        org_id,
        name: name.into(),
        transport,
        command: (transport == McpTransport::Stdio).then(|| "/usr/bin/node".into()),
        args: vec!["/opt/server.js".into(), "stdio".into()],
        env_names: vec!["API_KEY".into()],
        url: (transport == McpTransport::StreamableHttp)
            .then(|| "https://mcp.example.com/mcp".into()),
        header_names: vec!["x-api-key".into()],
        has_bearer_token: transport == McpTransport::StreamableHttp,
        oauth: None,
        status: McpServerStatus::Ready,
        timeout_secs: 12,
        tools: vec![tool("echo", true), tool("write", false)],
        // Whole microseconds: both engines keep that precision.
        tools_refreshed_at: now
            - Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos() % 1000)),
        created_at: now - Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos() % 1000)),
    }
}

async fn connections_keep_their_config_secrets_and_tools<S: Store + ?Sized>(s: &S) {
    let org_id = org(s, "a@example.com").await;
    let stdio = server(org_id, "everything", McpTransport::Stdio);
    let http = server(org_id, "remote", McpTransport::StreamableHttp);
    s.create_mcp_server(&stdio, Some(b"sealed-bytes"))
        .await
        .unwrap();
    s.create_mcp_server(&http, None).await.unwrap();

    let (got, sealed) = s.get_mcp_server(org_id, stdio.id).await.unwrap();
    assert_eq!(got, stdio);
    assert_eq!(sealed.as_deref(), Some(&b"sealed-bytes"[..]));
    let (got, sealed) = s.get_mcp_server(org_id, http.id).await.unwrap();
    assert_eq!(got, http);
    assert_eq!(sealed, None);
    assert!(got.tools[0].read_only() && !got.tools[1].read_only());

    let listed = s.list_mcp_servers(org_id).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [stdio.id, http.id]
    );

    // The tool cache is replaced as a whole.
    let later = stdio.tools_refreshed_at + Duration::seconds(5);
    s.set_mcp_tools(org_id, stdio.id, &[tool("add", true)], later)
        .await
        .unwrap();
    let (got, _) = s.get_mcp_server(org_id, stdio.id).await.unwrap();
    assert_eq!(got.tools, vec![tool("add", true)]);
    assert_eq!(got.tools_refreshed_at, later);

    s.delete_mcp_server(org_id, stdio.id).await.unwrap();
    assert!(matches!(
        s.get_mcp_server(org_id, stdio.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.delete_mcp_server(org_id, stdio.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.set_mcp_tools(org_id, stdio.id, &[], later).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(s.list_mcp_servers(org_id).await.unwrap().len(), 1);
}

async fn names_are_unique_per_organization<S: Store + ?Sized>(s: &S) {
    let a = org(s, "a@example.com").await;
    let b = org(s, "b@example.com").await;
    s.create_mcp_server(&server(a, "files", McpTransport::Stdio), None)
        .await
        .unwrap();
    let again = s
        .create_mcp_server(&server(a, "files", McpTransport::StreamableHttp), None)
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    assert_eq!(s.list_mcp_servers(a).await.unwrap().len(), 1);
    // Another organization may use the same name.
    s.create_mcp_server(&server(b, "files", McpTransport::Stdio), None)
        .await
        .unwrap();
}

async fn other_organizations_see_nothing<S: Store + ?Sized>(s: &S) {
    let a = org(s, "a@example.com").await;
    let b = org(s, "b@example.com").await;
    let mine = server(a, "everything", McpTransport::Stdio);
    s.create_mcp_server(&mine, Some(b"secret")).await.unwrap();
    assert!(s.list_mcp_servers(b).await.unwrap().is_empty());
    assert!(matches!(
        s.get_mcp_server(b, mine.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.set_mcp_tools(b, mine.id, &[], Utc::now()).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.delete_mcp_server(b, mine.id).await,
        Err(Error::NotFound(_))
    ));
    let (still, _) = s.get_mcp_server(a, mine.id).await.unwrap();
    assert_eq!(still.tools, mine.tools);
}

/// An OAuth connection starts `needs_authorization`; `set_mcp_oauth` marks it authorized and
/// replaces the sealed secrets (or keeps them when given none); a pending authorization is
/// taken exactly once, only by its own organization, and goes with its connection.
async fn oauth_state_and_pending_authorizations<S: Store + ?Sized>(s: &S) {
    let (user, orgs) = s
        .create_user_with_org("o@example.com", "n", "hash", "org")
        .await
        .unwrap();
    let org_id = orgs.id;
    let other = org(s, "p@example.com").await;
    let mut http = server(org_id, "tickets", McpTransport::StreamableHttp);
    http.has_bearer_token = false;
    http.tools = vec![];
    http.oauth = Some(McpOAuth {
        scopes: vec!["tools".into()],
        reason: Some("not authorized yet".into()),
        ..Default::default()
    });
    http.status = McpServerStatus::NeedsAuthorization;
    s.create_mcp_server(&http, Some(b"sealed-v1"))
        .await
        .unwrap();
    let (got, sealed) = s.get_mcp_server(org_id, http.id).await.unwrap();
    assert_eq!(got, http);
    assert_eq!(sealed.as_deref(), Some(&b"sealed-v1"[..]));

    let authorized = McpOAuth {
        authorized: true,
        client_id: Some("client-1".into()),
        scopes: vec!["tools".into()],
        granted_scopes: vec!["tools".into()],
        authorized_at: Some(http.created_at),
        ..Default::default()
    };
    s.set_mcp_oauth(org_id, http.id, &authorized, Some(b"sealed-v2"))
        .await
        .unwrap();
    let (got, sealed) = s.get_mcp_server(org_id, http.id).await.unwrap();
    assert_eq!(got.status, McpServerStatus::Ready);
    assert_eq!(got.oauth.as_ref(), Some(&authorized));
    assert_eq!(sealed.as_deref(), Some(&b"sealed-v2"[..]));
    let refused = McpOAuth {
        authorized: false,
        reason: Some("refresh refused".into()),
        ..authorized.clone()
    };
    s.set_mcp_oauth(org_id, http.id, &refused, None)
        .await
        .unwrap();
    let (got, sealed) = s.get_mcp_server(org_id, http.id).await.unwrap();
    assert_eq!(got.status, McpServerStatus::NeedsAuthorization);
    assert_eq!(sealed.as_deref(), Some(&b"sealed-v2"[..]), "kept");
    assert!(matches!(
        s.set_mcp_oauth(other, http.id, &refused, None).await,
        Err(Error::NotFound(_))
    ));

    let now = http.created_at;
    let pending = McpOAuthPending {
        state_hash: "ab".repeat(32),
        org_id,
        user_id: user.id,
        server_id: http.id,
        flow_sealed: b"flow".to_vec(),
        redirect_uri: "https://autonoma.example.com/api/v1/mcp-servers/oauth/callback".into(),
        created_at: now,
        expires_at: now + Duration::minutes(10),
    };
    s.create_mcp_oauth_pending(&pending).await.unwrap();
    assert_eq!(
        s.take_mcp_oauth_pending(other, &pending.state_hash)
            .await
            .unwrap(),
        None,
        "another organization cannot take it"
    );
    assert_eq!(
        s.take_mcp_oauth_pending(org_id, &pending.state_hash)
            .await
            .unwrap(),
        Some(pending.clone())
    );
    assert_eq!(
        s.take_mcp_oauth_pending(org_id, &pending.state_hash)
            .await
            .unwrap(),
        None,
        "single use"
    );
    // Deleting the connection drops its pending authorizations.
    s.create_mcp_oauth_pending(&pending).await.unwrap();
    s.delete_mcp_server(org_id, http.id).await.unwrap();
    assert_eq!(
        s.take_mcp_oauth_pending(org_id, &pending.state_hash)
            .await
            .unwrap(),
        None
    );
}
