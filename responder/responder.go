// Package responder takes response actions in Okta (suspend a user, clear
// their sessions) under a policy that humans control. It is the only
// reader of clarion.responder.requests and the only writer of
// clarion.actions.
//
// # Input and output
//
// Requests (record.Request) are proposals from triage and analysts, and
// approve/reject decisions from the API. Each action (id =
// record.ActionID(alert, kind)) is written to clarion.actions as a series of
// versions, Version 1, 2, ... per id:
//
//	pending_approval → approved → executing → succeeded | failed
//	pending_approval → rejected | expired
//	executing → succeeded | failed            (automatic)
//	blocked | dry_run                          (final at once)
//
// # Trust (trust.go, alerts.go, docs/trust.md)
//
// Before the gate, every request's signature is checked: proposals must be
// signed by triage or the API (an API proposal must be an analyst's),
// approvals and rejections by the API with a principal holding the
// approver role. A proposal's subject and detection severity are then
// re-derived from the processor's signed alert on clarion.alerts, which
// the responder reads whole: a proposal for an alert the processor never
// wrote, or for a user who is not the alert's subject, is refused; the
// gate below runs on the alert's severity and login, never the
// proposal's claims. Refusals write nothing and are counted in
// clarion_responder_requests_refused_total.
//
// # The policy gate
//
// mode = Policy[kind][Basis.DetectionSeverity] (the alert's). "automatic" stands only when
// Basis.Deterministic is Confirmed Threat and the request does not come from
// an analyst (Basis.Analyst); otherwise it becomes approval (guard
// not_confirmed_threat, or none for an analyst's request). Nothing the triage
// agent says can make an action automatic. Then the guards, in order:
// policy off → blocked (policy_off); a protected user (id or login) or a
// member of a protected group (okta.Client.UserGroups; a lookup that fails
// counts as protected: protected_group_unchecked) → approval, never
// automatic, and the record names the guard so the analyst sees it; the
// hourly cap of automatic executions per integration → approval
// (hourly_cap); dry-run → dry_run, Okta is never changed (group lookups,
// which only read, still run so the record shows what would happen).
// Approvals expire after ApprovalTimeout (expired); an approve that arrives
// later writes nothing. Approve or reject of an action that is not pending
// writes nothing either: the request is dropped with a log line and
// clarion_responder_requests_dropped_total (the API answers 409 first when
// its view already shows the action decided).
//
// # Exactly once
//
// Requests are consumed in a franz-go GroupTransactSession: the action
// versions a batch produces, the alert updates it sends the processor
// (action_required) and the batch's consumer offsets commit in one Kafka
// transaction. On assignment the responder restores the assigned
// partitions' actions (the latest version of each) from clarion.actions
// read_committed before it handles a request, so a restart, a rebalance or
// a replayed request sees every decision already committed: a replayed
// proposal is a duplicate, a replayed approve finds the action no longer
// pending. clarion.actions is partitioned like the requests: an action is
// written to the clarion.actions partition with the number of the request
// partition it came from (both topics are keyed by integration/user, so a
// user's actions stay in order); clarion.actions must have at least as many
// partitions as clarion.responder.requests (bus.Topics creates both alike),
// which Run checks.
//
// Execution results and expirations that arrive with no request to
// consume are committed in a transaction of their own (no offsets); the
// revocation callback waits for such a transaction to end, so a
// partition's next owner always restores after it (see endOnly).
//
// Okta calls are side effects outside Kafka transactions. An action is
// committed as executing before Okta is called, and its result (succeeded or
// failed, with every call and Okta's answer in Result) is committed in a
// later transaction. A responder that dies in between finds the action in
// executing when it restarts (or another instance does after a rebalance)
// and runs it again: SuspendUser and ClearSessions are idempotent (an
// already SUSPENDED user is a successful no-op), so a resumed action changes
// Okta at most once. Retriable failures (okta.IsRetriable) are retried
// Attempts times with backoff on top of the client's own per-call retries.
//
// # Hourly cap and replicas
//
// The cap counts automatic executions decided on the request partitions an
// instance owns, restored from clarion.actions on assignment, so it
// survives restarts. With one responder (clarion run, or one replica) it is
// exactly "per integration per hour". With R replicas sharing the group,
// each enforces the cap over its own partitions, so an integration's
// cluster-wide bound is at most R × MaxAutoPerHour; divide the setting by
// the replica count for a strict global bound.
//
// Hazard: clarion.actions is not compacted and is read whole on every
// assignment; give it a retention (weeks) if it grows large. A proposal
// for an action id whose versions have aged out is treated as new.
package responder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
)

