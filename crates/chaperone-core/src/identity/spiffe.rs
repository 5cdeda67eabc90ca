//! Workload identity: SPIFFE IDs from the mTLS peer or from an
//! `x-forwarded-client-cert` header that the operator says Envoy sets.

use std::fmt;

/// Longest SPIFFE ID accepted (the SPIFFE spec's limit).
const MAX_SPIFFE_ID: usize = 2048;

/// A syntactically valid SPIFFE ID: `spiffe://trust-domain/path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeError {
    #[error("not a spiffe:// URI")]
    Scheme,
    #[error("SPIFFE ID is too long")]
    TooLong,
    #[error("SPIFFE ID trust domain is invalid")]
    TrustDomain,
    #[error("SPIFFE ID path is invalid")]
    Path,
}

impl SpiffeId {
    pub fn parse(s: &str) -> Result<Self, SpiffeError> {
        if s.len() > MAX_SPIFFE_ID {
            return Err(SpiffeError::TooLong);
        }
        let rest = s.strip_prefix("spiffe://").ok_or(SpiffeError::Scheme)?;
        let (td, path) = rest.split_once('/').unwrap_or((rest, ""));
        if td.is_empty()
            || !td
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        {
            return Err(SpiffeError::TrustDomain);
        }
        if !path.is_empty() {
            for seg in path.split('/') {
                if seg.is_empty()
                    || seg == "."
                    || seg == ".."
                    || !seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
                {
                    return Err(SpiffeError::Path);
                }
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn trust_domain(&self) -> &str {
        let rest = &self.0["spiffe://".len()..];
        rest.split_once('/').map_or(rest, |(td, _)| td)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workload allow-list entry: an exact ID, or a prefix ending in `/*`
/// that matches any ID below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadPattern {
    Exact(SpiffeId),
    Below(String),
}

impl WorkloadPattern {
    pub fn parse(s: &str) -> Result<Self, SpiffeError> {
        match s.strip_suffix("/*") {
            Some(prefix) => {
                let id = SpiffeId::parse(prefix)?;
                Ok(Self::Below(format!("{}/", id.as_str())))
            }
            None => SpiffeId::parse(s).map(Self::Exact),
        }
    }

    pub fn matches(&self, id: &SpiffeId) -> bool {
        match self {
            Self::Exact(x) => x == id,
            Self::Below(prefix) => id.as_str().starts_with(prefix.as_str()),
        }
    }
}

impl fmt::Display for WorkloadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(id) => write!(f, "{id}"),
            Self::Below(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// The `URI=` of the last element of an `x-forwarded-client-cert` header: the
/// client of the Envoy that appended it. Quoted values are unquoted. A header
/// whose quotes do not balance names no one: an open quote would swallow the
/// element Envoy appended into the one a client wrote.
pub fn uri_from_xfcc(header: &str) -> Option<&str> {
    let last = split_outside_quotes(header, ',')?.last()?;
    split_outside_quotes(last, ';')?.find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("uri") {
            let v = v.trim();
            Some(
                v.strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .unwrap_or(v),
            )
        } else {
            None
        }
    })
}

/// `s` split at `sep` outside double quotes; `None` when a quote is left open.
fn split_outside_quotes(s: &str, sep: char) -> Option<impl Iterator<Item = &str>> {
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted || escaped {
        return None;
    }
    out.push(&s[start..]);
    Some(out.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_ids() {
        let id = SpiffeId::parse("spiffe://shop.example/ns/shop/sa/checkout").unwrap();
        assert_eq!(id.trust_domain(), "shop.example");
        assert!(SpiffeId::parse("spiffe://shop.example").is_ok());
    }

    #[test]
    fn rejects_invalid_ids() {
        for bad in [
            "http://x/y",
            "spiffe://",
            "spiffe://UPPER/x",
            "spiffe://td/a//b",
            "spiffe://td/../x",
            "spiffe://td/x/",
            "spiffe://td/a b",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SpiffeId::parse(&format!("spiffe://td/{}", "a".repeat(3000))),
            Err(SpiffeError::TooLong)
        );
    }

    #[test]
    fn patterns() {
        let p = WorkloadPattern::parse("spiffe://td/ns/shop/*").unwrap();
        assert!(p.matches(&SpiffeId::parse("spiffe://td/ns/shop/sa/x").unwrap()));
        assert!(!p.matches(&SpiffeId::parse("spiffe://td/ns/shopping/sa/x").unwrap()));
        assert!(!p.matches(&SpiffeId::parse("spiffe://td/ns/shop").unwrap()));
    }

    #[test]
    fn xfcc_takes_last_element_uri() {
        let h = r#"By=spiffe://td/a;Hash=abc;URI=spiffe://td/first,By=spiffe://td/b;Hash=def;Subject="CN=x,O=y";URI=spiffe://td/second"#;
        assert_eq!(uri_from_xfcc(h), Some("spiffe://td/second"));
        assert_eq!(
            uri_from_xfcc(r#"Hash=1;URI="spiffe://td/q""#),
            Some("spiffe://td/q")
        );
        assert_eq!(uri_from_xfcc("Hash=1"), None);
        // A client's element left with an open quote would swallow the one
        // Envoy appends (APPEND_FORWARD): it names no one.
        let smuggled = r#"URI=spiffe://td/ns/shop/sa/checkout;x=",By=spiffe://td/b;Hash=1;URI=spiffe://td/ns/shop/sa/intruder"#;
        assert_eq!(uri_from_xfcc(smuggled), None);
        assert_eq!(uri_from_xfcc(r#"URI="spiffe://td/a"#), None);
        assert_eq!(uri_from_xfcc(r#"URI=spiffe://td/a;x="\"#), None);
    }
}
