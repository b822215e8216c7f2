// Package source benchmarks the tenant-wide stage (processor/source): the
// CPU cost per event of everything the stage does to an event besides
// Kafka I/O — parse it, derive its attempts, encode them for
// clarion.source.attempts, decode them, run the detector, and write each
// changed source's changelog record once per batch — and the state held
// per source.
//
//	go test -run '^$' -bench . -benchtime 3x ./bench/source/
package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor/source"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// corpus generates a tenant of 2,000 users over a week (with its sprays,
// stuffing and look-alikes) as raw LogEvents in delivery order.
func corpus(b *testing.B) [][]byte {
	b.Helper()
	var buf bytes.Buffer
	if err := source.Generate(&buf, source.GenOptions{Seed: 7, Users: 2000, Days: 7}); err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			b.Fatal(err)
		}
		out = append(out, l.Event)
	}
	return out
}

type stage struct {
	eng   *source.Engine
	srcs  map[string]*source.Source
	dirty map[string]bool
	ev    logevent.Event
	buf   []source.Attempt
	out   []byte
	enc   []byte
	anoms int
}

func newStage() *stage {
	return &stage{eng: source.NewEngine(source.Params{}), srcs: map[string]*source.Source{}, dirty: map[string]bool{}}
}

func (s *stage) event(raw []byte) {
	if logevent.Parse(raw, &s.ev) != nil {
		return
	}
	s.buf = source.Attempts(s.buf[:0], &s.ev)
	for i := range s.buf {
		s.enc = s.buf[i].AppendBinary(s.enc[:0]) // route: onto clarion.source.attempts
		var a source.Attempt
		if a.UnmarshalBinary(s.enc) != nil { // detect: off it
			continue
		}
		k := "bench/" + a.Subject
		st := s.srcs[k]
		if st == nil {
			st = &source.Source{}
			s.srcs[k] = st
		}
		if an := s.eng.Process("bench", st, &a); an != nil {
			s.out, _ = json.Marshal(an)
			s.anoms++
		}
		s.dirty[k] = true
	}
}

// flush writes the changelog record of every source changed in the batch.
func (s *stage) flush() {
	for k := range s.dirty {
		s.out, _ = s.srcs[k].AppendBinary(s.out[:0])
	}
	clear(s.dirty)
}

func BenchmarkStage(b *testing.B) {
	evs := corpus(b)
	const batch = 5000 // the stage's MaxPollRecords
	b.ReportAllocs()
	b.ResetTimer()
	c0, w0 := cpuTime(), time.Now()
	n := 0
	for i := 0; i < b.N; i++ {
		s := newStage()
		for j, raw := range evs {
			s.event(raw)
			if j%batch == batch-1 {
				s.flush()
			}
		}
		s.flush()
		n += len(evs)
	}
	cpu, wall := cpuTime()-c0, time.Since(w0)
	b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(n)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(len(evs)), "events/pass")
}

// BenchmarkStatePerSource replays the corpus once and reports the
// changelog bytes per source (mean, p99, max) and Go heap per source.
func BenchmarkStatePerSource(b *testing.B) {
	evs := corpus(b)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s := newStage()
		for _, raw := range evs {
			s.event(raw)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		var sizes []int
		for _, st := range s.srcs {
			enc, _ := st.AppendBinary(nil)
			sizes = append(sizes, len(enc))
		}
		sort.Ints(sizes)
		sum := 0
		for _, x := range sizes {
			sum += x
		}
		b.ReportMetric(float64(len(sizes)), "sources")
		b.ReportMetric(float64(sum)/float64(len(sizes)), "changelog-B/source")
		b.ReportMetric(float64(sizes[len(sizes)*99/100]), "p99-changelog-B/source")
		b.ReportMetric(float64(sizes[len(sizes)-1]), "max-changelog-B/source")
		b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(len(sizes)), "heap-B/source")
		b.ReportMetric(float64(s.anoms), "anomaly-versions")
		runtime.KeepAlive(s)
	}
}

// BenchmarkDetectStep is step 2 alone (the stateful part that scales by
// partitions): decode attempt records, run the detector, write changed
// sources once per batch. Reported per event (attempt records / event as
// in the corpus).
func BenchmarkDetectStep(b *testing.B) {
	evs := corpus(b)
	var recs [][]byte
	var ev logevent.Event
	var buf []source.Attempt
	for _, raw := range evs {
		if logevent.Parse(raw, &ev) != nil {
			continue
		}
		buf = source.Attempts(buf[:0], &ev)
		for i := range buf {
			recs = append(recs, buf[i].AppendBinary(nil))
		}
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		s := newStage()
		for j, r := range recs {
			var a source.Attempt
			if a.UnmarshalBinary(r) != nil {
				b.Fatal("decode")
			}
			k := "bench/" + a.Subject
			st := s.srcs[k]
			if st == nil {
				st = &source.Source{}
				s.srcs[k] = st
			}
			s.eng.Process("bench", st, &a)
			s.dirty[k] = true
			if j%5000 == 4999 {
				s.flush()
			}
		}
		s.flush()
	}
	cpu := cpuTime() - c0
	b.ReportMetric(float64(b.N*len(evs))/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(b.N*len(recs))/cpu.Seconds(), "attempts/cpu-s")
}

// BenchmarkRouteStep is step 1 alone (stateless): parse each event,
// derive and encode its attempt records.
func BenchmarkRouteStep(b *testing.B) {
	evs := corpus(b)
	var ev logevent.Event
	var buf []source.Attempt
	var enc []byte
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for _, raw := range evs {
			if logevent.Parse(raw, &ev) != nil {
				continue
			}
			buf = source.Attempts(buf[:0], &ev)
			for i := range buf {
				enc = buf[i].AppendBinary(enc[:0])
			}
		}
	}
	cpu := cpuTime() - c0
	b.ReportMetric(float64(b.N*len(evs))/cpu.Seconds(), "events/cpu-s")
}