// Guards recorded in Action.Guard.
const (
	GuardPolicyOff               = "policy_off"
	GuardProtectedUser           = "protected_user"
	GuardProtectedGroup          = "protected_group"
	GuardProtectedGroupUnchecked = "protected_group_unchecked"
	GuardHourlyCap               = "hourly_cap"
	GuardNotConfirmed            = "not_confirmed_threat"
)

// Who decided, in Action.DecidedBy, when no analyst did.
const (
	ByPolicy    = "policy"    // an automatic decision of the policy gate
	ByResponder = "responder" // expiry
)

// Responder runs the response stage. Create it with New, run it with Run.
type Responder struct {
	cfg       Config
	log       *slog.Logger
	m         *metrics
	protUsers map[string]bool
	protGrps  map[string]bool
	sem       chan struct{}
	alerts    *alertBook  // what clarion.alerts says (trust.go)
	alertCl   *kgo.Client // reads clarion.alerts; set by Run

	// txnMu is held by offset-less transactions and by the revocation
	// callback (see endOnly). Taken before mu.
	txnMu sync.Mutex

	mu         sync.Mutex
	parts      map[int32]*part
	restoreErr error
	inflight   map[string]bool
	results    []result
	wake       context.CancelFunc // cancels the poll in progress
	runCtx     context.Context
	wg         sync.WaitGroup
}

// part is the state of one requests partition: the latest version of each
// of its actions, the pending ones, and its automatic executions (for the
// hourly cap).
type part struct {
	actions map[string]*record.Action
	pending map[string]*record.Action
	auto    map[string][]time.Time // integration → automatic decisions
}

func newPart() *part {
	return &part{actions: map[string]*record.Action{}, pending: map[string]*record.Action{}, auto: map[string][]time.Time{}}
}

// set installs a as the latest version of its action. Final versions are
// kept without their Okta result (only the state matters afterwards).
func (p *part) set(a *record.Action) {
	if record.Final(a.State) {
		c := *a
		c.Result, c.Basis = nil, nil
		a = &c
	}
	p.actions[a.ID] = a
	if a.State == record.ActionPending {
		p.pending[a.ID] = a
	} else {
		delete(p.pending, a.ID)
	}
}

// result is the outcome of executing one action in Okta.
type result struct {
	id        string
	partition int32
	state     string
	attempts  int
	rec       *okta.ActionRecord
	errText   string
	at        time.Time
	took      time.Duration
}

// New validates cfg and returns a Responder.
func New(cfg Config) (*Responder, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	r := &Responder{
		cfg: cfg, log: cfg.Logger, m: m,
		protUsers: map[string]bool{}, protGrps: map[string]bool{},
		sem:      make(chan struct{}, cfg.Concurrency),
		parts:    map[int32]*part{},
		inflight: map[string]bool{},
	}
	r.alerts = newAlertBook(cfg.Verifier, cfg.Logger, m, cfg.MaxAlerts)
	if cfg.holdAlerts {
		r.alerts.hold = make(chan struct{})
	}
	for _, u := range cfg.ProtectedUsers {
		r.protUsers[strings.ToLower(strings.TrimSpace(u))] = true
	}
	for _, g := range cfg.ProtectedGroups {
		r.protGrps[strings.ToLower(strings.TrimSpace(g))] = true
	}
	return r, nil
}

