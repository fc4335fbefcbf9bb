#!/usr/bin/env bash
# FOLIO walkthrough: sign, call the upstream, refresh, replay, invalidate, invalidate-all.
# Needs the demo running (go run ./cmd/caddy run --config Caddyfile.example), curl and jq.
set -euo pipefail
B=http://127.0.0.1:8080

# call <status> <curl arguments...>: prints the body; fails unless the answer has that status.
call() {
  local want=$1 out; shift
  out=$(curl -sS -w '\n%{http_code}' "$@") || return
  printf '%s\n' "${out%$'\n'*}"
  [ "${out##*$'\n'}" = "$want" ] || { echo "expected HTTP $want, got ${out##*$'\n'}" >&2; return 1; }
}
# sign: a new session of alice in tenant diku (loopback callers are trusted signers in the demo).
sign() {
  call 201 -X POST $B/token/sign -H 'X-Okapi-Tenant: diku' \
    -d '{"payload":{"sub":"alice","user_id":"a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"}}'
}

# 1. Sign: 201 and a token pair.
PAIR=$(sign)
echo "$PAIR"  # {"accessToken":"eyJ...","refreshToken":"eyJ...","accessTokenExpiration":"...",...,"tenantId":"diku"}
AT=$(jq -er .accessToken <<<"$PAIR"); RT=$(jq -er .refreshToken <<<"$PAIR")

# 2. Call the upstream (the demo's echo) through the gateway: it sees the gateway's identity headers,
#    never the client's own (the forged X-Okapi-User-Id is replaced).
ECHO=$(call 200 $B/anything -H "Authorization: Bearer $AT" -H 'X-Okapi-User-Id: forged')
jq -e '.headers["X-Okapi-User-Id"] == ["a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"]
  and .headers["X-Okapi-Tenant"] == ["diku"] and .headers["X-Tokengate-Subject"] == ["alice"]' <<<"$ECHO"
call 401 $B/anything   # no token: 401 with WWW-Authenticate: Bearer

# 3. Refresh: single use, rotating. Using a refresh token twice is a replay: 401, and every
#    session of the user is revoked, the one just refreshed included.
PAIR2=$(call 201 -X POST $B/token/refresh -H 'X-Okapi-Tenant: diku' -d "{\"refreshToken\":\"$RT\"}")
call 401 -X POST $B/token/refresh -H 'X-Okapi-Tenant: diku' -d "{\"refreshToken\":\"$RT\"}"
call 401 $B/anything -H "Authorization: Bearer $(jq -er .accessToken <<<"$PAIR2")"

# 4. Invalidate (log out one session): 204, and its access token is refused at once.
PAIR3=$(sign); AT3=$(jq -er .accessToken <<<"$PAIR3")
call 204 -X POST $B/token/invalidate -H 'X-Okapi-Tenant: diku' \
  -d "{\"refreshToken\":\"$(jq -er .refreshToken <<<"$PAIR3")\"}"
call 401 $B/anything -H "Authorization: Bearer $AT3"

# 5. Invalidate-all (log out everywhere) with the access token of one session: every session's
#    access token is refused at once.
LAPTOP=$(sign | jq -er .accessToken); PHONE=$(sign | jq -er .accessToken)
call 200 $B/anything -H "Authorization: Bearer $PHONE" >/dev/null
call 204 -X POST $B/token/invalidate-all -H 'X-Okapi-Tenant: diku' -H "X-Okapi-Token: $LAPTOP"
call 401 $B/anything -H "Authorization: Bearer $PHONE"
