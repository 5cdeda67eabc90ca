//! What a policy change opens and closes: two compiled policies compared in
//! the terms a reviewer cares about (hops, callers, conditions, the fields
//! and data classes that cross each hop, limits, headers, tokens, trust).
//!
//! The compiled policies are compared, not their text: key and list order,
//! defaults filled in, `defaults` inherited by hops are all as chaperone
//! enforces them. Each change opens (loosens), closes (tightens) or is
//! neutral; one whose direction cannot be told counts as opening, so that a
//! reviewer reads it. Nothing here reads a file: keys are compared by
//! fingerprint, dictionaries by their size, and neither is shown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::Duration;

use super::{Caller, Hop, HostPattern, Policy};
use crate::identity::jwks::KeySource;
use crate::scrub::class::{Action, Classes};
use crate::scrub::contract::{
    CacheRule, Contract, Envelope, LimitAction, Node, OtherContent, Unknown,
};
use crate::scrub::detect::DetectorSet;

/// Which way a change moves what the policy lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// More is allowed, or less is scrubbed.
    Opens,
    /// Less is allowed, or more is scrubbed.
    Closes,
    /// Neither (a renamed path parameter, a JWKS refresh interval).
    Neutral,
}

impl Effect {
    pub fn name(self) -> &'static str {
        match self {
            Effect::Opens => "OPENS",
            Effect::Closes => "CLOSES",
            Effect::Neutral => "NEUTRAL",
        }
    }
}

/// What a change is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Policy,
    Issuer(String),
    Class(String),
    Hop(String),
}

impl Scope {
    fn label(&self, code: fn(&str) -> String) -> String {
        match self {
            Scope::Policy => "policy".to_owned(),
            Scope::Issuer(n) => format!("issuer {}", code(n)),
            Scope::Class(n) => format!("data class {}", code(n)),
            Scope::Hop(n) => format!("hop {}", code(n)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub scope: Scope,
    pub effect: Effect,
    /// What changed; values the policies hold are in backquotes.
    pub what: String,
}

/// Every change from one policy to another.
#[derive(Debug, Clone)]
pub struct Diff {
    pub old_version: String,
    pub new_version: String,
    pub changes: Vec<Change>,
}

impl Diff {
    /// Whether anything opens.
    pub fn opens(&self) -> bool {
        self.changes.iter().any(|c| c.effect == Effect::Opens)
    }

    fn count(&self, effect: Effect) -> usize {
        self.changes.iter().filter(|c| c.effect == effect).count()
    }

    /// Plain text, grouped by what each change is about.
    pub fn text(&self) -> String {
        let mut out = format!(
            "chaperone diff: version {} → {}\n",
            code(&self.old_version),
            code(&self.new_version)
        );
        if self.changes.is_empty() {
            out.push_str("no change in what the policy allows\n");
            return out;
        }
        let _ = writeln!(
            out,
            "opens: {}, closes: {}, neutral: {}",
            self.count(Effect::Opens),
            self.count(Effect::Closes),
            self.count(Effect::Neutral)
        );
        let mut scope = None;
        for c in &self.changes {
            if scope != Some(&c.scope) {
                let _ = writeln!(out, "\n{}", c.scope.label(code));
                scope = Some(&c.scope);
            }
            let _ = writeln!(out, "  {:<8} {}", c.effect.name(), c.what);
        }
        out
    }

    /// Markdown, for a pull-request comment.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "### chaperone diff: {} → {}\n\n",
            code(&self.old_version),
            code(&self.new_version)
        );
        if self.changes.is_empty() {
            out.push_str("No change in what the policy allows.\n");
            return out;
        }
        let opens = self.count(Effect::Opens);
        let _ = writeln!(
            out,
            "{}, closes: {}, neutral: {}\n",
            if opens > 0 {
                format!("**opens: {opens}**")
            } else {
                "opens: 0".to_owned()
            },
            self.count(Effect::Closes),
            self.count(Effect::Neutral)
        );
        out.push_str("| effect | where | change |\n|---|---|---|\n");
        for c in &self.changes {
            let effect = match c.effect {
                Effect::Opens => "**OPENS**".to_owned(),
                other => other.name().to_owned(),
            };
            let _ = writeln!(
                out,
                "| {effect} | {} | {} |",
                cell(&c.scope.label(code)),
                cell(&c.what)
            );
        }
        out
    }
}

/// A value as the output shows it: in backquotes (doubled when it holds one).
pub(super) fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// Text fit for a Markdown table cell.
pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| code(i.as_ref())).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

pub(crate) fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    match (ms % 1000, d.as_secs()) {
        (0, s) if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        (0, s) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        (0, s) => format!("{s}s"),
        _ => format!("{ms}ms"),
    }
}

/// The changes found so far, and what the next ones are about.
struct Changes {
    scope: Scope,
    list: Vec<Change>,
}

impl Changes {
    fn at(&mut self, scope: Scope) {
        self.scope = scope;
    }

    fn push(&mut self, effect: Effect, what: impl Into<String>) {
        self.list.push(Change {
            scope: self.scope.clone(),
            effect,
            what: what.into(),
        });
    }

    /// A flag turned on or off: `on` says which way opens.
    fn flag(&mut self, old: bool, new: bool, on_opens: bool, on: &str, off: &str) {
        if old == new {
            return;
        }
        let effect = if new == on_opens {
            Effect::Opens
        } else {
            Effect::Closes
        };
        self.push(effect, if new { on } else { off });
    }

    /// A quantity where more opens (`more_opens`) or closes.
    fn more<T: PartialOrd>(&mut self, old: T, new: T, more_opens: bool, what: String) {
        if old == new {
            return;
        }
        let effect = if (new > old) == more_opens {
            Effect::Opens
        } else {
            Effect::Closes
        };
        self.push(effect, what);
    }

    /// A set where an added member opens (`added_opens`) or closes.
    fn set(
        &mut self,
        old: &BTreeSet<String>,
        new: &BTreeSet<String>,
        added_opens: bool,
        added: impl Fn(&str) -> String,
        removed: impl Fn(&str) -> String,
    ) {
        let (opens, closes) = if added_opens {
            (Effect::Opens, Effect::Closes)
        } else {
            (Effect::Closes, Effect::Opens)
        };
        for m in new.difference(old) {
            self.push(opens, added(m));
        }
        for m in old.difference(new) {
            self.push(closes, removed(m));
        }
    }
}

