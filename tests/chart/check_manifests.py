#!/usr/bin/env python3
"""Checks on the chart's rendered manifests that no schema can express.

Run by .ci/chart.sh with the chart venv's Python (it has PyYAML):

  check_manifests.py split RENDERED OUTDIR
      Writes OUTDIR/builtin.yaml (Kubernetes' own kinds, for kubernetes-validate),
      OUTDIR/custom.json (Istio, prometheus-operator and Gateway API objects,
      for the npm models) and OUTDIR/envoy-gateway.json (Envoy Gateway's
      policies, for validate_envoy_gateway.py and its CRD schemas). Refuses
      unknown API groups and duplicate objects.
  check_manifests.py invariants RENDERED --values FILE [--serve-flags FILE]
                     [--edge envoy/edge.yaml] [--edge-ext-proc envoy/edge-ext-proc.yaml]
                     [--src src] [--allow-private-keys]
      The chart's promises: secure pod settings, probes on the health port,
      grace period > drain grace, mounts that match the flags, one policy
      source (the file, or a signed bundle with its public keys), the budgets'
      store's password and CA as files (never in the URL or the environment),
      references that resolve, shared signing keys whenever more than one
      replica may run, the Service, NetworkPolicy (egress: DNS and the store),
      PDB, HPA, Istio and monitoring objects wired to the Deployment, the
      dashboard's panels laid out without overlap, and the metrics they use
      exist.
  check_manifests.py envoy-gateway FILE... [--service NS/NAME:PORT]
                     [--ext-proc-authorize MODE] [--edge-ext-proc envoy/edge-ext-proc.yaml]
      Envoy Gateway policies (an example's manifests) wired to chaperone as
      envoy/edge-ext-proc.yaml wires Envoy: fail closed, whole bodies, one
      decision per request, backendRefs granted across namespaces (also part
      of `invariants`, with --edge-ext-proc).
  check_manifests.py same-policies RENDERED EXAMPLE
      The chart's Envoy Gateway policies and ReferenceGrant have exactly the
      example's names, namespaces and specs.
  check_manifests.py extract-policy RENDERED OUTDIR
      Writes the policy ConfigMap's files to OUTDIR; prints the policy's path.
  check_manifests.py envoy-bootstrap RENDERED OUT
      Writes an Envoy bootstrap whose filter chain holds the EnvoyFilter's
      ext_proc filter (for `envoy --mode validate`); prints nothing if the
      rendering has no EnvoyFilter.
  check_manifests.py dockerfile Dockerfile VALUES
      The image agrees with the chart: multi-stage, distroless nonroot base,
      USER = the chart's runAsUser, ENTRYPOINT the binary, the ports exposed.
  check_manifests.py fresh-keys RENDERED RENDERED
      Two renders of the default values hold two different generated signing
      keys (the chart ships none; only lookup keeps one across upgrades).
  check_manifests.py secret-json RENDERED RELEASE NAMESPACE
      Prints the generated signing-key Secret as JSON, as helm installed it.
  check_manifests.py kept-keys STORED.json RENDERED
      The rendering's generated signing-key Secret holds exactly STORED's data.
  check_manifests.py pod-files RENDERED OUTDIR [KIND/NAME=DIR...]
      Lays out the Deployment's volumes as the kubelet would (ConfigMap and
      Secret files, from the rendering, or from DIR for an existing object the
      values name) under OUTDIR and prints the container's args with mount
      paths rewritten into OUTDIR, one per line (smoke test).

Every failure is printed as `FAIL: ...`; the exit status is non-zero if any.
"""

import base64
import json
import os
import re
import sys

import yaml

FAILURES = []
NOTES = []

BUILTIN_GROUPS = {
    "v1",
    "apps/v1",
    "autoscaling/v2",
    "policy/v1",
    "networking.k8s.io/v1",
}
CUSTOM_GROUPS = (
    "networking.istio.io/",
    "security.istio.io/",
    "monitoring.coreos.com/",
    "gateway.networking.k8s.io/",
)
ENVOY_GATEWAY_GROUP = "gateway.envoyproxy.io/"

REQUIRED_RULE_METRICS = {
    "deny spike": ("chaperone_decisions_total", 'decision="deny"'),
    "scrub findings spike": ("chaperone_scrub_findings_total", "by (hop)"),
    "blocked messages spike": ("chaperone_blocked_messages_total", "by (hop)"),
    "reload failures": ("chaperone_policy_reloads_total", 'result="error"'),
    "JWKS errors": ("chaperone_jwks_fetch_errors_total", ""),
    "budget exceeded": ("chaperone_budget_events_total", 'outcome=~"exceeded_block|exceeded_alert"'),
    "data anomaly": ("chaperone_anomaly_alerts_total", "by (hop, anomaly, direction)"),
}
CHART_ALERTS = {
    "ChaperoneDown",
    "ChaperoneDenyRateSpike",
    "ChaperoneScrubFindingsSpike",
    "ChaperoneBlockedMessagesSpike",
    "ChaperonePolicyReloadFailed",
    "ChaperoneJwksFetchErrors",
    "ChaperonePolicyVersionSkew",
    "ChaperoneBudgetExceeded",
    "ChaperoneStateStoreDown",
    "ChaperoneDataAnomaly",
}
REQUIRED_DASHBOARD_METRICS = [
    "chaperone_decisions_total",
    "chaperone_check_duration_seconds_bucket",
    "chaperone_process_message_duration_seconds_bucket",
    "chaperone_tokens_minted_total",
    "chaperone_policy_info",
    "chaperone_ext_proc_streams_in_flight",
    "chaperone_budget_events_total",
    "chaperone_state_store_up",
    "chaperone_state_store_errors_total",
    "chaperone_anomaly_alerts_total",
]


def fail(msg):
    FAILURES.append(msg)
    print(f"FAIL: {msg}")


def note(msg):
    NOTES.append(msg)
    print(f"NOTE: {msg}")


def load(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return docs


def key(doc):
    md = doc.get("metadata", {})
    return (doc.get("kind"), md.get("namespace", ""), md.get("name"))


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind):
    found = of_kind(docs, kind)
    if len(found) != 1:
        fail(f"expected exactly one {kind}, found {len(found)}")
        return None
    return found[0]


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


# ---------------------------------------------------------------------------


def cmd_split(rendered, outdir):
    docs = load(rendered)
    seen = set()
    builtin, custom, envoy_gateway = [], [], []
    for d in docs:
        api, kind = d.get("apiVersion"), d.get("kind")
        if not api or not kind or not d.get("metadata", {}).get("name"):
            fail(f"an object without apiVersion, kind or name: {str(d)[:80]}")
            continue
        k = key(d)
        if k in seen:
            fail(f"duplicate object {k}")
        seen.add(k)
        if api in BUILTIN_GROUPS:
            builtin.append(d)
        elif api.startswith(CUSTOM_GROUPS):
            custom.append(d)
        elif api.startswith(ENVOY_GATEWAY_GROUP):
            envoy_gateway.append(d)
        else:
            fail(f"{kind} {k[2]}: apiVersion {api} is neither a checked built-in nor a checked custom group")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "builtin.yaml"), "w") as f:
        yaml.safe_dump_all(builtin, f, sort_keys=False)
    with open(os.path.join(outdir, "custom.json"), "w") as f:
        json.dump(custom, f, indent=1)
    with open(os.path.join(outdir, "envoy-gateway.json"), "w") as f:
        json.dump(envoy_gateway, f, indent=1)
    with open(os.path.join(outdir, "promql.json"), "w") as f:
        json.dump(promql_of(docs), f, indent=1)
    print(f"{len(builtin)} built-in objects, {len(custom)} custom objects, {len(envoy_gateway)} Envoy Gateway objects")


