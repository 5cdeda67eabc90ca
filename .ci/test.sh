#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the pinned tools into
# .tools/, checks formatting and lints, runs unit, handler and end-to-end
# tests (real Envoy 1.40.0), and validates the example policies.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/tools.sh
export CHAPERONE_ENVOY="$PWD/.tools/bin/envoy"

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo build --bins --examples
for policy in src/config/default-policy.yaml examples/policies/*.yaml; do
  ./target/debug/chaperone check "$policy"
done
cargo test --all-features
cargo bench --no-run
