#!/usr/bin/env bash
# Load benchmark: HTTP through a real Envoy (wrk -> Envoy -> demo upstream),
# in four configurations:
#   A  Envoy alone                      envoy/bench-baseline.yaml
#   B  Envoy + do-nothing ext servers   envoy/edge.yaml -> examples/noop-ext
#   J  Envoy + chaperone: end-user JWT verification and policy, on a hop that
#      mints no token (`token: { mint: false }`)
#   C  Envoy + chaperone: the same, with a Transaction Token minted per request
# Optional (BENCH_CONFIGS="A B J C D E F G H"):
#   D  as C, with chaperone at its default log level (info: one JSON decision
#      line per request on stderr)
#   E  as B, with Nagle's algorithm left on for the ext server's sockets, on one
#      runtime for all connections (as chaperone served before 9e23bd9; B sets
#      TCP_NODELAY and serves on connection-owning threads, as chaperone does)
#   F  as C, on an anonymous hop (GET /v1/catalog/o-1): no token verification
#   G  as B, POSTing a 4 KB JSON body (POST /v1/orders): the ext_proc body path
#   H  as C, POSTing the same body to a hop with request and response body
#      contracts (allow-list, field action, default scanning both ways)
#   K  Envoy + do-nothing ext server, ext_proc only (envoy/edge-ext-proc.yaml):
#      the baseline of the reduced protocol, one stream per request
#   P  as C (JWT, policy, a token minted, default response scanning), with
#      chaperone as ext_proc only: it authorizes on the stream
#      (envoy/edge-ext-proc.yaml)
#   M  as C, with data-egress budgets on the hop (findings and bytes per
#      caller, each way, limits never reached), counted in process
#   R  as M, counted in a shared Redis (Debian's redis-server from
#      .ci/tools.sh, started here on a free loopback port, no persistence):
#      R/C is the cost of budgets on a shared store (target >= 90%). Each
#      response brings bytes to the budget that alerts, whose round trip it
#      does not wait for, and no findings to the ones that block.
#   S  as R, with the bytes budget blocking: each response waits for its
#      round trip to the store (the same Redis as R)
#
# Every configuration serves the same request (GET /v1/orders/o-1 on host
# orders.demo.local with a demo end-user ES256 token; F only changes the path)
# from the demo upstream.
# The configurations are interleaved over rounds (A B J C A B J C ...) to cancel
# drift, and the table gives medians and the J/B and C/B ratios against the
# targets: throughput >= 90% of B and p99 <= 1.1x B for J (JWT verification +
# policy); throughput >= 85% of B for C (minting too), whose p99 is shown
# against 1.1x as well. See BENCHMARKS.md.
#
# BENCH_TOOL=callgrind counts instead of timing: Envoy and the ext server run
# under Valgrind's callgrind, and the table gives the instructions each
# executes per request over BENCH_REQUESTS (300) sequential requests, after
# 50 to warm up. Instruction counts do not depend on what else the machine is
# doing, so they show differences of a few percent that timing on a shared
# machine cannot (they leave out the kernel, caches and waiting).
#
# Environment: BENCH_DURATION (10s), BENCH_WARMUP (3s), BENCH_CONNECTIONS (16),
# BENCH_THREADS (1), BENCH_ROUNDS (3), BENCH_CONFIGS ("A B J C"), BENCH_WORKER_THREADS,
# BENCH_UPSTREAM (order: a fixed order document; echo: the request echoed back),
# BENCH_SIGNING_ALG (es256, the default; eddsa: tokens signed with Ed25519),
# BENCH_OUT (target/bench-load: logs, raw results, the table),
# BENCH_CHAPERONE (a chaperone binary to measure instead of this tree's),
# BENCH_TOKENS (off; N: every request carries the next of N distinct end-user
# tokens, in rotation, instead of one: the verified-token cache at scale),
# BENCH_BURST (off; N: during each measured run, bursts of N connections that
# open, send the request and disconnect within 20 ms, one burst a second,
# while wrk's steady client must still see no error; the table then gives
# chaperone's peak and final RSS).
# BENCH_TOOL (wrk; callgrind), BENCH_REQUESTS (300, with callgrind).
# Needs: curl, python3, awk; wrk and Envoy come from .ci/tools.sh --bench,
# Valgrind from .ci/tools.sh --valgrind (with BENCH_TOOL=callgrind).
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-3}
read -r -a CONFIGS <<<"${BENCH_CONFIGS:-A B J C}"
OUT=${BENCH_OUT:-$ROOT/target/bench-load}
HOST=orders.demo.local
# req_path CONFIG: the path wrk asks for.
req_path() {
  case $1 in
    F) echo /v1/catalog/o-1 ;;
    G | H) echo /v1/orders ;;
    *) echo /v1/orders/o-1 ;;
  esac
}

