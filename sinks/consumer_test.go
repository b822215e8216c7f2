package sinks_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

// memWriter keeps every row it is given.
type memWriter struct {
	mu     sync.Mutex
	events []sinks.EventRow
	runs   []sinks.TriageRunRow
}

func (w *memWriter) Write(_ context.Context, b *sinks.Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range b.Events {
		r.Raw = string([]byte(r.Raw)) // rows share the record's memory
		w.events = append(w.events, r)
	}
	w.runs = append(w.runs, b.TriageRuns...)
	return nil
}

func (w *memWriter) counts() (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events), len(w.runs)
}

// TestConsumerSkipsAlertUpdates: alert updates for the processor on
// clarion.okta.events (header source=clarion) are neither stored nor
// dead-lettered, whatever their body; they are counted, and their offsets
// are committed with the batch, so they are not read again.
func TestConsumerSkipsAlertUpdates(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 1)
	cl := bustest.Client(t, kc.Brokers)

	events := sinkstest.Events(t, "int1", 5)
	odd := sinkstest.UpdateRecord(t, "al-9", "int1", "00uB")
	odd.Value = []byte(`not json: still not an Okta event`)
	recs := []*kgo.Record{
		events[0], sinkstest.UpdateRecord(t, "al-1", "int1", "00uA"), events[1], events[2],
		sinkstest.UpdateRecord(t, "al-2", "int1", "00uA"), odd, events[3],
		sinkstest.JSONRecord(bus.TopicTriage, "int1/00uA", sinkstest.TriageRun("al-1", 1, "int1", "00uA", "Benign", time.Now())),
		events[4], sinkstest.UpdateRecord(t, "al-3", "int1", "00uC"), // an update is the last record
	}
	sinkstest.Produce(t, cl, recs...)
	const updates = 4

	reg := prometheus.NewRegistry()
	w := &memWriter{}
	c, err := sinks.NewConsumer(sinks.ConsumerConfig{Name: "mem", Brokers: kc.Brokers, Group: "g-skip",
		FlushInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Metrics: sinks.NewMetrics(reg, "mem")}, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	adm := kadm.NewClient(cl)
	committed := func() int64 {
		resps, err := adm.FetchOffsets(context.Background(), "g-skip")
		if err != nil {
			return -1
		}
		o, ok := resps.Lookup(bus.TopicEvents, 0)
		if !ok {
			return -1
		}
		return o.At
	}
	eventsEnd := int64(len(recs) - 1) // every record but the triage run is on the events topic
	sinkstest.Eventually(t, 30*time.Second, func() bool {
		ne, nr := w.counts()
		return ne == 5 && nr == 1 && committed() == eventsEnd
	}, func() string {
		ne, nr := w.counts()
		return fmt.Sprintf("%d events, %d triage runs, committed offset %d of %d", ne, nr, committed(), eventsEnd)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := gather(t, reg, "clarion_sink_records_ignored_total", map[string]string{"topic": bus.TopicEvents, "reason": sinks.IgnoredAlertUpdate}); got != updates {
		t.Errorf("ignored alert updates = %v, want %d", got, updates)
	}
	if got := gather(t, reg, "clarion_sink_dead_letters_total", nil); got != 0 {
		t.Errorf("dead letters = %v, want 0", got)
	}
	if dl := bustest.ConsumeAll(t, kc.Brokers, bus.TopicDeadLetter, 10*time.Second); len(dl) != 0 {
		t.Errorf("%d records in the dead-letter topic", len(dl))
	}
	if got := gather(t, reg, "clarion_sink_rows_written_total", map[string]string{"table": sinks.TableEvents}); got != 5 {
		t.Errorf("event rows written = %v, want 5", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, r := range w.events {
		if r.UUID != bus.Header(events[i], bus.HeaderUUID) || r.Source != bus.SourceHook {
			t.Errorf("event row %d: uuid %s source %q, want %s hook", i, r.UUID, r.Source, bus.Header(events[i], bus.HeaderUUID))
		}
	}
}

// gather sums the samples of a metric whose labels include want.
func gather(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			for k, wv := range want {
				if labels[k] != wv {
					continue metrics
				}
			}
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v
}
