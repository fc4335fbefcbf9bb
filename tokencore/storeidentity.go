package tokencore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"
)

// A store and the keys belong together: the store remembers which tokens
// signed by the keys were revoked. If the keys outlive their store (a bbolt
// file deleted or replaced, a Redis flushed, an old backup restored), every
// revoked token that has not expired yet is accepted again, and nothing
// shows it. So each persistent store carries an identity, and the same
// identity is recorded next to the keys, in Caddy's storage; at start the
// two must agree (BindStore).

// StoreIdentity names one store. ID and CreatedAt are written once, when
// the store is created (or, for a store made before identities existed,
// when it is first asked), and never change. Generation grows every time a
// gateway binds the store at start and periodically while it runs
// (AdvanceGeneration), and is recorded with the keys each time: a copy of
// the store taken earlier (a backup) has a smaller generation than the one
// recorded, which is how a restored backup is told from the live store.
type StoreIdentity struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	Generation uint64    `json:"generation"`
}

func (id StoreIdentity) String() string {
	return fmt.Sprintf("store %s (created %s, generation %d)", id.ID, id.CreatedAt.UTC().Format(time.RFC3339), id.Generation)
}

// acceptToken is what an operator writes in accept_store to accept this
// store as it is now: its ID and current generation. The generation moves
// on as soon as the store is bound, so the setting accepts one state of
// one store, and is inert afterwards.
func (id StoreIdentity) acceptToken() string { return fmt.Sprintf("%s@%d", id.ID, id.Generation) }

// IdentifiedStore is implemented by the persistent stores (bbolt, Redis).
// The memory store has none: it forgets everything on restart by design.
type IdentifiedStore interface {
	// Identity returns the store's identity, creating it if the store has
	// none yet (a store made before identities existed).
	Identity(ctx context.Context) (StoreIdentity, error)
	// AdvanceGeneration adds one to the generation, durably, and returns
	// the new identity. It fails if the store has no identity (it was
	// emptied while in use).
	AdvanceGeneration(ctx context.Context) (StoreIdentity, error)
}

// StoreBindingPath is the Caddy storage key of the binding, next to the
// `auto` keys. It is written for every key source (files and FOLIO secrets
// too), since the risk is the same.
const StoreBindingPath = "tokengate/keys/store-binding.json"

// StoreBinding is what the keys' side records: the identity of the store
// they were last used with, and fingerprints of the keys (KeySet
// KeyFingerprints) that signed and encrypted the tokens the store knows.
type StoreBinding struct {
	Store      StoreIdentity `json:"store"`
	StoreName  string        `json:"store_name,omitempty"` // path or address, for messages
	Keys       []string      `json:"keys"`
	RecordedAt time.Time     `json:"recorded_at"`
}

// BindOutcome says why BindStore accepted a store, for the start-up log.
type BindOutcome string

const (
	// BindNew: no binding was recorded (a new deployment, an upgrade from
	// a version without bindings, or a Caddy storage that was reset).
	BindNew BindOutcome = "new"
	// BindSame: the store is the one recorded, at or past its generation.
	BindSame BindOutcome = "same store"
	// BindKeysReplaced: no key of the recorded binding is configured any
	// more, so no token the recorded store knew about can verify; any
	// store is safe with these keys.
	BindKeysReplaced BindOutcome = "keys replaced"
	// BindAccepted: the operator accepted this store with accept_store.
	BindAccepted BindOutcome = "accepted by the operator"
)

// checkStoreBinding decides whether the store with identity id may be used
// with keys (their fingerprints) given the recorded binding b (nil: none).
// accept is the operator's accept_store setting ("<id>@<generation>").
func checkStoreBinding(b *StoreBinding, id StoreIdentity, name string, keys []string, accept string) (BindOutcome, error) {
	switch {
	case b == nil:
		return BindNew, nil
	case !slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(b.Keys, k) }):
		return BindKeysReplaced, nil
	case b.Store.ID == id.ID && id.Generation >= b.Store.Generation:
		return BindSame, nil
	case accept != "" && accept == id.acceptToken():
		return BindAccepted, nil
	}
	what := "is another store than the one these keys were used with"
	switch {
	case b.Store.ID == id.ID:
		what = fmt.Sprintf("is an older copy of the store these keys were used with (generation %d, the keys recorded generation %d): it was restored from a backup", id.Generation, b.Store.Generation)
	case id.Generation == 0:
		what = "is a new, empty store, but these keys were used with another one: the store was deleted, reset or replaced"
	}
	return "", fmt.Errorf("%w: the store %s, %s, %s (recorded in Caddy's storage at %s: %s, %s). "+
		"Revocations of tokens that are still valid may be missing from it, so revoked tokens would be accepted again. "+
		"Restore the store the keys were used with; or replace the signing and refresh keys, which invalidates every token issued so far; "+
		"or accept this store and that risk with the tokengate option `accept_store %s` for one start "+
		"(see docs/operations.md, Backups and recovery)",
		ErrStoreNotBound, name, id, what, StoreBindingPath, b.StoreName, b.Store, id.acceptToken())
}

