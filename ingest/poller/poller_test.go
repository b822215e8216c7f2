package poller

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/okta"
)

// logServer is an Okta org reduced to what the poller uses, following
// Okta's documented System Log behaviour: a token endpoint (Bearer tokens),
// GET /api/v1/logs with since/until/after/limit/sortOrder/filter (eventType
// eq ... or ...), Link rel="self" and rel="next" (always present), after and
// since refused together, rate-limit headers and injected 429 (E0000047)
// and 503 answers.
type logServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	events   []srvEvent
	every429 int // every n-th logs request answers 429 (0: never)
	every5xx int
	tokenErr string // when set, the token endpoint refuses with this OAuth error
	requests int
	served   int // events served
}

type srvEvent struct {
	uuid, typ string
	published time.Time
	raw       string
}

var typeRE = regexp.MustCompile(`eventType eq "([^"]+)"`)

func newLogServer(t testing.TB) *logServer {
	s := &logServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// add appends n events of typ, published step apart from start. Their
// JSON has odd spacing and escapes, which must survive byte for byte.
func (s *logServer) add(n int, start time.Time, step time.Duration, typ string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for i := 0; i < n; i++ {
		k := len(s.events)
		id := fmt.Sprintf("%08d-aaaa-bbbb-cccc-%012d", k, k)
		pub := start.Add(time.Duration(i) * step).UTC()
		actor := fmt.Sprintf(`{"id": "00u%d", "type":"User","alternateId":"user%d@example.com","displayName":"Us\u00e9r %d"}`, k%7, k%7, k%7)
		if k%11 == 0 {
			actor = fmt.Sprintf(`{"id":"unknown","alternateId":"attacker%d@example.com"}`, k)
		}
		raw := fmt.Sprintf(`{ "uuid": %q, "published":%q,"eventType":%q, "actor":%s, "outcome":{"result":"SUCCESS"},"displayMessage":"User login to Okta \u2013 \"ok\""}`,
			id, pub.Format("2006-01-02T15:04:05.000Z"), typ, actor)
		s.events = append(s.events, srvEvent{uuid: id, typ: typ, published: pub, raw: raw})
		ids = append(ids, id)
	}
	return ids
}

func (s *logServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if r.URL.Path == okta.TokenPath {
		w.Header().Set("Content-Type", "application/json")
		if s.tokenErr != "" {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":%q,"error_description":"The client_assertion signature is invalid."}`, s.tokenErr)
			return
		}
		fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"tok","scope":"okta.logs.read"}`)
		return
	}
	if r.URL.Path != okta.LogsPath || r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`, 401)
		return
	}
	s.requests++
	w.Header().Set("X-Rate-Limit-Limit", "1000")
	w.Header().Set("X-Rate-Limit-Remaining", "900")
	w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
	if s.every429 > 0 && s.requests%s.every429 == 0 {
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		// Reset "now": the wait is short, keeping tests fast.
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(time.Now().Unix(), 10))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		fmt.Fprint(w, `{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"x","errorCauses":[]}`)
		return
	}
	if s.every5xx > 0 && s.requests%s.every5xx == 0 {
		w.WriteHeader(503)
		return
	}
	q := r.URL.Query()
	if q.Get("after") != "" && q.Get("since") != "" {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"errorCode":"E0000001","errorSummary":"Api validation failed: after and since cannot be used together"}`)
		return
	}
	if q.Get("sortOrder") != "ASCENDING" {
		w.WriteHeader(400)
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	types := map[string]bool{}
	for _, m := range typeRE.FindAllStringSubmatch(q.Get("filter"), -1) {
		types[m[1]] = true
	}
	var since, until time.Time
	if v := q.Get("since"); v != "" {
		since, _ = time.Parse(time.RFC3339Nano, v)
	}
	if v := q.Get("until"); v != "" {
		until, _ = time.Parse(time.RFC3339Nano, v)
	}
	start := 0
	if a := q.Get("after"); a != "" {
		start = -1
		for i, e := range s.events {
			if e.uuid == a {
				start = i + 1
			}
		}
		if start < 0 {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"errorCode":"E0000001","errorSummary":"Api validation failed: after"}`)
			return
		}
	}
	var out []string
	last := ""
	for _, e := range s.events[start:] {
		if !since.IsZero() && e.published.Before(since) {
			continue
		}
		if !until.IsZero() && !e.published.Before(until) {
			continue
		}
		if len(types) > 0 && !types[e.typ] {
			continue
		}
		out = append(out, e.raw)
		last = e.uuid
		if len(out) == limit {
			break
		}
	}
	s.served += len(out)
	next := url.Values{}
	for k, v := range q {
		next[k] = v
	}
	if last != "" {
		next.Del("since")
		next.Set("after", last)
	}
	w.Header().Add("Link", fmt.Sprintf(`<%s%s?%s>; rel="self"`, s.srv.URL, r.URL.Path, r.URL.RawQuery))
	w.Header().Add("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.srv.URL, okta.LogsPath, next.Encode()))
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "[\n  %s\n]", strings.Join(out, ",\n  "))
}

