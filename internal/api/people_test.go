package api

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus/bustest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestThrottlePerClientWithBackoff(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	th := NewThrottle(ThrottleConfig{Free: 3, Base: time.Second, Max: 8 * time.Second, Now: clk.now})
	waits := []time.Duration{}
	for range 7 {
		waits = append(waits, th.Fail("a"))
	}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	if th.Wait("a") != 8*time.Second || th.Wait("b") != 0 {
		t.Fatalf("wait a %v b %v", th.Wait("a"), th.Wait("b"))
	}
	clk.add(8 * time.Second)
	if th.Wait("a") != 0 {
		t.Fatal("still waiting after the back-off")
	}
	th.Succeed("a")
	if th.Fail("a") != 0 {
		t.Fatal("success did not clear the client")
	}
}

func TestThrottleBoundsClients(t *testing.T) {
	t.Parallel()
	th := NewThrottle(ThrottleConfig{MaxClients: 10})
	for i := range 100 {
		th.Fail(strings.Repeat("x", i+1))
	}
	if n := len(th.clients); n > 10 {
		t.Fatalf("%d clients held", n)
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"192.0.2.1:5000", "", nil, "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.5", nil, "192.0.2.1"}, // not a trusted proxy: XFF ignored
		{"10.1.1.1:5000", "203.0.113.5", proxy, "203.0.113.5"},
		{"10.1.1.1:5000", "198.51.100.1, 203.0.113.5, 10.2.2.2", proxy, "203.0.113.5"},
		{"10.1.1.1:5000", "junk", proxy, "10.1.1.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:1", "", nil, "192.0.2.7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ClientKey(r, tc.trusted); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestCheckTokenStrength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tok string
		ok  bool
	}{
		{"", false}, {"short", false}, {strings.Repeat("a", 64), false}, {strings.Repeat("ab", 20), false},
		{"password-password-password", false},
		{"Zq8vN3kR7wYt2LpX5cHf9mBdQ1sW4eR6", true},
		{"kS1mO4yC7F2Xx9dE0uQnH3bVrT6wLz8jPaG5iN_MqYc", true},
	} {
		if err := CheckTokenStrength(tc.tok); (err == nil) != tc.ok {
			t.Errorf("%q: %v (%.0f bits)", tc.tok, err, TokenBits(tc.tok))
		}
	}
}

func TestAccessTokens(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	ctx := context.Background()
	st, err := OpenAccess(ctx, c.Brokers, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{t: time.Now()}
	st.now = clk.now
	admin := AdminTokenPrincipal()
	ada := Principal{ID: "https://idp#ada", Name: "Ada", Role: RoleApprover, Via: ViaSession}
	for _, tc := range []struct {
		name string
		req  TokenRequest
		by   Principal
	}{
		{"no name", TokenRequest{Kind: TokenService, Role: "viewer"}, admin},
		{"bad role", TokenRequest{Name: "x", Kind: TokenService, Role: "root"}, admin},
		{"bad kind", TokenRequest{Name: "x", Kind: "other", Role: "viewer"}, admin},
		{"ttl too short", TokenRequest{Name: "x", Kind: TokenService, Role: "viewer", TTLSeconds: 5}, admin},
		{"personal above own role", TokenRequest{Name: "x", Kind: TokenPersonal, Role: "admin"}, ada},
		{"service by non-admin", TokenRequest{Name: "x", Kind: TokenService, Role: "viewer"}, ada},
		{"personal without a session", TokenRequest{Name: "x", Kind: TokenPersonal, Role: "viewer"}, admin},
	} {
		if _, _, err := st.Issue(ctx, tc.req, tc.by); err == nil {
			t.Errorf("%s: issued", tc.name)
		}
	}
	tok, secret, err := st.Issue(ctx, TokenRequest{Name: "laptop", Kind: TokenPersonal, Role: "analyst", TTLSeconds: 3600}, ada)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Hash != "" || !strings.HasPrefix(secret, TokenPrefix) || strings.Contains(tok.ID, secret) {
		t.Fatalf("issued %+v", tok)
	}
	p, ok := st.Authenticate(secret)
	if !ok || p.ID != ada.ID || p.Role != RoleAnalyst || p.Via != ViaAPIToken {
		t.Fatalf("authenticate: %+v %v", p, ok)
	}
	if _, ok := st.Authenticate(secret + "x"); ok {
		t.Fatal("a changed secret authenticates")
	}
	// Another replica replays the topic and knows the token; it stores no secret.
	other, err := OpenAccess(ctx, c.Brokers, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.now = clk.now
	if _, ok := other.Authenticate(secret); !ok {
		t.Fatal("the replay does not know the token")
	}
	for _, r := range bustest.ConsumeAll(t, c.Brokers, AccessTopic, 5*time.Second) {
		if strings.Contains(string(r.Value), secret) || strings.Contains(string(r.Value), strings.TrimPrefix(secret, TokenPrefix)) {
			t.Fatal("the secret is on Kafka")
		}
	}
	clk.add(time.Hour)
	if _, ok := st.Authenticate(secret); ok {
		t.Fatal("an expired token authenticates")
	}
	clk.add(-time.Minute)
	if _, err := st.Revoke(ctx, tok.ID, Principal{ID: "someone-else", Role: RoleApprover}); err == nil {
		t.Fatal("a stranger revoked the token")
	}
	if _, err := st.Revoke(ctx, tok.ID, ada); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Authenticate(secret); ok {
		t.Fatal("a revoked token authenticates")
	}
	if got := st.Tokens(Principal{ID: "nobody", Role: RoleViewer}); len(got) != 0 {
		t.Fatalf("a stranger lists %v", got)
	}
	if got := st.Tokens(admin); len(got) != 1 || got[0].RevokedAt.IsZero() {
		t.Fatalf("admin lists %+v", got)
	}
}
