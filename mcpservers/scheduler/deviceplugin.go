package scheduler

// GPU nodes whose device plugin does not advertise their GPUs: a node that its labels say has a
// vendor's accelerators (GPU Feature Discovery's and Node Feature Discovery's labels, a cloud's
// accelerator label, a GPU instance type) but lists none of that vendor's resources in
// status.capacity or status.allocatable. A pod requesting the resource cannot go there until the
// vendor's device plugin registers the devices with the kubelet; why it has not is read from the
// device-plugin DaemonSets: none exists, its nodeSelector, affinity or tolerations keep it off those
// nodes, or its pods there fail (their waiting reason and last termination message are quoted).

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
)

// acceleratorSignature is a node label that says the node has a vendor's accelerators, whatever
// its status advertises.
type acceleratorSignature struct {
	key    *regexp.Regexp // the label key
	value  *regexp.Regexp // the value it must have; nil: any
	domain string         // the resource domain the vendor's device plugin advertises
}

var (
	instanceType = regexp.MustCompile(`^(node|beta)\.kubernetes\.io/instance-type$`)
	trueValue    = regexp.MustCompile(`^true$`)
)

// acceleratorSignatures are checked in order; the first that matches a label names its vendor.
var acceleratorSignatures = []acceleratorSignature{
	{key: regexp.MustCompile(`^nvidia\.com/gpu\.present$`), value: trueValue, domain: "nvidia.com"},
	{key: regexp.MustCompile(`^nvidia\.com/gpu\.(product|count|machine|family)$`), domain: "nvidia.com"},
	{key: regexp.MustCompile(`^feature\.node\.kubernetes\.io/pci-([0-9a-f]{4}_)?10de\.present$`), value: trueValue, domain: "nvidia.com"},
	{key: regexp.MustCompile(`^cloud\.google\.com/gke-accelerator$`), domain: "nvidia.com"},
	{key: regexp.MustCompile(`^k8s\.amazonaws\.com/accelerator$`), domain: "nvidia.com"},
	{key: regexp.MustCompile(`^feature\.node\.kubernetes\.io/pci-([0-9a-f]{4}_)?1002\.present$`), value: trueValue, domain: "amd.com"},
	{key: regexp.MustCompile(`^amd\.com/gpu\.`), domain: "amd.com"},
	{key: regexp.MustCompile(`^gpu\.intel\.com/`), domain: "gpu.intel.com"},
	{key: instanceType, value: regexp.MustCompile(`^g4ad\.`), domain: "amd.com"},                               // AWS, AMD Radeon
	{key: instanceType, value: regexp.MustCompile(`^(p[2-6][a-z]*|g[3-6][a-z]*|gr6)\.`), domain: "nvidia.com"}, // AWS
	{key: instanceType, value: regexp.MustCompile(`^(a2|a3|a4|g2)-`), domain: "nvidia.com"},                    // Google Cloud
	{key: instanceType, value: regexp.MustCompile(`(?i)^standard_n[cdv]`), domain: "nvidia.com"},               // Azure
	{key: instanceType, value: regexp.MustCompile(`^(trn|inf)[0-9]`), domain: "aws.amazon.com"},                // AWS Neuron
}

