//! A small HTTP server for chaperone's demo and end-to-end tests. It plays
//! two parts, each on its own port:
//! - an upstream service that records every request it receives and echoes
//!   it back as JSON, with the kind of response headers that leak what runs
//!   behind a hop (`server`, `x-powered-by`, `x-internal-trace`);
//! - an identity provider that publishes its JWKS and, for the demo, mints
//!   end-user tokens at `/token`.

// Demo and test tooling, never part of the chaperone binary: a panic here is a
// failed test or a stopped demo, which is what we want.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chaperone::token::{SigningKey, jwks_document};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the upstream saw of one request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

pub struct Server {
    pub addr: SocketAddr,
    pub recorded: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The identity provider's issuer and audience in the demo policy.
pub const DEMO_ISSUER: &str = "https://idp.demo.local";
pub const DEMO_AUDIENCE: &str = "demo-shop";

pub enum Role {
    Upstream,
    /// As `Upstream`, but every answer has this body (a typical API response
    /// rather than the echo; the load benchmark uses it).
    Fixed(String),
    Idp(Arc<SigningKey>),
}

impl Server {
    pub async fn start(addr: SocketAddr, role: Role) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let role = Arc::new(role);
        let rec = Arc::clone(&recorded);
        let task = tokio::spawn(async move {
            // Connections live in the set, so stopping the server closes them too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rec = Arc::clone(&rec);
                let role = Arc::clone(&role);
                connections.spawn(async move {
                    let svc = service_fn(move |req| {
                        let (rec, role) = (Arc::clone(&rec), Arc::clone(&role));
                        async move {
                            let streamed = streamed(&req);
                            let resp = handle(req, rec, role).await?;
                            Ok::<_, hyper::Error>(match streamed {
                                Some(body) => body,
                                None => resp.map(|b| b.map_err(|never| match never {}).boxed()),
                            })
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            recorded,
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.recorded.lock().unwrap())
    }
}

/// The response headers that tell a caller what runs behind the hop.
fn leaky_headers(resp: &mut Response<Full<Bytes>>) {
    let h = resp.headers_mut();
    h.insert("server", "demo-upstream/1.0".parse().unwrap());
    h.insert("x-powered-by", "DemoFramework/3.2".parse().unwrap());
    h.insert("x-internal-trace", "node-7.rack-3".parse().unwrap());
}

fn json(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(
    req: Request<Incoming>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    role: Arc<Role>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    match &*role {
        Role::Idp(key) => Ok(idp(key, &path)),
        Role::Fixed(body) => {
            // Nothing recorded: a long load run would keep every request.
            req.into_body().collect().await?;
            let mut resp = json(200, body.clone());
            leaky_headers(&mut resp);
            Ok(resp)
        }
        Role::Upstream => {
            // A canned answer, for showing what chaperone does to responses:
            // `x-demo-body` (the body), `x-demo-status`, `x-demo-content-type`,
            // `x-demo-content-encoding`.
            let canned = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let canned_body = canned("x-demo-body");
            let canned_status = canned("x-demo-status").and_then(|s| s.parse::<u16>().ok());
            let canned_type = canned("x-demo-content-type");
            let canned_encoding = canned("x-demo-content-encoding");
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = req.into_body().collect().await?.to_bytes();
            let seen = Recorded {
                method,
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            if let Some(token) = seen.headers.get("txn-token") {
                // The demo shows the token as the upstream received it.
                eprintln!("txn-token received: {token}");
            }
            let echo = serde_json::to_string(&seen).unwrap();
            recorded.lock().unwrap().push(seen);
            let mut resp = json(canned_status.unwrap_or(200), canned_body.unwrap_or(echo));
            if let Some(t) = canned_type {
                resp.headers_mut()
                    .insert("content-type", t.parse().unwrap());
            }
            if let Some(e) = canned_encoding {
                resp.headers_mut()
                    .insert("content-encoding", e.parse().unwrap());
            }
            leaky_headers(&mut resp);
            Ok(resp)
        }
    }
}

/// A response that flows, asked for with `x-demo-stream: sse` (server-sent
/// events), `ndjson`, `json` (one array), or `object` (the array as an
/// object's `data`, then its `total`): `x-demo-count` pieces (default 5), one every
/// `x-demo-interval-ms` (default 0), each `x-demo-piece` with `{n}` replaced
/// by its number (default a small JSON document holding a card number).
fn streamed(req: &Request<Incoming>) -> Option<Response<BoxBody<Bytes, hyper::Error>>> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let kind = header("x-demo-stream")?;
    let (content_type, framing) = match kind.as_str() {
        "sse" => ("text/event-stream", Framing::Events),
        "ndjson" => ("application/x-ndjson", Framing::Lines),
        "json" => ("application/json", Framing::Array),
        "object" => ("application/json", Framing::Object),
        _ => return None,
    };
    let count: u64 = header("x-demo-count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let interval: u64 = header("x-demo-interval-ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let piece = header("x-demo-piece")
        .unwrap_or_else(|| r#"{"n":{n},"card":"4111 1111 1111 1111"}"#.to_owned());
    // One piece more than counted for an array: its closing bracket.
    let array = matches!(framing, Framing::Array | Framing::Object);
    let last = count + u64::from(array);
    let pieces = futures_util::stream::unfold(0u64, move |n| {
        let piece = piece.clone();
        async move {
            if n >= last {
                return None;
            }
            if n > 0 && interval > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(interval)).await;
            }
            let text = piece.replace("{n}", &n.to_string());
            let (open, close) = match framing {
                Framing::Object => (r#"{"data":["#.to_owned(), format!(r#"],"total":{count}}}"#)),
                _ => ("[".to_owned(), "]".to_owned()),
            };
            let framed = match framing {
                Framing::Events => format!("data: {text}\n\n"),
                Framing::Lines => format!("{text}\n"),
                _ if count == 0 => format!("{open}{close}"),
                _ if n == count => close,
                _ if n == 0 => format!("{open}{text}"),
                _ => format!(",{text}"),
            };
            Some((Ok(Frame::data(Bytes::from(framed))), n + 1))
        }
    });
    Some(
        Response::builder()
            .status(200)
            .header("content-type", content_type)
            .body(BodyExt::boxed(StreamBody::new(pieces)))
            .unwrap(),
    )
}

/// How a flowing demo response is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Events,
    Lines,
    Array,
    Object,
}

fn idp(key: &SigningKey, path_and_query: &str) -> Response<Full<Bytes>> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    match path {
        "/.well-known/jwks.json" => json(200, jwks_document([key]).to_string()),
        "/token" => {
            let mut sub = "alice".to_owned();
            let mut scope = String::new();
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("sub", v)) => sub = v.to_owned(),
                    Some(("scope", v)) => scope = v.replace("%20", " ").replace('+', " "),
                    _ => {}
                }
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let claims = serde_json::json!({
                "iss": DEMO_ISSUER, "aud": DEMO_AUDIENCE, "sub": sub, "scope": scope,
                "iat": now, "exp": now + 600,
            });
            json(200, key.sign("JWT", &claims).unwrap())
        }
        _ => json(404, r#"{"error":"not_found"}"#.to_owned()),
    }
}
