package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// runEDI runs the conformance tests of tokencore.EDIStore, the subject and
// API-key records every Store carries.
func runEDI(t *testing.T, open func(t *testing.T) tokencore.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s tokencore.Store)
	}{
		{"EDISubjects", testEDISubjects},
		{"EDISubjectInvalid", testEDISubjectInvalid},
		{"EDISubjectCopies", testEDISubjectCopies},
		{"EDIKeyCreateGet", testEDIKeyCreateGet},
		{"EDIKeyConflict", testEDIKeyConflict},
		{"EDIKeyInvalid", testEDIKeyInvalid},
		{"EDIKeyList", testEDIKeyList},
		{"EDIKeyUpdate", testEDIKeyUpdate},
		{"EDIKeyUpdateIdentity", testEDIKeyUpdateIdentity},
		{"EDIKeyUpdateConcurrent", testEDIKeyUpdateConcurrent},
		{"EDIKeyUse", testEDIKeyUse},
		{"EDIKeyCopies", testEDIKeyCopies},
		{"EDICancelledAndClosed", testEDICancelledAndClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

func strp(s string) *string { return &s }

// ediID returns a well-formed EDI-ID derived from name.
func ediID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return fmt.Sprintf("EDI-%x", sum[:20])
}

// sampleProfile returns a profile record with every field set.
func sampleProfile(name string) *tokencore.EDISubject {
	return &tokencore.EDISubject{
		EDIID:        ediID(name),
		Type:         tokencore.EDIProfile,
		CommonName:   strp(name + " Demo"),
		Email:        strp(name + "@example.org"),
		Principals:   []string{ediID("authenticated"), ediID("public")},
		EmailEnabled: true,
		Links: []tokencore.EDILink{{
			EDIID: ediID(name + "-linked"), LinkedAt: t0(), CommonName: strp("linked"),
			IdPName: strp("github"), IdPUID: strp("https://github.com/" + name),
		}},
		IdPCommonName: strp(name),
		IdPName:       strp("ldap"),
		IdPUID:        strp("uid=" + name + ",o=EDI,dc=edirepository,dc=org"),
		PastaUID:      "uid=" + name + ",o=EDI,dc=edirepository,dc=org",
		PastaGroups:   []string{"vetted", "authenticated"},
		CreatedAt:     t0(),
		UpdatedAt:     t0().Add(time.Second),
	}
}

// sampleKey returns a key record with every field set.
func sampleKey(id, owner, secret string, created time.Time) *tokencore.EDIAPIKey {
	return &tokencore.EDIAPIKey{
		ID: id, Owner: owner, Group: ediID("group"), Name: "key " + id,
		SecretHash: tokencore.APIKeyHash(secret), Preview: secret[:5],
		ValidFrom: created, ValidTo: created.Add(365 * 24 * time.Hour),
		CreatedAt: created, UpdatedAt: created,
		LastUsed: created.Add(time.Minute), UseCount: 3,
	}
}

func sameSubject(t *testing.T, got, want *tokencore.EDISubject) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("subject differs:\n got %+v\nwant %+v", got, want)
	}
}

func sameKey(t *testing.T, got, want *tokencore.EDIAPIKey) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("API key differs:\n got %+v\nwant %+v", got, want)
	}
}

func getSubject(t *testing.T, s tokencore.Store, id string) *tokencore.EDISubject {
	t.Helper()
	subj, err := s.GetSubject(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSubject(%s): %v", id, err)
	}
	return subj
}

func getKey(t *testing.T, s tokencore.Store, id string) *tokencore.EDIAPIKey {
	t.Helper()
	k, err := s.GetAPIKey(t.Context(), id)
	if err != nil {
		t.Fatalf("GetAPIKey(%s): %v", id, err)
	}
	return k
}

func createKey(t *testing.T, s tokencore.Store, k *tokencore.EDIAPIKey) {
	t.Helper()
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
	}
}

func keyIDs(ks []*tokencore.EDIAPIKey) []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

