//! E-mail addresses: the practical subset of RFC 5322 that real addresses
//! use, internationalised as RFC 6531/6532 allow. A local part of letters
//! and digits of any script and `. _ % + -` (at most 64 bytes, no leading,
//! trailing or doubled dot); a domain of at least two labels of letters,
//! digits and hyphens, ASCII ("example.com"), punycode ("xn--bcher-kva.de")
//! or Unicode ("bücher.de", "例子.广告"), ending in a top-level domain of
//! two or more letters (alphabetic ASCII, a punycode "xn--" label such as
//! "xn--p1ai", or letters of any script such as "рф").
//!
//! Scripts written without spaces put addresses right against the words
//! around them ("联系bob@example.com谢谢"). So within a local part, and
//! within each label, letters stay of one kind: Latin (ASCII and accented
//! Latin, "josé") or another script ("用户"). Where the kind changes, the
//! address ends; digits and punctuation belong to either kind.
//!
//! Quoted local parts and IP-literal domains are left out: they are rare in
//! data and the characters they allow (quotes, slashes, brackets) would make
//! addresses swallow the text around them. So are Git remotes
//! ("git@github.com:org/repo.git", "ssh://git@host/repo"): "git" there is
//! the hosting service's account, not a person's mailbox.

use super::text::next_byte;
use super::{Detector, Finding, Mark, Profile};

const MAX_LOCAL: usize = 64;
/// Characters of a domain and of a label (for ASCII ones, bytes).
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;
/// Bytes of a whole ASCII address.
const MAX_TOTAL: usize = 254;

/// File extensions that are not top-level domains: "icon@2x.png" and
/// "logo@3x.webp" are image names, common in API bodies.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"bmp", b"ico", b"tif", b"tiff", b"heic",
    b"avif", b"js", b"mjs", b"css", b"map", b"json", b"txt", b"html", b"htm", b"xml", b"pdf",
    b"yaml", b"yml", b"md",
];

pub(super) fn plausible(p: &Profile<'_>) -> bool {
    p.has(Mark::At)
}

pub(super) fn find(text: &str, out: &mut Vec<Finding>) {
    let mut i = 0;
    // The end of the last address: the next one's local part may not reach
    // back into it ("a@x.com@y.org" holds one address, not two).
    let mut floor = 0;
    while let Some(at) = next_byte(text, i, b'@') {
        match match_around(text, at, floor) {
            Some((start, end)) => {
                out.push(Finding::new(Detector::Email, start, end));
                i = end;
                floor = end;
            }
            None => i = at + 1,
        }
    }
}

pub(super) fn whole(text: &str) -> bool {
    text.find('@').and_then(|at| match_around(text, at, 0)) == Some((0, text.len()))
}

/// The kind of letters a character is, for the rule that a local part or
/// a label does not change kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Digits and the punctuation allowed in addresses: either kind.
    Neutral,
    Latin,
    Other,
}

/// Letters and marks of scripts other than Latin that `char::is_alphanumeric`
/// leaves out: the vowel signs and viramas of the Indic, Thai, Lao and
/// Myanmar scripts, Hebrew and Arabic points, kana sound marks.
fn is_script_mark(c: char) -> bool {
    matches!(u32::from(c),
        0x0483..=0x0489
        | 0x0591..=0x05C7
        | 0x0610..=0x061A
        | 0x064B..=0x065F
        | 0x0670
        | 0x06D6..=0x06ED
        | 0x0900..=0x0963
        | 0x0966..=0x0DFF
        | 0x0E00..=0x0EFF
        | 0x1000..=0x109F
        | 0x3099..=0x309A)
}

/// A letter or digit of any script, as addresses and labels may hold.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || (!c.is_ascii() && (c.is_alphanumeric() || is_script_mark(c)))
}

fn kind(c: char) -> Kind {
    match u32::from(c) {
        _ if c.is_ascii_digit() || !c.is_alphanumeric() && c.is_ascii() => Kind::Neutral,
        _ if c.is_ascii_alphabetic() => Kind::Latin,
        0x00C0..=0x024F | 0x1E00..=0x1EFF | 0x0300..=0x036F => Kind::Latin,
        _ => Kind::Other,
    }
}

