package llm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/llm"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// ---- the scripted OpenAI-compatible server ----

// answer is one scripted HTTP answer of the model server.
type answer struct {
	status     int
	retryAfter string
	body       string
}

// model is an OpenAI-compatible chat completions server that answers from a script and records
// every request it received.
type model struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script []answer // the last one repeats
	reqs   []received
}

// received is one request as the server saw it.
type received struct {
	at     time.Time
	auth   string
	raw    string
	parsed chatRequest
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
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

func newModel(t *testing.T, script ...answer) *model {
	t.Helper()
	m := &model{t: t, script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var cr chatRequest
		if err := json.Unmarshal(raw, &cr); err != nil {
			t.Errorf("the model server got a request that is not JSON: %v", err)
		}
		m.mu.Lock()
		m.reqs = append(m.reqs, received{at: time.Now(), auth: r.Header.Get("Authorization"), raw: string(raw), parsed: cr})
		a := m.script[min(len(m.reqs), len(m.script))-1]
		m.mu.Unlock()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		if a.status == 0 {
			a.status = http.StatusOK
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	})
	m.srv = httptest.NewServer(mux)
	t.Cleanup(m.srv.Close)
	return m
}

func (m *model) URL() string { return m.srv.URL + "/v1" }

func (m *model) requests() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.reqs...)
}

// text of a message's content, whether a string or an array of text parts.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// toolResults are the tool messages of a request, by tool_call_id.
func toolResults(r received) map[string]string {
	out := map[string]string{}
	for _, m := range r.parsed.Messages {
		if m.Role == "tool" {
			out[m.ToolCallID] = text(m.Content)
		}
	}
	return out
}

type call struct{ id, name, args string }

// toolCalls is a completion asking for tool calls, spending tokens.
func toolCalls(tokens int, calls ...call) answer {
	type fn struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	type tc struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}
	var tcs []tc
	for _, c := range calls {
		tcs = append(tcs, tc{ID: c.id, Type: "function", Function: fn{Name: c.name, Arguments: c.args}})
	}
	msg, _ := json.Marshal(map[string]any{"role": "assistant", "content": nil, "tool_calls": tcs})
	return answer{body: completion(string(msg), "tool_calls", tokens)}
}

// final is a completion whose content is the model's final answer.
func final(tokens int, content string) answer {
	msg, _ := json.Marshal(map[string]any{"role": "assistant", "content": content})
	return answer{body: completion(string(msg), "stop", tokens)}
}

func completion(msg, finish string, tokens int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"test-model","choices":[{"index":0,"message":%s,"finish_reason":%q}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		msg, finish, tokens-tokens/4, tokens/4, tokens)
}

func status(code int, retryAfter string) answer {
	return answer{status: code, retryAfter: retryAfter, body: `{"error":{"message":"scripted failure","type":"server_error"}}`}
}

// ---- the tools: a real MCP server through mcp-go's in-process client ----

// cluster is an MCP server with a few read tools and two destructive ones, reached through
// mcp-go's client, and offered to the engine with an allowlist like an mcppool Toolset.
type cluster struct {
	client  *mcpclient.Client
	allowed map[string]bool
	mu      sync.Mutex
	logs    string
	calls   []string       // tools the engine called through Tools, in order
	ran     map[string]int // tools whose handler ran on the server
}

