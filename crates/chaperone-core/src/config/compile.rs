//! Raw policy → immutable snapshot. Everything that can be checked or parsed
//! ahead (paths, keys, algorithms, names) is, so a request never meets a
//! surprise that the loader could have found.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::contracts::{compile_body, compile_classes_from, compile_envelope, header_patterns};
use super::files::{Dir, FileError, PolicyFiles};
use super::raw::{
    RawBody, RawBudget, RawCaller, RawDirection, RawHop, RawHopToken, RawIssuer, RawPolicy,
    RawTokens,
};
use crate::clock::SharedClock;
use crate::identity::jwks::{
    JwksError, KeySet, KeySource, MAX_JWKS_BYTES, RemoteJwks, RemoteJwksSettings,
};
use crate::identity::jwt::parse_allowed_alg;
use crate::identity::{Issuer, Verifier, WorkloadPattern};
use crate::policy::{Caller, Condition, Hop, HostPattern, PathTemplate, Policy, UserRequirement};
use crate::scrub::class::Classes;
use crate::scrub::detect::DetectorSet;
use crate::secret::sha256_hex;
use crate::token::{HopToken, TokenSettings};

/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: usize = 1 << 20;
const MAX_HOPS: usize = 10_000;
const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// No policy may mint tokens that live longer than this.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Request headers stripped toward every callee unless a hop allows them:
/// the caller's session, chaperone-internal ones, credentials besides
/// `Authorization` (which `keep_authorization` governs), and headers that
/// make a callee act on another method or URL than the one authorized.
pub const DEFAULT_REQUEST_REMOVE: &[&str] = &[
    "cookie",
    "x-internal-*",
    // Credentials: they stop at the hop wherever they ride.
    "proxy-authorization",
    "x-forwarded-access-token",
    "x-forwarded-id-token",
    "x-auth-request-access-token",
    "x-auth-request-id-token",
    "x-access-token",
    "x-id-token",
    "x-api-key",
    "x-amzn-oidc-accesstoken",
    "x-amzn-oidc-data",
    "x-goog-iap-jwt-assertion",
    "cf-access-jwt-assertion",
    "x-ms-token-aad-access-token",
    "x-ms-token-aad-id-token",
    "x-ms-token-aad-refresh-token",
    // Method and URL overrides.
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-forwarded-uri",
    "x-forwarded-url",
    "x-forwarded-path",
    "x-forwarded-prefix",
    "x-forwarded-host",
    "forwarded",
    "x-forwarded-server",
    "x-host",
    "x-override-url",
    "x-http-destinationurl",
    // A body asked for in ranges arrives in pieces, each scanned alone: a
    // card number split between two would cross. Callees answer whole.
    "range",
    "if-range",
];

/// Response headers that say what runs behind a hop; removed on every hop.
pub const DEFAULT_RESPONSE_REMOVE: &[&str] = &[
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
];

/// A policy that cannot be loaded, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct PolicyError {
    pub origin: String,
    /// Line and column, 1-based, where known.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

/// JWKS caches shared across reloads, so a reload does not drop fetched keys.
#[derive(Debug, Default)]
pub struct JwksRegistry {
    by_url: Mutex<HashMap<(String, Duration, Duration), Arc<RemoteJwks>>>,
}

impl JwksRegistry {
    fn get(
        &self,
        url: &str,
        settings: RemoteJwksSettings,
        client: &Arc<dyn crate::identity::jwks::JwksFetcher>,
    ) -> Arc<RemoteJwks> {
        let mut map = self
            .by_url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            map.entry((
                url.to_owned(),
                settings.max_age,
                settings.min_refetch_interval,
            ))
            .or_insert_with(|| RemoteJwks::new(url.to_owned(), Arc::clone(client), settings)),
        )
    }
}

/// What compiling needs from the outside world.
#[derive(Debug, Clone)]
pub struct CompileContext {
    /// Fetches remote key sets (the edge's HTTP client).
    pub http: Arc<dyn crate::identity::jwks::JwksFetcher>,
    pub jwks: Arc<JwksRegistry>,
    pub clock: SharedClock,
    /// The deployment's hashing key, where the policy is loaded to serve:
    /// a dictionary's `h:` entries must be tokens under it.
    pub hash_key: Option<crate::secret::HashKey>,
    /// Verified end-user tokens remembered, at most.
    pub token_cache_entries: usize,
}

