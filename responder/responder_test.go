package responder

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
)

const (
	kSuspend = record.KindSuspendUser
	kClear   = record.KindClearSessions
	ct       = record.DispositionConfirmedThreat
)

// checkVersions asserts an action's committed versions go 1, 2, 3, ...
// and end in the states given.
func checkVersions(t *testing.T, e *env, id string, states ...string) []record.Action {
	t.Helper()
	vs := e.versions(id)
	var got []string
	for i, a := range vs {
		got = append(got, a.State)
		if a.Version != uint64(i+1) {
			t.Errorf("version %d of %s is %d", i+1, id, a.Version)
		}
	}
	if !slices.Equal(got, states) {
		t.Fatalf("states of %s: %v, want %v", id, got, states)
	}
	return vs
}

// TestPolicyGate runs proposals through the default policy (plus a
// protected user) and checks the mode, guard, final state and what
// reached Okta.
func TestPolicyGate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ProtectedUsers = []string{"  BREAKGLASS@example.com "} })
	plain := e.org.users(t, 8, false)
	admin := e.org.users(t, 1, true)[0]
	protected := plain[7]
	// The protected-user list names a login: give this user that login.
	protected.Login = "breakglass@example.com"

	for i, tc := range []struct {
		name               string
		kind, sev, det     string
		analyst            bool
		user               sim.UserStatus
		state, mode, guard string
		oktaChanges        int
		wantUpdateApproval bool
	}{
		{"automatic: clear_sessions Critical, confirmed threat", kClear, record.SeverityCritical, ct, false, plain[0], record.ActionSucceeded, record.ModeAutomatic, "", 1, false},
		{"approval: suspend_user Critical", kSuspend, record.SeverityCritical, ct, false, plain[1], record.ActionPending, record.ModeApproval, "", 0, true},
		{"off: suspend_user Medium", kSuspend, record.SeverityMedium, ct, false, plain[2], record.ActionBlocked, record.ModeOff, GuardPolicyOff, 0, false},
		{"off: unknown severity", kClear, "Severe", ct, false, plain[2], record.ActionBlocked, record.ModeOff, GuardPolicyOff, 0, false},
		{"automatic downgraded: deterministic only Suspicious", kClear, record.SeverityCritical, record.DispositionSuspicious, false, plain[3], record.ActionPending, record.ModeApproval, GuardNotConfirmed, 0, true},
		{"automatic downgraded: the agent cannot confirm", kClear, record.SeverityCritical, record.DispositionBenign, false, plain[4], record.ActionPending, record.ModeApproval, GuardNotConfirmed, 0, true},
		{"automatic downgraded: an analyst asked", kClear, record.SeverityCritical, ct, true, plain[5], record.ActionPending, record.ModeApproval, "", 0, true},
		{"protected user (login, any case)", kClear, record.SeverityCritical, ct, false, protected, record.ActionPending, record.ModeApproval, GuardProtectedUser, 0, true},
		{"protected group: Okta Administrators", kClear, record.SeverityCritical, ct, false, admin, record.ActionPending, record.ModeApproval, GuardProtectedGroup, 0, true},
		{"protected group recorded on approvals too", kSuspend, record.SeverityHigh, ct, false, admin, record.ActionPending, record.ModeApproval, GuardProtectedGroup, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.org.changesOf(tc.user.ID)
			q := e.proposal(tc.kind, tc.sev, tc.det, tc.analyst, tc.user)
			if tc.name == "automatic downgraded: the agent cannot confirm" {
				// The agent's verdict says Confirmed Threat; only the
				// deterministic disposition counts.
				q.Basis.Verdict, q.Basis.VerdictBy = ct, "llm"
			}
			e.send(q)
			a := e.wait(q.ActionID, "final or pending", func(a record.Action) bool {
				return record.Final(a.State) || a.State == record.ActionPending
			})
			if a.State != tc.state || a.Mode != tc.mode || a.Guard != tc.guard {
				t.Fatalf("case %d: state %s mode %s guard %q; want %s %s %q (%+v)", i, a.State, a.Mode, a.Guard, tc.state, tc.mode, tc.guard, a)
			}
			if got := e.org.changesOf(tc.user.ID) - before; got != tc.oktaChanges {
				t.Fatalf("%d changes in Okta, want %d", got, tc.oktaChanges)
			}
			if a.State == record.ActionPending && !a.ExpiresAt.After(a.RequestedAt) {
				t.Fatalf("pending without a future expiry: %+v", a)
			}
			if tc.state == record.ActionSucceeded {
				var res okta.ActionRecord
				if err := json.Unmarshal(a.Result, &res); err != nil || !res.OK || len(res.Calls) < 2 || a.Attempts != 1 || a.DecidedBy != ByPolicy {
					t.Fatalf("result %s attempts %d decided by %q: %v", a.Result, a.Attempts, a.DecidedBy, err)
				}
			}
			if got := e.updates(q.AlertID); tc.wantUpdateApproval != slices.Contains(got, record.ActionRequiredApproval) {
				t.Fatalf("action_required updates %v", got)
			}
		})
	}
	if e.org.status(plain[1].ID) != sim.StatusActive {
		t.Fatal("a pending suspend changed the user")
	}
	if n := e.metric("clarion_responder_guard_blocks_total", "guard", GuardProtectedGroup); n != 2 {
		t.Fatalf("protected_group guard count %v", n)
	}
}

