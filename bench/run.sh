#!/usr/bin/env bash
# Load test of tokengate against the machine's own limits, in one run, on
# loopback only (make bench).
#
# 1. Physical limits, measured on the spot (loadgen's limit modes):
#      fdatasync of a 4 KiB page on the store's disk (one writer);
#      ES256 and RSA-2048 PKCS#1 v1.5 signatures on as many goroutines as
#      the gateway has cores (nproc; the load generator shares them);
#      Caddy `respond` (the upstream: a handler doing no work);
#      plain `reverse_proxy` to it.
# 2. Every route, on bbolt, Pebble, memory and Redis (one Caddy per store, same
#    Caddyfile but the store line): the protected GET (cache hit, same
#    request bytes as the plain phase, interleaved with it), POST
#    /token/sign, POST /token/refresh, the OAuth refresh_token grant,
#    POST /oauth2/introspect; and, on bbolt, POST /auth/v1/token/refresh
#    (EDI: one RSA-2048 signature each) between two measures of raw RSA.
# 3. Revocation fan-out between two Caddy instances on one Redis prefix
#    (BENCH_REVOCATIONS, default 200), as the integration test
#    TestRedisTwoInstancesRevocationFanOut measures it.
# Then a table with req/s, p50, p99 and the ratio of each route to its
# limit, and every target of issue 10 with PASS or FAIL.
#
# Bounded: BENCH_SECONDS per phase (default 5, at most 120; the whole run
# takes about 3 minutes plus the build at 5), BENCH_CONNS connections for
# GETs (default 32), BENCH_ROUNDS pairs of plain and protected GET phases
# (default 4, half a phase each), BENCH_POST_CONNS for the token endpoints (default 16).
# Redis at BENCH_REDIS (default 127.0.0.1:6379) under a random key prefix
# deleted at the end; BENCH_SKIP_REDIS=1 leaves it out. BENCH_STORES: the
# stores to run (default "bolt pebble memory redis"; bolt first, it measures
# the limits the others are compared with; pebble is the embedded Pebble
# store, evaluated against bbolt). BENCH_PROFILE_DIR:
# keep a CPU profile of Caddy for every phase there (with the binary, for
# go tool pprof). Every target is 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-32}
POST_CONNS=${BENCH_POST_CONNS:-16}
REDIS=${BENCH_REDIS:-127.0.0.1:6379}
REVOCATIONS=${BENCH_REVOCATIONS:-200}
ROUNDS=${BENCH_ROUNDS:-4}
PROFILE_DIR=${BENCH_PROFILE_DIR:-}
[ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || { echo "BENCH_SECONDS must be in [1, 120]"; exit 2; }
case "$REDIS" in 127.0.0.1:* | localhost:*) ;; *) echo "BENCH_REDIS must be on loopback"; exit 2 ;; esac
CORES=$(nproc)

work=$(mktemp -d)
pids=()
redis_prefix="tokengate-bench:$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n'):"
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -z "${BENCH_SKIP_REDIS:-}" ] && command -v redis-cli >/dev/null 2>&1; then
		redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" --scan --pattern "${redis_prefix}*" |
			xargs -r -n 500 redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" del >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
results="$work/results.jsonl"
: >"$results"
# put KEY JSON: one measurement for the report.
put() { printf '{"key":"%s","r":%s}\n' "$1" "$2" >>"$results"; }

. bench/lib.sh

echo "building caddy and loadgen..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen
[ -n "$PROFILE_DIR" ] && mkdir -p "$PROFILE_DIR" && cp "$work/caddy" "$PROFILE_DIR/caddy"
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	(apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1)) || true
fi
tool=loadgen; command -v wrk >/dev/null 2>&1 && tool=wrk

# --- helpers -----------------------------------------------------------------

