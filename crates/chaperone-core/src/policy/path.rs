//! Path templates: `/v1/customers/{customer_id}/orders/*` and a trailing `/**`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: one non-empty segment, captured.
    Param(String),
    /// `*`: one non-empty segment, not captured.
    Any,
}

/// A compiled path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    /// Ends in `/**`: any remainder, including none.
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path template {template:?}: {problem}")]
pub struct PathTemplateError {
    template: String,
    problem: &'static str,
}

/// Named parameters captured from a matched path, in template order.
pub type PathParams = Vec<(String, String)>;

impl PathTemplate {
    pub fn parse(template: &str) -> Result<Self, PathTemplateError> {
        let err = |problem| PathTemplateError {
            template: template.to_owned(),
            problem,
        };
        let body = template
            .strip_prefix('/')
            .ok_or_else(|| err("must start with '/'"))?;
        if template.contains('?') || template.contains('#') {
            return Err(err("must not hold a query or fragment"));
        }
        let mut segments = Vec::new();
        let mut rest = false;
        let mut names: Vec<&str> = Vec::new();
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            if rest {
                return Err(err("'**' may only be the last segment"));
            }
            match *part {
                "" => return Err(err("empty segment ('//' or a trailing '/')")),
                "**" if i + 1 == parts.len() => rest = true,
                "**" => return Err(err("'**' may only be the last segment")),
                "*" => segments.push(Segment::Any),
                "." | ".." => return Err(err("'.' and '..' segments are not allowed")),
                p if p.starts_with('{') && p.ends_with('}') => {
                    let name = &p[1..p.len() - 1];
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit());
                    if !valid {
                        return Err(err("a parameter name is letters, digits and '_'"));
                    }
                    if names.contains(&name) {
                        return Err(err("a parameter name appears twice"));
                    }
                    names.push(name);
                    segments.push(Segment::Param(name.to_owned()));
                }
                p if p.contains(['{', '}', '*', '%']) => {
                    return Err(err("'{', '}', '*' and '%' only as whole segments"));
                }
                p => segments.push(Segment::Literal(p.to_owned())),
            }
        }
        Ok(Self {
            source: template.to_owned(),
            segments,
            rest,
        })
    }

    /// The names of the template's `{name}` parameters.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Matches a normalized path (no query string). Returns the captured
    /// parameters on a match.
    pub fn matches(&self, path: &str) -> Option<PathParams> {
        let body = path.strip_prefix('/')?;
        let mut parts = if body.is_empty() {
            None
        } else {
            Some(body.split('/'))
        };
        let mut params = Vec::new();
        for segment in &self.segments {
            let part = parts.as_mut().and_then(Iterator::next)?;
            if part.is_empty() {
                return None;
            }
            match segment {
                Segment::Literal(lit) if lit == part => {}
                Segment::Literal(_) => return None,
                Segment::Any => {}
                Segment::Param(name) => params.push((name.clone(), part.to_owned())),
            }
        }
        let leftover = parts.and_then(|mut p| p.next());
        match leftover {
            None => Some(params),
            Some(_) if self.rest => Some(params),
            Some("") if self.segments.is_empty() => Some(params),
            Some(_) => None,
        }
    }
}

impl PathTemplate {
    /// Whether this template matches every path `other` matches.
    pub fn covers(&self, other: &PathTemplate) -> bool {
        let (mine, theirs) = (&self.segments, &other.segments);
        let lengths = if self.rest {
            mine.len() <= theirs.len()
        } else {
            !other.rest && mine.len() == theirs.len()
        };
        lengths
            && mine.iter().zip(theirs).all(|pair| match pair {
                (Segment::Literal(a), Segment::Literal(b)) => a == b,
                (Segment::Literal(_), _) => false,
                _ => true,
            })
    }

    /// Whether some path could match both templates.
    pub fn may_overlap(&self, other: &PathTemplate) -> bool {
        let (a, b) = (&self.segments, &other.segments);
        let lengths = a.len() == b.len()
            || (a.len() < b.len() && self.rest)
            || (b.len() < a.len() && other.rest);
        lengths
            && a.iter().zip(b).all(|pair| match pair {
                (Segment::Literal(x), Segment::Literal(y)) => x == y,
                _ => true,
            })
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_and_overlap() {
        let t = |s: &str| PathTemplate::parse(s).unwrap();
        assert!(t("/v1/**").covers(&t("/v1/charges/{id}")));
        assert!(t("/v1/{a}").covers(&t("/v1/charges")));
        assert!(t("/v1/{a}").covers(&t("/v1/{b}")));
        assert!(!t("/v1/charges").covers(&t("/v1/{id}")));
        assert!(!t("/v1/{a}").covers(&t("/v1/**")));
        assert!(t("/**").covers(&t("/")));
        assert!(t("/v1/charges/{id}").may_overlap(&t("/v1/charges/**")));
        assert!(t("/v1/charges/**").may_overlap(&t("/v1/charges")));
        assert!(!t("/v1/charges/{id}").may_overlap(&t("/v1/refunds/{id}")));
        assert!(!t("/v1/a/b").may_overlap(&t("/v1/*")));
    }

    fn m(t: &str, p: &str) -> Option<PathParams> {
        PathTemplate::parse(t).unwrap().matches(p)
    }

    #[test]
    fn matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("/", "/", true),
            ("/", "/x", false),
            ("/v1/charges", "/v1/charges", true),
            ("/v1/charges", "/v1/charges/", false),
            ("/v1/charges", "/v1/charge", false),
            ("/v1/charges", "/v1/charges/x", false),
            ("/v1/{id}", "/v1/abc", true),
            ("/v1/{id}", "/v1/", false),
            ("/v1/{id}", "/v1", false),
            ("/v1/*/x", "/v1/a/x", true),
            ("/v1/*/x", "/v1//x", false),
            ("/v1/**", "/v1", true),
            ("/v1/**", "/v1/a/b/c", true),
            ("/v1/**", "/v2/a", false),
            ("/**", "/anything/at/all", true),
        ];
        for (t, p, want) in cases {
            assert_eq!(m(t, p).is_some(), *want, "template {t} path {p}");
        }
    }

    #[test]
    fn captures_named_params() {
        let got = m(
            "/v1/customers/{customer_id}/orders/{order_id}",
            "/v1/customers/c1/orders/o9",
        );
        assert_eq!(
            got.unwrap(),
            vec![
                ("customer_id".to_owned(), "c1".to_owned()),
                ("order_id".to_owned(), "o9".to_owned())
            ]
        );
    }

    #[test]
    fn rejects_bad_templates() {
        for t in [
            "v1", "/v1//x", "/v1/", "/**/x", "/{}", "/{a}/{a}", "/a{b}", "/x?y", "/../x", "/{1a}",
            "/a%2f",
        ] {
            assert!(PathTemplate::parse(t).is_err(), "{t} should be rejected");
        }
    }
}
