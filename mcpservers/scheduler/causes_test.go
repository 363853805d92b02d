package scheduler_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// causeCase is a pending object on the fleet whose explanation must name the object and field
// at fault (or, with no category, must name none).
type causeCase struct {
	name     string // the object explain_pending is asked about
	kind     string
	category string // the verdict's category
	cause    contract.Category
	object   string
	field    string
	summary  []string // the cause's summary says each
	evidence []string // the cause's evidence holds a line with each
	fix      []string // the fixes (the answer's and the cause's) say each
	verdict  []string // the verdict says each
	not      []string // the text says none of these
	text     []string // the text says each
}

// TestExplainPendingCauses: a resource name no node advertises (a renamed shared GPU, another MIG
// profile, another vendor's GPU, a device no node has), a taint that alone keeps a pod off the
// nodes that fit it, a node selector that matches no node, and a claim whose StorageClass cannot
// give its access mode — each explained by the object and field at fault.
func TestExplainPendingCauses(t *testing.T) {
	env := fleet(t)
	c := env.Client
	ensureNamespace(t, c, "cause")
	one := apiresource.MustParse("1")

	// A Deployment lab whose ReplicaSet's pod asks for time-sliced GPUs by the name
	// renameByDefault gives them; no node's device plugin is configured that way.
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "cause", Name: "lab"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "lab"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "lab"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "lab", Image: "registry.example/lab:1"}}}}}}
	create(t, c, dep)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "cause", Name: "lab-6b8f",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "lab", UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template}}
	create(t, c, rs)
	rename := func(name string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.Containers[0].Name = name }
	}
	pods := []podSpec{
		{name: "lab-6b8f-q2x7z", cpu: "1", tolerate: true, labels: map[string]string{"app": "lab"},
			extra: corev1.ResourceList{"nvidia.com/gpu.shared": one}, mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Name = "lab"
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "lab-6b8f", UID: rs.UID, Controller: ptr.To(true)}}
			}},
		{name: "mig-20gb", cpu: "1", tolerate: true, extra: corev1.ResourceList{"nvidia.com/mig-1g.20gb": one}, mutate: rename("infer")},
		{name: "amd", cpu: "1", extra: corev1.ResourceList{"amd.com/gpu": one}},
		// Before, the nearest node's label explained it: "nearest is cpu-1, which lacks 1
		// example.com/fpga … and does not match the node selector (zone=a not b)".
		{name: "fpga", cpu: "1", selector: map[string]string{"zone": "b"}, extra: corev1.ResourceList{"example.com/fpga": one}},
		{name: "h100-untolerated", cpu: "1", gpus: 1, selector: map[string]string{"gpu": "h100"}, mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		}},
		{name: "b200", cpu: "1", gpus: 1, tolerate: true, selector: map[string]string{"gpu": "b200"}},
		{name: "rwx-ebs", cpu: "1", mutate: claim("shared-ebs")},
		{name: "rwx-efs", cpu: "1", mutate: claim("shared-efs")},
		{name: "rwx-unknown", cpu: "1", mutate: claim("shared-unknown")},
	}
	claimOf := func(name, class string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "cause", Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("10Gi")}}}}
	}
	provisioning := `failed to provision volume with StorageClass "ebs-gp3": rpc error: code = InvalidArgument desc = Volume capabilities MULTI_NODE_MULTI_WRITER not supported. Only AccessModes[ReadWriteOnce] supported.`
	now := metav1.Now()
	create(t, c, claimOf("shared-ebs", "ebs-gp3"), claimOf("shared-efs", "efs-sc"), claimOf("shared-unknown", "standard"),
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "cause", Name: "shared-ebs.1"},
			InvolvedObject: corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "cause", Name: "shared-ebs"},
			Reason:         "ProvisioningFailed", Message: provisioning, Type: corev1.EventTypeWarning, Count: 1, FirstTimestamp: now, LastTimestamp: now})
	for _, p := range pods {
		p.ns = "cause"
		create(t, c, makePod(p))
	}

	cases := []causeCase{{
		name: "lab", kind: "deployment", category: contract.InsufficientGPU,
		cause: contract.ResourceNotAdvertised, object: "deployment/cause/lab",
		field:   "spec.template.spec.containers[lab].resources.requests[nvidia.com/gpu.shared]",
		summary: []string{"no node advertises nvidia.com/gpu.shared (requested by container lab); nodes advertise nvidia.com/gpu (5 nodes), nvidia.com/mig-1g.10gb (1 node)"},
		evidence: []string{"Deployment cause/lab spec.template.spec.containers[lab].resources.requests[nvidia.com/gpu.shared]: 1",
			"nodes advertise nvidia.com/gpu: gpu-1 8, gpu-2 8, gpu-3 4, gpu-4 8, gpu-5 8", "nodes advertise nvidia.com/mig-1g.10gb: gpu-3 7"},
		fix: []string{"request a resource the nodes advertise instead of nvidia.com/gpu.shared in container lab of Deployment cause/lab: nvidia.com/gpu (5 nodes) or nvidia.com/mig-1g.10gb (1 node)",
			"renameByDefault: true"},
		verdict: []string{"No node advertises nvidia.com/gpu.shared, which the pods of Deployment cause/lab request (container lab)"},
		text:    []string{"cause: ResourceNotAdvertised deployment/cause/lab spec.template.spec.containers[lab].resources.requests[nvidia.com/gpu.shared]: no node advertises nvidia.com/gpu.shared"},
		not:     []string{"nearest"},
	}, {
		// The pod itself names the same workload.
		name: "lab-6b8f-q2x7z", category: contract.InsufficientGPU,
		cause: contract.ResourceNotAdvertised, object: "deployment/cause/lab",
		field: "spec.template.spec.containers[lab].resources.requests[nvidia.com/gpu.shared]",
	}, {
		name: "mig-20gb", category: contract.InsufficientGPU,
		cause: contract.ResourceNotAdvertised, object: "pod/cause/mig-20gb", field: "spec.containers[infer].resources.requests[nvidia.com/mig-1g.20gb]",
		summary:  []string{"no node advertises nvidia.com/mig-1g.20gb (requested by container infer)", "nvidia.com/mig-1g.10gb (1 node)"},
		evidence: []string{"nodes advertise nvidia.com/mig-1g.10gb: gpu-3 7"},
		fix:      []string{"the nodes' MIG layout gives 1g.10gb, not 1g.20gb", "mig.strategy: mixed"},
	}, {
		// No amd.com resource anywhere: the other vendors' GPUs are what the nodes have.
		name: "amd", category: contract.InsufficientGPU,
		cause: contract.ResourceNotAdvertised, object: "pod/cause/amd", field: "spec.containers[main].resources.requests[amd.com/gpu]",
		summary:  []string{"no node advertises amd.com/gpu", "nodes advertise nvidia.com/gpu (5 nodes)"},
		evidence: []string{"nodes advertise nvidia.com/gpu: gpu-1 8"},
	}, {
		name: "fpga", category: contract.InsufficientResource,
		cause: contract.ResourceNotAdvertised, object: "pod/cause/fpga", field: "spec.containers[main].resources.requests[example.com/fpga]",
		summary:  []string{"no node advertises example.com/fpga (requested by container main); no node advertises any example.com/ resource"},
		evidence: []string{"Pod cause/fpga spec.containers[main].resources.requests[example.com/fpga]: 1", "no node of 7 lists example.com/fpga"},
		fix:      []string{"device plugin that advertises example.com/fpga"},
		verdict:  []string{"No node advertises example.com/fpga, which Pod cause/fpga requests (container main), so no node of 7 can run it"},
		not:      []string{"nearest is", "zone=a not b", "TaintNotTolerated"},
	}, {
		// Its selector matches the h100 nodes; their taint alone keeps it off three of them.
		name: "h100-untolerated", category: contract.SchedulingConstraint,
		cause: contract.TaintNotTolerated, object: "node/gpu-1", field: "spec.taints[nvidia.com/gpu]",
		summary: []string{"node gpu-1 has taint nvidia.com/gpu=present:NoSchedule, and Pod cause/h100-untolerated lacks a toleration for it (its tolerations: dedicated Equal db NoSchedule)",
			"nodes gpu-1, gpu-2, gpu-5 fit the pod otherwise"},
		evidence: []string{"node gpu-1 spec.taints: nvidia.com/gpu=present:NoSchedule", "Pod cause/h100-untolerated spec.tolerations: dedicated Equal db NoSchedule"},
		fix:      []string{"{key: nvidia.com/gpu, operator: Equal, value: present, effect: NoSchedule}"},
		text:     []string{"cause: TaintNotTolerated node/gpu-1 spec.taints[nvidia.com/gpu]: node gpu-1 has taint"},
	}, {
		// A selector that matches no node: the labels the nodes have, and no cause.
		name: "b200", category: contract.SchedulingConstraint,
		evidence: []string{"node selector (gpu=b200) matches none of the 7 nodes", "label gpu on nodes: a100 (gpu-3), h100 (gpu-1, gpu-2, gpu-4, gpu-5)"},
		verdict: []string{"No node of 7 fits Pod cause/b200: its node selector (gpu=b200) matches none of the 7 nodes; label gpu on nodes: a100 (gpu-3), h100 (gpu-1, gpu-2, gpu-4, gpu-5); " +
			"nearest is gpu-1, which does not match the node selector (gpu=h100 not b200)."},
		not: []string{"cause:", "taint"},
	}, {
		name: "rwx-ebs", category: contract.PVCPending,
		cause: contract.AccessModeUnsupported, object: "persistentvolumeclaim/cause/shared-ebs", field: "spec.accessModes",
		summary:  []string{"PersistentVolumeClaim cause/shared-ebs asks for ReadWriteMany, which its StorageClass ebs-gp3 cannot give: provisioner ebs.csi.aws.com gives only ReadWriteOnce, ReadWriteOncePod"},
		evidence: []string{"spec.accessModes: [ReadWriteMany]", "StorageClass ebs-gp3 provisioner: ebs.csi.aws.com", "event ProvisioningFailed: " + provisioning},
		fix:      []string{"recreate PersistentVolumeClaim cause/shared-ebs", "with StorageClass efs-sc (efs.csi.aws.com), which gives ReadWriteMany"},
		verdict:  []string{"PersistentVolumeClaim cause/shared-ebs asks for ReadWriteMany, which provisioner ebs.csi.aws.com of its StorageClass ebs-gp3 cannot give"},
	}, {
		// A file system gives ReadWriteMany; a provisioner the table does not know is not judged.
		name: "rwx-efs", category: contract.Unschedulable, not: []string{"cause:"},
	}, {
		name: "rwx-unknown", category: contract.Unschedulable, not: []string{"cause:"},
	}}

	s := connect(t, env, scheduler.Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { assertCause(t, s, "cause", tc) })
	}
}

