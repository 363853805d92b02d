package scheduler

// The causes behind a pending pod, for explain_pending's Cause: the object and field at fault.
// A resource name that no node advertises (ResourceNotAdvertised) is judged before any node is
// compared with the pod; the taint that alone keeps the pod off nodes that otherwise fit it
// (TaintNotTolerated) after; a claim whose StorageClass cannot give its access mode
// (AccessModeUnsupported) and a claim whose selector no free PersistentVolume matches
// (ReferenceMissing) come from volumes.go; GPU nodes whose device plugin does not advertise their
// devices (ResourceNotAdvertised on the node) from deviceplugin.go, judged before the resource no
// node advertises; a bound volume whose node affinity allows no usable node from
// volumeaffinity.go. The facts about a node selector that matches
// no node are here too: they name no cause, only what the labels are.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
)

// workloadRef is the object whose pod template a person edits to change the evaluated pod: its
// owning workload, or the pod itself.
type workloadRef struct {
	object string // as a Cause names it: "deployment/ml/lab", "pod/ml/lab-0"
	words  string // as a sentence names it: "Deployment ml/lab"
	spec   string // the path of the pod spec in it: "spec.template.spec."
}

// templatePaths are where the pod spec lives in the workload kinds whose pods this server
// explains; an owner of another kind (a custom resource) is not named, since its path is unknown.
var templatePaths = map[string]string{
	"Pod":                   "spec.",
	"Deployment":            "spec.template.spec.",
	"ReplicaSet":            "spec.template.spec.",
	"StatefulSet":           "spec.template.spec.",
	"DaemonSet":             "spec.template.spec.",
	"ReplicationController": "spec.template.spec.",
	"Job":                   "spec.template.spec.",
	"CronJob":               "spec.jobTemplate.spec.template.spec.",
	"Workload":              "spec.podSets[0].template.spec.", // Kueue's: the podSet explain_pending evaluates
}

func newWorkloadRef(kind, ns, name string) workloadRef {
	return workloadRef{object: strings.ToLower(kind) + "/" + ns + "/" + name, words: kind + " " + ns + "/" + name, spec: templatePaths[kind]}
}

var gvkReplicaSet = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}

// workloadOf finds the workload that owns the evaluated pod (a ReplicaSet's Deployment, a Job's
// CronJob), or the pod itself when it has no owner of a kind whose template path is known. An
// owner it cannot read (RBAC, deleted) stops the walk where it is.
func (t *tools) workloadOf(ctx context.Context, tg *target) workloadRef {
	p := tg.pod
	jobRef := func(ns, name string) workloadRef {
		j := tg.job
		if j == nil || j.Name != name {
			return newWorkloadRef("Job", ns, name)
		}
		if c := metav1.GetControllerOf(j); c != nil && c.Kind == "CronJob" {
			return newWorkloadRef("CronJob", ns, c.Name)
		}
		return newWorkloadRef("Job", ns, name)
	}
	if tg.fromTemplate {
		switch {
		case tg.job != nil:
			return jobRef(tg.job.Namespace, tg.job.Name)
		case tg.workload != nil:
			if c := metav1.GetControllerOfNoCopy(tg.workload); c != nil && c.Kind == "Job" {
				return newWorkloadRef("Job", tg.ns, c.Name)
			}
			return newWorkloadRef("Workload", tg.ns, tg.workload.GetName())
		}
		kind, nsName, _ := strings.Cut(tg.ref, " ")
		ns, name, _ := strings.Cut(nsName, "/")
		return newWorkloadRef(kind, ns, name)
	}
	self := newWorkloadRef("Pod", p.Namespace, p.Name)
	c := metav1.GetControllerOf(p)
	if c == nil {
		return self
	}
	switch c.Kind {
	case "ReplicaSet":
		rs := &metav1.PartialObjectMetadata{}
		rs.SetGroupVersionKind(gvkReplicaSet)
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: c.Name}, rs); err == nil {
			if d := metav1.GetControllerOfNoCopy(rs); d != nil && d.Kind == "Deployment" {
				return newWorkloadRef("Deployment", p.Namespace, d.Name)
			}
		}
		return newWorkloadRef("ReplicaSet", p.Namespace, c.Name)
	case "Job":
		return jobRef(p.Namespace, c.Name)
	}
	if _, known := templatePaths[c.Kind]; known {
		return newWorkloadRef(c.Kind, p.Namespace, c.Name)
	}
	return self
}

