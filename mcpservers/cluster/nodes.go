package cluster

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// gpuResource is the extended resource NVIDIA's device plugin advertises.
const gpuResource corev1.ResourceName = "nvidia.com/gpu"

func (t *tools) nodeTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "nodes_status",
			Description: "Status of the cluster's nodes: Ready, memory/disk/PID pressure, network, taints, cordoned, and requested vs allocatable CPU, memory, " +
				"nvidia.com/gpu and pods (requests summed over the node's running pods). Name one node for its conditions, resources, pods and events in detail.",
			Params: []mcp.ToolOption{
				mcp.WithString("name", mcp.Description("one node, for details"), mcp.MaxLength(253)),
			},
		}, t.nodesStatus),
	}
}

type nodesArgs struct {
	Name string `json:"name,omitempty"`
}

var nodesResource = resource{gvr: schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, gvk: schema.GroupVersionKind{Version: "v1", Kind: "Node"}}

func (t *tools) nodesStatus(ctx context.Context, a nodesArgs) (contract.NodeStatusList, string, error) {
	out := contract.NodeStatusList{Nodes: []contract.NodeStatus{}}
	if err := t.k.checkScope(nodesResource, ""); err != nil {
		return out, "", err
	}
	reader, err := t.k.cached(ctx)
	if err != nil {
		return out, "", err
	}
	var nodes []*corev1.Node
	if a.Name != "" {
		var n corev1.Node
		if err := reader.Get(ctx, client.ObjectKey{Name: a.Name}, &n); err != nil {
			return out, "", apiError(err, "get", "node "+a.Name)
		}
		nodes = []*corev1.Node{&n}
	} else {
		var list corev1.NodeList
		if err := reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			return out, "", apiError(err, "list", "nodes")
		}
		for i := range list.Items {
			nodes = append(nodes, &list.Items[i])
		}
		if len(nodes) == 0 {
			return out, "no nodes in this cluster\n", nil
		}
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	}
	podsByNode, err := t.podsByNode(ctx)
	if err != nil {
		return out, "", err
	}
	tbl := mcptool.Table{Header: []string{"NAME", "STATUS", "CONDITIONS", "TAINTS", "CPU", "MEMORY", "GPU", "PODS"}}
	for _, n := range nodes {
		use := nodeUsage(n, podsByNode[n.Name])
		tbl.Add(n.Name, nodeStatus(n), join(nodeProblems(n), ","), join(taintKeys(n), ","),
			use.of(corev1.ResourceCPU), use.of(corev1.ResourceMemory), use.of(gpuResource),
			fmt.Sprintf("%d/%s", len(use.pods), quantity(n.Status.Allocatable[corev1.ResourcePods])))
		out.Nodes = append(out.Nodes, nodeStatusOf(n, use))
	}
	text, truncated := renderTable(&tbl, t.maxBytes-200)
	out.Nodes, out.Truncated = keepShown(out.Nodes, truncated), truncated
	if a.Name == "" {
		return out, text + fmt.Sprintf("%d nodes; CPU, MEMORY and GPU are requested/allocatable; name a node for details\n", len(nodes)), nil
	}
	events, err := t.listEvents(ctx, "")
	if err != nil {
		return out, "", err
	}
	n := nodes[0]
	details := nodeDetails(n, podsByNode[n.Name], t.maxBytes/2)
	nodeEvents := indexEvents(events).of("Node", "", n.Name, string(n.UID))
	ev := renderEvents(nodeEvents, false, t.maxBytes/4)
	out.Detail = nodeDetailOf(n, podsByNode[n.Name], nodeEvents)
	return out, t.k.secrets.Scrub(text + "\n" + details + ev), nil
}

// nodeStatusOf is one node's line of nodes_status as the contract has it.
func nodeStatusOf(n *corev1.Node, use usage) contract.NodeStatus {
	st := contract.NodeStatus{Name: n.Name, Status: nodeStatus(n), Cordoned: n.Spec.Unschedulable,
		Problems: nodeProblems(n), Taints: taintKeys(n), Pods: len(use.pods)}
	st.Ready = strings.HasPrefix(st.Status, "Ready")
	if len(st.Taints) == 0 {
		st.Taints = nil
	}
	if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
		st.PodsAllocatable = quantity(q)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, gpuResource} {
		if r, ok := use.usageOf(name); ok {
			st.Resources = append(st.Resources, r)
		}
	}
	return st
}

// usageOf is what of(name) formats, as the contract has it; false when the node has none and
// nothing asks for it.
func (u usage) usageOf(name corev1.ResourceName) (contract.ResourceUsage, bool) {
	req, hasReq := u.requested[name]
	alloc, hasAlloc := u.allocatable[name]
	if !hasAlloc && (!hasReq || req.IsZero()) {
		return contract.ResourceUsage{}, false
	}
	return resourceUsage(name, req, alloc), true
}

