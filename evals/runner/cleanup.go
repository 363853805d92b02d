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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// cleanup undoes the scenario: its namespace, cluster-scoped objects, Incidents, coordinator,
// cordons and GPU faults.
func (a *attempt) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
	if len(problems) > 0 {
		a.r.log.printf("%s: cleanup: %s", a.s.Name, strings.Join(problems, "; "))
	}
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