// loadStoreBinding reads the recorded binding; nil when there is none.
func loadStoreBinding(ctx context.Context, st KeyStorage) (*StoreBinding, error) {
	raw, err := st.Load(ctx, StoreBindingPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("loading %s: %w", StoreBindingPath, err)
	}
	var b StoreBinding
	if err := json.Unmarshal(raw, &b); err != nil || b.Store.ID == "" {
		return nil, fmt.Errorf("%s in Caddy's storage is damaged (remove it to record the current store anew): %v", StoreBindingPath, err)
	}
	return &b, nil
}

func saveStoreBinding(ctx context.Context, st KeyStorage, b StoreBinding) error {
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := st.Store(ctx, StoreBindingPath, raw); err != nil {
		return fmt.Errorf("storing %s: %w", StoreBindingPath, err)
	}
	return nil
}

// BindStore checks, at start, that store belongs with keys (see
// checkStoreBinding), then advances the store's generation and records the
// new identity with the keys. name (the path or address) appears in
// messages. accept is the operator's accept_store setting, usually empty.
// It holds the storage lock, so instances sharing Caddy's storage bind one
// at a time. Errors wrap ErrStoreNotBound when the store is refused.
func BindStore(ctx context.Context, st KeyStorage, store IdentifiedStore, name string, keys *KeySet, accept string, now time.Time) (StoreIdentity, BindOutcome, error) {
	if err := st.Lock(ctx, StoreBindingPath+".lock"); err != nil {
		return StoreIdentity{}, "", fmt.Errorf("locking %s: %w", StoreBindingPath, err)
	}
	defer st.Unlock(context.WithoutCancel(ctx), StoreBindingPath+".lock") //nolint:errcheck // best effort
	b, err := loadStoreBinding(ctx, st)
	if err != nil {
		return StoreIdentity{}, "", err
	}
	id, err := store.Identity(ctx)
	if err != nil {
		return StoreIdentity{}, "", fmt.Errorf("reading the identity of the store %s: %w", name, err)
	}
	outcome, err := checkStoreBinding(b, id, name, keys.KeyFingerprints(), accept)
	if err != nil {
		return id, "", err
	}
	id, err = record(ctx, st, store, name, keys, now)
	return id, outcome, err
}

// RefreshStoreBinding advances the generation of a bound store and records
// it with the keys, so that a backup taken before this call is recognised
// as older when it is restored. It refuses to overwrite a binding that
// names another store. The app calls it periodically.
func RefreshStoreBinding(ctx context.Context, st KeyStorage, store IdentifiedStore, name string, keys *KeySet, now time.Time) (StoreIdentity, error) {
	if err := st.Lock(ctx, StoreBindingPath+".lock"); err != nil {
		return StoreIdentity{}, fmt.Errorf("locking %s: %w", StoreBindingPath, err)
	}
	defer st.Unlock(context.WithoutCancel(ctx), StoreBindingPath+".lock") //nolint:errcheck // best effort
	b, err := loadStoreBinding(ctx, st)
	if err != nil {
		return StoreIdentity{}, err
	}
	// Advancing fails (ErrStoreIdentityLost) if the store was emptied
	// under the running gateway; asking for its identity would make one.
	id, err := store.AdvanceGeneration(ctx)
	if err != nil {
		return id, fmt.Errorf("advancing the generation of the store %s: %w", name, err)
	}
	if b != nil && b.Store.ID != id.ID {
		return id, fmt.Errorf("%w: %s now names %s, not this gateway's %s", ErrStoreNotBound, StoreBindingPath, b.Store, id)
	}
	return id, saveStoreBinding(ctx, st, StoreBinding{Store: id, StoreName: name, Keys: keys.KeyFingerprints(), RecordedAt: now.UTC()})
}

// record advances the store's generation, then writes the binding: in this
// order, so that a crash between the two leaves the store ahead of the
// binding, which BindStore accepts, never behind it.
func record(ctx context.Context, st KeyStorage, store IdentifiedStore, name string, keys *KeySet, now time.Time) (StoreIdentity, error) {
	id, err := store.AdvanceGeneration(ctx)
	if err != nil {
		return id, fmt.Errorf("advancing the generation of the store %s: %w", name, err)
	}
	// The record follows the store exactly (an accepted backup sets it
	// back): instances sharing Caddy's storage advance and record under
	// its lock, one at a time, so the record never goes back otherwise.
	return id, saveStoreBinding(ctx, st, StoreBinding{Store: id, StoreName: name, Keys: keys.KeyFingerprints(), RecordedAt: now.UTC()})
}

// keyFingerprintLabel keys the HMAC that fingerprints symmetric keys.
const keyFingerprintLabel = "tokengate key fingerprint v1"

// symmetricFingerprint identifies a secret without revealing it. It is no
// weaker than a token signed with the secret, which allows the same
// offline guessing.
func symmetricFingerprint(kind string, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(keyFingerprintLabel))
	return kind + ":" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
