//! `chaperone diff OLD NEW`, run as a user runs it, on the policies of
//! tests/data/diff: each case changes one kind of thing in base.yaml, and
//! is compared both ways (base → case opens, case → base closes). The
//! output must be the golden file `<old>-<new>.txt` (and `.md` with
//! `--format markdown`) exactly, and so must the exit code: 1 when
//! anything opens, 0 when nothing does, 2 when a policy does not load.
//!
//! After a deliberate change of wording, `CHAPERONE_BLESS=1 cargo test
//! --test policy_diff` rewrites the golden files; read their diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diff")
}

/// `chaperone diff OLD.yaml NEW.yaml [--format markdown]`, run in the data
/// directory so that file names print as given.
fn diff(old: &str, new: &str, markdown: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaperone"));
    cmd.current_dir(data())
        .arg("diff")
        .arg(format!("{old}.yaml"))
        .arg(format!("{new}.yaml"));
    if markdown {
        cmd.args(["--format", "markdown"]);
    }
    cmd.output().expect("chaperone runs")
}

/// The output of both formats is the golden one, and the exit code `code`.
fn expect(old: &str, new: &str, code: i32) {
    for (markdown, ext) in [(false, "txt"), (true, "md")] {
        let out = diff(old, new, markdown);
        let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let golden = data().join(format!("{old}-{new}.{ext}"));
        if std::env::var_os("CHAPERONE_BLESS").is_some() {
            std::fs::write(&golden, &stdout).expect("golden file written");
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        assert_eq!(stdout, want, "{old} → {new} ({ext}); stderr: {stderr}");
        assert_eq!(out.status.code(), Some(code), "{old} → {new} ({ext})");
        assert!(stderr.is_empty(), "{old} → {new}: {stderr}");
    }
}

/// Each kind of change the diff tells apart: from base.yaml it opens, back
/// to base.yaml it closes.
const CATEGORIES: &[&str] = &[
    "hops",
    "callers",
    "conditions",
    "fields",
    "classes",
    "limits",
    "headers",
    "tokens",
    "trust",
    "mode",
    "budgets",
    "anomalies",
];

#[test]
fn identical_policies_change_nothing() {
    expect("base", "base", 0);
}

#[test]
fn the_same_policy_written_another_way_changes_nothing() {
    expect("base", "reordered", 0);
    expect("reordered", "base", 0);
}

#[test]
fn each_category_opens_one_way() {
    for case in CATEGORIES {
        expect("base", case, 1);
    }
}

#[test]
fn each_category_closes_the_other_way() {
    for case in CATEGORIES {
        expect(case, "base", 0);
    }
}

/// A changed condition, audience, path, pattern or key URL, and two
/// overlapping hops swapped: their direction cannot be told, so they open.
#[test]
fn changes_of_unknown_direction_open() {
    expect("base", "rewired", 1);
}

#[test]
fn neutral_changes_open_nothing() {
    expect("base", "neutral", 0);
}

#[test]
fn a_policy_that_does_not_load_is_an_error() {
    for (old, new) in [("base", "broken"), ("broken", "base")] {
        let out = diff(old, new, false);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [
                "chaperone diff: broken.yaml:35:5: hops[0]: unknown field `fromm`, expected one of `name`, `match`, `from`, `when`, `shadow`, `keep_authorization`, `token`, `request`, `response`, `budgets`, `anomalies`"
            ],
        );
    }
    let out = diff("base", "missing", false);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("chaperone diff: missing.yaml: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every policy here loads as `chaperone check` loads it: a case is a
/// valid policy, not one the diff merely reads.
#[test]
fn every_case_is_a_valid_policy() {
    for case in ["base", "reordered", "rewired", "neutral"]
        .iter()
        .chain(CATEGORIES)
    {
        let out = Command::new(env!("CARGO_BIN_EXE_chaperone"))
            .current_dir(data())
            .args(["check", &format!("{case}.yaml")])
            .output()
            .expect("chaperone runs");
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
