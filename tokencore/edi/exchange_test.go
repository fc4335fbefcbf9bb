package edi

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

// The demo secrets of the issue.
const (
	aliceSecret = "R9arQwYMFqdgVVYt7jqcsxfyPyU"
	bobSecret   = "VCR0K0lppvds2QaXdpiJxjKuVxc"
	groupSecret = "_2AimSpCMGxV0ah_hW6SYBA3X7c"
)

// seed stores alice, bob, demo-group and their keys through the manager.
func (f *fixture) seed() {
	f.t.Helper()
	ctx := f.t.Context()
	docs := map[string]SubjectDoc{
		aliceID: {Type: "profile", CommonName: ptr("Alice Demo"), Email: ptr("alice@example.org"), IdPName: ptr("ldap"), IdPUID: ptr(aliceUID),
			Links: []LinkDoc{{EDIID: "EDI-f91e50ff19832113d40f436ae2d320add9f511fb", LinkedAt: 1_690_000_000, IdPName: ptr("orcid"), IdPUID: ptr(aliceLink)}}},
		bobID: {Type: "profile", IdPName: ptr("github"), IdPUID: ptr(bobUID)},
	}
	for id, d := range docs {
		if _, _, err := f.m.PutSubject(ctx, id, d); err != nil {
			f.t.Fatal(err)
		}
	}
	if _, _, err := f.m.PutSubject(ctx, groupID, SubjectDoc{Type: "group", Name: "demo-group", Owner: aliceID}); err != nil {
		f.t.Fatal(err)
	}
	for _, k := range []*tokencore.EDIAPIKey{
		{ID: "alice-key", Owner: aliceID, Name: "alice", SecretHash: tokencore.APIKeyHash(aliceSecret)},
		{ID: "bob-key", Owner: bobID, Name: "bob", SecretHash: tokencore.APIKeyHash(bobSecret)},
		{ID: "group-key", Owner: aliceID, Group: groupID, Name: "group", SecretHash: tokencore.APIKeyHash(groupSecret)},
	} {
		if _, err := f.m.ImportKey(ctx, k); err != nil {
			f.t.Fatal(err)
		}
	}
}

func keyBody(key string) string {
	b, _ := json.Marshal(map[string]string{"key": key})
	return string(b)
}

