//! Policy tests as files (`chaperone test POLICY TESTS...`): a request, the
//! decision it must get, and optionally a body and what it must scrub to.
//! Policies get tested in CI like code.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::{Decision, Engine, Policy, RequestFacts};
use crate::identity::User;
use crate::scrub::{BodyHeaders, scrub_body};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub tests: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub request: CaseRequest,
    /// Stands in for a verified end-user token from this issuer.
    #[serde(default)]
    pub user: Option<CaseUser>,
    pub expect: Expect,
    #[serde(default)]
    pub scrub: Option<CaseScrub>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    pub host: String,
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// The mTLS peer's SPIFFE ID.
    #[serde(default)]
    pub workload: Option<String>,
}

fn get() -> String {
    "GET".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseUser {
    pub issuer: String,
    pub sub: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `allow` or `deny`.
    pub decision: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub hop: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseScrub {
    /// `request` or `response`.
    pub direction: String,
    pub body: serde_json::Value,
    /// The scrubbed body; or `refused: <reason code>`.
    #[serde(default)]
    pub expect: Option<serde_json::Value>,
    #[serde(default)]
    pub refused: Option<String>,
}

/// The outcome of one case: `None` when it passed, else why not.
pub async fn run_case(engine: &Engine, policy: &Policy, case: &Case) -> Option<String> {
    let user = case.user.as_ref().map(|u| {
        let mut claims = u.claims.clone();
        claims.insert("sub".into(), u.sub.clone().into());
        User {
            issuer: Arc::from(u.issuer.as_str()),
            sub: u.sub.clone(),
            scopes: u.scopes.clone(),
            exp: i64::MAX,
            claims,
        }
    });
    let headers: HashMap<String, String> = case
        .request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let facts = RequestFacts {
        host: &case.request.host,
        method: &case.request.method,
        path: &case.request.path,
        headers: &headers,
        source_principal: case.request.workload.as_deref(),
        source_ip: None,
    };
    let mut steps = Vec::new();
    let decision = engine
        .evaluate_as(policy, &facts, Some(&mut steps), user.as_ref())
        .await;
    let (got, status, hop, reason) = match &decision {
        Decision::Allow(a) => ("allow", 200, Some(a.hop.to_string()), "allowed".to_owned()),
        Decision::Deny(d) => (
            "deny",
            d.kind().http_status(),
            d.hop.as_deref().map(str::to_owned),
            d.reason.code().to_owned(),
        ),
    };
    let mut problems = Vec::new();
    if got != case.expect.decision {
        problems.push(format!(
            "decision: want {}, got {got} ({reason})",
            case.expect.decision
        ));
    }
    if let Some(want) = case.expect.status
        && want != status
    {
        problems.push(format!("status: want {want}, got {status}"));
    }
    if let Some(want) = &case.expect.hop
        && Some(want) != hop.as_ref()
    {
        problems.push(format!(
            "hop: want {want}, got {}",
            hop.as_deref().unwrap_or("-")
        ));
    }
    if let Some(want) = &case.expect.reason
        && *want != reason
    {
        problems.push(format!("reason: want {want}, got {reason}"));
    }
    if let (Some(sc), Some(hop)) = (&case.scrub, hop.as_deref().and_then(|h| policy.hop(h))) {
        let contract = if sc.direction == "request" {
            &hop.request_body
        } else {
            &hop.response_body
        };
        let body = sc.body.to_string();
        match scrub_body(
            body.as_bytes(),
            &BodyHeaders::typed("application/json"),
            contract,
            &policy.classes,
            engine.hash_key(),
        ) {
            Ok(out) => {
                let text = out
                    .body
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or(body);
                let got: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if let Some(want) = &sc.expect
                    && !same_modulo_hashes(want, &got)
                {
                    problems.push(format!("scrubbed body: want {want}, got {got}"));
                }
                if let Some(r) = &sc.refused {
                    problems.push(format!("scrub: want refused ({r}), got a body"));
                }
            }
            Err(e) => match &sc.refused {
                Some(r) if r == e.code() => {}
                _ => problems.push(format!("scrub refused the body: {}", e.code())),
            },
        }
    }
    if problems.is_empty() {
        None
    } else {
        problems.push(format!("steps: {}", steps.join("; ")));
        Some(problems.join("\n      "))
    }
}

/// Expected `"h:*"` matches any keyed hash (the key differs between runs).
fn same_modulo_hashes(want: &serde_json::Value, got: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (want, got) {
        (String(w), String(g)) if w == "h:*" => g.starts_with("h:"),
        (Array(w), Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| same_modulo_hashes(a, b))
        }
        (Object(w), Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, v)| g.get(k).is_some_and(|gv| same_modulo_hashes(v, gv)))
        }
        _ => want == got,
    }
}
