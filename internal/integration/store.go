package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// Record keys on clarion.integrations: "i/<id>" holds an Integration,
// "h/<id>" its HookStatus. A nil value (tombstone) deletes.
const (
	keyIntegration = "i/"
	keyHook        = "h/"
)

// hookReportEvery bounds how often one replica writes an integration's hook
// status: verification is written at once, deliveries at most this often.
const hookReportEvery = 10 * time.Second

// Store is the registry, read from and written to clarion.integrations.
// Reads are served from memory; the memory is a replay of the topic plus
// everything written since. It is safe for concurrent use.
type Store struct {
	cl  *kgo.Client
	key *secrets.MasterKey
	log *slog.Logger
	now func() time.Time

	mu    sync.RWMutex
	byID  map[string]*Integration
	hooks map[string]HookStatus
	rate  map[string]*deliveryRate

	done chan struct{}
}

type deliveryRate struct {
	windowStart time.Time
	events      int
	lastWrite   time.Time
}

// Open replays clarion.integrations from brokers and keeps following it
// until Close. It returns once the replay has caught up with the topic's
// end, so a freshly started gateway knows every integration. The topic must
// exist (bus.EnsureTopics). opts are extra franz-go options (TLS, SASL).
func Open(ctx context.Context, brokers []string, key *secrets.MasterKey, log *slog.Logger, opts ...kgo.Opt) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	cl, err := bus.NewClient(brokers, log, append(append(bus.ProducerOpts(0),
		kgo.ConsumeTopics(bus.TopicIntegrations),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	), opts...)...)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cl: cl, key: key, log: log, now: time.Now,
		byID: map[string]*Integration{}, hooks: map[string]HookStatus{}, rate: map[string]*deliveryRate{},
		done: make(chan struct{}),
	}
	if err := s.catchUp(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	go s.follow()
	return s, nil
}

func (s *Store) catchUp(ctx context.Context) error {
	ends, err := kadm.NewClient(s.cl).ListEndOffsets(ctx, bus.TopicIntegrations)
	if err != nil {
		return fmt.Errorf("integration: read %s end offsets: %w", bus.TopicIntegrations, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("integration: read %s end offsets: %w", bus.TopicIntegrations, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	for len(want) > 0 {
		fs := s.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("integration: replay %s: %w", bus.TopicIntegrations, err)
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("integration registry fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			s.apply(r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}

func (s *Store) follow() {
	defer close(s.done)
	for {
		fs := s.cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("integration registry fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(s.apply)
	}
}

func (s *Store) apply(r *kgo.Record) {
	k := string(r.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(k, keyIntegration):
		id := k[len(keyIntegration):]
		if r.Value == nil {
			delete(s.byID, id)
			return
		}
		var in Integration
		if err := json.Unmarshal(r.Value, &in); err != nil || in.ID != id {
			s.log.Error("integration registry: skipping a corrupt record", "offset", r.Offset, "err", err)
			return
		}
		s.byID[id] = &in
	case strings.HasPrefix(k, keyHook):
		id := k[len(keyHook):]
		if r.Value == nil {
			delete(s.hooks, id)
			return
		}
		var h HookStatus
		if err := json.Unmarshal(r.Value, &h); err != nil {
			s.log.Error("integration registry: skipping a corrupt hook status", "offset", r.Offset, "err", err)
			return
		}
		s.hooks[id] = mergeHook(s.hooks[id], h)
	}
}

// mergeHook keeps the latest of each time, so replicas' reports never move
// a status backwards.
func mergeHook(old, n HookStatus) HookStatus {
	out := old
	if n.VerifiedAt != nil && (out.VerifiedAt == nil || n.VerifiedAt.After(*out.VerifiedAt)) {
		out.VerifiedAt = n.VerifiedAt
	}
	if n.LastDeliveryAt != nil && (out.LastDeliveryAt == nil || !n.LastDeliveryAt.Before(*out.LastDeliveryAt)) {
		out.LastDeliveryAt = n.LastDeliveryAt
		out.EventsPerMinute = n.EventsPerMinute
	}
	return out
}

// Close stops following the topic.
func (s *Store) Close() {
	s.cl.Close()
	<-s.done
}

// MasterKey returns the key the store seals and hashes with.
func (s *Store) MasterKey() *secrets.MasterKey { return s.key }

// Create validates req, generates the integration's id, secret and keys,
// and writes it durably before returning. The returned secret is the only
// copy in the clear. insecure relaxes the tenant URL rules (simulated org).
func (s *Store) Create(ctx context.Context, req CreateRequest, insecure bool) (*Integration, string, error) {
	in, secret, err := newIntegration(req, insecure, s.key, s.now())
	if err != nil {
		return nil, "", err
	}
	v, err := json.Marshal(in)
	if err != nil {
		return nil, "", err
	}
	if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: bus.TopicIntegrations, Key: []byte(keyIntegration + in.ID), Value: v}).FirstErr(); err != nil {
		return nil, "", fmt.Errorf("integration: store: %w", err)
	}
	s.mu.Lock()
	s.byID[in.ID] = in
	s.mu.Unlock()
	return in, secret, nil
}

// Get returns the integration with id. The result must not be modified.
func (s *Store) Get(id string) (*Integration, bool) {
	s.mu.RLock()
	in, ok := s.byID[id]
	s.mu.RUnlock()
	return in, ok
}

// List returns every integration, oldest first.
func (s *Store) List() []*Integration {
	s.mu.RLock()
	out := make([]*Integration, 0, len(s.byID))
	for _, in := range s.byID {
		out = append(out, in)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Hook returns the event hook status of integration id.
func (s *Store) Hook(id string) HookStatus {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hooks[id]
}

// NoteVerified records that Okta verified integration id's hook. It writes
// asynchronously; a failure is logged, never returned to Okta.
func (s *Store) NoteVerified(id string) {
	t := s.now().UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	h := mergeHook(s.hooks[id], HookStatus{VerifiedAt: &t})
	s.hooks[id] = h
	s.mu.Unlock()
	s.writeHook(id, HookStatus{VerifiedAt: &t})
}

// NoteDelivery records an accepted delivery of n events. Writes to the
// topic are throttled to one per hookReportEvery per replica.
func (s *Store) NoteDelivery(id string, n int) {
	now := s.now().UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	r := s.rate[id]
	if r == nil {
		r = &deliveryRate{windowStart: now}
		s.rate[id] = r
	}
	r.events += n
	h := s.hooks[id]
	h.LastDeliveryAt = &now
	elapsed := now.Sub(r.windowStart)
	write := now.Sub(r.lastWrite) >= hookReportEvery
	if elapsed >= time.Minute || write {
		mins := elapsed.Minutes()
		if mins < 1.0/60 {
			mins = 1.0 / 60
		}
		h.EventsPerMinute = float64(r.events) / mins
	}
	if elapsed >= time.Minute {
		r.windowStart, r.events = now, 0
	}
	s.hooks[id] = h
	if write {
		r.lastWrite = now
	}
	s.mu.Unlock()
	if write {
		s.writeHook(id, h)
	}
}

func (s *Store) writeHook(id string, h HookStatus) {
	v, _ := json.Marshal(h)
	s.cl.Produce(context.Background(), &kgo.Record{Topic: bus.TopicIntegrations, Key: []byte(keyHook + id), Value: v}, func(_ *kgo.Record, err error) {
		if err != nil && !errors.Is(err, kgo.ErrClientClosed) {
			s.log.Warn("integration registry: hook status not written", "integration", id, "err", err)
		}
	})
}
