//! Raw HTTP/1.1 on both sides of Envoy, for tests that care about bytes.
//!
//! - [`RawUpstream`]: a recording upstream on 127.0.0.1:0 that keeps every
//!   byte of every request it receives (request line, headers exactly as
//!   sent, duplicates and case included, the body as framed and decoded),
//!   with keep-alive, `content-length` and chunked bodies. It answers each
//!   request with a canned raw response the test registered under the name
//!   in the request's `x-canned` header, else 200 with a small JSON echo.
//! - [`send`]: a raw client that writes exact request bytes to Envoy and
//!   keeps every byte of the answer (status line, headers, body).
//!
//! Everything is bounded: header and body sizes, and time per exchange.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Largest head (request or status line plus headers) read.
const MAX_HEAD: usize = 256 * 1024;
/// Largest body read.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request as the upstream received it.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    /// Every byte of the request as it came off the wire (head and framed body).
    pub raw: Vec<u8>,
    /// `GET /path?query HTTP/1.1`
    pub request_line: String,
    /// Headers in order, names as sent (case kept), values as bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The first value of `name` (case-insensitive), lossily as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// Every value of `name` (case-insensitive).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The request target (`/path?query`).
    pub fn target(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// A canned raw response. `head` is the status line and header lines, each
/// ending in CRLF, without the blank line; `${req:NAME}` in head or body is
/// replaced by the request's header NAME (empty when absent). With
/// `content_length`, a `content-length` header for the body is appended.
#[derive(Debug, Clone)]
pub struct Canned {
    pub head: String,
    pub body: Vec<u8>,
    pub content_length: bool,
}

impl Canned {
    /// Status and header lines as given, plus a `content-length`.
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        Self {
            head,
            body: body.into(),
            content_length: true,
        }
    }

    /// A JSON answer with `content-type: application/json`.
    pub fn json(body: &str) -> Self {
        Self::new(200, &[("content-type", "application/json")], body)
    }

    /// Exact bytes: the head as written (no length added) and the body.
    pub fn exact(head: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            head: head.to_owned(),
            body: body.into(),
            content_length: false,
        }
    }

    fn render(&self, req: &RawRequest) -> Vec<u8> {
        let fill = |s: &[u8]| -> Vec<u8> {
            let mut out = Vec::with_capacity(s.len());
            let mut i = 0;
            while i < s.len() {
                if s[i..].starts_with(b"${req:")
                    && let Some(end) = s[i..].iter().position(|&b| b == b'}')
                {
                    let name = String::from_utf8_lossy(&s[i + 6..i + end]).into_owned();
                    out.extend_from_slice(req.header(&name).unwrap_or_default().as_bytes());
                    i += end + 1;
                } else {
                    out.push(s[i]);
                    i += 1;
                }
            }
            out
        };
        let mut out = fill(self.head.as_bytes());
        let body = fill(&self.body);
        if self.content_length {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

#[derive(Default)]
struct State {
    requests: Vec<RawRequest>,
    /// How many of `requests` `take` has handed out.
    taken: usize,
    canned: HashMap<String, Canned>,
}

/// The recording upstream.
pub struct RawUpstream {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawUpstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        let task = tokio::spawn(async move {
            // Connections live in the set: stopping the server closes them.
            let mut connections = JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = Arc::clone(&st);
                connections.spawn(async move {
                    let _ = serve(stream, st).await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers requests carrying `x-canned: name` with `canned`.
    pub fn can(&self, name: &str, canned: Canned) {
        self.state
            .lock()
            .unwrap()
            .canned
            .insert(name.to_owned(), canned);
    }

    /// Every request received so far (kept).
    pub fn requests(&self) -> Vec<RawRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests received since the last `take`.
    pub fn take(&self) -> Vec<RawRequest> {
        let mut s = self.state.lock().unwrap();
        let new = s.requests[s.taken..].to_vec();
        s.taken = s.requests.len();
        new
    }

    /// The requests received whose `x-case` header is `case`.
    pub fn of_case(&self, case: &str) -> Vec<RawRequest> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.header("x-case").as_deref() == Some(case))
            .cloned()
            .collect()
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(req) = read_request(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let answer = {
            let mut s = state.lock().unwrap();
            let canned = req
                .header("x-canned")
                .and_then(|n| s.canned.get(&n).cloned());
            s.requests.push(req.clone());
            canned
        };
        let bytes = match answer {
            Some(c) => c.render(&req),
            None => Canned::json(&echo(&req)).render(&req),
        };
        stream.write_all(&bytes).await?;
        if close {
            return Ok(());
        }
    }
}

/// The default answer: the request as JSON.
fn echo(req: &RawRequest) -> String {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(v).into()))
        .collect();
    serde_json::json!({
        "request_line": req.request_line,
        "headers": headers,
        "body": String::from_utf8_lossy(&req.body),
    })
    .to_string()
}

/// Reads until `buf` holds a full head; returns its length (with the blank
/// line), or None at a clean end of stream.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<usize>> {
    loop {
        if let Some(i) = memchr::memmem::find(buf, b"\r\n\r\n") {
            return Ok(Some(i + 4));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("head too large"));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::Error::other("eof inside a head"))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Makes `buf` hold at least `n` bytes.
async fn fill<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    n: usize,
) -> std::io::Result<()> {
    while buf.len() < n {
        let mut chunk = [0u8; 64 * 1024];
        let got = stream.read(&mut chunk).await?;
        if got == 0 {
            return Err(std::io::Error::other("eof inside a body"));
        }
        buf.extend_from_slice(&chunk[..got]);
    }
    Ok(())
}

fn parse_headers(head: &[u8]) -> (String, Vec<(String, Vec<u8>)>) {
    let text = &head[..head.len().saturating_sub(4)];
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let colon = l.iter().position(|&b| b == b':').unwrap_or(l.len());
            let name = String::from_utf8_lossy(&l[..colon]).into_owned();
            let value = l.get(colon + 1..).unwrap_or_default().trim_ascii().to_vec();
            (name, value)
        })
        .collect();
    (first, headers)
}

