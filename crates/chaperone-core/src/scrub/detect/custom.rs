//! Detectors a policy defines for what only its users know is sensitive (an
//! internal account number, a patient number, a list of VIP customers).
//!
//! - A pattern: a regular expression, compiled at load into an automaton
//!   that matches in time linear in the text whatever the pattern (no
//!   backtracking), its size bounded. Each match may have to pass a check
//!   (`luhn`, `mod97`, `mod11`, `verhoeff`) over its letters and digits, and
//!   a word nearby or the member's name may have to say what it is
//!   (`context`, as the built-in identifiers' context works).
//! - A dictionary: exact values, from a file, compared by their words (runs
//!   of letters and digits, after folding) so that what punctuation or
//!   markup surrounds or splits them does not matter. They are held as
//!   keyed hashes, never as the values, and the file may hold the hashes
//!   instead of the values (`h:` tokens, as `chaperone hash-values` makes
//!   them under the deployment's hashing key).

use std::collections::HashSet;
use std::hash::BuildHasher;

use super::{Detector, Finding, MAX_CUSTOM, context};
use crate::secret::HashKey;

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN: usize = 1024;
/// The most memory a compiled pattern may take.
const PATTERN_SIZE: usize = 1 << 20;
/// Dictionary bounds: entries, bytes per entry, words per entry.
pub const MAX_ENTRIES: usize = 100_000;
pub const MAX_ENTRY_BYTES: usize = 256;
pub const MAX_WORDS: usize = 8;

/// What a match's letters and digits must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// Luhn over the digits (card numbers, IMEIs, many account numbers).
    Luhn,
    /// ISO 7064 MOD 97-10 over the letters and digits as written, letters
    /// counting 10 to 35: the value mod 97 is 1 (LEIs; IBANs once their
    /// first four characters are moved to the end).
    Mod97,
    /// Weights n down to 1 over n digits, the last of which may be `X`
    /// for 10: the sum is a multiple of 11 (ISBN-10, NHS numbers).
    Mod11,
    /// Verhoeff over the digits.
    Verhoeff,
}

impl Check {
    pub const NAMES: [&'static str; 5] = ["none", "luhn", "mod97", "mod11", "verhoeff"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Check::None,
            "luhn" => Check::Luhn,
            "mod97" => Check::Mod97,
            "mod11" => Check::Mod11,
            "verhoeff" => Check::Verhoeff,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Check::None => "none",
            Check::Luhn => "luhn",
            Check::Mod97 => "mod97",
            Check::Mod11 => "mod11",
            Check::Verhoeff => "verhoeff",
        }
    }

    /// Whether `text` (a match) passes: Luhn and Verhoeff over its digits,
    /// mod 11 over its digits and a final `X`, mod 97 over its letters and
    /// digits; other characters (prefixes, separators) aside.
    pub fn passes(self, text: &str) -> bool {
        let chars: Vec<u8> = text
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let digits: Vec<u8> = chars.iter().copied().filter(u8::is_ascii_digit).collect();
        match self {
            Check::None => true,
            Check::Luhn => {
                let values: Vec<u8> = digits.iter().map(|c| c - b'0').collect();
                values.len() >= 2 && super::issuer::luhn_ok(&values)
            }
            Check::Verhoeff => digits.len() >= 2 && super::ids::verhoeff(&digits),
            Check::Mod97 => {
                let mut rest = 0u32;
                for &c in &chars {
                    let v = if c.is_ascii_digit() {
                        u32::from(c - b'0')
                    } else {
                        u32::from(c - b'A') + 10
                    };
                    let scale = if v >= 10 { 100 } else { 10 };
                    rest = (rest * scale + v) % 97;
                }
                chars.len() >= 3 && rest == 1
            }
            Check::Mod11 => {
                let mut chars = digits;
                if text.trim_end().ends_with(['X', 'x']) {
                    chars.push(b'X');
                }
                let n = chars.len();
                let mut sum = 0usize;
                for (i, &c) in chars.iter().enumerate() {
                    let v = match c {
                        b'0'..=b'9' => usize::from(c - b'0'),
                        b'X' if i + 1 == n => 10,
                        _ => return false,
                    };
                    sum += v * (n - i);
                }
                n >= 2 && sum.is_multiple_of(11)
            }
        }
    }
}

