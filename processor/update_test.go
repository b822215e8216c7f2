package processor

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/processor/detect"
)

// Alert updates travel through clarion.okta.events and come out as new
// alert versions, exactly once across a restart; a malformed update or one
// whose key does not match its user is dead-lettered.
func TestAlertUpdatesThroughKafka(t *testing.T) {
	c := bustest.New(t, 3)
	produceEvents(t, c.Brokers, testEvents(t, "edge-flights.jsonl"))
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "upd"})
	waitConsumed(t, c.Brokers, DefaultGroup, errc)

	latest := func() map[string]detect.Alert {
		out := map[string]detect.Alert{}
		for _, r := range committed(t, c.Brokers, bus.TopicAlerts) {
			var a detect.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatal(err)
			}
			if a.Version >= out[a.ID].Version {
				out[a.ID] = a
			}
		}
		return out
	}
	alerts := latest()
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
	var target detect.Alert
	for _, a := range alerts {
		target = a
		break
	}
	if target.Status != record.StatusNew || target.DetectionSeverity == "" {
		t.Fatalf("fresh alert: %+v", target)
	}
	cl := bustest.Client(t, c.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := func(r *kgo.Record) {
		t.Helper()
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(kind string) *record.Update {
		return &record.Update{Kind: kind, AlertID: target.ID, IntegrationID: target.IntegrationID,
			User: record.UserRef{ID: target.User.ID}, AlertVersion: target.Version, By: "triage"}
	}
	up := mk(record.UpdateAnalyzing)
	r, err := record.UpdateRecord(up)
	if err != nil {
		t.Fatal(err)
	}
	signAs(t, r, record.SignerTriage)
	send(r)
	send(r) // a replayed update changes nothing
	v := mk(record.UpdateVerdict)
	v.Verdict = &record.Verdict{RunID: "run1", Disposition: record.DispositionConfirmedThreat, Severity: record.SeverityCritical,
		Confidence: 0.95, By: "deterministic", ActionRequired: record.ActionRequiredApproval}
	if r, err = record.UpdateRecord(v); err != nil {
		t.Fatal(err)
	}
	signAs(t, r, record.SignerTriage)
	send(r)
	// An update's body arriving as an Okta event (the gateway and the
	// poller always write source=hook|poll) is never applied: event text
	// cannot change an alert (the status checked below stays Escalated).
	fd := mk(record.UpdateFeedback)
	fd.Feedback, fd.By = record.FeedbackDismiss, "analyst"
	fr, err := record.UpdateRecord(fd)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range fr.Headers {
		if h.Key == bus.HeaderSource {
			fr.Headers[i].Value = []byte(bus.SourceHook)
		}
	}
	send(fr)
	// Garbage and a forged key: dead-lettered, never applied.
	bad := &kgo.Record{Topic: bus.TopicEvents, Key: r.Key, Value: []byte(`{"type":"clarion.alert_update"`), Headers: r.Headers}
	send(bad)
	forged := *r
	forged.Key = bus.KeyFor(target.IntegrationID, "00uSOMEONEELSE")
	send(&forged)
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	stop()

	got := latest()[target.ID]
	if got.Status != record.StatusEscalated || got.Disposition != record.DispositionConfirmedThreat ||
		got.ActionRequired != record.ActionRequiredApproval || got.Version != target.Version+2 || got.TriagedBy != "deterministic" {
		t.Fatalf("after updates: status %s disposition %s action %s version %d (from %d) by %q",
			got.Status, got.Disposition, got.ActionRequired, got.Version, target.Version, got.TriagedBy)
	}
	// Dead letters: the garbage, the forged key, and the update posing as
	// an Okta event (not a LogEvent: no uuid).
	dl := committed(t, c.Brokers, bus.TopicDeadLetter)
	if len(dl) != 3 {
		t.Fatalf("dead letters: %d, want 3", len(dl))
	}

	// Restart: the lifecycle is restored from the changelog, and
	// feedback applies on top of it.
	stop, errc = startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "upd"})
	defer stop()
	fb := mk(record.UpdateFeedback)
	fb.Feedback, fb.By = record.FeedbackDismiss, "analyst"
	if r, err = record.UpdateRecord(fb); err != nil {
		t.Fatal(err)
	}
	signAs(t, r, record.SignerAPI)
	send(r)
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	got = latest()[target.ID]
	if got.Status != record.StatusClosed || got.Disposition != record.DispositionFalsePositive || got.Feedback != record.FeedbackDismiss || got.Version != target.Version+3 {
		t.Fatalf("after feedback across a restart: %+v", got)
	}
}
