package storetest

import (
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// SampleGrant returns an active OAuth grant with every indexed field set
// (subject, client, tenant+user, both token hashes, derived from id so
// that two sample grants never share a hash), created at created and
// expiring an hour later: a record for tests that need one grant to
// store, not a particular one.
func SampleGrant(id string, created time.Time) *tokencore.Grant {
	return &tokencore.Grant{
		ID: id, Kind: tokencore.GrantKindOAuth, Subject: "alice", ClientID: "c1", Tenant: "T1", UserID: "u1",
		Status: tokencore.GrantActive, CreatedAt: created, Scopes: []string{"openid"},
		AccessID: "a-" + id, AccessHash: tokencore.TokenHash("access-" + id),
		RefreshID: "r-" + id, RefreshHash: tokencore.TokenHash("refresh-" + id),
		ExpiresAt: created.Add(time.Hour),
	}
}
