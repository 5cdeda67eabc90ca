//! Folding: the text as a callee may read it, for the detectors to scan.
//!
//! A byte scanner sees "４１１１…" (fullwidth), "٤١١١…" (Arabic-Indic) or
//! "4111\u{200B}1111…" (a zero-width space inside) as no number at all,
//! while Python's `int()`, NFKC normalisation, Java's `Character.digit` or a
//! person reading a log see a card number. So text that holds non-ASCII or
//! control characters is folded before detection:
//!
//! - every decimal digit of any script (Nd), and other characters with a
//!   digit value (superscripts, circled digits), becomes its ASCII digit;
//! - fullwidth ASCII and whatever else NFKC turns into one printable ASCII
//!   character becomes that character ("ｂｅａｒｅｒ", "＠", "﹫");
//! - dashes (U+2010–U+2015, U+2212, U+FE58, U+FE63, U+FF0D, ...) become
//!   '-'; spaces (U+00A0, U+2000–U+200A, U+3000, ...), line and paragraph
//!   separators, NEL, and the whitespace controls VT, FF and FS–US become
//!   ' ';
//! - zero-width and format characters (U+200B–U+200F, U+2060–U+2064,
//!   U+FEFF, U+00AD soft hyphen, bidi controls, variation selectors, tags),
//!   the accents and keycaps of the combining blocks, and the other control
//!   characters (NUL, ESC, DEL, C1) are removed. Tab, line feed and carriage
//!   return stay.
//!
//! Every other character stays as it is. Each character folds on its own,
//! to at most one ASCII byte, so the folded text is never longer than the
//! original and a range of whole characters of the original folds to a
//! range of the folded text. The detectors run on the folded text; each
//! finding is mapped back to the range of whole original characters it
//! came from (`Folded::to_original`), so the scrubber replaces what was
//! really sent.
//!
//! Most text needs none of this: ASCII text without control bytes is
//! scanned as it is (the profile's `Foldable` mark says so without a second
//! pass), and text whose non-ASCII characters all stay (accented Latin,
//! CJK, Cyrillic ...) is only walked once, with nothing allocated.

mod tables;

use super::Finding;
use tables::{FOLDS, ND_ZEROS};

/// One bit per code point below U+10000 that folds, built from the tables
/// at compile time: for the characters of most text, whether they fold is
/// one load, and only those that do are searched for.
static BMP: [u64; 1024] = bmp_bits();

const fn bmp_bits() -> [u64; 1024] {
    let mut bits = [0u64; 1024];
    let mut k = 0;
    while k < ND_ZEROS.len() {
        let zero = ND_ZEROS[k];
        let mut cp = zero;
        while cp < zero + 10 && cp < 0x1_0000 {
            bits[(cp / 64) as usize] |= 1 << (cp % 64);
            cp += 1;
        }
        k += 1;
    }
    let mut k = 0;
    while k < FOLDS.len() {
        let (first, last, _, _) = FOLDS[k];
        let mut cp = first;
        while cp <= last && cp < 0x1_0000 {
            bits[(cp / 64) as usize] |= 1 << (cp % 64);
            cp += 1;
        }
        k += 1;
    }
    bits
}

/// What one character becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    Keep,
    Remove,
    To(u8),
}

fn fold_char(c: char) -> Fold {
    let cp = u32::from(c);
    if cp < 0x80 {
        return match c {
            '\t' | '\n' | '\r' => Fold::Keep,
            // Whitespace to Python's str.split() and to most parsers.
            '\x0b' | '\x0c' | '\x1c'..='\x1f' => Fold::To(b' '),
            '\0'..='\x1f' | '\x7f' => Fold::Remove,
            _ => Fold::Keep,
        };
    }
    if cp < 0x1_0000 {
        let word = BMP.get((cp / 64) as usize).copied().unwrap_or(0);
        if word & (1 << (cp % 64)) == 0 {
            return Fold::Keep;
        }
    }
    let k = ND_ZEROS.partition_point(|&zero| zero <= cp);
    if let Some(&zero) = k.checked_sub(1).and_then(|k| ND_ZEROS.get(k))
        && let Ok(digit @ 0..=9) = u8::try_from(cp - zero)
    {
        return Fold::To(b'0' + digit);
    }
    let k = FOLDS.partition_point(|&(first, ..)| first <= cp);
    match k.checked_sub(1).and_then(|k| FOLDS.get(k)) {
        Some(&(first, last, to, ascending)) if cp <= last => match (to, ascending) {
            (0, _) => Fold::Remove,
            (to, false) => Fold::To(to),
            (to, true) => u8::try_from(cp - first)
                .ok()
                .and_then(|offset| to.checked_add(offset))
                .map_or(Fold::Keep, Fold::To),
        },
        _ => Fold::Keep,
    }
}

