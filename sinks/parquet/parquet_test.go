package parquet_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/parquet"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs a sink until the test ends or the returned stop is called.
func start(t *testing.T, cfg parquet.Config) (stop func()) {
	t.Helper()
	s, err := parquet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// readTable reads every row of a table in the lake.
func readTable[T any](t *testing.T, lake, table string) []T {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(lake, table, "dt=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, f := range files {
		rows, err := pq.ReadFile[T](f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		out = append(out, rows...)
	}
	return out
}

func TestLakeRoundTrip(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 2)
	cl := bustest.Client(t, kc.Brokers)
	dir := t.TempDir()

	events := sinkstest.Events(t, "int1", 60)
	sinkstest.Produce(t, cl, events...)
	published := time.Date(2026, 3, 1, 12, 30, 0, 123e6, time.UTC)
	sinkstest.Produce(t, cl,
		sinkstest.JSONRecord(bus.TopicAnomalies, "int1/00uA", sinkstest.Anomaly("an-1", "impossible_travel", "int1", "00uA", published)),
		sinkstest.JSONRecord(bus.TopicAlerts, "int1/00uA", sinkstest.Alert("al-1", "int1", "00uA", "New", 1, "an-1", "an-2")),
		sinkstest.JSONRecord(bus.TopicActions, "int1/00uA", sinkstest.Action("al-1/suspend_user", "al-1", "int1", "00uA", "pending_approval", 1)),
	)
	start(t, parquet.Config{Brokers: kc.Brokers, DataDir: dir, FlushInterval: 100 * time.Millisecond, Logger: testLogger()})
	lake := filepath.Join(dir, "lake")
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return len(readTable[sinks.EventRow](t, lake, sinks.TableEvents)) == 60 && len(readTable[sinks.ActionRow](t, lake, sinks.TableActions)) == 1
	}, func() string { return "rows did not reach the lake" })

	// Events: every field as decoded from the record, types intact.
	want := map[string]sinks.EventRow{}
	var ev logevent.Event
	for i, r := range events {
		r.Partition, r.Offset = 0, 0
		var row sinks.EventRow
		if err := sinks.DecodeEvent(r, &ev, &row); err != nil {
			t.Fatal(err)
		}
		_ = i
		want[row.UUID] = row
	}
	for _, got := range readTable[sinks.EventRow](t, lake, sinks.TableEvents) {
		w, ok := want[got.UUID]
		if !ok {
			t.Fatalf("unexpected uuid %s", got.UUID)
		}
		got.KafkaPartition, got.KafkaOffset = 0, 0
		if !got.Published.Equal(w.Published) || !got.ReceivedAt.Equal(w.ReceivedAt) {
			t.Errorf("%s: times %v %v, want %v %v", got.UUID, got.Published, got.ReceivedAt, w.Published, w.ReceivedAt)
		}
		got.Published, got.ReceivedAt, w.Published, w.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", w) {
			t.Errorf("row differs:\n got %+v\nwant %+v", got, w)
		}
		delete(want, got.UUID)
	}
	if len(want) != 0 {
		t.Errorf("%d events missing", len(want))
	}

	an := readTable[sinks.AnomalyRow](t, lake, sinks.TableAnomalies)
	if len(an) != 1 || !an[0].Published.Equal(published) || an[0].Score != 0.93 || an[0].UserLogin != "00ua@example.com" || !strings.Contains(an[0].Evidence, "speed_kmh") {
		t.Errorf("anomaly row %+v", an)
	}
	if _, err := os.Stat(filepath.Join(lake, sinks.TableAnomalies, "dt=2026-03-01")); err != nil {
		t.Errorf("anomaly not under its published day: %v", err)
	}
	al := readTable[sinks.AlertRow](t, lake, sinks.TableAlerts)
	if len(al) != 1 || len(al[0].AnomalyIDs) != 2 || al[0].AnomalyIDs[1] != "an-2" || al[0].Version != 1 || al[0].Severity != "High" {
		t.Errorf("alert row %+v", al)
	}

	// The file schema: zstd, millisecond UTC timestamps.
	files, _ := filepath.Glob(filepath.Join(lake, sinks.TableEvents, "dt=*", "*.parquet"))
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := pq.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	col, ok := pf.Schema().Lookup("published")
	if !ok {
		t.Fatal("no published column")
	}
	lt := col.Node.Type().LogicalType()
	if lt == nil || !strings.Contains(lt.String(), "isAdjustedToUTC=true") || !strings.Contains(strings.ToUpper(lt.String()), "MILLIS") {
		t.Errorf("published logical type %+v, want TIMESTAMP(MILLIS, UTC)", lt)
	}
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("column %v codec %v, want zstd", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
}

