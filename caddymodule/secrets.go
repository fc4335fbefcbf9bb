package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Secrets in the configuration. A Caddy config is stored (autosave.json),
// printed (`caddy adapt`, GET /config/) and shipped around, so a secret
// written into it is a secret leaked. There is ONE rule for every option
// that holds a secret (key folio_secret, the Redis password, OAuth client
// secrets): the value is a placeholder resolved at provisioning, such as
// {env.JWT_SIGNING_KEY} or {file./run/secrets/jwt}, never the secret
// itself; and a placeholder that resolves to nothing is an error (an unset
// environment variable must not make a key, a client or a store
// secretless). Options that hold a hash of a secret (operator_key_hash,
// signer_secret_hash, secret_hash, secret_sha256) take literals: a hash is
// no secret. The Caddyfile parsers check the rule, so `caddy adapt` never
// prints a secret, and Provision checks it again for JSON configs, so a
// config holding one never runs (and is never autosaved).

// placeholderOnly reports whether v is exactly one placeholder, such as
// {env.WEB_CLIENT_SECRET} or {file./run/secrets/web}.
func placeholderOnly(v string) bool {
	inner, ok := strings.CutPrefix(v, "{")
	if !ok {
		return false
	}
	inner, ok = strings.CutSuffix(inner, "}")
	return ok && inner != "" && !strings.ContainsAny(inner, "{} \t")
}

// checkSecret enforces the rule on the configured value v of the secret
// option what (empty means not configured).
func checkSecret(what, v string) error {
	if v == "" || placeholderOnly(v) {
		return nil
	}
	return fmt.Errorf("%s must be a placeholder such as {env.NAME} or {file./path/to/secret}, never the secret itself (configs are stored and printed)", what)
}

// resolveSecret checks v and returns the secret it names; a placeholder
// that yields nothing is an error. The error never contains the secret.
func resolveSecret(what, v string) (string, error) {
	if err := checkSecret(what, v); err != nil {
		return "", err
	}
	secret := caddy.NewReplacer().ReplaceAll(v, "")
	if secret == "" {
		return "", fmt.Errorf("%s: placeholder %s is empty (is the environment variable set, the file readable?)", what, v)
	}
	return secret, nil
}

// checkSecrets applies the rule to every secret option of the app's JSON
// configuration, before anything is opened or loaded.
func (a *App) checkSecrets() error {
	for i, k := range a.Keys {
		if err := checkSecret(fmt.Sprintf("key %d: folio_secret", i), k.Secret); err != nil {
			return err
		}
	}
	if a.Store != nil {
		if err := checkSecret("store: redis password", a.Store.Password); err != nil {
			return err
		}
	}
	if a.OAuth != nil {
		for i, c := range a.OAuth.Clients {
			if err := checkSecret(fmt.Sprintf("oauth: client %d (%s): secret", i, c.ID), c.Secret); err != nil {
				return err
			}
		}
	}
	return nil
}
