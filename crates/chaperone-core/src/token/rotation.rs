//! Rotating the signing key of a key set (a key directory, or the data of the
//! Kubernetes Secret mounted as one) in the three edits [`super::keyring`]
//! describes, one step per run, each step only once it is due:
//!
//! 1. publish: a new key beside the old one, `active-kid` still naming the old;
//! 2. switch, once `publish_wait` has passed (every replica has re-read the
//!    set and every verifier has refetched the JWKS): `active-kid` names the new;
//! 3. retire, once `retire_after` has passed (no token the old key signed is
//!    still valid): the old key file goes.
//!
//! Where the rotation stands is written into the set itself, in the file
//! `rotation` (chaperone reads only `<kid>.pem` and `active-kid`), before the
//! step's own edits. A run re-applies the edits of the phase it finds, so a
//! run cut short, or run twice, or run before its time, changes nothing that
//! should not change. A phase's clock restarts whenever a run had to apply
//! its edits again.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::keyring::ACTIVE_KID_FILE;
use super::keys::{KeyKind, SigningKey};

/// The file in the key set that records a rotation in progress.
pub const ROTATION_FILE: &str = "rotation";

/// The files of a key set, by name. Debug prints the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyFiles(pub BTreeMap<String, Vec<u8>>);

impl std::fmt::Debug for KeyFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// How long each step waits for the previous one to have taken effect.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// From publishing the new key to signing with it: at least every
    /// verifier's JWKS cache time plus the time for the set to reach every
    /// replica (Secret propagation, `--watch-interval`).
    pub publish: u64,
    /// From switching to retiring the old key: at least `tokens.max_ttl` plus
    /// the time for the switch to reach every replica.
    pub retire: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Published,
    Switched,
    Retired,
}

/// The `rotation` file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub phase: Phase,
    pub old: String,
    pub new: String,
    /// The new key's kind, to make it again if a cut-short run lost it.
    pub kind: KeyKind,
    /// When the phase's edits were (last) applied, Unix seconds.
    pub since: i64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No rotation in progress (or the last one is complete), none started.
    Idle,
    Published {
        old: String,
        new: String,
    },
    Switched {
        old: String,
        new: String,
    },
    Retired {
        old: String,
        new: String,
    },
    /// The next step (`switch` or `retire`) is due in this many seconds.
    Waiting {
        next: &'static str,
        due_in: i64,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Idle => write!(f, "no rotation in progress (--start begins one)"),
            Step::Published { old, new } => {
                write!(f, "published {new}; {old} still signs")
            }
            Step::Switched { old, new } => {
                write!(f, "switched: {new} signs; {old} is still published")
            }
            Step::Retired { old, new } => {
                write!(f, "retired {old}; rotation complete, {new} signs")
            }
            Step::Waiting { next, due_in } => {
                write!(f, "waiting: {next} is due in {}", human(*due_in))
            }
        }
    }
}

fn human(secs: i64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("key set: {0}")]
    Set(String),
    #[error("the rotation file is not one this version wrote: {0}")]
    State(String),
    #[error("kid {0:?}: use letters, digits, '.', '_' and '-' (at most 64)")]
    Kid(String),
    #[error("a key named {0:?} exists already")]
    KidTaken(String),
    #[error("{0}")]
    Key(#[from] super::keys::KeyError),
}

/// What `--start` asks for: the new key's kid and kind.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub kid: String,
    pub kind: KeyKind,
}

impl KeyFiles {
    fn pem_name(kid: &str) -> String {
        format!("{kid}.pem")
    }

    fn has_key(&self, kid: &str) -> bool {
        self.0.contains_key(&Self::pem_name(kid))
    }

    fn active_kid(&self) -> Option<String> {
        self.0
            .get(ACTIVE_KID_FILE)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
    }

    /// Sets `name` to `bytes`; whether that changed anything.
    fn ensure(&mut self, name: &str, bytes: &[u8]) -> bool {
        if self.0.get(name).is_some_and(|v| v == bytes) {
            return false;
        }
        self.0.insert(name.to_owned(), bytes.to_vec());
        true
    }

    /// Sets `active-kid`, unless it already names `kid`.
    fn ensure_active(&mut self, kid: &str) -> bool {
        if self.active_kid().as_deref() == Some(kid) {
            return false;
        }
        self.ensure(ACTIVE_KID_FILE, kid.as_bytes())
    }

