#!/usr/bin/env bash
# Instructions per request, counted by valgrind (callgrind), for the three
# GET sides of bench/run.sh: plain reverse_proxy, the identity control
# (plain reverse_proxy setting the protected route's identity headers with
# header_up) and the protected route (tokengate_protect, ES256 token, cache
# hit); and the two of bench/external.sh: an external issuer's ES256 token
# (bench/extissuer, RFC 9068) through tokengate_protect, and its identity
# control. Unlike req/s or CPU time on a machine whose cores the load
# generator shares, an instruction count does not move with the machine's
# load: the same binary and requests give the same count to a fraction of a
# percent, so this is the figure that tells what a route costs when the
# bench's ratios are within their noise.
#
# One Caddy (the bench's Caddyfile, store memory) runs under callgrind with
# the garbage collector off (GOGC=off: a collection would land in one phase
# or another at random; what a route allocates is counted by the Go
# benchmarks, BenchmarkProtect) and asynchronous preemption off (callgrind
# cannot follow Go's preemption signal). After a warm-up, each side gets
# INSTR_REQUESTS (default 3000) keep-alive GETs on one connection from the
# Go load generator, between a zeroing and a dump of callgrind's counters;
# the sides run twice, in rotating order. Caddy counts both its halves:
# the proxy and the upstream (respond) are one process, as in the bench.
#
# Caveat: valgrind's CPU has no SHA extensions, so Go's SHA-256 runs its
# generic code under it; the protected route's one SHA-256 (the
# verification cache key of a ~400-byte token) counts about 20,000
# instructions here against a few thousand on a CPU with SHA-NI. The report
# prints the count of cacheKey separately so it can be discounted.
#
# Needs valgrind (Debian: valgrind). Loopback only; about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${INSTR_REQUESTS:-3000}
[ "$N" -ge 100 ] && [ "$N" -le 100000 ] || { echo "INSTR_REQUESTS must be in [100, 100000]"; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)"; exit 2; }

work=$(mktemp -d)
caddy_pid= iss_pid=
cleanup() {
	for p in $caddy_pid $iss_pid; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); EDI=$(free_port); ADMIN=$(free_port); IDCTL=$(free_port)
EXT=$(free_port); EXTCTL=$(free_port); ISS=$(free_port)

echo "building caddy and loadgen..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen
go build -o "$work/extissuer" ./bench/extissuer
start_issuer "127.0.0.1:$ISS"
# The bench's Caddyfile, with the external issuer trusted and two more
# sites: the external token's protected route and its identity control
# (the headers tokengate_protect asserts for it, read from its claims as
# bench/external.sh checks them through tokengate_echo).
claims=$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.dumps(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))))' "$ext_token")
claim() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$claims" "$1"; }
caddyfile "store memory" "$GATE" "$UP" "$PLAIN" "$EDI" "$ADMIN" "$IDCTL" "trusted_issuer idp {
			discovery $issuer
			audience bench
			typ at+jwt
			allow_http_loopback
		}" >"$work/Caddyfile"
cat >>"$work/Caddyfile" <<CF
http://127.0.0.1:$EXT {
	bind 127.0.0.1
	tokengate_protect {
		issuers idp
	}
	reverse_proxy 127.0.0.1:$UP
}
http://127.0.0.1:$EXTCTL {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$UP {
		header_up X-Tokengate-Subject "$(claim sub)"
		header_up X-Tokengate-Client-Id "$(claim client_id)"
		header_up X-Tokengate-Scope "$(claim scope)"
	}
}
CF

echo "starting caddy under callgrind..." >&2
GOGC=off GODEBUG=asyncpreemptoff=1 XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
	valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
	"$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
