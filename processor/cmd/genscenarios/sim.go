package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/clarion-itdr/clarion/okta/sim/traffic"
)

// simFile is one scenario file generated from the traffic model.
type simFile struct {
	name   string
	cfg    traffic.Config
	jitter bool // deliver some events late and some twice, as hooks + poll do
}

var simFiles = []simFile{
	{name: "sim-seed1.jsonl.gz", cfg: traffic.Config{Seed: 1, Users: 100, Days: 28, AttackRate: 0.02}},
	{name: "sim-seed2-delivery.jsonl.gz", cfg: traffic.Config{Seed: 2, Users: 100, Days: 28, AttackRate: 0.02}, jitter: true},
}

type simLine struct {
	Event  json.RawMessage `json:"event"`
	Expect []string        `json:"expect"`
}

func writeSim(dir string) error {
	for _, sf := range simFiles {
		sf.cfg.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
		sf.cfg.OrgDomain = "clarion-sim.okta.com"
		m := traffic.New(sf.cfg)
		var evs []traffic.Event
		for {
			e, ok := m.Next()
			if !ok {
				break
			}
			evs = append(evs, e)
		}
		if sf.jitter {
			evs = deliver(evs, uint64(sf.cfg.Seed))
		}
		path := filepath.Join(dir, sf.name)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
		w := bufio.NewWriter(zw)
		for _, e := range evs {
			exp := e.Expect
			if exp == nil {
				exp = []string{}
			}
			b, err := json.Marshal(simLine{Event: e.Raw, Expect: exp})
			if err != nil {
				return err
			}
			w.Write(b)
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Println("wrote", path, len(evs), "events")
	}
	return nil
}

// deliver reorders events as Okta's hooks and the poller deliver them: 5%
// arrive 1 to 30 minutes late, and 3% arrive a second time (hook + poll
// overlap), up to an hour later.
func deliver(evs []traffic.Event, seed uint64) []traffic.Event {
	return jitter(evs, func(e traffic.Event) time.Time { return e.Published }, seed)
}

// jitter is deliver for any event type, at(e) being its published time.
func jitter[T any](evs []T, at func(T) time.Time, seed uint64) []T {
	r := rand.New(rand.NewPCG(seed, 0xC1A7))
	type item struct {
		at time.Time
		i  int
		e  T
	}
	items := make([]item, 0, len(evs)+len(evs)/20)
	for i, e := range evs {
		t := at(e)
		if r.Float64() < 0.05 {
			t = t.Add(time.Minute + time.Duration(r.Int64N(int64(29*time.Minute))))
		}
		items = append(items, item{t, i, e})
		if r.Float64() < 0.03 {
			items = append(items, item{at(e).Add(time.Duration(r.Int64N(int64(time.Hour)))), i, e})
		}
	}
	stableSort(items, func(a, b item) bool {
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		return a.i < b.i
	})
	out := make([]T, len(items))
	for k, it := range items {
		out[k] = it.e
	}
	return out
}

func stableSort[T any](s []T, less func(a, b T) bool) {
	slices.SortStableFunc(s, func(a, b T) int {
		switch {
		case less(a, b):
			return -1
		case less(b, a):
			return 1
		}
		return 0
	})
}
