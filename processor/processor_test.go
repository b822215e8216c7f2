package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor/detect"
	"github.com/clarion-itdr/clarion/processor/scenario"
)

const testInteg = "0oaTEST"

// testEvents returns raw LogEvents from the hand-written scenarios: weeks of
// history and the travel, late and duplicate cases.
func testEvents(t *testing.T, files ...string) [][]byte {
	t.Helper()
	edges := scenario.Edges()
	var out [][]byte
	for _, f := range files {
		for _, s := range edges[f] {
			b, err := json.Marshal(s.Event())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

func produceEvents(t *testing.T, brokers []string, events [][]byte) {
	t.Helper()
	cl := bustest.Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ev logevent.Event
	recv := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, raw := range events {
		if err := logevent.Parse(raw, &ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		r := &kgo.Record{
			Topic: bus.TopicEvents,
			Key:   bus.KeyFor(testInteg, ev.UserKey()),
			Value: raw,
			Headers: []kgo.RecordHeader{
				{Key: bus.HeaderIntegrationID, Value: []byte(testInteg)},
				{Key: bus.HeaderSource, Value: []byte(bus.SourceHook)},
				{Key: bus.HeaderReceivedAt, Value: []byte(bus.FormatTime(recv.Add(time.Duration(i) * time.Second)))},
				{Key: bus.HeaderUUID, Value: []byte(ev.UUID)},
			},
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitConsumed blocks until group has committed offsets at the end of the
// events topic.
func waitConsumed(t *testing.T, brokers []string, group string, errc <-chan error) {
	t.Helper()
	adm := kadm.NewClient(bustest.Client(t, brokers))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			t.Fatalf("processor stopped early: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ends, err1 := adm.ListEndOffsets(ctx, bus.TopicEvents)
		offs, err2 := adm.FetchOffsets(ctx, group)
		cancel()
		if err1 == nil && err2 == nil {
			done := true
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := offs.Lookup(bus.TopicEvents, o.Partition)
				if o.Offset > 0 && (!ok || c.At < o.Offset) {
					done = false
				}
			})
			if done {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("events not consumed within 60s")
}

// committed reads every committed record of topic (read_committed, up to
// the last stable offset) as "key value" strings in partition/offset order.
func committed(t *testing.T, brokers []string, topic string) []*kgo.Record {
	return readTopic(t, brokers, topic, true)
}

// readTopic reads topic to its end: the last stable offset with
// read_committed, the high watermark with read_uncommitted.
func readTopic(t *testing.T, brokers []string, topic string, readCommitted bool) []*kgo.Record {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if readCommitted {
		iso = kgo.ReadCommitted()
	}
	cl := bustest.Client(t, brokers, kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if readCommitted {
		// On Apache Kafka the commit markers land after EndTxn returns,
		// partition by partition: wait (a while) for the last stable
		// offset to reach the high watermark. A transaction left open by
		// a crash keeps it below; then read up to it.
		settle := time.Now().Add(5 * time.Second)
		for {
			hw, herr := adm.ListEndOffsets(ctx, topic)
			ends, err = adm.ListCommittedOffsets(ctx, topic)
			if err == nil {
				err = herr
			}
			if err != nil || equalOffsets(ends, hw) || time.Now().After(settle) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			offs[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	var out []*kgo.Record
	if len(want) == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs})
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

func equalOffsets(a, b kadm.ListedOffsets) bool {
	eq := true
	b.Each(func(o kadm.ListedOffset) {
		if x, ok := a.Lookup(o.Topic, o.Partition); !ok || x.Offset != o.Offset {
			eq = false
		}
	})
	return eq
}

func outputs(t *testing.T, brokers []string) []string {
	var out []string
	for _, topic := range []string{bus.TopicAnomalies, bus.TopicAlerts} {
		for _, r := range committed(t, brokers, topic) {
			out = append(out, topic+" "+string(r.Key)+" "+string(r.Value))
		}
	}
	sort.Strings(out)
	return out
}

func startProcessor(t *testing.T, cfg Config) (cancel func(), errc chan error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet(t)
	}
	withKeys(t, &cfg)
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancelFn := context.WithCancel(context.Background())
	errc = make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	return func() {
		cancelFn()
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, errCrashed) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("processor did not stop")
		}
	}, errc
}

func quiet(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func runClean(t *testing.T, events [][]byte) (brokers []string, out []string) {
	c := bustest.New(t, 3)
	produceEvents(t, c.Brokers, events)
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "clean", MaxPollRecords: 25})
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	stop()
	return c.Brokers, outputs(t, c.Brokers)
}

// TestEndToEnd: anomalies and alerts reach their topics, keyed by
// integration/user, with the fields of DESIGN.md's model.
func TestEndToEnd(t *testing.T) {
	brokers, out := runClean(t, testEvents(t, "edge-flights.jsonl", "edge-delivery.jsonl"))
	if len(out) == 0 {
		t.Fatal("no outputs")
	}
	var travel, alerts int
	for _, r := range committed(t, brokers, bus.TopicAnomalies) {
		var a detect.Anomaly
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		if a.ID == "" || a.EventUUID == "" || a.Sentence == "" || a.AlertID == "" || a.IntegrationID != testInteg {
			t.Errorf("incomplete anomaly %s", r.Value)
		}
		if string(r.Key) != string(bus.KeyFor(testInteg, a.User.ID)) {
			t.Errorf("anomaly key %q for user %q", r.Key, a.User.ID)
		}
		if a.Type == detect.TypeImpossibleTravel {
			travel++
		}
	}
	if travel != 2 { // bob's Moscow and noah's late Moscow
		t.Errorf("impossible_travel anomalies: %d, want 2", travel)
	}
	for _, r := range committed(t, brokers, bus.TopicAlerts) {
		alerts++
		var a map[string]any
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"id", "dedup_key", "integration_id", "user", "status", "disposition", "severity", "action_required", "anomalies", "first_seen", "last_seen", "version", "summary"} {
			if _, ok := a[f]; !ok {
				t.Errorf("alert without %s: %s", f, r.Value)
			}
		}
		if a["status"] != "New" {
			t.Errorf("status %v", a["status"])
		}
	}
	if alerts == 0 {
		t.Error("no alerts")
	}
}

// TestCrashBetweenProduceAndCommit kills the processor after it produced a
// batch's outputs and changelog but before the transaction committed; a
// restarted instance (same transactional id) fences it, restores state from
// the changelog and finishes. The committed outputs equal a clean run's.
func TestCrashBetweenProduceAndCommit(t *testing.T) {
	events := testEvents(t, "edge-flights.jsonl", "edge-delivery.jsonl")
	_, clean := runClean(t, events)

	for _, crashAt := range []int{2, 7} {
		t.Run(fmt.Sprint("batch", crashAt), func(t *testing.T) {
			c := bustest.New(t, 3)
			produceEvents(t, c.Brokers, events)
			cfg := Config{Brokers: c.Brokers, TransactionalID: "p", MaxPollRecords: 25, Logger: quiet(t),
				crashAfterProduce: func(b int) bool { return b == crashAt }}
			withKeys(t, &cfg)
			p1, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := p1.Run(ctx); !errors.Is(err, errCrashed) {
				t.Fatalf("first run: %v, want the simulated crash", err)
			}
			// The crashed batch's changelog records are in the log, not committed.
			dangling := len(readTopic(t, c.Brokers, bus.TopicChangelog, false)) - len(committed(t, c.Brokers, bus.TopicChangelog))
			if dangling <= 0 {
				t.Fatalf("the crash left no uncommitted records (%d): nothing was tested", dangling)
			}
			reg := prometheus.NewRegistry()
			stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "p", MaxPollRecords: 25, Registerer: reg})
			waitConsumed(t, c.Brokers, DefaultGroup, errc)
			stop()
			got := outputs(t, c.Brokers)
			if strings.Join(got, "\n") != strings.Join(clean, "\n") {
				t.Errorf("outputs after crash differ from a clean run: %d records vs %d", len(got), len(clean))
				for i := 0; i < len(got) || i < len(clean); i++ {
					var a, b string
					if i < len(got) {
						a = got[i]
					}
					if i < len(clean) {
						b = clean[i]
					}
					if a != b {
						t.Logf("first difference at %d:\n got   %.300s\n clean %.300s", i, a, b)
						break
					}
				}
			}
			if n := counter(t, reg, "clarion_processor_restored_users_total"); n == 0 && crashAt > 2 {
				t.Errorf("restarted processor restored no users from the changelog")
			}
		})
	}
}

// gauge returns the value of the gauge name in reg (0 when absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// counter returns the value of the counter name in reg (0 when absent).
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// TestCorruptChangelogSkipped: a changelog record that does not decode is
// skipped and counted; the processor keeps running and processes events.
func TestCorruptChangelogSkipped(t *testing.T) {
	c := bustest.New(t, 3)
	cl := bustest.Client(t, c.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := int32(0); p < 3; p++ {
		for _, v := range [][]byte{{0xC1, 1, 0xff, 0xff}, []byte("not a state"), {}} {
			r := &kgo.Record{Topic: bus.TopicChangelog, Partition: p, Key: []byte(fmt.Sprintf("%s/u%d", testInteg, p)), Value: v}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Produced with the default (hash) partitioner these land anywhere; use
	// a manual-partitioning client instead.
	mcl := bustest.Client(t, c.Brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 3; p++ {
		r := &kgo.Record{Topic: bus.TopicChangelog, Partition: p, Key: []byte(fmt.Sprintf("%s/m%d", testInteg, p)), Value: bytes.Repeat([]byte{0xC1}, 40)}
		if err := mcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceEvents(t, c.Brokers, testEvents(t, "edge-flights.jsonl"))
	reg := prometheus.NewRegistry()
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "corrupt", Registerer: reg})
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	stop()
	if n := counter(t, reg, "clarion_processor_changelog_corrupt_total"); n < 3 {
		t.Errorf("corrupt records counted: %v, want at least 3", n)
	}
	if len(outputs(t, c.Brokers)) == 0 {
		t.Error("no outputs after skipping corrupt state")
	}
}

// TestUnparseableAndPlaceholder: an event that is not a LogEvent goes to the
// dead-letter topic; one with a placeholder published is timed by
// received_at and counted.
func TestUnparseableAndPlaceholder(t *testing.T) {
	c := bustest.New(t, 1)
	cl := bustest.Client(t, c.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := scenario.Signin{UserID: "00uph", Login: "ph@example.com", At: time.Now(), Place: scenario.London, PublishedRaw: "<published>"}
	raw, _ := json.Marshal(ph.Event())
	for _, v := range [][]byte{[]byte(`[1,2]`), []byte(`{"no":"uuid"}`), raw} {
		r := &kgo.Record{Topic: bus.TopicEvents, Key: []byte(testInteg + "/x"), Value: v, Headers: []kgo.RecordHeader{
			{Key: bus.HeaderIntegrationID, Value: []byte(testInteg)},
			{Key: bus.HeaderReceivedAt, Value: []byte("2026-03-10T10:00:00.000Z")},
		}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "bad", Registerer: reg})
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	stop()
	if n := len(committed(t, c.Brokers, bus.TopicDeadLetter)); n != 2 {
		t.Errorf("dead letters: %d, want 2", n)
	}
	if n := counter(t, reg, "clarion_processor_published_fallback_total"); n != 1 {
		t.Errorf("published fallbacks: %v, want 1", n)
	}
	// The placeholder event's state is timed at received_at.
	var found bool
	for _, r := range committed(t, c.Brokers, bus.TopicChangelog) {
		var u detect.User
		if r.Value != nil && u.UnmarshalBinary(r.Value) == nil && u.Login == "ph@example.com" {
			found = true
			if got := time.UnixMilli(u.LastSeen).UTC(); !got.Equal(time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("placeholder event timed %v, want received_at", got)
			}
		}
	}
	if !found {
		t.Error("no changelog state for the placeholder event's user")
	}
}

// TestIdleUsersExpire: users idle longer than IdleTTL (event time) are
// dropped and tombstoned in the changelog.
func TestIdleUsersExpire(t *testing.T) {
	c := bustest.New(t, 1)
	events := testEvents(t, "edge-delivery.jsonl")
	late, _ := json.Marshal(scenario.Signin{UserID: "00ulater", Login: "later@example.com", At: time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC), Place: scenario.London}.Event())
	produceEvents(t, c.Brokers, append(events, late))
	reg := prometheus.NewRegistry()
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "ttl", Registerer: reg,
		Params: detect.Params{IdleTTL: 30 * 24 * time.Hour}})
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	stop()
	tomb := map[string]bool{}
	for _, r := range committed(t, c.Brokers, bus.TopicChangelog) {
		if r.Value == nil {
			tomb[string(r.Key)] = true
		}
	}
	for _, u := range []string{"00unoah", "00uolivia"} {
		if !tomb[string(bus.KeyFor(testInteg, u))] {
			t.Errorf("%s not tombstoned after months idle (tombstones %v)", u, tomb)
		}
	}
	if tomb[string(bus.KeyFor(testInteg, "00ulater"))] {
		t.Error("the active user was expired")
	}
	if n := counter(t, reg, "clarion_processor_expired_users_total"); n < 2 {
		t.Errorf("expired users counted: %v", n)
	}
}

// TestRebalance: a second instance joins mid-stream and takes partitions;
// it restores their users from the changelog, and the committed outputs
// equal a single clean run's.
func TestRebalance(t *testing.T) {
	events := testEvents(t, "edge-flights.jsonl", "edge-delivery.jsonl", "edge-carriers.jsonl")
	_, clean := runClean(t, events)

	c := bustest.New(t, 3)
	half := len(events) / 2
	produceEvents(t, c.Brokers, events[:half])
	reg := prometheus.NewRegistry()
	stop1, errc1 := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "r1", MaxPollRecords: 25})
	waitConsumed(t, c.Brokers, DefaultGroup, errc1)
	stop2, errc2 := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "r2", MaxPollRecords: 25, Registerer: reg})
	// Wait until the second instance owns a partition.
	deadline := time.Now().Add(60 * time.Second)
	for gauge(t, reg, "clarion_processor_partitions") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("second instance got no partition within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	produceEvents(t, c.Brokers, events[half:])
	waitConsumed(t, c.Brokers, DefaultGroup, errc1)
	select {
	case err := <-errc2:
		t.Fatalf("second instance stopped: %v", err)
	default:
	}
	stop1()
	stop2()
	if counter(t, reg, "clarion_processor_events_total") == 0 {
		t.Error("the second instance processed nothing")
	}
	got := outputs(t, c.Brokers)
	if strings.Join(got, "\n") != strings.Join(clean, "\n") {
		t.Errorf("outputs with a rebalance differ from a clean run: %d records vs %d", len(got), len(clean))
	}
}

// TestFailedTransactionRestartsSession: when a transaction cannot end (the
// broker refuses EndTxn once), the processor does not stop: it starts a new
// session, restores state from the changelog and reprocesses from the last
// committed offsets. The committed outputs equal a clean run's.
func TestFailedTransactionRestartsSession(t *testing.T) {
	events := testEvents(t, "edge-flights.jsonl", "edge-delivery.jsonl")
	_, clean := runClean(t, events)

	c := bustest.New(t, 3)
	produceEvents(t, c.Brokers, events)
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit || refused.Load() > 0 {
			return nil, nil, false
		}
		refused.Add(1)
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.InvalidTxnState.Code
		return resp, nil, true
	})
	reg := prometheus.NewRegistry()
	// The refused transaction stays open on the broker until it times out
	// (the new session's InitProducerID waits for that): keep it short.
	stop, errc := startProcessor(t, Config{Brokers: c.Brokers, TransactionalID: "r", MaxPollRecords: 25, Registerer: reg,
		ClientOpts: []kgo.Opt{kgo.TransactionTimeout(3 * time.Second)}})
	waitConsumed(t, c.Brokers, DefaultGroup, errc)
	stop()
	if refused.Load() != 1 {
		t.Fatalf("EndTxn refused %d times: nothing was tested", refused.Load())
	}
	if n := counter(t, reg, "clarion_processor_session_restarts_total"); n != 1 {
		t.Fatalf("session restarts %v, want 1", n)
	}
	if got := outputs(t, c.Brokers); strings.Join(got, "\n") != strings.Join(clean, "\n") {
		t.Fatalf("outputs after a failed transaction differ from a clean run: %d records vs %d", len(got), len(clean))
	}
}
