//go:build cgo

package incident_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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
	"github.com/opsmesh/opsmesh/controller/audit"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/controller/trigger"
	"github.com/opsmesh/opsmesh/controller/trigger/events"
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

// agentNS is where the test's Agents and ToolServers live (as the samples install them).
const agentNS = "opsmesh"

// bed is the platform in one test process: a NATS server on a TCP port (so it can be
// restarted), the agent runtime hosting the sample fleet with the builtin tool servers in
// process, and the controller's incident orchestrator.
type bed struct {
	t        testing.TB
	env      *testbed.Env
	c        fixture.Cluster
	natsDir  string
	natsAddr string
	server   *broker.Broker
	js       jetstream.JetStream
	builtins map[opsv1.BuiltinServer]*server.MCPServer
	stopCtrl context.CancelFunc
	ctrlDone chan struct{}
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var fleetOnce = map[*testbed.Env]bool{}

// newBed starts NATS, the runtime and the controller. Agents and ToolServers are created once
// per control plane.
func newBed(t testing.TB) *bed {
	env := shared.Env(t)
	b := &bed{t: t, env: env, c: fixture.Cluster{T: t, C: env.Client}, natsDir: t.TempDir(), natsAddr: freeAddr(t)}
	if !fleetOnce[env] {
		fleetOnce[env] = true
		b.c.Namespace(agentNS)
		b.c.Namespace(fixture.AgentNamespace)
		createFleet(t, env.Client)
	}
	b.startNATS()
	ts := fixture.Servers(t, env.Config)
	b.builtins = map[opsv1.BuiltinServer]*server.MCPServer{opsv1.BuiltinCluster: ts.Cluster, opsv1.BuiltinGPU: ts.GPU, opsv1.BuiltinScheduler: ts.Scheduler}
	b.startRuntime()
	b.startController()
	return b
}

func (b *bed) startNATS() {
	s, err := broker.Start(context.Background(), broker.Options{DataDir: filepath.Join(b.natsDir, "js"), Listen: b.natsAddr})
	if err != nil {
		b.t.Fatal(err)
	}
	b.server = s
	b.js = s.JetStream()
	b.t.Cleanup(func() { b.server.Close() })
}

// restartNATS stops the NATS server and starts it again on the same address and storage.
func (b *bed) restartNATS() {
	b.server.Close()
	time.Sleep(500 * time.Millisecond)
	b.startNATS()
}

func (b *bed) client(name string) *broker.Broker {
	c, err := broker.Start(context.Background(), broker.Options{URL: "nats://" + b.natsAddr, Name: name})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(c.Close)
	return c
}

func (b *bed) startRuntime() {
	t := b.t
	conn := b.client("runtime")
	pool, err := mcppool.New(nil, mcppool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rt, err := agentruntime.New(agentruntime.Config{NATS: conn.Conn(), Pool: pool, NamespacedEndpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = kubehost.Run(ctx, kubehost.Config{RestConfig: b.env.Config, Namespaces: []string{agentNS}, Runtime: rt, Pool: pool, Builtins: b.builtins, Resync: 2 * time.Second})
	}()
	eventually(t, 60*time.Second, "the runtime hosts the fleet", func() error {
		if got := rt.Agents(); len(got) < 5 {
			return fmt.Errorf("hosted %v", got)
		}
		return nil
	})
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = opsv1.AddToScheme(s)
	return s
}

// startController runs the orchestrator in a manager of its own (stopped by stopController).
func (b *bed) startController() {
	t := b.t
	conn := b.client("controller")
	mgr, err := ctrl.NewManager(b.env.Config, ctrl.Options{Scheme: scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := incident.New(ctx, incident.Config{Client: mgr.GetClient(), NATS: conn.Conn(), JetStream: conn.JetStream(),
		Builtins: b.builtins, CoordinatorNamespace: agentNS, VerifyInterval: 300 * time.Millisecond, VerifyTimeout: 20 * time.Second,
		InvestigateTimeout: 30 * time.Second, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	// The triggers raise Incidents from Warning events (the event-to-diagnosis benchmark).
	if _, err := trigger.SetupWithManager(mgr, &trigger.Options{DefaultNamespace: agentNS, Cooldown: time.Minute,
		EventReasons: events.DefaultReasons, WatchEvents: true}, conn.JetStream()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.Close()
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	b.stopCtrl, b.ctrlDone = cancel, done
	t.Cleanup(b.stopController)
}

func (b *bed) stopController() {
	if b.stopCtrl != nil {
		b.stopCtrl()
		<-b.ctrlDone
		b.stopCtrl = nil
	}
}

// createFleet creates the sample ToolServers and Agents: a coordinator taking every Incident
// (ApprovalRequired), one taking Incidents labelled policy=auto (Auto), and the cluster, GPU and
// scheduler specialists.
func createFleet(t testing.TB, c client.Client) {
	ctx := context.Background()
	for name, s := range map[string]opsv1.BuiltinServer{"cluster-tools": opsv1.BuiltinCluster, "gpu-tools": opsv1.BuiltinGPU, "scheduler-tools": opsv1.BuiltinScheduler} {
		ts := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: agentNS, Name: name},
			Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: s}, ReadOnly: ptr.To(false)}}
		if err := c.Create(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	skill := func(tags ...string) []opsv1.AgentSkill {
		return []opsv1.AgentSkill{{ID: "s", Name: "skill", Description: "skill", Tags: tags}}
	}
	delegates := []opsv1.LocalObjectReference{{Name: "cluster-specialist"}, {Name: "gpu-specialist"}, {Name: "scheduler-specialist"}}
	coordTools := []opsv1.AgentTools{{ToolServer: "cluster-tools", AllowedTools: []string{"analyze", "describe", "events_list"}}}
	agents := []*opsv1.Agent{
		{ObjectMeta: metav1.ObjectMeta{Name: "incident-coordinator"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator, Description: "coordinator",
			Tools: coordTools, Delegates: delegates, Skills: skill("incident"), IncidentSelector: &metav1.LabelSelector{},
			Remediation: &opsv1.RemediationPolicy{Mode: opsv1.RemediationApprovalRequired}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "auto-coordinator"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator, Description: "coordinator, Auto",
			Tools: coordTools, Delegates: delegates, Skills: skill("incident"), IncidentSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"policy": "auto"}},
			Remediation: &opsv1.RemediationPolicy{Mode: opsv1.RemediationAuto}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "cluster-specialist"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "workloads",
			Skills: skill("kubernetes", "workloads"), Tools: []opsv1.AgentTools{{ToolServer: "cluster-tools",
				AllowedTools: []string{"analyze", "resources_list", "describe", "events_list", "pod_logs", "workload_restart", "workload_rollback", "node_cordon", "node_uncordon"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gpu-specialist"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "GPUs",
			Skills: skill("gpu", "nvml", "xid"), Tools: []opsv1.AgentTools{
				{ToolServer: "gpu-tools", AllowedTools: []string{"gpu_node_health", "gpu_inventory"}},
				{ToolServer: "cluster-tools", AllowedTools: []string{"nodes_status", "node_cordon", "node_drain"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "scheduler-specialist"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "scheduling",
			Skills: skill("scheduling", "kueue"), Tools: []opsv1.AgentTools{{ToolServer: "scheduler-tools", AllowedTools: []string{"explain_pending", "queue_status", "gpu_fragmentation"}}}}},
	}
	for _, a := range agents {
		a.Namespace = agentNS
		if err := c.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually retries f until it succeeds or d passes.
func eventually(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get reads an Incident.
func (b *bed) get(ns, name string) *opsv1.Incident {
	var inc opsv1.Incident
	if err := b.env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &inc); err != nil {
		b.t.Fatal(err)
	}
	return &inc
}

// waitPhase waits until the Incident reaches phase, failing early on another terminal phase.
func (b *bed) waitPhase(ns, name string, phase opsv1.IncidentPhase, d time.Duration) *opsv1.Incident {
	b.t.Helper()
	var inc *opsv1.Incident
	eventually(b.t, d, fmt.Sprintf("Incident %s/%s reaches %s", ns, name, phase), func() error {
		inc = b.get(ns, name)
		if inc.Status.Phase == phase {
			return nil
		}
		if inc.Status.Phase.Terminal() {
			b.t.Fatalf("Incident %s/%s ended %s, want %s:\n%s", ns, name, inc.Status.Phase, phase, timeline(inc))
		}
		return fmt.Errorf("phase %q:\n%s", inc.Status.Phase, timeline(inc))
	})
	return inc
}

func timeline(inc *opsv1.Incident) string {
	s := ""
	for _, e := range inc.Status.Timeline {
		s += fmt.Sprintf("  %d %s %s %s: %s\n", e.Seq, e.Phase, e.Event, e.Actor, e.Message)
	}
	return s
}

func action(inc *opsv1.Incident, tool string) *opsv1.RemediationAction {
	i := slices.IndexFunc(inc.Status.Actions, func(a opsv1.RemediationAction) bool { return a.Tool == tool })
	if i < 0 {
		return nil
	}
	return &inc.Status.Actions[i]
}

// auditEvents reads the Incident's audit trail.
func (b *bed) auditEvents(ns, name string) []audit.Event {
	b.t.Helper()
	var evs []audit.Event
	eventually(b.t, 20*time.Second, "reading the audit trail", func() error {
		var err error
		evs, err = audit.Read(context.Background(), b.js, ns, name)
		return err
	})
	return evs
}

// raise creates an Incident about target, as the event trigger does.
func (b *bed) raise(ns, name string, labels map[string]string, target *opsv1.TargetReference, summary string) {
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: opsv1.IncidentSpec{Summary: summary, Source: opsv1.IncidentSource{Type: opsv1.SourceEvent, Name: "BackOff"}, Target: target}}
	b.c.Create(inc)
}

// healthy is the status of a running, ready pod.
func healthy() corev1.PodStatus {
	now := metav1.Now()
	return corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
}

// pinnedToCordoned creates node, Ready but cordoned, and in a new namespace ns a pod pinned to it
// that the scheduler reported Unschedulable; both are deleted when the test ends.
func (b *bed) pinnedToCordoned(t *testing.T, node, ns string) (*corev1.Node, *corev1.Pod, string) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"kubernetes.io/hostname": node}},
		Spec: corev1.NodeSpec{Unschedulable: true}}
	b.c.Create(n)
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n.Status.Capacity = n.Status.Allocatable
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	b.c.SetStatus(n)
	b.c.Untaint(n)
	ns = b.c.Namespace(ns)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pinned-0"},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/hostname": node},
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/pinned:1",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
	b.c.Create(p)
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 node(s) were unschedulable."}}}
	b.c.SetStatus(p)
	removeAfter(t, b, n, p)
	return n, p, ns
}
