//go:build cgo

package runbook_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/internal/fixture"
)

// BenchmarkDiagnose is the runbook engine's diagnosis latency of a single-cause incident per
// category, on envtest with the real cluster server and GPU view (a simulated node agent over
// HTTP) in this process (target: p50 under 1 s).
func BenchmarkDiagnose(b *testing.B) {
	e := engine(b)
	c := fixture.Cluster{T: b, C: shared.Env(b).Client}
	c.Namespace(fixture.AgentNamespace)
	c.GPUNode("bench-gpu-1", fixture.XID79)
	ns := c.Namespace("bench-rb")
	rs := c.Deployment(ns, "crash", 2, nil)
	c.Pod(rs, ns, "crash-h2-0", "", fixture.Waiting("CrashLoopBackOff", "back-off", fixture.Terminated("Error", 1)))
	rs = c.Deployment(ns, "oom", 1, func(p *corev1.PodSpec) {
		p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	})
	c.Pod(rs, ns, "oom-h1-0", "", fixture.Waiting("CrashLoopBackOff", "back-off", fixture.Terminated("OOMKilled", 137)))
	rs = c.Deployment(ns, "trainer", 1, nil)
	c.Pod(rs, ns, "trainer-h1-0", "bench-gpu-1", fixture.Waiting("CrashLoopBackOff", "back-off", fixture.Terminated("Error", 1)))
	for _, bc := range []struct{ name, subject, want string }{
		{"CrashLoopBackOff", "deployment/bench-rb/crash", "CrashLoopBackOff"},
		{"OOMKilled", "deployment/bench-rb/oom", "OOMKilled"},
		{"GPUXid79", "deployment/bench-rb/trainer", "GPUXid79"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := runbook.Question{Subject: bc.subject}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				d, err := e.Diagnose(context.Background(), q)
				if err != nil {
					b.Fatal(err)
				}
				if d.RootCause.Category == bc.want {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s: %s", bc.subject, d.Text())
				}
			}
			for b.Loop() {
				if _, err := e.Diagnose(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
