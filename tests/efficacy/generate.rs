//! The labelled corpus: API payloads of the kinds services exchange
//! (orders, payment webhooks, FHIR-like and flat patient records, KYC
//! profiles, support tickets, structured log lines), each holding
//! sensitive values (`positives`) and look-alikes (`negatives`), and
//! labelled with both: class, detector, written form, where it stands and
//! the exact value string; kind and value.
//!
//! Where a value stands follows the documented rules (docs/scrubbing.md,
//! "with context"): a form that needs context gets it from its member's
//! name (`key`), from the words right before it (`text`) or from letters
//! glued to it (`glued`); a form found on its own may also stand under a
//! neutral name or in neutral text (`none`). Sentences in free text are
//! kept apart by a neutral one of more than 40 bytes and four words, so no
//! value borrows or loses context from its neighbours.
//!
//! In a log line, where pairs stand side by side with nothing between
//! them, the look-alikes come first, so no value's name reaches one.
//! Records are written compact, pretty-printed, or with PHP's escapes
//! (`\/`, `\u00e9`), which the scrubber reads through.
//!
//! A form that needs context may get it only from a sibling label member
//! (`sibling`: a FHIR identifier's or contact point's `system`, a card
//! object's `brand`), as the documented label rule reads it. A value of a
//! form the documented rules leave out (`Value::documented` false) is a
//! probe, reported apart and never scored against the targets.

use crate::json::{J, Style, n, obj, s};
use crate::negatives::{self, Look};
use crate::positives::{self, Need, Value};
use crate::rng::Rng;

/// A sensitive value in a record.
pub struct Positive {
    pub class: &'static str,
    pub detector: &'static str,
    pub form: &'static str,
    /// What the form leaves out: a card's network and length.
    pub variant: String,
    /// `key`, `list` (an item of a list under a plural name), `text`,
    /// `glued`, `none`, or `sibling` (a label member beside it).
    pub place: &'static str,
    /// Whether the documented rules say it is found where it stands, in
    /// the form it is written: the others are probes, scored apart.
    pub documented: bool,
    /// The value exactly as written in the record.
    pub value: String,
    /// The member holding it and that member's whole string (or number),
    /// what the detector is given when the body is scanned.
    pub key: String,
    pub holder: String,
}

/// A look-alike in a record.
pub struct Negative {
    pub kind: &'static str,
    pub value: String,
    /// As for `Positive`.
    pub key: String,
    pub holder: String,
}

pub struct Record {
    pub kind: &'static str,
    pub body: String,
    pub positives: Vec<Positive>,
    pub negatives: Vec<Negative>,
}

/// How a record kind writes free text: prose whose sentences are kept
/// apart, or a log line of `name=value` pairs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    Prose,
    Log,
}

struct Kind {
    name: &'static str,
    /// Detectors and their weights.
    positives: &'static [(&'static str, usize)],
    negatives: &'static [&'static str],
    text: Text,
    /// How many of each a record holds.
    counts: (usize, usize),
}

const PII_IDS: &[(&str, usize)] = &[
    ("uk_nhs", 2),
    ("us_npi", 2),
    ("us_dea", 2),
    ("us_ssn", 1),
    ("fr_nir", 1),
    ("nl_bsn", 1),
    ("es_dni", 1),
    ("it_fiscal_code", 1),
    ("br_cpf", 1),
    ("in_aadhaar", 1),
    ("uk_nino", 1),
    ("de_tax_id", 1),
    ("phone", 3),
    ("email", 1),
];

const PATIENT_LOOKS: &[&str] = &[
    "uuid",
    "iso_timestamp",
    "date_de",
    "date_fr",
    "date_us",
    "digit_run",
    "version",
    "invalid_uk_nhs",
    "invalid_us_npi",
    "invalid_us_dea",
    "invalid_us_ssn",
    "invalid_fr_nir",
    "invalid_nl_bsn",
    "invalid_es_dni",
    "invalid_it_fiscal_code",
    "invalid_br_cpf",
    "invalid_in_aadhaar",
    "invalid_uk_nino",
    "invalid_de_tax_id",
    "invalid_phone",
];

