package traffic

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
)

// TestSignInDetail: with SignInDetail the stream gains the rest of the
// sign-in flow at the documented rates, every event is one Clarion parses,
// one session keeps its externalSessionId, rootSessionId and dtHash across
// its events, and the sign-ins themselves (their uuids and labels) are
// those of the stream without it.
func TestSignInDetail(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 3, Users: 60, Days: 14, AttackRate: 0.02}
	plain := New(cfg)
	cfg.SignInDetail = true
	detail := New(cfg)
	var base []Event
	for {
		e, ok := plain.Next()
		if !ok {
			break
		}
		base = append(base, e)
	}
	counts := map[string]int{}
	type sess struct{ dt, root string }
	sessions := map[string]sess{}
	var signIns []Event
	var last time.Time
	for {
		e, ok := detail.Next()
		if !ok {
			break
		}
		if e.Published.Before(last) {
			t.Fatalf("published out of order: %v after %v", e.Published, last)
		}
		last = e.Published
		var ev logevent.Event
		if err := logevent.Parse(e.Raw, &ev); err != nil {
			t.Fatalf("%s: %v\n%s", ev.EventType, err, e.Raw)
		}
		if !json.Valid(e.Raw) {
			t.Fatalf("invalid JSON: %s", e.Raw)
		}
		counts[ev.EventType]++
		if ev.EventType == "user.session.start" {
			signIns = append(signIns, e)
		}
		if ev.SessionID != "" && ev.SessionID != "unknown" {
			if ev.RootSessionID != ev.SessionID || ev.DTHash == "" {
				t.Fatalf("%s: session %q root %q dtHash %q", ev.EventType, ev.SessionID, ev.RootSessionID, ev.DTHash)
			}
			if s, ok := sessions[ev.SessionID]; ok && s.dt != ev.DTHash {
				t.Fatalf("%s: session %s changed dtHash", ev.EventType, ev.SessionID)
			}
			sessions[ev.SessionID] = sess{ev.DTHash, ev.RootSessionID}
		}
	}
	if len(signIns) != len(base) {
		t.Fatalf("%d sign-ins with detail, %d without", len(signIns), len(base))
	}
	for i := range base {
		if string(signIns[i].Raw) != string(base[i].Raw) || len(signIns[i].Expect) != len(base[i].Expect) {
			t.Fatalf("sign-in %d differs with SignInDetail:\n%s\n%s", i, signIns[i].Raw, base[i].Raw)
		}
	}
	ok := 0
	for _, e := range base {
		var ev logevent.Event
		_ = logevent.Parse(e.Raw, &ev)
		if ev.Success() {
			ok++
		}
	}
	t.Logf("%d sign-ins (%d successful): %v", len(base), ok, counts)
	rate := func(typ string) float64 { return float64(counts[typ]) / float64(ok) }
	for typ, want := range map[string][2]float64{
		"policy.evaluate_sign_on":             {0.99, 1.01},
		"user.authentication.auth_via_mfa":    {0.75, 0.89},
		"system.push.send_factor_verify_push": {0.50, 0.65},
		"user.session.end":                    {0.30, 0.40},
		"user.authentication.sso":             {0.60, 0.80},
	} {
		if r := rate(typ); r < want[0] || r > want[1] {
			t.Errorf("%s: %.3f per successful sign-in, want %.2f–%.2f", typ, r, want[0], want[1])
		}
	}
	for _, typ := range []string{"user.risk.detect", "security.threat.detected"} {
		if counts[typ] == 0 {
			t.Errorf("no %s in 14 days of a 60-user org with attacks", typ)
		}
	}
}