func newCluster(t *testing.T, logs string) *cluster {
	t.Helper()
	c := &cluster{logs: logs, ran: map[string]int{}, allowed: map[string]bool{
		"pod_logs": true, "events_list": true, "big_output": true, "pod_delete": true,
		// node_drain is served but not allowlisted.
	}}
	type podArgs struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	}
	type none struct{}
	ran := func(name string) {
		c.mu.Lock()
		c.ran[name]++
		c.mu.Unlock()
	}
	pod := []mcp.ToolOption{mcp.WithString("namespace", mcp.Required()), mcp.WithString("name", mcp.Required())}
	tools := []mcptool.Tool{
		mcptool.New(mcptool.Spec{Name: "pod_logs", Description: "Logs of a pod.", Effect: mcptool.Read, Params: pod},
			func(_ context.Context, a podArgs) (string, error) {
				ran("pod_logs")
				c.mu.Lock()
				defer c.mu.Unlock()
				return fmt.Sprintf("logs of %s/%s:\n%s", a.Namespace, a.Name, c.logs), nil
			}),
		mcptool.New(mcptool.Spec{Name: "events_list", Description: "Warning events.", Effect: mcptool.Read},
			func(context.Context, none) (string, error) {
				ran("events_list")
				return "LAST SEEN  TYPE     REASON   OBJECT\n1m         Warning  BackOff  pod/web-1", nil
			}),
		mcptool.New(mcptool.Spec{Name: "big_output", Description: "A very long answer.", Effect: mcptool.Read},
			func(context.Context, none) (string, error) {
				ran("big_output")
				return "HEAD-OF-OUTPUT\n" + strings.Repeat("0123456789abcdef\n", 1200) + "TAIL-OF-OUTPUT", nil
			}),
		mcptool.New(mcptool.Spec{Name: "pod_delete", Description: "Delete a pod.", Effect: mcptool.Destructive, Params: pod},
			func(context.Context, podArgs) (string, error) { ran("pod_delete"); return "deleted", nil }),
		mcptool.New(mcptool.Spec{Name: "node_drain", Description: "Drain a node.", Effect: mcptool.Destructive,
			Params: []mcp.ToolOption{mcp.WithString("node", mcp.Required())}},
			func(context.Context, struct {
				Node string `json:"node"`
			}) (string, error) {
				ran("node_drain")
				return "drained", nil
			}),
	}
	s := mcptool.NewServer("cluster", "test", "")
	mcptool.Register(s, mcptool.Options{MaxBytes: 1 << 20}, tools...)
	cl, err := mcpclient.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ctx := context.Background()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := cl.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	c.client = cl
	return c
}

// List lists the allowlisted tools with their annotations, as a Toolset does.
func (c *cluster) List(ctx context.Context) ([]mcppool.Tool, error) {
	res, err := c.client.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return nil, err
	}
	var out []mcppool.Tool
	for _, t := range res.Tools {
		if !c.allowed[t.Name] {
			continue
		}
		schema, _ := json.Marshal(t.InputSchema)
		out = append(out, mcppool.Tool{
			Server: "cluster", Name: t.Name, Description: t.Description, InputSchema: schema,
			ReadOnly:    t.Annotations.ReadOnlyHint != nil && *t.Annotations.ReadOnlyHint,
			Destructive: t.Annotations.DestructiveHint != nil && *t.Annotations.DestructiveHint,
		})
	}
	return out, nil
}

// Call records the call and makes it over MCP. It does not refuse anything itself, so that the
// tests see whether the engine would have let a write through.
func (c *cluster) Call(ctx context.Context, server, tool string, args map[string]any) (mcppool.Result, error) {
	c.mu.Lock()
	c.calls = append(c.calls, server+"/"+tool)
	c.mu.Unlock()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.client.CallTool(ctx, req)
	if err != nil {
		return mcppool.Result{}, err
	}
	var b strings.Builder
	for _, content := range res.Content {
		if tc, ok := content.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return mcppool.Result{Text: b.String(), IsError: res.IsError}, nil
}

func (c *cluster) called() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

func (c *cluster) handlerRuns(tool string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ran[tool]
}

// ---- the runbook engine's stand-ins ----

type runbookStub struct {
	mu    sync.Mutex
	calls int
}

func (r *runbookStub) Diagnose(_ context.Context, q llm.Question) (*diagnosis.Diagnosis, error) {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	return &diagnosis.Diagnosis{
		Subject: q.Subject,
		RootCause: opsRootCause(diagnosis.CrashLoopBackOff, "web-1 exits with code 1 on start",
			"pod/default/web-1", "restarted 7 times; last exit code 1"),
		Engine:    "runbook",
		ToolCalls: 3,
	}, nil
}

func analyze(_ context.Context, q llm.Question) (string, error) {
	return "runbook findings for " + q.Subject + ": CrashLoopBackOff: pod/default/web-1 restarted 7 times", nil
}
