package sdktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
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
	"github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/clarion-itdr/clarion/okta/sim"
)

// exchange is one HTTP exchange the SDK made, as the recording transport
// saw it.
type exchange struct {
	method, path, rawQuery string
	authz, dpop            string
	bodyLen                int64
	status                 int
	respBody               []byte
	dpopNonce              string
}

// recorder is an http.RoundTripper that records every exchange.
type recorder struct {
	mu  sync.Mutex
	log []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var n int64
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		req.Body.Close()
		n = int64(len(b))
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.log = append(r.log, exchange{method: req.Method, path: req.URL.Path, rawQuery: req.URL.RawQuery,
		authz: req.Header.Get("Authorization"), dpop: req.Header.Get("DPoP"), bodyLen: n,
		status: resp.StatusCode, respBody: body, dpopNonce: resp.Header.Get("DPoP-Nonce")})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.log...)
}

type org struct {
	s   *sim.Server
	ts  *httptest.Server
	rec *recorder
	api *okta.APIClient
	id  string
	key *rsa.PrivateKey
}

// newOrg starts a simulated org in process, registers a service app with
// an RSA key, the scopes Clarion asks for and DPoP required (as Okta's
// setup guide has it), and configures Okta's SDK for it exactly as the
// SDK's documentation says for private_key_jwt: PrivateKey mode, a PEM key
// and its kid, the scopes.
func newOrg(t *testing.T) *org {
	t.Helper()
	s, err := sim.New(sim.Config{Users: 40, History: 12 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "kid-1", Algorithm: "RS256", Use: "sig"}}}
	id, err := s.RegisterApp("", jwks, []string{"okta.logs.read", "okta.users.manage"}, true)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	rec := &recorder{}
	cfg, err := okta.NewConfiguration(
		okta.WithOrgUrl(ts.URL),
		okta.WithAuthorizationMode("PrivateKey"),
		okta.WithClientId(id),
		okta.WithScopes([]string{"okta.logs.read", "okta.users.manage"}),
		okta.WithPrivateKey(string(keyPEM)),
		okta.WithPrivateKeyId("kid-1"),
		okta.WithTestingDisableHttpsCheck(true),
		okta.WithCache(false),
		okta.WithHttpClientPtr(&http.Client{Transport: rec, Timeout: 30 * time.Second}),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK keeps only the org URL's host name (url.Hostname drops the
	// port) for API calls: a real org is on 443. The test server is not.
	u, _ := url.Parse(ts.URL)
	cfg.Host = u.Host
	return &org{s: s, ts: ts, rec: rec, api: okta.NewAPIClient(cfg), id: id, key: key}
}

// oktaError reads Okta's error body out of an SDK error and checks that it
// has every field of Okta's error shape.
func oktaError(t *testing.T, err error) okta.Error {
	t.Helper()
	var ge *okta.GenericOpenAPIError
	if !errors.As(err, &ge) {
		t.Fatalf("error %T %v, want *okta.GenericOpenAPIError", err, err)
	}
	var e okta.Error
	if jerr := json.Unmarshal(ge.Body(), &e); jerr != nil {
		t.Fatalf("error body %q: %v", ge.Body(), jerr)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(ge.Body(), &raw)
	for _, k := range []string{"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("error body %s lacks %s", ge.Body(), k)
		}
	}
	if e.GetErrorCode() == "" || e.GetErrorSummary() == "" || e.GetErrorId() == "" || e.GetErrorLink() != e.GetErrorCode() {
		t.Fatalf("error body %s", ge.Body())
	}
	return e
}

