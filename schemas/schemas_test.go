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
	for _, table := range []string{"okta_events", "anomalies", "alerts", "actions"} {
		if n := schemastest.Count(t, conn, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = '"+table+"'"); n != 1 {
			t.Errorf("table %s.%s missing", db, table)
		}
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
	for _, want := range []string{"DateTime64(3, 'UTC')", "LowCardinality(String)", "IPv6", "CODEC(ZSTD(3))", "TTL toDateTime(published) + INTERVAL 400 DAY", "non_replicated_deduplication_window", "CREATE TABLE IF NOT EXISTS clarion.okta_events"} {
		if !strings.Contains(m, want) {
			t.Errorf("modern DDL lacks %q", want)
		}
	}
	for _, bad := range []string{"DateTime64", "LowCardinality", "IPv6", "CODEC", "TTL", "SETTINGS", "INDEX"} {
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
			s = strings.Replace(s, "UInt64,\n)", "UInt64\n)", 1) // the column list lost its trailing INDEX lines
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