# Grafana's variables, replaced by something PromQL parses, so the dashboard's
# queries can be checked as PromQL.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$namespace": "ns", "$pod": ".*"}


def promql_of(docs):
    """[{where, expr}] for every alert rule and dashboard query."""
    out = []
    for pr in of_kind(docs, "PrometheusRule"):
        for g in pr["spec"]["groups"]:
            for r in g["rules"]:
                out.append({"where": f"rule {r.get('alert') or r.get('record')}", "expr": str(r["expr"])})
    for cm in of_kind(docs, "ConfigMap"):
        for k, v in (cm.get("data") or {}).items():
            if not k.endswith(".json"):
                continue
            try:
                dash = json.loads(v)
            except json.JSONDecodeError:
                continue  # reported by the invariants
            for p in dash.get("panels", []):
                for t in p.get("targets", []):
                    expr = t.get("expr", "")
                    for var, val in GRAFANA_VARS.items():
                        expr = expr.replace(var, val)
                    out.append({"where": f"dashboard panel {p.get('title')!r}", "expr": expr})
            for var in dash.get("templating", {}).get("list", []):
                q = var.get("query")
                if isinstance(q, dict) and q.get("query", "").startswith("label_values("):
                    inner = q["query"][len("label_values("):].rsplit(",", 1)[0]
                    for v2, val in GRAFANA_VARS.items():
                        inner = inner.replace(v2, val)
                    out.append({"where": f"dashboard variable {var['name']}", "expr": inner})
    return out


# ---------------------------------------------------------------------------


def flag_values(args):
    """{'--flag': 'value'} for the --flag=value args."""
    out = {}
    for a in args:
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            if k in out:
                fail(f"flag {k} given twice")
            out[k] = v
    return out


def seconds(duration):
    m = re.fullmatch(r"(\d+)s", duration or "")
    return int(m.group(1)) if m else None


