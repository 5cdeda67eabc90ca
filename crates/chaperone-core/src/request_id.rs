//! Envoy's request id as chaperone shows it: joined across adapters and
//! logs, never the client's text when it is not Envoy's own shape.

use std::borrow::Cow;

/// The last of a header's comma-joined values (Envoy joins a header sent
/// more than once with commas in ext_authz's header map), trimmed.
pub fn last_value(raw: &str) -> &str {
    raw.rsplit(',').next().unwrap_or(raw).trim()
}

/// Envoy's request id (`x-request-id`) as decision events show it, for
/// joining them with Envoy's access log, the callee's logs and each other:
/// its last value ([`last_value`]) when it has the shape Envoy generates (a
/// lower-case UUID) and no detector finds anything in it; else an id derived
/// from it with the hash key (the same in ext_authz and ext_proc, so their
/// events still join), never the client's text; "-" when there is none.
pub fn request_id<'a>(raw: Option<&'a str>, key: &crate::secret::HashKey) -> Cow<'a, str> {
    match raw.map(last_value).filter(|id| !id.is_empty()) {
        None => Cow::Borrowed("-"),
        Some(id) if is_envoy_request_id(id) => Cow::Borrowed(id),
        Some(id) => Cow::Owned(key.tag("rid_", "request_id", id.as_bytes())),
    }
}

/// A lower-case RFC 4122 UUID, as Envoy generates, with nothing a detector
/// knows in it.
pub fn is_envoy_request_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
        && crate::scrub::detect::scan(id, crate::scrub::detect::DetectorSet::all()).is_empty()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_shown_only_in_envoys_shape() {
        let key = crate::secret::HashKey::from_bytes(b"k");
        let uuid = "5d1c0a7e-1f2b-4c3d-9e8f-0a1b2c3d4e5f";
        assert_eq!(super::request_id(Some(uuid), &key), uuid);
        assert_eq!(super::request_id(Some(&format!("x, {uuid}")), &key), uuid);
        assert_eq!(super::request_id(None, &key), "-");
        assert_eq!(super::request_id(Some(""), &key), "-");
        for client in [
            "4111111111111111",
            "a b",
            "5D1C0A7E-1F2B-4C3D-9E8F-0A1B2C3D4E5F",
            "é",
        ] {
            let derived = super::request_id(Some(client), &key);
            assert!(
                derived.starts_with("rid_") && derived.len() == 36,
                "{client}"
            );
            assert!(!derived.contains(client));
            // The same in every adapter, so events still join.
            assert_eq!(derived, super::request_id(Some(client), &key));
        }
    }
}
