package processor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/processor/detect"
)

// assigned restores the newly assigned partitions' users from the
// changelog. franz-go calls it before fetching from those partitions, so no
// record is processed against missing state.
//
// Before reading, it fences: initialising the transactional producer makes
// the broker abort a transaction its crashed predecessor (same
// transactional ID) left open, which would otherwise hold the changelog's
// last stable offset until the transaction timed out.
func (p *Processor) assigned(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	parts := m[bus.TopicEvents]
	if len(parts) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, p.cfg.RestoreTimeout)
	took, err := bus.Fence(fctx, cl)
	cancel()
	p.m.restoreSeconds.WithLabelValues("fence").Observe(took.Seconds())
	if err != nil {
		err = fmt.Errorf("processor: fence the previous instance (init producer id): %w", err)
	} else {
		err = p.restore(ctx, parts)
	}
	if err != nil {
		p.log.Error("restore from changelog failed", "partitions", parts, "err", err)
		p.mu.Lock()
		p.restoreErr = err
		p.mu.Unlock()
	}
}

// revoked drops the state of partitions this instance no longer owns.
func (p *Processor) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range m[bus.TopicEvents] {
		p.drop(n)
	}
}

func (p *Processor) drop(n int32) {
	part := p.parts[n]
	if part == nil {
		return
	}
	for _, e := range part.users {
		if !e.gone {
			p.m.users.Dec()
		}
	}
	delete(p.parts, n)
	p.m.partitions.Dec()
}

// reloadOwned throws away in-memory state of every owned partition and
// restores it from the changelog (after an aborted transaction).
func (p *Processor) reloadOwned(ctx context.Context) error {
	p.mu.Lock()
	parts := make([]int32, 0, len(p.parts))
	for n := range p.parts {
		parts = append(parts, n)
	}
	p.mu.Unlock()
	return p.restore(ctx, parts)
}

// restore reads changelog partitions parts from the start to their last
// stable offset and installs the users found there.
func (p *Processor) restore(ctx context.Context, parts []int32) error {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RestoreTimeout)
	defer cancel()
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	fresh := map[int32]*partition{}
	for _, n := range parts {
		fresh[n] = &partition{eng: detect.NewEngine(p.cfg.Params), users: map[string]*entry{}, dedup: newDedupSet()}
	}
	cl, err := bus.NewClient(p.cfg.Brokers, p.log, append([]kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}, p.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("processor: restore client: %w", err)
	}
	defer cl.Close()
	ends, waited, held, err := p.stableEnds(ctx, kadm.NewClient(cl), parts)
	if err != nil {
		return err
	}
	p.m.restoreSeconds.WithLabelValues("wait").Observe(waited.Seconds())
	if len(held) > 0 {
		p.m.restoreWaits.Inc()
		p.log.Warn("restore waited for an open transaction of another producer to end", "partitions", held, "seconds", waited.Seconds())
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	for _, n := range parts {
		if end := ends[n]; end > 0 {
			want[n] = end
			offs[n] = kgo.NewOffset().AtStart()
		}
	}
	restored, corrupt := 0, 0
	if len(want) > 0 {
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{bus.TopicChangelog: offs})
		for len(want) > 0 {
			fs := cl.PollFetches(ctx)
			if p.cfg.crashInRestore != nil {
				p.cfg.crashInRestore()
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("processor: restore %v: %w", parts, err)
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.Canceled) {
					ferr = err
				}
			})
			if ferr != nil {
				p.log.Warn("changelog fetch", "err", ferr)
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
				if strings.HasPrefix(key, dedupPrefix) {
					if err := part.dedup.restore(key, r.Value); err != nil {
						corrupt++
						p.m.corrupt.Inc()
						p.log.Warn("skipping corrupt dedup record", "partition", r.Partition, "offset", r.Offset, "err", err)
					}
					return
				}
				if r.Value == nil {
					delete(part.users, key)
					return
				}
				e := &entry{key: key}
				if err := e.u.UnmarshalBinary(r.Value); err != nil {
					corrupt++
					p.m.corrupt.Inc()
					p.log.Warn("skipping corrupt changelog record", "partition", r.Partition, "offset", r.Offset, "err", err)
					delete(part.users, key)
					return
				}
				part.users[key] = e
			})
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range parts {
		p.drop(n)
		part := fresh[n]
		for _, e := range part.users {
			if e.u.LastSeen > part.watermark {
				part.watermark = e.u.LastSeen
			}
			part.eng.Attach(e.integ(), &e.u)
			p.m.users.Inc()
			restored++
		}
		part.swept = part.watermark
		p.parts[n] = part
		p.m.partitions.Inc()
	}
	p.m.restored.Add(float64(restored))
	took := time.Since(begin)
	p.m.restoreSeconds.WithLabelValues("read").Observe((took - waited).Seconds())
	p.log.Info("restored state from changelog", "partitions", parts, "users", restored, "corrupt", corrupt,
		"seconds", took.Seconds(), "waited_seconds", waited.Seconds(), "waited_for", waitReason(held))
	return nil
}

