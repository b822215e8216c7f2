package alerts

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

func triageJSON(alertID string, version uint32, finished time.Time, steps int, output string) []byte {
	run := record.TriageRun{
		ID: record.TriageRunID(alertID, version), AlertID: alertID, AlertVersion: version, IntegrationID: "int-1",
		User: record.UserRef{ID: "00u1"}, Started: finished.Add(-time.Second), Finished: finished, LatencyMs: 1000, By: "deterministic",
		Output:        record.Output{Disposition: record.DispositionConfirmedThreat, Severity: "High", Confidence: 0.9, Summary: "s", Evidence: []string{"ev-1"}},
		Deterministic: record.Output{Disposition: record.DispositionConfirmedThreat, Severity: "High"},
	}
	for i := range steps {
		run.Steps = append(run.Steps, record.Step{N: i + 1, Text: "thinking", ToolCalls: []record.ToolCall{{Name: "recent_signins", Input: `{"user":"00u1"}`, Output: output}}})
	}
	b, _ := json.Marshal(run)
	return b
}

func actionJSON(alertID, kind, state string, version uint64, requested time.Time) []byte {
	b, _ := json.Marshal(record.Action{
		ID: record.ActionID(alertID, kind), AlertID: alertID, IntegrationID: "int-1", User: record.UserRef{ID: "00u1"},
		Kind: kind, State: state, Mode: record.ModeApproval, RequestedBy: "triage", RequestedAt: requested, Version: version,
		ExpiresAt: requested.Add(time.Hour),
	})
	return b
}

func runIDs(list []json.RawMessage) string {
	var out []string
	for _, r := range list {
		var x struct {
			AlertVersion uint32 `json:"alert_version"`
			State        string `json:"state"`
			Kind         string `json:"kind"`
		}
		json.Unmarshal(r, &x)
		if x.Kind != "" {
			out = append(out, x.Kind+"="+x.State)
		} else {
			out = append(out, fmt.Sprint(x.AlertVersion))
		}
	}
	return strings.Join(out, ",")
}

func TestTriageRunsNewestFirstCapped(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{MaxTriagePerAlert: 2})
	// A run can arrive before its alert.
	apply(t, m, bus.TopicTriage, triageJSON("a", 1, t0.Add(time.Minute), 1, "out"))
	if _, ok := m.Detail("a"); ok {
		t.Fatal("an alert that was never read is visible")
	}
	apply(t, m, bus.TopicAlerts, alertJSON("a", 3, "Escalated", "High", "ann", t0, t0))
	seq := m.Seq()
	apply(t, m, bus.TopicTriage, triageJSON("a", 3, t0.Add(3*time.Minute), 1, "out"))
	if m.Seq() != seq+1 {
		t.Fatal("a triage run did not count as a change")
	}
	apply(t, m, bus.TopicTriage, triageJSON("a", 2, t0.Add(2*time.Minute), 1, "out"))
	apply(t, m, bus.TopicTriage, triageJSON("a", 3, t0.Add(3*time.Minute), 1, "out")) // replay
	d, ok := m.Detail("a")
	if !ok || runIDs(d.Triage) != "3,2" || d.Deterministic != record.DispositionConfirmedThreat {
		t.Fatalf("triage %s (%v) deterministic %q", runIDs(d.Triage), ok, d.Deterministic)
	}
	if d.Meta.ID != "a" || d.Meta.Version != 3 || len(d.Anomalies) != 0 {
		t.Fatalf("detail meta %+v", d.Meta)
	}
	// An older run that arrives late stays out (the cap keeps the newest versions).
	apply(t, m, bus.TopicTriage, triageJSON("a", 1, t0.Add(4*time.Minute), 1, "out"))
	if d, _ := m.Detail("a"); runIDs(d.Triage) != "3,2" {
		t.Fatalf("after a late old run: %s", runIDs(d.Triage))
	}
	if m.tBytes != len(d.Triage[0])+len(d.Triage[1]) {
		t.Fatalf("byte count %d", m.tBytes)
	}
}