// Run consumes requests and acts until ctx is cancelled (returning nil).
// A transaction that cannot end ends its session; Run then drops the
// in-memory state and starts a new session after a backoff, which restores
// the state from clarion.actions. Only errors before the first session
// (topics missing or misconfigured) are returned. Executions in progress
// are cancelled when ctx ends; their actions stay executing and are
// resumed by the next run.
func (r *Responder) Run(ctx context.Context) error {
	if err := bus.CheckStateTopics(ctx, r.cfg.Brokers, r.log, bus.TopicResponderRequests, bus.TopicActions, r.cfg.ClientOpts...); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("responder: %w", err)
	}
	acl, err := newAlertClient(r.cfg.Brokers, r.log, r.cfg.ClientOpts)
	if err != nil {
		return err
	}
	defer acl.Close()
	actx, stopAlerts := context.WithCancel(ctx)
	alertsDone := make(chan struct{})
	go func() { defer close(alertsDone); r.alerts.run(actx, acl) }()
	defer func() { stopAlerts(); <-alertsDone }()
	r.mu.Lock()
	r.runCtx = ctx
	r.alertCl = acl
	r.mu.Unlock()
	defer r.wg.Wait()
	// A static member does not leave the group when its client closes.
	defer func() {
		if ctx.Err() != nil {
			bus.LeaveGroup(r.cfg.Brokers, r.cfg.Group, r.cfg.TransactionalID, r.log, r.cfg.ClientOpts...)
		}
	}()
	backoff := time.Second
	for {
		err := r.runSession(ctx)
		r.dropAll()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			return nil
		}
		r.m.restarts.Inc()
		r.log.Error("responder session failed; starting a new one", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if backoff < 30*time.Second {
			backoff *= 2
		}
	}
}

func (r *Responder) dropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.parts)
	r.restoreErr = nil
	r.m.pending.Set(0)
}

// txn collects what one transaction writes and what to do once it commits.
type txn struct {
	produce  func(*kgo.Record)
	written  []*record.Action
	dispatch []dispatchItem
	applied  []string             // results applied (inflight ids to clear on commit)
	left     map[string]leftAlert // alerts an action of which left pending_approval
}

type leftAlert struct {
	a         *record.Action
	partition int32
}

type dispatchItem struct {
	a         record.Action
	partition int32
}

