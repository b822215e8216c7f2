package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
)

// testAdminToken passes api.CheckTokenStrength.
const testAdminToken = "app-test-Zq8vN3kR7wYt2LpX5cHf9mBd"

// start runs target in-process on loopback with free ports and returns the
// app and a stop function that cancels it and waits for Run to return.
func start(t *testing.T, cfg Config, target string) (*App, func() error) {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EmbeddedKafka == "" {
		cfg.EmbeddedKafka = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, target)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitReady(t, "http://"+a.Addr())
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = fmt.Errorf("Run did not return within 30s of cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return a, stop
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("never ready")
}

func call(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func delivery(uuid string) []byte {
	return []byte(`{"eventType":"com.okta.event_hook","eventId":"d-` + uuid + `","data":{"events":[{"uuid":"` + uuid + `","actor":{"id":"00u1","alternateId":"a@x"},"eventType":"user.session.start"}]}}`)
}

func postHook(t *testing.T, url, secret string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(integration.DefaultAuthField, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRunRestartKeepsEventsAndIntegrations is the one-machine story: create
// an integration through the API, deliver, stop, start again on the same
// data dir: the integration, its secret and the events are still there.
func TestRunRestartKeepsEventsAndIntegrations(t *testing.T) {
	dir := t.TempDir()
	a, stop := start(t, Config{DataDir: dir}, TargetAll)
	base := "http://" + a.Addr()
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatalf("admin token not generated: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master key: %v %v", st, err)
	}
	token := strings.TrimSpace(string(tok))
	code, b := call(t, "POST", base+"/api/integrations", token, map[string]string{"name": "acme", "tenant_url": "https://acme.okta.com", "client_id": "0oa1"})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	var created integration.Created
	json.Unmarshal(b, &created)
	if created.WebhookURL != base+"/hooks/okta/"+created.ID || created.AuthSecret == "" {
		t.Fatalf("created %+v", created)
	}
	if c := postHook(t, created.WebhookURL, created.AuthSecret, delivery("e-1")); c != 200 {
		t.Fatalf("delivery %d", c)
	}
	embedded := a.Brokers
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	a2, _ := start(t, Config{DataDir: dir}, TargetAll)
	base2 := "http://" + a2.Addr()
	code, b = call(t, "GET", base2+"/api/integrations", token, nil)
	if code != 200 || !strings.Contains(string(b), created.ID) {
		t.Fatalf("after restart: %d %s", code, b)
	}
	if strings.Contains(string(b), created.AuthSecret) || strings.Contains(string(b), "sealed") {
		t.Fatal("list leaks secrets")
	}
	// The same secret still works (only its hash was stored, and replayed).
	if c := postHook(t, base2+"/hooks/okta/"+created.ID, created.AuthSecret, delivery("e-2")); c != 200 {
		t.Fatalf("delivery after restart %d", c)
	}
	recs := bustest.ConsumeN(t, a2.Brokers, bus.TopicEvents, 2, 10*time.Second)
	got := map[string]bool{}
	for _, r := range recs {
		got[bus.Header(r, bus.HeaderUUID)] = true
	}
	if !got["e-1"] || !got["e-2"] {
		t.Fatalf("events after restart: %v (embedded was %v)", got, embedded)
	}
}

func TestAPIRequiresToken(t *testing.T) {
	t.Parallel()
	a, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken}, TargetAll)
	base := "http://" + a.Addr()
	if code, _ := call(t, "GET", base+"/api/integrations", testAdminToken, nil); code != 200 {
		t.Fatalf("right token refused: %d", code)
	}
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/integrations"}, {"POST", "/api/integrations"}, {"GET", "/api/integrations/x"},
		{"POST", "/api/integrations/x/verify"}, {"GET", "/api/alerts"}, {"GET", "/api/alerts/x"},
		{"POST", "/api/actions/x/approve"}, {"POST", "/api/actions/x/reject"}, {"POST", "/api/alerts/x/feedback"},
		{"GET", "/api/nothing/here"}, {"DELETE", "/api/integrations"}, {"GET", "/api/tokens"}, {"GET", "/api/me"},
	} {
		for _, tok := range []string{"", "wrong", testAdminToken + "-but-longer"} {
			// 429 once this client has failed too often (the throttle).
			code, b := call(t, p.method, base+p.path, tok, nil)
			if code != 401 && code != 429 {
				t.Errorf("%s %s with token %q: %d %s", p.method, p.path, tok, code, b)
			}
		}
	}
}

