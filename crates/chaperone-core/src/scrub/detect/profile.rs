//! A text's profile: counts and marker bytes from one pass, which the
//! detectors' pre-checks share. The pass has no branches and no table
//! lookups, so it compiles to SIMD: about 10 ns for a typical short JSON
//! string value and over 10 GB/s on long text. Most strings are ruled out
//! by the profile alone.
//!
//! The same pass notes whether the text holds bytes that folding may change
//! (non-ASCII bytes, control bytes): plain ASCII text is scanned as it is,
//! with nothing decoded and nothing allocated.

/// Marker bytes whose presence a detector needs.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    At = 1,
    Plus = 1 << 1,
    Paren = 1 << 2,
    /// '.', which joins a JWT's segments.
    Dot = 1 << 3,
    /// 'b' or 'B', as in "Bearer".
    B = 1 << 4,
    /// A byte that folding may change: any non-ASCII byte, DEL, and the
    /// control bytes. Tab, line feed and carriage return are marked too (one
    /// compare per byte instead of four); folding leaves them, and finds
    /// that quickly.
    Foldable = 1 << 5,
    /// '%', '\\' or '&': where an escape may start (`%34`, `\\u0034`,
    /// `&#52;`), for the scrubber's decoded readings of a text.
    Escape = 1 << 6,
    /// '=', which with '+' makes a text read like form pairs.
    Equals = 1 << 7,
}

pub(super) struct Profile<'a> {
    pub(super) text: &'a str,
    digits: usize,
    upper: usize,
    dashes: usize,
    marks: u8,
}

/// Bytes looked at together: one SIMD register's worth. Short text is one
/// block padded with spaces (which count as nothing), so a typical JSON
/// value costs one block's fixed work, not a loop's set-up and tail.
const LANES: usize = 16;

/// Per-lane counts and marks over up to 255 blocks (u8 lanes cannot
/// overflow before).
#[derive(Default)]
struct Lanes {
    digits: [u8; LANES],
    upper: [u8; LANES],
    dashes: [u8; LANES],
    marks: [u8; LANES],
}

impl Lanes {
    #[inline(always)]
    fn add(&mut self, block: &[u8; LANES]) {
        for (i, &c) in block.iter().enumerate() {
            let d = u8::from(c.wrapping_sub(b'0') < 10);
            let u = u8::from(c.wrapping_sub(b'A') < 26);
            let h = u8::from(c == b'-');
            // One compare: below ' ' or above '~'.
            let foldable = u8::from(c.wrapping_sub(b' ') > b'~' - b' ');
            let m = (u8::from(c == b'@') * Mark::At as u8)
                | (u8::from(c == b'+') * Mark::Plus as u8)
                | (u8::from(c == b'(') * Mark::Paren as u8)
                | (u8::from(c == b'.') * Mark::Dot as u8)
                | (u8::from(c | 0x20 == b'b') * Mark::B as u8)
                | (foldable * Mark::Foldable as u8)
                | (u8::from(c == b'%' || c == b'\\' || c == b'&') * Mark::Escape as u8)
                | (u8::from(c == b'=') * Mark::Equals as u8);
            if let (Some(dl), Some(ul), Some(hl), Some(ml)) = (
                self.digits.get_mut(i),
                self.upper.get_mut(i),
                self.dashes.get_mut(i),
                self.marks.get_mut(i),
            ) {
                *dl = dl.wrapping_add(d);
                *ul = ul.wrapping_add(u);
                *hl = hl.wrapping_add(h);
                *ml |= m;
            }
        }
    }

    /// Adds the lanes into `p` and clears them. The lanes are summed as
    /// words (pairs of lanes into 16-bit lanes, then a multiply that adds
    /// those into the top one), not lane by lane.
    fn flush(&mut self, p: &mut Profile<'_>) {
        const PAIRS: u128 = 0x00FF_00FF_00FF_00FF_00FF_00FF_00FF_00FF;
        let sum = |lanes: &[u8; LANES]| {
            let x = u128::from_le_bytes(*lanes);
            // Eight 16-bit lanes of at most 510, then four of at most 1020.
            let pairs = (x & PAIRS) + ((x >> 8) & PAIRS);
            let quads = (pairs as u64) + ((pairs >> 64) as u64);
            // At most 4080: no carry leaves the top 16 bits.
            (quads.wrapping_mul(0x0001_0001_0001_0001) >> 48) as usize
        };
        p.digits += sum(&self.digits);
        p.upper += sum(&self.upper);
        p.dashes += sum(&self.dashes);
        let marks = u128::from_le_bytes(self.marks);
        let mut m = (marks as u64) | ((marks >> 64) as u64);
        m |= m >> 32;
        m |= m >> 16;
        m |= m >> 8;
        p.marks |= m as u8;
        *self = Self::default();
    }
}

