package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
)

// Image is what the demo's containers run. On the sandbox kwok runs no container (the fault
// annotation decides the pod's state); on a real cluster these commands fail the same way.
const Image = "busybox:1.36"

// GPU coordinator: the demo's own coordinator, with remediation Auto, for its XID Incident.
const gpuCoordinator = "demo-gpu-coordinator"

// xidGPU is the GPU index the XID is injected on.
const xidGPU = 3

// inferenceScript is the inference server: it loads the file named by --config and refuses
// a non-positive max_batch_tokens.
const inferenceScript = `cfg="${1#--config=}"; echo "inference-server: loading $cfg"
if grep -q 'max_batch_tokens: -' "$cfg"; then echo "inference-server: error: $cfg: max_batch_tokens must be > 0" >&2; exit 1; fi
echo "inference-server: serving on :8000"; exec sleep 2147483647`

// workerScript reads a 256 MiB batch into memory (tail keeps a line, and /dev/zero has no
// newline), past its 64Mi limit.
const workerScript = `echo "feature-worker: loading a 256MiB batch"; head -c 268435456 /dev/zero | tail > /dev/null`

func (r *runner) scenarios() []scenario {
	r.placed = make(chan struct{})
	r.pendingDiagnosed = make(chan struct{})
	return []scenario{
		{name: ScenarioCrashLoop, title: "inference service crashlooping on a bad config (cluster specialist)",
			categories: []string{"CrashLoopBackOff"}, phases: []opsv1.IncidentPhase{opsv1.PhaseResolved},
			setup: r.setupCrashLoop, react: r.approveRollback,
			check: func(inc *opsv1.Incident) string { return actionIs(inc, "workload_rollback", opsv1.ActionSucceeded) }},
		{name: ScenarioPendingGPU, title: "training Job pending for GPUs (scheduler specialist)",
			categories: []string{"InsufficientGPU", "GPUFragmentation", "QueueQuotaExhausted"},
			phases:     []opsv1.IncidentPhase{opsv1.PhaseEscalated, opsv1.PhaseAwaitingApproval},
			setup:      r.setupPending, diagnosed: r.pendingDiagnosed},
		{name: ScenarioXID, title: "GPU XID 79 under a training Job (GPU specialist, simulated GPU)",
			categories: []string{"GPUXid79"}, phases: []opsv1.IncidentPhase{opsv1.PhaseAwaitingApproval},
			setup: r.setupXID,
			check: func(inc *opsv1.Incident) string {
				if m := actionIs(inc, "node_cordon", opsv1.ActionSucceeded); m != "" {
					return m
				}
				return actionIs(inc, "node_drain", opsv1.ActionAwaitingApproval)
			}},
		{name: ScenarioOOM, title: "worker OOMKilled (cluster specialist)",
			categories: []string{"OOMKilled"}, phases: []opsv1.IncidentPhase{opsv1.PhaseAwaitingApproval},
			setup: r.setupOOM,
			check: func(inc *opsv1.Incident) string {
				return actionIs(inc, "workload_set_resources", opsv1.ActionAwaitingApproval)
			}},
	}
}

// cpuOnly keeps a pod off GPU nodes, so that a GPU fault is never what explains it.
func cpuOnly() *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpDoesNotExist},
			{Key: "nvidia.com/gpu.present", Operator: corev1.NodeSelectorOpDoesNotExist}}}}}}}
}

// kwokToleration lets a pod onto kwok's nodes, which are often tainted kwok.x-k8s.io/node.
var kwokToleration = corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}

func gpuTolerations() []corev1.Toleration {
	return []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}, kwokToleration}
}

func labels(app string) map[string]string {
	return map[string]string{"app": app, OwnerLabel: ownerValue}
}

// --- 1: the inference service with a bad config

