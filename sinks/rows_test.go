package sinks_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

func rec(topic, v string) *kgo.Record {
	return &kgo.Record{Topic: topic, Value: []byte(v), Timestamp: time.Unix(1700000000, 0), Partition: 2, Offset: 7}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	var ev logevent.Event
	var er sinks.EventRow
	var an sinks.AnomalyRow
	var al sinks.AlertRow
	var ac sinks.ActionRow
	var tr sinks.TriageRunRow
	for _, c := range []struct {
		name   string
		decode func() error
		want   error
	}{
		{"event truncated", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, `{"uuid":"a"`), &ev, &er) }, sinks.ErrInvalidJSON},
		{"event array", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, `[{"uuid":"a"}]`), &ev, &er) }, sinks.ErrNotObject},
		{"event no uuid", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, `{"eventType":"x"}`), &ev, &er) }, sinks.ErrNoUUID},
		{"event lowercased export", func() error {
			return sinks.DecodeEvent(rec(bus.TopicEvents, `{"uuid":"a","eventtype":"user.session.start"}`), &ev, &er)
		}, sinks.ErrLowercased},
		{"event empty", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, ``), &ev, &er) }, sinks.ErrInvalidJSON},
		{"anomaly no id", func() error { return sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"type":"x"}`), &an) }, sinks.ErrNoID},
		{"anomaly empty id", func() error { return sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"id":""}`), &an) }, sinks.ErrNoID},
		{"anomaly object id", func() error { return sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"id":{"a":1}}`), &an) }, sinks.ErrNoID},
		{"alert string", func() error { return sinks.DecodeAlert(rec(bus.TopicAlerts, `"al-1"`), &al) }, sinks.ErrNotObject},
		{"action trailing garbage", func() error { return sinks.DecodeAction(rec(bus.TopicActions, `{"id":"x"} {`), &ac) }, sinks.ErrInvalidJSON},
		{"triage no id", func() error { return sinks.DecodeTriageRun(rec(bus.TopicTriage, `{"alert_id":"a"}`), &tr) }, sinks.ErrNoID},
		{"triage array", func() error { return sinks.DecodeTriageRun(rec(bus.TopicTriage, `[]`), &tr) }, sinks.ErrNotObject},
	} {
		if err := c.decode(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestDecodeTolerant(t *testing.T) {
	t.Parallel()
	// Minimal objects: everything but the id missing.
	var an sinks.AnomalyRow
	if err := sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"id":"an-1"}`), &an); err != nil {
		t.Fatal(err)
	}
	if an.ID != "an-1" || an.Published.Unix() != 0 || an.Evidence != "" || an.KafkaOffset != 7 || !an.RecordedAt.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("minimal anomaly: %+v", an)
	}
	// Numeric id, user as a string, epoch-millisecond time, a far-future time.
	var al sinks.AlertRow
	err := sinks.DecodeAlert(rec(bus.TopicAlerts, `{"id":42,"user":"00uX","first_seen":1700000000123,"last_seen":"9999-01-01T00:00:00Z",
		"anomalies":["an-1",{"id":"an-2","type":"unusual_time"},null],"version":"3"}`), &al)
	if err != nil {
		t.Fatal(err)
	}
	if al.ID != "42" || al.UserID != "00uX" || al.FirstSeen.UnixMilli() != 1700000000123 || al.LastSeen.Year() != 2105 ||
		len(al.AnomalyIDs) != 2 || al.AnomalyIDs[1] != "an-2" || len(al.AnomalyTypes) != 1 || al.Version != 3 {
		t.Errorf("alert: %+v", al)
	}
	var ac sinks.ActionRow
	if err := sinks.DecodeAction(rec(bus.TopicActions, `{"id":"a/suspend","user":{"id":"00u1","alternateId":"x@example.com"},"executed_at":null,"result":{"ok":true},"version":-1}`), &ac); err != nil {
		t.Fatal(err)
	}
	if ac.UserLogin != "x@example.com" || ac.ExecutedAt.Unix() != 0 || ac.Result != `{"ok":true}` || ac.Version != 0 {
		t.Errorf("action: %+v", ac)
	}
}

