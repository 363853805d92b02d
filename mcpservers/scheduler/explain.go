package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

type explainArgs struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Output    string `json:"output,omitempty"`
}

func (a *explainArgs) Validate() error {
	if strings.TrimSpace(a.Namespace) == "" {
		return errors.New(`argument "namespace" is required`)
	}
	if strings.TrimSpace(a.Name) == "" {
		return errors.New(`argument "name" is required`)
	}
	return nil
}

func namespaceParam() mcp.ToolOption {
	return mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the object"), mcp.MinLength(1), mcp.MaxLength(63))
}

func nameParam(what string) mcp.ToolOption {
	return mcp.WithString("name", mcp.Required(), mcp.Description("name of the "+what), mcp.MinLength(1), mcp.MaxLength(253))
}

func (t *tools) explainTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.New(mcptool.Spec{
			Name: "explain_pending",
			Description: "Explain why a pod, a Job (or any owner of pods) or a Kueue Workload is not running, and what would make it run. " +
				"Answers with a one-sentence verdict, ranked concrete fixes, the scheduler's own word (PodScheduled and FailedScheduling " +
				"parsed into per-reason node counts), queue admission (Kueue Workload conditions and ClusterQueue quota per flavor; " +
				"Volcano PodGroup and Queue), and its own evaluation of every node against the pod: resources (cpu, memory, " +
				"nvidia.com/gpu, MIG and other extended resources, counting what bound pods request), nodeSelector and node affinity, " +
				"taints, cordons, PVCs and StorageClasses, required pod (anti-)affinity and topology spread — as a table of nodes " +
				"and the predicates they fail, nearest first.",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{
				namespaceParam(), nameParam("pod, Job, Workload or other owner"),
				mcp.WithString("kind", mcp.DefaultString("pod"), mcp.MaxLength(63), mcp.Description(
					"pod (default), job, workload (a Kueue Workload), or the kind of any other owner of pods (replicaset, statefulset, deployment, a custom kind)")),
				mcp.WithString("output", mcp.Description("text (default, for people and models) or json (verdict, root-cause category, fixes and evidence for programs, such as opsmesh's runbook engine)"), mcp.Enum("text", "json")),
			},
		}, t.explainPending),
	}
}

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

func (t *tools) explainPending(ctx context.Context, a explainArgs) (string, error) {
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return "", err
	}
	tg, err := t.resolveTarget(ctx, a)
	if err != nil {
		return "", err
	}
	rep, err := t.explain(ctx, tg)
	if err != nil {
		return "", err
	}
	if a.Output == "json" {
		return rep.json(t.maxBytes)
	}
	return rep.render(t.maxBytes), nil
}

// ExplainJSON is explain_pending's answer with output: json.
type ExplainJSON struct {
	// Target is what was explained, such as "Pod ml/train-0".
	Target  string `json:"target"`
	Verdict string `json:"verdict"`
	// Category is the verdict's root-cause category in opsmesh's taxonomy (package diagnosis):
	// InsufficientGPU, GPUFragmentation, InsufficientResources, SchedulingConstraint, NodeCordoned, PVCPending,
	// QueueQuotaExhausted, QueueClosed, GangUnsatisfiable, Suspended, Unschedulable, or
	// NoProblemFound when it is not pending.
	Category string    `json:"category"`
	Fixes    []FixJSON `json:"fixes"`
	// Evidence are the facts the verdict rests on: what the object requests, the scheduler's
	// word, the nearest node and what it lacks.
	Evidence []string `json:"evidence"`
	Notes    []string `json:"notes,omitempty"`
}

// FixJSON is one ranked fix: in words and, when it is one tool call, the tool and its arguments
// (without dryRun). Fixes are alternatives, best first, not steps.
type FixJSON struct {
	Text      string         `json:"text"`
	Tool      string         `json:"tool,omitempty"`
	Arguments map[string]any `json:"arguments,omitempty"`
}

