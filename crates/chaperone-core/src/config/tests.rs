//! Unit tests for `config`: compiling policies (errors with their location,
//! every validation rule), resolving JWKS files, hashing, and the one reload
//! path of [`PolicyStore`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::compile::{DEFAULT_REQUEST_REMOVE, DEFAULT_RESPONSE_REMOVE, MAX_POLICY_BYTES};
use super::{
    CompileContext, EMBEDDED_POLICY, JwksRegistry, PolicyError, PolicyStore, compile,
    parse_duration,
};
use crate::clock::{Clock, FixedClock};
use crate::identity::jwks::KeySource;
use crate::policy::{HostPattern, Policy};
use crate::reload::Outcome;
use crate::secret::sha256_hex;
use crate::token::{KeyKind, SigningKey, jwks_document};

const NOW: i64 = 1_700_000_000;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chaperone-config-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ctx_with(clock: Arc<FixedClock>) -> CompileContext {
    CompileContext {
        http: crate::identity::test_fetch::TcpFetch::shared(),
        jwks: Arc::new(JwksRegistry::default()),
        clock,
        hash_key: None,
        token_cache_entries: crate::identity::jwt::DEFAULT_CACHE_ENTRIES,
    }
}

fn ctx() -> CompileContext {
    ctx_with(FixedClock::new(NOW))
}

fn compile_str(yaml: &str) -> Result<Policy, PolicyError> {
    compile("test.yaml", None, yaml.as_bytes(), &ctx())
}

fn compile_err(yaml: &str) -> PolicyError {
    match compile_str(yaml) {
        Ok(p) => panic!(
            "policy should be rejected, compiled {} hops:\n{yaml}",
            p.hops.len()
        ),
        Err(e) => e,
    }
}

fn jwks_json(key: &SigningKey) -> String {
    jwks_document([key]).to_string()
}

/// A valid policy; the tests below break it one line at a time. The line
/// numbers matter to the location tests.
const BASE: &str = r#"version: "v1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: https://idp.shop.test
    audiences: [api]
    algorithms: [ES256]
    jwks: { url: "https://idp.shop.test/jwks.json" }
hops:
  - name: read
    match: { host: api.shop.test, method: GET, path: /v1/x }
    from:
      - users: { issuer: corp }
"#;

fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "test bug: BASE has no {from:?}");
    BASE.replacen(from, to, 1)
}

#[test]
fn base_policy_compiles() {
    let p = compile_str(BASE).unwrap();
    assert_eq!(p.version, "v1");
    assert_eq!(p.trust_domain, "shop.test");
    assert_eq!(p.source, "test.yaml");
    assert_eq!(p.hops.len(), 1);
    assert_eq!(&*p.hops[0].name, "read");
    assert_eq!(p.hops[0].methods, vec!["GET".to_owned()]);
    assert_eq!(p.verifier.issuers().len(), 1);
    let issuer = &p.verifier.issuers()[0];
    assert_eq!(issuer.leeway, 30, "default leeway is 30s");
    assert!(
        matches!(&issuer.keys, KeySource::Remote(r) if r.url() == "https://idp.shop.test/jwks.json")
    );
    assert!(!p.trust_xfcc, "XFCC is not trusted unless asked");
}

#[test]
fn unknown_keys_are_errors_with_origin_line_and_column() {
    // (what, yaml, expected line, text the message must hold)
    let cases: Vec<(&str, String, usize, &str)> = vec![
        (
            "top level",
            BASE.replacen("trust_domain:", "colour: blue\ntrust_domain:", 1),
            2,
            "colour",
        ),
        (
            "inside a hop",
            base_with("    match:", "    colour: blue\n    match:"),
            11,
            "colour",
        ),
        (
            "inside an issuer",
            base_with("    audiences:", "    audience: [api]\n    audiences:"),
            6,
            "audience",
        ),
        (
            "inside a caller",
            base_with(
                "      - users: { issuer: corp }",
                "      - users: { issuer: corp }\n        groups: [x]",
            ),
            14,
            "groups",
        ),
        (
            "inside jwks",
            base_with("jwks: { url:", "jwks: { uri: x, url:"),
            8,
            "uri",
        ),
    ];
    for (what, yaml, line, needle) in cases {
        let e = compile_err(&yaml);
        assert_eq!(e.origin, "test.yaml", "{what}");
        let (l, c) = e
            .location
            .unwrap_or_else(|| panic!("{what}: no location in {e}"));
        assert_eq!(l, line, "{what}: {e}");
        assert!(c >= 1, "{what}: columns are 1-based: {e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("test.yaml:{line}:{c}: ")),
            "{what}: {shown}"
        );
        assert!(shown.contains(needle), "{what}: {shown}");
        assert!(shown.contains("unknown field"), "{what}: {shown}");
        assert!(
            !shown.contains(" at line "),
            "{what}: the location is not repeated: {shown}"
        );
    }
}

#[test]
fn yaml_syntax_errors_carry_a_location() {
    let e = compile_err("version: \"v1\"\ntrust_domain: [unclosed\nhops: []\n");
    assert!(e.location.is_some(), "{e}");
    assert!(e.to_string().starts_with("test.yaml:"), "{e}");
    let e = compile_err("");
    assert!(e.to_string().starts_with("test.yaml"), "{e}");
    let e = compile_err("version: v1\nhops: []\n");
    assert!(e.to_string().contains("trust_domain"), "{e}");
}

