package scheduler

// Access modes a StorageClass's provisioner can give, as data: a claim that asks for one its
// class cannot give never binds, and the pod that mounts it waits for ever
// (AccessModeUnsupported). The cluster server keeps a table of the same facts for its own
// analysis (mcpservers/cluster); the two are kept apart so that neither server imports the
// other, and must be changed together.

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/accessmodes"
)

// accessModeProblem says when an unbound claim asks for an access mode that its StorageClass's
// provisioner cannot give; nil when it can, or when the table does not know the provisioner.
func (t *tools) accessModeProblem(ctx context.Context, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, classes []storagev1.StorageClass) (*volumeProblem, error) {
	can, known := accessmodes.Of(sc.Provisioner)
	if !known || (pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock) {
		return nil, nil
	}
	bad := accessmodes.Refused(sc.Provisioner, pvc.Spec.AccessModes)
	if len(bad) == 0 {
		return nil, nil
	}
	ref := "PersistentVolumeClaim " + pvc.Namespace + "/" + pvc.Name
	badWords, canWords, askWords := modeList(bad), modeList(can), modeList(pvc.Spec.AccessModes)
	// Classes in this cluster whose provisioner gives every mode asked for.
	var good []string
	for _, c := range classes {
		if _, ok := accessmodes.Of(c.Provisioner); ok && len(accessmodes.Refused(c.Provisioner, pvc.Spec.AccessModes)) == 0 {
			good = append(good, fmt.Sprintf("%s (%s)", c.Name, c.Provisioner))
		}
	}
	other := "StorageClass " + strings.Join(good, " or StorageClass ")
	if len(good) == 0 {
		other = "a StorageClass of a shared file system (none in this cluster; CSI drivers that give ReadWriteMany: " + strings.Join(accessmodes.FileProvisioners(), ", ") + ")"
	}
	c := &contract.Cause{
		Category: contract.AccessModeUnsupported,
		Object:   "persistentvolumeclaim/" + pvc.Namespace + "/" + pvc.Name,
		Field:    "spec.accessModes",
		Summary: fmt.Sprintf("%s asks for %s, which its StorageClass %s cannot give: provisioner %s gives only %s",
			ref, badWords, sc.Name, sc.Provisioner, canWords),
		Evidence: []string{
			fmt.Sprintf("%s spec.accessModes: [%s]", ref, askWords),
			fmt.Sprintf("StorageClass %s provisioner: %s", sc.Name, sc.Provisioner),
		},
	}
	events, err := t.k.events(ctx, pvc.Namespace, "PersistentVolumeClaim", pvc.Name)
	if err != nil {
		return nil, err
	}
	var last *corev1.Event
	for _, e := range events {
		if e.Reason == "ProvisioningFailed" && (last == nil || e.LastTimestamp.After(last.LastTimestamp.Time)) {
			last = e
		}
	}
	if last != nil {
		c.Evidence = append(c.Evidence, "event ProvisioningFailed: "+last.Message)
	}
	fix := fmt.Sprintf("recreate %s (its access modes cannot be changed) with accessModes [ReadWriteOnce] if one node at a time is enough, or with %s, which gives %s",
		ref, other, badWords)
	c.Fix = &contract.Fix{Text: fix}
	return &volumeProblem{
		short:   "PVC " + pvc.Name + ": " + badWords + " unsupported",
		verdict: fmt.Sprintf("%s asks for %s, which provisioner %s of its StorageClass %s cannot give (it gives %s), so the claim never binds", ref, badWords, sc.Provisioner, sc.Name, canWords),
		fix:     fix,
		cause:   c,
	}, nil
}

func modeList(modes []corev1.PersistentVolumeAccessMode) string {
	var s []string
	for _, m := range modes {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}
