#!/usr/bin/env bash
# gRPC load benchmark: unary calls (`Charge` of examples/grpc-demo, a framed
# request of about 150 bytes) through a real Envoy over HTTP/2, in three
# configurations, interleaved over BENCH_ROUNDS (3) rounds:
#   GA  Envoy alone
#   GK  Envoy + the do-nothing ext server, ext_proc only
#       (envoy/edge-ext-proc.yaml): the same protocol at no cost
#   GP  Envoy + chaperone, ext_proc only: policy, a token minted, and both
#       messages under the hop's contract (`message` types, default
#       scanning: the request's card number masked)
# Envoy speaks HTTP/2 to the service and sends chaperone the trailers
# (grpc-status); h2load drives BENCH_CONNECTIONS (16) connections for
# BENCH_DURATION (10) seconds after BENCH_WARMUP (3). The table gives req/s,
# p50 and p99 (from h2load's per-request log), medians over the rounds, and
# GP against GK. See BENCHMARKS.md.
#
# Environment: BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_DURATION, BENCH_WARMUP,
# BENCH_OUT (target/bench-grpc). Needs python3, curl; Envoy and h2load come
# from .ci/tools.sh --bench. Everything listens on 127.0.0.1; every process
# started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
OUT=${BENCH_OUT:-$ROOT/target/bench-grpc}
bash .ci/tools.sh --bench
cargo build --release --bin chaperone --example grpc-demo --example noop-ext
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CHAPERONE=$TARGET_DIR/release/chaperone
GRPC_DEMO=$TARGET_DIR/release/examples/grpc-demo
NOOP=$TARGET_DIR/release/examples/noop-ext
ENVOY=$ROOT/.tools/bin/envoy
BENCH_NAME=bench-grpc
# shellcheck source=.ci/bench-lib.sh
source .ci/bench-lib.sh

SERVICE_PORT=$(free_port)
start grpc-demo "$GRPC_DEMO" "$SERVICE_PORT"
wait_port grpc-demo "$LAST_PID" "$SERVICE_PORT"
"$GRPC_DEMO" --descriptors "$OUT/payments.binpb"
"$GRPC_DEMO" --request "$OUT/charge.bin"

cat >"$OUT/grpc-policy.yaml" <<EOF
# Written by .ci/bench-grpc.sh.
version: "bench-grpc.1"
trust_domain: demo.local
descriptors: [payments.binpb]
hops:
  - name: charge
    match: { host: payments.demo.local, method: POST, path: /chaperone.demo.v1.Payments/Charge }
    from: [ { anonymous: true } ]
    token: { mint: true }
    request:
      body: { message: chaperone.demo.v1.ChargeRequest }
    response:
      body: { message: chaperone.demo.v1.ChargeReply }
EOF
declare -A EXT_PORT
EXT_PORT[GP]=$(free_port)
admin=$(free_port)
start chaperone "$CHAPERONE" serve --policy "$OUT/grpc-policy.yaml" --grpc-addr "127.0.0.1:${EXT_PORT[GP]}" \
  --admin-addr "127.0.0.1:$admin" --log-format json --log-level warn
wait_ok chaperone "$LAST_PID" "http://127.0.0.1:$admin/readyz"
EXT_PORT[GK]=$(free_port)
start noop-ext "$NOOP" "${EXT_PORT[GK]}"
wait_port noop-ext "$LAST_PID" "${EXT_PORT[GK]}"
EXT_PORT[GA]=0

