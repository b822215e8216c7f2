// Command sinks measures Clarion's sinks and, in the same run, ClickHouse's
// own insert ceiling for the same rows.
//
//	go run ./bench/sinks -clickhouse 127.0.0.1:9000 -events 200000
//
// It starts an in-process Kafka (kfake), produces -events raw Okta LogEvents
// (the shared samples, each with a fresh uuid, with the gateway's headers),
// and then measures, one after the other:
//
//   - clickhouse sink: Kafka → sinks/clickhouse → okta_events, from Run to
//     the last row durable (consume, decode, H3, insert);
//   - decode only: sinks.DecodeEvent on the same records, no I/O;
//   - ceiling: the same rows as JSONEachRow piped to clickhouse-client
//     (INSERT INTO a copy of okta_events FORMAT JSONEachRow), the server's
//     own rate for these rows;
//   - parquet sink: Kafka → sinks/parquet → lake, rows/s and bytes per event.
//
// Everything runs in a throw-away database clarion_bench_<pid>, dropped at
// the end. Figures on a shared machine are noisy: compare within one run.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/schemas"
	"github.com/clarion-itdr/clarion/sinks"
	chsink "github.com/clarion-itdr/clarion/sinks/clickhouse"
	pqsink "github.com/clarion-itdr/clarion/sinks/parquet"
)

