package responder

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/record"
)

type mapView map[string]record.Action

func (m mapView) Action(id string) (record.Action, bool) { a, ok := m[id]; return a, ok }

type noRegistry struct{}

func (noRegistry) Create(context.Context, integration.CreateRequest, bool) (*integration.Integration, string, error) {
	return nil, "", errors.New("not here")
}
func (noRegistry) Get(string) (*integration.Integration, bool) { return nil, false }
func (noRegistry) List() []*integration.Integration            { return nil }
func (noRegistry) Hook(string) integration.HookStatus          { return integration.HookStatus{} }

func TestHandler(t *testing.T) {
	t.Parallel()
	kafka := bustest.New(t, 3)
	prod := bustest.Client(t, kafka.Brokers)
	user := record.UserRef{ID: "00u1", Login: "a@example.com"}
	view := mapView{
		"pending": {ID: "pending", IntegrationID: testInteg, User: user, Kind: record.KindSuspendUser, State: record.ActionPending, Version: 1},
		"done":    {ID: "done", IntegrationID: testInteg, User: user, Kind: record.KindSuspendUser, State: record.ActionSucceeded, Version: 4},
	}
	h, err := NewHandler(HandlerConfig{Producer: prod, Actions: view, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Token: "admin-token", Registry: noRegistry{}, PublicURL: "http://x", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(a)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	sent := 0
	for _, tc := range []struct {
		name, path, ctype, body, token string
		code                           int
		errCode                        string
	}{
		{"no token: the API answers 401", "/api/actions/pending/approve", "", "", "", 401, "unauthorized"},
		{"unknown action", "/api/actions/nope/approve", "", "", "admin-token", 404, "not_found"},
		{"not pending", "/api/actions/done/reject", "application/json", `{"reason":"x"}`, "admin-token", 409, "not_pending"},
		{"form body", "/api/actions/pending/approve", "application/x-www-form-urlencoded", "reason=x", "admin-token", 415, "unsupported_media_type"},
		{"text body", "/api/actions/pending/approve", "text/plain", "", "admin-token", 415, "unsupported_media_type"},
		{"body over 4 KiB", "/api/actions/pending/approve", "application/json", `{"reason":"` + strings.Repeat("a", 5000) + `"}`, "admin-token", 413, "too_large"},
		{"unknown field", "/api/actions/pending/approve", "application/json", `{"why":"x"}`, "admin-token", 400, "bad_json"},
		{"GET is not a route", "/api/actions/pending/approve", "", "", "admin-token", 404, "not_found"},
		{"approve without body", "/api/actions/pending/approve", "", "", "admin-token", 202, ""},
		{"reject with a reason", "/api/actions/pending/reject", "application/json; charset=utf-8", `{"reason":"  false alarm "}`, "admin-token", 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if strings.HasPrefix(tc.name, "GET") {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != tc.code || (tc.errCode != "" && out["error"] != tc.errCode) {
				t.Fatalf("%d %v, want %d %s", resp.StatusCode, out, tc.code, tc.errCode)
			}
			if tc.code == 409 && out["state"] != record.ActionSucceeded {
				t.Fatalf("409 without the state: %v", out)
			}
			if tc.code == 202 {
				sent++
				act, _ := out["action"].(map[string]any)
				if act["id"] != "pending" || !strings.HasPrefix(out["request_id"].(string), "req-") {
					t.Fatalf("202 body %v", out)
				}
			}
		})
	}
	// Each 202 left one request on clarion.responder.requests.
	recs := bustest.ConsumeN(t, kafka.Brokers, bus.TopicResponderRequests, sent, 20*time.Second)
	types := map[string]record.Request{}
	for _, r := range recs {
		var q record.Request
		if err := json.Unmarshal(r.Value, &q); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != string(bus.KeyFor(testInteg, user.ID)) || q.ActionID != "pending" || q.By != "analyst" {
			t.Fatalf("request %s key %s", r.Value, r.Key)
		}
		types[q.Type] = q
	}
	if len(types) != 2 || types[record.RequestReject].Reason != "false alarm" || types[record.RequestApprove].Reason != "" {
		t.Fatalf("requests %+v", types)
	}
}

// TestHandlerThroughResponder: approve over HTTP, with the View as the
// read model, reaches the sim.
func TestHandlerThroughResponder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	u := e.org.users(t, 1, false)[0]
	q := e.proposal(kSuspend, record.SeverityHigh, ct, false, u)
	e.send(q)
	e.waitState(q.ActionID, record.ActionPending)
	h, err := NewHandler(HandlerConfig{Producer: e.prod, Actions: e.view, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	post := func() int {
		resp, err := http.Post(srv.URL+"/api/actions/"+q.ActionID+"/approve", "application/json", strings.NewReader(`{"reason":"seen it"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post(); c != 202 {
		t.Fatalf("approve: %d", c)
	}
	a := e.waitState(q.ActionID, record.ActionSucceeded)
	if !strings.Contains(a.Reason, "seen it") || e.org.status(u.ID) != "SUSPENDED" {
		t.Fatalf("%+v", a)
	}
	if c := post(); c != 409 {
		t.Fatalf("second approve: %d", c)
	}
}
