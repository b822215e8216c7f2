package responder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

// alertInfo is what the gate takes from the processor's alert: the
// subject and the detection severity. Nothing else in a proposal about the
// alert is believed.
type alertInfo struct {
	integ    string
	user     string
	login    string
	severity string // detection severity (severity for old records)
	version  uint32
}

// alertBook is the responder's knowledge of alerts: every alert version on
// clarion.alerts (read_committed, all partitions) that carries the
// processor's signature, the newest per alert id, at most max alerts
// (the oldest alert ids are forgotten first).
type alertBook struct {
	v   *record.Verifier
	log *slog.Logger
	m   *metrics
	max int

	mu       sync.Mutex
	byID     map[string]alertInfo
	order    []string        // alert ids in first-seen order, for eviction
	consumed map[int32]int64 // next offset per partition
	changed  chan struct{}   // closed and replaced whenever consumed moves

	hold     chan struct{} // tests: closed by the first catch-up; nil: no hold
	holdOnce sync.Once
}

func newAlertBook(v *record.Verifier, log *slog.Logger, m *metrics, max int) *alertBook {
	return &alertBook{v: v, log: log, m: m, max: max, byID: map[string]alertInfo{}, consumed: map[int32]int64{}, changed: make(chan struct{})}
}

// alertRecord is the part of a processor alert (processor/detect.Alert)
// the gate reads.
type alertRecord struct {
	ID                string         `json:"id"`
	IntegrationID     string         `json:"integration_id"`
	User              record.UserRef `json:"user"`
	Severity          string         `json:"severity"`
	DetectionSeverity string         `json:"detection_severity"`
	Version           uint32         `json:"version"`
}

// add takes one clarion.alerts record.
func (b *alertBook) add(rec *kgo.Record) {
	if rec.Attrs.IsControl() {
		return
	}
	if _, err := b.v.Verify(rec, record.SignerProcessor); err != nil {
		b.m.alertsRefused.WithLabelValues(record.ReasonOf(err)).Inc()
		b.log.Warn("clarion.alerts record not signed by the processor ignored", "partition", rec.Partition, "offset", rec.Offset, "err", err)
		return
	}
	var a alertRecord
	if err := json.Unmarshal(rec.Value, &a); err != nil || a.ID == "" || a.IntegrationID == "" || a.User.ID == "" ||
		string(bus.KeyFor(a.IntegrationID, a.User.ID)) != string(rec.Key) {
		b.m.alertsRefused.WithLabelValues("malformed").Inc()
		b.log.Warn("unreadable clarion.alerts record ignored", "partition", rec.Partition, "offset", rec.Offset)
		return
	}
	sev := a.DetectionSeverity
	if record.SeverityRank(sev) == 0 {
		sev = a.Severity
	}
	if record.SeverityRank(sev) == 0 {
		sev = record.SeverityLow
	}
	prev, known := b.byID[a.ID]
	if known && prev.version > a.Version {
		return
	}
	if known && (prev.integ != a.IntegrationID || prev.user != a.User.ID) {
		// Alert ids are the processor's dedup keys, per user: a signed
		// version naming another subject means a bug, never a reason to
		// act on someone else.
		b.m.alertsRefused.WithLabelValues("subject_changed").Inc()
		b.log.Error("an alert version names another user than its first version; ignored", "alert", a.ID)
		return
	}
	b.byID[a.ID] = alertInfo{integ: a.IntegrationID, user: a.User.ID, login: a.User.Login, severity: sev, version: a.Version}
	if !known {
		b.order = append(b.order, a.ID)
		for len(b.order) > b.max {
			delete(b.byID, b.order[0])
			b.order = b.order[1:]
		}
		b.m.alertsKnown.Set(float64(len(b.byID)))
	}
}

func (b *alertBook) get(id string) (alertInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.byID[id]
	return a, ok
}

// newAlertClient is the book's consumer of clarion.alerts, from the start.
func newAlertClient(brokers []string, log *slog.Logger, opts []kgo.Opt) (*kgo.Client, error) {
	cl, err := bus.NewClient(brokers, log, append([]kgo.Opt{
		kgo.ConsumeTopics(bus.TopicAlerts),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("responder: clarion.alerts client: %w", err)
	}
	return cl, nil
}

// run reads clarion.alerts with cl until ctx ends.
func (b *alertBook) run(ctx context.Context, cl *kgo.Client) {
	if b.hold != nil {
		select {
		case <-b.hold:
		case <-ctx.Done():
			return
		}
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				b.log.Warn("clarion.alerts fetch", "partition", p, "err", err)
			}
		})
		b.mu.Lock()
		moved := false
		fs.EachRecord(func(rec *kgo.Record) {
			b.add(rec)
			if rec.Offset+1 > b.consumed[rec.Partition] {
				b.consumed[rec.Partition] = rec.Offset + 1
				moved = true
			}
		})
		if moved {
			close(b.changed)
			b.changed = make(chan struct{})
		}
		b.mu.Unlock()
	}
}

// catchUp waits until every alert committed on clarion.alerts now has
// been read. A proposal is written after its alert was committed (triage
// and the console read clarion.alerts read_committed), so once caught up,
// an alert the book does not know does not exist.
func (b *alertBook) catchUp(ctx context.Context, cl *kgo.Client, timeout time.Duration) error {
	if b.hold != nil {
		b.holdOnce.Do(func() { close(b.hold) })
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, bus.TopicAlerts)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("responder: clarion.alerts end offsets: %w", err)
	}
	for {
		b.mu.Lock()
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && b.consumed[o.Partition] < o.Offset {
				behind = true
			}
		})
		ch := b.changed
		b.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("responder: reading clarion.alerts up to its end: %w", ctx.Err())
		}
	}
}
