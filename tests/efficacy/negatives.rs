//! Look-alikes that must not be found: the numbers API payloads carry
//! beside sensitive ones (ids, timestamps, prices, tracking numbers,
//! barcodes, versions, addresses, dates), and the sensitive identifiers
//! themselves with an invalid check digit or an unallocated range, written
//! where the real ones would stand. None is a sensitive value by the
//! documented rules: a generated one that would be (a random run that is a
//! Luhn-valid card number, digits of a mistyped IBAN that read as a card or
//! a phone number) is drawn again or written otherwise.

use crate::check;
use crate::positives;
use crate::rng::Rng;

/// One look-alike, with where it may stand.
pub struct Look {
    pub kind: &'static str,
    pub value: String,
    /// Member names it may stand under.
    pub keys: &'static [&'static str],
    /// Labels written right before it in text, as text names such values
    /// (`order`, `tracking`, `ref`); the invalid identifiers carry their
    /// identifier's words.
    pub labels: &'static [&'static str],
    /// Written as a JSON number under a member.
    pub number: bool,
}

pub const KINDS: &[&str] = &[
    "order_id",
    "uuid",
    "iso_timestamp",
    "epoch_seconds",
    "epoch_millis",
    "price",
    "tracking_ups",
    "tracking_fedex",
    "tracking_dhl",
    "tracking_royal_mail",
    "isbn10",
    "isbn13",
    "ean13",
    "invoice_number",
    "digit_run",
    "version",
    "ip_address",
    "date_de",
    "date_fr",
    "date_us",
    "hex_hash",
    "email_lookalike",
    "invalid_pan",
    "invalid_iban",
    "invalid_us_ssn",
    "invalid_uk_nino",
    "invalid_de_tax_id",
    "invalid_fr_nir",
    "invalid_nl_bsn",
    "invalid_es_dni",
    "invalid_it_fiscal_code",
    "invalid_br_cpf",
    "invalid_in_aadhaar",
    "invalid_us_itin",
    "invalid_us_ein",
    "invalid_us_npi",
    "invalid_us_dea",
    "invalid_uk_nhs",
    "invalid_phone",
    "invalid_aws_access_key",
];

/// A look-alike of `kind`.
pub fn generate(rng: &mut Rng, kind: &'static str) -> Look {
    loop {
        let mut look = match kind {
            "order_id" => order_id(rng),
            "uuid" => uuid(rng),
            "iso_timestamp" => iso_timestamp(rng),
            "epoch_seconds" => epoch(rng, false),
            "epoch_millis" => epoch(rng, true),
            "price" => price(rng),
            "tracking_ups" => tracking_ups(rng),
            "tracking_fedex" => tracking_fedex(rng),
            "tracking_dhl" => tracking_dhl(rng),
            "tracking_royal_mail" => tracking_royal_mail(rng),
            "isbn10" => isbn10(rng),
            "isbn13" => isbn13(rng),
            "ean13" => ean13(rng),
            "invoice_number" => invoice_number(rng),
            "digit_run" => digit_run(rng),
            "version" => version(rng),
            "ip_address" => ip_address(rng),
            "date_de" | "date_fr" | "date_us" => date(rng, kind),
            "hex_hash" => hex_hash(rng),
            "email_lookalike" => email_lookalike(rng),
            _ => invalid(rng, kind),
        };
        look.kind = kind;
        // An EAN-13 may pass Luhn too: it is then a card only where the
        // words say card (docs/scrubbing.md), so it stays a look-alike.
        if kind == "ean13" || !check::holds_card(&look.value) {
            return look;
        }
    }
}

fn look(value: String, keys: &'static [&'static str], labels: &'static [&'static str]) -> Look {
    Look {
        kind: "",
        value,
        keys,
        labels,
        number: false,
    }
}

const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn order_id(rng: &mut Rng) -> Look {
    let value = match rng.below(6) {
        0 => format!("ORD-20{}-{}", rng.range(20, 29), rng.digits(6)),
        1 => format!("#{}", rng.range(1000, 9_999_999)),
        2 => rng.range(1_000_000_000, 9_999_999_999).to_string(),
        3 => format!("ord_{}", rng.chars(BASE62, 14)),
        4 => format!(
            "SO-20{}{:02}{:02}-{}",
            rng.range(20, 29),
            rng.range(1, 12),
            rng.range(1, 28),
            rng.digits(4)
        ),
        _ => format!("{}-{}", rng.chars(ALNUM, 4), rng.chars(ALNUM, 4)),
    };
    look(
        value,
        &["order_id", "orderId", "order_number", "orderNo"],
        &["order ", "Order #", "order no. "],
    )
}

