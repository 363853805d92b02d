package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// The predicates this server evaluates, named after the kube-scheduler plugins that apply them.
const (
	predUnschedulable = "NodeUnschedulable"
	predAffinity      = "NodeAffinity"
	predTaints        = "TaintToleration"
	predResources     = "NodeResourcesFit"
	predVolumes       = "Volumes"
	predPodAffinity   = "InterPodAffinity"
	predSpread        = "PodTopologySpread"
	predPorts         = "NodePorts"
)

// predOrder is the order of the table's columns.
var predOrder = []string{predResources, predTaints, predAffinity, predUnschedulable, predVolumes, predPodAffinity, predSpread, predPorts}

// clusterView is the nodes and the pods bound to them, read once per call from the cache.
type clusterView struct {
	nodes  []*nodeState // sorted by name
	byName map[string]*nodeState
	// pods are every pod seen that is not terminated (bound or not); shared with the cache.
	pods []*corev1.Pod
	// confined: pods outside --allow-namespaces are not seen, so free capacity may be overstated.
	confined bool
}

type nodeState struct {
	node  *corev1.Node
	alloc resList
	used  resList
	pods  []*corev1.Pod // bound and not terminated
}

// free is what the node has left of r.
func (n *nodeState) free(r corev1.ResourceName) int64 { return n.alloc[r] - n.used[r] }

