#!/usr/bin/env bash
# Token management API walkthrough (Authlete's API, operator key): list, update, reissue an
# ID token, delete, revoke. Needs the demo running, curl and jq.
set -euo pipefail
M=http://127.0.0.1:8080/api/demo; OP='Authorization: Bearer demo-operator-key'

# call <status> <curl arguments...>: prints the body; fails unless the answer has that status.
call() {
  local want=$1 out; shift
  out=$(curl -sS -w '\n%{http_code}' "$@") || return
  printf '%s\n' "${out%$'\n'*}"
  [ "${out##*$'\n'}" = "$want" ] || { echo "expected HTTP $want, got ${out##*$'\n'}" >&2; return 1; }
}
# post <path> <JSON>: an operator request with a JSON body.
post() { call 200 -X POST "$M$1" -H "$OP" -H 'Content-Type: application/json' -d "$2"; }

# A live openid grant of alice, as the login service creates it.
N=$(post /auth/token/create '{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["openid","api.read"]}')
AT=$(jq -er .accessToken <<<"$N"); RT=$(jq -er .refreshToken <<<"$N")

# List alice's tokens: only hashes are shown, never tokens.
call 200 "$M/auth/token/get/list?subject=alice&start=0&end=5" -H "$OP" \
  | jq -e '.resultCode == "A091001" and .totalCount >= 1 and (.accessTokens[0].accessTokenHash | length == 43)'
# {"resultCode":"A091001",...,"totalCount":1,"subject":"alice","accessTokens":[{"accessTokenHash":"tC5h...",
#  "accessTokenExpiresAt":...,"clientId":"web","subject":"alice","grantType":"AUTHORIZATION_CODE","scopes":[...],...}]}

# Update the scopes: the answer carries a new access token; the old one is refused from now on.
U=$(post /auth/token/update "{\"accessToken\":\"$AT\",\"scopes\":[\"openid\",\"profile\"]}")
jq -e '.resultCode == "A135001"' <<<"$U"
AT2=$(jq -er .accessToken <<<"$U")
call 401 http://127.0.0.1:8080/anything -H "Authorization: Bearer $AT"
call 200 http://127.0.0.1:8080/anything -H "Authorization: Bearer $AT2" >/dev/null

# Reissue an ID token for the grant's current tokens.
post /idtoken/reissue "{\"accessToken\":\"$AT2\",\"refreshToken\":\"$RT\"}" \
  | jq -e '.resultCode == "A368001" and (.idToken | length > 0)'

# Delete the grant, identified by its access token (or by the token's hash, as lists show it):
# 204, then the proxy refuses the token.
call 204 -X DELETE "$M/auth/token/delete/$AT2" -H "$OP"
call 401 http://127.0.0.1:8080/anything -H "Authorization: Bearer $AT2"

# Revoke every token of a user (a form body works too): {"resultCode":"A312001",...,"count":N}
call 200 -X POST $M/auth/token/revoke -H "$OP" -d subject=alice | jq -e '.resultCode == "A312001"'
