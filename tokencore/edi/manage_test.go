package edi

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

func TestValidEDIID(t *testing.T) {
	for id, want := range map[string]bool{
		aliceID:    true,
		EDIID("x"): true,
		"EDI-581f8a60cb1482332e92fb44c67078293df21d6":   false, // 39 digits
		"EDI-581f8a60cb1482332e92fb44c67078293df21d6cc": false,
		"EDI-581F8A60CB1482332E92FB44C67078293DF21D6C":  false,
		"edi-581f8a60cb1482332e92fb44c67078293df21d6c":  false,
		"EDI-581f8a60cb1482332e92fb44c67078293df21d6g":  false,
		"": false,
	} {
		if ValidEDIID(id) != want {
			t.Errorf("ValidEDIID(%q) != %v", id, want)
		}
	}
	// The demo identities are derived from their IdP uids (spec §4.2).
	if EDIID(aliceUID) != aliceID || EDIID(bobUID) != bobID {
		t.Fatalf("EDIID(alice) = %s, EDIID(bob) = %s", EDIID(aliceUID), EDIID(bobUID))
	}
}

// TestNormalizeSubject covers the record rules and defaults of spec §7.3.
func TestNormalizeSubject(t *testing.T) {
	f := newFixture(t)
	sys := []string{DefaultPublicAccessID, DefaultAuthenticatedAccessID}
	withVetted := []string{DefaultPublicAccessID, DefaultAuthenticatedAccessID, DefaultVettedID}
	sortStrings := func(s []string) []string { out := append([]string(nil), s...); slices.Sort(out); return out }
	for _, tc := range []struct {
		name        string
		id          string
		doc         SubjectDoc
		err         bool
		pastaUID    string
		pastaGroups []string
		principals  []string
	}{
		{name: "ldap profile defaults", id: aliceID, doc: SubjectDoc{Type: "profile", IdPName: ptr("ldap"), IdPUID: ptr(aliceUID)},
			pastaUID: aliceUID, pastaGroups: []string{"vetted", "authenticated"}, principals: sortStrings(withVetted)},
		{name: "github profile defaults", id: bobID, doc: SubjectDoc{Type: "profile", IdPName: ptr("github"), IdPUID: ptr(bobUID)},
			pastaUID: bobUID, pastaGroups: []string{"authenticated"}, principals: sortStrings(sys)},
		{name: "google uses the e-mail", id: aliceID, doc: SubjectDoc{Type: "profile", IdPName: ptr("google"), IdPUID: ptr("1234"), Email: ptr("a@gmail.com")},
			pastaUID: "a@gmail.com", pastaGroups: []string{"authenticated"}, principals: sortStrings(sys)},
		{name: "explicit values", id: aliceID, doc: SubjectDoc{Type: "profile", PastaUID: "x", PastaGroups: []string{"g2", "g1"}, Principals: []string{bobID, aliceID, bobID}},
			pastaUID: "x", pastaGroups: []string{"g2", "g1"}, principals: []string{bobID, aliceID}},
		{name: "explicit empty principals", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), Principals: []string{}},
			pastaUID: "u", pastaGroups: []string{"authenticated"}, principals: []string{}},
		{name: "group", id: groupID, doc: SubjectDoc{Type: "group", Name: "demo-group", Owner: aliceID}},
		{name: "bad EDI-ID", id: "EDI-1", doc: SubjectDoc{Type: "profile", IdPUID: ptr("u")}, err: true},
		{name: "body ID differs", id: aliceID, doc: SubjectDoc{EDIID: bobID, Type: "profile", IdPUID: ptr("u")}, err: true},
		{name: "no type", id: aliceID, doc: SubjectDoc{IdPUID: ptr("u")}, err: true},
		{name: "unknown type", id: aliceID, doc: SubjectDoc{Type: "robot", IdPUID: ptr("u")}, err: true},
		{name: "profile without uid", id: aliceID, doc: SubjectDoc{Type: "profile", CommonName: ptr("A")}, err: true},
		{name: "profile with public uid", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("public")}, err: true},
		{name: "uid with *", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("a*b")}, err: true},
		{name: "group name on profile", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), Name: "x"}, err: true},
		{name: "uppercase idp name", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), IdPName: ptr("LDAP")}, err: true},
		{name: "bad principal", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), Principals: []string{"public"}}, err: true},
		{name: "empty pasta group", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), PastaGroups: []string{""}}, err: true},
		{name: "long cn", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), CommonName: ptr(strings.Repeat("c", 1025))}, err: true},
		{name: "bad link", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), Links: []LinkDoc{{EDIID: "x", LinkedAt: 1}}}, err: true},
		{name: "link without time", id: aliceID, doc: SubjectDoc{Type: "profile", IdPUID: ptr("u"), Links: []LinkDoc{{EDIID: bobID}}}, err: true},
		{name: "group without owner", id: groupID, doc: SubjectDoc{Type: "group", Name: "g"}, err: true},
		{name: "group without name", id: groupID, doc: SubjectDoc{Type: "group", Owner: aliceID}, err: true},
		{name: "group with cn", id: groupID, doc: SubjectDoc{Type: "group", Name: "g", Owner: aliceID, CommonName: ptr("g")}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := f.m.NormalizeSubject(tc.id, tc.doc)
			if tc.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Type == tokencore.EDIGroup {
				if s.Name != tc.doc.Name || s.Owner != tc.doc.Owner {
					t.Fatalf("group %+v", s)
				}
				return
			}
			if s.PastaUID != tc.pastaUID || !reflect.DeepEqual(s.PastaGroups, tc.pastaGroups) || !reflect.DeepEqual(s.Principals, sortStrings(tc.principals)) {
				t.Fatalf("got uid %q groups %v principals %v; want %q %v %v", s.PastaUID, s.PastaGroups, s.Principals, tc.pastaUID, tc.pastaGroups, sortStrings(tc.principals))
			}
		})
	}
}

