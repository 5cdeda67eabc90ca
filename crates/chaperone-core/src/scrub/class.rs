//! Data classes (named kinds of sensitive data) and the actions applied to
//! them. An action turns a value into what may cross the hop.

use std::sync::Arc;

use super::detect::{self, Detector, DetectorSet, safe_form};
use crate::secret::HashKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Remove the field (in free text: replace the match with a placeholder).
    Drop,
    /// A fixed placeholder naming the class: `[REDACTED:card_number]`.
    Redact,
    /// Card number: first 6 and last 4 digits, `411111******1111`.
    MaskPan,
    /// Card number: last 4 digits only, `************1111`.
    MaskPanLast4,
    /// E-mail: first letter and domain, `a***@example.com`.
    MaskEmail,
    /// Phone: last 4 digits, `*******2671`.
    MaskPhone,
    /// Keyed HMAC-SHA-256, `h:` + 32 hex digits: stable, joinable, not reversible.
    Hash,
    /// Refuse the whole message.
    Block,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Drop,
        Action::Redact,
        Action::MaskPan,
        Action::MaskPanLast4,
        Action::MaskEmail,
        Action::MaskPhone,
        Action::Hash,
        Action::Block,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Redact => "redact",
            Action::MaskPan => "mask_pan",
            Action::MaskPanLast4 => "mask_pan_last4",
            Action::MaskEmail => "mask_email",
            Action::MaskPhone => "mask_phone",
            Action::Hash => "hash",
            Action::Block => "block",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// What an action made of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Replace(String),
    Drop,
    Block,
}

/// Applies `action` to `value` of class `class` (the placeholder's name).
///
/// A mask shows digits of the value only when the whole value is of the
/// masked kind (a card number: digits and separators only; a phone number;
/// an e-mail address): a mask aimed at a field that holds more ("pan 4111…
/// exp 12/29") would show another value's digits, so it redacts instead.
/// What an action made, it makes again (an earlier mask's stars count as
/// digits, a hash token stays): scrubbing twice changes nothing.
pub fn apply(action: Action, class: &str, value: &str, key: &HashKey) -> Applied {
    let redact = || Applied::Replace(format!("[REDACTED:{class}]"));
    // Digits, and the stars of an earlier mask, in order.
    let positions = || {
        value
            .bytes()
            .filter(|b| b.is_ascii_digit() || *b == b'*')
            .collect::<Vec<u8>>()
    };
    // Only digits, stars and the separators numbers are written with.
    let only = |extra: &[u8]| {
        let v = value.trim();
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b" -.*".contains(&b) || extra.contains(&b))
    };
    let stars = |n: usize| "*".repeat(n);
    match action {
        Action::Drop => Applied::Drop,
        Action::Block => Applied::Block,
        Action::Redact => redact(),
        Action::Hash if is_hash_token(value, key) => Applied::Replace(value.to_owned()),
        Action::Hash => Applied::Replace(hash_token(value, key)),
        Action::MaskPan | Action::MaskPanLast4 => {
            let d = positions();
            let shown = if action == Action::MaskPan { 6 } else { 0 };
            if !(12..=19).contains(&d.len())
                || !only(b"")
                || !d[..shown]
                    .iter()
                    .chain(&d[d.len() - 4..])
                    .all(u8::is_ascii_digit)
            {
                return redact();
            }
            let head = String::from_utf8_lossy(&d[..shown]).into_owned();
            let last4 = String::from_utf8_lossy(&d[d.len() - 4..]).into_owned();
            Applied::Replace(format!("{head}{}{last4}", stars(d.len() - shown - 4)))
        }
        Action::MaskPhone => {
            let d = positions();
            if !(6..=15).contains(&d.len())
                || !only(b"+()/")
                || !d[d.len() - 4..].iter().all(u8::is_ascii_digit)
            {
                return redact();
            }
            Applied::Replace(format!(
                "{}{}",
                stars(d.len() - 4),
                String::from_utf8_lossy(&d[d.len() - 4..])
            ))
        }
        Action::MaskEmail => {
            let v = value.trim();
            match v.rsplit_once('@') {
                Some((local, domain))
                    if !local.is_empty()
                        && !domain.is_empty()
                        && !v.contains(char::is_whitespace) =>
                {
                    let first: String = local.chars().take(1).collect();
                    Applied::Replace(format!("{first}***@{domain}"))
                }
                _ => redact(),
            }
        }
    }
}