/// The changes from `old` to `new`.
pub fn diff(old: &Policy, new: &Policy) -> Diff {
    let mut out = Changes {
        scope: Scope::Policy,
        list: Vec::new(),
    };
    policy_wide(old, new, &mut out);
    issuers(old, new, &mut out);
    classes(&old.classes, &new.classes, &mut out);
    hops(old, new, &mut out);
    Diff {
        old_version: old.version.clone(),
        new_version: new.version.clone(),
        changes: out.list,
    }
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    items.into_iter().cloned().collect()
}

fn policy_wide(old: &Policy, new: &Policy, out: &mut Changes) {
    out.flag(
        old.shadow,
        new.shadow,
        true,
        "mode: `enforce` → `shadow` (nothing is denied or changed)",
        "mode: `shadow` → `enforce`",
    );
    if old.trust_domain != new.trust_domain {
        out.push(
            Effect::Opens,
            format!(
                "trust domain: {} → {}",
                code(&old.trust_domain),
                code(&new.trust_domain)
            ),
        );
    }
    out.flag(
        old.trust_xfcc,
        new.trust_xfcc,
        true,
        "workloads are read from `x-forwarded-client-cert` when Envoy reports no mTLS peer",
        "workloads are no longer read from `x-forwarded-client-cert`",
    );
    let (ot, nt) = (&old.tokens, &new.tokens);
    if ot.issuer != nt.issuer {
        out.push(
            Effect::Opens,
            format!(
                "minted tokens' issuer: {} → {}",
                code(&ot.issuer),
                code(&nt.issuer)
            ),
        );
    }
    if ot.header != nt.header {
        out.push(
            Effect::Opens,
            format!("token header: {} → {}", code(&ot.header), code(&nt.header)),
        );
    }
    out.more(
        ot.max_ttl,
        nt.max_ttl,
        true,
        format!(
            "longest token lifetime (`tokens.max_ttl`): {} → {}",
            duration(ot.max_ttl),
            duration(nt.max_ttl)
        ),
    );
    out.flag(
        ot.audience_trust_domain,
        nt.audience_trust_domain,
        true,
        "token audience: the callee → the trust domain (a token is good at every service)",
        "token audience: the trust domain → the callee",
    );
    let services = |p: &Policy| -> BTreeMap<String, String> {
        p.services
            .iter()
            .map(|(name, w)| (name.clone(), w.to_string()))
            .collect()
    };
    let (os, ns) = (services(old), services(new));
    for (name, w) in &ns {
        match os.get(name) {
            None => out.push(
                Effect::Opens,
                format!(
                    "chained tokens for {} are taken from {}",
                    code(name),
                    code(w)
                ),
            ),
            Some(was) if was != w => out.push(
                Effect::Opens,
                format!(
                    "chained tokens for {} are taken from {} (was {})",
                    code(name),
                    code(w),
                    code(was)
                ),
            ),
            Some(_) => {}
        }
    }
    for name in os.keys().filter(|n| !ns.contains_key(*n)) {
        out.push(
            Effect::Closes,
            format!("chained tokens for {} are no longer taken", code(name)),
        );
    }
    out.set(
        &strings(&old.default_request_remove),
        &strings(&new.default_request_remove),
        false,
        |h| format!("request header {} is removed on every hop", code(h)),
        |h| {
            format!(
                "request header {} is no longer removed on every hop",
                code(h)
            )
        },
    );
    out.set(
        &strings(&old.default_response_remove),
        &strings(&new.default_response_remove),
        false,
        |h| format!("response header {} is removed on every hop", code(h)),
        |h| {
            format!(
                "response header {} is no longer removed on every hop",
                code(h)
            )
        },
    );
}

fn issuers(old: &Policy, new: &Policy, out: &mut Changes) {
    let (oi, ni) = (old.verifier.issuers(), new.verifier.issuers());
    for o in oi {
        out.at(Scope::Issuer(o.name.to_string()));
        let Some(n) = ni.iter().find(|n| n.name == o.name) else {
            out.push(Effect::Closes, "no longer trusted");
            continue;
        };
        if o.iss != n.iss {
            out.push(
                Effect::Opens,
                format!("`iss`: {} → {}", code(&o.iss), code(&n.iss)),
            );
        }
        out.set(
            &strings(&o.audiences),
            &strings(&n.audiences),
            true,
            |a| format!("tokens for audience {} are accepted", code(a)),
            |a| format!("tokens for audience {} are no longer accepted", code(a)),
        );
        let algs = |i: &crate::identity::Issuer| -> BTreeSet<String> {
            i.algorithms.iter().map(|a| format!("{a:?}")).collect()
        };
        out.set(
            &algs(o),
            &algs(n),
            true,
            |a| format!("algorithm {} is accepted", code(a)),
            |a| format!("algorithm {} is no longer accepted", code(a)),
        );
        out.more(
            o.leeway,
            n.leeway,
            true,
            format!(
                "clock leeway: {} → {}",
                duration(leeway(o.leeway)),
                duration(leeway(n.leeway))
            ),
        );
        keys(&o.keys, &n.keys, out);
    }
    for n in ni.iter().filter(|n| !oi.iter().any(|o| o.name == n.name)) {
        out.at(Scope::Issuer(n.name.to_string()));
        out.push(
            Effect::Opens,
            format!(
                "trusted: `iss` {}, audiences {}",
                code(&n.iss),
                list(&n.audiences)
            ),
        );
    }
}

fn leeway(seconds: i64) -> Duration {
    Duration::from_secs(u64::try_from(seconds).unwrap_or_default())
}

/// `n thing` or `n things`.
fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

