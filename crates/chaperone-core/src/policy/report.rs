//! Evidence for an assessor: what a compiled policy lets cross each hop, as
//! Markdown. For each hop and direction, what happens to each data class in
//! the body, the headers and (toward the callee) the path and query: in
//! clear, masked, hashed, redacted, dropped or refused; who may make the
//! hop, the token it mints, and its bounds.
//!
//! Every statement is read from the compiled policy (the scan sets each hop
//! and direction ended up with, the classes' actions, field actions by
//! path, the allow-list and `unknown`, `other`, `text`, limits), as
//! `chaperone check` loads it, never from the YAML text. Like the diff, it
//! holds what the policy holds (names, paths, conditions, URLs) and nothing
//! from the files it names: not a key, not a dictionary entry, not a safe
//! value.

use std::fmt::Write;

use super::diff::{Fields, caller, cell, code, duration, list, route};
use super::{Hop, Policy};
use crate::budget::{BudgetAction, OnStoreError};
use crate::config::compile::{DEFAULT_REQUEST_REMOVE, DEFAULT_RESPONSE_REMOVE};
use crate::identity::jwks::KeySource;
use crate::scrub::class::{Action, DataClass};
use crate::scrub::contract::{CacheRule, Contract, Envelope, LimitAction, OtherContent, Unknown};
use crate::scrub::detect::DetectorSet;
use crate::scrub::query::DEFAULT_REMOVED as DEFAULT_QUERY_REMOVED;

/// Where in a message a class is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Body,
    Headers,
    /// The path's segments and the query's names and values.
    Url,
}

impl Position {
    fn name(self) -> &'static str {
        match self {
            Position::Body => "body",
            Position::Headers => "headers",
            Position::Url => "path and query",
        }
    }
}

/// Whether a scan set looks for a class at all.
fn scanned(class: &DataClass, scan: DetectorSet) -> bool {
    !class.detectors.intersection(scan).is_empty()
}

/// What an action makes of a value found at `at`.
fn action_cell(a: Action, at: Position) -> String {
    let name = a.name();
    match a {
        Action::MaskPan | Action::MaskPanLast4 | Action::MaskEmail | Action::MaskPhone => {
            format!("**masked** (`{name}`)")
        }
        Action::Hash => "**hashed** (`hash`: keyed HMAC token)".to_owned(),
        Action::Redact => "**redacted** (`redact`)".to_owned(),
        Action::Drop => match at {
            Position::Body => "**dropped** (`drop`: the field removed; in free text, redacted)",
            Position::Headers => "**dropped** (`drop`: the header removed)",
            Position::Url => {
                "**dropped** (`drop`: the parameter removed; in a path segment, redacted)"
            }
        }
        .to_owned(),
        Action::Block => "**refused** (`block`: the whole message)".to_owned(),
    }
}

/// What happens to `class` where `scan` is looked for, at `at`.
fn class_cell(class: &DataClass, scan: DetectorSet, at: Position) -> String {
    if !scanned(class, scan) {
        return match at {
            Position::Body => "**in clear**: not scanned: crosses if present in an allowed field",
            Position::Headers => {
                "**in clear**: not scanned: crosses if present in a header that crosses"
            }
            Position::Url => "**in clear**: not scanned: crosses if present in the path or query",
        }
        .to_owned();
    }
    action_cell(class.action, at)
}

