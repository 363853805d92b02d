package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
)

// workload_rollback does what kubectl rollout undo does. A Deployment's revisions are the
// ReplicaSets it owns, numbered by their deployment.kubernetes.io/revision annotation: the
// rollback copies the chosen ReplicaSet's pod template (without its pod-template-hash label) and
// change-cause annotations into the Deployment. A StatefulSet's or DaemonSet's revisions are the
// ControllerRevisions it owns, whose data is a patch that restores its pod template.

type rollbackArgs struct {
	workloadArgs
	ToRevision int64 `json:"toRevision,omitempty"`
}

func (a *rollbackArgs) Validate() error {
	if err := a.check(restartKinds); err != nil {
		return err
	}
	if a.ToRevision < 0 {
		return fmt.Errorf(`argument "toRevision" must be a revision number, or 0 for the previous revision, not %d`, a.ToRevision)
	}
	return nil
}

const (
	revisionAnnotation = "deployment.kubernetes.io/revision"
	podTemplateHash    = appsv1.DefaultDeploymentUniqueLabelKey
)

// rollbackSkipAnnotations are the Deployment annotations a rollback keeps rather than copying
// them from the ReplicaSet, as kubectl does.
var rollbackSkipAnnotations = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	revisionAnnotation:                          true,
	"deployment.kubernetes.io/revision-history": true,
	"deployment.kubernetes.io/desired-replicas": true,
	"deployment.kubernetes.io/max-replicas":     true,
	"deprecated.deployment.rollback.to":         true,
}

func (t *tools) workloadRollback(ctx context.Context, a rollbackArgs) (contract.Change, string, error) {
	// A merge patch replaces the template's lists (containers, volumes) whole, as a rollback must.
	mergeFrom := func(orig client.Object) client.Patch {
		return client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	}
	wk, err := workloadKindOf(a.Kind, restartKinds...)
	if err != nil {
		return contract.Change{}, "", err
	}
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return contract.Change{}, "", err
	}
	ref := objectRef(wk.kind, a.Namespace, a.Name)
	c, err := t.updateWith(ctx, ref, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, wk.newObj, a.DryRun, mergeFrom,
		func(obj client.Object) (string, error) {
			if d, ok := obj.(*appsv1.Deployment); ok {
				return t.rollbackDeployment(ctx, ref, d, a.ToRevision)
			}
			return t.rollbackByControllerRevision(ctx, ref, wk, obj, a.ToRevision)
		})
	if err != nil {
		return contract.Change{}, "", err
	}
	t.replaceStuckPods(ctx, c)
	return t.render(c)
}

