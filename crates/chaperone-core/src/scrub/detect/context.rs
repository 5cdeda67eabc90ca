//! Context: what the words around a number, or the name of the field it
//! sits in, say it is.
//!
//! Only numbers that are ambiguous on their own ask (a 13-digit run that is
//! also a valid EAN-13 barcode, a bare 19-digit run that may be a random
//! 64-bit id), so this runs rarely and its cost does not matter much; it is
//! bounded all the same: a window of `WINDOW` bytes before the number, the
//! word right after it, and the last `KEY_WINDOW` bytes of the key.
//!
//! A word is a run of ASCII letters, split again where a lowercase letter
//! meets an uppercase one ("cardNumber" is "card", "Number"), compared
//! without case and without trailing digits ("ean13" is "ean"). The nearest
//! word that means something decides: "card id 4006381333924" is an id,
//! "order 17 paid by card 4006381333924" a card.

use super::text::digits_at;

/// What the context says of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hint {
    Card,
    Id,
    Nothing,
}

/// Bytes looked at before a number.
const WINDOW: usize = 40;
/// Bytes of a key looked at, from its end.
const KEY_WINDOW: usize = 64;
/// Words looked at before a number, nearest first.
const MAX_WORDS: usize = 4;

/// Words that name a payment card, its parts or a payment.
const CARD_WORDS: &[&str] = &[
    "card",
    "cards",
    "cardnumber",
    "cardnum",
    "cardno",
    "creditcard",
    "debitcard",
    "giftcard",
    "pan",
    "cc",
    "ccn",
    "ccnum",
    "ccnumber",
    "ccno",
    "visa",
    "mastercard",
    "amex",
    "discover",
    "jcb",
    "diners",
    "unionpay",
    "maestro",
    "rupay",
    "credit",
    "debit",
    "pay",
    "paid",
    "paying",
    "payment",
    "payments",
    "charge",
    "charged",
    "billing",
    "exp",
    "expiry",
    "expires",
    "cvv",
    "cvc",
    "kreditkarte",
    "karte",
    "kartennummer",
    "tarjeta",
    "carte",
    "carta",
    "cartao",
    "kaart",
    "karta",
];

/// Words that name an identifier, a barcode, a time or a phone number.
const ID_WORDS: &[&str] = &[
    "id",
    "ids",
    "uuid",
    "guid",
    "gtin",
    "ean",
    "upc",
    "barcode",
    "isbn",
    "issn",
    "sku",
    "asin",
    "mpn",
    "order",
    "orders",
    "ord",
    "inv",
    "po",
    "ref",
    "reference",
    "invoice",
    "receipt",
    "tracking",
    "shipment",
    "parcel",
    "serial",
    "imei",
    "iccid",
    "imsi",
    "msisdn",
    "phone",
    "tel",
    "mobile",
    "fax",
    "timestamp",
    "ts",
    "epoch",
    "nonce",
    "seq",
    "sequence",
    "snowflake",
    "hash",
    "checksum",
    "version",
    "build",
    "ticket",
    "booking",
];

/// "Card" in scripts other than Latin, found anywhere in the window: 卡
/// (Chinese, as in 卡号 and 信用卡), カード, 카드, карт(а).
const CARD_MARKS: &[&str] = &["卡", "カード", "카드", "карт", "Карт"];

/// What one word says.
pub(super) fn word(word: &[u8]) -> Hint {
    if word.is_ascii() {
        return word_hint(word);
    }
    std::iter::once(word_hint(Folded::of(word).bytes()))
        .chain(ascii_ends(word).map(word_hint))
        .find(|&h| h != Hint::Nothing)
        .unwrap_or(Hint::Nothing)
}

/// A word and, where it holds non-ASCII letters, its folded form: folded
/// once however many lists it is compared with.
struct Word<'a> {
    raw: &'a [u8],
    folded: Option<Folded>,
}

impl<'a> Word<'a> {
    fn of(raw: &'a [u8]) -> Self {
        Self {
            raw,
            folded: (!raw.is_ascii()).then(|| Folded::of(raw)),
        }
    }

    /// [`one_of`].
    fn is<W: AsRef<str>>(&self, list: &[W], text: bool) -> bool {
        match &self.folded {
            None => one_folded_of(self.raw, list, text),
            Some(f) => {
                one_folded_of(f.bytes(), list, text)
                    || ascii_ends(self.raw).any(|p| one_folded_of(p, list, text))
            }
        }
    }

