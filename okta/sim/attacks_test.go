package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
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
	for _, bad := range []string{`{"user":"nobody@example.com"}`, `{"kind":"credential_stuffing"}`, `{"kind":`} {
		if st, _, raw := post(bad); st != 400 {
			t.Errorf("%s: %d %s", bad, st, raw)
		}
	}
}
