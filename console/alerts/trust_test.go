package alerts

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// TestForgedRecordsNotShown: with a Verifier, alerts and actions forged
// onto Kafka (unsigned, or signed by a component that does not write the
// topic) never reach the model, so no analyst sees them and no feedback
// carries them as its Base.
func TestForgedRecordsNotShown(t *testing.T) {
	t.Parallel()
	mk, err := secrets.NewMasterKey(secrets.RandomBytes(secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := record.DeriveVerifier(mk)
	sign := func(name string) kgo.Opt {
		s, err := record.DeriveSigner(mk, name)
		if err != nil {
			t.Fatal(err)
		}
		return s.Opt()
	}
	c := bustest.New(t, 3)
	proc := bustest.Client(t, c.Brokers, sign(record.SignerProcessor))
	triage := bustest.Client(t, c.Brokers, sign(record.SignerTriage))
	raw := bustest.Client(t, c.Brokers)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	alert := func(id string) *kgo.Record {
		return &kgo.Record{Topic: bus.TopicAlerts, Key: bus.KeyFor("int-1", "00u"+id), Value: alertJSON(id, 1, "New", "High", id, t0, t0)}
	}
	forgedAction, _ := json.Marshal(record.Action{ID: "act-forged", AlertID: "real", IntegrationID: "int-1",
		User: record.UserRef{ID: "00ureal"}, Kind: record.KindSuspendUser, State: record.ActionPending, Version: 1})
	ctx := t.Context()
	if err := raw.ProduceSync(ctx, alert("forged"), &kgo.Record{Topic: bus.TopicActions, Key: bus.KeyFor("int-1", "00ureal"), Value: forgedAction}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := triage.ProduceSync(ctx, alert("by-triage")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := proc.ProduceSync(ctx, alert("real")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := New(Config{Brokers: c.Brokers, Verifier: v, Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	defer func() { cancel(); <-done }()
	// The real alert was produced last, on its own partition or after
	// the others on theirs; wait for it, then for every record to be read.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, ok := m.Get("real"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the processor's alert never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bad := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "clarion_console_bad_records_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	for bad() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%v records skipped, want 3", bad())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range []string{"forged", "by-triage"} {
		if _, _, ok := m.Get(id); ok {
			t.Fatalf("alert %s written by someone else than the processor is shown", id)
		}
	}
	if _, ok := m.Action("act-forged"); ok {
		t.Fatal("a forged pending action is shown")
	}
}
