#!/usr/bin/env bash
# Mixed soak of tokengate on bbolt, on loopback only: sign, refresh,
# protected GETs and revocations at once for SOAK_SECONDS (default 600),
# with Caddy's RSS and the store file's size sampled every SOAK_SAMPLE
# seconds (default 10). Tokens live briefly (access_ttl 30s, refresh_ttl
# 60s) and the sweeper runs every 10 s, so the population of live grants
# is steady after the first minute: the script then prints whether RSS,
# the file's size and the live records in it level off (the largest sample
# of the last third of the run at most 10 % above the largest of the middle
# third: sweeping and page reuse keep the file bounded). The live records
# are the file's size less its free pages, from the gateway's metrics
# (caddy_tokengate_store_disk_bytes - caddy_tokengate_store_free_bytes):
# bbolt grows its file in steps of up to 16 MiB and never shrinks it, so
# the file's size is the high-water mark, and the live figure tells a step
# of the population from pages that are not reused.
#
#	bench/soak.sh                  # 10 minutes
#	SOAK_SECONDS=60 bench/soak.sh  # a 1-minute try
set -euo pipefail
cd "$(dirname "$0")/.."

TOTAL=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE:-10}
[ "$TOTAL" -ge 30 ] && [ "$TOTAL" -le 7200 ] || { echo "SOAK_SECONDS must be in [30, 7200]"; exit 2; }

work=$(mktemp -d)
pids=()
caddy_pid=
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -z "$caddy_pid" ] || kill "$caddy_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
UP=$(free_port); GATE=$(free_port); ADMIN=$(free_port)

echo "building caddy and loadgen..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen

db="$work/state/tokengate.db"
cat >"$work/Caddyfile" <<CF
{
	admin 127.0.0.1:$ADMIN
	tokengate {
		store bolt $db
		default_tenant diku
		access_ttl 30s
		refresh_ttl 60s
		sweep_interval 10s
	}
}
http://127.0.0.1:$UP {
	bind 127.0.0.1
	respond "ok" 200
}
http://127.0.0.1:$GATE {
	bind 127.0.0.1
	tokengate_folio {
		trusted_signers 127.0.0.1/32
	}
	tokengate_protect
	reverse_proxy 127.0.0.1:$UP
}
CF
XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" "$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
wait_ready "http://127.0.0.1:$GATE/admin/health" 400 || { echo "caddy did not start:" >&2; tail -20 "$work/caddy.log" >&2; exit 1; }
G="http://127.0.0.1:$GATE"
T='X-Okapi-Tenant: diku'

end=$((SECONDS + TOTAL))
# loop CMD...: run a load in SAMPLE-second chunks until the end.
loop() {
	while [ $SECONDS -lt $end ]; do
		"$@" >>"$work/load.jsonl" 2>>"$work/load.err" || true
	done
}
chunk="$((SAMPLE < 60 ? SAMPLE : 60))s"
loop "$work/loadgen" -mode post -url "$G/token/sign" -H "$T" -body '{"payload":{"sub":"soak","user_id":"00000000-0000-4000-8000-000000000003"}}' -c 2 -d "$chunk" -expect 201 &
pids+=($!)
loop "$work/loadgen" -mode refresh -url "$G/token/refresh" -sign-url "$G/token/sign" -H "$T" -c 2 -d "$chunk" -expect 201 &
pids+=($!)
loop "$work/loadgen" -mode revoke -url "$G/token/invalidate" -sign-url "$G/token/sign" -H "$T" -c 1 -d "$chunk" &
pids+=($!)
# Protected GETs with a token signed for each chunk (tokens live 30 s).
(
	while [ $SECONDS -lt $end ]; do
		tok=$(curl -fsS -X POST -H "$T" -d '{"payload":{"sub":"soak","user_id":"00000000-0000-4000-8000-000000000004"}}' "$G/token/sign" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])') || continue
		"$work/loadgen" -mode get -url "$G/x" -H "Authorization: Bearer $tok" -c 4 -d "$chunk" -expect 200 >>"$work/load.jsonl" 2>>"$work/load.err" || true
	done
) &
pids+=($!)

echo "soak: ${TOTAL}s on bbolt, sampling every ${SAMPLE}s" >&2
printf '%6s %10s %12s %12s\n' "t (s)" "RSS (MB)" "store (MB)" "live (MB)" >&2
samples="$work/samples"
: >"$samples"
start=$SECONDS
while [ $SECONDS -lt $end ]; do
	sleep "$SAMPLE"
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$caddy_pid/status")
	size=$(stat -c %s "$db")
	live=$(curl -fsS "http://127.0.0.1:$ADMIN/metrics" | awk '$1 == "caddy_tokengate_store_disk_bytes" {d = $2} $1 == "caddy_tokengate_store_free_bytes" {f = $2} END {printf "%d", d - f}')
	echo "$((SECONDS - start)) $rss $size $live" >>"$samples"
	awk '{printf "%6d %10.1f %12.2f %12.2f\n", $1, $2/1024, $3/1e6, $4/1e6}' <<<"$((SECONDS - start)) $rss $size $live" >&2
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

python3 - "$samples" "$work/load.jsonl" <<'PY'
import json, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
loads = {}
for l in open(sys.argv[2]):
    try:
        r = json.loads(l)
    except ValueError:
        continue
    m = loads.setdefault(r["mode"], {"requests": 0, "bad": 0})
    m["requests"] += r["requests"]
    m["bad"] += sum(v for k, v in r["statuses"].items() if not k[0] == "2")
print("requests served: " + ", ".join(f"{k} {v['requests']} ({v['bad']} not 2xx)" for k, v in sorted(loads.items())))
n = len(rows)
if n < 6:
    print("FAIL  too few samples to judge (run at least 60 s)")
    sys.exit(1)
mid, last = rows[n // 3: 2 * n // 3], rows[2 * n // 3:]
ok_all = True
for i, name, unit in ((1, "RSS", 1024), (2, "store file", 1e6), (3, "live records in the file", 1e6)):
    m, l = max(r[i] for r in mid), max(r[i] for r in last)
    ok = l <= 1.10 * m
    ok_all &= ok
    print(f"{'PASS' if ok else 'FAIL'}  {name} levels off: max of the middle third {m/unit:.1f} MB, of the last third {l/unit:.1f} MB ({l/m:.2f}x)")
bad = sum(v["bad"] for v in loads.values())
print(f"{'PASS' if bad == 0 else 'FAIL'}  every request answered as expected ({bad} not)")
sys.exit(0 if ok_all and bad == 0 else 1)
PY
