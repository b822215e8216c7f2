// Package processor is Clarion's detection stage on Kafka: it consumes
// clarion.okta.events as a consumer group, keeps each user's state (see
// processor/detect) per partition, runs the detectors, and writes
// anomalies, alerts and its state changelog, with the consumer offsets, in
// one Kafka transaction (franz-go's GroupTransactSession). On partition
// assignment it restores those partitions' users from the compacted
// changelog before processing them, so a crash or rebalance neither loses
// nor double-counts anything.
//
// The changelog (clarion.processor.changelog) is partitioned like the
// events topic: a user's state lives in the changelog partition with the
// same number as the events partition the user's records arrive on. It must
// therefore have at least as many partitions as the events topic (bus.Topics
// creates both with the same count).
package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor/detect"
)

// DefaultGroup is the consumer group processors join.
const DefaultGroup = "clarion-processor"

// Config configures a Processor. Zero values take the documented defaults.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Default DefaultGroup.
	Group string
	// TransactionalID identifies this instance's transactional producer. It
	// must be unique per running instance and stable across its restarts, so
	// a restarted instance fences its crashed predecessor and aborts its
	// open transaction. Default Group + "-" + the host name.
	TransactionalID string
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the processor's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Params tunes the detectors; zero fields take detect.DefaultParams.
	Params detect.Params
	// DedupHorizon is how far behind a partition's latest event time the
	// processor remembers every event uuid (exact dedup, see dedup.go);
	// older events are not processed (too_old). Default 90 days, the
	// System Log retention of Okta: hook and poll overlap and any
	// backfill re-run fall within it.
	DedupHorizon time.Duration
	// MaxPollRecords bounds the records in one transaction. Default 5000.
	MaxPollRecords int
	// RestoreTimeout bounds the restore of assigned partitions from the
	// changelog. Default 2 minutes.
	RestoreTimeout time.Duration
	// ClientOpts are extra franz-go options for the consuming and producing
	// client (TLS, SASL, ...).
	ClientOpts []kgo.Opt
	// Signer signs the alerts and anomalies the processor writes, as
	// record.SignerProcessor; Verifier checks every alert update before it
	// is applied (see trust.go). Both required.
	Signer   *record.Signer
	Verifier *record.Verifier

	// crashAfterProduce, in tests, makes Run stop after producing batch n's
	// records and before committing them, as a killed process would.
	crashAfterProduce func(batch int) bool
	// crashInRestore, in tests, is called while a restore reads the changelog.
	crashInRestore func()
}

// ErrCrashed is returned by Run when a test hook simulated a crash.
var errCrashed = errors.New("processor: simulated crash between produce and commit")

// Processor runs the detection stage. Create it with New, run it with Run.
type Processor struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	mu    sync.Mutex
	parts map[int32]*partition // owned partitions' state
	// restoreErr is set by an assignment callback whose restore failed; Run
	// returns it.
	restoreErr error
}

// partition is the state of one events partition's users. Each partition
// has its own engine, so the tenant-wide context (how common a place or
// network is) is computed over the partition's users: a hash sample of the
// tenant, and a pure function of the partition's own history, which keeps
// outputs identical across crashes, restarts and rebalances.
type partition struct {
	eng       *detect.Engine
	users     map[string]*entry // key: record key (integration/user)
	dirty     []*entry          // changed in the current batch
	watermark int64             // latest event time seen, unix ms
	dedup     *dedupSet         // uuids over Config.DedupHorizon
	swept     int64             // watermark at the last idle sweep
}

// entry is one user's state. Kept at 1,792 bytes (a Go size class): the
// integration is derived from the key when needed.
type entry struct {
	key   string // integration/user, the record key
	u     detect.User
	dirty bool
	gone  bool // expired: write a tombstone
}

func (e *entry) integ() string { return integOf(e.key) }

// New validates cfg and returns a Processor.
func New(cfg Config) (*Processor, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("processor: no brokers")
	}
	if err := checkTrust(&cfg); err != nil {
		return nil, err
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.TransactionalID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "local"
		}
		cfg.TransactionalID = cfg.Group + "-" + host
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DedupHorizon <= 0 {
		cfg.DedupHorizon = 90 * 24 * time.Hour
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 5000
	}
	if cfg.RestoreTimeout <= 0 {
		cfg.RestoreTimeout = 2 * time.Minute
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Processor{
		cfg:   cfg,
		log:   cfg.Logger,
		m:     m,
		parts: map[int32]*partition{},
	}, nil
}

