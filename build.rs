//! Compiles chaperone's own gRPC API and the OTLP trace and logs services with protox,
//! so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(
        [
            "chaperone/v1/admin.proto",
            "opentelemetry/proto/collector/trace/v1/trace_service.proto",
            "opentelemetry/proto/collector/logs/v1/logs_service.proto",
            "chaperone/demo/v1/payments.proto",
        ],
        ["proto"],
    )?;
    // The demo service's descriptor set, as `protoc --descriptor_set_out`
    // writes one: what a policy's `descriptors` names (tests, examples).
    let demo = protox::compile(["chaperone/demo/v1/payments.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("payments.binpb"),
        prost::Message::encode_to_vec(&demo),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