func testEDISubjects(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	if _, err := s.GetSubject(ctx, ediID("nobody")); !errors.Is(err, tokencore.ErrNotFound) {
		t.Fatalf("GetSubject of a missing record: %v, want ErrNotFound", err)
	}
	if subs, err := s.ListSubjects(ctx); err != nil || len(subs) != 0 {
		t.Fatalf("ListSubjects of an empty store = %d, %v", len(subs), err)
	}
	alice, bob := sampleProfile("alice"), sampleProfile("bob")
	group := &tokencore.EDISubject{EDIID: ediID("group"), Type: tokencore.EDIGroup, Name: "demo-group", Owner: alice.EDIID, CreatedAt: t0(), UpdatedAt: t0()}
	for _, subj := range []*tokencore.EDISubject{alice, bob, group} {
		if err := s.PutSubject(ctx, subj); err != nil {
			t.Fatal(err)
		}
	}
	sameSubject(t, getSubject(t, s, alice.EDIID), alice)
	sameSubject(t, getSubject(t, s, group.EDIID), group)

	// Put replaces the whole record.
	bob2 := &tokencore.EDISubject{EDIID: bob.EDIID, Type: tokencore.EDIProfile, IdPUID: strp("https://github.com/bob"), PastaUID: "https://github.com/bob", CreatedAt: t0(), UpdatedAt: t0().Add(time.Hour)}
	if err := s.PutSubject(ctx, bob2); err != nil {
		t.Fatal(err)
	}
	sameSubject(t, getSubject(t, s, bob.EDIID), bob2)

	subs, err := s.ListSubjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, subj := range subs {
		ids = append(ids, subj.EDIID)
	}
	want := []string{alice.EDIID, bob.EDIID, group.EDIID}
	slices.Sort(want)
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("ListSubjects = %v, want %v (EDI-ID order)", ids, want)
	}
}

func testEDISubjectInvalid(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	big := sampleProfile("big")
	big.Principals = make([]string, 0, 2000)
	for i := range 2000 {
		big.Principals = append(big.Principals, ediID(fmt.Sprint(i)))
	}
	for _, tc := range []struct {
		name string
		subj *tokencore.EDISubject
	}{
		{"nil", nil},
		{"no ID", &tokencore.EDISubject{Type: tokencore.EDIProfile}},
		{"long ID", &tokencore.EDISubject{EDIID: strings.Repeat("x", tokencore.MaxKeyFieldLen+1), Type: tokencore.EDIProfile}},
		{"no type", &tokencore.EDISubject{EDIID: ediID("a")}},
		{"unknown type", &tokencore.EDISubject{EDIID: ediID("a"), Type: "robot"}},
		{"too large", big},
	} {
		if err := s.PutSubject(ctx, tc.subj); !errors.Is(err, tokencore.ErrInvalidRecord) {
			t.Errorf("PutSubject(%s): %v, want ErrInvalidRecord", tc.name, err)
		}
	}
	if subs, err := s.ListSubjects(ctx); err != nil || len(subs) != 0 {
		t.Fatalf("refused subjects were stored: %d, %v", len(subs), err)
	}
}

func testEDISubjectCopies(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	in := sampleProfile("alice")
	want := in.Clone()
	if err := s.PutSubject(ctx, in); err != nil {
		t.Fatal(err)
	}
	mutateSubject(in)
	sameSubject(t, getSubject(t, s, want.EDIID), want)
	mutateSubject(getSubject(t, s, want.EDIID))
	sameSubject(t, getSubject(t, s, want.EDIID), want)
	subs, err := s.ListSubjects(ctx)
	if err != nil || len(subs) != 1 {
		t.Fatalf("ListSubjects = %d, %v", len(subs), err)
	}
	mutateSubject(subs[0])
	sameSubject(t, getSubject(t, s, want.EDIID), want)
}

