package agent_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/agent"
	"github.com/opsmesh/opsmesh/controller/toolserver"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// start runs a manager with both reconcilers until tb ends.
func start(tb testing.TB, cfg *rest.Config, b *broker.Broker) {
	tb.Helper()
	env := shared.Env(tb)
	mgr, err := ctrl.NewManager(agent.RateLimits(rest.CopyConfig(cfg)), ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := (&toolserver.Reconciler{Config: toolserver.Config{Backoff: time.Second}}).SetupWithManager(mgr); err != nil {
		tb.Fatal(err)
	}
	if err := (&agent.Reconciler{Config: agent.Config{NATS: b.Conn(), Backoff: time.Second}}).SetupWithManager(mgr); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("manager: %v", err)
		}
	})
}

func startBroker(tb testing.TB) *broker.Broker {
	tb.Helper()
	b, err := broker.Start(context.Background(), broker.Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Close)
	return b
}

// host runs the agent runtime for namespace ns on b, as `opsmesh runtime` does, until tb ends.
func host(tb testing.TB, env *testbed.Env, b *broker.Broker, ns string) {
	tb.Helper()
	pool, err := mcppool.New(nil, mcppool.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := agentruntime.New(agentruntime.Config{NATS: b.Conn(), Pool: pool, NamespacedEndpoints: true})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kubehost.Run(ctx, kubehost.Config{RestConfig: env.Config, Namespaces: []string{ns}, Runtime: rt, Pool: pool, Resync: 5 * time.Second})
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("kubehost: %v", err)
		}
		rt.Close()
		pool.Close()
	})
}

// mcpServer is a real MCP server over streamable HTTP serving look (read-only) and wipe.
func mcpServer(tb testing.TB) string {
	s := server.NewMCPServer("test", "1", server.WithToolCapabilities(true))
	h := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("ok"), nil
	}
	s.AddTool(mcp.NewTool("look", mcp.WithDescription("Looks."), mcp.WithReadOnlyHintAnnotation(true)), h)
	s.AddTool(mcp.NewTool("wipe", mcp.WithDescription("Wipes."), mcp.WithReadOnlyHintAnnotation(false)), h)
	srv := httptest.NewServer(server.NewStreamableHTTPServer(s, server.WithEndpointPath(serve.Path)))
	tb.Cleanup(srv.Close)
	return srv.URL + serve.Path
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func remote(ns, name, url string) *opsv1.ToolServer {
	return &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerRemote, ReadOnly: ptr.To(false), Remote: &opsv1.RemoteToolServer{URL: url}}}
}

func specialist(ns, name string, tools ...opsv1.AgentTools) *opsv1.Agent {
	return &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "specialist " + name, Tools: tools}}
}

// cond waits until the Agent's condition typ has status and reason, and returns the Agent.
func cond(t *testing.T, c client.Client, ns, name, typ string, status metav1.ConditionStatus, reason string) (*opsv1.Agent, *metav1.Condition) {
	t.Helper()
	var a opsv1.Agent
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &a); err != nil {
			last = err.Error()
			continue
		}
		if cd := apimeta.FindStatusCondition(a.Status.Conditions, typ); cd != nil {
			last = fmt.Sprintf("%s %s: %s", cd.Status, cd.Reason, cd.Message)
			if cd.Status == status && cd.Reason == reason && a.Status.ObservedGeneration == a.Generation {
				return &a, cd
			}
		}
	}
	t.Fatalf("Agent %s/%s: timed out waiting for %s=%s %s; last: %s", ns, name, typ, status, reason, last)
	return nil, nil
}

