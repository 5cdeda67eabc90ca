//! For tests: a JWKS fetcher over plain HTTP/1.1 on a TCP connection, so
//! the key cache is tested against a real socket without an HTTP library.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::jwks::{JwksError, JwksFetcher};

#[derive(Debug, Default)]
pub struct TcpFetch {
    /// Failed fetches, as the edge would count them.
    pub failures: AtomicUsize,
}

impl TcpFetch {
    pub fn shared() -> Arc<dyn JwksFetcher> {
        Arc::new(Self::default())
    }
}

impl JwksFetcher for TcpFetch {
    fn get<'a>(
        &'a self,
        url: &'a str,
        max_bytes: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, JwksError>> + Send + 'a>> {
        Box::pin(async move {
            let fail = |e: &dyn std::fmt::Display| JwksError::Fetch(e.to_string());
            let rest = url
                .strip_prefix("http://")
                .ok_or_else(|| fail(&"not http"))?;
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let mut sock = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|e| fail(&e))?;
            let request = format!(
                "GET /{path} HTTP/1.1\r\nhost: {authority}\r\naccept: application/json\r\nconnection: close\r\n\r\n"
            );
            sock.write_all(request.as_bytes())
                .await
                .map_err(|e| fail(&e))?;
            let mut all = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                match sock.read(&mut chunk).await.map_err(|e| fail(&e))? {
                    0 => break,
                    n => all.extend_from_slice(&chunk[..n]),
                }
                if all.len() > max_bytes + 4096 {
                    return Err(JwksError::TooLarge);
                }
            }
            let end = all
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .ok_or_else(|| fail(&"no header end"))?;
            let head = String::from_utf8_lossy(&all[..end]);
            let status = head.split(' ').nth(1).unwrap_or("");
            if !status.starts_with('2') {
                return Err(JwksError::Fetch(format!("HTTP status {status}")));
            }
            let body = all[end + 4..].to_vec();
            if body.len() > max_bytes {
                return Err(JwksError::TooLarge);
            }
            Ok(body)
        })
    }

    fn failed(&self, _error: &JwksError) {
        self.failures.fetch_add(1, Ordering::SeqCst);
    }
}