# get URL HEADER -> JSON {rps, p50_ms, p99_ms}
measure_get() {
	local url=$1 header=$2 secs=${3:-$SECS}
	if [ "$tool" = wrk ]; then
		local out non2xx
		out=$(wrk -t2 -c"$CONNS" -d"${secs}s" --latency -H "$header" "$url")
		non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
		[ -z "$non2xx" ] || { echo "non-2xx responses on $url: $non2xx" >&2; exit 1; }
		echo "$out" | awk '
			function ms(v) { if (v ~ /us$/) { sub(/us/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms/, "", v); return v } sub(/s/, "", v); return v * 1000 }
			/Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } / requests in / { n = $1 }
			END { printf "{\"rps\":%s,\"p50_ms\":%s,\"p99_ms\":%s,\"requests\":%s}\n", rps, p50, p99, n }'
	else
		"$work/loadgen" -mode get -url "$url" -H "$header" -c "$CONNS" -d "${secs}s" -expect 200
	fi
}

# caddy_ticks: CPU time (user + system, clock ticks) of the running Caddy.
caddy_ticks() { awk '{print $14 + $15}' "/proc/${pids[-1]}/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# measured KEY CMD...: run a phase (its output: a JSON line with rps and
# seconds or a duration) and put it with the Caddy CPU time it cost per
# request (cpu_us): a figure that the machine's other load changes far less
# than req/s.
measured() {
	local key=$1 t0 t1 out
	shift
	t0=$(caddy_ticks)
	out=$("$@")
	t1=$(caddy_ticks)
	put "$key" "$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); n=r.get("requests") or r["rps"]*float(sys.argv[3]); r["cpu_us"]=float(sys.argv[2])/max(n,1); print(json.dumps(r))' \
		"$out" "$(((t1 - t0) * TICK_US))" "${PHASE_SECS:-$SECS}")"
}

# profile ADMIN NAME: a CPU profile of the Caddy at ADMIN during the next
# phase, in the background (BENCH_PROFILE_DIR only).
prof_pid=
profile() {
	[ -n "$PROFILE_DIR" ] || return 0
	local secs=$((SECS > 2 ? SECS - 2 : 1))
	(sleep 1; curl -fsS -o "$PROFILE_DIR/$2.pprof" "http://127.0.0.1:$1/debug/pprof/profile?seconds=$secs" || true) &
	prof_pid=$!
}
profiled() { [ -z "$prof_pid" ] || wait "$prof_pid" 2>/dev/null || true; prof_pid=; }

# start_caddy NAME CADDYFILE DATA HEALTH_URL: run Caddy in the background.
start_caddy() {
	local name=$1 cf=$2 data=$3 health=$4
	mkdir -p "$data"
	XDG_DATA_HOME="$data" XDG_CONFIG_HOME="$data/config" "$work/caddy" run --config "$cf" --adapter caddyfile >"$work/$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 400); do
		curl -fsS -o /dev/null "$health" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "caddy $name did not start:" >&2
	tail -20 "$work/$name.log" >&2
	exit 1
}
stop_caddy() {
	local p=${pids[-1]}
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	unset 'pids[-1]'
}

# The EDI bench key: SHA-256 of its secret only.
EDI_SECRET=benchBenchBenchBenchBench01
EDI_HASH=$(printf '%s' "$EDI_SECRET" | sha256sum | cut -d' ' -f1)

# caddyfile STORE_LINES GATE UP PLAIN EDI ADMIN: the gateway's Caddyfile;
# the sites are the same for every store.
caddyfile() {
	local store=$1 gate=$2 up=$3 plain=$4 edi=$5 admin=$6
	cat <<CF
{
	admin 127.0.0.1:$admin
	tokengate {
		$store
		default_tenant diku
		issuer http://127.0.0.1:$gate
		operator_key_hash sha256:4a7c449d22a99026fac16a47621ff68792ff589f72334ea3950ce186a5615e9a
		oauth {
			client web {
				secret_hash sha256:1a00f12f4768080ebd6bc0943f5c71eaf8e7205c0c3d3f32c95c473bf04f2219
				grant_types refresh_token authorization_code
				scopes api.read
			}
		}
		edi {
			subject EDI-581f8a60cb1482332e92fb44c67078293df21d6c {
				profile
				cn "Alice Demo"
				idp_name ldap
				idp_uid uid=alice,o=EDI,dc=edirepository,dc=org
			}
			api_key bench {
				owner EDI-581f8a60cb1482332e92fb44c67078293df21d6c
				secret_sha256 $EDI_HASH
			}
		}
	}
}
http://127.0.0.1:$up {
	bind 127.0.0.1
	respond "ok" 200
}
http://127.0.0.1:$plain {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$up
}
http://127.0.0.1:$gate {
	bind 127.0.0.1
	tokengate_folio {
		trusted_signers 127.0.0.1/32
	}
	tokengate_oauth
	tokengate_manage {
		prefix /api/bench
	}
	tokengate_protect
	reverse_proxy 127.0.0.1:$up
}
http://127.0.0.1:$edi {
	bind 127.0.0.1
	tokengate_edi
	tokengate_edi_protect
	reverse_proxy 127.0.0.1:$up
}
CF
}

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# --- 1. the machine's limits -------------------------------------------------

