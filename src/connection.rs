//! A gRPC connection's life. Envoy keeps its HTTP/2 connections to chaperone
//! for as long as they work, and a Kubernetes Service balances connections,
//! not calls: replicas the autoscaler adds would get nothing from the Envoys
//! already connected. So a connection past its maximum age is asked to go
//! (HTTP/2 GOAWAY): the streams it carries finish, Envoy opens a new
//! connection for what comes next, and the Service may place that one on
//! another replica. Streams still open when the grace after the age runs out
//! are cut, so that a connection's life stays bounded.

use std::future::Future;
use std::hash::BuildHasher;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, Router};

use crate::telemetry::metrics;

/// How long a gRPC connection is served before it is asked to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionAge {
    /// Each connection's age is this, give or take [`JITTER_PERCENT`];
    /// `None`: a connection lasts as long as its client keeps it.
    pub max: Option<Duration>,
    /// After the GOAWAY, the streams in flight have this long to finish.
    pub grace: Duration,
}

/// How far a connection's age strays from the maximum, either way, so that
/// connections opened together do not all go together.
pub const JITTER_PERCENT: u32 = 10;

impl ConnectionAge {
    /// Connections last as long as their clients keep them.
    pub const OFF: Self = Self {
        max: None,
        grace: Duration::ZERO,
    };

    /// A maximum age of zero turns ageing off.
    pub fn new(max: Duration, grace: Duration) -> Self {
        Self {
            max: (!max.is_zero()).then_some(max),
            grace,
        }
    }

    /// One connection's age: the maximum, give or take [`JITTER_PERCENT`],
    /// at random.
    fn pick(&self) -> Option<Duration> {
        self.max.map(|max| jittered(max, random_unit()))
    }
}

/// `max` moved by up to [`JITTER_PERCENT`] either way: `unit` 0 is the
/// shortest, 1 the longest.
fn jittered(max: Duration, unit: f64) -> Duration {
    let spread = f64::from(JITTER_PERCENT) / 100.0;
    max.mul_f64(1.0 - spread + 2.0 * spread * unit.clamp(0.0, 1.0))
}

/// A number in [0, 1) from the standard library's randomly keyed hasher
/// (every `RandomState` is keyed afresh): spread enough for jitter.
fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    // The top 53 bits, as many as an f64 holds exactly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Serves each connection from `incoming` on its own, with `router`'s
/// services, until `stop`: then it takes no more and every open connection
/// gets a GOAWAY; the future ends when all have closed.
pub async fn serve_connections<S, IO>(
    router: Router,
    incoming: S,
    stop: watch::Receiver<bool>,
    age: ConnectionAge,
) where
    S: Stream<Item = std::io::Result<IO>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let mut open = JoinSet::new();
    {
        let mut stop_rx = stop.clone();
        let mut stopped = pin!(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        });
        let mut incoming = pin!(incoming);
        loop {
            tokio::select! {
                () = &mut stopped => break,
                Some(_) = open.join_next(), if !open.is_empty() => {}
                conn = incoming.next() => match conn {
                    Some(Ok(io)) => {
                        open.spawn(serve_one(router.clone(), io, stop.clone(), age));
                    }
                    Some(Err(error)) => tracing::debug!(%error, "gRPC connection not accepted"),
                    None => break,
                },
            }
        }
    }
    while open.join_next().await.is_some() {}
}

/// Serves one connection until its client closes it, its age comes (GOAWAY,
/// then at most the grace), or serving stops (GOAWAY).
async fn serve_one<IO>(router: Router, io: IO, mut stop: watch::Receiver<bool>, age: ConnectionAge)
where
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let goaway_at = age.pick().map(|a| Instant::now() + a);
    let (closed_tx, closed_rx) = oneshot::channel::<()>();
    let io = Aged {
        io,
        cut: goaway_at.map(|at| Box::pin(tokio::time::sleep_until(at + age.grace))),
        cut_off: false,
        _closed: closed_tx,
    };
    let goaway = async move {
        let aged = async {
            match goaway_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let reason = tokio::select! {
            () = aged => "max_age",
            _ = stop.wait_for(|s| *s) => "drain",
            // The connection ended first: nothing to send.
            _ = closed_rx => return,
        };
        metrics::get()
            .grpc_goaways
            .with_label_values(&[reason])
            .inc();
    };
    // tonic serves what its incoming stream yields and, when the signal
    // comes, sends each connection a GOAWAY and waits for it to close: one
    // connection that never ends, and a signal of its own.
    let incoming = futures_util::stream::once(async { Ok::<_, std::io::Error>(io) })
        .chain(futures_util::stream::pending());
    if let Err(error) = router.serve_with_incoming_shutdown(incoming, goaway).await {
        tracing::debug!(%error, "gRPC connection failed");
    }
}

/// A connection that fails every read and write once its cut-off time has
/// passed, which ends it, and tells `_closed`'s receiver when it is dropped.
struct Aged<T> {
    io: T,
    cut: Option<Pin<Box<Sleep>>>,
    cut_off: bool,
    _closed: oneshot::Sender<()>,
}

impl<T> Aged<T> {
    fn check(&mut self, cx: &mut Context<'_>) -> std::io::Result<()> {
        if !self.cut_off {
            let due = self
                .cut
                .as_mut()
                .is_some_and(|cut| cut.as_mut().poll(cx).is_ready());
            if !due {
                return Ok(());
            }
            self.cut_off = true;
            metrics::get().grpc_connections_cut.inc();
            tracing::info!(
                "gRPC connection closed with streams still open after its maximum age and grace"
            );
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection past its maximum age and grace",
        ))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Aged<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Aged<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<T: Connected> Connected for Aged<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_turns_ageing_off() {
        let off = ConnectionAge::new(Duration::ZERO, Duration::from_secs(30));
        assert_eq!(off.max, None);
        assert_eq!(off.pick(), None);
        assert_eq!(ConnectionAge::OFF.pick(), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent_either_way() {
        let max = Duration::from_secs(300);
        assert_eq!(jittered(max, 0.0), Duration::from_secs(270));
        assert_eq!(jittered(max, 0.5), max);
        assert_eq!(jittered(max, 1.0), Duration::from_secs(330));
        let age = ConnectionAge::new(max, Duration::from_secs(30));
        let picks: Vec<Duration> = (0..200).filter_map(|_| age.pick()).collect();
        assert_eq!(picks.len(), 200);
        assert!(
            picks
                .iter()
                .all(|p| (Duration::from_secs(270)..=Duration::from_secs(330)).contains(p)),
            "{picks:?}"
        );
        // Spread over the range, not one age for every connection.
        let early = picks.iter().filter(|p| **p < max).count();
        assert!(
            (40..=160).contains(&early),
            "{early} of 200 below the maximum"
        );
    }
}
