package issuer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/tokencore"
)

// maxKeys bounds the keys of one JWK Set; real sets hold two or three.
const maxKeys = 64

// verifyKey is one public key and the algorithm it fixes ("" for an RSA key
// without alg: any RSA algorithm the issuer accepts).
type verifyKey struct {
	key any
	alg string
}

// accepts reports whether a token whose header says alg may be verified
// with k: the key decides, the issuer's list narrows.
func (k *verifyKey) accepts(alg string, allowed []string) bool {
	if !slices.Contains(allowed, alg) {
		return false
	}
	if k.alg != "" {
		return k.alg == alg
	}
	_, isRSA := k.key.(*rsa.PublicKey)
	return isRSA && (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS"))
}

// keySnapshot is one fetched key set. It is replaced whole, never changed.
type keySnapshot struct {
	byKID map[string]*verifyKey
	// only is the key for tokens without kid, when the set has one key;
	// anyKID marks a key file's single key, which verifies whatever kid a
	// token names.
	only   *verifyKey
	anyKID bool
	// fingerprint identifies the set (RFC 7638 thumbprints); it is part
	// of the cache scope, so a key set change never reuses a verdict.
	fingerprint string
	// cacheScope is the issuer's configuration scope and fingerprint,
	// computed once per set rather than on every request.
	cacheScope string
	// usableUntil is when, without a successful refetch, the set stops
	// being used (the refresh time plus the stale window); zero for keys
	// from a file.
	refreshAt, usableUntil time.Time
}

func (s *keySnapshot) lookup(kid string) *verifyKey {
	if s.anyKID || kid == "" {
		return s.only
	}
	return s.byKID[kid]
}

func (s *keySnapshot) usable(now time.Time) bool {
	return s.usableUntil.IsZero() || now.Before(s.usableUntil)
}

// keySource holds an issuer's current key set, fetches it in the
// background and on unknown kids (rate-limited).
type keySource struct {
	cfg *Config
	f   *fetcher
	now func() time.Time
	url func(ctx context.Context) (string, error) // the JWK Set URL (may discover it)
	// scope is the issuer's configuration scope (Issuer.scope).
	scope string
	snap  atomic.Pointer[keySnapshot]

	mu           sync.Mutex // one fetch at a time
	lastKIDFetch time.Time
	lastAttempt  time.Time
	// ready is closed when the first fetch has been tried.
	ready     chan struct{}
	readyOnce sync.Once
}

// staticSource is the key set of a key file: a JWK Set or PEM public keys.
func staticSource(data []byte) (*keySource, error) {
	var snap *keySnapshot
	var err error
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		snap, err = parseJWKS(t)
	} else {
		var key any
		key, _, err = tokencore.DecodeKeyPEM(data)
		if err == nil {
			snap, err = pemSnapshot(key)
		}
	}
	if err != nil {
		return nil, err
	}
	s := &keySource{ready: make(chan struct{})}
	s.snap.Store(snap)
	close(s.ready)
	return s, nil
}

func pemSnapshot(key any) (*keySnapshot, error) {
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public()
	}
	vk, err := newVerifyKey(key, "")
	if err != nil {
		return nil, err
	}
	fp, err := thumbprint(key)
	if err != nil {
		return nil, err
	}
	return &keySnapshot{byKID: map[string]*verifyKey{}, only: vk, anyKID: true, fingerprint: fp}, nil
}

// newVerifyKey checks a public key and derives its algorithm.
func newVerifyKey(key any, alg string) (*verifyKey, error) {
	var fixed string
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits (at least 2048)", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			fixed = "ES256"
		case elliptic.P384():
			fixed = "ES384"
		case elliptic.P521():
			fixed = "ES512"
		default:
			return nil, errors.New("unsupported curve")
		}
	case ed25519.PublicKey:
		fixed = "EdDSA"
	default:
		return nil, fmt.Errorf("unsupported key type %T (HMAC keys are never accepted from an issuer)", key)
	}
	switch {
	case alg == "":
		alg = fixed
	case !slices.Contains(supportedAlgorithms, alg):
		return nil, fmt.Errorf("unsupported alg %q", alg)
	case fixed != "" && alg != fixed:
		return nil, fmt.Errorf("alg %q does not fit the key", alg)
	case fixed == "" && !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS"):
		return nil, fmt.Errorf("alg %q does not fit an RSA key", alg)
	}
	return &verifyKey{key: key, alg: alg}, nil
}

