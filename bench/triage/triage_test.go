package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/okta/sim"
	"github.com/clarion-itdr/clarion/okta/sim/simtest"
	"github.com/clarion-itdr/clarion/processor/detect"
	"github.com/clarion-itdr/clarion/triage"
)

// targetP99 is the figure: triage outside the LLM (tools plus
// policy), p99 per alert.
const targetP99 = 50 * time.Millisecond

type fixture struct {
	client *okta.Client
	alerts []benchAlert
}

type benchAlert struct {
	alert     *triage.Alert
	anomalies []triage.Anomaly
}

func (f *fixture) Client(string) (*okta.Client, error) { return f.client, nil }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setup starts a simulated org of 200 users with 14 days of history (the
// oktasim defaults) and builds one alert per user from that user's real
// sign-ins, so every tool reads real events: an impossible-travel attack
// for even users, a routine unusual time for odd ones.
var setup = sync.OnceValues(func() (*fixture, error) {
	s, err := sim.New(sim.Config{Users: 200, Logger: discard()})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(s) // closed with the process
	c, err := simtest.ServiceApp(s, srv.URL, okta.Config{Logger: discard()})
	if err != nil {
		return nil, err
	}
	f := &fixture{client: c}
	// Every user's last sign-ins, read once through the System Log API.
	ctx := context.Background()
	last := map[string][]logevent.Event{}
	u := c.LogsURL(okta.LogQuery{Since: time.Now().Add(-3 * 24 * time.Hour), Filter: `eventType eq "user.session.start" and outcome.result eq "SUCCESS"`})
	for u != "" {
		p, err := c.LogsPage(ctx, u)
		if err != nil {
			return nil, err
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(p.Body, &raws); err != nil {
			return nil, err
		}
		for _, r := range raws {
			var ev logevent.Event
			if logevent.Parse(r, &ev) == nil && ev.ActorID != "" {
				last[ev.ActorID] = append(last[ev.ActorID], ev)
			}
		}
		if len(raws) < okta.MaxLogsLimit {
			break
		}
		u = p.Next
	}
	for i, us := range s.Users() {
		evs := last[us.ID]
		if len(evs) < 2 {
			continue
		}
		a, b := evs[len(evs)-2], evs[len(evs)-1]
		f.alerts = append(f.alerts, build(us.ID, us.Login, i%2 == 0, a, b))
	}
	if len(f.alerts) < 50 {
		return nil, fmt.Errorf("only %d users with two sign-ins in 3 days", len(f.alerts))
	}
	return f, nil
})

func ref(ev logevent.Event) triage.SigninRef {
	lat, lon := ev.Lat, ev.Lon
	return triage.SigninRef{UUID: ev.UUID, Published: ev.PublishedRaw, Outcome: ev.Outcome, IP: ev.IP, City: ev.City,
		Country: ev.Country, Lat: &lat, Lon: &lon, ASN: uint32(ev.ASN), ISP: ev.ISP, Proxy: ev.IsProxy,
		Browser: ev.Browser, OS: ev.OS, Device: ev.DeviceType}
}

func build(id, login string, attack bool, prev, cur logevent.Event) benchAlert {
	user := record.UserRef{ID: id, Login: login}
	al := &triage.Alert{Alert: detect.Alert{ID: "bench-" + id, IntegrationID: "integ-bench", User: user, Status: record.StatusNew, Version: 1,
		Disposition: record.DispositionUnknown, Severity: record.SeverityLow, DetectionSeverity: record.SeverityLow}}
	var ans []triage.Anomaly
	add := func(typ string, score float64, ev triage.Evidence) {
		an := triage.Anomaly{ID: typ + "-" + id, Type: typ, IntegrationID: "integ-bench", User: user, EventUUID: cur.UUID,
			Published: cur.PublishedRaw, Score: score, Evidence: ev, AlertID: al.ID, Sentence: "bench " + typ}
		ans = append(ans, an)
		al.Anomalies = append(al.Anomalies, triage.AnomalyRef{ID: an.ID, Type: typ})
		al.Types = append(al.Types, typ)
	}
	if attack {
		al.Severity, al.DetectionSeverity = record.SeverityCritical, record.SeverityCritical
		add("impossible_travel", 0.95, triage.Evidence{Signins: []triage.SigninRef{ref(prev), ref(cur)}, DistanceKm: 9000, Hours: 0.5, SpeedKmh: 18000, FailuresBefore: 6})
		add("new_network", 0.7, triage.Evidence{Signins: []triage.SigninRef{ref(cur)}, KnownNetworks: 2, FailuresBefore: 6})
	} else {
		add("unusual_time", 0.5, triage.Evidence{Signins: []triage.SigninRef{ref(cur)}, BaselineSignins: 60, HistoryDays: 14})
	}
	al.AnomalyCount = len(ans)
	return benchAlert{alert: al, anomalies: ans}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTriageOverhead triages one alert per op with no LLM: the four
// tools against the simulated org over HTTP, the rules and the gate.
// Reports p50-ms and p99-ms per alert and, for comparison in the same
// run, the target (target-p99-ms).
func BenchmarkTriageOverhead(b *testing.B) {
	f, err := setup()
	if err != nil {
		b.Fatal(err)
	}
	tr, err := triage.New(triage.Config{Okta: f, Logger: discard()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Warm up: the OAuth token with DPoP nonce is fetched once per client.
	tr.Triage(ctx, f.alerts[0].alert, f.alerts[0].anomalies)
	lat := make([]time.Duration, 0, b.N)
	errs := 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := f.alerts[i%len(f.alerts)]
		t0 := time.Now()
		res := tr.Triage(ctx, x.alert, x.anomalies)
		lat = append(lat, time.Since(t0))
		for _, tc := range res.Run.Steps[0].ToolCalls {
			if tc.Error != "" {
				errs++
			}
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if errs > 0 {
		b.Fatalf("%d tool calls failed", errs)
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(targetP99.Milliseconds()), "target-p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
