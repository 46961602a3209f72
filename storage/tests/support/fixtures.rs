#![allow(dead_code)] // each user (test, example) needs a different subset

//! Records the storage tests and examples create: a provider connection and an agent spec.
//! Included by path (`#[path = "support/fixtures.rs"] mod fixtures;`).

use autonoma_core::model::{AgentSpec, Limits, ProviderConnection, ProviderKind};
use autonoma_core::store::Store;
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
