package runner

// Undoing a scenario: its workloads, pods and namespace, its Incidents and coordinator, the
// nodes' cordons and the GPU faults.

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// cleanupWait bounds a scenario's cleanup, its waits for the namespace and the objects outside
// it to be gone included.
const cleanupWait = 2 * time.Minute

// cleanup undoes the scenario: its namespace, cluster-scoped objects, Incidents, coordinator,
// cordons and GPU faults; and waits until the namespace (unless kept) and every object it
// created outside it are gone, so that the next scenario starts without them. The error (also
// logged) says what could not be undone or is still there.
func (a *attempt) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupWait)
	defer cancel()
	c := a.r.c
	var problems []string
	for _, node := range a.faulted {
		if err := a.r.cfg.Faults.ClearGPUFaults(ctx, node); err != nil {
			problems = append(problems, fmt.Sprintf("clearing the GPU faults of node %s: %v", node, err))
		}
	}
	var l opsv1.IncidentList
	if a.r.cfg.Keep {
		a.r.log.printf("%s: kept namespace %s, Agent %s/%s and the Incident (--keep)", a.s.Name, a.ns, a.r.cfg.AgentNamespace, a.coordinator)
	} else if err := c.List(ctx, &l, client.InNamespace(a.r.cfg.AgentNamespace)); err == nil {
		for i := range l.Items {
			inc := &l.Items[i]
			if inc.Status.Coordinator == a.r.cfg.AgentNamespace+"/"+a.coordinator || inc.Labels[RunLabel] == a.r.cfg.Run && inc.Labels[ScenarioLabel] == a.s.Name {
				if err := c.Delete(ctx, inc); client.IgnoreNotFound(err) != nil {
					problems = append(problems, fmt.Sprintf("deleting Incident %s/%s: %v", inc.Namespace, inc.Name, err))
				}
			}
		}
	}
	for name, was := range a.cordons {
		var n corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil || n.Spec.Unschedulable == was {
			continue
		}
		orig := n.DeepCopy()
		n.Spec.Unschedulable = was
		if err := c.Patch(ctx, &n, client.MergeFrom(orig)); err != nil {
			problems = append(problems, fmt.Sprintf("restoring spec.unschedulable=%v of node %s: %v", was, name, err))
		}
	}
	for i := len(a.created) - 1; i >= 0; i-- {
		if err := c.Delete(ctx, a.created[i]); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting %s: %v", describe(a.created[i]), err))
		}
	}
	if a.r.cfg.Keep {
		// The namespace and coordinator stay too.
	} else if a.coordinator != "" {
		ag := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: a.r.cfg.AgentNamespace, Name: a.coordinator}}
		if err := c.Delete(ctx, ag); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting Agent %s/%s: %v", ag.Namespace, ag.Name, err))
		}
	}
	if !a.r.cfg.Keep {
		problems = append(problems, a.deletePods(ctx)...)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.ns}}
		if err := c.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting namespace %s: %v", a.ns, err))
		}
	}
	// With --keep, what the kept namespace still uses (a PersistentVolume its claim binds) stays
	// until the namespace goes: nothing to wait for.
	if left := a.waitGone(ctx); len(left) > 0 && !a.r.cfg.Keep {
		problems = append(problems, fmt.Sprintf("still there after waiting %s: %s; delete them by hand (kubectl delete) before the next run, or look at what holds them (finalizers, the namespace's status)", cleanupWait, strings.Join(left, ", ")))
	}
	if len(problems) == 0 {
		return nil
	}
	a.r.log.printf("%s: cleanup: %s", a.s.Name, strings.Join(problems, "; "))
	return fmt.Errorf("cleanup: %s", strings.Join(problems, "; "))
}

// waitGone waits until the scenario's namespace (unless kept) and the objects it created outside
// it are gone, or ctx ends, and returns those still there.
func (a *attempt) waitGone(ctx context.Context) []string {
	for {
		left := a.remaining(ctx)
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			// One last look, with a context of its own (ctx's end would read as an error).
			last, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return a.remaining(last)
		case <-time.After(a.r.cfg.Poll):
		}
	}
}

// remaining lists the scenario's objects still there: the namespace (with its phase) unless
// kept, and each object created outside it.
func (a *attempt) remaining(ctx context.Context) []string {
	c := a.r.c
	var left []string
	if !a.r.cfg.Keep {
		var ns corev1.Namespace
		if err := c.Get(ctx, client.ObjectKey{Name: a.ns}, &ns); err == nil {
			left = append(left, fmt.Sprintf("Namespace %s (%s)", a.ns, ns.Status.Phase))
		} else if !apierrors.IsNotFound(err) {
			left = append(left, fmt.Sprintf("Namespace %s (cannot read it: %v)", a.ns, err))
		}
	}
	for _, o := range a.created {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(o.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), u); err == nil {
			what := describe(o)
			if fin := u.GetFinalizers(); len(fin) > 0 {
				what += " (finalizers " + strings.Join(fin, ", ") + ")"
			}
			left = append(left, what)
		} else if !apierrors.IsNotFound(err) {
			left = append(left, fmt.Sprintf("%s (cannot read it: %v)", describe(o), err))
		}
	}
	return left
}

// deletePods deletes the namespace's workloads and pods and waits for the pods to be gone:
// they hold GPUs and node room, and the namespace controller takes its time (seconds) to get to
// them, so the next scenario would start beside them.
func (a *attempt) deletePods(ctx context.Context) []string {
	c := a.r.c
	var problems []string
	bg := client.PropagationPolicy(metav1.DeletePropagationBackground)
	for _, o := range []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}, &appsv1.ReplicaSet{}, &batchv1.Job{}} {
		if err := c.DeleteAllOf(ctx, o, client.InNamespace(a.ns), bg); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting the workloads of namespace %s: %v", a.ns, err))
		}
	}
	if err := c.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(a.ns), client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
		problems = append(problems, fmt.Sprintf("deleting the pods of namespace %s: %v", a.ns, err))
	}
	for {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(a.ns)); err != nil || len(pods.Items) == 0 {
			return problems
		}
		if ctx.Err() != nil {
			return append(problems, fmt.Sprintf("%d pods of namespace %s still there after a minute", len(pods.Items), a.ns))
		}
		time.Sleep(a.r.cfg.Poll)
	}
}
