#!/usr/bin/env bash
# Instructions per request, counted by valgrind (callgrind), for the three
# GET sides of bench/run.sh: plain reverse_proxy, the identity control
# (plain reverse_proxy setting the protected route's identity headers with
# header_up) and the protected route (tokengate_protect, ES256 token, cache
# hit). Unlike req/s or CPU time on a machine whose cores the load
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
caddy_pid=
cleanup() {
	[ -z "$caddy_pid" ] || kill "$caddy_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); EDI=$(free_port); ADMIN=$(free_port); IDCTL=$(free_port)

echo "building caddy and loadgen..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen
caddyfile "store memory" "$GATE" "$UP" "$PLAIN" "$EDI" "$ADMIN" "$IDCTL" >"$work/Caddyfile"

echo "starting caddy under callgrind..." >&2
GOGC=off GODEBUG=asyncpreemptoff=1 XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" \
	valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
	"$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
for _ in $(seq 600); do
	curl -fsS -o /dev/null "http://127.0.0.1:$GATE/admin/health" 2>/dev/null && break
	sleep 0.2
done
G="http://127.0.0.1:$GATE"
token=$(curl -fsS -X POST -H 'X-Okapi-Tenant: diku' \
	-d "{\"payload\":{\"sub\":\"$BENCH_SUB\",\"user_id\":\"$BENCH_USER\"}}" "$G/token/sign" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')

url_of() {
	case $1 in
	plain) echo "http://127.0.0.1:$PLAIN/x" ;;
	control) echo "http://127.0.0.1:$IDCTL/x" ;;
	protected) echo "$G/x" ;;
	esac
}
get() { "$work/loadgen" -mode get -url "$1" -H "Authorization: Bearer $token" -c 1 -n "$2" -d 2m -expect 200 >/dev/null; }

sides=(plain control protected)
for side in "${sides[@]}"; do get "$(url_of "$side")" 300; done # warm-up
: >"$work/counts"
dump=0
for round in 1 2; do
	for i in 0 1 2; do
		side=${sides[$(((i + round - 1) % 3))]}
		echo "round $round: $side, $N requests" >&2
		callgrind_control -z "$caddy_pid" >/dev/null
		get "$(url_of "$side")" "$N"
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
for side, name in (("plain", "plain reverse_proxy"), ("control", "plain + identity headers (control)"), ("protected", "protected GET (ES256, cache hit)")):
    r = rows[side]
    print(f"{name:44s} {per(side):10.0f} {' / '.join(f'{t:.0f}' for t, _ in r):>21s} {per(side) / plain:9.3f}")
key = statistics.mean(k for _, k in rows["protected"])
print(f"protected / control: {per('protected') / per('control'):.3f}; of the protected route, the cache key's SHA-256 "
      f"(generic code under valgrind) {key:.0f} instructions; without it, protected / plain {(per('protected') - key) / plain:.3f}, "
      f"protected / control {(per('protected') - key) / per('control'):.3f}")
PY
