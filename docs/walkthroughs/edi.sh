#!/usr/bin/env bash
# EDI walkthrough: API-key exchange, proxied PASTA traffic, refresh, subject revocation, and the
# API-key lifecycle through the operator API. Needs the demo running, curl and jq.
set -euo pipefail
B=http://127.0.0.1:8080; OP='Authorization: Bearer demo-operator-key'
ALICE=EDI-581f8a60cb1482332e92fb44c67078293df21d6c; BOB=EDI-16b1e796d8a45e2c630ca07b892552bc38628a8c

# call <status> <curl arguments...>: prints the body; fails unless the answer has that status.
call() {
  local want=$1 out; shift
  out=$(curl -sS -w '\n%{http_code}' "$@") || return
  printf '%s\n' "${out%$'\n'*}"
  [ "${out##*$'\n'}" = "$want" ] || { echo "expected HTTP $want, got ${out##*$'\n'}" >&2; return 1; }
}

# 1. Exchange alice's API key (a demo-only secret) for a pair. JSON whatever the Content-Type.
PAIR=$(call 200 -X POST $B/auth/v1/key -d '{"key":"R9arQwYMFqdgVVYt7jqcsxfyPyU"}')
echo "$PAIR"  # {"msg":"Token created successfully","pasta-token":"dWlkPWFsaWNl...==-EfAX...==","edi-token":"eyJ...","method":"getTokenByKey"}
P=$(jq -er '."pasta-token"' <<<"$PAIR"); E=$(jq -er '."edi-token"' <<<"$PAIR")

# 2. Call a PASTA service path with the cookies. The upstream (the echo) gets rebuilt cookies (the
#    verified edi-token and the internal PASTA form only, never the client's) and the gateway's
#    identity headers: the forged X-Tokengate-Pasta-Uid is replaced.
ECHO=$(call 200 $B/package/eml/edi/1/1 -H "Cookie: auth-token=\"$P\"; edi-token=$E; theme=dark" \
  -H 'X-Tokengate-Pasta-Uid: uid=root')
echo "$ECHO"  # {"headers":{"Cookie":["theme=dark; edi-token=eyJ...; auth-token=dWlkPWFsaWNl...=="],
              #  "X-Tokengate-Subject":["EDI-581f..."],"X-Tokengate-Pasta-Uid":["uid=alice,o=EDI,dc=edirepository,dc=org"],...}}
jq -e --arg alice $ALICE '.headers["X-Tokengate-Subject"] == [$alice]
  and .headers["X-Tokengate-Pasta-Uid"] == ["uid=alice,o=EDI,dc=edirepository,dc=org"]
  and (.headers.Cookie[0] | contains("theme=dark") and contains("edi-token="))' <<<"$ECHO"

# 3. Refresh the pair: no store lookup, a new 8 h lifetime for both, every other claim and field copied.
PAIR2=$(call 200 -X POST $B/auth/v1/token/refresh -d "{\"pasta-token\":\"$P\",\"edi-token\":\"$E\"}")
P2=$(jq -er '."pasta-token"' <<<"$PAIR2"); E2=$(jq -er '."edi-token"' <<<"$PAIR2")

# 4. Revoke the subject: every EDI token of alice issued until now is refused, at once.
call 200 -X POST $B/api/demo/edi/subjects/$ALICE/revoke -H "$OP"
# {"ediId":"EDI-581f8a60cb1482332e92fb44c67078293df21d6c","revokedBefore":"2026-11-23T10:59:00.477Z","until":"..."}

# 5. Refused, on proxied traffic and at refresh:
call 401 $B/package/eml/edi/1/1 -H "Cookie: auth-token=$P2; edi-token=$E2"
# {"error":"invalid_token","error_description":"token is revoked"}
call 401 -X POST $B/auth/v1/token/refresh -d "{\"pasta-token\":\"$P2\",\"edi-token\":\"$E2\"}"
# {"msg":"Attempted to refresh invalid edi-token: token is revoked","method":"refreshToken"}
#    alice's API key still works: a new key exchange gives a pair that is accepted.
PAIR3=$(call 200 -X POST $B/auth/v1/key -d '{"key":"R9arQwYMFqdgVVYt7jqcsxfyPyU"}')
call 200 $B/package/eml/edi/1/1 -H "Cookie: edi-token=$(jq -er '."edi-token"' <<<"$PAIR3")" >/dev/null

# API keys: create (the secret is shown once), use, list (preview only), change, revoke.
K=$(call 201 -X POST $B/api/demo/edi/keys -H "$OP" -d "{\"owner\":\"$BOB\",\"name\":\"bob laptop\",\"validTo\":\"2099-06-30\"}")
echo "$K"  # {"id":"5f0c2b9e...","owner":"EDI-16b1...","name":"bob laptop","preview":"cpdN0",...,"secret":"cpdN0..."}
ID=$(jq -er .id <<<"$K"); SECRET=$(jq -er .secret <<<"$K")
call 200 -X POST $B/auth/v1/key -d "{\"key\":\"$SECRET\"}" >/dev/null
call 200 "$B/api/demo/edi/keys?owner=$BOB" -H "$OP" \
  | jq -e --arg id "$ID" 'any(.keys[]; .id == $id and (has("secret") | not))'
call 200 -X PATCH $B/api/demo/edi/keys/$ID -H "$OP" -d '{"name":"bob old laptop"}' | jq -e '.name == "bob old laptop"'
call 200 -X DELETE $B/api/demo/edi/keys/$ID -H "$OP" | jq -e 'has("revokedAt")'
#    The revoked key no longer exchanges:
call 401 -X POST $B/auth/v1/key -d "{\"key\":\"$SECRET\"}"   # {"msg":"Invalid API key","method":"getTokenByKey"}
