//! Traces: OpenTelemetry spans exported over OTLP/gRPC, off unless an
//! endpoint is configured.
//!
//! The trace context is the one Envoy forwards: the `traceparent` of the gRPC
//! call (set when Envoy itself traces), else the `traceparent` of the HTTP
//! request being decided, else a new trace. Sampling follows the parent's
//! flag; new traces are sampled at the configured ratio.
//!
//! A span's attributes are codes, hop names, decision ids, policy versions
//! and counts, never a path, a header value, a principal, a token or a body
//! value. Spans wait in a bounded queue and leave in batches; when the queue
//! is full or the collector fails, spans are dropped and counted, and a
//! request never waits for the exporter.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::batch::{self, Msg};
use super::metrics;
use crate::proto::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::opentelemetry::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use crate::proto::opentelemetry::proto::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use crate::proto::opentelemetry::proto::resource::v1::Resource;
use crate::proto::opentelemetry::proto::trace::v1::{
    ResourceSpans, ScopeSpans, Span as OtlpSpan, Status, span, status,
};

#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// `http://host:port` of an OTLP/gRPC collector.
    pub endpoint: String,
    pub service_name: String,
    /// Share of new traces (no sampled parent) that are recorded, 0 to 1.
    pub sample_ratio: f64,
    /// Decision events go to the same collector as log records
    /// (telemetry::logs).
    pub logs: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(
        "OTLP endpoint {0:?}: only http://host:port (OTLP/gRPC without TLS, to a local collector) is supported"
    )]
    Scheme(String),
    #[error("OTLP endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("trace sample ratio must be between 0 and 1")]
    Ratio,
}

struct Tracer {
    tx: mpsc::Sender<Msg<OtlpSpan>>,
    ratio: f64,
}

static TRACER: OnceLock<Tracer> = OnceLock::new();

/// Whether spans are being recorded at all (cheap; call before extracting context).
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// Starts the exporter on the current runtime. Once per process.
pub fn install(settings: &TraceSettings) -> Result<(), TraceError> {
    if !(0.0..=1.0).contains(&settings.sample_ratio) {
        return Err(TraceError::Ratio);
    }
    let endpoint = endpoint(&settings.endpoint)?;
    let resource = resource(&settings.service_name);
    if TRACER.get().is_none() {
        let sink = Spans {
            client: TraceServiceClient::new(endpoint.connect_lazy()),
            resource,
            failing: false,
        };
        let _ = TRACER.set(Tracer {
            tx: batch::start(sink),
            ratio: settings.sample_ratio,
        });
    }
    Ok(())
}

/// What chaperone says of itself to a collector.
pub(super) fn resource(service_name: &str) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", text(service_name)),
            kv("service.version", text(env!("CARGO_PKG_VERSION"))),
        ],
        ..Resource::default()
    }
}

/// The instrumentation scope of everything chaperone exports.
pub(super) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "chaperone".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    }
}

/// The OTLP/gRPC endpoint of a collector, checked.
pub(super) fn endpoint(endpoint: &str) -> Result<tonic::transport::Endpoint, TraceError> {
    if !endpoint.starts_with("http://") {
        return Err(TraceError::Scheme(endpoint.to_owned()));
    }
    Ok(tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| TraceError::Endpoint {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(2))
        .timeout(batch::EXPORT_TIMEOUT))
}

/// Exports what is queued; waits two seconds at most. For the drain.
pub async fn flush() {
    if let Some(t) = TRACER.get() {
        batch::flush(&t.tx).await;
    }
}

/// Spans to the collector's trace service.
struct Spans {
    client: TraceServiceClient<tonic::transport::Channel>,
    resource: Resource,
    failing: bool,
}

impl batch::Sink<OtlpSpan> for Spans {
    fn export(
        &mut self,
        spans: Vec<OtlpSpan>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let n = spans.len() as u64;
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(self.resource.clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope()),
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            };
            let m = metrics::get();
            match self.client.export(request).await {
                Ok(_) => {
                    m.spans_exported.inc_by(n);
                    if self.failing {
                        tracing::info!("trace export recovered");
                        self.failing = false;
                    }
                }
                Err(status) => {
                    m.spans_dropped
                        .with_label_values(&["export_failed"])
                        .inc_by(n);
                    // Once per failure streak: a dead collector must not flood the log.
                    if !self.failing {
                        tracing::warn!(code = ?status.code(), spans = n, "trace export failed; dropping spans until the collector answers");
                        self.failing = true;
                    }
                }
            }
        })
    }
}

/// Where a span hangs in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: [u8; 16],
    /// `None`: the span starts a new trace.
    pub span_id: Option<[u8; 8]>,
    pub sampled: bool,
    /// The parent span is in another process (Envoy, or the caller).
    pub remote: bool,
}

