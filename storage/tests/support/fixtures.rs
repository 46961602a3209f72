#![allow(dead_code)] // each user (test, example) needs a different subset

//! Records the storage tests and examples create: a provider connection and an agent spec.
//! Included by path (`#[path = "support/fixtures.rs"] mod fixtures;`).

use autonoma_core::model::RunMode;
use autonoma_core::model::{AgentSpec, Limits, ProviderConnection, ProviderKind};
use autonoma_core::store::{NewRun, Store};
use chrono::Utc;
use uuid::Uuid;

/// An agent spec named `name` on `provider_id`'s model `m`, with the calculator tool.
pub fn spec(provider_id: Uuid, name: &str) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        description: String::new(),
        provider_id,
        model: "m".into(),
        instructions: "be brief".into(),
        tools: vec!["calculator".into()],
        http_allowlist: vec![],
        knowledge_base_ids: vec![],
        tool_policies: vec![],
        limits: Limits::default(),
        pricing: None,
    }
}

/// Stores an OpenAI-compatible provider connection (model `m`, a sealed key) in `org_id`.
pub async fn provider<S: Store + ?Sized>(s: &S, org_id: Uuid) -> ProviderConnection {
    let p = ProviderConnection {
        id: Uuid::now_v7(),
        org_id,
        name: "p".into(),
        kind: ProviderKind::OpenaiCompatible,
        base_url: Some("http://x".into()),
        models: vec!["m".into()],
        has_api_key: true,
        created_at: Utc::now(),
    };
    s.create_provider(&p, Some(b"sealed")).await.unwrap();
    p
}

/// A user `email` with an organization, a provider and an agent in `s`; returns a live run
/// of that agent (input `"hi"`, version 1, a new thread) to store with `create_run`.
pub async fn new_run<S: Store + ?Sized>(s: &S, email: &str) -> NewRun {
    let (user, org) = s
        .create_user_with_org(email, "n", "hash", "org")
        .await
        .unwrap();
    let p = provider(s, org.id).await;
    let agent = s
        .create_agent(org.id, Uuid::now_v7(), &spec(p.id, "a"))
        .await
        .unwrap();
    NewRun {
        id: Uuid::now_v7(),
        org_id: org.id,
        agent_id: agent.id,
        agent_version: 1,
        thread_id: Uuid::now_v7(),
        input: "hi".into(),
        created_by: user.id,
        mode: RunMode::Live,
        preflight_id: None,
    }
}
