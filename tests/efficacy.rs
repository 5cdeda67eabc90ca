//! Detection efficacy: a generated, labelled corpus of API payloads
//! (`efficacy/generate.rs`) scrubbed as deployed, scored per class,
//! detector and written form (recall) and per kind of look-alike (false
//! positives), with the CI targets asserted on a sample.
//!
//! As deployed: the built-in classes, a hop's default body contract, and
//! the default scan plus `email` and `phone` (a policy's
//! `defaults.scan: [card_number, national_id, health_id, iban, secret,
//! email, phone]`). A value is found when it no longer appears verbatim in
//! the output (strings read with their escapes decoded) and the output is
//! JSON; a look-alike is a false positive when it appears fewer times than
//! it did.
//!
//! `cargo test --release --test efficacy -- --nocapture` prints the tables;
//! `EFFICACY_N` sets the number of records (default `DEFAULT_N`, sized
//! for CI), `EFFICACY_SEED` another corpus; `show_records` prints some.
//! Under the targets, the report names each detector, form and kind that
//! misses one, with three examples and what the detectors find there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "efficacy/check.rs"]
mod check;
#[path = "efficacy/generate.rs"]
mod generate;
#[path = "efficacy/json.rs"]
mod json;
#[path = "efficacy/negatives.rs"]
mod negatives;
#[path = "efficacy/positives.rs"]
mod positives;
#[path = "efficacy/rng.rs"]
mod rng;

use std::collections::BTreeMap;
use std::time::Instant;

use chaperone::config::contracts::{compile_body, compile_classes};
use chaperone::scrub::detect::{Context, Detector, scan_with};
use chaperone::scrub::{BodyHeaders, scrub_body};
use chaperone::secret::HashKey;

use generate::{Corpus, Positive};

/// Records in the CI sample: about a second in release, under ten seconds
/// in the debug build CI's `cargo test` makes, on a loaded two-core
/// machine; some 2,000 values of each detector.
const DEFAULT_N: usize = 10_000;
const DEFAULT_SEED: u64 = 0x0000_eff1_cac7_2026;

const RECALL_CHECKSUM: f64 = 0.999;
const RECALL_OTHER: f64 = 0.99;
const FP_MAX: f64 = 0.001;

/// Examples kept per row.
const EXAMPLES: usize = 3;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Counts of one row of a table, with examples of what went wrong.
#[derive(Default)]
struct Tally {
    total: usize,
    hits: usize,
    /// Positives: found by their own detector in the string that holds
    /// them (not by another class's).
    own: usize,
    examples: Vec<String>,
}

impl Tally {
    fn add(&mut self, hit: bool, example: impl FnOnce() -> String) {
        self.total += 1;
        if hit {
            self.hits += 1;
        } else if self.examples.len() < EXAMPLES {
            self.examples.push(example());
        }
    }