// TestKeyErrorTable covers every row of spec §6.4.
func TestKeyErrorTable(t *testing.T) {
	f := newFixture(t)
	f.seed()
	ctx := t.Context()
	mk := func(id, secret, from, to string) {
		t.Helper()
		k := &tokencore.EDIAPIKey{ID: id, Owner: bobID, Name: id, SecretHash: tokencore.APIKeyHash(secret)}
		var err error
		if from != "" {
			if k.ValidFrom, err = ParseValidity(from, false, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		if to != "" {
			if k.ValidTo, err = ParseValidity(to, true, time.UTC); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.m.ImportKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	day := testNow.Format(time.DateOnly)
	mk("expired", "expired-secret-0000000000000", "2020-01-01", testNow.AddDate(0, 0, -1).Format(time.DateOnly))
	mk("future", "future-secret-00000000000000", testNow.Add(time.Second).Format(time.RFC3339), "")
	mk("ends-today", "ends-today-secret-0000000000", "2020-01-01", day) // inclusive end date
	mk("revoked", "revoked-secret-0000000000000", "", "")
	if _, err := f.m.RevokeKey(ctx, "revoked"); err != nil {
		t.Fatal(err)
	}
	mk("orphan", "orphan-secret-00000000000000", "", "")
	// A group key whose group changed hands, and one whose owner profile
	// became a group record: both refused like unknown keys.
	if _, _, err := f.m.PutSubject(ctx, groupID, SubjectDoc{Type: "group", Name: "demo-group", Owner: bobID}); err != nil {
		t.Fatal(err)
	}

	const invalidKey = `{"msg":"Invalid API key","method":"getTokenByKey"}`
	for _, tc := range []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"not JSON", `{"key": "x",}`, 400, "Bad request: Invalid JSON in request body"},
		{"empty body", ``, 400, "Bad request: Invalid JSON in request body"},
		{"form body", `key=` + aliceSecret, 400, "Bad request: Invalid JSON in request body"},
		{"array", `["` + aliceSecret + `"]`, 400, "Bad request: "},
		{"key number", `{"key": 1}`, 400, "Bad request: "},
		{"key null", `{"key": null}`, 400, "Bad request: "},
		{"key missing", `{}`, 400, "Bad request: Missing field in JSON in request body: 'key'"},
		{"key as api_key", `{"api_key":"` + aliceSecret + `"}`, 400, "Bad request: Missing field in JSON in request body: 'key'"},
		{"key as token", `{"token":"` + aliceSecret + `"}`, 400, "Bad request: Missing field in JSON in request body: 'key'"},
		{"unknown", keyBody("R9arQwYMFqdgVVYt7jqcsxfyPyV"), 401, invalidKey},
		{"empty key", keyBody(""), 401, invalidKey},
		{"key of 257 characters", keyBody(strings.Repeat("k", 257)), 401, invalidKey},
		{"expired", keyBody("expired-secret-0000000000000"), 401, invalidKey},
		{"not yet valid", keyBody("future-secret-00000000000000"), 401, invalidKey},
		{"revoked", keyBody("revoked-secret-0000000000000"), 401, invalidKey},
		{"group no longer owned by the key's owner", keyBody(groupSecret), 401, invalidKey},
		{"profile key", keyBody(aliceSecret), 200, msgKeyExchanged},
		{"valid until the end of its last day", keyBody("ends-today-secret-0000000000"), 200, msgKeyExchanged},
		{"key with surrounding spaces is another key", keyBody(" " + aliceSecret), 401, invalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.s.ExchangeKey(ctx, []byte(tc.body))
			if tc.status == 401 {
				if _, body := r.Encode(""); r.Status != 401 || string(body) != tc.msg {
					t.Fatalf("%d %s, want 401 %s", r.Status, body, tc.msg)
				}
				return
			}
			checkResponse(t, r, tc.status, MethodKey, tc.msg)
		})
	}
	// The owner record disappearing (replaced by a group) refuses too.
	if _, _, err := f.m.PutSubject(ctx, bobID, SubjectDoc{Type: "group", Name: "not bob", Owner: aliceID}); err != nil {
		t.Fatal(err)
	}
	if r := f.s.ExchangeSecret(ctx, bobSecret); r.Status != 401 || !errors.Is(r.Err, errKeySubject) {
		t.Fatalf("key of a vanished profile: %d %v", r.Status, r.Err)
	}
	// A closed store is unavailable: a 503 to retry, not a 401.
	if err := f.e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r := f.s.ExchangeSecret(ctx, aliceSecret)
	checkResponse(t, r, 503, MethodKey, msgUnavailable)
	if r.RetryAfter <= 0 {
		t.Error("a 503 without Retry-After")
	}
}

// TestKeyExchangeTokens checks the pairs of spec §6.2 step 5 and that they
// refresh.
func TestKeyExchangeTokens(t *testing.T) {
	f := newFixture(t)
	f.seed()
	ctx := t.Context()

	r := f.s.ExchangeSecret(ctx, aliceSecret)
	checkResponse(t, r, 200, MethodKey, msgKeyExchanged)
	c, err := f.s.ediVerifier.Verify(r.EDIToken)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Subject: aliceID, CommonName: ptr("Alice Demo"), Email: ptr("alice@example.org"),
		Principals: []string{DefaultPublicAccessID, DefaultAuthenticatedAccessID, DefaultVettedID},
		Links: []Link{{EDIID: "EDI-f91e50ff19832113d40f436ae2d320add9f511fb", LinkedAt: time.Unix(1_690_000_000, 0).UTC(),
			IdPName: ptr("orcid"), IdPUID: ptr(aliceLink)}},
		IdPName: ptr("ldap"), IdPUID: ptr(aliceUID), Issuer: DefaultIssuer, HostedDomain: DefaultHostedDomain,
		IssuedAt: testNow, NotBefore: testNow, ExpiresAt: testNow.Add(8 * time.Hour),
	}
	slices.Sort(want.Principals)
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("alice's claims\n got %+v\nwant %+v", c, want)
	}
	p, err := f.s.pastaVerifier.Verify(r.PastaToken)
	if err != nil {
		t.Fatal(err)
	}
	if !samePasta(p, NewPastaToken(aliceUID, testNow.Add(8*time.Hour), "vetted", "authenticated")) {
		t.Fatalf("alice's PASTA token %+v", p)
	}
	if r := f.s.RefreshPair(r.PastaToken, r.EDIToken); r.Status != 200 {
		t.Fatalf("refreshing alice's pair: %d %s", r.Status, r.Msg)
	}

	r = f.s.ExchangeSecret(ctx, bobSecret)
	checkResponse(t, r, 200, MethodKey, msgKeyExchanged)
	p, _ = f.s.pastaVerifier.Verify(r.PastaToken)
	if !samePasta(p, NewPastaToken(bobUID, testNow.Add(8*time.Hour), "authenticated")) {
		t.Fatalf("bob's PASTA token %+v", p)
	}

	r = f.s.ExchangeSecret(ctx, groupSecret)
	checkResponse(t, r, 200, MethodKey, msgKeyExchanged)
	c, _ = f.s.ediVerifier.Verify(r.EDIToken)
	wantGroup := Claims{Subject: groupID, CommonName: ptr("demo-group"), Principals: []string{}, Links: []Link{},
		Issuer: DefaultIssuer, HostedDomain: DefaultHostedDomain, IssuedAt: testNow, NotBefore: testNow, ExpiresAt: testNow.Add(8 * time.Hour)}
	if !reflect.DeepEqual(c, wantGroup) {
		t.Fatalf("group claims\n got %+v\nwant %+v", c, wantGroup)
	}
	p, _ = f.s.pastaVerifier.Verify(r.PastaToken)
	if !samePasta(p, NewPastaToken("public", testNow.Add(8*time.Hour))) {
		t.Fatalf("group PASTA token %+v", p)
	}
	if r := f.s.RefreshPair(r.PastaToken, r.EDIToken); r.Status != 200 {
		t.Fatalf("refreshing the group pair: %d %s", r.Status, r.Msg)
	}

	// A changed record shows at the next exchange.
	if _, _, err := f.m.PutSubject(ctx, bobID, SubjectDoc{Type: "profile", CommonName: ptr("Robert"), IdPName: ptr("github"), IdPUID: ptr(bobUID)}); err != nil {
		t.Fatal(err)
	}
	c, _ = f.s.ediVerifier.Verify(f.s.ExchangeSecret(ctx, bobSecret).EDIToken)
	if c.CommonName == nil || *c.CommonName != "Robert" {
		t.Fatalf("cn after the record changed: %v", c.CommonName)
	}
}

