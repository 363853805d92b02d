package scheduler_test

import (
	"context"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// The devices control plane: an old GPU node whose device plugin advertises its GPUs, two new
// p5 nodes that GPU Feature Discovery labels as H100 nodes but that advertise no nvidia.com/gpu,
// and two CPU nodes (cpu-b cordoned).
//
//	node     nvidia.com/gpu  labels                                                  taints / state
//	gpu-old  8               p4d.24xlarge, gpu.present, gpu.deploy.device-plugin=true   nvidia.com/gpu=present:NoSchedule
//	p5-1     -               p5.48xlarge, gpu.present, gpu.product=NVIDIA-H100-80GB-HBM3 nvidia.com/gpu=present:NoSchedule
//	p5-2     -               (as p5-1)                                                  nvidia.com/gpu=present:NoSchedule
//	cpu-a    -               -                                                          -
//	cpu-b    -               -                                                          cordoned
func devicesCluster(t *testing.T) *testbed.Env {
	t.Helper()
	env := devices.Env(t)
	devicesOnce.Do(func() { makeDevicesCluster(t, env) })
	return env
}

var devicesOnce sync.Once

func makeDevicesCluster(t *testing.T, env *testbed.Env) {
	c := env.Client
	taints := []corev1.Taint{gpuTaint}
	p5 := map[string]string{"node.kubernetes.io/instance-type": "p5.48xlarge", "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
	for _, n := range []nodeSpec{
		{name: "gpu-old", cpu: "96", gpus: 8, taints: taints, labels: map[string]string{"node.kubernetes.io/instance-type": "p4d.24xlarge",
			"nvidia.com/gpu.present": "true", "nvidia.com/gpu.deploy.device-plugin": "true"}},
		{name: "p5-1", cpu: "192", taints: taints, labels: p5},
		{name: "p5-2", cpu: "192", taints: taints, labels: p5},
		{name: "cpu-a", cpu: "16"},
		{name: "cpu-b", cpu: "16", cordoned: true},
	} {
		makeNode(t, c, n)
	}
	for _, ns := range []string{"ml", "gpu-operator", "db"} {
		ensureNamespace(t, c, ns)
	}
}

// TestGPUNodesNotAdvertised: a pod that selects the new p5 nodes and requests their GPUs is
// explained by the GPUs those nodes do not advertise — not by the old node's instance-type label
// — and by what the device plugin's DaemonSet does there: nothing (none exists), a nodeSelector
// that excludes them, a taint it does not tolerate, pods that fail with an NVML error, or (for an
// identity that may not list DaemonSets) that this is unknown.
func TestGPUNodesNotAdvertised(t *testing.T) {
	env := devicesCluster(t)
	c := env.Client
	create(t, c, makePod(podSpec{ns: "ml", name: "train-p5", cpu: "8", gpus: 8, tolerate: true,
		selector: map[string]string{"node.kubernetes.io/instance-type": "p5.48xlarge"}}))
	s := connect(t, env, scheduler.Config{})
	base := causeCase{
		name: "train-p5", category: contract.InsufficientGPU,
		cause: contract.ResourceNotAdvertised, object: "node/p5-1", field: "status.allocatable[nvidia.com/gpu]",
		summary: []string{"nodes p5-1, p5-2 look like nvidia.com nodes (node.kubernetes.io/instance-type=p5.48xlarge, nvidia.com/gpu.present=true, nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3) but advertise no nvidia.com/gpu (requested by container main)"},
		evidence: []string{"node p5-1 labels node.kubernetes.io/instance-type=p5.48xlarge", "status.allocatable has nothing of nvidia.com/",
			"Pod ml/train-p5 spec.containers[main].resources.requests[nvidia.com/gpu]: 8", "nodes advertise nvidia.com/gpu: gpu-old 8"},
		verdict: []string{"No node of 5 fits Pod ml/train-p5: nodes p5-1, p5-2 look like nvidia.com nodes"},
		// Before, the old node's label explained it: "nearest is gpu-old, which does not match the
		// node selector (node.kubernetes.io/instance-type=p4d.24xlarge not p5.48xlarge)".
		not: []string{"nearest", "p4d.24xlarge not p5.48xlarge", "SchedulingConstraint"},
	}

	// No NVIDIA device plugin: AMD's serves other devices.
	amd := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "amdgpu-device-plugin-daemonset"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "amdgpu-dp-ds"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"name": "amdgpu-dp-ds"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "amdgpu-dp-cntr", Image: "rocm/k8s-device-plugin"}}}}}}
	create(t, c, amd)
	tc := base
	tc.summary = append(tc.summary, "no device-plugin DaemonSet for nvidia.com/ exists in any namespace")
	tc.evidence = append(tc.evidence, "DaemonSets in any namespace: 1, none a device plugin for nvidia.com/")
	tc.fix = []string{"deploy the device plugin for nvidia.com/ resources", "so that it runs on nodes p5-1, p5-2"}
	assertCause(t, s, "ml", tc)

	// The GPU Operator's device plugin selects nodes by a label the new nodes lack.
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "gpu-operator", Name: "nvidia-device-plugin-daemonset",
		Labels: map[string]string{"app": "nvidia-device-plugin-daemonset"}},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nvidia-device-plugin-daemonset"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nvidia-device-plugin-daemonset"}},
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"nvidia.com/gpu.deploy.device-plugin": "true"}, Tolerations: tolerateGPU,
					Containers: []corev1.Container{{Name: "nvidia-device-plugin", Image: "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"}}}}}}
	create(t, c, ds)
	tc = base
	tc.summary = append(tc.summary, "DaemonSet gpu-operator/nvidia-device-plugin-daemonset does not run on nodes p5-1, p5-2: its nodeSelector nvidia.com/gpu.deploy.device-plugin=true excludes them (p5-1: no nvidia.com/gpu.deploy.device-plugin")
	tc.evidence = append(tc.evidence, "DaemonSet gpu-operator/nvidia-device-plugin-daemonset: desired 0, ready 0, nodeSelector nvidia.com/gpu.deploy.device-plugin=true")
	tc.fix = []string{"label nodes p5-1, p5-2 so that DaemonSet gpu-operator/nvidia-device-plugin-daemonset selects them (nodeSelector nvidia.com/gpu.deploy.device-plugin=true)"}
	assertCause(t, s, "ml", tc)

	// Without the selector and the toleration, the nodes' taint keeps it off.
	ds.Spec.Template.Spec.NodeSelector, ds.Spec.Template.Spec.Tolerations = nil, nil
	if err := c.Update(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	tc = base
	tc.summary = append(tc.summary, "it does not tolerate their taints (p5-1: nvidia.com/gpu=present:NoSchedule; p5-2: nvidia.com/gpu=present:NoSchedule)")
	tc.fix = []string{"add to DaemonSet gpu-operator/nvidia-device-plugin-daemonset spec.template.spec.tolerations {key: nvidia.com/gpu, operator: Equal, value: present, effect: NoSchedule}"}
	assertCause(t, s, "ml", tc)

	// Tolerated, it runs on p5-1, where its container fails to initialize NVML; p5-2 has no pod yet.
	ds.Spec.Template.Spec.Tolerations = tolerateGPU
	if err := c.Update(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	nvml := "failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND"
	plugin := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "gpu-operator", Name: "nvidia-device-plugin-daemonset-x7k2p",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: "p5-1", Tolerations: tolerateGPU, Containers: ds.Spec.Template.Spec.Containers}}
	create(t, c, plugin)
	plugin.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "nvidia-device-plugin",
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, Message: nvml}}}}}
	if err := c.Status().Update(context.Background(), plugin); err != nil {
		t.Fatal(err)
	}
	s.Eventually("explain_pending", map[string]any{"namespace": "ml", "name": "train-p5"}, nvml)
	tc = base
	tc.summary = append(tc.summary, "DaemonSet gpu-operator/nvidia-device-plugin-daemonset's pods on node p5-1 fail: pod gpu-operator/nvidia-device-plugin-daemonset-x7k2p on node p5-1: container nvidia-device-plugin CrashLoopBackOff",
		"last terminated Error (exit 1): "+nvml, "has no pod on node p5-2")
	tc.evidence = append(tc.evidence, "pod gpu-operator/nvidia-device-plugin-daemonset-x7k2p on node p5-1: container nvidia-device-plugin CrashLoopBackOff back-off 5m0s restarting failed container; last terminated Error (exit 1): "+nvml)
	tc.fix = []string{"repair DaemonSet gpu-operator/nvidia-device-plugin-daemonset's pods on node p5-1", "GPU driver is not loaded"}
	assertCause(t, s, "ml", tc)

	// An identity that may read everything the server needs but DaemonSets: the cause stands, and
	// says what it could not see.
	create(t, c,
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "scheduler-no-daemonsets"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments", "statefulsets"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"batch"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scheduler-no-daemonsets"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "scheduler-no-daemonsets"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "no-daemonsets", APIGroup: "rbac.authorization.k8s.io"}}})
	cfg, err := env.UserConfig("no-daemonsets")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := scheduler.New(ctx, cfg, scheduler.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tc = base
	tc.summary = append(tc.summary, "whether a device-plugin DaemonSet runs there is unknown: this server may not list daemonsets in all namespaces (RBAC)")
	tc.evidence = append(tc.evidence, "RBAC denied listing daemonsets.apps in all namespaces")
	tc.fix = []string{"grant this server list on daemonsets.apps"}
	assertCause(t, mcptest.Connect(t, srv.MCP), "ml", tc)

	// A pod that tolerates no GPU taint: the old node, which advertises its GPUs, is kept off by
	// its taint alone; the new nodes would fail that taint too, so they are not the cause.
	create(t, c, makePod(podSpec{ns: "ml", name: "untolerated", cpu: "1", gpus: 1}))
	s.Eventually("explain_pending", map[string]any{"namespace": "ml", "name": "untolerated"}, "Pod ml/untolerated")
	assertCause(t, s, "ml", causeCase{name: "untolerated", category: contract.SchedulingConstraint,
		cause: contract.TaintNotTolerated, object: "node/gpu-old", field: "spec.taints[nvidia.com/gpu]"})
}

