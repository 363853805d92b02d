package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// disruption_check: a drain does not finish, or an eviction is refused; which
// PodDisruptionBudget allows no disruption of which pod.

func (t *tools) disruptionCheckTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "disruption_check",
			Description: "Whether PodDisruptionBudgets refuse evictions: for a node, the pods a drain would evict (DaemonSet and mirror " +
				"pods are skipped, as a drain does), or for one pod, the budgets that select each and whether they allow a disruption " +
				"(status.disruptionsAllowed, or computed from minAvailable/maxUnavailable and the pods' readiness when the disruption " +
				"controller has not yet). A budget that allows none is the cause of a drain that cannot finish. Pass node, or namespace and pod.",
			Params: []mcp.ToolOption{
				mcp.WithString("node", mcp.Description("the node being drained (or pass namespace and pod)"), mcp.MaxLength(253)),
				mcp.WithString("namespace", mcp.Description("with pod: its namespace"), mcp.MaxLength(63)),
				mcp.WithString("pod", mcp.Description("one pod whose eviction is refused"), mcp.MaxLength(253)),
			},
		}, t.disruptionCheck),
	}
}

type disruptionArgs struct {
	Node      string `json:"node,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
}

func (a *disruptionArgs) Validate() error {
	for _, f := range []struct {
		arg string
		v   *string
	}{{"node", &a.Node}, {"namespace", &a.Namespace}, {"pod", &a.Pod}} {
		if err := checkName(f.arg, f.v, false, `pass "node", or "namespace" and "pod"`); err != nil {
			return err
		}
	}
	switch {
	case a.Node != "" && (a.Pod != "" || a.Namespace != ""):
		return fmt.Errorf(`pass either "node" (every pod a drain of it would evict) or "namespace" and "pod", not both`)
	case a.Node == "" && a.Pod == "":
		return fmt.Errorf(`pass "node" (the node being drained) or "namespace" and "pod" (the pod whose eviction is refused)`)
	case a.Pod != "" && a.Namespace == "":
		return fmt.Errorf(`argument "namespace" is required with "pod"`)
	}
	return nil
}

// multiBudgetPod is a pod and the budgets (two or more) that select it.
type multiBudgetPod struct {
	pod     *corev1.Pod
	budgets []*policyv1.PodDisruptionBudget
}

// budgetState is a budget and what it allows now.
type budgetState struct {
	pdb      *policyv1.PodDisruptionBudget
	allowed  int32
	healthy  int32
	expected int32
	computed bool // from the spec and the pods, the status not being current
}

func (t *tools) disruptionCheck(ctx context.Context, a disruptionArgs) (contract.CheckReport, string, error) {
	r := &checkReport{}
	reader, err := t.k.cached(ctx)
	if err != nil {
		return r.CheckReport, "", err
	}
	var pods []*corev1.Pod
	skipped := 0
	where := ""
	if a.Node != "" {
		if err := t.clusterScoped("node " + a.Node); err != nil {
			return r.CheckReport, "", fmt.Errorf("%w; pass namespace and pod instead", err)
		}
		var n corev1.Node
		if err := reader.Get(ctx, client.ObjectKey{Name: a.Node}, &n); err != nil {
			return r.CheckReport, "", apiError(err, "get", objectRef("node", "", a.Node))
		}
		byNode, err := t.podsByNode(ctx)
		if err != nil {
			return r.CheckReport, "", err
		}
		for _, p := range byNode[a.Node] {
			if drainSkips(p) != "" {
				skipped++
				continue
			}
			pods = append(pods, p)
		}
		sort.Slice(pods, func(i, j int) bool { return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name })
		where = "node " + a.Node
		if n.Spec.Unschedulable {
			r.fact("node %s is cordoned (spec.unschedulable: true)", a.Node)
		}
	} else {
		if err := t.k.checkNamespace(a.Namespace); err != nil {
			return r.CheckReport, "", err
		}
		p, err := t.readPod(ctx, a.Namespace, a.Pod)
		if err != nil {
			return r.CheckReport, "", err
		}
		if why := drainSkips(p); why != "" {
			r.Checked = fmt.Sprintf("pod %s/%s is %s: a drain leaves it alone, so no PodDisruptionBudget is consulted", a.Namespace, a.Pod, why)
			return r.done(t.maxBytes)
		}
		pods = []*corev1.Pod{p}
		where = "pod " + a.Namespace + "/" + a.Pod
	}

	// The budgets of each namespace, and what each allows, read once.
	budgets := map[string][]*budgetState{}
	blocked := map[*budgetState][]*corev1.Pod{}
	var order, allowing []*budgetState
	var multi []multiBudgetPod // pods that more than one budget selects: never evictable
	selectedBy := 0
	for _, p := range pods {
		states, ok := budgets[p.Namespace]
		if !ok {
			if states, err = t.budgetsIn(ctx, reader, p.Namespace); err != nil {
				return r.CheckReport, "", err
			}
			budgets[p.Namespace] = states
		}
		matched := false
		var selecting []*policyv1.PodDisruptionBudget
		for _, b := range states {
			if !budgetSelects(b.pdb, p) {
				continue
			}
			matched = true
			selecting = append(selecting, b.pdb)
			if b.allowed > 0 {
				if !slices.Contains(allowing, b) {
					allowing = append(allowing, b)
				}
				continue
			}
			if _, seen := blocked[b]; !seen {
				order = append(order, b)
			}
			blocked[b] = append(blocked[b], p)
		}
		if matched {
			selectedBy++
		}
		if len(selecting) > 1 {
			multi = append(multi, multiBudgetPod{p, selecting})
		}
	}
	for _, b := range allowing {
		r.fact("PodDisruptionBudget %s/%s (%s; %d of %d pods healthy) allows %d disruption(s) now", b.pdb.Namespace, b.pdb.Name, budgetRule(b.pdb), b.healthy, b.expected, b.allowed)
	}
	r.Checked = fmt.Sprintf("%s: %s to evict", where, nOf(len(pods), "pod"))
	if a.Node != "" {
		r.Checked += fmt.Sprintf(" (%d DaemonSet, mirror or finished pods skipped, as a drain does)", skipped)
	}
	r.Checked += fmt.Sprintf("; %d of them selected by a PodDisruptionBudget", selectedBy)
	// One cause per workload and set of budgets: its first pod, the others counted.
	type multiKey struct{ workload, budgets string }
	var multiOrder []multiKey
	multiFirst, multiCount := map[multiKey]multiBudgetPod{}, map[multiKey]int{}
	for _, m := range multi {
		w := t.workloadOf(ctx, reader, m.pod)
		if w == "" {
			w = "pod " + m.pod.Name
		}
		var names []string
		for _, b := range m.budgets {
			names = append(names, b.Name)
		}
		slices.Sort(names)
		k := multiKey{m.pod.Namespace + "/" + w, strings.Join(names, ",")}
		if _, seen := multiFirst[k]; !seen {
			multiOrder = append(multiOrder, k)
			multiFirst[k] = m
		}
		multiCount[k]++
	}
	for _, k := range multiOrder {
		m := multiFirst[k]
		c := multiBudgetCause(m.pod, m.budgets, strings.TrimPrefix(k.workload, m.pod.Namespace+"/"))
		if n := multiCount[k]; n > 1 {
			c.Summary += fmt.Sprintf(" (and %d more of its pods there)", n-1)
		}
		r.cause(c)
	}
	if len(multi) > 0 {
		r.Checked += fmt.Sprintf("; %s selected by more than one budget, which the eviction API refuses: the drain fails", nOf(len(multi), "pod"))
	}
	if len(order) == 0 && len(multi) == 0 {
		r.Checked += "; every budget allows a disruption: no PodDisruptionBudget refuses these evictions"
		return r.done(t.maxBytes)
	}

	for _, b := range order {
		blockedPods := blocked[b]
		first := blockedPods[0]
		node := ""
		if first.Spec.NodeName != "" {
			node = " on node " + first.Spec.NodeName
		}
		also := ""
		if len(blockedPods) > 1 {
			also = fmt.Sprintf(" (and %d more of its pods there)", len(blockedPods)-1)
		}
		field := "spec.minAvailable"
		if b.pdb.Spec.MaxUnavailable != nil {
			field = "spec.maxUnavailable"
		}
		evidence := budgetEvidence(b)
		for _, p := range blockedPods {
			lines, err := t.eventLines(ctx, "Pod", p.Namespace, p.Name, string(p.UID), evictionEvent)
			if err == nil {
				evidence = append(evidence, lines...)
			}
		}
		if a.Node != "" {
			if lines, err := t.eventLines(ctx, "Node", "", a.Node, "", evictionEvent); err == nil {
				evidence = append(evidence, lines...)
			}
		}
		if lines, err := t.eventLines(ctx, "PodDisruptionBudget", b.pdb.Namespace, b.pdb.Name, string(b.pdb.UID), nil); err == nil {
			evidence = append(evidence, lines...)
		}
		r.cause(contract.Cause{
			Category: contract.DisruptionBudgetBlocks, Object: objectRef("poddisruptionbudget", b.pdb.Namespace, b.pdb.Name), Field: field,
			Summary: fmt.Sprintf("PodDisruptionBudget %s (%s; %d of %d pods healthy, %d disruptions allowed) refuses evicting pod %s%s, so the drain cannot finish%s",
				b.pdb.Name, budgetRule(b.pdb), b.healthy, b.expected, b.allowed, first.Name, node, also),
			Evidence: evidence,
			Fix:      &contract.Fix{Text: budgetFix(b, t.workloadOf(ctx, reader, first))},
		})
	}
	return r.done(t.maxBytes)
}

// drainSkips says why a drain leaves a pod alone ("" when it evicts it): mirror pods, DaemonSet
// pods and finished pods, as kubectl drain does.
func drainSkips(p *corev1.Pod) string {
	switch owner := metav1.GetControllerOf(p); {
	case p.Annotations[corev1.MirrorPodAnnotationKey] != "":
		return "a mirror (static) pod"
	case owner != nil && owner.Kind == "DaemonSet":
		return "a pod of DaemonSet " + owner.Name
	case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		return "finished (" + string(p.Status.Phase) + ")"
	case p.DeletionTimestamp != nil:
		return "already terminating"
	}
	return ""
}

// budgetSelects reports whether a budget selects a pod: policy/v1 budgets with a null selector select
// nothing, with an empty one every pod of the namespace.
func budgetSelects(b *policyv1.PodDisruptionBudget, p *corev1.Pod) bool {
	if b.Spec.Selector == nil || b.Namespace != p.Namespace {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
	return err == nil && sel.Matches(labels.Set(p.Labels))
}

// budgetsIn reads the budgets of a namespace and what each allows: its status when the
// disruption controller has computed it for the current spec, else computed here as that
// controller does, from the budget's rule and the matching pods' readiness (expected pods
// counted from the pods, not the workload's scale).
func (t *tools) budgetsIn(ctx context.Context, reader client.Reader, ns string) ([]*budgetState, error) {
	var list policyv1.PodDisruptionBudgetList
	if err := t.k.Direct.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, apiError(err, "list", "poddisruptionbudgets in namespace "+ns)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		return nil, apiError(err, "list", "pods in namespace "+ns)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	out := make([]*budgetState, 0, len(list.Items))
	for i := range list.Items {
		b := &budgetState{pdb: &list.Items[i]}
		s := b.pdb.Status
		if s.ObservedGeneration >= b.pdb.Generation && s.ObservedGeneration > 0 {
			b.allowed, b.healthy, b.expected = s.DisruptionsAllowed, s.CurrentHealthy, s.ExpectedPods
			out = append(out, b)
			continue
		}
		b.computed = true
		for j := range pods.Items {
			p := &pods.Items[j]
			if !budgetSelects(b.pdb, p) || podTerminated(p) || p.DeletionTimestamp != nil {
				continue
			}
			b.expected++
			if podIsReady(p) {
				b.healthy++
			}
		}
		var desired int32
		switch spec := b.pdb.Spec; {
		case spec.MinAvailable != nil:
			v, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(b.expected), true)
			if err != nil {
				continue
			}
			desired = int32(v)
		case spec.MaxUnavailable != nil:
			v, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(b.expected), true)
			if err != nil {
				continue
			}
			desired = max(b.expected-int32(v), 0)
		} // neither: the disruption controller asks for no healthy pods

		b.allowed = max(b.healthy-desired, 0)
		out = append(out, b)
	}
	return out, nil
}

func budgetEvidence(b *budgetState) []string {
	spec := fmt.Sprintf("PodDisruptionBudget %s spec: %s, selector %s", b.pdb.Name, budgetRule(b.pdb), selectorText(b.pdb.Spec.Selector))
	if b.pdb.Spec.UnhealthyPodEvictionPolicy != nil {
		spec += ", unhealthyPodEvictionPolicy " + string(*b.pdb.Spec.UnhealthyPodEvictionPolicy)
	}
	s := b.pdb.Status
	status := fmt.Sprintf("PodDisruptionBudget %s status: currentHealthy %d, desiredHealthy %d, expectedPods %d, disruptionsAllowed %d",
		b.pdb.Name, s.CurrentHealthy, s.DesiredHealthy, s.ExpectedPods, s.DisruptionsAllowed)
	if b.computed {
		status = fmt.Sprintf("PodDisruptionBudget %s status: not yet computed by the disruption controller; from its pods: %d of %d ready, so %d disruptions allowed",
			b.pdb.Name, b.healthy, b.expected, b.allowed)
	}
	return []string{spec, status}
}

// evictionEvent keeps the events that say an eviction was refused or a drain stalled.
func evictionEvent(e *corev1.Event) bool {
	m := strings.ToLower(e.Reason + " " + e.Message)
	return strings.Contains(m, "evict") || strings.Contains(m, "disruption budget") || strings.Contains(m, "drain")
}

// workloadOf names the workload that owns a pod, as kind/name ("deployment/web"), or "" for a bare pod.
func (t *tools) workloadOf(ctx context.Context, reader client.Reader, p *corev1.Pod) string {
	owner := metav1.GetControllerOf(p)
	if owner == nil {
		return ""
	}
	if owner.Kind == "ReplicaSet" {
		var rs appsv1.ReplicaSet
		if err := reader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: owner.Name}, &rs); err == nil {
			if d := metav1.GetControllerOf(&rs); d != nil && d.Kind == "Deployment" {
				return "deployment/" + d.Name
			}
		}
	}
	return strings.ToLower(owner.Kind) + "/" + owner.Name
}

// budgetFix says how to let the drain finish without breaking the budget's promise.
func budgetFix(b *budgetState, workload string) string {
	never := "; never force the drain (deleting the pods past the budget, or drain --disable-eviction) — that takes the workload below what its owners declared it must keep"
	scale := "scale the workload up"
	if workload != "" {
		scale = "scale " + workload + " up"
	}
	spec := b.pdb.Spec
	if (spec.MaxUnavailable != nil && (spec.MaxUnavailable.String() == "0" || spec.MaxUnavailable.String() == "0%")) ||
		(spec.MinAvailable != nil && spec.MinAvailable.String() == "100%") {
		return fmt.Sprintf("PodDisruptionBudget %s (%s) allows no disruption at any scale, so scaling up does not help: relax it temporarily (maxUnavailable 1) with its owners' agreement and restore it after the drain, or move the workload's pods off the node by a rollout first%s",
			b.pdb.Name, budgetRule(b.pdb), never)
	}
	return fmt.Sprintf("%s (one more ready replica than the budget needs, on another node) so that a disruption is allowed, or relax PodDisruptionBudget %s (%s) temporarily and restore it after the drain%s",
		scale, b.pdb.Name, budgetRule(b.pdb), never)
}
