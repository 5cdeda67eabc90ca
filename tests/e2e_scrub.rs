//! Data contracts through a real Envoy: request bodies toward the callee and
//! response bodies toward the caller are rewritten by chaperone's ext_proc,
//! with length-changing rewrites in both directions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{Value, json};

const POLICY: &str = r#"
version: "scrub.1"
trust_domain: shop.test
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  national_id: { detect: [us_ssn], action: redact }
  email: { detect: [email], action: hash }
  secret: { detect: [jwt, aws_access_key, private_key, bearer_token], action: drop }
defaults:
  scan: [card_number, national_id, secret]
  # The test upstream answers with what these headers say: passed as sent.
  request: { headers: { allow: ["x-demo-*"] } }
hops:
  - name: create-charge
    match: { host: payments.shop.test, method: POST, path: /v1/charges }
    from: [ { anonymous: true } ]
    request:
      body:
        allow: [amount, currency, card_number, order_id]
        unknown: reject
        max_bytes: 2048
    response:
      body:
        allow: [charge_id, status, card_number, receipt_email, "items[*].sku"]
        fields: { card_number: mask_pan_last4, receipt_email: email }
        limit: { findings: 3, action: block }
  - name: list-cards
    match: { host: payments.shop.test, method: GET, path: /v1/cards }
    from: [ { anonymous: true } ]
    request:
      headers: { allow: [cookie] }
    response:
      body:
        limit: { findings: 2, action: alert }
  # Two hops on one route: the first matching hop that admits the caller
  # decides, and ext_proc must apply that hop's contract, not the first one's.
  - name: partner-reads-card
    match: { host: payments.shop.test, method: GET, path: "/v1/cards/{card_id}" }
    from: [ { workloads: ["spiffe://shop.test/ns/partner/sa/api"] } ]
    response:
      body: { allow: [card_id, card_number, holder] }
  - name: public-reads-card
    match: { host: payments.shop.test, method: GET, path: "/v1/cards/{card_id}" }
    from: [ { anonymous: true } ]
    response:
      body: { allow: [card_id] }
  - name: small-answers
    match: { host: small.shop.test, method: GET, path: "/**" }
    from: [ { anonymous: true } ]
    response:
      body: { max_bytes: 64 }
  - name: anything
    match: { host: "*.shop.test", path: "/**" }
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

impl Stack {
    fn req(&self, method: reqwest::Method, host: &str, path: &str) -> reqwest::RequestBuilder {
        http()
            .request(method, self.envoy.url("ENVOY_HTTP_PORT", path))
            .header("host", host)
    }

    /// A GET whose response the upstream fills from `canned`.
    async fn canned(&self, path: &str, canned: &[(&str, &str)]) -> reqwest::Response {
        let mut r = self.req(reqwest::Method::GET, "payments.shop.test", path);
        for (k, v) in canned {
            r = r.header(*k, *v);
        }
        r.send().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ext_proc_applies_the_hop_ext_authz_decided() {
    let s = stack().await;
    // Anonymous: `partner-reads-card` matches first but does not admit;
    // `public-reads-card` does, and its contract is the one applied.
    let resp = s
        .canned(
            "/v1/cards/c-1",
            &[(
                "x-demo-body",
                r#"{"card_id":"c-1","card_number":"4111111111111111","holder":"Ann"}"#,
            )],
        )
        .await;
    assert_eq!(resp.status(), 200, "{}", s.chaperone.log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"card_id":"c-1"}));
    // The signed hop header that carried the decision stopped at ext_proc.
    let seen = s.upstream.take();
    assert!(
        !seen[0].headers.contains_key("x-chaperone-hop"),
        "{:?}",
        seen[0].headers
    );
    // It carried the decision id and the caller's keyed hash too: ext_proc's
    // event names both, as ext_authz's does.
    let events = decision_events(&s.chaperone.log());
    let request_id = seen[0].headers["x-request-id"].as_str();
    let of = |authorization: bool| {
        events
            .iter()
            .find(|e| {
                is_authorization(e) == authorization
                    && e["via"] != "-"
                    && e["request_id"] == request_id
            })
            .unwrap_or_else(|| panic!("no event for {request_id}: {events:?}"))
    };
    let (authz, body_event) = (of(true), of(false));
    assert_eq!(authz["hop"], "public-reads-card");
    assert_eq!(body_event["hop"], "public-reads-card");
    assert_eq!(body_event["decision_id"], authz["decision_id"]);
    assert_eq!(body_event["principal"], authz["principal"]);
    // A client's own hop header is overwritten by ext_authz's.
    let resp = s
        .canned(
            "/v1/cards/c-1",
            &[
                (
                    "x-chaperone-hop",
                    "partner-reads-card.00000000000000000000000000000000",
                ),
                (
                    "x-demo-body",
                    r#"{"card_id":"c-1","card_number":"4111111111111111","holder":"Ann"}"#,
                ),
            ],
        )
        .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"card_id":"c-1"}));
}