func TestLargeTriageRunIsShortened(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{MaxTriageRunBytes: 16 << 10})
	apply(t, m, bus.TopicAlerts, alertJSON("a", 1, "New", "High", "ann", t0, t0))
	big := strings.Repeat("é", 20_000) // 40 KB of two-byte runes
	apply(t, m, bus.TopicTriage, triageJSON("a", 1, t0, 4, big))
	d, _ := m.Detail("a")
	if len(d.Triage) != 1 || len(d.Triage[0]) > 16<<10 {
		t.Fatalf("stored %d bytes", len(d.Triage[0]))
	}
	var run struct {
		record.TriageRun
		Truncated bool `json:"console_truncated"`
	}
	if err := json.Unmarshal(d.Triage[0], &run); err != nil {
		t.Fatal(err)
	}
	if !run.Truncated || len(run.Steps) != 4 || !strings.Contains(run.Steps[0].ToolCalls[0].Output, "bytes cut by the console") ||
		run.Steps[0].ToolCalls[0].Input != `{"user":"00u1"}` || run.Output.Disposition != record.DispositionConfirmedThreat {
		t.Fatalf("shortened run %+v", run.TriageRun.Output)
	}
	if !json.Valid(d.Triage[0]) || strings.ContainsRune(run.Steps[0].ToolCalls[0].Output, '\uFFFD') {
		t.Fatal("cut inside a rune")
	}
	// A small run is kept byte for byte.
	small := triageJSON("a", 2, t0.Add(time.Minute), 1, "ok")
	apply(t, m, bus.TopicTriage, small)
	if d, _ := m.Detail("a"); string(d.Triage[0]) != string(small) {
		t.Fatalf("small run changed: %s", d.Triage[0])
	}
}

func TestTriageByteBudget(t *testing.T) {
	t.Parallel()
	run := triageJSON("a0", 1, t0, 1, strings.Repeat("x", 1000))
	m := newModel(t, Config{MaxTriageBytes: 10 * len(run)})
	for i := range 10 {
		id := fmt.Sprintf("a%d", i)
		apply(t, m, bus.TopicAlerts, alertJSON(id, 2, "New", "High", "u", t0, t0.Add(time.Duration(i)*time.Hour)))
		apply(t, m, bus.TopicTriage, triageJSON(id, 1, t0, 1, strings.Repeat("x", 1000)))
	}
	if m.tBytes > m.cfg.MaxTriageBytes {
		t.Fatalf("%d bytes held, budget %d", m.tBytes, m.cfg.MaxTriageBytes)
	}
	// Second runs for the newest alerts push it over: older runs, then the
	// runs of the least recently seen alerts go first.
	for i := 7; i < 10; i++ {
		apply(t, m, bus.TopicTriage, triageJSON(fmt.Sprintf("a%d", i), 2, t0.Add(time.Minute), 1, strings.Repeat("x", 1000)))
	}
	if m.tBytes > m.cfg.MaxTriageBytes {
		t.Fatalf("%d bytes held, budget %d", m.tBytes, m.cfg.MaxTriageBytes)
	}
	if d, _ := m.Detail("a0"); len(d.Triage) != 0 {
		t.Fatalf("the oldest alert kept %d runs", len(d.Triage))
	}
	// Older runs go before any alert's newest run.
	if d, _ := m.Detail("a9"); runIDs(d.Triage) != "2" {
		t.Fatalf("the newest alert kept runs %s", runIDs(d.Triage))
	}
	if d, _ := m.Detail("a5"); runIDs(d.Triage) != "1" {
		t.Fatalf("a5 kept runs %s", runIDs(d.Triage))
	}
}

func TestActionsLatestVersionAndLookup(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{})
	ch, cancel := m.Subscribe()
	defer cancel()
	suspend := record.ActionID("a", record.KindSuspendUser)
	// Before its alert: findable already (the responder may be asked first).
	apply(t, m, bus.TopicActions, actionJSON("a", record.KindSuspendUser, record.ActionPending, 1, t0))
	if a, ok := m.Action(suspend); !ok || a.State != record.ActionPending || a.Kind != record.KindSuspendUser {
		t.Fatalf("action %+v %v", a, ok)
	}
	select {
	case <-ch:
		t.Fatal("a change of an unread alert woke the subscribers")
	default:
	}
	apply(t, m, bus.TopicAlerts, alertJSON("a", 1, "Escalated", "High", "ann", t0, t0))
	<-ch
	apply(t, m, bus.TopicActions, actionJSON("a", record.KindSuspendUser, record.ActionSucceeded, 3, t0))
	apply(t, m, bus.TopicActions, actionJSON("a", record.KindSuspendUser, record.ActionApproved, 2, t0)) // late, older
	apply(t, m, bus.TopicActions, actionJSON("a", record.KindClearSessions, record.ActionSucceeded, 1, t0.Add(time.Second)))
	select {
	case <-ch:
	default:
		t.Fatal("no wake-up for an action")
	}
	if a, _ := m.Action(suspend); a.State != record.ActionSucceeded || a.Version != 3 {
		t.Fatalf("latest %+v", a)
	}
	d, _ := m.Detail("a")
	if got := runIDs(d.Actions); got != "clear_sessions=succeeded,suspend_user=succeeded" {
		t.Fatalf("actions %s", got)
	}
	if _, ok := m.Action("nope"); ok {
		t.Fatal("unknown action found")
	}
	// An action id cannot move to another alert.
	b, _ := json.Marshal(record.Action{ID: suspend, AlertID: "other", Version: 9})
	if err := m.Apply(bus.TopicActions, b); err == nil {
		t.Fatal("moved action accepted")
	}
}

