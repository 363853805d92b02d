package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// stsObserveTimeout is how long a write waits for the StatefulSet controller to take a template
// change (status.observedGeneration) before it replaces the pods the change cannot reach.
var stsObserveTimeout = 15 * time.Second

// replaceStuckPods finishes a template change to a StatefulSet that updates pod by pod
// (podManagementPolicy OrderedReady and updateStrategy RollingUpdate, the defaults). Such a
// StatefulSet waits for each pod to be Running and Ready before it replaces it, so a pod broken
// by the old template (crashlooping, OOMKilled, not pulling) is never replaced and the fix never
// reaches it — the Kubernetes documentation's "forced rollback" case, where a person deletes the
// broken pods. Once the controller has taken the change, this deletes the StatefulSet's pods that
// are not Ready and still of an older revision; the controller recreates them from the new
// template. What it did, or what is left to a person, goes in the change's notes.
func (t *tools) replaceStuckPods(ctx context.Context, c *change) {
	if c == nil || c.DryRun || c.NoChange {
		return
	}
	sts, ok := c.After.(*appsv1.StatefulSet)
	if !ok || sts.Spec.PodManagementPolicy == appsv1.ParallelPodManagement ||
		(sts.Spec.UpdateStrategy.Type != "" && sts.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType) {
		return
	}
	ref := objectRef("statefulset", sts.Namespace, sts.Name)
	broken, err := t.notReadyPodsOf(ctx, sts)
	if err != nil {
		c.Notes = append(c.Notes, fmt.Sprintf("could not check the pods of %s: %v; a pod of it that is not Ready is not replaced by itself (podManagementPolicy OrderedReady): delete it so that it is recreated from the new template", ref, err))
		return
	}
	if len(broken) == 0 {
		return
	}
	names := make([]string, len(broken))
	for i := range broken {
		names[i] = broken[i].Name
	}
	var cur appsv1.StatefulSet
	taken := func(ctx context.Context) (bool, error) {
		err := t.k.Direct.Get(ctx, client.ObjectKeyFromObject(sts), &cur)
		return err == nil && cur.Status.ObservedGeneration >= sts.Generation && cur.Status.UpdateRevision != "", nil
	}
	if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, stsObserveTimeout, true, taken); err != nil {
		c.Notes = append(c.Notes, fmt.Sprintf("pods %s of %s are not Ready, and its controller has not taken the change yet (status.observedGeneration %d, generation %d): with podManagementPolicy OrderedReady it does not replace a pod that is not Ready; delete them (kubectl delete pod -n %s %s) so that they are recreated from the new template",
			strings.Join(names, ", "), ref, cur.Status.ObservedGeneration, sts.Generation, sts.Namespace, strings.Join(names, " ")))
		return
	}
	for i := range broken {
		p := &broken[i]
		rev := p.Labels[appsv1.ControllerRevisionHashLabelKey]
		if rev == cur.Status.UpdateRevision {
			continue // already of the new template: the change did not cause this
		}
		if err := t.k.Direct.Delete(ctx, p, client.Preconditions{UID: &p.UID}); client.IgnoreNotFound(err) != nil {
			c.Notes = append(c.Notes, fmt.Sprintf("pod %s of %s is not Ready and of revision %s, and could not be deleted (%v): delete it so that the StatefulSet recreates it from the new template (podManagementPolicy OrderedReady does not replace it)",
				p.Name, ref, rev, apiError(err, "delete", "pod "+p.Namespace+"/"+p.Name)))
			continue
		}
		c.Notes = append(c.Notes, fmt.Sprintf("deleted pod %s (not Ready, revision %s): a StatefulSet with podManagementPolicy OrderedReady does not replace a pod that is not Ready in a rolling update (the Kubernetes docs' forced rollback); it recreates it at revision %s",
			p.Name, rev, cur.Status.UpdateRevision))
	}
}

// notReadyPodsOf lists the pods sts controls that are not Ready and not being deleted.
func (t *tools) notReadyPodsOf(ctx context.Context, sts *appsv1.StatefulSet) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("its selector: %w", err)
	}
	var pods corev1.PodList
	if err := t.k.Direct.List(ctx, &pods, client.InNamespace(sts.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, apiError(err, "list", "pods in namespace "+sts.Namespace)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !metav1.IsControlledBy(&p, sts) || podIsReady(&p) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}