impl Parent {
    /// A W3C `traceparent` value: `00-<32 hex>-<16 hex>-<2 hex flags>`. Later
    /// versions are read by the same fields, as the recommendation says.
    pub fn from_traceparent(value: &str) -> Option<Self> {
        let b = value.trim().as_bytes();
        if b.len() < 55 || (b.len() > 55 && b.get(55) != Some(&b'-')) {
            return None;
        }
        let version = hex::<1>(&b[0..2])?;
        if version[0] == 0xff || (version[0] == 0 && b.len() != 55) {
            return None;
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let trace_id = hex::<16>(&b[3..35])?;
        let span_id = hex::<8>(&b[36..52])?;
        let flags = hex::<1>(&b[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id: Some(span_id),
            sampled: flags[0] & 1 == 1,
            remote: true,
        })
    }

    /// A context from the HTTP request itself (not from Envoy's own call):
    /// followed, but recorded at most at the sample ratio, so that a client
    /// cannot raise the trace volume by marking its requests sampled.
    pub fn capped(mut self) -> Self {
        let ratio = TRACER.get().map_or(0.0, |t| t.ratio);
        self.sampled = self.sampled && ratio_says_yes(&self.trace_id, ratio);
        self
    }

    /// A new trace, sampled at the configured ratio.
    pub fn root() -> Option<Self> {
        let ratio = TRACER.get()?.ratio;
        let mut trace_id = [0u8; 16];
        let _ = aws_lc_rs::rand::fill(&mut trace_id);
        Some(Self {
            trace_id,
            span_id: None,
            sampled: ratio_says_yes(&trace_id, ratio),
            remote: false,
        })
    }
}

/// As OpenTelemetry's TraceIdRatioBased sampler: the trace id's low 63 bits
/// against the ratio, so every span of a trace gets the same answer.
fn ratio_says_yes(trace_id: &[u8; 16], ratio: f64) -> bool {
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    let draw = u64::from_be_bytes(low) >> 1;
    (draw as f64) < ratio * (1u64 << 63) as f64
}

impl Parent {}

/// Envoy's own trace context on a gRPC call (sent when Envoy traces).
pub fn parent_of_call(metadata: &tonic::metadata::MetadataMap) -> Option<Parent> {
    metadata
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(Parent::from_traceparent)
}

/// The HTTP request's own `traceparent`, among the headers Envoy reports
/// (`value` or `raw_value`), capped at the sample ratio.
pub fn parent_in_headers(
    headers: &[envoy_types::pb::envoy::config::core::v3::HeaderValue],
) -> Option<Parent> {
    let h = headers
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case("traceparent"))?;
    Parent::from_traceparent(crate::edge::headers::text(h)?).map(Parent::capped)
}

fn hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(s[2 * i])? << 4) | digit(s[2 * i + 1])?;
    }
    Some(out)
}

/// A span being recorded; it is queued for export by `end`.
#[derive(Debug)]
pub struct Span {
    inner: OtlpSpan,
}

/// Starts a server span under `parent`, if tracing is on and the trace is sampled.
pub fn start(name: &'static str, parent: Option<Parent>) -> Option<Span> {
    TRACER.get()?;
    let parent = parent.or_else(Parent::root)?;
    if !parent.sampled {
        return None;
    }
    let mut span_id = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut span_id);
    Some(Span {
        inner: OtlpSpan {
            trace_id: parent.trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: parent.span_id.map(|s| s.to_vec()).unwrap_or_default(),
            name: name.into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: now_nanos(),
            // Sampled; bit 8 says bit 9 (the parent is remote) is meaningful.
            flags: 0x01 | 0x100 | u32::from(parent.remote) << 9,
            ..OtlpSpan::default()
        },
    })
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn text(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_owned())
}

impl Span {
    /// The context for child spans of this one.
    pub fn context(&self) -> Parent {
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        trace_id.copy_from_slice(&self.inner.trace_id);
        span_id.copy_from_slice(&self.inner.span_id);
        Parent {
            trace_id,
            span_id: Some(span_id),
            sampled: true,
            remote: false,
        }
    }

    /// A text attribute. Callers pass codes, names and ids, never values.
    pub fn text(&mut self, key: &'static str, value: &str) {
        self.inner.attributes.push(kv(key, text(value)));
    }

    pub fn int(&mut self, key: impl Into<Cow<'static, str>>, value: i64) {
        self.inner.attributes.push(kv(
            key.into().into_owned(),
            any_value::Value::IntValue(value),
        ));
    }

    pub fn flag(&mut self, key: &'static str, value: bool) {
        self.inner
            .attributes
            .push(kv(key, any_value::Value::BoolValue(value)));
    }

    /// Marks the span failed, with a code (never a detail that could hold a value).
    pub fn error(&mut self, code: &str) {
        self.inner.status = Some(Status {
            message: code.to_owned(),
            code: status::StatusCode::Error as i32,
        });
    }

    /// Ends the span and queues it; dropped (and counted) if the queue is full.
    pub fn end(mut self) {
        self.inner.end_time_unix_nano = now_nanos();
        let Some(t) = TRACER.get() else { return };
        if t.tx.try_send(Msg::Item(Box::new(self.inner))).is_err() {
            metrics::get()
                .spans_dropped
                .with_label_values(&["queue_full"])
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parsing() {
        let p = Parent::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
        assert_eq!(p.trace_id[0], 0x4b);
        assert_eq!(p.span_id.unwrap()[7], 0xb7);
        assert!(p.sampled);
        let p = Parent::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .unwrap();
        assert!(!p.sampled);
        // A later version may append fields after a dash.
        assert!(
            Parent::from_traceparent(
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
            )
            .is_some()
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(Parent::from_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn off_means_no_spans() {
        // No exporter is installed in unit tests.
        assert!(!enabled());
        assert!(
            start(
                "x",
                Parent::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            )
            .is_none()
        );
    }
}
