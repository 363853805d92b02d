package scheduler_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// TestExplainPendingBindingResource: the category and the verdict follow the resource that keeps
// the pod off the nodes nearest to fitting, not whether the pod asks for a GPU at all. A request
// larger than any node's allocatable leads the verdict.
func TestExplainPendingBindingResource(t *testing.T) {
	env := fleet(t)
	c := env.Client
	ensureNamespace(t, c, "bind")
	for _, p := range []podSpec{
		// 250 whole CPUs (250m meant) and one GPU: the GPU nodes have GPUs free, no node has
		// 250 CPUs.
		{name: "embed-cpu-typo", cpu: "250", gpus: 1, tolerate: true},
		// 16 GPUs: no node has that many; only cpu-2 (4 CPUs) also lacks CPU.
		{name: "pretrain-16", cpu: "8", gpus: 16, tolerate: true},
		// Both beyond every node: the GPUs lead, as the request lists them.
		{name: "both-oversized", cpu: "250", gpus: 16, tolerate: true},
		// 32 CPUs and 5 GPUs: gpu-1 and gpu-5 have the GPUs but lack a CPU or two; the nodes
		// short of GPUs lack CPUs too, and the cordoned gpu-4 has both.
		{name: "sim-32cpu-5gpu", cpu: "32", gpus: 5, tolerate: true},
	} {
		p.ns = "bind"
		create(t, c, makePod(p))
	}
	cases := []causeCase{{
		name: "embed-cpu-typo", category: contract.InsufficientResource,
		verdict: []string{"No node of 7 fits Pod bind/embed-cpu-typo: it requests 250 cpu and the largest node (cpu-1) has 32 allocatable, so no node could hold it even empty; " +
			"7 lack cpu, 2 lack nvidia.com/gpu", "which lacks 219 cpu (has 31 free of 250 requested)"},
		fix: []string{`reduce cpu from 250 to 31: node gpu-5 has 31 free (cpu is counted in CPUs: "250" asks for 250 of them; "250m" would be 0.25 of one)`,
			`no node has 250 cpu allocatable (the largest is cpu-1 with 32)`},
		not: []string{"lack cpu and nvidia.com/gpu", "it requests 1 nvidia.com/gpu"},
	}, {
		name: "pretrain-16", category: contract.InsufficientGPU,
		verdict: []string{"it requests 16 nvidia.com/gpu and the largest node (gpu-1) has 8 allocatable", "7 lack nvidia.com/gpu, 1 lack cpu"},
		not:     []string{"it requests 8 cpu"},
	}, {
		name: "both-oversized", category: contract.InsufficientGPU,
		verdict: []string{"it requests 16 nvidia.com/gpu and the largest node (gpu-1) has 8 allocatable, so no node could hold it even empty; " +
			"it requests 250 cpu and the largest node (cpu-1) has 32 allocatable", "7 lack cpu and nvidia.com/gpu"},
	}, {
		name: "sim-32cpu-5gpu", category: contract.InsufficientResource,
		verdict: []string{"6 lack cpu, 4 lack nvidia.com/gpu", "nearest is gpu-4, which is cordoned"},
		fix:     []string{"reduce cpu from 32 to 31: node gpu-5 has 31 free"},
		not:     []string{"it requests"},
	}}
	s := connect(t, env, scheduler.Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { assertCause(t, s, "bind", tc) })
	}
}