func TestEvictionTakesTriageAndActions(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{MaxAlerts: 10, MaxActionsPerAlert: 1})
	apply(t, m, bus.TopicAlerts, alertJSON("old", 1, "Closed", "Low", "o", t0, t0))
	apply(t, m, bus.TopicTriage, triageJSON("old", 1, t0, 1, "x"))
	apply(t, m, bus.TopicActions, actionJSON("old", record.KindSuspendUser, record.ActionPending, 1, t0))
	apply(t, m, bus.TopicActions, actionJSON("old", record.KindClearSessions, record.ActionPending, 1, t0.Add(time.Second)))
	// The per-alert cap keeps the most recently requested.
	if _, ok := m.Action(record.ActionID("old", record.KindSuspendUser)); ok {
		t.Fatal("action over the per-alert cap kept")
	}
	if _, ok := m.Action(record.ActionID("old", record.KindClearSessions)); !ok {
		t.Fatal("newest action dropped")
	}
	for i := range 20 {
		apply(t, m, bus.TopicAlerts, alertJSON(fmt.Sprintf("n%d", i), 1, "New", "Low", "n", t0, t0.Add(time.Duration(i+1)*time.Hour)))
	}
	if _, ok := m.Action(record.ActionID("old", record.KindClearSessions)); ok {
		t.Fatal("the action of an evicted alert is still found")
	}
	if m.tBytes != 0 || len(m.acts) != 0 {
		t.Fatalf("bytes %d, actions %d after eviction", m.tBytes, len(m.acts))
	}
	// Orphan triage runs and actions are held under the same cap.
	for i := range 100 {
		apply(t, m, bus.TopicTriage, triageJSON(fmt.Sprintf("t%d", i), 1, t0.Add(time.Duration(i)*time.Hour), 1, "x"))
		apply(t, m, bus.TopicActions, actionJSON(fmt.Sprintf("c%d", i), record.KindSuspendUser, record.ActionPending, 1, t0.Add(time.Duration(i)*time.Hour)))
		if len(m.entries) > 10 {
			t.Fatalf("%d entries", len(m.entries))
		}
	}
	if len(m.acts) > 10 {
		t.Fatalf("%d actions indexed", len(m.acts))
	}
}

func TestBadTriageAndActionRecords(t *testing.T) {
	t.Parallel()
	m := newModel(t, Config{})
	for _, tc := range []struct{ topic, v string }{
		{bus.TopicTriage, `not json`},
		{bus.TopicTriage, `{"id":"r"}`},
		{bus.TopicTriage, `{"id":"r","alert_id":"a","finished":"later"}`},
		{bus.TopicActions, `{"id":"x"}`},
		{bus.TopicActions, `{"id":"x","alert_id":"a","version":-1}`},
	} {
		if err := m.Apply(tc.topic, []byte(tc.v)); err == nil {
			t.Errorf("%s %s: accepted", tc.topic, tc.v)
		}
	}
}

// FuzzApplyResponse: no triage or action record panics the model, and
// the triage byte count stays exact.
func FuzzApplyResponse(f *testing.F) {
	f.Add(true, triageJSON("a", 1, t0, 2, "out"))
	f.Add(false, actionJSON("a", record.KindSuspendUser, record.ActionPending, 1, t0))
	f.Fuzz(func(t *testing.T, isTriage bool, v []byte) {
		m, _ := New(Config{MaxAlerts: 3, MaxTriageRunBytes: 512, Logger: slog.New(slog.DiscardHandler)})
		topic := bus.TopicActions
		if isTriage {
			topic = bus.TopicTriage
		}
		_ = m.Apply(topic, v)
		_ = m.Apply(bus.TopicAlerts, alertJSON("a", 1, "New", "Low", "x", t0, t0))
		_ = m.Apply(topic, v)
		n := 0
		for _, e := range m.entries {
			for _, r := range e.triage {
				n += len(r.raw)
				if !json.Valid(r.raw) {
					t.Fatalf("stored invalid JSON %q", r.raw)
				}
			}
		}
		if n != m.tBytes {
			t.Fatalf("byte count %d, held %d", m.tBytes, n)
		}
	})
}
