// Package responder benchmarks Clarion's response stage: from a proposal on
// clarion.responder.requests (automatic mode) to the suspend executed in
// the simulated Okta org, through the real parts: Kafka (kfake), the
// responder's transactions, the Okta client with OAuth + DPoP, and the
// simulator over HTTP.
//
// Run (the integrator re-measures on a quiet machine):
//
//	go test -run '^$' -bench . -benchtime 200x ./bench/responder/
//
// Metrics: executed-p50-ms / executed-p99-ms (proposal produced → the sim
// answered the suspend POST), committed-p50-ms / committed-p99-ms (→ the
// succeeded action version is readable read_committed on clarion.actions),
// and p99-of-2s-budget: committed p99 over the 2 s budget for the
// whole alert → executed suspend chain (the responder's share of it). The
// baseline in the same run, baseline=direct-okta-suspend, is the Okta
// client's SuspendUser called directly against the same sim: the floor.
package responder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
	"github.com/clarion-itdr/clarion/okta/sim/simtest"
	"github.com/clarion-itdr/clarion/responder"
)

const integ = "int-bench"

type oneClient struct{ c *okta.Client }

func (o oneClient) Client(id string) (*okta.Client, error) {
	if id != integ {
		return nil, fmt.Errorf("unknown integration %q", id)
	}
	return o.c, nil
}

func BenchmarkProposalToSuspend(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	kafka := bustest.New(b, 3)
	s, err := sim.New(sim.Config{Users: 200, History: time.Hour, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	// The org answers through a wrapper that notes when each suspend POST
	// was answered.
	var mu sync.Mutex
	executed := map[string]chan time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r)
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/lifecycle/suspend") {
			user := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/users/"), "/")[0]
			mu.Lock()
			if ch := executed[user]; ch != nil {
				select {
				case ch <- time.Now():
				default:
				}
			}
			mu.Unlock()
		}
	}))
	b.Cleanup(srv.Close)

	oc, err := simtest.ServiceApp(s, srv.URL, okta.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	var pool []string
	for _, u := range s.Users() {
		if u.Status == sim.StatusActive && u.Department != "IT" && u.Department != "Security" {
			pool = append(pool, u.ID)
		}
	}

	policy, err := responder.ParsePolicy("suspend_user:Critical=automatic")
	if err != nil {
		b.Fatal(err)
	}
	mk, err := secrets.NewMasterKey(secrets.RandomBytes(secrets.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := record.DeriveVerifier(mk)
	if err != nil {
		b.Fatal(err)
	}
	signer := func(name string) *record.Signer {
		s, err := record.DeriveSigner(mk, name)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	r, err := responder.New(responder.Config{
		Brokers: kafka.Brokers, Okta: oneClient{oc}, Policy: policy, MaxAutoPerHour: 1 << 30,
		TransactionalID: "responder-bench", Logger: quiet,
		Signer: signer(record.SignerResponder), Verifier: verifier,
	})
	if err != nil {
		b.Fatal(err)
	}
	view, err := responder.NewActionView(kafka.Brokers...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	go func() { defer wg.Done(); _ = view.Run(ctx) }()
	b.Cleanup(func() { cancel(); wg.Wait() })
	prod := bustest.Client(b, kafka.Brokers, signer(record.SignerTriage).Opt())
	proc := bustest.Client(b, kafka.Brokers, signer(record.SignerProcessor).Opt())

	run := func(i int) (exec, commit time.Duration) {
		user := pool[i%len(pool)]
		if st := statusOf(s, user); st != sim.StatusActive {
			if _, err := oc.UnsuspendUser(ctx, user); err != nil {
				b.Fatal(err)
			}
		}
		ch := make(chan time.Time, 1)
		mu.Lock()
		executed[user] = ch
		mu.Unlock()
		alert := fmt.Sprintf("bench-alert-%d", i)
		q := &record.Request{
			ID: "bench-" + alert, Type: record.RequestPropose, ActionID: record.ActionID(alert, record.KindSuspendUser),
			By: "triage", Kind: record.KindSuspendUser, AlertID: alert, IntegrationID: integ, User: record.UserRef{ID: user},
			Basis: &record.Basis{DetectionSeverity: record.SeverityCritical, Deterministic: record.DispositionConfirmedThreat,
				Verdict: record.DispositionConfirmedThreat, VerdictBy: "deterministic"},
		}
		rec, err := record.RequestRecord(q)
		if err != nil {
			b.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		// The processor's alert comes first (the responder takes the
		// subject and severity from it), as triage reads it before
		// proposing.
		ab, _ := json.Marshal(map[string]any{"id": alert, "integration_id": integ, "user": record.UserRef{ID: user},
			"severity": record.SeverityCritical, "detection_severity": record.SeverityCritical, "version": 1})
		if err := proc.ProduceSync(wctx, &kgo.Record{Topic: bus.TopicAlerts, Key: bus.KeyFor(integ, user), Value: ab}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := prod.ProduceSync(wctx, rec).FirstErr(); err != nil {
			b.Fatal(err)
		}
		a, err := view.Wait(wctx, q.ActionID, func(a record.Action) bool { return record.Final(a.State) })
		if err != nil || a.State != record.ActionSucceeded {
			b.Fatalf("action %+v: %v", a, err)
		}
		commit = time.Since(t0)
		select {
		case t1 := <-ch:
			exec = t1.Sub(t0)
		case <-wctx.Done():
			b.Fatal("the suspend never reached the sim")
		}
		return exec, commit
	}
	// Warm up: the group join, the first token (OAuth + DPoP nonce).
	run(0)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	n := 1

	// Baseline, same run: the Okta client's own SuspendUser against the
	// same sim (read user, POST suspend, read user), the floor any
	// responder pays.
	b.Run("baseline=direct-okta-suspend", func(b *testing.B) {
		var ds []time.Duration
		for i := 0; i < b.N; i++ {
			user := pool[n%len(pool)]
			n++
			if statusOf(s, user) != sim.StatusActive {
				if _, err := oc.UnsuspendUser(ctx, user); err != nil {
					b.Fatal(err)
				}
			}
			t0 := time.Now()
			if _, err := oc.SuspendUser(ctx, user); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		b.ReportMetric(ms(pct(ds, 50)), "p50-ms")
		b.ReportMetric(ms(pct(ds, 99)), "p99-ms")
	})

	b.Run("proposal-to-suspend", func(b *testing.B) {
		var execs, commits []time.Duration
		for i := 0; i < b.N; i++ {
			e, c := run(n)
			n++
			execs = append(execs, e)
			commits = append(commits, c)
		}
		b.ReportMetric(ms(pct(execs, 50)), "executed-p50-ms")
		b.ReportMetric(ms(pct(execs, 99)), "executed-p99-ms")
		b.ReportMetric(ms(pct(commits, 50)), "committed-p50-ms")
		b.ReportMetric(ms(pct(commits, 99)), "committed-p99-ms")
		b.ReportMetric(float64(pct(commits, 99))/float64(2*time.Second), "p99-of-2s-budget")
	})
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(min(i, len(s))-1, 0)]
}

func statusOf(s *sim.Server, id string) string {
	for _, u := range s.Users() {
		if u.ID == id {
			return u.Status
		}
	}
	return ""
}
