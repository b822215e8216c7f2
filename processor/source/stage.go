package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// Topics of the stage.
const (
	// TopicAttempts holds one Attempt (Attempt.AppendBinary) per source key of each
	// credential attempt, keyed by integration/source key: the events,
	// repartitioned by source. The stage writes and reads it itself.
	TopicAttempts = "clarion.source.attempts"
	// TopicChangelog is the stage's compacted state, one Source per key,
	// partitioned like TopicAttempts.
	TopicChangelog = "clarion.source.changelog"
)

// DefaultGroup is the consumer group of source stages.
const DefaultGroup = "clarion-source"

// Topics returns the stage's topic specs with partitions partitions (the
// unit of the stage's parallelism; 0: 12, as bus.Topics).
func Topics(partitions int32) []bus.TopicSpec {
	if partitions <= 0 {
		partitions = 12
	}
	return []bus.TopicSpec{
		// Attempts are derived from raw events: kept as long as they are.
		{Name: TopicAttempts, Partitions: partitions, Configs: map[string]*string{"cleanup.policy": ptr("delete"), "retention.ms": ptr(strconv.FormatInt(bus.DefaultEventsRetention.Milliseconds(), 10))}},
		{Name: TopicChangelog, Partitions: partitions, Configs: map[string]*string{"cleanup.policy": ptr("compact")}},
	}
}

func ptr(s string) *string { return &s }

// Config configures a Stage. Zero values take the documented defaults.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Default DefaultGroup.
	Group string
	// TransactionalID must be unique per running instance and stable
	// across its restarts. Default Group + "-" + the host name.
	TransactionalID string
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Params tunes the detector; zero fields take DefaultParams.
	Params Params
	// Partitions of the stage's topics when it creates them. Default: as
	// many as clarion.okta.events has.
	Partitions int32
	// MaxPollRecords bounds the records in one transaction. Default 5000.
	MaxPollRecords int
	// RestoreTimeout bounds a restore from the changelog. Default 2 minutes.
	RestoreTimeout time.Duration
	// ClientOpts are extra franz-go options (TLS, SASL, ...).
	ClientOpts []kgo.Opt

	// crashAfterProduce, in tests, makes Run stop after producing batch n's
	// records and before committing them, as a killed process would.
	crashAfterProduce func(batch int) bool
}

var errCrashed = errors.New("source: simulated crash between produce and commit")

// Stage is the tenant-wide stage on Kafka. In one consumer group and one
// transactional session it (1) reads clarion.okta.events and writes each
// credential attempt to TopicAttempts keyed by source, and (2) reads
// TopicAttempts, keeps each source's state per partition, and writes
// anomalies to clarion.anomalies and the state to TopicChangelog. Both
// steps commit their outputs, the changelog and the consumer offsets in
// one Kafka transaction per batch, so a crash or rebalance neither loses
// nor double-counts an attempt. The record order of a TopicAttempts
// partition, fixed once committed, is what the detector's output is a
// function of, so a replay after a crash gives the same anomalies.
type Stage struct {
	cfg Config
	log *slog.Logger
	eng *Engine

	mu         sync.Mutex
	parts      map[int32]*partition
	restoreErr error
}

type partition struct {
	srcs      map[string]*entry
	dirty     []*entry
	watermark int64
	swept     int64
}

type entry struct {
	key   string // integration/source key
	s     Source
	dirty bool
}

// New validates cfg and returns a Stage.
func New(cfg Config) (*Stage, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("source: no brokers")
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
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 5000
	}
	if cfg.RestoreTimeout <= 0 {
		cfg.RestoreTimeout = 2 * time.Minute
	}
	return &Stage{cfg: cfg, log: cfg.Logger, eng: NewEngine(cfg.Params), parts: map[int32]*partition{}}, nil
}

