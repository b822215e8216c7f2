package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the clarion binary: with CLARION_TEST_MAIN=1
// it runs main, so these tests exercise the real command line, signals and
// environment without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("CLARION_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func clarion(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "CLARION_TEST_MAIN=1"), env...)
	return cmd
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRunCommandSIGTERM starts `clarion run` configured through CLARION_*
// variables, creates an integration with `clarion integration create`,
// delivers an event, and stops it with SIGTERM: it drains and exits 0, and
// no secret appears in its logs.
func TestRunCommandSIGTERM(t *testing.T) {
	dir := t.TempDir()
	httpAddr, kafkaAddr := freePort(t), freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := clarion(ctx, []string{"CLARION_DATA_DIR=" + dir, "CLARION_HTTP=" + httpAddr, "CLARION_EMBEDDED_KAFKA=" + kafkaAddr, "CLARION_LOG_FORMAT=json"}, "run")
	var logs bytes.Buffer
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + httpAddr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	out, err := clarion(ctx, nil, "integration", "create", "--server", base, "--data-dir", dir,
		"--tenant-url", "https://acme.okta.com", "--client-id", "0oa1", "--json").Output()
	if err != nil {
		t.Fatalf("integration create: %v", err)
	}
	var created struct {
		ID           string          `json:"id"`
		WebhookURL   string          `json:"webhook_url"`
		AuthSecret   string          `json:"auth_secret"`
		PublicKeyJWK json.RawMessage `json:"public_key_jwk"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.AuthSecret == "" {
		t.Fatalf("create output %s: %v", out, err)
	}
	if created.WebhookURL != base+"/hooks/okta/"+created.ID || len(created.PublicKeyJWK) == 0 {
		t.Fatalf("create output %s", out)
	}

	human, err := clarion(ctx, nil, "integration", "list", "--server", base, "--data-dir", dir).Output()
	if err != nil || !strings.Contains(string(human), created.ID) || strings.Contains(string(human), created.AuthSecret) {
		t.Fatalf("integration list: %v\n%s", err, human)
	}

	body := `{"eventType":"com.okta.event_hook","eventId":"e1","data":{"events":[{"uuid":"u1","actor":{"id":"00u1"}}]}}`
	req, _ := http.NewRequest("POST", created.WebhookURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Clarion-Hook-Secret", created.AuthSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delivery: %v %v", err, resp)
	}
	resp.Body.Close()

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("clarion run exited with %v after SIGTERM; logs:\n%s", err, logs.String())
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "admin-token"))
	key, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	for name, secret := range map[string]string{"auth secret": created.AuthSecret, "admin token": strings.TrimSpace(string(tok)), "master key": strings.TrimSpace(string(key))} {
		if secret == "" || strings.Contains(logs.String(), secret) {
			t.Fatalf("%s missing or logged", name)
		}
	}
	sawStopped := false
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var l struct{ Msg string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "stopped" {
			sawStopped = true
		}
	}
	if !sawStopped {
		t.Fatal("no clean stop logged")
	}
}

func TestBadFlagsAndEnv(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"CLARION_ACK_TIMEOUT=soon"}, []string{"run"}, "CLARION_ACK_TIMEOUT"},
		{nil, []string{"gateway", "--data-dir", t.TempDir()}, "--kafka-brokers is required"},
		{nil, []string{"run", "--log-level", "loud"}, "--log-level"},
		{nil, []string{"run", "--egress-networks", "0oa1=not-a-cidr"}, "--egress-networks"},
		{[]string{"CLARION_ADMIN_TOKEN=x"}, []string{"integration", "create", "--server", "http://127.0.0.1:1", "--tenant-url", "https://a.okta.com", "--client-id", "c"}, "is clarion running"},
	} {
		cmd := clarion(ctx, tc.env, tc.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v %v: err %v, stderr %q, want it to mention %q", tc.env, tc.args, err, stderr.String(), tc.want)
		}
	}
	out, err := clarion(ctx, nil, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "clarion ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestDemoConnectsSimulatedOrg runs `clarion demo`: the integration is
// created through the API, the simulated org verifies the event hook, and
// its sign-ins reach Clarion (by the hook or the poller) within a minute.
// Then an attack injected in the simulated org goes all the way: an alert,
// a triage verdict, a suspend waiting for approval, the approval through
// the API, and the user SUSPENDED in the org.
func TestDemoConnectsSimulatedOrg(t *testing.T) {
	dir := t.TempDir()
	httpAddr, kafkaAddr, simAddr := freePort(t), freePort(t), freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	demo := clarion(ctx, nil, "demo", "--data-dir", dir, "--http", httpAddr, "--embedded-kafka", kafkaAddr, "--sim-http", simAddr,
		"--sim-users", "60", "--log-level", "info")
	var logs lockedBuffer
	demo.Stderr = &logs
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		demo.Process.Signal(syscall.SIGTERM)
		demo.Wait()
	}()
	base := "http://" + httpAddr
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no events within a minute; logs:\n%s", logs.String())
		}
		time.Sleep(500 * time.Millisecond)
		tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
		if err != nil {
			continue
		}
		req, _ := http.NewRequest("GET", base+"/api/integrations", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var list struct {
			Integrations []struct {
				Hook struct {
					VerifiedAt *time.Time `json:"verified_at"`
				} `json:"event_hook"`
			} `json:"integrations"`
		}
		json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if len(list.Integrations) != 1 || list.Integrations[0].Hook.VerifiedAt == nil {
			continue
		}
		resp, err = http.Get(base + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		events := false
		for sc.Scan() {
			l := sc.Text()
			if (strings.HasPrefix(l, "clarion_gateway_events_total{") || strings.HasPrefix(l, "clarion_poller_events_total{")) && !strings.HasSuffix(l, " 0") {
				events = true
			}
		}
		resp.Body.Close()
		if events {
			break
		}
	}

	// `clarion integration verify` runs every check against the simulated
	// org through the API; all pass, and each is named.
	out, err := clarion(ctx, nil, "integration", "list", "--server", base, "--data-dir", dir, "--json").Output()
	if err != nil {
		t.Fatalf("integration list: %v", err)
	}
	var list struct {
		Integrations []struct {
			ID string `json:"id"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(out, &list); err != nil || len(list.Integrations) != 1 {
		t.Fatalf("integration list: %s %v", out, err)
	}
	verify := clarion(ctx, nil, "integration", "verify", list.Integrations[0].ID, "--server", base, "--data-dir", dir)
	var verr bytes.Buffer
	verify.Stderr = &verr
	out, err = verify.Output()
	if err != nil {
		t.Fatalf("integration verify: %v\n%s%s", err, out, verr.String())
	}
	for _, check := range []string{"token", "logs_read", "users_manage", "event_hook"} {
		if !strings.Contains(string(out), "ok   "+check) {
			t.Errorf("verify output lacks a passing %s check:\n%s", check, out)
		}
	}
	respondToAttack(t, base, "http://"+simAddr, dir, &logs)
}

// respondToAttack injects an account takeover in the simulated org once
// the demo has imported the org's history, and follows it: an escalated
// alert with a suspend_user waiting for approval, approved through the API,
// and the user SUSPENDED in the org.
func respondToAttack(t *testing.T, base, simURL, dir string, logs *lockedBuffer) {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	call := func(method, url string, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(limit); !ok(); time.Sleep(250 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: not within %s; logs:\n%s", what, limit, logs.String())
			}
		}
	}
	waitFor("history import", 90*time.Second, func() bool { return strings.Contains(logs.String(), "demo history imported") })
	// The history must reach the processor before the attack does.
	time.Sleep(3 * time.Second)

	var attack struct {
		UserID string   `json:"user_id"`
		Login  string   `json:"login"`
		Events []string `json:"events"`
	}
	if code := call("POST", simURL+"/sim/attacks", `{"kind":"impossible_travel"}`, &attack); code != 201 {
		t.Fatalf("inject attack: %d", code)
	}
	type action struct {
		ID, Kind, State, Mode string
	}
	var alertID, actionID string
	var last string
	waitFor("an escalated alert with a suspend waiting for approval", 60*time.Second, func() bool {
		var list struct {
			Alerts []struct {
				ID, Status, Disposition, Severity string
				User                              struct{ ID string }
			} `json:"alerts"`
		}
		call("GET", base+"/api/alerts?user="+attack.UserID, "", &list)
		for _, a := range list.Alerts {
			if a.User.ID != attack.UserID {
				continue
			}
			var d struct {
				Alert struct {
					Status      string `json:"status"`
					Disposition string `json:"disposition"`
					TriagedBy   string `json:"triaged_by"`
				} `json:"alert"`
				Triage  []json.RawMessage `json:"triage"`
				Actions []action          `json:"actions"`
			}
			call("GET", base+"/api/alerts/"+a.ID, "", &d)
			last = fmt.Sprintf("alert %s %s/%s by %s, %d triage runs, actions %+v", a.ID, d.Alert.Status, d.Alert.Disposition, d.Alert.TriagedBy, len(d.Triage), d.Actions)
			for _, ac := range d.Actions {
				if ac.Kind == "suspend_user" && ac.State == "pending_approval" && a.Status == "Escalated" && len(d.Triage) > 0 {
					alertID, actionID = a.ID, ac.ID
					return true
				}
			}
		}
		return false
	})
	t.Logf("attack on %s: %s", attack.Login, last)
	if code := call("POST", base+"/api/actions/"+actionID+"/approve", `{"reason":"confirmed with the user"}`, nil); code != http.StatusAccepted {
		t.Fatalf("approve: %d", code)
	}
	waitFor("the user SUSPENDED in the org", 30*time.Second, func() bool {
		var users []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		call("GET", simURL+"/sim/users", "", &users)
		for _, u := range users {
			if u.ID == attack.UserID {
				return u.Status == "SUSPENDED"
			}
		}
		return false
	})
	waitFor("the action recorded as succeeded", 30*time.Second, func() bool {
		var d struct {
			Actions []action `json:"actions"`
		}
		call("GET", base+"/api/alerts/"+alertID, "", &d)
		for _, ac := range d.Actions {
			if ac.ID == actionID {
				return ac.State == "succeeded"
			}
		}
		return false
	})
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
