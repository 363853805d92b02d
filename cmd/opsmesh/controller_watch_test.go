package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/broker"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/controller/manager"
	"github.com/opsmesh/opsmesh/controller/toolserver"
	"github.com/opsmesh/opsmesh/controller/trigger"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// TestControllerRuntimeWatchesEachResourceOnce: `opsmesh controller --runtime` (its wiring,
// controllerProcess.run, in process with leader election and the default triggers) holds one
// informer per resource: once the sample ToolServers and Agents are Ready (reconciled by the
// controller, hosted by the agent runtime) and the builtin servers have run analyze,
// explain_pending and gpu_allocation, the API server has seen exactly one watch of every
// resource, the controller's cache being the agent host's and the builtins' too. With
// --namespace the builtins (which watch every namespace) keep a cache of their own, and what both
// read (Secrets, Deployments, Services...) is watched twice: the count can tell.
//
// Events are watched once too: the Warning-event trigger (controller/trigger/events, on the
// leader) reads them from the shared cache, whose informer analyze reads; with --namespace it
// keeps its own Warning-only watch.
func TestControllerRuntimeWatchesEachResourceOnce(t *testing.T) {
	onceBut := map[string]int{}
	env := apiServer(t)
	for _, tc := range []struct {
		name       string
		ns         string
		namespaced bool // run with --namespace ns
	}{
		{"every namespace", "onewatch-all", false},
		{"--namespace", "onewatch-ns", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var watches testbed.WatchCounter
			runControllerRuntime(t, env, watches.Config(env.Config), tc.ns, tc.namespaced)
			counts := settledCounts(&watches)
			var off []string // watched other than once
			for _, res := range slices.Sorted(maps.Keys(counts)) {
				if want := onceBut[res]; counts[res] != max(want, 1) {
					off = append(off, fmt.Sprintf("%s (%d)", res, counts[res]))
				}
			}
			for _, res := range []string{"agents", "toolservers", "incidents", "secrets", "deployments", "services", "pods", "nodes", "events"} {
				if counts[res] == 0 {
					t.Errorf("no watch of %s: the test no longer exercises what reads them (all watches: %v)", res, counts)
				}
			}
			switch {
			case !tc.namespaced && len(off) > 0:
				t.Errorf("watched more than once: %v (all watches: %v)", off, counts)
			case tc.namespaced && len(off) == 0:
				t.Errorf("with --namespace the builtins keep their own cache, yet every resource was watched once (%v): does the test still count?", counts)
			case tc.namespaced && (counts["agents"] != 1 || counts["toolservers"] != 1):
				t.Errorf("with --namespace the agent host still shares the controller's cache, yet agents and toolservers were watched %d and %d times (all watches: %v)", counts["agents"], counts["toolservers"], counts)
			}
			t.Logf("watches: %v", counts)
		})
	}
}

// runControllerRuntime runs what `opsmesh controller --runtime` runs (with `--namespace ns`
// when namespaced) on the API server at cfg, applies the sample ToolServers and Agents to ns and
// waits until they are Ready, and runs the builtins' analyze, explain_pending and gpu_allocation.
func runControllerRuntime(t *testing.T, env *testbed.Env, cfg *rest.Config, ns string, namespaced bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big-train"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "train", Image: "trainer:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("16")},
				Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("16")}}}}}}
	if err := c.Create(ctx, pending); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	var out lockedBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	trig := trigger.RegisterFlags(pflag.NewFlagSet("controller", pflag.ContinueOnError)) // the flags' defaults
	trig.DefaultNamespace = ns
	p := controllerProcess{withRuntime: true, log: log,
		manager: manager.Options{LeaderElection: true, LeaderElectionNamespace: ns, Identity: "onewatch-" + ns,
			Incident:   incident.Config{CoordinatorNamespace: ns, VerifyTimeout: 30 * time.Second, InvestigateTimeout: time.Minute},
			ToolServer: toolserver.Config{Version: "test"},
			Triggers:   trig,
			Logger:     logr.FromSlogHandler(log.Handler())}}
	if namespaced {
		p.namespaces = []string{ns}
	}
	made := make(chan map[opsv1.BuiltinServer]*server.MCPServer, 1)
	p.builtinsMade = func(b map[opsv1.BuiltinServer]*server.MCPServer) { made <- b }
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, cfg, b) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the controller returned: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("the controller did not stop within a minute of its context ending")
		}
		if t.Failed() {
			t.Logf("controller output:\n%s", out.String())
		}
	})
	var builtins map[opsv1.BuiltinServer]*server.MCPServer
	select {
	case builtins = <-made:
	case err := <-done:
		t.Fatalf("the controller returned before it made the builtin servers: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no builtin servers within a minute")
	}

	applySamples(t, c, ns)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var tss opsv1.ToolServerList
		var ags opsv1.AgentList
		if err := c.List(ctx, &tss, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if err := c.List(ctx, &ags, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var notReady []string
		for _, ts := range tss.Items {
			if !meta.IsStatusConditionTrue(ts.Status.Conditions, opsv1.ConditionReady) || ts.Status.ToolCount == 0 {
				notReady = append(notReady, "toolserver/"+ts.Name)
			}
		}
		for _, a := range ags.Items {
			if !meta.IsStatusConditionTrue(a.Status.Conditions, opsv1.ConditionReady) {
				notReady = append(notReady, "agent/"+a.Name)
			}
		}
		if len(tss.Items) == 3 && len(ags.Items) == 4 && len(notReady) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("samples in %s not Ready within 90s: %v", ns, notReady)
		}
	}

	mcptest.Connect(t, builtins[opsv1.BuiltinCluster]).OK("analyze", map[string]any{})
	mcptest.MustContain(t, mcptest.Connect(t, builtins[opsv1.BuiltinScheduler]).OK("explain_pending", map[string]any{"namespace": ns, "name": "big-train"}), "big-train")
	mcptest.Connect(t, builtins[opsv1.BuiltinGPU]).OK("gpu_allocation", map[string]any{})
}

// settledCounts is the watches counted once no new watch has started for a second (a reflector
// may send its watch just after its cache reports synced).
func settledCounts(w *testbed.WatchCounter) map[string]int {
	last := w.Counts()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		now := w.Counts()
		if maps.Equal(now, last) {
			return now
		}
		last = now
	}
	return last
}
