package agent_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/agent"
)

var fleets atomic.Int32

// BenchmarkApplyFleet applies 100 remote ToolServers (all served by one real MCP server on
// httptest) and 1,000 Agents at once, with the agent runtime hosting them on embedded NATS, and
// measures the time until every object is Ready: ns/op is the whole fleet's time, s-to-ready the
// same in seconds. Run it with -benchtime 1x -count 3.
func BenchmarkApplyFleet(b *testing.B) {
	const servers, agents = 100, 1000
	env := shared.Env(b)
	url := mcpServer(b)
	br := startBroker(b)
	start(b, env.Config, br)
	c, err := client.New(agent.RateLimits(rest.CopyConfig(env.Config)), client.Options{Scheme: env.Scheme})
	must(b, err)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ns := fmt.Sprintf("fleet-%d", fleets.Add(1))
		must(b, c.Create(ctx, &corev1.Namespace{ObjectMeta: apimeta.ObjectMeta{Name: ns}}))
		host(b, env, br, ns)
		var objs []client.Object
		for i := range servers {
			objs = append(objs, remote(ns, fmt.Sprintf("tools-%d", i), url))
		}
		for i := range agents {
			objs = append(objs, specialist(ns, fmt.Sprintf("agent-%d", i), opsv1.AgentTools{ToolServer: fmt.Sprintf("tools-%d", i%servers), AllowedTools: []string{"look"}}))
		}
		b.StartTimer()
		began := time.Now()
		apply(b, c, objs)
		for {
			n := ready(b, c, ns)
			if n == servers+agents {
				break
			}
			if time.Since(began) > 5*time.Minute {
				b.Fatalf("after 5m only %d of %d objects are Ready", n, servers+agents)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(time.Since(began).Seconds(), "s-to-ready")
		must(b, c.DeleteAllOf(ctx, &opsv1.Agent{}, client.InNamespace(ns)))
		must(b, c.DeleteAllOf(ctx, &opsv1.ToolServer{}, client.InNamespace(ns)))
	}
}

// apply creates objs from 16 goroutines, as kubectl apply of a large directory would.
func apply(b *testing.B, c client.Client, objs []client.Object) {
	var wg sync.WaitGroup
	work := make(chan client.Object)
	errs := make(chan error, len(objs))
	for range 16 {
		wg.Go(func() {
			for o := range work {
				if err := c.Create(context.Background(), o); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// ready counts the Agents and ToolServers of ns whose Ready condition is True.
func ready(b *testing.B, c client.Client, ns string) int {
	var as opsv1.AgentList
	var ts opsv1.ToolServerList
	must(b, c.List(context.Background(), &as, client.InNamespace(ns)))
	must(b, c.List(context.Background(), &ts, client.InNamespace(ns)))
	n := 0
	for _, a := range as.Items {
		if isReady(a.Status.Conditions) {
			n++
		}
	}
	for _, t := range ts.Items {
		if isReady(t.Status.Conditions) {
			n++
		}
	}
	return n
}

func isReady(conds []apimeta.Condition) bool {
	for _, c := range conds {
		if c.Type == opsv1.ConditionReady {
			return c.Status == apimeta.ConditionTrue
		}
	}
	return false
}