const KINDS: &[Kind] = &[
    Kind {
        name: "order",
        positives: &[("pan", 4), ("email", 2), ("phone", 4), ("iban", 1)],
        negatives: &[
            "order_id",
            "iso_timestamp",
            "price",
            "tracking_ups",
            "tracking_fedex",
            "tracking_dhl",
            "tracking_royal_mail",
            "ean13",
            "isbn10",
            "isbn13",
            "invoice_number",
            "date_de",
            "date_fr",
            "date_us",
            "uuid",
            "digit_run",
            "invalid_pan",
            "invalid_iban",
            "invalid_phone",
        ],
        text: Text::Prose,
        counts: (3, 7),
    },
    Kind {
        name: "payment_webhook",
        positives: &[
            ("pan", 4),
            ("iban", 3),
            ("email", 1),
            ("phone", 1),
            ("us_ein", 2),
            ("bearer_token", 1),
            ("jwt", 1),
        ],
        negatives: &[
            "uuid",
            "epoch_seconds",
            "epoch_millis",
            "price",
            "invoice_number",
            "order_id",
            "hex_hash",
            "ip_address",
            "digit_run",
            "version",
            "ean13",
            "invalid_pan",
            "invalid_iban",
            "invalid_us_ein",
        ],
        text: Text::Prose,
        counts: (3, 7),
    },
    Kind {
        name: "fhir_patient",
        positives: PII_IDS,
        negatives: PATIENT_LOOKS,
        text: Text::Prose,
        counts: (3, 7),
    },
    Kind {
        name: "flat_patient",
        positives: PII_IDS,
        negatives: PATIENT_LOOKS,
        text: Text::Prose,
        counts: (3, 7),
    },
    Kind {
        name: "kyc_profile",
        positives: &[
            ("us_ssn", 2),
            ("us_itin", 3),
            ("us_ein", 2),
            ("uk_nino", 3),
            ("de_tax_id", 3),
            ("fr_nir", 2),
            ("nl_bsn", 2),
            ("es_dni", 3),
            ("it_fiscal_code", 2),
            ("br_cpf", 2),
            ("in_aadhaar", 2),
            ("iban", 1),
            ("email", 1),
            ("phone", 2),
        ],
        negatives: &[
            "uuid",
            "iso_timestamp",
            "date_de",
            "date_fr",
            "date_us",
            "digit_run",
            "invalid_us_ssn",
            "invalid_us_itin",
            "invalid_us_ein",
            "invalid_uk_nino",
            "invalid_de_tax_id",
            "invalid_fr_nir",
            "invalid_nl_bsn",
            "invalid_es_dni",
            "invalid_it_fiscal_code",
            "invalid_br_cpf",
            "invalid_in_aadhaar",
            "invalid_iban",
        ],
        text: Text::Prose,
        counts: (3, 7),
    },
    Kind {
        name: "support_ticket",
        positives: &[
            ("pan", 3),
            ("phone", 3),
            ("email", 2),
            ("iban", 1),
            ("us_ssn", 1),
            ("uk_nino", 1),
            ("de_tax_id", 1),
            ("fr_nir", 1),
            ("nl_bsn", 1),
            ("es_dni", 1),
            ("it_fiscal_code", 1),
            ("br_cpf", 1),
            ("in_aadhaar", 1),
            ("us_itin", 1),
            ("us_ein", 1),
            ("us_npi", 1),
            ("us_dea", 1),
            ("uk_nhs", 1),
            ("jwt", 1),
            ("aws_access_key", 1),
            ("bearer_token", 1),
            ("private_key", 1),
        ],
        negatives: negatives::KINDS,
        text: Text::Prose,
        counts: (3, 7),
    },
    Kind {
        name: "log_line",
        positives: &[
            ("jwt", 3),
            ("bearer_token", 3),
            ("aws_access_key", 3),
            ("private_key", 2),
            ("email", 1),
            ("phone", 1),
            ("pan", 1),
            ("us_ssn", 1),
            ("iban", 1),
            ("uk_nhs", 1),
            ("us_npi", 1),
        ],
        negatives: &[
            "uuid",
            "iso_timestamp",
            "epoch_seconds",
            "epoch_millis",
            "ip_address",
            "version",
            "hex_hash",
            "order_id",
            "price",
            "tracking_ups",
            "digit_run",
            "email_lookalike",
            "invalid_aws_access_key",
        ],
        text: Text::Log,
        counts: (2, 5),
    },
];

