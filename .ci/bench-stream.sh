#!/usr/bin/env bash
# Streamed-body benchmark: a large response (BENCH_STREAM_MB, 100 MB by
# default: records of about 1 KB, each holding a card number) through a real
# Envoy, in three configurations, interleaved over BENCH_ROUNDS (3) rounds:
#   A   Envoy alone (envoy/bench-baseline.yaml), NDJSON
#   S   Envoy + chaperone, ext_proc only (envoy/edge-ext-proc.yaml), on a hop
#       with `stream: true`: NDJSON, every line judged as it flows, its card
#       masked
#   SJ  the same with one JSON array of the same records, judged element by
#       element
#   SO  the same array as the `data` of one JSON object, judged record by
#       record where it stands
# For each run: the bytes and lines the client received, any card number in
# clear (must be none through S), the time to the first byte and to the end,
# and for S, SJ and SO chaperone's peak RSS growth over its idle RSS (VmHWM, reset
# before each run through /proc/PID/clear_refs). The table gives medians and
# each against A. See BENCHMARKS.md.
#
# Environment: BENCH_STREAM_MB (100), BENCH_ROUNDS (3), BENCH_OUT
# (target/bench-stream). Needs curl, python3; Envoy from .ci/tools.sh --bench.
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MB=${BENCH_STREAM_MB:-100}
ROUNDS=${BENCH_ROUNDS:-3}
OUT=${BENCH_OUT:-$ROOT/target/bench-stream}
bash .ci/tools.sh --bench
cargo build --release --bin chaperone --example demo-upstream
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CHAPERONE=$TARGET_DIR/release/chaperone
DEMO=$TARGET_DIR/release/examples/demo-upstream
ENVOY=$ROOT/.tools/bin/envoy

BENCH_NAME=bench-stream
# shellcheck source=.ci/bench-lib.sh
source .ci/bench-lib.sh

IDP_PORT=$(free_port)
UPSTREAM_PORT=$(free_port)
start demo-upstream env DEMO_UPSTREAM_BODY='{}' "$DEMO" "$IDP_PORT" "$UPSTREAM_PORT"
wait_ok demo-upstream "$LAST_PID" "http://127.0.0.1:$IDP_PORT/.well-known/jwks.json"

POLICY=$OUT/stream-policy.yaml
cat >"$POLICY" <<EOF
# Written by .ci/bench-stream.sh.
version: "bench-stream.1"
trust_domain: demo.local
data_classes:
  card_number: { detect: [pan], action: mask_pan }
defaults:
  scan: [card_number]
  request: { headers: { allow: ["x-demo-*"] } }
hops:
  - name: export
    match: { host: export.demo.local, method: GET, path: "/v1/export" }
    from: [ { anonymous: true } ]
    response:
      body: { stream: true, max_bytes: 65536 }
EOF
GRPC_PORT=$(free_port)
ADMIN_PORT=$(free_port)
start chaperone "$CHAPERONE" serve --policy "$POLICY" --grpc-addr "127.0.0.1:$GRPC_PORT" \
  --admin-addr "127.0.0.1:$ADMIN_PORT" --log-format json --log-level warn
CHAPERONE_PID=$LAST_PID
wait_ok chaperone "$CHAPERONE_PID" "http://127.0.0.1:$ADMIN_PORT/readyz"

declare -A HTTP_PORT
for c in A S; do
  template=$ROOT/envoy/edge-ext-proc.yaml
  [[ $c == A ]] && template=$ROOT/envoy/bench-baseline.yaml
  admin=$(free_port)
  HTTP_PORT[$c]=$(free_port)
  render "$template" "$OUT/envoy-$c.yaml" "$admin" "${HTTP_PORT[$c]}" "$UPSTREAM_PORT" "$GRPC_PORT"
  start "envoy-$c" "$ENVOY" -c "$OUT/envoy-$c.yaml" --disable-hot-restart --concurrency 1 --log-level warn
  wait_ok "envoy-$c" "$LAST_PID" "http://127.0.0.1:$admin/ready"
done

