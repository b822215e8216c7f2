// Package sim is a simulated Okta org: the parts of Okta's API Clarion uses,
// following Okta's documented behaviour closely enough that Okta's own SDKs
// work against it, plus a traffic model (package traffic) that fills its
// System Log with realistic sign-ins and injected attacks.
//
// Okta endpoints:
//   - POST /oauth2/v1/token — client_credentials with a private_key_jwt
//     client assertion, DPoP with a server nonce when the app requires it.
//   - GET /api/v1/logs — System Log with since/until/after/limit/sortOrder/
//     filter/q, Link headers, rate-limit headers (scope okta.logs.read).
//   - GET /api/v1/users, /api/v1/users/{id}, /api/v1/users/{id}/groups,
//     POST /api/v1/users/{id}/lifecycle/suspend|unsuspend,
//     DELETE /api/v1/users/{id}/sessions (scopes okta.users.read/manage).
//   - Event hooks: one-time verification GET, then batched POST deliveries.
//
// Admin endpoints that exist only in the simulator (no Okta auth; they do
// what an admin does in Okta's console): POST /sim/apps, POST /sim/eventhooks,
// POST /sim/eventhooks/{id}/verify, GET /sim/users, GET /sim/labels.
// Never expose a simulator beyond localhost: its admin endpoints are open.
package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clarion-itdr/clarion/okta/sim/traffic"
)

// Config configures a simulated org. Zero values get the defaults.
type Config struct {
	// Users in the org; default 200.
	Users int
	// Seed makes the traffic reproducible; default 1.
	Seed int64
	// Now is the wall clock (token lifetimes, assertion expiry, rate-limit
	// windows); default time.Now.
	Now func() time.Time
	// History is how much past traffic the System Log holds at start;
	// default 14 days.
	History time.Duration
	// HistoryEvents, when > 0, sizes the history by events instead: the
	// history reaches back far enough to hold at least this many events and
	// is trimmed to exactly this many (e.g. 1,000,000 for the backfill
	// benchmark; with 200 users that reaches years back, so raise Users).
	HistoryEvents int
	// Speed is simulated seconds per real second for live traffic; default
	// 1. Above 1 the simulated clock runs ahead of Now, so events are
	// published in the wall clock's future, unless CatchUp is set.
	Speed float64
	// CatchUp, with Speed above 1, starts the simulated clock this far
	// behind the wall clock (the history ends there); it then runs at Speed
	// until it reaches the wall clock and follows it from then on, so no
	// event is ever published in the future. 0 = off. A demo at Speed 60
	// with CatchUp 24h shows 24 minutes of fast traffic, then real time.
	CatchUp time.Duration
	// RateLimitPerMinute caps requests per endpoint family (token, logs,
	// users) per minute; 0 = off (the headers still report a budget).
	RateLimitPerMinute int
	// TokenTTL is the access tokens' lifetime; default 1 h (Okta's).
	TokenTTL time.Duration
	// OrgURL is the org's base URL as clients reach it, e.g.
	// "http://127.0.0.1:8081"; the token audience and DPoP htu are checked
	// against it. Default: derived from each request's Host header.
	OrgURL string
	// AttackRate is passed to the traffic model (incidents per user per
	// day); 0 = the model's default.
	AttackRate float64
	// AppSignOns adds user.authentication.sso events to the traffic.
	AppSignOns bool
	// HookBatch is the most events per hook delivery; default 50.
	HookBatch int
	// HookInterval is how often (real time) queued events are delivered;
	// default 1 s.
	HookInterval time.Duration
	// HookTimeout bounds one hook request; default 3 s (Okta's).
	HookTimeout time.Duration
	// HTTPClient sends hook requests; default a client with no overall
	// timeout (HookTimeout applies per request).
	HTTPClient *http.Client
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the simulator's metrics; nil = no metrics.
	Registerer prometheus.Registerer
}

