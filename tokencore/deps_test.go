package tokencore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// backendModules are the client libraries of the persistent stores.
var backendModules = []string{"go.etcd.io/bbolt", "github.com/redis/go-redis/"}

// TestEngineLinksNoBackend: a program importing the engine, or a protocol
// built on it, links neither bbolt nor go-redis. The backends live in
// tokencore/store/..., linked only by the program that opens one (the
// Caddy module); each of those does link its library, which shows the
// check sees what it looks for.
func TestEngineLinksNoBackend(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		want []string // backend modules the package must link
	}{
		{".", nil},
		{"./oauth", nil},
		{"./edi", nil},
		{"./folio", nil},
		{"./store/memory", nil},
		{"./store/bolt", []string{"go.etcd.io/bbolt"}},
		{"./store/redis", []string{"github.com/redis/go-redis/"}},
	} {
		out, err := exec.Command("go", "list", "-deps", tc.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", tc.pkg, err, out)
		}
		for _, mod := range backendModules {
			linked := false
			for dep := range strings.FieldsSeq(string(out)) {
				if strings.HasPrefix(dep, mod) {
					linked = true
					break
				}
			}
			wanted := false
			for _, w := range tc.want {
				wanted = wanted || w == mod
			}
			if linked != wanted {
				t.Errorf("%s links %s: %v, want %v", tc.pkg, mod, linked, wanted)
			}
		}
	}
}
