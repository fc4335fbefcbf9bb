#!/usr/bin/env bash
# Load test of tokengate against plain Caddy, in one run, on loopback only.
#
# One Caddy process serves:
#   :$UP      the upstream (a static 200)
#   :$PLAIN   plain reverse_proxy to the upstream        (the baseline)
#   :$GATE    tokengate_protect + reverse_proxy, and the FOLIO token API
# and the script measures, for the same duration each:
#   1. GET through plain reverse_proxy, same request (wrk, or loadgen without wrk)
#   2. GET through the protected route with a valid ES256 token (cache hit)
#   3. POST /token/sign                          (loadgen)
#   4. POST /token/refresh on the bbolt store    (loadgen, one chain per worker)
#   5. POST /oauth2/token, grant_type=refresh_token on the bbolt store
#      (loadgen oauth-refresh: one grant per worker, created through the
#      management API, rotated with client_secret_basic)
#   6. POST /oauth2/introspect of an active access token (loadgen post)
# and prints throughputs, p99 latencies and the ratios to plain Caddy.
#
# Bounded: BENCH_SECONDS per phase (default 10, at most 120), BENCH_CONNS
# connections (default 32). Every target is 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_PHASE=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
[ "$SECONDS_PER_PHASE" -le 120 ] || { echo "BENCH_SECONDS must be <= 120"; exit 2; }

work=$(mktemp -d)
trap 'kill $caddy_pid 2>/dev/null || true; wait $caddy_pid 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(free_port); PLAIN=$(free_port); GATE=$(free_port); ADMIN=$(free_port)

echo "building caddy..." >&2
go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/loadgen" ./bench/loadgen

cat > "$work/Caddyfile" <<CF
{
	admin 127.0.0.1:$ADMIN
	tokengate {
		store bolt $work/state/tokengate.db
		default_tenant diku
		issuer http://127.0.0.1:$GATE
		operator_key_hash sha256:4a7c449d22a99026fac16a47621ff68792ff589f72334ea3950ce186a5615e9a
		oauth {
			client web {
				secret_hash sha256:1a00f12f4768080ebd6bc0943f5c71eaf8e7205c0c3d3f32c95c473bf04f2219
				grant_types refresh_token authorization_code
				scopes api.read
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
	tokengate_folio {
		trusted_signers 127.0.0.1/32
	}
	tokengate_oauth
	tokengate_manage {
		prefix /api/bench
	}
	tokengate_protect
	reverse_proxy 127.0.0.1:$UP
}
CF

XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" "$work/caddy" run --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
caddy_pid=$!
for _ in $(seq 200); do
	curl -fsS "http://127.0.0.1:$GATE/admin/health" >/dev/null 2>&1 && break
	sleep 0.05
done

token=$(curl -fsS -X POST -H 'X-Okapi-Tenant: diku' \
	-d '{"payload":{"sub":"bench","user_id":"00000000-0000-4000-8000-000000000001"}}' \
	"http://127.0.0.1:$GATE/token/sign" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$GATE/x"

if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	(apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1)) || true
fi

# get URL [header] -> "rps p99ms"
measure_get() {
	local url=$1 header=${2:-}
	if command -v wrk >/dev/null 2>&1; then
		local out
		if [ -n "$header" ]; then
			out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_PHASE}s" --latency -H "$header" "$url")
		else
			out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_PHASE}s" --latency "$url")
		fi
		local non2xx
		non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
		[ -z "$non2xx" ] || { echo "non-2xx responses: $non2xx" >&2; exit 1; }
		local rps p99
		rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
		p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
		echo "$rps $p99"
	else
		local args=(-mode get -url "$url" -c "$CONNS" -d "${SECONDS_PER_PHASE}s" -expect 200)
		[ -n "$header" ] && args+=(-H "$header")
		"$work/loadgen" "${args[@]}" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["rps"], r["p99_ms"])'
	fi
}