/// What the `hash` action writes: `h:`, 24 hex digits of the value's keyed
/// HMAC (joinable: the same value, the same token), and 8 hex digits of a
/// keyed check over those, so that only a token chaperone made passes for
/// one (a value shaped like a token but made up carries 16 bytes of the
/// sender's choosing, and is hashed like any other).
pub fn hash_token(value: &str, key: &HashKey) -> String {
    let body = hash_body(value, key);
    let check = key.tag("", "value-check", body.as_bytes());
    format!("h:{body}{}", check.get(..8).unwrap_or(&check))
}

/// The 24 hex digits of a value's `hash_token` that depend on the value.
pub(crate) fn hash_body(value: &str, key: &HashKey) -> String {
    let mut tag = key.tag("", "value", value.as_bytes());
    tag.truncate(24);
    tag
}

/// A token [`hash_token`] made under this key.
pub(crate) fn is_hash_token(value: &str, key: &HashKey) -> bool {
    let Some(rest) = value.strip_prefix("h:") else {
        return false;
    };
    let (Some(body), Some(check)) = (rest.get(..24), rest.get(24..)) else {
        return false;
    };
    check.len() == 8
        && key
            .tag("", "value-check", body.as_bytes())
            .get(..8)
            .is_some_and(|c| key_eq(c, check))
}

/// Equality that takes the same time wherever the inputs differ.
fn key_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// [`apply`], and what it writes is judged again: a replacement in which a
/// detector of `scan` finds something (a mask that keeps a domain made of a
/// card number) is redacted instead.
pub fn apply_scanned(
    action: Action,
    class: &str,
    value: &str,
    key: &HashKey,
    scan: DetectorSet,
) -> Applied {
    match apply(action, class, value, key) {
        Applied::Replace(r)
            if crate::scrub::detect::may_contain(&r, scan)
                && !crate::scrub::detect::scan(&r, scan).is_empty() =>
        {
            Applied::Replace(format!("[REDACTED:{class}]"))
        }
        other => other,
    }
}

/// A named kind of sensitive data: what finds it and what to do with it.
#[derive(Debug, Clone)]
pub struct DataClass {
    pub name: Arc<str>,
    pub detectors: DetectorSet,
    pub action: Action,
}

/// All classes of a policy, with each detector mapped to the first class
/// that lists it.
#[derive(Debug, Clone)]
pub struct Classes {
    list: Vec<DataClass>,
    by_detector: [Option<u16>; 64],
    /// Per class, the values a match is never acted on (published test
    /// card numbers in a staging policy): each with the detector of the
    /// class that finds it, as [`safe_form`] writes it for that detector.
    safe: Vec<std::collections::HashSet<(Detector, String)>>,
    /// The policy's own detectors (`Detector::Custom`).
    custom: Arc<detect::CustomDetectors>,
}

impl Default for Classes {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Classes {
    pub fn new(list: Vec<DataClass>) -> Self {
        let mut by_detector = [None; 64];
        for (i, class) in list.iter().enumerate() {
            for d in class.detectors.iter() {
                let slot = &mut by_detector[detector_index(d)];
                if slot.is_none() {
                    *slot = u16::try_from(i).ok();
                }
            }
        }
        Self {
            list,
            by_detector,
            safe: Vec::new(),
            custom: Arc::default(),
        }
    }