fn uuid(rng: &mut Rng) -> Look {
    let u = format!(
        "{}-{}-4{}-{}{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(3),
        rng.pick(&['8', '9', 'a', 'b']),
        rng.hex(3),
        rng.hex(12)
    );
    let value = match rng.below(4) {
        0 => u.to_uppercase(),
        1 => u.replace('-', ""),
        _ => u,
    };
    look(
        value,
        &[
            "id",
            "request_id",
            "uuid",
            "correlation_id",
            "idempotency_key",
        ],
        &["request id ", "uuid ", "id="],
    )
}

fn iso_timestamp(rng: &mut Rng) -> Look {
    let (y, mo, d) = (rng.range(2019, 2030), rng.range(1, 12), rng.range(1, 28));
    let (h, mi, s) = (rng.range(0, 23), rng.range(0, 59), rng.range(0, 59));
    let value = match rng.below(4) {
        0 => format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        1 => format!(
            "{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{}+0{}:00",
            rng.digits(3),
            rng.range(1, 9)
        ),
        2 => format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        _ => format!(
            "{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{}Z",
            rng.digits(6)
        ),
    };
    look(
        value,
        &["created_at", "updated_at", "timestamp", "ts"],
        &["at ", "timestamp ", "ts="],
    )
}

fn epoch(rng: &mut Rng, millis: bool) -> Look {
    let seconds = rng.range(1_500_000_000, 1_899_999_999);
    let value = if millis {
        format!("{seconds}{}", rng.digits(3))
    } else {
        seconds.to_string()
    };
    let mut l = look(
        value,
        &["created", "ts", "timestamp", "expires_at", "updated"],
        &["ts=", "epoch ", "timestamp "],
    );
    l.number = rng.chance(1, 2);
    l
}

fn price(rng: &mut Rng) -> Look {
    let units = rng.range(1, 99_999);
    let cents = rng.range(0, 99);
    let grouped = |sep: char| {
        if units >= 1000 {
            format!("{}{sep}{:03}", units / 1000, units % 1000)
        } else {
            units.to_string()
        }
    };
    let (value, number) = match rng.below(8) {
        0 => (format!("{units}.{cents:02}"), true),
        1 => (format!("{units}"), true),
        2 => (format!("{}.{cents:02}", grouped(',')), false),
        3 => (format!("{},{cents:02}", grouped('.')), false),
        4 => (format!("${}.{cents:02}", grouped(',')), false),
        5 => (format!("€{units},{cents:02}"), false),
        // French: a space between thousands.
        6 => (format!("{},{cents:02} €", grouped(' ')), false),
        _ => (format!("{units}.{cents:02} EUR"), false),
    };
    let mut l = look(
        value,
        &["price", "amount", "total", "unit_price", "subtotal"],
        &["total ", "price: ", "for ", "refund of "],
    );
    l.number = number;
    l
}

const TRACKING_KEYS: &[&str] = &[
    "tracking_number",
    "trackingNumber",
    "tracking",
    "shipment_id",
];

fn tracking_ups(rng: &mut Rng) -> Look {
    let body = format!(
        "{}{}{}",
        rng.chars(ALNUM, 6),
        rng.pick(&["01", "02", "03", "12", "13"]),
        rng.digits(7)
    );
    let check = check::ups_digit(&body);
    look(
        format!("1Z{body}{check}"),
        TRACKING_KEYS,
        &["UPS tracking ", "tracking ", "tracking number "],
    )
}

fn tracking_fedex(rng: &mut Rng) -> Look {
    let value = if rng.chance(2, 3) {
        let d = rng.digit_values(11);
        format!("{}{}", digits(&d), check::fedex_digit(&d))
    } else {
        format!("96{}", rng.digits(13))
    };
    look(
        value,
        TRACKING_KEYS,
        &["FedEx tracking ", "tracking ", "shipment "],
    )
}

