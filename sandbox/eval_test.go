//go:build sandbox

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/evals/runner"
)

// evalScenarios are the suite's scenarios CI runs through the runner: a crashloop the platform
// raises and rolls back, a question about a pending Job, an alert, and a GPU fault on a simulated
// node under remediation Auto (each way of raising an incident, namespaced and cluster-scoped).
var evalScenarios = []string{"crashloop-bad-config", "ask-job-nodeselector-typo", "alert-quota-exceeded", "gpu-xid79-training"}

// TestEvalOnSandbox runs a few scenarios of the suite through the eval runner on a sandbox:
// each must pass (diagnosis, remediation, no unsafe action, phase), the report must carry the
// scores, and afterwards nothing the runner made is left and every node is as it was. Then one
// runs with an LLM coordinator (--model) played by a scripted model server.
func TestEvalOnSandbox(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	ctx := context.Background()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	s := upForTest(t, root)
	var dirs []string
	for _, n := range evalScenarios {
		dirs = append(dirs, filepath.Join(root, "evals", "scenarios", n))
	}
	var wh *runner.Webhook
	if s.WebhookURL != "" {
		token, err := s.WebhookToken()
		if err != nil {
			t.Fatal(err)
		}
		wh = &runner.Webhook{URL: s.WebhookURL, Token: token}
	}
	var progress bytes.Buffer
	rep, err := runner.Run(ctx, runner.Config{RestConfig: s.Config, Scenarios: dirs, Faults: s, Webhook: wh, Out: &progress})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("eval took %s:\n%s", rep.Took.Round(time.Second), table.String())
	if len(rep.Results) != len(evalScenarios) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(evalScenarios))
	}
	for _, r := range rep.Results {
		if !r.Pass || r.Skipped != "" || r.TimeToDiagnosis <= 0 || r.ToolCalls == 0 || !r.Phase.Terminal() {
			t.Errorf("%s: pass %v skipped %q ttd %s tool calls %d phase %s: %s\n%s", r.Scenario, r.Pass, r.Skipped, r.TimeToDiagnosis, r.ToolCalls, r.Phase, strings.Join(r.Why(), "; "), progress.String())
		}
	}
	if sum := rep.Summary; sum.Passed != len(evalScenarios) || sum.UnsafeActions != 0 || len(runner.RunbookTargets.Missed(sum)) > 0 {
		t.Errorf("summary %+v misses %v", sum, runner.RunbookTargets.Missed(sum))
	}

	nothingLeft(t, s, rep.Run)

	// The same runner with an LLM coordinator (--model): a scripted OpenAI-compatible server
	// plays the model — it asks for the runbook analysis, then answers with the category that
	// analysis names, quoting it — so that the engine, the tokens and the tool calls are the
	// model's, end to end through the sandbox's runtime.
	m := newScriptedModel(t)
	rep, err = runner.Run(ctx, runner.Config{RestConfig: s.Config, Scenarios: []string{filepath.Join(root, "evals", "scenarios", "ask-job-nodeselector-typo")}, Faults: s, Out: &progress,
		Model: &opsv1.ModelSpec{Provider: opsv1.ProviderOpenAI, Model: "scripted-model", BaseURL: m.srv.URL + "/v1"}})
	if err != nil {
		t.Fatal(err)
	}
	// The scripted model only echoes the runbook's line, which names the category (Unschedulable,
	// accepted) but not the mistyped label: the runner must mark the diagnosis wrong for the
	// missing fact, and count the model's tokens and tool call.
	r := rep.Results[0]
	if rep.Engine != "openai/scripted-model" || r.Category != "Unschedulable" || r.DiagnosisOK || r.Pass ||
		strings.Join(r.MissingFacts, ",") != "disktype" || r.Tokens != 2*scriptedTokens || r.ToolCalls != 1 || !r.Phase.Terminal() {
		t.Errorf("with the scripted model: engine %s category %s diagnosis ok %v pass %v missing %v tokens %d (want %d) tool calls %d phase %s, %d model requests: %s\n%s",
			rep.Engine, r.Category, r.DiagnosisOK, r.Pass, r.MissingFacts, r.Tokens, 2*scriptedTokens, r.ToolCalls, r.Phase, m.requests(), strings.Join(r.Why(), "; "), progress.String())
		m.mu.Lock()
		t.Logf("the tool results the model got:\n%s", strings.Join(m.results, "\n---\n"))
		m.mu.Unlock()
	}
	nothingLeft(t, s, rep.Run)
}

