package folio

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
)

const uid = "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"

func mustSign(t *testing.T, f *Service, tenant, sub, user string) Tokens {
	t.Helper()
	v, ferr := f.Sign(context.Background(), tenant, SignPayload{Subject: sub, UserID: user})
	if ferr != nil {
		t.Fatal(ferr)
	}
	return v.(Tokens)
}

func TestFolioSignAndRotate(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newTestEngine(t, clk)
	f := New(e, Config{})
	ctx := context.Background()
	p := mustSign(t, f, "diku", "alice", uid)
	v := e.Verifier(tokencore.VerifierOptions{})
	c, err := v.Verify(p.AccessToken, "diku")
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.UserID != uid || c.Tenant != "diku" || c.ExpiresAt-c.IssuedAt != 600 || c.GrantID == "" {
		t.Fatalf("claims %+v", c)
	}
	if got := p.RefreshTokenExpiration.Sub(clk.t.Truncate(time.Second)); got != tokencore.DefaultRefreshTTL {
		t.Fatalf("refresh ttl %v", got)
	}
	g, err := e.Store.GrantByTokenHash(ctx, tokencore.TokenHash(p.RefreshToken))
	if err != nil || g.ID != c.GrantID || g.Kind != tokencore.GrantKindFolio {
		t.Fatalf("grant by refresh hash: %v %+v", err, g)
	}

	clk.t = clk.t.Add(time.Minute)
	p2, ferr := f.Refresh(ctx, "diku", "", p.RefreshToken)
	if ferr != nil {
		t.Fatal(ferr)
	}
	if p2.RefreshToken == p.RefreshToken || !p2.RefreshTokenExpiration.After(p.RefreshTokenExpiration) {
		t.Fatal("refresh did not rotate with a sliding expiry")
	}
	// The grant now names the new tokens only.
	if _, err := e.Store.GrantByTokenHash(ctx, tokencore.TokenHash(p.RefreshToken)); !errors.Is(err, tokencore.ErrNotFound) {
		t.Fatalf("old refresh hash still indexed: %v", err)
	}
	// Replay: 401, the whole user is logged out, access tokens included.
	other := mustSign(t, f, "diku", "alice", uid)
	_, ferr = f.Refresh(ctx, "diku", "", p.RefreshToken)
	if ferr == nil || ferr.Status != http.StatusUnauthorized || ferr.Message != "Invalid token" || !errors.Is(ferr, tokencore.ErrRefreshReused) {
		t.Fatalf("replay: %v", ferr)
	}
	// The security log learns what the replay revoked: both of alice's grants.
	var replay *tokencore.ReplayError
	if !errors.As(ferr, &replay) || replay.Protocol != "folio" || replay.Revoked != 2 || replay.UserID != uid || replay.Tenant != "diku" {
		t.Fatalf("replay %+v", replay)
	}
	for _, tok := range []string{p2.RefreshToken, other.RefreshToken} {
		if _, ferr := f.Refresh(ctx, "diku", "", tok); ferr == nil || ferr.Status != 401 {
			t.Fatalf("sibling refresh token survived the replay: %v", ferr)
		}
	}
	for _, tok := range []string{p2.AccessToken, other.AccessToken} {
		if _, err := v.Verify(tok, "diku"); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("access token survived the replay: %v", err)
		}
	}
}

