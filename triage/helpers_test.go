package triage

import (
	"github.com/clarion-itdr/clarion/internal/secrets"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
	"github.com/clarion-itdr/clarion/okta/sim/simtest"
	"github.com/clarion-itdr/clarion/processor/detect"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// simOrg is a simulated Okta org over real HTTP with one registered app.
type simOrg struct {
	sim    *sim.Server
	srv    *httptest.Server
	client *okta.Client
}

func newSimOrg(t testing.TB) *simOrg {
	t.Helper()
	s, err := sim.New(sim.Config{Users: 20, History: 3 * 24 * time.Hour, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := simtest.ServiceApp(s, srv.URL, okta.Config{RetryBackoff: 5 * time.Millisecond, MaxRetries: 1, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	return &simOrg{sim: s, srv: srv, client: c}
}

// Client implements OktaClients for every integration id.
func (o *simOrg) Client(string) (*okta.Client, error) { return o.client, nil }

// user returns an active, non-admin user of the sim.
func (o *simOrg) user(t testing.TB) sim.UserStatus {
	for _, u := range o.sim.Users() {
		if u.Status == sim.StatusActive && u.Department != "IT" && u.Department != "Security" {
			return u
		}
	}
	t.Fatal("no active non-admin user")
	return sim.UserStatus{}
}

func fptr(f float64) *float64 { return &f }

// scenario builds an alert and its anomalies for user.
type scenario struct {
	name      string
	detSev    string
	anomalies []Anomaly
}

const (
	uuidA = "5b1f0a52-2c55-11f1-9a11-0b6a7f1e2a01"
	uuidB = "5b1f0a52-2c55-11f1-9a11-0b6a7f1e2a02"
	uuidC = "5b1f0a52-2c55-11f1-9a11-0b6a7f1e2a03"
)

func signin(uuid, city, country, ip string, asn uint32, lat, lon float64) SigninRef {
	return SigninRef{UUID: uuid, Published: "2026-11-29T10:00:00.000Z", Outcome: "SUCCESS", IP: ip, City: city,
		Country: country, Lat: fptr(lat), Lon: fptr(lon), ASN: asn, ISP: "Example ISP", Browser: "CHROME", OS: "Windows 10", Device: "Computer"}
}

// attack: impossible travel with no reducer, a new network and a failure
// burst: deterministic Confirmed Threat.
func attackScenario() scenario {
	home := signin(uuidA, "Berlin", "Germany", "198.51.100.7", 3320, 52.52, 13.40)
	away := signin(uuidB, "Sao Paulo", "Brazil", "203.0.113.9", 28573, -23.55, -46.63)
	return scenario{name: "attack", detSev: record.SeverityCritical, anomalies: []Anomaly{
		{ID: "an-travel", Type: typeTravel, EventUUID: uuidB, Published: away.Published, Score: 0.95,
			Evidence: Evidence{Signins: []SigninRef{home, away}, DistanceKm: 10000, Hours: 0.5, SpeedKmh: 20000, MaxSpeedKmh: 1000, FailuresBefore: 6},
			Sentence: "travel"},
		{ID: "an-network", Type: typeNetwork, EventUUID: uuidB, Published: away.Published, Score: 0.7,
			Evidence: Evidence{Signins: []SigninRef{away}, KnownNetworks: 2, FailuresBefore: 6, TenantShare: fptr(0)}, Sentence: "network"},
	}}
}

// routine: a low-score unusual_time on a known network: Benign.
func routineScenario() scenario {
	s := signin(uuidC, "Berlin", "Germany", "198.51.100.7", 3320, 52.52, 13.40)
	return scenario{name: "routine", detSev: record.SeverityLow, anomalies: []Anomaly{
		{ID: "an-time", Type: typeTime, EventUUID: uuidC, Published: s.Published, Score: 0.5,
			Evidence: Evidence{Signins: []SigninRef{s}, LocalTime: "Sun 03:10 CET", HourShare: fptr(0), BaselineSignins: 80, HistoryDays: 40}, Sentence: "time"},
	}}
}

// build returns the alert of sc for user, its anomalies tied to it.
func (sc scenario) build(integ string, user record.UserRef, version uint32) (*Alert, []Anomaly) {
	id := "alert-" + sc.name + "-" + user.ID
	a := &Alert{Alert: detect.Alert{ID: id, DedupKey: "clarion/" + id, IntegrationID: integ, User: user, Status: record.StatusNew,
		Disposition: record.DispositionUnknown, Severity: sc.detSev, DetectionSeverity: sc.detSev, ActionRequired: "none",
		FirstSeen: "2026-11-29T09:00:00.000Z", LastSeen: "2026-11-29T10:00:00.000Z", Version: version,
		Summary: "Alert " + sc.name}}
	types := map[string]bool{}
	var out []Anomaly
	for _, an := range sc.anomalies {
		an.ID = an.ID + "-" + id
		an.IntegrationID, an.User, an.AlertID = integ, user, id
		an.Evidence.Signins = append([]SigninRef(nil), an.Evidence.Signins...)
		a.Anomalies = append(a.Anomalies, AnomalyRef{ID: an.ID, Type: an.Type})
		if !types[an.Type] {
			types[an.Type] = true
			a.Types = append(a.Types, an.Type)
		}
		out = append(out, an)
	}
	a.AnomalyCount = len(out)
	raw, _ := json.Marshal(a)
	a.raw = raw
	return a, out
}

// scriptedLLM is an OpenAI-compatible chat completions server that answers
// from a script and records every request.
type scriptedLLM struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []chatRequest
	script func(n int, req chatRequest) (status int, body string)
}

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name       string         `json:"name"`
			Parameters map[string]any `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	raw string
}

func (r chatRequest) content(i int) string {
	var s string
	if json.Unmarshal(r.Messages[i].Content, &s) == nil {
		return s
	}
	return string(r.Messages[i].Content)
}

func newScriptedLLM(t testing.TB, script func(n int, req chatRequest) (int, string)) *scriptedLLM {
	l := &scriptedLLM{t: t, script: script}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req chatRequest
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		req.raw = string(b)
		l.mu.Lock()
		l.reqs = append(l.reqs, req)
		n := len(l.reqs)
		l.mu.Unlock()
		status, body := l.script(n, req)
		if status == 0 {
			return // the handler already answered (or hung)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *scriptedLLM) requests() []chatRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]chatRequest(nil), l.reqs...)
}

func (l *scriptedLLM) llm() LLM {
	return LLM{Provider: ProviderOpenAI, BaseURL: l.srv.URL + "/v1", Model: "scripted", APIKey: "sk-test-secret"}
}

type toolCallSpec struct{ name, args string }

// toolCallsReply is a completion asking for tool calls.
func toolCallsReply(tokens int, calls ...toolCallSpec) string {
	var tc []map[string]any
	for i, c := range calls {
		tc = append(tc, map[string]any{"id": fmt.Sprintf("call_%d", i+1), "type": "function",
			"function": map[string]string{"name": c.name, "arguments": c.args}})
	}
	return completion(map[string]any{"role": "assistant", "content": "", "tool_calls": tc}, "tool_calls", tokens)
}

// textReply is a completion with text content.
func textReply(tokens int, text string) string {
	return completion(map[string]any{"role": "assistant", "content": text}, "stop", tokens)
}

func completion(msg map[string]any, finish string, tokens int) string {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "scripted",
		"choices": []map[string]any{{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]int{"prompt_tokens": tokens * 3 / 4, "completion_tokens": tokens - tokens*3/4, "total_tokens": tokens},
	})
	return string(b)
}

func verdictJSON(disposition, severity string, conf float64, evidence []string, actions []string) string {
	if evidence == nil {
		evidence = []string{}
	}
	if actions == nil {
		actions = []string{}
	}
	b, _ := json.Marshal(map[string]any{"disposition": disposition, "severity": severity, "confidence": conf,
		"summary": "scripted verdict", "evidence": evidence, "recommended_actions": actions})
	return string(b)
}

func newTriage(t testing.TB, cfg Config) *Triage {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// status is the alert status the processor derives from a verdict.
func status(v *record.Verdict) string {
	if record.Closing(v.Disposition) && !v.Escalate {
		return record.StatusClosed
	}
	return record.StatusEscalated
}

func kinds(ps []record.Request) string {
	var k []string
	for _, p := range ps {
		k = append(k, p.Kind)
	}
	return strings.Join(k, ",")
}

// testKeys are one test's record signers and verifier.
type testKeys struct {
	mk       *secrets.MasterKey
	verifier *record.Verifier
}

func newKeys(t testing.TB) *testKeys {
	t.Helper()
	mk, err := secrets.NewMasterKey(secrets.RandomBytes(secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	v, err := record.DeriveVerifier(mk)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{mk: mk, verifier: v}
}

func (k *testKeys) signer(t testing.TB, name string) *record.Signer {
	t.Helper()
	s, err := record.DeriveSigner(k.mk, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
