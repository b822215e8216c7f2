package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarion-itdr/clarion/internal/api"
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

// sessions issues and checks stateless session cookies: a random id and an
// expiry, MACed with a key derived from the admin token. Every replica with
// the same admin token accepts them, and changing the token ends them all.
// Logout revokes the id in this process (until its expiry); with several
// console replicas, another replica still accepts a logged-out cookie until
// it expires, and the browser has dropped it.
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time // id -> expiry
	cop     *http.CrossOriginProtection

	failMu     sync.Mutex
	failWindow time.Time
	fails      int
	maxFails   int
}

type session struct {
	id     []byte
	expiry time.Time
}

func newSessions(token string, ttl time.Duration, maxFails int, now func() time.Time) *sessions {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("clarion/console/session-key/v1"))
	return &sessions{key: mac.Sum(nil), ttl: ttl, now: now, revoked: map[string]time.Time{}, maxFails: maxFails, cop: http.NewCrossOriginProtection()}
}

func (s *sessions) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte("session/"))
	mac.Write(payload)
	return mac.Sum(nil)
}

// issue returns a new session and its cookie value.
func (s *sessions) issue() (session, string) {
	se := session{id: secrets.RandomBytes(16), expiry: s.now().Add(s.ttl).Truncate(time.Second)}
	return se, s.encode(se)
}

// encode returns the cookie value of se.
func (s *sessions) encode(se session) string {
	payload := make([]byte, 0, 24)
	payload = append(payload, se.id...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(se.expiry.Unix()))
	return "v1." + base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.sign(payload))
}

// parse checks a cookie value: MAC, expiry, revocation.
func (s *sessions) parse(v string) (session, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return session{}, false
	}
	payload, err1 := b64.DecodeString(parts[1])
	sig, err2 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(payload) != 24 || !hmac.Equal(sig, s.sign(payload)) {
		return session{}, false
	}
	se := session{id: payload[:16], expiry: time.Unix(int64(binary.BigEndian.Uint64(payload[16:])), 0)}
	if !s.now().Before(se.expiry) {
		return session{}, false
	}
	s.mu.Lock()
	_, gone := s.revoked[string(se.id)]
	s.mu.Unlock()
	if gone {
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

func (s *sessions) revoke(se session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, exp := range s.revoked {
		if !now.Before(exp) {
			delete(s.revoked, id)
		}
	}
	s.revoked[string(se.id)] = se.expiry
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

// loginAllowed counts a failed login and reports whether another attempt
// is allowed this minute (a brake on guessing; the token has 256 bits).
func (s *sessions) failLogin() {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	now := s.now()
	if now.Sub(s.failWindow) >= time.Minute {
		s.failWindow, s.fails = now, 0
	}
	s.fails++
}

func (s *sessions) loginBlocked() (time.Duration, bool) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	wait := time.Minute - s.now().Sub(s.failWindow)
	if wait <= 0 {
		return 0, false
	}
	return wait, s.fails >= s.maxFails
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
func (s *sessions) authenticate(r *http.Request) error {
	se, ok := s.fromRequest(r)
	if !ok {
		return api.ErrNoSession
	}
	if safeMethod(r.Method) {
		return nil
	}
	if !s.sameOrigin(r) || !secrets.EqualTokens(r.Header.Get(CSRFHeader), s.csrf(se)) {
		return api.ErrCSRF
	}
	return nil
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
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// login is POST /console/login {"token": "..."}: the admin token for a
// session cookie. JSON only, so a cross-site form cannot post it.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		api.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return
	}
	if !c.sess.sameOrigin(r) {
		api.WriteError(w, http.StatusForbidden, "cross_origin", "sign in from the console's own page")
		return
	}
	if wait, blocked := c.sess.loginBlocked(); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		api.WriteError(w, http.StatusTooManyRequests, "too_many_attempts", "too many failed sign-ins; wait a minute")
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
		c.sess.failLogin()
		c.log.Warn("console: failed sign-in", "remote", r.RemoteAddr)
		api.WriteError(w, http.StatusUnauthorized, "unauthorized", "that is not the admin token")
		return
	}
	se, v := c.sess.issue()
	c.setCookie(w, r, v, se.expiry)
	c.log.Info("console: signed in", "remote", r.RemoteAddr)
	api.WriteJSON(w, http.StatusOK, sessionInfo{CSRFToken: c.sess.csrf(se), ExpiresAt: se.expiry.UTC()})
}

// logout is POST /console/logout (CSRF header required): it revokes the
// session and clears the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	err := c.sess.authenticate(r)
	if errors.Is(err, api.ErrCSRF) {
		api.WriteError(w, http.StatusForbidden, "csrf", "send the session's CSRF token in the X-CSRF-Token header")
		return
	}
	if se, ok := c.sess.fromRequest(r); ok && err == nil {
		c.sess.revoke(se)
	}
	c.setCookie(w, r, "", time.Time{})
	w.WriteHeader(http.StatusNoContent)
}

// session is GET /console/session: the CSRF token of the current session
// (the page reads it after a reload), or 401.
func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	se, ok := c.sess.fromRequest(r)
	if !ok {
		api.WriteError(w, http.StatusUnauthorized, "unauthorized", "sign in first")
		return
	}
	api.WriteJSON(w, http.StatusOK, sessionInfo{CSRFToken: c.sess.csrf(se), ExpiresAt: se.expiry.UTC()})
}