// revisionChoice picks the revision to go back to from the revisions there are: toRevision, or
// (0) the one before the newest. It returns the index into revs.
func revisionChoice(ref string, revs []int64, toRevision int64) (int, error) {
	if len(revs) == 0 {
		return 0, fmt.Errorf("%s has no rollout history (no revisions found): there is nothing to roll back to", ref)
	}
	sorted := append([]int64(nil), revs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	list := make([]string, len(sorted))
	for i, r := range sorted {
		list[i] = strconv.FormatInt(r, 10)
	}
	want := toRevision
	if want == 0 {
		if len(sorted) < 2 {
			return 0, fmt.Errorf("%s has no previous revision to roll back to: its only revision is %s", ref, list[0])
		}
		want = sorted[len(sorted)-2]
	}
	for i, r := range revs {
		if r == want {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s has no revision %d; its revisions are %s", ref, toRevision, strings.Join(list, ", "))
}

func (t *tools) rollbackDeployment(ctx context.Context, ref string, d *appsv1.Deployment, toRevision int64) (string, error) {
	if d.Spec.Paused {
		return "", fmt.Errorf("%s is paused: a rollback would not roll out; resume it first (set spec.paused to false with resource_patch)", ref)
	}
	var list appsv1.ReplicaSetList
	if err := t.k.Direct.List(ctx, &list, client.InNamespace(d.Namespace)); err != nil {
		return "", apiError(err, "list", "replicasets in namespace "+d.Namespace)
	}
	var owned []*appsv1.ReplicaSet
	var revs []int64
	newest := int64(-1)
	for i := range list.Items {
		rs := &list.Items[i]
		if owner := metav1.GetControllerOf(rs); owner == nil || owner.UID != d.UID {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		if err != nil {
			continue // not (yet) numbered by the deployment controller
		}
		owned = append(owned, rs)
		revs = append(revs, rev)
		newest = max(newest, rev)
	}
	i, err := revisionChoice(ref, revs, toRevision)
	if err != nil {
		return "", err
	}
	rs, rev := owned[i], revs[i]
	tpl := rs.Spec.Template.DeepCopy()
	delete(tpl.Labels, podTemplateHash)
	if apiequality.Semantic.DeepEqual(*tpl, d.Spec.Template) {
		return fmt.Sprintf("its pod template already is revision %d's (ReplicaSet %s)", rev, rs.Name), errUnchanged
	}
	summary := fmt.Sprintf("pod template rolled back to revision %d (ReplicaSet %s; newest revision %d)%s",
		rev, rs.Name, newest, imageChanges(&d.Spec.Template, tpl))
	d.Spec.Template = *tpl
	annotations := map[string]string{}
	for k, v := range d.Annotations {
		if rollbackSkipAnnotations[k] {
			annotations[k] = v
		}
	}
	for k, v := range rs.Annotations {
		if !rollbackSkipAnnotations[k] {
			annotations[k] = v
		}
	}
	d.Annotations = annotations
	return summary, nil
}

func (t *tools) rollbackByControllerRevision(ctx context.Context, ref string, wk workloadKind, obj client.Object, toRevision int64) (string, error) {
	var list appsv1.ControllerRevisionList
	if err := t.k.Direct.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		return "", apiError(err, "list", "controllerrevisions in namespace "+obj.GetNamespace())
	}
	var owned []*appsv1.ControllerRevision
	var revs []int64
	newest := int64(-1)
	for i := range list.Items {
		cr := &list.Items[i]
		if owner := metav1.GetControllerOf(cr); owner == nil || owner.UID != obj.GetUID() {
			continue
		}
		owned = append(owned, cr)
		revs = append(revs, cr.Revision)
		newest = max(newest, cr.Revision)
	}
	i, err := revisionChoice(ref, revs, toRevision)
	if err != nil {
		return "", err
	}
	cr := owned[i]
	// Apply the revision's patch to a copy, as the controller and kubectl do, and take its template.
	current, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	restoredJSON, err := strategicpatch.StrategicMergePatch(current, cr.Data.Raw, wk.newObj())
	if err != nil {
		return "", fmt.Errorf("ControllerRevision %s (revision %d) does not hold a patch of %s's pod template: %w", cr.Name, cr.Revision, ref, err)
	}
	restored := wk.newObj()
	if err := json.Unmarshal(restoredJSON, restored); err != nil {
		return "", fmt.Errorf("ControllerRevision %s (revision %d): %w", cr.Name, cr.Revision, err)
	}
	tpl, cur := wk.template(restored), wk.template(obj)
	if apiequality.Semantic.DeepEqual(*tpl, *cur) {
		return fmt.Sprintf("its pod template already is revision %d's (ControllerRevision %s)", cr.Revision, cr.Name), errUnchanged
	}
	summary := fmt.Sprintf("pod template rolled back to revision %d (ControllerRevision %s; newest revision %d)%s",
		cr.Revision, cr.Name, newest, imageChanges(cur, tpl))
	*cur = *tpl
	return summary, nil
}

// imageChanges lists the containers whose image a template change changes: "; images: app
// a:2 → a:1".
func imageChanges(from, to *corev1.PodTemplateSpec) string {
	old := map[string]string{}
	for _, c := range slices.Concat(from.Spec.InitContainers, from.Spec.Containers) {
		old[c.Name] = c.Image
	}
	var changes []string
	for _, c := range slices.Concat(to.Spec.InitContainers, to.Spec.Containers) {
		if was, ok := old[c.Name]; ok && was != c.Image {
			changes = append(changes, fmt.Sprintf("%s %s → %s", c.Name, was, c.Image))
		}
	}
	if len(changes) == 0 {
		return ""
	}
	return "; images: " + strings.Join(changes, ", ")
}
