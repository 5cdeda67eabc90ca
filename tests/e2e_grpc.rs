//! gRPC message contracts through a real Envoy: a tonic client calls the
//! demo payments service (examples/grpc-demo) through Envoy, chaperone
//! applying each hop's contract to the protobuf messages both ways, unary,
//! server streaming and both ways streaming; checked from the messages the
//! service and the client received. Refusals reach the client as a gRPC status whose message holds
//! the decision id, never what was refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../examples/grpc-demo/service.rs"]
mod service;

use std::time::{Duration, Instant};

use common::*;
use service::pb::payments_client::PaymentsClient;
use service::pb::{ChargeRequest, HistoryRequest};
use tonic::transport::{Channel, Endpoint};

const POLICY: &str = r#"
version: "grpc-e2e.1"
trust_domain: shop.test
descriptors: ["DESCRIPTORS_PATH"]
data_classes:
  card_number: { detect: [pan], action: mask_pan }
  secret: { detect: [jwt, aws_access_key, private_key], action: drop }
  email: { detect: [email], action: hash }
defaults:
  scan: [card_number, secret]
hops:
  - name: charge
    match: { host: payments.shop.test, method: POST, path: /chaperone.demo.v1.Payments/Charge }
    from: [ { anonymous: true } ]
    request:
      body: { message: chaperone.demo.v1.ChargeRequest }
    response:
      body:
        message: chaperone.demo.v1.ChargeReply
        allow: [charge_id, card.number, "items[*].sku", receipt_email]
        fields: { receipt_email: email }
  - name: history
    match: { host: payments.shop.test, method: POST, path: /chaperone.demo.v1.Payments/History }
    from: [ { anonymous: true } ]
    request:
      body: { message: chaperone.demo.v1.HistoryRequest }
    response:
      body: { message: chaperone.demo.v1.HistoryEntry, stream: true, limit: { findings: 8, action: block } }
  - name: batch
    match: { host: payments.shop.test, method: POST, path: /chaperone.demo.v1.Payments/Batch }
    from: [ { anonymous: true } ]
    request:
      body: { message: chaperone.demo.v1.ChargeRequest }
    response:
      body: { message: chaperone.demo.v1.ChargeReply, allow: [charge_id, card.number] }
  - name: strict-batch
    match: { host: strict.shop.test, method: POST, path: /chaperone.demo.v1.Payments/Batch }
    from: [ { anonymous: true } ]
    request:
      body: { message: chaperone.demo.v1.ChargeRequest, allow: [card, amount_cents], unknown: reject }
    response:
      body: { message: chaperone.demo.v1.ChargeReply }
  - name: strict-charge
    match: { host: strict.shop.test, method: POST, path: /chaperone.demo.v1.Payments/Charge }
    from: [ { anonymous: true } ]
    request:
      body: { message: chaperone.demo.v1.ChargeRequest, allow: [card, amount_cents], unknown: reject }
"#;

struct Stack {
    chaperone: Chaperone,
    service: service::Service,
    envoy: Envoy,
    _dir: TempDir,
}

async fn stack() -> Stack {
    let dir = TempDir::new("grpc-e2e");
    let descriptors = dir.path("payments.binpb");
    std::fs::write(&descriptors, service::DESCRIPTORS).unwrap();
    let policy = POLICY.replace("DESCRIPTORS_PATH", descriptors.to_str().unwrap());
    let chaperone = Chaperone::start(&policy).await;
    let service = service::Service::start(local(0)).await.unwrap();
    let vars = std::collections::HashMap::from([
        ("CHAPERONE_GRPC_PORT", chaperone.grpc_port.to_string()),
        ("UPSTREAM_PORT", service.port().to_string()),
    ]);
    // The callee speaks gRPC: HTTP/2 to it, and its trailers (grpc-status,
    // grpc-message) judged like headers.
    let envoy = Envoy::start_patched(edge_config(), &["ENVOY_HTTP_PORT"], vars, |t| {
        let p = t
            .replacen(
                "    - name: upstream\n      type: STATIC\n",
                "    - name: upstream\n      type: STATIC\n      typed_extension_protocol_options:\n        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n          \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n          explicit_http_config: { http2_protocol_options: {} }\n",
                1,
            )
            .replace("request_trailer_mode: SKIP", "request_trailer_mode: SEND")
            .replace("response_trailer_mode: SKIP", "response_trailer_mode: SEND");
        assert!(p.contains("http2_protocol_options: {} }\n      connect_timeout"), "patched");
        p
    })
    .await;
    Stack {
        chaperone,
        service,
        envoy,
        _dir: dir,
    }
}

