package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus"
)

// issueToken issues a service token of role with the admin token.
func issueToken(t *testing.T, base, role string) string {
	t.Helper()
	code, b := call(t, "POST", base+"/api/tokens", testAdminToken, map[string]any{"name": "matrix " + role, "kind": "service", "role": role})
	if code != 201 {
		t.Fatalf("issue %s token: %d %s", role, code, b)
	}
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
		Hash   string `json:"hash"`
	}
	if err := json.Unmarshal(b, &out); err != nil || !strings.HasPrefix(out.Secret, api.TokenPrefix) || out.Hash != "" {
		t.Fatalf("issued %s", b)
	}
	return out.Secret
}

// status calls method path with token and returns the status without
// reading the body (the alert stream never ends).
func status(t *testing.T, method, url, token string) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRoleRouteMatrix walks every /api route the assembled process serves
// (the API's own, the console's, the responder's approve and reject) with a
// token of each role: a role below the route's answers 403, at or above it
// the route is reached (neither 401 nor 403), and without a token 401.
func TestRoleRouteMatrix(t *testing.T) {
	t.Parallel()
	a, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken}, TargetAll)
	base := "http://" + a.Addr()
	tokens := map[api.Role]string{}
	for _, r := range []api.Role{api.RoleViewer, api.RoleAnalyst, api.RoleApprover, api.RoleAdmin} {
		tokens[r] = issueToken(t, base, r.String())
	}
	routes := a.API.Routes()
	want := map[string]api.Role{
		"POST /api/actions/{id}/approve": api.RoleApprover, "POST /api/actions/{id}/reject": api.RoleApprover,
		"POST /api/alerts/{id}/feedback": api.RoleAnalyst, "POST /api/integrations": api.RoleAdmin,
		"POST /api/integrations/{id}/verify": api.RoleAdmin, "GET /api/alerts": api.RoleViewer,
		"GET /api/alerts/{id}": api.RoleViewer, "GET /api/alerts/stream": api.RoleViewer,
		"GET /api/integrations": api.RoleViewer, "GET /api/integrations/{id}": api.RoleViewer,
		"GET /api/me": api.RoleViewer, "GET /api/tokens": api.RoleViewer, "POST /api/tokens": api.RoleViewer,
		"DELETE /api/tokens/{id}": api.RoleViewer,
	}
	if len(routes) != len(want) {
		t.Errorf("%d routes, the matrix knows %d: %v", len(routes), len(want), routes)
	}
	for _, rt := range routes {
		if w, ok := want[rt.Pattern]; !ok || w != rt.Role {
			t.Errorf("route %s needs %s, want %s", rt.Pattern, rt.Role, w)
		}
		method, path, _ := strings.Cut(rt.Pattern, " ")
		url := base + strings.ReplaceAll(path, "{id}", "matrix-x")
		for _, role := range []api.Role{api.RoleViewer, api.RoleAnalyst, api.RoleApprover, api.RoleAdmin} {
			code := status(t, method, url, tokens[role])
			allowed := role.Allows(rt.Role)
			if allowed && (code == 401 || code == 403) {
				t.Errorf("%s as %s: %d, want the route reached", rt.Pattern, role, code)
			}
			if !allowed && code != 403 {
				t.Errorf("%s as %s: %d, want 403", rt.Pattern, role, code)
			}
		}
		if code := status(t, method, url, ""); code != 401 {
			t.Errorf("%s without a token: %d", rt.Pattern, code)
		}
	}
	// /api/me names the principal and role of the token.
	code, b := call(t, "GET", base+"/api/me", tokens[api.RoleAnalyst], nil)
	if code != 200 || !strings.Contains(string(b), `"role":"analyst"`) || !strings.Contains(string(b), `"via":"api_token"`) {
		t.Fatalf("me: %d %s", code, b)
	}
	// A service token may not issue tokens; a revoked token stops working.
	if code, b := call(t, "POST", base+"/api/tokens", tokens[api.RoleApprover], map[string]any{"name": "x", "kind": "service", "role": "viewer"}); code != 403 {
		t.Fatalf("service token issuing: %d %s", code, b)
	}
	code, b = call(t, "GET", base+"/api/tokens", testAdminToken, nil)
	var list struct {
		Tokens []api.Token `json:"tokens"`
	}
	if code != 200 || json.Unmarshal(b, &list) != nil || len(list.Tokens) != 4 {
		t.Fatalf("list: %d %s", code, b)
	}
	for _, tk := range list.Tokens {
		if tk.Hash != "" {
			t.Fatalf("list shows a hash: %s", b)
		}
		if tk.Role == "viewer" {
			if code, b := call(t, "DELETE", base+"/api/tokens/"+tk.ID, testAdminToken, nil); code != 200 {
				t.Fatalf("revoke: %d %s", code, b)
			}
		}
	}
	if code := status(t, "GET", base+"/api/alerts", tokens[api.RoleViewer]); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
}

// TestWeakAdminTokenRefused: a configured admin token must be long and
// random enough.
func TestWeakAdminTokenRefused(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"tok", "s3cret-token", strings.Repeat("ab", 20)} {
		cfg := Config{DataDir: t.TempDir(), AdminToken: tok, HTTPAddr: "127.0.0.1:0", EmbeddedKafka: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
		a, err := New(context.Background(), cfg, TargetAll)
		if err == nil {
			a.Close()
			t.Fatalf("admin token %q accepted", tok)
		}
	}
}

