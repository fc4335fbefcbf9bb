package caddymodule

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/edi"
)

// EDIConfig configures EDI-compatible paired tokens (the `edi` block of
// the tokengate app): the keys of EDI and PASTA tokens, their lifetimes and
// claims, the pair binding rule, and subject and API-key records seeded into
// the store. Every field has the default of EDI's service; an empty block
// (or none, when an EDI handler is used) means EDI's defaults with `auto`
// keys.
type EDIConfig struct {
	// EDIKeys sign and verify EDI tokens (ES256, P-256). Default: one
	// `auto` key, generated once and kept in Caddy's storage
	// (tokengate/keys/edi-es256.pem). The key marked sign (or the first
	// private key) signs; every key verifies.
	EDIKeys []EDIKeyConfig `json:"edi_keys,omitempty"`
	// PastaKeys sign and verify PASTA tokens (RSA, at least 2048 bits).
	// Default: one `auto` key (tokengate/keys/pasta-rsa.pem).
	PastaKeys []EDIKeyConfig `json:"pasta_keys,omitempty"`

	// Issuer is the iss of EDI tokens (default https://auth.edirepository.org).
	Issuer string `json:"issuer,omitempty"`
	// HostedDomain is the hd of EDI tokens (default edirepository.org).
	HostedDomain string `json:"hosted_domain,omitempty"`
	// EDITTL and PastaTTL are the lifetimes of minted tokens (default 8h).
	EDITTL   caddy.Duration `json:"edi_ttl,omitempty"`
	PastaTTL caddy.Duration `json:"pasta_ttl,omitempty"`
	// Leeway tolerates clock drift on EDI token times (default 0, at most 60s).
	Leeway caddy.Duration `json:"leeway,omitempty"`
	// PairBinding is `strict` (default: the PASTA uid must be the EDI
	// token's idpUid, a linked idpUid, or public) or `off` (EDI's behaviour).
	PairBinding string `json:"pair_binding,omitempty"`
	// PastaMaxExpiredAge refuses at refresh PASTA tokens that expired
	// longer ago than this (default 0: disabled).
	PastaMaxExpiredAge caddy.Duration `json:"pasta_max_expired_age,omitempty"`
	// PublicUID is the PASTA uid of public access (default `public`).
	PublicUID string `json:"public_uid,omitempty"`
	// AuthSystem is the authSystem of minted PASTA tokens (default
	// https://pasta.edirepository.org/authentication).
	AuthSystem string `json:"auth_system,omitempty"`
	// The system EDI-IDs (default EDI's): the default principals of profiles.
	PublicAccessID        string `json:"public_access_id,omitempty"`
	AuthenticatedAccessID string `json:"authenticated_access_id,omitempty"`
	VettedID              string `json:"vetted_id,omitempty"`
	// TimeZone of date-only API-key validity (IANA name; default UTC).
	TimeZone string `json:"time_zone,omitempty"`

	// Subjects are profile and group records written to the store at
	// provisioning (created or replaced; writing the same record again
	// changes nothing). Groups may name profiles of this list as owners.
	Subjects []EDISubjectConfig `json:"subjects,omitempty"`
	// APIKeys are API-key records written to the store at provisioning,
	// with their secrets as SHA-256 hashes only. A key is created when
	// absent; when present, its name, group and validity follow the config
	// while its revocation and usage are kept, so a key revoked through the
	// operator API stays revoked across restarts.
	APIKeys []EDIAPIKeyConfig `json:"api_keys,omitempty"`

	svc *edi.Service
}

// EDIKeyConfig is one EDI or PASTA key.
type EDIKeyConfig struct {
	// Source is `auto` (generated once, kept in Caddy's storage) or `file`.
	Source string `json:"source"`
	// Path of a PEM file, for `file`: a private key (signs and verifies),
	// or a public key or X.509 certificate (verifies only).
	Path string `json:"path,omitempty"`
	// Sign marks the key that signs new tokens.
	Sign bool `json:"sign,omitempty"`
}

