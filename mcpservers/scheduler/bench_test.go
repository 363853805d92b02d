package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

var benchOnce sync.Once

// BenchmarkExplainPending1000Nodes20000Pods measures one explain_pending call, through a real MCP
// client over streamable HTTP, on a cluster of 1,000 nodes (250 tainted 8-GPU nodes, 750 CPU
// nodes in 10 zones) and 20,000 pods bound to them (each GPU node runs one 1-GPU pod), for a
// pending 8-GPU pod that fits no node: every node evaluated, the fixes ranked. The watch cache
// is warm before timing starts.
//
//	go test -run '^$' -bench BenchmarkExplainPending -benchtime 50x -count 6 ./mcpservers/scheduler/
func BenchmarkExplainPending1000Nodes20000Pods(b *testing.B) {
	env := bench.Env(b)
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit while filling the cluster
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	benchOnce.Do(func() {
		start := time.Now()
		ensureNamespace(b, c, "bench")
		parallel(b, 1000, func(i int) error {
			s := nodeSpec{name: fmt.Sprintf("cpu-%04d", i), cpu: "64", labels: map[string]string{"zone": fmt.Sprintf("z%d", i%10)}}
			if i < 250 {
				s = nodeSpec{name: fmt.Sprintf("gpu-%04d", i), cpu: "64", gpus: 8, taints: []corev1.Taint{gpuTaint},
					labels: map[string]string{"zone": fmt.Sprintf("z%d", i%10), "gpu": "h100"}}
			}
			return createNode(c, s)
		})
		parallel(b, 20000, func(i int) error {
			n := i % 1000
			p := podSpec{ns: "bench", name: fmt.Sprintf("p-%05d", i), cpu: "500m", labels: map[string]string{"app": fmt.Sprintf("app-%d", i%50)},
				node: fmt.Sprintf("cpu-%04d", n)}
			if n < 250 {
				p.node, p.tolerate = fmt.Sprintf("gpu-%04d", n), true
				if i < 1000 {
					p.gpus = 1
				}
			}
			return c.Create(context.Background(), makePod(p))
		})
		if err := c.Create(context.Background(), makePod(podSpec{ns: "bench", name: "train", gpus: 8, cpu: "4", tolerate: true})); err != nil {
			b.Fatal(err)
		}
		b.Logf("created 1,000 nodes and 20,001 pods in %s", time.Since(start).Round(time.Second))
	})
	s := connect(b, env, scheduler.Config{})
	args := map[string]any{"namespace": "bench", "name": "train"}
	out := s.OK("explain_pending", args) // starts and fills the watch cache
	if !strings.Contains(out, "nodes: 1000 evaluated, 0 fit") || !strings.Contains(out, "1. reduce nvidia.com/gpu from 8 to 7") {
		b.Fatalf("unexpected answer on the benchmark cluster:\n%s", out)
	}
	var size int
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		size = len(s.OK("explain_pending", args))
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size), "result-bytes")
}

// parallel runs fn(0..n-1) on 16 workers and fails b with the first error.
func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	var first atomic.Value
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		b.Fatal(err)
	}
}
