//! The HTTP client the core's remote key sets are fetched with, and the
//! count of fetches that failed.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chaperone_core::identity::jwks::{JwksError, JwksFetcher};

use crate::telemetry::metrics;

/// Fetches JWKS documents over HTTP(S) with a bounded body and redirects.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
}

impl HttpFetcher {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::limited(2))
            .user_agent(concat!("chaperone/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    pub fn shared() -> Result<Arc<dyn JwksFetcher>, reqwest::Error> {
        Ok(Arc::new(Self::new()?))
    }
}

impl JwksFetcher for HttpFetcher {
    fn get<'a>(
        &'a self,
        url: &'a str,
        max_bytes: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, JwksError>> + Send + 'a>> {
        Box::pin(async move {
            // Errors leave the URL out: it is in the log line already.
            let failed = |e: reqwest::Error| JwksError::Fetch(e.without_url().to_string());
            let mut response = self
                .client
                .get(url)
                .header("accept", "application/json")
                .send()
                .await
                .map_err(failed)?;
            if !response.status().is_success() {
                return Err(JwksError::Fetch(format!(
                    "HTTP status {}",
                    response.status().as_u16()
                )));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failed)? {
                if body.len() + chunk.len() > max_bytes {
                    return Err(JwksError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        })
    }

    fn failed(&self, _error: &JwksError) {
        metrics::get().jwks_fetch_errors.inc();
    }
}