impl<'a> Profile<'a> {
    pub(super) fn of(text: &'a str) -> Self {
        let mut p = Self {
            text,
            digits: 0,
            upper: 0,
            dashes: 0,
            marks: 0,
        };
        let mut lanes = Lanes::default();
        let (blocks, rest) = text.as_bytes().as_chunks::<LANES>();
        let mut added = 0;
        for block in blocks {
            if added == 255 {
                lanes.flush(&mut p);
                added = 0;
            }
            lanes.add(block);
            added += 1;
        }
        if !rest.is_empty() {
            if added == 255 {
                lanes.flush(&mut p);
            }
            let mut last = [b' '; LANES];
            if let Some(head) = last.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            lanes.add(&last);
        }
        lanes.flush(&mut p);
        p
    }

    pub(super) fn len(&self) -> usize {
        self.text.len()
    }

    /// ASCII digits in the text.
    pub(super) fn digits(&self) -> usize {
        self.digits
    }

    /// ASCII uppercase letters in the text.
    pub(super) fn upper(&self) -> usize {
        self.upper
    }

    /// '-' bytes in the text.
    pub(super) fn dashes(&self) -> usize {
        self.dashes
    }

    pub(super) fn has(&self, mark: Mark) -> bool {
        self.marks & mark as u8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_marks() {
        let long = format!("{}A1", "x".repeat(600));
        let p = Profile::of(&long);
        assert_eq!((p.digits(), p.upper(), p.len()), (1, 1, 602));
        assert!(!p.has(Mark::At));
        assert!(!p.has(Mark::Foldable));
        let p = Profile::of("a@b+(c)-e.J Bearer 123 ÄÖ");
        assert_eq!((p.digits(), p.upper(), p.dashes()), (3, 2, 1));
        for m in [
            Mark::At,
            Mark::Plus,
            Mark::Paren,
            Mark::Dot,
            Mark::B,
            Mark::Foldable,
        ] {
            assert!(p.has(m));
        }
        let nines = "9".repeat(1000);
        assert_eq!(Profile::of(&nines).digits(), 1000);
    }

    /// The blocked pass counts as a plain byte loop does, at every length
    /// around a block's and a flush's boundaries.
    #[test]
    fn blocks_count_as_bytes_do() {
        let alphabet = "a0Z-@+(.bB=%&\\ é\t~9";
        for len in [0, 1, 15, 16, 17, 31, 33, 255, 4079, 4080, 4081, 4096, 9000] {
            let text: String = alphabet.chars().cycle().take(len).collect();
            let p = Profile::of(&text);
            let b = text.as_bytes();
            assert_eq!(p.digits(), b.iter().filter(|c| c.is_ascii_digit()).count());
            assert_eq!(
                p.upper(),
                b.iter().filter(|c| c.is_ascii_uppercase()).count()
            );
            assert_eq!(p.dashes(), b.iter().filter(|c| **c == b'-').count());
            assert_eq!(p.has(Mark::At), b.contains(&b'@'), "{len}");
            assert_eq!(
                p.has(Mark::Foldable),
                !text.is_ascii() || text.contains('\t')
            );
        }
        assert_eq!(Profile::of(&"7".repeat(10_000)).digits(), 10_000);
    }

    #[test]
    fn foldable_bytes() {
        for (text, foldable) in [
            ("plain ascii, no controls", false),
            ("tabs\tand\r\nnewlines", true),
            ("", false),
            ("é", true),
            ("nul\0", true),
            ("del\x7f", true),
            ("vt\x0b", true),
            ("esc\x1b", true),
        ] {
            assert_eq!(Profile::of(text).has(Mark::Foldable), foldable, "{text:?}");
        }
    }
}