func resourceUsage(name corev1.ResourceName, req, alloc apiresource.Quantity) contract.ResourceUsage {
	r := contract.ResourceUsage{Resource: string(name), Requested: formatQuantity(name, req), Allocatable: formatQuantity(name, alloc)}
	if !alloc.IsZero() {
		pct := percent(req, alloc)
		r.Percent = &pct
	}
	return r
}

// maxNodePods and maxNodeEvents bound the pods and event lines of one node's detail.
const (
	maxNodePods   = 200
	maxNodeEvents = 50
)

// nodeDetailOf is one node in detail as the contract has it: what nodeDetails and its events
// render.
func nodeDetailOf(n *corev1.Node, pods []*corev1.Pod, events []*corev1.Event) *contract.NodeDetail {
	d := &contract.NodeDetail{Age: age(n.CreationTimestamp), Kubelet: n.Status.NodeInfo.KubeletVersion}
	if roles := nodeRoles(n); roles != "<none>" {
		d.Roles = strings.Split(roles, ",")
	}
	for _, c := range n.Status.Conditions {
		d.Conditions = append(d.Conditions, contract.Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason,
			Since: age(c.LastTransitionTime), Message: oneLine(c.Message, 160)})
	}
	for _, t := range n.Spec.Taints {
		d.Taints = append(d.Taints, taintString(t))
	}
	u := nodeUsage(n, pods)
	sorted := resourceNames(n, u)
	for _, name := range sorted {
		req, alloc := u.requested[name], n.Status.Allocatable[name]
		if name == corev1.ResourcePods {
			req = *apiresource.NewQuantity(int64(len(pods)), apiresource.DecimalSI)
		}
		d.Resources = append(d.Resources, resourceUsage(name, req, alloc))
	}
	sortedPods := append([]*corev1.Pod(nil), pods...)
	sort.Slice(sortedPods, func(i, j int) bool {
		if sortedPods[i].Namespace != sortedPods[j].Namespace {
			return sortedPods[i].Namespace < sortedPods[j].Namespace
		}
		return sortedPods[i].Name < sortedPods[j].Name
	})
	for i, p := range sortedPods {
		if i == maxNodePods {
			d.PodsTruncated = len(sortedPods) - i
			break
		}
		r := podRequests(p)
		np := contract.NodePod{Pod: p.Namespace + "/" + p.Name, Status: podStatus(p),
			CPU: formatQuantity(corev1.ResourceCPU, r[corev1.ResourceCPU]), Memory: formatQuantity(corev1.ResourceMemory, r[corev1.ResourceMemory])}
		if q, ok := r[gpuResource]; ok {
			np.GPU = formatQuantity(gpuResource, q)
		}
		d.Pods = append(d.Pods, np)
	}
	for i, g := range collapseEvents(events, false) {
		if i == maxNodeEvents {
			break
		}
		d.Events = append(d.Events, eventOf(g, 200))
	}
	return d
}

// podsByNode reads every pod from the cache, by the node it is bound to; terminated pods are
// left out, as the scheduler leaves them out.
func (t *tools) podsByNode(ctx context.Context) (map[string][]*corev1.Pod, error) {
	out := map[string][]*corev1.Pod{}
	var list corev1.PodList
	err := t.cacheList(ctx, "", &list, "pods", func() {
		for i := range list.Items {
			p := &list.Items[i]
			if p.Spec.NodeName != "" && !podTerminated(p) {
				out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
			}
		}
	})
	return out, err
}

// usage is what a node's pods request of it against what it can give.
type usage struct {
	requested, allocatable corev1.ResourceList
	pods                   []*corev1.Pod
}

func nodeUsage(n *corev1.Node, pods []*corev1.Pod) usage {
	u := usage{requested: corev1.ResourceList{}, allocatable: n.Status.Allocatable, pods: pods}
	for _, p := range pods {
		addResources(u.requested, podRequests(p))
	}
	return u
}

// of formats requested/allocatable (percent) of one resource; "-" when the node has none and
// nothing asks for it.
func (u usage) of(name corev1.ResourceName) string {
	req, hasReq := u.requested[name]
	alloc, hasAlloc := u.allocatable[name]
	if !hasAlloc && (!hasReq || req.IsZero()) {
		return "-"
	}
	s := formatQuantity(name, req) + "/" + formatQuantity(name, alloc)
	if !alloc.IsZero() {
		s += fmt.Sprintf(" (%d%%)", percent(req, alloc))
	}
	return s
}

func percent(part, whole apiresource.Quantity) int64 {
	if whole.IsZero() {
		return 0
	}
	return part.MilliValue() * 100 / whole.MilliValue()
}

