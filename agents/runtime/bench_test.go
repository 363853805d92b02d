//go:build cgo

package runtime_test

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// rssBytes reads this process's resident set size from /proc/self/status.
func rssBytes(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkIdleAgents hosts 1,000 idle agents in one runtime on the embedded NATS server (in this
// process too) and reports the process's RSS and goroutines once they are all served (target:
// under 200 MB RSS). Each iteration hosts the thousand and removes them.
func BenchmarkIdleAgents(b *testing.B) {
	const n = 1000
	br := embedded(b)
	pool, err := mcppool.New([]mcppool.Endpoint{{Name: "tools", InProcess: mcptool.NewServer("t", "0", "")}}, mcppool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rt, err := runtime.New(runtime.Config{NATS: br.Conn(), Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	ctx := context.Background()
	baseG := goruntime.NumGoroutine()
	var rss, goroutines float64
	for b.Loop() {
		start := time.Now()
		for i := range n {
			a := agent("bench", fmt.Sprintf("agent-%04d", i), opsv1.RoleSpecialist, []string{"kubernetes"}, nil,
				opsv1.AgentTools{ToolServer: "tools", AllowedTools: []string{"analyze"}})
			if err := rt.Host(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-to-host-1000")
		goruntime.GC()
		time.Sleep(500 * time.Millisecond) // let cards publish and the runtime settle
		rss, goroutines = rssBytes(b), float64(goruntime.NumGoroutine()-baseG)
		for i := range n {
			rt.Remove("bench", fmt.Sprintf("agent-%04d", i))
		}
	}
	b.ReportMetric(rss/(1<<20), "MB-RSS")
	b.ReportMetric(goroutines, "goroutines")
	b.ReportMetric(goroutines/n, "goroutines/agent")
}
