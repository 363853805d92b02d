//go:build cgo

package runtime_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	askclient "github.com/opsmesh/opsmesh/agents/ask"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/llm"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/fixture"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// embedded starts the embedded NATS broker every opsmesh command uses by default.
func embedded(t testing.TB) *broker.Broker {
	b, err := broker.Start(context.Background(), broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func agent(ns, name string, role opsv1.AgentRole, tags []string, delegates []string, tools ...opsv1.AgentTools) *opsv1.Agent {
	a := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: opsv1.AgentSpec{Role: role, Description: name, Tools: tools,
			Skills: []opsv1.AgentSkill{{ID: "s", Name: name, Description: name, Tags: tags}}}}
	for _, d := range delegates {
		a.Spec.Delegates = append(a.Spec.Delegates, opsv1.LocalObjectReference{Name: d})
	}
	return a
}

// ask sends a request to namespace/name over NATS with a stock a2a-go client and returns the
// diagnosis in the finished task.
func ask(t *testing.T, b *broker.Broker, ref string, req map[string]any) (*diagnosis.Diagnosis, *a2a.Task) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := a2anats.Dial(ctx, b.Conn(), ref)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewDataPart(req))})
	if err != nil {
		t.Fatal(err)
	}
	task, ok := res.(*a2a.Task)
	if !ok {
		t.Fatalf("answer is a %T", res)
	}
	if task.Status.State != a2a.TaskStateCompleted {
		why := ""
		if task.Status.Message != nil {
			for _, p := range task.Status.Message.Parts {
				why += p.Text()
			}
		}
		t.Fatalf("task %s: %s: %s", task.ID, task.Status.State, why)
	}
	d, err := askclient.DiagnosisOf(task)
	if err != nil {
		t.Fatal(err)
	}
	return d, task
}