# The service speaks gRPC: HTTP/2 to it, and its trailers sent to the ext server.
h2_upstream() {
  python3 - "$1" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
head = "    - name: upstream\n      type: STATIC\n"
assert head in s, p
s = s.replace(head, head + """      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }
""", 1)
s = s.replace("request_trailer_mode: SKIP", "request_trailer_mode: SEND")
s = s.replace("response_trailer_mode: SKIP", "response_trailer_mode: SEND")
open(p, "w").write(s)
PY
}
declare -A HTTP_PORT
for c in GA GK GP; do
  template=$ROOT/envoy/edge-ext-proc.yaml
  [[ $c == GA ]] && template=$ROOT/envoy/bench-baseline.yaml
  admin=$(free_port)
  HTTP_PORT[$c]=$(free_port)
  render "$template" "$OUT/envoy-$c.yaml" "$admin" "${HTTP_PORT[$c]}" "$SERVICE_PORT" "${EXT_PORT[$c]}"
  h2_upstream "$OUT/envoy-$c.yaml"
  start "envoy-$c" "$ENVOY" -c "$OUT/envoy-$c.yaml" --disable-hot-restart --concurrency 1 --log-level warn
  wait_ok "envoy-$c" "$LAST_PID" "http://127.0.0.1:$admin/ready"
done

# load CONFIG ROUND SECONDS: one h2load run; its figures appended to runs.tsv.
load() {
  local c=$1 round=$2 seconds=$3 name="$OUT/h2load-$c-$2"
  h2load -c "$CONNECTIONS" -m 1 -D "$seconds" -d "$OUT/charge.bin" \
    -H "content-type: application/grpc" -H "te: trailers" -H ":authority: payments.demo.local" \
    --log-file "$name.log" "http://127.0.0.1:${HTTP_PORT[$c]}/chaperone.demo.v1.Payments/Charge" >"$name.txt" 2>&1 ||
    die "h2load failed for $c; see $name.txt"
  [[ $round == warmup ]] && return 0
  python3 - "$c" "$round" "$name.log" "$name.txt" "$seconds" >>"$OUT/runs.tsv" <<'PY'
import re, statistics, sys
c, rnd, log, txt, seconds = sys.argv[1:6]
rows = [l.split("\t") for l in open(log).read().splitlines() if l.strip()]
ok = [int(r[2]) for r in rows if r[1] == "200"]
bad = len(rows) - len(ok)
ok.sort()
q = lambda p: ok[min(len(ok) - 1, int(p * len(ok)))] / 1000 if ok else 0
print(f"{c}\t{rnd}\t{len(ok) / float(seconds):.0f}\t{q(0.5):.2f}\t{q(0.99):.2f}\t{bad}")
PY
}
# Every configuration answers the call, with grpc-status 0, before timing.
for c in GA GK GP; do
  status=$(curl -sS --http2-prior-knowledge -o /dev/null -D - -H "content-type: application/grpc" \
    -H "te: trailers" -H "host: payments.demo.local" --data-binary "@$OUT/charge.bin" \
    "http://127.0.0.1:${HTTP_PORT[$c]}/chaperone.demo.v1.Payments/Charge" | tr -d '\r' | awk '/^grpc-status:/ { print $2 }')
  [[ $status == 0 ]] || die "config $c: grpc-status ${status:-missing}"
  load "$c" warmup "$WARMUP"
done
for ((r = 1; r <= ROUNDS; r++)); do
  for c in GA GK GP; do
    load "$c" "$r" "$DURATION"
    log "config $c round $r: $(tail -n 1 "$OUT/runs.tsv" | cut -f3-)"
  done
done
python3 - "$OUT/runs.tsv" <<'PY' | tee "$OUT/result.md"
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
by = {}
for c, r, rps, p50, p99, bad in rows:
    by.setdefault(c, []).append((float(rps), float(p50), float(p99), int(bad)))
med = lambda c, i: statistics.median(x[i] for x in by[c])
print(f"gRPC unary Charge, medians of {len(by['GA'])} rounds\n")
print("| config | req/s | p50 ms | p99 ms | failed | vs GK |")
print("|---|---:|---:|---:|---:|---:|")
for c in ("GA", "GK", "GP"):
    print(f"| {c} | {med(c, 0):.0f} | {med(c, 1):.2f} | {med(c, 2):.2f} | {sum(x[3] for x in by[c])} | {med(c, 0) / med('GK', 0):.2f} |")
print(f"\nGP/GK throughput {100 * med('GP', 0) / med('GK', 0):.1f}%, p99 {med('GP', 2) / med('GK', 2):.2f}x")
PY
