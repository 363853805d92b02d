package gpuview

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// The device plugin's resources and GPU Feature Discovery's labels.
const (
	resGPU       corev1.ResourceName = "nvidia.com/gpu"
	resShared    corev1.ResourceName = "nvidia.com/gpu.shared"
	migPrefix                        = "nvidia.com/mig-"
	labelProduct                     = "nvidia.com/gpu.product"
	labelMemory                      = "nvidia.com/gpu.memory"
	labelCount                       = "nvidia.com/gpu.count"
	labelMIG                         = "nvidia.com/mig.strategy"
)

func isGPUResource(r corev1.ResourceName) bool {
	return r == resGPU || r == resShared || strings.HasPrefix(string(r), migPrefix)
}

// gpuResources of a node: its nvidia.com/gpu, gpu.shared and mig-* names, sorted.
func gpuResources(n *corev1.Node) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, l := range []corev1.ResourceList{n.Status.Capacity, n.Status.Allocatable} {
		for r := range l {
			if isGPUResource(r) && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}

func isGPUNode(n *corev1.Node) bool {
	return len(gpuResources(n)) > 0 || n.Labels[labelProduct] != ""
}

// PodGPUs is what a pod requests of each GPU resource: the larger of its containers' sum and its
// largest init container, as the scheduler counts it. Requests default to limits.
func PodGPUs(p *corev1.Pod) map[corev1.ResourceName]int64 {
	want := func(c corev1.Container, r corev1.ResourceName) int64 {
		if q, ok := c.Resources.Requests[r]; ok {
			return q.Value()
		}
		if q, ok := c.Resources.Limits[r]; ok {
			return q.Value()
		}
		return 0
	}
	out := map[corev1.ResourceName]int64{}
	names := map[corev1.ResourceName]bool{}
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, c := range cs {
			for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				for r := range l {
					if isGPUResource(r) {
						names[r] = true
					}
				}
			}
		}
	}
	for r := range names {
		var sum, initMax int64
		for _, c := range p.Spec.Containers {
			sum += want(c, r)
		}
		for _, c := range p.Spec.InitContainers {
			initMax = max(initMax, want(c, r))
		}
		if v := max(sum, initMax); v > 0 {
			out[r] = v
		}
	}
	return out
}

func terminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// holding are the pods bound to a node, not terminated, that request GPU resources.
func holding(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName != "" && !terminated(&p) && len(PodGPUs(&p)) > 0 {
			out = append(out, p)
		}
	}
	return out
}

func count(l corev1.ResourceList, r corev1.ResourceName) int64 {
	if q, ok := l[r]; ok {
		return q.Value()
	}
	return 0
}

func formatGPUs(m map[corev1.ResourceName]int64) string {
	var parts []string
	for r, n := range m {
		parts = append(parts, fmt.Sprintf("%s: %d", r, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// pickNodes returns the GPU nodes, or the one named; an unknown node or one without GPUs is an
// error that says which nodes have GPUs.
func pickNodes(all []corev1.Node, name string) ([]corev1.Node, error) {
	var gpuNodes []corev1.Node
	var names []string
	for _, n := range all {
		if isGPUNode(&n) {
			gpuNodes = append(gpuNodes, n)
			names = append(names, n.Name)
		}
	}
	if name == "" {
		return gpuNodes, nil
	}
	known := "none"
	if len(names) > 0 {
		known = strings.Join(names, ", ")
	}
	for _, n := range all {
		if n.Name == name {
			if !isGPUNode(&n) {
				return nil, fmt.Errorf("node %s has no NVIDIA GPU resources (no nvidia.com/gpu, gpu.shared or mig-* capacity and no GPU Feature Discovery labels); GPU nodes: %s", name, known)
			}
			return []corev1.Node{n}, nil
		}
	}
	return nil, fmt.Errorf("node %q not found; GPU nodes: %s", name, known)
}

func nodeParam() mcp.ToolOption {
	return mcp.WithString("node", mcp.Description("only this node (default: every GPU node)"), mcp.MaxLength(253))
}

func namespaceParam() mcp.ToolOption {
	return mcp.WithString("namespace", mcp.Description("only pods in this namespace (default: every namespace)"), mcp.MaxLength(63))
}

type nodeArgs struct {
	Node string `json:"node,omitempty"`
}

type allocationArgs struct {
	Namespace string `json:"namespace,omitempty"`
	Node      string `json:"node,omitempty"`
}

func (s *Server) inventoryTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "gpu_inventory",
			Description: "GPU nodes with their nvidia.com/gpu, MIG (nvidia.com/mig-<profile>) and time-sliced (nvidia.com/gpu.shared) " +
				"capacity, allocatable, how many are requested by non-terminated pods and how many are free, and the GPU Feature " +
				"Discovery labels (product, memory, count, MIG strategy); a totals line per resource.",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{nodeParam()},
		}, s.gpuInventory),
		mcptool.NewData(mcptool.Spec{
			Name: "gpu_allocation",
			Description: "Which pods hold which GPU resources on which nodes, grouped by namespace, with each pod's phase and how long " +
				"it has held them (since it was scheduled); pods waiting unscheduled for GPUs are counted.",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{namespaceParam(), nodeParam()},
		}, s.gpuAllocation),
	}
}