#[test]
fn semantic_errors_name_the_place() {
    // (what, yaml, text the message must hold)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "HS256 algorithm",
            base_with("[ES256]", "[ES256, HS256]"),
            "\"HS256\" is not allowed",
        ),
        (
            "none algorithm",
            base_with("[ES256]", "[none]"),
            "\"none\" is not allowed",
        ),
        (
            "lower-case algorithm name",
            base_with("[ES256]", "[es256]"),
            "is not allowed",
        ),
        (
            "no algorithms",
            base_with("[ES256]", "[]"),
            "algorithms: list the algorithms",
        ),
        ("no audiences", base_with("[api]", "[]"), "audiences"),
        (
            "empty jwks",
            base_with(
                "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
                "jwks: {}",
            ),
            "exactly one of `file` or `url`",
        ),
        (
            "jwks with file and url",
            base_with("jwks: { url:", "jwks: { file: k.json, url:"),
            "exactly one of `file` or `url`",
        ),
        (
            "jwks url not http",
            base_with("https://idp.shop.test/jwks.json", "ftp://idp/jwks.json"),
            "must be an http or https URL",
        ),
        (
            "bad jwks max_age",
            base_with("jwks: { url:", "jwks: { max_age: soon, url:"),
            "jwks.max_age",
        ),
        (
            "bad min_refetch_interval",
            base_with("jwks: { url:", "jwks: { min_refetch_interval: 5x, url:"),
            "jwks.min_refetch_interval",
        ),
        (
            "duplicate issuer name",
            base_with(
                "hops:",
                "  - name: corp\n    issuer: https://other.test\n    audiences: [api]\n    algorithms: [ES256]\n    jwks: { url: \"https://other.test/j\" }\nhops:",
            ),
            "issuers[1] (\"corp\"): duplicate issuer name",
        ),
        (
            "duplicate issuer iss",
            base_with(
                "hops:",
                "  - name: corp2\n    issuer: https://idp.shop.test\n    audiences: [api]\n    algorithms: [ES256]\n    jwks: { url: \"https://other.test/j\" }\nhops:",
            ),
            "issuers[1] (\"corp2\"): another issuer has the same `issuer`",
        ),
        (
            "empty issuer name",
            base_with("- name: corp", "- name: \"\""),
            "name and issuer must not be empty",
        ),
        (
            "duplicate hop name",
            format!(
                "{BASE}  - name: read\n    match: {{ host: b.shop.test, path: /b }}\n    from: [{{ anonymous: true }}]\n"
            ),
            "hops[1] (\"read\"): duplicate hop name",
        ),
        (
            "bad hop name",
            base_with("- name: read", "- name: \"read it\""),
            "hops[0] (\"read it\"): name",
        ),
        (
            "a token setting on a hop that mints none",
            base_with(
                "      - users: { issuer: corp }\n",
                "      - users: { issuer: corp }\n    token: { mint: false, scope: [read] }\n",
            ),
            "hops[0] (\"read\"): token: `mint: false` takes no other token setting",
        ),
        (
            "a token header in chaperone's own namespace",
            base_with(
                "trust_domain: shop.test",
                "trust_domain: shop.test\ntokens: { header: X-Chaperone-Txn }",
            ),
            "header: \"x-chaperone-txn\" is reserved",
        ),
        (
            "path without a leading slash",
            base_with("path: /v1/x", "path: v1/x"),
            "match.path",
        ),
        (
            "path with an empty segment",
            base_with("path: /v1/x", "path: /v1//x"),
            "empty segment",
        ),
        (
            "path with '**' inside",
            base_with("path: /v1/x", "path: /v1/**/x"),
            "'**' may only be the last segment",
        ),
        (
            "path with a repeated parameter",
            base_with("path: /v1/x", "path: \"/v1/{id}/{id}\""),
            "appears twice",
        ),
        (
            "path with a query",
            base_with("path: /v1/x", "path: \"/v1/x?y=1\""),
            "query",
        ),
        (
            "path with dot segments",
            base_with("path: /v1/x", "path: /v1/../x"),
            "'..'",
        ),
        (
            "host with a port",
            base_with("host: api.shop.test", "host: \"api.shop.test:8080\""),
            "no port, no scheme",
        ),
        (
            "host with a scheme",
            base_with("host: api.shop.test", "host: \"https://api.shop.test\""),
            "no port, no scheme",
        ),
        (
            "host with a path",
            base_with("host: api.shop.test", "host: api.shop.test/x"),
            "is not a host name",
        ),
        (
            "host with a leading dot",
            base_with("host: api.shop.test", "host: .shop.test"),
            "is not a host name",
        ),
        (
            "empty host",
            base_with("host: api.shop.test", "host: \"\""),
            "is not a host name",
        ),
        (
            "empty host list",
            base_with("host: api.shop.test", "host: []"),
            "at least one host",
        ),
        (
            "wildcard host with a port",
            base_with("host: api.shop.test", "host: \"*.shop.test:443\""),
            "no port, no scheme",
        ),
        (
            "wildcard in the middle",
            base_with("host: api.shop.test", "host: \"api.*.test\""),
            "is not a host name",
        ),
        (
            "lower-case method",
            base_with("method: GET", "method: get"),
            "match.method",
        ),
        (
            "empty method",
            base_with("method: GET", "method: [GET, \"\"]"),
            "match.method",
        ),
        (
            "empty from",
            base_with("    from:\n      - users: { issuer: corp }", "    from: []"),
            "from: at least one caller rule",
        ),
        (
            "anonymous with workloads",
            base_with(
                "      - users: { issuer: corp }",
                "      - anonymous: true\n        workloads: [spiffe://shop.test/ns/a/sa/b]",
            ),
            "`anonymous: true` stands alone",
        ),
        (
            "anonymous with users",
            base_with(
                "      - users: { issuer: corp }",
                "      - anonymous: true\n        users: { issuer: corp }",
            ),
            "`anonymous: true` stands alone",
        ),
        (
            "caller with nothing",
            base_with("      - users: { issuer: corp }", "      - {}"),
            "from[0]: name `workloads`, `users`, or both",
        ),
        (
            "anonymous: false alone",
            base_with(
                "      - users: { issuer: corp }",
                "      - anonymous: false",
            ),
            "from[0]",
        ),
        (
            "empty workload list",
            base_with("      - users: { issuer: corp }", "      - workloads: []"),
            "workloads: the list is empty",
        ),
        (
            "workload that is not a SPIFFE ID",
            base_with(
                "      - users: { issuer: corp }",
                "      - workloads: [\"https://shop.test/x\"]",
            ),
            "workloads: \"https://shop.test/x\"",
        ),
        (
            "users naming no issuer",
            base_with("users: { issuer: corp }", "users: { issuer: partner }"),
            "users.issuer: no issuer is named \"partner\"",
        ),
        (
            "defaults.decision allow",
            format!("{BASE}defaults: {{ decision: allow }}\n"),
            "defaults.decision: only \"deny\" is supported",
        ),
        (
            "upper-case trust domain",
            base_with("trust_domain: shop.test", "trust_domain: Shop.Test"),
            "trust_domain",
        ),
        (
            "trust domain with a scheme",
            base_with(
                "trust_domain: shop.test",
                "trust_domain: spiffe://shop.test",
            ),
            "not a valid SPIFFE trust domain",
        ),
        (
            "trust domain with a path",
            base_with("trust_domain: shop.test", "trust_domain: shop.test/ns"),
            "not a valid SPIFFE trust domain",
        ),
        (
            "empty trust domain",
            base_with("trust_domain: shop.test", "trust_domain: \"\""),
            "not a valid SPIFFE trust domain",
        ),
        (
            "empty version",
            base_with("version: \"v1\"", "version: \"  \""),
            "version",
        ),
        (
            "overlong version",
            base_with(
                "version: \"v1\"",
                &format!("version: \"{}\"", "v".repeat(129)),
            ),
            "version",
        ),
        (
            "header name with a space in hop request",
            base_with(
                "    from:",
                "    request: { headers: { remove: [\"x bad\"] } }\n    from:",
            ),
            "request: headers.remove: \"x bad\"",
        ),
        (
            "host header in hop response",
            base_with(
                "    from:",
                "    response: { headers: { remove: [Host] } }\n    from:",
            ),
            "response: headers.remove: \"host\"",
        ),
        (
            "empty header name in defaults.request",
            format!("{BASE}defaults: {{ request: {{ headers: {{ remove: [\"\"] }} }} }}\n"),
            "defaults.request: headers.remove",
        ),
        (
            "header with a colon in defaults.response",
            format!("{BASE}defaults: {{ response: {{ headers: {{ remove: [\":path\"] }} }} }}\n"),
            "defaults.response: headers.remove",
        ),
        (
            "leeway over 5m",
            base_with("    jwks:", "    leeway: 6m\n    jwks:"),
            "leeway: at most 5m",
        ),
        (
            "leeway of 301s",
            base_with("    jwks:", "    leeway: 301s\n    jwks:"),
            "leeway: at most 5m",
        ),
        (
            "leeway not a duration",
            base_with("    jwks:", "    leeway: half a minute\n    jwks:"),
            "leeway",
        ),
    ];
    for (what, yaml, needle) in cases {
        let e = compile_err(&yaml);
        let shown = e.to_string();
        assert!(
            shown.starts_with("test.yaml"),
            "{what}: error names the origin: {shown}"
        );
        assert!(shown.contains(needle), "{what}: want {needle:?} in {shown}");
    }
}