// EDISubjectConfig is a seeded subject record (EDI spec §7.3).
type EDISubjectConfig struct {
	// EDIID is "EDI-" and 40 lowercase hex digits.
	EDIID string `json:"edi_id"`
	// Type is `profile` or `group`.
	Type string `json:"type"`

	// Profile claims; absent nullable claims are null in tokens.
	CommonName    *string `json:"cn,omitempty"`
	Email         *string `json:"email,omitempty"`
	EmailEnabled  bool    `json:"email_enabled,omitempty"`
	IdPCommonName *string `json:"idp_cn,omitempty"`
	IdPName       *string `json:"idp_name,omitempty"`
	IdPUID        *string `json:"idp_uid,omitempty"`
	// Principals default to the Authenticated and Public Access system
	// profiles, plus the Vetted group for LDAP profiles.
	Principals []string `json:"principals,omitempty"`
	// Links are linked profiles (JSON only).
	Links []EDILinkConfig `json:"links,omitempty"`
	// PastaUID defaults to idp_uid (the e-mail for Google); PastaGroups to
	// vetted+authenticated for LDAP and authenticated otherwise.
	PastaUID    string   `json:"pasta_uid,omitempty"`
	PastaGroups []string `json:"pasta_groups,omitempty"`

	// Group name and owning profile.
	Name  string `json:"name,omitempty"`
	Owner string `json:"owner,omitempty"`
}

// EDILinkConfig is a linked profile of a seeded subject.
type EDILinkConfig struct {
	EDIID         string  `json:"edi_id"`
	LinkedAt      int64   `json:"linked_at"`
	CommonName    *string `json:"cn,omitempty"`
	Email         *string `json:"email,omitempty"`
	IdPCommonName *string `json:"idp_cn,omitempty"`
	IdPName       *string `json:"idp_name,omitempty"`
	IdPUID        *string `json:"idp_uid,omitempty"`
}

// EDIAPIKeyConfig is a seeded API key. The secret itself never appears in
// the config.
type EDIAPIKeyConfig struct {
	// ID is the key's opaque identifier.
	ID string `json:"id"`
	// Owner is the EDI-ID of the owning profile.
	Owner string `json:"owner"`
	// Group, when set, makes the key act as this group (owned by Owner).
	Group string `json:"group,omitempty"`
	// Name is a label of up to 64 characters (default: the ID).
	Name string `json:"name,omitempty"`
	// SecretSHA256 is SHA-256 of the secret, as 64 hex digits (optionally
	// prefixed `sha256:`, the form `caddy hash` tools and
	// tokencore.HashSecret write).
	SecretSHA256 string `json:"secret_sha256"`
	// Preview is the first five characters of the secret, for listings
	// (optional).
	Preview string `json:"preview,omitempty"`
	// ValidFrom and ValidTo bound the key's validity: RFC 3339 times or
	// YYYY-MM-DD dates (ValidTo inclusive). Default: from its creation, for
	// one year less one day.
	ValidFrom string `json:"valid_from,omitempty"`
	ValidTo   string `json:"valid_to,omitempty"`
}

// Storage keys of the `auto` EDI keys, next to the app's own keys.
const (
	ediAutoKeyPath   = "tokengate/keys/edi-es256.pem"
	pastaAutoKeyPath = "tokengate/keys/pasta-rsa.pem"
)

// provisionEDI prepares the EDI service when the config has an `edi`
// block; without one, the first EDI handler provisions it with the
// defaults (ediService).
func (a *App) provisionEDI(ctx caddy.Context) error {
	if a.EDI == nil {
		return nil
	}
	_, err := a.ediService(ctx)
	return err
}

