# Helpers the benchmark scripts share (sourced, after OUT and ROOT are set):
# a fresh output directory, processes started in the background and stopped
# on exit, free ports, readiness polls, and Envoy configs rendered from
# envoy/ templates.

if [[ -z ${OUT:-} || $OUT == / || $OUT == "$ROOT" ]]; then
  echo "BENCH_OUT must name a directory of its own" >&2
  exit 2
fi
rm -rf "$OUT"
mkdir -p "$OUT"

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s: %s\n' "$(date +%T)" "${BENCH_NAME:-bench}" "$*" >&2; }
die() {
  log "FAILED: $*"
  exit 1
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# start NAME CMD...: runs CMD in the background, output to $OUT/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$OUT/$name.log" 2>&1 &
  PIDS+=("$!")
  LAST_PID=$!
}
# wait_ok NAME PID URL: polls URL until it answers 2xx, for 30s at most.
wait_ok() {
  local name=$1 pid=$2 url=$3 i
  for ((i = 0; i < 300; i++)); do
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "$name exited; see $OUT/$name.log: $(tail -n 5 "$OUT/$name.log")"
    sleep 0.1
  done
  die "$name not ready within 30s; see $OUT/$name.log"
}
# wait_port NAME PID PORT: waits until PORT accepts connections, 30s at most.
wait_port() {
  local name=$1 pid=$2 port=$3 i
  for ((i = 0; i < 300; i++)); do
    (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || die "$name exited; see $OUT/$name.log"
    sleep 0.1
  done
  die "$name not listening within 30s"
}
# render TEMPLATE OUTPUT ADMIN HTTP UPSTREAM EXT: an envoy/ config with its
# placeholders filled (the access log off).
render() {
  sed -e "s/\${ENVOY_ADMIN_PORT}/$3/g" -e "s/\${ENVOY_HTTP_PORT}/$4/g" \
    -e "s/\${UPSTREAM_PORT}/$5/g" -e "s/\${CHAPERONE_GRPC_PORT}/$6/g" \
    -e "s#\${ENVOY_ACCESS_LOG}#/dev/null#g" "$1" >"$2"
  if grep -v '^[[:space:]]*#' "$2" | grep -qF "\${"; then
    die "unfilled placeholder in $2"
  fi
}
