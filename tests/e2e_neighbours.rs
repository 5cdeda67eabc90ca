//! Neighbours of the leak suite's categories (tests/e2e_leaks.rs), each
//! tried through a real Envoy
//! (`envoy/edge.yaml`), chaperone as ext_authz and ext_proc, and the raw
//! recording upstream of `tests/common/raw.rs`.
//!
//! Each case asserts the secure behaviour, so a case FAILS while the hole it
//! names is open. Every case prints `NEIGHBOURS PASS|FAIL name: why` as it runs;
//! the test fails at the end with the table.
//!
//! Run: `CHAPERONE_ENVOY=/path/to/envoy cargo test --test e2e_neighbours -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(unused_doc_comments)]

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use common::raw::{Canned, RawRequest, RawResponse, RawUpstream, Req, send};
use common::*;
use futures_util::FutureExt as _;

const VISA: &str = "4111111111111111";
/// An opaque credential no detector finds.
const OPAQUE: &str = "opq7Rk2LmQ9vX3";
const HOST: &str = "neighbours.test";

type Outcome = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn policy() -> String {
    format!(
        r#"
version: "neighbours.1"
trust_domain: shop.test
data_classes:
  card_number: {{ detect: [pan], action: mask_pan }}
  national_id: {{ detect: [us_ssn], action: redact }}
  bank_account: {{ detect: [iban], action: redact }}
  email: {{ detect: [email], action: redact }}
  secret: {{ detect: [jwt, private_key, aws_access_key, bearer_token], action: redact }}
defaults:
  scan: [card_number, national_id, bank_account, email, secret]
hops:
  - name: open
    match: {{ host: {HOST}, path: "/open/**" }}
    from: [ {{ anonymous: true }} ]
  - name: typed
    match: {{ host: {HOST}, path: /typed }}
    from: [ {{ anonymous: true }} ]
    request:
      body: {{ allow: [amount] }}
    response:
      body: {{ allow: [amount] }}
  - name: tctx
    match: {{ host: {HOST}, path: "/orders/{{order_id}}" }}
    from: [ {{ anonymous: true }} ]
    token: {{ audience: orders, tctx: [order_id] }}
  - name: shadowed
    shadow: true
    match: {{ host: {HOST}, path: /shadow }}
    from: [ {{ anonymous: true }} ]
  - name: fields
    match: {{ host: {HOST}, path: /fields }}
    from: [ {{ anonymous: true }} ]
    request:
      body: {{ fields: {{ account: hash, contact: mask_email }} }}
    response:
      body: {{ fields: {{ account: hash, contact: mask_email }} }}
"#
    )
}

struct Stack {
    chaperone: Chaperone,
    upstream: RawUpstream,
    envoy: Envoy,
}

impl Stack {
    async fn start() -> Self {
        let chaperone = Chaperone::start(&policy()).await;
        let upstream = RawUpstream::start().await;
        let vars = HashMap::from([
            ("CHAPERONE_GRPC_PORT", chaperone.grpc_port.to_string()),
            ("UPSTREAM_PORT", upstream.port().to_string()),
        ]);
        let envoy = Envoy::start(edge_config(), &["ENVOY_HTTP_PORT"], vars).await;
        Self {
            chaperone,
            upstream,
            envoy,
        }
    }

    async fn send(&self, case: &str, req: Req) -> Result<RawResponse, String> {
        let req = req.header("x-case", case);
        send(local(self.envoy.ports["ENVOY_HTTP_PORT"]), req.bytes()).await
    }

    async fn send_bytes(&self, bytes: Vec<u8>) -> Result<RawResponse, String> {
        send(local(self.envoy.ports["ENVOY_HTTP_PORT"]), bytes).await
    }

    /// A GET to `path` answered by the upstream with `canned`.
    async fn canned(&self, case: &str, path: &str, canned: Canned) -> Result<RawResponse, String> {
        self.upstream.can(case, canned);
        self.send(case, Req::get(HOST, path).header("x-canned", case))
            .await
    }

