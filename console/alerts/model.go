// Package alerts is the console's read model of alerts: it follows the
// topics clarion.alerts, clarion.anomalies, clarion.triage and
// clarion.actions from the beginning (read_committed, no consumer group, so
// every console replica holds the whole view) and answers the console's
// list, detail and live-update queries, and the responder's action lookups
// (Model.Action), from memory.
//
// Records are kept as the processor wrote them (raw JSON), so fields added
// to alerts later reach the console without a change here; only the fields
// the filters need are parsed.
//
// Memory is bounded: at most Config.MaxAlerts alerts are held. When a new
// alert would exceed the cap, the model evicts the oldest tenth in one pass:
// Closed alerts first (oldest last_seen first), then the others by oldest
// last_seen. Each alert keeps at most Config.MaxAnomaliesPerAlert anomalies
// (the newest by published time). Anomalies whose alert has not been read
// yet are held under the same cap and evicted like the oldest alerts. An
// evicted alert reappears if a newer version of it arrives. Older alerts
// remain queryable in ClickHouse and the Parquet lake.
//
// Triage runs and actions hang off their alert and leave with it: each
// alert keeps its newest Config.MaxTriagePerAlert triage runs and
// Config.MaxActionsPerAlert actions (the latest version of each). A triage
// run larger than Config.MaxTriageRunBytes is stored with its step texts and
// tool inputs and outputs cut short (marked "console_truncated"), and all
// triage runs together are held under Config.MaxTriageBytes: over it, the
// runs of the alerts least recently seen are dropped first (each alert's
// newest run last). An action whose alert has been evicted is no longer
// found by Model.Action; the responder then answers 404 and the analyst
// decides in Kafka's record instead.
//
// Sizes (bench/console, BenchmarkHeldMemory): an alert with 8 anomalies of
// two sign-ins each holds about 10 KiB (10,000 such alerts: 104 MiB); an
// alert with one anomaly about 2.5 KiB. At the defaults (10,000 alerts, 16
// anomalies each) the worst case is about 200 MiB; lower MaxAlerts on small
// machines. Triage runs and actions add (BenchmarkHeldMemoryResponse) about
// 5.5 KiB per alert with one 3.4 KB triage run and two actions (10,000
// alerts with one anomaly each, their run and actions: 80 MiB); triage
// runs never exceed MaxTriageBytes (128 MiB by default) together.
package alerts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

// Defaults of Config.
const (
	DefaultMaxAlerts            = 10_000
	DefaultMaxAnomaliesPerAlert = 16
	DefaultMaxTriagePerAlert    = 3
	DefaultMaxActionsPerAlert   = 8
	DefaultMaxTriageRunBytes    = 64 << 10
	DefaultMaxTriageBytes       = 128 << 20
)

// Config configures a Model. Zero values take the defaults named.
type Config struct {
	// Brokers are the Kafka seed brokers. Required for Run; a Model fed
	// only through Apply (tests) needs none.
	Brokers []string
	// KafkaOpts are extra franz-go options for the model's client.
	KafkaOpts []kgo.Opt
	// Verifier, when set, makes Run skip records not signed by the
	// component that writes their topic (alerts and anomalies: the
	// processor; triage runs: triage; actions: the responder), so a
	// record forged onto Kafka is never shown to an analyst, nor used as
	// the Base of feedback. clarion run sets it (docs/trust.md).
	Verifier *record.Verifier
	// MaxAlerts caps the alerts held in memory. Default DefaultMaxAlerts
	// (25-100 MiB with typical alerts; see the package comment for sizes).
	MaxAlerts int
	// MaxAnomaliesPerAlert caps the anomalies held per alert (the newest
	// are kept). Default DefaultMaxAnomaliesPerAlert.
	MaxAnomaliesPerAlert int
	// MaxTriagePerAlert caps the triage runs held per alert (the newest
	// alert versions are kept). Default DefaultMaxTriagePerAlert.
	MaxTriagePerAlert int
	// MaxActionsPerAlert caps the actions held per alert (the most
	// recently requested are kept). Default DefaultMaxActionsPerAlert.
	MaxActionsPerAlert int
	// MaxTriageRunBytes caps one stored triage run: larger runs have their
	// step texts and tool inputs and outputs shortened. Default
	// DefaultMaxTriageRunBytes.
	MaxTriageRunBytes int
	// MaxTriageBytes caps the bytes of all triage runs held. Default
	// DefaultMaxTriageBytes.
	MaxTriageBytes int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the model's metrics. nil: no metrics.
	Registerer prometheus.Registerer
}

