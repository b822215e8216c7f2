package sim

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{AttackRate: 0.05}, []string{"okta.logs.read"}, false)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: "es", Algorithm: "ES256"})
	post := func(path, body string) (int, map[string]any) {
		res, err := http.Post(e.ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	st, m := post("/sim/apps", `{"client_id":"0oaclarion","jwks":{"keys":[`+string(jwk)+`]},"scopes":["okta.logs.read","okta.users.manage"],"dpop":true}`)
	if st != 201 || m["client_id"] != "0oaclarion" {
		t.Fatalf("apps: %d %v", st, m)
	}
	st, m = post("/sim/apps", `{"jwks":{"keys":[`+string(jwk)+`]},"scopes":["okta.logs.read"]}`)
	if st != 201 || !strings.HasPrefix(m["client_id"].(string), "0oa") {
		t.Fatalf("apps generated id: %d %v", st, m)
	}
	for _, bad := range []string{
		`{"jwks":{"keys":[]},"scopes":["okta.logs.read"]}`,
		`{"jwks":{"keys":[` + string(jwk) + `]},"scopes":["okta.everything"]}`,
		`{"jwks":`,
		`{"jwks":{"keys":[` + string(jwk) + `]},"extra":1}`,
	} {
		if st, _ := post("/sim/apps", bad); st != 400 {
			t.Fatalf("%s: %d", bad, st)
		}
	}
	// Private keys are refused.
	priv, _ := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "p"})
	if st, _ := post("/sim/apps", `{"jwks":{"keys":[`+string(priv)+`]},"scopes":["okta.logs.read"]}`); st != 400 {
		t.Fatalf("private key accepted: %d", st)
	}

	res, _ := http.Get(e.ts.URL + "/sim/users")
	var users []map[string]any
	json.NewDecoder(res.Body).Decode(&users)
	res.Body.Close()
	if len(users) != 60 || users[0]["status"] != "ACTIVE" || users[0]["ID"] == "" {
		t.Fatalf("users: %d %v", len(users), users[0])
	}

	for _, q := range []string{"", "?all=true"} {
		res, _ = http.Get(e.ts.URL + "/sim/labels" + q)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			var l Label
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			if l.UUID == "" || l.UserID == "" || (q == "" && l.Attack == "") {
				t.Fatalf("label %s", sc.Bytes())
			}
			n++
		}
		res.Body.Close()
		if n == 0 || n != len(e.s.Labels(q != "")) {
			t.Fatalf("labels%s: %d", q, n)
		}
	}
}

func TestHistoryEventsAndSpeed(t *testing.T) {
	t.Parallel()
	clk := &clock{t: t0}
	s, err := New(Config{Users: 30, HistoryEvents: 3000, Speed: 60, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.recs); n != 3000 {
		t.Fatalf("history of %d events, want 3000", n)
	}
	if last := s.recs[2999].Published; last > t0.UnixMilli() {
		t.Fatal("history reaches past now")
	}
	clk.Add(time.Minute)
	if got := s.SimNow(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("sim now %v after one minute at speed 60", got)
	}
	if n := s.advance(); n <= 3000 {
		t.Fatalf("no live events after a simulated hour: %d", n)
	}
	// Run stops cleanly.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	// CatchUp: behind the wall clock at start, fast until caught up, then
	// following the wall clock.
	clk2 := &clock{t: t0}
	c, err := New(Config{Users: 10, History: 24 * time.Hour, Speed: 60, CatchUp: 2 * time.Hour, Now: clk2.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SimNow(); !got.Equal(t0.Add(-2 * time.Hour)) {
		t.Fatalf("catch-up start %v", got)
	}
	if last := c.recs[len(c.recs)-1].Published; last > t0.Add(-2*time.Hour).UnixMilli() {
		t.Fatal("history reaches past the simulated now")
	}
	clk2.Add(time.Minute)
	if got := c.SimNow(); !got.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("catch-up after a minute %v", got)
	}
	clk2.Add(time.Hour)
	if got := c.SimNow(); !got.Equal(clk2.Now()) {
		t.Fatalf("caught up: %v, wall %v", got, clk2.Now())
	}
	if _, err := New(Config{OrgURL: "ftp://x"}); err == nil {
		t.Fatal("bad OrgURL accepted")
	}
}