    fn chaperone_log(&self) -> String {
        self.chaperone.log()
    }

    fn callee(&self, case: &str) -> Vec<RawRequest> {
        self.upstream.of_case(case)
    }

    /// Err when the callee received any of `needles` for `case`.
    fn callee_lacks(&self, case: &str, needles: &[&str]) -> Outcome {
        for r in self.callee(case) {
            let text = r.text();
            for n in needles {
                ensure!(
                    !text.contains(n),
                    "callee received {n:?}: {}",
                    snippet(&text)
                );
            }
        }
        Ok(())
    }
}

fn snippet(s: &str) -> String {
    s.chars()
        .take(400)
        .collect::<String>()
        .replace("\r\n", " | ")
}

/// Err when the caller's bytes hold any of `needles`.
fn caller_lacks(resp: &RawResponse, needles: &[&str]) -> Outcome {
    let text = resp.text();
    for n in needles {
        ensure!(
            !text.contains(n),
            "caller received {n:?}: {}",
            snippet(&text)
        );
    }
    Ok(())
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[derive(Default)]
struct Report(Vec<(String, Outcome)>);

impl Report {
    async fn case<F: Future<Output = Outcome>>(&mut self, name: &str, f: F) {
        let out = AssertUnwindSafe(Box::pin(f))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err("panicked".into()));
        match &out {
            Ok(()) => eprintln!("NEIGHBOURS PASS {name}"),
            Err(e) => eprintln!("NEIGHBOURS FAIL {name}: {e}"),
        }
        self.0.push((name.to_owned(), out));
    }

    fn finish(self) {
        let failed: Vec<String> = self
            .0
            .iter()
            .filter_map(|(n, o)| o.as_ref().err().map(|e| format!("  FAIL {n}\n       {e}")))
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} neighbour cases failed:\n{}",
            failed.len(),
            self.0.len(),
            failed.join("\n")
        );
    }
}

