#!/usr/bin/env bash
# The demo: builds chaperone, installs Envoy, and starts Envoy + chaperone
# (on its embedded demo policy) + a demo upstream and identity provider, all
# on 127.0.0.1. Shows allowed and denied calls with curl, then stays up until
# interrupted (Ctrl-C), so you can send your own.
#
# Ports: Envoy 10000 (admin 9901), chaperone gRPC 9191 and admin 9192, demo
# identity provider 9193, demo upstream 9194.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

bash .ci/tools.sh
echo "building chaperone and the demo upstream..." >&2
cargo build --quiet --bin chaperone --example demo-upstream

wait_ok() { # url, what
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not become ready; logs in $RUN" >&2
  exit 1
}

./target/debug/examples/demo-upstream 9193 9194 2>"$RUN/upstream.log" &
PIDS+=($!)
CHAPERONE_LOG_FORMAT=text ./target/debug/chaperone serve \
  --grpc-addr 127.0.0.1:9191 --admin-addr 127.0.0.1:9192 2>"$RUN/chaperone.log" &
PIDS+=($!)
sed -e 's/${ENVOY_ADMIN_PORT}/9901/' -e 's/${ENVOY_HTTP_PORT}/10000/' \
  -e 's/${CHAPERONE_GRPC_PORT}/9191/' -e 's/${UPSTREAM_PORT}/9194/' \
  -e "s#\${ENVOY_ACCESS_LOG}#$RUN/access.log#" envoy/edge.yaml >"$RUN/envoy.yaml"
"$ROOT/.tools/bin/envoy" -c "$RUN/envoy.yaml" --disable-hot-restart --concurrency 1 --log-level warn 2>"$RUN/envoy.log" &
PIDS+=($!)

wait_ok http://127.0.0.1:9193/.well-known/jwks.json "demo identity provider"
wait_ok http://127.0.0.1:9192/readyz "chaperone"
wait_ok http://127.0.0.1:9901/ready "envoy"

EDGE=http://127.0.0.1:10000
show() { # title, curl args...
  local title=$1; shift
  local shown="$*"
  for name in TAMPERED TOKEN NO_SCOPE PAY; do shown=${shown//${!name}/\$$name}; done
  printf '\n\033[1m== %s\033[0m\n$ curl %s\n' "$title" "$shown"
  curl -sS -i "$@" | sed -e 's/^/  /'
  echo
}
TOKEN=$(curl -fsS 'http://127.0.0.1:9193/token?sub=alice&scope=orders:read')
NO_SCOPE=$(curl -fsS 'http://127.0.0.1:9193/token?sub=mallory&scope=profile')
PAY=$(curl -fsS 'http://127.0.0.1:9193/token?sub=alice&scope=payments:write')
TAMPERED="${TOKEN%??????}AAAAAA" # the last signature bytes replaced

show "an anonymous hop: allowed" -H 'host: orders.demo.local' $EDGE/healthz
show "no token: 401 with a challenge" -H 'host: orders.demo.local' $EDGE/v1/orders/o-42
show "alice's token with orders:read: allowed; the upstream echoes what it received (no Authorization header, a decision id; no server or x-powered-by coming back)" \
  -H 'host: orders.demo.local' -H "authorization: Bearer $TOKEN" $EDGE/v1/orders/o-42
printf '\n\033[1m== the per-hop Transaction Token the upstream received instead of alice'"'"'s token (decoded)\033[0m\n'
curl -sS -o /dev/null -H 'host: orders.demo.local' -H "authorization: Bearer $TOKEN" -H 'x-request-id: demo-request-1' $EDGE/v1/orders/o-42
grep 'txn-token received:' "$RUN/upstream.log" | tail -1 | sed -e 's/.*: //' |
  python3 -c '
import base64, json, sys
token = sys.stdin.read().strip()
head, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in token.split(".")[:2])
print("  header:", json.dumps(head))
print("  claims:", json.dumps(claims, indent=2).replace("\n", "\n  "))
'
show "the response contract: the callee sends a card number, an e-mail and internal fields; the caller gets the allowed fields, masked" \
  -H 'host: orders.demo.local' -H "authorization: Bearer $TOKEN" \
  -H 'x-demo-body: {"order_id":"o-42","status":"paid","card_number":"4111 1111 1111 1111","customer":{"email":"alice@example.com","ssn":"536-22-1234"},"items":[{"sku":"A-1","cost":3.1}],"warehouse_margin":0.31}' \
  $EDGE/v1/orders/o-42
show "a 5xx from the callee: its stack trace never reaches the caller" \
  -H 'host: orders.demo.local' -H "authorization: Bearer $TOKEN" -H 'x-demo-status: 500' \
  -H 'x-demo-body: Traceback (most recent call last): psycopg2.OperationalError at db-7.internal:5432' -H 'x-demo-content-type: text/plain' \
  $EDGE/v1/orders/o-42
show "a token without the scope: 403" -H 'host: orders.demo.local' -H "authorization: Bearer $NO_SCOPE" $EDGE/v1/orders/o-42
show "a tampered token: 401" -H 'host: orders.demo.local' -H "authorization: Bearer $TAMPERED" $EDGE/v1/orders/o-42
show "the right user, but not the checkout workload (no mTLS here): 403" \
  -X POST -H 'host: payments.demo.local' -H "authorization: Bearer $PAY" -d '{"amount":10}' $EDGE/v1/charges
show "a route no hop describes: 403" -H 'host: orders.demo.local' -H "authorization: Bearer $TOKEN" $EDGE/v1/admin/users

printf '\n\033[1m== chaperone decision log: every Check and every body it changed (the precise reasons live only here; never a value)\033[0m\n'
grep -E 'chaperone::decision' "$RUN/chaperone.log" | sed -e 's/^/  /' || true
cat <<EOT

The demo keeps running. Try it yourself:
  curl -i -H 'host: orders.demo.local' -H "authorization: Bearer \$(curl -s 'http://127.0.0.1:9193/token?sub=bob&scope=orders:read')" $EDGE/v1/orders/o-1
  curl -s http://127.0.0.1:9192/metrics | grep chaperone_decisions
Logs: $RUN. Press Ctrl-C to stop everything.
EOT
while true; do sleep 3600; done
