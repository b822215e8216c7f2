package schemas_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/schemas"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
)

// TestModernDDLOnCurrentEngine executes the modern plan (what Migrate runs
// on 22.3 and later) on the current engine in chdb, twice (every statement
// is idempotent), and checks the tables' engines, TTL and column types.
func TestModernDDLOnCurrentEngine(t *testing.T) {
	t.Parallel()
	c := schemastest.OpenChdb(t)
	t.Logf("engine: %s", c.Version)
	plan, err := schemas.NewPlan(schemas.Options{Database: "soc", Retention: 90 * 24 * time.Hour, Dialect: schemas.Dialect{Modern: true}})
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		for _, s := range plan.Setup {
			c.MustExec(t, s)
		}
		for _, m := range plan.Migrations {
			for _, s := range m.Statements {
				if err := c.Exec(s); err != nil {
					t.Fatalf("run %d, migration %04d_%s on %s: %v\n%s", run+1, m.Version, m.Name, c.Version, err, s)
				}
			}
		}
	}
	for _, table := range plan.Tables() {
		out, err := c.Query("SELECT engine, create_table_query FROM system.tables WHERE database = 'soc' AND name = '"+table+"'", "TSVRaw")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "ReplacingMergeTree\t") || !strings.Contains(out, "TTL ") || !strings.Contains(out, "TTL toDateTime(") || !strings.Contains(out, "toIntervalDay(90)") {
			t.Errorf("%s: engine or TTL: %s", table, out)
		}
	}
	for col, want := range map[string]string{
		"okta_events.published":      "DateTime64(3, 'UTC')",
		"okta_events.ip":             "IPv6",
		"okta_events.country":        "LowCardinality(String)",
		"okta_events.raw":            "String",
		"alerts.detection_severity":  "LowCardinality(String)",
		"actions.expires_at":         "DateTime64(3, 'UTC')",
		"triage_runs.evidence":       "Array(String)",
		"triage_runs.prompt_tokens":  "UInt32",
		"anomalies.score":            "Float64",
		"alerts.anomaly_ids":         "Array(String)",
		"okta_events.kafka_offset":   "UInt64",
		"okta_events.is_proxy":       "UInt8",
		"okta_events.user_agent":     "String",
		"okta_events.received_at":    "DateTime64(3, 'UTC')",
		"triage_runs.latency_ms":     "Float64",
		"actions.alert_version":      "UInt32",
		"okta_events.integration_id": "LowCardinality(String)",
	} {
		table, name, _ := strings.Cut(col, ".")
		out, err := c.Query("SELECT type, compression_codec FROM system.columns WHERE database = 'soc' AND table = '"+table+"' AND name = '"+name+"'", "TSVRaw")
		if err != nil {
			t.Fatal(err)
		}
		if got, _, _ := strings.Cut(strings.TrimSpace(out), "\t"); got != want {
			t.Errorf("%s: type %q, want %q", col, got, want)
		}
	}
	if out, _ := c.Query("SELECT compression_codec FROM system.columns WHERE database = 'soc' AND table = 'okta_events' AND name = 'raw'", "TSVRaw"); strings.TrimSpace(out) != "CODEC(ZSTD(3))" {
		t.Errorf("okta_events.raw codec %q", out)
	}
	if out, _ := c.Query("SELECT name, type FROM system.data_skipping_indices WHERE database = 'soc' AND table = 'okta_events'", "TSVRaw"); strings.TrimSpace(out) != "idx_actor_login\tbloom_filter" {
		t.Errorf("okta_events skip indexes: %q", out)
	}
}

// TestClusterDDLOnCurrentEngine runs what of the ON CLUSTER plan one node
// of ClickHouse 26.9 (chdb) can run: a one-shard cluster and the {shard}
// and {replica} macros configured, ClickHouse's in-memory TestKeeper as
// Keeper. Executed, with ON CLUSTER removed (chdb has no distributed DDL
// queue): every CREATE (schema_migrations and the <table>_local tables
// Replicated, the Distributed tables over them) and the ALTERs of the
// Distributed tables. Not executed: ON CLUSTER itself, the ALTERs of the
// Replicated tables (read-only without a real Keeper connection), and any
// insert or query through the cluster. docs/storage.md says the same.
func TestClusterDDLOnCurrentEngine(t *testing.T) {
	t.Parallel()
	const cluster = "clarion_cluster"
	c := schemastest.OpenChdbConfig(t, `<clickhouse>
  <zookeeper><implementation>testkeeper</implementation></zookeeper>
  <macros><shard>01</shard><replica>r1</replica></macros>
  <remote_servers><`+cluster+`><shard><replica><host>localhost</host><port>9000</port></replica></shard></`+cluster+`></remote_servers>
</clickhouse>`)
	plan, err := schemas.NewPlan(schemas.Options{Database: "soc", Retention: 30 * 24 * time.Hour, Dialect: schemas.Dialect{Modern: true}, Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	ran, skipped := 0, 0
	exec := func(s string) {
		local := strings.Replace(s, " ON CLUSTER "+cluster, "", 1)
		if strings.HasPrefix(local, "ALTER TABLE soc.") && strings.Contains(strings.SplitN(local, " ", 4)[2], "_local") {
			skipped++
			return
		}
		if err := c.Exec(local); err != nil {
			t.Fatalf("%s: %v\n%s", c.Version, err, local)
		}
		ran++
	}
	for _, s := range plan.Setup {
		exec(s)
	}
	for _, m := range plan.Migrations {
		for _, s := range m.Statements {
			exec(s)
		}
	}
	for _, table := range plan.Tables() {
		out, err := c.Query("SELECT name, engine FROM system.tables WHERE database = 'soc' AND name IN ('"+table+"', '"+table+"_local') ORDER BY name", "TSVRaw")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, table+"\tDistributed\n"+table+"_local\tReplicated") {
			t.Errorf("%s: %q", table, out)
		}
	}
	if n := c.Count(t, "SELECT count() FROM system.replicas WHERE database = 'soc' AND zookeeper_path LIKE '/clickhouse/tables/01/soc/%_local'"); n != uint64(len(plan.Tables())) {
		t.Errorf("%d replicated tables at /clickhouse/tables/01/soc/..., want %d", n, len(plan.Tables()))
	}
	t.Logf("cluster plan on %s with TestKeeper: %d statements ran without ON CLUSTER, %d ALTERs of Replicated tables not run", c.Version, ran, skipped)
}
