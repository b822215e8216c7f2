package responder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

// ActionView looks actions up by id: the latest committed version on
// clarion.actions. The console's read model implements it; View is a
// small standalone one.
type ActionView interface {
	Action(id string) (record.Action, bool)
}

// View follows clarion.actions (read_committed, from the start) and keeps
// the latest version of every action in memory. Use it when the console is
// not running, and in tests. Call Run to follow the topic.
type View struct {
	cl  *kgo.Client
	log *slog.Logger

	mu      sync.RWMutex
	actions map[string]record.Action
	changed chan struct{} // closed and replaced on every change
}

// NewActionView returns a View of clarion.actions on brokers. It reads
// nothing until Run is called.
func NewActionView(brokers ...string) (*View, error) {
	if len(brokers) == 0 {
		return nil, errors.New("responder: NewActionView needs brokers")
	}
	cl, err := bus.NewClient(brokers, nil,
		kgo.ConsumeTopics(bus.TopicActions),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return nil, fmt.Errorf("responder: view client: %w", err)
	}
	return &View{cl: cl, log: slog.Default(), actions: map[string]record.Action{}, changed: make(chan struct{})}, nil
}

// Run follows clarion.actions until ctx ends (nil), then closes the client.
func (v *View) Run(ctx context.Context) error {
	defer v.cl.Close()
	for {
		fs := v.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			v.log.Warn("actions view fetch", "topic", t, "partition", p, "err", err)
		})
		if fs.NumRecords() == 0 {
			continue
		}
		v.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			var a record.Action
			if json.Unmarshal(r.Value, &a) != nil || a.ID == "" {
				return
			}
			if prev, ok := v.actions[a.ID]; ok && prev.Version >= a.Version {
				return
			}
			v.actions[a.ID] = a
		})
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
	}
}

// Action returns the latest version of action id.
func (v *View) Action(id string) (record.Action, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	a, ok := v.actions[id]
	return a, ok
}

// Actions returns the latest version of every action, by id.
func (v *View) Actions() []record.Action {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]record.Action, 0, len(v.actions))
	for _, a := range v.actions {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Wait blocks until action id satisfies ok, or ctx ends (its error).
func (v *View) Wait(ctx context.Context, id string, ok func(record.Action) bool) (record.Action, error) {
	for {
		v.mu.RLock()
		a, found := v.actions[id]
		ch := v.changed
		v.mu.RUnlock()
		if found && ok(a) {
			return a, nil
		}
		select {
		case <-ctx.Done():
			return a, ctx.Err()
		case <-ch:
		}
	}
}
