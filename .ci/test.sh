#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the pinned tools into
# .tools/, checks formatting and lints, runs unit, handler and end-to-end
# tests (real Envoy 1.40.0, the edge both ways: ext_authz + ext_proc and
# ext_proc only), validates and tests the example policies,
# checks the Helm chart, and runs each fuzz target for a short smoke.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/tools.sh
export CHAPERONE_ENVOY="$PWD/.tools/bin/envoy"

cargo fmt --check
cargo clippy --all-targets -- -D warnings

echo "== the core knows nothing of Envoy, gRPC or HTTP"
if cargo tree -p chaperone-core -e normal,dev --prefix none |
  grep -E '^(tonic|tonic-[a-z-]+|prost|prost-[a-z-]+|hyper|hyper-[a-z-]+|axum|h2|envoy-types|reqwest) '; then
  echo "chaperone-core depends on the crates above; it must not" >&2
  exit 1
fi
cargo build --bins --examples

echo "== policies"
for policy in crates/chaperone-core/src/config/default-policy.yaml examples/policies/shop.yaml; do
  ./target/debug/chaperone check "$policy"
done
.tools/venv/bin/python .ci/validate-policies.py
./target/debug/chaperone test examples/policies/shop.yaml examples/policies/shop.tests.yaml

if [[ -f .ci/chart.sh ]]; then
  echo "== chart"
  bash .ci/chart.sh
fi

echo "== tests"
cargo test

# The end-to-end suite again, through the ext_proc-only edge
# (envoy/edge-ext-proc.yaml): the same decisions, answers and contracts on
# one stream per request.
echo "== end-to-end tests, ext_proc only"
CHAPERONE_EDGE=ext_proc cargo test --test e2e_authz --test e2e_custom --test e2e_leaks \
  --test e2e_neighbours --test e2e_reload --test e2e_scrub --test e2e_streams --test e2e_grpc --test e2e_tokens --test e2e_rotation --test e2e_trace \
  --test e2e_rebalance --test e2e_budgets

bash .ci/fuzz.sh
