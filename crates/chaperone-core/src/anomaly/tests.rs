use super::*;

const HOUR: u64 = 3_600_000;

fn anomaly(sigmas: f64, min: u64, warmup: u64) -> Anomaly {
    Anomaly {
        name: "cards-normal".into(),
        direction: Direction::Response,
        measure: Measure::Findings(None),
        window: Duration::from_secs(3600),
        sigmas,
        min,
        history: DEFAULT_HISTORY,
        warmup,
        fingerprint: "response:findings:*".into(),
    }
}

/// A fixed-seed generator (SplitMix64): the same traffic on every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A day's shape: 20 findings an hour at night, 200 at the afternoon's peak.
fn daily(hour: u64) -> f64 {
    let phase = (hour % 24) as f64 / 24.0 * std::f64::consts::TAU;
    110.0 - 90.0 * phase.cos()
}

/// Drives one caller's traffic through [`observe`]: each window's volume in
/// messages of at most 5 findings (fewer than any per-message limit would
/// allow), at random moments within it. Returns the windows that alerted.
struct Caller {
    rule: Rule,
    window_ms: u64,
    baseline: Option<Baseline>,
    noise: Noise,
    alerts: Vec<u64>,
}

impl Caller {
    fn new(a: &Anomaly, seed: u64) -> Self {
        Self {
            rule: a.rule(),
            window_ms: a.window_ms(),
            baseline: None,
            noise: Noise(seed),
            alerts: Vec::new(),
        }
    }

    fn window(&mut self, w: u64, volume: u64) {
        let mut left = volume;
        let mut at = w * self.window_ms;
        while left > 0 {
            let n = left.min(1 + self.noise.below(5));
            left -= n;
            at += self.noise.below(self.window_ms / (volume + 1)).max(1);
            let now = at.min(w * self.window_ms + self.window_ms - 1);
            let (b, v) = observe(&self.rule, self.baseline, now / self.window_ms, n);
            self.baseline = Some(b);
            if v.alert {
                self.alerts.push(w);
            }
        }
    }

    /// The normal day: the daily shape with +-15 of noise.
    fn normal(&mut self, w: u64) -> u64 {
        let noisy = daily(w) + self.noise.below(31) as f64 - 15.0;
        noisy.round() as u64
    }
}

#[test]
fn a_normal_daily_rhythm_raises_nothing_and_a_slow_drain_does() {
    // 1h windows, a week of history, 3 standard deviations, at least 50.
    let a = anomaly(3.0, 50, 84);
    let start = 1_700_000_000_000 / HOUR;
    let days = 14;
    for drain_hour in 0..24 {
        let mut c = Caller::new(&a, 7 + drain_hour);
        for w in start..start + days * 24 {
            let v = c.normal(w);
            c.window(w, v);
        }
        assert_eq!(c.alerts, Vec::<u64>::new(), "normal days alerted");
        let b = c.baseline.unwrap();
        assert!(b.n >= days * 24 - 1, "{b:?}");
        // The baseline learnt the day: a mean near 110, and a deviation
        // near the daily swing's (90 / sqrt 2).
        assert!((95.0..125.0).contains(&b.mean), "{b:?}");
        assert!((50.0..80.0).contains(&b.var.sqrt()), "{b:?}");
        // Then a drain starting at this hour of the day: 250 findings more
        // every hour (in the same small messages), which the daily peak
        // alone never reaches.
        let from = start + days * 24 + drain_hour;
        for w in start + days * 24..from {
            let v = c.normal(w);
            c.window(w, v);
        }
        for w in from..from + 24 {
            let v = c.normal(w) + 250;
            c.window(w, v);
        }
        let first = c.alerts.first().copied();
        assert!(
            first.is_some_and(|w| w < from + 16),
            "drain from hour {drain_hour}: first alert {:?}",
            first.map(|w| w - from)
        );
        let mut once = c.alerts.clone();
        once.dedup();
        assert_eq!(once, c.alerts, "at most one alert per window");
    }
}

