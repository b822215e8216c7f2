package sim

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Scopes the simulated org knows (Okta's management scopes Clarion uses).
var knownScopes = []string{"okta.logs.read", "okta.users.read", "okta.users.manage", "okta.groups.read", "okta.eventHooks.manage"}

// app is an API Services app with public-key client authentication.
type app struct {
	ClientID string
	JWKS     jose.JSONWebKeySet
	Scopes   []string
	DPoP     bool
}

// token is an issued access token.
type token struct {
	ClientID string
	Scopes   []string
	JKT      string // DPoP key thumbprint; "" for a Bearer token
	Expiry   time.Time
}

// Assertion and proof algorithms accepted (asymmetric only).
var sigAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256}

const (
	assertionType   = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxAssertionTTL = time.Hour
	proofMaxAge     = 5 * time.Minute
	nonceWindow     = 5 * time.Minute
)

// RegisterApp registers an API Services app (what POST /sim/apps does):
// its public keys, granted scopes and whether tokens must be DPoP-bound.
// An empty clientID gets a generated one ("0oa..."). It returns the client id.
func (s *Server) RegisterApp(clientID string, jwks jose.JSONWebKeySet, scopes []string, dpop bool) (string, error) {
	if len(jwks.Keys) == 0 {
		return "", errBadRequest("jwks: at least one public key is required")
	}
	for _, k := range jwks.Keys {
		if !k.IsPublic() || !k.Valid() {
			return "", errBadRequest("jwks: keys must be valid public keys")
		}
	}
	for _, sc := range scopes {
		if !slices.Contains(knownScopes, sc) {
			return "", errBadRequest("scopes: unknown scope " + sc)
		}
	}
	if clientID == "" {
		clientID = randID("0oa", 17)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[clientID] = &app{ClientID: clientID, JWKS: jwks, Scopes: slices.Clone(scopes), DPoP: dpop}
	return clientID, nil
}

type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

// nonce is the current DPoP nonce (it changes every nonceWindow); the
// previous one stays valid for one more window.
func (s *Server) nonce(offset int64) string {
	bucket := s.cfg.Now().Unix()/int64(nonceWindow/time.Second) - offset
	m := hmac.New(sha256.New, s.nonceK)
	_ = binary.Write(m, binary.BigEndian, bucket)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func (s *Server) validNonce(n string) bool {
	return n != "" && (hmac.Equal([]byte(n), []byte(s.nonce(0))) || hmac.Equal([]byte(n), []byte(s.nonce(1))))
}

// handleToken is POST /oauth2/v1/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOktaError(w, http.StatusMethodNotAllowed, codeMethod, "The endpoint does not support the provided HTTP method")
		return
	}
	if !s.rateLimit(w, "token") {
		s.metrics.request("token", http.StatusTooManyRequests)
		return
	}
	status := s.token(w, r)
	s.metrics.request("token", status)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) int {
	fail := func(status int, code, desc string) int {
		writeOAuthError(w, status, code, desc)
		return status
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return fail(400, "invalid_request", "The request must be a form post (application/x-www-form-urlencoded).")
	}
	if err := r.ParseForm(); err != nil {
		return fail(400, "invalid_request", "The request body could not be parsed.")
	}
	// Okta reads the parameters from the form body or from the URL query
	// of the POST (Okta's Go SDK sends them in the query with an empty
	// body); a body value wins over a query value, as in r.Form.
	f := r.Form
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			return fail(400, "invalid_request", "The 'grant_type' parameter is missing.")
		}
		return fail(400, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].")
	}
	if f.Get("client_assertion_type") != assertionType {
		return fail(401, "invalid_client", "The client_assertion_type is invalid; it must be "+assertionType+".")
	}
	raw := f.Get("client_assertion")
	if raw == "" {
		return fail(401, "invalid_client", "The 'client_assertion' parameter is missing.")
	}
	tok, err := jwt.ParseSigned(raw, sigAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return fail(401, "invalid_client", "The client_assertion token is malformed.")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return fail(401, "invalid_client", "The client_assertion token is malformed.")
	}
	clientID := unverified.Issuer
	if cid := f.Get("client_id"); cid != "" && cid != clientID {
		return fail(401, "invalid_client", "The client_id does not match the client_assertion issuer.")
	}
	s.mu.RLock()
	a := s.apps[clientID]
	s.mu.RUnlock()
	if a == nil {
		return fail(401, "invalid_client", "Invalid value for 'client_id' parameter.")
	}
	// The signature, with the registered key named by kid.
	kid := tok.Headers[0].KeyID
	var keys []jose.JSONWebKey
	if kid != "" {
		keys = a.JWKS.Key(kid)
	} else if len(a.JWKS.Keys) == 1 {
		keys = a.JWKS.Keys
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys {
		if err := tok.Claims(k.Key, &claims); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return fail(401, "invalid_client", "The client_assertion signature is invalid.")
	}
	if claims.Issuer != a.ClientID || claims.Subject != a.ClientID {
		return fail(401, "invalid_client", "The client_assertion token's 'iss' and 'sub' claims must both be the client_id.")
	}
	tokenURL := s.orgURL(r) + "/oauth2/v1/token"
	if !claims.Audience.Contains(tokenURL) || len(claims.Audience) != 1 {
		return fail(401, "invalid_client", "The audience claim for client_assertion must be the endpoint invoking the client_assertion.")
	}
	now := s.cfg.Now()
	if claims.Expiry == nil {
		return fail(401, "invalid_client", "The client_assertion token must contain an 'exp' claim.")
	}
	exp := claims.Expiry.Time()
	if !exp.After(now) {
		return fail(401, "invalid_client", "The client_assertion token is expired.")
	}
	if exp.After(now.Add(maxAssertionTTL)) {
		return fail(401, "invalid_client", "The client_assertion token has an expiration too far into the future.")
	}
	if claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(time.Minute)) {
		return fail(401, "invalid_client", "The client_assertion token is not yet valid.")
	}
	// Scopes.
	scopes := strings.Fields(f.Get("scope"))
	if len(scopes) == 0 {
		return fail(400, "invalid_scope", "The authorization server resource does not have any configured default scopes, 'scope' must be provided.")
	}
	var denied []string
	for _, sc := range scopes {
		if !slices.Contains(a.Scopes, sc) {
			denied = append(denied, sc)
		}
	}
	if len(denied) > 0 {
		return fail(400, "invalid_scope", "The following scopes are not allowed: ["+strings.Join(denied, ", ")+"]. The app has not been granted them.")
	}
	// DPoP.
	jkt := ""
	if a.DPoP {
		proof := r.Header.Get("DPoP")
		if proof == "" {
			return fail(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
		}
		pc, thumb, msg := s.checkProof(proof, http.MethodPost, tokenURL)
		if msg != "" {
			return fail(400, "invalid_dpop_proof", msg)
		}
		if !s.validNonce(pc.Nonce) {
			w.Header().Set("DPoP-Nonce", s.nonce(0))
			return fail(400, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")
		}
		if !s.useOnce(s.proofs, "dpop:"+pc.ID, now.Add(2*proofMaxAge)) {
			return fail(400, "invalid_dpop_proof", "The DPoP proof 'jti' has already been used.")
		}
		jkt = thumb
	}
	// Replay: jti is optional, as at Okta (Okta's Go SDK sends none), and
	// single-use when present (checked last so that a nonce round trip can
	// resend the same assertion once more).
	if claims.ID != "" && !s.useOnce(s.jtis, clientID+"\x00"+claims.ID, exp) {
		return fail(401, "invalid_client", "The client_assertion token has already been used.")
	}
	access, err := s.issue(r, a, scopes, jkt)
	if err != nil {
		return fail(500, "server_error", "The token could not be issued.")
	}
	typ := "Bearer"
	if jkt != "" {
		typ = "DPoP"
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":   typ,
		"expires_in":   int(s.cfg.TokenTTL / time.Second),
		"access_token": access,
		"scope":        strings.Join(scopes, " "),
	})
	return http.StatusOK
}

