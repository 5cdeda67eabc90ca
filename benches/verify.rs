//! The effect of remembering verified end-user tokens: a cached verification
//! against a full one (ES256 signature check), in the same run; and 12,000
//! distinct tokens in rotation, through a cache of 10,000 and one of the
//! default size, each token verified in turn.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chaperone::clock::{Clock, SystemClock};
use chaperone::identity::jwks::{KeySet, KeySource};
use chaperone::identity::{Issuer, Verifier};
use chaperone::token::{KeyKind, SigningKey, jwks_document};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;

fn verifier(key: &SigningKey) -> Verifier {
    verifier_of(key, chaperone::identity::jwt::DEFAULT_CACHE_ENTRIES)
}

fn verifier_of(key: &SigningKey, entries: usize) -> Verifier {
    let doc = jwks_document([key]).to_string();
    let keys = KeySet::parse(doc.as_bytes()).unwrap_or_default();
    let issuer = Issuer {
        name: "corp".into(),
        iss: "https://idp.bench".into(),
        audiences: vec!["api".into()],
        algorithms: vec![Algorithm::ES256],
        keys: KeySource::Static(Arc::new(keys)),
        leeway: 30,
    };
    Verifier::with_cache(vec![Arc::new(issuer)], Arc::new(SystemClock), entries)
}

fn bench(c: &mut Criterion) {
    let Ok(key) = SigningKey::generate(KeyKind::Es256, "k") else {
        return;
    };
    let now = SystemClock.now_unix();
    let claims = serde_json::json!({"iss": "https://idp.bench", "aud": "api", "sub": "alice",
        "scope": "orders:read", "iat": now, "exp": now + 3600});
    let Ok(token) = key.sign("JWT", &claims) else {
        return;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let mut group = c.benchmark_group("verify");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("uncached_es256", |b| {
        b.iter_batched(
            || verifier(&key),
            |v| rt.block_on(async { black_box(v.verify(&token).await.is_ok()) }),
            BatchSize::SmallInput,
        )
    });
    let warm = verifier(&key);
    let _ = rt.block_on(warm.verify(&token));
    group.bench_function("cached", |b| {
        b.iter(|| rt.block_on(async { black_box(warm.verify(&token).await.is_ok()) }))
    });
    let rotation: Vec<String> = (0..12_000)
        .filter_map(|i| {
            let claims = serde_json::json!({"iss": "https://idp.bench", "aud": "api",
                "sub": format!("user-{i}"), "scope": "orders:read", "iat": now, "exp": now + 3600});
            key.sign("JWT", &claims).ok()
        })
        .collect();
    for (name, entries) in [
        ("rotation_12000_of_10000", 10_000),
        (
            "rotation_12000_of_default",
            chaperone::identity::jwt::DEFAULT_CACHE_ENTRIES,
        ),
    ] {
        let v = verifier_of(&key, entries);
        let mut hits = 0u64;
        // Two rounds to settle, then count one.
        for round in 0..3 {
            for t in &rotation {
                if let Ok((_, cache)) = rt.block_on(v.verify_noting(t))
                    && round == 2
                    && cache == chaperone::identity::jwt::CacheUse::Hit
                {
                    hits += 1;
                }
            }
        }
        println!(
            "verify/{name}: hit rate {:.1}% over one round of {}",
            hits as f64 * 100.0 / rotation.len() as f64,
            rotation.len()
        );
        let mut next = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                next = (next + 1) % rotation.len();
                rt.block_on(async { black_box(v.verify(&rotation[next]).await.is_ok()) })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