wait_ready "http://127.0.0.1:$GATE/admin/health" 2400 || { echo "caddy did not start under callgrind:" >&2; tail -20 "$work/caddy.log" >&2; exit 1; }
G="http://127.0.0.1:$GATE"
token=$(curl -fsS -X POST -H 'X-Okapi-Tenant: diku' \
	-d "{\"payload\":{\"sub\":\"$BENCH_SUB\",\"user_id\":\"$BENCH_USER\"}}" "$G/token/sign" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')

url_of() {
	case $1 in
	plain) echo "http://127.0.0.1:$PLAIN/x" ;;
	control) echo "http://127.0.0.1:$IDCTL/x" ;;
	protected) echo "$G/x" ;;
	external) echo "http://127.0.0.1:$EXT/x" ;;
	extcontrol) echo "http://127.0.0.1:$EXTCTL/x" ;;
	esac
}
token_of() { case $1 in external | extcontrol) echo "$ext_token" ;; *) echo "$token" ;; esac; }
get() { "$work/loadgen" -mode get -url "$(url_of "$1")" -H "Authorization: Bearer $(token_of "$1")" -c 1 -n "$2" -d 2m -expect 200 >/dev/null; }
ids() { identity_of "$(url_of "$1" | sed 's#/x$##')" "$(token_of "$1")"; }
for pair in "protected control" "external extcontrol"; do
	read -r a b <<<"$pair"
	[ "$(ids "$a")" = "$(ids "$b")" ] || { echo "the $b site does not hand the upstream what $a does: $(ids "$a") vs $(ids "$b")" >&2; exit 1; }
done

sides=(plain control protected external extcontrol)
for side in "${sides[@]}"; do get "$side" 300; done # warm-up
: >"$work/counts"
dump=0
for round in 1 2; do
	for i in 0 1 2 3 4; do
		side=${sides[$(((i + round - 1) % 5))]}
		echo "round $round: $side, $N requests" >&2
		callgrind_control -z "$caddy_pid" >/dev/null
		get "$side" "$N"
		callgrind_control -d "$side" "$caddy_pid" >/dev/null
		dump=$((dump + 1))
		f="$work/cg.out.$dump"
		for _ in $(seq 50); do [ -s "$f" ] && break; sleep 0.1; done
		total=$(awk '/^summary:/ {print $2; exit}' "$f")
		# cacheKey with what it calls (the SHA-256): inclusive.
		key=$(callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f" 2>/dev/null |
			awk '/tokencore.cacheKey / && !done {v = $1; gsub(",", "", v); print v; done = 1}')
		echo "$side $total ${key:-0}" >>"$work/counts"
	done
done

python3 - "$work/counts" "$N" <<'PY'
import statistics, sys
n = int(sys.argv[2])
rows = {}
for line in open(sys.argv[1]):
    side, total, key = line.split()
    rows.setdefault(side, []).append((int(total) / n, int(key) / n))
def per(side): return statistics.mean(t for t, _ in rows[side])
plain = per("plain")
print(f"instructions per request (callgrind, GC off, {n} requests per phase, two rounds)")
print(f"{'side':44s} {'instr/req':>10s} {'rounds':>21s} {'to plain':>9s}")
for side, name in (("plain", "plain reverse_proxy"), ("control", "plain + identity headers (control)"), ("protected", "protected GET (ES256, cache hit)"),
                   ("extcontrol", "plain + external token's identity (control)"), ("external", "external ES256 token (cache hit)")):
    r = rows[side]
    print(f"{name:44s} {per(side):10.0f} {' / '.join(f'{t:.0f}' for t, _ in r):>21s} {per(side) / plain:9.3f}")
for side, ctl in (("protected", "control"), ("external", "extcontrol")):
    key = statistics.mean(k for _, k in rows[side])
    print(f"{side} / its control: {per(side) / per(ctl):.3f}; the cache key's SHA-256 (generic code under valgrind) "
          f"{key:.0f} instructions of it; without them, {side} / plain {(per(side) - key) / plain:.3f}, "
          f"{side} / its control {(per(side) - key) / per(ctl):.3f}")
PY