fn is_local(c: char) -> bool {
    is_word(c) || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// The address around the '@' at `at` whose local part starts at or after
/// `floor`, if there is one.
fn match_around(text: &str, at: usize, floor: usize) -> Option<(usize, usize)> {
    let start = local_start(text, at, floor)?;
    let end = domain_end(text, at + 1)?;
    let git_remote =
        text.get(start..at) == Some("git") && matches!(text.as_bytes().get(end), Some(b':' | b'/'));
    if git_remote {
        return None;
    }
    let ascii = text.get(start..end)?.is_ascii();
    (!ascii || end - start <= MAX_TOTAL).then_some((start, end))
}

fn local_start(text: &str, at: usize, floor: usize) -> Option<usize> {
    let head = text.get(..at)?;
    let mut start = at;
    let mut local_kind = Kind::Neutral;
    for (i, c) in head.char_indices().rev() {
        if !is_local(c) {
            break;
        }
        let k = kind(c);
        if k != Kind::Neutral {
            if local_kind == Kind::Neutral {
                local_kind = k;
            } else if k != local_kind {
                break;
            }
        }
        if at - i > MAX_LOCAL {
            // Too long for a local part: ASCII runs that long are tokens,
            // not addresses; text in a script without spaces is cut.
            if local_kind == Kind::Other {
                break;
            }
            return None;
        }
        start = i;
    }
    if start < floor {
        return None;
    }
    // "see.bob@example.com" cannot start with a dot; "...bob@" is punctuation.
    let local = text.get(start..at)?;
    let trimmed = local.trim_start_matches('.');
    let start = at - trimmed.len();
    let valid = !trimmed.is_empty() && !trimmed.ends_with('.') && !trimmed.contains("..");
    valid.then_some(start)
}

/// One label of a domain as it is read.
#[derive(Clone, Copy)]
struct Label {
    start: usize,
    end: usize,
    chars: usize,
    kind: Kind,
}

fn domain_end(text: &str, from: usize) -> Option<usize> {
    let tail = text.get(from..)?;
    let mut labels = 0;
    let mut label = Label {
        start: from,
        end: from,
        chars: 0,
        kind: Kind::Neutral,
    };
    // The end of the last whole label and the label itself.
    let mut last: Option<Label> = None;
    let mut chars = 0;
    for (k, c) in tail.char_indices() {
        let i = from + k;
        if !(is_word(c) || c == '-' || c == '.') {
            break;
        }
        let ck = kind(c);
        if ck != Kind::Neutral && label.kind != Kind::Neutral && ck != label.kind {
            break;
        }
        // Too long for a domain or a label: ASCII runs that long are not
        // addresses; text in a script without spaces is cut.
        chars += 1;
        if chars > MAX_DOMAIN || (c != '.' && label.chars == MAX_LABEL) {
            if label.kind == Kind::Other {
                break;
            }
            return None;
        }
        if c == '.' {
            if !label_ok(text, &label) {
                break;
            }
            labels += 1;
            last = Some(label);
            label = Label {
                start: i + 1,
                end: i + 1,
                chars: 0,
                kind: Kind::Neutral,
            };
            continue;
        }
        if ck != Kind::Neutral {
            label.kind = ck;
        }
        label.chars += 1;
        label.end = i + c.len_utf8();
    }
    // The label being read when the domain ended, if it is one; a sentence
    // may end right after the address ("write to bob@x.com.").
    if label.chars > 0 {
        if !label_ok(text, &label) {
            return None;
        }
        labels += 1;
        last = Some(label);
    }
    let tld = last?;
    let name = text.get(tld.start..tld.end)?;
    (labels >= 2 && tld_ok(name)).then_some(tld.end)
}

/// Letters, digits and inner hyphens; never a hyphen at either end.
fn label_ok(text: &str, label: &Label) -> bool {
    let Some(name) = text.get(label.start..label.end) else {
        return false;
    };
    label.chars > 0 && !name.starts_with('-') && !name.ends_with('-')
}

fn tld_ok(name: &str) -> bool {
    let b = name.as_bytes();
    if name.is_ascii() {
        let punycode = b.len() > 5
            && b.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
        let alphabetic = b.len() >= 2
            && b.iter().all(u8::is_ascii_alphabetic)
            && !FILE_EXTENSIONS
                .iter()
                .any(|ext| b.eq_ignore_ascii_case(ext));
        return punycode || alphabetic;
    }
    name.chars().count() >= 2
        && name
            .chars()
            .all(|c| !c.is_ascii() && (c.is_alphabetic() || is_script_mark(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(find, text)
    }

    #[test]
    fn addresses() {
        for a in [
            "bob@example.com",
            "first.last+tag@sub.example.co.uk",
            "x_y%z-1@a-b.example",
            "user@163.com",
            "A@B.CD",
        ] {
            assert!(whole(a), "{a}");
            assert_eq!(found(&format!("mail <{a}>.")), [a], "{a}");
        }
    }

    #[test]
    fn internationalised() {
        for a in [
            "josé@example.com",
            "müller@bücher.de",
            "用户@例子.广告",
            "用户@example.com",
            "user@xn--bcher-kva.de",
            "user@xn--e1afmkfd.xn--p1ai",
            "пользователь@пример.рф",
            "δοκιμή@παράδειγμα.δοκιμή",
            "θσερ@εχαμπλε.ψομ",
            "उपयोगकर्ता@उदाहरण.कॉम",
            "ユーザー@例え.jp",
            "Pelé@example.com",
            "user@bücher.de",
            "user@例子.com",
        ] {
            assert!(whole(a), "{a}");
            assert_eq!(found(&format!("mail <{a}>.")), [a], "{a}");
            assert_eq!(found(&format!("mail {a} now")), [a], "{a}");
        }
    }

    #[test]
    fn in_text() {
        assert_eq!(found("write to bob@example.com."), ["bob@example.com"]);
        assert_eq!(found("mailto:bob@example.com"), ["bob@example.com"]);
        assert_eq!(found("...bob@example.com"), ["bob@example.com"]);
        assert_eq!(found("a@b@example.com"), ["b@example.com"]);
        assert_eq!(found("联系bob@example.com谢谢"), ["bob@example.com"]);
        assert_eq!(found("a@x.com,b@y.org"), ["a@x.com", "b@y.org"]);
        assert_eq!(found("bob@example.com@example.org"), ["bob@example.com"]);
        assert_eq!(found("请联系用户@例子.广告。"), ["请联系用户@例子.广告"]);
        assert_eq!(found("«josé@example.com»"), ["josé@example.com"]);
        assert_eq!(found("Иван.Petrov@example.com"), ["Petrov@example.com"]);
    }

    #[test]
    fn not_addresses() {
        for t in [
            "user@localhost",
            "icon@2x.png",
            "logo@3x.WEBP",
            "图标@2x.png",
            "lodash@4.17.21",
            "react@18.2.0",
            "image@sha256:abcdef",
            "@scope/package",
            "@types/node@20.1.0",
            "bob@",
            "@example.com",
            "bob@example.c",
            "bob.@example.com",
            "a..b@example.com",
            "bob@-example.com",
            "bob@example-.com",
            "bob@example..com",
            "bob@example.c0m",
            "bob@example.xn--",
            "用户@例子.广",
            "用户@例子",
            "git@github.com:org/repo.git",
            "ssh://git@gitlab.example.com/org/repo.git",
        ] {
            assert!(found(t).is_empty(), "{t}");
            assert!(!whole(t), "{t}");
        }
    }

    #[test]
    fn length_limits() {
        let local = "a".repeat(64);
        assert!(whole(&format!("{local}@example.com")));
        assert!(!whole(&format!("a{local}@example.com")));
        assert!(found(&format!("a{local}@example.com")).is_empty());
        let label = "d".repeat(63);
        let domain = format!("{label}.{label}.{label}.{}.com", "d".repeat(50));
        assert!(domain.len() <= MAX_DOMAIN);
        assert!(!whole(&format!("bob@{label}x.com")));
        assert!(!whole(&format!("{local}@{domain}")));
        // Text in a script without spaces before the address is cut.
        let long = "用".repeat(40);
        let text = format!("{long}@例子.广告");
        let got = found(&text);
        assert_eq!(got.len(), 1);
        assert!(got[0].len() <= MAX_LOCAL + "@例子.广告".len());
        // And so is text after it.
        let text = format!("用户@例子.广告{}", "谢".repeat(100));
        let got = found(&text);
        assert_eq!(got.len(), 1);
        assert!(got[0].chars().count() <= "用户@例子.".chars().count() + MAX_LABEL);
    }
}