for c in "${CONFIGS[@]}"; do
  case $c in A | B | C | D | E | F | G | H | J | K | M | P | R | S) ;; *) echo "unknown configuration $c (A B C D E F G H J K M P R S)" >&2 && exit 2 ;; esac
done

# BENCH_WORKER_THREADS: async worker threads for chaperone and noop-ext alike
# (both read CHAPERONE_WORKER_THREADS; one per CPU when unset).
if [[ -n ${BENCH_WORKER_THREADS:-} ]]; then export CHAPERONE_WORKER_THREADS=$BENCH_WORKER_THREADS; fi

TOOL=${BENCH_TOOL:-wrk}
case $TOOL in
  wrk) bash .ci/tools.sh --bench ;;
  callgrind) bash .ci/tools.sh --valgrind ;;
  *) echo "BENCH_TOOL is wrk or callgrind" >&2 && exit 2 ;;
esac
cargo build --release --bin chaperone --example demo-upstream --example noop-ext
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# BENCH_CHAPERONE: another chaperone binary to measure (an earlier commit's
# release build), against the same baselines.
CHAPERONE=${BENCH_CHAPERONE:-$TARGET_DIR/release/chaperone}
DEMO=$TARGET_DIR/release/examples/demo-upstream
NOOP=$TARGET_DIR/release/examples/noop-ext
ENVOY=$ROOT/.tools/bin/envoy

BENCH_NAME=bench
# shellcheck source=.ci/bench-lib.sh
source .ci/bench-lib.sh
# counted NAME: the command prefix that runs a measured process (Envoy, an
# ext server): nothing when timing, callgrind when counting instructions.
counted() {
  if [[ $TOOL == callgrind ]]; then
    echo valgrind --tool=callgrind "--callgrind-out-file=$OUT/callgrind-$1.out"
  fi
}


# --- the demo upstream and identity provider --------------------------------
IDP_PORT=$(free_port)
UPSTREAM_PORT=$(free_port)
# The upstream answers every request with a typical order document (BENCH_UPSTREAM=order,
# the default) or echoes what it received (BENCH_UPSTREAM=echo: the body then holds the
# minted token, so chaperone's secret scan rewrites every response).
case ${BENCH_UPSTREAM:-order} in
  order) export DEMO_UPSTREAM_BODY='{"order_id":"o-1","status":"shipped","created":"2026-11-02T10:15:00Z","customer":"c-1042","items":[{"sku":"SKU-1001","name":"Espresso cups","qty":2,"price":"19.90"},{"sku":"SKU-2002","name":"Filter papers","qty":1,"price":"5.00"}],"total":"44.80","currency":"EUR","shipping":{"method":"standard","eta":"2026-11-05","city":"Lyon"}}' ;;
  echo) unset DEMO_UPSTREAM_BODY ;;
  *) echo "BENCH_UPSTREAM is order or echo" >&2 && exit 2 ;;
esac
start demo-upstream "$DEMO" "$IDP_PORT" "$UPSTREAM_PORT"
UPSTREAM_PID=$LAST_PID
wait_ok demo-upstream "$LAST_PID" "http://127.0.0.1:$IDP_PORT/.well-known/jwks.json"
token() {
  curl -fsS --max-time 5 "http://127.0.0.1:$IDP_PORT/token?sub=alice&scope=orders:read"
}

# --- the ext_authz/ext_proc servers -------------------------------------------
POLICY=$OUT/bench-policy.yaml
cat >"$POLICY" <<EOF
# Written by .ci/bench-load.sh: the hops the load benchmark requests.
version: "bench-load.1"
trust_domain: demo.local
issuers:
  - name: demo
    issuer: https://idp.demo.local
    audiences: [demo-shop]
    algorithms: [ES256]
    jwks: { url: "http://127.0.0.1:$IDP_PORT/.well-known/jwks.json" }
defaults:
  decision: deny
hops:
  - name: shop-reads-order
    match: { host: $HOST, method: GET, path: "/v1/orders/{order_id}" }
    from:
      - users: { issuer: demo, scopes: ["orders:read"] }
  - name: catalog-public
    match: { host: $HOST, method: GET, path: "/v1/catalog/{item_id}" }
    from:
      - anonymous: true
  - name: shop-creates-order
    match: { host: $HOST, method: POST, path: /v1/orders }
    from:
      - users: { issuer: demo, scopes: ["orders:read"] }
    request:
      body:
        allow: [order_id, customer, shipping, "items[*]", total, currency, note, card_number]
        fields: { card_number: mask_pan }
    response:
      # The order document (BENCH_UPSTREAM=order) loses customer and created; the
      # echo (BENCH_UPSTREAM=echo) keeps its method, path and body.
      body: { allow: [order_id, status, "items[*]", total, currency, shipping, method, path, body] }