/// The class's detectors as `chaperone check` names them: the built-in by
/// name, the policy's own by what it is made of (never a dictionary entry).
fn found_by(p: &Policy, class: &DataClass) -> String {
    class
        .detectors
        .iter()
        .map(|d| match p.classes.custom().get(d) {
            Some(custom) => format!("its own {custom}"),
            None => code(d.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn action_meaning(a: Action) -> &'static str {
    match a {
        Action::Drop => "the field (or header, parameter) removed; in free text the match redacted",
        Action::Redact => "replaced by `[REDACTED:<class>]`",
        Action::MaskPan => "first 6 and last 4 digits shown",
        Action::MaskPanLast4 => "last 4 digits shown",
        Action::MaskEmail => "first letter and domain shown",
        Action::MaskPhone => "last 4 digits shown",
        Action::Hash => "`h:` token of a keyed HMAC-SHA-256: joinable, not reversible",
        Action::Block => "the whole message refused",
    }
}

fn mode(p: &Policy, hop: &Hop) -> &'static str {
    if p.shadow || hop.shadow {
        "**shadow**"
    } else {
        "enforce"
    }
}

/// The Markdown report of `policy`.
pub fn markdown(p: &Policy) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# chaperone report: policy {}\n", code(&p.version));
    let _ = writeln!(out, "- Source: {}", code(&p.source));
    let _ = writeln!(out, "- Content hash (SHA-256): {}", code(&p.hash));
    let _ = writeln!(out, "- Trust domain: {}", code(&p.trust_domain));
    if p.shadow {
        out.push_str(
            "- Mode: **shadow**: nothing is denied or changed; chaperone records what it would deny or change\n",
        );
    } else {
        out.push_str("- Mode: enforce\n");
    }
    let _ = writeln!(
        out,
        "- Default decision: deny. A request is allowed only when a hop below matches it and admits its caller (the first such hop decides); everything else is refused. {} described.",
        count(p.hops.len(), "hop")
    );
    out.push_str(
        "\nDerived from the compiled policy, as `chaperone check` loads it (defaults applied, \
         each hop's own settings in place), not from its text. `docs/scrubbing.md` says what each \
         position covers and how a body is read.\n",
    );
    classes(&mut out, p);
    identity(&mut out, p);
    tokens(&mut out, p);
    glance(&mut out, p);
    in_clear(&mut out, p);
    for hop in &p.hops {
        hop_section(&mut out, p, hop);
    }
    out
}

fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

fn classes(out: &mut String, p: &Policy) {
    out.push_str("\n## Data classes\n\n");
    if p.classes.is_empty() {
        out.push_str("The policy defines no data class: nothing is looked for.\n");
        return;
    }
    out.push_str(
        "| class | found by | action | what crosses | safe values (cross as they are) |\n|---|---|---|---|---|\n",
    );
    for (i, c) in p.classes.iter().enumerate() {
        let safe = p.classes.safe_forms(i).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code(&c.name),
            cell(&found_by(p, c)),
            code(c.action.name()),
            action_meaning(c.action),
            if safe == 0 {
                "none".to_owned()
            } else {
                safe.to_string()
            }
        );
    }
    out.push_str(
        "\nA field action (`fields:` in a hop's contract) applies to its field whatever the field holds, in place of the class actions.\n",
    );
}