func (r *runner) setupCrashLoop(ctx context.Context) (*opsv1.TargetReference, error) {
	ns, name := NSInference, "llm-inference"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inference-config", Labels: labels(name)},
		Data: map[string]string{
			"config.yaml":    "model: llama-3-8b-instruct\nmax_batch_tokens: 8192\n",
			"config-v2.yaml": "model: llama-3-8b-instruct\nmax_batch_tokens: -1\n",
		}}
	if err := r.c.Create(ctx, cm); err != nil {
		return nil, fmt.Errorf("creating ConfigMap %s/%s: %w", ns, cm.Name, err)
	}
	sel := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels(name),
		Annotations: map[string]string{"kubernetes.io/change-cause": "v1: config.yaml"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(name)},
				Spec: corev1.PodSpec{Affinity: cpuOnly(), Tolerations: []corev1.Toleration{kwokToleration}, Containers: []corev1.Container{{Name: "server", Image: Image,
					Command: []string{"sh", "-c", inferenceScript, "inference-server"}, Args: []string{"--config=/etc/inference/config.yaml"},
					VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/inference"}}}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}}}}}}}
	if err := r.c.Create(ctx, d); err != nil {
		return nil, fmt.Errorf("creating Deployment %s/%s: %w", ns, name, err)
	}
	r.show.status(ScenarioCrashLoop, "revision 1 (config.yaml) rolling out")
	if _, err := r.podOf(ctx, ns, sel, "a Ready pod of Deployment "+ns+"/"+name+" revision 1", 2*time.Minute, ready); err != nil {
		return nil, err
	}
	// Revision 2: the bad config (and, for kwok, the crash loop it causes).
	if err := r.c.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", ns, name, err)
	}
	orig := d.DeepCopy()
	d.Annotations["kubernetes.io/change-cause"] = "v2: config-v2.yaml"
	d.Spec.Template.Annotations = map[string]string{FaultAnnotation: "CrashLoopBackOff"}
	d.Spec.Template.Spec.Containers[0].Args = []string{"--config=/etc/inference/config-v2.yaml"}
	if err := r.c.Patch(ctx, d, client.MergeFrom(orig)); err != nil {
		return nil, fmt.Errorf("rolling out revision 2 of Deployment %s/%s: %w", ns, name, err)
	}
	r.show.note("%s: Deployment %s/%s revision 2 rolled out with --config=/etc/inference/config-v2.yaml (max_batch_tokens: -1)%s", ScenarioCrashLoop, ns, name, r.kwokSays("CrashLoopBackOff"))
	return &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: name}, nil
}

// kwokSays labels a failure state that kwok, not a container, gives the pods.
func (r *runner) kwokSays(state string) string {
	if !r.anySimulated() {
		return ""
	}
	return fmt.Sprintf("; simulated: kwok gives its pods the %s state (annotation %s)", state, FaultAnnotation)
}

// approveRollback approves the rollback once it waits, as a user would with opsmesh approve.
func (r *runner) approveRollback(ctx context.Context, res *ScenarioResult, inc *opsv1.Incident) error {
	a := action(inc, "workload_rollback")
	if res.Approved != "" || inc.Status.Phase != opsv1.PhaseAwaitingApproval || a == nil || a.State != opsv1.ActionAwaitingApproval {
		return nil
	}
	cmd := fmt.Sprintf("opsmesh approve %s %s -n %s", inc.Name, a.ID, inc.Namespace)
	who, err := approval.WhoAmI(ctx, r.c)
	if err != nil {
		return err
	}
	r.show.note("%s: action %s (%s, %s) waits for approval; the demo approves it as you would:\n    $ %s", ScenarioCrashLoop, a.ID, a.Tool, a.Risk, cmd)
	if _, err := approval.Decide(ctx, r.c, types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}, a.ID, opsv1.DecisionApproved, who, "opsmesh demo: revision 2's config is bad"); err != nil {
		// Someone may have decided first (the command was printed as the action began to wait).
		var cur opsv1.Incident
		if gerr := r.c.Get(ctx, client.ObjectKeyFromObject(inc), &cur); gerr == nil {
			if d, ok := cur.ApprovalOf(a.ID); ok {
				r.show.note("    action %s was already %s by %s", a.ID, strings.ToLower(string(d.Decision)), d.By)
				res.Approved = cmd
				return nil
			}
		}
		return fmt.Errorf("%s: %w", cmd, err)
	}
	r.show.note("    Incident %s/%s: action %s (%s, %s) approved by %s", inc.Namespace, inc.Name, a.ID, a.Tool, a.Risk, who)
	res.Approved = cmd
	return nil
}

// --- 4: the OOMKilled worker

func (r *runner) setupOOM(ctx context.Context) (*opsv1.TargetReference, error) {
	ns, name := NSBatch, "feature-worker"
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels(name)},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(name), Annotations: map[string]string{FaultAnnotation: "OOMKilled"}},
				Spec: corev1.PodSpec{Affinity: cpuOnly(), Tolerations: []corev1.Toleration{kwokToleration}, Containers: []corev1.Container{{Name: "worker", Image: Image,
					Command: []string{"sh", "-c", workerScript},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi"), corev1.ResourceCPU: resource.MustParse("100m")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}}}}}
	if err := r.c.Create(ctx, d); err != nil {
		return nil, fmt.Errorf("creating Deployment %s/%s: %w", ns, name, err)
	}
	r.show.note("%s: Deployment %s/%s created (memory limit 64Mi; it loads 256MiB)%s", ScenarioOOM, ns, name, r.kwokSays("OOMKilled"))
	return &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: name}, nil
}

// --- 3: the XID 79

// gpuJob is a Job of one pod asking for n GPUs.
func gpuJob(ns, name string, n int64, affinity *corev1.Affinity) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels(name)},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(name)},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Affinity: affinity, Tolerations: gpuTolerations(),
				Containers: []corev1.Container{{Name: "trainer", Image: Image, Command: []string{"sh", "-c", "echo " + name + ": training; exec sleep 2147483647"},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{gpuRes: *resource.NewQuantity(n, resource.DecimalSI)}}}}}}}}
}