fn keys(old: &KeySource, new: &KeySource, out: &mut Changes) {
    match (old, new) {
        (KeySource::Static(o), KeySource::Static(n)) => {
            let fps = |k: &crate::identity::jwks::KeySet| -> BTreeSet<String> {
                k.fingerprints().iter().cloned().collect()
            };
            let (o, n) = (fps(o), fps(n));
            let (added, removed) = (n.difference(&o).count(), o.difference(&n).count());
            if added > 0 {
                out.push(
                    Effect::Opens,
                    format!(
                        "its JWKS file holds {} not trusted before",
                        count(added, "key")
                    ),
                );
            }
            if removed > 0 {
                out.push(
                    Effect::Closes,
                    format!(
                        "its JWKS file no longer holds {} trusted before",
                        count(removed, "key")
                    ),
                );
            }
        }
        (KeySource::Remote(o), KeySource::Remote(n)) => {
            if o.url() != n.url() {
                out.push(
                    Effect::Opens,
                    format!("keys from {} (was {})", code(n.url()), code(o.url())),
                );
            }
            let (os, ns) = (o.settings(), n.settings());
            for (key, was, now) in [
                ("max_age", os.max_age, ns.max_age),
                (
                    "min_refetch_interval",
                    os.min_refetch_interval,
                    ns.min_refetch_interval,
                ),
            ] {
                if was != now {
                    out.push(
                        Effect::Neutral,
                        format!(
                            "JWKS refresh: `{key}` {} → {}",
                            duration(was),
                            duration(now)
                        ),
                    );
                }
            }
        }
        (KeySource::Static(_), KeySource::Remote(n)) => out.push(
            Effect::Opens,
            format!("keys from {} (was a JWKS file)", code(n.url())),
        ),
        (KeySource::Remote(o), KeySource::Static(_)) => out.push(
            Effect::Opens,
            format!("keys from a JWKS file (was {})", code(o.url())),
        ),
    }
}

/// How much of a value crosses under an action: the more, the lower.
fn strength(a: Action) -> u8 {
    match a {
        Action::Block => 6,
        Action::Drop => 5,
        Action::Redact => 4,
        Action::Hash => 3,
        Action::MaskPanLast4 | Action::MaskEmail | Action::MaskPhone => 2,
        Action::MaskPan => 1,
    }
}

/// An action changed: weaker opens; another of the same strength shows
/// other parts of a value, and opens too.
fn action_change(old: Action, new: Action) -> Effect {
    if strength(new) > strength(old) {
        Effect::Closes
    } else {
        Effect::Opens
    }
}

/// A class's detectors: the built-in ones by name, and its own (at most
/// one) as `check` describes it, with its pattern to compare.
fn detectors_of(
    classes: &Classes,
    set: DetectorSet,
) -> (BTreeSet<String>, Option<(String, String)>) {
    let mut builtin = BTreeSet::new();
    let mut own = None;
    for d in set.iter() {
        match classes.custom().get(d) {
            Some(c) => own = Some((c.to_string(), c.pattern().unwrap_or_default().to_owned())),
            None => {
                builtin.insert(d.name().to_owned());
            }
        }
    }
    (builtin, own)
}

fn classes(old: &Classes, new: &Classes, out: &mut Changes) {
    for (i, o) in old.iter().enumerate() {
        out.at(Scope::Class(o.name.to_string()));
        let Some(j) = new.index_of(&o.name) else {
            out.push(
                Effect::Neutral,
                format!(
                    "removed (it was {}); hops that scanned for it say so below",
                    code(o.action.name())
                ),
            );
            continue;
        };
        let Some(n) = new.get(j) else { continue };
        let (ob, oc) = detectors_of(old, o.detectors);
        let (nb, nc) = detectors_of(new, n.detectors);
        out.set(
            &ob,
            &nb,
            false,
            |d| format!("now also found by {}", code(d)),
            |d| format!("no longer found by {}", code(d)),
        );
        match (oc, nc) {
            (None, Some((d, _))) => {
                out.push(Effect::Closes, format!("now also found by its own {d}"))
            }
            (Some((d, _)), None) => {
                out.push(Effect::Opens, format!("no longer found by its own {d}"))
            }
            (Some(o), Some(n)) if o != n => out.push(
                Effect::Opens,
                if o.0 == n.0 {
                    "its own detector's pattern changed".to_owned()
                } else {
                    format!("its own detector changed: {} → {}", o.0, n.0)
                },
            ),
            _ => {}
        }
        if o.action != n.action {
            out.push(
                action_change(o.action, n.action),
                format!(
                    "action: {} → {}",
                    code(o.action.name()),
                    code(n.action.name())
                ),
            );
        }
        // Safe values by detector name and form: a custom detector's number
        // differs between policies.
        let safe = |c: &Classes, k: usize| -> BTreeSet<(String, String)> {
            c.safe_forms(k)
                .map(|(d, v)| (d.name().to_owned(), v.clone()))
                .collect()
        };
        let (os, ns) = (safe(old, i), safe(new, j));
        if os != ns {
            let (added, removed) = (ns.difference(&os).count(), os.difference(&ns).count());
            let effect = if added == 0 {
                Effect::Closes
            } else {
                Effect::Opens
            };
            out.push(
                effect,
                format!("safe values (left as they are): {added} added, {removed} removed"),
            );
        }
    }
    for n in new.iter().filter(|n| old.index_of(&n.name).is_none()) {
        out.at(Scope::Class(n.name.to_string()));
        let (b, c) = detectors_of(new, n.detectors);
        let mut found: Vec<String> = b.iter().map(|d| code(d)).collect();
        found.extend(c.map(|(d, _)| format!("its own {d}")));
        out.push(
            Effect::Neutral,
            format!(
                "defined: {}, found by {}; hops that scan for it say so below",
                code(n.action.name()),
                found.join(", ")
            ),
        );
    }
}

pub(super) fn route(hop: &Hop) -> String {
    let methods = if hop.methods.is_empty() {
        "ANY".to_owned()
    } else {
        hop.methods.join(",")
    };
    let hosts: Vec<String> = hop.hosts.iter().map(host).collect();
    code(&format!("{methods} {} {}", hosts.join(","), hop.path))
}

fn host(h: &HostPattern) -> String {
    match h {
        HostPattern::Exact(x) => x.clone(),
        HostPattern::Suffix(s) => format!("*{s}"),
        HostPattern::Any => "*".to_owned(),
    }
}

fn hosts_overlap(a: &HostPattern, b: &HostPattern) -> bool {
    match (a, b) {
        (HostPattern::Any, _) | (_, HostPattern::Any) => true,
        (HostPattern::Exact(x), HostPattern::Exact(y)) => x == y,
        (HostPattern::Exact(x), s @ HostPattern::Suffix(_))
        | (s @ HostPattern::Suffix(_), HostPattern::Exact(x)) => s.matches(x),
        (HostPattern::Suffix(s), HostPattern::Suffix(t)) => {
            s.ends_with(t.as_str()) || t.ends_with(s.as_str())
        }
    }
}

