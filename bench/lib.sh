# Shared by the bench scripts (sourced after they cd to the repository):
# free_port, measure_rate, and the gateway Caddyfile of bench/run.sh and
# bench/instructions.sh.

# start_issuer ADDR: run bench/extissuer (built at $work/extissuer) on ADDR
# in the background (its PID in iss_pid) and read the issuer URL and the
# token it prints into $issuer and $ext_token.
start_issuer() {
	"$work/extissuer" -addr "$1" >"$work/issuer.out" 2>&1 &
	iss_pid=$!
	for _ in $(seq 100); do [ -s "$work/issuer.out" ] && break; sleep 0.05; done
	read -r issuer ext_token <"$work/issuer.out"
}

# identity_of URL TOKEN: the identity headers (X-Okapi-*, X-Tokengate-*)
# that the route at URL hands its upstream for TOKEN, one "Name value" line
# each, sorted, as tokengate_echo at the upstream's /echo reports them. The
# bench compares a protected route's with its identity control's.
identity_of() {
	curl -fsS -H "Authorization: Bearer $2" "$1/echo" | python3 -c 'import json,sys; h=json.load(sys.stdin)["headers"]; [print(k, v[0]) for k, v in sorted(h.items()) if k.startswith(("X-Okapi-", "X-Tokengate-"))]'
}

# wait_ready URL TRIES: polls URL every 0.05 s until it answers 2xx, at
# most TRIES times; fails (status 1) if it never does.
wait_ready() {
	for _ in $(seq "$2"); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# free_port prints a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# measure_rate URL HEADER: GETs URL with HEADER on $CONNS connections for
# $SECONDS_PER_PHASE seconds (wrk when installed, else $work/loadgen) and
# prints "req/s p99_ms"; any non-2xx answer stops the run.
measure_rate() {
	local url=$1 header=$2
	if command -v wrk >/dev/null 2>&1; then
		local out non2xx rps p99
		out=$(wrk -t2 -c"$CONNS" -d"${SECONDS_PER_PHASE}s" --latency -H "$header" "$url")
		non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
		[ -z "$non2xx" ] || { echo "non-2xx responses: $non2xx" >&2; exit 1; }
		rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
		p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
		echo "$rps $p99"
	else
		"$work/loadgen" -mode get -url "$url" -H "$header" -c "$CONNS" -d "${SECONDS_PER_PHASE}s" -expect 200 |
			python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["rps"], r["p99_ms"])'
	fi
}

# The EDI bench key: SHA-256 of its secret only.
EDI_SECRET=benchBenchBenchBenchBench01
EDI_HASH=$(printf '%s' "$EDI_SECRET" | sha256sum | cut -d' ' -f1)

# The identity the protected route asserts for the bench token (FOLIO: the
# user ID, the tenant, the subject), which the control site sets too.
BENCH_SUB=bench
BENCH_USER=00000000-0000-4000-8000-000000000001
BENCH_TENANT=diku

# caddyfile STORE_LINES GATE UP PLAIN EDI ADMIN IDCTL [OPTIONS]: the gateway's
# Caddyfile; the sites are the same for every store; OPTIONS are more lines
# of the tokengate global option (a trusted_issuer). IDCTL is the control
# site: plain reverse_proxy that sets the same identity headers as the
# protected route (header_up), with no token check. It tells the cost of
# carrying the identity to the upstream (Caddy copies, logs and writes each
# header, the upstream parses it) from tokengate's own.
caddyfile() {
	local store=$1 gate=$2 up=$3 plain=$4 edi=$5 admin=$6 idctl=$7 options=${8:-}
	cat <<CF
{
	admin 127.0.0.1:$admin
	tokengate {
		$store
		$options
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
	handle /echo {
		tokengate_echo
	}
	respond "ok" 200
}
http://127.0.0.1:$plain {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$up
}
http://127.0.0.1:$idctl {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$up {
		header_up X-Okapi-User-Id $BENCH_USER
		header_up X-Okapi-Tenant $BENCH_TENANT
		header_up X-Tokengate-Subject $BENCH_SUB
	}
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
