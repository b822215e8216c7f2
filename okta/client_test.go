package okta

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/tidwall/gjson"
)

var (
	keysOnce sync.Once
	tClient  *rsa.PrivateKey
	tOther   *rsa.PrivateKey
	tDPoP    *ecdsa.PrivateKey
)

// keys returns keys shared by the tests (RSA generation is slow under -race).
func keys(t *testing.T) (*rsa.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey) {
	keysOnce.Do(func() {
		tClient, _, tDPoP = testKeys(t)
		tOther, _, _ = testKeys(t)
	})
	return tClient, tDPoP, tOther
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type setup struct {
	f *fakeOkta
	c *Client
}

func newSetup(t *testing.T, mod func(*Config)) setup {
	t.Helper()
	ck, dk, _ := keys(t)
	f := newFakeOkta(t, ck, "kid-test")
	cfg := Config{TenantURL: f.url(), Insecure: true, ClientID: f.clientID, KeyID: "kid-test",
		ClientKey: ck, DPoPKey: dk, RetryBackoff: 5 * time.Millisecond, Logger: quiet()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return setup{f: f, c: c}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func TestTokenDPoPWithNonce(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	ctx := ctxT(t)
	info, err := s.c.Token(ctx, ScopeLogsRead)
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "DPoP" {
		t.Fatalf("token type %q, want DPoP", info.Type)
	}
	// First request is refused with use_dpop_nonce, the second carries it.
	if s.f.tokenRequests != 2 {
		t.Fatalf("token requests = %d, want 2 (nonce challenge then success)", s.f.tokenRequests)
	}
	s.f.addEvents(3, time.Now().Add(-time.Hour), "user.session.start")
	p, err := s.c.LogsPage(ctx, s.c.LogsURL(LogQuery{Limit: 2}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(gjson.ParseBytes(p.Body).Array()); n != 2 {
		t.Fatalf("page has %d events, want 2", n)
	}
	if s.f.lastAuthScheme != "DPoP" {
		t.Fatalf("API call used %q, want DPoP", s.f.lastAuthScheme)
	}
	if !strings.Contains(p.Next, "after=ev-000001") {
		t.Fatalf("next = %q", p.Next)
	}
	// The cached token and nonce serve further calls without a token request.
	if _, err := s.c.LogsPage(ctx, p.Next); err != nil {
		t.Fatal(err)
	}
	if s.f.tokenRequests != 2 {
		t.Fatalf("token requests = %d after cached use, want 2", s.f.tokenRequests)
	}
	// Okta rotates the nonce: the client answers the new challenge.
	s.f.mu.Lock()
	s.f.nonce = "nonce-2"
	s.f.mu.Unlock()
	if _, err := s.c.Token(ctx, ScopeUsersManage); err != nil {
		t.Fatal(err)
	}
	if s.f.tokenRequests != 4 {
		t.Fatalf("token requests = %d, want 4", s.f.tokenRequests)
	}
}

func TestTokenBearerWhenAppDoesNotBind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		refuse bool
		noKey  bool
	}{{"bearer answer", false, false}, {"proof refused", true, false}, {"no DPoP key", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, func(c *Config) {
				if tc.noKey {
					c.DPoPKey = nil
				}
			})
			s.f.dpop, s.f.refuseProof = false, tc.refuse
			ctx := ctxT(t)
			info, err := s.c.Token(ctx, ScopeUsersManage)
			if err != nil {
				t.Fatal(err)
			}
			if info.Type != "Bearer" {
				t.Fatalf("token type %q", info.Type)
			}
			if _, err := s.c.GetUser(ctx, "00u1"); err != nil {
				t.Fatal(err)
			}
			if s.f.lastAuthScheme != "Bearer" {
				t.Fatalf("scheme %q", s.f.lastAuthScheme)
			}
		})
	}
}

func TestTokenMisconfigurations(t *testing.T) {
	t.Parallel()
	_, _, other := keys(t)
	for _, tc := range []struct {
		name     string
		cfg      func(*Config)
		app      func(*fakeOkta)
		scope    string
		kind     Kind
		fixHas   string
		sentinel error
	}{
		{"wrong client id", func(c *Config) { c.ClientID = "0oawrong" }, nil, ScopeLogsRead, KindInvalidClient, `"0oawrong"`, ErrInvalidClient},
		{"key not added", func(c *Config) { c.ClientKey = other }, nil, ScopeLogsRead, KindInvalidClient, "Public Keys", ErrInvalidClient},
		{"wrong kid", func(c *Config) { c.KeyID = "other" }, nil, ScopeLogsRead, KindInvalidClient, "Step 3", ErrInvalidClient},
		{"logs scope missing", nil, func(f *fakeOkta) { delete(f.granted, ScopeLogsRead) }, ScopeLogsRead, KindScope, "grant okta.logs.read", ErrScope},
		{"users scope missing", nil, func(f *fakeOkta) { delete(f.granted, ScopeUsersManage) }, ScopeUsersManage, KindScope, "okta.users.manage (setup guide Part 1, Step 4)", ErrScope},
		{"DPoP required, no key", func(c *Config) { c.DPoPKey = nil }, nil, ScopeLogsRead, KindDPoP, "clock", ErrDPoP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, tc.cfg)
			if tc.app != nil {
				tc.app(s.f)
			}
			_, err := s.c.Token(ctxT(t), tc.scope)
			if kindOf(err) != tc.kind {
				t.Fatalf("err = %v, want kind %s", err, tc.kind)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("errors.Is(%v, sentinel) = false", err)
			}
			if IsRetriable(err) {
				t.Fatalf("%v must not be retriable", err)
			}
			if !strings.Contains(FixOf(err), tc.fixHas) {
				t.Fatalf("fix %q does not mention %q", FixOf(err), tc.fixHas)
			}
		})
	}
}

