package console

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus"
)

// Bounds of the audit index.
const (
	maxAuditPerSubject = 100
	maxAuditSubjects   = 50_000
)

// auditIndex holds the audit events of alerts and actions (newest last)
// from clarion.audit, so an alert's detail shows who gave which verdict
// and who approved or rejected its actions.
type auditIndex struct {
	mu    sync.RWMutex
	by    map[string][]json.RawMessage // "alert/<id>" or "action/<id>"
	order []string                     // subjects, oldest first, for eviction
	seen  map[string]bool              // event ids (replays)
	seq   uint64
	subs  map[chan struct{}]bool
}

func newAuditIndex() *auditIndex {
	return &auditIndex{by: map[string][]json.RawMessage{}, seen: map[string]bool{}, subs: map[chan struct{}]bool{}}
}

// subscribe returns a channel that receives (coalesced) after each indexed
// event, and its cancel.
func (x *auditIndex) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	x.mu.Lock()
	x.subs[ch] = true
	x.mu.Unlock()
	return ch, func() {
		x.mu.Lock()
		delete(x.subs, ch)
		x.mu.Unlock()
	}
}

// Seq counts the events indexed.
func (x *auditIndex) Seq() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// apply indexes one record value; it reports false for a value that is not
// an audit event.
func (x *auditIndex) apply(v []byte) bool {
	e, err := audit.Parse(v)
	if err != nil {
		return false
	}
	var subjects []string
	if e.AlertID != "" {
		subjects = append(subjects, "alert/"+e.AlertID)
	}
	if e.Target == "action" && e.TargetID != "" {
		subjects = append(subjects, "action/"+e.TargetID)
	}
	if len(subjects) == 0 {
		return true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.seen[e.ID] {
		return true
	}
	x.seen[e.ID] = true
	raw := append(json.RawMessage(nil), v...)
	for _, s := range subjects {
		evs, ok := x.by[s]
		if !ok {
			x.order = append(x.order, s)
		}
		evs = append(evs, raw)
		if len(evs) > maxAuditPerSubject {
			evs = evs[len(evs)-maxAuditPerSubject:]
		}
		x.by[s] = evs
	}
	x.seq++
	for ch := range x.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	for len(x.order) > maxAuditSubjects {
		old := x.order[0]
		x.order = x.order[1:]
		for _, r := range x.by[old] {
			var id struct{ ID string }
			if json.Unmarshal(r, &id) == nil {
				delete(x.seen, id.ID)
			}
		}
		delete(x.by, old)
	}
	return true
}

// forAlert returns the events of the alert and of its actions, in the
// order they were written per subject, the alert's first.
func (x *auditIndex) forAlert(alertID string, actionIDs []string) []json.RawMessage {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := []json.RawMessage{}
	seen := map[string]bool{}
	add := func(evs []json.RawMessage) {
		for _, r := range evs {
			if !seen[string(r)] {
				seen[string(r)] = true
				out = append(out, r)
			}
		}
	}
	add(x.by["alert/"+alertID])
	for _, id := range actionIDs {
		add(x.by["action/"+id])
	}
	return out
}

// runAudit follows clarion.audit from the start until ctx ends.
func (c *Console) runAudit(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.ConsumeTopics(audit.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, c.cfg.KafkaOpts...)
	cl, err := bus.NewClient(c.cfg.Brokers, c.log, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			c.log.Warn("console: audit fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if !c.audits.apply(r.Value) {
				c.log.Warn("console: skipping a bad audit record", "partition", r.Partition, "offset", r.Offset)
			}
		})
	}
}