fn identity(out: &mut String, p: &Policy) {
    out.push_str("\n## End-user identity providers\n\n");
    let issuers = p.verifier.issuers();
    if issuers.is_empty() {
        out.push_str("None: no hop admits an end user.\n");
    } else {
        out.push_str("| name | `iss` | audiences | algorithms | keys |\n|---|---|---|---|---|\n");
        for i in issuers {
            let algs: Vec<String> = i.algorithms.iter().map(|a| format!("{a:?}")).collect();
            let keys = match &i.keys {
                KeySource::Static(_) => "a JWKS file".to_owned(),
                KeySource::Remote(r) => code(r.url()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(&i.name),
                code(&i.iss),
                list(&i.audiences),
                list(&algs),
                keys
            );
        }
    }
    let _ = writeln!(
        out,
        "\nWorkloads are identified by the SPIFFE ID of their mTLS peer certificate{}.",
        if p.trust_xfcc {
            ", or, where Envoy reports none, by `x-forwarded-client-cert` (`trust_xfcc`)"
        } else {
            ""
        }
    );
}

fn tokens(out: &mut String, p: &Policy) {
    let t = &p.tokens;
    out.push_str("\n## Transaction Tokens\n\n");
    let _ = writeln!(out, "- Issuer: {}", code(&t.issuer));
    let _ = writeln!(
        out,
        "- Header toward the callee: {} (a client's is replaced; never sent back to the caller)",
        code(&t.header)
    );
    let _ = writeln!(
        out,
        "- Lifetime: {} unless a hop says otherwise; no hop more than {}",
        duration(t.ttl),
        duration(t.max_ttl)
    );
    let _ = writeln!(
        out,
        "- Audience: {}",
        if t.audience_trust_domain {
            "the trust domain (a token is good at every service of it)"
        } else {
            "the callee (the hop's `audience`, else the request host)"
        }
    );
    if p.services.is_empty() {
        out.push_str("- Chained tokens: none accepted (no `services`)\n");
    } else {
        let services: Vec<String> = p
            .services
            .iter()
            .map(|(name, w)| format!("{} from {}", code(name), code(&w.to_string())))
            .collect();
        let _ = writeln!(
            out,
            "- Chained tokens accepted (audience from workload): {}",
            services.join(", ")
        );
    }
}

fn token_brief(p: &Policy, hop: &Hop) -> String {
    let Some(t) = &hop.token else {
        return "none minted".to_owned();
    };
    let scope = match &t.scope {
        Some(s) => list(s),
        None => "the caller's".to_owned(),
    };
    format!("scope {scope}, {}", duration(t.ttl.unwrap_or(p.tokens.ttl)))
}

/// Where a hop does not look for `class`: direction and positions.
fn clear_on(hop: &Hop, class: &DataClass) -> Vec<String> {
    let mut at = Vec::new();
    for (dir, positions) in [
        (
            "request",
            vec![
                (Position::Body, hop.request_body.scan),
                (Position::Headers, hop.request_envelope.header_scan),
                (Position::Url, hop.request_envelope.url_scan),
            ],
        ),
        (
            "response",
            vec![
                (Position::Body, hop.response_body.scan),
                (Position::Headers, hop.response_envelope.header_scan),
            ],
        ),
    ] {
        let names: Vec<&str> = positions
            .iter()
            .filter(|(_, scan)| !scanned(class, *scan))
            .map(|(pos, _)| pos.name())
            .collect();
        if !names.is_empty() {
            at.push(format!("{dir} {}", names.join(", ")));
        }
    }
    at
}

fn glance(out: &mut String, p: &Policy) {
    out.push_str("\n## Hops at a glance\n\n");
    if p.hops.is_empty() {
        out.push_str("The policy has no hop: every request is denied.\n");
        return;
    }
    out.push_str("| hop | route | callers | token | mode |\n|---|---|---|---|---|\n");
    for hop in &p.hops {
        let callers: Vec<String> = hop.callers.iter().map(caller).collect();
        let mut who = callers.join("; or ");
        if let Some(w) = &hop.when {
            let _ = write!(who, "; and always when {}", code(&w.source));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code(&hop.name),
            cell(&route(hop)),
            cell(&who),
            cell(&token_brief(p, hop)),
            mode(p, hop)
        );
    }
}

/// Where each class may cross without being looked for, and where
/// anything crosses unscanned.
fn in_clear(out: &mut String, p: &Policy) {
    out.push_str("\n## Where data may cross in clear\n\n");
    if !p.classes.is_empty() && !p.hops.is_empty() {
        out.push_str("| class | not scanned (crosses if present) |\n|---|---|\n");
        for c in p.classes.iter() {
            let places: Vec<String> = p
                .hops
                .iter()
                .filter_map(|hop| {
                    let at = clear_on(hop, c);
                    (!at.is_empty()).then(|| format!("{}: {}", code(&hop.name), at.join("; ")))
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} |",
                code(&c.name),
                if places.is_empty() {
                    "nowhere: scanned in every position of every hop".to_owned()
                } else {
                    cell(&places.join("<br>"))
                }
            );
        }
        out.push('\n');
    }
    let mut anything = Vec::new();
    for hop in &p.hops {
        let name = code(&hop.name);
        if p.shadow || hop.shadow {
            anything.push(format!(
                "{name}: in shadow mode, nothing is changed or refused"
            ));
        }
        if !hop.request_headers_allow.is_empty() {
            anything.push(format!(
                "{name}: request headers {} (allowed as sent, unscanned)",
                list(&hop.request_headers_allow)
            ));
        }
        if hop.keep_authorization {
            anything.push(format!(
                "{name}: the caller's `authorization` header (`keep_authorization`)"
            ));
        }
        if !hop.request_envelope.query_allow.is_empty() {
            anything.push(format!(
                "{name}: query parameters {} (allowed as sent, unscanned)",
                list(&hop.request_envelope.query_allow)
            ));
        }
        for (dir, body) in [
            ("request", &hop.request_body),
            ("response", &hop.response_body),
        ] {
            if body.other == OtherContent::Pass && body.scan.is_empty() {
                anything.push(format!(
                    "{name}: {dir} bodies neither JSON nor text (`other: pass`, and no class is scanned)"
                ));
            }
            if !body.text {
                anything.push(format!(
                    "{name}: {dir} `text/*` bodies that are not JSON (`text: false`)"
                ));
            }
        }
    }
    if anything.is_empty() {
        out.push_str("Nothing crosses unscanned besides the classes above.\n");
    } else {
        out.push_str("Anything, whatever its class, crosses unscanned at:\n\n");
        for a in anything {
            let _ = writeln!(out, "- {a}");
        }
    }
}

fn hop_section(out: &mut String, p: &Policy, hop: &Hop) {
    let _ = writeln!(out, "\n## Hop {}\n", code(&hop.name));
    let _ = writeln!(out, "Route: {}", route(hop));
    if p.shadow || hop.shadow {
        out.push_str(
            "\n**Shadow mode**: nothing below is enforced on this hop; chaperone records what it would deny or change and lets every request through unchanged.\n",
        );
    }
    out.push_str("\nWho may call (any one rule admits):\n\n");
    for c in &hop.callers {
        let _ = writeln!(out, "- {}", caller(c));
    }
    if let Some(w) = &hop.when {
        let _ = writeln!(out, "\nAnd always: {}", code(&w.source));
    }
    out.push('\n');
    match &hop.token {
        None => out.push_str(
            "Token: none minted; any token header a client or the previous hop sent is removed.\n",
        ),
        Some(t) => {
            let audience = if p.tokens.audience_trust_domain {
                format!("the trust domain {}", code(&p.trust_domain))
            } else {
                t.audience
                    .as_deref()
                    .map_or_else(|| "the request host".to_owned(), code)
            };
            let scope = match &t.scope {
                Some(s) => list(s),
                None => "the caller's (narrowed along a chain, never widened)".to_owned(),
            };
            let mut extra = String::new();
            if !t.tctx_params.is_empty() {
                let _ = write!(
                    extra,
                    "; `tctx` holds path parameters {}",
                    list(&t.tctx_params)
                );
            }
            if t.rctx {
                extra.push_str("; `rctx` holds how the caller authenticated and its address");
            }
            let _ = writeln!(
                out,
                "Token: audience {audience}, scope {scope}, lifetime {}{extra}.",
                duration(t.ttl.unwrap_or(p.tokens.ttl))
            );
        }
    }
    let _ = writeln!(
        out,
        "\nThe caller's `authorization` header: {}.",
        if hop.keep_authorization {
            "**reaches the callee** (`keep_authorization`)"
        } else {
            "removed"
        }
    );
    direction(out, p, hop, true);
    direction(out, p, hop, false);
    budgets(out, p, hop);
    anomalies(out, p, hop);
}

/// What bounds one caller over time: the hop's budgets.
fn budgets(out: &mut String, p: &Policy, hop: &Hop) {
    out.push_str("\n### Per caller, over time\n\n");
    if hop.budgets.is_empty() {
        out.push_str(
            "No budget: nothing bounds what one caller gets or sends across messages (each message is bounded by its contract).\n",
        );
        return;
    }
    out.push_str(
        "| budget | direction | counts | limit per window | past the limit | store down |\n|---|---|---|---|---|---|\n",
    );
    for b in &hop.budgets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} per {} | {} | {} |",
            code(&b.name),
            b.direction.as_str(),
            code(&b.measure.describe(&p.classes)),
            b.limit,
            duration(b.window),
            match b.action {
                BudgetAction::Block => "**block**: the message refused (429)",
                BudgetAction::Alert => "**alert**: passes; a metric and a decision event",
            },
            match b.on_store_error {
                OnStoreError::Deny => "deny: the message refused (503)",
                OnStoreError::Allow => "allow: passes uncounted; a metric and a decision event",
            }
        );
    }
    out.push_str(
        "\nCounted per caller (its keyed hash) and hop across every replica, over a rolling window (docs/policy.md#budgets).\n",
    );
}

