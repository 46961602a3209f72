//! Capability tokens per run: what one run may do with tools, signed by the instance.
//!
//! Every run gets a [Biscuit](https://doc.biscuitsec.org/reference/specifications) token
//! (crate `biscuit-auth` 6, Ed25519, Datalog 3.x) when an executor claims it
//! ([`crate::runtime`]); every tool call the agent loop is about to make is checked against
//! it ([`CapabilityKey::verify`]), after the policy gate said the call may run and just
//! before the tool is called. The token is held in memory by the executor only; its
//! identity ([`CapabilityToken::token_id`], the authority block's revocation id) is recorded
//! as the run's `capability_issued` event, the signed run receipt and the audit log.
//!
//! # Authority block (signed with the root key)
//!
//! ```text
//! org("<org uuid>");
//! run("<run uuid>");
//! expires(<expiry, RFC 3339>);
//! tool("<name>", <read_only bool>);                       // each tool the run may call
//! rule(<order>, "<agent:i | org:id>", "<tool pattern>", "<allow|deny|require_approval>", "<CEL or empty>");
//! check if request_org("<org uuid>");                      // check 0
//! check if request_run("<run uuid>") or request_ancestor("<run uuid>");  // check 1
//! check if request_tool($t), tool($t, $ro);               // check 2
//! check if time($t), $t <= <expiry, RFC 3339>;            // check 3
//! ```
//!
//! The tools are the agent spec's (built-in and MCP) minus those an unconditional `deny`
//! forbids outright ([`crate::policy::always_denied`]). The rules are the agent's
//! `tool_policies` then the organization's policies, in decision order, as they were when
//! the token was minted (only those whose pattern matches a granted tool). Biscuit's
//! Datalog cannot evaluate CEL, so after Biscuit authorization succeeds the verifier reads
//! the signed `rule` facts back (authority scope only) and decides the call with
//! [`crate::policy::decide_ordered`] on the call's arguments: `deny` (or a condition that
//! cannot be evaluated) refuses; `require_approval` refuses unless a person approved this
//! call; `allow` passes. The constraints therefore come from the signed token, not from
//! the database.
//!
//! # Attenuation (sub-runs)
//!
//! [`CapabilityKey::attenuate`] appends a first-party block:
//!
//! ```text
//! delegated_to("<sub-run uuid>");
//! expires(<expiry>);
//! restrict("<tool pattern>", "<deny|require_approval>", "<CEL or empty>");   // each extra constraint
//! check if request_run("<sub-run uuid>");                 // check 0
//! check if request_tool($t), {"a", "b"}.contains($t);     // check 1
//! check if time($t), $t <= <expiry>;                      // check 2
//! ```
//!
//! Appended blocks can only add checks (Biscuit evaluates a block's checks against the
//! authority's facts and the authorizer's, never letting a later block's facts widen
//! what the authority grants), so the result is never wider than its parent. A sub-run's
//! verifier gives its ancestors ([`CapabilityCall::ancestors`]) and accepts only a token
//! whose blocks delegate to that very sub-run (`delegated_to`), so a parent's token is
//! refused for a child that did not receive an attenuated one.
//!
//! # Errors
//!
//! [`CapabilityError`]: each variant says why a call was refused.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use biscuit_auth::builder::{Algorithm, Term};
use biscuit_auth::datalog::RunLimits;
use biscuit_auth::error::{FailedCheck, Logic, Token as TokenError};
use biscuit_auth::macros::{authorizer, block, check, fact, rule};
use biscuit_auth::{AuthorizerBuilder, Biscuit, KeyPair, PrivateKey, PublicKey};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::governance::{Policy, PolicyAction, ToolRule};
use crate::policy;
use crate::{Error, Result};

/// Datalog evaluation limits of one verification: 1,000 facts, 100 iterations, 250 ms of
/// wall time. Our tokens need a few dozen facts and microseconds; the time bound only stops
/// a pathological token. Biscuit's default of 1 ms would refuse valid tokens whenever the
/// executor's thread is preempted on a busy machine (the limit is wall-clock).
const LIMITS: RunLimits = RunLimits {
    max_facts: 1000,
    max_iterations: 100,
    max_time: Duration::from_millis(250),
};

