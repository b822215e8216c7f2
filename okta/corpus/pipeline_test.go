package corpus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clarion-itdr/clarion/ingest/gateway"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/parquet"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

// refused says, independently of the gateway's scanner (encoding/json),
// whether Clarion must refuse the event: no actor object to key it by, or
// lowercased keys (a normalised export).
func refused(raw []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return true
	}
	var actor map[string]json.RawMessage
	if json.Unmarshal(m["actor"], &actor) != nil || actor == nil {
		return true
	}
	_, camel := m["eventType"]
	_, lower := m["eventtype"]
	return lower && !camel
}

// counterSum sums a counter family's values whose labels include want.
func counterSum(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			for k, v := range want {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func run(t *testing.T, name string, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", name, err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestCorpusThroughPipeline: every public event goes through the gateway
// (as event hook deliveries), the processor and both sinks. The events
// Clarion cannot key (no actor) or refuses (lowercased exports) are
// dead-lettered by the gateway with the reason, and cost the others
// nothing; every other event reaches clarion.okta.events byte for byte,
// parses, is consumed by the processor without a dead letter, and is
// stored by the Parquet sink and (with CLARION_TEST_CLICKHOUSE) the
// ClickHouse sink, with the fields real events carry.
func TestCorpusThroughPipeline(t *testing.T) {
	evs := load(t)
	log := slog.New(slog.DiscardHandler)
	c := bustest.New(t, 3)
	key, err := secrets.NewMasterKey(secrets.RandomBytes(secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store, err := integration.Open(ctx, c.Brokers, key, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	in, secret, err := store.Create(ctx, integration.CreateRequest{Name: "corpus", TenantURL: "https://corpus.okta.com", ClientID: "0oacorpus"}, false)
	if err != nil {
		t.Fatal(err)
	}
	greg := prometheus.NewRegistry()
	g, err := gateway.New(gateway.Config{Registry: store, Producer: bustest.Client(t, c.Brokers, bus.ProducerOpts(time.Millisecond)...), Registerer: greg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// Deliveries of 25 events, as Okta batches them.
	wantGood, wantBad := map[string][]byte{}, map[string]bool{}
	for _, e := range evs {
		if refused(e.Raw) {
			wantBad[e.UUID] = true
		} else {
			wantGood[e.UUID] = e.Raw
		}
	}
	accepted, dead := 0, 0
	for i := 0; i < len(evs); i += 25 {
		var body bytes.Buffer
		fmt.Fprintf(&body, `{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://corpus.okta.com/api/v1/eventHooks/who1","eventId":"corpus-%d","data":{"events":[`, i)
		for j, e := range evs[i:min(i+25, len(evs))] {
			if j > 0 {
				body.WriteByte(',')
			}
			body.Write(e.Raw)
		}
		body.WriteString("]}}")
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/okta/"+in.ID, &body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(in.AuthField, secret)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ans struct {
			Accepted     int `json:"accepted"`
			DeadLettered int `json:"dead_lettered"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &ans) != nil {
			t.Fatalf("delivery %d: %d %s", i/25, resp.StatusCode, b)
		}
		accepted += ans.Accepted
		dead += ans.DeadLettered
	}
	if accepted != len(wantGood) || dead != len(wantBad) {
		t.Fatalf("gateway accepted %d and dead-lettered %d, want %d and %d", accepted, dead, len(wantGood), len(wantBad))
	}
	t.Logf("%d corpus events: %d accepted, %d dead-lettered by the gateway", len(evs), accepted, dead)

	// clarion.okta.events: every good event, byte for byte, parseable.
	recs := bustest.ConsumeN(t, c.Brokers, bus.TopicEvents, accepted, 30*time.Second)
	for _, r := range recs {
		u := bus.Header(r, bus.HeaderUUID)
		if !bytes.Equal(r.Value, wantGood[u]) {
			t.Fatalf("event %s not stored byte for byte", u)
		}
		var ev logevent.Event
		if err := logevent.Parse(r.Value, &ev); err != nil {
			t.Fatalf("event %s: %v", u, err)
		}
	}
	// The dead letters: the refused events, with the gateway's reason.
	for _, r := range bustest.ConsumeN(t, c.Brokers, bus.TopicDeadLetter, dead, 30*time.Second) {
		if bus.Header(r, gateway.HeaderDLQSink) != "gateway" || bus.Header(r, gateway.HeaderDLQReason) == "" {
			t.Fatalf("dead letter headers %v", r.Headers)
		}
		var m map[string]any
		_ = json.Unmarshal(r.Value, &m)
		if u, _ := m["uuid"].(string); !wantBad[u] {
			t.Fatalf("dead letter %v is not one of the refused events", m["uuid"])
		}
	}

	start := time.Now()
	// The processor and the Parquet sink consume at once, each in its own
	// consumer group.
	preg := prometheus.NewRegistry()
	sig, err := record.DeriveSigner(key, record.SignerProcessor)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := record.DeriveVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := processor.New(processor.Config{Brokers: c.Brokers, TransactionalID: "corpus", Registerer: preg, Logger: warnLog(t), MaxPollRecords: 50, Signer: sig, Verifier: ver})
	if err != nil {
		t.Fatal(err)
	}
	run(t, "processor", p.Run)
	sreg := prometheus.NewRegistry()
	dir := t.TempDir()
	ps, err := parquet.New(parquet.Config{Brokers: c.Brokers, DataDir: dir, Topics: []string{bus.TopicEvents}, FlushInterval: 200 * time.Millisecond, Registerer: sreg, Logger: warnLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, "parquet sink", ps.Run)

	// The processor consumes every event without a dead letter.
	sinkstest.Eventually(t, 5*time.Minute, func() bool {
		return counterSum(t, preg, "clarion_processor_events_total", nil) >= float64(accepted)
	}, func() string {
		return fmt.Sprintf("processor consumed %v of %d events", counterSum(t, preg, "clarion_processor_events_total", nil), accepted)
	})
	if n := counterSum(t, preg, "clarion_processor_events_total", map[string]string{"result": "unparseable"}); n != 0 {
		t.Fatalf("processor dead-lettered %v corpus events", n)
	}

	t.Logf("processor done after %v", time.Since(start))
	// The Parquet sink stores every event, with the new fields.
	var rows []sinks.EventRow
	sinkstest.Eventually(t, 5*time.Minute, func() bool {
		rows = readLake(t, ps.Lake())
		return len(rows) >= accepted
	}, func() string { return fmt.Sprintf("lake has %d of %d events", len(rows), accepted) })
	if n := counterSum(t, sreg, "clarion_sink_dead_letters_total", nil); n != 0 {
		t.Fatalf("parquet sink dead-lettered %v events", n)
	}
	checkRows(t, "parquet", uuidsOf(rows), wantGood)
	var risk, root, dt int
	for _, r := range rows {
		if r.RiskLevel != "" {
			risk++
		}
		if r.RootSessionID != "" {
			root++
		}
		if r.DTHash != "" {
			dt++
		}
	}
	if risk == 0 || root == 0 || dt == 0 {
		t.Fatalf("lake rows: risk_level %d, root_session_id %d, dt_hash %d: new columns empty", risk, root, dt)
	}

	t.Logf("parquet done after %v", time.Since(start))
	t.Run("clickhouse", func(t *testing.T) {
		addr := schemastest.Addr(t)
		conn := schemastest.Open(t, addr)
		db := schemastest.TempDB(t, conn)
		creg := prometheus.NewRegistry()
		cs, err := clickhouse.New(clickhouse.Config{Brokers: c.Brokers, Addr: addr, Database: db, Topics: []string{bus.TopicEvents}, FlushInterval: 200 * time.Millisecond, Registerer: creg, Logger: warnLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		run(t, "clickhouse sink", cs.Run)
		var n uint64
		sinkstest.Eventually(t, 5*time.Minute, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".okta_events").Scan(&n)
			return err == nil && n >= uint64(accepted)
		}, func() string { return fmt.Sprintf("ClickHouse has %d of %d events", n, accepted) })
		if n := counterSum(t, creg, "clarion_sink_dead_letters_total", nil); n != 0 {
			t.Fatalf("clickhouse sink dead-lettered %v events", n)
		}
		qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer qcancel()
		qr, err := conn.Query(qctx, "SELECT uuid FROM "+db+".okta_events")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for qr.Next() {
			var u string
			if err := qr.Scan(&u); err != nil {
				t.Fatal(err)
			}
			got = append(got, u)
		}
		qr.Close()
		checkRows(t, "clickhouse", got, wantGood)
		if n := schemastest.Count(t, conn, "SELECT count() FROM "+db+".okta_events WHERE risk_level != '' AND root_session_id != '' OR dt_hash != ''"); n == 0 {
			t.Fatal("ClickHouse rows carry none of the new columns")
		}
	})
}

// warnLog sends a component's warnings and errors to the test log.
func warnLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(b)))
	return len(b), nil
}

func readLake(t *testing.T, lake string) []sinks.EventRow {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(lake, sinks.TableEvents, "dt=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var out []sinks.EventRow
	for _, f := range files {
		rows, err := pq.ReadFile[sinks.EventRow](f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		out = append(out, rows...)
	}
	return out
}

func uuidsOf(rows []sinks.EventRow) []string {
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].UUID
	}
	return out
}

// checkRows: a sink stored exactly the good events, once each.
func checkRows(t *testing.T, sink string, got []string, want map[string][]byte) {
	t.Helper()
	sort.Strings(got)
	if len(got) != len(want) {
		t.Fatalf("%s stored %d rows, want %d", sink, len(got), len(want))
	}
	for i, u := range got {
		if _, ok := want[u]; !ok || (i > 0 && got[i-1] == u) {
			t.Fatalf("%s row uuid %q: not a good corpus event, or stored twice", sink, u)
		}
	}
}
