//! Tool policy evaluation: which rule decides a tool call, and what it decides.
//!
//! Rules ([`ToolRule`]) are checked in order — the agent's own (`tool_policies` of its
//! spec) first, then the organization's ([`Policy`], by `priority`, then age) — and the
//! first rule whose `tool` pattern matches the call's tool name and whose `when` condition
//! (a CEL expression, <https://github.com/google/cel-spec>, evaluated by the `cel` crate
//! with the call's arguments bound as `args`) is true decides the call. Without a matching
//! rule a read-only tool is allowed and any other tool needs approval.
//!
//! A `when` that cannot be evaluated for a call (a missing field, a type error, a result
//! that is not a bool) fails closed: the call is denied, and the reason is recorded.

use std::num::NonZeroUsize;
use std::sync::{Arc, LazyLock, Mutex};

use crate::governance::{Policy, PolicyAction, ToolRule};
use crate::{Error, Result};

/// Longest `tool` pattern, in bytes.
pub const MAX_TOOL_PATTERN: usize = 200;
/// Longest `when` expression, in bytes.
pub const MAX_WHEN: usize = 2000;
/// Most rules in one agent spec.
pub const MAX_AGENT_RULES: usize = 100;

/// How many distinct compiled `when` conditions a process keeps ([`compiled`]): at most
/// [`MAX_WHEN`] bytes of source each, so the cache stays in the low megabytes.
pub const COMPILED_CONDITIONS: usize = 1024;

/// Compiled CEL programs by their source text, least recently used evicted first. Parsing
/// is most of a condition's cost (docs/BENCHMARKS.md, "Policy decision"), and the same few
/// conditions are evaluated on every call of every run.
static PROGRAMS: LazyLock<Mutex<lru::LruCache<String, Arc<cel::Program>>>> = LazyLock::new(|| {
    Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(COMPILED_CONDITIONS).expect("non-zero"),
    ))
});

/// The compiled program of condition `when`, from the process-wide cache or compiled now
/// (and cached). A condition that does not parse is not cached. Errors: the parser's
/// message.
fn compiled(when: &str) -> Result<Arc<cel::Program>, String> {
    if let Some(p) = PROGRAMS.lock().unwrap_or_else(|e| e.into_inner()).get(when) {
        return Ok(p.clone());
    }
    let program =
        Arc::new(cel::Program::compile(when).map_err(|e| format!("invalid condition: {e}"))?);
    PROGRAMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .put(when.to_owned(), program.clone());
    Ok(program)
}

/// The decision on one tool call and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: PolicyAction,
    /// `agent:<index>` (0-based), `org:<policy id>`, or `default`.
    pub rule: String,
    /// Why a call was denied when the rule's condition failed to evaluate (fail closed).
    pub error: Option<String>,
}

/// Whether `pattern` (exact name, `*`, or a prefix ending in `*`) matches tool `name`.
pub fn tool_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Checks one rule as written by a user: a non-empty tool pattern of at most
/// [`MAX_TOOL_PATTERN`] bytes with `*` only at its end, and a `when` of at most
/// [`MAX_WHEN`] bytes that parses as CEL. `field` names the rule in the error
/// (e.g. `tool_policies[2]`; empty: the fields are named `tool` and `when`). Errors: [`Error::Validation`].
pub fn validate_rule(field: &str, rule: &ToolRule) -> Result<()> {
    let tool = rule.tool.trim();
    if tool.is_empty() || tool.len() > MAX_TOOL_PATTERN {
        return Err(Error::validation(
            sub(field, "tool"),
            format!("must be 1 to {MAX_TOOL_PATTERN} bytes"),
        ));
    }
    if tool.strip_suffix('*').unwrap_or(tool).contains('*') {
        return Err(Error::validation(
            sub(field, "tool"),
            "'*' may only end the pattern (e.g. 'files__*' or '*')",
        ));
    }
    if let Some(when) = &rule.when {
        if when.trim().is_empty() || when.len() > MAX_WHEN {
            return Err(Error::validation(
                sub(field, "when"),
                format!("must be 1 to {MAX_WHEN} bytes of CEL when present"),
            ));
        }
        if let Err(e) = cel::Program::compile(when) {
            return Err(Error::validation(
                sub(field, "when"),
                format!("not a valid CEL expression: {e}"),
            ));
        }
    }
    Ok(())
}

fn sub(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_string()
    } else {
        format!("{field}.{name}")
    }
}

/// Evaluates `when` with `args` bound to the call's arguments (see [`CallConditions`] to
/// evaluate several conditions of one call). `Ok(true)` when the condition holds (or there
/// is none). Errors: a message for a condition that does not parse, fails to evaluate, or
/// is not a bool.
pub fn condition_holds(when: Option<&str>, args: &serde_json::Value) -> Result<bool, String> {
    CallConditions::new(args).holds(when)
}

