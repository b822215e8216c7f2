// Package app assembles Clarion's components into one process. `clarion run`
// starts the target "all" (every component; an embedded Kafka when no
// brokers are given); `clarion gateway` and the other per-component commands
// start one target against a real cluster. Components talk only through
// Kafka, so the all-in-one process runs exactly what a scaled deployment runs.
//
// Lifecycle: New connects and listens; Run serves until its context ends,
// then drains: readiness turns 503, the HTTP server stops accepting and
// waits for in-flight requests (each of which waits for its Kafka acks),
// background components stop, the producer flushes, clients close, and the
// embedded broker (if any) persists and stops.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/clarion-itdr/clarion/console"
	"github.com/clarion-itdr/clarion/ingest/gateway"
	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/responder"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/triage"
)

// DefaultProduceLinger is Config.ProduceLinger's default.
const DefaultProduceLinger = time.Millisecond

// Targets: which components a process runs.
const (
	TargetAll       = "all"       // every component (clarion run)
	TargetGateway   = "gateway"   // the event hook endpoint only
	TargetConsole   = "console"   // the console API and UI only
	TargetPoller    = "poller"    // the System Log poller only
	TargetProcessor = "processor" // detection only
	TargetSource    = "source"    // tenant-wide detection (sprays, stuffing) only
	TargetSink      = "sink"      // the ClickHouse and Parquet sinks only
	TargetTriage    = "triage"    // the alert triage agent only
	TargetResponder = "responder" // the response policy gate and Okta actions only
)

// Runs reports whether a process started for target runs component (one of
// the single-component targets).
func Runs(target, component string) bool { return target == TargetAll || target == component }

