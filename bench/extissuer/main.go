// Command extissuer is the external identity provider of bench/external.sh:
// on a loopback address it serves OpenID discovery and a JWK Set of one
// ES256 key it generates, prints one RFC 9068 access token (typ at+jwt,
// aud "bench") on stdout, and serves until it is killed. Loopback only.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	ttl := flag.Duration("ttl", time.Hour, "token lifetime")
	flag.Parse()
	if err := run(*addr, *ttl); err != nil {
		fmt.Fprintln(os.Stderr, "extissuer:", err)
		os.Exit(1)
	}
}

func run(addr string, ttl time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	issuer := "http://" + l.Addr().String()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bench-1", Use: "sig", Algorithm: "ES256"}}})
	if err != nil {
		return err
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": issuer, "aud": "bench", "sub": "bench-user", "client_id": "bench", "scope": "read",
		"jti": "bench-jti", "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	tok.Header["kid"], tok.Header["typ"] = "bench-1", "at+jwt"
	signed, err := tok.SignedString(key)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(jwks)
	})
	fmt.Println(issuer, signed)
	return http.Serve(l, mux)
}
