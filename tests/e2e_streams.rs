//! Bodies that flow, through a real Envoy: server-sent events and NDJSON on a
//! hop with `stream: true` cross as they come, each event or line judged
//! whole when complete; the findings limit counts across the stream, and a
//! stream that crosses it ends with an error event the client recognises.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;

const POLICY: &str = r#"
version: "streams.1"
trust_domain: shop.test
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  secret: { detect: [jwt, aws_access_key, private_key], action: drop }
defaults:
  scan: [card_number, secret]
  request: { headers: { allow: ["x-demo-*"] } }
hops:
  - name: live-events
    match: { host: events.shop.test, method: GET, path: "/**" }
    from: [ { anonymous: true } ]
    response:
      body: { stream: true }
  - name: capped-events
    match: { host: capped.shop.test, method: GET, path: "/**" }
    from: [ { anonymous: true } ]
    response:
      body: { stream: true, limit: { findings: 2, action: block } }
  - name: export
    match: { host: export.shop.test, method: GET, path: "/**" }
    from: [ { anonymous: true } ]
    response:
      body: { stream: true, allow: [n], unknown: drop, max_bytes: 256 }
  - name: array-export
    match: { host: array.shop.test, method: GET, path: "/**" }
    from: [ { anonymous: true } ]
    response:
      body: { stream: true, allow: ["[*].n", "data[*].n", total], unknown: drop, max_bytes: 256 }
  - name: upload
    match: { host: upload.shop.test, method: POST, path: "/**" }
    from: [ { anonymous: true } ]
    request:
      body: { stream: true, allow: [n, card], unknown: drop, max_bytes: 2048 }
  - name: capped-upload
    match: { host: capped-upload.shop.test, method: POST, path: "/**" }
    from: [ { anonymous: true } ]
    request:
      body: { stream: true, limit: { findings: 2, action: block } }
  - name: capped-upload-whole
    match: { host: capped-upload-whole.shop.test, method: POST, path: "/**" }
    from: [ { anonymous: true } ]
    request:
      body: { limit: { findings: 2, action: block } }
  - name: upload-whole
    match: { host: upload-whole.shop.test, method: POST, path: "/**" }
    from: [ { anonymous: true } ]
    request:
      body: { allow: [n, card], unknown: drop, max_bytes: 2048 }
  - name: buffered-events
    match: { host: buffered.shop.test, method: GET, path: "/**" }
    from: [ { anonymous: true } ]
"#;

struct Stack {
    chaperone: Chaperone,
    upstream: Server,
    envoy: Envoy,
}

async fn stack() -> Stack {
    let chaperone = Chaperone::start(POLICY).await;
    let (upstream, envoy) = edge(&chaperone).await;
    Stack {
        chaperone,
        upstream,
        envoy,
    }
}

/// What a client received of a response, part by part, with when each part
/// arrived; and whether the response ended cleanly.
struct Received {
    parts: Vec<(Duration, Vec<u8>)>,
    clean_end: bool,
    total: Duration,
}

impl Received {
    fn text(&self) -> String {
        String::from_utf8(self.parts.iter().flat_map(|(_, p)| p.clone()).collect()).unwrap()
    }
}

impl Stack {
    async fn get(&self, host: &str, headers: &[(&str, &str)]) -> (u16, Received) {
        get(&self.envoy, host, headers).await
    }
}