/// The conditions of one tool call: its arguments are bound as `args` in a CEL context
/// built once, on the first condition, and shared by every rule checked for the call;
/// compiled programs come from the process-wide cache (see [`COMPILED_CONDITIONS`]).
pub struct CallConditions<'a> {
    args: &'a serde_json::Value,
    context: std::cell::OnceCell<Result<cel::Context<'static, 'static>, String>>,
}

impl<'a> CallConditions<'a> {
    /// Nothing is converted until the first [`CallConditions::holds`].
    pub fn new(args: &'a serde_json::Value) -> Self {
        CallConditions {
            args,
            context: std::cell::OnceCell::new(),
        }
    }

    /// Whether `when` holds for this call (`Ok(true)` without a condition). Errors: a
    /// message for a condition that does not parse, arguments that cannot be bound, an
    /// evaluation error, or a result that is not a bool.
    pub fn holds(&self, when: Option<&str>) -> Result<bool, String> {
        let Some(when) = when else { return Ok(true) };
        let program = compiled(when)?;
        let ctx = self
            .context
            .get_or_init(|| {
                let value = cel::to_value(self.args).map_err(|e| format!("arguments: {e}"))?;
                let mut ctx = cel::Context::default();
                ctx.add_variable_from_value("args", value);
                Ok(ctx)
            })
            .as_ref()
            .map_err(Clone::clone)?;
        match program.execute(ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "condition '{when}' gave {:?}, not a bool",
                other.type_of()
            )),
            Err(e) => Err(format!("condition '{when}' failed: {e}")),
        }
    }
}

/// Decides a call of tool `name` with `args`: the first matching rule of `agent_rules`,
/// then of `org_rules` (already in priority order), else the default (`allow` for a
/// read-only tool, `require_approval` otherwise).
pub fn decide(
    agent_rules: &[ToolRule],
    org_rules: &[Policy],
    name: &str,
    args: &serde_json::Value,
    read_only: bool,
) -> Decision {
    decide_ordered(ordered_rules(agent_rules, org_rules), name, args, read_only)
}

/// The rules in decision order, each with the name [`Decision::rule`] gives it: the
/// agent's (`agent:<index>`), then the organization's (`org:<policy id>`).
pub fn ordered_rules<'a>(
    agent_rules: &'a [ToolRule],
    org_rules: &'a [Policy],
) -> impl Iterator<Item = (String, &'a ToolRule)> + 'a {
    let agent = agent_rules
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("agent:{i}"), r));
    let org = org_rules.iter().map(|p| (format!("org:{}", p.id), &p.rule));
    agent.chain(org)
}

/// [`decide`] over rules already in order, each named by the string that
/// [`Decision::rule`] reports (as [`ordered_rules`] yields them; the capability verifier
/// passes the rules signed into a token, [`crate::capability`]).
pub fn decide_ordered<'a>(
    rules: impl IntoIterator<Item = (String, &'a ToolRule)>,
    name: &str,
    args: &serde_json::Value,
    read_only: bool,
) -> Decision {
    let conditions = CallConditions::new(args);
    for (rule_name, rule) in rules {
        if !tool_matches(rule.tool.trim(), name) {
            continue;
        }
        match conditions.holds(rule.when.as_deref()) {
            Ok(true) => {
                return Decision {
                    action: rule.action,
                    rule: rule_name,
                    error: None,
                }
            }
            Ok(false) => continue,
            Err(e) => {
                return Decision {
                    action: PolicyAction::Deny,
                    rule: rule_name,
                    error: Some(e),
                }
            }
        }
    }
    Decision {
        action: if read_only {
            PolicyAction::Allow
        } else {
            PolicyAction::RequireApproval
        },
        rule: "default".into(),
        error: None,
    }
}