def check_deployment(docs, values_text, serve_flags):
    dep = one(docs, "Deployment")
    if dep is None:
        return None
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    name = dep["metadata"]["name"]
    if not matches(spec["selector"]["matchLabels"], pod_labels):
        fail("Deployment selector does not match its pod labels")

    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        fail("pod securityContext.runAsNonRoot is not true")
    if psc.get("runAsUser") == 0:
        fail("pod runs as root")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail("pod seccompProfile is not RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        fail("pod mounts a service account token; chaperone needs none")
    if pod.get("enableServiceLinks") is not False:
        fail("service links are on: CHAPERONE_*-named variables could reach chaperone's environment")
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        fail("pod shares a host namespace")

    containers = pod["containers"]
    if len(containers) != 1:
        fail(f"expected one container, found {len(containers)}")
    c = containers[0]
    sc = c.get("securityContext", {})
    for field, want in (
        ("readOnlyRootFilesystem", True),
        ("allowPrivilegeEscalation", False),
    ):
        if sc.get(field) is not want:
            fail(f"container securityContext.{field} is not {want}")
    if sc.get("privileged"):
        fail("container is privileged")
    if sc.get("runAsUser") == 0:
        fail("container runs as root")
    caps = sc.get("capabilities", {})
    if "ALL" not in (caps.get("drop") or []):
        fail("container does not drop ALL capabilities")
    if caps.get("add"):
        fail(f"container adds capabilities {caps['add']}")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(kind) or {}):
                fail(f"container has no {r} {kind[:-1]}")

    args = c.get("args") or []
    if c.get("command"):
        fail("container overrides the image's entrypoint")
    if not args or args[0] != "serve":
        fail(f"container args do not start with `serve`: {args[:1]}")
    flags = flag_values(args[1:])
    for a in args[1:]:
        if not a.startswith("--"):
            fail(f"unexpected positional arg {a!r}")
        elif "=" not in a:
            # Boolean flags would be fine; chaperone serve has none today.
            fail(f"flag {a} has no value")
    if serve_flags is not None:
        for f in flags:
            if f not in serve_flags:
                fail(f"`chaperone serve` has no flag {f}")

    # Ports and probes.
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for pname in ("grpc", "http-admin", "grpc-health"):
        if pname not in ports:
            fail(f"container port {pname} missing")
    for flag, pname in (("--grpc-addr", "grpc"), ("--admin-addr", "http-admin"), ("--health-addr", "grpc-health")):
        addr = flags.get(flag, "")
        if not addr.endswith(f":{ports.get(pname)}"):
            fail(f"{flag}={addr} does not bind container port {pname} ({ports.get(pname)})")
    health = ports.get("grpc-health")
    if health == ports.get("grpc"):
        fail("the health port is the gRPC port: the kubelet cannot pass its mTLS")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe)
        if not p:
            fail(f"no {probe}")
            continue
        if p.get("grpc", {}).get("port") != health:
            fail(f"{probe} is not a gRPC probe on the health port {health}: {p}")

    grace = pod.get("terminationGracePeriodSeconds")
    drain = seconds(flags.get("--drain-grace"))
    if drain is None or grace is None or grace <= drain:
        fail(f"terminationGracePeriodSeconds {grace} is not larger than --drain-grace {flags.get('--drain-grace')}")

    # Mounts match the flags, no subPath (its files never update), every
    # volume is used.
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in mounts.values():
        if m.get("subPath") or m.get("subPathExpr"):
            fail(f"volumeMount {m['name']} uses subPath: its files would never be updated")
        if m.get("readOnly") is not True:
            fail(f"volumeMount {m['name']} is writable")
        if m["name"] not in volumes:
            fail(f"volumeMount {m['name']} names no volume")
    used = {m["name"] for m in mounts.values()}
    for v in volumes:
        if v not in used:
            fail(f"volume {v} is mounted nowhere")

    def volume_at(directory):
        m = mounts.get(directory)
        if not m:
            fail(f"nothing is mounted at {directory}")
            return None
        return volumes.get(m["name"])

    def files_of(volume):
        """The file names a volume shows, None when they are whatever the source holds."""
        if "configMap" in volume or "secret" in volume:
            src = volume.get("configMap") or volume.get("secret")
            return {i["path"] for i in src["items"]} if src.get("items") else None
        if "projected" in volume:
            out = set()
            for s in volume["projected"]["sources"]:
                src = s.get("secret") or s.get("configMap")
                if not src or not src.get("items"):
                    return None
                out |= {i["path"] for i in src["items"]}
            return out
        return set()

    def file_in(flag, kinds):
        """The file FLAG names is in a mounted volume of one of KINDS that holds it."""
        path = flags[flag]
        v = volume_at(os.path.dirname(path))
        if v is None:
            return
        if not any(k in v for k in kinds):
            fail(f"{flag} does not point into a {' or '.join(kinds)} volume")
        names = files_of(v)
        if names is not None and os.path.basename(path) not in names:
            fail(f"the volume at {os.path.dirname(path)} does not hold the file {flag} names")

    # Exactly one policy source: the policy file, or a signed bundle (by URL
    # or file) with the keys to check it.
    policy = flags.get("--policy")
    sources = [f for f in ("--policy", "--bundle-url", "--bundle-file") if f in flags]
    if not sources:
        fail("no --policy, --bundle-url or --bundle-file: chaperone would serve its embedded demo policy")
    elif len(sources) > 1:
        fail(f"several policy sources {sources}: chaperone refuses them together")
    elif policy:
        v = volume_at(os.path.dirname(policy))
        if v is not None and "configMap" not in v:
            fail("--policy does not point into a ConfigMap volume")
    else:
        if "--bundle-public-keys" not in flags:
            fail(f"{sources[0]} without --bundle-public-keys: chaperone would refuse to start")
        else:
            file_in("--bundle-public-keys", ("configMap", "secret"))
        if "--bundle-file" in flags:
            file_in("--bundle-file", ("configMap", "secret"))
        if re.match(r"^[^/?#]*//[^/?#]*@", flags.get("--bundle-url", "")):
            fail("--bundle-url carries credentials, readable by anyone who can read the Deployment")
        stray = [d["metadata"]["name"] for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-policy")]
        if stray:
            fail(f"the policy comes in a bundle, and the policy ConfigMap {stray} is rendered too")
        note(f"the policy comes in a signed bundle ({sources[0]})")
    if "--bundle-poll-interval" in flags and "--bundle-url" not in flags:
        fail("--bundle-poll-interval without --bundle-url")
    if "--bundle-public-keys" in flags and policy:
        fail("--bundle-public-keys beside --policy: no bundle to check")

    # The budgets' store: its password and CA come as files from volumes
    # (the password from a Secret), never in the URL or the environment.
    state_flags = [f for f in flags if f.startswith("--state")]
    if state_flags and "--state" not in flags:
        fail(f"{state_flags} without --state")
    if "--state" in flags:
        if "@" in flags["--state"]:
            fail("--state carries a password, readable by anyone who can read the Deployment")
        if "--state-password-file" in flags:
            file_in("--state-password-file", ("secret", "projected"))
            v = volume_at(os.path.dirname(flags["--state-password-file"]))
            for s in (v or {}).get("projected", {}).get("sources", []):
                items = (s.get("configMap") or {}).get("items") or []
                if any(i["path"] == os.path.basename(flags["--state-password-file"]) for i in items):
                    fail("the store's password comes from a ConfigMap, not a Secret")
        if "--state-ca-file" in flags:
            if not flags["--state"].startswith("rediss://"):
                fail("--state-ca-file with a plaintext redis:// store")
            file_in("--state-ca-file", ("secret", "configMap", "projected"))
        note(f"budgets counted in the shared store {flags['--state']}")
    for e in c.get("env") or []:
        if "PASSWORD" in e.get("name", "").upper() or e.get("name", "").startswith("CHAPERONE_STATE"):
            fail(f"environment variable {e['name']}: the store's settings and password are flags and files")
    if "--signing-keys" in flags:
        v = volume_at(flags["--signing-keys"])
        if v is not None and "secret" not in v:
            fail("--signing-keys does not point at a Secret volume")
    else:
        note("no --signing-keys: the pod signs with an ephemeral key (signingKeys.ephemeral, one replica)")
    if "--hash-key-file" in flags:
        v = volume_at(os.path.dirname(flags["--hash-key-file"]))
        if v is not None:
            if "secret" not in v:
                fail("--hash-key-file is not in a Secret volume")
            names = files_of(v)
            if names is not None and os.path.basename(flags["--hash-key-file"]) not in names:
                fail("the hash-key volume does not hold the file --hash-key-file names")
    tls_flags = [f for f in ("--tls-cert", "--tls-key", "--tls-client-ca") if f in flags]
    if tls_flags and ("--tls-cert" not in flags or "--tls-key" not in flags):
        fail("TLS needs both --tls-cert and --tls-key")
    for f in tls_flags:
        v = volume_at(os.path.dirname(flags[f]))
        if v is None:
            continue
        names = files_of(v)
        if names is not None and os.path.basename(flags[f]) not in names:
            fail(f"the volume at {os.path.dirname(flags[f])} does not hold the file {f} names")

    # Every referenced ConfigMap and Secret is rendered, or is an existing
    # object the scenario's values name.
    rendered = {(d["kind"], d["metadata"]["name"]) for d in docs}
    refs = []
    for v in volumes.values():
        if "configMap" in v:
            refs.append(("ConfigMap", v["configMap"]["name"]))
        if "secret" in v:
            refs.append(("Secret", v["secret"]["secretName"]))
        for s in v.get("projected", {}).get("sources", []):
            if "configMap" in s:
                refs.append(("ConfigMap", s["configMap"]["name"]))
            if "secret" in s:
                refs.append(("Secret", s["secret"]["name"]))
    sa = pod.get("serviceAccountName")
    refs.append(("ServiceAccount", sa))
    for kind, ref in refs:
        if (kind, ref) not in rendered and not re.search(rf"\b{re.escape(ref)}\b", values_text):
            fail(f"{kind} {ref} is neither rendered nor named in the scenario's values")

    # The policy ConfigMap holds the file --policy names.
    if policy:
        v = volume_at(os.path.dirname(policy))
        if v is not None and "configMap" in v:
            cm = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == v["configMap"]["name"]]
            if cm and os.path.basename(policy) not in (cm[0].get("data") or {}):
                fail(f"ConfigMap {cm[0]['metadata']['name']} has no key {os.path.basename(policy)}")

    # Replicas: the HPA owns them when it exists.
    hpa = of_kind(docs, "HorizontalPodAutoscaler")
    if hpa:
        if "replicas" in spec:
            fail("Deployment sets replicas while an HPA scales it")
        ref = hpa[0]["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Deployment" or ref.get("name") != name:
            fail(f"HPA targets {ref}, not Deployment {name}")
    return {"name": name, "labels": pod_labels, "ports": ports, "flags": flags}


def check_service(docs, pod):
    svc = one(docs, "Service")
    if svc is None or pod is None:
        return None
    if not matches(svc["spec"]["selector"], pod["labels"]):
        fail("Service selector does not match the pods")
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    for name, proto in (("grpc", "grpc"), ("http-admin", "http")):
        p = ports.get(name)
        if not p:
            fail(f"Service has no port {name}")
            continue
        if p.get("appProtocol") != proto:
            fail(f"Service port {name} has appProtocol {p.get('appProtocol')}, not {proto}")
        if p.get("targetPort") not in (name, pod["ports"].get(name)):
            fail(f"Service port {name} targets {p.get('targetPort')}")
    for p in svc["spec"]["ports"]:
        if p.get("targetPort") in ("grpc-health", pod["ports"].get("grpc-health")):
            fail("the Service exposes the plaintext health port")
    return svc


def check_network_policy(docs, pod):
    for np in of_kind(docs, "NetworkPolicy"):
        spec = np["spec"]
        if not matches(spec["podSelector"].get("matchLabels"), pod["labels"]):
            fail("NetworkPolicy does not select chaperone's pods")
        if "Ingress" not in spec.get("policyTypes", []):
            fail("NetworkPolicy does not restrict ingress")
        for rule in spec.get("ingress") or []:
            if not rule.get("from"):
                fail("a NetworkPolicy ingress rule admits every source")
            ports = rule.get("ports") or []
            if not ports:
                fail("a NetworkPolicy ingress rule admits every port")
            for p in ports:
                if p.get("port") not in ("grpc", "http-admin"):
                    fail(f"NetworkPolicy opens port {p.get('port')}")
            for peer in rule.get("from") or []:
                cidr = peer.get("ipBlock", {}).get("cidr")
                if cidr in ("0.0.0.0/0", "::/0"):
                    fail("NetworkPolicy admits the whole internet")
        if "Egress" in spec.get("policyTypes", []):
            egress = spec.get("egress") or []

            def allows(port):
                return any(rule.get("to") and any(p.get("port") == port for p in rule.get("ports") or [])
                           for rule in egress)

            if not allows(53):
                fail("NetworkPolicy restricts egress and leaves out DNS")
            store = pod["flags"].get("--state")
            if store:
                m = re.search(r":([0-9]+)/?$", store.split("://", 1)[-1])
                port = int(m.group(1)) if m else 6379
                if not allows(port):
                    fail(f"NetworkPolicy restricts egress and no rule reaches the budgets' store on port {port}")


def check_pdb(docs, pod):
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        if not matches(pdb["spec"]["selector"]["matchLabels"], pod["labels"]):
            fail("PodDisruptionBudget does not select chaperone's pods")
        if ("maxUnavailable" in pdb["spec"]) == ("minAvailable" in pdb["spec"]):
            fail("PodDisruptionBudget needs exactly one of maxUnavailable and minAvailable")


def generated_signing_keys(secret):
    """The signing-key Secret the chart generates (kept on upgrades), not one from values."""
    md = secret["metadata"]
    return md["name"].endswith("-signing-keys") and (md.get("annotations") or {}).get(
        "helm.sh/resource-policy"
    ) == "keep"


def check_secrets(docs, allow_private_keys):
    for s in of_kind(docs, "Secret"):
        generated = generated_signing_keys(s)
        for k, v in (s.get("data") or {}).items():
            text = base64.b64decode(v).decode("utf-8", "replace")
            if "PRIVATE KEY" in text and not (allow_private_keys or generated):
                fail(f"Secret {s['metadata']['name']} holds a private key ({k}) the scenario did not supply")
            if k.endswith(".pem") and not any(
                f"-----BEGIN {label}-----" in text for label in ("PRIVATE KEY", "EC PRIVATE KEY")
            ):
                fail(f"Secret {s['metadata']['name']}: {k} is not a PKCS#8 or SEC1 EC key")
        for k in s.get("stringData") or {}:
            fail(f"Secret {s['metadata']['name']} uses stringData ({k})")


def check_signing_keys(docs, pod):
    """More than one replica never signs with per-pod keys; a key set the chart
    renders names its signer; a generated one is P-256 and kept."""
    dep = one(docs, "Deployment")
    hpa = of_kind(docs, "HorizontalPodAutoscaler")
    most = hpa[0]["spec"]["maxReplicas"] if hpa else dep["spec"].get("replicas", 1)
    directory = pod["flags"].get("--signing-keys")
    if directory is None:
        if most > 1:
            fail(f"up to {most} replicas and no --signing-keys: each would sign with its own ephemeral key")
        return
    volume = next(
        (v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "signing-keys"), None
    )
    name = (volume or {}).get("secret", {}).get("secretName")
    secret = next((d for d in of_kind(docs, "Secret") if d["metadata"]["name"] == name), None)
    if secret is None:
        note(f"the signing keys are the existing Secret {name}")
        return
    data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}
    kids = [k[: -len(".pem")] for k in data if k.endswith(".pem")]
    active = data.get("active-kid", "").strip()
    if not kids:
        fail(f"Secret {name} holds no <kid>.pem key")
    elif active and active not in kids:
        fail(f"Secret {name}: active-kid {active!r} names no key in it")
    elif not active and len(kids) > 1:
        fail(f"Secret {name}: several keys and no active-kid")
    if generated_signing_keys(secret):
        if len(kids) != 1 or not re.fullmatch(r"chaperone-\d{8}-\d{6}", kids[0]) or active != kids[0]:
            fail(f"generated Secret {name}: expected one key chaperone-YYYYMMDD-HHMMSS named by active-kid, found {kids}, {active!r}")
        if not all("-----BEGIN EC PRIVATE KEY-----" in data[f"{k}.pem"] for k in kids):
            fail(f"generated Secret {name}: the key is not the SEC1 P-256 key genPrivateKey \"ecdsa\" writes")
        note(f"signing keys generated into {name} (kid {kids[0] if kids else '-'}), kept on upgrades and uninstall")


