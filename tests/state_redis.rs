//! The budgets' and baselines' shared store against a real redis-server:
//! windows summed in one round trip, shared by every client, keys that are
//! keyed hashes only, AUTH from a file, a dead store that costs a bounded
//! time, opens the breaker and is used again once it answers (and seen to
//! answer without traffic); anomaly baselines that decide exactly as the
//! in-process store does, message by message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use chaperone::anomaly::Anomaly;
use chaperone::budget::{Budget, BudgetAction, Direction, Measure, OnStoreError};
use chaperone::secret::HashKey;
use chaperone::state::{
    Charge, OPEN_AFTER, Observation, RedisSettings, RedisStore, State, StateError,
};
use common::redis::Redis;

const TIMEOUT: Duration = Duration::from_millis(50);

fn settings(url: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        password_file: None,
        ca_file: None,
        pool: 4,
        timeout: TIMEOUT,
    }
}

fn state(url: &str, retry_after: Duration) -> State {
    State::redis(RedisStore::new(&settings(url)).unwrap(), retry_after)
}

fn budget(window: Duration) -> Budget {
    Budget {
        name: "cards".into(),
        direction: Direction::Response,
        measure: Measure::Findings(None),
        window,
        limit: 5,
        action: BudgetAction::Block,
        on_store_error: OnStoreError::Deny,
        fingerprint: "response:findings:*".into(),
    }
}

fn charge(b: &Budget, principal: &str, amount: u64, now_ms: u64) -> Charge {
    Charge {
        keys: b.keys(
            &HashKey::from_bytes(&[3; 32]),
            principal,
            "list-cards",
            now_ms,
        ),
        amount,
        ttl_ms: b.ttl_ms(),
        refuse_over: None,
    }
}

#[tokio::test]
async fn windows_are_shared_summed_and_keyed_by_hashes_only() {
    let redis = Redis::start();
    // Two replicas' stores on one server.
    let (a, b) = (
        state(&redis.url(), Duration::from_secs(5)),
        state(&redis.url(), Duration::from_secs(5)),
    );
    let cards = budget(Duration::from_secs(10));
    let t = 1_700_000_000_000u64;
    assert_eq!(
        a.charge(&[charge(&cards, "p_alice", 2, t)]).await,
        Ok(vec![2])
    );
    assert_eq!(
        b.charge(&[charge(&cards, "p_alice", 3, t + 10)]).await,
        Ok(vec![5])
    );
    assert_eq!(
        a.charge(&[charge(&cards, "p_alice", 0, t + 20)]).await,
        Ok(vec![5])
    );
    // A later bucket in the same window: the earlier one still counts; a
    // read (nothing added) sees the total.
    assert_eq!(
        a.charge(&[charge(&cards, "p_alice", 1, t + 1_000)]).await,
        Ok(vec![6])
    );
    assert_eq!(
        b.charge(&[charge(&cards, "p_alice", 0, t + 2_000)]).await,
        Ok(vec![6])
    );
    // Another caller, and two budgets in one call.
    let bytes = Budget {
        name: "bytes".into(),
        measure: Measure::Bytes,
        fingerprint: "response:bytes".into(),
        ..budget(Duration::from_secs(10))
    };
    assert_eq!(
        a.charge(&[
            charge(&cards, "p_bob", 1, t + 2_000),
            charge(&bytes, "p_alice", 700, t + 2_000)
        ])
        .await,
        Ok(vec![1, 700])
    );
    // A window later, alice's first buckets have left the sum (they are
    // still in Redis until they expire: the window, not the TTL, decides).
    assert_eq!(
        a.charge(&[charge(&cards, "p_alice", 0, t + 10_500)]).await,
        Ok(vec![1])
    );
    // What Redis holds: keyed hashes, each with a TTL of about the window.
    let keys = redis.keys();
    // alice: two buckets of cards and one of bytes; bob: one.
    assert_eq!(keys.len(), 4, "{keys:?}");
    for k in &keys {
        let (hash, bucket) = k
            .strip_prefix("chaperone:b:")
            .and_then(|r| r.split_once(':'))
            .unwrap();
        assert!(
            hash.len() == 32 && hash.bytes().all(|c| c.is_ascii_hexdigit()),
            "{k}"
        );
        assert!(bucket.parse::<u64>().is_ok(), "{k}");
        for clear in ["alice", "bob", "list-cards", "cards", "bytes"] {
            assert!(!k.contains(clear), "{k}");
        }
        let ttl = redis.command(&["PTTL", k]).unwrap();
        let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
        assert!(ms > 0 && ms <= 11_000, "{k}: {ms}");
    }
}

