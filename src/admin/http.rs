//! The HTTP admin listener: liveness, readiness, metrics.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::App;
use crate::telemetry::metrics;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(app)
}

/// Verifiers may cache the key set briefly; a rotation publishes the new key
/// well before it signs (see docs/tokens.md), so a short max-age is enough.
const KEYS_CACHE: &str = "public, max-age=60";

async fn jwks(State(app): State<Arc<App>>) -> impl IntoResponse {
    match app.engine.keys().map(|k| k.current().jwks().to_owned()) {
        Some(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/jwk-set+json"),
                (header::CACHE_CONTROL, KEYS_CACHE),
            ],
            body,
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            r#"{"error":"no_keys"}"#.to_owned(),
        ),
    }
}

async fn discovery(State(app): State<Arc<App>>) -> impl IntoResponse {
    let policy = app.store.current();
    let issuer = policy.tokens.issuer.trim_end_matches('/');
    let algs: Vec<&str> = app
        .engine
        .keys()
        .map(|k| {
            vec![crate::identity::jwt::alg_name(
                k.current().signer().algorithm(),
            )]
        })
        .unwrap_or_default();
    let doc = serde_json::json!({
        "issuer": policy.tokens.issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": algs,
        "response_types_supported": ["none"],
        "subject_types_supported": ["public"],
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, KEYS_CACHE),
        ],
        doc.to_string(),
    )
}

/// Ready or not; the policy in force and, when the last reload or bundle
/// fetch failed, why (the previous policy keeps serving: still ready); and
/// whether the budgets' store answers. A store that is down does not make a
/// replica unready: every replica shares it, and each budget says what its
/// messages get meanwhile (`on_store_error`). A store marked down whose
/// pause is over is asked again first (at most once per pause).
async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    use std::fmt::Write as _;
    app.state.recheck().await;
    let ready = app.is_ready();
    let policy = app.store.current();
    let mut body = String::from(if ready { "ready\n" } else { "not ready\n" });
    let _ = write!(
        body,
        "policy: version {}, hash {}",
        policy.version,
        policy.hash.get(..12).unwrap_or(&policy.hash)
    );
    if let Some(bundle) = &policy.bundle {
        let _ = write!(
            body,
            ", signer {}, bundle failures {}",
            bundle.signer,
            metrics::bundle_failures()
        );
    }
    body.push('\n');
    let _ = writeln!(
        body,
        "state: {} {}",
        app.state.kind(),
        if app.state.is_up() { "up" } else { "down" }
    );
    if let Some(error) = app.store.status().last_error {
        let _ = writeln!(
            body,
            "last reload failed, the previous policy keeps serving: {error}"
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

async fn metrics_text() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(),
    )
}