def check_istio(docs, svc, pod, edge_path):
    fqdn_prefix = f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc." if svc else None
    grpc_port = next((p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc"), None) if svc else None
    for ap in of_kind(docs, "AuthorizationPolicy"):
        spec = ap["spec"]
        if spec.get("action") != "CUSTOM" or not spec.get("provider", {}).get("name"):
            fail("AuthorizationPolicy is not a CUSTOM action with a provider")
        if not spec.get("rules"):
            fail("AuthorizationPolicy has no rules: it would send nothing to chaperone")
    edge = None
    if edge_path:
        with open(edge_path) as f:
            # The harness's ${NAME} placeholders are not YAML in flow mappings.
            edge = yaml.safe_load(re.sub(r"\$\{[A-Z_]+\}", "0", f.read()))
    edge_proc = None
    if edge:
        for lst in edge["static_resources"]["listeners"]:
            for fc in lst["filter_chains"]:
                for flt in fc["filters"]:
                    for hf in flt["typed_config"].get("http_filters", []):
                        if hf["name"] == "envoy.filters.http.ext_proc":
                            edge_proc = hf["typed_config"]
    for ef in of_kind(docs, "EnvoyFilter"):
        hcm_patches = [p for p in ef["spec"]["configPatches"] if p.get("applyTo") == "NETWORK_FILTER"]
        underscores = [
            p["patch"]["value"]["typed_config"].get("common_http_protocol_options", {}).get("headers_with_underscores_action")
            for p in hcm_patches
        ]
        if "REJECT_REQUEST" not in underscores:
            fail("the EnvoyFilter does not make the HTTP connection manager reject header names with underscores")
        for patch in ef["spec"]["configPatches"]:
            if patch.get("applyTo") != "HTTP_FILTER":
                continue
            sub = patch["match"]["listener"]["filterChain"]["filter"].get("subFilter", {}).get("name")
            if patch["patch"]["operation"] != "INSERT_BEFORE" or sub != "envoy.filters.http.router":
                fail("the ext_proc filter is not inserted right before the router")
            value = patch["patch"]["value"]
            tc = value.get("typed_config", {})
            if value.get("name") != "envoy.filters.http.ext_proc":
                fail(f"EnvoyFilter inserts {value.get('name')}, not ext_proc")
            if tc.get("failure_mode_allow") is not False:
                fail("ext_proc failure_mode_allow is not false: it would fail open")
            mode = dict(tc.get("processing_mode", {}))
            for k in ("request_trailer_mode", "response_trailer_mode"):
                # Sidecars carry trailers (HTTP/2): chaperone must see them.
                if mode.pop(k, None) != "SEND":
                    fail(f"ext_proc {k} is not SEND: trailers would cross unscanned")
            if edge_proc:
                edge_mode = {k: v for k, v in edge_proc.get("processing_mode", {}).items() if not k.endswith("_trailer_mode")}
                if mode != edge_mode:
                    fail(f"ext_proc processing_mode differs from envoy/edge.yaml: {mode} vs {edge_mode}")
                for k in ("failure_mode_allow", "metadata_options"):
                    if tc.get(k) != edge_proc.get(k):
                        fail(f"ext_proc {k} differs from envoy/edge.yaml: {tc.get(k)} vs {edge_proc.get(k)}")
            marks = {m.get("key"): m.get("value") for m in tc.get("grpc_service", {}).get("initial_metadata", [])}
            if marks.get("x-chaperone-authorize") == "true":
                # ext_proc only: chaperone decides on the stream, so nothing
                # else may decide, and it needs the peer as ext_authz had it.
                if of_kind(docs, "AuthorizationPolicy"):
                    fail("the ext_proc stream authorizes, and an AuthorizationPolicy decides too: two decisions per request")
                for attribute in ("connection.mtls", "connection.uri_san_peer_certificate"):
                    if attribute not in tc.get("request_attributes", []):
                        fail(f"the ext_proc stream authorizes without the peer's identity (request_attributes: {attribute})")
                if pod and pod["flags"].get("--ext-proc-authorize") != "always":
                    fail("the ext_proc stream authorizes, but chaperone does not run with --ext-proc-authorize=always")
            cluster = tc.get("grpc_service", {}).get("envoy_grpc", {}).get("cluster_name", "")
            if fqdn_prefix and (fqdn_prefix not in cluster or f"|{grpc_port}|" not in cluster):
                fail(f"ext_proc cluster {cluster!r} is not the chaperone Service's gRPC port")
    for dr in of_kind(docs, "DestinationRule"):
        if fqdn_prefix and not dr["spec"]["host"].startswith(fqdn_prefix):
            fail(f"DestinationRule host {dr['spec']['host']} is not the chaperone Service")
        for pls in dr["spec"].get("trafficPolicy", {}).get("portLevelSettings", []):
            if pls.get("tls", {}).get("mode") != "MUTUAL":
                fail("DestinationRule does not use MUTUAL TLS")
        if pod and "--tls-client-ca" not in pod["flags"]:
            note("DestinationRule presents a client certificate, but chaperone does not require one")
    # chaperone must never be asked to authorize the calls made to chaperone.
    in_mesh = bool(of_kind(docs, "PeerAuthentication")) or (
        pod is not None and pod["labels"].get("sidecar.istio.io/inject") == "true"
    )
    chaperone_ns = svc["metadata"]["namespace"] if svc else None
    for obj in of_kind(docs, "AuthorizationPolicy") + of_kind(docs, "EnvoyFilter"):
        ns = obj["metadata"]["namespace"]
        sel = (obj["spec"].get("selector") or {}).get("matchLabels") or (
            obj["spec"].get("workloadSelector") or {}
        ).get("labels")
        covers_chaperone = (ns == chaperone_ns and (not sel or (pod and matches(sel, pod["labels"])))) or (
            ns == "istio-system" and not sel
        )
        if in_mesh and covers_chaperone:
            fail(f"{obj['kind']} {obj['metadata']['name']} covers chaperone's own sidecar: calls to chaperone would be sent to chaperone")
    for pa in of_kind(docs, "PeerAuthentication"):
        if pa["spec"].get("mtls", {}).get("mode") != "STRICT":
            fail("PeerAuthentication is not STRICT")
        if pod and not matches(pa["spec"]["selector"]["matchLabels"], pod["labels"]):
            fail("PeerAuthentication does not select chaperone's pods")


# Envoy Gateway's body modes for Envoy's ext_proc ProcessingMode names.
EG_BODY_MODES = {"BUFFERED": "Buffered", "BUFFERED_PARTIAL": "BufferedPartial", "STREAMED": "Streamed"}


def quantity_bytes(q):
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi)?", str(q))
    if not m:
        return None
    return int(m.group(1)) * {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m.group(2)]


def edge_ext_proc_of(path):
    """The ext_proc filter config and listener buffer of an envoy/*.yaml file."""
    with open(path) as f:
        edge = yaml.safe_load(re.sub(r"\$\{[A-Z_]+\}", "0", f.read()))
    for lst in edge["static_resources"]["listeners"]:
        for fc in lst["filter_chains"]:
            for flt in fc["filters"]:
                for hf in flt["typed_config"].get("http_filters", []):
                    if hf["name"] == "envoy.filters.http.ext_proc":
                        return hf["typed_config"], lst.get("per_connection_buffer_limit_bytes")
    return None, None


def check_envoy_gateway(docs, service, ext_proc_authorize, edge_ext_proc):
    """Envoy Gateway's policies wired to chaperone as envoy/edge-ext-proc.yaml
    wires Envoy, as far as Envoy Gateway can express it (README.md).

    service: (namespace, name, port) of chaperone's gRPC Service port, or None.
    ext_proc_authorize: chaperone's --ext-proc-authorize, or None if unknown.
    Returns the number of Envoy Gateway policies checked."""
    eeps = of_kind(docs, "EnvoyExtensionPolicy")
    sps = of_kind(docs, "SecurityPolicy")
    ctps = of_kind(docs, "ClientTrafficPolicy")
    grants = of_kind(docs, "ReferenceGrant")
    if not (eeps or sps or ctps):
        return 0
    edge_proc, edge_buffer = edge_ext_proc_of(edge_ext_proc) if edge_ext_proc else (None, None)
    sp_ns = {sp["metadata"]["namespace"]: sp for sp in sps}
    authz = bool(sps)

    def targets(obj):
        spec = obj["spec"]
        return (spec.get("targetRefs") or [], spec.get("targetSelectors") or [])

    def backend_ok(what, ns, refs):
        if not refs or len(refs) != 1:
            fail(f"{what}: expected one backendRef to chaperone's Service, found {refs}")
            return
        ref = refs[0]
        if ref.get("kind", "Service") != "Service" or ref.get("group", "") != "":
            fail(f"{what}: backendRef {ref} is not a core Service")
        if service:
            want_ns, want_name, want_port = service
            if (ref.get("namespace", ns), ref.get("name"), ref.get("port")) != (want_ns, want_name, want_port):
                fail(f"{what}: backendRef {ref} is not chaperone's gRPC port {want_ns}/{want_name}:{want_port}")
        if service and ref.get("namespace", ns) != ns:
            kind = what.split()[0]
            granted = any(
                g["metadata"]["namespace"] == ref["namespace"]
                and any(f.get("group") == "gateway.envoyproxy.io" and f.get("kind") == kind and f.get("namespace") == ns
                        for f in g["spec"]["from"])
                and any(t.get("group", "") == "" and t.get("kind") == "Service" and t.get("name") in (None, ref["name"])
                        for t in g["spec"]["to"])
                for g in grants
            )
            if not granted:
                fail(f"{what}: no ReferenceGrant in {ref['namespace']} lets a {kind} of {ns} reach Service {ref['name']}")

    for eep in eeps:
        ns = eep["metadata"]["namespace"]
        what = f"EnvoyExtensionPolicy {ns}/{eep['metadata']['name']}"
        refs, selectors = targets(eep)
        if not (refs or selectors):
            fail(f"{what} has no targetRefs or targetSelectors: it mediates nothing")
        procs = eep["spec"].get("extProc") or []
        if len(procs) != 1:
            fail(f"{what}: expected one extProc entry (chaperone), found {len(procs)}")
            continue
        ep = procs[0]
        backend_ok(what, ns, ep.get("backendRefs"))
        if ep.get("failOpen") is not False:
            fail(f"{what}: failOpen is not false: it would fail open")
        if not ep.get("messageTimeout"):
            fail(f"{what}: no messageTimeout (Envoy Gateway's default, 200ms, is shorter than chaperone's answers may take)")
        mode = ep.get("processingMode") or {}
        if mode.get("allowModeOverride") is not True:
            fail(f"{what}: allowModeOverride is not true (envoy/edge-ext-proc.yaml lets chaperone skip what it need not see)")
        for direction in ("request", "response"):
            body = (mode.get(direction) or {}).get("body")
            want = "BufferedPartial"
            if edge_proc:
                want = EG_BODY_MODES.get(edge_proc["processing_mode"][f"{direction}_body_mode"], "?")
            if body != want:
                fail(f"{what}: {direction} body mode {body} is not {want} (envoy/edge-ext-proc.yaml): bodies must reach chaperone whole")
        attributes = (mode.get("request") or {}).get("attributes") or []
        if not authz:
            if ext_proc_authorize is not None and ext_proc_authorize != "always":
                fail(f"{what}: no SecurityPolicy decides, and chaperone does not run with --ext-proc-authorize=always "
                     "(Envoy Gateway cannot mark its streams with x-chaperone-authorize)")
            want_attrs = (edge_proc or {}).get("request_attributes") or [
                "source.address", "connection.mtls", "connection.uri_san_peer_certificate", "connection.subject_peer_certificate"]
            if attributes != want_attrs:
                fail(f"{what}: chaperone authorizes on the stream, but the request attributes {attributes} are not {want_attrs}")
        else:
            sp = sp_ns.get(ns)
            if sp is None:
                fail(f"{what}: no SecurityPolicy in {ns} decides for it, while others do: its requests would go undecided")
            elif targets(sp) != targets(eep):
                fail(f"{what}: its targets differ from SecurityPolicy {sp['metadata']['name']}'s: some requests decided and not mediated, or the reverse")
            if ext_proc_authorize == "always":
                fail(f"{what}: a SecurityPolicy decides, and chaperone runs with --ext-proc-authorize=always: two decisions per request")
    for sp in sps:
        ns = sp["metadata"]["namespace"]
        what = f"SecurityPolicy {ns}/{sp['metadata']['name']}"
        ea = sp["spec"].get("extAuth")
        if not ea or "grpc" not in ea:
            fail(f"{what}: no extAuth over gRPC (chaperone answers Envoy's gRPC Check)")
            continue
        backend_ok(what, ns, ea["grpc"].get("backendRefs"))
        if ea.get("failOpen") is not False:
            fail(f"{what}: failOpen is not false: it would fail open")
        if "headersToExtAuth" in ea:
            fail(f"{what}: headersToExtAuth limits the headers chaperone sees: a credential it does not see, it cannot remove")
        if ea.get("bodyToExtAuth"):
            fail(f"{what}: bodyToExtAuth buffers the body for the Check; chaperone judges bodies on the ext_proc stream")
        if not any(e["metadata"]["namespace"] == ns and targets(e) == targets(sp) for e in eeps):
            fail(f"{what}: no EnvoyExtensionPolicy with the same targets carries its decisions out")
    for ctp in ctps:
        what = f"ClientTrafficPolicy {ctp['metadata']['namespace']}/{ctp['metadata']['name']}"
        spec = ctp["spec"]
        if any(r.get("kind") != "Gateway" for r in spec.get("targetRefs") or []):
            fail(f"{what}: targets something other than a Gateway")
        limit = quantity_bytes((spec.get("connection") or {}).get("bufferLimit"))
        if limit is None or (edge_buffer and limit < edge_buffer):
            fail(f"{what}: connection.bufferLimit {limit} is below envoy/edge-ext-proc.yaml's {edge_buffer}")
        if (spec.get("headers") or {}).get("withUnderscoresAction") != "RejectRequest":
            fail(f"{what}: header names with an underscore are not refused")
        if (spec.get("path") or {}).get("escapedSlashesAction") != "RejectRequest":
            fail(f"{what}: encoded slashes are not refused")
        if (spec.get("path") or {}).get("disableMergeSlashes"):
            fail(f"{what}: merging slashes is disabled: chaperone matches hops on the path Envoy routes on")
    return len(eeps) + len(sps) + len(ctps)


def cmd_envoy_gateway(files, service, ext_proc_authorize, edge_ext_proc):
    docs = []
    for path in files:
        docs += load(path)
    n = check_envoy_gateway(docs, service, ext_proc_authorize, edge_ext_proc)
    if n == 0:
        fail(f"no Envoy Gateway policy in {' '.join(files)}")
    print(f"{n} Envoy Gateway policies checked, {len(FAILURES)} failures")


def cmd_same_policies(rendered, example):
    """The chart's Envoy Gateway policies and ReferenceGrant are the example's."""
    kinds = ("EnvoyExtensionPolicy", "SecurityPolicy", "ClientTrafficPolicy", "ReferenceGrant")

    def policies(path):
        return {(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]
                for d in load(path) if d.get("kind") in kinds}

    chart, ex = policies(rendered), policies(example)
    for k in sorted(set(chart) | set(ex)):
        if k not in chart:
            fail(f"{k[0]} {k[1]}/{k[2]}: in the example, not rendered by the chart")
        elif k not in ex:
            fail(f"{k[0]} {k[1]}/{k[2]}: rendered by the chart, not in the example")
        elif chart[k] != ex[k]:
            fail(f"{k[0]} {k[1]}/{k[2]}: the chart renders {json.dumps(chart[k], sort_keys=True)}, "
                 f"the example has {json.dumps(ex[k], sort_keys=True)}")
    print(f"{len(ex)} example objects compared with the chart's {len(chart)}")


def metric_names(expr):
    return set(re.findall(r"\b(chaperone_[a-z_]+)", expr))


def check_monitoring(docs, svc, src_dir, pod=None):
    used = set()
    for sm in of_kind(docs, "ServiceMonitor"):
        if svc and not matches(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]):
            fail("ServiceMonitor does not select the chaperone Service")
        ports = [e.get("port") for e in sm["spec"]["endpoints"]]
        if ports != ["http-admin"]:
            fail(f"ServiceMonitor scrapes {ports}, not the admin port")
    for pr in of_kind(docs, "PrometheusRule"):
        rules = [r for g in pr["spec"]["groups"] for r in g["rules"]]
        exprs = [str(r.get("expr", "")) for r in rules]
        for r in rules:
            used |= metric_names(str(r.get("expr", "")))
            if "alert" in r and "severity" not in (r.get("labels") or {}):
                fail(f"alert {r['alert']} has no severity")
        for what, (metric, needle) in REQUIRED_RULE_METRICS.items():
            if not any(metric in e and needle in e for e in exprs):
                fail(f"PrometheusRule has no {what} alert ({metric} {needle})")
        for r in rules:
            if r.get("alert") in CHART_ALERTS and 'namespace="' not in str(r.get("expr")):
                fail(f"alert {r['alert']} does not select the release's series")
        alerts = {r.get("alert") for r in rules}
        store = pod is not None and "--state" in pod["flags"]
        if "ChaperoneStateStoreDown" in alerts and not store:
            fail("ChaperoneStateStoreDown without a shared store (--state): the in-process gauge never drops")
        missing = CHART_ALERTS - alerts - (set() if store else {"ChaperoneStateStoreDown"})
        if missing:
            note(f"alerts turned off: {sorted(missing)}")
    for cm in of_kind(docs, "ConfigMap"):
        for k, v in (cm.get("data") or {}).items():
            if not k.endswith(".json"):
                continue
            try:
                dash = json.loads(v)
            except json.JSONDecodeError as e:
                fail(f"dashboard {k} is not JSON: {e}")
                continue
            if "panels" not in dash:
                continue
            ids = [p["id"] for p in dash["panels"]]
            if len(ids) != len(set(ids)):
                fail("dashboard panel ids are not unique")
            placed = []
            for p in dash["panels"]:
                g = p.get("gridPos") or {}
                if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] + g["w"] > 24:
                    fail(f"dashboard panel {p['id']} has no gridPos within the 24 columns: {g}")
                    continue
                for q, h in placed:
                    if g["x"] < h["x"] + h["w"] and h["x"] < g["x"] + g["w"] and g["y"] < h["y"] + h["h"] and h["y"] < g["y"] + g["h"]:
                        fail(f"dashboard panels {q} and {p['id']} overlap")
                placed.append((p["id"], g))
            exprs = [t.get("expr", "") for p in dash["panels"] for t in p.get("targets", [])]
            for e in exprs:
                used |= metric_names(e)
            for metric in REQUIRED_DASHBOARD_METRICS:
                if not any(metric in e for e in exprs):
                    fail(f"dashboard has no panel on {metric}")
    if src_dir and used:
        source = ""
        for root, _, files in os.walk(src_dir):
            for f in files:
                if f.endswith(".rs"):
                    with open(os.path.join(root, f)) as fh:
                        source += fh.read()
        for m in sorted(used):
            base = re.sub(r"_(bucket|sum|count)$", "", m)[len("chaperone_"):]
            if f'"{base}"' not in source:
                fail(f"metric chaperone_{base} is used by the chart but not registered in src/")


