package okta_test

// End-to-end tests of the client against the simulated Okta org (okta/sim).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
)

var (
	simKeysOnce            sync.Once
	simClientKey, simOther *rsa.PrivateKey
	simDPoPKey             *ecdsa.PrivateKey
)

func simKeys() (*rsa.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey) {
	simKeysOnce.Do(func() {
		simClientKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		simOther, _ = rsa.GenerateKey(rand.Reader, 2048)
		simDPoPKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	return simClientKey, simDPoPKey, simOther
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// org is a simulated Okta org behind a test server that counts requests,
// stamps Date from the test clock, and can inject 503 answers.
type org struct {
	sim       *sim.Server
	srv       *httptest.Server
	clock     func() time.Time
	requests  atomic.Int64
	tokenReqs atomic.Int64
	fail503   atomic.Int64 // the next n API requests answer 503
}

func newOrg(t *testing.T, cfg sim.Config) *org {
	t.Helper()
	o := &org{clock: cfg.Now}
	if o.clock == nil {
		o.clock = time.Now
		cfg.Now = o.clock
	}
	if cfg.Users == 0 {
		cfg.Users = 20
	}
	if cfg.History == 0 {
		cfg.History = 24 * time.Hour
	}
	cfg.Logger = discard()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o.sim = s
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		w.Header().Set("Date", o.clock().UTC().Format(http.TimeFormat))
		if r.URL.Path == okta.TokenPath {
			o.tokenReqs.Add(1)
		} else if strings.HasPrefix(r.URL.Path, "/api/") && o.fail503.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// app registers an API Services app with the client key's public half.
func (o *org) app(t *testing.T, dpop bool, scopes ...string) string {
	t.Helper()
	ck, _, _ := simKeys()
	if scopes == nil {
		scopes = []string{okta.ScopeLogsRead, okta.ScopeUsersManage}
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ck.PublicKey, KeyID: "kid-1", Algorithm: "RS256", Use: "sig"}}}
	id, err := o.sim.RegisterApp("", jwks, scopes, dpop)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (o *org) client(t *testing.T, clientID string, mod func(*okta.Config)) *okta.Client {
	t.Helper()
	ck, dk, _ := simKeys()
	cfg := okta.Config{TenantURL: o.srv.URL, Insecure: true, ClientID: clientID, KeyID: "kid-1",
		ClientKey: ck, DPoPKey: dk, RetryBackoff: 5 * time.Millisecond, Logger: discard(), Now: o.clock}
	if mod != nil {
		mod(&cfg)
	}
	c, err := okta.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func activeUser(t *testing.T, o *org) string {
	for _, u := range o.sim.Users() {
		if u.Status == sim.StatusActive {
			return u.ID
		}
	}
	t.Fatal("no active user in the sim")
	return ""
}

func TestSimTokenDPoPWithNonceAndBearer(t *testing.T) {
	t.Parallel()
	o := newOrg(t, sim.Config{})
	ctx := tctx(t)

	dpop := o.client(t, o.app(t, true), nil)
	info, err := dpop.Token(ctx, okta.ScopeLogsRead)
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "DPoP" || o.tokenReqs.Load() != 2 {
		t.Fatalf("token %+v after %d token requests; want DPoP after the nonce round trip (2)", info, o.tokenReqs.Load())
	}
	page, err := dpop.LogsPage(ctx, dpop.LogsURL(okta.LogQuery{Since: o.clock().Add(-time.Hour), Limit: 5}))
	if err != nil {
		t.Fatal(err)
	}
	if page.Next == "" || !strings.HasPrefix(string(page.Body), "[") {
		t.Fatalf("page %q next %q", page.Body[:min(len(page.Body), 40)], page.Next)
	}
	if _, err := dpop.LogsPage(ctx, page.Next); err != nil {
		t.Fatal(err)
	}
	if _, err := dpop.GetUser(ctx, activeUser(t, o)); err != nil {
		t.Fatal(err)
	}

	// An app that does not bind tokens: Bearer, with or without a DPoP key.
	bearerApp := o.app(t, false)
	for _, noKey := range []bool{false, true} {
		c := o.client(t, bearerApp, func(c *okta.Config) {
			if noKey {
				c.DPoPKey = nil
			}
		})
		info, err := c.Token(ctx, okta.ScopeUsersManage)
		if err != nil || info.Type != "Bearer" {
			t.Fatalf("bearer app: %+v %v", info, err)
		}
		if _, err := c.GetUser(ctx, activeUser(t, o)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSimMisconfigurations(t *testing.T) {
	t.Parallel()
	o := newOrg(t, sim.Config{})
	_, _, other := simKeys()
	good := o.app(t, true)
	logsOnly := o.app(t, true, okta.ScopeLogsRead)
	usersOnly := o.app(t, true, okta.ScopeUsersManage)
	for _, tc := range []struct {
		name     string
		clientID string
		mod      func(*okta.Config)
		scope    string
		sentinel error
		fixHas   string
	}{
		{"wrong client id", "0oanotthere", nil, okta.ScopeLogsRead, okta.ErrInvalidClient, "General tab"},
		{"key not added", good, func(c *okta.Config) { c.ClientKey = other }, okta.ScopeLogsRead, okta.ErrInvalidClient, "Public Keys"},
		{"users scope not granted", logsOnly, nil, okta.ScopeUsersManage, okta.ErrScope, "okta.users.manage"},
		{"logs scope not granted", usersOnly, nil, okta.ScopeLogsRead, okta.ErrScope, "okta.logs.read"},
		{"DPoP required, no key", good, func(c *okta.Config) { c.DPoPKey = nil }, okta.ScopeLogsRead, okta.ErrDPoP, "clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := o.client(t, tc.clientID, tc.mod)
			_, err := c.Token(tctx(t), tc.scope)
			if !errors.Is(err, tc.sentinel) || okta.IsRetriable(err) || !strings.Contains(okta.FixOf(err), tc.fixHas) {
				t.Fatalf("err = %v (fix %q), want %v mentioning %q", err, okta.FixOf(err), tc.sentinel, tc.fixHas)
			}
		})
	}

	// Verify reports each check with its fix, and changes nothing.
	before := o.sim.Users()
	now := time.Now()
	res := okta.Verify(tctx(t), o.client(t, logsOnly, nil), okta.HookStatus{VerifiedAt: &now})
	want := map[string]string{okta.CheckToken: okta.StatusOK, okta.CheckLogsRead: okta.StatusOK,
		okta.CheckUsersManage: okta.StatusFailed, okta.CheckEventHook: okta.StatusPending}
	for _, ch := range res.Checks {
		if ch.Status != want[ch.Name] {
			t.Errorf("%s: %s (%s), want %s", ch.Name, ch.Status, ch.Detail, want[ch.Name])
		}
	}
	if res.OK || !strings.Contains(res.Checks[2].Fix, "okta.users.manage") {
		t.Errorf("verify %+v", res)
	}
	res = okta.Verify(tctx(t), o.client(t, good, nil), okta.HookStatus{VerifiedAt: &now, LastDeliveryAt: &now})
	if !res.OK {
		t.Errorf("verify of a good app: %+v", res)
	}
	after := o.sim.Users()
	for i := range before {
		if before[i].Status != after[i].Status {
			t.Fatal("verify changed a user")
		}
	}
}

func TestSimTokenExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	// The org and the client keep their own clocks, moved by the test.
	var orgOff, clientOff atomic.Int64
	orgClock := func() time.Time { return time.Now().Add(time.Duration(orgOff.Load())) }
	clientClock := func() time.Time { return time.Now().Add(time.Duration(clientOff.Load())) }
	o := newOrg(t, sim.Config{Now: orgClock, TokenTTL: 10 * time.Minute})
	c := o.client(t, o.app(t, true), func(c *okta.Config) { c.TokenRefreshBefore = time.Minute; c.Now = clientClock })
	ctx := tctx(t)
	u := activeUser(t, o)
	at := func(d time.Duration) { orgOff.Store(int64(d)); clientOff.Store(int64(d)) }
	if _, err := c.GetUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	n := o.tokenReqs.Load()
	// Eight minutes on: the cached token still serves.
	at(8 * time.Minute)
	if _, err := c.GetUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if o.tokenReqs.Load() != n {
		t.Fatalf("token re-requested while valid")
	}
	// 9.5 minutes: within a minute of expiry, renewed before use (with a
	// nonce round trip if the sim rotated its DPoP nonce meanwhile).
	at(9*time.Minute + 30*time.Second)
	if _, err := c.GetUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := o.tokenReqs.Load(); got <= n {
		t.Fatalf("token not renewed before expiry (%d token requests)", got)
	}
	// The client's clock runs four minutes slow: its token (issued at
	// 9.5 min for 10 min) looks valid to it at 16 min, but the org, at 20,
	// says expired. The 401 makes it fetch a new token once.
	n = o.tokenReqs.Load()
	orgOff.Store(int64(20 * time.Minute))
	clientOff.Store(int64(16 * time.Minute))
	if _, err := c.GetUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if o.tokenReqs.Load() <= n {
		t.Fatal("expired token not replaced")
	}
}

func TestSimRateLimit429WaitsForReset(t *testing.T) {
	t.Parallel()
	// The sim's rate-limit window is the clock minute: set the clock two
	// seconds before a minute ends so the 429's reset is two seconds away.
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	o := newOrg(t, sim.Config{Now: clock, RateLimitPerMinute: 3})
	var waits atomic.Int64
	c := o.client(t, o.app(t, true), nil)
	c.OnRateLimited(func(string, time.Duration) { waits.Add(1) })
	ctx := tctx(t)
	u := activeUser(t, o)
	beforeMinuteEnds(&offset, 2*time.Second)
	if _, err := c.Token(ctx, okta.ScopeUsersManage); err != nil {
		t.Fatal(err)
	}
	// Another caller spends the users budget of this minute (the sim
	// counts requests before authenticating them).
	for i := 0; i < 3; i++ {
		resp, err := http.Get(o.srv.URL + "/api/v1/users")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The client's call gets a 429 and waits for the reset (2 s away).
	if _, err := c.GetUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if waits.Load() == 0 {
		t.Fatal("no 429 was waited out")
	}
}

func TestSimServerErrorsRetried(t *testing.T) {
	t.Parallel()
	o := newOrg(t, sim.Config{})
	c := o.client(t, o.app(t, true), nil)
	ctx := tctx(t)
	u := activeUser(t, o)
	// 5xx: retried with backoff; past MaxRetries a retriable KindServer.
	o.fail503.Store(2)
	if _, err := c.GetUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	o.fail503.Store(100)
	c2 := o.client(t, o.app(t, true), func(c *okta.Config) { c.MaxRetries = 1 })
	_, err := c2.GetUser(ctx, u)
	if !errors.Is(err, okta.ErrServer) || !okta.IsRetriable(err) {
		t.Fatalf("err = %v", err)
	}
	o.fail503.Store(0)
}

// beforeMinuteEnds sets the clock offset so the clock reads d before the
// end of a minute (the sim's rate-limit windows are clock minutes).
func beforeMinuteEnds(offset *atomic.Int64, d time.Duration) {
	now := time.Now()
	offset.Store(int64(now.Truncate(time.Minute).Add(time.Minute - d).Sub(now)))
}

func TestSimPacingAvoids429(t *testing.T) {
	t.Parallel()
	// Three calls a minute allowed, three seconds left in the minute: the
	// client spreads its calls over the time left and waits for the reset
	// rather than running into a 429.
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	o := newOrg(t, sim.Config{Now: clock, RateLimitPerMinute: 3})
	c := o.client(t, o.app(t, true), nil)
	var limited atomic.Int64
	c.OnRateLimited(func(string, time.Duration) { limited.Add(1) })
	u := activeUser(t, o)
	beforeMinuteEnds(&offset, 3*time.Second)
	if _, err := c.Token(tctx(t), okta.ScopeUsersManage); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := c.GetUser(tctx(t), u); err != nil {
			t.Fatal(err)
		}
	}
	if n := limited.Load(); n != 0 {
		t.Fatalf("%d calls ran into a 429", n)
	}
}

func TestSimUserActionsIdempotent(t *testing.T) {
	t.Parallel()
	o := newOrg(t, sim.Config{})
	c := o.client(t, o.app(t, true), nil)
	ctx := tctx(t)
	u := activeUser(t, o)
	status := func() string {
		for _, x := range o.sim.Users() {
			if x.ID == u {
				return x.Status
			}
		}
		return ""
	}
	for i, want := range []struct {
		do     func(context.Context, string) (*okta.ActionRecord, error)
		noOp   bool
		status string
	}{
		{c.SuspendUser, false, sim.StatusSuspended},
		{c.SuspendUser, true, sim.StatusSuspended},
		{c.UnsuspendUser, false, sim.StatusActive},
		{c.UnsuspendUser, true, sim.StatusActive},
	} {
		rec, err := want.do(ctx, u)
		if err != nil || !rec.OK || rec.NoOp != want.noOp || rec.StatusAfter != want.status || status() != want.status {
			t.Fatalf("step %d: %v %+v (sim status %s)", i, err, rec, status())
		}
	}
	for i := 0; i < 2; i++ {
		rec, err := c.ClearSessions(ctx, u)
		if err != nil || !rec.OK || rec.Calls[len(rec.Calls)-1].StatusCode != http.StatusNoContent {
			t.Fatalf("clear sessions: %v %+v", err, rec)
		}
	}
	rec, err := c.SuspendUser(ctx, "nobody@nowhere.example")
	if !errors.Is(err, okta.ErrNotFound) || rec.Calls[0].StatusCode != 404 || rec.Calls[0].ErrorCode == "" {
		t.Fatalf("unknown user: %v %+v", err, rec)
	}
}

func TestSimSSRFRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	o := newOrg(t, sim.Config{})
	ck, dk, _ := simKeys()
	// Without the insecure flag the sim's loopback URL is refused, as are
	// metadata addresses and URLs with paths or credentials.
	for _, u := range []string{o.srv.URL, "https://169.254.169.254", "https://example.okta.com/oauth2", "https://a:b@example.okta.com"} {
		if _, err := okta.New(okta.Config{TenantURL: u, ClientID: "x", ClientKey: ck, DPoPKey: dk}); !errors.Is(err, okta.ErrTenantURL) {
			t.Errorf("%s: err = %v", u, err)
		}
	}
	c := o.client(t, o.app(t, true), nil)
	if _, err := c.LogsPage(tctx(t), "http://169.254.169.254/api/v1/logs"); !errors.Is(err, okta.ErrTenantURL) {
		t.Errorf("off-tenant page: %v", err)
	}
	if n := o.requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the org", n)
	}
}