// TestHelperCrashingSink is the child process of TestCrashExactlyOnce: a
// sink that kills itself with SIGKILL at one stage of its first flush.
func TestHelperCrashingSink(t *testing.T) {
	stage := os.Getenv("CLARION_PARQUET_CRASH_AT")
	if stage == "" {
		t.Skip("helper process")
	}
	s, err := parquet.New(parquet.Config{
		Brokers: strings.Split(os.Getenv("CLARION_PARQUET_BROKERS"), ","), DataDir: os.Getenv("CLARION_PARQUET_DIR"),
		FlushInterval: 100 * time.Millisecond, Logger: testLogger(), KafkaOpts: fastGroup,
	})
	if err != nil {
		t.Fatal(err)
	}
	parquet.SetHook(s, func(at string) {
		if at == stage {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_ = s.Run(ctx)
	t.Fatalf("the sink never reached stage %q", stage)
}

var fastGroup = []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(200 * time.Millisecond)}

func TestCrashExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"written", "manifest", "renamed"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			// The killed sink's group member expires after a short session.
			kc := bustest.New(t, 3, kfake.GroupMinSessionTimeout(100*time.Millisecond))
			cl := bustest.Client(t, kc.Brokers)
			dir := t.TempDir()
			first := sinkstest.Events(t, "int1", 150)
			sinkstest.Produce(t, cl, first...)

			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashingSink$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CLARION_PARQUET_CRASH_AT="+stage,
				"CLARION_PARQUET_BROKERS="+strings.Join(kc.Brokers, ","), "CLARION_PARQUET_DIR="+dir)
			out, err := cmd.CombinedOutput()
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at %s: %v\n%s", stage, err, out)
			}
			lake := filepath.Join(dir, "lake")
			leftovers, _ := filepath.Glob(filepath.Join(lake, "*", "dt=*", ".*.tmp"))
			pending, _ := filepath.Glob(filepath.Join(lake, "_clarion", "pending-*.json"))
			t.Logf("after the kill: %d temporary files, %d manifests, %d rows in place",
				len(leftovers), len(pending), len(readTable[sinks.EventRow](t, lake, sinks.TableEvents)))

			second := sinkstest.Events(t, "int1", 100)
			sinkstest.Produce(t, cl, second...)
			stop := start(t, parquet.Config{Brokers: kc.Brokers, DataDir: dir, FlushInterval: 100 * time.Millisecond, Logger: testLogger(), KafkaOpts: fastGroup})
			sinkstest.Eventually(t, 60*time.Second, func() bool {
				return len(readTable[sinks.EventRow](t, lake, sinks.TableEvents)) >= 250
			}, func() string {
				return fmt.Sprintf("%d of 250 rows", len(readTable[sinks.EventRow](t, lake, sinks.TableEvents)))
			})
			stop()
			seen := map[string]int{}
			for _, r := range readTable[sinks.EventRow](t, lake, sinks.TableEvents) {
				seen[r.UUID]++
			}
			for _, r := range append(first, second...) {
				u := bus.Header(r, bus.HeaderUUID)
				if seen[u] != 1 {
					t.Errorf("event %s stored %d times", u, seen[u])
				}
				delete(seen, u)
			}
			if len(seen) != 0 {
				t.Errorf("%d unexpected rows", len(seen))
			}
			leftovers, _ = filepath.Glob(filepath.Join(lake, "*", "dt=*", ".*.tmp"))
			pending, _ = filepath.Glob(filepath.Join(lake, "_clarion", "pending-*.json"))
			if len(leftovers)+len(pending) != 0 {
				t.Errorf("left behind: %v %v", leftovers, pending)
			}
		})
	}
}

func TestLockedLake(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 1)
	dir := t.TempDir()
	// Another process holds the lake.
	meta := filepath.Join(dir, "lake", "_clarion")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(meta, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	s, err := parquet.New(parquet.Config{Brokers: kc.Brokers, DataDir: dir, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx); !errors.Is(err, parquet.ErrLocked) {
		t.Fatalf("sink on a locked lake: %v, want ErrLocked", err)
	}
}

func TestFileName(t *testing.T) {
	t.Parallel()
	tp := sinks.TopicPartition{Topic: bus.TopicEvents, Partition: 11}
	name := parquet.FileName(tp, 5, 123456789012)
	got, f, l, ok := parquet.ParseFileName(name)
	if !ok || got != tp || f != 5 || l != 123456789012 {
		t.Fatalf("ParseFileName(%q) = %v %d %d %v", name, got, f, l, ok)
	}
	for _, bad := range []string{".x.parquet.tmp", "clarion.okta.events-1-5-6.parquet", "readme.txt"} {
		if _, _, _, ok := parquet.ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) ok", bad)
		}
	}
}

