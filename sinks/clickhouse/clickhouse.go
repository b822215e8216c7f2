// Package clickhouse is the sink that stores every record of Clarion's topics
// in ClickHouse (database clarion: okta_events, anomalies, alerts, actions,
// triage_runs). Alert updates on clarion.okta.events (header
// source=clarion) are input for the processor, not Okta events: skipped.
//
// It consumes with its own consumer group, batches by size or time, inserts
// each table's rows with one column-oriented PrepareBatch that names its
// columns (the only insert form Debian's ClickHouse 18.16 accepts from
// clickhouse-go), and commits offsets only after every insert succeeded.
// While ClickHouse is down it retries the same batch with backoff and reads
// nothing more: nothing is lost or reordered. A retried insert never
// duplicates a row in query results: every table is a ReplacingMergeTree
// keyed by the event uuid or record id (query with FINAL), and on servers
// that have it each insert carries an insert_deduplication_token derived
// from its offsets, so the server drops the repeated block outright.
//
// The schema is migrated at start (package schemas), in the dialect of the
// server found there.
package clickhouse

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	chproto "github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/clarion-itdr/clarion/schemas"
	"github.com/clarion-itdr/clarion/sinks"
)

// Config configures a Sink. Zero values get the defaults named.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Addr is ClickHouse's native-protocol address, host:port (9000). Required.
	Addr string
	// Username and Password for ClickHouse. Default user "default", no password.
	Username, Password string
	// TLS on the native protocol (the secure port, 9440; ClickHouse Cloud).
	// Zero: plain TCP.
	TLS TLS
	// Cluster, when set, migrates with ON CLUSTER DDL (Replicated tables
	// behind Distributed ones, schemas.Options.Cluster) and inserts into
	// the Distributed tables. ClickHouse 22.3 and later. Default "".
	Cluster string
	// Database holds the tables. Default "clarion".
	Database string
	// Group is the Kafka consumer group. Default "clarion-sink-clickhouse".
	Group string
	// Topics to store. Default sinks.DefaultTopics (events, anomalies,
	// alerts, actions, triage); each goes to its table.
	Topics []string
	// BatchSize flushes after this many records. Default 50,000.
	BatchSize int
	// FlushInterval flushes a non-empty batch this long after its first
	// record. Default 1 s.
	FlushInterval time.Duration
	// Retention is the rows' TTL on current ClickHouse (set when a table
	// is created). Zero keeps rows forever. Old servers have no TTL.
	Retention time.Duration
	// InsertTimeout bounds one insert; a timed-out insert is retried.
	// Default 60 s.
	InsertTimeout time.Duration
	// MaxBackoff caps the wait between retries while ClickHouse is
	// unreachable. Default 30 s.
	MaxBackoff time.Duration
	// InsertConcurrency is how many inserts of one table a flush sends at
	// once, over separate connections (batches under 4,000 rows go as one).
	// Default 1: on a small machine the server is the bottleneck and
	// concurrent inserts only contend; raise it for a large server.
	InsertConcurrency int
	// Compression of the native protocol: "none" (default; best when
	// ClickHouse is on the same host or a fast network), "lz4" or "zstd"
	// (raw Okta JSON compresses about 10×: use one across a WAN).
	Compression string
	// BlockRows is how many rows go in one native block of an insert.
	// Default 8,192.
	BlockRows int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the clarion_sink_* metrics (sink="clickhouse").
	// Nil: no metrics.
	Registerer prometheus.Registerer
	// KafkaOpts are extra franz-go options (TLS, SASL, tests).
	KafkaOpts []kgo.Opt
}

// Sink stores Clarion's topics in ClickHouse.
type Sink struct {
	cfg      Config
	log      *slog.Logger
	consumer *sinks.Consumer
	conn     driver.Conn
	modern   bool
	tls      *tls.Config
}

