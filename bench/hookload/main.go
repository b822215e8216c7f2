// Command hookload measures the event hook gateway under load, against the
// ceiling of HTTP on the same machine, in one run.
//
// It replays realistic Okta deliveries (1 to 20 events each, about 2 KB per
// event, Okta's envelope) at a fixed concurrency and reports deliveries/s,
// events/s and p50/p99/max latency for:
//
//   - ceiling: a bare net/http server that reads the body and answers 200;
//   - gateway: Clarion's gateway with the embedded Kafka (acks=all,
//     idempotent producer, persistence under a temporary data dir), created
//     in this process as `clarion run` creates them; the downstream
//     consumers (processor, sinks) are not started, so that the figure is
//     the ingest path's alone (bench/e2e measures the whole pipeline).
//
// Or, with -url, against an already running gateway (-secret, and -url being
// the webhook URL). Usage:
//
//	go run ./bench/hookload -concurrency 64 -duration 10s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gen "github.com/clarion-itdr/clarion/bench/internal/deliveries"
	"github.com/clarion-itdr/clarion/ingest/gateway"
	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	var (
		concurrency = flag.Int("concurrency", 64, "concurrent senders")
		duration    = flag.Duration("duration", 10*time.Second, "measured time per target")
		warmup      = flag.Duration("warmup", 2*time.Second, "unmeasured load before each measurement")
		mode        = flag.String("mode", "both", "ceiling, gateway, both, or all (both plus presplit: producing pre-split records without parsing)")
		url         = flag.String("url", "", "webhook URL of a running gateway (instead of starting one)")
		secret      = flag.String("secret", "", "authentication secret for -url")
		minEvents   = flag.Int("min-events", 1, "fewest events per delivery")
		maxEvents   = flag.Int("max-events", 20, "most events per delivery")
		jsonOut     = flag.Bool("json", false, "print results as JSON")
		cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile of the measured gateway run to this file")
		linger      = flag.Duration("linger", 0, "producer linger of the gateway and the presplit reference (0: the product default, app.Config.ProduceLinger)")
	)
	flag.Parse()
	lingerFlag = *linger
	if *concurrency < 1 || *minEvents < 1 || *maxEvents < *minEvents || *duration <= 0 {
		fmt.Fprintln(os.Stderr, "hookload: bad flags")
		os.Exit(2)
	}
	deliveries := gen.Make(512, *minEvents, *maxEvents)
	var results []result
	run := func(name, target string, hdr http.Header) {
		fmt.Fprintf(os.Stderr, "hookload: %s: warming up %v, measuring %v at concurrency %d\n", name, *warmup, *duration, *concurrency)
		load(target, hdr, deliveries, *concurrency, *warmup)
		if *cpuProfile != "" && strings.HasPrefix(name, "gateway") {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				panic(err)
			}
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		r := load(target, hdr, deliveries, *concurrency, *duration)
		r.Name = name
		results = append(results, r)
	}
	if *url != "" {
		h := http.Header{}
		h.Set(integration.DefaultAuthField, *secret)
		run("gateway", *url, h)
	} else {
		if *mode == "ceiling" || *mode == "both" || *mode == "all" {
			addr, stop := startCeiling()
			run("ceiling (bare net/http)", "http://"+addr+"/hooks/okta/x", nil)
			stop()
		}
		if *mode == "gateway" || *mode == "both" || *mode == "all" {
			target, hdr, stop := startGateway()
			run("gateway (embedded Kafka, acks=all)", target, hdr)
			stop()
		}
		if *mode == "presplit" || *mode == "all" {
			target, stop := startPresplit(deliveries)
			run("presplit produce, no parsing", target, nil)
			stop()
		}
	}
	report(results, *concurrency, *jsonOut)
	for _, r := range results {
		if r.Errors > 0 {
			os.Exit(1)
		}
	}
}

