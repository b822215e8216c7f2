package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/integration"
)

var inlineHandler = regexp.MustCompile(`\son[a-z]+=`)

const testToken = "test-admin-token-0123456789"

// fakeRegistry is the integration registry the API needs, in memory.
type fakeRegistry struct {
	mu  sync.Mutex
	ins []*integration.Integration
}

func (f *fakeRegistry) Create(_ context.Context, req integration.CreateRequest, _ bool) (*integration.Integration, string, error) {
	if req.ClientID == "" {
		return nil, "", integration.ErrInvalid
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in := &integration.Integration{ID: "int-1", Name: req.Name, TenantURL: req.TenantURL, ClientID: req.ClientID, AuthField: integration.DefaultAuthField, PublicKeyJWK: json.RawMessage(`{"kty":"RSA"}`)}
	f.ins = append(f.ins, in)
	return in, "the-secret", nil
}

func (f *fakeRegistry) Get(id string) (*integration.Integration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range f.ins {
		if in.ID == id {
			return in, true
		}
	}
	return nil, false
}

func (f *fakeRegistry) List() []*integration.Integration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*integration.Integration(nil), f.ins...)
}

func (f *fakeRegistry) Hook(string) integration.HookStatus { return integration.HookStatus{} }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	srv   *httptest.Server
	con   *Console
	clock *clock
}

// newEnv serves a console and the API on one mux, as app.New wires them.
// brokers may be nil for tests that never Run the read model.
func newEnv(t *testing.T, brokers []string, mod func(*Config)) *env {
	t.Helper()
	return newEnvAt(t, "", mod, brokers...)
}

