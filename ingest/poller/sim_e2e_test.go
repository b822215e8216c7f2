package poller

// End-to-end: the poller against the simulated Okta org (okta/sim), with an
// integration created in the real registry, its keys registered in the org
// as an admin would, DPoP tokens, 429s, restarts and live traffic.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/tidwall/gjson"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
)

func TestSimPollerExactAcrossPagesRestartsAnd429(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kc := bustest.New(t, 3)

	// A frozen clock the test moves: the sim generates traffic up to it.
	base := time.Now().Truncate(time.Millisecond)
	var offset atomic.Int64
	clock := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	org, err := sim.New(sim.Config{Users: 60, Seed: 7, History: 3 * 24 * time.Hour, Now: clock, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	// Every fifth System Log request is refused with Okta's 429.
	var logsReqs, limited atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", clock().UTC().Format(http.TimeFormat))
		if r.URL.Path == okta.LogsPath && logsReqs.Add(1)%5 == 0 {
			limited.Add(1)
			w.Header().Set("X-Rate-Limit-Limit", "120")
			w.Header().Set("X-Rate-Limit-Remaining", "0")
			w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(clock().Unix(), 10))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"sim","errorCauses":[]}`))
			return
		}
		org.ServeHTTP(w, r)
	}))
	defer srv.Close()

	// The wizard's integration, and the admin's setup in Okta.
	key, _ := secrets.NewMasterKey(secrets.RandomBytes(secrets.KeySize))
	store, err := integration.Open(ctx, kc.Brokers, key, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	in, _, err := store.Create(ctx, integration.CreateRequest{Name: "sim", TenantURL: srv.URL, ClientID: "0oaclarionsim"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var pub jose.JSONWebKey
	if err := json.Unmarshal(in.PublicKeyJWK, &pub); err != nil {
		t.Fatal(err)
	}
	if _, err := org.RegisterApp(in.ClientID, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}},
		[]string{okta.ScopeLogsRead, okta.ScopeUsersManage}, true); err != nil {
		t.Fatal(err)
	}

	mk := func() *Poller {
		return newPoller(t, kc.Brokers, store, func(c *Config) {
			c.NewClient = nil // the production path: in.OktaClient(MasterKey, Okta)
			c.MasterKey = key
			c.Okta = okta.Config{RetryBackoff: 5 * time.Millisecond, Logger: quiet(), Now: clock, Insecure: true} // the server allows test tenants
			c.PageLimit = 50
			c.Now = clock
		})
	}
	since := clock().Add(-48 * time.Hour)

	// First run: stop after the first page is written.
	p1 := mk()
	runUntil(t, p1, func() bool { return p1.cursorUUID(in.ID) != "" })
	before := len(readAll(t, ctx, in, key, clock, since)) - 1

	// Time passes while stopped; the second run resumes from the stored
	// cursor, and more traffic arrives while it polls (past the 1 h token
	// lifetime, so tokens are renewed on the way).
	offset.Store(int64(30 * time.Minute))
	p2 := mk()
	var last string
	runUntil(t, p2, func() bool {
		if last == "" && p2.cursorUUID(in.ID) != "" {
			offset.Store(int64(12 * time.Hour))
			last = readAll(t, ctx, in, key, clock, since)[0]
		}
		return last != "" && p2.cursorUUID(in.ID) == last
	})

	uuids := readAll(t, ctx, in, key, clock, since)[1:]
	t.Logf("%d sign-ins, %d System Log requests, %d answered 429", len(uuids), logsReqs.Load(), limited.Load())
	if len(uuids) < 150 {
		t.Fatalf("only %d sign-ins in the org; the test needs several pages", len(uuids))
	}
	recs := consumeToEnd(t, kc.Brokers, bus.TopicEvents)
	seen := map[string]int{}
	for _, r := range recs {
		u := bus.Header(r, bus.HeaderUUID)
		if u == "" || u != gjson.GetBytes(r.Value, "uuid").String() || bus.Header(r, bus.HeaderSource) != bus.SourcePoll {
			t.Fatalf("record without a matching uuid or source=poll: %v", r.Headers)
		}
		seen[u]++
	}
	for _, u := range uuids {
		if seen[u] != 1 {
			t.Errorf("uuid %s written %d times", u, seen[u])
		}
		delete(seen, u)
	}
	if len(seen) != 0 || len(recs) != len(uuids) {
		t.Errorf("%d records for %d events; unexpected: %v", len(recs), len(uuids), seen)
	}
	if len(uuids) <= before {
		t.Errorf("no traffic arrived while polling (%d then %d sign-ins)", before, len(uuids))
	}
	if limited.Load() == 0 {
		t.Error("no 429 was served")
	}
	// The poller reads the sign-in flow's types too (the org's hook is not
	// subscribed to anything here): okta.logs.read is enough.
	types := map[string]int{}
	for _, r := range recs {
		types[gjson.GetBytes(r.Value, "eventType").String()]++
	}
	for _, want := range []string{"user.session.start", "user.authentication.auth_via_mfa", "policy.evaluate_sign_on", "system.push.send_factor_verify_push"} {
		if types[want] == 0 {
			t.Errorf("the poller read no %s (read %v)", want, types)
		}
	}
}

// readAll reads every user.session.start since since, independently of
// the poller, and returns the last uuid followed by all uuids in order.
func readAll(t *testing.T, ctx context.Context, in *integration.Integration, key *secrets.MasterKey, clock func() time.Time, since time.Time) []string {
	t.Helper()
	c, err := in.OktaClient(key, okta.Config{RetryBackoff: 5 * time.Millisecond, Logger: quiet(), Now: clock, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	u := c.LogsURL(okta.LogQuery{Since: since, Filter: okta.EventTypeFilter(DefaultEventTypes()...)})
	var all []string
	for {
		p, err := c.LogsPage(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		gjson.ParseBytes(p.Body).ForEach(func(_, v gjson.Result) bool {
			all = append(all, v.Get("uuid").String())
			n++
			return true
		})
		if n == 0 {
			break
		}
		u = p.Next
	}
	if len(all) == 0 {
		t.Fatal("the org has no sign-ins")
	}
	return append([]string{all[len(all)-1]}, all...)
}