func (r *runner) simulatedGPUNodes() []corev1.Node {
	var out []corev1.Node
	for _, n := range r.nodes {
		if simulated(&n) && gpus(&n) > 0 {
			out = append(out, n)
		}
	}
	return out
}

func (r *runner) setupXID(ctx context.Context) (tgt *opsv1.TargetReference, err error) {
	defer func() {
		select {
		case <-r.placed:
		default:
			close(r.placed)
		}
	}()
	if r.cfg.Faults == nil {
		return nil, errSkip{"no fault injector: only the sandbox's simulated GPU node agents can report an XID on demand (run opsmesh sandbox up, then opsmesh demo)"}
	}
	sim := r.simulatedGPUNodes()
	if len(sim) == 0 {
		return nil, errSkip{fmt.Sprintf("no node labelled %s=true has nvidia.com/gpu: no simulated GPU to inject an XID into (the sandbox has them)", SimulatedLabel)}
	}
	ns, name := NSTraining, "llm-pretrain"
	onSimulated := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: SimulatedLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}}}}}
	if err := r.c.Create(ctx, gpuJob(ns, name, 4, onSimulated)); err != nil {
		return nil, fmt.Errorf("creating Job %s/%s: %w", ns, name, err)
	}
	r.show.status(ScenarioXID, "Job "+ns+"/"+name+" (4 GPUs) starting")
	p, err := r.podOf(ctx, ns, map[string]string{"app": name}, "the pod of Job "+ns+"/"+name+" to run", 2*time.Minute,
		func(p *corev1.Pod) bool { return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning })
	if err != nil {
		return nil, err
	}
	node := p.Spec.NodeName
	close(r.placed)
	r.show.note("%s: Job %s/%s runs on simulated node %s (pod %s, 4 GPUs)", ScenarioXID, ns, name, node, p.Name)
	if err := r.staleXIDIncidents(ctx, node); err != nil {
		return nil, err
	}
	if err := r.applyGPUCoordinator(ctx, node); err != nil {
		return nil, err
	}
	// The XID's cordon takes this node's free GPUs out of the count the pending-GPU
	// scenario's diagnosis makes (fragmentation): inject it once that diagnosis is in.
	r.show.status(ScenarioXID, "waiting for the diagnosis of "+ScenarioPendingGPU+" (this XID's cordon would change the GPUs it counts)")
	select {
	case <-r.pendingDiagnosed:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := r.cfg.Faults.InjectXID(ctx, node, xidGPU, 79); err != nil {
		return nil, fmt.Errorf("injecting XID 79 on GPU %d of node %s: %w", xidGPU, node, err)
	}
	r.show.note("%s: injected XID 79 (GPU has fallen off the bus) on GPU %d of node %s (simulated)", ScenarioXID, xidGPU, node)
	return &opsv1.TargetReference{Kind: "Node", Name: node}, nil
}

// staleXIDIncidents deletes the Incidents an earlier run's simulated XID on node raised: one
// still open (its drain waits) would take this run's XID as a repeat.
func (r *runner) staleXIDIncidents(ctx context.Context, node string) error {
	var l opsv1.IncidentList
	if err := r.c.List(ctx, &l, client.InNamespace(r.cfg.AgentNamespace), client.MatchingLabels{"node": node, "xid": "79", "simulated": "true"}); err != nil {
		return fmt.Errorf("listing earlier simulated XID Incidents of node %s: %w", node, err)
	}
	for i := range l.Items {
		inc := &l.Items[i]
		r.show.note("%s: deleting Incident %s/%s (a simulated XID 79 of an earlier demo run)", ScenarioXID, inc.Namespace, inc.Name)
		if err := r.c.Delete(ctx, inc); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Incident %s/%s: %w", inc.Namespace, inc.Name, err)
		}
	}
	return nil
}

