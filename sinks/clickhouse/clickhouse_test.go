package clickhouse_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startSink runs a sink until the test ends.
func startSink(t *testing.T, cfg clickhouse.Config) {
	t.Helper()
	s, err := clickhouse.New(cfg)
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
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestEndToEnd runs the sink over the plain native protocol and over TLS
// (the secure port .ci/clickhouse.sh configures: server certificate checked
// against its CA, and once with a client certificate).
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		addr := schemastest.Addr(t)
		testEndToEnd(t, addr, addr, clickhouse.TLS{})
	})
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		tlsAddr, dir := schemastest.TLSAddr(t)
		testEndToEnd(t, schemastest.Addr(t), tlsAddr, clickhouse.TLS{CAFile: filepath.Join(dir, "ca.crt")})
	})
	t.Run("tls-client-cert", func(t *testing.T) {
		t.Parallel()
		tlsAddr, dir := schemastest.TLSAddr(t)
		testEndToEnd(t, schemastest.Addr(t), tlsAddr, clickhouse.TLS{Enabled: true, CAFile: filepath.Join(dir, "ca.crt"),
			CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key")})
	})
}

// testEndToEnd checks through a plain admin connection to addr what a sink
// connected to sinkAddr with tlsCfg stored.
func testEndToEnd(t *testing.T, addr, sinkAddr string, tlsCfg clickhouse.TLS) {
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	kc := bustest.New(t, 3)
	cl := bustest.Client(t, kc.Brokers)

	events := sinkstest.Events(t, "int1", 300)
	sinkstest.Produce(t, cl, events...)
	// The poller repairs a gap: the first 100 events arrive again.
	for _, r := range events[:100] {
		sinkstest.Produce(t, cl, sinkstest.Repoll(r))
	}
	an := sinkstest.Anomaly("an-1", "impossible_travel", "int1", "00uA", time.Now())
	sinkstest.Produce(t, cl,
		sinkstest.JSONRecord(bus.TopicAnomalies, "int1/00uA", an),
		sinkstest.JSONRecord(bus.TopicAnomalies, "int1/00uA", an), // retried
		sinkstest.JSONRecord(bus.TopicAlerts, "int1/00uA", sinkstest.Alert("al-1", "int1", "00uA", "New", 1, "an-1")),
		sinkstest.JSONRecord(bus.TopicAlerts, "int1/00uA", sinkstest.Alert("al-1", "int1", "00uA", "Escalated", 2, "an-1")),
		sinkstest.JSONRecord(bus.TopicActions, "int1/00uA", sinkstest.Action("al-1/suspend_user", "al-1", "int1", "00uA", "pending_approval", 1)),
		sinkstest.JSONRecord(bus.TopicActions, "int1/00uA", sinkstest.Action("al-1/suspend_user", "al-1", "int1", "00uA", "executed", 2)),
	)

	startSink(t, clickhouse.Config{Brokers: kc.Brokers, Addr: sinkAddr, TLS: tlsCfg, Database: db, Group: "g-e2e",
		FlushInterval: 100 * time.Millisecond, Logger: testLogger(t)})

	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return tableExists(t, conn, db, "actions") && count(t, conn, "SELECT count() FROM "+db+".actions") == 2 &&
			count(t, conn, "SELECT count() FROM "+db+".okta_events") >= 400
	}, func() string { return "rows did not arrive" })

	if n := count(t, conn, "SELECT count() FROM "+db+".okta_events FINAL"); n != 300 {
		t.Errorf("okta_events FINAL has %d rows, want 300 unique events", n)
	}
	if n := count(t, conn, "SELECT uniqExact(uuid) FROM "+db+".okta_events"); n != 300 {
		t.Errorf("okta_events has %d distinct uuids, want 300", n)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".anomalies FINAL"); n != 1 {
		t.Errorf("anomalies FINAL has %d rows, want 1", n)
	}
	var status string
	var version uint64
	if err := conn.QueryRow(context.Background(), "SELECT status, version FROM "+db+".alerts FINAL WHERE id = 'al-1'").Scan(&status, &version); err != nil {
		t.Fatal(err)
	}
	if status != "Escalated" || version != 2 {
		t.Errorf("alert FINAL = %s v%d, want Escalated v2", status, version)
	}
	var state string
	if err := conn.QueryRow(context.Background(), "SELECT state FROM "+db+".actions FINAL").Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "executed" {
		t.Errorf("action FINAL state %q, want executed", state)
	}

	// Typed columns of the Okta docs sample.
	var city, country, login, outcome, source, integ, ip string
	var h3 uint64
	var lat float64
	var published time.Time
	err := conn.QueryRow(context.Background(), "SELECT city, country, actor_login, outcome, source, integration_id, toString(ip), h3, lat, published FROM "+db+
		".okta_events FINAL WHERE city = 'Toronto' LIMIT 1").Scan(&city, &country, &login, &outcome, &source, &integ, &ip, &h3, &lat, &published)
	if err != nil {
		t.Fatal(err)
	}
	if country != "Canada" || outcome != "SUCCESS" || integ != "int1" || ip != "142.126.158.61" || h3 == 0 || lat == 0 || published.Year() != 2023 || login == "" {
		t.Errorf("Toronto row: country=%q outcome=%q integ=%q ip=%q h3=%x lat=%v published=%v login=%q", country, outcome, integ, ip, h3, lat, published, login)
	}
	// A failed sign-in by an unknown actor is keyed by its login.
	if n := count(t, conn, "SELECT count() FROM "+db+".okta_events FINAL WHERE outcome = 'FAILURE' AND actor_id = 'unknown' AND user_key = actor_login"); n == 0 {
		t.Error("no FAILURE row keyed by actor login")
	}
}