func (c *Config) defaults() {
	if c.Users <= 0 {
		c.Users = 200
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.History <= 0 {
		c.History = 14 * 24 * time.Hour
	}
	if c.Speed <= 0 {
		c.Speed = 1
	}
	if c.CatchUp < 0 {
		c.CatchUp = 0
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = time.Hour
	}
	if c.HookBatch <= 0 {
		c.HookBatch = 50
	}
	if c.HookInterval <= 0 {
		c.HookInterval = time.Second
	}
	if c.HookTimeout <= 0 {
		c.HookTimeout = 3 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.OrgURL = strings.TrimSuffix(c.OrgURL, "/")
}

// liveHorizon is how far past the start the live traffic reaches.
const liveHorizon = 400 * 24 * time.Hour

// Server is a simulated Okta org. It is an http.Handler; Run drives the
// live traffic and the event hook deliveries.
type Server struct {
	cfg   Config
	log   *slog.Logger
	model *traffic.Model
	mux   *http.ServeMux
	key   *ecdsa.PrivateKey // signs access tokens

	realBase time.Time // wall clock at New
	simBase  time.Time // simulated clock at New

	genMu   sync.Mutex // guards model and pending (generation)
	pending *traffic.Record

	mu        sync.RWMutex
	recs      []traffic.Record // the System Log, in published order
	own       []ownEvent       // events the simulator itself logs (admin actions, hook failures)
	status    []string         // user status by index
	changed   []time.Time      // statusChanged by index
	lastLogin []int64          // last successful sign-in (Unix ms) by index
	injected  uint64           // attacks injected through /sim/attacks
	apps      map[string]*app
	tokens    map[string]*token
	jtis      map[string]time.Time // client-assertion jti → expiry
	proofs    map[string]time.Time // DPoP proof jti → expiry
	hooks     []*hook
	rate      map[string]*window
	nonceK    []byte

	metrics *metrics
	wg      sync.WaitGroup
	oidc    oidcState // the org authorization server's OIDC flow (oidc.go)
}

// New builds the org and generates its history.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.OrgURL != "" && !strings.HasPrefix(cfg.OrgURL, "http://") && !strings.HasPrefix(cfg.OrgURL, "https://") {
		return nil, fmt.Errorf("sim: OrgURL %q: want http(s)://host[:port]", cfg.OrgURL)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		key:    key,
		apps:   map[string]*app{},
		tokens: map[string]*token{},
		jtis:   map[string]time.Time{},
		proofs: map[string]time.Time{},
		rate:   map[string]*window{},
		nonceK: make([]byte, 32),
	}
	_, _ = rand.Read(s.nonceK)
	s.metrics = newMetrics(cfg.Registerer)
	s.realBase = cfg.Now()
	s.simBase = s.realBase.Add(-cfg.CatchUp).Truncate(time.Millisecond)
	s.status = make([]string, cfg.Users)
	s.changed = make([]time.Time, cfg.Users)
	s.lastLogin = make([]int64, cfg.Users)
	for i := range s.status {
		s.status[i] = StatusActive
	}
	history := cfg.History
	if cfg.HistoryEvents > 0 {
		// About 3.5 events per user per day; retry with more days if short.
		days := float64(cfg.HistoryEvents)/(float64(cfg.Users)*3.2) + 2
		history = time.Duration(days * float64(24*time.Hour))
	}
	for attempt := 0; ; attempt++ {
		s.model = traffic.New(traffic.Config{
			Seed: cfg.Seed, Users: cfg.Users, Start: s.simBase.Add(-history),
			Days:       int((history + liveHorizon) / (24 * time.Hour)),
			HireDays:   max(1, int(history/(24*time.Hour))-1),
			OrgDomain:  orgHost(cfg.OrgURL),
			AttackRate: cfg.AttackRate, AppSignOns: cfg.AppSignOns,
		})
		s.recs, s.pending = nil, nil
		clear(s.lastLogin)
		s.pumpLocked(s.simBase.UnixMilli())
		if cfg.HistoryEvents <= 0 || len(s.recs) >= cfg.HistoryEvents || attempt >= 3 {
			break
		}
		history = time.Duration(float64(history) * 1.5 * float64(cfg.HistoryEvents) / float64(len(s.recs)+1))
	}
	if cfg.HistoryEvents > 0 && len(s.recs) > cfg.HistoryEvents {
		s.recs = append([]traffic.Record(nil), s.recs[len(s.recs)-cfg.HistoryEvents:]...)
	}
	n := len(s.model.Users())
	for i, u := range s.model.Users() {
		s.changed[i] = u.Created
	}
	s.routes()
	s.log.Info("oktasim: org ready", "users", n, "history_events", len(s.recs),
		"history_from", s.model.Config().Start, "speed", cfg.Speed)
	return s, nil
}

func orgHost(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if u == "" {
		return "clarion-sim.okta.com"
	}
	return u
}

// Model returns the traffic model (read-only use: Users, UUID, AppendJSON).
func (s *Server) Model() *traffic.Model { return s.model }

// SimNow is the simulated clock: the wall clock at New (minus CatchUp) plus
// elapsed wall time × Speed; with CatchUp, never past the wall clock.
func (s *Server) SimNow() time.Time {
	now := s.cfg.Now()
	t := s.simBase.Add(time.Duration(float64(now.Sub(s.realBase)) * s.cfg.Speed))
	if s.cfg.CatchUp > 0 && t.After(now) {
		return now
	}
	return t
}

// advance moves every model event published up to the simulated now into
// the System Log and returns the log's length.
func (s *Server) advance() int {
	now := s.SimNow().UnixMilli()
	s.genMu.Lock()
	if s.pending == nil {
		if r, ok := s.model.NextRecord(); ok {
			s.pending = &r
		}
	}
	if s.pending != nil && s.pending.Published <= now {
		s.mu.Lock()
		s.pumpLocked(now)
		s.mu.Unlock()
	}
	s.genMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.recs)
}