// TestDecodeIssue6Records decodes the records of triage and response as
// their writers marshal them (internal/record), and an alert with the
// processor's new fields.
func TestDecodeIssue6Records(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 4, 2, 9, 15, 0, 250e6, time.UTC)
	run := sinkstest.TriageRun("al-1", 3, "int1", "00uA", record.DispositionBenign, started)
	agent := run.Output
	agent.Disposition = record.DispositionFalsePositive
	run.Agent, run.Gate = &agent, "agent closed a High alert: escalated for clarification"
	var tr sinks.TriageRunRow
	r := sinkstest.JSONRecord(bus.TopicTriage, "int1/00uA", run)
	r.Partition, r.Offset, r.Timestamp = 1, 42, started.Add(3*time.Second)
	if err := sinks.DecodeTriageRun(r, &tr); err != nil {
		t.Fatal(err)
	}
	want := sinks.TriageRunRow{
		ID: record.TriageRunID("al-1", 3), AlertID: "al-1", AlertVersion: 3, IntegrationID: "int1", UserID: "00uA", UserLogin: "00ua@example.com",
		By: "llm", Provider: "openai", Model: "gpt-test", Disposition: record.DispositionBenign, Severity: record.SeverityMedium,
		Confidence: 0.82, Summary: run.Output.Summary, Evidence: run.Output.Evidence, RecommendedActions: []string{},
		DeterministicDisposition: record.DispositionSuspicious, AgentDisposition: record.DispositionFalsePositive, Gate: run.Gate,
		Steps: 2, ToolCalls: 2, PromptTokens: 1834, CompletionTokens: 211, LatencyMs: 2500,
		Started: started, Finished: started.Add(2500 * time.Millisecond), Raw: string(r.Value),
		RecordedAt: started.Add(3 * time.Second), KafkaPartition: 1, KafkaOffset: 42,
	}
	if !reflect.DeepEqual(tr, want) {
		t.Errorf("triage run row\n got %+v\nwant %+v", tr, want)
	}

	requested := time.Date(2026, 4, 2, 9, 16, 0, 0, time.UTC)
	var ac sinks.ActionRow
	a := sinkstest.ActionVersion("al-1", "int1", "00uA", record.KindSuspendUser, record.ActionSucceeded, 4, requested)
	a.DryRun = true
	if err := sinks.DecodeAction(sinkstest.JSONRecord(bus.TopicActions, "int1/00uA", a), &ac); err != nil {
		t.Fatal(err)
	}
	if ac.ID != record.ActionID("al-1", record.KindSuspendUser) || ac.AlertVersion != 2 || ac.Mode != record.ModeApproval ||
		ac.RequestedBy != "triage" || ac.DecidedBy != "analyst" || !ac.RequestedAt.Equal(requested) ||
		!ac.ExpiresAt.Equal(requested.Add(time.Hour)) || !ac.DecidedAt.Equal(requested.Add(5*time.Minute)) ||
		!ac.ExecutedAt.Equal(requested.Add(6*time.Minute)) || ac.Attempts != 1 || !ac.DryRun || ac.Version != 4 ||
		ac.Reason != "triage recommends it" || !strings.Contains(ac.Result, `"status_after":"SUSPENDED"`) || ac.Guard != "" || ac.Error != "" {
		t.Errorf("action row %+v", ac)
	}
	// A blocked action: no expiry, decision or execution (omitzero), a guard.
	b := sinkstest.ActionVersion("al-1", "int1", "00uA", record.KindClearSessions, record.ActionBlocked, 1, requested)
	b.Error = "protected"
	if err := sinks.DecodeAction(sinkstest.JSONRecord(bus.TopicActions, "int1/00uA", b), &ac); err != nil {
		t.Fatal(err)
	}
	if ac.Guard != "protected_group" || ac.ExpiresAt.Unix() != 0 || ac.DecidedAt.Unix() != 0 || ac.ExecutedAt.Unix() != 0 || ac.Result != "" || ac.Error != "protected" {
		t.Errorf("blocked action row %+v", ac)
	}

	var al sinks.AlertRow
	if err := sinks.DecodeAlert(sinkstest.JSONRecord(bus.TopicAlerts, "int1/00uA",
		sinkstest.TriagedAlert("al-1", "int1", "00uA", 3, record.DispositionBenign, "llm", 0.82, requested)), &al); err != nil {
		t.Fatal(err)
	}
	if al.Status != record.StatusClosed || al.Disposition != record.DispositionBenign || al.DetectionSeverity != record.SeverityMedium ||
		al.Confidence != 0.82 || al.TriagedBy != "llm" || al.Feedback != "" || al.ActionRequired != record.ActionRequiredNone {
		t.Errorf("triaged alert row %+v", al)
	}
}

