package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/console"
	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
)

type noIntegrations struct{}

func (noIntegrations) Create(context.Context, integration.CreateRequest, bool) (*integration.Integration, string, error) {
	return nil, "", integration.ErrInvalid
}
func (noIntegrations) Get(string) (*integration.Integration, bool) { return nil, false }
func (noIntegrations) List() []*integration.Integration            { return nil }
func (noIntegrations) Hook(string) integration.HookStatus          { return integration.HookStatus{} }

func signin(uuid, published, city, country, ip string, lat, lon float64) map[string]any {
	return map[string]any{"uuid": uuid, "published": published, "outcome": "SUCCESS", "ip": ip, "city": city, "country": country, "lat": lat, "lon": lon, "asn": 3215, "isp": "Orange"}
}

// TestAlertDetailMap renders an impossible-travel alert (one trip across
// the Atlantic, one across the date line) and checks the map's pins and
// travel lines and the baseline figures, against the console alone.
func TestAlertDetailMap(t *testing.T) {
	chrome := chromium(t)
	shots := artifactDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := bustest.New(t, 1)
	cl := bustest.Client(t, c.Brokers)
	now := time.Now().UTC()
	ts := func(d time.Duration) string { return now.Add(d).Format("2006-01-02T15:04:05.000Z") }
	records := []struct {
		topic string
		v     any
	}{
		{bus.TopicAlerts, map[string]any{
			"id": "al-travel", "dedup_key": "clarion/int/00utravel/x", "integration_id": "int", "user": map[string]string{"id": "00utravel", "login": "traveller@example.com"},
			"status": "New", "disposition": "Unknown", "severity": "Critical", "action_required": "none",
			"anomalies": []map[string]string{{"id": "an-1", "type": "impossible_travel"}, {"id": "an-2", "type": "impossible_travel"}}, "anomaly_count": 2,
			"types": []string{"impossible_travel"}, "first_seen": ts(-3 * time.Hour), "last_seen": ts(-time.Hour), "version": 2,
			"summary": "Impossible travel for traveller@example.com (2 anomalies).",
		}},
		{bus.TopicAnomalies, map[string]any{
			"id": "an-1", "type": "impossible_travel", "integration_id": "int", "user": map[string]string{"id": "00utravel"}, "event_uuid": "u2",
			"published": ts(-3 * time.Hour), "score": 0.95, "alert_id": "al-travel",
			"sentence": "traveller@example.com signed in from New York 40 min after signing in from Paris, 5837 km away: 8756 km/h, faster than any flight.",
			"evidence": map[string]any{"signins": []any{signin("u1", ts(-3*time.Hour-40*time.Minute), "Paris", "France", "90.1.1.1", 48.85, 2.35), signin("u2", ts(-3*time.Hour), "New York", "United States", "3.3.3.3", 40.71, -74.0)},
				"distance_km": 5837, "hours": 0.67, "speed_kmh": 8756, "max_speed_kmh": 1000, "baseline_places": 2, "baseline_signins": 140, "history_days": 41, "familiar": []bool{true, false}},
		}},
		{bus.TopicAnomalies, map[string]any{
			"id": "an-2", "type": "impossible_travel", "integration_id": "int", "user": map[string]string{"id": "00utravel"}, "event_uuid": "u4",
			"published": ts(-time.Hour), "score": 0.9, "alert_id": "al-travel",
			"sentence": "traveller@example.com signed in from San Francisco 1.5 h after signing in from Tokyo.",
			"evidence": map[string]any{"signins": []any{signin("u3", ts(-150*time.Minute), "Tokyo", "Japan", "1.1.1.1", 35.68, 139.69), signin("u4", ts(-time.Hour), "San Francisco", "United States", "4.4.4.4", 37.77, -122.42)},
				"distance_km": 8280, "hours": 1.5, "speed_kmh": 5520, "tenant_share": 0.02},
		}},
	}
	for _, r := range records {
		b, _ := json.Marshal(r.v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: r.topic, Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	con, err := console.New(console.Config{Token: adminToken, Brokers: c.Brokers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Token: adminToken, Registry: noIntegrations{}, PublicURL: "http://x", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	url := serveConsole(t, ctx, con, a)

	br := newBrowser(t, ctx, chrome, shots)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	br.run("sign in", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url+"/"), chromedp.WaitVisible(css("#login-token")),
		chromedp.SendKeys(css("#login-token"), adminToken), chromedp.Click(css("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.Search(`//tbody[@id="alerts-body"]//a[contains(., "traveller@example.com")]`)),
		chromedp.Click(chromedp.Search(`//tbody[@id="alerts-body"]//a[contains(., "traveller@example.com")]`)),
		chromedp.WaitVisible(css(`article[data-anomaly="an-2"]`)))
	got, err := chromedp.Run(br.ctx, chromedp.Evaluate[map[string]int](`({
		pins: document.querySelectorAll('#alert-map circle.pin').length,
		familiar: document.querySelectorAll('#alert-map circle.pin.familiar').length,
		lines: document.querySelectorAll('#alert-map line.travel').length,
		image: document.querySelectorAll('#alert-map image').length})`))
	if err != nil {
		t.Fatal(err)
	}
	// 4 sign-ins; Paris->New York one line; Tokyo->San Francisco crosses
	// the date line the short way, drawn in two pieces.
	if got["pins"] != 4 || got["lines"] != 3 || got["familiar"] != 1 || got["image"] != 1 {
		t.Fatalf("map: %v", got)
	}
	// Paris is drawn at x = lon + 180, y = 90 - lat.
	pos, err := chromedp.Run(br.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#alert-map circle.pin')).filter(c => c.dataset.uuid === 'u1').map(c => c.getAttribute('cx') + ',' + c.getAttribute('cy'))`))
	if err != nil || len(pos) != 1 || pos[0] != "182.35,41.15" {
		t.Fatalf("Paris pin at %v (%v)", pos, err)
	}
	text, err := chromedp.Run(br.ctx, chromedp.Text(css("#view-alert")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Implied speed", "8756 km/h", "Sign-ins in baseline", "140", "Days of history", "41", "Share of the tenant", "2.0 %", "faster than any flight", "Tokyo, Japan"} {
		if !strings.Contains(text, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	br.run("scroll to map", chromedp.ScrollIntoView(css("#alert-map")))
	shot(t, br.ctx, shots, "07-travel-map")
	if e := br.errs(); len(e) > 0 {
		t.Fatalf("page errors: %v", e)
	}
}

// serveConsole serves con's UI and API (behind a) on a test server and
// runs its read model until the test ends; it returns the server's URL.
func serveConsole(t *testing.T, ctx context.Context, con *console.Console, a *api.API) string {
	t.Helper()
	mux := http.NewServeMux()
	a.Register(mux)
	con.Register(mux, a)
	srv := httptest.NewServer(mux)
	rctx, stop := context.WithCancel(ctx)
	t.Cleanup(func() { stop(); srv.Close() })
	go con.Run(rctx)
	return srv.URL
}
