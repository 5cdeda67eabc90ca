//! The HTTP client the core's remote key sets and signed policy bundles
//! are fetched with, and the count of key set fetches that failed.

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

    /// A GET of `url` that answers 2xx, or 304 to `If-None-Match: etag`;
    /// a body of more than `max_bytes` is refused as it arrives. Errors
    /// leave the URL out (it may hold a credential).
    pub async fn get_if_changed(
        &self,
        url: &str,
        accept: &str,
        etag: Option<&str>,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        let failed = |e: reqwest::Error| FetchError::Failed(e.without_url().to_string());
        let mut request = self.client.get(url).header("accept", accept);
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Failed(format!(
                "HTTP status {}",
                status.as_u16()
            )));
        }
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 256)
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(FetchError::TooLarge(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { body, etag })
    }
}

/// Why a GET brought nothing; never names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Failed(String),
    #[error("larger than {0} bytes")]
    TooLarge(usize),
}

/// What a conditional GET brought.
#[derive(Debug)]
pub enum Fetched {
    /// 304: what the ETag names is still current.
    NotModified,
    Body {
        body: Vec<u8>,
        etag: Option<String>,
    },
}

impl JwksFetcher for HttpFetcher {
    fn get<'a>(
        &'a self,
        url: &'a str,
        max_bytes: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, JwksError>> + Send + 'a>> {
        Box::pin(async move {
            match self
                .get_if_changed(url, "application/json", None, max_bytes)
                .await
            {
                Ok(Fetched::Body { body, .. }) => Ok(body),
                Ok(Fetched::NotModified) => Err(JwksError::Fetch("HTTP status 304".into())),
                Err(FetchError::TooLarge(_)) => Err(JwksError::TooLarge),
                Err(FetchError::Failed(e)) => Err(JwksError::Fetch(e)),
            }
        })
    }

    fn failed(&self, _error: &JwksError) {
        metrics::get().jwks_fetch_errors.inc();
    }
}
