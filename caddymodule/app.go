// Package caddymodule is the Caddy glue of tokengate: the `tokengate` app,
// which owns the state every handler shares (keys, store, verification
// cache, revocation view), and the HTTP handlers that mount the token APIs
// and protect routes. Protocol rules live in tokencore; handlers here decode
// requests, call tokencore and encode answers.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/edi"
	"github.com/tokengate/tokengate/tokencore/issuer"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
	"github.com/tokengate/tokengate/tokencore/store/memory"
	"github.com/tokengate/tokengate/tokencore/store/redis"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `tokengate` app. It owns the state that every tokengate
// handler of every site shares: signing and verification keys, the store of
// grants and revocations, the verification cache and the revocation view.
// Handlers find it with ctx.App("tokengate"), so a token revoked through one
// handler is refused by every other on the next request.
//
// The store, cache and revocation view are shared across config reloads
// through a caddy.UsagePool keyed by the store's identity: Caddy provisions
// the new config before it cleans up the old one, and a bbolt file can only
// be open once, so both generations must use the same handle.
type App struct {
	// Keys that sign and verify tokens. Default: one `auto` key (ES256,
	// generated once and persisted in Caddy's storage). The key marked
	// `sign` (or the first key able to sign) signs; all verify.
	Keys []KeyConfig `json:"keys,omitempty"`

	// Store of grants and revocations. Default: bbolt at
	// `$XDG_DATA_HOME/caddy/tokengate/tokengate.db` (Caddy's data directory).
	Store *StoreConfig `json:"store,omitempty"`

	// Cache bounds the verification cache (default 100000 entries, 10m).
	Cache *CacheConfig `json:"cache,omitempty"`

	// AccessTTL and RefreshTTL are the default token lifetimes
	// (default 600s and 604800s, mod-authtoken's).
	AccessTTL  caddy.Duration `json:"access_ttl,omitempty"`
	RefreshTTL caddy.Duration `json:"refresh_ttl,omitempty"`

	// TenantTTLs overrides lifetimes per tenant.
	TenantTTLs map[string]TenantTTL `json:"tenant_ttls,omitempty"`

	// DefaultTenant is the tenant of requests without X-Okapi-Tenant.
	DefaultTenant string `json:"default_tenant,omitempty"`

	// Issuer is the `iss` of minted tokens and the OAuth issuer identifier.
	Issuer string `json:"issuer,omitempty"`

	// SweepInterval is how often expired records are deleted (default 1m).
	SweepInterval caddy.Duration `json:"sweep_interval,omitempty"`

	// RevocationSync is how often, with a shared (Redis) store, the whole
	// revocation set is read again as a safety net (default 15m). Other
	// instances' revocations arrive through the store's numbered feed at
	// once, and a gap is found within 50ms; this reload only guards against
	// a fault in that mechanism. A store this process alone writes (bbolt,
	// memory) is never reloaded: the view is pruned every sweep_interval.
	RevocationSync caddy.Duration `json:"revocation_sync,omitempty"`

	// OperatorKeyHashes are the hashes (`sha256:<hex>` or bcrypt) of the
	// bearer keys that authenticate operators on the management APIs.
	OperatorKeyHashes []string `json:"operator_key_hashes,omitempty"`

	// OAuth configures the OAuth 2.0 / OpenID Connect token service.
	OAuth *OAuthConfig `json:"oauth,omitempty"`

	// EDI configures EDI-compatible paired tokens.
	EDI *EDIConfig `json:"edi,omitempty"`

	// AcceptStore accepts, for one start, a store that is not the one the
	// keys were used with (reset, replaced, or restored from an older
	// backup): `<store id>@<generation>`, as the refusal message prints it.
	// See docs/operations.md, Backups and recovery.
	AcceptStore string `json:"accept_store,omitempty"`

	// TrustedIssuers are external identity providers whose tokens routes
	// may accept (docs/external-issuers.md).
	TrustedIssuers []TrustedIssuerConfig `json:"trusted_issuers,omitempty"`

	engine  *tokencore.Engine
	issuers *issuer.Set
	// issuerHeaders are the claim headers of each trusted issuer.
	issuerHeaders map[string][]claimHeader
	ttl           tokencore.TTLPolicy
	state         *sharedState
	key           string
	logger        *zap.Logger
	metrics       *appMetrics

	// identity is the list of gateway credentials every handler strips
	// (identity.go).
	identity *gatewayCredentials

	ctx     caddy.Context
	storage tokencore.KeyStorage
	// stopBinding ends this config's periodic store-binding refresh.
	stopBinding context.CancelFunc
	bindingDone chan struct{}
}

