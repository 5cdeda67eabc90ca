//! CEL conditions (`when:`) on hops and caller rules, compiled at policy load
//! and evaluated per request over the request, its path parameters, the
//! workload, the end user's claims, the chained transaction and the hop.
//! A condition that errors or is not a boolean is false: fail closed.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Program, Value};

use crate::identity::{SpiffeId, User};
use crate::token::TxnClaims;

/// Longest condition accepted, in bytes.
pub const MAX_CONDITION_BYTES: usize = 4096;

pub struct Condition {
    pub source: String,
    program: Program,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Condition({:?})", self.source)
    }
}

/// The variables a condition sees. Documented in docs/policy.md.
pub const VARIABLES: &[&str] = &["request", "path", "workload", "user", "txn", "hop"];

impl Condition {
    pub fn compile(source: &str) -> Result<Self, String> {
        if source.len() > MAX_CONDITION_BYTES {
            return Err(format!("longer than {MAX_CONDITION_BYTES} bytes"));
        }
        let program = Program::compile(source)
            .map_err(|e| e.to_string().lines().next().unwrap_or("invalid").to_owned())?;
        // Only the documented variables exist: a typo is a load error, not a
        // condition that is always false.
        let references = program.references();
        if let Some(unknown) = references
            .variables()
            .into_iter()
            .find(|v| !VARIABLES.contains(v))
        {
            return Err(format!(
                "unknown variable {unknown:?} (known: {})",
                VARIABLES.join(", ")
            ));
        }
        Ok(Self {
            source: source.to_owned(),
            program,
        })
    }

    /// True only if the expression evaluates to `true`.
    pub fn holds(&self, vars: &Vars) -> Result<bool, String> {
        let mut ctx = Context::default();
        for (name, value) in &vars.0 {
            ctx.add_variable_from_value(*name, value.clone());
        }
        // The interpreter is third-party code: a panic in it must deny, not crash.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.program.execute(&ctx)))
                .map_err(|_| "the condition's evaluation failed".to_owned())?;
        match result {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(_) => Err("the condition did not give a boolean".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The variables of one request, built once and shared by its conditions.
#[derive(Debug, Clone)]
pub struct Vars(Vec<(&'static str, Value)>);

fn map(entries: impl IntoIterator<Item = (String, Value)>) -> Value {
    let m: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k)), v))
        .collect();
    Value::Map(Map { map: Arc::new(m) })
}

fn string(s: &str) -> Value {
    Value::String(Arc::new(s.to_owned()))
}

/// JSON claims into CEL values (numbers as int when whole).
fn from_json(v: &serde_json::Value, depth: usize) -> Value {
    match v {
        _ if depth > 16 => Value::Null,
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_u64().map(Value::UInt))
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(s) => string(s),
        serde_json::Value::Array(a) => Value::List(Arc::new(
            a.iter().map(|x| from_json(x, depth + 1)).collect(),
        )),
        serde_json::Value::Object(o) => {
            map(o.iter().map(|(k, v)| (k.clone(), from_json(v, depth + 1))))
        }
    }
}

/// What a request offers its conditions.
pub struct VarInputs<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HashMap<String, String>,
    pub params: &'a [(String, String)],
    pub workload: Option<&'a SpiffeId>,
    pub user: Option<&'a User>,
    pub txn: Option<&'a TxnClaims>,
    pub hop: &'a str,
}