// extendedResource reports whether r is an extended resource: a name with a domain outside
// kubernetes.io (nvidia.com/gpu, example.com/fpga), which only a device plugin or a node's
// status patch makes a node advertise.
func extendedResource(r corev1.ResourceName) bool {
	s := string(r)
	return strings.Contains(s, "/") && !strings.Contains(s, corev1.ResourceDefaultNamespacePrefix) && !strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix)
}

// gpuResource reports whether r names a GPU or a part of one, from any vendor's device plugin.
func gpuResource(r corev1.ResourceName) bool {
	s := string(r)
	return strings.HasPrefix(s, "nvidia.com/") || s == "amd.com/gpu" || strings.HasPrefix(s, "gpu.intel.com/")
}

func domainOf(r corev1.ResourceName) string {
	d, _, _ := strings.Cut(string(r), "/")
	return d
}

// advertisedBy maps every resource name that some node lists in status.allocatable or
// status.capacity, with any quantity, to those nodes.
func advertisedBy(v *clusterView) map[corev1.ResourceName][]*nodeState {
	out := map[corev1.ResourceName][]*nodeState{}
	for _, n := range v.nodes {
		seen := map[corev1.ResourceName]bool{}
		for _, l := range []corev1.ResourceList{n.node.Status.Allocatable, n.node.Status.Capacity} {
			for r := range l {
				if !seen[r] {
					seen[r] = true
					out[r] = append(out[r], n)
				}
			}
		}
	}
	return out
}

// containerRequest is one container's request (or, without one, limit) of a resource, as its
// spec writes it.
type containerRequest struct {
	container string
	field     string // relative to the pod spec: "containers[lab].resources.requests[nvidia.com/gpu.shared]"
	quantity  string
}

