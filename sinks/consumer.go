package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// Headers a sink adds to a record it sends to bus.TopicDeadLetter. The
// record keeps its key, value and original headers.
const (
	HeaderDLQReason    = "dlq_reason"    // why the record could not be stored
	HeaderDLQSink      = "dlq_sink"      // which sink rejected it: clickhouse, parquet
	HeaderDLQTopic     = "dlq_topic"     // the topic it was read from
	HeaderDLQPartition = "dlq_partition" // its partition there
	HeaderDLQOffset    = "dlq_offset"    // its offset there
)

// Writer stores batches. Write must return nil only once every row of the
// batch is durable. A failed Write is retried with the same batch, with
// backoff, until it succeeds or the sink stops, so a Write that partly
// succeeded must be safe to repeat (idempotent inserts, deterministic file
// names). Rows of one partition are in offset order.
type Writer interface {
	Write(ctx context.Context, b *Batch) error
}

// ConsumerConfig configures the consume-batch-write-commit loop shared by
// the sinks.
type ConsumerConfig struct {
	// Name labels logs and metrics: "clickhouse", "parquet". Required.
	Name string
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Group is the consumer group; one group per sink, so each sink sees
	// every record. Required.
	Group string
	// Topics to consume. Default DefaultTopics. Each must have a table
	// (TableFor).
	Topics []string
	// BatchSize flushes once this many records are buffered. Default 50,000.
	BatchSize int
	// FlushInterval flushes a non-empty buffer this long after its first
	// record arrived. Default 1 s. Rebalances wait for the flush, so keep it
	// well under the group's rebalance timeout (60 s).
	FlushInterval time.Duration
	// MaxBackoff caps the wait between retries of a failed write. Default 30 s.
	MaxBackoff time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Metrics from NewMetrics. Default: unregistered metrics.
	Metrics *Metrics
	// KafkaOpts are extra franz-go options (tests, TLS, SASL).
	KafkaOpts []kgo.Opt
}

// Consumer reads Clarion's topics with a consumer group, decodes each record
// into its table's row, and calls a Writer with batches. Offsets are
// committed only after the Writer returned nil and dead letters were acked,
// so a crash or a backend outage never loses a record: the uncommitted
// records are read again. While the Writer fails, the Consumer retries the
// same batch with exponential backoff and reads nothing more, so nothing is
// reordered and memory stays bounded.
type Consumer struct {
	cfg ConsumerConfig
	w   Writer
	log *slog.Logger
	m   *Metrics
}

// NewConsumer checks cfg and returns a Consumer for w.
func NewConsumer(cfg ConsumerConfig, w Writer) (*Consumer, error) {
	if cfg.Name == "" {
		return nil, errors.New("sinks: consumer needs a name")
	}
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("sinks: %s: no Kafka brokers", cfg.Name)
	}
	if cfg.Group == "" {
		return nil, fmt.Errorf("sinks: %s: no consumer group", cfg.Name)
	}
	if len(cfg.Topics) == 0 {
		cfg.Topics = DefaultTopics
	}
	for _, t := range cfg.Topics {
		if _, ok := TableFor(t); !ok {
			return nil, fmt.Errorf("sinks: %s: topic %q: %w", cfg.Name, t, ErrUnknownTopic)
		}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 50_000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, cfg.Name)
	}
	return &Consumer{cfg: cfg, w: w, log: cfg.Logger.With("sink", cfg.Name), m: cfg.Metrics}, nil
}

