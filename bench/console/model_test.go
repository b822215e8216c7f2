// Package console benchmarks the console's alerts read model: folding
// records in, answering filtered lists, and the memory a full model holds.
//
//	go test -run XXX -bench . -benchmem ./bench/console/
package console

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/console/alerts"
	"github.com/clarion-itdr/clarion/internal/bus"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func alert(i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": fmt.Sprintf("%032x", i), "dedup_key": fmt.Sprintf("clarion/int/00u%d/%032x", i%500, i), "integration_id": "int",
		"user":   map[string]string{"id": fmt.Sprintf("00u%017d", i%500), "login": fmt.Sprintf("user%d@example.com", i%500)},
		"status": []string{"New", "Analyzing", "Escalated", "Closed"}[i%4], "disposition": "Unknown",
		"severity": []string{"Critical", "High", "Medium", "Low"}[i%4], "action_required": "none",
		"anomalies": []map[string]string{{"id": fmt.Sprintf("%032x", i), "type": "impossible_travel"}}, "anomaly_count": 8,
		"types": []string{"impossible_travel", "new_device"}, "first_seen": t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano),
		"last_seen": t0.Add(time.Duration(i+30) * time.Minute).Format(time.RFC3339Nano), "version": 3,
		"summary": "Impossible travel, new device for user@example.com (8 anomalies). Latest: user signed in from Tokyo, Japan 40 min after signing in from Paris, France, 9712 km away: 14568 km/h, faster than any flight.",
	})
	return b
}

func anomaly(i, j int) []byte {
	p := t0.Add(time.Duration(i)*time.Minute + time.Duration(j)*time.Second).Format(time.RFC3339Nano)
	s := map[string]any{"uuid": fmt.Sprintf("ev-%d-%d", i, j), "published": p, "outcome": "SUCCESS", "ip": "203.0.113.7", "city": "Tokyo", "country": "Japan", "lat": 35.68, "lon": 139.69, "asn": 2516, "isp": "KDDI", "browser": "CHROME", "os": "Mac OS X", "device": "Computer"}
	b, _ := json.Marshal(map[string]any{
		"id": fmt.Sprintf("%d-%d", i, j), "type": "impossible_travel", "integration_id": "int", "user": map[string]string{"id": "00u1", "login": "user@example.com"},
		"event_uuid": fmt.Sprintf("ev-%d-%d", i, j), "published": p, "score": 0.93,
		"evidence": map[string]any{"signins": []any{s, s}, "distance_km": 9712, "hours": 0.67, "speed_kmh": 14568, "max_speed_kmh": 1000, "geo_error_km": 50, "baseline_places": 3, "baseline_signins": 120, "history_days": 40},
		"sentence": "user@example.com signed in from Tokyo, Japan 40 min after signing in from Paris, France, 9712 km away: 14568 km/h, faster than any flight.",
		"alert_id": fmt.Sprintf("%032x", i),
	})
	return b
}

func newModel(b *testing.B, max int) *alerts.Model {
	m, err := alerts.New(alerts.Config{MaxAlerts: max, MaxAnomaliesPerAlert: 8, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkApplyAlert folds new alerts into a model at its 10,000 cap (so
// evictions are included).
func BenchmarkApplyAlert(b *testing.B) {
	m := newModel(b, 10_000)
	recs := make([][]byte, 20_000)
	for i := range recs {
		recs[i] = alert(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Apply(bus.TopicAlerts, recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList answers GET /api/alerts over 10,000 alerts: no filter (the
// first 200), and status + severity + user filters.
func BenchmarkList(b *testing.B) {
	m := newModel(b, 10_000)
	for i := 0; i < 10_000; i++ {
		m.Apply(bus.TopicAlerts, alert(i))
	}
	for _, tc := range []struct {
		name string
		f    alerts.Filter
	}{
		{"all", alerts.Filter{Limit: 200}},
		{"filtered", alerts.Filter{Status: []string{"New"}, Severity: []string{"Critical"}, User: "user4", Limit: 200}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				m.List(tc.f)
			}
		})
	}
}

// BenchmarkHeldMemory fills a model with 10,000 alerts of 1 and of 8
// anomalies each (2 sign-ins of evidence per anomaly) and reports the live
// heap it holds.
func BenchmarkHeldMemory(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("anomalies=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				m := newModel(b, 10_000)
				for a := 0; a < 10_000; a++ {
					m.Apply(bus.TopicAlerts, alert(a))
					for j := 0; j < n; j++ {
						m.Apply(bus.TopicAnomalies, anomaly(a, j))
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
				runtime.KeepAlive(m)
			}
		})
	}
}