# A line of about 1 KB: its number, a card number, and filler.
FILLER=$(python3 -c 'print("x" * 960)')
PIECE="{\"n\":{n},\"card\":\"4111 1111 1111 1111\",\"note\":\"$FILLER\"}"
COUNT=$((MB * 1000000 / ${#PIECE}))
kb() { awk -v f="$1" '$1 == f":" { print $2 }' "/proc/$CHAPERONE_PID/status"; }

# run CONFIG ROUND: one transfer, its figures appended to $OUT/runs.tsv.
run() {
  local c=$1 round=$2 idle=- peak=- port=${HTTP_PORT[${1:0:1}]} kind=ndjson
  [[ $c == SJ ]] && kind=json
  [[ $c == SO ]] && kind=object
  if [[ $c == S* ]]; then
    # Resets VmHWM to the current RSS.
    echo 5 >"/proc/$CHAPERONE_PID/clear_refs" 2>/dev/null || true
    idle=$(kb VmRSS)
  fi
  local figures
  figures=$(
    python3 - "$port" "$COUNT" "$PIECE" "$kind" <<'PY'
import http.client, sys, time
port, count, piece, kind = sys.argv[1:5]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
start = time.monotonic()
conn.request("GET", "/v1/export", headers={
    "host": "export.demo.local", "x-demo-stream": kind,
    "x-demo-count": count, "x-demo-piece": piece})
resp = conn.getresponse()
first = None
total = lines = clear = 0
tail = b""
while True:
    chunk = resp.read1(1 << 16)
    if not chunk:
        break
    if first is None:
        first = time.monotonic() - start
    total += len(chunk)
    data = tail + chunk
    # What lies wholly in the tail was counted with the chunk before.
    lines += data.count(b'{"n":') - tail.count(b'{"n":')
    clear += data.count(b"4111 1111 1111 1111")
    tail = data[-18:]
print(total, lines, clear, f"{(first or 0) * 1000:.0f}", f"{(time.monotonic() - start) * 1000:.0f}")
PY
  )
  [[ $c == S* ]] && peak=$(kb VmHWM)
  printf '%s\t%s\t%s\t%s\t%s\n' "$c" "$round" "$figures" "$idle" "$peak" | tr ' ' '\t' >>"$OUT/runs.tsv"
  log "config $c round $round: $figures (bytes lines clear first_ms total_ms), RSS idle $idle kB peak $peak kB"
}
log "$COUNT lines of ${#PIECE} bytes per run"
for ((r = 1; r <= ROUNDS; r++)); do
  for c in A S SJ SO; do run "$c" "$r"; done
done

python3 - "$OUT/runs.tsv" "$COUNT" <<'PY' | tee "$OUT/result.md"
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
count = int(sys.argv[2])
by = {}
for c, r, total, lines, clear, first, ms, idle, peak in rows:
    by.setdefault(c, []).append((int(total), int(lines), int(clear), int(first), int(ms), idle, peak))
med = lambda xs: statistics.median(xs)
a_ms = med([x[4] for x in by["A"]])
print(f"streamed: {count} records, medians of {len(by['A'])} rounds\n")
print("| config | MB received | records | cards in clear | first byte (ms) | total (ms) | MB/s | vs A | chaperone peak RSS growth, MB: median (max) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in ("A", "S", "SJ", "SO"):
    xs = by[c]
    ms = med([x[4] for x in xs])
    mb = med([x[0] for x in xs]) / 1e6
    growth = "-"
    if c != "A":
        g = [(int(x[6]) - int(x[5])) / 1024 for x in xs]
        growth = f"{med(g):.1f} (max {max(g):.1f})"
    print(f"| {c} | {mb:.1f} | {med([x[1] for x in xs]):.0f} | {max(x[2] for x in xs)} | {med([x[3] for x in xs]):.0f} | {ms:.0f} | {mb / (ms / 1000):.0f} | {a_ms / ms:.2f} | {growth} |")
bad = [x for c in ("S", "SJ", "SO") for x in by[c] if x[2] or x[1] != count]
sys.exit(1 if bad else 0)
PY
