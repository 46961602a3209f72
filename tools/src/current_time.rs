//! The `current_time` tool: the current date and time in an IANA time zone.

use async_trait::async_trait;
use autonoma_core::llm::ToolDefinition;
use autonoma_core::tool::{Tool, ToolContext, ToolError};
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

/// The `current_time` tool.
///
/// Arguments: `{"timezone"?: string}`, an IANA time zone name such as `"Europe/Paris"` or
/// `"America/New_York"` (matched case-insensitively; absent, `null` or blank means `"UTC"`).
///
/// Result: the wall-clock time as RFC 3339 with whole seconds and the zone's UTC offset, then the
/// weekday and the zone's canonical name, e.g. `2026-11-21T06:30:00+01:00 (Saturday, Europe/Paris)`
/// (see [`format_time`]).
///
/// Errors: an unknown zone name, or a `timezone` that is not a string.
#[derive(Debug, Clone, Copy, Default)]
pub struct CurrentTime;

#[async_trait]
impl Tool for CurrentTime {
    fn read_only(&self) -> bool {
        true
    }
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: "current_time".into(),
            description: "Returns the current date and time (RFC 3339, with weekday) in the given \
                IANA time zone, e.g. \"2026-11-21T06:30:00+01:00 (Saturday, Europe/Paris)\". \
                Defaults to UTC."
                .into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {
                    "timezone": {
                        "type": "string",
                        "description": "IANA time zone name such as \"Europe/Paris\", \"America/New_York\" or \"UTC\" (the default)."
                    }
                },
                "additionalProperties": false
            }),
        }
    }

    async fn call(
        &self,
        arguments: serde_json::Value,
        _ctx: &ToolContext,
    ) -> Result<String, ToolError> {
        let timezone = crate::string_arg("current_time", &arguments, "timezone")?;
        let tz = parse_timezone(timezone.unwrap_or("UTC"))
            .map_err(|message| ToolError(format!("current_time: {message}")))?;
        Ok(format_time(Utc::now(), tz))
    }
}

/// Looks up an IANA time zone by name: exact first, then ignoring ASCII case (`europe/paris`).
/// Surrounding whitespace is ignored and a blank name means UTC.
///
/// Errors with a message naming the zone and giving examples of valid names.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(Tz::UTC);
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown time zone '{name}'; use an IANA name such as 'UTC', 'Europe/Paris', \
                 'America/New_York' or 'Asia/Tokyo'"
            )
        })
}

/// Formats the instant `now` in `tz`: `<RFC 3339 with offset> (<weekday>, <zone name>)`, e.g.
/// `2026-11-21T06:30:00+01:00 (Saturday, Europe/Paris)`. Seconds are whole (truncated) and UTC is
/// written `+00:00`.
pub fn format_time(now: DateTime<Utc>, tz: Tz) -> String {
    let local = now.with_timezone(&tz);
    format!(
        "{} ({}, {})",
        local.to_rfc3339_opts(SecondsFormat::Secs, false),
        local.format("%A"),
        tz.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn instant() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 5, 30, 0).unwrap()
    }

    #[test]
    fn formats_in_zones() {
        let tz = |name| parse_timezone(name).unwrap();
        assert_eq!(
            format_time(instant(), tz("Europe/Paris")),
            "2026-11-21T06:30:00+01:00 (Saturday, Europe/Paris)"
        );
        assert_eq!(
            format_time(instant(), tz("UTC")),
            "2026-11-21T05:30:00+00:00 (Saturday, UTC)"
        );
        assert_eq!(
            format_time(instant(), tz("America/Los_Angeles")),
            "2026-11-20T21:30:00-08:00 (Friday, America/Los_Angeles)"
        );
        assert_eq!(
            format_time(instant(), tz("Asia/Kolkata")),
            "2026-11-21T11:00:00+05:30 (Saturday, Asia/Kolkata)"
        );
        // Summer time: Paris is UTC+2 in July.
        let july = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(
            format_time(july, tz("Europe/Paris")),
            "2026-07-01T14:00:00+02:00 (Wednesday, Europe/Paris)"
        );
    }

    #[test]
    fn zone_names() {
        assert_eq!(parse_timezone("europe/paris").unwrap(), Tz::Europe__Paris);
        assert_eq!(parse_timezone("  Asia/Tokyo ").unwrap(), Tz::Asia__Tokyo);
        assert_eq!(parse_timezone("").unwrap(), Tz::UTC);
        let err = parse_timezone("Mars/Olympus_Mons").unwrap_err();
        assert!(
            err.contains("unknown time zone 'Mars/Olympus_Mons'"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn tool_call() {
        let ctx = ToolContext::default();
        let out = CurrentTime.call(serde_json::json!({}), &ctx).await.unwrap();
        assert!(out.ends_with(", UTC)") && out.contains("+00:00 ("), "{out}");
        let rfc3339 = out.split(' ').next().unwrap();
        let parsed = DateTime::parse_from_rfc3339(rfc3339).unwrap();
        assert!(
            (Utc::now() - parsed.with_timezone(&Utc))
                .num_seconds()
                .abs()
                < 60
        );

        let out = CurrentTime
            .call(serde_json::json!({"timezone": "Asia/Tokyo"}), &ctx)
            .await
            .unwrap();
        assert!(
            out.contains("+09:00 (") && out.ends_with(", Asia/Tokyo)"),
            "{out}"
        );
        let out = CurrentTime
            .call(serde_json::json!({"timezone": null}), &ctx)
            .await
            .unwrap();
        assert!(out.ends_with(", UTC)"), "{out}");

        let err = CurrentTime
            .call(serde_json::json!({"timezone": "Nowhere/Land"}), &ctx)
            .await
            .unwrap_err();
        assert!(
            err.0
                .starts_with("current_time: unknown time zone 'Nowhere/Land'"),
            "{err}"
        );
        let err = CurrentTime
            .call(serde_json::json!({"timezone": 1}), &ctx)
            .await
            .unwrap_err();
        assert!(err.0.contains("must be a string"), "{err}");
    }
}