/// Whether one request could match both hops.
fn may_overlap(a: &Hop, b: &Hop) -> bool {
    let methods = a.methods.is_empty()
        || b.methods.is_empty()
        || a.methods.iter().any(|m| b.methods.contains(m));
    methods
        && a.hosts
            .iter()
            .any(|x| b.hosts.iter().any(|y| hosts_overlap(x, y)))
        && a.path.may_overlap(&b.path)
}

fn hops(old: &Policy, new: &Policy, out: &mut Changes) {
    for o in &old.hops {
        if new.hop(&o.name).is_none() {
            out.at(Scope::Hop(o.name.to_string()));
            out.push(
                Effect::Closes,
                format!("removed: {} (no longer allowed by this hop)", route(o)),
            );
        }
    }
    for (i, n) in new.hops.iter().enumerate() {
        out.at(Scope::Hop(n.name.to_string()));
        let Some(o) = old.hop(&n.name) else {
            let callers: Vec<String> = n.callers.iter().map(caller).collect();
            out.push(
                Effect::Opens,
                format!(
                    "added: {} from {}; request body: {}; response body: {}",
                    route(n),
                    callers.join("; "),
                    super::flows::classes_crossing(new, &n.request_body),
                    super::flows::classes_crossing(new, &n.response_body)
                ),
            );
            continue;
        };
        order(old, new, i, n, out);
        hop(old, new, o, n, out);
    }
}

/// A hop now tried before one it came after, where both may match one
/// request: the first that admits the caller decides, with its contract.
fn order(old: &Policy, new: &Policy, i: usize, n: &Hop, out: &mut Changes) {
    let position = |p: &Policy, name: &str| p.hops.iter().position(|h| &*h.name == name);
    let Some(was) = position(old, &n.name) else {
        return;
    };
    for later in new.hops.iter().skip(i + 1) {
        if position(old, &later.name).is_some_and(|w| w < was) && may_overlap(n, later) {
            out.push(
                Effect::Opens,
                format!(
                    "now tried before hop {} (a request may match both; the first that admits the caller decides)",
                    code(&later.name)
                ),
            );
        }
    }
}

fn hop(op: &Policy, np: &Policy, o: &Hop, n: &Hop, out: &mut Changes) {
    let hosts = |h: &Hop| -> BTreeSet<String> { h.hosts.iter().map(host).collect() };
    out.set(
        &hosts(o),
        &hosts(n),
        true,
        |h| format!("host {} added", code(h)),
        |h| format!("host {} removed", code(h)),
    );
    match (o.methods.is_empty(), n.methods.is_empty()) {
        (true, false) => out.push(
            Effect::Closes,
            format!("methods: any → {}", list(&n.methods)),
        ),
        (false, true) => out.push(
            Effect::Opens,
            format!("methods: {} → any", list(&o.methods)),
        ),
        _ => out.set(
            &strings(&o.methods),
            &strings(&n.methods),
            true,
            |m| format!("method {} added", code(m)),
            |m| format!("method {} removed", code(m)),
        ),
    }
    if o.path.to_string() != n.path.to_string() {
        let paths = format!(
            "path: {} → {}",
            code(&o.path.to_string()),
            code(&n.path.to_string())
        );
        match (o.path.covers(&n.path), n.path.covers(&o.path)) {
            (true, true) => out.push(Effect::Neutral, format!("{paths} (the same paths)")),
            (true, false) => out.push(Effect::Closes, format!("{paths} (fewer paths)")),
            _ => out.push(Effect::Opens, paths),
        }
    }
    out.flag(
        o.shadow,
        n.shadow,
        true,
        "in shadow mode (nothing is denied or changed on it)",
        "enforced (no longer in shadow mode)",
    );
    condition(
        o.when.as_ref().map(|c| c.source.as_str()),
        n.when.as_ref().map(|c| c.source.as_str()),
        "condition",
        out,
    );
    callers(&o.callers, &n.callers, out);
    out.flag(
        o.keep_authorization,
        n.keep_authorization,
        true,
        "the caller's `Authorization` header reaches the callee",
        "the caller's `Authorization` header no longer reaches the callee",
    );
    token(op, np, o, n, out);
    out.set(
        &strings(&o.request_headers_remove),
        &strings(&n.request_headers_remove),
        false,
        |h| format!("request header {} is removed", code(h)),
        |h| format!("request header {} is no longer removed", code(h)),
    );
    out.set(
        &strings(&o.request_headers_allow),
        &strings(&n.request_headers_allow),
        true,
        |h| format!("request header {} crosses as sent (unscanned)", code(h)),
        |h| format!("request header {} no longer crosses as sent", code(h)),
    );
    out.set(
        &strings(&o.response_headers_remove),
        &strings(&n.response_headers_remove),
        false,
        |h| format!("response header {} is removed", code(h)),
        |h| format!("response header {} is no longer removed", code(h)),
    );
    envelope(op, np, &o.request_envelope, &n.request_envelope, true, out);
    envelope(
        op,
        np,
        &o.response_envelope,
        &n.response_envelope,
        false,
        out,
    );
    body(
        op,
        np,
        &o.request_body,
        &n.request_body,
        "request body",
        out,
    );
    body(
        op,
        np,
        &o.response_body,
        &n.response_body,
        "response body",
        out,
    );
    out.flag(
        o.generic_errors,
        n.generic_errors,
        false,
        "the callee's 5xx bodies are replaced by a generic error",
        "the callee's 5xx bodies cross (scrubbed) instead of a generic error",
    );
    budgets(o, n, out);
    anomalies(o, n, out);
}

