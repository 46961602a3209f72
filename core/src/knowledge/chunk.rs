//! Splitting extracted text into overlapping chunks sized in the model's tokens.
//!
//! Chunks never cross a section (heading or page) boundary, so each has one heading to
//! cite. Inside a section the text is cut at whitespace into words; a chunk takes words
//! while the embedding input — the heading path (when it fits, see [`heading_fits`]), a blank line, then the chunk text — stays
//! within [`ChunkConfig::max_tokens`] word pieces, and the next chunk starts
//! [`ChunkConfig::overlap_tokens`] tokens before the previous one ended.
//!
//! Token counts are exact for BERT-style tokenizers: their pre-tokeniser splits on
//! whitespace before word-piece segmentation, so a text's tokens are the concatenation of
//! its words' tokens. Word counts are cached, so a document costs one tokenizer call per
//! distinct word.

use std::collections::HashMap;

use super::embed_job::heading_fits;
use super::extract::Extracted;
use super::tokens::TokenCounter;
use crate::Result;

/// Chunking parameters. Defaults: 200 tokens per chunk, 40 of overlap (all-MiniLM-L6-v2
/// reads at most 256, special tokens included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    /// Largest embedding input of a chunk in word pieces, excluding `[CLS]`/`[SEP]`.
    pub max_tokens: usize,
    /// Tokens repeated from the end of one chunk at the start of the next.
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig {
            max_tokens: 200,
            overlap_tokens: 40,
        }
    }
}

/// Longest word (in characters) kept whole; longer runs without whitespace are cut.
const MAX_WORD_CHARS: usize = 100;
/// Sections with fewer tokens than this are merged into the next section.
const MIN_SECTION_TOKENS: usize = 16;

/// A chunk before it is stored: text, where it came from, and its token count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkDraft {
    /// 0-based position in the document.
    pub ordinal: usize,
    /// The exact slice of the extracted text.
    pub text: String,
    /// Nearest heading path (empty before the first heading).
    pub heading: String,
    /// 1-based page (PDF).
    pub page: Option<u32>,
    /// Offset of the first character in the extracted text, in Unicode scalar values.
    pub start_char: usize,
    /// Offset one past the last character, in Unicode scalar values.
    pub end_char: usize,
    /// Tokens of [`ChunkDraft::embedding_input`], special tokens included.
    pub token_count: usize,
}

impl ChunkDraft {
    /// What the embedding model reads for this chunk (see [`embedding_input`]).
    pub fn embedding_input(&self, with_heading: bool) -> String {
        embedding_input(&self.heading, &self.text, with_heading)
    }
}

/// The text embedded for a chunk: `heading\n\ntext` when `with_heading` and the heading is
/// not empty, else the text alone.
pub fn embedding_input(heading: &str, text: &str, with_heading: bool) -> String {
    if with_heading && !heading.is_empty() {
        format!("{heading}\n\n{text}")
    } else {
        text.to_string()
    }
}

#[derive(Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
    start_char: usize,
    end_char: usize,
    tokens: usize,
}

struct Counter<'a> {
    inner: &'a dyn TokenCounter,
    specials: usize,
    cache: HashMap<String, usize>,
}

impl Counter<'_> {
    fn word(&mut self, w: &str) -> Result<usize> {
        if let Some(n) = self.cache.get(w) {
            return Ok(*n);
        }
        let n = self.inner.count_tokens(w)?.saturating_sub(self.specials);
        self.cache.insert(w.to_string(), n);
        Ok(n)
    }
}

