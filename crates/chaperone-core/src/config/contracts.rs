//! Data classes and per-hop body contracts, from the raw policy.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::files::{Dir, FileError, PolicyFiles};
use super::raw::{RawBody, RawDataClass, RawDirection};
use crate::scrub::class::{Action, Classes, DataClass};
use crate::scrub::contract::{CacheRule, Contract, Envelope, FieldAction, Limit};
use crate::scrub::detect::{
    Check, Custom, CustomDetectors, Detector, DetectorSet, Dictionary, MAX_CUSTOM,
};

/// Largest body any contract may accept.
pub const MAX_BODY_BYTES: usize = 8 << 20;
const DEFAULT_BODY_BYTES: usize = 1 << 20;

/// The classes that apply when a policy declares none, and which of them
/// every hop scans for by default.
fn builtin_classes() -> (Classes, Vec<&'static str>) {
    let class = |name: &str, detectors: &[Detector], action| DataClass {
        name: name.into(),
        detectors: detectors
            .iter()
            .fold(DetectorSet::empty(), |s, d| s.with(*d)),
        action,
    };
    let classes = Classes::new(vec![
        class("card_number", &[Detector::Pan], Action::MaskPan),
        class(
            "national_id",
            &[
                Detector::UsSsn,
                Detector::UkNino,
                Detector::DeTaxId,
                Detector::FrNir,
                Detector::NlBsn,
                Detector::EsDni,
                Detector::ItFiscalCode,
                Detector::BrCpf,
                Detector::InAadhaar,
                Detector::UsItin,
                Detector::UsEin,
            ],
            Action::Redact,
        ),
        class(
            "health_id",
            &[Detector::UsNpi, Detector::UsDea, Detector::UkNhs],
            Action::Redact,
        ),
        class("iban", &[Detector::Iban], Action::Redact),
        class(
            "secret",
            &[
                Detector::Jwt,
                Detector::PrivateKey,
                Detector::AwsAccessKey,
                Detector::BearerToken,
            ],
            Action::Redact,
        ),
        class("email", &[Detector::Email], Action::MaskEmail),
        class("phone", &[Detector::Phone], Action::MaskPhone),
    ]);
    (
        classes,
        vec!["card_number", "national_id", "health_id", "iban", "secret"],
    )
}

/// The policy's classes and the default scan set.
pub fn compile_classes(
    raw: BTreeMap<String, RawDataClass>,
    default_scan: Option<&[String]>,
    base_dir: Option<&Path>,
    hash_key: Option<&crate::secret::HashKey>,
) -> Result<(Classes, DetectorSet), String> {
    compile_classes_from(raw, default_scan, &Dir(base_dir), hash_key)
}