type result struct {
	Name          string  `json:"name"`
	Deliveries    int     `json:"deliveries"`
	Events        int     `json:"events"`
	Errors        int     `json:"errors"`
	Seconds       float64 `json:"seconds"`
	DeliveriesSec float64 `json:"deliveries_per_sec"`
	EventsSec     float64 `json:"events_per_sec"`
	MBSec         float64 `json:"mb_per_sec"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	Maxms         float64 `json:"max_ms"`
	// CPUusPerEvent is this process's CPU time (user+system, load generator
	// included) per event: steadier than throughput on a busy machine.
	CPUusPerEvent float64 `json:"cpu_us_per_event"`
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load sends deliveries round-robin from concurrency workers for d.
func load(target string, hdr http.Header, ds []gen.Delivery, concurrency int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConns: concurrency * 2, MaxIdleConnsPerHost: concurrency * 2, IdleConnTimeout: time.Minute, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var res result
	deadline := time.Now().Add(d)
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var my []time.Duration
			var n, ev, errs, bytes int
			for time.Now().Before(deadline) {
				idx := int(next.Add(1)) % len(ds)
				dl := ds[idx]
				req, _ := http.NewRequest(http.MethodPost, target, newReader(dl.Body))
				req.ContentLength = int64(len(dl.Body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Bench-Delivery", strconv.Itoa(idx))
				for k, v := range hdr {
					req.Header[k] = v
				}
				t0 := time.Now()
				resp, err := cl.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				my = append(my, time.Since(t0))
				if err != nil || resp.StatusCode != http.StatusOK {
					errs++
					if errs == 1 {
						if err != nil {
							fmt.Fprintln(os.Stderr, "hookload: error:", err)
						} else {
							fmt.Fprintln(os.Stderr, "hookload: status:", resp.Status)
						}
					}
					continue
				}
				n++
				ev += dl.Events
				bytes += len(dl.Body)
			}
			mu.Lock()
			lat = append(lat, my...)
			res.Deliveries += n
			res.Events += ev
			res.Errors += errs
			res.MBSec += float64(bytes)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	cpu := cpuTime() - cpu0
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return math.NaN()
		}
		return float64(lat[int(math.Ceil(p*float64(len(lat))))-1]) / 1e6
	}
	res.Seconds = el
	res.DeliveriesSec = float64(res.Deliveries) / el
	res.EventsSec = float64(res.Events) / el
	res.MBSec = res.MBSec / el / 1e6
	res.P50ms, res.P99ms, res.Maxms = pct(0.50), pct(0.99), pct(1)
	if res.Events > 0 {
		res.CPUusPerEvent = float64(cpu.Microseconds()) / float64(res.Events)
	}
	return res
}

func newReader(b []byte) io.Reader { return bytes.NewReader(b) }

func report(rs []result, concurrency int, asJSON bool) {
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"concurrency": concurrency, "cpus": runtime.NumCPU(), "results": rs})
		return
	}
	fmt.Printf("concurrency %d, %d CPUs, deliveries of 1-20 events (~2 KB each)\n", concurrency, runtime.NumCPU())
	fmt.Printf("%-36s %12s %12s %8s %9s %9s %9s %7s %13s\n", "target", "deliveries/s", "events/s", "MB/s", "p50 ms", "p99 ms", "max ms", "errors", "CPU µs/event")
	for _, r := range rs {
		fmt.Printf("%-36s %12.0f %12.0f %8.1f %9.2f %9.2f %9.2f %7d %13.2f\n", r.Name, r.DeliveriesSec, r.EventsSec, r.MBSec, r.P50ms, r.P99ms, r.Maxms, r.Errors, r.CPUusPerEvent)
	}
	if len(rs) >= 2 && rs[0].EventsSec > 0 {
		for _, r := range rs[1:] {
			fmt.Printf("%s / ceiling (events/s): %.1f%%\n", strings.Fields(r.Name)[0], 100*r.EventsSec/rs[0].EventsSec)
		}
	}
}

// startCeiling serves the bare baseline: read the body, answer 200.
func startCeiling() (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }
}

// startGateway starts Clarion's gateway target with the embedded broker
// (as `clarion run` starts them, minus the downstream consumers) on loopback
// with a fresh data dir and one integration, and returns its webhook URL and
// auth header.
// lingerFlag is -linger (0: the product default).
var lingerFlag time.Duration

func startGateway() (string, http.Header, func()) {
	dir, err := os.MkdirTemp("", "hookload-")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", EmbeddedKafka: "127.0.0.1:0", AdminToken: "bench", EmbeddedAnyTarget: true,
		ProduceLinger: lingerFlag,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, app.TargetGateway)
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	in, secret, err := a.Store.Create(ctx, integration.CreateRequest{Name: "bench", TenantURL: "https://bench.okta.com", ClientID: "0oabench"}, false)
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set(integration.DefaultAuthField, secret)
	return integration.WebhookURL("http://"+a.Addr(), in.ID), h, func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
}

// startPresplit serves the reference the issue names: a handler that reads
// the body and produces the delivery's records, split in advance (no
// parsing at all), to the same embedded Kafka with the same producer
// options, answering once they are acknowledged.
func startPresplit(ds []gen.Delivery) (string, func()) {
	dir, err := os.MkdirTemp("", "hookload-presplit-")
	if err != nil {
		panic(err)
	}
	emb, err := bus.StartEmbedded(dir, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l := lingerFlag
	if l <= 0 {
		l = app.DefaultProduceLinger
	}
	cl, err := bus.NewClient(emb.Addrs(), nil, bus.ProducerOpts(l)...)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := bus.EnsureTopics(ctx, cl, bus.Topics(6)); err != nil {
		panic(err)
	}
	// Pre-split every delivery with the gateway's record shape.
	split := make([][]*kgo.Record, len(ds))
	for i, d := range ds {
		_, err := gateway.SplitEnvelope(d.Body, func(ev gateway.EventRef) error {
			split[i] = append(split[i], &kgo.Record{Topic: bus.TopicEvents, Key: bus.KeyFor("bench", ev.ActorID),
				Value: append([]byte(nil), ev.Raw...), Headers: []kgo.RecordHeader{
					{Key: bus.HeaderIntegrationID, Value: []byte("bench")}, {Key: bus.HeaderSource, Value: []byte("hook")},
					{Key: bus.HeaderReceivedAt, Value: []byte(bus.FormatTime(time.Now()))}, {Key: bus.HeaderUUID, Value: []byte(ev.UUID)},
					{Key: bus.HeaderDeliveryID, Value: []byte(ev.DeliveryID)}}})
			return nil
		})
		if err != nil {
			panic(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		i, _ := strconv.Atoi(r.Header.Get("X-Bench-Delivery"))
		recs := split[i%len(split)]
		var wg sync.WaitGroup
		var failed atomic.Bool
		wg.Add(len(recs))
		for _, rec := range recs {
			c := *rec // a record is not reusable while in flight
			cl.Produce(r.Context(), &c, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(true)
				}
				wg.Done()
			})
		}
		wg.Wait()
		if failed.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/hooks/okta/x", func() {
		srv.Close()
		cl.Close()
		emb.Close()
		os.RemoveAll(dir)
	}
}
