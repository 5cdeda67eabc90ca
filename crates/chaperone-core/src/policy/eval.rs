//! Evaluates one request against a policy snapshot: match the hop, identify
//! the caller, apply the hop's caller rules. Default deny.

use std::collections::HashMap;
use std::sync::Arc;

use super::condition::{VarInputs, Vars};
use super::headers::request_headers_to_remove;
use super::{Allow, Condition, Decision, Deny, Hop, PathParams, Policy, Reason, TxnToken};
use crate::clock::{SharedClock, SystemClock};
use crate::identity::jwt::CacheUse;
use crate::identity::spiffe::uri_from_xfcc;
use crate::identity::{SpiffeId, TokenError, User};
use crate::secret::{HashKey, random_id};
use crate::token::txn::{self, MintError, MintRequest, TxnClaims};
use crate::token::{HopToken, KeyRing, KeyStore};

/// Bounds on what a request may hold before it is even looked at.
pub const MAX_HOST_BYTES: usize = 1024;
pub const MAX_METHOD_BYTES: usize = 32;
pub const MAX_PATH_BYTES: usize = 8 * 1024;
pub const MAX_HEADERS: usize = 256;
pub const MAX_HEADER_BYTES: usize = 96 * 1024;

/// What the policy looks at in a request, borrowed from the adapter's form.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// `:authority` / `host`, possibly with a port.
    pub host: &'a str,
    pub method: &'a str,
    /// As sent, query string included.
    pub path: &'a str,
    /// Lower-case names.
    pub headers: &'a HashMap<String, String>,
    /// The mTLS peer as Envoy reports it (`source.principal`), if any.
    pub source_principal: Option<&'a str>,
    /// The downstream address as Envoy reports it, for `rctx`.
    pub source_ip: Option<&'a str>,
}

/// A decision and, when an enforcing hop decided while hops in shadow fit
/// too, what those would have denied: recorded, never enforced.
#[derive(Debug)]
pub struct Evaluation {
    pub decision: Decision,
    pub shadow_denial: Option<Deny>,
    /// Whether an end-user token was verified from the cache, when one was
    /// looked at.
    pub token_cache: Option<CacheUse>,
}

/// What one evaluation learns besides its decision.
#[derive(Debug, Default)]
struct Notes {
    /// A hop in shadow fits that the evaluation left out.
    shadow_left_out: bool,
    token_cache: Option<CacheUse>,
}

impl From<Decision> for Evaluation {
    fn from(decision: Decision) -> Self {
        Self {
            decision,
            shadow_denial: None,
            token_cache: None,
        }
    }
}

/// Evaluation around a hashing key (for principals), the signing keys (for
/// minting and for verifying chained tokens) and a clock.
#[derive(Debug, Clone)]
pub struct Engine {
    hash_key: HashKey,
    /// `None` only if no key could be made; every mint then fails closed.
    keys: Option<Arc<KeyStore>>,
    clock: SharedClock,
}

enum UserState {
    NotNeeded,
    Missing,
    Valid(User),
}

/// Collects explanation steps only when asked to, so the hot path pays nothing.
struct Trace<'t>(Option<&'t mut Vec<String>>);

/// Which of the hops whose route fits one evaluation considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hops {
    All,
    /// Those not in shadow: what they decide happens.
    Enforcing,
    /// Those in shadow: what they decide is only recorded (no token minted).
    Shadow,
}

impl Trace<'_> {
    fn step(&mut self, f: impl FnOnce() -> String) {
        if let Some(steps) = self.0.as_mut() {
            steps.push(f());
        }
    }
}

/// The hops whose route fits a request, in policy order (never empty), and
/// the request's host and path as they were matched.
struct Route<'p> {
    host: &'p str,
    path: &'p str,
    matching: Vec<(&'p Hop, PathParams)>,
    /// More than one hop's route fits, counting those left out (in or out
    /// of shadow): ext_proc tells them apart only by the hop header.
    shared: bool,
}

/// The caller as identified: the workload (`Err` when its identity is not a
/// valid SPIFFE ID), a verified chained token, the end user.
struct Caller {
    workload: Option<Result<SpiffeId, ()>>,
    incoming: Option<TxnClaims>,
    user: UserState,
}

