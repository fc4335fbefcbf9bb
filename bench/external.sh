#!/usr/bin/env bash
# Load test of tokengate_protect with an EXTERNAL issuer's token against
# plain Caddy, in one run, on loopback only (issue 11 §3). It can run on its
# own or be called as a phase by bench/run.sh.
#
# bench/extissuer plays the identity provider (OIDC discovery + JWK Set of
# one ES256 key) and prints an RFC 9068 access token. One Caddy serves:
#   :$UP      the upstream (a static 200)
#   :$PLAIN   plain reverse_proxy to the upstream           (the baseline)
#   :$GATE    tokengate_protect { issuers idp } + reverse_proxy
# and the script measures, for the same duration each, the same GET with
# the same bearer token:
#   1. through plain reverse_proxy
#   2. through the protected route (the token's verdict is cached: a hit)
# then the cost of a cache miss (a token seen for the first time) with
# `go test -bench BenchmarkVerifyES256 -benchmem ./tokencore/issuer`.
# Target: phase 2 / phase 1 >= 0.95.
#
# Bounded: BENCH_SECONDS per phase (default 10, at most 120), BENCH_CONNS
# connections (default 32). Every target is 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_PHASE=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
[ "$SECONDS_PER_PHASE" -le 120 ] || { echo "BENCH_SECONDS must be <= 120"; exit 2; }

work=$(mktemp -d)
caddy_pid="" iss_pid=""
cleanup() {
	for p in $caddy_pid $iss_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); ADMIN=$(free_port); ISS=$(free_port)

echo "building caddy..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen
go build -o "$work/extissuer" ./bench/extissuer

"$work/extissuer" -addr "127.0.0.1:$ISS" >"$work/issuer.out" 2>&1 &
iss_pid=$!
for _ in $(seq 100); do [ -s "$work/issuer.out" ] && break; sleep 0.05; done
read -r issuer token <"$work/issuer.out"

cat > "$work/Caddyfile" <<CF
{
	admin 127.0.0.1:$ADMIN
	tokengate {
		store bolt $work/state/tokengate.db
		trusted_issuer idp {
			discovery $issuer
			audience bench
			typ at+jwt
			allow_http_loopback
		}
	}
}
http://127.0.0.1:$UP {
	bind 127.0.0.1
	respond "ok" 200
}
http://127.0.0.1:$PLAIN {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$UP
}
http://127.0.0.1:$GATE {
	bind 127.0.0.1
	tokengate_protect {
		issuers idp
	}
	reverse_proxy 127.0.0.1:$UP
}
CF

XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" "$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
for _ in $(seq 200); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GATE/x" || true)
	[ "$code" = 401 ] && break
	sleep 0.05
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$GATE/x")
[ "$code" = 200 ] || { echo "the external token is refused ($code):" >&2; tail -20 "$work/caddy.log" >&2; exit 1; }

# get URL header -> "rps p99ms"

tool=loadgen; command -v wrk >/dev/null 2>&1 && tool=wrk
echo "external phase 1/3: plain reverse_proxy ($tool, ${SECONDS_PER_PHASE}s, $CONNS conns)" >&2
read -r plain_rps plain_p99 < <(measure_rate "http://127.0.0.1:$PLAIN/x" "Authorization: Bearer $token")
echo "external phase 2/3: tokengate_protect, external ES256 token (cache hit)" >&2
read -r ext_rps ext_p99 < <(measure_rate "http://127.0.0.1:$GATE/x" "Authorization: Bearer $token")
echo "external phase 3/3: verification cost, hit vs miss, own vs external (go test -bench)" >&2
bench=$(go test -run '^$' -bench BenchmarkVerifyES256 -benchmem -benchtime 2s ./tokencore/issuer | grep '^BenchmarkVerifyES256')
# The handler alone, tokengate's own ES256 token vs an external one (cache hits).
handler=$(go test -run '^$' -bench 'BenchmarkProtect(External)?CacheHit' -benchmem -benchtime 2s ./caddymodule | grep '^BenchmarkProtect')

python3 - "$plain_rps" "$plain_p99" "$ext_rps" "$ext_p99" "$tool" "$bench" "$handler" <<'PY'
import sys
plain_rps, plain_p99, ext_rps, ext_p99 = map(float, sys.argv[1:5])
tool, bench, handler = sys.argv[5], sys.argv[6], sys.argv[7]
print(f"tool: {tool}")
print(f"{'route':48s} {'req/s':>10s} {'p99 ms':>8s} {'ratio to plain':>15s}")
print(f"{'plain reverse_proxy':48s} {plain_rps:10.0f} {plain_p99:8.2f} {1:15.2f}")
print(f"{'tokengate_protect, external ES256 (cache hit)':48s} {ext_rps:10.0f} {ext_p99:8.2f} {ext_rps/plain_rps:15.2f}")
print("verification alone (tokencore/issuer):")
for line in bench.splitlines():
    f = line.split()
    print(f"  {f[0].split('/')[1]:12s} {f[2]:>10s} ns/op {f[4]:>6s} B/op {f[6]:>4s} allocs/op")
print("tokengate_protect handler alone, cache hit (caddymodule):")
for line in handler.splitlines():
    f = line.split()
    name = "external token" if "External" in f[0] else "own token"
    print(f"  {name:14s} {f[2]:>10s} ns/op {f[4]:>6s} B/op {f[6]:>4s} allocs/op")
PY