fn tracking_dhl(rng: &mut Rng) -> Look {
    let nine = rng.range(100_000_000, 999_999_999);
    look(
        format!("{nine}{}", nine % 7),
        TRACKING_KEYS,
        &["DHL tracking ", "tracking ", "parcel "],
    )
}

fn tracking_royal_mail(rng: &mut Rng) -> Look {
    let d = rng.digit_values(8);
    look(
        format!(
            "{}{}{}GB",
            rng.pick(&["RR", "RA", "LX", "CP", "VA"]),
            digits(&d),
            check::s10_digit(&d)
        ),
        TRACKING_KEYS,
        &["Royal Mail tracking ", "tracking ", "parcel "],
    )
}

fn isbn10(rng: &mut Rng) -> Look {
    let d = rng.digit_values(9);
    let c = check::isbn10_check(&d);
    let s = digits(&d);
    let value = if rng.chance(1, 2) {
        format!("{}-{}-{}-{c}", &s[..1], &s[1..4], &s[4..])
    } else {
        format!("{s}{c}")
    };
    look(value, &["isbn", "isbn10"], &["ISBN ", "ISBN-10: "])
}

fn isbn13(rng: &mut Rng) -> Look {
    let mut d = vec![9, 7, rng.pick(&[8, 9])];
    d.extend(rng.digit_values(9));
    d.push(check::gtin_digit(&d));
    let s = digits(&d);
    let value = if rng.chance(1, 2) {
        format!(
            "{}-{}-{}-{}-{}",
            &s[..3],
            &s[3..4],
            &s[4..6],
            &s[6..12],
            &s[12..]
        )
    } else {
        s
    };
    look(value, &["isbn", "isbn13"], &["ISBN ", "ISBN-13: "])
}

/// EAN-13 under the GS1 prefixes of the countries the corpus covers
/// (Germany's 400–440 and the UK's 50 start like Visa and Maestro cards).
fn ean13(rng: &mut Rng) -> Look {
    let prefix = rng.pick(&[
        "400", "401", "402", "403", "404", "405", "406", "407", "408", "409", "410", "419", "420",
        "425", "430", "440", "50", "30", "34", "37", "54", "57", "590", "70", "73", "76", "80",
        "84", "87", "890", "90", "93", "00", "03",
    ]);
    let mut d: Vec<u8> = prefix.bytes().map(|c| c - b'0').collect();
    d.extend(rng.digit_values(12 - d.len()));
    d.push(check::gtin_digit(&d));
    look(
        digits(&d),
        &["ean", "gtin", "barcode", "ean13", "gtin13", "value"],
        &["EAN ", "barcode ", "GTIN "],
    )
}

fn invoice_number(rng: &mut Rng) -> Look {
    let value = match rng.below(4) {
        0 => format!("INV-20{}-{}", rng.range(20, 29), rng.digits(6)),
        1 => format!("RE-20{}/{}", rng.range(20, 29), rng.digits(4)),
        2 => format!("F20{}-{}", rng.range(20, 29), rng.digits(5)),
        _ => format!("20{}{}", rng.range(20, 29), rng.digits(6)),
    };
    look(
        value,
        &["invoice_number", "invoiceNo", "invoice", "receipt_number"],
        &["invoice ", "Invoice no. ", "receipt "],
    )
}

/// A random run of 8 to 16 digits: a reference, a batch or a counter.
fn digit_run(rng: &mut Rng) -> Look {
    let len = 8 + rng.below(9);
    let value = format!("{}{}", 1 + rng.below(9), rng.digits(len - 1));
    look(
        value,
        &[
            "reference",
            "external_ref",
            "batch",
            "seq",
            "ext_id",
            "value",
        ],
        &["ref ", "reference ", "seq "],
    )
}

fn version(rng: &mut Rng) -> Look {
    let value = match rng.below(5) {
        0 => format!("{}.{}.{}", rng.below(20), rng.below(40), rng.below(200)),
        1 => format!("v{}.{}.{}", rng.below(20), rng.below(40), rng.below(30)),
        2 => format!("10.0.{}.{}", rng.range(10_000, 26_000), rng.range(1, 9999)),
        3 => format!(
            "{}.{}.{}-rc.{}",
            rng.below(10),
            rng.below(30),
            rng.below(30),
            rng.range(1, 9)
        ),
        _ => format!(
            "{}.{}.{}+build.{}",
            rng.below(10),
            rng.below(30),
            rng.below(30),
            rng.range(1, 9999)
        ),
    };
    look(
        value,
        &["version", "app_version", "sdk_version", "build"],
        &["version ", "build ", "app version "],
    )
}

