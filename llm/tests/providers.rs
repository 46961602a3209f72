//! `Providers` builds the right provider for each connection kind.

use autonoma_core::llm::{ChatMessage, ChatRequest, ChatRole, LlmError, ProviderFactory};
use autonoma_core::model::{ProviderConnection, ProviderKind};
use autonoma_llm::Providers;
use autonoma_testkit::{Rule, ScriptedLlm};
use tokio::sync::mpsc::unbounded_channel;

fn connection(kind: ProviderKind, base_url: Option<String>) -> ProviderConnection {
    ProviderConnection {
        id: uuid::Uuid::nil(),
        org_id: uuid::Uuid::nil(),
        name: "test".into(),
        kind,
        base_url,
        models: vec![],
        has_api_key: false,
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn openai_compatible_connections_talk_to_their_base_url_with_the_key() {
    let llm = ScriptedLlm::start(vec![Rule::always().reply_text("hi")]);
    let providers = Providers::new("/nonexistent.gguf".into());
    let p = providers
        .build(
            &connection(ProviderKind::OpenaiCompatible, Some(llm.base_url())),
            Some("sk-1".into()),
        )
        .unwrap();
    let (tx, _rx) = unbounded_channel();
    let request = ChatRequest {
        model: "m".into(),
        messages: vec![ChatMessage::text(ChatRole::User, "hello")],
        tools: vec![],
        max_tokens: 8,
    };
    assert_eq!(p.chat(request, tx).await.unwrap().content, "hi");
    assert_eq!(llm.authorizations(), vec![Some("Bearer sk-1".into())]);
}

#[test]
fn openai_compatible_without_base_url_is_refused() {
    let providers = Providers::new("/nonexistent.gguf".into());
    let err = providers
        .build(&connection(ProviderKind::OpenaiCompatible, None), None)
        .err()
        .unwrap();
    assert!(matches!(err, LlmError::Model(m) if m.contains("base_url")));
}

#[tokio::test]
async fn local_connections_share_one_lazily_loaded_model() {
    let providers = Providers::new("/nonexistent/model.gguf".into());
    // Building never touches the file.
    let p = providers
        .build(&connection(ProviderKind::Local, None), None)
        .unwrap();
    let _ = providers
        .build(&connection(ProviderKind::Local, None), None)
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &providers.local(),
        &providers.local()
    ));
    let (tx, _rx) = unbounded_channel();
    let request = ChatRequest {
        model: "smollm2-135m-instruct".into(),
        messages: vec![],
        tools: vec![],
        max_tokens: 8,
    };
    let err = p.chat(request, tx).await.unwrap_err();
    assert!(matches!(err, LlmError::Model(m) if m.contains("scripts/setup.sh")));
}