EOF
# G and H: a 4 KB order, as JSON, in every request.
BODY_LUA=$OUT/post-4k.lua
python3 - "$BODY_LUA" <<'PY'
import json, sys
items = [{"sku": f"SKU-{i:04d}-A", "qty": i % 5 + 1, "price": 19.99, "name": f"Item number {i} in a long catalogue"} for i in range(40)]
order = {"order_id": "ORD-2026-000123", "customer": {"id": "c-1", "name": "Customer One", "tier": "gold"},
         "shipping": {"street": "1 Long Street", "city": "Springfield", "zip": "12345", "country": "US"},
         "items": items, "total": 123.45, "currency": "USD", "card_number": "4111 1111 1111 1111",
         "note": "leave the parcel at the back door, ring twice", "internal": {"warehouse": "wh-3"}}
body = json.dumps(order)
while len(body) < 4096:
    order["note"] += " please"
    body = json.dumps(order)
with open(sys.argv[1], "w") as f:
    f.write('wrk.method = "POST"\n')
    f.write('wrk.headers["Content-Type"] = "application/json"\n')
    f.write("wrk.body = " + json.dumps(body) + "\n")
PY
"$CHAPERONE" check "$POLICY" >&2
# J: the same hops, each minting no token.
POLICY_J=$OUT/bench-policy-no-token.yaml
sed -e 's/^version: "bench-load.1"/version: "bench-load.1-no-token"/' \
  -e '/^      - \(users\|anonymous\)/a\    token: { mint: false }' "$POLICY" >"$POLICY_J"
"$CHAPERONE" check "$POLICY_J" >&2
[[ $(grep -c 'mint: false' "$POLICY_J") == 3 ]] || die "cannot write $POLICY_J"
# M and R: the order read with budgets both ways, limits never reached in a
# run, so every request is counted and none refused.
POLICY_U=$OUT/bench-policy-budgets.yaml
awk -v host="$HOST" '{ print }
  $0 ~ "path: \"/v1/orders/\\{order_id\\}\"" {
    print "    budgets:"
    print "      - { name: findings-out, direction: response, count: findings, window: 1h, limit: 1000000000, action: block }"
    print "      - { name: bytes-out, direction: response, count: bytes, window: 1h, limit: 1000000000000, action: alert }"
    print "      - { name: findings-in, direction: request, count: findings, window: 1h, limit: 1000000000, action: block }"
  }' "$POLICY" | sed 's/^version: "bench-load.1"/version: "bench-load.1-budgets"/' >"$POLICY_U"
"$CHAPERONE" check "$POLICY_U" >&2
[[ $(grep -c 'name: findings-out' "$POLICY_U") == 1 ]] || die "cannot write $POLICY_U"
# S: the same, the bytes budget blocking.
POLICY_S=$OUT/bench-policy-budgets-block.yaml
sed 's/\(name: bytes-out.*\)action: alert/\1action: block/' "$POLICY_U" >"$POLICY_S"
"$CHAPERONE" check "$POLICY_S" >&2
[[ $(grep -c 'name: bytes-out.*action: block' "$POLICY_S") == 1 ]] || die "cannot write $POLICY_S"

declare -A EXT_PORT EXT_PID
wanted() {
  local c
  for c in "${CONFIGS[@]}"; do
    [[ $c == "$1" ]] && return 0
  done
  return 1
}
# BENCH_SIGNING_ALG: es256 (the default, chaperone's ephemeral key) or eddsa
# (a generated Ed25519 key in a key directory).
SIGNING=()
case ${BENCH_SIGNING_ALG:-es256} in
  es256) ;;
  eddsa)
    mkdir -p "$OUT/keys"
    "$CHAPERONE" keys generate --alg eddsa --out "$OUT/keys/bench-eddsa.pem" >&2
    SIGNING=(--signing-keys "$OUT/keys")
    ;;
  *) echo "BENCH_SIGNING_ALG is es256 or eddsa" >&2 && exit 2 ;;
