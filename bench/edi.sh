#!/usr/bin/env bash
# Load test of the EDI endpoints, in one run, on loopback only.
#
# Every POST /auth/v1/token/refresh makes one RSA-2048 PKCS#1 v1.5
# signature (the PASTA token), so RSA signing is the physical limit of the
# endpoint. This script measures, in the same run on this machine:
#   1. raw RSA-2048 PKCS#1 v1.5 signatures per second on all cores
#      (go test -bench BenchmarkRSA2048SignParallel -cpu <cores>), and the
#      whole refresh without HTTP (BenchmarkRefreshParallel);
#   2. POST /auth/v1/token/refresh through Caddy (loadgen), with a CPU
#      profile of Caddy taken during the phase (where the time goes);
#   3. POST /auth/v1/key through Caddy (bbolt store; usage written
#      asynchronously);
#   4. GET through plain reverse_proxy                 (the baseline)
#   5. GET through tokengate_edi_protect + reverse_proxy with a valid
#      edi-token and auth-token cookie pair (cache hit)  (wrk, or loadgen)
# and prints the throughputs, the ratio refresh / RSA signatures (target
# >= 0.60) and the ratio of the protected route to plain reverse_proxy.
#
# Bounded: BENCH_SECONDS per phase (default 10, at most 120), BENCH_CONNS
# connections for the GET phases (default 32), BENCH_POST_CONNS for the
# token endpoints (default 4: enough to keep both cores signing without the
# load generator taking their time). Every target is 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_PHASE=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
POST_CONNS=${BENCH_POST_CONNS:-4}
[ "$SECONDS_PER_PHASE" -le 120 ] || { echo "BENCH_SECONDS must be <= 120"; exit 2; }
CORES=$(nproc)

work=$(mktemp -d)
caddy_pid=
trap '[ -n "$caddy_pid" ] && kill "$caddy_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

. bench/lib.sh
UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); ADMIN=$(free_port)

echo "building caddy and loadgen..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen

# The raw signature rate is measured right before and right after the
# refresh phase and averaged, so that load from elsewhere on the machine
# during the run shows as a difference between the two, not as a skewed
# ratio.
go test -c -o "$work/edi.test" ./tokencore/edi/
rsa_bench() {
	(cd tokencore/edi && "$work/edi.test" -test.run '^$' -test.bench "$1" -test.cpu "$CORES" -test.benchtime "${SECONDS_PER_PHASE}s") |
		awk -v name="$1" '$1 ~ name {print $3}'
}
echo "phase 1/5: raw RSA-2048 signatures and in-process refresh on $CORES cores (go test -bench)" >&2
rsa_ns1=$(rsa_bench 'BenchmarkRSA2048SignParallel')
inproc_ns=$(rsa_bench 'BenchmarkRefreshParallel')