// TestLakeTriageAndResponse: triage runs land under
// lake/triage_runs/dt=<started day>, action versions and triaged alert
// versions carry the fields of issue 6, and alert updates on the events
// topic are skipped, neither stored nor dead-lettered.
func TestLakeTriageAndResponse(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 2)
	cl := bustest.Client(t, kc.Brokers)
	dir := t.TempDir()

	started := time.Date(2026, 5, 7, 23, 59, 58, 0, time.UTC)
	run := sinkstest.TriageRun("al-1", 2, "int1", "00uA", record.DispositionBenign, started)
	agent := run.Output
	agent.Disposition = record.DispositionFalsePositive
	run.Agent, run.Gate = &agent, "held for clarification"
	key := string(bus.KeyFor("int1", "00uA"))
	events := sinkstest.Events(t, "int1", 10)
	sinkstest.Produce(t, cl, events[:5]...)
	sinkstest.Produce(t, cl,
		sinkstest.UpdateRecord(t, "al-1", "int1", "00uA"),
		sinkstest.UpdateRecord(t, "al-1", "int1", "00uB"),
		sinkstest.JSONRecord(bus.TopicTriage, key, run),
		sinkstest.JSONRecord(bus.TopicAlerts, key, sinkstest.TriagedAlert("al-1", "int1", "00uA", 3, record.DispositionBenign, "llm", 0.82, started.Add(-time.Hour))),
		sinkstest.JSONRecord(bus.TopicActions, key, sinkstest.ActionVersion("al-1", "int1", "00uA", record.KindSuspendUser, record.ActionPending, 1, started)),
		sinkstest.JSONRecord(bus.TopicActions, key, sinkstest.ActionVersion("al-1", "int1", "00uA", record.KindSuspendUser, record.ActionSucceeded, 3, started)),
	)
	sinkstest.Produce(t, cl, events[5:]...)
	const updates = 2

	reg := prometheus.NewRegistry()
	start(t, parquet.Config{Brokers: kc.Brokers, DataDir: dir, FlushInterval: 100 * time.Millisecond, Registerer: reg, Logger: testLogger()})
	lake := filepath.Join(dir, "lake")
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return len(readTable[sinks.EventRow](t, lake, sinks.TableEvents)) == 10 &&
			len(readTable[sinks.TriageRunRow](t, lake, sinks.TableTriageRuns)) == 1 &&
			len(readTable[sinks.ActionRow](t, lake, sinks.TableActions)) == 2 &&
			len(readTable[sinks.AlertRow](t, lake, sinks.TableAlerts)) == 1 &&
			gathered(t, reg, "clarion_sink_records_ignored_total") == updates
	}, func() string {
		return fmt.Sprintf("events %d, ignored %v", len(readTable[sinks.EventRow](t, lake, sinks.TableEvents)), gathered(t, reg, "clarion_sink_records_ignored_total"))
	})
	if n := gathered(t, reg, "clarion_sink_dead_letters_total"); n != 0 {
		t.Errorf("%v dead letters", n)
	}
	for _, r := range readTable[sinks.EventRow](t, lake, sinks.TableEvents) {
		if r.UUID == "" || r.Source != bus.SourceHook {
			t.Errorf("event row %s from %q: an alert update stored?", r.UUID, r.Source)
		}
	}

	files, _ := filepath.Glob(filepath.Join(lake, sinks.TableTriageRuns, "dt=2026-05-07", bus.TopicTriage+"-*.parquet"))
	if len(files) != 1 {
		t.Fatalf("triage run files under dt=2026-05-07: %v", files)
	}
	tr := readTable[sinks.TriageRunRow](t, lake, sinks.TableTriageRuns)[0]
	if tr.ID != record.TriageRunID("al-1", 2) || tr.AlertVersion != 2 || tr.By != "llm" || tr.Disposition != record.DispositionBenign ||
		tr.AgentDisposition != record.DispositionFalsePositive || tr.DeterministicDisposition != record.DispositionSuspicious ||
		tr.Gate != run.Gate || len(tr.Evidence) != 2 || tr.Evidence[1] != run.Output.Evidence[1] || len(tr.RecommendedActions) != 0 ||
		tr.Steps != 2 || tr.ToolCalls != 2 || tr.PromptTokens != 1834 || tr.CompletionTokens != 211 ||
		!tr.Started.Equal(started) || !tr.Finished.Equal(started.Add(2500*time.Millisecond)) || !strings.Contains(tr.Raw, `"ip_reputation"`) {
		t.Errorf("triage run row %+v", tr)
	}
	al := readTable[sinks.AlertRow](t, lake, sinks.TableAlerts)[0]
	if al.Status != record.StatusClosed || al.DetectionSeverity != record.SeverityMedium || al.Confidence != 0.82 || al.TriagedBy != "llm" {
		t.Errorf("alert row %+v", al)
	}
	var last sinks.ActionRow
	for _, a := range readTable[sinks.ActionRow](t, lake, sinks.TableActions) {
		if a.Version > last.Version {
			last = a
		}
	}
	if last.State != record.ActionSucceeded || last.Mode != record.ModeApproval || last.RequestedBy != "triage" ||
		!last.ExpiresAt.Equal(started.Add(time.Hour)) || !last.ExecutedAt.Equal(started.Add(6*time.Minute)) || last.Attempts != 1 {
		t.Errorf("newest action row %+v", last)
	}
}

// gathered sums every sample of a counter or gauge.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.Metric {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return v
}
