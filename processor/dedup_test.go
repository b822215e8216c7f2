package processor

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// TestRepeatedDeliveriesAreDuplicates: the simulated org's 28 days, then
// every event delivered again (days to weeks later than the original in
// event time, far past any user's recent sign-ins), give the same
// anomalies and alerts as one delivery, and every repeat is counted as a
// duplicate. The two runs also use different batch sizes: outputs are a
// function of the input order only.
func TestRepeatedDeliveriesAreDuplicates(t *testing.T) {
	events := readGz(t, "testdata/sim-seed1.jsonl.gz")
	reg1 := prometheus.NewRegistry()
	once := runWith(t, events, 1000, reg1)
	if n := gaugeLabel(t, reg1, "clarion_processor_events_total", "duplicate"); n != 0 {
		t.Fatalf("%v duplicates in a file without any", n)
	}
	twice := append(slices.Clone(events), events...)
	reg2 := prometheus.NewRegistry()
	got := runWith(t, twice, 137, reg2)
	if n := gaugeLabel(t, reg2, "clarion_processor_events_total", "duplicate"); n != float64(len(events)) {
		t.Errorf("duplicates %v, want %d (every repeat)", n, len(events))
	}
	if len(once) == 0 {
		t.Fatal("no outputs: nothing was compared")
	}
	diffOutputs(t, got, once)
}

// TestSameInputSameOutput: two runs of a file with late and repeated
// deliveries, with different batch sizes, give byte-identical outputs.
func TestSameInputSameOutput(t *testing.T) {
	events := readGz(t, "testdata/sim-seed2-delivery.jsonl.gz")
	a := runWith(t, events, 1000, nil)
	b := runWith(t, events, 7, nil)
	if len(a) == 0 {
		t.Fatal("no outputs")
	}
	diffOutputs(t, b, a)
}

// TestDedupSetRestore: a set written to the changelog records (flush) and
// read back (restore) holds the same uuids; expired days are tombstoned.
func TestDedupSetRestore(t *testing.T) {
	t.Parallel()
	s := newDedupSet()
	recs := map[string][]byte{}
	emit := func(k string, v []byte) {
		if v == nil {
			delete(recs, k)
			return
		}
		recs[k] = v
	}
	for i := 0; i < 1000; i++ {
		s.insert(int64(100+i%5), keyOfUUID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)))
		if i%100 == 99 {
			s.flush(int64(i), 0, emit)
		}
	}
	s.insert(200, keyOfUUID("not-a-uuid"))
	s.flush(1000, 102, emit) // days 100 and 101 expire
	r := newDedupSet()
	for k, v := range recs {
		if err := r.restore(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if r.len() != s.len() || s.len() != 601 {
		t.Fatalf("restored %d uuids, set holds %d, want 601", r.len(), s.len())
	}
	if !r.seen(200, keyOfUUID("not-a-uuid")) || r.seen(100, keyOfUUID(fmt.Sprintf("%08x-0000-4000-8000-%012x", 0, 0))) {
		t.Fatal("restored set differs")
	}
	if err := r.restore(dedupPrefix+"x/1", make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "dedup") {
		t.Fatalf("bad key accepted: %v", err)
	}
}

// BenchmarkDedupMemory reports the heap per uuid held, at a million uuids
// spread over 90 days: go test -run '^$' -bench DedupMemory -benchtime 1x ./processor/
func BenchmarkDedupMemory(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := newDedupSet()
		for i := range n {
			s.insert(int64(i%90), keyOfUUID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)))
			if i%5000 == 4999 {
				s.flush(int64(i), 0, func(string, []byte) {})
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/uuid")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/million")
		runtime.KeepAlive(s)
	}
}

// BenchmarkEmbeddedMemory reports the embedded broker's heap per day of
// raw events at Okta's cap (400,000 events a day, simulated events of
// about 2.4 KB, snappy-compressed batches as the gateway produces them),
// from 100,000 events with a data dir:
// go test -run '^$' -bench EmbeddedMemory -benchtime 1x ./processor/
func BenchmarkEmbeddedMemory(b *testing.B) {
	events := readGz(b, "testdata/sim-seed1.jsonl.gz")
	const n = 100_000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := bustest.New(b, 6, kfake.DataDir(b.TempDir()))
		cl := bustest.Client(b, c.Brokers, bus.ProducerOpts(0)...)
		ctx := context.Background()
		var ev logevent.Event
		for i := range n {
			r, err := eventRecord(i, events[i%len(events)], &ev)
			if err != nil {
				b.Fatal(err)
			}
			cl.Produce(ctx, r, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / n
		b.ReportMetric(per, "B/event")
		b.ReportMetric(per*400_000/(1<<20), "MiB/day-at-cap")
	}
}