func TestFolioRefreshRules(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newTestEngine(t, clk)
	f := New(e, Config{TTL: tokencore.TTLPolicy{Tenants: map[string]tokencore.TokenTTL{"short": {Access: time.Second, Refresh: 2 * time.Second}}}})
	ctx := context.Background()
	p := mustSign(t, f, "diku", "alice", uid)
	short := mustSign(t, f, "short", "alice", uid)
	foreignKS, _ := testKeys(t)
	foreign, _ := foreignKS.Seal([]byte(`{"type":"refresh","jti":"x","sub":"a","exp":99999999999}`))
	wrongType, _ := e.Keys.Seal([]byte(`{"type":"access","jti":"x","sub":"a","exp":99999999999}`))

	tests := []struct {
		name     string
		tenant   string
		userHdr  string
		token    string
		advance  time.Duration
		status   int
		sentinel error
	}{
		{"access token is not a refresh token", "diku", "", p.AccessToken, 0, 401, tokencore.ErrTokenWrongType},
		{"JWE of another key", "diku", "", foreign, 0, 401, tokencore.ErrTokenSignature},
		{"JWE of another type", "diku", "", wrongType, 0, 401, tokencore.ErrTokenWrongType},
		{"garbage", "diku", "", "x.y", 0, 401, tokencore.ErrTokenMalformed},
		{"other tenant", "other", "", p.RefreshToken, 0, 403, tokencore.ErrTokenWrongTenant},
		{"user id header mismatch", "diku", "someone", p.RefreshToken, 0, 403, tokencore.ErrTokenMalformed},
		{"expired", "short", "", short.RefreshToken, 3 * time.Second, 401, tokencore.ErrTokenExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.t = clk.t.Add(tc.advance)
			_, ferr := f.Refresh(ctx, tc.tenant, tc.userHdr, tc.token)
			if ferr == nil || ferr.Status != tc.status || !errors.Is(ferr, tc.sentinel) {
				t.Fatalf("got %v, want %d %v", ferr, tc.status, tc.sentinel)
			}
		})
	}
	// None of those consumed the valid token.
	if _, ferr := f.Refresh(ctx, "diku", "", p.RefreshToken); ferr != nil {
		t.Fatalf("valid token: %v", ferr)
	}
}

func TestFolioConcurrentRefreshOneWinner(t *testing.T) {
	e := newTestEngine(t, &clock{t: time.Now()})
	f := New(e, Config{})
	p := mustSign(t, f, "diku", "alice", uid)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, losses := 0, 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ferr := f.Refresh(context.Background(), "diku", "", p.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			if ferr == nil {
				wins++
			} else if ferr.Status == 401 {
				losses++
			}
		}()
	}
	wg.Wait()
	if wins != 1 || losses != 49 {
		t.Fatalf("wins %d losses %d", wins, losses)
	}
}

func TestFolioGraceWindow(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newTestEngine(t, clk)
	f := New(e, Config{RefreshGrace: 10 * time.Second})
	ctx := context.Background()
	p := mustSign(t, f, "diku", "alice", uid)
	a, ferr := f.Refresh(ctx, "diku", "", p.RefreshToken)
	if ferr != nil {
		t.Fatal(ferr)
	}
	clk.t = clk.t.Add(5 * time.Second)
	b, ferr := f.Refresh(ctx, "diku", "", p.RefreshToken)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if ferr != nil || string(ja) != string(jb) {
		t.Fatalf("within grace: %v\n%s\n%s", ferr, ja, jb)
	}
	// After the window the old token is a replay.
	clk.t = clk.t.Add(6 * time.Second)
	if _, ferr := f.Refresh(ctx, "diku", "", p.RefreshToken); ferr == nil || ferr.Status != 401 {
		t.Fatalf("after grace: %v", ferr)
	}
	if _, ferr := f.Refresh(ctx, "diku", "", a.RefreshToken); ferr == nil {
		t.Fatal("replay after grace did not revoke the successor")
	}
}