// Run consumes and processes until ctx is cancelled (returning nil).
//
// A transaction that cannot end leaves its session unusable (franz-go: no
// error from End is retryable), and its outputs are aborted, so Run then
// drops the in-memory state, closes the session and starts a new one after a
// backoff: it rejoins the group, restores its partitions from the changelog
// and reprocesses from the last committed offsets, so nothing is lost or
// counted twice. Only errors before the first session (topics missing or
// misconfigured) are returned.
func (p *Processor) Run(ctx context.Context) error {
	if err := bus.CheckStateTopics(ctx, p.cfg.Brokers, p.log, bus.TopicEvents, bus.TopicChangelog, p.cfg.ClientOpts...); err != nil {
		return fmt.Errorf("processor: %w", err)
	}
	// A static member does not leave the group when its client closes.
	defer func() {
		if ctx.Err() != nil {
			bus.LeaveGroup(p.cfg.Brokers, p.cfg.Group, p.cfg.TransactionalID, p.log, p.cfg.ClientOpts...)
		}
	}()
	backoff := time.Second
	for {
		err := p.runSession(ctx)
		p.dropAll()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || errors.Is(err, errCrashed) {
			return err
		}
		p.m.restarts.Inc()
		p.log.Error("processor session failed; starting a new one", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if backoff < 30*time.Second {
			backoff *= 2
		}
	}
}

// dropAll forgets every partition's state (the next session restores it).
func (p *Processor) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := range p.parts {
		p.drop(n)
	}
	p.restoreErr = nil
}

// runSession runs one transactional session until ctx ends (nil), the
// client closes (nil), or a transaction fails (the error).
func (p *Processor) runSession(ctx context.Context) error {
	opts := bus.TransactOpts(bus.TransactSpec{
		Brokers: p.cfg.Brokers, ClientID: "clarion-processor", TransactionalID: p.cfg.TransactionalID,
		Group: p.cfg.Group, Input: bus.TopicEvents, State: bus.TopicChangelog,
		OnAssigned: p.assigned, OnRevoked: p.revoked, Logger: p.log,
	})
	opts = append(opts, p.cfg.ClientOpts...)
	opts = append(opts, p.cfg.Signer.Opt())
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("processor: client: %w", err)
	}
	defer sess.Close()
	p.log.Info("processor started", "group", p.cfg.Group, "transactional_id", p.cfg.TransactionalID)

	batch := 0
	for {
		fs := sess.PollRecords(ctx, p.cfg.MaxPollRecords)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		if err := p.takeRestoreErr(); err != nil {
			return err
		}
		fs.EachError(func(t string, part int32, err error) {
			p.log.Warn("fetch error", "topic", t, "partition", part, "err", err)
		})
		if fs.NumRecords() == 0 {
			continue
		}
		batch++
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("processor: begin transaction: %w", err)
		}
		// The first failed produce aborts the records still buffered;
		// the transaction then aborts too: offsets are never committed
		// without every output of the records they cover.
		prod := kgo.AbortingFirstErrPromise(sess.Client())
		produce := func(r *kgo.Record) { sess.Produce(ctx, r, prod.Promise()) }
		start := time.Now()
		n, missing := p.processBatch(fs, produce)
		if p.cfg.crashAfterProduce != nil && p.cfg.crashAfterProduce(batch) {
			_ = sess.Client().Flush(ctx) // the records reach the log, uncommitted
			return errCrashed
		}
		try := kgo.TryCommit
		if missing {
			// A partition lost its state mid-batch (revoked): never commit
			// offsets past records that were not processed.
			try = kgo.TryAbort
		}
		prodErr := bus.FlushProduced(ctx, sess.Client(), prod)
		if prodErr != nil {
			try = kgo.TryAbort
		}
		committed, err := sess.End(ctx, try)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.m.txns.WithLabelValues("failed").Inc()
			return fmt.Errorf("processor: end transaction: %w", err)
		}
		if prodErr != nil {
			// Retried by a new session from the last committed offsets.
			p.m.txns.WithLabelValues("produce_failed").Inc()
			return fmt.Errorf("processor: a record could not be produced; transaction aborted: %w", prodErr)
		}
		if !committed {
			p.m.txns.WithLabelValues("aborted").Inc()
			p.log.Info("transaction aborted (rebalance); restoring state from the changelog", "records", n)
			if err := p.reloadOwned(ctx); err != nil {
				return err
			}
			continue
		}
		p.m.txns.WithLabelValues("committed").Inc()
		p.m.batchSeconds.Observe(time.Since(start).Seconds())
		fs.EachRecord(func(r *kgo.Record) {
			if ra, err := time.Parse(time.RFC3339Nano, bus.Header(r, bus.HeaderReceivedAt)); err == nil {
				p.m.latency.Observe(time.Since(ra).Seconds())
			}
		})
	}
}

