package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/schemas"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

// The integrations the README's queries name.
const (
	readmeIntegration = "a27CkvKKUNBz8c9oajTEqQ"
	readmeRepolled    = "cFt9wT8JIXKBZrzMePD2GQ"
	readmeUser        = "laura.kim2@example.com"
)

// engineFixture is one record of every kind the sinks store, shaped so the
// README's and dashboards' queries all find rows: sign-ins in the last
// hours (and the samples' own dates), one user the README names, hook and
// poll copies of the same events, anomalies on stored events, alert and
// action versions, triage runs.
func engineFixture(t *testing.T, now time.Time) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for i, r := range sinkstest.Events(t, readmeIntegration, 40) {
		if i%2 == 0 {
			// Half-hour offsets: never on the edge of a "last N days" window.
			published := now.Add(-time.Duration(i)*time.Hour - 30*time.Minute)
			r.Value = []byte(strings.Replace(string(r.Value), `"published"`, `"published_orig"`, 1))
			r.Value = append([]byte(`{"published":"`+bus.FormatTime(published)+`",`), r.Value[1:]...)
		}
		if i%10 == 4 {
			if login := gjson.GetBytes(r.Value, "actor.alternateId").String(); login != "" {
				r.Value = bytes.ReplaceAll(r.Value, []byte(`"`+login+`"`), []byte(`"`+readmeUser+`"`))
			}
		}
		recs = append(recs, r)
	}
	repolled := sinkstest.Events(t, readmeRepolled, 6)
	recs = append(recs, repolled...)
	for _, r := range repolled[:3] {
		recs = append(recs, sinkstest.Repoll(r))
	}
	evUUID := func(i int) string { return gjson.GetBytes(recs[i].Value, "uuid").String() }
	an := func(id, typ string, i int) *kgo.Record {
		a := sinkstest.Anomaly(id, typ, readmeIntegration, "00uA", now.Add(-time.Duration(i)*time.Minute))
		a["event_uuid"] = evUUID(i)
		return sinkstest.JSONRecord(bus.TopicAnomalies, readmeIntegration+"/00uA", a)
	}
	recs = append(recs,
		an("an-1", "impossible_travel", 0), an("an-2", "unusual_time", 2), an("an-3", "anonymizing_proxy", 4),
		sinkstest.JSONRecord(bus.TopicAlerts, readmeIntegration+"/00uA", sinkstest.Alert("al-1", readmeIntegration, "00uA", "New", 1, "an-1")),
		sinkstest.JSONRecord(bus.TopicAlerts, readmeIntegration+"/00uA", sinkstest.Alert("al-1", readmeIntegration, "00uA", "Escalated", 2, "an-1", "an-2")),
		sinkstest.JSONRecord(bus.TopicAlerts, readmeIntegration+"/00uB", sinkstest.TriagedAlert("al-2", readmeIntegration, "00uB", 2, record.DispositionBenign, "llm", 0.9, now.Add(-2*time.Hour))),
		sinkstest.JSONRecord(bus.TopicAlerts, readmeIntegration+"/00uC", sinkstest.Alert("al-3", readmeIntegration, "00uC", "New", 1, "an-3")),
		sinkstest.JSONRecord(bus.TopicActions, readmeIntegration+"/00uA", sinkstest.ActionVersion("al-1", readmeIntegration, "00uA", "suspend_user", record.ActionPending, 1, now.Add(-50*time.Minute))),
		sinkstest.JSONRecord(bus.TopicActions, readmeIntegration+"/00uA", sinkstest.ActionVersion("al-1", readmeIntegration, "00uA", "suspend_user", record.ActionSucceeded, 3, now.Add(-50*time.Minute))),
		sinkstest.JSONRecord(bus.TopicActions, readmeIntegration+"/00uC", sinkstest.ActionVersion("al-3", readmeIntegration, "00uC", "clear_sessions", record.ActionPending, 1, now.Add(-10*time.Minute))),
		sinkstest.JSONRecord(bus.TopicTriage, readmeIntegration+"/00uA", sinkstest.TriageRun("al-1", 1, readmeIntegration, "00uA", record.DispositionSuspicious, now.Add(-40*time.Minute))),
		sinkstest.JSONRecord(bus.TopicTriage, readmeIntegration+"/00uB", sinkstest.TriageRun("al-2", 2, readmeIntegration, "00uB", record.DispositionBenign, now.Add(-90*time.Minute))),
		sinkstest.UpdateRecord(t, "al-1", readmeIntegration, "00uA"), // not stored: for the processor
	)
	return recs
}

