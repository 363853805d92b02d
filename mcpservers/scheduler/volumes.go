package scheduler

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/opsmesh/opsmesh/api/contract"
)

// volumeCheck is what a pod's PersistentVolumeClaims demand of nodes: a problem that no node can
// get past (a claim missing, or one that cannot bind), or the node affinity of bound volumes.
type volumeCheck struct {
	problem *volumeProblem
	bound   []boundVolume
}

// volumeProblem is a claim that keeps the pod off every node.
type volumeProblem struct {
	short   string // for the table
	verdict string // for the verdict
	fix     string
	cause   *contract.Cause // the claim's field at fault, when one is known
}

type boundVolume struct {
	claim, pv string
	sel       *nodeaffinity.NodeSelector
}

// nodeConflict says when a bound volume may not be used on node.
func (v *volumeCheck) nodeConflict(node *corev1.Node) string {
	for _, b := range v.bound {
		if !b.sel.Match(node) {
			return fmt.Sprintf("PV %s node affinity", b.pv)
		}
	}
	return ""
}

// claimNames lists the PVCs a pod uses: its persistentVolumeClaim volumes and the claims its
// generic ephemeral volumes create (<pod>-<volume>).
func claimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil && pod.Name != "":
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

// checkVolumes reads the pod's claims, their volumes and StorageClasses; nil when the pod uses
// no claims.
func (t *tools) checkVolumes(ctx context.Context, pod *corev1.Pod) (*volumeCheck, error) {
	claims := claimNames(pod)
	if len(claims) == 0 {
		return nil, nil
	}
	vc := &volumeCheck{}
	var classes []storagev1.StorageClass
	classesRead := false
	readClasses := func() ([]storagev1.StorageClass, error) {
		if !classesRead {
			var err error
			if classes, err = t.k.storageClasses(ctx); err != nil {
				return nil, err
			}
			classesRead = true
		}
		return classes, nil
	}
	for _, name := range claims {
		ref := "PersistentVolumeClaim " + pod.Namespace + "/" + name
		pvc, err := t.k.pvc(ctx, pod.Namespace, name)
		if err != nil {
			return nil, err
		}
		if pvc == nil {
			vc.problem = &volumeProblem{
				short:   "PVC " + name + " missing",
				verdict: fmt.Sprintf("it mounts %s, which does not exist", ref),
				fix:     fmt.Sprintf("create %s (or correct the claimName in the pod's volumes)", ref),
			}
			return vc, nil
		}
		if pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != "" {
			pv, err := t.k.pv(ctx, pvc.Spec.VolumeName)
			if err != nil {
				return nil, err
			}
			if pv != nil && pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
				sel, err := nodeaffinity.NewNodeSelector(pv.Spec.NodeAffinity.Required)
				if err == nil {
					vc.bound = append(vc.bound, boundVolume{claim: name, pv: pv.Name, sel: sel})
				}
			}
			continue
		}
		if pvc.Status.Phase == corev1.ClaimLost {
			vc.problem = &volumeProblem{
				short:   "PVC " + name + " lost",
				verdict: fmt.Sprintf("%s has lost its PersistentVolume %s", ref, pvc.Spec.VolumeName),
				fix:     fmt.Sprintf("recreate %s: its volume %s is gone", ref, pvc.Spec.VolumeName),
			}
			return vc, nil
		}
		// Unbound: whether it can bind depends on its StorageClass.
		scs, err := readClasses()
		if err != nil {
			return nil, err
		}
		var names []string
		var def *storagev1.StorageClass
		for i := range scs {
			names = append(names, scs[i].Name)
			if scs[i].Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
				def = &scs[i]
			}
		}
		known := "there are no StorageClasses"
		if len(names) > 0 {
			known = "StorageClasses: " + strings.Join(names, ", ")
		}
		className := ""
		if pvc.Spec.StorageClassName != nil {
			className = *pvc.Spec.StorageClassName
		}
		if pvc.Spec.StorageClassName == nil && def != nil {
			className = def.Name
		}
		if className == "" {
			vc.problem = &volumeProblem{
				short:   "PVC " + name + " unbound",
				verdict: fmt.Sprintf("%s is unbound, names no StorageClass, and no PersistentVolume is bound to it", ref),
				fix:     fmt.Sprintf("set storageClassName on %s to a provisioning class (%s), or create a PersistentVolume for it", ref, known),
			}
			return vc, nil
		}
		var sc *storagev1.StorageClass
		for i := range scs {
			if scs[i].Name == className {
				sc = &scs[i]
			}
		}
		if sc == nil {
			vc.problem = &volumeProblem{
				short:   "PVC " + name + ": no StorageClass " + className,
				verdict: fmt.Sprintf("%s is unbound: its StorageClass %q does not exist", ref, className),
				fix:     fmt.Sprintf("create StorageClass %s, or recreate %s with an existing one (%s)", className, ref, known),
			}
			return vc, nil
		}
		// A mode its provisioner cannot give: the claim never binds, whatever its binding mode.
		p, err := t.accessModeProblem(ctx, pvc, sc, scs)
		if err != nil {
			return nil, err
		}
		if p != nil {
			vc.problem = p
			return vc, nil
		}
		if sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
			continue // binds once the pod is placed
		}
		vc.problem = &volumeProblem{
			short:   "PVC " + name + " unbound",
			verdict: fmt.Sprintf("%s is unbound and its StorageClass %s binds immediately, so the pod waits for a volume that its provisioner %s has not made", ref, sc.Name, sc.Provisioner),
			fix:     fmt.Sprintf("check provisioner %s of StorageClass %s (its events on %s), or use a StorageClass with volumeBindingMode WaitForFirstConsumer", sc.Provisioner, sc.Name, ref),
		}
		return vc, nil
	}
	return vc, nil
}
