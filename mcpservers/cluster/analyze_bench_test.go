package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// BenchmarkAnalyze5000Pods measures one analyze call, through a real MCP client over streamable
// HTTP, over a namespace of 5,000 pods (20 Deployments of 240 pods and 200 bare pods; about one in
// five failing in some way) with their events, once the informer cache is warm.
//
//	go test -run '^$' -bench BenchmarkAnalyze5000Pods -benchtime 20x ./mcpservers/cluster/
func BenchmarkAnalyze5000Pods(b *testing.B) {
	const ns = "an-bench"
	env := apiServer(b)
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit while filling the namespace
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	setupOnce(ns, func() {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var owners []*appsv1.ReplicaSet
		for d := range 20 {
			_, rs := deploymentWithRevisions(b, ns, fmt.Sprintf("svc-%02d", d), 1+d%2, nil)
			owners = append(owners, rs)
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rs.Spec.Template.Labels["app"]},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": rs.Spec.Template.Labels["app"]}, Ports: []corev1.ServicePort{{Port: 80}}}}
			if err := c.Create(ctx, svc); err != nil {
				b.Fatal(err)
			}
		}
		var made atomic.Int64
		work := make(chan int)
		errs := make(chan error, 16)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					if err := benchPod(ctx, c, ns, owners, i); err != nil {
						select {
						case errs <- err:
						default:
						}
						continue
					}
					made.Add(1)
				}
			}()
		}
		for i := range 5000 {
			work <- i
		}
		close(work)
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		b.Logf("created %d pods in %s", made.Load(), time.Since(start).Round(time.Millisecond))
	})

	sess := connect(b, cluster.Config{})
	call := func(args map[string]any) string { return sess.OK("analyze", args) }
	args := map[string]any{"namespace": ns}
	deadline := time.Now().Add(time.Minute)
	for { // warm the cache: wait until it holds every pod
		if text := call(args); strings.Contains(text, "checked 5000 pods") {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the cache did not see 5000 pods within a minute:\n%s", call(args))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var size int
	for b.Loop() {
		size = len(call(args))
	}
	b.ReportMetric(float64(size), "result-bytes")
}

// benchPod creates pod i of the benchmark namespace with a status: most run and are ready; the
// rest crash, fail to pull, are OOM-killed, are unschedulable or fail their readiness probe.
func benchPod(ctx context.Context, c client.Client, ns string, owners []*appsv1.ReplicaSet, i int) error {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns}}
	if i < 4800 {
		rs := owners[i%len(owners)]
		p.Name = fmt.Sprintf("%s-%04d", rs.Name, i)
		p.Labels = rs.Spec.Template.Labels
		p.OwnerReferences = []metav1.OwnerReference{controllerRef("apps/v1", "ReplicaSet", rs)}
		p.Spec = *rs.Spec.Template.Spec.DeepCopy()
	} else {
		p.Name = fmt.Sprintf("solo-%04d", i)
		p.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/solo:1"}}}
	}
	if err := c.Create(ctx, p); err != nil {
		return fmt.Errorf("creating pod %s: %w", p.Name, err)
	}
	now := metav1.Now()
	var event *corev1.Event
	switch {
	case i%50 == 7 || i >= 4800:
		p.Status = waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", terminated("Error", 2))
	case i%50 == 13:
		p.Status = waiting("ImagePullBackOff", `Back-off pulling image "registry.example/app:1"`, nil)
	case i%50 == 21:
		p.Status = waiting("CrashLoopBackOff", "back-off", terminated("OOMKilled", 137))
	case i%50 == 33:
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 Insufficient cpu.", LastTransitionTime: now}}}
		event = &corev1.Event{Reason: "FailedScheduling", Message: "0/3 nodes are available: 3 Insufficient cpu."}
	case i%50 == 41:
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/app:1",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
		event = &corev1.Event{Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 503"}
	default:
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "registry.example/app:1", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
	}
	if err := c.Status().Update(ctx, p); err != nil {
		return fmt.Errorf("setting the status of pod %s: %w", p.Name, err)
	}
	if event != nil {
		event.ObjectMeta = metav1.ObjectMeta{Namespace: ns, GenerateName: p.Name + "."}
		event.InvolvedObject = corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID}
		event.Type, event.Count, event.FirstTimestamp, event.LastTimestamp = corev1.EventTypeWarning, 4, now, now
		if err := c.Create(ctx, event); err != nil {
			return fmt.Errorf("creating an event for pod %s: %w", p.Name, err)
		}
	}
	return nil
}
