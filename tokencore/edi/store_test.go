package edi

import (
	"strings"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

// TestEDINeedsEDIStore: the engine asks its store for grants and
// revocations only, so a backend may serve FOLIO and OAuth without the
// EDI methods; the EDI service and manager refuse such an engine with an
// error that says so, instead of failing on the first request.
func TestEDINeedsEDIStore(t *testing.T) {
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	narrow := &tokencore.Engine{Store: struct{ tokencore.TokenStore }{mem}, View: tokencore.NewRevocationView()}
	full := &tokencore.Engine{Store: mem, View: tokencore.NewRevocationView()}
	cfg := Config{EDISigningKey: testEDIKey(), PastaSigningKey: testPastaKey()}
	for _, tc := range []struct {
		name    string
		e       *tokencore.Engine
		wantErr bool
	}{
		{"grants and revocations only", narrow, true},
		{"every record", full, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, serr := NewService(tc.e, cfg)
			_, merr := NewManager(tc.e, cfg)
			for what, err := range map[string]error{"NewService": serr, "NewManager": merr} {
				if tc.wantErr != (err != nil) || err != nil && !strings.Contains(err.Error(), "EDIStore") {
					t.Errorf("%s: %v, want an error naming EDIStore: %v", what, err, tc.wantErr)
				}
			}
			if s != nil {
				s.Close()
			}
		})
	}
}