#[test]
fn neighbours_of_the_leak_suite() {
    let thread = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
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

async fn cases() {
    let s = Stack::start().await;
    let s = &s;
    let mut r = Report::default();

    // --- Response side: informational answers ----------------------------

    /// A callee sends `103 Early Hints` before its answer, with a card number
    /// and the minted token in its headers: Envoy forwards 1xx headers
    /// without running them through ext_proc.
    r.case("1xx: 103 Early Hints headers reach the caller unscanned", async {
        let head = format!(
            "HTTP/1.1 103 Early Hints\r\nx-leak: {VISA}\r\nlink: </s.css?c={VISA}>; rel=preload\r\ntxn-token: ${{req:txn-token}}\r\nserver: leaky/1.0\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
        );
        let resp = s.canned("early-hints", "/open/x", Canned::exact(&head, "{}")).await?;
        let minted = s
            .callee("early-hints")
            .first()
            .and_then(|q| q.header("txn-token"))
            .unwrap_or_default();
        let mut needles = vec![VISA, "leaky/1.0"];
        if !minted.is_empty() {
            needles.push(&minted);
        }
        caller_lacks(&resp, &needles)
    })
    .await;

    /// The same with `100 Continue` from the callee (Envoy answers 100 itself
    /// and drops the callee's unless proxy_100_continue): expected to hold.
    r.case("1xx: 100 Continue headers from the callee", async {
        let head = format!(
            "HTTP/1.1 100 Continue\r\nx-leak: {VISA}\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
        );
        let resp = s.canned("continue", "/open/x", Canned::exact(&head, "{}")).await?;
        caller_lacks(&resp, &[VISA])
    })
    .await;

    // --- Charsets: the declared one is not the one every reader uses -----

    /// ASCII JSON (even length) labelled `text/plain; charset=utf-16le`:
    /// chaperone reads CJK garbage and passes it; a callee that ignores the
    /// charset (Go's json.NewDecoder, Flask get_json(force=True)) reads the
    /// JSON with the forbidden field and the card number.
    r.case("charset: ASCII JSON labelled utf-16le, request", async {
        let b = format!(r#"{{"amount":1,"card":"{VISA}"}}"#);
        assert_eq!(b.len() % 2, 0);
        let resp = s
            .send(
                "cs-req",
                Req::post(HOST, "/typed")
                    .header("content-type", "text/plain; charset=utf-16le")
                    .body(b),
            )
            .await?;
        let _ = resp;
        s.callee_lacks("cs-req", &[VISA, "\"card\""])
    })
    .await;

    /// A callee labels ASCII text `charset=utf-16le`: fetch().text() and
    /// fetch().json() always decode UTF-8, so the caller reads the card.
    r.case("charset: ASCII text labelled utf-16le, response", async {
        let body = format!("card {VISA} ok");
        assert_eq!(body.len() % 2, 0);
        let c = Canned::new(
            200,
            &[("content-type", "text/plain; charset=utf-16le")],
            body,
        );
        let resp = s.canned("cs-resp", "/open/x", c).await?;
        caller_lacks(&resp, &[VISA])
    })
    .await;

    /// Two charset parameters: chaperone takes the first, a reader the last.
    r.case(
        "charset: two charset parameters (utf-16le, then utf-8), response",
        async {
            let body = format!("card {VISA} ok");
            let c = Canned::new(
                200,
                &[(
                    "content-type",
                    "text/plain; charset=utf-16le; charset=utf-8",
                )],
                body,
            );
            let resp = s.canned("cs-two", "/open/x", c).await?;
            caller_lacks(&resp, &[VISA])
        },
    )
    .await;

    /// A UTF-16 byte order mark in front of ASCII text (no charset):
    /// chaperone reads UTF-16 by the mark; fetch().text() reads UTF-8.
    r.case("charset: FF FE then ASCII text, response", async {
        let mut body = b"\xFF\xFE".to_vec();
        body.extend_from_slice(format!("card {VISA} ok").as_bytes());
        let c = Canned::new(200, &[("content-type", "text/plain")], body);
        let resp = s.canned("cs-bom", "/open/x", c).await?;
        caller_lacks(&resp, &[VISA])
    })
    .await;

    /// Guard: real UTF-16LE text with its label is transcoded and scanned.
    r.case("charset (guard): real utf-16le text is scanned", async {
        let c = Canned::new(
            200,
            &[("content-type", "text/plain; charset=utf-16le")],
            utf16le(&format!("card {VISA} ok")),
        );
        let resp = s.canned("cs-real", "/open/x", c).await?;
        ensure!(resp.status == 200, "status {}", resp.status);
        ensure!(!resp.body_text().contains(VISA), "card crossed");
        Ok(())
    })
    .await;

    // --- JSON that a lenient (or streaming) parser reads -----------------

    for (name, body) in [
        (
            "trailing text after the document (Go json.Decoder reads the first value)",
            format!(r#"{{"amount":1,"card":"\u0034{}"}} x"#, &VISA[1..]),
        ),
        (
            "NaN (Python json.loads accepts it)",
            format!(r#"{{"amount":NaN,"card":"\u0034{}"}}"#, &VISA[1..]),
        ),
        (
            "a lone surrogate escape (Python, Go, JavaScript accept it)",
            format!(r#"{{"amount":"\ud800","card":"\u0034{}"}}"#, &VISA[1..]),
        ),
        (
            "a trailing comma (JSON5, Gson lenient)",
            format!(r#"{{"amount":1,"card":"\u0034{}",}}"#, &VISA[1..]),
        ),
    ] {
        let case = format!("near-JSON under text/plain: {name}");
        let tag = format!("nj-{}", r.0.len());
        r.case(&case, async {
            s.send(
                &tag,
                Req::post(HOST, "/typed")
                    .header("content-type", "text/plain")
                    .body(body.clone()),
            )
            .await?;
            if s.callee(&tag).is_empty() {
                return Ok(()); // refused: the secure answer
            }
            // The forbidden field and the escaped card both crossed.
            s.callee_lacks(&tag, &["\"card\"", &format!("\\u0034{}", &VISA[1..])])
        })
        .await;
    }

    // --- Forms --------------------------------------------------------------

    /// A form-labelled body that is also valid JSON: chaperone applies the
    /// JSON contract (amount is allowed, its string is scanned); the callee
    /// parses a form and gets `card` (a forbidden field) holding a card
    /// number written with `+` for spaces, which no decoding of the JSON
    /// string undoes.
    r.case("forms: a form-labelled body that is valid JSON", async {
        let body = r#"{"amount":"1&card=4111+1111+1111+1111&x="}"#;
        s.send(
            "form-json",
            Req::post(HOST, "/typed")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await?;
        s.callee_lacks("form-json", &["4111+1111+1111+1111"])
    })
    .await;

    /// `;` as a pair separator (Python < 3.9.2 parse_qs, older Rack, Tomcat
    /// with semicolons, PHP arg_separator.input): `card` rides in `amount`'s
    /// value past the allow-list.
    r.case("forms: ';' separates pairs for some parsers", async {
        s.send(
            "form-semi",
            Req::post(HOST, "/typed")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("amount=1;card={OPAQUE}")),
        )
        .await?;
        s.callee_lacks("form-semi", &[OPAQUE])
    })
    .await;

    /// RFC 6750 §2.2 puts the access token in a form body; `_method` in a
    /// form body is what Rails, Laravel and Symfony read as the method
    /// override. Both are stripped from the query, not from the body.
    r.case("forms: access_token and _method in a form body", async {
        s.send(
            "form-cred",
            Req::post(HOST, "/open/x")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("access_token={OPAQUE}&_method=DELETE&a=1")),
        )
        .await?;
        s.callee_lacks("form-cred", &[OPAQUE, "_method"])
    })
    .await;

    /// A field action names `account`; `Account` (Go encoding/json and
    /// ASP.NET Core bind keys case-insensitively) and `account[]` (PHP,
    /// Rack) cross unhashed.
    r.case(
        "fields: case and bracket variants of an acted-on name",
        async {
            s.send(
                "fields-case",
                Req::post(HOST, "/fields").json(&format!(r#"{{"Account":"{OPAQUE}"}}"#)),
            )
            .await?;
            s.send(
                "fields-case",
                Req::post(HOST, "/fields")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("account[]={OPAQUE}")),
            )
            .await?;
            s.callee_lacks("fields-case", &[OPAQUE])
        },
    )
    .await;

    /// `hash` keeps any value shaped like a hash token, so 16 bytes of the
    /// caller's choice (a card number, zero-padded) cross a hashed field.
    r.case(
        "fields: a value shaped like a hash token crosses `hash`",
        async {
            let v = format!("h:{VISA}0000000000000000");
            s.send(
                "fields-htok",
                Req::post(HOST, "/fields").json(&format!(r#"{{"account":"{v}"}}"#)),
            )
            .await?;
            s.callee_lacks("fields-htok", &[VISA])
        },
    )
    .await;

    /// `mask_email` keeps the domain as written: a card number there crosses
    /// (and is not counted as a finding).
    r.case(
        "fields: mask_email keeps a card number in the domain",
        async {
            s.send(
                "fields-mail",
                Req::post(HOST, "/fields").json(&format!(r#"{{"contact":"a@{VISA}.test"}}"#)),
            )
            .await?;
            s.callee_lacks("fields-mail", &[VISA])
        },
    )
    .await;

    // --- Numbers -------------------------------------------------------------

    /// `4111111111111111.5`: every int conversion (Python int(), JS
    /// Math.trunc/parseInt, Go int64(), Java (long)) reads the card.
    r.case("numbers: a card number with a .5 fraction", async {
        s.send(
            "num-frac",
            Req::post(HOST, "/open/x").json(&format!(r#"{{"n":{VISA}.5}}"#)),
        )
        .await?;
        s.callee_lacks("num-frac", &[VISA])
    })
    .await;

    // --- Headers and URLs ------------------------------------------------------

    /// RFC 7239 `Forwarded: host=` is X-Forwarded-Host's standard twin
    /// (Spring's ForwardedHeaderFilter, gorilla/handlers.ProxyHeaders).
    r.case("headers: Forwarded host= reaches the callee", async {
        s.send(
            "fwd",
            Req::get(HOST, "/open/x")
                .header("forwarded", "host=attacker.test;proto=https")
                .header("x-forwarded-server", "attacker.test")
                .header("x-host", "attacker.test"),
        )
        .await?;
        s.callee_lacks("fwd", &["attacker.test"])
    })
    .await;

    /// `access_token[]=` (PHP, Rack read it as access_token) and PHP's
    /// name mangling (`access.token`, `access token` become access_token).
    r.case("query: access_token spelled for PHP and Rack", async {
        s.send(
            "q-tok",
            Req::get(
                HOST,
                &format!(
                    "/open/x?access_token[]={OPAQUE}a&access.token={OPAQUE}b&access+token={OPAQUE}c"
                ),
            ),
        )
        .await?;
        s.callee_lacks("q-tok", &[OPAQUE])
    })
    .await;

    /// A fragment in the request target (never sent by browsers, but any
    /// client can): Envoy strips or rejects it, so a card there goes nowhere.
    r.case("query: a fragment with a card number", async {
        s.send("frag", Req::get(HOST, &format!("/open/x?a=1#c={VISA}")))
            .await?;
        s.callee_lacks("frag", &[VISA])
    })
    .await;

    /// Matrix parameters in a path segment.
    r.case("path: a card number in a matrix parameter", async {
        s.send("matrix", Req::get(HOST, &format!("/open/x;c={VISA}")))
            .await?;
        s.callee_lacks("matrix", &[VISA])
    })
    .await;

    /// A custom method carrying data: never reaches the callee or the logs.
    r.case("method: a method that is a card number", async {
        let req = format!(
            "X{VISA} /open/x HTTP/1.1\r\nhost: {HOST}\r\nx-case: method\r\nconnection: close\r\n\r\n"
        );
        let _ = s.send_bytes(req.into_bytes()).await;
        s.callee_lacks("method", &[VISA])?;
        let log = s.envoy.access_log();
        ensure!(!log.contains(VISA), "access log holds the method");
        Ok(())
    })
    .await;

    /// The same over HTTP/2 (curl, prior knowledge): `:method` is any token.
    r.case("method: an HTTP/2 method that is a card number", async {
        let port = s.envoy.ports["ENVOY_HTTP_PORT"];
        let status = std::process::Command::new("curl")
            .args([
                "-sS",
                "-m",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--http2-prior-knowledge",
            ])
            .args(["-X", &format!("X{VISA}")])
            .args(["-H", &format!("host: {HOST}"), "-H", "x-case: h2method"])
            .arg(format!("http://127.0.0.1:{port}/open/x"))
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        let status = String::from_utf8_lossy(&status.stdout).into_owned();
        ensure!(status != "200", "served over HTTP/2 ({status})");
        s.callee_lacks("h2method", &[VISA])?;
        Ok(())
    })
    .await;

    /// `Upgrade: websocket`: without upgrade_configs Envoy must not open a
    /// tunnel whose bytes ext_proc never sees.
    r.case("upgrade: websocket request", async {
        let _ = s
            .send(
                "ws",
                Req::get(HOST, "/open/x")
                    .header("upgrade", "websocket")
                    .header("connection", "upgrade")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                    .header("sec-websocket-version", "13"),
            )
            .await;
        ensure!(
            s.callee("ws").iter().all(|r| r.header("upgrade").is_none()),
            "the callee was asked to upgrade"
        );
        Ok(())
    })
    .await;

    /// A path parameter the hop records in `tctx` is copied raw into the
    /// signed token: the callee's path is masked, its token is not (and
    /// `tctx` rides along the whole chain). Invariant 3: a client-chosen
    /// value is never copied into a signed token unchecked.
    r.case("tokens: a card number as a tctx path parameter", async {
        s.send("tctx", Req::get(HOST, &format!("/orders/{VISA}")))
            .await?;
        let got = s.callee("tctx");
        let req = got.first().ok_or("callee got nothing")?;
        ensure!(
            !req.target().contains(VISA),
            "path not masked: {}",
            req.target()
        );
        let token = req.header("txn-token").ok_or("no token minted")?;
        let payload = token.split('.').nth(1).unwrap_or_default();
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|e| format!("payload: {e}"))?;
        let claims = String::from_utf8_lossy(&claims).into_owned();
        ensure!(
            !claims.contains(VISA),
            "the minted token carries it: {claims}"
        );
        Ok(())
    })
    .await;

    /// Shadow mode lets the request through unchanged, but a client's own
    /// `txn-token` must still never reach a callee (invariant 4); chaperone's
    /// x-chaperone-* headers are removed in shadow, the token header is not.
    r.case("shadow: a client's txn-token reaches the callee", async {
        s.send(
            "shadow-tok",
            Req::get(HOST, "/shadow")
                .header("txn-token", format!("client-{OPAQUE}"))
                .header("x-chaperone-hop", "forged"),
        )
        .await?;
        ensure!(!s.callee("shadow-tok").is_empty(), "callee got nothing");
        s.callee_lacks("shadow-tok", &[OPAQUE, "forged"])
    })
    .await;

    /// Guard: shadow changes nothing in the body and still records it.
    r.case("shadow (guard): records, changes nothing", async {
        let body = format!(r#"{{"card":"{VISA}"}}"#);
        s.send("shadow-rec", Req::post(HOST, "/shadow").json(&body))
            .await?;
        let got = s.callee("shadow-rec");
        ensure!(
            got.first().is_some_and(|r| r.body == body.as_bytes()),
            "shadow changed the body"
        );
        let events = decision_events(&s.chaperone_log());
        ensure!(
            events.iter().any(|e| e["hop"] == "shadowed"
                && e["phase"] == "request_body"
                && e["shadow"] == true
                && e["findings"]
                    .as_str()
                    .is_some_and(|f| f.contains("card_number"))),
            "no shadow event recorded for the body"
        );
        Ok(())
    })
    .await;

    /// `;` separates query pairs for some parsers (Python < 3.9.2, older
    /// Rack): the credential rides in another parameter's value.
    r.case("query: access_token after a ';'", async {
        s.send(
            "q-semi",
            Req::get(HOST, &format!("/open/x?a=1;access_token={OPAQUE}")),
        )
        .await?;
        s.callee_lacks("q-semi", &[OPAQUE])
    })
    .await;

    /// A callee's near-JSON answer labelled text/plain with a lone surrogate:
    /// JSON.parse (fetch().json()) accepts it and decodes the escaped card.
    r.case(
        "near-JSON under text/plain: a lone surrogate, response",
        async {
            let body = format!(r#"{{"amount":"\ud800","card":"\u0034{}"}}"#, &VISA[1..]);
            let c = Canned::new(200, &[("content-type", "text/plain")], body);
            let resp = s.canned("nj-resp", "/typed", c).await?;
            // Refused (502) is as secure as scrubbed.
            if resp.status != 200 {
                return Ok(());
            }
            caller_lacks(&resp, &["\"card\"", &format!("\\u0034{}", &VISA[1..])])
        },
    )
    .await;

    /// The callee's Cache-Control holds a card number: the header scan masks
    /// it, then the cache marking rebuilds Cache-Control from the raw value
    /// the callee sent and sets it again.
    r.case(
        "marking: Cache-Control rebuilt from the unscanned value",
        async {
            let c = Canned::new(
                200,
                &[
                    ("content-type", "application/json"),
                    (
                        "cache-control",
                        &format!("public, max-age=60, x-ref=\"{VISA}\""),
                    ),
                ],
                "{}",
            );
            let resp = s.canned("mark-cc", "/open/x", c).await?;
            caller_lacks(&resp, &[VISA])
        },
    )
    .await;

    /// The same with the content type a transcoded body is relabelled with.
    r.case(
        "marking: Content-Type rebuilt from the unscanned essence",
        async {
            let c = Canned::new(
                200,
                &[("content-type", &format!("text/x-{VISA}; charset=utf-16le"))],
                utf16le(&format!("card {VISA}")),
            );
            let resp = s.canned("mark-ct", "/open/x", c).await?;
            caller_lacks(&resp, &[VISA])
        },
    )
    .await;

    /// RFC 9213 `CDN-Cache-Control` and `Surrogate-Control` govern CDNs over
    /// Cache-Control: a response scrubbed for one caller (marked private)
    /// still tells a shared CDN to keep it for everyone.
    r.case("marking: CDN-Cache-Control / Surrogate-Control left public", async {
        let body = format!(r#"{{"card":"{VISA}"}}"#);
        let c = Canned::new(
            200,
            &[
                ("content-type", "application/json"),
                ("cdn-cache-control", "public, max-age=600"),
                ("surrogate-control", "max-age=600"),
            ],
            body,
        );
        let resp = s.canned("mark-cdn", "/open/x", c).await?;
        ensure!(!resp.body_text().contains(VISA), "body not masked");
        ensure!(
            resp.header("cdn-cache-control").is_none() && resp.header("surrogate-control").is_none(),
            "a shared CDN may store the masked-for-one answer: cdn-cache-control={:?} surrogate-control={:?} cache-control={:?}",
            resp.header("cdn-cache-control"),
            resp.header("surrogate-control"),
            resp.header("cache-control")
        );
        Ok(())
    })
    .await;

    r.finish();
}

fn h2_request(port: u16, method: &str, case: &str) -> Result<String, String> {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-m",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--http2-prior-knowledge",
        ])
        .args(["-X", method])
        .args([
            "-H",
            &format!("host: {HOST}"),
            "-H",
            &format!("x-case: {case}"),
        ])
        .arg(format!("http://127.0.0.1:{port}/open/x"))
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An HTTP/2 `:method` that is a card number ends up in Envoy's access log
/// (edge.yaml logs `%REQ(:METHOD)%`, a value the client wrote). On its own
/// stack so that this request is the first the log flushes.
#[test]
fn a_method_never_carries_data() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Stack::start().await;
        let port = s.envoy.ports["ENVOY_HTTP_PORT"];
        let code = h2_request(port, &format!("X{VISA}"), "h2-log").unwrap();
        assert_ne!(code, "200", "a method that is a card number was served");
        assert_eventually!(!s.envoy.access_log().is_empty(), "Envoy logs the request");
        let log = s.envoy.access_log();
        assert!(
            !log.contains(VISA),
            "Envoy's access log holds the client's method: {}",
            snippet(&log)
        );
    });
}

/// Envoy on edge.yaml with trailers enabled on both codecs (what an HTTP/2
/// upstream, such as an Istio sidecar's app port named http2/grpc, does by
/// default), and ext_proc told to send them, as envoy/README.md says such a
/// deployment must (the Helm chart's sidecar filter does).
struct TrailerEnvoy {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for TrailerEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn trailer_envoy(chaperone: &Chaperone, upstream: &RawUpstream) -> TrailerEnvoy {
    let template =
        std::fs::read_to_string(std::path::Path::new(ROOT).join("envoy/edge.yaml")).unwrap();
    let patched = template
        .replacen(
            "                use_remote_address: true\n",
            "                use_remote_address: true\n                http_protocol_options: { enable_trailers: true }\n",
            1,
        )
        .replacen(
            "    - name: upstream\n      type: STATIC\n",
            "    - name: upstream\n      type: STATIC\n      typed_extension_protocol_options:\n        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n          \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n          explicit_http_config: { http_protocol_options: { enable_trailers: true } }\n",
            1,
        );
    let patched = patched
        .replace("request_trailer_mode: SKIP", "request_trailer_mode: SEND")
        .replace("response_trailer_mode: SKIP", "response_trailer_mode: SEND");
    assert_ne!(patched, template, "patch did not apply");
    let dir = TempDir::new("envoy-trailers");
    let port = free_port();
    let admin = free_port();
    let vars = HashMap::from([
        ("CHAPERONE_GRPC_PORT", chaperone.grpc_port.to_string()),
        ("UPSTREAM_PORT", upstream.port().to_string()),
        ("ENVOY_HTTP_PORT", port.to_string()),
        ("ENVOY_ADMIN_PORT", admin.to_string()),
        (
            "ENVOY_ACCESS_LOG",
            dir.path("access.log").display().to_string(),
        ),
    ]);
    let cfg = dir.path("envoy.yaml");
    std::fs::write(&cfg, render(&patched, &vars)).unwrap();
    let log = std::fs::File::create(dir.path("envoy.log")).unwrap();
    let child = std::process::Command::new(envoy_binary())
        .arg("-c")
        .arg(&cfg)
        .args([
            "--disable-hot-restart",
            "--log-level",
            "warn",
            "--concurrency",
            "1",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let e = TrailerEnvoy {
        child,
        port,
        _dir: dir,
    };
    let ready = format!("http://127.0.0.1:{admin}/ready");
    assert_eventually!(get_ok(&ready).await, "patched envoy ready");
    e
}

#[test]
fn trailers_are_scanned_where_they_cross() {
    on_big_stack(trailer_cases);
}

/// Runs `cases` on a thread with a large stack (a debug build's poll frames
/// outgrow a test thread's 2 MiB).
fn on_big_stack<Fut: Future<Output = ()> + 'static>(cases: fn() -> Fut) {
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

async fn trailer_cases() {
    {
        let chaperone = Chaperone::start(&policy()).await;
        let upstream = RawUpstream::start().await;
        let envoy = trailer_envoy(&chaperone, &upstream).await;
        let addr = local(envoy.port);
        let mut r = Report::default();

        r.case("trailers: response with no body and a trailer", async {
            upstream.can(
                "tr-empty",
                Canned::exact(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n",
                    format!("0\r\nx-leak: {VISA}\r\n\r\n"),
                ),
            );
            let req = Req::get(HOST, "/open/x").header("x-canned", "tr-empty").header("te", "trailers");
            let resp = send(addr, req.bytes()).await?;
            caller_lacks(&resp, &[VISA])
        })
        .await;

        r.case("trailers: response with a body and a trailer", async {
            upstream.can(
                "tr-body",
                Canned::exact(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n",
                    format!("2\r\n{{}}\r\n0\r\nx-leak: {VISA}\r\n\r\n"),
                ),
            );
            let req = Req::get(HOST, "/open/x").header("x-canned", "tr-body").header("te", "trailers");
            let resp = send(addr, req.bytes()).await?;
            caller_lacks(&resp, &[VISA])
        })
        .await;

        r.case("trailers: request with no body and a trailer", async {
            let raw = format!(
                "POST /open/x HTTP/1.1\r\nhost: {HOST}\r\nx-case: trq-empty\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n0\r\nx-leak: {VISA}\r\n\r\n"
            );
            let _ = send(addr, raw.into_bytes()).await;
            for q in upstream.of_case("trq-empty") {
                ensure!(!q.text().contains(VISA), "callee received: {}", snippet(&q.text()));
            }
            Ok(())
        })
        .await;

        r.case("trailers: request with a body and a trailer", async {
            let raw = format!(
                "POST /open/x HTTP/1.1\r\nhost: {HOST}\r\nx-case: trq-body\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n2\r\n{{}}\r\n0\r\nx-leak: {VISA}\r\n\r\n"
            );
            let _ = send(addr, raw.into_bytes()).await;
            for q in upstream.of_case("trq-body") {
                ensure!(!q.text().contains(VISA), "callee received: {}", snippet(&q.text()));
            }
            Ok(())
        })
        .await;
        r.finish();
    }
}
