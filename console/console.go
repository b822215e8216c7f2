// Package console serves Clarion's web console: a sign-in with OIDC (roles
// from the IdP's groups) or the admin token, the integration wizard (the setup guide's steps, with the values to
// copy into Okta and the verify checks), and the alerts list and detail with
// live updates, triage runs and response actions, approvals and analyst
// feedback. The UI is plain HTML, CSS and JavaScript embedded in the
// binary (no build step, no Node at run time); it talks only to /api.
//
// Security: the session is an HttpOnly, SameSite=Strict cookie (Secure and
// __Host- prefixed on https) holding a random id and an expiry MACed with a
// key derived from the admin token; state-changing /api requests made with
// the cookie need the session's CSRF token in X-CSRF-Token and a same-origin
// request. Every console response carries a strict Content-Security-Policy
// (no inline scripts or styles), X-Frame-Options DENY, nosniff and
// Referrer-Policy no-referrer.
package console

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/clarion-itdr/clarion/console/alerts"
	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/record"
)

//go:embed static
var staticFS embed.FS

// Config configures the console. Zero values take the defaults named.
type Config struct {
	// Token is the admin token the login asks for. Required.
	Token string
	// Brokers are the Kafka seed brokers the alerts read model follows.
	// Required.
	Brokers []string
	// KafkaOpts are extra franz-go options for the read model's client
	// (and the console's own producer, see Producer).
	KafkaOpts []kgo.Opt
	// Verifier: see alerts.Config.Verifier.
	Verifier *record.Verifier
	// Producer writes analyst feedback (record.Update on
	// clarion.okta.events, record.Request proposals on
	// clarion.responder.requests). It must require acks from all in-sync
	// replicas (bus.ProducerOpts); the console does not close it. Default:
	// the console makes its own client with bus.ProducerOpts on the first
	// feedback and closes it when Run returns.
	Producer *kgo.Client
	// ProduceTimeout bounds the wait for Kafka's acks of one feedback;
	// after it the request answers 503. Default 10 s.
	ProduceTimeout time.Duration
	// MaxAlerts caps the alerts held in memory (see package alerts).
	// Default alerts.DefaultMaxAlerts.
	MaxAlerts int
	// SessionTTL is how long a sign-in lasts. Default 12 h.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure on every response.
	// Default false: Secure only on https requests (TLS, or
	// X-Forwarded-Proto: https from a proxy).
	SecureCookies bool
	// OIDC configures single sign-on; nil offers only the admin token.
	OIDC *OIDCConfig
	// StreamMaxAge ends a live-update stream after this long; the browser
	// reconnects at once. Default 10 min.
	StreamMaxAge time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the console's metrics. nil: no metrics.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Console is the web console: its HTTP handlers and the alerts read model.
type Console struct {
	cfg    Config
	log    *slog.Logger
	sess   *sessions
	alerts *alerts.Model
	static http.Handler
	prod   *producer
	oidc   *oidcClient
	api    *api.API
	// throttle is the API's per-client throttle, shared by sign-ins.
	throttle *api.Throttle
	audits   *auditIndex

	stopOnce sync.Once
	stopping chan struct{}
	srvMu    sync.Mutex
	servers  map[*http.Server]bool
}

// New returns the console for cfg. It reads nothing until Run.
func New(cfg Config) (*Console, error) {
	if cfg.Token == "" || len(cfg.Brokers) == 0 {
		return nil, errors.New("console: Config.Token and Config.Brokers are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.StreamMaxAge <= 0 {
		cfg.StreamMaxAge = 10 * time.Minute
	}
	if cfg.ProduceTimeout <= 0 {
		cfg.ProduceTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	model, err := alerts.New(alerts.Config{
		Brokers: cfg.Brokers, KafkaOpts: cfg.KafkaOpts, MaxAlerts: cfg.MaxAlerts, Verifier: cfg.Verifier,
		Logger: cfg.Logger, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	var oc *oidcClient
	if cfg.OIDC != nil {
		if oc, err = newOIDC(*cfg.OIDC, cfg.Token, cfg.Now); err != nil {
			return nil, err
		}
	}
	return &Console{
		cfg: cfg, log: cfg.Logger, alerts: model, oidc: oc, audits: newAuditIndex(),
		prod:     &producer{given: cfg.Producer, brokers: cfg.Brokers, cfg: cfg},
		sess:     newSessions(cfg.Token, cfg.SessionTTL, cfg.Now),
		static:   http.StripPrefix("/static/", http.FileServerFS(sub)),
		stopping: make(chan struct{}), servers: map[*http.Server]bool{},
	}, nil
}

// Alerts returns the console's read model. It implements the responder's
// action lookup (Action(id) (record.Action, bool)) for the approve and
// reject handlers.
func (c *Console) Alerts() *alerts.Model { return c.alerts }

// Register mounts the UI (GET /, /static/), the session endpoints
// (/console/login, /console/logout, /console/session) on mux, adds the
// alert routes (GET /api/alerts, /api/alerts/stream, /api/alerts/{id},
// POST /api/alerts/{id}/feedback) to a, and lets a accept the console's session cookie besides the bearer token.
// a must already be mounted on mux (app.New does that).
func (c *Console) Register(mux *http.ServeMux, a *api.API) {
	mux.Handle("GET /{$}", c.secure(http.HandlerFunc(c.index)))
	mux.Handle("GET /static/", c.secure(c.static))
	mux.Handle("POST /console/login", c.secure(http.HandlerFunc(c.login)))
	mux.Handle("POST /console/logout", c.secure(http.HandlerFunc(c.logout)))
	mux.Handle("GET /console/session", c.secure(http.HandlerFunc(c.session)))
	if c.oidc != nil {
		mux.Handle("GET "+oidcLoginPath, c.secure(http.HandlerFunc(c.oidcLogin)))
		mux.Handle("GET "+oidcCallback, c.secure(http.HandlerFunc(c.oidcCallback)))
	}
	a.HandleRole("GET /api/alerts", api.RoleViewer, http.HandlerFunc(c.listAlerts))
	a.HandleRole("GET /api/alerts/stream", api.RoleViewer, http.HandlerFunc(c.streamAlerts))
	a.HandleRole("GET /api/alerts/{id}", api.RoleViewer, http.HandlerFunc(c.getAlert))
	a.HandleRole("POST /api/alerts/{id}/feedback", api.RoleAnalyst, http.HandlerFunc(c.feedback))
	c.api, c.throttle, c.sess.access = a, a.Throttle(), a.Access()
	a.UseSessions(c.sess.authenticate)
}

// Run follows the alert topics until ctx ends, and returns nil then. Live
// update streams end when it returns, and the console's own producer (if
// it made one) is closed.
func (c *Console) Run(ctx context.Context) error {
	defer c.prod.close()
	defer c.stop()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.alerts.Run(gctx) })
	g.Go(func() error { return c.runAudit(gctx) })
	return g.Wait()
}

func (c *Console) stop() { c.stopOnce.Do(func() { close(c.stopping) }) }

// csp allows only the console's own scripts, styles and images.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// secure sets the security headers of every console response.
func (c *Console) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if isHTTPS(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if hd.Get("Cache-Control") == "" {
			hd.Set("Cache-Control", "no-cache")
		}
		h.ServeHTTP(w, r)
	})
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "console assets missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}
