//! Text extraction by media type, keeping the structure citations need.
//!
//! | media type      | how                                                       | sections (headings) |
//! |-----------------|-----------------------------------------------------------|---------------------|
//! | `text/plain`    | the UTF-8 text as is                                      | none                |
//! | `text/markdown` | the Markdown source as is (`pulldown-cmark` finds headings, so `#` inside code fences is not one) | ATX and setext headings, as a path `H1 > H2 > …` |
//! | `text/html`     | visible text of the DOM (`scraper`/html5ever), block elements on their own lines, `script`/`style`/`head` dropped | `h1`–`h6`, as a path |
//! | `application/pdf` | text of each page (`pdf-extract` over `lopdf`), pages separated by a blank line | one per page: `page N` |
//!
//! Every rejection is an [`Error::Validation`] on field `file` (or `media_type`) that says
//! what is wrong: empty input, bytes that are not UTF-8 text (or contain NUL) declared as
//! text, a PDF that cannot be parsed, or a document without any text.

use crate::{Error, Result};

/// Media types the pipeline accepts.
pub const SUPPORTED_MEDIA_TYPES: [&str; 4] = [
    "text/plain",
    "text/markdown",
    "text/html",
    "application/pdf",
];

/// A section of the extracted text: from `start` (byte offset into [`Extracted::text`]) to
/// the next section's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Byte offset into [`Extracted::text`] (always on a character boundary).
    pub start: usize,
    /// Nearest heading path, e.g. `Architecture > Invariants`, or `page 3` for PDFs; empty
    /// before the first heading.
    pub heading: String,
    /// 1-based page number (PDF only).
    pub page: Option<u32>,
}

/// The text of a document and where its sections begin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The document's text (for Markdown: the source itself).
    pub text: String,
    /// Sorted by `start`; the first starts at 0.
    pub sections: Vec<Section>,
}

/// Normalises a declared media type: lowercase, parameters (`; charset=…`) dropped, common
/// aliases mapped (`text/x-markdown` → `text/markdown`, `application/xhtml+xml` →
/// `text/html`). When the result is empty or `application/octet-stream`, the type is inferred
/// from the file name's extension (`.txt`, `.text`, `.md`, `.markdown`, `.html`, `.htm`,
/// `.pdf`). Errors: [`Error::Validation`] (`media_type`) for anything unsupported.
pub fn resolve_media_type(declared: Option<&str>, file_name: &str) -> Result<&'static str> {
    let declared = declared
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let from_ext = || {
        let ext = file_name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "txt" | "text" => Some("text/plain"),
            "md" | "markdown" => Some("text/markdown"),
            "html" | "htm" => Some("text/html"),
            "pdf" => Some("application/pdf"),
            _ => None,
        }
    };
    let resolved = match declared.as_str() {
        "" | "application/octet-stream" => from_ext(),
        "text/plain" => Some("text/plain"),
        "text/markdown" | "text/x-markdown" => Some("text/markdown"),
        "text/html" | "application/xhtml+xml" => Some("text/html"),
        "application/pdf" => Some("application/pdf"),
        _ => None,
    };
    resolved.ok_or_else(|| {
        let what = if declared.is_empty() {
            format!("cannot tell the type of {file_name:?}")
        } else {
            format!("{declared:?} is not supported")
        };
        Error::validation(
            "media_type",
            format!("{what}; supported: {}", SUPPORTED_MEDIA_TYPES.join(", ")),
        )
    })
}

