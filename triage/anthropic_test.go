package triage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clarion-itdr/clarion/internal/record"
)

// TestAnthropicToolLoop drives langchaingo's Anthropic provider against a
// scripted Messages API: tool_use blocks in, tool_result blocks back.
func TestAnthropicToolLoop(t *testing.T) {
	t.Parallel()
	org := newSimOrg(t)
	u := org.user(t)
	a, ans := attackScenario().build("integ-1", record.UserRef{ID: u.ID, Login: u.Login}, 1)

	var mu sync.Mutex
	var bodies []map[string]any
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/messages" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		bodies = append(bodies, m)
		keys = append(keys, r.Header.Get("x-api-key"))
		n := len(bodies)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var content []map[string]any
		stop := "end_turn"
		if n == 1 {
			stop = "tool_use"
			content = []map[string]any{
				{"type": "text", "text": "Looking up the user."},
				{"type": "tool_use", "id": "toolu_1", "name": ToolRecentSignins, "input": map[string]any{"days": 2}},
				{"type": "tool_use", "id": "toolu_2", "name": ToolUserProfile, "input": map[string]any{}},
			}
		} else {
			content = []map[string]any{{"type": "text", "text": verdictJSON("Confirmed Threat", "Critical", 0.9, []string{uuidB}, []string{"suspend_user", "clear_sessions"})}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
			"content": content, "stop_reason": stop, "usage": map[string]int{"input_tokens": 300, "output_tokens": 40}})
	}))
	t.Cleanup(srv.Close)

	tr := newTriage(t, Config{Okta: org, LLM: LLM{Provider: ProviderAnthropic, BaseURL: srv.URL + "/v1", Model: "claude-test", APIKey: "sk-ant-secret"}})
	res := tr.Triage(tctx(t), a, ans)
	if res.Run.By != "llm" || res.Run.Fallback != "" || res.Run.Provider != ProviderAnthropic {
		t.Fatalf("run by %s fallback %q", res.Run.By, res.Run.Fallback)
	}
	if res.Run.Tokens.Total != 680 || len(res.Run.Steps) != 3 || len(res.Run.Steps[1].ToolCalls) != 2 || res.Run.Steps[1].Text != "Looking up the user." {
		t.Fatalf("tokens %+v steps %+v", res.Run.Tokens, res.Run.Steps)
	}
	if len(bodies) != 2 || keys[0] != "sk-ant-secret" {
		t.Fatalf("%d requests", len(bodies))
	}
	if tools, _ := bodies[0]["tools"].([]any); len(tools) != 4 {
		t.Fatalf("tools offered: %v", bodies[0]["tools"])
	}
	if sys, _ := bodies[0]["system"].(string); !strings.Contains(sys, "untrusted-data") {
		t.Fatalf("system prompt: %v", bodies[0]["system"])
	}
	// The second request carries both tool_use blocks and both results,
	// each result inside a data block.
	raw, _ := json.Marshal(bodies[1]["messages"])
	var msgs []struct {
		Role    string `json:"role"`
		Content []struct {
			Type      string `json:"type"`
			ID        string `json:"id"`
			ToolUseID string `json:"tool_use_id"`
			Content   string `json:"content"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatal(err)
	}
	uses, results := 0, 0
	for _, m := range msgs {
		for _, c := range m.Content {
			switch c.Type {
			case "tool_use":
				uses++
			case "tool_result":
				results++
				if !strings.HasPrefix(c.Content, "<untrusted-data id=\"tool-") || c.ToolUseID == "" {
					t.Fatalf("tool result %+v", c)
				}
			}
		}
	}
	if uses != 2 || results != 2 {
		t.Fatalf("%d tool_use and %d tool_result blocks in %s", uses, results, raw)
	}
}

func TestLLMSettingsNeverLogTheKey(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	l := LLM{Provider: ProviderOpenAI, Model: "m", APIKey: "sk-very-secret"}
	log.Info("x", "llm", l)
	log.Info("y", "settings", Settings{LLM: l})
	b, _ := json.Marshal(Settings{LLM: l})
	buf.Write(b)
	buf.WriteString(fmtAll(l))
	if strings.Contains(buf.String(), "sk-very-secret") {
		t.Fatalf("key logged: %s", buf.String())
	}
	if _, err := New(Config{LLM: LLM{Provider: "mystery"}}); err == nil {
		t.Fatal("unknown provider accepted")
	}
	if _, err := New(Config{LLM: LLM{Provider: ProviderAnthropic, Model: "m"}}); err == nil {
		t.Fatal("anthropic without a key accepted")
	}
}

func fmtAll(l LLM) string {
	return fmt.Sprintf("%v %+v %#v %s", l, l, l, l)
}
