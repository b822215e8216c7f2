package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// Cookie names: the __Host- prefix (Secure, path /, no Domain) on https.
const (
	cookieName       = "clarion_session"
	cookieNameSecure = "__Host-clarion_session"
	// CSRFHeader carries the session's CSRF token on state-changing requests.
	CSRFHeader = "X-CSRF-Token"
)

// b64 decodes strictly: a value has exactly one encoding (the lax decoder
// ignores the unused bits of the last character, so four spellings of one
// MAC would all be accepted).
var b64 = base64.RawURLEncoding.Strict()

// sessions issues and checks stateless session cookies: a random id, an
// expiry and the signed-in principal, MACed with a key derived from the
// admin token. Every replica with the same admin token accepts them, and
// changing the token ends them all. Logout revokes the id on every replica
// when the API has an access store (api.Access on clarion.access), else in
// this process only (until its expiry).
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time // id -> expiry
	cop     *http.CrossOriginProtection
	access  *api.Access
}

type session struct {
	id     []byte
	expiry time.Time
	who    api.Principal
}

// sessionPrincipal is the principal as the cookie carries it.
type sessionPrincipal struct {
	ID    string `json:"i"`
	Name  string `json:"n"`
	Email string `json:"e,omitempty"`
	Role  string `json:"r"`
}

func newSessions(token string, ttl time.Duration, now func() time.Time) *sessions {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("clarion/console/session-key/v2"))
	return &sessions{key: mac.Sum(nil), ttl: ttl, now: now, revoked: map[string]time.Time{}, cop: http.NewCrossOriginProtection()}
}

func (s *sessions) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte("session/"))
	mac.Write(payload)
	return mac.Sum(nil)
}

// maxCookie bounds a session cookie (browsers keep 4 KiB per cookie).
const maxCookie = 3 << 10

// issue returns a new session of who and its cookie value.
func (s *sessions) issue(who api.Principal) (session, string, error) {
	who.Via = api.ViaSession
	who.RoleName = who.Role.String()
	se := session{id: secrets.RandomBytes(16), expiry: s.now().Add(s.ttl).Truncate(time.Second), who: who}
	v, err := s.encode(se)
	return se, v, err
}

// encode returns the cookie value of se: "v2." payload "." MAC, the
// payload being the id, the expiry and the principal's JSON.
func (s *sessions) encode(se session) (string, error) {
	pj, err := json.Marshal(sessionPrincipal{ID: se.who.ID, Name: se.who.Name, Email: se.who.Email, Role: se.who.Role.String()})
	if err != nil {
		return "", err
	}
	payload := make([]byte, 0, 24+len(pj))
	payload = append(payload, se.id...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(se.expiry.Unix()))
	payload = append(payload, pj...)
	v := "v2." + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.sign(payload))
	if len(v) > maxCookie {
		return "", errors.New("console: the signed-in identity is too large for a session cookie")
	}
	return v, nil
}

// parse checks a cookie value: MAC, expiry, revocation.
func (s *sessions) parse(v string) (session, bool) {
	if len(v) > maxCookie {
		return session{}, false
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != "v2" {
		return session{}, false
	}
	payload, err1 := b64.DecodeString(parts[1])
	sig, err2 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(payload) <= 24 || !hmac.Equal(sig, s.sign(payload)) {
		return session{}, false
	}
	var sp sessionPrincipal
	if err := json.Unmarshal(payload[24:], &sp); err != nil {
		return session{}, false
	}
	role, err := api.ParseRole(sp.Role)
	if err != nil || sp.ID == "" {
		return session{}, false
	}
	se := session{
		id: payload[:16], expiry: time.Unix(int64(binary.BigEndian.Uint64(payload[16:24])), 0),
		who: api.Principal{ID: sp.ID, Name: sp.Name, Email: sp.Email, Role: role, RoleName: role.String(), Via: api.ViaSession},
	}
	if !s.now().Before(se.expiry) {
		return session{}, false
	}
	s.mu.Lock()
	_, gone := s.revoked[string(se.id)]
	s.mu.Unlock()
	if gone || (s.access != nil && s.access.SessionRevoked(hex.EncodeToString(se.id))) {
		return session{}, false
	}
	return se, true
}

// csrf is the session's CSRF token: a MAC of its id, so no state is kept.
func (s *sessions) csrf(se session) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte("csrf/"))
	mac.Write(se.id)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// revoke ends se here at once and, with an access store, on every replica.