func TestAssertionClaims(t *testing.T) {
	t.Parallel()
	ck, _, _ := keys(t)
	as, err := newAssertionSigner(ck, "kid-1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a1, _ := as.assertion("0oa1", "https://x.okta.com/oauth2/v1/token", now)
	a2, _ := as.assertion("0oa1", "https://x.okta.com/oauth2/v1/token", now)
	var c1, c2 jwt.Claims
	for i, a := range []string{a1, a2} {
		tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Headers[0].KeyID != "kid-1" || tok.Headers[0].Algorithm != "RS256" {
			t.Fatalf("header %+v", tok.Headers[0])
		}
		dst := []*jwt.Claims{&c1, &c2}[i]
		if err := tok.Claims(&ck.PublicKey, dst); err != nil {
			t.Fatal(err)
		}
	}
	if c1.Issuer != "0oa1" || c1.Subject != "0oa1" || len(c1.Audience) != 1 || c1.Audience[0] != "https://x.okta.com/oauth2/v1/token" {
		t.Fatalf("claims %+v", c1)
	}
	if d := c1.Expiry.Time().Sub(now); d > 5*time.Minute || d <= 0 {
		t.Fatalf("exp %v ahead, want ≤ 5 min", d)
	}
	if c1.ID == "" || c1.ID == c2.ID {
		t.Fatalf("jti not unique: %q %q", c1.ID, c2.ID)
	}
}

func TestTokenCacheAndRefresh(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newSetup(t, func(c *Config) { c.Now = clock; c.TokenRefreshBefore = time.Minute })
	s.f.now = clock
	ctx := ctxT(t)
	if _, err := s.c.GetUser(ctx, "00u1"); err != nil {
		t.Fatal(err)
	}
	n := s.f.tokenRequests
	if _, err := s.c.GetUser(ctx, "00u1"); err != nil {
		t.Fatal(err)
	}
	if s.f.tokenRequests != n {
		t.Fatal("token not cached")
	}
	// 59 min 30 s later the token is within a minute of expiry: renewed
	// before use (the nonce is cached, so one request).
	mu.Lock()
	now = now.Add(59*time.Minute + 30*time.Second)
	mu.Unlock()
	if _, err := s.c.GetUser(ctx, "00u1"); err != nil {
		t.Fatal(err)
	}
	if s.f.tokenRequests != n+1 {
		t.Fatalf("token requests %d, want %d (refresh before expiry)", s.f.tokenRequests, n+1)
	}
	// Okta revokes tokens early: a 401 makes the client fetch a new one once.
	s.f.mu.Lock()
	for k, v := range s.f.tokens {
		v.expires = clock().Add(-time.Second)
		s.f.tokens[k] = v
	}
	s.f.mu.Unlock()
	if _, err := s.c.GetUser(ctx, "00u1"); err != nil {
		t.Fatal(err)
	}
	if s.f.tokenRequests != n+2 {
		t.Fatalf("token requests %d, want %d (refresh after 401)", s.f.tokenRequests, n+2)
	}
}

func TestRateLimitAndServerErrors(t *testing.T) {
	t.Parallel()
	t.Run("429 waits for reset", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, nil)
		s.f.fail429 = 1
		if _, err := s.c.GetUser(ctxT(t), "00u1"); err != nil {
			t.Fatal(err)
		}
		if s.f.apiRequests != 2 {
			t.Fatalf("api requests %d, want 2", s.f.apiRequests)
		}
	})
	t.Run("429 beyond max wait", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, func(c *Config) { c.MaxRateLimitWait = time.Millisecond })
		s.f.fail429 = 1
		_, err := s.c.GetUser(ctxT(t), "00u1")
		if !errors.Is(err, ErrRateLimited) || !IsRetriable(err) {
			t.Fatalf("err = %v", err)
		}
		var e *Error
		errors.As(err, &e)
		if e.Code != "E0000047" {
			t.Fatalf("code %q", e.Code)
		}
	})
	t.Run("429 wait respects context", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, nil)
		s.f.fail429 = 1
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := s.c.GetUser(ctx, "00u1"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
	})
	t.Run("5xx retried", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, nil)
		s.f.fail5xx, s.f.fail5xxToken = 2, 1
		if _, err := s.c.GetUser(ctxT(t), "00u1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("5xx exhausted", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, func(c *Config) { c.MaxRetries = 2 })
		s.f.fail5xx = 10
		_, err := s.c.GetUser(ctxT(t), "00u1")
		if !errors.Is(err, ErrServer) || !IsRetriable(err) {
			t.Fatalf("err = %v", err)
		}
		if s.f.apiRequests != 3 {
			t.Fatalf("api requests %d, want 3", s.f.apiRequests)
		}
	})
}

