package cluster_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// A template change to a StatefulSet that updates pod by pod (OrderedReady) cannot reach a pod
// that is not Ready: once the controller has taken the change, the write deletes such pods of
// an older revision (the Kubernetes docs' forced rollback) and says so; a Ready pod, a pod
// already of the new revision, and the pods of a Parallel StatefulSet are left alone.
func TestTemplateChangeReplacesStuckStatefulSetPods(t *testing.T) {
	ns := namespace(t, "wr-sts-stuck")
	c := apiServer(t).Client
	ctx := context.Background()
	labels := map[string]string{"app": "vecdb"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vecdb"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "registry.example/vecdb:1")},
	}
	create(t, sts)
	pod := func(name, rev string, isReady bool) *corev1.Pod {
		l := map[string]string{"app": "vecdb", appsv1.ControllerRevisionHashLabelKey: rev}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}},
			Spec: sts.Spec.Template.Spec}
		status := corev1.ConditionFalse
		if isReady {
			status = corev1.ConditionTrue
		}
		createWithStatus(t, p, func() { p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}} })
		return p
	}
	broken := pod("vecdb-2", "vecdb-1", false)
	healthy := pod("vecdb-1", "vecdb-1", true)
	fresh := pod("vecdb-0", "vecdb-2", false)
	// The StatefulSet controller (envtest runs none): it takes each new generation as revision
	// vecdb-2.
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var cur appsv1.StatefulSet
			if err := c.Get(ctx, client.ObjectKeyFromObject(sts), &cur); err != nil || cur.Generation < 2 || cur.Status.ObservedGeneration == cur.Generation {
				continue
			}
			cur.Status.ObservedGeneration, cur.Status.UpdateRevision, cur.Status.CurrentRevision = cur.Generation, "vecdb-2", "vecdb-1"
			_ = c.Status().Update(ctx, &cur)
		}
	}()
	s := connect(t, cluster.Config{})

	// A dry run deletes nothing.
	s.OK("workload_set_resources", map[string]any{"kind": "statefulset", "namespace": ns, "name": "vecdb", "container": "app", "limits": map[string]string{"memory": "512Mi"}, "dryRun": true})
	if err := c.Get(ctx, client.ObjectKeyFromObject(broken), &corev1.Pod{}); err != nil {
		t.Fatalf("after a dry run: %v", err)
	}
	out := s.OK("workload_set_resources", map[string]any{"kind": "statefulset", "namespace": ns, "name": "vecdb", "container": "app", "limits": map[string]string{"memory": "512Mi"}})
	mustContain(t, out, "limits memory <none> → 512Mi", "deleted pod vecdb-2 (not Ready, revision vecdb-1)", "recreates it at revision vecdb-2")
	if err := c.Get(ctx, client.ObjectKeyFromObject(broken), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod vecdb-2 (not Ready, old revision): %v, want it deleted", err)
	}
	for _, p := range []*corev1.Pod{healthy, fresh} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), &corev1.Pod{}); err != nil {
			t.Errorf("pod %s: %v, want it left alone", p.Name, err)
		}
	}

	// Parallel: the controller replaces broken pods itself; nothing is deleted.
	par := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "par"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "par"}}, Template: podTemplate(map[string]string{"app": "par"}, "registry.example/par:1")},
	}
	create(t, par)
	pp := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "par-0", Labels: map[string]string{"app": "par", appsv1.ControllerRevisionHashLabelKey: "par-1"},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(par, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}}, Spec: par.Spec.Template.Spec}
	create(t, pp)
	out = s.OK("workload_set_image", map[string]any{"kind": "statefulset", "namespace": ns, "name": "par", "container": "app", "image": "registry.example/par:2"})
	mustNotContain(t, out, "deleted pod")
	if err := c.Get(ctx, client.ObjectKeyFromObject(pp), &corev1.Pod{}); err != nil {
		t.Errorf("pod par-0 of a Parallel StatefulSet: %v, want it left alone", err)
	}
}
