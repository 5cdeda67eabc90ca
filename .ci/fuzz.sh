#!/usr/bin/env bash
# Fuzzing (fuzz/README.md): installs cargo-fuzz, pinned, into the
# git-ignored .tools/cargo-fuzz (reused when there), builds the targets in
# fuzz/ and runs each one from its seeds (fuzz/seeds/<target>) and what
# earlier runs found (fuzz/corpus/<target>, git-ignored).
#
#   bash .ci/fuzz.sh                 smoke: each target for FUZZ_SECONDS (11 s)
#   bash .ci/fuzz.sh --long N        each target for N executions; prints the
#                                    executions, wall time and exec/s of each
#                                    (FUZZ_MAX_SECONDS caps each target's time)
#   bash .ci/fuzz.sh [--long N] T…   only the targets T…
#   FUZZ_MAX_LEN=N bash .ci/fuzz.sh … the largest input tried, for every target
#   bash .ci/fuzz.sh --fast …        built without comparison tracing
#                                    (--no-trace-compares, in its own target
#                                    dir): about 4 times the executions per
#                                    second, coverage guided by edges alone;
#                                    for long runs seeded by earlier corpora
#
# Only the stable toolchain is needed: the targets are built without a
# sanitizer (`--sanitizer none`; chaperone forbids unsafe code, and the
# sanitizers are nightly-only), with optimizations, debug assertions and
# overflow checks. A crash leaves its input in fuzz/artifacts/<target>/ and
# fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$PWD/.tools/cargo-fuzz"
ALL_TARGETS=(json_rewrite detectors header_query policy_load jwt_header proto_json)
SECONDS_EACH="${FUZZ_SECONDS:-11}"

runs=""
fast=()
targets=()
while (($#)); do
  case "$1" in
    --long) runs="${2:?--long needs a number of executions}"; shift 2 ;;
    --fast) fast=(--no-trace-compares --target-dir "$PWD/fuzz/target/fast"); shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")

# Here-string, not a pipe: `grep -q` closing a pipe early fails under pipefail.
fuzz_version() { "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null || true; }
if ! grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION" <<<"$(fuzz_version)"; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS" >&2
  cargo install --locked --quiet --version "$CARGO_FUZZ_VERSION" --root "$TOOLS" cargo-fuzz
fi
cargo_fuzz() {
  local command=$1
  shift
  "$TOOLS/bin/cargo-fuzz" fuzz "$command" --sanitizer none ${fast[@]+"${fast[@]}"} "$@"
}

echo "== fuzz: build"
start=$(date +%s)
cargo_fuzz build
echo "built in $(($(date +%s) - start)) s"

# Per target: the largest input tried, and a dictionary where there is one.
options() {
  options_of "$1" | sed -E "${FUZZ_MAX_LEN:+s/-max_len=[0-9]+/-max_len=$FUZZ_MAX_LEN/}"
}
options_of() {
  case "$1" in
    policy_load) echo "-max_len=8192 -dict=fuzz/dict/policy.dict" ;;
    json_rewrite) echo "-max_len=4096 -dict=fuzz/dict/json.dict" ;;
    # Each input is scanned as a header value, a query and a path, every
    # text in four decoded forms: longer inputs cost more than they find.
    header_query) echo "-max_len=2048" ;;
    *) echo "-max_len=4096" ;;
  esac
}

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t" fuzz/logs
  if [[ -n "$runs" ]]; then
    budget="-runs=$runs${FUZZ_MAX_SECONDS:+ -max_total_time=$FUZZ_MAX_SECONDS}"
    echo "== fuzz: $t, $runs executions"
  else
    budget="-max_total_time=$SECONDS_EACH"
    echo "== fuzz: $t, ${SECONDS_EACH} s"
  fi
  log="fuzz/logs/$t.log"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2046 # the options are words
  if cargo_fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    $budget $(options "$t") -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    grep -E -A8 "panicked|ERROR: libFuzzer|Test unit written" "$log" | head -40 >&2 || true
  fi
  t1=$(date +%s.%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_sec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1 || true)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  line=$(printf "%-13s %-6s %11s execs %8s s wall %7s exec/s  %s" \
    "$t" "$status" "${execs:-?}" "$wall" "${per_sec:-?}" "$cov")
  echo "$line"
  summary+=("$line")
done

echo "== fuzz: summary (cargo-fuzz $CARGO_FUZZ_VERSION, $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/logs/)" >&2
  exit 1
fi