func TestPaceDelay(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		limit, remaining int
		resetIn, want    time.Duration
	}{
		{100, 50, 10 * time.Second, 0},
		{100, 10, 10 * time.Second, 10 * time.Second / 11},
		{100, 1, 10 * time.Second, 5 * time.Second},
		{100, 0, 10 * time.Second, 10 * time.Second},
		{100, 0, -time.Second, 0},
		{5, 1, 4 * time.Second, 2 * time.Second},
	} {
		b := &bucket{limit: tc.limit, remaining: tc.remaining, reset: now.Add(tc.resetIn)}
		if got := paceDelay(b, now, 0.1); got != tc.want {
			t.Errorf("paceDelay(%+v) = %v, want %v", tc, got, tc.want)
		}
	}
}

func TestSSRFRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	ck, dk, _ := keys(t)
	f := newFakeOkta(t, ck, "kid-test")
	for _, raw := range []string{f.url(), "http://169.254.169.254", "https://localhost", "https://x.okta.com/path", "https://user@x.okta.com", "ftp://x.okta.com"} {
		_, err := New(Config{TenantURL: raw, ClientID: "0oa", ClientKey: ck, DPoPKey: dk})
		if kindOf(err) != KindTenantURL || !errors.Is(err, ErrTenantURL) {
			t.Errorf("New(%q) err = %v, want a tenant URL refusal", raw, err)
		}
	}
	// Links off the tenant are refused without a request.
	c, err := New(Config{TenantURL: f.url(), Insecure: true, ClientID: f.clientID, KeyID: "kid-test", ClientKey: ck, DPoPKey: dk, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://169.254.169.254/api/v1/logs", f.url() + "/api/v1/users", "http://evil@" + strings.TrimPrefix(f.url(), "http://") + "/api/v1/logs"} {
		if _, err := c.LogsPage(ctxT(t), u); kindOf(err) != KindTenantURL {
			t.Errorf("LogsPage(%q) err = %v", u, err)
		}
	}
	if len(f.requests) != 0 {
		t.Fatalf("requests were made: %v", f.requests)
	}
}

