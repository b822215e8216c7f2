// Command e2e measures Clarion's whole pipeline in `clarion run`: from an
// Okta event hook delivery to the alert it causes, committed on
// clarion.alerts, under a steady background load.
//
// It starts the all-in-one target in this process (gateway, embedded Kafka,
// poller, processor, Parquet sink, exactly as `clarion run`), sends
// deliveries of realistic sign-ins at -rate events/s from a population of
// users with stable habits, and mixes in probes: sign-ins of new users from
// an anonymising proxy, each of which must raise an alert. The latency of a
// probe is from the start of its delivery's POST to the moment a
// read_committed consumer sees its alert. Usage:
//
//	go run ./bench/e2e -rate 5000 -duration 30s
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	gen "github.com/clarion-itdr/clarion/bench/internal/deliveries"
	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
)

func main() {
	var (
		rate      = flag.Int("rate", 5000, "background events per second")
		perDel    = flag.Int("events-per-delivery", 10, "events per delivery")
		duration  = flag.Duration("duration", 30*time.Second, "measured time")
		warmup    = flag.Duration("warmup", 5*time.Second, "load before measuring (builds user history)")
		probeRate = flag.Int("probes", 10, "probe sign-ins per second (each must raise an alert)")
		users     = flag.Int("users", 20000, "background users")
	)
	flag.Parse()

	dir, err := os.MkdirTemp("", "e2e-")
	check(err)
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(ctx, app.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", EmbeddedKafka: "127.0.0.1:0", AdminToken: "bench", Logger: log}, app.TargetAll)
	check(err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	in, secret, err := a.Store.Create(ctx, integration.CreateRequest{Name: "bench", TenantURL: "https://bench.okta.com", ClientID: "0oabench"}, false)
	check(err)
	url := integration.WebhookURL("http://"+a.Addr(), in.ID)

	// Alerts, read as a downstream consumer would.
	var mu sync.Mutex
	sent := map[string]time.Time{} // probe user -> POST start
	var lat []time.Duration
	measuring := atomic.Bool{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Brokers...), kgo.ConsumeTopics(bus.TopicAlerts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	check(err)
	defer cl.Close()
	go func() {
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				user := string(r.Key)[len(in.ID)+1:]
				mu.Lock()
				if t0, ok := sent[user]; ok {
					delete(sent, user)
					if measuring.Load() {
						lat = append(lat, now.Sub(t0))
					}
				}
				mu.Unlock()
			})
		}
	}()

	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var errs, events atomic.Int64
	post := func(body []byte, n int, probe string) {
		t0 := time.Now()
		if probe != "" {
			mu.Lock()
			sent[probe] = t0
			mu.Unlock()
		}
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(integration.DefaultAuthField, secret)
		resp, err := hc.Do(req)
		if err != nil {
			errs.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			errs.Add(1)
			return
		}
		events.Add(int64(n))
	}
	envelope := func(write func(b *bytes.Buffer)) []byte {
		var b bytes.Buffer
		b.WriteString(`{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://bench.okta.com/api/v1/eventHooks/who1","eventId":"e","data":{"events":[`)
		write(&b)
		b.WriteString("]}}")
		return b.Bytes()
	}

	// Background load: deliveries at a steady pace, sent concurrently.
	var probeN atomic.Int64
	load := func(d time.Duration) {
		deadline := time.Now().Add(d)
		interval := time.Duration(float64(time.Second) * float64(*perDel) / float64(*rate))
		probeEvery := time.Second / time.Duration(max(*probeRate, 1))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 256)
		rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
		next, nextProbe := time.Now(), time.Now()
		for time.Now().Before(deadline) {
			if now := time.Now(); now.Before(next) {
				time.Sleep(next.Sub(now))
			}
			next = next.Add(interval)
			body := envelope(func(b *bytes.Buffer) {
				for i := 0; i < *perDel; i++ {
					if i > 0 {
						b.WriteByte(',')
					}
					u := rng.IntN(*users)
					gen.WriteEventAt(b, rng, fmt.Sprintf("00ubg%011d", u), u, time.Now(), false)
				}
			})
			sem <- struct{}{}
			wg.Add(1)
			go func() { defer wg.Done(); post(body, *perDel, ""); <-sem }()
			if *probeRate > 0 && !time.Now().Before(nextProbe) {
				nextProbe = nextProbe.Add(probeEvery)
				user := fmt.Sprintf("00uprobe%011d", probeN.Add(1))
				pb := envelope(func(b *bytes.Buffer) { gen.WriteEventAt(b, rng, user, int(probeN.Load()), time.Now(), true) })
				sem <- struct{}{}
				wg.Add(1)
				go func() { defer wg.Done(); post(pb, 1, user); <-sem }()
			}
		}
		wg.Wait()
	}
	fmt.Fprintf(os.Stderr, "e2e: warming up %v at %d events/s\n", *warmup, *rate)
	load(*warmup)
	time.Sleep(2 * time.Second)
	mu.Lock()
	sent = map[string]time.Time{}
	mu.Unlock()
	events.Store(0)
	errs.Store(0)
	measuring.Store(true)
	fmt.Fprintf(os.Stderr, "e2e: measuring %v\n", *duration)
	start := time.Now()
	load(*duration)
	elapsed := time.Since(start)
	time.Sleep(3 * time.Second) // let the last probes' alerts arrive
	mu.Lock()
	missing := len(sent)
	ls := append([]time.Duration(nil), lat...)
	mu.Unlock()
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	pct := func(p float64) float64 {
		if len(ls) == 0 {
			return math.NaN()
		}
		return float64(ls[int(math.Ceil(p*float64(len(ls))))-1]) / 1e6
	}
	fmt.Printf("clarion run, hook to committed alert: %.0f events/s sent (target %d), %d probes alerted, %d without an alert after 3 s, %d failed deliveries\n",
		float64(events.Load())/elapsed.Seconds(), *rate, len(ls), missing, errs.Load())
	fmt.Printf("latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", pct(0.5), pct(0.9), pct(0.99), pct(1))
	cancel()
	<-done
	if errs.Load() > 0 || missing > 0 {
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}
