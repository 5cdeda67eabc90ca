//! Values that must be found: every detector in every form
//! docs/scrubbing.md (and the detectors' module docs) say it finds, built
//! from the issuers' specifications with valid check digits (`check`), each
//! with what it needs around it by the documented rules.

use crate::check::{self, NETWORKS};
use crate::rng::Rng;

/// What a written form needs around it to be found, by the documented rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Need {
    /// Found wherever it stands.
    Nothing,
    /// Found unless the words before it or its member's name say identifier
    /// (`order`, `id`, `ref`): a 13-digit Visa, a Maestro of 12 to 15 digits.
    NoIdWords,
    /// Found only where the words before it or its member's name say what
    /// it is ("NHS number: …", `nhs_number`).
    Context,
}

/// One sensitive value as a form writes it.
pub struct Value {
    pub detector: &'static str,
    /// The written form, e.g. `spaced`, `uk_e164`.
    pub form: &'static str,
    /// What goes into the text: the value, or the value with what belongs
    /// to its form (`Bearer <token>`).
    pub written: String,
    /// What must no longer appear once scrubbed.
    pub value: String,
    pub need: Need,
    /// Written as a JSON number rather than a string.
    pub number: bool,
    /// Starts with a digit and may be glued to letters that name it
    /// (`NHS9434765919`, `CARD4111…`).
    pub gluable: bool,
    /// Must stand last in its string (a private key cut off before its END
    /// line runs to the end of the text).
    pub last: bool,
    /// A form people write that the documented rules leave out: scored
    /// apart, never against the targets.
    pub documented: bool,
    /// What the form leaves out and a report breaks down by: a card's
    /// network and length (`visa 13`).
    pub variant: String,
}

impl Value {
    fn new(detector: &'static str, form: &'static str, value: String, need: Need) -> Self {
        Value {
            detector,
            form,
            written: value.clone(),
            gluable: value.starts_with(|c: char| c.is_ascii_digit()),
            value,
            need,
            number: false,
            last: false,
            documented: true,
            variant: String::new(),
        }
    }

    fn variant(mut self, variant: String) -> Self {
        self.variant = variant;
        self
    }

    fn number(mut self) -> Self {
        self.number = true;
        self.gluable = false;
        self
    }
}

/// The data class of each detector in the built-in classes.
pub fn class_of(detector: &str) -> &'static str {
    match detector {
        "pan" => "card_number",
        "iban" => "iban",
        "us_npi" | "us_dea" | "uk_nhs" => "health_id",
        "email" => "email",
        "phone" => "phone",
        "jwt" | "private_key" | "aws_access_key" | "bearer_token" => "secret",
        _ => "national_id",
    }
}

/// Detectors whose values carry a check digit or letter: their recall
/// target is 99.9%.
pub fn checksum_backed(detector: &str) -> bool {
    matches!(
        detector,
        "pan"
            | "iban"
            | "de_tax_id"
            | "fr_nir"
            | "nl_bsn"
            | "es_dni"
            | "it_fiscal_code"
            | "br_cpf"
            | "in_aadhaar"
            | "us_npi"
            | "us_dea"
            | "uk_nhs"
    )
}

pub const DETECTORS: &[&str] = &[
    "pan",
    "iban",
    "us_ssn",
    "uk_nino",
    "de_tax_id",
    "fr_nir",
    "nl_bsn",
    "es_dni",
    "it_fiscal_code",
    "br_cpf",
    "in_aadhaar",
    "us_itin",
    "us_ein",
    "us_npi",
    "us_dea",
    "uk_nhs",
    "email",
    "phone",
    "jwt",
    "private_key",
    "aws_access_key",
    "bearer_token",
];

/// A value of `detector` in one of its documented forms, chosen at random.
pub fn generate(rng: &mut Rng, detector: &str) -> Value {
    match detector {
        "pan" => pan(rng),
        "iban" => iban(rng),
        "us_ssn" => us_ssn(rng),
        "uk_nino" => uk_nino(rng),
        "de_tax_id" => de_tax_id(rng),
        "fr_nir" => fr_nir(rng),
        "nl_bsn" => nl_bsn(rng),
        "es_dni" => es_dni(rng),
        "it_fiscal_code" => it_fiscal_code(rng),
        "br_cpf" => br_cpf(rng),
        "in_aadhaar" => in_aadhaar(rng),
        "us_itin" => us_itin(rng),
        "us_ein" => us_ein(rng),
        "us_npi" => us_npi(rng),
        "us_dea" => us_dea(rng),
        "uk_nhs" => uk_nhs(rng),
        "email" => email(rng),
        "phone" => phone(rng),
        "jwt" => jwt(rng),
        "private_key" => private_key(rng),
        "aws_access_key" => aws_access_key(rng),
        _ => bearer_token(rng),
    }
}

/// The words that name a detector's values: member names, phrases written
/// right before a value in text, and letters glued to it.
pub struct Vocab {
    pub keys: &'static [&'static str],
    pub phrases: &'static [&'static str],
    pub glue: &'static [&'static str],
}

