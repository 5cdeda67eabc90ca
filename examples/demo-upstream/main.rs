//! The demo's upstream and identity provider: `demo-upstream IDP_PORT UPSTREAM_PORT`.
//! With `DEMO_UPSTREAM_BODY` set, the upstream answers every request with that
//! body instead of echoing the request (the load benchmark's typical response).

mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use chaperone::token::{KeyKind, SigningKey};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let idp_port: u16 = args.next().as_deref().unwrap_or("9193").parse()?;
    let upstream_port: u16 = args.next().as_deref().unwrap_or("9194").parse()?;
    let key = Arc::new(SigningKey::generate(KeyKind::Es256, "demo-idp-1")?);
    let idp = server::Server::start(
        SocketAddr::from(([127, 0, 0, 1], idp_port)),
        server::Role::Idp(key),
    )
    .await?;
    let upstream = server::Server::start(
        SocketAddr::from(([127, 0, 0, 1], upstream_port)),
        match std::env::var("DEMO_UPSTREAM_BODY") {
            Ok(body) => server::Role::Fixed(body),
            Err(_) => server::Role::Upstream,
        },
    )
    .await?;
    eprintln!(
        "demo identity provider on {}, demo upstream on {}",
        idp.addr, upstream.addr
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
