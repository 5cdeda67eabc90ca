//! chaperone: authorizes every hop between services as Envoy's ext_authz
//! service and enforces each hop's data contract as Envoy's ext_proc service.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod ext_proc;
pub mod identity;
pub mod policy;
pub mod scrub;
pub mod secret;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod token;

pub mod proto {
    //! chaperone's own gRPC API, compiled from `proto/chaperone/v1`, and the
    //! OTLP trace service from `proto/opentelemetry`.
    #![allow(
        clippy::all,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        missing_docs
    )]
    pub mod v1 {
        tonic::include_proto!("chaperone.v1");
    }
    /// The OTLP trace service (`proto/opentelemetry`), for exporting spans.
    pub mod opentelemetry {
        pub mod proto {
            pub mod common {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.common.v1");
                }
            }
            pub mod resource {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.resource.v1");
                }
            }
            pub mod trace {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.trace.v1");
                }
            }
            pub mod collector {
                pub mod trace {
                    pub mod v1 {
                        tonic::include_proto!("opentelemetry.proto.collector.trace.v1");
                    }
                }
            }
        }
    }
}
