package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
)

// responseFixture writes an alert with two anomalies, a triage run and a
// pending action, and returns the alert as written.
func responseFixture(t *testing.T, cl *kgo.Client, now time.Time) map[string]any {
	t.Helper()
	al := testAlert("al-eve", 4, "Critical", "eve", now)
	al["status"], al["disposition"], al["detection_severity"], al["action_required"] = "Escalated", "Confirmed Threat", "High", "approval"
	produce(t, cl, bus.TopicAlerts, "int-1/00ueve", al)
	signin := func(uuid, outcome string, lat, lon float64, asn int) map[string]any {
		return map[string]any{"uuid": uuid, "published": now.Format(time.RFC3339Nano), "outcome": outcome, "lat": lat, "lon": lon, "asn": asn}
	}
	produce(t, cl, bus.TopicAnomalies, "int-1/00ueve", map[string]any{
		"id": "an-1", "type": "impossible_travel", "integration_id": "int-1", "user": map[string]string{"id": "00ueve"}, "alert_id": "al-eve",
		"published": now.Add(-time.Minute).Format(time.RFC3339Nano), "score": 0.9, "sentence": "travel",
		"evidence": map[string]any{"signins": []any{signin("u1", "SUCCESS", 48.85, 2.35, 3215), signin("u2", "SUCCESS", 35.68, 139.69, 2516)}},
	})
	produce(t, cl, bus.TopicAnomalies, "int-1/00ueve", map[string]any{
		"id": "an-2", "type": "anonymizing_proxy", "integration_id": "int-1", "user": map[string]string{"id": "00ueve"}, "alert_id": "al-eve",
		"published": now.Format(time.RFC3339Nano), "score": 0.8, "sentence": "proxy",
		// The Tokyo sign-in again (once in Learn), a failure (never learnt), one without a place but with a network.
		"evidence": map[string]any{"signins": []any{signin("u2", "SUCCESS", 35.68, 139.69, 2516), signin("u3", "FAILURE", 1, 1, 666),
			map[string]any{"uuid": "u4", "published": now.Format(time.RFC3339Nano), "outcome": "SUCCESS", "asn": 9009}}},
	})
	run := record.TriageRun{
		ID: record.TriageRunID("al-eve", 4), AlertID: "al-eve", AlertVersion: 4, IntegrationID: "int-1", User: record.UserRef{ID: "00ueve"},
		Started: now, Finished: now.Add(time.Second), By: "llm", Provider: "openai", Model: "m",
		Output:        record.Output{Disposition: record.DispositionSuspicious, Severity: "High", Summary: "<img src=x onerror=alert(1)>"},
		Deterministic: record.Output{Disposition: record.DispositionBenign},
		Steps:         []record.Step{{N: 1, Text: "look", ToolCalls: []record.ToolCall{{Name: "recent_signins", Input: "{}", Output: "[]"}}}},
	}
	produce(t, cl, bus.TopicTriage, "int-1/00ueve", run)
	produce(t, cl, bus.TopicActions, "int-1/00ueve", record.Action{
		ID: record.ActionID("al-eve", record.KindSuspendUser), AlertID: "al-eve", IntegrationID: "int-1", User: record.UserRef{ID: "00ueve"},
		Kind: record.KindSuspendUser, State: record.ActionPending, Mode: record.ModeApproval, RequestedBy: "triage", RequestedAt: now, Version: 1,
	})
	return al
}

func TestAlertDetailWithTriageAndActions(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	now := time.Now().UTC().Truncate(time.Millisecond)
	responseFixture(t, bustest.Client(t, c.Brokers), now)
	e := newEnv(t, c.Brokers, nil)
	runConsole(t, e)
	var d struct {
		Alert     map[string]any    `json:"alert"`
		Anomalies []json.RawMessage `json:"anomalies"`
		Triage    []record.TriageRun
		Actions   []record.Action
	}
	waitFor(t, "the whole alert", func() bool {
		resp, b := e.do(t, req{method: "GET", path: "/api/alerts/al-eve", bearer: testToken})
		return resp.StatusCode == 200 && json.Unmarshal(b, &d) == nil && len(d.Anomalies) == 2 && len(d.Triage) == 1 && len(d.Actions) == 1
	})
	if d.Alert["id"] != "al-eve" || d.Triage[0].Steps[0].ToolCalls[0].Name != "recent_signins" || d.Actions[0].State != record.ActionPending {
		t.Fatalf("detail %+v", d)
	}
	// The responder finds the action through the model.
	a, ok := e.con.Alerts().Action(record.ActionID("al-eve", record.KindSuspendUser))
	if !ok || a.Kind != record.KindSuspendUser || a.AlertID != "al-eve" {
		t.Fatalf("Action: %+v %v", a, ok)
	}
	// An alert without triage or actions still answers both lists, empty.
	produce(t, bustest.Client(t, c.Brokers), bus.TopicAlerts, "int-1/bob", testAlert("al-bob", 1, "Low", "bob", now))
	waitFor(t, "the second alert", func() bool {
		resp, b := e.do(t, req{method: "GET", path: "/api/alerts/al-bob", bearer: testToken})
		return resp.StatusCode == 200 && strings.Contains(string(b), `"triage":[]`) && strings.Contains(string(b), `"actions":[]`)
	})
}