    fn rate(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.hits as f64 / self.total as f64
        }
    }

    fn misses(&self) -> usize {
        self.total - self.hits
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// `text` shortened around `needle` for a report.
fn around(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let mut from = at.saturating_sub(50);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (at + needle.len() + 30).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    format!(
        "{}{}{}",
        if from > 0 { "…" } else { "" },
        &text[from..to],
        if to < text.len() { "…" } else { "" }
    )
}

/// What every detector finds in `holder` under `key`, where it overlaps
/// `value`: to tell a miss from a finding of another kind.
fn findings_over(holder: &str, key: &str, value: &str) -> String {
    let Some(at) = holder.find(value) else {
        return String::new();
    };
    let end = at + value.len();
    let found: Vec<String> = scan_with(
        holder,
        chaperone::scrub::detect::DetectorSet::all(),
        Context::of_key(Some(key)),
    )
    .into_iter()
    .filter(|f| f.start < end && f.end > at)
    .map(|f| format!("{} {:?}", f.detector.name(), &holder[f.start..f.end]))
    .collect();
    if found.is_empty() {
        "nothing".to_owned()
    } else {
        found.join(", ")
    }
}

/// Whether `p`'s own detector finds it in its holder, as the body scan
/// would read it.
fn own_detector_finds(p: &Positive) -> bool {
    let Some(d) = Detector::parse(p.detector) else {
        return false;
    };
    let Some(at) = p.holder.find(&p.value) else {
        return false;
    };
    let end = at + p.value.len();
    scan_with(&p.holder, d.into(), Context::of_key(Some(&p.key)))
        .iter()
        .any(|f| f.start <= at && f.end >= end)
}

struct Scores {
    records: usize,
    invalid: Vec<String>,
    skipped: usize,
    class: BTreeMap<&'static str, Tally>,
    detector: BTreeMap<&'static str, Tally>,
    form: BTreeMap<(&'static str, &'static str, &'static str), Tally>,
    /// By detector and why it is beyond the rules, with the forms seen.
    beyond: BTreeMap<(&'static str, &'static str), (Tally, Vec<&'static str>)>,
    kind: BTreeMap<&'static str, Tally>,
    /// Cards by network and length, phones by country (their form's
    /// prefix).
    card: BTreeMap<String, Tally>,
    country: BTreeMap<&'static str, Tally>,
}

fn score(n: usize, seed: u64) -> Scores {
    let names: Vec<String> = [
        "card_number",
        "national_id",
        "health_id",
        "iban",
        "secret",
        "email",
        "phone",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (classes, scan) = compile_classes(Default::default(), Some(&names), None, None).unwrap();
    let contract = compile_body(None, None, scan, &classes, None).unwrap();
    let key = HashKey::from_bytes(b"efficacy");
    let headers = BodyHeaders::typed("application/json");
    let mut corpus = Corpus::new(seed);
    let mut s = Scores {
        records: n,
        invalid: Vec::new(),
        skipped: 0,
        class: BTreeMap::new(),
        detector: BTreeMap::new(),
        form: BTreeMap::new(),
        beyond: BTreeMap::new(),
        kind: BTreeMap::new(),
        card: BTreeMap::new(),
        country: BTreeMap::new(),
    };
    for i in 0..n {
        let r = corpus.record(i);
        let output = match scrub_body(r.body.as_bytes(), &headers, &contract, &classes, &key) {
            Ok(out) => match out.body {
                Some(b) => String::from_utf8(b).unwrap_or_default(),
                None => r.body.clone(),
            },
            Err(e) => {
                s.invalid
                    .push(format!("record {i} ({}) refused: {e:?}", r.kind));
                String::new()
            }
        };
        let valid = serde_json::from_str::<serde::de::IgnoredAny>(&output).is_ok();
        if !valid && !output.is_empty() {
            s.invalid
                .push(format!("record {i} ({}): output is not JSON", r.kind));
        }
        let before = json::unescaped(&r.body);
        let after = if valid {
            json::unescaped(&output)
        } else {
            String::new()
        };
        for p in &r.positives {
            // The class a detector belongs to is the built-in one.
            let d = Detector::parse(p.detector).expect("a detector name");
            let class = classes.class_of(d).and_then(|c| classes.get(c));
            assert_eq!(class.map(|c| &*c.name), Some(p.class), "{}", p.detector);
            if r.negatives.iter().any(|n| n.value.contains(&p.value)) {
                s.skipped += 1;
                continue;
            }
            let found = valid && !after.contains(&p.value);
            let example = || {
                format!(
                    "{:?} in {:?} under {:?} ({}; found there: {})",
                    p.value,
                    around(&p.holder, &p.value),
                    p.key,
                    r.kind,
                    findings_over(&p.holder, &p.key, &p.value)
                )
            };
            let row = (p.detector, p.form, p.place);
            if !p.documented {
                let why = "a form the rules leave out";
                let (t, forms) = s.beyond.entry((p.detector, why)).or_default();
                t.add(found, example);
                if !forms.contains(&p.form) {
                    forms.push(p.form);
                }
                continue;
            }
            let own = own_detector_finds(p);
            let breakdown = match p.detector {
                "pan" => Some(s.card.entry(p.variant.clone()).or_default()),
                "phone" => {
                    let country = p.form.split('_').next().unwrap_or_default();
                    Some(s.country.entry(country).or_default())
                }
                _ => None,
            };
            if let Some(t) = breakdown {
                t.add(found, example);
                t.own += usize::from(own);
            }
            for t in [
                s.class.entry(p.class).or_default(),
                s.detector.entry(p.detector).or_default(),
                s.form.entry(row).or_default(),
            ] {
                t.add(found, example);
                t.own += usize::from(own);
            }
        }
        for neg in &r.negatives {
            let shadowed = r
                .positives
                .iter()
                .any(|p| p.value.contains(&neg.value) || neg.value.contains(&p.value));
            if shadowed {
                s.skipped += 1;
                continue;
            }
            let kept =
                valid && after.matches(&neg.value).count() >= before.matches(&neg.value).count();
            s.kind.entry(neg.kind).or_default().add(kept, || {
                format!(
                    "{:?} in {:?} under {:?} ({}; found there: {})",
                    neg.value,
                    around(&neg.holder, &neg.value),
                    neg.key,
                    r.kind,
                    findings_over(&neg.holder, &neg.key, &neg.value)
                )
            });
        }
    }
    s
}

fn class_target(class: &str) -> f64 {
    let all_checksum = positives::DETECTORS
        .iter()
        .filter(|d| positives::class_of(d) == class)
        .all(|d| positives::checksum_backed(d));
    if all_checksum {
        RECALL_CHECKSUM
    } else {
        RECALL_OTHER
    }
}

fn detector_target(detector: &str) -> f64 {
    if positives::checksum_backed(detector) {
        RECALL_CHECKSUM
    } else {
        RECALL_OTHER
    }
}

fn status(ok: bool) -> &'static str {
    if ok { "ok" } else { "**below target**" }
}

/// The report, in Markdown.
fn report(s: &Scores, seconds: f64) -> String {
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    let positives: usize = s.class.values().map(|t| t.total).sum();
    let negatives: usize = s.kind.values().map(|t| t.total).sum();
    line(format!(
        "{} records, {positives} sensitive values, {negatives} look-alikes ({} skipped as overlapping), scored in {seconds:.1} s\n",
        s.records, s.skipped
    ));
    line("### Recall by class\n".to_owned());
    line("| class | target | values | found | recall | status |".to_owned());
    line("|---|---|---:|---:|---:|---|".to_owned());
    for (class, t) in &s.class {
        let target = class_target(class);
        line(format!(
            "| `{class}` | {} | {} | {} | {} | {} |",
            pct(target),
            t.total,
            t.hits,
            pct(t.rate()),
            status(t.rate() >= target)
        ));
    }
    line(String::new());
    line("### Recall by detector\n".to_owned());
    line(
        "| detector | class | target | values | found | recall | by its own detector | status |"
            .to_owned(),
    );
    line("|---|---|---|---:|---:|---:|---:|---|".to_owned());
    for d in positives::DETECTORS {
        let Some(t) = s.detector.get(d) else {
            line(format!("| `{d}` | | | 0 | | | | **no values** |"));
            continue;
        };
        let target = detector_target(d);
        line(format!(
            "| `{d}` | `{}` | {} | {} | {} | {} | {} | {} |",
            positives::class_of(d),
            pct(target),
            t.total,
            t.hits,
            pct(t.rate()),
            pct(t.own as f64 / t.total.max(1) as f64),
            status(t.rate() >= target)
        ));
    }
    line(String::new());
    for (title, rows) in [
        (
            "Card numbers by network and length",
            s.card
                .iter()
                .map(|(k, t)| (k.as_str(), t))
                .collect::<Vec<_>>(),
        ),
        (
            "Phone numbers by country (`nanp`: US and Canada)",
            s.country.iter().map(|(k, t)| (*k, t)).collect(),
        ),
    ] {
        line(format!("### {title}\n"));
        line("| | values | recall | by its own detector |".to_owned());
        line("|---|---:|---:|---:|".to_owned());
        for (name, t) in rows {
            line(format!(
                "| {name} | {} | {} | {} |",
                t.total,
                pct(t.rate()),
                pct(t.own as f64 / t.total.max(1) as f64)
            ));
        }
        line(String::new());
    }
    line("### Recall by written form and place\n".to_owned());
    line("`key`: under a member that names it; `list`: an item of a list under a plural name that names it; `text`: after words that name it; `glued`: letters that name it glued to it; `none`: under a neutral name or in neutral text.\n".to_owned());
    line("| detector | form | place | values | recall | by its own detector |".to_owned());
    line("|---|---|---|---:|---:|---:|".to_owned());
    for ((d, form, place), t) in &s.form {
        line(format!(
            "| `{d}` | {form} | {place} | {} | {} | {} |",
            t.total,
            pct(t.rate()),
            pct(t.own as f64 / t.total.max(1) as f64)
        ));
    }
    line(String::new());
    line("### Beyond the documented rules (not scored)\n".to_owned());
    line(
        "Values of forms the documented rules leave out (probes; none when the table is empty).\n"
            .to_owned(),
    );
    line("| detector | why | forms | values | found | recall |".to_owned());
    line("|---|---|---|---:|---:|---:|".to_owned());
    for ((d, why), (t, forms)) in &s.beyond {
        let mut forms = forms.clone();
        forms.sort_unstable();
        line(format!(
            "| `{d}` | {why} | {} | {} | {} | {} |",
            forms.join(", "),
            t.total,
            t.hits,
            pct(t.rate())
        ));
    }
    line(String::new());
    line("### False positives by look-alike kind\n".to_owned());
    line("| kind | values | changed | rate | status |".to_owned());
    line("|---|---:|---:|---:|---|".to_owned());
    for k in negatives::KINDS {
        let Some(t) = s.kind.get(k) else {
            line(format!("| {k} | 0 | | | **no values** |"));
            continue;
        };
        let rate = t.misses() as f64 / t.total.max(1) as f64;
        line(format!(
            "| {k} | {} | {} | {} | {} |",
            t.total,
            t.misses(),
            pct(rate),
            status(rate <= FP_MAX)
        ));
    }
    line(String::new());
    line("### Misses and false positives, with examples\n".to_owned());
    for ((d, form, place), t) in &s.form {
        if t.misses() > 0 {
            line(format!(
                "- `{d}` {form} / {place}: {} of {} missed",
                t.misses(),
                t.total
            ));
            for e in &t.examples {
                line(format!("  - {e}"));
            }
        }
    }
    for k in negatives::KINDS {
        if let Some(t) = s.kind.get(k).filter(|t| t.misses() > 0) {
            line(format!("- {k}: {} of {} changed", t.misses(), t.total));
            for e in &t.examples {
                line(format!("  - {e}"));
            }
        }
    }
    out
}

/// Every row below its target, with examples.
fn failures(s: &Scores) -> Vec<String> {
    let mut out: Vec<String> = s.invalid.iter().take(10).cloned().collect();
    for (class, t) in &s.class {
        if t.rate() < class_target(class) {
            out.push(format!(
                "class {class}: recall {} < {}",
                pct(t.rate()),
                pct(class_target(class))
            ));
        }
    }
    for d in positives::DETECTORS {
        let Some(t) = s.detector.get(d) else {
            out.push(format!("detector {d}: no values generated"));
            continue;
        };
        if t.rate() >= detector_target(d) {
            continue;
        }
        out.push(format!(
            "detector {d}: recall {} < {}",
            pct(t.rate()),
            pct(detector_target(d))
        ));
        for ((fd, form, place), f) in &s.form {
            if fd == d && f.misses() > 0 {
                out.push(format!(
                    "  {form} / {place}: {} of {} missed ({}), e.g.",
                    f.misses(),
                    f.total,
                    pct(1.0 - f.rate())
                ));
                out.extend(f.examples.iter().map(|e| format!("    {e}")));
            }
        }
    }
    for k in negatives::KINDS {
        let Some(t) = s.kind.get(k) else {
            out.push(format!("look-alike {k}: no values generated"));
            continue;
        };
        let rate = t.misses() as f64 / t.total.max(1) as f64;
        if rate > FP_MAX {
            out.push(format!(
                "look-alike {k}: {} of {} changed ({}), e.g.",
                t.misses(),
                t.total,
                pct(rate)
            ));
            out.extend(t.examples.iter().map(|e| format!("    {e}")));
        }
    }
    out
}

/// Recall and false-positive targets on a sample of the corpus.
#[test]
fn detection_efficacy() {
    let n = env_or("EFFICACY_N", DEFAULT_N);
    let seed = env_or("EFFICACY_SEED", DEFAULT_SEED);
    let started = Instant::now();
    let scores = score(n, seed);
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", report(&scores, seconds));
    let failed = failures(&scores);
    assert!(
        failed.is_empty(),
        "detection targets missed:\n{}",
        failed.join("\n")
    );
}

/// The generator is deterministic: a seed gives the same records.
#[test]
fn corpus_is_deterministic() {
    let (mut a, mut b) = (Corpus::new(7), Corpus::new(7));
    for i in 0..50 {
        assert_eq!(a.record(i).body, b.record(i).body);
    }
}

/// Every labelled value is in its record, as written, and every record is
/// JSON.
#[test]
fn labels_are_in_their_records() {
    let mut corpus = Corpus::new(11);
    for i in 0..500 {
        let r = corpus.record(i);
        serde_json::from_str::<serde::de::IgnoredAny>(&r.body)
            .unwrap_or_else(|e| panic!("record {i}: {e}\n{}", r.body));
        let text = json::unescaped(&r.body);
        for p in &r.positives {
            assert!(text.contains(&p.value), "record {i}: {:?}", p.value);
            assert!(p.holder.contains(&p.value), "record {i}: {:?}", p.value);
        }
        for n in &r.negatives {
            assert!(text.contains(&n.value), "record {i}: {:?}", n.value);
        }
    }
}

/// Prints the first records with their labels (`EFFICACY_SHOW` of them).
#[test]
#[ignore = "a look at the corpus: cargo test --test efficacy show_records -- --ignored --nocapture"]
fn show_records() {
    let k = env_or("EFFICACY_SHOW", 5usize);
    let mut corpus = Corpus::new(env_or("EFFICACY_SEED", DEFAULT_SEED));
    for i in 0..k {
        let r = corpus.record(i);
        println!("--- {} {}\n{}", i, r.kind, r.body);
        for p in &r.positives {
            println!(
                "  + {} {} {} {} {:?}",
                p.class, p.detector, p.form, p.place, p.value
            );
        }
        for n in &r.negatives {
            println!("  - {} {:?}", n.kind, n.value);
        }
    }
}