func TestClickHouseOutage(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	kc := bustest.New(t, 3)
	cl := bustest.Client(t, kc.Brokers)
	px := newProxy(t, addr)
	reg := prometheus.NewRegistry()

	startSink(t, clickhouse.Config{Brokers: kc.Brokers, Addr: px.addr, Database: db, Group: "g-outage",
		BatchSize: 50, FlushInterval: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Registerer: reg, Logger: testLogger(t)})

	first := sinkstest.Events(t, "int1", 200)
	sinkstest.Produce(t, cl, first...)
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return tableExists(t, conn, db, "okta_events") && count(t, conn, "SELECT count() FROM "+db+".okta_events") >= 200
	}, func() string { return "first events did not arrive" })

	// ClickHouse goes away mid-stream.
	px.Down()
	second := sinkstest.Events(t, "int1", 300)
	sinkstest.Produce(t, cl, second[:150]...)
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return metricValue(t, reg, "clarion_sink_write_errors_total") >= 2
	}, func() string { return "sink never failed a write while ClickHouse was down" })
	sinkstest.Produce(t, cl, second[150:]...)
	for _, r := range second[:20] {
		sinkstest.Produce(t, cl, sinkstest.Repoll(r))
	}
	px.Up()

	sinkstest.Eventually(t, 90*time.Second, func() bool {
		return count(t, conn, "SELECT uniqExact(uuid) FROM "+db+".okta_events") >= 500
	}, func() string {
		return fmt.Sprintf("after the outage %d of 500 events", count(t, conn, "SELECT uniqExact(uuid) FROM "+db+".okta_events"))
	})
	if n := count(t, conn, "SELECT count() FROM "+db+".okta_events FINAL"); n != 500 {
		t.Errorf("okta_events FINAL has %d rows, want 500 unique events", n)
	}
	// Every event sent is there, by uuid (duplicates may already have been
	// merged away, so offsets can have gaps).
	want := map[string]bool{}
	for _, r := range append(first, second...) {
		want[bus.Header(r, bus.HeaderUUID)] = true
	}
	rows, err := conn.Query(context.Background(), "SELECT DISTINCT uuid FROM "+db+".okta_events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		if !want[u] {
			t.Errorf("unexpected uuid %s", u)
		}
		delete(want, u)
	}
	if len(want) != 0 {
		t.Errorf("%d events lost", len(want))
	}
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	kc := bustest.New(t, 1)
	cl := bustest.Client(t, kc.Brokers)

	good := sinkstest.Events(t, "int1", 3)
	noUUID := sinkstest.EventRecord([]byte(`{"eventType":"user.session.start","published":"2024-01-01T00:00:00.000Z"}`), "int1", bus.SourceHook, time.Now())
	sinkstest.Produce(t, cl,
		good[0],
		&kgo.Record{Topic: bus.TopicEvents, Key: []byte("int1/x"), Value: []byte(`{"uuid":"abc", "published": `)},
		noUUID,
		good[1],
		&kgo.Record{Topic: bus.TopicAnomalies, Key: []byte("int1/x"), Value: []byte(`{"type":"unusual_time"}`)},
		&kgo.Record{Topic: bus.TopicAlerts, Key: []byte("int1/x"), Value: []byte(`[1,2]`)},
		good[2],
	)
	startSink(t, clickhouse.Config{Brokers: kc.Brokers, Addr: addr, Database: db, Group: "g-dlq",
		FlushInterval: 50 * time.Millisecond, Logger: testLogger(t)})

	dl := bustest.ConsumeN(t, kc.Brokers, bus.TopicDeadLetter, 4, 60*time.Second)
	reasons := map[string]string{}
	for _, r := range dl {
		reasons[bus.Header(r, sinks.HeaderDLQTopic)+"@"+bus.Header(r, sinks.HeaderDLQOffset)] = bus.Header(r, sinks.HeaderDLQReason)
		if bus.Header(r, sinks.HeaderDLQSink) != "clickhouse" {
			t.Errorf("dead letter without sink header: %v", r.Headers)
		}
	}
	want := map[string]string{
		bus.TopicEvents + "@1":    sinks.ErrInvalidJSON.Error(),
		bus.TopicEvents + "@2":    sinks.ErrNoUUID.Error(),
		bus.TopicAnomalies + "@0": sinks.ErrNoID.Error(),
		bus.TopicAlerts + "@0":    sinks.ErrNotObject.Error(),
	}
	for k, v := range want {
		if !strings.HasPrefix(reasons[k], v) {
			t.Errorf("dead letter %s: reason %q, want %q (all: %v)", k, reasons[k], v, reasons)
		}
	}
	sinkstest.Eventually(t, 30*time.Second, func() bool {
		return tableExists(t, conn, db, "okta_events") && count(t, conn, "SELECT count() FROM "+db+".okta_events") == 3
	}, func() string { return "the good events behind the bad ones did not arrive" })
}