// TestLogoutEndsSessionOnEveryReplica: two console replicas on one Kafka;
// a sign-out on one ends the session on the other.
func TestLogoutEndsSessionOnEveryReplica(t *testing.T) {
	t.Parallel()
	const key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	first, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken, MasterKey: key}, TargetAll)
	second, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken, KafkaBrokers: first.Brokers, MasterKey: key}, TargetConsole)
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	resp, err := cl.Post("http://"+first.Addr()+"/console/login", "application/json", strings.NewReader(`{"token":"`+testAdminToken+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.Cookies()) == 0 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	ck := resp.Cookies()[0]
	get := func(base string) int {
		req, _ := http.NewRequest("GET", base+"/api/alerts", nil)
		req.AddCookie(ck)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if c := get("http://" + second.Addr()); c != 200 {
		t.Fatalf("the other replica before logout: %d", c)
	}
	req, _ := http.NewRequest("POST", "http://"+first.Addr()+"/console/logout", nil)
	req.AddCookie(ck)
	req.Header.Set("X-CSRF-Token", info.CSRF)
	r, err := http.DefaultClient.Do(req)
	if err != nil || r.StatusCode != 204 {
		t.Fatalf("logout: %v %v", err, r)
	}
	r.Body.Close()
	// The revocation travels through clarion.access; wait for the replica
	// to read it (no timing is asserted, only that it happens).
	deadline := time.Now().Add(20 * time.Second)
	for get("http://"+second.Addr()) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts the signed-out session")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// from returns a client whose connections come from the loopback address ip
// (all of 127.0.0.0/8 is local on Linux), so the server sees another peer.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestLoginBruteForcePerClient: one address guessing the admin token is
// throttled (sign-ins and bearer tokens alike) with a growing wait, while
// another address signs in at once; the failures are audited.
func TestLoginBruteForcePerClient(t *testing.T) {
	t.Parallel()
	a, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken}, TargetAll)
	port := a.ln.Addr().(*net.TCPAddr).Port
	url := func(ip, path string) string { return "http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + path }
	attacker, user := from("127.0.0.2"), from("127.0.0.3")
	login := func(cl *http.Client, ip, tok string) (int, string) {
		t.Helper()
		resp, err := cl.Post(url(ip, "/console/login"), "application/json", strings.NewReader(`{"token":"`+tok+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	codes := map[int]int{}
	for i := range 30 {
		code, _ := login(attacker, "127.0.0.1", fmt.Sprintf("guess-%02d-%s", i, strings.Repeat("x", 20)))
		codes[code]++
	}
	if codes[401] != 5 || codes[429] != 25 {
		t.Fatalf("30 guesses from one address: %v, want 5 refused then 25 throttled", codes)
	}
	if code, retry := login(attacker, "127.0.0.1", testAdminToken); code != 429 || retry == "" {
		t.Fatalf("the right token from the throttled address: %d (Retry-After %q)", code, retry)
	}
	req, _ := http.NewRequest("GET", url("127.0.0.1", "/api/integrations"), nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if resp, err := attacker.Do(req); err != nil || resp.StatusCode != 429 {
		t.Fatalf("bearer from the throttled address: %v %v", resp, err)
	}
	// Another client is not locked out.
	if code, _ := login(user, "127.0.0.1", testAdminToken); code != 200 {
		t.Fatalf("another address signing in: %d", code)
	}
	req, _ = http.NewRequest("GET", url("127.0.0.1", "/api/integrations"), nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if resp, err := user.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("bearer from another address: %v %v", resp, err)
	}
	// The refused attempts are on clarion.audit with the attacker's address.
	cl, err := bus.NewClient(a.Brokers, nil, kgo.ConsumeTopics(audit.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	failed, ok := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for (failed < 5 || ok < 1) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			ev, err := audit.Parse(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case ev.Action == audit.ActionSignInFailed && ev.Remote == "127.0.0.2":
				failed++
			case ev.Action == audit.ActionSignIn && ev.Remote == "127.0.0.3" && ev.Actor.ID == "admin-token":
				ok++
			}
		})
	}
	if failed != 5 || ok != 1 {
		t.Fatalf("audit: %d failed sign-ins from the attacker, %d sign-ins", failed, ok)
	}
}

// TestMetricsOnTheirOwnListener: with MetricsAddr, /metrics leaves the
// public listener (its labels name integrations).
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken, People: People{MetricsAddr: addr}}, TargetAll)
	if code := status(t, "GET", "http://"+a.Addr()+"/metrics", ""); code != 404 {
		t.Fatalf("/metrics on the public listener: %d", code)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "go_goroutines") {
		t.Fatalf("/metrics on the metrics listener: %d", resp.StatusCode)
	}
}

// TestPublicURLWarnings: a plain-http or loopback public URL is warned
// about at start; https is not.
func TestPublicURLWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, want string
	}{
		{"http://127.0.0.1:8080", "loopback"},
		{"http://localhost:8080", "loopback"},
		{"http://clarion.example.com", "plain http"},
		{"https://clarion.example.com", ""},
	} {
		var buf bytes.Buffer
		a := &App{cfg: Config{PublicURL: tc.url}, log: slog.New(slog.NewTextHandler(&buf, nil))}
		a.warnPublicURL()
		if got := buf.String(); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q", tc.url, got)
		}
	}
}
