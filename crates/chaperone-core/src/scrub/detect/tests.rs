//! Tests of the detectors over their shapes, checksums and context, one
//! detector at a time.

use super::*;

fn found(text: &str, set: DetectorSet) -> Vec<(Detector, &str)> {
    scan(text, set)
        .into_iter()
        .map(|f| (f.detector, &text[f.range()]))
        .collect()
}

#[test]
fn names_round_trip() {
    for d in Detector::ALL {
        assert_eq!(Detector::parse(d.name()), Some(d));
        assert_eq!(d.to_string(), d.name());
    }
    assert_eq!(Detector::parse("PAN"), None);
    assert_eq!(Detector::parse(""), None);
    let names: Vec<_> = Detector::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(
        names,
        [
            "pan",
            "iban",
            "us_ssn",
            "email",
            "phone",
            "jwt",
            "private_key",
            "aws_access_key",
            "bearer_token",
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
            "uk_nhs"
        ]
    );
}

#[test]
fn all_is_sorted_like_the_enum() {
    assert!(Detector::ALL.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn detector_sets() {
    let empty = DetectorSet::empty();
    assert!(empty.is_empty());
    assert_eq!(empty, DetectorSet::default());
    assert_eq!(empty.iter().count(), 0);
    let all = DetectorSet::all();
    assert!(Detector::ALL.iter().all(|&d| all.contains(d)));
    assert_eq!(all.iter().collect::<Vec<_>>(), Detector::ALL);
    let two = empty.with(Detector::Jwt).with(Detector::Pan);
    assert!(two.contains(Detector::Pan) && two.contains(Detector::Jwt));
    assert!(!two.contains(Detector::Email));
    assert_eq!(
        two.iter().collect::<Vec<_>>(),
        [Detector::Pan, Detector::Jwt]
    );
    assert_eq!(two, [Detector::Jwt, Detector::Pan].into_iter().collect());
    assert_eq!(
        DetectorSet::from(Detector::Pan).union(Detector::Jwt.into()),
        two
    );
}

#[test]
fn scan_respects_the_set() {
    let text = "card 4111111111111111 mail bob@example.com";
    assert_eq!(
        found(text, DetectorSet::all()),
        [
            (Detector::Pan, "4111111111111111"),
            (Detector::Email, "bob@example.com")
        ]
    );
    assert_eq!(
        found(text, Detector::Email.into()),
        [(Detector::Email, "bob@example.com")]
    );
    assert!(found(text, DetectorSet::empty()).is_empty());
    assert!(found(text, Detector::Jwt.into()).is_empty());
}

#[test]
fn overlaps_keep_the_longer_match() {
    // A JWT sent as a bearer token: the same range, and jwt comes first.
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let text = format!("Authorization: Bearer {jwt}");
    assert_eq!(found(&text, DetectorSet::all()), [(Detector::Jwt, jwt)]);
    assert_eq!(
        found(&text, Detector::BearerToken.into()),
        [(Detector::BearerToken, jwt)]
    );
    // A phone number inside a longer token: the token wins.
    let text = "Bearer abc/+14155552671/xyz";
    assert_eq!(
        found(text, Detector::Phone.into()),
        [(Detector::Phone, "+14155552671")]
    );
    assert_eq!(
        found(text, DetectorSet::all()),
        [(Detector::BearerToken, "abc/+14155552671/xyz")]
    );
}

#[test]
fn resolve_picks_longest_then_detector_order() {
    let f = Finding::new;
    let text = "x".repeat(80);
    let got = resolve(
        &text,
        vec![
            f(Detector::Phone, 0, 10),
            f(Detector::Email, 5, 30),
            f(Detector::Pan, 25, 40),
            f(Detector::Jwt, 50, 60),
            f(Detector::BearerToken, 50, 60),
            f(Detector::UsSsn, 70, 75),
        ],
    );
    // What of a loser the winner does not cover stays a finding of its
    // detector; a loser the winner covers whole is gone.
    assert_eq!(
        got,
        [
            f(Detector::Phone, 0, 5),
            f(Detector::Email, 5, 30),
            f(Detector::Pan, 30, 40),
            f(Detector::Jwt, 50, 60),
            f(Detector::UsSsn, 70, 75)
        ]
    );
    // In a chain, the longest (18..40) beats its neighbour (8..20), which
    // lets the first (0..10) stand; the neighbour keeps what lies between.
    let got = resolve(
        &text,
        vec![
            f(Detector::Pan, 0, 10),
            f(Detector::Email, 8, 20),
            f(Detector::Phone, 18, 40),
        ],
    );
    assert_eq!(
        got,
        [
            f(Detector::Pan, 0, 10),
            f(Detector::Email, 10, 18),
            f(Detector::Phone, 18, 40)
        ]
    );
    // A piece with no letter or digit left is no value.
    let text = "4111111111111111 -- x";
    let got = resolve(
        text,
        vec![f(Detector::Pan, 0, 16), f(Detector::Phone, 10, 19)],
    );
    assert_eq!(got, [f(Detector::Pan, 0, 16)]);
}

#[test]
fn may_contain_is_cheap_and_sound() {
    let clean = [
        "",
        "shipped",
        "Order ORD-2024-000123 shipped on 2024-01-15T10:23:45Z",
        "{\"sku\":\"ABC-123\",\"qty\":2}",
        "The quick brown fox jumps over the lazy dog",
    ];
    for t in clean {
        assert!(!may_contain(t, DetectorSet::all()) || scan(t, DetectorSet::all()).is_empty());
    }
    assert!(!may_contain("shipped", DetectorSet::all()));
    assert!(!may_contain("The quick brown fox", DetectorSet::all()));
    assert!(!may_contain("4111111111111111", DetectorSet::empty()));
    assert!(may_contain("4111111111111111", Detector::Pan.into()));
    assert!(!may_contain("4111111111111111", Detector::Email.into()));
    assert!(may_contain("a@b.co", Detector::Email.into()));
    assert!(may_contain(
        "x BEARER abcdefghijklmnop1",
        Detector::BearerToken.into()
    ));
}

#[test]
fn matches_whole_trims_and_is_strict() {
    assert!(matches_whole(" 4111 1111 1111 1111\n", Detector::Pan));
    assert!(!matches_whole("card 4111 1111 1111 1111", Detector::Pan));
    assert!(!matches_whole("4111 1111 1111 1111", Detector::Iban));
    assert!(matches_whole("123456789", Detector::UsSsn));
    assert!(matches_whole("GB82 WEST 1234 5698 7654 32", Detector::Iban));
    assert!(matches_whole("bob@example.com", Detector::Email));
    assert!(!matches_whole("bob@example.com x", Detector::Email));
    assert!(matches_whole("+1 415 555 2671", Detector::Phone));
    assert!(matches_whole(
        "AKIAIOSFODNN7EXAMPLE",
        Detector::AwsAccessKey
    ));
    assert!(matches_whole(
        "Bearer abcdefghijklmnop1",
        Detector::BearerToken
    ));
    for d in Detector::ALL {
        assert!(!matches_whole("", d));
        assert!(!matches_whole("   ", d));
    }
}

#[test]
fn findings_fall_on_char_boundaries_next_to_multibyte_text() {
    let text = "é4111111111111111€ bob@example.com😀 ж+14155552671ж";
    let got = found(text, DetectorSet::all());
    assert_eq!(
        got,
        [
            (Detector::Pan, "4111111111111111"),
            (Detector::Email, "bob@example.com"),
            (Detector::Phone, "+14155552671")
        ]
    );
}

/// On random text: the pre-checks are necessary conditions (scanning with
/// them gives exactly what the detectors find without them), and no detector
/// overlaps its own matches.
#[test]
fn pre_checks_never_hide_a_match() {
    const PIECES: &[&str] = &[
        "4111",
        "1111",
        "4111111111111111",
        "5555555555554444",
        "-",
        " ",
        "+",
        "(",
        ")",
        ".",
        "@",
        "bob",
        "example.com",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJzdWIiOiIxIn0",
        "GB82",
        "WEST",
        "1234",
        "5698",
        "7654",
        "32",
        "AKIA",
        "IOSFODNN7EXAMPLE",
        "Bearer ",
        "bEaReR ",
        "abcdefghijklmnop1",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "123",
        "45",
        "6789",
        "415",
        "555",
        "2671",
        "1",
        "44",
        "x",
        "é",
        "😀",
        "GB82 WEST 1234 5698 7654 32",
        "123-45-6789",
        "+14155552671",
        "(415) 555-2671",
        "bob@example.com",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "AB123456C",
        "AB 12 34 56 C",
        "steuer 86 095 742 719",
        "nir 184127645108946",
        "bsn 111222333",
        "dni 12345678Z",
        "NIE X1234567L",
        "RSSMRA85T10A562S",
        "529.982.247-25",
        "aadhaar 2345 6789 0124",
        "912-70-1234",
        "EIN 12-3456789",
        "npi 1234567893",
        "dea AB1234563",
        "nhs 943 476 5919",
    ];
    let mut state = 0x853c_49e6_748f_ea9b_u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut matched = [0usize; Detector::ALL.len()];
    for _ in 0..20_000 {
        let text: String = (0..next(24)).map(|_| PIECES[next(PIECES.len())]).collect();
        for d in Detector::ALL {
            let mut ungated = Vec::new();
            d.find(&text, Context::default(), &mut ungated);
            // A detector's own matches are sorted and disjoint before any
            // resolution ...
            assert!(
                ungated.windows(2).all(|w| w[0].end <= w[1].start),
                "{d} overlaps itself in {text:?}: {ungated:?}"
            );
            // ... and the pre-check never changes them.
            assert_eq!(scan(&text, d.into()), ungated, "{d} in {text:?}");
            matched[d.index() as usize] += ungated.len();
        }
    }
    // Every detector does match, so the comparison is not vacuous.
    assert!(matched.iter().all(|&n| n > 100), "{matched:?}");
}