func (s *logServer) raw() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]string{}
	for _, e := range s.events {
		m[e.uuid] = e.raw
	}
	return m
}

type fakeRegistry struct {
	mu  sync.Mutex
	ins []*integration.Integration
}

func (r *fakeRegistry) List() []*integration.Integration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*integration.Integration(nil), r.ins...)
}

func (r *fakeRegistry) add(in *integration.Integration) {
	r.mu.Lock()
	r.ins = append(r.ins, in)
	r.mu.Unlock()
}

var (
	keyOnce sync.Once
	ckey    *rsa.PrivateKey
	dkey    *ecdsa.PrivateKey
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clientFor builds Okta clients for the log server from an integration.
func clientFor(t testing.TB) func(in *integration.Integration) (*okta.Client, error) {
	keyOnce.Do(func() {
		ckey, _ = rsa.GenerateKey(rand.Reader, 2048)
		dkey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	return func(in *integration.Integration) (*okta.Client, error) {
		return okta.New(okta.Config{TenantURL: in.TenantURL, Insecure: true, ClientID: in.ClientID, KeyID: "k",
			ClientKey: ckey, DPoPKey: dkey, RetryBackoff: 5 * time.Millisecond, Logger: quiet()})
	}
}

func newPoller(t *testing.T, brokers []string, reg Registry, mod func(*Config)) *Poller {
	t.Helper()
	cfg := Config{Brokers: brokers, Registry: reg, NewClient: clientFor(t), PageLimit: 100,
		PollInterval: 20 * time.Millisecond, RefreshInterval: 20 * time.Millisecond, InitialLookback: 48 * time.Hour,
		ErrorBackoff: 50 * time.Millisecond, Logger: quiet()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runUntil runs p until cond holds (checked every 10 ms), then stops it.
func runUntil(t *testing.T, p *Poller, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.After(45 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-deadline:
			cancel()
			<-done
			t.Fatal("condition not reached in time")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func (p *Poller) cursorUUID(id string) string {
	c, _ := p.Cursor(id)
	return c.LastUUID
}

// checkRecords asserts the records are exactly the server's events of the
// wanted types, once each, byte for byte, in the gateway's record shape.
func checkRecords(t *testing.T, recs []*kgo.Record, id string, want map[string]string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range recs {
		uuid := bus.Header(r, bus.HeaderUUID)
		seen[uuid]++
		if raw, ok := want[uuid]; !ok {
			t.Errorf("unexpected record uuid %q", uuid)
		} else if string(r.Value) != raw {
			t.Errorf("record %s value changed:\n got %s\nwant %s", uuid, r.Value, raw)
		}
		if gjson.GetBytes(r.Value, "uuid").String() != uuid {
			t.Errorf("uuid header %q does not match the event", uuid)
		}
		if bus.Header(r, bus.HeaderSource) != bus.SourcePoll || bus.Header(r, bus.HeaderIntegrationID) != id {
			t.Errorf("headers %v", r.Headers)
		}
		if _, err := time.Parse(time.RFC3339Nano, bus.Header(r, bus.HeaderReceivedAt)); err != nil {
			t.Errorf("received_at: %v", err)
		}
		actor := gjson.GetBytes(r.Value, "actor.id").String()
		if actor == "unknown" {
			actor = gjson.GetBytes(r.Value, "actor.alternateId").String()
		}
		if string(r.Key) != id+"/"+actor {
			t.Errorf("key %q, want %q", r.Key, id+"/"+actor)
		}
	}
	for uuid, n := range seen {
		if n != 1 {
			t.Errorf("uuid %s written %d times", uuid, n)
		}
	}
	for uuid := range want {
		if seen[uuid] == 0 {
			t.Errorf("uuid %s lost", uuid)
		}
	}
	if len(recs) != len(want) {
		t.Errorf("%d records, want %d", len(recs), len(want))
	}
}

func TestPollerExactAcrossPagesRestartsAnd429(t *testing.T) {
	t.Parallel()
	for _, atLeastOnce := range []bool{false, true} {
		t.Run(map[bool]string{false: "transactional", true: "at least once"}[atLeastOnce], func(t *testing.T) {
			t.Parallel()
			testPollerExact(t, atLeastOnce)
		})
	}
}

func testPollerExact(t *testing.T, atLeastOnce bool) {
	kc := bustest.New(t, 3)
	srv := newLogServer(t)
	srv.every429, srv.every5xx = 5, 7
	now := time.Now()
	srv.add(950, now.Add(-2*time.Hour), time.Second, "user.session.start")
	srv.add(40, now.Add(-2*time.Hour), time.Second, "user.account.update") // filtered out
	in := &integration.Integration{ID: "int1", TenantURL: srv.srv.URL, ClientID: "0oa1", Insecure: true}
	reg := &fakeRegistry{ins: []*integration.Integration{in}}
	promReg := prometheus.NewRegistry()

	p1 := newPoller(t, kc.Brokers, reg, func(c *Config) { c.Registerer = promReg; c.AtLeastOnce = atLeastOnce })
	runUntil(t, p1, func() bool { return p1.cursorUUID("int1") == "00000949-aaaa-bbbb-cccc-000000000949" })
	if n := gathered(t, promReg, "clarion_poller_events_total"); n != 950 {
		t.Fatalf("events metric %v", n)
	}
	if gathered(t, promReg, "clarion_poller_rate_limited_total") == 0 {
		t.Fatal("no 429 counted")
	}
	if _, ok := p1.Lag("int1"); !ok {
		t.Fatal("no lag")
	}
	if lag := gathered(t, promReg, "clarion_poller_lag_seconds"); lag < 3600 {
		t.Fatalf("lag gauge %v, want over an hour", lag)
	}

	// More events while stopped, then a new poller resumes from the cursor
	// stored in Kafka, including events arriving while it polls.
	srv.add(130, now.Add(-time.Hour), time.Second, "user.session.start")
	p2 := newPoller(t, kc.Brokers, reg, func(c *Config) { c.AtLeastOnce = atLeastOnce })
	added := false
	runUntil(t, p2, func() bool {
		if !added && p2.cursorUUID("int1") != "" {
			added = true
			srv.add(20, now, time.Millisecond, "user.session.start")
		}
		return added && p2.cursorUUID("int1") == "00001139-aaaa-bbbb-cccc-000000001139"
	})

	want := map[string]string{}
	for id, raw := range srv.raw() {
		if strings.Contains(raw, `"user.session.start"`) {
			want[id] = raw
		}
	}
	checkRecords(t, consumeToEnd(t, kc.Brokers, bus.TopicEvents), "int1", want)
}

// consumeToEnd reads topic from the start to its current end with
// read_committed isolation, as Clarion's consumers do, and returns the
// committed data records (transaction markers occupy offsets too).
func consumeToEnd(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := bustest.Client(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %d records, still waiting for %v", topic, len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// gathered sums the values of the metric family name in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func TestSecondPollerFencesTheFirst(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 1)
	srv := newLogServer(t)
	now := time.Now()
	srv.add(20, now.Add(-time.Hour), time.Second, "user.session.start")
	reg := &fakeRegistry{ins: []*integration.Integration{{ID: "i", TenantURL: srv.srv.URL, ClientID: "0oa1", Insecure: true}}}
	p1 := newPoller(t, kc.Brokers, reg, nil)
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	done1 := make(chan error, 1)
	go func() { done1 <- p1.Run(ctx1) }()
	waitFor(t, func() bool { return p1.cursorUUID("i") == "00000019-aaaa-bbbb-cccc-000000000019" })

	// A second poller with the same transactional id takes over; when the
	// first next writes, Kafka refuses it and its Run returns ErrFenced.
	p2 := newPoller(t, kc.Brokers, reg, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- p2.Run(ctx2) }()
	waitFor(t, func() bool { _, ok := p2.Cursor("i"); return ok }) // started: fenced p1, loaded cursors
	srv.add(5, now, time.Millisecond, "user.session.start")
	select {
	case err := <-done1:
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("first poller: %v, want ErrFenced", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("first poller was not fenced")
	}
	waitFor(t, func() bool { return p2.cursorUUID("i") == "00000024-aaaa-bbbb-cccc-000000000024" })
	cancel2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	// Exactly once across the takeover: p1's attempt was refused.
	all := srv.raw()
	checkRecords(t, consumeToEnd(t, kc.Brokers, bus.TopicEvents), "i", all)
}

// waitFor polls cond every 10 ms, failing the test after 30 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPollerWaitsForTheAdminsFix(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 1)
	srv := newLogServer(t)
	srv.add(10, time.Now().Add(-time.Hour), time.Second, "user.session.start")
	srv.tokenErr = "invalid_client" // the key is not added in Okta yet
	reg := &fakeRegistry{ins: []*integration.Integration{{ID: "i", TenantURL: srv.srv.URL, ClientID: "0oa1", Insecure: true}}}
	promReg := prometheus.NewRegistry()
	p := newPoller(t, kc.Brokers, reg, func(c *Config) { c.Registerer = promReg })
	fixed := false
	runUntil(t, p, func() bool {
		if !fixed && gathered(t, promReg, "clarion_poller_errors_total") >= 2 {
			fixed = true
			srv.mu.Lock()
			srv.tokenErr = "" // the admin adds the key
			srv.mu.Unlock()
		}
		return p.cursorUUID("i") == "00000009-aaaa-bbbb-cccc-000000000009"
	})
	if n := len(consumeToEnd(t, kc.Brokers, bus.TopicEvents)); n != 10 {
		t.Fatalf("%d records, want 10", n)
	}
}

func TestPollerPicksUpNewIntegrationsAndEventTypes(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 1)
	srv := newLogServer(t)
	now := time.Now()
	srv.add(30, now.Add(-time.Hour), time.Second, "user.session.start")
	srv.add(20, now.Add(-time.Hour), time.Second, "user.account.lock")
	srv.add(10, now.Add(-time.Hour), time.Second, "user.account.update")
	reg := &fakeRegistry{}
	p := newPoller(t, kc.Brokers, reg, func(c *Config) {
		c.EventTypes = []string{"user.session.start", "user.account.lock"}
	})
	added := false
	runUntil(t, p, func() bool {
		if !added {
			added = true
			time.Sleep(30 * time.Millisecond) // the registry is empty for a refresh or two
			reg.add(&integration.Integration{ID: "late", TenantURL: srv.srv.URL, ClientID: "0oa1", Insecure: true})
		}
		return p.cursorUUID("late") == "00000049-aaaa-bbbb-cccc-000000000049"
	})
	want := map[string]string{}
	for id, raw := range srv.raw() {
		if !strings.Contains(raw, `"user.account.update"`) {
			want[id] = raw
		}
	}
	checkRecords(t, consumeToEnd(t, kc.Brokers, bus.TopicEvents), "late", want)
	c, _ := p.Cursor("late")
	if c.Filter != `eventType eq "user.session.start" or eventType eq "user.account.lock"` || !strings.Contains(c.Next, "after=") {
		t.Fatalf("cursor %+v", c)
	}
}

func TestPollerStaleCursorRestartsFromLastEvent(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 1)
	srv := newLogServer(t)
	now := time.Now()
	srv.add(10, now.Add(-time.Hour), time.Second, "user.session.start")
	in := &integration.Integration{ID: "i", TenantURL: srv.srv.URL, ClientID: "0oa1", Insecure: true}
	// A stored cursor whose after= Okta no longer knows.
	cl := bustest.Client(t, kc.Brokers)
	cur := Cursor{IntegrationID: "i", Next: srv.srv.URL + okta.LogsPath + "?after=gone&limit=100&sortOrder=ASCENDING&filter=" + url.QueryEscape(`eventType eq "user.session.start"`),
		Filter: `eventType eq "user.session.start"`, LastUUID: "00000004-aaaa-bbbb-cccc-000000000004",
		LastPublished: now.Add(-time.Hour + 4*time.Second).UTC().Format("2006-01-02T15:04:05.000Z")}
	rec, _ := cur.record()
	if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p := newPoller(t, kc.Brokers, &fakeRegistry{ins: []*integration.Integration{in}}, nil)
	runUntil(t, p, func() bool { return p.cursorUUID("i") == "00000009-aaaa-bbbb-cccc-000000000009" })
	recs := consumeToEnd(t, kc.Brokers, bus.TopicEvents)
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6", len(recs))
	}
	// Resumed at the last event's time: event 4 again (deduplicated
	// downstream), then 5..9; nothing before it.
	if got := bus.Header(recs[0], bus.HeaderUUID); got != "00000004-aaaa-bbbb-cccc-000000000004" {
		t.Fatalf("first record %s", got)
	}
}

func TestBackfillWindow(t *testing.T) {
	t.Parallel()
	kc := bustest.New(t, 3)
	srv := newLogServer(t)
	srv.every429 = 4
	now := time.Now().Truncate(time.Second)
	srv.add(100, now.Add(-30*time.Hour), time.Minute, "user.session.start") // before the window
	inWindow := srv.add(250, now.Add(-20*time.Hour), time.Minute, "user.session.start")
	srv.add(50, now.Add(time.Hour), time.Second, "user.session.start") // after until
	c, _ := clientFor(t)(&integration.Integration{TenantURL: srv.srv.URL, ClientID: "0oa1"})
	prod := bustest.Client(t, kc.Brokers, ProducerOpts(0)...)
	var calls []BackfillProgress
	prog, err := Backfill(context.Background(), BackfillConfig{
		Client: c, IntegrationID: "bf", Producer: prod, Since: now.Add(-24 * time.Hour), Until: now, PageLimit: 60,
		Progress: func(p BackfillProgress) { calls = append(calls, p) }, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if prog.Events != 250 || len(calls) < 5 {
		t.Fatalf("progress %+v, %d calls", prog, len(calls))
	}
	// The last event is published 20 h - 250 min before until, in a 24 h window.
	if f := calls[len(calls)-1].Fraction(); f < 0.33 || f > 0.35 {
		t.Fatalf("fraction %v", f)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Fraction() < calls[i-1].Fraction() || calls[i].Events < calls[i-1].Events {
			t.Fatalf("progress went backwards: %+v then %+v", calls[i-1], calls[i])
		}
	}
	all := srv.raw()
	want := map[string]string{}
	for _, id := range inWindow {
		want[id] = all[id]
	}
	checkRecords(t, consumeToEnd(t, kc.Brokers, bus.TopicEvents), "bf", want)
	if _, err := Backfill(context.Background(), BackfillConfig{Client: c, IntegrationID: "bf", Producer: prod, Since: now, Until: now}); err == nil {
		t.Fatal("empty window accepted")
	}
}

func TestRunStopsWhenKafkaUnreachable(t *testing.T) {
	t.Parallel()
	p := newPoller(t, []string{"127.0.0.1:1"}, &fakeRegistry{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run on cancel: %v", err)
	}
}