// ediService returns the app's EDI service, building it on first use (its
// seeded records are written by App.Start, once the store is open). Caddy
// provisions modules one at a time, so no lock is needed.
func (a *App) ediService(ctx caddy.Context) (*edi.Service, error) {
	if a.EDI == nil {
		a.EDI = &EDIConfig{}
	}
	c := a.EDI
	if c.svc != nil {
		return c.svc, nil
	}
	// The errors of edi.NewService start with "edi:" already; the app's own
	// get it here, also when a handler builds the service.
	cfg, err := c.serviceConfig(ctx, a.logger)
	if err != nil {
		return nil, fmt.Errorf("edi: %w", err)
	}
	svc, err := edi.NewService(a.engine, cfg)
	if err != nil {
		return nil, err
	}
	// The seeded records are written once the store is open (App.Start);
	// what can be checked without the store is checked now, so that
	// `caddy validate` reports it.
	if err := c.checkSeeds(svc.Manager()); err != nil {
		return nil, fmt.Errorf("edi: %w", err)
	}
	c.svc = svc
	return svc, nil
}

// serviceConfig turns the JSON config into the service's, loading keys.
func (c *EDIConfig) serviceConfig(ctx caddy.Context, logger *zap.Logger) (edi.Config, error) {
	cfg := edi.Config{
		Issuer: c.Issuer, HostedDomain: c.HostedDomain,
		EDITTL: time.Duration(c.EDITTL), PastaTTL: time.Duration(c.PastaTTL), Leeway: time.Duration(c.Leeway),
		Binding: edi.PairBinding(c.PairBinding), PastaMaxExpiredAge: time.Duration(c.PastaMaxExpiredAge),
		PublicUID: c.PublicUID, AuthSystem: c.AuthSystem,
		System: edi.SystemIDs{PublicAccess: c.PublicAccessID, AuthenticatedAccess: c.AuthenticatedAccessID, Vetted: c.VettedID},
	}
	for _, o := range []struct {
		name string
		d    caddy.Duration
	}{{"edi_ttl", c.EDITTL}, {"pasta_ttl", c.PastaTTL}, {"leeway", c.Leeway}, {"pasta_max_expired_age", c.PastaMaxExpiredAge}} {
		if o.d < 0 {
			return cfg, fmt.Errorf("%s %s must not be negative", o.name, time.Duration(o.d))
		}
	}
	if c.TimeZone != "" {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return cfg, fmt.Errorf("time_zone: %w", err)
		}
		cfg.Location = loc
	}
	if logger != nil {
		cfg.OnUsageError = func(err error) { logger.Warn("recording EDI API-key usage", zap.Error(err)) }
	}
	var err error
	if cfg.EDISigningKey, cfg.EDIVerifyKeys, err = loadKeys(ctx, c.EDIKeys, ediKeyKind()); err != nil {
		return cfg, fmt.Errorf("edi_key: %w", err)
	}
	if cfg.PastaSigningKey, cfg.PastaVerifyKeys, err = loadKeys(ctx, c.PastaKeys, pastaKeyKind()); err != nil {
		return cfg, fmt.Errorf("pasta_key: %w", err)
	}
	return cfg, nil
}

// keyKind says how to generate, parse and publish one kind of key (the EDI
// ES256 key, the PASTA RSA key), so both are loaded by one loadKeys.
type keyKind[Priv comparable, Pub any] struct {
	autoPath  string
	generate  func() (Priv, error)
	parsePriv func([]byte) (Priv, error)
	parsePub  func([]byte) (Pub, error)
	public    func(Priv) Pub
}

// ediKeyKind and pastaKeyKind describe the two kinds of EDI keys.
func ediKeyKind() keyKind[*ecdsa.PrivateKey, *ecdsa.PublicKey] {
	return keyKind[*ecdsa.PrivateKey, *ecdsa.PublicKey]{
		autoPath: ediAutoKeyPath, generate: edi.GenerateEDIKey,
		parsePriv: edi.ParseEDIPrivateKeyPEM, parsePub: edi.ParseEDIPublicKeyPEM,
		public: func(k *ecdsa.PrivateKey) *ecdsa.PublicKey { return &k.PublicKey },
	}
}

