package scheduler_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// The fleet every test on the plain control plane sees: seven nodes, and pods bound to them.
//
//	node    GPUs  used  free  labels                 taints / state
//	gpu-1   8     3     5     gpu=h100               nvidia.com/gpu=present:NoSchedule
//	gpu-2   8     7     1     gpu=h100               nvidia.com/gpu=present:NoSchedule
//	gpu-3   4     0     4     gpu=a100; 7 MIG 1g.10gb (6 used)   nvidia.com/gpu=present:NoSchedule
//	gpu-4   8     0     8     gpu=h100               nvidia.com/gpu=present:NoSchedule, cordoned
//	gpu-5   8     1     7     gpu=h100               nvidia.com/gpu=present:NoSchedule
//	cpu-1   -     -     -     zone=a, disktype=ssd   (holds app=web and two app=spread pods)
//	cpu-2   -     -     -     zone=b, 4 CPUs         dedicated=db:NoSchedule
//
// The GPU pods bound there all have priority 0: fleet/a (1 GPU) and fleet/b (2) on gpu-1,
// fleet/c (7) on gpu-2, fleet/g (1) on gpu-5. StorageClasses: standard (the default,
// csi.example.com, a provisioner no table knows), ebs-gp3 (ebs.csi.aws.com, block) and efs-sc
// (efs.csi.aws.com, a shared file system), all WaitForFirstConsumer.
var fleetOnce sync.Once

func fleet(t *testing.T) *testbed.Env {
	t.Helper()
	env := plain.Env(t)
	fleetOnce.Do(func() {
		c := env.Client
		h100 := map[string]string{"gpu": "h100"}
		taints := []corev1.Taint{gpuTaint}
		for _, n := range []nodeSpec{
			{name: "gpu-1", cpu: "32", gpus: 8, labels: h100, taints: taints},
			{name: "gpu-2", cpu: "32", gpus: 8, labels: h100, taints: taints},
			{name: "gpu-3", cpu: "32", gpus: 4, labels: map[string]string{"gpu": "a100"}, taints: taints,
				extra: corev1.ResourceList{"nvidia.com/mig-1g.10gb": apiresource.MustParse("7")}},
			{name: "gpu-4", cpu: "32", gpus: 8, labels: h100, taints: taints, cordoned: true},
			{name: "gpu-5", cpu: "32", gpus: 8, labels: h100, taints: taints},
			{name: "cpu-1", cpu: "32", labels: map[string]string{"zone": "a", "disktype": "ssd"}},
			{name: "cpu-2", cpu: "4", labels: map[string]string{"zone": "b"},
				taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}},
		} {
			makeNode(t, c, n)
		}
		ensureNamespace(t, c, "fleet")
		ensureNamespace(t, c, "pred")
		create(t, c,
			&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 500},
			&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard",
				Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
				Provisioner: "csi.example.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)},
			&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "ebs-gp3"},
				Provisioner: "ebs.csi.aws.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)},
			&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "efs-sc"},
				Provisioner: "efs.csi.aws.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)},
		)
		for _, p := range []podSpec{
			{ns: "fleet", name: "a", node: "gpu-1", gpus: 1, tolerate: true, cpu: "1"},
			{ns: "fleet", name: "b", node: "gpu-1", gpus: 2, tolerate: true, cpu: "1"},
			{ns: "fleet", name: "c", node: "gpu-2", gpus: 7, tolerate: true, cpu: "1"},
			{ns: "fleet", name: "g", node: "gpu-5", gpus: 1, tolerate: true, cpu: "1"},
			{ns: "fleet", name: "mig-user", node: "gpu-3", tolerate: true, cpu: "1",
				extra: corev1.ResourceList{"nvidia.com/mig-1g.10gb": apiresource.MustParse("6")}},
			{ns: "fleet", name: "web-0", node: "cpu-1", cpu: "500m", labels: map[string]string{"app": "web"}},
			{ns: "pred", name: "spread-0", node: "cpu-1", cpu: "500m", labels: map[string]string{"app": "spread"}},
			{ns: "pred", name: "spread-1", node: "cpu-1", cpu: "500m", labels: map[string]string{"app": "spread"}},
		} {
			create(t, c, makePod(p))
		}
	})
	return env
}