esac
# start_chaperone CONFIG LEVEL [POLICY [ARGS...]]
start_chaperone() {
  local port admin
  port=$(free_port)
  admin=$(free_port)
  # shellcheck disable=SC2046 # counted's words are the command prefix
  start "chaperone-$1" $(counted "chaperone-$1") "$CHAPERONE" serve --policy "${3:-$POLICY}" \
    --grpc-addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" \
    --log-format json --log-level "$2" "${SIGNING[@]}" "${@:4}"
  wait_ok "chaperone-$1" "$LAST_PID" "http://127.0.0.1:$admin/readyz"
  EXT_PORT[$1]=$port
  EXT_PID[$1]=$LAST_PID
}
# start_noop CONFIG [--nagle]
start_noop() {
  local port
  port=$(free_port)
  # shellcheck disable=SC2046
  start "noop-ext-$1" $(counted "noop-ext-$1") "$NOOP" "$port" "${@:2}"
  wait_port "noop-ext-$1" "$LAST_PID" "$port"
  EXT_PORT[$1]=$port
  EXT_PID[$1]=$LAST_PID
}
if wanted B; then start_noop B; fi
if wanted E; then start_noop E --nagle; fi
# Decision events are logged at info: warn keeps logging out of the figures.
if wanted J; then start_chaperone J warn "$POLICY_J"; fi
if wanted C; then start_chaperone C warn; fi
if wanted D; then start_chaperone D info; fi
if wanted F; then start_chaperone F warn; fi
if wanted G; then start_noop G; fi
if wanted H; then start_chaperone H warn; fi
if wanted K; then start_noop K; fi
if wanted P; then start_chaperone P warn; fi
if wanted M; then start_chaperone M warn "$POLICY_U"; fi
if wanted R || wanted S; then
  bash .ci/tools.sh
  REDIS_PORT=$(free_port)
  start redis "$ROOT/.tools/bin/redis-server" --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir "$OUT"
  # The wrapper execs the server: this is its PID, whose CPU joins chaperone's.
  REDIS_PID=$LAST_PID
  wait_port redis "$REDIS_PID" "$REDIS_PORT"
  if wanted R; then start_chaperone R warn "$POLICY_U" --state "redis://127.0.0.1:$REDIS_PORT"; fi
  if wanted S; then start_chaperone S warn "$POLICY_S" --state "redis://127.0.0.1:$REDIS_PORT"; fi
fi

# --- one Envoy per configuration ---------------------------------------------
declare -A HTTP_PORT ENVOY_PID
start_envoy() {
  local c=$1 template=$ROOT/envoy/edge.yaml admin http cfg
  [[ $c == A ]] && template=$ROOT/envoy/bench-baseline.yaml
  [[ $c == K || $c == P ]] && template=$ROOT/envoy/edge-ext-proc.yaml
  admin=$(free_port)
  http=$(free_port)
  cfg=$OUT/envoy-$c.yaml
  render "$template" "$cfg" "$admin" "$http" "$UPSTREAM_PORT" "${EXT_PORT[$c]:-0}"
  # shellcheck disable=SC2046
  start "envoy-$c" $(counted "envoy-$c") "$ENVOY" -c "$cfg" --disable-hot-restart --concurrency 1 --log-level warn
  wait_ok "envoy-$c" "$LAST_PID" "http://127.0.0.1:$admin/ready"
  HTTP_PORT[$c]=$http
  ENVOY_PID[$c]=$LAST_PID
}
for c in "${CONFIGS[@]}"; do
  start_envoy "$c"
done