fn ip_address(rng: &mut Rng) -> Look {
    let octet = |rng: &mut Rng| rng.range(1, 254);
    let value = match rng.below(4) {
        0 => format!(
            "{}.{}.{}.{}",
            octet(rng),
            octet(rng),
            octet(rng),
            octet(rng)
        ),
        1 => format!(
            "10.{}.{}.{}:{}",
            octet(rng),
            octet(rng),
            octet(rng),
            rng.range(1024, 65535)
        ),
        2 => format!("192.168.{}.{}", octet(rng), octet(rng)),
        _ => format!("2001:db8:{}:{}::{}", rng.hex(4), rng.hex(4), rng.hex(3)),
    };
    look(
        value,
        &["ip", "client_ip", "remote_addr", "x_forwarded_for"],
        &["from ", "ip=", "client "],
    )
}

fn date(rng: &mut Rng, kind: &str) -> Look {
    let (y, m, d) = (rng.range(1930, 2030), rng.range(1, 12), rng.range(1, 28));
    let time = if rng.chance(1, 3) {
        format!(" {:02}:{:02}", rng.range(0, 23), rng.range(0, 59))
    } else {
        String::new()
    };
    let value = match kind {
        "date_de" => format!("{d:02}.{m:02}.{y}{time}"),
        "date_fr" => format!("{d:02}/{m:02}/{y}{time}"),
        _ if rng.chance(1, 2) => format!("{m:02}/{d:02}/{y}{time}"),
        _ => format!("{m:02}-{d:02}-{y}"),
    };
    look(
        value,
        &["date", "delivery_date", "date_of_birth", "valid_until"],
        &["on ", "delivered ", "le ", "am "],
    )
}

fn hex_hash(rng: &mut Rng) -> Look {
    let n = rng.pick(&[7, 12, 32, 40, 64]);
    look(
        rng.hex(n),
        &["sha", "commit", "etag", "digest", "checksum"],
        &["commit ", "sha256:", "checksum "],
    )
}

fn email_lookalike(rng: &mut Rng) -> Look {
    let name = rng.pick(&["icon", "logo", "avatar", "banner", "hero"]);
    let value = match rng.below(5) {
        0 => format!("{name}@{}x.png", rng.range(2, 3)),
        1 => format!("{name}@2x.webp"),
        2 => format!("git@github.com:acme/{name}.git"),
        3 => format!("{name}@localhost"),
        _ => format!("@{name}_{}", rng.range(1, 999)),
    };
    look(
        value,
        &["image", "icon", "avatar_url", "repo", "handle"],
        &["see ", "repo ", "image "],
    )
}

fn digits(d: &[u8]) -> String {
    d.iter().map(|&x| char::from(b'0' + x)).collect()
}

