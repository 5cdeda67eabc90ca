//! Header values as both adapters read and write them.
//!
//! Reading, one rule: a value is text only when it is UTF-8. Envoy sends it
//! in `raw_value` (ext_proc always; ext_authz with `encode_raw_headers`) or
//! in `value`; chaperone does not guess at encodings. A request with a value
//! that is not text is refused as malformed (ext_authz and ext_proc alike);
//! in a response or trailers such a value is removed, as anything chaperone
//! cannot judge is.
//!
//! Writing: Envoy reads `value` and the `append` flag in ext_authz answers,
//! and `raw_value` and the (deprecated) `append` flag in ext_proc mutations,
//! not `append_action`; each writer here fills what its reader reads.

use std::borrow::Cow;

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue, HeaderValueOption};
use envoy_types::pb::google::protobuf::BoolValue;

/// A header's value as text, by the rule above.
pub fn text(h: &HeaderValue) -> Option<&str> {
    if h.raw_value.is_empty() {
        Some(&h.value)
    } else {
        std::str::from_utf8(&h.raw_value).ok()
    }
}

/// Headers as Envoy sent them, borrowed from its message: lower-case names,
/// the values that are text, and the names of those that are not. Envoy
/// joins most repeated headers with commas and sends a few (`cookie`,
/// `set-cookie`, unknown names) once per value. A list, not a map: a message
/// has a few dozen headers at most (Envoy bounds them), and looking through
/// them costs less than hashing each one.
#[derive(Debug, Default)]
pub struct Headers<'a> {
    list: Vec<(Cow<'a, str>, &'a str)>,
    unreadable: Vec<String>,
}

fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

impl<'a> Headers<'a> {
    pub fn of(map: Option<&'a HeaderMap>) -> Self {
        let mut out = Self::default();
        for h in map.map(|m| m.headers.as_slice()).unwrap_or_default() {
            let name = lower(&h.key);
            match text(h) {
                Some(value) => out.list.push((name, value)),
                None => {
                    if !out.unreadable.iter().any(|n| *n == name) {
                        out.unreadable.push(name.into_owned());
                    }
                }
            }
        }
        out
    }

    /// Names with a value that is not text (each once).
    pub fn unreadable(&self) -> &[String] {
        &self.unreadable
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.list
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values(name).map(str::to_owned).collect()
    }

    /// Every value of `name`, in order, borrowed.
    pub fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.list
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.list.iter().any(|(n, _)| n == name)
    }

    /// Each name once with its values joined by commas, as ext_authz's
    /// `headers` map has them: what the policy evaluates.
    pub fn joined(&self) -> std::collections::HashMap<String, String> {
        let mut out: std::collections::HashMap<String, String> =
            std::collections::HashMap::with_capacity(self.list.len());
        for (name, value) in &self.list {
            out.entry(name.to_string())
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(value);
                })
                .or_insert_with(|| (*value).to_owned());
        }
        out
    }

    /// Each name once (those with a readable value).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.list
            .iter()
            .enumerate()
            .filter(|(i, (n, _))| !self.list[..*i].iter().any(|(m, _)| m == n))
            .map(|(_, (n, _))| n.as_ref())
    }
}

/// Sets a header in an ext_authz answer, replacing any the request has.
pub fn authz_set(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_owned(),
            value: value.to_owned(),
            raw_value: Vec::new(),
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..HeaderValueOption::default()
    }
}

/// Sets a header in an ext_proc mutation, replacing any the message has.
pub fn set(name: &str, value: &str) -> HeaderValueOption {
    proc_header(name, value, false)
}

/// Adds a value to a header in an ext_proc mutation (after `set`, for the
/// second value on).
pub fn add(name: &str, value: &str) -> HeaderValueOption {
    proc_header(name, value, true)
}

fn proc_header(name: &str, value: &str, append: bool) -> HeaderValueOption {
    #[allow(deprecated)]
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_owned(),
            value: String::new(),
            raw_value: value.as_bytes().to_vec(),
        }),
        append: append.then_some(BoolValue { value: true }),
        ..HeaderValueOption::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_like_a_map_and_keep_out_what_is_not_text() {
        let raw = |k: &str, v: &[u8]| HeaderValue {
            key: k.to_owned(),
            value: String::new(),
            raw_value: v.to_vec(),
        };
        let map = HeaderMap {
            headers: vec![
                raw(":path", b"/a"),
                raw("X-Dup", b"1"),
                raw("x-dup", b"2"),
                raw("Bad", b"4111\xff1111"),
                raw("bad", b"\xe9"),
                HeaderValue {
                    key: "plain".to_owned(),
                    value: "v".to_owned(),
                    raw_value: Vec::new(),
                },
            ],
        };
        let h = Headers::of(Some(&map));
        assert_eq!(h.get(":path"), Some("/a"));
        // Names are lower-case; a name sent twice has its last value, once.
        assert_eq!(h.get("x-dup"), Some("2"));
        assert_eq!(h.all("x-dup"), ["1", "2"]);
        assert!(h.get("X-Dup").is_none());
        assert_eq!(h.keys().collect::<Vec<_>>(), [":path", "x-dup", "plain"]);
        // Not text: never read, named once for the adapter to act on.
        assert_eq!(h.get("bad"), None);
        assert_eq!(h.unreadable(), ["bad"]);
        assert_eq!(h.get("plain"), Some("v"));
        assert!(h.contains_key("plain") && !h.contains_key("absent"));
        assert!(Headers::of(None).keys().next().is_none());
        assert_eq!(text(&raw("x", b"\xff")), None);
        assert_eq!(text(&raw("x", "é".as_bytes())), Some("é"));
    }
}