/// A message past a budget that blocks is refused, and counts toward none
/// of its budgets: what is refused does not cross. The same in process.
#[tokio::test]
async fn a_message_refused_counts_toward_no_budget() {
    let redis = Redis::start();
    let stores = [state(&redis.url(), Duration::from_secs(5)), State::memory()];
    let cards = budget(Duration::from_secs(10));
    let bytes = Budget {
        name: "bytes".into(),
        measure: Measure::Bytes,
        action: BudgetAction::Alert,
        fingerprint: "response:bytes".into(),
        ..budget(Duration::from_secs(10))
    };
    let t = 1_700_000_000_000u64;
    let blocks = |amount, at| Charge {
        refuse_over: Some(cards.limit),
        ..charge(&cards, "p_alice", amount, at)
    };
    for s in &stores {
        assert_eq!(s.charge(&[blocks(4, t)]).await, Ok(vec![4]), "{}", s.kind());
        // 4 + 2 is past 5: the totals say so, and nothing was kept.
        assert_eq!(
            s.charge(&[blocks(2, t + 1), charge(&bytes, "p_alice", 300, t + 1)])
                .await,
            Ok(vec![6, 300]),
            "{}",
            s.kind()
        );
        assert_eq!(
            s.charge(&[blocks(0, t + 2), charge(&bytes, "p_alice", 0, t + 2)])
                .await,
            Ok(vec![4, 0]),
            "{}",
            s.kind()
        );
        // Within the limit: kept.
        assert_eq!(
            s.charge(&[blocks(1, t + 3)]).await,
            Ok(vec![5]),
            "{}",
            s.kind()
        );
    }
    // Budgets alone go as plain commands, no script; the refused message's
    // amounts were taken back, one DECRBY each.
    assert_eq!(calls(&redis, "eval") + calls(&redis, "evalsha"), 0);
    assert_eq!(calls(&redis, "incrby"), 4);
    assert_eq!(calls(&redis, "decrby"), 2);
}

/// One caller's messages racing on two replicas that share the store, many
/// in flight at once, each within the limit alone: no more than the limit
/// is ever kept, and exactly the limit's worth crosses. Each message is
/// judged on the total its own increment makes: no overshoot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_messages_never_overshoot_a_budget_that_blocks() {
    let redis = Redis::start();
    let replicas = std::sync::Arc::new([
        state(&redis.url(), Duration::from_secs(5)),
        state(&redis.url(), Duration::from_secs(5)),
    ]);
    let cards = budget(Duration::from_secs(60));
    let limit = 25;
    let t = 1_700_000_000_000u64;
    let tasks: Vec<_> = (0..80)
        .map(|i| {
            let replicas = std::sync::Arc::clone(&replicas);
            let c = Charge {
                refuse_over: Some(limit),
                ..charge(&cards, "p_alice", 1, t + i)
            };
            tokio::spawn(async move { replicas[(i % 2) as usize].charge(&[c]).await })
        })
        .collect();
    let mut crossed = 0;
    for task in tasks {
        let totals = task.await.unwrap().expect("the store answers");
        if totals[0] <= limit {
            crossed += 1;
        }
    }
    assert_eq!(crossed, limit, "messages that crossed a limit of {limit}");
    let kept = replicas[0]
        .charge(&[charge(&cards, "p_alice", 0, t + 100)])
        .await;
    assert_eq!(kept, Ok(vec![limit]), "what the window keeps");
}

