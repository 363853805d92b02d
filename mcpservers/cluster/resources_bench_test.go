package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// createPods creates n pods in ns, 16 at a time.
func createPods(b *testing.B, ns string, n int) {
	b.Helper()
	c := apiServer(b).Client
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p := pod(ns, fmt.Sprintf("worker-%04d", i), map[string]string{"app": "worker", "shard": fmt.Sprint(i % 10)})
				if err := c.Create(context.Background(), p); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkResourcesList5000Pods compares resources_list of 5,000 pods through the MCP server
// (warm watch cache) with a plain uncached client-go List of the same pods, and reports the
// bytes each answer takes.
func BenchmarkResourcesList5000Pods(b *testing.B) {
	const ns, n = "bench-list", 5000
	setupOnce(ns, func() { createPods(b, ns, n) })
	env := apiServer(b)

	b.Run("mcp_resources_list_cached", func(b *testing.B) {
		s := connect(b, cluster.Config{})
		// Warm the cache and check the answer is the 5,000 pods.
		out := s.OK("resources_list", map[string]any{"kind": "pods", "namespace": ns})
		if want := fmt.Sprintf("of %d pods", n); !strings.Contains(out, want) {
			b.Fatalf("resources_list did not see all pods yet: %s", out[len(out)-80:])
		}
		var bytes int
		for b.Loop() {
			bytes = len(s.OK("resources_list", map[string]any{"kind": "pods", "namespace": ns}))
		}
		b.ReportMetric(float64(bytes), "result-bytes")
	})

	b.Run("client-go_list_uncached", func(b *testing.B) {
		cs, err := kubernetes.NewForConfig(env.Config)
		if err != nil {
			b.Fatal(err)
		}
		var list *corev1.PodList
		for b.Loop() {
			list, err = cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
		}
		if len(list.Items) != n {
			b.Fatalf("listed %d pods, want %d", len(list.Items), n)
		}
		y, err := yaml.Marshal(list)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(y)), "yaml-bytes")
	})
}
