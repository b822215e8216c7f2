package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/integration"
)

type noRegistry struct{}

func (noRegistry) Create(_ context.Context, _ integration.CreateRequest, _ bool) (*integration.Integration, string, error) {
	return nil, "", nil
}
func (noRegistry) Get(string) (*integration.Integration, bool) { return nil, false }
func (noRegistry) List() []*integration.Integration            { return nil }
func (noRegistry) Hook(string) integration.HookStatus          { return integration.HookStatus{} }

// TestApprovalsAudited: an approval the handler accepts is audited with
// the principal, the reason and the action's alert; one it refuses is not;
// the handler reads the whole body; a viewer never reaches it.
func TestApprovalsAudited(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	cl := bustest.Client(t, c.Brokers, bus.ProducerOpts(0)...)
	a, err := New(Config{Token: "admin-token-for-the-audit-test-0123", Registry: noRegistry{}, PublicURL: "http://x", Logger: slog.New(slog.DiscardHandler), Audit: audit.NewWriter(cl, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	a.Handle(patternApprove, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if r.PathValue("id") == "gone" {
			WriteError(w, http.StatusConflict, "not_pending", "no")
			return
		}
		WriteJSON(w, http.StatusAccepted, map[string]string{"ok": "1"})
	}))
	a.UseActions(func(id string) (ActionInfo, bool) {
		return ActionInfo{AlertID: "al-" + id, Kind: "suspend_user", UserLogin: "v@example.com"}, id != "gone"
	})
	ada := Principal{ID: "iss#ada", Name: "Ada", Role: RoleApprover, Via: ViaSession}
	viewer := Principal{ID: "iss#vic", Name: "Vic", Role: RoleViewer, Via: ViaSession}
	a.UseSessions(func(r *http.Request) (Principal, error) {
		if r.Header.Get("X-Who") == "viewer" {
			return viewer, nil
		}
		return ada, nil
	})
	post := func(id, who, body string) int {
		r := httptest.NewRequest("POST", "/api/actions/"+id+"/approve", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Who", who)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		id, who, body string
		want          int
	}{
		{"act-1", "approver", `{"reason":"  called the user  "}`, 202},
		{"gone", "approver", `{"reason":"late"}`, 409},
		{"act-2", "viewer", `{"reason":"x"}`, 403},
	} {
		if got := post(tc.id, tc.who, tc.body); got != tc.want {
			t.Errorf("%s as %s: %d, want %d", tc.id, tc.who, got, tc.want)
		}
	}
	if len(bodies) != 2 || bodies[0] != `{"reason":"  called the user  "}` {
		t.Fatalf("the handler read %q", bodies)
	}
	recs := bustest.ConsumeAll(t, c.Brokers, audit.Topic, 10*time.Second)
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1", len(recs))
	}
	ev, err := audit.Parse(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != audit.ActionApprove || ev.Actor.ID != ada.ID || ev.Actor.Role != "approver" || ev.TargetID != "act-1" ||
		ev.AlertID != "al-act-1" || ev.Details["reason"] != "called the user" || ev.Details["kind"] != "suspend_user" || ev.Remote == "" {
		t.Fatalf("audit %+v", ev)
	}
}