/// As [`compile_classes`], with dictionaries read from `files`.
pub fn compile_classes_from(
    raw: BTreeMap<String, RawDataClass>,
    default_scan: Option<&[String]>,
    files: &dyn PolicyFiles,
    hash_key: Option<&crate::secret::HashKey>,
) -> Result<(Classes, DetectorSet), String> {
    let (classes, builtin_scan) = if raw.is_empty() {
        builtin_classes()
    } else {
        let mut list = Vec::with_capacity(raw.len());
        let mut safe: Vec<Vec<String>> = Vec::with_capacity(raw.len());
        let mut seen = DetectorSet::empty();
        let mut customs = CustomDetectors::default();
        for (name, rc) in raw {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!(
                    "data_classes: {name:?} is not a name (letters, digits, '_')"
                ));
            }
            if Action::parse(&name).is_some() {
                return Err(format!("data_classes: {name:?} is an action name"));
            }
            let mut detectors = DetectorSet::empty();
            for d in &rc.detect {
                let det = Detector::parse(d).ok_or_else(|| {
                    format!(
                        "data_classes.{name}.detect: {d:?} is not a detector ({})",
                        Detector::ALL
                            .iter()
                            .map(|d| d.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                if seen.contains(det) {
                    return Err(format!(
                        "data_classes.{name}.detect: {d:?} already belongs to another class"
                    ));
                }
                seen = seen.with(det);
                detectors = detectors.with(det);
            }
            let action = Action::parse(&rc.action).ok_or_else(|| {
                format!(
                    "data_classes.{name}.action: {:?} is not an action",
                    rc.action
                )
            })?;
            let custom = compile_custom(&name, &rc, files, hash_key)?;
            if detectors.is_empty() && custom.is_none() {
                return Err(format!(
                    "data_classes.{name}: names no detector (detect, pattern or dictionary)"
                ));
            }
            // A safe value is one the class's detectors find whole: a typo
            // would otherwise make nothing safe and say nothing.
            for (i, v) in rc.safe.iter().enumerate() {
                let by_custom = custom.as_ref().is_some_and(|c| c.whole(v, None));
                if !by_custom
                    && !detectors
                        .iter()
                        .any(|d| crate::scrub::detect::matches_whole(v, d))
                {
                    // By its place only: even a mistyped value may be real.
                    return Err(format!(
                        "data_classes.{name}.safe[{i}]: not a value the class's detectors find"
                    ));
                }
            }
            if let Some(c) = custom {
                let d = customs.add(c).ok_or_else(|| {
                    format!("data_classes.{name}: more than {MAX_CUSTOM} classes with a pattern or a dictionary")
                })?;
                detectors = detectors.with(d);
            }
            safe.push(rc.safe);
            list.push(DataClass {
                name: Arc::from(name.as_str()),
                detectors,
                action,
            });
        }
        let all: Vec<&'static str> = Vec::new();
        let classes = safe
            .iter()
            .enumerate()
            .fold(Classes::new(list).with_custom(customs), |c, (i, values)| {
                c.with_safe(i, values.iter().map(String::as_str))
            });
        (classes, all)
    };
    let scan = match default_scan {
        Some(names) => scan_set(names, &classes).map_err(|e| format!("defaults.scan: {e}"))?,
        None if builtin_scan.is_empty() => classes
            .iter()
            .fold(DetectorSet::empty(), |s, c| union(s, c.detectors)),
        None => {
            let names: Vec<String> = builtin_scan.iter().map(|s| (*s).to_owned()).collect();
            scan_set(&names, &classes)?
        }
    };
    Ok((classes, scan))
}

/// Bounds of a class's own detector in a policy.
const MAX_DICTIONARY_BYTES: u64 = 8 << 20;
const MAX_CONTEXT_WORDS: usize = 64;

/// The detector a class defines with `pattern` or `dictionary`, if it does.
fn compile_custom(
    name: &str,
    rc: &RawDataClass,
    files: &dyn PolicyFiles,
    hash_key: Option<&crate::secret::HashKey>,
) -> Result<Option<Custom>, String> {
    if rc.pattern.is_none() && rc.dictionary.is_none() {
        if rc.check.is_some() || !rc.context.is_empty() {
            return Err(format!(
                "data_classes.{name}: check and context apply to a pattern"
            ));
        }
        return Ok(None);
    }
    let check = match &rc.check {
        None => Check::None,
        Some(c) => Check::parse(c).ok_or_else(|| {
            format!(
                "data_classes.{name}.check: {c:?} is not a check ({})",
                Check::NAMES.join(", ")
            )
        })?,
    };
    if rc.pattern.is_none() && (check != Check::None || !rc.context.is_empty()) {
        return Err(format!(
            "data_classes.{name}: check and context apply to a pattern"
        ));
    }
    if rc.context.len() > MAX_CONTEXT_WORDS {
        return Err(format!(
            "data_classes.{name}.context: at most {MAX_CONTEXT_WORDS} words"
        ));
    }
    for (i, w) in rc.context.iter().enumerate() {
        if w.is_empty() || w.len() > 32 || !w.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "data_classes.{name}.context[{i}]: a word is 1 to 32 ASCII letters"
            ));
        }
    }
    let dictionary = match &rc.dictionary {
        None => None,
        Some(file) => {
            let at = files.shown(file);
            let bytes = files
                .read(file, MAX_DICTIONARY_BYTES)
                .map_err(|e| match e {
                    FileError::Io(e) => format!("data_classes.{name}.dictionary: {at}: {e}"),
                    FileError::NotAFile => {
                        format!("data_classes.{name}.dictionary: {at}: not a regular file")
                    }
                    FileError::TooLarge => format!(
                        "data_classes.{name}.dictionary: {at}: larger than {MAX_DICTIONARY_BYTES} bytes"
                    ),
                })?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("data_classes.{name}.dictionary: {at}: not UTF-8"))?;
            // By line number only: a line may hold a real value.
            let dict = Dictionary::parse(&text, hash_key)
                .map_err(|(line, e)| format!("data_classes.{name}.dictionary: {at}:{line}: {e}"))?;
            if dict.is_empty() {
                return Err(format!(
                    "data_classes.{name}.dictionary: {at}: holds no entry"
                ));
            }
            Some(dict)
        }
    };
    Custom::new(rc.pattern.as_deref(), check, rc.context.clone(), dictionary)
        .map(Some)
        .map_err(|e| format!("data_classes.{name}.pattern: {e}"))
}

fn union(a: DetectorSet, b: DetectorSet) -> DetectorSet {
    b.iter().fold(a, DetectorSet::with)
}

