//! Compiles chaperone's own gRPC API and the OTLP trace service with protox,
//! so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(
        [
            "chaperone/v1/admin.proto",
            "opentelemetry/proto/collector/trace/v1/trace_service.proto",
        ],
        ["proto"],
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
