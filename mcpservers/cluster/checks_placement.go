package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// placement_check answers "why is there no pod of this workload on that node": the taints a
// DaemonSet does not tolerate, its own nodeSelector and affinity, cordoned and NotReady nodes; and,
// for a pending pod or a workload's template, which nodes exclude it and why, in a few lines (the
// scheduler server explains pending pods in depth). The analyzer daemonSetTaints uses the same
// logic (placeDaemonSet).

// placementCheckTools is the family of placement_check (checkTools).
func (t *tools) placementCheckTools() []mcptool.Tool {
	return []mcptool.Tool{mcptool.NewData(mcptool.Spec{
		Name: "placement_check",
		Description: "Why pods of a workload are missing from nodes. For a DaemonSet: every node without one of its pods, and why " +
			"(a taint none of its tolerations tolerates — the cause, with the fix —, its own nodeSelector or affinity, a NotReady node). " +
			"For a pending Pod or the template of a Deployment, StatefulSet or Job: the nodes whose taints, nodeSelector/affinity, " +
			"cordon or readiness exclude it, counted by reason. Read-only.",
		Params: []mcp.ToolOption{
			mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the workload"), mcp.MaxLength(63)),
			mcp.WithString("kind", mcp.Required(), mcp.Description("DaemonSet, or Deployment, StatefulSet, Job or Pod (for a pending pod)"), mcp.MaxLength(253)),
			mcp.WithString("name", mcp.Required(), mcp.Description("name of the workload or pod"), mcp.MaxLength(253)),
		},
	}, t.placementCheck)}
}

type placementArgs struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
}

func (a *placementArgs) Validate() error {
	a.Namespace, a.Kind, a.Name = strings.TrimSpace(a.Namespace), strings.TrimSpace(a.Kind), strings.TrimSpace(a.Name)
	if a.Namespace == "" || a.Kind == "" || a.Name == "" {
		return errors.New(`arguments "namespace", "kind" and "name" are required, such as kind "daemonset" with name "log-agent"`)
	}
	return nil
}

// placementKinds are the kinds placement_check takes, by kind as the API spells it.
var placementKinds = map[string]string{"DaemonSet": "daemonset", "Deployment": "deployment", "StatefulSet": "statefulset", "Job": "job", "Pod": "pod"}

func (t *tools) placementCheck(ctx context.Context, a placementArgs) (contract.CheckReport, string, error) {
	var none contract.CheckReport
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return none, "", err
	}
	if t.k.confined() {
		return none, "", fmt.Errorf("placement_check reads nodes, which are cluster-scoped, and this server is confined to namespaces %s (--allow-namespaces)", strings.Join(t.k.Allow, ", "))
	}
	r, err := t.k.resolve(a.Kind)
	if err != nil {
		return none, "", err
	}
	kind, ok := placementKinds[r.gvk.Kind]
	if !ok || (r.gvk.Group != "" && r.gvk.Group != "apps" && r.gvk.Group != "batch") {
		return none, "", fmt.Errorf("placement_check takes a DaemonSet, Deployment, StatefulSet, Job or Pod, not %s", r.gvr.Resource)
	}
	reader, err := t.k.cached(ctx)
	if err != nil {
		return none, "", err
	}
	s, err := loadSnapshot(ctx, reader, t.k.Direct, []string{a.Namespace}, false)
	if err != nil {
		return none, "", err
	}
	s.nodesAllowed = true
	nodes := s.allNodes("placement")
	if nodes == nil && len(s.skipped) > 0 {
		return none, "", errors.New(s.skipped[len(s.skipped)-1])
	}
	var out checkReport
	what := objectRef(kind, a.Namespace, a.Name)
	switch kind {
	case "daemonset":
		for i := range s.daemonSets {
			if ds := &s.daemonSets[i]; ds.Namespace == a.Namespace && ds.Name == a.Name {
				p := placeDaemonSet(s, ds, nodes)
				out.Checked = p.checked
				for _, c := range p.causes {
					out.cause(c)
				}
				for _, f := range p.facts {
					out.fact("%s", f)
				}
			}
		}
	default:
		spec, pending := s.templateOf(kind, a.Namespace, a.Name)
		if spec != nil {
			placePending(&out, what, spec, pending, nodes)
		}
	}
	if out.Checked == "" {
		return none, "", fmt.Errorf("%s not found; check the name and namespace (resources_list lists what exists)", what)
	}
	rep, text, err := out.done(t.maxBytes)
	return rep, t.k.secrets.Scrub(text), err
}

