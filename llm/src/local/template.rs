//! Chat templates: the GGUF's Jinja `tokenizer.chat_template`, rendered with minijinja the
//! way Hugging Face `transformers.apply_chat_template` does (`trim_blocks`,
//! `lstrip_blocks`, loop controls, `raise_exception`, Python string methods).

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{context, Environment, Error, ErrorKind};
use serde::Serialize;

/// ChatML, used when the GGUF has no chat template.
pub(crate) const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// One message as the template sees it (`role`, `content`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TemplateMessage {
    pub role: &'static str,
    pub content: String,
}

/// A compiled chat template.
pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source` (or [`CHATML`] when `None`).
    ///
    /// # Errors
    /// A message when the template does not parse.
    pub fn new(
        source: Option<String>,
        bos_token: String,
        eos_token: String,
    ) -> Result<Self, String> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| format!("invalid template syntax configuration: {e}"))?;
        env.set_syntax(syntax);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        let source = source.unwrap_or_else(|| CHATML.to_owned());
        env.add_template_owned("chat", source)
            .map_err(|e| format!("invalid chat template: {e}"))?;
        Ok(ChatTemplate {
            env,
            bos_token,
            eos_token,
        })
    }

    /// Renders the conversation with `add_generation_prompt = true`.
    ///
    /// # Errors
    /// A message when rendering fails (e.g. the template raised an exception).
    pub fn render(&self, messages: &[TemplateMessage]) -> Result<String, String> {
        let template = self.env.get_template("chat").map_err(|e| e.to_string())?;
        template
            .render(context! {
                messages => Serde(messages),
                add_generation_prompt => true,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| format!("rendering the chat template failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_fallback_renders_with_generation_prompt() {
        let t = ChatTemplate::new(None, String::new(), String::new()).unwrap();
        let out = t
            .render(&[
                TemplateMessage {
                    role: "system",
                    content: "S".into(),
                },
                TemplateMessage {
                    role: "user",
                    content: "hi".into(),
                },
            ])
            .unwrap();
        assert_eq!(out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn python_methods_and_raise_exception_work() {
        let src = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0]['content'].strip() }}";
        let t = ChatTemplate::new(Some(src.into()), String::new(), String::new()).unwrap();
        assert_eq!(
            t.render(&[TemplateMessage {
                role: "user",
                content: " x ".into()
            }])
            .unwrap(),
            "x"
        );
        let err = t
            .render(&[TemplateMessage {
                role: "system",
                content: "x".into(),
            }])
            .unwrap_err();
        assert!(err.contains("first must be user"), "{err}");
    }
}