# The bench key: SHA-256 of its secret only.
SECRET=benchBenchBenchBenchBench01
HASH=$(printf '%s' "$SECRET" | sha256sum | cut -d' ' -f1)
cat > "$work/Caddyfile" <<CF
{
	admin 127.0.0.1:$ADMIN
	tokengate {
		store bolt $work/state/tokengate.db
		edi {
			subject EDI-581f8a60cb1482332e92fb44c67078293df21d6c {
				profile
				cn "Alice Demo"
				idp_name ldap
				idp_uid uid=alice,o=EDI,dc=edirepository,dc=org
			}
			api_key bench {
				owner EDI-581f8a60cb1482332e92fb44c67078293df21d6c
				secret_sha256 $HASH
			}
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
	tokengate_edi
	tokengate_edi_protect
	reverse_proxy 127.0.0.1:$UP
}
CF

XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" "$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
for _ in $(seq 400); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GATE/auth/v1/key" || true)
	[ "$code" = 405 ] && break
	sleep 0.05
done

pair=$(curl -fsS -X POST -d "{\"key\":\"$SECRET\"}" "http://127.0.0.1:$GATE/auth/v1/key")
PASTA=$(printf '%s' "$pair" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pasta-token"])')
EDI=$(printf '%s' "$pair" | python3 -c 'import json,sys; print(json.load(sys.stdin)["edi-token"])')
REFRESH_BODY=$(python3 -c 'import json,sys; print(json.dumps({"pasta-token": sys.argv[1], "edi-token": sys.argv[2]}))' "$PASTA" "$EDI")
COOKIE="Cookie: auth-token=$PASTA; edi-token=$EDI"
curl -fsS -o /dev/null -H "$COOKIE" "http://127.0.0.1:$GATE/package/x"

echo "phase 2/5: POST /auth/v1/token/refresh ($POST_CONNS conns, CPU profile of Caddy)" >&2
profile_secs=$(( SECONDS_PER_PHASE > 2 ? SECONDS_PER_PHASE - 2 : 1 ))
( sleep 1; curl -fsS -o "$work/refresh.pprof" "http://127.0.0.1:$ADMIN/debug/pprof/profile?seconds=$profile_secs" ) &
prof_pid=$!
refresh_json=$("$work/loadgen" -mode post -url "http://127.0.0.1:$GATE/auth/v1/token/refresh" \
	-body "$REFRESH_BODY" -c "$POST_CONNS" -d "${SECONDS_PER_PHASE}s" -expect 200)
wait "$prof_pid" || true
echo "phase 2b: raw RSA-2048 signatures again" >&2
rsa_ns2=$(rsa_bench 'BenchmarkRSA2048SignParallel')

echo "phase 3/5: POST /auth/v1/key ($POST_CONNS conns)" >&2
key_json=$("$work/loadgen" -mode post -url "http://127.0.0.1:$GATE/auth/v1/key" \
	-body "{\"key\":\"$SECRET\"}" -c "$POST_CONNS" -d "${SECONDS_PER_PHASE}s" -expect 200)

if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	(apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1)) || true
fi
# get URL [header] -> "rps p99ms"; the same header on both GET phases so
# they send the same bytes.
tool=loadgen; command -v wrk >/dev/null 2>&1 && tool=wrk
echo "phase 4/5: plain reverse_proxy ($tool, $CONNS conns)" >&2
read -r plain_rps plain_p99 < <(measure_rate "http://127.0.0.1:$PLAIN/package/x" "$COOKIE")
echo "phase 5/5: tokengate_edi_protect + reverse_proxy (cached pair)" >&2
read -r prot_rps prot_p99 < <(measure_rate "http://127.0.0.1:$GATE/package/x" "$COOKIE")

top=""
if [ -s "$work/refresh.pprof" ]; then
	top=$(go tool pprof -top -nodecount 25 "$work/caddy" "$work/refresh.pprof" 2>/dev/null | sed -n '1,35p' || true)
	# Where the CPU goes, grouped: RSA signing, the rest of the crypto, HTTP
	# and everything else, as shares of the profile's samples.
	groups=$(go tool pprof -traces "$work/caddy" "$work/refresh.pprof" 2>/dev/null | python3 -c '
import sys, re
total = 0; g = {"rsa sign": 0, "rsa verify (PASTA)": 0, "ecdsa sign+verify (EDI)": 0, "json/xml": 0, "gc+runtime": 0, "http+other": 0}
sample = None; frames = []
def flush():
    global total
    if sample is None: return
    s = "\n".join(frames)
    total += sample
    if "edi.(*PastaSigner).Sign" in s and "rsa" in s: g["rsa sign"] += sample
    elif "edi.(*PastaVerifier)" in s: g["rsa verify (PASTA)"] += sample
    elif "ecdsa" in s or "nistec" in s: g["ecdsa sign+verify (EDI)"] += sample
    elif "encoding/json" in s or "encoding/xml" in s: g["json/xml"] += sample
    elif "runtime.gcBgMarkWorker" in s or "runtime.mallocgc" in s or "runtime.bgsweep" in s: g["gc+runtime"] += sample
    else: g["http+other"] += sample
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("-----"):
        flush(); sample = None; frames = []; continue
    m = re.match(r"^\s+([0-9.]+)(ms|s|us)\s+(.*)$", line)
    if m and sample is None:
        v = float(m.group(1)) * {"s": 1000, "ms": 1, "us": 0.001}[m.group(2)]
        sample = v; frames.append(m.group(3)); continue
    if sample is not None: frames.append(line.strip())
flush()
if total:
    print(" | ".join(f"{k} {100*v/total:.0f}%" for k, v in g.items()))
' || true)
fi

python3 - "$rsa_ns1 $rsa_ns2" "$inproc_ns" "$refresh_json" "$key_json" "$plain_rps" "$plain_p99" "$prot_rps" "$prot_p99" "$tool" "$CORES" <<'PY'
import json, sys
rsa_before, rsa_after = map(float, sys.argv[1].split())
rsa_ns, inproc_ns = (rsa_before + rsa_after) / 2, float(sys.argv[2])
refresh, key = json.loads(sys.argv[3]), json.loads(sys.argv[4])
plain_rps, plain_p99, prot_rps, prot_p99 = map(float, sys.argv[5:9])
tool, cores = sys.argv[9], sys.argv[10]
rsa_ps = 1e9 / rsa_ns
inproc_ps = 1e9 / inproc_ns
print(f"cores: {cores}; GET phases: {tool}; token phases: loadgen")
print(f"{'measure':52s} {'per s':>9s} {'p99 ms':>8s} {'ratio':>7s}")
print(f"{'raw RSA-2048 PKCS#1 v1.5 signatures, all cores':52s} {rsa_ps:9.0f} {'':>8s} {1:7.2f}  (before {1e9/rsa_before:.0f}, after {1e9/rsa_after:.0f})")
print(f"{'refresh in-process, no HTTP (all cores)':52s} {inproc_ps:9.0f} {'':>8s} {inproc_ps/rsa_ps:7.2f}")
for name, r in (("POST /auth/v1/token/refresh through Caddy", refresh), ("POST /auth/v1/key through Caddy", key)):
    bad = {k: v for k, v in r["statuses"].items() if not k.startswith("2")}
    print(f"{name:52s} {r['rps']:9.0f} {r['p99_ms']:8.2f} {r['rps']/rsa_ps:7.2f}" + (f"  errors {bad}" if bad else ""))
print(f"refresh / raw RSA signatures = {refresh['rps']/rsa_ps:.2f} (target >= 0.60)")
print()
print(f"{'route':52s} {'req/s':>9s} {'p99 ms':>8s} {'ratio':>7s}")
print(f"{'plain reverse_proxy':52s} {plain_rps:9.0f} {plain_p99:8.2f} {1:7.2f}")
print(f"{'tokengate_edi_protect + reverse_proxy (cache hit)':52s} {prot_rps:9.0f} {prot_p99:8.2f} {prot_rps/plain_rps:7.2f}")
PY
if [ -n "${groups:-}" ]; then
	util=$(echo "$top" | sed -n 's/.*Total samples = [^(]*(\([0-9.]*\)%).*/\1/p')
	echo
	echo "Caddy during the refresh phase used ${util:-?}% CPU of $((CORES * 100))% (the load generator has the rest):"
	echo "  $groups"
fi
if [ -n "${BENCH_VERBOSE:-}" ] && [ -n "$top" ]; then
	echo
	echo "$top"
fi
