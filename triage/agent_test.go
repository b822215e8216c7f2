package triage

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
)

func TestLLMHappyPathWithToolCalls(t *testing.T) {
	t.Parallel()
	org := newSimOrg(t)
	u := org.user(t)
	a, ans := attackScenario().build("integ-1", record.UserRef{ID: u.ID, Login: u.Login}, 3)
	llm := newScriptedLLM(t, func(n int, req chatRequest) (int, string) {
		switch n {
		case 1:
			return 200, toolCallsReply(500, toolCallSpec{ToolRecentSignins, `{"days":3,"limit":5}`}, toolCallSpec{ToolTenantPrevalence, `{}`})
		case 2:
			return 200, toolCallsReply(700, toolCallSpec{ToolUserProfile, `{}`}, toolCallSpec{ToolUserSystemLog, `{"days":2}`})
		}
		return 200, textReply(800, "```json\n"+verdictJSON("Confirmed Threat", "Critical", 0.93, []string{uuidB}, []string{"suspend_user"})+"\n```")
	})
	tr := newTriage(t, Config{Okta: org, LLM: llm.llm()})
	res := tr.Triage(tctx(t), a, ans)
	run := res.Run

	if run.By != "llm" || run.Fallback != "" || run.Output.Disposition != record.DispositionConfirmedThreat {
		t.Fatalf("run by %s fallback %q output %+v", run.By, run.Fallback, run.Output)
	}
	if run.Tokens.Total != 2000 || run.Tokens.Prompt+run.Tokens.Completion != 2000 {
		t.Fatalf("tokens %+v, want 2000 summed over 3 calls", run.Tokens)
	}
	// Step 0 is the deterministic pass, then three model turns.
	if len(run.Steps) != 4 || run.Steps[0].N != 0 || len(run.Steps[1].ToolCalls) != 2 || len(run.Steps[2].ToolCalls) != 2 {
		t.Fatalf("steps: %+v", run.Steps)
	}
	for _, st := range run.Steps[:3] {
		for _, tc := range st.ToolCalls {
			if tc.Error != "" || !json.Valid([]byte(tc.Output)) || tc.Output == "" {
				t.Fatalf("tool call %s: error %q output %q", tc.Name, tc.Error, tc.Output)
			}
		}
	}
	var sign signinsResult
	if err := json.Unmarshal([]byte(run.Steps[1].ToolCalls[0].Output), &sign); err != nil || sign.Days != 3 || len(sign.Events) > 5 {
		t.Fatalf("recent_signins output %v: %+v", err, sign)
	}
	if sign.Total == 0 {
		t.Fatalf("recent_signins found no sign-ins of sim user %s in 3 days", u.ID)
	}
	var prof profileResult
	if err := json.Unmarshal([]byte(run.Steps[2].ToolCalls[0].Output), &prof); err != nil || prof.ID != u.ID || !slices.Contains(prof.Groups, "Everyone") {
		t.Fatalf("user_profile output %v: %+v", err, prof)
	}
	if run.Deterministic.Disposition != record.DispositionConfirmedThreat {
		t.Fatalf("deterministic %+v", run.Deterministic)
	}
	// Deterministic Confirmed Threat: both kinds proposed, whatever the agent recommended.
	if kinds(res.Proposals) != "suspend_user,clear_sessions" {
		t.Fatalf("proposals %s", kinds(res.Proposals))
	}
	for _, p := range res.Proposals {
		want := record.Basis{DetectionSeverity: record.SeverityCritical, Deterministic: record.DispositionConfirmedThreat,
			Verdict: record.DispositionConfirmedThreat, VerdictBy: "llm"}
		if *p.Basis != want || p.ActionID != record.ActionID(a.ID, p.Kind) || p.AlertVersion != 3 || p.Type != record.RequestPropose {
			t.Fatalf("proposal %+v basis %+v", p, *p.Basis)
		}
		if _, err := record.RequestRecord(&p); err != nil {
			t.Fatal(err)
		}
	}
	v := res.Verdict.Verdict
	if v.RunID != run.ID || v.By != "llm" || v.ActionRequired != record.ActionRequiredApproval || v.Escalate || status(v) != record.StatusEscalated {
		t.Fatalf("verdict %+v", v)
	}
	if _, err := record.UpdateRecord(&res.Verdict); err != nil {
		t.Fatal(err)
	}

	// What the model received.
	reqs := llm.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model requests, want 3", len(reqs))
	}
	var offered []string
	for _, tl := range reqs[0].Tools {
		offered = append(offered, tl.Function.Name)
	}
	slices.Sort(offered)
	if strings.Join(offered, ",") != "recent_signins,tenant_prevalence,user_profile,user_system_log" {
		t.Fatalf("tools offered: %v", offered)
	}
	first := reqs[0]
	if first.Messages[0].Role != "system" || !strings.Contains(first.content(0), "untrusted-data") {
		t.Fatalf("system prompt: %q", first.content(0))
	}
	user := first.content(1)
	if !strings.Contains(user, `<untrusted-data id="alert">`) || !strings.HasSuffix(user, "</untrusted-data>") || !strings.Contains(user, uuidB) {
		t.Fatalf("alert block: %q", user)
	}
	last := reqs[2]
	nTool := 0
	for i, m := range last.Messages {
		if m.Role == "tool" {
			nTool++
			c := last.content(i)
			if !strings.HasPrefix(c, `<untrusted-data id="tool-`) || !strings.HasSuffix(c, "</untrusted-data>") || m.ToolCallID == "" {
				t.Fatalf("tool message %d: %q", i, c)
			}
		}
	}
	if nTool != 4 {
		t.Fatalf("%d tool results in the conversation, want 4", nTool)
	}
	if strings.Contains(last.raw, "sk-test-secret") {
		t.Fatal("API key inside the request body")
	}
	if tr.cfg.LLM.String() == "" || strings.Contains(tr.cfg.LLM.String(), "sk-test") || strings.Contains(tr.cfg.LLM.GoString(), "sk-test") {
		t.Fatal("LLM settings print the API key")
	}
}