// newEnvAt is newEnv listening on addr ("" for any free port).
func newEnvAt(t *testing.T, addr string, mod func(*Config), brokers ...string) *env {
	t.Helper()
	if brokers == nil {
		brokers = []string{"127.0.0.1:1"}
	}
	clk := &clock{t: time.Now()}
	cfg := Config{Token: testToken, Brokers: brokers, Logger: slog.New(slog.DiscardHandler), Now: clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	con, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{
		Token: testToken, Registry: &fakeRegistry{}, PublicURL: "http://clarion.test", Logger: slog.New(slog.DiscardHandler),
		Now: clk.Now, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	con.Register(mux, a)
	srv := httptest.NewUnstartedServer(mux)
	if addr != "" {
		srv.Listener.Close()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{srv: srv, con: con, clock: clk}
}

type req struct {
	method, path string
	body         any
	cookie       *http.Cookie
	csrf         string
	bearer       string
	headers      map[string]string
}

func (e *env) do(t *testing.T, r req) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if r.body != nil {
		switch b := r.body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	if r.csrf != "" {
		hr.Header.Set(CSRFHeader, r.csrf)
	}
	if r.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// login signs in and returns the session cookie and CSRF token.
func (e *env) login(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	resp, b := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": testToken}})
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	var info sessionInfo
	if err := json.Unmarshal(b, &info); err != nil || info.CSRFToken == "" {
		t.Fatalf("login body %s", b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c, info.CSRFToken
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	return nil, ""
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	for _, p := range []string{"/", "/static/app.js", "/static/app.css", "/static/world.svg", "/console/session"} {
		resp, body := e.do(t, req{method: "GET", path: p})
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", p, k, got, want)
			}
		}
		if p == "/" {
			if resp.StatusCode != 200 || !strings.Contains(h.Get("Content-Type"), "text/html") {
				t.Fatalf("index: %d %s", resp.StatusCode, h.Get("Content-Type"))
			}
			// No inline script or style anywhere in the page (the CSP would block it).
			s := string(body)
			if strings.Contains(s, "<script>") || strings.Contains(s, "<style") || strings.Contains(s, "style=") || inlineHandler.MatchString(s) {
				t.Fatal("index.html has inline script or style")
			}
		}
	}
	// Unknown paths are not the console.
	if resp, _ := e.do(t, req{method: "GET", path: "/nothing"}); resp.StatusCode != 404 {
		t.Fatalf("/nothing: %d", resp.StatusCode)
	}
}

// TestEveryInputHasALabel checks the page's markup: every input, select
// and textarea has a <label for=id>.
func TestEveryInputHasALabel(t *testing.T) {
	t.Parallel()
	b, err := staticFS.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	labels := map[string]bool{}
	for _, m := range strings.Split(s, `<label for="`)[1:] {
		labels[m[:strings.IndexByte(m, '"')]] = true
	}
	n := 0
	for _, tag := range []string{"<input", "<select", "<textarea"} {
		for _, m := range strings.Split(s, tag)[1:] {
			n++
			i := strings.Index(m, `id="`)
			if i < 0 || i > strings.IndexByte(m, '>') {
				t.Errorf("%s without an id: %.60s", tag, m)
				continue
			}
			id := m[i+4:]
			id = id[:strings.IndexByte(id, '"')]
			if !labels[id] {
				t.Errorf("%s #%s has no <label for>", tag, id)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d inputs", n)
	}
}

func TestLoginSessionCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	// Wrong token, not JSON, cross-site.
	if resp, _ := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": "nope"}}); resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, req{method: "POST", path: "/console/login", body: "token=" + testToken, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}); resp.StatusCode != 415 {
		t.Fatalf("form post: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": testToken}, headers: map[string]string{"Origin": "https://evil.example"}}); resp.StatusCode != 403 {
		t.Fatalf("cross-origin login: %d", resp.StatusCode)
	}
	resp, _ := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": testToken}})
	if resp.StatusCode != 200 {
		t.Fatalf("login %d", resp.StatusCode)
	}
	raw := resp.Header.Get("Set-Cookie")
	for _, want := range []string{cookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(raw, want) {
			t.Errorf("cookie %q lacks %q", raw, want)
		}
	}
	if strings.Contains(raw, "Secure") || strings.Contains(raw, testToken) {
		t.Errorf("plain-http cookie %q is Secure or holds the token", raw)
	}
	// Behind a TLS-terminating proxy: Secure, __Host- prefix.
	resp, _ = e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": testToken}, headers: map[string]string{"X-Forwarded-Proto": "https"}})
	raw = resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(raw, cookieNameSecure+"=") || !strings.Contains(raw, "Secure") {
		t.Errorf("https cookie %q", raw)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS on https")
	}
}

func TestSessionAndCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ck, csrf := e.login(t)

	// GET /api with the cookie alone.
	if resp, b := e.do(t, req{method: "GET", path: "/api/integrations", cookie: ck}); resp.StatusCode != 200 {
		t.Fatalf("GET with session: %d %s", resp.StatusCode, b)
	}
	// GET /console/session returns the same CSRF token.
	resp, b := e.do(t, req{method: "GET", path: "/console/session", cookie: ck})
	var info sessionInfo
	json.Unmarshal(b, &info)
	if resp.StatusCode != 200 || info.CSRFToken != csrf {
		t.Fatalf("session: %d %s", resp.StatusCode, b)
	}
	create := map[string]any{"name": "x", "tenant_url": "https://a.okta.com", "client_id": "0oa1"}
	for _, tc := range []struct {
		name    string
		r       req
		want    int
		wantErr string
	}{
		{"no csrf", req{cookie: ck}, 403, "csrf"},
		{"wrong csrf", req{cookie: ck, csrf: "x" + csrf}, 403, "csrf"},
		{"csrf of another session", req{cookie: ck, csrf: func() string { _, c := e.login(t); return c }()}, 403, "csrf"},
		{"cross-site", req{cookie: ck, csrf: csrf, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "csrf"},
		{"other origin", req{cookie: ck, csrf: csrf, headers: map[string]string{"Origin": "http://evil.example"}}, 403, "csrf"},
		{"csrf without cookie", req{csrf: csrf}, 401, "unauthorized"},
		{"bearer needs no csrf", req{bearer: testToken}, 201, ""},
		{"wrong bearer with good cookie", req{bearer: "nope", cookie: ck, csrf: csrf}, 401, "unauthorized"},
		{"good", req{cookie: ck, csrf: csrf, headers: map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"}}, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.method, r.path, r.body = "POST", "/api/integrations", create
			resp, b := e.do(t, r)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if tc.wantErr != "" && !strings.Contains(string(b), `"error":"`+tc.wantErr+`"`) {
				t.Fatalf("body %s", b)
			}
		})
	}

	// Tampered or forged cookies.
	for _, v := range []string{ck.Value + "x", strings.Replace(ck.Value, "v2.", "v1.", 1), "v2.AAAA.BBBB", ""} {
		if resp, _ := e.do(t, req{method: "GET", path: "/api/integrations", cookie: &http.Cookie{Name: cookieName, Value: v}}); resp.StatusCode != 401 {
			t.Errorf("cookie %q: %d", v, resp.StatusCode)
		}
	}

	// Logout needs the CSRF token, then revokes the session.
	if resp, _ := e.do(t, req{method: "POST", path: "/console/logout", cookie: ck}); resp.StatusCode != 403 {
		t.Fatalf("logout without csrf: %d", resp.StatusCode)
	}
	resp, _ = e.do(t, req{method: "POST", path: "/console/logout", cookie: ck, csrf: csrf})
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if resp, _ := e.do(t, req{method: "GET", path: "/api/integrations", cookie: ck}); resp.StatusCode != 401 {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, req{method: "GET", path: "/console/session", cookie: ck}); resp.StatusCode != 401 {
		t.Fatalf("session after logout: %d", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *Config) { c.SessionTTL = time.Hour })
	ck, _ := e.login(t)
	e.clock.Add(59 * time.Minute)
	if resp, _ := e.do(t, req{method: "GET", path: "/api/alerts", cookie: ck}); resp.StatusCode != 200 {
		t.Fatalf("before expiry: %d", resp.StatusCode)
	}
	e.clock.Add(2 * time.Minute)
	if resp, _ := e.do(t, req{method: "GET", path: "/api/alerts", cookie: ck}); resp.StatusCode != 401 {
		t.Fatalf("after expiry: %d", resp.StatusCode)
	}
}

// TestSessionFromAnotherToken: a cookie minted under another admin token
// (another deployment, or before the token was rotated) is refused.
func TestSessionFromAnotherToken(t *testing.T) {
	t.Parallel()
	other := newEnv(t, nil, func(c *Config) { c.Token = "another-token" })
	resp, _ := other.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": "another-token"}})
	ck := resp.Cookies()[0]
	e := newEnv(t, nil, nil)
	if resp, _ := e.do(t, req{method: "GET", path: "/api/integrations", cookie: ck}); resp.StatusCode != 401 {
		t.Fatalf("foreign cookie: %d", resp.StatusCode)
	}
}

func TestEveryAPIPathNeedsSessionOrToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ck, csrf := e.login(t)
	paths := []struct{ method, path string }{
		{"GET", "/api/integrations"}, {"POST", "/api/integrations"}, {"GET", "/api/integrations/x"},
		{"POST", "/api/integrations/x/verify"}, {"GET", "/api/alerts"}, {"GET", "/api/alerts/x"},
		{"GET", "/api/alerts/stream"}, {"POST", "/api/actions/x/approve"}, {"POST", "/api/actions/x/reject"},
		{"POST", "/api/alerts/x/feedback"}, {"GET", "/api/alerts/x/feedback"}, {"PUT", "/api/alerts/x/feedback"},
		{"GET", "/api/actions/x"}, {"POST", "/api/actions/x/approve/"}, {"GET", "/api/nothing/here"}, {"DELETE", "/api/integrations"},
		{"POST", "/api/"}, {"GET", "/api"},
	}
	for i, p := range paths {
		// Each path from its own client address, so the throttle of wrong
		// tokens (5 per client) does not answer 429 first.
		from := map[string]string{"X-Forwarded-For": fmt.Sprintf("192.0.2.%d", i+1)}
		for _, r := range []req{{}, {bearer: "wrong"}, {cookie: &http.Cookie{Name: cookieName, Value: "forged"}}, {csrf: csrf}} {
			r.method, r.path, r.headers = p.method, p.path, from
			if resp, b := e.do(t, r); resp.StatusCode != 401 {
				t.Errorf("%s %s %+v: %d %s", p.method, p.path, r, resp.StatusCode, b)
			}
		}
		// With the session, the path is reachable (not 401).
		if p.path == "/api/alerts/stream" {
			continue
		}
		if resp, _ := e.do(t, req{method: p.method, path: p.path, cookie: ck, csrf: csrf}); resp.StatusCode == 401 {
			t.Errorf("%s %s with a session: 401", p.method, p.path)
		}
	}
}

// TestLoginBrake: one client guessing is slowed down, with a wait that
// grows, and clears on its next success; another client signs in
// meanwhile.
func TestLoginBrake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	attacker := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	other := map[string]string{"X-Forwarded-For": "198.51.100.7"}
	for i := 0; i < 5; i++ {
		if resp, _ := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": "guess"}, headers: attacker}); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp, _ := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": testToken}, headers: attacker})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures: %d", resp.StatusCode)
	}
	// The bearer path shares the throttle.
	if resp, _ := e.do(t, req{method: "GET", path: "/api/alerts", bearer: testToken, headers: attacker}); resp.StatusCode != 429 {
		t.Fatalf("bearer while throttled: %d", resp.StatusCode)
	}
	// Another client is not affected.
	if resp, b := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": testToken}, headers: other}); resp.StatusCode != 200 {
		t.Fatalf("other client: %d %s", resp.StatusCode, b)
	}
	e.clock.Add(2 * time.Second)
	if resp, _ := e.do(t, req{method: "POST", path: "/console/login", body: map[string]string{"token": testToken}, headers: attacker}); resp.StatusCode != 200 {
		t.Fatalf("after the wait: %d", resp.StatusCode)
	}
}