/// One custom detector.
#[derive(Debug)]
pub struct Custom {
    pattern: Option<regex::Regex>,
    check: Check,
    /// Words one of which must say what a pattern match is; empty: none
    /// needed.
    words: Vec<String>,
    dictionary: Option<Dictionary>,
}

/// A dictionary's entries as keyed hashes.
pub struct Dictionary {
    /// The values the file held, as 64-bit hashes under a random key of
    /// this process (SipHash): none is kept as it is, and a lookup costs
    /// one short hash.
    values: HashSet<u64>,
    keyed: std::collections::hash_map::RandomState,
    /// The bodies of the `h:` tokens the file held, under the deployment's
    /// hashing key.
    hashed: HashSet<String>,
    /// The most words a value holds, and the most the file's `h:` entries
    /// hold (its `#! words=N` line; 1 without it).
    words: usize,
    hashed_words: usize,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dictionary({} entries)", self.len())
    }
}

/// The words of `text` (after folding: other digits, fullwidth forms,
/// Unicode dashes and spaces): runs of letters and digits, anything else
/// between them. A dictionary compares values by their words, so
/// `ACC-0042`, `ACC 0042` and `(acct=ACC-0042)` all hold `ACC 0042`.
fn word_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// A value as dictionaries compare it: folded, its words joined by single
/// spaces.
pub fn dictionary_form(value: &str) -> String {
    let folded = super::fold::may_change(value)
        .then(|| super::fold::fold(value))
        .flatten();
    let text = folded.as_ref().map_or(value, |f| f.text.as_str());
    word_ranges(text)
        .into_iter()
        .filter_map(|r| text.get(r))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The line `chaperone hash-values` starts its output with: how many words
/// its longest value holds.
pub const WORDS_LINE: &str = "#! words=";

impl Dictionary {
    /// A dictionary from a file's text; errors name the line. With the
    /// deployment's hashing key, each `h:` entry must be a token under it
    /// (a file hashed under another key would match nothing).
    pub fn parse(text: &str, key: Option<&HashKey>) -> Result<Self, (usize, String)> {
        let keyed = std::collections::hash_map::RandomState::new();
        let mut values = HashSet::new();
        let mut hashed = HashSet::new();
        let mut words = 1;
        let mut hashed_words = 1;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let entry = line.trim();
            if let Some(n) = entry.strip_prefix(WORDS_LINE) {
                hashed_words = n
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_WORDS).contains(n))
                    .ok_or((line_no, format!("{WORDS_LINE}N: N is 1 to {MAX_WORDS}")))?;
                continue;
            }
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            if values.len() + hashed.len() >= MAX_ENTRIES {
                return Err((line_no, format!("more than {MAX_ENTRIES} entries")));
            }
            if entry.len() > MAX_ENTRY_BYTES {
                return Err((
                    line_no,
                    format!("an entry is at most {MAX_ENTRY_BYTES} bytes"),
                ));
            }
            if let Some(token) = entry.strip_prefix("h:") {
                let (Some(body), true) = (
                    token.get(..24),
                    token.len() == 32 && token.bytes().all(|c| c.is_ascii_hexdigit()),
                ) else {
                    return Err((line_no, "an h: entry is h: and 32 hex digits".into()));
                };
                if key.is_some_and(|k| !crate::scrub::class::is_hash_token(entry, k)) {
                    return Err((
                        line_no,
                        "not a hash under this deployment's hashing key (--hash-key-file)".into(),
                    ));
                }
                hashed.insert(body.to_ascii_lowercase());
                continue;
            }
            let form = dictionary_form(entry);
            let n = form.split(' ').count();
            if form.is_empty() {
                return Err((line_no, "an entry holds no letter or digit".into()));
            }
            if n > MAX_WORDS {
                return Err((line_no, format!("an entry is at most {MAX_WORDS} words")));
            }
            words = words.max(n);
            values.insert(keyed.hash_one(&form));
        }
        Ok(Self {
            values,
            keyed,
            hashed,
            words,
            hashed_words,
        })
    }

    pub fn len(&self) -> usize {
        self.values.len() + self.hashed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `form` (a `dictionary_form`, `n` words) is an entry.
    fn holds(&self, form: &str, n: usize, key: Option<&HashKey>) -> bool {
        (n <= self.words && self.values.contains(&self.keyed.hash_one(form)))
            || (n <= self.hashed_words
                && !self.hashed.is_empty()
                && key.is_some_and(|k| {
                    let tag = crate::scrub::class::hash_body(form, k);
                    self.hashed.contains(&tag)
                }))
    }

    /// The entries in `text`: runs of words, the longest first.
    fn find(&self, text: &str, key: Option<&HashKey>, d: Detector, out: &mut Vec<Finding>) {
        let words = word_ranges(text);
        let most = self.words.max(if self.hashed.is_empty() {
            0
        } else {
            self.hashed_words
        });
        let mut i = 0;
        while i < words.len() {
            let mut found = None;
            for n in (1..=most.min(words.len() - i)).rev() {
                let (Some(first), Some(last)) = (words.get(i), words.get(i + n - 1)) else {
                    continue;
                };
                let form = words
                    .get(i..i + n)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|r| text.get(r.clone()))
                    .collect::<Vec<_>>()
                    .join(" ");
                if self.holds(&form, n, key) {
                    found = Some((first.start, last.end, n));
                    break;
                }
            }
            match found {
                Some((start, end, n)) => {
                    out.push(Finding::new(d, start, end));
                    i += n;
                }
                None => i += 1,
            }
        }
    }
}

