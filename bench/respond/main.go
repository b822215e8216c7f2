// Command respond measures Clarion's speed to act: from an alert to the
// automatic suspend executed in the Okta org, in `clarion run`.
//
// It starts the all-in-one target in this process (embedded Kafka,
// gateway, processor, triage with the deterministic triage, the responder
// with suspend_user automatic for Critical and High alerts) and a
// simulated Okta org (okta/sim) connected to it as `clarion demo` connects
// one: integration created through the API, service app and event hook
// registered in the org, 14 days of System Log history imported. Then it
// injects attacks one by one (the sim's POST /sim/attacks: the victim signs
// in at home, stolen credentials fail once and succeed from abroad on a new
// device), each on another user, and measures for each:
//
//   - alert → suspend: from the first version of the victim's alert on
//     clarion.alerts to the suspend_user action's `succeeded` version on
//     clarion.actions (both Kafka record timestamps, set by producers in
//     this process), which is written after Okta confirmed the user is
//     SUSPENDED;
//   - baseline, in the same run: okta.Client.SuspendUser called directly
//     on other users of the same org (the Okta round trips alone).
//
// Usage:
//
//	go run ./bench/respond -attacks 40
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/demo"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/sim"
	"github.com/clarion-itdr/clarion/processor"
	"github.com/clarion-itdr/clarion/responder"
)

