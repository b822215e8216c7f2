package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaKey2 *rsa.PrivateKey
)

func testKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey, rsaKey2
}

type env struct {
	t     *testing.T
	s     *Server
	ts    *httptest.Server
	clk   *clock
	key   *rsa.PrivateKey
	dpop  *ecdsa.PrivateKey
	appID string
}

func newEnv(t *testing.T, cfg Config, scopes []string, dpop bool) *env {
	t.Helper()
	clk := &clock{t: t0}
	cfg.Now = clk.Now
	if cfg.Users == 0 {
		cfg.Users = 60
	}
	if cfg.History == 0 && cfg.HistoryEvents == 0 {
		cfg.History = 7 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	key, _ := testKeys(t)
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e := &env{t: t, s: s, ts: ts, clk: clk, key: key, dpop: dk}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	e.appID, err = s.RegisterApp("", jwks, scopes, dpop)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type assertionOpts struct {
	key      *rsa.PrivateKey
	kid      string
	iss, sub string
	aud      string
	exp      time.Duration // from now; 0 = 5 min
	noExp    bool
	jti      string
	noJTI    bool // no jti claim at all (Okta's Go SDK sends none)
}

func (e *env) assertion(o assertionOpts) string {
	e.t.Helper()
	if o.key == nil {
		o.key = e.key
	}
	if o.kid == "" {
		o.kid = "k1"
	}
	if o.iss == "" {
		o.iss = e.appID
	}
	if o.sub == "" {
		o.sub = e.appID
	}
	if o.aud == "" {
		o.aud = e.ts.URL + "/oauth2/v1/token"
	}
	if o.exp == 0 {
		o.exp = 5 * time.Minute
	}
	if o.jti == "" && !o.noJTI {
		o.jti = randID("", 16)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: o.key}, (&jose.SignerOptions{}).WithHeader("kid", o.kid))
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clk.Now()
	c := jwt.Claims{Issuer: o.iss, Subject: o.sub, Audience: jwt.Audience{o.aud}, ID: o.jti, IssuedAt: jwt.NewNumericDate(now)}
	if !o.noExp {
		c.Expiry = jwt.NewNumericDate(now.Add(o.exp))
	}
	s, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// proof builds a DPoP proof for method and URL.
func (e *env) proof(method, u, nonce, accessToken string) string {
	e.t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: e.dpop}, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	c := map[string]any{"jti": randID("", 16), "htm": method, "htu": u, "iat": e.clk.Now().Unix()}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	s, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (e *env) do(req *http.Request) resp {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) tokenReq(assertion, scope, dpopProof string) resp {
	e.t.Helper()
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {assertionType},
		"client_assertion":      {assertion},
		"scope":                 {scope},
	}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if dpopProof != "" {
		req.Header.Set("DPoP", dpopProof)
	}
	return e.do(req)
}

// bearer gets a Bearer token for scope.
func (e *env) bearer(scope string) string {
	e.t.Helper()
	r := e.tokenReq(e.assertion(assertionOpts{}), scope, "")
	if r.status != 200 {
		e.t.Fatalf("token: %d %s", r.status, r.body)
	}
	m := r.json(e.t)
	if m["token_type"] != "Bearer" {
		e.t.Fatalf("token_type %v", m["token_type"])
	}
	return m["access_token"].(string)
}

// get calls an API path with a Bearer token.
func (e *env) get(path, tok string) resp {
	e.t.Helper()
	return e.call(http.MethodGet, path, tok)
}

func (e *env) call(method, path, tok string) resp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.ts.URL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return e.do(req)
}

func wantOAuthError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["error"] != code || m["error_description"] == "" {
		t.Fatalf("error %v (%v), want %s", m["error"], m["error_description"], code)
	}
}

func wantOktaError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["errorCode"] != code || m["errorSummary"] == "" || m["errorId"] == "" || m["errorLink"] != code {
		t.Fatalf("error body %s, want %s", r.body, code)
	}
	if _, ok := m["errorCauses"].([]any); !ok {
		t.Fatalf("errorCauses missing: %s", r.body)
	}
}

func TestTokenAssertionChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, []string{"okta.logs.read"}, false)
	_, other := testKeys(t)
	replayed := e.assertion(assertionOpts{jti: "same-jti"})
	if r := e.tokenReq(replayed, "okta.logs.read", ""); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	cases := []struct {
		name string
		a    string
		desc string
	}{
		{"wrong key", e.assertion(assertionOpts{key: other}), "signature"},
		{"unknown kid", e.assertion(assertionOpts{kid: "nope"}), "signature"},
		{"wrong aud", e.assertion(assertionOpts{aud: "https://evil.example/oauth2/v1/token"}), "audience"},
		{"aud of another path", e.assertion(assertionOpts{aud: e.ts.URL + "/oauth2/default/v1/token"}), "audience"},
		{"expired", e.assertion(assertionOpts{exp: -time.Minute}), "expired"},
		{"exp more than 1 h ahead", e.assertion(assertionOpts{exp: time.Hour + time.Minute}), "too far"},
		{"no exp", e.assertion(assertionOpts{noExp: true}), "exp"},
		{"sub differs", e.assertion(assertionOpts{sub: "someone"}), "sub"},
		{"unknown client", e.assertion(assertionOpts{iss: "0oaunknown", sub: "0oaunknown"}), "client_id"},
		{"replayed jti", replayed, "already been used"},
		{"garbage", "not.a.jwt", "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.tokenReq(c.a, "okta.logs.read", "")
			wantOAuthError(t, r, 401, "invalid_client")
			if d := r.json(t)["error_description"].(string); !strings.Contains(d, c.desc) {
				t.Fatalf("description %q lacks %q", d, c.desc)
			}
		})
	}
	// Exactly one hour ahead is allowed.
	if r := e.tokenReq(e.assertion(assertionOpts{exp: time.Hour}), "okta.logs.read", ""); r.status != 200 {
		t.Fatalf("exp = 1 h: %d %s", r.status, r.body)
	}
	// Other form errors.
	form := url.Values{"grant_type": {"password"}}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantOAuthError(t, e.do(req), 400, "unsupported_grant_type")
}

// TestTokenQueryParametersAndOptionalJTI: Okta accepts the token request's
// parameters in the POST's URL query with an empty body (what Okta's Go
// SDK sends) and an assertion without jti; a jti, when present, is
// single-use.
func TestTokenQueryParametersAndOptionalJTI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, []string{"okta.logs.read"}, false)
	inQuery := func(assertion string) resp {
		q := url.Values{
			"grant_type":            {"client_credentials"},
			"client_assertion_type": {assertionType},
			"client_assertion":      {assertion},
			"scope":                 {"okta.logs.read"},
		}
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/v1/token?"+q.Encode(), nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return e.do(req)
	}
	noJTI := e.assertion(assertionOpts{noJTI: true})
	for i := range 2 { // without jti there is nothing to replay-check
		if r := inQuery(noJTI); r.status != 200 || r.json(t)["access_token"] == "" {
			t.Fatalf("query parameters, no jti, try %d: %d %s", i, r.status, r.body)
		}
	}
	withJTI := e.assertion(assertionOpts{})
	if r := inQuery(withJTI); r.status != 200 {
		t.Fatalf("query parameters with jti: %d %s", r.status, r.body)
	}
	wantOAuthError(t, inQuery(withJTI), 401, "invalid_client")
	// The same assertion in the form body is the same assertion.
	wantOAuthError(t, e.tokenReq(withJTI, "okta.logs.read", ""), 401, "invalid_client")
	// Neither in the body nor in the query: Okta's message.
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/v1/token", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := e.do(req)
	wantOAuthError(t, r, 400, "invalid_request")
	if d := r.json(t)["error_description"]; d != "The 'grant_type' parameter is missing." {
		t.Fatalf("description %q", d)
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, []string{"okta.logs.read", "okta.users.read"}, false)
	wantOAuthError(t, e.tokenReq(e.assertion(assertionOpts{}), "okta.users.manage", ""), 400, "invalid_scope")
	wantOAuthError(t, e.tokenReq(e.assertion(assertionOpts{}), "", ""), 400, "invalid_scope")
	tok := e.bearer("okta.logs.read")
	if r := e.get("/api/v1/logs?limit=1", tok); r.status != 200 {
		t.Fatalf("logs: %d %s", r.status, r.body)
	}
	u := e.s.Users()[0]
	wantOktaError(t, e.get("/api/v1/users/"+u.ID, tok), 403, "E0000006")
	read := e.bearer("okta.users.read")
	if r := e.get("/api/v1/users/"+u.ID, read); r.status != 200 {
		t.Fatalf("users read: %d %s", r.status, r.body)
	}
	wantOktaError(t, e.get("/api/v1/logs", read), 403, "E0000006")
	wantOktaError(t, e.call(http.MethodPost, "/api/v1/users/"+u.ID+"/lifecycle/suspend", read), 403, "E0000006")
	// Invalid and missing tokens.
	wantOktaError(t, e.get("/api/v1/logs", "nonsense"), 401, "E0000011")
	wantOktaError(t, e.get("/api/v1/logs", ""), 401, "E0000011")
	// Expiry.
	e.clk.Add(time.Hour + time.Second)
	wantOktaError(t, e.get("/api/v1/logs?limit=1", tok), 401, "E0000011")
}

func TestDPoPNonceFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, []string{"okta.logs.read", "okta.users.manage"}, true)
	tokenURL := e.ts.URL + "/oauth2/v1/token"
	a := e.assertion(assertionOpts{})
	// No proof at all.
	wantOAuthError(t, e.tokenReq(a, "okta.logs.read", ""), 400, "invalid_dpop_proof")
	// A proof without nonce: use_dpop_nonce with the nonce in a header.
	r := e.tokenReq(a, "okta.logs.read", e.proof("POST", tokenURL, "", ""))
	wantOAuthError(t, r, 400, "use_dpop_nonce")
	nonce := r.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce header")
	}
	// Wrong htm / htu / stale nonce are rejected.
	wantOAuthError(t, e.tokenReq(a, "okta.logs.read", e.proof("GET", tokenURL, nonce, "")), 400, "invalid_dpop_proof")
	wantOAuthError(t, e.tokenReq(a, "okta.logs.read", e.proof("POST", e.ts.URL+"/other", nonce, "")), 400, "invalid_dpop_proof")
	wantOAuthError(t, e.tokenReq(a, "okta.logs.read", e.proof("POST", tokenURL, "stale", "")), 400, "use_dpop_nonce")
	// The same assertion with the nonce succeeds: a DPoP token.
	r = e.tokenReq(a, "okta.logs.read okta.users.manage", e.proof("POST", tokenURL, nonce, ""))
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["token_type"] != "DPoP" || m["expires_in"].(float64) != 3600 {
		t.Fatalf("token response %v", m)
	}
	at := m["access_token"].(string)
	logsURL := e.ts.URL + "/api/v1/logs"
	call := func(scheme, proof string) resp {
		req, _ := http.NewRequest(http.MethodGet, logsURL+"?limit=2", nil)
		req.Header.Set("Authorization", scheme+" "+at)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		return e.do(req)
	}
	good := e.proof("GET", logsURL, "", at)
	if r := call("DPoP", good); r.status != 200 {
		t.Fatalf("logs with DPoP: %d %s", r.status, r.body)
	}
	// Replayed proof, missing proof, wrong ath, Bearer scheme, another key.
	wantOktaError(t, call("DPoP", good), 401, "E0000011")
	wantOktaError(t, call("DPoP", ""), 401, "E0000011")
	wantOktaError(t, call("DPoP", e.proof("GET", logsURL, "", "other-token")), 401, "E0000011")
	wantOktaError(t, call("Bearer", e.proof("GET", logsURL, "", at)), 401, "E0000011")
	if r := call("DPoP", ""); !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	saved := e.dpop
	e.dpop = other
	wantOktaError(t, call("DPoP", e.proof("GET", logsURL, "", at)), 401, "E0000011")
	e.dpop = saved
	// A later token request: the nonce is still valid.
	e.clk.Add(time.Minute)
	r = e.tokenReq(e.assertion(assertionOpts{}), "okta.logs.read", e.proof("POST", tokenURL, nonce, ""))
	if r.status != 200 {
		t.Fatalf("second token: %d %s", r.status, r.body)
	}
}
