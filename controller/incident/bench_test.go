//go:build cgo

package incident_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// BenchmarkIncidentToDiagnosed measures the time from an Incident's creation to its phase
// Diagnosed, with the runbook engine, the coordinator and its specialists over A2A on the
// embedded NATS, and the builtin servers in process, on envtest. Reported: p50 and p95 in ms.
func BenchmarkIncidentToDiagnosed(b *testing.B) {
	bb := newBed(b)
	ns := bb.c.Namespace(fmt.Sprintf("bench-diag-%d", b.N))
	bb.release(ns, "api")
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("api-crashloop-%d", i)
		start := time.Now()
		bb.raise(ns, name, nil, &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "api"}, "api pods are crashlooping")
		for {
			inc := bb.get(ns, name)
			if p := inc.Status.Phase; p != "" && p != opsv1.PhaseDetected && p != opsv1.PhaseInvestigating {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
}