/// A burst of one caller's messages on one replica (two thousand in flight,
/// as one HTTP/2 client can send) while the store answers each in well
/// under a millisecond: the breaker must stay closed (an open breaker sends
/// every caller's budgets by their `on_store_error` for
/// `--state-retry-after`: 503 where they deny, uncounted where they allow).
/// A message may wait behind the others past its timeout (`busy` if it never
/// left the replica, `timeout` if it had): that one fails alone, and the
/// store, which answered every round trip in time, stays in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_one_replica_does_not_open_the_breaker() {
    let redis = Redis::start();
    let s = std::sync::Arc::new(state(&redis.url(), Duration::from_secs(5)));
    let cards = budget(Duration::from_secs(60));
    let t = 1_700_000_000_000u64;
    let burst = 2_000u64;
    let tasks: Vec<_> = (0..burst)
        .map(|i| {
            let s = std::sync::Arc::clone(&s);
            let c = charge(&cards, "p_mallory", 1, t + i);
            tokio::spawn(async move { s.charge(&[c]).await })
        })
        .collect();
    let mut served = 0u64;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(StateError::Busy | StateError::Timeout) => {}
            Err(e) => panic!("a message failed as the store's fault: {e:?}"),
        }
    }
    assert!(s.is_up(), "the breaker opened for every caller");
    // The store kept serving: the next message is counted, after every one
    // that was served (and any that reached it after its caller gave up).
    let next = s
        .charge(&[charge(&cards, "p_mallory", 1, t + burst)])
        .await
        .expect("the store after the burst");
    assert!(
        (served + 1..=burst + 1).contains(&next[0]),
        "{} counted, {served} served",
        next[0]
    );
}

/// Connections the store (or the network) dropped while idle: the message
/// that finds its connection gone may fail, and the next goes out on a
/// fresh connection. One failure alone does not send every caller's
/// budgets by their `on_store_error` for `--state-retry-after`.
#[tokio::test]
async fn a_dropped_connection_is_made_again_without_opening_the_breaker() {
    let redis = Redis::start();
    let s = state(&redis.url(), Duration::from_secs(5));
    let cards = budget(Duration::from_secs(60));
    // Every lane connected.
    for i in 0..8 {
        assert!(
            s.charge(&[charge(&cards, "p_a", 1, 5_000 + i)])
                .await
                .is_ok()
        );
    }
    let killed = redis
        .command(&["CLIENT", "KILL", "TYPE", "normal"])
        .unwrap();
    assert!(killed.trim_start_matches(':').trim() != "0", "{killed}");
    let first = s.charge(&[charge(&cards, "p_a", 1, 5_100)]).await;
    assert!(matches!(first, Ok(_) | Err(StateError::Io)), "{first:?}");
    assert!(s.is_up(), "one dropped connection opened the breaker");
    for i in 0..8 {
        assert!(
            s.charge(&[charge(&cards, "p_a", 1, 5_200 + i)])
                .await
                .is_ok(),
            "on a fresh connection"
        );
    }
    assert!(s.is_up());
}

