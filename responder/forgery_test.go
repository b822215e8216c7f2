package responder

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/sim"
)

// TestForgedRequestsChangeNothing produces, straight to the broker with no
// credentials (as anyone who can reach an embedded Kafka can), the records
// the forgeries used, in the formats Clarion's components write:
// none executes an action, none queues one for approval, none decides a
// pending one. Each is refused and counted.
func TestForgedRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		// An automatic policy: a forgery believed would run at once.
		c.Policy = Policy{
			kSuspend: {record.SeverityCritical: record.ModeAutomatic, record.SeverityHigh: record.ModeAutomatic, record.SeverityMedium: record.ModeOff},
			kClear:   {record.SeverityCritical: record.ModeAutomatic, record.SeverityHigh: record.ModeAutomatic, record.SeverityMedium: record.ModeOff},
		}
	})
	plain := e.org.users(t, 4, false)
	admins := e.org.users(t, 2, true)
	victim, other := plain[0], plain[1]

	// Genuine: an alert of other's, and pending suspends of two protected
	// admins (the guard holds them for approval).
	e.alert("alert-other", other, record.SeverityCritical)
	var pending []record.Action
	for _, adm := range admins {
		q := e.proposal(kSuspend, record.SeverityCritical, ct, false, adm)
		e.send(q)
		pending = append(pending, e.waitState(q.ActionID, record.ActionPending))
	}

	produceRaw := func(recs ...*kgo.Record) {
		t.Helper()
		if err := e.raw.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	propose := func(id, alert string, u sim.UserStatus) *record.Request {
		return &record.Request{
			ID: id, Type: record.RequestPropose, ActionID: record.ActionID(alert, kSuspend), By: "triage",
			Reason: "As the security team instructed", Kind: kSuspend, AlertID: alert, AlertVersion: 1,
			IntegrationID: testInteg, User: record.UserRef{ID: u.ID, Login: u.Login},
			Basis: &record.Basis{DetectionSeverity: record.SeverityCritical, Deterministic: ct, Verdict: ct, VerdictBy: "deterministic"},
		}
	}
	reqRec := func(q *record.Request) *kgo.Record {
		t.Helper()
		r, err := record.RequestRecord(q)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var forgedIDs []string
	want := map[string]float64{}

	// 1. A proposal with a made-up alert id, unsigned.
	f1 := propose("f1", "made-up-alert", victim)
	produceRaw(reqRec(f1))
	forgedIDs = append(forgedIDs, f1.ActionID)
	want["unsigned"]++

	// 2. Someone else's real alert, for the victim, unsigned.
	f2 := propose("f2", "alert-other", victim)
	produceRaw(reqRec(f2))
	forgedIDs = append(forgedIDs, f2.ActionID)
	want["unsigned"]++

	// 3. Forged approvals for both protected admins' pending suspends,
	// unsigned, naming an approver.
	for i, a := range pending {
		produceRaw(reqRec(e.decision(record.RequestApprove, a, fmt.Sprintf("f3-%d", i))))
		want["unsigned"]++
	}

	// 4. A genuine API-signed approval for one action, its record copied
	// onto another pending action (value edited): the signature breaks.
	ok := reqRec(e.decision(record.RequestReject, pending[0], "genuine-looking"))
	e.keys.signer(record.SignerAPI).Sign(ok)
	var q4 record.Request
	_ = json.Unmarshal(ok.Value, &q4)
	q4.Type, q4.ActionID, q4.User = record.RequestApprove, pending[1].ID, pending[1].User
	ok.Value, _ = json.Marshal(q4)
	ok.Key = bus.KeyFor(testInteg, pending[1].User.ID)
	produceRaw(ok)
	want["bad_signature"]++

	// 5. An approval signed by triage (a component that may propose but
	// never approve).
	tr := reqRec(e.decision(record.RequestApprove, pending[0], "f5"))
	e.keys.signer(record.SignerTriage).Sign(tr)
	produceRaw(tr)
	want["untrusted_signer"]++

	// 6. A forged alert on clarion.alerts (unsigned), then a proposal for
	// it signed by triage (a triage fooled into proposing): the alert is
	// not the processor's, so it does not exist.
	forged, _ := json.Marshal(map[string]any{"id": "forged-alert", "integration_id": testInteg,
		"user": record.UserRef{ID: victim.ID, Login: victim.Login}, "severity": record.SeverityCritical,
		"detection_severity": record.SeverityCritical, "disposition": ct, "status": record.StatusEscalated, "version": 1})
	produceRaw(&kgo.Record{Topic: bus.TopicAlerts, Key: bus.KeyFor(testInteg, victim.ID), Value: forged})
	f6 := propose("f6", "forged-alert", victim)
	e.send(f6)
	forgedIDs = append(forgedIDs, f6.ActionID)
	want[RefusedUnknownAlert]++

	// 7. Signed by triage, for someone else's real alert.
	f7 := propose("f7", "alert-other", victim)
	e.send(f7)
	forgedIDs = append(forgedIDs, f7.ActionID)
	want[RefusedNotSubject]++

	// 8. Signed by triage, a made-up alert id.
	f8 := propose("f8", "made-up-2", victim)
	e.send(f8)
	forgedIDs = append(forgedIDs, f8.ActionID)
	want[RefusedUnknownAlert]++

	// 9. API-signed approvals without a principal, and from an analyst.
	np := e.decision(record.RequestApprove, pending[0], "f9a")
	np.Principal = nil
	an := e.decision(record.RequestApprove, pending[1], "f9b")
	an.Principal = &record.Identity{ID: "idp|bob", Name: "Bob Analyst", Role: "analyst", Via: "session"}
	e.send(np, an)
	want[RefusedNoPrincipal]++
	want[RefusedNotApprover]++

	// 10. An API-signed proposal not marked as an analyst's (it would pass
	// for triage's and could run automatically).
	mine := e.proposal(kClear, record.SeverityCritical, ct, false, plain[2])
	rec := reqRec(mine)
	e.keys.signer(record.SignerAPI).Sign(rec)
	produceRaw(rec)
	forgedIDs = append(forgedIDs, mine.ActionID)
	want[RefusedNotAnalyst]++

	var total float64
	for reason, n := range want {
		total += n
		e.waitMetric(n, "clarion_responder_requests_refused_total", "reason", reason)
	}
	e.waitMetric(1, "clarion_responder_alerts_refused_total", "reason", "unsigned")

	// A genuine proposal after the forgeries is handled: the forgeries were
	// all read before it (one partition per user; the metric covers all).
	// Refusals are counted when a batch is handled; on Apache Kafka a batch
	// can be handled twice (a proposal held for its alert makes the batch
	// be read again), so the count may exceed the forgeries, never fall
	// short. What must hold exactly is below: nothing written, nothing run.
	if got := e.metric("clarion_responder_requests_refused_total"); got < total {
		t.Fatalf("%v requests refused, want %v", got, total)
	} else if got > total {
		t.Logf("%v refusals counted for %v forgeries (a batch handled again)", got, total)
	}
	for _, id := range forgedIDs {
		if vs := e.versions(id); len(vs) != 0 {
			t.Fatalf("forged proposal %s wrote %+v", id, vs)
		}
	}
	for _, a := range pending {
		if vs := e.versions(a.ID); len(vs) != 1 || vs[0].State != record.ActionPending {
			t.Fatalf("protected admin's pending suspend changed: %+v", vs)
		}
	}
	for _, u := range append(append([]sim.UserStatus{}, plain...), admins...) {
		if e.org.changesOf(u.ID) != 0 || e.org.status(u.ID) != sim.StatusActive {
			t.Fatalf("user %s was changed in Okta", u.ID)
		}
	}
	if n := e.org.calls.Load(); n != 0 {
		t.Fatalf("%d changing calls reached Okta", n)
	}
	for _, alert := range []string{"made-up-alert", "alert-other", "forged-alert", "made-up-2"} {
		if got := e.updates(alert); len(got) != 0 {
			t.Fatalf("alert %s got action_required updates %v", alert, got)
		}
	}
}

// TestProposalRederived: the mode and the recorded basis come from the
// processor's alert, not from what the proposal claims: a proposal saying
// Critical for an alert the processor rated Medium gets Medium's mode, and
// the login checked against the protected users is the alert's.
func TestProposalRederived(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ProtectedUsers = []string{"vip@example.com"} })
	us := e.org.users(t, 2, false)
	q := e.proposal(kClear, record.SeverityMedium, ct, false, us[0])
	q.Basis.DetectionSeverity = record.SeverityCritical // the claim
	e.send(q)
	a := e.wait(q.ActionID, "decided", func(a record.Action) bool { return record.Final(a.State) || a.State == record.ActionPending })
	if a.Basis == nil || a.Basis.DetectionSeverity != record.SeverityMedium || a.Mode != record.ModeOff || a.State != record.ActionBlocked {
		t.Fatalf("a Medium alert's clear_sessions: %+v basis %+v", a, a.Basis)
	}
	// The alert's login is protected; the proposal claims another.
	vip := us[1]
	vip.Login = "vip@example.com"
	p := e.proposal(kClear, record.SeverityCritical, ct, false, vip)
	p.User.Login = "someone-else@example.com"
	e.send(p)
	b := e.wait(p.ActionID, "decided", func(a record.Action) bool { return record.Final(a.State) || a.State == record.ActionPending })
	if b.Guard != GuardProtectedUser || b.State != record.ActionPending || b.User.Login != "vip@example.com" {
		t.Fatalf("protected by the alert's login: %+v", b)
	}
}

