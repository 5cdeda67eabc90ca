//! Adversarial end-to-end suite: an attacker shaping requests, and a careless
//! callee shaping responses, try to move sensitive data (or credentials, or
//! behaviour-changing headers) across a hop past its contract, through a real
//! Envoy on the shipped `envoy/edge.yaml`, chaperone as ext_authz and
//! ext_proc, and a raw recording upstream (`tests/common/raw.rs`) that keeps
//! every byte it receives and answers with exact canned bytes.
//!
//! Cases are grouped in stacks (one chaperone + Envoy + upstream per policy).
//! Each case is one attack; it reports PASS or FAIL on its own (a failing
//! case does not stop the others), and the stack's test fails at the end if
//! any case failed, with the table of outcomes. Each stack ends with a canary
//! sweep: no canary, in any form the suite used (digits, separators, number
//! forms, percent- and `\u`-escapes, NUL-interleaved), in the callee's
//! recorded bytes, the caller's received bytes, chaperone's log, its
//! `/metrics`, its spans (exported to an OTLP collector of the test's), or
//! Envoy's logs (its stderr, and the access log `edge.yaml` writes).
//!
//! Run with the real Envoy: `CHAPERONE_ENVOY=/path/to/envoy cargo test --test e2e_leaks`.
//! Every line `LEAKS [stack] PASS|FAIL case` is also printed as it happens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Each case's attack is named in a doc comment on the statement that runs it.
#![allow(unused_doc_comments)]

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::raw::{Canned, RawRequest, RawResponse, RawUpstream, Req, send_within};
use common::*;
use futures_util::FutureExt as _;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Canaries
// ---------------------------------------------------------------------------

const VISA16: &str = "4111111111111111";
const MC16: &str = "5555555555554444";
const AMEX15: &str = "378282246310005";
/// 13-digit Visa.
const VISA13: &str = "4222222222222";
/// 19-digit Visa, Luhn-valid.
const VISA19: &str = "4000000000000001236";
const UNIONPAY19: &str = "6221260000000000001";
/// A valid US SSN (area 536, group 22, serial 8726), not an advertised one.
const SSN: &str = "536-22-8726";
const IBAN: &str = "DE89370400440532013000";
/// On the AWS detector's list (found today in free text: see e2e_scrub).
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const EMAIL: &str = "alice.canary@example.com";
const EMAIL_IDN: &str = "müller@bücher.de";
const EMAIL_IDN2: &str = "用户@例子.广告";
/// Non-detectable field canary: every use appends `-<tag>`.
const FIELD: &str = "CANARY-FIELD-7f3a";
/// Opaque credentials no detector can find.
const CRED: &str = "canary-cred-9d2e";
const BEARER_TOKEN: &str = "cAnArYbEaReR0123456789xyz";
/// "4111111111111111" in UTF-7, the digits in its base64 form.
const UTF7_VISA: &str = "+ADQAMQAxADEAMQAxADEAMQAxADEAMQAxADEAMQAxADE-";
/// CVV and expiry that sit beside a card number.
const CVV: &str = "987";
const EXPIRY: &str = "07/31";

const CARDS: [&str; 6] = [VISA16, MC16, AMEX15, VISA13, VISA19, UNIONPAY19];