func TestFeedback(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	now := time.Now().UTC().Truncate(time.Millisecond)
	al := responseFixture(t, bustest.Client(t, c.Brokers), now)
	prod, err := bus.NewClient(c.Brokers, nil, bus.ProducerOpts(0)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	e := newEnv(t, c.Brokers, func(cfg *Config) { cfg.Producer = prod })
	runConsole(t, e)
	ck, csrf := e.login(t)
	waitFor(t, "the alert and its anomalies and triage", func() bool {
		d, ok := e.con.Alerts().Detail("al-eve")
		return ok && len(d.Anomalies) == 2 && len(d.Triage) == 1
	})
	post := func(r req) (int, string) {
		r.method = "POST"
		if r.path == "" {
			r.path = "/api/alerts/al-eve/feedback"
		}
		resp, b := e.do(t, r)
		return resp.StatusCode, string(b)
	}

	// Refusals: nothing is written.
	for _, tc := range []struct {
		name string
		r    req
		want int
	}{
		{"form post", req{bearer: testToken, body: "kind=dismiss", headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415},
		{"no content type", req{bearer: testToken, headers: map[string]string{"Content-Type": ""}, body: `{"kind":"dismiss"}`}, 415},
		{"too large", req{bearer: testToken, body: map[string]string{"kind": "dismiss", "note": strings.Repeat("n", 5000)}}, 413},
		{"unknown kind", req{bearer: testToken, body: map[string]string{"kind": "delete_user"}}, 400},
		{"no kind", req{bearer: testToken, body: map[string]string{}}, 400},
		{"unknown field", req{bearer: testToken, body: map[string]string{"kind": "dismiss", "by": "someone"}}, 400},
		{"not json", req{bearer: testToken, body: `{"kind":`}, 400},
		{"unknown alert", req{bearer: testToken, path: "/api/alerts/nope/feedback", body: map[string]string{"kind": "dismiss"}}, 404},
		{"session without csrf", req{cookie: ck, body: map[string]string{"kind": "dismiss"}}, 403},
		{"no auth", req{body: map[string]string{"kind": "dismiss"}}, 401},
	} {
		if code, b := post(tc.r); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, b, tc.want)
		}
	}

	// dismiss (bearer), confirm_safe and confirm_compromised (the console's session with CSRF).
	if code, b := post(req{bearer: testToken, body: map[string]string{"kind": "dismiss"}}); code != 202 || !strings.Contains(b, `"feedback":"dismiss"`) || !strings.Contains(b, `"alert_id":"al-eve"`) {
		t.Fatalf("dismiss: %d %s", code, b)
	}
	if code, b := post(req{cookie: ck, csrf: csrf, body: map[string]string{"kind": "confirm_safe", "note": "on holiday"}}); code != 202 {
		t.Fatalf("confirm_safe: %d %s", code, b)
	}
	code, b := post(req{cookie: ck, csrf: csrf, body: map[string]string{"kind": "confirm_compromised", "note": "user called"}})
	if code != 202 || !strings.Contains(b, record.ActionID("al-eve", record.KindSuspendUser)) {
		t.Fatalf("confirm_compromised: %d %s", code, b)
	}

	// The processor's input: three updates, in order, on the alert's key.
	recs := bustest.ConsumeN(t, c.Brokers, bus.TopicEvents, 3, 10*time.Second)
	wantKinds := []string{"dismiss", "confirm_safe", "confirm_compromised"}
	for i, r := range recs {
		if !record.IsUpdate(r) || string(r.Key) != "int-1/00ueve" || bus.Header(r, bus.HeaderIntegrationID) != "int-1" {
			t.Fatalf("update record %d: key %q headers %v", i, r.Key, r.Headers)
		}
		var u record.Update
		if err := json.Unmarshal(r.Value, &u); err != nil {
			t.Fatal(err)
		}
		if err := u.Validate(); err != nil {
			t.Fatal(err)
		}
		if u.Kind != record.UpdateFeedback || u.Feedback != wantKinds[i] || u.By != "admin token" || u.AlertID != "al-eve" ||
			u.AlertVersion != 4 || u.User.ID != "00ueve" || u.User.Login != "eve@example.com" || u.At.IsZero() {
			t.Fatalf("update %d: %+v", i, u)
		}
		var base map[string]any
		if err := json.Unmarshal(u.Base, &base); err != nil || base["id"] != al["id"] || base["detection_severity"] != "High" || base["version"] != 4.0 {
			t.Fatalf("update %d base %s", i, u.Base)
		}
		if wantKinds[i] == "confirm_safe" {
			// Paris, Tokyo (once), and the network of the sign-in without a place; never the failure's.
			got := []string{}
			for _, p := range u.Learn {
				s := "asn"
				if p.Lat != nil {
					s = fmt.Sprintf("%g,%g", *p.Lat, *p.Lon)
				}
				got = append(got, fmt.Sprintf("%s/%d", s, p.ASN))
			}
			if strings.Join(got, " ") != "48.85,2.35/3215 35.68,139.69/2516 asn/9009" {
				t.Fatalf("learn %v", got)
			}
		} else if len(u.Learn) != 0 {
			t.Fatalf("%s teaches %v", wantKinds[i], u.Learn)
		}
	}

	// The responder's input: suspend_user and clear_sessions proposals, for approval.
	reqs := bustest.ConsumeN(t, c.Brokers, bus.TopicResponderRequests, 2, 10*time.Second)
	kinds := map[string]bool{}
	for _, r := range reqs {
		var q record.Request
		if err := json.Unmarshal(r.Value, &q); err != nil {
			t.Fatal(err)
		}
		kinds[q.Kind] = true
		want := record.Basis{DetectionSeverity: "High", Deterministic: record.DispositionBenign, Verdict: record.DispositionConfirmedThreat, VerdictBy: "analyst", Analyst: true}
		if q.Type != record.RequestPropose || q.ActionID != record.ActionID("al-eve", q.Kind) || q.AlertID != "al-eve" || q.AlertVersion != 4 ||
			q.IntegrationID != "int-1" || q.User.ID != "00ueve" || q.By != "admin token" || q.ID == "" || q.Basis == nil || *q.Basis != want ||
			!strings.Contains(q.Reason, "user called") || string(r.Key) != "int-1/00ueve" {
			t.Fatalf("proposal %+v basis %+v", q, q.Basis)
		}
	}
	if !kinds[record.KindSuspendUser] || !kinds[record.KindClearSessions] {
		t.Fatalf("kinds %v", kinds)
	}
	// Each verdict is audited with who gave it, written with the verdict.
	auds := bustest.ConsumeN(t, c.Brokers, audit.Topic, 3, 10*time.Second)
	for i, r := range auds {
		ev, err := audit.Parse(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Action != audit.ActionVerdict || ev.Actor.ID != "admin-token" || ev.AlertID != "al-eve" || ev.Details["feedback"] != wantKinds[i] || ev.Remote == "" {
			t.Fatalf("audit %d: %+v", i, ev)
		}
	}
	// Nothing more: the refused requests wrote nothing.
	if n := len(bustest.ConsumeAll(t, c.Brokers, audit.Topic, 10*time.Second)); n != 3 {
		t.Fatalf("%d audit records", n)
	}
	if n := len(bustest.ConsumeAll(t, c.Brokers, bus.TopicEvents, 10*time.Second)); n != 3 {
		t.Fatalf("%d records on %s", n, bus.TopicEvents)
	}
}

// TestFeedbackFallbacks: the console's own producer when none is given,
// and the detection severity falls back to the severity for alerts of
// processors that predate it, with no triage run yet.
func TestFeedbackFallbacks(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	now := time.Now().UTC()
	produce(t, bustest.Client(t, c.Brokers), bus.TopicAlerts, "int-1/00uann", testAlert("al-ann", 1, "Critical", "ann", now))
	e := newEnv(t, c.Brokers, nil)
	runConsole(t, e)
	waitFor(t, "the alert", func() bool { _, ok := e.con.Alerts().Detail("al-ann"); return ok })
	resp, b := e.do(t, req{method: "POST", path: "/api/alerts/al-ann/feedback", bearer: testToken, body: map[string]string{"kind": "confirm_compromised"}})
	if resp.StatusCode != 202 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	for _, r := range bustest.ConsumeN(t, c.Brokers, bus.TopicResponderRequests, 2, 10*time.Second) {
		var q record.Request
		json.Unmarshal(r.Value, &q)
		if q.Basis == nil || q.Basis.DetectionSeverity != "Critical" || q.Basis.Deterministic != "" || !q.Basis.Analyst {
			t.Fatalf("basis %+v", q.Basis)
		}
	}
}

// TestFeedbackKafkaDown: when Kafka does not acknowledge, the analyst gets
// 503 and is told to try again.
func TestFeedbackKafkaDown(t *testing.T) {
	t.Parallel()
	dead, err := bus.NewClient([]string{"127.0.0.1:1"}, nil, bus.ProducerOpts(0)...)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	e := newEnv(t, nil, func(cfg *Config) { cfg.Producer = dead; cfg.ProduceTimeout = 300 * time.Millisecond })
	b, _ := json.Marshal(testAlert("al-x", 1, "High", "x", time.Now()))
	if err := e.con.Alerts().Apply(bus.TopicAlerts, b); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, req{method: "POST", path: "/api/alerts/al-x/feedback", bearer: testToken, body: map[string]string{"kind": "dismiss"}})
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
