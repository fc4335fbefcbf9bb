"""Checks tokengate's tokens as an independent relying party and resource
server would, with PyJWT (Debian python3-jwt) and nothing of tokengate's:
the JWK Set is fetched from the running gateway, the key is chosen by kid,
and the algorithm allowed is the one the relying party expects.

Usage: verify_tokens.py <issuer> <jwks_uri> <cases.json>

cases.json is a list of objects:
  {"kind": "id_token", "token": ..., "alg": "RS256", "audience": "web"}
  {"kind": "access_token", "token": ..., "audience": "https://api..." or null}

Prints one JSON object per case ({"ok": true, "header": ..., "claims": ...}
or {"ok": false, "error": ...}) as a JSON list, and exits 1 if any case
failed.
"""

import json
import sys
import urllib.request

import jwt

# RFC 9068 section 2.2: the claims every JWT access token carries.
ACCESS_REQUIRED = ["iss", "exp", "sub", "client_id", "iat", "jti"]
# OpenID Connect Core section 2: the claims every ID token carries.
ID_REQUIRED = ["iss", "sub", "aud", "exp", "iat"]


def signing_key(jwks, header):
    """The JWK the header's kid names; it must be a signing key whose alg
    is the token's (the key decides the algorithm)."""
    found = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    if len(found) != 1:
        raise ValueError("kid %r: %d keys in the JWKS" % (header.get("kid"), len(found)))
    jwk = found[0]
    if jwk.get("use") != "sig" or jwk.get("alg") != header["alg"]:
        raise ValueError("JWK use %r alg %r for a token of alg %s" % (jwk.get("use"), jwk.get("alg"), header["alg"]))
    return jwt.PyJWK(jwk).key


def check(case, issuer, jwks):
    token = case["token"]
    header = jwt.get_unverified_header(token)
    key = signing_key(jwks, header)
    if case["kind"] == "id_token":
        claims = jwt.decode(
            token,
            key,
            algorithms=[case["alg"]],
            audience=case["audience"],
            issuer=issuer,
            options={"require": ID_REQUIRED},
        )
        if claims.get("azp", case["audience"]) != case["audience"]:
            raise ValueError("azp is not the client")
    elif case["kind"] == "access_token":
        # RFC 9068 section 4: the resource server MUST check typ.
        if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise ValueError("typ %r is not at+jwt" % header.get("typ"))
        options = {"require": ACCESS_REQUIRED + (["aud"] if case.get("audience") else [])}
        if not case.get("audience"):
            options["verify_aud"] = False
        claims = jwt.decode(
            token,
            key,
            # RFC 9068 section 2.1: RS256 must be supported; tokengate's
            # default signing key is ES256. Never "none" or HS256.
            algorithms=["RS256", "ES256"],
            audience=case.get("audience"),
            issuer=issuer,
            options=options,
        )
    else:
        raise ValueError("unknown kind %r" % case["kind"])
    return {"ok": True, "header": header, "claims": claims}


def main():
    issuer, jwks_uri, cases_path = sys.argv[1:4]
    with open(cases_path) as f:
        cases = json.load(f)
    with urllib.request.urlopen(jwks_uri) as r:
        jwks = json.load(r)
    results = []
    for case in cases:
        try:
            results.append(check(case, issuer, jwks))
        except Exception as e:  # report every case, then fail
            results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(results, sys.stdout)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
