//! Display formatting shared by the pages: times, sizes, provider kinds, passages.

use autonoma_types::ProviderKind;
use chrono::{DateTime, Utc};

/// Longest passage shown in a search result, in characters.
pub const MAX_PASSAGE_CHARS: usize = 700;

/// A byte count for people: `812 B`, `14.2 KiB`, `3.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

/// Formats a time as `YYYY-MM-DD HH:MM UTC` (the same on server and browser, so hydration
/// sees identical text).
pub fn short_time(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "Local" or "OpenAI-compatible".
pub fn kind_label(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Local => "Local",
        ProviderKind::OpenaiCompatible => "OpenAI-compatible",
    }
}

/// A passage for display: hard-wrapped lines joined (a line break is kept before a list
/// item, heading, quote or table row), spaces collapsed, blank-line runs reduced to one, and
/// the result cut at [`MAX_PASSAGE_CHARS`] on a word boundary with an ellipsis. (Shown as
/// text: markup in documents is never interpreted.)
pub fn passage(text: &str) -> String {
    fn starts_block(line: &str) -> bool {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        ["- ", "* ", "+ ", "#", "> ", "|"]
            .iter()
            .any(|m| line.starts_with(m))
            || (digits > 0
                && (line[digits..].starts_with(". ") || line[digits..].starts_with(") ")))
    }
    let mut out = String::new();
    let mut blank = false;
    // A heading or table row ends its line.
    let mut line_ends = false;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank {
                "\n\n"
            } else if line_ends || starts_block(&line) {
                "\n"
            } else {
                " "
            });
        }
        blank = false;
        line_ends = line.starts_with('#') || line.starts_with('|');
        out.push_str(&line);
    }
    if out.chars().count() <= MAX_PASSAGE_CHARS {
        return out;
    }
    let cut: String = out.chars().take(MAX_PASSAGE_CHARS).collect();
    let cut = match cut.rfind([' ', '\n']) {
        Some(i) if i > MAX_PASSAGE_CHARS / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', '.', ' ', '\n']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_are_collapsed_and_cut() {
        assert_eq!(passage("  a\n\n\n b\t c \nd"), "a\n\nb c d");
        assert_eq!(passage("# Title\nsome text wrapped\nhere.\n- item one\n  continued\n- item two\n12. twelve"), "# Title\nsome text wrapped here.\n- item one continued\n- item two\n12. twelve");
        let long = "word ".repeat(400);
        let p = passage(&long);
        assert!(
            p.ends_with('…') && p.chars().count() <= MAX_PASSAGE_CHARS + 1,
            "{p}"
        );
        assert_eq!(passage("<script>x</script>"), "<script>x</script>");
    }

    #[test]
    fn times_sizes_and_kinds_read_well() {
        let t: DateTime<Utc> = "2026-01-02T03:04:05.123Z".parse().unwrap();
        assert_eq!(short_time(t), "2026-01-02 03:04 UTC");
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(14_540), "14.2 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(
            kind_label(ProviderKind::OpenaiCompatible),
            "OpenAI-compatible"
        );
    }
}