#[test]
fn missing_required_keys_are_errors() {
    for (what, yaml, needle) in [
        (
            "no jwks",
            BASE.replacen(
                "    jwks: { url: \"https://idp.shop.test/jwks.json\" }\n",
                "",
                1,
            ),
            "jwks",
        ),
        (
            "no algorithms",
            BASE.replacen("    algorithms: [ES256]\n", "", 1),
            "algorithms",
        ),
        (
            "no match path",
            BASE.replacen(", path: /v1/x", "", 1),
            "path",
        ),
        (
            "no hops",
            BASE.split("hops:").next().unwrap().to_owned(),
            "hops",
        ),
    ] {
        assert_ne!(yaml, BASE, "{what}: test bug");
        let e = compile_err(&yaml);
        assert!(e.to_string().contains(needle), "{what}: {e}");
        assert!(e.to_string().contains("missing field"), "{what}: {e}");
    }
}

#[test]
fn accepted_leeways() {
    for (leeway, secs) in [
        ("0s", 0),
        ("500ms", 0),
        ("10s", 10),
        ("5m", 300),
        ("300s", 300),
    ] {
        let p = compile_str(&base_with(
            "    jwks:",
            &format!("    leeway: {leeway}\n    jwks:"),
        ))
        .unwrap_or_else(|e| panic!("leeway {leeway}: {e}"));
        assert_eq!(p.verifier.issuers()[0].leeway, secs, "leeway {leeway}");
    }
}

#[test]
fn policy_larger_than_one_mib_is_refused() {
    let mut big = BASE.to_owned();
    big.push('#');
    big.push_str(&"x".repeat(MAX_POLICY_BYTES));
    big.push('\n');
    let e = compile_err(&big);
    assert!(e.to_string().contains("larger than"), "{e}");
    assert_eq!(e.location, None);

    // Just under the bound is fine: a comment pads it.
    let mut fits = BASE.to_owned();
    fits.push('#');
    fits.push_str(&"x".repeat(MAX_POLICY_BYTES - BASE.len() - 2));
    fits.push('\n');
    assert_eq!(fits.len(), MAX_POLICY_BYTES);
    assert!(compile_str(&fits).is_ok());
}

#[test]
fn hosts_methods_and_headers_are_normalized() {
    let yaml = format!(
        "{BASE}  - name: wild\n    match: {{ host: [\"API.Shop.Test\", \"*.Internal.Shop.Test\", \"*\"], method: [GET, POST], path: /w }}\n    from: [{{ anonymous: true }}]\n    request: {{ headers: {{ remove: [X-Debug] }} }}\n    response: {{ headers: {{ remove: [X-Trace_Id] }} }}\ndefaults:\n  decision: deny\n  request: {{ headers: {{ remove: [X-Tenant-Debug] }} }}\n  response: {{ headers: {{ remove: [X-Internal] }} }}\n"
    );
    let p = compile_str(&yaml).unwrap();
    let hop = p.hop("wild").unwrap();
    assert_eq!(
        hop.hosts,
        vec![
            HostPattern::Exact("api.shop.test".into()),
            HostPattern::Suffix(".internal.shop.test".into()),
            HostPattern::Any,
        ]
    );
    assert_eq!(hop.methods, vec!["GET".to_owned(), "POST".to_owned()]);
    assert_eq!(hop.request_headers_remove, vec!["x-debug".to_owned()]);
    assert_eq!(hop.response_headers_remove, vec!["x-trace_id".to_owned()]);
    assert!(p.hop("read").unwrap().request_headers_remove.is_empty());
    let mut want: Vec<String> = DEFAULT_REQUEST_REMOVE
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    want.push("x-tenant-debug".into());
    assert_eq!(p.default_request_remove, want);
    let mut want: Vec<String> = DEFAULT_RESPONSE_REMOVE
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    want.push("txn-token".into());
    want.push("x-internal".into());
    assert_eq!(p.default_response_remove, want);
    assert!(p.default_response_remove.contains(&"server".to_owned()));
    assert!(
        p.default_response_remove
            .contains(&"x-powered-by".to_owned())
    );
    assert!(p.hop("nope").is_none());
}

#[test]
fn workloads_trust_xfcc_is_read() {
    let p = compile_str(&format!("{BASE}workloads: {{ trust_xfcc: true }}\n")).unwrap();
    assert!(p.trust_xfcc);
}

#[tokio::test]
async fn jwks_file_is_resolved_relative_to_the_policy_directory() {
    let dir = TempDir::new("jwks-file");
    let key = SigningKey::generate(KeyKind::Es256, "k").unwrap();
    dir.write("keys/idp.json", jwks_json(&key));
    let yaml = base_with(
        "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
        "jwks: { file: keys/idp.json }",
    );
    let clock = FixedClock::new(NOW);
    let p = compile(
        "policy.yaml",
        Some(&dir.0),
        yaml.as_bytes(),
        &ctx_with(Arc::clone(&clock)),
    )
    .unwrap();
    let issuer = &p.verifier.issuers()[0];
    let KeySource::Static(set) = &issuer.keys else {
        panic!("a file JWKS is static");
    };
    assert_eq!(set.len(), 1);
    // The keys are the ones in the file: a token signed with the key verifies.
    let token = key
        .sign(
            "JWT",
            &serde_json::json!({"iss": "https://idp.shop.test", "aud": "api", "sub": "alice", "exp": NOW + 60}),
        )
        .unwrap();
    let user = p.verifier.verify(&token).await.unwrap();
    assert_eq!(user.sub, "alice");
    assert_eq!(&*user.issuer, "corp");

    // Without a base directory the same relative name is not found here.
    let e = compile("policy.yaml", None, yaml.as_bytes(), &ctx()).unwrap_err();
    assert!(e.to_string().contains("jwks.file keys/idp.json"), "{e}");

    // An absolute path is used as it is.
    let abs = dir.path("keys/idp.json");
    let yaml_abs = base_with(
        "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
        &format!("jwks: {{ file: \"{}\" }}", abs.display()),
    );
    assert!(
        compile(
            "policy.yaml",
            Some(Path::new("/nonexistent")),
            yaml_abs.as_bytes(),
            &ctx()
        )
        .is_ok()
    );
}