pub fn compile(
    origin: &str,
    base_dir: Option<&Path>,
    bytes: &[u8],
    ctx: &CompileContext,
) -> Result<Policy, PolicyError> {
    compile_from(origin, &Dir(base_dir), bytes, ctx)
}

/// As [`compile`], with the files the policy names read from `files`.
pub fn compile_from(
    origin: &str,
    files: &dyn PolicyFiles,
    bytes: &[u8],
    ctx: &CompileContext,
) -> Result<Policy, PolicyError> {
    let err = |message: String| PolicyError {
        origin: origin.to_owned(),
        location: None,
        message,
    };
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(err(format!(
            "policy is larger than {MAX_POLICY_BYTES} bytes"
        )));
    }
    let raw: RawPolicy = serde_norway::from_slice(bytes).map_err(|e| {
        let location = e.location().map(|l| (l.line(), l.column()));
        let mut message = e.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        PolicyError {
            origin: origin.to_owned(),
            location,
            message,
        }
    })?;
    check_conditions(&raw, bytes, origin)?;
    build(raw, files, bytes, origin, ctx).map_err(err)
}

/// Compiles every CEL condition once up front, so a wrong expression is an
/// error that points at its line in the file.
fn check_conditions(raw: &RawPolicy, source: &[u8], origin: &str) -> Result<(), PolicyError> {
    let text = String::from_utf8_lossy(source);
    for (i, hop) in raw.hops.iter().enumerate() {
        let rules = hop.from.iter().enumerate().map(|(j, c)| {
            (
                format!("hops[{i}] ({:?}).from[{j}].when", hop.name),
                &c.when,
            )
        });
        for (at, when) in
            std::iter::once((format!("hops[{i}] ({:?}).when", hop.name), &hop.when)).chain(rules)
        {
            let Some(expr) = when else { continue };
            if let Err(e) = Condition::compile(expr) {
                return Err(PolicyError {
                    origin: origin.to_owned(),
                    location: locate(&text, expr),
                    message: format!("{at}: {e}"),
                });
            }
        }
    }
    Ok(())
}

/// Line and column (1-based) of the first occurrence of `needle` in `text`.
fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    let probe = needle.lines().next().filter(|l| !l.trim().is_empty())?;
    let at = text.find(probe)?;
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    Some((line, col))
}

