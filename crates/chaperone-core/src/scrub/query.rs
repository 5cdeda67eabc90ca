//! `name=value&…` pairs (a URL's query, an `application/x-www-form-urlencoded`
//! body) and a URL's path segments under a contract. Names and values are
//! decoded (`+` and `%XX`) before they are judged, so `access%5Ftoken` is
//! `access_token` and `4111%201111…` a card number; what is changed is
//! encoded again, and what is not crosses byte for byte.

use super::class::Classes;
use super::detect::{Context, DetectorSet};
use super::text::{TextOutcome, scan_text};
use super::{Findings, ScrubError};
use crate::secret::HashKey;

/// What becomes of one pair, by its (decoded) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairRule<'c> {
    /// Crosses as sent, not scanned (a credential the hop keeps).
    Pass,
    /// Never crosses.
    Drop,
    /// Refuses the message (an unknown field where the contract rejects them).
    Reject,
    /// Scanned; with a field action, the action applies to the value.
    Scan(Option<&'c super::contract::FieldAction>),
}

/// What the scanners need besides the text.
pub struct Scanner<'a> {
    pub scan: DetectorSet,
    pub classes: &'a Classes,
    pub key: &'a HashKey,
    pub findings: &'a mut Findings,
}

impl Scanner<'_> {
    fn text(&mut self, text: &str, ctx: Context<'_>) -> Result<TextOutcome, ScrubError> {
        scan_text(text, self.scan, ctx, self.classes, self.key, self.findings)
    }
}

/// Query parameters and form fields that carry credentials or change what
/// the callee does: they never cross unless a hop keeps them (RFC 6750 puts
/// access tokens in the query and in form bodies; `_method` overrides the
/// method in Rails, Laravel and Symfony).
pub const DEFAULT_REMOVED: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "_method",
    "x-http-method-override",
];