// json renders the explanation as ExplainJSON within max bytes.
func (x *explanation) json(max int) (string, error) {
	out := ExplainJSON{Target: x.tg.ref, Verdict: x.verdict, Category: x.category, Fixes: []FixJSON{}, Evidence: []string{x.status}, Notes: x.notes}
	seen := map[string]bool{}
	for _, f := range x.fixes {
		if !seen[f.text] {
			seen[f.text] = true
			out.Fixes = append(out.Fixes, FixJSON{Text: f.text, Tool: f.tool, Arguments: f.args})
		}
	}
	if w := x.sched; w != nil && w.message != "" {
		out.Evidence = append(out.Evidence, "scheduler: "+w.message)
	}
	if e := x.eval; e != nil && len(e.results) > 0 && len(e.fitting()) == 0 {
		near := e.nearest()[0]
		out.Evidence = append(out.Evidence, fmt.Sprintf("nearest node: %s %s", near.n.node.Name, lacks(near, e.req)))
	}
	for len(out.Fixes) > 1 {
		b, err := json.Marshal(out)
		if err != nil {
			return "", err
		}
		if len(b) < max {
			return string(b) + "\n", nil
		}
		out.Fixes = out.Fixes[:len(out.Fixes)-1]
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", err
	}
	return mcptool.Cap(string(b)+"\n", max), nil
}

// nodeCategory names why no node fits after the best of the node fixes (the lowest rank, then
// the most nodes opened): what the explanation itself would change first.
func nodeCategory(e *evaluation, fixes []fix) string {
	if e == nil || len(e.results) == 0 {
		return diagnosis.InsufficientResource
	}
	if len(e.fitting()) > 0 {
		return diagnosis.Unschedulable
	}
	if e.volumeFailure != nil {
		return diagnosis.PVCPending
	}
	gpu := false
	for _, res := range e.req.names() {
		if res == "nvidia.com/gpu" || res == "nvidia.com/gpu.shared" || strings.HasPrefix(string(res), "nvidia.com/mig-") {
			gpu = true
		}
	}
	insufficient := diagnosis.InsufficientResource
	if gpu {
		insufficient = diagnosis.InsufficientGPU
	}
	if len(fixes) == 0 {
		return insufficient
	}
	best := slices.MinFunc(fixes, func(a, b fix) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return b.unlocks - a.unlocks
	})
	switch best.rank {
	case rankVolume:
		return diagnosis.PVCPending
	case rankToleration, rankSpread, rankPodAffinity, rankSelector:
		return diagnosis.SchedulingConstraint
	case rankUncordon:
		return diagnosis.NodeCordoned
	case rankReduce, rankPreempt, rankCapacity:
		if _, ok := fragmented(e); ok && gpu {
			return diagnosis.GPUFragmentation
		}
		return insufficient
	}
	// A combination on the nearest node: its first failing check.
	for _, f := range e.nearest()[0].fails {
		switch f.pred {
		case predResources:
			return insufficient
		case predUnschedulable:
			return diagnosis.NodeCordoned
		}
		return diagnosis.SchedulingConstraint
	}
	return diagnosis.Unschedulable
}