impl Vars {
    pub fn new(i: &VarInputs<'_>) -> Self {
        let query = map(i.query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), string(v))
        }));
        let request = map([
            ("method".to_owned(), string(i.method)),
            ("host".to_owned(), string(i.host)),
            ("path".to_owned(), string(i.path)),
            ("query".to_owned(), query),
            (
                "headers".to_owned(),
                map(i
                    .headers
                    .iter()
                    .filter(|(k, _)| !k.starts_with(':'))
                    .map(|(k, v)| (k.clone(), string(v)))),
            ),
        ]);
        let path = map(i.params.iter().map(|(k, v)| (k.clone(), string(v))));
        let workload = map(match i.workload {
            Some(w) => vec![
                ("id".to_owned(), string(w.as_str())),
                ("trust_domain".to_owned(), string(w.trust_domain())),
            ],
            None => vec![
                ("id".to_owned(), string("")),
                ("trust_domain".to_owned(), string("")),
            ],
        });
        let user = match i.user {
            Some(u) => {
                let mut entries: Vec<(String, Value)> = u
                    .claims
                    .iter()
                    .map(|(k, v)| (k.clone(), from_json(v, 0)))
                    .collect();
                entries.retain(|(k, _)| k != "scope");
                entries.push((
                    "scope".to_owned(),
                    Value::List(Arc::new(u.scopes.iter().map(|s| string(s)).collect())),
                ));
                entries.push(("issuer".to_owned(), string(&u.issuer)));
                map(entries)
            }
            None => map([]),
        };
        let txn = match i.txn {
            Some(t) => map([
                ("txn".to_owned(), string(&t.txn)),
                ("sub".to_owned(), string(&t.sub)),
                (
                    "scope".to_owned(),
                    Value::List(Arc::new(t.scopes().map(string).collect())),
                ),
                ("req_wl".to_owned(), string(&t.req_wl)),
            ]),
            None => map([]),
        };
        let hop = map([("name".to_owned(), string(i.hop))]);
        Self(vec![
            ("request", request),
            ("path", path),
            ("workload", workload),
            ("user", user),
            ("txn", txn),
            ("hop", hop),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(headers: &HashMap<String, String>, user: Option<&User>) -> Vars {
        Vars::new(&VarInputs {
            method: "GET",
            host: "orders.shop.test",
            path: "/v1/customers/c-1/orders",
            query: "limit=10&tenant=t1",
            headers,
            params: &[("customer_id".to_owned(), "c-1".to_owned())],
            workload: None,
            user,
            txn: None,
            hop: "read",
        })
    }

    fn user() -> User {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), "c-1".into());
        claims.insert("tenant".into(), "t1".into());
        claims.insert("roles".into(), serde_json::json!(["support"]));
        User {
            issuer: "corp".into(),
            sub: "c-1".into(),
            scopes: vec!["orders:read".into()],
            exp: 0,
            claims,
        }
    }

    #[test]
    fn object_function_and_tenant_checks() {
        let mut headers = HashMap::new();
        headers.insert("x-tenant".to_owned(), "t1".to_owned());
        let u = user();
        let v = vars(&headers, Some(&u));
        for (expr, want) in [
            ("path.customer_id == user.sub", true),
            ("'orders:read' in user.scope", true),
            ("'orders:write' in user.scope", false),
            ("request.headers['x-tenant'] == user.tenant", true),
            ("'support' in user.roles && request.method == 'GET'", true),
            ("request.query.limit == '10'", true),
            ("hop.name == 'read' && workload.id == ''", true),
        ] {
            assert_eq!(
                Condition::compile(expr).unwrap().holds(&v),
                Ok(want),
                "{expr}"
            );
        }
    }

    #[test]
    fn errors_are_false_and_typos_fail_to_load() {
        let headers = HashMap::new();
        let v = vars(&headers, None);
        assert!(
            Condition::compile("user.tenant == 't1'")
                .unwrap()
                .holds(&v)
                .is_err(),
            "missing claim"
        );
        assert!(
            Condition::compile("1 + 1").unwrap().holds(&v).is_err(),
            "not a boolean"
        );
        assert!(
            Condition::compile("usr.sub == 'x'").is_err(),
            "unknown variable"
        );
        assert!(Condition::compile("path.customer_id ==").is_err(), "syntax");
        assert!(Condition::compile(&"a".repeat(5000)).is_err());
    }
}