/// A parameter's name as the parsers on the other side bind it: any case;
/// cut at a NUL (PHP reads names as C strings); leading spaces and brackets
/// skipped (PHP, Rack read `[access_token]` as `access_token`); a `[…]`
/// suffix dropped, whatever follows it (PHP, Rack and Node's `qs` read
/// `access_token[]` and `card[]id` as `access_token` and `card`); `.`,
/// spaces and an unclosed `[` as `_` (PHP reads `access.token`,
/// `access token` and `access[token` so).
pub fn param_name(decoded: &str) -> String {
    let name = decoded.split('\0').next().unwrap_or_default();
    let name = name.trim_start_matches([' ', '[', ']']);
    let bare = match name.find('[') {
        Some(i) if name[i..].contains(']') => &name[..i],
        _ => name,
    };
    let bare = bare.split(']').next().unwrap_or_default();
    bare.chars()
        .map(|c| match c {
            '.' | ' ' | '[' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Whether the built-in removal list holds this (decoded) name.
pub fn is_default_removed(decoded: &str) -> bool {
    // Also as JavaScript's `unescape` and ASP.NET read `%uXXXX`.
    [param_name(decoded), param_name(&u_decode(decoded))]
        .iter()
        .any(|name| DEFAULT_REMOVED.contains(&name.as_str()))
}

/// `%uXXXX` escapes decoded (other text as it is).
fn u_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let escape = |r: &str| {
        r.match_indices('%')
            .map(|(i, _)| i)
            .find(|&i| matches!(r.as_bytes().get(i + 1), Some(b'u' | b'U')))
    };
    while let Some(i) = escape(rest) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after
            .get(..4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) => {
                out.push(c);
                rest = &after[4..];
            }
            None => {
                out.push_str(&rest[i..i + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Rewrites `name=value` pairs split by `&` or `;` (both separate pairs for
/// some parsers). Returns `None` when nothing changed.
///
/// Most readers split on `&` alone, some on `;` too: where a `;` is in the
/// text, what crosses is judged as each reads it, in turn, until a round of
/// both changes nothing (to one, `a=x;card=4111…` is `a` with a value that
/// names a card; to the other, a pair `card`).
pub fn rewrite_pairs<'c>(
    pairs: &str,
    mut rule: impl FnMut(&str) -> PairRule<'c>,
    scanner: &mut Scanner<'_>,
) -> Result<Option<String>, ScrubError> {
    if !pairs.contains(';') {
        return pass(pairs, false, &mut rule, scanner);
    }
    let mut current: Option<String> = None;
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for semicolons in [false, true] {
            let text = current.as_deref().unwrap_or(pairs);
            if let Some(next) = pass(text, semicolons, &mut rule, scanner)? {
                current = Some(next);
                changed = true;
            }
        }
        if !changed {
            return Ok(current);
        }
    }
    // Readings that keep finding what the other one wrote: refused.
    let class = scanner
        .findings
        .by_class(scanner.classes)
        .first()
        .map_or_else(String::new, |(c, _)| (*c).to_owned());
    Err(ScrubError::Unreadable { class })
}

/// Rounds of both readings before a query that keeps changing is refused.
const MAX_ROUNDS: usize = 3;

/// One reading of the pairs: split on `&`, and on `;` too if `semicolons`.
fn pass<'c>(
    pairs: &str,
    semicolons: bool,
    rule: &mut impl FnMut(&str) -> PairRule<'c>,
    scanner: &mut Scanner<'_>,
) -> Result<Option<String>, ScrubError> {
    let mut out = String::with_capacity(pairs.len());
    let mut changed = false;
    let mut kept_any = false;
    let mut rest = pairs;
    let mut separator = None;
    // Where readers split the pairs differently, a value's name is not the
    // same for every reader: it is judged without its name as well.
    let named = !pairs.contains(';');
    loop {
        let at = if semicolons {
            rest.find(['&', ';'])
        } else {
            rest.find('&')
        };
        let (raw, next) = match at {
            Some(i) => (&rest[..i], Some((&rest[i..=i], &rest[i + 1..]))),
            None => (rest, None),
        };
        let (raw_name, raw_value) = match raw.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (raw, None),
        };
        let name = form_decode(raw_name);
        let pair = match rule(&name) {
            PairRule::Pass => Some(raw.to_owned()),
            PairRule::Drop => None,
            PairRule::Reject => return Err(ScrubError::UnknownField),
            PairRule::Scan(action) => {
                let names = Names { own: &name, named };
                judge_pair(&names, raw_name, raw_value, action, scanner)?
            }
        };
        changed |= pair.as_deref() != Some(raw);
        if let Some(pair) = pair {
            if kept_any {
                out.push_str(separator.unwrap_or("&"));
            }
            out.push_str(&pair);
            kept_any = true;
        }
        match next {
            Some((sep, after)) => {
                separator = Some(sep);
                rest = after;
            }
            None => break,
        }
    }
    Ok(changed.then_some(out))
}

/// The names a pair's texts are judged under.
struct Names<'a> {
    /// The pair's own name (decoded).
    own: &'a str,
    /// Every reader splits the pairs alike (no `;` in them).
    named: bool,
}

impl Names<'_> {
    /// For the value: its name, the name as it crosses where that was
    /// rewritten (what the reader sees), and the names a parser binds it
    /// to, as sent and as it crosses (`bound`: a rewritten name's `[` cuts
    /// it elsewhere); where names are ambiguous, none as well.
    fn of_value<'s>(&'s self, crossing: Option<&'s str>, bound: &'s [String]) -> Vec<Context<'s>> {
        let mut out = vec![Context::of_key(Some(self.own))];
        out.extend(crossing.map(|n| Context::of_key(Some(n))));
        // The name a parser binds the value to (`card[]id` is `card`).
        for b in bound {
            if b != self.own && Some(b.as_str()) != crossing {
                out.push(Context::of_key(Some(b)));
            }
        }
        if !self.named {
            out.push(Context::default());
        }
        out
    }
}

/// The names a parser binds a value to: of its name as sent and, where it
/// was rewritten, as it crosses.
fn bound_names(own: &str, crossing: Option<&str>) -> Vec<String> {
    let mut out = vec![param_name(own)];
    if let Some(c) = crossing.map(param_name).filter(|c| !out.contains(c)) {
        out.push(c);
    }
    out
}