func TestDryRunNeverChangesOkta(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.DryRun = true
		c.Policy = Policy{kSuspend: {record.SeverityCritical: record.ModeAutomatic, record.SeverityHigh: record.ModeApproval}}
	})
	us := e.org.users(t, 2, false)
	auto := e.proposal(kSuspend, record.SeverityCritical, ct, false, us[0])
	appr := e.proposal(kSuspend, record.SeverityHigh, ct, false, us[1])
	e.send(auto, appr)
	a := e.waitState(auto.ActionID, record.ActionDryRun)
	if !a.DryRun || a.Mode != record.ModeAutomatic {
		t.Fatalf("%+v", a)
	}
	p := e.waitState(appr.ActionID, record.ActionPending)
	e.send(e.decision(record.RequestApprove, p, "approve-1"))
	e.waitState(appr.ActionID, record.ActionDryRun)
	checkVersions(t, e, appr.ActionID, record.ActionPending, record.ActionApproved, record.ActionDryRun)
	if n := e.org.calls.Load(); n != 0 {
		t.Fatalf("%d changing calls reached Okta in dry-run", n)
	}
	for _, u := range us {
		if e.org.status(u.ID) != sim.StatusActive {
			t.Fatal("dry-run suspended a user")
		}
	}
}

func TestHourlyCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxAutoPerHour = 2 })
	u := e.org.users(t, 1, false)[0]
	var ids []string
	for i := 0; i < 3; i++ {
		q := e.proposal(kClear, record.SeverityCritical, ct, false, u)
		e.send(q)
		ids = append(ids, q.ActionID)
		e.wait(q.ActionID, "decided", func(a record.Action) bool { return a.State != record.ActionExecuting })
	}
	for i, want := range []string{record.ActionSucceeded, record.ActionSucceeded, record.ActionPending} {
		a, _ := e.view.Action(ids[i])
		if a.State != want {
			t.Fatalf("action %d: %s, want %s", i, a.State, want)
		}
	}
	if a, _ := e.view.Action(ids[2]); a.Guard != GuardHourlyCap || a.Mode != record.ModeApproval {
		t.Fatalf("third action %+v", a)
	}
	// The cap survives a restart: it is rebuilt from clarion.actions.
	e.stop()
	e.start()
	q := e.proposal(kClear, record.SeverityCritical, ct, false, u)
	e.send(q)
	if a := e.waitState(q.ActionID, record.ActionPending); a.Guard != GuardHourlyCap {
		t.Fatalf("after restart: %+v", a)
	}
	if n := e.org.changesOf(u.ID); n != 2 {
		t.Fatalf("%d session clears, want 2", n)
	}
}

func TestApprovalTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ApprovalTimeout = 300 * time.Millisecond })
	u := e.org.users(t, 1, false)[0]
	q := e.proposal(kSuspend, record.SeverityCritical, ct, false, u)
	e.send(q)
	p := e.waitState(q.ActionID, record.ActionPending)
	e.waitState(q.ActionID, record.ActionExpired)
	// Counted once its transaction has committed, which the view may see first.
	e.waitMetric(1, "clarion_responder_expirations_total")
	if n := e.metric("clarion_responder_expirations_total"); n != 1 {
		t.Fatalf("expiration counted %v times, want 1", n)
	}
	// A late approve writes nothing and changes nothing.
	e.send(e.decision(record.RequestApprove, p, "late-approve"))
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "not_pending")
	checkVersions(t, e, q.ActionID, record.ActionPending, record.ActionExpired)
	if e.org.status(u.ID) != sim.StatusActive || e.org.calls.Load() != 0 {
		t.Fatal("a late approve acted")
	}
	if got := e.updates(q.AlertID); !slices.Equal(got, []string{record.ActionRequiredApproval, record.ActionRequiredNone}) {
		t.Fatalf("updates %v", got)
	}
}

func TestApproveAndReject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	us := e.org.users(t, 2, false)
	qa := e.proposal(kSuspend, record.SeverityCritical, ct, false, us[0])
	qr := e.proposal(kSuspend, record.SeverityHigh, ct, false, us[1])
	e.send(qa, qr)
	pa := e.waitState(qa.ActionID, record.ActionPending)
	pr := e.waitState(qr.ActionID, record.ActionPending)

	ap := e.decision(record.RequestApprove, pa, "approve-a")
	ap.Reason = "confirmed with the user's manager"
	e.send(ap)
	a := e.waitState(qa.ActionID, record.ActionSucceeded)
	if e.org.status(us[0].ID) != sim.StatusSuspended {
		t.Fatal("approved suspend did not suspend the user in the sim")
	}
	u, err := e.okta[testInteg].GetUser(t.Context(), us[0].ID)
	if err != nil || u.Status != okta.UserSuspended {
		t.Fatalf("GetUser: %+v %v", u, err)
	}
	if a.DecidedBy != approver.Name || a.Decider == nil || *a.Decider != approver || a.ExecutedAt.IsZero() || a.Attempts != 1 {
		t.Fatalf("%+v", a)
	}
	var res okta.ActionRecord
	if err := json.Unmarshal(a.Result, &res); err != nil || res.StatusBefore != okta.UserActive || res.StatusAfter != okta.UserSuspended {
		t.Fatalf("result %s", a.Result)
	}
	checkVersions(t, e, qa.ActionID, record.ActionPending, record.ActionApproved, record.ActionExecuting, record.ActionSucceeded)
	if got := e.updates(qa.AlertID); !slices.Equal(got, []string{record.ActionRequiredApproval, record.ActionRequiredNone}) {
		t.Fatalf("updates %v", got)
	}

	e.send(e.decision(record.RequestReject, pr, "reject-b"))
	r := e.waitState(qr.ActionID, record.ActionRejected)
	if r.DecidedBy != approver.Name || e.org.status(us[1].ID) != sim.StatusActive || e.org.changesOf(us[1].ID) != 0 {
		t.Fatalf("rejected action acted: %+v", r)
	}
	// Approve after reject: dropped, nothing written.
	e.send(e.decision(record.RequestApprove, pr, "approve-b"))
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "not_pending")
	checkVersions(t, e, qr.ActionID, record.ActionPending, record.ActionRejected)
	if e.metric("clarion_responder_pending_actions") != 0 {
		t.Fatal("pending gauge not back to 0")
	}
}