impl Caller {
    fn valid_workload(&self) -> Option<&SpiffeId> {
        self.workload.as_ref().and_then(|w| w.as_ref().ok())
    }

    fn valid_user(&self) -> Option<&User> {
        match &self.user {
            UserState::Valid(u) => Some(u),
            _ => None,
        }
    }
}

enum Admission<'p> {
    Admitted(&'p Hop, &'p PathParams),
    /// Why not, and the hop the denial names.
    Denied(Reason, &'p Hop),
}

/// What every decision of one evaluation carries.
struct Verdict<'p> {
    policy: &'p Policy,
    decision_id: String,
    /// Several hops' routes fit: ext_proc tells them apart only by the hop header.
    route_shared: bool,
}

impl Verdict<'_> {
    fn deny(&self, reason: Reason, hop: Option<&Hop>, trace: &mut Trace<'_>) -> Decision {
        trace.step(|| format!("deny: {reason} ({})", reason.code()));
        Decision::Deny(Deny {
            reason,
            hop: hop.map(|h| Arc::clone(&h.name)),
            decision_id: self.decision_id.clone(),
            policy_version: self.policy.version.clone(),
            policy_hash: self.policy.hash.chars().take(12).collect(),
            policy_signer: self.policy.bundle.as_ref().map(|b| Arc::clone(&b.signer)),
            shadow: self.policy.shadow || hop.is_some_and(|h| h.shadow),
            route_shared: hop.is_some() && self.route_shared,
        })
    }
}

/// The hops whose route fits the request, of those `hops` names, after the
/// request's bounds, method and path are checked.
fn route<'p>(
    policy: &'p Policy,
    facts: &RequestFacts<'p>,
    hops: Hops,
    shadow_left_out: &mut bool,
    trace: &mut Trace<'_>,
) -> Result<Route<'p>, Reason> {
    check_bounds(facts)?;
    // A method is data too (HTTP/2 lets a client send any token): only
    // the registered ones, and those a hop names, reach a callee.
    if !is_standard_method(facts.method)
        && !policy
            .hops
            .iter()
            .any(|h| h.methods.iter().any(|m| m == facts.method))
    {
        return Err(Reason::RequestMalformed);
    }
    let host = host_without_port(facts.host);
    let path = facts.path.split_once('?').map_or(facts.path, |(p, _)| p);
    if !is_normalized(path) {
        return Err(Reason::PathNotNormalized);
    }
    // Every hop whose route fits, in policy order: the first that admits
    // the caller decides. A denial names the first.
    let mut matching: Vec<(&Hop, PathParams)> = policy
        .hops
        .iter()
        .filter_map(|h| h.matches(host, facts.method, path).map(|p| (h, p)))
        .collect();
    let shared = matching.len() > 1;
    let shadow_fits = matching.iter().any(|(h, _)| h.shadow);
    match hops {
        Hops::All => {}
        Hops::Enforcing => matching.retain(|(h, _)| !h.shadow),
        Hops::Shadow => matching.retain(|(h, _)| h.shadow),
    }
    *shadow_left_out = shadow_fits && hops == Hops::Enforcing;
    if matching.is_empty() {
        trace.step(|| format!("no hop matches {} {host}{path}", facts.method));
        return Err(Reason::NoHopMatched);
    }
    for (h, _) in &matching {
        trace.step(|| format!("hop {:?} matches {} {host}{path}", &*h.name, facts.method));
    }
    Ok(Route {
        host,
        path,
        matching,
        shared,
    })
}