/// `text` judged under each context in turn (each on what the one before
/// wrote): a finding in any of them is one.
fn judge_in(
    text: &str,
    contexts: &[Context<'_>],
    scanner: &mut Scanner<'_>,
) -> Result<TextOutcome, ScrubError> {
    let mut outcome = TextOutcome::Unchanged;
    for ctx in contexts {
        let current = match &outcome {
            TextOutcome::Unchanged => text,
            TextOutcome::Replaced(v) => v.as_str(),
            TextOutcome::Drop(_) => break,
        };
        match scanner.text(current, *ctx)? {
            TextOutcome::Unchanged => {}
            again => outcome = again,
        }
    }
    Ok(outcome)
}

/// One scanned pair: `None` when it is dropped, else how it is written.
fn judge_pair(
    names: &Names<'_>,
    raw_name: &str,
    raw_value: Option<&str>,
    action: Option<&super::contract::FieldAction>,
    scanner: &mut Scanner<'_>,
) -> Result<Option<String>, ScrubError> {
    let new_name = match judge_in(names.own, &[Context::default()], scanner)? {
        TextOutcome::Unchanged => None,
        TextOutcome::Replaced(n) => Some(n),
        TextOutcome::Drop(_) => return Ok(None),
    };
    let Some(raw_value) = raw_value else {
        return Ok(Some(match new_name {
            Some(n) => form_encode(&n),
            None => raw_name.to_owned(),
        }));
    };
    let value = form_decode(raw_value);
    let new_value = match action {
        Some(fa) => match super::class::apply_scanned(
            fa.action,
            &fa.class,
            &value,
            scanner.key,
            scanner.scan,
        ) {
            super::class::Applied::Replace(v) => Some(v),
            super::class::Applied::Drop => return Ok(None),
            super::class::Applied::Block => {
                return Err(ScrubError::Blocked {
                    class: fa.class.clone(),
                });
            }
        },
        None => match judge_in(
            &value,
            &names.of_value(
                new_name.as_deref(),
                &bound_names(names.own, new_name.as_deref()),
            ),
            scanner,
        )? {
            TextOutcome::Unchanged => None,
            TextOutcome::Replaced(v) => Some(v),
            TextOutcome::Drop(_) => return Ok(None),
        },
    };
    if new_name.is_none() && new_value.is_none() {
        return Ok(Some(format!("{raw_name}={raw_value}")));
    }
    let name = new_name.map_or_else(|| raw_name.to_owned(), |n| form_encode(&n));
    let value = new_value.map_or_else(|| raw_value.to_owned(), |v| form_encode(&v));
    Ok(Some(format!("{name}={value}")))
}

/// Rewrites a path's segments: each is decoded and scanned; a finding is
/// replaced in place (a segment cannot be dropped, so `drop` redacts).
pub fn rewrite_path(path: &str, scanner: &mut Scanner<'_>) -> Result<Option<String>, ScrubError> {
    let mut out = String::with_capacity(path.len());
    let mut changed = false;
    for (i, raw) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let segment = percent_decode(raw, false);
        match scanner.text(&segment, Context::default())? {
            TextOutcome::Unchanged => out.push_str(raw),
            TextOutcome::Replaced(s) | TextOutcome::Drop(s) => {
                changed = true;
                out.push_str(&encode(&s, false));
            }
        }
    }
    Ok(changed.then_some(out))
}

/// A path segment's `%XX` escapes decoded (`+` is a plus there).
pub fn segment_decode(s: &str) -> String {
    percent_decode(s, false)
}