func (p *Processor) takeRestoreErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.restoreErr
	p.restoreErr = nil
	return err
}

// processBatch runs every record through the detectors and produces the
// outputs and changelog records. It returns the number of records, and
// whether some were skipped because their partition has no state here.
func (p *Processor) processBatch(fs kgo.Fetches, produce func(*kgo.Record)) (n int, missing bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ev logevent.Event
	var res detect.Result
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		part := p.parts[fp.Partition]
		if part == nil {
			// Revoked while fetched: the transaction must abort.
			missing = true
			return
		}
		for _, r := range fp.Records {
			n++
			p.processRecord(part, r, &ev, &res, produce)
		}
		p.sweep(fp.Partition, part)
		var first int64
		if len(fp.Records) > 0 {
			first = fp.Records[0].Offset
		}
		minDay := dayOf(time.UnixMilli(part.watermark - p.cfg.DedupHorizon.Milliseconds()))
		part.dedup.flush(first, minDay, func(key string, value []byte) {
			produce(&kgo.Record{Topic: bus.TopicChangelog, Partition: fp.Partition, Key: []byte(key), Value: value})
		})
		p.m.dedupIDs.Set(float64(p.dedupLenLocked()))
		for _, e := range part.dirty {
			if !e.dirty {
				continue
			}
			e.dirty = false
			if e.gone {
				produce(&kgo.Record{Topic: bus.TopicChangelog, Partition: fp.Partition, Key: []byte(e.key)})
				delete(part.users, e.key)
				continue
			}
			produce(&kgo.Record{Topic: bus.TopicChangelog, Partition: fp.Partition, Key: []byte(e.key), Value: e.u.AppendBinary(nil)})
		}
		clear(part.dirty)
		part.dirty = part.dirty[:0]
	})
	return n, missing
}

func (p *Processor) processRecord(part *partition, r *kgo.Record, ev *logevent.Event, res *detect.Result, produce func(*kgo.Record)) {
	if record.IsUpdate(r) {
		p.processUpdate(part, r, res, produce)
		return
	}
	if err := logevent.Parse(r.Value, ev); err != nil {
		p.m.events.WithLabelValues("unparseable").Inc()
		produce(&kgo.Record{Topic: bus.TopicDeadLetter, Key: r.Key, Value: r.Value, Headers: append(r.Headers,
			kgo.RecordHeader{Key: "error", Value: []byte(err.Error())},
			kgo.RecordHeader{Key: "source_topic", Value: []byte(r.Topic)})})
		return
	}
	if ev.Published.IsZero() {
		// Unparseable published (a placeholder, as one public sample has):
		// time the event by when Clarion received it.
		p.m.publishedFallback.Inc()
		if t, err := time.Parse(time.RFC3339Nano, bus.Header(r, bus.HeaderReceivedAt)); err == nil {
			ev.Published = t.UTC()
		} else {
			ev.Published = r.Timestamp.UTC()
		}
	}
	day, id := dayOf(ev.Published), keyOfUUID(ev.UUID)
	if part.watermark > 0 && ev.Published.UnixMilli() < part.watermark-p.cfg.DedupHorizon.Milliseconds() {
		p.m.events.WithLabelValues("too_old").Inc()
		return
	}
	if part.dedup.seen(day, id) {
		p.m.events.WithLabelValues("duplicate").Inc()
		return
	}
	part.dedup.insert(day, id)
	integ := bus.Header(r, bus.HeaderIntegrationID)
	if integ == "" {
		integ = "unknown"
	}
	userKey := ev.UserKey()
	key := string(bus.AppendKey(nil, integ, userKey))
	e := part.users[key]
	if e == nil {
		e = &entry{key: key}
		part.users[key] = e
		p.m.users.Inc()
	}
	if e.gone {
		e.gone = false
	}
	part.eng.Process(integ, &e.u, ev, res)
	switch {
	case res.Duplicate:
		p.m.events.WithLabelValues("duplicate").Inc()
		return
	case res.Ignored:
		p.m.events.WithLabelValues("ignored").Inc()
	default:
		p.m.events.WithLabelValues("processed").Inc()
	}
	if !e.dirty {
		e.dirty = true
		part.dirty = append(part.dirty, e)
	}
	if t := ev.Published.UnixMilli(); t > part.watermark {
		part.watermark = t
	}
	okey := []byte(key)
	for i := range res.Anomalies {
		a := &res.Anomalies[i]
		b, err := json.Marshal(a)
		if err != nil {
			continue
		}
		p.m.anomalies.WithLabelValues(a.Type).Inc()
		produce(&kgo.Record{Topic: bus.TopicAnomalies, Key: okey, Value: b})
	}
	if res.Alert != nil {
		if b, err := json.Marshal(res.Alert); err == nil {
			p.m.alerts.Inc()
			produce(&kgo.Record{Topic: bus.TopicAlerts, Key: okey, Value: b})
		}
	}
}