/// Names that hold no sensitive value and say nothing of one.
const NEUTRAL_KEYS: &[&str] = &[
    "note", "comment", "remarks", "details", "value", "data", "info", "extra", "memo", "text",
];

/// Neutral words before a value found on its own.
const NEUTRAL_LEADS: &[&str] = &["", "FYI: ", "please check ", "as discussed ", "see "];

/// What may follow a value in text.
const TAILS: &[&str] = &["", ".", ",", " - thanks", "!", " (see above)"];

/// Sentences of more than 40 bytes and four words, none of which names
/// anything: what keeps the sentences around them apart.
const FILLERS: &[&str] = &[
    " Many thanks in advance for looking into this quickly. ",
    " Please let me know if anything else is needed here. ",
    " We have been waiting quite a while for an answer now. ",
    " Kind regards from the whole operations team today. ",
    " Nothing else changed since last week as far as we know. ",
];

const GREETINGS: &[&str] = &["Hi team,", "Hello,", "Dear support,", "Good morning,"];

const CITIES: &[&str] = &[
    "Berlin",
    "London",
    "Lyon",
    "Utrecht",
    "Sevilla",
    "Torino",
    "Zürich",
    "Graz",
    "Gent",
    "Cork",
    "Kraków",
    "Göteborg",
    "Aarhus",
    "Bergen",
    "Perth",
    "Pune",
    "Austin",
    "Toronto",
];

/// The generator: a seed gives the same records, in the same order, on
/// every machine.
pub struct Corpus {
    rng: Rng,
}

impl Corpus {
    pub fn new(seed: u64) -> Self {
        Corpus {
            rng: Rng::new(seed),
        }
    }

    /// The next record, the `i`th: kinds take turns.
    pub fn record(&mut self, i: usize) -> Record {
        let kind = &KINDS[i % KINDS.len()];
        let rng = &mut self.rng;
        let style = [
            Style::Compact,
            Style::Compact,
            Style::Pretty,
            Style::Escaped,
        ][rng.below(4)];
        let mut parts = Parts::default();
        let weights: Vec<usize> = kind.positives.iter().map(|p| p.1).collect();
        for _ in 0..rng.range(kind.counts.0 as u64, kind.counts.1 as u64) {
            let detector = kind.positives[rng.weighted(&weights)].0;
            let v = positives::generate(rng, detector);
            parts.place_positive(rng, kind, v);
        }
        for _ in 0..rng.range(kind.counts.0 as u64, kind.counts.1 as u64) {
            let look_kind = rng.pick(kind.negatives);
            let look = negatives::generate(rng, look_kind);
            parts.place_negative(rng, kind, look);
        }
        let tree = assemble(rng, kind, &mut parts);
        let mut leaves = Vec::new();
        tree.leaves("", &mut leaves);
        let holder = |value: &str| {
            leaves
                .iter()
                .find(|(_, t)| t.contains(value))
                .map(|&(k, t)| (k.to_owned(), t.to_owned()))
                .unwrap_or_default()
        };
        let positives = parts
            .positives
            .into_iter()
            .map(|(p, value)| {
                let (key, holder) = holder(&value);
                Positive {
                    key,
                    holder,
                    value,
                    ..p
                }
            })
            .collect();
        let negatives = parts
            .negatives
            .into_iter()
            .map(|n| {
                let (key, holder) = holder(&n.value);
                Negative { key, holder, ..n }
            })
            .collect();
        Record {
            kind: kind.name,
            body: tree.write(style),
            positives,
            negatives,
        }
    }
}