// User names an alert's user.
type User struct {
	ID    string `json:"id"`
	Login string `json:"login,omitempty"`
}

// Meta is the part of an alert the filters use.
type Meta struct {
	ID            string `json:"id"`
	IntegrationID string `json:"integration_id"`
	User          User   `json:"user"`
	Status        string `json:"status"`
	Disposition   string `json:"disposition"`
	Severity      string `json:"severity"`
	// DetectionSeverity is the processor's own severity (from anomaly
	// scores), "" from processors that predate it.
	DetectionSeverity string `json:"detection_severity"`
	ActionRequired    string `json:"action_required"`
	FirstSeen         string `json:"first_seen"`
	LastSeen          string `json:"last_seen"`
	Version           uint32 `json:"version"`

	first, last time.Time
}

type anomaly struct {
	ID        string `json:"id"`
	AlertID   string `json:"alert_id"`
	Published string `json:"published"`

	t   time.Time
	raw json.RawMessage
}

type entry struct {
	meta      Meta
	raw       json.RawMessage // nil until the alert itself is read
	anomalies []anomaly       // sorted by published time, oldest first
	touched   time.Time       // orphans: newest anomaly, triage or action time
	triage    []triageRun     // newest alert version first
	actions   []*action       // most recently requested first
}

func (e *entry) age() time.Time {
	if e.raw == nil {
		return e.touched
	}
	return e.meta.last
}

// Model is the in-memory read model. Its methods are safe for concurrent use.
type Model struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	mu      sync.RWMutex
	entries map[string]*entry
	nAlerts int
	seq     uint64
	subs    map[chan struct{}]struct{}
	acts    map[string]*action // by action id
	tBytes  int                // bytes of the triage runs held
}

