"""Validates chaperone's example and embedded policies against the policy
JSON Schema (docs/policy.schema.json), as an editor would."""
import json
import pathlib
import sys

import jsonschema
import yaml

root = pathlib.Path(__file__).resolve().parent.parent
schema = json.loads((root / "docs" / "policy.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
policies = [root / "crates" / "chaperone-core" / "src" / "config" / "default-policy.yaml", *sorted((root / "examples" / "policies").glob("*.yaml"))]
policies = [p for p in policies if not p.name.endswith(".tests.yaml")]
failed = 0
for path in policies:
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    for e in errors:
        print(f"FAIL {path.relative_to(root)}: {'/'.join(map(str, e.path))}: {e.message}")
    failed += bool(errors)
    if not errors:
        print(f"ok   {path.relative_to(root)} matches the policy schema")
# A key the schema does not know must be refused, as chaperone refuses it.
bad = yaml.safe_load("version: x\ntrust_domain: a\nhops: []\nhosp: []\n")
if validator.is_valid(bad):
    print("FAIL the schema accepts an unknown top-level key")
    failed += 1
# A hop that mints no token takes no other token setting, as chaperone refuses it.
hop = {"name": "h", "match": {"host": "a.test", "path": "/"}, "from": [{"anonymous": True}]}
def policy(token):
    return {"version": "x", "trust_domain": "a", "hops": [dict(hop, token=token)]}
for token, valid in (({"mint": False}, True), ({"mint": False, "scope": ["a"]}, False), ({"mint": True, "scope": ["a"]}, True)):
    if validator.is_valid(policy(token)) != valid:
        print(f"FAIL the schema {'refuses' if valid else 'accepts'} token: {token}")
        failed += 1
# Budgets: a bytes budget names no classes; a records budget names a path
# ending with [*] and no classes; only it names a path; a budget takes no
# unknown key.
budget = {"name": "b", "direction": "response", "count": "findings", "window": "1h", "limit": 5, "action": "block"}
records = {"count": "records", "path": "orders[*]"}
for extra, valid in (({}, True), ({"classes": ["card"]}, True), ({"count": "bytes", "classes": ["card"]}, False), ({"per": "user"}, False), ({"limit": 0}, False),
                     (records, True), ({"count": "records", "path": "[*]"}, True), ({"count": "records"}, False), ({"count": "records", "path": "orders"}, False),
                     (dict(records, classes=["card"]), False), ({"path": "orders[*]"}, False), ({"count": "bytes", "path": "orders[*]"}, False)):
    if validator.is_valid({"version": "x", "trust_domain": "a", "hops": [dict(hop, budgets=[dict(budget, **extra)])]}) != valid:
        print(f"FAIL the schema {'refuses' if valid else 'accepts'} the budget {extra}")
        failed += 1
# Anomalies: sigmas above 0, a bytes anomaly names no classes, records as
# for a budget, no unknown key.
anomaly = {"name": "a", "direction": "response", "count": "findings", "window": "1h", "sigmas": 4, "min": 50}
for extra, valid in (({}, True), ({"history": "7d", "warmup": 24, "sigmas": 3.5}, True), ({"sigmas": 0}, False), ({"count": "bytes", "classes": ["card"]}, False), ({"limit": 5}, False), ({"history": "1w"}, False),
                     (records, True), ({"count": "records"}, False), ({"path": "orders[*]"}, False)):
    if validator.is_valid({"version": "x", "trust_domain": "a", "hops": [dict(hop, anomalies=[dict(anomaly, **extra)])]}) != valid:
        print(f"FAIL the schema {'refuses' if valid else 'accepts'} the anomaly {extra}")
        failed += 1
sys.exit(1 if failed else 0)