func main() {
	addr := flag.String("clickhouse", envOr("CLARION_TEST_CLICKHOUSE", "127.0.0.1:9000"), "ClickHouse native address")
	n := flag.Int("events", 200_000, "events to send")
	samples := flag.String("samples", "okta/logevent/testdata/samples", "directory of Okta sample events")
	batch := flag.Int("batch", 50_000, "sink batch size")
	partitions := flag.Int("partitions", 6, "Kafka partitions")
	skipParquet := flag.Bool("skip-parquet", false, "skip the Parquet measurement")
	concurrency := flag.Int("insert-concurrency", 0, "clickhouse.Config.InsertConcurrency (0: default)")
	compression := flag.String("compression", "", "clickhouse.Config.Compression (empty: default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	log.SetFlags(0)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	chOpts := func(c *chsink.Config) { c.InsertConcurrency, c.Compression = *concurrency, *compression }
	if err := run(*addr, *samples, *n, *batch, int32(*partitions), *skipParquet, chOpts); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func run(addr, samplesDir string, n, batch int, partitions int32, skipParquet bool, chOpts func(*chsink.Config)) error {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	raws, err := loadSamples(samplesDir)
	if err != nil {
		return err
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(int(partitions)))
	if err != nil {
		return err
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	cl, err := bus.NewClient(brokers, quiet, bus.ProducerOpts(5*time.Millisecond)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := bus.EnsureTopics(ctx, cl, bus.Topics(partitions)); err != nil {
		return err
	}
	log.Printf("producing %d events to %d partitions ...", n, partitions)
	recs := make([]*kgo.Record, n)
	var rawBytes int64
	now := time.Now().UTC().Truncate(time.Hour)
	for i := range recs {
		raw := withUUID(raws[i%len(raws)], fmt.Sprintf("bench%08d-0000-4000-8000-%012d", i, time.Now().UnixNano()%1e12))
		// Live traffic: sign-ins from the last hours (one monthly partition),
		// not the samples' own years-apart dates.
		raw = withPublished(raw, now.Add(-time.Duration(n-i)*50*time.Millisecond))
		rawBytes += int64(len(raw))
		var ev logevent.Event
		_ = logevent.Parse(raw, &ev)
		recs[i] = &kgo.Record{Topic: bus.TopicEvents, Key: bus.KeyFor("bench", fmt.Sprintf("%s-%d", ev.UserKey(), i%5000)), Value: raw,
			Headers: []kgo.RecordHeader{
				{Key: bus.HeaderIntegrationID, Value: []byte("bench")}, {Key: bus.HeaderSource, Value: []byte(bus.SourceHook)},
				{Key: bus.HeaderReceivedAt, Value: []byte(bus.FormatTime(now))}, {Key: bus.HeaderUUID, Value: []byte(ev.UUID)},
			}}
	}
	for i := 0; i < n; i += 10_000 {
		if err := cl.ProduceSync(ctx, recs[i:min(i+10_000, n)]...).FirstErr(); err != nil {
			return err
		}
	}
	log.Printf("average raw event: %d bytes", rawBytes/int64(n))

	db := fmt.Sprintf("clarion_bench_%d", os.Getpid())
	conn, err := ch.Open(&ch.Options{Addr: []string{addr}, Auth: ch.Auth{Database: "default"}})
	if err != nil {
		return err
	}
	defer conn.Close()
	defer func() { _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) }()
	mres, err := schemas.Migrate(ctx, conn, schemas.Options{Database: db})
	if err != nil {
		return err
	}

	type result struct {
		name, rate, note string
	}
	var results []result

	// The server's ceiling is measured before and after the sink (the sink's
	// parts merge in the background meanwhile); the mean is the reference.
	ceilBefore, err := ceiling(ctx, conn, addr, db, "okta_events_ceiling1", recs)
	if err != nil {
		return err
	}

	// 1. ClickHouse sink, Kafka to table.
	reg := prometheus.NewRegistry()
	chCfg := chsink.Config{Brokers: brokers, Addr: addr, Database: db, Group: "bench-ch",
		Topics: []string{bus.TopicEvents}, BatchSize: batch, FlushInterval: time.Second, Logger: quiet, Registerer: reg}
	chOpts(&chCfg)
	s, err := chsink.New(chCfg)
	if err != nil {
		return err
	}
	chRate, err := timeSink(ctx, s.Run, reg, n)
	if err != nil {
		return err
	}
	results = append(results, result{"clickhouse sink (Kafka → okta_events)", fmt.Sprintf("%.0f", chRate),
		fmt.Sprintf("batch %d, server %s; %.1f s of %.1f s in inserts", batch, mres.Server, flushSeconds(reg), float64(n)/chRate)})

	// 2. Decode only.
	start := time.Now()
	var ev logevent.Event
	var row sinks.EventRow
	for _, r := range recs {
		if err := sinks.DecodeEvent(r, &ev, &row); err != nil {
			return err
		}
	}
	decodeRate := float64(n) / time.Since(start).Seconds()
	results = append(results, result{"decode only (parse + H3, no I/O)", fmt.Sprintf("%.0f", decodeRate), "one core"})

	// 3. Ceiling: clickhouse-client JSONEachRow of the same rows.
	ceilAfter, err := ceiling(ctx, conn, addr, db, "okta_events_ceiling2", recs)
	if err != nil {
		return err
	}
	ceilRate := (ceilBefore + ceilAfter) / 2
	results = append(results, result{"ceiling: clickhouse-client JSONEachRow", fmt.Sprintf("%.0f", ceilRate),
		fmt.Sprintf("same rows, same schema; mean of %.0f before and %.0f after the sink", ceilBefore, ceilAfter)})
	results = append(results, result{"sink / ceiling", fmt.Sprintf("%.0f%%", 100*chRate/ceilRate), "target ≥ 50%"})

	// 4. Parquet sink.
	if !skipParquet {
		dir, err := os.MkdirTemp("", "clarion-bench-lake")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		preg := prometheus.NewRegistry()
		ps, err := pqsink.New(pqsink.Config{Brokers: brokers, DataDir: dir, Group: "bench-pq",
			Topics: []string{bus.TopicEvents}, BatchSize: 100_000, FlushInterval: time.Second, Logger: quiet, Registerer: preg})
		if err != nil {
			return err
		}
		pqRate, err := timeSink(ctx, ps.Run, preg, n)
		if err != nil {
			return err
		}
		var size int64
		_ = filepath.WalkDir(ps.Lake(), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
				if st, err := d.Info(); err == nil {
					size += st.Size()
				}
			}
			return nil
		})
		results = append(results, result{"parquet sink (Kafka → lake, zstd)", fmt.Sprintf("%.0f", pqRate),
			fmt.Sprintf("%.0f bytes/event on disk (raw JSON %d)", float64(size)/float64(n), rawBytes/int64(n))})
	}

	fmt.Printf("\n%d events\n\n| measurement | rows/s | note |\n|---|---:|---|\n", n)
	for _, r := range results {
		fmt.Printf("| %s | %s | %s |\n", r.name, r.rate, r.note)
	}
	return nil
}

// timeSink runs a sink until its rows_written counter reaches n and returns
// rows per second from start.
func timeSink(ctx context.Context, run func(context.Context) error, reg *prometheus.Registry, n int) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- run(ctx) }()
	deadline := time.After(10 * time.Minute)
	for {
		if rowsWritten(reg) >= float64(n) {
			el := time.Since(start)
			cancel()
			<-errc
			return float64(n) / el.Seconds(), nil
		}
		select {
		case err := <-errc:
			return 0, fmt.Errorf("sink stopped: %v", err)
		case <-deadline:
			return 0, fmt.Errorf("sink wrote %.0f of %d rows in 10 minutes", rowsWritten(reg), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func flushSeconds(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "clarion_sink_flush_duration_seconds" {
			for _, m := range mf.Metric {
				return m.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0
}

func rowsWritten(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "clarion_sink_rows_written_total" {
			for _, m := range mf.Metric {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// ceiling writes the rows as JSONEachRow and times clickhouse-client
// inserting them into table, a copy of okta_events.
func ceiling(ctx context.Context, conn ch.Conn, addr, db, table string, recs []*kgo.Record) (float64, error) {
	if err := conn.Exec(ctx, "CREATE TABLE "+db+"."+table+" AS "+db+".okta_events"); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp("", "clarion-bench-*.jsonl")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	var ev logevent.Event
	var r sinks.EventRow
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	for _, rec := range recs {
		if err := sinks.DecodeEvent(rec, &ev, &r); err != nil {
			return 0, err
		}
		if err := enc.Encode(map[string]any{
			"uuid": r.UUID, "published": ts(r.Published), "received_at": ts(r.ReceivedAt), "event_type": r.EventType,
			"severity": r.Severity, "display_message": r.DisplayMessage, "outcome": r.Outcome, "outcome_reason": r.OutcomeReason,
			"actor_id": r.ActorID, "actor_login": r.ActorLogin, "actor_name": r.ActorName, "user_key": r.UserKey, "ip": r.IP,
			"city": r.City, "state": r.State, "country": r.Country, "postal_code": r.PostalCode, "lat": r.Lat, "lon": r.Lon,
			"h3": uint64(r.H3), "asn": r.ASN, "as_org": r.ASOrg, "isp": r.ISP, "domain": r.Domain, "is_proxy": b2i(r.IsProxy),
			"user_agent": r.UserAgent, "browser": r.Browser, "os": r.OS, "device": r.Device, "device_fingerprint": r.DeviceFingerprint,
			"threat_suspected": b2i(r.ThreatSuspected), "behaviors": r.Behaviors, "risk": r.Risk, "session_id": r.SessionID,
			"integration_id": r.IntegrationID, "source": r.Source, "raw": r.Raw, "kafka_partition": r.KafkaPartition, "kafka_offset": r.KafkaOffset,
		}); err != nil {
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return 0, err
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.CommandContext(ctx, "clickhouse-client", "--host", host, "--port", port,
		"--query", "INSERT INTO "+db+"."+table+" FORMAT JSONEachRow")
	cmd.Stdin = f
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("clickhouse-client: %w", err)
	}
	return float64(len(recs)) / time.Since(start).Seconds(), nil
}

func loadSamples(dir string) ([][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no samples in %s (use -samples)", dir)
	}
	var out [][]byte
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		evs := []string{string(b)}
		if e := gjson.GetBytes(b, "data.events"); e.IsArray() {
			evs = nil
			for _, v := range e.Array() {
				evs = append(evs, v.Raw)
			}
		}
		for _, e := range evs {
			u := gjson.Get(e, "uuid").String()
			if u != "" && !seen[u] {
				seen[u] = true
				out = append(out, []byte(e))
			}
		}
	}
	return out, nil
}

func withPublished(raw []byte, t time.Time) []byte {
	old := gjson.GetBytes(raw, "published")
	if old.Type != gjson.String {
		return raw
	}
	return []byte(strings.Replace(string(raw), old.Raw, `"`+bus.FormatTime(t)+`"`, 1))
}

func withUUID(raw []byte, uuid string) []byte {
	old := gjson.GetBytes(raw, "uuid").String()
	return []byte(strings.Replace(string(raw), `"`+old+`"`, `"`+uuid+`"`, 1))
}
