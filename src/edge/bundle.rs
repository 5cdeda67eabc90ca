//! Polls a signed policy bundle's URL with `If-None-Match`, hands each new
//! bundle to the policy store's one reload path, and counts and shows every
//! failure; the policy in force stays until a bundle verifies and compiles.

use std::sync::Arc;
use std::time::Duration;

use chaperone_core::config::bundle::MAX_BUNDLE_BYTES;
use chaperone_core::reload::{Outcome, Source as _};

use crate::config::{PolicySource, PolicyStore};
use crate::edge::jwks::{FetchError, Fetched, HttpFetcher};
use crate::edge::reload::{Hook, record};
use crate::secret::sha256_hex;
use crate::telemetry::metrics;

const ACCEPT: &str = "application/octet-stream";

/// The bundle at `url` and its ETag: the first fetch, before serving.
pub async fn first_fetch(
    http: &HttpFetcher,
    url: &str,
) -> Result<(Vec<u8>, Option<String>), FetchError> {
    match http
        .get_if_changed(url, ACCEPT, None, MAX_BUNDLE_BYTES)
        .await?
    {
        Fetched::Body { body, etag } => Ok((body, etag)),
        // Asked without an ETag, a 304 is no answer.
        Fetched::NotModified => Err(FetchError::Failed("HTTP status 304".into())),
    }
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// 304, or the bundle in force again.
    Unchanged,
    /// A new bundle was fetched; what reloading it did.
    Fetched(Outcome),
    /// The fetch failed; the reason, which never holds the URL.
    Failed(String),
}

pub struct BundlePoller {
    store: Arc<PolicyStore>,
    url: String,
    http: HttpFetcher,
    /// The ETag of the bundle in force, when the source gave one.
    etag: Option<String>,
    after: Option<Hook>,
}

impl std::fmt::Debug for BundlePoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundlePoller")
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

impl BundlePoller {
    /// `after` runs once a new policy is in force.
    pub fn new(
        store: Arc<PolicyStore>,
        url: String,
        http: HttpFetcher,
        etag: Option<String>,
        after: Option<Hook>,
    ) -> Self {
        Self {
            store,
            url,
            http,
            etag,
            after,
        }
    }

    /// Polls every `every` until aborted.
    pub async fn run(mut self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The first tick is now: the bundle was fetched just before serving.
        tick.tick().await;
        loop {
            tick.tick().await;
            self.poll().await;
        }
    }

    pub async fn poll(&mut self) -> Poll {
        let m = metrics::get();
        let fetched = self
            .http
            .get_if_changed(&self.url, ACCEPT, self.etag.as_deref(), MAX_BUNDLE_BYTES)
            .await;
        let (body, etag) = match fetched {
            Err(e) => {
                m.bundle_fetches.with_label_values(&["error"]).inc();
                m.bundle_failures.with_label_values(&["fetch"]).inc();
                let error = format!("bundle fetch failed: {e}");
                tracing::error!(%error, "{}", PolicySource::REJECTED);
                self.store.note_error(Some(error.clone()));
                return Poll::Failed(error);
            }
            Ok(Fetched::NotModified) => {
                m.bundle_fetches.with_label_values(&["not_modified"]).inc();
                self.store.note_error(None);
                return Poll::Unchanged;
            }
            Ok(Fetched::Body { body, etag }) => (body, etag),
        };
        m.bundle_fetches.with_label_values(&["fetched"]).inc();
        let digest = sha256_hex(&body);
        if self.store.current().bundle.as_ref().map(|b| &b.digest) == Some(&digest) {
            self.etag = etag;
            self.store.note_error(None);
            return Poll::Unchanged;
        }
        self.store.offer_bundle(body);
        let (store, after) = (Arc::clone(&self.store), self.after.clone());
        let outcome =
            tokio::task::spawn_blocking(move || record(&*store, after.as_ref(), "bundle"))
                .await
                .unwrap_or_else(|_| Outcome::Rejected("reload task failed".into()));
        // A refused bundle's ETag is not kept: the next poll fetches (and
        // refuses, and counts) it again until the source serves another.
        if !matches!(outcome, Outcome::Rejected(_)) {
            self.etag = etag;
        }
        Poll::Fetched(outcome)
    }
}