/// Why a token does not let a call run. The `Display` text is what the model is told
/// (as the tool's error result) and what the audit log records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// The bytes are not a Biscuit signed by this instance's capability key (tampered,
    /// truncated, or signed by another root key).
    #[error("the capability token is invalid: {0}")]
    Invalid(String),
    /// The token was minted for another organization.
    #[error("the capability token belongs to another organization")]
    WrongOrganization,
    /// The token was minted (or attenuated) for another run.
    #[error("the capability token was issued to another run")]
    WrongRun,
    /// A sub-run presented a token that was not attenuated for it.
    #[error("the capability token was not delegated to this sub-run")]
    NotDelegated,
    /// The tool is not among those the token grants.
    #[error("the capability token does not grant the tool '{0}'")]
    ToolNotGranted(String),
    /// The token's expiry has passed.
    #[error("the capability token has expired")]
    Expired,
    /// A rule signed into the token denies this call (`rule` names it, e.g. `agent:0`).
    #[error("the capability token's rule {rule} denies this call")]
    Denied {
        /// The rule's name: `agent:<i>`, `org:<policy id>`, or `restrict:<i>` (block, index).
        rule: String,
    },
    /// A rule signed into the token requires a person's approval, and none was given.
    #[error("the capability token's rule {rule} requires a person's approval for this call")]
    ApprovalRequired {
        /// The rule's name.
        rule: String,
    },
    /// A signed rule's CEL condition could not be evaluated for these arguments (fail closed).
    #[error("the capability token's rule {rule} could not be evaluated ({reason})")]
    Unevaluable {
        /// The rule's name.
        rule: String,
        /// The CEL error.
        reason: String,
    },
    /// Another check of the token failed (a block appended by someone else), with its text.
    #[error("the capability token refused the call: {0}")]
    CheckFailed(String),
}

/// A tool a run may call, as the token grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedTool {
    /// The tool's name (built-in, or `<server>__<tool>` for MCP).
    pub name: String,
    /// The tool's read-only hint, which decides a call no rule matches (allow if true,
    /// approval otherwise).
    pub read_only: bool,
}

/// A policy rule as signed into a token: its decision-order name and the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRule {
    /// `agent:<index>` or `org:<policy id>` (as [`crate::policy::Decision::rule`]).
    pub name: String,
    /// The rule (its `tool` pattern trimmed).
    pub rule: ToolRule,
}

/// What a run's token grants: built by [`RunGrant::new`] from the run's tools and
/// policies, minted by [`CapabilityKey::mint`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunGrant {
    /// The run's organization.
    pub org_id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// The tools the run may call.
    pub tools: Vec<GrantedTool>,
    /// The constraints, in decision order.
    pub rules: Vec<SignedRule>,
    /// After this instant the token is refused (second precision: Biscuit dates are
    /// whole seconds, and the instant is rounded up).
    pub expires_at: DateTime<Utc>,
}

impl RunGrant {
    /// The grant of run `run_id` of `org_id`: each of `tools` (name, read-only hint) that no
    /// unconditional `deny` forbids outright, and every rule of `agent_rules` then
    /// `org_rules` (in the order [`crate::policy::decide`] applies them) whose pattern matches
    /// one of the granted tools.
    pub fn new(
        org_id: Uuid,
        run_id: Uuid,
        tools: &[(String, bool)],
        agent_rules: &[ToolRule],
        org_rules: &[Policy],
        expires_at: DateTime<Utc>,
    ) -> RunGrant {
        let ordered: Vec<(String, &ToolRule)> =
            policy::ordered_rules(agent_rules, org_rules).collect();
        let granted: Vec<GrantedTool> = tools
            .iter()
            .filter(|(name, _)| !policy::always_denied(ordered.iter().map(|(_, r)| *r), name))
            .map(|(name, read_only)| GrantedTool {
                name: name.clone(),
                read_only: *read_only,
            })
            .collect();
        let rules = ordered
            .into_iter()
            .filter(|(_, r)| {
                granted
                    .iter()
                    .any(|t| policy::tool_matches(r.tool.trim(), &t.name))
            })
            .map(|(name, r)| SignedRule {
                name,
                rule: ToolRule {
                    tool: r.tool.trim().to_string(),
                    action: r.action,
                    when: r.when.clone(),
                },
            })
            .collect();
        RunGrant {
            org_id,
            run_id,
            tools: granted,
            rules,
            expires_at,
        }
    }
}

/// A minted (or attenuated) token and its identity.
#[derive(Clone, PartialEq, Eq)]
pub struct CapabilityToken {
    /// The serialized Biscuit (protobuf, as `Biscuit::to_vec` writes it).
    pub bytes: Vec<u8>,
    /// Lowercase hex of each block's revocation id (its Ed25519 signature), authority first.
    pub revocation_ids: Vec<String>,
    /// The earliest expiry among its blocks.
    pub expires_at: DateTime<Utc>,
}