// predCase is a pending pod built to fail one predicate on the fleet, with what explain_pending
// must say about it.
type predCase struct {
	pod      podSpec
	verdict  []string // the verdict says each
	firstFix string   // the first ranked fix says this
	alsoFix  []string // the answer also says each
	table    []string // the node table says each
}

func claim(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}}
	}
}

var predicateCases = []predCase{{
	pod: podSpec{name: "train-8gpu", gpus: 8, cpu: "4", tolerate: true},
	verdict: []string{"No node of 7 fits Pod pred/train-8gpu", "6 lack nvidia.com/gpu", "1 are cordoned",
		"nearest is gpu-4, which is cordoned",
		"The free GPUs are fragmented: 13 nvidia.com/gpu are free across 3 nodes (gpu-5 (7 free), gpu-1 (5 free), gpu-2 (1 free)), but no node has the 8 one pod requests free."},
	firstFix: "reduce nvidia.com/gpu from 8 to 7: node gpu-5 has 7 free",
	alsoFix:  []string{"uncordon node gpu-4", "consolidate the fragmented GPUs (13 nvidia.com/gpu are free across 3 nodes"},
	table:    []string{"gpu 8>7 free", "gpu 8>5 free", "cordoned"},
}, {
	// 13 GPUs are free on 8-GPU nodes but no node has 16: capacity, not fragmentation.
	pod:      podSpec{name: "train-16gpu", gpus: 16, cpu: "4", tolerate: true},
	verdict:  []string{"No node of 7 fits Pod pred/train-16gpu", "7 lack nvidia.com/gpu"},
	firstFix: "reduce nvidia.com/gpu from 16 to 7: node gpu-5 has 7 free",
	alsoFix:  []string{"no node has 16 nvidia.com/gpu allocatable (the largest is"},
}, {
	pod: podSpec{name: "no-toleration", gpus: 2, cpu: "1"},
	verdict: []string{"No node of 7 fits Pod pred/no-toleration", "have a taint it does not tolerate",
		"nearest is gpu-1, which has untolerated taint nvidia.com/gpu=present:NoSchedule"},
	firstFix: "add a toleration for nvidia.com/gpu=present:NoSchedule: then nodes gpu-1, gpu-3, gpu-5 fit",
}, {
	pod:      podSpec{name: "wrong-selector", cpu: "1", selector: map[string]string{"disktype": "nvme"}},
	verdict:  []string{"its node selector (disktype=nvme) matches none of the 7 nodes; label disktype on nodes: ssd (cpu-1)", "nearest is cpu-1, which does not match the node selector (disktype=ssd not nvme)"},
	firstFix: "change its nodeSelector/node affinity: node cpu-1 fits otherwise (cpu-1: disktype=ssd not nvme)",
}, {
	pod:      podSpec{name: "needs-gpu-4", gpus: 8, cpu: "1", tolerate: true, selector: map[string]string{"kubernetes.io/hostname": "gpu-4"}},
	verdict:  []string{"No node of 7 fits Pod pred/needs-gpu-4", "nearest is gpu-4, which is cordoned"},
	firstFix: "uncordon node gpu-4 (node_uncordon in the cluster server)",
}, {
	pod:      podSpec{name: "pvc-missing", cpu: "1", mutate: claim("data-missing")},
	verdict:  []string{"No node can run Pod pred/pvc-missing: it mounts PersistentVolumeClaim pred/data-missing, which does not exist."},
	firstFix: "create PersistentVolumeClaim pred/data-missing",
	table:    []string{"PVC data-missing missing"},
}, {
	pod:      podSpec{name: "pvc-no-class", cpu: "1", mutate: claim("data-fast")},
	verdict:  []string{`PersistentVolumeClaim pred/data-fast is unbound: its StorageClass "fast-nvme" does not exist`},
	firstFix: "create StorageClass fast-nvme, or recreate PersistentVolumeClaim pred/data-fast with an existing one (StorageClasses: ebs-gp3, efs-sc, standard)",
}, {
	pod: podSpec{name: "anti", cpu: "1", labels: map[string]string{"app": "web"}, selector: map[string]string{"zone": "a"},
		mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Namespaces:    []string{"fleet"}, TopologyKey: "kubernetes.io/hostname"}}}}
		}},
	verdict:  []string{"fail its pod affinity or anti-affinity", "nearest is cpu-1, which fails pod anti-affinity: fleet/web-0 in same kubernetes.io/hostname"},
	firstFix: "relax its required pod affinity/anti-affinity (or move the pods it conflicts with): node cpu-1 fails only that",
}, {
	pod: podSpec{name: "spread-2", cpu: "1", labels: map[string]string{"app": "spread"}, mutate: func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone",
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}}}}
	}},
	verdict:  []string{"would break its topology spread", "nearest is cpu-1, which breaks topology spread (skew 3>1 on zone)"},
	firstFix: "add a toleration for dedicated=db:NoSchedule: then node cpu-2 fits",
	alsoFix:  []string{"raise maxSkew of its topologySpreadConstraints, or set whenUnsatisfiable: ScheduleAnyway: node cpu-1 fails only the spread"},
}, {
	pod:      podSpec{name: "too-much-cpu", cpu: "64"},
	verdict:  []string{"lack cpu"},
	firstFix: "reduce cpu from 64 to 30500m: node cpu-1 has 30500m free",
	alsoFix:  []string{"no node has 64 cpu allocatable (the largest is cpu-1 with 32)"},
}, {
	// pinned to a node whose GPUs its pods hold: the shortage is the symptom, and the holders
	// are named, whatever the selector keeps it off
	pod:      podSpec{name: "pinned-gpu-1", gpus: 8, cpu: "1", tolerate: true, selector: map[string]string{"kubernetes.io/hostname": "gpu-1"}},
	verdict:  []string{"On node gpu-1 the nvidia.com/gpu it lacks is held by pod fleet/a; pod fleet/b"},
	firstFix: "reduce nvidia.com/gpu from 8 to 5: node gpu-1 has 5 free",
}, {
	// a host port another pod on the only node it may use holds (NodePorts)
	pod: podSpec{name: "host-port", cpu: "100m", selector: map[string]string{"zone": "a"}, mutate: func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100, HostPort: 9100}}
	}},
	verdict:  []string{"1 have a host port it asks for in use", "nearest is cpu-1, which has no free port for it (hostPort 9100/TCP held by pod pred/exporter-old)"},
	firstFix: "free the host port on node cpu-1",
}, {
	pod:      podSpec{name: "mig-2", cpu: "1", tolerate: true, extra: corev1.ResourceList{"nvidia.com/mig-1g.10gb": apiresource.MustParse("2")}},
	verdict:  []string{"lack nvidia.com/mig-1g.10gb", "nearest is gpu-3, which lacks 1 nvidia.com/mig-1g.10gb (has 1 free of 2 requested)"},
	firstFix: "reduce nvidia.com/mig-1g.10gb from 2 to 1: node gpu-3 has 1 free",
}}