func TestFolioInvalidateAndInvalidateAll(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newTestEngine(t, clk)
	f := New(e, Config{})
	ctx := context.Background()
	v := e.Verifier(tokencore.VerifierOptions{})
	s1 := mustSign(t, f, "diku", "alice", uid)
	s2 := mustSign(t, f, "diku", "alice", uid)
	bob := mustSign(t, f, "diku", "bob", "b0b00000-6b3b-4f1d-9c45-0b0b3a6f8f11")

	if ferr := f.Invalidate(ctx, "other", s1.RefreshToken); ferr == nil || ferr.Status != 403 {
		t.Fatalf("cross-tenant invalidate: %v", ferr)
	}
	if ferr := f.Invalidate(ctx, "diku", "junk"); ferr == nil || ferr.Status != 401 {
		t.Fatalf("junk invalidate: %v", ferr)
	}
	if ferr := f.Invalidate(ctx, "diku", s1.RefreshToken); ferr != nil {
		t.Fatal(ferr)
	}
	if _, err := v.Verify(s1.AccessToken, "diku"); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Fatalf("invalidated session's access token: %v", err)
	}
	if _, err := v.Verify(s2.AccessToken, "diku"); err != nil {
		t.Fatalf("other session affected: %v", err)
	}
	if ferr := f.InvalidateAll(ctx, "diku", s1.RefreshToken); ferr == nil || ferr.Status != 401 {
		t.Fatalf("invalidate-all with a refresh token: %v", ferr)
	}
	if ferr := f.InvalidateAll(ctx, "diku", s2.AccessToken); ferr != nil {
		t.Fatal(ferr)
	}
	if _, err := v.Verify(s2.AccessToken, "diku"); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Fatalf("after invalidate-all: %v", err)
	}
	if _, ferr := f.Refresh(ctx, "diku", "", s2.RefreshToken); ferr == nil {
		t.Fatal("refresh after invalidate-all")
	}
	if _, err := v.Verify(bob.AccessToken, "diku"); err != nil {
		t.Fatalf("another user affected: %v", err)
	}
	// The revocations are persisted: a fresh view loaded from the store
	// refuses the same tokens.
	rs, err := e.Store.Revocations(ctx, clk.t)
	if err != nil {
		t.Fatal(err)
	}
	view := tokencore.NewRevocationView()
	view.Load(rs)
	v2 := tokencore.NewVerifier(e.Keys, nil, view, tokencore.VerifierOptions{}, clk.now)
	for _, tok := range []string{s1.AccessToken, s2.AccessToken} {
		if _, err := v2.Verify(tok, "diku"); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("reloaded view: %v", err)
		}
	}
}

func TestFolioLegacyEndpoints(t *testing.T) {
	e := newTestEngine(t, &clock{t: time.Now()})
	ctx := context.Background()
	off := New(e, Config{})
	if _, ferr := off.Legacy(ctx, "diku", SignPayload{Subject: "a"}); ferr == nil || ferr.Status != 404 || ferr.Message != legacyOffMessage {
		t.Fatalf("legacy off: %v", ferr)
	}
	on := New(e, Config{LegacyTenants: []string{"diku"}})
	tok, ferr := on.Legacy(ctx, "diku", SignPayload{Subject: "a", UserID: uid})
	if ferr != nil {
		t.Fatal(ferr)
	}
	if _, err := e.Verifier(tokencore.VerifierOptions{}).Verify(tok, "diku"); !errors.Is(err, tokencore.ErrTokenWrongType) {
		t.Fatalf("legacy token accepted without accept_legacy: %v", err)
	}
	c, err := e.Verifier(tokencore.VerifierOptions{AcceptLegacy: true}).Verify(tok, "diku")
	if err != nil || c.ExpiresAt != 0 || c.Type != tokencore.TypeLegacyAccess {
		t.Fatalf("legacy token: %v %+v", err, c)
	}
	rt, ferr := on.LegacyRefresh(ctx, "diku", uid, "a")
	if ferr != nil {
		t.Fatal(ferr)
	}
	if _, ferr := on.Refresh(ctx, "diku", "", rt); ferr != nil {
		t.Fatalf("legacy refresh token does not refresh: %v", ferr)
	}
}