#[test]
fn nothing_alerts_before_the_warmup_or_below_the_minimum() {
    let a = anomaly(4.0, 50, 24);
    let rule = a.rule();
    let mut b = None;
    // Two windows of 2, then a burst: the baseline has not warmed up.
    for (w, n) in [(0, 2), (1, 2), (2, 500)] {
        let (next, v) = observe(&rule, b, w, n);
        assert!(!v.alert, "window {w}");
        b = Some(next);
    }
    // A quiet caller, warmed up: one or two an hour.
    let mut b = None;
    for w in 0..48 {
        b = Some(observe(&rule, b, w, 1 + w % 2).0);
    }
    // A burst far above its normal, but not above the minimum: nothing.
    let (quiet, v) = observe(&rule, b, 48, 50);
    assert_eq!((v.alert, v.count, v.mean, v.sd), (false, 50, 2, 1));
    // One more: past both.
    let (next, v) = observe(&rule, Some(quiet), 48, 1);
    assert!(v.alert && v.count == 51, "{v:?}");
    // At most once per window: more of the same window raises nothing.
    let (next, v) = observe(&rule, Some(next), 48, 100);
    assert!(!v.alert && v.count == 151, "{v:?}");
    // The next window, as high again: a new alert (the burst joined the
    // baseline, but one window weighs little).
    let (_, v) = observe(&rule, Some(next), 49, 151);
    assert!(v.alert, "{v:?}");
}

#[test]
fn a_young_baseline_is_the_plain_mean_and_variance() {
    let rule = anomaly(4.0, 0, 0).rule();
    assert_eq!(rule.settle, 84);
    let xs = [10u64, 30, 20, 0, 40];
    let mut b = None;
    for (w, &x) in xs.iter().enumerate() {
        b = Some(observe(&rule, b, w as u64, x).0);
    }
    // Closed: the first four windows (the fifth is current).
    let b = observe(&rule, b, 5, 0).0;
    let mean = xs.iter().sum::<u64>() as f64 / 5.0;
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 5.0;
    assert_eq!(b.n, 5);
    assert!(
        (b.mean - mean).abs() < 1e-9 && (b.var - var).abs() < 1e-9,
        "{b:?}"
    );
}

#[test]
fn quiet_windows_fold_in_closed_form_as_one_by_one() {
    for (settle_first, gap) in [
        (true, 3u64),
        (true, 200),
        (false, 1),
        (false, 57),
        (false, 5000),
    ] {
        let rule = anomaly(4.0, 0, 0).rule();
        let seen = if settle_first { 10 } else { 300 };
        let mut b = None;
        let mut noise = Noise(gap);
        for w in 0..seen {
            b = Some(observe(&rule, b, w, 50 + noise.below(100)).0);
        }
        // The gap at once: `gap` windows without traffic.
        let jump = observe(&rule, b, seen + gap, 1).0;
        // One by one, through the same fold.
        let mut step = b.unwrap();
        step.fold(step.count as f64, &rule);
        for _ in 0..gap {
            step.fold(0.0, &rule);
        }
        assert_eq!(jump.n, step.n, "gap {gap}");
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
        assert!(
            close(jump.mean, step.mean) && close(jump.var, step.var),
            "gap {gap}: {jump:?} vs {step:?}"
        );
    }
    // A gap of billions of windows is bounded work, and forgets.
    let rule = anomaly(4.0, 0, 0).rule();
    let b = observe(&rule, None, 0, 100).0;
    let (b, _) = observe(&rule, Some(b), 1 << 40, 1);
    assert!(b.mean.abs() < 1e-9 && b.var.abs() < 1e-9 && b.n == 1 << 40);
}

#[test]
fn keys_are_keyed_hashes_of_caller_hop_and_anomaly() {
    let a = anomaly(4.0, 50, 24);
    let key = HashKey::from_bytes(&[7u8; 32]);
    let k = a.key(&key, "p_0123456789abcdef", "support-reads-orders");
    let hash = k.strip_prefix("chaperone:a:").unwrap_or_default();
    assert!(
        hash.len() == 32 && hash.bytes().all(|c| c.is_ascii_hexdigit()),
        "{k}"
    );
    assert_ne!(k, a.key(&key, "p_other", "support-reads-orders"));
    assert_ne!(k, a.key(&key, "p_0123456789abcdef", "other-hop"));
    let recounted = Anomaly {
        fingerprint: "response:bytes".into(),
        ..a.clone()
    };
    assert_ne!(
        k,
        recounted.key(&key, "p_0123456789abcdef", "support-reads-orders")
    );
    let rewindowed = Anomaly {
        window: Duration::from_secs(600),
        ..a.clone()
    };
    assert_ne!(
        k,
        rewindowed.key(&key, "p_0123456789abcdef", "support-reads-orders")
    );
    // A budget of the same name and count has keys of its own.
    assert!(!k.starts_with("chaperone:b:"));
    // Windows, history and the rule.
    assert_eq!(a.window_at(7_200_000 + 5), 2);
    assert_eq!(a.windows(), 168);
    assert_eq!(a.ttl_ms(), 14 * 24 * HOUR);
    let r = a.rule();
    assert_eq!((r.settle, r.warmup, r.min), (84, 24, 50));
    assert!((r.alpha - 2.0 / 169.0).abs() < 1e-15);
}
