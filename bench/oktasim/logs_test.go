// Package oktasim benchmarks the simulated Okta org's System Log serving:
// how fast /api/v1/logs hands out a large history over real HTTP. The
// backfill target is 50,000 events/s for the whole pipeline (issue 3), so the
// simulator must serve well above that to not be the bottleneck.
//
//	go test -run x -bench . -benchtime 1x ./bench/oktasim/
package oktasim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/tidwall/gjson"

	"github.com/clarion-itdr/clarion/okta/sim"
)

var nextRe = regexp.MustCompile(`<([^>]+)>; rel="next"`)

// BenchmarkLogsBackfill1M pulls 1,000,000 events with limit=1000 through
// one HTTP connection, ASCENDING, following Link rel="next", and reports
// events/s. The client side only splits the JSON array into raw events
// (gjson), as a poller does before producing them, so the figure is the
// simulator's serving rate plus HTTP.
func BenchmarkLogsBackfill1M(b *testing.B) {
	const events = 1000000
	start := time.Now()
	s, err := sim.New(sim.Config{Users: 2000, HistoryEvents: events, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("history of %d events generated in %s", events, time.Since(start).Round(time.Millisecond))
	ts := httptest.NewServer(s)
	defer ts.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	id, err := s.RegisterApp("", jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k"}}}, []string{"okta.logs.read"}, false)
	if err != nil {
		b.Fatal(err)
	}
	tok := token(b, ts.URL, id, key)
	since := url.QueryEscape(time.Now().Add(-5 * 365 * 24 * time.Hour).Format(time.RFC3339))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		u := ts.URL + "/api/v1/logs?limit=1000&sortOrder=ASCENDING&since=" + since
		t0 := time.Now()
		for n < events {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			root := gjson.ParseBytes(body)
			if !root.IsArray() {
				b.Fatalf("page: %.200s", body)
			}
			k := 0
			root.ForEach(func(_, v gjson.Result) bool {
				if v.Type == gjson.JSON {
					k++
				}
				return true
			})
			if k == 0 {
				break
			}
			n += k
			m := nextRe.FindStringSubmatch(strings.Join(res.Header.Values("Link"), ","))
			if m == nil {
				b.Fatal("no next link")
			}
			u = m[1]
		}
		if n != events {
			b.Fatalf("pulled %d events, want %d", n, events)
		}
		b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "events/s")
	}
}

func token(b *testing.B, base, clientID string, key *rsa.PrivateKey) string {
	sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
	a, _ := jwt.Signed(sig).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{base + "/oauth2/v1/token"},
		ID: "bench", Expiry: jwt.NewNumericDate(time.Now().Add(5 * time.Minute))}).Serialize()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.logs.read"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	res, err := http.Post(base+"/oauth2/v1/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&t); err != nil || t.AccessToken == "" {
		b.Fatalf("token: %v", err)
	}
	return t.AccessToken
}