// Run consumes until ctx is cancelled, then flushes what it holds (for at
// most 10 s), commits, leaves the group and returns nil.
func (c *Consumer) Run(ctx context.Context) error {
	var rebalanceWaiting atomic.Bool
	opts := []kgo.Opt{
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64 << 20),
		// A rebalance waits for us: store what we hold and let it proceed.
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { rebalanceWaiting.Store(true) }),
	}
	opts = append(opts, bus.ProducerOpts(0)...)
	opts = append(opts, c.cfg.KafkaOpts...)
	cl, err := bus.NewClient(c.cfg.Brokers, c.log, opts...)
	if err != nil {
		return fmt.Errorf("sinks: %s: kafka client: %w", c.cfg.Name, err)
	}
	// With BlockRebalanceOnPoll, leaving the group on Close waits for a
	// rebalance that a blocked poll holds back: allow it first.
	defer func() { cl.AllowRebalance(); cl.Close() }()

	// Dead letters need their topic; the others are created by whoever runs
	// bus.EnsureTopics at start. A failure here is not fatal: the produce is
	// retried (and logged) at the first dead letter.
	for _, spec := range bus.Topics(0) {
		if spec.Name == bus.TopicDeadLetter {
			ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := bus.EnsureTopics(ectx, cl, []bus.TopicSpec{spec}); err != nil && ctx.Err() == nil {
				c.log.Warn("cannot create the dead-letter topic yet", "topic", spec.Name, "err", err)
			}
			cancel()
		}
	}

	// Two batches at most: one being flushed in the background (inflight)
	// while the next one fills. Flushes run one after another, so offsets
	// are committed in order. A flush only fails when ctx ends; after that
	// nothing later is flushed, so no commit ever passes unstored records.
	var (
		cur       = newState()
		inflight  chan error
		failed    bool
		lastDrain = time.Now()
	)
	waitInflight := func() {
		if inflight != nil {
			if err := <-inflight; err != nil {
				failed = true
			}
			inflight = nil
		}
	}
	drainEvery := max(10*time.Second, c.cfg.FlushInterval)
	for {
		if ctx.Err() != nil || failed {
			waitInflight()
			if !failed && cur.pending > 0 {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := c.flush(sctx, cl, cur); err != nil {
					c.log.Warn("final flush failed; the records will be read again", "records", cur.pending, "err", err)
				}
				cancel()
			}
			return nil
		}
		wait := c.cfg.FlushInterval
		if cur.pending > 0 {
			wait = time.Until(cur.first.Add(c.cfg.FlushInterval))
		}
		pctx, cancel := context.WithTimeout(ctx, max(wait, 0))
		fs := cl.PollRecords(pctx, c.cfg.BatchSize-cur.pending)
		cancel()
		if fs.IsClientClosed() {
			waitInflight()
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			c.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			for _, r := range p.Records {
				c.add(cur, r)
			}
			// read_committed: the end a consumer can reach is the last
			// stable offset (below open transactions), not the high watermark.
			end := p.HighWatermark
			if p.LastStableOffset > 0 && p.LastStableOffset < end {
				end = p.LastStableOffset
			}
			last := p.Records[len(p.Records)-1]
			c.m.lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(end-last.Offset-1, 0)))
		})
		if cur.pending > 0 && (cur.pending >= c.cfg.BatchSize || time.Since(cur.first) >= c.cfg.FlushInterval) {
			waitInflight()
			if failed {
				continue
			}
			done, s := make(chan error, 1), cur
			go func() { done <- c.flush(ctx, cl, s) }()
			inflight, cur = done, newState()
		}
		if inflight != nil {
			select {
			case err := <-inflight:
				inflight, failed = nil, err != nil
			default:
			}
		}
		switch {
		case cur.pending == 0 && inflight == nil:
			rebalanceWaiting.Store(false)
			cl.AllowRebalance()
			lastDrain = time.Now()
		case rebalanceWaiting.Load() || time.Since(lastDrain) >= drainEvery:
			// Under steady load a batch is always filling: now and then
			// store everything so that a pending rebalance can proceed.
			waitInflight()
			if !failed && cur.pending > 0 {
				if err := c.flush(ctx, cl, cur); err != nil {
					failed = true
					continue
				}
				cur = newState()
			}
			rebalanceWaiting.Store(false)
			cl.AllowRebalance()
			lastDrain = time.Now()
		}
	}
}

// state is one batch: the records polled since the last flush, decoded.
type state struct {
	batch   *Batch
	dead    []*kgo.Record
	sentDLQ bool                           // dead letters of this batch already acked
	last    map[TopicPartition]*kgo.Record // last record per partition, to commit
	pending int                            // records, dead letters included
	first   time.Time
	ev      logevent.Event
}

func newState() *state {
	return &state{batch: &Batch{Ranges: map[TopicPartition]OffsetRange{}}, last: map[TopicPartition]*kgo.Record{}}
}