/// `+` as a space, then `%XX` escapes; bytes that are not UTF-8 once
/// decoded are kept as U+FFFD (what is judged; the raw text crosses when
/// nothing is found).
pub fn form_decode(s: &str) -> String {
    percent_decode(s, true)
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    if !(b.contains(&b'%') || (plus_is_space && b.contains(&b'+'))) {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| {
            b.get(j)
                .and_then(|c| char::from(*c).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match b[i] {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a form name or value: unreserved characters and a few harmless
/// ones stay, everything else is `%XX`.
fn form_encode(s: &str) -> String {
    encode(s, true)
}

fn encode(s: &str, form: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'*' | b':' | b'@')
            || (!form && matches!(c, b'!' | b'$' | b'\'' | b'(' | b')' | b',' | b';' | b'='));
        if keep {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::class::{Action, Classes, DataClass};
    use crate::scrub::detect::Detector;
    use crate::scrub::text::tests::classes;

    fn pairs(q: &str, rule: impl FnMut(&str) -> PairRule<'static>) -> (Option<String>, u32) {
        pairs_under(&classes(), q, rule).unwrap()
    }

    /// `rewrite_pairs` of `q` under `classes`, and the findings it counted.
    fn pairs_under(
        classes: &Classes,
        q: &str,
        rule: impl FnMut(&str) -> PairRule<'static>,
    ) -> Result<(Option<String>, u32), ScrubError> {
        let key = HashKey::from_bytes(b"k");
        let mut findings = Findings::new(classes.len());
        let mut s = Scanner {
            scan: DetectorSet::all(),
            classes,
            key: &key,
            findings: &mut findings,
        };
        let out = rewrite_pairs(q, rule, &mut s)?;
        Ok((out, findings.total()))
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl";

    #[test]
    fn clean_pairs_cross_byte_for_byte() {
        for q in ["a=1&b=two", "a=%20x+y", "flag&x=", "", "a=1&&b=2", "%zz=1"] {
            assert_eq!(pairs(q, |_| PairRule::Scan(None)), (None, 0), "{q}");
        }
    }

    /// A name as parsers bind it: what PHP, Rack and Node's `qs` make of
    /// brackets, NULs, leading spaces; the built-in removals hold for every
    /// spelling, `%uXXXX` too.
    #[test]
    fn names_as_parsers_bind_them() {
        for (name, bound) in [
            ("access_token[]", "access_token"),
            ("card[]id", "card"),
            ("[access_token]", "access_token"),
            ("access_token]", "access_token"),
            (" access_token", "access_token"),
            ("access_token\0x", "access_token"),
            ("access.token", "access_token"),
            ("access[token", "access_token"),
        ] {
            assert_eq!(param_name(name), bound, "{name:?}");
        }
        for name in [" _method", "access%u005Ftoken", "%u0061ccess_token"] {
            assert!(is_default_removed(name), "{name:?}");
        }
        // The value is judged under the bound name too: `card[]id` is a card.
        let scan = |_: &str| PairRule::Scan(None);
        for q in [
            "card[]id=4222222222222",
            "card[]tel=4111111111111111110",
            "card%00tel=4111111111111111110",
        ] {
            let (_, value) = q.split_once('=').unwrap();
            let (out, _) = pairs(q, scan);
            assert!(!out.unwrap_or_default().contains(value), "{q}");
        }
    }

    /// A name gives its value context only where every reader splits the
    /// pairs alike: after a `;`, the value is judged without it too.
    #[test]
    fn names_give_context_only_where_pairs_are_unambiguous() {
        let scan = |_: &str| PairRule::Scan(None);
        // Thirteen digits, a card unless an identifier's name says otherwise.
        let n = "4111111222221";
        assert_eq!(pairs(&format!("a=1&tel={n}"), scan), (None, 0));
        assert_eq!(pairs(&format!("a={n}"), scan).1, 1);
        let (out, found) = pairs(&format!("a=1;tel={n}"), scan);
        assert_eq!(found, 1);
        assert!(!out.unwrap_or_default().contains(n));
        // A rewritten name is judged as it crosses too: an address ending
        // in `.tel`, hashed, no longer says phone.
        let classes = Classes::new(vec![
            DataClass {
                name: "card_number".into(),
                detectors: Detector::Pan.into(),
                action: Action::MaskPan,
            },
            DataClass {
                name: "email".into(),
                detectors: Detector::Email.into(),
                action: Action::Hash,
            },
        ]);
        let (out, _) = pairs_under(&classes, &format!("ref@acme.tel={n}"), scan).unwrap();
        assert!(!out.unwrap_or_default().contains(n));
        // To a reader that splits on `&` alone, what follows a `;` is the
        // value of the name before it: judged under that name too.
        for (q, n) in [
            ("card=x;y=4111111111111111110", "4111111111111111110"),
            ("pan=1;4111111111111111110", "4111111111111111110"),
            ("card=x;y=4006381333924", "4006381333924"),
        ] {
            let (out, found) = pairs(q, scan);
            assert!(found >= 1, "{q}");
            assert!(!out.unwrap_or_default().contains(n), "{q}");
        }
        // ... and under that name as it crosses: a name rewritten to
        // `[REDACTED:card_number]` says card to the reader, so thirteen
        // digits glued to letters after the `;` are a card there.
        // A parser binds a rewritten name where its `[` now cuts it:
        // `card [REDACTED:national_id] ref` is `card_`, which says card.
        let ssn_and_card = Classes::new(vec![
            DataClass {
                name: "card_number".into(),
                detectors: Detector::Pan.into(),
                action: Action::MaskPan,
            },
            DataClass {
                name: "national_id".into(),
                detectors: Detector::UsSsn.into(),
                action: Action::Redact,
            },
        ]);
        let q = "card+123-45-6789+ref=4111111111111111110";
        let (out, found) = pairs_under(&ssn_and_card, q, scan).unwrap();
        assert_eq!(found, 2, "{q}");
        assert!(
            !out.unwrap_or_default().contains("4111111111111111110"),
            "{q}"
        );
        // ... and its text, whose words give context across the `;`.
        let (out, found) = pairs("q=paid+by+card;4006381333924", scan);
        assert_eq!(found, 1);
        assert!(!out.unwrap_or_default().contains("4006381333924"));
        let redacting = Classes::new(vec![DataClass {
            name: "card_number".into(),
            detectors: Detector::Pan.into(),
            action: Action::Redact,
        }]);
        let q = "x4111111111111111x=1;ab4006381333924cd";
        let (out, found) = pairs_under(&redacting, q, scan).unwrap();
        assert!(found >= 2, "{q}");
        assert!(!out.unwrap_or_default().contains("4006381333924"), "{q}");
    }

    #[test]
    fn findings_in_names_and_values() {
        let scan = |_: &str| PairRule::Scan(None);
        assert_eq!(
            pairs("a=1&card=4111+1111+1111+1111&b=2", scan),
            (Some("a=1&card=************1111&b=2".into()), 1)
        );
        assert_eq!(
            pairs("4111111111111111=x", scan),
            (Some("************1111=x".into()), 1)
        );
        assert_eq!(
            pairs(&format!("t={JWT}&b=2"), scan),
            (Some("b=2".into()), 1)
        );
        assert_eq!(
            pairs(&format!("b=2&t={JWT}"), scan),
            (Some("b=2".into()), 1)
        );
        assert_eq!(
            pairs("c=%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31", scan),
            (Some("c=************1111".into()), 1)
        );
    }

    #[test]
    fn rules_by_name() {
        let rule = |n: &str| match n {
            "access_token" => PairRule::Drop,
            "keep" => PairRule::Pass,
            _ => PairRule::Scan(None),
        };
        assert_eq!(
            pairs("access%5Ftoken=abc&x=1&keep=4111111111111111", rule),
            (Some("x=1&keep=4111111111111111".into()), 0)
        );
        assert_eq!(pairs("access_token=abc", rule), (Some(String::new()), 0));
        assert_eq!(
            pairs_under(&classes(), "a=1", |_| PairRule::Reject),
            Err(ScrubError::UnknownField)
        );
    }

    #[test]
    fn path_segments() {
        let cl = classes();
        let key = HashKey::from_bytes(b"k");
        let mut f = Findings::new(cl.len());
        let mut s = Scanner {
            scan: DetectorSet::all(),
            classes: &cl,
            key: &key,
            findings: &mut f,
        };
        assert_eq!(rewrite_path("/v1/cards/c-1", &mut s).unwrap(), None);
        assert_eq!(
            rewrite_path("/v1/cards/4111%201111%201111%201111/x", &mut s).unwrap(),
            Some("/v1/cards/************1111/x".into())
        );
        assert_eq!(
            rewrite_path(&format!("/t/{JWT}"), &mut s).unwrap(),
            Some("/t/%5BREDACTED:secret%5D".into())
        );
        assert_eq!(f.total(), 2);
    }
}
