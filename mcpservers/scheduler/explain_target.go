package scheduler

// What explain_pending explains: the pod, Job, Deployment, custom owner or Kueue Workload it was
// asked about (a Volcano gang is found from the pod, in volcano.go), resolved to the one pod it
// evaluates.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// target is what explain_pending was asked about, resolved to one pod to evaluate.
type target struct {
	ref          string // "Pod ml/train-0"
	ns           string
	pod          *corev1.Pod // the pod evaluated: a pending one, or one made from a template
	fromTemplate bool
	pods         []*corev1.Pod // the owner's pods (the pod itself, for a pod)
	job          *batchv1.Job
	workload     *unstructured.Unstructured
	uids         []types.UID       // the objects a Kueue Workload may be owned by
	labels       map[string]string // of the object asked about (Kueue's queue-name label)
}

func (tg *target) pending() int {
	n := 0
	for _, p := range tg.pods {
		if p.Spec.NodeName == "" && !terminated(p) {
			n++
		}
	}
	return n
}

// resolveTarget finds the object and the pod to evaluate.
func (t *tools) resolveTarget(ctx context.Context, a explainArgs) (*target, error) {
	kind := "Pod"
	if strings.TrimSpace(a.Kind) != "" {
		// As kubectl reads it: deploy, po, sts, wl, a CRD's short name (discovery RESTMapper).
		gvk, _, _, err := t.k.ResolveKind(ctx, a.Kind)
		switch {
		case meta.IsNoMatchError(err) && slices.Contains([]string{"workload", "workloads", "workloads.kueue.x-k8s.io"}, strings.ToLower(strings.TrimSpace(a.Kind))):
			kind = "Workload" // Kueue's, whose CRDs are not installed: resolveWorkload says so
		case meta.IsNoMatchError(err):
			// An owner whose kind discovery does not serve (an operator's CRD this server cannot
			// see): matched by name on the pods' owner references.
			kind = strings.TrimSpace(a.Kind)
		case err != nil:
			return nil, fmt.Errorf(`argument "kind": %w`, err)
		case gvk.Kind == "Workload" && gvk.Group != "kueue.x-k8s.io":
			kind = gvk.Group + "/" + gvk.Kind // another group's Workload: explained as an owner
		default:
			kind = gvk.Kind
		}
	}
	tg := &target{ns: a.Namespace}
	switch kind {
	case "Pod":
		p, err := t.k.pod(ctx, a.Namespace, a.Name)
		if err != nil {
			return nil, err
		}
		tg.ref, tg.pod, tg.pods, tg.labels = "Pod "+a.Namespace+"/"+a.Name, p, []*corev1.Pod{p}, p.Labels
		tg.uids = append(tg.uids, p.UID)
		for _, o := range p.OwnerReferences {
			tg.uids = append(tg.uids, o.UID)
			if o.Kind == "Job" && tg.job == nil {
				var j batchv1.Job
				if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: o.Name}, &j); err == nil {
					tg.job = &j
				}
			}
		}
		return tg, nil
	case "Job":
		var j batchv1.Job
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, &j); err != nil {
			return nil, apiError(err, "get", "Job "+a.Namespace+"/"+a.Name)
		}
		tg.ref, tg.job, tg.labels, tg.uids = "Job "+a.Namespace+"/"+a.Name, &j, j.Labels, []types.UID{j.UID}
		if err := t.ownedPods(ctx, tg, func(o metav1.OwnerReference) bool { return o.UID == j.UID }); err != nil {
			return nil, err
		}
		t.pickPod(ctx, tg, a.Name, &j.Spec.Template)
		return tg, nil
	case "Workload":
		return t.resolveWorkload(ctx, tg, a)
	}
	// Any other owner: its pods are those it controls, directly or through ReplicaSets.
	owners := map[types.UID]bool{}
	matchKind := func(k string) bool { return strings.EqualFold(k, kind) || strings.EqualFold(k+"s", kind) }
	var rsNames []string
	if matchKind("Deployment") {
		rs, err := t.replicaSetsOf(ctx, a.Namespace, a.Name)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			owners[r.UID] = true
			rsNames = append(rsNames, r.Name)
		}
	}
	tg.ref = fmt.Sprintf("%s %s/%s", kind, a.Namespace, a.Name)
	if err := t.ownedPods(ctx, tg, func(o metav1.OwnerReference) bool {
		return owners[o.UID] || (matchKind(o.Kind) && o.Name == a.Name)
	}); err != nil {
		return nil, err
	}
	if len(tg.pods) == 0 {
		return nil, fmt.Errorf("%s owns no pods (or does not exist); check the kind and name, or explain one pod with kind pod", tg.ref)
	}
	for _, p := range tg.pods {
		tg.uids = append(tg.uids, p.UID)
		for _, o := range p.OwnerReferences {
			tg.uids = append(tg.uids, o.UID)
			if matchKind(o.Kind) && o.Name == a.Name {
				tg.ref = fmt.Sprintf("%s %s/%s", o.Kind, a.Namespace, a.Name) // as its owner spells it
			}
		}
	}
	tg.labels = tg.pods[0].Labels
	t.pickPod(ctx, tg, a.Name, nil)
	return tg, nil
}

// ownedPods collects the pods in tg.ns with an owner reference that match accepts.
func (t *tools) ownedPods(ctx context.Context, tg *target, match func(metav1.OwnerReference) bool) error {
	err := t.k.pods(ctx, tg.ns, func(p *corev1.Pod) {
		for _, o := range p.OwnerReferences {
			if match(o) {
				tg.pods = append(tg.pods, p)
				return
			}
		}
	})
	slices.SortFunc(tg.pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return err
}

// pickPod chooses the pod to evaluate: the first pending one, else the first not yet
// terminated, else one made from the template (a suspended Job has none).
func (t *tools) pickPod(ctx context.Context, tg *target, name string, tmpl *corev1.PodTemplateSpec) {
	for _, p := range tg.pods {
		if p.Spec.NodeName == "" && !terminated(p) {
			tg.pod = p
			return
		}
	}
	if tmpl == nil {
		for _, p := range tg.pods {
			if !terminated(p) {
				tg.pod = p
				return
			}
		}
		if len(tg.pods) > 0 {
			tg.pod = tg.pods[0]
		}
		return
	}
	tg.pod = t.templatePod(ctx, tg.ns, name, tmpl)
	tg.fromTemplate = true
}

// templatePod makes the pod a template would create, with its priority resolved.
func (t *tools) templatePod(ctx context.Context, ns, name string, tmpl *corev1.PodTemplateSpec) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: *tmpl.Spec.DeepCopy()}
	p.Namespace, p.Name = ns, name+" (from its pod template)"
	if p.Spec.Priority == nil && p.Spec.PriorityClassName != "" {
		var pc schedulingv1.PriorityClass
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Name: p.Spec.PriorityClassName}, &pc); err == nil {
			p.Spec.Priority = &pc.Value
		}
	}
	return p
}

// replicaSetsOf lists the ReplicaSets a Deployment owns.
func (t *tools) replicaSetsOf(ctx context.Context, ns, name string) ([]metav1.PartialObjectMetadata, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(appsV1ReplicaSetList)
	if err := t.k.Direct.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, apiError(err, "list", "replicasets in namespace "+ns)
	}
	var out []metav1.PartialObjectMetadata
	for _, rs := range list.Items {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" && o.Name == name {
				out = append(out, rs)
			}
		}
	}
	return out, nil
}

var appsV1ReplicaSetList = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSetList"}
