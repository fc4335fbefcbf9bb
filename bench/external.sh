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
#   :$IDCTL   the identity control: plain reverse_proxy setting, with
#             header_up, the identity headers the protected route asserts
#             for this token (read through tokengate_echo, then checked)
# and the script measures the same GET with the same bearer token through
# the three, in BENCH_ROUNDS rounds (default 4) of half a phase each, the
# order rotating every round (a change of the machine's load falls on every
# side alike; each ratio is the median of the rounds'):
#   plain reverse_proxy; the protected route (the token's verdict is
#   cached: a hit); the identity control
# then the cost of a cache miss (a token seen for the first time) with
# `go test -bench BenchmarkVerifyES256 -benchmem ./tokencore/issuer`.
# Target: protected / plain >= 0.95. protected / control is tokengate's own
# share; control / plain is what handing the identity to the upstream costs
# Caddy and the upstream.
#
# Bounded: BENCH_SECONDS per phase (default 10, at most 120), BENCH_CONNS
# connections (default 32). Every target is 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
ROUNDS=${BENCH_ROUNDS:-4}
[ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || { echo "BENCH_SECONDS must be in [1, 120]"; exit 2; }
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] || { echo "BENCH_ROUNDS must be in [1, 20]"; exit 2; }
SECONDS_PER_PHASE=$(((SECS + 1) / 2))

work=$(mktemp -d)
caddy_pid="" iss_pid=""
cleanup() {
	for p in $caddy_pid $iss_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); ADMIN=$(free_port); ISS=$(free_port); IDCTL=$(free_port)

echo "building caddy..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen
go build -o "$work/extissuer" ./bench/extissuer

start_issuer "127.0.0.1:$ISS"
token=$ext_token

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
	handle /echo {
		tokengate_echo
	}
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

# The identity control: the identity headers the protected route hands the
# upstream for this token, read through tokengate_echo, set by header_up on
# a plain reverse_proxy site added with a reload; then both must agree.
identity_of "http://127.0.0.1:$GATE" "$token" >"$work/ids"
[ -s "$work/ids" ] || { echo "the protected route asserted no identity header" >&2; exit 1; }
{
	echo "http://127.0.0.1:$IDCTL {"
	echo "	bind 127.0.0.1"
	echo "	reverse_proxy 127.0.0.1:$UP {"
	while read -r name value; do printf '\t\theader_up %s "%s"\n' "$name" "$value"; done <"$work/ids"
	echo "	}"
	echo "}"
} >>"$work/Caddyfile"
"$work/caddy" reload --config "$work/Caddyfile" --adapter caddyfile --address "127.0.0.1:$ADMIN" >/dev/null 2>&1
[ "$(identity_of "http://127.0.0.1:$GATE" "$token")" = "$(identity_of "http://127.0.0.1:$IDCTL" "$token")" ] ||
	{ echo "the identity control does not set what tokengate_protect asserts" >&2; exit 1; }

tool=loadgen; command -v wrk >/dev/null 2>&1 && tool=wrk
: >"$work/rounds"
sides=(plain external idctl)
for round in $(seq "$ROUNDS"); do
	echo "external round $round of $ROUNDS: plain reverse_proxy / tokengate_protect, external ES256 token (cache hit) / identity control ($tool, ${SECONDS_PER_PHASE}s each, $CONNS conns)" >&2
	for i in 0 1 2; do
		side=${sides[$(((i + round - 1) % 3))]}
		case $side in
		plain) url="http://127.0.0.1:$PLAIN/x" ;;
		external) url="http://127.0.0.1:$GATE/x" ;;
		idctl) url="http://127.0.0.1:$IDCTL/x" ;;
		esac
		echo "$round $side $(measure_rate "$url" "Authorization: Bearer $token")" >>"$work/rounds"
	done
done
echo "external: verification cost, hit vs miss, own vs external (go test -bench)" >&2
bench=$(go test -run '^$' -bench BenchmarkVerifyES256 -benchmem -benchtime 2s ./tokencore/issuer | grep '^BenchmarkVerifyES256')
# The handler alone, tokengate's own ES256 token vs an external one (cache hits).
handler=$(go test -run '^$' -bench 'BenchmarkProtect(External)?CacheHit' -benchmem -benchtime 2s ./caddymodule | grep '^BenchmarkProtect')

python3 - "$work/rounds" "$tool" "$bench" "$handler" "$work/ids" <<'PY'
import statistics, sys
rounds = {}
for line in open(sys.argv[1]):
    r, side, rps, p99 = line.split()
    rounds.setdefault(side, []).append((float(rps), float(p99)))
tool, bench, handler = sys.argv[2], sys.argv[3], sys.argv[4]
ids = [l.split()[0] for l in open(sys.argv[5])]
def ratio(a, b): return statistics.median(y[0] / x[0] for x, y in zip(rounds[a], rounds[b]))
def mean(side, i): return statistics.mean(r[i] for r in rounds[side])
print(f"tool: {tool}; {len(rounds['plain'])} rounds; identity headers asserted: {', '.join(ids)}")
print(f"{'route':48s} {'req/s':>10s} {'p99 ms':>8s} {'ratio to plain':>15s}")
plr = [r[0] for r in rounds["plain"]]
print(f"{'plain reverse_proxy':48s} {mean('plain', 0):10.0f} {mean('plain', 1):8.2f} {1:15.2f}   (the plain rounds spread {(max(plr) - min(plr)) / statistics.median(plr):.1%}: the run's noise)")
print(f"{'tokengate_protect, external ES256 (cache hit)':48s} {mean('external', 0):10.0f} {mean('external', 1):8.2f} {ratio('plain', 'external'):15.3f}   (rounds: {' '.join(f'{y[0]/x[0]:.3f}' for x, y in zip(rounds['plain'], rounds['external']))})")
print(f"{'plain + the same identity headers (control)':48s} {mean('idctl', 0):10.0f} {mean('idctl', 1):8.2f} {ratio('plain', 'idctl'):15.3f}")
print(f"{'  protected / control: tokengate itself':48s} {'':10s} {'':8s} {ratio('idctl', 'external'):15.3f}")
ok = ratio("plain", "external") >= 0.95
print(f"target: {'PASS' if ok else 'FAIL'}  external cache hit >= 0.95x plain: {ratio('plain', 'external'):.3f}")
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