#[test]
fn bad_jwks_files_are_errors_naming_the_file() {
    let dir = TempDir::new("jwks-bad");
    let hs = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}"#;
    for (name, content, needle) in [
        ("missing.json", None, "missing.json"),
        ("garbage.json", Some("not json"), "not valid JSON"),
        (
            "empty.json",
            Some(r#"{"keys":[]}"#),
            "no usable signing key",
        ),
        ("hmac.json", Some(hs), "no usable signing key"),
    ] {
        if let Some(c) = content {
            dir.write(name, c);
        }
        let yaml = base_with(
            "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
            &format!("jwks: {{ file: {name} }}"),
        );
        let e = compile("p.yaml", Some(&dir.0), yaml.as_bytes(), &ctx()).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("p.yaml: issuers[0] (\"corp\"): jwks.file"),
            "{name}: {shown}"
        );
        assert!(
            shown.contains(&dir.path(name).display().to_string()),
            "{name}: {shown}"
        );
        assert!(shown.contains(needle), "{name}: {shown}");
    }
}

#[test]
fn embedded_policy_compiles() {
    let p = compile("embedded", None, EMBEDDED_POLICY.as_bytes(), &ctx()).unwrap();
    assert_eq!(p.version, "embedded-demo.1");
    assert_eq!(p.trust_domain, "demo.local");
    let names: Vec<&str> = p.hops.iter().map(|h| &*h.name).collect();
    assert_eq!(
        names,
        [
            "public-health",
            "shop-reads-order",
            "checkout-charges-payment"
        ]
    );
    assert!(p.hop("public-health").unwrap().callers[0].anonymous);
    assert_eq!(p.verifier.issuers().len(), 1);
    assert!(matches!(
        &p.verifier.issuers()[0].keys,
        KeySource::Remote(_)
    ));
    assert_eq!(p.hash, sha256_hex(EMBEDDED_POLICY.as_bytes()));
}

#[test]
fn hash_is_stable_for_the_same_bytes_and_changes_with_content() {
    let a = compile_str(BASE).unwrap();
    let b = compile_str(BASE).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash.len(), 64);
    assert!(
        a.hash
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(a.hash, sha256_hex(BASE.as_bytes()));
    // Even a comment is a change of content.
    let c = compile_str(&format!("{BASE}# a comment\n")).unwrap();
    assert_ne!(a.hash, c.hash);
    assert_eq!(a.version, c.version);
    // The origin does not enter the hash.
    let d = compile("other.yaml", None, BASE.as_bytes(), &ctx()).unwrap();
    assert_eq!(a.hash, d.hash);
    assert_eq!(d.source, "other.yaml");
}

#[test]
fn remote_jwks_caches_are_shared_across_compiles() {
    let ctx = ctx();
    let a = compile("a", None, BASE.as_bytes(), &ctx).unwrap();
    let b = compile("b", None, format!("{BASE}# v2\n").as_bytes(), &ctx).unwrap();
    let (KeySource::Remote(ra), KeySource::Remote(rb)) =
        (&a.verifier.issuers()[0].keys, &b.verifier.issuers()[0].keys)
    else {
        panic!("remote keys expected");
    };
    assert!(Arc::ptr_eq(ra, rb), "a reload keeps the fetched keys");
    // Different fetch settings are a different cache.
    let c = compile(
        "c",
        None,
        base_with("jwks: { url:", "jwks: { min_refetch_interval: 1s, url:").as_bytes(),
        &ctx,
    )
    .unwrap();
    let KeySource::Remote(rc) = &c.verifier.issuers()[0].keys else {
        panic!("remote keys expected");
    };
    assert!(!Arc::ptr_eq(ra, rc));
}

#[test]
fn durations() {
    for (s, want) in [
        ("500ms", Duration::from_millis(500)),
        ("30s", Duration::from_secs(30)),
        (" 5m ", Duration::from_secs(300)),
        ("1h", Duration::from_secs(3600)),
        ("0s", Duration::ZERO),
        ("18446744073709551615h", Duration::from_secs(u64::MAX)),
    ] {
        assert_eq!(parse_duration(s), Ok(want), "{s}");
    }
    for bad in [
        "",
        "s",
        "30",
        "30sec",
        "-1s",
        "1.5s",
        "5 m",
        "1d",
        "99999999999999999999s",
    ] {
        let e = parse_duration(bad).unwrap_err();
        assert!(e.contains("is not a duration"), "{bad}: {e}");
    }
}

fn good_policy(version: &str) -> String {
    BASE.replacen("version: \"v1\"", &format!("version: \"{version}\""), 1)
}

#[test]
fn store_reload_keeps_the_old_policy_on_error_and_swaps_on_success() {
    let dir = TempDir::new("store");
    let path = dir.write("policy.yaml", good_policy("one"));
    let clock = FixedClock::new(NOW);
    let store = PolicyStore::open(Some(path.clone()), ctx_with(Arc::clone(&clock))).unwrap();
    assert_eq!(store.current().version, "one");
    assert_eq!(store.current().source, path.display().to_string());
    assert_eq!(store.path(), Some(&path));
    assert_eq!(store.status().loaded_at, NOW);
    assert_eq!(store.status().last_error, None);

    // Unchanged bytes: nothing to swap.
    clock.set(NOW + 10);
    assert_eq!(store.reload("test"), Outcome::Unchanged);
    assert_eq!(store.status().loaded_at, NOW, "nothing new was loaded");

    // A broken file: rejected with where and why; the old policy keeps serving.
    let broken = good_policy("two").replacen("    match:", "    colour: blue\n    match:", 1);
    std::fs::write(&path, &broken).unwrap();
    let before = store.current();
    let e = rejected(store.reload("test"));
    assert!(e.starts_with(&format!("{}:11:", path.display())), "{e}");
    assert!(
        Arc::ptr_eq(&before, &store.current()),
        "the old snapshot stays"
    );
    assert_eq!(store.current().version, "one");
    let status = store.status();
    let last = status.last_error.unwrap();
    assert!(
        last.starts_with(&format!("{}:11:", path.display())),
        "{last}"
    );
    assert!(last.contains("colour"), "{last}");
    assert_eq!(status.loaded_at, NOW);

    // A semantically wrong file is rejected the same way.
    std::fs::write(&path, good_policy("two").replace("[ES256]", "[HS256]")).unwrap();
    let e = rejected(store.reload("test"));
    assert!(e.contains("HS256"), "{e}");
    assert_eq!(store.current().version, "one");

    // A good file: swapped, the error cleared, loaded_at moved.
    clock.set(NOW + 20);
    std::fs::write(&path, good_policy("two")).unwrap();
    assert!(matches!(store.reload("test"), Outcome::Reloaded));
    assert_eq!(store.current().version, "two");
    assert!(!Arc::ptr_eq(&before, &store.current()));
    assert_eq!(
        before.version, "one",
        "a snapshot held elsewhere does not change"
    );
    let status = store.status();
    assert_eq!(status.last_error, None);
    assert_eq!(status.loaded_at, NOW + 20);
    assert_eq!(store.snapshot().version, "two");
}

#[test]
fn store_reload_survives_a_missing_or_oversized_file() {
    let dir = TempDir::new("store-gone");
    let path = dir.write("policy.yaml", good_policy("one"));
    let store = PolicyStore::open(Some(path.clone()), ctx()).unwrap();

    std::fs::remove_file(&path).unwrap();
    let e = rejected(store.reload("test"));
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert_eq!(store.current().version, "one");
    assert!(store.status().last_error.is_some());

    let mut big = good_policy("big");
    big.push('#');
    big.push_str(&"x".repeat(MAX_POLICY_BYTES));
    std::fs::write(&path, big).unwrap();
    let e = rejected(store.reload("test"));
    assert!(e.contains("larger than"), "{e}");
    assert_eq!(store.current().version, "one");
}

