package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// MaxRevocationLifetime bounds how long a revocation by jti given without
// the token is kept: an operator who only knows a jti must say until when
// the token can live, and no external access token should live longer.
const MaxRevocationLifetime = 30 * 24 * time.Hour

// ErrNoTokenID: the token has no jti, so it cannot be revoked alone.
var ErrNoTokenID = errors.New("token has no jti: revoke its subject instead")

// TokenRevocation returns the revocation that refuses token from now until
// it expires (plus the largest leeway): a RevocationOfToken entry for its jti,
// which the revocation view applies to external tokens as to tokengate's
// own. The token must be one of this issuer's and otherwise valid; one
// already revoked yields its revocation again (revoking is idempotent).
func (i *Issuer) TokenRevocation(ctx context.Context, token string) (tokencore.Revocation, error) {
	var (
		c   *tokencore.Claims
		err error
	)
	if i.keys != nil && len(token) <= tokencore.MaxTokenBytes && strings.Count(token, ".") == 2 {
		c, err = i.verifyJWT(ctx, token)
	} else if i.intro != nil && len(token) <= tokencore.MaxTokenBytes {
		c, err = i.intro.check(ctx, token)
	} else {
		err = fmt.Errorf("%w: not a token of issuer %q", tokencore.ErrTokenMalformed, i.cfg.Name)
	}
	if err != nil {
		return tokencore.Revocation{}, err
	}
	now := i.deps.Now()
	if err := checkTime(c, now, i.cfg.Leeway); err != nil {
		return tokencore.Revocation{}, err
	}
	if c.TokenID == "" {
		return tokencore.Revocation{}, ErrNoTokenID
	}
	return JTIRevocation(c.TokenID, time.Unix(c.ExpiresAt, 0), now)
}

// JTIRevocation is the revocation of the token with jti until expiresAt
// (plus tokencore.MaxLeeway, the most any verifier tolerates), which must
// be in the future and at most MaxRevocationLifetime away.
func JTIRevocation(jti string, expiresAt, now time.Time) (tokencore.Revocation, error) {
	switch {
	case jti == "" || len(jti) > tokencore.MaxKeyFieldLen:
		return tokencore.Revocation{}, fmt.Errorf("jti must have 1 to %d bytes", tokencore.MaxKeyFieldLen)
	case !expiresAt.After(now):
		return tokencore.Revocation{}, errors.New("expires_at must be in the future")
	case expiresAt.Sub(now) > MaxRevocationLifetime:
		return tokencore.Revocation{}, fmt.Errorf("expires_at must be at most %s away", MaxRevocationLifetime)
	}
	return tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: jti, NotBefore: now, ExpiresAt: expiresAt.Add(tokencore.MaxLeeway)}, nil
}
