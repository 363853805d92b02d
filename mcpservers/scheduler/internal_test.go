package scheduler

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

func TestParseFailedScheduling(t *testing.T) {
	total, reasons, pre := parseFailedScheduling("0/12 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, " +
		"3 node(s) didn't match pod anti-affinity rules, 8 Insufficient nvidia.com/gpu. preemption: 0/12 nodes are available: 4 No preemption victims found for incoming pod, 8 Preemption is not helpful for scheduling.")
	if total != 12 {
		t.Errorf("total = %d, want 12", total)
	}
	var got []string
	for _, r := range reasons {
		got = append(got, fmt.Sprintf("%s=%d", r.reason, r.nodes))
	}
	want := "Insufficient nvidia.com/gpu=8; node(s) didn't match pod anti-affinity rules=3; node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }=1"
	if strings.Join(got, "; ") != want {
		t.Errorf("reasons = %q\nwant      %q", strings.Join(got, "; "), want)
	}
	if !strings.HasPrefix(pre, "0/12 nodes are available: 4 No preemption victims") {
		t.Errorf("preemption = %q", pre)
	}
	// A reason with commas inside its braces stays one reason.
	_, reasons, _ = parseFailedScheduling("0/3 nodes are available: 3 node(s) had untolerated taint {a: b, c: d}.")
	if len(reasons) != 1 || reasons[0].nodes != 3 || reasons[0].reason != "node(s) had untolerated taint {a: b, c: d}" {
		t.Errorf("reasons = %+v", reasons)
	}
	if total, reasons, _ := parseFailedScheduling("pod has unbound immediate PersistentVolumeClaims"); total != 0 || reasons != nil {
		t.Errorf("an unparsable message gave %d, %v", total, reasons)
	}
}

// TestPodRequests: sums of containers, the largest init container, sidecars and overhead, as
// the scheduler counts them; limits stand in for missing requests.
func TestPodRequests(t *testing.T) {
	res := func(cpu, gpu string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse(cpu)}}
		if gpu != "" {
			r.Limits = corev1.ResourceList{"nvidia.com/gpu": apiresource.MustParse(gpu)}
		}
		return r
	}
	spec := corev1.PodSpec{
		Containers:     []corev1.Container{{Resources: res("1", "2")}, {Resources: res("500m", "")}},
		InitContainers: []corev1.Container{{Resources: res("4", "")}, {Resources: res("250m", ""), RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
		Overhead:       corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("100m")},
	}
	got := podRequests(&spec)
	// cpu: max(1 + 0.5 + 0.25 sidecar, 4 init) + 0.1 overhead = 4.1
	if got[corev1.ResourceCPU] != 4100 || got["nvidia.com/gpu"] != 2000 {
		t.Errorf("requests = %v, want cpu 4100m and 2 GPUs", got)
	}
	if s := reqSummary(got); s != "nvidia.com/gpu 2, cpu 4100m" {
		t.Errorf("summary = %q", s)
	}
	if q := qty(corev1.ResourceMemory, 64<<30*1000); q != "64Gi" {
		t.Errorf("qty(memory) = %q", q)
	}
}

// TestClusterQueueBothVersions: a ClusterQueue as v1beta1 spells it (spec.cohort) and as v1beta2
// does (spec.cohortName) reads the same.
func TestClusterQueueBothVersions(t *testing.T) {
	for _, field := range []string{"cohort", "cohortName"} {
		u := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": "team-a"},
			"spec": map[string]any{field: "research", "resourceGroups": []any{map[string]any{
				"coveredResources": []any{"nvidia.com/gpu"},
				"flavors": []any{map[string]any{"name": "h100", "resources": []any{
					map[string]any{"name": "nvidia.com/gpu", "nominalQuota": "32", "borrowingLimit": int64(4)}}}}}}},
			"status": map[string]any{"admittedWorkloads": int64(3), "flavorsUsage": []any{map[string]any{"name": "h100",
				"resources": []any{map[string]any{"name": "nvidia.com/gpu", "total": "34", "borrowed": "2"}}}}},
		}}
		cq := parseClusterQueue(u)
		f := cq.groups[0].flavors[0]
		room, why := cq.headroom(f, "nvidia.com/gpu", 100_000)
		if cq.cohort != "research" || f.quotas["nvidia.com/gpu"].nominal != 32000 || cq.admitted != 3 || room != 0 || why != "borrowing limit 4" {
			t.Errorf("%s: cohort %q, quota %+v, admitted %d, room %d (%s)", field, cq.cohort, f.quotas, cq.admitted, room, why)
		}
	}
}