// TestExplainPendingClaimSelector: a claim with a selector binds only to an existing
// PersistentVolume with those labels (no provisioner serves it); when none is free and fits, the
// claim's selector (or the field the labelled volumes fail on) is the cause, with the volumes near
// it. A claim of no StorageClass says which volumes come near it.
func TestExplainPendingClaimSelector(t *testing.T) {
	env := fleet(t)
	c := env.Client
	ctx := context.Background()
	ensureNamespace(t, c, "vsel")
	nfs := func(path string) corev1.PersistentVolumeSource {
		return corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "10.9.0.4", Path: path}}
	}
	pv := func(name string, labels map[string]string, size string, mode corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse(size)},
				AccessModes: []corev1.PersistentVolumeAccessMode{mode}, StorageClassName: "",
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain, PersistentVolumeSource: nfs("/exports/" + name)}}
	}
	taken := pv("vsel-ckpt-run7", map[string]string{"ckpt": "run-7"}, "100Gi", corev1.ReadWriteOnce)
	taken.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "vsel", Name: "run7-reader"}
	create(t, c,
		pv("vsel-tiles-q1", map[string]string{"tiles": "2023-q1"}, "2Ti", corev1.ReadOnlyMany),
		pv("vsel-tiles-q3", map[string]string{"tiles": "2023-q3"}, "500Gi", corev1.ReadOnlyMany),
		taken,
	)
	taken.Status.Phase = corev1.VolumeBound
	if err := c.Status().Update(ctx, taken); err != nil {
		t.Fatal(err)
	}
	type claimSpec struct {
		name  string
		class *string
		sel   *metav1.LabelSelector
		size  string
		mode  corev1.PersistentVolumeAccessMode
	}
	for _, cs := range []claimSpec{
		{name: "tiles-q2", class: ptr.To(""), sel: &metav1.LabelSelector{MatchLabels: map[string]string{"tiles": "2023-q2"}}, size: "1Ti", mode: corev1.ReadOnlyMany},
		{name: "tiles-q3", class: ptr.To(""), sel: &metav1.LabelSelector{MatchLabels: map[string]string{"tiles": "2023-q3"}}, size: "1Ti", mode: corev1.ReadOnlyMany},
		{name: "tiles-q1", class: ptr.To(""), sel: &metav1.LabelSelector{MatchLabels: map[string]string{"tiles": "2023-q1"}}, size: "1Ti", mode: corev1.ReadOnlyMany},
		{name: "tiles-later", class: ptr.To(""), size: "1Ti", mode: corev1.ReadOnlyMany, sel: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tiles", Operator: metav1.LabelSelectorOpIn, Values: []string{"2024-q1", "2024-q2"}}}}},
		{name: "region-west", class: ptr.To(""), sel: &metav1.LabelSelector{MatchLabels: map[string]string{"region": "west"}}, size: "1Gi", mode: corev1.ReadWriteOnce},
		{name: "ckpt-run7", class: ptr.To(""), sel: &metav1.LabelSelector{MatchLabels: map[string]string{"ckpt": "run-7"}}, size: "100Gi", mode: corev1.ReadWriteOnce},
		// A provisioning class (WaitForFirstConsumer) does not help a claim with a selector.
		{name: "tiles-q2-classed", class: ptr.To("standard"), sel: &metav1.LabelSelector{MatchLabels: map[string]string{"tiles": "2023-q2"}}, size: "1Ti", mode: corev1.ReadWriteOnce},
		{name: "scratch-rwx", class: ptr.To(""), size: "10Gi", mode: corev1.ReadWriteMany},
	} {
		create(t, c, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "vsel", Name: cs.name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: cs.class, Selector: cs.sel, AccessModes: []corev1.PersistentVolumeAccessMode{cs.mode},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse(cs.size)}}}})
		create(t, c, makePod(podSpec{ns: "vsel", name: "use-" + cs.name, cpu: "1", mutate: claim(cs.name)}))
	}
	binding := "no persistent volumes available for this claim and no storage class is set"
	now := metav1.Now()
	create(t, c, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "vsel", Name: "tiles-q2.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "vsel", Name: "tiles-q2"},
		Reason:         "FailedBinding", Message: binding, Type: corev1.EventTypeNormal, Count: 3, FirstTimestamp: now, LastTimestamp: now})

	cases := []causeCase{{
		name: "use-tiles-q2", category: contract.PVCPending,
		cause: contract.ReferenceMissing, object: "persistentvolumeclaim/vsel/tiles-q2", field: "spec.selector",
		summary: []string{"claim tiles-q2 selects volumes labelled tiles=2023-q2; no PersistentVolume has those labels (volumes near it: " +
			"vsel-tiles-q1 (tiles=2023-q1), vsel-tiles-q3 (tiles=2023-q3; 500Gi, less than the 1Ti requested))"},
		evidence: []string{`PersistentVolumeClaim vsel/tiles-q2 spec.selector: tiles=2023-q2; storageClassName ""; requests 1Ti; accessModes [ReadOnlyMany]`,
			`PersistentVolume vsel-tiles-q1 labels: tiles=2023-q1; capacity 2Ti; accessModes [ReadOnlyMany]; storageClassName ""`,
			"event FailedBinding: " + binding},
		fix:     []string{"create a PersistentVolume labelled tiles=2023-q2", "recreate PersistentVolumeClaim vsel/tiles-q2 (its selector cannot be changed)", "(vsel-tiles-q1 has tiles=2023-q1)"},
		verdict: []string{"No node can run Pod vsel/use-tiles-q2: PersistentVolumeClaim vsel/tiles-q2 is unbound: it selects volumes labelled tiles=2023-q2, and no PersistentVolume has those labels"},
		text:    []string{"cause: ReferenceMissing persistentvolumeclaim/vsel/tiles-q2 spec.selector: claim tiles-q2 selects volumes labelled tiles=2023-q2", "PVC tiles-q2: selector matches no free PV"},
		not:     []string{"names no StorageClass"},
	}, {
		// The volume with the labels is too small: the request is the field at fault.
		name: "use-tiles-q3", category: contract.PVCPending,
		cause: contract.ReferenceMissing, object: "persistentvolumeclaim/vsel/tiles-q3", field: "spec.resources.requests[storage]",
		summary: []string{"claim tiles-q3 selects volumes labelled tiles=2023-q3; the volumes with those labels cannot bind it: vsel-tiles-q3 (tiles=2023-q3; 500Gi, less than the 1Ti requested)"},
		fix:     []string{"recreate PersistentVolumeClaim vsel/tiles-q3 so that spec.resources.requests[storage] matches volume vsel-tiles-q3"},
	}, {
		name: "use-tiles-later", category: contract.PVCPending,
		cause: contract.ReferenceMissing, object: "persistentvolumeclaim/vsel/tiles-later", field: "spec.selector",
		summary: []string{"claim tiles-later selects volumes labelled tiles in (2024-q1,2024-q2); no PersistentVolume has those labels (volumes near it: vsel-tiles-q1 (tiles=2023-q1), "},
	}, {
		// No volume has a label of the key it selects on.
		name: "use-region-west", category: contract.PVCPending,
		cause: contract.ReferenceMissing, object: "persistentvolumeclaim/vsel/region-west", field: "spec.selector",
		summary: []string{"claim region-west selects volumes labelled region=west; no PersistentVolume has those labels (none of the 3 PersistentVolumes has a label region)"},
		not:     []string{"vsel-tiles-q1 (tiles"},
	}, {
		// The one volume with the labels is another claim's.
		name: "use-ckpt-run7", category: contract.PVCPending,
		cause: contract.ReferenceMissing, object: "persistentvolumeclaim/vsel/ckpt-run7", field: "spec.selector",
		summary:  []string{"claim ckpt-run7 selects volumes labelled ckpt=run-7; the volumes with those labels cannot bind it: vsel-ckpt-run7 (ckpt=run-7; claimed by vsel/run7-reader, phase Bound)"},
		evidence: []string{"PersistentVolume vsel-ckpt-run7 labels: ckpt=run-7; capacity 100Gi; accessModes [ReadWriteOnce]; storageClassName \"\"; phase Bound; claimRef vsel/run7-reader"},
		fix:      []string{"volume vsel-ckpt-run7, which PersistentVolumeClaim vsel/ckpt-run7 selects, is claimed by vsel/run7-reader, phase Bound: free it"},
	}, {
		name: "use-tiles-q2-classed", category: contract.PVCPending,
		cause: contract.ReferenceMissing, object: "persistentvolumeclaim/vsel/tiles-q2-classed", field: "spec.selector",
		verdict: []string{"a claim with a selector binds only to an existing PersistentVolume (no provisioner makes one for it)"},
	}, {
		// A volume matches: the claim binds shortly, so nothing about it keeps the pod off.
		name: "use-tiles-q1", category: contract.Unschedulable,
		not: []string{"cause:", "tiles-q1 unbound"},
	}, {
		// No selector and no class: no cause, but the volumes near it and what each lacks.
		name: "use-scratch-rwx", category: contract.PVCPending,
		verdict: []string{"PersistentVolumeClaim vsel/scratch-rwx is unbound, names no StorageClass, and no PersistentVolume is bound to it; no PersistentVolume fits it: ",
			"gives ReadOnlyMany, not ReadWriteMany"},
		fix: []string{"set storageClassName on PersistentVolumeClaim vsel/scratch-rwx to a provisioning class"},
	}}
	s := connect(t, env, scheduler.Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { assertCause(t, s, "vsel", tc) })
	}
}
