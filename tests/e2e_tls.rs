//! mTLS between Envoy and chaperone: Envoy with its client certificate
//! works; a client with a certificate from another CA, or none, is refused;
//! certificate files are reloaded without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const POLICY: &str = r#"
version: "tls.1"
trust_domain: shop.test
hops:
  - name: health
    match: { host: "*", method: GET, path: /healthz }
    from:
      - anonymous: true
"#;

/// A gRPC health check with curl over TLS; `Ok(http status)` when the TLS
/// handshake and HTTP/2 exchange succeeded, `Err(curl exit code)` when not.
fn curl_health(port: u16, ca: &Path, client: Option<(&Path, &Path)>) -> Result<u16, i32> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "5",
    ])
    .args([
        "-X",
        "POST",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
    ])
    .args([
        "--data-binary",
        "",
        "--connect-to",
        &format!("localhost:{port}:127.0.0.1:{port}"),
    ])
    .arg("--cacert")
    .arg(ca);
    if let Some((cert, key)) = client {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    cmd.arg(format!(
        "https://localhost:{port}/grpc.health.v1.Health/Check"
    ));
    let out = cmd.output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0))
    } else {
        Err(out.status.code().unwrap_or(-1))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_envoy_with_a_mesh_certificate_reaches_chaperone() {
    let pki = common::pki::Pki::new();
    let (server_cert, server_key) = pki.write_leaf("chaperone", &["localhost"], None);
    let (envoy_cert, envoy_key) = pki.write_leaf(
        "envoy-client",
        &["envoy"],
        Some("spiffe://shop.test/ns/edge/sa/envoy"),
    );
    let ca = pki.dir.path("ca.pem");
    let health_port = free_port();
    let args = [
        "--tls-cert".to_owned(),
        server_cert.display().to_string(),
        "--tls-key".to_owned(),
        server_key.display().to_string(),
        "--tls-client-ca".to_owned(),
        ca.display().to_string(),
        "--health-addr".to_owned(),
        format!("127.0.0.1:{health_port}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let chaperone = Chaperone::start_with(POLICY, &args).await;
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let mut vars = edge_vars(&chaperone, &upstream);
    vars.insert("TLS_DIR", pki.dir.0.display().to_string());
    let envoy = Envoy::start("edge-tls.yaml", &["ENVOY_HTTP_PORT"], vars).await;

    // Envoy, holding a certificate from the mesh CA: ext_authz and ext_proc work.
    let resp = http()
        .get(envoy.url("ENVOY_HTTP_PORT", "/healthz"))
        .header("host", "any.shop.test")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}\n{}", envoy.log(), chaperone.log());
    assert_eq!(upstream.take().len(), 1);

    // The same with curl and Envoy's certificate: the handshake succeeds.
    assert_eq!(
        curl_health(chaperone.grpc_port, &ca, Some((&envoy_cert, &envoy_key))),
        Ok(200)
    );
    // No client certificate, or one from another CA: refused in the handshake.
    assert!(curl_health(chaperone.grpc_port, &ca, None).is_err());
    let other = common::pki::Pki::new();
    let (foreign_cert, foreign_key) = other.write_leaf("intruder", &["intruder"], None);
    assert!(
        curl_health(
            chaperone.grpc_port,
            &ca,
            Some((&foreign_cert, &foreign_key))
        )
        .is_err()
    );
    // Plaintext on the TLS port: refused.
    let plain = Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
        ])
        .arg(format!(
            "http://127.0.0.1:{}/grpc.health.v1.Health/Check",
            chaperone.grpc_port
        ))
        .status()
        .unwrap();
    assert!(!plain.success());
    // The plaintext health port answers probes without a certificate.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args([
            "-X",
            "POST",
            "-H",
            "content-type: application/grpc",
            "--data-binary",
            "",
        ])
        .arg(format!(
            "http://127.0.0.1:{health_port}/grpc.health.v1.Health/Check"
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");

    // Reload: chaperone's certificate is replaced by one from a new CA. New
    // connections present it without a restart.
    let next = common::pki::Pki::new();
    let (next_cert, next_key) = next.write_leaf("chaperone", &["localhost"], None);
    let next_ca = next.dir.path("ca.pem");
    assert!(
        curl_health(
            chaperone.grpc_port,
            &next_ca,
            Some((&envoy_cert, &envoy_key))
        )
        .is_err()
    );
    std::fs::copy(&next_key, &server_key).unwrap();
    std::fs::copy(&next_cert, &server_cert).unwrap();
    assert_eventually!(
        curl_health(
            chaperone.grpc_port,
            &next_ca,
            Some((&envoy_cert, &envoy_key))
        ) == Ok(200),
        "the new server certificate"
    );
    assert!(chaperone.log().contains("TLS certificates reloaded"));
}

/// SIGHUP reloads the TLS files too (as it does the policy and the keys):
/// with file polling off, a new certificate is served only after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificates() {
    let pki = common::pki::Pki::new();
    let (server_cert, server_key) = pki.write_leaf("chaperone", &["localhost"], None);
    let (client_cert, client_key) = pki.write_leaf("envoy-client", &["envoy"], None);
    let ca = pki.dir.path("ca.pem");
    let args = [
        "--tls-cert".to_owned(),
        server_cert.display().to_string(),
        "--tls-key".to_owned(),
        server_key.display().to_string(),
        "--tls-client-ca".to_owned(),
        ca.display().to_string(),
        "--watch-interval".to_owned(),
        "1h".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let chaperone = Chaperone::start_with(POLICY, &args).await;
    let client = Some((client_cert.as_path(), client_key.as_path()));
    assert_eq!(curl_health(chaperone.grpc_port, &ca, client), Ok(200));

    // A certificate from a new CA (the client CA stays): not served until
    // SIGHUP, since nothing polls the files.
    let next = common::pki::Pki::new();
    let (next_cert, next_key) = next.write_leaf("chaperone", &["localhost"], None);
    let next_ca = next.dir.path("ca.pem");
    std::fs::copy(&next_key, &server_key).unwrap();
    std::fs::copy(&next_cert, &server_cert).unwrap();
    assert_eq!(curl_health(chaperone.grpc_port, &ca, client), Ok(200));
    assert!(curl_health(chaperone.grpc_port, &next_ca, client).is_err());

    chaperone.signal("HUP");
    assert_eventually!(
        curl_health(chaperone.grpc_port, &next_ca, client) == Ok(200),
        "the new server certificate after SIGHUP"
    );
    let log = chaperone.log();
    assert!(log.contains("TLS certificates reloaded"), "{log}");
    assert!(log.contains("\"trigger\":\"sighup\""), "{log}");
}