func TestOkta5xxRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.Policy = Policy{kSuspend: {record.SeverityCritical: record.ModeAutomatic}}
		c.Attempts = 4
	})
	us := e.org.users(t, 2, false)
	// The first two suspend calls answer 503 (the client does not retry
	// itself in this test): the third attempt succeeds.
	e.org.fail.Store(2)
	q := e.proposal(kSuspend, record.SeverityCritical, ct, false, us[0])
	e.send(q)
	a := e.waitState(q.ActionID, record.ActionSucceeded)
	if a.Attempts != 3 || e.org.status(us[0].ID) != sim.StatusSuspended {
		t.Fatalf("attempts %d status %s", a.Attempts, e.org.status(us[0].ID))
	}
	var res okta.ActionRecord
	if err := json.Unmarshal(a.Result, &res); err != nil {
		t.Fatal(err)
	}
	n503 := 0
	for _, c := range res.Calls {
		if c.StatusCode == 503 {
			n503++
		}
	}
	if n503 != 2 {
		t.Fatalf("result records %d 503 answers, want 2: %s", n503, a.Result)
	}
	// Okta keeps failing: failed after Attempts, with the error.
	e.org.fail.Store(100)
	q = e.proposal(kSuspend, record.SeverityCritical, ct, false, us[1])
	e.send(q)
	a = e.waitState(q.ActionID, record.ActionFailed)
	e.org.fail.Store(0)
	if a.Attempts != 4 || a.Error == "" || e.org.status(us[1].ID) != sim.StatusActive {
		t.Fatalf("%+v", a)
	}
	checkVersions(t, e, q.ActionID, record.ActionExecuting, record.ActionFailed)
}

func TestReplayedRequestsExecuteOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.Policy = Policy{kSuspend: {record.SeverityCritical: record.ModeAutomatic, record.SeverityHigh: record.ModeApproval}}
	})
	us := e.org.users(t, 2, false)
	auto := e.proposal(kSuspend, record.SeverityCritical, ct, false, us[0])
	e.send(auto, auto)
	e.waitState(auto.ActionID, record.ActionSucceeded)
	appr := e.proposal(kSuspend, record.SeverityHigh, ct, false, us[1])
	e.send(appr)
	p := e.waitState(appr.ActionID, record.ActionPending)
	ap := e.decision(record.RequestApprove, p, "approve-once")
	e.send(ap, ap, appr)
	e.waitState(appr.ActionID, record.ActionSucceeded)
	// The replayed approve and the replayed proposal are dropped.
	e.waitMetric(2, "clarion_responder_requests_dropped_total", "reason", "duplicate")
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "not_pending")
	for _, u := range us {
		if n := e.org.changesOf(u.ID); n != 1 {
			t.Fatalf("user %s: %d suspend calls, want 1", u.ID, n)
		}
	}
	checkVersions(t, e, auto.ActionID, record.ActionExecuting, record.ActionSucceeded)
	checkVersions(t, e, appr.ActionID, record.ActionPending, record.ActionApproved, record.ActionExecuting, record.ActionSucceeded)
}

func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u := e.org.users(t, 1, false)[0]
	q := e.proposal(kSuspend, record.SeverityCritical, ct, false, u)
	e.send(q)
	p := e.waitState(q.ActionID, record.ActionPending)
	e.stop()
	// While no responder runs: the proposal is replayed and the analyst
	// approves twice.
	ap := e.decision(record.RequestApprove, p, "approve-r")
	e.send(q, ap, ap)
	e.start()
	e.waitState(q.ActionID, record.ActionSucceeded)
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "not_pending")
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "duplicate")
	if n := e.org.changesOf(u.ID); n != 1 || e.org.status(u.ID) != sim.StatusSuspended {
		t.Fatalf("%d suspend calls, status %s", n, e.org.status(u.ID))
	}
	checkVersions(t, e, q.ActionID, record.ActionPending, record.ActionApproved, record.ActionExecuting, record.ActionSucceeded)
	// A second restart replays nothing.
	e.stop()
	e.start()
	e.send(ap)
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "not_pending")
	if n := e.org.changesOf(u.ID); n != 1 {
		t.Fatalf("%d suspend calls after the second restart", n)
	}
}