// batchOf decodes recs as the sinks' consumer does, into the batch one
// flush would hand to the sink.
func batchOf(t *testing.T, recs []*kgo.Record) *sinks.Batch {
	t.Helper()
	b := &sinks.Batch{}
	var ev logevent.Event
	for _, r := range recs {
		if r.Topic == bus.TopicEvents && record.IsUpdate(r) {
			continue
		}
		table, _ := sinks.TableFor(r.Topic)
		var err error
		switch table {
		case sinks.TableEvents:
			b.Events = append(b.Events, sinks.EventRow{})
			err = sinks.DecodeEvent(r, &ev, &b.Events[len(b.Events)-1])
		case sinks.TableAnomalies:
			b.Anomalies = append(b.Anomalies, sinks.AnomalyRow{})
			err = sinks.DecodeAnomaly(r, &b.Anomalies[len(b.Anomalies)-1])
		case sinks.TableAlerts:
			b.Alerts = append(b.Alerts, sinks.AlertRow{})
			err = sinks.DecodeAlert(r, &b.Alerts[len(b.Alerts)-1])
		case sinks.TableActions:
			b.Actions = append(b.Actions, sinks.ActionRow{})
			err = sinks.DecodeAction(r, &b.Actions[len(b.Actions)-1])
		case sinks.TableTriageRuns:
			b.TriageRuns = append(b.TriageRuns, sinks.TriageRunRow{})
			err = sinks.DecodeTriageRun(r, &b.TriageRuns[len(b.TriageRuns)-1])
		default:
			t.Fatalf("topic %s (table %q): batchOf has no decoder for it; add one like the others", r.Topic, table)
		}
		if err != nil {
			t.Fatalf("decode %s record: %v", r.Topic, err)
		}
	}
	return b
}

