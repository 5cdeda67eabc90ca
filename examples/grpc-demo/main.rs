//! The demo payments service over gRPC: `grpc-demo [PORT]` (9195 by default).
//! `grpc-demo --descriptors FILE` writes its descriptor set, for a policy's
//! `descriptors`; `grpc-demo --request FILE` a `Charge` request body, framed
//! as gRPC sends it (for load generators).

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
    if first.as_deref() == Some("--request") {
        let file = args.next().ok_or("--request FILE")?;
        let message = prost::Message::encode_to_vec(&service::sample_charge());
        let mut body = vec![0];
        body.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
        body.extend_from_slice(&message);
        std::fs::write(file, body)?;
        return Ok(());
    }
    let port: u16 = first.as_deref().unwrap_or("9195").parse()?;
    let svc = service::Service::start(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("demo payments service (gRPC) on {}", svc.addr);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