async fn get(envoy: &Envoy, host: &str, headers: &[(&str, &str)]) -> (u16, Received) {
    let mut req = http()
        .get(envoy.url("ENVOY_HTTP_PORT", "/feed"))
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let started = Instant::now();
    let mut resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let mut parts = Vec::new();
    let clean_end = loop {
        match resp.chunk().await {
            Ok(Some(c)) => parts.push((started.elapsed(), c.to_vec())),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    (
        status,
        Received {
            parts,
            clean_end,
            total: started.elapsed(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_cross_scrubbed_as_they_come() {
    let s = stack().await;
    let events = [
        ("x-demo-stream", "sse"),
        ("x-demo-count", "5"),
        ("x-demo-interval-ms", "300"),
    ];
    let (status, got) = s.get("events.shop.test", &events).await;
    assert_eq!(status, 200, "{}", s.chaperone.log());
    assert!(got.clean_end);
    let text = got.text();
    assert_eq!(text.matches("data: ").count(), 5, "{text}");
    assert!(!text.contains("4111 1111 1111 1111"), "{text}");
    assert!(text.contains("1111"), "masked, last digits kept: {text}");
    // The first event arrives while the callee is still sending: 4 more
    // events, 1.2 s, follow it.
    let first = got.parts[0].0;
    eprintln!(
        "time to first event: {} ms, stream: {} ms",
        first.as_millis(),
        got.total.as_millis()
    );
    assert!(
        first + Duration::from_millis(900) < got.total,
        "first event at {first:?}, stream ended at {:?}",
        got.total
    );
    assert!(
        got.parts.len() >= 4,
        "events came one by one: {}",
        got.parts.len()
    );

    // On a hop without `stream: true` the same events are judged whole:
    // nothing arrives before the callee is done.
    let (status, whole) = s.get("buffered.shop.test", &events).await;
    assert_eq!(status, 200);
    assert!(whole.parts[0].0 + Duration::from_millis(200) >= whole.total);
    assert!(!whole.text().contains("4111 1111 1111 1111"));
    assert_eq!(whole.text().matches("data: ").count(), 5);
    assert_eq!(s.upstream.take().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_past_its_findings_limit_ends_with_an_error_event() {
    let s = stack().await;
    let (status, got) = s
        .get(
            "capped.shop.test",
            &[
                ("x-demo-stream", "sse"),
                ("x-demo-count", "6"),
                ("x-demo-interval-ms", "150"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let text = got.text();
    // Two events within the limit, then the error event, and nothing after.
    assert_eq!(text.matches("data: {\"n\"").count(), 2, "{text}");
    assert!(!text.contains("4111 1111 1111 1111"), "{text}");
    let (before, error) = text.split_once("event: error\ndata: ").expect(&text);
    assert!(!before.contains("error"));
    let error: serde_json::Value =
        serde_json::from_str(error.trim_end()).unwrap_or_else(|e| panic!("{e}: {error}"));
    assert_eq!(error["error"], "bad_gateway", "{error}");
    let id = error["decision_id"].as_str().unwrap();
    let events = decision_events(&s.chaperone.log());
    assert!(
        events.iter().any(|e| e["decision_id"] == id
            && e["phase"] == "response_body"
            && e["reason"] == "findings_limit"),
        "{events:?}"
    );
    // The callee's later events never cross: at the next part after the
    // error event, Envoy ends the response (its access log line, the only
    // one, says so, and when: before the callee was done).
    let logged = s.envoy.access_log();
    let line: serde_json::Value = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .next_back()
        .unwrap_or_else(|| panic!("{logged}"));
    assert_eq!(line["details"], "chaperone_stream_cut", "{line}");
    assert!(line["duration_ms"].as_u64().unwrap() < 6 * 150, "{line}");
    assert!(!got.clean_end, "the response is cut, not ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_lines_follow_the_json_contract_each() {
    let s = stack().await;
    let (status, got) = s
        .get(
            "export.shop.test",
            &[
                ("x-demo-stream", "ndjson"),
                ("x-demo-count", "200"),
                (
                    "x-demo-piece",
                    r#"{"n":{n},"card":"4111111111111111","internal":"x"}"#,
                ),
            ],
        )
        .await;
    assert_eq!(status, 200, "{}", s.chaperone.log());
    assert!(got.clean_end);
    let text = got.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 200);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!(r#"{{"n":{i}}}"#));
    }
    // Each line is bounded (max_bytes: 256), not the stream: a line over it
    // ends the stream with an error line.
    let long = format!(r#"{{"n":{{n}},"pad":"{}"}}"#, "p".repeat(300));
    let (status, got) = s
        .get(
            "export.shop.test",
            &[
                ("x-demo-stream", "ndjson"),
                ("x-demo-count", "3"),
                ("x-demo-piece", &long),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let text = got.text();
    assert!(!text.contains("ppp"), "{text}");
    let error: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(error["error"], "bad_gateway");
}

/// A JSON array flows element by element: each judged as the whole
/// document's contract would judge it there, the first before the callee is
/// done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_crosses_element_by_element() {
    let s = stack().await;
    let (status, got) = s
        .get(
            "array.shop.test",
            &[
                ("x-demo-stream", "json"),
                ("x-demo-count", "6"),
                ("x-demo-interval-ms", "150"),
                ("x-demo-piece", r#"{"n":{n},"card":"4111111111111111"}"#),
            ],
        )
        .await;
    assert_eq!(status, 200, "{}", s.chaperone.log());
    assert!(got.clean_end);
    let doc: serde_json::Value = serde_json::from_str(&got.text()).unwrap();
    let expected: Vec<serde_json::Value> = (0..6).map(|n| serde_json::json!({ "n": n })).collect();
    assert_eq!(doc, serde_json::Value::Array(expected));
    assert!(
        got.parts[0].0 + Duration::from_millis(450) < got.total,
        "elements came as they were sent: first at {:?}, end at {:?}",
        got.parts[0].0,
        got.total
    );
}

/// A JSON document refused as it flows cannot end with an error piece: it is
/// reset, never ended as if it were whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_document_refused_as_it_flows_is_reset() {
    let s = stack().await;
    let (status, got) = s
        .get(
            "array.shop.test",
            &[
                ("x-demo-stream", "json"),
                ("x-demo-count", "4"),
                ("x-demo-interval-ms", "100"),
                ("x-demo-piece", r#"{"n":{n}}"#),
            ],
        )
        .await;
    assert_eq!(status, 200, "{}", s.chaperone.log());
    assert!(got.clean_end, "a valid document ends cleanly");
    let (status, got) = s
        .get(
            "array.shop.test",
            &[
                ("x-demo-stream", "json"),
                ("x-demo-count", "4"),
                ("x-demo-interval-ms", "100"),
                ("x-demo-piece", r#"{"n":{n},}"#),
            ],
        )
        .await;
    assert_eq!(status, 200, "{}", s.chaperone.log());
    assert!(!got.clean_end, "reset: {:?}", got.text());
    assert!(serde_json::from_str::<serde_json::Value>(&got.text()).is_err());
}

/// A JSON object flows too: the records of an array inside it cross as
/// they come, each judged where it stands, and the members after it follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_inside_an_object_crosses_record_by_record() {
    let s = stack().await;
    let (status, got) = s
        .get(
            "array.shop.test",
            &[
                ("x-demo-stream", "object"),
                ("x-demo-count", "6"),
                ("x-demo-interval-ms", "150"),
                (
                    "x-demo-piece",
                    r#"{"n":{n},"card":"4111111111111111","note":"5555 5555 5555 4444"}"#,
                ),
            ],
        )
        .await;
    assert_eq!(status, 200, "{}", s.chaperone.log());
    assert!(got.clean_end);
    let doc: serde_json::Value = serde_json::from_str(&got.text()).unwrap();
    let records: Vec<serde_json::Value> = (0..6).map(|n| serde_json::json!({ "n": n })).collect();
    assert_eq!(doc, serde_json::json!({ "data": records, "total": 6 }));
    assert!(
        got.parts[0].0 + Duration::from_millis(450) < got.total,
        "records came as they were sent: first at {:?}, end at {:?}",
        got.parts[0].0,
        got.total
    );
}

/// A request body flows too: a 12 MB NDJSON upload, larger than Envoy's
/// buffer and than the hop's `max_bytes`, crosses line by line under the
/// contract; on a hop that judges bodies whole it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ndjson_upload_crosses_line_by_line() {
    let s = stack().await;
    let note = "x".repeat(960);
    let lines = 12_000;
    let body: String = (0..lines)
        .map(|n| format!("{{\"n\":{n},\"card\":\"4111 1111 1111 1111\",\"note\":\"{note}\"}}\n"))
        .collect();
    assert!(body.len() > 12_000_000);
    let send = |host: &'static str| {
        http()
            .post(s.envoy.url("ENVOY_HTTP_PORT", "/v1/import"))
            .header("host", host)
            .header("content-type", "application/x-ndjson")
            .header("x-demo-body", r#"{"ok":true}"#)
            .body(body.clone())
            .send()
    };
    let resp = send("upload.shop.test").await.unwrap();
    assert_eq!(resp.status(), 200, "{}", s.chaperone.log());
    let got = s.upstream.take();
    assert_eq!(got.len(), 1);
    let received = &got[0].body;
    assert!(!received.contains("4111 1111 1111 1111"));
    let mut seen = 0;
    for (n, line) in received.lines().enumerate() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({ "n": n, "card": "411111******1111" })
        );
        seen += 1;
    }
    assert_eq!(seen, lines);
    let resp = send("upload-whole.shop.test").await.unwrap();
    assert_eq!(resp.status(), 413);
    assert!(s.upstream.take().is_empty());
}

/// An Envoy whose filter sends bodies before chaperone answers the headers
/// ignores chaperone's override: a stream larger than its buffer then arrives
/// in part, and Envoy would send the rest on unasked. chaperone reads how the
/// filter sends bodies from Envoy's first message and judges such a body
/// whole, refusing what does not fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_that_cannot_stream_gets_whole_bodies_judged() {
    let chaperone = Chaperone::start(POLICY).await;
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let envoy = Envoy::start_patched(
        edge_config(),
        &["ENVOY_HTTP_PORT"],
        edge_vars(&chaperone, &upstream),
        |t| {
            let p = t
                .replace(
                    "per_connection_buffer_limit_bytes: 9437184",
                    "per_connection_buffer_limit_bytes: 65536",
                )
                .replacen(
                    "allow_mode_override: true\n",
                    "allow_mode_override: true\n                      send_body_without_waiting_for_header_response: true\n",
                    1,
                );
            assert_ne!(p, t);
            p
        },
    )
    .await;
    let s = Stack {
        chaperone,
        upstream,
        envoy,
    };
    // About 400 KB of events, each with a card number: far past the buffer.
    let (status, got) = s
        .get(
            "events.shop.test",
            &[("x-demo-stream", "sse"), ("x-demo-count", "8000")],
        )
        .await;
    let text = got.text();
    assert!(!text.contains("4111 1111 1111 1111"), "{status}");
    assert_eq!(status, 502, "{}", &text[..text.len().min(300)]);
}

/// A body Envoy buffers whole but larger than any contract's bound (between
/// 8 MiB and Envoy's 9 MiB buffer) reaches chaperone and is refused by the
/// contract; one larger than chaperone reads at all (an Envoy with a larger
/// buffer) ends the stream with an error, which Envoy answers by refusing.
/// Neither crosses unjudged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_too_large_to_judge_never_cross() {
    let s = stack().await;
    let piece = format!(
        r#"{{"n":{{n}},"card":"4111 1111 1111 1111","pad":"{}"}}"#,
        "p".repeat(960)
    );
    let big = [
        ("x-demo-stream", "ndjson"),
        ("x-demo-count", "8500"),
        ("x-demo-piece", piece.as_str()),
    ];
    let (status, got) = s.get("buffered.shop.test", &big).await;
    assert!(!got.text().contains("4111 1111 1111 1111"));
    assert_eq!(status, 502, "{}", s.chaperone.log());

    let wide = Envoy::start_patched(
        edge_config(),
        &["ENVOY_HTTP_PORT"],
        edge_vars(&s.chaperone, &s.upstream),
        |t| {
            t.replace(
                "per_connection_buffer_limit_bytes: 9437184",
                "per_connection_buffer_limit_bytes: 33554432",
            )
        },
    )
    .await;
    let huge = [
        ("x-demo-stream", "ndjson"),
        ("x-demo-count", "20000"),
        ("x-demo-piece", piece.as_str()),
    ];
    let (status, got) = get(&wide, "buffered.shop.test", &huge).await;
    assert!(!got.text().contains("4111 1111 1111 1111"), "{status}");
    assert_ne!(status, 200);
}

/// Findings in a message's URL and headers count toward its
/// body's `limit` (docs/scrubbing.md); a body that flows must not start its
/// count at zero. Two card numbers in the query (within the limit of 2 on
/// their own) and one in the body: the whole body is refused (3 > 2), and
/// so must the flowing one be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_findings_count_toward_a_flowing_bodys_limit() {
    let s = stack().await;
    let body = "{\"n\":1,\"card\":\"4111 1111 1111 1111\"}\n";
    let send = |host: &'static str| {
        http()
            .post(s.envoy.url(
                "ENVOY_HTTP_PORT",
                "/v1/import?a=4111111111111111&b=5555555555554444",
            ))
            .header("host", host)
            .header("content-type", "application/x-ndjson")
            .header("x-demo-body", r#"{"ok":true}"#)
            .body(body)
            .send()
    };
    let whole = send("capped-upload-whole.shop.test").await.unwrap();
    assert_eq!(whole.status(), 403, "{}", s.chaperone.log());
    assert!(s.upstream.take().is_empty());
    let flowing = send("capped-upload.shop.test").await.unwrap();
    let status = flowing.status();
    let got = s.upstream.take();
    assert!(
        status != 200 && got.is_empty(),
        "3 findings (2 in the URL, 1 in the body) crossed a limit of 2 when the body flows: {status} {:?}",
        got.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
    );
}