impl Custom {
    /// The pattern as the policy wrote it.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_ref().map(regex::Regex::as_str)
    }

    /// A detector from its parts, or what is wrong with the pattern.
    pub fn new(
        pattern: Option<&str>,
        check: Check,
        words: Vec<String>,
        dictionary: Option<Dictionary>,
    ) -> Result<Self, String> {
        let pattern = match pattern {
            None => None,
            Some(p) if p.len() > MAX_PATTERN => {
                return Err(format!("longer than {MAX_PATTERN} bytes"));
            }
            Some(p) => {
                let re = regex::RegexBuilder::new(p)
                    .size_limit(PATTERN_SIZE)
                    .dfa_size_limit(PATTERN_SIZE)
                    .build()
                    .map_err(|e| match e {
                        regex::Error::CompiledTooBig(_) => "too large once compiled".to_owned(),
                        // The parser's message names the place, not the text.
                        e => e.to_string().lines().last().unwrap_or("invalid").to_owned(),
                    })?;
                if re.is_match("") {
                    return Err("matches the empty string".into());
                }
                Some(re)
            }
        };
        Ok(Self {
            pattern,
            check,
            words,
            dictionary,
        })
    }

    /// Whether all of `text` is one value this detector finds (context
    /// aside).
    pub fn whole(&self, text: &str, key: Option<&HashKey>) -> bool {
        let text = text.trim();
        let by_pattern = self.pattern.as_ref().is_some_and(|re| {
            re.find(text)
                .is_some_and(|m| m.start() == 0 && m.end() == text.len())
                && self.check.passes(text)
        });
        let form = dictionary_form(text);
        let n = form.split(' ').count();
        by_pattern
            || self
                .dictionary
                .as_ref()
                .is_some_and(|d| d.holds(&form, n, key))
    }

    fn find(&self, text: &str, ctx: super::Context<'_>, d: Detector, out: &mut Vec<Finding>) {
        if let Some(re) = &self.pattern {
            let b = text.as_bytes();
            for m in re.find_iter(text) {
                if m.is_empty() || !self.check.passes(m.as_str()) {
                    continue;
                }
                if !self.words.is_empty()
                    && !context::names_labelled(b, m.start(), ctx.key, ctx.label, &self.words)
                {
                    continue;
                }
                out.push(Finding::new(d, m.start(), m.end()));
            }
        }
        if let Some(dict) = &self.dictionary {
            dict.find(text, ctx.hash_key, d, out);
        }
    }
}