// New checks cfg and returns a Sink. It does not connect: Run does, and
// waits for ClickHouse when it is not up yet.
func New(cfg Config) (*Sink, error) {
	if cfg.Addr == "" {
		return nil, errors.New("clickhouse sink: no ClickHouse address")
	}
	if cfg.Database == "" {
		cfg.Database = "clarion"
	}
	if cfg.Group == "" {
		cfg.Group = "clarion-sink-clickhouse"
	}
	if cfg.InsertTimeout <= 0 {
		cfg.InsertTimeout = 60 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.InsertConcurrency <= 0 {
		cfg.InsertConcurrency = 1
	}
	switch cfg.Compression {
	case "", "none", "lz4", "zstd":
	default:
		return nil, fmt.Errorf("clickhouse sink: unknown compression %q (none, lz4, zstd)", cfg.Compression)
	}
	if cfg.BlockRows <= 0 {
		cfg.BlockRows = 8192
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Username == "" {
		cfg.Username = "default"
	}
	// The dialect is the server's, known only at Run; a cluster needs the
	// modern one, so check the rest with it.
	if _, err := schemas.NewPlan(schemas.Options{Database: cfg.Database, Retention: cfg.Retention, Cluster: cfg.Cluster, Dialect: schemas.Dialect{Modern: cfg.Cluster != ""}}); err != nil {
		return nil, fmt.Errorf("clickhouse sink: %w", err)
	}
	tlsConf, err := cfg.TLS.Config(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("clickhouse sink: %w", err)
	}
	s := &Sink{cfg: cfg, log: cfg.Logger.With("sink", "clickhouse"), tls: tlsConf}
	c, err := sinks.NewConsumer(sinks.ConsumerConfig{
		Name:          "clickhouse",
		Brokers:       cfg.Brokers,
		Group:         cfg.Group,
		Topics:        cfg.Topics,
		BatchSize:     cfg.BatchSize,
		FlushInterval: cfg.FlushInterval,
		MaxBackoff:    cfg.MaxBackoff,
		Logger:        cfg.Logger,
		Metrics:       sinks.NewMetrics(cfg.Registerer, "clickhouse"),
		KafkaOpts:     cfg.KafkaOpts,
	}, s)
	if err != nil {
		return nil, err
	}
	s.consumer = c
	return s, nil
}

// Run connects to ClickHouse (retrying with backoff until it answers),
// migrates the schema, then stores records until ctx is cancelled. It
// returns nil on a clean stop.
func (s *Sink) Run(ctx context.Context) error {
	var comp *ch.Compression
	switch s.cfg.Compression {
	case "lz4":
		comp = &ch.Compression{Method: ch.CompressionLZ4}
	case "zstd":
		comp = &ch.Compression{Method: ch.CompressionZSTD}
	}
	conn, err := ch.Open(&ch.Options{
		Addr:            []string{s.cfg.Addr},
		Auth:            ch.Auth{Database: "default", Username: s.cfg.Username, Password: s.cfg.Password},
		DialTimeout:     5 * time.Second,
		ReadTimeout:     s.cfg.InsertTimeout,
		MaxOpenConns:    s.cfg.InsertConcurrency + 2,
		MaxIdleConns:    s.cfg.InsertConcurrency + 1,
		ConnMaxLifetime: time.Hour,
		Compression:     comp,
		TLS:             s.tls,
	})
	if err != nil {
		return fmt.Errorf("clickhouse sink: %w", err)
	}
	defer conn.Close()
	s.conn = conn

	backoff := 200 * time.Millisecond
	for {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		res, err := schemas.Migrate(mctx, conn, schemas.Options{Database: s.cfg.Database, Retention: s.cfg.Retention, Cluster: s.cfg.Cluster})
		cancel()
		if err == nil {
			s.modern = res.Dialect.Modern
			s.log.Info("schema ready", "server", res.Server.String(), "modern", res.Dialect.Modern, "applied", res.Applied, "database", s.cfg.Database, "tls", s.tls != nil, "cluster", s.cfg.Cluster)
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("ClickHouse not ready; retrying", "addr", s.cfg.Addr, "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
	return s.consumer.Run(ctx)
}

// Write inserts b: each table's rows in up to InsertConcurrency blocks sent
// at once over separate connections, tables one after another. It is the
// sinks.Writer the consumer calls; a failure is retried with the same
// batch, split the same way, so the retried blocks carry the same
// deduplication tokens.
func (s *Sink) Write(ctx context.Context, b *sinks.Batch) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.InsertTimeout)
	defer cancel()
	for _, t := range tables {
		if err := t.insert(ctx, s, b); err != nil {
			return err
		}
	}
	return nil
}

// table is one table the sink writes: which rows of a batch go there,
// with which columns.
type table struct {
	name    string
	columns []string
	rows    func(*sinks.Batch) int
	insert  func(context.Context, *Sink, *sinks.Batch) error
	block   func(b *sinks.Batch, modern bool) (*chproto.Block, error)
}

func newTable[T any](name string, cols []column[T], rows func(*sinks.Batch) []T, meta func(*T) (int32, int64)) table {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return table{
		name:    name,
		columns: names,
		rows:    func(b *sinks.Batch) int { return len(rows(b)) },
		insert: func(ctx context.Context, s *Sink, b *sinks.Batch) error {
			return insertAll(ctx, s, name, cols, rows(b), meta)
		},
		block: func(b *sinks.Batch, modern bool) (*chproto.Block, error) { return nativeBlock(cols, rows(b), modern) },
	}
}

// tables is every table the sink writes, in the order Write inserts.
var tables = []table{
	newTable(sinks.TableEvents, eventColumns, func(b *sinks.Batch) []ev { return b.Events }, func(r *ev) (int32, int64) { return r.KafkaPartition, r.KafkaOffset }),
	newTable(sinks.TableAnomalies, anomalyColumns, func(b *sinks.Batch) []an { return b.Anomalies }, func(r *an) (int32, int64) { return r.KafkaPartition, r.KafkaOffset }),
	newTable(sinks.TableAlerts, alertColumns, func(b *sinks.Batch) []al { return b.Alerts }, func(r *al) (int32, int64) { return r.KafkaPartition, r.KafkaOffset }),
	newTable(sinks.TableActions, actionColumns, func(b *sinks.Batch) []ac { return b.Actions }, func(r *ac) (int32, int64) { return r.KafkaPartition, r.KafkaOffset }),
	newTable(sinks.TableTriageRuns, triageColumns, func(b *sinks.Batch) []tr { return b.TriageRuns }, func(r *tr) (int32, int64) { return r.KafkaPartition, r.KafkaOffset }),
	newTable(sinks.TableAudit, auditColumns, func(b *sinks.Batch) []sinks.AuditRow { return b.Audit }, func(r *sinks.AuditRow) (int32, int64) { return r.KafkaPartition, r.KafkaOffset }),
}

// insertAll splits rows into up to InsertConcurrency blocks of at least
// minBlock rows and inserts them concurrently.
func insertAll[T any](ctx context.Context, s *Sink, table string, cols []column[T], rows []T, meta func(*T) (int32, int64)) error {
	const minBlock = 2000
	k := max(1, min(s.cfg.InsertConcurrency, len(rows)/minBlock))
	if k == 1 {
		return insert(ctx, s, table, cols, rows, meta)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range k {
		chunk := rows[len(rows)*i/k : len(rows)*(i+1)/k]
		g.Go(func() error { return insert(gctx, s, table, cols, chunk, meta) })
	}
	return g.Wait()
}

// insert sends rows to table as one column-oriented block.
func insert[T any](ctx context.Context, s *Sink, table string, cols []column[T], rows []T, meta func(*T) (int32, int64)) error {
	if len(rows) == 0 {
		return nil
	}
	if s.modern {
		ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_deduplication_token": dedupToken(table, rows, meta)}))
	}
	batch, err := s.conn.PrepareBatch(ctx, insertQuery(s.cfg.Database, table, cols))
	if err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	// One INSERT, sent in blocks of blockRows: the client's buffers stay
	// small and are reused, and the server squashes the blocks into parts.
	for lo := 0; lo < len(rows); lo += s.cfg.BlockRows {
		chunk := rows[lo:min(lo+s.cfg.BlockRows, len(rows))]
		for i, c := range cols {
			if err := batch.Column(i).Append(c.values(chunk, s.modern)); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("insert %s column %s: %w", table, c.name, err)
			}
		}
		if lo+s.cfg.BlockRows < len(rows) {
			if err := batch.Flush(); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("insert %s: %w", table, err)
			}
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %s (%d rows): %w", table, len(rows), err)
	}
	return nil
}

// dedupToken names a block by the offsets of its rows: the same batch,
// retried, gets the same token.
func dedupToken[T any](table string, rows []T, meta func(*T) (int32, int64)) string {
	type rg struct{ first, last int64 }
	ranges := map[int32]rg{}
	for i := range rows {
		p, off := meta(&rows[i])
		r, ok := ranges[p]
		if !ok {
			r = rg{off, off}
		}
		r.first, r.last = min(r.first, off), max(r.last, off)
		ranges[p] = r
	}
	parts := make([]int32, 0, len(ranges))
	for p := range ranges {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	var b strings.Builder
	b.WriteString("clarion:" + table)
	for _, p := range parts {
		fmt.Fprintf(&b, ":%d@%d-%d", p, ranges[p].first, ranges[p].last)
	}
	return b.String()
}

// insertQuery returns the column-naming INSERT for table.
func insertQuery[T any](db, table string, cols []column[T]) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return "INSERT INTO " + db + "." + table + " (" + strings.Join(names, ", ") + ")"
}

// column is one ClickHouse column of a row type: its name and how to build
// its values for a batch (for the modern or old dialect).
type column[T any] struct {
	name   string
	values func(rows []T, modern bool) any
}

func strCol[T any](name string, f func(*T) string) column[T] {
	return column[T]{name, func(rows []T, _ bool) any {
		out := make([]string, len(rows))
		for i := range rows {
			out[i] = f(&rows[i])
		}
		return out
	}}
}

func timeCol[T any](name string, f func(*T) time.Time) column[T] {
	return column[T]{name, func(rows []T, _ bool) any {
		out := make([]time.Time, len(rows))
		for i := range rows {
			out[i] = f(&rows[i])
		}
		return out
	}}
}

func f64Col[T any](name string, f func(*T) float64) column[T] {
	return column[T]{name, func(rows []T, _ bool) any {
		out := make([]float64, len(rows))
		for i := range rows {
			out[i] = f(&rows[i])
		}
		return out
	}}
}

func u64Col[T any](name string, f func(*T) uint64) column[T] {
	return column[T]{name, func(rows []T, _ bool) any {
		out := make([]uint64, len(rows))
		for i := range rows {
			out[i] = f(&rows[i])
		}
		return out
	}}
}

func u32Col[T any](name string, f func(*T) uint32) column[T] {
	return column[T]{name, func(rows []T, _ bool) any {
		out := make([]uint32, len(rows))
		for i := range rows {
			out[i] = f(&rows[i])
		}
		return out
	}}
}

func boolCol[T any](name string, f func(*T) bool) column[T] {
	return column[T]{name, func(rows []T, _ bool) any {
		out := make([]uint8, len(rows))
		for i := range rows {
			if f(&rows[i]) {
				out[i] = 1
			}
		}
		return out
	}}
}

func strsCol[T any](name string, f func(*T) []string) column[T] {
	return column[T]{name, func(rows []T, _ bool) any {
		out := make([][]string, len(rows))
		for i := range rows {
			out[i] = f(&rows[i])
			if out[i] == nil {
				out[i] = []string{}
			}
		}
		return out
	}}
}

// ipCol is IPv6 on current servers (IPv4 mapped; unparseable text becomes
// ::) and the address text on old ones.
func ipCol(name string) column[sinks.EventRow] {
	return column[sinks.EventRow]{name, func(rows []sinks.EventRow, modern bool) any {
		if !modern {
			out := make([]string, len(rows))
			for i := range rows {
				out[i] = rows[i].IP
			}
			return out
		}
		out := make([]netip.Addr, len(rows))
		for i := range rows {
			out[i] = rows[i].IPAddr()
		}
		return out
	}}
}

type (
	ev = sinks.EventRow
	an = sinks.AnomalyRow
	al = sinks.AlertRow
	ac = sinks.ActionRow
	tr = sinks.TriageRunRow
)

var eventColumns = []column[ev]{
	strCol("uuid", func(r *ev) string { return r.UUID }),
	timeCol("published", func(r *ev) time.Time { return r.Published }),
	timeCol("received_at", func(r *ev) time.Time { return r.ReceivedAt }),
	strCol("event_type", func(r *ev) string { return r.EventType }),
	strCol("severity", func(r *ev) string { return r.Severity }),
	strCol("display_message", func(r *ev) string { return r.DisplayMessage }),
	strCol("outcome", func(r *ev) string { return r.Outcome }),
	strCol("outcome_reason", func(r *ev) string { return r.OutcomeReason }),
	strCol("actor_id", func(r *ev) string { return r.ActorID }),
	strCol("actor_login", func(r *ev) string { return r.ActorLogin }),
	strCol("actor_name", func(r *ev) string { return r.ActorName }),
	strCol("user_key", func(r *ev) string { return r.UserKey }),
	ipCol("ip"),
	strCol("city", func(r *ev) string { return r.City }),
	strCol("state", func(r *ev) string { return r.State }),
	strCol("country", func(r *ev) string { return r.Country }),
	strCol("postal_code", func(r *ev) string { return r.PostalCode }),
	f64Col("lat", func(r *ev) float64 { return r.Lat }),
	f64Col("lon", func(r *ev) float64 { return r.Lon }),
	u64Col("h3", func(r *ev) uint64 { return uint64(r.H3) }),
	u32Col("asn", func(r *ev) uint32 { return uint32(r.ASN) }),
	strCol("as_org", func(r *ev) string { return r.ASOrg }),
	strCol("isp", func(r *ev) string { return r.ISP }),
	strCol("domain", func(r *ev) string { return r.Domain }),
	boolCol("is_proxy", func(r *ev) bool { return r.IsProxy }),
	strCol("user_agent", func(r *ev) string { return r.UserAgent }),
	strCol("browser", func(r *ev) string { return r.Browser }),
	strCol("os", func(r *ev) string { return r.OS }),
	strCol("device", func(r *ev) string { return r.Device }),
	strCol("device_fingerprint", func(r *ev) string { return r.DeviceFingerprint }),
	boolCol("threat_suspected", func(r *ev) bool { return r.ThreatSuspected }),
	strCol("behaviors", func(r *ev) string { return r.Behaviors }),
	strCol("risk", func(r *ev) string { return r.Risk }),
	strCol("session_id", func(r *ev) string { return r.SessionID }),
	strCol("integration_id", func(r *ev) string { return r.IntegrationID }),
	strCol("source", func(r *ev) string { return r.Source }),
	strCol("raw", func(r *ev) string { return r.Raw }),
	u32Col("kafka_partition", func(r *ev) uint32 { return uint32(r.KafkaPartition) }),
	u64Col("kafka_offset", func(r *ev) uint64 { return uint64(r.KafkaOffset) }),
}

var anomalyColumns = []column[an]{
	strCol("id", func(r *an) string { return r.ID }),
	strCol("type", func(r *an) string { return r.Type }),
	strCol("integration_id", func(r *an) string { return r.IntegrationID }),
	strCol("user_id", func(r *an) string { return r.UserID }),
	strCol("user_login", func(r *an) string { return r.UserLogin }),
	strCol("event_uuid", func(r *an) string { return r.EventUUID }),
	timeCol("published", func(r *an) time.Time { return r.Published }),
	f64Col("score", func(r *an) float64 { return r.Score }),
	strCol("sentence", func(r *an) string { return r.Sentence }),
	strCol("evidence", func(r *an) string { return r.Evidence }),
	strCol("raw", func(r *an) string { return r.Raw }),
	timeCol("recorded_at", func(r *an) time.Time { return r.RecordedAt }),
	u32Col("kafka_partition", func(r *an) uint32 { return uint32(r.KafkaPartition) }),
	u64Col("kafka_offset", func(r *an) uint64 { return uint64(r.KafkaOffset) }),
}

var alertColumns = []column[al]{
	strCol("id", func(r *al) string { return r.ID }),
	strCol("dedup_key", func(r *al) string { return r.DedupKey }),
	strCol("integration_id", func(r *al) string { return r.IntegrationID }),
	strCol("user_id", func(r *al) string { return r.UserID }),
	strCol("user_login", func(r *al) string { return r.UserLogin }),
	strCol("status", func(r *al) string { return r.Status }),
	strCol("disposition", func(r *al) string { return r.Disposition }),
	strCol("severity", func(r *al) string { return r.Severity }),
	strCol("detection_severity", func(r *al) string { return r.DetectionSeverity }),
	f64Col("confidence", func(r *al) float64 { return r.Confidence }),
	strCol("action_required", func(r *al) string { return r.ActionRequired }),
	strCol("feedback", func(r *al) string { return r.Feedback }),
	strCol("triaged_by", func(r *al) string { return r.TriagedBy }),
	strsCol("anomaly_ids", func(r *al) []string { return r.AnomalyIDs }),
	strsCol("anomaly_types", func(r *al) []string { return r.AnomalyTypes }),
	timeCol("first_seen", func(r *al) time.Time { return r.FirstSeen }),
	timeCol("last_seen", func(r *al) time.Time { return r.LastSeen }),
	u64Col("version", func(r *al) uint64 { return uint64(r.Version) }),
	strCol("summary", func(r *al) string { return r.Summary }),
	strCol("raw", func(r *al) string { return r.Raw }),
	timeCol("recorded_at", func(r *al) time.Time { return r.RecordedAt }),
	u32Col("kafka_partition", func(r *al) uint32 { return uint32(r.KafkaPartition) }),
	u64Col("kafka_offset", func(r *al) uint64 { return uint64(r.KafkaOffset) }),
}

var actionColumns = []column[ac]{
	strCol("id", func(r *ac) string { return r.ID }),
	strCol("alert_id", func(r *ac) string { return r.AlertID }),
	u32Col("alert_version", func(r *ac) uint32 { return uint32(r.AlertVersion) }),
	strCol("integration_id", func(r *ac) string { return r.IntegrationID }),
	strCol("user_id", func(r *ac) string { return r.UserID }),
	strCol("user_login", func(r *ac) string { return r.UserLogin }),
	strCol("kind", func(r *ac) string { return r.Kind }),
	strCol("state", func(r *ac) string { return r.State }),
	strCol("mode", func(r *ac) string { return r.Mode }),
	strCol("guard", func(r *ac) string { return r.Guard }),
	boolCol("dry_run", func(r *ac) bool { return r.DryRun }),
	strCol("reason", func(r *ac) string { return r.Reason }),
	strCol("requested_by", func(r *ac) string { return r.RequestedBy }),
	timeCol("requested_at", func(r *ac) time.Time { return r.RequestedAt }),
	timeCol("expires_at", func(r *ac) time.Time { return r.ExpiresAt }),
	strCol("decided_by", func(r *ac) string { return r.DecidedBy }),
	timeCol("decided_at", func(r *ac) time.Time { return r.DecidedAt }),
	timeCol("executed_at", func(r *ac) time.Time { return r.ExecutedAt }),
	u32Col("attempts", func(r *ac) uint32 { return uint32(r.Attempts) }),
	strCol("result", func(r *ac) string { return r.Result }),
	strCol("error", func(r *ac) string { return r.Error }),
	u64Col("version", func(r *ac) uint64 { return uint64(r.Version) }),
	strCol("raw", func(r *ac) string { return r.Raw }),
	timeCol("recorded_at", func(r *ac) time.Time { return r.RecordedAt }),
	u32Col("kafka_partition", func(r *ac) uint32 { return uint32(r.KafkaPartition) }),
	u64Col("kafka_offset", func(r *ac) uint64 { return uint64(r.KafkaOffset) }),
}

var triageColumns = []column[tr]{
	strCol("id", func(r *tr) string { return r.ID }),
	strCol("alert_id", func(r *tr) string { return r.AlertID }),
	u32Col("alert_version", func(r *tr) uint32 { return uint32(r.AlertVersion) }),
	strCol("integration_id", func(r *tr) string { return r.IntegrationID }),
	strCol("user_id", func(r *tr) string { return r.UserID }),
	strCol("user_login", func(r *tr) string { return r.UserLogin }),
	strCol("by", func(r *tr) string { return r.By }),
	strCol("provider", func(r *tr) string { return r.Provider }),
	strCol("model", func(r *tr) string { return r.Model }),
	strCol("fallback", func(r *tr) string { return r.Fallback }),
	strCol("disposition", func(r *tr) string { return r.Disposition }),
	strCol("severity", func(r *tr) string { return r.Severity }),
	f64Col("confidence", func(r *tr) float64 { return r.Confidence }),
	strCol("summary", func(r *tr) string { return r.Summary }),
	strsCol("evidence", func(r *tr) []string { return r.Evidence }),
	strsCol("recommended_actions", func(r *tr) []string { return r.RecommendedActions }),
	strCol("deterministic_disposition", func(r *tr) string { return r.DeterministicDisposition }),
	strCol("agent_disposition", func(r *tr) string { return r.AgentDisposition }),
	strCol("gate", func(r *tr) string { return r.Gate }),
	u32Col("steps", func(r *tr) uint32 { return uint32(r.Steps) }),
	u32Col("tool_calls", func(r *tr) uint32 { return uint32(r.ToolCalls) }),
	u32Col("prompt_tokens", func(r *tr) uint32 { return uint32(r.PromptTokens) }),
	u32Col("completion_tokens", func(r *tr) uint32 { return uint32(r.CompletionTokens) }),
	f64Col("latency_ms", func(r *tr) float64 { return r.LatencyMs }),
	timeCol("started", func(r *tr) time.Time { return r.Started }),
	timeCol("finished", func(r *tr) time.Time { return r.Finished }),
	strCol("raw", func(r *tr) string { return r.Raw }),
	timeCol("recorded_at", func(r *tr) time.Time { return r.RecordedAt }),
	u32Col("kafka_partition", func(r *tr) uint32 { return uint32(r.KafkaPartition) }),
	u64Col("kafka_offset", func(r *tr) uint64 { return uint64(r.KafkaOffset) }),
}