# --- correctness before speed ------------------------------------------------
status_of() {
  curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "host: $HOST" "$@"
}
TOKEN=$(token)
for c in "${CONFIGS[@]}"; do
  url="http://127.0.0.1:${HTTP_PORT[$c]}$(req_path "$c")"
  # The first requests through a process under Valgrind outlast Envoy's
  # 1 s ext timeouts while the code is translated (ext_proc's gives 504,
  # ext_authz's 403, its status_on_error): asked again, 60 times at most,
  # until the answer is 200.
  for ((try = 0; try < 60; try++)); do
    if [[ $c == G || $c == H ]]; then
      body=$(sed -n 's/^wrk.body = //p' "$BODY_LUA" | python3 -c 'import json, sys; print(json.loads(sys.stdin.read()))')
      got=$(status_of -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' --data-binary "$body" "$url" || true)
    else
      got=$(status_of -H "authorization: Bearer $TOKEN" "$url" || true)
    fi
    [[ $got != 200 ]] || break
    sleep 0.5
  done
  [[ $got == 200 ]] || die "config $c answers $got, not 200, to the benchmark request"
  if [[ $c == C || $c == D || $c == F || $c == J || $c == M || $c == P || $c == R || $c == S ]]; then
    got=$(status_of "http://127.0.0.1:${HTTP_PORT[$c]}$(req_path C)")
    [[ $got == 401 ]] || die "config $c answers $got, not 401, without a token: not enforcing"
  fi
done
log "every configuration answers 200 to the benchmark request"
if wanted R || wanted S; then
  # Budgets are counted in the store: it holds their buckets' keys.
  keys=$(python3 - "$REDIS_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
print(s.recv(64).decode().strip().lstrip(":"))
PY
  )
  ((keys > 0)) || die "the shared store holds no budget keys"
  log "the shared store holds $keys budget keys"
fi

# What was measured, for the tables.
if REVISION=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD -- src crates Cargo.toml Cargo.lock envoy || REVISION="$REVISION + uncommitted changes"
else
  REVISION="(not a git checkout)"
fi
if [[ -n ${BENCH_CHAPERONE:-} ]]; then
  REVISION="$BENCH_CHAPERONE (BENCH_CHAPERONE; baselines from $REVISION)"
fi
MACHINE="$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"

# --- instruction counts (BENCH_TOOL=callgrind) --------------------------------
if [[ $TOOL == callgrind ]]; then
  REQUESTS=${BENCH_REQUESTS:-300}
  # ext_name CONFIG: the log/callgrind name of the configuration's ext server.
  ext_name() {
    case $1 in
      A) ;;
      B | E | G | K) echo "noop-ext-$1" ;;
      *) echo "chaperone-$1" ;;
    esac
  }
  dumps() { find "$OUT" -name "callgrind-$1.out.*" | wc -l; }
  # instructions NAME PID: dumps the process's counts since they were zeroed
  # and prints the total.
  instructions() {
    local before after
    before=$(dumps "$1")
    callgrind_control -d "$2" >/dev/null 2>&1
    for ((i = 0; i < 100; i++)); do
      after=$(dumps "$1")
      ((after > before)) && break
      sleep 0.1
    done
    # Dumps are numbered .out.1, .out.2, ...: the newest has the highest.
    awk '/^totals:/ { print $2 }' "$(find "$OUT" -name "callgrind-$1.out.*" | sort -V | tail -1)"
  }
  COUNTS=$OUT/instructions.tsv
  printf 'config\trequests\tenvoy\text\n' >"$COUNTS"
  TOKEN=$(token)
  for c in "${CONFIGS[@]}"; do
    url="http://127.0.0.1:${HTTP_PORT[$c]}$(req_path "$c")"
    args=(-sS -H "host: $HOST" -H "authorization: Bearer $TOKEN")
    if [[ $c == G || $c == H ]]; then
      sed -n 's/^wrk.body = //p' "$BODY_LUA" | python3 -c 'import json, sys; sys.stdout.write(json.loads(sys.stdin.read()))' >"$OUT/body.json"
      args+=(-H 'content-type: application/json' --data-binary "@$OUT/body.json")
    fi
    # One connection, the requests one after another: a curl config of URLs.
    urls() { for ((i = 0; i < $1; i++)); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done; }
    urls 50 >"$OUT/urls-warm.txt"
    urls "$REQUESTS" >"$OUT/urls.txt"
    curl "${args[@]}" -K "$OUT/urls-warm.txt"
    ext=$(ext_name "$c")
    callgrind_control -z "${ENVOY_PID[$c]}" >/dev/null 2>&1
    [[ -n $ext ]] && callgrind_control -z "${EXT_PID[$c]}" >/dev/null 2>&1
    log "config $c: $REQUESTS requests under callgrind"
    codes=$(curl "${args[@]}" -w '%{http_code}\n' -K "$OUT/urls.txt" | sort | uniq -c | xargs)
    [[ $codes == "$REQUESTS 200" ]] || die "config $c answered: $codes"
    e=$(instructions "envoy-$c" "${ENVOY_PID[$c]}")
    x=0
    [[ -n $ext ]] && x=$(instructions "$ext" "${EXT_PID[$c]}")
    printf '%s\t%s\t%s\t%s\n' "$c" "$REQUESTS" "$e" "$x" >>"$COUNTS"
  done
  python3 - "$COUNTS" "$REVISION" "$MACHINE" <<'PY' | tee "$OUT/table.md"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"chaperone {sys.argv[2]} on {sys.argv[3]}")
per = {r["config"]: (int(r["envoy"]) / int(r["requests"]), int(r["ext"]) / int(r["requests"])) for r in rows}
print(f"instructions per request under callgrind ({rows[0]['requests']} sequential requests)\n")
print("| config | Envoy | ext server | Envoy vs B | ext server vs B |")
print("|---|---:|---:|---:|---:|")
for c, (e, x) in per.items():
    vs = lambda v, b: f"{v / b:.3f}x" if b else "-"
    eb, xb = per.get("B", (0, 0))
    xs = f"{x:,.0f}" if x else "-"
    print(f"| {c} | {e:,.0f} | {xs} | {vs(e, eb)} | {vs(x, xb) if x else '-'} |")
PY
  exit 0
fi