/// Each list follows docs/scrubbing.md, "with context": a member's name
/// says it in its last word, in the word before a generic one, or as one
/// word; text says it in the words right before the value.
pub fn vocab(detector: &str) -> Vocab {
    let (keys, phrases, glue): (&[&str], &[&str], &[&str]) = match detector {
        "pan" => (
            &["card_number", "cardNumber", "pan", "cc_number", "card"],
            &[
                "card: ",
                "paid with ",
                "Card number ",
                "Visa ",
                "charged to card ",
                "card=",
                "Kreditkarte: ",
            ],
            &["CARD", "card", "Visa", "cc"],
        ),
        "iban" => (
            &["iban", "IBAN", "payout_iban", "bank_account"],
            &["IBAN: ", "IBAN ", "refund to ", "iban="],
            &[],
        ),
        "us_ssn" => (
            &["ssn", "social_security_number", "SSN"],
            &["SSN: ", "SSN ", "social security number ", "ssn="],
            &[],
        ),
        "uk_nino" => (
            &[
                "nino",
                "ni_number",
                "niNumber",
                "national_insurance_number",
                "nationalInsuranceNumber",
                "employee_nino",
            ],
            &[
                "NINO: ",
                "NI number ",
                "National Insurance number: ",
                "NI No. ",
                "nino=",
            ],
            &[],
        ),
        "de_tax_id" => (
            &[
                "steuer_id",
                "steuerId",
                "steueridnr",
                "idnr",
                "IdNr",
                "tax_id",
                "steuerIdentifikationsnummer",
            ],
            &[
                "Steuer-ID: ",
                "Steuer-IdNr. ",
                "Steueridentifikationsnummer ",
                "IdNr ",
                "TIN: ",
                "Tax ID: ",
                "steuerid=",
            ],
            &["IdNr"],
        ),
        "fr_nir" => (
            &[
                "nir",
                "numero_insee",
                "insee",
                "num_secu",
                "numSecu",
                "numero_securite_sociale",
            ],
            &[
                "NIR : ",
                "N° INSEE ",
                "numéro de sécurité sociale : ",
                "Sécurité sociale: ",
                "nir=",
            ],
            &["NIR"],
        ),
        "nl_bsn" => (
            &["bsn", "bsnNummer", "burgerservicenummer", "patient_bsn"],
            &["BSN: ", "BSN ", "burgerservicenummer ", "bsn="],
            &["BSN"],
        ),
        "es_dni" => (
            &["dni", "nif", "nie", "numero_documento", "dniNumber"],
            &["DNI: ", "NIF ", "NIE: ", "dni=", "DNI/NIE "],
            &["DNI"],
        ),
        "it_fiscal_code" => (
            &["codice_fiscale", "codiceFiscale", "cf", "fiscal_code"],
            &["C.F. ", "codice fiscale: ", "CF "],
            &[],
        ),
        "br_cpf" => (
            &["cpf", "cpfNumber", "numero_cpf"],
            &["CPF: ", "CPF nº ", "cpf="],
            &["CPF"],
        ),
        "in_aadhaar" => (
            &["aadhaar", "aadhaar_number", "aadhaarNo", "aadhar_no"],
            &["Aadhaar: ", "Aadhaar No. ", "aadhaar=", "UIDAI "],
            &["AADHAAR"],
        ),
        "us_itin" => (
            &["itin", "taxpayer_itin", "ITIN"],
            &["ITIN: ", "ITIN ", "itin="],
            &["ITIN"],
        ),
        "us_ein" => (
            &["ein", "fein", "employer_ein", "tax_id", "taxId", "EIN"],
            &["EIN: ", "EIN ", "FEIN ", "Tax ID: ", "TIN "],
            &[],
        ),
        "us_npi" => (
            &[
                "npi",
                "provider_npi",
                "npiNumber",
                "NPI_NO",
                "npi_number",
                "prescriberNpi",
            ],
            &["NPI: ", "NPI ", "NPI# ", "npi=", "Provider NPI "],
            &["NPI"],
        ),
        "us_dea" => (
            &["dea", "dea_number", "deaNumber", "prescriber_dea"],
            &["DEA: ", "DEA# ", "DEA number ", "dea="],
            &[],
        ),
        "uk_nhs" => (
            &[
                "nhs_number",
                "nhsNumber",
                "NHSNumber",
                "patientNhsNumber",
                "nhs",
                "nhs_no",
                "NHS Number",
                "nhs-number",
            ],
            &[
                "NHS number: ",
                "NHS no. ",
                "NHS No: ",
                "the NHS number of the patient is ",
                "nhs=",
            ],
            &["NHS"],
        ),
        "email" => (
            &["email", "customer_email", "emailAddress", "reply_to"],
            &["email me at ", "e-mail: ", "write to ", "email="],
            &[],
        ),
        "phone" => (
            &[
                "phone",
                "phone_number",
                "mobile",
                "tel",
                "contactPhone",
                "telefon",
                "handy",
                "fax",
                "Phone Number",
                "mobile-phone",
            ],
            &[
                "tel ",
                "Tel.: ",
                "Telefon: ",
                "mobile number is ",
                "call me at ",
                "phone=",
                "Handy: ",
                "portable : ",
            ],
            &[],
        ),
        "jwt" => (
            &["id_token", "access_token", "jwt", "token"],
            &["token=", "Authorization: Bearer ", "jwt: "],
            &[],
        ),
        "private_key" => (
            &["private_key", "privateKey", "ssh_key", "tls_key"],
            &["key:\n", "private key follows\n"],
            &[],
        ),
        "aws_access_key" => (
            &["aws_access_key_id", "accessKeyId", "AWS_ACCESS_KEY_ID"],
            &["aws_access_key_id=", "AWS_ACCESS_KEY_ID=", "access key "],
            &[],
        ),
        _ => (
            &["authorization", "Authorization", "auth_header"],
            &["Authorization: ", "header ", "auth="],
            &[],
        ),
    };
    Vocab {
        keys,
        phrases,
        glue,
    }
}

/// Letters glued right after a card number that say card ("4111…exp").
pub const CARD_GLUE_AFTER: &[&str] = &["exp", "EXP", "cvv"];

fn digits_of(values: &[u8]) -> String {
    values.iter().map(|&d| char::from(b'0' + d)).collect()
}

