//! Decision events as OpenTelemetry log records, exported over OTLP/gRPC to
//! the collector traces go to (`--otlp-logs`), for users whose log pipeline
//! is OpenTelemetry. Off unless asked for.
//!
//! Each record is a decision event as chaperone logs it (target
//! `chaperone::decision`): codes, hop names, decision and request ids,
//! keyed hashes and counts, never a value. Records wait in a bounded queue
//! and leave in batches; when the queue is full or the collector fails they
//! are dropped and counted, and a request never waits for the exporter.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use super::batch::{self, Msg};
use super::metrics;
use super::trace::{TraceError, TraceSettings, endpoint, resource, scope};
use crate::proto::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::proto::opentelemetry::proto::collector::logs::v1::logs_service_client::LogsServiceClient;
use crate::proto::opentelemetry::proto::common::v1::{AnyValue, KeyValue, any_value};
use crate::proto::opentelemetry::proto::logs::v1::{
    LogRecord, ResourceLogs, ScopeLogs, SeverityNumber,
};
use crate::proto::opentelemetry::proto::resource::v1::Resource;

/// The target decision events are logged under.
pub const DECISION_TARGET: &str = "chaperone::decision";

static EXPORTER: OnceLock<mpsc::Sender<Msg<LogRecord>>> = OnceLock::new();

/// Starts the exporter on the current runtime. Once per process.
pub fn install(settings: &TraceSettings) -> Result<(), TraceError> {
    let endpoint = endpoint(&settings.endpoint)?;
    if EXPORTER.get().is_none() {
        let sink = Records {
            client: LogsServiceClient::new(endpoint.connect_lazy()),
            resource: resource(&settings.service_name),
            failing: false,
        };
        let _ = EXPORTER.set(batch::start(sink));
    }
    Ok(())
}

/// Exports what is queued; waits two seconds at most. For the drain.
pub async fn flush() {
    if let Some(tx) = EXPORTER.get() {
        batch::flush(tx).await;
    }
}

/// The layer that hands decision events to the exporter (once installed);
/// it sees no other event.
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    Decisions.with_filter(tracing_subscriber::filter::filter_fn(|m| {
        m.target() == DECISION_TARGET
    }))
}

struct Decisions;

impl<S: tracing::Subscriber> Layer<S> for Decisions {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let Some(tx) = EXPORTER.get() else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let level = *event.metadata().level();
        let severity = match level {
            tracing::Level::ERROR => SeverityNumber::Error,
            tracing::Level::WARN => SeverityNumber::Warn,
            tracing::Level::INFO => SeverityNumber::Info,
            tracing::Level::DEBUG => SeverityNumber::Debug,
            tracing::Level::TRACE => SeverityNumber::Trace,
        };
        let record = LogRecord {
            time_unix_nano: now,
            observed_time_unix_nano: now,
            severity_number: severity as i32,
            severity_text: level.as_str().to_owned(),
            body: fields.message.map(|m| AnyValue {
                value: Some(any_value::Value::StringValue(m)),
            }),
            attributes: fields.attributes,
            event_name: "chaperone.decision".to_owned(),
        };
        if tx.try_send(Msg::Item(Box::new(record))).is_err() {
            metrics::get()
                .logs_dropped
                .with_label_values(&["queue_full"])
                .inc();
        }
    }
}

/// An event's fields as attributes, its message as the record's body.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    attributes: Vec<KeyValue>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: any_value::Value) {
        self.attributes.push(KeyValue {
            key: field.name().to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        });
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_owned()),
            _ => self.put(field, any_value::Value::StringValue(value.to_owned())),
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, any_value::Value::IntValue(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(
            field,
            any_value::Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX)),
        );
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, any_value::Value::BoolValue(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Log records to the collector's logs service.
struct Records {
    client: LogsServiceClient<tonic::transport::Channel>,
    resource: Resource,
    failing: bool,
}

impl batch::Sink<LogRecord> for Records {
    fn export(
        &mut self,
        records: Vec<LogRecord>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let n = records.len() as u64;
            let request = ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: Some(self.resource.clone()),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(scope()),
                        log_records: records,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            };
            let m = metrics::get();
            match self.client.export(request).await {
                Ok(_) => {
                    m.logs_exported.inc_by(n);
                    if self.failing {
                        tracing::info!("decision log export recovered");
                        self.failing = false;
                    }
                }
                Err(status) => {
                    m.logs_dropped
                        .with_label_values(&["export_failed"])
                        .inc_by(n);
                    // Once per failure streak: a dead collector must not flood the log.
                    if !self.failing {
                        tracing::warn!(code = ?status.code(), records = n, "decision log export failed; dropping records until the collector answers");
                        self.failing = true;
                    }
                }
            }
        })
    }
}
