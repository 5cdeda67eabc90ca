//! A do-nothing ext_authz + ext_proc server: `noop-ext GRPC_PORT`.
//!
//! The load benchmark's baseline (`.ci/bench-load.sh`, BENCHMARKS.md): Envoy
//! with both filters configured exactly as in `envoy/edge.yaml`, talking to a
//! server that does no work. `Authorization.Check` always answers OK with no
//! mutations; `ExternalProcessor.Process` answers every message with an empty
//! response of the matching kind (CONTINUE). The tonic server settings are
//! chaperone's (`src/server.rs`), and so is the allocator (mimalloc), so the
//! only difference from chaperone is the work chaperone does.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use chaperone::server::{
    MAX_CHECK_BYTES, MAX_PROCESS_BYTES, grpc_server_builder, grpc_threads, serve_grpc_threads,
};
use envoy_types::pb::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, OkHttpResponse, check_response::HttpResponse,
};
use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::{
    ExternalProcessor, ExternalProcessorServer,
};
use envoy_types::pb::envoy::service::ext_proc::v3::processing_request::Request as Phase;
use envoy_types::pb::envoy::service::ext_proc::v3::processing_response::Response as Answer;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    BodyResponse, CommonResponse, HeadersResponse, ProcessingRequest, ProcessingResponse,
    TrailersResponse,
};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use futures_util::Stream;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

/// chaperone's default `--max-concurrent-streams`.
const MAX_CONCURRENT_STREAMS: u32 = 1024;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy)]
struct Noop;

#[tonic::async_trait]
impl Authorization for Noop {
    async fn check(
        &self,
        _request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(CheckResponse {
            status: Some(RpcStatus::default()),
            dynamic_metadata: None,
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse::default())),
        }))
    }
}

fn headers() -> HeadersResponse {
    HeadersResponse {
        response: Some(CommonResponse::default()),
    }
}

fn body() -> BodyResponse {
    BodyResponse {
        response: Some(CommonResponse::default()),
    }
}

/// The empty answer of the kind Envoy expects for `phase`.
fn answer(phase: Phase) -> Answer {
    match phase {
        Phase::RequestHeaders(_) => Answer::RequestHeaders(headers()),
        Phase::RequestBody(_) => Answer::RequestBody(body()),
        Phase::RequestTrailers(_) => Answer::RequestTrailers(TrailersResponse::default()),
        Phase::ResponseHeaders(_) => Answer::ResponseHeaders(headers()),
        Phase::ResponseBody(_) => Answer::ResponseBody(body()),
        Phase::ResponseTrailers(_) => Answer::ResponseTrailers(TrailersResponse::default()),
    }
}

type ProcessStream = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalProcessor for Noop {
    type ProcessStream = ProcessStream;

    async fn process(
        &self,
        request: Request<Streaming<ProcessingRequest>>,
    ) -> Result<Response<ProcessStream>, Status> {
        let inbound = request.into_inner();
        let out = futures_util::stream::unfold(inbound, |mut inbound| async move {
            let msg = inbound.message().await.ok()??;
            let reply = match msg.request {
                Some(phase) => Ok(ProcessingResponse {
                    response: Some(answer(phase)),
                    ..ProcessingResponse::default()
                }),
                None => Err(Status::invalid_argument("message has no phase")),
            };
            Some((reply, inbound))
        });
        Ok(Response::new(Box::pin(out)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .ok_or("usage: noop-ext GRPC_PORT [--nagle]")?
        .parse()?;
    // TCP_NODELAY on accepted sockets, as chaperone's server.rs sets it.
    // `--nagle` leaves Nagle's algorithm on, as chaperone did before 9e23bd9;
    // BENCHMARKS.md shows what that costs a gRPC server.
    let nodelay = match args.next().as_deref() {
        None => true,
        Some("--nagle") => false,
        Some(other) => return Err(format!("unknown argument {other:?}").into()),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Served as chaperone serves: gRPC on CHAPERONE_WORKER_THREADS threads
    // (one per CPU when unset) that each own their connections, with
    // chaperone's server settings; a small runtime accepts.
    let threads = std::env::var("CHAPERONE_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        eprintln!("noop-ext: ext_authz + ext_proc on {addr} (tcp_nodelay: {nodelay})");
        let router = || {
            grpc_server_builder(MAX_CONCURRENT_STREAMS)
                .add_service(
                    AuthorizationServer::new(Noop).max_decoding_message_size(MAX_CHECK_BYTES),
                )
                .add_service(
                    ExternalProcessorServer::new(Noop).max_decoding_message_size(MAX_PROCESS_BYTES),
                )
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop_tx.send(true);
        });
        if nodelay {
            serve_grpc_threads(
                listener,
                grpc_threads(threads),
                Arc::new(router),
                None,
                stop_rx,
                chaperone::connection::ConnectionAge::OFF,
            )?
            .await?;
        } else {
            // One multi-threaded runtime with Nagle on: how chaperone served
            // before 9e23bd9 (configuration E).
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(false));
            router()
                .serve_with_incoming_shutdown(incoming, async move {
                    let mut stop = stop_rx;
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await?;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
