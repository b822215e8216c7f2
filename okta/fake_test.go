package okta

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeOkta is an httptest server that follows Okta's documented wire
// behaviour for what the client uses: the org token endpoint with
// private_key_jwt and DPoP (nonce challenge), DPoP/Bearer-protected
// System Log and Users APIs, rate-limit headers, 429 E0000047 and the user
// lifecycle. Tests flip its fields to misconfigure it.
type fakeOkta struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	clientID    string
	pub         crypto.PublicKey
	kid         string
	granted     map[string]bool
	dpop        bool // app requires DPoP
	refuseProof bool // app does not use DPoP and refuses proofs
	adminRole   bool
	tokenTTL    int64
	nonce       string
	jtis        map[string]bool
	tokens      map[string]fakeToken
	users       map[string]*fakeUser
	events      []fakeEvent

	// Failure injection: the next n API calls answer 429 / 503.
	fail429, fail5xx   int
	fail5xxToken       int
	tokenRequests      int
	apiRequests        int
	lastAuthScheme     string
	requests           []string // method + path of every call
	rateLimit, rateRem int
	now                func() time.Time // default time.Now
}

func (f *fakeOkta) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

type fakeToken struct {
	scopes  map[string]bool
	jkt     string // "" for Bearer
	expires time.Time
}

type fakeUser struct {
	ID, Login, Status string
	sessionsCleared   int
}

type fakeEvent struct {
	uuid, eventType, published, actor string
}

func newFakeOkta(t *testing.T, clientKey crypto.Signer, kid string) *fakeOkta {
	f := &fakeOkta{
		t: t, clientID: "0oaclarion", pub: clientKey.Public(), kid: kid,
		granted: map[string]bool{ScopeLogsRead: true, ScopeUsersManage: true},
		dpop:    true, adminRole: true, tokenTTL: 3600, nonce: "nonce-1",
		jtis: map[string]bool{}, tokens: map[string]fakeToken{},
		users:     map[string]*fakeUser{"00u1": {ID: "00u1", Login: "ann@example.com", Status: UserActive}},
		rateLimit: 100, rateRem: 100,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOkta) url() string { return f.srv.URL }

func (f *fakeOkta) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	w.Header().Set("Date", f.clock().UTC().Format(http.TimeFormat))
	if r.URL.Path == TokenPath {
		f.token(w, r)
		return
	}
	f.apiRequests++
	w.Header().Set("X-Rate-Limit-Limit", strconv.Itoa(f.rateLimit))
	w.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(f.rateRem))
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(f.clock().Add(time.Second).Unix(), 10))
	if f.fail429 > 0 {
		f.fail429--
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		apiErr(w, 429, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	}
	if f.fail5xx > 0 {
		f.fail5xx--
		apiErr(w, 503, "E0000009", "Internal Server Error")
		return
	}
	tok, ok := f.authorize(w, r)
	if !ok {
		return
	}
	switch {
	case r.URL.Path == LogsPath && r.Method == http.MethodGet:
		if !tok.scopes[ScopeLogsRead] {
			insufficientScope(w)
			return
		}
		if !f.adminRole {
			apiErr(w, 403, "E0000006", "You do not have permission to perform the requested action")
			return
		}
		f.logs(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/v1/users"):
		if !tok.scopes[ScopeUsersManage] {
			insufficientScope(w)
			return
		}
		if !f.adminRole {
			apiErr(w, 403, "E0000006", "You do not have permission to perform the requested action")
			return
		}
		f.usersAPI(w, r)
	default:
		apiErr(w, 404, "E0000022", "The endpoint does not support the provided HTTP method")
	}
}

func apiErr(w http.ResponseWriter, status int, code, summary string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errorCode":%q,"errorSummary":%q,"errorLink":%q,"errorId":"oae-test","errorCauses":[]}`, code, summary, code)
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, desc)
}

