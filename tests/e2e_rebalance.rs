//! Connections rebalance, so that a replica added later gets its share of a
//! long-lived Envoy's calls: the Envoy ends its connection to chaperone after
//! a while (its cluster's `max_connection_duration`, in the shipped configs),
//! or chaperone, past `--max-connection-age`, sends it an HTTP/2 GOAWAY.
//!
//! - Through a real Envoy (`envoy/edge.yaml`) whose `chaperone` cluster is one
//!   address, as a Kubernetes Service is: behind it, as kube-proxy does, each
//!   new connection goes to one of the replicas that are up (an Envoy TCP
//!   proxy listener with health-checked endpoints, in the same Envoy).
//!   A second replica started mid-traffic serves calls after the Envoy's
//!   connection cycles, and no request fails.
//! - With a raw HTTP/2 client on the connection itself: the GOAWAY comes at
//!   the age, the ext_proc stream in flight then finishes normally, and a
//!   stream still open when the grace runs out is cut.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_response::Response as Answer;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    HttpHeaders, ProcessingRequest, ProcessingResponse,
};
use prost::Message as _;

const POLICY: &str = r#"
version: "rebalance.1"
trust_domain: shop.test
hops:
  - name: health
    match: { host: "*", method: GET, path: /healthz }
    from:
      - anonymous: true
"#;

/// Short ages, so that the tests see several connection cycles in seconds.
const AGE: Duration = Duration::from_secs(1);
/// The shortest age a connection may get (the age less 10%).
const SHORTEST_AGE: Duration = Duration::from_millis(900);

/// The sum of a metric's series in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Calls a replica decided.
async fn decisions(replica: &Chaperone) -> u64 {
    metric(&replica.metrics().await, "chaperone_decisions_total")
}

/// What the edge config gets besides its own: `chaperone` (the cluster
/// ext_authz and ext_proc call) reaches a listener standing for the Service,
/// which hands each connection to a replica that passes its health check.
fn with_service(config: &str) -> String {
    const SERVICE: &str = r#"
    - name: chaperone-service
      address: { socket_address: { address: 127.0.0.1, port_value: ${CHAPERONE_GRPC_PORT} } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.tcp_proxy
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
                stat_prefix: chaperone_service
                cluster: chaperone_replicas
"#;
    const REPLICAS: &str = r#"
    - name: chaperone_replicas
      type: STATIC
      connect_timeout: 1s
      health_checks:
        - timeout: 1s
          interval: 0.1s
          no_traffic_interval: 0.1s
          no_traffic_healthy_interval: 0.1s
          unhealthy_threshold: 1
          healthy_threshold: 1
          tcp_health_check: {}
      load_assignment:
        cluster_name: chaperone_replicas
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${REPLICA_A_PORT} } } }
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${REPLICA_B_PORT} } } }
"#;
    // Short connection lives, so that the test sees cycles in seconds.
    let out = config
        .replacen("  listeners:\n", &format!("  listeners:{SERVICE}"), 1)
        .replacen("  clusters:\n", &format!("  clusters:{REPLICAS}"), 1)
        .replacen(
            "max_connection_duration: 300s",
            "max_connection_duration: 1s",
            1,
        );
    assert_eq!(out.matches("chaperone_replicas").count(), 3, "patched");
    assert!(out.contains("max_connection_duration: 1s"), "patched");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_added_mid_traffic_gets_calls_and_none_fail() {
    // chaperone keeps its connections (no --max-connection-age): the Envoy
    // ends them, draining each first.
    let a = Chaperone::start(POLICY).await;
    // The second replica's port is known to the Service from the start; it
    // fails its health check until the replica comes up.
    let b_port = free_port();
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let service_port = free_port();
    let vars = HashMap::from([
        ("CHAPERONE_GRPC_PORT", service_port.to_string()),
        ("UPSTREAM_PORT", upstream.port().to_string()),
        ("REPLICA_A_PORT", a.grpc_port.to_string()),
        ("REPLICA_B_PORT", b_port.to_string()),
    ]);
    let envoy = Envoy::start_patched(edge_config(), &["ENVOY_HTTP_PORT"], vars, with_service).await;

    // Bounded traffic: four clients, each a request every 25 ms, until told
    // to stop (about 140 a second).
    let url = envoy.url("ENVOY_HTTP_PORT", "/healthz");
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (url, stop, sent, failed) = (
            url.clone(),
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&failed),
        );
        clients.push(tokio::spawn(async move {
            let client = http();
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let answer = client
                    .get(&url)
                    .header("host", "api.shop.test")
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
                let failure = match answer {
                    Ok(r) if r.status() == 200 => None,
                    Ok(r) => Some(format!("status {}", r.status())),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(f) = failure {
                    failed.fetch_add(1, Ordering::Relaxed);
                    failures.push(f);
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            failures
        }));
    }

    // The first replica serves everything while it is alone.
    assert_eventually!(decisions(&a).await >= 100, "replica A serving");
    let a_alone = decisions(&a).await;
    let started_b = Instant::now();
    let b = Chaperone::start_on(POLICY, b_port, &[]).await;
    // Envoy's connection to the Service is the one it had before B came up:
    // B gets calls once Envoy has ended that connection and reconnected,
    // through the Service, to B.
    assert_eventually!(decisions(&b).await >= 100, "replica B serving");
    let b_serving_after = started_b.elapsed();
    let a_then = decisions(&a).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await.unwrap());
    }
    let (a_end, b_end) = (decisions(&a).await, decisions(&b).await);
    let cycles = envoy
        .counter("cluster.chaperone.upstream_cx_max_duration_reached")
        .await;
    eprintln!(
        "requests sent {}, failed {}; replica A alone {a_alone}, A when B reached 100 {a_then}, \
         A at the end {a_end}, B at the end {b_end}; B serving {b_serving_after:?} after its start; \
         connections Envoy ended at their age {cycles}",
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(cycles >= 1, "Envoy ended no connection");
    assert!(b_end >= 100 && a_end > a_alone, "both replicas served");
}

