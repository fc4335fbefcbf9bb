#!/usr/bin/env bash
# Authorization code flow with PKCE through the demo app's login page: discovery, authorize,
# login (the page calls authorization/issue), code for tokens, ID token nonce, UserInfo,
# refresh, code replay. Needs the demo running (with TOKENGATE_DEMO_OPERATOR_KEY), curl, jq, openssl.
set -euo pipefail
B=http://127.0.0.1:8080; APP=http://127.0.0.1:9000

# call <status> <curl arguments...>: prints the body; fails unless the answer has that status.
call() {
  local want=$1 out; shift
  out=$(curl -sS -w '\n%{http_code}' "$@") || return
  printf '%s\n' "${out%$'\n'*}"
  [ "${out##*$'\n'}" = "$want" ] || { echo "expected HTTP $want, got ${out##*$'\n'}" >&2; return 1; }
}
# redirect <curl arguments...>: the Location of a redirect answer (it is not followed).
redirect() { curl -sS -o /dev/null -w '%{redirect_url}' "$@"; }
# param <name> <url>: one query parameter of a URL (the values used here need no decoding).
param() { sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p" <<<"$2"; }

# 1. Discovery: the authorization endpoint, response type code, PKCE S256.
M=$(call 200 $B/.well-known/openid-configuration)
jq -e '.response_types_supported == ["code"] and .code_challenge_methods_supported == ["S256"]' <<<"$M"
AUTHZ=$(jq -er .authorization_endpoint <<<"$M")   # http://127.0.0.1:8080/oauth2/authorize

# 2. The client (web) makes a PKCE pair and sends the browser to the authorization endpoint.
VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
CB=$APP/callback
LOGIN=$(redirect -G "$AUTHZ" -d response_type=code -d client_id=web --data-urlencode redirect_uri=$CB \
  --data-urlencode 'scope=openid profile email' -d state=st4te -d nonce=n0nce \
  -d code_challenge="$CHALLENGE" -d code_challenge_method=S256)
echo "$LOGIN"  # http://127.0.0.1:9000/login?client_id=web&scope=openid+profile+email&ticket=eyJ...
TICKET=$(param ticket "$LOGIN")
#    Without PKCE (or with plain) the client gets the error at its redirect URI, with its state.
E=$(redirect -G "$AUTHZ" -d response_type=code -d client_id=web --data-urlencode redirect_uri=$CB -d state=st4te)
[ "$(param error "$E")" = invalid_request ] && [ "$(param state "$E")" = st4te ]
#    An unregistered redirect URI is never redirected to: a plain error page.
call 400 -G "$AUTHZ" -d response_type=code -d client_id=web -d redirect_uri=https://evil.example/cb

# 3. The browser shows the app's login page; alice signs in. The page calls
#    POST /api/demo/auth/authorization/issue {ticket, subject, claims} with the operator key and
#    redirects the browser to the responseContent: the client's redirect URI with code, state, iss.
call 200 "$LOGIN" >/dev/null
BACK=$(redirect "${LOGIN%%\?*}" --data-urlencode ticket="$TICKET" -d username=alice -d password=demo -d action=allow)
echo "$BACK"   # http://127.0.0.1:9000/callback?code=...&iss=http%3A%2F%2F127.0.0.1%3A8080&state=st4te
[ "$(param state "$BACK")" = st4te ]
CODE=$(param code "$BACK")
#    The ticket is single-use.
call 400 "${LOGIN%%\?*}" --data-urlencode ticket="$TICKET" -d username=alice -d password=demo -d action=allow

# 4. The client redeems the code with its secret, the redirect URI and the PKCE verifier.
T=$(call 200 -u web:w3b $B/oauth2/token -d grant_type=authorization_code --data-urlencode code="$CODE" \
  --data-urlencode redirect_uri=$CB -d code_verifier="$VERIFIER")
echo "$T"  # {"access_token":"eyJ...","token_type":"Bearer","expires_in":600,"refresh_token":"eyJ...","scope":"openid profile email","id_token":"eyJ..."}
AT=$(jq -er .access_token <<<"$T")
#    The ID token carries the nonce of the request.
jq -e '.id_token | split(".")[1] | gsub("-";"+") | gsub("_";"/") | @base64d | fromjson | .nonce == "n0nce" and .sub == "alice"' <<<"$T"

# 5. UserInfo: sub and the claims the login page supplied, as the scope releases them.
U=$(call 200 $B/oauth2/userinfo -H "Authorization: Bearer $AT")
echo "$U"  # {"email":"alice@example.org","email_verified":true,"name":"Alice Demo","sub":"alice"}
jq -e '.sub == "alice" and .name == "Alice Demo" and .email == "alice@example.org"' <<<"$U"

# 6. The grant is an ordinary one: it refreshes (rotation), and the upstream accepts the token.
T2=$(call 200 -u web:w3b $B/oauth2/token -d grant_type=refresh_token -d refresh_token="$(jq -er .refresh_token <<<"$T")")
AT2=$(jq -er .access_token <<<"$T2")
call 200 $B/anything -H "Authorization: Bearer $AT2" >/dev/null

# 7. The code presented again is a replay: refused, and every token issued from it is revoked.
call 400 -u web:w3b $B/oauth2/token -d grant_type=authorization_code --data-urlencode code="$CODE" \
  --data-urlencode redirect_uri=$CB -d code_verifier="$VERIFIER" | jq -e '.error == "invalid_grant"'
call 401 $B/anything -H "Authorization: Bearer $AT2" >/dev/null
echo "authorization code walkthrough: OK"