func main() {
	var (
		attacks = flag.Int("attacks", 40, "attacks to inject (each on another user)")
		users   = flag.Int("users", 300, "users in the simulated org")
		wait    = flag.Duration("timeout", 20*time.Second, "give up on one attack after this long")
	)
	flag.Parse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	orgURL := "http://" + ln.Addr().String()
	s, err := sim.New(sim.Config{Users: *users, Seed: 7, OrgURL: orgURL, Logger: log})
	check(err)
	go http.Serve(ln, s)

	dir, err := os.MkdirTemp("", "respond-")
	check(err)
	defer os.RemoveAll(dir)
	rs := responder.DefaultSettings()
	rs.Policy = "suspend_user:Critical=automatic,High=automatic"
	rs.MaxAutoPerHour = 100000
	a, err := app.New(ctx, app.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", EmbeddedKafka: "127.0.0.1:0", AdminToken: "bench",
		AllowInsecureTenants: true, NoLake: true, Responder: rs, Logger: log}, app.TargetAll)
	check(err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	integ, err := demo.Connect(ctx, "http://"+a.Addr(), a.Token, orgURL, log)
	check(err)
	t0 := time.Now()
	demo.ImportHistory(ctx, a, integ, 14*24*time.Hour, log)
	go s.Run(ctx) // live traffic and the hook deliveries of the attacks
	waitProcessed(ctx, a.Brokers)
	fmt.Printf("history imported and processed in %s\n", time.Since(t0).Round(time.Millisecond))

	// Follow alerts and actions from now on.
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(bus.TopicAlerts, bus.TopicActions), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(50*time.Millisecond))
	check(err)
	defer cl.Close()
	var (
		mu        sync.Mutex
		firstSeen = map[string]time.Time{} // user id → first alert record
		suspended = map[string]time.Time{} // user id → succeeded suspend record
		other     = map[string]string{}    // user id → last state of a suspend that did not succeed
		lastAlert = map[string]string{}    // user id → the latest alert, summarized
	)
	go func() {
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				var v struct {
					User        record.UserRef `json:"user"`
					Kind        string         `json:"kind"`
					State       string         `json:"state"`
					Status      string         `json:"status"`
					Disposition string         `json:"disposition"`
					Severity    string         `json:"detection_severity"`
					Types       []string       `json:"types"`
				}
				if json.Unmarshal(r.Value, &v) != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch r.Topic {
				case bus.TopicAlerts:
					if _, ok := firstSeen[v.User.ID]; !ok {
						firstSeen[v.User.ID] = r.Timestamp
					}
					lastAlert[v.User.ID] = fmt.Sprintf("%s/%s %s %v", v.Status, v.Disposition, v.Severity, v.Types)
				case bus.TopicActions:
					if v.Kind == record.KindSuspendUser {
						if v.State == record.ActionSucceeded {
							suspended[v.User.ID] = r.Timestamp
						} else {
							other[v.User.ID] = v.State
						}
					}
				}
			})
		}
	}()
	time.Sleep(time.Second) // the consumer has its end offsets

	victims, spare := pickUsers(s, *attacks)
	var lat []float64
	failed := map[string]int{}
	for _, v := range victims {
		if _, err := s.InjectAttack(sim.AttackRequest{User: v, Kind: "impossible_travel"}); err != nil {
			check(err)
		}
		end := time.Now().Add(*wait)
		for {
			mu.Lock()
			f, okA := firstSeen[v]
			sAt, okS := suspended[v]
			st := other[v]
			la := lastAlert[v]
			mu.Unlock()
			if okA && okS {
				lat = append(lat, float64(sAt.Sub(f))/1e6)
				break
			}
			if time.Now().After(end) {
				failed[fmt.Sprintf("alert %q, suspend state %q", la, st)]++
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// Baseline: the Okta round trips of a suspend, directly.
	in, ok := a.Store.Get(integ)
	if !ok {
		check(fmt.Errorf("integration %s gone", integ))
	}
	oc, err := in.OktaClient(a.Key, a.OktaBase(log))
	check(err)
	var base []float64
	for _, u := range spare {
		t := time.Now()
		_, err := oc.SuspendUser(ctx, u)
		check(err)
		base = append(base, float64(time.Since(t))/1e6)
	}

	fmt.Printf("\n%-44s %6s %9s %9s %9s\n", "speed to act (ms)", "n", "p50", "p99", "max")
	row("alert → automatic suspend executed (Clarion)", lat)
	row("baseline: okta.Client.SuspendUser directly", base)
	if len(failed) > 0 {
		fmt.Printf("attacks without an executed suspend: %v\n", failed)
	}
	cancel()
	<-done
}

// pickUsers returns n victims and n other users, all ACTIVE, past the
// learning period, outside IT and Security (the protected admins).
func pickUsers(s *sim.Server, n int) (victims, spare []string) {
	now := time.Now()
	for _, u := range s.Users() {
		if u.Status != sim.StatusActive || u.Department == "IT" || u.Department == "Security" || u.ActiveFrom.After(now.Add(-10*24*time.Hour)) {
			continue
		}
		if len(victims) < n {
			victims = append(victims, u.ID)
		} else if len(spare) < n {
			spare = append(spare, u.ID)
		}
	}
	if len(victims) < n {
		check(fmt.Errorf("only %d eligible users for %d attacks: raise -users", len(victims), n))
	}
	return victims, spare
}

// waitProcessed waits until the processor has committed offsets at the end
// of clarion.okta.events, three times in a row.
const processTimeout = 30 * time.Second

func waitProcessed(ctx context.Context, brokers []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	check(err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	stable := 0
	for deadline := time.Now().Add(processTimeout); stable < 3; time.Sleep(500 * time.Millisecond) {
		ends, err1 := adm.ListEndOffsets(ctx, bus.TopicEvents)
		offs, err2 := adm.FetchOffsets(ctx, processor.DefaultGroup)
		if time.Now().After(deadline) {
			check(fmt.Errorf("the processor did not catch up within %s: ends %v committed %v (%v %v)", processTimeout, ends, offs, err1, err2))
		}
		if err1 != nil || err2 != nil {
			stable = 0
			continue
		}
		caught := true
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := offs.Lookup(bus.TopicEvents, o.Partition)
			// The last offset may be a transaction marker (the backfill
			// and the poller produce transactionally): never consumed.
			if o.Offset > 0 && (!ok || c.At < o.Offset-1) {
				caught = false
			}
		})
		if caught {
			stable++
		} else {
			stable = 0
		}
	}
}

func row(name string, ms []float64) {
	if len(ms) == 0 {
		fmt.Printf("%-44s %6d %9s %9s %9s\n", name, 0, "-", "-", "-")
		return
	}
	sort.Float64s(ms)
	q := func(p float64) float64 { return ms[int(math.Ceil(p*float64(len(ms))))-1] }
	fmt.Printf("%-44s %6d %9.1f %9.1f %9.1f\n", name, len(ms), q(0.50), q(0.99), ms[len(ms)-1])
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "respond:", err)
		os.Exit(1)
	}
}
