//! `chaperone report POLICY`, run as a user runs it: the evidence an
//! assessor reads must be the golden file `tests/data/report/<name>.md`
//! exactly, for the example policies (examples/policies/shop.yaml, the
//! embedded default policy) and for small policies that exercise one kind
//! of setting each (tests/data/report/*.yaml). And what the report says a
//! hop does with a class must be what `chaperone scrub` does with it under
//! the same policy: the report is checked against the enforcement, not only
//! against its own earlier output.
//!
//! After a deliberate change of wording (or of an example policy, whose
//! content hash the report names), `CHAPERONE_BLESS=1 cargo test --test
//! policy_report` rewrites the golden files; read their diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn golden_dir() -> PathBuf {
    root().join("tests/data/report")
}

/// `chaperone report POLICY`, run from the repository's root so that the
/// source path prints as given.
fn report(policy: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .current_dir(root())
        .args(["report", policy])
        .output()
        .expect("chaperone runs")
}

/// The report of `policy` is the golden `<name>.md`, and nothing is on stderr.
fn expect(policy: &str, name: &str) {
    let out = report(policy);
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{policy}: {stderr}");
    assert!(stderr.is_empty(), "{policy}: {stderr}");
    let golden = golden_dir().join(format!("{name}.md"));
    if std::env::var_os("CHAPERONE_BLESS").is_some() {
        std::fs::write(&golden, &stdout).expect("golden file written");
    }
    let want =
        std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    assert_eq!(stdout, want, "{policy}");
}

#[test]
fn the_example_policy_reports_as_its_golden_file() {
    expect("examples/policies/shop.yaml", "shop");
}

#[test]
fn the_embedded_default_policy_reports_as_its_golden_file() {
    expect(
        "crates/chaperone-core/src/config/default-policy.yaml",
        "default-policy",
    );
}

/// Field actions over class actions, allow-lists with each `unknown`, an
/// empty allow-list, a class of the policy's own with safe values, scan
/// sets per direction, `text: false`, `other: pass`, streaming, limits.
#[test]
fn body_contracts_report_as_their_golden_file() {
    expect("tests/data/report/contracts.yaml", "contracts");
}

/// Header and URL scan sets of their own, headers and parameters crossing
/// unscanned, `keep_authorization`, no token, a hop in shadow, caching,
/// issuers, chained tokens, the trust domain as audience.
#[test]
fn envelopes_and_trust_report_as_their_golden_file() {
    expect("tests/data/report/envelope.yaml", "envelope");
}

/// The built-in classes (two of them not scanned by default) and a whole
/// policy in shadow mode.
#[test]
fn builtin_classes_and_shadow_mode_report_as_their_golden_file() {
    expect("tests/data/report/builtin.yaml", "builtin");
}