/// What a detector is made of, never what it holds: "pattern (luhn,
/// context: mrn patient), dictionary of 120 entries".
impl std::fmt::Display for Custom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.pattern.is_some() {
            let mut terms = Vec::new();
            if self.check != Check::None {
                terms.push(self.check.name().to_owned());
            }
            if !self.words.is_empty() {
                terms.push(format!("context: {}", self.words.join(" ")));
            }
            parts.push(if terms.is_empty() {
                "pattern".to_owned()
            } else {
                format!("pattern ({})", terms.join(", "))
            });
        }
        if let Some(d) = &self.dictionary {
            parts.push(format!("dictionary of {} entries", d.len()));
        }
        f.write_str(&parts.join(", "))
    }
}

/// The placeholders and hash tokens in `text`, as the actions write them.
fn rewritten(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for start in memchr::memmem::find_iter(b, b"[REDACTED:") {
        let rest = b.get(start..).unwrap_or_default();
        let end = memchr::memchr(b']', rest).map_or(b.len(), |k| start + k + 1);
        out.push(start..end);
    }
    for start in memchr::memmem::find_iter(b, b"h:") {
        let body = b.get(start + 2..start + 34).unwrap_or_default();
        if body.len() == 32 && body.iter().all(u8::is_ascii_hexdigit) {
            out.push(start..start + 34);
        }
    }
    out
}

/// A policy's custom detectors: `Detector::Custom(n)` is the `n`th.
#[derive(Debug, Default)]
pub struct CustomDetectors {
    list: Vec<Custom>,
}

impl CustomDetectors {
    /// Adds one; its detector, or None past `MAX_CUSTOM`.
    pub fn add(&mut self, custom: Custom) -> Option<Detector> {
        let n = u8::try_from(self.list.len())
            .ok()
            .filter(|&n| usize::from(n) < MAX_CUSTOM)?;
        self.list.push(custom);
        Some(Detector::Custom(n))
    }

