//! A signing-key rotation across replicas, as the Helm chart deploys them:
//! two chaperone processes share one key directory (the chart's generated
//! Secret: a SEC1 P-256 key and `active-kid`) behind one Envoy cluster, and a
//! callee's sidecar Envoy verifies every token with jwt_authn, fetching the
//! JWKS through a cluster that spans both replicas. `chaperone keys rotate`
//! is run as an operator would (`--start` once, then again until it says the
//! rotation is complete) while traffic flows; no request may fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use serde_json::json;

const TXN_ISSUER: &str = "https://chaperone.shop.test";
const OLD_KID: &str = "chaperone-20260101-000000";
const NEW_KID: &str = "chaperone-next";
/// The sidecar's JWKS cache time; the rotation's publish wait exceeds it
/// plus the replicas' watch interval (200 ms in the tests).
const JWKS_CACHE: &str = "1s";
const PUBLISH_WAIT: &str = "3s";
/// Above the tokens' lifetime (tokens.max_ttl below) plus the watch interval.
const RETIRE_AFTER: &str = "3s";

fn policy(jwks_url: &str) -> String {
    format!(
        r#"
version: "rotation.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ url: "{jwks_url}" }}
tokens:
  issuer: {TXN_ISSUER}
  ttl: 2s
  max_ttl: 2s
hops:
  - name: read-order
    match: {{ host: orders.shop.test, method: GET, path: "/v1/orders/{{order_id}}" }}
    from:
      - users: {{ issuer: corp, scopes: ["orders:read"] }}
    token: {{ audience: orders, scope: [orders.read] }}
"#
    )
}

/// The key the chart generates: SEC1 "EC PRIVATE KEY", P-256.
fn write_sec1_key(dir: &TempDir, kid: &str) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let b64 = STANDARD.encode(pair.private_key().as_der().unwrap().as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
        body.join("\n")
    );
    std::fs::write(dir.path(&format!("{kid}.pem")), pem).unwrap();
    std::fs::write(dir.path("active-kid"), kid).unwrap();
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// A config's one endpoint line for `port_var`, doubled into a second
/// endpoint on `second_var`: one cluster over both replicas.
fn two_endpoints(config: &str, port_var: &str, second_var: &str) -> String {
    let line = config
        .lines()
        .find(|l| l.contains("- endpoint:") && l.contains(&format!("${{{port_var}}}")))
        .unwrap_or_else(|| panic!("no endpoint on ${{{port_var}}}"));
    config.replacen(
        line,
        &format!("{line}\n{}", line.replace(port_var, second_var)),
        1,
    )
}

/// The sidecar's count of successful JWKS fetches.
async fn jwks_fetches(sidecar: &Envoy) -> u64 {
    let url = format!(
        "http://127.0.0.1:{}/stats?filter=jwks_fetch_success",
        sidecar.admin_port
    );
    let stats = http().get(url).send().await.unwrap().text().await.unwrap();
    stats
        .lines()
        .filter_map(|l| {
            l.rsplit_once(": ")
                .and_then(|(_, n)| n.trim().parse::<u64>().ok())
        })
        .sum()
}