// assertCause asks explain_pending about tc's object in ns and checks the answer against tc.
func assertCause(t *testing.T, s *session, ns string, tc causeCase) {
	t.Helper()
	args := map[string]any{"namespace": ns, "name": tc.name}
	if tc.kind != "" {
		args["kind"] = tc.kind
	}
	var d contract.Explanation
	out := s.With(t).Data("explain_pending", args, &d)
	if d.Category != tc.category {
		t.Errorf("category = %s, want %s:\n%s", d.Category, tc.category, out)
	}
	if tc.cause == "" {
		if d.Cause != nil {
			t.Errorf("a cause where none is established: %+v", d.Cause)
		}
	} else if d.Cause == nil {
		t.Fatalf("no cause, want %s %s %s:\n%s", tc.cause, tc.object, tc.field, out)
	} else if d.Cause.Category != tc.cause || d.Cause.Object != tc.object || d.Cause.Field != tc.field {
		t.Errorf("cause = %s %s %s, want %s %s %s", d.Cause.Category, d.Cause.Object, d.Cause.Field, tc.cause, tc.object, tc.field)
	}
	var summary string
	var evidence []string
	fixes := []string{}
	if d.Cause != nil {
		summary, evidence = d.Cause.Summary, d.Cause.Evidence
		if d.Cause.Fix == nil || d.Cause.Fix.Text == "" {
			t.Errorf("the cause has no fix: %+v", d.Cause)
		} else {
			fixes = append(fixes, d.Cause.Fix.Text)
		}
	}
	evidence = append(evidence, d.Evidence...)
	for _, f := range d.Fixes {
		fixes = append(fixes, f.Text)
	}
	mustContain(t, summary, tc.summary...)
	for _, want := range tc.evidence {
		if !slices.ContainsFunc(evidence, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("no evidence says %q:\n%s", want, strings.Join(evidence, "\n"))
		}
	}
	mustContain(t, strings.Join(fixes, "\n"), tc.fix...)
	mustContain(t, d.Verdict, tc.verdict...)
	mustContain(t, out, tc.text...)
	// What the answer says, before the node table's facts.
	said, _, _ := strings.Cut(out, "\nnodes: ")
	for _, no := range tc.not {
		if strings.Contains(said, no) || strings.Contains(out, "nearest node: ") && no == "nearest" {
			t.Errorf("the answer says %q:\n%s", no, out)
		}
	}
}