func (r *Responder) runSession(ctx context.Context) error {
	opts := bus.TransactOpts(bus.TransactSpec{
		Brokers: r.cfg.Brokers, ClientID: "clarion-responder", TransactionalID: r.cfg.TransactionalID,
		Group: r.cfg.Group, Input: bus.TopicResponderRequests, State: bus.TopicActions,
		OnAssigned: r.assigned, OnRevoked: r.revoked, Logger: r.log,
	})
	opts = append(opts, r.cfg.ClientOpts...)
	opts = append(opts, r.cfg.Signer.Opt())
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("responder: client: %w", err)
	}
	defer sess.Close()
	r.log.Info("responder started", "group", r.cfg.Group, "transactional_id", r.cfg.TransactionalID,
		"policy", r.cfg.Policy.String(), "dry_run", r.cfg.DryRun, "max_auto_per_hour", r.cfg.MaxAutoPerHour)

	for {
		fs := r.poll(ctx, sess)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		if err := r.takeRestoreErr(); err != nil {
			return err
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				r.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		results := r.takeResults()
		now := r.cfg.Now().UTC()
		if fs.NumRecords() == 0 && len(results) == 0 && !r.expiryDue(now) {
			continue
		}
		if fs.NumRecords() == 0 {
			// Only results and expiries: no offsets to commit.
			if err := r.endOnly(ctx, sess.Client(), results, now); err != nil {
				return err
			}
			continue
		}
		// Protected-group lookups are Okta calls: made before the state
		// lock, for the batch's proposals.
		reqs := r.parse(fs)
		if err := r.knowAlerts(ctx, reqs); err != nil {
			r.requeue(results)
			return err
		}
		groups := r.lookupGroups(ctx, reqs)

		if err := sess.Begin(); err != nil {
			r.requeue(results)
			return fmt.Errorf("responder: begin transaction: %w", err)
		}
		// The first failed produce aborts the buffered records and the
		// transaction: offsets are never committed without their outputs.
		prod := kgo.AbortingFirstErrPromise(sess.Client())
		tx := &txn{
			produce: func(rec *kgo.Record) { sess.Produce(ctx, rec, prod.Promise()) },
			left:    map[string]leftAlert{},
		}
		missing := r.apply(reqs, groups, results, now, tx)
		try := kgo.TryCommit
		if missing {
			try = kgo.TryAbort
		}
		prodErr := bus.FlushProduced(ctx, sess.Client(), prod)
		if prodErr != nil {
			try = kgo.TryAbort
		}
		committed, err := sess.End(ctx, try)
		if err == nil && prodErr != nil {
			err = fmt.Errorf("a record could not be produced; transaction aborted: %w", prodErr)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil || !committed {
			r.requeue(results)
			if err != nil {
				r.m.txns.WithLabelValues("failed").Inc()
				return fmt.Errorf("responder: end transaction: %w", err)
			}
			r.m.txns.WithLabelValues("aborted").Inc()
			r.log.Info("transaction aborted (rebalance); restoring actions from clarion.actions")
			if err := r.reloadOwned(ctx); err != nil {
				return err
			}
			continue
		}
		r.m.txns.WithLabelValues("committed").Inc()
		r.committed(tx)
	}
}

// endOnly writes execution results and expirations in a transaction that
// commits no offsets. It runs the client's transaction directly rather
// than through the session: the session's End, with no offsets to commit,
// holds its lock for 500 ms after committing (franz-go's guard for brokers
// without KIP-447), which would delay the next batch. The session's
// guarantee that a transaction spanning a revocation aborts is kept by
// txnMu instead: the revocation callback waits for this transaction to
// end, so the partition's next owner restores after it.
func (r *Responder) endOnly(ctx context.Context, cl *kgo.Client, results []result, now time.Time) error {
	r.txnMu.Lock()
	defer r.txnMu.Unlock()
	if err := cl.BeginTransaction(); err != nil {
		r.requeue(results)
		return fmt.Errorf("responder: begin transaction: %w", err)
	}
	var prodErr bus.FirstErr
	tx := &txn{
		produce: func(rec *kgo.Record) {
			cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { prodErr.Set(err) })
		},
		left: map[string]leftAlert{},
	}
	r.apply(nil, nil, results, now, tx)
	err := cl.Flush(ctx)
	if err == nil {
		err = prodErr.Err()
	}
	try := kgo.TryCommit
	if err != nil {
		try = kgo.TryAbort
		if ferr := cl.AbortBufferedRecords(ctx); ferr != nil && ctx.Err() == nil {
			r.log.Warn("abort buffered records", "err", ferr)
		}
	}
	eerr := cl.EndTransaction(ctx, try)
	if ctx.Err() != nil {
		return nil
	}
	if eerr != nil {
		r.requeue(results)
		r.m.txns.WithLabelValues("failed").Inc()
		return fmt.Errorf("responder: end transaction: %w", eerr)
	}
	if err != nil {
		// A produce failed and the transaction aborted: the state in
		// memory is ahead of Kafka; restore it.
		r.requeue(results)
		r.m.txns.WithLabelValues("aborted").Inc()
		r.log.Warn("transaction aborted after a failed produce; restoring actions", "err", err)
		return r.reloadOwned(ctx)
	}
	r.m.txns.WithLabelValues("committed").Inc()
	r.committed(tx)
	return nil
}

