//! An OTLP/gRPC collector on 127.0.0.1 (traces and logs) that keeps every
//! export request chaperone sends, for tests that look at spans and log
//! records.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use chaperone::proto::opentelemetry::proto::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use chaperone::proto::opentelemetry::proto::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use chaperone::proto::opentelemetry::proto::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use chaperone::proto::opentelemetry::proto::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use chaperone::proto::opentelemetry::proto::logs::v1::LogRecord;
use chaperone::proto::opentelemetry::proto::trace::v1::Span;
use prost::Message;

use super::local;

/// An OTLP/gRPC collector that keeps every export request.
#[derive(Clone, Default)]
pub struct Collector {
    got: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.logs.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.got.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    pub async fn start() -> (Self, u16, tokio::task::JoinHandle<()>) {
        let c = Self::default();
        let listener = tokio::net::TcpListener::bind(local(0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(c.clone()))
            .add_service(LogsServiceServer::new(c.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        let task = tokio::spawn(async move {
            let _ = server.await;
        });
        (c, port, task)
    }

    pub fn spans(&self) -> Vec<Span> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }

    pub fn log_records(&self) -> Vec<LogRecord> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| s.log_records.clone())
            .collect()
    }

    /// Every byte the collector received, spans and logs, for the leak scan.
    pub fn bytes(&self) -> Vec<u8> {
        let spans = self
            .got
            .lock()
            .unwrap()
            .iter()
            .flat_map(Message::encode_to_vec)
            .collect::<Vec<_>>();
        let logs = self
            .logs
            .lock()
            .unwrap()
            .iter()
            .flat_map(Message::encode_to_vec)
            .collect::<Vec<_>>();
        [spans, logs].concat()
    }

    pub fn in_trace(&self, trace_id: &[u8]) -> Vec<Span> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }
}