    /// [`word`].
    fn hint(&self) -> Hint {
        match &self.folded {
            None => word_hint(self.raw),
            Some(f) => std::iter::once(word_hint(f.bytes()))
                .chain(ascii_ends(self.raw).map(word_hint))
                .find(|&h| h != Hint::Nothing)
                .unwrap_or(Hint::Nothing),
        }
    }
}

/// The ASCII letters and digits that end and start a word with non-ASCII
/// letters in it, read on their own too: a letter with a diacritic glued
/// to a word (`éunionpay`) does not hide it.
fn ascii_ends(w: &[u8]) -> impl Iterator<Item = &[u8]> {
    let tail = w
        .iter()
        .rposition(|c| !c.is_ascii())
        .and_then(|k| w.get(k + 1..));
    let head = w
        .iter()
        .position(|c| !c.is_ascii())
        .and_then(|k| w.get(..k));
    tail.into_iter().chain(head).filter(|p| !p.is_empty())
}

fn word_hint(word: &[u8]) -> Hint {
    let end = word
        .iter()
        .rposition(|c| !c.is_ascii_digit())
        .map_or(0, |k| k + 1);
    let word = word.get(..end).unwrap_or_default();
    if word.is_empty() || word.len() > 24 {
        return Hint::Nothing;
    }
    let is = |list: &[&str]| list.iter().any(|w| w.as_bytes().eq_ignore_ascii_case(word));
    if is(CARD_WORDS) {
        Hint::Card
    } else if is(ID_WORDS) {
        Hint::Id
    } else {
        Hint::Nothing
    }
}

/// What a character is to a word: a Latin letter or digit (ASCII, or with
/// a diacritic: `é`, `ó`, `ł`), a letter of another script, or neither.
/// A word is a run of one kind: `NHS号码` is two words, `Tél` one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Latin,
    Other,
    Apart,
}

/// The character that ends at `end` of `s`: where it starts and its kind.
/// A byte that is not UTF-8 stands apart.
fn char_before(s: &[u8], end: usize) -> Option<(usize, Kind)> {
    let last = *s.get(end.checked_sub(1)?)?;
    if last.is_ascii() {
        let kind = if last.is_ascii_alphanumeric() {
            Kind::Latin
        } else {
            Kind::Apart
        };
        return Some((end - 1, kind));
    }
    let start = (end.saturating_sub(4)..end)
        .rev()
        .find(|&k| s.get(k).is_some_and(|&c| c & 0xC0 != 0x80))
        .unwrap_or(end - 1);
    let kind = match std::str::from_utf8(s.get(start..end).unwrap_or_default())
        .ok()
        .and_then(|t| t.chars().next())
    {
        // Latin-1 Supplement and Latin Extended-A and -B letters.
        Some(c) if ('\u{c0}'..='\u{24f}').contains(&c) && c != '×' && c != '÷' => Kind::Latin,
        Some(c) if c.is_alphanumeric() => Kind::Other,
        _ => Kind::Apart,
    };
    Some((start, kind))
}

/// The ASCII letters a Latin letter with a diacritic stands for.
fn latin_base(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ı' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ů' => "u",
        'ý' | 'ÿ' => "y",
        'ś' | 'š' | 'ş' => "s",
        'ź' | 'ż' | 'ž' => "z",
        'ł' => "l",
        'ř' => "r",
        'ğ' => "g",
        'ß' => "ss",
        _ => return None,
    })
}

/// The longest word the lists are compared with, folded.
const MAX_FOLDED: usize = 48;

/// A word as the lists compare it, on the stack: ASCII as it is; otherwise
/// in lower case, Latin letters without their diacritics (`Tél` is `tel`,
/// `móvil` `movil`, `komórka` `komorka`), other letters kept (`телефон`).
/// A word longer than any listed one folds to nothing.
struct Folded {
    buf: [u8; MAX_FOLDED],
    len: usize,
}