// TestKeyUsage: uses are counted asynchronously, and every one arrives.
func TestKeyUsage(t *testing.T) {
	f := newFixture(t)
	f.seed()
	ctx := t.Context()
	const n = 25
	done := make(chan int, n)
	for range n {
		go func() { done <- f.s.ExchangeSecret(ctx, aliceSecret).Status }()
	}
	for range n {
		if s := <-done; s != 200 {
			t.Fatalf("exchange %d", s)
		}
	}
	f.s.FlushUsage()
	k, err := f.m.GetKey(ctx, "alice-key")
	if err != nil {
		t.Fatal(err)
	}
	if k.UseCount != n || !k.LastUsed.Equal(testNow) {
		t.Fatalf("use_count %d last_used %s, want %d %s", k.UseCount, k.LastUsed, n, testNow)
	}
	// Failed exchanges count nothing.
	if _, err := f.m.RevokeKey(ctx, "alice-key"); err != nil {
		t.Fatal(err)
	}
	f.s.ExchangeSecret(ctx, aliceSecret)
	f.s.FlushUsage()
	if k, _ := f.m.GetKey(ctx, "alice-key"); k.UseCount != n {
		t.Fatalf("use_count after a refused exchange: %d", k.UseCount)
	}
}

// TestUsageWriteFailure: a failing store does not fail the exchange and is
// reported to OnUsageError.
func TestUsageWriteFailure(t *testing.T) {
	errs := make(chan error, 10)
	u := newUsageRecorder(closedStore(t), func(err error) { errs <- err })
	u.record("k", testNow)
	u.flush()
	select {
	case err := <-errs:
		if !errors.Is(err, tokencore.ErrStoreClosed) {
			t.Fatalf("reported %v", err)
		}
	default:
		t.Fatal("the write failure was not reported")
	}
}

func closedStore(t *testing.T) tokencore.Store {
	s := memory.New()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s
}