// TestResumeExecuting: a responder died after committing "executing" and
// before the result; the next one resumes the action, and an already
// suspended user is a no-op success.
func TestResumeExecuting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.stop()
	us := e.org.users(t, 2, false)
	// The second user was suspended by the dead responder's call.
	if _, err := e.okta[testInteg].SuspendUser(t.Context(), us[1].ID); err != nil {
		t.Fatal(err)
	}
	before := e.org.changesOf(us[1].ID)
	var ids []string
	for _, u := range us {
		q := e.proposal(kSuspend, record.SeverityCritical, ct, false, u)
		a := record.Action{ID: q.ActionID, AlertID: q.AlertID, IntegrationID: testInteg, User: q.User, Kind: kSuspend,
			State: record.ActionExecuting, Mode: record.ModeAutomatic, Basis: q.Basis, RequestedBy: "triage",
			RequestedAt: time.Now().UTC(), DecidedBy: ByPolicy, DecidedAt: time.Now().UTC(), Version: 1}
		writeAction(t, e, a)
		ids = append(ids, a.ID)
	}
	e.start()
	a0 := e.waitState(ids[0], record.ActionSucceeded)
	a1 := e.waitState(ids[1], record.ActionSucceeded)
	if a0.Version != 2 || a1.Version != 2 || e.org.status(us[0].ID) != sim.StatusSuspended {
		t.Fatalf("%+v %+v", a0, a1)
	}
	var res okta.ActionRecord
	if err := json.Unmarshal(a1.Result, &res); err != nil || !res.NoOp {
		t.Fatalf("resumed suspend of a suspended user: %s", a1.Result)
	}
	if e.org.changesOf(us[1].ID) != before {
		t.Fatal("the already suspended user was suspended again")
	}
}

// writeAction writes an action version as the responder would: to the
// clarion.actions partition of its key's requests partition.
func writeAction(t *testing.T, e *env, a record.Action) {
	t.Helper()
	b, _ := json.Marshal(a)
	rec, err := record.RequestRecord(&record.Request{ID: "x", Type: record.RequestApprove, ActionID: a.ID, IntegrationID: a.IntegrationID, User: a.User})
	if err != nil {
		t.Fatal(err)
	}
	// Both topics have the same partition count and the same default
	// partitioner: the key picks the same partition number on both.
	rec.Topic, rec.Value = "clarion.actions", b
	e.keys.signer(record.SignerResponder).Sign(rec)
	if err := e.raw.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidRequestsDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u := e.org.users(t, 1, false)[0]
	q := e.proposal(kSuspend, record.SeverityCritical, ct, false, u)
	q.ActionID = "forged-id" // not ActionID(alert, kind)
	rec, err := record.RequestRecord(q)
	if err != nil {
		t.Fatal(err)
	}
	bad := *rec
	bad.Value = []byte(`{"id": 1`)
	unknown := e.decision(record.RequestApprove, record.Action{ID: "nope", IntegrationID: testInteg, User: q.User}, "approve-unknown")
	urec, _ := record.RequestRecord(unknown)
	if err := e.prod.ProduceSync(t.Context(), rec, &bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := e.apiProd.ProduceSync(t.Context(), urec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "invalid")
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "malformed")
	e.waitMetric(1, "clarion_responder_requests_dropped_total", "reason", "unknown_action")
	if vs := e.versions("forged-id"); len(vs) != 0 {
		t.Fatalf("forged proposal wrote %v", vs)
	}
}

