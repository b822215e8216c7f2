package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestUsersLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{}, []string{"okta.users.manage", "okta.logs.read"}, false)
	tok := e.bearer("okta.users.manage okta.logs.read")
	u := e.s.Users()[3]

	r := e.get("/api/v1/users/"+u.ID, tok)
	if r.status != 200 {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	m := r.json(t)
	p := m["profile"].(map[string]any)
	if m["id"] != u.ID || m["status"] != "ACTIVE" || p["login"] != u.Login || p["email"] != u.Login || p["firstName"] != u.FirstName {
		t.Fatalf("user %s", r.body)
	}
	for _, k := range []string{"created", "activated", "statusChanged", "lastLogin"} {
		if s, _ := m[k].(string); !strings.HasSuffix(s, "Z") {
			t.Fatalf("%s = %v", k, m[k])
		}
	}
	if _, ok := m["_links"].(map[string]any)["suspend"]; !ok {
		t.Fatal("no suspend link for an ACTIVE user")
	}
	// By login too, as Okta allows.
	if r := e.get("/api/v1/users/"+url.PathEscape(u.Login), tok); r.status != 200 {
		t.Fatalf("by login: %d", r.status)
	}
	wantOktaError(t, e.get("/api/v1/users/00unotauser", tok), 404, "E0000007")

	suspend := "/api/v1/users/" + u.ID + "/lifecycle/suspend"
	unsuspend := "/api/v1/users/" + u.ID + "/lifecycle/unsuspend"
	wantOktaError(t, e.call(http.MethodPost, unsuspend, tok), 400, "E0000001")
	if r := e.call(http.MethodPost, suspend, tok); r.status != 200 || string(r.body) != "{}" {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	r = e.call(http.MethodPost, suspend, tok)
	wantOktaError(t, r, 400, "E0000001")
	if !strings.Contains(string(r.body), "Cannot suspend a user that is not active") {
		t.Fatalf("message: %s", r.body)
	}
	if got := e.get("/api/v1/users/"+u.ID, tok).json(t)["status"]; got != "SUSPENDED" {
		t.Fatalf("status %v", got)
	}
	if e.s.Users()[3].Status != StatusSuspended {
		t.Fatal("Users() does not show the suspension")
	}
	// A suspended user's sign-ins fail.
	e.clk.Add(72 * time.Hour)
	tok = e.bearer("okta.users.manage okta.logs.read")
	f := url.QueryEscape(`actor.id eq "` + u.ID + `" and eventType eq "user.session.start"`)
	since := url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339))
	evs, _ := e.pull("/api/v1/logs?limit=1000&since="+since+"&filter="+f, tok)
	if len(evs) == 0 {
		t.Fatal("no sign-ins of the suspended user in 3 days")
	}
	for _, ev := range evs {
		if ev.Outcome != "FAILURE" {
			t.Fatalf("suspended user signed in: %s", ev.UUID)
		}
	}
	if r := e.call(http.MethodPost, unsuspend, tok); r.status != 200 {
		t.Fatalf("unsuspend: %d %s", r.status, r.body)
	}
	wantOktaError(t, e.call(http.MethodPost, unsuspend, tok), 400, "E0000001")
	if r := e.call(http.MethodDelete, "/api/v1/users/"+u.ID+"/sessions?oauthTokens=true", tok); r.status != 204 {
		t.Fatalf("clear sessions: %d %s", r.status, r.body)
	}
	wantOktaError(t, e.call(http.MethodDelete, "/api/v1/users/00unotauser/sessions", tok), 404, "E0000007")
	wantOktaError(t, e.call(http.MethodPost, "/api/v1/users/"+u.ID+"/lifecycle/explode", tok), 404, "E0000007")

	// The admin actions are in the System Log, acted by the app.
	f = url.QueryEscape(`eventType eq "user.lifecycle.suspend" or eventType eq "user.lifecycle.unsuspend" or eventType eq "user.session.clear"`)
	evs, _ = e.pull("/api/v1/logs?limit=1000&since="+url.QueryEscape(t0.Add(-time.Hour).Format(time.RFC3339))+"&filter="+f, tok)
	if len(evs) != 3 || evs[0].EventType != "user.lifecycle.suspend" || evs[2].EventType != "user.session.clear" || evs[0].ActorID != e.appID {
		t.Fatalf("admin events: %+v", evs)
	}

	// Groups and listing.
	r = e.get("/api/v1/users/"+u.ID+"/groups", tok)
	var groups []map[string]any
	if err := json.Unmarshal(r.body, &groups); err != nil || len(groups) < 2 {
		t.Fatalf("groups: %s", r.body)
	}
	var ids []string
	next := "/api/v1/users?limit=25"
	for next != "" {
		r := e.get(next, tok)
		var page []map[string]any
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			ids = append(ids, p["id"].(string))
		}
		next = strings.TrimPrefix(links(r.header)["next"], e.ts.URL)
	}
	if len(ids) != len(e.s.Users()) {
		t.Fatalf("listed %d users, want %d", len(ids), len(e.s.Users()))
	}
}
