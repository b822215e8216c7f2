package sim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The org authorization server's OpenID Connect endpoints, as Okta serves
// them at the org URL (issuer = the org URL):
//
//   - GET /.well-known/openid-configuration — discovery.
//   - GET /oauth2/v1/authorize — the authorization code flow with PKCE
//     (S256). Okta shows its sign-in widget; the simulator shows a plain
//     username and password form, POSTed back to the same path.
//   - POST /oauth2/v1/token with grant_type=authorization_code — the code
//     for an ID token (RS256, with nonce, name, email, preferred_username
//     and, with the groups scope, a groups claim) and an access token.
//   - GET /oauth2/v1/keys — the ID token signing keys (JWKS).
//   - GET /oauth2/v1/userinfo — the claims of an access token's user.
//
// Web apps and passwords exist only through the simulator's admin API
// (RegisterOIDCApp, SetPassword, AddGroups; POST /sim/oidc/apps and
// /sim/oidc/people). A user's groups in the claim are the groups Okta's
// Users API gives them plus those added; a user who is not ACTIVE cannot
// sign in.

// OIDCApp is an OIDC web app registered in the org.
type OIDCApp struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
}

const (
	oidcCodeTTL  = time.Minute
	oidcTokenTTL = time.Hour
	oidcKeyID    = "sim-oidc-1"
)

type oidcCode struct {
	clientID, redirectURI, nonce, challenge string
	scopes                                  []string
	user                                    int
	authTime, expiry                        time.Time
}

type oidcAccess struct {
	user   int
	scopes []string
	expiry time.Time
}

// oidcState is the org authorization server's state; its zero value is ready.
type oidcState struct {
	mu       sync.Mutex
	key      *rsa.PrivateKey
	apps     map[string]OIDCApp
	password map[int]string
	groups   map[int][]string
	codes    map[string]*oidcCode
	access   map[string]*oidcAccess
}

func (o *oidcState) init() {
	if o.apps == nil {
		o.apps, o.password, o.groups = map[string]OIDCApp{}, map[int]string{}, map[int][]string{}
		o.codes, o.access = map[string]*oidcCode{}, map[string]*oidcAccess{}
	}
}

// signingKey returns the RSA key ID tokens are signed with, made on first use.
func (o *oidcState) signingKey() (*rsa.PrivateKey, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		o.key = k
	}
	return o.key, nil
}

func (s *Server) oidcRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", s.handleOIDCDiscovery)
	mux.HandleFunc("GET /oauth2/v1/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth2/v1/authorize", s.handleAuthorize)
	mux.HandleFunc("GET /oauth2/v1/keys", s.handleOIDCKeys)
	mux.HandleFunc("GET /oauth2/v1/userinfo", s.handleUserinfo)
	mux.HandleFunc("POST /oauth2/v1/userinfo", s.handleUserinfo)
	mux.HandleFunc("POST /sim/oidc/apps", s.handleSimOIDCApps)
	mux.HandleFunc("POST /sim/oidc/people", s.handleSimOIDCPeople)
}

// tokenEndpoint sends authorization_code grants to the OIDC flow and every
// other request to the client-credentials token endpoint.
func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == "authorization_code" {
			s.handleCodeToken(w, r)
			return
		}
	}
	s.handleToken(w, r)
}

// RegisterOIDCApp registers an OIDC web app (authorization code with PKCE).
// An empty client id or secret gets a generated one; the app is returned.
func (s *Server) RegisterOIDCApp(a OIDCApp) (OIDCApp, error) {
	if len(a.RedirectURIs) == 0 {
		return OIDCApp{}, errBadRequest("redirect_uris: at least one is required")
	}
	for _, u := range a.RedirectURIs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.Fragment != "" {
			return OIDCApp{}, errBadRequest("redirect_uris: " + u + " is not an absolute http(s) URL")
		}
	}
	if a.ClientID == "" {
		a.ClientID = randID("0oa", 17)
	}
	if a.ClientSecret == "" {
		b := make([]byte, 30)
		rand.Read(b)
		a.ClientSecret = base64.RawURLEncoding.EncodeToString(b)
	}
	a.RedirectURIs = slices.Clone(a.RedirectURIs)
	s.oidc.mu.Lock()
	defer s.oidc.mu.Unlock()
	s.oidc.init()
	s.oidc.apps[a.ClientID] = a
	return a, nil
}

// SetPassword sets the password a user signs in with (by id or login).
func (s *Server) SetPassword(idOrLogin, password string) error {
	i, ok := s.findUser(idOrLogin)
	if !ok {
		return errBadRequest("no user " + idOrLogin)
	}
	if len(password) < 8 {
		return errBadRequest("password: at least 8 characters")
	}
	s.oidc.mu.Lock()
	defer s.oidc.mu.Unlock()
	s.oidc.init()
	s.oidc.password[i] = password
	return nil
}

