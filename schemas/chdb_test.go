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