// useOnce records key until expiry; false when it was already there.
func (s *Server) useOnce(set map[string]time.Time, key string, expiry time.Time) bool {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(set) > 10000 {
		for k, e := range set {
			if e.Before(now) {
				delete(set, k)
			}
		}
	}
	if e, ok := set[key]; ok && e.After(now) {
		return false
	}
	set[key] = expiry
	return true
}

type proofClaims struct {
	ID    string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   *int64 `json:"iat"`
	Nonce string `json:"nonce"`
	ATH   string `json:"ath"`
}

// checkProof validates a DPoP proof's form, signature, htm, htu and iat.
// It returns the claims, the key's RFC 7638 thumbprint, or an error message.
func (s *Server) checkProof(raw, method, htu string) (proofClaims, string, string) {
	var pc proofClaims
	jws, err := jose.ParseSigned(raw, sigAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return pc, "", "The DPoP proof JWT is malformed."
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return pc, "", "The DPoP proof JWT 'typ' header must be 'dpop+jwt'."
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return pc, "", "The DPoP proof JWT 'jwk' header must be a public key."
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return pc, "", "The DPoP proof JWT signature is invalid."
	}
	if err := json.Unmarshal(payload, &pc); err != nil {
		return pc, "", "The DPoP proof JWT claims are malformed."
	}
	if pc.ID == "" {
		return pc, "", "The DPoP proof JWT must contain a 'jti' claim."
	}
	if pc.HTM != method {
		return pc, "", "The DPoP proof 'htm' claim does not match the request method."
	}
	if !sameHTU(pc.HTU, htu) {
		return pc, "", "The DPoP proof 'htu' claim does not match the request URL."
	}
	if pc.IAT == nil {
		return pc, "", "The DPoP proof JWT must contain an 'iat' claim."
	}
	iat := time.Unix(*pc.IAT, 0)
	now := s.cfg.Now()
	if iat.Before(now.Add(-proofMaxAge)) || iat.After(now.Add(time.Minute)) {
		return pc, "", "The DPoP proof JWT 'iat' is outside the acceptable window."
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return pc, "", "The DPoP proof JWT 'jwk' header is invalid."
	}
	return pc, base64.RawURLEncoding.EncodeToString(tp), ""
}