/// Baselines that alert (and never refuse) when a caller's window goes
/// well past its normal.
fn anomalies(out: &mut String, p: &Policy, hop: &Hop) {
    if hop.anomalies.is_empty() {
        return;
    }
    out.push_str(
        "
Anomaly alerts (a baseline per caller of what it normally gets or sends per window; an alert, never a refusal):

",
    );
    for a in &hop.anomalies {
        let _ = writeln!(out, "- {}", a.describe(&p.classes));
    }
}

fn body_fields(c: &Contract) -> String {
    let fields = Fields::of(c);
    match &fields.allow {
        None => "every field crosses (no allow-list); keys and values are scanned".to_owned(),
        Some(set) => {
            let listed = if set.is_empty() {
                "no field crosses (an empty allow-list)".to_owned()
            } else {
                format!(
                    "only {} {}",
                    list(set),
                    if set.len() == 1 { "crosses" } else { "cross" }
                )
            };
            let others = match c.unknown {
                Unknown::Drop => "any other field is dropped (`unknown: drop`)",
                Unknown::Reject => "any other field refuses the message (`unknown: reject`)",
                Unknown::Allow => "any other field crosses too, scanned (`unknown: allow`)",
            };
            format!("{listed}; {others}")
        }
    }
}

fn direction(out: &mut String, p: &Policy, hop: &Hop, request: bool) {
    let (body, env) = if request {
        (&hop.request_body, &hop.request_envelope)
    } else {
        (&hop.response_body, &hop.response_envelope)
    };
    let _ = writeln!(
        out,
        "\n### {}\n",
        if request {
            "Request: toward the callee"
        } else {
            "Response: toward the caller"
        }
    );
    let _ = writeln!(out, "- Body fields: {}.", body_fields(body));
    let fields = Fields::of(body);
    if !fields.actions.is_empty() {
        let acted: Vec<String> = fields
            .actions
            .iter()
            .map(|(path, a)| format!("{} {}", code(path), action_cell(*a, Position::Body)))
            .collect();
        let _ = writeln!(
            out,
            "- Field actions, whatever the field holds: {}.",
            acted.join("; ")
        );
    }
    let refusal = if request {
        "400, 403, 413 or 415"
    } else {
        "502"
    };
    let _ = writeln!(
        out,
        "- Other bodies: `text/*` {}; bodies neither JSON nor text {}.",
        if body.text {
            "scanned as text"
        } else {
            "bodies that are not JSON cross **unscanned** (`text: false`)"
        },
        match body.other {
            OtherContent::Block => format!("refused (`other: block`, {})", status(request, 415)),
            OtherContent::Pass if body.scan.is_empty() => {
                "cross unchanged, **unscanned** (`other: pass`, and no class is scanned)".to_owned()
            }
            OtherContent::Pass => format!(
                "cross unchanged only when no scanned class is found in their printable bytes, else refused (`other: pass`, {})",
                status(request, 403)
            ),
        }
    );
    if let Some(m) = &body.message {
        let _ = writeln!(
            out,
            "- gRPC messages of type {}, judged in the protobuf wire format: a number with a finding or a field action is removed (it cannot carry a mask); a field number the descriptors do not know follows `unknown`.",
            code(&m.name)
        );
    }
    let limit = match body.limit {
        None => "no findings limit".to_owned(),
        Some(l) => match l.action {
            LimitAction::Block => {
                format!("more than {} findings in one message refuse it", l.findings)
            }
            LimitAction::Alert => format!(
                "more than {} findings in one message raise an alert (each finding is still acted on)",
                l.findings
            ),
        },
    };
    let _ = writeln!(
        out,
        "- Limits: at most {} bytes {}; {limit}. A refusal is answered {refusal}.",
        body.max_body,
        if body.stream {
            "per event, line or JSON value (`stream: true`: bodies flow)"
        } else {
            "per body"
        }
    );
    if request {
        request_envelope(out, p, hop, env);
    } else {
        response_envelope(out, p, hop, env);
    }
    if p.classes.is_empty() {
        return;
    }
    out.push_str(if Fields::of(body).actions.is_empty() {
        "\nEach class where it is found:\n\n"
    } else {
        "\nEach class where it is found (in the body, outside the fields with their own action):\n\n"
    });
    let positions: &[(Position, DetectorSet)] = if request {
        &[
            (Position::Body, body.scan),
            (Position::Headers, env.header_scan),
            (Position::Url, env.url_scan),
        ]
    } else {
        &[
            (Position::Body, body.scan),
            (Position::Headers, env.header_scan),
        ]
    };
    out.push_str("| class |");
    for (pos, _) in positions {
        let _ = write!(out, " {} |", pos.name());
    }
    out.push_str("\n|---|");
    for _ in positions {
        out.push_str("---|");
    }
    out.push('\n');
    for c in p.classes.iter() {
        let _ = write!(out, "| {} |", code(&c.name));
        for (pos, scan) in positions {
            let _ = write!(out, " {} |", class_cell(c, *scan, *pos));
        }
        out.push('\n');
    }
}