fn b64url(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// A JWT with the usual `eyJ` header and payload.
fn jwt_std() -> String {
    format!(
        "{}.{}.{}",
        b64url(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(r#"{"sub":"canary-jwt-std","exp":4102444800}"#),
        b64url("signature-canary-std")
    )
}

/// A JWT whose header and payload start with a space: `eyAi...`, not `eyJ`.
fn jwt_spaced() -> String {
    format!(
        "{}.{}.{}",
        b64url(r#"{ "alg": "HS256", "typ": "JWT" }"#),
        b64url(r#"{ "sub": "canary-jwt-spaced", "exp": 4102444800 }"#),
        b64url("signature-canary-spaced")
    )
}

/// A JWT whose header starts with a newline (`ewog...`).
fn jwt_newline() -> String {
    format!(
        "{}.{}.{}",
        b64url("{\n  \"alg\": \"RS256\",\n  \"typ\": \"JWT\"\n}"),
        b64url(r#"{"sub":"canary-jwt-newline","exp":4102444800}"#),
        b64url("signature-canary-newline")
    )
}

fn payload_of(jwt: &str) -> String {
    jwt.split('.').nth(1).unwrap_or_default().to_owned()
}

fn claims_of(jwt: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?).ok()
}

fn basic_proxy_credential() -> String {
    format!("Basic {}", STANDARD.encode(format!("{CRED}-proxy:pw")))
}

/// A named secret and every form of it the sweep looks for.
#[derive(Debug, Clone)]
struct Canary {
    name: String,
    forms: Vec<String>,
}

impl Canary {
    fn new(name: &str, forms: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            forms: forms.iter().map(|f| f.to_lowercase()).collect(),
        }
    }
}

/// Everything no stack may let through anywhere it sweeps.
fn canaries() -> Vec<Canary> {
    let mut out: Vec<Canary> = CARDS
        .iter()
        .map(|c| Canary::new(&format!("card {c}"), &[c]))
        .collect();
    out.extend([
        Canary::new("ssn", &[SSN, "536228726"]),
        Canary::new("iban", &[IBAN]),
        Canary::new("aws key id", &[AWS_KEY]),
        Canary::new("e-mail", &[EMAIL]),
        Canary::new("idn e-mail", &[EMAIL_IDN, "m%c3%bcller@b%c3%bccher.de"]),
        Canary::new("idn e-mail 2", &[EMAIL_IDN2]),
        Canary::new("field canary", &[FIELD]),
        Canary::new("opaque credential", &[CRED]),
        Canary::new(
            "basic proxy credential",
            &[basic_proxy_credential().trim_start_matches("Basic ")],
        ),
        Canary::new("bearer token", &[BEARER_TOKEN]),
        Canary::new("utf-7 card", &[UTF7_VISA]),
        Canary::new("jwt", &[&payload_of(&jwt_std())]),
        Canary::new("jwt without eyJ (spaced)", &[&payload_of(&jwt_spaced())]),
        Canary::new("jwt without eyJ (newline)", &[&payload_of(&jwt_newline())]),
    ]);
    out
}

// ---------------------------------------------------------------------------
// Finding canaries in bytes
// ---------------------------------------------------------------------------

/// Characters that may sit between the digits of a number someone reads back.
const SEPARATORS: &[char] = &[' ', '-', '.', '\t', '\u{a0}', '_', '/', '+', '\n'];

/// Removes up to two separators between two digits: "4111 1111", "4111.1111",
/// "4.111111111111111e15" and "41111111111111110e-1" all show their digits.
fn collapse(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut last_digit = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if last_digit && SEPARATORS.contains(&c) {
            let mut j = i;
            while j < chars.len() && j - i < 3 && SEPARATORS.contains(&chars[j]) {
                j += 1;
            }
            if j - i <= 2 && chars.get(j).is_some_and(char::is_ascii_digit) {
                i = j;
                continue;
            }
        }
        last_digit = c.is_ascii_digit();
        out.push(c);
        i += 1;
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = b.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unescape_json_u(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 6).unwrap_or("");
        match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
            Some(c) if hex.len() == 4 => {
                out.push(c);
                rest = &rest[i + 6..];
            }
            _ => {
                out.push_str("\\u");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The ways a reader could see text in `bytes`: as is, without NUL bytes,
/// percent-decoded, `\u`-decoded; each also with digit separators removed.
fn projections(bytes: &[u8]) -> Vec<String> {
    let no_nul: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
    // Full-width digits read as digits (Python's int(), Java's parseLong).
    let base: String = String::from_utf8_lossy(&no_nul)
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '\u{ff10}'..='\u{ff19}' => char::from(b'0' + (c as u32 - 0xff10) as u8),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect();
    let decoded = [percent_decode(&base).to_lowercase(), unescape_json_u(&base)];
    let mut out = vec![base];
    out.extend(decoded);
    let collapsed: Vec<String> = out.iter().map(|s| collapse(s)).collect();
    out.extend(collapsed);
    out
}

/// The names of the canaries found in `bytes`.
fn found_in(bytes: &[u8], canaries: &[Canary]) -> Vec<String> {
    let views = projections(bytes);
    canaries
        .iter()
        .filter(|c| {
            c.forms.iter().any(|f| {
                let cf = collapse(f);
                views
                    .iter()
                    .any(|v| v.contains(f.as_str()) || v.contains(&cf))
            })
        })
        .map(|c| c.name.clone())
        .collect()
}

/// The given values (as ad-hoc canaries) found in `bytes`.
fn values_in(bytes: &[u8], values: &[&str]) -> Vec<String> {
    let list: Vec<Canary> = values.iter().map(|v| Canary::new(v, &[v])).collect();
    found_in(bytes, &list)
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s: String = s.chars().take(600).collect();
    s.replace('\r', "").replace('\n', " | ")
}

/// Every JSON number in `v` that reads back as one of the card numbers.
fn card_numbers_in_json(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0).abs();
            for c in CARDS {
                let card: f64 = c.parse().unwrap();
                if f == card {
                    out.push(format!("{n} reads back as {c}"));
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| card_numbers_in_json(x, out)),
        Value::Object(o) => o.values().for_each(|x| card_numbers_in_json(x, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Cases and reports
// ---------------------------------------------------------------------------

type Outcome = Result<(), String>;
type BoxedCase<'a> = std::pin::Pin<Box<dyn Future<Output = Outcome> + 'a>>;

/// The time a caller waits for an answer to a large body.
const BOUND: std::time::Duration = std::time::Duration::from_secs(10);

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    let s = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned());
    s.chars().take(400).collect()
}

/// Why chaperone refused to start, from the log in the harness's panic.
fn start_error(p: Box<dyn std::any::Any + Send>) -> String {
    let text = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    let why: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("error") || l.contains("unknown field"))
        .collect();
    let why = if why.is_empty() {
        text.clone()
    } else {
        why.join(" | ")
    };
    why.chars().take(500).collect()
}

struct Report {
    stack: &'static str,
    rows: Vec<(String, Outcome)>,
}

impl Report {
    fn new(stack: &'static str) -> Self {
        Self {
            stack,
            rows: Vec::new(),
        }
    }

    fn record(&mut self, name: &str, out: Outcome) {
        match &out {
            Ok(()) => eprintln!("LEAKS [{}] PASS {name}", self.stack),
            Err(e) => eprintln!("LEAKS [{}] FAIL {name}: {e}", self.stack),
        }
        self.rows.push((name.to_owned(), out));
    }

    async fn case<F: Future<Output = Outcome>>(&mut self, name: &str, f: F) {
        let out = AssertUnwindSafe(Box::pin(f))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(p))));
        self.record(name, out);
    }

    /// Runs cases at the same time (each bounded in time); records them in order.
    async fn cases_at_once(&mut self, cases: Vec<(&str, BoxedCase<'_>)>) {
        let (names, futures): (Vec<&str>, Vec<BoxedCase<'_>>) = cases.into_iter().unzip();
        let outs = futures_util::future::join_all(
            futures
                .into_iter()
                .map(|f| AssertUnwindSafe(f).catch_unwind()),
        )
        .await;
        for (name, out) in names.into_iter().zip(outs) {
            let out = out.unwrap_or_else(|p| Err(format!("panicked: {}", panic_text(p))));
            self.record(name, out);
        }
    }

    fn finish(self) {
        let failed: Vec<&(String, Outcome)> = self.rows.iter().filter(|r| r.1.is_err()).collect();
        if failed.is_empty() {
            return;
        }
        let mut table = String::new();
        for (name, out) in &self.rows {
            match out {
                Ok(()) => table.push_str(&format!("  PASS {name}\n")),
                Err(e) => table.push_str(&format!("  FAIL {name}\n       {e}\n")),
            }
        }
        panic!(
            "[{}] {} of {} cases failed:\n{table}",
            self.stack,
            failed.len(),
            self.rows.len()
        );
    }
}

// ---------------------------------------------------------------------------
// A stack: chaperone + Envoy (edge.yaml) + raw upstream
// ---------------------------------------------------------------------------

struct Stack {
    chaperone: Chaperone,
    /// Every span chaperone exported.
    spans: common::otlp::Collector,
    upstream: RawUpstream,
    envoy: Envoy,
    /// What each case's caller received.
    responses: Mutex<Vec<(String, RawResponse)>>,
    /// Where an access log would be written, if the config has one.
    access_dir: TempDir,
}

impl Stack {
    /// Starts the stack; Err (not a panic) when chaperone refuses the policy.
    async fn start(policy: String) -> Result<Self, String> {
        let (spans, otlp_port, _) = common::otlp::Collector::start().await;
        let endpoint = format!("http://127.0.0.1:{otlp_port}");
        let chaperone = tokio::spawn(async move {
            Chaperone::start_with(&policy, &["--otlp-endpoint", &endpoint]).await
        })
        .await
        .map_err(|e| match e.try_into_panic() {
            Ok(p) => format!("chaperone did not start: {}", start_error(p)),
            Err(e) => format!("chaperone did not start: {e}"),
        })?;
        let upstream = RawUpstream::start().await;
        let access_dir = TempDir::new("access");
        let access = access_dir.path("access.log").display().to_string();
        let vars = HashMap::from([
            ("CHAPERONE_GRPC_PORT", chaperone.grpc_port.to_string()),
            ("UPSTREAM_PORT", upstream.port().to_string()),
            ("ENVOY_ACCESS_LOG", access.clone()),
            ("ACCESS_LOG_PATH", access),
        ]);
        let envoy = Envoy::start(edge_config(), &["ENVOY_HTTP_PORT"], vars).await;
        Ok(Self {
            chaperone,
            spans,
            upstream,
            envoy,
            responses: Mutex::new(Vec::new()),
            access_dir,
        })
    }

    /// Sends `req` (tagged with `x-case`) to the edge listener, records what
    /// came back.
    async fn send(&self, case: &str, req: Req) -> Result<RawResponse, String> {
        self.send_within(case, req, std::time::Duration::from_secs(10))
            .await
    }

    /// As `send`, waiting at most `limit` for the answer.
    async fn send_within(
        &self,
        case: &str,
        req: Req,
        limit: std::time::Duration,
    ) -> Result<RawResponse, String> {
        let req = req.header("x-case", case);
        let addr = local(self.envoy.ports["ENVOY_HTTP_PORT"]);
        let resp = send_within(addr, req.bytes(), limit).await?;
        self.responses
            .lock()
            .unwrap()
            .push((case.to_owned(), resp.clone()));
        Ok(resp)
    }

    /// A GET answered by the upstream with `canned`.
    async fn canned(
        &self,
        case: &str,
        host: &str,
        path: &str,
        canned: Canned,
    ) -> Result<RawResponse, String> {
        self.upstream.can(case, canned);
        self.send(case, Req::get(host, path).header("x-canned", case))
            .await
    }

    /// The requests of `case` the callee received.
    fn callee(&self, case: &str) -> Vec<RawRequest> {
        self.upstream.of_case(case)
    }

    /// Err when the callee received any of `values` (in any form) for `case`.
    fn callee_clean(&self, case: &str, values: &[&str]) -> Outcome {
        for r in self.callee(case) {
            let found = values_in(&r.raw, values);
            ensure!(
                found.is_empty(),
                "callee received {found:?}: {}",
                snippet(&r.raw)
            );
        }
        Ok(())
    }

    /// Err when the callee received anything for `case`.
    fn callee_untouched(&self, case: &str) -> Outcome {
        let got = self.callee(case);
        ensure!(
            got.is_empty(),
            "the callee received the request: {}",
            snippet(&got[0].raw)
        );
        Ok(())
    }

    fn log(&self) -> String {
        self.chaperone.log()
    }

    /// Envoy's own log plus any access log file.
    fn envoy_logs(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![("envoy stderr".to_owned(), self.envoy.log().into_bytes())];
        let candidates: [PathBuf; 2] = [
            self.access_dir.path("access.log"),
            self.envoy.dir.path("access.log"),
        ];
        for p in candidates {
            if let Ok(b) = std::fs::read(&p) {
                out.push((p.display().to_string(), b));
            }
        }
        out
    }

    /// The minted tokens the callee received (never for the caller's eyes).
    fn minted_tokens(&self) -> Vec<String> {
        self.upstream
            .requests()
            .iter()
            .flat_map(|r| r.all("txn-token"))
            .collect()
    }

    /// The canary sweep: no canary in the callee's bytes (unless `callee_may`
    /// names it), the caller's bytes, chaperone's log and metrics, Envoy's logs.
    async fn sweep(&self, report: &mut Report, extra: Vec<Canary>) {
        let mut all = canaries();
        all.extend(extra);
        let minted: Vec<Canary> = self
            .minted_tokens()
            .iter()
            .map(|t| Canary::new("minted txn-token", &[&payload_of(t)]))
            .collect();
        let mut caller_side = all.clone();
        caller_side.extend(minted);

        let mut hits = Vec::new();
        for r in self.upstream.requests() {
            for c in found_in(&r.raw, &all) {
                hits.push(format!(
                    "{c} (case {})",
                    r.header("x-case").unwrap_or_default()
                ));
            }
        }
        report.record("sweep: callee's received bytes", verdict(hits));

        let mut hits = Vec::new();
        for (case, r) in self.responses.lock().unwrap().iter() {
            for c in found_in(&r.raw, &caller_side) {
                hits.push(format!("{c} (case {case})"));
            }
        }
        report.record("sweep: caller's received bytes", verdict(hits));

        let log = self.log();
        report.record(
            "sweep: chaperone's log",
            verdict(found_in(log.as_bytes(), &caller_side)),
        );
        let metrics = self.chaperone.metrics().await;
        report.record(
            "sweep: chaperone's /metrics",
            verdict(found_in(metrics.as_bytes(), &caller_side)),
        );
        let mut hits = Vec::new();
        for (name, bytes) in self.envoy_logs() {
            for c in found_in(&bytes, &caller_side) {
                hits.push(format!("{c} in {name}"));
            }
        }
        report.record("sweep: Envoy's logs (stderr, access log)", verdict(hits));
        // Spans leave in batches each second: wait for the last to arrive.
        let mut exported = self.spans.bytes().len();
        for _ in 0..30 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let now = self.spans.bytes().len();
            if now == exported && now > 0 {
                break;
            }
            exported = now;
        }
        let spans = self.spans.bytes();
        report.record(
            "sweep: chaperone's spans",
            if spans.is_empty() {
                Err("no span was exported".to_owned())
            } else {
                verdict(found_in(&spans, &caller_side))
            },
        );
    }
}

/// Runs a stack's cases on a thread of its own with a large stack: in a
/// debug build the poll frame of a long sequence of cases outgrows a test
/// thread's 2 MiB.
fn run<Fut: Future<Output = ()> + 'static>(cases: fn() -> Fut) {
    let thread = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(cases());
        })
        .unwrap();
    if let Err(p) = thread.join() {
        std::panic::resume_unwind(p);
    }
}

fn verdict(mut hits: Vec<String>) -> Outcome {
    hits.sort();
    hits.dedup();
    if hits.is_empty() {
        Ok(())
    } else {
        Err(format!("canaries found: {}", hits.join("; ")))
    }
}

/// Err when the caller's bytes hold any of `values`.
fn caller_clean(resp: &RawResponse, values: &[&str]) -> Outcome {
    let found = values_in(&resp.raw, values);
    ensure!(
        found.is_empty(),
        "caller received {found:?}: {}",
        snippet(&resp.raw)
    );
    Ok(())
}

/// The refusal shape: this status and `{"error":"...","decision_id":"..."}`.
fn refused(resp: &RawResponse, status: u16) -> Outcome {
    ensure!(
        resp.status == status,
        "expected {status} with chaperone's JSON, got {}: {}",
        resp.status,
        snippet(&resp.raw)
    );
    let body = resp
        .json()
        .ok_or_else(|| format!("refusal body is not JSON: {}", snippet(&resp.body)))?;
    let obj = body.as_object().ok_or("refusal body is not an object")?;
    ensure!(
        obj.len() == 2 && obj["error"].is_string() && obj["decision_id"].is_string(),
        "refusal body is not {{error, decision_id}}: {body}"
    );
    Ok(())
}

/// The classes every stack's policy defines (see docs/scrubbing.md).
const CLASSES: &str = r#"
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  national_id: { detect: [us_ssn], action: redact }
  bank_account: { detect: [iban], action: redact }
  email: { detect: [email], action: redact }
  secret: { detect: [jwt, private_key, aws_access_key, bearer_token], action: redact }
defaults:
  scan: [card_number, national_id, bank_account, email, secret]
"#;

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

// ---------------------------------------------------------------------------
// Stack "bodies": object keys, numbers, typed allow-lists, field actions on
// containers, detector forms (issue items 1, 2, 3, 4, 10)
// ---------------------------------------------------------------------------

const BODIES: &str = "bodies.test";

fn bodies_policy() -> String {
    format!(
        r#"
version: "leaks-bodies.1"
trust_domain: shop.test
{CLASSES}
hops:
  - name: open
    match: {{ host: {BODIES}, path: /open }}
    from: [ {{ anonymous: true }} ]
  - name: typed
    match: {{ host: {BODIES}, path: /typed }}
    from: [ {{ anonymous: true }} ]
    request:
      body: {{ allow: [order_id, "items[*].sku", "meta.*", customer.name, notes] }}
    response:
      body: {{ allow: [order_id, "items[*].sku", "meta.*", customer.name, notes] }}
  - name: typed-strict
    match: {{ host: {BODIES}, path: /strict }}
    from: [ {{ anonymous: true }} ]
    request:
      body: {{ allow: [order_id, "items[*].sku", "meta.*", customer.name], unknown: reject }}
    response:
      body: {{ allow: [order_id, "items[*].sku", "meta.*", customer.name], unknown: reject }}
  - name: masked
    match: {{ host: {BODIES}, path: /masked }}
    from: [ {{ anonymous: true }} ]
    response:
      body:
        fields: {{ card: mask_pan_last4, pan: mask_pan, contact: mask_email, phone: mask_phone }}
  - name: limited
    match: {{ host: {BODIES}, path: /limited }}
    from: [ {{ anonymous: true }} ]
    request: {{ body: {{ limit: {{ findings: 2, action: block }} }} }}
    response: {{ body: {{ limit: {{ findings: 2, action: block }} }} }}
"#
    )
}

/// POSTs a JSON body to `path` and checks the callee saw none of `values`.
async fn post_clean(s: &Stack, case: &str, path: &str, body: &str, values: &[&str]) -> Outcome {
    let resp = s.send(case, Req::post(BODIES, path).json(body)).await?;
    s.callee_clean(case, values)?;
    caller_clean(&resp, values)?;
    // Numbers the callee could read back as card numbers.
    for r in s.callee(case) {
        if let Ok(v) = serde_json::from_slice::<Value>(&r.body) {
            let mut hits = Vec::new();
            card_numbers_in_json(&v, &mut hits);
            ensure!(hits.is_empty(), "callee's JSON holds {hits:?}");
        }
    }
    Ok(())
}

/// A canned JSON answer to a GET on `path`; checks the caller saw none of `values`.
async fn get_clean(
    s: &Stack,
    case: &str,
    path: &str,
    body: &str,
    values: &[&str],
) -> Result<RawResponse, String> {
    let resp = s.canned(case, BODIES, path, Canned::json(body)).await?;
    caller_clean(&resp, values)?;
    if let Some(v) = resp.json() {
        let mut hits = Vec::new();
        card_numbers_in_json(&v, &mut hits);
        ensure!(hits.is_empty(), "caller's JSON holds {hits:?}");
    }
    Ok(resp)
}

#[test]
fn leaks_through_json_bodies() {
    run(leaks_through_json_bodies_cases);
}

async fn leaks_through_json_bodies_cases() {
    let mut r = Report::new("bodies");
    let s = match Stack::start(bodies_policy()).await {
        Ok(s) => s,
        Err(e) => {
            r.record("stack starts", Err(e));
            return r.finish();
        }
    };
    let s = &s;

    // --- 1. Object keys are data ------------------------------------------

    /// A card number as a request object key crosses verbatim.
    r.case(
        "keys: card number as a request key (no allow-list)",
        async {
            post_clean(
                s,
                "key-req-card",
                "/open",
                &format!(r#"{{"{VISA16}":"x","note":"ok"}}"#),
                &[VISA16],
            )
            .await
        },
    )
    .await;

    /// The same key written with a `\u` escape: scanned only if decoded.
    r.case("keys: \\u-escaped card number as a request key", async {
        post_clean(
            s,
            "key-req-escaped",
            "/open",
            r#"{"\u0034111111111111111":"x"}"#,
            &[VISA16],
        )
        .await
    })
    .await;

    /// Every class as a key: SSN, IBAN, e-mail, AWS key id, JWT.
    r.case(
        "keys: SSN, IBAN, e-mail, AWS key id, JWT as request keys",
        async {
            let jwt = jwt_std();
            let body = format!(r#"{{"{SSN}":1,"{IBAN}":2,"{EMAIL}":3,"{AWS_KEY}":4,"{jwt}":5}}"#);
            post_clean(
                s,
                "key-req-classes",
                "/open",
                &body,
                &[SSN, IBAN, EMAIL, AWS_KEY, &payload_of(&jwt)],
            )
            .await
        },
    )
    .await;

    /// A callee answers with a card number as a key.
    r.case("keys: card number as a response key", async {
        get_clean(
            s,
            "key-resp-card",
            "/open",
            &format!(r#"{{"{MC16}":{{"exp":"x"}},"ok":true}}"#),
            &[MC16],
        )
        .await
        .map(drop)
    })
    .await;

    /// Keys inside allow-listed subtrees (`meta.*` admits any key, `notes`
    /// admits its whole subtree) toward the callee.
    r.case("keys: inside allow-listed subtrees (meta.*, notes), request", async {
        let body = format!(r#"{{"order_id":"o-1","meta":{{"{VISA16}":"v"}},"notes":{{"{SSN}":"n","{IBAN}":1}}}}"#);
        post_clean(s, "key-req-allowed", "/typed", &body, &[VISA16, SSN, IBAN]).await
    })
    .await;

    /// ...and toward the caller.
    r.case(
        "keys: inside allow-listed subtrees (meta.*, notes), response",
        async {
            let body =
                format!(r#"{{"order_id":"o-1","meta":{{"{MC16}":"v"}},"notes":{{"{EMAIL}":1}}}}"#);
            get_clean(s, "key-resp-allowed", "/typed", &body, &[MC16, EMAIL])
                .await
                .map(drop)
        },
    )
    .await;

    /// Three card numbers as keys on a hop that blocks past two findings:
    /// keys count toward the bulk-exfiltration limit (403 toward the callee).
    r.case(
        "keys: card keys count toward the findings limit (request: 403)",
        async {
            let body = format!(r#"{{"{VISA16}":1,"{MC16}":2,"{AMEX15}":3}}"#);
            let resp = s
                .send("key-req-limit", Req::post(BODIES, "/limited").json(&body))
                .await?;
            s.callee_untouched("key-req-limit")?;
            refused(&resp, 403)
        },
    )
    .await;

    /// ...and toward the caller (502).
    r.case(
        "keys: card keys count toward the findings limit (response: 502)",
        async {
            let body = format!(r#"{{"{VISA16}":1,"{MC16}":2,"{AMEX15}":3}}"#);
            let resp = s
                .canned("key-resp-limit", BODIES, "/limited", Canned::json(&body))
                .await?;
            refused(&resp, 502)?;
            caller_clean(&resp, &CARDS)
        },
    )
    .await;

    // --- 2. Numbers are data ----------------------------------------------

    /// `-4111111111111111`: a sign in front of a card number.
    r.case("numbers: negative card numbers", async {
        // (A 19-digit run is a card where its context says card: here its
        // key; a bare one is as likely a 64-bit id. docs/scrubbing.md.)
        let body = format!(r#"{{"a":-{VISA16},"b":[-{MC16}],"pan":-{UNIONPAY19}}}"#);
        post_clean(
            s,
            "num-negative",
            "/open",
            &body,
            &[VISA16, MC16, UNIONPAY19],
        )
        .await
    })
    .await;

    /// `4111111111111111.0`: a zero fraction.
    r.case("numbers: zero fraction", async {
        let body = format!(r#"{{"a":{VISA16}.0,"b":{MC16}.000,"pan":{UNIONPAY19}.0}}"#);
        post_clean(
            s,
            "num-fraction",
            "/open",
            &body,
            &[VISA16, MC16, UNIONPAY19],
        )
        .await
    })
    .await;

    /// Exponent forms a parser reads back as the card number exactly.
    r.case("numbers: exponent forms", async {
        let body = r#"{"a":4.111111111111111e15,"b":4111111111111111E+0,"c":41111111111111110e-1,"d":3.78282246310005e14,"e":555555555555444.4e1}"#;
        post_clean(s, "num-exponent", "/open", body, &[VISA16, AMEX15, MC16]).await
    })
    .await;

    /// The same number forms from a callee toward the caller.
    r.case("numbers: negative, fraction and exponent forms in a response", async {
        let body = format!(r#"{{"a":-{VISA16},"b":4.111111111111111e15,"c":{MC16}.0,"d":[3.78282246310005E+14]}}"#);
        get_clean(s, "num-response", "/open", &body, &[VISA16, MC16, AMEX15]).await.map(drop)
    })
    .await;

    /// Card numbers in number forms count toward the limit (403).
    r.case(
        "numbers: number forms count toward the findings limit (403)",
        async {
            let body = format!(r#"{{"a":-{VISA16},"b":{MC16}.0,"c":3.78282246310005e14}}"#);
            let resp = s
                .send("num-limit", Req::post(BODIES, "/limited").json(&body))
                .await?;
            s.callee_untouched("num-limit")?;
            refused(&resp, 403)
        },
    )
    .await;

    // --- 3. Allow-lists are typed by their paths --------------------------

    /// `items[*].sku` allowed; `items` sent as a string.
    r.case(
        "allow-list: scalar where items[*] implies an array (drop)",
        async {
            let body = format!(r#"{{"order_id":"o-1","items":"{FIELD}-items"}}"#);
            post_clean(s, "typed-items-scalar", "/typed", &body, &[FIELD]).await
        },
    )
    .await;

    /// `items[*].sku` allowed; elements sent as strings, not objects.
    r.case(
        "allow-list: scalar elements where items[*].sku implies objects (drop)",
        async {
            let body = format!(r#"{{"order_id":"o-1","items":["{FIELD}-elem",{{"sku":"A"}}]}}"#);
            post_clean(s, "typed-elem-scalar", "/typed", &body, &[FIELD]).await
        },
    )
    .await;

    /// `meta.*` allowed; `meta` sent as a string.
    r.case(
        "allow-list: scalar where meta.* implies an object (drop)",
        async {
            let body = format!(r#"{{"order_id":"o-1","meta":"{FIELD}-meta"}}"#);
            post_clean(s, "typed-meta-scalar", "/typed", &body, &[FIELD]).await
        },
    )
    .await;

    /// `customer.name` allowed; `customer` sent as a string.
    r.case(
        "allow-list: scalar where customer.name implies an object (drop)",
        async {
            let body = format!(r#"{{"order_id":"o-1","customer":"{FIELD}-customer"}}"#);
            post_clean(s, "typed-customer-scalar", "/typed", &body, &[FIELD]).await
        },
    )
    .await;

    /// The whole document a string, where the allow-list implies an object.
    r.case("allow-list: a top-level scalar document (drop)", async {
        post_clean(
            s,
            "typed-top-scalar",
            "/typed",
            &format!(r#""{FIELD}-top""#),
            &[FIELD],
        )
        .await
    })
    .await;

    /// With `unknown: reject`, a scalar where an array is implied is an
    /// unknown field: 400.
    r.case(
        "allow-list: scalar where an array is implied is refused 400 (reject)",
        async {
            let body = format!(r#"{{"order_id":"o-1","items":"{FIELD}-strict"}}"#);
            let resp = s
                .send(
                    "strict-items-scalar",
                    Req::post(BODIES, "/strict").json(&body),
                )
                .await?;
            s.callee_untouched("strict-items-scalar")?;
            refused(&resp, 400)
        },
    )
    .await;

    /// With `unknown: reject`, a top-level scalar document: 400.
    r.case(
        "allow-list: a top-level scalar document is refused 400 (reject)",
        async {
            let resp = s
                .send(
                    "strict-top-scalar",
                    Req::post(BODIES, "/strict").json(&format!(r#""{FIELD}-strict-top""#)),
                )
                .await?;
            s.callee_untouched("strict-top-scalar")?;
            refused(&resp, 400)
        },
    )
    .await;

    /// A callee answers with scalars where the caller's allow-list implies
    /// an array and an object.
    r.case("allow-list: scalars where containers are implied, response (drop)", async {
        let body = format!(r#"{{"order_id":"o-1","items":"{FIELD}-resp","meta":"{FIELD}-resp-meta","customer":["{FIELD}-resp-cust"]}}"#);
        get_clean(s, "typed-resp-scalar", "/typed", &body, &[FIELD]).await.map(drop)
    })
    .await;

    /// ...and with `unknown: reject` toward the caller: 502.
    r.case(
        "allow-list: scalar elements where objects are implied, response refused 502 (reject)",
        async {
            let body = format!(r#"{{"order_id":"o-1","items":["{FIELD}-resp-strict"]}}"#);
            let resp = s
                .canned("strict-resp-scalar", BODIES, "/strict", Canned::json(&body))
                .await?;
            refused(&resp, 502)?;
            caller_clean(&resp, &[FIELD])
        },
    )
    .await;

    // --- 4. A field action on a container never renders its text ----------

    /// `card: mask_pan_last4` meets an object with the expiry and CVV beside
    /// the number: the mask must not show their digits.
    r.case(
        "field action: mask_pan_last4 on an object (card, expiry, CVV)",
        async {
            let body = format!(
                r#"{{"card":{{"number":"{VISA16}","exp":"{EXPIRY}","cvv":"{CVV}"}},"id":"c-1"}}"#
            );
            let resp = get_clean(s, "mask-object", "/masked", &body, &[VISA16]).await?;
            let v = resp.json().ok_or("not JSON")?;
            let card = v.get("card").map(Value::to_string).unwrap_or_default();
            ensure!(
                !card.contains(CVV) && !card.contains("0731") && !card.contains(EXPIRY),
                "the mask shows sibling digits: card = {card}"
            );
            Ok(())
        },
    )
    .await;

    /// `pan: mask_pan` meets an array.
    r.case(
        "field action: mask_pan on an array (card, expiry, CVV)",
        async {
            let body = format!(r#"{{"pan":["{MC16}","{EXPIRY}","{CVV}"]}}"#);
            let resp = get_clean(s, "mask-array", "/masked", &body, &[MC16]).await?;
            let v = resp.json().ok_or("not JSON")?;
            let pan = v.get("pan").map(Value::to_string).unwrap_or_default();
            ensure!(
                !pan.contains(CVV) && !pan.contains("0731"),
                "the mask shows sibling digits: pan = {pan}"
            );
            Ok(())
        },
    )
    .await;

    /// `contact: mask_email` meets an object: everything after the '@' in
    /// the object's text (an SSN here) would be kept as "the domain".
    r.case(
        "field action: mask_email on an object (e-mail, SSN)",
        async {
            let body = format!(r#"{{"contact":{{"email":"{EMAIL}","ssn":"{SSN}"}}}}"#);
            get_clean(s, "mask-email-object", "/masked", &body, &[SSN, EMAIL])
                .await
                .map(drop)
        },
    )
    .await;

    /// `phone: mask_phone` meets an object: the last four digits of the
    /// object's text are the PIN beside the number.
    r.case(
        "field action: mask_phone on an object (number, PIN)",
        async {
            let body = r#"{"phone":{"number":"+1 415 555 2671","pin":"4321"}}"#;
            let resp = get_clean(s, "mask-phone-object", "/masked", body, &[]).await?;
            let v = resp.json().ok_or("not JSON")?;
            let phone = v.get("phone").map(Value::to_string).unwrap_or_default();
            ensure!(
                !phone.contains("4321"),
                "the mask shows the PIN: phone = {phone}"
            );
            Ok(())
        },
    )
    .await;

    /// Beyond the issue: `card: mask_pan_last4` meets a string that holds
    /// the card line (number, expiry, CVV): the mask's "last four" are CVV
    /// digits.
    r.case(
        "field action (beyond the issue): mask_pan_last4 on a string with expiry and CVV",
        async {
            let body = format!(r#"{{"card":"{VISA16} exp {EXPIRY} cvv {CVV}"}}"#);
            let resp = get_clean(s, "mask-string-line", "/masked", &body, &[VISA16]).await?;
            let v = resp.json().ok_or("not JSON")?;
            let card = v.get("card").map(Value::to_string).unwrap_or_default();
            ensure!(
                !card.contains(CVV),
                "the mask shows CVV digits: card = {card}"
            );
            Ok(())
        },
    )
    .await;

    // --- 10. Detectors cover the forms data really takes ------------------

    /// 13-digit Visa inside a string and as a whole string value.
    r.case("detectors: 13-digit Visa in strings", async {
        post_clean(
            s,
            "det-visa13",
            "/open",
            &format!(r#"{{"note":"card {VISA13} ok","pan":"{VISA13}"}}"#),
            &[VISA13],
        )
        .await
    })
    .await;

    /// 19-digit Visa inside a string and as a whole string value.
    r.case("detectors: 19-digit Visa in strings", async {
        post_clean(
            s,
            "det-visa19",
            "/open",
            &format!(r#"{{"note":"card {VISA19} ok","pan":"{VISA19}"}}"#),
            &[VISA19],
        )
        .await
    })
    .await;

    /// Dot-separated groups.
    r.case("detectors: card with dot separators", async {
        post_clean(
            s,
            "det-dots",
            "/open",
            r#"{"note":"card 4111.1111.1111.1111 ok"}"#,
            &[VISA16],
        )
        .await
    })
    .await;

    /// Spaces and dashes mixed in one number.
    r.case("detectors: card with mixed separators", async {
        post_clean(
            s,
            "det-mixed",
            "/open",
            r#"{"note":"card 5555 5555-5555 4444 ok"}"#,
            &[MC16],
        )
        .await
    })
    .await;

    /// Doubled separators.
    r.case("detectors: card with doubled separators", async {
        post_clean(
            s,
            "det-doubled",
            "/open",
            r#"{"note":"4111  1111  1111  1111","n2":"5555--5555--5555--4444"}"#,
            &[VISA16, MC16],
        )
        .await
    })
    .await;

    /// Glued to letters before or after.
    r.case(
        "detectors: card glued to letters (CARD4111..., ...EXP, UNIONPAY6221...)",
        async {
            let body = format!(
                r#"{{"note":"CARD{VISA16}","n2":"{MC16}EXP","n3":"UNIONPAY{UNIONPAY19}"}}"#
            );
            post_clean(s, "det-glued", "/open", &body, &[VISA16, MC16, UNIONPAY19]).await
        },
    )
    .await;

    /// IBAN in lower case, compact and grouped.
    r.case("detectors: IBAN in lower case", async {
        post_clean(
            s,
            "det-iban-lower",
            "/open",
            r#"{"note":"iban de89370400440532013000","n2":"de89 3704 0044 0532 0130 00"}"#,
            &[IBAN],
        )
        .await
    })
    .await;

    /// JWTs whose header (and payload) do not start with `eyJ`.
    r.case("detectors: JWT without the usual eyJ header", async {
        let (a, b) = (jwt_spaced(), jwt_newline());
        let body = format!(r#"{{"note":"token {a}","n2":"{b}"}}"#);
        post_clean(
            s,
            "det-jwt-noeyj",
            "/open",
            &body,
            &[&payload_of(&a), &payload_of(&b)],
        )
        .await
    })
    .await;

    /// `Bearer` followed by a tab or a newline.
    r.case("detectors: Bearer followed by a tab or a newline", async {
        let body = format!(
            r#"{{"note":"Authorization: Bearer\t{BEARER_TOKEN}","n2":"Bearer\n{BEARER_TOKEN}"}}"#
        );
        post_clean(s, "det-bearer-ws", "/open", &body, &[BEARER_TOKEN]).await
    })
    .await;

    /// Internationalised e-mail addresses.
    r.case("detectors: internationalised e-mail addresses", async {
        let body = format!(r#"{{"note":"write to {EMAIL_IDN}","n2":"{EMAIL_IDN2}"}}"#);
        post_clean(s, "det-idn-email", "/open", &body, &[EMAIL_IDN, EMAIL_IDN2]).await
    })
    .await;

    /// The same forms from a callee toward the caller.
    r.case("detectors: glued, dotted, 19-digit, lower-case IBAN in a response", async {
        let body = format!(r#"{{"a":"CARD{VISA16}","b":"5555.5555.5555.4444","pan":"{VISA19}","d":"de89370400440532013000"}}"#);
        get_clean(s, "det-response", "/open", &body, &[VISA16, MC16, VISA19, IBAN]).await.map(drop)
    })
    .await;

    /// Beyond the issue: full-width digits (what Japanese and Chinese input
    /// methods type), which Python's `int()` and Java's `Long.parseLong`
    /// read back as the number.
    r.case("detectors (beyond the issue): card in full-width digits", async {
        post_clean(s, "det-fullwidth", "/open", r#"{"note":"カード ４１１１１１１１１１１１１１１１","n2":"５５５５ ５５５５ ５５５５ ４４４４"}"#, &[VISA16, MC16]).await
    })
    .await;

    /// Beyond the issue: groups split by no-break spaces (what a copy from a
    /// web form or a PDF gives).
    r.case(
        "detectors (beyond the issue): card with no-break-space separators",
        async {
            post_clean(
                s,
                "det-nbsp",
                "/open",
                "{\"note\":\"card 4111\u{a0}1111\u{a0}1111\u{a0}1111\"}",
                &[VISA16],
            )
            .await
        },
    )
    .await;

    s.sweep(&mut r, Vec::new()).await;
    r.finish();
}

// ---------------------------------------------------------------------------
// Stack "labels": content types, charsets, `other: pass`, bounds, caches
// (issue items 5, 11, 12)
// ---------------------------------------------------------------------------

const LABELS: &str = "labels.test";

fn labels_policy() -> String {
    format!(
        r#"
version: "leaks-labels.1"
trust_domain: shop.test
{CLASSES}
hops:
  - name: contract
    match: {{ host: {LABELS}, path: /contract }}
    from: [ {{ anonymous: true }} ]
    request:
      body: {{ allow: [order_id], unknown: reject }}
    response:
      body: {{ allow: [order_id] }}
  - name: passing
    match: {{ host: {LABELS}, path: /pass }}
    from: [ {{ anonymous: true }} ]
    request: {{ body: {{ other: pass }} }}
    response: {{ body: {{ other: pass }} }}
  - name: text
    match: {{ host: {LABELS}, path: /text }}
    from: [ {{ anonymous: true }} ]
  - name: big
    match: {{ host: {LABELS}, path: /big }}
    from: [ {{ anonymous: true }} ]
  - name: cache
    match: {{ host: {LABELS}, path: /cache }}
    from: [ {{ anonymous: true }} ]
  - name: roomy
    match: {{ host: {LABELS}, path: /roomy }}
    from: [ {{ anonymous: true }} ]
    request: {{ body: {{ max_bytes: 8388608 }} }}
    response: {{ body: {{ max_bytes: 8388608 }} }}
"#
    )
}

/// A body of about `n` bytes: JSON with one long string.
fn big_json(n: usize) -> String {
    format!(r#"{{"order_id":"{}"}}"#, "x".repeat(n))
}

#[test]
fn leaks_through_labels_bounds_and_caches() {
    run(leaks_through_labels_bounds_and_caches_cases);
}

async fn leaks_through_labels_bounds_and_caches_cases() {
    let mut r = Report::new("labels");
    let s = match Stack::start(labels_policy()).await {
        Ok(s) => s,
        Err(e) => {
            r.record("stack starts", Err(e));
            return r.finish();
        }
    };
    let s = &s;
    let json_body = |tag: &str| format!(r#"{{"order_id":"o-1","note":"{FIELD}-{tag}"}}"#);

    // --- 5. A label does not switch the contract off ----------------------

    /// A JSON body labelled `text/plain` skips the hop's JSON allow-list.
    r.case(
        "labels: JSON labelled text/plain skips the allow-list",
        async {
            let resp = s
                .send(
                    "label-textplain",
                    Req::post(LABELS, "/contract")
                        .header("content-type", "text/plain")
                        .body(json_body("textplain")),
                )
                .await?;
            s.callee_clean("label-textplain", &[FIELD])?;
            caller_clean(&resp, &[FIELD])
        },
    )
    .await;

    /// ...labelled `text/json`.
    r.case(
        "labels: JSON labelled text/json skips the allow-list",
        async {
            s.send(
                "label-textjson",
                Req::post(LABELS, "/contract")
                    .header("content-type", "text/json")
                    .body(json_body("textjson")),
            )
            .await?;
            s.callee_clean("label-textjson", &[FIELD])
        },
    )
    .await;

    /// Two Content-Type headers (text/plain, then application/json): refused.
    r.case(
        "labels: repeated Content-Type headers are refused 415",
        async {
            let resp = s
                .send(
                    "label-repeated",
                    Req::post(LABELS, "/contract")
                        .header("content-type", "text/plain")
                        .header("content-type", "application/json")
                        .body(json_body("repeated")),
                )
                .await?;
            s.callee_untouched("label-repeated")?;
            refused(&resp, 415)
        },
    )
    .await;

    /// One Content-Type header naming two types: the contract still holds
    /// (a refusal: 415 for the conflict, or 400 for the unknown field).
    r.case(
        "labels: comma-joined Content-Type (text/plain, application/json)",
        async {
            let resp = s
                .send(
                    "label-joined",
                    Req::post(LABELS, "/contract")
                        .header("content-type", "text/plain, application/json")
                        .body(json_body("joined")),
                )
                .await?;
            s.callee_clean("label-joined", &[FIELD])?;
            ensure!(
                resp.status == 415 || resp.status == 400,
                "expected a refusal, got {}",
                resp.status
            );
            Ok(())
        },
    )
    .await;

    /// No Content-Type on a hop that passes what it cannot read: a JSON body
    /// with a card number is still JSON.
    r.case(
        "labels: JSON with no Content-Type on an `other: pass` hop",
        async {
            s.send(
                "label-none-pass",
                Req::post(LABELS, "/pass").body(format!(r#"{{"pan":"{VISA16}"}}"#)),
            )
            .await?;
            s.callee_clean("label-none-pass", &[VISA16])
        },
    )
    .await;

    /// `application/octet-stream` text on an `other: pass` hop: it decodes as
    /// text, so it is scanned.
    r.case(
        "labels: text labelled application/octet-stream on an `other: pass` hop",
        async {
            s.send(
                "label-octet-pass",
                Req::post(LABELS, "/pass")
                    .header("content-type", "application/octet-stream")
                    .body(format!("card {VISA16} ssn {SSN}")),
            )
            .await?;
            s.callee_clean("label-octet-pass", &[VISA16, SSN])
        },
    )
    .await;

    /// A form body (`application/x-www-form-urlencoded`, percent-encoded
    /// spaces) on an `other: pass` hop: text, so scanned.
    r.case(
        "labels: form-urlencoded body on an `other: pass` hop",
        async {
            s.send(
                "label-form-pass",
                Req::post(LABELS, "/pass")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!(
                        "card=5555%205555%205555%204444&ssn={SSN}&email=alice.canary%40example.com"
                    )),
            )
            .await?;
            s.callee_clean("label-form-pass", &[MC16, SSN, EMAIL])
        },
    )
    .await;

    /// A callee labels a JSON answer `text/plain` to skip the caller's allow-list.
    r.case(
        "labels: response JSON labelled text/plain skips the allow-list",
        async {
            let body = format!(r#"{{"order_id":"o-1","internal":"{FIELD}-resp-text"}}"#);
            let resp = s
                .canned(
                    "label-resp-textplain",
                    LABELS,
                    "/contract",
                    Canned::new(200, &[("content-type", "text/plain")], body),
                )
                .await?;
            caller_clean(&resp, &[FIELD])
        },
    )
    .await;

    /// A callee sends two Content-Type headers: refused toward the caller (502).
    r.case(
        "labels: response with repeated Content-Type headers is refused 502",
        async {
            let body = format!(r#"{{"order_id":"o-1","internal":"{FIELD}-resp-dup"}}"#);
            let canned = Canned::new(
                200,
                &[
                    ("content-type", "text/plain"),
                    ("content-type", "application/json"),
                ],
                body,
            );
            let resp = s
                .canned("label-resp-repeated", LABELS, "/contract", canned)
                .await?;
            caller_clean(&resp, &[FIELD])?;
            refused(&resp, 502)
        },
    )
    .await;

    /// A callee leaves out Content-Type on an `other: pass` hop.
    r.case(
        "labels: response JSON with no Content-Type on an `other: pass` hop",
        async {
            let canned = Canned::new(200, &[], format!(r#"{{"pan":"{MC16}","ssn":"{SSN}"}}"#));
            let resp = s.canned("label-resp-none", LABELS, "/pass", canned).await?;
            caller_clean(&resp, &[MC16, SSN])
        },
    )
    .await;

    /// `charset=utf-16le`: ASCII digits interleaved with NUL bytes pass as
    /// "clean" UTF-8 text.
    r.case("charsets: text/plain; charset=utf-16le request", async {
        s.send(
            "charset-utf16-req",
            Req::post(LABELS, "/text")
                .header("content-type", "text/plain; charset=utf-16le")
                .body(utf16le(&format!("card {VISA16}"))),
        )
        .await?;
        s.callee_clean("charset-utf16-req", &[VISA16])
    })
    .await;

    /// The same NUL-interleaved text with no charset declared.
    r.case("charsets: NUL-interleaved text with no charset", async {
        s.send(
            "charset-nul-req",
            Req::post(LABELS, "/text")
                .header("content-type", "text/plain")
                .body(utf16le(&format!("ssn {SSN} card {MC16}"))),
        )
        .await?;
        s.callee_clean("charset-nul-req", &[SSN, MC16])
    })
    .await;

    /// `charset=utf-7`: the digits in UTF-7's base64 form.
    r.case("charsets: text/plain; charset=utf-7 request", async {
        s.send(
            "charset-utf7-req",
            Req::post(LABELS, "/text")
                .header("content-type", "text/plain; charset=utf-7")
                .body(format!("card {UTF7_VISA}")),
        )
        .await?;
        s.callee_clean("charset-utf7-req", &[UTF7_VISA, VISA16])
    })
    .await;

    /// A callee answers in UTF-16.
    r.case("charsets: text/plain; charset=utf-16le response", async {
        let canned = Canned::new(
            200,
            &[("content-type", "text/plain; charset=utf-16le")],
            utf16le(&format!("card {VISA16}")),
        );
        let resp = s
            .canned("charset-utf16-resp", LABELS, "/text", canned)
            .await?;
        caller_clean(&resp, &[VISA16])
    })
    .await;

    // --- 11. Past the bound, the documented answer ------------------------
    // Bodies of 3 MB: past the default `max_bytes` (1 MiB) and past Envoy's
    // default buffer limit (1 MiB) by far, so whether Envoy lets the last
    // read through does not matter. Run at once: where Envoy stalls, each
    // waits out the client's time bound.

    let within = |case: &'static str, req: Req| async move {
        let resp = s.send_within(case, req, BOUND).await?;
        ensure!(
            resp.status == 200,
            "expected the body to cross, got {}: {}",
            resp.status,
            snippet(&resp.raw)
        );
        Ok(())
    };
    let bound_cases: Vec<(&str, BoxedCase<'_>)> = vec![
        /// A request body over Envoy's buffer limit and the hop's default
        /// `max_bytes`: chaperone's 413 JSON, not Envoy's plain answer or a
        /// stalled connection.
        ("bounds: request body over the buffer limit gets 413 JSON", Box::pin(async {
            let resp = s.send_within("big-req", Req::post(LABELS, "/big").json(&big_json(3_000_000)), BOUND).await?;
            s.callee_untouched("big-req")?;
            refused(&resp, 413)
        })),
        /// ...sent chunked, with no length up front.
        ("bounds: chunked request body over the buffer limit gets 413 JSON", Box::pin(async {
            let resp = s.send_within("big-req-chunked", Req::post(LABELS, "/big").json(&big_json(3_000_000)).chunked(), BOUND).await?;
            s.callee_untouched("big-req-chunked")?;
            refused(&resp, 413)
        })),
        /// A response body over Envoy's buffer limit: chaperone's 502 JSON,
        /// not Envoy's plain 500.
        ("bounds: response body over the buffer limit gets 502 JSON", Box::pin(async {
            s.upstream.can("big-resp", Canned::json(&big_json(3_000_000)));
            let resp = s.send_within("big-resp", Req::get(LABELS, "/big").header("x-canned", "big-resp"), BOUND).await?;
            refused(&resp, 502)
        })),
        /// A hop whose `max_bytes` is 8 MiB: a 3 MB request body is within
        /// its bound and crosses (Envoy's buffer limit aligned with it).
        ("bounds: request body within an 8 MiB max_bytes crosses", Box::pin(async {
            s.upstream.can("roomy-req", Canned::json(r#"{"ok":true}"#));
            within("roomy-req", Req::post(LABELS, "/roomy").header("x-canned", "roomy-req").json(&big_json(3_000_000))).await
        })),
        /// ...and a 3 MB response body.
        ("bounds: response body within an 8 MiB max_bytes crosses", Box::pin(async {
            s.upstream.can("roomy-resp", Canned::json(&big_json(3_000_000)));
            within("roomy-resp", Req::get(LABELS, "/roomy").header("x-canned", "roomy-resp")).await
        })),
        /// At the bound: a body of exactly the largest `max_bytes` (8 MiB)
        /// is within it and crosses (Envoy's limit and the ext_proc message
        /// limit leave room for it).
        ("bounds: a body of exactly 8 MiB on an 8 MiB hop crosses", Box::pin(async {
            let body = big_json((8 << 20) - big_json(0).len());
            s.upstream.can("roomy-exact", Canned::json(r#"{"ok":true}"#));
            within("roomy-exact", Req::post(LABELS, "/roomy").header("x-canned", "roomy-exact").json(&body)).await
        })),
    ];
    r.cases_at_once(bound_cases).await;

    // --- 12. No side door through caches or sniffing ----------------------

    let card_body = format!(r#"{{"id":"c-1","pan":"{VISA16}"}}"#);
    let shared_cacheable = |resp: &RawResponse| -> Outcome {
        let cc = resp.all("cache-control").join(", ").to_ascii_lowercase();
        ensure!(
            (cc.contains("private") || cc.contains("no-store")) && !cc.contains("public"),
            "a response changed for this caller may be stored by a shared cache: cache-control = {cc:?}"
        );
        Ok(())
    };

    /// The callee says `public, max-age=600`; chaperone masked the body for
    /// this caller; a shared cache would serve the masked-for-one answer to
    /// others (and hold the data).
    r.case(
        "caches: changed response marked private over upstream's public",
        async {
            let canned = Canned::new(
                200,
                &[
                    ("content-type", "application/json"),
                    ("cache-control", "public, max-age=600"),
                ],
                card_body.clone(),
            );
            let resp = s.canned("cache-public", LABELS, "/cache", canned).await?;
            caller_clean(&resp, &[VISA16])?;
            shared_cacheable(&resp)
        },
    )
    .await;

    /// No cache-control from the callee: heuristic caching applies unless
    /// chaperone marks it.
    r.case(
        "caches: changed response with no cache-control is marked private",
        async {
            let resp = s
                .canned("cache-none", LABELS, "/cache", Canned::json(&card_body))
                .await?;
            shared_cacheable(&resp)
        },
    )
    .await;

    /// A JSON response that crossed a contract carries nosniff.
    r.case(
        "sniffing: JSON response carries X-Content-Type-Options: nosniff",
        async {
            let resp = s
                .canned(
                    "nosniff-json",
                    LABELS,
                    "/cache",
                    Canned::json(r#"{"id":"c-2"}"#),
                )
                .await?;
            ensure!(
                resp.header("x-content-type-options")
                    .is_some_and(|v| v.eq_ignore_ascii_case("nosniff")),
                "no nosniff: {}",
                snippet(&resp.raw)
            );
            Ok(())
        },
    )
    .await;

    /// A text response that crossed a contract carries nosniff.
    r.case(
        "sniffing: text response carries X-Content-Type-Options: nosniff",
        async {
            let canned = Canned::new(
                200,
                &[("content-type", "text/plain")],
                "hello <script>1</script>",
            );
            let resp = s.canned("nosniff-text", LABELS, "/cache", canned).await?;
            ensure!(
                resp.header("x-content-type-options")
                    .is_some_and(|v| v.eq_ignore_ascii_case("nosniff")),
                "no nosniff: {}",
                snippet(&resp.raw)
            );
            Ok(())
        },
    )
    .await;

    /// Beyond the issue: validators and digests of the unscrubbed body
    /// (`ETag` as its SHA-256, `Digest`, `Repr-Digest`, `Content-MD5`-style)
    /// ride along with the masked body; with the BIN and last four shown by
    /// the mask, the six hidden digits are a few hundred thousand offline
    /// guesses against the hash.
    r.case(
        "caches (beyond the issue): digests of the unscrubbed body do not ride along",
        async {
            let digest =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, card_body.as_bytes());
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            let b64 = STANDARD.encode(digest.as_ref());
            let etag = format!("\"{hex}\"");
            let digest_h = format!("SHA-256={b64}");
            let repr = format!("sha-256=:{b64}:");
            let canned = Canned::new(
                200,
                &[
                    ("content-type", "application/json"),
                    ("etag", etag.as_str()),
                    ("digest", digest_h.as_str()),
                    ("repr-digest", repr.as_str()),
                ],
                card_body.clone(),
            );
            let resp = s.canned("digest-ride", LABELS, "/cache", canned).await?;
            caller_clean(&resp, &[VISA16])?;
            let leaked: Vec<&(String, String)> = resp
                .headers
                .iter()
                .filter(|(_, v)| v.to_ascii_lowercase().contains(&hex) || v.contains(&b64))
                .collect();
            ensure!(
                leaked.is_empty(),
                "hashes of the unscrubbed body reached the caller: {leaked:?}"
            );
            Ok(())
        },
    )
    .await;

    s.sweep(&mut r, Vec::new()).await;
    r.finish();
}

// ---------------------------------------------------------------------------
// Stack "headers": header values, query strings, credentials, smuggled
// headers, client-chosen request ids (issue items 6, 7, 8, 9)
// ---------------------------------------------------------------------------

const HDR: &str = "hdr.test";

fn headers_policy(jwks_url: &str) -> String {
    format!(
        r#"
version: "leaks-headers.1"
trust_domain: shop.test
{CLASSES}
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ url: "{jwks_url}" }}
hops:
  - name: me
    match: {{ host: {HDR}, method: GET, path: /me }}
    from: [ {{ users: {{ issuer: corp }} }} ]
  - name: anon
    match: {{ host: {HDR}, path: "/**" }}
    from: [ {{ anonymous: true }} ]
"#
    )
}

/// Whether a string has the shape of a lowercase UUID (Envoy's request ids).
fn lowercase_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn leaks_through_headers_queries_and_ids() {
    run(leaks_through_headers_queries_and_ids_cases);
}

async fn leaks_through_headers_queries_and_ids_cases() {
    let mut r = Report::new("headers");
    let idp = Idp::start().await;
    let s = match Stack::start(headers_policy(&idp.jwks_url())).await {
        Ok(s) => s,
        Err(e) => {
            r.record("stack starts", Err(e));
            return r.finish();
        }
    };
    let s = &s;
    let user_token = idp.token("alice", "orders:read", json!({}));
    let user_payload = payload_of(&user_token);

    // --- 6. Headers and query strings are data ----------------------------

    /// A card number in a request header toward the callee; counted as a
    /// finding.
    r.case("headers: card number in a request header", async {
        s.send(
            "hdr-req-card",
            Req::get(HDR, "/h").header("x-note", format!("card {VISA16}")),
        )
        .await?;
        s.callee_clean("hdr-req-card", &[VISA16])?;
        let metrics = s.chaperone.metrics().await;
        ensure!(
            metrics
                .lines()
                .any(|l| l.starts_with("chaperone_scrub_findings_total{")
                    && l.contains(r#"class="card_number""#)
                    && l.contains(r#"direction="request""#)
                    && l.contains(r#"hop="anon""#)),
            "no request-side card_number finding counted for hop anon"
        );
        Ok(())
    })
    .await;

    /// SSN, IBAN, e-mail, AWS key id and a JWT in request headers.
    r.case(
        "headers: SSN, IBAN, e-mail, AWS key id, JWT in request headers",
        async {
            let jwt = jwt_std();
            s.send(
                "hdr-req-classes",
                Req::get(HDR, "/h")
                    .header("x-ssn", SSN)
                    .header("x-iban", IBAN)
                    .header("x-email", EMAIL)
                    .header("x-aws", AWS_KEY)
                    .header("x-auth-request-access-token", &jwt),
            )
            .await?;
            s.callee_clean(
                "hdr-req-classes",
                &[SSN, IBAN, EMAIL, AWS_KEY, &payload_of(&jwt)],
            )
        },
    )
    .await;

    /// A card number in the query string; the other parameters still arrive.
    r.case("query: card number in a query parameter", async {
        let resp = s
            .send(
                "query-card",
                Req::get(HDR, &format!("/h?card={VISA16}&keep=yes")),
            )
            .await?;
        s.callee_clean("query-card", &[VISA16])?;
        ensure!(resp.status == 200, "status {}", resp.status);
        let got = s.callee("query-card");
        ensure!(
            got.first().is_some_and(|q| q.target().contains("keep=yes")),
            "the harmless parameter did not arrive: {:?}",
            got.first().map(|q| q.request_line.clone())
        );
        Ok(())
    })
    .await;

    /// Percent-encoded digits, `+` for spaces, an encoded e-mail, an SSN.
    r.case("query: percent-encoded and plus-separated values", async {
        let enc: String = VISA16.bytes().map(|b| format!("%{b:02X}")).collect();
        let target = format!("/h?c1={enc}&c2=5555+5555+5555+4444&email=alice.canary%40example.com&ssn={SSN}&n=m%C3%BCller%40b%C3%BCcher.de");
        s.send("query-encoded", Req::get(HDR, &target)).await?;
        s.callee_clean("query-encoded", &[VISA16, MC16, EMAIL, SSN])
    })
    .await;

    /// A card number as a path segment (the hop's path is `/**`).
    r.case("path: card number in a path segment", async {
        s.send("path-card", Req::get(HDR, &format!("/h/{VISA16}/receipt")))
            .await?;
        s.callee_clean("path-card", &[VISA16])
    })
    .await;

    /// A callee puts a card number and an SSN in response headers.
    r.case("headers: card number and SSN in response headers", async {
        let location = format!("/cards/{MC16}?iban={IBAN}");
        let canned = Canned::new(
            201,
            &[
                ("content-type", "application/json"),
                ("x-card", MC16),
                ("x-ssn", SSN),
                ("location", location.as_str()),
            ],
            "{}",
        );
        let resp = s.canned("hdr-resp-card", HDR, "/h", canned).await?;
        caller_clean(&resp, &[MC16, SSN, IBAN])
    })
    .await;

    /// A callee reflects the minted token back in response headers.
    r.case(
        "headers: the minted token reflected in a response header",
        async {
            let canned = Canned::new(
                200,
                &[
                    ("content-type", "application/json"),
                    ("x-echo-token", "${req:txn-token}"),
                    ("x-debug", "Bearer ${req:txn-token}"),
                    ("txn-token", "${req:txn-token}"),
                ],
                "{}",
            );
            let resp = s.canned("hdr-resp-minted", HDR, "/h", canned).await?;
            let minted = s
                .callee("hdr-resp-minted")
                .first()
                .and_then(|q| q.header("txn-token"));
            let minted = minted.ok_or("no token was minted for the callee")?;
            let payload = payload_of(&minted);
            let back: Vec<&(String, String)> = resp
                .headers
                .iter()
                .filter(|(_, v)| v.contains(&payload))
                .collect();
            ensure!(
                back.is_empty(),
                "the minted token came back to the caller: {back:?}"
            );
            Ok(())
        },
    )
    .await;

    /// A callee puts a JWT and an AWS key id in response headers.
    r.case("headers: JWT and AWS key id in response headers", async {
        let jwt = jwt_std();
        let canned = Canned::new(
            200,
            &[
                ("content-type", "application/json"),
                ("x-session", jwt.as_str()),
                ("x-aws", AWS_KEY),
            ],
            "{}",
        );
        let resp = s.canned("hdr-resp-jwt", HDR, "/h", canned).await?;
        caller_clean(&resp, &[&payload_of(&jwt), AWS_KEY])
    })
    .await;

    // --- 7. Credentials stop at the hop wherever they ride ----------------

    /// `Proxy-Authorization` (an opaque Basic credential no detector finds).
    r.case("credentials: Proxy-Authorization is removed", async {
        s.send(
            "cred-proxy",
            Req::get(HDR, "/h").header("proxy-authorization", basic_proxy_credential()),
        )
        .await?;
        let got = s.callee("cred-proxy");
        ensure!(
            !got.is_empty(),
            "the request was refused; credential headers are removed, not refused"
        );
        ensure!(
            got.iter()
                .all(|q| q.header("proxy-authorization").is_none()),
            "the callee got proxy-authorization: {:?}",
            got.first().map(|q| q.all("proxy-authorization"))
        );
        Ok(())
    })
    .await;

    /// `X-Forwarded-Access-Token` (opaque).
    r.case("credentials: X-Forwarded-Access-Token is removed", async {
        s.send(
            "cred-xfat",
            Req::get(HDR, "/h").header("x-forwarded-access-token", format!("{CRED}-xfat")),
        )
        .await?;
        let got = s.callee("cred-xfat");
        ensure!(
            !got.is_empty(),
            "the request was refused; credential headers are removed, not refused"
        );
        ensure!(
            got.iter()
                .all(|q| q.header("x-forwarded-access-token").is_none()),
            "the callee got x-forwarded-access-token"
        );
        Ok(())
    })
    .await;

    /// `?access_token=` (RFC 6750 §2.3), opaque.
    r.case(
        "credentials: access_token query parameter is dropped",
        async {
            let resp = s
                .send(
                    "cred-query",
                    Req::get(HDR, &format!("/h?access_token={CRED}-query&keep=yes")),
                )
                .await?;
            ensure!(resp.status == 200, "status {}", resp.status);
            let got = s.callee("cred-query");
            ensure!(
                got.iter().all(|q| !q.target().contains("access_token")),
                "the callee got access_token: {:?}",
                got.first().map(|q| q.request_line.clone())
            );
            Ok(())
        },
    )
    .await;

    /// The caller's own identity-provider token, valid on this hop, riding
    /// in every other place as well as `Authorization` (a refusal of the
    /// several methods at once, RFC 6750 §2, would do too).
    r.case(
        "credentials: the caller's IdP token in every other place it is accepted",
        async {
            s.send(
                "cred-everywhere",
                Req::get(HDR, &format!("/me?access_token={user_token}"))
                    .header("authorization", format!("Bearer {user_token}"))
                    .header("proxy-authorization", format!("Bearer {user_token}"))
                    .header("x-forwarded-access-token", &user_token),
            )
            .await?;
            s.callee_clean("cred-everywhere", &[&user_payload])
        },
    )
    .await;

    // --- 8. Headers that change what the callee does are not smuggled -----

    /// Header names with underscores (`x_user` reads as `X-User` in CGI,
    /// WSGI, PHP): rejected by Envoy.
    r.case(
        "smuggling: header names with underscores are rejected",
        async {
            // Envoy's REJECT_REQUEST answers HTTP/1 with a 400 or closes the
            // connection with no answer: either is a refusal.
            let sent = s
                .send(
                    "smuggle-underscore",
                    Req::get(HDR, "/h")
                        .header("x_canary_under", format!("{FIELD}-under"))
                        .header("x_http_method_override", "DELETE"),
                )
                .await;
            let got = s.callee("smuggle-underscore");
            let under: Vec<String> = got
                .iter()
                .flat_map(|q| q.headers.iter().map(|h| h.0.clone()))
                .filter(|n| n.contains('_'))
                .collect();
            ensure!(
                under.is_empty(),
                "the callee got header names with underscores: {under:?}"
            );
            match sent {
                Ok(resp) => ensure!(
                    resp.status == 400,
                    "expected the request refused, got {}",
                    resp.status
                ),
                Err(e) => ensure!(e.contains("closed"), "{e}"),
            }
            Ok(())
        },
    )
    .await;

    /// Method- and URL-override headers.
    r.case(
        "smuggling: method and URL override headers are removed",
        async {
            s.send(
                "smuggle-override",
                Req::get(HDR, "/h")
                    .header("X-HTTP-Method-Override", "DELETE")
                    .header("x-http-method", "PUT")
                    .header("x-method-override", "PATCH")
                    .header("x-original-url", "/admin/users")
                    .header("x-rewrite-url", "/admin/users"),
            )
            .await?;
            let got = s.callee("smuggle-override");
            ensure!(!got.is_empty(), "the request did not reach the callee");
            let names = [
                "x-http-method-override",
                "x-http-method",
                "x-method-override",
                "x-original-url",
                "x-rewrite-url",
            ];
            let seen: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| got.iter().any(|q| q.header(n).is_some()))
                .collect();
            ensure!(seen.is_empty(), "the callee got {seen:?}");
            Ok(())
        },
    )
    .await;

    /// Beyond the issue: `X-Forwarded-Host` from a client makes callees
    /// build links (password resets, redirects) and cache keys on a host the
    /// attacker chose.
    r.case(
        "smuggling (beyond the issue): client's X-Forwarded-Host is removed",
        async {
            s.send(
                "smuggle-xfh",
                Req::get(HDR, "/h").header("x-forwarded-host", "evil.example"),
            )
            .await?;
            let got = s.callee("smuggle-xfh");
            ensure!(
                got.iter().all(|q| !q
                    .all("x-forwarded-host")
                    .iter()
                    .any(|v| v.contains("evil.example"))),
                "the callee got x-forwarded-host: evil.example"
            );
            Ok(())
        },
    )
    .await;

    // --- 9. A client-chosen id is never trusted data ----------------------

    let id_case = |case: &'static str, id: String| async move {
        let resp = s
            .send(case, Req::get(HDR, "/h").header("x-request-id", &id))
            .await?;
        ensure!(resp.status == 200, "status {}", resp.status);
        let got = s.callee(case);
        let q = got.first().ok_or("the request did not reach the callee")?;
        let seen = q.header("x-request-id").unwrap_or_default();
        let txn = q
            .header("txn-token")
            .and_then(|t| claims_of(&t))
            .map(|c| c["txn"].to_string())
            .unwrap_or_default();
        let mut problems = Vec::new();
        if !lowercase_uuid(&seen) {
            problems.push(format!(
                "the callee's x-request-id is {seen:?}, not one Envoy generated"
            ));
        }
        if txn.contains(&id) {
            problems.push(format!("the token's txn is the client's id {txn}"));
        }
        if s.log().contains(&id) {
            problems.push("chaperone's log holds the client's id".to_owned());
        }
        ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(())
    };

    /// A card number as `x-request-id`: into decision events and `txn`.
    r.case(
        "request id: a card number as x-request-id",
        id_case("rid-card", VISA16.to_owned()),
    )
    .await;
    /// An opaque client value as `x-request-id`.
    r.case(
        "request id: a client-chosen x-request-id",
        id_case("rid-opaque", format!("{FIELD}-rid")),
    )
    .await;
    /// A JWT as `x-request-id` (its characters all pass as "sane").
    r.case(
        "request id: a JWT as x-request-id",
        id_case("rid-jwt", jwt_std()),
    )
    .await;

    s.sweep(
        &mut r,
        vec![Canary::new("caller's IdP token", &[&user_payload])],
    )
    .await;
    r.finish();
}

// ---------------------------------------------------------------------------
// Stack "demo": the embedded demo policy (issue item 5, last sentence)
// ---------------------------------------------------------------------------

fn demo_policy_text() -> String {
    std::fs::read_to_string(
        std::path::Path::new(ROOT).join("crates/chaperone-core/src/config/default-policy.yaml"),
    )
    .unwrap()
}

#[test]
fn leaks_through_the_embedded_demo_policy() {
    run(leaks_through_the_embedded_demo_policy_cases);
}

async fn leaks_through_the_embedded_demo_policy_cases() {
    let mut r = Report::new("demo");
    let text = demo_policy_text();

    /// The embedded demo policy passes every unreadable body, in both
    /// directions, on every hop.
    r.case("demo policy: no blanket `other: pass` default", async {
        let doc: Value = serde_norway::from_str(&text).map_err(|e| e.to_string())?;
        for dir in ["request", "response"] {
            let other = &doc["defaults"][dir]["body"]["other"];
            ensure!(other != "pass", "defaults.{dir}.body.other is `pass`");
        }
        Ok(())
    })
    .await;

    let s = match Stack::start(text.clone()).await {
        Ok(s) => s,
        Err(e) => {
            r.record("stack starts", Err(e));
            return r.finish();
        }
    };
    let s = &s;

    /// Text labelled `application/octet-stream` from a demo callee.
    r.case(
        "demo policy: octet-stream text with a card and an SSN in a response",
        async {
            let canned = Canned::new(
                200,
                &[("content-type", "application/octet-stream")],
                format!("card {VISA16} ssn {SSN}"),
            );
            let resp = s
                .canned("demo-octet", "api.demo.local", "/healthz", canned)
                .await?;
            ensure!(
                resp.status != 403 && resp.status != 404,
                "the demo hop did not admit the request: {}",
                resp.status
            );
            caller_clean(&resp, &[VISA16, SSN])
        },
    )
    .await;

    /// JSON with no Content-Type from a demo callee.
    r.case(
        "demo policy: JSON with no Content-Type in a response",
        async {
            let canned = Canned::new(200, &[], format!(r#"{{"status":"ok","pan":"{MC16}"}}"#));
            let resp = s
                .canned("demo-none", "api.demo.local", "/healthz", canned)
                .await?;
            caller_clean(&resp, &[MC16])
        },
    )
    .await;

    s.sweep(&mut r, Vec::new()).await;
    r.finish();
}

// ---------------------------------------------------------------------------
// Stack "opt-outs": the new per-hop settings (headers.scan, query, cache,
// nosniff). A hop that narrows scanning still stops credentials and keeps
// minted tokens out of response headers; what a hop keeps, it gets as sent.
// On a chaperone without these settings the policy does not load.
// ---------------------------------------------------------------------------

const OPT: &str = "opt.test";

fn opt_policy() -> String {
    format!(
        r#"
version: "leaks-optouts.1"
trust_domain: shop.test
{CLASSES}
hops:
  - name: narrowed
    match: {{ host: {OPT}, path: "/**" }}
    from: [ {{ anonymous: true }} ]
    request:
      headers: {{ scan: [], allow: [x-forwarded-access-token] }}
      query: {{ scan: [], allow: [access_token] }}
    response:
      headers: {{ scan: [] }}
      cache: public
      nosniff: false
"#
    )
}

const OPT_CASES: [&str; 5] = [
    "narrowed header scan: Proxy-Authorization is still removed",
    "narrowed header scan: the minted token still never comes back in a response header",
    "guard (not an attack): headers.allow keeps x-forwarded-access-token as sent",
    "guard (not an attack): query.allow keeps access_token as sent",
    "guard (not an attack): cache: public and nosniff: false are honoured",
];

#[test]
fn leaks_through_narrowed_hops() {
    run(leaks_through_narrowed_hops_cases);
}

async fn leaks_through_narrowed_hops_cases() {
    let mut r = Report::new("opt-outs");
    let s = match Stack::start(opt_policy()).await {
        Ok(s) => s,
        Err(e) => {
            for name in OPT_CASES {
                r.record(name, Err(format!("the policy did not load: {e}")));
            }
            return r.finish();
        }
    };
    let s = &s;

    /// Narrowing a hop's header scan must not let credentials through.
    r.case(OPT_CASES[0], async {
        s.send(
            "opt-proxy",
            Req::get(OPT, "/x").header("proxy-authorization", basic_proxy_credential()),
        )
        .await?;
        let got = s.callee("opt-proxy");
        ensure!(
            !got.is_empty()
                && got
                    .iter()
                    .all(|q| q.header("proxy-authorization").is_none()),
            "the callee got proxy-authorization (or nothing at all)"
        );
        Ok(())
    })
    .await;

    /// Narrowing a hop's response header scan must not return the token.
    r.case(OPT_CASES[1], async {
        let canned = Canned::new(
            200,
            &[
                ("content-type", "application/json"),
                ("x-echo-token", "${req:txn-token}"),
            ],
            "{}",
        );
        let resp = s.canned("opt-minted", OPT, "/x", canned).await?;
        let minted = s
            .callee("opt-minted")
            .first()
            .and_then(|q| q.header("txn-token"))
            .ok_or("no token minted")?;
        let payload = payload_of(&minted);
        ensure!(
            resp.headers.iter().all(|(_, v)| !v.contains(&payload)),
            "the minted token came back"
        );
        Ok(())
    })
    .await;

    /// Guard, not an attack: what a hop keeps (`headers.allow`) arrives as sent.
    r.case(OPT_CASES[2], async {
        s.send(
            "opt-keep-xfat",
            Req::get(OPT, "/x").header("x-forwarded-access-token", "kept-xfat-Value.1"),
        )
        .await?;
        let got = s.callee("opt-keep-xfat");
        ensure!(
            got.first()
                .and_then(|q| q.header("x-forwarded-access-token"))
                .as_deref()
                == Some("kept-xfat-Value.1"),
            "the kept header did not arrive as sent"
        );
        Ok(())
    })
    .await;

    /// Guard, not an attack: what a hop keeps (`query.allow`) arrives as sent.
    r.case(OPT_CASES[3], async {
        s.send(
            "opt-keep-query",
            Req::get(OPT, "/x?access_token=kept-query-Value.1&a=b"),
        )
        .await?;
        let got = s.callee("opt-keep-query");
        ensure!(
            got.first()
                .is_some_and(|q| q.target().contains("access_token=kept-query-Value.1")),
            "the kept parameter did not arrive as sent"
        );
        Ok(())
    })
    .await;

    /// Guard, not an attack: a hop that declares its response public and
    /// turns nosniff off gets neither mark.
    r.case(OPT_CASES[4], async {
        let canned = Canned::new(
            200,
            &[
                ("content-type", "application/json"),
                ("cache-control", "public, max-age=60"),
            ],
            format!(r#"{{"pan":"{VISA16}"}}"#),
        );
        let resp = s.canned("opt-public", OPT, "/x", canned).await?;
        caller_clean(&resp, &[VISA16])?;
        let cc = resp.all("cache-control").join(", ");
        ensure!(
            cc.contains("public") && !cc.contains("private") && !cc.contains("no-store"),
            "cache-control = {cc:?}"
        );
        ensure!(
            resp.header("x-content-type-options").is_none(),
            "nosniff set on a hop that turned it off"
        );
        Ok(())
    })
    .await;

    s.sweep(&mut r, Vec::new()).await;
    r.finish();
}
