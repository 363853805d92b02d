//go:build cgo

package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/controller/manager"
	"github.com/opsmesh/opsmesh/controller/trigger"
	"github.com/opsmesh/opsmesh/controller/trigger/events"
	"github.com/opsmesh/opsmesh/internal/fixture"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/sandbox/demo"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

const agentNS = "opsmesh"

// platform starts, on envtest, what opsmesh controller --runtime runs on the sandbox: embedded
// NATS on a TCP port (the node agents publish to it), the builtin tool servers, the agent
// runtime hosting the samples, and the controller (ToolServer and Agent reconcilers, the
// incident orchestrator, the event and XID triggers). It applies deploy/samples and returns the
// NATS URL once the samples are Ready.
func platform(t *testing.T, env *testbed.Env) string {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := fixture.Cluster{T: t, C: env.Client}
	c.Namespace(agentNS)
	c.Namespace(fixture.AgentNamespace)
	applySamples(t, env.Client)

	nb, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nb.Close)
	ts := fixture.Servers(t, env.Config)
	builtins := map[opsv1.BuiltinServer]*server.MCPServer{opsv1.BuiltinCluster: ts.Cluster, opsv1.BuiltinGPU: ts.GPU, opsv1.BuiltinScheduler: ts.Scheduler}

	pool, err := mcppool.New(nil, mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rt, err := agentruntime.New(agentruntime.Config{NATS: nb.Conn(), Pool: pool, NamespacedEndpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	go func() {
		_ = kubehost.Run(ctx, kubehost.Config{RestConfig: env.Config, Namespaces: []string{agentNS}, Runtime: rt, Pool: pool, Builtins: builtins, Resync: 2 * time.Second})
	}()
	done := make(chan error, 1)
	go func() {
		done <- manager.Run(ctx, manager.Options{RestConfig: env.Config, NATS: nb.Conn(), JetStream: nb.JetStream(), Builtins: builtins, Identity: "test",
			Incident: incident.Config{CoordinatorNamespace: agentNS, VerifyInterval: 300 * time.Millisecond, VerifyTimeout: 30 * time.Second, InvestigateTimeout: 30 * time.Second},
			Triggers: &trigger.Options{DefaultNamespace: agentNS, Cooldown: time.Minute, EventReasons: events.DefaultReasons, WatchEvents: true, WatchGPUXID: true},
			Logger:   logr.Discard()})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		var agents opsv1.AgentList
		if err := env.Client.List(ctx, &agents, client.InNamespace(agentNS)); err != nil {
			t.Fatal(err)
		}
		var notReady []string
		for _, a := range agents.Items {
			if !readyCond(a.Status.Conditions) {
				notReady = append(notReady, a.Name)
			}
		}
		if len(agents.Items) >= 4 && len(notReady) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sample Agents are not Ready: %v", notReady)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nb.ClientURL()
}

func readyCond(cs []metav1.Condition) bool {
	for _, c := range cs {
		if c.Type == opsv1.ConditionReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// applySamples creates deploy/samples' Agents and ToolServers in agentNS.
func applySamples(t *testing.T, c client.Client) {
	files, err := filepath.Glob("../../deploy/samples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(b, &meta); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var obj client.Object
		switch meta.Kind {
		case "Agent":
			obj = &opsv1.Agent{}
		case "ToolServer":
			obj = &opsv1.ToolServer{}
		default:
			continue
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		obj.SetNamespace(agentNS)
		if err := c.Create(context.Background(), obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// nodes creates what the sandbox simulates: three CPU nodes and three GPU nodes with 8 H100s,
// all labelled simulated and Ready.
func nodes(t *testing.T, c client.Client) {
	fc := fixture.Cluster{T: t, C: c}
	for i := 1; i <= 3; i++ {
		for _, kind := range []string{"cpu", "gpu"} {
			l := map[string]string{demo.SimulatedLabel: "true", "type": "kwok"}
			capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
			if kind == "gpu" {
				l["nvidia.com/gpu.product"], l["nvidia.com/gpu.present"] = "NVIDIA-H100-80GB-HBM3", "true"
				capacity["nvidia.com/gpu"] = resource.MustParse("8")
			}
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kwok-%s-%d", kind, i), Labels: l}}
			fc.Create(n)
			n.Status.Capacity, n.Status.Allocatable = capacity, capacity
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
			fc.SetStatus(n)
			fc.Untaint(n)
		}
	}
}

// Without the platform's coordinators the demo says what to install and creates nothing.
func TestWithoutPlatformSaysWhatToDo(t *testing.T) {
	env := shared.Env(t)
	var out bytes.Buffer
	_, err := demo.Run(context.Background(), demo.Config{RestConfig: env.Config, Out: &out, AgentNamespace: "no-agents-here", Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "namespace no-agents-here has no coordinator Agent") || !strings.Contains(err.Error(), "deploy/samples") {
		t.Fatalf("err = %v, want it to name the namespace and the samples to apply", err)
	}
	for _, ns := range []string{demo.NSInference, demo.NSTraining, demo.NSBatch} {
		var n corev1.Namespace
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err == nil {
			t.Errorf("namespace %s was created by a demo that could not run", ns)
		}
	}
}

// TestDemo runs the whole demo against the platform in process: each scenario's Incident is
// raised by the platform's own triggers (Warning events, the XID on NATS), diagnosed by the
// specialist it needs, and ends where the demo expects; the rollback was approved through the
// CLI's code path and the cordon by the Auto policy.
func TestDemo(t *testing.T) {
	env := shared.Env(t)
	natsURL := platform(t, env)
	nodes(t, env.Client)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	runSim(ctx, t, env.Client)
	faults := &nodeAgents{t: t, c: env.Client, natsURL: natsURL}

	var out bytes.Buffer
	res, err := demo.Run(ctx, demo.Config{RestConfig: env.Config, Out: &out, Faults: faults, Timeout: 3 * time.Minute, Poll: 200 * time.Millisecond})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	want := map[string]struct {
		cause string
		phase opsv1.IncidentPhase
	}{
		demo.ScenarioCrashLoop:  {"CrashLoopBackOff", opsv1.PhaseResolved},
		demo.ScenarioPendingGPU: {"GPUFragmentation", opsv1.PhaseEscalated},
		demo.ScenarioXID:        {"GPUXid79", opsv1.PhaseAwaitingApproval},
		demo.ScenarioOOM:        {"OOMKilled", opsv1.PhaseAwaitingApproval},
	}
	for name, w := range want {
		s, ok := res.Scenario(name)
		if !ok {
			t.Errorf("no result for scenario %s", name)
			continue
		}
		if !s.OK || s.RootCause != w.cause || s.Phase != w.phase {
			t.Errorf("%s: ok=%v root cause %s phase %s (%s), want %s and %s", name, s.OK, s.RootCause, s.Phase, s.Problem, w.cause, w.phase)
		}
	}
	if got := faults.injected(); len(got) != 1 || !strings.HasSuffix(got[0], "/3/79") {
		t.Errorf("XIDs injected: %v, want one XID 79 on GPU 3", got)
	}
	crash, _ := res.Scenario(demo.ScenarioCrashLoop)
	if crash.Approved != fmt.Sprintf("opsmesh approve %s a1 -n %s", crash.Incident, demo.NSInference) {
		t.Errorf("approve command %q", crash.Approved)
	}
	if !strings.Contains(out.String(), "$ "+crash.Approved) {
		t.Errorf("the output does not show the approve command %q", crash.Approved)
	}
	// The XID Incident was taken by the demo's Auto coordinator, the others by the sample's.
	xid, _ := res.Scenario(demo.ScenarioXID)
	if xid.Coordinator != agentNS+"/demo-gpu-coordinator" || !contains(xid.Agents, agentNS+"/gpu-specialist") {
		t.Errorf("XID incident: coordinator %s, agents %v", xid.Coordinator, xid.Agents)
	}
	pend, _ := res.Scenario(demo.ScenarioPendingGPU)
	if !contains(pend.Agents, agentNS+"/scheduler-specialist") {
		t.Errorf("pending incident: agents %v, want the scheduler specialist", pend.Agents)
	}
	// The XID (and the cordon it brings) came after the pending Incident's diagnosis, which
	// counts that node's free GPUs.
	if got := faults.diagnosedBeforeXID(); !contains(got, "Job "+demo.NSTraining+"/llm-finetune") {
		t.Errorf("Incidents diagnosed when the XID was injected: %v; want the pending Job's among them", got)
	}
	// The rollback really happened: the Deployment runs revision 1's config again.
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(demo.NSInference), client.MatchingLabels{"app": "llm-inference"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && !strings.HasSuffix(p.Spec.Containers[0].Args[0], "/config.yaml") {
			t.Errorf("pod %s runs %v after the rollback", p.Name, p.Spec.Containers[0].Args)
		}
	}
	golden(t, "summary.golden", normalise(res))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var incidentSuffix = regexp.MustCompile(`-[0-9a-f]{5}$`)

// normalise renders the summary with what changes between runs (times, name suffixes) fixed.
func normalise(res demo.Result) string {
	for i := range res.Scenarios {
		s := &res.Scenarios[i]
		s.Incident = incidentSuffix.ReplaceAllString(s.Incident, "-xxxxx")
		s.TimeToDiagnosis = time.Second
	}
	var b bytes.Buffer
	demo.WriteSummary(&b, res)
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1)", err)
	}
	if got != string(want) {
		t.Errorf("summary differs from %s (UPDATE_GOLDEN=1 to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