// loadChdb executes the modern plan (what `clarion schema --server-version
// 26.9` prints and the sink runs) in chdb and loads b into every table the
// plan creates, from the Native blocks the sink's own columns build. A
// table the schema creates but the sink does not write fails the test.
// It returns the rows loaded per table.
func loadChdb(t *testing.T, c *schemastest.Chdb, opts schemas.Options, b *sinks.Batch) map[string]int {
	t.Helper()
	opts.Dialect = schemas.Dialect{Modern: true}
	plan, err := schemas.NewPlan(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Setup {
		c.MustExec(t, s)
	}
	for _, m := range plan.Migrations {
		for _, s := range m.Statements {
			if err := c.Exec(s); err != nil {
				t.Fatalf("migration %04d_%s on %s: %v\n%s", m.Version, m.Name, c.Version, err, s)
			}
		}
	}
	db := plan.Options.Database
	loaders := clickhouse.Tables()
	dir := t.TempDir()
	loaded := map[string]int{}
	for _, table := range plan.Tables() {
		cols, ok := loaders[table]
		if !ok {
			t.Errorf("the schema creates %s.%s but nothing loads it here: if the ClickHouse sink writes it, add it to sinks/clickhouse "+
				"(tables, with its columns) and its records to engineFixture and batchOf; if another component writes it, "+
				"load the same rows into both engines before the queries run in TestEnginesAgree", db, table)
			continue
		}
		f := filepath.Join(dir, table+".native")
		var buf bytes.Buffer
		n, err := clickhouse.WriteNative(&buf, table, b, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c.MustExec(t, "SYSTEM STOP MERGES "+db+"."+table)
		// optimize_on_insert = 0: current servers otherwise collapse the
		// copies inside one insert at once (see TestInsertCollapses); 18.16
		// keeps them until a merge. Loaded this way, both hold the same rows.
		c.MustExec(t, "INSERT INTO "+db+"."+table+" ("+strings.Join(cols, ", ")+") SELECT * FROM file('"+f+"', Native) SETTINGS optimize_on_insert = 0")
		if got := c.Count(t, "SELECT count() FROM "+db+"."+table); got != uint64(n) {
			t.Errorf("chdb %s: %d rows after loading %d", table, got, n)
		}
		loaded[table] = n
	}
	return loaded
}

// TestEnginesAgree loads the same rows into Debian's ClickHouse 18.16 (the
// sink itself, from Kafka, legacy dialect) and into the current engine
// (chdb 26.x: the modern DDL, the rows from Native blocks the sink's
// columns build), then runs every ClickHouse query of the README and
// every Grafana panel's SQL on both. Every query must run on each engine
// that can answer it (modern-only panels on the current one), and the
// results must be the same: rows compared as sorted sets, with LIMIT
// removed (ties under LIMIT may pick different rows) and any(x) read as
// min(x) (any picks by storage order), times to the second
// (18.16 stores DateTime), IPv4-mapped IPv6 as the IPv4 text (18.16 stores
// the text), floats to 10 significant digits, and groupArray's order not
// compared (unspecified).
func TestEnginesAgree(t *testing.T) {
	t.Parallel()
	c := schemastest.OpenChdb(t)
	addr := schemastest.Addr(t)
	admin := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, admin)
	now := time.Now()

	kc := bustest.New(t, 1)
	cl := bustest.Client(t, kc.Brokers)
	recs := engineFixture(t, now)
	sinkstest.Produce(t, cl, recs...) // sets each record's partition and offset
	batch := batchOf(t, recs)

	// The schema first, merges stopped: the hook and poll copies of an event
	// stay two rows on both engines until FINAL collapses them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := schemas.Migrate(ctx, admin, schemas.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dialect.Modern {
		t.Logf("CLARION_TEST_CLICKHOUSE is ClickHouse %v, not an old server: comparing two current engines", res.Server)
	}
	for table := range clickhouse.Tables() {
		if err := admin.Exec(ctx, "SYSTEM STOP MERGES "+db+"."+table); err != nil {
			t.Fatal(err)
		}
	}
	s, err := clickhouse.New(clickhouse.Config{Brokers: kc.Brokers, Addr: addr, Database: db, Group: "g-engines", FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(sctx) }()
	t.Cleanup(func() { scancel(); wg.Wait() })

	loaded := loadChdb(t, c, schemas.Options{Database: "clarion"}, batch)
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		for table, n := range loaded {
			if schemastest.Count(t, admin, "SELECT count() FROM "+db+"."+table) != uint64(n) {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("the sink did not store %v in 18.16", loaded) })
	t.Logf("rows per table on both engines: %v", loaded)

	legacy, err := ch.Open(&ch.Options{Addr: []string{addr}, Auth: ch.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	c.MustExec(t, "USE clarion")

	type query struct {
		where, name, sql string
		modernOnly       bool
	}
	var queries []query
	for _, doc := range []string{"../README.md", "../sinks/README.md"} {
		for i, q := range readmeQueries(t, doc) {
			if q.lake {
				continue
			}
			queries = append(queries, query{where: doc[3:], name: fmt.Sprintf("query %d (line %d)", i+1, q.line), sql: q.sql})
		}
	}
	for f, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if tg.Datasource.Type == "grafana-clickhouse-datasource" {
					queries = append(queries, query{where: filepath.Base(f), name: "panel " + p.Title, sql: expand(tg.RawSQL), modernOnly: tg.ModernOnly})
				}
			}
		}
	}
	compared, modernRan, empty := 0, 0, 0
	for _, q := range queries {
		label := q.where + ": " + q.name
		modernSQL := q.sql
		cur, err := chdbRows(c, modernSQL)
		if err != nil {
			t.Errorf("%s on %s: %v\n%s", label, c.Version, err, modernSQL)
			continue
		}
		modernRan++
		if len(cur) == 0 {
			empty++
			t.Errorf("%s: no rows on %s (the fixture is meant to give every query rows)\n%s", label, c.Version, modernSQL)
		}
		if q.modernOnly {
			continue
		}
		legacySQL := strings.ReplaceAll(q.sql, "clarion.", db+".")
		if _, err := nativeRows(legacy, legacySQL); err != nil {
			t.Errorf("%s on %v: %v\n%s", label, res.Server, err, legacySQL)
			continue
		}
		// The comparison: without LIMIT, as sorted sets, any() as min()
		// (any picks a row in storage order, which differs between engines).
		unordered := strings.Contains(q.sql, "groupArray(")
		modernSQL, legacySQL = comparable(modernSQL), comparable(legacySQL)
		a, err := chdbRows(c, modernSQL)
		if err != nil {
			t.Errorf("%s without LIMIT on %s: %v", label, c.Version, err)
			continue
		}
		b, err := nativeRows(legacy, legacySQL)
		if err != nil {
			t.Errorf("%s without LIMIT on %v: %v", label, res.Server, err)
			continue
		}
		na, nb := normRows(a, unordered), normRows(b, unordered)
		if strings.Join(na, "\n") != strings.Join(nb, "\n") {
			t.Errorf("%s: results differ\n%s:\n  %s\nClickHouse %v:\n  %s\n%s", label, c.Version, strings.Join(na, "\n  "), res.Server, strings.Join(nb, "\n  "), q.sql)
			continue
		}
		compared++
	}
	if compared == 0 || modernRan != len(queries) {
		t.Fatalf("%d of %d queries ran on %s, %d compared", modernRan, len(queries), c.Version, compared)
	}
	t.Logf("%d queries (README and panels) ran on %s; %d of them also on ClickHouse %v with the same results; %d returned no rows", modernRan, c.Version, compared, res.Server, empty)
}

