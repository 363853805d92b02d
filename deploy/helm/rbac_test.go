package helm_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/ask"
	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/manager"
	"github.com/opsmesh/opsmesh/controller/toolserver"
	"github.com/opsmesh/opsmesh/controller/trigger"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// syncBuffer is a log sink the controller's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logs is every log line of the components these tests run, client-go's reflectors' (klog)
// included, so a list or watch the API server forbids shows. klog and controller-runtime's
// logger are set once for the test binary: goroutines of a stopped manager may still log.
var (
	logs      syncBuffer
	logger    = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	setLogger sync.Once
)

func captureLogs() logr.Logger {
	l := logr.FromSlogHandler(logger.Handler())
	setLogger.Do(func() {
		klog.SetLogger(l)
		ctrllog.SetLogger(l)
	})
	return l
}

// forbidden fails the test with every log line in which the API server refused user.
func forbidden(t *testing.T, user string) {
	t.Helper()
	var bad []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "forbidden") && strings.Contains(line, user) {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("the API server refused %s:\n%s", user, strings.Join(bad, "\n"))
	}
}

// chartRBAC creates, for real, the ServiceAccount, roles and bindings the chart renders for a
// component (in mode split), and returns a client config that authenticates as that ServiceAccount.
func chartRBAC(ctx context.Context, t *testing.T, env *testbed.Env, component string) (*rest.Config, string) {
	t.Helper()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sa := "opsmesh-" + component
	n := 0
	for _, o := range objects(t, render(t, "--set", "mode=split,gpuNodeAgent.enabled=false,metrics.enabled=false")) {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if o.GetName() != sa && !(component == "controller" && o.GetName() == "opsmesh-leader-election") {
				continue
			}
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
			}
			n++
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
		}
	}
	if n < 3 {
		t.Fatalf("the chart renders only %d RBAC objects for %s", n, sa)
	}
	user := "system:serviceaccount:" + namespace + ":" + sa
	cfg, err := env.UserConfig(user, "system:serviceaccounts", "system:serviceaccounts:"+namespace, "system:authenticated")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, user
}

// TestControllerWorksWithChartRBAC runs the controller (controller/manager, as `opsmesh
// controller` in mode split, the smaller role) as the chart's controller ServiceAccount, with
// only the chart's ClusterRole and leader-election Role: it takes the Lease, makes a ToolServer's
// workload, Service, token Secret, ServiceAccount and ClusterRole, raises an Incident from a
// Warning event, records an Incident as Detected, and the API server refuses it nothing.
func TestControllerWorksWithChartRBAC(t *testing.T) {
	env := shared.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, user := chartRBAC(ctx, t, env, "controller")
	log := captureLogs()

	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	trig := trigger.RegisterFlags(pflag.NewFlagSet("controller", pflag.ContinueOnError)) // the flags' defaults
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- manager.Run(mctx, manager.Options{RestConfig: cfg, NATS: b.Conn(), JetStream: b.JetStream(),
			LeaderElection: true, LeaderElectionNamespace: namespace, Identity: "chart-rbac-test",
			ToolServer: toolserver.Config{Version: "test"}, Triggers: trig, Logger: log})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the controller stopped with: %v", err)
		}
	}()

	ts := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "rbac-cluster-tools"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}, ReadOnly: new(false)}}
	if err := env.Client.Create(ctx, ts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ts) })
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "rbac-manual"},
		Spec: opsv1.IncidentSpec{Summary: "raised by hand", Source: opsv1.IncidentSource{Type: opsv1.SourceManual}}}
	if err := env.Client.Create(ctx, inc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), inc) })
	now := metav1.Now()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "rbac-backoff"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: namespace, Name: "rbac-crasher"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app",
		FirstTimestamp: now, LastTimestamp: now, Count: 1, Source: corev1.EventSource{Component: "kubelet"}}
	if err := env.Client.Create(ctx, ev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ev) })

	waitFor(ctx, t, "the ToolServer's Deployment, Service, ServiceAccount, token Secret and ClusterRole", func() bool {
		return exists(ctx, env.Client, namespace, ts.Name, &appsv1.Deployment{}) && exists(ctx, env.Client, namespace, ts.Name, &corev1.Service{}) &&
			exists(ctx, env.Client, namespace, ts.Name, &corev1.ServiceAccount{}) && exists(ctx, env.Client, namespace, ts.Name+"-mcp-token", &corev1.Secret{}) &&
			exists(ctx, env.Client, "", "opsmesh-toolserver-"+namespace+"-"+ts.Name, &rbacv1.ClusterRole{})
	})
	waitFor(ctx, t, "an Incident raised from the BackOff event", func() bool {
		var list opsv1.IncidentList
		if err := env.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{"opsmesh.dev/source": "event"}); err != nil {
			return false
		}
		for _, i := range list.Items {
			if i.Spec.Target != nil && i.Spec.Target.Name == "rbac-crasher" {
				t.Cleanup(func() { _ = env.Client.Delete(context.Background(), &i) })
				return true
			}
		}
		return false
	})
	// With no coordinator Agent the orchestrator records Detected and says so in the Ready condition
	// (after looking for one among the Agents).
	waitFor(ctx, t, "the hand-raised Incident to be Detected, waiting for a coordinator", func() bool {
		var got opsv1.Incident
		if env.Client.Get(ctx, client.ObjectKeyFromObject(inc), &got) != nil || got.Status.Phase != opsv1.PhaseDetected {
			return false
		}
		c := meta.FindStatusCondition(got.Status.Conditions, "Ready")
		return c != nil && c.Reason == "NoCoordinator"
	})
	forbidden(t, user)
}