func mutateSubject(s *tokencore.EDISubject) {
	*s.CommonName = "mutated"
	*s.IdPUID = "mutated"
	s.Principals[0] = "mutated"
	s.PastaGroups[0] = "mutated"
	s.Links[0].EDIID = "mutated"
	*s.Links[0].IdPUID = "mutated"
}

func testEDIKeyCreateGet(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	k := sampleKey("k1", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	createKey(t, s, k)
	sameKey(t, getKey(t, s, "k1"), k)
	byHash, err := s.GetAPIKeyByHash(ctx, tokencore.APIKeyHash("R9arQwYMFqdgVVYt7jqcsxfyPyU"))
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, byHash, k)
	for _, h := range [][]byte{tokencore.APIKeyHash("R9arQwYMFqdgVVYt7jqcsxfyPyV"), nil, {}, k.SecretHash[:16]} {
		if _, err := s.GetAPIKeyByHash(ctx, h); !errors.Is(err, tokencore.ErrNotFound) {
			t.Errorf("GetAPIKeyByHash(%x): %v, want ErrNotFound", h, err)
		}
	}
	if _, err := s.GetAPIKey(ctx, "k2"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("GetAPIKey of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateAPIKey(ctx, "k2", func(*tokencore.EDIAPIKey) error { return nil }); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("UpdateAPIKey of a missing key: %v, want ErrNotFound", err)
	}
}

func testEDIKeyConflict(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	k := sampleKey("k1", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	createKey(t, s, k)
	dupID := sampleKey("k1", ediID("bob"), "VCR0K0lppvds2QaXdpiJxjKuVxc", t0())
	if err := s.CreateAPIKey(ctx, dupID); !errors.Is(err, tokencore.ErrConflict) {
		t.Errorf("CreateAPIKey with an existing ID: %v, want ErrConflict", err)
	}
	dupHash := sampleKey("k2", ediID("bob"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	if err := s.CreateAPIKey(ctx, dupHash); !errors.Is(err, tokencore.ErrConflict) {
		t.Errorf("CreateAPIKey with an existing secret hash: %v, want ErrConflict", err)
	}
	sameKey(t, getKey(t, s, "k1"), k)
	if ks, err := s.ListAPIKeys(ctx, ediID("bob")); err != nil || len(ks) != 0 {
		t.Errorf("refused keys were indexed: %v, %v", keyIDs(ks), err)
	}
	if _, err := s.GetAPIKey(ctx, "k2"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("refused key was stored: %v", err)
	}
}

func testEDIKeyInvalid(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	base := func() *tokencore.EDIAPIKey {
		return sampleKey("k", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	}
	for _, tc := range []struct {
		name string
		edit func(k *tokencore.EDIAPIKey)
	}{
		{"no ID", func(k *tokencore.EDIAPIKey) { k.ID = "" }},
		{"no owner", func(k *tokencore.EDIAPIKey) { k.Owner = "" }},
		{"long ID", func(k *tokencore.EDIAPIKey) { k.ID = strings.Repeat("k", tokencore.MaxKeyFieldLen+1) }},
		{"long group", func(k *tokencore.EDIAPIKey) { k.Group = strings.Repeat("g", tokencore.MaxKeyFieldLen+1) }},
		{"no hash", func(k *tokencore.EDIAPIKey) { k.SecretHash = nil }},
		{"short hash", func(k *tokencore.EDIAPIKey) { k.SecretHash = k.SecretHash[:31] }},
		{"long hash", func(k *tokencore.EDIAPIKey) { k.SecretHash = append(k.SecretHash, 0) }},
		{"too large", func(k *tokencore.EDIAPIKey) { k.Name = strings.Repeat("n", tokencore.MaxEDIRecordSize) }},
	} {
		k := base()
		tc.edit(k)
		if err := s.CreateAPIKey(ctx, k); !errors.Is(err, tokencore.ErrInvalidRecord) {
			t.Errorf("CreateAPIKey(%s): %v, want ErrInvalidRecord", tc.name, err)
		}
	}
	if err := s.CreateAPIKey(ctx, nil); !errors.Is(err, tokencore.ErrInvalidRecord) {
		t.Errorf("CreateAPIKey(nil): %v, want ErrInvalidRecord", err)
	}
	if ks, err := s.ListAPIKeys(ctx, ""); err != nil || len(ks) != 0 {
		t.Errorf("refused keys were stored: %v, %v", keyIDs(ks), err)
	}
}

func testEDIKeyList(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	alice, bob := ediID("alice"), ediID("bob")
	// Creation times out of insertion order, across the epoch, and one tie.
	createKey(t, s, sampleKey("c", alice, "secret-c-0000000000000000000", t0().Add(time.Hour)))
	createKey(t, s, sampleKey("b", alice, "secret-b-0000000000000000000", t0()))
	createKey(t, s, sampleKey("a", alice, "secret-a-0000000000000000000", t0()))
	createKey(t, s, sampleKey("z", alice, "secret-z-0000000000000000000", time.Unix(-100, 5).UTC()))
	createKey(t, s, sampleKey("x", bob, "secret-x-0000000000000000000", t0()))
	// An owner whose name is a prefix of another's.
	createKey(t, s, sampleKey("p", "EDI-", "secret-p-0000000000000000000", t0()))
	for _, tc := range []struct {
		owner string
		want  []string
	}{
		{alice, []string{"z", "a", "b", "c"}},
		{bob, []string{"x"}},
		{"EDI-", []string{"p"}},
		{ediID("nobody"), nil},
		{"", []string{"z", "a", "b", "p", "x", "c"}},
	} {
		ks, err := s.ListAPIKeys(ctx, tc.owner)
		if err != nil {
			t.Fatal(err)
		}
		if got := keyIDs(ks); !reflect.DeepEqual(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Errorf("ListAPIKeys(%q) = %v, want %v", tc.owner, got, tc.want)
		}
	}
	// Revoked keys are listed too (the caller filters).
	if _, err := s.UpdateAPIKey(ctx, "a", func(k *tokencore.EDIAPIKey) error { k.RevokedAt = t0(); return nil }); err != nil {
		t.Fatal(err)
	}
	ks, err := s.ListAPIKeys(ctx, alice)
	if err != nil || len(ks) != 4 || !ks[1].Revoked() {
		t.Fatalf("after revoking a: %v, %v", keyIDs(ks), err)
	}
}

func testEDIKeyUpdate(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	k := sampleKey("k1", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	createKey(t, s, k)
	var inFn *tokencore.EDIAPIKey
	out, err := s.UpdateAPIKey(ctx, "k1", func(k *tokencore.EDIAPIKey) error {
		inFn = k
		k.Name = "renamed"
		k.Group = ""
		k.ValidTo = t0().Add(time.Hour)
		k.RevokedAt = t0().Add(time.Minute)
		k.UpdatedAt = t0().Add(time.Minute)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := k.Clone()
	want.Name, want.Group, want.ValidTo, want.RevokedAt, want.UpdatedAt = "renamed", "", t0().Add(time.Hour), t0().Add(time.Minute), t0().Add(time.Minute)
	sameKey(t, out, want)
	sameKey(t, getKey(t, s, "k1"), want)
	inFn.Name, out.Name = "edited after", "edited after"
	sameKey(t, getKey(t, s, "k1"), want)
	byHash, err := s.GetAPIKeyByHash(ctx, k.SecretHash)
	if err != nil {
		t.Fatal(err)
	}
	sameKey(t, byHash, want)

	// fn's error comes back unwrapped and nothing is written.
	errMine := errors.New("mine")
	_, err = s.UpdateAPIKey(ctx, "k1", func(k *tokencore.EDIAPIKey) error { k.Name = "lost"; return errMine })
	if err != errMine {
		t.Fatalf("UpdateAPIKey returned %v, want fn's error unwrapped", err)
	}
	sameKey(t, getKey(t, s, "k1"), want)

	// A change of creation time keeps the owner index in order.
	createKey(t, s, sampleKey("k2", ediID("alice"), "VCR0K0lppvds2QaXdpiJxjKuVxc", t0().Add(time.Hour)))
	if _, err := s.UpdateAPIKey(ctx, "k1", func(k *tokencore.EDIAPIKey) error { k.CreatedAt = t0().Add(2 * time.Hour); return nil }); err != nil {
		t.Fatal(err)
	}
	ks, err := s.ListAPIKeys(ctx, ediID("alice"))
	if err != nil || !reflect.DeepEqual(keyIDs(ks), []string{"k2", "k1"}) {
		t.Fatalf("ListAPIKeys after moving k1's creation time = %v, %v; want [k2 k1]", keyIDs(ks), err)
	}
}

func testEDIKeyUpdateIdentity(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	k := sampleKey("k1", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	createKey(t, s, k)
	for _, tc := range []struct {
		name string
		edit func(k *tokencore.EDIAPIKey)
	}{
		{"ID", func(k *tokencore.EDIAPIKey) { k.ID = "k2" }},
		{"owner", func(k *tokencore.EDIAPIKey) { k.Owner = ediID("bob") }},
		{"hash", func(k *tokencore.EDIAPIKey) { k.SecretHash = tokencore.APIKeyHash("other") }},
		{"hash in place", func(k *tokencore.EDIAPIKey) { k.SecretHash[0] ^= 1 }},
		{"too large", func(k *tokencore.EDIAPIKey) { k.Name = strings.Repeat("n", tokencore.MaxEDIRecordSize) }},
	} {
		if _, err := s.UpdateAPIKey(ctx, "k1", func(k *tokencore.EDIAPIKey) error { tc.edit(k); return nil }); !errors.Is(err, tokencore.ErrInvalidRecord) {
			t.Errorf("UpdateAPIKey changing %s: %v, want ErrInvalidRecord", tc.name, err)
		}
	}
	sameKey(t, getKey(t, s, "k1"), k)
	if _, err := s.GetAPIKey(ctx, "k2"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("a refused rename created k2: %v", err)
	}
}

// testEDIKeyUpdateConcurrent: UpdateAPIKey is atomic, so concurrent
// read-modify-write updates lose nothing.
func testEDIKeyUpdateConcurrent(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	k := sampleKey("k1", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	k.UseCount = 0
	createKey(t, s, k)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateAPIKey(ctx, "k1", func(k *tokencore.EDIAPIKey) error { k.UseCount++; return nil })
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := getKey(t, s, "k1").UseCount; got != n {
		t.Fatalf("UseCount after %d concurrent increments = %d", n, got)
	}
}

func testEDIKeyUse(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	k1 := sampleKey("k1", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	k2 := sampleKey("k2", ediID("bob"), "VCR0K0lppvds2QaXdpiJxjKuVxc", t0())
	createKey(t, s, k1)
	createKey(t, s, k2)
	if err := s.RecordKeyUse(ctx); err != nil {
		t.Fatalf("RecordKeyUse with no uses: %v", err)
	}
	err := s.RecordKeyUse(ctx,
		tokencore.EDIKeyUse{ID: "k1", Count: 5, At: t0().Add(time.Hour)},
		tokencore.EDIKeyUse{ID: "missing", Count: 1, At: t0()},
		tokencore.EDIKeyUse{ID: "k2", Count: 2, At: t0()}, // earlier than its LastUsed
		tokencore.EDIKeyUse{ID: "k1", Count: 1, At: t0().Add(30 * time.Minute)},
	)
	if err != nil {
		t.Fatal(err)
	}
	got1, got2 := getKey(t, s, "k1"), getKey(t, s, "k2")
	if got1.UseCount != k1.UseCount+6 || !got1.LastUsed.Equal(t0().Add(time.Hour)) {
		t.Errorf("k1: use_count %d last_used %s; want %d, %s", got1.UseCount, got1.LastUsed, k1.UseCount+6, t0().Add(time.Hour))
	}
	if got2.UseCount != k2.UseCount+2 || !got2.LastUsed.Equal(k2.LastUsed) {
		t.Errorf("k2: use_count %d last_used %s; want %d, %s (LastUsed never moves back)", got2.UseCount, got2.LastUsed, k2.UseCount+2, k2.LastUsed)
	}
	if _, err := s.GetAPIKey(ctx, "missing"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("RecordKeyUse created a key: %v", err)
	}
}

func testEDIKeyCopies(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	in := sampleKey("k1", ediID("alice"), "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	want := in.Clone()
	createKey(t, s, in)
	in.SecretHash[0] ^= 1
	in.Name = "mutated"
	sameKey(t, getKey(t, s, "k1"), want)
	got := getKey(t, s, "k1")
	got.SecretHash[0] ^= 1
	sameKey(t, getKey(t, s, "k1"), want)
	byHash, err := s.GetAPIKeyByHash(ctx, want.SecretHash)
	if err != nil {
		t.Fatal(err)
	}
	byHash.SecretHash[1] ^= 1
	ks, err := s.ListAPIKeys(ctx, want.Owner)
	if err != nil || len(ks) != 1 {
		t.Fatalf("ListAPIKeys = %d, %v", len(ks), err)
	}
	ks[0].SecretHash[2] ^= 1
	sameKey(t, getKey(t, s, "k1"), want)
	if _, err := s.GetAPIKeyByHash(ctx, want.SecretHash); err != nil {
		t.Fatalf("the hash index changed with a copy: %v", err)
	}
}

func testEDICancelledAndClosed(t *testing.T, s tokencore.Store) {
	subj := sampleProfile("alice")
	if err := s.PutSubject(t.Context(), subj); err != nil {
		t.Fatal(err)
	}
	k := sampleKey("k1", subj.EDIID, "R9arQwYMFqdgVVYt7jqcsxfyPyU", t0())
	createKey(t, s, k)

	ops := func(ctx context.Context) map[string]error {
		called := false
		_, getSubjectErr := s.GetSubject(ctx, subj.EDIID)
		_, listSubjectsErr := s.ListSubjects(ctx)
		_, getKeyErr := s.GetAPIKey(ctx, "k1")
		_, byHashErr := s.GetAPIKeyByHash(ctx, k.SecretHash)
		_, listKeysErr := s.ListAPIKeys(ctx, subj.EDIID)
		_, updateErr := s.UpdateAPIKey(ctx, "k1", func(k *tokencore.EDIAPIKey) error { called = true; k.Name = "x"; return nil })
		if called {
			t.Error("UpdateAPIKey called fn")
		}
		return map[string]error{
			"PutSubject":      s.PutSubject(ctx, sampleProfile("bob")),
			"GetSubject":      getSubjectErr,
			"ListSubjects":    listSubjectsErr,
			"CreateAPIKey":    s.CreateAPIKey(ctx, sampleKey("k2", subj.EDIID, "VCR0K0lppvds2QaXdpiJxjKuVxc", t0())),
			"GetAPIKey":       getKeyErr,
			"GetAPIKeyByHash": byHashErr,
			"ListAPIKeys":     listKeysErr,
			"UpdateAPIKey":    updateErr,
			"RecordKeyUse":    s.RecordKeyUse(ctx, tokencore.EDIKeyUse{ID: "k1", Count: 1, At: t0()}),
		}
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for op, err := range ops(cancelled) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", op, err)
		}
	}
	// Nothing was done.
	sameKey(t, getKey(t, s, "k1"), k)
	if subs, err := s.ListSubjects(t.Context()); err != nil || len(subs) != 1 {
		t.Errorf("ListSubjects after cancelled writes = %d, %v", len(subs), err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for op, err := range ops(t.Context()) {
		if !errors.Is(err, tokencore.ErrStoreClosed) {
			t.Errorf("%s after Close: %v, want ErrStoreClosed", op, err)
		}
	}
}