func TestDecodeFolioRequests(t *testing.T) {
	signCases := []struct {
		body string
		ok   bool
	}{
		{`{"payload":{"sub":"a","user_id":"u","extra":1}}`, true},
		{`{"payload":{"sub":"a","dummy":true,"extra_permissions":["x"]}}`, true},
		{`{"payload":{"sub":"a"},"other":1}`, false},
		{`{"payload":{}}`, false},
		{`{"payload":{"sub":""}}`, false},
		{`{"payload":{"sub":1}}`, false},
		{`{"payload":"x"}`, false},
		{`{"payload":{"sub":"a","dummy":"true"}}`, false},
		{`{"payload":{"sub":"a","extra_permissions":"x"}}`, false},
		{`{"payload":{"sub":"a"}} {}`, false},
		{`[]`, false},
		{`null`, false},
		{``, false},
		// The payload becomes claims: duplicate members are refused (docs/security.md).
		{`{"payload":{"sub":"a","sub":"admin"}}`, false},
		{`{"payload":{"sub":"a","SUB":"admin"}}`, false},
		{`{"payload":{"sub":"a"},"payload":{"sub":"admin"}}`, false},
		{`{"payload":{"sub":"a","extra":{"x":1,"x":2}}}`, false},
	}
	for _, tc := range signCases {
		_, ferr := DecodeSignRequest([]byte(tc.body))
		if (ferr == nil) != tc.ok || (ferr != nil && ferr.Status != 400) {
			t.Errorf("DecodeSignRequest(%s) = %v, ok want %v", tc.body, ferr, tc.ok)
		}
	}
	for body, ok := range map[string]bool{
		`{"refreshToken":"x"}`: true, `{"refreshToken":""}`: false, `{"refreshToken":1}`: false,
		`{"refreshToken":"x","a":1}`: false, `{}`: false, `x`: false, `{"refreshToken":"x","refreshToken":"y"}`: false,
	} {
		if _, ferr := DecodeRefreshRequest([]byte(body)); (ferr == nil) != ok {
			t.Errorf("DecodeRefreshRequest(%s) = %v", body, ferr)
		}
	}
	for body, ok := range map[string]bool{
		`{"userId":"u","sub":"s"}`: true, `{"user_id":"u","sub":"s"}`: false, `{"userId":"u"}`: false,
	} {
		if _, _, ferr := DecodeLegacyRefreshRequest([]byte(body)); (ferr == nil) != ok {
			t.Errorf("DecodeLegacyRefreshRequest(%s) = %v", body, ferr)
		}
	}
}

