package triage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
)

func alertRecord(t *testing.T, a *Alert) *kgo.Record {
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: bus.TopicAlerts, Key: bus.KeyFor(a.IntegrationID, a.User.ID), Value: b}
}

func anomalyRecords(t *testing.T, ans []Anomaly) []*kgo.Record {
	var out []*kgo.Record
	for _, a := range ans {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &kgo.Record{Topic: bus.TopicAnomalies, Key: bus.KeyFor(a.IntegrationID, a.User.ID), Value: b})
	}
	return out
}

func TestRunConsumesAlertsAndProduces(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 3)
	org := newSimOrg(t)
	u := org.user(t)
	user := record.UserRef{ID: u.ID, Login: u.Login}
	ctx := tctx(t)
	keys := newKeys(t)
	prod := bustest.Client(t, c.Brokers, keys.signer(t, record.SignerProcessor).Opt()) // as the processor writes
	raw := bustest.Client(t, c.Brokers)                                                // anyone with broker access

	// A: an attack, whose version 1 is superseded by version 2 in the same poll.
	a1, aAns := attackScenario().build("integ-1", user, 1)
	a2, _ := attackScenario().build("integ-1", user, 2)
	// B: already escalated: not triaged.
	b, bAns := highScenario().build("integ-1", record.UserRef{ID: "00uother"}, 4)
	b.Status = record.StatusEscalated
	// C: routine, its anomalies arrive after the alert.
	cAl, cAns := routineScenario().build("integ-1", record.UserRef{ID: "00uthird"}, 1)

	recs := append(anomalyRecords(t, aAns), anomalyRecords(t, bAns)...)
	recs = append(recs, alertRecord(t, a1), alertRecord(t, a2), alertRecord(t, b),
		&kgo.Record{Topic: bus.TopicAlerts, Key: []byte("integ-1/x"), Value: []byte(`{"id":`)}, // malformed
		alertRecord(t, cAl))
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// D: a forged alert (unsigned) with a forged anomaly: never triaged.
	d, dAns := attackScenario().build("integ-1", record.UserRef{ID: "00uforged"}, 1)
	if err := raw.ProduceSync(ctx, append(anomalyRecords(t, dAns), alertRecord(t, d))...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	tr := newTriage(t, Config{Brokers: c.Brokers, Okta: org, AnomalyWait: 20 * time.Second,
		Signer: keys.signer(t, record.SignerTriage), Verifier: keys.verifier})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- tr.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// C's anomalies come later (the triage of C waits for them).
	time.Sleep(200 * time.Millisecond)
	if err := prod.ProduceSync(ctx, anomalyRecords(t, cAns)...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	runs := bustest.ConsumeN(t, c.Brokers, bus.TopicTriage, 2, 30*time.Second)
	byAlert := map[string]record.TriageRun{}
	for _, r := range runs {
		var run record.TriageRun
		if err := json.Unmarshal(r.Value, &run); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != string(bus.KeyFor(run.IntegrationID, run.User.ID)) {
			t.Fatalf("run key %q", r.Key)
		}
		byAlert[run.AlertID] = run
	}
	ra, ok := byAlert[a2.ID]
	if !ok || ra.AlertVersion != 2 || ra.Output.Disposition != record.DispositionConfirmedThreat || ra.ID != record.TriageRunID(a2.ID, 2) {
		t.Fatalf("run of A: %+v", ra)
	}
	rc, ok := byAlert[cAl.ID]
	if !ok || rc.Output.Disposition != record.DispositionBenign || rc.Steps[0].Error != "" {
		t.Fatalf("run of C (anomalies after the alert): %+v", rc)
	}

	updates := bustest.ConsumeN(t, c.Brokers, bus.TopicEvents, 4, 30*time.Second)
	kinds := map[string][]string{}
	for _, r := range updates {
		if !record.IsUpdate(r) {
			t.Fatalf("non-update on events: %s", r.Value)
		}
		var up record.Update
		if err := json.Unmarshal(r.Value, &up); err != nil {
			t.Fatal(err)
		}
		if err := up.Validate(); err != nil || len(up.Base) == 0 {
			t.Fatalf("update %+v: %v", up, err)
		}
		kinds[up.AlertID] = append(kinds[up.AlertID], up.Kind)
		if up.Kind == record.UpdateVerdict && up.AlertID == a2.ID {
			v := up.Verdict
			if v.RunID != ra.ID || v.Disposition != record.DispositionConfirmedThreat || v.ActionRequired != record.ActionRequiredApproval || up.AlertVersion != 2 {
				t.Fatalf("verdict of A: %+v", v)
			}
		}
	}
	for _, id := range []string{a2.ID, cAl.ID} {
		if len(kinds[id]) != 2 || kinds[id][0] != record.UpdateAnalyzing || kinds[id][1] != record.UpdateVerdict {
			t.Fatalf("updates of %s: %v", id, kinds[id])
		}
	}
	if len(kinds[b.ID]) != 0 {
		t.Fatalf("escalated alert B was triaged: %v", kinds[b.ID])
	}
	if len(kinds[d.ID]) != 0 || byAlert[d.ID].ID != "" {
		t.Fatalf("forged alert D was triaged: %v", kinds[d.ID])
	}
	for _, r := range updates {
		if _, err := keys.verifier.Verify(r, record.SignerTriage); err != nil {
			t.Fatalf("triage's update is not signed: %v", err)
		}
	}

	props := bustest.ConsumeN(t, c.Brokers, bus.TopicResponderRequests, 2, 30*time.Second)
	for _, r := range props {
		var q record.Request
		if err := json.Unmarshal(r.Value, &q); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.verifier.Verify(r, record.SignerTriage); err != nil {
			t.Fatalf("triage's proposal is not signed: %v", err)
		}
		if q.AlertID != a2.ID || q.Type != record.RequestPropose || q.Basis == nil || q.Basis.Deterministic != record.DispositionConfirmedThreat ||
			q.ActionID != record.ActionID(a2.ID, q.Kind) || q.ID != q.ActionID+"-v2" {
			t.Fatalf("proposal %+v", q)
		}
	}

	// Offsets are committed for every alert record (6 records, the
	// forged one too).
	adm := kadm.NewClient(prod)
	for {
		offs, err := adm.FetchOffsets(ctx, "clarion-triage")
		total := int64(0)
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == bus.TopicAlerts {
					total += o.At
				}
			})
		}
		if total == 6 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("committed %d alert offsets, want 6 (err %v)", total, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Every alert is handled now (offsets follow the produces): nothing
	// anywhere names the forged alert D.
	for _, topic := range []string{bus.TopicEvents, bus.TopicTriage, bus.TopicResponderRequests} {
		for _, r := range bustest.ConsumeAll(t, c.Brokers, topic, 30*time.Second) {
			if strings.Contains(string(r.Value), d.ID) {
				t.Fatalf("%s names the forged alert: %s", topic, r.Value)
			}
		}
	}
}