// noGPUNodes is what the node tools answer on a cluster without GPU nodes.
const noGPUNodes = "no GPU nodes: no node has nvidia.com/gpu, gpu.shared or mig-* resources or GPU Feature Discovery labels (is the NVIDIA device plugin or GPU Operator installed?)\n"

// gpuNodes reads the GPU nodes, or the one named (an error names the GPU nodes when it is not one).
func (s *Server) gpuNodes(ctx context.Context, name string) ([]corev1.Node, error) {
	all, err := s.kube.nodes(ctx)
	if err != nil {
		return nil, err
	}
	return pickNodes(all, name)
}

func (s *Server) gpuInventory(ctx context.Context, args nodeArgs) (contract.GPUInventory, string, error) {
	out := contract.GPUInventory{Nodes: []contract.GPUNodeInventory{}, Totals: []contract.GPUResourceCount{}, RequestedIn: s.kube.Allow}
	nodes, err := s.gpuNodes(ctx, args.Node)
	if err != nil {
		return out, "", err
	}
	if len(nodes) == 0 {
		return out, noGPUNodes, nil
	}
	pods, err := s.kube.pods(ctx, "")
	if err != nil {
		return out, "", err
	}
	requested := map[string]map[corev1.ResourceName]int64{} // node -> resource -> requested
	for _, p := range holding(pods) {
		if requested[p.Spec.NodeName] == nil {
			requested[p.Spec.NodeName] = map[corev1.ResourceName]int64{}
		}
		for r, n := range PodGPUs(&p) {
			requested[p.Spec.NodeName][r] += n
		}
	}
	type total struct{ capacity, allocatable, requested int64 }
	totals := map[corev1.ResourceName]*total{}
	labelsT := mcptool.Table{Header: []string{"NODE", "PRODUCT", "GPU-MEMORY", "GFD-COUNT", "MIG-STRATEGY"}}
	resT := mcptool.Table{Header: []string{"NODE", "RESOURCE", "CAPACITY", "ALLOCATABLE", "REQUESTED", "FREE"}}
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, n := range nodes {
		mem := n.Labels[labelMemory]
		if mem != "" {
			mem += " MiB"
		}
		labelsT.Add(n.Name, orDash(n.Labels[labelProduct]), orDash(mem), orDash(n.Labels[labelCount]), orDash(n.Labels[labelMIG]))
		inv := contract.GPUNodeInventory{
			Node: n.Name, Product: n.Labels[labelProduct], MemoryMiB: labelInt(n.Labels[labelMemory]),
			Count: labelInt(n.Labels[labelCount]), MIGStrategy: n.Labels[labelMIG], Resources: []contract.GPUResourceCount{},
		}
		for _, r := range gpuResources(&n) {
			c, a, q := count(n.Status.Capacity, r), count(n.Status.Allocatable, r), requested[n.Name][r]
			resT.Add(n.Name, string(r), fmt.Sprint(c), fmt.Sprint(a), fmt.Sprint(q), fmt.Sprint(max(a-q, 0)))
			inv.Resources = append(inv.Resources, contract.GPUResourceCount{Resource: string(r), Capacity: c, Allocatable: a, Requested: q, Free: max(a-q, 0)})
			if totals[r] == nil {
				totals[r] = &total{}
			}
			totals[r].capacity += c
			totals[r].allocatable += a
			totals[r].requested += q
		}
		out.Nodes = append(out.Nodes, inv)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d GPU nodes\n", len(nodes))
	b.WriteString(labelsT.Render(s.cfg.MaxBytes / 2))
	b.WriteString("\n")
	if len(resT.Rows) == 0 {
		b.WriteString("no node reports GPU resources (labels only: is the device plugin running?)\n")
	}
	b.WriteString(resT.Render(s.cfg.MaxBytes / 2))
	names := make([]string, 0, len(totals))
	for r := range totals {
		names = append(names, string(r))
	}
	sort.Strings(names)
	for _, r := range names {
		t := totals[corev1.ResourceName(r)]
		fmt.Fprintf(&b, "total %s: capacity %d, allocatable %d, requested %d, free %d\n", r, t.capacity, t.allocatable, t.requested, max(t.allocatable-t.requested, 0))
		out.Totals = append(out.Totals, contract.GPUResourceCount{Resource: r, Capacity: t.capacity, Allocatable: t.allocatable, Requested: t.requested, Free: max(t.allocatable-t.requested, 0)})
	}
	if len(s.kube.Allow) > 0 {
		fmt.Fprintf(&b, "requested counts only pods in namespaces %s (--allow-namespaces)\n", strings.Join(s.kube.Allow, ", "))
	}
	return out, b.String(), nil
}

// labelInt is a GPU Feature Discovery label's number, 0 when it is absent or not a number.
func labelInt(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// maxAllocatedPods bounds gpu_allocation's structured list of pods (its text has its own cap).
const maxAllocatedPods = 1000

// heldSince is when a pod was scheduled onto its node: its PodScheduled condition, else its start
// time, else its creation.
func heldSince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

func since(t time.Time, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("%s (since %s)", d, t.UTC().Format(time.RFC3339))
}

func (s *Server) gpuAllocation(ctx context.Context, args allocationArgs) (contract.GPUAllocation, string, error) {
	out := contract.GPUAllocation{Node: args.Node, Namespace: args.Namespace, Pods: []contract.GPUAllocatedPod{}, Totals: map[string]int64{}}
	if err := s.kube.checkNamespace(args.Namespace); err != nil {
		return out, "", err
	}
	if args.Node != "" {
		all, err := s.kube.nodes(ctx)
		if err != nil {
			return out, "", err
		}
		if _, err := pickNodes(all, args.Node); err != nil {
			return out, "", err
		}
	}
	pods, err := s.kube.pods(ctx, args.Namespace)
	if err != nil {
		return out, "", err
	}
	byNS := map[string][]corev1.Pod{}
	totals := map[corev1.ResourceName]int64{}
	for _, p := range holding(pods) {
		if args.Node != "" && p.Spec.NodeName != args.Node {
			continue
		}
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
		for r, n := range PodGPUs(&p) {
			totals[r] += n
			out.Totals[string(r)] += n
		}
	}
	waiting := 0
	for _, p := range pods {
		if p.Spec.NodeName == "" && !terminated(&p) && len(PodGPUs(&p)) > 0 {
			waiting++
		}
	}
	var b strings.Builder
	count := 0
	for _, ps := range byNS {
		count += len(ps)
	}
	where := ""
	if args.Node != "" {
		where = " on node " + args.Node
	}
	if count == 0 {
		fmt.Fprintf(&b, "no pod holds GPU resources%s\n", where)
	} else {
		fmt.Fprintf(&b, "%d pods hold GPU resources%s (%s) in %d namespaces\n", count, where, formatGPUs(totals), len(byNS))
	}
	namespaces := make([]string, 0, len(byNS))
	for ns := range byNS {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	now := time.Now()
	budget := s.cfg.MaxBytes / max(len(namespaces), 1)
	for _, ns := range namespaces {
		ps := byNS[ns]
		slices.SortFunc(ps, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
		nsTotals := map[corev1.ResourceName]int64{}
		t := mcptool.Table{Header: []string{"POD", "NODE", "PHASE", "GPU-RESOURCES", "HELD-FOR"}}
		for _, p := range ps {
			g := PodGPUs(&p)
			for r, n := range g {
				nsTotals[r] += n
			}
			t.Add(p.Name, p.Spec.NodeName, string(p.Status.Phase), formatGPUs(g), since(heldSince(&p), now))
			if len(out.Pods) == maxAllocatedPods {
				out.Truncated++
				continue
			}
			out.Pods = append(out.Pods, contract.GPUAllocatedPod{
				GPUPod: gpuPod(&p, nil), Phase: string(p.Status.Phase), HeldSince: heldSince(&p).UTC().Format(time.RFC3339),
			})
		}
		fmt.Fprintf(&b, "\nnamespace %s: %d pods, %s\n", ns, len(ps), formatGPUs(nsTotals))
		b.WriteString(t.Render(max(budget, 512)))
	}
	if waiting > 0 && args.Node == "" {
		out.Unscheduled = waiting
		fmt.Fprintf(&b, "\n%d pods request GPUs but are not scheduled yet (no node has them free, or taints/selectors exclude them)\n", waiting)
	}
	return out, b.String(), nil
}
