// Package poller reads each integration's Okta System Log continuously
// (GET /api/v1/logs, ascending, following Link rel="next") and writes every
// event to clarion.okta.events byte for byte, in the record shape the event
// hook gateway writes, with source=poll. It repairs what the hook missed
// (Okta retries a delivery only once) and backfills history; downstream
// dedup by event uuid makes the overlap with the hook harmless.
//
// Each page's events and the cursor that moves past them (in the compacted
// topic clarion.poller.cursors) are written in one Kafka transaction, so
// read_committed consumers see a page exactly once even across crashes.
// With Config.AtLeastOnce the events are acknowledged before the cursor is
// written instead, and a crash between the two re-reads one page.
//
// Run one poller replica per cluster: a second one with the same
// transactional id fences the first (whose Run returns ErrFenced).
package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
)

// DefaultEventTypes returns the event types the poller reads when Config
// names none: every type of okta.SignInEventTypes, the sign-ins the
// detectors judge and the rest of the sign-in flow (MFA, lockouts, policy,
// factor changes, Okta's own detections). The poller reads them with
// okta.logs.read whether or not the event hook is subscribed to them.
func DefaultEventTypes() []string {
	ts := okta.SignInEventTypes()
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Type
	}
	return out
}

// MoreEventTypes returns the optional types of DefaultEventTypes: those
// the event hook need not be subscribed to.
func MoreEventTypes() []string {
	var out []string
	for _, t := range okta.SignInEventTypes() {
		if !t.Required {
			out = append(out, t.Type)
		}
	}
	return out
}

// Registry lists the integrations to poll. *integration.Store implements it.
type Registry interface {
	List() []*integration.Integration
}

// Config configures a Poller. Zero values take the defaults named.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// KafkaOpts are extra franz-go options for the poller's clients.
	KafkaOpts []kgo.Opt
	// Registry lists the integrations. Required. It is re-read every
	// RefreshInterval, so new integrations are picked up.
	Registry Registry
	// MasterKey decrypts integrations' private keys. Required unless
	// NewClient is set.
	MasterKey *secrets.MasterKey
	// Okta is the base configuration of the Okta clients (HTTP client,
	// retries); the identity fields come from each integration.
	Okta okta.Config
	// NewClient builds the Okta client of an integration. Default:
	// in.OktaClient(MasterKey, Okta).
	NewClient func(in *integration.Integration) (*okta.Client, error)
	// EventTypes are the System Log event types read. Default
	// DefaultEventTypes() (see MoreEventTypes).
	EventTypes []string
	// PageLimit is the page size. Default 1000 (Okta's maximum).
	PageLimit int
	// PollInterval is the wait after an empty page before requesting the
	// same next link again. Default 15 s.
	PollInterval time.Duration
	// RefreshInterval is how often the registry is re-read. Default 10 s.
	RefreshInterval time.Duration
	// InitialLookback is how far back an integration without a cursor
	// starts. Default 24 h (Okta keeps 90 days; use backfill for more).
	InitialLookback time.Duration
	// ErrorBackoff is the longest wait after a failure before an
	// integration is polled again; waits start at a second and double.
	// Errors that need an admin's fix wait this long at once. Default 1 min
	// (the wizard's integration exists before the admin finishes in Okta).
	ErrorBackoff time.Duration
	// AtLeastOnce writes a page's events, waits for their acks, then
	// writes its cursor, without a transaction (for brokers without
	// transactions); a crash in between re-reads one page. Default false:
	// each page's events and cursor are one Kafka transaction.
	AtLeastOnce bool
	// TransactionalID is the transactional id of the poller's producer.
	// Default "clarion-poller": a second poller started with the same id
	// fences the first, whose Run then returns ErrFenced.
	TransactionalID string
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the poller's metrics. nil: no metrics.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Poller polls every integration's System Log into Kafka.
type Poller struct {
	cfg    Config
	filter string
	log    *slog.Logger
	m      *metrics

	mu      sync.Mutex
	cursors map[string]Cursor
}