func (c *Consumer) add(s *state, r *kgo.Record) {
	if s.pending == 0 {
		s.first = time.Now()
	}
	s.pending++
	c.m.records.WithLabelValues(r.Topic).Inc()
	tp := TopicPartition{r.Topic, r.Partition}
	s.last[tp] = r
	if rg, ok := s.batch.Ranges[tp]; ok {
		rg.Last = r.Offset
		s.batch.Ranges[tp] = rg
	} else {
		s.batch.Ranges[tp] = OffsetRange{r.Offset, r.Offset}
	}
	if r.Topic == bus.TopicEvents && record.IsUpdate(r) {
		// An alert update for the processor (header source=clarion),
		// not an Okta event: nothing to store, nothing wrong with it. Its
		// offset is committed with the batch.
		c.m.ignored.WithLabelValues(r.Topic, IgnoredAlertUpdate).Inc()
		return
	}
	b := s.batch
	table, _ := TableFor(r.Topic)
	var err error
	switch table {
	case TableEvents:
		if b.Events == nil {
			b.Events = make([]EventRow, 0, min(c.cfg.BatchSize, 1<<14))
		}
		b.Events = append(b.Events, EventRow{})
		if err = DecodeEvent(r, &s.ev, &b.Events[len(b.Events)-1]); err != nil {
			b.Events = b.Events[:len(b.Events)-1]
		}
	case TableAnomalies:
		b.Anomalies = append(b.Anomalies, AnomalyRow{})
		if err = DecodeAnomaly(r, &b.Anomalies[len(b.Anomalies)-1]); err != nil {
			b.Anomalies = b.Anomalies[:len(b.Anomalies)-1]
		}
	case TableAlerts:
		b.Alerts = append(b.Alerts, AlertRow{})
		if err = DecodeAlert(r, &b.Alerts[len(b.Alerts)-1]); err != nil {
			b.Alerts = b.Alerts[:len(b.Alerts)-1]
		}
	case TableActions:
		b.Actions = append(b.Actions, ActionRow{})
		if err = DecodeAction(r, &b.Actions[len(b.Actions)-1]); err != nil {
			b.Actions = b.Actions[:len(b.Actions)-1]
		}
	case TableTriageRuns:
		b.TriageRuns = append(b.TriageRuns, TriageRunRow{})
		if err = DecodeTriageRun(r, &b.TriageRuns[len(b.TriageRuns)-1]); err != nil {
			b.TriageRuns = b.TriageRuns[:len(b.TriageRuns)-1]
		}
	case TableAudit:
		b.Audit = append(b.Audit, AuditRow{})
		if err = DecodeAudit(r, &b.Audit[len(b.Audit)-1]); err != nil {
			b.Audit = b.Audit[:len(b.Audit)-1]
		}
	default:
		err = ErrUnknownTopic
	}
	if err != nil {
		s.dead = append(s.dead, c.deadLetter(r, err))
	}
}

func (c *Consumer) deadLetter(r *kgo.Record, reason error) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, len(r.Headers)+5)
	h = append(h, r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason.Error())},
		kgo.RecordHeader{Key: HeaderDLQSink, Value: []byte(c.cfg.Name)},
		kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	c.m.deadLetters.WithLabelValues(r.Topic, reason.Error()).Inc()
	c.log.Warn("record sent to dead-letter topic", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
	return &kgo.Record{Topic: bus.TopicDeadLetter, Key: r.Key, Value: r.Value, Headers: h}
}

