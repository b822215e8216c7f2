package clickhouse_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/schemas/schemastest"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

// readmeQueries are the example queries of the triage and response section
// of sinks/README.md, run here against the server the tests have (18.16 in
// CI), with "clarion." replaced by the test database.
var readmeQueries = map[string]string{
	"closed_by_triage": `SELECT disposition, triaged_by, count() AS alerts
FROM clarion.alerts FINAL
WHERE status = 'Closed' AND triaged_by != '' AND feedback = ''
GROUP BY disposition, triaged_by ORDER BY alerts DESC`,
	"time_to_action": `SELECT kind, count() AS actions,
       avg(toUnixTimestamp(executed_at) - toUnixTimestamp(first_seen)) / 60 AS mean_minutes
FROM (SELECT alert_id, kind, executed_at FROM clarion.actions FINAL WHERE state = 'succeeded') AS ac
ANY INNER JOIN (SELECT id AS alert_id, first_seen FROM clarion.alerts FINAL) AS al USING alert_id
GROUP BY kind ORDER BY kind`,
	"triage_runs": `SELECT by, provider, model, count() AS runs, countIf(fallback != '') AS fallbacks,
       countIf(agent_disposition != '') AS gate_changed,
       countIf(disposition = deterministic_disposition) AS agrees_with_deterministic,
       quantile(0.95)(latency_ms) AS p95_ms, sum(prompt_tokens + completion_tokens) AS tokens
FROM clarion.triage_runs FINAL
GROUP BY by, provider, model ORDER BY runs DESC`,
	"actions_by_mode": `SELECT kind, mode, state, guard, count() AS actions
FROM clarion.actions FINAL
GROUP BY kind, mode, state, guard ORDER BY kind, mode, state`,
	"pending_approvals": `SELECT id, kind, user_login, requested_at, expires_at
FROM clarion.actions FINAL
WHERE state = 'pending_approval' ORDER BY expires_at`,
}