// TestPrivateKeyJWTWithDPoP: the SDK gets a DPoP-bound token the way it
// does from Okta (parameters in the POST's query, an assertion without
// jti, the invalid_dpop_proof and use_dpop_nonce round trips) and signs
// every API call with a DPoP proof.
func TestPrivateKeyJWTWithDPoP(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	ctx := context.Background()
	users, _, err := o.api.UserAPI.ListUsers(ctx).Limit(2).Execute()
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(users) != 2 {
		t.Fatalf("%d users, want 2", len(users))
	}
	// A second call reuses the cached token.
	if _, _, err := o.api.UserAPI.ListUsers(ctx).Limit(1).Execute(); err != nil {
		t.Fatal(err)
	}
	var tokenCalls, apiCalls []exchange
	for _, x := range o.rec.exchanges() {
		if x.path == "/oauth2/v1/token" {
			tokenCalls = append(tokenCalls, x)
		} else {
			apiCalls = append(apiCalls, x)
		}
	}
	if len(tokenCalls) != 3 {
		t.Fatalf("%d token requests, want 3 (no proof, no nonce, with nonce)", len(tokenCalls))
	}
	for i, want := range []struct {
		status int
		err    string
		proof  bool
	}{{400, "invalid_dpop_proof", false}, {400, "use_dpop_nonce", true}, {200, "", true}} {
		x := tokenCalls[i]
		if x.status != want.status || (want.err != "" && !strings.Contains(string(x.respBody), `"error":"`+want.err+`"`)) {
			t.Fatalf("token request %d: %d %s, want %d %s", i, x.status, x.respBody, want.status, want.err)
		}
		if (x.dpop != "") != want.proof {
			t.Fatalf("token request %d: DPoP header %q", i, x.dpop)
		}
		// The SDK's shape: everything in the query, an empty body.
		q, _ := url.ParseQuery(x.rawQuery)
		if q.Get("grant_type") != "client_credentials" || q.Get("client_assertion") == "" || x.bodyLen != 0 {
			t.Fatalf("token request %d: query %q body %d bytes", i, x.rawQuery, x.bodyLen)
		}
	}
	if tokenCalls[1].dpopNonce == "" {
		t.Fatal("use_dpop_nonce answer without a DPoP-Nonce header")
	}
	var tok struct {
		TokenType string `json:"token_type"`
	}
	_ = json.Unmarshal(tokenCalls[2].respBody, &tok)
	if tok.TokenType != "DPoP" {
		t.Fatalf("token_type %q, want DPoP", tok.TokenType)
	}
	for _, x := range apiCalls {
		if !strings.HasPrefix(x.authz, "DPoP ") || x.dpop == "" || x.status != 200 {
			t.Fatalf("API call %s: authorization %.10q, DPoP %v, status %d", x.path, x.authz, x.dpop != "", x.status)
		}
	}
}

// TestTokenErrorsOAuthShape: the token endpoint answers the SDK's request
// shape with the OAuth error body, and a jti, when present, is single-use.
func TestTokenErrorsOAuthShape(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	post := func(assertion string) (int, map[string]string) {
		q := url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.logs.read"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		req, _ := http.NewRequest(http.MethodPost, o.ts.URL+"/oauth2/v1/token?"+q.Encode(), nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, m
	}
	if code, m := post("not.a.jwt"); code != 401 || m["error"] != "invalid_client" || m["error_description"] == "" {
		t.Fatalf("%d %v", code, m)
	}
	// With DPoP required, a good assertion without a proof is told to use
	// DPoP (the SDK's cue); a jti is consumed only once a token is issued.
	if code, m := post(assertion(t, o, "")); code != 400 || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("%d %v", code, m)
	}
}

