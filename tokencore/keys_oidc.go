package tokencore

import (
	"errors"
	"sort"
)

// ErrNoAsymmetricKey means OpenID Connect was asked of a key set that has no
// asymmetric private key: an ID token signed with the FOLIO shared secret
// could be verified (and forged) only by holders of that secret, and its
// key cannot be published in a JWKS, so relying parties could not check it.
var ErrNoAsymmetricKey = errors.New("OpenID Connect needs an asymmetric signing key (add `key auto` or `key file <private key>` next to `key folio_secret`)")

// AsymmetricSigner returns the key that signs OpenID Connect ID tokens: the
// signing key when it is asymmetric, else the first other asymmetric key
// with a private part (by kid, so the choice is stable across restarts),
// or nil when the set has none. Its public key is in the JWKS.
func (ks *KeySet) AsymmetricSigner() *Key {
	if ks.signer != nil && ks.signer.signer != nil {
		return ks.signer
	}
	ids := make([]string, 0, len(ks.byID))
	for id, k := range ks.byID {
		if k.signer != nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	return ks.byID[ids[0]]
}

// PublicKey returns the public part of an asymmetric key, or nil for a
// shared-secret key. Tests and relying parties verify ID tokens with it.
func (k *Key) PublicKey() any {
	if k.secret != nil {
		return nil
	}
	return k.public
}