/// Extracts text and sections from `bytes` of `media_type` (one of
/// [`SUPPORTED_MEDIA_TYPES`]). CPU-bound: call from a blocking thread for large inputs.
pub fn extract(media_type: &str, bytes: &[u8]) -> Result<Extracted> {
    if bytes.is_empty() {
        return Err(Error::validation("file", "is empty"));
    }
    let out = match media_type {
        "text/plain" => Extracted {
            text: utf8_text(bytes, media_type)?.to_string(),
            sections: vec![Section {
                start: 0,
                heading: String::new(),
                page: None,
            }],
        },
        "text/markdown" => markdown(utf8_text(bytes, media_type)?),
        "text/html" => html(utf8_text(bytes, media_type)?),
        "application/pdf" => pdf(bytes)?,
        other => {
            return Err(Error::validation(
                "media_type",
                format!(
                    "{other:?} is not supported; supported: {}",
                    SUPPORTED_MEDIA_TYPES.join(", ")
                ),
            ))
        }
    };
    if out.text.trim().is_empty() {
        return Err(Error::validation("file", "contains no text"));
    }
    Ok(out)
}

/// The bytes as UTF-8 text (a leading BOM dropped). Binary data declared as text is refused:
/// invalid UTF-8, or any NUL byte (valid UTF-8, but never in a text document).
fn utf8_text<'a>(bytes: &'a [u8], media_type: &str) -> Result<&'a str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::validation("file", format!("is declared as {media_type} but is not UTF-8 text (invalid byte at offset {}); binary files are not accepted as text", e.valid_up_to()))
    })?;
    if let Some(i) = text.find('\0') {
        return Err(Error::validation("file", format!("is declared as {media_type} but contains a NUL byte at offset {i}; binary files are not accepted as text")));
    }
    Ok(text)
}

/// Maintains a heading path from (level, title) pairs.
#[derive(Default)]
struct HeadingPath {
    stack: Vec<(u8, String)>,
}

