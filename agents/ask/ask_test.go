package ask_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/mark3labs/mcp-go/mcp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/ask"
	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

type analyzeArgs struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// clusterStandIn is an in-process MCP server with the cluster server's analyze tool, answering
// every question with one crashlooping pod: the cluster itself is not what this package is
// about (agents/runtime's and the gateway's tests ask the real cluster server).
func clusterStandIn() *mcppool.Endpoint {
	s := mcptool.NewServer("cluster-stand-in", "test", "")
	mcptool.Register(s, mcptool.Options{},
		mcptool.NewData(mcptool.Spec{Name: "analyze", Description: "Find problems.", Effect: mcptool.Read,
			Params: []mcp.ToolOption{mcp.WithString("kind"), mcp.WithString("namespace"), mcp.WithString("name")}},
			func(_ context.Context, a analyzeArgs) (contract.Analysis, string, error) {
				return contract.Analysis{Where: a.Kind + "/" + a.Namespace + "/" + a.Name, Checked: "1 pod",
					Findings: []contract.Finding{{Severity: "critical", Category: contract.CrashLoopBackOff, Object: "pod/shop/web-0",
						Evidence: []string{"back-off 5m0s restarting failed container web"}, Fix: contract.Fix{Text: "read the logs"}}}}, "pod/shop/web-0 CrashLoopBackOff", nil
			}))
	return &mcppool.Endpoint{Name: "cluster-tools", InProcess: s}
}

// fleet starts the embedded NATS and a runtime hosting ops/cluster-specialist (runbook engine,
// granted analyze) and ops/no-tools (granted nothing, so it cannot diagnose), and returns a
// client.
func fleet(t *testing.T) *ask.Client {
	t.Helper()
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	pool, err := mcppool.New([]mcppool.Endpoint{*clusterStandIn()}, mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rt, err := agentruntime.New(agentruntime.Config{NATS: b.Conn(), Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	for _, a := range []*opsv1.Agent{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "cluster-specialist"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "workloads",
			Tools: []opsv1.AgentTools{{ToolServer: "cluster-tools", AllowedTools: []string{"analyze"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "no-tools"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "nothing"}},
	} {
		if err := rt.Host(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return ask.New(b.Conn())
}

// TestDiagnose asks a real agent (agents/runtime's runbook engine on the embedded NATS) with a
// data request and with a line as a person types it, and gets its typed diagnosis, its task and
// its text back; an agent that is not running, one that cannot diagnose, a request the agent
// refuses and an empty request are errors that name the agent and say what is wrong.
func TestDiagnose(t *testing.T) {
	c := fleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for name, req := range map[string]ask.Request{
		"data": {Agent: "ops/cluster-specialist", Subject: "pod/shop/web-0", Question: "why does web-0 restart?"},
		"text": {Agent: "ops/cluster-specialist", Text: "pod/shop/web-0"},
	} {
		t.Run(name, func(t *testing.T) {
			d, reply, err := c.Diagnose(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Subject != "pod/shop/web-0" || d.RootCause.Category != diagnosis.CrashLoopBackOff || !strings.Contains(d.Text(), "pod/shop/web-0") {
				t.Errorf("diagnosis: subject %q, root cause %+v:\n%s", d.Subject, d.RootCause, d.Text())
			}
			if reply.Agent != "ops/cluster-specialist" || reply.TaskID == "" || reply.State != a2a.TaskStateCompleted {
				t.Errorf("reply %+v", reply)
			}
			if reply.Text != d.Text() {
				t.Errorf("reply text is not the agent's rendering of its diagnosis:\n%s\nwant:\n%s", reply.Text, d.Text())
			}
		})
	}

	card, err := c.Card(ctx, "ops/cluster-specialist")
	if err != nil || card.Name == "" {
		t.Errorf("Card: %v, %+v", err, card)
	}

	for _, tc := range []struct {
		name string
		req  ask.Request
		is   error
		want []string
	}{
		{"not running", ask.Request{Agent: "ops/nobody", Question: "?"}, a2anats.ErrAgentNotAvailable, []string{"agent ops/nobody is not available", "start it"}},
		{"cannot diagnose", ask.Request{Agent: "ops/no-tools", Subject: "pod/shop/web-0"}, ask.ErrNotCompleted, []string{"agent ops/no-tools", "FAILED", "no read-only tools"}},
		{"refused", ask.Request{Agent: "ops/cluster-specialist", Subject: "widget"}, a2a.ErrInvalidParams, []string{"agent ops/cluster-specialist", "widget"}},
		{"empty", ask.Request{Agent: "ops/cluster-specialist"}, nil, []string{"the request to agent ops/cluster-specialist is empty", "give a subject"}},
		{"both", ask.Request{Agent: "ops/cluster-specialist", Text: "x", Question: "y"}, nil, []string{"send one or the other"}},
		{"bad name", ask.Request{Agent: "nobody", Question: "?"}, nil, []string{"<namespace>/<name>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, reply, err := c.Diagnose(ctx, tc.req)
			if err == nil {
				t.Fatalf("no error; diagnosis %+v", d)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if reply.Agent != tc.req.Agent {
				t.Errorf("reply %+v", reply)
			}
		})
	}
}

// TestDiagnosisOf: a task without a diagnosis artifact, or with one that does not decode, is
// ErrNoDiagnosis, saying why.
func TestDiagnosisOf(t *testing.T) {
	task := &a2a.Task{ID: "t1", Status: a2a.TaskStatus{State: a2a.TaskStateCompleted}}
	if _, err := ask.DiagnosisOf(task); !errors.Is(err, ask.ErrNoDiagnosis) || !strings.Contains(err.Error(), "no diagnosis artifact") {
		t.Errorf("no artifact: %v", err)
	}
	task.Artifacts = []*a2a.Artifact{{Parts: a2a.ContentParts{a2a.NewDataPart(map[string]any{"rootCause": "?"})}}}
	if _, err := ask.DiagnosisOf(task); !errors.Is(err, ask.ErrNoDiagnosis) || !strings.Contains(err.Error(), "task t1") {
		t.Errorf("bad artifact: %v", err)
	}
}