// New returns a Model for cfg. It reads nothing until Run.
func New(cfg Config) (*Model, error) {
	if cfg.MaxAlerts <= 0 {
		cfg.MaxAlerts = DefaultMaxAlerts
	}
	if cfg.MaxAnomaliesPerAlert <= 0 {
		cfg.MaxAnomaliesPerAlert = DefaultMaxAnomaliesPerAlert
	}
	if cfg.MaxTriagePerAlert <= 0 {
		cfg.MaxTriagePerAlert = DefaultMaxTriagePerAlert
	}
	if cfg.MaxActionsPerAlert <= 0 {
		cfg.MaxActionsPerAlert = DefaultMaxActionsPerAlert
	}
	if cfg.MaxTriageRunBytes <= 0 {
		cfg.MaxTriageRunBytes = DefaultMaxTriageRunBytes
	}
	if cfg.MaxTriageBytes <= 0 {
		cfg.MaxTriageBytes = DefaultMaxTriageBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Model{cfg: cfg, log: cfg.Logger, entries: map[string]*entry{}, subs: map[chan struct{}]struct{}{}, acts: map[string]*action{}}
	var err error
	if m.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return m, nil
}

// Run follows clarion.alerts, clarion.anomalies, clarion.triage and
// clarion.actions from the beginning until ctx ends, and returns nil then.
func (m *Model) Run(ctx context.Context) error {
	if len(m.cfg.Brokers) == 0 {
		return errors.New("alerts: Config.Brokers is required to run")
	}
	opts := append([]kgo.Opt{
		kgo.ConsumeTopics(bus.TopicAlerts, bus.TopicAnomalies, bus.TopicTriage, bus.TopicActions),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, m.cfg.KafkaOpts...)
	cl, err := bus.NewClient(m.cfg.Brokers, m.log, opts...)
	if err != nil {
		return fmt.Errorf("alerts: kafka client: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			m.log.Warn("alerts: fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if v := m.cfg.Verifier; v != nil {
				if _, err := v.Verify(r, writerOf(r.Topic)); err != nil {
					m.m.bad.Inc()
					m.log.Warn("alerts: skipping a record not signed by its writer", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
					return
				}
			}
			if err := m.Apply(r.Topic, r.Value); err != nil {
				m.m.bad.Inc()
				m.log.Warn("alerts: skipping a record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			}
		})
	}
}

// Apply folds one record of topic (bus.TopicAlerts, bus.TopicAnomalies,
// bus.TopicTriage or bus.TopicActions) into the model. It is what Run does with each record; tests call it
// directly. It returns an error for a record it cannot use.
func (m *Model) Apply(topic string, value []byte) error {
	switch topic {
	case bus.TopicAlerts:
		return m.applyAlert(value)
	case bus.TopicAnomalies:
		return m.applyAnomaly(value)
	case bus.TopicTriage:
		return m.applyTriage(value)
	case bus.TopicActions:
		return m.applyAction(value)
	}
	return fmt.Errorf("alerts: unexpected topic %q", topic)
}

func (m *Model) applyAlert(value []byte) error {
	var meta Meta
	if err := json.Unmarshal(value, &meta); err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	if meta.ID == "" {
		return errors.New("alert without an id")
	}
	var err error
	if meta.first, err = parseTime(meta.FirstSeen); err != nil {
		return fmt.Errorf("alert %s: first_seen: %w", meta.ID, err)
	}
	if meta.last, err = parseTime(meta.LastSeen); err != nil {
		return fmt.Errorf("alert %s: last_seen: %w", meta.ID, err)
	}
	raw := json.RawMessage(append([]byte(nil), value...))
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[meta.ID]
	switch {
	case e == nil:
		e = &entry{}
		m.entries[meta.ID] = e
		m.nAlerts++
	case e.raw == nil:
		m.nAlerts++
	case meta.Version <= e.meta.Version:
		m.m.stale.Inc()
		return nil // a replay or an older version
	}
	e.meta, e.raw = meta, raw
	m.m.records.WithLabelValues("alert").Inc()
	m.evict()
	m.changed()
	return nil
}

func (m *Model) applyAnomaly(value []byte) error {
	var a anomaly
	if err := json.Unmarshal(value, &a); err != nil {
		return fmt.Errorf("anomaly: %w", err)
	}
	if a.ID == "" || a.AlertID == "" {
		return errors.New("anomaly without an id or alert_id")
	}
	var err error
	if a.t, err = parseTime(a.Published); err != nil {
		return fmt.Errorf("anomaly %s: published: %w", a.ID, err)
	}
	a.raw = append([]byte(nil), value...)
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[a.AlertID]
	if e == nil {
		e = &entry{meta: Meta{ID: a.AlertID}}
		m.entries[a.AlertID] = e
	}
	for _, have := range e.anomalies {
		if have.ID == a.ID {
			return nil // a replay
		}
	}
	i, _ := slices.BinarySearchFunc(e.anomalies, a, func(x, y anomaly) int {
		return cmp.Or(x.t.Compare(y.t), cmp.Compare(x.ID, y.ID))
	})
	e.anomalies = slices.Insert(e.anomalies, i, a)
	if n := len(e.anomalies) - m.cfg.MaxAnomaliesPerAlert; n > 0 {
		e.anomalies = slices.Delete(e.anomalies, 0, n)
	}
	if a.t.After(e.touched) {
		e.touched = a.t
	}
	m.m.records.WithLabelValues("anomaly").Inc()
	m.evict()
	if e.raw != nil {
		m.changed()
	}
	return nil
}

// evict drops the oldest tenth of the entries once there are more than
// MaxAlerts, Closed alerts first. Called with mu held.
func (m *Model) evict() {
	defer func() { m.m.held.Set(float64(m.nAlerts)) }()
	if len(m.entries) <= m.cfg.MaxAlerts {
		return
	}
	all := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int {
		ca, cb := a.meta.Status == StatusClosed, b.meta.Status == StatusClosed
		if ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		return cmp.Or(a.age().Compare(b.age()), cmp.Compare(a.meta.ID, b.meta.ID))
	})
	n := len(all) - m.cfg.MaxAlerts + m.cfg.MaxAlerts/10
	for _, e := range all[:min(n, len(all))] {
		m.dropResponse(e)
		delete(m.entries, e.meta.ID)
		if e.raw != nil {
			m.nAlerts--
		}
		m.m.evicted.Inc()
	}
}

// StatusClosed is the alert status evicted first.
const StatusClosed = "Closed"

// changed wakes the subscribers. Called with mu held.
func (m *Model) changed() {
	m.seq++
	for ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Subscribe returns a channel that receives a value (coalesced) after each
// change, and a function that ends the subscription.
func (m *Model) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}
}

// Seq counts the changes so far; it grows with every change.
func (m *Model) Seq() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.seq
}

// Len returns the number of alerts held.
func (m *Model) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.nAlerts
}

