package responder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

// assigned restores the newly assigned partitions' actions from
// clarion.actions. franz-go calls it before fetching from those
// partitions, so no request is handled against missing state.
//
// It first fences (bus.Fence): the broker aborts the transaction a crashed
// predecessor with the same transactional ID left open, so the restore
// reads everything committed.
func (r *Responder) assigned(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	parts := m[bus.TopicResponderRequests]
	if len(parts) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	took, err := bus.Fence(fctx, cl)
	cancel()
	if err != nil {
		err = fmt.Errorf("responder: fence the previous instance (init producer id): %w", err)
	} else {
		if took > time.Second {
			r.log.Info("fenced the previous instance", "seconds", took.Seconds())
		}
		err = r.restore(ctx, parts)
	}
	if err != nil {
		r.log.Error("restore from clarion.actions failed", "partitions", parts, "err", err)
		r.mu.Lock()
		r.restoreErr = err
		r.mu.Unlock()
	}
}

// revoked drops the state of partitions this instance no longer owns.
func (r *Responder) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.txnMu.Lock() // let an offset-less transaction in flight end first
	defer r.txnMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range m[bus.TopicResponderRequests] {
		delete(r.parts, n)
	}
	r.updatePendingLocked()
}

// reloadOwned restores every owned partition (after an aborted transaction).
func (r *Responder) reloadOwned(ctx context.Context) error {
	r.mu.Lock()
	parts := make([]int32, 0, len(r.parts))
	for n := range r.parts {
		parts = append(parts, n)
	}
	r.mu.Unlock()
	return r.restore(ctx, parts)
}

// restore reads clarion.actions partitions parts from the start to their
// last stable offset, installs the latest version of each action, and
// resumes the actions found executing.
func (r *Responder) restore(ctx context.Context, parts []int32) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RestoreTimeout)
	defer cancel()
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	fresh := map[int32]*part{}
	for _, n := range parts {
		fresh[n] = newPart()
	}
	cl, err := bus.NewClient(r.cfg.Brokers, r.log, append([]kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, r.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("responder: restore client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, bus.TopicActions)
	if err != nil {
		return fmt.Errorf("responder: clarion.actions offsets: %w", err)
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	for _, n := range parts {
		lo, ok := ends.Lookup(bus.TopicActions, n)
		if !ok || lo.Err != nil {
			return fmt.Errorf("responder: clarion.actions partition %d end offset: %v", n, lo.Err)
		}
		if lo.Offset > 0 {
			want[n] = lo.Offset
			offs[n] = kgo.NewOffset().AtStart()
		}
	}
	restored, corrupt := 0, 0
	if len(want) > 0 {
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{bus.TopicActions: offs})
		for len(want) > 0 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("responder: restore %v: %w", parts, err)
			}
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.Canceled) {
					r.log.Warn("clarion.actions fetch", "err", err)
				}
			})
			fs.EachRecord(func(rec *kgo.Record) {
				end, ok := want[rec.Partition]
				if !ok || rec.Offset >= end {
					return
				}
				if rec.Offset+1 >= end {
					delete(want, rec.Partition)
				}
				if rec.Attrs.IsControl() {
					return
				}
				if _, err := r.cfg.Verifier.Verify(rec, record.SignerResponder); err != nil {
					// Only the responder writes actions: a forged one
					// (say, "executing") must not be resumed.
					r.m.actionsRefused.Inc()
					r.log.Warn("ignoring clarion.actions record not signed by the responder", "partition", rec.Partition, "offset", rec.Offset, "err", err)
					return
				}
				var a record.Action
				if err := json.Unmarshal(rec.Value, &a); err != nil || a.ID == "" {
					corrupt++
					r.log.Warn("skipping unreadable clarion.actions record", "partition", rec.Partition, "offset", rec.Offset, "err", err)
					return
				}
				p := fresh[rec.Partition]
				if prev := p.actions[a.ID]; prev != nil && prev.Version >= a.Version {
					return
				}
				p.set(&a)
			})
		}
	}
	now := r.cfg.Now()
	var resume []dispatchItem
	r.mu.Lock()
	for _, n := range parts {
		p := fresh[n]
		for _, a := range p.actions {
			restored++
			if a.Mode == record.ModeAutomatic && a.DecidedBy == ByPolicy && now.Sub(a.DecidedAt) < time.Hour {
				p.auto[a.IntegrationID] = append(p.auto[a.IntegrationID], a.DecidedAt)
			}
			if a.State == record.ActionExecuting || a.State == record.ActionApproved {
				resume = append(resume, dispatchItem{*a, n})
			}
		}
		for _, ts := range p.auto {
			sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		}
		r.parts[n] = p
	}
	r.updatePendingLocked()
	r.mu.Unlock()
	r.m.restored.Add(float64(restored))
	r.log.Info("restored actions from clarion.actions", "partitions", parts, "actions", restored, "resumed", len(resume), "unreadable", corrupt)
	for _, d := range resume {
		r.log.Info("resuming an action found executing", "action", d.a.ID, "kind", d.a.Kind, "user", d.a.User.ID)
		r.dispatch(d.a, d.partition)
	}
	return nil
}
