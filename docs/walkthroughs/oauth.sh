#!/usr/bin/env bash
# OAuth 2.0 / OpenID Connect walkthrough: tokens created by the login service (management API),
# refresh with each client authentication method, client_credentials, introspection, replay,
# revocation, metadata. Needs the demo running, curl and jq.
set -euo pipefail
B=http://127.0.0.1:8080; OP='Authorization: Bearer demo-operator-key'

# call <status> <curl arguments...>: prints the body; fails unless the answer has that status.
call() {
  local want=$1 out; shift
  out=$(curl -sS -w '\n%{http_code}' "$@") || return
  printf '%s\n' "${out%$'\n'*}"
  [ "${out##*$'\n'}" = "$want" ] || { echo "expected HTTP $want, got ${out##*$'\n'}" >&2; return 1; }
}
# create <JSON>: the login service creates tokens for a user it authenticated (Authlete's token create).
create() { call 200 -X POST $B/api/demo/auth/token/create -H "$OP" -H 'Content-Type: application/json' -d "$1"; }

# 1. The login service has authenticated alice: it creates her tokens for client web.
C=$(create '{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["openid","profile","api.read"]}')
echo "$C"  # {"resultCode":"A109001",...,"accessToken":"eyJ...","refreshToken":"eyJ...","tokenType":"Bearer","expiresIn":600,...}
jq -e '.resultCode == "A109001"' <<<"$C"
RT=$(jq -er .refreshToken <<<"$C")

# 2. Refresh, client_secret_basic (web). Rotation: a new refresh token every time; an ID token (openid).
T1=$(call 200 -u web:w3b $B/oauth2/token -d grant_type=refresh_token -d refresh_token="$RT")
echo "$T1"  # {"access_token":"eyJ...","token_type":"Bearer","expires_in":600,"refresh_token":"eyJ...","scope":"openid profile api.read","id_token":"eyJ..."}
jq -e '.scope == "openid profile api.read" and (.id_token | length > 0) and .refresh_token != $rt' --arg rt "$RT" <<<"$T1"
#    Narrowing: the new access token gets api.read only; the grant keeps its scope.
T2=$(call 200 -u web:w3b $B/oauth2/token -d grant_type=refresh_token \
  -d refresh_token="$(jq -er .refresh_token <<<"$T1")" -d scope=api.read)
jq -e '.scope == "api.read"' <<<"$T2"
AT=$(jq -er .access_token <<<"$T2")

#    client_secret_post (post) and none (the public client cli):
P=$(create '{"grantType":"AUTHORIZATION_CODE","clientId":"post","subject":"bob","scopes":["api.read"]}' | jq -er .refreshToken)
call 200 $B/oauth2/token -d grant_type=refresh_token -d refresh_token="$P" -d client_id=post -d client_secret=p0st
L=$(create '{"grantType":"AUTHORIZATION_CODE","clientId":"cli","subject":"carol","scopes":["api.read"]}' | jq -er .refreshToken)
call 200 $B/oauth2/token -d grant_type=refresh_token -d refresh_token="$L" -d client_id=cli
#    client_credentials (svc): an access token for the client itself, no refresh token.
call 200 -u svc:s3c $B/oauth2/token -d grant_type=client_credentials | jq -e 'has("access_token") and (has("refresh_token") | not)'

# 3. Introspect, then call the upstream through the proxy.
call 200 -u web:w3b $B/oauth2/introspect -d token="$AT" \
  | jq -e '.active and .scope == "api.read" and .client_id == "web" and .sub == "alice"'
call 200 $B/anything -H "Authorization: Bearer $AT" \
  | jq -e '.headers["X-Tokengate-Subject"] == ["alice"] and .headers["X-Tokengate-Client-Id"] == ["web"]'

# 4. Replay a rotated refresh token: the whole grant is revoked, the proxy refuses its access token.
call 400 -u web:w3b $B/oauth2/token -d grant_type=refresh_token -d refresh_token="$RT" | jq -e '.error == "invalid_grant"'
call 401 $B/anything -H "Authorization: Bearer $AT"

# 5. Revocation (RFC 7009) of a fresh grant: either token revokes it; the proxy refuses it on the next request.
N=$(create '{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["api.read"]}')
NAT=$(jq -er .accessToken <<<"$N")
call 200 $B/anything -H "Authorization: Bearer $NAT" >/dev/null
call 200 -u web:w3b $B/oauth2/revoke -d token="$(jq -er .refreshToken <<<"$N")"   # {}
call 401 $B/anything -H "Authorization: Bearer $NAT"
call 200 -u web:w3b $B/oauth2/introspect -d token="$NAT" | jq -e '. == {"active": false}'

# 6. Metadata and keys.
call 200 $B/.well-known/openid-configuration | jq -e '.issuer == "http://127.0.0.1:8080"'
call 200 $B/.well-known/jwks.json | jq -e '.keys | length > 0'