// TestInsertCollapses records a difference between the engines that the
// README states: current ClickHouse applies ReplacingMergeTree's
// replacement to each inserted block (optimize_on_insert, default on), so
// hook and poll copies of an event, or two versions of an alert, that the
// sink inserts in the same batch are one row at once; 18.16 keeps both
// until a merge. FINAL gives the same answer on both either way.
func TestInsertCollapses(t *testing.T) {
	t.Parallel()
	c := schemastest.OpenChdb(t)
	recs := engineFixture(t, time.Now())
	for i, r := range recs {
		r.Partition, r.Offset = 0, int64(i)
	}
	b := batchOf(t, recs)
	plan, err := schemas.NewPlan(schemas.Options{Database: "clarion", Dialect: schemas.Dialect{Modern: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Setup {
		c.MustExec(t, s)
	}
	for _, m := range plan.Migrations {
		for _, s := range m.Statements {
			c.MustExec(t, s)
		}
	}
	dir := t.TempDir()
	for _, table := range []string{sinks.TableEvents, sinks.TableAlerts} {
		var buf bytes.Buffer
		n, err := clickhouse.WriteNative(&buf, table, b, true)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, table+".native")
		if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c.MustExec(t, "INSERT INTO clarion."+table+" ("+strings.Join(clickhouse.Tables()[table], ", ")+") SELECT * FROM file('"+f+"', Native)")
		raw, final := c.Count(t, "SELECT count() FROM clarion."+table), c.Count(t, "SELECT count() FROM clarion."+table+" FINAL")
		if raw != final || raw >= uint64(n) {
			t.Errorf("%s: %d rows inserted in one block, %d stored, %d under FINAL: want the copies collapsed at insert", table, n, raw, final)
		}
		t.Logf("%s on %s: %d rows in one insert, %d stored (= FINAL)", table, c.Version, n, raw)
	}
}

// TestDedupTokenOnCurrentEngine: the insert_deduplication_token the sink
// sends to current servers (with the tables' non_replicated_deduplication_window)
// makes a retried insert of the same block a no-op on ClickHouse 26.9, and
// a block with another token is stored. (18.16 has neither; the sink sends
// no token there and relies on FINAL.)
func TestDedupTokenOnCurrentEngine(t *testing.T) {
	t.Parallel()
	c := schemastest.OpenChdb(t)
	recs := engineFixture(t, time.Now())
	for i, r := range recs {
		r.Partition, r.Offset = 0, int64(i)
	}
	b := batchOf(t, recs)
	plan, err := schemas.NewPlan(schemas.Options{Database: "clarion", Dialect: schemas.Dialect{Modern: true}})
	if err != nil {
		t.Fatal(err)
	}
	stmts := plan.Setup
	for _, m := range plan.Migrations {
		stmts = append(stmts, m.Statements...)
	}
	for _, s := range stmts {
		c.MustExec(t, s)
	}
	var buf bytes.Buffer
	n, err := clickhouse.WriteNative(&buf, sinks.TableEvents, b, true)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "events.native")
	if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	insert := func(token string) uint64 {
		c.MustExec(t, "INSERT INTO clarion.okta_events ("+strings.Join(clickhouse.Tables()[sinks.TableEvents], ", ")+") SELECT * FROM file('"+f+
			"', Native) SETTINGS optimize_on_insert = 0, insert_deduplication_token = '"+token+"'")
		return c.Count(t, "SELECT count() FROM clarion.okta_events")
	}
	first := insert("clarion:okta_events:0@0-48")
	retried := insert("clarion:okta_events:0@0-48")
	other := insert("clarion:okta_events:0@49-97")
	if first != uint64(n) || retried != first || other != 2*first {
		t.Errorf("rows after insert, retry with the same token, another token: %d, %d, %d; want %d, %d, %d", first, retried, other, n, n, 2*n)
	}
}

// readmeQuery is one SQL statement of a ```sql block of the README.
type readmeQuery struct {
	sql  string
	line int
	lake bool // reads the Parquet lake (DuckDB or ClickHouse file())
	duck bool // DuckDB SQL
}

// readmeQueries returns every SQL statement in the README's ```sql blocks:
// statements end at a ';' that ends a line or at a blank line before the
// next SELECT; "--" comments are dropped.
func readmeQueries(t *testing.T, path string) []readmeQuery {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeQuery
	lines := strings.Split(string(b), "\n")
	in := false
	var cur []string
	start := 0
	flush := func() {
		sql := strings.TrimSpace(strings.Join(cur, "\n"))
		cur = nil
		if sql == "" {
			return
		}
		q := readmeQuery{sql: sql, line: start}
		q.duck = strings.Contains(sql, "read_parquet(")
		q.lake = q.duck || strings.Contains(sql, ", Parquet)")
		out = append(out, q)
	}
	for i, l := range lines {
		switch {
		case !in && strings.TrimSpace(l) == "```sql":
			in, start = true, i+2
		case in && strings.TrimSpace(l) == "```":
			flush()
			in = false
		case in:
			if k := strings.Index(l, "--"); k >= 0 {
				l = strings.TrimRight(l[:k], " ")
			}
			if strings.TrimSpace(l) == "" {
				if len(cur) > 0 && i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "SELECT") {
					flush()
					start = i + 2
				}
				continue
			}
			if len(cur) == 0 {
				start = i + 1
			}
			if strings.HasSuffix(strings.TrimSpace(l), ";") {
				cur = append(cur, strings.TrimSuffix(strings.TrimSpace(l), ";"))
				flush()
				continue
			}
			cur = append(cur, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no SQL statements in %s", path)
	}
	return out
}

var (
	limitRE = regexp.MustCompile(`(?is)\s+LIMIT\s+\d+\s*$`)
	anyRE   = regexp.MustCompile(`\bany\(`)
)

func stripLimit(sql string) string { return limitRE.ReplaceAllString(sql, "") }

// comparable is sql in the form both engines must answer identically:
// no final LIMIT, any(x) as min(x).
func comparable(sql string) string { return anyRE.ReplaceAllString(stripLimit(sql), "min(") }

// chdbRows runs sql in chdb and returns its rows as decoded JSON values.
func chdbRows(c *schemastest.Chdb, sql string) ([][]any, error) {
	out, err := c.Query(sql+"\nSETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_quote_64bit_floats = 0", "JSONCompact")
	if err != nil {
		return nil, err
	}
	var res struct {
		Data [][]any `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("JSONCompact: %w", err)
	}
	return res.Data, nil
}

// nativeRows runs sql over the native protocol and returns its rows with
// each column scanned into the driver's type for it.
func nativeRows(conn ch.Conn, sql string) ([][]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out [][]any
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

var (
	dateTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$`)
	mappedV4RE = regexp.MustCompile(`^::ffff:(\d+\.\d+\.\d+\.\d+)$`)
)

// normRows renders rows in the engine-independent form the comparison
// uses (see TestEnginesAgree), sorted.
func normRows(rows [][]any, unorderedArrays bool) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		vals := make([]string, len(r))
		for j, v := range r {
			vals[j] = norm(v, unorderedArrays)
		}
		out[i] = strings.Join(vals, " | ")
	}
	sort.Strings(out)
	return out
}

func norm(v any, unorderedArrays bool) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return normFloat(f)
	case float64:
		return normFloat(x)
	case float32:
		return normFloat(float64(x))
	case string:
		if dateTimeRE.MatchString(x) {
			return x[:19]
		}
		if m := mappedV4RE.FindStringSubmatch(x); m != nil {
			return strconv.Quote(m[1])
		}
		return strconv.Quote(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = norm(e, unorderedArrays)
		}
		if unorderedArrays {
			sort.Strings(parts)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]any, rv.Len())
		for i := range parts {
			parts[i] = rv.Index(i).Interface()
		}
		return norm(parts, unorderedArrays)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return normFloat(float64(rv.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return normFloat(float64(rv.Uint()))
	case reflect.Pointer:
		if rv.IsNil() {
			return "NULL"
		}
		return norm(rv.Elem().Interface(), unorderedArrays)
	}
	return fmt.Sprintf("%v", v)
}

func normFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 10, 64)
}