func (s *sessions) revoke(ctx context.Context, se session) error {
	s.mu.Lock()
	now := s.now()
	for id, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, id)
		}
	}
	s.revoked[string(se.id)] = se.expiry
	s.mu.Unlock()
	if s.access == nil {
		return nil
	}
	return s.access.RevokeSession(ctx, hex.EncodeToString(se.id), se.expiry)
}

// fromRequest returns the request's valid session, if any.
func (s *sessions) fromRequest(r *http.Request) (session, bool) {
	for _, name := range []string{cookieNameSecure, cookieName} {
		if c, err := r.Cookie(name); err == nil {
			if se, ok := s.parse(c.Value); ok {
				return se, true
			}
		}
	}
	return session{}, false
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin rejects state-changing requests a browser marks as coming
// from another origin, with net/http's check (Sec-Fetch-Site, else Origin
// against Host); safe methods pass. A reverse proxy in front of the console
// must keep the Host header.
func (s *sessions) sameOrigin(r *http.Request) bool { return s.cop.Check(r) == nil }

// authenticate is the api.SessionAuth of the /api handler: a valid session
// cookie, plus on state-changing methods the CSRF header and a same-origin request.
func (s *sessions) authenticate(r *http.Request) (api.Principal, error) {
	se, ok := s.fromRequest(r)
	if !ok {
		return api.Principal{}, api.ErrNoSession
	}
	if safeMethod(r.Method) {
		return se.who, nil
	}
	if !s.sameOrigin(r) || !secrets.EqualTokens(r.Header.Get(CSRFHeader), s.csrf(se)) {
		return api.Principal{}, api.ErrCSRF
	}
	return se.who, nil
}

func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, value string, expiry time.Time) {
	secure := c.cfg.SecureCookies || isHTTPS(r)
	name := cookieName
	if secure {
		name = cookieNameSecure
	}
	ck := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode,
	}
	if value == "" {
		ck.MaxAge = -1
	} else {
		ck.Expires = expiry
		ck.MaxAge = int(expiry.Sub(c.sess.now()).Seconds())
	}
	http.SetCookie(w, ck)
}

type sessionInfo struct {
	CSRFToken string        `json:"csrf_token"`
	ExpiresAt time.Time     `json:"expires_at"`
	Principal api.Principal `json:"principal"`
	// OIDC says whether single sign-on is configured (the page offers it).
	OIDC bool `json:"oidc,omitempty"`
}

func (c *Console) info(se session) sessionInfo {
	return sessionInfo{CSRFToken: c.sess.csrf(se), ExpiresAt: se.expiry.UTC(), Principal: se.who, OIDC: c.oidc != nil}
}

// throttled answers 429 when the client must still wait.
func (c *Console) throttled(w http.ResponseWriter, r *http.Request) bool {
	if c.throttle == nil {
		return false
	}
	if wait := c.throttle.Wait(c.client(r)); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		api.WriteError(w, http.StatusTooManyRequests, "too_many_attempts", "too many failed sign-ins from your address; wait and try again")
		return true
	}
	return false
}

func (c *Console) client(r *http.Request) string {
	if c.api != nil {
		return c.api.Client(r)
	}
	return api.ClientKey(r, nil)
}