// TestLateApproveBeforeTheTimer: the clock passes ExpiresAt and an approve
// arrives; whether the timer or the approve is handled first, the action
// expires and nothing reaches Okta.
func TestLateApproveBeforeTheTimer(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := newEnv(t, func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	u := e.org.users(t, 1, false)[0]
	q := e.proposal(kSuspend, record.SeverityCritical, ct, false, u)
	e.send(q)
	p := e.waitState(q.ActionID, record.ActionPending)
	if d := p.ExpiresAt.Sub(p.RequestedAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("default approval timeout %v", d)
	}
	offset.Store(int64(2 * time.Hour))
	e.send(e.decision(record.RequestApprove, p, "approve-late"))
	e.waitState(q.ActionID, record.ActionExpired)
	deadline := time.Now().Add(30 * time.Second)
	for e.metric("clarion_responder_requests_dropped_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("late approve not dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkVersions(t, e, q.ActionID, record.ActionPending, record.ActionExpired)
	if e.org.calls.Load() != 0 || e.org.status(u.ID) != sim.StatusActive {
		t.Fatal("a late approve acted")
	}
}

// TestActionRequiredFollowsPending: the alert waits for approval while
// any of its actions is pending, and is told "none" once none is.
func TestActionRequiredFollowsPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u := e.org.users(t, 1, false)[0]
	qs := e.proposal(kSuspend, record.SeverityHigh, ct, false, u)
	qc := e.proposal(kClear, record.SeverityHigh, ct, false, u)
	qc.AlertID, qc.ActionID = qs.AlertID, record.ActionID(qs.AlertID, kClear)
	e.send(qs, qc)
	ps := e.waitState(qs.ActionID, record.ActionPending)
	pc := e.waitState(qc.ActionID, record.ActionPending)
	e.send(e.decision(record.RequestReject, ps, "reject-s"))
	e.waitState(qs.ActionID, record.ActionRejected)
	if got := e.updates(qs.AlertID); !slices.Equal(got, []string{"approval", "approval"}) {
		t.Fatalf("with one action still pending: %v", got)
	}
	e.send(e.decision(record.RequestApprove, pc, "approve-c"))
	e.waitState(qc.ActionID, record.ActionSucceeded)
	if got := e.updates(qs.AlertID); !slices.Equal(got, []string{"approval", "approval", "none"}) {
		t.Fatalf("updates %v", got)
	}
}

// TestTwoReplicas: two responders share the partitions; one stops and the
// other takes its partitions over, restoring their actions. Every action
// ends succeeded and every user is suspended once.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	pol := Policy{kSuspend: {record.SeverityCritical: record.ModeAutomatic}}
	e := newEnv(t, func(c *Config) { c.Policy, c.MaxAutoPerHour = pol, 100 })
	cfg := e.baseCfg
	cfg.TransactionalID = "responder-test-2"
	r2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r2.Run(ctx) }()
	// Wait until the group is split between the two.
	owned := func(r *Responder) int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.parts)
	}
	deadline := time.Now().Add(30 * time.Second)
	for owned(r2) == 0 || owned(e.resp) == 0 || owned(r2)+owned(e.resp) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions not split: %d and %d", owned(e.resp), owned(r2))
		}
		time.Sleep(20 * time.Millisecond)
	}
	us := e.org.users(t, 12, false)
	var ids []string
	for _, u := range us[:6] {
		q := e.proposal(kSuspend, record.SeverityCritical, ct, false, u)
		e.send(q)
		ids = append(ids, q.ActionID)
	}
	for _, id := range ids {
		e.waitState(id, record.ActionSucceeded)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, u := range us[6:] {
		q := e.proposal(kSuspend, record.SeverityCritical, ct, false, u)
		e.send(q, q)
		ids = append(ids, q.ActionID)
	}
	for _, id := range ids {
		e.waitState(id, record.ActionSucceeded)
		checkVersions(t, e, id, record.ActionExecuting, record.ActionSucceeded)
	}
	for _, u := range us {
		if n := e.org.changesOf(u.ID); n != 1 || e.org.status(u.ID) != sim.StatusSuspended {
			t.Fatalf("user %s: %d suspends, status %s", u.ID, n, e.org.status(u.ID))
		}
	}
}