// view reads the nodes and pods.
func (t *tools) view(ctx context.Context) (*clusterView, error) {
	nodes, err := t.k.nodes(ctx)
	if err != nil {
		return nil, err
	}
	v := &clusterView{byName: make(map[string]*nodeState, len(nodes)), confined: len(t.k.Allow) > 0}
	for _, n := range nodes {
		ns := &nodeState{node: n, alloc: toResList(n.Status.Allocatable), used: resList{}}
		v.nodes = append(v.nodes, ns)
		v.byName[n.Name] = ns
	}
	err = t.k.eachPodRequests(ctx, func(p *corev1.Pod, req resList) {
		if terminated(p) {
			return
		}
		v.pods = append(v.pods, p)
		if n := v.byName[p.Spec.NodeName]; n != nil {
			n.pods = append(n.pods, p)
			n.used.add(req)
			n.used[corev1.ResourcePods] += 1000
		}
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// failure is one predicate a node fails, with what is wrong in a few words.
type failure struct {
	pred   string
	detail string
}

// nodeResult is one node's evaluation against a pod.
type nodeResult struct {
	n     *nodeState
	fails []failure
	lack  resList        // resources short of the request, by how much
	taint []corev1.Taint // untolerated taints
}

func (r *nodeResult) failsOnly(preds ...string) bool {
	if len(r.fails) == 0 {
		return false
	}
	for _, f := range r.fails {
		if !slices.Contains(preds, f.pred) {
			return false
		}
	}
	return true
}

func (r *nodeResult) failing(pred string) *failure {
	for i := range r.fails {
		if r.fails[i].pred == pred {
			return &r.fails[i]
		}
	}
	return nil
}

// evaluation is a pod evaluated against every node.
type evaluation struct {
	pod     *corev1.Pod
	req     resList
	results []*nodeResult // in node-name order
	// volumeFailure applies to every node: a PVC that is missing or cannot bind.
	volumeFailure *volumeProblem
	// bound are the pod's bound volumes with node affinity.
	bound []boundVolume
	notes []string
}

// fitting returns the nodes that pass every predicate.
func (e *evaluation) fitting() []*nodeResult {
	var out []*nodeResult
	for _, r := range e.results {
		if len(r.fails) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// nearest orders the results: fewest failing predicates first, then the smallest shortfall.
func (e *evaluation) nearest() []*nodeResult {
	out := slices.Clone(e.results)
	slices.SortStableFunc(out, func(a, b *nodeResult) int {
		if d := len(a.fails) - len(b.fails); d != 0 {
			return d
		}
		if d := shortfall(a, e.req) - shortfall(b, e.req); d != 0 {
			if d < 0 {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

// shortfall sums the missing fraction of each requested resource (0 when nothing lacks).
func shortfall(r *nodeResult, req resList) float64 {
	var s float64
	for res, v := range r.lack {
		if req[res] > 0 {
			s += float64(v) / float64(req[res])
		}
	}
	return s
}

// evaluate checks pod against every node of v, as kube-scheduler's filter plugins would.
func evaluate(v *clusterView, pod *corev1.Pod, vol *volumeCheck) *evaluation {
	e := &evaluation{pod: pod, req: podRequests(&pod.Spec)}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	affinity := newPodAffinityCheck(v, pod)
	spread := newSpreadCheck(v, pod, required)
	if vol != nil {
		e.volumeFailure, e.bound = vol.problem, vol.bound
	}
	for _, n := range v.nodes {
		r := &nodeResult{n: n}
		node := n.node
		if node.Spec.Unschedulable && !tolerates(pod, &corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
			r.fails = append(r.fails, failure{predUnschedulable, "cordoned"})
		}
		if ok, _ := required.Match(node); !ok {
			r.fails = append(r.fails, failure{predAffinity, affinityMismatch(pod, node)})
		}
		for _, taint := range node.Spec.Taints {
			if taint.Effect == corev1.TaintEffectPreferNoSchedule {
				continue
			}
			if node.Spec.Unschedulable && taint.Key == corev1.TaintNodeUnschedulable {
				continue // the cordon's own taint (the node lifecycle controller's): counted as cordoned above
			}
			if !tolerates(pod, &taint) {
				r.taint = append(r.taint, taint)
			}
		}
		if len(r.taint) > 0 {
			var ts []string
			for _, t := range r.taint {
				ts = append(ts, taintString(t))
			}
			r.fails = append(r.fails, failure{predTaints, strings.Join(ts, ",")})
		}
		var short []string
		for _, res := range e.req.names() {
			if free := n.free(res); e.req[res] > free {
				if r.lack == nil {
					r.lack = resList{}
				}
				r.lack[res] = e.req[res] - max(free, 0)
				short = append(short, fmt.Sprintf("%s %s>%s free", shortRes(res), qty(res, e.req[res]), qty(res, max(free, 0))))
			}
		}
		if allowed, ok := n.alloc[corev1.ResourcePods]; ok && n.used[corev1.ResourcePods]+1000 > allowed {
			short = append(short, "pods full")
			if r.lack == nil {
				r.lack = resList{}
			}
			r.lack[corev1.ResourcePods] = 1000
		}
		if len(short) > 0 {
			r.fails = append(r.fails, failure{predResources, strings.Join(short, ", ")})
		}
		if vol != nil {
			if vol.problem != nil {
				r.fails = append(r.fails, failure{predVolumes, vol.problem.short})
			} else if msg := vol.nodeConflict(node); msg != "" {
				r.fails = append(r.fails, failure{predVolumes, msg})
			}
		}
		if msg := affinity.check(node); msg != "" {
			r.fails = append(r.fails, failure{predPodAffinity, msg})
		}
		if msg := spread.check(node); msg != "" {
			r.fails = append(r.fails, failure{predSpread, msg})
		}
		if msg := portsTaken(pod, n); msg != "" {
			r.fails = append(r.fails, failure{predPorts, msg})
		}
		e.results = append(e.results, r)
	}
	e.notes = append(e.notes, affinity.notes...)
	return e
}

var discard = logr.Discard()

func tolerates(pod *corev1.Pod, taint *corev1.Taint) bool {
	for i := range pod.Spec.Tolerations {
		if pod.Spec.Tolerations[i].ToleratesTaint(discard, taint, false) {
			return true
		}
	}
	return false
}

// taintString renders a taint as kubectl taint takes it: key=value:Effect, or key:Effect.
func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

// affinityMismatch says which of the pod's nodeSelector labels or affinity the node lacks.
func affinityMismatch(pod *corev1.Pod, node *corev1.Node) string {
	var miss []string
	keys := make([]string, 0, len(pod.Spec.NodeSelector))
	for k := range pod.Spec.NodeSelector {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		want := pod.Spec.NodeSelector[k]
		if got, ok := node.Labels[k]; !ok {
			miss = append(miss, fmt.Sprintf("no %s", k))
		} else if got != want {
			miss = append(miss, fmt.Sprintf("%s=%s not %s", k, got, want))
		}
	}
	if len(miss) == 0 {
		return "required node affinity"
	}
	return strings.Join(miss, ", ")
}

// podAffinityCheck is the required inter-pod affinity and anti-affinity of a pod, and the
// anti-affinity of the pods already bound that repels it: for each term, the topology domains
// that hold a matching pod.
type podAffinityCheck struct {
	anti     []termDomains // the pod's anti-affinity: these domains are refused
	affinity []termDomains // the pod's affinity: only these domains are allowed
	repelled []termDomains // existing pods' anti-affinity matching this pod
	notes    []string
}

type termDomains struct {
	key     string
	domains map[string]string // topology value -> a matching pod, ns/name
	self    bool              // affinity only: the pod matches its own term (may go first)
}

func newPodAffinityCheck(v *clusterView, pod *corev1.Pod) *podAffinityCheck {
	c := &podAffinityCheck{}
	a := pod.Spec.Affinity
	matchTerm := func(term corev1.PodAffinityTerm, owner *corev1.Pod, other *corev1.Pod) bool {
		nss := term.Namespaces
		if term.NamespaceSelector != nil && len(term.NamespaceSelector.MatchLabels) == 0 && len(term.NamespaceSelector.MatchExpressions) == 0 {
			nss = nil // an empty namespaceSelector selects every namespace
		} else if len(nss) == 0 {
			nss = []string{owner.Namespace}
		}
		if nss != nil && !slices.Contains(nss, other.Namespace) {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil || term.LabelSelector == nil {
			return false
		}
		return sel.Matches(labels.Set(other.Labels))
	}
	domainsOf := func(term corev1.PodAffinityTerm) termDomains {
		td := termDomains{key: term.TopologyKey, domains: map[string]string{}}
		for _, n := range v.nodes {
			val, ok := n.node.Labels[term.TopologyKey]
			if !ok {
				continue
			}
			for _, p := range n.pods {
				if p.UID != pod.UID && matchTerm(term, pod, p) {
					td.domains[val] = p.Namespace + "/" + p.Name
					break
				}
			}
		}
		return td
	}
	if a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			c.anti = append(c.anti, domainsOf(term))
		}
	}
	if a != nil && a.PodAffinity != nil {
		for _, term := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			td := domainsOf(term)
			td.self = matchTerm(term, pod, pod)
			c.affinity = append(c.affinity, td)
		}
	}
	for _, n := range v.nodes {
		for _, p := range n.pods {
			if p.Spec.Affinity == nil || p.Spec.Affinity.PodAntiAffinity == nil || p.UID == pod.UID {
				continue
			}
			for _, term := range p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				if val, ok := n.node.Labels[term.TopologyKey]; ok && matchTerm(term, p, pod) {
					c.repelled = append(c.repelled, termDomains{key: term.TopologyKey, domains: map[string]string{val: p.Namespace + "/" + p.Name}})
				}
			}
		}
	}
	return c
}

func (c *podAffinityCheck) check(node *corev1.Node) string {
	for _, td := range c.anti {
		if p, ok := td.domains[node.Labels[td.key]]; ok {
			return fmt.Sprintf("anti-affinity: %s in same %s", p, td.key)
		}
	}
	for _, td := range c.repelled {
		if p, ok := td.domains[node.Labels[td.key]]; ok {
			return fmt.Sprintf("%s's anti-affinity (%s)", p, td.key)
		}
	}
	for _, td := range c.affinity {
		if len(td.domains) == 0 && td.self {
			continue // the first pod of a group that selects itself may go anywhere
		}
		val, ok := node.Labels[td.key]
		if _, match := td.domains[val]; !ok || !match {
			return fmt.Sprintf("affinity: no matching pod in its %s", td.key)
		}
	}
	return ""
}

// spreadCheck is a pod's hard topology spread constraints (whenUnsatisfiable: DoNotSchedule):
// per constraint, the matching pods in each domain of the nodes the pod may use.
type spreadCheck struct {
	constraints []spreadConstraint
}

type spreadConstraint struct {
	c      corev1.TopologySpreadConstraint
	counts map[string]int // domain -> matching pods
	min    int
	self   bool // the pod matches the selector: placing it adds one
}

func newSpreadCheck(v *clusterView, pod *corev1.Pod, required nodeaffinity.RequiredNodeAffinity) *spreadCheck {
	s := &spreadCheck{}
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			continue
		}
		sc := spreadConstraint{c: c, counts: map[string]int{}, self: sel.Matches(labels.Set(pod.Labels))}
		for _, n := range v.nodes {
			val, ok := n.node.Labels[c.TopologyKey]
			if !ok {
				continue
			}
			honor := c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor
			if m, _ := required.Match(n.node); honor && !m {
				continue
			}
			if _, seen := sc.counts[val]; !seen {
				sc.counts[val] = 0
			}
			for _, p := range n.pods {
				if p.Namespace == pod.Namespace && p.UID != pod.UID && sel.Matches(labels.Set(p.Labels)) {
					sc.counts[val]++
				}
			}
		}
		sc.min = -1
		for _, n := range sc.counts {
			if sc.min < 0 || n < sc.min {
				sc.min = n
			}
		}
		if c.MinDomains != nil && int(*c.MinDomains) > len(sc.counts) {
			sc.min = 0 // fewer domains than minDomains: the global minimum is taken as 0
		}
		s.constraints = append(s.constraints, sc)
	}
	return s
}

func (s *spreadCheck) check(node *corev1.Node) string {
	for _, sc := range s.constraints {
		val, ok := node.Labels[sc.c.TopologyKey]
		if !ok {
			return "no label " + sc.c.TopologyKey
		}
		add := 0
		if sc.self {
			add = 1
		}
		if skew := sc.counts[val] + add - max(sc.min, 0); skew > int(sc.c.MaxSkew) {
			return fmt.Sprintf("skew %d>%d on %s", skew, sc.c.MaxSkew, sc.c.TopologyKey)
		}
	}
	return ""
}

// hostPort is one port a pod asks its node for (a container port's hostPort).
type hostPort struct {
	ip       string
	port     int32
	protocol corev1.Protocol
}

func hostPorts(spec *corev1.PodSpec) []hostPort {
	var out []hostPort
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				out = append(out, hostPort{ip: p.HostIP, port: p.HostPort, protocol: proto})
			}
		}
	}
	return out
}

// conflicts says whether two host ports cannot both be bound: the same port and protocol on the
// same address, or on all addresses ("" or 0.0.0.0) for either.
func (a hostPort) conflicts(b hostPort) bool {
	any := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return a.port == b.port && a.protocol == b.protocol && (any(a.ip) || any(b.ip) || a.ip == b.ip)
}

// portsTaken is what the kube-scheduler's NodePorts plugin refuses ("node(s) didn't have free
// ports for the requested pod ports"): a hostPort the pod asks for that a pod on node n already
// holds, with that pod; "" when none.
func portsTaken(pod *corev1.Pod, n *nodeState) string {
	want := hostPorts(&pod.Spec)
	if len(want) == 0 {
		return ""
	}
	var held []string
	for _, w := range want {
		for _, other := range n.pods {
			if other.UID == pod.UID && other.Namespace == pod.Namespace && other.Name == pod.Name {
				continue
			}
			if slices.ContainsFunc(hostPorts(&other.Spec), w.conflicts) {
				held = append(held, fmt.Sprintf("hostPort %d/%s held by %s", w.port, w.protocol, holderWords(other, priorityOf(pod))))
				break
			}
		}
	}
	return strings.Join(held, "; ")
}