// Run consumes until ctx is cancelled (nil). A failed transaction drops
// the in-memory state and starts a new session after a backoff, which
// restores from the changelog and resumes at the committed offsets. Only
// errors before the first session (topics) are returned.
func (st *Stage) Run(ctx context.Context) error {
	if err := st.ensureTopics(ctx); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	backoff := time.Second
	for {
		err := st.runSession(ctx)
		st.dropAll()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errCrashed) {
			return err
		}
		st.log.Error("source stage session failed; starting a new one", "err", err, "retry_in", backoff)
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

// ensureTopics creates Clarion's topics and the stage's (with as many
// partitions as the events topic), then checks the changelog follows the
// attempts topic.
func (st *Stage) ensureTopics(ctx context.Context) error {
	cl, err := bus.NewClient(st.cfg.Brokers, st.log, st.cfg.ClientOpts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := bus.EnsureTopics(ctx, cl, bus.Topics(0)); err != nil {
		return err
	}
	n := st.cfg.Partitions
	if n <= 0 {
		td, err := kadm.NewClient(cl).ListTopics(ctx, bus.TopicEvents)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		n = int32(len(td[bus.TopicEvents].Partitions))
	}
	if err := bus.EnsureTopics(ctx, cl, Topics(n)); err != nil {
		return err
	}
	return bus.CheckStateTopics(ctx, st.cfg.Brokers, st.log, TopicAttempts, TopicChangelog, st.cfg.ClientOpts...)
}

func (st *Stage) dropAll() {
	st.mu.Lock()
	defer st.mu.Unlock()
	clear(st.parts)
	st.restoreErr = nil
}

func (st *Stage) runSession(ctx context.Context) error {
	opts := bus.TransactOpts(bus.TransactSpec{
		Brokers: st.cfg.Brokers, ClientID: "clarion-source", TransactionalID: st.cfg.TransactionalID,
		Group: st.cfg.Group, Input: TopicAttempts, State: TopicChangelog,
		OnAssigned: st.assigned, OnRevoked: st.revoked, Logger: st.log,
	})
	// Consume the events too: step (1), stateless, in the same transactions.
	opts = append(opts, kgo.ConsumeTopics(bus.TopicEvents, TopicAttempts))
	opts = append(opts, st.cfg.ClientOpts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("source: client: %w", err)
	}
	defer sess.Close()
	st.log.Info("source stage started", "group", st.cfg.Group, "transactional_id", st.cfg.TransactionalID)
	batch := 0
	for {
		fs := sess.PollRecords(ctx, st.cfg.MaxPollRecords)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		if err := st.takeRestoreErr(); err != nil {
			return err
		}
		fs.EachError(func(t string, p int32, err error) {
			st.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("source: begin transaction: %w", err)
		}
		var prodErr bus.FirstErr
		produce := func(r *kgo.Record) {
			sess.Produce(ctx, r, func(_ *kgo.Record, err error) { prodErr.Set(err) })
		}
		missing := st.processBatch(fs, produce)
		batch++
		if st.cfg.crashAfterProduce != nil && st.cfg.crashAfterProduce(batch) {
			_ = sess.Client().Flush(ctx) // the records reach the log, uncommitted
			return errCrashed
		}
		try := kgo.TryCommit
		if missing {
			try = kgo.TryAbort
		}
		committed, err := sess.End(ctx, try)
		if err == nil && prodErr.Err() != nil {
			err = prodErr.Err()
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("source: end transaction: %w", err)
		}
		if !committed {
			st.log.Info("transaction aborted (rebalance); restoring state from the changelog")
			if err := st.reloadOwned(ctx); err != nil {
				return err
			}
		}
	}
}

func (st *Stage) takeRestoreErr() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	err := st.restoreErr
	st.restoreErr = nil
	return err
}

// processBatch runs one fetch: events become attempts, attempts update
// their sources. It reports whether an attempts partition had no state.
func (st *Stage) processBatch(fs kgo.Fetches, produce func(*kgo.Record)) (missing bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var ev logevent.Event
	var buf []Attempt
	var a Attempt
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic == bus.TopicEvents {
			for _, r := range fp.Records {
				buf = route(r, &ev, buf[:0], produce)
			}
			return
		}
		part := st.parts[fp.Partition]
		if part == nil {
			missing = true
			return
		}
		for _, r := range fp.Records {
			a = Attempt{}
			if err := a.UnmarshalBinary(r.Value); err != nil || a.Subject == "" {
				produce(&kgo.Record{Topic: bus.TopicDeadLetter, Key: r.Key, Value: r.Value, Headers: []kgo.RecordHeader{
					{Key: "error", Value: []byte(fmt.Sprintf("source: unreadable attempt: %v", err))},
					{Key: "source_topic", Value: []byte(r.Topic)}}})
				continue
			}
			integ := bus.Header(r, bus.HeaderIntegrationID)
			key := string(r.Key)
			e := part.srcs[key]
			if e == nil {
				e = &entry{key: key}
				part.srcs[key] = e
			}
			an := st.eng.Process(integ, &e.s, &a)
			if !e.dirty {
				e.dirty = true
				part.dirty = append(part.dirty, e)
			}
			if a.T > part.watermark {
				part.watermark = a.T
			}
			if an != nil {
				if b, err := json.Marshal(an); err == nil {
					produce(&kgo.Record{Topic: bus.TopicAnomalies, Key: r.Key, Value: b})
				}
			}
		}
		st.sweep(part)
		for _, e := range part.dirty {
			e.dirty = false
			if st.eng.Expired(&e.s, part.watermark) {
				produce(&kgo.Record{Topic: TopicChangelog, Partition: fp.Partition, Key: []byte(e.key)})
				delete(part.srcs, e.key)
				continue
			}
			if b, err := e.s.AppendBinary(nil); err == nil {
				produce(&kgo.Record{Topic: TopicChangelog, Partition: fp.Partition, Key: []byte(e.key), Value: b})
			}
		}
		clear(part.dirty)
		part.dirty = part.dirty[:0]
	})
	return missing
}