/// A record's pieces before they are put in place.
#[derive(Default)]
struct Parts {
    /// Labels, the value kept apart until the holder is known.
    positives: Vec<(Positive, String)>,
    negatives: Vec<Negative>,
    /// Members that name their values: payment and secrets, look-alikes.
    members: Vec<(String, J)>,
    /// Members that name personal values (ids, e-mail, phone).
    person: Vec<(String, J)>,
    /// Members under neutral names.
    neutral: Vec<(String, J)>,
    /// Values for slots that say what they hold in a sibling member (FHIR
    /// identifiers and telecom, card objects), by detector.
    described: Vec<(&'static str, String)>,
    /// Free-text sentences, and those that must end the text (a key cut
    /// off before its END line).
    sentences: Vec<String>,
    last: Vec<String>,
    /// `name=value` pairs of a log line: look-alikes first, then values,
    /// then what must end the line.
    log_looks: Vec<String>,
    log_values: Vec<String>,
    log_last: Vec<String>,
}

fn is_person(detector: &str) -> bool {
    !matches!(
        detector,
        "pan" | "iban" | "jwt" | "private_key" | "aws_access_key" | "bearer_token"
    )
}

impl Parts {
    fn label(&mut self, v: &Value, place: &'static str) {
        self.positives.push((
            Positive {
                class: positives::class_of(v.detector),
                detector: v.detector,
                form: v.form,
                variant: v.variant.clone(),
                place,
                documented: v.documented,
                value: String::new(),
                key: String::new(),
                holder: String::new(),
            },
            v.value.clone(),
        ));
    }

    fn place_positive(&mut self, rng: &mut Rng, kind: &Kind, v: Value) {
        let vocab = positives::vocab(v.detector);
        let leaf = |v: &Value| {
            if v.number {
                n(v.written.clone())
            } else {
                s(v.written.clone())
            }
        };
        // A form that needs context, described only by a sibling label
        // member.
        let sibling = match kind.name {
            "fhir_patient" => is_person(v.detector) && v.detector != "email",
            "payment_webhook" => v.detector == "pan",
            _ => false,
        };
        if sibling && v.need == Need::Context && !v.number && rng.chance(1, 3) {
            self.label(&v, "sibling");
            self.described.push((v.detector, v.written));
            return;
        }
        // A plural name over a list of them (`phones: [...]`). Plurals are
        // documented for the identifiers' words; of the card words only
        // `cards` is listed, so `pans` is left out.
        let plurals: Vec<&str> = vocab
            .keys
            .iter()
            .copied()
            .filter(|k| k.ends_with(|c: char| c.is_ascii_lowercase() && c != 's') && *k != "pan")
            .collect();
        let mut places = vec!["key"];
        if !plurals.is_empty() {
            places.push("list");
        }
        if !v.number {
            places.push("text");
            if v.gluable
                && (v.detector == "pan" || (v.need == Need::Context && !vocab.glue.is_empty()))
            {
                places.push("glued");
            }
        }
        if v.need != Need::Context && kind.text == Text::Prose {
            places.push("none");
        }
        let place = rng.pick(&places);
        self.label(&v, place);
        match place {
            "key" | "list" => {
                let member = if place == "key" {
                    (rng.pick(vocab.keys).to_owned(), leaf(&v))
                } else {
                    (format!("{}s", rng.pick(&plurals)), J::Arr(vec![leaf(&v)]))
                };
                if is_person(v.detector) {
                    self.person.push(member);
                } else {
                    self.members.push(member);
                }
            }
            "none" => {
                if kind.name == "fhir_patient" && is_person(v.detector) && !v.number {
                    self.described.push((v.detector, v.written));
                } else if v.number || v.last || rng.chance(1, 2) {
                    self.neutral
                        .push((rng.pick(NEUTRAL_KEYS).to_owned(), leaf(&v)));
                } else {
                    let lead = rng.pick(NEUTRAL_LEADS);
                    let tail = rng.pick(TAILS);
                    self.sentences.push(format!("{lead}{}{tail}", v.written));
                }
            }
            _ => {
                let (before, after) = if place == "glued" {
                    if v.detector == "pan" && rng.chance(1, 3) {
                        ("", rng.pick(positives::CARD_GLUE_AFTER))
                    } else {
                        (rng.pick(vocab.glue), "")
                    }
                } else {
                    (rng.pick(vocab.phrases), "")
                };
                match kind.text {
                    Text::Log => {
                        // A value glued only to what follows it still
                        // takes a name of its own: right after the last
                        // pair's number it would run on from it.
                        let phrase = match place {
                            "text" => log_phrase(rng, vocab.phrases),
                            _ if before.is_empty() => "note=",
                            _ => before,
                        };
                        let pair = format!("{phrase}{}{after}", v.written);
                        if v.last {
                            self.log_last.push(pair);
                        } else {
                            self.log_values.push(pair);
                        }
                    }
                    Text::Prose => {
                        let tail = if v.last { "" } else { rng.pick(TAILS) };
                        let sentence = format!("{before}{}{after}{tail}", v.written);
                        if v.last {
                            self.last.push(sentence);
                        } else {
                            self.sentences.push(sentence);
                        }
                    }
                }
            }
        }
    }

