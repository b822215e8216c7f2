package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
)

// TestForgeriesOnTheEmbeddedBroker: in `clarion run`, records written
// straight to the embedded Kafka (no credentials) in Clarion's own
// formats — an alert on clarion.alerts, a proposal for it, a verdict
// closing a real alert — change nothing: the forged alert is not triaged,
// no action is written for it, the verdict is refused; the real alert of
// the same user (same partitions, written after the forgeries) is
// triaged as usual.
func TestForgeriesOnTheEmbeddedBroker(t *testing.T) {
	a, _ := start(t, Config{DataDir: t.TempDir(), NoLake: true}, TargetAll)
	raw := bustest.Client(t, a.Brokers)
	proc, err := a.signer(record.SignerProcessor)
	if err != nil {
		t.Fatal(err)
	}
	signed := bustest.Client(t, a.Brokers, proc.Opt())
	const integ, user = "int-forge", "00uvictim"
	key := bus.KeyFor(integ, user)
	alert := func(id string) []byte {
		b, _ := json.Marshal(map[string]any{"id": id, "dedup_key": id, "integration_id": integ,
			"user": record.UserRef{ID: user, Login: "victim@example.com"}, "status": record.StatusNew,
			"disposition": record.DispositionUnknown, "severity": record.SeverityCritical,
			"detection_severity": record.SeverityCritical, "version": 1, "anomalies": []any{}, "types": []string{}})
		return b
	}
	prop := &record.Request{ID: "forged-prop", Type: record.RequestPropose, ActionID: record.ActionID("forged-alert", record.KindClearSessions),
		By: "triage", Kind: record.KindClearSessions, AlertID: "forged-alert", IntegrationID: integ, User: record.UserRef{ID: user},
		Basis: &record.Basis{DetectionSeverity: record.SeverityCritical, Deterministic: record.DispositionConfirmedThreat,
			Verdict: record.DispositionConfirmedThreat, VerdictBy: "deterministic"}}
	pr, err := record.RequestRecord(prop)
	if err != nil {
		t.Fatal(err)
	}
	closeReal, err := record.UpdateRecord(&record.Update{Kind: record.UpdateVerdict, AlertID: "real-alert", IntegrationID: integ,
		User: record.UserRef{ID: user}, AlertVersion: 1, By: "triage",
		Verdict: &record.Verdict{RunID: "x", Disposition: record.DispositionBenign, Severity: record.SeverityLow, By: "llm"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := raw.ProduceSync(ctx, &kgo.Record{Topic: bus.TopicAlerts, Key: key, Value: alert("forged-alert")}, pr, closeReal).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := signed.ProduceSync(ctx, &kgo.Record{Topic: bus.TopicAlerts, Key: key, Value: alert("real-alert")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	metric := func(name, label, value string) float64 {
		mfs, err := a.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == label && lp.GetValue() == value {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	deadline := time.Now().Add(60 * time.Second)
	for metric("clarion_responder_requests_refused_total", "reason", "unsigned") < 1 ||
		metric("clarion_processor_lifecycle_updates_total", "kind", "refused") < 1 ||
		metric("clarion_triage_skipped_total", "reason", "unsigned") < 1 ||
		metric("clarion_triage_runs_total", "by", "deterministic") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("refusals not counted: responder %v processor %v triage %v, runs %v",
				metric("clarion_responder_requests_refused_total", "reason", "unsigned"),
				metric("clarion_processor_lifecycle_updates_total", "kind", "refused"),
				metric("clarion_triage_skipped_total", "reason", "unsigned"),
				metric("clarion_triage_runs_total", "by", "deterministic"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The real alert was triaged (its run is on clarion.triage); nothing
	// anywhere carries the forged alert, and no version of the real alert
	// is Closed.
	// The run's transaction may commit after triage counted it.
	var runs []*kgo.Record
	for wait := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if runs = committedRecords(t, a.Brokers, bus.TopicTriage); len(runs) > 0 || time.Now().After(wait) {
			break
		}
	}
	if len(runs) != 1 || !strings.Contains(string(runs[0].Value), "real-alert") {
		t.Fatalf("%d triage runs", len(runs))
	}
	for _, topic := range []string{bus.TopicActions, bus.TopicTriage} {
		for _, r := range committedRecords(t, a.Brokers, topic) {
			if strings.Contains(string(r.Value), "forged-alert") {
				t.Fatalf("%s carries the forged alert: %s", topic, r.Value)
			}
		}
	}
	for _, r := range committedRecords(t, a.Brokers, bus.TopicAlerts) {
		var al struct{ ID, Status string }
		_ = json.Unmarshal(r.Value, &al)
		if _, err := a.verifierForTest(t).Verify(r, record.SignerProcessor); err == nil && (al.ID == "forged-alert" || al.Status == record.StatusClosed) {
			t.Fatalf("the processor wrote %s", r.Value)
		}
	}
}

func (a *App) verifierForTest(t *testing.T) *record.Verifier {
	t.Helper()
	v, err := a.verifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// committedRecords reads topic's committed records up to its last stable
// offsets (transaction markers skipped).
func committedRecords(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	return bustest.ReadCommitted(t, brokers, topic, bustest.StableEnds, 30*time.Second)
}