/// A byte folding may change: non-ASCII, DEL, or a control other than
/// tab, line feed and carriage return (as the profile's `Foldable` mark).
fn is_special(c: u8) -> bool {
    (c >= 0x7f) | ((c < 0x20) & (c != b'\t') & (c != b'\n') & (c != b'\r'))
}

/// Bytes looked at together by `next_special`: the check inside a block
/// has no early exit, so it compiles to SIMD; only a block with a hit is
/// searched byte by byte.
const BLOCK: usize = 32;

/// The position of the next special byte at or after `from`.
fn next_special(b: &[u8], from: usize) -> Option<usize> {
    // In a run of non-ASCII text the next character is special too.
    if is_special(*b.get(from)?) {
        return Some(from);
    }
    let rest = b.get(from..)?;
    let mut offset = from;
    for block in rest.chunks(BLOCK) {
        if block.iter().fold(false, |hit, &c| hit | is_special(c)) {
            return block
                .iter()
                .position(|&c| is_special(c))
                .map(|p| offset + p);
        }
        offset += block.len();
    }
    None
}

/// Whether folding may change `text`: the check for callers without a
/// profile.
pub(super) fn may_change(text: &str) -> bool {
    next_special(text.as_bytes(), 0).is_some()
}

/// A folded text and the way back to the original.
#[derive(Debug)]
pub(super) struct Folded {
    pub(super) text: String,
    /// (offset in the folded text, offset in the original) on both sides of
    /// every character that changed, in order; between two points the text
    /// is the same on both sides.
    points: Vec<(usize, usize)>,
}

/// `text` folded, or None when folding changes nothing.
pub(super) fn fold(text: &str) -> Option<Folded> {
    let mut folded: Option<Folded> = None;
    // The original up to here is already in the folded text.
    let mut copied = 0;
    // ASCII bytes other than controls never fold: only the characters at
    // special bytes are looked at. Each starts a character, as a search
    // resumes after the last character looked at.
    let mut from = 0;
    while let Some(i) = next_special(text.as_bytes(), from) {
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        from = i + c.len_utf8();
        let to = fold_char(c);
        if to == Fold::Keep {
            continue;
        }
        let f = folded.get_or_insert_with(|| Folded {
            text: String::with_capacity(text.len()),
            points: Vec::new(),
        });
        f.text.push_str(text.get(copied..i).unwrap_or_default());
        f.point(i);
        if let Fold::To(b) = to {
            f.text.push(char::from(b));
        }
        copied = from;
        f.point(copied);
    }
    let mut f = folded?;
    f.text.push_str(text.get(copied..).unwrap_or_default());
    Some(f)
}

impl Folded {
    fn point(&mut self, original: usize) {
        let p = (self.text.len(), original);
        if self.points.last() != Some(&p) {
            self.points.push(p);
        }
    }

    /// The finding `f` of the folded text, as a range of the original. A
    /// removed character at either edge is left out; one inside is covered.
    pub(super) fn to_original(&self, f: Finding) -> Finding {
        Finding::new(f.detector, self.start(f.start), self.end(f.end))
    }

    /// Where the character at `at` of the folded text starts in the
    /// original: after the last point at or before it.
    fn start(&self, at: usize) -> usize {
        let k = self.points.partition_point(|p| p.0 <= at);
        match k.checked_sub(1).and_then(|k| self.points.get(k)) {
            Some(&(f, o)) => o + (at - f),
            None => at,
        }
    }