// resolveTarget finds the object and the pod to evaluate.
func (t *tools) resolveTarget(ctx context.Context, a explainArgs) (*target, error) {
	kind := strings.ToLower(strings.TrimSpace(a.Kind))
	tg := &target{ns: a.Namespace}
	switch kind {
	case "", "pod", "pods", "po":
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
	case "job", "jobs":
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
	case "workload", "workloads", "wl":
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
	tg.ref = fmt.Sprintf("%s %s/%s", kindTitle(kind), a.Namespace, a.Name)
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

func kindTitle(kind string) string {
	switch kind {
	case "deployment", "deployments", "deploy":
		return "Deployment"
	case "replicaset", "replicasets", "rs":
		return "ReplicaSet"
	case "statefulset", "statefulsets", "sts":
		return "StatefulSet"
	}
	if kind == "" {
		return kind
	}
	return strings.ToUpper(kind[:1]) + kind[1:]
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

// explanation is explain_pending's answer before rendering.
type explanation struct {
	tg       *target
	verdict  string
	category string // the verdict's root-cause category (package diagnosis)
	fixes    []fix
	status   string // the first line: what the object is and requests
	sched    *schedWord
	queue    []string // Kueue / Volcano sections
	eval     *evaluation
	view     *clusterView
	notes    []string
}

// fix is one change that would let the workload run.
type fix struct {
	text    string
	rank    int // lower first
	unlocks int // nodes it alone makes fit
	// tool and args are the fix as one tool call, when it is one (without dryRun).
	tool string
	args map[string]any
}

func (t *tools) explain(ctx context.Context, tg *target) (*explanation, error) {
	v, err := t.view(ctx)
	if err != nil {
		return nil, err
	}
	x := &explanation{tg: tg, view: v}
	pod := tg.pod
	if pod == nil {
		return nil, fmt.Errorf("%s has no pods and no pod template to evaluate", tg.ref)
	}
	req := podRequests(&pod.Spec)
	x.status = t.statusLine(tg, req)
	if v.confined {
		x.notes = append(x.notes, fmt.Sprintf("this server sees pods only in %s (--allow-namespaces): pods elsewhere are not counted, so free capacity may be overstated", strings.Join(t.k.Allow, ", ")))
	}

	// The scheduler's word.
	if !tg.fromTemplate {
		events, err := t.k.events(ctx, pod.Namespace, "Pod", pod.Name)
		if err != nil {
			return nil, err
		}
		x.sched = readSchedWord(pod, events)
	}

	// Our evaluation of every node.
	vol, err := t.checkVolumes(ctx, pod)
	if err != nil {
		return nil, err
	}
	x.eval = evaluate(v, pod, vol)
	x.notes = append(x.notes, x.eval.notes...)

	// Queues: their verdicts come before the nodes', since an unadmitted workload has no pods to place.
	kq, err := t.kueueFor(ctx, tg)
	if err != nil {
		return nil, err
	}
	vq, err := t.volcanoFor(ctx, tg, x.eval)
	if err != nil {
		return nil, err
	}
	for _, q := range []*queueReport{kq, vq} {
		if q == nil {
			continue
		}
		x.queue = append(x.queue, q.section)
		x.fixes = append(x.fixes, q.fixes...)
		if x.verdict == "" && q.verdict != "" {
			x.verdict, x.category = q.verdict, q.category
		}
		x.notes = append(x.notes, q.notes...)
	}

	bound := pod.Spec.NodeName != "" && !tg.fromTemplate
	switch {
	case x.verdict != "":
		// the queue holds it back
	case tg.job != nil && tg.job.Spec.Suspend != nil && *tg.job.Spec.Suspend && tg.pending() == 0:
		x.verdict, x.category = fmt.Sprintf("%s is suspended (spec.suspend: true), so it has no pods to schedule.", refOf(tg.job)), diagnosis.Suspended
		x.fixes = append(x.fixes, fix{text: fmt.Sprintf("resume Job %s/%s (job_resume)", tg.job.Namespace, tg.job.Name), rank: -1,
			tool: "job_resume", args: map[string]any{"namespace": tg.job.Namespace, "name": tg.job.Name}})
	case bound && tg.pending() == 0:
		x.verdict, x.category = fmt.Sprintf("%s is not pending: %s is bound to node %s (phase %s).", tg.ref, podRef(pod), pod.Spec.NodeName, pod.Status.Phase), diagnosis.NoProblemFound
		return x, nil
	case len(pod.Spec.SchedulingGates) > 0:
		var gates []string
		for _, g := range pod.Spec.SchedulingGates {
			gates = append(gates, g.Name)
		}
		x.verdict, x.category = fmt.Sprintf("%s is held by scheduling gates %s: the scheduler does not consider it until they are removed.", podRef(pod), strings.Join(gates, ", ")), diagnosis.SchedulingConstraint
		x.fixes = append(x.fixes, fix{text: fmt.Sprintf("find the controller that owns gate %s and why it has not removed it", gates[0]), rank: -1})
	}
	if !bound {
		nodeVerdict, fixes := nodeVerdict(x.eval, v, tg)
		if x.verdict == "" {
			x.verdict, x.category = nodeVerdict, nodeCategory(x.eval, fixes)
			if fr, ok := fragmented(x.eval); ok && x.category == diagnosis.GPUFragmentation {
				x.verdict += " The free GPUs are fragmented: " + fr.words() + "."
			}
		}
		x.fixes = append(x.fixes, fixes...)
	}
	slices.SortStableFunc(x.fixes, func(a, b fix) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return b.unlocks - a.unlocks
	})
	return x, nil
}

func refOf(j *batchv1.Job) string { return "Job " + j.Namespace + "/" + j.Name }

func podRef(p *corev1.Pod) string { return "pod " + p.Namespace + "/" + p.Name }

// statusLine says what the object is, how many of its pods wait, and what one requests.
func (t *tools) statusLine(tg *target, req resList) string {
	p := tg.pod
	var b strings.Builder
	b.WriteString(tg.ref)
	switch {
	case tg.fromTemplate:
		b.WriteString(": no pods yet; evaluating its pod template")
	case len(tg.pods) > 1 || tg.job != nil && !strings.HasPrefix(tg.ref, "Pod "):
		fmt.Fprintf(&b, ": %d of %d pods pending; evaluating %s", tg.pending(), len(tg.pods), p.Name)
	default:
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		fmt.Fprintf(&b, ": %s", phase)
		if p.Spec.NodeName != "" {
			b.WriteString(" on node " + p.Spec.NodeName)
		}
	}
	fmt.Fprintf(&b, ". Requests %s; priority %d", reqSummary(req), priorityOf(p))
	if p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName {
		fmt.Fprintf(&b, "; scheduler %s", p.Spec.SchedulerName)
	}
	b.WriteString(".")
	return b.String()
}

// nodeVerdict words the evaluation as one sentence, and the fixes it suggests.
func nodeVerdict(e *evaluation, v *clusterView, tg *target) (string, []fix) {
	fixes := nodeFixes(e, v)
	who := tg.ref
	if !strings.HasPrefix(tg.ref, "Pod ") {
		who = "the pods of " + tg.ref
	}
	if len(v.nodes) == 0 {
		return fmt.Sprintf("No node can run %s: the cluster has no nodes.", who), fixes
	}
	if fit := e.fitting(); len(fit) > 0 {
		var names []string
		for _, r := range fit[:min(len(fit), 3)] {
			names = append(names, r.n.node.Name)
		}
		more := ""
		if len(fit) > 3 {
			more = fmt.Sprintf(" and %d more", len(fit)-3)
		}
		return fmt.Sprintf("%d of %d nodes fit %s now (%s%s) by this evaluation; if it stays pending, the scheduler is slow to retry or applies a check this evaluation does not (see the scheduler's word).",
			len(fit), len(v.nodes), who, strings.Join(names, ", "), more), fixes
	}
	if e.volumeFailure != nil {
		return fmt.Sprintf("No node can run %s: %s.", who, e.volumeFailure.verdict), fixes
	}
	counts := map[string]int{}
	lacking := map[string]bool{}
	for _, r := range e.results {
		for _, f := range r.fails {
			counts[f.pred]++
		}
		for res := range r.lack {
			lacking[string(res)] = true
		}
	}
	var parts []string
	for _, p := range predOrder {
		n := counts[p]
		if n == 0 {
			continue
		}
		switch p {
		case predResources:
			names := slices.Sorted(func(yield func(string) bool) {
				for k := range lacking {
					if !yield(k) {
						return
					}
				}
			})
			parts = append(parts, fmt.Sprintf("%d lack %s", n, strings.Join(names, " and ")))
		case predTaints:
			parts = append(parts, fmt.Sprintf("%d have a taint it does not tolerate", n))
		case predAffinity:
			parts = append(parts, fmt.Sprintf("%d do not match its node selector or affinity", n))
		case predUnschedulable:
			parts = append(parts, fmt.Sprintf("%d are cordoned", n))
		case predVolumes:
			parts = append(parts, fmt.Sprintf("%d conflict with its volumes", n))
		case predPodAffinity:
			parts = append(parts, fmt.Sprintf("%d fail its pod affinity or anti-affinity", n))
		case predSpread:
			parts = append(parts, fmt.Sprintf("%d would break its topology spread", n))
		}
	}
	near := e.nearest()[0]
	return fmt.Sprintf("No node of %d fits %s: %s; nearest is %s, which %s.", len(v.nodes), who, strings.Join(parts, ", "), near.n.node.Name, lacks(near, e.req)), fixes
}

// lacks says what a node lacks for the pod, in words: "lacks 4 nvidia.com/gpu and is cordoned".
func lacks(r *nodeResult, req resList) string {
	var parts []string
	for _, f := range r.fails {
		switch f.pred {
		case predResources:
			var l []string
			for _, res := range r.lack.names() {
				if res == corev1.ResourcePods {
					l = append(l, "room for another pod")
					continue
				}
				l = append(l, fmt.Sprintf("%s %s (has %s free of %s requested)", qty(res, r.lack[res]), res, qty(res, max(req[res]-r.lack[res], 0)), qty(res, req[res])))
			}
			parts = append(parts, "lacks "+strings.Join(l, " and "))
		case predTaints:
			parts = append(parts, "has untolerated taint "+f.detail)
		case predAffinity:
			parts = append(parts, "does not match the node selector ("+f.detail+")")
		case predUnschedulable:
			parts = append(parts, "is cordoned")
		case predVolumes:
			parts = append(parts, "conflicts with its volumes ("+f.detail+")")
		case predPodAffinity:
			parts = append(parts, "fails pod "+f.detail)
		case predSpread:
			parts = append(parts, "breaks topology spread ("+f.detail+")")
		}
	}
	if len(parts) == 0 {
		return "fits"
	}
	return strings.Join(parts, " and ")
}

// render writes the explanation: verdict and fixes first, then the evidence, within max bytes.
func (x *explanation) render(max int) string {
	var b strings.Builder
	b.WriteString(x.status + "\n")
	b.WriteString("verdict: " + x.verdict + "\n")
	if len(x.fixes) > 0 {
		b.WriteString("\nfixes, most effective first:\n")
		seen := map[string]bool{}
		n := 0
		for _, f := range x.fixes {
			if seen[f.text] {
				continue
			}
			seen[f.text] = true
			n++
			fmt.Fprintf(&b, "%d. %s\n", n, f.text)
		}
	}
	if w := x.sched; w != nil && (w.cond != nil || w.message != "") {
		b.WriteString("\nscheduler's word:")
		if w.cond != nil {
			fmt.Fprintf(&b, " PodScheduled=%s", w.cond.Status)
			if w.cond.Reason != "" {
				b.WriteString(" (" + w.cond.Reason + ")")
			}
		}
		if w.events > 0 {
			fmt.Fprintf(&b, "; FailedScheduling ×%d, last %s ago", w.events, time.Since(w.last).Round(time.Second))
		}
		b.WriteString("\n")
		if w.message != "" {
			b.WriteString("  " + w.message + "\n")
		}
		if len(w.reasons) > 0 {
			var rs []string
			for _, r := range w.reasons {
				rs = append(rs, fmt.Sprintf("%d %s", r.nodes, r.reason))
			}
			fmt.Fprintf(&b, "  per reason (of %d nodes): %s\n", w.total, strings.Join(rs, "; "))
		}
	}
	for _, q := range x.queue {
		b.WriteString("\n" + q)
	}
	if e := x.eval; e != nil && len(e.results) > 0 && !(x.tg.pod.Spec.NodeName != "" && !x.tg.fromTemplate) {
		fit := len(e.fitting())
		fmt.Fprintf(&b, "\nnodes: %d evaluated, %d fit; nearest first\n", len(e.results), fit)
		b.WriteString(x.nodeTable(max - b.Len() - 512))
		if fit == 0 {
			near := e.nearest()[0]
			fmt.Fprintf(&b, "nearest node: %s %s\n", near.n.node.Name, lacks(near, e.req))
		}
	}
	for _, n := range x.notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

// nodeTable renders nodes × the predicates they fail ("-" where they pass), with what each node
// has free of the requested resources.
func (x *explanation) nodeTable(room int) string {
	e := x.eval
	failing := map[string]bool{}
	for _, r := range e.results {
		for _, f := range r.fails {
			failing[f.pred] = true
		}
	}
	var cols []string
	for _, p := range predOrder {
		if failing[p] {
			cols = append(cols, p)
		}
	}
	tbl := mcptool.Table{Header: append(append([]string{"NODE"}, cols...), "FREE")}
	for _, r := range e.nearest() {
		row := []string{r.n.node.Name}
		for _, c := range cols {
			cell := "-"
			if f := r.failing(c); f != nil {
				cell = f.detail
			}
			row = append(row, cell)
		}
		var free []string
		for _, res := range e.req.names() {
			free = append(free, shortRes(res)+" "+qty(res, max(r.n.free(res), 0)))
		}
		row = append(row, strings.Join(free, " "))
		tbl.Add(row...)
	}
	return tbl.Render(max(room, 1024))
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