def cmd_invariants(rendered, values_files, serve_flags_file, edge, src, allow_private_keys, edge_ext_proc=None):
    docs = load(rendered)
    values_text = ""
    for vf in values_files:
        with open(vf) as f:
            values_text += f.read()
    serve_flags = None
    if serve_flags_file:
        with open(serve_flags_file) as f:
            serve_flags = set(re.findall(r"(--[a-z][a-z0-9-]+)", f.read()))
    pod = check_deployment(docs, values_text, serve_flags)
    svc = check_service(docs, pod)
    if pod:
        check_network_policy(docs, pod)
        check_pdb(docs, pod)
    check_secrets(docs, allow_private_keys)
    if pod:
        check_signing_keys(docs, pod)
    check_istio(docs, svc, pod, edge)
    if svc:
        grpc_port = next((p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc"), None)
        service = (svc["metadata"]["namespace"], svc["metadata"]["name"], grpc_port)
        authorize = pod["flags"].get("--ext-proc-authorize", "metadata") if pod else None
        check_envoy_gateway(docs, service, authorize, edge_ext_proc)
    check_monitoring(docs, svc, src, pod)
    print(f"{len(docs)} objects checked, {len(FAILURES)} failures, {len(NOTES)} notes")


# ---------------------------------------------------------------------------


def cmd_extract_policy(rendered, outdir):
    docs = load(rendered)
    dep = one(docs, "Deployment")
    if dep is None:
        return
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    flags = flag_values(args[1:])
    policy = flags.get("--policy")
    if not policy:
        if "--bundle-url" in flags or "--bundle-file" in flags:
            print("")  # a signed bundle: the smoke run serves and checks it
            return
        fail("no --policy flag")
        return
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    vol = vols.get(mounts.get(os.path.dirname(policy), ""), {})
    cm_name = vol.get("configMap", {}).get("name")
    cms = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == cm_name]
    if not cms:
        print("")  # an existing ConfigMap: nothing rendered to check
        return
    os.makedirs(outdir, exist_ok=True)
    for k, v in cms[0]["data"].items():
        with open(os.path.join(outdir, k), "w") as f:
            f.write(v)
    print(os.path.join(outdir, os.path.basename(policy)))


def cmd_envoy_bootstrap(rendered, out):
    docs = load(rendered)
    filters, clusters, hcm_merge = [], set(), {}
    for ef in of_kind(docs, "EnvoyFilter"):
        for patch in ef["spec"]["configPatches"]:
            if patch.get("applyTo") == "NETWORK_FILTER":
                hcm_merge.update({k: v for k, v in patch["patch"]["value"]["typed_config"].items() if k != "@type"})
            if patch.get("applyTo") == "HTTP_FILTER":
                value = patch["patch"]["value"]
                filters.append(value)
                cluster = value["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"]
                clusters.add(cluster)
    if not filters:
        return
    # What Istio puts in front for the CUSTOM AuthorizationPolicy, so the
    # forwarded metadata namespace exists in the chain.
    ext_authz = {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "failure_mode_allow": False,
            "grpc_service": {"envoy_grpc": {"cluster_name": sorted(clusters)[0]}, "timeout": "1s"},
        },
    }
    # With the ext_proc stream authorizing, no AuthorizationPolicy: nothing in front.
    authz = [ext_authz] if of_kind(docs, "AuthorizationPolicy") else []
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }
    bootstrap = {
        "static_resources": {
            "listeners": [
                {
                    "name": "gateway",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 18080}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                                        "stat_prefix": "gateway",
                                        **hcm_merge,
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "all",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {"match": {"prefix": "/"}, "direct_response": {"status": 200}}
                                                    ],
                                                }
                                            ]
                                        },
                                        "http_filters": [*authz, *filters, router],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": c,
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": c,
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9191}}}}]}
                        ],
                    },
                }
                for c in sorted(clusters)
            ],
        }
    }
    with open(out, "w") as f:
        yaml.safe_dump(bootstrap, f, sort_keys=False)
    print(out)