// Config configures a process. Zero values take the defaults named.
type Config struct {
	// DataDir holds generated secrets, the embedded broker's data and the
	// Parquet lake. Default "./data".
	DataDir string
	// HTTPAddr is where hooks, the console, /metrics, /healthz and /readyz
	// listen. Default ":8080".
	HTTPAddr string
	// PublicURL is the base URL Okta reaches this process at; the wizard's
	// webhook URL is PublicURL/hooks/okta/{id}. Okta requires https in
	// production. Default http://127.0.0.1:<port of HTTPAddr>.
	PublicURL string
	// KafkaBrokers of a real cluster. Empty: start an embedded broker
	// (target "all" only).
	KafkaBrokers []string
	// Kafka is how clients reach KafkaBrokers: TLS and SASL (secrets from
	// the environment). The zero value is plaintext without authentication;
	// it must be zero with the embedded broker.
	Kafka bus.Security
	// EmbeddedKafka is the embedded broker's listen address. Default
	// 127.0.0.1:9092, so kcat and other Kafka tools can read it.
	EmbeddedKafka string
	// EmbeddedAnyTarget lets a single-component target start the embedded
	// broker when KafkaBrokers is empty (benchmarks and tests; the
	// per-component commands always need a real cluster).
	EmbeddedAnyTarget bool
	// ClickHouse is the native address (host:9000) of the ClickHouse the
	// sink writes to. Empty: no ClickHouse sink.
	ClickHouse string
	// ClickHouseUser, ClickHousePassword, ClickHouseDatabase and
	// ClickHouseCompression configure the ClickHouse sink (defaults:
	// "default", none, "clarion", "none").
	ClickHouseUser, ClickHousePassword, ClickHouseDatabase, ClickHouseCompression string
	// ClickHouseTLS is TLS on the native protocol (zero: plain) and
	// ClickHouseCluster the cluster the schema is created ON (clickhouse.Config).
	ClickHouseTLS     clickhouse.TLS
	ClickHouseCluster string
	// Retention is the TTL of ClickHouse rows on servers that have TTL,
	// set when tables are created. Zero keeps rows forever.
	Retention time.Duration
	// EgressNetworks are declared egress points (corporate VPN
	// concentrators, security proxies) by integration id, "*" for all: a
	// sign-in from one says nothing about where the user is
	// (detect.Params.EgressNetworks).
	EgressNetworks map[string][]netip.Prefix
	// NoLake turns the Parquet lake under DataDir/lake off.
	NoLake bool
	// LakeFlushInterval is the Parquet sink's flush interval (default 30 s).
	LakeFlushInterval time.Duration
	// Partitions of the data topics Clarion creates when missing. Default 6
	// embedded, 12 on a real cluster.
	Partitions int32
	// EventsRetention of clarion.okta.events when Clarion creates it.
	// Default bus.DefaultEventsRetention (48 h).
	EventsRetention time.Duration
	// AdminToken for the console and API. Empty: read or generate
	// <DataDir>/admin-token.
	AdminToken string
	// MasterKey (hex or base64 of 32 bytes) that seals private keys and keys
	// the webhook secret hashes; every replica needs the same one. Empty:
	// read or generate <DataDir>/master.key.
	MasterKey string
	// MaxBody bounds an event hook delivery. Default 10 MiB.
	MaxBody int64
	// AckTimeout bounds the wait for Kafka acks before a hook answers 503.
	// Default 2.5 s.
	AckTimeout time.Duration
	// ProduceLinger lets concurrent deliveries share Kafka batches.
	// Default 2 ms.
	ProduceLinger time.Duration
	// AllowInsecureTenants allows http/IP/localhost tenant URLs when a
	// create request asks for it: for the simulated org only.
	AllowInsecureTenants bool
	// OktaDomains, when set, limits the Okta orgs Clarion calls to these
	// domains ("*.okta.com" patterns or exact custom domains, see
	// okta.Config.AllowedDomains). Default: any public host name.
	OktaDomains []string
	// ShutdownTimeout bounds the drain on stop. Default 15 s.
	ShutdownTimeout time.Duration
	// Triage configures the triage agent (LLM provider and bounds); the
	// zero value runs the deterministic triage only.
	Triage triage.Settings
	// Responder configures the response policy, guards and approvals; the
	// zero value is responder.DefaultSettings().
	Responder responder.Settings
	// People configures console sign-in, API tokens, audit, throttling and
	// the /metrics listener (see people.go).
	People People
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Responder.IsZero() {
		c.Responder = responder.DefaultSettings()
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	if c.EmbeddedKafka == "" {
		c.EmbeddedKafka = "127.0.0.1:9092"
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.ProduceLinger <= 0 {
		c.ProduceLinger = DefaultProduceLinger
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Service is a background component: it works until ctx ends and returns
// nil on a clean stop. An error stops the whole process.
type Service interface {
	Run(ctx context.Context) error
}

// App is one running process.
type App struct {
	cfg    Config
	target string
	log    *slog.Logger

	Registry *prometheus.Registry
	Brokers  []string
	Store    *integration.Store
	API      *api.API
	Mux      *http.ServeMux
	Key      *secrets.MasterKey
	Token    string

	embedded  *bus.Embedded
	producer  *kgo.Client
	kafkaOpts []kgo.Opt // Config.Kafka's TLS and SASL, for every client
	ln        net.Listener
	srv       *http.Server
	ready     atomic.Bool

	mu       sync.Mutex
	clients  *integration.Clients
	services map[string]Service
	closers  []func()
}

// New builds the process for target: it loads or creates secrets, starts
// or connects to Kafka, creates missing topics, replays the integration
// registry and binds the HTTP listener. Close releases everything if Run is
// never called.
func New(ctx context.Context, cfg Config, target string) (_ *App, err error) {
	cfg.defaults()
	a := &App{cfg: cfg, target: target, log: cfg.Logger, Registry: prometheus.NewRegistry(), Mux: http.NewServeMux(), services: map[string]Service{}}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	keyPath := filepath.Join(cfg.DataDir, "master.key")
	key, created, err := secrets.LoadOrCreateMasterKey(cfg.MasterKey, keyPath)
	if err != nil {
		return nil, err
	}
	if created && usesMasterKey(target) {
		a.log.Warn("generated a master key; back it up, and give every replica the same one via CLARION_MASTER_KEY", "path", keyPath)
	}
	a.Key = key

	// Kafka.
	a.Brokers = cfg.KafkaBrokers
	partitions := cfg.Partitions
	if len(a.Brokers) == 0 {
		if target != TargetAll && !cfg.EmbeddedAnyTarget {
			return nil, errors.New("--kafka-brokers is required for a single component; `clarion run` starts an embedded broker")
		}
		a.embedded, err = bus.StartEmbedded(cfg.DataDir, cfg.EmbeddedKafka)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.embedded.Close)
		a.Brokers = a.embedded.Addrs()
		a.log.Info("embedded Kafka started", "addr", a.Brokers[0], "data", filepath.Join(cfg.DataDir, "kafka"))
		if partitions <= 0 {
			partitions = 6
		}
	}
	if partitions <= 0 {
		partitions = 12
	}
	if a.embedded != nil && cfg.Kafka.Enabled() {
		return nil, errors.New("--kafka-tls and --kafka-sasl-* need --kafka-brokers: the embedded broker is plaintext on loopback")
	}
	a.kafkaOpts, err = cfg.Kafka.Opts()
	if err != nil {
		return nil, err
	}
	// The shared producer carries what people do through the API
	// (decisions, feedback, analysts' proposals): signed as the API.
	apiSigner, err := a.signer(record.SignerAPI)
	if err != nil {
		return nil, err
	}
	a.producer, err = bus.NewClient(a.Brokers, a.log, append(append(bus.ProducerOpts(cfg.ProduceLinger), a.kafkaOpts...), apiSigner.Opt())...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	a.closers = append(a.closers, a.producer.Close)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := bus.Check(tctx, a.producer); err != nil {
		return nil, err
	}
	if err := bus.EnsureTopics(tctx, a.producer, bus.TopicsWith(bus.TopicOptions{Partitions: partitions, EventsRetention: cfg.EventsRetention})); err != nil {
		return nil, err
	}

	a.Store, err = integration.Open(tctx, a.Brokers, key, a.log, a.kafkaOpts...)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Store.Close)

	// HTTP.
	a.ln, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	if a.cfg.PublicURL == "" {
		port := a.ln.Addr().(*net.TCPAddr).Port
		a.cfg.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	if err := a.serveMetrics(promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{Registry: a.Registry})); err != nil {
		return nil, err
	}
	a.warnPublicURL()
	a.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.Mux.HandleFunc("GET /readyz", a.serveReady)

	if Runs(target, TargetGateway) {
		gw, err := gateway.New(gateway.Config{
			Registry: a.Store, Producer: a.producer, MaxBody: cfg.MaxBody, AckTimeout: cfg.AckTimeout,
			Logger: a.log.With("component", "gateway"), Registerer: a.Registry,
		})
		if err != nil {
			return nil, err
		}
		gw.Register(a.Mux)
	}
	if Runs(target, TargetConsole) {
		tokPath := filepath.Join(cfg.DataDir, "admin-token")
		tok, created, err := secrets.LoadOrCreateToken(cfg.AdminToken, tokPath)
		if err != nil {
			return nil, err
		}
		if created {
			a.log.Warn("generated the admin token for the console and API", "path", tokPath)
		} else if err := api.CheckTokenStrength(tok); err != nil {
			return nil, err
		}
		a.Token = tok
		access, err := a.openAccess(tctx)
		if err != nil {
			return nil, err
		}
		a.API, err = api.New(api.Config{
			Token: tok, Registry: a.Store, PublicURL: a.cfg.PublicURL,
			AllowInsecureTenants: cfg.AllowInsecureTenants, Logger: a.log.With("component", "api"),
			Verify: a.verify, Access: access, Audit: audit.NewWriter(a.producer, 0),
			TrustedProxies: cfg.People.TrustedProxies,
		})
		if err != nil {
			return nil, err
		}
		a.API.Register(a.Mux)
		verifier, err := a.verifier()
		if err != nil {
			return nil, err
		}
		con, err := console.New(console.Config{
			Token: tok, Brokers: a.Brokers, KafkaOpts: a.kafkaOpts, Producer: a.producer, Verifier: verifier,
			Logger: a.log.With("component", "console"), Registerer: a.Registry,
			OIDC: a.oidcConfig(), SecureCookies: cfg.People.SecureCookies,
		})
		if err != nil {
			return nil, err
		}
		con.Register(a.Mux, a.API) // the UI at /, sessions, /api/alerts*, feedback
		// POST /api/actions/{id}/approve|reject: checked against the
		// console's read model, written to clarion.responder.requests.
		decisions, err := responder.NewHandler(responder.HandlerConfig{
			Producer: a.producer, Actions: con.Alerts(),
			Logger: a.log.With("component", "api"), Registerer: a.Registry,
		})
		if err != nil {
			return nil, err
		}
		decisions.Register(a.API)
		a.API.UseActions(actionLookup(con))
		a.Add("console", con) // follows clarion.alerts, anomalies, triage and actions
	}
	if err := a.addComponents(); err != nil {
		return nil, err
	}
	return a, nil
}

// verify runs an integration's read-only checks against its Okta org.
func (a *App) verify(ctx context.Context, in *integration.Integration, hook integration.HookStatus) (any, error) {
	c, err := in.OktaClient(a.Key, a.OktaBase(a.log.With("component", "okta", "integration", in.ID)))
	if err != nil {
		return nil, err
	}
	return okta.Verify(ctx, c, okta.HookStatus(hook)), nil
}

// Target returns the target the process was built for.
func (a *App) Target() string { return a.target }

// DataDir returns the process's data directory.
func (a *App) DataDir() string { return a.cfg.DataDir }

// Logger returns the process's logger.
func (a *App) Logger() *slog.Logger { return a.log }

// KafkaOpts returns the franz-go options of Config.Kafka (TLS, SASL) that
// every client of the process uses.
func (a *App) KafkaOpts() []kgo.Opt { return a.kafkaOpts }

// Producer returns the process's shared Kafka producer (acks=all, idempotent).
func (a *App) Producer() *kgo.Client { return a.producer }

// PublicURL returns the base URL webhook URLs are built from.
func (a *App) PublicURL() string { return a.cfg.PublicURL }

// Addr returns the HTTP listener's address.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Add registers a background component to run with the process.
func (a *App) Add(name string, s Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.services[name] = s
}

func (a *App) serveReady(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		api.WriteError(w, http.StatusServiceUnavailable, "not_ready", "starting or stopping")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := bus.Ping(ctx, a.producer); err != nil {
		api.WriteError(w, http.StatusServiceUnavailable, "kafka_unreachable", "Kafka does not answer")
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Run serves until ctx ends or a component fails, then drains and closes.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	a.srv = &http.Server{
		Handler:           a.Mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	svcCtx, stopSvcs := context.WithCancel(context.Background())
	defer stopSvcs()
	g, gctx := errgroup.WithContext(svcCtx)
	a.mu.Lock()
	for name, s := range a.services {
		g.Go(func() error {
			if err := s.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	a.mu.Unlock()
	srvErr := make(chan error, 1)
	go func() { srvErr <- a.srv.Serve(a.ln) }()
	a.ready.Store(true)
	a.log.Info("clarion is up", "target", a.target, "http", a.Addr(), "public_url", a.cfg.PublicURL, "kafka", a.Brokers)

	var runErr error
	select {
	case <-ctx.Done():
	case <-gctx.Done():
		runErr = errors.New("a component stopped")
	case err := <-srvErr:
		runErr = fmt.Errorf("http server: %w", err)
	}

	// Drain.
	a.ready.Store(false)
	a.log.Info("stopping: draining in-flight requests")
	dctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.srv.Shutdown(dctx); err != nil {
		a.log.Warn("http drain incomplete", "err", err)
	}
	stopSvcs()
	if err := g.Wait(); err != nil {
		runErr = err
	}
	if err := a.producer.Flush(dctx); err != nil {
		a.log.Warn("kafka flush incomplete", "err", err)
	}
	a.log.Info("stopped")
	return runErr
}

// Close releases everything New acquired, in reverse order. Run calls it.
func (a *App) Close() {
	if a.ln != nil && a.srv == nil {
		a.ln.Close()
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}