// templateOf is the pod spec of a workload of the snapshot (a pod's own spec), and how many of
// its pods wait to be scheduled; nil when there is no such object.
func (s *snapshot) templateOf(kind, ns, name string) (*corev1.PodSpec, int) {
	var spec *corev1.PodSpec
	var uid string
	switch kind {
	case "pod":
		for i := range s.pods {
			if p := &s.pods[i]; p.Namespace == ns && p.Name == name {
				n := 0
				if p.Spec.NodeName == "" && !podTerminated(p) {
					n = 1
				}
				return &p.Spec, n
			}
		}
		return nil, 0
	case "deployment":
		for i := range s.deployments {
			if d := &s.deployments[i]; d.Namespace == ns && d.Name == name {
				spec, uid = &d.Spec.Template.Spec, string(d.UID)
			}
		}
	case "statefulset":
		for i := range s.statefulSets {
			if d := &s.statefulSets[i]; d.Namespace == ns && d.Name == name {
				spec, uid = &d.Spec.Template.Spec, string(d.UID)
			}
		}
	case "daemonset":
		for i := range s.daemonSets {
			if d := &s.daemonSets[i]; d.Namespace == ns && d.Name == name {
				spec, uid = &d.Spec.Template.Spec, string(d.UID)
			}
		}
	case "job":
		for i := range s.jobs {
			if d := &s.jobs[i]; d.Namespace == ns && d.Name == name {
				spec, uid = &d.Spec.Template.Spec, string(d.UID)
			}
		}
	case "cronjob":
		for i := range s.cronJobs {
			if d := &s.cronJobs[i]; d.Namespace == ns && d.Name == name {
				spec, uid = &d.Spec.JobTemplate.Spec.Template.Spec, string(d.UID)
			}
		}
	}
	if spec == nil {
		return nil, 0
	}
	pending := 0
	for i := range s.pods {
		p := &s.pods[i]
		if p.Namespace != ns || p.Spec.NodeName != "" || podTerminated(p) || p.DeletionTimestamp != nil {
			continue
		}
		if w := s.owner(p); w != nil && (string(w.uid) == uid || w.Name == name && w.Kind == kind) {
			pending++
		}
	}
	return spec, pending
}

// daemonSetTolerations are the tolerations the DaemonSet controller adds to every pod it makes,
// so that its pods run on nodes that are cordoned, under pressure or not ready.
var daemonSetTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// intendedTaint reports taints that keep workloads off a node on purpose (the control plane's):
// a pod kept off by them is a fact, not a cause.
func intendedTaint(t corev1.Taint) bool {
	return t.Key == "node-role.kubernetes.io/control-plane" || t.Key == "node-role.kubernetes.io/master"
}

// conditionTaint reports the taints Kubernetes itself puts on a node for its condition (not
// ready, unreachable, under pressure, cordoned, not yet initialized): they say the node's state,
// which placement reports as such, not a choice someone made.
func conditionTaint(t corev1.Taint) bool {
	return strings.HasPrefix(t.Key, "node.kubernetes.io/") || t.Key == "node.cloudprovider.kubernetes.io/uninitialized"
}

// untolerated returns the NoSchedule and NoExecute taints of n that none of tolerations tolerates.
func untolerated(n *corev1.Node, tolerations []corev1.Toleration) []corev1.Taint {
	var out []corev1.Taint
	for i := range n.Spec.Taints {
		taint := &n.Spec.Taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		tolerated := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(logr.Discard(), taint, true) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			out = append(out, *taint)
		}
	}
	return out
}

