//! Detector throughput: `cargo bench --bench detect`.
//!
//! The scrubber calls the detectors once per JSON string value, so the main
//! figures are over many short values, the way API bodies are made:
//! - `clean_values`: typical string values (names, ids, UUIDs, timestamps,
//!   amounts, URLs, sentences) in which nothing is found;
//! - `values_with_findings`: the same kind of values, a third of them holding
//!   a card number, an e-mail, a phone number, a token ...;
//! - `clean_prose_64k`: one long clean text, the per-byte cost without the
//!   per-call overhead;
//! - `unicode_values`: values with non-ASCII text, half of them with
//!   characters that fold (fullwidth and Arabic-Indic digits, Unicode
//!   spaces and dashes, zero-width characters), the cost of folding.
//!
//! Each is measured for `may_contain` (the pre-check), `scan` with every
//! detector, and the pair as the scrubber uses it (scan only when the
//! pre-check says so).

use std::hint::black_box;
use std::time::Duration;

use chaperone::scrub::detect::{DetectorSet, may_contain, scan};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Deterministic xorshift, so that every run measures the same data.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const CLEAN: &[&str] = &[
    "shipped",
    "pending",
    "EUR",
    "en-US",
    "Jane",
    "Doe",
    "Alice Martin",
    "ord_8f3k2LmQ",
    "cus_NffrFeUfNV2Hib",
    "550e8400-e29b-41d4-a716-446655440000",
    "2024-01-15T10:23:45.123Z",
    "2024-01-15",
    "1234.56",
    "19.99",
    "SKU-12345-XL-BLU",
    "ORD-2024-000123",
    "1700000000123",
    "1Z999AA10123456784",
    "https://api.example.com/v1/orders/550e8400-e29b-41d4-a716-446655440000/items?page=2",
    "https://cdn.example.com/img/products/12345/main@2x.png",
    "221B Baker Street",
    "London",
    "NW1 6XE",
    "Leave the parcel with the neighbour if nobody is home.",
    "Organic cotton crew-neck t-shirt, regular fit, pre-shrunk, machine washable at 30 degrees.",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "application/json",
    "v2.3.1",
    "Your order of 3 items ships on 2024-01-15 via UPS.",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "Müller Straße 12, 80331 München",
    "東京都千代田区丸の内1-1-1",
];

const SENSITIVE: &[&str] = &[
    "card 4111 1111 1111 1111 on file",
    "4111111111111111",
    "bob.smith@example.com",
    "Contact jane_doe@example.org for the refund.",
    "+1 (415) 555-2671",
    "Call (415) 555-2671 after 5pm",
    "SSN 123-45-6789",
    "GB82 WEST 1234 5698 7654 32",
    "Bearer mF_9.B5f-4.1JqMxyzABC0123",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "key AKIAIOSFODNN7EXAMPLE leaked",
];

const UNICODE: &[&str] = &[
    "Müller Straße 12, 80331 München",
    "東京都千代田区丸の内1-1-1",
    "Доставка завтра до 18:00",
    "josé@example.com",
    "カード番号 ４１１１ １１１１ １１１１ １１１１",
    "٤١١١١١١١١١١١١١١١",
    "4111\u{a0}1111\u{a0}1111\u{a0}1111",
    "4111\u{200b}1111\u{200b}1111\u{200b}1111",
    "Total: 12\u{a0}345,67\u{a0}€ – paid",
    "用户@例子.广告",
];

fn values(n: usize, sensitive_share: usize, rng: &mut Rng) -> Vec<String> {
    (0..n)
        .map(|_| {
            let pool = if rng.below(100) < sensitive_share {
                SENSITIVE
            } else {
                CLEAN
            };
            pool[rng.below(pool.len())].to_owned()
        })
        .collect()
}

fn prose(len: usize, rng: &mut Rng) -> String {
    let mut s = String::with_capacity(len + 128);
    while s.len() < len {
        s.push_str(CLEAN[rng.below(CLEAN.len())]);
        s.push(' ');
    }
    s
}

fn bench_set(c: &mut Criterion, name: &str, inputs: &[String]) {
    let bytes: usize = inputs.iter().map(String::len).sum();
    let all = DetectorSet::all();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("may_contain", |b| {
        b.iter(|| {
            inputs
                .iter()
                .filter(|v| may_contain(black_box(v), all))
                .count()
        })
    });
    group.bench_function("scan_all", |b| {
        b.iter(|| {
            inputs
                .iter()
                .map(|v| scan(black_box(v), all).len())
                .sum::<usize>()
        })
    });
    group.bench_function("may_contain_then_scan", |b| {
        b.iter(|| {
            inputs
                .iter()
                .filter(|v| may_contain(black_box(v), all))
                .map(|v| scan(v, all).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let clean = values(4096, 0, &mut rng);
    let mixed = values(4096, 33, &mut rng);
    let long = vec![prose(64 * 1024, &mut rng)];
    let unicode: Vec<String> = (0..4096)
        .map(|_| UNICODE[rng.below(UNICODE.len())].to_owned())
        .collect();
    bench_set(c, "clean_values", &clean);
    bench_set(c, "values_with_findings", &mixed);
    bench_set(c, "clean_prose_64k", &long);
    bench_set(c, "unicode_values", &unicode);
}

criterion_group! {
    name = detect;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}
criterion_main!(detect);