    /// Where the character ending at `at` of the folded text ends in the
    /// original: at the first point at `at`, or after the last one before.
    fn end(&self, at: usize) -> usize {
        let k = self.points.partition_point(|p| p.0 < at);
        match self.points.get(k) {
            Some(&(f, o)) if f == at => o,
            _ => match k.checked_sub(1).and_then(|k| self.points.get(k)) {
                Some(&(f, o)) => o + (at - f),
                None => at,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Detector;
    use super::*;

    fn folded(text: &str) -> String {
        fold(text).map_or_else(|| text.to_owned(), |f| f.text)
    }

    #[test]
    fn characters() {
        for (c, want) in [
            ('a', Fold::Keep),
            ('é', Fold::Keep),
            ('卡', Fold::Keep),
            ('ж', Fold::Keep),
            ('😀', Fold::Keep),
            ('\t', Fold::Keep),
            ('\n', Fold::Keep),
            ('\0', Fold::Remove),
            ('\x1b', Fold::Remove),
            ('\x7f', Fold::Remove),
            ('\u{85}', Fold::To(b' ')),
            ('\x0b', Fold::To(b' ')),
            ('\x0c', Fold::To(b' ')),
            ('\u{9f}', Fold::Remove),
            ('\u{a0}', Fold::To(b' ')),
            ('\u{ad}', Fold::Remove),
            ('\u{200b}', Fold::Remove),
            ('\u{200f}', Fold::Remove),
            ('\u{2060}', Fold::Remove),
            ('\u{2064}', Fold::Remove),
            ('\u{feff}', Fold::Remove),
            ('\u{fe0f}', Fold::Remove),
            ('\u{20e3}', Fold::Remove),
            ('\u{301}', Fold::Remove),
            ('\u{e0041}', Fold::Remove),
            ('\u{2000}', Fold::To(b' ')),
            ('\u{200a}', Fold::To(b' ')),
            ('\u{202f}', Fold::To(b' ')),
            ('\u{3000}', Fold::To(b' ')),
            ('\u{2028}', Fold::To(b' ')),
            ('\u{2010}', Fold::To(b'-')),
            ('\u{2015}', Fold::To(b'-')),
            ('\u{2212}', Fold::To(b'-')),
            ('\u{fe58}', Fold::To(b'-')),
            ('\u{fe63}', Fold::To(b'-')),
            ('\u{ff0d}', Fold::To(b'-')),
            ('０', Fold::To(b'0')),
            ('９', Fold::To(b'9')),
            ('٤', Fold::To(b'4')),
            ('۴', Fold::To(b'4')),
            ('४', Fold::To(b'4')),
            ('๔', Fold::To(b'4')),
            ('𝟒', Fold::To(b'4')),
            ('𝟿', Fold::To(b'9')),
            ('²', Fold::To(b'2')),
            ('④', Fold::To(b'4')),
            ('ａ', Fold::To(b'a')),
            ('Ｚ', Fold::To(b'Z')),
            ('＠', Fold::To(b'@')),
            ('﹫', Fold::To(b'@')),
            ('．', Fold::To(b'.')),
            ('ｅ', Fold::To(b'e')),
        ] {
            assert_eq!(fold_char(c), want, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn tables_are_sorted() {
        assert!(ND_ZEROS.windows(2).all(|w| w[0] + 10 <= w[1]));
        assert!(FOLDS.windows(2).all(|w| w[0].1 < w[1].0));
        assert!(FOLDS.iter().all(|&(first, last, ..)| first <= last));
        // Every Nd digit is found through its block.
        for &zero in &ND_ZEROS {
            for k in 0..10 {
                let c = char::from_u32(zero + k).unwrap_or('x');
                assert_eq!(fold_char(c), Fold::To(b'0' + k as u8), "U+{:04X}", zero + k);
            }
        }
    }

    #[test]
    fn texts() {
        for (text, want) in [
            ("４１１１ １１１１", "4111 1111"),
            ("٤١١١-١١١١", "4111-1111"),
            ("41\u{200b}11\u{ad}11\u{feff}", "411111"),
            ("4\u{0}1\u{7f}1", "411"),
            (
                "4111\u{a0}1111\u{2007}1111\u{3000}1111",
                "4111 1111 1111 1111",
            ),
            ("4111\u{2013}1111\u{2212}1111", "4111-1111-1111"),
            ("ｂｅａｒｅｒ token", "bearer token"),
            ("Bearer\u{a0}abc", "Bearer abc"),
            ("4\u{fe0f}\u{20e3}1\u{fe0f}\u{20e3}", "41"),
            ("Müller 東京 ж", "Müller 東京 ж"),
        ] {
            assert_eq!(folded(text), want, "{text:?}");
        }
        assert!(fold("plain\tascii\n").is_none());
        assert!(fold("Müller 東京 ж 😀").is_none());
    }

    #[test]
    fn findings_map_back_to_whole_characters() {
        let text = "x\u{200b}４1\u{200b}1\u{ad}\u{200b}y";
        let f = fold(text).unwrap_or_else(|| unreachable!());
        assert_eq!(f.text, "x411y");
        let map = |s, e| {
            let g = f.to_original(Finding::new(Detector::Pan, s, e));
            &text[g.start..g.end]
        };
        // The removed characters at the edges are left out, the one inside
        // is covered.
        assert_eq!(map(1, 4), "４1\u{200b}1");
        assert_eq!(map(0, 5), text);
        assert_eq!(map(0, 1), "x");
        assert_eq!(map(4, 5), "y");
        assert_eq!(map(2, 3), "1");
    }
}