/// Budgets by name: one added closes, one removed opens; a higher limit, a
/// shorter window, `alert` for `block` or `allow` on store errors opens; a
/// budget that counts something else opens (what it no longer counts).
fn budgets(o: &Hop, n: &Hop, out: &mut Changes) {
    use crate::budget::{Budget, BudgetAction, OnStoreError};
    let show = |b: &Budget| {
        code(&format!(
            "{}: {} {} per {} ({})",
            b.name,
            b.limit,
            b.fingerprint,
            duration(b.window),
            b.action.as_str()
        ))
    };
    for nb in &n.budgets {
        let Some(ob) = o.budgets.iter().find(|b| b.name == nb.name) else {
            out.push(Effect::Closes, format!("budget added: {}", show(nb)));
            continue;
        };
        let at = format!("budget {}", code(&nb.name));
        if ob.fingerprint != nb.fingerprint {
            out.push(
                Effect::Opens,
                format!(
                    "{at}: counts {} → {}",
                    code(&ob.fingerprint),
                    code(&nb.fingerprint)
                ),
            );
        }
        out.more(
            ob.limit,
            nb.limit,
            true,
            format!("{at}: limit {} → {}", ob.limit, nb.limit),
        );
        out.more(
            ob.window,
            nb.window,
            false,
            format!(
                "{at}: window {} → {}",
                duration(ob.window),
                duration(nb.window)
            ),
        );
        out.flag(
            ob.action == BudgetAction::Alert,
            nb.action == BudgetAction::Alert,
            true,
            &format!("{at}: past the limit: `block` → `alert`"),
            &format!("{at}: past the limit: `alert` → `block`"),
        );
        out.flag(
            ob.on_store_error == OnStoreError::Allow,
            nb.on_store_error == OnStoreError::Allow,
            true,
            &format!("{at}: without its store: `deny` → `allow`"),
            &format!("{at}: without its store: `allow` → `deny`"),
        );
    }
    for ob in &o.budgets {
        if !n.budgets.iter().any(|b| b.name == ob.name) {
            out.push(Effect::Opens, format!("budget removed: {}", show(ob)));
        }
    }
}

/// Anomalies by name: one added closes, one removed opens; more standard
/// deviations, a higher minimum, a longer warm-up or a shorter history
/// (the baseline learns a drain sooner) opens; another window or another
/// count opens (it cannot be told which way).
fn anomalies(o: &Hop, n: &Hop, out: &mut Changes) {
    use crate::anomaly::Anomaly;
    let show = |a: &Anomaly| {
        code(&format!(
            "{}: {} per {} past {} sd and {}",
            a.name,
            a.fingerprint,
            duration(a.window),
            a.sigmas,
            a.min
        ))
    };
    for na in &n.anomalies {
        let Some(oa) = o.anomalies.iter().find(|a| a.name == na.name) else {
            out.push(Effect::Closes, format!("anomaly added: {}", show(na)));
            continue;
        };
        let at = format!("anomaly {}", code(&na.name));
        if oa.fingerprint != na.fingerprint {
            out.push(
                Effect::Opens,
                format!(
                    "{at}: counts {} → {}",
                    code(&oa.fingerprint),
                    code(&na.fingerprint)
                ),
            );
        }
        if oa.window != na.window {
            out.push(
                Effect::Opens,
                format!(
                    "{at}: window {} → {} (a new baseline)",
                    duration(oa.window),
                    duration(na.window)
                ),
            );
        }
        out.more(
            oa.sigmas,
            na.sigmas,
            true,
            format!("{at}: sigmas {} → {}", oa.sigmas, na.sigmas),
        );
        out.more(
            oa.min,
            na.min,
            true,
            format!("{at}: min {} → {}", oa.min, na.min),
        );
        out.more(
            oa.warmup,
            na.warmup,
            true,
            format!("{at}: warmup {} → {} windows", oa.warmup, na.warmup),
        );
        out.more(
            oa.history,
            na.history,
            false,
            format!(
                "{at}: history {} → {}",
                duration(oa.history),
                duration(na.history)
            ),
        );
    }
    for oa in &o.anomalies {
        if !n.anomalies.iter().any(|a| a.name == oa.name) {
            out.push(Effect::Opens, format!("anomaly removed: {}", show(oa)));
        }
    }
}

fn condition(old: Option<&str>, new: Option<&str>, what: &str, out: &mut Changes) {
    match (old, new) {
        (None, Some(n)) => out.push(Effect::Closes, format!("{what} added: {}", code(n))),
        (Some(o), None) => out.push(Effect::Opens, format!("{what} removed: {}", code(o))),
        (Some(o), Some(n)) if o != n => out.push(
            Effect::Opens,
            format!("{what} changed: {} → {}", code(o), code(n)),
        ),
        _ => {}
    }
}

fn sorted(items: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = items.iter().collect();
    set.into_iter().cloned().collect()
}

/// A caller rule as a reviewer reads it, its lists sorted.
pub(super) fn caller(c: &Caller) -> String {
    if c.anonymous {
        return "anyone".to_owned();
    }
    let mut parts = Vec::new();
    if let Some(ws) = &c.workloads {
        let ws: Vec<String> = ws.iter().map(ToString::to_string).collect();
        parts.push(format!("workloads {}", list(sorted(&ws))));
    }
    if let Some(u) = &c.user {
        let mut who = format!("users of {}", code(&u.issuer));
        if !u.scopes.is_empty() {
            let _ = write!(who, " with scopes {}", list(sorted(&u.scopes)));
        }
        if let Some(s) = &u.subjects {
            let _ = write!(who, " with subjects {}", list(sorted(s)));
        }
        parts.push(who);
    }
    if let Some(t) = &c.transaction {
        parts.push(if t.is_empty() {
            "a chained token".to_owned()
        } else {
            format!("a chained token with scopes {}", list(sorted(t)))
        });
    }
    if let Some(w) = &c.when {
        parts.push(format!("when {}", code(&w.source)));
    }
    parts.join(" + ")
}

/// Which rules two versions of one caller rule are: the same kind of
/// caller (anyone; a workload, a user of one issuer, or both).
fn kind(c: &Caller) -> (bool, bool, Option<&str>) {
    (
        c.anonymous,
        c.workloads.is_some(),
        c.user.as_ref().map(|u| &*u.issuer),
    )
}