// sameHTU compares htu with the request URL without query and fragment.
func sameHTU(htu, want string) bool {
	if i := strings.IndexAny(htu, "?#"); i >= 0 {
		htu = htu[:i]
	}
	return strings.EqualFold(htu, want)
}

// issue signs an access token (a JWT, as Okta's org authorization server
// issues) and records it.
func (s *Server) issue(r *http.Request, a *app, scopes []string, jkt string) (string, error) {
	now := s.cfg.Now()
	exp := now.Add(s.cfg.TokenTTL)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.key},
		(&jose.SignerOptions{}).WithType("application/okta-internal-at+jwt"))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 18)
	_, _ = rand.Read(jti)
	claims := map[string]any{
		"ver": 1, "jti": "AT." + base64.RawURLEncoding.EncodeToString(jti),
		"iss": s.orgURL(r), "aud": s.orgURL(r), "sub": a.ClientID, "cid": a.ClientID,
		"iat": now.Unix(), "exp": exp.Unix(), "scp": scopes,
	}
	if jkt != "" {
		claims["cnf"] = map[string]string{"jkt": jkt}
	}
	at, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		if t.Expiry.Before(now) {
			delete(s.tokens, k)
		}
	}
	s.tokens[at] = &token{ClientID: a.ClientID, Scopes: scopes, JKT: jkt, Expiry: exp}
	return at, nil
}

// api wraps an Okta API handler: rate limit, access token (Bearer or DPoP
// with a proof bound to the token), metrics.
func (s *Server) api(family string, h func(http.ResponseWriter, *http.Request, *token) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Okta-Request-Id", randID("", 27))
		if !s.rateLimit(w, family) {
			s.metrics.request(family, http.StatusTooManyRequests)
			return
		}
		t, ok := s.authenticate(w, r)
		if !ok {
			s.metrics.request(family, http.StatusUnauthorized)
			return
		}
		s.metrics.request(family, h(w, r, t))
	}
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*token, bool) {
	realm := s.orgURL(r)
	deny := func(scheme, errCode, desc string) (*token, bool) {
		w.Header().Set("WWW-Authenticate", scheme+` realm="`+realm+`", error="`+errCode+`", error_description="`+desc+`"`)
		writeOktaError(w, http.StatusUnauthorized, codeInvalidTok, "Invalid token provided", errCode+": "+desc)
		return nil, false
	}
	authz := r.Header.Get("Authorization")
	scheme, value, _ := strings.Cut(authz, " ")
	value = strings.TrimSpace(value)
	if value == "" || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP")) {
		return deny("Bearer", "invalid_token", "The access token is missing.")
	}
	s.mu.RLock()
	t := s.tokens[value]
	s.mu.RUnlock()
	now := s.cfg.Now()
	if t == nil || !t.Expiry.After(now) {
		return deny("Bearer", "invalid_token", "The access token is invalid or has expired.")
	}
	if t.JKT == "" {
		if !strings.EqualFold(scheme, "Bearer") {
			return deny("Bearer", "invalid_token", "The access token is not DPoP-bound; use the Bearer scheme.")
		}
		return t, true
	}
	if !strings.EqualFold(scheme, "DPoP") {
		return deny("DPoP", "invalid_token", "The access token is DPoP-bound; use the DPoP scheme with a proof.")
	}
	proof := r.Header.Get("DPoP")
	if proof == "" {
		return deny("DPoP", "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
	}
	pc, thumb, msg := s.checkProof(proof, r.Method, realm+r.URL.Path)
	if msg != "" {
		return deny("DPoP", "invalid_dpop_proof", msg)
	}
	if thumb != t.JKT {
		return deny("DPoP", "invalid_dpop_proof", "The DPoP proof key does not match the access token's binding.")
	}
	sum := sha256.Sum256([]byte(value))
	if pc.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return deny("DPoP", "invalid_dpop_proof", "The DPoP proof 'ath' claim does not match the access token.")
	}
	if !s.useOnce(s.proofs, "dpop:"+pc.ID, now.Add(2*proofMaxAge)) {
		return deny("DPoP", "invalid_dpop_proof", "The DPoP proof 'jti' has already been used.")
	}
	return t, true
}

// requireScope answers 403 E0000006 unless t carries one of scopes.
func requireScope(w http.ResponseWriter, r *http.Request, t *token, scopes ...string) bool {
	for _, sc := range scopes {
		if slices.Contains(t.Scopes, sc) {
			return true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", scope="`+scopes[0]+`", resource="`+r.URL.Path+`"`)
	writeOktaError(w, http.StatusForbidden, codeForbidden, "You do not have permission to perform the requested action")
	return false
}