// poll waits for requests, for the next approval deadline, or for an
// execution result, whichever comes first.
func (r *Responder) poll(ctx context.Context, sess *kgo.GroupTransactSession) kgo.Fetches {
	deadline := r.cfg.Now().Add(5 * time.Second)
	r.mu.Lock()
	for _, p := range r.parts {
		for _, a := range p.pending {
			if a.ExpiresAt.Before(deadline) {
				deadline = a.ExpiresAt
			}
		}
	}
	pctx, cancel := context.WithTimeout(ctx, max(deadline.Sub(r.cfg.Now()), time.Millisecond))
	if len(r.results) > 0 {
		cancel()
	}
	r.wake = cancel
	r.mu.Unlock()
	fs := sess.PollRecords(pctx, r.cfg.MaxPollRecords)
	r.mu.Lock()
	r.wake = nil
	r.mu.Unlock()
	cancel()
	return fs
}

func (r *Responder) takeRestoreErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.restoreErr
	r.restoreErr = nil
	return err
}

func (r *Responder) takeResults() []result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.results
	r.results = nil
	return out
}

func (r *Responder) requeue(rs []result) {
	if len(rs) == 0 {
		return
	}
	r.mu.Lock()
	r.results = append(rs, r.results...)
	r.mu.Unlock()
}

func (r *Responder) expiryDue(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.parts {
		for _, a := range p.pending {
			if !now.Before(a.ExpiresAt) {
				return true
			}
		}
	}
	return false
}

// request is one consumed request record, parsed.
type request struct {
	partition int32
	q         record.Request
	err       string // drop reason, if the record is unusable
	refused   string // trust-check refusal (trust.go), if any
	signer    string // who signed it
}

func (r *Responder) parse(fs kgo.Fetches) []request {
	var out []request
	fs.EachRecord(func(rec *kgo.Record) {
		rq := request{partition: rec.Partition}
		if err := json.Unmarshal(rec.Value, &rq.q); err != nil {
			rq.err = "malformed"
		} else if err := validRequest(&rq.q); err != nil {
			rq.err = "invalid"
			r.log.Warn("dropping invalid request", "partition", rec.Partition, "offset", rec.Offset, "err", err)
		} else {
			r.checkRequest(rec, &rq)
		}
		out = append(out, rq)
	})
	return out
}

func validRequest(q *record.Request) error {
	if q.ID == "" || q.ActionID == "" || q.IntegrationID == "" || q.User.ID == "" {
		return errors.New("request without id, action_id, integration_id or user.id")
	}
	switch q.Type {
	case record.RequestPropose:
		if q.Kind != record.KindSuspendUser && q.Kind != record.KindClearSessions {
			return fmt.Errorf("unknown action kind %q", q.Kind)
		}
		if q.AlertID == "" || q.Basis == nil {
			return errors.New("proposal without alert_id or basis")
		}
		if q.ActionID != record.ActionID(q.AlertID, q.Kind) {
			return errors.New("proposal whose action_id is not ActionID(alert_id, kind)")
		}
	case record.RequestApprove, record.RequestReject:
	default:
		return fmt.Errorf("unknown request type %q", q.Type)
	}
	return nil
}

// groupCheck is the outcome of a protected-group lookup.
type groupCheck struct {
	protected string // the protected group the user is in
	err       error
}