// TestExplainPendingPredicates builds one pending pod per predicate on the fleet and checks the
// verdict and the first of the ranked fixes that explain_pending gives for it.
func TestExplainPendingPredicates(t *testing.T) {
	env := fleet(t)
	c := env.Client
	create(t, c,
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "pred", Name: "data-fast"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("fast-nvme"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("10Gi")}}}},
	)
	create(t, c, makePod(podSpec{ns: "pred", name: "exporter-old", node: "cpu-1", mutate: func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100, HostPort: 9100, Protocol: corev1.ProtocolTCP}}
	}}))
	for _, tc := range predicateCases {
		tc.pod.ns = "pred"
		create(t, c, makePod(tc.pod))
	}
	s := connect(t, env, scheduler.Config{})
	for _, tc := range predicateCases {
		t.Run(tc.pod.name, func(t *testing.T) {
			// The structured content is the contract's Explanation, beside the unchanged text.
			var d contract.Explanation
			out := s.With(t).Data("explain_pending", map[string]any{"namespace": "pred", "name": tc.pod.name}, &d)
			verdict := line(out, "verdict: ")
			for _, v := range tc.verdict {
				if !strings.Contains(verdict, v) {
					t.Errorf("verdict does not say %q:\n%s", v, out)
				}
			}
			if got := line(out, "1. "); !strings.Contains(got, tc.firstFix) {
				t.Errorf("first fix = %q, want it to say %q:\n%s", got, tc.firstFix, out)
			}
			mustContain(t, out, tc.alsoFix...)
			mustContain(t, out, tc.table...)
			mustContain(t, out, "Kueue: not installed", "Volcano: not installed")

			// A cause only where the explanation can name the object and field at fault.
			var cause string
			if d.Cause != nil {
				cause = string(d.Cause.Category) + " " + d.Cause.Object + " " + d.Cause.Field
			}
			if cause != predicateCauses[tc.pod.name] {
				t.Errorf("cause = %q, want %q: %+v", cause, predicateCauses[tc.pod.name], d.Cause)
			}
			if d.Verdict != verdict || d.Category != predicateCategories[tc.pod.name] || len(d.Fixes) == 0 || !strings.Contains(d.Fixes[0].Text, tc.firstFix) ||
				d.Target != "Pod pred/"+tc.pod.name || len(d.Evidence) == 0 || !strings.HasPrefix(out, d.Evidence[0]+"\n") {
				t.Errorf("structured: category %q (want %q), %+v", d.Category, predicateCategories[tc.pod.name], d)
			}

			// output: json says the same for programs (old clients), with the root-cause
			// category: its text is the structured content.
			var x, xd contract.Explanation
			js := s.With(t).Data("explain_pending", map[string]any{"namespace": "pred", "name": tc.pod.name, "output": "json"}, &xd)
			if err := json.Unmarshal([]byte(js), &x); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, js)
			}
			if !reflect.DeepEqual(x, xd) || !reflect.DeepEqual(x, d) {
				t.Errorf("output: json text and structured content differ:\ntext       %+v\nstructured %+v\nplain call %+v", x, xd, d)
			}
			if x.Verdict != verdict || x.Category != predicateCategories[tc.pod.name] || len(x.Fixes) == 0 || !strings.Contains(x.Fixes[0].Text, tc.firstFix) ||
				x.Target != "Pod pred/"+tc.pod.name {
				t.Errorf("json: category %q (want %q), %+v", x.Category, predicateCategories[tc.pod.name], x)
			}
			if tc.pod.name == "needs-gpu-4" && (x.Fixes[0].Tool != "node_uncordon" || x.Fixes[0].Arguments["name"] != "gpu-4") {
				t.Errorf("the uncordon fix is not a node_uncordon call: %+v", x.Fixes[0])
			}
			if tc.pod.name == "train-8gpu" {
				// A GPU pod pending on fragmentation: the fixes are alternatives, each said
				// once; the cordoned node that would fit is a node_uncordon call.
				var texts []string
				uncordon := false
				for _, f := range d.Fixes {
					texts = append(texts, f.Text)
					if f.Tool == "node_uncordon" && reflect.DeepEqual(f.Arguments, map[string]any{"name": "gpu-4"}) {
						uncordon = true
					}
				}
				if d.Category != contract.GPUFragmentation || !uncordon || len(d.Fixes) < 3 ||
					!slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, "consolidate the fragmented GPUs") }) {
					t.Errorf("train-8gpu: category %s, fixes %q (want GPUFragmentation, a node_uncordon call for gpu-4, and consolidation)", d.Category, texts)
				}
				if len(slices.Compact(slices.Sorted(slices.Values(texts)))) != len(texts) {
					t.Errorf("train-8gpu: a fix is listed twice: %q", texts)
				}
			}
		})
	}
}

