// Package parquet is the sink that writes every record of Clarion's topics to
// a Parquet lake: <data-dir>/lake/<table>/dt=YYYY-MM-DD/<file>.parquet,
// zstd-compressed, one schema per table (sinks.EventRow, AnomalyRow,
// AlertRow, ActionRow, TriageRunRow: the ClickHouse columns, with times as
// TIMESTAMP(MILLIS, UTC)). Tables: okta_events, anomalies, alerts, actions,
// triage_runs. Alert updates on clarion.okta.events (header source=clarion)
// are input for the processor, not Okta events: skipped, never stored.
//
// A column added to a table in a later release appears only in the files
// written after it; read the lake with union_by_name (DuckDB) or an
// equivalent schema merge.
//
// # Exactly once
//
// A file holds rows of one topic partition and one day, and is named after
// that partition and the first and last offset in it:
//
//	clarion.okta.events-3-00000000000000001200-00000000000000001999.parquet
//
// The files are the sink's record of progress, and Kafka's committed offset
// only a hint. A flush
//
//  1. writes each file under a hidden temporary name (.<name>.tmp) and fsyncs it;
//  2. writes a manifest of the renames it is about to make (_clarion/pending-*.json),
//     fsynced, so a crash from here on is rolled forward, never back;
//  3. renames every file to its final name and fsyncs the directories;
//  4. removes the manifest, then the consumer commits the offsets.
//
// At start (and before every flush) the sink finishes any manifest left by
// a crash, deletes temporary files no manifest names, and scans the lake for
// the highest offset stored per partition. Records at or below it are
// skipped, whatever offset Kafka has committed. So a crash at any point —
// before the files are renamed, between renames, or after them but before
// the commit — neither loses nor duplicates a row. Hidden and _-prefixed
// names are ignored by DuckDB globs, Spark and ClickHouse's file().
//
// One sink owns a lake: a lock file keeps a second one out. Deleting files
// from the lake makes the sink skip nothing for them, but it does not rewind
// Kafka: reset the consumer group to rebuild a deleted part.
package parquet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/sinks"
)

// Config configures a Sink. Zero values get the defaults named.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// DataDir is Clarion's data directory; the lake is DataDir/lake. Required.
	DataDir string
	// Group is the Kafka consumer group. Default "clarion-sink-parquet".
	Group string
	// Topics to store. Default sinks.DefaultTopics.
	Topics []string
	// BatchSize flushes after this many records. Default 100,000.
	BatchSize int
	// FlushInterval flushes a non-empty batch this long after its first
	// record. Default 30 s: fewer, larger files. Keep it under the consumer
	// group's rebalance timeout (60 s).
	FlushInterval time.Duration
	// MaxBackoff caps the wait between retries of a failed flush. Default 30 s.
	MaxBackoff time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the clarion_sink_* metrics (sink="parquet"). Nil: none.
	Registerer prometheus.Registerer
	// KafkaOpts are extra franz-go options (TLS, SASL, tests).
	KafkaOpts []kgo.Opt
}

// ErrLocked means another sink holds the lake.
var ErrLocked = errors.New("parquet sink: another sink holds the lake lock")

// Sink writes Clarion's topics to the Parquet lake.
type Sink struct {
	cfg      Config
	lake     string
	log      *slog.Logger
	m        *sinks.Metrics
	consumer *sinks.Consumer

	mu     sync.Mutex
	stored map[sinks.TopicPartition]int64 // highest offset in the lake

	// hook, when set (tests), is called at each stage of a flush:
	// "written" (temporary files durable, no manifest), "manifest"
	// (manifest durable, nothing renamed) and "renamed" (files renamed,
	// offsets not committed).
	hook func(stage string)
}

// New checks cfg and returns a Sink. Run opens the lake.
func New(cfg Config) (*Sink, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("parquet sink: no data dir")
	}
	if cfg.Group == "" {
		cfg.Group = "clarion-sink-parquet"
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100_000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sink{
		cfg:    cfg,
		lake:   filepath.Join(cfg.DataDir, "lake"),
		log:    cfg.Logger.With("sink", "parquet"),
		m:      sinks.NewMetrics(cfg.Registerer, "parquet"),
		stored: map[sinks.TopicPartition]int64{},
	}
	c, err := sinks.NewConsumer(sinks.ConsumerConfig{
		Name:          "parquet",
		Brokers:       cfg.Brokers,
		Group:         cfg.Group,
		Topics:        cfg.Topics,
		BatchSize:     cfg.BatchSize,
		FlushInterval: cfg.FlushInterval,
		MaxBackoff:    cfg.MaxBackoff,
		Logger:        cfg.Logger,
		Metrics:       s.m,
		KafkaOpts:     cfg.KafkaOpts,
	}, s)
	if err != nil {
		return nil, err
	}
	s.consumer = c
	return s, nil
}

// Lake returns the lake's root directory.
func (s *Sink) Lake() string { return s.lake }