    pub fn get(&self, d: Detector) -> Option<&Custom> {
        match d {
            Detector::Custom(n) => self.list.get(usize::from(n)),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Detector `d`'s matches in `text`, leftmost first, never overlapping.
    pub(super) fn find(
        &self,
        d: Detector,
        text: &str,
        ctx: super::Context<'_>,
        out: &mut Vec<Finding>,
    ) {
        if let Some(c) = self.get(d) {
            let mut own = Vec::new();
            c.find(text, ctx, d, &mut own);
            // What an earlier rewrite put in the text (`[REDACTED:x]`, an
            // `h:` token) is chaperone's, not a value: a pattern that
            // matches it would find it again in every round.
            let written = rewritten(text);
            own.retain(|f| !written.iter().any(|r| f.start < r.end && r.start < f.end));
            // A pattern's and a dictionary's matches may overlap: the
            // earlier, then the longer, is kept.
            own.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
            let mut from = 0;
            for f in own {
                if f.start >= from {
                    from = f.end;
                    out.push(f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        for (check, good, bad) in [
            (Check::Luhn, "4111 1111 1111 1111", "4111 1111 1111 1112"),
            (Check::Mod97, "5493001KJTIIGC8Y1R12", "5493001KJTIIGC8Y1R13"),
            (Check::Mod11, "0-306-40615-2", "0-306-40615-3"),
            (Check::Mod11, "943 476 5919", "943 476 5918"),
            (Check::Mod11, "080442957X", "0804429571"),
            (Check::Verhoeff, "2363", "2364"),
        ] {
            assert!(check.passes(good), "{check:?} {good}");
            assert!(!check.passes(bad), "{check:?} {bad}");
        }
        assert!(!Check::Luhn.passes("ABC"));
        assert!(Check::None.passes("anything"));
    }

    #[test]
    fn patterns_are_bounded_and_linear() {
        assert!(Custom::new(Some("(a+)+$"), Check::None, vec![], None).is_ok());
        assert!(Custom::new(Some("a*"), Check::None, vec![], None).is_err());
        assert!(Custom::new(Some("(unclosed"), Check::None, vec![], None).is_err());
        let huge = "[a-z]{1000}".repeat(50);
        assert!(Custom::new(Some(&huge), Check::None, vec![], None).is_err());
        assert!(Custom::new(Some(&"a".repeat(2000)), Check::None, vec![], None).is_err());
        // Catastrophic for a backtracking engine; linear here.
        let c = Custom::new(Some("(a+)+b"), Check::None, vec![], None)
            .unwrap_or_else(|e| panic!("{e}"));
        let text = "a".repeat(100_000);
        let mut out = Vec::new();
        c.find(
            &text,
            super::super::Context::default(),
            Detector::Custom(0),
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn dictionaries() {
        let key = HashKey::from_bytes(b"deployment key");
        let hashed = crate::scrub::class::hash_token("Jane Q Public", &key);
        let file = format!(
            "\u{feff}# VIP customers\nACC-0042\n  ACME   Holdings  \nSmith, John\n{WORDS_LINE}3\n{hashed}\n"
        );
        let dict = Dictionary::parse(&file, Some(&key)).unwrap_or_else(|(l, e)| panic!("{l}: {e}"));
        assert_eq!(dict.len(), 4);
        let found = |text: &str, key: Option<&HashKey>| {
            let mut out = Vec::new();
            dict.find(text, key, Detector::Custom(0), &mut out);
            out.iter()
                .map(|f| text[f.range()].to_owned())
                .collect::<Vec<_>>()
        };
        // Whatever punctuation or markup surrounds or splits a value.
        for (text, value) in [
            ("paid from (ACC-0042), thanks", "ACC-0042"),
            ("acct=ACC-0042&b=1", "ACC-0042"),
            ("<b>ACC-0042</b>", "ACC-0042"),
            ("“ACC-0042”", "ACC-0042"),
            ("账号：ACC-0042。", "ACC-0042"),
            ("ACC 0042", "ACC 0042"),
            ("for ACME Holdings ltd", "ACME Holdings"),
            ("Smith, John", "Smith, John"),
            ("Smith John", "Smith John"),
        ] {
            assert_eq!(found(text, None), [value], "{text}");
        }
        assert!(found("ACC-00421 ACC-004 acc-0042", None).is_empty());
        assert_eq!(found("VIP: Jane Q Public.", Some(&key)), ["Jane Q Public"]);
        assert_eq!(
            found("VIP: Jane  Q.  Public", Some(&key)),
            ["Jane  Q.  Public"]
        );
        assert!(found("VIP: Jane Q Public.", None).is_empty());
        let other = HashKey::from_bytes(b"another key");
        let wrong_key = format!("{hashed}\n");
        let long = format!("a\n\n{}\n", "x".repeat(300));
        for (bad, line, key) in [
            ("ok\nh:123\n", 2, None),
            (long.as_str(), 3, None),
            ("1 2 3 4 5 6 7 8 9\n", 1, None),
            ("--\n", 1, None),
            (wrong_key.as_str(), 1, Some(&other)),
            ("#! words=99\n", 1, None),
        ] {
            let got = Dictionary::parse(bad, key).err().map(|(l, _)| l);
            assert_eq!(got, Some(line), "{bad}");
        }
    }

    /// A pattern never finds what an earlier rewrite wrote, so scrubbing
    /// again changes nothing and rounds do not multiply findings.
    #[test]
    fn rewritten_text_is_not_a_match() {
        let c = Custom::new(Some(r"[^\w\s]"), Check::None, vec![], None)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut set = CustomDetectors::default();
        let d = set.add(c).unwrap_or(Detector::Custom(0));
        let text = "a [REDACTED:x] h:0123456789abcdef0123456789abcdef !";
        let mut out = Vec::new();
        set.find(d, text, super::super::Context::default(), &mut out);
        let found: Vec<&str> = out.iter().map(|f| &text[f.range()]).collect();
        assert_eq!(found, ["!"]);
    }
}
