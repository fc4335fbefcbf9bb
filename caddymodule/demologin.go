package caddymodule

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(DemoLogin{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_demo_login", parseDemoLogin)
}

// DemoLogin is the login page of the demo app, the other half of the
// authorization code flow: the gateway's authorization endpoint sends the
// browser to GET /login?ticket=...; the page asks for a user name and
// password (DEMO ONLY users alice and bob, password "demo") and, on
// submit, calls the gateway's authorization/issue (or /fail when the user
// denies) with the operator key, then redirects the browser to the
// responseContent it gets back. GET /callback shows what a client
// receives. Every other path goes to the next handler. It shows how an
// app plugs its own login into tokengate; it is not for production.
type DemoLogin struct {
	// API is the gateway's management API prefix, e.g.
	// http://127.0.0.1:8080/api/demo.
	API string `json:"api"`
	// OperatorKey is a placeholder ({env.NAME} or {file.path}) yielding
	// the operator key. When it yields nothing the page says so instead
	// of logging anyone in.
	OperatorKey string `json:"operator_key"`

	key    string
	tmpl   *template.Template
	client *http.Client
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (DemoLogin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_demo_login", New: func() caddy.Module { return new(DemoLogin) }}
}

// Provision resolves the operator key and prepares the API client.
func (d *DemoLogin) Provision(ctx caddy.Context) error {
	d.logger = ctx.Logger()
	d.key = caddy.NewReplacer().ReplaceAll(d.OperatorKey, "")
	d.client = &http.Client{Timeout: 10 * time.Second}
	var err error
	d.tmpl, err = template.New("login").Parse(demoLoginHTML)
	return err
}

// Validate checks the configuration: an http(s) API URL and a key given
// as a placeholder, never literally (configs are stored and printed).
func (d *DemoLogin) Validate() error {
	u, err := url.Parse(d.API)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("tokengate_demo_login: api must be the http(s) URL of the management API prefix")
	}
	if d.OperatorKey == "" {
		return errors.New("tokengate_demo_login: operator_key is required")
	}
	return checkSecret("tokengate_demo_login: operator_key", d.OperatorKey)
}

// demoUser is a DEMO ONLY account and the claims the app releases.
type demoUser struct {
	Name, Email string
}

func demoUsers(name string) (demoUser, bool) {
	switch name {
	case "alice":
		return demoUser{Name: "Alice Demo", Email: "alice@example.org"}, true
	case "bob":
		return demoUser{Name: "Bob Demo", Email: "bob@example.org"}, true
	}
	return demoUser{}, false
}

const demoPassword = "demo"

const demoLoginHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Demo app: sign in</title></head>
<body>
<h1>Demo app: sign in</h1>
<p>Client <b>{{.ClientID}}</b> asks for: <b>{{.Scope}}</b></p>
{{if .Error}}<p style="color:#b00">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="ticket" value="{{.Ticket}}">
<label>User <input name="username" value="alice"></label>
<label>Password <input name="password" type="password" value=""></label>
<p>DEMO ONLY users: alice and bob, password "demo".</p>
<button name="action" value="allow">Sign in and allow</button>
<button name="action" value="deny">Deny</button>
</form>
</body></html>
`

// ServeHTTP serves /login and /callback.
func (d *DemoLogin) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch {
	case r.URL.Path == "/login" && r.Method == http.MethodGet:
		q := r.URL.Query()
		d.page(w, http.StatusOK, q.Get("ticket"), q.Get("client_id"), q.Get("scope"), "")
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		d.submit(w, r)
	case r.URL.Path == "/callback":
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = fmt.Fprintf(w, "The client received:\n  code:  %s\n  state: %s\n  iss:   %s\n  error: %s %s\n",
			q.Get("code"), q.Get("state"), q.Get("iss"), q.Get("error"), q.Get("error_description"))
	default:
		return next.ServeHTTP(w, r)
	}
	return nil
}

func (d *DemoLogin) page(w http.ResponseWriter, status int, ticket, clientID, scope, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = d.tmpl.Execute(w, map[string]string{"Ticket": ticket, "ClientID": clientID, "Scope": scope, "Error": msg})
}

// submit completes the ticket: fail when the user denies, issue when the
// password is right; then redirects the browser where the gateway says.
func (d *DemoLogin) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ticket := r.PostForm.Get("ticket")
	if d.key == "" {
		http.Error(w, "The demo login has no operator key: set the environment variable its operator_key placeholder names (TOKENGATE_DEMO_OPERATOR_KEY in Caddyfile.example).", http.StatusServiceUnavailable)
		return
	}
	var path string
	var body map[string]any
	if r.PostForm.Get("action") == "deny" {
		path, body = "/auth/authorization/fail", map[string]any{"ticket": ticket, "reason": "DENIED"}
	} else {
		name := r.PostForm.Get("username")
		user, ok := demoUsers(name)
		if !ok || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(demoPassword)) != 1 {
			d.page(w, http.StatusUnauthorized, ticket, "", "", "Wrong user name or password.")
			return
		}
		path, body = "/auth/authorization/issue", map[string]any{"ticket": ticket, "subject": name,
			"claims": map[string]any{"name": user.Name, "email": user.Email, "email_verified": true}}
	}
	location, msg := d.call(r, path, body)
	if location == "" {
		http.Error(w, "The gateway refused: "+msg, http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, location, http.StatusSeeOther)
}

// call posts to the management API and returns the LOCATION answer's
// redirect, or the result message.
func (d *DemoLogin) call(r *http.Request, path string, body map[string]any) (string, string) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, strings.TrimSuffix(d.API, "/")+path, bytes.NewReader(b))
	if err != nil {
		return "", "bad API URL"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.key)
	resp, err := d.client.Do(req)
	if err != nil {
		d.logger.Error("demo login: management API unreachable", zap.Error(err))
		return "", "the management API cannot be reached"
	}
	defer resp.Body.Close()
	var out struct {
		Action          string `json:"action"`
		ResultMessage   string `json:"resultMessage"`
		ResponseContent string `json:"responseContent"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return "", "unreadable answer"
	}
	if out.Action != "LOCATION" || out.ResponseContent == "" {
		return "", out.ResultMessage
	}
	return out.ResponseContent, ""
}

// parseDemoLogin sets up the demo login page. Syntax:
//
//	tokengate_demo_login {
//	    api <management API prefix URL>
//	    operator_key <placeholder>
//	}
func parseDemoLogin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	d := new(DemoLogin)
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "api":
			if !h.Args(&d.API) || h.NextArg() {
				return nil, h.ArgErr()
			}
		case "operator_key":
			if !h.Args(&d.OperatorKey) || h.NextArg() {
				return nil, h.ArgErr()
			}
			if err := checkSecret("tokengate_demo_login: operator_key", d.OperatorKey); err != nil {
				return nil, h.Err(err.Error())
			}
		default:
			return nil, h.Errf("unknown tokengate_demo_login option %q", h.Val())
		}
	}
	return d, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*DemoLogin)(nil)
	_ caddy.Validator             = (*DemoLogin)(nil)
	_ caddyhttp.MiddlewareHandler = (*DemoLogin)(nil)
)
