package tokencore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys returns an ES256 key set and its signer.
func testKeys(t testing.TB) (*KeySet, *Key) {
	t.Helper()
	k, _, err := GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	refreshKey := make([]byte, 32)
	_, _ = rand.Read(refreshKey)
	ks, err := NewKeySet(k, nil, refreshKey)
	if err != nil {
		t.Fatal(err)
	}
	return ks, k
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestVerifier(t *testing.T) {
	ks, signer := testKeys(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	now := clk.t.Unix()
	access := AccessClaims{Type: TypeAccess, IssuedAt: now, Tenant: "diku", Subject: "alice", UserID: "u1", Expiry: now + 600, ID: "j1", GrantID: "g1"}
	sign := func(c jwt.Claims) string {
		s, err := ks.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	withType := func(typ string) AccessClaims { c := access; c.Type = typ; return c }
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign := jwt.NewWithClaims(jwt.SigningMethodES256, access)
	foreign.Header["kid"] = signer.ID
	foreignTok, _ := foreign.SignedString(otherKey)
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, access).SignedString(jwt.UnsafeAllowNoneSignatureType)
	pub, _ := signer.public.(*ecdsa.PublicKey).Bytes()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, access)
	hs.Header["kid"] = signer.ID
	hsTok, _ := hs.SignedString(pub)
	badKid := jwt.NewWithClaims(jwt.SigningMethodES256, access)
	badKid.Header["kid"] = "nope"
	badKidTok, _ := badKid.SignedString(otherKey)
	nbf := jwt.MapClaims{"type": "access", "sub": "a", "exp": now + 100, "nbf": now + 50}
	refreshJWE, _ := ks.Seal([]byte(`{"type":"refresh"}`))
	// RFC 9068 access tokens, and tokens whose typ says they are no access
	// token whatever their claims.
	typed := func(typ string, c jwt.Claims) string {
		s, err := ks.SignTyped(signer, typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	atjwt := access
	atjwt.Issuer, atjwt.ClientID, atjwt.Scope, atjwt.Audience = "https://auth.example.org", "web", "api.read", []string{"https://api.example.org"}
	without := func(edit func(c *AccessClaims)) AccessClaims { c := atjwt; edit(&c); return c }
	idToken := jwt.MapClaims{"type": TypeID, "iss": "https://auth.example.org", "sub": "alice", "aud": []string{"web"}, "azp": "web", "exp": now + 600, "iat": now}
	typNumber := jwt.NewWithClaims(jwt.SigningMethodES256, access)
	typNumber.Header["kid"], typNumber.Header["typ"] = signer.ID, 7
	typNumberTok, _ := typNumber.SignedString(signer.signer)

	tests := []struct {
		name   string
		token  string
		tenant string
		opts   VerifierOptions
		want   error
	}{
		{"valid", sign(access), "diku", VerifierOptions{}, nil},
		{"any tenant", sign(access), "", VerifierOptions{}, nil},
		{"wrong tenant", sign(access), "other", VerifierOptions{}, ErrTokenWrongTenant},
		{"expired", sign(func() AccessClaims { c := access; c.Expiry = now; return c }()), "", VerifierOptions{}, ErrTokenExpired},
		{"expired within leeway", sign(func() AccessClaims { c := access; c.Expiry = now - 5; return c }()), "", VerifierOptions{Leeway: 10 * time.Second}, nil},
		{"not yet valid", sign(nbf), "", VerifierOptions{}, ErrTokenNotYetValid},
		{"foreign key with our kid", foreignTok, "", VerifierOptions{}, ErrTokenSignature},
		{"unknown kid", badKidTok, "", VerifierOptions{}, ErrTokenSignature},
		{"alg none", noneTok, "", VerifierOptions{}, ErrTokenSignature},
		{"HS256 with the public key", hsTok, "", VerifierOptions{}, ErrTokenSignature},
		{"refresh JWE", refreshJWE, "", VerifierOptions{}, ErrTokenWrongType},
		{"dummy", sign(withType(TypeDummyExpiring)), "", VerifierOptions{}, ErrTokenWrongType},
		{"legacy refused by default", sign(AccessClaims{Type: TypeLegacyAccess, Subject: "a", IssuedAt: now}), "", VerifierOptions{}, ErrTokenWrongType},
		{"legacy accepted", sign(AccessClaims{Type: TypeLegacyAccess, Subject: "a", IssuedAt: now}), "", VerifierOptions{AcceptLegacy: true}, nil},
		{"untyped with aud is not legacy", sign(jwt.MapClaims{"sub": "a", "aud": "x"}), "", VerifierOptions{AcceptLegacy: true}, ErrTokenWrongType},
		{"access without exp", sign(func() AccessClaims { c := access; c.Expiry = 0; return c }()), "", VerifierOptions{}, ErrTokenMalformed},
		{"sub of wrong type", sign(jwt.MapClaims{"type": "access", "sub": 5, "exp": now + 10}), "", VerifierOptions{}, ErrTokenMalformed},
		{"at+jwt", typed(TypAccessJWT, atjwt), "diku", VerifierOptions{}, nil},
		{"application/at+jwt, any case", typed("application/AT+JWT", atjwt), "", VerifierOptions{}, nil},
		{"at+jwt without the type claim", typed(TypAccessJWT, without(func(c *AccessClaims) { c.Type = "" })), "", VerifierOptions{}, nil},
		{"typ JWT", typed("JWT", access), "", VerifierOptions{}, nil},
		{"at+jwt without client_id", typed(TypAccessJWT, without(func(c *AccessClaims) { c.ClientID = "" })), "", VerifierOptions{}, ErrTokenMalformed},
		{"at+jwt without iss", typed(TypAccessJWT, without(func(c *AccessClaims) { c.Issuer = "" })), "", VerifierOptions{}, ErrTokenMalformed},
		{"at+jwt without jti", typed(TypAccessJWT, without(func(c *AccessClaims) { c.ID = "" })), "", VerifierOptions{}, ErrTokenMalformed},
		{"at+jwt without iat", typed(TypAccessJWT, without(func(c *AccessClaims) { c.IssuedAt = 0 })), "", VerifierOptions{}, ErrTokenMalformed},
		{"at+jwt without exp", typed(TypAccessJWT, without(func(c *AccessClaims) { c.Expiry = 0 })), "", VerifierOptions{}, ErrTokenMalformed},
		{"at+jwt of type refresh", typed(TypAccessJWT, without(func(c *AccessClaims) { c.Type = TypeRefresh })), "", VerifierOptions{}, ErrTokenWrongType},
		{"at+jwt of type id", typed(TypAccessJWT, without(func(c *AccessClaims) { c.Type = TypeID })), "", VerifierOptions{}, ErrTokenWrongType},
		{"aud of the wrong type", typed(TypAccessJWT, jwt.MapClaims{"type": "access", "sub": "a", "exp": now + 10, "aud": []any{1}}), "", VerifierOptions{}, ErrTokenMalformed},
		{"ID token", sign(idToken), "", VerifierOptions{AcceptLegacy: true}, ErrTokenWrongType},
		{"access claims in a logout token", typed("logout+jwt", access), "", VerifierOptions{}, ErrTokenWrongType},
		{"access claims in a DPoP proof", typed("dpop+jwt", access), "", VerifierOptions{}, ErrTokenWrongType},
		{"access claims typed as an ID token", typed("id_token+jwt", access), "", VerifierOptions{AcceptLegacy: true}, ErrTokenWrongType},
		{"typ not a string", typNumberTok, "", VerifierOptions{}, ErrTokenMalformed},
		{"garbage", "a.b.c", "", VerifierOptions{}, ErrTokenMalformed},
		{"two parts", "a.b", "", VerifierOptions{}, ErrTokenMalformed},
		{"oversized", strings.Repeat("a", MaxTokenBytes+1), "", VerifierOptions{}, ErrTokenMalformed},
		{"empty", "", "", VerifierOptions{}, ErrTokenMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, cached := range []bool{false, true} {
				var cache *VerifyCache
				if cached {
					cache, _ = NewVerifyCache(CacheConfig{MaxEntries: 100})
					defer cache.Close()
				}
				v := NewVerifier(ks, cache, NewRevocationView(), tc.opts, clk.now)
				for range 2 { // the second call may hit the cache
					_, err := v.Verify(tc.token, tc.tenant)
					if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
						t.Fatalf("cached=%v: err = %v, want %v", cached, err, tc.want)
					}
					if cache != nil {
						cache.Wait()
					}
				}
			}
		})
	}
}

func TestVerifierRevocationBeatsCache(t *testing.T) {
	ks, _ := testKeys(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	now := clk.t.Unix()
	cache, _ := NewVerifyCache(CacheConfig{MaxEntries: 100})
	defer cache.Close()
	view := NewRevocationView()
	v := NewVerifier(ks, cache, view, VerifierOptions{}, clk.now)
	mk := func(jti, fid, user string, iat int64) string {
		s, _ := ks.Sign(AccessClaims{Type: TypeAccess, IssuedAt: iat, Tenant: "t", Subject: "s-" + jti, UserID: user, Expiry: iat + 600, ID: jti, GrantID: fid})
		return s
	}
	tokGrant, tokJTI, tokUser, tokSubject := mk("j1", "g1", "u1", now), mk("j2", "g2", "u2", now), mk("j3", "g3", "u3", now-10), mk("j4", "g4", "u4", now-10)
	for _, tok := range []string{tokGrant, tokJTI, tokUser, tokSubject} {
		if _, err := v.Verify(tok, ""); err != nil {
			t.Fatal(err)
		}
	}
	cache.Wait()
	for _, tok := range []string{tokGrant, tokJTI, tokUser, tokSubject} {
		if _, err := v.Verify(tok, ""); err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := cache.Stats(); h != 4 {
		t.Fatalf("cache hits = %d, want 4", h)
	}
	exp := clk.t.Add(time.Hour)
	view.Apply(Revocation{Kind: RevocationOfGrant, Key: "g1", ExpiresAt: exp})
	view.Apply(Revocation{Kind: RevocationOfToken, Key: "j2", ExpiresAt: exp})
	view.Apply(Revocation{Kind: RevocationOfUser, Key: UserKey("t", "u3"), NotBefore: clk.t.Add(-5 * time.Second), ExpiresAt: exp})
	view.Apply(Revocation{Kind: RevocationOfSubject, Key: "s-j4", NotBefore: clk.t, ExpiresAt: exp})
	for _, tok := range []string{tokGrant, tokJTI, tokUser, tokSubject} {
		if _, err := v.Verify(tok, ""); !errors.Is(err, ErrTokenRevoked) {
			t.Fatalf("revoked token: err = %v", err)
		}
	}
	// A user revocation does not refuse tokens issued after it.
	if _, err := v.Verify(mk("j5", "g5", "u3", now), ""); err != nil {
		t.Fatalf("token issued after the user revocation refused: %v", err)
	}
	// A cached token still expires on time.
	clk.t = clk.t.Add(601 * time.Second)
	if _, err := v.Verify(mk("j6", "g6", "u6", now), ""); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("err = %v, want expired", err)
	}
	if n := view.Prune(clk.t.Add(2 * time.Hour)); n != 4 || view.Len() != 0 {
		t.Fatalf("pruned %d, left %d", n, view.Len())
	}
}

func TestCacheKeyDependsOnKeys(t *testing.T) {
	ks1, _ := testKeys(t)
	ks2, _ := testKeys(t)
	if ks1.Fingerprint() == ks2.Fingerprint() {
		t.Fatal("different key sets share a fingerprint")
	}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	cache, _ := NewVerifyCache(CacheConfig{MaxEntries: 100})
	defer cache.Close()
	tok, _ := ks1.Sign(AccessClaims{Type: TypeAccess, Subject: "a", IssuedAt: clk.t.Unix(), Expiry: clk.t.Unix() + 60})
	v1 := NewVerifier(ks1, cache, NewRevocationView(), VerifierOptions{}, clk.now)
	if _, err := v1.Verify(tok, ""); err != nil {
		t.Fatal(err)
	}
	cache.Wait()
	// The same cache behind another key set must not accept the token.
	v2 := NewVerifier(ks2, cache, NewRevocationView(), VerifierOptions{}, clk.now)
	if _, err := v2.Verify(tok, ""); !errors.Is(err, ErrTokenSignature) {
		t.Fatalf("err = %v, want signature error", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	ks, _ := testKeys(b)
	now := time.Now()
	tok, _ := ks.Sign(AccessClaims{Type: TypeAccess, IssuedAt: now.Unix(), Tenant: "diku", Subject: "alice", UserID: "u", Expiry: now.Add(time.Hour).Unix(), ID: NewTokenID(), GrantID: NewGrantID()})
	b.Run("cache-hit", func(b *testing.B) {
		cache, _ := NewVerifyCache(CacheConfig{})
		defer cache.Close()
		v := NewVerifier(ks, cache, NewRevocationView(), VerifierOptions{}, nil)
		if _, err := v.Verify(tok, "diku"); err != nil {
			b.Fatal(err)
		}
		cache.Wait()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := v.Verify(tok, "diku"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache-miss", func(b *testing.B) {
		v := NewVerifier(ks, nil, NewRevocationView(), VerifierOptions{}, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok, "diku"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMint(b *testing.B) {
	ks, _ := testKeys(b)
	e := &Engine{Keys: ks}
	g := &Grant{ID: NewGrantID(), Subject: "alice", UserID: "u", Tenant: "diku"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MintTokens(g, MintSpec{AccessTTL: time.Minute, RefreshTTL: time.Hour, WithRefresh: true}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
