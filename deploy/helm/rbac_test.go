package helm_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/broker"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/manager"
	"github.com/opsmesh/opsmesh/controller/toolserver"
	"github.com/opsmesh/opsmesh/controller/trigger"
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

// TestControllerWorksWithChartRBAC runs the controller (controller/manager, as `opsmesh
// controller` in mode split, the smaller role) as the chart's controller ServiceAccount, with
// only the chart's ClusterRole and leader-election Role: it takes the Lease, makes a ToolServer's
// workload, Service, token Secret, ServiceAccount and ClusterRole, raises an Incident from a
// Warning event, records an Incident as Detected, and the API server refuses it nothing.
func TestControllerWorksWithChartRBAC(t *testing.T) {
	env := shared.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The chart's RBAC, created for real.
	for _, o := range objects(t, render(t, "--set", "mode=split,gpuNodeAgent.enabled=false,metrics.enabled=false")) {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if !strings.Contains(o.GetName(), "controller") && !strings.Contains(o.GetName(), "leader-election") {
				continue
			}
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
			}
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
		}
	}
	var role rbacv1.ClusterRole
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "opsmesh-controller"}, &role); err != nil {
		t.Fatalf("the chart's controller ClusterRole: %v", err)
	}
	cfg, err := env.UserConfig("system:serviceaccount:opsmesh:opsmesh-controller", "system:serviceaccounts", "system:serviceaccounts:opsmesh", "system:authenticated")
	if err != nil {
		t.Fatal(err)
	}

	// Every log line, client-go's reflectors' (klog) included, so a forbidden list or watch shows.
	var logs syncBuffer
	log := logr.FromSlogHandler(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Set for the rest of the test binary: goroutines of a stopped manager (its event broadcaster)
	// may still read them.
	klog.SetLogger(log)
	ctrllog.SetLogger(log)

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
	}, &logs)
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
	}, &logs)
	// With no coordinator Agent the orchestrator records Detected and says so in the Ready condition
	// (after looking for one among the Agents).
	waitFor(ctx, t, "the hand-raised Incident to be Detected, waiting for a coordinator", func() bool {
		var got opsv1.Incident
		if env.Client.Get(ctx, client.ObjectKeyFromObject(inc), &got) != nil || got.Status.Phase != opsv1.PhaseDetected {
			return false
		}
		c := meta.FindStatusCondition(got.Status.Conditions, "Ready")
		return c != nil && c.Reason == "NoCoordinator"
	}, &logs)
	if l := logs.String(); strings.Contains(l, "forbidden") {
		var bad []string
		for _, line := range strings.Split(l, "\n") {
			if strings.Contains(line, "forbidden") {
				bad = append(bad, line)
			}
		}
		t.Fatalf("the API server refused the chart's controller role:\n%s", strings.Join(bad, "\n"))
	}
}

func exists(ctx context.Context, c client.Client, ns, name string, o client.Object) bool {
	return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o) == nil
}

func waitFor(ctx context.Context, t *testing.T, what string, ok func() bool, logs *syncBuffer) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; the controller logged:\n%s", what, tail(logs.String(), 40))
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