func insufficientScope(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="http://x/oauth2/v1/authorize", realm="IdpMyAccountAPI", scope="okta.users.manage", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="/api/v1/users"`)
	apiErr(w, 403, "E0000006", "You do not have permission to perform the requested action")
}

func (f *fakeOkta) token(w http.ResponseWriter, r *http.Request) {
	f.tokenRequests++
	if f.fail5xxToken > 0 {
		f.fail5xxToken--
		apiErr(w, 500, "E0000009", "Internal Server Error")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		oauthErr(w, 400, "invalid_request", "bad form")
		return
	}
	if r.PostForm.Get("client_assertion_type") != assertionTypeJWTBearer {
		oauthErr(w, 400, "invalid_request", "client_assertion_type missing")
		return
	}
	tokenURL := f.srv.URL + TokenPath
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		oauthErr(w, 401, "invalid_client", "The client_assertion is not a valid JWT.")
		return
	}
	var cl jwt.Claims
	if err := tok.Claims(f.pub, &cl); err != nil {
		oauthErr(w, 401, "invalid_client", "The client_assertion signature is invalid.")
		return
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != f.kid {
		oauthErr(w, 401, "invalid_client", "The client_assertion kid does not match a registered key.")
		return
	}
	if cl.Issuer != f.clientID || cl.Subject != f.clientID {
		oauthErr(w, 401, "invalid_client", "Invalid value for 'client_id' parameter.")
		return
	}
	if err := cl.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{tokenURL}, Time: f.clock()}, 0); err != nil || cl.Expiry == nil {
		oauthErr(w, 401, "invalid_client", "The client_assertion is invalid: "+fmt.Sprint(err))
		return
	}
	if cl.Expiry.Time().After(f.clock().Add(time.Hour)) {
		oauthErr(w, 400, "invalid_request", "The client_assertion token has an expiration too far into the future.")
		return
	}
	if cl.ID == "" || f.jtis[cl.ID] {
		oauthErr(w, 400, "invalid_request", "The client_assertion token has already been used.")
		return
	}
	f.jtis[cl.ID] = true
	proof := r.Header.Get("DPoP")
	jkt := ""
	if f.refuseProof && proof != "" {
		oauthErr(w, 400, "invalid_dpop_proof", "DPoP proof is not supported for this client.")
		return
	}
	if f.dpop {
		if proof == "" {
			oauthErr(w, 400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
			return
		}
		var claims dpopClaims
		var err error
		jkt, claims, err = checkProof(proof, http.MethodPost, tokenURL, f.clock())
		if err != nil {
			oauthErr(w, 400, "invalid_dpop_proof", err.Error())
			return
		}
		if claims.Nonce != f.nonce {
			w.Header().Set("DPoP-Nonce", f.nonce)
			oauthErr(w, 400, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")
			return
		}
	}
	scopes := map[string]bool{}
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		if !f.granted[s] {
			oauthErr(w, 400, "invalid_scope", "The following scopes are not allowed: "+s)
			return
		}
		scopes[s] = true
	}
	value := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("tok-%d-%d", f.tokenRequests, f.clock().UnixNano())))
	f.tokens[value] = fakeToken{scopes: scopes, jkt: jkt, expires: f.clock().Add(time.Duration(f.tokenTTL) * time.Second)}
	typ := "Bearer"
	if jkt != "" {
		typ = "DPoP"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token_type": typ, "expires_in": f.tokenTTL, "access_token": value, "scope": r.PostForm.Get("scope")})
}

// checkProof verifies a DPoP proof and returns its key's thumbprint.
func checkProof(proof, method, target string, now time.Time) (string, dpopClaims, error) {
	var c dpopClaims
	tok, err := jwt.ParseSigned(proof, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return "", c, fmt.Errorf("DPoP proof does not parse: %v", err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != "dpop+jwt" {
		return "", c, fmt.Errorf("DPoP proof typ %v", h.ExtraHeaders["typ"])
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		return "", c, fmt.Errorf("DPoP proof has no public jwk")
	}
	if err := tok.Claims(h.JSONWebKey.Key, &c); err != nil {
		return "", c, fmt.Errorf("DPoP proof signature: %v", err)
	}
	u, _ := url.Parse(target)
	u.RawQuery = ""
	if c.HTM != method || c.HTU != u.String() || c.JTI == "" {
		return "", c, fmt.Errorf("DPoP proof htm/htu/jti mismatch: %s %s", c.HTM, c.HTU)
	}
	if d := now.Sub(time.Unix(c.IAT, 0)); d > time.Minute || d < -time.Minute {
		return "", c, fmt.Errorf("DPoP proof iat out of range")
	}
	tp, _ := h.JSONWebKey.Thumbprint(crypto.SHA256)
	return base64.RawURLEncoding.EncodeToString(tp), c, nil
}

func (f *fakeOkta) authorize(w http.ResponseWriter, r *http.Request) (fakeToken, bool) {
	scheme, value, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	f.lastAuthScheme = scheme
	tok, ok := f.tokens[value]
	if !ok || f.clock().After(tok.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The token has expired."`)
		apiErr(w, 401, "E0000011", "Invalid token provided")
		return tok, false
	}
	if tok.jkt != "" {
		if scheme != "DPoP" {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", error_description="DPoP-bound token sent as Bearer"`)
			apiErr(w, 401, "E0000011", "Invalid token provided")
			return tok, false
		}
		full := f.srv.URL + r.URL.Path
		jkt, c, err := checkProof(r.Header.Get("DPoP"), r.Method, full, f.clock())
		if err != nil || jkt != tok.jkt || c.ATH != AccessTokenHash(value) {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof", error_description="'DPoP' proof is invalid"`)
			apiErr(w, 400, "E0000001", fmt.Sprintf("invalid DPoP proof: %v", err))
			return tok, false
		}
	} else if scheme != "Bearer" {
		apiErr(w, 401, "E0000011", "Invalid token provided")
		return tok, false
	}
	return tok, true
}

