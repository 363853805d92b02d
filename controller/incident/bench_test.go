//go:build cgo

package incident_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// benchRuns numbers the benchmark's runs (each needs a namespace of its own).
var benchRuns int

// BenchmarkEventToDiagnosed measures the time from a pod's BackOff warning event to its
// Deployment's Incident being Diagnosed: the event trigger raises the Incident, the orchestrator
// asks the coordinator, which asks its specialists over A2A on the embedded NATS (runbook
// engine, builtin servers in process, envtest). Reported: p50 and p95 in ms.
func BenchmarkEventToDiagnosed(b *testing.B) {
	bb := newBed(b)
	benchRuns++
	ns := bb.c.Namespace(fmt.Sprintf("bench-event-%d", benchRuns))
	ctx := context.Background()
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name := fmt.Sprintf("api%d", i)
		bb.release(ns, name)
		b.StartTimer()
		start := time.Now()
		now := metav1.Now()
		bb.c.Create(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + ".backoff"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name + "-h2-0", APIVersion: "v1"},
			Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app",
			FirstTimestamp: now, LastTimestamp: now, Count: 1})
		for diagnosed := false; !diagnosed; time.Sleep(5 * time.Millisecond) {
			var list opsv1.IncidentList
			if err := bb.env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
				b.Fatal(err)
			}
			for _, inc := range list.Items {
				if t := inc.Spec.Target; t != nil && t.Name == name {
					p := inc.Status.Phase
					diagnosed = p != "" && p != opsv1.PhaseDetected && p != opsv1.PhaseInvestigating
				}
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("the BackOff event of %s raised no diagnosed Incident within a minute", name)
			}
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
}