impl CapabilityToken {
    /// The token's identity: the revocation id of its last block (for a run's own token,
    /// the authority block's). Unique per token, even for equal contents.
    pub fn token_id(&self) -> &str {
        self.revocation_ids.last().map_or("", String::as_str)
    }
}

impl fmt::Debug for CapabilityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapabilityToken")
            .field("token_id", &self.token_id())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a token is narrowed for a sub-run ([`CapabilityKey::attenuate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Attenuation {
    /// The sub-run the new token is for (only it will be accepted).
    pub sub_run_id: Uuid,
    /// The tools the sub-run may call: checked against this set as well as the parent's.
    pub tools: Vec<String>,
    /// Extra constraints: a call whose tool matches and whose `when` holds (or cannot be
    /// evaluated) is refused (`deny`) or needs an approval (`require_approval`). `allow`
    /// rules are refused by [`CapabilityKey::attenuate`]: a block can only narrow.
    pub restrictions: Vec<ToolRule>,
    /// The new block's expiry (the parent's still applies when it is earlier).
    pub expires_at: DateTime<Utc>,
}

/// One tool call to check ([`CapabilityKey::verify`]).
#[derive(Debug, Clone, Copy)]
pub struct CapabilityCall<'a> {
    /// The organization of the run making the call.
    pub org_id: Uuid,
    /// The run making the call.
    pub run_id: Uuid,
    /// The run's ancestors, parent first (empty for a top-level run).
    pub ancestors: &'a [Uuid],
    /// The tool called.
    pub tool: &'a str,
    /// The arguments it will be called with (the approver's edit, if any).
    pub arguments: &'a serde_json::Value,
    /// The current time.
    pub now: DateTime<Utc>,
    /// Whether a person approved this very call.
    pub approved: bool,
}

/// The instance's capability root key (Ed25519): mints, attenuates and verifies run tokens.
/// Kept apart from the audit signing key ([`crate::audit::AuditSigner`]). Its `Debug`
/// shows only the key id.
pub struct CapabilityKey {
    keys: KeyPair,
    key_id: String,
}

impl fmt::Debug for CapabilityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapabilityKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn to_system(t: DateTime<Utc>) -> SystemTime {
    // Rounded up to the second: Biscuit dates have second precision.
    let secs = if t.timestamp_subsec_nanos() > 0 {
        t.timestamp() + 1
    } else {
        t.timestamp()
    };
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

fn from_system(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

fn action_str(a: PolicyAction) -> &'static str {
    a.as_str()
}

fn parse_action(s: &str) -> Option<PolicyAction> {
    [
        PolicyAction::Allow,
        PolicyAction::Deny,
        PolicyAction::RequireApproval,
    ]
    .into_iter()
    .find(|a| a.as_str() == s)
}

fn internal(e: TokenError) -> Error {
    Error::Internal(format!("capability token: {e}"))
}

impl CapabilityKey {
    /// The key with this 32-byte Ed25519 seed (RFC 8032 secret key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let private = PrivateKey::from_bytes(&seed, Algorithm::Ed25519)
            .expect("32 bytes are an Ed25519 secret key");
        let keys = KeyPair::from(&private);
        let key_id = key_id_of(&keys.public());
        CapabilityKey { keys, key_id }
    }

    /// The key from its seed in base64 (standard or URL-safe alphabet, padded or not), as
    /// `AUTONOMA_CAPABILITY_KEY` and `<data_dir>/capability.key` hold it.
    /// Errors: [`Error::Validation`] (`capability_key`) unless it decodes to 32 bytes.
    pub fn from_base64(seed: &str) -> Result<Self> {
        let seed = seed.trim();
        let bytes = URL_SAFE_NO_PAD
            .decode(seed.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(seed))
            .map_err(|_| Error::validation("capability_key", "is not base64 (a 32-byte seed)"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::validation("capability_key", "must decode to exactly 32 bytes"))?;
        Ok(Self::from_seed(seed))
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self::from_seed(seed)
    }

    /// The seed, base64url without padding (what [`CapabilityKey::from_base64`] reads).
    pub fn seed_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.keys.private().to_bytes().as_slice())
    }

    /// `ed25519:` and the first 16 hex digits of SHA-256 of the public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The root public key (what verifying and attenuating need).
    pub fn public_key(&self) -> PublicKey {
        self.keys.public()
    }

    /// Mints the token of `grant` (the authority block above, signed with the root key).
    /// Errors: [`Error::Internal`] when Biscuit refuses to build it (it cannot for valid
    /// UUIDs, tool names and rules).
    pub fn mint(&self, grant: &RunGrant) -> Result<CapabilityToken> {
        let org = grant.org_id.to_string();
        let run = grant.run_id.to_string();
        let expiry = to_system(grant.expires_at);
        let mut b = Biscuit::builder()
            .fact(fact!("org({org})", org = org.as_str()))
            .and_then(|b| b.fact(fact!("run({run})", run = run.as_str())))
            .and_then(|b| b.fact(fact!("expires({expiry})", expiry = expiry)))
            .map_err(internal)?;
        for t in &grant.tools {
            b = b
                .fact(fact!(
                    "tool({name}, {ro})",
                    name = t.name.as_str(),
                    ro = t.read_only
                ))
                .map_err(internal)?;
        }
        for (order, r) in grant.rules.iter().enumerate() {
            b = b
                .fact(fact!(
                    "rule({order}, {name}, {tool}, {action}, {when})",
                    order = order as i64,
                    name = r.name.as_str(),
                    tool = r.rule.tool.as_str(),
                    action = action_str(r.rule.action),
                    when = r.rule.when.as_deref().unwrap_or("")
                ))
                .map_err(internal)?;
        }
        let token = b
            .check(check!("check if request_org({org})", org = org.as_str()))
            .and_then(|b| {
                b.check(check!(
                    "check if request_run({run}) or request_ancestor({run})",
                    run = run.as_str()
                ))
            })
            .and_then(|b| b.check(check!("check if request_tool($t), tool($t, $ro)")))
            .and_then(|b| b.check(check!("check if time($t), $t <= {expiry}", expiry = expiry)))
            .and_then(|b| b.build(&self.keys))
            .map_err(internal)?;
        identity(&token, from_system(expiry))
    }

    /// Appends an attenuation block for a sub-run (see the module docs): the new token is
    /// accepted only for `a.sub_run_id`, only for tools in `a.tools` (and in the parent's
    /// grant), under `a.restrictions`, until the earlier of both expiries.
    /// Errors: [`Error::Validation`] (`restrictions[i]`) for an `allow` restriction or a
    /// rule that does not validate ([`crate::policy::validate_rule`]);
    /// [`Error::Validation`] (`token`) when `token` is not a valid token of this key.
    pub fn attenuate(&self, token: &[u8], a: &Attenuation) -> Result<CapabilityToken> {
        for (i, r) in a.restrictions.iter().enumerate() {
            let field = format!("restrictions[{i}]");
            policy::validate_rule(&field, r)?;
            if r.action == PolicyAction::Allow {
                return Err(Error::validation(
                    format!("{field}.action"),
                    "an attenuation can only deny or require approval",
                ));
            }
        }
        let parent = Biscuit::from(token, self.keys.public()).map_err(|e| {
            Error::validation("token", format!("not a capability token of this key: {e}"))
        })?;
        let sub = a.sub_run_id.to_string();
        let expiry = to_system(a.expires_at);
        let tools: BTreeSet<Term> = a.tools.iter().map(|t| Term::from(t.as_str())).collect();
        let mut blk = block!(
            r#"delegated_to({sub});
               expires({expiry});
               check if request_run({sub});
               check if request_tool($t), {tools}.contains($t);
               check if time($t), $t <= {expiry};"#,
            sub = sub.as_str(),
            tools = tools,
            expiry = expiry
        );
        for r in &a.restrictions {
            blk = blk
                .fact(fact!(
                    "restrict({tool}, {action}, {when})",
                    tool = r.tool.trim(),
                    action = action_str(r.action),
                    when = r.when.as_deref().unwrap_or("")
                ))
                .map_err(internal)?;
        }
        let next = parent.append(blk).map_err(internal)?;
        let parent_expiry = self
            .expiry_of(&parent)
            .unwrap_or_else(|| from_system(expiry));
        identity(&next, parent_expiry.min(from_system(expiry)))
    }

    /// The earliest `expires` fact among a verified token's blocks.
    fn expiry_of(&self, token: &Biscuit) -> Option<DateTime<Utc>> {
        let mut auth = AuthorizerBuilder::new()
            .set_limits(LIMITS)
            .build(token)
            .ok()?;
        let all: Vec<(SystemTime,)> = auth.query_all(rule!("e($t) <- expires($t)")).ok()?;
        all.into_iter().map(|(t,)| from_system(t)).min()
    }

    /// Checks that `token` lets `call` run: a Biscuit signed by this key, minted for the
    /// call's organization and run (or attenuated for it, when the run has ancestors),
    /// granting the tool, not expired at `call.now`; then the signed policy rules decide
    /// the call's arguments, and any attenuation's restrictions apply.
    /// Errors: the [`CapabilityError`] naming the first reason it refuses.
    pub fn verify(
        &self,
        token: &[u8],
        call: &CapabilityCall<'_>,
    ) -> std::result::Result<(), CapabilityError> {
        let biscuit = Biscuit::from(token, self.keys.public())
            .map_err(|e| CapabilityError::Invalid(e.to_string()))?;
        let org = call.org_id.to_string();
        let run = call.run_id.to_string();
        let now = SystemTime::from(call.now);
        let mut builder = authorizer!(
            r#"request_org({org});
               request_run({run});
               request_tool({tool});
               time({now});
               allow if run($r);"#,
            org = org.as_str(),
            run = run.as_str(),
            tool = call.tool,
            now = now
        );
        for a in call.ancestors {
            builder = builder
                .fact(fact!("request_ancestor({a})", a = a.to_string()))
                .map_err(|e| CapabilityError::Invalid(e.to_string()))?;
        }
        let mut auth = builder
            .set_limits(LIMITS)
            .build(&biscuit)
            .map_err(|e| CapabilityError::Invalid(e.to_string()))?;
        if let Err(e) = auth.authorize() {
            return Err(refusal(e, call.tool));
        }
        if !call.ancestors.is_empty() {
            let delegated: Vec<(String,)> = auth
                .query_all(rule!("d($r) <- delegated_to($r)"))
                .map_err(|e| CapabilityError::Invalid(e.to_string()))?;
            if !delegated.iter().any(|(r,)| *r == run) {
                return Err(CapabilityError::NotDelegated);
            }
        }
        // Authority scope only: a later block's facts cannot add tools or rules.
        let read_only: Vec<(bool,)> = auth
            .query(rule!("ro($ro) <- tool({t}, $ro)", t = call.tool))
            .map_err(|e| CapabilityError::Invalid(e.to_string()))?;
        let read_only = read_only.first().is_some_and(|(ro,)| *ro);
        let mut signed: Vec<(i64, String, String, String, String)> = auth
            .query(rule!("r($o, $n, $p, $a, $w) <- rule($o, $n, $p, $a, $w)"))
            .map_err(|e| CapabilityError::Invalid(e.to_string()))?;
        signed.sort_by_key(|r| r.0);
        let rules = signed
            .iter()
            .map(|(_, name, tool, action, when)| {
                let action = parse_action(action).ok_or_else(|| {
                    CapabilityError::Invalid(format!("rule {name} has an unknown action"))
                })?;
                Ok((
                    name.clone(),
                    ToolRule {
                        tool: tool.clone(),
                        action,
                        when: (!when.is_empty()).then(|| when.clone()),
                    },
                ))
            })
            .collect::<std::result::Result<Vec<_>, CapabilityError>>()?;
        let d = policy::decide_ordered(
            rules.iter().map(|(n, r)| (n.clone(), r)),
            call.tool,
            call.arguments,
            read_only,
        );
        judge(d.action, d.rule, d.error, call.approved)?;
        // Restrictions of attenuation blocks: only ever narrow, so any block's count.
        let restrictions: Vec<(String, String, String)> = auth
            .query_all(rule!("x($p, $a, $w) <- restrict($p, $a, $w)"))
            .map_err(|e| CapabilityError::Invalid(e.to_string()))?;
        let conditions = policy::CallConditions::new(call.arguments);
        for (i, (tool, action, when)) in restrictions.iter().enumerate() {
            if !policy::tool_matches(tool, call.tool) {
                continue;
            }
            let name = format!("restrict:{i}");
            let action = parse_action(action).unwrap_or(PolicyAction::Deny);
            let when = (!when.is_empty()).then_some(when.as_str());
            match conditions.holds(when) {
                Ok(false) => {}
                Ok(true) => judge(action, name, None, call.approved)?,
                Err(reason) => judge(PolicyAction::Deny, name, Some(reason), call.approved)?,
            }
        }
        Ok(())
    }
}

/// Maps a rule's decision to the verifier's answer.
fn judge(
    action: PolicyAction,
    rule: String,
    error: Option<String>,
    approved: bool,
) -> std::result::Result<(), CapabilityError> {
    if let Some(reason) = error {
        return Err(CapabilityError::Unevaluable { rule, reason });
    }
    match action {
        PolicyAction::Allow => Ok(()),
        PolicyAction::RequireApproval if approved => Ok(()),
        PolicyAction::RequireApproval => Err(CapabilityError::ApprovalRequired { rule }),
        // An `allow` restriction cannot be written; an unknown action is read as deny.
        PolicyAction::Deny => Err(CapabilityError::Denied { rule }),
    }
}

/// The reason of a failed Biscuit authorization, by the failing check's position in the
/// block layouts of this module (authority: org, run, tool, expiry; attenuation: run, tool,
/// expiry).
fn refusal(e: TokenError, tool: &str) -> CapabilityError {
    let checks = match &e {
        TokenError::FailedLogic(Logic::Unauthorized { checks, .. })
        | TokenError::FailedLogic(Logic::NoMatchingPolicy { checks }) => checks,
        _ => return CapabilityError::Invalid(e.to_string()),
    };
    let Some(first) = checks.first() else {
        return CapabilityError::Invalid(e.to_string());
    };
    match first {
        FailedCheck::Block(b) => match (b.block_id, b.check_id) {
            (0, 0) => CapabilityError::WrongOrganization,
            (0, 1) | (_, 0) => CapabilityError::WrongRun,
            (0, 2) | (_, 1) => CapabilityError::ToolNotGranted(tool.to_string()),
            (0, 3) | (_, 2) => CapabilityError::Expired,
            _ => CapabilityError::CheckFailed(b.rule.clone()),
        },
        FailedCheck::Authorizer(a) => CapabilityError::CheckFailed(a.rule.clone()),
    }
}

/// The identity of a token: each block's revocation id in hex.
fn identity(token: &Biscuit, expires_at: DateTime<Utc>) -> Result<CapabilityToken> {
    Ok(CapabilityToken {
        bytes: token.to_vec().map_err(internal)?,
        revocation_ids: token
            .revocation_identifiers()
            .iter()
            .map(hex::encode)
            .collect(),
        expires_at,
    })
}

/// `ed25519:` and the first 16 hex digits of SHA-256 of a Biscuit public key.
fn key_id_of(key: &PublicKey) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "ed25519:{}",
        &hex::encode(Sha256::digest(key.to_bytes()))[..16]
    )
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

    struct Fixture {
        key: CapabilityKey,
        org: Uuid,
        run: Uuid,
        token: CapabilityToken,
        now: DateTime<Utc>,
    }

    /// A run of an agent with `calculator`, `current_time` and `mail__send`, whose agent
    /// rules refuse divisions and need approval for multiplications, and whose organization
    /// denies every `mail__*` tool.
    fn fixture() -> Fixture {
        let key = CapabilityKey::generate();
        let (org, run) = (Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now();
        let agent = vec![
            rule(
                "calculator",
                PolicyAction::Deny,
                Some("args.expression.contains('/')"),
            ),
            rule(
                "calculator",
                PolicyAction::RequireApproval,
                Some("args.expression.contains('*')"),
            ),
        ];
        let org_rules = vec![Policy {
            id: Uuid::now_v7(),
            org_id: org,
            rule: rule("mail__*", PolicyAction::Deny, None),
            priority: 100,
            description: String::new(),
            created_at: now,
            updated_at: now,
        }];
        let tools = [
            ("calculator".to_string(), true),
            ("current_time".to_string(), true),
            ("mail__send".to_string(), false),
        ];
        let grant = RunGrant::new(
            org,
            run,
            &tools,
            &agent,
            &org_rules,
            now + chrono::Duration::minutes(10),
        );
        let token = key.mint(&grant).unwrap();
        Fixture {
            key,
            org,
            run,
            token,
            now,
        }
    }

    impl Fixture {
        fn call<'a>(&self, tool: &'a str, arguments: &'a serde_json::Value) -> CapabilityCall<'a> {
            CapabilityCall {
                org_id: self.org,
                run_id: self.run,
                ancestors: &[],
                tool,
                arguments,
                now: self.now,
                approved: false,
            }
        }
    }

    #[test]
    fn the_grant_leaves_out_outright_denied_tools_and_keeps_relevant_rules_in_order() {
        let f = fixture();
        let org_rules = vec![];
        let grant = RunGrant::new(
            f.org,
            f.run,
            &[("calculator".into(), true), ("mail__send".into(), false)],
            &[
                rule("mail__*", PolicyAction::Deny, None),
                rule("calculator", PolicyAction::Allow, None),
            ],
            &org_rules,
            f.now,
        );
        let names: Vec<&str> = grant.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["calculator"]);
        let rules: Vec<&str> = grant.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(rules, ["agent:1"], "mail__* matches no granted tool");
    }

    #[test]
    fn an_allowed_tool_passes_and_a_tool_outside_the_set_fails() {
        let f = fixture();
        let args = json!({"expression": "2+2"});
        assert_eq!(
            f.key.verify(&f.token.bytes, &f.call("calculator", &args)),
            Ok(())
        );
        assert_eq!(
            f.key
                .verify(&f.token.bytes, &f.call("current_time", &json!({}))),
            Ok(())
        );
        // Denied outright by the organization when minted: not in the token at all.
        assert_eq!(
            f.key
                .verify(&f.token.bytes, &f.call("mail__send", &json!({"to": "x"}))),
            Err(CapabilityError::ToolNotGranted("mail__send".into()))
        );
        assert_eq!(
            f.key
                .verify(&f.token.bytes, &f.call("http_fetch", &json!({}))),
            Err(CapabilityError::ToolNotGranted("http_fetch".into()))
        );
    }

    #[test]
    fn a_token_of_one_run_or_organization_is_refused_for_another() {
        let f = fixture();
        let args = json!({"expression": "2+2"});
        let other_run = CapabilityCall {
            run_id: Uuid::now_v7(),
            ..f.call("calculator", &args)
        };
        assert_eq!(
            f.key.verify(&f.token.bytes, &other_run),
            Err(CapabilityError::WrongRun)
        );
        let other_org = CapabilityCall {
            org_id: Uuid::now_v7(),
            ..f.call("calculator", &args)
        };
        assert_eq!(
            f.key.verify(&f.token.bytes, &other_org),
            Err(CapabilityError::WrongOrganization)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let f = fixture();
        let args = json!({"expression": "2+2"});
        let later = CapabilityCall {
            now: f.now + chrono::Duration::minutes(11),
            ..f.call("calculator", &args)
        };
        assert_eq!(
            f.key.verify(&f.token.bytes, &later),
            Err(CapabilityError::Expired)
        );
        assert!(f.token.expires_at >= f.now + chrono::Duration::minutes(10));
        assert!(
            f.token.expires_at
                <= f.now + chrono::Duration::minutes(10) + chrono::Duration::seconds(1)
        );
    }

    #[test]
    fn signed_cel_constraints_decide_the_arguments() {
        let f = fixture();
        let div = json!({"expression": "1/0"});
        assert_eq!(
            f.key.verify(&f.token.bytes, &f.call("calculator", &div)),
            Err(CapabilityError::Denied {
                rule: "agent:0".into()
            })
        );
        let mul = json!({"expression": "6*7"});
        assert_eq!(
            f.key.verify(&f.token.bytes, &f.call("calculator", &mul)),
            Err(CapabilityError::ApprovalRequired {
                rule: "agent:1".into()
            })
        );
        let approved = CapabilityCall {
            approved: true,
            ..f.call("calculator", &mul)
        };
        assert_eq!(f.key.verify(&f.token.bytes, &approved), Ok(()));
        // An approval does not lift a deny.
        let approved_div = CapabilityCall {
            approved: true,
            ..f.call("calculator", &div)
        };
        assert!(matches!(
            f.key.verify(&f.token.bytes, &approved_div),
            Err(CapabilityError::Denied { .. })
        ));
        // A condition that cannot be evaluated fails closed.
        assert!(matches!(
            f.key.verify(&f.token.bytes, &f.call("calculator", &json!({"x": 1}))),
            Err(CapabilityError::Unevaluable { rule, .. }) if rule == "agent:0"
        ));
    }

    #[test]
    fn the_default_follows_the_signed_read_only_hint() {
        let key = CapabilityKey::generate();
        let (org, run) = (Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now();
        let grant = RunGrant::new(
            org,
            run,
            &[("files__write".into(), false)],
            &[],
            &[],
            now + chrono::Duration::minutes(1),
        );
        let token = key.mint(&grant).unwrap();
        let args = json!({"path": "/tmp/x"});
        let call = CapabilityCall {
            org_id: org,
            run_id: run,
            ancestors: &[],
            tool: "files__write",
            arguments: &args,
            now,
            approved: false,
        };
        assert_eq!(
            key.verify(&token.bytes, &call),
            Err(CapabilityError::ApprovalRequired {
                rule: "default".into()
            })
        );
        assert_eq!(
            key.verify(
                &token.bytes,
                &CapabilityCall {
                    approved: true,
                    ..call
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn an_attenuated_token_is_narrower_and_bound_to_its_sub_run() {
        let f = fixture();
        let sub = Uuid::now_v7();
        let child = f
            .key
            .attenuate(
                &f.token.bytes,
                &Attenuation {
                    sub_run_id: sub,
                    tools: vec!["calculator".into()],
                    restrictions: vec![rule(
                        "calculator",
                        PolicyAction::Deny,
                        Some("args.expression.size() > 5"),
                    )],
                    expires_at: f.now + chrono::Duration::minutes(5),
                },
            )
            .unwrap();
        assert_eq!(child.revocation_ids.len(), 2);
        assert_eq!(child.revocation_ids[0], f.token.revocation_ids[0]);
        assert_ne!(child.token_id(), f.token.token_id());
        assert!(
            child.expires_at <= f.now + chrono::Duration::minutes(5) + chrono::Duration::seconds(1)
        );
        let ancestors = [f.run];
        let short = json!({"expression": "2+2"});
        let as_sub = |tool, arguments| CapabilityCall {
            run_id: sub,
            ancestors: &ancestors,
            ..f.call(tool, arguments)
        };
        assert_eq!(
            f.key.verify(&child.bytes, &as_sub("calculator", &short)),
            Ok(())
        );
        // Narrower tool set: current_time is in the parent's grant, not in the child's.
        let none = json!({});
        assert_eq!(
            f.key.verify(&child.bytes, &as_sub("current_time", &none)),
            Err(CapabilityError::ToolNotGranted("current_time".into()))
        );
        // The extra constraint and the parent's signed rules both apply.
        let long = json!({"expression": "1+2+3+4"});
        assert_eq!(
            f.key.verify(&child.bytes, &as_sub("calculator", &long)),
            Err(CapabilityError::Denied {
                rule: "restrict:0".into()
            })
        );
        let div = json!({"expression": "1/2"});
        assert_eq!(
            f.key.verify(&child.bytes, &as_sub("calculator", &div)),
            Err(CapabilityError::Denied {
                rule: "agent:0".into()
            })
        );
        // Its own expiry, earlier than the parent's.
        let later = CapabilityCall {
            now: f.now + chrono::Duration::minutes(6),
            ..as_sub("calculator", &short)
        };
        assert_eq!(
            f.key.verify(&child.bytes, &later),
            Err(CapabilityError::Expired)
        );
        // Bound to the sub-run: not for the parent, nor for a sibling.
        assert_eq!(
            f.key.verify(&child.bytes, &f.call("calculator", &short)),
            Err(CapabilityError::WrongRun)
        );
        let sibling = CapabilityCall {
            run_id: Uuid::now_v7(),
            ..as_sub("calculator", &short)
        };
        assert_eq!(
            f.key.verify(&child.bytes, &sibling),
            Err(CapabilityError::WrongRun)
        );
        // The parent's own token is not the sub-run's.
        assert_eq!(
            f.key.verify(&f.token.bytes, &as_sub("calculator", &short)),
            Err(CapabilityError::NotDelegated)
        );
        // An attenuation cannot grant.
        let widen = Attenuation {
            sub_run_id: sub,
            tools: vec!["calculator".into()],
            restrictions: vec![rule("calculator", PolicyAction::Allow, None)],
            expires_at: f.now,
        };
        assert!(f.key.attenuate(&f.token.bytes, &widen).is_err());
    }

    #[test]
    fn tampered_bytes_and_another_root_key_are_refused() {
        let f = fixture();
        let args = json!({"expression": "2+2"});
        let mut tampered = f.token.bytes.clone();
        let mid = tampered.len() / 2;
        tampered[mid] ^= 0x01;
        assert!(matches!(
            f.key.verify(&tampered, &f.call("calculator", &args)),
            Err(CapabilityError::Invalid(_))
        ));
        assert!(matches!(
            f.key.verify(
                &f.token.bytes[..f.token.bytes.len() - 3],
                &f.call("calculator", &args)
            ),
            Err(CapabilityError::Invalid(_))
        ));
        let stranger = CapabilityKey::generate();
        let forged = stranger
            .mint(&RunGrant::new(
                f.org,
                f.run,
                &[("calculator".into(), true)],
                &[],
                &[],
                f.now + chrono::Duration::minutes(1),
            ))
            .unwrap();
        assert!(matches!(
            f.key.verify(&forged.bytes, &f.call("calculator", &args)),
            Err(CapabilityError::Invalid(_))
        ));
    }

    #[test]
    fn keys_round_trip_through_base64_and_are_distinct() {
        let k = CapabilityKey::generate();
        let again = CapabilityKey::from_base64(&k.seed_base64()).unwrap();
        assert_eq!(again.key_id(), k.key_id());
        assert!(k.key_id().starts_with("ed25519:"));
        assert_ne!(CapabilityKey::generate().key_id(), k.key_id());
        assert!(CapabilityKey::from_base64("short").is_err());
        let padded = STANDARD.encode([7u8; 32]);
        assert_eq!(
            CapabilityKey::from_base64(&padded).unwrap().key_id(),
            CapabilityKey::from_seed([7u8; 32]).key_id()
        );
    }
}