    /// The same classes, with the policy's own detectors (those its
    /// classes' `Detector::Custom` name).
    pub fn with_custom(mut self, custom: detect::CustomDetectors) -> Self {
        self.custom = Arc::new(custom);
        self
    }

    pub fn custom(&self) -> &detect::CustomDetectors {
        &self.custom
    }

    /// Whether all of `text` is one value detector `d` finds, a policy's
    /// own detectors included (see `detect::matches_whole`).
    pub fn matches_whole(&self, text: &str, d: Detector) -> bool {
        match self.custom.get(d) {
            Some(c) => c.whole(text, None),
            None => detect::matches_whole(text, d),
        }
    }

    /// The same classes, with `values` safe for class `class`: each as
    /// every detector of the class that finds it whole writes it.
    pub fn with_safe<'v>(
        mut self,
        class: usize,
        values: impl IntoIterator<Item = &'v str>,
    ) -> Self {
        if self.safe.len() < self.list.len() {
            self.safe.resize_with(self.list.len(), Default::default);
        }
        let detectors = self
            .list
            .get(class)
            .map(|c| c.detectors)
            .unwrap_or_default();
        let mut forms = Vec::new();
        for v in values {
            for d in detectors.iter().filter(|&d| self.matches_whole(v, d)) {
                forms.push((d, safe_form(d, v)));
            }
        }
        if let Some(set) = self.safe.get_mut(class) {
            set.extend(forms);
        }
        self
    }

    /// Whether `matched`, found by `detector` of class `class`, is one of
    /// the class's safe values.
    #[inline]
    pub fn is_safe(&self, class: usize, detector: Detector, matched: &str) -> bool {
        !self.safe.is_empty()
            && self.safe.get(class).is_some_and(|set| {
                !set.is_empty() && set.contains(&(detector, safe_form(detector, matched)))
            })
    }

    /// The safe values of class `class`, each with the detector that finds
    /// it, as that detector compares them.
    pub fn safe_forms(&self, class: usize) -> impl Iterator<Item = &(Detector, String)> {
        self.safe.get(class).into_iter().flatten()
    }

    pub fn get(&self, i: usize) -> Option<&DataClass> {
        self.list.get(i)
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|c| &*c.name == name)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &DataClass> {
        self.list.iter()
    }

    /// The class a detector's findings belong to.
    pub fn class_of(&self, d: Detector) -> Option<usize> {
        self.by_detector[detector_index(d)].map(usize::from)
    }
}

