package source

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/processor/scenario"
)

func produce(t *testing.T, brokers []string, ss []scenario.Signin) {
	t.Helper()
	cl := bustest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range ss {
		b, err := json.Marshal(s.Event())
		if err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: bus.TopicEvents, Key: bus.KeyFor("0oaT", s.UserID), Value: b, Headers: []kgo.RecordHeader{
			{Key: bus.HeaderIntegrationID, Value: []byte("0oaT")},
			{Key: bus.HeaderSource, Value: []byte(bus.SourceHook)},
			{Key: bus.HeaderReceivedAt, Value: []byte(bus.FormatTime(s.At))},
		}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func startStage(t *testing.T, brokers []string) (stop func()) {
	t.Helper()
	st, err := New(Config{Brokers: brokers, TransactionalID: "source-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

// A spray through the whole stage: events keyed by user on three
// partitions become one source anomaly; a restarted stage restores the
// source from its changelog and raises the anomaly's severity when a user
// tried signs in from the same IP.
func TestStageEndToEnd(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 3)
	at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	var ss []scenario.Signin
	for i := 0; i < 9; i++ {
		ss = append(ss, scenario.Signin{UserID: fmt.Sprintf("00u%d", i), Login: fmt.Sprintf("v%d@x", i), At: at.Add(time.Duration(i) * 20 * time.Second),
			Place: scenario.Moscow, IP: "95.24.9.9", Failure: true})
	}
	stop := startStage(t, c.Brokers)
	produce(t, c.Brokers, ss)
	// 6, 7 and 8 users reported (growing by a quarter), all one anomaly id.
	recs := bustest.ConsumeN(t, c.Brokers, bus.TopicAnomalies, 3, 60*time.Second)
	stop()
	var a Anomaly
	if err := json.Unmarshal(recs[len(recs)-1].Value, &a); err != nil {
		t.Fatal(err)
	}
	if a.Type != TypePasswordSpray || a.Subject.Kind != record.SubjectSource || a.Subject.Source.Key != "ip:95.24.9.9" || a.Severity != record.SeverityHigh {
		t.Fatalf("anomaly %+v", a)
	}
	if string(recs[0].Key) != "0oaT/ip:95.24.9.9" {
		t.Errorf("key %q", recs[0].Key)
	}

	stop = startStage(t, c.Brokers)
	defer stop()
	produce(t, c.Brokers, []scenario.Signin{{UserID: "00u4", Login: "v4@x", At: at.Add(time.Hour), Place: scenario.Moscow, IP: "95.24.9.9"}})
	recs = bustest.ConsumeN(t, c.Brokers, bus.TopicAnomalies, 4, 60*time.Second)
	var b Anomaly
	if err := json.Unmarshal(recs[len(recs)-1].Value, &b); err != nil {
		t.Fatal(err)
	}
	if b.ID != a.ID || b.Severity != record.SeverityCritical || len(b.Evidence.Succeeded) != 1 || b.Evidence.Succeeded[0] != "v4@x" {
		t.Fatalf("after the success: %+v", b)
	}
}
