package llm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/llm"
)

// The Anthropic provider through langchaingo's client against a scripted Messages API: text and
// two tool uses in one turn all reach the API back, each tool result answers its tool use, and
// the usage is counted.
func TestAnthropicProviderLoop(t *testing.T) {
	type block struct {
		Type      string          `json:"type"`
		Text      string          `json:"text"`
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		ToolUseID string          `json:"tool_use_id"`
		Content   json.RawMessage `json:"content"`
	}
	type request struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string  `json:"role"`
			Content []block `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	var (
		mu   sync.Mutex
		reqs []request
		keys []string
	)
	answers := []string{
		`{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","stop_reason":"tool_use",
		  "content":[{"type":"text","text":"Looking at logs and events."},
		             {"type":"tool_use","id":"tu_1","name":"cluster__pod_logs","input":{"namespace":"default","name":"web-1"}},
		             {"type":"tool_use","id":"tu_2","name":"cluster__events_list","input":{}}],
		  "usage":{"input_tokens":70,"output_tokens":30}}`,
		fmt.Sprintf(`{"id":"msg_2","type":"message","role":"assistant","model":"claude-test","stop_reason":"end_turn",
		  "content":[{"type":"text","text":%q}],"usage":{"input_tokens":150,"output_tokens":50}}`, goodAnswer),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/messages" {
			t.Errorf("request to %s", r.URL.Path)
		}
		raw, _ := io.ReadAll(r.Body)
		var req request
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Errorf("request is not JSON: %v", err)
		}
		mu.Lock()
		reqs = append(reqs, req)
		keys = append(keys, r.Header.Get("x-api-key"))
		a := answers[min(len(reqs), len(answers))-1]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, a)
	}))
	defer srv.Close()

	tools := newCluster(t, "dial tcp 10.0.0.5:5432: connection refused")
	e := engine(t, llm.Config{Provider: opsv1.ProviderAnthropic, Model: "claude-test", BaseURL: srv.URL + "/v1", APIKey: "anthropic-key-123"},
		llm.Deps{Tools: tools})
	d, err := e.Diagnose(context.Background(), question)
	if err != nil {
		t.Fatal(err)
	}
	if d.RootCause.Category != diagnosis.CrashLoopBackOff || d.Engine != "anthropic/claude-test" || d.Tokens != 300 || d.ToolCalls != 2 {
		t.Errorf("category %q engine %q tokens %d toolCalls %d", d.RootCause.Category, d.Engine, d.Tokens, d.ToolCalls)
	}
	if got := tools.called(); !slices.Equal(got, []string{"cluster/pod_logs", "cluster/events_list"}) {
		t.Errorf("tools called %v", got)
	}
	if len(reqs) != 2 || keys[0] != "anthropic-key-123" {
		t.Fatalf("%d requests, key %q", len(reqs), keys)
	}
	if !strings.Contains(string(reqs[0].System), "untrusted data") {
		t.Error("the system prompt did not reach Anthropic's system field")
	}
	var uses, results []string
	for _, m := range reqs[1].Messages {
		for _, b := range m.Content {
			switch b.Type {
			case "tool_use":
				uses = append(uses, m.Role+":"+b.ID+":"+b.Name)
			case "tool_result":
				var s string
				_ = json.Unmarshal(b.Content, &s)
				results = append(results, m.Role+":"+b.ToolUseID+":"+strings.SplitN(s, "\n", 2)[0])
			}
		}
	}
	if !slices.Equal(uses, []string{"assistant:tu_1:cluster__pod_logs", "assistant:tu_2:cluster__events_list"}) {
		t.Errorf("tool uses sent back %v: every tool use of the turn must reach the API", uses)
	}
	if !slices.Equal(results, []string{"user:tu_1:logs of default/web-1:", "user:tu_2:LAST SEEN  TYPE     REASON   OBJECT"}) {
		t.Errorf("tool results %v", results)
	}
}
