package processor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
)

// TestRecordTooLargeAbortsTransaction: with clarion.alerts refusing every
// alert (max.message.bytes below an alert's size, MESSAGE_TOO_LARGE), no
// transaction that produced an alert commits: no anomaly, alert or offset
// past them is committed. Once the limit is lifted the processor finishes
// with a clean run's outputs.
func TestRecordTooLargeAbortsTransaction(t *testing.T) {
	events := testEvents(t, "edge-flights.jsonl", "edge-delivery.jsonl")
	_, clean := runClean(t, events)

	c := bustest.New(t, 3)
	produceEvents(t, c.Brokers, events)
	adm := kadm.NewClient(bustest.Client(t, c.Brokers))
	setMax := func(v string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, bus.TopicAlerts)
		if err == nil {
			_, err = resp.On(bus.TopicAlerts, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	setMax("200")
	reg := prometheus.NewRegistry()
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "big", MaxPollRecords: 25, Registerer: reg})
	deadline := time.Now().Add(60 * time.Second)
	for gaugeLabel(t, reg, "clarion_processor_transactions_total", "produce_failed") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no transaction failed to produce within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(committed(t, c.Brokers, bus.TopicAlerts)); n != 0 {
		t.Errorf("%d alerts committed past the limit", n)
	}
	// Every committed anomaly's alert is committed: with no alert, none.
	if n := len(committed(t, c.Brokers, bus.TopicAnomalies)); n != 0 {
		t.Errorf("%d anomalies committed without their alert", n)
	}
	setMax("1048588")
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	stop()
	if got := outputs(t, c.Brokers); strings.Join(got, "\n") != strings.Join(clean, "\n") {
		t.Fatalf("outputs after the limit was lifted differ from a clean run: %d records vs %d", len(got), len(clean))
	}
}

// gaugeLabel returns the value of the series of name in reg whose only
// label has value v (counters and gauges).
func gaugeLabel(t *testing.T, reg *prometheus.Registry, name, v string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == v {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}