// TestCoordinatorAndSpecialists hosts the sample fleet — a coordinator and cluster, GPU and
// scheduler specialists — in one runtime on the embedded NATS, and asks the coordinator about a
// training Deployment whose pods crash on a node with an XID 79: the cluster specialist finds the
// crash and the node, the GPU specialist the lost GPU, and the merged diagnosis names the GPU
// with a plan to cordon and drain the node.
func TestCoordinatorAndSpecialists(t *testing.T) {
	env := shared.Env(t)
	c := fixture.Cluster{T: t, C: env.Client}
	c.Namespace(fixture.AgentNamespace)
	ns := c.Namespace("rt-train")
	c.GPUNode("rt-gpu-1", fixture.XID79)
	rs := c.Deployment(ns, "trainer", 1, func(p *corev1.PodSpec) {
		p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}
	})
	c.Pod(rs, ns, "trainer-h1-0", "rt-gpu-1", fixture.Waiting("CrashLoopBackOff", "back-off 5m0s", fixture.Terminated("Error", 1)))

	pool, err := mcppool.New(fixture.Servers(t, env.Config).Endpoints(), mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := embedded(t)
	kinds, err := kubeaccess.NewShared(context.Background(), env.Config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := runtime.Config{NATS: b.Conn(), Pool: pool, Kinds: kinds}
	if os.Getenv("DEBUG_RT") != "" {
		cfg.ServeOptions = []a2anats.Option{a2anats.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)))}
	}
	rt, err := runtime.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	ctx := context.Background()
	clusterRead := []string{"analyze", "resources_list", "describe", "events_list", "pod_logs"}
	for _, a := range []*opsv1.Agent{
		agent("opsmesh", "incident-coordinator", opsv1.RoleCoordinator, []string{"incident"}, []string{"cluster-specialist", "gpu-specialist", "scheduler-specialist"},
			opsv1.AgentTools{ToolServer: "cluster-tools", AllowedTools: []string{"analyze", "describe", "events_list"}}),
		agent("opsmesh", "cluster-specialist", opsv1.RoleSpecialist, []string{"kubernetes", "workloads"}, nil,
			opsv1.AgentTools{ToolServer: "cluster-tools", AllowedTools: append(clusterRead, "workload_restart", "workload_rollback")}),
		agent("opsmesh", "gpu-specialist", opsv1.RoleSpecialist, []string{"gpu", "nvml", "xid"}, nil,
			opsv1.AgentTools{ToolServer: "gpu-tools", AllowedTools: []string{"gpu_node_health", "gpu_inventory"}},
			opsv1.AgentTools{ToolServer: "cluster-tools", AllowedTools: []string{"nodes_status", "node_cordon", "node_drain"}, RequireApproval: []string{"node_drain"}}),
		agent("opsmesh", "scheduler-specialist", opsv1.RoleSpecialist, []string{"scheduling", "kueue", "volcano", "gpu"}, nil,
			opsv1.AgentTools{ToolServer: "scheduler-tools", AllowedTools: []string{"explain_pending", "queue_status", "gpu_fragmentation", "preemption_candidates"}}),
	} {
		if err := rt.Host(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(rt.Agents(), " "); got != "opsmesh/cluster-specialist opsmesh/gpu-specialist opsmesh/incident-coordinator opsmesh/scheduler-specialist" {
		t.Errorf("hosted %s", got)
	}

	if os.Getenv("DEBUG_RT") != "" {
		dd, _ := ask(t, b, "opsmesh/cluster-specialist", map[string]any{"subject": "deployment/rt-train/trainer", "question": "trainer keeps crashing"})
		t.Log(dd.Text())
	}
	var d *diagnosis.Diagnosis
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		d, _ = ask(t, b, "opsmesh/incident-coordinator", map[string]any{"subject": "deployment/rt-train/trainer", "question": "trainer keeps crashing"})
		if d.RootCause.Category == "GPUXid79" || time.Now().After(deadline) {
			break
		}
	}
	text := d.Text()
	if d.RootCause.Category != "GPUXid79" {
		t.Fatalf("category %s:\n%s", d.RootCause.Category, text)
	}
	for _, want := range []string{
		"GPU 3 on node rt-gpu-1 reports XID 79",
		"agents: opsmesh/incident-coordinator, opsmesh/cluster-specialist, opsmesh/gpu-specialist",
		"finding (opsmesh/cluster-specialist): CrashLoopBackOff",
		"finding (opsmesh/gpu-specialist): GPUXid79",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnosis does not say %q:\n%s", want, text)
		}
	}
	if len(d.Plan) != 2 || d.Plan[0].Tool != "node_cordon" || d.Plan[0].Agent != "opsmesh/gpu-specialist" || d.Plan[0].Risk != opsv1.RiskSafe ||
		d.Plan[1].Tool != "node_drain" || d.Plan[1].Risk != opsv1.RiskDestructive || d.Plan[1].ToolServer != "cluster-tools" {
		t.Errorf("plan %+v\n%s", d.Plan, text)
	}

	// A pod pending for GPUs: the cluster specialist sees it Unschedulable, the scheduler
	// specialist says why (the node's 8 GPUs are held by the trainer) and what would make it run.
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "eval-0"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/eval:1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("4")}}}}}}
	c.Create(pending)
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}}}
	c.SetStatus(pending)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		d, _ = ask(t, b, "opsmesh/incident-coordinator", map[string]any{"subject": "pod/rt-train/eval-0", "question": "why is eval-0 pending?"})
		if d.RootCause.Category == "InsufficientGPU" || time.Now().After(deadline) {
			break
		}
	}
	text = d.Text()
	for _, want := range []string{
		"InsufficientGPU: No node of 1 fits Pod rt-train/eval-0",
		"agents: opsmesh/incident-coordinator, opsmesh/cluster-specialist, opsmesh/scheduler-specialist",
		"finding (opsmesh/cluster-specialist): Unschedulable",
		"note: opsmesh/scheduler-specialist: fix 1: ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("pending diagnosis does not say %q:\n%s", want, text)
		}
	}

	// A specialist answers directly too, and a malformed request is refused with the A2A error.
	sd, _ := ask(t, b, "opsmesh/gpu-specialist", map[string]any{"subject": "node/rt-gpu-1"})
	if sd.RootCause.Category != "GPUXid79" || strings.Join(sd.Agents, ",") != "opsmesh/gpu-specialist" {
		t.Errorf("gpu specialist: %s", sd.Text())
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cl, err := a2anats.Dial(cctx, b.Conn(), "opsmesh/cluster-specialist")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.SendMessage(cctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewDataPart(map[string]any{"subject": "gizmo/x/y"}))})
	if err == nil || !strings.Contains(err.Error(), `unknown kind "gizmo"`) {
		t.Errorf("bad subject: %v", err)
	}

	// Removing an agent takes it off NATS: a request fails fast as not available.
	rt.Remove("opsmesh", "cluster-specialist")
	_, err = cl.SendMessage(cctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("deployment/rt-train/trainer"))})
	if err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("removed agent: %v", err)
	}
}

