//! Traces through a real Envoy: chaperone exports OTLP spans for every Check
//! and every ext_proc phase to a collector, in the trace the request carried,
//! and its decision events as OTLP log records (`--otlp-logs`); no span or
//! record ever holds a credential, a path value or a classified value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chaperone::proto::opentelemetry::proto::common::v1::any_value::Value as Attr;
use chaperone::proto::opentelemetry::proto::logs::v1::LogRecord;
use chaperone::proto::opentelemetry::proto::trace::v1::{Span, span::SpanKind};
use common::otlp::Collector;
use common::*;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};

const CARD: &str = "4111 1111 1111 1111";
const SSN: &str = "219-09-9998";
const API_KEY: &str = "canary-api-key-5b1e0c77";
const ORDER: &str = "o-canary-93121";

fn attr(span: &Span, key: &str) -> Option<Attr> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.clone())
}

fn text(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(Attr::StringValue(s)) => s,
        other => panic!("{key}: {other:?} in {span:?}"),
    }
}

fn int(span: &Span, key: &str) -> i64 {
    match attr(span, key) {
        Some(Attr::IntValue(n)) => n,
        other => panic!("{key}: {other:?} in {span:?}"),
    }
}

fn named<'s>(spans: &'s [Span], name: &str) -> &'s Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"))
}

/// A CheckRequest for `method host path` with one request header.
fn check_request(method: &str, path: &str, header: (&str, String)) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    host: "payments.shop.test".into(),
                    path: path.into(),
                    headers: [(header.0.to_owned(), header.1)].into(),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn policy(idp: &Idp) -> String {
    format!(
        r#"
version: "trace.1"
trust_domain: shop.test
issuers:
  - name: idp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ url: "{jwks}" }}
defaults:
  # The test upstream answers with what these headers say: passed as sent.
  request: {{ headers: {{ allow: ["x-demo-*"] }} }}
hops:
  - name: create-charge
    match: {{ host: payments.shop.test, method: POST, path: "/v1/orders/{{order_id}}/charges" }}
    from:
      - users: {{ issuer: idp }}
    request:
      body:
        allow: [amount, card_number]