fn callers(old: &[Caller], new: &[Caller], out: &mut Changes) {
    let od: Vec<String> = old.iter().map(caller).collect();
    let nd: Vec<String> = new.iter().map(caller).collect();
    let mut gone: Vec<usize> = (0..old.len()).filter(|&i| !nd.contains(&od[i])).collect();
    for (j, n) in new.iter().enumerate() {
        if od.contains(&nd[j]) {
            continue;
        }
        match gone.iter().position(|&i| kind(&old[i]) == kind(n)) {
            Some(k) => {
                let i = gone.remove(k);
                out.push(
                    rule_change(&old[i], n),
                    format!("caller rule: {} → {}", od[i], nd[j]),
                );
            }
            None => out.push(Effect::Opens, format!("now admits {}", nd[j])),
        }
    }
    for i in gone {
        out.push(Effect::Closes, format!("no longer admits {}", od[i]));
    }
}

/// One caller rule changed: opens if any part of it loosened.
fn rule_change(o: &Caller, n: &Caller) -> Effect {
    let set = |v: &[String]| -> BTreeSet<String> { v.iter().cloned().collect() };
    // (loosened, tightened) of a list where more members admit more.
    let admits = |o: &BTreeSet<String>, n: &BTreeSet<String>| (!n.is_subset(o), !o.is_subset(n));
    let mut parts: Vec<(bool, bool)> = Vec::new();
    let workloads = |c: &Caller| -> BTreeSet<String> {
        c.workloads
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect()
    };
    parts.push(admits(&workloads(o), &workloads(n)));
    // Required scopes: more members admit fewer.
    let required = |a: &BTreeSet<String>, b: &BTreeSet<String>| (!a.is_subset(b), !b.is_subset(a));
    if let (Some(ou), Some(nu)) = (&o.user, &n.user) {
        parts.push(required(&set(&ou.scopes), &set(&nu.scopes)));
        parts.push(match (&ou.subjects, &nu.subjects) {
            (Some(_), None) => (true, false),
            (None, Some(_)) => (false, true),
            (Some(a), Some(b)) => admits(&set(a), &set(b)),
            (None, None) => (false, false),
        });
    }
    parts.push(match (&o.transaction, &n.transaction) {
        (Some(_), None) => (true, false),
        (None, Some(_)) => (false, true),
        (Some(a), Some(b)) => required(&set(a), &set(b)),
        (None, None) => (false, false),
    });
    let (ow, nw) = (
        o.when.as_ref().map(|w| w.source.as_str()),
        n.when.as_ref().map(|w| w.source.as_str()),
    );
    parts.push(match (ow, nw) {
        (None, Some(_)) => (false, true),
        (Some(a), Some(b)) if a == b => (false, false),
        (Some(_), _) => (true, false),
        (None, None) => (false, false),
    });
    if parts.iter().any(|p| p.0) {
        Effect::Opens
    } else if parts.iter().any(|p| p.1) {
        Effect::Closes
    } else {
        Effect::Neutral
    }
}

fn token(op: &Policy, np: &Policy, o: &Hop, n: &Hop, out: &mut Changes) {
    match (&o.token, &n.token) {
        (None, None) => {}
        (Some(_), None) => out.push(Effect::Closes, "mints no token (none reaches the callee)"),
        (None, Some(_)) => out.push(Effect::Opens, "mints a token for the callee"),
        (Some(a), Some(b)) => {
            let audience = |t: &crate::token::HopToken| {
                t.audience
                    .as_deref()
                    .map_or_else(|| "the request host".to_owned(), code)
            };
            if a.audience != b.audience {
                out.push(
                    Effect::Opens,
                    format!("token audience: {} → {}", audience(a), audience(b)),
                );
            }
            match (&a.scope, &b.scope) {
                (None, Some(s)) => out.push(
                    Effect::Closes,
                    format!("token scope: the caller's → {}", list(sorted(s))),
                ),
                (Some(s), None) => out.push(
                    Effect::Opens,
                    format!("token scope: {} → the caller's", list(sorted(s))),
                ),
                (Some(x), Some(y)) => out.set(
                    &strings(x),
                    &strings(y),
                    true,
                    |s| format!("token scope adds {}", code(s)),
                    |s| format!("token scope drops {}", code(s)),
                ),
                (None, None) => {}
            }
            let (ol, nl) = (
                a.ttl.unwrap_or(op.tokens.ttl),
                b.ttl.unwrap_or(np.tokens.ttl),
            );
            out.more(
                ol,
                nl,
                true,
                format!("token lifetime: {} → {}", duration(ol), duration(nl)),
            );
            out.set(
                &strings(&a.tctx_params),
                &strings(&b.tctx_params),
                true,
                |p| format!("token `tctx` holds path parameter {}", code(p)),
                |p| format!("token `tctx` no longer holds path parameter {}", code(p)),
            );
            out.flag(
                a.rctx,
                b.rctx,
                true,
                "token holds `rctx` (how the caller authenticated, its address)",
                "token no longer holds `rctx`",
            );
        }
    }
}

/// The classes of a policy that a detector set looks for.
fn scanned(p: &Policy, set: DetectorSet) -> BTreeSet<String> {
    p.classes
        .iter()
        .filter(|c| !c.detectors.intersection(set).is_empty())
        .map(|c| c.name.to_string())
        .collect()
}

fn scans(op: &Policy, np: &Policy, o: DetectorSet, n: DetectorSet, at: &str, out: &mut Changes) {
    out.set(
        &scanned(op, o),
        &scanned(np, n),
        false,
        |c| format!("{at}: {} is now looked for", code(c)),
        |c| format!("{at}: {} is no longer looked for", code(c)),
    );
}

fn envelope(
    op: &Policy,
    np: &Policy,
    o: &Envelope,
    n: &Envelope,
    request: bool,
    out: &mut Changes,
) {
    let dir = if request { "request" } else { "response" };
    scans(
        op,
        np,
        o.header_scan,
        n.header_scan,
        &format!("{dir} headers"),
        out,
    );
    if request {
        scans(op, np, o.url_scan, n.url_scan, "path and query", out);
        out.set(
            &strings(&o.query_allow),
            &strings(&n.query_allow),
            true,
            |q| format!("query parameter {} crosses as sent (unscanned)", code(q)),
            |q| format!("query parameter {} no longer crosses as sent", code(q)),
        );
        out.set(
            &strings(&o.query_remove),
            &strings(&n.query_remove),
            false,
            |q| format!("query parameter {} is removed", code(q)),
            |q| format!("query parameter {} is no longer removed", code(q)),
        );
        return;
    }
    let strictness = |c: CacheRule| match c {
        CacheRule::NoStore => 2,
        CacheRule::Private => 1,
        CacheRule::Public => 0,
    };
    out.more(
        strictness(o.cache),
        strictness(n.cache),
        false,
        format!(
            "response cache: {} → {}",
            code(o.cache.name()),
            code(n.cache.name())
        ),
    );
    out.flag(
        o.nosniff,
        n.nosniff,
        false,
        "responses are marked `nosniff`",
        "responses are no longer marked `nosniff`",
    );
}

