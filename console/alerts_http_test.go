package console

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
)

func produce(t *testing.T, cl *kgo.Client, topic, key string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func testAlert(id string, version int, severity, login string, last time.Time) map[string]any {
	return map[string]any{
		"id": id, "dedup_key": "clarion/int-1/" + login + "/x", "integration_id": "int-1",
		"user":   map[string]string{"id": "00u" + login, "login": login + "@example.com"},
		"status": "New", "disposition": "Unknown", "severity": severity, "action_required": "none",
		"anomalies": []map[string]string{{"id": "an-" + id, "type": "impossible_travel"}}, "anomaly_count": 1,
		"types": []string{"impossible_travel"}, "first_seen": last.Add(-time.Hour).Format(time.RFC3339Nano),
		"last_seen": last.Format(time.RFC3339Nano), "version": version, "summary": "Impossible travel for " + login,
	}
}

// runConsole starts the read model against c and stops it at the end.
func runConsole(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.con.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAlertsAPIFollowsKafka(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 2)
	cl := bustest.Client(t, c.Brokers)
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Written before the console starts: it reads from the beginning.
	produce(t, cl, bus.TopicAlerts, "int-1/ann", testAlert("al-ann", 1, "Low", "ann", now.Add(-2*time.Hour)))
	produce(t, cl, bus.TopicAlerts, "int-1/ann", testAlert("al-ann", 2, "High", "ann", now.Add(-time.Hour)))
	produce(t, cl, bus.TopicAnomalies, "int-1/ann", map[string]any{
		"id": "an-al-ann", "type": "impossible_travel", "integration_id": "int-1", "user": map[string]string{"id": "00uann"},
		"event_uuid": "e1", "published": now.Add(-time.Hour).Format(time.RFC3339Nano), "score": 0.9,
		"evidence": map[string]any{"signins": []map[string]any{{"published": now.Format(time.RFC3339Nano), "outcome": "SUCCESS", "lat": 35.68, "lon": 139.69, "city": "Tokyo"}}, "speed_kmh": 9400, "baseline_places": 3},
		"sentence": "ann signed in from Tokyo 40 min after Paris", "alert_id": "al-ann",
	})
	produce(t, cl, bus.TopicAlerts, "int-1/bob", testAlert("al-bob", 1, "Medium", "bob", now.Add(-30*time.Minute)))
	cl.Produce(context.Background(), &kgo.Record{Topic: bus.TopicAlerts, Value: []byte("not json")}, nil)

	e := newEnv(t, c.Brokers, nil)
	runConsole(t, e)
	ck, _ := e.login(t)

	get := func(path string) (int, []byte) {
		resp, b := e.do(t, req{method: "GET", path: path, cookie: ck})
		return resp.StatusCode, b
	}
	var list alertListOut
	waitFor(t, "two alerts", func() bool {
		_, b := get("/api/alerts")
		json.Unmarshal(b, &list)
		return len(list.Alerts) == 2
	})
	if list.Alerts[0].ID != "al-bob" || list.Alerts[1].Severity != "High" || list.Alerts[1].Version != 2 {
		t.Fatalf("list %+v", list)
	}
	for q, want := range map[string]int{
		"severity=High": 1, "severity=high,medium": 2, "user=BOB": 1, "status=Closed": 0,
		"since=" + now.Add(-45*time.Minute).Format(time.RFC3339): 1, "until=" + now.Add(-100*time.Minute).Format(time.RFC3339): 1,
		"since=" + now.Format("2006-01-02"): -1, "limit=1": 1,
	} {
		code, b := get("/api/alerts?" + q)
		var l alertListOut
		json.Unmarshal(b, &l)
		if code != 200 || (want >= 0 && len(l.Alerts) != want) {
			t.Errorf("%s: %d %d alerts %s", q, code, len(l.Alerts), b)
		}
	}
	for _, q := range []string{"since=yesterday", "limit=0", "limit=5000", "since=2026-02-02&until=2026-02-01"} {
		if code, b := get("/api/alerts?" + q); code != 400 || !strings.Contains(string(b), "bad_filter") {
			t.Errorf("%s: %d %s", q, code, b)
		}
	}
	waitFor(t, "the anomaly", func() bool {
		_, b := get("/api/alerts/al-ann")
		return strings.Contains(string(b), "Tokyo")
	})
	code, b := get("/api/alerts/al-ann")
	var d struct {
		Alert     struct{ ID string }
		Anomalies []struct {
			ID       string
			Sentence string
			Evidence map[string]any
		}
	}
	if err := json.Unmarshal(b, &d); code != 200 || err != nil || d.Alert.ID != "al-ann" || len(d.Anomalies) != 1 || d.Anomalies[0].Evidence["speed_kmh"] != 9400.0 {
		t.Fatalf("detail %d %s", code, b)
	}
	if code, _ := get("/api/alerts/nope"); code != 404 {
		t.Fatalf("unknown alert %d", code)
	}
}

type alertListOut struct {
	Alerts []struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
		Version  int    `json:"version"`
	} `json:"alerts"`
	Total int `json:"total"`
}

// TestAlertStream: the SSE stream announces a new alert without a reload.
func TestAlertStream(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	cl := bustest.Client(t, c.Brokers)
	e := newEnv(t, c.Brokers, nil)
	runConsole(t, e)
	ck, _ := e.login(t)

	hr, _ := http.NewRequest("GET", e.srv.URL+"/api/alerts/stream", nil)
	hr.AddCookie(ck)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(hr.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				events <- sc.Text()
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			return ev
		case <-time.After(15 * time.Second):
			t.Fatal("no event")
		}
		return ""
	}
	if first := next(); first != `data: {"seq":0}` {
		t.Fatalf("first event %q", first)
	}
	produce(t, cl, bus.TopicAlerts, "int-1/cy", testAlert("al-cy", 1, "Critical", "cy", time.Now()))
	if ev := next(); !strings.HasPrefix(ev, `data: {"seq":`) || ev == `data: {"seq":0}` {
		t.Fatalf("event %q", ev)
	}
	// The stream ends when the console stops.
	e.con.stop()
	for range events {
	}
}

// TestStreamEndsOnServerShutdown: Shutdown does not cancel requests, so
// the console ends its streams itself when the server starts shutting down.
func TestStreamEndsOnServerShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	ck, _ := e.login(t)
	hr, _ := http.NewRequest("GET", e.srv.URL+"/api/alerts/stream", nil)
	hr.AddCookie(ck)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown waited for the stream: %v", err)
	}
	io.Copy(io.Discard, br)
}