// requestsOf lists the containers of spec that request r.
func requestsOf(spec *corev1.PodSpec, r corev1.ResourceName) []containerRequest {
	var out []containerRequest
	for _, list := range []struct {
		name string
		cs   []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for _, c := range list.cs {
			from, q, ok := "requests", c.Resources.Requests[r], false
			if _, ok = c.Resources.Requests[r]; !ok {
				from = "limits"
				q, ok = c.Resources.Limits[r]
			}
			if ok && !q.IsZero() {
				out = append(out, containerRequest{container: c.Name, quantity: q.String(),
					field: fmt.Sprintf("%s[%s].resources.%s[%s]", list.name, c.Name, from, r)})
			}
		}
	}
	// App containers first: they are the ones a person means.
	slices.SortStableFunc(out, func(a, b containerRequest) int {
		return boolInt(strings.HasPrefix(a.field, "initContainers")) - boolInt(strings.HasPrefix(b.field, "initContainers"))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// advertisedResource is a resource name nodes advertise, with those nodes.
type advertisedResource struct {
	name  corev1.ResourceName
	nodes []*nodeState
}

// words: "nvidia.com/gpu (5 nodes)".
func (a advertisedResource) words() string {
	return fmt.Sprintf("%s (%d node%s)", a.name, len(a.nodes), pluralN(len(a.nodes)))
}

// evidence: "nodes advertise nvidia.com/gpu: gpu-1 8, gpu-2 8, gpu-3 4 and 2 more".
func (a advertisedResource) evidence() string {
	var ns []string
	for _, n := range a.nodes[:min(len(a.nodes), 6)] {
		q := n.node.Status.Allocatable[a.name]
		if _, ok := n.node.Status.Allocatable[a.name]; !ok {
			q = n.node.Status.Capacity[a.name]
		}
		ns = append(ns, n.node.Name+" "+q.String())
	}
	more := ""
	if len(a.nodes) > 6 {
		more = fmt.Sprintf(" and %d more", len(a.nodes)-6)
	}
	return fmt.Sprintf("nodes advertise %s: %s%s", a.name, strings.Join(ns, ", "), more)
}

// related lists the resources nodes advertise that a person asking for r may have meant: the
// same domain's (every nvidia.com/ name, so a renamed shared GPU or another MIG profile shows),
// and, for a GPU with none of its domain, the other vendors' GPUs.
func related(adv map[corev1.ResourceName][]*nodeState, r corev1.ResourceName) []advertisedResource {
	collect := func(match func(corev1.ResourceName) bool) []advertisedResource {
		var out []advertisedResource
		for name, nodes := range adv {
			if name != r && match(name) {
				out = append(out, advertisedResource{name: name, nodes: nodes})
			}
		}
		slices.SortFunc(out, func(a, b advertisedResource) int { return strings.Compare(string(a.name), string(b.name)) })
		return out
	}
	out := collect(func(n corev1.ResourceName) bool { return domainOf(n) == domainOf(r) })
	if len(out) == 0 && gpuResource(r) {
		out = collect(gpuResource)
	}
	return out
}

// nodeCause is a verdict whose cause is established before (or beside) the node-by-node
// comparison.
type nodeCause struct {
	verdict  string
	category string
	cause    *contract.Cause
	fixes    []fix
}

// notAdvertised establishes that the pod requests an extended resource that no node advertises
// at all: then no node can ever fit it, whatever else each node lacks, and the nearest node says
// nothing about why. Nil when every resource it requests is advertised somewhere.
func notAdvertised(e *evaluation, v *clusterView, tg *target, w workloadRef) *nodeCause {
	if len(v.nodes) == 0 {
		return nil // "the cluster has no nodes" says it better
	}
	adv := advertisedBy(v)
	var missing []corev1.ResourceName
	for _, r := range e.req.names() {
		if _, ok := adv[r]; !ok && extendedResource(r) {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	r := missing[0] // GPUs first (names sorts them first)
	spec := &e.pod.Spec
	reqs := requestsOf(spec, r)
	var containers []string
	for _, c := range reqs {
		containers = append(containers, c.container)
	}
	containers = slices.Compact(containers)
	byWhom := "container " + strings.Join(containers, ", ")
	if len(containers) > 1 {
		byWhom = "containers " + strings.Join(containers, ", ")
	}
	if len(containers) == 0 {
		byWhom = "pod overhead" // only spec.overhead names it
	}
	rel := related(adv, r)
	var relWords []string
	for _, a := range rel {
		relWords = append(relWords, a.words())
	}
	advertisedWords := fmt.Sprintf("no node advertises any %s/ resource", domainOf(r))
	if len(rel) > 0 {
		advertisedWords = "nodes advertise " + strings.Join(relWords, ", ")
	}
	category := contract.InsufficientResource
	if gpuResource(r) {
		category = contract.InsufficientGPU
	}
	c := &contract.Cause{
		Category: contract.ResourceNotAdvertised,
		Object:   w.object,
		Summary:  fmt.Sprintf("no node advertises %s (requested by %s); %s", r, byWhom, advertisedWords),
	}
	if len(reqs) > 0 {
		c.Field = w.spec + reqs[0].field
	}
	for _, q := range reqs {
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s%s: %s", w.words, w.spec, q.field, q.quantity))
	}
	for _, a := range rel {
		c.Evidence = append(c.Evidence, a.evidence())
	}
	if len(rel) == 0 {
		c.Evidence = append(c.Evidence, fmt.Sprintf("no node of %d lists %s or any other %s/ resource in status.allocatable or status.capacity", len(v.nodes), r, domainOf(r)))
	}
	for _, o := range missing[1:] {
		c.Evidence = append(c.Evidence, fmt.Sprintf("no node advertises %s either (requested too)", o))
	}
	who := tg.ref
	if !strings.HasPrefix(tg.ref, "Pod ") {
		who = "the pods of " + tg.ref
	}
	verb := "request"
	if strings.HasPrefix(who, "Pod ") {
		verb = "requests"
	}
	verdict := fmt.Sprintf("No node advertises %s, which %s %s (%s), so no node of %d can run it: %s.",
		r, who, verb, byWhom, len(v.nodes), advertisedWords)
	var fixes []fix
	if len(rel) > 0 {
		fixes = append(fixes, fix{rank: rankQueue, text: fmt.Sprintf("request a resource the nodes advertise instead of %s in %s of %s: %s",
			r, byWhom, w.words, strings.Join(relWords, " or "))})
	}
	fixes = append(fixes, fix{rank: rankQueue + 1, text: devicePluginFix(r, rel)})
	c.Fix = &contract.Fix{Text: fixes[0].text}
	return &nodeCause{verdict: verdict, category: category, cause: c, fixes: fixes}
}

// devicePluginFix says how a node comes to advertise r: the device plugin's configuration that
// gives the name.
func devicePluginFix(r corev1.ResourceName, rel []advertisedResource) string {
	s := string(r)
	switch {
	case strings.HasPrefix(s, "nvidia.com/") && strings.HasSuffix(s, ".shared"):
		return fmt.Sprintf("configure GPU time-slicing in the NVIDIA device plugin so that it advertises %s: sharing.timeSlicing with renameByDefault: true "+
			"gives shared GPUs the name <resource>.shared; with renameByDefault: false they keep the plain name (%s), which the pod must request instead",
			r, strings.TrimSuffix(s, ".shared"))
	case strings.HasPrefix(s, migPrefix):
		profile := strings.TrimPrefix(s, migPrefix)
		var profiles []string
		for _, a := range rel {
			if strings.HasPrefix(string(a.name), migPrefix) {
				profiles = append(profiles, strings.TrimPrefix(string(a.name), migPrefix))
			}
		}
		have := "no node advertises any MIG profile"
		if len(profiles) > 0 {
			have = "the nodes' MIG layout gives " + strings.Join(profiles, ", ") + ", not " + profile
		}
		return fmt.Sprintf("partition the GPUs into %s MIG slices (%s): the device plugin's mixed MIG strategy (mig.strategy: mixed) advertises each profile as %s<profile>, "+
			"and the GPU Operator's MIG manager applies the layout named by the node label nvidia.com/mig.config; the single strategy advertises slices as nvidia.com/gpu instead",
			profile, have, migPrefix)
	case strings.HasPrefix(s, "nvidia.com/"), s == "amd.com/gpu", strings.HasPrefix(s, "gpu.intel.com/"):
		return fmt.Sprintf("deploy the device plugin that advertises %s on the GPU nodes (its DaemonSet must run there and register with the kubelet)", r)
	}
	return fmt.Sprintf("deploy (or repair) the device plugin that advertises %s on the nodes meant to run this pod: a node lists an extended resource in status.allocatable only once its device plugin registers it with the kubelet (or someone patches the node's status)", r)
}

// taintCause establishes the taint that alone keeps the pod off the nodes that otherwise fit it:
// the first such node in the nearest order (the one the verdict names) is the object, and its
// first untolerated taint the field. Nil when no node fails on taints alone.
// hostPortCause is the cause of a pod that the nodes it may run on refuse only for a host port
// another pod holds there ("didn't have free ports for the requested pod ports"): the pod's
// container port that asks for it, on its workload, with the holder named. nil when other
// reasons keep it off those nodes, or a node fits.
func hostPortCause(e *evaluation, tg *target, w workloadRef) *contract.Cause {
	if len(e.fitting()) > 0 || e.volumeFailure != nil || w.object == "" {
		return nil
	}
	var held []string
	var nodes []string
	for _, r := range e.nearest() {
		if !r.failsOnly(predPorts) {
			continue
		}
		if f := r.failing(predPorts); f != nil {
			nodes = append(nodes, r.n.node.Name)
			if len(held) == 0 {
				held = append(held, f.detail)
			}
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	slices.Sort(nodes)
	field := ""
	for _, c := range e.pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort != 0 && field == "" {
				// a port by its name where it has one, else by its number
				port := p.Name
				if port == "" {
					port = fmt.Sprint(p.ContainerPort)
				}
				field = fmt.Sprintf("%scontainers[%s].ports[%s].hostPort", w.spec, c.Name, port)
			}
		}
	}
	return &contract.Cause{
		Category: contract.ApplicationConfig,
		Object:   w.object,
		Field:    field,
		Summary: fmt.Sprintf("%s asks its node for a host port another pod already holds on %s (%s): two pods cannot bind one host port on a node",
			tg.ref, nodeList(nodes), strings.Join(held, "; ")),
		Evidence: []string{fmt.Sprintf("%s: %s", nodeList(nodes), strings.Join(held, "; "))},
		Fix:      &contract.Fix{Text: fmt.Sprintf("give %s another hostPort (or none: a Service or the pod's own port), or stop the pod that holds it on %s", w.words, nodeList(nodes))},
	}
}

func taintCause(e *evaluation, tg *target, w workloadRef) *contract.Cause {
	if len(e.fitting()) > 0 || e.volumeFailure != nil {
		return nil
	}
	var best *nodeResult
	var same []string // the nodes that fail only on the same taints
	for _, r := range e.nearest() {
		if !r.failsOnly(predTaints) {
			continue
		}
		if best == nil {
			best = r
		}
		if taintList(r.taint) == taintList(best.taint) {
			same = append(same, r.n.node.Name)
		}
	}
	if best == nil {
		return nil
	}
	slices.Sort(same)
	taint := best.taint[0]
	node := best.n.node.Name
	tolerations := "it has none"
	var tols []string
	for _, t := range e.pod.Spec.Tolerations {
		// Those that could tolerate these taints: not the NoExecute ones every pod is given.
		if t.Effect == "" || slices.ContainsFunc(best.taint, func(x corev1.Taint) bool { return x.Effect == t.Effect }) {
			tols = append(tols, tolerationString(t))
		}
	}
	if len(tols) > 0 {
		tolerations = "its tolerations: " + strings.Join(tols, ", ")
	}
	word := "taint " + taintString(taint)
	if len(best.taint) > 1 {
		word = "taints " + taintList(best.taint)
	}
	c := &contract.Cause{
		Category: contract.TaintNotTolerated,
		Object:   "node/" + node,
		Field:    "spec.taints[" + taint.Key + "]",
		Summary: fmt.Sprintf("node %s has %s, and %s lacks a toleration for it (%s); %s fit%s the pod otherwise",
			node, word, tg.ref, tolerations, nodeList(same), plural(same)),
		Evidence: []string{fmt.Sprintf("node %s spec.taints: %s", node, taintList(best.n.node.Spec.Taints))},
	}
	if len(tols) > 0 {
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s %stolerations: %s", w.words, w.spec, strings.Join(tols, ", ")))
	} else {
		var effects []string
		for _, t := range best.taint {
			effects = append(effects, string(t.Effect))
		}
		slices.Sort(effects)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s %stolerations: none with effect %s", w.words, w.spec, strings.Join(slices.Compact(effects), " or ")))
	}
	c.Evidence = append(c.Evidence, fmt.Sprintf("nodes that fit but for %s: %s", word, strings.Join(same, ", ")))
	var adds []string
	for _, t := range best.taint {
		adds = append(adds, tolerationFor(t))
	}
	c.Fix = &contract.Fix{Text: fmt.Sprintf("add to %s %stolerations %s, if the pod is meant for %s; if it is not, change its nodeSelector/affinity to nodes without the taint",
		w.words, w.spec, strings.Join(adds, " and "), nodeList(same))}
	return c
}

// tolerationString renders a toleration as a person reads it: "nvidia.com/gpu Exists NoSchedule".
func tolerationString(t corev1.Toleration) string {
	key := t.Key
	if key == "" {
		key = "*"
	}
	op := t.Operator
	if op == "" {
		op = corev1.TolerationOpEqual
	}
	s := key + " " + string(op)
	if op == corev1.TolerationOpEqual {
		s += " " + t.Value
	}
	if t.Effect != "" {
		s += " " + string(t.Effect)
	}
	return s
}

// tolerationFor writes the toleration that matches a taint, as YAML flow.
func tolerationFor(t corev1.Taint) string {
	if t.Value == "" {
		return fmt.Sprintf("{key: %s, operator: Exists, effect: %s}", t.Key, t.Effect)
	}
	return fmt.Sprintf("{key: %s, operator: Equal, value: %s, effect: %s}", t.Key, t.Value, t.Effect)
}

// selectorFacts says, when the pod's nodeSelector or required node affinity matches no node,
// which nodes it does match (none) and which values the nodes have for each key it names: facts,
// not a cause. Nil when some node matches, or the pod selects nothing.
func selectorFacts(e *evaluation, v *clusterView) []string {
	pod := e.pod
	var keys []string
	var terms []string
	for k, val := range pod.Spec.NodeSelector {
		keys = append(keys, k)
		terms = append(terms, k+"="+val)
	}
	slices.Sort(terms)
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, x := range term.MatchExpressions {
				keys = append(keys, x.Key)
				terms = append(terms, fmt.Sprintf("%s %s %s", x.Key, x.Operator, strings.Join(x.Values, ",")))
			}
		}
	}
	if len(keys) == 0 || len(v.nodes) == 0 {
		return nil
	}
	for _, r := range e.results {
		if r.failing(predAffinity) == nil {
			return nil
		}
	}
	slices.Sort(keys)
	facts := []string{fmt.Sprintf("node selector (%s) matches none of the %d nodes", strings.Join(slices.Compact(terms), "; "), len(v.nodes))}
	names := func(nodes []string) string {
		if len(nodes) > 6 {
			return strings.Join(nodes[:6], ", ") + fmt.Sprintf(" and %d more", len(nodes)-6)
		}
		return strings.Join(nodes, ", ")
	}
	for _, k := range slices.Compact(keys) {
		values := map[string][]string{}
		for _, n := range v.nodes {
			if val, ok := n.node.Labels[k]; ok {
				values[val] = append(values[val], n.node.Name)
			}
		}
		if len(values) == 0 {
			facts = append(facts, fmt.Sprintf("no node has label %s", k))
			continue
		}
		var vs []string
		for _, val := range slices.Sorted(func(yield func(string) bool) {
			for val := range values {
				if !yield(val) {
					return
				}
			}
		}) {
			nodes := values[val]
			vs = append(vs, fmt.Sprintf("%s (%s)", val, names(nodes)))
		}
		more := ""
		if len(vs) > 8 {
			more = fmt.Sprintf(" and %d more", len(vs)-8)
			vs = vs[:8]
		}
		facts = append(facts, fmt.Sprintf("label %s on nodes: %s%s", k, strings.Join(vs, ", "), more))
	}
	return facts
}