func TestPutSubject(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, _, err := f.m.PutSubject(ctx, groupID, SubjectDoc{Type: "group", Name: "g", Owner: aliceID}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("group of a missing owner: %v", err)
	}
	s, created, err := f.m.PutSubject(ctx, aliceID, SubjectDoc{Type: "profile", IdPUID: ptr(aliceUID)})
	if err != nil || !created || !s.CreatedAt.Equal(testNow) {
		t.Fatalf("create: %+v %v %v", s, created, err)
	}
	f.setNow(testNow.Add(time.Hour))
	s, created, err = f.m.PutSubject(ctx, aliceID, SubjectDoc{Type: "profile", IdPUID: ptr(aliceUID), CommonName: ptr("A")})
	if err != nil || created || !s.CreatedAt.Equal(testNow) || !s.UpdatedAt.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("replace: %+v %v %v", s, created, err)
	}
	// The same content again changes nothing, not even the update time.
	f.setNow(testNow.Add(2 * time.Hour))
	s, created, err = f.m.PutSubject(ctx, aliceID, SubjectDoc{Type: "profile", IdPUID: ptr(aliceUID), CommonName: ptr("A")})
	if err != nil || created || !s.UpdatedAt.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("same content: %+v %v %v", s, created, err)
	}
	if _, _, err := f.m.PutSubject(ctx, groupID, SubjectDoc{Type: "group", Name: "g", Owner: aliceID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.m.PutSubject(ctx, bobID, SubjectDoc{Type: "group", Name: "g", Owner: groupID}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("group owned by a group: %v", err)
	}
	got, err := f.m.GetSubject(ctx, aliceID)
	if err != nil || *got.CommonName != "A" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := f.m.GetSubject(ctx, bobID); !errors.Is(err, tokencore.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	doc := DocFromSubject(got)
	if doc.EDIID != aliceID || doc.Created == nil || !doc.Created.Equal(testNow) {
		t.Fatalf("doc %+v", doc)
	}
}

func TestParseValidity(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata")
	}
	for _, tc := range []struct {
		in   string
		end  bool
		loc  *time.Location
		want time.Time
		err  bool
	}{
		{"2031-05-06", false, time.UTC, time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC), false},
		{"2031-05-06", true, time.UTC, time.Date(2031, 5, 7, 0, 0, 0, 0, time.UTC), false},
		{"2031-05-06", true, berlin, time.Date(2031, 5, 7, 0, 0, 0, 0, berlin), false},
		{"2031-05-06T07:08:09Z", true, time.UTC, time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC), false},
		{"2031-05-06T07:08:09.5+02:00", false, time.UTC, time.Date(2031, 5, 6, 5, 8, 9, 5e8, time.UTC), false},
		{"06/05/2031", false, time.UTC, time.Time{}, true},
		{"", false, time.UTC, time.Time{}, true},
		{"2031-02-30", false, time.UTC, time.Time{}, true},
	} {
		got, err := ParseValidity(tc.in, tc.end, tc.loc)
		if (err != nil) != tc.err || (err == nil && !got.Equal(tc.want)) {
			t.Errorf("ParseValidity(%q, %v) = %s, %v; want %s", tc.in, tc.end, got, err, tc.want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("error %v does not wrap ErrInvalid", err)
		}
	}
}

