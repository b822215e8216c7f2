package clickhouse_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

// TestAuditTable: audit records land in the audit table (migration 0007)
// with who, when, from where and what changed; a replayed record is one
// row with FINAL.
func TestAuditTable(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	kc := bustest.New(t, 1)
	cl := bustest.Client(t, kc.Brokers)
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	ada := audit.Actor{ID: "https://org.okta.com#00uada", Name: "Ada Lovelace", Email: "ada@example.com", Role: "approver", Via: "session"}
	approve := audit.New(audit.ActionApprove, ada, at)
	approve.Remote, approve.Target, approve.TargetID = "203.0.113.7", "action", "act-1"
	verdict := audit.New(audit.ActionVerdict, ada, at.Add(time.Second))
	verdict.AlertID, verdict.IntegrationID, verdict.Target, verdict.TargetID = "al-1", "int1", "alert", "al-1"
	verdict.Details = map[string]string{"feedback": "confirm_compromised", "note": "called them"}
	var recs []*kgo.Record
	for _, e := range []*audit.Event{approve, verdict, approve} { // the approval twice: a replay
		r, err := audit.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	sinkstest.Produce(t, cl, recs...)
	startSink(t, clickhouse.Config{Brokers: kc.Brokers, Addr: addr, Database: db, Group: "g-audit",
		FlushInterval: 100 * time.Millisecond, Registerer: prometheus.NewRegistry(), Logger: testLogger(t)})
	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return tableExists(t, conn, db, "audit") && count(t, conn, "SELECT count() FROM "+db+".audit") == 3
	}, func() string { return "audit rows did not arrive" })
	if n := count(t, conn, "SELECT count() FROM "+db+".audit FINAL"); n != 2 {
		t.Fatalf("%d rows with FINAL, want 2", n)
	}
	var name, role, remote, target string
	var ts time.Time
	row := conn.QueryRow(context.Background(), "SELECT actor_name, actor_role, remote, target_id, at FROM "+db+".audit FINAL WHERE action = 'approve'")
	if err := row.Scan(&name, &role, &remote, &target, &ts); err != nil {
		t.Fatal(err)
	}
	if name != "Ada Lovelace" || role != "approver" || remote != "203.0.113.7" || target != "act-1" || !ts.Equal(at) {
		t.Fatalf("approve row: %q %q %q %q %v", name, role, remote, target, ts)
	}
	var details string
	if err := conn.QueryRow(context.Background(), "SELECT details FROM "+db+".audit FINAL WHERE alert_id = 'al-1'").Scan(&details); err != nil {
		t.Fatal(err)
	}
	if details != `{"feedback":"confirm_compromised","note":"called them"}` {
		t.Fatalf("details %s", details)
	}
	// The example queries of docs/security.md run on this server.
	for _, q := range []string{
		`SELECT at, actor_name, actor_email, actor_role, action, target_id, remote
FROM clarion.audit FINAL
WHERE action IN ('approve', 'reject') ORDER BY at DESC LIMIT 50`,
		`SELECT remote, count() AS failures FROM clarion.audit FINAL
WHERE action = 'sign_in_failed' AND at > now() - 86400 GROUP BY remote ORDER BY failures DESC`,
	} {
		rows, err := conn.Query(context.Background(), strings.ReplaceAll(q, "clarion.", db+"."))
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		rows.Close()
	}
}