func pastaKeyKind() keyKind[*rsa.PrivateKey, *rsa.PublicKey] {
	return keyKind[*rsa.PrivateKey, *rsa.PublicKey]{
		autoPath: pastaAutoKeyPath, generate: edi.GeneratePastaKey,
		parsePriv: edi.ParsePastaPrivateKeyPEM, parsePub: edi.ParsePastaPublicKeyPEM,
		public: func(k *rsa.PrivateKey) *rsa.PublicKey { return &k.PublicKey },
	}
}

// loadKeys returns the signing key (the zero value if none) and the keys
// that only verify: the key marked sign, else the first private key, signs;
// every other key verifies.
func loadKeys[Priv comparable, Pub any](ctx caddy.Context, cfgs []EDIKeyConfig, kind keyKind[Priv, Pub]) (Priv, []Pub, error) {
	var (
		zero   Priv
		privs  []Priv
		pubs   []Pub
		signer Priv
	)
	if len(cfgs) == 0 {
		cfgs = []EDIKeyConfig{{Source: "auto"}}
	}
	for i, kc := range cfgs {
		data, err := keyPEM(ctx, kc, kind.autoPath, func() ([]byte, error) {
			k, err := kind.generate()
			if err != nil {
				return nil, err
			}
			return edi.MarshalPrivateKeyPEM(k)
		})
		if err != nil {
			return zero, nil, fmt.Errorf("key %d: %w", i, err)
		}
		if priv, perr := kind.parsePriv(data); perr == nil {
			privs = append(privs, priv)
			if kc.Sign {
				if signer != zero {
					return zero, nil, errors.New("more than one key is marked sign")
				}
				signer = priv
			}
			continue
		}
		pub, err := kind.parsePub(data)
		if err != nil {
			return zero, nil, fmt.Errorf("key %d (%s): %w", i, kc.Path, err)
		}
		if kc.Sign {
			return zero, nil, fmt.Errorf("key %d is marked sign but has no private part", i)
		}
		pubs = append(pubs, pub)
	}
	if signer == zero && len(privs) > 0 {
		signer = privs[0]
	}
	for _, p := range privs {
		if p != signer {
			pubs = append(pubs, kind.public(p))
		}
	}
	return signer, pubs, nil
}