// TestAcceleratorLabels: the labels that say a node has a vendor's accelerators, by domain, and
// the ones that do not.
func TestAcceleratorLabels(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		domain string
		want   string
	}{
		{map[string]string{"nvidia.com/gpu.present": "true", "kubernetes.io/hostname": "n"}, "nvidia.com", "nvidia.com/gpu.present=true"},
		{map[string]string{"nvidia.com/gpu.present": "false"}, "nvidia.com", ""},
		{map[string]string{"nvidia.com/gpu.count": "8", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, "nvidia.com", "nvidia.com/gpu.count=8, nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3"},
		{map[string]string{"feature.node.kubernetes.io/pci-10de.present": "true"}, "nvidia.com", "feature.node.kubernetes.io/pci-10de.present=true"},
		{map[string]string{"feature.node.kubernetes.io/pci-0302_10de.present": "true"}, "nvidia.com", "feature.node.kubernetes.io/pci-0302_10de.present=true"},
		{map[string]string{"node.kubernetes.io/instance-type": "p4d.24xlarge"}, "nvidia.com", "node.kubernetes.io/instance-type=p4d.24xlarge"},
		{map[string]string{"node.kubernetes.io/instance-type": "g5.12xlarge"}, "nvidia.com", "node.kubernetes.io/instance-type=g5.12xlarge"},
		{map[string]string{"node.kubernetes.io/instance-type": "a3-highgpu-8g"}, "nvidia.com", "node.kubernetes.io/instance-type=a3-highgpu-8g"},
		{map[string]string{"node.kubernetes.io/instance-type": "Standard_ND96asr_v4"}, "nvidia.com", "node.kubernetes.io/instance-type=Standard_ND96asr_v4"},
		{map[string]string{"node.kubernetes.io/instance-type": "Standard_NC24ads_A100_v4"}, "nvidia.com", "node.kubernetes.io/instance-type=Standard_NC24ads_A100_v4"},
		{map[string]string{"node.kubernetes.io/instance-type": "g4ad.xlarge"}, "nvidia.com", ""},
		{map[string]string{"node.kubernetes.io/instance-type": "g4ad.xlarge"}, "amd.com", "node.kubernetes.io/instance-type=g4ad.xlarge"},
		{map[string]string{"node.kubernetes.io/instance-type": "trn1.32xlarge"}, "aws.amazon.com", "node.kubernetes.io/instance-type=trn1.32xlarge"},
		{map[string]string{"node.kubernetes.io/instance-type": "m5.4xlarge"}, "nvidia.com", ""},
		{map[string]string{"node.kubernetes.io/instance-type": "n2-standard-8"}, "nvidia.com", ""},
		{map[string]string{"node.kubernetes.io/instance-type": "Standard_D8s_v5"}, "nvidia.com", ""},
		{map[string]string{"gpu": "h100"}, "nvidia.com", ""},
	} {
		n := &corev1.Node{}
		n.Labels = tc.labels
		if got := strings.Join(acceleratorLabels(n, tc.domain), ", "); got != tc.want {
			t.Errorf("%v for %s: %q, want %q", tc.labels, tc.domain, got, tc.want)
		}
	}
}

// TestHoldersWords: on a node the pod may use whose GPUs are only taken, the pods that hold
// them are named with their owner and priority class, and one of higher priority is said not
// to be preempted for the pod; the scheduler's Preempted message is read for its preemptor.
func TestHoldersWords(t *testing.T) {
	gpu := corev1.ResourceName("nvidia.com/gpu")
	holder := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "sweep-0", UID: "8d1f2a7e-0c55-4d5e-9d1e-3c1b0a9e7f11",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "eval-sweep", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{PriorityClassName: "research-burst", Priority: ptr.To[int32](100000), Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{gpu: apiresource.MustParse("8")}}}}}}
	idle := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "web-0"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "scorer-x"}}
	n := &nodeState{node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-a"}}, alloc: resList{gpu: 8000}, used: resList{gpu: 8000}, pods: []*corev1.Pod{holder, idle}}
	small := &nodeState{node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-b"}}, alloc: resList{gpu: 4000}, pods: nil}
	e := &evaluation{pod: pending, req: resList{gpu: 8000}, results: []*nodeResult{
		{n: n, fails: []failure{{predResources, "gpu"}}, lack: resList{gpu: 8000}},
		{n: small, fails: []failure{{predResources, "gpu"}}, lack: resList{gpu: 4000}}, // too small even empty: not "taken"
	}}
	got := holdersWords(e)
	want := "on node gpu-a the nvidia.com/gpu it lacks is held by pod ml/sweep-0 (of Job eval-sweep), priorityClassName research-burst (priority 100000, above this pod's 0, so it is not preempted for it)"
	if got != want {
		t.Errorf("holdersWords = %q\nwant %q", got, want)
	}
	v := &clusterView{pods: []*corev1.Pod{holder, idle}}
	m := preemptedBy.FindStringSubmatch("Preempted by pod 8d1f2a7e-0c55-4d5e-9d1e-3c1b0a9e7f11 on node gpu-a")
	if m == nil || v.podByUID(m[1]) != holder || m[2] != "gpu-a" {
		t.Errorf("Preempted message read as %q", m)
	}
	if m := preemptedBy.FindStringSubmatch("Preempted by a pod on node gpu-a"); m == nil || m[1] != "" || m[2] != "gpu-a" {
		t.Errorf("Preempted message without a UID read as %q", m)
	}
}
