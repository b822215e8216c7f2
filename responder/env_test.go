package responder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
	"github.com/clarion-itdr/clarion/okta/sim/simtest"
)

const testInteg = "int-test"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// org is a simulated Okta org behind a server that counts lifecycle calls
// (POST .../lifecycle/*, DELETE .../sessions) per user and can fail the
// next n of them with 503.
type org struct {
	sim     *sim.Server
	srv     *httptest.Server
	fail    atomic.Int64
	mu      sync.Mutex
	changes map[string]int // user id → lifecycle calls answered 2xx by the sim
	calls   atomic.Int64   // every lifecycle call, failed ones too
}

func newOrg(t testing.TB) *org {
	t.Helper()
	s, err := sim.New(sim.Config{Users: 40, History: time.Hour, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	o := &org{sim: s, changes: map[string]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		change := strings.HasPrefix(r.URL.Path, "/api/v1/users/") &&
			((r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/lifecycle/")) ||
				(r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/sessions")))
		if change {
			o.calls.Add(1)
			if o.fail.Add(-1) >= 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			rec := &codeWriter{ResponseWriter: w}
			s.ServeHTTP(rec, r)
			if rec.code/100 == 2 {
				user := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/users/"), "/")[0]
				o.mu.Lock()
				o.changes[user]++
				o.mu.Unlock()
			}
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

func (o *org) changesOf(user string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changes[user]
}

// client registers an app in the sim and returns an Okta client for it.
// maxRetries < 0: the client does not retry 5xx itself.
func (o *org) client(t testing.TB, maxRetries int) *okta.Client {
	t.Helper()
	c, err := simtest.ServiceApp(o.sim, o.srv.URL, okta.Config{RetryBackoff: 5 * time.Millisecond, MaxRetries: maxRetries, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// users returns n distinct ACTIVE users, in IT/Security (Okta
// Administrators) when admins is set, else outside them.
func (o *org) users(t testing.TB, n int, admins bool) []sim.UserStatus {
	t.Helper()
	var out []sim.UserStatus
	for _, u := range o.sim.Users() {
		isAdmin := u.Department == "IT" || u.Department == "Security"
		if u.Status == sim.StatusActive && isAdmin == admins {
			out = append(out, u)
		}
	}
	if len(out) < n {
		t.Fatalf("the sim has %d matching users, want %d", len(out), n)
	}
	return out[:n]
}

func (o *org) status(user string) string {
	for _, u := range o.sim.Users() {
		if u.ID == user {
			return u.Status
		}
	}
	return ""
}

// clients maps integration ids to Okta clients.
type clients map[string]*okta.Client

func (c clients) Client(id string) (*okta.Client, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("unknown integration %q", id)
}

// env is a Kafka cluster, a simulated org, a responder and a view.
type env struct {
	t       testing.TB
	kafka   *bustest.Cluster
	org     *org
	okta    clients
	view    *View
	prod    *kgo.Client // signs as triage (proposals)
	apiProd *kgo.Client // signs as the API (decisions)
	proc    *kgo.Client // signs as the processor (alerts)
	raw     *kgo.Client // signs nothing: an attacker with broker access
	keys    *testKeys
	reg     *prometheus.Registry
	resp    *Responder
	stop    func()
	seq     atomic.Int64
	baseCfg Config
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, kafka: bustest.New(t, 3), org: newOrg(t), keys: newTestKeys(t)}
	e.okta = clients{testInteg: e.org.client(t, -1)}
	e.prod = bustest.Client(t, e.kafka.Brokers, e.keys.signer(record.SignerTriage).Opt())
	e.apiProd = bustest.Client(t, e.kafka.Brokers, e.keys.signer(record.SignerAPI).Opt())
	e.proc = bustest.Client(t, e.kafka.Brokers, e.keys.signer(record.SignerProcessor).Opt())
	e.raw = bustest.Client(t, e.kafka.Brokers)
	v, err := NewActionView(e.kafka.Brokers...)
	if err != nil {
		t.Fatal(err)
	}
	e.view = v
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.baseCfg = Config{
		Brokers: e.kafka.Brokers, Okta: e.okta, TransactionalID: "responder-test",
		RetryBackoff: 10 * time.Millisecond, Logger: quiet(),
		Signer: e.keys.signer(record.SignerResponder), Verifier: e.keys.verifier,
	}
	if mod != nil {
		mod(&e.baseCfg)
	}
	e.start()
	return e
}

// start runs a new Responder on the env's cluster (after stop: a restart).
func (e *env) start() {
	e.t.Helper()
	e.reg = prometheus.NewRegistry()
	cfg := e.baseCfg
	cfg.Registerer = e.reg
	r, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.resp = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(e.stop)
}

// proposal builds a proposal for user (a new alert each call, which the
// processor's producer writes to clarion.alerts with the severity given).
func (e *env) proposal(kind, severity, deterministic string, analyst bool, u sim.UserStatus) *record.Request {
	n := e.seq.Add(1)
	alert := fmt.Sprintf("alert-%d", n)
	e.alert(alert, u, severity)
	return &record.Request{
		ID: fmt.Sprintf("prop-%d", n), Type: record.RequestPropose, ActionID: record.ActionID(alert, kind),
		By: "triage", Reason: "test", Kind: kind, AlertID: alert, AlertVersion: 3, IntegrationID: testInteg,
		User: record.UserRef{ID: u.ID, Login: u.Login},
		Basis: &record.Basis{DetectionSeverity: severity, Deterministic: deterministic,
			Verdict: deterministic, VerdictBy: "deterministic", Analyst: analyst},
	}
}

// alert writes an alert of user u to clarion.alerts as the processor does
// (signed), and returns its record.
func (e *env) alert(id string, u sim.UserStatus, severity string) *kgo.Record {
	e.t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": id, "integration_id": testInteg, "user": record.UserRef{ID: u.ID, Login: u.Login},
		"status": record.StatusEscalated, "disposition": record.DispositionConfirmedThreat,
		"severity": severity, "detection_severity": severity, "version": 3,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	rec := &kgo.Record{Topic: bus.TopicAlerts, Key: bus.KeyFor(testInteg, u.ID), Value: b}
	if err := e.proc.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// send writes requests as Clarion does: proposals signed by triage,
// decisions signed by the API.
func (e *env) send(qs ...*record.Request) {
	e.t.Helper()
	for _, q := range qs {
		rec, err := record.RequestRecord(q)
		if err != nil {
			e.t.Fatal(err)
		}
		cl := e.prod
		if q.Type != record.RequestPropose {
			cl = e.apiProd
		}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			e.t.Fatal(err)
		}
	}
}

// approver is the principal of the decisions tests send.
var approver = record.Identity{ID: "https://idp.example/|ada", Name: "Ada Approver", Role: "approver", Via: "session"}

func (e *env) decision(typ string, a record.Action, id string) *record.Request {
	who := approver
	return &record.Request{ID: id, Type: typ, ActionID: a.ID, By: who.Name, IntegrationID: a.IntegrationID, User: a.User, Principal: &who}
}

// testKeys are the signers and verifier of one test, derived from a master
// key of its own.
type testKeys struct {
	t        testing.TB
	mk       *secrets.MasterKey
	verifier *record.Verifier
}

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	mk, err := secrets.NewMasterKey(secrets.RandomBytes(secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	v, err := record.DeriveVerifier(mk)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{t: t, mk: mk, verifier: v}
}

func (k *testKeys) signer(name string) *record.Signer {
	s, err := record.DeriveSigner(k.mk, name)
	if err != nil {
		k.t.Fatal(err)
	}
	return s
}

// wait returns action id once it satisfies ok (failing after 30 s).
func (e *env) wait(id string, what string, ok func(record.Action) bool) record.Action {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := e.view.Wait(ctx, id, ok)
	if err != nil {
		e.t.Fatalf("action %s never became %s; last seen %+v", id, what, a)
	}
	return a
}

func (e *env) waitState(id, state string) record.Action {
	e.t.Helper()
	return e.wait(id, state, func(a record.Action) bool { return a.State == state })
}

// metric sums the values of metric name (counter or gauge) whose labels
// include every label=value pair given.
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// waitMetric waits until metric name reaches at least want.
func (e *env) waitMetric(want float64, name string, labels ...string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.metric(name, labels...) < want {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s%v at %v, want %v", name, labels, e.metric(name, labels...), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// versions returns every committed version of action id, in order.
func (e *env) versions(id string) []record.Action {
	e.t.Helper()
	var out []record.Action
	for _, r := range consumeAll(e.t, e.kafka.Brokers, bus.TopicActions) {
		var a record.Action
		if err := json.Unmarshal(r.Value, &a); err != nil {
			e.t.Fatal(err)
		}
		if a.ID == id {
			out = append(out, a)
		}
	}
	return out
}

// updates returns the action_required updates sent to the processor.
func (e *env) updates(alertID string) []string {
	e.t.Helper()
	var out []string
	for _, r := range consumeAll(e.t, e.kafka.Brokers, bus.TopicEvents) {
		var u record.Update
		if !record.IsUpdate(r) || json.Unmarshal(r.Value, &u) != nil || u.AlertID != alertID {
			continue
		}
		out = append(out, u.ActionRequired)
	}
	return out
}

// consumeAll reads every committed record of topic (read_committed, up to
// the last stable offsets once no transaction is open, control records
// skipped).
func consumeAll(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	return bustest.ReadCommitted(t, brokers, topic, settledEnds, 20*time.Second)
}

// settledEnds is listEnds once no transaction is open on topic (the last
// stable offset has reached the high watermark everywhere), for at most
// 10 s. On Apache Kafka a transaction's markers land on each partition on
// their own: an action can be visible on clarion.actions while the same
// transaction's update on clarion.okta.events is not yet.
func settledEnds(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		lso, err := listEnds(ctx, cl, topic)
		if err != nil {
			return nil, err
		}
		hw, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err != nil {
			return nil, err
		}
		settled := true
		hw.Each(func(o kadm.ListedOffset) {
			if lso[o.Partition] != o.Offset {
				settled = false
			}
		})
		if settled || time.Now().After(deadline) {
			return lso, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listEnds(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	lo, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, lo.Error()
}