/// A raw HTTP/2 connection to chaperone's gRPC listener, driven in the
/// background; `closed` says when and how it ended.
struct Conn {
    client: h2::client::SendRequest<Bytes>,
    opened: Instant,
    closed: tokio::task::JoinHandle<(Instant, Result<(), h2::Error>)>,
}

impl Conn {
    async fn open(port: u16) -> Self {
        let tcp = tokio::net::TcpStream::connect(local(port)).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        let closed = tokio::spawn(async move {
            let r = connection.await;
            (Instant::now(), r)
        });
        Self {
            client,
            opened: Instant::now(),
            closed,
        }
    }

    /// Starts a call of `path`: its answer and the request stream.
    async fn call(&self, path: &str) -> (h2::client::ResponseFuture, h2::SendStream<Bytes>) {
        let request = hyper::Request::post(format!("http://chaperone{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let mut client = self.client.clone().ready().await.unwrap();
        client.send_request(request, false).unwrap()
    }

    /// Whether the server has said GOAWAY: new streams are refused here.
    async fn told_to_go(&self) -> bool {
        matches!(self.client.clone().ready().await, Err(e) if e.is_go_away() && e.is_remote())
    }
}

/// One gRPC message, framed.
fn frame(message: &impl prost::Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&body);
    Bytes::from(out)
}

/// The next gRPC message of an answer (bounded in time).
async fn next_message(body: &mut h2::RecvStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if buf.len() >= 5 {
            let len = u32::from_be_bytes(buf[1..5].try_into().unwrap()) as usize;
            if buf.len() >= 5 + len {
                let message = buf[5..5 + len].to_vec();
                buf.drain(..5 + len);
                return Some(message);
            }
        }
        let data = tokio::time::timeout(PATIENCE, body.data())
            .await
            .expect("a message in time")?
            .unwrap();
        let _ = body.flow_control().release_capacity(data.len());
        buf.extend_from_slice(&data);
    }
}

