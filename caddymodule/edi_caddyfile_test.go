package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestAdaptEDI(t *testing.T) {
	cfg, err := adapt(t, `{
	tokengate {
		edi {
			edi_key auto
			edi_key file /keys/edi-old.pem
			pasta_key file /keys/pasta.pem sign
			issuer https://auth.example.org
			hosted_domain example.org
			edi_ttl 4h
			pasta_ttl 2h
			leeway 30s
			pair_binding off
			pasta_max_expired_age 24h
			public_uid anonymous
			time_zone Europe/Berlin
			vetted_id EDI-bdae74972ed710c56b1e0df18ccb6e23c31f60f6
			subject EDI-581f8a60cb1482332e92fb44c67078293df21d6c {
				profile
				cn "Alice Demo"
				email alice@example.org
				email_enabled
				idp_name ldap
				idp_uid uid=alice,o=EDI,dc=edirepository,dc=org
				idp_cn Alice
				principal EDI-078e6e3cee4f7f2812f150701da9351acb51e089 EDI-7be3510d08def0dfc667824ebd4f4f1bbd770234
				pasta_group vetted authenticated
			}
			subject EDI-b1f91fd08c6362b1cb6cc582b8bf85c0a5c7b251 {
				group
				cn demo-group
				owner EDI-581f8a60cb1482332e92fb44c67078293df21d6c
			}
			api_key alice-demo {
				owner EDI-581f8a60cb1482332e92fb44c67078293df21d6c
				name "Alice's laptop"
				secret_sha256 373ac4248d77f8cc3630e487ebed18292f5ef05f8a1d98b1f0c7d6eda81abf73
				preview R9arQ
				valid_from 2026-01-01
				valid_to 2026-12-31
			}
		}
	}
}
:8080 {
	reverse_proxy 127.0.0.1:9000
	tokengate_protect
	tokengate_edi_protect /package/* {
		anonymous
		realm pasta
	}
	tokengate_edi_admin {
		prefix /api/demo
	}
	tokengate_edi {
		prefix /auth
		max_body 1024
	}
	tokengate_jwks
}`)
	if err != nil {
		t.Fatal(err)
	}
	app := cfg["apps"].(map[string]any)["tokengate"].(map[string]any)
	raw, _ := json.Marshal(app["edi"])
	var got EDIConfig
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	want := EDIConfig{
		EDIKeys:   []EDIKeyConfig{{Source: "auto"}, {Source: "file", Path: "/keys/edi-old.pem"}},
		PastaKeys: []EDIKeyConfig{{Source: "file", Path: "/keys/pasta.pem", Sign: true}},
		Issuer:    "https://auth.example.org", HostedDomain: "example.org",
		EDITTL: caddy.Duration(4 * time.Hour), PastaTTL: caddy.Duration(2 * time.Hour), Leeway: caddy.Duration(30 * time.Second),
		PairBinding: "off", PastaMaxExpiredAge: caddy.Duration(24 * time.Hour), PublicUID: "anonymous", TimeZone: "Europe/Berlin",
		VettedID: "EDI-bdae74972ed710c56b1e0df18ccb6e23c31f60f6",
		Subjects: []EDISubjectConfig{
			{
				EDIID: "EDI-581f8a60cb1482332e92fb44c67078293df21d6c", Type: "profile", CommonName: str("Alice Demo"),
				Email: str("alice@example.org"), EmailEnabled: true, IdPName: str("ldap"), IdPUID: str("uid=alice,o=EDI,dc=edirepository,dc=org"),
				IdPCommonName: str("Alice"), Principals: []string{"EDI-078e6e3cee4f7f2812f150701da9351acb51e089", "EDI-7be3510d08def0dfc667824ebd4f4f1bbd770234"},
				PastaGroups: []string{"vetted", "authenticated"},
			},
			{EDIID: "EDI-b1f91fd08c6362b1cb6cc582b8bf85c0a5c7b251", Type: "group", Name: "demo-group", Owner: "EDI-581f8a60cb1482332e92fb44c67078293df21d6c"},
		},
		APIKeys: []EDIAPIKeyConfig{{
			ID: "alice-demo", Owner: "EDI-581f8a60cb1482332e92fb44c67078293df21d6c", Name: "Alice's laptop",
			SecretSHA256: "373ac4248d77f8cc3630e487ebed18292f5ef05f8a1d98b1f0c7d6eda81abf73", Preview: "R9arQ",
			ValidFrom: "2026-01-01", ValidTo: "2026-12-31",
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("edi config\n got %+v\nwant %+v", got, want)
	}

	routes := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["srv0"].(map[string]any)["routes"].([]any)
	var order []string
	handlers := map[string]map[string]any{}
	for _, r := range routes {
		for _, h := range r.(map[string]any)["handle"].([]any) {
			hm := h.(map[string]any)
			name := hm["handler"].(string)
			order = append(order, name)
			handlers[name] = hm
		}
	}
	// Endpoints first, the operator API before the management API that
	// shares its prefix, then the protections, then the proxy.
	if got := strings.Join(order, ","); got != "tokengate_jwks,tokengate_edi,tokengate_edi_admin,tokengate_edi_protect,tokengate_protect,reverse_proxy" {
		t.Errorf("handler order %s", got)
	}
	if h := handlers["tokengate_edi"]; h["prefix"] != "/auth" || h["max_body_bytes"] != float64(1024) {
		t.Errorf("tokengate_edi %v", h)
	}
	if h := handlers["tokengate_edi_protect"]; h["anonymous"] != true || h["realm"] != "pasta" {
		t.Errorf("tokengate_edi_protect %v", h)
	}
	if h := handlers["tokengate_edi_admin"]; h["prefix"] != "/api/demo" {
		t.Errorf("tokengate_edi_admin %v", h)
	}
}

func TestAdaptEDIErrors(t *testing.T) {
	global := func(body string) string {
		return "{\n tokengate {\n edi {\n" + body + "\n }\n }\n}\n:80 {\n respond ok\n}"
	}
	for name, input := range map[string]string{
		"unknown option":           global("bogus 1"),
		"edi block argument":       "{\n tokengate {\n edi x {\n }\n }\n}\n:80 {\n respond ok\n}",
		"key source":               global("edi_key magic"),
		"key option":               global("pasta_key auto sometimes"),
		"binding":                  global("pair_binding loose"),
		"duration":                 global("edi_ttl forever"),
		"subject without type":     global("subject EDI-x {\n cn x\n }"),
		"profile and group":        global("subject EDI-x {\n profile\n group\n }"),
		"group cn and name differ": global("subject EDI-x {\n group\n cn a\n name b\n }"),
		"subject option":           global("subject EDI-x {\n profile\n role admin\n }"),
		"api key with a secret":    global("api_key k {\n owner EDI-x\n secret R9arQwYMFqdgVVYt7jqcsxfyPyU\n }"),
		"api key without hash":     global("api_key k {\n owner EDI-x\n }"),
		"api key without owner":    global("api_key k {\n secret_sha256 00\n }"),
		"api key option arity":     global("api_key k {\n owner a b\n }"),
		"edi handler option":       ":80 {\n tokengate_edi {\n bogus\n }\n}",
		"edi protect option":       ":80 {\n tokengate_edi_protect {\n bogus\n }\n}",
		"edi admin option":         ":80 {\n tokengate_edi_admin {\n prefix\n }\n}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := adapt(t, input); err == nil {
				t.Fatal("adapted without error")
			}
		})
	}
}

