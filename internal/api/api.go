// Package api serves Clarion's console API under /api/. Every path, known or
// not, answers 401 without the admin token (Authorization: Bearer <token>),
// so the API's shape is not visible to strangers.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// Registry is what the API needs of the integration registry.
// *integration.Store implements it.
type Registry interface {
	Create(ctx context.Context, req integration.CreateRequest, insecure bool) (*integration.Integration, string, error)
	Get(id string) (*integration.Integration, bool)
	List() []*integration.Integration
	Hook(id string) integration.HookStatus
}

// VerifyFunc runs an integration's read-only checks against its Okta org
// and returns a JSON-ready result.
type VerifyFunc func(ctx context.Context, in *integration.Integration, hook integration.HookStatus) (any, error)

// Config configures the API. Zero values take the defaults named.
type Config struct {
	// Token is the admin token every request must present. Required.
	Token string
	// Registry of integrations. Required.
	Registry Registry
	// PublicURL is the base URL Okta reaches Clarion at; webhook URLs are
	// PublicURL + /hooks/okta/{id}. Required.
	PublicURL string
	// AllowInsecureTenants lets a create request ask for "insecure": true,
	// which allows http, IP and localhost tenant URLs (the simulated org).
	// Default false: tenant URLs must be public https hosts.
	AllowInsecureTenants bool
	// Verify runs POST /api/integrations/{id}/verify. nil: that path answers 501.
	Verify VerifyFunc
	// MaxBody bounds request bodies. Default 1 MiB.
	MaxBody int64
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// API is the /api/ handler. Other components add their routes with Handle
// before the server starts; all of them sit behind the token check.
type API struct {
	cfg     Config
	mux     *http.ServeMux
	session atomic.Pointer[SessionAuth]
}

// Errors a SessionAuth returns.
var (
	// ErrNoSession: the request carries no valid session; the API answers 401.
	ErrNoSession = errors.New("api: no valid session")
	// ErrCSRF: the session is valid but a state-changing request lacks its
	// CSRF token (or comes from another origin); the API answers 403.
	ErrCSRF = errors.New("api: missing or wrong CSRF token")
)

// SessionAuth authenticates a request that carries no Authorization header,
// such as the console's session cookie. It returns nil to let the request
// through, ErrNoSession (401) or ErrCSRF (403).
type SessionAuth func(r *http.Request) error

// UseSessions lets requests without an Authorization header in when auth
// accepts them (the console's session cookie). A request that sends an
// Authorization header is judged by the bearer token alone. Call it before
// the server starts; nil turns sessions off.
func (a *API) UseSessions(auth SessionAuth) {
	if auth == nil {
		a.session.Store(nil)
		return
	}
	a.session.Store(&auth)
}

// New returns the API for cfg.
func New(cfg Config) (*API, error) {
	if cfg.Token == "" || cfg.Registry == nil || cfg.PublicURL == "" {
		return nil, errors.New("api: Config.Token, Config.Registry and Config.PublicURL are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &API{cfg: cfg, mux: http.NewServeMux()}
	a.mux.HandleFunc("POST /api/integrations", a.createIntegration)
	a.mux.HandleFunc("GET /api/integrations", a.listIntegrations)
	a.mux.HandleFunc("GET /api/integrations/{id}", a.getIntegration)
	a.mux.HandleFunc("POST /api/integrations/{id}/verify", a.verifyIntegration)
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not_found", "no such API path")
	})
	return a, nil
}

// Handle adds a route (a net/http ServeMux pattern under /api/) behind the
// token check.
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// Register mounts the API on mux at /api/.
func (a *API) Register(mux *http.ServeMux) { mux.Handle("/api/", a) }

// ServeHTTP checks the token (or the session, see UseSessions), then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !a.authorized(w, r) {
		return
	}
	if _, ok := PrincipalFrom(r.Context()); !ok {
		// The admin token and the console's admin session both act as
		// the admin (bridge until per-person sign-in names the principal).
		r = r.WithContext(WithPrincipal(r.Context(), AdminTokenPrincipal()))
	}
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
	a.mux.ServeHTTP(w, r)
}