// TestKeyLifecycle: create, list, update, revoke through the manager.
func TestKeyLifecycle(t *testing.T) {
	f := newFixture(t)
	f.seed()
	ctx := t.Context()
	f.setNow(time.Date(2031, 5, 6, 15, 0, 0, 0, time.UTC))

	k, secret, err := f.m.CreateKey(ctx, KeyRequest{Owner: bobID, Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 27 || k.Preview != secret[:5] || !reflect.DeepEqual(k.SecretHash, tokencore.APIKeyHash(secret)) {
		t.Fatalf("secret %q preview %q", secret, k.Preview)
	}
	// One year less one day, whole days: valid through 2032-05-05.
	if !k.ValidFrom.Equal(f.clock()) || !k.ValidTo.Equal(time.Date(2032, 5, 6, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("default validity %s .. %s", k.ValidFrom, k.ValidTo)
	}
	if r := f.s.ExchangeSecret(ctx, secret); r.Status != 200 {
		t.Fatalf("exchange of a new key: %d", r.Status)
	}
	for _, req := range []KeyRequest{
		{Owner: bobID, Name: ""},
		{Owner: bobID, Name: strings.Repeat("n", 65)},
		{Owner: "bob", Name: "n"},
		{Owner: "EDI-0000000000000000000000000000000000000000", Name: "n"},
		{Owner: groupID, Name: "n"},               // a group cannot own keys
		{Owner: bobID, Group: groupID, Name: "n"}, // bob does not own demo-group
		{Owner: aliceID, Group: bobID, Name: "n"}, // bob is not a group
		{Owner: bobID, Name: "n", ValidFrom: "2031-05-07", ValidTo: "2031-05-06"},
		{Owner: bobID, Name: "n", ValidTo: "tomorrow"},
	} {
		if _, _, err := f.m.CreateKey(ctx, req); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateKey(%+v): %v, want ErrInvalid", req, err)
		}
	}
	// 64 characters (not bytes) are allowed.
	if _, _, err := f.m.CreateKey(ctx, KeyRequest{Owner: bobID, Name: strings.Repeat("é", 64), ValidFrom: "2031-05-06", ValidTo: "2031-05-06"}); err != nil {
		t.Fatal(err)
	}

	ks, err := f.m.ListKeys(ctx, bobID, false)
	if err != nil || len(ks) != 3 {
		t.Fatalf("list: %d %v", len(ks), err)
	}
	name := "renamed"
	to := "2031-06-01"
	u, err := f.m.UpdateKey(ctx, k.ID, KeyPatch{Name: &name, ValidTo: &to})
	if err != nil || u.Name != "renamed" || !u.ValidTo.Equal(time.Date(2031, 6, 2, 0, 0, 0, 0, time.UTC)) || !u.UpdatedAt.Equal(f.clock()) {
		t.Fatalf("update: %+v %v", u, err)
	}
	bad := "2031-01-01"
	if _, err := f.m.UpdateKey(ctx, k.ID, KeyPatch{ValidTo: &bad}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("validTo before validFrom: %v", err)
	}
	if _, err := f.m.UpdateKey(ctx, "nope", KeyPatch{Name: &name}); !errors.Is(err, tokencore.ErrNotFound) {
		t.Fatalf("update of a missing key: %v", err)
	}
	rv, err := f.m.RevokeKey(ctx, k.ID)
	if err != nil || !rv.RevokedAt.Equal(f.clock()) {
		t.Fatalf("revoke: %+v %v", rv, err)
	}
	f.setNow(f.clock().Add(time.Hour))
	if rv2, _ := f.m.RevokeKey(ctx, k.ID); !rv2.RevokedAt.Equal(rv.RevokedAt) {
		t.Fatalf("a second revocation moved revoked_at to %s", rv2.RevokedAt)
	}
	if r := f.s.ExchangeSecret(ctx, secret); r.Status != 401 {
		t.Fatalf("exchange of a revoked key: %d", r.Status)
	}
	if _, err := f.m.UpdateKey(ctx, k.ID, KeyPatch{Name: &name}); !errors.Is(err, ErrKeyRevoked) || !errors.Is(err, tokencore.ErrConflict) {
		t.Fatalf("update of a revoked key: %v", err)
	}
	if ks, _ := f.m.ListKeys(ctx, bobID, false); len(ks) != 2 {
		t.Fatalf("list without revoked: %d", len(ks))
	}
	if ks, _ := f.m.ListKeys(ctx, bobID, true); len(ks) != 3 {
		t.Fatalf("list with revoked: %d", len(ks))
	}
	if _, err := f.m.ListKeys(ctx, "bob", false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("list of a malformed owner: %v", err)
	}
	doc := DocFromKey(rv)
	if doc.RevokedAt == nil || doc.Secret != "" || doc.Preview != secret[:5] {
		t.Fatalf("doc %+v", doc)
	}
}

// TestImportKey: seeding is idempotent, keeps revocation and usage, and
// refuses a second secret under an ID.
func TestImportKey(t *testing.T) {
	f := newFixture(t)
	f.seed()
	ctx := t.Context()
	if _, err := f.m.RevokeKey(ctx, "bob-key"); err != nil {
		t.Fatal(err)
	}
	first, _ := f.m.GetKey(ctx, "bob-key")
	f.setNow(testNow.AddDate(0, 1, 0))
	again, err := f.m.ImportKey(ctx, &tokencore.EDIAPIKey{ID: "bob-key", Owner: bobID, Name: "bob", SecretHash: tokencore.APIKeyHash(bobSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if !again.RevokedAt.Equal(first.RevokedAt) || !again.ValidTo.Equal(first.ValidTo) || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("re-import changed the key: %+v -> %+v", first, again)
	}
	renamed, err := f.m.ImportKey(ctx, &tokencore.EDIAPIKey{ID: "bob-key", Owner: bobID, Name: "bob2", SecretHash: tokencore.APIKeyHash(bobSecret), ValidTo: testNow.AddDate(2, 0, 0)})
	if err != nil || renamed.Name != "bob2" || !renamed.ValidTo.Equal(testNow.AddDate(2, 0, 0)) || renamed.RevokedAt.IsZero() {
		t.Fatalf("re-import with changes: %+v %v", renamed, err)
	}
	if _, err := f.m.ImportKey(ctx, &tokencore.EDIAPIKey{ID: "bob-key", Owner: bobID, Name: "bob", SecretHash: tokencore.APIKeyHash("other")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another secret under bob-key: %v", err)
	}
	if _, err := f.m.ImportKey(ctx, &tokencore.EDIAPIKey{ID: "new-id", Owner: bobID, Name: "bob", SecretHash: tokencore.APIKeyHash(bobSecret)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bob's secret under another ID: %v", err)
	}
}

// outage puts the fixture's store behind a storetest.Flaky and rebuilds
// the service and manager on it: they take the engine's store as their
// EDIStore when they are built.
func (f *fixture) outage() *storetest.Flaky {
	f.t.Helper()
	flaky := storetest.NewFlaky(f.e.Store.(tokencore.Store))
	f.e.Store = flaky
	s, err := NewService(f.e, f.s.Config())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(s.Close)
	f.s, f.m = s, s.Manager()
	return flaky
}

// TestRevokeSubjectStoreOutage: a subject revocation the store refuses is
// applied nowhere, this instance included, so instances never disagree
// (it used to be applied on the serving instance only, and stayed split
// after the store came back); the error is the store being unavailable;
// the retry after recovery is in force.
func TestRevokeSubjectStoreOutage(t *testing.T) {
	f := newFixture(t)
	flaky := f.outage()
	ctx := t.Context()
	flaky.FailAll()
	if _, err := f.m.RevokeSubject(ctx, bobID); !errors.Is(err, tokencore.ErrStoreUnavailable) {
		t.Fatalf("RevokeSubject during an outage: %v, want ErrStoreUnavailable", err)
	}
	if f.e.View.SubjectRevoked(bobID, testNow.Unix()) {
		t.Fatal("a revocation the store refused is in force on this instance only")
	}
	flaky.Recover()
	if _, err := f.m.RevokeSubject(ctx, bobID); err != nil {
		t.Fatal(err)
	}
	if !f.e.View.SubjectRevoked(bobID, testNow.Unix()) {
		t.Fatal("the retried revocation is not in force")
	}
	if rs, err := flaky.Revocations(ctx, testNow); err != nil || len(rs) != 1 {
		t.Fatalf("stored revocations %v, %v; want 1", rs, err)
	}
}

// TestRevokeSubject: the revocation is in the view at once and persisted,
// and lives as long as the tokens it refuses.
func TestRevokeSubject(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Leeway = 30 * time.Second })
	ctx := t.Context()
	r, err := f.m.RevokeSubject(ctx, bobID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != tokencore.RevocationOfSubject || r.Key != bobID || !r.NotBefore.Equal(testNow) || !r.ExpiresAt.Equal(testNow.Add(8*time.Hour+30*time.Second+tokencore.RevocationMargin)) {
		t.Fatalf("revocation %+v", r)
	}
	if !f.e.View.SubjectRevoked(bobID, testNow.Unix()) || f.e.View.SubjectRevoked(bobID, testNow.Unix()+1) {
		t.Fatal("view")
	}
	rs, err := f.e.Store.Revocations(ctx, testNow)
	if err != nil || len(rs) != 1 || rs[0].Key != bobID {
		t.Fatalf("stored revocations %+v %v", rs, err)
	}
	if _, err := f.m.RevokeSubject(ctx, "bob"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("malformed EDI-ID: %v", err)
	}

	// The entry refuses every token whose subject is bob's, whichever path
	// of the gateway issued it: when another path sharing the engine can
	// issue longer-lived tokens (the OAuth management API, up to years), it
	// lasts as long as they can.
	f.e.DeclareAccessLifetime(90 * 24 * time.Hour)
	r, err = f.m.RevokeSubject(ctx, bobID)
	if err != nil {
		t.Fatal(err)
	}
	if want := testNow.Add(90*24*time.Hour + tokencore.RevocationMargin); !r.ExpiresAt.Equal(want) {
		t.Fatalf("revocation expires %v, want %v", r.ExpiresAt, want)
	}
}
