//! chaperone's edge: the Envoy adapters (ext_authz, ext_proc), the admin API,
//! telemetry, TLS and the CLI, around the domain in `chaperone-core`.
#![forbid(unsafe_code)]

pub use chaperone_core::{
    anomaly, budget, clock, config, identity, policy, request_id, scrub, secret, token,
};

pub mod admin;
pub mod app;
pub mod authz;
pub mod cli;
pub mod connection;
pub mod edge;
pub mod ext_proc;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tls;

pub mod proto {
    //! chaperone's own gRPC API, compiled from `proto/chaperone/v1`, and the
    //! OTLP trace and logs services from `proto/opentelemetry`.
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
    /// The OTLP trace and logs services (`proto/opentelemetry`), for
    /// exporting spans and decision events.
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
            pub mod logs {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.logs.v1");
                }
            }
            pub mod collector {
                pub mod trace {
                    pub mod v1 {
                        tonic::include_proto!("opentelemetry.proto.collector.trace.v1");
                    }
                }
                pub mod logs {
                    pub mod v1 {
                        tonic::include_proto!("opentelemetry.proto.collector.logs.v1");
                    }
                }
            }
        }
    }
}
