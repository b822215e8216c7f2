// Package e2e drives the console in headless Chromium against an in-process
// Clarion (app.New with an embedded Kafka, the processor and the console)
// and a simulated Okta org: sign in, connect the org with the wizard,
// register the wizard's values in the org as an admin would, verify, and
// watch an alert arrive and open it; then (step 5) an attack on one of the
// org's users is triaged, the analyst approves the proposed suspend in the
// browser and the org's user becomes SUSPENDED.
//
// Chromium: CLARION_CHROMIUM names the binary; otherwise chromium,
// chromium-browser or google-chrome on PATH. Without one the test skips,
// unless CI is set (then it fails). Screenshots go to
// $CLARION_ARTIFACTS/console-e2e (or a temporary directory, logged).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clarion-itdr/clarion/console"
	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/okta/sim"
)

const adminToken = "e2e-admin-token-4f1c2b8a9d"

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CLARION_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but no Chromium was found (apt-get install chromium, or set CLARION_CHROMIUM)")
	}
	t.Skip("no Chromium found (install Debian's chromium or set CLARION_CHROMIUM)")
	return ""
}

func artifactDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("CLARION_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "console-e2e")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// wireConsole adds the console to a the way the integrator wires it into
// app.New, unless app.New already does.
func wireConsole(t *testing.T, a *app.App) {
	t.Helper()
	if _, pattern := a.Mux.Handler(httptest.NewRequest("GET", "/", nil)); pattern == "GET /{$}" {
		return // app.New serves the console already
	}
	c, err := console.New(console.Config{
		Token: a.Token, Brokers: a.Brokers, Logger: a.Logger().With("component", "console"), Registerer: a.Registry,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(a.Mux, a.API)
	a.Add("console", c)
}

func postJSON(t *testing.T, url string, headers map[string]string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest("POST", url, rd)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// delivery is an Okta event hook delivery of one successful sign-in.
func delivery(uuid, userID, login, ip string, proxy bool, lat, lon float64, city, country string) []byte {
	ev := map[string]any{
		"uuid": uuid, "published": time.Now().Add(-2 * time.Second).UTC().Format("2006-01-02T15:04:05.000Z"),
		"eventType": "user.session.start", "version": "0", "displayMessage": "User login to Okta", "severity": "INFO",
		"actor":   map[string]any{"id": userID, "type": "User", "alternateId": login, "displayName": login},
		"outcome": map[string]any{"result": "SUCCESS"},
		"client": map[string]any{
			"userAgent": map[string]any{"rawUserAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "os": "Linux", "browser": "CHROME"},
			"device":    "Computer", "ipAddress": ip, "zone": "null",
			"geographicalContext": map[string]any{"city": city, "country": country, "geolocation": map[string]any{"lat": lat, "lon": lon}},
		},
		"securityContext": map[string]any{"asNumber": 9009, "asOrg": "m247", "isp": "M247 Ltd", "domain": "m247.com", "isProxy": proxy},
		"debugContext":    map[string]any{"debugData": map[string]any{"threatSuspected": "false"}},
		"transaction":     map[string]any{"type": "WEB", "id": "tx-" + uuid},
	}
	b, _ := json.Marshal(map[string]any{
		"eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
		"source": "e2e", "eventId": "d-" + uuid, "eventTime": time.Now().UTC().Format(time.RFC3339),
		"contentType": "application/json", "data": map[string]any{"events": []any{ev}},
	})
	return b
}

func TestConsoleEndToEnd(t *testing.T) {
	chrome := chromium(t)
	shots := artifactDir(t)
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // a failure guard only
	defer cancel()

	// The simulated org.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	orgURL := "http://" + ln.Addr().String()
	org, err := sim.New(sim.Config{Users: 30, OrgURL: orgURL, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	orgSrv := &http.Server{Handler: org, ReadHeaderTimeout: 10 * time.Second}
	go orgSrv.Serve(ln)
	defer orgSrv.Close()

	// Clarion, as `clarion run` builds it, plus the console.
	a, err := app.New(ctx, app.Config{
		DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", EmbeddedKafka: "127.0.0.1:0",
		AllowInsecureTenants: true, AdminToken: adminToken, Partitions: 2, Logger: logger,
	}, app.TargetAll)
	if err != nil {
		t.Fatal(err)
	}
	wireConsole(t, a)
	appCtx, stopApp := context.WithCancel(context.Background())
	appDone := make(chan error, 1)
	go func() { appDone <- a.Run(appCtx) }()
	defer func() {
		stopApp()
		select {
		case err := <-appDone:
			if err != nil {
				t.Errorf("app.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("app did not stop")
		}
	}()
	go org.Run(appCtx)
	base := "http://" + a.Addr()

	br := newBrowser(t, ctx, chrome, shots)
	bctx, run, errs := br.ctx, br.run, br.errs
	value := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("value of %s: %v", sel, err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return void(chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second)))
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// 1. Sign in.
	run("open", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#login-token")))
	shot(t, bctx, shots, "01-login")
	run("wrong token", chromedp.SendKeys(css("#login-token"), "not-the-token"), chromedp.Click(css("#login-form button[type=submit]")),
		chromedp.WaitVisible(css("#login-error")))
	run("sign in", chromedp.Evaluate[chromedp.Void](`document.querySelector("#login-token").value = ""`), chromedp.SendKeys(css("#login-token"), adminToken),
		chromedp.Click(css("#login-form button[type=submit]")), chromedp.WaitVisible(css("#view-alerts")))
	assertLabels(t, bctx, "#view-alerts")

	// 2. The wizard: tenant URL and Client ID (Part 1, Step 2).
	clientID := fmt.Sprintf("0oae2e%014d", time.Now().UnixNano()%1e14)
	run("open wizard", chromedp.Navigate(base+"/#/wizard"), chromedp.WaitVisible(css("#wiz-tenant")))
	assertLabels(t, bctx, "#view-wizard")
	shot(t, bctx, shots, "02-wizard-start")
	run("create integration",
		chromedp.SendKeys(css("#wiz-name"), "Simulated org"),
		chromedp.SendKeys(css("#wiz-tenant"), orgURL),
		chromedp.SendKeys(css("#wiz-client"), clientID),
		chromedp.Click(css("#wiz-insecure")),
		chromedp.Click(css("#create-btn")),
		poll(`document.querySelector('#out-secret').value.length > 20`),
	)
	jwk, hookURL, authField, authSecret := value("#out-jwk"), value("#out-url"), value("#out-field"), value("#out-secret")
	if w := text("#secret-warning"); !strings.Contains(w, "Shown once") {
		t.Fatalf("secret warning %q", w)
	}
	stepText := text("#view-wizard")
	for _, want := range []string{"Part 1, Step 3", "Add key", "okta.logs.read", "okta.users.manage", "Super Administrator", "Part 2, Steps 1–2", "User sign in attempt", "user.session.start"} {
		if !strings.Contains(stepText, want) {
			t.Errorf("wizard does not say %q", want)
		}
	}
	run("scroll to key", chromedp.ScrollIntoView(css("#step-key")))
	shot(t, bctx, shots, "03-wizard-created")

	// 3. The admin's side, in the org: add the public key to the API
	// Services app with the scopes (Part 1, Steps 3-5), create the event
	// hook with the wizard's values (Part 2); the org verifies the hook.
	if code, b := postJSON(t, orgURL+"/sim/apps", nil, map[string]any{
		"client_id": clientID, "jwks": map[string]any{"keys": []json.RawMessage{json.RawMessage(jwk)}},
		"scopes": []string{"okta.logs.read", "okta.users.manage"}, "dpop": true,
	}); code != 201 {
		t.Fatalf("sim app: %d %s", code, b)
	}
	code, b := postJSON(t, orgURL+"/sim/eventhooks", nil, map[string]any{
		"url": hookURL, "auth_field": authField, "auth_secret": authSecret, "events": []string{"user.session.start"},
	})
	if code != 201 || !strings.Contains(string(b), `"verified":true`) {
		t.Fatalf("sim event hook: %d %s", code, b)
	}
	// Someone signs in: a first delivery reaches the hook.
	if code, b := postJSON(t, hookURL, map[string]string{authField: authSecret},
		delivery("e2e-ok-1", "00ue2eok", "e2e.ok@example.com", "81.2.69.142", false, 51.5, -0.12, "London", "United Kingdom")); code != 200 {
		t.Fatalf("delivery: %d %s", code, b)
	}
	// The wizard's hook status follows by itself.
	run("hook status live", chromedp.ScrollIntoView(css("#step-verify")),
		poll(`document.querySelector('[data-hook="last"]').textContent !== 'none yet' && document.querySelector('#hook-status').classList.contains('verified')`))
	run("verify", chromedp.Click(css("#verify-btn")), chromedp.WaitVisible(css(`#verify-results[data-ok]`)))
	checks, err := chromedp.Run(bctx, chromedp.Evaluate[[]map[string]string](
		`Array.from(document.querySelectorAll('#verify-results li')).map(li => ({name: li.dataset.check || '', cls: li.className, text: li.textContent}))`))
	if err != nil {
		t.Fatal(err)
	}
	shot(t, bctx, shots, "04-wizard-verified")
	if len(checks) != 4 {
		t.Fatalf("checks %v", checks)
	}
	for _, c := range checks {
		if c["cls"] != "check ok" {
			t.Errorf("check %s is not green: %s", c["name"], c["text"])
		}
	}

	// 4. An alert appears in the list without a reload: a sign-in through an
	// anonymizing proxy, delivered through the hook.
	run("alerts list", chromedp.Navigate(base+"/#/alerts"), chromedp.WaitVisible(css("#alert-filters")),
		chromedp.Evaluate[chromedp.Void](`window.__e2eNoReload = true`))
	if code, b := postJSON(t, hookURL, map[string]string{authField: authSecret},
		delivery("e2e-proxy-1", "00ue2eproxy", "e2e.proxy@example.com", "185.220.101.7", true, 52.37, 4.89, "Amsterdam", "Netherlands")); code != 200 {
		t.Fatalf("proxy delivery: %d %s", code, b)
	}
	const row = `//tbody[@id="alerts-body"]//a[contains(., "e2e.proxy@example.com")]`
	run("alert appears", chromedp.WaitVisible(chromedp.Search(row)))
	if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.__e2eNoReload === true`)); err != nil || !ok {
		t.Fatalf("the page reloaded (%v)", err)
	}
	shot(t, bctx, shots, "05-alerts-list")
	run("filter", chromedp.SendKeys(css("#f-user"), "nobody-matches"), chromedp.Click(css("#alert-filters button[type=submit]")),
		chromedp.WaitVisible(css("#alerts-empty")),
		chromedp.Click(css("#alert-filters button[type=reset]")), chromedp.WaitVisible(chromedp.Search(row)))

	// The detail view: the anomaly, its sentence and evidence, the map.
	run("open alert", chromedp.Click(chromedp.Search(row)),
		chromedp.WaitVisible(css(`#alert-anomalies article[data-anomaly]`)),
		chromedp.WaitReady(css(`#alert-map circle.pin`)))
	detail := text("#view-alert")
	for _, want := range []string{"Anonymizing proxy", "e2e.proxy@example.com", "185.220.101.7", "Amsterdam"} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail view lacks %q", want)
		}
	}
	shot(t, bctx, shots, "06-alert-detail")

	// 5. An attack: triage escalates it, the suspend waits for approval;
	// approve it, and the sim's user is SUSPENDED.
	approveSuspend(t, bctx, run, base, orgURL, hookURL, authField, authSecret, shots)

	// Sign out: the API refuses the browser afterwards.
	run("sign out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login-token")))
	status, err := chromedp.Run(bctx, chromedp.Evaluate[int](`fetch('/api/alerts').then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 401 {
		t.Fatalf("/api/alerts after sign-out: %d %v", status, err)
	}
	if e := errs(); len(e) > 0 {
		t.Fatalf("page errors (CSP violations or script errors): %v", e)
	}
}

type browser struct {
	ctx  context.Context
	run  func(step string, actions ...chromedp.Action[chromedp.Void])
	errs func() []string
}

// newBrowser starts headless Chromium with a fresh profile and a 1280x800
// viewport, and collects the page's errors (CSP violations, exceptions).
func newBrowser(t *testing.T, ctx context.Context, chrome, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	var errMu sync.Mutex
	var pageErrs []string
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// A 401 is expected: the page asks for its session before sign-in and after sign-out.
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !strings.Contains(m.Text, "401") {
				errMu.Lock()
				pageErrs = append(pageErrs, m.String())
				errMu.Unlock()
			}
		}
	}()
	b := &browser{ctx: bctx}
	b.errs = func() []string { errMu.Lock(); defer errMu.Unlock(); return append([]string(nil), pageErrs...) }
	b.run = func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			shot(t, bctx, shots, "failed-"+step)
			t.Fatalf("%s: %v (page errors: %v)", step, err, b.errs())
		}
	}
	return b
}

// void drops an action's value.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// assertLabels fails for any visible input, select or textarea under root
// without a label.
func assertLabels(t *testing.T, ctx context.Context, root string) {
	t.Helper()
	js := `Array.from(document.querySelectorAll('` + root + ` input, ` + root + ` select, ` + root + ` textarea')).filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name || e.outerHTML)`
	unlabeled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		t.Fatal(err)
	}
	if len(unlabeled) > 0 {
		t.Errorf("inputs without labels in %s: %v", root, unlabeled)
	}
}

// shot writes a PNG of the 1280x800 viewport.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			t.Logf("screenshot %s: %v", name, err)
		}
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Error(err)
	}
}