// scriptedModel is an OpenAI-compatible chat completions endpoint that stands in for a hosted
// model: first it asks to call the gpu-specialist delegate, then it answers with a diagnosis.
// It records the requests it received.
type scriptedModel struct {
	mu       sync.Mutex
	requests []string
}

func (m *scriptedModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	m.requests = append(m.requests, string(body))
	n := len(m.requests)
	m.mu.Unlock()
	var msg any
	finish := "stop"
	if n == 1 {
		finish = "tool_calls"
		msg = map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call-1", "type": "function",
			"function": map[string]any{"name": "delegates__gpu-specialist", "arguments": `{"subject":"node/rt-gpu-2","question":"is the GPU broken?"}`}}}}
	} else {
		answer := `{"subject":"node/rt-gpu-2","rootCause":{"category":"GPUXid79","summary":"GPU 3 on rt-gpu-2 fell off the bus (XID 79), as the GPU specialist found","confidence":"high","evidence":[{"object":"node/rt-gpu-2","detail":"GPU 3 reports XID 79"}]},"plan":[],"engine":"x","toolCalls":0}`
		msg = map[string]any{"role": "assistant", "content": answer}
	}
	out, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion", "created": 1, "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// TestModelCoordinatorCallsDelegatesAsTools: a coordinator with a model sees its delegates as
// tools; the model's call reaches the GPU specialist over A2A, and its diagnosis comes back to
// the model as the tool's result.
func TestModelCoordinatorCallsDelegatesAsTools(t *testing.T) {
	env := shared.Env(t)
	c := fixture.Cluster{T: t, C: env.Client}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: fixture.AgentNamespace}, &corev1.Namespace{}); err != nil {
		c.Namespace(fixture.AgentNamespace)
	}
	c.GPUNode("rt-gpu-2", fixture.XID79)
	model := &scriptedModel{}
	srv := httptest.NewServer(model)
	t.Cleanup(srv.Close)

	pool, err := mcppool.New(fixture.Servers(t, env.Config).Endpoints(), mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := embedded(t)
	rt, err := runtime.New(runtime.Config{NATS: b.Conn(), Pool: pool,
		Models: func(_ context.Context, a *opsv1.Agent, tools runtime.Tools, fallback runtime.Engine) (runtime.Engine, error) {
			return llm.NewForAgent(a, tools, fallback, "test-key", nil)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	coord := agent("opsmesh", "llm-coordinator", opsv1.RoleCoordinator, []string{"incident"}, []string{"gpu-specialist"},
		opsv1.AgentTools{ToolServer: "cluster-tools", AllowedTools: []string{"analyze"}})
	coord.Spec.Model = &opsv1.ModelSpec{Provider: "openai", Model: "test-model", BaseURL: srv.URL + "/v1"}
	for _, a := range []*opsv1.Agent{coord, agent("opsmesh", "gpu-specialist", opsv1.RoleSpecialist, []string{"gpu"}, nil,
		opsv1.AgentTools{ToolServer: "gpu-tools", AllowedTools: []string{"gpu_node_health"}})} {
		if err := rt.Host(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := ask(t, b, "opsmesh/llm-coordinator", map[string]any{"subject": "node/rt-gpu-2", "question": "is rt-gpu-2 healthy?"})
	if d.Engine != "openai/test-model" || d.RootCause.Category != "GPUXid79" || d.Tokens != 240 || d.ToolCalls != 1 {
		t.Errorf("diagnosis: %s", d.Text())
	}
	model.mu.Lock()
	defer model.mu.Unlock()
	if len(model.requests) != 2 {
		t.Fatalf("the model got %d requests, want 2", len(model.requests))
	}
	if !strings.Contains(model.requests[0], `"name":"delegates__gpu-specialist"`) {
		t.Errorf("the delegate is not offered as a tool:\n%s", model.requests[0])
	}
	for _, want := range []string{"diagnosis of opsmesh/gpu-specialist", "GPUXid79: GPU 3 on node rt-gpu-2 reports XID 79"} {
		if !strings.Contains(model.requests[1], want) {
			t.Errorf("the tool result given to the model does not say %q:\n%s", want, model.requests[1])
		}
	}
}
