package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
)

// receiver is an event hook endpoint under test control.
type receiver struct {
	mu       sync.Mutex
	verifyOK bool
	status   int           // answer to deliveries
	delay    time.Duration // before answering deliveries
	posts    atomic.Int32
	events   []string // uuids delivered
	bodies   [][]byte
	authBad  atomic.Int32
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Clarion-Hook-Secret") != "s3cret" {
		rc.authBad.Add(1)
		w.WriteHeader(401)
		return
	}
	rc.mu.Lock()
	verifyOK, status, delay := rc.verifyOK, rc.status, rc.delay
	rc.mu.Unlock()
	if r.Method == http.MethodGet {
		ch := r.Header.Get("x-okta-verification-challenge")
		if !verifyOK {
			ch = "wrong"
		}
		json.NewEncoder(w).Encode(map[string]string{"verification": ch})
		return
	}
	rc.posts.Add(1)
	body, _ := io.ReadAll(r.Body)
	if delay > 0 {
		time.Sleep(delay)
	}
	if status != 200 {
		w.WriteHeader(status)
		return
	}
	var env struct {
		EventType, EventTypeVersion, CloudEventsVersion, Source, EventID, EventTime, ContentType string
		Data                                                                                     struct {
			Events []json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &env); err != nil {
		w.WriteHeader(400)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.bodies = append(rc.bodies, body)
	for _, raw := range env.Data.Events {
		var ev logevent.Event
		if logevent.Parse(raw, &ev) == nil {
			rc.events = append(rc.events, ev.UUID)
		}
	}
	w.WriteHeader(200)
}

func hookEnv(t *testing.T, rc *receiver) (*env, *httptest.Server) {
	e := newEnv(t, Config{HookBatch: 20, HookTimeout: 300 * time.Millisecond}, []string{"okta.logs.read"}, false)
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	return e, hs
}

// live advances the clock and runs one delivery round to completion.
func (e *env) live(d time.Duration) {
	e.clk.Add(d)
	e.s.advance()
	for {
		e.s.deliver(context.Background())
		e.s.wg.Wait()
		e.s.mu.RLock()
		left := 0
		for _, h := range e.s.hooks {
			left += len(h.queue)
		}
		e.s.mu.RUnlock()
		if left == 0 {
			return
		}
	}
}

func TestHookVerifyAndDeliver(t *testing.T) {
	t.Parallel()
	rc := &receiver{verifyOK: true, status: 200}
	e, hs := hookEnv(t, rc)
	// Bad auth configuration: verification fails, the hook stays unverified.
	info, err := e.s.RegisterEventHook(context.Background(), HookConfig{URL: hs.URL, AuthField: "X-Clarion-Hook-Secret", AuthSecret: "wrong", Events: []string{"user.session.start"}})
	if !errors.Is(err, ErrVerification) || info.Verified {
		t.Fatalf("wrong secret verified: %+v %v", info, err)
	}
	if _, err := e.s.RegisterEventHook(context.Background(), HookConfig{URL: "ftp://x", Events: []string{"a"}}); err == nil {
		t.Fatal("ftp URL accepted")
	}
	// Through the admin endpoint.
	body := `{"url":"` + hs.URL + `","auth_field":"X-Clarion-Hook-Secret","auth_secret":"s3cret","events":["user.session.start"]}`
	res, err := http.Post(e.ts.URL+"/sim/eventhooks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created HookInfo
	json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if res.StatusCode != 201 || !created.Verified || created.ID == "" {
		t.Fatalf("register: %d %+v", res.StatusCode, created)
	}
	e.live(8 * time.Hour)
	rc.mu.Lock()
	delivered := append([]string(nil), rc.events...)
	bodies := rc.bodies
	rc.mu.Unlock()
	if len(delivered) == 0 {
		t.Fatal("nothing delivered")
	}
	// Envelope as Okta's; several events per request.
	var env map[string]any
	json.Unmarshal(bodies[0], &env)
	for k, want := range map[string]string{"eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1", "contentType": "application/json"} {
		if env[k] != want {
			t.Fatalf("%s = %v", k, env[k])
		}
	}
	if !strings.Contains(env["source"].(string), "/api/v1/eventHooks/"+created.ID) || env["eventId"] == "" || env["eventTime"] == "" {
		t.Fatalf("envelope %v", env)
	}
	multi := false
	for _, b := range bodies {
		var e2 struct {
			Data struct{ Events []json.RawMessage }
		}
		json.Unmarshal(b, &e2)
		if len(e2.Data.Events) > 20 {
			t.Fatalf("batch of %d > HookBatch", len(e2.Data.Events))
		}
		multi = multi || len(e2.Data.Events) > 1
	}
	if !multi {
		t.Fatal("no batch carried several events")
	}
	// Exactly the user.session.start events published in those 8 hours.
	tok := e.bearer("okta.logs.read")
	since := url.QueryEscape(t0.Format(time.RFC3339))
	until := url.QueryEscape(e.s.SimNow().Add(time.Second).Format(time.RFC3339))
	logged, _ := e.pull("/api/v1/logs?limit=1000&since="+since+"&until="+until+"&filter="+url.QueryEscape(`eventType eq "user.session.start"`), tok)
	want := map[string]bool{}
	for _, ev := range logged {
		if !ev.Published.Before(t0) {
			want[ev.UUID] = true
		}
	}
	got := map[string]bool{}
	for _, u := range delivered {
		got[u] = true
	}
	for u := range want {
		if !got[u] {
			t.Fatalf("event %s not delivered (%d delivered, %d logged)", u, len(got), len(want))
		}
	}
	if rc.authBad.Load() != 1 { // only the deliberately wrong registration
		t.Fatalf("%d requests without the auth header", rc.authBad.Load())
	}
}

func TestHookRetryAndFailure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		status    int
		delay     time.Duration
		wantPosts int32
		reason    string
	}{
		{"5xx retried once", 503, 0, 2, "HTTP 503"},
		{"timeout retried once", 200, time.Second, 2, "timed out"},
		{"4xx not retried", 400, 0, 1, "HTTP 400"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rc := &receiver{verifyOK: true, status: 200}
			e, hs := hookEnv(t, rc)
			e.s.cfg.HookBatch = 100000
			if _, err := e.s.RegisterEventHook(context.Background(), HookConfig{URL: hs.URL, AuthField: "X-Clarion-Hook-Secret", AuthSecret: "s3cret", Events: []string{"user.session.start"}}); err != nil {
				t.Fatal(err)
			}
			rc.mu.Lock()
			rc.status, rc.delay = c.status, c.delay
			rc.mu.Unlock()
			e.live(4 * time.Hour)
			if got := rc.posts.Load(); got != c.wantPosts {
				t.Fatalf("%d POSTs, want %d", got, c.wantPosts)
			}
			tok := e.bearer("okta.logs.read")
			f := url.QueryEscape(`eventType eq "event_hook.delivery"`)
			evs, _ := e.pull("/api/v1/logs?limit=1000&filter="+f+"&since="+url.QueryEscape(t0.Format(time.RFC3339)), tok)
			if len(evs) != 1 || evs[0].Outcome != "FAILURE" || !strings.Contains(evs[0].OutcomeReason, c.reason) {
				t.Fatalf("delivery failure events: %+v", evs)
			}
		})
	}
}