// selects reports whether the pod spec's nodeSelector and required node affinity match n.
func selects(spec *corev1.PodSpec, n *corev1.Node) bool {
	ok, err := nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity).Match(n)
	return err == nil && ok
}

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// tolerationsText renders tolerations compactly: "nvidia.com/gpu:Exists:NoSchedule,
// dedicated=infer:NoSchedule"; "<none>" without any.
func tolerationsText(ts []corev1.Toleration) string {
	if len(ts) == 0 {
		return "<none>"
	}
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		key := t.Key
		if key == "" {
			key = "*"
		}
		var p string
		if t.Operator == corev1.TolerationOpExists {
			p = key + ":Exists"
		} else {
			p = key + "=" + t.Value
		}
		if t.Effect != "" {
			p += ":" + string(t.Effect)
		} else {
			p += ":<every effect>"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// dsPlacement is where a DaemonSet runs and where it does not, and why.
type dsPlacement struct {
	checked string
	causes  []contract.Cause
	facts   []string
	// skipped are the nodes the DaemonSet would run on but for a taint, by taint.
	skipped map[string][]string
	taints  []corev1.Taint // in the order of causes
	total   int
}

// dsPodNode is the node a DaemonSet's pod is for: where it runs, or the node its required
// affinity names (metadata.name) while it waits.
func dsPodNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range term.MatchFields {
				if f.Key == metav1.ObjectNameField && len(f.Values) == 1 {
					return f.Values[0]
				}
			}
		}
	}
	return ""
}