/// Round trips no message waits for (alerts) go out together, one write
/// for many messages, on a connection of their own: each still counted as
/// its own message, with its own total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_round_trips_go_out_together() {
    let redis = Redis::start();
    let s = std::sync::Arc::new(state(&redis.url(), Duration::from_secs(5)));
    let cards = budget(Duration::from_secs(60));
    let t = 1_700_000_000_000u64;
    // Connected, so that only the messages' reads are counted below.
    assert!(
        s.tally_deferred(&[charge(&cards, "p_a", 1, t)], &[])
            .await
            .is_ok()
    );
    let reads = || -> u64 {
        let info = redis.command(&["INFO", "stats"]).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("total_reads_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap()
    };
    let before = reads();
    // Forty messages, one every half millisecond, as steady traffic brings
    // them: each alone would be a round trip of its own.
    let mut tasks = Vec::new();
    for i in 1..=40 {
        let s = std::sync::Arc::clone(&s);
        let c = charge(&cards, "p_a", 1, t + i);
        tasks.push(tokio::spawn(
            async move { s.tally_deferred(&[c], &[]).await },
        ));
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let mut totals = Vec::new();
    for task in tasks {
        totals.push(task.await.unwrap().unwrap().totals[0]);
    }
    totals.sort_unstable();
    assert_eq!(totals, (2..=41).collect::<Vec<u64>>(), "each its own total");
    // One read a batch (and the INFO's own): a batch each 5 ms or so while
    // messages keep coming, where each alone would be a read of its own.
    let read = reads() - before;
    assert!(read <= 20, "{read} reads for 40 messages");
}

/// A refusal's amount taken back from a bucket the store had lost (a
/// restart without persistence between the two round trips) leaves it
/// below nothing: it counts as nothing, it expires, and budgets go on.
#[tokio::test]
async fn a_bucket_below_nothing_counts_as_nothing() {
    let redis = Redis::start();
    let s = state(&redis.url(), Duration::from_secs(5));
    let cards = budget(Duration::from_secs(60));
    let t = 1_700_000_000_000u64;
    let c = charge(&cards, "p_a", 2, t);
    let current = c.keys[0].clone();
    redis.command(&["SET", &current, "-5"]).unwrap();
    assert_eq!(s.charge(&[c]).await, Ok(vec![0]), "-5 + 2");
    let ttl = redis.command(&["PTTL", &current]).unwrap();
    assert!(
        ttl.trim_start_matches(':').trim().parse::<i64>().unwrap() > 0,
        "{ttl}"
    );
    assert_eq!(
        s.charge(&[charge(&cards, "p_a", 0, t + 1)]).await,
        Ok(vec![0])
    );
    assert_eq!(
        s.charge(&[charge(&cards, "p_a", 4, t + 2)]).await,
        Ok(vec![1])
    );
    assert!(s.is_up());
}

#[tokio::test]
async fn a_password_comes_from_a_file() {
    let redis = Redis::start_with(&["--requirepass", "s3cret-pw"]);
    let dir = common::TempDir::new("redis-pw");
    let file = dir.path("password");
    std::fs::write(&file, "s3cret-pw\n").unwrap();
    let cards = budget(Duration::from_secs(10));
    let with = RedisStore::new(&RedisSettings {
        password_file: Some(file.clone()),
        ..settings(&redis.url())
    })
    .unwrap();
    assert_eq!(
        with.charge(&[charge(&cards, "p_a", 4, 1_000_000)]).await,
        Ok(vec![4])
    );
    std::fs::write(&file, "wrong").unwrap();
    let wrong = RedisStore::new(&RedisSettings {
        password_file: Some(file),
        ..settings(&redis.url())
    })
    .unwrap();
    let e = wrong.charge(&[charge(&cards, "p_a", 4, 1_000_000)]).await;
    assert_eq!(e, Err(StateError::Refused));
    assert!(!format!("{wrong:?}").contains("s3cret"));
    let without = RedisStore::new(&settings(&redis.url())).unwrap();
    assert_eq!(
        without.charge(&[charge(&cards, "p_a", 1, 1_000_000)]).await,
        Err(StateError::Refused)
    );
}

#[tokio::test]
async fn a_dead_store_costs_a_bounded_time_and_is_used_again_when_back() {
    let mut redis = Redis::start();
    let retry_after = Duration::from_millis(300);
    let s = state(&redis.url(), retry_after);
    let cards = budget(Duration::from_secs(10));
    assert_eq!(
        s.charge(&[charge(&cards, "p_a", 1, 5_000)]).await,
        Ok(vec![1])
    );
    assert!(s.is_up());
    redis.stop();
    // The pooled connection is dead: each call fails within the timeout,
    // and OPEN_AFTER in a row open the breaker.
    for n in 1..=OPEN_AFTER {
        assert!(s.is_up(), "opened after {} failures", n - 1);
        let started = Instant::now();
        let failed = s.charge(&[charge(&cards, "p_a", 1, 5_000)]).await;
        assert!(failed.is_err(), "{failed:?}");
        assert!(
            started.elapsed() < TIMEOUT + Duration::from_millis(30),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(!s.is_up(), "the breaker opened");
    // Open: answered at once, without trying the store.
    let started = Instant::now();
    for _ in 0..100 {
        assert_eq!(
            s.charge(&[charge(&cards, "p_a", 1, 5_000)]).await,
            Err(StateError::Open)
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
    // Back (empty: a restarted server without persistence): after the pause
    // one call tries it, and it answers.
    redis.restart();
    tokio::time::sleep(retry_after + Duration::from_millis(20)).await;
    assert_eq!(
        s.charge(&[charge(&cards, "p_a", 2, 5_000)]).await,
        Ok(vec![2])
    );
    assert!(s.is_up());
}

#[tokio::test]
async fn a_store_that_never_answers_is_bounded_by_the_timeout() {
    // A listener that accepts and never replies (the connection's set-up
    // succeeds, the command hangs).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let s = state(&format!("redis://127.0.0.1:{port}"), Duration::from_secs(5));
    let started = Instant::now();
    let e = s
        .charge(&[charge(&budget(Duration::from_secs(10)), "p_a", 1, 1)])
        .await;
    assert_eq!(e, Err(StateError::Timeout));
    let took = started.elapsed();
    assert!(
        took >= TIMEOUT && took < TIMEOUT + Duration::from_millis(30),
        "{took:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn rediss_verifies_the_server_against_the_ca_file() {
    let pki = common::pki::Pki::new();
    let redis = Redis::start_tls(&pki);
    let url = format!("rediss://localhost:{}", redis.port);
    let cards = budget(Duration::from_secs(10));
    let trusted = RedisStore::new(&RedisSettings {
        ca_file: Some(pki.dir.path("ca.pem")),
        timeout: Duration::from_secs(2),
        ..settings(&url)
    })
    .unwrap();
    assert_eq!(
        trusted.charge(&[charge(&cards, "p_a", 3, 9_000)]).await,
        Ok(vec![3])
    );
    assert_eq!(
        trusted.charge(&[charge(&cards, "p_a", 1, 9_000)]).await,
        Ok(vec![4])
    );
    // A CA that did not sign the server's certificate: no connection.
    let other = common::pki::Pki::new();
    let untrusted = RedisStore::new(&RedisSettings {
        ca_file: Some(other.dir.path("ca.pem")),
        timeout: Duration::from_secs(2),
        ..settings(&url)
    })
    .unwrap();
    assert_eq!(
        untrusted.charge(&[charge(&cards, "p_a", 1, 9_000)]).await,
        Err(StateError::Io)
    );
    // Plaintext to a TLS port: no answer that passes for one.
    let plain = RedisStore::new(&settings(&format!("redis://localhost:{}", redis.port))).unwrap();
    assert!(
        plain
            .charge(&[charge(&cards, "p_a", 1, 9_000)])
            .await
            .is_err()
    );
}

/// A fixed-seed generator (SplitMix64): the same traffic on every run.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

fn anomaly() -> Anomaly {
    Anomaly {
        name: "cards-normal".into(),
        direction: Direction::Response,
        measure: Measure::Findings(None),
        window: Duration::from_secs(3600),
        sigmas: 3.0,
        min: 30,
        history: Duration::from_secs(2 * 86_400),
        warmup: 24,
        fingerprint: "response:findings:*".into(),
    }
}

/// One message's budget charge and anomaly observation at `now_ms`.
fn message(a: &Anomaly, now_ms: u64, amount: u64) -> (Charge, Observation) {
    let key = HashKey::from_bytes(&[3; 32]);
    let observation = Observation {
        key: a.key(&key, "p_alice", "list-cards"),
        amount,
        window: a.window_at(now_ms),
        rule: a.rule(),
        ttl_ms: a.ttl_ms(),
    };
    (
        charge(
            &budget(Duration::from_secs(3600)),
            "p_alice",
            amount,
            now_ms,
        ),
        observation,
    )
}

/// A message a budget refuses does not cross: its anomalies learn nothing
/// of it either (a caller cannot raise its own baseline, and quiet its
/// alerts, with what it was never given), in Redis and in process alike.
#[tokio::test]
async fn a_message_a_budget_refuses_adds_nothing_to_its_anomalies() {
    let redis = Redis::start();
    let a = anomaly();
    let t = 1_700_000_000_000u64;
    for s in [state(&redis.url(), Duration::from_secs(5)), State::memory()] {
        let blocks = |(c, o): (Charge, Observation)| {
            let c = Charge {
                refuse_over: Some(5),
                ..c
            };
            (c, o)
        };
        // 4 cross; 40 more would pass the budget's 5: refused.
        let (c, o) = blocks(message(&a, t, 4));
        let crossed = s.tally(&[c], &[o]).await.unwrap();
        assert_eq!(crossed.verdicts[0].count, 4, "{}", s.kind());
        let (c, o) = blocks(message(&a, t + 1, 40));
        let refused = s.tally(&[c], &[o]).await.unwrap();
        assert_eq!(refused.totals, [44], "{}", s.kind());
        assert_eq!(refused.verdicts[0].count, 4, "{}", s.kind());
        // 1 more crosses: the window counts 5.
        let (c, o) = blocks(message(&a, t + 2, 1));
        let after = s.tally(&[c], &[o]).await.unwrap();
        assert_eq!(after.verdicts[0].count, 5, "{}", s.kind());
        redis.command(&["FLUSHALL"]).unwrap();
    }
}

/// How many times the server has run a command.
fn calls(redis: &Redis, command: &str) -> u64 {
    let stats = redis.command(&["INFO", "commandstats"]).unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn baselines_decide_alike_in_redis_and_in_process_in_one_round_trip() {
    let redis = Redis::start();
    let shared = state(&redis.url(), Duration::from_secs(5));
    let local = State::memory();
    let a = anomaly();
    let hour = 3_600_000u64;
    let start = 1_700_000_000_000 / hour * hour;
    let mut noise = Seeded(11);
    // Five days of a daily rhythm (10 to 100 findings an hour, +-10), a
    // quiet half day (nothing at all), a day more, then a drain of 150 more
    // an hour; each hour's findings in messages of at most 5.
    let mut hours: Vec<(u64, u64, bool)> = Vec::new();
    for h in 0..(6 * 24 + 12) {
        let phase = (h % 24) as f64 / 24.0 * std::f64::consts::TAU;
        let normal = (55.0 - 45.0 * phase.cos()).round() as u64 + noise.below(21) - 10;
        match h {
            120..132 => {}
            _ if h >= 6 * 24 => hours.push((h, normal + 150, true)),
            _ => hours.push((h, normal, false)),
        }
    }
    let evals_before = calls(&redis, "eval") + calls(&redis, "evalsha");
    let mut messages = 0;
    let mut alerts = Vec::new();
    for &(h, volume, drain) in &hours {
        let mut left = volume;
        let mut at = start + h * hour;
        while left > 0 {
            let n = left.min(1 + noise.below(5));
            left -= n;
            at += noise.below(hour / (volume + 2)).max(1);
            let (c, o) = message(&a, at, n);
            let (c, o) = (std::slice::from_ref(&c), std::slice::from_ref(&o));
            let there = shared.tally(c, o).await.unwrap();
            let here = local.tally(c, o).await.unwrap();
            // Window by window, message by message: the same verdict (and
            // the same budget total).
            assert_eq!(there, here, "hour {h}");
            messages += 1;
            if there.verdicts[0].alert {
                alerts.push((h, drain, there.verdicts[0]));
            }
        }
    }
    // One round trip per message, budgets and baselines together: the
    // script by its hash, and once whole (the server had not cached it).
    assert_eq!(calls(&redis, "eval"), 1);
    assert_eq!(
        calls(&redis, "eval") + calls(&redis, "evalsha") - evals_before,
        messages + 1
    );
    // A server that forgets its scripts (SCRIPT FLUSH, a restart) is sent
    // the script whole again.
    redis.command(&["SCRIPT", "FLUSH"]).unwrap();
    let last = hours.last().map_or(start, |&(h, _, _)| start + h * hour);
    let (c, o) = message(&a, last, 1);
    assert!(shared.tally(&[c], &[o]).await.is_ok());
    assert_eq!(calls(&redis, "eval"), 2);
    // Nothing in the normal days (the quiet half day included); the drain
    // alerts within its first hours, once per hour at most.
    assert!(alerts.iter().all(|(_, drain, _)| *drain), "{alerts:?}");
    let first = alerts.first().map(|(h, _, _)| h - 6 * 24);
    assert!(first.is_some_and(|h| h < 6), "first alert {first:?}");
    let mut hours_alerted: Vec<u64> = alerts.iter().map(|(h, _, _)| *h).collect();
    hours_alerted.dedup();
    assert_eq!(hours_alerted.len(), alerts.len(), "{alerts:?}");
    let v = alerts[0].2;
    assert!(v.count > 30 && v.count > v.mean + 3 * v.sd, "{v:?}");
    // The baseline is one key, a keyed hash, kept twice its history.
    let keys: Vec<String> = redis
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("chaperone:a:"))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let hash = keys[0].strip_prefix("chaperone:a:").unwrap();
    assert!(hash.len() == 32 && hash.bytes().all(|c| c.is_ascii_hexdigit()));
    let ttl = redis.command(&["PTTL", &keys[0]]).unwrap();
    let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(ms > 4 * 86_400_000 - 60_000 && ms <= 4 * 86_400_000, "{ms}");
    // It holds numbers only: no principal, hop, anomaly or class.
    let fields = redis.command(&["HGETALL", &keys[0]]).unwrap();
    for clear in ["alice", "list-cards", "cards", "card_number"] {
        assert!(!fields.contains(clear), "{fields}");
    }
}

#[tokio::test]
async fn a_store_that_comes_back_is_seen_without_traffic() {
    let mut redis = Redis::start();
    let retry_after = Duration::from_millis(300);
    let s = state(&redis.url(), retry_after);
    let cards = budget(Duration::from_secs(10));
    assert!(s.charge(&[charge(&cards, "p_a", 1, 5_000)]).await.is_ok());
    redis.stop();
    for _ in 0..OPEN_AFTER {
        assert!(s.charge(&[charge(&cards, "p_a", 1, 5_000)]).await.is_err());
    }
    assert!(!s.is_up());
    // Still down: the recheck after the pause finds nothing, and keeps the
    // breaker open for another pause.
    tokio::time::sleep(retry_after + Duration::from_millis(20)).await;
    let started = Instant::now();
    s.recheck().await;
    assert!(!s.is_up());
    assert!(started.elapsed() < TIMEOUT + Duration::from_millis(30));
    // Back: within the pause nobody asks it; after it one PING does, and
    // the breaker closes with no message at all.
    redis.restart();
    s.recheck().await;
    assert!(!s.is_up(), "asked again before its pause was over");
    let pings = calls(&redis, "ping");
    tokio::time::sleep(retry_after + Duration::from_millis(20)).await;
    s.recheck().await;
    assert!(s.is_up(), "the store answers: up again");
    assert_eq!(calls(&redis, "ping"), pings + 1, "asked with one PING");
    // Up: a recheck asks nothing.
    s.recheck().await;
    assert_eq!(calls(&redis, "ping"), pings + 1);
    assert_eq!(
        s.charge(&[charge(&cards, "p_a", 2, 5_000)]).await,
        Ok(vec![2])
    );
}