fn detector_index(d: Detector) -> usize {
    d.index() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safe value covers the spellings its detector reads as the same
    /// value, and nothing else.
    #[test]
    fn safe_values_compare_as_their_detector_reads_them() {
        let class = |name: &str, d: Detector| DataClass {
            name: name.into(),
            detectors: d.into(),
            action: Action::Redact,
        };
        let token = "abcDEF0123456789ghij";
        let bearer = format!("Bearer {token}");
        let classes = Classes::new(vec![
            class("card", Detector::Pan),
            class("email", Detector::Email),
            class("token", Detector::BearerToken),
            class("nino", Detector::UkNino),
        ])
        .with_safe(0, ["4111-1111-1111-1111"])
        .with_safe(1, ["test@example.com"])
        .with_safe(2, [bearer.as_str()])
        .with_safe(3, ["AB 12 34 56 C"]);
        for (class, d, matched, safe) in [
            (0, Detector::Pan, "4111 1111 1111 1111", true),
            (0, Detector::Pan, "4111111111111111", true),
            (0, Detector::Pan, "5555555555554444", false),
            (1, Detector::Email, "Test@Example.COM", true),
            (1, Detector::Email, "te@stexample.com", false),
            (1, Detector::Email, "test@exam.ple.com", false),
            (2, Detector::BearerToken, token, true),
            (2, Detector::BearerToken, "ABCdef0123456789GHIJ", false),
            (3, Detector::UkNino, "ab123456c", true),
            (3, Detector::UkNino, "AB123456D", false),
            // Another class's safe value is not this one's.
            (1, Detector::Pan, "4111111111111111", false),
            // Nor another detector's of the same class.
            (3, Detector::UsEin, "AB123456C", false),
            (3, Detector::UkNino, "ＡＢ１２３４５６Ｃ", true),
        ] {
            assert_eq!(classes.is_safe(class, d, matched), safe, "{matched}");
        }
    }

    #[test]
    fn actions_keep_a_useful_shape() {
        let key = HashKey::from_bytes(b"k");
        let r = |a, v| apply(a, "card_number", v, &key);
        assert_eq!(
            r(Action::MaskPan, "4111 1111 1111 1111"),
            Applied::Replace("411111******1111".into())
        );
        assert_eq!(
            r(Action::MaskPanLast4, "4111-1111-1111-1111"),
            Applied::Replace("************1111".into())
        );
        assert_eq!(
            r(Action::MaskPan, "123"),
            Applied::Replace("[REDACTED:card_number]".into())
        );
        assert_eq!(
            r(Action::MaskEmail, "alice@example.com"),
            Applied::Replace("a***@example.com".into())
        );
        assert_eq!(
            r(Action::MaskPhone, "+1 (415) 555-2671"),
            Applied::Replace("*******2671".into())
        );
        assert_eq!(
            r(Action::Redact, "x"),
            Applied::Replace("[REDACTED:card_number]".into())
        );
        // A mask never shows digits of anything but the masked value.
        for mixed in [
            "pan 5555 5555 5555 4444 exp 12/29",
            "4111111111111111 cvv 987",
            "{\"number\":\"4111111111111111\",\"exp\":\"1229\"}",
        ] {
            assert_eq!(
                r(Action::MaskPanLast4, mixed),
                Applied::Replace("[REDACTED:card_number]".into()),
                "{mixed}"
            );
        }
        assert_eq!(
            r(Action::MaskPhone, "call 415 555 2671 at 9"),
            Applied::Replace("[REDACTED:card_number]".into())
        );
        assert_eq!(
            r(Action::MaskEmail, "alice@example.com or bob@example.com"),
            Applied::Replace("[REDACTED:card_number]".into())
        );
        // What an action made, it makes again: scrubbing twice changes nothing.
        for a in Action::ALL {
            for v in [
                "4111 1111 1111 1111",
                "+1 (415) 555-2671",
                "alice@example.com",
                "x",
            ] {
                if let Applied::Replace(once) = apply(a, "card_number", v, &key) {
                    let twice = apply(a, "card_number", &once, &key);
                    assert_eq!(twice, Applied::Replace(once), "{a:?} {v}");
                }
            }
        }
        assert_eq!(r(Action::Drop, "x"), Applied::Drop);
        assert_eq!(r(Action::Block, "x"), Applied::Block);
        // A made-up token is hashed like any other value.
        let forged = format!("h:4111111111111111{}", "0".repeat(16));
        assert_ne!(r(Action::Hash, &forged), Applied::Replace(forged.clone()));
        assert_eq!(
            apply_scanned(
                Action::MaskEmail,
                "email",
                "a@4111111111111111.test",
                &key,
                DetectorSet::all()
            ),
            Applied::Replace("[REDACTED:email]".into())
        );
        let Applied::Replace(h) = r(Action::Hash, "alice@example.com") else {
            panic!()
        };
        assert!(h.starts_with("h:") && h.len() == 34);
        assert_eq!(
            r(Action::Hash, "alice@example.com"),
            Applied::Replace(h.clone()),
            "stable"
        );
        assert_ne!(
            apply(
                Action::Hash,
                "c",
                "alice@example.com",
                &HashKey::from_bytes(b"other")
            ),
            Applied::Replace(h)
        );
        for a in Action::ALL {
            assert_eq!(Action::parse(a.name()), Some(a));
        }
    }
}
