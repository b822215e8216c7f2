package schemas_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/clarion-itdr/clarion/schemas"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
)

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := schemas.Options{Database: db, Retention: 90 * 24 * time.Hour}
	res, err := schemas.Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	all, _ := schemas.Render(opts)
	if len(res.Applied) != len(all) {
		t.Fatalf("first run applied %v, want all %d migrations", res.Applied, len(all))
	}
	t.Logf("server %v, modern=%v", res.Server, res.Dialect.Modern)
	res2, err := schemas.Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(res2.Applied) != 0 {
		t.Fatalf("second run applied %v, want nothing", res2.Applied)
	}
	if n := schemastest.Count(t, conn, "SELECT count() FROM "+db+".schema_migrations FINAL"); n != uint64(len(all)) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(all))
	}
	for _, table := range []string{"okta_events", "anomalies", "alerts", "actions", "triage_runs"} {
		if n := schemastest.Count(t, conn, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = '"+table+"'"); n != 1 {
			t.Errorf("table %s.%s missing", db, table)
		}
	}
	for _, c := range []string{"alerts.detection_severity", "alerts.confidence", "alerts.feedback", "alerts.triaged_by",
		"actions.mode", "actions.guard", "actions.expires_at", "actions.requested_by", "actions.decided_at", "actions.error",
		"triage_runs.evidence", "triage_runs.by"} {
		table, col, _ := strings.Cut(c, ".")
		if n := schemastest.Count(t, conn, "SELECT count() FROM system.columns WHERE database = '"+db+"' AND table = '"+table+"' AND name = '"+col+"'"); n != 1 {
			t.Errorf("column %s missing", c)
		}
	}
}