// applyGPUCoordinator creates the demo's coordinator for this node's simulated XID 79: the
// sample coordinator's tools and delegates, with remediation Auto, so the safe cordon runs by
// itself while the destructive drain still waits.
func (r *runner) applyGPUCoordinator(ctx context.Context, node string) error {
	var agents opsv1.AgentList
	if err := r.c.List(ctx, &agents, client.InNamespace(r.cfg.AgentNamespace)); err != nil {
		return fmt.Errorf("listing the Agents of namespace %s: %w", r.cfg.AgentNamespace, err)
	}
	base := r.coordinator(agents.Items)
	if base == nil {
		return fmt.Errorf("namespace %s has no coordinator taking every Incident to copy", r.cfg.AgentNamespace)
	}
	old := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: r.cfg.AgentNamespace, Name: gpuCoordinator}}
	if err := r.c.Delete(ctx, old); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting Agent %s/%s of an earlier run: %w", old.Namespace, old.Name, err)
	}
	if err := r.wait(ctx, "Agent "+gpuCoordinator+" of an earlier run to go", time.Minute, func() (bool, error) {
		err := r.c.Get(ctx, client.ObjectKeyFromObject(old), &opsv1.Agent{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	a := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: r.cfg.AgentNamespace, Name: gpuCoordinator, Labels: map[string]string{OwnerLabel: ownerValue}},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator,
			Description: "opsmesh demo: takes the simulated XID 79 Incidents of node " + node + "; runs safe actions by itself",
			Tools:       base.Spec.Tools, Delegates: base.Spec.Delegates, Skills: base.Spec.Skills, Instructions: base.Spec.Instructions, Limits: base.Spec.Limits,
			IncidentSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"node": node, "xid": "79", "simulated": "true"}},
			Remediation:      &opsv1.RemediationPolicy{Mode: opsv1.RemediationAuto, MaxActions: ptr.To[int32](3)}}}
	if err := r.c.Create(ctx, a); err != nil {
		return fmt.Errorf("creating Agent %s/%s: %w", a.Namespace, a.Name, err)
	}
	r.show.status(ScenarioXID, "coordinator "+a.Namespace+"/"+a.Name+" (remediation Auto) turning Ready")
	if err := r.wait(ctx, "Agent "+a.Namespace+"/"+a.Name+" to be Ready (hosted by the runtime)", 2*time.Minute, func() (bool, error) {
		var cur opsv1.Agent
		if err := r.c.Get(ctx, client.ObjectKeyFromObject(a), &cur); err != nil {
			return false, err
		}
		return agentReady(&cur), nil
	}); err != nil {
		return err
	}
	r.show.note("%s: coordinator %s/%s (remediation Auto, incidentSelector node=%s,xid=79,simulated=true) is Ready", ScenarioXID, a.Namespace, a.Name, node)
	return nil
}

// --- 2: the training Job pending for GPUs

func (r *runner) setupPending(ctx context.Context) (*opsv1.TargetReference, error) {
	ns, name := NSTraining, "llm-finetune"
	select {
	case <-r.placed:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Ask for as many GPUs as the largest node has, and take one GPU (or more) of every
	// simulated GPU node that would still have that many free: no node fits.
	var most int64
	real := false
	for i := range r.nodes {
		n := &r.nodes[i]
		if g := gpus(n); g > 0 {
			most = max(most, g)
			real = real || !simulated(n)
		}
	}
	want := most
	switch {
	case most == 0:
		want = 8
	case real:
		want = most + 1 // never take a real GPU: ask for more than any node has
	}
	used, err := r.gpusInUse(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range r.simulatedGPUNodes() {
		free := gpus(&n) - used[n.Name]
		if free < want || n.Spec.Unschedulable {
			continue
		}
		take := free - want + 1
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gpu-reserved-" + n.Name, Labels: labels("gpu-reserved")},
			Spec: corev1.PodSpec{NodeName: n.Name, RestartPolicy: corev1.RestartPolicyNever, Tolerations: gpuTolerations(),
				Containers: []corev1.Container{{Name: "reserve", Image: Image, Command: []string{"sh", "-c", "exec sleep 2147483647"},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{gpuRes: *resource.NewQuantity(take, resource.DecimalSI)}}}}}}
		if err := r.c.Create(ctx, p); err != nil {
			return nil, fmt.Errorf("creating pod %s/%s: %w", ns, p.Name, err)
		}
		r.show.note("%s: pod %s/%s takes %d GPU(s) of simulated node %s, so that no node has %d free", ScenarioPendingGPU, ns, p.Name, take, n.Name, want)
	}
	if err := r.c.Create(ctx, gpuJob(ns, name, want, nil)); err != nil {
		return nil, fmt.Errorf("creating Job %s/%s: %w", ns, name, err)
	}
	r.show.note("%s: Job %s/%s asks for %d GPUs in one pod", ScenarioPendingGPU, ns, name, want)
	return &opsv1.TargetReference{APIVersion: "batch/v1", Kind: "Job", Namespace: ns, Name: name}, nil
}

// gpusInUse sums the GPU requests of the pods that hold GPUs, by node.
func (r *runner) gpusInUse(ctx context.Context) (map[string]int64, error) {
	var pods corev1.PodList
	if err := r.c.List(ctx, &pods); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	used := map[string]int64{}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, c := range p.Spec.Containers {
			q := c.Resources.Requests[gpuRes]
			if q.IsZero() {
				q = c.Resources.Limits[gpuRes]
			}
			used[p.Spec.NodeName] += q.Value()
		}
	}
	return used, nil
}