def cmd_pod_files(rendered, outdir, *existing):
    """Materialize the pod's volumes from the rendering, as the kubelet would.

    existing: KIND/NAME=DIR for objects the values name but the chart does
    not render (an existing ConfigMap or Secret): their keys are DIR's files."""
    given = {}
    for e in existing:
        ref, directory = e.split("=", 1)
        kind, name = ref.split("/", 1)
        given[(kind, name)] = {f: open(os.path.join(directory, f), "rb").read() for f in os.listdir(directory)}
    docs = load(rendered)
    dep = one(docs, "Deployment")
    if dep is None:
        return
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}

    def data_of(kind, name):
        obj = objects.get((kind, name))
        if obj is None and (kind, name) in given:
            return given[(kind, name)]
        if obj is None:
            raise SystemExit(f"FAIL: {kind} {name} is not rendered; cannot lay out the pod")
        if kind == "Secret":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    def write(directory, data, items):
        os.makedirs(directory, exist_ok=True)
        pairs = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
        for k, path in pairs:
            if k not in data:
                raise SystemExit(f"FAIL: key {k} missing from a volume source")
            with open(os.path.join(directory, path), "wb") as f:
                f.write(data[k])

    vols = {v["name"]: v for v in pod["volumes"]}
    rewrite = {}
    for m in c["volumeMounts"]:
        v = vols[m["name"]]
        target = os.path.join(outdir, m["name"])
        if "configMap" in v:
            write(target, data_of("ConfigMap", v["configMap"]["name"]), v["configMap"].get("items"))
        elif "secret" in v:
            write(target, data_of("Secret", v["secret"]["secretName"]), v["secret"].get("items"))
        elif "projected" in v:
            for s in v["projected"]["sources"]:
                if "secret" in s:
                    write(target, data_of("Secret", s["secret"]["name"]), s["secret"].get("items"))
                elif "configMap" in s:
                    write(target, data_of("ConfigMap", s["configMap"]["name"]), s["configMap"].get("items"))
        rewrite[m["mountPath"]] = target
    for a in c["args"]:
        for path, target in rewrite.items():
            a = a.replace(f"={path}", f"={target}")
        print(a)