echo "limits: fdatasync of a 4 KiB page, ES256 and RSA-2048 signatures on $CORES cores" >&2
put fsync "$("$work/loadgen" -mode fsync -dir "$work" -d 2s)"
put es256 "$("$work/loadgen" -mode sign -alg ES256 -c "$CORES" -d 3s)"
put rsa_before "$("$work/loadgen" -mode sign -alg RS256 -c "$CORES" -d 3s)"

# --- 2. every route on every store -------------------------------------------

read -r -a stores <<<"${BENCH_STORES:-bolt pebble memory redis}"
[ -z "${BENCH_SKIP_REDIS:-}" ] || stores=("${stores[@]/redis/}")
for store in "${stores[@]}"; do
	[ -n "$store" ] || continue
	UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); EDI=$(free_port); ADMIN=$(free_port)
	case $store in
	bolt) store_line="store bolt $work/$store/state/tokengate.db" ;;
	pebble) store_line="store pebble $work/$store/state" ;;
	memory) store_line="store memory" ;;
	redis) store_line="store redis $REDIS {
			prefix ${redis_prefix}routes:
		}" ;;
	esac
	caddyfile "$store_line" "$GATE" "$UP" "$PLAIN" "$EDI" "$ADMIN" >"$work/$store.Caddyfile"
	start_caddy "$store" "$work/$store.Caddyfile" "$work/$store" "http://127.0.0.1:$GATE/admin/health"
	G="http://127.0.0.1:$GATE"

	token=$(curl -fsS -X POST -H 'X-Okapi-Tenant: diku' \
		-d '{"payload":{"sub":"bench","user_id":"00000000-0000-4000-8000-000000000001"}}' "$G/token/sign" | json_field accessToken)
	curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$G/x"

	if [ "$store" = "${stores[0]}" ]; then
		echo "[$store] Caddy respond (the upstream), $tool, ${SECS}s, $CONNS conns" >&2
		measured respond measure_get "http://127.0.0.1:$UP/x" "Authorization: Bearer $token"
	fi
	# The protected route against plain reverse_proxy: the same request
	# bytes (the bearer header included: plain Caddy proxies it as is), in
	# ROUNDS interleaved pairs of half a phase each, in ABBA order, so that
	# a change of the machine's load during the run falls on both sides
	# alike; the ratio is the median of the pairs' ratios.
	half=$(((SECS + 1) / 2))
	for round in $(seq "$ROUNDS"); do
		echo "[$store] plain reverse_proxy / protected GET, round $round of $ROUNDS (${half}s each)" >&2
		[ "$round" = 1 ] && profile "$ADMIN" "protect-$store"
		for side in plain protect; do
			[ $((round % 2)) = 0 ] && side=$([ "$side" = plain ] && echo protect || echo plain)
			url="$G/x"
			[ "$side" = plain ] && url="http://127.0.0.1:$PLAIN/x"
			measured "${side}_${store}_$round" measure_get "$url" "Authorization: Bearer $token" "$half"
		done
	done
	profiled
	echo "[$store] POST /token/sign ($POST_CONNS conns)" >&2
	profile "$ADMIN" "sign-$store"
	measured "sign_$store" "$work/loadgen" -mode post -url "$G/token/sign" -H 'X-Okapi-Tenant: diku' \
		-body '{"payload":{"sub":"bench","user_id":"00000000-0000-4000-8000-000000000002"}}' \
		-c "$POST_CONNS" -d "${SECS}s" -expect 201
	profiled
	echo "[$store] POST /token/refresh" >&2
	profile "$ADMIN" "refresh-$store"
	measured "refresh_$store" "$work/loadgen" -mode refresh -url "$G/token/refresh" -sign-url "$G/token/sign" \
		-H 'X-Okapi-Tenant: diku' -c "$POST_CONNS" -d "${SECS}s" -expect 201
	profiled
	echo "[$store] POST /oauth2/token grant_type=refresh_token" >&2
	profile "$ADMIN" "oauth-refresh-$store"
	measured "oauth_refresh_$store" "$work/loadgen" -mode oauth-refresh -url "$G/oauth2/token" \
		-create-url "$G/api/bench/auth/token/create" -operator-key demo-operator-key \
		-client web -secret w3b -c "$POST_CONNS" -d "${SECS}s"
	profiled
	echo "[$store] POST /oauth2/introspect ($CONNS conns)" >&2
	oauth_at=$(curl -fsS -X POST -H 'Authorization: Bearer demo-operator-key' -H 'Content-Type: application/json' \
		-d '{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"bench","scopes":["api.read"]}' \
		"$G/api/bench/auth/token/create" | json_field accessToken)
	profile "$ADMIN" "introspect-$store"
	measured "introspect_$store" "$work/loadgen" -mode post -url "$G/oauth2/introspect" \
		-H 'Content-Type: application/x-www-form-urlencoded' -H "Authorization: Basic $(printf 'web:w3b' | base64)" \
		-body "token=$oauth_at" -c "$CONNS" -d "${SECS}s" -expect 200
	profiled

	if [ "$store" = bolt ]; then
		# EDI refresh: one RSA-2048 signature per request; the raw rate is
		# measured right before (limits) and right after, and averaged.
		E="http://127.0.0.1:$EDI"
		pair=$(curl -fsS -X POST -d "{\"key\":\"$EDI_SECRET\"}" "$E/auth/v1/key")
		body=$(printf '%s' "$pair" | python3 -c 'import json,sys; p=json.load(sys.stdin); print(json.dumps({"pasta-token": p["pasta-token"], "edi-token": p["edi-token"]}))')
		# The raw rate keeps every core signing all the time; so must the
		# load on the gateway: with one connection per core, each core
		# idles while its request travels, is parsed and is answered.
		edi_conns=$((CORES * 4))
		echo "[$store] POST /auth/v1/token/refresh (EDI, $edi_conns conns)" >&2
		profile "$ADMIN" "edi-refresh-$store"
		measured edi_refresh "$work/loadgen" -mode post -url "$E/auth/v1/token/refresh" -body "$body" \
			-c "$edi_conns" -d "${SECS}s" -expect 200
		profiled
		put rsa_after "$("$work/loadgen" -mode sign -alg RS256 -c "$CORES" -d 3s)"
		put store_bytes "{\"bytes\":$(stat -c %s "$work/$store/state/tokengate.db")}"
	fi
	stop_caddy
	if [ "$store" = pebble ]; then
		# After the stop: Close flushed the memtables, so this is the
		# sorted tables, the manifest and the last (recycled) WAL.
		put pebble_bytes "{\"bytes\":$(du -sb "$work/$store/state" | cut -f1)}"
	fi