fn build(
    raw: RawPolicy,
    files: &dyn PolicyFiles,
    bytes: &[u8],
    origin: &str,
    ctx: &CompileContext,
) -> Result<Policy, String> {
    let version = raw.version.trim().to_owned();
    if version.is_empty() || version.len() > 128 {
        return Err("version: must be 1 to 128 characters".into());
    }
    let td = &raw.trust_domain;
    if td.is_empty()
        || !td
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
    {
        return Err(format!(
            "trust_domain: {td:?} is not a valid SPIFFE trust domain"
        ));
    }
    if let Some(d) = &raw.defaults.decision
        && d != "deny"
    {
        return Err(format!(
            "defaults.decision: only \"deny\" is supported, got {d:?}"
        ));
    }
    let mut jwks_files: Vec<PathBuf> = Vec::new();

    let mut issuers: Vec<Arc<Issuer>> = Vec::new();
    for (i, ri) in raw.issuers.into_iter().enumerate() {
        let at = format!("issuers[{i}] ({:?})", ri.name);
        if issuers.iter().any(|x| *x.name == *ri.name) {
            return Err(format!("{at}: duplicate issuer name"));
        }
        if issuers.iter().any(|x| x.iss == ri.issuer) {
            return Err(format!("{at}: another issuer has the same `issuer`"));
        }
        issuers.push(Arc::new(
            compile_issuer(ri, files, ctx, &mut jwks_files).map_err(|e| format!("{at}: {e}"))?,
        ));
    }

    let shadow = raw.mode == Some(super::raw::Mode::Shadow);
    let (classes, default_scan) = compile_classes_from(
        raw.data_classes,
        raw.defaults.scan.as_deref(),
        files,
        ctx.hash_key.as_ref(),
    )?;
    let descriptors = compile_descriptors(&raw.descriptors, files, &mut jwks_files)?;
    let body_defaults = BodyDefaults {
        request: raw.defaults.request.as_ref().and_then(|d| d.body.as_ref()),
        response: raw.defaults.response.as_ref().and_then(|d| d.body.as_ref()),
        request_dir: raw.defaults.request.as_ref(),
        response_dir: raw.defaults.response.as_ref(),
        scan: default_scan,
        classes: &classes,
        descriptors: descriptors.as_ref(),
        budgets: raw.defaults.budgets.as_deref(),
        anomalies: raw.defaults.anomalies.as_deref(),
    };
    if raw.hops.len() > MAX_HOPS {
        return Err(format!("hops: at most {MAX_HOPS} hops"));
    }
    let mut hops = Vec::with_capacity(raw.hops.len());
    let mut names = HashSet::new();
    for (i, rh) in raw.hops.into_iter().enumerate() {
        let at = format!("hops[{i}] ({:?})", rh.name);
        if !names.insert(rh.name.clone()) {
            return Err(format!("{at}: duplicate hop name"));
        }
        hops.push(compile_hop(rh, &issuers, &body_defaults).map_err(|e| format!("{at}: {e}"))?);
    }

    let tokens =
        compile_tokens(raw.tokens, &raw.trust_domain).map_err(|e| format!("tokens: {e}"))?;
    for hop in &hops {
        if hop
            .token
            .as_ref()
            .is_some_and(|t| t.ttl.is_some_and(|t| t > tokens.max_ttl))
        {
            return Err(format!(
                "hops ({:?}): token.ttl is longer than tokens.max_ttl",
                &*hop.name
            ));
        }
    }
    let mut services = Vec::new();
    for (name, id) in raw.services {
        let pattern =
            WorkloadPattern::parse(&id).map_err(|e| format!("services.{name}: {id:?}: {e}"))?;
        services.push((name, pattern));
    }

    let mut default_response_remove: Vec<String> = DEFAULT_RESPONSE_REMOVE
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    // A minted token never travels back to the caller.
    default_response_remove.push(tokens.header.clone());
    default_response_remove.extend(
        header_names(raw.defaults.response.as_ref())
            .map_err(|e| format!("defaults.response: {e}"))?,
    );
    let mut default_request_remove: Vec<String> = DEFAULT_REQUEST_REMOVE
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    default_request_remove.extend(
        header_names(raw.defaults.request.as_ref())
            .map_err(|e| format!("defaults.request: {e}"))?,
    );

    Ok(Policy {
        version,
        hash: sha256_hex(bytes),
        files: jwks_files,
        source: origin.to_owned(),
        trust_domain: raw.trust_domain,
        verifier: Verifier::with_cache(issuers, Arc::clone(&ctx.clock), ctx.token_cache_entries),
        trust_xfcc: raw.workloads.trust_xfcc,
        hops,
        default_response_remove,
        default_request_remove,
        tokens,
        services,
        classes,
        shadow,
        bundle: None,
    })
}

/// What every hop's contracts start from.
struct BodyDefaults<'a> {
    request: Option<&'a RawBody>,
    response: Option<&'a RawBody>,
    request_dir: Option<&'a RawDirection>,
    response_dir: Option<&'a RawDirection>,
    scan: DetectorSet,
    classes: &'a Classes,
    descriptors: Option<&'a Arc<crate::scrub::proto::Descriptors>>,
    budgets: Option<&'a [RawBudget]>,
    anomalies: Option<&'a [super::raw::RawAnomaly]>,
}

/// The policy's protobuf descriptor sets, read (bounded) and merged; each
/// file joins those whose change reloads the policy.
fn compile_descriptors(
    names: &[String],
    files: &dyn PolicyFiles,
    read: &mut Vec<PathBuf>,
) -> Result<Option<Arc<crate::scrub::proto::Descriptors>>, String> {
    use crate::scrub::proto::{Descriptors, MAX_DESCRIPTOR_BYTES};
    if names.is_empty() {
        return Ok(None);
    }
    let mut set = Descriptors::default();
    for (i, file) in names.iter().enumerate() {
        let at = format!("descriptors[{i}]: {}", files.shown(file));
        let bytes = files
            .read(file, MAX_DESCRIPTOR_BYTES as u64)
            .map_err(|e| match e {
                FileError::Io(e) => format!("{at}: {e}"),
                FileError::NotAFile | FileError::TooLarge => {
                    format!("{at}: not a regular file of at most {MAX_DESCRIPTOR_BYTES} bytes")
                }
            })?;
        set.merge(Descriptors::parse(&bytes).map_err(|e| format!("{at}: {e}"))?);
        read.extend(files.path(file));
    }
    Ok(Some(Arc::new(set)))
}

