package sim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestOIDCCodeFlowRefusals(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Users: 5, History: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	const redirect = "http://clarion.test/console/oidc/callback"
	app, err := s.RegisterOIDCApp(OIDCApp{RedirectURIs: []string{redirect}})
	if err != nil {
		t.Fatal(err)
	}
	u := s.Users()[0]
	if err := s.SetPassword(u.Login, "pw-12345678"); err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var disc map[string]any
	resp, _ := http.Get(srv.URL + "/.well-known/openid-configuration")
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc["issuer"] != srv.URL || disc["token_endpoint"] != srv.URL+"/oauth2/v1/token" {
		t.Fatalf("discovery %v", disc)
	}

	verifier := "a-verifier-of-at-least-43-characters-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	auth := url.Values{
		"client_id": {app.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid profile groups"},
		"state": {"st"}, "nonce": {"nn"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	code := func() string {
		f := url.Values{"username": {u.Login}, "password": {"pw-12345678"}}
		for k, v := range auth {
			f[k] = v
		}
		r, err := noFollow.PostForm(srv.URL+"/oauth2/v1/authorize", f)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.StatusCode != 302 || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %s", r.StatusCode, loc)
		}
		return loc.Query().Get("code")
	}
	exchange := func(c, secret, ver, redir string) (int, map[string]any) {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redir}, "code_verifier": {ver},
			"client_id": {app.ClientID}, "client_secret": {secret}}
		r, err := http.PostForm(srv.URL+"/oauth2/v1/token", f)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var out map[string]any
		json.NewDecoder(r.Body).Decode(&out)
		return r.StatusCode, out
	}
	for _, tc := range []struct {
		name               string
		secret, ver, redir string
		status             int
	}{
		{"wrong secret", "nope", verifier, redirect, 401},
		{"wrong verifier", app.ClientSecret, verifier + "x", redirect, 400},
		{"other redirect", app.ClientSecret, verifier, redirect + "x", 400},
	} {
		if st, out := exchange(code(), tc.secret, tc.ver, tc.redir); st != tc.status {
			t.Errorf("%s: %d %v", tc.name, st, out)
		}
	}
	c := code()
	st, out := exchange(c, app.ClientSecret, verifier, redirect)
	if st != 200 || out["id_token"] == nil || out["access_token"] == nil {
		t.Fatalf("exchange: %d %v", st, out)
	}
	if st, _ := exchange(c, app.ClientSecret, verifier, redirect); st != 400 {
		t.Fatalf("code reused: %d", st)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/oauth2/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+out["access_token"].(string))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(b), `"sub":"`+u.ID+`"`) || !strings.Contains(string(b), `"groups":["Everyone"`) {
		t.Fatalf("userinfo %d %s", r.StatusCode, b)
	}
	// Unregistered redirect URIs and missing PKCE are refused before any sign-in.
	bad := url.Values{}
	for k, v := range auth {
		bad[k] = v
	}
	bad.Set("redirect_uri", "http://evil.example/cb")
	if r, _ := noFollow.Get(srv.URL + "/oauth2/v1/authorize?" + bad.Encode()); r.StatusCode != 400 {
		t.Fatalf("foreign redirect: %d", r.StatusCode)
	}
	bad.Set("redirect_uri", redirect)
	bad.Del("code_challenge")
	if r, _ := noFollow.Get(srv.URL + "/oauth2/v1/authorize?" + bad.Encode()); r.StatusCode != 302 || !strings.Contains(r.Header.Get("Location"), "error=invalid_request") {
		t.Fatalf("no PKCE: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	// A suspended user cannot sign in.
	s.mu.Lock()
	s.status[0] = "SUSPENDED"
	s.mu.Unlock()
	f := url.Values{"username": {u.Login}, "password": {"pw-12345678"}}
	for k, v := range auth {
		f[k] = v
	}
	if r, _ := noFollow.PostForm(srv.URL+"/oauth2/v1/authorize", f); r.StatusCode != 401 {
		t.Fatalf("suspended user: %d", r.StatusCode)
	}
}