// Filter selects alerts. Empty fields match everything; list fields match
// any of their values, case-insensitively.
type Filter struct {
	Status, Disposition, Severity []string
	// ActionRequired matches the alert's action_required (approval,
	// clarification, none).
	ActionRequired []string
	// User matches a substring of the user's login or id, case-insensitively.
	User string
	// Integration matches the integration id exactly.
	Integration string
	// Since and Until select alerts whose [first_seen, last_seen] overlaps
	// them: last_seen >= Since and first_seen <= Until.
	Since, Until time.Time
	// Limit caps the answer; 0 means no cap.
	Limit int
}

func anyFold(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

func (f *Filter) match(m *Meta) bool {
	if !anyFold(f.Status, m.Status) || !anyFold(f.Disposition, m.Disposition) || !anyFold(f.Severity, m.Severity) || !anyFold(f.ActionRequired, m.ActionRequired) {
		return false
	}
	if f.Integration != "" && f.Integration != m.IntegrationID {
		return false
	}
	if f.User != "" {
		u := strings.ToLower(f.User)
		if !strings.Contains(strings.ToLower(m.User.Login), u) && !strings.Contains(strings.ToLower(m.User.ID), u) {
			return false
		}
	}
	if !f.Since.IsZero() && m.last.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && m.first.After(f.Until) {
		return false
	}
	return true
}

// List returns the alerts f selects, newest last_seen first (raw JSON as
// the processor wrote them), and how many matched before the limit.
func (m *Model) List(f Filter) (out []json.RawMessage, total int) {
	m.mu.RLock()
	matched := make([]*entry, 0, 64)
	for _, e := range m.entries {
		if e.raw != nil && f.match(&e.meta) {
			matched = append(matched, e)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(matched, func(a, b *entry) int {
		return cmp.Or(b.meta.last.Compare(a.meta.last), cmp.Compare(a.meta.ID, b.meta.ID))
	})
	total = len(matched)
	if f.Limit > 0 && len(matched) > f.Limit {
		matched = matched[:f.Limit]
	}
	out = make([]json.RawMessage, len(matched))
	for i, e := range matched {
		out[i] = e.raw // never modified after it is stored
	}
	return out, total
}

// Get returns the alert with id and its anomalies (oldest first), raw.
func (m *Model) Get(id string) (alert json.RawMessage, anomalies []json.RawMessage, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.entries[id]
	if e == nil || e.raw == nil {
		return nil, nil, false
	}
	anomalies = make([]json.RawMessage, len(e.anomalies))
	for i := range e.anomalies {
		anomalies[i] = e.anomalies[i].raw
	}
	return e.raw, anomalies, true
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	return time.Parse(time.RFC3339Nano, s)
}

// writerOf names the signer of a topic the model follows.
func writerOf(topic string) string {
	switch topic {
	case bus.TopicTriage:
		return record.SignerTriage
	case bus.TopicActions:
		return record.SignerResponder
	}
	return record.SignerProcessor
}