tool=loadgen; command -v wrk >/dev/null 2>&1 && tool=wrk
# Both GET phases send the same request, bearer token included: plain Caddy
# simply proxies the header, so the ratio is the cost of checking it.
echo "phase 1/6: plain reverse_proxy ($tool, ${SECONDS_PER_PHASE}s, $CONNS conns)" >&2
read -r plain_rps plain_p99 < <(measure_get "http://127.0.0.1:$PLAIN/x" "Authorization: Bearer $token")
echo "phase 2/6: tokengate_protect + reverse_proxy (valid ES256 token)" >&2
read -r prot_rps prot_p99 < <(measure_get "http://127.0.0.1:$GATE/x" "Authorization: Bearer $token")

echo "phase 3/6: POST /token/sign" >&2
sign_json=$("$work/loadgen" -mode post -url "http://127.0.0.1:$GATE/token/sign" -H 'X-Okapi-Tenant: diku' \
	-body '{"payload":{"sub":"bench","user_id":"00000000-0000-4000-8000-000000000002"}}' \
	-c 16 -d "${SECONDS_PER_PHASE}s" -expect 201)
echo "phase 4/6: POST /token/refresh (bbolt)" >&2
refresh_json=$("$work/loadgen" -mode refresh -url "http://127.0.0.1:$GATE/token/refresh" \
	-sign-url "http://127.0.0.1:$GATE/token/sign" -H 'X-Okapi-Tenant: diku' \
	-c 16 -d "${SECONDS_PER_PHASE}s" -expect 201)
echo "phase 5/6: POST /oauth2/token refresh_token grant (bbolt)" >&2
oauth_refresh_json=$("$work/loadgen" -mode oauth-refresh -url "http://127.0.0.1:$GATE/oauth2/token" \
	-create-url "http://127.0.0.1:$GATE/api/bench/auth/token/create" -operator-key demo-operator-key \
	-client web -secret w3b -c 16 -d "${SECONDS_PER_PHASE}s")
echo "phase 6/6: POST /oauth2/introspect" >&2
oauth_at=$(curl -fsS -X POST -H 'Authorization: Bearer demo-operator-key' -H 'Content-Type: application/json' \
	-d '{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"bench","scopes":["api.read"]}' \
	"http://127.0.0.1:$GATE/api/bench/auth/token/create" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
introspect_json=$("$work/loadgen" -mode post -url "http://127.0.0.1:$GATE/oauth2/introspect" \
	-H 'Content-Type: application/x-www-form-urlencoded' -H "Authorization: Basic $(printf 'web:w3b' | base64)" \
	-body "token=$oauth_at" -c "$CONNS" -d "${SECONDS_PER_PHASE}s" -expect 200)

python3 - "$plain_rps" "$plain_p99" "$prot_rps" "$prot_p99" "$sign_json" "$refresh_json" "$tool" "$oauth_refresh_json" "$introspect_json" <<'PY'
import json, sys
plain_rps, plain_p99, prot_rps, prot_p99 = map(float, sys.argv[1:5])
sign, refresh, tool = json.loads(sys.argv[5]), json.loads(sys.argv[6]), sys.argv[7]
oauth_refresh, introspect = json.loads(sys.argv[8]), json.loads(sys.argv[9])
print(f"tool: {tool}; {sys.argv[7]} GET phases, loadgen token phases")
print(f"{'route':40s} {'req/s':>10s} {'p99 ms':>8s} {'ratio to plain':>15s}")
print(f"{'plain reverse_proxy':40s} {plain_rps:10.0f} {plain_p99:8.2f} {1:15.2f}")
print(f"{'tokengate_protect (ES256, cache hit)':40s} {prot_rps:10.0f} {prot_p99:8.2f} {prot_rps/plain_rps:15.2f}")
for name, r in (("POST /token/sign", sign), ("POST /token/refresh (bbolt)", refresh),
                ("POST /oauth2/token refresh (bbolt)", oauth_refresh), ("POST /oauth2/introspect", introspect)):
    bad = {k: v for k, v in r["statuses"].items() if not k.startswith("2")}
    print(f"{name:40s} {r['rps']:10.0f} {r['p99_ms']:8.2f} {r['rps']/plain_rps:15.2f}" + (f"  errors {bad}" if bad else ""))
PY