func TestNoLLMDeterministic(t *testing.T) {
	t.Parallel()
	org := newSimOrg(t)
	u := org.user(t)
	tr := newTriage(t, Config{Okta: org})
	ctx := tctx(t)

	a, ans := attackScenario().build("integ-1", record.UserRef{ID: u.ID, Login: u.Login}, 1)
	res := tr.Triage(ctx, a, ans)
	if res.Run.By != "deterministic" || res.Run.Fallback != "" || res.Run.Agent != nil || res.Run.Provider != "" {
		t.Fatalf("run %+v", res.Run)
	}
	if res.Run.Output.Disposition != record.DispositionConfirmedThreat || !strings.HasPrefix(res.Run.Output.Summary, "Rule R1") {
		t.Fatalf("output %+v", res.Run.Output)
	}
	if kinds(res.Proposals) != "suspend_user,clear_sessions" || res.Proposals[0].Basis.VerdictBy != "deterministic" {
		t.Fatalf("proposals %+v", res.Proposals)
	}
	if len(res.Run.Steps) != 1 || len(res.Run.Steps[0].ToolCalls) != 4 {
		t.Fatalf("steps %+v", res.Run.Steps)
	}
	for _, tc := range res.Run.Steps[0].ToolCalls {
		if tc.Error != "" {
			t.Fatalf("tool %s against the sim: %s", tc.Name, tc.Error)
		}
	}

	b, bans := routineScenario().build("integ-1", record.UserRef{ID: u.ID, Login: u.Login}, 1)
	res = tr.Triage(ctx, b, bans)
	v := res.Verdict.Verdict
	if v.Disposition != record.DispositionBenign || status(v) != record.StatusClosed || v.ActionRequired != record.ActionRequiredNone || len(res.Proposals) != 0 {
		t.Fatalf("routine verdict %+v proposals %d", v, len(res.Proposals))
	}
}