// route turns one events record into attempt records keyed by source.
func route(r *kgo.Record, ev *logevent.Event, buf []Attempt, produce func(*kgo.Record)) []Attempt {
	if record.IsUpdate(r) || logevent.Parse(r.Value, ev) != nil {
		return buf // updates are the processor's; it dead-letters the unparseable
	}
	if ev.Published.IsZero() {
		if t, err := time.Parse(time.RFC3339Nano, bus.Header(r, bus.HeaderReceivedAt)); err == nil {
			ev.Published = t.UTC()
		} else {
			ev.Published = r.Timestamp.UTC()
		}
	}
	integ := bus.Header(r, bus.HeaderIntegrationID)
	if integ == "" {
		integ = "unknown"
	}
	buf = Attempts(buf, ev)
	for i := range buf {
		produce(&kgo.Record{Topic: TopicAttempts, Key: bus.KeyFor(integ, buf[i].Subject), Value: buf[i].AppendBinary(nil),
			Headers: []kgo.RecordHeader{{Key: bus.HeaderIntegrationID, Value: []byte(integ)}}})
	}
	return buf
}

// sweep expires sources idle for IdleTTL, once the partition's watermark
// has moved an hour since the last sweep.
func (st *Stage) sweep(part *partition) {
	if part.watermark-part.swept < time.Hour.Milliseconds() {
		return
	}
	part.swept = part.watermark
	for _, e := range part.srcs {
		if !e.dirty && st.eng.Expired(&e.s, part.watermark) {
			e.dirty = true
			part.dirty = append(part.dirty, e)
		}
	}
}

func (st *Stage) assigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	parts := m[TopicAttempts]
	if len(parts) == 0 {
		return
	}
	if err := st.restore(ctx, parts); err != nil {
		st.log.Error("restore from changelog failed", "partitions", parts, "err", err)
		st.mu.Lock()
		st.restoreErr = err
		st.mu.Unlock()
	}
}

func (st *Stage) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, n := range m[TopicAttempts] {
		delete(st.parts, n)
	}
}

func (st *Stage) reloadOwned(ctx context.Context) error {
	st.mu.Lock()
	parts := make([]int32, 0, len(st.parts))
	for n := range st.parts {
		parts = append(parts, n)
	}
	st.mu.Unlock()
	return st.restore(ctx, parts)
}

// restore reads changelog partitions parts up to their last stable offset.
func (st *Stage) restore(ctx context.Context, parts []int32) error {
	ctx, cancel := context.WithTimeout(ctx, st.cfg.RestoreTimeout)
	defer cancel()
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	fresh := map[int32]*partition{}
	for _, n := range parts {
		fresh[n] = &partition{srcs: map[string]*entry{}}
	}
	cl, err := bus.NewClient(st.cfg.Brokers, st.log, append([]kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
	}, st.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("source: restore client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, TopicChangelog)
	if err != nil {
		return fmt.Errorf("source: changelog offsets: %w", err)
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	for _, n := range parts {
		lo, ok := ends.Lookup(TopicChangelog, n)
		if !ok || lo.Err != nil {
			return fmt.Errorf("source: changelog partition %d end offset: %v", n, lo.Err)
		}
		if lo.Offset > 0 {
			want[n] = lo.Offset
			offs[n] = kgo.NewOffset().AtStart()
		}
	}
	corrupt := 0
	if len(want) > 0 {
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{TopicChangelog: offs})
		for len(want) > 0 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("source: restore %v: %w", parts, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				end, ok := want[r.Partition]
				if !ok || r.Offset >= end {
					return
				}
				if r.Offset+1 >= end {
					delete(want, r.Partition)
				}
				if r.Attrs.IsControl() {
					return
				}
				part := fresh[r.Partition]
				key := string(r.Key)
				if r.Value == nil {
					delete(part.srcs, key)
					return
				}
				e := &entry{key: key}
				if err := e.s.UnmarshalBinary(r.Value); err != nil {
					corrupt++
					st.log.Warn("skipping corrupt changelog record", "partition", r.Partition, "offset", r.Offset, "err", err)
					delete(part.srcs, key)
					return
				}
				part.srcs[key] = e
			})
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, p := range parts {
		part := fresh[p]
		for _, e := range part.srcs {
			if e.s.LastSeen > part.watermark {
				part.watermark = e.s.LastSeen
			}
			n++
		}
		part.swept = part.watermark
		st.parts[p] = part
	}
	st.log.Info("restored sources from changelog", "partitions", parts, "sources", n, "corrupt", corrupt)
	return nil
}