async fn minted(chaperone: &Chaperone) -> u64 {
    chaperone
        .metrics()
        .await
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"chaperone_tokens_minted_total{hop="read-order"} "#)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// One run of `chaperone keys rotate` on the shared directory: what it said.
fn rotate(dir: &TempDir, start: bool) -> String {
    let dir = dir.0.display().to_string();
    let mut args = vec![
        "keys",
        "rotate",
        &dir,
        "--publish-wait",
        PUBLISH_WAIT,
        "--retire-after",
        RETIRE_AFTER,
    ];
    if start {
        args.extend(["--start", "--kid", NEW_KID]);
    }
    let out = chaperone_cli(args, b"");
    assert!(
        out.status.success(),
        "keys rotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_rotate_their_shared_key_under_traffic_without_a_failure() {
    let idp = Idp::start().await;
    let keys = TempDir::new("shared-keys");
    write_sec1_key(&keys, OLD_KID);
    let key_dir = keys.0.display().to_string();
    let policy = policy(&idp.jwks_url());
    let replicas = [
        Chaperone::start_with(&policy, &["--signing-keys", &key_dir]).await,
        Chaperone::start_with(&policy, &["--signing-keys", &key_dir]).await,
    ];
    let upstream = Arc::new(Server::start(local(0), Role::Upstream).await.unwrap());
    let sidecar = Envoy::start_patched(
        "sidecar-jwt.yaml",
        &["SIDECAR_HTTP_PORT"],
        HashMap::from([
            ("CHAPERONE_ADMIN_PORT", replicas[0].admin_port.to_string()),
            ("CHAPERONE_ADMIN_PORT_2", replicas[1].admin_port.to_string()),
            ("UPSTREAM_PORT", upstream.port().to_string()),
            ("TXN_ISSUER", TXN_ISSUER.to_owned()),
            ("TXN_AUDIENCE", "orders".to_owned()),
            ("JWKS_CACHE_DURATION", JWKS_CACHE.to_owned()),
        ]),
        |c| two_endpoints(c, "CHAPERONE_ADMIN_PORT", "CHAPERONE_ADMIN_PORT_2"),
    )
    .await;
    let ingress = Envoy::start_patched(
        edge_config(),
        &["ENVOY_HTTP_PORT"],
        HashMap::from([
            ("CHAPERONE_GRPC_PORT", replicas[0].grpc_port.to_string()),
            ("CHAPERONE_GRPC_PORT_2", replicas[1].grpc_port.to_string()),
            (
                "UPSTREAM_PORT",
                sidecar.ports["SIDECAR_HTTP_PORT"].to_string(),
            ),
        ]),
        |c| two_endpoints(c, "CHAPERONE_GRPC_PORT", "CHAPERONE_GRPC_PORT_2"),
    )
    .await;

    // Traffic: two clients, each a request every 20 ms; bounded at 3 000
    // requests or 60 s, whichever comes first.
    let url = ingress.url("ENVOY_HTTP_PORT", "/v1/orders/o-7");
    let user = idp.token("alice", "orders:read", json!({}));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, sent) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (url, user, stop, ok, failed, sent) = (
                url.clone(),
                user.clone(),
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&failed),
                Arc::clone(&sent),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                let client = http();
                while !stop.load(Ordering::Relaxed)
                    && started.elapsed() < Duration::from_secs(60)
                    && sent.fetch_add(1, Ordering::Relaxed) < 3_000
                {
                    let answer = client
                        .get(&url)
                        .header("host", "orders.shop.test")
                        .header("authorization", format!("Bearer {user}"))
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    // Every token that reached the upstream passed the sidecar's jwt_authn.
    let verified_kids = || -> Vec<String> {
        upstream
            .take()
            .iter()
            .map(|r| kid_of(&r.headers["txn-token"]))
            .collect()
    };
    assert_eventually!(ok.load(Ordering::Relaxed) > 20, "traffic");
    let began = Instant::now();

    // 1. Publish: both replicas publish the new key, the old one still signs.
    let said = rotate(&keys, true);
    assert!(said.starts_with(&format!("published {NEW_KID}")), "{said}");
    for r in &replicas {
        let jwks = format!("http://127.0.0.1:{}/.well-known/jwks.json", r.admin_port);
        assert_eventually!(
            http()
                .get(&jwks)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .contains(NEW_KID),
            "replica on {} publishes {NEW_KID}",
            r.admin_port
        );
    }
    for start in [true, false] {
        let said = rotate(&keys, start);
        assert!(
            said.starts_with("waiting: switch"),
            "a run before its time, --start or not, waits: {said}"
        );
    }

    // 2. Switch, when due: the operator's loop runs the command again.
    let mut before_switch = Vec::new();
    assert_eventually!(
        {
            before_switch.extend(verified_kids());
            let said = rotate(&keys, false);
            assert!(!said.starts_with("retired"), "{said}");
            said.starts_with("switched")
        },
        "the switch"
    );
    let switched_after = began.elapsed();
    assert!(
        switched_after >= Duration::from_secs(3),
        "switched after {switched_after:?}, before the publish wait"
    );
    assert!(!before_switch.is_empty());
    assert!(
        before_switch.iter().all(|k| k == OLD_KID),
        "a token signed by the new key before the switch"
    );
    let minted_at_switch = [minted(&replicas[0]).await, minted(&replicas[1]).await];

    // 3. Retire, when due.
    let mut after_switch = Vec::new();
    assert_eventually!(
        {
            after_switch.extend(verified_kids());
            rotate(&keys, false).starts_with("retired")
        },
        "the retirement"
    );
    for r in &replicas {
        let jwks = format!("http://127.0.0.1:{}/.well-known/jwks.json", r.admin_port);
        assert_eventually!(
            !http()
                .get(&jwks)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
                .contains(OLD_KID),
            "replica on {} retires {OLD_KID}",
            r.admin_port
        );
    }
    // The sidecar drops the old key from its cache, and traffic goes on.
    let fetched = jwks_fetches(&sidecar).await;
    assert_eventually!(
        jwks_fetches(&sidecar).await >= fetched + 2,
        "the sidecar's JWKS refetch"
    );
    after_switch.extend(verified_kids());
    let at_retire = ok.load(Ordering::Relaxed);
    assert_eventually!(
        ok.load(Ordering::Relaxed) > at_retire + 50,
        "traffic after the rotation"
    );
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let after_retire = verified_kids();

    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(
        failed, 0,
        "no request may fail during the rotation ({ok} succeeded)"
    );
    assert!(
        after_switch.iter().any(|k| k == NEW_KID),
        "tokens signed by the new key were verified after the switch"
    );
    assert!(
        !after_retire.is_empty() && after_retire.iter().all(|k| k == NEW_KID),
        "after the rotation only the new key signs"
    );
    for (r, at_switch) in replicas.iter().zip(minted_at_switch) {
        assert!(
            minted(r).await > at_switch,
            "both replicas minted after the switch"
        );
    }
    let kept: Vec<String> = std::fs::read_dir(&keys.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pem"))
        .collect();
    assert_eq!(kept, [format!("{NEW_KID}.pem")]);
    eprintln!(
        "rotation: {ok} requests succeeded, none failed, in {:?} (switch after {switched_after:?})",
        began.elapsed()
    );
}