    /// The kid that signs now: `active-kid`, or the only key.
    fn signer(&self) -> Result<String, RotationError> {
        if let Some(kid) = self.active_kid() {
            return if self.has_key(&kid) {
                Ok(kid)
            } else {
                Err(RotationError::Set(format!(
                    "{ACTIVE_KID_FILE} names {kid:?}, and there is no {kid}.pem"
                )))
            };
        }
        let kids: Vec<&str> = self
            .0
            .keys()
            .filter_map(|n| n.strip_suffix(".pem"))
            .collect();
        match kids.as_slice() {
            [kid] => Ok((*kid).to_owned()),
            [] => Err(RotationError::Set("no <kid>.pem key in it".into())),
            _ => Err(RotationError::Set(format!(
                "several keys and no {ACTIVE_KID_FILE} file to say which signs"
            ))),
        }
    }

    fn state(&self) -> Result<Option<State>, RotationError> {
        self.0
            .get(ROTATION_FILE)
            .map(|v| serde_json::from_slice(v).map_err(|e| RotationError::State(e.to_string())))
            .transpose()
    }

    fn set_state(&mut self, state: &State) {
        let mut json = serde_json::to_vec(state).unwrap_or_default();
        json.push(b'\n');
        self.0.insert(ROTATION_FILE.to_owned(), json);
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && !kid.starts_with('.')
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A kid for a key made at `now`: `chaperone-YYYYMMDD-HHMMSS` (UTC).
pub fn default_kid(now: i64) -> String {
    let (days, secs) = (now.div_euclid(86_400), now.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "chaperone-{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Takes the rotation of `files` one step further if that step is due at
/// `now`; with `start`, begins a rotation when none is in progress.
pub fn advance(
    files: &mut KeyFiles,
    now: i64,
    waits: Waits,
    start: Option<&NewKey>,
) -> Result<Step, RotationError> {
    let state = files.state()?;
    let in_progress = state.as_ref().filter(|s| s.phase != Phase::Retired);
    let Some(state) = in_progress else {
        let Some(new) = start else {
            return Ok(Step::Idle);
        };
        if !valid_kid(&new.kid) {
            return Err(RotationError::Kid(new.kid.clone()));
        }
        if files.has_key(&new.kid) || files.0.contains_key(&new.kid) {
            return Err(RotationError::KidTaken(new.kid.clone()));
        }
        let old = files.signer()?;
        let state = State {
            phase: Phase::Published,
            old,
            new: new.kid.clone(),
            kind: new.kind,
            since: now,
        };
        publish(files, &state)?;
        files.set_state(&state);
        return Ok(Step::Published {
            old: state.old,
            new: state.new,
        });
    };
    let mut state = state.clone();
    match state.phase {
        Phase::Published => {
            // Re-applied edits restart the wait: the key was not published.
            if publish(files, &state)? {
                state.since = now;
                files.set_state(&state);
                return Ok(Step::Published {
                    old: state.old,
                    new: state.new,
                });
            }
            let due = due(state.since, waits.publish);
            if now < due {
                return Ok(Step::Waiting {
                    next: "switch",
                    due_in: due - now,
                });
            }
            state.phase = Phase::Switched;
            state.since = now;
            files.set_state(&state);
            files.ensure_active(&state.new);
            Ok(Step::Switched {
                old: state.old,
                new: state.new,
            })
        }
        Phase::Switched => {
            if !files.has_key(&state.new) {
                return Err(RotationError::Set(format!(
                    "the rotation switched to {:?}, and {}.pem is gone: restore it",
                    state.new, state.new
                )));
            }
            if files.ensure_active(&state.new) {
                state.since = now;
                files.set_state(&state);
                return Ok(Step::Switched {
                    old: state.old,
                    new: state.new,
                });
            }
            let due = due(state.since, waits.retire);
            if now < due {
                return Ok(Step::Waiting {
                    next: "retire",
                    due_in: due - now,
                });
            }
            state.phase = Phase::Retired;
            state.since = now;
            files.set_state(&state);
            files.0.remove(&KeyFiles::pem_name(&state.old));
            Ok(Step::Retired {
                old: state.old,
                new: state.new,
            })
        }
        Phase::Retired => Ok(Step::Idle),
    }
}

/// When a phase that began in second `since` has surely lasted `wait`: the
/// clock counts whole seconds, so the phase may have begun late in `since`.
fn due(since: i64, wait: u64) -> i64 {
    since.saturating_add_unsigned(wait).saturating_add(1)
}

/// The publish phase's edits: `active-kid` names the old key, the new key
/// exists (made now if it does not). Whether anything changed.
fn publish(files: &mut KeyFiles, state: &State) -> Result<bool, RotationError> {
    if !files.has_key(&state.old) {
        return Err(RotationError::Set(format!(
            "the rotation publishes beside {:?}, and {}.pem is gone",
            state.old, state.old
        )));
    }
    let mut changed = files.ensure_active(&state.old);
    if !files.has_key(&state.new) {
        let key = SigningKey::generate(state.kind, &state.new)?;
        files.ensure(&KeyFiles::pem_name(&state.new), key.to_pem().as_bytes());
        changed = true;
    }
    Ok(changed)
}

// --- where key sets live ----------------------------------------------------

/// The regular files of a key directory (hidden entries, such as the
/// `..data` links of a Secret mount, are not part of the set).
pub fn read_dir(dir: &Path) -> Result<KeyFiles, RotationError> {
    let err = |e: std::io::Error| RotationError::Set(format!("{}: {e}", dir.display()));
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        files.insert(name, std::fs::read(entry.path()).map_err(err)?);
    }
    Ok(KeyFiles(files))
}

/// Writes what differs between `before` and `after` into `dir`: the
/// `rotation` file first (a run cut short is then finished by the next), then
/// `active-kid`, then new keys, then removals. Each file is replaced whole
/// (written beside, then renamed), so chaperone never reads half a file.
pub fn write_dir(dir: &Path, before: &KeyFiles, after: &KeyFiles) -> Result<(), RotationError> {
    let err = |name: &str, e: std::io::Error| {
        RotationError::Set(format!("{}: {e}", dir.join(name).display()))
    };
    let rank = |name: &str| match name {
        ROTATION_FILE => 0,
        ACTIVE_KID_FILE => 1,
        _ => 2,
    };
    let mut changed: Vec<(&String, &Vec<u8>)> = after
        .0
        .iter()
        .filter(|(name, bytes)| before.0.get(*name) != Some(*bytes))
        .collect();
    changed.sort_by_key(|(name, _)| rank(name));
    for (name, bytes) in changed {
        let tmp = dir.join(format!(".{name}.tmp"));
        write_private(&tmp, bytes).map_err(|e| err(name, e))?;
        std::fs::rename(&tmp, dir.join(name)).map_err(|e| err(name, e))?;
    }
    for name in before.0.keys().filter(|n| !after.0.contains_key(*n)) {
        std::fs::remove_file(dir.join(name)).map_err(|e| err(name, e))?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The key set in a Kubernetes Secret object (JSON, as `kubectl get -o json`
/// prints it): its `data`, base64-decoded.
pub fn secret_files(secret: &serde_json::Value) -> Result<KeyFiles, RotationError> {
    if secret["kind"] != "Secret" {
        return Err(RotationError::Set(
            "not a Kubernetes Secret (kind: Secret) in JSON".into(),
        ));
    }
    let mut files = BTreeMap::new();
    if let Some(data) = secret.get("data").filter(|d| !d.is_null()) {
        let data = data
            .as_object()
            .ok_or_else(|| RotationError::Set("the Secret's data is not a map".into()))?;
        for (name, value) in data {
            let bytes = value
                .as_str()
                .and_then(|v| STANDARD.decode(v).ok())
                .ok_or_else(|| {
                    RotationError::Set(format!("the Secret's {name:?} is not base64"))
                })?;
            files.insert(name.clone(), bytes);
        }
    }
    Ok(KeyFiles(files))
}

/// `secret` with its `data` replaced by `files`; everything else (names,
/// labels, `resourceVersion`, so that `kubectl replace` refuses a Secret
/// changed in between) stays.
pub fn with_secret_files(secret: &serde_json::Value, files: &KeyFiles) -> serde_json::Value {
    let mut out = secret.clone();
    let data: serde_json::Map<String, serde_json::Value> = files
        .0
        .iter()
        .map(|(name, bytes)| (name.clone(), STANDARD.encode(bytes).into()))
        .collect();
    out["data"] = serde_json::Value::Object(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keyring::KeyStore;

    const WAITS: Waits = Waits {
        publish: 600,
        retire: 900,
    };

    fn new_key(kid: &str) -> NewKey {
        NewKey {
            kid: kid.into(),
            kind: KeyKind::Es256,
        }
    }

    fn one_key(kid: &str) -> KeyFiles {
        let key = SigningKey::generate(KeyKind::Es256, kid).unwrap();
        KeyFiles(BTreeMap::from([(
            format!("{kid}.pem"),
            key.to_pem().into_bytes(),
        )]))
    }

    fn active(files: &KeyFiles) -> String {
        files.active_kid().unwrap()
    }

    fn pems(files: &KeyFiles) -> Vec<&str> {
        files
            .0
            .keys()
            .filter_map(|n| n.strip_suffix(".pem"))
            .collect()
    }

    #[test]
    fn a_rotation_takes_each_step_when_due_and_only_then() {
        let mut f = one_key("k1");
        let untouched = f.clone();
        let t0 = 1_000_000;
        assert_eq!(advance(&mut f, t0, WAITS, None).unwrap(), Step::Idle);
        assert_eq!(f, untouched, "an idle run changes nothing");

        let step = advance(&mut f, t0, WAITS, Some(&new_key("k2"))).unwrap();
        assert!(matches!(step, Step::Published { .. }), "{step:?}");
        assert_eq!(pems(&f), ["k1", "k2"]);
        assert_eq!(active(&f), "k1", "published, not signing");

        // Re-runs before the wait, with or without --start, change nothing.
        let published = f.clone();
        for start in [None, Some(&new_key("k3"))] {
            let step = advance(&mut f, t0 + 600, WAITS, start).unwrap();
            assert_eq!(
                step,
                Step::Waiting {
                    next: "switch",
                    due_in: 1
                },
                "the wait is whole seconds after the second of publishing"
            );
            assert_eq!(f, published);
        }

        let step = advance(&mut f, t0 + 601, WAITS, None).unwrap();
        assert!(matches!(step, Step::Switched { .. }), "{step:?}");
        assert_eq!(active(&f), "k2");
        assert_eq!(pems(&f), ["k1", "k2"], "the old key stays published");
        let switched = f.clone();
        let step = advance(&mut f, t0 + 601 + 900, WAITS, None).unwrap();
        assert!(matches!(step, Step::Waiting { next: "retire", .. }));
        assert_eq!(f, switched);

        let step = advance(&mut f, t0 + 601 + 901, WAITS, None).unwrap();
        assert!(matches!(step, Step::Retired { .. }), "{step:?}");
        assert_eq!(pems(&f), ["k2"]);
        assert_eq!(active(&f), "k2");
        let done = f.clone();
        assert_eq!(advance(&mut f, t0 + 9999, WAITS, None).unwrap(), Step::Idle);
        assert_eq!(f, done, "a finished rotation stays finished");

        // The next rotation starts from the key now signing.
        let step = advance(&mut f, t0 + 9999, WAITS, Some(&new_key("k3"))).unwrap();
        assert_eq!(
            step,
            Step::Published {
                old: "k2".into(),
                new: "k3".into()
            }
        );
    }

    #[test]
    fn every_phase_of_the_set_is_one_chaperone_loads() {
        let dir =
            std::env::temp_dir().join(format!("chaperone-rotation-{}", crate::secret::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut before = KeyFiles::default();
        let mut f = one_key("k1");
        let mut t = 0;
        let mut signers = Vec::new();
        for start in [Some(new_key("k2")), None, None] {
            advance(&mut f, t, WAITS, start.as_ref()).unwrap();
            write_dir(&dir, &before, &f).unwrap();
            assert_eq!(read_dir(&dir).unwrap(), f, "the directory holds the set");
            let store = KeyStore::open(Some(dir.clone())).unwrap();
            signers.push((
                store.current().signer().kid.clone(),
                store.current().kids().len(),
            ));
            before = f.clone();
            t += 10_000;
        }
        assert_eq!(
            signers,
            [("k1".into(), 2), ("k2".into(), 2), ("k2".into(), 1)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_run_cut_short_is_finished_by_the_next_and_restarts_the_wait() {
        let mut f = one_key("k1");
        advance(&mut f, 0, WAITS, Some(&new_key("k2"))).unwrap();
        // Only the rotation file was written before the run stopped.
        f.0.remove("k2.pem");
        f.0.remove(ACTIVE_KID_FILE);
        let step = advance(&mut f, 500, WAITS, None).unwrap();
        assert!(matches!(step, Step::Published { .. }), "{step:?}");
        assert_eq!(pems(&f), ["k1", "k2"]);
        assert_eq!(active(&f), "k1");
        let step = advance(&mut f, 700, WAITS, None).unwrap();
        assert!(
            matches!(
                step,
                Step::Waiting {
                    next: "switch",
                    due_in: 401
                }
            ),
            "the wait counts from the re-publication: {step:?}"
        );

        // A switch cut short: the rotation file says switched, active-kid not yet.
        let step = advance(&mut f, 1101, WAITS, None).unwrap();
        assert!(matches!(step, Step::Switched { .. }), "{step:?}");
        f.0.insert(ACTIVE_KID_FILE.into(), b"k1".to_vec());
        let step = advance(&mut f, 1200, WAITS, None).unwrap();
        assert!(matches!(step, Step::Switched { .. }), "{step:?}");
        assert_eq!(active(&f), "k2");
        assert!(matches!(
            advance(&mut f, 1200 + 900, WAITS, None).unwrap(),
            Step::Waiting {
                next: "retire",
                due_in: 1
            }
        ));
    }

    #[test]
    fn refuses_what_it_cannot_do_safely() {
        // Two keys and nobody says which signs.
        let mut f = one_key("k1");
        f.0.extend(one_key("k2").0);
        assert!(matches!(
            advance(&mut f, 0, WAITS, Some(&new_key("k3"))),
            Err(RotationError::Set(_))
        ));
        // A taken or unsafe kid.
        let mut f = one_key("k1");
        let untouched = f.clone();
        for (kid, bad) in [
            ("k1", "taken"),
            ("../x", "path"),
            ("", "empty"),
            (".k", "hidden"),
        ] {
            assert!(
                advance(&mut f, 0, WAITS, Some(&new_key(kid))).is_err(),
                "{bad} kid accepted"
            );
        }
        assert_eq!(f, untouched, "nothing started");
        // A rotation file this version did not write.
        f.0.insert(ROTATION_FILE.into(), b"{\"phase\":\"later\"}".to_vec());
        assert!(matches!(
            advance(&mut f, 0, WAITS, None),
            Err(RotationError::State(_))
        ));
        // The new key lost after the switch: never regenerated.
        let mut f = one_key("k1");
        advance(&mut f, 0, WAITS, Some(&new_key("k2"))).unwrap();
        let step = advance(&mut f, 601, WAITS, None).unwrap();
        assert!(matches!(step, Step::Switched { .. }), "{step:?}");
        f.0.remove("k2.pem");
        assert!(advance(&mut f, 700, WAITS, None).is_err());
    }

    #[test]
    fn secret_json_round_trip_keeps_the_object() {
        let f = one_key("k1");
        let secret = with_secret_files(
            &serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "keys", "resourceVersion": "42"},
                "type": "Opaque",
            }),
            &f,
        );
        assert_eq!(secret_files(&secret).unwrap(), f);
        assert_eq!(secret["metadata"]["resourceVersion"], "42");
        assert!(secret_files(&serde_json::json!({"kind": "ConfigMap"})).is_err());
        let bad = serde_json::json!({"kind": "Secret", "data": {"k1.pem": "%%"}});
        let shown = secret_files(&bad).unwrap_err().to_string();
        assert!(!shown.contains("%%"), "no value in errors: {shown}");
        assert!(!format!("{f:?}").contains("PRIVATE"));
    }

    #[test]
    fn default_kids_name_the_utc_time() {
        assert_eq!(default_kid(0), "chaperone-19700101-000000");
        assert_eq!(default_kid(1_795_243_592), "chaperone-20261121-064632");
        assert_eq!(default_kid(951_782_400), "chaperone-20000229-000000");
    }
}
