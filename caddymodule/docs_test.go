package caddymodule

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/tokencore/policy"
)

// TestConfigurationReferenceListsEveryJSONName derives the JSON name of
// every option from the modules' json tags and checks that
// docs/configuration.md gives it (in back quotes): the app's as paths
// relative to apps.tokengate (`cache.max_entries`, `keys[].source`), each
// handler's in the table under its `http.handlers.<directive>` heading.
func TestConfigurationReferenceListsEveryJSONName(t *testing.T) {
	raw, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start, end := strings.Index(doc, "\n## JSON names"), strings.Index(doc, "\n### Handlers")
	if start < 0 || end < start {
		t.Fatal("docs/configuration.md has no JSON names section with the app's table, then the handlers'")
	}
	jsonNames, appSection := doc[start:], doc[start:end]
	appPaths := jsonPaths(reflect.TypeFor[App](), "")
	if len(appPaths) < 80 { // 82 today: the walker must reach the nested blocks
		t.Fatalf("found %d JSON names of the app, want every leaf: %v", len(appPaths), appPaths)
	}
	for _, path := range appPaths {
		if !strings.Contains(appSection, "`"+path+"`") {
			t.Errorf("docs/configuration.md does not give the app's JSON name `%s`", path)
		}
	}

	for _, m := range []caddy.Module{FolioAPI{}, Protect{}, Require{}, BearerProvider{}, JWKS{}, OAuthEndpoints{}, Manage{}, IssuerAdmin{}, EDIAPI{}, EDIAdmin{}, EDIProtect{}, Echo{}, DemoLogin{}} {
		id := string(m.CaddyModule().ID)
		start := strings.Index(jsonNames, "`"+id+"`")
		if start < 0 {
			t.Errorf("docs/configuration.md has no JSON table for `%s`", id)
			continue
		}
		table := jsonNames[start+len(id)+2:]
		if end := strings.Index(table, "\n`http."); end >= 0 {
			table = table[:end]
		}
		for _, path := range jsonPaths(reflect.TypeOf(m), "") {
			if !strings.Contains(table, "`"+path+"`") {
				t.Errorf("docs/configuration.md does not give the JSON name `%s` of %s", path, id)
			}
		}
	}
}

// jsonPaths lists the JSON paths of the leaves of t: nested structs of
// this package become "a.b", their slices "a[].b", maps keyed by a name
// (tenant_ttls) "a.<tenant>.b".
func jsonPaths(t reflect.Type, prefix string) []string {
	var out []string
	for f := range fields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			// An embedded struct's fields are the outer object's (BearerConfig, policy.Rules).
			out = append(out, jsonPaths(f.Type, prefix)...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Pointer && ours(ft.Elem()):
			out = append(out, jsonPaths(ft.Elem(), path+".")...)
		case ft.Kind() == reflect.Slice && ours(ft.Elem()):
			out = append(out, jsonPaths(ft.Elem(), path+"[].")...)
		case ft.Kind() == reflect.Map && ours(ft.Elem()):
			out = append(out, jsonPaths(ft.Elem(), path+".<tenant>.")...)
		default:
			out = append(out, path)
		}
	}
	return out
}

// fields yields the exported fields of a struct type.
func fields(t reflect.Type) func(func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && !yield(f) {
				return
			}
		}
	}
}

// ours reports whether t is a struct type of this package or of the
// policy package, whose rules are configuration.
func ours(t reflect.Type) bool {
	return t.Kind() == reflect.Struct &&
		(t.PkgPath() == reflect.TypeFor[App]().PkgPath() || t.PkgPath() == reflect.TypeFor[policy.Rules]().PkgPath())
}
