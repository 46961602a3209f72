//! PII and secret redaction for what is logged, stored in the audit log, or shown to
//! viewers (tool arguments of approvals and run events).
//!
//! [`redact_text`] replaces each match with a marker naming its kind, applying these
//! patterns (Rust `regex` syntax) in this order:
//!
//! | kind | marker | pattern | source |
//! |---|---|---|---|
//! | bearer token | `Bearer [redacted:token]` | `(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*` | the `b64token` syntax of RFC 6750 §2.1 |
//! | Autonoma API key | `[redacted:api_key]` | `\bak_[A-Za-z0-9_-]{16,}` | `core::secret::random_token("ak_")`: 43 base64url characters (the 8-character display prefix stays readable) |
//! | OpenAI-style key | `[redacted:api_key]` | `\bsk-[A-Za-z0-9_-]{16,}` | OpenAI's `sk-…` / `sk-proj-…` secret keys (also used by Anthropic, `sk-ant-…`) |
//! | e-mail address | `[redacted:email]` | `(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b` | the "practical" address pattern of regular-expressions.info (RFC 5322 dot-atom local parts, DNS host names) |
//! | card number | `[redacted:card]` | `\b\d(?:[ -]?\d){12,18}\b`, kept only when the digits pass the Luhn check | ISO/IEC 7812: 13 to 19 digits, often grouped by spaces or dashes; Luhn (mod 10) check digit |
//! | phone number | `[redacted:phone]` | `\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){1,5}\d` with 8 to 15 digits, or `\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b` | ITU-T E.164 (a `+`, country code, at most 15 digits) and the North American Numbering Plan's `(NXX) NXX-XXXX` |
//!
//! Numbers without a `+` or the NANP grouping (amounts, ids, dates) are left alone: the
//! patterns favour few false positives. [`redact_json`] redacts every string of a JSON
//! value and replaces the whole value of members whose name says they hold a secret
//! ([`is_secret_name`]).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*").unwrap());
static AUTONOMA_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bak_[A-Za-z0-9_-]{16,}").unwrap());
static OPENAI_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bsk-[A-Za-z0-9_-]{16,}").unwrap());
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b").unwrap()
});
static CARD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").unwrap());
static PHONE_INTL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){1,5}\d").unwrap());
static PHONE_NANP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b").unwrap());

/// Whether `digits` (ASCII digits only) pass the Luhn (mod 10) check of ISO/IEC 7812-1.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// `text` with bearer tokens, API keys, e-mail addresses, Luhn-valid card numbers and phone
/// numbers replaced by markers (the module docs list the patterns). Borrowed when nothing
/// matched.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    let mut apply = |re: &Regex, f: &dyn Fn(&Captures) -> String| {
        let changed = match re.replace_all(&out, |c: &Captures| f(c)) {
            // A match kept as it was (a number failing its check) changes nothing.
            Cow::Owned(s) if s != *out => Some(s),
            _ => None,
        };
        if let Some(s) = changed {
            out = Cow::Owned(s);
        }
    };
    apply(&BEARER, &|_| "Bearer [redacted:token]".into());
    apply(&AUTONOMA_KEY, &|_| "[redacted:api_key]".into());
    apply(&OPENAI_KEY, &|_| "[redacted:api_key]".into());
    apply(&EMAIL, &|_| "[redacted:email]".into());
    apply(&CARD, &|c| {
        if luhn_valid(&digits_of(&c[0])) {
            "[redacted:card]".into()
        } else {
            c[0].to_string()
        }
    });
    apply(&PHONE_INTL, &|c| {
        let n = digits_of(&c[0]).len();
        if (8..=15).contains(&n) {
            "[redacted:phone]".into()
        } else {
            c[0].to_string()
        }
    });
    apply(&PHONE_NANP, &|_| "[redacted:phone]".into());
    out
}

/// Whether a JSON member named `name` holds a secret whose whole value is replaced by
/// `"[redacted]"`: (case-insensitive, `-` read as `_`) `password`, `passwd`, `secret`,
/// `token`, `api_key`, `apikey`, `authorization`, `access_token`, `refresh_token`,
/// `client_secret`, `private_key`, `cookie`, or a name ending in `_password`, `_secret`,
/// `_token` or `_api_key`.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    matches!(
        n.as_str(),
        "password"
            | "passwd"
            | "secret"
            | "token"
            | "api_key"
            | "apikey"
            | "authorization"
            | "access_token"
            | "refresh_token"
            | "client_secret"
            | "private_key"
            | "cookie"
    ) || ["_password", "_secret", "_token", "_api_key"]
        .iter()
        .any(|s| n.ends_with(s))
}

/// `value` with [`redact_text`] applied to every string (object member names are kept) and
/// the values of secret-named members ([`is_secret_name`]) replaced by `"[redacted]"`.
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(redact_text(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_name(k) && !v.is_null() {
                        Value::String("[redacted]".into())
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_is_redacted() {
        let cases = [
            ("mail ada@example.com now", "mail [redacted:email] now"),
            ("to: First.Last+tag@mail.co.uk.", "to: [redacted:email]."),
            ("card 4111 1111 1111 1111 ok", "card [redacted:card] ok"),
            ("card 4111-1111-1111-1111", "card [redacted:card]"),
            ("amex 378282246310005", "amex [redacted:card]"),
            ("call +1 (415) 555-2671 or", "call [redacted:phone] or"),
            ("call +44 20 7946 0958", "call [redacted:phone]"),
            ("call (415) 555-2671", "call [redacted:phone]"),
            ("call 415-555-2671", "call [redacted:phone]"),
            (
                "Authorization: Bearer eyJhbGciOi.J9x-y_z==",
                "Authorization: Bearer [redacted:token]",
            ),
            (
                "key ak_0123456789abcdefghij_KLMNOPQRSTUVWXYZ-0123456",
                "key [redacted:api_key]",
            ),
            (
                "OPENAI sk-proj-abcdefghijklmnop1234",
                "OPENAI [redacted:api_key]",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_text(input), want, "{input}");
        }
    }

    #[test]
    fn ordinary_text_and_numbers_are_kept() {
        for text in [
            "2 + 2 = 4, total 1234567.89 on 2026-12-07",
            // 16 digits failing the Luhn check: an id, not a card.
            "order 4111 1111 1111 1112",
            "ak_0123abcd is a key prefix",
            "version 1.2.3 at 10:30",
        ] {
            assert!(matches!(redact_text(text), Cow::Borrowed(_)), "{text}");
        }
        assert!(luhn_valid("79927398713") && !luhn_valid("79927398710"));
    }

    #[test]
    fn json_strings_and_secret_members_are_redacted() {
        let v = json!({
            "to": "ada@example.com",
            "headers": {"Authorization": "Bearer abcdefgh123", "X-Trace": "1"},
            "password": "hunter2",
            "db_password": {"nested": true},
            "items": ["call +1 415 555 2671", 5, null],
            "api_key": null,
        });
        assert_eq!(
            redact_json(&v),
            json!({
                "to": "[redacted:email]",
                "headers": {"Authorization": "[redacted]", "X-Trace": "1"},
                "password": "[redacted]",
                "db_password": "[redacted]",
                "items": ["call [redacted:phone]", 5, null],
                "api_key": null,
            })
        );
    }
}