// acceleratorLabels returns the labels of node that say it has accelerators whose device plugin
// advertises resources of domain ("nvidia.com/gpu.present=true"), sorted.
func acceleratorLabels(node *corev1.Node, domain string) []string {
	var out []string
	for k, v := range node.Labels {
		for _, s := range acceleratorSignatures {
			if s.key.MatchString(k) && (s.value == nil || s.value.MatchString(v)) {
				if s.domain == domain {
					out = append(out, k+"="+v)
				}
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// advertisesDomain reports whether node lists a non-zero quantity of any resource of domain.
func advertisesDomain(node *corev1.Node, domain string) bool {
	for _, l := range []corev1.ResourceList{node.Status.Allocatable, node.Status.Capacity} {
		for r, q := range l {
			if extendedResource(r) && domainOf(r) == domain && !q.IsZero() {
				return true
			}
		}
	}
	return false
}

// darkNode is a node that looks like an accelerator node but advertises none of its resources.
type darkNode struct {
	r      *nodeResult
	labels []string // the labels that say it has accelerators
}

func (d darkNode) name() string { return d.r.n.node.Name }

// darkNodes lists the nodes whose labels say they have accelerators of r's vendor but that
// advertise no resource of r's domain.
func darkNodes(e *evaluation, r corev1.ResourceName) []darkNode {
	var out []darkNode
	for _, res := range e.results {
		if advertisesDomain(res.n.node, domainOf(r)) {
			continue
		}
		if ls := acceleratorLabels(res.n.node, domainOf(r)); len(ls) > 0 {
			out = append(out, darkNode{r: res, labels: ls})
		}
	}
	return out
}

// unadvertisedOnGPUNodes establishes that the pod requests an extended resource that nodes which
// look like the vendor's accelerator nodes do not advertise, when no node fits it: the nodes that
// would fit it but for those devices, or, when no node advertises the resource at all, the ones
// its selector allows (else all of them). The device plugin's DaemonSets say why. Nil when no
// such node exists; then the nodes that advertise the resource explain the pod.
func (t *tools) unadvertisedOnGPUNodes(ctx context.Context, e *evaluation, v *clusterView, tg *target, w workloadRef) (*nodeCause, error) {
	if len(e.results) == 0 || len(e.fitting()) > 0 || e.volumeFailure != nil {
		return nil, nil
	}
	adv := advertisedBy(v)
	var r corev1.ResourceName
	var dark []darkNode
	for _, res := range e.req.names() {
		if !extendedResource(res) {
			continue
		}
		all := darkNodes(e, res)
		// The nodes that would fit but for the devices they do not advertise; without any, and
		// with no node advertising the resource at all, the ones the pod's selector allows (else
		// every one): then nothing else could run it either.
		var selected, allowed []darkNode
		for _, d := range all {
			if d.r.failing(predAffinity) == nil {
				allowed = append(allowed, d)
			}
			if d.r.failsOnly(predResources) && !slices.ContainsFunc(d.r.lack.names(), func(l corev1.ResourceName) bool { return domainOf(l) != domainOf(res) }) {
				selected = append(selected, d)
			}
		}
		if len(selected) == 0 && len(adv[res]) == 0 {
			selected = allowed
			if len(selected) == 0 {
				selected = all
			}
		}
		if len(selected) > 0 {
			r, dark = res, selected
			break
		}
	}
	if len(dark) == 0 {
		return nil, nil
	}
	names := make([]string, len(dark))
	for i, d := range dark {
		names[i] = d.name()
	}
	reqs := requestsOf(&e.pod.Spec, r)
	byWhom := "pod overhead"
	if len(reqs) > 0 {
		byWhom = "container " + reqs[0].container
	}
	plugin, err := t.devicePlugins(ctx, v, domainOf(r), dark)
	if err != nil {
		return nil, err
	}
	look := "look"
	if len(names) == 1 {
		look = "looks"
	}
	labels := dark[0].labels
	c := &contract.Cause{
		Category: contract.ResourceNotAdvertised,
		Object:   "node/" + names[0],
		Field:    "status.allocatable[" + string(r) + "]",
		Summary: fmt.Sprintf("%s %s like %s nodes (%s) but advertise%s no %s (requested by %s): the device plugin does not advertise the devices there; %s",
			nodeList(names), look, domainOf(r), strings.Join(labels, ", "), plural(names), r, byWhom, plugin.finding),
	}
	for _, d := range dark[:min(len(dark), 4)] {
		n := d.r.n.node
		c.Evidence = append(c.Evidence, fmt.Sprintf("node %s labels %s; status.allocatable has %s; status.capacity has %s",
			n.Name, strings.Join(d.labels, ", "), domainWords(n.Status.Allocatable, domainOf(r)), domainWords(n.Status.Capacity, domainOf(r))))
	}
	for _, d := range dark {
		// What else keeps the pod off those nodes once they advertise the devices.
		var other []string
		for _, f := range d.r.fails {
			if f.pred != predResources {
				other = append(other, f.pred+": "+f.detail)
			}
		}
		if lacked := d.r.lack.names(); len(lacked) > 1 || len(lacked) == 1 && domainOf(lacked[0]) != domainOf(r) {
			other = append(other, "resources: "+d.r.failing(predResources).detail)
		}
		if len(other) > 0 {
			c.Evidence = append(c.Evidence, fmt.Sprintf("node %s would still fail %s", d.name(), strings.Join(other, "; ")))
		}
	}
	if len(reqs) > 0 {
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s%s: %s", w.words, w.spec, reqs[0].field, reqs[0].quantity))
	}
	if nodes := adv[r]; len(nodes) > 0 {
		c.Evidence = append(c.Evidence, advertisedResource{name: r, nodes: nodes}.evidence())
	}
	c.Evidence = append(c.Evidence, plugin.evidence...)
	c.Fix = &contract.Fix{Text: plugin.fix}
	category := contract.InsufficientResource
	if gpuResource(r) {
		category = contract.InsufficientGPU
	}
	who := tg.ref
	if !strings.HasPrefix(tg.ref, "Pod ") {
		who = "the pods of " + tg.ref
	}
	verdict := fmt.Sprintf("No node of %d fits %s: %s %s like %s nodes (%s) but advertise%s no %s, which it requests (%s): %s.",
		len(v.nodes), who, nodeList(names), look, domainOf(r), strings.Join(labels, ", "), plural(names), r, byWhom, plugin.finding)
	return &nodeCause{verdict: verdict, category: category, cause: c, fixes: []fix{{text: plugin.fix, rank: rankQueue, unlocks: len(dark)}}}, nil
}

// domainWords says what a resource list holds of domain: "nothing of nvidia.com/",
// "nvidia.com/gpu 0".
func domainWords(l corev1.ResourceList, domain string) string {
	var out []string
	for r, q := range l {
		if domainOf(r) == domain && extendedResource(r) {
			out = append(out, string(r)+" "+q.String())
		}
	}
	if len(out) == 0 {
		return "nothing of " + domain + "/"
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// devicePluginWords are what a device plugin's DaemonSet has in its name or labels.
var devicePluginWords = []string{"device-plugin", "gpu-operator", "gpu-plugin"}

// vendorWords name a domain's vendor in a DaemonSet's name or labels.
var vendorWords = map[string][]string{
	"nvidia.com":     {"nvidia"},
	"amd.com":        {"amdgpu", "amd-gpu", "amd.com", "rocm"},
	"gpu.intel.com":  {"intel"},
	"aws.amazon.com": {"neuron"},
}

// otherVendor reports whether text names the vendor of a domain other than domain.
func otherVendor(text, domain string) bool {
	for d, words := range vendorWords {
		if d != domain && slices.ContainsFunc(words, func(w string) bool { return strings.Contains(text, w) }) {
			return true
		}
	}
	return false
}

// pluginReport is what the device-plugin DaemonSets say about the dark nodes.
type pluginReport struct {
	finding  string // a clause: why the plugin does not advertise there
	evidence []string
	fix      string
}

// devicePlugins reads the DaemonSets whose name or labels say they are a device plugin (or the
// GPU Operator's), and says, for the nodes that do not advertise domain's resources, whether one
// exists, whether it runs there, and how its pods there fail.
func (t *tools) devicePlugins(ctx context.Context, v *clusterView, domain string, dark []darkNode) (pluginReport, error) {
	nodeWord := nodeList(darkNames(dark))
	deployFix := fmt.Sprintf("deploy the device plugin for %s/ resources (for NVIDIA, the GPU Operator or the nvidia-device-plugin DaemonSet) so that it runs on %s and registers their devices with the kubelet", domain, nodeWord)
	var all []appsv1.DaemonSet
	for _, ns := range t.k.Scopes() {
		var list appsv1.DaemonSetList
		if err := t.k.Direct.List(ctx, &list, client.InNamespace(ns)); err != nil {
			where := "in all namespaces"
			if ns != "" {
				where = "in namespace " + ns
			}
			if apierrors.IsForbidden(err) {
				return pluginReport{
					finding:  fmt.Sprintf("whether a device-plugin DaemonSet runs there is unknown: this server may not list daemonsets %s (RBAC)", where),
					evidence: []string{fmt.Sprintf("RBAC denied listing daemonsets.apps %s: %v", where, err)},
					fix:      fmt.Sprintf("check the device plugin's DaemonSet and its pods on %s (grant this server list on daemonsets.apps to see them): it must run there and register the devices with the kubelet", nodeWord),
				}, nil
			}
			return pluginReport{}, apiError(err, "list", "daemonsets "+where)
		}
		all = append(all, list.Items...)
	}
	vendor := vendorWords[domain]
	type candidate struct {
		ds    *appsv1.DaemonSet
		score int
	}
	var cands []candidate
	for i := range all {
		ds := &all[i]
		text := strings.ToLower(ds.Name + " " + labelWords(ds.Labels))
		if !slices.ContainsFunc(devicePluginWords, func(w string) bool { return strings.Contains(text, w) }) {
			continue
		}
		score := 0
		if slices.ContainsFunc(vendor, func(w string) bool { return strings.Contains(text, w) }) {
			score += 2
		} else if otherVendor(text, domain) {
			continue // another vendor's plugin: it serves other devices
		}
		if strings.Contains(strings.ToLower(ds.Name), "device-plugin") {
			score++
		}
		cands = append(cands, candidate{ds, score})
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return b.score - a.score })
	if len(cands) == 0 {
		where := "in any namespace"
		if len(t.k.Allow) > 0 {
			where = "in namespaces " + strings.Join(t.k.Allow, ", ") + " (--allow-namespaces)"
		}
		return pluginReport{
			finding:  fmt.Sprintf("no device-plugin DaemonSet for %s/ exists %s (none named or labelled %s)", domain, where, strings.Join(devicePluginWords, ", ")),
			evidence: []string{fmt.Sprintf("DaemonSets %s: %d, none a device plugin for %s/", where, len(all), domain)},
			fix:      deployFix,
		}, nil
	}
	var rep pluginReport
	for _, cand := range cands[:min(len(cands), 3)] {
		ds := cand.ds
		ref := "DaemonSet " + ds.Namespace + "/" + ds.Name
		rep.evidence = append(rep.evidence, fmt.Sprintf("%s: desired %d, ready %d, nodeSelector %s", ref,
			ds.Status.DesiredNumberScheduled, ds.Status.NumberReady, labelWords(ds.Spec.Template.Spec.NodeSelector)))
	}
	// The best candidate decides the finding; each dark node is judged against it.
	ds := cands[0].ds
	ref := "DaemonSet " + ds.Namespace + "/" + ds.Name
	spec := &ds.Spec.Template.Spec
	probe := &corev1.Pod{Spec: *spec}
	required := nodeaffinity.GetRequiredNodeAffinity(probe)
	var excludedSel, excludedTaint, failing, running, absent []string
	var selMiss, taintMiss, failWords []string
	for _, d := range dark {
		node := d.r.n.node
		if ok, _ := required.Match(node); !ok {
			excludedSel = append(excludedSel, node.Name)
			selMiss = append(selMiss, node.Name+": "+affinityMismatch(probe, node))
			continue
		}
		var untolerated []string
		for _, taint := range node.Spec.Taints {
			if taint.Effect == corev1.TaintEffectPreferNoSchedule || daemonTolerated(taint.Key) {
				continue
			}
			if !tolerates(probe, &taint) {
				untolerated = append(untolerated, taintString(taint))
			}
		}
		if len(untolerated) > 0 {
			excludedTaint = append(excludedTaint, node.Name)
			taintMiss = append(taintMiss, node.Name+": "+strings.Join(untolerated, ", "))
			continue
		}
		pod := daemonPodOn(v, ds, node.Name)
		switch {
		case pod == nil:
			absent = append(absent, node.Name)
		default:
			if w := podFailure(pod); w != "" {
				failing = append(failing, node.Name)
				failWords = append(failWords, fmt.Sprintf("pod %s/%s on node %s: %s", pod.Namespace, pod.Name, node.Name, w))
			} else {
				running = append(running, node.Name)
			}
		}
	}
	rep.evidence = append(rep.evidence, failWords...)
	var clauses, fixes []string
	if len(excludedSel) > 0 {
		what := "nodeSelector " + labelWords(spec.NodeSelector)
		if len(spec.NodeSelector) == 0 {
			what = "required node affinity"
		}
		clauses = append(clauses, fmt.Sprintf("%s does not run on %s: its %s excludes them (%s)", ref, nodeList(excludedSel), what, strings.Join(selMiss, "; ")))
		fixes = append(fixes, fmt.Sprintf("label %s so that %s selects them (%s), or widen %s spec.template.spec.nodeSelector/affinity", nodeList(excludedSel), ref, what, ref))
	}
	if len(excludedTaint) > 0 {
		clauses = append(clauses, fmt.Sprintf("%s does not run on %s: it does not tolerate their taints (%s)", ref, nodeList(excludedTaint), strings.Join(taintMiss, "; ")))
		var tols []string
		for _, d := range dark {
			if slices.Contains(excludedTaint, d.name()) {
				for _, taint := range d.r.n.node.Spec.Taints {
					if taint.Effect != corev1.TaintEffectPreferNoSchedule && !daemonTolerated(taint.Key) && !tolerates(probe, &taint) {
						tols = append(tols, tolerationFor(taint))
					}
				}
			}
		}
		slices.Sort(tols)
		fixes = append(fixes, fmt.Sprintf("add to %s spec.template.spec.tolerations %s", ref, strings.Join(slices.Compact(tols), " and ")))
	}
	if len(failing) > 0 {
		clauses = append(clauses, fmt.Sprintf("%s's pods on %s fail: %s", ref, nodeList(failing), strings.Join(failWords[:min(len(failWords), 2)], "; ")))
		fixes = append(fixes, fmt.Sprintf("repair %s's pods on %s (%s): an NVML or driver error means the GPU driver is not loaded on the node or the container runtime is not configured for the GPU (the GPU Operator's driver and toolkit DaemonSets); its pod registers the devices once it runs",
			ref, nodeList(failing), failWords[0]))
	}
	if len(absent) > 0 {
		where := ""
		if len(t.k.Allow) > 0 && !slices.Contains(t.k.Allow, ds.Namespace) {
			where = fmt.Sprintf(" (its namespace %s is outside --allow-namespaces, so its pods are not seen)", ds.Namespace)
		}
		clauses = append(clauses, fmt.Sprintf("%s has no pod on %s, which it should run on (desired %d, scheduled %d)%s", ref, nodeList(absent), ds.Status.DesiredNumberScheduled, ds.Status.CurrentNumberScheduled, where))
		fixes = append(fixes, fmt.Sprintf("find why %s has no pod on %s (its events, and kubectl get pods -n %s -o wide)", ref, nodeList(absent), ds.Namespace))
	}
	if len(running) > 0 {
		clauses = append(clauses, fmt.Sprintf("%s's pods on %s run, yet the nodes advertise nothing: the plugin has not registered the devices with the kubelet (see its logs)", ref, nodeList(running)))
		fixes = append(fixes, fmt.Sprintf("read the logs of %s's pods on %s and restart them: a device plugin that found no devices (or no driver) registers none", ref, nodeList(running)))
	}
	rep.finding = strings.Join(clauses, "; ")
	rep.fix = strings.Join(fixes, "; then ")
	if rep.fix == "" {
		rep.fix = deployFix
	}
	return rep, nil
}

func darkNames(dark []darkNode) []string {
	out := make([]string, len(dark))
	for i, d := range dark {
		out[i] = d.name()
	}
	return out
}

// daemonTolerated reports whether the DaemonSet controller gives its pods a toleration for the
// taint key: the node conditions' taints and the cordon's.
func daemonTolerated(key string) bool {
	switch key {
	case corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeDiskPressure, corev1.TaintNodeMemoryPressure,
		corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable, corev1.TaintNodeNetworkUnavailable:
		return true
	}
	return false
}

// daemonPodOn returns ds's pod bound to node, among the pods the cache holds.
func daemonPodOn(v *clusterView, ds *appsv1.DaemonSet, node string) *corev1.Pod {
	for _, p := range v.pods {
		if p.Namespace != ds.Namespace || p.Spec.NodeName != node {
			continue
		}
		for _, o := range p.OwnerReferences {
			if o.Kind == "DaemonSet" && (o.UID == ds.UID || o.Name == ds.Name) {
				return p
			}
		}
	}
	return nil
}

// podFailure says how a pod fails, quoting its containers' waiting reason and message and their
// last termination; "" when every container runs and is ready.
func podFailure(p *corev1.Pod) string {
	var parts []string
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range list {
			var w []string
			if wt := s.State.Waiting; wt != nil && wt.Reason != "" && wt.Reason != "PodInitializing" {
				w = append(w, strings.TrimSpace(wt.Reason+" "+clipText(wt.Message, 200)))
			}
			if tm := s.LastTerminationState.Terminated; tm != nil && (tm.ExitCode != 0 || tm.Message != "") {
				w = append(w, fmt.Sprintf("last terminated %s (exit %d): %s", tm.Reason, tm.ExitCode, clipText(tm.Message, 300)))
			}
			if tm := s.State.Terminated; tm != nil && tm.ExitCode != 0 {
				w = append(w, fmt.Sprintf("terminated %s (exit %d): %s", tm.Reason, tm.ExitCode, clipText(tm.Message, 300)))
			}
			if len(w) > 0 {
				parts = append(parts, "container "+s.Name+" "+strings.Join(w, "; "))
			}
		}
	}
	if len(parts) == 0 && p.Status.Phase == corev1.PodPending {
		return "phase Pending"
	}
	return strings.Join(parts, "; ")
}

func clipText(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
