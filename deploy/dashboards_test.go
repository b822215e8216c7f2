package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/schemas"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

type target struct {
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	RawSQL     string `json:"rawSql"`
	Expr       string `json:"expr"`
	ModernOnly bool   `json:"clarionModernOnly"`
	RefID      string `json:"refId"`
}

type panel struct {
	ID      int      `json:"id"`
	Title   string   `json:"title"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // rows
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = d
	}
	return out
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// expand replaces the grafana-clickhouse-datasource macros the panels use
// with what the plugin sends for a range covering all test data.
func expand(sql string) string {
	from, to := int64(946684800), time.Now().Add(24*time.Hour).Unix() // 2000-01-01 .. tomorrow
	var b strings.Builder
	for {
		i := strings.Index(sql, "$__timeFilter(")
		if i < 0 {
			break
		}
		j := strings.IndexByte(sql[i:], ')')
		col := sql[i+len("$__timeFilter(") : i+j]
		fmt.Fprintf(&b, "%s%s >= toDateTime(%d) AND %s <= toDateTime(%d)", sql[:i], col, from, col, to)
		sql = sql[i+j+1:]
	}
	b.WriteString(sql)
	r := strings.NewReplacer("$__interval_s", "3600", "$__fromTime", fmt.Sprintf("toDateTime(%d)", from), "$__toTime", fmt.Sprintf("toDateTime(%d)", to))
	return r.Replace(b.String())
}

func TestDashboardsWellFormed(t *testing.T) {
	t.Parallel()
	uids := map[string]bool{}
	for f, d := range loadDashboards(t) {
		if d.UID == "" || uids[d.UID] {
			t.Errorf("%s: missing or duplicate uid %q", f, d.UID)
		}
		uids[d.UID] = true
		ids := map[int]bool{}
		for _, p := range allPanels(d.Panels) {
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id %d", f, p.ID)
			}
			ids[p.ID] = true
			for _, tg := range p.Targets {
				switch tg.Datasource.Type {
				case "grafana-clickhouse-datasource":
					if tg.Datasource.UID != "clarion-clickhouse" || strings.TrimSpace(tg.RawSQL) == "" {
						t.Errorf("%s: panel %q: ClickHouse target without SQL or with an unprovisioned data source", f, p.Title)
					}
					if strings.Contains(tg.RawSQL, "clarion.") {
						t.Errorf("%s: panel %q names the database; the data source's default database applies", f, p.Title)
					}
				case "prometheus":
					if tg.Datasource.UID != "clarion-prometheus" || tg.Expr == "" {
						t.Errorf("%s: panel %q: Prometheus target without expr or with an unprovisioned data source", f, p.Title)
					}
				default:
					t.Errorf("%s: panel %q: unknown data source %q", f, p.Title, tg.Datasource.Type)
				}
			}
		}
	}
}

// TestDashboardSQL loads sample events, anomalies, alerts and actions with
// the ClickHouse sink and runs every panel's SQL. Panels marked
// clarionModernOnly must run on current servers; on old ones they must
// fail only for a missing function or type, never for syntax.
func TestDashboardSQL(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	admin := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, admin)
	kc := bustest.New(t, 1)
	cl := bustest.Client(t, kc.Brokers)
	now := time.Now()
	recs := sinkstest.Events(t, "int1", 40)
	for i, r := range recs {
		// Sign-ins in the last hours too, not only the samples' own dates.
		if i%2 == 0 {
			r.Value = []byte(strings.Replace(string(r.Value), `"published"`, `"published_orig"`, 1))
			r.Value = append([]byte(`{"published":"`+bus.FormatTime(now.Add(-time.Duration(i)*time.Hour))+`",`), r.Value[1:]...)
		}
	}
	sinkstest.Produce(t, cl, recs...)
	sinkstest.Produce(t, cl,
		sinkstest.JSONRecord(bus.TopicAnomalies, "int1/u", sinkstest.Anomaly("an-1", "impossible_travel", "int1", "00uA", now)),
		sinkstest.JSONRecord(bus.TopicAnomalies, "int1/u", sinkstest.Anomaly("an-2", "unusual_time", "int1", "00uA", now)),
		sinkstest.JSONRecord(bus.TopicAlerts, "int1/u", sinkstest.Alert("al-1", "int1", "00uA", "New", 1, "an-1")),
		sinkstest.JSONRecord(bus.TopicAlerts, "int1/u", sinkstest.Alert("al-1", "int1", "00uA", "Escalated", 2, "an-1", "an-2")),
		sinkstest.JSONRecord(bus.TopicActions, "int1/u", sinkstest.Action("al-1/suspend_user", "al-1", "int1", "00uA", "pending_approval", 1)),
		sinkstest.JSONRecord(bus.TopicTriage, "int1/u", sinkstest.TriageRun("al-1", 1, "int1", "00uA", record.DispositionSuspicious, now)),
	)
	s, err := clickhouse.New(clickhouse.Config{Brokers: kc.Brokers, Addr: addr, Database: db, Group: "g-dash", FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return schemastest.Count(t, admin, "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = 'actions'") == 1 &&
			schemastest.Count(t, admin, "SELECT count() FROM "+db+".actions") == 1 &&
			schemastest.Count(t, admin, "SELECT count() FROM "+db+".triage_runs") == 1 &&
			// Each topic's rows arrive on their own (on Apache Kafka not
			// at once): wait for every table the panels read.
			schemastest.Count(t, admin, "SELECT count() FROM "+db+".alerts") >= 1 &&
			schemastest.Count(t, admin, "SELECT count() FROM "+db+".anomalies") >= 2 &&
			schemastest.Count(t, admin, "SELECT count() FROM "+db+".okta_events") == 40
	}, func() string { return "test data did not arrive" })

	conn, err := ch.Open(&ch.Options{Addr: []string{addr}, Auth: ch.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := schemas.ServerVersion(conn)
	if err != nil {
		t.Fatal(err)
	}
	modern := schemas.DialectFor(v).Modern
	ran := 0
	for f, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if tg.Datasource.Type != "grafana-clickhouse-datasource" {
					continue
				}
				sql := expand(tg.RawSQL)
				n, err := runQuery(conn, sql)
				switch {
				case err == nil:
					ran++
					if n == 0 {
						t.Errorf("%s: panel %q returned no rows:\n%s", f, p.Title, sql)
					}
				case tg.ModernOnly && !modern:
					var exc *proto.Exception
					if !errors.As(err, &exc) || exc.Code == 62 {
						t.Errorf("%s: modern-only panel %q: %v (want only a missing-function error on %v)", f, p.Title, err, v)
					} else {
						t.Logf("%s: modern-only panel %q parses on %v, fails as expected: code %d", f, p.Title, v, exc.Code)
					}
				default:
					t.Errorf("%s: panel %q: %v\n%s", f, p.Title, err, sql)
				}
			}
		}
	}
	if ran == 0 {
		t.Fatal("no panel SQL ran")
	}
	t.Logf("%d panel queries ran against ClickHouse %v", ran, v)
}

func runQuery(conn ch.Conn, sql string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}