// pumpLocked appends model events published at or before now; callers hold
// genMu and mu (or own the server exclusively, as New does).
func (s *Server) pumpLocked(now int64) {
	for {
		if s.pending == nil {
			r, ok := s.model.NextRecord()
			if !ok {
				return
			}
			s.pending = &r
		}
		if s.pending.Published > now {
			return
		}
		r := *s.pending
		s.pending = nil
		if r.User >= 0 && s.status[r.User] != StatusActive {
			r.Deny()
		}
		if r.User >= 0 && r.Kind == traffic.KindSessionStart && r.Success() {
			s.lastLogin[r.User] = r.Published
		}
		s.recs = append(s.recs, r)
		for _, h := range s.hooks {
			h.enqueue(len(s.recs)-1, r.EventType())
		}
	}
}

// appendOwn logs an event of the simulator itself at the simulated now.
func (s *Server) appendOwn(ev ownEvent) {
	now := s.SimNow().UnixMilli()
	s.genMu.Lock()
	defer s.genMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pumpLocked(now)
	if n := len(s.recs); n > 0 && s.recs[n-1].Published > now {
		now = s.recs[n-1].Published
	}
	ev.published = now
	ev.raw = ev.render(s, now)
	s.own = append(s.own, ev)
	s.recs = append(s.recs, traffic.Record{Published: now, Kind: kindOwn, Seq: uint64(len(s.own) - 1), User: -1})
	for _, h := range s.hooks {
		h.enqueue(len(s.recs)-1, ev.eventType)
	}
}

// kindOwn marks a System Log record that is one of the simulator's own events.
const kindOwn = 255

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/v1/token", s.tokenEndpoint) // authorization_code: oidc.go
	s.oidcRoutes(mux)
	mux.HandleFunc("GET /api/v1/logs", s.api("logs", s.handleLogs))
	mux.HandleFunc("GET /api/v1/users", s.api("users", s.handleListUsers))
	mux.HandleFunc("GET /api/v1/users/{id}", s.api("users", s.handleGetUser))
	mux.HandleFunc("GET /api/v1/users/{id}/groups", s.api("users", s.handleUserGroups))
	mux.HandleFunc("POST /api/v1/users/{id}/lifecycle/{op}", s.api("users", s.handleLifecycle))
	mux.HandleFunc("DELETE /api/v1/users/{id}/sessions", s.api("users", s.handleClearSessions))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeOktaError(w, http.StatusNotFound, codeNotFound, "Not found: Resource not found: "+r.URL.Path+" (Path)")
	})
	mux.HandleFunc("POST /sim/apps", s.handleSimApps)
	mux.HandleFunc("POST /sim/eventhooks", s.handleSimHooks)
	mux.HandleFunc("POST /sim/eventhooks/{id}/verify", s.handleSimHookVerify)
	mux.HandleFunc("GET /sim/users", s.handleSimUsers)
	mux.HandleFunc("POST /sim/attacks", s.handleSimAttacks)
	mux.HandleFunc("GET /sim/labels", s.handleSimLabels)
	mux.HandleFunc("GET /sim/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "sim_now": s.SimNow().UTC()})
	})
	s.mux = mux
}

// orgURL is the org's base URL for this request.
func (s *Server) orgURL(r *http.Request) string {
	if s.cfg.OrgURL != "" {
		return s.cfg.OrgURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Run drives live traffic and event hook deliveries until ctx ends; it
// returns nil on a clean stop.
func (s *Server) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.HookInterval)
	defer tick.Stop()
	defer s.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.advance()
			s.deliver(ctx)
		}
	}
}

// window is one endpoint family's fixed one-minute rate-limit window.
type window struct {
	start int64 // Unix seconds
	used  int
}

// unlimitedBudget is what the headers report when the limit is off.
const unlimitedBudget = 1000000

// rateLimit counts a request against family's budget, sets Okta's
// X-Rate-Limit-* headers and reports whether the request may proceed.
func (s *Server) rateLimit(w http.ResponseWriter, family string) bool {
	now := s.cfg.Now().Unix()
	minute := now - now%60
	limit := s.cfg.RateLimitPerMinute
	if limit <= 0 {
		limit = unlimitedBudget
	}
	s.mu.Lock()
	win := s.rate[family]
	if win == nil || win.start != minute {
		win = &window{start: minute}
		s.rate[family] = win
	}
	win.used++
	used := win.used
	s.mu.Unlock()
	remaining := max(limit-used, 0)
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(minute+60, 10))
	if used > limit {
		writeOktaError(w, http.StatusTooManyRequests, codeRateLimited, "API call exceeded rate limit due to too many requests.")
		return false
	}
	return true
}