    fn place_negative(&mut self, rng: &mut Rng, kind: &Kind, look: Look) {
        self.negatives.push(Negative {
            kind: look.kind,
            value: look.value.clone(),
            key: String::new(),
            holder: String::new(),
        });
        let in_text = match kind.text {
            Text::Prose => rng.chance(1, 3),
            Text::Log => rng.chance(2, 3),
        };
        if !in_text {
            let leaf = if look.number {
                n(look.value)
            } else {
                s(look.value)
            };
            self.members.push((rng.pick(look.keys).to_owned(), leaf));
            return;
        }
        match kind.text {
            Text::Log => {
                let label = log_phrase(rng, look.labels);
                self.log_looks.push(format!("{label}{}", look.value));
            }
            Text::Prose => {
                let label = rng.pick(look.labels);
                let tail = rng.pick(TAILS);
                self.sentences.push(format!("{label}{}{tail}", look.value));
            }
        }
    }

    /// The free text: a greeting, then each sentence kept apart from the
    /// next by a neutral one, in a random order, then what must end it.
    fn prose(&mut self, rng: &mut Rng) -> Option<String> {
        if self.sentences.is_empty() && self.last.is_empty() {
            return None;
        }
        let mut sentences = std::mem::take(&mut self.sentences);
        for i in (1..sentences.len()).rev() {
            let j = rng.below(i + 1);
            sentences.swap(i, j);
        }
        sentences.append(&mut self.last);
        let mut text = rng.pick(GREETINGS).to_owned();
        for sentence in sentences {
            text.push_str(rng.pick(FILLERS));
            text.push_str(&sentence);
        }
        Some(text)
    }