func exists(ctx context.Context, c client.Client, ns, name string, o client.Object) bool {
	return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o) == nil
}

func waitFor(ctx context.Context, t *testing.T, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; the components logged:\n%s", what, tail(logs.String(), 40))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestRuntimeWorksWithChartRBAC runs the agent runtime (as `opsmesh runtime` in mode split, with
// the builtin ToolServers in process) as the chart's runtime ServiceAccount with only the
// chart's read-only ClusterRole: it hosts an Agent, the Agent answers over A2A after its tools
// read the namespace, and the API server refuses it nothing.
func TestRuntimeWorksWithChartRBAC(t *testing.T) {
	env := shared.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, user := chartRBAC(ctx, t, env, "runtime")
	captureLogs()

	ts := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "rbac-runtime-tools"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}}}
	ag := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "rbac-runtime-agent"}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist,
		Description: "checks a namespace", Tools: []opsv1.AgentTools{{ToolServer: ts.Name, AllowedTools: []string{"analyze"}}}}}
	for _, o := range []client.Object{ts, ag} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}

	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	builtins, err := kubehost.Builtins(rctx, cfg, kubehost.BuiltinOptions{Version: "test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := mcppool.New(nil, mcppool.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rt, err := agentruntime.New(agentruntime.Config{NATS: b.Conn(), Pool: pool, NamespacedEndpoints: true, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	done := make(chan error, 1)
	go func() {
		done <- kubehost.Run(rctx, kubehost.Config{RestConfig: cfg, Runtime: rt, Pool: pool, Builtins: builtins, Logger: logger})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the runtime stopped with: %v", err)
		}
	}()
	waitFor(ctx, t, "the runtime to host the Agent", func() bool { return slices.Contains(rt.Agents(), namespace+"/"+ag.Name) })

	c, err := a2anats.Dial(ctx, b.Conn(), namespace+"/"+ag.Name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewDataPart(map[string]any{"namespace": namespace}))})
	if err != nil {
		t.Fatal(err)
	}
	task, ok := res.(*a2a.Task)
	if !ok {
		t.Fatalf("the agent answered %T, want a task", res)
	}
	d, err := ask.DiagnosisOf(task)
	if err != nil {
		t.Fatal(err)
	}
	if text := d.Text(); text == "" || strings.Contains(text, "forbidden") || strings.Contains(text, "could not read") {
		t.Fatalf("the agent's diagnosis of namespace %s: %q", namespace, text)
	}
	forbidden(t, user)
}

// TestAllInOneRoleCoversSplitRoles: in mode all-in-one the controller's one process does what the
// split controller and runtime do (TestControllerWorksWithChartRBAC and
// TestRuntimeWorksWithChartRBAC run those with their roles), so its ClusterRole must grant every
// rule of both.
func TestAllInOneRoleCoversSplitRoles(t *testing.T) {
	split := objects(t, render(t, "--set", "mode=split"))
	all := rules(t, find(t, objects(t, render(t)), "ClusterRole", "opsmesh-controller"))
	grants := func(group, resource, verb string) bool {
		return slices.ContainsFunc(all, func(r rule) bool {
			return slices.Contains(r.APIGroups, group) && (slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) && slices.Contains(r.Verbs, verb)
		})
	}
	n := 0
	for _, name := range []string{"opsmesh-controller", "opsmesh-runtime"} {
		for _, r := range rules(t, find(t, split, "ClusterRole", name)) {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						n++
						if !grants(g, res, v) {
							t.Errorf("the all-in-one controller role lacks %s on %s (group %q), which the split %s role grants", v, res, g, name)
						}
					}
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d grants in the split roles", n)
	}
}