fn compile_tokens(raw: RawTokens, trust_domain: &str) -> Result<TokenSettings, String> {
    let ttl = raw
        .ttl
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| format!("ttl: {e}"))?;
    let max_ttl = raw
        .max_ttl
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| format!("max_ttl: {e}"))?;
    let max_ttl = max_ttl.unwrap_or(Duration::from_secs(300));
    if max_ttl > MAX_TOKEN_TTL || max_ttl.is_zero() {
        return Err("max_ttl: between 1s and 1h".into());
    }
    let ttl = ttl.unwrap_or(Duration::from_secs(60));
    if ttl.is_zero() || ttl > max_ttl {
        return Err("ttl: more than zero and at most max_ttl".into());
    }
    let audience_trust_domain = match raw.audience.as_deref() {
        None | Some("callee") => false,
        Some("trust_domain") => true,
        Some(other) => {
            return Err(format!(
                "audience: {other:?} is neither \"callee\" nor \"trust_domain\""
            ));
        }
    };
    let header = raw
        .header
        .unwrap_or_else(|| "txn-token".into())
        .to_ascii_lowercase();
    if header.is_empty()
        || !header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!("header: {header:?} is not a header name"));
    }
    if matches!(header.as_str(), "authorization" | "cookie" | "host")
        || header.starts_with(crate::policy::headers::OWN_HEADER_PREFIX)
    {
        return Err(format!(
            "header: {header:?} is reserved (x-chaperone-* are chaperone's own, removed toward callees)"
        ));
    }
    let issuer = raw
        .issuer
        .unwrap_or_else(|| format!("https://chaperone.{trust_domain}"));
    if issuer.is_empty() {
        return Err("issuer: must not be empty".into());
    }
    Ok(TokenSettings {
        issuer,
        header,
        ttl,
        max_ttl,
        audience_trust_domain,
    })
}

/// The hop's token settings; `None` when it mints no token.
fn compile_hop_token(raw: Option<RawHopToken>) -> Result<Option<HopToken>, String> {
    let Some(raw) = raw else {
        return Ok(Some(HopToken::default()));
    };
    if !raw.mint {
        let set = raw.audience.is_some()
            || raw.scope.is_some()
            || raw.ttl.is_some()
            || raw.tctx.is_some()
            || raw.rctx.is_some();
        if set {
            return Err("token: `mint: false` takes no other token setting".into());
        }
        return Ok(None);
    }
    let ttl = raw
        .ttl
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| format!("token.ttl: {e}"))?;
    if ttl.is_some_and(|t| t.is_zero()) {
        return Err("token.ttl: must be more than zero".into());
    }
    if let Some(scope) = &raw.scope
        && let Some(bad) = scope
            .iter()
            .find(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return Err(format!("token.scope: {bad:?} is not a scope token"));
    }
    Ok(Some(HopToken {
        audience: raw.audience,
        scope: raw.scope,
        ttl,
        tctx_params: raw.tctx.unwrap_or_default(),
        rctx: raw.rctx.unwrap_or(false),
    }))
}