/// `text` split into groups of these sizes joined by `sep`.
fn grouped(text: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    for (i, &n) in sizes.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push_str(head);
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Groups of four and a shorter last one.
fn fours(len: usize) -> Vec<usize> {
    let mut sizes = vec![4; len / 4];
    if !len.is_multiple_of(4) {
        sizes.push(len % 4);
    }
    sizes
}

/// A card number of `len` digits under one of `prefixes`, Luhn-valid.
pub fn card_digits(rng: &mut Rng, prefixes: &[&str], len: usize) -> Vec<u8> {
    let prefix = rng.pick(prefixes);
    let mut d: Vec<u8> = prefix.bytes().map(|c| c - b'0').collect();
    d.extend(rng.digit_values(len - 1 - d.len()));
    let check = check::luhn_digit(&d);
    d.push(check);
    d
}

/// What a card number written in one run needs (docs/scrubbing.md, the
/// paragraph on numbers that are cards or not depending on where they
/// stand).
fn card_need(d: &[u8], maestro: bool) -> Need {
    let body = &d[..d.len() - 1];
    let gtin = check::gtin_digit(body) == d[d.len() - 1];
    let mobile = matches!(d, [4, 9, 1, 5..=7, ..] | [4, 3, 6, 5..=9, ..]);
    match d.len() {
        17.. => Need::Context,
        12 | 13 if gtin => Need::Context,
        13 if mobile => Need::Context,
        12 | 13 => Need::NoIdWords,
        14 | 15 if maestro => Need::NoIdWords,
        _ => Need::Nothing,
    }
}

fn pan(rng: &mut Rng) -> Value {
    let (network, prefixes, lengths) = rng.pick(NETWORKS);
    let len = rng.pick(lengths);
    let d = card_digits(rng, prefixes, len);
    let compact = digits_of(&d);
    // The groupings printed on cards: Amex 4-6-5, Diners 4-6-4, 13 digits
    // 4-4-5 or 4-3-3-3, the rest fours.
    let sizes = match (network, len) {
        ("amex", 15) => vec![4, 6, 5],
        ("diners", 14) => vec![4, 6, 4],
        (_, 13) => rng
            .pick(&[&[4, 4, 5][..], &[4, 3, 3, 3], &[4, 4, 4, 1]])
            .to_vec(),
        _ => fours(len),
    };
    let group = |sep: &str| grouped(&compact, &sizes, sep);
    let (form, written) = match rng.below(9) {
        0 | 1 => ("compact", compact.clone()),
        2 => ("spaced", group(" ")),
        3 => ("dashed", group("-")),
        4 => ("dotted", group(".")),
        5 => {
            // One to three of space, dash and dot, in any mix.
            let seps = [" ", "-", ".", " - ", "  ", "- "];
            let mut out = String::new();
            let mut rest = compact.as_str();
            for (i, &n) in sizes.iter().enumerate() {
                if i > 0 {
                    out.push_str(rng.pick(&seps));
                }
                let (head, tail) = rest.split_at(n);
                out.push_str(head);
                rest = tail;
            }
            ("mixed_separators", out)
        }
        6 => ("double_spaced", group("  ")),
        7 => ("spaced_dash", group(" - ")),
        _ if len <= 16 => {
            let need = card_need(&d, network == "maestro");
            return Value::new("pan", "json_number", compact, need)
                .number()
                .variant(format!("{network} {len}"));
        }
        _ => ("compact", compact.clone()),
    };
    let need = if form == "compact" {
        card_need(&d, network == "maestro")
    } else {
        Need::Nothing
    };
    Value::new("pan", form, written, need).variant(format!("{network} {len}"))
}

/// BBAN structures of the SWIFT IBAN registry: `n` digits, `a` capital
/// letters, `c` either.
const IBAN_FORMATS: &[(&str, &str)] = &[
    ("DE", "18n"),
    ("GB", "4a14n"),
    ("FR", "10n11c2n"),
    ("NL", "4a10n"),
    ("ES", "20n"),
    ("IT", "1a10n12c"),
    ("CH", "5n12c"),
    ("AT", "16n"),
    ("BE", "12n"),
    ("IE", "4a14n"),
    ("PL", "24n"),
    ("SE", "20n"),
    ("DK", "14n"),
    ("NO", "11n"),
    ("FI", "14n"),
    ("PT", "21n"),
    ("LU", "3n13c"),
    ("BR", "23n1a1c"),
    ("SA", "2n18c"),
    ("GR", "7n16c"),
    ("CZ", "20n"),
    ("HU", "24n"),
    ("RO", "4a16c"),
    ("MT", "4a5n18c"),
];

/// A country and BBAN of the registry's structure.
pub fn iban_parts(rng: &mut Rng) -> (&'static str, String) {
    let (country, format) = rng.pick(IBAN_FORMATS);
    let mut bban = String::new();
    let mut count = 0usize;
    for c in format.bytes() {
        if c.is_ascii_digit() {
            count = count * 10 + usize::from(c - b'0');
            continue;
        }
        let alphabet: &[u8] = match c {
            b'n' => b"0123456789",
            b'a' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            _ => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        };
        bban.push_str(&rng.chars(alphabet, count));
        count = 0;
    }
    (country, bban)
}

/// An IBAN written compact or in groups of four.
pub fn iban_written(iban: &str, spaced: bool) -> String {
    if spaced {
        let sizes = fours(iban.len());
        grouped(iban, &sizes, " ")
    } else {
        iban.to_owned()
    }
}

fn iban(rng: &mut Rng) -> Value {
    let (country, bban) = iban_parts(rng);
    let iban = format!("{country}{:02}{bban}", check::iban_check(country, &bban));
    let (form, written) = match rng.below(4) {
        0 => ("compact", iban_written(&iban, false)),
        1 => ("grouped", iban_written(&iban, true)),
        2 => ("lowercase", iban.to_lowercase()),
        _ => (
            "grouped_lowercase",
            iban_written(&iban, true).to_lowercase(),
        ),
    };
    Value::new("iban", form, written, Need::Nothing)
}

/// A US SSN the SSA may issue: area 001–899 but 666, group 01–99, serial
/// 0001–9999, not one of the two advertised numbers.
pub fn ssn_parts(rng: &mut Rng) -> (u64, u64, u64) {
    loop {
        let (area, group, serial) = (rng.range(1, 899), rng.range(1, 99), rng.range(1, 9999));
        let advertised =
            (area, group, serial) == (78, 5, 1120) || (area, group, serial) == (219, 9, 9999);
        if area != 666 && !advertised {
            return (area, group, serial);
        }
    }
}

fn us_ssn(rng: &mut Rng) -> Value {
    let (a, g, s) = ssn_parts(rng);
    Value::new(
        "us_ssn",
        "dashed",
        format!("{a:03}-{g:02}-{s:04}"),
        Need::Nothing,
    )
}

/// The IRS's ITIN groups (the 4th and 5th digits).
pub const ITIN_GROUPS: &[(u64, u64)] = &[(50, 65), (70, 88), (90, 92), (94, 99)];

fn us_itin(rng: &mut Rng) -> Value {
    let (lo, hi) = rng.pick(ITIN_GROUPS);
    let (area, group, serial) = (rng.range(900, 999), rng.range(lo, hi), rng.range(0, 9999));
    match rng.below(3) {
        0 => Value::new(
            "us_itin",
            "dashed",
            format!("{area}-{group:02}-{serial:04}"),
            Need::Nothing,
        ),
        1 => Value::new(
            "us_itin",
            "spaced",
            format!("{area} {group:02} {serial:04}"),
            Need::Nothing,
        ),
        _ => Value::new(
            "us_itin",
            "compact",
            format!("{area}{group:02}{serial:04}"),
            Need::Context,
        ),
    }
}

/// The IRS campus prefixes of EINs.
pub const EIN_PREFIXES: &[u64] = &[
    1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 50, 51, 52, 53, 54, 55, 56, 57, 58,
    59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 71, 72, 73, 74, 75, 76, 77, 80, 81, 82, 83, 84, 85, 86,
    87, 88, 90, 91, 92, 93, 94, 95, 98, 99,
];

fn us_ein(rng: &mut Rng) -> Value {
    let prefix = rng.pick(EIN_PREFIXES);
    let rest = rng.digits(7);
    if rng.chance(3, 4) {
        Value::new(
            "us_ein",
            "dashed",
            format!("{prefix:02}-{rest}"),
            Need::Context,
        )
    } else {
        Value::new(
            "us_ein",
            "spaced",
            format!("{prefix:02} {rest}"),
            Need::Context,
        )
    }
}

/// HMRC: D, F, I, Q, U, V never first or second, O never second, and
/// BG, GB, KN, NK, NT, TN, ZZ never allocated.
pub fn nino_prefix_ok(a: u8, b: u8) -> bool {
    !b"DFIQUV".contains(&a)
        && !b"DFIOQUV".contains(&b)
        && ![b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"].contains(&&[a, b])
}

fn uk_nino(rng: &mut Rng) -> Value {
    let (a, b) = loop {
        let (a, b) = (b'A' + rng.below(26) as u8, b'A' + rng.below(26) as u8);
        if nino_prefix_ok(a, b) {
            break (a, b);
        }
    };
    let p = format!("{}{}", char::from(a), char::from(b));
    let d = rng.digits(6);
    let (d1, d2, d3) = (&d[..2], &d[2..4], &d[4..]);
    let suffix = rng.pick(&['A', 'B', 'C', 'D']);
    let (form, written, need) = match rng.below(7) {
        0 => (
            "spaced",
            format!("{p} {d1} {d2} {d3} {suffix}"),
            Need::Nothing,
        ),
        1 => (
            "dashed",
            format!("{p}-{d1}-{d2}-{d3}-{suffix}"),
            Need::Nothing,
        ),
        2 => (
            "spaced_suffix_joined",
            format!("{p} {d1} {d2} {d3}{suffix}"),
            Need::Nothing,
        ),
        3 => ("split", format!("{p} {d} {suffix}"), Need::Nothing),
        4 | 5 => ("compact", format!("{p}{d}{suffix}"), Need::Context),
        _ => (
            "lowercase_spaced",
            format!("{p} {d1} {d2} {d3} {suffix}").to_lowercase(),
            Need::Context,
        ),
    };
    Value::new("uk_nino", form, written, need)
}

/// Ten digits in the Steuer-IdNr structure: a permutation of 0–9 with one
/// digit written over another (twice), or over two others not making a
/// run of three (thrice).
pub fn steuer_ten(rng: &mut Rng) -> Vec<u8> {
    loop {
        let mut d: Vec<u8> = (0..10).collect();
        for i in (1..10).rev() {
            let j = rng.below(i + 1);
            d.swap(i, j);
        }
        let copies = if rng.chance(1, 4) { 2 } else { 1 };
        let from = rng.below(10);
        for _ in 0..copies {
            let to = rng.below(10);
            d[to] = d[from];
        }
        if check::steuer_structure_ok(&d) {
            return d;
        }
    }
}

fn de_tax_id(rng: &mut Rng) -> Value {
    let mut d = steuer_ten(rng);
    d.push(check::mod11_10_digit(&d));
    let compact = digits_of(&d);
    match rng.below(3) {
        0 => Value::new("de_tax_id", "compact", compact, Need::Context),
        1 => Value::new(
            "de_tax_id",
            "printed",
            grouped(&compact, &[2, 3, 3, 3], " "),
            Need::Context,
        ),
        _ => Value::new("de_tax_id", "json_number", compact, Need::Context).number(),
    }
}

/// A NIR's first thirteen characters: sex, year, month, department
/// (Corsica 2A and 2B, overseas 97x, abroad 99), commune, order.
pub fn nir_thirteen(rng: &mut Rng) -> String {
    let sex = rng.pick(&['1', '2']);
    let year = rng.range(0, 99);
    let month = rng.range(1, 12);
    let dept = match rng.below(12) {
        0 => rng.pick(&["2A", "2B"]).to_owned(),
        1 => rng.pick(&["97", "99"]).to_owned(),
        _ => loop {
            let d = rng.range(1, 95);
            if d != 20 {
                break format!("{d:02}");
            }
        },
    };
    let commune = rng.range(1, 990);
    let order = rng.range(1, 999);
    format!("{sex}{year:02}{month:02}{dept}{commune:03}{order:03}")
}

fn fr_nir(rng: &mut Rng) -> Value {
    let t = nir_thirteen(rng);
    let key = format!("{:02}", check::nir_key(&t));
    let (form, written, need) = match rng.below(5) {
        0 | 1 => (
            "printed",
            format!("{} {}", grouped(&t, &[1, 2, 2, 2, 3, 3], " "), key),
            Need::Nothing,
        ),
        2 => ("compact", format!("{t}{key}"), Need::Context),
        3 => ("key_apart", format!("{t} {key}"), Need::Context),
        _ => ("key_dashed", format!("{t}-{key}"), Need::Context),
    };
    Value::new("fr_nir", form, written, need)
}

fn nl_bsn(rng: &mut Rng) -> Value {
    let d = loop {
        let mut d = vec![1 + rng.below(6) as u8];
        d.extend(rng.digit_values(7));
        if let Some(last) = check::bsn_digit(&d) {
            d.push(last);
            break d;
        }
    };
    let c = digits_of(&d);
    let (form, written) = match rng.below(5) {
        0 => ("compact", c.clone()),
        1 => ("dotted_4_2_3", grouped(&c, &[4, 2, 3], ".")),
        2 => ("dotted", grouped(&c, &[3, 3, 3], ".")),
        3 => ("spaced", grouped(&c, &[3, 3, 3], " ")),
        _ => return Value::new("nl_bsn", "json_number", c, Need::Context).number(),
    };
    Value::new("nl_bsn", form, written, Need::Context)
}

fn es_dni(rng: &mut Rng) -> Value {
    let number = rng.range(1, 99_999_999) as u32;
    let letter = check::dni_letter(number);
    let n = format!("{number:08}");
    let printed = grouped(&n, &[2, 3, 3], ".");
    let (form, written, need) = match rng.below(9) {
        0 | 1 => ("printed", format!("{printed}-{letter}"), Need::Nothing),
        2 => ("printed_glued", format!("{printed}{letter}"), Need::Nothing),
        3 => (
            "printed_space",
            format!("{printed} {letter}"),
            Need::Nothing,
        ),
        4 => ("compact", format!("{n}{letter}"), Need::Context),
        5 => ("dash", format!("{n}-{letter}"), Need::Context),
        6 => ("space", format!("{n} {letter}"), Need::Context),
        _ => {
            // NIE: X, Y or Z (read as 0, 1, 2), seven digits, the letter.
            let (p, v) = rng.pick(&[('X', 0u32), ('Y', 1), ('Z', 2)]);
            let seven = rng.range(0, 9_999_999) as u32;
            let letter = check::dni_letter(v * 10_000_000 + seven);
            if rng.chance(1, 2) {
                ("nie", format!("{p}{seven:07}{letter}"), Need::Context)
            } else {
                (
                    "nie_dashed",
                    format!("{p}-{seven:07}-{letter}"),
                    Need::Context,
                )
            }
        }
    };
    Value::new("es_dni", form, written, need)
}

const IT_SURNAMES: &[&str] = &[
    "ROSSI", "RUSSO", "FERRARI", "ESPOSITO", "BIANCHI", "ROMANO", "COLOMBO", "RICCI", "MARINO",
    "GRECO", "BRUNO", "GALLO", "CONTI", "DE LUCA", "MANCINI", "COSTA", "GIORDANO", "RIZZO",
    "LOMBARDI", "MORETTI", "FO", "RE",
];
const IT_NAMES: &[&str] = &[
    "MARIO",
    "GIUSEPPE",
    "ANNA",
    "GIULIA",
    "FRANCESCO",
    "CHIARA",
    "LUCA",
    "SOFIA",
    "ALESSANDRO",
    "MARTINA",
    "MATTEO",
    "SARA",
    "ANDREA",
    "ELENA",
    "PAOLO",
    "LAURA",
    "CRISTINA",
];

/// Three letters of a surname (`given` false) or given name: consonants,
/// then vowels, then X; a given name of four consonants or more takes the
/// 1st, 3rd and 4th.
fn cf_letters(name: &str, given: bool) -> String {
    let letters: Vec<u8> = name.bytes().filter(u8::is_ascii_alphabetic).collect();
    let consonants: Vec<u8> = letters
        .iter()
        .copied()
        .filter(|c| !b"AEIOU".contains(c))
        .collect();
    let vowels = letters.iter().copied().filter(|c| b"AEIOU".contains(c));
    let picked: Vec<u8> = if given && consonants.len() >= 4 {
        vec![consonants[0], consonants[2], consonants[3]]
    } else {
        consonants
            .iter()
            .copied()
            .chain(vowels)
            .chain(std::iter::repeat(b'X'))
            .take(3)
            .collect()
    };
    String::from_utf8(picked).unwrap_or_default()
}

/// A codice fiscale; `omocodia` digits replaced by their letters from the
/// right (the first year digit always stays a digit).
pub fn codice_fiscale(rng: &mut Rng, omocodia: usize) -> String {
    let female = rng.chance(1, 2);
    let day = rng.range(1, 28) + if female { 40 } else { 0 };
    let month = char::from(rng.pick(check::CF_MONTHS));
    let comune = if rng.chance(1, 10) {
        format!("Z{}", rng.range(100, 399))
    } else {
        format!(
            "{}{:03}",
            char::from(b'A' + rng.below(13) as u8),
            rng.range(1, 999)
        )
    };
    let mut body: Vec<u8> = format!(
        "{}{}{:02}{month}{day:02}{comune}",
        cf_letters(rng.pick(IT_SURNAMES), false),
        cf_letters(rng.pick(IT_NAMES), true),
        rng.range(0, 99),
    )
    .into_bytes();
    for &pos in [14, 13, 12, 10, 9, 7].iter().take(omocodia) {
        body[pos] = check::CF_OMOCODIA[usize::from(body[pos] - b'0')];
    }
    let body = String::from_utf8(body).unwrap_or_default();
    let check = check::cf_check(&body);
    format!("{body}{check}")
}

fn it_fiscal_code(rng: &mut Rng) -> Value {
    if rng.chance(1, 4) {
        let level = 1 + rng.below(3);
        Value::new(
            "it_fiscal_code",
            "omocodia",
            codice_fiscale(rng, level),
            Need::Nothing,
        )
    } else {
        Value::new(
            "it_fiscal_code",
            "standard",
            codice_fiscale(rng, 0),
            Need::Nothing,
        )
    }
}

fn br_cpf(rng: &mut Rng) -> Value {
    let nine = loop {
        let d = rng.digit_values(9);
        if d.iter().any(|&x| x != d[0]) {
            break d;
        }
    };
    let (a, b) = check::cpf_digits(&nine);
    let n = digits_of(&nine);
    match rng.below(4) {
        0 | 1 => Value::new(
            "br_cpf",
            "printed",
            format!("{}-{a}{b}", grouped(&n, &[3, 3, 3], ".")),
            Need::Nothing,
        ),
        2 => Value::new("br_cpf", "compact", format!("{n}{a}{b}"), Need::Context),
        _ => Value::new("br_cpf", "dash", format!("{n}-{a}{b}"), Need::Context),
    }
}

fn in_aadhaar(rng: &mut Rng) -> Value {
    let mut d = vec![2 + rng.below(8) as u8];
    d.extend(rng.digit_values(10));
    d.push(check::verhoeff_digit(&d));
    let c = digits_of(&d);
    match rng.below(4) {
        0 => Value::new("in_aadhaar", "compact", c, Need::Context),
        1 => Value::new(
            "in_aadhaar",
            "spaced",
            grouped(&c, &[4, 4, 4], " "),
            Need::Context,
        ),
        2 => Value::new(
            "in_aadhaar",
            "dashed",
            grouped(&c, &[4, 4, 4], "-"),
            Need::Context,
        ),
        _ => Value::new("in_aadhaar", "json_number", c, Need::Context).number(),
    }
}

fn us_npi(rng: &mut Rng) -> Value {
    let mut d = vec![1 + rng.below(2) as u8];
    d.extend(rng.digit_values(8));
    d.push(check::npi_digit(&d));
    let c = digits_of(&d);
    if rng.chance(2, 3) {
        Value::new("us_npi", "compact", c, Need::Context)
    } else {
        Value::new("us_npi", "json_number", c, Need::Context).number()
    }
}

/// DEA registrant types (the first letter).
pub const DEA_TYPES: &[u8] = b"ABCDEFGHJKLMPRSTUX";

fn us_dea(rng: &mut Rng) -> Value {
    let kind = char::from(rng.pick(DEA_TYPES));
    let second = if rng.chance(1, 10) {
        '9'
    } else {
        char::from(b'A' + rng.below(26) as u8)
    };
    let six = rng.digit_values(6);
    let check = check::dea_digit(&six);
    let written = format!("{kind}{second}{}{check}", digits_of(&six));
    Value::new("us_dea", "standard", written, Need::Context)
}

/// Nine digits an NHS number may start with (England and Wales issue 400
/// to 499 and 600 to 799 million), whose check is not 10.
pub fn nhs_nine(rng: &mut Rng) -> (Vec<u8>, u8) {
    loop {
        let mut d = vec![rng.pick(&[4u8, 6, 7])];
        d.extend(rng.digit_values(8));
        if let Some(c) = check::nhs_digit(&d) {
            return (d, c);
        }
    }
}

fn uk_nhs(rng: &mut Rng) -> Value {
    let (mut d, c) = nhs_nine(rng);
    d.push(c);
    let n = digits_of(&d);
    match rng.below(5) {
        0 | 1 => Value::new("uk_nhs", "compact", n, Need::Context),
        2 | 3 => Value::new(
            "uk_nhs",
            "spaced",
            grouped(&n, &[3, 3, 4], " "),
            Need::Context,
        ),
        _ => Value::new("uk_nhs", "json_number", n, Need::Context).number(),
    }
}

const FIRST: &[&str] = &[
    "anna", "james", "mario", "sophie", "lukas", "emma", "noah", "olivia", "hugo", "lea", "finn",
    "mila", "arjun", "priya", "jan", "eva", "lars", "ingrid", "pablo", "lucia",
];
const LAST: &[&str] = &[
    "schmidt", "smith", "rossi", "dupont", "devries", "garcia", "kowalski", "nielsen", "hansen",
    "murphy", "patel", "sharma", "jones", "muller", "bakker", "moreau",
];

fn email(rng: &mut Rng) -> Value {
    let (f, l) = (rng.pick(FIRST), rng.pick(LAST));
    let domain = rng.pick(&[
        "example.com",
        "mail.example.org",
        "example.co.uk",
        "beispiel.de",
        "exemple.fr",
        "voorbeeld.nl",
        "ejemplo.es",
        "esempio.it",
        "corp.example.net",
    ]);
    let (form, written) = match rng.below(12) {
        0..=2 => ("ascii", format!("{f}.{l}@{domain}")),
        3 => (
            "initial",
            format!("{}{l}{}@{domain}", &f[..1], rng.range(1, 99)),
        ),
        4 => ("plus_tag", format!("{f}+orders@{domain}")),
        5 => (
            "underscore_upper",
            format!("{}_{}@{}", f, l.to_uppercase(), domain.to_uppercase()),
        ),
        6 => (
            "accented_local",
            format!(
                "{}@{domain}",
                rng.pick(&["josé.garcía", "zoë.müller", "françois", "søren.ørsted"])
            ),
        ),
        7 => (
            "idn_domain",
            format!(
                "{f}@{}",
                rng.pick(&["bücher.de", "exämple.com", "straße.de", "café.fr"])
            ),
        ),
        8 => (
            "cjk",
            rng.pick(&["用户@例子.广告", "山田@例え.jp", "사용자@예시.한국"])
                .to_owned(),
        ),
        9 => (
            "cyrillic",
            rng.pick(&["иван@пример.рф", "ольга@почта.рф"]).to_owned(),
        ),
        10 => ("punycode_domain", format!("{f}@xn--bcher-kva.de")),
        _ => ("punycode_tld", format!("{f}.{l}@xn--e1afmkfd.xn--p1ai")),
    };
    Value::new("email", form, written, Need::Nothing)
}

/// A numbering plan's written forms: a form name, a pattern and what it
/// needs. In patterns `#` is any digit, `N` 2–9, `P` 6–9, `@` a North
/// American area code; everything else is written as is.
const PHONE_FORMS: &[(&str, &str, Need)] = &[
    // United States and Canada.
    ("nanp_parens", "(@) N##-####", Need::Nothing),
    ("nanp_parens_glued", "(@)N##-####", Need::Nothing),
    ("nanp_parens_spaced", "(@) N## ####", Need::Nothing),
    ("nanp_dashed", "@-N##-####", Need::Nothing),
    ("nanp_trunk_dashed", "1-@-N##-####", Need::Nothing),
    ("nanp_trunk_parens", "1 (@) N##-####", Need::Nothing),
    ("nanp_e164", "+1@N######", Need::Nothing),
    ("nanp_e164_spaced", "+1 @ N## ####", Need::Nothing),
    ("nanp_e164_dashed", "+1-@-N##-####", Need::Nothing),
    ("nanp_e164_parens", "+1 (@) N##-####", Need::Nothing),
    ("nanp_spaced", "@ N## ####", Need::Context),
    ("nanp_dotted", "@.N##.####", Need::Context),
    ("nanp_trunk_spaced", "1 @ N## ####", Need::Context),
    ("nanp_e164_dotted", "+1.@.N##.####", Need::Nothing),
    // United Kingdom.
    ("uk_london", "020 7### ####", Need::Context),
    ("uk_city", "0161 ### ####", Need::Context),
    ("uk_small_town", "01632 ######", Need::Context),
    ("uk_mobile", "07### ######", Need::Context),
    ("uk_parens", "(020) 8### ####", Need::Nothing),
    ("uk_e164", "+44 20 7### ####", Need::Nothing),
    ("uk_e164_trunk", "+44 (0)20 7### ####", Need::Nothing),
    ("uk_e164_mobile", "+44 7### ######", Need::Nothing),
    ("uk_e164_compact", "+447#########", Need::Nothing),
    ("uk_00", "0044 20 7### ####", Need::Context),
    ("uk_mobile_run", "07#########", Need::Context),
    // Germany.
    ("de_berlin", "030 #######", Need::Context),
    ("de_slash", "030/#######", Need::Nothing),
    ("de_parens", "(089) #######", Need::Nothing),
    ("de_parens_trunk_apart", "(0 30) ### ## ##", Need::Nothing),
    ("de_cologne", "0221 #######", Need::Context),
    ("de_mobile", "0151 ########", Need::Context),
    ("de_mobile_dashed", "0171-#######", Need::Context),
    ("de_e164", "+49 30 ########", Need::Nothing),
    ("de_e164_mobile", "+49 151 ########", Need::Nothing),
    ("de_e164_compact", "+49171#######", Need::Nothing),
    ("de_e164_trunk", "+49 (0)30 #######", Need::Nothing),
    ("de_00", "0049 30 ########", Need::Context),
    ("de_run", "0151########", Need::Context),
    ("de_00_run", "004930########", Need::Context),
    // France.
    ("fr_pairs", "01 ## ## ## ##", Need::Nothing),
    ("fr_mobile", "06 ## ## ## ##", Need::Nothing),
    ("fr_dotted", "07.##.##.##.##", Need::Nothing),
    ("fr_dashed", "04-##-##-##-##", Need::Nothing),
    ("fr_e164", "+33 6 ## ## ## ##", Need::Nothing),
    ("fr_e164_compact", "+331########", Need::Nothing),
    ("fr_run", "06########", Need::Context),
    // Netherlands.
    ("nl_amsterdam", "020 ### ####", Need::Context),
    ("nl_rotterdam", "010-### ## ##", Need::Context),
    ("nl_mobile", "06 ########", Need::Context),
    ("nl_mobile_dashed", "06-########", Need::Context),
    ("nl_e164", "+31 20 ### ####", Need::Nothing),
    ("nl_e164_mobile", "+31 6 ########", Need::Nothing),
    ("nl_run", "06########", Need::Context),
    // Spain: no trunk prefix.
    ("es_mobile", "6## ### ###", Need::Context),
    ("es_madrid", "91 ### ## ##", Need::Context),
    ("es_run", "6########", Need::Context),
    ("es_e164", "+34 6## ### ###", Need::Nothing),
    ("es_e164_landline", "+34 91 ### ## ##", Need::Nothing),
    // Italy: landlines keep their 0, mobiles start with 3.
    ("it_rome", "06 #### ####", Need::Context),
    ("it_milan", "02 #### ####", Need::Context),
    ("it_turin", "011 ### ####", Need::Context),
    ("it_mobile", "3## ### ####", Need::Context),
    ("it_mobile_run", "3#########", Need::Context),
    ("it_e164", "+39 06 #### ####", Need::Nothing),
    ("it_e164_mobile", "+39 3## ### ####", Need::Nothing),
    // Switzerland.
    ("ch_zurich", "044 ### ## ##", Need::Context),
    ("ch_mobile", "079 ### ## ##", Need::Context),
    ("ch_e164", "+41 44 ### ## ##", Need::Nothing),
    ("ch_e164_mobile", "+41 79 ### ## ##", Need::Nothing),
    ("ch_run", "079#######", Need::Context),
    // Austria.
    ("at_vienna", "01 ### ####", Need::Context),
    ("at_mobile", "0664 #######", Need::Context),
    ("at_graz", "0316 ######", Need::Context),
    ("at_e164", "+43 1 ### ####", Need::Nothing),
    ("at_e164_mobile", "+43 664 #######", Need::Nothing),
    // Belgium.
    ("be_brussels", "02 ### ## ##", Need::Context),
    ("be_mobile", "0470 ## ## ##", Need::Context),
    ("be_mobile_slash", "0470/##.##.##", Need::Nothing),
    ("be_e164", "+32 2 ### ## ##", Need::Nothing),
    ("be_e164_mobile", "+32 470 ## ## ##", Need::Nothing),
    // Ireland.
    ("ie_dublin", "01 ### ####", Need::Context),
    ("ie_mobile", "087 ### ####", Need::Context),
    ("ie_e164", "+353 1 ### ####", Need::Nothing),
    ("ie_e164_mobile", "+353 87 ### ####", Need::Nothing),
    // Poland: no trunk prefix.
    ("pl_mobile", "5## ### ###", Need::Context),
    ("pl_warsaw", "22 ### ## ##", Need::Context),
    ("pl_parens", "(22) ### ## ##", Need::Context),
    ("pl_e164", "+48 5## ### ###", Need::Nothing),
    ("pl_e164_landline", "+48 22 ### ## ##", Need::Nothing),
    // Sweden.
    ("se_stockholm", "08-### ### ##", Need::Context),
    ("se_mobile", "070-### ## ##", Need::Context),
    ("se_e164", "+46 8 ### ### ##", Need::Nothing),
    ("se_e164_mobile", "+46 70 ### ## ##", Need::Nothing),
    // Denmark and Norway: eight digits, no trunk prefix.
    ("dk_pairs", "N# ## ## ##", Need::Context),
    ("dk_fours", "N### ####", Need::Context),
    ("dk_e164", "+45 N# ## ## ##", Need::Nothing),
    ("no_mobile", "9## ## ###", Need::Context),
    ("no_oslo", "22 ## ## ##", Need::Context),
    ("no_e164", "+47 9## ## ###", Need::Nothing),
    // Australia.
    ("au_parens", "(02) #### ####", Need::Nothing),
    ("au_melbourne", "03 #### ####", Need::Context),
    ("au_mobile", "04## ### ###", Need::Context),
    ("au_e164", "+61 2 #### ####", Need::Nothing),
    ("au_e164_mobile", "+61 4## ### ###", Need::Nothing),
    // India.
    ("in_delhi", "011 #### ####", Need::Context),
    ("in_mumbai", "022 #### ####", Need::Context),
    ("in_mobile", "P#### #####", Need::Context),
    ("in_mobile_run", "P#########", Need::Context),
    ("in_e164", "+91 P#### #####", Need::Nothing),
    ("in_e164_landline", "+91 11 #### ####", Need::Nothing),
    // After 00, a one-digit area code.
    ("fr_00", "0033 1 ## ## ## ##", Need::Context),
    ("at_00", "0043 1 ### ####", Need::Context),
    ("be_00", "0032 2 ### ## ##", Need::Context),
    ("se_00", "0046 8 ### ### ##", Need::Context),
    ("au_00", "0061 2 #### ####", Need::Context),
];

/// Area codes of the North American plan (US and Canada).
const NANP_AREAS: &[&str] = &[
    "201", "212", "213", "305", "312", "404", "415", "416", "503", "512", "514", "604", "617",
    "646", "702", "713", "720", "778", "800", "888", "905", "917",
];

pub fn phone_pattern(rng: &mut Rng, pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '#' => out.push(char::from(b'0' + rng.digit())),
            'N' => out.push(char::from(b'2' + rng.below(8) as u8)),
            'P' => out.push(char::from(b'6' + rng.below(4) as u8)),
            '@' => out.push_str(rng.pick(NANP_AREAS)),
            c => out.push(c),
        }
    }
    out
}