/// Whether every call of tool `name` is denied whatever its arguments: walking the rules
/// in order, an unconditional `deny` matching it comes before any rule that could let it
/// run (an `allow` or `require_approval`, with or without a condition). Conditional
/// `deny` rules before it do not change that. Such a tool is left out of a run's
/// capability token.
pub fn always_denied<'a>(rules: impl IntoIterator<Item = &'a ToolRule>, name: &str) -> bool {
    for rule in rules {
        if !tool_matches(rule.tool.trim(), name) {
            continue;
        }
        match (rule.action, &rule.when) {
            (PolicyAction::Deny, None) => return true,
            (PolicyAction::Deny, Some(_)) => continue,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(tool: &str, action: PolicyAction, when: Option<&str>) -> ToolRule {
        ToolRule {
            tool: tool.into(),
            action,
            when: when.map(str::to_string),
        }
    }

    #[test]
    fn patterns() {
        assert!(tool_matches("*", "anything"));
        assert!(tool_matches("files__*", "files__write"));
        assert!(!tool_matches("files__*", "mail__send"));
        assert!(tool_matches("calculator", "calculator"));
        assert!(!tool_matches("calc", "calculator"));
        let pattern = |tool: &str| {
            validate_rule(
                "rule",
                &ToolRule {
                    tool: tool.into(),
                    action: PolicyAction::Allow,
                    when: None,
                },
            )
            .is_ok()
        };
        assert!(pattern("*") && pattern("files__*") && pattern("calculator"));
        // Found by Schemathesis: a second trailing '*' was accepted.
        assert!(!pattern("**") && !pattern("\u{9d}**") && !pattern("a*b"));
    }

    #[test]
    fn first_matching_rule_decides_and_conditions_see_args() {
        let rules = vec![
            rule(
                "calculator",
                PolicyAction::RequireApproval,
                Some("args.expression.contains('*')"),
            ),
            rule("calculator", PolicyAction::Allow, None),
        ];
        let d = decide(
            &rules,
            &[],
            "calculator",
            &json!({"expression": "6*7"}),
            true,
        );
        assert_eq!(d.action, PolicyAction::RequireApproval);
        assert_eq!(d.rule, "agent:0");
        let d = decide(
            &rules,
            &[],
            "calculator",
            &json!({"expression": "6+7"}),
            true,
        );
        assert_eq!(
            (d.action, d.rule.as_str()),
            (PolicyAction::Allow, "agent:1")
        );
    }

    #[test]
    fn numbers_compare_and_defaults_follow_read_only() {
        let rules = vec![rule("pay", PolicyAction::Deny, Some("args.amount > 100"))];
        assert_eq!(
            decide(&rules, &[], "pay", &json!({"amount": 500}), false).action,
            PolicyAction::Deny
        );
        let d = decide(&rules, &[], "pay", &json!({"amount": 5}), false);
        assert_eq!(
            (d.action, d.rule.as_str()),
            (PolicyAction::RequireApproval, "default")
        );
        assert_eq!(
            decide(&[], &[], "current_time", &json!({}), true).action,
            PolicyAction::Allow
        );
    }

    #[test]
    fn a_cached_program_sees_each_calls_arguments() {
        let when = Some("args.amount <= 100 && args.to.endsWith('@example.com')");
        for _ in 0..3 {
            assert_eq!(
                condition_holds(when, &json!({"amount": 50, "to": "a@example.com"})),
                Ok(true)
            );
            assert_eq!(
                condition_holds(when, &json!({"amount": 500, "to": "a@example.com"})),
                Ok(false)
            );
        }
        // A condition that does not parse fails every time (it is never cached).
        for _ in 0..2 {
            let e = condition_holds(Some("args.amount <="), &json!({})).unwrap_err();
            assert!(e.starts_with("invalid condition"), "{e}");
        }
    }

    #[test]
    fn a_condition_that_fails_denies() {
        let rules = vec![rule("*", PolicyAction::Allow, Some("args.missing > 1"))];
        let d = decide(&rules, &[], "x", &json!({}), true);
        assert_eq!(d.action, PolicyAction::Deny);
        assert!(d.error.is_some());
        let rules = vec![rule("*", PolicyAction::Allow, Some("'not a bool'"))];
        assert_eq!(
            decide(&rules, &[], "x", &json!({}), true).action,
            PolicyAction::Deny
        );
    }

    #[test]
    fn always_denied_needs_an_unconditional_deny_before_any_way_to_run() {
        let deny = rule("mail__*", PolicyAction::Deny, None);
        let cond_deny = rule("mail__send", PolicyAction::Deny, Some("args.to != 'me'"));
        let allow_if = rule("mail__send", PolicyAction::Allow, Some("args.to == 'me'"));
        assert!(always_denied([&cond_deny, &deny], "mail__send"));
        assert!(!always_denied([&allow_if, &deny], "mail__send"));
        assert!(!always_denied([&deny], "calculator"));
        assert!(!always_denied([], "calculator"));
    }

    #[test]
    fn validation_rejects_bad_rules() {
        assert!(validate_rule("r", &rule("", PolicyAction::Allow, None)).is_err());
        assert!(validate_rule("r", &rule("a*b", PolicyAction::Allow, None)).is_err());
        assert!(validate_rule("r", &rule("a", PolicyAction::Allow, Some("args.x >"))).is_err());
        assert!(validate_rule("r", &rule("a*", PolicyAction::Allow, Some("args.x > 1"))).is_ok());
    }
}