func (f *fakeOkta) addEvents(n int, start time.Time, eventType string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("ev-%06d", len(f.events))
		f.events = append(f.events, fakeEvent{uuid: id, eventType: eventType,
			published: start.Add(time.Duration(i) * time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z"), actor: "00u1"})
		ids = append(ids, id)
	}
	return ids
}

func (f *fakeOkta) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("after") != "" && q.Get("since") != "" {
		apiErr(w, 400, "E0000001", "Api validation failed: after and since cannot be used together")
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	filterType := ""
	if fl := q.Get("filter"); fl != "" {
		_, v, _ := strings.Cut(fl, `eventType eq "`)
		filterType, _, _ = strings.Cut(v, `"`)
	}
	start := 0
	if a := q.Get("after"); a != "" {
		for i, e := range f.events {
			if e.uuid == a {
				start = i + 1
			}
		}
	}
	var out []string
	last := q.Get("after")
	for _, e := range f.events[start:] {
		if q.Get("since") != "" && e.published < q.Get("since") {
			continue
		}
		if filterType != "" && e.eventType != filterType {
			continue
		}
		out = append(out, fmt.Sprintf(`{"uuid":%q,"published":%q,"eventType":%q,"actor":{"id":%q,"alternateId":"ann@example.com"},"outcome":{"result":"SUCCESS"}}`, e.uuid, e.published, e.eventType, e.actor))
		last = e.uuid
		if len(out) == limit {
			break
		}
	}
	next := url.Values{"limit": {strconv.Itoa(limit)}, "sortOrder": {"ASCENDING"}}
	if q.Get("filter") != "" {
		next.Set("filter", q.Get("filter"))
	}
	if last != "" {
		next.Set("after", last)
	} else if q.Get("since") != "" {
		next.Set("since", q.Get("since"))
	}
	w.Header().Add("Link", fmt.Sprintf(`<%s%s?%s>; rel="self"`, f.srv.URL, r.URL.Path, r.URL.RawQuery))
	w.Header().Add("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.srv.URL, LogsPath, next.Encode()))
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "[%s]", strings.Join(out, ","))
}

func (f *fakeOkta) usersAPI(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/users"), "/")
	if len(parts) == 1 && r.Method == http.MethodGet { // list
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"id":"00u1","status":"ACTIVE","profile":{"login":"ann@example.com"}}]`)
		return
	}
	u := f.users[parts[1]]
	if u == nil {
		for _, x := range f.users {
			if x.Login == parts[1] {
				u = x
			}
		}
	}
	if u == nil {
		apiErr(w, 404, "E0000007", "Not found: Resource not found: "+parts[1]+" (User)")
		return
	}
	rest := strings.Join(parts[2:], "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"status":%q,"created":"2024-01-01T00:00:00.000Z","profile":{"login":%q,"email":%q}}`, u.ID, u.Status, u.Login, u.Login)
	case rest == "lifecycle/suspend" && r.Method == http.MethodPost:
		if u.Status != UserActive {
			apiErr(w, 400, "E0000001", "Api validation failed: Cannot suspend a user that is not active")
			return
		}
		u.Status = UserSuspended
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{}`)
	case rest == "lifecycle/unsuspend" && r.Method == http.MethodPost:
		if u.Status != UserSuspended {
			apiErr(w, 400, "E0000001", "Api validation failed: Cannot unsuspend a user that is not suspended")
			return
		}
		u.Status = UserActive
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{}`)
	case rest == "sessions" && r.Method == http.MethodDelete:
		if r.URL.Query().Get("oauthTokens") != "true" {
			apiErr(w, 400, "E0000001", "test: expected oauthTokens=true")
			return
		}
		u.sessionsCleared++
		w.WriteHeader(http.StatusNoContent)
	default:
		apiErr(w, 405, "E0000022", "The endpoint does not support the provided HTTP method")
	}
}

// testKeys returns an RSA client key with its kid and a P-256 DPoP key.
func testKeys(t *testing.T) (*rsa.PrivateKey, string, *ecdsa.PrivateKey) {
	t.Helper()
	ck, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ck, "kid-test", dk
}