func waitReason(held []int32) string {
	if len(held) == 0 {
		return "nothing"
	}
	return "open transaction of another producer"
}

// stableEnds returns the offsets up to which parts' changelog must be
// read: the high watermarks when the restore starts, once the last stable
// offset has reached them. Our own predecessor's open transaction is
// already aborted (fenced); a last stable offset still below the high
// watermark is a transaction of another producer (an instance that owned
// the partition before and died, or a zombie), which the broker aborts
// within bus.TransactionTimeout. Reading only to the last stable offset
// instead would miss what was committed after that transaction began.
// It returns how long it waited and the partitions that made it wait.
func (p *Processor) stableEnds(ctx context.Context, adm *kadm.Client, parts []int32) (map[int32]int64, time.Duration, []int32, error) {
	start := time.Now()
	hwm, err := adm.ListEndOffsets(ctx, bus.TopicChangelog)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("processor: changelog end offsets: %w", err)
	}
	ends := map[int32]int64{}
	for _, n := range parts {
		o, ok := hwm.Lookup(bus.TopicChangelog, n)
		if !ok || o.Err != nil {
			return nil, 0, nil, fmt.Errorf("processor: changelog partition %d end offset: %v", n, o.Err)
		}
		ends[n] = o.Offset
	}
	var held []int32
	for {
		lso, err := adm.ListCommittedOffsets(ctx, bus.TopicChangelog)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("processor: changelog stable offsets: %w", err)
		}
		var behind []int32
		for _, n := range parts {
			if o, ok := lso.Lookup(bus.TopicChangelog, n); !ok || o.Err != nil || o.Offset < ends[n] {
				behind = append(behind, n)
			}
		}
		if len(behind) == 0 {
			return ends, time.Since(start), held, nil
		}
		if held == nil {
			held = behind
			p.log.Info("restore waiting: an open transaction holds the changelog", "partitions", behind)
		}
		if time.Since(start) > bus.TransactionTimeout+5*time.Second {
			// The broker should have aborted it by now: read what is
			// stable rather than wait for ever.
			p.log.Warn("restore: an open transaction outlived the transaction timeout; reading to the last stable offset", "partitions", behind)
			for _, n := range behind {
				if o, ok := lso.Lookup(bus.TopicChangelog, n); ok && o.Err == nil {
					ends[n] = o.Offset
				}
			}
			return ends, time.Since(start), held, nil
		}
		select {
		case <-ctx.Done():
			return nil, time.Since(start), held, fmt.Errorf("processor: restore %v: waiting for open transactions on %v: %w", parts, behind, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// integOf returns the integration part of a record key (integration/user).
func integOf(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i]
		}
	}
	return key
}