// KeyConfig is one key of the key set.
type KeyConfig struct {
	// Source is `auto`, `file` (PEM private key, public key or certificate)
	// or `folio_secret` (mod-authtoken's jwt.signing.key).
	Source string `json:"source"`
	// Path of the PEM file, for `file`.
	Path string `json:"path,omitempty"`
	// Secret for `folio_secret`: a placeholder such as {env.JWT_SIGNING_KEY}
	// or {file./run/secrets/jwt}, replaced at provisioning; a literal is
	// refused (secrets.go). Never logged.
	Secret string `json:"secret,omitempty"`
	// Alg of an `auto` key: ES256 (default) or RS256. The RS256 key signs
	// the ID tokens of clients registered with RS256 (OpenID Connect's
	// default); it is stored in Caddy's storage like the ES256 key.
	Alg string `json:"alg,omitempty"`
	// KID overrides the key ID (default: RFC 7638 thumbprint).
	KID string `json:"kid,omitempty"`
	// Sign marks the key that signs new tokens.
	Sign bool `json:"sign,omitempty"`
}

// StoreConfig selects the store backend.
type StoreConfig struct {
	// Type is `bolt` (default), `memory` (state lost on restart; tests) or
	// `redis` (shared by several gateway instances).
	Type string `json:"type,omitempty"`
	// Path of the bbolt file.
	Path string `json:"path,omitempty"`

	// Address of the Redis server, host:port (default 127.0.0.1:6379).
	Address string `json:"address,omitempty"`
	// Username and Password authenticate to Redis. Password is a
	// placeholder such as {env.REDIS_PASSWORD}, replaced at provisioning; a
	// literal is refused (secrets.go). Never logged.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// DB is the Redis database number (default 0).
	DB int `json:"db,omitempty"`
	// Prefix of every Redis key (default `tokengate:`). Instances that
	// share a prefix share their state.
	Prefix string `json:"prefix,omitempty"`

	// MinReplicasAcked is how many Redis replicas must confirm each write
	// of a grant, a revocation or an API key (WAIT) before it is answered:
	// unset means auto (one, as soon as the primary reports a connected
	// replica), 0 never waits. A write not confirmed in time answers 503.
	MinReplicasAcked *int `json:"min_replicas_acked,omitempty"`
	// ReplicaAckTimeout bounds that wait (default 100ms).
	ReplicaAckTimeout caddy.Duration `json:"replica_ack_timeout,omitempty"`
	// RevocationWait bounds how long a revoking request waits for every
	// live instance to apply its revocation (default 250ms).
	RevocationWait caddy.Duration `json:"revocation_wait,omitempty"`
	// MaxStaleness is how long an instance trusts its revocation view
	// without confirming it against the store (default 250ms). Past it,
	// protected requests catch up with the store first, and when the store
	// cannot be reached OnStale decides.
	MaxStaleness caddy.Duration `json:"max_staleness,omitempty"`
	// OnStale is `refuse` (default: protected routes answer 503 while the
	// view cannot be confirmed) or `serve` (answer from the view as it is).
	OnStale string `json:"on_stale,omitempty"`
	// InstanceID names this instance in the store's registry (default: host
	// name and random hex, new at every start).
	InstanceID string `json:"instance_id,omitempty"`
}

// CacheConfig bounds the verification cache.
type CacheConfig struct {
	MaxEntries int64          `json:"max_entries,omitempty"`
	MaxTTL     caddy.Duration `json:"max_ttl,omitempty"`
}