func BenchmarkFolioRefreshBolt(b *testing.B) {
	ks, _ := testKeys(b)
	st, err := bolt.Open(filepath.Join(b.TempDir(), "tg.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := &tokencore.Engine{Keys: ks, Store: st, View: tokencore.NewRevocationView()}
	f := New(e, Config{})
	ctx := context.Background()
	b.SetParallelism(8) // 8 x GOMAXPROCS concurrent refresh chains, as from many clients
	b.RunParallel(func(pb *testing.PB) {
		v, ferr := f.Sign(ctx, "diku", SignPayload{Subject: "a", UserID: uid})
		if ferr != nil {
			b.Fatal(ferr)
		}
		rt := v.(Tokens).RefreshToken
		for pb.Next() {
			p, ferr := f.Refresh(ctx, "diku", "", rt)
			if ferr != nil {
				b.Fatal(ferr)
			}
			rt = p.RefreshToken
		}
	})
}

// TestFolioRefreshRefusesOtherGrantsWithoutConsuming: a refresh token of
// an OAuth grant (minted here directly, as the OAuth service does) at
// FOLIO's refresh and invalidate is 401, is not a replay, and leaves the
// grant exactly as it was.
func TestFolioRefreshRefusesOtherGrantsWithoutConsuming(t *testing.T) {
	clk := &clock{t: time.Unix(1_900_000_000, 0)}
	e := newTestEngine(t, clk)
	f := New(e, Config{})
	ctx := context.Background()
	now := clk.t
	g := &tokencore.Grant{ID: tokencore.NewGrantID(), Kind: tokencore.GrantKindOAuth, Subject: "alice", ClientID: "web", Status: tokencore.GrantActive, CreatedAt: now}
	tok, err := e.MintTokens(g, tokencore.MintSpec{AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour, WithRefresh: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	tok.Apply(g, now, false)
	if err := e.Store.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Store.GetGrant(ctx, g.ID)
	for _, tenant := range []string{"", "diku"} {
		if _, ferr := f.Refresh(ctx, tenant, "", tok.RefreshToken); ferr == nil || ferr.Status != http.StatusUnauthorized ||
			!errors.Is(ferr, tokencore.ErrWrongProtocol) || errors.Is(ferr, tokencore.ErrRefreshReused) {
			t.Errorf("refresh with tenant %q: %v", tenant, ferr)
		}
		if ferr := f.Invalidate(ctx, tenant, tok.RefreshToken); ferr == nil || !errors.Is(ferr, tokencore.ErrWrongEndpoint) {
			t.Errorf("invalidate with tenant %q: %v", tenant, ferr)
		}
	}
	after, _ := e.Store.GetGrant(ctx, g.ID)
	if after.Status != tokencore.GrantActive || after.RefreshID != before.RefreshID || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("the refused attempts changed the grant: %+v", after)
	}
	if _, err := e.Verifier(tokencore.VerifierOptions{}).Verify(tok.AccessToken, ""); err != nil {
		t.Fatalf("access token after the refused attempts: %v", err)
	}
	if rs, _ := e.Store.Revocations(ctx, now); len(rs) != 0 {
		t.Fatalf("the refused attempts stored revocations: %+v", rs)
	}
}

// TestInvalidateAllOutlivesEveryPath: the user revocation of
// invalidate-all lasts the longest access lifetime of any path of the
// engine, not only FOLIO's.
func TestInvalidateAllOutlivesEveryPath(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	// FOLIO invalidate-all: a tenant with 10 min tokens, but another path
	// of the same engine issues 1 h tokens.
	clk := &clock{t: now}
	fe := newTestEngine(t, clk)
	fe.DeclareAccessLifetime(time.Hour)
	f := New(fe, Config{TTL: tokencore.TTLPolicy{Default: tokencore.TokenTTL{Access: 10 * time.Minute}}})
	p := mustSign(t, f, "diku", "alice", uid)
	if ferr := f.InvalidateAll(context.Background(), "diku", p.AccessToken); ferr != nil {
		t.Fatal(ferr)
	}
	rs, _ := fe.Store.Revocations(context.Background(), now)
	var user *tokencore.Revocation
	for i := range rs {
		if rs[i].Kind == tokencore.RevocationOfUser {
			user = &rs[i]
		}
	}
	if user == nil || !user.ExpiresAt.Equal(now.Add(time.Hour+tokencore.RevocationMargin)) {
		t.Fatalf("user revocation %+v, want expiry %v", user, now.Add(time.Hour+tokencore.RevocationMargin))
	}
}

func TestGrantUserID(t *testing.T) {
	for in, want := range map[string]string{
		"a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11":  "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11",
		"A6E5EC3A-6B3B-4F1D-9C45-0B0B3A6F8F11":  "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11",
		"00000000-0000-0000-0000-000000000000":  "00000000-0000-0000-0000-000000000000",
		"u1":                                    "",
		"":                                      "",
		"a6e5ec3a6b3b4f1d9c450b0b3a6f8f11":      "", // no dashes: PostgreSQL takes it, mod-login never sends it
		"{a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f1}": "",
		"a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f1g":  "",
		"a6e5ec3a-6b3b-4f1d-9c45_0b0b3a6f8f11":  "",
		"urn:uuid:a6e5ec3a-6b3b-4f1d-9c45-0b0b": "",
	} {
		got, ok := GrantUserID(in)
		if got != want || ok != (want != "") {
			t.Errorf("GrantUserID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestSignRefusesANonUUIDUserAndLowersUpperCase(t *testing.T) {
	e := newTestEngine(t, &clock{t: time.Now()})
	f := New(e, Config{})
	ctx := context.Background()
	if _, ferr := f.Sign(ctx, "diku", SignPayload{Subject: "alice", UserID: "alice"}); ferr == nil || ferr.Status != 400 {
		t.Fatalf("non-UUID user_id: %v", ferr)
	}
	if _, ferr := f.LegacyRefresh(ctx, "diku", "alice", "alice"); ferr == nil || ferr.Status != 400 {
		t.Fatalf("non-UUID userId at /refreshtoken: %v", ferr)
	}
	v, ferr := f.Sign(ctx, "diku", SignPayload{Subject: "alice", UserID: strings.ToUpper(uid)})
	if ferr != nil {
		t.Fatal(ferr)
	}
	c, err := e.Verifier(tokencore.VerifierOptions{}).Verify(v.(Tokens).AccessToken, "diku")
	if err != nil || c.UserID != uid {
		t.Fatalf("user_id %q, %v", c.UserID, err)
	}
	// No grant, no rule: a dummy token and a legacy token take any user.
	if _, ferr := f.Sign(ctx, "diku", SignPayload{Subject: "x", UserID: "x", Dummy: true}); ferr != nil {
		t.Fatalf("dummy: %v", ferr)
	}
}