#[test]
fn store_load_refuses_a_bad_policy_and_defaults_to_the_embedded_one() {
    let dir = TempDir::new("store-load");
    let path = dir.write("policy.yaml", "version: v1\n");
    let e = PolicyStore::open(Some(path.clone()), ctx()).unwrap_err();
    assert_eq!(e.origin, path.display().to_string());
    assert!(PolicyStore::open(Some(dir.path("nope.yaml")), ctx()).is_err());

    let store = PolicyStore::open(None, ctx()).unwrap();
    assert_eq!(store.current().source, "embedded");
    assert_eq!(store.current().version, "embedded-demo.1");
    assert_eq!(store.path(), None);
    // Reloading the embedded policy is a no-op, not an error.
    assert_eq!(store.reload("test"), Outcome::Unchanged);
}

#[tokio::test]
async fn store_reload_picks_up_a_rotated_jwks_file() {
    let dir = TempDir::new("store-jwks");
    let old = SigningKey::generate(KeyKind::Es256, "old").unwrap();
    let new = SigningKey::generate(KeyKind::Es256, "new").unwrap();
    dir.write("jwks.json", jwks_json(&old));
    let yaml = base_with(
        "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
        "jwks: { file: jwks.json }",
    );
    let path = dir.write("policy.yaml", &yaml);
    let clock = FixedClock::new(NOW);
    let store = PolicyStore::open(Some(path), ctx_with(Arc::clone(&clock))).unwrap();
    let claims = serde_json::json!({"iss": "https://idp.shop.test", "aud": "api", "sub": "a", "exp": clock.now_unix() + 60});
    let new_token = new.sign("JWT", &claims).unwrap();
    assert!(store.current().verifier.verify(&new_token).await.is_err());

    // The identity provider rotated its key; the operator updates the file
    // and reloads (SIGHUP or the admin call).
    dir.write("jwks.json", jwks_json(&new));
    let reloaded = store.reload("test");
    assert!(matches!(reloaded, Outcome::Reloaded), "{reloaded:?}");
    assert!(
        store.current().verifier.verify(&new_token).await.is_ok(),
        "the reloaded policy must verify with the rotated key"
    );
}