/// A contract's field paths: those the allow-list lets cross (`None`:
/// every field may), and those with an action.
pub(super) struct Fields {
    pub(super) allow: Option<BTreeSet<String>>,
    pub(super) actions: BTreeMap<String, Action>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Any,
    Elements,
}

fn render(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        let name = match step {
            Step::Elements => {
                s.push_str("[*]");
                continue;
            }
            Step::Key(k) => k.as_str(),
            Step::Any => "*",
        };
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(name);
    }
    s
}

fn parse(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        match name {
            "" => {}
            "*" => steps.push(Step::Any),
            k => steps.push(Step::Key(k.to_owned())),
        }
        steps.extend(std::iter::repeat_n(
            Step::Elements,
            rest.matches("[*]").count(),
        ));
    }
    steps
}

/// Whether what `pattern` names takes in `path`, at its depth (`exact`) or
/// anywhere below it.
fn covers(pattern: &[Step], path: &[Step], exact: bool) -> bool {
    (if exact {
        pattern.len() == path.len()
    } else {
        pattern.len() <= path.len()
    }) && pattern.iter().zip(path).all(|pair| match pair {
        (Step::Any, Step::Key(_) | Step::Any) => true,
        (a, b) => a == b,
    })
}

fn collect(
    node: &Node,
    at: &mut Vec<Step>,
    allow: &mut Vec<Vec<Step>>,
    actions: &mut Vec<(Vec<Step>, Action)>,
) {
    if node.allow_subtree {
        allow.push(at.clone());
    }
    if let Some(a) = &node.action {
        actions.push((at.clone(), a.action));
    }
    let children = node
        .keys
        .iter()
        .map(|(k, n)| (Step::Key(k.to_string()), n))
        .chain(node.any_key.as_deref().map(|n| (Step::Any, n)))
        .chain(node.elements.as_deref().map(|n| (Step::Elements, n)));
    for (step, child) in children {
        at.push(step);
        collect(child, at, allow, actions);
        at.pop();
    }
}

impl Fields {
    /// Without what another entry implies: a path below an allowed one, a
    /// listed name that `*` beside it already allows or acts on alike.
    pub(super) fn of(c: &Contract) -> Self {
        let (mut allow, mut actions) = (Vec::new(), Vec::new());
        collect(c.root(), &mut Vec::new(), &mut allow, &mut actions);
        let allow_set = c.allow.as_ref().map(|_| {
            allow
                .iter()
                .filter(|p| !allow.iter().any(|q| q != *p && covers(q, p, false)))
                .map(|p| render(p))
                .collect()
        });
        let actions = actions
            .iter()
            .filter(|(p, a)| {
                !actions
                    .iter()
                    .any(|(q, b)| q != p && a == b && covers(q, p, true))
            })
            .map(|(p, a)| (render(p), *a))
            .collect();
        Fields {
            allow: allow_set,
            actions,
        }
    }

    fn allows(&self, path: &str) -> bool {
        let path = parse(path);
        self.allow
            .as_ref()
            .is_none_or(|set| set.iter().any(|q| covers(&parse(q), &path, false)))
    }
}

/// Whether the field at `path` crosses under `c` (whose fields are `f`).
fn crosses(c: &Contract, f: &Fields, path: &str) -> bool {
    c.unknown == Unknown::Allow || f.allows(path)
}