func TestEDIAPIKeyConfigRecord(t *testing.T) {
	const hash = "373ac4248d77f8cc3630e487ebed18292f5ef05f8a1d98b1f0c7d6eda81abf73"
	for _, h := range []string{hash, "sha256:" + hash} {
		k, err := EDIAPIKeyConfig{ID: "k", Owner: "o", SecretSHA256: h, ValidTo: "2031-05-06"}.record(time.UTC)
		if err != nil || len(k.SecretHash) != 32 || k.Name != "k" || !k.ValidTo.Equal(time.Date(2031, 5, 7, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("%s: %+v %v", h, k, err)
		}
	}
	for name, kc := range map[string]EDIAPIKeyConfig{
		"short hash":   {ID: "k", SecretSHA256: hash[:62]},
		"not hex":      {ID: "k", SecretSHA256: strings.Repeat("z", 64)},
		"bcrypt":       {ID: "k", SecretSHA256: "$2a$10$abcdefghijklmnopqrstuv"},
		"no id":        {SecretSHA256: hash},
		"long preview": {ID: "k", SecretSHA256: hash, Preview: "R9arQw"},
		"bad date":     {ID: "k", SecretSHA256: hash, ValidFrom: "soon"},
	} {
		if _, err := kc.record(time.UTC); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