fn status(request: bool, code: u16) -> String {
    if request {
        code.to_string()
    } else {
        "502".to_owned()
    }
}

fn request_envelope(out: &mut String, p: &Policy, hop: &Hop, env: &Envelope) {
    let extra: Vec<&String> = p
        .default_request_remove
        .iter()
        .filter(|h| !DEFAULT_REQUEST_REMOVE.contains(&h.as_str()))
        .collect();
    let mut removed = format!(
        "the built-in list ({} names: credentials, `cookie`, `x-internal-*`, method and URL overrides, `range`, `if-range`; docs/policy.md)",
        DEFAULT_REQUEST_REMOVE.len()
    );
    if !extra.is_empty() {
        let _ = write!(removed, ", the policy's {}", list(extra));
    }
    if !hop.request_headers_remove.is_empty() {
        let _ = write!(removed, ", the hop's {}", list(&hop.request_headers_remove));
    }
    if !hop.request_headers_allow.is_empty() {
        removed.push_str(", less those the hop allows (below)");
    }
    if hop.token.is_none() {
        let _ = write!(removed, ", the token header {}", code(&p.tokens.header));
    }
    let _ = writeln!(
        out,
        "- Headers removed: {removed}; every `x-chaperone-*` header a client sent."
    );
    if !hop.request_headers_allow.is_empty() {
        let _ = writeln!(
            out,
            "- Headers crossing as sent, **unscanned**: {}.",
            list(&hop.request_headers_allow)
        );
    }
    let mut query = format!("{} removed unless allowed", list(DEFAULT_QUERY_REMOVED));
    if !env.query_remove.is_empty() {
        let _ = write!(query, "; {} removed", list(&env.query_remove));
    }
    if !env.query_allow.is_empty() {
        let _ = write!(
            query,
            "; {} {} as sent, **unscanned**",
            list(&env.query_allow),
            if env.query_allow.len() == 1 {
                "crosses"
            } else {
                "cross"
            }
        );
    }
    let _ = writeln!(out, "- Query parameters: {query}.");
}

