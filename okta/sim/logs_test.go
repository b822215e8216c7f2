package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
)

var linkRe = regexp.MustCompile(`<([^>]+)>; rel="(\w+)"`)

func links(h http.Header) map[string]string {
	out := map[string]string{}
	for _, l := range h.Values("Link") {
		for _, m := range linkRe.FindAllStringSubmatch(l, -1) {
			out[m[2]] = m[1]
		}
	}
	return out
}

func parseEvents(t *testing.T, b []byte) []logevent.Event {
	t.Helper()
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		t.Fatalf("body: %v", err)
	}
	out := make([]logevent.Event, len(raws))
	for i, r := range raws {
		if err := logevent.Parse(r, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// pull follows next links from path until a page is empty or no next link.
func (e *env) pull(path, tok string) (evs []logevent.Event, pages int) {
	e.t.Helper()
	u := e.ts.URL + path
	for pages < 10000 {
		r := e.get(strings.TrimPrefix(u, e.ts.URL), tok)
		if r.status != 200 {
			e.t.Fatalf("%s: %d %s", u, r.status, r.body)
		}
		pages++
		l := links(r.header)
		if l["self"] == "" {
			e.t.Fatal("no self link")
		}
		page := parseEvents(e.t, r.body)
		evs = append(evs, page...)
		next, ok := l["next"]
		if !ok || len(page) == 0 {
			return evs, pages
		}
		if strings.Contains(next, "since=") {
			e.t.Fatalf("next link mixes since with after: %s", next)
		}
		u = next
	}
	e.t.Fatal("too many pages")
	return nil, 0
}

func TestLogsPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Users: 40}, []string{"okta.logs.read"}, false)
	tok := e.bearer("okta.logs.read")
	total := len(e.s.recs)
	if total < 500 {
		t.Fatalf("history too small: %d", total)
	}
	since := url.QueryEscape(t0.Add(-30 * 24 * time.Hour).Format(time.RFC3339))
	// Polling (ASCENDING, no until): every event once, in order; next is
	// always present, so the loop ends on an empty page.
	evs, pages := e.pull("/api/v1/logs?limit=97&sortOrder=ASCENDING&since="+since, tok)
	if len(evs) != total {
		t.Fatalf("got %d events, want %d", len(evs), total)
	}
	if pages != total/97+2 && pages != total/97+1 {
		t.Fatalf("%d pages for %d events", pages, total)
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		if seen[ev.UUID] {
			t.Fatalf("duplicate %s", ev.UUID)
		}
		seen[ev.UUID] = true
		if i > 0 && ev.Published.Before(evs[i-1].Published) {
			t.Fatalf("out of order at %d", i)
		}
	}
	// A poll at the end returns [] and a next link again.
	r := e.get("/api/v1/logs?limit=1000&since="+url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)), tok)
	if string(r.body) != "[]" || links(r.header)["next"] == "" {
		t.Fatalf("empty poll: %s %v", r.body, links(r.header))
	}
	// New events appear behind the cursor once the clock moves.
	next := links(r.header)["next"]
	e.clk.Add(6 * time.Hour)
	tok = e.bearer("okta.logs.read")
	r = e.get(strings.TrimPrefix(next, e.ts.URL), tok)
	if fresh := parseEvents(t, r.body); len(fresh) == 0 {
		t.Fatal("no live events after 6 h")
	}
	// Bounded (until): no next link after the last page.
	until := url.QueryEscape(t0.Format(time.RFC3339))
	total = len(evs) // the history before t0
	evs2, _ := e.pull("/api/v1/logs?limit=1000&since="+since+"&until="+until, tok)
	if len(evs2) != total {
		t.Fatalf("bounded: %d, want %d", len(evs2), total)
	}
	// DESCENDING: newest first, same set.
	evs3, _ := e.pull("/api/v1/logs?limit=250&sortOrder=DESCENDING&since="+since+"&until="+until, tok)
	if len(evs3) != total || evs3[0].UUID != evs[total-1].UUID || evs3[total-1].UUID != evs[0].UUID {
		t.Fatalf("descending: %d events", len(evs3))
	}
	// Default window is 7 days before until; default limit 100.
	r = e.get("/api/v1/logs", tok)
	if got := parseEvents(t, r.body); len(got) != 100 {
		t.Fatalf("default limit: %d", len(got))
	}
	// limit is capped at 1000.
	r = e.get("/api/v1/logs?limit=5000&since="+since, tok)
	if got := parseEvents(t, r.body); len(got) != 1000 {
		t.Fatalf("limit cap: %d", len(got))
	}
}

func TestLogsValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, []string{"okta.logs.read"}, false)
	tok := e.bearer("okta.logs.read")
	for _, q := range []string{
		"since=yesterday",
		"until=2026-13-01",
		"limit=-1",
		"limit=ten",
		"sortOrder=RANDOM",
		"filter=" + url.QueryEscape(`eventType eq`),
		"filter=" + url.QueryEscape(`(eventType eq "x"`),
		"filter=" + url.QueryEscape(`eventType eq user.session.start`),
		"after=-3",
	} {
		wantOktaError(t, e.get("/api/v1/logs?"+q, tok), 400, "E0000001")
	}
}

func TestLogsFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{AttackRate: 0.1, Users: 30, History: 4 * 24 * time.Hour}, []string{"okta.logs.read"}, false)
	tok := e.bearer("okta.logs.read")
	since := "&since=" + url.QueryEscape(t0.Add(-30*24*time.Hour).Format(time.RFC3339))
	all, _ := e.pull("/api/v1/logs?limit=1000"+since, tok)
	count := func(pred func(*logevent.Event) bool) int {
		n := 0
		for i := range all {
			if pred(&all[i]) {
				n++
			}
		}
		return n
	}
	user := ""
	for i := len(all) / 2; user == "" || user == "unknown"; i++ {
		user = all[i].ActorID
	}
	cases := []struct {
		filter string
		pred   func(*logevent.Event) bool
	}{
		{`eventType eq "user.session.start"`, func(e *logevent.Event) bool { return e.EventType == "user.session.start" }},
		{`eventType eq "user.session.start" and outcome.result eq "FAILURE"`, func(e *logevent.Event) bool { return e.EventType == "user.session.start" && e.Outcome == "FAILURE" }},
		{`actor.id eq "` + user + `"`, func(e *logevent.Event) bool { return e.ActorID == user }},
		{`actor.id eq "unknown" or securityContext.isProxy eq true`, func(e *logevent.Event) bool { return e.ActorID == "unknown" || e.IsProxy }},
		{`(actor.id eq "` + user + `" or actor.id eq "unknown") and outcome.result eq "SUCCESS"`, func(e *logevent.Event) bool {
			return (e.ActorID == user || e.ActorID == "unknown") && e.Outcome == "SUCCESS"
		}},
		{`not (outcome.result eq "SUCCESS")`, func(e *logevent.Event) bool { return e.Outcome != "SUCCESS" }},
		{`client.geographicalContext.country eq "United Kingdom"`, func(e *logevent.Event) bool { return e.Country == "United Kingdom" }},
		{`debugContext.debugData.threatSuspected eq "true"`, func(e *logevent.Event) bool { return e.ThreatSuspected }},
		// What the poller sends for the sign-in flow's types.
		{`eventType eq "user.authentication.auth_via_mfa" or eventType eq "system.push.send_factor_verify_push" or eventType eq "user.session.end"`, func(e *logevent.Event) bool {
			return e.EventType == "user.authentication.auth_via_mfa" || e.EventType == "system.push.send_factor_verify_push" || e.EventType == "user.session.end"
		}},
		{`eventType sw "user.authentication"`, func(e *logevent.Event) bool { return strings.HasPrefix(e.EventType, "user.authentication") }},
		{`eventType eq "policy.evaluate_sign_on" and outcome.result eq "ALLOW"`, func(e *logevent.Event) bool { return e.EventType == "policy.evaluate_sign_on" && e.Outcome == "ALLOW" }},
	}
	for _, c := range cases {
		got, _ := e.pull("/api/v1/logs?limit=1000&filter="+url.QueryEscape(c.filter)+since, tok)
		want := count(c.pred)
		if len(got) != want {
			t.Errorf("%s: %d events, want %d", c.filter, len(got), want)
		}
		for i := range got {
			if !c.pred(&got[i]) {
				t.Errorf("%s: %s does not match", c.filter, got[i].UUID)
				break
			}
		}
		if want == 0 && !strings.Contains(c.filter, "isProxy") {
			t.Errorf("%s: vacuous case", c.filter)
		}
	}
	// target.id matches any element of the target array: the user's MFA
	// events name them as their second target.
	mfa := `eventType eq "user.authentication.auth_via_mfa"`
	r := e.get("/api/v1/logs?limit=1000&filter="+url.QueryEscape(mfa)+since, tok)
	var raws []struct {
		Target []struct{ ID string } `json:"target"`
	}
	if err := json.Unmarshal(r.body, &raws); err != nil || len(raws) == 0 {
		t.Fatalf("MFA events: %d, %v", len(raws), err)
	}
	victim := raws[len(raws)/2].Target[0].ID
	want := 0
	for _, ev := range raws {
		for _, tg := range ev.Target {
			if tg.ID == victim {
				want++
				break
			}
		}
	}
	r = e.get("/api/v1/logs?limit=1000&filter="+url.QueryEscape(mfa+` and target.id eq "`+victim+`"`)+since, tok)
	var got0 []json.RawMessage
	if err := json.Unmarshal(r.body, &got0); err != nil || len(got0) != want || want == 0 {
		t.Fatalf("target.id filter: %d events, want %d (%v)", len(got0), want, err)
	}
	// q: keywords, case-insensitive, all must appear.
	got, _ := e.pull("/api/v1/logs?limit=1000&q=LONDON+success"+since, tok)
	if len(got) == 0 || len(got) != count(func(e *logevent.Event) bool {
		return strings.Contains(strings.ToLower(e.City+e.State), "london") && e.Outcome == "SUCCESS"
	}) {
		t.Errorf("q: %d events", len(got))
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{RateLimitPerMinute: 3}, []string{"okta.logs.read"}, false)
	tok := e.bearer("okta.logs.read")
	for i := 0; i < 3; i++ {
		r := e.get("/api/v1/logs?limit=1", tok)
		if r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
		if r.header.Get("X-Rate-Limit-Limit") != "3" || r.header.Get("X-Rate-Limit-Remaining") != string(rune('2'-i)) {
			t.Fatalf("headers %v", r.header)
		}
	}
	r := e.get("/api/v1/logs?limit=1", tok)
	wantOktaError(t, r, 429, "E0000047")
	reset := r.header.Get("X-Rate-Limit-Reset")
	if reset == "" || r.header.Get("X-Rate-Limit-Remaining") != "0" {
		t.Fatalf("429 headers %v", r.header)
	}
	e.clk.Add(time.Minute)
	if r := e.get("/api/v1/logs?limit=1", tok); r.status != 200 || r.header.Get("X-Rate-Limit-Reset") == reset {
		t.Fatalf("after reset: %d %v", r.status, r.header)
	}
	// With the limit off, the headers are still there.
	e2 := newEnv(t, Config{}, []string{"okta.logs.read"}, false)
	r = e2.get("/api/v1/logs?limit=1", e2.bearer("okta.logs.read"))
	if r.header.Get("X-Rate-Limit-Limit") == "" || r.header.Get("X-Rate-Limit-Remaining") == "" || r.header.Get("X-Rate-Limit-Reset") == "" {
		t.Fatalf("headers without limit: %v", r.header)
	}
}
