//! The demo payments service over gRPC: `grpc-demo [PORT]` (9195 by default).
//! `grpc-demo --descriptors FILE` writes its descriptor set, for a policy's
//! `descriptors`.

mod service;

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--descriptors") {
        let file = args.next().ok_or("--descriptors FILE")?;
        std::fs::write(file, service::DESCRIPTORS)?;
        return Ok(());
    }
    let port: u16 = first.as_deref().unwrap_or("9195").parse()?;
    let svc = service::Service::start(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("demo payments service (gRPC) on {}", svc.addr);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