// TestInvalidReferences applies an Agent with each kind of broken reference and checks the
// Accepted condition names it, then that fixing a reference is noticed.
func TestInvalidReferences(t *testing.T) {
	env := shared.Env(t)
	c := env.Client
	ctx := t.Context()
	b := startBroker(t)
	start(t, env.Config, b)
	const ns = "invalid"
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, remote(ns, "good", mcpServer(t))))
	must(t, c.Create(ctx, remote(ns, "down", "http://127.0.0.1:1/mcp")))
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "llm"}, Data: map[string][]byte{"apikey": []byte("sk-very-secret")}}))

	must(t, c.Create(ctx, specialist(ns, "a-nots", opsv1.AgentTools{ToolServer: "gpu-tools", AllowedTools: []string{"gpu_reset"}})))
	must(t, c.Create(ctx, specialist(ns, "a-notready", opsv1.AgentTools{ToolServer: "down", AllowedTools: []string{"look"}})))
	must(t, c.Create(ctx, specialist(ns, "a-notserved", opsv1.AgentTools{ToolServer: "good", AllowedTools: []string{"look", "gpu_reset"}})))
	coord := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a-nodelegate"},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator, Description: "coordinator", Delegates: []opsv1.LocalObjectReference{{Name: "ghost"}}}}
	must(t, c.Create(ctx, coord))
	modeled := func(name, secret, key string) *opsv1.Agent {
		a := specialist(ns, name)
		a.Spec.Model = &opsv1.ModelSpec{Provider: opsv1.ProviderAnthropic, Model: "claude-sonnet-4-5", APIKeySecretRef: &opsv1.SecretKeyReference{Name: secret, Key: key}}
		return a
	}
	must(t, c.Create(ctx, modeled("a-nosecret", "nope", "apikey")))
	must(t, c.Create(ctx, modeled("a-nokey", "llm", "api-key")))

	for _, tc := range []struct{ name, reason, message string }{
		{"a-nots", agent.ReasonToolServerNotFound, `Agent invalid/a-nots: spec.tools[0].toolServer "gpu-tools" does not exist; create it or fix the name`},
		{"a-notready", agent.ReasonToolServerNotReady, `Agent invalid/a-notready: spec.tools[0].toolServer "down" is not Ready (DiscoveryFailed: ToolServer invalid/down: listing tools at http://127.0.0.1:1/mcp failed`},
		{"a-notserved", agent.ReasonToolNotServed, `Agent invalid/a-notserved: spec.tools[0]: tool "gpu_reset" is not served by ToolServer good; it serves: look, wipe`},
		{"a-nodelegate", agent.ReasonDelegateNotFound, `Agent invalid/a-nodelegate: spec.delegates[0] "ghost" does not exist in namespace invalid; create that Agent or fix the name`},
		{"a-nosecret", agent.ReasonSecretNotFound, `Agent invalid/a-nosecret: spec.model.apiKeySecretRef names Secret "nope", which does not exist`},
		{"a-nokey", agent.ReasonSecretKeyNotFound, `Agent invalid/a-nokey: spec.model.apiKeySecretRef: Secret "llm" has no key "api-key" (it has: apikey)`},
	} {
		a, acc := cond(t, c, ns, tc.name, opsv1.ConditionAccepted, metav1.ConditionFalse, tc.reason)
		if !strings.HasPrefix(acc.Message, tc.message) {
			t.Errorf("%s: Accepted message\n%s\nwant it to start with\n%s", tc.name, acc.Message, tc.message)
		}
		if strings.Contains(fmt.Sprint(a.Status), "sk-very-secret") {
			t.Errorf("%s: status holds the API key", tc.name)
		}
		if r := apimeta.FindStatusCondition(a.Status.Conditions, opsv1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse || r.Reason != agent.ReasonNotAccepted {
			t.Errorf("%s: Ready %+v, want False %s", tc.name, r, agent.ReasonNotAccepted)
		}
	}
	a, _ := cond(t, c, ns, "a-notserved", opsv1.ConditionAccepted, metav1.ConditionFalse, agent.ReasonToolNotServed)
	if a.Status.ToolCount != 1 || a.Status.Reasoning != "runbook" {
		t.Errorf("a-notserved: toolCount %d (want 1: look is served), reasoning %q", a.Status.ToolCount, a.Status.Reasoning)
	}
	a, _ = cond(t, c, ns, "a-nokey", opsv1.ConditionAccepted, metav1.ConditionFalse, agent.ReasonSecretKeyNotFound)
	if a.Status.Reasoning != "anthropic/claude-sonnet-4-5" {
		t.Errorf("a-nokey reasoning %q", a.Status.Reasoning)
	}

	// Fixing references re-reconciles the Agents that name them: the delegate appears, the
	// ToolServer is created, the Secret gets its key. With no runtime, they are not hosted.
	must(t, c.Create(ctx, specialist(ns, "ghost")))
	_, r := cond(t, c, ns, "a-nodelegate", opsv1.ConditionReady, metav1.ConditionFalse, agent.ReasonNotHosted)
	if want := "no runtime hosts Agent invalid/a-nodelegate: start `opsmesh runtime` or `opsmesh controller --runtime`"; !strings.HasPrefix(r.Message, want) {
		t.Errorf("Ready message %q, want it to start with %q", r.Message, want)
	}
	must(t, c.Create(ctx, remote(ns, "gpu-tools", mcpServer(t))))
	cond(t, c, ns, "a-nots", opsv1.ConditionAccepted, metav1.ConditionFalse, agent.ReasonToolNotServed)
	var sec corev1.Secret
	must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "llm"}, &sec))
	sec.Data["api-key"] = []byte("sk-2")
	must(t, c.Update(ctx, &sec))
	cond(t, c, ns, "a-nokey", opsv1.ConditionAccepted, metav1.ConditionTrue, agent.ReasonResolved)
}

// TestReadyWhenHosted checks an Agent turns Ready, with its subject and tools, once the agent
// runtime hosts it and its card is in OPSMESH_AGENTS.
func TestReadyWhenHosted(t *testing.T) {
	env := shared.Env(t)
	c := env.Client
	ctx := t.Context()
	b := startBroker(t)
	start(t, env.Config, b)
	const ns = "hosted"
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, remote(ns, "tools", mcpServer(t))))
	must(t, c.Create(ctx, specialist(ns, "spec", opsv1.AgentTools{ToolServer: "tools", AllowedTools: []string{"look", "wipe"}, RequireApproval: []string{"wipe"}})))
	must(t, c.Create(ctx, &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "coord"},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator, Description: "coordinator", Delegates: []opsv1.LocalObjectReference{{Name: "spec"}}}}))

	_, r := cond(t, c, ns, "spec", opsv1.ConditionReady, metav1.ConditionFalse, agent.ReasonNotHosted)
	if !strings.Contains(r.Message, "no runtime hosts Agent hosted/spec") {
		t.Errorf("Ready: %s", r.Message)
	}
	host(t, env, b, ns)
	a, r := cond(t, c, ns, "spec", opsv1.ConditionReady, metav1.ConditionTrue, agent.ReasonHosted)
	if a.Status.Subject != "opsmesh.a2a.hosted.spec" || a.Status.ToolCount != 2 || a.Status.Reasoning != "runbook" || !strings.Contains(r.Message, "opsmesh.a2a.hosted.spec") {
		t.Errorf("spec status: subject %q, toolCount %d, reasoning %q, Ready %q", a.Status.Subject, a.Status.ToolCount, a.Status.Reasoning, r.Message)
	}
	a, _ = cond(t, c, ns, "coord", opsv1.ConditionReady, metav1.ConditionTrue, agent.ReasonHosted)
	if a.Status.Subject != "opsmesh.a2a.hosted.coord" || a.Status.ToolCount != 0 {
		t.Errorf("coord status: %+v", a.Status)
	}
}