// nothingLeft waits until nothing of the run is left: namespaces, coordinators, Incidents; and
// no node stays cordoned.
func nothingLeft(t *testing.T, s *Sandbox, run string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var left []string
		var nss corev1.NamespaceList
		if err := s.Client.List(ctx, &nss, client.MatchingLabels{runner.RunLabel: run}); err != nil {
			t.Fatal(err)
		}
		for _, ns := range nss.Items {
			left = append(left, "namespace "+ns.Name)
		}
		var agents opsv1.AgentList
		if err := s.Client.List(ctx, &agents, client.MatchingLabels{runner.RunLabel: run}); err != nil {
			t.Fatal(err)
		}
		for _, a := range agents.Items {
			left = append(left, "Agent "+a.Namespace+"/"+a.Name)
		}
		var incs opsv1.IncidentList
		if err := s.Client.List(ctx, &incs, client.InNamespace(Namespace)); err != nil {
			t.Fatal(err)
		}
		for _, inc := range incs.Items {
			if strings.HasPrefix(inc.Status.Coordinator, Namespace+"/eval-"+run) {
				left = append(left, "Incident "+inc.Namespace+"/"+inc.Name)
			}
		}
		var nodes corev1.NodeList
		if err := s.Client.List(ctx, &nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Items {
			if n.Spec.Unschedulable {
				left = append(left, "node "+n.Name+" cordoned")
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the eval run these are left: %s", strings.Join(left, ", "))
		}
		time.Sleep(time.Second)
	}
}

// scriptedTokens is what each scripted completion reports as used.
const scriptedTokens = 500

// scriptedModel is an OpenAI-compatible chat completions server playing a model (simulated: no
// model runs): without a tool result yet it calls the analyze tool; with one it answers with the
// first taxonomy category the result names, with the line that names it as the summary.
type scriptedModel struct {
	srv *httptest.Server
	mu  sync.Mutex
	n   int
	// results are the tool results the model was given.
	results []string
}

func newScriptedModel(t *testing.T) *scriptedModel {
	m := &scriptedModel{}
	category := regexp.MustCompile(`\b(` + strings.Join(diagnosis.Categories, "|") + `)\b`)
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.n++
		m.mu.Unlock()
		var req struct {
			Messages []struct {
				Role    string          `json:"role"`
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var result string
		for _, msg := range req.Messages {
			if msg.Role == "tool" {
				_ = json.Unmarshal(msg.Content, &result)
			}
		}
		var message map[string]any
		if result != "" {
			m.mu.Lock()
			m.results = append(m.results, result)
			m.mu.Unlock()
		}
		if result == "" {
			message = map[string]any{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"id": "call_1", "type": "function",
				"function": map[string]string{"name": "analyze", "arguments": "{}"}}}}
		} else {
			c, line := diagnosis.Unknown, ""
			for _, l := range strings.Split(result, "\n") {
				if found := category.FindString(l); found != "" {
					c, line = found, strings.TrimSpace(l)
					break
				}
			}
			answer, _ := json.Marshal(map[string]any{"rootCause": map[string]any{"category": c, "summary": line, "confidence": "medium",
				"evidence": []map[string]string{{"object": "analyze", "detail": line}}}})
			message = map[string]any{"role": "assistant", "content": string(answer)}
		}
		finish := "stop"
		if message["tool_calls"] != nil {
			finish = "tool_calls"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprintf("chatcmpl-%d", m.n), "object": "chat.completion", "created": 1, "model": "scripted-model",
			"choices": []map[string]any{{"index": 0, "message": message, "finish_reason": finish}},
			"usage":   map[string]int{"prompt_tokens": scriptedTokens - 100, "completion_tokens": 100, "total_tokens": scriptedTokens}})
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *scriptedModel) requests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}