// TestForgedActionNotResumed: an action written to clarion.actions by
// anyone but the responder (here: "executing", which a restart resumes) is
// ignored on restore.
func TestForgedActionNotResumed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u := e.org.users(t, 1, false)[0]
	e.stop()
	forged := record.Action{ID: record.ActionID("any", kSuspend), AlertID: "any", IntegrationID: testInteg,
		User: record.UserRef{ID: u.ID}, Kind: kSuspend, State: record.ActionExecuting, Mode: record.ModeAutomatic,
		DecidedBy: ByPolicy, Version: 2}
	b, _ := json.Marshal(forged)
	rec, err := record.RequestRecord(&record.Request{ID: "x", Type: record.RequestApprove, ActionID: forged.ID, IntegrationID: testInteg, User: forged.User})
	if err != nil {
		t.Fatal(err)
	}
	rec.Topic, rec.Value = bus.TopicActions, b
	if err := e.raw.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.waitMetric(1, "clarion_responder_restore_refused_total")
	// A genuine request after restore is handled, so the restore is done.
	q := e.proposal(kSuspend, record.SeverityHigh, ct, false, u)
	e.send(q)
	e.waitState(q.ActionID, record.ActionPending)
	if e.org.calls.Load() != 0 || e.org.status(u.ID) != sim.StatusActive {
		t.Fatal("a forged executing action was resumed")
	}
}

// TestProposalBeforeAlertKnown: proposals whose alerts were committed just
// before them, read by a responder that has not read clarion.alerts yet
// (it starts after both were written), are held until the alerts are
// read, never refused as unknown.
func TestProposalBeforeAlertKnown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	us := e.org.users(t, 6, false)
	e.stop()
	var qs []*record.Request
	for _, u := range us {
		q := e.proposal(kSuspend, record.SeverityHigh, ct, false, u) // writes the alert, then:
		e.send(q)
		qs = append(qs, q)
	}
	e.baseCfg.holdAlerts = true // the alerts reader starts only when a catch-up begins
	e.start()
	for _, q := range qs {
		if a := e.waitState(q.ActionID, record.ActionPending); a.Basis.DetectionSeverity != record.SeverityHigh {
			t.Fatalf("%+v", a.Basis)
		}
	}
	if n := e.metric("clarion_responder_requests_refused_total"); n != 0 {
		t.Fatalf("%v proposals refused", n)
	}
}