// TestVolumeNodeAffinityConflict: pods whose claims are bound to local PersistentVolumes pinned
// to one node are explained by the volume: ReferenceMissing when that node no longer exists,
// with the scheduler's "volume node affinity conflict" quoted; TaintNotTolerated when it exists
// but is cordoned (its node.kubernetes.io/unschedulable taint keeps the pod off). The fix keeps the data: bring the node back or restore it elsewhere.
func TestVolumeNodeAffinityConflict(t *testing.T) {
	env := devicesCluster(t)
	c := env.Client
	ctx := context.Background()
	local := func(pvName, claimName, node string) {
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pvName}, Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("100Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "local-storage",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd1"}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: "db", Name: claimName},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}}}
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: claimName}, Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("local-storage"), VolumeName: pvName, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("100Gi")}}}}
		create(t, c, pv, pvc)
		pv.Status.Phase = corev1.VolumeBound
		pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: pvc.Spec.AccessModes, Capacity: pv.Spec.Capacity}
		if err := c.Status().Update(ctx, pv); err != nil {
			t.Fatal(err)
		}
		if err := c.Status().Update(ctx, pvc); err != nil {
			t.Fatal(err)
		}
	}
	local("local-pv-gone", "data-pg-0", "ip-10-0-1-7.ec2.internal")
	local("local-pv-cordoned", "data-pg-1", "cpu-b")
	create(t, c, makePod(podSpec{ns: "db", name: "pg-0", cpu: "2", mutate: claim("data-pg-0")}),
		makePod(podSpec{ns: "db", name: "pg-1", cpu: "2", mutate: claim("data-pg-1")}))
	conflict := "0/5 nodes are available: 1 node(s) were unschedulable, 4 node(s) had volume node affinity conflict. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
	now := metav1.Now()
	create(t, c, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg-0.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "db", Name: "pg-0"},
		Reason:         "FailedScheduling", Message: conflict, Type: corev1.EventTypeWarning, Count: 3, FirstTimestamp: now, LastTimestamp: now})
	s := connect(t, env, scheduler.Config{})
	s.Eventually("explain_pending", map[string]any{"namespace": "db", "name": "pg-0"}, "volume node affinity conflict. preemption")
	for _, tc := range []causeCase{{
		name: "pg-0", category: contract.SchedulingConstraint,
		cause: contract.ReferenceMissing, object: "persistentvolume/local-pv-gone", field: "spec.nodeAffinity",
		summary: []string{"PersistentVolume local-pv-gone, bound to claim data-pg-0 of Pod db/pg-0, may be used only on node ip-10-0-1-7.ec2.internal (kubernetes.io/hostname In [ip-10-0-1-7.ec2.internal])",
			"node ip-10-0-1-7.ec2.internal does not exist", "volume node affinity conflict"},
		evidence: []string{"PersistentVolume local-pv-gone spec.nodeAffinity.required: kubernetes.io/hostname In [ip-10-0-1-7.ec2.internal]",
			"PersistentVolumeClaim db/data-pg-0 spec.volumeName: local-pv-gone", "PersistentVolume local-pv-gone spec.local.path: /mnt/disks/ssd1",
			"scheduler: " + conflict},
		fix:     []string{"bring node ip-10-0-1-7.ec2.internal back", "restore the data elsewhere", "recreate PersistentVolume local-pv-gone and PersistentVolumeClaim db/data-pg-0", "deleting the claim alone does not move the data"},
		verdict: []string{"No node can run Pod db/pg-0: its claim data-pg-0 is bound to PersistentVolume local-pv-gone", "allows no schedulable node"},
		text:    []string{"cause: ReferenceMissing persistentvolume/local-pv-gone spec.nodeAffinity"},
	}, {
		name: "pg-1", category: contract.SchedulingConstraint,
		cause: contract.TaintNotTolerated, object: "persistentvolume/local-pv-cordoned", field: "spec.nodeAffinity",
		summary: []string{"may be used only on node cpu-b", "node cpu-b exists but is cordoned"},
		fix:     []string{"make that node usable for the pod again (node cpu-b exists but is cordoned)", "do not delete the claim before the data is safe"},
	}} {
		t.Run(tc.name, func(t *testing.T) { assertCause(t, s, "db", tc) })
	}
}
