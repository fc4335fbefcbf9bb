#!/usr/bin/env bash
# Load test of the FOLIO token API on the Redis store, on loopback only:
#   1. POST /token/sign      (loadgen, 16 workers)
#   2. POST /token/refresh   (loadgen, one chain per worker)
# against the Redis at BENCH_REDIS (default 127.0.0.1:6379), under a fresh
# key prefix that is deleted afterwards, then the same two phases on
# `store memory` in the same run: the ratio says how much of the cost is
# the store's (minting, HTTP and JSON are the same on both). Prints req/s,
# p50 and p99 per route.
#
# Bounded: BENCH_SECONDS per phase (default 10, at most 120).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_PHASE=${BENCH_SECONDS:-10}
REDIS=${BENCH_REDIS:-127.0.0.1:6379}
[ "$SECONDS_PER_PHASE" -le 120 ] || { echo "BENCH_SECONDS must be <= 120"; exit 2; }
case "$REDIS" in 127.0.0.1:*|localhost:*) ;; *) echo "BENCH_REDIS must be on loopback"; exit 2 ;; esac
prefix="tokengate-bench:$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n'):"

work=$(mktemp -d)
cleanup() {
	kill "${caddy_pid:-}" 2>/dev/null || true
	wait "${caddy_pid:-}" 2>/dev/null || true
	redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" --scan --pattern "$prefix*" |
		xargs -r -n 500 redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" del >/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
GATE=$(free_port); ADMIN=$(free_port)

echo "building caddy..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen

# run_store <store line> <name>: starts the gateway on that store, runs
# both phases, stops it; sets ${name}_sign and ${name}_refresh.
run_store() {
	local store=$1 name=$2
	cat > "$work/Caddyfile" <<CF
{
	admin 127.0.0.1:$ADMIN
	tokengate {
		$store
		default_tenant diku
	}
}
http://127.0.0.1:$GATE {
	bind 127.0.0.1
	tokengate_folio {
		trusted_signers 127.0.0.1/32
	}
}
CF
	XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" "$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy-$name.log" 2>&1 &
	caddy_pid=$!
	for _ in $(seq 200); do
		curl -fsS -o /dev/null -X POST -H 'X-Okapi-Tenant: diku' -d '{"payload":{"sub":"warm"}}' \
			"http://127.0.0.1:$GATE/token/sign" 2>/dev/null && break
		sleep 0.05
	done
	echo "POST /token/sign ($name)" >&2
	printf -v "${name}_sign" '%s' "$("$work/loadgen" -mode post -url "http://127.0.0.1:$GATE/token/sign" -H 'X-Okapi-Tenant: diku' \
		-body '{"payload":{"sub":"bench","user_id":"00000000-0000-4000-8000-000000000002"}}' \
		-c 16 -d "${SECONDS_PER_PHASE}s" -expect 201)"
	echo "POST /token/refresh ($name)" >&2
	printf -v "${name}_refresh" '%s' "$("$work/loadgen" -mode refresh -url "http://127.0.0.1:$GATE/token/refresh" \
		-sign-url "http://127.0.0.1:$GATE/token/sign" -H 'X-Okapi-Tenant: diku' \
		-c 16 -d "${SECONDS_PER_PHASE}s" -expect 201)"
	kill "$caddy_pid"
	wait "$caddy_pid" 2>/dev/null || true
	caddy_pid=
}

run_store "store redis $REDIS {
			prefix $prefix
		}" redis
run_store "store memory" memory

python3 - "$redis_sign" "$redis_refresh" "$memory_sign" "$memory_refresh" <<'PY'
import json, sys
rs, rr, ms, mr = (json.loads(a) for a in sys.argv[1:5])
print(f"{'route':34s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'ratio to memory':>16s}")
for name, r, m in (("POST /token/sign (redis)", rs, ms), ("POST /token/refresh (redis)", rr, mr),
                   ("POST /token/sign (memory)", ms, ms), ("POST /token/refresh (memory)", mr, mr)):
    bad = {k: v for k, v in r["statuses"].items() if not k.startswith("2")}
    print(f"{name:34s} {r['rps']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['rps']/m['rps']:16.2f}" + (f"  errors {bad}" if bad else ""))
PY