// predicateCategories are the root-cause categories of the predicate cases' verdicts.
var predicateCategories = map[string]string{
	"train-8gpu": "GPUFragmentation", "train-16gpu": "InsufficientGPU", "no-toleration": "SchedulingConstraint", "wrong-selector": "SchedulingConstraint",
	"needs-gpu-4": "NodeCordoned", "pvc-missing": "PVCPending", "pvc-no-class": "PVCPending", "anti": "SchedulingConstraint",
	"spread-2": "SchedulingConstraint", "too-much-cpu": "InsufficientResources", "mig-2": "InsufficientGPU",
	"pinned-gpu-1": "InsufficientGPU", "host-port": "SchedulingConstraint",
}

// predicateCauses are the causes (category, object, field) of the predicate cases that have
// one: a taint alone keeps them off nodes that fit otherwise.
var predicateCauses = map[string]string{
	"no-toleration": "TaintNotTolerated node/gpu-1 spec.taints[nvidia.com/gpu]",
	"spread-2":      "TaintNotTolerated node/cpu-2 spec.taints[dedicated]",
	"host-port":     "ApplicationConfig pod/pred/host-port spec.containers[main].ports[metrics].hostPort",
}

// line returns the first line of text that starts with prefix, without the prefix.
func line(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return rest
		}
	}
	return ""
}
