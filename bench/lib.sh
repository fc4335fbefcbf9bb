# Shared by the bench scripts (sourced after they cd to the repository).

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