fn response_envelope(out: &mut String, p: &Policy, hop: &Hop, env: &Envelope) {
    let extra: Vec<&String> = p
        .default_response_remove
        .iter()
        .filter(|h| !DEFAULT_RESPONSE_REMOVE.contains(&h.as_str()) && **h != p.tokens.header)
        .collect();
    let mut removed = format!(
        "{}, the token header {}",
        list(DEFAULT_RESPONSE_REMOVE),
        code(&p.tokens.header)
    );
    if !extra.is_empty() {
        let _ = write!(removed, ", the policy's {}", list(extra));
    }
    if !hop.response_headers_remove.is_empty() {
        let _ = write!(
            removed,
            ", the hop's {}",
            list(&hop.response_headers_remove)
        );
    }
    let _ = writeln!(
        out,
        "- Headers removed: {removed}; a JWT in any header, whatever is scanned."
    );
    let _ = writeln!(
        out,
        "- The callee's 5xx bodies: {}.",
        if hop.generic_errors {
            "replaced by a generic error with the decision id"
        } else {
            "scrubbed like any other (`errors: pass`)"
        }
    );
    let _ = writeln!(
        out,
        "- Caching: {}; `nosniff` {}.",
        match env.cache {
            CacheRule::Private =>
                "`Cache-Control: private` (no shared cache serves it to another caller)",
            CacheRule::NoStore => "`Cache-Control: no-store`",
            CacheRule::Public => "left as the callee says (`cache: public`)",
        },
        if env.nosniff { "on" } else { "off" }
    );
}