def cmd_fresh_keys(first, second):
    """Two renders without a cluster to look the Secret up in (`helm template`)
    each generate their own key: the chart ships none, and only `lookup` of
    the installed Secret keeps one across upgrades."""
    sets = []
    for rendered in (first, second):
        secrets = [d for d in of_kind(load(rendered), "Secret") if generated_signing_keys(d)]
        if len(secrets) != 1:
            fail(f"{rendered}: expected one generated signing-key Secret, found {len(secrets)}")
            return
        sets.append({k: v for k, v in secrets[0]["data"].items() if k.endswith(".pem")})
    if set(sets[0].values()) & set(sets[1].values()):
        fail("two renders generated the same key: the chart carries a fixed key")
    print("two renders, two different generated keys")


def generated_secret(rendered):
    secrets = [d for d in of_kind(load(rendered), "Secret") if generated_signing_keys(d)]
    if len(secrets) != 1:
        raise SystemExit(f"FAIL: {rendered}: expected one generated signing-key Secret, found {len(secrets)}")
    return secrets[0]


def cmd_secret_json(rendered, release, namespace):
    """The generated signing-key Secret as release RELEASE installed it
    (with the ownership annotations helm adds), as JSON, as `kubectl get -o
    json` gives it."""
    secret = generated_secret(rendered)
    secret["metadata"].setdefault("annotations", {}).update(
        {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace}
    )
    secret["metadata"]["resourceVersion"] = "1"
    print(json.dumps(secret, indent=2))


