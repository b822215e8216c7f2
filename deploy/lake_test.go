package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/parquet"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

// TestLakeEngines has the Parquet sink write a lake from the engine
// fixture, then reads it with current ClickHouse (chdb, file() over the
// lake's globs) and with DuckDB: every table's row count must be what the
// Go side decoded and wrote, on both; the README's lake queries run on the
// engine they are written for, each against its translation on the other
// engine, with the same results.
func TestLakeEngines(t *testing.T) {
	t.Parallel()
	c := schemastest.OpenChdb(t)
	if _, err := c.DuckDB("SELECT 1"); err != nil {
		t.Fatalf("duckdb (installed with chdb by .ci/chdb.sh): %v", err)
	}
	kc := bustest.New(t, 2)
	cl := bustest.Client(t, kc.Brokers)
	recs := engineFixture(t, time.Now())
	sinkstest.Produce(t, cl, recs...)
	b := batchOf(t, recs)
	dir := t.TempDir()
	s, err := parquet.New(parquet.Config{Brokers: kc.Brokers, DataDir: dir, FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	lake := s.Lake()

	want := map[string]int{
		sinks.TableEvents: len(b.Events), sinks.TableAnomalies: len(b.Anomalies), sinks.TableAlerts: len(b.Alerts),
		sinks.TableActions: len(b.Actions), sinks.TableTriageRuns: len(b.TriageRuns),
	}
	chCount := func(table string) (uint64, error) {
		out, err := c.Query("SELECT count() FROM file('"+filepath.Join(lake, table)+"/**/*.parquet', Parquet)", "TSV")
		if err != nil {
			return 0, err
		}
		var n uint64
		_, err = fmt.Sscan(out, &n)
		return n, err
	}
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		for table, n := range want {
			if got, err := chCount(table); err != nil || got != uint64(n) {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("the lake did not get %v", want) })

	for table, n := range want {
		out, err := c.DuckDB("SELECT count(*) FROM read_parquet('" + filepath.Join(lake, table) + "/**/*.parquet', hive_partitioning = true, union_by_name = true)")
		if err != nil {
			t.Fatalf("duckdb %s: %v", table, err)
		}
		var rows [][]int
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0][0] != n {
			t.Errorf("duckdb %s: %s (%v), want %d rows as written", table, out, err, n)
		}
	}
	distinct := map[string]bool{}
	for _, e := range b.Events {
		distinct[e.UUID] = true
	}
	out, err := c.Query("SELECT uniqExact(uuid) FROM file('"+lake+"/okta_events/**/*.parquet')", "TSV")
	if err != nil || strings.TrimSpace(out) != fmt.Sprint(len(distinct)) {
		t.Errorf("chdb distinct uuids in the lake: %q %v, want %d", out, err, len(distinct))
	}

	// The README's lake queries, and each one's translation for the other engine.
	var duck, chq []readmeQuery
	for _, q := range readmeQueries(t, "../README.md") {
		switch {
		case q.duck:
			duck = append(duck, q)
		case q.lake:
			chq = append(chq, q)
		}
	}
	if len(duck) == 0 || len(chq) == 0 {
		t.Fatalf("README lake queries: %d DuckDB, %d ClickHouse", len(duck), len(chq))
	}
	inLake := func(sql string) string { return strings.ReplaceAll(sql, "data/lake", lake) }
	pairs := []struct{ duck, ch string }{
		{inLake(duck[0].sql), `SELECT actor_login, uniqExact(uuid) AS signins, uniqExactIf(uuid, outcome = 'FAILURE') AS failures,
       groupUniqArray(country) AS countries
FROM file('` + lake + `/okta_events/dt=*/*.parquet', Parquet)
WHERE event_type = 'user.session.start' AND dt >= '2026-11-28'
GROUP BY actor_login`},
		{`SELECT country, count(DISTINCT uuid) AS signins
FROM read_parquet('` + lake + `/okta_events/dt=*/*.parquet', hive_partitioning = true)
WHERE event_type = 'user.session.start'
GROUP BY country`, inLake(chq[0].sql)},
	}
	for i, p := range pairs {
		d, err := c.DuckDB(stripLimit(strings.TrimSuffix(strings.TrimSpace(p.duck), ";")))
		if err != nil {
			t.Fatalf("pair %d, DuckDB: %v\n%s", i, err, p.duck)
		}
		var drows [][]any
		dec := json.NewDecoder(strings.NewReader(d))
		dec.UseNumber()
		if err := dec.Decode(&drows); err != nil {
			t.Fatal(err)
		}
		crows, err := chdbRows(c, stripLimit(p.ch))
		if err != nil {
			t.Fatalf("pair %d, chdb: %v\n%s", i, err, p.ch)
		}
		nd, nc := normRows(drows, true), normRows(crows, true)
		if len(nd) == 0 || strings.Join(nd, "\n") != strings.Join(nc, "\n") {
			t.Errorf("pair %d: DuckDB and ClickHouse differ over the lake\nDuckDB:\n  %s\n%s:\n  %s\n--\n%s\n--\n%s",
				i, strings.Join(nd, "\n  "), c.Version, strings.Join(nc, "\n  "), p.duck, p.ch)
			continue
		}
		t.Logf("lake query pair %d: %d rows, the same on DuckDB and %s", i, len(nd), c.Version)
	}
	t.Logf("lake rows per table (Go wrote = chdb = DuckDB): %v", want)
}
