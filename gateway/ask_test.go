//go:build cgo

package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/internal/fixture"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

// TestAskAgent asks a real agent — the runbook engine hosted by agents/runtime on the embedded
// NATS, with opsmesh's builtin servers in process — about a crashlooping Deployment through the
// gateway's ask_agent, and gets its diagnosis back; an agent that is not running is a clear error.
func TestAskAgent(t *testing.T) {
	env := shared.Env(t)
	ctx := context.Background()
	c := fixture.Cluster{T: t, C: env.Client}
	ns := c.Namespace("gw-ask")
	rs := c.Deployment(ns, "checkout", 1, nil)
	c.Pod(rs, ns, "checkout-h1-0", "", fixture.Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container", fixture.Terminated("Error", 1)))

	pool, err := mcppool.New(fixture.Servers(t, env.Config).Endpoints(), mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	kinds, err := kubeaccess.NewShared(ctx, env.Config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := agentruntime.New(agentruntime.Config{NATS: b.Conn(), Pool: pool, Kinds: kinds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	specialist := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cluster-specialist"},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "workloads",
			Tools: []opsv1.AgentTools{{ToolServer: "cluster-tools", AllowedTools: []string{"analyze", "resources_list", "describe", "events_list", "pod_logs"}}}}}
	stopped := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stopped"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "not hosted"}}
	c.Create(specialist)
	c.Create(stopped)
	if err := rt.Host(ctx, specialist); err != nil {
		t.Fatal(err)
	}

	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{ns}, NATS: b.Conn()})
	s, _ := dial(t, g.MCP)
	var out string
	var answer contract.AgentAnswer
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		answer = contract.AgentAnswer{}
		out = s.Data("ask_agent", map[string]any{"agent": "cluster-specialist", "question": "why does checkout keep crashing?", "subject": "deployment/gw-ask/checkout"}, &answer)
		if strings.Contains(out, "CrashLoopBackOff") || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("ask_agent:\n%s", out)
	mcptest.MustContain(t, out, "agent gw-ask/cluster-specialist answered", "CrashLoopBackOff", "checkout-h1-0", "subject: deployment/gw-ask/checkout")
	if answer.Agent != "gw-ask/cluster-specialist" || answer.TaskID == "" || !strings.Contains(out, answer.TaskID) || answer.Subject != "deployment/gw-ask/checkout" ||
		answer.RootCause.Category != contract.CrashLoopBackOff || answer.RootCause.Summary == "" || !strings.Contains(out, answer.RootCause.Summary) {
		t.Errorf("ask_agent: %+v", answer)
	}
	if !slices.ContainsFunc(answer.Findings, func(f contract.AgentFinding) bool { return strings.Contains(f.Summary, "checkout-h1-0") }) {
		t.Errorf("ask_agent findings do not name the crashing pod: %+v", answer.Findings)
	}

	s.Fails("ask_agent", map[string]any{"agent": "stopped", "question": "anyone there?"}, "agent gw-ask/stopped is not available", "opsmesh runtime")
	s.Fails("ask_agent", map[string]any{"agent": "nobody", "question": "?"}, `no Agent "nobody"`, "gw-ask/cluster-specialist, gw-ask/stopped")
	s.Fails("ask_agent", map[string]any{"agent": "kube-system/x", "question": "?"}, "not watched by this gateway")
	s.Fails("ask_agent", map[string]any{"agent": "cluster-specialist", "question": "?", "subject": "widget/a/b"}, "cluster-specialist")
}
