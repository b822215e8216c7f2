// Package sinkstest builds the Kafka records the sinks consume the way the
// producers do: raw Okta LogEvents from the shared samples (byte for byte,
// with a fresh uuid) with the gateway's headers, anomaly, alert and action
// objects, triage runs, and the alert updates that share the events topic.
package sinkstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// SamplesDir returns the repository's copy of the public Okta samples
// (okta/logevent/testdata/samples, copied unchanged from shared/okta-samples),
// found from the module root; CLARION_OKTA_SAMPLES overrides it.
func SamplesDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CLARION_OKTA_SAMPLES"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "okta", "logevent", "testdata", "samples")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory; set CLARION_OKTA_SAMPLES")
		}
		dir = parent
	}
}

// Samples returns every distinct LogEvent in the samples, raw. Hook
// deliveries contribute each element of data.events, byte for byte.
func Samples(t testing.TB) [][]byte {
	t.Helper()
	dir := SamplesDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", dir, err)
	}
	seen := map[string]bool{}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var evs [][]byte
		if events := gjson.GetBytes(b, "data.events"); events.IsArray() {
			events.ForEach(func(_, v gjson.Result) bool {
				evs = append(evs, []byte(v.Raw))
				return true
			})
		} else {
			evs = append(evs, b)
		}
		for _, e := range evs {
			u := gjson.GetBytes(e, "uuid").String()
			if u == "" || seen[u] {
				continue
			}
			seen[u] = true
			out = append(out, e)
		}
	}
	return out
}

// NewUUID returns a random version-4 UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// WithUUID returns raw with its uuid replaced, every other byte unchanged.
func WithUUID(raw []byte, uuid string) []byte {
	old := gjson.GetBytes(raw, "uuid").String()
	return bytes.Replace(raw, []byte(`"`+old+`"`), []byte(`"`+uuid+`"`), 1)
}

// EventRecord is a clarion.okta.events record as the gateway (source
// "hook") or poller ("poll") produces it.
func EventRecord(raw []byte, integrationID, source string, receivedAt time.Time) *kgo.Record {
	var ev logevent.Event
	_ = logevent.Parse(raw, &ev)
	return &kgo.Record{
		Topic: bus.TopicEvents,
		Key:   bus.KeyFor(integrationID, ev.UserKey()),
		Value: raw,
		Headers: []kgo.RecordHeader{
			{Key: bus.HeaderIntegrationID, Value: []byte(integrationID)},
			{Key: bus.HeaderSource, Value: []byte(source)},
			{Key: bus.HeaderReceivedAt, Value: []byte(bus.FormatTime(receivedAt))},
			{Key: bus.HeaderUUID, Value: []byte(ev.UUID)},
		},
	}
}

// Events returns n hook records cycling through the samples, each with a
// new uuid.
func Events(t testing.TB, integrationID string, n int) []*kgo.Record {
	t.Helper()
	samples := Samples(t)
	out := make([]*kgo.Record, n)
	now := time.Now()
	for i := range out {
		out[i] = EventRecord(WithUUID(samples[i%len(samples)], NewUUID()), integrationID, bus.SourceHook, now)
	}
	return out
}

// Repoll returns a copy of an event record as the poller would produce it.
func Repoll(r *kgo.Record) *kgo.Record {
	c := EventRecord(r.Value, bus.Header(r, bus.HeaderIntegrationID), bus.SourcePoll, time.Now())
	return c
}

// JSONRecord is a record on topic with v marshalled as its value.
func JSONRecord(topic, key string, v any) *kgo.Record {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}
}

// Anomaly, Alert and Action return objects shaped like the processor's,
// triage's and responder's output.
func Anomaly(id, typ, integrationID, userID string, published time.Time) map[string]any {
	return map[string]any{
		"id": id, "type": typ, "integration_id": integrationID,
		"user":       map[string]any{"id": userID, "login": strings.ToLower(userID) + "@example.com"},
		"event_uuid": NewUUID(), "published": bus.FormatTime(published), "score": 0.93,
		"evidence": map[string]any{"speed_kmh": 4100.5, "from": "Toronto", "to": "Sydney"},
		"sentence": "Signed in from Sydney 40 minutes after Toronto.",
	}
}

// Alert is an alert object at version.
func Alert(id, integrationID, userID, status string, version int, anomalyIDs ...string) map[string]any {
	now := time.Now()
	return map[string]any{
		"id": id, "dedup_key": "impossible_travel/" + userID, "integration_id": integrationID,
		"user":   map[string]any{"id": userID, "login": strings.ToLower(userID) + "@example.com"},
		"status": status, "disposition": "Unknown", "severity": "High", "detection_severity": "High", "confidence": 0,
		"action_required": "approval",
		"anomalies":       anomalyIDs, "first_seen": bus.FormatTime(now.Add(-time.Hour)), "last_seen": bus.FormatTime(now),
		"version": version, "summary": "Impossible travel Toronto → Sydney",
	}
}