func TestToolsFailWithoutOkta(t *testing.T) {
	t.Parallel()
	tr := newTriage(t, Config{})
	a, ans := attackScenario().build("integ-1", record.UserRef{ID: "00u1"}, 1)
	res := tr.Triage(tctx(t), a, ans)
	for _, tc := range res.Run.Steps[0].ToolCalls {
		if tc.Error == "" {
			t.Fatalf("tool %s succeeded without an Okta client", tc.Name)
		}
	}
	if res.Run.Output.Disposition != record.DispositionConfirmedThreat {
		t.Fatalf("the rules need only the anomalies: %+v", res.Run.Output)
	}
}

func TestLLMFailuresFallBack(t *testing.T) {
	t.Parallel()
	org := newSimOrg(t)
	u := org.user(t)
	user := record.UserRef{ID: u.ID, Login: u.Login}

	t.Run("500", func(t *testing.T) {
		t.Parallel()
		llm := newScriptedLLM(t, func(int, chatRequest) (int, string) {
			return http.StatusInternalServerError, `{"error":{"message":"overloaded","type":"server_error"}}`
		})
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm(), Retries: 2})
		a, ans := attackScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		if res.Run.By != "deterministic" || !strings.HasPrefix(res.Run.Fallback, "error:") || len(llm.requests()) != 3 {
			t.Fatalf("by %s fallback %q after %d requests (want 1 + 2 retries)", res.Run.By, res.Run.Fallback, len(llm.requests()))
		}
		if res.Verdict.Verdict.By != "deterministic" || kinds(res.Proposals) != "suspend_user,clear_sessions" {
			t.Fatalf("verdict %+v proposals %s", res.Verdict.Verdict, kinds(res.Proposals))
		}
	})
	t.Run("401 not retried", func(t *testing.T) {
		t.Parallel()
		llm := newScriptedLLM(t, func(int, chatRequest) (int, string) {
			return http.StatusUnauthorized, `{"error":{"message":"bad key","type":"invalid_request_error"}}`
		})
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm(), Retries: 2})
		a, ans := routineScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		if res.Run.Fallback == "" || len(llm.requests()) != 1 {
			t.Fatalf("fallback %q after %d requests", res.Run.Fallback, len(llm.requests()))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		llm := newScriptedLLM(t, func(int, chatRequest) (int, string) {
			<-release // hang until the test ends
			return 0, ""
		})
		t.Cleanup(func() { close(release) }) // runs before the server's Close
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm(), Timeout: 300 * time.Millisecond})
		a, ans := attackScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		if res.Run.By != "deterministic" || !strings.HasPrefix(res.Run.Fallback, "timeout") {
			t.Fatalf("by %s fallback %q", res.Run.By, res.Run.Fallback)
		}
		if res.Run.Output.Disposition != res.Run.Deterministic.Disposition {
			t.Fatalf("output %+v", res.Run.Output)
		}
	})
}