"#,
        jwks = idp.jwks_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_follow_the_request_trace_and_hold_no_values() {
    let (collector, otlp_port, _collector_task) = Collector::start().await;
    let idp = Idp::start().await;
    let endpoint = format!("http://127.0.0.1:{otlp_port}");
    // Decision events go to the same collector as log records.
    let chaperone = Chaperone::start_with(
        &policy(&idp),
        &["--otlp-endpoint", &endpoint, "--otlp-logs"],
    )
    .await;
    let (_upstream, envoy) = edge(&chaperone).await;
    let token = idp.token("alice", "payments", serde_json::json!({}));
    let url = envoy.url("ENVOY_HTTP_PORT", &format!("/v1/orders/{ORDER}/charges"));
    let post = |traceparent: Option<&str>, auth: bool| {
        let mut r = http()
            .post(&url)
            .header("host", "payments.shop.test")
            .header("content-type", "application/json")
            .header("x-api-key", API_KEY)
            // The upstream answers with this body: the response leg scans it.
            .header(
                "x-demo-body",
                format!(r#"{{"charge":"c-1","ssn":"{SSN}"}}"#),
            )
            .body(format!(r#"{{"amount":1250,"card_number":"{CARD}"}}"#));
        if let Some(tp) = traceparent {
            r = r.header("traceparent", tp);
        }
        if auth {
            r = r.bearer_auth(&token);
        }
        r.send()
    };

    // The span that carries the decision: the Check's, or with ext_proc
    // only the stream's, which decides at request headers.
    let decision_span = if ext_proc_only() {
        "chaperone.process"
    } else {
        "chaperone.check"
    };

    // An allowed request in a sampled trace.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let resp = post(Some(&format!("00-{trace}-{parent}-01")), true)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", chaperone.log());
    let body = resp.text().await.unwrap();
    assert!(!body.contains(SSN), "{body}");
    let trace_id = (0..16)
        .map(|i| u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<_>>();
    assert_eventually!(
        {
            let spans = collector.in_trace(&trace_id);
            [
                decision_span,
                "chaperone.process.response_body",
                "chaperone.process",
            ]
            .iter()
            .all(|n| spans.iter().any(|s| s.name == *n))
        },
        "the allowed request's spans"
    );
    let spans = collector.in_trace(&trace_id);

    // Check: a server span under the request's traceparent, with the decision.
    let check = named(&spans, decision_span);
    assert_eq!(hex(&check.parent_span_id), parent);
    assert_eq!(check.kind, SpanKind::Server as i32);
    assert_eq!(text(check, "chaperone.decision"), "allow");
    assert_eq!(text(check, "chaperone.hop"), "create-charge");
    assert_eq!(text(check, "chaperone.policy_version"), "trace.1");
    let decision_id = text(check, "chaperone.decision_id");
    assert_eq!(decision_id.len(), 32);
    assert!(check.end_time_unix_nano >= check.start_time_unix_nano);

    // ext_proc: one span for the stream, under the same parent, and one per
    // phase under it, naming the same hop (found again by its route, so
    // under a decision id of its own).
    let process = named(&spans, "chaperone.process");
    assert_eq!(hex(&process.parent_span_id), parent);
    assert_eq!(text(process, "chaperone.hop"), "create-charge");
    assert_eq!(text(process, "chaperone.decision_id").len(), 32);
    assert_eq!(int(process, "chaperone.findings"), 2);
    for phase in [
        "request_headers",
        "request_body",
        "response_headers",
        "response_body",
    ] {
        let span = named(&spans, &format!("chaperone.process.{phase}"));
        assert_eq!(span.parent_span_id, process.span_id, "{phase}");
        assert_eq!(text(span, "chaperone.hop"), "create-charge");
        assert_eq!(
            text(span, "chaperone.decision_id"),
            text(process, "chaperone.decision_id")
        );
    }
    let request_body = named(&spans, "chaperone.process.request_body");
    assert_eq!(text(request_body, "chaperone.outcome"), "changed");
    assert_eq!(int(request_body, "chaperone.findings.card_number"), 1);
    let response_body = named(&spans, "chaperone.process.response_body");
    assert_eq!(text(response_body, "chaperone.outcome"), "changed");
    assert_eq!(int(response_body, "chaperone.findings.national_id"), 1);

    // A denied request: the reason code and the status, in its own trace.
    let denied = "0af7651916cd43dd8448eb211c80319c";
    let resp = post(Some(&format!("00-{denied}-b7ad6b7169203331-01")), false)
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let denied_id = (0..16)
        .map(|i| u8::from_str_radix(&denied[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<_>>();
    assert_eventually!(
        collector
            .in_trace(&denied_id)
            .iter()
            .any(|s| s.name == decision_span),
        "the denied request's check span"
    );
    let spans = collector.in_trace(&denied_id);
    let check = named(&spans, decision_span);
    assert_eq!(text(check, "chaperone.decision"), "deny");
    assert_eq!(text(check, "chaperone.reason"), "credentials_missing");
    assert_eq!(int(check, "http.response.status_code"), 401);

    // Envoy's own gRPC call context wins over the request's, when Envoy traces.
    let call_trace = "11112222333344445555666677778888";
    let mut client =
        AuthorizationClient::connect(format!("http://127.0.0.1:{}", chaperone.grpc_port))
            .await
            .unwrap();
    let mut req = tonic::Request::new(check_request(
        "GET",
        "/nowhere",
        ("traceparent", format!("00-{trace}-{parent}-01")),
    ));
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{call_trace}-a1a2a3a4a5a6a7a8-01")
            .parse()
            .unwrap(),
    );
    client.check(req).await.unwrap();
    let call_id = (0..16)
        .map(|i| u8::from_str_radix(&call_trace[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<_>>();
    assert_eventually!(
        !collector.in_trace(&call_id).is_empty(),
        "the direct call's span"
    );
    let spans = collector.in_trace(&call_id);
    assert_eq!(
        hex(&named(&spans, "chaperone.check").parent_span_id),
        "a1a2a3a4a5a6a7a8"
    );
    assert_eq!(text(&spans[0], "chaperone.reason"), "no_hop_matched");

    // A trace its caller did not sample is not recorded; a request with no
    // trace context starts a new, sampled trace (the default ratio is 1).
    let unsampled = "99999999999999999999999999999999";
    let resp = post(Some(&format!("00-{unsampled}-1111111111111111-00")), true)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = post(None, true).await.unwrap();
    assert_eq!(resp.status(), 200);
    let known = [trace_id.clone(), denied_id.clone(), call_id.clone()];
    let fresh_check = |spans: &[Span]| {
        spans
            .iter()
            .find(|s| {
                s.name == decision_span
                    && !known.contains(&s.trace_id)
                    && attr(s, "chaperone.decision") == Some(Attr::StringValue("allow".into()))
            })
            .cloned()
    };
    assert_eventually!(
        fresh_check(&collector.spans()).is_some(),
        "the new trace's check span"
    );
    let check = fresh_check(&collector.spans()).unwrap();
    assert!(check.parent_span_id.is_empty(), "{check:?}");
    let unsampled_id = vec![0x99u8; 16];
    assert!(collector.in_trace(&unsampled_id).is_empty());

    // The decision events left as log records: the allowed request's
    // decision, by its id, with its hop and codes.
    let attr_of = |r: &LogRecord, key: &str| {
        r.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eventually!(
        collector
            .log_records()
            .iter()
            .any(|r| { attr_of(r, "decision_id") == Some(Attr::StringValue(decision_id.clone())) }),
        "the allowed request's decision event"
    );
    let records = collector.log_records();
    let allowed = records
        .iter()
        .find(|r| attr_of(r, "decision_id") == Some(Attr::StringValue(decision_id.clone())))
        .unwrap();
    assert_eq!(allowed.event_name, "chaperone.decision");
    assert_eq!(allowed.severity_text, "INFO");
    assert_eq!(
        attr_of(allowed, "decision"),
        Some(Attr::StringValue("allow".into()))
    );
    assert_eq!(
        attr_of(allowed, "hop"),
        Some(Attr::StringValue("create-charge".into()))
    );
    assert!(
        records
            .iter()
            .any(|r| attr_of(r, "decision") == Some(Attr::StringValue("deny".into()))),
        "the denied request's decision event"
    );

    // Nothing the caller sent, and nothing the callee answered, is in a span
    // or a log record.
    let sent = collector.bytes();
    let exported = String::from_utf8_lossy(&sent);
    for canary in [
        CARD,
        "4111111111111111",
        SSN,
        API_KEY,
        ORDER,
        token.as_str(),
        &token[token.len() - 20..],
        "alice",
    ] {
        assert!(!exported.contains(canary), "{canary} reached a span");
    }
    // What the exporter did is in the metrics.
    let metrics = chaperone.metrics().await;
    let exported_total = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chaperone_trace_spans_exported_total "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(exported_total >= 12, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_costs_spans_not_requests() {
    // A collector port nobody listens on: requests are decided as usual and
    // the spans are counted as dropped.
    let idp = Idp::start().await;
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let chaperone = Chaperone::start_with(
        &policy(&idp),
        &["--otlp-endpoint", &endpoint, "--otlp-logs"],
    )
    .await;
    let token = idp.token("alice", "payments", serde_json::json!({}));
    let mut client =
        AuthorizationClient::connect(format!("http://127.0.0.1:{}", chaperone.grpc_port))
            .await
            .unwrap();
    for _ in 0..5 {
        let req = check_request(
            "POST",
            "/v1/orders/o-1/charges",
            ("authorization", format!("Bearer {token}")),
        );
        let resp = client.check(req).await.unwrap().into_inner();
        assert_eq!(resp.status.unwrap().code, 0, "{}", chaperone.log());
    }
    assert_eventually!(
        chaperone
            .metrics()
            .await
            .contains(r#"chaperone_trace_spans_dropped_total{reason="export_failed"} 5"#),
        "dropped spans counted"
    );
    assert_eventually!(
        chaperone
            .metrics()
            .await
            .contains(r#"chaperone_decision_logs_dropped_total{reason="export_failed"} 5"#),
        "dropped decision events counted"
    );
    let log = chaperone.log();
    assert_eq!(log.matches("trace export failed").count(), 1, "{log}");
    assert_eq!(
        log.matches("decision log export failed").count(),
        1,
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_raise_the_sample_rate() {
    // Ratio 0: only Envoy's own trace context is recorded. A `traceparent` the
    // client put on the request is followed only at the ratio.
    let (collector, otlp_port, _task) = Collector::start().await;
    let idp = Idp::start().await;
    let endpoint = format!("http://127.0.0.1:{otlp_port}");
    let chaperone = Chaperone::start_with(
        &policy(&idp),
        &["--otlp-endpoint", &endpoint, "--trace-sample-ratio", "0"],
    )
    .await;
    let mut client =
        AuthorizationClient::connect(format!("http://127.0.0.1:{}", chaperone.grpc_port))
            .await
            .unwrap();
    let check = |traceparent: &str| {
        check_request("GET", "/nowhere", ("traceparent", traceparent.to_owned()))
    };
    let from_client = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1111111111111111-01";
    client.check(check(from_client)).await.unwrap();
    let mut req = tonic::Request::new(check(from_client));
    req.metadata_mut().insert(
        "traceparent",
        "00-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-2222222222222222-01"
            .parse()
            .unwrap(),
    );
    client.check(req).await.unwrap();
    assert_eventually!(
        collector.in_trace(&[0xbb; 16]).len() == 1,
        "Envoy's trace recorded"
    );
    assert!(collector.in_trace(&[0xaa; 16]).is_empty());
    assert_eq!(collector.spans().len(), 1, "{:#?}", collector.spans());
}
