//! Detectors: find sensitive values (card numbers, IBANs, US SSNs, e-mail
//! addresses, phone numbers, JWTs, private keys, AWS key ids, bearer tokens)
//! inside free text.
//!
//! This runs on every string of every body, so two things matter above all:
//! few false positives (a scrubber that mangles order ids and timestamps gets
//! turned off) and speed. Every detector is a hand-written byte scanner that
//! looks at each byte a bounded number of times, so a scan is linear in the
//! length of the text whatever the input (no regex, no backtracking);
//! `may_contain` is a one-pass SIMD-friendly pre-check that rules most
//! strings out without a scan.
//!
//! Text as a callee reads it: digits of every script, fullwidth forms,
//! Unicode dashes and spaces, and characters that hide in between (zero-width
//! and format characters, controls) are folded to ASCII before detection
//! (`fold`), and every finding is mapped back to the original text. ASCII
//! text without control bytes skips this.
//!
//! Shared rules: on the text they scan, detectors find ranges that start
//! and end on char boundaries; "word boundary" means no ASCII letter or
//! digit next to the match (other characters, including non-ASCII letters,
//! are separators, so numbers written against CJK text are still found).
//! Each detector's own rules, and the look-alikes it refuses, are in its
//! module. Where a value is ambiguous on its own (a card number that is
//! also a valid barcode), the words around it and the name of its JSON
//! member (`Context`) decide.

mod aws;
mod barcode;
mod bearer;
mod card;
mod context;
mod custom;
mod email;
mod fold;
mod iban;
mod ids;
mod issuer;
mod jwt;
mod numbers;
mod pem;
mod phone;
mod profile;
mod ssn;
mod text;

use std::collections::BTreeMap;
use std::fmt;

pub use custom::{
    Check, Custom, CustomDetectors, Dictionary, MAX_ENTRY_BYTES, MAX_WORDS, WORDS_LINE,
    dictionary_form,
};
use profile::{Mark, Profile};

/// A kind of sensitive value that can be found in text.
///
/// The order is the tie-break when two detectors find overlapping matches of
/// the same length: the more specific detector comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    Pan,
    Iban,
    UsSsn,
    Email,
    Phone,
    Jwt,
    PrivateKey,
    AwsAccessKey,
    BearerToken,
    UkNino,
    DeTaxId,
    FrNir,
    NlBsn,
    EsDni,
    ItFiscalCode,
    BrCpf,
    InAadhaar,
    UsItin,
    UsEin,
    UsNpi,
    UsDea,
    UkNhs,
    /// A detector a policy defines (a pattern, a dictionary): the `n`th of
    /// its `CustomDetectors`, below `MAX_CUSTOM`.
    Custom(u8),
}

/// Custom detectors a policy may define.
pub const MAX_CUSTOM: usize = 32;

impl Detector {
    pub const ALL: [Detector; 22] = [
        Detector::Pan,
        Detector::Iban,
        Detector::UsSsn,
        Detector::Email,
        Detector::Phone,
        Detector::Jwt,
        Detector::PrivateKey,
        Detector::AwsAccessKey,
        Detector::BearerToken,
        Detector::UkNino,
        Detector::DeTaxId,
        Detector::FrNir,
        Detector::NlBsn,
        Detector::EsDni,
        Detector::ItFiscalCode,
        Detector::BrCpf,
        Detector::InAadhaar,
        Detector::UsItin,
        Detector::UsEin,
        Detector::UsNpi,
        Detector::UsDea,
        Detector::UkNhs,
    ];

