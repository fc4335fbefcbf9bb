//lint:file-ignore ST1005 the error texts are mod-authtoken's own, capitals included.

package folio

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// maxTTLSeconds is the longest lifetime a time.Duration holds (292 years).
const maxTTLSeconds = math.MaxInt64 / int64(time.Second)

// ParseExpiration parses mod-authtoken's TOKEN_EXPIRATION_SECONDS
// grammar, e.g. "tenantId:diku,accessToken:300,refreshToken:86400;accessToken:900":
// entries separated by ';', each a ','-separated list of key:value pairs;
// an entry without tenantId sets the default; spaces are ignored; a missing
// or non-positive value falls back to the default. The error messages are
// mod-authtoken's.
func ParseExpiration(s string) (tokencore.TTLPolicy, error) {
	p := tokencore.TTLPolicy{Tenants: map[string]tokencore.TokenTTL{}}
	s = strings.ReplaceAll(s, " ", "")
	for _, entry := range strings.Split(s, ";") {
		if entry == "" {
			continue
		}
		var tenant string
		var ttl tokencore.TokenTTL
		for _, pair := range strings.Split(entry, ",") {
			if pair == "" {
				return p, fmt.Errorf("Token expiration configuration has an empty key value pair")
			}
			kv := strings.Split(pair, ":")
			if len(kv) != 2 {
				return p, fmt.Errorf("Expected a key value pair with a single colon but found %s", pair)
			}
			switch kv[0] {
			case "tenantId":
				tenant = kv[1]
			case "accessToken", "refreshToken":
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return p, fmt.Errorf("Token expiration value %q of %s is not an integer", kv[1], kv[0])
				}
				if n > maxTTLSeconds {
					// It would wrap around to a negative time.Duration.
					return p, fmt.Errorf("Token expiration value %q of %s is larger than %d seconds", kv[1], kv[0], maxTTLSeconds)
				}
				d := time.Duration(max(n, 0)) * time.Second
				if kv[0] == "accessToken" {
					ttl.Access = d
				} else {
					ttl.Refresh = d
				}
			default:
				return p, fmt.Errorf("Token expiration configuration has an unknown key of %s", kv[0])
			}
		}
		if tenant == "" {
			p.Default = ttl
		} else {
			p.Tenants[tenant] = ttl
		}
	}
	return p, nil
}
