package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

type harness struct {
	t       *testing.T
	cluster *bustest.Cluster
	store   *integration.Store
	srv     *httptest.Server
	reg     *prometheus.Registry
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	c := bustest.New(t, 3)
	key, err := secrets.NewMasterKey(secrets.RandomBytes(secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store, err := integration.Open(ctx, c.Brokers, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	prod := bustest.Client(t, c.Brokers, bus.ProducerOpts(time.Millisecond)...)
	reg := prometheus.NewRegistry()
	cfg.Registry, cfg.Producer, cfg.Registerer = store, prod, reg
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{t: t, cluster: c, store: store, srv: srv, reg: reg}
}

// integration creates an integration and returns its id and secret.
func (h *harness) integration() (string, string) {
	h.t.Helper()
	in, secret, err := h.store.Create(context.Background(), integration.CreateRequest{Name: "t", TenantURL: "https://t.okta.com", ClientID: "0oa"}, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return in.ID, secret
}

func (h *harness) post(id, secret, contentType string, body []byte) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/hooks/okta/"+id, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if secret != "" {
		req.Header.Set(integration.DefaultAuthField, secret)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// event returns a LogEvent with the given uuid and actor.
func event(uuid, actorID, login string) []byte {
	return []byte(fmt.Sprintf(`{"uuid":%q,"published":"2026-11-29T10:00:00.000Z","eventType":"user.session.start","actor":{"id":%q,"type":"User","alternateId":%q},"outcome":{"result":"SUCCESS"},"client":{"ipAddress":"1.2.3.4"}}`, uuid, actorID, login))
}

func TestVerification(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	id, secret := h.integration()
	for _, tc := range []struct {
		name, id, secret, challenge string
		want                        int
		body                        string
	}{
		{"ok", id, secret, "abc-123", 200, `{"verification":"abc-123"}`},
		{"json escaping", id, secret, `a"b\c`, 200, `{"verification":"a\"b\\c"}`},
		{"wrong secret", id, secret + "x", "v", 401, ""},
		{"no secret", id, "", "v", 401, ""},
		{"unknown integration", "nope", secret, "v", 404, ""},
		{"no challenge", id, secret, "", 400, ""},
		{"huge challenge", id, secret, strings.Repeat("a", 2000), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/hooks/okta/"+tc.id, nil)
			if tc.secret != "" {
				req.Header.Set(integration.DefaultAuthField, tc.secret)
			}
			if tc.challenge != "" {
				// Okta's header name, in the case Okta sends it; Go canonicalises.
				req.Header["x-okta-verification-challenge"] = []string{tc.challenge}
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.body != "" && strings.TrimSpace(string(b)) != tc.body {
				t.Fatalf("body %s, want %s", b, tc.body)
			}
			if tc.want != 200 && !json.Valid(b) {
				t.Fatalf("error body is not JSON: %s", b)
			}
		})
	}
	if h.store.Hook(id).VerifiedAt == nil {
		t.Fatal("verification not recorded")
	}
}

func TestDeliveryOutcomes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{MaxBody: 64 << 10})
	id, secret := h.integration()
	good := wrap("d", event("u-1", "00u1", "a@x"))
	for _, tc := range []struct {
		name, id, secret, ct string
		body                 []byte
		want                 int
		errCode              string
	}{
		{"ok", id, secret, "application/json", good, 200, ""},
		{"ok with charset", id, secret, "application/json; charset=utf-8", good, 200, ""},
		{"wrong secret", id, "x" + secret[1:], "application/json", good, 401, "unauthorized"},
		{"missing secret", id, "", "application/json", good, 401, "unauthorized"},
		{"unknown integration", "AAAAAAAAAAAAAAAAAAAAAA", secret, "application/json", good, 404, "unknown_integration"},
		{"malformed JSON", id, secret, "application/json", []byte(`{"data":{"events":[`), 400, "bad_envelope"},
		{"not an envelope", id, secret, "application/json", []byte(`{"hello":"world"}`), 400, "bad_envelope"},
		{"only an event without uuid", id, secret, "application/json", wrap("d", []byte(`{"actor":{"id":"x"}}`)), 200, ""},
		{"too large", id, secret, "application/json", wrap("d", bytes.Repeat([]byte(`{"uuid":"u","actor":{},"pad":"`+strings.Repeat("x", 1000)+`"},`), 70)[:70*1030-1]), 413, "too_large"},
		{"form content type", id, secret, "application/x-www-form-urlencoded", good, 415, "unsupported_media_type"},
		{"no content type", id, secret, "", good, 415, "unsupported_media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.post(tc.id, tc.secret, tc.ct, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
			if tc.errCode != "" {
				var e struct{ Error, Message string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tc.errCode || e.Message == "" {
					t.Fatalf("error body %s, want error %q with a message", body, tc.errCode)
				}
			}
		})
	}
	// Nothing but the accepted deliveries reached Kafka; the event without
	// uuid went to the dead-letter topic.
	recs := bustest.ConsumeAll(t, h.cluster.Brokers, bus.TopicEvents, 10*time.Second)
	if len(recs) != 2 {
		t.Fatalf("%d records in Kafka, want 2", len(recs))
	}
	if dl := bustest.ConsumeAll(t, h.cluster.Brokers, bus.TopicDeadLetter, 10*time.Second); len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	if n := h.counter(t, "clarion_gateway_requests_total", map[string]string{"integration": id, "kind": "delivery", "code": "401"}); n != 2 {
		t.Fatalf("401 counter %v", n)
	}
}

// gauge returns the value of the unlabelled gauge name (0 when absent).
func (h *harness) gauge(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	return 0
}

// counter returns the value of counter name with exactly the given labels
// (0 when absent).
func (h *harness) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			if len(m.Label) != len(labels) {
				continue
			}
			for _, lp := range m.Label {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestBadEventDeadLetteredOthersAccepted: an event without actor among
// good ones goes to the dead-letter topic with its reason, integration and
// bytes, is counted, and costs the others nothing.
func TestBadEventDeadLetteredOthersAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	id, secret := h.integration()
	noActor := []byte(`{"uuid":"u-stub","published":"2026-11-29T10:00:00.000Z","eventType":"user.session.start","outcome":{"result":"SUCCESS"}}`)
	body := wrap("delivery-dl", event("u-1", "00u1", "a@x"), noActor, event("u-2", "00u2", "b@x"), []byte(`"not an event"`))
	code, resp := h.post(id, secret, "application/json", body)
	if code != 200 || strings.TrimSpace(resp) != `{"accepted":2,"dead_lettered":2}` {
		t.Fatalf("%d %s", code, resp)
	}
	recs := bustest.ConsumeN(t, h.cluster.Brokers, bus.TopicEvents, 2, 10*time.Second)
	got := map[string]bool{}
	for _, r := range recs {
		got[bus.Header(r, bus.HeaderUUID)] = true
	}
	if !got["u-1"] || !got["u-2"] {
		t.Fatalf("good events in Kafka: %v", got)
	}
	dl := bustest.ConsumeN(t, h.cluster.Brokers, bus.TopicDeadLetter, 2, 10*time.Second)
	byValue := map[string]*kgo.Record{}
	for _, r := range dl {
		byValue[string(r.Value)] = r
	}
	for _, want := range []struct{ raw, reason string }{
		{string(noActor), `data.events[1]: the event has no "actor" object`},
		{`"not an event"`, `data.events[3]: the event is not a JSON object`},
	} {
		r := byValue[want.raw]
		if r == nil {
			t.Fatalf("dead letter %s missing; have %d", want.raw, len(dl))
		}
		if got := bus.Header(r, HeaderDLQReason); got != want.reason {
			t.Fatalf("reason %q, want %q", got, want.reason)
		}
		if bus.Header(r, bus.HeaderIntegrationID) != id || bus.Header(r, HeaderDLQSink) != "gateway" ||
			bus.Header(r, HeaderDLQTopic) != bus.TopicEvents || bus.Header(r, bus.HeaderDeliveryID) != "delivery-dl" ||
			bus.Header(r, bus.HeaderSource) != bus.SourceHook || bus.Header(r, bus.HeaderReceivedAt) == "" {
			t.Fatalf("dead letter headers %v", r.Headers)
		}
		if !strings.HasPrefix(string(r.Key), id+"/") {
			t.Fatalf("dead letter key %q", r.Key)
		}
	}
	if bus.Header(byValue[string(noActor)], bus.HeaderUUID) != "u-stub" {
		t.Fatal("the dead letter lost the uuid it had")
	}
	for code, want := range map[string]float64{RejectNoActor: 1, RejectNotObject: 1} {
		if n := h.counter(t, "clarion_gateway_dead_letters_total", map[string]string{"integration": id, "reason": code}); n != want {
			t.Fatalf("dead letters %s = %v, want %v", code, n, want)
		}
	}
	if n := h.counter(t, "clarion_gateway_events_total", map[string]string{"integration": id}); n != 2 {
		t.Fatalf("events counter %v, want 2", n)
	}
}

func TestDeliveryLandsByteForByteWithKeysAndHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	id, secret := h.integration()
	samples := sampleEvents(t)
	var evs [][]byte
	for _, ev := range samples {
		evs = append(evs, ev)
	}
	// Every sample in one delivery, then Okta's own delivery sample as is.
	if code, body := h.post(id, secret, "application/json", wrap("delivery-1", evs...)); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	oktaSample := mustRead(t, samplesDir+"event-hook-delivery-user-session-start-success.okta-docs.json")
	if code, body := h.post(id, secret, "application/json", oktaSample); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	recs := bustest.ConsumeN(t, h.cluster.Brokers, bus.TopicEvents, len(evs)+1, 10*time.Second)
	byUUID := map[string]*kgo.Record{}
	for _, r := range recs {
		byUUID[bus.Header(r, bus.HeaderUUID)+"/"+bus.Header(r, bus.HeaderDeliveryID)] = r
	}
	for name, ev := range samples {
		var e struct {
			UUID  string
			Actor struct {
				ID          string `json:"id"`
				AlternateID string `json:"alternateId"`
			}
		}
		json.Unmarshal(ev, &e)
		r := byUUID[e.UUID+"/delivery-1"]
		if r == nil {
			t.Fatalf("%s: not in Kafka", name)
		}
		if !bytes.Equal(r.Value, ev) {
			t.Fatalf("%s: value changed", name)
		}
		wantUser := e.Actor.ID
		if wantUser == "unknown" {
			wantUser = e.Actor.AlternateID
		}
		if string(r.Key) != id+"/"+wantUser {
			t.Fatalf("%s: key %q, want %q", name, r.Key, id+"/"+wantUser)
		}
		if bus.Header(r, bus.HeaderIntegrationID) != id || bus.Header(r, bus.HeaderSource) != "hook" {
			t.Fatalf("%s: headers %v", name, r.Headers)
		}
		if _, err := time.Parse(time.RFC3339Nano, bus.Header(r, bus.HeaderReceivedAt)); err != nil {
			t.Fatalf("%s: received_at: %v", name, err)
		}
	}
	r := byUUID["f1d0b993-cc19-11ed-a688-db22c99ef6c4/85b60edb-4263-4e13-993b-818e26201052"]
	if r == nil || !bytes.Contains(oktaSample, r.Value) || !json.Valid(r.Value) {
		t.Fatal("Okta's delivery sample did not land as a verbatim slice")
	}
	if h.store.Hook(id).LastDeliveryAt == nil {
		t.Fatal("delivery not recorded in hook status")
	}
}

func TestSameDeliveryTwiceIsAcceptedTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	id, secret := h.integration()
	body := wrap("dup", event("u-dup", "00u1", "a@x"), event("u-dup2", "00u2", "b@x"))
	for i := 0; i < 2; i++ {
		if code, b := h.post(id, secret, "application/json", body); code != 200 {
			t.Fatalf("try %d: %d %s", i, code, b)
		}
	}
	recs := bustest.ConsumeN(t, h.cluster.Brokers, bus.TopicEvents, 4, 10*time.Second)
	seen := map[string]int{}
	for _, r := range recs {
		seen[bus.Header(r, bus.HeaderUUID)]++
	}
	if seen["u-dup"] != 2 || seen["u-dup2"] != 2 {
		t.Fatalf("seen %v: dedup belongs downstream", seen)
	}
}

func TestDeliveryOfThousandEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	id, secret := h.integration()
	var evs [][]byte
	for i := 0; i < 1000; i++ {
		evs = append(evs, event(fmt.Sprintf("u-%04d", i), fmt.Sprintf("00u%d", i%37), "x@y"))
	}
	if code, b := h.post(id, secret, "application/json", wrap("big", evs...)); code != 200 || !strings.Contains(b, `"accepted":1000`) {
		t.Fatalf("%d %s", code, b)
	}
	recs := bustest.ConsumeN(t, h.cluster.Brokers, bus.TopicEvents, 1000, 20*time.Second)
	got := map[string]bool{}
	perUserOrder := map[string][]string{}
	for _, r := range recs {
		u := bus.Header(r, bus.HeaderUUID)
		got[u] = true
		perUserOrder[string(r.Key)] = append(perUserOrder[string(r.Key)], u)
	}
	if len(got) != 1000 {
		t.Fatalf("%d distinct events", len(got))
	}
	// One user's events share a partition and keep delivery order.
	for k, us := range perUserOrder {
		for i := 1; i < len(us); i++ {
			if us[i-1] >= us[i] {
				t.Fatalf("user %s out of order: %v", k, us)
			}
		}
	}
}

func TestConcurrentDeliveriesToManyIntegrationsNeverCross(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	const integrations, perIntegration, eventsPer = 8, 10, 5
	type cred struct{ id, secret string }
	creds := make([]cred, integrations)
	for i := range creds {
		creds[i].id, creds[i].secret = h.integration()
	}
	var wg sync.WaitGroup
	errs := make(chan string, integrations*perIntegration)
	for i, c := range creds {
		for d := 0; d < perIntegration; d++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var evs [][]byte
				for e := 0; e < eventsPer; e++ {
					// The uuid names its integration, so a crossed record shows.
					evs = append(evs, event(fmt.Sprintf("%s-%d-%d", c.id, d, e), fmt.Sprintf("00u%d", e), "x@y"))
				}
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/hooks/okta/"+c.id, bytes.NewReader(wrap(fmt.Sprintf("d%d-%d", i, d), evs...)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(integration.DefaultAuthField, c.secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- resp.Status
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	recs := bustest.ConsumeN(t, h.cluster.Brokers, bus.TopicEvents, integrations*perIntegration*eventsPer, 20*time.Second)
	for _, r := range recs {
		iid := bus.Header(r, bus.HeaderIntegrationID)
		if !strings.HasPrefix(bus.Header(r, bus.HeaderUUID), iid+"-") || !strings.HasPrefix(string(r.Key), iid+"/") {
			t.Fatalf("record crossed integrations: header %s, uuid %s, key %s", iid, bus.Header(r, bus.HeaderUUID), r.Key)
		}
	}
}

func TestKafkaUnreachableAnswers503(t *testing.T) {
	t.Parallel()
	bustest.SkipReal(t, "stops the broker")
	h := newHarness(t, Config{AckTimeout: 300 * time.Millisecond})
	id, secret := h.integration()
	if code, _ := h.post(id, secret, "application/json", wrap("before", event("u-before", "00u1", "a"))); code != 200 {
		t.Fatalf("before the outage: %d", code)
	}
	h.cluster.Close() // Kafka goes away
	code, body := h.post(id, secret, "application/json", wrap("during", event("u-during", "00u1", "a")))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", code, body)
	}
	if n := h.counter(t, "clarion_gateway_requests_total", map[string]string{"integration": id, "kind": "delivery", "code": "503"}); n != 1 {
		t.Fatalf("503 counter %v", n)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOverloadAnswers503: when the bodies in progress fill the in-flight
// budget, a further delivery is refused at once with 503 (Okta retries)
// rather than read into memory; once the budget frees, deliveries pass.
func TestOverloadAnswers503(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{MaxBody: 1 << 20, MaxInFlightBytes: 1 << 20})
	id, secret := h.integration()
	prefix, suffix := []byte(`{"data":{"events":[],"pad":"`), []byte(`"}}`)

	// A slow delivery declares 1 MiB and sends it slowly, holding the whole
	// budget while its body trickles in.
	type slowReq struct {
		pw      *io.PipeWriter
		done    chan int
		started chan struct{} // closed once the prefix is written
	}
	startSlow := func() slowReq {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/hooks/okta/"+id, pr)
		req.ContentLength = 1 << 20
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(integration.DefaultAuthField, secret)
		done := make(chan int, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- -1
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		started := make(chan struct{})
		go func() { pw.Write(prefix); close(started) }()
		return slowReq{pw, done, started}
	}
	slow := startSlow()
	// Wait until its handler holds the budget.
	deadline := time.Now().Add(10 * time.Second)
	for h.gauge(t, "clarion_gateway_inflight_bytes") < 1<<20 {
		select {
		case code := <-slow.done:
			t.Fatalf("the slow delivery was answered %d before its body ended", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow delivery never held the budget")
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, body := h.post(id, secret, "application/json", wrap("x", event("u-over", "00u1", "a")))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "overloaded") {
		t.Fatalf("while the budget was held: %d %s", code, body)
	}
	<-slow.started
	slow.pw.Write(bytes.Repeat([]byte("x"), (1<<20)-len(prefix)-len(suffix)))
	slow.pw.Write(suffix)
	slow.pw.Close()
	if code := <-slow.done; code != 200 {
		t.Fatalf("slow delivery: %d", code)
	}
	if code, body := h.post(id, secret, "application/json", wrap("x", event("u-after", "00u1", "a"))); code != 200 {
		t.Fatalf("after the budget freed: %d %s", code, body)
	}
}