// placeDaemonSet checks every node without a pod of ds: a taint no toleration of ds tolerates
// (a cause, one per taint, with the nodes it keeps ds off), or its own selector, the control
// plane's taints or readiness (facts).
func placeDaemonSet(s *snapshot, d *appsv1.DaemonSet, nodes []corev1.Node) dsPlacement {
	spec := &d.Spec.Template.Spec
	has := map[string]bool{}
	for _, p := range s.podsOf(d.UID) {
		if n := dsPodNode(p); n != "" && !podTerminated(p) {
			has[n] = true
		}
	}
	tolerations := append(append([]corev1.Toleration(nil), spec.Tolerations...), daemonSetTolerations...)
	out := dsPlacement{skipped: map[string][]string{}, total: len(nodes)}
	var bySelector, intended, notReady []string
	byTaint := map[string]corev1.Taint{}
	sorted := make([]*corev1.Node, 0, len(nodes))
	for i := range nodes {
		sorted = append(sorted, &nodes[i])
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, n := range sorted {
		if has[n.Name] {
			continue
		}
		if !selects(spec, n) {
			bySelector = append(bySelector, n.Name)
			continue
		}
		var taints, conditions []corev1.Taint
		for _, t := range untolerated(n, tolerations) {
			if conditionTaint(t) {
				conditions = append(conditions, t)
			} else {
				taints = append(taints, t)
			}
		}
		switch {
		case len(taints) > 0 && intendedTaint(taints[0]):
			intended = append(intended, fmt.Sprintf("%s (%s)", n.Name, taints[0].ToString()))
		case len(taints) > 0:
			key := taints[0].ToString()
			if _, ok := byTaint[key]; !ok {
				out.taints = append(out.taints, taints[0])
			}
			byTaint[key] = taints[0]
			out.skipped[key] = append(out.skipped[key], n.Name)
		case !nodeIsReady(n) || len(conditions) > 0:
			notReady = append(notReady, n.Name)
		}
	}
	// The taint keeping ds off the most nodes first.
	sort.SliceStable(out.taints, func(i, j int) bool {
		return len(out.skipped[out.taints[i].ToString()]) > len(out.skipped[out.taints[j].ToString()])
	})
	w := ref{Kind: "daemonset", Namespace: d.Namespace, Name: d.Name}
	for _, taint := range out.taints {
		out.causes = append(out.causes, taintCause(w, spec.Tolerations, taint, out.skipped[taint.ToString()]))
	}
	out.checked = fmt.Sprintf("DaemonSet %s/%s: %d nodes, %d with its pod; tolerations %s", d.Namespace, d.Name, len(nodes), len(has), tolerationsText(spec.Tolerations))
	if len(spec.NodeSelector) > 0 || (spec.Affinity != nil && spec.Affinity.NodeAffinity != nil) {
		out.facts = append(out.facts, fmt.Sprintf("%d %s not selected by its own nodeSelector/affinity, as intended: %s", len(bySelector), plural(len(bySelector), "node"), orNone(examples(bySelector, 5))))
	}
	if len(intended) > 0 {
		out.facts = append(out.facts, fmt.Sprintf("%d control-plane %s kept free of workloads by their taint: %s", len(intended), plural(len(intended), "node"), examples(intended, 3)))
	}
	if len(notReady) > 0 {
		out.facts = append(out.facts, fmt.Sprintf("%d %s NotReady or tainted for their condition (node.kubernetes.io/...), without its pod: %s", len(notReady), plural(len(notReady), "node"), examples(notReady, 5)))
	}
	if len(out.causes) == 0 {
		out.facts = append(out.facts, "no taint keeps it off a node it selects")
	}
	return out
}

// taintCause is a TaintNotTolerated cause: taint keeps workload w off nodes.
func taintCause(w ref, tolerations []corev1.Toleration, taint corev1.Taint, nodes []string) contract.Cause {
	kind := map[string]string{"daemonset": "DaemonSet", "deployment": "Deployment", "statefulset": "StatefulSet", "job": "Job", "pod": "pod", "cronjob": "CronJob"}[w.Kind]
	where := "node " + nodes[0] + " has"
	if len(nodes) > 1 {
		where = "nodes " + examples(nodes, 5) + " have"
	}
	runs := "so it runs no pod there"
	if w.Kind != "daemonset" {
		runs = "so its pods cannot be scheduled there"
	}
	c := contract.Cause{
		Category: contract.TaintNotTolerated,
		Object:   objectRef("node", "", nodes[0]),
		Field:    "spec.taints[" + taint.Key + "]",
		Summary:  fmt.Sprintf("%s taint %s, which %s %s does not tolerate, %s", where, taint.ToString(), kind, w.Name, runs),
		Evidence: []string{
			fmt.Sprintf("node/%s spec.taints: %s", nodes[0], taint.ToString()),
			fmt.Sprintf("%s spec.template.spec.tolerations: %s", w, tolerationsText(tolerations)),
		},
	}
	fx := tolerationFix(w, tolerations, taint, nodes)
	cf := fx.contract()
	c.Fix = &cf
	return c
}

// tolerationFix adds a toleration of taint to the workload's template (a merge patch replaces the
// list, so it carries the tolerations there are), or, as the note says, removes the taint.
func tolerationFix(w ref, tolerations []corev1.Toleration, taint corev1.Taint, nodes []string) fix {
	add := corev1.Toleration{Key: taint.Key, Operator: corev1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect}
	if taint.Value == "" {
		add = corev1.Toleration{Key: taint.Key, Operator: corev1.TolerationOpExists, Effect: taint.Effect}
	}
	list := append(append([]corev1.Toleration(nil), tolerations...), add)
	note := fmt.Sprintf("adds a toleration of %s to %s (the list given is its tolerations plus that one); or remove the taint from %s if it was not meant",
		taint.ToString(), w, examples(nodes, 3))
	if w.Kind == "pod" {
		return noFix("give the pod's controller a toleration of %s; or remove the taint from %s if it was not meant", taint.ToString(), examples(nodes, 3))
	}
	template := map[string]any{"spec": map[string]any{"tolerations": list}}
	patch := map[string]any{"spec": map[string]any{"template": template}}
	if w.Kind == "cronjob" {
		patch = map[string]any{"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}}
	}
	return fix{tool: "resource_patch", args: []arg{{"kind", w.Kind}, {"namespace", w.Namespace}, {"name", w.Name}, {"patchType", "merge"}, {"patch", jsonText(patch)}}, note: note}
}

// placePending says which nodes exclude a pod of spec and why, counted by reason; a taint is the
// cause when no node takes the pod and some nodes would but for it.
func placePending(out *checkReport, what string, spec *corev1.PodSpec, pending int, nodes []corev1.Node) {
	reasons := map[string][]string{}
	var order []string
	taints := map[string]corev1.Taint{}
	fits := 0
	sorted := make([]*corev1.Node, 0, len(nodes))
	for i := range nodes {
		sorted = append(sorted, &nodes[i])
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, n := range sorted {
		var reason string
		var taints0 []corev1.Taint
		for _, t := range untolerated(n, spec.Tolerations) {
			if !conditionTaint(t) {
				taints0 = append(taints0, t)
			}
		}
		switch {
		case n.Spec.Unschedulable:
			reason = "cordoned (spec.unschedulable)"
		case !nodeIsReady(n):
			reason = "NotReady"
		case !selects(spec, n):
			reason = "nodeSelector/affinity does not match its labels"
		case len(untolerated(n, spec.Tolerations)) > len(taints0):
			reason = "tainted for its condition (node.kubernetes.io/...)"
		case len(taints0) > 0:
			reason = "taint " + taints0[0].ToString() + " not tolerated"
			taints[reason] = taints0[0]
		default:
			fits++
			continue
		}
		if len(reasons[reason]) == 0 {
			order = append(order, reason)
		}
		reasons[reason] = append(reasons[reason], n.Name)
	}
	sort.SliceStable(order, func(i, j int) bool { return len(reasons[order[i]]) > len(reasons[order[j]]) })
	out.Checked = fmt.Sprintf("%s: %d nodes, %d would take its pods by taints, nodeSelector/affinity, cordon and readiness; %d %s waiting to be scheduled; tolerations %s",
		what, len(nodes), fits, pending, plural(pending, "pod"), tolerationsText(spec.Tolerations))
	for _, r := range order {
		out.fact("%d %s %s: %s", len(reasons[r]), plural(len(reasons[r]), "node"), r, examples(reasons[r], 3))
	}
	if fits > 0 {
		out.fact("%d %s take its pods as far as placement goes: if a pod still waits, the scheduler's reason is elsewhere (resources, volumes, topology): ask the scheduler server (explain_pending)", fits, plural(fits, "node"))
		return
	}
	kind, ns, name := splitObjectRef(what)
	for _, r := range order {
		if t, ok := taints[r]; ok && !intendedTaint(t) {
			out.cause(taintCause(ref{Kind: kind, Namespace: ns, Name: name}, spec.Tolerations, t, reasons[r]))
		}
	}
}

// splitRef splits kind/namespace/name.
func splitObjectRef(r string) (kind, ns, name string) {
	parts := strings.SplitN(r, "/", 3)
	if len(parts) == 3 {
		return parts[0], parts[1], parts[2]
	}
	if len(parts) == 2 {
		return parts[0], "", parts[1]
	}
	return "", "", r
}

// daemonSetTaints: DaemonSets that run no pod on nodes they select because of a taint they do not
// tolerate; one finding per DaemonSet, naming the nodes, with the taint as the cause.
func daemonSetTaints(s *snapshot) []finding {
	if len(s.daemonSets) == 0 {
		return nil
	}
	nodes := s.allNodes("DaemonSet placement")
	if len(nodes) == 0 {
		return nil
	}
	var out []finding
	for i := range s.daemonSets {
		ds := &s.daemonSets[i]
		p := placeDaemonSet(s, ds, nodes)
		if len(p.causes) == 0 {
			continue
		}
		w := ref{Kind: "daemonset", Namespace: ds.Namespace, Name: ds.Name}
		f := finding{severity: warning, category: "SchedulingConstraint", object: w}
		f.evidence = append(f.evidence,
			fmt.Sprintf("spec.template.spec.tolerations: %s", tolerationsText(ds.Spec.Template.Spec.Tolerations)),
			fmt.Sprintf("status: desiredNumberScheduled %d, numberReady %d, of %d nodes", ds.Status.DesiredNumberScheduled, ds.Status.NumberReady, len(nodes)))
		for _, t := range p.taints {
			on := p.skipped[t.ToString()]
			f.evidence = append(f.evidence, fmt.Sprintf("no pod on %d %s with taint %s, which it does not tolerate: %s", len(on), plural(len(on), "node"), t.ToString(), examples(on, 5)))
			f.related = append(f.related, ref{Kind: "node", Name: on[0]})
		}
		c := p.causes[0]
		f.cause = &c
		f.fix = tolerationFix(w, ds.Spec.Template.Spec.Tolerations, p.taints[0], p.skipped[p.taints[0].ToString()])
		out = append(out, f)
	}
	return out
}
