package folio

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

func TestParseFolioExpiration(t *testing.T) {
	tests := []struct {
		in      string
		tenant  string
		want    tokencore.TokenTTL
		wantErr string
	}{
		{"", "x", tokencore.TokenTTL{Access: tokencore.DefaultAccessTTL, Refresh: tokencore.DefaultRefreshTTL}, ""},
		{"tenantId:diku,accessToken:300,refreshToken:86400;accessToken:900", "diku", tokencore.TokenTTL{Access: 300 * time.Second, Refresh: 86400 * time.Second}, ""},
		{"tenantId:diku,accessToken:300,refreshToken:86400;accessToken:900", "other", tokencore.TokenTTL{Access: 900 * time.Second, Refresh: tokencore.DefaultRefreshTTL}, ""},
		{" tenantId : a , accessToken : 5 ;", "a", tokencore.TokenTTL{Access: 5 * time.Second, Refresh: tokencore.DefaultRefreshTTL}, ""},
		{"accessToken:-5", "a", tokencore.TokenTTL{Access: tokencore.DefaultAccessTTL, Refresh: tokencore.DefaultRefreshTTL}, ""},
		{"accessToken:5,,refreshToken:6", "", tokencore.TokenTTL{}, "Token expiration configuration has an empty key value pair"},
		{"accessToken:5:6", "", tokencore.TokenTTL{}, "Expected a key value pair with a single colon but found accessToken:5:6"},
		{"foo:5", "", tokencore.TokenTTL{}, "Token expiration configuration has an unknown key of foo"},
		{"accessToken:five", "", tokencore.TokenTTL{}, `Token expiration value "five" of accessToken is not an integer`},
		// Found with FuzzParseFolioExpiration: these wrapped around to negative lifetimes.
		{"accessToken:9223372036854775807", "", tokencore.TokenTTL{}, `Token expiration value "9223372036854775807" of accessToken is larger than 9223372036 seconds`},
		{"refreshToken:9223372037", "", tokencore.TokenTTL{}, `Token expiration value "9223372037" of refreshToken is larger than 9223372036 seconds`},
		{"refreshToken:9223372036", "", tokencore.TokenTTL{Access: tokencore.DefaultAccessTTL, Refresh: 9223372036 * time.Second}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParseExpiration(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.For(tc.tenant); got != tc.want {
				t.Fatalf("For(%q) = %v, want %v", tc.tenant, got, tc.want)
			}
		})
	}
	p, _ := ParseExpiration("tenantId:a,accessToken:5000;accessToken:100")
	if p.MaxAccess() != 5000*time.Second {
		t.Fatalf("MaxAccess = %v", p.MaxAccess())
	}
}
