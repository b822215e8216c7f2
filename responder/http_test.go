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

// withRole serves h with the principal the test header X-Test-Role names
// (none when absent), as the API's authentication attaches one.
func withRole(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := r.Header.Get("X-Test-Role"); name != "" {
			role, err := api.ParseRole(name)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			r = r.WithContext(api.WithPrincipal(r.Context(), api.Principal{
				ID: "idp|" + name, Name: "A. " + name, Email: name + "@example.com", Role: role, Via: api.ViaSession}))
		}
		h.ServeHTTP(w, r)
	})
}

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
	srv := httptest.NewServer(withRole(h))
	t.Cleanup(srv.Close)

	sent := 0
	for _, tc := range []struct {
		name, path, ctype, body, role string
		code                          int
		errCode                       string
	}{
		{"no principal: 401", "/api/actions/pending/approve", "", "", "", 401, "unauthenticated"},
		{"viewer: 403", "/api/actions/pending/approve", "", "", "viewer", 403, "forbidden"},
		{"analyst: 403", "/api/actions/pending/reject", "", "", "analyst", 403, "forbidden"},
		{"unknown action", "/api/actions/nope/approve", "", "", "approver", 404, "not_found"},
		{"not pending", "/api/actions/done/reject", "application/json", `{"reason":"x"}`, "approver", 409, "not_pending"},
		{"form body", "/api/actions/pending/approve", "application/x-www-form-urlencoded", "reason=x", "approver", 415, "unsupported_media_type"},
		{"text body", "/api/actions/pending/approve", "text/plain", "", "approver", 415, "unsupported_media_type"},
		{"body over 4 KiB", "/api/actions/pending/approve", "application/json", `{"reason":"` + strings.Repeat("a", 5000) + `"}`, "approver", 413, "too_large"},
		{"unknown field", "/api/actions/pending/approve", "application/json", `{"why":"x"}`, "approver", 400, "bad_json"},
		{"GET is not a route", "/api/actions/pending/approve", "", "", "approver", 405, ""},
		{"approve without body", "/api/actions/pending/approve", "", "", "approver", 202, ""},
		{"reject with a reason (admin)", "/api/actions/pending/reject", "application/json; charset=utf-8", `{"reason":"  false alarm "}`, "admin", 202, ""},
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
			if tc.role != "" {
				req.Header.Set("X-Test-Role", tc.role)
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
	// Each 202 left one request on clarion.responder.requests, naming who
	// decided.
	recs := bustest.ConsumeN(t, kafka.Brokers, bus.TopicResponderRequests, sent, 20*time.Second)
	types := map[string]record.Request{}
	for _, r := range recs {
		var q record.Request
		if err := json.Unmarshal(r.Value, &q); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != string(bus.KeyFor(testInteg, user.ID)) || q.ActionID != "pending" || q.Principal == nil {
			t.Fatalf("request %s key %s", r.Value, r.Key)
		}
		types[q.Type] = q
	}
	ap, rj := types[record.RequestApprove], types[record.RequestReject]
	if len(types) != 2 || rj.Reason != "false alarm" || ap.Reason != "" {
		t.Fatalf("requests %+v", types)
	}
	if *ap.Principal != (record.Identity{ID: "idp|approver", Name: "A. approver", Email: "approver@example.com", Role: "approver", Via: api.ViaSession}) ||
		ap.By != "A. approver" || rj.Principal.Role != "admin" {
		t.Fatalf("principals: approve %+v by %q, reject %+v", ap.Principal, ap.By, rj.Principal)
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
	h, err := NewHandler(HandlerConfig{Producer: e.apiProd, Actions: e.view, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(withRole(h))
	t.Cleanup(srv.Close)
	post := func() int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/actions/"+q.ActionID+"/approve", strings.NewReader(`{"reason":"seen it"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Test-Role", "approver")
		resp, err := http.DefaultClient.Do(req)
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
	if !strings.Contains(a.Reason, "seen it") || e.org.status(u.ID) != "SUSPENDED" ||
		a.DecidedBy != "A. approver" || a.Decider == nil || a.Decider.ID != "idp|approver" || a.Decider.Via != api.ViaSession {
		t.Fatalf("%+v", a)
	}
	if c := post(); c != 409 {
		t.Fatalf("second approve: %d", c)
	}
}