impl Engine {
    /// An engine with an ephemeral signing key and the system clock.
    pub fn new(hash_key: HashKey) -> Self {
        Self {
            hash_key,
            keys: KeyRing::ephemeral()
                .ok()
                .map(|r| Arc::new(KeyStore::from_ring(r))),
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_keys(hash_key: HashKey, keys: Arc<KeyStore>, clock: SharedClock) -> Self {
        Self {
            hash_key,
            keys: Some(keys),
            clock,
        }
    }

    pub fn keys(&self) -> Option<&Arc<KeyStore>> {
        self.keys.as_ref()
    }

    pub fn hash_key(&self) -> &HashKey {
        &self.hash_key
    }

    pub async fn evaluate(&self, policy: &Policy, facts: &RequestFacts<'_>) -> Decision {
        self.evaluate_traced(policy, facts, None).await
    }

    pub async fn evaluate_traced(
        &self,
        policy: &Policy,
        facts: &RequestFacts<'_>,
        steps: Option<&mut Vec<String>>,
    ) -> Decision {
        self.evaluate_as(policy, facts, steps, None).await
    }

    /// The decision, with what hops in shadow would have denied beside the
    /// enforcing hop that decided: for the adapter to record.
    pub async fn evaluate_with_shadow(
        &self,
        policy: &Policy,
        facts: &RequestFacts<'_>,
    ) -> Evaluation {
        self.evaluate_full(policy, facts, None, None).await
    }

    /// Evaluation where `user`, when given, stands in for a verified end-user
    /// token. Only for policy tests (`chaperone test`): a request never
    /// chooses its user.
    pub async fn evaluate_as(
        &self,
        policy: &Policy,
        facts: &RequestFacts<'_>,
        steps: Option<&mut Vec<String>>,
        given_user: Option<&User>,
    ) -> Decision {
        self.evaluate_full(policy, facts, steps, given_user)
            .await
            .decision
    }

    async fn evaluate_full(
        &self,
        policy: &Policy,
        facts: &RequestFacts<'_>,
        steps: Option<&mut Vec<String>>,
        given_user: Option<&User>,
    ) -> Evaluation {
        let mut trace = Trace(steps);
        let mut notes = Notes::default();
        let only = |decision, notes: Notes| Evaluation {
            decision,
            shadow_denial: None,
            token_cache: notes.token_cache,
        };
        if policy.shadow {
            let decision = self
                .decide(policy, facts, &mut trace, given_user, Hops::All, &mut notes)
                .await;
            return only(decision, notes);
        }
        // Hops in shadow take no part in what the enforcing hops on their
        // route decide: not by coming first, not by asking for a credential
        // the others do not need.
        let enforced = self
            .decide(
                policy,
                facts,
                &mut trace,
                given_user,
                Hops::Enforcing,
                &mut notes,
            )
            .await;
        if !notes.shadow_left_out {
            return only(enforced, notes);
        }
        let enforcing_fits =
            !matches!(&enforced, Decision::Deny(d) if d.reason == Reason::NoHopMatched);
        trace.step(|| {
            if enforcing_fits {
                "hops in shadow fit too: what they would decide is only recorded".to_owned()
            } else {
                "only hops in shadow fit: what they decide is only recorded".to_owned()
            }
        });
        let shadow = self
            .decide(
                policy,
                facts,
                &mut trace,
                given_user,
                Hops::Shadow,
                &mut notes,
            )
            .await;
        if !enforcing_fits {
            return only(shadow, notes);
        }
        Evaluation {
            decision: enforced,
            shadow_denial: match shadow {
                Decision::Deny(d) => Some(d),
                Decision::Allow(_) => None,
            },
            token_cache: notes.token_cache,
        }
    }

    /// One evaluation over the hops whose route fits, of those `hops` names:
    /// match the route, identify the caller, admit by the hops' caller
    /// rules, mint. `notes.shadow_left_out` tells whether a hop in shadow fits
    /// that it left out.
    async fn decide(
        &self,
        policy: &Policy,
        facts: &RequestFacts<'_>,
        trace: &mut Trace<'_>,
        given_user: Option<&User>,
        hops: Hops,
        notes: &mut Notes,
    ) -> Decision {
        let mut verdict = Verdict {
            policy,
            decision_id: random_id(),
            route_shared: false,
        };
        let route = match route(policy, facts, hops, &mut notes.shadow_left_out, trace) {
            Ok(r) => r,
            Err(reason) => return verdict.deny(reason, None, trace),
        };
        verdict.route_shared = route.shared;
        let first = route.matching[0].0;
        let caller = match self
            .identify(
                policy,
                facts,
                &route,
                given_user,
                &mut notes.token_cache,
                trace,
            )
            .await
        {
            Ok(c) => c,
            Err(reason) => return verdict.deny(reason, Some(first), trace),
        };
        match self.admit(facts, &route, &caller, trace) {
            Admission::Admitted(hop, params) => {
                self.allow(&verdict, facts, &route, hop, params, &caller, hops, trace)
            }
            Admission::Denied(reason, hop) => verdict.deny(reason, Some(hop), trace),
        }
    }

    /// Who is calling: the workload, a chained token from the previous hop
    /// (only on an internal hop, an identified workload: at the edge it is
    /// ignored, and the minted token replaces it), and the end user when a
    /// hop on the route asks for one.
    async fn identify(
        &self,
        policy: &Policy,
        facts: &RequestFacts<'_>,
        route: &Route<'_>,
        given_user: Option<&User>,
        token_cache: &mut Option<CacheUse>,
        trace: &mut Trace<'_>,
    ) -> Result<Caller, Reason> {
        let workload = workload_of(policy, facts);
        match &workload {
            Some(Ok(id)) => trace.step(|| format!("workload {id}")),
            Some(Err(())) => trace.step(|| "peer identity is not a valid SPIFFE ID".to_owned()),
            None => trace.step(|| "no workload identity".to_owned()),
        }
        let valid_workload = workload.as_ref().and_then(|w| w.as_ref().ok());
        let incoming = match (valid_workload, facts.headers.get(&policy.tokens.header)) {
            (Some(id), Some(token)) => {
                let audiences = caller_audiences(policy, id);
                let verified = match &self.keys {
                    Some(keys) => txn::verify(
                        &keys.snapshot(),
                        &policy.tokens,
                        token,
                        &audiences,
                        self.clock.now_unix(),
                    ),
                    None => Err(crate::token::TxnError::BadSignature),
                };
                match verified {
                    Ok(claims) => {
                        trace.step(|| {
                            format!("chained transaction token verified (txn {})", claims.txn)
                        });
                        Some(claims)
                    }
                    Err(e) => return Err(Reason::Txn(e)),
                }
            }
            _ => None,
        };
        let needs_user = route.matching.iter().any(|(h, _)| h.needs_user());
        let user = if let (true, Some(u)) = (needs_user, given_user) {
            UserState::Valid(u.clone())
        } else if needs_user {
            match bearer_token(facts.headers) {
                None => UserState::Missing,
                Some(token) => match policy.verifier.verify_noting(token).await {
                    Ok((user, cache)) => {
                        token_cache.get_or_insert(cache);
                        UserState::Valid(user)
                    }
                    Err(e) => {
                        token_cache.get_or_insert(CacheUse::Miss);
                        return Err(Reason::Token(e));
                    }
                },
            }
        } else {
            UserState::NotNeeded
        };
        match &user {
            UserState::Valid(u) => {
                trace.step(|| format!("end user verified, issuer {:?}", &*u.issuer))
            }
            UserState::Missing => trace.step(|| "no end-user token".to_owned()),
            UserState::NotNeeded => {}
        }
        Ok(Caller {
            workload,
            incoming,
            user,
        })
    }

    /// The first hop on the route, in policy order, with a caller rule that
    /// admits the caller (and whose `when` holds); else why not, named for
    /// the first hop.
    fn admit<'p>(
        &self,
        facts: &RequestFacts<'_>,
        route: &'p Route<'p>,
        caller: &Caller,
        trace: &mut Trace<'_>,
    ) -> Admission<'p> {
        let valid_workload = caller.valid_workload();
        let valid_user = caller.valid_user();
        let query = facts.path.split_once('?').map_or("", |(_, q)| q);
        let mut condition_failed = false;
        for (hop, params) in &route.matching {
            let hop: &Hop = hop;
            let var_inputs = VarInputs {
                method: facts.method,
                host: route.host,
                path: route.path,
                query,
                headers: facts.headers,
                params,
                workload: valid_workload,
                user: valid_user,
                txn: caller.incoming.as_ref(),
                hop: &hop.name,
            };
            let mut vars: Option<Vars> = None;
            for (i, rule) in hop.callers.iter().enumerate() {
                let workload_ok = match &rule.workloads {
                    None => true,
                    Some(list) => {
                        valid_workload.is_some_and(|id| list.iter().any(|p| p.matches(id)))
                    }
                };
                let user_ok = match &rule.user {
                    None => true,
                    Some(req) => valid_user.is_some_and(|u| {
                        u.issuer == req.issuer
                            && req.subjects.as_ref().is_none_or(|s| s.contains(&u.sub))
                            && req.scopes.iter().all(|s| u.scopes.contains(s))
                    }),
                };
                let txn_ok = match &rule.transaction {
                    None => true,
                    Some(scopes) => caller
                        .incoming
                        .as_ref()
                        .is_some_and(|t| scopes.iter().all(|s| t.scopes().any(|have| have == s))),
                };
                let identified = rule.anonymous || (workload_ok && user_ok && txn_ok);
                let condition = match (&rule.when, identified) {
                    (Some(c), true) => Some(self.condition(c, &mut vars, &var_inputs, trace)),
                    _ => None,
                };
                let admitted = identified && condition.unwrap_or(true);
                if condition == Some(false) {
                    condition_failed = true;
                }
                trace.step(|| {
                    format!(
                        "caller rule {i}: {}",
                        if admitted {
                            "admits"
                        } else if identified {
                            "its condition does not hold"
                        } else if !workload_ok {
                            "workload does not match"
                        } else if !txn_ok {
                            "no chained token with the scopes it needs"
                        } else {
                            "user does not match"
                        }
                    )
                });
                if admitted {
                    if let Some(when) = &hop.when
                        && !self.condition(when, &mut vars, &var_inputs, trace)
                    {
                        return Admission::Denied(Reason::ConditionNotMet, hop);
                    }
                    return Admission::Admitted(hop, params);
                }
            }
        }
        let hop = route.matching[0].0;
        let wants_user = hop.callers.iter().any(|c| c.user.is_some());
        let wants_workload = hop.callers.iter().any(|c| c.workloads.is_some());
        let wants_txn = hop.callers.iter().any(|c| c.transaction.is_some());
        let missing_user = wants_user && matches!(caller.user, UserState::Missing);
        let missing_txn = wants_txn && caller.incoming.is_none() && valid_workload.is_some();
        let reason = if condition_failed {
            Reason::ConditionNotMet
        } else if missing_user || missing_txn {
            Reason::CredentialsMissing
        } else if wants_workload && matches!(caller.workload, Some(Err(()))) {
            Reason::WorkloadInvalid
        } else if wants_workload && caller.workload.is_none() {
            Reason::WorkloadMissing
        } else {
            Reason::CallerNotAllowed
        };
        Admission::Denied(reason, hop)
    }