done

# --- 3. revocation fan-out between two instances on one Redis ----------------

if [ -z "${BENCH_SKIP_REDIS:-}" ]; then
	echo "[redis] revocation fan-out between two instances, $REVOCATIONS revocations" >&2
	store_line="store redis $REDIS {
			prefix ${redis_prefix}fanout:
		}"
	gates=()
	for inst in a b; do
		UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); EDI=$(free_port); ADMIN=$(free_port)
		# One data directory for both: they share the auto keys, as
		# instances sharing Caddy's storage do.
		caddyfile "$store_line" "$GATE" "$UP" "$PLAIN" "$EDI" "$ADMIN" >"$work/fanout-$inst.Caddyfile"
		start_caddy "fanout-$inst" "$work/fanout-$inst.Caddyfile" "$work/fanout" "http://127.0.0.1:$GATE/admin/health"
		gates+=("http://127.0.0.1:$GATE")
	done
	put fanout "$("$work/loadgen" -mode fanout -url "${gates[0]}" -url-b "${gates[1]}" -n "$REVOCATIONS")"
	stop_caddy
	stop_caddy
fi

# --- report --------------------------------------------------------------------

python3 - "$results" "$CORES" "$tool" "$SECS" <<'PY'
import json, sys
R = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    R[d["key"]] = d["r"]
cores, tool, secs = sys.argv[2], sys.argv[3], sys.argv[4]

