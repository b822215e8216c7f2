package console

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

// triageRun is a typical LLM triage run: four steps, three tool calls with
// a few hundred bytes of output each (about 4 KiB of JSON).
func triageRun(i int) []byte {
	id := fmt.Sprintf("%032x", i)
	run := record.TriageRun{
		ID: record.TriageRunID(id, 3), AlertID: id, AlertVersion: 3, IntegrationID: "int", User: record.UserRef{ID: "00u1", Login: "user@example.com"},
		Started: t0, Finished: t0.Add(4 * time.Second), LatencyMs: 4000, By: "llm", Provider: "openai", Model: "qwen2.5:7b",
		Output:        record.Output{Disposition: "Confirmed Threat", Severity: "Critical", Confidence: 0.92, Summary: strings.Repeat("Sign-in from Tokyo 40 min after Paris. ", 6), Evidence: []string{"ev-1", "ev-2"}, RecommendedActions: []string{"suspend_user", "clear_sessions"}},
		Deterministic: record.Output{Disposition: "Confirmed Threat", Severity: "Critical", Confidence: 0.9},
		Tokens:        record.Tokens{Prompt: 3000, Completion: 400, Total: 3400},
	}
	for n := 1; n <= 4; n++ {
		st := record.Step{N: n, Text: strings.Repeat("Looking at the evidence. ", 4), LatencyMs: 900}
		if n < 4 {
			st.ToolCalls = []record.ToolCall{{Name: "recent_signins", Input: `{"user_id":"00u1","days":30}`, Output: strings.Repeat(`{"city":"Paris","ip":"90.1.1.1","outcome":"SUCCESS"},`, 8), LatencyMs: 3}}
		}
		run.Steps = append(run.Steps, st)
	}
	b, _ := json.Marshal(run)
	return b
}

func action(i int, kind string, version uint64) []byte {
	id := fmt.Sprintf("%032x", i)
	b, _ := json.Marshal(record.Action{
		ID: record.ActionID(id, kind), AlertID: id, IntegrationID: "int", User: record.UserRef{ID: "00u1"}, Kind: kind,
		State: record.ActionSucceeded, Mode: record.ModeApproval, RequestedBy: "triage", RequestedAt: t0, Version: version,
		Result: json.RawMessage(`{"calls":[{"method":"GET","status":200},{"method":"POST","status":200}],"before":"ACTIVE","after":"SUSPENDED"}`),
	})
	return b
}

// BenchmarkApplyResponse folds triage runs and action versions into a
// model holding 10,000 alerts.
func BenchmarkApplyResponse(b *testing.B) {
	m := newModel(b, 10_000)
	for i := 0; i < 10_000; i++ {
		m.Apply(bus.TopicAlerts, alert(i))
	}
	runs := make([][]byte, 1000)
	for i := range runs {
		runs[i] = triageRun(i)
	}
	b.Run("triage", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := m.Apply(bus.TopicTriage, runs[i%len(runs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("action", func(b *testing.B) {
		acts := make([][]byte, 1000)
		for i := range acts {
			acts[i] = action(i, record.KindSuspendUser, 1)
		}
		for i := 0; i < b.N; i++ {
			if err := m.Apply(bus.TopicActions, acts[i%len(acts)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDetailAndAction answers GET /api/alerts/{id} and the
// responder's Action(id) lookup.
func BenchmarkDetailAndAction(b *testing.B) {
	m := newModel(b, 10_000)
	for i := 0; i < 10_000; i++ {
		m.Apply(bus.TopicAlerts, alert(i))
		m.Apply(bus.TopicAnomalies, anomaly(i, 0))
		m.Apply(bus.TopicTriage, triageRun(i))
		m.Apply(bus.TopicActions, action(i, record.KindSuspendUser, 1))
	}
	id := fmt.Sprintf("%032x", 4242)
	aid := record.ActionID(id, record.KindSuspendUser)
	b.Run("detail", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, ok := m.Detail(id); !ok {
				b.Fatal("missing")
			}
		}
	})
	b.Run("action", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, ok := m.Action(aid); !ok {
				b.Fatal("missing")
			}
		}
	})
}

// BenchmarkHeldMemoryResponse: 10,000 alerts with one anomaly, one triage
// run (about 4 KiB) and two actions each.
func BenchmarkHeldMemoryResponse(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := newModel(b, 10_000)
		for a := 0; a < 10_000; a++ {
			m.Apply(bus.TopicAlerts, alert(a))
			m.Apply(bus.TopicAnomalies, anomaly(a, 0))
			m.Apply(bus.TopicTriage, triageRun(a))
			m.Apply(bus.TopicActions, action(a, record.KindSuspendUser, 1))
			m.Apply(bus.TopicActions, action(a, record.KindClearSessions, 1))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
		b.ReportMetric(float64(len(triageRun(0))), "triage-run-bytes")
		runtime.KeepAlive(m)
	}
}
