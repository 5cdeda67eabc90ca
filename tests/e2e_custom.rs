//! A policy's own classes through a real Envoy: a pattern with a check and
//! context words, and a dictionary whose file holds a value in the clear
//! and one only as the hash `chaperone hash-values` writes, in a hop's
//! contract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{Value, json};

/// `chaperone hash-values` over `lines`, under the key in `key_file`.
fn hash_values(key_file: &std::path::Path, lines: &str) -> String {
    let out = chaperone_cli(
        [
            "hash-values".as_ref(),
            "--hash-key-file".as_ref(),
            key_file.as_os_str(),
        ],
        lines.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_classes_cross_under_the_hops_contract() {
    let files = TempDir::new("custom");
    let key_file = files.path("hash.key");
    std::fs::write(&key_file, [42u8; 32]).unwrap();
    // The VIP list: one account in the clear, one customer's name only as
    // its hash, a comment kept.
    let hashed = hash_values(&key_file, "# VIP\nJane   Q. Public\n");
    assert!(
        hashed.starts_with("#! words=3\n# VIP\nh:") && !hashed.contains("Jane"),
        "{hashed}"
    );
    let dictionary = files.path("vip.txt");
    std::fs::write(&dictionary, format!("ACC-0042\n{hashed}")).unwrap();
    let policy = format!(
        r#"
version: "custom.1"
trust_domain: shop.test
data_classes:
  member_id:
    pattern: 'M-[0-9]{{8}}'
    check: luhn
    context: [member]
    action: redact
  vip: {{ dictionary: "{}", action: redact }}
  card_number: {{ detect: [pan], action: mask_pan }}
defaults:
  scan: [card_number]
hops:
  - name: support-note
    match: {{ host: support.shop.test, method: POST, path: /v1/notes }}
    from: [ {{ anonymous: true }} ]
    request:
      body: {{ scan: [member_id, vip, card_number] }}
  - name: anything
    match: {{ host: "*.shop.test", path: "/**" }}
    from: [ {{ anonymous: true }} ]
"#,
        dictionary.display()
    );
    let key_arg = key_file.display().to_string();
    let chaperone = Chaperone::start_with(&policy, &["--hash-key-file", &key_arg]).await;
    let (upstream, envoy) = edge(&chaperone).await;
    let post = |host: &str, body: Value| {
        http()
            .post(envoy.url("ENVOY_HTTP_PORT", "/v1/notes"))
            .header("host", host)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };

    let note = json!({
        "text": "member M-12345674 paid from ACC-0042 for Jane Q Public",
        "memberId": "M-12345674",
        "ref": "M-12345675",
        "order": "M-12345674",
        "card": "4111 1111 1111 1111"
    });
    let resp = post("support.shop.test", note.clone()).await.unwrap();
    assert_eq!(resp.status(), 200, "{}", chaperone.log());
    let seen = upstream.take();
    let got: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        got,
        json!({
            "text": "member [REDACTED:member_id] paid from [REDACTED:vip] for [REDACTED:vip]",
            // The member's name says what it is; a failed check, or a name
            // that says something else, leaves the value.
            "memberId": "[REDACTED:member_id]",
            "ref": "M-12345675",
            "order": "M-12345674",
            "card": "411111******1111"
        })
    );

    // A hop that does not scan the custom classes passes them.
    let resp = post("notes.shop.test", note).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = upstream.take();
    let got: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        got["text"],
        "member M-12345674 paid from ACC-0042 for Jane Q Public"
    );
    assert_eq!(got["card"], "411111******1111");

    // Nothing chaperone logs holds a dictionary value or a match.
    let log = chaperone.log();
    for secret in ["ACC-0042", "Jane Q Public", "M-12345674"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}

/// `chaperone check` and `explain` say what a class of the policy's own is
/// made of, never what its dictionary holds; a bad dictionary line is
/// named by file and line, without its text.
#[test]
fn check_and_explain_show_custom_classes() {
    let dir = TempDir::new("custom-cli");
    std::fs::write(dir.path("vip.txt"), "ACC-0042\nAcme Holdings\n").unwrap();
    let policy = dir.path("policy.yaml");
    std::fs::write(
        &policy,
        r#"version: "v1"
trust_domain: shop.test
data_classes:
  member_id: { pattern: 'M-[0-9]{8}', check: luhn, context: [member], action: hash }
  vip: { dictionary: vip.txt, action: redact }
hops:
  - name: notes
    match: { host: api.shop.test, method: POST, path: /v1/notes }
    from: [ { anonymous: true } ]
    request: { body: { scan: [member_id, vip] } }
"#,
    )
    .unwrap();
    let out = chaperone_cli(["check".as_ref(), policy.as_os_str()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("member_id (hash): pattern (luhn, context: member)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("vip (redact): dictionary of 2 entries"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("ACC-0042") && !stdout.contains("Acme"),
        "{stdout}"
    );

    let request = dir.path("request.yaml");
    std::fs::write(
        &request,
        "host: api.shop.test\nmethod: POST\npath: /v1/notes\n",
    )
    .unwrap();
    let out = chaperone_cli(
        ["explain".as_ref(), policy.as_os_str(), request.as_os_str()],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("request body: member_id: hash, vip: redact"),
        "{stdout}"
    );
    // Without defaults.scan, every class is scanned by default.
    assert!(
        stdout.contains("response body: member_id: hash, vip: redact"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  vip: dictionary of 2 entries"),
        "{stdout}"
    );

    std::fs::write(
        dir.path("vip.txt"),
        "ACC-0042\n\nsecret-one two three four five six seven eight nine\n",
    )
    .unwrap();
    let out = chaperone_cli(["check".as_ref(), policy.as_os_str()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("vip.txt:3: an entry is at most 8 words"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-one"), "{stderr}");
}
