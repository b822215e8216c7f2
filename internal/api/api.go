// Package api serves Clarion's console API under /api/. Every path, known or
// not, answers 401 without credentials, so the API's shape is not visible to
// strangers. A request authenticates with the admin token or an API token
// (Authorization: Bearer <token>) or a console session; its context then
// carries its Principal (PrincipalFrom), and each route needs a role
// (RoleFor): viewer reads, analyst gives verdicts, approver approves and
// rejects actions, admin changes integrations, policy and tokens. Failed
// tokens are throttled per client address (Throttle).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/integration"
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
	// Access holds API tokens and revoked sessions. nil: only the admin
	// token and sessions authenticate, and /api/tokens answers 501.
	Access *Access
	// Audit receives the audit records of API actions. nil: none are kept.
	Audit *audit.Writer
	// Throttle configures the per-client throttle of failed tokens and
	// sign-ins (ThrottleConfig's defaults).
	Throttle ThrottleConfig
	// TrustedProxies are reverse proxies whose X-Forwarded-For names the
	// client (see ClientKey). Default none: the peer address is the client.
	TrustedProxies []netip.Prefix
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of audit records. Default time.Now.
	Now func() time.Time
}

// API is the /api/ handler. Other components add their routes with Handle
// before the server starts; all of them sit behind the token check.
type API struct {
	cfg      Config
	mux      *http.ServeMux
	session  atomic.Pointer[SessionAuth]
	throttle *Throttle
	actions  atomic.Pointer[ActionLookup]

	routesMu sync.Mutex
	routes   []Route
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
// such as the console's session cookie. It returns the signed-in principal,
// or ErrNoSession (401) or ErrCSRF (403).
type SessionAuth func(r *http.Request) (Principal, error)

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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Throttle.Now == nil {
		cfg.Throttle.Now = cfg.Now
	}
	a := &API{cfg: cfg, mux: http.NewServeMux(), throttle: NewThrottle(cfg.Throttle)}
	a.HandleRole("POST /api/integrations", RoleAdmin, http.HandlerFunc(a.createIntegration))
	a.HandleRole("GET /api/integrations", RoleViewer, http.HandlerFunc(a.listIntegrations))
	a.HandleRole("GET /api/integrations/{id}", RoleViewer, http.HandlerFunc(a.getIntegration))
	a.HandleRole("POST /api/integrations/{id}/verify", RoleAdmin, http.HandlerFunc(a.verifyIntegration))
	a.HandleRole("GET /api/me", RoleViewer, http.HandlerFunc(a.me))
	a.HandleRole("GET /api/tokens", RoleViewer, http.HandlerFunc(a.listTokens))
	a.HandleRole("POST /api/tokens", RoleViewer, http.HandlerFunc(a.issueToken))
	a.HandleRole("DELETE /api/tokens/{id}", RoleViewer, http.HandlerFunc(a.revokeToken))
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not_found", "no such API path")
	})
	return a, nil
}

// Handle adds a route (a net/http ServeMux pattern under /api/) behind the
// authentication, needing the role RoleFor(pattern).
func (a *API) Handle(pattern string, h http.Handler) { a.HandleRole(pattern, RoleFor(pattern), h) }

// Register mounts the API on mux at /api/.
func (a *API) Register(mux *http.ServeMux) { mux.Handle("/api/", a) }

// ServeHTTP authenticates the request (a token, or the session, see
// UseSessions), puts its Principal in the context, then routes; each route
// checks its role.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	p, ok := a.authenticate(w, r)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
	a.mux.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
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
	a.Audit(r, audit.ActionIntegrationCreate, func(e *audit.Event) {
		e.Target, e.TargetID, e.IntegrationID = "integration", in.ID, in.ID
		e.Details = map[string]string{"tenant_url": in.TenantURL, "insecure": fmt.Sprint(req.Insecure)}
	})
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
	a.Audit(r, audit.ActionIntegrationVerify, func(e *audit.Event) {
		e.Target, e.TargetID, e.IntegrationID = "integration", in.ID, in.ID
		if err != nil {
			e.Outcome = "failed"
		}
	})
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