// TestMigrateResumesAddColumn: an upgrade from the first four migrations,
// with rows already stored, interrupted after one ALTER of 0005 and run
// again, completes; the old rows read the new columns' defaults. On 18.16
// this is the plain ADD COLUMN whose "already exists" Migrate tolerates.
func TestMigrateResumesAddColumn(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := schemas.ServerVersion(conn)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := schemas.Render(schemas.Options{Database: db, Dialect: schemas.DialectFor(v)})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	var alter string
	for _, m := range migs {
		switch {
		case m.Version < 5:
			for _, q := range m.Statements {
				if err := conn.Exec(ctx, q); err != nil {
					t.Fatalf("migration %d: %v", m.Version, err)
				}
			}
		case m.Version == 5:
			alter = m.Statements[0]
		}
	}
	if !strings.Contains(alter, "ADD COLUMN") {
		t.Fatalf("0005 does not start with an ADD COLUMN: %s", alter)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".alerts (id, status, version)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("al-old", "New", uint64(3)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	// The interrupted run: its first ALTER went through, nothing was recorded.
	if err := conn.Exec(ctx, alter); err != nil {
		t.Fatal(err)
	}
	res, err := schemas.Migrate(ctx, conn, schemas.Options{Database: db})
	if err != nil {
		t.Fatalf("migrate after an interrupted 0005 on %v: %v", v, err)
	}
	if len(res.Applied) != len(migs) {
		t.Errorf("applied %v, want all %d (none was recorded)", res.Applied, len(migs))
	}
	var status, detSev, feedback string
	var conf float64
	if err := conn.QueryRow(ctx, "SELECT status, detection_severity, confidence, feedback FROM "+db+".alerts FINAL WHERE id = 'al-old'").
		Scan(&status, &detSev, &conf, &feedback); err != nil {
		t.Fatal(err)
	}
	if status != "New" || detSev != "" || conf != 0 || feedback != "" {
		t.Errorf("old row after 0005: %q %q %v %q", status, detSev, conf, feedback)
	}
}

func TestRenderDialects(t *testing.T) {
	t.Parallel()
	modern, err := schemas.Render(schemas.Options{Retention: 400 * 24 * time.Hour, Dialect: schemas.Dialect{Modern: true}})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := schemas.Render(schemas.Options{Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(modern) != len(legacy) || len(modern) < 4 {
		t.Fatalf("modern %d migrations, legacy %d", len(modern), len(legacy))
	}
	join := func(ms []schemas.Migration) string {
		var b strings.Builder
		for _, m := range ms {
			for _, s := range m.Statements {
				b.WriteString(s)
				b.WriteString(";\n")
			}
		}
		return b.String()
	}
	m, l := join(modern), join(legacy)
	for _, want := range []string{"DateTime64(3, 'UTC')", "LowCardinality(String)", "IPv6", "CODEC(ZSTD(3))", "TTL toDateTime(published) + INTERVAL 400 DAY", "non_replicated_deduplication_window", "CREATE TABLE IF NOT EXISTS clarion.okta_events",
		"ALTER TABLE clarion.alerts ADD COLUMN IF NOT EXISTS detection_severity LowCardinality(String)", "CREATE TABLE IF NOT EXISTS clarion.triage_runs"} {
		if !strings.Contains(m, want) {
			t.Errorf("modern DDL lacks %q", want)
		}
	}
	for _, bad := range []string{"DateTime64", "LowCardinality", "IPv6", "CODEC", "TTL", "SETTINGS", "INDEX", "ADD COLUMN IF NOT EXISTS"} {
		if strings.Contains(l, bad) {
			t.Errorf("legacy DDL contains %q", bad)
		}
	}
	if _, err := schemas.Render(schemas.Options{Database: "x; DROP"}); err == nil {
		t.Error("Render accepted an unsafe database name")
	}
	if strings.Count(m, "(") != strings.Count(m, ")") {
		t.Error("modern DDL has unbalanced parentheses")
	}
	for _, r := range []rune(m) {
		if r == '{' || r == '}' {
			t.Fatalf("modern DDL has an unrendered template action")
		}
	}
}

func TestDialectFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    schemas.Version
		want bool
	}{{schemas.Version{18, 16}, false}, {schemas.Version{22, 2}, false}, {schemas.Version{22, 3}, true}, {schemas.Version{24, 8}, true}} {
		if got := schemas.DialectFor(c.v).Modern; got != c.want {
			t.Errorf("DialectFor(%v).Modern = %v, want %v", c.v, got, c.want)
		}
	}
}

// TestModernDDLParses checks the modern DDL's syntax on whatever server the
// tests have. On a current server it is created for real; on an old one the
// clauses that server cannot parse (CODEC, TTL, SETTINGS, INDEX) are cut and
// the rest must fail only for unknown types or database, never for syntax.
func TestModernDDLParses(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	v, err := schemas.ServerVersion(conn)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := schemas.Render(schemas.Options{Database: db, Retention: 30 * 24 * time.Hour, Dialect: schemas.Dialect{Modern: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if schemas.DialectFor(v).Modern {
		if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
			t.Fatal(err)
		}
		for _, m := range migs {
			for _, s := range m.Statements {
				if err := conn.Exec(ctx, s); err != nil {
					t.Errorf("migration %d on %v: %v", m.Version, v, err)
				}
			}
		}
		return
	}
	codec := regexp.MustCompile(`\s+CODEC\((?:[^()]|\([^()]*\))*\)`)
	for _, m := range migs {
		for _, s := range m.Statements {
			s = codec.ReplaceAllString(s, "")
			var kept []string
			for _, line := range strings.Split(s, "\n") {
				l := strings.TrimSpace(line)
				if strings.HasPrefix(l, "TTL ") || strings.HasPrefix(l, "SETTINGS ") || strings.HasPrefix(l, "INDEX ") {
					continue
				}
				kept = append(kept, line)
			}
			s = strings.Join(kept, "\n")
			s = strings.Replace(s, "ADD COLUMN IF NOT EXISTS", "ADD COLUMN", 1) // the one modern clause 18.16 cannot parse in an ALTER
			s = strings.Replace(s, "UInt64,\n)", "UInt64\n)", 1)                // the column list lost its trailing INDEX lines
			err := conn.Exec(ctx, s)
			var exc *proto.Exception
			switch {
			case err == nil:
				t.Errorf("migration %d created on %v without its database", m.Version, v)
			case !errors.As(err, &exc):
				t.Errorf("migration %d: %v", m.Version, err)
			case exc.Code == 62:
				t.Errorf("migration %d: syntax error: %v\n%s", m.Version, err, s)
			default:
				t.Logf("migration %d parses on %v (fails with code %d: %s)", m.Version, v, exc.Code, exc.Name)
			}
		}
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want schemas.Version
		ok   bool
	}{{"18.16", schemas.Version{18, 16}, true}, {"24.8.4.13", schemas.Version{24, 8}, true}, {" 26.9 ", schemas.Version{26, 9}, true},
		{"26", schemas.Version{}, false}, {"x.1", schemas.Version{}, false}, {"", schemas.Version{}, false}, {"-1.2", schemas.Version{}, false}} {
		got, err := schemas.ParseVersion(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestPlanScript: the script `clarion schema` prints splits back into
// exactly the statements Migrate runs (Setup, then each migration's).
func TestPlanScript(t *testing.T) {
	t.Parallel()
	for _, opts := range []schemas.Options{
		{},
		{Database: "soc", Retention: 90 * 24 * time.Hour, Dialect: schemas.Dialect{Modern: true}},
		{Dialect: schemas.Dialect{Modern: true}, Cluster: "prod"},
	} {
		p, err := schemas.NewPlan(opts)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string{}, p.Setup...)
		for _, m := range p.Migrations {
			want = append(want, m.Statements...)
		}
		var b strings.Builder
		if _, err := p.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		got := schemas.SplitScript(b.String())
		if strings.Join(got, "\n;;\n") != strings.Join(want, "\n;;\n") {
			t.Errorf("%+v: script splits into %d statements, plan has %d:\n%s", opts, len(got), len(want), b.String())
		}
		if tables := p.Tables(); len(tables) < 5 || tables[0] != "okta_events" {
			t.Errorf("%+v: tables %v", opts, tables)
		}
	}
}

// TestPlanCluster checks the text of the ON CLUSTER DDL (it is not executed
// anywhere: CI has no Keeper): every statement ON CLUSTER, each table a
// Replicated local table plus a Distributed one sharded by its ORDER BY key,
// each ALTER applied to both.
func TestPlanCluster(t *testing.T) {
	t.Parallel()
	p, err := schemas.NewPlan(schemas.Options{Dialect: schemas.Dialect{Modern: true}, Cluster: "prod", Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := schemas.NewPlan(schemas.Options{Dialect: schemas.Dialect{Modern: true}, Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Setup {
		if !strings.Contains(s, " ON CLUSTER prod") {
			t.Errorf("setup without ON CLUSTER: %s", s)
		}
	}
	all := strings.Join(p.Setup, "\n")
	for i, m := range p.Migrations {
		for _, s := range m.Statements {
			if !strings.Contains(strings.SplitN(s, "\n", 2)[0], " ON CLUSTER prod") {
				t.Errorf("migration %d: statement without ON CLUSTER: %s", m.Version, s)
			}
			all += "\n" + s
		}
		creates, alters := 0, 0
		for _, s := range plain.Migrations[i].Statements {
			switch {
			case strings.HasPrefix(s, "CREATE TABLE"):
				creates++
			case strings.HasPrefix(s, "ALTER TABLE"):
				alters++
			}
		}
		if len(m.Statements) != 2*(creates+alters) {
			t.Errorf("migration %d: %d cluster statements for %d CREATE and %d ALTER", m.Version, len(m.Statements), creates, alters)
		}
	}
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS clarion.okta_events_local ON CLUSTER prod\n(",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/clarion/okta_events_local', '{replica}')\n",
		"CREATE TABLE IF NOT EXISTS clarion.okta_events ON CLUSTER prod AS clarion.okta_events_local\nENGINE = Distributed(prod, clarion, okta_events_local, cityHash64(integration_id, user_key, published, uuid))",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/clarion/alerts_local', '{replica}', version)",
		"ENGINE = Distributed(prod, clarion, alerts_local, cityHash64(integration_id, id))",
		"ALTER TABLE clarion.alerts_local ON CLUSTER prod ADD COLUMN IF NOT EXISTS detection_severity",
		"ALTER TABLE clarion.alerts ON CLUSTER prod ADD COLUMN IF NOT EXISTS detection_severity",
		"TTL toDateTime(published) + INTERVAL 30 DAY",
		"ReplicatedReplacingMergeTree('/clickhouse/clarion/clarion/schema_migrations', '{replica}')",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("cluster DDL lacks %q", want)
		}
	}
	if strings.Contains(all, "non_replicated_deduplication_window") || strings.Contains(all, "ENGINE = ReplacingMergeTree") {
		t.Error("cluster DDL keeps a non-replicated engine or setting")
	}
	if got, want := strings.Join(p.Tables(), ","), strings.Join(plain.Tables(), ","); got != want {
		t.Errorf("cluster tables %s, want %s", got, want)
	}
	if _, err := schemas.NewPlan(schemas.Options{Cluster: "prod"}); err == nil {
		t.Error("cluster DDL rendered for the legacy dialect")
	}
	if _, err := schemas.NewPlan(schemas.Options{Cluster: "a b", Dialect: schemas.Dialect{Modern: true}}); err == nil {
		t.Error("unsafe cluster name accepted")
	}
}
