//! Safe hot reload through a real Envoy: policy changes (a broken one among
//! them) under continuous traffic, with zero failed or wrongly decided
//! requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

fn policy(version: &str, b_allowed: bool) -> String {
    let b = if b_allowed {
        "\n  - name: b\n    match: { host: \"*\", method: GET, path: /b }\n    from: [ { anonymous: true } ]"
    } else {
        ""
    };
    format!(
        "version: \"{version}\"\ntrust_domain: shop.test\nhops:\n  - name: a\n    match: {{ host: \"*\", method: GET, path: /a }}\n    from: [ {{ anonymous: true }} ]{b}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_traffic_without_a_wrong_decision() {
    let chaperone = Arc::new(Chaperone::start(&policy("v1", false)).await);
    let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
    let envoy = Arc::new(
        Envoy::start(
            edge_config(),
            &["ENVOY_HTTP_PORT"],
            edge_vars(&chaperone, &upstream),
        )
        .await,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // `/a` must always be allowed; `/b` is denied by v1 and may be allowed
    // once v2 is in force, but never again denied after that.
    let traffic = {
        let (envoy, stop, sent, wrong) = (
            Arc::clone(&envoy),
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&wrong),
        );
        tokio::spawn(async move {
            let client = http();
            let started = std::time::Instant::now();
            let mut b_opened = false;
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                let a = client
                    .get(envoy.url("ENVOY_HTTP_PORT", "/a"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                let b = client
                    .get(envoy.url("ENVOY_HTTP_PORT", "/b"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                sent.fetch_add(2, Ordering::Relaxed);
                let b_known = b == 200 || b == 403;
                if a != 200 || (b_opened && b != 200) || !b_known {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                b_opened |= b == 200;
            }
        })
    };
    let admin = format!("http://127.0.0.1:{}", chaperone.admin_port);
    let metric = |name: &'static str| {
        let admin = admin.clone();
        async move {
            let text = http()
                .get(format!("{admin}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .find(|l| l.starts_with(name))
                .map(|l| l.to_owned())
                .unwrap_or_default()
        }
    };
    assert_eventually!(sent.load(Ordering::Relaxed) > 50, "traffic");

    // A broken policy: rejected, v1 keeps serving, the error is visible.
    std::fs::write(&chaperone.policy_path, "version: broken\nhops: [ {").unwrap();
    assert_eventually!(
        metric("chaperone_policy_reloads_total{result=\"error\"}")
            .await
            .ends_with(" 1"),
        "the rejection"
    );
    assert!(
        metric("chaperone_policy_info")
            .await
            .contains("version=\"v1\"")
    );

    // v2 through a Kubernetes-style symlink swap: the file is replaced, not edited.
    let next = chaperone.dir.path("policy.next.yaml");
    std::fs::write(&next, policy("v2", true)).unwrap();
    std::fs::rename(&next, &chaperone.policy_path).unwrap();
    assert_eventually!(
        metric("chaperone_policy_info")
            .await
            .contains("version=\"v2\""),
        "v2"
    );
    let before = sent.load(Ordering::Relaxed);
    assert_eventually!(sent.load(Ordering::Relaxed) > before + 50, "traffic on v2");
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();

    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "of {} requests",
        sent.load(Ordering::Relaxed)
    );
    let log = chaperone.log();
    assert!(log.contains("policy reload rejected") && log.contains("policy reloaded"));
    // Every decision records the policy version it was made under.
    assert!(log.contains("\"policy_version\":\"v1\"") && log.contains("\"policy_version\":\"v2\""));
}