// flush makes the buffer durable, retrying with backoff until it succeeds
// or ctx ends, then commits the polled offsets.
func (c *Consumer) flush(ctx context.Context, cl *kgo.Client, s *state) error {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := c.flushOnce(ctx, cl, s)
		if err == nil {
			c.m.flushSeconds.Observe(time.Since(start).Seconds())
			c.m.up.Set(1)
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.m.writeErrors.Inc()
		c.m.up.Set(0)
		c.log.Warn("write failed; retrying the same batch", "records", s.pending, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
	last := make([]*kgo.Record, 0, len(s.last))
	for _, r := range s.last {
		last = append(last, r)
	}
	if err := cl.CommitRecords(ctx, last...); err != nil {
		// The rows are durable; the records will be read again after a
		// restart or rebalance and deduplicated by the writer.
		c.m.commitErrors.Inc()
		c.log.Warn("offset commit failed", "err", err)
	}
	c.m.lastFlush.SetToCurrentTime()
	return nil
}

func (c *Consumer) flushOnce(ctx context.Context, cl *kgo.Client, s *state) error {
	// Dead letters first: a writer's durable output (Parquet files) is the
	// resume point after a crash, so whatever it covers must already be
	// in the dead-letter topic.
	if len(s.dead) > 0 && !s.sentDLQ {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(pctx, s.dead...).FirstErr(); err != nil {
			return fmt.Errorf("produce dead letters: %w", err)
		}
		s.sentDLQ = true
	}
	if s.batch.Rows() == 0 {
		return nil
	}
	if err := c.w.Write(ctx, s.batch); err != nil {
		return err
	}
	c.m.rows.WithLabelValues(TableEvents).Add(float64(len(s.batch.Events)))
	c.m.rows.WithLabelValues(TableAnomalies).Add(float64(len(s.batch.Anomalies)))
	c.m.rows.WithLabelValues(TableAlerts).Add(float64(len(s.batch.Alerts)))
	c.m.rows.WithLabelValues(TableActions).Add(float64(len(s.batch.Actions)))
	c.m.rows.WithLabelValues(TableTriageRuns).Add(float64(len(s.batch.TriageRuns)))
	c.m.rows.WithLabelValues(TableAudit).Add(float64(len(s.batch.Audit)))
	return nil
}

// IgnoredAlertUpdate is the reason label of clarion_sink_records_ignored_total
// for an alert update (internal/record.Update, header source=clarion) read
// from clarion.okta.events: it is input for the processor, not an Okta
// event, so the sinks skip it.
const IgnoredAlertUpdate = "alert_update"

// Metrics are a sink's Prometheus collectors, all named clarion_sink_* and
// labelled sink="<name>".
type Metrics struct {
	records      *prometheus.CounterVec
	rows         *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	ignored      *prometheus.CounterVec
	writeErrors  prometheus.Counter
	commitErrors prometheus.Counter
	flushSeconds prometheus.Histogram
	lag          *prometheus.GaugeVec
	up           prometheus.Gauge
	lastFlush    prometheus.Gauge
	// Bytes counts bytes written per table (Parquet files).
	Bytes *prometheus.CounterVec
	// Skipped counts records already stored before a restart, skipped.
	Skipped *prometheus.CounterVec
}

// NewMetrics creates a sink's collectors and registers them with reg (nil:
// not registered). Two sinks may share reg: their sink labels differ.
func NewMetrics(reg prometheus.Registerer, sink string) *Metrics {
	constLabels := prometheus.Labels{"sink": sink}
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clarion_sink_records_total",
			Help: "Kafka records consumed, by topic.", ConstLabels: constLabels}, []string{"topic"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clarion_sink_rows_written_total",
			Help: "Rows made durable, by table.", ConstLabels: constLabels}, []string{"table"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clarion_sink_dead_letters_total",
			Help: "Records sent to the dead-letter topic, by topic and reason.", ConstLabels: constLabels}, []string{"topic", "reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clarion_sink_records_ignored_total",
			Help:        "Records consumed and deliberately not stored (not dead letters), by topic and reason: alert_update = an alert update for the processor on the events topic.",
			ConstLabels: constLabels}, []string{"topic", "reason"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "clarion_sink_write_errors_total",
			Help: "Failed write attempts (each is retried).", ConstLabels: constLabels}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "clarion_sink_commit_errors_total",
			Help: "Failed offset commits.", ConstLabels: constLabels}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clarion_sink_flush_duration_seconds",
			Help: "Time to make one batch durable.", ConstLabels: constLabels, Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "clarion_sink_consumer_lag",
			Help: "Records behind the partition's high watermark at the last fetch.", ConstLabels: constLabels}, []string{"topic", "partition"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clarion_sink_backend_up",
			Help: "1 when the last write succeeded, 0 while writes fail.", ConstLabels: constLabels}),
		lastFlush: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clarion_sink_last_flush_timestamp_seconds",
			Help: "Unix time of the last successful flush.", ConstLabels: constLabels}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clarion_sink_bytes_written_total",
			Help: "Bytes written, by table.", ConstLabels: constLabels}, []string{"table"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clarion_sink_rows_skipped_total",
			Help: "Rows skipped because they were already stored before a restart, by table.", ConstLabels: constLabels}, []string{"table"}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.rows, m.deadLetters, m.ignored, m.writeErrors, m.commitErrors, m.flushSeconds, m.lag, m.up, m.lastFlush, m.Bytes, m.Skipped)
	}
	return m
}