// signIn starts a session for who and records it.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request, who api.Principal, method string) (session, bool) {
	se, v, err := c.sess.issue(who)
	if err != nil {
		c.log.Error("console: session not issued", "err", err)
		api.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return session{}, false
	}
	if c.throttle != nil {
		c.throttle.Succeed(c.client(r))
	}
	c.setCookie(w, r, v, se.expiry)
	c.log.Info("console: signed in", "principal", se.who.ID, "role", se.who.RoleName, "method", method, "client", c.client(r))
	c.audit(r.WithContext(api.WithPrincipal(r.Context(), se.who)), audit.ActionSignIn, func(e *audit.Event) {
		e.Target, e.TargetID = "session", hex.EncodeToString(se.id[:8])
		e.Details = map[string]string{"method": method}
	})
	return se, true
}

// failSignIn counts a failed sign-in against the client and records it.
func (c *Console) failSignIn(r *http.Request, who api.Principal, method, why string) {
	client := c.client(r)
	if c.throttle != nil {
		c.throttle.Fail(client)
	}
	c.log.Warn("console: failed sign-in", "client", client, "method", method, "reason", why)
	if who.ID == "" {
		who = api.Principal{ID: "unknown", Name: "unknown", Via: "none"}
	}
	c.audit(r.WithContext(api.WithPrincipal(r.Context(), who)), audit.ActionSignInFailed, func(e *audit.Event) {
		e.Outcome = why
		e.Details = map[string]string{"method": method}
	})
}

func (c *Console) audit(r *http.Request, action string, edit func(*audit.Event)) {
	if c.api != nil {
		c.api.Audit(r, action, edit)
	}
}

// login is POST /console/login {"token": "..."}: the admin token for a
// session cookie (the principal is the admin token). JSON only, so a
// cross-site form cannot post it. Failures are throttled per client.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		api.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return
	}
	if !c.sess.sameOrigin(r) {
		api.WriteError(w, http.StatusForbidden, "cross_origin", "sign in from the console's own page")
		return
	}
	if c.throttled(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	var body struct {
		Token string `json:"token"`
	}
	if !api.DecodeJSON(w, r, &body) {
		return
	}
	if !secrets.EqualTokens(strings.TrimSpace(body.Token), c.cfg.Token) {
		c.failSignIn(r, api.Principal{}, "admin_token", "wrong token")
		api.WriteError(w, http.StatusUnauthorized, "unauthorized", "that is not the admin token")
		return
	}
	se, ok := c.signIn(w, r, api.AdminTokenPrincipal(), "admin_token")
	if !ok {
		return
	}
	api.WriteJSON(w, http.StatusOK, c.info(se))
}

// logout is POST /console/logout (CSRF header required): it revokes the
// session on every replica and clears the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	_, err := c.sess.authenticate(r)
	if errors.Is(err, api.ErrCSRF) {
		api.WriteError(w, http.StatusForbidden, "csrf", "send the session's CSRF token in the X-CSRF-Token header")
		return
	}
	if se, ok := c.sess.fromRequest(r); ok && err == nil {
		if err := c.sess.revoke(r.Context(), se); err != nil {
			c.log.Error("console: session revocation not written", "err", err)
			api.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the sign-out could not be stored; try again")
			return
		}
		c.audit(r.WithContext(api.WithPrincipal(r.Context(), se.who)), audit.ActionSignOut, func(e *audit.Event) {
			e.Target, e.TargetID = "session", hex.EncodeToString(se.id[:8])
		})
	}
	c.setCookie(w, r, "", time.Time{})
	w.WriteHeader(http.StatusNoContent)
}

// session is GET /console/session: the CSRF token and principal of the
// current session (the page reads it after a reload), or 401 (saying
// whether single sign-on is offered).
func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	se, ok := c.sess.fromRequest(r)
	if !ok {
		api.WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized", "message": "sign in first", "oidc": c.oidc != nil})
		return
	}
	api.WriteJSON(w, http.StatusOK, c.info(se))
}