// lookupGroups reads the groups of every user a proposal in reqs may act
// on (one lookup per user and batch).
func (r *Responder) lookupGroups(ctx context.Context, reqs []request) map[string]groupCheck {
	if len(r.protGrps) == 0 {
		return nil
	}
	type lookup struct{ integ, user string }
	todo := map[string]lookup{}
	for _, rq := range reqs {
		q := &rq.q
		if rq.err != "" || rq.refused != "" || q.Type != record.RequestPropose || r.cfg.Policy.Mode(q.Kind, q.Basis.DetectionSeverity) == record.ModeOff {
			continue
		}
		todo[q.IntegrationID+"/"+q.User.ID] = lookup{q.IntegrationID, q.User.ID}
	}
	out := make(map[string]groupCheck, len(todo))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(r.cfg.Concurrency)
	for key, l := range todo {
		g.Go(func() error {
			gc := r.userGroups(ctx, l.integ, l.user)
			mu.Lock()
			out[key] = gc
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func (r *Responder) userGroups(ctx context.Context, integ, user string) groupCheck {
	cl, err := r.cfg.Okta.Client(integ)
	if err != nil {
		return groupCheck{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.GroupTimeout)
	defer cancel()
	gs, err := cl.UserGroups(ctx, user)
	if err != nil {
		return groupCheck{err: err}
	}
	for _, g := range gs {
		if r.protGrps[strings.ToLower(g.Name)] {
			return groupCheck{protected: g.Name}
		}
	}
	return groupCheck{}
}

// apply handles a batch under the state lock: requests, execution results
// and expirations. It reports whether a request's partition has no state
// here (revoked while fetched): the transaction must then abort.
func (r *Responder) apply(reqs []request, groups map[string]groupCheck, results []result, now time.Time, tx *txn) (missing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range reqs {
		rq := &reqs[i]
		p := r.parts[rq.partition]
		if p == nil {
			missing = true
			continue
		}
		if rq.err != "" {
			r.m.dropped.WithLabelValues(rq.err).Inc()
			continue
		}
		if rq.refused != "" {
			r.m.refused.WithLabelValues(rq.refused).Inc()
			continue
		}
		switch rq.q.Type {
		case record.RequestPropose:
			r.propose(p, rq.partition, &rq.q, groups[rq.q.IntegrationID+"/"+rq.q.User.ID], now, tx)
		default:
			r.decide(p, rq.partition, &rq.q, now, tx)
		}
	}
	for _, res := range results {
		r.applyResult(res, tx)
	}
	for n, p := range r.parts {
		for _, a := range p.pending {
			if !now.Before(a.ExpiresAt) {
				na := next(a)
				na.State, na.DecidedBy, na.DecidedAt = record.ActionExpired, ByResponder, now
				r.write(p, n, na, tx)
				r.log.Info("approval expired", "action", a.ID, "kind", a.Kind, "alert", a.AlertID, "expired_at", a.ExpiresAt)
			}
		}
	}
	// action_required=none for alerts with nothing pending any more.
	for alertID, l := range tx.left {
		p := r.parts[l.partition]
		if p == nil || hasPending(p, alertID) {
			continue
		}
		r.sendUpdate(l.a, record.ActionRequiredNone, tx)
	}
	return missing
}

func hasPending(p *part, alertID string) bool {
	for _, a := range p.pending {
		if a.AlertID == alertID {
			return true
		}
	}
	return false
}

// next returns a copy of a as its next version.
func next(a *record.Action) *record.Action {
	c := *a
	c.Version++
	return &c
}

// write produces a's new version in the transaction and installs it.
func (r *Responder) write(p *part, partition int32, a *record.Action, tx *txn) {
	b, err := json.Marshal(a)
	if err != nil {
		r.log.Error("encode action", "action", a.ID, "err", err)
		return
	}
	prev := p.actions[a.ID]
	tx.produce(&kgo.Record{Topic: bus.TopicActions, Partition: partition, Key: bus.KeyFor(a.IntegrationID, a.User.ID), Value: b})
	p.set(a)
	tx.written = append(tx.written, a)
	if prev != nil && prev.State == record.ActionPending && a.State != record.ActionPending {
		tx.left[a.AlertID] = leftAlert{a, partition}
	}
}

func (r *Responder) sendUpdate(a *record.Action, required string, tx *txn) {
	rec, err := record.UpdateRecord(&record.Update{
		Kind: record.UpdateActionRequired, AlertID: a.AlertID, IntegrationID: a.IntegrationID,
		User: a.User, AlertVersion: a.AlertVersion, By: "responder", ActionRequired: required,
	})
	if err != nil {
		r.log.Error("alert update", "alert", a.AlertID, "err", err)
		return
	}
	tx.produce(rec)
}

// propose runs the policy gate on a new proposal.
func (r *Responder) propose(p *part, partition int32, q *record.Request, gc groupCheck, now time.Time, tx *txn) {
	if prev := p.actions[q.ActionID]; prev != nil {
		r.m.dropped.WithLabelValues("duplicate").Inc()
		r.log.Info("proposal for an existing action ignored", "action", q.ActionID, "state", prev.State, "request", q.ID)
		return
	}
	a := &record.Action{
		ID: q.ActionID, AlertID: q.AlertID, AlertVersion: q.AlertVersion, IntegrationID: q.IntegrationID,
		User: q.User, Kind: q.Kind, Reason: q.Reason, Basis: q.Basis,
		RequestedBy: q.By, RequestedAt: q.At, Version: 1, DryRun: r.cfg.DryRun,
	}
	if a.RequestedAt.IsZero() {
		a.RequestedAt = now
	}
	mode, guard := r.gate(q, gc, now)
	a.Mode, a.Guard = mode, guard
	if gc.err != nil && guard == GuardProtectedGroupUnchecked {
		a.Error = "protected-group check failed: " + gc.err.Error()
	}
	if guard != "" {
		r.m.guards.WithLabelValues(guard).Inc()
	}
	switch mode {
	case record.ModeOff:
		a.State = record.ActionBlocked
	case record.ModeApproval:
		a.State = record.ActionPending
		a.ExpiresAt = now.Add(r.cfg.ApprovalTimeout)
	case record.ModeAutomatic:
		a.DecidedBy, a.DecidedAt = ByPolicy, now
		p.auto[a.IntegrationID] = append(p.auto[a.IntegrationID], now)
		if r.cfg.DryRun {
			a.State = record.ActionDryRun
		} else {
			a.State = record.ActionExecuting
			tx.dispatch = append(tx.dispatch, dispatchItem{*a, partition})
		}
	}
	r.write(p, partition, a, tx)
	if a.State == record.ActionPending {
		r.sendUpdate(a, record.ActionRequiredApproval, tx)
	}
	r.log.Info("action proposed", "action", a.ID, "kind", a.Kind, "alert", a.AlertID, "user", a.User.ID,
		"mode", a.Mode, "state", a.State, "guard", a.Guard, "by", q.By)
}

// gate is the policy gate: the mode an action gets and the guard that
// shaped it.
func (r *Responder) gate(q *record.Request, gc groupCheck, now time.Time) (mode, guard string) {
	mode = r.cfg.Policy.Mode(q.Kind, q.Basis.DetectionSeverity)
	if mode == record.ModeOff {
		return record.ModeOff, GuardPolicyOff
	}
	if mode == record.ModeAutomatic && (q.Basis.Deterministic != record.DispositionConfirmedThreat || q.Basis.Analyst) {
		mode = record.ModeApproval
		if !q.Basis.Analyst {
			guard = GuardNotConfirmed
		}
	}
	// Protection is recorded for approvals too, so the analyst sees it.
	switch {
	case r.protUsers[strings.ToLower(q.User.ID)] || (q.User.Login != "" && r.protUsers[strings.ToLower(q.User.Login)]):
		return record.ModeApproval, GuardProtectedUser
	case gc.protected != "":
		return record.ModeApproval, GuardProtectedGroup
	case gc.err != nil:
		return record.ModeApproval, GuardProtectedGroupUnchecked
	}
	if mode == record.ModeAutomatic && r.autoCount(q.IntegrationID, now) >= r.cfg.MaxAutoPerHour {
		return record.ModeApproval, GuardHourlyCap
	}
	return mode, guard
}

// autoCount counts automatic decisions for integ in the hour before now on
// every owned partition, forgetting older ones.
func (r *Responder) autoCount(integ string, now time.Time) int {
	n := 0
	from := now.Add(-time.Hour)
	for _, p := range r.parts {
		ts := p.auto[integ]
		i := 0
		for i < len(ts) && !ts[i].After(from) {
			i++
		}
		if i > 0 {
			ts = ts[i:]
			p.auto[integ] = ts
		}
		n += len(ts)
	}
	return n
}

// decide applies an approve or reject.
func (r *Responder) decide(p *part, partition int32, q *record.Request, now time.Time, tx *txn) {
	a := p.actions[q.ActionID]
	switch {
	case a == nil:
		r.m.dropped.WithLabelValues("unknown_action").Inc()
		r.log.Warn("decision for an unknown action dropped", "action", q.ActionID, "type", q.Type, "request", q.ID)
		return
	case a.State != record.ActionPending:
		r.m.dropped.WithLabelValues("not_pending").Inc()
		r.log.Warn("decision for an action that is not pending dropped", "action", q.ActionID, "type", q.Type, "state", a.State, "request", q.ID)
		return
	case !now.Before(a.ExpiresAt):
		na := next(a)
		na.State, na.DecidedBy, na.DecidedAt = record.ActionExpired, ByResponder, now
		r.write(p, partition, na, tx)
		r.m.dropped.WithLabelValues("expired").Inc()
		r.log.Warn("decision after the approval expired dropped", "action", q.ActionID, "type", q.Type, "expired_at", a.ExpiresAt, "request", q.ID)
		return
	}
	// checkRequest made sure an API-signed principal with the approver
	// role asked.
	by := q.Principal.Name
	if by == "" {
		by = q.Principal.ID
	}
	decider := *q.Principal
	decidedAt := q.At
	if decidedAt.IsZero() || decidedAt.After(now) {
		decidedAt = now
	}
	na := next(a)
	na.DecidedBy, na.DecidedAt, na.Decider = by, decidedAt, &decider
	if q.Reason != "" {
		na.Reason = strings.TrimSpace(na.Reason + "; " + q.Type + " reason: " + q.Reason)
	}
	if q.Type == record.RequestReject {
		na.State = record.ActionRejected
		r.write(p, partition, na, tx)
		r.log.Info("action rejected", "action", a.ID, "by", by)
		return
	}
	na.State = record.ActionApproved
	r.write(p, partition, na, tx)
	ex := next(na)
	if ex.DryRun {
		ex.State = record.ActionDryRun
	} else {
		ex.State = record.ActionExecuting
		tx.dispatch = append(tx.dispatch, dispatchItem{*ex, partition})
	}
	r.write(p, partition, ex, tx)
	r.log.Info("action approved", "action", a.ID, "by", by, "state", ex.State)
}

// applyResult writes an execution's outcome, if the action is still this
// instance's and still executing.
func (r *Responder) applyResult(res result, tx *txn) {
	p := r.parts[res.partition]
	var a *record.Action
	if p != nil {
		a = p.actions[res.id]
	}
	if a == nil || (a.State != record.ActionExecuting && a.State != record.ActionApproved) {
		// Revoked meanwhile: the new owner resumes it.
		delete(r.inflight, res.id)
		return
	}
	na := next(a)
	na.State, na.Attempts, na.ExecutedAt, na.Error = res.state, res.attempts, res.at, res.errText
	if res.rec != nil {
		if b, err := json.Marshal(res.rec); err == nil {
			na.Result = b
		}
	}
	r.write(p, res.partition, na, tx)
	tx.applied = append(tx.applied, res.id)
	r.m.execSeconds.WithLabelValues(a.Kind, res.state).Observe(res.took.Seconds())
}

// committed runs after a transaction commits: metrics, and the executions
// it decided.
func (r *Responder) committed(tx *txn) {
	for _, a := range tx.written {
		r.m.actions.WithLabelValues(a.Kind, a.State).Inc()
		if a.State == record.ActionExpired {
			// Counted here, not where decided: an aborted transaction
			// (retried after a restore) must not count it twice.
			r.m.expirations.Inc()
		}
	}
	r.mu.Lock()
	for _, id := range tx.applied {
		delete(r.inflight, id)
	}
	r.updatePendingLocked()
	r.mu.Unlock()
	for _, d := range tx.dispatch {
		r.dispatch(d.a, d.partition)
	}
}

func (r *Responder) updatePendingLocked() {
	n := 0
	for _, p := range r.parts {
		n += len(p.pending)
	}
	r.m.pending.Set(float64(n))
}