impl Stack {
    async fn client(&self, host: &str) -> PaymentsClient<Channel> {
        let channel = Endpoint::from_shared(self.envoy.url("ENVOY_HTTP_PORT", ""))
            .unwrap()
            .origin(format!("http://{host}").parse().unwrap())
            .connect()
            .await
            .unwrap();
        PaymentsClient::new(channel)
    }
}

/// The sample request, with a second card in its note and a secret in a label.
fn charge() -> ChargeRequest {
    ChargeRequest {
        note: "backup card 5555555555554444".into(),
        labels: [("aws".to_owned(), "AKIAIOSFODNN7EXAMPLE".to_owned())]
            .into_iter()
            .collect(),
        ..service::sample_charge()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_messages_follow_each_directions_contract() {
    let s = stack().await;
    let mut client = s.client("payments.shop.test").await;
    let reply = client
        .charge(charge())
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", s.chaperone.log()))
        .into_inner();
    // What the service received: scanned, in place, in the wire format.
    let got = s.service.received.lock().unwrap().charges.remove(0);
    let card = got.card.unwrap();
    assert_eq!(card.number, "411111******1111");
    assert_eq!(card.holder, "Alice Example");
    assert!(!got.note.contains("5555555555554444"), "{}", got.note);
    assert!(!got.labels.contains_key("aws"), "{:?}", got.labels);
    assert_eq!(got.amount_cents, 1250);
    assert_eq!(got.memo, b"gift wrap");
    // What the client received: the response contract's allow-list.
    assert_eq!(reply.charge_id, "ch_1");
    let card = reply.card.unwrap();
    assert_eq!(card.number, "411111******1111");
    assert_eq!(card.holder, "", "not on the allow-list");
    assert_eq!(reply.internal_trace, "");
    assert!(
        reply.receipt_email.starts_with("h:"),
        "{}",
        reply.receipt_email
    );
    assert_eq!(reply.items[1].sku, "411111******1111");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_crosses_message_by_message() {
    let s = stack().await;
    let mut client = s.client("payments.shop.test").await;
    let started = Instant::now();
    let mut stream = client
        .history(HistoryRequest {
            account: "acct-1".into(),
            count: 4,
        })
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", s.chaperone.log()))
        .into_inner();
    let mut arrived = Vec::new();
    while let Some(entry) = stream.message().await.unwrap() {
        arrived.push(started.elapsed());
        let card = entry.card.unwrap();
        assert_eq!(card.number, "411111******1111");
        assert_eq!(card.number_digits, 0, "a number holding a card is removed");
        assert_eq!(entry.note, format!("entry {}", arrived.len() - 1));
    }
    assert_eq!(arrived.len(), 4);
    // Each entry crossed as it came: the first well before the last.
    eprintln!("first entry at {:?}, last at {:?}", arrived[0], arrived[3]);
    assert!(
        arrived[0] + 2 * service::HISTORY_INTERVAL <= arrived[3],
        "{arrived:?}"
    );
    assert_eq!(s.service.received.lock().unwrap().histories.len(), 1);

    // Past the stream's findings limit (8: two per entry, the card as text
    // and as a number), the stream ends
    // with an error; the client never sees the entries after it.
    let mut stream = client
        .history(HistoryRequest {
            account: "acct-1".into(),
            count: 8,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0;
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => seen += 1,
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    assert_eq!(seen, 4, "{end:?}");
    assert!(end.is_some(), "the stream is cut, not ended");
}

/// A stream of requests flows too: each message is judged as it comes and
/// reaches the service while the client is still sending (the reply to the
/// first arrives before the second is sent), each reply judged on its way
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stream_crosses_message_by_message_both_ways() {
    let s = stack().await;
    let mut client = s.client("payments.shop.test").await;
    let (send, requests) = tokio::sync::mpsc::channel::<ChargeRequest>(4);
    send.send(charge()).await.unwrap();
    let mut replies = client
        .batch(tokio_stream::wrappers::ReceiverStream::new(requests))
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", s.chaperone.log()))
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), replies.message())
        .await
        .expect("the first reply while the request stream is open")
        .unwrap()
        .unwrap();
    assert_eq!(first.charge_id, "ch_1");
    assert_eq!(first.card.unwrap().number, "411111******1111");
    assert!(first.items.is_empty() && first.internal_trace.is_empty());
    let mut second = charge();
    second.card.as_mut().unwrap().number = "5555 5555 5555 4444".into();
    send.send(second).await.unwrap();
    drop(send);
    let reply = replies.message().await.unwrap().unwrap();
    assert_eq!(reply.card.unwrap().number, "555555******4444");
    assert!(replies.message().await.unwrap().is_none());
    let got = std::mem::take(&mut s.service.received.lock().unwrap().charges);
    assert_eq!(got.len(), 2);
    for (req, last4) in got.iter().zip(["1111", "4444"]) {
        let number = &req.card.as_ref().unwrap().number;
        assert_eq!(number, &format!("{}******{last4}", &number[..6]));
        assert!(!req.note.contains("5555555555554444"), "{}", req.note);
        assert!(!req.labels.contains_key("aws"), "{:?}", req.labels);
    }

    // A message the contract refuses ends the call; the service saw only
    // what came before it.
    let mut client = s.client("strict.shop.test").await;
    let (send, requests) = tokio::sync::mpsc::channel::<ChargeRequest>(4);
    let allowed = ChargeRequest {
        card: charge().card,
        amount_cents: 700,
        ..ChargeRequest::default()
    };
    send.send(allowed).await.unwrap();
    let mut replies = client
        .batch(tokio_stream::wrappers::ReceiverStream::new(requests))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replies.message().await.unwrap().unwrap().charge_id, "ch_1");
    send.send(charge()).await.unwrap();
    let status = match replies.message().await {
        Ok(Some(r)) => panic!("a reply after the refusal: {r:?}"),
        Ok(None) => panic!("the call ends with an error, not cleanly"),
        Err(status) => status,
    };
    assert!(!status.message().contains("4111"), "{status:?}");
    let got = &s.service.received.lock().unwrap().charges;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].amount_cents, 700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_answer_a_grpc_status_with_the_decision_id_only() {
    let s = stack().await;
    let mut client = s.client("strict.shop.test").await;
    let err = client.charge(charge()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let message = err.message();
    assert!(message.contains("decision_id"), "{message}");
    assert!(
        !message.contains("4111") && !message.contains("Alice"),
        "{message}"
    );
    assert!(
        s.service.received.lock().unwrap().charges.is_empty(),
        "the service saw nothing"
    );
    // A host no hop describes: denied, as gRPC.
    let mut client = s.client("nowhere.test").await;
    let err = client.charge(charge()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    let _ = Duration::ZERO;
}

/// A server stream whose last message is refused (the findings
/// limit crossed by it) must not end with `grpc-status: 0`: the client would
/// read a complete, successful stream that silently lacks what was refused.
/// The limit is 8 (two findings per entry): the fifth and last entry is
/// refused, and the trailers follow it directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_refused_at_its_last_message_is_not_ended_ok() {
    let s = stack().await;
    let mut client = s.client("payments.shop.test").await;
    let mut stream = client
        .history(HistoryRequest {
            account: "acct-1".into(),
            count: 5,
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0;
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => seen += 1,
            Ok(None) => break None,
            Err(status) => break Some(status),
        }
    };
    assert_eq!(seen, 4, "{end:?}");
    assert!(
        end.is_some(),
        "the refused stream ended with grpc-status OK: the client took 4 of 5 entries as all\n{}",
        s.chaperone.log()
    );
}