/// Splits `doc` into chunks. Errors: only the token counter's.
pub fn chunk(
    doc: &Extracted,
    counter: &dyn TokenCounter,
    cfg: ChunkConfig,
) -> Result<Vec<ChunkDraft>> {
    let specials = counter.count_tokens("")?;
    let mut counter = Counter {
        inner: counter,
        specials,
        cache: HashMap::new(),
    };
    let text = doc.text.as_str();

    // Words with byte and char offsets, in one pass.
    let mut words: Vec<Word> = Vec::new();
    let mut cur: Option<(usize, usize, usize)> = None; // (byte start, char start, chars so far)
    let mut chars = 0usize;
    for (b, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some((s, sc, _)) = cur.take() {
                words.push(Word {
                    start: s,
                    end: b,
                    start_char: sc,
                    end_char: chars,
                    tokens: 0,
                });
            }
        } else {
            match cur.as_mut() {
                Some((_, _, n)) if *n < MAX_WORD_CHARS => *n += 1,
                Some(_) => {
                    let (s, sc, _) = cur.take().unwrap();
                    words.push(Word {
                        start: s,
                        end: b,
                        start_char: sc,
                        end_char: chars,
                        tokens: 0,
                    });
                    cur = Some((b, chars, 1));
                }
                None => cur = Some((b, chars, 1)),
            }
        }
        chars += 1;
    }
    if let Some((s, sc, _)) = cur {
        words.push(Word {
            start: s,
            end: text.len(),
            start_char: sc,
            end_char: chars,
            tokens: 0,
        });
    }
    for w in words.iter_mut() {
        w.tokens = counter.word(&text[w.start..w.end])?;
    }

    // Group words by section; merge tiny sections into the next one.
    struct Group {
        heading: String,
        page: Option<u32>,
        words: Vec<Word>,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut wi = 0;
    for (si, s) in doc.sections.iter().enumerate() {
        let end = doc
            .sections
            .get(si + 1)
            .map(|n| n.start)
            .unwrap_or(text.len());
        let mut g = Group {
            heading: s.heading.clone(),
            page: s.page,
            words: vec![],
        };
        while wi < words.len() && words[wi].start < end {
            g.words.push(words[wi]);
            wi += 1;
        }
        groups.push(g);
    }
    let mut merged: Vec<Group> = Vec::new();
    let mut carry: Vec<Word> = Vec::new();
    let n_groups = groups.len();
    for (i, mut g) in groups.into_iter().enumerate() {
        if !carry.is_empty() {
            carry.append(&mut g.words);
            g.words = std::mem::take(&mut carry);
        }
        let tokens: usize = g.words.iter().map(|w| w.tokens).sum();
        // A PDF page is never merged: its page number is the citation.
        if tokens < MIN_SECTION_TOKENS && i + 1 < n_groups && g.page.is_none() {
            carry = g.words;
            continue;
        }
        if !g.words.is_empty() {
            merged.push(g);
        }
    }

    let mut out = Vec::new();
    for g in merged {
        let with_heading = heading_fits(&g.heading, |t| counter.inner.count_tokens(t))?;
        let heading_tokens = if with_heading {
            counter
                .inner
                .count_tokens(&format!("{}\n\n", g.heading))?
                .saturating_sub(specials)
        } else {
            0
        };
        let budget = cfg.max_tokens.saturating_sub(heading_tokens).max(16);
        let overlap = cfg.overlap_tokens.min(budget / 2);
        let ws = &g.words;
        let mut i = 0;
        while i < ws.len() {
            let mut j = i;
            let mut sum = 0;
            while j < ws.len() && sum + ws[j].tokens <= budget {
                sum += ws[j].tokens;
                j += 1;
            }
            if j == i {
                j = i + 1; // one word over budget: the model truncates it
            }
            let (first, last) = (ws[i], ws[j - 1]);
            let body = &text[first.start..last.end];
            let input = embedding_input(&g.heading, body, with_heading);
            out.push(ChunkDraft {
                ordinal: out.len(),
                text: body.to_string(),
                heading: g.heading.clone(),
                page: g.page,
                start_char: first.start_char,
                end_char: last.end_char,
                token_count: counter.inner.count_tokens(&input)?,
            });
            if j >= ws.len() {
                break;
            }
            let mut k = j;
            let mut ov = 0;
            while k > i + 1 && ov + ws[k - 1].tokens <= overlap {
                ov += ws[k - 1].tokens;
                k -= 1;
            }
            i = k;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::extract::{extract, Section};
    use super::*;

    /// Counts like a BERT tokenizer would on plain ASCII: each whitespace word is one token
    /// per 4 characters (rounded up), plus 2 special tokens.
    struct Fixed;
    impl TokenCounter for Fixed {
        fn count_tokens(&self, text: &str) -> Result<usize> {
            Ok(2 + text
                .split_whitespace()
                .map(|w| w.len().div_ceil(4))
                .sum::<usize>())
        }
    }

    fn doc(text: &str) -> Extracted {
        Extracted {
            text: text.into(),
            sections: vec![Section {
                start: 0,
                heading: String::new(),
                page: None,
            }],
        }
    }

    #[test]
    fn chunks_respect_the_budget_and_overlap() {
        let words: Vec<String> = (0..1000).map(|i| format!("w{i:03}")).collect(); // 1 token each
        let text = words.join(" ");
        let cfg = ChunkConfig {
            max_tokens: 100,
            overlap_tokens: 20,
        };
        let chunks = chunk(&doc(&text), &Fixed, cfg).unwrap();
        assert!(chunks.len() >= 12, "{}", chunks.len());
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.ordinal, i);
            assert!(c.token_count <= 102, "chunk {i}: {}", c.token_count);
            let chars: Vec<char> = text.chars().collect();
            assert_eq!(
                chars[c.start_char..c.end_char].iter().collect::<String>(),
                c.text
            );
        }
        // Consecutive chunks share 20 words.
        let a: Vec<&str> = chunks[0].text.split(' ').collect();
        let b: Vec<&str> = chunks[1].text.split(' ').collect();
        assert_eq!(&a[a.len() - 20..], &b[..20]);
        assert!(chunks.last().unwrap().text.ends_with("w999"));
    }

    #[test]
    fn chunks_stay_in_their_section_and_carry_its_heading() {
        let md = format!(
            "# Title\n\n## Alpha\n\n{}\n\n## Beta\n\n{}\n",
            "alpha ".repeat(150),
            "beta ".repeat(30)
        );
        let e = extract("text/markdown", md.as_bytes()).unwrap();
        let chunks = chunk(
            &e,
            &Fixed,
            ChunkConfig {
                max_tokens: 100,
                overlap_tokens: 10,
            },
        )
        .unwrap();
        // "# Title" alone is too small: merged into Alpha.
        assert!(chunks[0].text.starts_with("# Title"), "{:?}", chunks[0]);
        assert_eq!(chunks[0].heading, "Title > Alpha");
        let beta: Vec<_> = chunks
            .iter()
            .filter(|c| c.heading == "Title > Beta")
            .collect();
        assert_eq!(beta.len(), 1);
        assert!(beta[0].text.starts_with("## Beta") && !beta[0].text.contains("alpha"));
        assert!(chunks.iter().all(|c| c.token_count <= 102));
        assert!(chunks
            .iter()
            .filter(|c| c.heading == "Title > Alpha")
            .all(|c| !c.text.contains("beta")));
    }

    #[test]
    fn unicode_offsets_are_in_characters() {
        let text = "héllo wörld ünïcode ".repeat(40);
        let chunks = chunk(
            &doc(&text),
            &Fixed,
            ChunkConfig {
                max_tokens: 30,
                overlap_tokens: 5,
            },
        )
        .unwrap();
        let chars: Vec<char> = text.chars().collect();
        for c in &chunks {
            assert_eq!(
                chars[c.start_char..c.end_char].iter().collect::<String>(),
                c.text
            );
        }
    }

    #[test]
    fn long_runs_without_spaces_are_cut() {
        let text = "x".repeat(1000);
        let chunks = chunk(
            &doc(&text),
            &Fixed,
            ChunkConfig {
                max_tokens: 60,
                overlap_tokens: 0,
            },
        )
        .unwrap();
        assert!(chunks.len() >= 4);
        assert!(chunks.iter().all(|c| c.token_count <= 62));
    }
}