impl HeadingPath {
    fn enter(&mut self, level: u8, title: &str) -> String {
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        let title = collapse_ws(title);
        if !title.is_empty() {
            self.stack.push((level, title));
        }
        self.stack
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join(" > ")
    }
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn markdown(text: &str) -> Extracted {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut sections = vec![Section {
        start: 0,
        heading: String::new(),
        page: None,
    }];
    let mut path = HeadingPath::default();
    let mut current: Option<(u8, usize, String)> = None;
    for (event, range) in Parser::new_ext(text, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some((level as u8, range.start, String::new()))
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, title)) = current.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, _, title)) = current.as_mut() {
                    title.push(' ');
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, start, title)) = current.take() {
                    let heading = path.enter(level, &title);
                    push_section(
                        &mut sections,
                        Section {
                            start,
                            heading,
                            page: None,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    Extracted {
        text: text.to_string(),
        sections,
    }
}

/// Appends a section, replacing the previous one when it would be empty (same start).
fn push_section(sections: &mut Vec<Section>, s: Section) {
    if sections.last().is_some_and(|l| l.start == s.start) {
        sections.pop();
    }
    sections.push(s);
}

const HTML_SKIP: [&str; 9] = [
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
];
const HTML_BLOCK: [&str; 33] = [
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "nav",
    "aside",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tr",
    "td",
    "th",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "hr",
    "address",
    "details",
    "summary",
    "caption",
    "body",
];

struct HtmlOut {
    text: String,
    sections: Vec<Section>,
    path: HeadingPath,
}

impl HtmlOut {
    fn newline(&mut self) {
        while self.text.ends_with(' ') {
            self.text.pop();
        }
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }
    fn space(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with([' ', '\n']) {
            self.text.push(' ');
        }
    }
    /// Inline text: whitespace runs collapse to one space (HTML's rendering), except in `pre`.
    fn push_inline(&mut self, s: &str, pre: bool) {
        if pre {
            self.text.push_str(s);
            return;
        }
        if s.starts_with(char::is_whitespace) {
            self.space();
        }
        for (i, word) in s.split_whitespace().enumerate() {
            if i > 0 {
                self.space();
            }
            self.text.push_str(word);
        }
        if s.ends_with(char::is_whitespace) {
            self.space();
        }
    }
}

fn html(src: &str) -> Extracted {
    let doc = scraper::Html::parse_document(src);
    let mut out = HtmlOut {
        text: String::new(),
        sections: vec![Section {
            start: 0,
            heading: String::new(),
            page: None,
        }],
        path: HeadingPath::default(),
    };
    walk_html(doc.tree.root(), &mut out, false);
    out.newline();
    Extracted {
        text: out.text,
        sections: out.sections,
    }
}

fn node_text(node: ego_tree::NodeRef<'_, scraper::Node>) -> String {
    let mut s = String::new();
    for d in node.descendants() {
        if let scraper::Node::Text(t) = d.value() {
            s.push_str(t);
            s.push(' ');
        }
    }
    collapse_ws(&s)
}

fn walk_html(node: ego_tree::NodeRef<'_, scraper::Node>, out: &mut HtmlOut, pre: bool) {
    match node.value() {
        scraper::Node::Text(t) => out.push_inline(t, pre),
        scraper::Node::Element(e) => {
            let name = e.name();
            if HTML_SKIP.contains(&name) {
                return;
            }
            if let Some(level) = name
                .strip_prefix('h')
                .and_then(|l| l.parse::<u8>().ok())
                .filter(|l| (1..=6).contains(l))
            {
                let title = node_text(node);
                out.newline();
                let heading = out.path.enter(level, &title);
                let start = out.text.len();
                push_section(
                    &mut out.sections,
                    Section {
                        start,
                        heading,
                        page: None,
                    },
                );
                out.text.push_str(&title);
                out.newline();
                return;
            }
            let block = HTML_BLOCK.contains(&name);
            if block || name == "br" {
                out.newline();
            }
            let pre = pre || name == "pre";
            for child in node.children() {
                walk_html(child, out, pre);
            }
            if block {
                out.newline();
            }
        }
        scraper::Node::Document | scraper::Node::Fragment => {
            for child in node.children() {
                walk_html(child, out, pre);
            }
        }
        _ => {}
    }
}

fn pdf(bytes: &[u8]) -> Result<Extracted> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(Error::validation(
            "file",
            "is declared as application/pdf but does not start with a PDF header (%PDF-)",
        ));
    }
    // pdf-extract panics on some malformed inputs; a panic is a corrupt file, not a crash.
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| {
            Error::validation(
                "file",
                "is not a readable PDF (the parser gave up on its structure)",
            )
        })?
        .map_err(|e| Error::validation("file", format!("is not a readable PDF: {e}")))?;
    if pages.is_empty() {
        return Err(Error::validation(
            "file",
            "is not a readable PDF: it has no pages",
        ));
    }
    let mut text = String::new();
    let mut sections = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let page_text = page.trim();
        if page_text.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let n = i as u32 + 1;
        sections.push(Section {
            start: text.len(),
            heading: format!("page {n}"),
            page: Some(n),
        });
        text.push_str(page_text);
    }
    if text.is_empty() {
        return Err(Error::validation(
            "file",
            "has no extractable text (scanned PDFs need OCR, which is not supported)",
        ));
    }
    if let Some(first) = sections.first_mut() {
        first.start = 0;
    }
    Ok(Extracted { text, sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headings(e: &Extracted) -> Vec<(String, String)> {
        let mut v = vec![];
        for (i, s) in e.sections.iter().enumerate() {
            let end = e
                .sections
                .get(i + 1)
                .map(|n| n.start)
                .unwrap_or(e.text.len());
            v.push((
                s.heading.clone(),
                e.text[s.start..end]
                    .trim()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ));
        }
        v
    }

    #[test]
    fn media_types_resolve_or_are_refused() {
        assert_eq!(
            resolve_media_type(Some("text/markdown; charset=utf-8"), "x").unwrap(),
            "text/markdown"
        );
        assert_eq!(
            resolve_media_type(Some("application/octet-stream"), "notes.MD").unwrap(),
            "text/markdown"
        );
        assert_eq!(
            resolve_media_type(None, "a.pdf").unwrap(),
            "application/pdf"
        );
        assert_eq!(
            resolve_media_type(Some("TEXT/HTML"), "x").unwrap(),
            "text/html"
        );
        let e = resolve_media_type(Some("image/png"), "a.png").unwrap_err();
        assert!(
            matches!(&e, Error::Validation { field, message } if field == "media_type" && message.contains("image/png")),
            "{e}"
        );
        assert!(resolve_media_type(None, "archive.zip").is_err());
    }

    #[test]
    fn markdown_keeps_a_heading_path_and_ignores_code_fences() {
        let md = "Intro line.\n\n# Guide\n\nHello.\n\n## Install\n\n```sh\n# not a heading\n```\n\n## Use\n\nRun it.\n\nSetext\n======\n\nBody.\n";
        let e = extract("text/markdown", md.as_bytes()).unwrap();
        assert_eq!(e.text, md);
        assert_eq!(
            headings(&e),
            vec![
                ("".into(), "Intro line.".into()),
                ("Guide".into(), "# Guide".into()),
                ("Guide > Install".into(), "## Install".into()),
                ("Guide > Use".into(), "## Use".into()),
                ("Setext".into(), "Setext".into()),
            ]
        );
    }

    #[test]
    fn html_gives_visible_text_with_heading_sections() {
        let html = "<html><head><title>T</title><style>p{}</style></head><body><h1>Manual</h1><p>Welcome  to\n the <b>tool</b>. <i>Read</i> <b>this</b>.</p>\
                    <script>var x = 1;</script><h2>Setup</h2><ul><li>one</li><li>two</li></ul><h3>Deep <i>dive</i></h3><p>x</p><h2>Other</h2><p>y</p></body></html>";
        let e = extract("text/html", html.as_bytes()).unwrap();
        assert!(
            e.text.contains("Welcome to the tool. Read this."),
            "{}",
            e.text
        );
        assert!(
            !e.text.contains("var x") && !e.text.contains("p{}"),
            "{}",
            e.text
        );
        assert!(e.text.contains("one\ntwo"), "{}", e.text);
        let h: Vec<String> = e.sections.iter().map(|s| s.heading.clone()).collect();
        assert_eq!(
            h,
            vec![
                "Manual",
                "Manual > Setup",
                "Manual > Setup > Deep dive",
                "Manual > Other"
            ]
        );
        assert_eq!(e.sections[0].start, 0);
    }

    #[test]
    fn pdf_pages_become_sections_with_page_numbers() {
        // Written by `cargo run -p autonoma --example pdf_fixture`.
        let pdf = include_bytes!("../../../tests/fixtures/greenhouse-guide.pdf");
        let e = extract("application/pdf", pdf).unwrap();
        let pages: Vec<(String, Option<u32>)> = e
            .sections
            .iter()
            .map(|s| (s.heading.clone(), s.page))
            .collect();
        assert_eq!(
            pages,
            vec![
                ("page 1".into(), Some(1)),
                ("page 2".into(), Some(2)),
                ("page 3".into(), Some(3))
            ]
        );
        let page2 = &e.text[e.sections[1].start..e.sections[2].start];
        assert!(
            page2.contains("Aphids are removed with a spray of soapy water"),
            "{page2:?}"
        );
        assert!(!page2.contains("Cucumbers"));
        // Cut in half, the same file is refused.
        let err = extract("application/pdf", &pdf[..pdf.len() / 2]).unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let err = |mt: &str, b: &[u8]| match extract(mt, b).unwrap_err() {
            Error::Validation { field, message } => format!("{field}: {message}"),
            other => panic!("{other}"),
        };
        assert_eq!(err("text/plain", b""), "file: is empty");
        assert!(err("text/plain", b"  \n\t ").contains("no text"));
        assert!(err("text/plain", &[0x89, b'P', b'N', b'G', 0xff, 0xfe]).contains("not UTF-8 text"));
        assert!(err("text/markdown", b"abc\0def").contains("NUL"));
        assert!(err("application/pdf", b"hello").contains("PDF header"));
        assert!(err(
            "application/pdf",
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage"
        )
        .contains("not a readable PDF"));
        assert!(err("image/png", b"x").starts_with("media_type"));
    }
}