fn header_of<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

fn is_chunked(headers: &[(String, Vec<u8>)]) -> bool {
    header_of(headers, "transfer-encoding").is_some_and(|v| {
        String::from_utf8_lossy(v)
            .to_ascii_lowercase()
            .contains("chunked")
    })
}

fn content_length(headers: &[(String, Vec<u8>)]) -> Option<usize> {
    header_of(headers, "content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok())
}

/// Reads a chunked body starting at `buf[at..]`; returns (decoded body, end
/// offset in buf).
async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    mut at: usize,
) -> std::io::Result<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = memchr::memmem::find(&buf[at..], b"\r\n") {
                break at + i;
            }
            let want = buf.len() + 1;
            fill(stream, buf, want).await?;
        };
        let line = String::from_utf8_lossy(&buf[at..line_end]).into_owned();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                let end = loop {
                    if let Some(i) = memchr::memmem::find(&buf[at..], b"\r\n") {
                        break at + i;
                    }
                    let want = buf.len() + 1;
                    fill(stream, buf, want).await?;
                };
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Ok((body, at));
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(std::io::Error::other("body too large"));
        }
        fill(stream, buf, at + size + 2).await?;
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<RawRequest>> {
    let Some(head_len) = read_head(stream, buf).await? else {
        return Ok(None);
    };
    let (request_line, headers) = parse_headers(&buf[..head_len]);
    let (body, end) = if is_chunked(&headers) {
        read_chunked(stream, buf, head_len).await?
    } else {
        let n = content_length(&headers).unwrap_or(0);
        if n > MAX_BODY {
            return Err(std::io::Error::other("body too large"));
        }
        fill(stream, buf, head_len + n).await?;
        (buf[head_len..head_len + n].to_vec(), head_len + n)
    };
    let raw: Vec<u8> = buf.drain(..end).collect();
    Ok(Some(RawRequest {
        raw,
        request_line,
        headers,
        body,
    }))
}