    /// The admitted request goes on: the headers to remove and, on a hop
    /// that mints (and is not only recorded), its transaction token.
    #[allow(clippy::too_many_arguments)]
    fn allow(
        &self,
        verdict: &Verdict<'_>,
        facts: &RequestFacts<'_>,
        route: &Route<'_>,
        hop: &Hop,
        params: &PathParams,
        caller: &Caller,
        hops: Hops,
        trace: &mut Trace<'_>,
    ) -> Decision {
        let policy = verdict.policy;
        let remove_headers =
            request_headers_to_remove(policy, hop, facts.headers.keys().map(String::as_str), true);
        let txn_token = match &hop.token {
            // Only recorded: nothing is sent, so nothing is signed.
            _ if hops == Hops::Shadow => None,
            None => None,
            Some(hop_token) => match self.mint(
                policy,
                hop,
                hop_token,
                facts,
                route.host,
                params,
                caller.incoming.as_ref(),
                caller.valid_workload(),
                caller.valid_user(),
            ) {
                Ok(t) => Some(t),
                Err(MintError::ChainTooLong) => {
                    return verdict.deny(Reason::ChainTooLong, Some(hop), trace);
                }
                Err(MintError::Sign) => {
                    return verdict.deny(Reason::MintFailed, Some(hop), trace);
                }
            },
        };
        trace.step(|| match txn_token {
            Some(_) => format!("allow; minted a transaction token for {:?}", &*hop.name),
            None => format!("allow; hop {:?} mints no token", &*hop.name),
        });
        Decision::Allow(Box::new(Allow {
            hop: Arc::clone(&hop.name),
            decision_id: verdict.decision_id.clone(),
            policy_version: policy.version.clone(),
            policy_hash: policy.hash.chars().take(12).collect(),
            policy_signer: policy.bundle.as_ref().map(|b| Arc::clone(&b.signer)),
            workload: caller.valid_workload().cloned(),
            user: caller.valid_user().cloned(),
            remove_headers,
            route_shared: verdict.route_shared,
            per_caller: hop.per_caller(),
            path_params: params.clone(),
            txn_token,
            shadow: policy.shadow || hop.shadow,
        }))
    }