# --- the runs ------------------------------------------------------------------
# Per run: wrk's figures, the CPU each process used (user + system, all
# threads), and the share of the machine used by anything else (other jobs on
# a shared machine): a run with much of that is noise, and says so.
RESULTS=$OUT/results.tsv
printf 'round\tconfig\trps\tp99_ms\tp50_ms\trequests\tenvoy_cpu_s\text_cpu_s\tupstream_cpu_s\twrk_cpu_s\tother_cpu_pct\n' >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
QUIET=${BENCH_QUIET:-10}
QUIET_MAX=${BENCH_QUIET_MAX:-60}
# ticks PID: CPU ticks the process has used so far (0 without a PID).
ticks() {
  if [[ -z $1 ]]; then
    echo 0
  else
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
  fi
}
# ext_ticks CONFIG: the ext server's ticks, and the store's for R.
ext_ticks() {
  local t
  t=$(ticks "${EXT_PID[$1]:-}")
  if [[ $1 == R || $1 == S ]]; then t=$((t + $(ticks "$REDIS_PID"))); fi
  echo "$t"
}
sec() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'; }
# The machine's busy ticks (steal included) and total ticks, all CPUs.
machine() {
  awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat
}
# CHILD_TICKS: CPU ticks used by this shell's finished children (wrk, once
# it exits). `times` must run in this shell, not in a $(...) subshell.
child_ticks() {
  times >"$OUT/.times"
  CHILD_TICKS=$(awk -v hz="$CLK_TCK" 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { f = $i; sub(/s$/, "", f); split(f, a, "m"); t += a[1] * 60 + a[2] }
    printf "%d", t * hz + 0.5
  }' "$OUT/.times")
}
# Waits (bounded) until other processes use less than QUIET% of the machine.
wait_quiet() {
  local waited=0 b0 t0 b1 t1 pct
  while true; do
    read -r b0 t0 <<<"$(machine)"
    sleep 1
    read -r b1 t1 <<<"$(machine)"
    pct=$(((b1 - b0) * 100 / (t1 - t0 + 1)))
    if ((pct < QUIET)); then
      return 0
    fi
    if ((waited == 0)); then
      log "  machine busy (${pct}% CPU used by other processes); waiting up to ${QUIET_MAX}s"
    fi
    waited=$((waited + 1))
    if ((waited >= QUIET_MAX)); then
      log "  still busy (${pct}%): measuring anyway (see other_cpu_pct)"
      return 0
    fi
  done
}
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n
  }'
}
run_wrk() {
  local c=$1 duration=$2 out=$3
  # "Host" capitalized: wrk adds its own `Host: 127.0.0.1:PORT` unless a header
  # spelled exactly so is given, and Envoy would then see two (chaperone
  # rightly denies that request: no hop matches the merged authority).
  local script=()
  if [[ $c == G || $c == H ]]; then
    script=(-s "$BODY_LUA")
  elif [[ -n $TOKENS ]]; then
    script=(-s "$ROTATE_LUA")
  fi
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "${script[@]}" \
    -H "Host: $HOST" -H "authorization: Bearer $TOKEN" \
    "http://127.0.0.1:${HTTP_PORT[$c]}$(req_path "$c")" >"$out"
  if grep -q 'Non-2xx or 3xx responses' "$out"; then
    die "config $c: $(grep 'Non-2xx' "$out" | xargs) (see $out)"
  fi
  if grep -q 'Socket errors' "$out"; then
    die "config $c: $(grep 'Socket errors' "$out" | xargs) (see $out)"
  fi
}
# BENCH_TOKENS: N distinct tokens from the demo IdP, fetched once, and a wrk
# script that sends them in rotation (each wrk thread from its own offset).
TOKENS=${BENCH_TOKENS:-}
ROTATE_LUA=$OUT/rotate-tokens.lua
if [[ -n $TOKENS ]]; then
  python3 - "$IDP_PORT" "$TOKENS" "$OUT/tokens.txt" <<'PY'
import concurrent.futures, sys, urllib.request
port, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def fetch(i):
    url = f"http://127.0.0.1:{port}/token?sub=user-{i}&scope=orders:read"
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode().strip()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    tokens = list(pool.map(fetch, range(n)))
with open(out, "w") as f:
    f.write("\n".join(tokens) + "\n")
PY
  cat >"$ROTATE_LUA" <<LUA
local tokens = {}
for line in io.lines("$OUT/tokens.txt") do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  return wrk.format(nil, nil, { ["Host"] = "$HOST", ["authorization"] = "Bearer " .. tokens[i] })
end
LUA
  log "$TOKENS distinct tokens in rotation"
fi
# burst CONFIG SECONDS OUT: BENCH_BURST connections at once, every second.
BURST=${BENCH_BURST:-}
burst() {
  python3 - "${HTTP_PORT[$1]}" "$HOST" "$(req_path "$1")" "$TOKEN" "$BURST" "$2" >"$3" <<'PY'
import asyncio, random, sys, time
port, host, path, token, n, seconds = sys.argv[1:7]
request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nauthorization: Bearer {token}\r\n\r\n".encode()
sent = 0
async def one():
    global sent
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", int(port)), 2)
        w.write(request)
        await w.drain()
        sent += 1
        await asyncio.sleep(random.random() * 0.02)
        w.transport.abort()
    except (OSError, asyncio.TimeoutError):
        pass
async def main():
    end, bursts = time.monotonic() + float(seconds), 0
    while time.monotonic() < end:
        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(int(n))))
        bursts += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    print(f"{bursts} bursts, {sent} requests sent and abandoned")