// metricValue returns the summed value of a gathered counter or gauge.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v
}

func tableExists(t *testing.T, conn driver.Conn, db, table string) bool {
	return schemastest.Count(t, conn, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = '"+table+"'") == 1
}

func count(t *testing.T, conn driver.Conn, q string) uint64 { return schemastest.Count(t, conn, q) }

// TestStartsBeforeClickHouse: a sink started while ClickHouse is down waits
// for it, then migrates and stores everything.
func TestStartsBeforeClickHouse(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	kc := bustest.New(t, 2)
	cl := bustest.Client(t, kc.Brokers)
	px := newProxy(t, addr)
	px.Down()
	sinkstest.Produce(t, cl, sinkstest.Events(t, "int1", 50)...)
	startSink(t, clickhouse.Config{Brokers: kc.Brokers, Addr: px.addr, Database: db, Group: "g-late",
		FlushInterval: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: testLogger(t)})
	time.Sleep(300 * time.Millisecond) // let it fail a few times (not a timing assertion)
	if tableExists(t, conn, db, "okta_events") {
		t.Fatal("schema created while ClickHouse was unreachable?")
	}
	px.Up()
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return tableExists(t, conn, db, "okta_events") && count(t, conn, "SELECT count() FROM "+db+".okta_events") == 50
	}, func() string { return "events did not arrive after ClickHouse came up" })
}

// TestRestart stops the sink mid-stream and starts a new one in the same
// group: every event is stored, and FINAL shows each once.
func TestRestart(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	kc := bustest.New(t, 3)
	cl := bustest.Client(t, kc.Brokers)
	cfg := clickhouse.Config{Brokers: kc.Brokers, Addr: addr, Database: db, Group: "g-restart",
		BatchSize: 40, FlushInterval: 20 * time.Millisecond, Logger: testLogger(t)}

	first := sinkstest.Events(t, "int1", 300)
	sinkstest.Produce(t, cl, first...)
	s, err := clickhouse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return tableExists(t, conn, db, "okta_events") && count(t, conn, "SELECT count() FROM "+db+".okta_events") > 0
	}, func() string { return "nothing stored" })
	cancel() // mid-stream: some batches stored, maybe not committed
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	second := sinkstest.Events(t, "int1", 100)
	sinkstest.Produce(t, cl, second...)
	startSink(t, cfg)
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return count(t, conn, "SELECT uniqExact(uuid) FROM "+db+".okta_events") == 400
	}, func() string {
		return fmt.Sprintf("%d of 400 events", count(t, conn, "SELECT uniqExact(uuid) FROM "+db+".okta_events"))
	})
	if n := count(t, conn, "SELECT count() FROM "+db+".okta_events FINAL"); n != 400 {
		t.Errorf("FINAL has %d rows, want 400", n)
	}
}

// TestTLSRefusals: the sink's TLS checks the server, and the server checks
// a client certificate that is presented. A connection is refused when the
// server's certificate is not from the configured CA, when the client's is
// from a CA the server does not trust, and the sink stops at New on files
// that are missing or not a pair.
func TestTLSRefusals(t *testing.T) {
	t.Parallel()
	tlsAddr, dir := schemastest.TLSAddr(t)
	f := func(n string) string { return filepath.Join(dir, n) }
	for _, c := range []struct {
		name string
		tls  clickhouse.TLS
		want string
	}{
		{"server not from this CA", clickhouse.TLS{CAFile: f("rogue-ca.crt")}, "certificate"},
		{"system roots only", clickhouse.TLS{Enabled: true}, "certificate"},
		{"client cert from an untrusted CA", clickhouse.TLS{CAFile: f("ca.crt"), CertFile: f("rogue.crt"), KeyFile: f("rogue.key")}, ""},
		{"wrong server name", clickhouse.TLS{CAFile: f("ca.crt"), ServerName: "clickhouse.example.com"}, "certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conf, err := c.tls.Config(tlsAddr)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := ch.Open(&ch.Options{Addr: []string{tlsAddr}, TLS: conf, DialTimeout: 5 * time.Second})
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = conn.Ping(ctx)
				cancel()
				_ = conn.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("connection: %v, want a refusal (%q)", err, c.want)
			}
			t.Logf("refused: %v", err)
		})
	}
	for _, c := range []clickhouse.TLS{
		{CAFile: f("missing.crt")},
		{CAFile: f("server.key")},
		{CertFile: f("client.crt")},
		{CertFile: f("client.crt"), KeyFile: f("rogue.key")},
	} {
		if _, err := clickhouse.New(clickhouse.Config{Brokers: []string{"127.0.0.1:1"}, Addr: tlsAddr, TLS: c}); err == nil {
			t.Errorf("New accepted TLS %+v", c)
		}
	}
}