fn headers(phase: fn(HttpHeaders) -> Phase, headers: &[(&str, &str)]) -> ProcessingRequest {
    ProcessingRequest {
        request: Some(phase(HttpHeaders {
            headers: Some(HeaderMap {
                headers: headers
                    .iter()
                    .map(|(k, v)| HeaderValue {
                        key: (*k).to_owned(),
                        raw_value: v.as_bytes().to_vec(),
                        ..HeaderValue::default()
                    })
                    .collect(),
            }),
            end_of_stream: true,
            ..HttpHeaders::default()
        })),
        ..ProcessingRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_age_a_connection_gets_goaway_and_its_stream_finishes() {
    let c = Chaperone::start_with(
        POLICY,
        &[
            "--max-connection-age",
            "1s",
            "--max-connection-age-grace",
            "20s",
            "--ext-proc-authorize",
            "always",
        ],
    )
    .await;
    let conn = Conn::open(c.grpc_port).await;
    // An ext_proc stream, open before the age and still open after it.
    let (answer, mut send) = conn
        .call("/envoy.service.ext_proc.v3.ExternalProcessor/Process")
        .await;
    assert_eventually!(conn.told_to_go().await, "GOAWAY on the connection");
    let goaway_after = conn.opened.elapsed();
    assert!(
        goaway_after >= SHORTEST_AGE,
        "GOAWAY after {goaway_after:?}, before the age"
    );
    assert!(
        !conn.closed.is_finished(),
        "the connection stays for its stream"
    );

    // The stream in flight goes on: both phases of the request are answered.
    let mut buf = Vec::new();
    send.send_data(
        frame(&headers(
            Phase::RequestHeaders,
            &[
                (":method", "GET"),
                (":path", "/healthz"),
                (":authority", "api.shop.test"),
                (":scheme", "http"),
            ],
        )),
        false,
    )
    .unwrap();
    let mut answer = answer.await.unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.body_mut();
    let first =
        ProcessingResponse::decode(&next_message(body, &mut buf).await.unwrap()[..]).unwrap();
    assert!(
        matches!(first.response, Some(Answer::RequestHeaders(_))),
        "{first:?}"
    );
    send.send_data(
        frame(&headers(Phase::ResponseHeaders, &[(":status", "200")])),
        true,
    )
    .unwrap();
    let second =
        ProcessingResponse::decode(&next_message(body, &mut buf).await.unwrap()[..]).unwrap();
    assert!(
        matches!(second.response, Some(Answer::ResponseHeaders(_))),
        "{second:?}"
    );
    assert!(next_message(body, &mut buf).await.is_none());
    let trailers = body.trailers().await.unwrap().unwrap();
    assert_eq!(trailers["grpc-status"], "0", "{trailers:?}");

    // With its last stream done, the connection closes, long before the grace.
    let (closed_at, how) = tokio::time::timeout(PATIENCE, conn.closed)
        .await
        .unwrap()
        .unwrap();
    assert!(how.is_ok(), "closed gracefully: {how:?}");
    assert!(closed_at.duration_since(conn.opened) < Duration::from_secs(10));
    let m = c.metrics().await;
    assert_eq!(
        metric(&m, "chaperone_grpc_goaways_total{reason=\"max_age\"}"),
        1
    );
    assert_eq!(metric(&m, "chaperone_grpc_connections_cut_total"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_still_open_when_the_grace_runs_out_is_cut() {
    let grace = Duration::from_secs(1);
    let c = Chaperone::start_with(
        POLICY,
        &[
            "--max-connection-age",
            "1s",
            "--max-connection-age-grace",
            "1s",
        ],
    )
    .await;
    let conn = Conn::open(c.grpc_port).await;
    // grpc.health.v1 Watch: a stream that never ends on its own.
    let (answer, mut send) = conn.call("/grpc.health.v1.Health/Watch").await;
    send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();
    let mut answer = answer.await.unwrap();
    let body = answer.body_mut();
    let mut buf = Vec::new();
    assert!(
        next_message(body, &mut buf).await.is_some(),
        "status served"
    );
    assert_eventually!(conn.told_to_go().await, "GOAWAY on the connection");

    let (closed_at, _) = tokio::time::timeout(PATIENCE, conn.closed)
        .await
        .unwrap()
        .unwrap();
    let lived = closed_at.duration_since(conn.opened);
    assert!(
        lived >= SHORTEST_AGE + grace,
        "cut after {lived:?}, before the age and grace"
    );
    assert!(
        lived < AGE + AGE / 10 + grace + Duration::from_secs(5),
        "cut after {lived:?}"
    );
    let m = c.metrics().await;
    assert_eq!(
        metric(&m, "chaperone_grpc_goaways_total{reason=\"max_age\"}"),
        1
    );
    assert_eq!(metric(&m, "chaperone_grpc_connections_cut_total"), 1);
}
