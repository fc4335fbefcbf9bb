-- wrk script: POST one fixed body with fixed headers, for the token
-- endpoints whose requests do not depend on an earlier answer (sign,
-- introspect), so they are measured with the same load generator as
-- Caddy `respond` and plain `reverse_proxy`, the limits they are compared
-- with. BENCH_POST_BODY is the body; BENCH_POST_HEADERS holds the headers,
-- one "Name: value" per line.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_POST_BODY") or ""
for line in string.gmatch(os.getenv("BENCH_POST_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