func TestInvalidOutputRepairThenFallback(t *testing.T) {
	t.Parallel()
	org := newSimOrg(t)
	u := org.user(t)
	user := record.UserRef{ID: u.ID, Login: u.Login}

	t.Run("repaired", func(t *testing.T) {
		t.Parallel()
		llm := newScriptedLLM(t, func(n int, req chatRequest) (int, string) {
			if n == 1 {
				return 200, textReply(100, `{"disposition":"Totally Fine","severity":"Low","confidence":0.9,"summary":"x","evidence":[],"recommended_actions":[]}`)
			}
			return 200, textReply(100, verdictJSON("Benign", "Low", 0.8, []string{uuidC}, nil))
		})
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm()})
		a, ans := routineScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		if res.Run.By != "llm" || res.Run.Output.Disposition != record.DispositionBenign || len(res.Run.Steps) != 3 || res.Run.Steps[1].Error == "" {
			t.Fatalf("run %+v", res.Run)
		}
		reqs := llm.requests()
		lastMsg := reqs[1].content(len(reqs[1].Messages) - 1)
		if !strings.Contains(lastMsg, "rejected") || !strings.Contains(lastMsg, "Totally Fine") {
			t.Fatalf("repair prompt: %q", lastMsg)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		t.Parallel()
		bad := []string{
			"I think this is benign.",
			verdictJSON("Benign", "Low", 0.8, []string{"00000000-0000-0000-0000-000000000000"}, nil), // uuid not in the data
		}
		llm := newScriptedLLM(t, func(n int, _ chatRequest) (int, string) { return 200, textReply(100, bad[min(n-1, 1)]) })
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm()})
		a, ans := routineScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		if res.Run.By != "deterministic" || !strings.HasPrefix(res.Run.Fallback, "invalid_output") || len(llm.requests()) != 2 {
			t.Fatalf("by %s fallback %q requests %d", res.Run.By, res.Run.Fallback, len(llm.requests()))
		}
		if !strings.Contains(res.Run.Fallback, "not the uuid") {
			t.Fatalf("fallback reason %q", res.Run.Fallback)
		}
	})
}

func TestStepAndTokenCaps(t *testing.T) {
	t.Parallel()
	org := newSimOrg(t)
	u := org.user(t)
	user := record.UserRef{ID: u.ID, Login: u.Login}

	t.Run("steps", func(t *testing.T) {
		t.Parallel()
		llm := newScriptedLLM(t, func(int, chatRequest) (int, string) {
			return 200, toolCallsReply(10, toolCallSpec{ToolUserProfile, `{}`})
		})
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm(), MaxSteps: 3})
		a, ans := routineScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		if !strings.HasPrefix(res.Run.Fallback, "max_steps") || len(llm.requests()) != 3 || len(res.Run.Steps) != 4 {
			t.Fatalf("fallback %q after %d requests, %d steps", res.Run.Fallback, len(llm.requests()), len(res.Run.Steps))
		}
	})
	t.Run("tokens", func(t *testing.T) {
		t.Parallel()
		llm := newScriptedLLM(t, func(int, chatRequest) (int, string) {
			return 200, toolCallsReply(1500, toolCallSpec{ToolRecentSignins, `{}`})
		})
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm(), MaxTokens: 4000, MaxSteps: 10})
		a, ans := routineScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		if !strings.HasPrefix(res.Run.Fallback, "max_tokens") || len(llm.requests()) != 3 || res.Run.Tokens.Total != 4500 {
			t.Fatalf("fallback %q after %d requests, tokens %+v", res.Run.Fallback, len(llm.requests()), res.Run.Tokens)
		}
	})
	t.Run("unknown tool", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		llm := newScriptedLLM(t, func(int, chatRequest) (int, string) {
			if n.Add(1) == 1 {
				return 200, toolCallsReply(10, toolCallSpec{"suspend_user", `{"user":"x"}`})
			}
			return 200, textReply(10, verdictJSON("Suspicious", "Low", 0.5, nil, nil))
		})
		tr := newTriage(t, Config{Okta: org, LLM: llm.llm()})
		a, ans := routineScenario().build("i", user, 1)
		res := tr.Triage(tctx(t), a, ans)
		tc := res.Run.Steps[1].ToolCalls[0]
		if tc.Name != "suspend_user" || !strings.Contains(tc.Error, "unknown tool") {
			t.Fatalf("tool call %+v", tc)
		}
		for _, us := range org.sim.Users() {
			if us.ID == u.ID && us.Status != "ACTIVE" {
				t.Fatalf("user status %s after an unknown tool call", us.Status)
			}
		}
	})
}
