//! The scrubber against a serde_json `Value` parse-edit-serialize round trip,
//! on typical API JSON of 1 KB, 64 KB and 1 MB, in the same run: under a
//! contract with an allow-list and four classes, and under default scanning
//! (the built-in classes a hop scans when the policy says nothing).

use std::hint::black_box;
use std::time::Duration;

use chaperone::scrub::class::{Action, Classes, DataClass};
use chaperone::scrub::contract::Contract;
use chaperone::scrub::detect::{Detector, DetectorSet};
use chaperone::scrub::{BodyHeaders, scrub_body};
use chaperone::secret::HashKey;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// An order list like a typical API returns: ids, names, addresses,
/// amounts, timestamps, free-text notes; one card number in twenty notes.
fn document(target: usize) -> String {
    let mut items = Vec::new();
    let mut size = 2;
    let mut i = 0;
    while size < target {
        let note = if i % 20 == 7 {
            "customer paid with 4111 1111 1111 1111 at the counter".to_owned()
        } else {
            format!("leave the parcel at the back door, ring twice ({i})")
        };
        let item = format!(
            r#"{{"order_id":"ORD-2026-{i:06}","created_at":"2026-11-21T07:{:02}:00Z","status":"shipped","customer":{{"id":"c-{i}","name":"Customer Number {i}","tier":"gold"}},"shipping":{{"street":"{i} Long Street","city":"Springfield","zip":"{:05}","country":"US"}},"items":[{{"sku":"SKU-{i}-A","qty":2,"price":19.99}},{{"sku":"SKU-{i}-B","qty":1,"price":5.5}}],"total":45.48,"currency":"USD","note":"{note}","internal":{{"warehouse":"wh-3","margin":0.31}}}}"#,
            i % 60,
            (i * 37) % 100_000
        );
        size += item.len() + 1;
        items.push(item);
        i += 1;
    }
    format!("[{}]", items.join(","))
}

fn classes() -> Classes {
    let c = |name: &str, d: &[Detector], action| DataClass {
        name: name.into(),
        detectors: d.iter().fold(DetectorSet::empty(), |s, d| s.with(*d)),
        action,
    };
    Classes::new(vec![
        c("card_number", &[Detector::Pan], Action::MaskPan),
        c("national_id", &[Detector::UsSsn], Action::Redact),
        c("iban", &[Detector::Iban], Action::Redact),
        c(
            "secret",
            &[
                Detector::Jwt,
                Detector::PrivateKey,
                Detector::AwsAccessKey,
                Detector::BearerToken,
            ],
            Action::Redact,
        ),
    ])
}

/// Allow-list everything but `internal`, and scan the default classes.
fn contract(classes: &Classes) -> Contract {
    let mut c = Contract {
        scan: classes.iter().fold(DetectorSet::empty(), |s, c| {
            c.detectors.iter().fold(s, DetectorSet::with)
        }),
        text: true,
        max_body: 8 << 20,
        ..Contract::default()
    };
    for p in [
        "[*].order_id",
        "[*].created_at",
        "[*].status",
        "[*].customer",
        "[*].shipping",
        "[*].items",
        "[*].total",
        "[*].currency",
        "[*].note",
    ] {
        c.allow_path(p).unwrap_or_default();
    }
    c
}

/// The baseline: parse into a tree, drop the field, look at every string, serialize.
fn value_round_trip(doc: &[u8]) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(doc).unwrap_or_default();
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.remove("internal");
                o.values_mut().for_each(walk);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            serde_json::Value::String(s) if s.contains("4111") => *s = "[REDACTED]".into(),
            _ => {}
        }
    }
    walk(&mut v);
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The built-in classes (a policy that declares none) and what every hop
/// scans by default, with no allow-list: default scanning.
fn default_scanning() -> (Classes, Contract) {
    let (classes, scan) =
        chaperone::config::contracts::compile_classes(Default::default(), None, None, None)
            .unwrap_or_default();
    let contract = Contract {
        scan,
        text: true,
        max_body: 8 << 20,
        ..Contract::default()
    };
    (classes, contract)
}

fn bench(c: &mut Criterion) {
    let classes = classes();
    let contract = contract(&classes);
    let (default_classes, default_contract) = default_scanning();
    let key = HashKey::from_bytes(b"bench key");
    let json = BodyHeaders::typed("application/json");
    let mut group = c.benchmark_group("scrub");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for (label, size) in [("1KB", 1 << 10), ("64KB", 64 << 10), ("1MB", 1 << 20)] {
        let doc = document(size);
        group.throughput(Throughput::Bytes(doc.len() as u64));
        group.bench_function(format!("chaperone/{label}"), |b| {
            b.iter(|| scrub_body(black_box(doc.as_bytes()), &json, &contract, &classes, &key))
        });
        group.bench_function(format!("chaperone_default_scan/{label}"), |b| {
            b.iter(|| {
                scrub_body(
                    black_box(doc.as_bytes()),
                    &json,
                    &default_contract,
                    &default_classes,
                    &key,
                )
            })
        });
        group.bench_function(format!("serde_json_value/{label}"), |b| {
            b.iter(|| value_round_trip(black_box(doc.as_bytes())))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
