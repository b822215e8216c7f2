package alerts

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func alertJSON(id string, version int, status, severity, login string, first, last time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "dedup_key": "k/" + id, "integration_id": "int-1", "user": map[string]string{"id": "00u" + login, "login": login + "@example.com"},
		"status": status, "disposition": "Unknown", "severity": severity, "action_required": "none",
		"anomalies": []map[string]string{{"id": "an-" + id, "type": "impossible_travel"}}, "anomaly_count": 1,
		"types": []string{"impossible_travel"}, "first_seen": first.Format(time.RFC3339Nano), "last_seen": last.Format(time.RFC3339Nano),
		"version": version, "summary": "Impossible travel for " + login, "future_field": map[string]int{"kept": 1},
	})
	return b
}

func anomalyJSON(id, alertID string, published time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "type": "impossible_travel", "integration_id": "int-1", "user": map[string]string{"id": "00u1"},
		"event_uuid": "ev-" + id, "published": published.Format(time.RFC3339Nano), "score": 0.9,
		"evidence": map[string]any{"signins": []map[string]any{{"published": published.Format(time.RFC3339Nano), "outcome": "SUCCESS", "lat": 48.85, "lon": 2.35}}, "speed_kmh": 5000},
		"sentence": "x signed in from Paris", "alert_id": alertID,
	})
	return b
}

func newModel(t *testing.T, cfg Config) *Model {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func apply(t *testing.T, m *Model, topic string, v []byte) {
	t.Helper()
	if err := m.Apply(topic, v); err != nil {
		t.Fatal(err)
	}
}

func ids(list []json.RawMessage) string {
	var out []string
	for _, r := range list {
		var a struct{ ID string }
		json.Unmarshal(r, &a)
		out = append(out, a.ID)
	}
	return strings.Join(out, ",")
}

func TestVersionsKeepTheHighest(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{})
	apply(t, m, bus.TopicAlerts, alertJSON("a", 2, "New", "High", "ann", t0, t0))
	apply(t, m, bus.TopicAlerts, alertJSON("a", 1, "New", "Low", "ann", t0, t0)) // late older version
	apply(t, m, bus.TopicAlerts, alertJSON("a", 2, "New", "Low", "ann", t0, t0)) // replay
	al, _, ok := m.Get("a")
	if !ok || !strings.Contains(string(al), `"severity":"High"`) || !strings.Contains(string(al), "future_field") {
		t.Fatalf("%s", al)
	}
	apply(t, m, bus.TopicAlerts, alertJSON("a", 3, "Escalated", "Critical", "ann", t0, t0.Add(time.Hour)))
	if al, _, _ := m.Get("a"); !strings.Contains(string(al), `"severity":"Critical"`) {
		t.Fatalf("%s", al)
	}
	if m.Len() != 1 {
		t.Fatalf("len %d", m.Len())
	}
}

func TestAnomaliesBeforeAndAfterTheirAlert(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{MaxAnomaliesPerAlert: 3})
	// The anomaly can be read before its alert (two topics, no order between them).
	apply(t, m, bus.TopicAnomalies, anomalyJSON("x1", "a", t0.Add(time.Minute)))
	if _, _, ok := m.Get("a"); ok {
		t.Fatal("an alert that was never read is visible")
	}
	if list, _ := m.List(Filter{}); len(list) != 0 {
		t.Fatal("orphan anomaly listed as an alert")
	}
	apply(t, m, bus.TopicAlerts, alertJSON("a", 1, "New", "High", "ann", t0, t0))
	apply(t, m, bus.TopicAnomalies, anomalyJSON("x0", "a", t0))
	apply(t, m, bus.TopicAnomalies, anomalyJSON("x0", "a", t0)) // replay
	_, an, _ := m.Get("a")
	if got := ids(an); got != "x0,x1" {
		t.Fatalf("anomalies %s", got)
	}
	for i := 2; i < 6; i++ {
		apply(t, m, bus.TopicAnomalies, anomalyJSON(fmt.Sprintf("x%d", i), "a", t0.Add(time.Duration(i)*time.Minute)))
	}
	if _, an, _ := m.Get("a"); ids(an) != "x3,x4,x5" {
		t.Fatalf("capped anomalies %s", ids(an))
	}
}

func TestBadRecords(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{})
	for _, tc := range []struct{ topic, v string }{
		{bus.TopicAlerts, `not json`},
		{bus.TopicAlerts, `{"version":1}`},
		{bus.TopicAlerts, `{"id":"a","first_seen":"yesterday","last_seen":"2026-01-01T00:00:00Z"}`},
		{bus.TopicAnomalies, `{"id":"x"}`},
		{bus.TopicAnomalies, `{"id":"x","alert_id":"a","published":"soon"}`},
		{"clarion.other", `{}`},
	} {
		if err := m.Apply(tc.topic, []byte(tc.v)); err == nil {
			t.Errorf("%s %s: accepted", tc.topic, tc.v)
		}
	}
	if m.Len() != 0 {
		t.Fatal("bad records left alerts")
	}
}

