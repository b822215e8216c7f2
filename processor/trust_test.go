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
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/processor/detect"
)

// testMasterKey is the master key of the processor's tests (fixed, so
// every helper derives the same signers).
func testMasterKey(t testing.TB) *secrets.MasterKey {
	t.Helper()
	raw := make([]byte, secrets.KeySize)
	copy(raw, "processor tests master key")
	k, err := secrets.NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testSigner(t testing.TB, name string) *record.Signer {
	t.Helper()
	s, err := record.DeriveSigner(testMasterKey(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withKeys gives cfg the processor's signer and a verifier of the test
// keys, unless it has them.
func withKeys(t testing.TB, cfg *Config) {
	t.Helper()
	if cfg.Signer == nil {
		cfg.Signer = testSigner(t, record.SignerProcessor)
	}
	if cfg.Verifier == nil {
		v, err := record.DeriveVerifier(testMasterKey(t))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Verifier = v
	}
}

// signAs signs r as Clarion's component name does.
func signAs(t testing.TB, r *kgo.Record, name string) { testSigner(t, name).Sign(r) }

// TestForgedUpdatesRefused: alert updates on the processor's input that
// are unsigned, signed by a component not allowed that kind of change, or
// altered after signing are dead-lettered and change no alert; in
// particular an update carrying a made-up alert as its Base does not make
// the processor write that alert as its own. The alerts the processor
// does write carry its signature.
func TestForgedUpdatesRefused(t *testing.T) {
	c := bustest.New(t, 3)
	produceEvents(t, c.Brokers, testEvents(t, "edge-flights.jsonl"))
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "forged"})
	defer stop()
	waitConsumed(t, c.Brokers, DefaultGroup, errc)

	v, err := record.DeriveVerifier(testMasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	latest := func() (map[string]detect.Alert, int) {
		out := map[string]detect.Alert{}
		recs := committed(t, c.Brokers, bus.TopicAlerts)
		for _, r := range recs {
			if _, err := v.Verify(r, record.SignerProcessor); err != nil {
				t.Fatalf("an alert the processor wrote does not verify: %v", err)
			}
			var a detect.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatal(err)
			}
			if a.Version >= out[a.ID].Version {
				out[a.ID] = a
			}
		}
		return out, len(recs)
	}
	before, nBefore := latest()
	var target detect.Alert
	for _, a := range before {
		target = a
		break
	}
	if target.ID == "" || target.Status != record.StatusNew {
		t.Fatalf("no fresh alert: %+v", target)
	}
	user := record.UserRef{ID: target.User.ID}
	mk := func(kind string) *record.Update {
		return &record.Update{Kind: kind, AlertID: target.ID, IntegrationID: target.IntegrationID,
			User: user, AlertVersion: target.Version, By: "triage"}
	}
	rec := func(u *record.Update, signer string) *kgo.Record {
		t.Helper()
		r, err := record.UpdateRecord(u)
		if err != nil {
			t.Fatal(err)
		}
		if signer != "" {
			signAs(t, r, signer)
		}
		return r
	}
	closeIt := mk(record.UpdateVerdict)
	closeIt.Verdict = &record.Verdict{RunID: "r", Disposition: record.DispositionBenign, Severity: record.SeverityLow, Confidence: 1, By: "llm"}
	dismiss := mk(record.UpdateFeedback)
	dismiss.Feedback, dismiss.By = record.FeedbackDismiss, "analyst"
	// A made-up alert of the same user, carried as the Base of an update
	// for an alert that is not open (so the processor would write Base + 1).
	fake := target
	fake.ID, fake.Status, fake.Disposition, fake.Severity, fake.DetectionSeverity = "forged-alert", record.StatusEscalated, record.DispositionConfirmedThreat, record.SeverityCritical, record.SeverityCritical
	base, _ := json.Marshal(fake)
	withBase := mk(record.UpdateActionRequired)
	withBase.AlertID, withBase.ActionRequired, withBase.Base, withBase.By = fake.ID, record.ActionRequiredApproval, base, "responder"

	altered := rec(mk(record.UpdateAnalyzing), record.SignerTriage)
	var a record.Update
	_ = json.Unmarshal(altered.Value, &a)
	a.Kind, a.Verdict = record.UpdateVerdict, closeIt.Verdict
	altered.Value, _ = json.Marshal(a)

	// A correctly signed update whose Base is another user's alert.
	other := fake
	other.User.ID = "00uSOMEONEELSE"
	otherBase, _ := json.Marshal(other)
	wrongUser := mk(record.UpdateActionRequired)
	wrongUser.AlertID, wrongUser.ActionRequired, wrongUser.Base, wrongUser.By = fake.ID, record.ActionRequiredApproval, otherBase, "responder"

	forgeries := []*kgo.Record{
		rec(wrongUser, record.SignerResponder), // signed, but the Base names another user
		rec(closeIt, ""),                       // unsigned verdict closing the alert
		rec(closeIt, record.SignerResponder),   // a verdict from the responder
		rec(dismiss, record.SignerTriage),      // analyst feedback from triage
		rec(dismiss, ""),                       // unsigned feedback
		altered,                                // triage's analyzing update turned into a verdict
		rec(withBase, ""),                      // unsigned update with a forged Base
		rec(withBase, record.SignerAPI),        // action_required from the API
	}
	cl := bustest.Client(t, c.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, forgeries...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitConsumed(t, c.Brokers, DefaultGroup, errc)

	after, nAfter := latest()
	if nAfter != nBefore {
		t.Fatalf("%d alert versions written for forged updates", nAfter-nBefore)
	}
	if _, ok := after[fake.ID]; ok {
		t.Fatal("the forged Base was written as an alert")
	}
	if got := after[target.ID]; got.Version != target.Version || got.Status != record.StatusNew {
		t.Fatalf("target changed: %+v", got)
	}
	if dl := committed(t, c.Brokers, bus.TopicDeadLetter); len(dl) != len(forgeries) {
		t.Fatalf("%d dead letters, want %d", len(dl), len(forgeries))
	}

	// The genuine update (triage's, signed) still applies.
	ok := rec(closeIt, record.SignerTriage)
	if err := cl.ProduceSync(ctx, rec(mk(record.UpdateAnalyzing), record.SignerTriage), ok).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	final, _ := latest()
	if got := final[target.ID]; got.Status != record.StatusClosed || got.Version != target.Version+2 {
		t.Fatalf("genuine updates: %+v", got)
	}
}
