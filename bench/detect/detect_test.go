package detect

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/geo"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/okta/sim/traffic"
	"github.com/clarion-itdr/clarion/processor/detect"
	"github.com/clarion-itdr/clarion/processor/detect/detecttest"
)

// events is a realistic stream from the simulator's traffic model: 300
// users over four weeks (home, office, trips, VPN, mobile, attacks).
var events = sync.OnceValue(func() [][]byte {
	geo.ZoneName(40.7, -74) // load the time-zone finder outside the timed loops
	m := traffic.New(traffic.Config{Seed: 7, Users: 300, Days: 28, Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
	var out [][]byte
	for {
		e, ok := m.Next()
		if !ok {
			return out
		}
		out = append(out, e.Raw)
	}
})

func bytesOf(evs [][]byte) int64 {
	var n int64
	for _, e := range evs {
		n += int64(len(e))
	}
	return n / int64(len(evs))
}

// BenchmarkParse: logevent.Parse alone.
func BenchmarkParse(b *testing.B) {
	evs := events()
	b.SetBytes(bytesOf(evs))
	b.ReportAllocs()
	var ev logevent.Event
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if err := logevent.Parse(evs[i%len(evs)], &ev); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// jsonEvent is the subset of a LogEvent the detectors read, for the
// encoding/json baseline.
type jsonEvent struct {
	UUID      string `json:"uuid"`
	Published string `json:"published"`
	EventType string `json:"eventType"`
	Actor     struct {
		ID          string `json:"id"`
		AlternateID string `json:"alternateId"`
		DisplayName string `json:"displayName"`
	} `json:"actor"`
	Client struct {
		UserAgent struct {
			Raw     string `json:"rawUserAgent"`
			OS      string `json:"os"`
			Browser string `json:"browser"`
		} `json:"userAgent"`
		Device    string `json:"device"`
		IPAddress string `json:"ipAddress"`
		Geo       struct {
			City        string          `json:"city"`
			State       string          `json:"state"`
			Country     string          `json:"country"`
			PostalCode  json.RawMessage `json:"postalCode"`
			Geolocation *struct {
				Lat float64 `json:"lat"`
				Lon float64 `json:"lon"`
			} `json:"geolocation"`
		} `json:"geographicalContext"`
	} `json:"client"`
	Outcome struct {
		Result string `json:"result"`
		Reason string `json:"reason"`
	} `json:"outcome"`
	SecurityContext struct {
		ASNumber int64  `json:"asNumber"`
		ASOrg    string `json:"asOrg"`
		ISP      string `json:"isp"`
		Domain   string `json:"domain"`
		IsProxy  bool   `json:"isProxy"`
	} `json:"securityContext"`
	DebugContext struct {
		DebugData map[string]string `json:"debugData"`
	} `json:"debugContext"`
}

// BenchmarkEncodingJSON: decoding the same events with encoding/json into
// a struct of the same fields, and nothing else (the baseline).
func BenchmarkEncodingJSON(b *testing.B) {
	evs := events()
	b.SetBytes(bytesOf(evs))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		var ev jsonEvent
		if err := json.Unmarshal(evs[i%len(evs)], &ev); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHotPath: parse + dedup + state update + every detector + alert
// grouping, per event, one core. The state is reset (untimed) each time
// the stream wraps, so no event is a duplicate.
func BenchmarkHotPath(b *testing.B) {
	evs := events()
	b.SetBytes(bytesOf(evs))
	b.ReportAllocs()
	var ev logevent.Event
	var res detect.Result
	var eng *detect.Engine
	var users map[string]*detect.User
	anomalies := 0
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if i%len(evs) == 0 {
			// Fresh state each pass (not a duplicate of the last pass);
			// its cost is small and counted.
			eng = detect.NewEngine(detect.Params{})
			users = make(map[string]*detect.User, 400)
		}
		if err := logevent.Parse(evs[i%len(evs)], &ev); err != nil {
			b.Fatal(err)
		}
		k := ev.UserKey()
		u := users[k]
		if u == nil {
			u = &detect.User{}
			users[k] = u
		}
		eng.Process("0oabench", u, &ev, &res)
		anomalies += len(res.Anomalies)
	}
	cpu.stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(anomalies)/float64(b.N), "anomalies/event")
}

// BenchmarkStateEncode: the changelog encoding of one steady-state user.
func BenchmarkStateEncode(b *testing.B) {
	u := detecttest.SteadyUser(b)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = u.AppendBinary(buf[:0])
	}
	b.ReportMetric(float64(len(buf)), "bytes/user")
}

// BenchmarkStatePerUser: heap held per user with 1,000,000 users at steady
// state (each a decoded copy of a user with full rings, as a restored
// processor holds them), including the map and keys.
func BenchmarkStatePerUser(b *testing.B) {
	const n = 1_000_000
	enc := detecttest.SteadyUser(b).AppendBinary(nil)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		type entry struct { // as processor holds users
			key          string
			u            detect.User
			dirty, alive bool
		}
		m := make(map[string]*entry, n)
		for j := 0; j < n; j++ {
			e := &entry{key: fmt.Sprintf("0oa1234567890/00u%016d", j)}
			if err := e.u.UnmarshalBinary(enc); err != nil {
				b.Fatal(err)
			}
			m[e.key] = e
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/user")
		b.ReportMetric(float64(len(enc)), "encoded-bytes/user")
		runtime.KeepAlive(m)
	}
}