impl Folded {
    fn of(w: &[u8]) -> Self {
        let mut f = Self {
            buf: [0; MAX_FOLDED],
            len: 0,
        };
        let mut push = |bytes: &[u8]| {
            let fits = f
                .buf
                .get_mut(f.len..f.len + bytes.len())
                .map(|slot| slot.copy_from_slice(bytes))
                .is_some();
            f.len = if fits {
                f.len + bytes.len()
            } else {
                MAX_FOLDED + 1
            };
        };
        match std::str::from_utf8(w) {
            Ok(t) if !t.is_ascii() => {
                for c in t.chars().flat_map(char::to_lowercase) {
                    match latin_base(c) {
                        Some(base) => push(base.as_bytes()),
                        None => push(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
            }
            _ => push(w),
        }
        if f.len > MAX_FOLDED {
            f.len = 0;
        }
        f
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// The words of `s` from last to first: alphanumeric runs, split where a
/// lowercase letter is followed by an uppercase one, and before the last
/// capital of an acronym followed by a lowercase letter ("NHSNumber").
fn words_backwards(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut end = s.len();
    std::iter::from_fn(move || {
        // Past what stands apart.
        let kind = loop {
            let (start, kind) = char_before(s, end)?;
            if kind != Kind::Apart {
                break kind;
            }
            end = start;
        };
        let stop = end;
        let mut start = stop;
        while let Some((k, k_kind)) = char_before(s, start) {
            if k_kind != kind {
                break;
            }
            // "cardNumber": the word "Number" starts at 'N'; so it does in
            // "NHSNumber".
            let c = s.get(k).copied().unwrap_or_default();
            let next = s.get(start).copied();
            let after = s.get(start + 1).copied();
            let upper = |x: Option<u8>| x.is_some_and(|n| n.is_ascii_uppercase());
            if start < stop
                && upper(next)
                && (c.is_ascii_lowercase()
                    || (c.is_ascii_uppercase()
                        && start + 1 < stop
                        && after.is_some_and(|n| n.is_ascii_lowercase())))
            {
                break;
            }
            start = k;
        }
        end = start;
        s.get(start..stop)
    })
}

/// What the nearest meaningful word among `words` says.
fn nearest<'a>(words: impl Iterator<Item = &'a [u8]>) -> Hint {
    words
        .map(word)
        .find(|&h| h != Hint::Nothing)
        .unwrap_or(Hint::Nothing)
}

/// What a JSON member name says of the numbers in its value.
pub(super) fn of_key(key: &str) -> Hint {
    let b = key.as_bytes();
    let tail = b
        .get(b.len().saturating_sub(KEY_WINDOW)..)
        .unwrap_or_default();
    nearest(words_backwards(tail))
}

/// Words that say only that a value is a number or an identifier of some
/// kind: in a member's name, the word before them says which.
/// Words after a member name's noun that say whose or which one it is,
/// not what it is: read past (`cpf_cliente` names a CPF, `phone_home` a
/// phone). States and times are not among them: `npi_verified_at` says
/// when, not what.
const QUALIFIERS: &[&str] = &[
    "cliente",
    "client",
    "customer",
    "paciente",
    "patient",
    "usuario",
    "utente",
    "user",
    "titular",
    "holder",
    "owner",
    "contato",
    "contacto",
    "principal",
    "primary",
    "secondary",
    "main",
    "alt",
    "alternate",
    "alternativo",
    "other",
    "home",
    "work",
    "office",
    "casa",
    "trabalho",
    "trabajo",
    "lavoro",
    "personal",
    "pessoal",
    "personale",
    "fixo",
    "fijo",
    "fisso",
    "do",
    "da",
    "de",
    "del",
    "della",
    "du",
    "des",
    "di",
];

const GENERIC: &[&str] = &[
    "number",
    "num",
    "no",
    "nr",
    "nummer",
    "numero",
    "id",
    "identifier",
    "code",
    "value",
    "digits",
    "card",
    "list",
    // "Number" in Japanese, Chinese, Korean and Russian.
    "番号",
    "号码",
    "번호",
    "номер",
];

/// Short words written between a name and its value ("the NHS number of
/// the patient is …"), skipped when counting the words before a number.
const FILLERS: &[&str] = &[
    "is", "was", "are", "of", "the", "a", "an", "for", "to", "on", "with", "de", "du", "la", "le",
    "el", "del", "der", "die", "das", "des", "van", "het", "ist", "es", "su", "il", "di", "da",
    "do",
];

/// A word without trailing digits, and without a plural `s` ("numbers").
fn stem(w: &[u8]) -> (&[u8], Option<&[u8]>) {
    let end = w
        .iter()
        .rposition(|c| !c.is_ascii_digit())
        .map_or(0, |k| k + 1);
    let w = w.get(..end).unwrap_or_default();
    let singular = w
        .strip_suffix(b"s")
        .or_else(|| w.strip_suffix(b"S"))
        .filter(|s| s.len() >= 2);
    (w, singular)
}

/// Whether a word (without trailing digits or a plural `s`, any case) is
/// one of `list`. An entry in capitals ("EIN") is a word only in capitals
/// in `text`, where its lowercase spelling is a common word of a language
/// ("ein" is German for "a").
fn one_of<W: AsRef<str>>(w: &[u8], list: &[W], text: bool) -> bool {
    // ASCII words are compared as they are, capitals and all.
    if w.is_ascii() {
        return one_folded_of(w, list, text);
    }
    one_folded_of(Folded::of(w).bytes(), list, text)
        || ascii_ends(w).any(|p| one_folded_of(p, list, text))
}

fn one_folded_of<W: AsRef<str>>(w: &[u8], list: &[W], text: bool) -> bool {
    let (w, singular) = stem(w);
    let is = |x: &W, w: &[u8]| {
        let x = x.as_ref();
        let capitals = x.bytes().all(|c| c.is_ascii_uppercase());
        if capitals && text {
            x.as_bytes() == w
        } else {
            x.as_bytes().eq_ignore_ascii_case(w)
        }
    };
    list.iter()
        .any(|x| is(x, w) || singular.is_some_and(|s| is(x, s)))
}

/// Whether a member name's word, written as one ("nhsnumber",
/// "patientnhsnumber"), ends with one of `words` and then a generic word.
fn ends_with_named<W: AsRef<str>>(w: &[u8], words: &[W]) -> bool {
    let w = Folded::of(w);
    let (w, _) = stem(w.bytes());
    let lower = w.to_ascii_lowercase();
    GENERIC.iter().any(|g| {
        lower.strip_suffix(g.as_bytes()).is_some_and(|head| {
            words.iter().any(|x| {
                let x = x.as_ref().to_ascii_lowercase();
                x.len() >= 3 && head.ends_with(x.as_bytes())
            })
        })
    })
}

/// Whether a member's name says its value is an identifier of something
/// (`callId`, `contact_ref`): whatever the words before, not the thing.
pub(super) fn key_names_an_id(key: &str) -> bool {
    let b = key.as_bytes();
    let tail = b
        .get(b.len().saturating_sub(KEY_WINDOW)..)
        .unwrap_or_default();
    words_backwards(tail)
        .find(|w| !one_of(w, QUALIFIERS, false))
        .is_some_and(|w| {
            one_of(
                w,
                &["id", "uuid", "guid", "ref", "hash", "seq", "sid"],
                false,
            )
        })
}

/// Whether the words right before `start` or the member's name say one of
/// `words`: what names an identifier whose form other numbers share
/// (`bsn`, `nhs`, `npi`).
///
/// In the text: the nearest `MAX_WORDS` words within `WINDOW` bytes (short
/// fillers such as "is" and "of", and numbers, not counted; letters glued
/// to the number included), two of them written apart counted joined too
/// ("Tax ID"), up to the first that names something else ("EIN 12-3456789
/// order 123456789": the order number is not an EIN).
///
/// In a member's name: its last word, or the word before a generic one
/// ("nhs_number", "taxId": "tax" and "id" joined, too), or two generic
/// ones joined ("IdNr"), or one word ending so ("patientnhsnumber"); a
/// word earlier in the name says something of another value
/// ("npi_verified_at").
pub(super) fn names<W: AsRef<str>>(b: &[u8], start: usize, key: Option<&str>, words: &[W]) -> bool {
    text_names(b, start, words) || key.is_some_and(|k| key_names(k, words))
}

/// The text part of [`names`].
fn text_names<W: AsRef<str>>(b: &[u8], start: usize, words: &[W]) -> bool {
    let window = b
        .get(start.saturating_sub(WINDOW)..start)
        .unwrap_or_default();
    // What a rewrite put there (`[REDACTED:phone]`) says nothing of the
    // number after it: only the words after the last one count.
    let window = match memchr::memmem::rfind(window, b"[REDACTED:") {
        Some(p) => {
            let rest = window.get(p..).unwrap_or_default();
            let close = memchr::memchr(b']', rest).map_or(rest.len(), |c| c + 1);
            rest.get(close..).unwrap_or_default()
        }
        None => window,
    };
    let mut nearer: Option<&[u8]> = None;
    // Numbers right before this one are a list's ("NHS numbers: 943 476
    // 5919, 401 023 2137"); a number before a word was what an earlier word
    // named ("tel 020 7946 0958, amount 345678912").
    let mut after_word = false;
    let text_words = words_backwards(window)
        .map(Word::of)
        .filter(|w| !w.is(FILLERS, true))
        .take_while(|w| {
            let number = w.raw.iter().all(u8::is_ascii_digit);
            let go_on = !(number && after_word);
            after_word |= !number;
            go_on
        })
        .filter(|w| !w.raw.iter().all(u8::is_ascii_digit))
        .take(MAX_WORDS);
    for w in text_words {
        let joined = nearer.map(|n| [w.raw, n].concat());
        if w.is(words, true) || joined.is_some_and(|j| one_of(&j, words, true)) {
            return true;
        }
        if w.hint() != Hint::Nothing && !w.is(GENERIC, true) {
            break;
        }
        nearer = Some(w.raw);
    }
    false
}

/// The member name part of [`names`].
fn key_names<W: AsRef<str>>(key: &str, words: &[W]) -> bool {
    let k = key.as_bytes();
    let tail = k
        .get(k.len().saturating_sub(KEY_WINDOW)..)
        .unwrap_or_default();
    let mut generic: Option<&[u8]> = None;
    for w in words_backwards(tail).take(MAX_WORDS).map(Word::of) {
        let joined = generic.map(|g| [w.raw, g].concat());
        if w.is(words, false) || joined.is_some_and(|j| one_of(&j, words, false)) {
            return true;
        }
        // Whose or which one it is comes after the noun in many languages
        // and names (`cpf_cliente`, `telefone_do_paciente`, `phone_home`).
        if w.is(QUALIFIERS, false) {
            continue;
        }
        if !w.is(GENERIC, false) {
            return ends_with_named(w.raw, words);
        }
        generic = Some(w.raw);
    }
    false
}

/// What the text says of the number at `start..end` of `b`: the nearest
/// meaningful word of the window before it, else a card word right after it
/// ("4006381333924 exp 12/27"), else a card in another script before it.
pub(super) fn of_text(b: &[u8], start: usize, end: usize) -> Hint {
    let window = b
        .get(start.saturating_sub(WINDOW)..start)
        .unwrap_or_default();
    let before = nearest(words_backwards(window).take(MAX_WORDS));
    let (gap, after) = past_separators(b.get(end..).unwrap_or_default());
    let word = after
        .get(..after.iter().take_while(|c| c.is_ascii_alphabetic()).count())
        .unwrap_or_default();
    let card_after = self::word(word) == Hint::Card;
    // A card word glued to a long number or with an expiry date after it
    // ("…6exp", "… exp 12/27") says card whatever an id word before it says;
    // not after a shorter one, which may be a product's barcode and its
    // best-before ("EAN 4006381333924 exp 06/28").
    let long = b
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .filter(|c| c.is_ascii_digit())
        .count()
        >= 16;
    if long && card_after && (gap == 0 || expiry_at(after.get(word.len()..).unwrap_or_default())) {
        return Hint::Card;
    }
    if before != Hint::Nothing {
        return before;
    }
    if card_after {
        return Hint::Card;
    }
    let marked = CARD_MARKS
        .iter()
        .any(|m| window.windows(m.len()).any(|w| w == m.as_bytes()));
    if marked { Hint::Card } else { Hint::Nothing }
}

/// `b` past up to three bytes that are not letters or digits, and how many.
fn past_separators(b: &[u8]) -> (usize, &[u8]) {
    let gap = b
        .iter()
        .take(3)
        .take_while(|c| !c.is_ascii_alphanumeric())
        .count();
    (gap, b.get(gap..).unwrap_or_default())
}

/// An expiry date at the start of `b`, after up to three separators:
/// `12/27`, `12/2027`, `1-27`.
fn expiry_at(b: &[u8]) -> bool {
    let (_, b) = past_separators(b);
    let run = |from: usize| digits_at(b, from, 4);
    let month = run(0);
    (1..=2).contains(&month)
        && matches!(b.get(month), Some(b'/' | b'-'))
        && matches!(run(month + 1), 2 | 4)
        && !b
            .get(month + 1 + run(month + 1))
            .is_some_and(u8::is_ascii_alphanumeric)
}

/// [`names`], or the member's sibling label names it: a label adds
/// context, never takes it away.
pub(super) fn names_labelled<W: AsRef<str>>(
    b: &[u8],
    start: usize,
    key: Option<&str>,
    label: Option<&str>,
    words: &[W],
) -> bool {
    names(b, start, key, words) || label.is_some_and(|l| key_names(l, words))
}

/// [`of`], where a sibling label may add that the number is a card (`{"brand":
/// "visa", "number": …}`) but never that it is an id.
pub(super) fn of_labelled(
    b: &[u8],
    start: usize,
    end: usize,
    key: Option<&str>,
    label: Option<&str>,
) -> Hint {
    match of(b, start, end, key) {
        Hint::Nothing if label.map(of_key) == Some(Hint::Card) => Hint::Card,
        h => h,
    }
}

/// What the context of the number at `start..end` says: its text first,
/// the field's name after.
pub(super) fn of(b: &[u8], start: usize, end: usize, key: Option<&str>) -> Hint {
    match of_text(b, start, end) {
        Hint::Nothing => key.map_or(Hint::Nothing, of_key),
        h => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for (key, want) in [
            ("card_number", Hint::Card),
            ("cardNumber", Hint::Card),
            ("CardNumber", Hint::Card),
            ("pan", Hint::Card),
            ("PAN", Hint::Card),
            ("cc", Hint::Card),
            ("ccnum", Hint::Card),
            ("payment.card.number", Hint::Card),
            ("x-card-pan", Hint::Card),
            ("id", Hint::Id),
            ("order_id", Hint::Id),
            ("orderId", Hint::Id),
            ("card_id", Hint::Id),
            ("cardId", Hint::Id),
            ("payment_id", Hint::Id),
            ("gtin", Hint::Id),
            ("ean13", Hint::Id),
            ("EAN", Hint::Id),
            ("barcode", Hint::Id),
            ("gtin_value", Hint::Id),
            ("value", Hint::Nothing),
            ("note", Hint::Nothing),
            ("", Hint::Nothing),
            ("discard", Hint::Nothing),
        ] {
            assert_eq!(of_key(key), want, "{key}");
        }
    }

    #[test]
    fn texts() {
        let hint = |text: &str, number: &str| {
            let start = text.find(number).expect("number in text");
            of_text(text.as_bytes(), start, start + number.len())
        };
        let n = "4006381333924";
        for (text, want) in [
            ("pay with 4006381333924", Hint::Card),
            ("card: 4006381333924", Hint::Card),
            ("Card number 4006381333924", Hint::Card),
            ("CARD4006381333924", Hint::Card),
            ("visa ending 4006381333924", Hint::Card),
            ("gtin 4006381333924", Hint::Id),
            ("EAN-13: 4006381333924", Hint::Id),
            ("card id 4006381333924", Hint::Id),
            ("order 17 paid by card 4006381333924", Hint::Card),
            ("4006381333924 exp 12/27", Hint::Card),
            ("4006381333924", Hint::Nothing),
            ("the value is 4006381333924", Hint::Nothing),
            ("卡号4006381333924", Hint::Card),
            ("номер карты 4006381333924", Hint::Card),
            // Too far back.
            (
                "card, and then a long sentence that goes on and on 4006381333924",
                Hint::Nothing,
            ),
        ] {
            assert_eq!(hint(text, n), want, "{text}");
        }
    }

    #[test]
    fn text_before_key() {
        let b = b"gtin 4006381333924";
        assert_eq!(of(b, 5, 18, Some("card_number")), Hint::Id);
        let b = b"4006381333924";
        assert_eq!(of(b, 0, 13, Some("card_number")), Hint::Card);
        assert_eq!(of(b, 0, 13, Some("ean")), Hint::Id);
        assert_eq!(of(b, 0, 13, None), Hint::Nothing);
    }
}
