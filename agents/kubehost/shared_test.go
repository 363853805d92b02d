package kubehost_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// separateBuiltins assembles the builtin servers as Builtins did before they shared one
// kubeaccess.Shared: each server with its own client, checks and watch cache.
func separateBuiltins(ctx context.Context, cfg *rest.Config) (map[opsv1.BuiltinServer]*server.MCPServer, error) {
	cs, err := cluster.New(ctx, cfg, cluster.Config{Version: "test"})
	if err != nil {
		return nil, err
	}
	view, err := gpuview.New(ctx, cfg, gpuview.Config{})
	if err != nil {
		return nil, err
	}
	gs := mcptool.NewServer("opsmesh-gpu", "test", "")
	mcptool.Register(gs, mcptool.Options{Server: "gpu"}, view.Tools()...)
	ss, err := scheduler.New(ctx, cfg, scheduler.Config{Version: "test"})
	if err != nil {
		return nil, err
	}
	return map[opsv1.BuiltinServer]*server.MCPServer{opsv1.BuiltinCluster: cs.MCP, opsv1.BuiltinGPU: gs, opsv1.BuiltinScheduler: ss.MCP}, nil
}

// gpuNode is a node with 8 GPUs, 64 CPUs and 512Gi of memory.
func gpuNode(name string) *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("512Gi"),
		corev1.ResourcePods: resource.MustParse("2000"), "nvidia.com/gpu": resource.MustParse("8"),
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}}}
}

// pendingPod asks for more GPUs than any node has.
func pendingPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "train", Image: "trainer:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("16")},
				Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("16")}}}}}}
}

// runTools runs what an incident's investigation runs through the builtin servers: cluster
// analyze, scheduler explain_pending of a pending pod, and the GPU view's allocation.
func runTools(t testing.TB, builtins map[opsv1.BuiltinServer]*server.MCPServer, ns, pending string) {
	t.Helper()
	mcptest.Connect(t, builtins[opsv1.BuiltinCluster]).OK("analyze", map[string]any{})
	explain := mcptest.Connect(t, builtins[opsv1.BuiltinScheduler]).OK("explain_pending", map[string]any{"namespace": ns, "name": pending})
	mcptest.MustContain(t, explain, pending)
	mcptest.Connect(t, builtins[opsv1.BuiltinGPU]).OK("gpu_allocation", map[string]any{})
}

// TestBuiltinsWatchEachResourceOnce: the builtin cluster, scheduler and GPU-view servers of one
// process share one watch cache, so that after each has read pods and nodes the API server has
// seen one watch of pods and one of nodes, not one per server. The same tools through servers
// assembled each with its own cache (as before) watch pods three times and nodes twice: the
// count can tell.
func TestBuiltinsWatchEachResourceOnce(t *testing.T) {
	env := shared.Env(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := env.Client
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "onewatch"}},
		gpuNode("onewatch-gpu-1"),
		pendingPod("onewatch", "big-train"),
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		assemble func(context.Context, *rest.Config) (map[opsv1.BuiltinServer]*server.MCPServer, error)
		pods     int // watches of pods
		nodes    int // and of nodes
	}{
		{"Builtins", func(ctx context.Context, cfg *rest.Config) (map[opsv1.BuiltinServer]*server.MCPServer, error) {
			return kubehost.Builtins(ctx, cfg, kubehost.BuiltinOptions{Version: "test"})
		}, 1, 1},
		// All three read pods; the scheduler and the GPU view read nodes from their caches.
		{"a cache per server", separateBuiltins, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var watches testbed.WatchCounter
			builtins, err := tc.assemble(ctx, watches.Config(env.Config))
			if err != nil {
				t.Fatal(err)
			}
			runTools(t, builtins, "onewatch", "big-train")
			runTools(t, builtins, "onewatch", "big-train") // again: no new informers
			// A reflector may send its watch just after its cache reports synced: give it a moment.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if watches.Count("pods") >= tc.pods && watches.Count("nodes") >= tc.nodes {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
			if p, n := watches.Count("pods"), watches.Count("nodes"); p != tc.pods || n != tc.nodes {
				t.Errorf("the API server saw %d watches of pods and %d of nodes, want %d and %d (all watches: %s)", p, n, tc.pods, tc.nodes, &watches)
			}
		})
	}
}

// BenchmarkBuiltinsRSS measures the resident memory of the builtin servers of
// `opsmesh controller --runtime` on a cluster of 5,000 pods on 4 nodes, after analyze (the
// whole cluster), explain_pending and gpu_allocation have run: "shared" is Builtins (one watch
// cache), "separate" each server with its own cache, as before. Run each alone, since memory a
// run freed may stay resident:
//
//	go test -run '^$' -bench 'BuiltinsRSS/shared' -benchtime 1x ./agents/kubehost
//	go test -run '^$' -bench 'BuiltinsRSS/separate' -benchtime 1x ./agents/kubehost
func BenchmarkBuiltinsRSS(b *testing.B) {
	env := shared.Env(b)
	ns, pending := "rss", "big-train"
	fill5000Pods(b, env, ns, pending)
	for _, bc := range []struct {
		name     string
		assemble func(context.Context, *rest.Config) (map[opsv1.BuiltinServer]*server.MCPServer, error)
	}{
		{"shared", func(ctx context.Context, cfg *rest.Config) (map[opsv1.BuiltinServer]*server.MCPServer, error) {
			return kubehost.Builtins(ctx, cfg, kubehost.BuiltinOptions{Version: "bench"})
		}},
		{"separate", separateBuiltins},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			builtins, err := bc.assemble(ctx, env.Config)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				runTools(b, builtins, ns, pending)
			}
			b.StopTimer()
			runtime.GC()
			debug.FreeOSMemory()
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			metrics.Read(sample)
			b.ReportMetric(float64(sample[0].Value.Uint64())/(1<<20), "heap-MiB")
			b.ReportMetric(float64(vmRSS(b))/(1<<20), "rss-MiB")
			runtime.KeepAlive(builtins)
		})
	}
}

// fill5000Pods makes namespace ns with 5,000 running pods on 4 GPU nodes (created concurrently)
// and one pod, pending, that no node fits; once per test binary.
var fillOnce sync.Once

func fill5000Pods(b *testing.B, env *testbed.Env, ns, pending string) {
	fillOnce.Do(func() {
		ctx := context.Background()
		cfg := rest.CopyConfig(env.Config)
		cfg.QPS, cfg.Burst = 2000, 4000
		c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		for i := range 4 {
			if err := c.Create(ctx, gpuNode(fmt.Sprintf("rss-gpu-%d", i))); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Create(ctx, pendingPod(ns, pending)); err != nil {
			b.Fatal(err)
		}
		const pods, workers = 5000, 16
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < pods; i += workers {
					p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("worker-%04d", i),
						Labels: map[string]string{"app": "worker", "shard": strconv.Itoa(i % 50)}},
						Spec: corev1.PodSpec{NodeName: fmt.Sprintf("rss-gpu-%d", i%4), Containers: []corev1.Container{{
							Name: "worker", Image: "registry.example.com/worker:1.2.3",
							Env: []corev1.EnvVar{{Name: "SHARD", Value: strconv.Itoa(i % 50)}},
							Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
								corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
						}}}}
					if err := c.Create(ctx, p); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	})
}

// vmRSS is this process's resident set size in bytes (VmRSS in /proc/self/status).
func vmRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status to read resident memory from: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