// TestTriageAndResponse: a triage run, action versions and triaged alert
// versions land in their tables and are queryable (FINAL shows the newest
// alert and action state); the alert updates interleaved with the Okta
// events are skipped, not stored and not dead-lettered.
func TestTriageAndResponse(t *testing.T) {
	t.Parallel()
	addr := schemastest.Addr(t)
	conn := schemastest.Open(t, addr)
	db := schemastest.TempDB(t, conn)
	kc := bustest.New(t, 3)
	cl := bustest.Client(t, kc.Brokers)
	reg := prometheus.NewRegistry()

	firstSeen := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	started := firstSeen.Add(2 * time.Minute)
	events := sinkstest.Events(t, "int1", 30)
	var recs []*kgo.Record
	for i, e := range events {
		recs = append(recs, e)
		if i%10 == 0 { // triage and the responder talk to the processor
			recs = append(recs, sinkstest.UpdateRecord(t, fmt.Sprintf("al-%d", i), "int1", "00uA"))
		}
	}
	const updates = 3
	run := sinkstest.TriageRun("al-1", 2, "int1", "00uA", record.DispositionBenign, started)
	// The same alert version triaged again (a replay): the newest record wins.
	replay := sinkstest.TriageRun("al-1", 2, "int1", "00uA", record.DispositionBenign, started.Add(time.Minute))
	replay.Output.Confidence = 0.9
	threat := sinkstest.TriageRun("al-2", 1, "int1", "00uB", record.DispositionConfirmedThreat, started)
	threat.By, threat.Provider, threat.Model, threat.Fallback = "deterministic", "", "", "timeout"
	threat.Output.RecommendedActions = []string{record.KindSuspendUser, record.KindClearSessions}
	key := string(bus.KeyFor("int1", "00uA"))
	keyB := string(bus.KeyFor("int1", "00uB"))
	recs = append(recs,
		sinkstest.JSONRecord(bus.TopicAlerts, key, sinkstest.Alert("al-1", "int1", "00uA", record.StatusNew, 1, "an-1")),
		sinkstest.JSONRecord(bus.TopicAlerts, key, sinkstest.Alert("al-1", "int1", "00uA", record.StatusAnalyzing, 2, "an-1")),
		sinkstest.JSONRecord(bus.TopicAlerts, key, sinkstest.TriagedAlert("al-1", "int1", "00uA", 3, record.DispositionBenign, "llm", 0.9, firstSeen)),
		sinkstest.JSONRecord(bus.TopicAlerts, keyB, sinkstest.TriagedAlert("al-2", "int1", "00uB", 2, record.DispositionConfirmedThreat, "deterministic", 0.95, firstSeen)),
		sinkstest.JSONRecord(bus.TopicTriage, key, run),
		sinkstest.JSONRecord(bus.TopicTriage, key, replay),
		sinkstest.JSONRecord(bus.TopicTriage, keyB, threat),
		sinkstest.JSONRecord(bus.TopicActions, keyB, sinkstest.ActionVersion("al-2", "int1", "00uB", record.KindSuspendUser, record.ActionPending, 1, started)),
		sinkstest.JSONRecord(bus.TopicActions, keyB, sinkstest.ActionVersion("al-2", "int1", "00uB", record.KindSuspendUser, record.ActionApproved, 2, started)),
		sinkstest.JSONRecord(bus.TopicActions, keyB, sinkstest.ActionVersion("al-2", "int1", "00uB", record.KindSuspendUser, record.ActionSucceeded, 3, started)),
		sinkstest.JSONRecord(bus.TopicActions, keyB, sinkstest.ActionVersion("al-2", "int1", "00uB", record.KindClearSessions, record.ActionBlocked, 1, started)),
		sinkstest.JSONRecord(bus.TopicActions, key, sinkstest.ActionVersion("al-3", "int1", "00uA", record.KindClearSessions, record.ActionPending, 1, started)),
	)
	sinkstest.Produce(t, cl, recs...)

	startSink(t, clickhouse.Config{Brokers: kc.Brokers, Addr: addr, Database: db, Group: "g-triage",
		FlushInterval: 100 * time.Millisecond, Registerer: reg, Logger: testLogger(t)})

	sinkstest.Eventually(t, 60*time.Second, func() bool {
		return tableExists(t, conn, db, "triage_runs") &&
			count(t, conn, "SELECT count() FROM "+db+".triage_runs") == 3 &&
			count(t, conn, "SELECT count() FROM "+db+".actions") == 5 &&
			count(t, conn, "SELECT count() FROM "+db+".alerts") == 4 &&
			count(t, conn, "SELECT count() FROM "+db+".okta_events") == 30
	}, func() string { return "rows did not arrive" })
	ctx := context.Background()

	// The updates: skipped and counted, never stored or dead-lettered.
	sinkstest.Eventually(t, 30*time.Second, func() bool {
		return metricValue(t, reg, "clarion_sink_records_ignored_total") == updates
	}, func() string {
		return fmt.Sprintf("ignored = %v, want %d", metricValue(t, reg, "clarion_sink_records_ignored_total"), updates)
	})
	if n := metricValue(t, reg, "clarion_sink_dead_letters_total"); n != 0 {
		t.Errorf("%v dead letters", n)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".okta_events WHERE source = 'clarion' OR uuid = ''"); n != 0 {
		t.Errorf("%d alert updates stored as events", n)
	}

	// The newest alert version, with the fields of issue 6.
	var status, disposition, detSev, triagedBy, feedback string
	var conf float64
	var version uint64
	if err := conn.QueryRow(ctx, "SELECT status, disposition, detection_severity, confidence, triaged_by, feedback, version FROM "+db+
		".alerts FINAL WHERE id = 'al-1'").Scan(&status, &disposition, &detSev, &conf, &triagedBy, &feedback, &version); err != nil {
		t.Fatal(err)
	}
	if status != record.StatusClosed || disposition != record.DispositionBenign || detSev != record.SeverityMedium ||
		conf != 0.9 || triagedBy != "llm" || feedback != "" || version != 3 {
		t.Errorf("alerts FINAL al-1 = %s %s %s %v %s %q v%d, want Closed Benign Medium 0.9 llm v3", status, disposition, detSev, conf, triagedBy, feedback, version)
	}

	// The triage run: one row per alert version under FINAL, the replay's.
	if n := count(t, conn, "SELECT count() FROM "+db+".triage_runs FINAL"); n != 2 {
		t.Errorf("triage_runs FINAL has %d rows, want 2", n)
	}
	var (
		id, by, provider, model, fallback, disp, sev, gate, detDisp string
		evidence, recActions                                        []string
		alertVersion, steps, toolCalls, promptTok, complTok         uint32
		latency                                                     float64
		st, fin                                                     time.Time
	)
	if err := conn.QueryRow(ctx, "SELECT id, alert_version, by, provider, model, fallback, disposition, severity, confidence, evidence, recommended_actions, "+
		"gate, deterministic_disposition, steps, tool_calls, prompt_tokens, completion_tokens, latency_ms, started, finished FROM "+db+
		".triage_runs FINAL WHERE alert_id = 'al-1'").Scan(&id, &alertVersion, &by, &provider, &model, &fallback, &disp, &sev, &conf,
		&evidence, &recActions, &gate, &detDisp, &steps, &toolCalls, &promptTok, &complTok, &latency, &st, &fin); err != nil {
		t.Fatal(err)
	}
	if id != record.TriageRunID("al-1", 2) || alertVersion != 2 || by != "llm" || provider != "openai" || model != "gpt-test" || fallback != "" ||
		disp != record.DispositionBenign || sev != record.SeverityMedium || conf != 0.9 || len(evidence) != 2 || evidence[0] != replay.Output.Evidence[0] ||
		len(recActions) != 0 || gate != "" || detDisp != record.DispositionSuspicious || steps != 2 || toolCalls != 2 ||
		promptTok != 1834 || complTok != 211 || latency != 2500 || !st.Equal(replay.Started.Truncate(time.Second)) ||
		fin.Sub(st) < 2*time.Second {
		t.Errorf("triage run row: %s v%d %s %s %s %q %s %s %v %v %v %q %s %d/%d %d/%d %v %v %v", id, alertVersion, by, provider, model, fallback,
			disp, sev, conf, evidence, recActions, gate, detDisp, steps, toolCalls, promptTok, complTok, latency, st, fin)
	}
	var recAll []string
	if err := conn.QueryRow(ctx, "SELECT recommended_actions, fallback FROM "+db+".triage_runs FINAL WHERE alert_id = 'al-2'").Scan(&recAll, &fallback); err != nil {
		t.Fatal(err)
	}
	if strings.Join(recAll, ",") != "suspend_user,clear_sessions" || fallback != "timeout" {
		t.Errorf("al-2 run: recommended %v fallback %q", recAll, fallback)
	}

	// The newest action state, with the responder's fields.
	var state, mode, guard, requestedBy, decidedBy, result string
	var attempts uint32
	var requested, expires, decided, executed time.Time
	if err := conn.QueryRow(ctx, "SELECT state, mode, guard, requested_by, decided_by, result, attempts, requested_at, expires_at, decided_at, executed_at, version FROM "+db+
		".actions FINAL WHERE id = '"+record.ActionID("al-2", record.KindSuspendUser)+"'").
		Scan(&state, &mode, &guard, &requestedBy, &decidedBy, &result, &attempts, &requested, &expires, &decided, &executed, &version); err != nil {
		t.Fatal(err)
	}
	if state != record.ActionSucceeded || mode != record.ModeApproval || guard != "" || requestedBy != "triage" || decidedBy != "analyst" ||
		!strings.Contains(result, "SUSPENDED") || attempts != 1 || version != 3 || !requested.Equal(started) ||
		!expires.Equal(started.Add(time.Hour)) || !decided.Equal(started.Add(5*time.Minute)) || !executed.Equal(started.Add(6*time.Minute)) {
		t.Errorf("actions FINAL suspend = %s %s %q %s %s %s %d v%d %v %v %v %v", state, mode, guard, requestedBy, decidedBy, result, attempts, version,
			requested, expires, decided, executed)
	}
	if err := conn.QueryRow(ctx, "SELECT state, guard, expires_at FROM "+db+".actions FINAL WHERE kind = 'clear_sessions' AND alert_id = 'al-2'").Scan(&state, &guard, &expires); err != nil {
		t.Fatal(err)
	}
	if state != record.ActionBlocked || guard != "protected_group" || expires.Unix() != 0 {
		t.Errorf("blocked action: %s %s %v", state, guard, expires)
	}

	// The README's example queries run, and answer what the data says.
	q := func(name string) string { return strings.ReplaceAll(readmeQueries[name], "clarion.", db+".") }
	for name := range readmeQueries {
		rows, err := conn.Query(ctx, q(name))
		if err != nil {
			t.Errorf("README query %s: %v", name, err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("README query %s: %v", name, err)
		}
		rows.Close()
		if n == 0 {
			t.Errorf("README query %s returned no rows", name)
		}
	}
	var closedDisp, closedBy string
	var closed uint64
	if err := conn.QueryRow(ctx, q("closed_by_triage")).Scan(&closedDisp, &closedBy, &closed); err != nil {
		t.Fatal(err)
	}
	if closedDisp != record.DispositionBenign || closedBy != "llm" || closed != 1 {
		t.Errorf("closed by triage: %s %s %d, want Benign llm 1", closedDisp, closedBy, closed)
	}
	var kind string
	var actions uint64
	var meanMinutes float64
	if err := conn.QueryRow(ctx, q("time_to_action")).Scan(&kind, &actions, &meanMinutes); err != nil {
		t.Fatal(err)
	}
	if kind != record.KindSuspendUser || actions != 1 || math.Abs(meanMinutes-8) > 0.01 {
		t.Errorf("time to action: %s %d %.2f min, want suspend_user 1 8.00", kind, actions, meanMinutes)
	}
}