// Action is an action object at version.
func Action(id, alertID, integrationID, userID, state string, version int) map[string]any {
	return map[string]any{
		"id": id, "alert_id": alertID, "integration_id": integrationID,
		"user": map[string]any{"id": userID, "login": strings.ToLower(userID) + "@example.com"},
		"kind": "suspend_user", "state": state, "requested_at": bus.FormatTime(time.Now().Add(-time.Minute)),
		"decided_by": "analyst@example.com", "executed_at": nil, "result": map[string]any{"dry_run": true},
		"version": version,
	}
}

// TriagedAlert is an alert object at version after a triage verdict, with
// the fields of issue 6 set (status from the disposition, as the processor
// applies a verdict).
func TriagedAlert(id, integrationID, userID string, version int, disposition, by string, confidence float64, firstSeen time.Time) map[string]any {
	a := Alert(id, integrationID, userID, record.StatusEscalated, version)
	if record.Closing(disposition) {
		a["status"] = record.StatusClosed
	}
	a["disposition"], a["triaged_by"], a["confidence"] = disposition, by, confidence
	a["severity"], a["detection_severity"] = record.SeverityMedium, record.SeverityMedium
	a["action_required"] = record.ActionRequiredNone
	a["first_seen"] = bus.FormatTime(firstSeen)
	return a
}

// TriageRun is a triage run as triage writes it on clarion.triage: two LLM
// steps, the first with two tool calls, and the final output.
func TriageRun(alertID string, alertVersion uint32, integrationID, userID, disposition string, started time.Time) *record.TriageRun {
	out := record.Output{
		Disposition: disposition, Severity: record.SeverityMedium, Confidence: 0.82,
		Summary:            "Sign-in from a known corporate VPN exit; no other signal.",
		Evidence:           []string{NewUUID(), NewUUID()},
		RecommendedActions: []string{},
	}
	det := out
	det.Disposition = record.DispositionSuspicious
	return &record.TriageRun{
		ID: record.TriageRunID(alertID, alertVersion), AlertID: alertID, AlertVersion: alertVersion,
		IntegrationID: integrationID, User: record.UserRef{ID: userID, Login: strings.ToLower(userID) + "@example.com"},
		Started: started, Finished: started.Add(2500 * time.Millisecond), LatencyMs: 2500,
		By: "llm", Provider: "openai", Model: "gpt-test",
		Output: out, Deterministic: det,
		Steps: []record.Step{
			{N: 1, ToolCalls: []record.ToolCall{
				{Name: "user_signins", Input: `{"days":30}`, Output: "[]", LatencyMs: 3},
				{Name: "ip_reputation", Input: `{"ip":"203.0.113.9"}`, Output: "{}", LatencyMs: 2},
			}, LatencyMs: 1200},
			{N: 2, Text: "Benign.", LatencyMs: 1300},
		},
		Tokens: record.Tokens{Prompt: 1834, Completion: 211, Total: 2045},
	}
}

// ActionVersion is one version of a response action as the responder
// writes it on clarion.actions.
func ActionVersion(alertID, integrationID, userID, kind, state string, version uint64, requested time.Time) *record.Action {
	a := &record.Action{
		ID: record.ActionID(alertID, kind), AlertID: alertID, AlertVersion: 2, IntegrationID: integrationID,
		User: record.UserRef{ID: userID, Login: strings.ToLower(userID) + "@example.com"},
		Kind: kind, State: state, Mode: record.ModeApproval, Reason: "triage recommends it",
		Basis: &record.Basis{DetectionSeverity: record.SeverityHigh, Deterministic: record.DispositionConfirmedThreat,
			Verdict: record.DispositionConfirmedThreat, VerdictBy: "llm"},
		RequestedBy: "triage", RequestedAt: requested, ExpiresAt: requested.Add(time.Hour), Version: version,
	}
	switch state {
	case record.ActionPending:
	case record.ActionBlocked:
		a.Guard, a.ExpiresAt = "protected_group", time.Time{}
	default:
		a.DecidedBy, a.DecidedAt = "analyst", requested.Add(5*time.Minute)
		if state == record.ActionSucceeded || state == record.ActionFailed {
			a.ExecutedAt, a.Attempts = requested.Add(6*time.Minute), 1
			a.Result = json.RawMessage(`{"calls":[{"method":"POST","status":200}],"status_before":"ACTIVE","status_after":"SUSPENDED"}`)
		}
	}
	return a
}

// UpdateRecord is an alert update as triage, the responder or the API send
// it to the processor on clarion.okta.events (header source=clarion).
func UpdateRecord(t testing.TB, alertID, integrationID, userID string) *kgo.Record {
	t.Helper()
	r, err := record.UpdateRecord(&record.Update{
		Kind: record.UpdateAnalyzing, AlertID: alertID, IntegrationID: integrationID,
		User: record.UserRef{ID: userID}, AlertVersion: 1, By: "triage",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Produce sends recs synchronously and fails the test on error.
func Produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// Eventually polls cond every 50 ms until it is true, failing the test
// with msg() after timeout (a failure guard, not a timing assertion).
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, msg())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
