package tokencore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
)

// KeyStorage is where `auto` keys are persisted. It is the subset of
// certmagic.Storage that tokengate needs, so Caddy's configured storage
// (file system by default, or a shared backend) satisfies it as is: a
// restart, or another instance sharing that storage, finds the same keys.
// Load must return an error wrapping fs.ErrNotExist for a missing key.
type KeyStorage interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// LoadOrCreate returns the value stored under key, or stores and returns
// create()'s result if there is none. It holds the storage lock while it
// checks, so two instances starting together agree on one value.
func LoadOrCreate(ctx context.Context, st KeyStorage, key string, create func() ([]byte, error)) ([]byte, error) {
	if v, err := st.Load(ctx, key); err == nil {
		return v, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading %s: %w", key, err)
	}
	if err := st.Lock(ctx, key+".lock"); err != nil {
		return nil, fmt.Errorf("locking %s: %w", key, err)
	}
	defer st.Unlock(context.WithoutCancel(ctx), key+".lock") //nolint:errcheck // best effort
	if v, err := st.Load(ctx, key); err == nil {
		return v, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	if err := st.Store(ctx, key, v); err != nil {
		return nil, fmt.Errorf("storing %s: %w", key, err)
	}
	return v, nil
}

// AutoKeyPaths are the storage keys of the `auto` signing key and refresh
// key, below Caddy's storage root.
const (
	AutoSigningKeyPath = "tokengate/keys/es256.pem"
	AutoRefreshKeyPath = "tokengate/keys/refresh.key"
	// AutoRS256KeyPath is the `auto rs256` key, which signs the ID tokens
	// of clients registered with RS256.
	AutoRS256KeyPath = "tokengate/keys/rs256.pem"
)

// LoadOrCreateAutoKeys returns the persisted ES256 signing key and 32-byte
// refresh-token key, generating and storing them on first use.
func LoadOrCreateAutoKeys(ctx context.Context, st KeyStorage) (*Key, []byte, error) {
	key, err := loadOrCreateSigningKey(ctx, st, AutoSigningKeyPath, AlgES256, GenerateES256Key)
	if err != nil {
		return nil, nil, err
	}
	refresh, err := LoadOrCreate(ctx, st, AutoRefreshKeyPath, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, nil, err
	}
	if len(refresh) != 32 {
		return nil, nil, fmt.Errorf("stored refresh key %s has %d bytes, want 32", AutoRefreshKeyPath, len(refresh))
	}
	return key, refresh, nil
}

// LoadOrCreateAutoRS256Key returns the persisted RS256 key (`key auto
// rs256`), generating and storing it on first use, like the ES256 key.
func LoadOrCreateAutoRS256Key(ctx context.Context, st KeyStorage) (*Key, error) {
	return loadOrCreateSigningKey(ctx, st, AutoRS256KeyPath, AlgRS256, GenerateRS256Key)
}

// loadOrCreateSigningKey loads the private key stored at path, or stores
// one made by generate; the stored key must be a private key of alg.
func loadOrCreateSigningKey(ctx context.Context, st KeyStorage, path, alg string, generate func() (*Key, []byte, error)) (*Key, error) {
	pemBytes, err := LoadOrCreate(ctx, st, path, func() ([]byte, error) {
		_, p, err := generate()
		return p, err
	})
	if err != nil {
		return nil, err
	}
	key, err := ParseKeyPEM(pemBytes, "")
	if err != nil {
		return nil, fmt.Errorf("stored signing key %s: %w", path, err)
	}
	if !key.CanSign() {
		return nil, fmt.Errorf("stored signing key %s has no private part", path)
	}
	if key.Alg != alg {
		return nil, fmt.Errorf("stored signing key %s is %s, want %s", path, key.Alg, alg)
	}
	return key, nil
}
