//! Data-egress budgets and anomaly alerts end to end: a real Envoy in front
//! of TWO chaperone replicas (one cluster) that share one real
//! redis-server. A caller's budget holds across both replicas, another
//! caller's is its own, the window rolls over, a request-side budget keeps
//! the request from the callee, and with the store killed mid-traffic each
//! budget does what its `on_store_error` says, within a bounded time, until
//! the store is back (which /readyz sees without traffic). A caller's
//! steady rhythm raises no anomaly; a drain does, and passes. Records
//! budgets count the elements of a named array that cross, in a whole body,
//! a body that flows and a request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use chaperone::state::OPEN_AFTER;
use common::redis::Redis;
use common::*;

/// The window of the budgets below: short, to see it roll over.
const WINDOW: Duration = Duration::from_secs(3);
/// chaperone's --state-timeout: the longest wait for the store per message.
const STATE_TIMEOUT: Duration = Duration::from_millis(50);
/// Longest a request may take while the store is dead (the timeout per
/// message; Envoy and a loaded machine add the rest).
const DEAD_STORE_BOUND: Duration = Duration::from_millis(750);

fn policy(jwks_url: &str) -> String {
    format!(
        r#"
version: "budgets.1"
trust_domain: shop.test
issuers:
  - name: corp
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [ES256]
    jwks: {{ url: "{jwks_url}" }}
data_classes:
  card_number: {{ detect: [pan], action: mask_pan }}
defaults:
  scan: [card_number]
  # The test upstream answers with what these headers say: passed as sent.
  request: {{ headers: {{ allow: ["x-demo-*"] }} }}
hops:
  - name: list-cards
    match: {{ host: api.shop.test, method: GET, path: /v1/cards }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    budgets:
      - {{ name: cards, direction: response, count: findings, classes: [card_number], window: 3s, limit: 5, action: block }}
      - {{ name: cards-watch, direction: response, count: findings, window: 3s, limit: 3, action: alert }}
  - name: profile
    match: {{ host: api.shop.test, method: GET, path: /v1/profile }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    budgets:
      - {{ name: profile-cards, direction: response, count: findings, window: 3s, limit: 100, action: block, on_store_error: allow }}
  - name: upload
    match: {{ host: api.shop.test, method: POST, path: /v1/uploads }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    budgets:
      - {{ name: upload-bytes, direction: request, count: bytes, window: 3s, limit: 100, action: block }}
  # Only alerts: its responses do not wait for the store.
  - name: watch
    match: {{ host: api.shop.test, method: GET, path: /v1/watch }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    budgets:
      - {{ name: watch-cards, direction: response, count: findings, window: 60s, limit: 3, action: alert }}
  - name: exports
    match: {{ host: api.shop.test, method: GET, path: /v1/exports }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    anomalies:
      - {{ name: export-normal, direction: response, count: findings, classes: [card_number], window: 1s, sigmas: 3, min: 2, history: 10s, warmup: 3 }}
  # Records: the elements of a named array that cross, per caller.
  - name: list-orders
    match: {{ host: api.shop.test, method: GET, path: /v1/orders }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    response:
      body: {{ allow: ["orders[*].id", next], unknown: drop }}
    budgets:
      - {{ name: orders, direction: response, count: records, path: "orders[*]", window: 60s, limit: 5, action: block }}
  - name: feed
    match: {{ host: api.shop.test, method: GET, path: /v1/feed }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    response:
      body: {{ stream: true }}
    budgets:
      - {{ name: lines, direction: response, count: records, path: "[*]", window: 60s, limit: 5, action: block }}
  # An export its contract cuts after three cards: what crossed before the
  # cut counts.
  - name: export-cut
    match: {{ host: api.shop.test, method: GET, path: /v1/export }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    response:
      body: {{ stream: true, limit: {{ findings: 3, action: block }} }}
    budgets:
      - {{ name: export-cards, direction: response, count: findings, window: 60s, limit: 5, action: block }}
  - name: import
    match: {{ host: api.shop.test, method: POST, path: /v1/import }}
    from: [ {{ users: {{ issuer: corp }} }} ]
    budgets:
      - {{ name: items, direction: request, count: records, path: "data.items[*]", window: 60s, limit: 5, action: block }}
"#
    )
}

/// Two cards in each response.
const CARDS: &str = r#"{"cards":["4111 1111 1111 1111","5500 0000 0000 0004"]}"#;

struct Stack {
    redis: Redis,
    idp: Idp,
    replicas: [Chaperone; 2],
    upstream: Server,
    envoy: Envoy,
}

impl Stack {
    async fn start() -> Self {
        let redis = Redis::start();
        let idp = Idp::start().await;
        let keys = TempDir::new("budget-keys");
        let hash_key = keys.path("hash.key");
        std::fs::write(&hash_key, [42u8; 32]).unwrap();
        let policy = policy(&idp.jwks_url());
        let url = redis.url();
        let args = [
            "--state",
            url.as_str(),
            "--state-timeout",
            &format!("{}ms", STATE_TIMEOUT.as_millis()),
            "--state-retry-after",
            "1s",
            "--hash-key-file",
            hash_key.to_str().unwrap(),
        ];
        let replicas = [
            Chaperone::start_with(&policy, &args).await,
            Chaperone::start_with(&policy, &args).await,
        ];
        let upstream = Server::start(local(0), Role::Upstream).await.unwrap();
        let mut vars = edge_vars(&replicas[0], &upstream);
        vars.insert("CHAPERONE_GRPC_PORT_2", replicas[1].grpc_port.to_string());
        // One cluster, both replicas. Weighted 2:1, Envoy's round robin
        // sends the request's Check and its ext_proc stream to either, in
        // turn (equal weights would put every stream on one of them).
        let one = "- endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${CHAPERONE_GRPC_PORT} } } }";
        let envoy = Envoy::start_patched(edge_config(), &["ENVOY_HTTP_PORT"], vars, |t| {
            assert!(t.contains(one));
            let second = one.replace("CHAPERONE_GRPC_PORT", "CHAPERONE_GRPC_PORT_2");
            let both = format!(
                "{one}\n                load_balancing_weight: 2\n              {second}\n                load_balancing_weight: 1"
            );
            t.replace(one, &both)
        })
        .await;
        Self {
            redis,
            idp,
            replicas,
            upstream,
            envoy,
        }
    }

    fn bearer(&self, user: &str) -> String {
        format!(
            "Bearer {}",
            self.idp.token(user, "cards:read", serde_json::json!({}))
        )
    }

    /// What each replica's /readyz says.
    async fn readyz(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.replicas {
            let url = format!("http://127.0.0.1:{}/readyz", r.admin_port);
            out.push(http().get(url).send().await.unwrap().text().await.unwrap());
        }
        out
    }

    /// `GET path` as `user`, the upstream answering `body`: the status,
    /// the body, and how long it took.
    async fn get(&self, user: &str, path: &str, body: &str) -> (u16, String, Duration) {
        let started = Instant::now();
        let r = http()
            .get(self.envoy.url("ENVOY_HTTP_PORT", path))
            .header("host", "api.shop.test")
            .header("authorization", self.bearer(user))
            .header("x-demo-body", body)
            .header("x-demo-content-type", "application/json")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, text, started.elapsed())
    }

    async fn cards(&self, user: &str) -> (u16, String, Duration) {
        self.get(user, "/v1/cards", CARDS).await
    }

    async fn upload(&self, user: &str, body: &str) -> u16 {
        http()
            .post(self.envoy.url("ENVOY_HTTP_PORT", "/v1/uploads"))
            .header("host", "api.shop.test")
            .header("authorization", self.bearer(user))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A metric's value once the round trips responses did not wait for
    /// (alerts only) are over: each ends within chaperone's --state-timeout.
    async fn settled_metric(&self, line_prefix: &str) -> f64 {
        tokio::time::sleep(STATE_TIMEOUT * 4).await;
        self.metric(line_prefix).await
    }

    /// A metric's value summed over both replicas' /metrics.
    async fn metric(&self, line_prefix: &str) -> f64 {
        let mut sum = 0.0;
        for r in &self.replicas {
            sum += r
                .metrics()
                .await
                .lines()
                .filter(|l| l.starts_with(line_prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        sum
    }

    /// Each replica's decision events for `hop`'s responses (headers and
    /// bodies).
    fn response_events(&self, hop: &str) -> [Vec<serde_json::Value>; 2] {
        self.replicas.each_ref().map(|r| {
            decision_events(&r.log())
                .into_iter()
                .filter(|e| {
                    e["hop"] == hop
                        && e["phase"]
                            .as_str()
                            .is_some_and(|p| p.starts_with("response_"))
                })
                .collect()
        })
    }
}

/// The store holds budget buckets, each under a keyed hash and its number,
/// and nothing else.
fn budget_keys_only(redis: &Redis) {
    let keys = redis.keys();
    assert!(!keys.is_empty());
    for k in &keys {
        let (hash, bucket) = k
            .strip_prefix("chaperone:b:")
            .and_then(|r| r.split_once(':'))
            .unwrap_or_default();
        assert!(
            hash.len() == 32 && hash.bytes().all(|c| c.is_ascii_hexdigit()),
            "{k}"
        );
        assert!(bucket.parse::<u64>().is_ok(), "{k}");
    }
}

fn refused_for_budget(status: u16, body: &str, error: &str) -> bool {
    let code = match error {
        "budget_exceeded" => 429,
        _ => 503,
    };
    status == code
        && serde_json::from_str::<serde_json::Value>(body)
            .is_ok_and(|b| b["error"] == error && b["decision_id"].is_string())
}

/// The tests here each run a stack of their own, one at a time: their
/// windows are short, and a busy machine would stretch them.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn budgets_hold_across_replicas_roll_over_and_follow_on_store_error() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut s = Stack::start().await;

    // alice: 2 cards per response, a limit of 5 over the window. The first
    // two responses cross (masked); the third would bring 6: refused, and
    // so is every one after it while the window holds them.
    let started = Instant::now();
    for n in 1..=2 {
        let (status, body, _) = s.cards("alice").await;
        assert_eq!(status, 200, "response {n}: {body}");
        assert!(
            body.contains("1111") && !body.contains("4111 1111 1111 1111"),
            "{body}"
        );
    }
    for n in 3..=4 {
        let (status, body, _) = s.cards("alice").await;
        assert!(
            refused_for_budget(status, &body, "budget_exceeded"),
            "response {n}: {status} {body}"
        );
    }
    assert!(
        started.elapsed() < WINDOW,
        "the test itself was too slow for its window"
    );
    // Both replicas judged alice's responses: the count is shared.
    let [a, b] = s.response_events("list-cards");
    let bodies = |events: &[serde_json::Value]| {
        events
            .iter()
            .filter(|e| e["phase"] == "response_body" && e["findings_total"] == 2)
            .count()
    };
    assert!(
        bodies(&a) > 0 && bodies(&b) > 0,
        "responses with cards judged per replica: {} and {}",
        bodies(&a),
        bodies(&b)
    );
    let principals: std::collections::HashSet<_> = a
        .iter()
        .chain(&b)
        .map(|e| e["principal"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(principals.len(), 1, "one caller: {principals:?}");
    assert!(
        principals.iter().all(|p| p.starts_with("p_")),
        "{principals:?}"
    );
    let refusals: Vec<_> = s
        .replicas
        .iter()
        .flat_map(|r| decision_events(&r.log()))
        .filter(|e| e["hop"] == "list-cards" && e["reason"] == "budget_exceeded")
        .collect();
    // One decision event per refusal, each at its body (4 + 2 is past 5,
    // and a refused response is not counted: the window holds 4).
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals.iter().all(|e| e["phase"] == "response_body"),
        "{refusals:?}"
    );
    assert!(refusals.iter().all(|e| e["decision"] == "refuse"));
    // The alert budget (3) was passed at the second response: an alert, no refusal.
    assert!(s.metric("chaperone_budget_events_total{budget=\"cards-watch\",direction=\"response\",hop=\"list-cards\",outcome=\"exceeded_alert\"}").await >= 1.0);
    assert_eq!(
        s.metric("chaperone_budget_events_total{budget=\"cards\",direction=\"response\",hop=\"list-cards\",outcome=\"exceeded_block\"}").await,
        2.0
    );
    // bob's budget is his own.
    let (status, body, _) = s.cards("bob").await;
    assert_eq!(status, 200, "{body}");
    // Redis holds keyed hashes only.
    budget_keys_only(&s.redis);

    // The window rolls over: alice is served again once her responses have
    // left it (at most a window after the last).
    let refused_at = Instant::now();
    let served_again = loop {
        let (status, body, _) = s.cards("alice").await;
        if status == 200 {
            break refused_at.elapsed();
        }
        assert!(
            refused_for_budget(status, &body, "budget_exceeded"),
            "{status} {body}"
        );
        assert!(
            refused_at.elapsed() < WINDOW + Duration::from_secs(2),
            "never served again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        served_again > Duration::from_millis(200),
        "{served_again:?}"
    );

    // A request-side budget: 60 bytes, then 60 more would pass 100. The
    // request is refused before the callee sees it, and not counted: 40
    // more fit, and fill the window. Then even an empty one is refused.
    s.upstream.take();
    let sixty = format!(r#"{{"note":"{}"}}"#, "x".repeat(49));
    let forty = format!(r#"{{"note":"{}"}}"#, "x".repeat(29));
    assert_eq!((sixty.len(), forty.len()), (60, 40));
    assert_eq!(s.upload("carol", &sixty).await, 200);
    assert_eq!(s.upload("carol", &sixty).await, 429);
    assert_eq!(s.upload("carol", &forty).await, 200);
    assert_eq!(s.upload("carol", "{}").await, 429, "full: even a small one");
    let seen = s.upstream.take();
    assert_eq!(
        seen.len(),
        2,
        "the refused uploads never reached the callee"
    );
    assert_eq!(
        s.upload("dave", &sixty).await,
        200,
        "another caller's is its own"
    );

    // The store dies mid-traffic.
    // Each replica opens its breaker after OPEN_AFTER failures in a row;
    // every request before and after is bounded all the same.
    s.redis.stop();
    let users = ["alice", "bob", "dave"];
    for user in users.iter().cycle().take(users.len() * OPEN_AFTER as usize) {
        // `cards` blocks and denies without its store: 503, quickly.
        let (status, body, took) = s.cards(user).await;
        assert!(
            refused_for_budget(status, &body, "budget_unavailable"),
            "{user}: {status} {body}"
        );
        assert!(took < DEAD_STORE_BOUND, "{user}: {took:?}");
        // `profile-cards` blocks but allows without its store: served.
        let (status, body, took) = s.get(user, "/v1/profile", CARDS).await;
        assert_eq!(status, 200, "{user}: {body}");
        assert!(took < DEAD_STORE_BOUND, "{user}: {took:?}");
    }
    for ready in s.readyz().await {
        assert!(
            ready.starts_with("ready\n") && ready.contains("state: redis down"),
            "{ready}"
        );
    }
    assert_eq!(s.metric("chaperone_state_store_up ").await, 0.0);
    assert!(s.metric("chaperone_budget_events_total{budget=\"profile-cards\",direction=\"response\",hop=\"profile\",outcome=\"store_error_allow\"}").await >= 3.0);
    assert!(s.metric("chaperone_budget_events_total{budget=\"cards\",direction=\"response\",hop=\"list-cards\",outcome=\"store_error_deny\"}").await >= 3.0);

    // Back (empty: no persistence): each replica asks it again after its
    // breaker's pause (1s), with no traffic at all, and says so.
    s.redis.restart();
    let back = Instant::now();
    while !s
        .readyz()
        .await
        .iter()
        .all(|r| r.contains("state: redis up"))
    {
        assert!(
            back.elapsed() < Duration::from_secs(4),
            "the store is not seen again: {:?}",
            s.readyz().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.metric("chaperone_state_store_up ").await, 2.0);
    // And enforcement resumes. dave: 2 and 2 cards cross, the next 2 would pass 5.
    for _ in 0..2 {
        let (status, body, _) = s.cards("dave").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body, _) = s.cards("dave").await;
    assert!(
        refused_for_budget(status, &body, "budget_exceeded"),
        "{status} {body}"
    );
    // Nothing sensitive in the logs: no card, no user name.
    for r in &s.replicas {
        let log = r.log();
        for clear in [
            "4111 1111 1111 1111",
            "5500 0000 0000 0004",
            "alice",
            "carol",
        ] {
            assert!(!log.contains(clear), "a replica logged {clear:?}");
        }
    }
}

/// Through a real Envoy (either edge) and a chaperone counting in a real
/// redis-server: a response that brings the 6th order of a limit of 5 is
/// refused, and so is the next at its headers; elements the contract drops
/// are not counted; an NDJSON export that flows is cut at the part that
/// goes over; what crosses of an export before its contract cuts it counts;
/// an import that would bring the 6th item never reaches the callee.
#[tokio::test]
async fn records_budgets_count_the_elements_that_cross() {
    let _one = ONE_AT_A_TIME.lock().await;
    let redis = Redis::start();
    let idp = Idp::start().await;
    let keys = TempDir::new("records-keys");
    let hash_key = keys.path("hash.key");
    std::fs::write(&hash_key, [42u8; 32]).unwrap();
    let url = redis.url();
    let chaperone = Chaperone::start_with(
        &policy(&idp.jwks_url()),
        &[
            "--state",
            &url,
            "--hash-key-file",
            hash_key.to_str().unwrap(),
        ],
    )
    .await;
    let (upstream, envoy) = edge(&chaperone).await;
    let bearer = |user: &str| {
        format!(
            "Bearer {}",
            idp.token(user, "orders:read", serde_json::json!({}))
        )
    };
    let get = |user: &str, path: &str, demo: Vec<(&'static str, String)>| {
        let mut req = http()
            .get(envoy.url("ENVOY_HTTP_PORT", path))
            .header("host", "api.shop.test")
            .header("authorization", bearer(user));
        for (k, v) in demo {
            req = req.header(k, v);
        }
        req.send()
    };
    // Two orders cross in each response; the stray element is dropped by
    // the contract and is no record.
    let orders = || {
        vec![
            (
                "x-demo-body",
                r#"{"orders":[{"id":1,"note":"x"},"stray",{"id":2}],"next":null}"#.to_owned(),
            ),
            ("x-demo-content-type", "application/json".to_owned()),
        ]
    };
    for n in 1..=2 {
        let r = get("alice", "/v1/orders", orders()).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "response {n}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"orders":[{"id":1},{"id":2}],"next":null})
        );
    }
    // 4 counted: the third brings the 6th, refused at its body; the fourth
    // at its headers, the window spent.
    for n in 3..=4 {
        let r = get("alice", "/v1/orders", orders()).await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(
            refused_for_budget(status, &body, "budget_exceeded"),
            "response {n}: {status} {body}"
        );
        assert!(!body.contains("\"id\""), "{body}");
    }
    // bob's are his own.
    let r = get("bob", "/v1/orders", orders()).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // NDJSON that flows, a line every 150 ms: each line is one record of
    // `[*]`. Three cross; then no response crosses whole: the part that
    // would bring the 6th is refused and the stream cut (Envoy resets it),
    // or the window, full, refuses the request at its headers. Whatever
    // parts Envoy makes of the lines, no more than 5 records ever cross.
    let lines = || {
        vec![
            ("x-demo-stream", "ndjson".to_owned()),
            ("x-demo-count", "3".to_owned()),
            ("x-demo-interval-ms", "150".to_owned()),
            ("x-demo-piece", r#"{"n":{n}}"#.to_owned()),
        ]
    };
    let read = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let mut r = r;
        let mut got = Vec::new();
        let clean = loop {
            match r.chunk().await {
                Ok(Some(c)) => got.extend_from_slice(&c),
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        (status, String::from_utf8(got).unwrap(), clean)
    };
    let (status, text, clean) = read(get("carol", "/v1/feed", lines()).await.unwrap()).await;
    assert_eq!((status, clean), (200, true), "{text}");
    assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    let (mut crossed, mut cut, mut refused) = (3, 0, 0);
    for _ in 0..4 {
        let (status, text, clean) = read(get("carol", "/v1/feed", lines()).await.unwrap()).await;
        if status == 200 {
            assert!(!clean, "cut, not ended: {text:?}");
            crossed += text.lines().count();
            cut += 1;
        } else {
            assert!(
                refused_for_budget(status, &text, "budget_exceeded"),
                "{status} {text}"
            );
            refused += 1;
        }
    }
    assert!(crossed <= 5, "{crossed} records crossed a budget of 5");
    assert!(cut >= 1, "a stream on its way is cut when it goes over");
    assert!(refused >= 1, "a full window refuses at the headers");

    // An export of four cards that its contract cuts at the fourth: three
    // cross before the error line, and count. However Envoy cuts the
    // stream into parts, no more than the budget's 5 ever cross.
    let export = || {
        vec![
            ("x-demo-stream", "ndjson".to_owned()),
            ("x-demo-count", "4".to_owned()),
        ]
    };
    let mut cards = 0;
    for _ in 0..3 {
        let (status, text, _) = read(get("erin", "/v1/export", export()).await.unwrap()).await;
        if status == 200 {
            cards += text.matches("\"card\"").count();
        } else {
            assert!(
                refused_for_budget(status, &text, "budget_exceeded"),
                "{status} {text}"
            );
        }
    }
    assert!(
        (3..=5).contains(&cards),
        "{cards} cards crossed a budget of 5"
    );

    // An import: three items cross; the next three would be six, refused
    // before the callee sees them.
    upstream.take();
    let import = |user: &str| {
        http()
            .post(envoy.url("ENVOY_HTTP_PORT", "/v1/import"))
            .header("host", "api.shop.test")
            .header("authorization", bearer(user))
            .header("content-type", "application/json")
            .body(r#"{"data":{"items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]}}"#)
            .send()
    };
    assert_eq!(import("dave").await.unwrap().status().as_u16(), 200);
    assert_eq!(import("dave").await.unwrap().status().as_u16(), 429);
    assert_eq!(
        upstream.take().len(),
        1,
        "only the first import reached the callee"
    );

    // The store holds keyed hashes only; the log no user and no path.
    budget_keys_only(&redis);
    let log = chaperone.log();
    for clear in ["alice", "carol", "dave", "erin", "orders[*]", "data.items"] {
        assert!(!log.contains(clear), "the log holds {clear:?}");
    }
    assert!(log.contains("budget_exceeded"));
}

/// Sleeps into the next window of 1s (as chaperone numbers them: the Unix
/// time in seconds), 150 ms past its start.
async fn next_window() -> Instant {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = u64::from(now.subsec_millis());
    tokio::time::sleep(Duration::from_millis(1_150 - into)).await;
    Instant::now()
}

#[tokio::test]
async fn a_steady_caller_raises_no_anomaly_and_a_drain_does_while_passing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let alert_metric = "chaperone_anomaly_alerts_total{anomaly=\"export-normal\",direction=\"response\",hop=\"exports\"}";
    let alerts = |s: &Stack| -> Vec<serde_json::Value> {
        let [a, b] = s.response_events("exports");
        a.into_iter()
            .chain(b)
            .filter(|e| e["reason"] == "anomaly_alert")
            .collect()
    };
    // One window each: erin's responses (two cards each) come in a rhythm
    // of 1 and 2 a window (2 and 4 cards) while her baseline warms up
    // (3 windows) and after; then 5 a window, 10 cards: a drain, each
    // response far below any per-message limit.
    let rhythm = [1, 2, 1, 2, 1, 2];
    for (i, &n) in rhythm.iter().chain(&[5, 5]).enumerate() {
        if i == rhythm.len() {
            // Nothing in the steady rhythm.
            assert_eq!(s.settled_metric(alert_metric).await, 0.0);
            assert_eq!(alerts(&s), Vec::<serde_json::Value>::new());
        }
        let started = next_window().await;
        for _ in 0..n {
            let (status, body, _) = s.get("erin", "/v1/exports", CARDS).await;
            assert_eq!(status, 200, "anomalies never refuse: {body}");
            assert!(body.contains("1111") && !body.contains("4111 1111 1111 1111"));
        }
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "window {i}: the test was too slow for its 1s window"
        );
    }
    // The drain alerted: at most once a window, with a decision event that
    // names the caller by its keyed hash and holds counts, never a value.
    let raised = s.settled_metric(alert_metric).await;
    assert!((1.0..=2.0).contains(&raised), "{raised}");
    let events = alerts(&s);
    assert_eq!(events.len() as f64, raised, "{events:?}");
    for e in &events {
        assert_eq!(e["alert"], true, "{e}");
        assert_eq!(e["decision"], "pass", "{e}");
        assert!(
            e["principal"].as_str().is_some_and(|p| p.starts_with("p_")),
            "{e}"
        );
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.starts_with("anomaly export-normal: "), "{detail}");
        assert!(
            !detail.contains("4111") && !detail.contains("erin"),
            "{detail}"
        );
    }
    // The baseline in Redis: one keyed hash for erin's.
    let baselines: Vec<String> = s
        .redis
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("chaperone:a:"))
        .collect();
    assert_eq!(baselines.len(), 1, "{baselines:?}");
    assert_eq!(s.metric("chaperone_anomaly_store_errors_total").await, 0.0);
}

/// A response that nothing in its round trip can refuse (its budgets only
/// alert, and allow without the store) does not wait for the store: its
/// alerts are counted and reported after it has gone, and a store that
/// stops answering costs it nothing.
#[tokio::test]
async fn responses_do_not_wait_for_alerts() {
    let _one = ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let outcome = |o: &str| {
        format!(
            "chaperone_budget_events_total{{budget=\"watch-cards\",direction=\"response\",hop=\"watch\",outcome=\"{o}\"}}"
        )
    };
    // Two cards a response: 2, 4, 6 counted, past 3 with the second and third.
    for _ in 0..3 {
        let (status, body, _) = s.get("erin", "/v1/watch", CARDS).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(s.settled_metric(&outcome("exceeded_alert")).await, 2.0);
    let [a, b] = s.response_events("watch");
    let alerts: Vec<_> = a
        .into_iter()
        .chain(b)
        .filter(|e| e["reason"] == "budget_alert")
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    for e in &alerts {
        assert_eq!(e["decision"], "pass", "{e}");
        assert!(
            e["decision_id"]
                .as_str()
                .is_some_and(|d| !d.is_empty() && d != "-"),
            "{e}"
        );
        assert!(
            e["principal"].as_str().is_some_and(|p| p.starts_with("p_")),
            "{e}"
        );
    }
    // The store stops answering, its connections open: a round trip ends
    // only at the timeout. The responses do not wait for it. (A message
    // that waited would wait the whole timeout until its replica's breaker
    // opens, after three such: the first three responses would all have.)
    s.redis.pause();
    let mut fastest = Duration::MAX;
    for i in 0..5 {
        let (status, body, took) = s.get("erin", "/v1/watch", CARDS).await;
        assert_eq!(status, 200, "{body}");
        if i < OPEN_AFTER {
            fastest = fastest.min(took);
        }
    }
    let unanswered = s.settled_metric(&outcome("store_error_allow")).await;
    s.redis.resume();
    assert!(
        fastest < STATE_TIMEOUT,
        "the fastest response took {fastest:?}: it waited for the store"
    );
    assert_eq!(unanswered, 5.0, "each uncounted response reported");
}