fn compile_issuer(
    ri: RawIssuer,
    files: &dyn PolicyFiles,
    ctx: &CompileContext,
    read: &mut Vec<PathBuf>,
) -> Result<Issuer, String> {
    if ri.name.is_empty() || ri.issuer.is_empty() {
        return Err("name and issuer must not be empty".into());
    }
    if ri.audiences.is_empty() {
        return Err("audiences: at least one audience is required".into());
    }
    if ri.algorithms.is_empty() {
        return Err("algorithms: list the algorithms you accept, such as [ES256, RS256]".into());
    }
    let mut algorithms = Vec::new();
    for a in &ri.algorithms {
        let alg = parse_allowed_alg(a).ok_or_else(|| {
            format!("algorithms: {a:?} is not allowed (allowed: ES256, ES384, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA; never HMAC or none)")
        })?;
        algorithms.push(alg);
    }
    let leeway = match ri.leeway.as_deref() {
        None => Duration::from_secs(30),
        Some(s) => parse_duration(s).map_err(|e| format!("leeway: {e}"))?,
    };
    if leeway > MAX_LEEWAY {
        return Err("leeway: at most 5m".into());
    }
    let keys = match (ri.jwks.file, ri.jwks.url) {
        (Some(file), None) => {
            let at = files.shown(&file);
            let bytes = files
                .read(&file, MAX_JWKS_BYTES as u64)
                .map_err(|e| match e {
                    FileError::Io(e) => format!("jwks.file {at}: {e}"),
                    FileError::NotAFile => format!("jwks.file {at}: not a regular file"),
                    FileError::TooLarge => format!("jwks.file {at}: {}", JwksError::TooLarge),
                })?;
            read.extend(files.path(&file));
            KeySource::Static(Arc::new(
                KeySet::parse(&bytes).map_err(|e| format!("jwks.file {at}: {e}"))?,
            ))
        }
        (None, Some(url)) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("jwks.url: {url:?} must be an http or https URL"));
            }
            let mut settings = RemoteJwksSettings::default();
            if let Some(age) = &ri.jwks.max_age {
                settings.max_age = parse_duration(age).map_err(|e| format!("jwks.max_age: {e}"))?;
            }
            if let Some(every) = &ri.jwks.min_refetch_interval {
                settings.min_refetch_interval =
                    parse_duration(every).map_err(|e| format!("jwks.min_refetch_interval: {e}"))?;
            }
            KeySource::Remote(ctx.jwks.get(&url, settings, &ctx.http))
        }
        _ => return Err("jwks: give exactly one of `file` or `url`".into()),
    };
    Ok(Issuer {
        name: ri.name.into(),
        iss: ri.issuer,
        audiences: ri.audiences,
        algorithms,
        keys,
        leeway: i64::try_from(leeway.as_secs()).unwrap_or(0),
    })
}

