-- wrk script: refresh-token chains, so that every request is a valid,
-- single-use refresh. BENCH_TOKENS_FILE holds one refresh token per line
-- (at least as many as connections); thread i of BENCH_THREADS takes the
-- lines i, i+n, ... as its pool. Each request takes a token from its
-- thread's pool and each answer puts the new one back (the field
-- BENCH_REFRESH_FIELD of the JSON answer), so a pool never runs dry while
-- every answer is a success; a failed refresh drops its chain and shows in
-- wrk's non-2xx count, which the bench treats as an error.
-- BENCH_REFRESH_BODY is the body with %s for the token; BENCH_POST_HEADERS
-- the headers, one "Name: value" per line.
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local pool = {}
local body = os.getenv("BENCH_REFRESH_BODY")
local pattern = '"' .. os.getenv("BENCH_REFRESH_FIELD") .. '"%s*:%s*"([^"]+)"'

function init(args)
  local n = tonumber(os.getenv("BENCH_THREADS"))
  local i = 0
  for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
    if line ~= "" and i % n == id then table.insert(pool, line) end
    i = i + 1
  end
  wrk.method = "POST"
  for line in string.gmatch(os.getenv("BENCH_POST_HEADERS") or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
end

function request()
  local token = table.remove(pool) or "pool-empty"
  return wrk.format(nil, nil, nil, string.format(body, token))
end

function response(status, headers, answer)
  local token = string.match(answer, pattern)
  if token then table.insert(pool, token) end
end