func TestEvictionClosedFirstThenOldest(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{MaxAlerts: 20})
	// 10 closed alerts, newest of all; 10 open ones, older.
	for i := 0; i < 10; i++ {
		apply(t, m, bus.TopicAlerts, alertJSON(fmt.Sprintf("closed%02d", i), 1, "Closed", "Low", "c", t0, t0.Add(time.Duration(100+i)*time.Hour)))
		apply(t, m, bus.TopicAlerts, alertJSON(fmt.Sprintf("open%02d", i), 1, "New", "Low", "o", t0, t0.Add(time.Duration(i)*time.Hour)))
	}
	if m.Len() != 20 {
		t.Fatalf("len %d", m.Len())
	}
	// One more: over the cap, a tenth (2) plus one go, closed ones first, oldest closed first.
	apply(t, m, bus.TopicAlerts, alertJSON("new", 1, "New", "High", "n", t0, t0.Add(time.Hour)))
	if m.Len() != 18 {
		t.Fatalf("len after eviction %d", m.Len())
	}
	for _, gone := range []string{"closed00", "closed01", "closed02"} {
		if _, _, ok := m.Get(gone); ok {
			t.Errorf("%s kept", gone)
		}
	}
	for _, kept := range []string{"closed03", "open00", "new"} {
		if _, _, ok := m.Get(kept); !ok {
			t.Errorf("%s evicted", kept)
		}
	}
	// Thousands more never grow it past the cap.
	for i := 0; i < 5000; i++ {
		apply(t, m, bus.TopicAlerts, alertJSON(fmt.Sprintf("b%d", i), 1, "New", "Low", "b", t0, t0.Add(time.Duration(i)*time.Minute)))
		apply(t, m, bus.TopicAnomalies, anomalyJSON(fmt.Sprintf("o%d", i), fmt.Sprintf("orphan%d", i), t0))
		if n := len(m.entries); n > 20 {
			t.Fatalf("%d entries held", n)
		}
	}
	if _, _, ok := m.Get("b4999"); !ok {
		t.Fatal("newest alert evicted")
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{})
	apply(t, m, bus.TopicAlerts, alertJSON("a1", 1, "New", "High", "ann", t0, t0.Add(time.Hour)))
	apply(t, m, bus.TopicAlerts, alertJSON("a2", 1, "Closed", "Low", "bob", t0.Add(48*time.Hour), t0.Add(49*time.Hour)))
	apply(t, m, bus.TopicAlerts, alertJSON("a3", 1, "Escalated", "Critical", "Annabel", t0.Add(24*time.Hour), t0.Add(25*time.Hour)))
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all, newest first", Filter{}, "a2,a3,a1"},
		{"status", Filter{Status: []string{"new", "escalated"}}, "a3,a1"},
		{"severity", Filter{Severity: []string{"Low"}}, "a2"},
		{"disposition", Filter{Disposition: []string{"Benign"}}, ""},
		{"action required", Filter{ActionRequired: []string{"none"}}, "a2,a3,a1"},
		{"action required approval", Filter{ActionRequired: []string{"approval"}}, ""},
		{"user substring", Filter{User: "ANN"}, "a3,a1"},
		{"user id", Filter{User: "00ubob"}, "a2"},
		{"since", Filter{Since: t0.Add(24 * time.Hour)}, "a2,a3"},
		{"until", Filter{Until: t0.Add(30 * time.Minute)}, "a1"},
		{"window", Filter{Since: t0.Add(2 * time.Hour), Until: t0.Add(30 * time.Hour)}, "a3"},
		{"integration", Filter{Integration: "other"}, ""},
		{"limit", Filter{Limit: 1}, "a2"},
	} {
		got, total := m.List(tc.f)
		if ids(got) != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, ids(got), tc.want)
		}
		if tc.name == "limit" && total != 3 {
			t.Errorf("limit total %d", total)
		}
	}
}

func TestSubscribeCoalesces(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{})
	ch, cancel := m.Subscribe()
	defer cancel()
	for i := 0; i < 5; i++ {
		apply(t, m, bus.TopicAlerts, alertJSON(fmt.Sprintf("a%d", i), 1, "New", "Low", "x", t0, t0))
	}
	select {
	case <-ch:
	default:
		t.Fatal("no wake-up")
	}
	select {
	case <-ch:
		t.Fatal("wake-ups not coalesced")
	default:
	}
	if m.Seq() != 5 {
		t.Fatalf("seq %d", m.Seq())
	}
}

// FuzzApply: no record panics the model or leaves an alert without an id.
func FuzzApply(f *testing.F) {
	f.Add(true, alertJSON("a", 1, "New", "High", "x", t0, t0))
	f.Add(false, anomalyJSON("x", "a", t0))
	f.Add(true, []byte(`{"id":"a","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z","version":4294967295}`))
	f.Add(false, []byte(`{"id":"x","alert_id":"a","published":"2026-01-01T00:00:00.123456789+14:00"}`))
	f.Fuzz(func(t *testing.T, isAlert bool, v []byte) {
		m, _ := New(Config{MaxAlerts: 3, Logger: slog.New(slog.DiscardHandler)})
		topic := bus.TopicAnomalies
		if isAlert {
			topic = bus.TopicAlerts
		}
		_ = m.Apply(topic, v)
		_ = m.Apply(topic, v)
		list, _ := m.List(Filter{})
		for _, r := range list {
			var a struct{ ID string }
			if json.Unmarshal(r, &a) != nil || a.ID == "" {
				t.Fatalf("listed %s", r)
			}
		}
	})
}
