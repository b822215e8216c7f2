package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

func startStage(t *testing.T, brokers []string, txid string) (stop func()) {
	t.Helper()
	st, err := New(Config{Brokers: brokers, TransactionalID: txid, Logger: slog.New(slog.DiscardHandler), MaxPollRecords: 4})
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
	stop := startStage(t, c.Brokers, "source-test")
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

	stop = startStage(t, c.Brokers, "source-test")
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

// A crash after producing a batch and before committing it: the restarted
// stage aborts the open transaction (same transactional id), restores the
// sources and reprocesses from the committed offsets, so the anomalies
// on clarion.anomalies are exactly those of an uninterrupted run.
func TestStageCrashBetweenProduceAndCommit(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 3)
	at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	var ss []scenario.Signin
	for i := 0; i < 9; i++ {
		ss = append(ss, scenario.Signin{UserID: fmt.Sprintf("00u%d", i), Login: fmt.Sprintf("v%d@x", i), At: at.Add(time.Duration(i) * 20 * time.Second),
			Place: scenario.Moscow, IP: "95.24.9.9", Failure: true})
	}
	produce(t, c.Brokers, ss)
	logger := slog.New(slog.DiscardHandler)
	crashed := 0
	for _, crashAt := range []int{3, 1} {
		st, err := New(Config{Brokers: c.Brokers, TransactionalID: "source-crash", Logger: logger, MaxPollRecords: 4,
			crashAfterProduce: func(b int) bool { return b == crashAt }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = st.Run(ctx)
		cancel()
		if !errors.Is(err, errCrashed) {
			t.Fatalf("run %d: %v, want the simulated crash", crashAt, err)
		}
		crashed++
	}
	// The same transactional id, as a restarted instance has: it fences
	// the crashed one and aborts its open transaction.
	stop := startStage(t, c.Brokers, "source-crash")
	bustest.ConsumeN(t, c.Brokers, bus.TopicAnomalies, 3, 60*time.Second)
	// Wait until the stage has committed every attempt record, then check
	// the topic holds exactly three versions: 6, 7 and 8 users.
	waitCommitted(t, c.Brokers)
	stop()
	all := committedRecords(t, c.Brokers, bus.TopicAnomalies)
	if len(all) != 3 {
		t.Fatalf("%d anomaly records after %d crashes, want 3", len(all), crashed)
	}
	var users []int
	for _, r := range all {
		var a Anomaly
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		users = append(users, a.Evidence.UserCount)
	}
	sort.Ints(users)
	if fmt.Sprint(users) != "[6 7 8]" {
		t.Errorf("user counts %v, want [6 7 8]", users)
	}
}

// waitCommitted blocks until the stage's group has committed offsets at
// the end of the events and attempts topics.
func waitCommitted(t *testing.T, brokers []string) {
	t.Helper()
	adm := kadm.NewClient(bustest.Client(t, brokers))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		ends, err := adm.ListEndOffsets(ctx, bus.TopicEvents, TopicAttempts)
		if err != nil {
			t.Fatal(err)
		}
		cm, err := adm.FetchOffsets(ctx, DefaultGroup)
		lastData := map[int32]int64{} // attempts: after the last committed data record
		for _, r := range committedRecords(t, brokers, TopicAttempts) {
			if r.Offset+1 > lastData[r.Partition] {
				lastData[r.Partition] = r.Offset + 1
			}
		}
		if err == nil {
			done := true
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := cm.Lookup(o.Topic, o.Partition)
				end := o.Offset
				if o.Topic == TopicAttempts {
					// Transaction markers (and aborted records) follow the
					// last data record; the group's offset stops before
					// them until another batch is committed.
					end = lastData[o.Partition]
				}
				if end > 0 && (!ok || c.At < end) {
					done = false
				}
			})
			if done {
				return
			}
		}
		select {
		case <-ctx.Done():
			var state []string
			ends.Each(func(o kadm.ListedOffset) {
				c, _ := cm.Lookup(o.Topic, o.Partition)
				state = append(state, fmt.Sprintf("%s/%d end %d committed %d", o.Topic, o.Partition, o.Offset, c.At))
			})
			sort.Strings(state)
			t.Fatalf("the stage did not commit its input within 60s: %v", state)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// committedRecords reads every committed data record of topic up to its
// end (read_committed, control records counted for the position only).
func committedRecords(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	return bustest.ReadCommitted(t, brokers, topic, bustest.HighWatermarks, 30*time.Second)
}
