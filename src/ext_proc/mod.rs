//! Envoy's `envoy.service.ext_proc.v3.ExternalProcessor`: one state machine
//! per HTTP stream. It finds the hop (from the ext_authz decision Envoy
//! forwards as metadata, the signed hop header, or by matching the request
//! headers again), then answers each phase under the hop's contract: request
//! headers and URL, bodies, response headers, trailers (`stream/`).

mod envelope;
mod marking;
mod stream;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessor;
use envoy_types::pb::envoy::service::ext_proc::v3::{ProcessingRequest, ProcessingResponse};
use futures_util::Stream;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status, Streaming};

pub use stream::{HopStream, StreamError};

use crate::app::App;
use crate::edge::refusal::Refusal;
use crate::telemetry::metrics;

pub use crate::edge::hop::AUTHZ_NAMESPACE;

/// Which ext_proc streams authorize their request (`--ext-proc-authorize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Authorize {
    /// Those whose Envoy sets `x-chaperone-authorize: true`; the others
    /// carry out ext_authz's decision. One chaperone serves both kinds of
    /// Envoy.
    Metadata,
    /// Every stream: for deployments with no ext_authz anywhere, where a
    /// forgotten marker must not leave requests undecided (and for Envoys
    /// that cannot set gRPC metadata, such as Envoy Gateway's).
    Always,
}

/// The gRPC metadata an Envoy sets on its ext_proc call (`grpc_service`
/// `initial_metadata`) when no ext_authz runs in front: chaperone then
/// authorizes each request at its request headers (envoy/edge-ext-proc.yaml).
pub const AUTHORIZE_METADATA: &str = "x-chaperone-authorize";

/// The gRPC metadata an Envoy sets on its ext_proc call when its filter
/// honours chaperone's `mode_override` to stream a body (`allow_mode_override`
/// with the streamed mode in `allowed_override_modes`): only then does
/// chaperone let server-sent events and NDJSON flow. Without it they are
/// judged whole, as Envoy would otherwise send the rest of a body it
/// buffered in part without asking.
pub const STREAM_METADATA: &str = "x-chaperone-stream";

#[derive(Debug, Clone, Copy)]
pub struct ExtProcLimits {
    /// Open streams at most; past it new streams are refused (Envoy then denies).
    pub max_streams: usize,
    /// Time to answer one message.
    pub message_timeout: Duration,
    /// Which streams authorize their request.
    pub authorize: Authorize,
}

impl Default for ExtProcLimits {
    fn default() -> Self {
        Self {
            max_streams: 10_000,
            message_timeout: Duration::from_secs(2),
            authorize: Authorize::Metadata,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExtProcService {
    app: Arc<App>,
    limits: ExtProcLimits,
    streams: Arc<Semaphore>,
}

impl ExtProcService {
    pub fn new(app: Arc<App>, limits: ExtProcLimits) -> Self {
        Self {
            app,
            limits,
            streams: Arc::new(Semaphore::new(limits.max_streams)),
        }
    }
}

type ProcessStream = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

/// Decrements the in-flight gauge however the stream ends.
struct InFlight(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl InFlight {
    fn new(permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        metrics::get().streams_in_flight.inc();
        Self(permit)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::get().streams_in_flight.dec();
    }
}

#[tonic::async_trait]
impl ExternalProcessor for ExtProcService {
    type ProcessStream = ProcessStream;

    async fn process(
        &self,
        request: Request<Streaming<ProcessingRequest>>,
    ) -> Result<Response<ProcessStream>, Status> {
        let permit = Arc::clone(&self.streams)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy.status("too many open streams"))?;
        let guard = InFlight::new(permit);
        let call_parent = crate::telemetry::trace::parent_of_call(request.metadata());
        // Envoy's configuration, not the client, says whether this stream
        // authorizes: gRPC initial metadata on Envoy's own call; a value
        // other than `true` is a mistake in it, refused rather than guessed.
        let authorize = match (
            self.limits.authorize,
            request.metadata().get(AUTHORIZE_METADATA),
        ) {
            (Authorize::Always, _) => true,
            (Authorize::Metadata, None) => false,
            (Authorize::Metadata, Some(v)) if v.as_bytes() == b"true" => true,
            (Authorize::Metadata, Some(_)) => {
                return Err(
                    Refusal::Protocol.status("x-chaperone-authorize is neither true nor absent")
                );
            }
        };
        let streams = match request.metadata().get(STREAM_METADATA) {
            None => false,
            Some(v) if v.as_bytes() == b"true" => true,
            Some(_) => {
                return Err(
                    Refusal::Protocol.status("x-chaperone-stream is neither true nor absent")
                );
            }
        };
        let inbound = request.into_inner();
        let state = HopStream::new(Arc::clone(&self.app))
            .with_trace_parent(call_parent)
            .authorizing(authorize)
            .streaming(streams);
        let timeout = self.limits.message_timeout;
        let out =
            futures_util::stream::unfold(Some((inbound, state, guard)), move |slot| async move {
                let (mut inbound, mut state, guard) = slot?;
                let msg = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return None,
                    // A message that cannot be read (larger than the bound,
                    // not protobuf) or a stream Envoy reset. Never a graceful
                    // end: Envoy takes one as "nothing more to judge" and sends
                    // the rest of the message on unjudged. An error makes it
                    // refuse (failure_mode_allow: false).
                    Err(status) => {
                        tracing::debug!(code = ?status.code(), "ext_proc stream failed");
                        metrics::get()
                            .ext_proc_errors
                            .with_label_values(&["unreadable"])
                            .inc();
                        return Some((Err(Refusal::Protocol.status("message unreadable")), None));
                    }
                };
                let started = std::time::Instant::now();
                let answer = tokio::time::timeout(timeout, state.on_message(msg)).await;
                metrics::get()
                    .process_seconds
                    .observe(started.elapsed().as_secs_f64());
                match answer {
                    Ok(Ok(resp)) => Some((Ok(resp), Some((inbound, state, guard)))),
                    Ok(Err(e)) => {
                        metrics::get()
                            .ext_proc_errors
                            .with_label_values(&[e.kind()])
                            .inc();
                        tracing::warn!(error = %e, "ext_proc stream refused");
                        Some((Err(e.into()), None))
                    }
                    Err(_) => {
                        metrics::get()
                            .ext_proc_errors
                            .with_label_values(&["timeout"])
                            .inc();
                        Some((Err(Refusal::Slow.status("message took too long")), None))
                    }
                }
            });
        Ok(Response::new(Box::pin(out)))
    }
}