#[test]
fn a_policy_that_does_not_load_is_an_error() {
    let out = report("tests/data/diff/broken.yaml");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .collect::<Vec<_>>(),
        [
            "chaperone report: tests/data/diff/broken.yaml:35:5: hops[0]: unknown field `fromm`, expected one of `name`, `match`, `from`, `when`, `shadow`, `keep_authorization`, `token`, `request`, `response`, `budgets`, `anomalies`"
        ]
    );
    let out = report("tests/data/report/missing.yaml");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("chaperone report: tests/data/report/missing.yaml: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The outcome word (`in clear`, `masked`, ...) the report gives `class`
/// in the body column of `hop`'s `direction` table.
fn body_outcome(report: &str, hop: &str, direction: &str) -> impl Fn(&str) -> String {
    let section = report
        .split(&format!("\n## Hop `{hop}`\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no section for hop {hop}"));
    let section = section.split("\n## ").next().unwrap_or_default();
    let heading = format!("\n### {direction}:");
    let table = section
        .split(&heading)
        .nth(1)
        .unwrap_or_else(|| panic!("hop {hop}: no {direction} section"))
        .split("\n### ")
        .next()
        .unwrap_or_default()
        .to_owned();
    move |class: &str| {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{class}` |")))
            .unwrap_or_else(|| panic!("no row for {class}"));
        let body_cell = row.split('|').nth(2).unwrap_or_default();
        body_cell
            .split("**")
            .nth(1)
            .unwrap_or_else(|| panic!("no outcome in {row}"))
            .to_owned()
    }
}

/// `chaperone scrub` on `body` for `hop` in `direction`: (exit code, stdout).
fn scrub(policy: &str, hop: &str, direction: &str, body: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .current_dir(root())
        .args(["scrub", "--policy", policy, "--hop", hop, "--direction"])
        .arg(direction)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chaperone runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("body written");
    let out = child.wait_with_output().expect("chaperone ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// What each report outcome means for a value in a body, checked on what
/// `chaperone scrub` made of it.
fn holds(outcome: &str, value: &str, code: i32, out: &str) -> bool {
    let clean = code == 0 && !out.contains(value);
    match outcome {
        "in clear" => code == 0 && out.contains(value),
        "masked" => clean && out.contains("***") && !out.contains("[REDACTED"),
        "hashed" => clean && (out.contains("\"h:") || out.contains(" h:")),
        "redacted" => clean && out.contains("[REDACTED:"),
        "dropped" => clean && !out.contains("[REDACTED") && !out.contains("h:"),
        "refused" => code == 2 && out.is_empty(),
        other => panic!("unknown outcome {other:?}"),
    }
}

/// For each case, the report's body cell for a class is what scrubbing a
/// body holding a value of that class does: the report is read from the
/// compiled contract the scrubber enforces, and says so truthfully, in
/// clear and not scanned included.
#[test]
fn the_report_says_what_scrubbing_does() {
    const CARD: &str = "5555555555554444";
    const EMAIL: &str = "alice@example.com";
    const SECRET: &str = "AKIAZ3MHRSTQW7XYV2PL";
    const PATIENT: &str = "P-12345674";
    const PHONE: &str = "+44 20 7946 0958";
    const IBAN: &str = "GB82WEST12345698765432";
    const NINO: &str = "AB 12 34 56 C";
    // (policy, hop, direction, class, body with the value, the value)
    let cases: &[(&str, &str, &str, &str, String, &str)] = &[
        (
            "tests/data/report/contracts.yaml",
            "intake-posts-visit",
            "Request",
            "card_number",
            format!(r#"{{"reason":"{CARD}"}}"#),
            CARD,
        ),
        (
            "tests/data/report/contracts.yaml",
            "intake-posts-visit",
            "Request",
            "email",
            format!(r#"{{"reason":"{EMAIL}"}}"#),
            EMAIL,
        ),
        (
            "tests/data/report/contracts.yaml",
            "intake-posts-visit",
            "Request",
            "patient_id",
            format!(r#"{{"reason":"patient {PATIENT}"}}"#),
            PATIENT,
        ),
        (
            "tests/data/report/contracts.yaml",
            "intake-posts-visit",
            "Request",
            "secret",
            format!(r#"{{"reason":"{SECRET}"}}"#),
            SECRET,
        ),
        (
            "tests/data/report/contracts.yaml",
            "billing-exports-invoices",
            "Response",
            "email",
            format!(r#"{{"invoices":[{{"id":"{EMAIL}"}}]}}"#),
            EMAIL,
        ),
        (
            "tests/data/report/contracts.yaml",
            "billing-exports-invoices",
            "Response",
            "patient_id",
            format!(r#"{{"memo":"patient {PATIENT}"}}"#),
            PATIENT,
        ),
        (
            "tests/data/report/contracts.yaml",
            "billing-exports-invoices",
            "Response",
            "card_number",
            format!(r#"{{"memo":"{CARD}"}}"#),
            CARD,
        ),
        (
            "tests/data/report/contracts.yaml",
            "scanner-uploads-images",
            "Request",
            "card_number",
            format!(r#"{{"memo":"{CARD}"}}"#),
            CARD,
        ),
        (
            "tests/data/report/envelope.yaml",
            "app-reads-accounts",
            "Request",
            "phone",
            format!(r#"{{"n":"{PHONE}"}}"#),
            PHONE,
        ),
        (
            "tests/data/report/envelope.yaml",
            "app-reads-accounts",
            "Response",
            "phone",
            format!(r#"{{"n":"{PHONE}"}}"#),
            PHONE,
        ),
        (
            "tests/data/report/envelope.yaml",
            "app-reads-accounts",
            "Response",
            "bank_account",
            format!(r#"{{"n":"{IBAN}"}}"#),
            IBAN,
        ),
        (
            "tests/data/report/envelope.yaml",
            "app-reads-accounts",
            "Response",
            "national_id",
            format!(r#"{{"n":"{NINO}"}}"#),
            NINO,
        ),
        (
            "tests/data/report/envelope.yaml",
            "app-reads-accounts",
            "Response",
            "secret",
            format!(r#"{{"n":"{SECRET}"}}"#),
            SECRET,
        ),
        (
            "examples/policies/shop.yaml",
            "customer-reads-own-orders",
            "Request",
            "email",
            format!(r#"{{"note":"{EMAIL}"}}"#),
            EMAIL,
        ),
        (
            "examples/policies/shop.yaml",
            "customer-reads-own-orders",
            "Response",
            "secret",
            format!(r#"{{"orders":[{{"status":"{SECRET}"}}]}}"#),
            SECRET,
        ),
        (
            "examples/policies/shop.yaml",
            "checkout-charges-payment",
            "Request",
            "card_number",
            format!(r#"{{"card_number":"{CARD}"}}"#),
            CARD,
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (policy, hop, direction, class, body, value) in cases {
        let text = String::from_utf8(report(policy).stdout).expect("UTF-8 report");
        let outcome = body_outcome(&text, hop, direction)(class);
        let (code, out) = scrub(policy, hop, &direction.to_lowercase(), body);
        assert!(
            holds(&outcome, value, code, &out),
            "{policy} {hop} {direction} {class}: the report says {outcome:?}, scrub gave {code}: {out}"
        );
        seen.insert(outcome);
    }
    // Every kind of outcome the report can give is checked at least once.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            "dropped", "hashed", "in clear", "masked", "redacted", "refused"
        ]
    );
}

/// A class a hop does not look for is said to be not scanned, in every
/// position, never passed over in silence.
#[test]
fn a_class_not_scanned_is_named_as_such() {
    let text = String::from_utf8(report("tests/data/report/builtin.yaml").stdout).unwrap();
    for class in ["email", "phone"] {
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("| `{class}` |")))
            .collect();
        // The class table, the summary, and one row per direction.
        assert_eq!(rows.len(), 4, "{class}: {rows:?}");
        for row in &rows[2..] {
            assert!(
                row.contains("**in clear**: not scanned: crosses if present in an allowed field"),
                "{row}"
            );
            assert!(
                row.contains(
                    "**in clear**: not scanned: crosses if present in a header that crosses"
                ),
                "{row}"
            );
        }
    }
}

/// A hop's budgets, records of an array included, are in every view of a
/// policy: `check`, `explain`, `flows` and the report (whose table the
/// golden files hold; `chaperone diff` compares them, tests/policy_diff.rs).
#[test]
fn budgets_show_in_every_view() {
    let policy = "examples/policies/shop.yaml";
    let line = "orders-per-hour: 1000 records of orders[*] per caller per 1h in responses, then block (store down: deny)";
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chaperone"))
            .current_dir(root())
            .args(args)
            .output()
            .expect("chaperone runs");
        String::from_utf8(out.stdout).expect("UTF-8 output")
    };
    let check = run(&["check", policy]);
    assert!(check.contains(&format!("    budget {line}\n")), "{check}");
    let request =
        std::env::temp_dir().join(format!("chaperone-explain-{}.yaml", std::process::id()));
    std::fs::write(
        &request,
        "host: orders.shop.example\nmethod: GET\npath: /v1/customers/alice/orders\n",
    )
    .unwrap();
    let explain = run(&["explain", policy, request.to_str().unwrap()]);
    let _ = std::fs::remove_file(&request);
    assert!(
        explain.contains("hop: customer-reads-own-orders\n"),
        "{explain}"
    );
    assert!(explain.contains(&format!("\nbudget {line}\n")), "{explain}");
    let flows = run(&["flows", policy]);
    let edges: Vec<&str> = flows
        .lines()
        .filter(|l| l.contains("|\"customer-reads-own-orders<br/>"))
        .collect();
    assert_eq!(edges.len(), 2, "{flows}");
    assert!(
        edges
            .iter()
            .all(|e| e.contains(&format!("<br/>budget {line}"))),
        "{flows}"
    );
    let report = run(&["report", policy]);
    assert!(
        report.contains(
            "| `orders-per-hour` | response | `records of orders[*]` | 1000 per 1h | **block**"
        ),
        "{report}"
    );
}