    /// Evaluates a condition over the request's variables, built on first use.
    fn condition(
        &self,
        c: &Condition,
        vars: &mut Option<Vars>,
        inputs: &VarInputs<'_>,
        trace: &mut Trace<'_>,
    ) -> bool {
        let v = vars.get_or_insert_with(|| Vars::new(inputs));
        match c.holds(v) {
            Ok(b) => {
                trace.step(|| format!("condition {:?} is {b}", c.source));
                b
            }
            Err(e) => {
                trace.step(|| format!("condition {:?} failed ({e}): false", c.source));
                false
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mint(
        &self,
        policy: &Policy,
        hop: &Hop,
        hop_token: &HopToken,
        facts: &RequestFacts<'_>,
        host: &str,
        params: &[(String, String)],
        incoming: Option<&TxnClaims>,
        workload: Option<&SpiffeId>,
        user: Option<&User>,
    ) -> Result<TxnToken, MintError> {
        let authn = match (workload.is_some(), user.is_some(), incoming.is_some()) {
            (true, _, true) => "mtls+txn",
            (true, true, false) => "mtls+jwt",
            (true, false, false) => "mtls",
            (false, true, _) => "jwt",
            (false, false, _) => "none",
        };
        // Path parameters recorded in the token (`tctx`) ride to the callee
        // in a header chaperone signs: they are judged as the path is, so a
        // card number in a path never crosses in clear inside the token.
        let params = self.scrubbed_params(policy, hop, params);
        let request = MintRequest {
            hop: &hop.name,
            hop_token,
            host,
            trust_domain: &policy.trust_domain,
            incoming,
            user_sub: user.map(|u| u.sub.as_str()),
            user_scopes: user.map(|u| u.scopes.as_slice()).unwrap_or_default(),
            workload: workload.map(SpiffeId::as_str),
            path_params: &params,
            request_id: facts
                .headers
                .get("x-request-id")
                .map(|v| crate::request_id::last_value(v)),
            authn,
            source_ip: facts.source_ip,
            now: self.clock.now_unix(),
        };
        let claims = txn::claims_for(&policy.tokens, &request)?;
        let keys = self.keys.as_ref().ok_or(MintError::Sign)?;
        let token = txn::sign(&keys.snapshot(), &claims)?;
        Ok(TxnToken {
            header: policy.tokens.header.clone(),
            token,
        })
    }

    /// The path parameters as the hop's URL contract leaves them: a finding
    /// is replaced as its class says, or the parameter left out.
    fn scrubbed_params(
        &self,
        policy: &Policy,
        hop: &Hop,
        params: &[(String, String)],
    ) -> Vec<(String, String)> {
        use crate::scrub::text::{TextOutcome, scan_text};
        let scan = hop.request_envelope.url_scan;
        let mut findings = crate::scrub::Findings::new(policy.classes.len());
        params
            .iter()
            .filter_map(|(name, raw)| {
                let value = crate::scrub::query::segment_decode(raw);
                match scan_text(
                    &value,
                    scan,
                    crate::scrub::detect::Context::of_key(Some(name)),
                    &policy.classes,
                    &self.hash_key,
                    &mut findings,
                ) {
                    Ok(TextOutcome::Unchanged) => Some((name.clone(), raw.clone())),
                    Ok(TextOutcome::Replaced(v)) => Some((name.clone(), v)),
                    Ok(TextOutcome::Drop(_)) | Err(_) => None,
                }
            })
            .collect()
    }

    /// Who was allowed, as a keyed hash that is safe to log. Computed when
    /// something shows it (a decision event, a hop header), not per decision.
    pub fn principal(&self, allow: &Allow) -> String {
        self.principal_of(allow.workload.as_ref(), allow.user.as_ref())
    }

    fn principal_of(&self, workload: Option<&SpiffeId>, user: Option<&User>) -> String {
        // Each part is length-prefixed, so no two callers share an encoding.
        let mut id = String::new();
        for part in [
            workload.map(SpiffeId::as_str),
            user.map(|u| &*u.issuer),
            user.map(|u| u.sub.as_str()),
        ] {
            let part = part.unwrap_or_default();
            id.push_str(&part.len().to_string());
            id.push(':');
            id.push_str(part);
        }
        self.hash_key.tag("p_", "principal", id.as_bytes())
    }
}

/// The audiences a chaperone token arriving from `caller` may carry: the
/// trust domain in strict mode; otherwise the caller's service names and its
/// SPIFFE ID.
fn caller_audiences(policy: &Policy, caller: &SpiffeId) -> Vec<String> {
    if policy.tokens.audience_trust_domain {
        return vec![policy.trust_domain.clone()];
    }
    let mut names: Vec<String> = policy
        .services
        .iter()
        .filter(|(_, p)| p.matches(caller))
        .map(|(n, _)| n.clone())
        .collect();
    names.push(caller.as_str().to_owned());
    names
}

fn check_bounds(facts: &RequestFacts<'_>) -> Result<(), Reason> {
    if facts.host.is_empty() || facts.method.is_empty() || !facts.path.starts_with('/') {
        return Err(Reason::RequestMalformed);
    }
    if facts.host.len() > MAX_HOST_BYTES
        || facts.method.len() > MAX_METHOD_BYTES
        || facts.path.len() > MAX_PATH_BYTES
        || facts.headers.len() > MAX_HEADERS
    {
        return Err(Reason::RequestTooLarge);
    }
    let header_bytes: usize = facts.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(Reason::RequestTooLarge);
    }
    Ok(())
}

/// The methods of RFC 9110 and PATCH (RFC 5789).
fn is_standard_method(m: &str) -> bool {
    matches!(
        m,
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH"
    )
}

pub fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// A path we can match without ambiguity: no dot or empty segments, no
/// backslash, and no percent-encoded separator or unreserved character
/// (which would let `/v1/%63harges` dodge a `/v1/charges` hop).
pub fn is_normalized(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') || bytes.contains(&b'\\') {
        return false;
    }
    if path.len() > 1 {
        // A trailing '/' is a distinct path, not an ambiguity; inner empty segments are.
        let inner = path[1..].strip_suffix('/').unwrap_or(&path[1..]);
        if inner
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return false;
        }
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| char::from(b).to_digit(16);
            let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return false;
            };
            let c = u8::try_from(h * 16 + l).unwrap_or(0);
            if c == b'/' || c == b'\\' || c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn workload_of(policy: &Policy, facts: &RequestFacts<'_>) -> Option<Result<SpiffeId, ()>> {
    let raw = facts
        .source_principal
        .filter(|p| !p.is_empty())
        .or_else(|| {
            if policy.trust_xfcc {
                facts
                    .headers
                    .get("x-forwarded-client-cert")
                    .and_then(|h| uri_from_xfcc(h))
            } else {
                None
            }
        })?;
    Some(SpiffeId::parse(raw).map_err(|_| ()))
}

/// The token of an `Authorization: Bearer` header; any other scheme counts
/// as no end-user token.
pub fn bearer_token(headers: &HashMap<String, String>) -> Option<&str> {
    let value = headers.get("authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl From<TokenError> for Reason {
    fn from(e: TokenError) -> Self {
        Reason::Token(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths() {
        for ok in [
            "/",
            "/v1/charges",
            "/v1/charges/",
            "/a%20b",
            "/v1/x.json",
            "/a/b-c_d~e",
        ] {
            assert!(is_normalized(ok), "{ok}");
        }
        for bad in [
            "", "x", "//", "/a//b", "/a//", "/a/./b", "/a/../b", "/a%2fb", "/a%2Fb", "/%63",
            "/a\\b", "/a%zz", "/a%2",
        ] {
            assert!(!is_normalized(bad), "{bad}");
        }
    }

    #[test]
    fn ports_stripped() {
        assert_eq!(host_without_port("a.example:8080"), "a.example");
        assert_eq!(host_without_port("a.example"), "a.example");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HashMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization".into(), "Bearer abc".into());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert("authorization".into(), "bearer  abc ".into());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert("authorization".into(), "Basic abc".into());
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization".into(), "Bearer".into());
        assert_eq!(bearer_token(&h), None);
    }
}