    /// A log line's pairs: the look-alikes, each named by its own word,
    /// before the values, so no value's name reaches a look-alike.
    fn log(&mut self) -> String {
        let mut pairs = std::mem::take(&mut self.log_looks);
        pairs.append(&mut self.log_values);
        pairs.append(&mut self.log_last);
        pairs.join(" ")
    }
}

/// A label as a log writes it: the `name=` forms where there are some.
fn log_phrase(rng: &mut Rng, phrases: &[&'static str]) -> &'static str {
    let pairs: Vec<&str> = phrases
        .iter()
        .copied()
        .filter(|p| p.ends_with('='))
        .collect();
    if pairs.is_empty() {
        rng.pick(phrases)
    } else {
        rng.pick(&pairs)
    }
}

/// Members into an object; a name already taken moves its member into an
/// object of its own in `overflow` (a repeated name would be read as one).
fn into_object(members: Vec<(String, J)>, overflow: &mut Vec<J>) -> Vec<(String, J)> {
    let mut out: Vec<(String, J)> = Vec::new();
    for (k, v) in members {
        if out.iter().any(|(taken, _)| *taken == k) {
            overflow.push(J::Obj(vec![(k, v)]));
        } else {
            out.push((k, v));
        }
    }
    out
}

fn name(rng: &mut Rng) -> (String, String) {
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    };
    (
        cap(rng.pick(&[
            "anna", "james", "mario", "sophie", "lukas", "emma", "noah", "priya",
        ])),
        cap(rng.pick(&[
            "schmidt", "smith", "rossi", "dupont", "garcia", "patel", "murphy",
        ])),
    )
}

/// The record of `kind` around its parts.
fn assemble(rng: &mut Rng, kind: &Kind, p: &mut Parts) -> J {
    let mut overflow = Vec::new();
    let (first, last) = name(rng);
    let city = rng.pick(CITIES);
    let prose = p.prose(rng);
    let text = |t: Option<String>| t.map_or(J::Null, J::Str);
    let members = into_object(std::mem::take(&mut p.members), &mut overflow);
    let person = into_object(std::mem::take(&mut p.person), &mut overflow);
    let neutral = into_object(std::mem::take(&mut p.neutral), &mut overflow);
    let described = std::mem::take(&mut p.described);
    match kind.name {
        "order" => {
            let mut customer = vec![
                ("name".to_owned(), s(format!("{first} {last}"))),
                ("city".to_owned(), s(city)),
            ];
            customer.extend(person);
            let mut top = vec![
                ("object".to_owned(), s("order")),
                (
                    "status".to_owned(),
                    s(rng.pick(&["paid", "shipped", "refunded"])),
                ),
                ("currency".to_owned(), s(rng.pick(&["EUR", "GBP", "USD"]))),
                ("customer".to_owned(), J::Obj(customer)),
                (
                    "items".to_owned(),
                    J::Arr(vec![obj(vec![
                        (
                            "name",
                            s(rng.pick(&["Desk lamp", "Coffee grinder", "Rain jacket"])),
                        ),
                        ("qty", n(rng.range(1, 5).to_string())),
                    ])]),
                ),
                ("notes".to_owned(), text(prose)),
                ("metadata".to_owned(), J::Obj(neutral)),
            ];
            top.extend(members);
            top.push(("additional".to_owned(), J::Arr(overflow)));
            J::Obj(top)
        }
        "payment_webhook" => {
            // Card numbers whose form needs context, in a card object's
            // `number`: the parent's name is no context by the rules.
            let mut cards = Vec::new();
            for (_, v) in &described {
                cards.push(obj(vec![("brand", s("visa")), ("number", s(v.clone()))]));
            }
            let mut object = vec![
                ("object".to_owned(), s("charge")),
                ("paid".to_owned(), J::Bool(true)),
                ("description".to_owned(), text(prose)),
                ("cards".to_owned(), J::Arr(cards)),
                (
                    "billing_details".to_owned(),
                    J::Obj(
                        [("name".to_owned(), s(format!("{first} {last}")))]
                            .into_iter()
                            .chain(person)
                            .collect(),
                    ),
                ),
                ("metadata".to_owned(), J::Obj(neutral)),
            ];
            object.extend(members);
            object.push(("additional".to_owned(), J::Arr(overflow)));
            obj(vec![
                ("object", s("event")),
                (
                    "type",
                    s(rng.pick(&["charge.succeeded", "charge.refunded", "payout.paid"])),
                ),
                ("livemode", J::Bool(false)),
                ("data", obj(vec![("object", J::Obj(object))])),
            ])
        }
        "fhir_patient" => {
            let mut identifiers = Vec::new();
            let mut telecom = Vec::new();
            for (d, v) in described {
                if d == "phone" || d == "email" {
                    telecom.push(obj(vec![
                        ("system", s(d)),
                        ("use", s(rng.pick(&["home", "work", "mobile"]))),
                        ("value", s(v)),
                    ]));
                } else {
                    identifiers.push(obj(vec![
                        ("use", s("official")),
                        ("system", s(fhir_system(d))),
                        ("value", s(v)),
                    ]));
                }
            }
            let div = prose.map(|t| {
                J::Str(format!(
                    "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{t}</p></div>"
                ))
            });
            let mut extension = vec![(
                "url".to_owned(),
                s("https://example.org/fhir/StructureDefinition/patient-details"),
            )];
            extension.extend(person);
            extension.extend(members);
            obj(vec![
                ("resourceType", s("Patient")),
                ("active", J::Bool(true)),
                (
                    "text",
                    obj(vec![
                        ("status", s("generated")),
                        ("div", div.unwrap_or(J::Null)),
                    ]),
                ),
                ("identifier", J::Arr(identifiers)),
                (
                    "name",
                    J::Arr(vec![obj(vec![
                        ("family", s(last)),
                        ("given", J::Arr(vec![s(first)])),
                    ])]),
                ),
                ("telecom", J::Arr(telecom)),
                (
                    "gender",
                    s(rng.pick(&["female", "male", "other", "unknown"])),
                ),
                ("address", J::Arr(vec![obj(vec![("city", s(city))])])),
                (
                    "extension",
                    J::Arr(vec![J::Obj(extension), J::Obj(neutral)]),
                ),
                ("contained", J::Arr(overflow)),
            ])
        }
        "flat_patient" | "kyc_profile" => {
            let mut top = vec![
                ("first_name".to_owned(), s(first)),
                ("last_name".to_owned(), s(last)),
                ("city".to_owned(), s(city)),
            ];
            top.extend(person);
            top.extend(members);
            top.push(("notes".to_owned(), text(prose)));
            top.push(("attributes".to_owned(), J::Obj(neutral)));
            top.push(("additional".to_owned(), J::Arr(overflow)));
            if kind.name == "kyc_profile" {
                obj(vec![
                    ("applicant", J::Obj(top)),
                    ("review", s(rng.pick(&["pending", "approved", "manual"]))),
                ])
            } else {
                J::Obj(top)
            }
        }
        "support_ticket" => {
            let mut requester = vec![("name".to_owned(), s(format!("{first} {last}")))];
            requester.extend(person);
            let mut top = vec![
                ("channel".to_owned(), s(rng.pick(&["email", "chat", "web"]))),
                (
                    "priority".to_owned(),
                    s(rng.pick(&["low", "normal", "high"])),
                ),
                ("requester".to_owned(), J::Obj(requester)),
                (
                    "subject".to_owned(),
                    s(rng.pick(&[
                        "Problem with my account",
                        "Refund request",
                        "Address change",
                        "Cannot log in",
                    ])),
                ),
                ("body".to_owned(), text(prose)),
                ("custom_fields".to_owned(), J::Obj(neutral)),
            ];
            top.extend(members);
            top.push(("additional".to_owned(), J::Arr(overflow)));
            J::Obj(top)
        }
        _ => {
            let line = format!(
                "{} {} {} {}",
                rng.pick(&["GET", "POST", "PUT", "DELETE"]),
                rng.pick(&[
                    "/v1/charges",
                    "/api/patients",
                    "/orders/search",
                    "/auth/token"
                ]),
                rng.pick(&["200", "201", "400", "401", "500"]),
                p.log()
            );
            let mut top = vec![
                (
                    "level".to_owned(),
                    s(rng.pick(&["INFO", "WARN", "ERROR", "DEBUG"])),
                ),
                (
                    "logger".to_owned(),
                    s(rng.pick(&["http.access", "payments.api", "auth.middleware"])),
                ),
                ("message".to_owned(), s(line.trim_end().to_owned())),
            ];
            let mut context = person;
            context.extend(members);
            top.push(("context".to_owned(), J::Obj(context)));
            top.push(("fields".to_owned(), J::Obj(neutral)));
            top.push(("additional".to_owned(), J::Arr(overflow)));
            J::Obj(top)
        }
    }
}

/// The FHIR identifier system of each detector's numbers.
fn fhir_system(detector: &str) -> &'static str {
    match detector {
        "uk_nhs" => "https://fhir.nhs.uk/Id/nhs-number",
        "us_npi" => "http://hl7.org/fhir/sid/us-npi",
        "us_ssn" => "http://hl7.org/fhir/sid/us-ssn",
        "us_dea" => "urn:oid:2.16.840.1.113883.4.814",
        "fr_nir" => "urn:oid:1.2.250.1.213.1.4.8",
        "nl_bsn" => "http://fhir.nl/fhir/NamingSystem/bsn",
        "es_dni" => "urn:oid:1.3.6.1.4.1.19126.3",
        "it_fiscal_code" => "http://hl7.it/sid/codiceFiscale",
        "br_cpf" => "http://rnds.saude.gov.br/fhir/r4/NamingSystem/cpf",
        "in_aadhaar" => "https://uidai.gov.in/aadhaar",
        "uk_nino" => "https://fhir.hl7.org.uk/Id/national-insurance-number",
        "de_tax_id" => "https://www.bzst.de/steuer-id",
        _ => "urn:example:id",
    }
}