def cmd_kept_keys(stored, rendered):
    """An upgrade render holds the stored Secret's key set, unchanged."""
    with open(stored) as f:
        want = json.load(f)["data"]
    got = generated_secret(rendered)["data"]
    if got != want:
        fail(f"the upgrade rendered {sorted(got)}, not the installed {sorted(want)}")
        return
    print(f"the upgrade keeps the installed key set: {', '.join(sorted(got))}")


def cmd_dockerfile(dockerfile, values_file):
    """The image agrees with the chart: entrypoint, user, ports, base."""
    with open(dockerfile) as f:
        text = f.read()
    with open(values_file) as f:
        values = yaml.safe_load(f)
    stages = re.split(r"(?m)^FROM\s+", text)[1:]
    if len(stages) < 2:
        fail("the Dockerfile is not multi-stage")
        return
    build, final = stages[0], stages[-1]
    base = final.split()[0]
    if not base.startswith("gcr.io/distroless/") or not base.endswith(":nonroot"):
        fail(f"the runtime base {base} is not a distroless nonroot image")
    if "cargo build --release --locked --bin chaperone" not in build:
        fail("the builder does not run `cargo build --release --locked --bin chaperone`")
    user = re.findall(r"(?m)^USER\s+(\S+)", final)
    uid = str(values["podSecurityContext"]["runAsUser"])
    if not user or user[-1].split(":")[0] != uid:
        fail(f"the image's USER {user} is not the chart's runAsUser {uid}")
    entry = re.findall(r"(?m)^ENTRYPOINT\s+(.+)$", final)
    if not entry or json.loads(entry[-1]) != ["/usr/local/bin/chaperone"]:
        fail(f"ENTRYPOINT is {entry}, not [\"/usr/local/bin/chaperone\"] (the chart passes only args)")
    exposed = {int(p) for line in re.findall(r"(?m)^EXPOSE\s+(.+)$", final) for p in line.split()}
    for name, port in values["ports"].items():
        if port not in exposed:
            fail(f"the image does not EXPOSE the {name} port {port}")
    print(f"{dockerfile}: runtime {base}, USER {user[-1] if user else '-'}, EXPOSE {sorted(exposed)}")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, rest = argv[1], argv[2:]
    if cmd == "split":
        cmd_split(*rest)
    elif cmd == "invariants":
        rendered, values, serve_flags, edge, src, allow, edge_ext_proc = rest[0], [], None, None, None, False, None
        i = 1
        while i < len(rest):
            a = rest[i]
            if a == "--values":
                values.append(rest[i + 1]); i += 2
            elif a == "--serve-flags":
                serve_flags = rest[i + 1]; i += 2
            elif a == "--edge":
                edge = rest[i + 1]; i += 2
            elif a == "--src":
                src = rest[i + 1]; i += 2
            elif a == "--edge-ext-proc":
                edge_ext_proc = rest[i + 1]; i += 2
            elif a == "--allow-private-keys":
                allow = True; i += 1
            else:
                print(f"unknown option {a}")
                return 2
        cmd_invariants(rendered, values, serve_flags, edge, src, allow, edge_ext_proc)
    elif cmd == "envoy-gateway":
        files, service, authorize, edge_ext_proc = [], None, None, None
        i = 0
        while i < len(rest):
            a = rest[i]
            if a == "--service":
                m = re.fullmatch(r"([^/]+)/([^:]+):([0-9]+)", rest[i + 1])
                service = (m.group(1), m.group(2), int(m.group(3))); i += 2
            elif a == "--ext-proc-authorize":
                authorize = rest[i + 1]; i += 2
            elif a == "--edge-ext-proc":
                edge_ext_proc = rest[i + 1]; i += 2
            else:
                files.append(a); i += 1
        cmd_envoy_gateway(files, service, authorize, edge_ext_proc)
    elif cmd == "same-policies":
        cmd_same_policies(*rest)
    elif cmd == "extract-policy":
        cmd_extract_policy(*rest)
    elif cmd == "envoy-bootstrap":
        cmd_envoy_bootstrap(*rest)
    elif cmd == "pod-files":
        cmd_pod_files(*rest)
    elif cmd == "dockerfile":
        cmd_dockerfile(*rest)
    elif cmd == "fresh-keys":
        cmd_fresh_keys(*rest)
    elif cmd == "secret-json":
        cmd_secret_json(*rest)
    elif cmd == "kept-keys":
        cmd_kept_keys(*rest)
    else:
        print(__doc__)
        return 2
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