func TestUserActionsIdempotent(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	ctx := ctxT(t)
	calls := func(r *ActionRecord) string {
		var out []string
		for _, c := range r.Calls {
			out = append(out, c.Method+" "+c.Path)
		}
		return strings.Join(out, ", ")
	}
	rec, err := s.c.SuspendUser(ctx, "00u1")
	if err != nil || !rec.OK || rec.NoOp || rec.StatusBefore != UserActive || rec.StatusAfter != UserSuspended {
		t.Fatalf("suspend: %v %+v", err, rec)
	}
	if got := calls(rec); got != "GET /api/v1/users/00u1, POST /api/v1/users/00u1/lifecycle/suspend, GET /api/v1/users/00u1" {
		t.Fatalf("calls %s", got)
	}
	if rec.Calls[1].StatusCode != 200 {
		t.Fatalf("suspend status %d", rec.Calls[1].StatusCode)
	}
	rec, err = s.c.SuspendUser(ctx, "ann@example.com")
	if err != nil || !rec.OK || !rec.NoOp || rec.StatusAfter != UserSuspended || len(rec.Calls) != 1 {
		t.Fatalf("second suspend: %v %+v", err, rec)
	}
	rec, err = s.c.UnsuspendUser(ctx, "00u1")
	if err != nil || rec.NoOp || rec.StatusAfter != UserActive {
		t.Fatalf("unsuspend: %v %+v", err, rec)
	}
	rec, err = s.c.UnsuspendUser(ctx, "00u1")
	if err != nil || !rec.NoOp || len(rec.Calls) != 1 {
		t.Fatalf("second unsuspend: %v %+v", err, rec)
	}
	for i := 0; i < 2; i++ {
		rec, err = s.c.ClearSessions(ctx, "00u1")
		if err != nil || !rec.OK || rec.Calls[1].Method != http.MethodDelete || rec.Calls[1].Path != "/api/v1/users/00u1/sessions?oauthTokens=true" || rec.Calls[1].StatusCode != 204 {
			t.Fatalf("clear sessions: %v %+v", err, rec)
		}
	}
	if s.f.users["00u1"].sessionsCleared != 2 {
		t.Fatalf("sessions cleared %d", s.f.users["00u1"].sessionsCleared)
	}
	// Suspending a deprovisioned user is refused from its status, no POST.
	s.f.users["00u1"].Status = UserDeprovisioned
	rec, err = s.c.SuspendUser(ctx, "00u1")
	if !errors.Is(err, ErrUserStatus) || rec.OK || len(rec.Calls) != 1 || rec.StatusBefore != UserDeprovisioned {
		t.Fatalf("deprovisioned: %v %+v", err, rec)
	}
	// Unknown user: the record carries Okta's answer.
	rec, err = s.c.SuspendUser(ctx, "nobody")
	if !errors.Is(err, ErrNotFound) || rec.Calls[0].StatusCode != 404 || rec.Calls[0].ErrorCode != "E0000007" {
		t.Fatalf("unknown: %v %+v", err, rec)
	}
	b, _ := json.Marshal(rec)
	for _, k := range []string{`"action":"suspend"`, `"status_code":404`, `"error_code":"E0000007"`, `"ok":false`} {
		if !strings.Contains(string(b), k) {
			t.Fatalf("record JSON %s lacks %s", b, k)
		}
	}
}