// New checks cfg and returns a Poller. It connects to nothing until Run.
func New(cfg Config) (*Poller, error) {
	if len(cfg.Brokers) == 0 || cfg.Registry == nil {
		return nil, errors.New("poller: Config.Brokers and Config.Registry are required")
	}
	if cfg.NewClient == nil {
		if cfg.MasterKey == nil {
			return nil, errors.New("poller: Config.MasterKey is required")
		}
		key, base := cfg.MasterKey, cfg.Okta
		cfg.NewClient = func(in *integration.Integration) (*okta.Client, error) { return in.OktaClient(key, base) }
	}
	if len(cfg.EventTypes) == 0 {
		cfg.EventTypes = DefaultEventTypes()
	}
	if cfg.PageLimit <= 0 || cfg.PageLimit > okta.MaxLogsLimit {
		cfg.PageLimit = okta.MaxLogsLimit
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 15 * time.Second
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 10 * time.Second
	}
	if cfg.InitialLookback <= 0 {
		cfg.InitialLookback = 24 * time.Hour
	}
	if cfg.ErrorBackoff <= 0 {
		cfg.ErrorBackoff = time.Minute
	}
	if cfg.TransactionalID == "" {
		cfg.TransactionalID = "clarion-poller"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	filter := okta.EventTypeFilter(cfg.EventTypes...)
	if filter == "" {
		return nil, errors.New("poller: Config.EventTypes names no event type")
	}
	p := &Poller{cfg: cfg, filter: filter, log: cfg.Logger, cursors: map[string]Cursor{}}
	var err error
	if p.m, err = newMetrics(cfg.Registerer, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Run polls until ctx is cancelled, then flushes what it has read and
// returns nil. Until Kafka answers it only waits: no integration is polled
// before its cursor is known.
func (p *Poller) Run(ctx context.Context) error {
	opts := append(ProducerOpts(0), p.cfg.KafkaOpts...)
	if !p.cfg.AtLeastOnce {
		opts = append(opts, kgo.TransactionalID(p.cfg.TransactionalID), kgo.TransactionTimeout(30*time.Second))
	}
	cl, err := bus.NewClient(p.cfg.Brokers, p.log, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		out sink = plainSink{cl}
		tx  *txSink
	)
	if !p.cfg.AtLeastOnce {
		tx = &txSink{cl: cl}
		out = tx
	}
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := p.start(ctx, cl, tx != nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		// Kafka may start after the poller: wait rather than guess cursors.
		p.log.Warn("poller: cannot reach Kafka; retrying", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}

	type worker struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	workers := map[string]*worker{}
	stopAll := func() {
		for _, w := range workers {
			w.cancel()
		}
		for _, w := range workers {
			<-w.done
		}
	}
	defer stopAll()
	t := time.NewTicker(p.cfg.RefreshInterval)
	defer t.Stop()
	for {
		seen := map[string]bool{}
		for _, in := range p.cfg.Registry.List() {
			seen[in.ID] = true
			if workers[in.ID] != nil {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			w := &worker{cancel: cancel, done: make(chan struct{})}
			workers[in.ID] = w
			p.log.Info("polling Okta System Log", "integration", in.ID, "tenant", in.TenantURL)
			go func(in *integration.Integration) {
				defer close(w.done)
				p.work(wctx, out, in)
			}(in)
		}
		for id, w := range workers {
			if !seen[id] {
				p.log.Info("integration removed; polling stops", "integration", id)
				w.cancel()
				<-w.done
				delete(workers, id)
			}
		}
		if tx != nil {
			if err := tx.failed(); err != nil {
				p.log.Error("poller stops: another poller took over", "err", err)
				stopAll()
				workers = nil
				return err
			}
		}
		select {
		case <-ctx.Done():
			stopAll()
			workers = nil
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.Flush(fctx); err != nil {
				p.log.Warn("poller: flush on stop", "err", err)
			}
			return nil
		case <-t.C:
		}
	}
}

// start takes over as the transactional writer (fencing any poller still
// running with the same transactional id, and aborting its open
// transaction), then loads the committed cursors.
func (p *Poller) start(ctx context.Context, cl *kgo.Client, transactional bool) error {
	if transactional {
		if _, _, err := cl.ProducerID(ctx); err != nil {
			return fmt.Errorf("poller: initialise the transactional producer: %w", err)
		}
	}
	cur, err := LoadCursors(ctx, p.cfg.Brokers, p.log, p.cfg.KafkaOpts...)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.cursors = cur
	p.mu.Unlock()
	return nil
}

// Cursor returns the current cursor of an integration.
func (p *Poller) Cursor(id string) (Cursor, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.cursors[id]
	return c, ok
}

// work polls one integration until ctx ends, waiting out failures.
func (p *Poller) work(ctx context.Context, out sink, in *integration.Integration) {
	log := p.log.With("integration", in.ID)
	fails := 0
	for ctx.Err() == nil {
		err := p.pollOnce(ctx, out, in, log, &fails)
		if ctx.Err() != nil {
			return
		}
		fails++
		wait := time.Second << min(fails-1, 16)
		if wait > p.cfg.ErrorBackoff || wait <= 0 {
			wait = p.cfg.ErrorBackoff
		}
		var oe *okta.Error
		if errors.As(err, &oe) && !oe.Retriable {
			if oe.Kind != okta.KindBadRequest {
				wait = p.cfg.ErrorBackoff // an admin must act: do not hammer Okta
			}
			p.m.errors.WithLabelValues(in.ID, string(oe.Kind)).Inc()
			log.Error("polling the Okta System Log failed", "err", err, "kind", oe.Kind, "fix", oe.Fix, "retry_in", wait)
		} else {
			kind := "other"
			if errors.As(err, &oe) {
				kind = string(oe.Kind)
			}
			p.m.errors.WithLabelValues(in.ID, kind).Inc()
			log.Warn("polling the Okta System Log failed; retrying", "err", err, "retry_in", wait)
		}
		wait = wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pollOnce builds the client and follows the System Log from the cursor
// until ctx ends or an error stops it. A successful page resets fails.
func (p *Poller) pollOnce(ctx context.Context, out sink, in *integration.Integration, log *slog.Logger, fails *int) error {
	base := p.cfg.NewClient
	c, err := base(in)
	if err != nil {
		return err
	}
	c.OnRateLimited(func(string, time.Duration) { p.m.rateLimited.WithLabelValues(in.ID).Inc() })
	cur, _ := p.Cursor(in.ID)
	start := cur.Next
	if start == "" || cur.Filter != p.filter {
		since := p.cfg.Now().Add(-p.cfg.InitialLookback)
		if t, err := time.Parse(time.RFC3339Nano, cur.LastPublished); err == nil {
			since = t // resume a read whose link was dropped, at the last event written
		}
		start = c.LogsURL(okta.LogQuery{Since: since, Filter: p.filter, Limit: p.cfg.PageLimit})
		if cur.Next != "" {
			log.Info("event types changed; restarting the read from the last event", "since", since)
		}
	}
	err = p.follow(ctx, out, c, in.ID, start, fails)
	var oe *okta.Error
	if errors.As(err, &oe) && oe.Kind == okta.KindBadRequest && oe.StatusCode == 400 && cur.Next != "" && start == cur.Next {
		// Okta refused the stored next link (expired or malformed cursor):
		// drop it so the next attempt restarts from the last event's time.
		log.Warn("Okta refused the stored System Log cursor; restarting from the last event written", "err", err)
		p.mu.Lock()
		c := p.cursors[in.ID]
		c.Next = ""
		p.cursors[in.ID] = c
		p.mu.Unlock()
	}
	return err
}

// follow reads pages from start (one page ahead of the writer) and writes
// each page's events, then its cursor.
func (p *Poller) follow(ctx context.Context, out sink, c *okta.Client, id, start string, fails *int) error {
	g, gctx := errgroup.WithContext(ctx)
	pages := make(chan fetched, 1)
	g.Go(func() error {
		defer close(pages)
		return readPages(gctx, c, start, true, p.cfg.PollInterval, p.cfg.Now, pages, func() { p.m.pages.WithLabelValues(id).Inc() })
	})
	g.Go(func() error {
		for f := range pages {
			if err := p.writePage(gctx, out, id, f); err != nil {
				return err
			}
			*fails = 0
		}
		return nil
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (p *Poller) writePage(ctx context.Context, out sink, id string, f fetched) error {
	pe, err := splitPage(f.page.Body, id, f.at)
	if err != nil {
		return &okta.Error{Kind: okta.KindResponse, Op: "list logs", Summary: err.Error(), Retriable: true}
	}
	if pe.skipped > 0 {
		p.m.skipped.WithLabelValues(id).Add(float64(pe.skipped))
		p.log.Warn("System Log elements without a uuid were not written", "integration", id, "count", pe.skipped)
	}
	// A page once started is written whole, events then cursor, even when
	// the poller is stopping: a clean stop never re-reads a page.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	p.mu.Lock()
	cur := p.cursors[id]
	p.mu.Unlock()
	next := f.page.Next
	if next == "" {
		next = f.page.URL
	}
	if next == cur.Next && cur.Filter == p.filter && len(pe.records) == 0 {
		return nil // an empty page that moved nothing
	}
	cur.IntegrationID, cur.Next, cur.Filter, cur.UpdatedAt = id, next, p.filter, p.cfg.Now().UTC()
	if pe.lastUUID != "" {
		cur.LastUUID, cur.LastPublished = pe.lastUUID, pe.lastPublished
	}
	rec, err := cur.record()
	if err != nil {
		return err
	}
	if err := out.write(ctx, pe.records, rec); err != nil {
		return err
	}
	p.m.events.WithLabelValues(id).Add(float64(len(pe.records)))
	p.mu.Lock()
	p.cursors[id] = cur
	if !pe.maxPublished.IsZero() {
		p.m.notePublished(id, pe.maxPublished)
	}
	p.mu.Unlock()
	return nil
}

// fetched is a page with the time it arrived.
type fetched struct {
	page *okta.LogPage
	at   time.Time
}

// readPages fetches pages from start, following next links, into out. In
// follow mode it never ends by itself: after an empty page it waits
// interval and requests the same next link again. Otherwise it stops after
// an empty page or one without a next link.
func readPages(ctx context.Context, c *okta.Client, start string, follow bool, interval time.Duration, now func() time.Time, out chan<- fetched, onPage func()) error {
	u := start
	for {
		page, err := c.LogsPage(ctx, u)
		if err != nil {
			return err
		}
		if onPage != nil {
			onPage()
		}
		empty := isEmptyArray(page.Body)
		select {
		case out <- fetched{page: page, at: now()}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if page.Next == "" {
			if !follow {
				return nil
			}
			empty = true // nothing to follow: poll the same page again
		} else {
			u = page.Next
		}
		if empty {
			if !follow {
				return nil
			}
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// isEmptyArray reports whether body is "[]" give or take whitespace.
func isEmptyArray(b []byte) bool {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	if i >= len(b) || b[i] != '[' {
		return false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case ' ', '\n', '\r', '\t':
		case ']':
			return true
		default:
			return false
		}
	}
	return false
}