// processUpdate applies an alert update (internal/record) to the user's
// state and writes the new alert version. An update that cannot be read
// goes to the dead-letter topic with the reason.
func (p *Processor) processUpdate(part *partition, r *kgo.Record, res *detect.Result, produce func(*kgo.Record)) {
	var up record.Update
	err := json.Unmarshal(r.Value, &up)
	if err == nil {
		err = up.Validate()
	}
	if err == nil && string(bus.KeyFor(up.IntegrationID, up.User.ID)) != string(r.Key) {
		err = errors.New("update key does not match its integration and user")
	}
	if err == nil {
		if err = p.acceptUpdate(r, &up); err != nil {
			p.m.updates.WithLabelValues("refused").Inc()
			produce(deadLetter(r, err))
			return
		}
	}
	if err != nil {
		p.m.updates.WithLabelValues("invalid").Inc()
		produce(&kgo.Record{Topic: bus.TopicDeadLetter, Key: r.Key, Value: r.Value, Headers: append(r.Headers,
			kgo.RecordHeader{Key: "error", Value: []byte(err.Error())},
			kgo.RecordHeader{Key: "source_topic", Value: []byte(r.Topic)})})
		return
	}
	key := string(r.Key)
	e := part.users[key]
	created := false
	if e == nil {
		// Unknown (expired) user: only an update carrying its alert
		// (Base) can change anything; the lesson of confirm_safe then
		// starts a fresh baseline.
		e = &entry{key: key}
		created = true
	}
	if !part.eng.ApplyUpdate(up.IntegrationID, &e.u, &up, res) {
		p.m.updates.WithLabelValues("no_change").Inc()
		return
	}
	p.m.updates.WithLabelValues(up.Kind).Inc()
	if created && e.u.NCities == 0 && e.u.NASNs == 0 {
		created, e = false, nil // nothing learned: keep no empty user
	}
	if created {
		part.users[key] = e
		p.m.users.Inc()
	}
	if e != nil {
		e.gone = false
		if !e.dirty {
			e.dirty = true
			part.dirty = append(part.dirty, e)
		}
	}
	if res.Alert != nil {
		if b, err := json.Marshal(res.Alert); err == nil {
			produce(&kgo.Record{Topic: bus.TopicAlerts, Key: r.Key, Value: b})
		}
	}
}

func (p *Processor) dedupLenLocked() int {
	n := 0
	for _, part := range p.parts {
		n += part.dedup.len()
	}
	return n
}

// sweep expires users idle for Params.IdleTTL of event time, once the
// partition's watermark has moved an hour since the last sweep.
func (p *Processor) sweep(_ int32, part *partition) {
	if part.watermark-part.swept < time.Hour.Milliseconds() {
		return
	}
	part.swept = part.watermark
	now := time.UnixMilli(part.watermark)
	for _, e := range part.users {
		if !e.gone && part.eng.Expired(&e.u, now) {
			part.eng.Detach(e.integ(), &e.u)
			e.gone = true
			if !e.dirty {
				e.dirty = true
				part.dirty = append(part.dirty, e)
			}
			p.m.expired.Inc()
			p.m.users.Dec()
		}
	}
}
