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
	"github.com/clarion-itdr/clarion/internal/audit"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta/sim"
	"github.com/clarion-itdr/clarion/responder"
)

// TestSignInRolesUI: people sign in to the console through the simulated
// org's OIDC (authorization code with PKCE); an approver approves a
// pending suspend and the alert's audit shows the approver's name; an
// analyst sees no Approve button, and the API refuses the analyst's
// approval with 403 (nothing reaches the responder).
func TestSignInRolesUI(t *testing.T) {
	chrome := chromium(t)
	shots := artifactDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a failure guard only
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)

	// Kafka with an escalated alert and its suspend waiting for approval.
	c := bustest.New(t, 1)
	cl := bustest.Client(t, c.Brokers)
	now := time.Now().UTC().Truncate(time.Millisecond)
	user := record.UserRef{ID: "00uvictim", Login: "victim@example.com"}
	put := func(topic string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("int/00uvictim"), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	put(bus.TopicAlerts, map[string]any{
		"id": "al-ppl", "dedup_key": "clarion/int/00uvictim/p", "integration_id": "int", "user": user,
		"status": "Escalated", "disposition": "Confirmed Threat", "severity": "Critical", "detection_severity": "Critical",
		"action_required": "approval", "anomaly_count": 0, "types": []string{"impossible_travel"},
		"first_seen": now.Add(-time.Hour), "last_seen": now.Add(-time.Minute), "version": 2,
		"summary": "Impossible travel for victim@example.com.",
	})
	suspend := record.Action{
		ID: record.ActionID("al-ppl", record.KindSuspendUser), AlertID: "al-ppl", AlertVersion: 2, IntegrationID: "int", User: user,
		Kind: record.KindSuspendUser, State: record.ActionPending, Mode: record.ModeApproval, Reason: "Confirmed Threat by the deterministic triage",
		RequestedBy: "triage", RequestedAt: now.Add(-40 * time.Second), ExpiresAt: now.Add(time.Hour), Version: 1,
	}
	put(bus.TopicActions, suspend)

	// The simulated org with two people: an approver and an analyst.
	org, err := sim.New(sim.Config{Users: 12, History: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	orgSrv := httptest.NewServer(org)
	defer orgSrv.Close()
	people := org.Users()
	approver, analyst := people[0], people[1]
	const password = "e2e-password-7f3a9c"
	for _, p := range []struct {
		u     sim.UserStatus
		group string
	}{{approver, "Clarion Approvers"}, {analyst, "Clarion Analysts"}} {
		if err := org.SetPassword(p.u.Login, password); err != nil {
			t.Fatal(err)
		}
		if err := org.AddGroups(p.u.Login, p.group); err != nil {
			t.Fatal(err)
		}
	}

	// The console and the API, with the responder's real approve handler.
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	base := "http://" + srv.Listener.Addr().String()
	app, err := org.RegisterOIDCApp(sim.OIDCApp{RedirectURIs: []string{base + "/console/oidc/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	prod := bustest.Client(t, c.Brokers, bus.ProducerOpts(0)...)
	access, err := api.OpenAccess(ctx, c.Brokers, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer access.Close()
	a, err := api.New(api.Config{Token: adminToken, Registry: noIntegrations{}, PublicURL: base, Logger: quiet, Access: access, Audit: audit.NewWriter(prod, 0)})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Config{
		Token: adminToken, Brokers: c.Brokers, Producer: prod, Logger: quiet,
		OIDC: &console.OIDCConfig{
			Issuer: orgSrv.URL, ClientID: app.ClientID, ClientSecret: app.ClientSecret, RedirectURL: base + "/console/oidc/callback",
			Groups: map[api.Role][]string{api.RoleAnalyst: {"Clarion Analysts"}, api.RoleApprover: {"Clarion Approvers"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	decisions, err := responder.NewHandler(responder.HandlerConfig{Producer: prod, Actions: con.Alerts(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a.Register(mux)
	con.Register(mux, a)
	decisions.Register(a)
	a.UseActions(func(id string) (api.ActionInfo, bool) {
		act, ok := con.Alerts().Action(id)
		return api.ActionInfo{AlertID: act.AlertID, IntegrationID: act.IntegrationID, Kind: act.Kind, UserID: act.User.ID, UserLogin: act.User.Login}, ok
	})
	srv.Start()
	defer srv.Close()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go con.Run(rctx)

	br := newBrowser(t, ctx, chrome, shots)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return void(chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second)))
	}
	signIn := func(step string, u sim.UserStatus) {
		t.Helper()
		br.run(step+": identity provider", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#sso-link")), chromedp.Click(css("#sso-link")),
			chromedp.WaitVisible(css("#okta-signin-username")))
		br.run(step+": credentials", chromedp.SendKeys(css("#okta-signin-username"), u.Login), chromedp.SendKeys(css("#okta-signin-password"), password),
			chromedp.Click(css("#okta-signin-submit")), chromedp.WaitVisible(css("#view-alerts")))
	}
	name := func(u sim.UserStatus) string { return u.FirstName + " " + u.LastName }
	pendingRow := `#alert-actions tr[data-kind="suspend_user"][data-state="pending_approval"]`

	// 1. The approver signs in through the org and approves.
	signIn("approver", approver)
	br.run("approver named", poll(`document.querySelector('#whoami').textContent === `+jsString(name(approver)+" (approver)")))
	shot(t, br.ctx, shots, "11-signed-in-approver")
	br.run("open alert", chromedp.Navigate(base+"/#/alert/al-ppl"), chromedp.WaitVisible(css(pendingRow+" button[data-approve]")))
	br.run("approve", chromedp.Click(css(pendingRow+" button[data-approve]")),
		poll(`document.querySelector('#action-result').textContent.includes('Approved')`),
		poll(`Array.from(document.querySelectorAll('#alert-audit tr[data-audit="approve"] .audit-who')).some(td => td.textContent.includes(`+jsString(name(approver)+" <"+approver.Login+">")+`))`))
	br.run("scroll to audit", chromedp.ScrollIntoView(css("#alert-audit")))
	shot(t, br.ctx, shots, "12-approved-audit")

	// The approver issues a personal analyst token: shown once, acting as
	// the approver with the analyst role, until revoked in the page.
	br.run("issue token", chromedp.Navigate(base+"/#/tokens"), chromedp.WaitVisible(css("#token-form")),
		chromedp.SendKeys(css("#tok-name"), "laptop"), chromedp.SetValue(css("#tok-role"), "analyst"),
		chromedp.Click(css("#token-form button[type=submit]")), poll(`document.querySelector('#tok-secret').value.startsWith('clarion_')`),
		chromedp.WaitVisible(css(`#tokens-body tr[data-token] button[data-revoke]`)))
	assertLabels(t, br.ctx, "#view-tokens")
	shot(t, br.ctx, shots, "12b-token-issued")
	secret, err := chromedp.Run(br.ctx, chromedp.Value(css("#tok-secret")))
	if err != nil {
		t.Fatal(err)
	}
	me := func() (int, api.Principal) {
		req, _ := http.NewRequest("GET", base+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p api.Principal
		json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p
	}
	if code, p := me(); code != 200 || p.ID != orgSrv.URL+"#"+approver.ID || p.RoleName != "analyst" || p.Via != api.ViaAPIToken {
		t.Fatalf("the personal token: %d %+v", code, p)
	}
	br.run("revoke token", chromedp.Click(css(`#tokens-body button[data-revoke]`)),
		poll(`!document.querySelector('#tokens-body button[data-revoke]')`))
	if code, _ := me(); code != 401 {
		t.Fatalf("the revoked token: %d", code)
	}

	// 2. The analyst: no Approve button, and the API refuses.
	br.run("sign out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#sso-link")))
	signIn("analyst", analyst)
	br.run("analyst named", poll(`document.querySelector('#whoami').textContent === `+jsString(name(analyst)+" (analyst)")))
	br.run("open alert as analyst", chromedp.Navigate(base+"/#/alert/al-ppl"), chromedp.WaitVisible(css(pendingRow)),
		chromedp.WaitVisible(css("#feedback-buttons")))
	if n, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#alert-actions button[data-approve], #alert-actions button[data-reject]').length`)); err != nil || n != 0 {
		t.Fatalf("the analyst sees %d approve/reject buttons (%v)", n, err)
	}
	shot(t, br.ctx, shots, "13-analyst-no-approve")
	status, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](`(async () => {
		const s = await (await fetch('/console/session')).json();
		const r = await fetch('/api/actions/`+suspend.ID+`/approve', {method: 'POST', headers: {'X-CSRF-Token': s.csrf_token}});
		return r.status;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("the analyst's approval: %d (%v)", status, err)
	}
	for _, e := range br.errs() {
		if !strings.Contains(e, "status of 403") { // the refused approval above
			t.Errorf("page error: %s", e)
		}
	}

	// Kafka: one approval request, by the approver's session; the audit
	// names the approver, and the analyst approved nothing.
	reqs := bustest.ConsumeAll(t, c.Brokers, bus.TopicResponderRequests, 10*time.Second)
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Value), `"type":"approve"`) {
		t.Fatalf("%d requests: %v", len(reqs), reqs)
	}
	var approvals, signIns int
	for _, r := range bustest.ConsumeAll(t, c.Brokers, audit.Topic, 10*time.Second) {
		ev, err := audit.Parse(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Action {
		case audit.ActionApprove:
			approvals++
			if ev.Actor.ID != orgSrv.URL+"#"+approver.ID || ev.Actor.Role != "approver" || ev.TargetID != suspend.ID ||
				ev.AlertID != "al-ppl" || ev.Details["kind"] != record.KindSuspendUser || ev.Details["user_login"] != "victim@example.com" {
				t.Errorf("approval audited as %+v", ev)
			}
		case audit.ActionSignIn:
			signIns++
		}
	}
	if approvals != 1 || signIns != 2 {
		t.Errorf("audit: %d approvals, %d sign-ins", approvals, signIns)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