fn phone(rng: &mut Rng) -> Value {
    let (form, pattern, need) = rng.pick(PHONE_FORMS);
    Value::new("phone", form, phone_pattern(rng, pattern), need)
}

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url (RFC 4648 §5).
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(rng: &mut Rng) -> Value {
    let iat = rng.range(1_700_000_000, 1_800_000_000);
    let payload = format!(
        r#"{{"sub":"user_{}","iss":"https://auth.example.com","aud":"orders","iat":{iat},"exp":{}}}"#,
        rng.range(1, 999_999),
        iat + 3600
    );
    let (form, header, sig) = match rng.below(8) {
        0 | 1 => ("jws", r#"{"alg":"HS256","typ":"JWT"}"#, 32),
        2 => (
            "jws_reordered",
            r#"{"typ":"JWT","kid":"k1","alg":"RS256"}"#,
            256,
        ),
        3 => (
            "jws_spaced_header",
            r#"{ "alg": "ES256", "typ": "JWT" }"#,
            64,
        ),
        4 => ("jws_newline_header", "{\n  \"alg\": \"RS256\"\n}", 256),
        // `alg: none`: the signature is empty, the claims are still there.
        5 => ("jws_unsigned", r#"{"alg":"none"}"#, 0),
        // An empty claims set encodes to `e30`.
        6 => ("jws_empty_payload", r#"{"alg":"HS256"}"#, 32),
        _ => ("jwe", r#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#, 0),
    };
    let payload = if form == "jws_empty_payload" {
        "{}".to_owned()
    } else {
        payload
    };
    let h = base64url(header.as_bytes());
    let ciphertext = 48 + rng.below(64);
    let token = if form == "jwe" {
        format!(
            "{h}.{}.{}.{}.{}",
            base64url(&rng.bytes(256)),
            base64url(&rng.bytes(12)),
            base64url(&rng.bytes(ciphertext)),
            base64url(&rng.bytes(16))
        )
    } else {
        format!(
            "{h}.{}.{}",
            base64url(payload.as_bytes()),
            base64url(&rng.bytes(sig))
        )
    };
    Value::new("jwt", form, token, Need::Nothing)
}

/// The documented PEM labels of private keys.
const PEM_LABELS: &[&str] = &[
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "DSA PRIVATE KEY",
    "PGP PRIVATE KEY BLOCK",
];

fn private_key(rng: &mut Rng) -> Value {
    let label = rng.pick(PEM_LABELS);
    let size = 48 * (3 + rng.below(8));
    let body = base64url(&rng.bytes(size))
        .replace('-', "+")
        .replace('_', "/");
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let mut v = if rng.chance(3, 4) {
        let pem = format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----",
            lines.join("\n")
        );
        Value::new("private_key", "full", pem, Need::Nothing)
    } else {
        // Cut off before its END line: it runs to the end of the text.
        let keep = 1 + rng.below(lines.len());
        let pem = format!("-----BEGIN {label}-----\n{}", lines[..keep].join("\n"));
        Value::new("private_key", "truncated", pem, Need::Nothing)
    };
    v.last = true;
    v
}

/// AWS's documented unique-id prefixes other than AKIA (long-term keys)
/// and ASIA (temporary ones).
const AWS_PREFIXES: &[&str] = &[
    "AROA", "AIDA", "ANPA", "AGPA", "AIPA", "ANVA", "ABIA", "ACCA", "APKA",
];

fn aws_access_key(rng: &mut Rng) -> Value {
    let prefix = match rng.below(10) {
        0..=4 => "AKIA",
        5..=7 => "ASIA",
        _ => rng.pick(AWS_PREFIXES),
    };
    let id = format!(
        "{prefix}{}",
        rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    );
    let form = match prefix {
        "AKIA" => "long_term",
        "ASIA" => "temporary",
        _ => "other_prefix",
    };
    Value::new("aws_access_key", form, id, Need::Nothing)
}

/// An opaque bearer token: token68 characters with a digit in it.
pub fn opaque_token(rng: &mut Rng) -> String {
    loop {
        let t = match rng.below(4) {
            0 => {
                let n = 40 + rng.below(60);
                format!("ya29.a0{}", rng.chars(B64URL, n))
            }
            1 => {
                let n = 20 + rng.below(44);
                rng.chars(B64URL, n)
            }
            2 => rng.hex(40),
            _ => format!(
                "{}/{}+{}",
                rng.chars(B64URL, 12),
                rng.chars(B64URL, 12),
                rng.chars(B64URL, 8)
            ),
        };
        // A token must hold a digit, and must not read as a JWT header.
        if t.bytes().any(|c| c.is_ascii_digit()) && !t.starts_with("ey") && !t.starts_with("ew") {
            return t;
        }
    }
}

fn bearer_token(rng: &mut Rng) -> Value {
    let token = opaque_token(rng);
    let (form, sep, word) = match rng.below(10) {
        0..=2 => ("space", " ", "Bearer"),
        3 => ("lowercase", " ", "bearer"),
        4 => ("tab", "\t", "Bearer"),
        5 => ("line_break", "\r\n ", "Bearer"),
        6 => ("colon", ": ", "Bearer"),
        7 => ("equals", "=", "bearer"),
        8 => ("url_encoded", "%20", "Bearer"),
        _ => ("form_encoded", "+", "Bearer"),
    };
    let mut v = Value::new("bearer_token", form, token, Need::Nothing);
    v.written = format!("{word}{sep}{}", v.value);
    v.gluable = false;
    v
}