func TestUsersAdminRoleMissing(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	s.f.adminRole = false
	rec, err := s.c.SuspendUser(ctxT(t), "00u1")
	if !errors.Is(err, ErrAdminRole) || !strings.Contains(rec.Fix, "Super Administrator") || !strings.Contains(rec.Fix, "Part 1, Step 5") {
		t.Fatalf("err = %v, fix %q", err, rec.Fix)
	}
	if rec.Calls[0].StatusCode != 403 || rec.Calls[0].ErrorCode != "E0000006" {
		t.Fatalf("call %+v", rec.Calls[0])
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Now()
	verified := HookStatus{VerifiedAt: &now, LastDeliveryAt: &now, EventsPerMinute: 3}
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		app    func(*fakeOkta)
		hook   HookStatus
		ok     bool
		status map[string]string
		fixHas map[string]string
	}{
		{name: "all good", hook: verified, ok: true,
			status: map[string]string{CheckToken: StatusOK, CheckLogsRead: StatusOK, CheckUsersManage: StatusOK, CheckEventHook: StatusOK}},
		{name: "hook not verified", ok: false,
			status: map[string]string{CheckToken: StatusOK, CheckEventHook: StatusFailed},
			fixHas: map[string]string{CheckEventHook: "Workflow > Event Hooks"}},
		{name: "hook verified, no delivery", hook: HookStatus{VerifiedAt: &now}, ok: true,
			status: map[string]string{CheckEventHook: StatusPending}},
		{name: "wrong client id", cfg: func(c *Config) { c.ClientID = "0oax" }, hook: verified,
			status: map[string]string{CheckToken: StatusFailed, CheckLogsRead: StatusSkipped, CheckUsersManage: StatusSkipped},
			fixHas: map[string]string{CheckToken: "General tab"}},
		{name: "users scope missing", app: func(f *fakeOkta) { delete(f.granted, ScopeUsersManage) }, hook: verified,
			status: map[string]string{CheckToken: StatusOK, CheckLogsRead: StatusOK, CheckUsersManage: StatusFailed},
			fixHas: map[string]string{CheckUsersManage: "okta.users.manage"}},
		{name: "logs scope missing", app: func(f *fakeOkta) { delete(f.granted, ScopeLogsRead) }, hook: verified,
			status: map[string]string{CheckToken: StatusOK, CheckLogsRead: StatusFailed, CheckUsersManage: StatusOK},
			fixHas: map[string]string{CheckLogsRead: "okta.logs.read"}},
		{name: "admin role missing", app: func(f *fakeOkta) { f.adminRole = false }, hook: verified,
			status: map[string]string{CheckLogsRead: StatusFailed, CheckUsersManage: StatusFailed},
			fixHas: map[string]string{CheckUsersManage: "Super Administrator"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, tc.cfg)
			if tc.app != nil {
				tc.app(s.f)
			}
			s.f.mu.Lock()
			before := s.f.users["00u1"].Status
			s.f.mu.Unlock()
			res := Verify(ctxT(t), s.c, tc.hook)
			if res.OK != tc.ok {
				t.Errorf("ok = %v, want %v: %+v", res.OK, tc.ok, res)
			}
			if len(res.Checks) != 4 {
				t.Fatalf("checks %+v", res.Checks)
			}
			for _, ch := range res.Checks {
				if want, ok := tc.status[ch.Name]; ok && ch.Status != want {
					t.Errorf("%s status %s (%s), want %s", ch.Name, ch.Status, ch.Detail, want)
				}
				if want, ok := tc.fixHas[ch.Name]; ok && !strings.Contains(ch.Fix, want) {
					t.Errorf("%s fix %q lacks %q", ch.Name, ch.Fix, want)
				}
				if ch.Status == StatusFailed && ch.Fix == "" {
					t.Errorf("%s failed without a fix: %s", ch.Name, ch.Detail)
				}
			}
			// Verify changes nothing: only GETs and token requests.
			for _, r := range s.f.requests {
				if !strings.HasPrefix(r, "GET ") && r != "POST "+TokenPath {
					t.Errorf("verify made a changing request: %s", r)
				}
			}
			if s.f.users["00u1"].Status != before {
				t.Error("user status changed")
			}
			b, _ := json.Marshal(res)
			if !gjson.GetBytes(b, "checks.0.name").Exists() || !gjson.GetBytes(b, "ok").Exists() {
				t.Errorf("JSON shape: %s", b)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{`<https://x.okta.com/api/v1/logs?limit=2>; rel="self"`, `<https://x.okta.com/api/v1/logs?after=1&limit=2>; rel="next"`}, "https://x.okta.com/api/v1/logs?after=1&limit=2"},
		{[]string{`<https://x/a?q=1,2>; rel="self", <https://x/b>; rel="next"`}, "https://x/b"},
		{[]string{`<https://x/a>; rel=self`}, ""},
		{[]string{`<https://x/a>; REL="prev next"`}, "https://x/a"},
		{nil, ""},
		{[]string{`garbage`, `<unterminated`}, ""},
	} {
		if got := NextLink(tc.in); got != tc.want {
			t.Errorf("NextLink(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWWWAuthenticate(t *testing.T) {
	t.Parallel()
	got := parseWWWAuthenticate([]string{`DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`})
	if got.err != "use_dpop_nonce" || got.desc != "Resource server requires nonce in DPoP proof" {
		t.Fatalf("%+v", got)
	}
	got = parseWWWAuthenticate([]string{`Bearer realm="x", error=invalid_token`})
	if got.err != "invalid_token" {
		t.Fatalf("%+v", got)
	}
}

func TestEventTypeFilter(t *testing.T) {
	t.Parallel()
	if got := EventTypeFilter("user.session.start", " ", "user.account.lock"); got != `eventType eq "user.session.start" or eventType eq "user.account.lock"` {
		t.Fatal(got)
	}
}