func TestCreateIntegrationValidation(t *testing.T) {
	t.Parallel()
	a, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken}, TargetAll)
	url := "http://" + a.Addr() + "/api/integrations"
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"http tenant", map[string]any{"tenant_url": "http://acme.okta.com", "client_id": "x"}, 400},
		{"path in tenant", map[string]any{"tenant_url": "https://acme.okta.com/x", "client_id": "x"}, 400},
		{"metadata IP", map[string]any{"tenant_url": "https://169.254.169.254", "client_id": "x"}, 400},
		{"insecure not allowed", map[string]any{"tenant_url": "http://127.0.0.1:8081", "client_id": "x", "insecure": true}, 400},
		{"unknown field", map[string]any{"tenant_url": "https://acme.okta.com", "client_id": "x", "admin": true}, 400},
		{"not json", "just a string", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := call(t, "POST", url, testAdminToken, tc.body)
			if code != tc.want {
				t.Fatalf("%d %s", code, b)
			}
			var e struct{ Error, Message string }
			if json.Unmarshal(b, &e) != nil || e.Message == "" {
				t.Fatalf("error body %s", b)
			}
		})
	}
	// An oversized body is refused.
	req, _ := http.NewRequest("POST", url, bytes.NewReader(append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), 2<<20)...)))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("oversized create: %d", resp.StatusCode)
	}
}

func TestInsecureTenantForSimulatedOrg(t *testing.T) {
	t.Parallel()
	a, _ := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken, AllowInsecureTenants: true}, TargetAll)
	code, b := call(t, "POST", "http://"+a.Addr()+"/api/integrations", testAdminToken, map[string]any{"tenant_url": "http://127.0.0.1:8081", "client_id": "x", "insecure": true})
	if code != 201 {
		t.Fatalf("%d %s", code, b)
	}
}

// TestGatewayTargetAgainstCluster runs the gateway alone against an
// external cluster, with a second replica seeing an integration created
// through the first's registry.
func TestGatewayTargetAgainstCluster(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 3)
	key := strings.Repeat("ab", 32)
	if _, err := New(context.Background(), Config{DataDir: t.TempDir()}, TargetGateway); err == nil {
		t.Fatal("gateway without brokers should refuse to start")
	}
	g1, _ := start(t, Config{DataDir: t.TempDir(), KafkaBrokers: c.Brokers, MasterKey: key}, TargetGateway)
	g2, _ := start(t, Config{DataDir: t.TempDir(), KafkaBrokers: c.Brokers, MasterKey: key}, TargetGateway)
	in, secret, err := g1.Store.Create(context.Background(), integration.CreateRequest{TenantURL: "https://a.okta.com", ClientID: "c"}, false)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if postHook(t, "http://"+g2.Addr()+"/hooks/okta/"+in.ID, secret, delivery("r-1")) == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second gateway replica never accepted the new integration")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The gateway target serves no console API.
	if code, _ := call(t, "GET", "http://"+g1.Addr()+"/api/integrations", "x", nil); code != 404 {
		t.Fatalf("gateway serves /api: %d", code)
	}
}

// TestStopDrainsInFlightDelivery: a delivery in flight when the process is told
// to stop still gets its answer, and readiness turns 503 first.
func TestStopDrainsInFlightDelivery(t *testing.T) {
	t.Parallel()
	a, stop := start(t, Config{DataDir: t.TempDir(), AdminToken: testAdminToken}, TargetAll)
	in, secret, err := a.Store.Create(context.Background(), integration.CreateRequest{TenantURL: "https://a.okta.com", ClientID: "c"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// A slow client: the body arrives in two parts, with a stop in between.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+a.Addr()+"/hooks/okta/"+in.ID, pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(integration.DefaultAuthField, secret)
	res := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- -1
			return
		}
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	body := delivery("drain-1")
	pw.Write(body[:20])
	time.Sleep(100 * time.Millisecond) // let the server start reading
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(100 * time.Millisecond)
	pw.Write(body[20:])
	pw.Close()
	if code := <-res; code != 200 {
		t.Fatalf("in-flight delivery answered %d during drain", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// TestReadyzFollowsKafka: /healthz answers while the process is up;
// /readyz only while Kafka answers.
func TestReadyzFollowsKafka(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	a, _ := start(t, Config{DataDir: t.TempDir(), KafkaBrokers: c.Brokers}, TargetGateway)
	base := "http://" + a.Addr()
	c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := call(t, "GET", base+"/readyz", "", nil)
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d with Kafka gone", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := call(t, "GET", base+"/healthz", "", nil); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
}