// Run locks and recovers the lake, then writes records until ctx is
// cancelled. It returns nil on a clean stop.
func (s *Sink) Run(ctx context.Context) error {
	meta := filepath.Join(s.lake, "_clarion")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(meta, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%w (%s): %v", ErrLocked, s.lake, err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()

	if err := s.recover(); err != nil {
		return fmt.Errorf("parquet sink: recover %s: %w", s.lake, err)
	}
	return s.consumer.Run(ctx)
}

// recover finishes pending manifests, removes orphaned temporary files and
// loads the highest stored offset of every partition.
func (s *Sink) recover() error {
	if err := s.applyPending(); err != nil {
		return err
	}
	stored := map[sinks.TopicPartition]int64{}
	err := filepath.WalkDir(s.lake, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") {
			s.log.Info("removing unfinished temporary file", "path", path)
			return os.Remove(path)
		}
		if tp, _, last, ok := ParseFileName(name); ok {
			if cur, seen := stored[tp]; !seen || last > cur {
				stored[tp] = last
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.stored = stored
	s.mu.Unlock()
	for tp, off := range stored {
		s.log.Info("lake resume point", "partition", tp.String(), "stored_through", off)
	}
	return nil
}

var fileName = regexp.MustCompile(`^(.+)-(\d+)-(\d{20})-(\d{20})\.parquet$`)

// FileName is the name of a file holding offsets first..last of tp.
func FileName(tp sinks.TopicPartition, first, last int64) string {
	return fmt.Sprintf("%s-%d-%020d-%020d.parquet", tp.Topic, tp.Partition, first, last)
}

// ParseFileName reverses FileName.
func ParseFileName(name string) (tp sinks.TopicPartition, first, last int64, ok bool) {
	m := fileName.FindStringSubmatch(name)
	if m == nil {
		return tp, 0, 0, false
	}
	p, err1 := strconv.ParseInt(m[2], 10, 32)
	f, err2 := strconv.ParseInt(m[3], 10, 64)
	l, err3 := strconv.ParseInt(m[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return tp, 0, 0, false
	}
	return sinks.TopicPartition{Topic: m[1], Partition: int32(p)}, f, l, true
}

// manifest lists the renames of one flush, paths relative to the lake.
type manifest struct {
	Files []rename `json:"files"`
}

type rename struct {
	Tmp   string `json:"tmp"`
	Final string `json:"final"`
}

// applyPending rolls every pending manifest forward.
func (s *Sink) applyPending() error {
	names, err := filepath.Glob(filepath.Join(s.lake, "_clarion", "pending-*.json"))
	if err != nil {
		return err
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		var m manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", name, err)
		}
		s.log.Info("finishing an interrupted flush", "manifest", name, "files", len(m.Files))
		if err := s.apply(m); err != nil {
			return err
		}
		if err := os.Remove(name); err != nil {
			return err
		}
	}
	return nil
}

// apply renames every file of m into place and records its offsets.
func (s *Sink) apply(m manifest) error {
	dirs := map[string]bool{}
	for _, r := range m.Files {
		tmp, final := filepath.Join(s.lake, r.Tmp), filepath.Join(s.lake, r.Final)
		if err := os.Rename(tmp, final); err != nil {
			// Already renamed before a crash: the final file is there.
			if _, statErr := os.Stat(final); !(errors.Is(err, fs.ErrNotExist) && statErr == nil) {
				return fmt.Errorf("rename %s: %w", r.Final, err)
			}
		}
		dirs[filepath.Dir(final)] = true
		if tp, _, last, ok := ParseFileName(filepath.Base(final)); ok {
			s.mu.Lock()
			if cur, seen := s.stored[tp]; !seen || last > cur {
				s.stored[tp] = last
			}
			s.mu.Unlock()
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// file is one Parquet file a flush writes.
type file struct {
	rel   string // final path relative to the lake
	rows  int
	table string
	write func(path string) (int64, error)
}

// Write stores b as Parquet files, exactly once: rows at or below a
// partition's stored offset are skipped. It is the sinks.Writer the
// consumer calls; a failed Write is retried with the same batch.
func (s *Sink) Write(_ context.Context, b *sinks.Batch) error {
	if err := s.applyPending(); err != nil {
		return err
	}
	var files []file
	files = plan(s, files, sinks.TableEvents, b.Events, func(r *sinks.EventRow) (int32, int64, time.Time) {
		t := r.Published
		if t.Unix() == 0 {
			t = r.ReceivedAt
		}
		return r.KafkaPartition, r.KafkaOffset, t
	})
	files = plan(s, files, sinks.TableAnomalies, b.Anomalies, func(r *sinks.AnomalyRow) (int32, int64, time.Time) {
		t := r.Published
		if t.Unix() == 0 {
			t = r.RecordedAt
		}
		return r.KafkaPartition, r.KafkaOffset, t
	})
	files = plan(s, files, sinks.TableAlerts, b.Alerts, func(r *sinks.AlertRow) (int32, int64, time.Time) {
		return r.KafkaPartition, r.KafkaOffset, r.RecordedAt
	})
	files = plan(s, files, sinks.TableActions, b.Actions, func(r *sinks.ActionRow) (int32, int64, time.Time) {
		return r.KafkaPartition, r.KafkaOffset, r.RecordedAt
	})
	files = plan(s, files, sinks.TableTriageRuns, b.TriageRuns, func(r *sinks.TriageRunRow) (int32, int64, time.Time) {
		t := r.Started
		if t.Unix() == 0 {
			t = r.RecordedAt
		}
		return r.KafkaPartition, r.KafkaOffset, t
	})
	files = plan(s, files, sinks.TableAudit, b.Audit, func(r *sinks.AuditRow) (int32, int64, time.Time) {
		t := r.At
		if t.Unix() == 0 {
			t = r.RecordedAt
		}
		return r.KafkaPartition, r.KafkaOffset, t
	})
	if len(files) == 0 {
		return nil
	}

	// 1. Temporary files, fsynced.
	var m manifest
	cleanup := func() {
		for _, r := range m.Files {
			_ = os.Remove(filepath.Join(s.lake, r.Tmp))
		}
	}
	dirs := map[string]bool{}
	for _, f := range files {
		dir := filepath.Dir(f.rel)
		if err := os.MkdirAll(filepath.Join(s.lake, dir), 0o755); err != nil {
			cleanup()
			return err
		}
		dirs[filepath.Join(s.lake, dir)] = true
		tmp := filepath.Join(dir, "."+filepath.Base(f.rel)+".tmp")
		m.Files = append(m.Files, rename{Tmp: tmp, Final: f.rel})
		n, err := f.write(filepath.Join(s.lake, tmp))
		if err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", f.rel, err)
		}
		s.m.Bytes.WithLabelValues(f.table).Add(float64(n))
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			cleanup()
			return err
		}
	}
	s.at("written")
	// 2. The manifest: from here a crash is rolled forward.
	mpath, err := s.writeManifest(m)
	if err != nil {
		cleanup()
		return err
	}
	s.at("manifest")
	// 3. Renames.
	if err := s.apply(m); err != nil {
		return err // the next Write or start finishes the manifest
	}
	// 4. Done: the files are the record now.
	if err := os.Remove(mpath); err != nil {
		return err
	}
	s.at("renamed")
	return nil
}

func (s *Sink) at(stage string) {
	if s.hook != nil {
		s.hook(stage)
	}
}

func (s *Sink) writeManifest(m manifest) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(s.lake, "_clarion")
	final := filepath.Join(dir, fmt.Sprintf("pending-%d.json", time.Now().UnixNano()))
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, syncDir(dir)
}

// plan groups rows of one table by partition and day, skipping rows the
// lake already holds, and appends one file per group.
func plan[T any](s *Sink, files []file, table string, rows []T, meta func(*T) (int32, int64, time.Time)) []file {
	if len(rows) == 0 {
		return files
	}
	topic := topicFor(table)
	type key struct {
		p  int32
		dt string
	}
	type group struct {
		rows        []T
		first, last int64
	}
	groups := map[key]*group{}
	var order []key
	skipped := 0
	s.mu.Lock()
	for i := range rows {
		p, off, t := meta(&rows[i])
		if stored, ok := s.stored[sinks.TopicPartition{Topic: topic, Partition: p}]; ok && off <= stored {
			skipped++
			continue
		}
		k := key{p, t.UTC().Format("2006-01-02")}
		g := groups[k]
		if g == nil {
			g = &group{first: off}
			groups[k] = g
			order = append(order, k)
		}
		g.rows = append(g.rows, rows[i])
		g.first, g.last = min(g.first, off), max(g.last, off)
	}
	s.mu.Unlock()
	if skipped > 0 {
		s.m.Skipped.WithLabelValues(table).Add(float64(skipped))
	}
	for _, k := range order {
		g := groups[k]
		tp := sinks.TopicPartition{Topic: topic, Partition: k.p}
		files = append(files, file{
			rel:   filepath.Join(table, "dt="+k.dt, FileName(tp, g.first, g.last)),
			rows:  len(g.rows),
			table: table,
			write: func(path string) (int64, error) { return writeFile(path, g.rows) },
		})
	}
	return files
}

func topicFor(table string) string {
	switch table {
	case sinks.TableEvents:
		return bus.TopicEvents
	case sinks.TableAnomalies:
		return bus.TopicAnomalies
	case sinks.TableAlerts:
		return bus.TopicAlerts
	case sinks.TableActions:
		return bus.TopicActions
	case sinks.TableTriageRuns:
		return bus.TopicTriage
	case sinks.TableAudit:
		return bus.TopicAudit
	}
	return ""
}

// writeFile writes rows to path as one zstd Parquet file and fsyncs it,
// returning its size.
func writeFile[T any](path string, rows []T) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	w := pq.NewGenericWriter[T](f, pq.Compression(&pq.Zstd), pq.CreatedBy("clarion", "", ""))
	if _, err := w.Write(rows); err != nil {
		f.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