fn body(op: &Policy, np: &Policy, o: &Contract, n: &Contract, at: &str, out: &mut Changes) {
    let (of, nf) = (Fields::of(o), Fields::of(n));
    match (&of.allow, &nf.allow) {
        (None, Some(set)) => out.push(
            Effect::Closes,
            format!("{at}: an allow-list applies: only {} may cross", list(set)),
        ),
        (Some(_), None) => out.push(
            Effect::Opens,
            format!("{at}: no allow-list any more: every field may cross"),
        ),
        (Some(os), Some(ns)) => {
            for p in ns.iter().filter(|p| !of.allows(p)) {
                let action = nf
                    .actions
                    .get(p)
                    .map(|a| format!(" ({})", code(a.name())))
                    .unwrap_or_default();
                out.push(
                    Effect::Opens,
                    format!("{at}: {} may cross{action}", code(p)),
                );
            }
            for p in os.iter().filter(|p| !nf.allows(p)) {
                out.push(
                    Effect::Closes,
                    format!("{at}: {} no longer crosses", code(p)),
                );
            }
        }
        (None, None) => {}
    }
    let paths: BTreeSet<&String> = of.actions.keys().chain(nf.actions.keys()).collect();
    for p in paths {
        match (of.actions.get(p), nf.actions.get(p)) {
            (Some(a), Some(b)) if a != b => out.push(
                action_change(*a, *b),
                format!(
                    "{at}: field {}: {} → {}",
                    code(p),
                    code(a.name()),
                    code(b.name())
                ),
            ),
            (Some(a), None) if crosses(n, &nf, p) => out.push(
                Effect::Opens,
                format!(
                    "{at}: field {} is no longer {} (it crosses as it is, scanned only)",
                    code(p),
                    code(a.name())
                ),
            ),
            (None, Some(b)) if crosses(o, &of, p) => out.push(
                Effect::Closes,
                format!("{at}: field {} is now {}", code(p), code(b.name())),
            ),
            _ => {}
        }
    }
    let matters = |c: &Contract| c.allow.is_some() || c.message.is_some();
    if o.unknown != n.unknown && (matters(o) || matters(n)) {
        let strictness = |u: Unknown| match u {
            Unknown::Reject => 2,
            Unknown::Drop => 1,
            Unknown::Allow => 0,
        };
        let name = |u: Unknown| match u {
            Unknown::Reject => "reject",
            Unknown::Drop => "drop",
            Unknown::Allow => "allow",
        };
        out.more(
            strictness(o.unknown),
            strictness(n.unknown),
            false,
            format!(
                "{at}: unknown fields: {} → {}",
                code(name(o.unknown)),
                code(name(n.unknown))
            ),
        );
    }
    scans(op, np, o.scan, n.scan, at, out);
    match (o.limit, n.limit) {
        (None, Some(l)) => out.push(
            Effect::Closes,
            format!("{at}: findings limit: none → {}", limit(l)),
        ),
        (Some(l), None) => out.push(
            Effect::Opens,
            format!("{at}: findings limit: {} → none", limit(l)),
        ),
        (Some(a), Some(b)) => {
            out.more(
                a.findings,
                b.findings,
                true,
                format!("{at}: findings limit: {} → {}", a.findings, b.findings),
            );
            if a.action != b.action {
                out.push(
                    if b.action == LimitAction::Alert {
                        Effect::Opens
                    } else {
                        Effect::Closes
                    },
                    format!(
                        "{at}: past the findings limit: {} → {}",
                        code(limit_action(a.action)),
                        code(limit_action(b.action))
                    ),
                );
            }
        }
        (None, None) => {}
    }
    out.more(
        o.max_body,
        n.max_body,
        true,
        format!("{at}: `max_bytes`: {} → {}", o.max_body, n.max_body),
    );
    out.flag(
        o.stream,
        n.stream,
        true,
        &format!("{at}: `stream` on (each event or line is bounded, not the stream)"),
        &format!("{at}: `stream` off"),
    );
    out.flag(
        o.text,
        n.text,
        false,
        &format!("{at}: text bodies are scanned"),
        &format!("{at}: text bodies cross unscanned (`text: false`)"),
    );
    if o.other != n.other {
        let pass = |x: OtherContent| x == OtherContent::Pass;
        out.flag(
            pass(o.other),
            pass(n.other),
            true,
            &format!("{at}: bodies neither JSON nor text: `block` → `pass`"),
            &format!("{at}: bodies neither JSON nor text: `pass` → `block`"),
        );
    }
    let message = |c: &Contract| c.message.as_ref().map(|m| m.name.clone());
    match (message(o), message(n)) {
        (None, Some(m)) => out.push(
            Effect::Opens,
            format!("{at}: gRPC messages are read as {}", code(&m)),
        ),
        (Some(m), None) => out.push(
            if n.other == OtherContent::Pass {
                Effect::Opens
            } else {
                Effect::Closes
            },
            format!(
                "{at}: gRPC messages are no longer read as {} (they follow `other`)",
                code(&m)
            ),
        ),
        (Some(a), Some(b)) if a != b => out.push(
            Effect::Opens,
            format!("{at}: gRPC messages: {} → {}", code(&a), code(&b)),
        ),
        _ => {}
    }
}

fn limit_action(a: LimitAction) -> &'static str {
    match a {
        LimitAction::Block => "block",
        LimitAction::Alert => "alert",
    }
}

fn limit(l: crate::scrub::contract::Limit) -> String {
    code(&format!("{} ({})", l.findings, limit_action(l.action)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn paths_render_as_written() {
        for p in [
            "a",
            "a.b",
            "items[*].sku",
            "[*].id",
            "meta.*",
            "m[*][*]",
            "*.x",
        ] {
            assert_eq!(render(&parse(p)), p);
        }
    }

    #[test]
    fn coverage_follows_wildcards_and_depth() {
        let c = |q: &str, p: &str, exact| covers(&parse(q), &parse(p), exact);
        assert!(c("a", "a.b", false));
        assert!(!c("a", "a.b", true));
        assert!(c("meta.*", "meta.card", true));
        assert!(!c("meta.card", "meta.*", true));
        assert!(c("items[*]", "items[*].sku", false));
        assert!(!c("items", "itemsx", false));
        assert!(!c("a.b", "a", false));
    }

    /// A contract's fields as written, without what other entries imply.
    #[test]
    fn implied_entries_are_left_out() {
        use crate::scrub::contract::FieldAction;
        let act = |action| FieldAction {
            action,
            class: "x".into(),
        };
        let mut c = Contract::default();
        for p in ["meta.*", "meta.card", "items[*]", "items[*].sku"] {
            c.allow_path(p).unwrap();
        }
        c.field_action("meta.*", act(Action::Redact)).unwrap();
        c.field_action("meta.card", act(Action::MaskPan)).unwrap();
        c.field_action("meta.note", act(Action::Redact)).unwrap();
        let f = Fields::of(&c);
        let allowed: BTreeSet<String> = ["items[*]", "meta.*"].map(String::from).into();
        assert_eq!(f.allow, Some(allowed));
        let actions: BTreeMap<String, Action> = [
            ("meta.*".to_owned(), Action::Redact),
            ("meta.card".to_owned(), Action::MaskPan),
        ]
        .into();
        assert_eq!(f.actions, actions);
        assert!(f.allows("meta.card.number"));
        assert!(f.allows("items[*].sku"));
        assert!(!f.allows("items"));
        assert!(!f.allows("total"));
        assert!(Fields::of(&Contract::default()).allows("total"));
    }

    #[test]
    fn weaker_actions_open() {
        assert_eq!(
            action_change(Action::Redact, Action::MaskPan),
            Effect::Opens
        );
        assert_eq!(
            action_change(Action::MaskPan, Action::Redact),
            Effect::Closes
        );
        assert_eq!(action_change(Action::Hash, Action::Drop), Effect::Closes);
        assert_eq!(action_change(Action::Drop, Action::Hash), Effect::Opens);
        assert_eq!(
            action_change(Action::MaskPan, Action::MaskPanLast4),
            Effect::Closes
        );
        // The same strength, another part of a value shown.
        assert_eq!(
            action_change(Action::MaskEmail, Action::MaskPhone),
            Effect::Opens
        );
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(duration(Duration::from_secs(60)), "1m");
        assert_eq!(duration(Duration::from_secs(90)), "90s");
        assert_eq!(duration(Duration::from_secs(7200)), "2h");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration(Duration::ZERO), "0s");
    }

    #[test]
    fn markdown_cells_keep_their_columns() {
        assert_eq!(cell("a || b"), "a \\|\\| b");
        assert_eq!(code("x`y"), "`` x`y ``");
    }
}