/// An identifier written as the real one is, where the real one stands,
/// whose check digit, letter or range is wrong.
fn invalid(rng: &mut Rng, kind: &'static str) -> Look {
    let detector = kind.trim_start_matches("invalid_");
    let v = positives::vocab(detector);
    let value = match detector {
        "pan" => invalid_pan(rng),
        "iban" => {
            let (country, bban) = positives::iban_parts(rng);
            let good = check::iban_check(country, &bban);
            let bad = loop {
                let c = rng.range(2, 98) as u32;
                if c != good {
                    break c;
                }
            };
            // Grouped, a group of digits from 0 after one with letters
            // ("NL78 RKUX 0911 8396 46") reads as a national phone number
            // by the documented rules: such a look-alike stays compact.
            let iban = format!("{country}{bad:02}{bban}");
            let grouped = positives::iban_written(&iban, true);
            let groups: Vec<&str> = grouped.split(' ').collect();
            let phone = groups
                .windows(2)
                .any(|w| w[0].bytes().any(|c| c.is_ascii_alphabetic()) && w[1].starts_with('0'));
            if rng.chance(1, 2) && !phone {
                grouped
            } else {
                iban
            }
        }
        "us_ssn" => {
            let (a, g, s) = positives::ssn_parts(rng);
            match rng.below(6) {
                0 => format!("000-{g:02}-{s:04}"),
                1 => format!("666-{g:02}-{s:04}"),
                // Area 9xx with a group the IRS gives no ITIN either.
                2 => format!(
                    "{}-{:02}-{s:04}",
                    rng.range(900, 999),
                    rng.pick(&[1, 12, 33, 49, 66, 69, 89, 93])
                ),
                3 => format!("{a:03}-00-{s:04}"),
                4 => format!("{a:03}-{g:02}-0000"),
                _ => rng.pick(&["078-05-1120", "219-09-9999"]).to_owned(),
            }
        }
        "uk_nino" => {
            let (a, b) = loop {
                let (a, b) = (b'A' + rng.below(26) as u8, b'A' + rng.below(26) as u8);
                if !positives::nino_prefix_ok(a, b) {
                    break (a, b);
                }
            };
            let d = rng.digits(6);
            // A prefix never allocated, or a suffix past D.
            let (p, suffix) = if rng.chance(1, 2) {
                (
                    format!("{}{}", char::from(a), char::from(b)),
                    rng.pick(&['A', 'B', 'C', 'D']),
                )
            } else {
                ("AB".to_owned(), char::from(b'E' + rng.below(22) as u8))
            };
            format!("{p} {} {} {} {suffix}", &d[..2], &d[2..4], &d[4..])
        }
        "de_tax_id" => {
            let ten = positives::steuer_ten(rng);
            let good = check::mod11_10_digit(&ten);
            let mut d = ten.clone();
            if rng.chance(1, 2) {
                d.push((good + 1 + rng.below(9) as u8) % 10);
            } else {
                // Every digit once: not a structure the BZSt issues.
                d = (0..10).collect();
                for i in (1..10).rev() {
                    let j = rng.below(i + 1);
                    d.swap(i, j);
                }
                if d[0] == 0 {
                    d.swap(0, 1 + rng.below(9));
                }
                d.push(check::mod11_10_digit(&d));
            }
            digits(&d)
        }
        "fr_nir" => {
            let t = positives::nir_thirteen(rng);
            let good = check::nir_key(&t);
            let bad = (good + rng.range(1, 95) as u32) % 97 + 1;
            let bad = if bad == good { good % 97 + 1 } else { bad };
            format!(
                "{} {} {} {} {} {} {bad:02}",
                &t[..1],
                &t[1..3],
                &t[3..5],
                &t[5..7],
                &t[7..10],
                &t[10..13]
            )
        }
        "nl_bsn" => loop {
            let d = rng.digit_values(9);
            if !check::bsn_ok(&d) {
                break digits(&d);
            }
        },
        "es_dni" => {
            let number = rng.range(1, 99_999_999) as u32;
            let good = check::dni_letter(number);
            let bad = loop {
                let l = char::from(rng.pick(check::DNI_LETTERS));
                if l != good {
                    break l;
                }
            };
            let n = format!("{number:08}");
            format!("{}.{}.{}-{bad}", &n[..2], &n[2..5], &n[5..])
        }
        "it_fiscal_code" => {
            let good = positives::codice_fiscale(rng, 0);
            let (body, check) = good.split_at(15);
            match rng.below(3) {
                0 => {
                    let bad = char::from(
                        b'A' + (check.as_bytes()[0] - b'A' + 1 + rng.below(25) as u8) % 26,
                    );
                    format!("{body}{bad}")
                }
                // A month letter no month has.
                1 => {
                    let mut b = body.as_bytes().to_vec();
                    b[8] = rng.pick(b"FGIJKNOQUVWXYZ");
                    let body = String::from_utf8(b).unwrap_or_default();
                    let c = check::cf_check(&body);
                    format!("{body}{c}")
                }
                // A day past 31 and before 41.
                _ => {
                    let mut b = body.as_bytes().to_vec();
                    let day = rng.range(32, 40).to_string();
                    b[9] = day.as_bytes()[0];
                    b[10] = day.as_bytes()[1];
                    let body = String::from_utf8(b).unwrap_or_default();
                    let c = check::cf_check(&body);
                    format!("{body}{c}")
                }
            }
        }
        "br_cpf" => {
            let nine = rng.digit_values(9);
            let (a, b) = check::cpf_digits(&nine);
            let n = digits(&nine);
            if rng.chance(1, 4) {
                let d = rng.digit();
                format!("{d}{d}{d}.{d}{d}{d}.{d}{d}{d}-{d}{d}")
            } else {
                let bad = (a * 10 + b + 1 + rng.below(98) as u8) % 100;
                format!("{}.{}.{}-{bad:02}", &n[..3], &n[3..6], &n[6..])
            }
        }
        // A first digit of 1 (0 would make "0123 4567 8901" a phone number
        // with its trunk prefix), or a Verhoeff check that fails.
        "in_aadhaar" => loop {
            let mut d = vec![1 + rng.below(9) as u8];
            d.extend(rng.digit_values(11));
            if d[0] == 1 || !check::verhoeff_ok(&d) {
                let s = digits(&d);
                break format!("{} {} {}", &s[..4], &s[4..8], &s[8..]);
            }
        },
        "us_itin" => format!(
            "9{}-{:02}-{}",
            rng.digits(2),
            rng.pick(&[10, 20, 30, 40, 49, 66, 67, 68, 69, 89, 93]),
            rng.digits(4)
        ),
        "us_ein" => format!(
            "{}-{}",
            rng.pick(&[17, 18, 19, 28, 29, 49, 69, 70, 78, 79, 89, 96, 97]),
            rng.digits(7)
        ),
        "us_npi" => loop {
            let mut d = vec![1 + rng.below(2) as u8];
            d.extend(rng.digit_values(9));
            if check::npi_digit(&d[..9]) != d[9] {
                break digits(&d);
            }
        },
        "us_dea" => {
            let six = rng.digit_values(6);
            let good = check::dea_digit(&six);
            let second = char::from(b'A' + rng.below(26) as u8);
            if rng.chance(1, 2) {
                let kind = char::from(rng.pick(positives::DEA_TYPES));
                format!(
                    "{kind}{second}{}{}",
                    digits(&six),
                    (good + 1 + rng.below(9) as u8) % 10
                )
            } else {
                // A letter no registrant type has.
                let kind = rng.pick(&['I', 'N', 'O', 'Q', 'V', 'W', 'Y', 'Z']);
                format!("{kind}{second}{}{good}", digits(&six))
            }
        }
        "uk_nhs" => {
            let (mut d, good) = positives::nhs_nine(rng);
            d.push((good + 1 + rng.below(9) as u8) % 10);
            let s = digits(&d);
            if rng.chance(1, 2) {
                s
            } else {
                format!("{} {} {}", &s[..3], &s[3..6], &s[6..])
            }
        }
        "phone" => {
            // North American numbers no plan issues: an area code from 1,
            // or an exchange from 0 or 1.
            let (area, exchange) = if rng.chance(1, 2) {
                (
                    format!("1{}", rng.digits(2)),
                    format!("{}{}", rng.range(2, 9), rng.digits(2)),
                )
            } else {
                (
                    format!("{}{}", rng.pick(&[2, 4, 5]), rng.digits(2)),
                    format!("{}{}", rng.below(2), rng.digits(2)),
                )
            };
            let line = rng.digits(4);
            if rng.chance(1, 2) {
                format!("{area}-{exchange}-{line}")
            } else {
                format!("({area}) {exchange}-{line}")
            }
        }
        _ => {
            // An access key id one character short or long, or in lower case.
            let id = format!("AKIA{}", rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
            match rng.below(3) {
                0 => id[..19].to_owned(),
                1 => format!("{id}{}", rng.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 1)),
                _ => id.to_lowercase(),
            }
        }
    };
    Look {
        kind,
        value,
        keys: v.keys,
        labels: v.phrases,
        number: false,
    }
}

/// A card number of a network's prefix and length whose Luhn check fails,
/// compact or grouped in fours.
fn invalid_pan(rng: &mut Rng) -> String {
    let (_, prefixes, lengths) = rng.pick(check::NETWORKS);
    let len = rng.pick(lengths).min(16);
    let mut d = positives::card_digits(rng, prefixes, len);
    let last = d.len() - 1;
    d[last] = (d[last] + 1 + rng.below(9) as u8) % 10;
    let s = digits(&d);
    if rng.chance(1, 2) {
        s
    } else {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
    }
}
