//! Policy loading: `config::compile` over arbitrary bytes, as `chaperone
//! serve` and `chaperone check` compile a policy file. No network: a JWKS
//! URL is only recorded at compile time. JWKS files resolve in a scratch
//! directory that holds one key set (`corp-jwks.json`, as the example
//! policy names it); every other name is missing.
//!
//! Invariants:
//! - it never panics; an error carries a message (and says where it is);
//! - a compiled policy is what it read: its hash is the SHA-256 of the
//!   bytes, and what the policy hands on (the data-flow map, each hop's
//!   contracts applied to a small body, each hop's route) works without
//!   panicking.

#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, LazyLock};

use chaperone_core::clock::FixedClock;
use chaperone_core::config::{CompileContext, JwksRegistry, compile};
use chaperone_core::scrub::{BodyHeaders, scrub_body};
use chaperone_core::secret::sha256_hex;
use chaperone_fuzz::{json_syntax, show};
use libfuzzer_sys::fuzz_target;

/// The scratch directory JWKS files resolve in.
static BASE: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("chaperone-fuzz-policy-{}", std::process::id()));
    let made = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            dir.join("corp-jwks.json"),
            include_bytes!("../../examples/policies/corp-jwks.json"),
        )
    });
    if let Err(e) = made {
        panic!("cannot make the scratch directory {}: {e}", dir.display());
    }
    dir
});

/// Built once. Compiling never fetches (a remote key set is fetched when a
/// token needs it), so no HTTP client is needed. Each input gets its own
/// JWKS registry, which remembers every URL it was given.
static CTX: LazyLock<CompileContext> = LazyLock::new(|| CompileContext {
    http: Arc::new(chaperone_core::identity::jwks::NoFetch),
    jwks: Arc::new(JwksRegistry::default()),
    clock: FixedClock::new(1_800_000_000),
    hash_key: None,
    token_cache_entries: chaperone_core::identity::jwt::DEFAULT_CACHE_ENTRIES,
});

fuzz_target!(|data: &[u8]| {
    if !jwks_files_stay_inside(data) {
        return;
    }
    let ctx = CompileContext {
        jwks: Arc::new(JwksRegistry::default()),
        ..CTX.clone()
    };
    match compile("fuzz.yaml", Some(&BASE), data, &ctx) {
        Err(e) => {
            assert!(
                !e.message.trim().is_empty(),
                "an error without a message for {}",
                show(data)
            );
            assert!(!e.to_string().is_empty());
            if let Some((line, column)) = e.location {
                assert!(
                    line >= 1 && column >= 1,
                    "location {line}:{column} is not 1-based: {e}"
                );
            }
        }
        Ok(policy) => {
            assert_eq!(policy.hash, sha256_hex(data));
            let _ = chaperone_core::policy::flows::mermaid(&policy);
            let body = br#"{"id":1,"amount":12.5,"card_number":"4111 1111 1111 1111","items":[{"sku":"A","note":"bob@example.com"}],"x":{"y":null}}"#;
            let headers = BodyHeaders::typed("application/json");
            for hop in policy.hops.iter().take(8) {
                let _ = hop.matches("orders.shop.example", "GET", "/v1/customers/42/orders");
                for contract in [&hop.request_body, &hop.response_body] {
                    if let Ok(out) = scrub_body(body, &headers, contract, &policy.classes, &KEY)
                        && let Some(new) = out.body
                    {
                        assert!(
                            json_syntax(&new).is_ok(),
                            "hop {:?} rewrote a JSON body into something else: {}",
                            hop.name,
                            show(&new)
                        );
                    }
                }
            }
        }
    }
});

static KEY: LazyLock<chaperone_core::secret::HashKey> =
    LazyLock::new(|| chaperone_core::secret::HashKey::from_bytes(b"policy fuzz"));

/// Whether every `file:` and `dictionary:` in the document is a plain relative path (no
/// `..`, not absolute), so that compiling reads nothing outside the
/// scratch directory (`/dev/zero` would hang the fuzzer). Only documents
/// that could name a file at all (the word, or an escape that could spell
/// it) are parsed for this.
fn jwks_files_stay_inside(data: &[u8]) -> bool {
    let could_name_a_file = data.windows(4).any(|w| w.eq_ignore_ascii_case(b"file"))
        || data.windows(4).any(|w| w.eq_ignore_ascii_case(b"dict"))
        || data.contains(&b'\\')
        || data.contains(&b'%');
    if !could_name_a_file {
        return true;
    }
    let Ok(mut doc) = serde_norway::from_slice::<serde_norway::Value>(data) else {
        // Not YAML the oracle reads: skip rather than risk a read.
        return false;
    };
    if doc.apply_merge().is_err() {
        return false;
    }
    files_ok(&doc, 0)
}

fn files_ok(v: &serde_norway::Value, depth: usize) -> bool {
    use serde_norway::Value;
    if depth > 256 {
        return false;
    }
    match v {
        Value::Mapping(m) => m.iter().all(|(k, v)| {
            let named_file = scalar(k).is_some_and(|k| {
                k.eq_ignore_ascii_case("file") || k.eq_ignore_ascii_case("dictionary")
            });
            (!named_file || scalar(v).is_none_or(|p| plain_relative(&p))) && files_ok(v, depth + 1)
        }),
        Value::Sequence(s) => s.iter().all(|v| files_ok(v, depth + 1)),
        Value::Tagged(t) => files_ok(&t.value, depth + 1),
        _ => true,
    }
}

/// A scalar's text, whatever its tags.
fn scalar(mut v: &serde_norway::Value) -> Option<String> {
    use serde_norway::Value;
    while let Value::Tagged(t) = v {
        v = &t.value;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn plain_relative(p: &str) -> bool {
    !p.contains('\0')
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