/// `safe` values are never acted on, in any spelling; one the class's
/// detectors would not find whole is an error that does not repeat it.
#[test]
fn safe_values_of_a_class() {
    let yaml = base_with(
        "hops:",
        "data_classes:\n  card_number: { detect: [pan], action: redact, safe: [\"4111-1111-1111-1111\"] }\nhops:",
    );
    let p = compile_str(&yaml).unwrap();
    let key = crate::secret::HashKey::from_bytes(b"k");
    let mut findings = crate::scrub::Findings::new(p.classes.len());
    let text = "test 4111 1111 1111 1111, real 5555555555554444";
    let out = crate::scrub::text::scan_text(
        text,
        p.classes.iter().next().unwrap().detectors,
        crate::scrub::detect::Context::default(),
        &p.classes,
        &key,
        &mut findings,
    )
    .unwrap();
    match out {
        crate::scrub::text::TextOutcome::Replaced(s) => {
            assert_eq!(s, "test 4111 1111 1111 1111, real [REDACTED:card_number]");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(findings.total(), 1);

    let bad = base_with(
        "hops:",
        "data_classes:\n  card_number: { detect: [pan], action: redact, safe: [\"4111111111111112\"] }\nhops:",
    );
    let e = compile_err(&bad).to_string();
    assert!(e.contains("data_classes.card_number.safe[0]"), "{e}");
    assert!(!e.contains("4111111111111112"), "{e}");
}

/// A class of the policy's own: a pattern with a check and context words,
/// and a dictionary file of values and hashes; errors name the field, and
/// the file by line, never a value.
#[test]
fn custom_classes_from_patterns_and_dictionaries() {
    let tmp = TempDir::new("custom");
    let dir = tmp.path("");
    let key = crate::secret::HashKey::from_bytes(&[7u8; 32]);
    let hashed = crate::scrub::class::hash_token("Jane Q Public", &key);
    std::fs::write(
        dir.join("vip.txt"),
        format!("# VIP customers\nACC-0042\n#! words=3\n{hashed}\n"),
    )
    .unwrap();
    let classes = "data_classes:
  member_id:
    pattern: 'M-[0-9]{8}'
    check: luhn
    context: [member, MRN]
    action: redact
  vip: { dictionary: vip.txt, action: hash }
  card_number: { detect: [pan], action: mask_pan, safe: [\"4111 1111 1111 1111\"] }
  test_members: { pattern: 'T-[0-9]{4}', action: redact, safe: [\"T-0000\"] }
hops:";
    let yaml = base_with("hops:", classes);
    let policy = compile("policy.yaml", Some(&dir), yaml.as_bytes(), &ctx())
        .unwrap_or_else(|e| panic!("{e}"));
    let scan = policy
        .classes
        .iter()
        .fold(crate::scrub::detect::DetectorSet::empty(), |s, c| {
            s.union(c.detectors)
        });
    let scrub = |text: &str, key_name: Option<&str>| {
        let mut findings = crate::scrub::Findings::new(policy.classes.len());
        match crate::scrub::text::scan_text(
            text,
            scan,
            crate::scrub::detect::Context::of_key(key_name),
            &policy.classes,
            &key,
            &mut findings,
        )
        .unwrap()
        {
            crate::scrub::text::TextOutcome::Replaced(s) => s,
            crate::scrub::text::TextOutcome::Unchanged => text.to_owned(),
            other => panic!("{other:?}"),
        }
    };
    // M-12345674 passes Luhn, M-12345675 does not.
    assert_eq!(
        scrub("member M-12345674", None),
        "member [REDACTED:member_id]"
    );
    assert_eq!(scrub("member M-12345675", None), "member M-12345675");
    assert_eq!(scrub("order M-12345674", None), "order M-12345674");
    assert_eq!(
        scrub("M-12345674", Some("memberId")),
        "[REDACTED:member_id]"
    );
    let vip = scrub("paid from ACC-0042 for Jane Q Public.", None);
    assert!(
        !vip.contains("ACC-0042") && !vip.contains("Jane Q Public"),
        "{vip}"
    );
    assert_eq!(vip.matches("h:").count(), 2, "{vip}");
    assert_eq!(
        scrub("T-0000 and T-1234", None),
        "T-0000 and [REDACTED:test_members]"
    );

    // `chaperone check` shows what each class is made of, not what it holds.
    let custom = policy.classes.custom();
    let shown: Vec<String> = policy
        .classes
        .iter()
        .flat_map(|c| c.detectors.iter())
        .filter_map(|d| custom.get(d).map(ToString::to_string))
        .collect();
    assert!(
        shown.contains(&"pattern (luhn, context: member MRN)".to_owned()),
        "{shown:?}"
    );
    assert!(
        shown.contains(&"dictionary of 2 entries".to_owned()),
        "{shown:?}"
    );

    std::fs::write(dir.join("bad.txt"), "ACC-1\n\nh:12345\n").unwrap();
    for (class, wanted) in [
        (
            "x: { pattern: 'a*', action: redact }",
            "data_classes.x.pattern: matches the empty string",
        ),
        (
            "x: { pattern: '(', action: redact }",
            "data_classes.x.pattern:",
        ),
        (
            "x: { pattern: 'a', check: crc, action: redact }",
            "data_classes.x.check: \"crc\" is not a check",
        ),
        (
            "x: { detect: [pan], check: luhn, action: redact }",
            "check and context apply to a pattern",
        ),
        (
            "x: { dictionary: bad.txt, action: redact }",
            "bad.txt:3: an h: entry",
        ),
        (
            "x: { dictionary: missing.txt, action: redact }",
            "missing.txt",
        ),
        ("x: { action: redact }", "names no detector"),
        (
            "x: { pattern: 'a', context: [\"two words\"], action: redact }",
            "data_classes.x.context[0]",
        ),
        (
            "x: { pattern: 'Z-[0-9]', action: redact, safe: [\"Y-1\"] }",
            "data_classes.x.safe[0]",
        ),
    ] {
        let yaml = base_with("hops:", &format!("data_classes:\n  {class}\nhops:"));
        let e = match compile("policy.yaml", Some(&dir), yaml.as_bytes(), &ctx()) {
            Ok(_) => panic!("accepted: {class}"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(wanted), "{class}: {e}");
        assert!(!e.contains("ACC-1") && !e.contains("Y-1"), "{e}");
    }
}

/// The error of a reload that was refused.
fn rejected(outcome: Outcome) -> String {
    match outcome {
        Outcome::Rejected(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A policy naming a JWKS file and a dictionary, on disk.
fn bundled_policy(dir: &TempDir, version: &str) -> PathBuf {
    let key = SigningKey::generate(KeyKind::Es256, "idp").unwrap();
    dir.write("keys/idp.json", jwks_json(&key));
    dir.write("dict/vip.txt", "Ada Lovelace\n");
    let yaml = base_with(
        "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
        "jwks: { file: keys/idp.json }",
    )
    .replace("version: \"v1\"", &format!("version: \"{version}\""));
    let yaml =
        format!("{yaml}\ndata_classes:\n  vip: {{ dictionary: dict/vip.txt, action: redact }}\n");
    dir.write("policy.yaml", yaml)
}

#[test]
fn bundle_build_packs_every_file_the_policy_reads_and_nothing_outside() {
    use super::bundle;
    let dir = TempDir::new("bundle-build");
    let path = bundled_policy(&dir, "b1");
    let signer = SigningKey::generate(KeyKind::EdDsa, "release").unwrap();
    let built = bundle::build(&path, &ctx()).unwrap();
    let signed = bundle::sign(&built, &signer).unwrap();
    let trusted =
        bundle::TrustedKeys::parse(jwks_document([&signer]).to_string().as_bytes()).unwrap();
    let opened = bundle::open(&signed, &trusted).unwrap();
    let names: Vec<&str> = opened.files.keys().map(String::as_str).collect();
    assert_eq!(names, ["dict/vip.txt", "keys/idp.json", "policy.yaml"]);
    // Compiled from the bundle alone: the directory can go.
    drop(dir);
    let policy = bundle::compile_opened(&opened, "b.bundle", &ctx()).unwrap();
    assert_eq!(policy.version, "b1");
    assert_eq!(policy.bundle.as_ref().map(|b| &*b.signer), Some("release"));
    assert!(policy.files.is_empty(), "nothing on disk is watched");

    let outside = TempDir::new("bundle-outside");
    let idp = SigningKey::generate(KeyKind::Es256, "idp").unwrap();
    outside.write("shared/idp.json", jwks_json(&idp));
    let yaml = base_with(
        "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
        "jwks: { file: ../shared/idp.json }",
    );
    let inner = outside.write("p/policy.yaml", yaml);
    // Compiles from disk (the JWKS is read), but no bundle reaches outside.
    let err = bundle::build(&inner, &ctx()).unwrap_err();
    assert!(
        err.contains("only files under the policy's directory") && err.contains("../shared"),
        "{err}"
    );
}

#[test]
fn a_bundle_names_only_its_own_files() {
    use super::bundle;
    let dir = TempDir::new("bundle-abs");
    let key = SigningKey::generate(KeyKind::Es256, "idp").unwrap();
    let abs = dir.write("idp.json", jwks_json(&key));
    // A verified bundle whose policy names a file by absolute path: the
    // file exists on disk but is not in the bundle, so it is not read.
    let yaml = base_with(
        "jwks: { url: \"https://idp.shop.test/jwks.json\" }",
        &format!("jwks: {{ file: {} }}", abs.display()),
    );
    let signer = SigningKey::generate(KeyKind::Es256, "s").unwrap();
    let files = std::collections::BTreeMap::from([("policy.yaml".to_owned(), yaml.into_bytes())]);
    let signed =
        bundle::sign(&bundle::pack("policy.yaml", "v1", &files).unwrap(), &signer).unwrap();
    let trusted =
        bundle::TrustedKeys::parse(jwks_document([&signer]).to_string().as_bytes()).unwrap();
    let opened = bundle::open(&signed, &trusted).unwrap();
    let err = bundle::compile_opened(&opened, "b.bundle", &ctx()).unwrap_err();
    assert!(err.to_string().contains("not in the bundle"), "{err}");
}

#[test]
fn bundle_store_keeps_the_policy_in_force_when_a_bundle_is_refused() {
    use super::bundle;
    use super::store::BundleFrom;
    use crate::reload::Reload;
    let dir = TempDir::new("bundle-store");
    let signer = SigningKey::generate(KeyKind::Es256, "release-1").unwrap();
    let stranger = SigningKey::generate(KeyKind::Es256, "release-1").unwrap();
    let trusted =
        || bundle::TrustedKeys::parse(jwks_document([&signer]).to_string().as_bytes()).unwrap();
    let policy = bundled_policy(&dir, "b1");
    let v1 = bundle::sign(&bundle::build(&policy, &ctx()).unwrap(), &signer).unwrap();
    let at = dir.write("policy.bundle", &v1);
    let store =
        PolicyStore::open_bundle(BundleFrom::File(at.clone()), trusted(), None, ctx()).unwrap();
    assert_eq!(store.current().version, "b1");
    assert_eq!(
        store.current().bundle.as_ref().map(|b| &*b.signer),
        Some("release-1")
    );
    assert!(!store.changed());

    let v2_policy = bundled_policy(&dir, "b2");
    let v2 = bundle::build(&v2_policy, &ctx()).unwrap();
    for (bad, stage) in [
        (v2.clone(), "signature"),
        (bundle::sign(&v2, &stranger).unwrap(), "signature"),
        (b"not a bundle".to_vec(), "format"),
    ] {
        std::fs::write(&at, &bad).unwrap();
        assert!(store.changed());
        assert!(matches!(store.reload("file"), Outcome::Rejected(_)));
        assert_eq!(Reload::refusal(&store), Some(stage));
        assert_eq!(
            store.current().version,
            "b1",
            "{stage}: the previous policy stays"
        );
        assert!(store.status().last_error.is_some());
    }
    std::fs::write(&at, bundle::sign(&v2, &signer).unwrap()).unwrap();
    assert_eq!(store.reload("file"), Outcome::Reloaded);
    assert_eq!(store.current().version, "b2");
    assert!(store.status().last_error.is_none());
    assert_eq!(Reload::refusal(&store), None);
}

/// `yaml` with `from` replaced by `to` fails as it is read, saying `says`,
/// at a line of the entry that holds `from` (at most `before` lines above it).
fn read_error_near(yaml: &str, from: &str, to: &str, says: &str, before: usize) {
    let at = yaml[..yaml.find(from).unwrap()].matches('\n').count() + 1;
    let e = compile_err(&yaml.replacen(from, to, 1));
    assert!(e.to_string().contains(says), "{to:?}: {e}");
    let (line, _) = e
        .location
        .unwrap_or_else(|| panic!("{to:?}: no location in {e}"));
    assert!(
        line + before >= at && line <= at + 1,
        "{to:?}: line {line}, near {at}: {e}"
    );
    assert!(e.to_string().contains("test.yaml:"), "{e}");
}

/// `yaml` with `from` replaced by `to` fails as it compiles, saying `says`
/// where `at` names it.
fn meaning_error(yaml: &str, from: &str, to: &str, says: &str, at: &str) {
    let e = compile_err(&yaml.replacen(from, to, 1)).to_string();
    assert!(e.contains(says), "{to:?}: {e}");
    assert!(e.contains(at), "{e}");
}

const BUDGETS: &str = r#"version: "v1"
trust_domain: shop.test
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  email: { detect: [email], action: hash }
defaults:
  budgets:
    - { name: all-findings, direction: response, count: findings, window: 1h, limit: 500, action: alert }
hops:
  - name: list-cards
    match: { host: api.shop.test, method: GET, path: /v1/cards }
    from: [ { anonymous: true } ]
    budgets:
      - name: cards
        direction: response
        count: findings
        classes: [card_number]
        window: 1h
        limit: 100
        action: block
      - { name: upload, direction: request, count: bytes, window: 10m, limit: 1000000, action: alert, on_store_error: deny }
  - name: other
    match: { host: api.shop.test, method: GET, path: /v1/other }
    from: [ { anonymous: true } ]
  - name: none
    match: { host: api.shop.test, method: GET, path: /v1/none }
    from: [ { anonymous: true } ]
    budgets: []
"#;

#[test]
fn budgets_compile_with_their_defaults() {
    use crate::budget::{BudgetAction, Direction, Measure, OnStoreError};
    let p = compile_str(BUDGETS).unwrap();
    let own = &p.hops[0].budgets;
    assert_eq!(own.len(), 2, "the hop's own replace the defaults'");
    assert_eq!(&*own[0].name, "cards");
    assert_eq!(own[0].direction, Direction::Response);
    let card = p.classes.index_of("card_number").unwrap();
    assert_eq!(own[0].measure, Measure::Findings(Some(vec![card])));
    assert_eq!(own[0].window, Duration::from_secs(3600));
    assert_eq!(own[0].limit, 100);
    assert_eq!(own[0].action, BudgetAction::Block);
    assert_eq!(
        own[0].on_store_error,
        OnStoreError::Deny,
        "block denies by default"
    );
    assert_eq!(own[1].measure, Measure::Bytes);
    assert_eq!(own[1].direction, Direction::Request);
    assert_eq!(own[1].on_store_error, OnStoreError::Deny, "as written");
    let inherited = &p.hops[1].budgets;
    assert_eq!(inherited.len(), 1);
    assert_eq!(&*inherited[0].name, "all-findings");
    assert_eq!(inherited[0].measure, Measure::Findings(None));
    assert_eq!(
        inherited[0].on_store_error,
        OnStoreError::Allow,
        "alert allows by default"
    );
    assert!(p.hops[2].budgets.is_empty(), "`budgets: []` opts out");
}

#[test]
fn budgets_are_validated_strictly_with_their_line() {
    // Read errors: the line of the budget's entry.
    for (from, to, says) in [
        ("window: 1h\n", "window: 1 hour\n", "window"),
        ("window: 1h\n", "window: 500ms\n", "between 1s and 7 days"),
        ("window: 1h\n", "window: 30d\n", "not a duration"),
        ("limit: 100\n", "limit: 0\n", "nonzero"),
        ("limit: 100\n", "limit: -3\n", "limit"),
        ("action: block\n", "action: refuse\n", "unknown variant"),
        (
            "count: findings\n        classes",
            "count: rows\n        classes",
            "unknown variant",
        ),
        // A record path: a field path ending with `[*]`, read strictly.
        (
            "count: findings\n        classes: [card_number]\n",
            "count: records\n        path: orders\n",
            "path \"orders\": names no array's elements",
        ),
        (
            "count: findings\n        classes: [card_number]\n",
            "count: records\n        path: \"orders[*].id\"\n",
            "ends with [*]",
        ),
        (
            "count: findings\n        classes: [card_number]\n",
            "count: records\n        path: \"orders[0]\"\n",
            "only [*] may index an array",
        ),
        (
            "count: findings\n        classes: [card_number]\n",
            "count: records\n        path: \"a..b[*]\"\n",
            "empty segment",
        ),
        (
            "count: findings\n        classes: [card_number]\n",
            "count: records\n        path: [\"orders[*]\"]\n",
            "path",
        ),
        (
            "direction: response\n        count",
            "direction: both\n        count",
            "unknown variant",
        ),
        ("name: cards\n", "name: \"cards per hour\"\n", "budget name"),
        (
            "limit: 100\n",
            "limit: 100\n        per: user\n",
            "unknown field",
        ),
    ] {
        read_error_near(BUDGETS, from, to, says, 6);
    }
    // Meaning: the hop and the budget named (what is counted: below).
    meaning_error(
        BUDGETS,
        "name: upload",
        "name: cards",
        "duplicate budget name",
        "hops[0] (\"list-cards\"): budgets[",
    );
}

/// What a budget or an anomaly counts is read one way for both.
#[test]
fn what_is_counted_is_checked_alike_for_budgets_and_anomalies() {
    for (yaml, at) in [
        (BUDGETS, "hops[0] (\"list-cards\"): budgets["),
        (ANOMALIES, "hops[0] (\"list-cards\"): anomalies["),
    ] {
        for (from, to, says) in [
            (
                "classes: [card_number]",
                "classes: [iban]",
                "\"iban\" is not a data class",
            ),
            ("classes: [card_number]", "classes: []", "at least one"),
            (
                "count: bytes",
                "count: bytes, classes: [email]",
                "only `count: findings` names classes",
            ),
            // Records: a path, and only there; no classes.
            (
                "count: bytes",
                "count: bytes, path: \"orders[*]\"",
                "only `count: records` names a path",
            ),
            (
                "classes: [card_number]",
                "classes: [card_number]\n        path: \"orders[*]\"",
                "only `count: records` names a path",
            ),
            (
                "count: bytes",
                "count: records",
                "names the array whose elements it counts",
            ),
            (
                "count: findings\n        classes: [card_number]",
                "count: records\n        path: \"orders[*]\"\n        classes: [card_number]",
                "only `count: findings` names classes",
            ),
        ] {
            meaning_error(yaml, from, to, says, at);
        }
    }
}

const ANOMALIES: &str = r#"version: "v1"
trust_domain: shop.test
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  email: { detect: [email], action: hash }
defaults:
  anomalies:
    - { name: findings-normal, direction: response, count: findings, window: 1h, sigmas: 4, min: 50 }
hops:
  - name: list-cards
    match: { host: api.shop.test, method: GET, path: /v1/cards }
    from: [ { anonymous: true } ]
    budgets:
      - { name: cards, direction: response, count: findings, window: 1h, limit: 100, action: block }
    anomalies:
      - name: cards-normal
        direction: response
        count: findings
        classes: [card_number]
        window: 1h
        sigmas: 3.5
        min: 20
        history: 14d
        warmup: 48
      - { name: upload-normal, direction: request, count: bytes, window: 10m, sigmas: 4, min: 100000, history: 1d }
  - name: other
    match: { host: api.shop.test, method: GET, path: /v1/other }
    from: [ { anonymous: true } ]
  - name: none
    match: { host: api.shop.test, method: GET, path: /v1/none }
    from: [ { anonymous: true } ]
    anomalies: []
"#;

#[test]
fn anomalies_compile_with_their_defaults() {
    use crate::anomaly::DEFAULT_HISTORY;
    use crate::budget::{Direction, Measure};
    let p = compile_str(ANOMALIES).unwrap();
    let own = &p.hops[0].anomalies;
    assert_eq!(own.len(), 2, "the hop's own replace the defaults'");
    let card = p.classes.index_of("card_number").unwrap();
    let a = &own[0];
    assert_eq!(&*a.name, "cards-normal");
    assert_eq!(a.measure, Measure::Findings(Some(vec![card])));
    assert_eq!(a.fingerprint, "response:findings:card_number");
    assert_eq!((a.sigmas, a.min, a.warmup), (3.5, 20, 48));
    assert_eq!(a.history, Duration::from_secs(14 * 86_400));
    let b = &own[1];
    assert_eq!(
        (b.direction, &b.measure),
        (Direction::Request, &Measure::Bytes)
    );
    // A day of 10-minute windows: 144, half of them to warm up.
    assert_eq!((b.windows(), b.warmup), (144, 72));
    let inherited = &p.hops[1].anomalies;
    assert_eq!(inherited.len(), 1);
    assert_eq!(&*inherited[0].name, "findings-normal");
    assert_eq!(inherited[0].history, DEFAULT_HISTORY);
    assert_eq!(inherited[0].warmup, 84);
    assert!(p.hops[1].per_caller() && p.hops[0].per_caller());
    assert!(!p.hops[2].per_caller(), "`anomalies: []` opts out");
}

#[test]
fn anomalies_are_validated_strictly_with_their_line() {
    // Read errors: the line of the anomaly's entry.
    for (from, to, says) in [
        ("sigmas: 3.5\n", "sigmas: 0\n", "sigmas: 0 is not above 0"),
        ("sigmas: 3.5\n", "sigmas: -1\n", "sigmas"),
        ("sigmas: 3.5\n", "sigmas: 1000\n", "at most 100"),
        ("sigmas: 3.5\n", "sigmas: many\n", "sigmas"),
        ("min: 20\n", "min: -5\n", "min"),
        ("history: 14d\n", "history: 91d\n", "longer than 90 days"),
        ("history: 14d\n", "history: two weeks\n", "history"),
        ("warmup: 48\n", "warmup: -1\n", "warmup"),
        (
            "window: 1h\n        sigmas",
            "window: 8d\n        sigmas",
            "window",
        ),
        (
            "name: cards-normal\n",
            "name: \"cards normal\"\n",
            "anomaly name",
        ),
        (
            "warmup: 48\n",
            "warmup: 48\n        limit: 3\n",
            "unknown field",
        ),
    ] {
        read_error_near(ANOMALIES, from, to, says, 9);
    }
    // Meaning: the hop and the anomaly named.
    for (from, to, says) in [
        ("history: 14d", "history: 1h", "less than two windows"),
        ("warmup: 48", "warmup: 1000001", "more than 1000000"),
        (
            "name: upload-normal",
            "name: cards-normal",
            "duplicate name",
        ),
        ("name: upload-normal", "name: cards", "duplicate name"),
    ] {
        meaning_error(
            ANOMALIES,
            from,
            to,
            says,
            "hops[0] (\"list-cards\"): anomalies[",
        );
    }
}

#[test]
fn records_budgets_hand_their_paths_to_the_contract_of_their_direction() {
    use crate::budget::{Direction, Measure};
    let text = BUDGETS.replace(
        "    budgets: []\n",
        r#"    budgets:
      - { name: orders, direction: response, count: records, path: "orders[*]", window: 1h, limit: 500, action: block }
      - { name: lines, direction: response, count: records, path: "[*]", window: 1h, limit: 50, action: alert }
      - { name: orders-again, direction: response, count: records, path: "orders[*]", window: 1m, limit: 20, action: block }
      - { name: uploads, direction: request, count: records, path: "data.items[*]", window: 1h, limit: 10, action: block }
    anomalies:
      - { name: orders-normal, direction: response, count: records, path: "orders[*]", window: 1h, sigmas: 4, min: 50 }
"#,
    );
    let p = compile_str(&text).unwrap();
    let hop = &p.hops[2];
    let measures: Vec<_> = hop.budgets.iter().map(|b| &b.measure).collect();
    let records = |path: &str, index| Measure::Records {
        path: path.into(),
        index,
    };
    // Indexes per direction; one path counted once.
    assert_eq!(
        measures,
        [
            &records("orders[*]", 0),
            &records("[*]", 1),
            &records("orders[*]", 0),
            &records("data.items[*]", 0),
        ]
    );
    let paths = |c: &crate::scrub::contract::Contract| c.records.as_ref().unwrap().paths.clone();
    assert_eq!(paths(&hop.response_body), ["orders[*]", "[*]"]);
    assert_eq!(paths(&hop.request_body), ["data.items[*]"]);
    assert_eq!(hop.budgets[3].direction, Direction::Request);
    // An anomaly counts records as a budget does: the same path, once.
    assert_eq!(hop.anomalies[0].measure, records("orders[*]", 0));
    assert_eq!(hop.anomalies[0].fingerprint, "response:records:orders[*]");
    // What is counted is part of the budget's keys.
    assert_eq!(hop.budgets[0].fingerprint, "response:records:orders[*]");
    assert_eq!(hop.budgets[3].fingerprint, "request:records:data.items[*]");
    // A hop without records budgets looks for none.
    for hop in &p.hops[..2] {
        assert!(hop.request_body.records.is_none() && hop.response_body.records.is_none());
    }
    // In the defaults, each hop counts its own.
    let text = BUDGETS.replace(
        "count: findings, window: 1h, limit: 500",
        "count: records, path: \"items[*]\", window: 1h, limit: 500",
    );
    let p = compile_str(&text).unwrap();
    assert_eq!(p.hops[1].budgets[0].measure, records("items[*]", 0));
    assert_eq!(paths(&p.hops[1].response_body), ["items[*]"]);
    assert!(
        p.hops[0].response_body.records.is_none(),
        "its own replace them"
    );
}