// AddGroups adds groups to a user's groups claim (by id or login).
func (s *Server) AddGroups(idOrLogin string, groups ...string) error {
	i, ok := s.findUser(idOrLogin)
	if !ok {
		return errBadRequest("no user " + idOrLogin)
	}
	s.oidc.mu.Lock()
	defer s.oidc.mu.Unlock()
	s.oidc.init()
	for _, g := range groups {
		if !slices.Contains(s.oidc.groups[i], g) {
			s.oidc.groups[i] = append(s.oidc.groups[i], g)
		}
	}
	return nil
}

func (s *Server) handleSimOIDCApps(w http.ResponseWriter, r *http.Request) {
	var a OIDCApp
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&a); err != nil {
		writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: body", err.Error())
		return
	}
	out, err := s.RegisterOIDCApp(a)
	if err != nil {
		writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: app", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleSimOIDCPeople(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Login    string   `json:"login"`
		Password string   `json:"password"`
		Groups   []string `json:"groups"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&p); err != nil {
		writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: body", err.Error())
		return
	}
	err := s.SetPassword(p.Login, p.Password)
	if err == nil {
		err = s.AddGroups(p.Login, p.Groups...)
	}
	if err != nil {
		writeOktaError(w, http.StatusBadRequest, codeValidation, "Api validation failed: person", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": p.Login, "groups": p.Groups})
}

func (s *Server) handleOIDCDiscovery(w http.ResponseWriter, r *http.Request) {
	base := s.orgURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/oauth2/v1/authorize",
		"token_endpoint":                        base + "/oauth2/v1/token",
		"userinfo_endpoint":                     base + "/oauth2/v1/userinfo",
		"jwks_uri":                              base + "/oauth2/v1/keys",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"claims_supported":                      []string{"iss", "sub", "aud", "iat", "exp", "auth_time", "nonce", "name", "email", "preferred_username", "groups"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (s *Server) handleOIDCKeys(w http.ResponseWriter, r *http.Request) {
	k, err := s.oidc.signingKey()
	if err != nil {
		writeOktaError(w, http.StatusInternalServerError, "E0000009", "Internal Server Error")
		return
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: oidcKeyID, Algorithm: string(jose.RS256), Use: "sig"}}})
}

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign In</title></head>
<body><main><h1>Sign In</h1>
{{if .Error}}<p role="alert" id="okta-error">{{.Error}}</p>{{end}}
<form method="post" action="/oauth2/v1/authorize">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<label for="okta-signin-username">Username</label>
<input id="okta-signin-username" name="username" autocomplete="username" value="{{.Username}}">
<label for="okta-signin-password">Password</label>
<input id="okta-signin-password" name="password" type="password" autocomplete="current-password">
<button id="okta-signin-submit" type="submit">Sign In</button>
</form></main></body></html>`))

// authorizeParams are the authorization request's parameters the form carries.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "response_mode"}

// handleAuthorize is /oauth2/v1/authorize: the request is checked (client,
// exact redirect URI) before anything is shown; errors about the client or
// redirect are shown here, others are sent to the redirect URI.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f := r.Form
	s.oidc.mu.Lock()
	s.oidc.init()
	a, ok := s.oidc.apps[f.Get("client_id")]
	s.oidc.mu.Unlock()
	if !ok {
		http.Error(w, "The client_id is not registered (invalid_client).", http.StatusBadRequest)
		return
	}
	redirect := f.Get("redirect_uri")
	if !slices.Contains(a.RedirectURIs, redirect) {
		http.Error(w, "The redirect_uri is not registered for this app (invalid_request).", http.StatusBadRequest)
		return
	}
	back := func(q url.Values) {
		if st := f.Get("state"); st != "" {
			q.Set("state", st)
		}
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		http.Redirect(w, r, redirect+sep+q.Encode(), http.StatusFound)
	}
	scopes := strings.Fields(f.Get("scope"))
	switch {
	case f.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}, "error_description": {"The response type is not supported by the authorization server."}})
		return
	case !slices.Contains(scopes, "openid"):
		back(url.Values{"error": {"invalid_scope"}, "error_description": {"The 'openid' scope is required."}})
		return
	case f.Get("code_challenge") == "" || f.Get("code_challenge_method") != "S256":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE code_challenge with code_challenge_method S256 is required."}})
		return
	case f.Get("state") == "":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"The 'state' parameter is required."}})
		return
	}
	params := map[string]string{}
	for _, k := range authorizeParams {
		if v := f.Get(k); v != "" {
			params[k] = v
		}
	}
	page := func(status int, msg, user string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// form-action also governs the redirect that follows the POST.
		origin := redirect
		if u, err := url.Parse(redirect); err == nil {
			origin = u.Scheme + "://" + u.Host
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self' "+origin+"; frame-ancestors 'none'")
		w.WriteHeader(status)
		_ = signInPage.Execute(w, map[string]any{"Params": params, "Error": msg, "Username": user})
	}
	if r.Method == http.MethodGet {
		page(http.StatusOK, "", "")
		return
	}
	user, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	i, found := s.findUser(user)
	s.oidc.mu.Lock()
	want, hasPW := s.oidc.password[i]
	s.oidc.mu.Unlock()
	s.mu.RLock()
	active := found && s.status[i] == "ACTIVE"
	s.mu.RUnlock()
	if !found || !hasPW || subtle.ConstantTimeCompare([]byte(pw), []byte(want)) != 1 || !active {
		page(http.StatusUnauthorized, "Unable to sign in", user)
		return
	}
	code := randID("", 32)
	now := s.cfg.Now()
	s.oidc.mu.Lock()
	for k, c := range s.oidc.codes {
		if now.After(c.expiry) {
			delete(s.oidc.codes, k)
		}
	}
	s.oidc.codes[code] = &oidcCode{
		clientID: a.ClientID, redirectURI: redirect, nonce: f.Get("nonce"), challenge: f.Get("code_challenge"),
		scopes: scopes, user: i, authTime: now, expiry: now.Add(oidcCodeTTL),
	}
	s.oidc.mu.Unlock()
	back(url.Values{"code": {code}})
}