asyncio.run(main())
PY
}
# The store's commands per request over a measured run, and the time
# Redis spent executing each (INFO commandstats: without reading, parsing
# and replying), from its counters before and after the run (two files).
store_stats() {
  python3 - "$REDIS_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
head = b""
while b"\r\n" not in head:
    head += s.recv(65536)
size, _, body = head.partition(b"\r\n")
while len(body) < int(size[1:]):
    body += s.recv(65536)
for line in body.decode().splitlines():
    if line.split(":")[0] in ("cmdstat_eval", "cmdstat_evalsha", "cmdstat_incrby", "cmdstat_pexpire", "cmdstat_mget", "cmdstat_decrby"):
        name, fields = line[len("cmdstat_"):].split(":", 1)
        f = dict(kv.split("=") for kv in fields.split(","))
        print(name, f["calls"], f["usec"])
PY
}
store_calls() {
  awk -v n="$3" 'FNR == NR { c[$1] = $2; u[$1] = $3; next }
    { dc = $2 - c[$1]; du = $3 - u[$1]
      if (dc > 0) out = out sprintf("%s%s %.2f/request, %.1f µs each", out == "" ? "" : "; ", $1, dc / n, du / dc) }
    END { print (out == "" ? "no store commands" : out) }' "$1" "$2"
}
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
for ((round = 1; round <= ROUNDS; round++)); do
  TOKEN=$(token) # fresh each round: demo tokens live 10 minutes
  for c in "${CONFIGS[@]}"; do
    log "round $round/$ROUNDS, config $c: warm-up $WARMUP, then $DURATION at $CONNECTIONS connections"
    wait_quiet
    run_wrk "$c" "$WARMUP" "$OUT/wrk-$c-$round-warmup.txt"
    out=$OUT/wrk-$c-$round.txt
    e0=$(ticks "${ENVOY_PID[$c]}")
    x0=$(ext_ticks "$c")
    s0=$(ticks "${REDIS_PID:-}")
    u0=$(ticks "$UPSTREAM_PID")
    if [[ $c == R || $c == S ]]; then store_stats >"$OUT/store-$c-$round-before"; fi
    child_ticks
    w0=$CHILD_TICKS
    read -r b0 t0 <<<"$(machine)"
    if [[ -n $BURST ]]; then
      burst "$c" "${DURATION%s}" "$OUT/burst-$c-$round.txt" &
      BURST_PID=$!
    fi
    run_wrk "$c" "$DURATION" "$out"
    if [[ -n $BURST ]]; then
      wait "$BURST_PID" || die "config $c: the burst generator failed"
      log "  bursts: $(cat "$OUT/burst-$c-$round.txt"); the steady client saw no error"
      if [[ -n ${EXT_PID[$c]:-} ]]; then
        log "  ext server RSS: peak $(rss_kb "${EXT_PID[$c]}" VmHWM) kB, now $(rss_kb "${EXT_PID[$c]}" VmRSS) kB"
      fi
    fi
    read -r b1 t1 <<<"$(machine)"
    child_ticks
    w1=$CHILD_TICKS
    e1=$(ticks "${ENVOY_PID[$c]}")
    x1=$(ext_ticks "$c")
    s1=$(ticks "${REDIS_PID:-}")
    u1=$(ticks "$UPSTREAM_PID")
    if [[ $c == R || $c == S ]]; then store_stats >"$OUT/store-$c-$round-after"; fi
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    total=$(awk '/requests in/ {print $1}' "$out")
    [[ -n $rps && -n $p99 && -n $p50 && -n $total ]] || die "cannot read wrk output $out"
    ours=$(((e1 - e0) + (x1 - x0) + (u1 - u0) + (w1 - w0)))
    other=$(awk -v b="$((b1 - b0))" -v o="$ours" -v t="$((t1 - t0))" 'BEGIN {
      v = (b - o) * 100 / (t > 0 ? t : 1); printf "%.1f", (v < 0 ? 0 : v) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$rps" "$(to_ms "$p99")" "$(to_ms "$p50")" "$total" \
      "$(sec $((e1 - e0)))" "$(sec $((x1 - x0)))" "$(sec $((u1 - u0)))" "$(sec $((w1 - w0)))" "$other" >>"$RESULTS"
    log "  $rps req/s, p50 $p50, p99 $p99; other processes used $other% of the machine"
    if [[ $c == R || $c == S ]]; then
      log "  redis-server: $(awk -v t="$((s1 - s0))" -v hz="$CLK_TCK" -v n="$total" 'BEGIN { printf "%.0f", t / hz / n * 1e6 }') CPU µs/request (in the ext server's column); $(store_calls "$OUT/store-$c-$round-before" "$OUT/store-$c-$round-after" "$total")"
    fi
  done
done

# --- the table ---------------------------------------------------------------
python3 - "$RESULTS" "$DURATION" "$CONNECTIONS" "$THREADS" "$ROUNDS" "$REVISION" "$MACHINE" <<'EOF' | tee "$OUT/table.md"
import csv, statistics, sys
path, duration, conns, threads, rounds, revision, machine = sys.argv[1:]
rows = list(csv.DictReader(open(path), delimiter="\t"))
names = {
    "A": "Envoy alone (bench-baseline.yaml)",
    "B": "Envoy + noop-ext (edge.yaml)",
    "J": "Envoy + chaperone: JWT + policy, no token minted (edge.yaml, log warn)",
    "C": "Envoy + chaperone: JWT + policy + token minted (edge.yaml, log warn)",
    "D": "Envoy + chaperone (edge.yaml, log info)",
    "E": "Envoy + noop-ext with Nagle on",
    "F": "Envoy + chaperone, anonymous hop (no JWT)",
    "G": "Envoy + noop-ext, POST 4 KB JSON",
    "H": "Envoy + chaperone, POST 4 KB JSON, body contracts",
    "K": "Envoy + noop-ext, ext_proc only (edge-ext-proc.yaml)",
    "P": "Envoy + chaperone as ext_proc only: JWT + policy + token minted (edge-ext-proc.yaml, log warn)",
    "M": "as C, with budgets both ways counted in process",
    "R": "as C, with budgets both ways counted in a shared Redis (ext server CPU includes redis-server)",
    "S": "as R, each response waiting for its round trip (the bytes budget blocks)",
}
order = []
for r in rows:
    if r["config"] not in order:
        order.append(r["config"])
med = {}
cpu_us = {}
print(f"chaperone {revision} on {machine}")
print(f"wrk -t{threads} -c{conns} -d{duration} --latency, {rounds} interleaved rounds; medians (per-round values in brackets)\n")
print("| config | req/s | p50 ms | p99 ms | CPU µs/request: Envoy / ext server / upstream (sum) | wrk µs/req | other load % |")
print("|---|---:|---:|---:|---:|---:|---:|")
for c in order:
    rs = [r for r in rows if r["config"] == c]
    rps = [float(r["rps"]) for r in rs]
    p50 = [float(r["p50_ms"]) for r in rs]
    p99 = [float(r["p99_ms"]) for r in rs]
    med[c] = (statistics.median(rps), statistics.median(p99))
    reqs = sum(float(r["requests"]) for r in rs)
    cpu = [sum(float(r[k]) for r in rs) / reqs * 1e6 for k in ("envoy_cpu_s", "ext_cpu_s", "upstream_cpu_s", "wrk_cpu_s")]
    cpu_us[c] = sum(cpu[:3])
    cpu_cell = " / ".join("-" if (k == 1 and c == "A") else f"{v:.0f}" for k, v in enumerate(cpu[:3]))
    cpu_cell += f" ({cpu_us[c]:.0f})"
    other = [float(r["other_cpu_pct"]) for r in rs]
    fmt = lambda xs, f: ", ".join(f.format(x) for x in xs)
    print(f"| {c}: {names[c]} | {med[c][0]:.0f} [{fmt(rps, '{:.0f}')}] "
          f"| {statistics.median(p50):.2f} [{fmt(p50, '{:.2f}')}] "
          f"| {med[c][1]:.2f} [{fmt(p99, '{:.2f}')}] | {cpu_cell} | {cpu[3]:.0f} "
          f"| {statistics.median(other):.0f} [{fmt(other, '{:.0f}')}] |")
def ratio(num, den, want_tp, want_p99, what):
    if num not in med or den not in med:
        return
    tp = med[num][0] / med[den][0]
    p99 = med[num][1] / med[den][1]
    ok = lambda b: "meets" if b else "MISSES"
    print(f"\n{num}/{den} ({what}): throughput {tp:.1%} (target >= {want_tp:.0%}: {ok(tp >= want_tp)}), "
          f"p99 {p99:.2f}x (target <= {want_p99}x: {ok(p99 <= want_p99)})")
ratio("J", "B", 0.90, 1.1, "JWT verification + policy")
ratio("C", "B", 0.85, 1.1, "with a token minted per request")
for c in ("J", "C"):
    if c in cpu_us and "B" in cpu_us:
        print(f"\n{c} - B: chaperone's pipeline costs {cpu_us[c] - cpu_us['B']:.0f} CPU µs/request more than the noop's "
              f"(Envoy + ext server + upstream: {cpu_us[c]:.0f} vs {cpu_us['B']:.0f})")
ratio("P", "K", 0.85, 1.1, "ext_proc only, token minted, against the noop in the same protocol")
ratio("R", "C", 0.90, 1.1, "budgets on a shared Redis, against the same hop without budgets")
ratio("S", "C", 0.90, 1.1, "budgets on a shared Redis, each response waiting for the store, against the same hop without budgets")
for num, den in (("P", "C"), ("P", "A"), ("K", "B"), ("B", "A"), ("C", "A"), ("C", "J"), ("M", "C"), ("R", "M"), ("S", "R"), ("D", "C"), ("E", "B"), ("F", "B"), ("C", "F"), ("H", "G")):
    if num in med and den in med:
        print(f"\n{num}/{den}: throughput {med[num][0] / med[den][0]:.1%}, p99 {med[num][1] / med[den][1]:.2f}x")
EOF
log "results in $OUT (table.md, results.tsv, wrk-*.txt, logs)"