// keyPEM returns the PEM data of one configured key: the persisted `auto`
// key (generated under the storage lock on first use) or a file.
func keyPEM(ctx caddy.Context, kc EDIKeyConfig, autoPath string, generate func() ([]byte, error)) ([]byte, error) {
	switch kc.Source {
	case "auto":
		return tokencore.LoadOrCreate(ctx, ctx.Storage(), autoPath, generate)
	case "file":
		path := caddy.NewReplacer().ReplaceAll(kc.Path, "")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", kc.Path, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("unknown source %q (want auto or file)", kc.Source)
}

// seed writes the configured subjects (profiles first, so groups can name
// them as owners) and API keys.
func (c *EDIConfig) seed(ctx caddy.Context, m *edi.Manager) error {
	for _, groups := range []bool{false, true} {
		for _, s := range c.Subjects {
			if (s.Type == tokencore.EDIGroup) != groups {
				continue
			}
			if _, _, err := m.PutSubject(ctx, s.EDIID, s.doc()); err != nil {
				return fmt.Errorf("subject %s: %w", s.EDIID, err)
			}
		}
	}
	loc := m.Location()
	for _, kc := range c.APIKeys {
		k, err := kc.record(loc)
		if err != nil {
			return fmt.Errorf("api_key %s: %w", kc.ID, err)
		}
		if _, err := m.ImportKey(ctx, k); err != nil {
			return fmt.Errorf("api_key %s: %w", kc.ID, err)
		}
	}
	return nil
}

// checkSeeds applies the rules of seed that need no store: each subject's
// form (m.NormalizeSubject reads nothing), each key's record, a group or
// key owner seeded as a group, and two keys with one secret. Whether an
// owner that is not seeded exists is a question for the store, answered
// by seed at start.
func (c *EDIConfig) checkSeeds(m *edi.Manager) error {
	seeded := map[string]string{}
	for _, s := range c.Subjects {
		rec, err := m.NormalizeSubject(s.EDIID, s.doc())
		if err != nil {
			return fmt.Errorf("subject %s: %w", s.EDIID, err)
		}
		seeded[rec.EDIID] = rec.Type
	}
	for _, s := range c.Subjects {
		if t, ok := seeded[s.Owner]; ok && s.Type == tokencore.EDIGroup && t != tokencore.EDIProfile {
			return fmt.Errorf("subject %s: group owner %s is not a profile", s.EDIID, s.Owner)
		}
	}
	secrets := map[string]string{}
	for _, kc := range c.APIKeys {
		k, err := kc.record(m.Location())
		if err != nil {
			return fmt.Errorf("api_key %s: %w", kc.ID, err)
		}
		if t, ok := seeded[k.Owner]; ok && t != tokencore.EDIProfile {
			return fmt.Errorf("api_key %s: owner %s is not a profile", kc.ID, k.Owner)
		}
		if other, dup := secrets[string(k.SecretHash)]; dup && other != k.ID {
			return fmt.Errorf("api_key %s: its secret already belongs to another key (%s)", kc.ID, other)
		}
		secrets[string(k.SecretHash)] = k.ID
	}
	return nil
}

// doc converts a seeded subject to the manager's input.
func (s EDISubjectConfig) doc() edi.SubjectDoc {
	d := edi.SubjectDoc{
		Type: s.Type, CommonName: s.CommonName, Email: s.Email, Principals: s.Principals,
		IsEmailEnabled: s.EmailEnabled, IdPCommonName: s.IdPCommonName, IdPName: s.IdPName, IdPUID: s.IdPUID,
		PastaUID: s.PastaUID, PastaGroups: s.PastaGroups, Name: s.Name, Owner: s.Owner,
	}
	for _, l := range s.Links {
		d.Links = append(d.Links, edi.LinkDoc{
			EDIID: l.EDIID, LinkedAt: l.LinkedAt, CommonName: l.CommonName, Email: l.Email,
			IdPCommonName: l.IdPCommonName, IdPName: l.IdPName, IdPUID: l.IdPUID,
		})
	}
	return d
}

// record converts a seeded key to a store record (without timestamps).
func (kc EDIAPIKeyConfig) record(loc *time.Location) (*tokencore.EDIAPIKey, error) {
	if kc.ID == "" || len(kc.ID) > 128 {
		return nil, errors.New("id must be 1 to 128 bytes")
	}
	hash, err := decodeSecretSHA256(kc.SecretSHA256)
	if err != nil {
		return nil, err
	}
	if len(kc.Preview) > 5 {
		return nil, errors.New("preview is at most the first five characters of the secret")
	}
	k := &tokencore.EDIAPIKey{ID: kc.ID, Owner: kc.Owner, Group: kc.Group, Name: kc.Name, SecretHash: hash, Preview: kc.Preview}
	if k.Name == "" {
		k.Name = kc.ID
	}
	if kc.ValidFrom != "" {
		if k.ValidFrom, err = edi.ParseValidity(kc.ValidFrom, false, loc); err != nil {
			return nil, fmt.Errorf("valid_from: %w", err)
		}
	}
	if kc.ValidTo != "" {
		if k.ValidTo, err = edi.ParseValidity(kc.ValidTo, true, loc); err != nil {
			return nil, fmt.Errorf("valid_to: %w", err)
		}
	}
	return k, nil
}

// decodeSecretSHA256 reads 64 hex digits, optionally prefixed "sha256:".
func decodeSecretSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "sha256:"))
	if err != nil || len(b) != 32 {
		return nil, errors.New("secret_sha256 must be SHA-256 of the secret as 64 hex digits")
	}
	return b, nil
}