// clientAuth reads client_secret_basic or client_secret_post.
func clientAuth(r *http.Request) (string, string) {
	if id, secret, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		return id, secret
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
}

// handleCodeToken is the authorization_code grant of /oauth2/v1/token.
func (s *Server) handleCodeToken(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	id, secret := clientAuth(r)
	s.oidc.mu.Lock()
	s.oidc.init()
	a, ok := s.oidc.apps[id]
	s.oidc.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(a.ClientSecret)) != 1 {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	s.oidc.mu.Lock()
	c := s.oidc.codes[f.Get("code")]
	delete(s.oidc.codes, f.Get("code")) // one use, whatever happens next
	s.oidc.mu.Unlock()
	now := s.cfg.Now()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case c == nil || now.After(c.expiry) || c.clientID != a.ClientID:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "The authorization code is invalid or has expired.")
		return
	case f.Get("redirect_uri") != c.redirectURI:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "The 'redirect_uri' does not match the redirection URI used in the authorization request.")
		return
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed.")
		return
	}
	k, err := s.oidc.signingKey()
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "no signing key")
		return
	}
	claims := s.userClaims(c.user, c.scopes)
	claims["iss"], claims["aud"], claims["iat"], claims["exp"] = s.orgURL(r), a.ClientID, now.Unix(), now.Add(oidcTokenTTL).Unix()
	claims["auth_time"], claims["amr"], claims["ver"], claims["jti"] = c.authTime.Unix(), []string{"pwd"}, 1, randID("ID.", 40)
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", oidcKeyID))
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	idt, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	at := randID("", 48)
	s.oidc.mu.Lock()
	for k, v := range s.oidc.access {
		if now.After(v.expiry) {
			delete(s.oidc.access, k)
		}
	}
	s.oidc.access[at] = &oidcAccess{user: c.user, scopes: c.scopes, expiry: now.Add(oidcTokenTTL)}
	s.oidc.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(oidcTokenTTL.Seconds()), "access_token": at,
		"scope": strings.Join(c.scopes, " "), "id_token": idt,
	})
}

// userClaims are the profile claims of user i for scopes.
func (s *Server) userClaims(i int, scopes []string) map[string]any {
	u := s.model.Users()[i]
	cl := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, "profile") {
		cl["name"] = strings.TrimSpace(u.FirstName + " " + u.LastName)
		cl["preferred_username"] = u.Login
	}
	if slices.Contains(scopes, "email") {
		cl["email"], cl["email_verified"] = u.Login, true
	}
	if slices.Contains(scopes, "groups") {
		gs := []string{"Everyone", u.Department}
		if u.Department == "IT" || u.Department == "Security" {
			gs = append(gs, "Okta Administrators")
		}
		s.oidc.mu.Lock()
		gs = append(gs, s.oidc.groups[i]...)
		s.oidc.mu.Unlock()
		cl["groups"] = gs
	}
	return cl
}

func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.oidc.mu.Lock()
	s.oidc.init()
	a := s.oidc.access[tok]
	s.oidc.mu.Unlock()
	if !ok || a == nil || s.cfg.Now().After(a.expiry) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is invalid."`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid.")
		return
	}
	writeJSON(w, http.StatusOK, s.userClaims(a.user, a.scopes))
}