/// What a caller received.
#[derive(Debug, Clone, Default)]
pub struct RawResponse {
    /// Every byte received (any informational answers, then the status
    /// line, headers and framed body).
    pub raw: Vec<u8>,
    pub status: u16,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Informational (1xx) answers before the final one: status, headers.
    pub informational: Vec<(u16, Vec<(String, String)>)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

fn text_headers(headers: Vec<(String, Vec<u8>)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

impl RawResponse {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Writes `request` to `addr` as is and reads one response (bounded in time
/// and size). The writer runs alongside the reader, so an answer that comes
/// before the whole request was written (a refusal of a large body) is read.
pub async fn send(addr: SocketAddr, request: Vec<u8>) -> Result<RawResponse, String> {
    send_within(addr, request, Duration::from_secs(10)).await
}

/// As [`send`], waiting at most `limit` for the whole answer.
pub async fn send_within(
    addr: SocketAddr,
    request: Vec<u8>,
    limit: Duration,
) -> Result<RawResponse, String> {
    tokio::time::timeout(limit, exchange(addr, request))
        .await
        .map_err(|_| format!("no answer within {limit:?}"))?
}

async fn exchange(addr: SocketAddr, request: Vec<u8>) -> Result<RawResponse, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        // Keep the write half open: closing it may end the exchange early.
        wr
    });
    let mut buf = Vec::new();
    let result = async {
        // Informational (1xx) answers come first, each a head alone.
        let mut interim = Vec::new();
        let mut informational = Vec::new();
        let (head_len, status, headers) = loop {
            let head_len = read_head(&mut rd, &mut buf)
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .ok_or("connection closed with no answer")?;
            let (status_line, headers) = parse_headers(&buf[..head_len]);
            let status: u16 = status_line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad status line {status_line:?}"))?;
            if (100..200).contains(&status) && status != 101 {
                interim.extend(buf.drain(..head_len));
                informational.push((status, text_headers(headers)));
                continue;
            }
            break (head_len, status, headers);
        };
        let (body, end) = if status == 204 || status == 304 {
            (Vec::new(), head_len)
        } else if is_chunked(&headers) {
            read_chunked(&mut rd, &mut buf, head_len)
                .await
                .map_err(|e| format!("reading a chunked body: {e}"))?
        } else if let Some(n) = content_length(&headers) {
            fill(&mut rd, &mut buf, head_len + n)
                .await
                .map_err(|e| format!("reading the body: {e}"))?;
            (buf[head_len..head_len + n].to_vec(), head_len + n)
        } else {
            // No framing: the body runs to the end of the connection.
            let _ = rd.read_to_end(&mut buf).await;
            (buf[head_len..].to_vec(), buf.len())
        };
        interim.extend_from_slice(&buf[..end]);
        Ok(RawResponse {
            raw: interim,
            status,
            headers: text_headers(headers),
            informational,
            body,
        })
    }
    .await;
    writer.abort();
    result
}

/// Builds raw request bytes.
#[derive(Debug, Clone)]
pub struct Req {
    line: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    chunked: bool,
}

impl Req {
    /// `METHOD target HTTP/1.1` with a `host` header.
    pub fn new(method: &str, host: &str, target: &str) -> Self {
        Self {
            line: format!("{method} {target} HTTP/1.1"),
            headers: vec![("host".to_owned(), host.as_bytes().to_vec())],
            body: None,
            chunked: false,
        }
    }

    pub fn get(host: &str, target: &str) -> Self {
        Self::new("GET", host, target)
    }

    pub fn post(host: &str, target: &str) -> Self {
        Self::new("POST", host, target)
    }

    /// Adds a header line as given (a name may repeat).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// A body, framed with `content-length`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// A JSON body with `content-type: application/json`.
    pub fn json(self, body: &str) -> Self {
        self.header("content-type", "application/json").body(body)
    }

    /// Frame the body chunked instead.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.line.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        match (&self.body, self.chunked) {
            (Some(b), false) => {
                out.extend_from_slice(format!("content-length: {}\r\n", b.len()).as_bytes())
            }
            (Some(_), true) => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
            (None, _) => {}
        }
        out.extend_from_slice(b"connection: close\r\n\r\n");
        match (&self.body, self.chunked) {
            (Some(b), false) => out.extend_from_slice(b),
            (Some(b), true) => {
                for part in b.chunks(1000) {
                    out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                    out.extend_from_slice(part);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            (None, _) => {}
        }
        out
    }
}
