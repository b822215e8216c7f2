package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
)

func TestInjectAttack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{History: 14 * 24 * time.Hour}, []string{"okta.logs.read"}, false)
	post := func(body string) (int, AttackInfo, string) {
		res, err := http.Post(e.ts.URL+"/sim/attacks", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var raw json.RawMessage
		json.NewDecoder(res.Body).Decode(&raw)
		var info AttackInfo
		json.Unmarshal(raw, &info)
		return res.StatusCode, info, string(raw)
	}
	st, info, raw := post(`{}`)
	if st != 201 || len(info.Events) != 3 || info.Kind != "impossible_travel" || info.UserID == "" {
		t.Fatalf("inject: %d %s", st, raw)
	}
	labels := map[string]Label{}
	for _, l := range e.s.Labels(false) {
		labels[l.UUID] = l
	}
	outcomes := ""
	for _, id := range info.Events {
		l, ok := labels[id]
		if !ok || l.Attack != "impossible_travel" || l.UserID != info.UserID || !l.Published.Equal(info.Published) && l.Published.Before(info.Published) {
			t.Fatalf("event %s: %+v (present %v)", id, l, ok)
		}
		outcomes += l.Outcome[:1]
	}
	if outcomes != "SFS" {
		t.Errorf("outcomes %q, want home success, failed attempt, success abroad", outcomes)
	}
	// A proxy sign-in for a named user; bad requests.
	if st, info, raw := post(`{"user":"` + info.Login + `","kind":"anonymizing_proxy"}`); st != 201 || len(info.Events) != 1 {
		t.Fatalf("proxy: %d %s", st, raw)
	}
	for _, bad := range []string{`{"user":"nobody@example.com"}`, `{"kind":"no_such_attack"}`, `{"kind":`} {
		if st, _, raw := post(bad); st != 400 {
			t.Errorf("%s: %d %s", bad, st, raw)
		}
	}
}

// TestInjectSignInAttacks: each sign-in security attack kind logs its
// events, shaped as Okta writes them, in the System Log and the labels.
func TestInjectSignInAttacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{History: 10 * 24 * time.Hour, Users: 40}, []string{"okta.logs.read"}, false)
	tok := e.bearer("okta.logs.read")
	for _, tc := range []struct {
		kind  string
		check func(types []string, users map[string]bool) bool
	}{
		{"password_spray", func(ty []string, us map[string]bool) bool {
			return len(us) >= 10 && count(ty, "user.session.start") >= 11 && ty[len(ty)-1] == "policy.evaluate_sign_on"
		}},
		{"brute_force", func(ty []string, us map[string]bool) bool {
			return len(us) == 1 && count(ty, "user.session.start") == 9 && ty[len(ty)-1] == "user.account.lock"
		}},
		{"credential_stuffing", func(ty []string, us map[string]bool) bool {
			return len(us) >= 8 && ty[len(ty)-1] == "security.threat.detected"
		}},
		{"mfa_fatigue", func(ty []string, us map[string]bool) bool {
			return len(us) == 1 && count(ty, "system.push.send_factor_verify_push") == 6 &&
				count(ty, "user.mfa.okta_verify.deny_push") == 5 && ty[len(ty)-1] == "user.authentication.auth_via_mfa"
		}},
		{"session_hijack", func(ty []string, us map[string]bool) bool {
			return len(us) == 1 && count(ty, "user.session.start") == 1 && count(ty, "user.authentication.sso") == 3
		}},
		{"factor_reset", func(ty []string, us map[string]bool) bool {
			return len(us) == 1 && count(ty, "user.mfa.factor.reset_all") == 1 && ty[len(ty)-1] == "user.mfa.factor.activate"
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			info, err := e.s.InjectAttack(AttackRequest{Kind: tc.kind})
			if err != nil {
				t.Fatal(err)
			}
			// The events as the System Log serves them, by uuid.
			r := e.get("/api/v1/logs?limit=1000&since="+url.QueryEscape(info.Published.Add(-time.Second).Format(time.RFC3339Nano)), tok)
			var evs []json.RawMessage
			if err := json.Unmarshal(r.body, &evs); err != nil {
				t.Fatal(err)
			}
			byUUID := map[string]logevent.Event{}
			for _, raw := range evs {
				var ev logevent.Event
				if err := logevent.Parse(raw, &ev); err != nil {
					t.Fatalf("%v: %s", err, raw)
				}
				byUUID[ev.UUID] = ev
			}
			var types []string
			users := map[string]bool{}
			sessions := map[string]string{}
			for _, id := range info.Events {
				ev, ok := byUUID[id]
				if !ok {
					t.Fatalf("event %s not in the System Log", id)
				}
				types = append(types, ev.EventType)
				if ev.EventType != "security.threat.detected" {
					users[ev.UserKey()] = true
				}
				if ev.SessionID != "unknown" && ev.SessionID != "" {
					if dt, ok := sessions[ev.SessionID]; ok && dt != ev.DTHash {
						t.Fatalf("session %s changed dtHash", ev.SessionID)
					}
					sessions[ev.SessionID] = ev.DTHash
				}
			}
			if !tc.check(types, users) {
				t.Fatalf("events %v of %d users", types, len(users))
			}
			if tc.kind == "session_hijack" {
				// The hijacked session is used from two places.
				ips := map[string]bool{}
				for _, id := range info.Events {
					ips[byUUID[id].IP] = true
				}
				if len(sessions) != 1 || len(ips) < 2 {
					t.Fatalf("hijack: %d sessions over %d IPs", len(sessions), len(ips))
				}
			}
		})
	}
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