/// A rewritten body's framing: chunked, or a content-length that matches.
fn assert_framed(headers: &std::collections::BTreeMap<String, String>, len: usize) {
    match headers.get("content-length") {
        Some(n) => assert_eq!(n, &len.to_string(), "{headers:?}"),
        None => assert_eq!(
            headers.get("transfer-encoding").map(String::as_str),
            Some("chunked"),
            "{headers:?}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_follow_the_callees_contract() {
    let s = stack().await;
    let post = |body: &'static str, ct: &'static str| {
        s.req(reqwest::Method::POST, "payments.shop.test", "/v1/charges")
            .header("content-type", ct)
            .body(body)
            .send()
    };

    // Allowed fields cross; the card number in it is masked by its class;
    // the body got shorter and its framing says so (Envoy sends bodies it
    // passed to chaperone in parts-mode chunked; a length, if any, matches).
    let resp = post(
        r#"{"amount":1250,"currency":"EUR","card_number":"4111 1111 1111 1111","order_id":"o-1"}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200, "{}", s.chaperone.log());
    let seen = s.upstream.take();
    let got: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        got,
        json!({"amount":1250,"currency":"EUR","card_number":"411111******1111","order_id":"o-1"})
    );
    assert_framed(&seen[0].headers, seen[0].body.len());

    // A field the contract does not name: refused with 400, never forwarded.
    let resp = post(
        r#"{"amount":1,"card_number":"x","internal_note":"vip"}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    assert_eq!(body.as_object().unwrap().len(), 2);
    // Not JSON at all, a content type the hop does not pass, too large.
    assert_eq!(
        post(r#"{"amount":"#, "application/json")
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        post("\u{1}\u{2}", "application/octet-stream")
            .await
            .unwrap()
            .status(),
        415
    );
    let big: &'static str =
        Box::leak(format!(r#"{{"order_id":"{}"}}"#, "x".repeat(4096)).into_boxed_str());
    assert_eq!(post(big, "application/json").await.unwrap().status(), 413);
    assert!(
        s.upstream.take().is_empty(),
        "nothing refused reached the callee"
    );

    // Free text scanned on a hop with no allow-list; cookies and internal
    // headers stripped unless the hop allows them.
    let resp = s
        .req(reqwest::Method::POST, "notes.shop.test", "/v1/notes")
        .header("content-type", "text/plain")
        .header("cookie", "session=abc")
        .header("x-internal-route", "db-7")
        .body("ssn 219-09-9999? no: 536-22-1234 and key AKIAIOSFODNN7EXAMPLE")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = s.upstream.take().remove(0);
    assert_eq!(
        seen.body,
        "ssn 219-09-9999? no: [REDACTED:national_id] and key [REDACTED:secret]"
    );
    assert!(!seen.headers.contains_key("cookie") && !seen.headers.contains_key("x-internal-route"));
    let resp = s.canned("/v1/cards", &[("cookie", "session=abc")]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        s.upstream.take()[0].headers["cookie"],
        "session=abc",
        "the hop allows cookies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_bodies_follow_the_callers_contract() {
    let s = stack().await;
    let post_charge = |canned: &'static str| {
        s.req(reqwest::Method::POST, "payments.shop.test", "/v1/charges")
            .header("content-type", "application/json")
            .header("x-demo-body", canned)
            .body(r#"{"amount":1}"#)
            .send()
    };

    // Shorter: internal fields dropped, the card masked.
    let resp = post_charge(r#"{"charge_id":"ch_1","status":"paid","card_number":"5555555555554444","processor_ref":"acq-77","items":[{"sku":"A","cost":3}]}"#)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", s.chaperone.log());
    let headers: std::collections::BTreeMap<String, String> = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let text = resp.text().await.unwrap();
    assert_framed(&headers, text.len());
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"charge_id":"ch_1","status":"paid","card_number":"************4444","items":[{"sku":"A"}]})
    );
    // Longer: a short e-mail becomes a keyed hash.
    let resp = post_charge(r#"{"charge_id":"ch_2","receipt_email":"a@b.co"}"#)
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let hashed = body["receipt_email"].as_str().unwrap();
    assert!(hashed.starts_with("h:") && hashed.len() == 34, "{hashed}");
    // Same value, same token: joins still work.
    let again: Value = post_charge(r#"{"charge_id":"ch_3","receipt_email":"a@b.co"}"#)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["receipt_email"], body["receipt_email"]);

    // Bulk exfiltration on a blocking hop: 502, nothing of it reaches the caller.
    let many = r#"{"charge_id":"x","status":"4111111111111111 5555555555554444 378282246310005 6011111111111117"}"#;
    let resp = post_charge(many).await.unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(
        !body.contains("4111") && body.contains("decision_id"),
        "{body}"
    );
    // ...and on an alerting hop: through (masked), with a metric.
    let resp = s
        .canned(
            "/v1/cards",
            &[(
                "x-demo-body",
                r#"{"cards":["4111111111111111","5555555555554444","378282246310005"]}"#,
            )],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(!resp.text().await.unwrap().contains("4111111111111111"));
    let metrics = s.chaperone.metrics().await;
    assert!(
        metrics.contains(
            r#"chaperone_exfiltration_alerts_total{direction="response",hop="list-cards"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"chaperone_blocked_messages_total{direction="response",hop="create-charge",reason="findings_limit"} 1"#));

    // A 5xx from the callee: its stack trace never reaches the caller.
    let resp = s
        .canned(
            "/v1/orders",
            &[
                ("x-demo-status", "500"),
                ("x-demo-body", "Traceback: psycopg2 at db.internal:5432"),
                ("x-demo-content-type", "text/plain"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "upstream_error");
    // Compressed where chaperone cannot look inside: refused, not passed.
    let resp = s
        .canned(
            "/v1/orders",
            &[("x-demo-content-encoding", "gzip"), ("x-demo-body", "{}")],
        )
        .await;
    assert_eq!(resp.status(), 502);
    // chaperone asked the callee for identity encoding.
    let _ = s
        .req(reqwest::Method::GET, "payments.shop.test", "/v1/orders")
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert!(
        s.upstream
            .take()
            .iter()
            .all(|r| !r.headers.contains_key("accept-encoding"))
    );

    // Findings are counted by class; the log holds counts, never values.
    let metrics = s.chaperone.metrics().await;
    assert!(metrics.contains(r#"chaperone_scrub_findings_total{action="mask_pan",class="card_number",direction="response",hop="list-cards"} 3"#), "{metrics}");
    let log = s.chaperone.log();
    for value in [
        "5555555555554444",
        "4111111111111111",
        "a@b.co",
        "psycopg2",
        "acq-77",
    ] {
        assert!(!log.contains(value), "{value} reached the log");
    }

    // One decision event per judged body, in the same event stream as the
    // request's authorization and joined to it by Envoy's request id.
    let events = decision_events(&log);
    let body = events
        .iter()
        .find(|e| e["hop"] == "list-cards" && e["phase"] == "response_body")
        .unwrap_or_else(|| panic!("no body decision event in {log}"));
    assert_eq!(body["via"], "ext_proc");
    assert_eq!(body["decision"], "change");
    assert_eq!(body["reason"], "findings_limit_alert");
    assert_eq!(body["findings"], "card_number=3");
    assert_eq!(body["findings_total"], 3);
    assert_eq!(body["alert"], true);
    assert_eq!(body["level"], "WARN");
    assert_eq!(body["policy_version"], "scrub.1");
    assert!(body["latency_us"].is_u64());
    assert_eq!(body["request_id"].as_str().unwrap().len(), 36, "{body}");
    let authz = events
        .iter()
        .find(|e| is_authorization(e) && e["request_id"] == body["request_id"])
        .unwrap_or_else(|| panic!("no authorization event for {body}"));
    assert_eq!(authz["decision"], "allow");
    assert_eq!(authz["hop"], "list-cards");
    assert!(
        authz["principal"].as_str().unwrap().starts_with("p_"),
        "{authz}"
    );
    // A refused body is a decision too, with its reason code.
    assert!(
        events.iter().any(|e| e["decision"] == "refuse"
            && e["reason"] == "findings_limit"
            && e["phase"] == "response_body"),
        "{log}"
    );
}

/// Shadow mode: decide and scrub as configured, record what would have been
/// denied or changed, and let every request through unchanged.
/// Envoy's count of messages its ext_proc filter sent chaperone.
const MESSAGES_SENT: &str = "http.edge.ext_proc.stream_msgs_sent";

/// Envoy sends chaperone only the phases whose answers are not fixed in
/// advance: a denial's body is Envoy's own, and a body its length declares
/// over the contract is refused at headers, before Envoy buffers it. Whatever
/// Envoy still sends is judged as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_with_a_fixed_answer_are_not_sent() {
    let s = stack().await;
    let sent = || s.envoy.counter(MESSAGES_SENT);

    // A request no hop describes is denied by its first phase: ext_proc's
    // request headers, or (ext_authz) the denial's headers, whose body
    // Envoy then does not send.
    let before = sent().await;
    let resp = s
        .req(reqwest::Method::GET, "elsewhere.test", "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(sent().await - before, 1, "{}", s.chaperone.log());

    // A request body declared over the hop's 2048 bytes: 413 at headers.
    let before = sent().await;
    let big = json!({"amount": 1, "currency": "EUR", "order_id": "o".repeat(4096)});
    let resp = s
        .req(reqwest::Method::POST, "payments.shop.test", "/v1/charges")
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let text = resp.text().await.unwrap();
    assert!(!text.contains("ooooo"), "{text}");
    assert_eq!(sent().await - before, 1);
    assert!(s.upstream.take().is_empty(), "the callee saw nothing");

    // A response body declared over the hop's 64 bytes: 502 at response
    // headers, the callee's body never sent to chaperone.
    let long = format!(r#"{{"note":"{}"}}"#, "n".repeat(200));
    let before = sent().await;
    let resp = s
        .req(reqwest::Method::GET, "small.shop.test", "/report")
        .header("x-demo-body", &long)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert!(!resp.text().await.unwrap().contains("nnnnn"));
    assert_eq!(sent().await - before, 2, "request and response headers");
    let events = decision_events(&s.chaperone.log());
    assert!(
        events.iter().any(|e| e["hop"] == "small-answers"
            && e["phase"] == "response_body"
            && e["reason"] == "too_large"),
        "{events:?}"
    );

    // The same length under a body that never comes (HEAD) passes.
    let resp = s
        .req(reqwest::Method::HEAD, "small.shop.test", "/report")
        .header("x-demo-body", &long)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", s.chaperone.log());

    // A body within the limit is still judged whole: three messages.
    let before = sent().await;
    let resp = s
        .req(reqwest::Method::GET, "small.shop.test", "/report")
        .header("x-demo-body", r#"{"n":"4111111111111111"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("1111") && !text.contains("4111111111111111"),
        "{text}"
    );
    assert_eq!(sent().await - before, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_records_and_changes_nothing() {
    let policy = r#"
version: "shadow.1"
trust_domain: shop.test
mode: shadow
hops:
  - name: strict
    match: { host: payments.shop.test, path: "/**" }
    from:
      - workloads: [spiffe://shop.test/ns/shop/sa/checkout]
    response:
      body: { allow: [id] }
"#;
    let chaperone = Chaperone::start(policy).await;
    let (upstream, envoy) = edge(&chaperone).await;
    let canned = r#"{"id":"x","card":"4111111111111111","internal":1}"#;
    let resp = http()
        .get(envoy.url("ENVOY_HTTP_PORT", "/v1/anything"))
        .header("host", "payments.shop.test")
        .header("authorization", "Bearer opaque-upstream-credential")
        .header("x-demo-body", canned)
        .header("x-chaperone-decision-id", "forged")
        .send()
        .await
        .unwrap();
    // Enforcing, this would be a 403 (no workload identity); in shadow it passes...
    assert_eq!(resp.status(), 200, "{}", chaperone.log());
    // ...with the response body exactly as the callee sent it...
    assert_eq!(resp.text().await.unwrap(), canned);
    // ...and the request as the caller sent it: no header removed or added.
    let seen = upstream.take().remove(0);
    assert_eq!(
        seen.headers["authorization"],
        "Bearer opaque-upstream-credential"
    );
    assert!(!seen.headers.contains_key("txn-token"));
    // Only what a client sent in chaperone's name is removed, even in shadow.
    assert!(!seen.headers.contains_key("x-chaperone-decision-id"));
    // An undescribed host passes too, and Envoy sends nothing of it after
    // its request headers: every answer would be "unchanged".
    let before = envoy.counter(MESSAGES_SENT).await;
    let resp = http()
        .get(envoy.url("ENVOY_HTTP_PORT", "/x"))
        .header("host", "other.test")
        .header("x-demo-body", canned)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), canned);
    assert_eq!(envoy.counter(MESSAGES_SENT).await - before, 1);
    let metrics = chaperone.metrics().await;
    assert!(metrics.contains(r#"chaperone_shadow_events_total{hop="strict",outcome="deny",reason="workload_missing"} 1"#), "{metrics}");
    assert!(metrics.contains(
        r#"chaperone_shadow_events_total{hop="strict",outcome="change",reason="response"} 1"#
    ));
    assert!(metrics.contains(r#"outcome="deny",reason="no_hop_matched""#));
    assert!(chaperone.log().contains("\"shadow\":true"));
}