func thumbprint(key any) (string, error) {
	t, err := (&jose.JSONWebKey{Key: key}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}

// parseJWKS reads a JWK Set. Keys that cannot verify signatures (symmetric,
// use "enc", unknown types or algorithms) are skipped, not fatal: issuers
// publish encryption keys beside signing keys. A set without one usable
// key is an error.
func parseJWKS(data []byte) (*keySnapshot, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWK Set: %w", err)
	}
	if len(set.Keys) > maxKeys {
		return nil, fmt.Errorf("JWK Set has %d keys (at most %d)", len(set.Keys), maxKeys)
	}
	snap := &keySnapshot{byKID: map[string]*verifyKey{}}
	var prints []string
	var last *verifyKey
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		pub := jwk.Public()
		if !pub.Valid() {
			continue // symmetric
		}
		vk, err := newVerifyKey(pub.Key, jwk.Algorithm)
		if err != nil {
			continue
		}
		if _, dup := snap.byKID[jwk.KeyID]; dup {
			return nil, fmt.Errorf("JWK Set has two keys with kid %q", jwk.KeyID)
		}
		snap.byKID[jwk.KeyID] = vk
		fp, err := thumbprint(pub.Key)
		if err != nil {
			continue
		}
		prints = append(prints, jwk.KeyID+"="+fp+"/"+vk.alg)
		last = vk
	}
	if len(snap.byKID) == 0 {
		return nil, errors.New("JWK Set has no usable signature key")
	}
	if len(snap.byKID) == 1 {
		snap.only = last
	}
	slices.Sort(prints)
	sum := sha256.Sum256([]byte(strings.Join(prints, ",")))
	snap.fingerprint = base64.RawURLEncoding.EncodeToString(sum[:])
	return snap, nil
}

// refresh fetches the key set once. The caller holds s.mu.
func (s *keySource) refresh(ctx context.Context) error {
	defer s.readyOnce.Do(func() { close(s.ready) })
	s.lastAttempt = s.now()
	url, err := s.url(ctx)
	if err != nil {
		return err
	}
	body, age, err := s.f.get(ctx, url)
	if err != nil {
		return err
	}
	snap, err := parseJWKS(body)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	snap.cacheScope = s.scope + "|" + snap.fingerprint
	if age < 0 {
		age = DefaultKeysRefresh
	}
	age = min(max(age, s.cfg.KeysMinRefresh), s.cfg.KeysMaxRefresh)
	now := s.now()
	snap.refreshAt = now.Add(age)
	snap.usableUntil = snap.refreshAt.Add(s.cfg.StaleWindow)
	s.snap.Store(snap)
	return nil
}

// run refreshes the key set whenever it is due, until ctx ends. A failed
// fetch is retried every retryInterval; the old set stays in use until its
// stale window ends.
func (s *keySource) run(ctx context.Context, onError func(error)) {
	for {
		s.mu.Lock()
		err := s.refresh(ctx)
		s.mu.Unlock()
		wait := s.retryInterval()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			onError(err)
		} else if snap := s.snap.Load(); snap != nil {
			wait = max(snap.refreshAt.Sub(s.now()), time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *keySource) retryInterval() time.Duration {
	return min(max(s.cfg.KeysMinRefresh, time.Second), 15*time.Second)
}

// current returns the usable key set, fetching the first one if need be;
// errors wrap tokencore.ErrIssuerUnavailable.
func (s *keySource) current(ctx context.Context) (*keySnapshot, error) {
	snap := s.snap.Load()
	if snap == nil && s.url != nil {
		// No set yet (the first request may come before the background
		// fetch, or it failed): fetch now, but at most once per retry
		// interval, however many requests ask.
		s.mu.Lock()
		if snap = s.snap.Load(); snap == nil && (s.lastAttempt.IsZero() || s.now().Sub(s.lastAttempt) >= s.retryInterval()) {
			_ = s.refresh(ctx)
			snap = s.snap.Load()
		}
		s.mu.Unlock()
	}
	if snap == nil {
		return nil, fmt.Errorf("%w: no keys fetched yet", tokencore.ErrIssuerUnavailable)
	}
	if !snap.usable(s.now()) {
		return nil, fmt.Errorf("%w: keys not refreshed within the stale window", tokencore.ErrIssuerUnavailable)
	}
	return snap, nil
}

// refetchForKID fetches the key set again because a token named a kid
// the set lacks, unless such a fetch happened within UnknownKIDInterval.
// Concurrent callers wait for one fetch. It returns the newest set.
func (s *keySource) refetchForKID(ctx context.Context, seen *keySnapshot) *keySnapshot {
	if s.url == nil { // a key file
		return seen
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.snap.Load(); cur != seen {
		return cur // fetched while this caller waited
	}
	now := s.now()
	if !s.lastKIDFetch.IsZero() && now.Sub(s.lastKIDFetch) < s.cfg.UnknownKIDInterval {
		return seen
	}
	s.lastKIDFetch = now
	_ = s.refresh(ctx) // a failure leaves the old set; run reports errors
	return s.snap.Load()
}