    /// The name used in policies.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Pan => "pan",
            Detector::Iban => "iban",
            Detector::UsSsn => "us_ssn",
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::Jwt => "jwt",
            Detector::PrivateKey => "private_key",
            Detector::AwsAccessKey => "aws_access_key",
            Detector::BearerToken => "bearer_token",
            Detector::UkNino => "uk_nino",
            Detector::DeTaxId => "de_tax_id",
            Detector::FrNir => "fr_nir",
            Detector::NlBsn => "nl_bsn",
            Detector::EsDni => "es_dni",
            Detector::ItFiscalCode => "it_fiscal_code",
            Detector::BrCpf => "br_cpf",
            Detector::InAadhaar => "in_aadhaar",
            Detector::UsItin => "us_itin",
            Detector::UsEin => "us_ein",
            Detector::UsNpi => "us_npi",
            Detector::UsDea => "us_dea",
            Detector::UkNhs => "uk_nhs",
            Detector::Custom(_) => "custom",
        }
    }

    /// The detector with this policy name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The detector's place in a `DetectorSet`: built-in detectors in the
    /// order of `ALL`, custom ones from 32.
    pub const fn index(self) -> u32 {
        match self {
            Detector::Pan => 0,
            Detector::Iban => 1,
            Detector::UsSsn => 2,
            Detector::Email => 3,
            Detector::Phone => 4,
            Detector::Jwt => 5,
            Detector::PrivateKey => 6,
            Detector::AwsAccessKey => 7,
            Detector::BearerToken => 8,
            Detector::UkNino => 9,
            Detector::DeTaxId => 10,
            Detector::FrNir => 11,
            Detector::NlBsn => 12,
            Detector::EsDni => 13,
            Detector::ItFiscalCode => 14,
            Detector::BrCpf => 15,
            Detector::InAadhaar => 16,
            Detector::UsItin => 17,
            Detector::UsEin => 18,
            Detector::UsNpi => 19,
            Detector::UsDea => 20,
            Detector::UkNhs => 21,
            // Out of range ones share the last place; `CustomDetectors`
            // never makes them.
            Detector::Custom(n) => {
                32 + if (n as usize) < MAX_CUSTOM {
                    n as u32
                } else {
                    31
                }
            }
        }
    }

    const fn bit(self) -> u64 {
        1 << self.index()
    }

    /// This detector's matches in (folded) `text`, leftmost first, never
    /// overlapping each other.
    fn find(self, text: &str, ctx: Context<'_>, out: &mut Vec<Finding>) {
        match self {
            Detector::Email => email::find(text, out),
            Detector::Jwt => jwt::find(text, out),
            Detector::PrivateKey => pem::find(text, out),
            Detector::AwsAccessKey => aws::find(text, out),
            Detector::BearerToken => bearer::find(text, out),
            Detector::Custom(_) => {
                if let Some(c) = ctx.custom {
                    c.find(self, text, ctx, out);
                }
            }
            // The number-shaped detectors and the identifiers.
            _ => numbers::find_labelled(text, self.into(), ctx.key, ctx.label, out),
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of detectors, cheap to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorSet(u64);

impl DetectorSet {
    pub fn empty() -> Self {
        Self(0)
    }

    pub fn all() -> Self {
        Self(Detector::ALL.iter().fold(0, |bits, d| bits | d.bit()))
    }

    pub fn with(self, d: Detector) -> Self {
        Self(self.0 | d.bit())
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn contains(self, d: Detector) -> bool {
        self.0 & d.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The detectors in the set: the built-in ones in the order of
    /// `Detector::ALL`, then the custom ones.
    pub fn iter(self) -> impl Iterator<Item = Detector> {
        // Up to the highest detector in the set only: a set of the first
        // few detectors costs what it did before the list grew.
        let builtin = self.0 & u64::from(u32::MAX);
        let upto = (u64::BITS - builtin.leading_zeros()) as usize;
        let custom = (self.0 >> 32) as u32;
        // Custom detectors up to the highest in the set: none, most often.
        let customs = (u32::BITS - custom.leading_zeros()) as u8;
        Detector::ALL
            .into_iter()
            .take(upto)
            .filter(move |&d| self.contains(d))
            .chain(
                (0..customs)
                    .map(Detector::Custom)
                    .filter(move |&d| self.contains(d)),
            )
    }

    /// The custom detectors of the set.
    pub fn custom(self) -> Self {
        Self(self.0 & !u64::from(u32::MAX))
    }
}

impl From<Detector> for DetectorSet {
    fn from(d: Detector) -> Self {
        Self::empty().with(d)
    }
}

impl FromIterator<Detector> for DetectorSet {
    fn from_iter<I: IntoIterator<Item = Detector>>(iter: I) -> Self {
        iter.into_iter().fold(Self::empty(), Self::with)
    }
}

/// One match: `text[start..end]` (a byte range on char boundaries) is a value
/// of kind `detector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub detector: Detector,
    pub start: usize,
    pub end: usize,
}

impl Finding {
    fn new(detector: Detector, start: usize, end: usize) -> Self {
        Self {
            detector,
            start,
            end,
        }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// Where a text comes from, for the values that are ambiguous on their own,
/// and what a policy's own detectors need.
#[derive(Clone, Copy, Default)]
pub struct Context<'a> {
    /// The name of the JSON member whose value is being scanned, decoded
    /// (`card_number`, `gtin`, `orderId`); None for free text.
    pub key: Option<&'a str>,
    /// What a sibling label member says the value is (`"system":
    /// ".../nhs-number"`): it may give context the key does not, never take
    /// any away (a label that says `sku` does not make a card number an id).
    pub label: Option<&'a str>,
    /// The policy's custom detectors, for `Detector::Custom`.
    pub custom: Option<&'a CustomDetectors>,
    /// The deployment's hashing key, for dictionaries that hold hashes.
    pub hash_key: Option<&'a crate::secret::HashKey>,
}

/// The longest label read.
pub const MAX_LABEL: usize = 128;

/// What the member `key` is as a label: how strongly it labels its
/// siblings (0 not at all; a label replaces an earlier one at least as
/// weak), and whether it holds what a label names (its name for the
/// detectors is then the label's, see [`label_name`]).
///
/// Labels are members whose string value says what a sibling holds:
/// FHIR's identifiers and contact points (`{"system": ".../nhs-number",
/// "value": …}`, `{"system": "phone", "value": …}`), the name/value pairs
/// of custom fields and attributes (`{"name": "ssn", "value": …}`), a card
/// object's network (`{"brand": "visa", "number": …}`). FHIR's `use`
/// (`home`, `mobile`) says less than a `system` beside it: it labels only
/// where nothing else does.
pub fn label_kind(key: &str) -> (u8, bool) {
    let mut buf = [0u8; 10];
    let Some(lower) = buf.get_mut(..key.len()).filter(|b| b.len() >= 2) else {
        return (0, false);
    };
    lower
        .iter_mut()
        .zip(key.bytes())
        .for_each(|(o, c)| *o = c.to_ascii_lowercase());
    match &*lower {
        b"system" | b"type" | b"kind" | b"name" | b"key" | b"label" | b"field" | b"category"
        | b"brand" | b"network" | b"scheme" => (2, false),
        b"use" => (1, false),
        b"value" | b"val" | b"values" | b"number" | b"id" | b"identifier" | b"text" | b"data" => {
            (0, true)
        }
        _ => (0, false),
    }
}

/// The name a label gives: the last part of a URI or URN
/// (`http://hl7.org/fhir/sid/us-npi` is `us-npi`), the word for an
/// identifier system's well-known OID (`urn:oid:2.16.840.1.113883.2.1.4.1`
/// is the NHS number), else the label itself.
pub fn label_name(label: &str) -> Option<&str> {
    const OIDS: [(&str, &str); 8] = [
        ("2.16.840.1.113883.4.1", "ssn"),
        ("2.16.840.1.113883.4.6", "npi"),
        ("2.16.840.1.113883.4.814", "dea"),
        ("1.3.6.1.4.1.19126.3", "dni"),
        ("2.16.840.1.113883.2.1.4.1", "nhs"),
        ("2.16.840.1.113883.2.4.6.3", "bsn"),
        ("1.2.250.1.213.1.4.8", "nir"),
        ("2.16.840.1.113883.2.9.4.3.2", "codicefiscale"),
    ];
    let label = label.trim();
    let oid = label.strip_prefix("urn:oid:").unwrap_or(label);
    if let Some((_, word)) = OIDS.iter().find(|(o, _)| oid == *o) {
        return Some(word);
    }
    label
        .trim_end_matches(['/', '#'])
        .rsplit(['/', ':', '#', '|'])
        .next()
        .filter(|part| !part.is_empty())
}

impl<'a> Context<'a> {
    /// Text that is the value of member `key`.
    pub fn of_key(key: Option<&'a str>) -> Self {
        Self {
            key,
            ..Self::default()
        }
    }
}

/// All non-overlapping findings in `text`, in order of start. Where matches
/// of different detectors overlap, the longer one wins (ties: the order of
/// `Detector::ALL`); what of the loser lies outside the winner is a finding
/// of the loser's detector of its own (`resolve`).
pub fn scan(text: &str, set: DetectorSet) -> Vec<Finding> {
    scan_with(text, set, Context::default())
}

/// `scan`, told where the text comes from: a member name that says card
/// ("card_number", "pan") makes an ambiguous number a card, one that says
/// identifier ("id", "gtin", "orderId") keeps it from being one. A number
/// that is a card on its own is found whatever the name.
///
/// Text with non-ASCII or control characters is folded first (see the
/// module comment); findings are ranges of `text` itself, on char
/// boundaries.
pub fn scan_with(text: &str, set: DetectorSet, ctx: Context<'_>) -> Vec<Finding> {
    if set.is_empty() {
        return Vec::new();
    }
    let profile = Profile::of(text);
    if profile.has(Mark::Foldable)
        && let Some(folded) = fold::fold(text)
    {
        let active = plausible(set, &Profile::of(&folded.text), false);
        let found = scan_active(&folded.text, active, ctx);
        return found.into_iter().map(|f| folded.to_original(f)).collect();
    }
    scan_active(text, plausible(set, &profile, false), ctx)
}

/// The detectors of `set` that may find something in the profiled text: a
/// necessary condition for each, mostly from the profile's counts and
/// marker bytes. The count checks come first and cost a few compares for
/// the whole set; the few that look at the text run only where those pass.
/// With `any`, it stops at the first detector that may.
fn plausible(set: DetectorSet, p: &Profile<'_>, any: bool) -> DetectorSet {
    let mut out = ids::plausible(p).intersection(set);
    let cheap = [
        (Detector::Pan, card::plausible(p)),
        (Detector::UsSsn, ssn::plausible(p)),
        (Detector::Email, email::plausible(p)),
        (Detector::Phone, phone::plausible(p)),
        (Detector::AwsAccessKey, aws::plausible(p)),
    ];
    for (d, ok) in cheap {
        if ok && set.contains(d) {
            out = out.with(d);
        }
    }
    // A policy's own detectors have their own pre-checks.
    out = out.union(set.custom());
    if any && !out.is_empty() {
        return out;
    }
    type Check = fn(&Profile<'_>) -> bool;
    let costly: [(Detector, Check); 4] = [
        (Detector::Iban, iban::plausible),
        (Detector::Jwt, jwt::plausible),
        (Detector::PrivateKey, pem::plausible),
        (Detector::BearerToken, bearer::plausible),
    ];
    for (d, ok) in costly {
        if set.contains(d) && ok(p) {
            out = out.with(d);
            if any {
                return out;
            }
        }
    }
    out
}

fn scan_active(text: &str, active: DetectorSet, ctx: Context<'_>) -> Vec<Finding> {
    let mut found = Vec::new();
    // The number-shaped detectors and the national and health identifiers
    // share one pass over the digit runs.
    let shared = active.intersection(numbers::detectors());
    numbers::find_labelled(text, shared, ctx.key, ctx.label, &mut found);
    // Most texts need no other detector: nothing to iterate.
    let rest = DetectorSet(active.0 & !shared.0);
    if !rest.is_empty() {
        for d in rest.iter() {
            d.find(text, ctx, &mut found);
        }
    }
    resolve(text, found)
}

/// Fast pre-check: false means `scan(text, set)` finds nothing, so a caller
/// can skip the scan (and any copying) for most strings. True means only
/// that a scan is needed. Text that folding changes is judged folded, so a
/// number hidden by zero-width characters or written in other digits is
/// never ruled out.
pub fn may_contain(text: &str, set: DetectorSet) -> bool {
    hints(text, set).may_contain
}

/// What one pass over a text tells before any scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// As [`may_contain`].
    pub may_contain: bool,
    /// The text holds a byte an escape may start with (`%`, `\`, `&`), or
    /// `+` and `=` together (form pairs): a decoded reading may differ.
    pub escapes: bool,
    /// The detectors that may find something in the text as it is, where
    /// it needs no folding (None where it does).
    active: Option<DetectorSet>,
}

/// [`may_contain`], and whether the text may hold escapes, from one pass.
pub fn hints(text: &str, set: DetectorSet) -> Hints {
    let profile = Profile::of(text);
    let escapes =
        profile.has(Mark::Escape) || (profile.has(Mark::Plus) && profile.has(Mark::Equals));
    if set.is_empty() {
        return Hints {
            may_contain: false,
            escapes,
            active: Some(set),
        };
    }
    if !profile.has(Mark::Foldable) {
        let active = plausible(set, &profile, false);
        return Hints {
            may_contain: !active.is_empty(),
            escapes,
            active: Some(active),
        };
    }
    // Only text that looks clean as it is needs folding to be sure.
    let may_contain = !plausible(set, &profile, true).is_empty()
        || fold::fold(text)
            .is_some_and(|folded| !plausible(set, &Profile::of(&folded.text), true).is_empty());
    Hints {
        may_contain,
        escapes,
        active: None,
    }
}

/// `scan_with` for a text whose `hints` (for the same `set`) are at hand:
/// the text is not profiled again.
pub fn scan_hinted(text: &str, set: DetectorSet, ctx: Context<'_>, hints: &Hints) -> Vec<Finding> {
    match hints.active {
        Some(active) => scan_active(text, active, ctx),
        None => scan_with(text, set, ctx),
    }
}

/// Whether all of `text` (surrounding ASCII whitespace aside) is one value
/// of kind `d`, e.g. a JSON string declared as a card number. The text is
/// folded first, as `scan` does.
///
/// This accepts the forms `scan` finds, plus a few that are only safe to
/// accept when the field is already known to hold such a value: nine bare
/// digits for `UsSsn`, and card numbers of every length whatever their
/// context. For `BearerToken` the value is a whole `Authorization` header
/// value, "Bearer <token>". Do not use it as a detector over undeclared
/// strings.
pub fn matches_whole(text: &str, d: Detector) -> bool {
    let folded = if fold::may_change(text) {
        fold::fold(text)
    } else {
        None
    };
    let text = folded
        .as_ref()
        .map_or(text, |f| f.text.as_str())
        .trim_ascii();
    match d {
        Detector::Pan => card::whole(text),
        Detector::Iban => iban::whole(text),
        Detector::UsSsn => ssn::whole(text),
        Detector::Email => email::whole(text),
        Detector::Phone => phone::whole(text),
        Detector::Jwt => jwt::whole(text),
        Detector::PrivateKey => pem::whole(text),
        Detector::AwsAccessKey => aws::whole(text),
        Detector::BearerToken => bearer::whole(text),
        // A policy's own detectors answer through its `Classes`.
        Detector::Custom(_) => false,
        _ => ids::whole(text, d),
    }
}

/// A value of kind `d` as safe lists compare it. A number-shaped value
/// (card, IBAN, phone, national and health identifiers) by its letters and
/// digits in upper case: `4111-1111-1111-1111` is `4111111111111111`. An
/// e-mail address in lower case. Anything else exactly as written, a bearer
/// token without its `Bearer` scheme. Text is folded first (other digits,
/// fullwidth forms), as the scan reads it. Two values compare equal only
/// where `d` reads them as the same value.
pub fn safe_form(d: Detector, value: &str) -> String {
    // Folded as the scan reads it: a value in other digits is the same
    // value, and one whose digits folding would drop is not an empty one.
    let folded = fold::may_change(value).then(|| fold::fold(value)).flatten();
    let v = folded
        .as_ref()
        .map_or(value, |f| f.text.as_str())
        .trim_ascii();
    if numbers::detectors().contains(d) {
        return v
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect();
    }
    match d {
        Detector::Email => v.to_ascii_lowercase(),
        Detector::BearerToken => bearer::token_of(v).unwrap_or(v).to_owned(),
        _ => v.to_owned(),
    }
}

/// Sorts the candidates of all detectors and resolves overlaps: within
/// each cluster of overlapping candidates, the longest is kept first, then
/// the next longest that does not overlap what is kept, and so on; then the
/// pieces of each candidate not kept that lie outside what is kept.
fn resolve(text: &str, mut found: Vec<Finding>) -> Vec<Finding> {
    if found.len() <= 1 {
        return found;
    }
    found.sort_unstable_by_key(|f| (f.start, f.end, f.detector));
    let mut out = Vec::with_capacity(found.len());
    let mut rest = found.as_slice();
    while let Some(first) = rest.first() {
        let mut reach = first.end;
        let size = rest
            .iter()
            .take_while(|f| {
                let overlaps = f.start < reach;
                reach = reach.max(f.end);
                overlaps
            })
            .count()
            .max(1);
        let (cluster, tail) = rest.split_at(size.min(rest.len()));
        if let [only] = cluster {
            out.push(*only);
        } else {
            keep_longest(text, cluster, &mut out);
        }
        rest = tail;
    }
    out
}

fn keep_longest(text: &str, cluster: &[Finding], out: &mut Vec<Finding>) {
    let mut by_rank = cluster.to_vec();
    by_rank.sort_by_key(|f| (std::cmp::Reverse(f.len()), f.detector, f.start));
    // Kept findings by start; they never overlap, so only the one starting
    // closest before a candidate's end can overlap it.
    let mut kept: BTreeMap<usize, Finding> = BTreeMap::new();
    let mut lost = Vec::new();
    for f in by_rank {
        let clash = kept
            .range(..f.end)
            .next_back()
            .is_some_and(|(_, k)| k.end > f.start);
        if clash {
            lost.push(f);
        } else {
            kept.insert(f.start, f);
        }
    }
    // A match that lost is still a value: what of it the winners do not
    // cover (a token's head before a key block's dashes) is not left to
    // cross as it is.
    for f in lost {
        // Only the kept finding starting last at or before it, and those
        // starting inside it, can cover it.
        let lo = kept
            .range(..=f.start)
            .next_back()
            .map_or(f.start, |(&k, _)| k);
        let covering = kept.range(lo..f.end).map(|(_, k)| k.range());
        for piece in leftovers(text, covering, f.range()) {
            kept.insert(
                piece.start,
                Finding::new(f.detector, piece.start, piece.end),
            );
        }
    }
    out.extend(kept.into_values());
}

/// The parts of `text[range]` that none of `covered` (by start, not
/// overlapping each other) covers and that hold a letter or a digit: what
/// of a match that lost to others is still a value.
pub(crate) fn leftovers(
    text: &str,
    covered: impl IntoIterator<Item = std::ops::Range<usize>>,
    range: std::ops::Range<usize>,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = range.start;
    for c in covered {
        if c.end <= from {
            continue;
        }
        if c.start >= range.end {
            break;
        }
        if c.start > from {
            out.push(from..c.start);
        }
        from = from.max(c.end);
    }
    if from < range.end {
        out.push(from..range.end);
    }
    out.retain(|piece| {
        text.get(piece.clone()).is_some_and(|p| {
            p.bytes()
                .any(|b| b.is_ascii_alphanumeric() || !b.is_ascii())
        })
    });
    out
}

/// What one detector's `find` reports in (ASCII) `text`, as the matched
/// slices.
#[cfg(test)]
fn found_by(find: fn(&str, &mut Vec<Finding>), text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    find(text, &mut out);
    out.iter().map(|f| &text[f.start..f.end]).collect()
}

#[cfg(test)]
mod tests;
