//! Records of the model conversation that are persisted in run events.

use serde::{Deserialize, Serialize};

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id, echoed back in the tool result message.
    pub id: String,
    pub name: String,
    /// Parsed JSON arguments (the provider's string is parsed; invalid JSON becomes a string value).
    pub arguments: serde_json::Value,
}