fn scan_set(names: &[String], classes: &Classes) -> Result<DetectorSet, String> {
    names.iter().try_fold(DetectorSet::empty(), |set, n| {
        let i = classes
            .index_of(n)
            .ok_or_else(|| format!("{n:?} is not a data class"))?;
        Ok(union(
            set,
            classes.get(i).map(|c| c.detectors).unwrap_or_default(),
        ))
    })
}

/// A hop's contract for one direction. Scalar settings the hop leaves out
/// come from `defaults`; the allow-list and field actions are the hop's own.
pub fn compile_body(
    hop: Option<&RawBody>,
    defaults: Option<&RawBody>,
    default_scan: DetectorSet,
    classes: &Classes,
    descriptors: Option<&std::sync::Arc<crate::scrub::proto::Descriptors>>,
) -> Result<Contract, String> {
    if defaults.is_some_and(|d| d.message.is_some()) {
        return Err("body.message: a hop's own, not a default".into());
    }
    let pick = |f: fn(&RawBody) -> bool| hop.filter(|b| f(b)).or(defaults.filter(|b| f(b)));
    let mut c = Contract {
        scan: default_scan,
        text: true,
        max_body: DEFAULT_BODY_BYTES,
        ..Contract::default()
    };
    if let Some(unknown) = pick(|b| b.unknown.is_some()).and_then(|b| b.unknown) {
        c.unknown = unknown;
    }
    if let Some(b) = pick(|b| b.scan.is_some()) {
        c.scan = scan_set(b.scan.as_deref().unwrap_or_default(), classes)
            .map_err(|e| format!("body.scan: {e}"))?;
    }
    if let Some(other) = pick(|b| b.other.is_some()).and_then(|b| b.other) {
        c.other = other;
    }
    if let Some(b) = pick(|b| b.text.is_some()) {
        c.text = b.text.unwrap_or(true);
    }
    if let Some(b) = pick(|b| b.max_bytes.is_some()) {
        let n = b.max_bytes.unwrap_or(DEFAULT_BODY_BYTES);
        if n == 0 || n > MAX_BODY_BYTES {
            return Err(format!("body.max_bytes: between 1 and {MAX_BODY_BYTES}"));
        }
        c.max_body = n;
    }
    if let Some(name) = hop.and_then(|b| b.message.as_deref()) {
        let Some(set) = descriptors else {
            return Err(format!(
                "body.message: {name:?} names a protobuf type, and the policy has no `descriptors`"
            ));
        };
        if !set.has(name) {
            return Err(format!(
                "body.message: no message type {name:?} in the policy's descriptors"
            ));
        }
        c.message = Some(crate::scrub::contract::MessageType {
            descriptors: std::sync::Arc::clone(set),
            name: name.trim_start_matches('.').to_owned(),
        });
    }
    if let Some(b) = pick(|b| b.stream.is_some()) {
        c.stream = b.stream.unwrap_or(false);
    }
    if let Some(b) = pick(|b| b.limit.is_some())
        && let Some(l) = &b.limit
    {
        c.limit = Some(Limit {
            findings: l.findings,
            action: l.action,
        });
    }
    if let Some(b) = hop {
        if let Some(allow) = &b.allow {
            if allow.is_empty() {
                // An empty allow-list lets nothing but the fields with actions cross.
                c.allow = Some(Default::default());
            }
            for path in allow {
                c.allow_path(path).map_err(|e| format!("body.allow: {e}"))?;
            }
        }
        for (path, action) in &b.fields {
            let fa = match (Action::parse(action), classes.index_of(action)) {
                (Some(a), _) => FieldAction {
                    action: a,
                    class: path
                        .rsplit('.')
                        .next()
                        .unwrap_or(path)
                        .trim_end_matches("[*]")
                        .to_owned(),
                },
                (None, Some(i)) => {
                    let class = classes.get(i).ok_or("body.fields: class vanished")?;
                    FieldAction {
                        action: class.action,
                        class: class.name.to_string(),
                    }
                }
                (None, None) => {
                    return Err(format!(
                        "body.fields.{path}: {action:?} is neither an action nor a data class"
                    ));
                }
            };
            c.field_action(path, fa)
                .map_err(|e| format!("body.fields: {e}"))?;
        }
    }
    c.finish();
    if let Some(m) = &c.message {
        m.descriptors
            .check_paths(&m.name, c.root())
            .map_err(|e| format!("body: {e}"))?;
    }
    Ok(c)
}

