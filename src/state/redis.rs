//! Budgets and baselines kept in Redis or Valkey, over RESP2 on a few
//! connections (plain TCP or TLS) that pipeline what waits for them, each
//! message in one round trip. A message that brings only budgets something
//! sends plain commands: per budget `INCRBY` and `PEXPIRE` on the current
//! bucket and `MGET` on the earlier ones, summed here. One that brings an
//! anomaly something sends its charges and observations in one `EVALSHA`
//! (`EVAL` the first time): the same for its budgets, summed in the server,
//! and for an anomaly the baseline's hash read, updated and written back
//! (the arithmetic of `chaperone_core::anomaly::observe`, step for step).
//! Every wait is bounded by one timeout.
//!
//! A client of its own rather than a crate: chaperone needs a few commands
//! (AUTH, PING, INCRBY, DECRBY, PEXPIRE, MGET, EVALSHA and EVAL, and their
//! replies), and the RESP client crates bring
//! their own TLS stacks, runtimes' compatibility layers and a dozen
//! dependencies for features chaperone does not use.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::{Charge, Health, Observation, Pace, StateError, Tally};
use crate::anomaly::Verdict;

/// For each budget: `INCRBY` (or `GET` when adding nothing) the current
/// bucket, `PEXPIRE` it, and add the earlier buckets (one `MGET`). ARGV:
/// the number of budgets, then per budget its amount, bucket TTL (ms), key
/// count, and the limit past which the message is refused (-1: none). A
/// message refused counts toward no budget: its increments are taken back.
///
/// Then for each anomaly (one key each, a hash): the closed windows folded
/// into the baseline, the amount added (nothing when a budget refused the
/// message: it did not cross), the verdict. ARGV: the number of
/// anomalies, then per anomaly its amount, window, alpha, settle, warmup,
/// sigmas, min and TTL (ms). Floats are stored with 17 significant digits,
/// so they read back exactly; the arithmetic is the same, operation for
/// operation, as `chaperone_core::anomaly`, so both stores decide alike.
///
/// Replies: each budget's total, then per anomaly its alert (0 or 1), the
/// window's count, and the baseline's mean and deviation rounded.
const SCRIPT: &str = r"
local out = {}
local added = {}
local refused = false
local k = 1
local a = 2
for i = 1, tonumber(ARGV[1]) do
  local amount = tonumber(ARGV[a])
  local ttl = tonumber(ARGV[a + 1])
  local n = tonumber(ARGV[a + 2])
  local over = tonumber(ARGV[a + 3])
  a = a + 4
  local total
  if amount > 0 then
    total = redis.call('INCRBY', KEYS[k], amount)
    redis.call('PEXPIRE', KEYS[k], ttl)
    added[#added + 1] = {KEYS[k], amount}
  else
    total = tonumber(redis.call('GET', KEYS[k]) or '0')
  end
  if n > 1 then
    for _, v in ipairs(redis.call('MGET', unpack(KEYS, k + 1, k + n - 1))) do
      if v then total = total + tonumber(v) end
    end
  end
  if over >= 0 and total > over then refused = true end
  k = k + n
  out[#out + 1] = total
end
if refused then
  for _, add in ipairs(added) do redis.call('DECRBY', add[1], add[2]) end
end
local function power(base, e)
  local r = 1
  while e > 0 do
    if e % 2 == 1 then r = r * base end
    base = base * base
    e = math.floor(e / 2)
  end
  return r
end
local function num(x) return string.format('%.17g', x) end
local na = tonumber(ARGV[a])
a = a + 1
for i = 1, na do
  local amount = tonumber(ARGV[a])
  if refused then amount = 0 end
  local w = tonumber(ARGV[a + 1])
  local alpha = tonumber(ARGV[a + 2])
  local settle = tonumber(ARGV[a + 3])
  local warmup = tonumber(ARGV[a + 4])
  local sigmas = tonumber(ARGV[a + 5])
  local min = tonumber(ARGV[a + 6])
  local ttl = ARGV[a + 7]
  a = a + 8
  local s = redis.call('HMGET', KEYS[k], 'm', 'v', 'n', 'w', 'c', 'a')
  local m = tonumber(s[1]) or 0
  local v = tonumber(s[2]) or 0
  local n = tonumber(s[3]) or 0
  local bw = tonumber(s[4]) or w
  local c = tonumber(s[5]) or 0
  local alerted = tonumber(s[6]) or -1
  if w > bw then
    local f = alpha
    if n < settle then f = 1 / (n + 1) end
    local diff = c - m
    local incr = f * diff
    m = m + incr
    v = (1 - f) * (v + diff * incr)
    n = n + 1
    local zeros = w - bw - 1
    local j = math.min(zeros, math.max(settle - n, 0))
    if j > 0 then
      local t = n + j
      local e2 = (v + m * m) * n / t
      m = m * n / t
      v = math.max(e2 - m * m, 0)
      n = n + j
      zeros = zeros - j
    end
    if zeros > 0 then
      local p = power(1 - alpha, zeros)
      v = p * (v + m * m * (1 - p))
      m = p * m
      n = n + zeros
    end
    bw = w
    c = 0
  end
  c = c + amount
  local sd = math.sqrt(v)
  local alert = 0
  if n >= warmup and c > min and c > m + sigmas * sd and alerted ~= bw then
    alert = 1
    alerted = bw
  end
  redis.call('HSET', KEYS[k], 'm', num(m), 'v', num(v), 'n', num(n), 'w', num(bw), 'c', num(c), 'a', num(alerted))
  redis.call('PEXPIRE', KEYS[k], ttl)
  k = k + 1
  out[#out + 1] = alert
  out[#out + 1] = c
  out[#out + 1] = math.floor(m + 0.5)
  out[#out + 1] = math.floor(sd + 0.5)
end
return out
";

/// Largest reply read: a few integers are expected.
const MAX_REPLY_LINE: usize = 4096;
const MAX_REPLY_ITEMS: usize = 1024;

/// Where the store is and how to reach it.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://host:port` or `rediss://host:port` (TLS).
    pub url: String,
    /// The password (`AUTH`), read from a file.
    pub password_file: Option<PathBuf>,
    /// A CA bundle (PEM) the server's certificate must chain to; the
    /// platform's roots without it.
    pub ca_file: Option<PathBuf>,
    /// Connections at most.
    pub pool: usize,
    /// Bounds a connection's set-up, and each command's round trip.
    pub timeout: Duration,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.url)
            .field("pool", &self.pool)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why the store's settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("--state: {0}")]
    Url(&'static str),
    #[error("--state-password-file: {0}")]
    Password(String),
    #[error("--state-ca-file: {0}")]
    Ca(String),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Conn = BufStream<Box<dyn Io>>;

/// A password whose Debug prints nothing.
struct Password(Vec<u8>);

/// Commands one connection sends in one write, at most.
const MAX_BATCH: usize = 64;
/// How long the connection for round trips no message waits for waits for
/// more of them before it sends what it has (fewer than [`MAX_BATCH`]).
const LINGER: Duration = Duration::from_millis(5);

/// When a command must be answered, and whether its message waits for it.
#[derive(Debug, Clone, Copy)]
struct Call {
    deadline: tokio::time::Instant,
    pace: Pace,
}
/// Commands waiting for one connection, at most.
const LANE_QUEUE: usize = 1024;

/// The store's connections, each a lane: the commands waiting for it when
/// it is free go out together in one write (pipelined), and their replies
/// come back in order. A burst costs the store a few round trips, not one
/// each; a wait for a lane is the replica's, not the store's, and never
/// counts as the store failing: only a lane's own round trip, timed from
/// its sending, tells the store's health.
pub struct RedisStore {
    connector: Arc<Connector>,
    pool: usize,
    lanes: std::sync::OnceLock<Vec<mpsc::Sender<Job>>>,
    next: AtomicUsize,
    timeout: Duration,
    /// Where the lanes report each round trip.
    health: Option<Arc<Health>>,
}

/// How to reach the store: address, TLS, password.
struct Connector {
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    password: Option<Password>,
    /// Bounds a connection's set-up and a batch's round trip.
    timeout: Duration,
    /// Counts the connections that failed: a lane's connection made before
    /// the last failure (of any lane) is not trusted, but made afresh, so
    /// that a store that restarted is not found dead once per lane.
    failures: AtomicU64,
}

/// One command for a lane, encoded, and where its reply goes.
struct Job {
    /// One command or several, encoded.
    request: Vec<u8>,
    /// How many replies the commands bring: one is the reply, several an
    /// array of them, in order.
    replies: usize,
    /// Set when the lane starts on it: a caller that gives up before was
    /// only waiting for the lane.
    sent: Arc<AtomicBool>,
    reply: oneshot::Sender<Result<Reply, StateError>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("host", &self.connector.host)
            .field("port", &self.connector.port)
            .field("tls", &self.connector.tls.is_some())
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub fn new(settings: &RedisSettings) -> Result<Self, SettingsError> {
        let (tls, rest) = if let Some(rest) = settings.url.strip_prefix("rediss://") {
            (true, rest)
        } else if let Some(rest) = settings.url.strip_prefix("redis://") {
            (false, rest)
        } else {
            return Err(SettingsError::Url("must start with redis:// or rediss://"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('@') {
            return Err(SettingsError::Url(
                "a password does not go in the URL: use --state-password-file",
            ));
        }
        if rest.contains('/') || rest.contains('?') {
            return Err(SettingsError::Url("only host:port (database 0)"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => {
                (h, p.parse().map_err(|_| SettingsError::Url("bad port"))?)
            }
            _ => (rest, 6379),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(SettingsError::Url("no host"));
        }
        let password = settings
            .password_file
            .as_ref()
            .map(|p| {
                let bytes = std::fs::read(p)
                    .map_err(|e| SettingsError::Password(format!("{}: {e}", p.display())))?;
                let trimmed = bytes.trim_ascii_end().to_vec();
                if trimmed.is_empty() {
                    return Err(SettingsError::Password(format!("{}: empty", p.display())));
                }
                Ok(Password(trimmed))
            })
            .transpose()?;
        let tls = tls
            .then(|| tls_connector(settings.ca_file.as_ref()))
            .transpose()?;
        Ok(Self {
            connector: Arc::new(Connector {
                host,
                port,
                tls,
                password,
                timeout: settings.timeout,
                failures: AtomicU64::new(0),
            }),
            pool: settings.pool.max(1),
            lanes: std::sync::OnceLock::new(),
            next: AtomicUsize::new(0),
            timeout: settings.timeout,
            health: None,
        })
    }

    /// The same store, its lanes reporting each round trip to `health`.
    pub(super) fn reporting_to(self, health: Arc<Health>) -> Self {
        Self {
            health: Some(health),
            ..self
        }
    }

    /// The charges and observations in one round trip, within the timeout
    /// (waiting for a connection included).
    pub async fn tally(
        &self,
        charges: &[Charge],
        observations: &[Observation],
        pace: Pace,
    ) -> Result<Tally, StateError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let call = Call { deadline, pace };
        if observations.is_empty() {
            let totals = self.charge_plainly(charges, call).await?;
            return Ok(Tally {
                totals,
                verdicts: Vec::new(),
            });
        }
        // By the script's hash; sent whole only when the server has not
        // cached it yet (a new or restarted server): then a second round trip.
        let mut args = eval_args(charges, observations);
        let reply = match self.call(encode(&args), 1, call).await? {
            Reply::NoScript => {
                args[0] = b"EVAL".to_vec();
                args[1] = SCRIPT.as_bytes().to_vec();
                self.call(encode(&args), 1, call).await?
            }
            reply => reply,
        };
        let Reply::Array(items) = reply else {
            return Err(StateError::Protocol);
        };
        if items.len() != charges.len() + 4 * observations.len() {
            return Err(StateError::Protocol);
        }
        let ints = items
            .into_iter()
            .map(|r| match r {
                // A total below nothing (a refusal taken back from a lost
                // bucket) counts as nothing.
                Reply::Int(n) => Ok(u64::try_from(n).unwrap_or(0)),
                _ => Err(StateError::Protocol),
            })
            .collect::<Result<Vec<u64>, _>>()?;
        let (totals, verdicts) = ints.split_at(charges.len());
        Ok(Tally {
            totals: totals.to_vec(),
            verdicts: verdicts
                .chunks_exact(4)
                .map(|v| Verdict {
                    alert: v[0] == 1,
                    count: v[1],
                    mean: v[2],
                    sd: v[3],
                })
                .collect(),
        })
    }

    /// The charges in one round trip.
    pub async fn charge(&self, charges: &[Charge]) -> Result<Vec<u64>, StateError> {
        self.tally(charges, &[], Pace::Now).await.map(|t| t.totals)
    }

    /// Budgets without baselines, in one round trip of plain commands
    /// rather than the script, which costs the server several times more
    /// (each `redis.call` from Lua costs more than the command itself): per
    /// budget `INCRBY` and `PEXPIRE` on the current bucket and one `MGET` of
    /// the earlier ones (one `MGET` of them all when adding nothing), summed
    /// here. A message a budget refuses is taken back with `DECRBY`, a
    /// second round trip then only: until then another message of the
    /// caller's may find the window fuller than it will be, and be refused
    /// too (never the other way: what crosses never passes a limit).
    async fn charge_plainly(&self, charges: &[Charge], call: Call) -> Result<Vec<u64>, StateError> {
        let mut request = Vec::with_capacity(128 * charges.len());
        let mut replies = 0;
        for c in charges {
            let (current, earlier) = c.keys.split_first().ok_or(StateError::Protocol)?;
            if c.amount == 0 {
                request.extend(encode_command(b"MGET", &c.keys));
                replies += 1;
                continue;
            }
            let amount = c.amount.to_string();
            let ttl = c.ttl_ms.max(1).to_string();
            request.extend(encode_command(b"INCRBY", &[current, &amount]));
            request.extend(encode_command(b"PEXPIRE", &[current, &ttl]));
            replies += 2;
            if !earlier.is_empty() {
                request.extend(encode_command(b"MGET", earlier));
                replies += 1;
            }
        }
        let reply = self.call(request, replies, call).await?;
        let items = match reply {
            Reply::Array(items) if replies > 1 => items,
            one if replies == 1 => vec![one],
            _ => return Err(StateError::Protocol),
        };
        // An error for any command fails the message (each budget by its
        // `on_store_error`); what the others added stays counted, against
        // the caller, never for.
        if items.contains(&Reply::Error) {
            return Err(StateError::Refused);
        }
        let mut items = items.into_iter();
        let mut totals = Vec::with_capacity(charges.len());
        // Summed as signed numbers: a bucket can hold less than nothing
        // when a refusal's amount was taken back from a bucket the store
        // had lost (a restart without persistence) in between.
        for c in charges {
            let mut total = 0i64;
            if c.amount > 0 {
                let (Some(Reply::Int(n)), Some(Reply::Int(_))) = (items.next(), items.next())
                else {
                    return Err(StateError::Protocol);
                };
                total = n;
            }
            if c.amount == 0 || c.keys.len() > 1 {
                let Some(Reply::Array(values)) = items.next() else {
                    return Err(StateError::Protocol);
                };
                for v in values {
                    let n = match v {
                        Reply::Bulk(None) => 0,
                        Reply::Bulk(Some(b)) => std::str::from_utf8(&b)
                            .ok()
                            .and_then(|t| t.parse::<i64>().ok())
                            .ok_or(StateError::Protocol)?,
                        _ => return Err(StateError::Protocol),
                    };
                    total = total.saturating_add(n);
                }
            }
            totals.push(u64::try_from(total).unwrap_or(0));
        }
        let refused = charges
            .iter()
            .zip(&totals)
            .any(|(c, total)| c.refuse_over.is_some_and(|over| *total > over));
        if refused {
            let mut undo = Vec::new();
            let mut n = 0;
            for c in charges.iter().filter(|c| c.amount > 0) {
                let ttl = c.ttl_ms.max(1).to_string();
                undo.extend(encode_command(
                    b"DECRBY",
                    &[&c.keys[0], &c.amount.to_string()],
                ));
                undo.extend(encode_command(b"PEXPIRE", &[&c.keys[0], &ttl]));
                n += 2;
            }
            // With a timeout of its own: the first round trip may have used
            // most of the message's. Refused either way: if the store does
            // not take the amounts back in time, the window keeps them
            // (counted against the caller, never for), and the lane reports
            // the failure.
            let again = Call {
                deadline: tokio::time::Instant::now() + self.timeout,
                ..call
            };
            if n > 0 {
                let _ = self.call(undo, n, again).await;
            }
        }
        Ok(totals)
    }

    /// `PING`, within the timeout: does the store answer?
    pub async fn ping(&self) -> Result<(), StateError> {
        let call = Call {
            deadline: tokio::time::Instant::now() + self.timeout,
            pace: Pace::Now,
        };
        match self.call(encode(&[b"PING".to_vec()]), 1, call).await? {
            Reply::Simple => Ok(()),
            _ => Err(StateError::Protocol),
        }
    }

    /// The lanes, started with the first command (inside the runtime); they
    /// end when the store is dropped.
    /// With two connections or more, the first carries the round trips no
    /// message waits for, and waits up to [`LINGER`] for more of them
    /// before it sends; the others carry the rest, at once.
    fn lanes(&self) -> &[mpsc::Sender<Job>] {
        self.lanes.get_or_init(|| {
            (0..self.pool)
                .map(|i| {
                    let (tx, rx) = mpsc::channel(LANE_QUEUE);
                    let linger = (i == 0 && self.pool > 1).then_some(LINGER);
                    tokio::spawn(lane(
                        Arc::clone(&self.connector),
                        self.health.clone(),
                        rx,
                        linger,
                    ));
                    tx
                })
                .collect()
        })
    }

    /// Sends one command on the next lane and waits for its reply until
    /// `deadline`: `Busy` if the lane had not started on it by then (the
    /// replica's own queue), `Timeout` if the store had it and did not answer.
    async fn call(
        &self,
        request: Vec<u8>,
        replies: usize,
        call: Call,
    ) -> Result<Reply, StateError> {
        let Call { deadline, pace } = call;
        let lanes = self.lanes();
        let lane = match lanes {
            [batched, rest @ ..] if !rest.is_empty() => match pace {
                Pace::Batched => batched,
                Pace::Now => &rest[self.next.fetch_add(1, Ordering::Relaxed) % rest.len()],
            },
            _ => &lanes[0],
        };
        let sent = Arc::new(AtomicBool::new(false));
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request,
            replies,
            sent: Arc::clone(&sent),
            reply,
        };
        let wait = async {
            lane.send(job).await.map_err(|_| StateError::Io)?;
            answer.await.map_err(|_| StateError::Io)?
        };
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(Ok(Reply::Error)) => Err(StateError::Refused),
            Ok(result) => result,
            Err(_) if !sent.load(Ordering::Acquire) => Err(StateError::Busy),
            Err(_) => Err(StateError::Timeout),
        }
    }
}

/// One connection's loop: takes what waits (up to [`MAX_BATCH`]), writes
/// it at once, reads the replies in order. A connection that failed or did
/// not answer within the timeout of the batch's sending is dropped, with
/// every command of its batch failed, and the store reported failing; the
/// next batch connects afresh.
async fn lane(
    connector: Arc<Connector>,
    health: Option<Arc<Health>>,
    mut jobs: mpsc::Receiver<Job>,
    linger: Option<Duration>,
) {
    // The connection, and the failures counted when it was made.
    let mut conn: Option<(Conn, u64)> = None;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Some(linger) = linger
            && batch.len() < MAX_BATCH
        {
            tokio::time::sleep(linger).await;
            while batch.len() < MAX_BATCH
                && let Ok(job) = jobs.try_recv()
            {
                batch.push(job);
            }
        }
        // A caller that gave up is not sent for.
        batch.retain(|j| !j.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        for j in &batch {
            j.sent.store(true, Ordering::Release);
        }
        let replies =
            tokio::time::timeout(connector.timeout, exchange(&connector, &mut conn, &batch))
                .await
                .unwrap_or(Err(StateError::Timeout));
        // Reported before any reply is delivered: a caller that hears of a
        // failure finds the breaker open.
        if let Some(health) = &health {
            match &replies {
                Ok(r) if r.iter().any(Reply::refuses) => {
                    health.failed(&StateError::Refused);
                }
                Ok(_) => health.answered(),
                Err(e) => health.failed(e),
            }
        }
        match replies {
            Ok(replies) => {
                for (j, r) in batch.drain(..).zip(replies) {
                    let _ = j.reply.send(Ok(r));
                }
            }
            Err(e) => {
                conn = None;
                connector.failures.fetch_add(1, Ordering::Relaxed);
                for j in batch.drain(..) {
                    let _ = j.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One batch's round trip on the lane's connection (made first if need be).
async fn exchange(
    connector: &Connector,
    conn: &mut Option<(Conn, u64)>,
    batch: &[Job],
) -> Result<Vec<Reply>, StateError> {
    let failures = connector.failures.load(Ordering::Relaxed);
    if conn.as_ref().is_none_or(|(_, made)| *made != failures) {
        *conn = None;
        *conn = Some((connector.connect().await?, failures));
    }
    let (c, _) = conn.as_mut().ok_or(StateError::Io)?;
    for j in batch {
        c.write_all(&j.request).await.map_err(|_| StateError::Io)?;
    }
    c.flush().await.map_err(|_| StateError::Io)?;
    let mut replies = Vec::with_capacity(batch.len());
    for j in batch {
        if j.replies == 1 {
            replies.push(read_reply(c).await?);
            continue;
        }
        let mut each = Vec::with_capacity(j.replies);
        for _ in 0..j.replies {
            each.push(read_reply(c).await?);
        }
        replies.push(Reply::Array(each));
    }
    Ok(replies)
}

impl Connector {
    async fn connect(&self) -> Result<Conn, StateError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|_| StateError::Io)?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone()).map_err(|_| StateError::Io)?;
                Box::new(tls.connect(name, tcp).await.map_err(|_| StateError::Io)?)
            }
        };
        let mut conn = BufStream::new(io);
        if let Some(Password(p)) = &self.password {
            conn.write_all(&encode(&[b"AUTH".to_vec(), p.clone()]))
                .await
                .map_err(|_| StateError::Io)?;
            conn.flush().await.map_err(|_| StateError::Io)?;
            match read_reply(&mut conn).await? {
                Reply::Simple => {}
                _ => return Err(StateError::Refused),
            }
        }
        Ok(conn)
    }
}

fn tls_connector(ca: Option<&PathBuf>) -> Result<tokio_rustls::TlsConnector, SettingsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SettingsError::Ca(e.to_string()))?;
    let config = match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| SettingsError::Ca(format!("{}: {e}", path.display())))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| SettingsError::Ca(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| SettingsError::Ca(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(SettingsError::Ca(format!(
                    "{}: no certificate",
                    path.display()
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .map_err(|e| SettingsError::Ca(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The script's SHA-1, by which Redis names it once cached.
fn script_sha() -> &'static str {
    static SHA: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            SCRIPT.as_bytes(),
        )
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
    });
    &SHA
}

/// `EVALSHA sha numkeys keys... argv...`.
fn eval_args(charges: &[Charge], observations: &[Observation]) -> Vec<Vec<u8>> {
    let keys: usize = charges.iter().map(|c| c.keys.len()).sum::<usize>() + observations.len();
    let mut args = Vec::with_capacity(5 + keys + 4 * charges.len() + 8 * observations.len());
    args.push(b"EVALSHA".to_vec());
    args.push(script_sha().as_bytes().to_vec());
    args.push(keys.to_string().into_bytes());
    for c in charges {
        args.extend(c.keys.iter().map(|k| k.as_bytes().to_vec()));
    }
    args.extend(observations.iter().map(|o| o.key.as_bytes().to_vec()));
    args.push(charges.len().to_string().into_bytes());
    for c in charges {
        args.push(c.amount.to_string().into_bytes());
        args.push(c.ttl_ms.max(1).to_string().into_bytes());
        args.push(c.keys.len().to_string().into_bytes());
        args.push(
            c.refuse_over
                .map_or_else(|| "-1".to_owned(), |l| l.to_string())
                .into_bytes(),
        );
    }
    args.push(observations.len().to_string().into_bytes());
    for o in observations {
        let r = &o.rule;
        // Floats as Rust writes them: the shortest text that reads back as
        // the same number.
        for arg in [
            o.amount.to_string(),
            o.window.to_string(),
            r.alpha.to_string(),
            r.settle.to_string(),
            r.warmup.to_string(),
            r.sigmas.to_string(),
            r.min.to_string(),
            o.ttl_ms.max(1).to_string(),
        ] {
            args.push(arg.into_bytes());
        }
    }
    args
}

/// A reply, as far as chaperone reads one. An error's text is not kept:
/// it could echo what was sent.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Simple,
    Error,
    /// `EVALSHA` of a script the server has not cached.
    NoScript,
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Reply {
    /// An error reply, or a job's replies that hold one.
    fn refuses(&self) -> bool {
        match self {
            Reply::Error => true,
            Reply::Array(items) => items.contains(&Reply::Error),
            _ => false,
        }
    }
}

/// A command and its arguments in RESP.
fn encode_command<A: AsRef<[u8]>>(command: &[u8], args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(32 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    push_array(&mut out, 1 + args.len());
    push_bulk(&mut out, command);
    for a in args {
        push_bulk(&mut out, a.as_ref());
    }
    out
}

fn push_array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn push_bulk(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(a.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}

/// A command in RESP: an array of bulk strings.
fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    push_array(&mut out, args.len());
    for a in args {
        push_bulk(&mut out, a);
    }
    out
}

/// One reply: a scalar, or an array of scalars.
async fn read_reply(conn: &mut Conn) -> Result<Reply, StateError> {
    let (kind, line) = read_line(conn).await?;
    if kind != b'*' {
        return scalar(conn, kind, &line).await;
    }
    let n = line.parse::<i64>().map_err(|_| StateError::Protocol)?;
    let n = usize::try_from(n).map_err(|_| StateError::Protocol)?;
    if n > MAX_REPLY_ITEMS {
        return Err(StateError::Protocol);
    }
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let (kind, line) = read_line(conn).await?;
        items.push(scalar(conn, kind, &line).await?);
    }
    Ok(Reply::Array(items))
}

/// One reply line: its type byte and the rest, without CRLF.
async fn read_line(conn: &mut Conn) -> Result<(u8, String), StateError> {
    let mut buf = Vec::with_capacity(32);
    (&mut *conn)
        .take(MAX_REPLY_LINE as u64)
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|_| StateError::Io)?;
    let Some(line) = buf.strip_suffix(b"\r\n") else {
        return Err(StateError::Io);
    };
    let (&kind, rest) = line.split_first().ok_or(StateError::Protocol)?;
    let rest = String::from_utf8(rest.to_vec()).map_err(|_| StateError::Protocol)?;
    Ok((kind, rest))
}

async fn scalar(conn: &mut Conn, kind: u8, line: &str) -> Result<Reply, StateError> {
    match kind {
        b'+' => Ok(Reply::Simple),
        b'-' if line.starts_with("NOSCRIPT ") => Ok(Reply::NoScript),
        b'-' => Ok(Reply::Error),
        b':' => line
            .parse()
            .map(Reply::Int)
            .map_err(|_| StateError::Protocol),
        b'$' => {
            let n: i64 = line.parse().map_err(|_| StateError::Protocol)?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let n = usize::try_from(n).map_err(|_| StateError::Protocol)?;
            if n > MAX_REPLY_LINE {
                return Err(StateError::Protocol);
            }
            let mut body = vec![0; n + 2];
            conn.read_exact(&mut body)
                .await
                .map_err(|_| StateError::Io)?;
            body.truncate(n);
            Ok(Reply::Bulk(Some(body)))
        }
        _ => Err(StateError::Protocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_owned(),
            password_file: None,
            ca_file: None,
            pool: 4,
            timeout: Duration::from_millis(50),
        }
    }

    #[test]
    fn urls_name_a_host_and_port_only() {
        let s = RedisStore::new(&settings("redis://127.0.0.1:6380")).map_err(|e| e.to_string());
        let s = s.as_ref().map(|s| {
            (
                s.connector.host.as_str(),
                s.connector.port,
                s.connector.tls.is_some(),
            )
        });
        assert_eq!(s, Ok(("127.0.0.1", 6380, false)));
        let s = RedisStore::new(&settings("redis://cache.svc")).map(|s| s.connector.port);
        assert_eq!(s.ok(), Some(6379));
        for bad in [
            "http://x:1",
            "redis://user:secret@x:1",
            "redis://x:1/3",
            "redis://x:port",
            "redis://",
        ] {
            let e = RedisStore::new(&settings(bad)).map(|_| ());
            assert!(e.is_err(), "{bad}");
            assert!(!format!("{e:?}").contains("secret"));
        }
    }

    #[test]
    fn one_eval_carries_every_budget_and_anomaly() {
        let charges = [
            Charge {
                keys: vec!["a".into(), "b".into()],
                amount: 3,
                ttl_ms: 2_200,
                refuse_over: Some(10),
            },
            Charge {
                keys: vec!["c".into()],
                amount: 0,
                ttl_ms: 1_100,
                refuse_over: None,
            },
        ];
        let observations = [Observation {
            key: "d".into(),
            amount: 7,
            window: 472_222,
            rule: crate::anomaly::Rule {
                alpha: 2.0 / 169.0,
                settle: 84,
                warmup: 24,
                sigmas: 3.5,
                min: 50,
            },
            ttl_ms: 1_209_600_000,
        }];
        let args: Vec<String> = eval_args(&charges, &observations)
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect();
        assert_eq!(args[0], "EVALSHA");
        assert_eq!(args[1].len(), 40);
        assert!(args[1].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            &args[2..],
            [
                "4",
                "a",
                "b",
                "c",
                "d",
                "2",
                "3",
                "2200",
                "2",
                "10",
                "0",
                "1100",
                "1",
                "-1",
                "1",
                "7",
                "472222",
                "0.011834319526627219",
                "84",
                "24",
                "3.5",
                "50",
                "1209600000"
            ]
        );
        assert_eq!(args[19].parse::<f64>(), Ok(2.0 / 169.0));
    }
}