fn compile_hop(
    rh: RawHop,
    issuers: &[Arc<Issuer>],
    defaults: &BodyDefaults<'_>,
) -> Result<Hop, String> {
    if rh.name.is_empty()
        || rh.name.len() > 128
        || !rh
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("name: 1 to 128 letters, digits, '-', '_' or '.'".into());
    }
    let mut hosts = Vec::new();
    for h in rh.matcher.host.into_vec() {
        let h = h.to_ascii_lowercase();
        hosts.push(if h == "*" {
            HostPattern::Any
        } else if let Some(rest) = h.strip_prefix("*.") {
            check_host(rest)?;
            HostPattern::Suffix(format!(".{rest}"))
        } else {
            check_host(&h)?;
            HostPattern::Exact(h)
        });
    }
    if hosts.is_empty() {
        return Err("match.host: at least one host".into());
    }
    let methods: Vec<String> = rh.matcher.method.map(|m| m.into_vec()).unwrap_or_default();
    for m in &methods {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "match.method: {m:?} is not an upper-case HTTP method"
            ));
        }
    }
    let path = PathTemplate::parse(&rh.matcher.path).map_err(|e| format!("match.path: {e}"))?;
    if let Some(t) = &rh.token
        && let Some(unknown) = t
            .tctx
            .iter()
            .flatten()
            .find(|p| !path.param_names().any(|n| n == p.as_str()))
    {
        return Err(format!(
            "token.tctx: {unknown:?} is not a parameter of match.path"
        ));
    }
    if rh.from.is_empty() {
        return Err(
            "from: at least one caller rule (use `anonymous: true` for a public hop)".into(),
        );
    }
    let callers = rh
        .from
        .into_iter()
        .enumerate()
        .map(|(i, c)| compile_caller(c, issuers).map_err(|e| format!("from[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let when = compile_when(rh.when.as_deref()).map_err(|e| format!("when: {e}"))?;
    let mut request_body = compile_body(
        rh.request.as_ref().and_then(|d| d.body.as_ref()),
        defaults.request,
        defaults.scan,
        defaults.classes,
        defaults.descriptors,
    )
    .map_err(|e| format!("request.{e}"))?;
    let mut response_body = compile_body(
        rh.response.as_ref().and_then(|d| d.body.as_ref()),
        defaults.response,
        defaults.scan,
        defaults.classes,
        defaults.descriptors,
    )
    .map_err(|e| format!("response.{e}"))?;
    let mut bodies = super::budgets::Bodies {
        request: &mut request_body,
        response: &mut response_body,
    };
    let budgets = super::budgets::compile_budgets(
        rh.budgets.as_deref(),
        defaults.budgets,
        defaults.classes,
        &mut bodies,
    )?;
    let anomalies = super::anomalies::compile_anomalies(
        rh.anomalies.as_deref(),
        defaults.anomalies,
        defaults.classes,
        &budgets,
        &mut bodies,
    )?;
    let request_envelope = compile_envelope(
        rh.request.as_ref(),
        defaults.request_dir,
        &request_body,
        defaults.classes,
        true,
    )
    .map_err(|e| format!("request.{e}"))?;
    let response_envelope = compile_envelope(
        rh.response.as_ref(),
        defaults.response_dir,
        &response_body,
        defaults.classes,
        false,
    )
    .map_err(|e| format!("response.{e}"))?;
    Ok(Hop {
        name: rh.name.into(),
        budgets,
        anomalies,
        when,
        shadow: rh.shadow,
        hosts,
        methods,
        path,
        callers,
        keep_authorization: rh.keep_authorization,
        token: compile_hop_token(rh.token)?,
        request_headers_remove: header_names(rh.request.as_ref())
            .map_err(|e| format!("request: {e}"))?,
        response_headers_remove: header_names(rh.response.as_ref())
            .map_err(|e| format!("response: {e}"))?,
        // The hop's own, and the defaults' (which every hop lets through).
        request_headers_allow: [rh.request.as_ref(), defaults.request_dir]
            .into_iter()
            .flatten()
            .filter_map(|d| d.headers.as_ref())
            .map(|h| header_patterns(&h.allow, "allow"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("request: {e}"))?
            .concat(),
        request_body,
        response_body,
        request_envelope,
        response_envelope,
        generic_errors: rh.response.as_ref().and_then(|d| d.errors)
            != Some(super::raw::Errors::Pass),
    })
}

fn compile_caller(rc: RawCaller, issuers: &[Arc<Issuer>]) -> Result<Caller, String> {
    if rc.anonymous {
        if rc.workloads.is_some()
            || rc.users.is_some()
            || rc.transaction.is_some()
            || rc.when.is_some()
        {
            return Err("`anonymous: true` stands alone".into());
        }
        return Ok(Caller {
            anonymous: true,
            ..Caller::default()
        });
    }
    if rc.workloads.is_none() && rc.users.is_none() {
        return Err("name `workloads`, `users`, or both (or `anonymous: true`)".into());
    }
    if rc.transaction.is_some() && rc.workloads.is_none() {
        return Err("`transaction` needs `workloads`: chained tokens are only taken from identified workloads".into());
    }
    let workloads = match rc.workloads {
        None => None,
        Some(list) if list.is_empty() => return Err("workloads: the list is empty".into()),
        Some(list) => Some(
            list.iter()
                .map(|w| WorkloadPattern::parse(w).map_err(|e| format!("workloads: {w:?}: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let user = match rc.users {
        None => None,
        Some(u) => {
            let issuer = issuers
                .iter()
                .find(|i| *i.name == *u.issuer)
                .ok_or_else(|| format!("users.issuer: no issuer is named {:?}", u.issuer))?;
            Some(UserRequirement {
                issuer: Arc::clone(&issuer.name),
                subjects: u.subjects,
                scopes: u.scopes,
            })
        }
    };
    Ok(Caller {
        workloads,
        user,
        transaction: rc.transaction.map(|t| t.scopes),
        anonymous: false,
        when: compile_when(rc.when.as_deref()).map_err(|e| format!("when: {e}"))?,
    })
}

fn compile_when(expr: Option<&str>) -> Result<Option<Arc<Condition>>, String> {
    expr.map(|e| Condition::compile(e).map(Arc::new))
        .transpose()
}

fn check_host(h: &str) -> Result<(), String> {
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        && !h.starts_with('.')
        && !h.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "match.host: {h:?} is not a host name (no port, no scheme)"
        ))
    }
}

fn header_names(dir: Option<&RawDirection>) -> Result<Vec<String>, String> {
    let Some(list) = dir.and_then(|d| d.headers.as_ref()) else {
        return Ok(Vec::new());
    };
    header_patterns(&list.remove, "remove")
}

/// "500ms", "30s", "5m", "1h".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 500ms"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("{s:?} is not a duration like 30s, 5m or 500ms")),
    };
    Ok(d)
}
