//! Tool calling for the local model, by prompt convention.
//!
//! SmolLM2-135M has no reliable native tool calling. When a request offers tools, their
//! JSON definitions are appended to the system prompt in the Hermes / Qwen 2.5 style
//! (`<tools>…</tools>`), and the model is asked to answer with
//! `<tool_call>{"name": "...", "arguments": {...}}</tool_call>` blocks. After generation
//! every such block whose JSON names one of the offered tools becomes a
//! [`ToolCall`]; the text before the first block is the message content. A block may also
//! hold a JSON array of calls, and a missing closing tag at the end of the output is
//! tolerated. Earlier tool calls and results in the conversation are rendered in the same
//! convention (`<tool_call>` in assistant turns, `<tool_response>` in user turns).

use std::sync::atomic::{AtomicU64, Ordering};

use autonoma_core::llm::{ToolCall, ToolDefinition};
use serde_json::{json, Value};

pub(crate) const OPEN: &str = "<tool_call>";
pub(crate) const CLOSE: &str = "</tool_call>";

/// The block appended to the system prompt when tools are offered.
pub(crate) fn tools_prompt(tools: &[ToolDefinition]) -> String {
    let mut s = String::from(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
         You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n",
    );
    for t in tools {
        let def = json!({"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": t.parameters,
        }});
        s.push_str(&def.to_string());
        s.push('\n');
    }
    s.push_str(
        "</tools>\n\nFor each function call, return a json object with function name and arguments \
         within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \
         \"arguments\": <args-json-object>}\n</tool_call>",
    );
    s
}

/// How an earlier assistant tool call is written back into the prompt.
pub(crate) fn render_call(call: &ToolCall) -> String {
    format!(
        "{OPEN}\n{}\n{CLOSE}",
        json!({"name": call.name, "arguments": call.arguments})
    )
}

/// How a tool result is written back into the prompt (as a user turn).
pub(crate) fn render_result(content: &str) -> String {
    format!("<tool_response>\n{content}\n</tool_response>")
}

static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

fn call_from(value: &Value, tools: &[ToolDefinition]) -> Option<ToolCall> {
    let name = value.get("name")?.as_str()?;
    if !tools.iter().any(|t| t.name == name) {
        return None;
    }
    let arguments = match value.get("arguments").or_else(|| value.get("parameters")) {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(v) => v.clone(),
    };
    let id = format!("call_local_{}", NEXT_CALL.fetch_add(1, Ordering::Relaxed));
    Some(ToolCall {
        id,
        name: name.to_owned(),
        arguments,
    })
}

/// Splits generated text into content and tool calls (see the module docs). Returns the
/// text unchanged and no calls when no valid block names an offered tool.
pub(crate) fn parse(text: &str, tools: &[ToolDefinition]) -> (String, Vec<ToolCall>) {
    let Some(first) = text.find(OPEN) else {
        return (text.to_owned(), vec![]);
    };
    let mut calls = Vec::new();
    let mut rest = &text[first..];
    while let Some(start) = rest.find(OPEN) {
        let body_start = start + OPEN.len();
        let (body, next) = match rest[body_start..].find(CLOSE) {
            Some(end) => (
                &rest[body_start..body_start + end],
                &rest[body_start + end + CLOSE.len()..],
            ),
            None => (&rest[body_start..], ""),
        };
        match serde_json::from_str::<Value>(body.trim()) {
            Ok(Value::Array(items)) => {
                calls.extend(items.iter().filter_map(|v| call_from(v, tools)))
            }
            Ok(v) => calls.extend(call_from(&v, tools)),
            Err(_) => {}
        }
        rest = next;
    }
    if calls.is_empty() {
        (text.to_owned(), calls)
    } else {
        (text[..first].trim_end().to_owned(), calls)
    }
}

/// Streams text but withholds everything from the first `<tool_call>` on (and any tail
/// that could be the start of that tag), so tool-call JSON is not shown as text.
pub(crate) struct DeltaGate {
    active: bool,
    pending: String,
    closed: bool,
}

impl DeltaGate {
    /// A gate that withholds tool calls when `active`, and passes everything otherwise.
    pub fn new(active: bool) -> Self {
        DeltaGate {
            active,
            pending: String::new(),
            closed: false,
        }
    }

    /// Takes a decoded fragment; returns what may be shown now.
    pub fn push(&mut self, fragment: &str) -> Option<String> {
        if self.closed {
            return None;
        }
        if !self.active {
            return (!fragment.is_empty()).then(|| fragment.to_owned());
        }
        self.pending.push_str(fragment);
        if let Some(i) = self.pending.find(OPEN) {
            self.closed = true;
            let out: String = self.pending.drain(..i).collect();
            self.pending.clear();
            return (!out.is_empty()).then_some(out);
        }
        // Hold back the longest suffix that is a proper prefix of the tag.
        let keep = (1..OPEN.len())
            .rev()
            .find(|&k| {
                self.pending.len() >= k
                    && self.pending.is_char_boundary(self.pending.len() - k)
                    && OPEN.starts_with(&self.pending[self.pending.len() - k..])
            })
            .unwrap_or(0);
        let out: String = self.pending.drain(..self.pending.len() - keep).collect();
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calc() -> Vec<ToolDefinition> {
        vec![ToolDefinition {
            name: "calculator".into(),
            description: "math".into(),
            parameters: json!({"type": "object"}),
        }]
    }

    #[test]
    fn parses_a_tool_call_block() {
        let (content, calls) =
            parse("Let me compute.\n<tool_call>\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"17*23\"}}\n</tool_call>", &calc());
        assert_eq!(content, "Let me compute.");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "calculator");
        assert_eq!(calls[0].arguments, json!({"expression": "17*23"}));
    }

    #[test]
    fn parses_arrays_string_arguments_and_unclosed_blocks() {
        let text = "<tool_call>[{\"name\": \"calculator\", \"arguments\": \"{\\\"expression\\\": \\\"1+1\\\"}\"}]";
        let (content, calls) = parse(text, &calc());
        assert_eq!(content, "");
        assert_eq!(calls[0].arguments, json!({"expression": "1+1"}));
    }

    #[test]
    fn unknown_tools_and_bad_json_stay_text() {
        let text = "<tool_call>{\"name\": \"rm\", \"arguments\": {}}</tool_call> <tool_call>{oops</tool_call>";
        let (content, calls) = parse(text, &calc());
        assert!(calls.is_empty());
        assert_eq!(content, text);
    }

    #[test]
    fn gate_withholds_tool_calls_across_fragments() {
        let mut gate = DeltaGate::new(true);
        let mut shown = String::new();
        for f in ["Sure", ", <to", "ol_", "call>{\"name\"", "...}"] {
            if let Some(s) = gate.push(f) {
                shown.push_str(&s);
            }
        }
        assert_eq!(shown, "Sure, ");
        let mut gate = DeltaGate::new(true);
        assert_eq!(gate.push("a <t").as_deref(), Some("a "));
        assert_eq!(gate.push("able").as_deref(), Some("<table"));
        let mut off = DeltaGate::new(false);
        assert_eq!(off.push("<tool_call>").as_deref(), Some("<tool_call>"));
    }
}