// TenantTTL overrides token lifetimes for one tenant.
type TenantTTL struct {
	AccessTTL  caddy.Duration `json:"access_ttl,omitempty"`
	RefreshTTL caddy.Duration `json:"refresh_ttl,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "tokengate", New: func() caddy.Module { return new(App) }}
}

// Provision joins (or prepares) the shared state and loads the keys. It
// opens no store: that is Start's job, so that `caddy validate` neither
// creates a store nor waits for the lock of a running gateway's. Handlers
// build their services on the engine during their own Provision; the
// engine's store is a handle that the store is attached to in Start, and
// its revocation view refuses every token until it has been loaded.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if err := a.checkSecrets(); err != nil {
		return err
	}
	a.ctx = ctx
	st, key, err := a.openState()
	if err != nil {
		return err
	}
	a.state, a.key = st, key
	keys, err := a.loadKeys(ctx)
	if err != nil {
		return err
	}
	a.ttl = tokencore.TTLPolicy{
		Default: tokencore.TokenTTL{Access: time.Duration(a.AccessTTL), Refresh: time.Duration(a.RefreshTTL)},
		Tenants: map[string]tokencore.TokenTTL{},
	}
	for tenant, t := range a.TenantTTLs {
		a.ttl.Tenants[tenant] = tokencore.TokenTTL{Access: time.Duration(t.AccessTTL), Refresh: time.Duration(t.RefreshTTL)}
	}
	a.engine = &tokencore.Engine{Keys: keys, Store: st.store, View: st.view, Cache: st.cache, Issuer: a.Issuer}
	for i, h := range a.OperatorKeyHashes {
		if err := tokencore.ValidateSecretHash(h); err != nil {
			return fmt.Errorf("operator key hash %d: %w", i, err)
		}
	}
	// Not wrapped here: the errors of tokencore/oauth and tokencore/edi
	// already start with "oauth:" and "edi:", and the app's own errors about
	// those blocks say so where they are made (no "oauth: oauth: ...").
	if err := a.provisionOAuth(ctx); err != nil {
		return err
	}
	if err := a.provisionEDI(ctx); err != nil {
		return err
	}
	if err := a.provisionIssuers(); err != nil {
		return err
	}
	if backend := a.state.store.Backend(); backend != nil {
		// A reload: the store is open, so the seeded records are written
		// now, before any handler of this config serves (as on a first
		// start, where Start writes them before the store is attached).
		if err := a.seedEDI(backend); err != nil {
			return err
		}
	}
	registerMetrics(ctx, a)
	return nil
}

// seedEDI writes the EDI records of the config (`edi { subject ... }`)
// into store, which need not be attached to the engine's handle yet.
func (a *App) seedEDI(store tokencore.Store) error {
	if a.EDI == nil || a.EDI.svc == nil {
		return nil
	}
	// An engine on the bare store: seeding writes records, it revokes
	// nothing, so the declared lifetimes are not needed.
	e := &tokencore.Engine{Keys: a.engine.Keys, Store: store, View: a.engine.View, Cache: a.engine.Cache, Now: a.engine.Now, Issuer: a.engine.Issuer}
	m, err := edi.NewManager(e, a.EDI.svc.Config())
	if err != nil {
		return fmt.Errorf("edi: %w", err)
	}
	if err := a.EDI.seed(a.ctx, m); err != nil {
		return fmt.Errorf("edi: seeding: %w", err)
	}
	return nil
}

// IsOperator reports whether key is one of the configured operator keys.
// Every hash is checked, so the time taken does not depend on which (if
// any) matched.
func (a *App) IsOperator(key string) bool {
	ok := false
	for _, h := range a.OperatorKeyHashes {
		if tokencore.VerifySecretHash(h, key) {
			ok = true
		}
	}
	return key != "" && ok
}

// Validate checks the configuration. Errors name the option (and the
// tenant), since a JSON config has no line to point at.
func (a *App) Validate() error {
	if err := checkTTLs(a.AccessTTL, a.RefreshTTL); err != nil {
		return err
	}
	for _, tenant := range slices.Sorted(maps.Keys(a.TenantTTLs)) {
		t := a.TenantTTLs[tenant]
		if err := checkTTLs(t.AccessTTL, t.RefreshTTL); err != nil {
			return fmt.Errorf("tenant_ttl %q: %w", tenant, err)
		}
	}
	return nil
}

// checkTTLs applies the lifetime rules to one access_ttl/refresh_ttl pair
// (zero means the default).
func checkTTLs(access, refresh caddy.Duration) error {
	for _, o := range []struct {
		name string
		d    caddy.Duration
	}{{"access_ttl", access}, {"refresh_ttl", refresh}} {
		if o.d < 0 {
			return fmt.Errorf("%s %s must not be negative", o.name, time.Duration(o.d))
		}
	}
	if access > 0 && refresh > 0 && refresh < access {
		return fmt.Errorf("refresh_ttl %s must not be shorter than access_ttl %s", time.Duration(refresh), time.Duration(access))
	}
	return nil
}

// Start opens the store (unless a previous config of this process already
// did: a reload keeps the open store), checks that it is the store of the
// keys (tokencore.BindStore), loads its revocations, writes the EDI records
// of the config, attaches the store to the engine, and starts the periodic
// refresh of the binding.
func (a *App) Start() error {
	a.storage = a.ctx.Storage() // the binding lives beside the keys
	bind := func(store tokencore.IdentifiedStore, name string) error {
		id, outcome, err := tokencore.BindStore(a.ctx, a.storage, store, name, a.engine.Keys, a.AcceptStore, time.Now())
		if err != nil {
			return err
		}
		level := zapcore.InfoLevel
		if outcome == tokencore.BindAccepted || outcome == tokencore.BindKeysReplaced {
			level = zapcore.WarnLevel
		}
		if c := a.logger.Check(level, "store bound to the keys"); c != nil {
			c.Write(zap.String("store", name), zap.String("store_id", id.ID), zap.Uint64("generation", id.Generation), zap.String("outcome", string(outcome)))
		}
		return nil
	}
	// Seeded records go in before the store is attached, so no request
	// can find the store without them.
	opened, err := a.state.open(bind, a.seedEDI)
	if err != nil {
		return err
	}
	if !opened && a.state.identified != nil {
		// A reload: the store was bound at its start; record the keys of
		// this config with it.
		if _, err := tokencore.RefreshStoreBinding(a.ctx, a.storage, a.state.identified, a.state.name, a.engine.Keys, time.Now()); err != nil {
			a.logger.Error("recording the store binding", zap.Error(err))
		}
	}
	if a.state.identified != nil {
		a.startBindingRefresh()
	}
	a.startIssuers(a.ctx)
	a.logStartup()
	return nil
}

// storeBindingRefresh is how often a running gateway advances its store's
// generation and records it with the keys: a backup restored later is
// recognised as older if it was taken at least this long before the last
// refresh.
const storeBindingRefresh = time.Minute

// startBindingRefresh runs tokencore.RefreshStoreBinding every
// storeBindingRefresh until Stop.
func (a *App) startBindingRefresh() {
	ctx, cancel := context.WithCancel(context.Background())
	a.stopBinding, a.bindingDone = cancel, make(chan struct{})
	store, name, keys, storage := a.state.identified, a.state.name, a.engine.Keys, a.storage
	go func() {
		defer close(a.bindingDone)
		tokencore.RunEvery(ctx, storeBindingRefresh, func(ctx context.Context) {
			if _, err := tokencore.RefreshStoreBinding(ctx, storage, store, name, keys, time.Now()); err != nil && ctx.Err() == nil {
				a.logger.Error("recording the store binding", zap.String("store", name), zap.Error(err))
			}
		})
	}()
}

// Stop implements caddy.App: it ends this config's binding refresh; the
// shared state outlives the app until the last config using it is cleaned
// up.
func (a *App) Stop() error {
	if a.stopBinding != nil {
		a.stopBinding()
		<-a.bindingDone
	}
	return nil
}

// Cleanup releases this config's hold on the shared state.
func (a *App) Cleanup() error {
	if a.state == nil {
		return nil
	}
	_, err := statePool.Delete(a.key)
	return err
}

// Engine returns the shared engine (for handlers).
func (a *App) Engine() *tokencore.Engine { return a.engine }

// TTL returns the token lifetime policy.
func (a *App) TTL() tokencore.TTLPolicy { return a.ttl }

// defaultStorePath is the bbolt file in Caddy's data directory.
func defaultStorePath() string {
	return filepath.Join(caddy.AppDataDir(), "tokengate", "tokengate.db")
}

// openState joins or creates the pooled state for the configured store,
// without opening the store (sharedState.open does, in Start).
func (a *App) openState() (*sharedState, string, error) {
	sc := StoreConfig{Type: "bolt"}
	if a.Store != nil {
		sc = *a.Store
	}
	if sc.Type == "" {
		sc.Type = "bolt"
	}
	var key string
	switch sc.Type {
	case "bolt":
		if sc.Path == "" {
			sc.Path = defaultStorePath()
		}
		abs, err := filepath.Abs(os.ExpandEnv(sc.Path))
		if err != nil {
			return nil, "", fmt.Errorf("store path: %w", err)
		}
		sc.Path = abs
		key = "bolt:" + abs
	case "memory":
		key = "memory"
	case "redis":
		if err := sc.validateShared(); err != nil {
			return nil, "", fmt.Errorf("redis store: %w", err)
		}
		repl := caddy.NewReplacer()
		sc.Address = repl.ReplaceAll(sc.Address, "")
		if sc.Address == "" {
			sc.Address = "127.0.0.1:6379"
		}
		sc.Username = repl.ReplaceAll(sc.Username, "")
		if sc.Password != "" {
			var err error
			if sc.Password, err = resolveSecret("redis store: password", sc.Password); err != nil {
				return nil, "", err
			}
		}
		if sc.Prefix == "" {
			sc.Prefix = redis.DefaultPrefix
		}
		if sc.DB < 0 {
			return nil, "", fmt.Errorf("redis store: db %d is negative", sc.DB)
		}
		key = fmt.Sprintf("redis:%s/%d/%s", sc.Address, sc.DB, sc.Prefix)
	default:
		return nil, "", fmt.Errorf("unknown store type %q (want bolt, memory or redis)", sc.Type)
	}
	cc := tokencore.CacheConfig{}
	if a.Cache != nil {
		cc = tokencore.CacheConfig{MaxEntries: a.Cache.MaxEntries, MaxTTL: time.Duration(a.Cache.MaxTTL)}
	}
	sweep, syncEvery := time.Duration(a.SweepInterval), time.Duration(a.RevocationSync)
	settings := stateSettings{sweep: sweep, syncEvery: syncEvery, cache: cc, store: sc}
	v, loaded, err := statePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newSharedState(settings, key, a.logger)
	})
	if err != nil {
		return nil, "", err
	}
	st := v.(*sharedState)
	if loaded {
		if err := reloadConflict(st.settings, settings); err != nil {
			_, _ = statePool.Delete(key) // this config will not use the state
			return nil, "", err
		}
		a.logger.Debug("reusing tokengate state across config reload", zap.String("store", key))
	}
	return st, key, nil
}

// loadKeys builds the key set from the configuration.
func (a *App) loadKeys(ctx caddy.Context) (*tokencore.KeySet, error) {
	cfgs := a.Keys
	if len(cfgs) == 0 {
		cfgs = []KeyConfig{{Source: "auto"}}
	}
	repl := caddy.NewReplacer()
	var (
		keys       []*tokencore.Key
		signer     *tokencore.Key
		refreshKey []byte
		autoKey    *tokencore.Key
		autoRef    []byte
	)
	loadAuto := func() error {
		if autoKey != nil {
			return nil
		}
		var err error
		autoKey, autoRef, err = tokencore.LoadOrCreateAutoKeys(ctx, ctx.Storage())
		return err
	}
	for i, kc := range cfgs {
		var k *tokencore.Key
		switch kc.Source {
		case "auto":
			switch kc.Alg {
			case "", tokencore.AlgES256:
				if err := loadAuto(); err != nil {
					return nil, fmt.Errorf("key %d (auto): %w", i, err)
				}
				k = autoKey
			case tokencore.AlgRS256:
				var err error
				if k, err = tokencore.LoadOrCreateAutoRS256Key(ctx, ctx.Storage()); err != nil {
					return nil, fmt.Errorf("key %d (auto RS256): %w", i, err)
				}
			default:
				return nil, fmt.Errorf("key %d: auto key algorithm %q (want ES256 or RS256)", i, kc.Alg)
			}
		case "file":
			data, err := os.ReadFile(repl.ReplaceAll(kc.Path, ""))
			if err != nil {
				return nil, fmt.Errorf("key %d: reading %s: %w", i, kc.Path, err)
			}
			if k, err = tokencore.ParseKeyPEM(data, kc.KID); err != nil {
				return nil, fmt.Errorf("key %d (%s): %w", i, kc.Path, err)
			}
		case "folio_secret":
			secret, err := resolveSecret(fmt.Sprintf("key %d: folio_secret", i), kc.Secret)
			if err != nil {
				return nil, err
			}
			k = tokencore.NewFolioKey(secret)
			refreshKey = tokencore.DeriveFolioSecret(secret)
		default:
			return nil, fmt.Errorf("key %d: unknown source %q (want auto, file or folio_secret)", i, kc.Source)
		}
		keys = append(keys, k)
		if kc.Sign {
			if signer != nil {
				return nil, errors.New("more than one key is marked sign")
			}
			if !k.CanSign() {
				return nil, fmt.Errorf("key %d is marked sign but has no private part", i)
			}
			signer = k
		}
	}
	if signer == nil {
		for _, k := range keys {
			if k.CanSign() {
				signer = k
				break
			}
		}
	}
	if signer == nil {
		return nil, errors.New("no key can sign: add `key auto` or a private key")
	}
	if a.OAuth.usesOpenID() && !slices.ContainsFunc(keys, func(k *tokencore.Key) bool { return k.Alg == tokencore.AlgRS256 && k.CanSign() }) {
		// OpenID Discovery makes RS256 mandatory for ID tokens, and it is
		// the algorithm of clients that register none: an OpenID provider
		// gets the `auto rs256` key unless an RSA private key is configured.
		k, err := tokencore.LoadOrCreateAutoRS256Key(ctx, ctx.Storage())
		if err != nil {
			return nil, fmt.Errorf("ID-token key (auto RS256): %w", err)
		}
		keys = append(keys, k)
	}
	if refreshKey == nil {
		// Refresh tokens are encrypted with the FOLIO secret when there is
		// one (so mod-authtoken can read them), else with the auto key.
		if err := loadAuto(); err != nil {
			return nil, fmt.Errorf("refresh-token key: %w", err)
		}
		refreshKey = autoRef
	}
	return tokencore.NewKeySet(signer, keys, refreshKey)
}

// statePool shares state across config reloads (see App).
var statePool = caddy.NewUsagePool()

// validateShared checks the options of a shared store.
func (sc *StoreConfig) validateShared() error {
	if sc.MinReplicasAcked != nil && *sc.MinReplicasAcked < 0 {
		return fmt.Errorf("min_replicas_acked %d is negative", *sc.MinReplicasAcked)
	}
	for name, d := range map[string]caddy.Duration{
		"replica_ack_timeout": sc.ReplicaAckTimeout, "revocation_wait": sc.RevocationWait, "max_staleness": sc.MaxStaleness,
	} {
		if d < 0 || time.Duration(d) > time.Minute {
			return fmt.Errorf("%s %v must be between 0 and 1m", name, time.Duration(d))
		}
	}
	if sc.OnStale != "" && sc.OnStale != "refuse" && sc.OnStale != "serve" {
		return fmt.Errorf("on_stale %q: want refuse or serve", sc.OnStale)
	}
	return nil
}

// replicaAcks maps min_replicas_acked onto the store option.
func (sc *StoreConfig) replicaAcks() redis.ReplicaAcks {
	switch {
	case sc.MinReplicasAcked == nil:
		return redis.ReplicaAcksAuto
	case *sc.MinReplicasAcked == 0:
		return redis.ReplicaAcksOff
	}
	return redis.ReplicaAcks(*sc.MinReplicasAcked)
}

// followerConfig maps the shared-store options onto the follower's, with
// its events logged: the view turning stale and fresh again (a store
// outage and its recovery as protected traffic sees them), reloads, and
// instances that did not confirm a revocation in time.
func (sc *StoreConfig) followerConfig(logger *zap.Logger) tokencore.FollowerConfig {
	serve := sc.OnStale == "serve"
	return tokencore.FollowerConfig{
		InstanceID:   sc.InstanceID,
		FanoutWait:   time.Duration(sc.RevocationWait),
		MaxStaleness: time.Duration(sc.MaxStaleness),
		ServeStale:   serve,
		OnEvent: func(e tokencore.FollowerEvent) {
			switch e.Kind {
			case tokencore.EventStale:
				msg := "store unreachable beyond max_staleness: refusing protected traffic (503) until the revocation view is confirmed again"
				if serve {
					msg = "store unreachable beyond max_staleness: serving protected traffic from a revocation view that may miss revocations"
				}
				logger.Warn(msg, zap.Uint64("revocation_seq", e.Seq), zap.Error(e.Err))
			case tokencore.EventFresh:
				logger.Warn("store reachable again: revocation view confirmed", zap.Uint64("revocation_seq", e.Seq))
			case tokencore.EventReload:
				logger.Warn("reloading every revocation from the store", zap.Uint64("revocation_seq", e.Seq), zap.Error(e.Err))
			case tokencore.EventLagging:
				logger.Warn("instances did not confirm a revocation within revocation_wait; they refuse protected traffic until they catch up",
					zap.Uint64("revocation_seq", e.Seq), zap.Strings("instances", e.Instances), zap.Error(e.Err))
			}
		},
	}
}

// sharedState is what must outlive a config reload: the store (a handle,
// attached when the first config using it starts), the revocation view
// mirroring it, the verification cache, and the background sweeper and
// revocation follower.
type sharedState struct {
	sc        StoreConfig
	name      string // the store, for messages: its path or address
	sweep     time.Duration
	syncEvery time.Duration
	logger    *zap.Logger
	// settings is what the state was built with; a reload may not change
	// it (reloadConflict).
	settings stateSettings

	store *tokencore.StoreHandle
	view  *tokencore.RevocationView
	cache *tokencore.VerifyCache

	mu         sync.Mutex
	opened     bool
	failed     error                     // why open failed; it is not tried again
	identified tokencore.IdentifiedStore // the backend, if persistent; set by open
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	// follower keeps the view in step with a shared (Redis) store; nil for
	// a store this process alone writes. Set by open.
	follower *tokencore.RevocationFollower
}

// newSharedState prepares the state of one store without opening it.
func newSharedState(settings stateSettings, key string, logger *zap.Logger) (*sharedState, error) {
	sc := settings.store
	cache, err := tokencore.NewVerifyCache(settings.cache)
	if err != nil {
		return nil, err
	}
	name := key
	if sc.Type == "bolt" {
		name = sc.Path
	}
	return &sharedState{
		sc: sc, name: name, sweep: settings.sweep, syncEvery: settings.syncEvery, logger: logger, settings: settings,
		store: tokencore.NewStoreHandle(), view: tokencore.NewPendingRevocationView(), cache: cache,
	}, nil
}

// open opens the store, lets bind check it against the keys (persistent
// stores only), loads the revocations, lets prepare write what must be
// there before anything is served, attaches the store to the handle the
// engine holds and starts the background work. It reports whether it
// opened the store: a later config (a reload) finds it open and gets false.
// On error nothing stays open, and the requests waiting for the store are
// released with an error: the config that made this state is being
// refused, and the state will be destroyed with it.
func (s *sharedState) open(bind func(store tokencore.IdentifiedStore, name string) error, prepare func(tokencore.Store) error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened || s.failed != nil {
		return false, s.failed
	}
	opened, err := s.openLocked(bind, prepare)
	if err != nil {
		s.failed = err
		s.store.Abandon()
		s.view.Abandon()
	}
	return opened, err
}

func (s *sharedState) openLocked(bind func(store tokencore.IdentifiedStore, name string) error, prepare func(tokencore.Store) error) (bool, error) {
	sc, logger := s.sc, s.logger
	var store tokencore.Store
	switch sc.Type {
	case "memory":
		store = memory.New()
	case "bolt":
		st, err := bolt.Open(sc.Path, bolt.Options{Timeout: 2 * time.Second})
		if errors.Is(err, tokencore.ErrStoreLocked) {
			return false, fmt.Errorf("store bolt: %w: is another Caddy running on this store? To change a running gateway's config, use `caddy reload`", err)
		}
		if err != nil {
			return false, fmt.Errorf("store bolt: %w", err)
		}
		store = st
	case "redis":
		octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := redis.Open(octx, redis.Options{
			Addr: sc.Address, Username: sc.Username, Password: sc.Password, DB: sc.DB,
			KeyPrefix: sc.Prefix, DialTimeout: 5 * time.Second,
			ReplicaAcks: sc.replicaAcks(), ReplicaAckTimeout: time.Duration(sc.ReplicaAckTimeout),
		})
		ocancel()
		if err != nil {
			return false, err
		}
		store = st
	}
	identified, _ := store.(tokencore.IdentifiedStore)
	if identified != nil {
		if err := bind(identified, s.name); err != nil {
			store.Close()
			return false, err
		}
	}
	view := s.view
	ctx, cancel := context.WithCancel(context.Background())
	var follower *tokencore.RevocationFollower
	if _, shared := store.(tokencore.RevocationFeed); shared {
		// A shared store: follow its numbered revocation feed, so every
		// revocation by any instance is applied here at once, a missed one
		// is found within 50ms, and revocations wait for this instance.
		// Starting the follower loads the view.
		octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
		f, err := tokencore.StartFollower(octx, store, view, sc.followerConfig(logger))
		ocancel()
		if err != nil {
			cancel()
			store.Close()
			return false, err
		}
		follower = f
		logger.Info("following the shared store's revocations", zap.String("instance", f.InstanceID()),
			zap.Uint64("revocation_seq", view.Position().Seq))
	} else {
		engine := &tokencore.Engine{Store: store, View: view}
		if err := engine.SyncRevocations(ctx); err != nil {
			cancel()
			store.Close()
			return false, fmt.Errorf("loading revocations: %w", err)
		}
	}
	abandon := func(err error) (bool, error) {
		if follower != nil {
			follower.Stop()
		}
		cancel()
		store.Close()
		return false, err
	}
	if err := prepare(store); err != nil {
		return abandon(err)
	}
	if err := s.store.Attach(store); err != nil {
		return abandon(err)
	}
	s.opened, s.identified, s.cancel, s.follower = true, identified, cancel, follower
	sweep, syncEvery := s.sweep, s.syncEvery
	if sweep <= 0 {
		sweep = defaultSweepInterval
	}
	if syncEvery <= 0 {
		syncEvery = defaultRevocationSync
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		tokencore.RunSweeper(ctx, store, sweep, time.Now, func(n int, err error) {
			if err != nil {
				logger.Error("sweeping expired tokens", zap.Error(err))
			} else if c := logger.Check(zapcore.DebugLevel, "swept expired tokens"); c != nil && n > 0 {
				c.Write(zap.Int("count", n))
			}
		})
	}()
	go func() {
		defer s.wg.Done()
		// The view forgets expired entries with the sweep; with a shared
		// store it is also read again, rarely, as a safety net.
		pruneEvery := sweep
		if follower != nil {
			pruneEvery = min(sweep, syncEvery)
		}
		lastReload := time.Now()
		tokencore.RunEvery(ctx, pruneEvery, func(ctx context.Context) {
			view.Prune(time.Now())
			if follower == nil || time.Since(lastReload) < syncEvery {
				return
			}
			lastReload = time.Now()
			if err := follower.Reload(ctx); err != nil && ctx.Err() == nil {
				logger.Error("reloading revocations", zap.Error(err))
			}
		})
	}()
	return true, nil
}

// Destruct stops the background work and closes the store (if it was
// opened); the pool calls it when the last config using the state is
// cleaned up.
func (s *sharedState) Destruct() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.follower != nil {
		s.follower.Stop() // unregistered: revocations stop waiting for this instance
	}
	s.cache.Close()
	return s.store.Close()
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*sharedState)(nil)
)