// authorized answers 401/403 itself and reports false when r may not pass.
func (a *API) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		if auth := a.session.Load(); auth != nil {
			err := (*auth)(r)
			if err == nil {
				return true
			}
			if errors.Is(err, ErrCSRF) {
				WriteError(w, http.StatusForbidden, "csrf", "send the session's CSRF token in the X-CSRF-Token header, from the console's own origin")
				return false
			}
		}
	}
	tok, ok := bearer(h)
	if !ok || !secrets.EqualTokens(tok, a.cfg.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clarion"`)
		WriteError(w, http.StatusUnauthorized, "unauthorized", "send the admin token as Authorization: Bearer <token>, or sign in to the console")
		return false
	}
	return true
}

func bearer(h string) (string, bool) {
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

type createBody struct {
	integration.CreateRequest
	Insecure bool `json:"insecure"`
}

func (a *API) createIntegration(w http.ResponseWriter, r *http.Request) {
	var req createBody
	if !DecodeJSON(w, r, &req) {
		return
	}
	if req.Insecure && !a.cfg.AllowInsecureTenants {
		WriteError(w, http.StatusBadRequest, "insecure_not_allowed", "insecure tenant URLs are allowed only when Clarion runs with --allow-insecure-tenants (the simulated org)")
		return
	}
	in, secret, err := a.cfg.Registry.Create(r.Context(), req.CreateRequest, req.Insecure)
	if err != nil {
		if errors.Is(err, integration.ErrInvalid) {
			WriteError(w, http.StatusBadRequest, "invalid", strings.TrimPrefix(err.Error(), "integration: invalid request: "))
			return
		}
		a.cfg.Logger.Error("create integration", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "unavailable", "the integration could not be stored; try again")
		return
	}
	a.cfg.Logger.Info("integration created", "integration", in.ID, "tenant", in.TenantURL)
	WriteJSON(w, http.StatusCreated, integration.Created{Public: in.Public(a.cfg.PublicURL, integration.HookStatus{}), AuthSecret: secret})
}

func (a *API) listIntegrations(w http.ResponseWriter, r *http.Request) {
	list := a.cfg.Registry.List()
	out := make([]integration.Public, 0, len(list))
	for _, in := range list {
		out = append(out, in.Public(a.cfg.PublicURL, a.cfg.Registry.Hook(in.ID)))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"integrations": out})
}

func (a *API) getIntegration(w http.ResponseWriter, r *http.Request) {
	in, ok := a.cfg.Registry.Get(r.PathValue("id"))
	if !ok {
		WriteError(w, http.StatusNotFound, "not_found", "no integration has this id")
		return
	}
	WriteJSON(w, http.StatusOK, in.Public(a.cfg.PublicURL, a.cfg.Registry.Hook(in.ID)))
}

func (a *API) verifyIntegration(w http.ResponseWriter, r *http.Request) {
	in, ok := a.cfg.Registry.Get(r.PathValue("id"))
	if !ok {
		WriteError(w, http.StatusNotFound, "not_found", "no integration has this id")
		return
	}
	if a.cfg.Verify == nil {
		WriteError(w, http.StatusNotImplemented, "not_implemented", "verification is not available in this component")
		return
	}
	res, err := a.cfg.Verify(r.Context(), in, a.cfg.Registry.Hook(in.ID))
	if err != nil {
		WriteError(w, http.StatusBadGateway, "verify_failed", err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// DecodeJSON reads r's body into v, answering 400/413/415 itself on failure.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, "too_large", "the body is too large")
			return false
		}
		WriteError(w, http.StatusBadRequest, "bad_json", "the body is not the expected JSON: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		WriteError(w, http.StatusBadRequest, "bad_json", "the body has data after the JSON object")
		return false
	}
	return true
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// WriteError answers {"error": code, "message": msg} with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, map[string]string{"error": code, "message": msg})
}