func assertion(t *testing.T, o *org, jti string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: o.key}, (&jose.SignerOptions{}).WithHeader("kid", "kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{"iss": o.id, "sub": o.id, "aud": o.ts.URL + "/oauth2/v1/token", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if jti != "" {
		claims["jti"] = jti
	}
	payload, _ := json.Marshal(claims)
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSystemLogPagingOverLink: the SDK follows the Link rel="next" header
// through a bounded query; the pages hold exactly the events of one large
// page, in order, each decoded into the SDK's LogEvent model.
func TestSystemLogPagingOverLink(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	ctx := context.Background()
	until := o.s.SimNow().UTC()
	since := until.Add(-12 * time.Hour)
	filter := `eventType eq "user.session.start"`
	all, _, err := o.api.SystemLogAPI.ListLogEvents(ctx).Since(since).Until(until).Filter(filter).Limit(1000).Execute()
	if err != nil {
		t.Fatalf("ListLogEvents: %v", err)
	}
	if len(all) < 10 || len(all) >= 1000 {
		t.Fatalf("%d events in one page: want between 10 and 999 for the test to mean something", len(all))
	}
	var paged []okta.LogEvent
	page, resp, err := o.api.SystemLogAPI.ListLogEvents(ctx).Since(since).Until(until).Filter(filter).Limit(7).Execute()
	if err != nil {
		t.Fatal(err)
	}
	paged = append(paged, page...)
	pages := 1
	for resp.HasNextPage() {
		var next []okta.LogEvent
		resp, err = resp.Next(&next)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		paged = append(paged, next...)
		pages++
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
	if len(paged) != len(all) || pages < 2 {
		t.Fatalf("%d events over %d pages, want %d", len(paged), pages, len(all))
	}
	for i := range all {
		if paged[i].GetUuid() != all[i].GetUuid() || paged[i].GetUuid() == "" {
			t.Fatalf("event %d: %q != %q", i, paged[i].GetUuid(), all[i].GetUuid())
		}
		if paged[i].GetEventType() != "user.session.start" || paged[i].Actor == nil || paged[i].Actor.GetId() == "" {
			t.Fatalf("event %d: %+v", i, paged[i])
		}
		if i > 0 && paged[i].GetPublished().Before(paged[i-1].GetPublished()) {
			t.Fatalf("event %d is published before event %d", i, i-1)
		}
	}
}

// TestUsersLifecycleAndSessions: ListUsers pages over Link, GetUser by id
// and by login, SuspendUser and UnsuspendUser change the status (and a
// second suspend gets Okta's 400 error body), RevokeUserSessions with
// oauthTokens logs both events, and an unknown user gets Okta's 404 error.
func TestUsersLifecycleAndSessions(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	ctx := context.Background()
	var listed []okta.User
	page, resp, err := o.api.UserAPI.ListUsers(ctx).Limit(5).Execute()
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	listed = append(listed, page...)
	for resp.HasNextPage() {
		var next []okta.User
		if resp, err = resp.Next(&next); err != nil {
			t.Fatal(err)
		}
		listed = append(listed, next...)
		if len(listed) > 100 {
			t.Fatal("paging does not end")
		}
	}
	simUsers := o.s.Users()
	if len(listed) != len(simUsers) {
		t.Fatalf("ListUsers gave %d users, the org has %d", len(listed), len(simUsers))
	}
	target := simUsers[3]
	u, _, err := o.api.UserAPI.GetUser(ctx, target.ID).Execute()
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if u.GetId() != target.ID || u.GetStatus() != "ACTIVE" || u.Profile == nil || u.Profile.GetLogin() != target.Login {
		t.Fatalf("GetUser: id %q status %q", u.GetId(), u.GetStatus())
	}
	if byLogin, _, err := o.api.UserAPI.GetUser(ctx, target.Login).Execute(); err != nil || byLogin.GetId() != target.ID {
		t.Fatalf("GetUser by login: %v", err)
	}

	if _, err := o.api.UserAPI.SuspendUser(ctx, target.ID).Execute(); err != nil {
		t.Fatalf("SuspendUser: %v", err)
	}
	if u, _, err := o.api.UserAPI.GetUser(ctx, target.ID).Execute(); err != nil || u.GetStatus() != "SUSPENDED" {
		t.Fatalf("after suspend: status %q, %v", u.GetStatus(), err)
	}
	_, err = o.api.UserAPI.SuspendUser(ctx, target.ID).Execute()
	if e := oktaError(t, err); e.GetErrorCode() != "E0000001" {
		t.Fatalf("second suspend: %s", e.GetErrorCode())
	}
	if _, err := o.api.UserAPI.UnsuspendUser(ctx, target.ID).Execute(); err != nil {
		t.Fatalf("UnsuspendUser: %v", err)
	}
	if u, _, err := o.api.UserAPI.GetUser(ctx, target.ID).Execute(); err != nil || u.GetStatus() != "ACTIVE" {
		t.Fatalf("after unsuspend: status %q, %v", u.GetStatus(), err)
	}

	if resp, err := o.api.UserAPI.RevokeUserSessions(ctx, target.ID).OauthTokens(true).Execute(); err != nil || resp.StatusCode != 204 {
		t.Fatalf("RevokeUserSessions: %v", err)
	}
	var sawQuery bool
	for _, x := range o.rec.exchanges() {
		if x.method == http.MethodDelete && x.path == "/api/v1/users/"+target.ID+"/sessions" && x.rawQuery == "oauthTokens=true" {
			sawQuery = true
		}
	}
	if !sawQuery {
		t.Fatal("RevokeUserSessions did not send oauthTokens=true")
	}
	// The admin actions are in the System Log, about the target.
	evs, _, err := o.api.SystemLogAPI.ListLogEvents(ctx).
		Since(o.s.SimNow().Add(-time.Hour)).
		Until(o.s.SimNow().Add(time.Minute)).
		Filter(`eventType eq "user.lifecycle.suspend" or eventType eq "user.lifecycle.unsuspend" or eventType eq "user.session.clear" or eventType eq "user.authentication.revoke_tokens"`).
		Limit(100).Execute()
	if err != nil {
		t.Fatalf("ListLogEvents: %v", err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		for _, tg := range ev.Target {
			if tg.GetId() == target.ID {
				seen[ev.GetEventType()] = true
			}
		}
	}
	for _, want := range []string{"user.lifecycle.suspend", "user.lifecycle.unsuspend", "user.session.clear", "user.authentication.revoke_tokens"} {
		if !seen[want] {
			t.Fatalf("no %s event about the user in the System Log (saw %v)", want, seen)
		}
	}

	_, _, err = o.api.UserAPI.GetUser(ctx, "00unobody").Execute()
	if e := oktaError(t, err); e.GetErrorCode() != "E0000007" {
		t.Fatalf("unknown user: %s", e.GetErrorCode())
	}
}