def rps(k): return R[k]["rps"] if k in R else None
import statistics
def rounds(prefix, store):
    return [R[k] for k in sorted((k for k in R if k.startswith(f"{prefix}_{store}_")), key=lambda k: int(k.rsplit("_", 1)[1]))]
def pair(prefix, store):
    rs = rounds(prefix, store)
    return {k: statistics.mean(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}, [r["rps"] for r in rs]

fsync = R["fsync"]["per_s"]
es256 = R["es256"]["per_s"]
rsa = (R["rsa_before"]["per_s"] + R["rsa_after"]["per_s"]) / 2 if "rsa_after" in R else R["rsa_before"]["per_s"]
respond = rps("respond") or 1
plain, _ = pair("plain", "bolt") if "plain_bolt_1" in R else pair("plain", [k for k in R if k.startswith("plain_")][0].split("_")[1])

print(f"tokengate bench: {cores} cores shared by Caddy and the load generator; GETs: {tool}, token endpoints: loadgen; {secs}s phases")
print("CPU us: Caddy's CPU time (user + system) per request, the upstream's share included on proxied routes")
print()
print(f"{'physical limit':52s} {'per s':>9s} {'p50 ms':>7s} {'p99 ms':>7s} {'Caddy CPU us/req':>16s}")
print(f"{'fdatasync of a 4 KiB page (one writer)':52s} {fsync:9.0f} {1000/fsync:7.3f}")
print(f"{'ES256 signatures, ' + cores + ' goroutines':52s} {es256:9.0f}")
print(f"{'RSA-2048 PKCS#1 v1.5 signatures, ' + cores + ' goroutines':52s} {rsa:9.0f}" +
      (f"   (before {R['rsa_before']['per_s']:.0f}, after {R['rsa_after']['per_s']:.0f})" if "rsa_after" in R else ""))
print(f"{'Caddy respond (the upstream)':52s} {respond:9.0f} {R['respond']['p50_ms']:7.2f} {R['respond']['p99_ms']:7.2f} {R['respond']['cpu_us']:16.1f}")
print(f"{'plain reverse_proxy (bbolt run)':52s} {plain['rps']:9.0f} {plain['p50_ms']:7.2f} {plain['p99_ms']:7.2f} {plain['cpu_us']:16.1f}")
print()
print(f"{'route':40s} {'store':7s} {'req/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'CPU us':>7s} {'ratio':>6s}  to")
rows = []
def row(name, store, r, limit, limit_name, extra=""):
    if r is None: return
    bad = {k: v for k, v in r.get("statuses", {}).items() if not k.startswith("2")}
    print(f"{name:40s} {store:7s} {r['rps']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r.get('cpu_us', 0):7.1f} {r['rps']/limit:6.2f}  {limit_name}{extra}" +
          (f"  ERRORS {bad}" if bad else ""))
stores = [s for s in ("bolt", "pebble", "memory", "redis") if f"sign_{s}" in R]
prot = {}
for s in stores:
    pl, plr = pair("plain", s)
    pr, prr = pair("protect", s)
    ratios = [b / a for a, b in zip(plr, prr)]
    p99_added = [b["p99_ms"] - a["p99_ms"] for a, b in zip(rounds("plain", s), rounds("protect", s))]
    prot[s] = (pr, pl, ratios, statistics.median(ratios), statistics.median(p99_added))
    row("plain reverse_proxy", s, pl, pl["rps"], "plain")
    row("protected GET (ES256, cache hit)", s, pr, pl["rps"], "plain",
        f"  (median of rounds {prot[s][3]:.3f}: {' '.join(f'{x:.3f}' for x in prot[s][2])}; CPU per request {pr['cpu_us']/pl['cpu_us']:.3f}x plain)")
for s in stores:
    row("POST /token/sign", s, R[f"sign_{s}"], es256, "ES256")
for s in stores:
    row("POST /token/refresh", s, R[f"refresh_{s}"], es256, "ES256")
for s in stores:
    row("POST /oauth2/token (refresh_token)", s, R[f"oauth_refresh_{s}"], es256, "ES256")
for s in stores:
    row("POST /oauth2/introspect", s, R[f"introspect_{s}"], respond, "respond")
row("POST /auth/v1/token/refresh (EDI)", "bolt", R.get("edi_refresh"), rsa, "RSA-2048")
if "store_bytes" in R:
    n = R["sign_bolt"]["requests"] + R["refresh_bolt"]["requests"] + R["oauth_refresh_bolt"]["requests"]
    print(f"bbolt file after the bolt run: {R['store_bytes']['bytes']/1e6:.1f} MB ({R['store_bytes']['bytes']/max(n,1):.0f} B per grant written)")
if "pebble_bytes" in R:
    n = R["sign_pebble"]["requests"] + R["refresh_pebble"]["requests"] + R["oauth_refresh_pebble"]["requests"]
    print(f"pebble directory after the pebble run (closed): {R['pebble_bytes']['bytes']/1e6:.1f} MB ({R['pebble_bytes']['bytes']/max(n,1):.0f} B per grant written)")
fo = R.get("fanout")
if fo:
    print(f"revocation fan-out A -> B over {fo['revocations']} revocations: p50 {fo['lag_p50_ms']:.2f} ms, p99 {fo['lag_p99_ms']:.2f} ms, "
          f"max {fo['lag_max_ms']:.2f} ms; A's answer p50 {fo['answer_p50_ms']:.2f} ms, p99 {fo['answer_p99_ms']:.2f} ms; failures {fo['failures']}")

print()
print("targets (issue 10; ratios hold on any machine, absolute req/s are for a quiet one):")
def target(ok, text):
    print(f"  {'PASS' if ok else 'FAIL'}  {text}")
def r_(k): return R[k]["rps"] if k in R else 0
# The embedded stores' targets: bbolt's, and the same for Pebble, its
# candidate replacement.
embedded = [(s, name) for s, name in (("bolt", "bbolt"), ("pebble", "pebble")) if f"sign_{s}" in R]
for s, name in embedded:
    if "sign_memory" in R:
        target(r_(f"sign_{s}") >= 0.80 * r_("sign_memory"), f"sign {name} >= 0.80x sign memory: {r_(f'sign_{s}')/r_('sign_memory'):.2f}")
    target(r_(f"sign_{s}") >= 8000, f"sign {name} >= 8000 req/s: {r_(f'sign_{s}'):.0f}")
if "sign_memory" in R:
    target(r_("sign_memory") >= 10000, f"sign memory >= 10000 req/s: {r_('sign_memory'):.0f}")
    target(r_("sign_memory") >= 0.25 * respond, f"sign memory >= 0.25x respond: {r_('sign_memory')/respond:.2f}")
for s, name in embedded:
    target(r_(f"refresh_{s}") >= 6000, f"refresh {name} >= 6000 req/s: {r_(f'refresh_{s}'):.0f}")
    target(r_(f"oauth_refresh_{s}") >= 6000, f"OAuth refresh {name} >= 6000 req/s: {r_(f'oauth_refresh_{s}'):.0f}")
if "sign_redis" in R:
    target(r_("sign_redis") >= 6000, f"sign Redis >= 6000 req/s: {r_('sign_redis'):.0f}")
    target(r_("refresh_redis") >= 5000, f"refresh Redis >= 5000 req/s: {r_('refresh_redis'):.0f}")
for s, (pr, pl, rs, ratio, added) in prot.items():
    target(ratio >= 0.97, f"protected >= 0.97x plain ({s}, median of {len(rs)} interleaved pairs): {ratio:.3f}")
    target(added <= 0.3, f"protected p99 added <= 0.3 ms ({s}, median of the pairs): {added:+.2f} ms")
if "edi_refresh" in R:
    target(R["edi_refresh"]["rps"] >= 0.95 * rsa, f"EDI refresh >= 0.95x RSA-2048 limit: {R['edi_refresh']['rps']/rsa:.2f}")
if fo:
    target(fo["lag_p99_ms"] <= 20 and fo["failures"] == 0 and fo["revocations"] >= 200,
           f"revocation fan-out p99 <= 20 ms over >= 200, no failure: p99 {fo['lag_p99_ms']:.2f} ms over {fo['revocations']}, failures {fo['failures']}")
PY