// formatQuantity formats CPU in cores or millicores and memory in binary units, rounded to one
// decimal, so that sums of requests read well ("1500m", "2", "2.5Gi").
func formatQuantity(name corev1.ResourceName, q apiresource.Quantity) string {
	switch name {
	case corev1.ResourceCPU:
		m := q.MilliValue()
		if m%1000 == 0 {
			return strconv.FormatInt(m/1000, 10)
		}
		return strconv.FormatInt(m, 10) + "m"
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourceStorage:
		b := float64(q.Value())
		for _, unit := range []struct {
			suffix string
			size   float64
		}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
			if b >= unit.size {
				return strings.TrimSuffix(strconv.FormatFloat(b/unit.size, 'f', 1, 64), ".0") + unit.suffix
			}
		}
		return strconv.FormatInt(q.Value(), 10)
	}
	return quantity(q)
}

// nodeProblems names the node's pressure and network conditions that are true.
func nodeProblems(n *corev1.Node) []string {
	var out []string
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable:
			if c.Status == corev1.ConditionTrue {
				out = append(out, string(c.Type))
			}
		}
	}
	return out
}

func taintKeys(n *corev1.Node) []string {
	out := make([]string, 0, len(n.Spec.Taints))
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

// nodeDetails renders one node's conditions, taints, resources and pods.
func nodeDetails(n *corev1.Node, pods []*corev1.Pod, max int) string {
	var b strings.Builder
	cordoned := "no"
	if n.Spec.Unschedulable {
		cordoned = "yes (unschedulable: no new pods)"
	}
	fmt.Fprintf(&b, "Node %s: %s\n", n.Name, nodeStatus(n))
	fmt.Fprintf(&b, "Cordoned: %s\nRoles: %s\nAge: %s\n", cordoned, nodeRoles(n), age(n.CreationTimestamp))
	if v := n.Status.NodeInfo.KubeletVersion; v != "" {
		fmt.Fprintf(&b, "Kubelet: %s\n", v)
	}
	conds := mcptool.Table{Header: []string{"CONDITION", "STATUS", "REASON", "SINCE", "MESSAGE"}}
	for _, c := range n.Status.Conditions {
		conds.Add(string(c.Type), string(c.Status), orNone(c.Reason), age(c.LastTransitionTime), oneLine(c.Message, 160))
	}
	if len(conds.Rows) == 0 {
		b.WriteString("Conditions: <none>\n")
	} else {
		b.WriteString("Conditions:\n" + conds.Render(max/4))
	}
	taints := make([]string, 0, len(n.Spec.Taints))
	for _, t := range n.Spec.Taints {
		taints = append(taints, taintString(t))
	}
	fmt.Fprintf(&b, "Taints: %s\n", join(taints, ", "))
	u := nodeUsage(n, pods)
	sorted := resourceNames(n, u)
	res := mcptool.Table{Header: []string{"RESOURCE", "REQUESTED", "ALLOCATABLE", "PERCENT"}}
	for _, name := range sorted {
		req, alloc := u.requested[name], n.Status.Allocatable[name]
		if name == corev1.ResourcePods {
			req = *apiresource.NewQuantity(int64(len(pods)), apiresource.DecimalSI)
		}
		pct := "-"
		if !alloc.IsZero() {
			pct = fmt.Sprintf("%d%%", percent(req, alloc))
		}
		res.Add(string(name), formatQuantity(name, req), formatQuantity(name, alloc), pct)
	}
	b.WriteString("Resources (requests of running pods):\n" + res.Render(max/4))
	if len(pods) == 0 {
		b.WriteString("Pods: <none>\n")
		return b.String()
	}
	sortedPods := append([]*corev1.Pod(nil), pods...)
	sort.Slice(sortedPods, func(i, j int) bool {
		if sortedPods[i].Namespace != sortedPods[j].Namespace {
			return sortedPods[i].Namespace < sortedPods[j].Namespace
		}
		return sortedPods[i].Name < sortedPods[j].Name
	})
	pt := mcptool.Table{Header: []string{"NAMESPACE", "NAME", "STATUS", "CPU", "MEMORY", "GPU"}}
	for _, p := range sortedPods {
		r := podRequests(p)
		gpu := "-"
		if q, ok := r[gpuResource]; ok {
			gpu = formatQuantity(gpuResource, q)
		}
		pt.Add(p.Namespace, p.Name, podStatus(p), formatQuantity(corev1.ResourceCPU, r[corev1.ResourceCPU]), formatQuantity(corev1.ResourceMemory, r[corev1.ResourceMemory]), gpu)
	}
	fmt.Fprintf(&b, "Pods (%d, with their requests):\n", len(pods))
	b.WriteString(pt.Render(max / 2))
	return b.String()
}

// resourceNames are the resources a node allocates or its pods request, sorted by name.
func resourceNames(n *corev1.Node, u usage) []corev1.ResourceName {
	names := map[corev1.ResourceName]bool{}
	for name := range n.Status.Allocatable {
		names[name] = true
	}
	for name := range u.requested {
		names[name] = true
	}
	sorted := make([]corev1.ResourceName, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted
}