/// What crosses besides the body in one direction, from the hop's settings,
/// else the defaults', else scanning for what the body scans for.
pub fn compile_envelope(
    hop: Option<&RawDirection>,
    defaults: Option<&RawDirection>,
    body: &Contract,
    classes: &Classes,
    request: bool,
) -> Result<Envelope, String> {
    let pick = |f: fn(&RawDirection) -> bool| hop.filter(|d| f(d)).or(defaults.filter(|d| f(d)));
    for dir in [hop, defaults].into_iter().flatten() {
        if request && (dir.cache.is_some() || dir.nosniff.is_some()) {
            return Err("cache and nosniff are response settings".into());
        }
        if !request && dir.query.is_some() {
            return Err("query: only requests have a query".into());
        }
    }
    let header_scan = match pick(|d| d.headers.as_ref().is_some_and(|h| h.scan.is_some()))
        .and_then(|d| d.headers.as_ref()?.scan.as_deref())
    {
        Some(names) => scan_set(names, classes).map_err(|e| format!("headers.scan: {e}"))?,
        None => body.scan,
    };
    let query = pick(|d| d.query.is_some()).and_then(|d| d.query.as_ref());
    let url_scan = match query.and_then(|q| q.scan.as_deref()) {
        Some(names) => scan_set(names, classes).map_err(|e| format!("query.scan: {e}"))?,
        None => body.scan,
    };
    let names = |list: &[String], what: &str| -> Result<Vec<String>, String> {
        list.iter()
            .map(|n| {
                if n.is_empty() || n.len() > 256 || n.contains(['&', '=', '#']) {
                    Err(format!("query.{what}: {n:?} is not a parameter name"))
                } else {
                    Ok(n.clone())
                }
            })
            .collect()
    };
    // The hop's own lists, and the defaults' too: a default removal is
    // not undone by a hop that says nothing.
    let mut query_allow = Vec::new();
    let mut query_remove = Vec::new();
    for q in [hop, defaults]
        .into_iter()
        .flatten()
        .filter_map(|d| d.query.as_ref())
    {
        query_allow.extend(names(&q.allow, "allow")?);
        query_remove.extend(names(&q.remove, "remove")?);
    }
    let cache = match pick(|d| d.cache.is_some()).and_then(|d| d.cache.as_deref()) {
        None | Some("private") => CacheRule::Private,
        Some("no-store") => CacheRule::NoStore,
        Some("public") => CacheRule::Public,
        Some(other) => {
            return Err(format!(
                "cache: {other:?} is not private, no-store or public"
            ));
        }
    };
    let nosniff = pick(|d| d.nosniff.is_some())
        .and_then(|d| d.nosniff)
        .unwrap_or(true);
    Ok(Envelope {
        header_scan,
        url_scan,
        query_allow,
        query_remove,
        cache,
        nosniff,
    })
}

/// Header names, lower-cased; a trailing `*` matches a prefix.
pub fn header_patterns(list: &[String], what: &str) -> Result<Vec<String>, String> {
    list.iter()
        .map(|h| {
            let h = h.to_ascii_lowercase();
            let name = h.strip_suffix('*').unwrap_or(&h);
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid || name == "host" {
                Err(format!(
                    "headers.{what}: {h:?} is not a header name or prefix*"
                ))
            } else {
                Ok(h)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// The rows of the first Markdown table in `doc` under the row that
    /// starts with `header`: its cells, without backquotes.
    fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
        doc.lines()
            .skip_while(|l| !l.starts_with(header))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().replace('`', ""))
                    .collect()
            })
            .collect()
    }

    /// docs/scrubbing.md's tables of built-in classes and of detectors are
    /// the code's: every class with its detectors, action and default scan,
    /// every detector once.
    #[test]
    fn the_docs_tables_are_the_code() {
        let doc = include_str!("../../../../docs/scrubbing.md");
        let (classes, scanned) = builtin_classes();
        let rows = table(doc, "| class | detectors | action |");
        assert_eq!(rows.len(), classes.len(), "{rows:?}");
        for (row, class) in rows.iter().zip(classes.iter()) {
            assert_eq!(row[0], *class.name, "class order and names");
            let listed: Vec<&str> = row[1].split(", ").collect();
            let code: Vec<&str> = class.detectors.iter().map(Detector::name).collect();
            assert_eq!(listed, code, "{}", class.name);
            assert_eq!(row[2], class.action.name(), "{}", class.name);
        }
        let first: Vec<&str> = rows
            .iter()
            .take(scanned.len())
            .map(|r| r[0].as_str())
            .collect();
        assert_eq!(
            first, scanned,
            "the first classes are the ones scanned by default"
        );
        let detectors: Vec<String> = table(doc, "| name | finds |")
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        let mut all: Vec<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
        let mut documented: Vec<&str> = detectors.iter().map(String::as_str).collect();
        all.sort_unstable();
        documented.sort_unstable();
        assert_eq!(documented, all);
    }
}
