// Package owners finds the workload a person owns behind an object the cluster reports about:
// a Pod's Deployment (through its ReplicaSet), a Job's CronJob, a ReplicaSet's Deployment, and any
// custom controller (JobSet, LeaderWorkerSet, RayCluster...) by following controller
// ownerReferences up to the top controller that exists. The triggers raise their Incidents about
// it, and the incident orchestrator checks its health.
//
// It reads object metadata (and, for an alert that names a container but not its pod, the pods
// of one namespace) and writes nothing; it must not decide what is wrong with the object it
// resolves.
package owners

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// maxDepth bounds the walk (Pod → Job → CronJob is 2; a JobSet's pods 3).
const maxDepth = 8

// Top is the top controller of the namespaced object ref, found by following controller
// ownerReferences (metadata read with r) while the owner exists. An owner that cannot be read
// for another reason than its absence (no RBAC to get it, a kind the API server does not serve)
// is taken as the top: a controller reference names an object that existed when it was set. A
// node as owner (a static pod's mirror) is not followed. ref itself is returned when it has no
// controller, cannot be read, or is cluster-scoped.
func Top(ctx context.Context, r client.Reader, ref opsv1.TargetReference) opsv1.TargetReference {
	if ref.Namespace == "" || ref.Kind == "" || ref.Name == "" {
		return ref
	}
	cur := ref
	if cur.APIVersion == "" && coreKinds[cur.Kind] {
		cur.APIVersion = "v1"
	}
	for range maxDepth {
		gv, err := schema.ParseGroupVersion(cur.APIVersion)
		if err != nil || cur.APIVersion == "" {
			return cur
		}
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(gv.WithKind(cur.Kind))
		if err := r.Get(ctx, types.NamespacedName{Namespace: cur.Namespace, Name: cur.Name}, m); err != nil {
			return cur
		}
		owner := metav1.GetControllerOf(m)
		if owner == nil || owner.Kind == "Node" || owner.Name == "" || owner.Kind == "" {
			return cur
		}
		next := opsv1.TargetReference{APIVersion: owner.APIVersion, Kind: owner.Kind, Namespace: cur.Namespace, Name: owner.Name}
		ogv, err := schema.ParseGroupVersion(owner.APIVersion)
		if err != nil {
			return cur
		}
		om := &metav1.PartialObjectMetadata{}
		om.SetGroupVersionKind(ogv.WithKind(owner.Kind))
		err = r.Get(ctx, types.NamespacedName{Namespace: cur.Namespace, Name: owner.Name}, om)
		switch {
		case err == nil:
			if om.GetUID() != "" && owner.UID != "" && om.GetUID() != owner.UID {
				return cur // a new object of the same name: the owner is gone
			}
			cur = next
		case apierrors.IsNotFound(err):
			return cur
		default:
			return next
		}
	}
	return cur
}

// coreKinds are core/v1 kinds an event may name without an apiVersion.
var coreKinds = map[string]bool{"Pod": true, "PersistentVolumeClaim": true, "Service": true, "ConfigMap": true}

// JobOrCronJob is ref, unless ref is a Job that does not exist while a CronJob of that name does
// (an alert whose job_name is the CronJob's name, as a person or a rule writes it for a nightly
// job): then that CronJob. Anything that cannot be read leaves ref as it is.
func JobOrCronJob(ctx context.Context, r client.Reader, ref opsv1.TargetReference) opsv1.TargetReference {
	if ref.Kind != "Job" || ref.Namespace == "" || ref.Name == "" {
		return ref
	}
	get := func(kind string) error {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: kind})
		return r.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, m)
	}
	if err := get("Job"); !apierrors.IsNotFound(err) {
		return ref
	}
	if get("CronJob") != nil {
		return ref
	}
	return opsv1.TargetReference{APIVersion: "batch/v1", Kind: "CronJob", Namespace: ref.Namespace, Name: ref.Name}
}

// PodWithContainer is the pod of namespace ns that an alert naming only its container (labels
// namespace and container, no pod) is about: among the pods with a container (or init
// container) of that name, the one whose container restarts most or waits (CrashLoopBackOff,
// ImagePullBackOff). ok is false when no pod has such a container, when the pods cannot be
// listed, or when pods of different controllers fail alike and the alert does not say which.
func PodWithContainer(ctx context.Context, r client.Reader, ns, container string) (opsv1.TargetReference, bool) {
	if ns == "" || container == "" {
		return opsv1.TargetReference{}, false
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(ns), client.Limit(1000)); err != nil {
		return opsv1.TargetReference{}, false
	}
	type candidate struct {
		pod        *corev1.Pod
		controller string
		score      int
	}
	var cs []candidate
	for i := range pods.Items {
		p := &pods.Items[i]
		has := func(c corev1.Container) bool { return c.Name == container }
		if !slices.ContainsFunc(p.Spec.Containers, has) && !slices.ContainsFunc(p.Spec.InitContainers, has) {
			continue
		}
		score := 0
		for _, st := range slices.Concat(p.Status.ContainerStatuses, p.Status.InitContainerStatuses) {
			if st.Name != container {
				continue
			}
			score += int(st.RestartCount)
			if st.State.Waiting != nil && st.State.Waiting.Reason != "" && st.State.Waiting.Reason != "ContainerCreating" && st.State.Waiting.Reason != "PodInitializing" {
				score += 1000
			}
		}
		controller := ""
		if c := metav1.GetControllerOf(p); c != nil {
			controller = c.Kind + "/" + c.Name
		}
		cs = append(cs, candidate{p, controller, score})
	}
	if len(cs) == 0 {
		return opsv1.TargetReference{}, false
	}
	slices.SortStableFunc(cs, func(a, b candidate) int { return b.score - a.score })
	best := cs[0]
	for _, c := range cs[1:] {
		if c.controller != best.controller && c.score == best.score {
			return opsv1.TargetReference{}, false // two workloads fail alike: the alert does not say which
		}
	}
	return opsv1.TargetReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: best.pod.Name}, true
}