func TestDecodeEventSamples(t *testing.T) {
	t.Parallel()
	var ev logevent.Event
	for _, raw := range sinkstest.Samples(t) {
		r := sinkstest.EventRecord(raw, "int1", bus.SourcePoll, time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
		var row sinks.EventRow
		if err := sinks.DecodeEvent(r, &ev, &row); err != nil {
			t.Fatalf("sample %s: %v", ev.UUID, err)
		}
		if row.Raw != string(raw) || row.IntegrationID != "int1" || row.Source != "poll" || row.ReceivedAt.UnixMilli() != time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC).UnixMilli() {
			t.Errorf("sample %s: %+v", row.UUID, row)
		}
		if row.Lat != 0 && row.H3 == 0 {
			t.Errorf("sample %s: location without H3 cell", row.UUID)
		}
		if row.Published.Before(time.Unix(0, 0)) || row.Published.After(time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("sample %s: published %v out of range", row.UUID, row.Published)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"uuid":"a","published":"2024-01-01T00:00:00Z","client":{"geographicalContext":{"geolocation":{"lat":91,"lon":1e400}}}}`,
		`{"id":"t","steps":[{"tool_calls":[1,2]},{}],"tokens":{"prompt":-3,"completion":1e20},"output":{"evidence":["a",null,{}]},"attempts":99999999999}`,
		`{"id":"x","anomalies":[1,{"id":2}],"user":[]}`, `{"id":"x","first_seen":-5}`, `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev logevent.Event
		var er sinks.EventRow
		var an sinks.AnomalyRow
		var al sinks.AlertRow
		var ac sinks.ActionRow
		var tr sinks.TriageRunRow
		r := &kgo.Record{Value: b}
		if err := sinks.DecodeEvent(r, &ev, &er); err == nil && er.UUID == "" {
			t.Fatal("event without uuid accepted")
		}
		for _, err := range []error{sinks.DecodeAnomaly(r, &an), sinks.DecodeAlert(r, &al), sinks.DecodeAction(r, &ac), sinks.DecodeTriageRun(r, &tr)} {
			if err == nil && an.ID == "" && al.ID == "" && ac.ID == "" && tr.ID == "" {
				t.Fatal("record without id accepted")
			}
		}
		if tr.Steps < 0 || tr.ToolCalls < 0 || tr.PromptTokens < 0 || tr.PromptTokens > 1<<32-1 || ac.Attempts < 0 || ac.AlertVersion > 1<<32-1 {
			t.Fatalf("count out of the UInt32 range: %+v %+v", tr, ac)
		}
		for _, tm := range []time.Time{er.Published, er.ReceivedAt, an.Published, al.FirstSeen, al.LastSeen, ac.RequestedAt, ac.ExpiresAt, tr.Started, tr.Finished} {
			if !tm.IsZero() && (tm.Before(time.Unix(0, 0)) || tm.Year() > 2105) {
				t.Fatalf("time %v out of the storable range", tm)
			}
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	recs := sinkstest.Events(b, "int1", 64)
	var ev logevent.Event
	var row sinks.EventRow
	for i := 0; b.Loop(); i++ {
		if err := sinks.DecodeEvent(recs[i%len(recs)], &ev, &row); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeEventRealFields: the columns of migration 0006 carry what real
// events hold.
func TestDecodeEventRealFields(t *testing.T) {
	t.Parallel()
	raw := `{"uuid":"u1","eventType":"user.authentication.sso","client":{"ipAddress":"null"},` +
		`"request":{"ipChain":[{"ip":"175.16.199.1"}]},` +
		`"authenticationContext":{"externalSessionId":"idxA","rootSessionId":"idxR"},` +
		`"device":{"id":"guo1","name":"Mac15,6","managed":true,"os_platform":"OSX"},` +
		`"debugContext":{"debugData":{"dtHash":"d7","logOnlySecurityData":"{\"risk\":{\"level\":\"HIGH\",\"reasons\":\"Anomalous Device\"},\"behaviors\":{\"New IP\":\"POSITIVE\"}}"}}}`
	var ev logevent.Event
	var row sinks.EventRow
	if err := sinks.DecodeEvent(rec(bus.TopicEvents, raw), &ev, &row); err != nil {
		t.Fatal(err)
	}
	want := sinks.EventRow{IP: "175.16.199.1", DTHash: "d7", RiskLevel: "HIGH", RiskReasons: "Anomalous Device",
		SecurityBehaviors: "{New IP=POSITIVE}", SessionID: "idxA", RootSessionID: "idxR",
		DeviceID: "guo1", DeviceName: "Mac15,6", DeviceManaged: "true", DevicePlatform: "OSX"}
	got := sinks.EventRow{IP: row.IP, DTHash: row.DTHash, RiskLevel: row.RiskLevel, RiskReasons: row.RiskReasons,
		SecurityBehaviors: row.SecurityBehaviors, SessionID: row.SessionID, RootSessionID: row.RootSessionID,
		DeviceID: row.DeviceID, DeviceName: row.DeviceName, DeviceManaged: row.DeviceManaged, DevicePlatform: row.DevicePlatform}
	if got != want {
		t.Fatalf("row %+v\nwant %+v", got, want)
	}
}
