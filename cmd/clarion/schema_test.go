package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/schemas"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
)

// schemaScript runs `clarion schema args...` and returns what it printed.
func schemaScript(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := clarion(ctx, nil, append([]string{"schema"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("clarion schema %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

func TestSchemaCommandErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"--server-version", "banana"},
		{"--server-version", "18.16", "--clickhouse-cluster", "prod"}, // ON CLUSTER needs 22.3+
		{"--server-version", "24.8", "--database", "x;DROP"},
		{"--server-version", "24.8", "--retention", "-1h"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out, errb bytes.Buffer
		cmd := clarion(ctx, nil, append([]string{"schema"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		cancel()
		if err == nil || out.Len() != 0 || errb.Len() == 0 {
			t.Errorf("clarion schema %v: err %v, stdout %q, stderr %q: want a failure with a message and no DDL", args, err, out.String(), errb.String())
		}
	}
}

// TestSchemaCommandOnCurrentEngine executes what `clarion schema
// --server-version 26.9` prints, statement by statement, on ClickHouse 26.9
// (chdb).
func TestSchemaCommandOnCurrentEngine(t *testing.T) {
	t.Parallel()
	c := schemastest.OpenChdb(t)
	script := schemaScript(t, "--server-version", "26.9", "--database", "soc", "--retention", "2160h")
	stmts := schemas.SplitScript(script)
	for _, s := range stmts {
		if err := c.Exec(s); err != nil {
			t.Fatalf("%s: %v\n%s", c.Version, err, s)
		}
	}
	if n := c.Count(t, "SELECT count() FROM system.tables WHERE database = 'soc' AND create_table_query LIKE '%toIntervalDay(90)%'"); n < 5 {
		t.Errorf("%d tables with the 90-day TTL", n)
	}
	t.Logf("%d statements of `clarion schema --server-version 26.9` ran on %s", len(stmts), c.Version)
}

// TestSchemaCommandMatchesMigrate: what `clarion schema` prints for the
// test server's version, run by hand into one database, gives the same
// tables and columns (names, types, order, engines) as the sink's Migrate
// into another: the DBA reviews what the sink runs.
func TestSchemaCommandMatchesMigrate(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	byHand, migrated := schemastest.TempDB(t, conn), schemastest.TempDB(t, conn)
	v, err := schemas.ServerVersion(conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	describe := func(db string) string {
		// In each table's own column order (18.16 has no position column).
		rows, err := conn.Query(ctx, "SELECT table, name, type FROM system.columns WHERE database = '"+db+"'")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		pos := map[string]int{}
		for rows.Next() {
			var table, name, typ string
			if err := rows.Scan(&table, &name, &typ); err != nil {
				t.Fatal(err)
			}
			pos[table]++
			out = append(out, fmt.Sprintf("%s.%s %s #%d", table, name, typ, pos[table]))
		}
		erows, err := conn.Query(ctx, "SELECT name, engine FROM system.tables WHERE database = '"+db+"'")
		if err != nil {
			t.Fatal(err)
		}
		defer erows.Close()
		for erows.Next() {
			var name, engine string
			if err := erows.Scan(&name, &engine); err != nil {
				t.Fatal(err)
			}
			out = append(out, name+" ENGINE "+engine)
		}
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	script := schemaScript(t, "--server-version", v.String(), "--database", byHand, "--retention", "720h")
	for _, s := range schemas.SplitScript(script) {
		if err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("by hand on %v: %v\n%s", v, err, s)
		}
	}
	if _, err := schemas.Migrate(ctx, conn, schemas.Options{Database: migrated, Retention: 720 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	before := describe(byHand)
	// The sink starting on the database set up by hand: it runs every
	// migration again (none is recorded), changing nothing.
	res, err := schemas.Migrate(ctx, conn, schemas.Options{Database: byHand, Retention: 720 * time.Hour})
	if err != nil {
		t.Fatalf("Migrate after the script by hand: %v", err)
	}
	if after := describe(byHand); after != before || len(res.Applied) == 0 {
		t.Errorf("Migrate after the script: applied %v, schema changed:\n%s\n--\n%s", res.Applied, before, after)
	}
	a, b := describe(byHand), describe(migrated)
	if a != b || !strings.Contains(a, "okta_events.uuid") {
		t.Errorf("clarion schema by hand and Migrate differ on %v:\n%s\n--\n%s", v, a, b)
	}
}
