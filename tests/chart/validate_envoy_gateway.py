#!/usr/bin/env python3
"""Validates Envoy Gateway objects against Envoy Gateway's own CRD schemas.

Run by .ci/chart.sh with the chart venv's Python (jsonschema, as
kubernetes-validate uses it, and PyYAML):

  validate_envoy_gateway.py CRD_DIR FILE...

CRD_DIR holds Envoy Gateway's CustomResourceDefinitions of one release
(tests/chart/crds/envoy-gateway-<version>/, pinned by sha256 in
.ci/chart-tools.sh). Each FILE is JSON (a list of objects, as
`check_manifests.py split` writes envoy-gateway.json) or YAML (one or more
documents; objects of other groups are skipped, so an example's manifest can
be given whole).

Each object must be of a kind and version a CRD serves, and its apiVersion,
kind, metadata and spec must validate against that version's
openAPIV3Schema, made strict as the API server's strict field validation is:
an object schema with properties and without
`x-kubernetes-preserve-unknown-fields` admits no other field, so a misspelt
or misplaced field fails here instead of being dropped by the API server.
`x-kubernetes-int-or-string` admits an integer or a string. The CRDs' CEL
rules (`x-kubernetes-validations`) are not evaluated here; the ones
chaperone's wiring depends on are checked by `check_manifests.py invariants`.

Prints `ok:` per object and `FAIL:` per error; exits non-zero on any failure.
"""

import copy
import json
import os
import sys

import jsonschema
import yaml

GROUP = "gateway.envoyproxy.io"


def strict(schema):
    """A copy of an OpenAPI v3 (structural) schema that refuses unknown fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {name: strict(sub) for name, sub in v.items()}
        elif k == "x-kubernetes-validations":
            continue
        else:
            out[k] = strict(v)
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def load_crds(crd_dir):
    """(apiVersion, kind) -> strict schema, for every version the CRDs serve."""
    schemas = {}
    for name in sorted(os.listdir(crd_dir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(crd_dir, name)) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    if not version.get("served"):
                        continue
                    schema = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    # ObjectMeta is left open by the CRD: hold it to what
                    # these manifests may set.
                    schema["properties"]["metadata"] = {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 253},
                            "namespace": {"type": "string", "minLength": 1, "maxLength": 63},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                        "required": ["name", "namespace"],
                        "additionalProperties": False,
                    }
                    schema.setdefault("required", [])
                    for field in ("apiVersion", "kind", "metadata", "spec"):
                        if field not in schema["required"]:
                            schema["required"].append(field)
                    schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas


def objects_of(path):
    with open(path) as f:
        if path.endswith(".json"):
            return json.load(f)
        return [d for d in yaml.safe_load_all(f) if d]


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    schemas = load_crds(argv[1])
    if not schemas:
        print(f"FAIL: no CustomResourceDefinition in {argv[1]}")
        return 1
    failures = 0
    checked = 0
    for path in argv[2:]:
        for obj in objects_of(path):
            api = obj.get("apiVersion", "")
            if not api.startswith(GROUP + "/"):
                continue
            md = obj.get("metadata") or {}
            ident = f"{os.path.basename(path)}: {obj.get('kind')} {md.get('namespace', '')}/{md.get('name')}"
            schema = schemas.get((api, obj.get("kind")))
            if schema is None:
                failures += 1
                print(f"FAIL: {ident}: no CRD in {argv[1]} serves {api} {obj.get('kind')}")
                continue
            validator = jsonschema.Draft7Validator(schema)
            errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
            for e in errors:
                where = ".".join(str(p) for p in e.absolute_path) or "(top)"
                print(f"FAIL: {ident}: {where}: {e.message}")
            if errors:
                failures += 1
            else:
                checked += 1
                print(f"ok: {ident} validates against Envoy Gateway's {api} {obj['kind']} schema (strict)")
    if checked + failures == 0:
        print(f"FAIL: no {GROUP} object in {' '.join(argv[2:])}")
        return 1
    print(f"{checked} Envoy Gateway objects valid, {failures} invalid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
