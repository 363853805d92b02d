package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

type fragArgs struct {
	Resource string `json:"resource"`
	Sizes    []int  `json:"sizes"`
}

func (a *fragArgs) Validate() error {
	if a.Resource == "" {
		a.Resource = string(resGPU)
	}
	if len(a.Sizes) == 0 {
		a.Sizes = []int{1, 2, 4, 8}
	}
	for _, s := range a.Sizes {
		if s < 1 || s > 1024 {
			return fmt.Errorf(`argument "sizes" must hold job sizes from 1 to 1024, not %d`, s)
		}
	}
	if strings.TrimSpace(a.Resource) == "" {
		return errors.New(`argument "resource" must name a resource, such as nvidia.com/gpu`)
	}
	slices.Sort(a.Sizes)
	a.Sizes = slices.Compact(a.Sizes)
	return nil
}

func (t *tools) gpuTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "gpu_fragmentation",
			Description: "Free GPUs per node, and how many jobs of each size (default 1, 2, 4 and 8 GPUs, each on one node) fit now " +
				"versus if the free GPUs were consolidated onto as few nodes as possible; and, for the largest size that fragmentation " +
				"blocks, the nodes that the fewest GPUs of small pods would have to leave. Cordoned nodes are shown but not counted.",
			Effect: mcptool.Read,
			Params: []mcp.ToolOption{
				mcp.WithString("resource", mcp.DefaultString(string(resGPU)), mcp.MaxLength(253), mcp.Description(
					"the device resource: nvidia.com/gpu (default) or a MIG profile such as nvidia.com/mig-1g.10gb")),
				mcp.WithArray("sizes", mcp.WithIntegerItems(mcp.Min(1), mcp.Max(1024)), mcp.MaxItems(16), mcp.Description("job sizes in devices per node (default [1, 2, 4, 8])")),
			},
		}, t.gpuFragmentation),
	}
}

func (t *tools) gpuFragmentation(ctx context.Context, a fragArgs) (contract.GPUFragmentationReport, string, error) {
	out := contract.GPUFragmentationReport{Resource: a.Resource, Nodes: []contract.FragmentationNode{}}
	v, err := t.view(ctx)
	if err != nil {
		return out, "", err
	}
	res := corev1.ResourceName(a.Resource)
	// holders are the pods that hold the resource, as the contract writes them.
	holders := func(pods []*corev1.Pod) []contract.GPUPod {
		var held []contract.GPUPod
		for _, p := range pods {
			held = append(held, contract.GPUPod{Pod: p.Namespace + "/" + p.Name, Node: p.Spec.NodeName, Resources: map[string]int64{string(res): podRequests(&p.Spec)[res] / 1000}})
		}
		return held
	}
	type row struct {
		n          *nodeState
		alloc, use int64
		cordoned   bool
		pods       []*corev1.Pod
	}
	var rows []row
	var totalFree, totalAlloc int64
	for _, n := range v.nodes {
		alloc := n.alloc[res] / 1000
		if alloc <= 0 {
			continue
		}
		r := row{n: n, alloc: alloc, use: n.used[res] / 1000, cordoned: n.node.Spec.Unschedulable}
		for _, p := range n.pods {
			if podRequests(&p.Spec)[res] > 0 {
				r.pods = append(r.pods, p)
			}
		}
		rows = append(rows, r)
		if !r.cordoned {
			totalFree += max(r.alloc-r.use, 0)
			totalAlloc += r.alloc
		}
	}
	if len(rows) == 0 {
		text := fmt.Sprintf("No node advertises %s: no GPU nodes (or the device plugin is not running on them).\n", res)
		out.Notes = append(out.Notes, strings.TrimSuffix(text, "\n"))
		return out, text, nil
	}
	var b strings.Builder
	out.Free, out.Allocatable = totalFree, totalAlloc
	out.SchedulableNodes = countRows(len(rows), func(i int) bool { return !rows[i].cordoned })
	fmt.Fprintf(&b, "%s: %d free of %d allocatable on %d schedulable nodes.\n", res, totalFree, totalAlloc, out.SchedulableNodes)
	if v.confined {
		note := fmt.Sprintf("only pods in %s are seen (--allow-namespaces): GPUs used elsewhere count as free.", strings.Join(t.k.Allow, ", "))
		out.Notes = append(out.Notes, note)
		b.WriteString("note: " + note + "\n")
	}
	b.WriteString("\njobs that fit, by size (each job on one node):\n")
	sizes := mcptool.Table{Header: []string{"SIZE", "NOW", "IF-CONSOLIDATED"}}
	blocked := 0
	for _, s := range a.Sizes {
		size := int64(s)
		var now, bigFree int64
		for _, r := range rows {
			if r.cordoned {
				continue
			}
			free := max(r.alloc-r.use, 0)
			now += free / size
			if r.alloc >= size {
				bigFree += free
			}
		}
		consolidated := bigFree / size
		sizes.Add(fmt.Sprint(s), fmt.Sprint(now), fmt.Sprint(consolidated))
		out.Sizes = append(out.Sizes, contract.JobSizeFit{Size: s, Now: now, IfConsolidated: consolidated})
		if now < consolidated {
			blocked = s
		}
	}
	b.WriteString(sizes.Render(4096))
	out.Blocked = blocked
	if blocked > 0 {
		size := int64(blocked)
		type clear struct {
			r     row
			moved int64
		}
		var clears []clear
		for _, r := range rows {
			if r.cordoned || r.alloc < size || r.alloc-r.use >= size {
				continue
			}
			clears = append(clears, clear{r: r, moved: r.use - (r.alloc - size)})
		}
		slices.SortStableFunc(clears, func(x, y clear) int {
			if x.moved != y.moved {
				return int(x.moved - y.moved)
			}
			return len(x.r.pods) - len(y.r.pods)
		})
		fmt.Fprintf(&b, "\nfragmentation blocks %d-GPU jobs; the nodes closest to holding one (fewest GPUs to move first):\n", blocked)
		for _, c := range clears[:min(len(clears), 3)] {
			var pods []string
			ps := slices.Clone(c.r.pods)
			slices.SortStableFunc(ps, func(x, y *corev1.Pod) int { return int(podRequests(&x.Spec)[res] - podRequests(&y.Spec)[res]) })
			for _, p := range ps {
				pods = append(pods, fmt.Sprintf("%s/%s (%s)", p.Namespace, p.Name, qty(res, podRequests(&p.Spec)[res])))
			}
			fmt.Fprintf(&b, "- %s: %d free of %d; moving %d GPU%s of small pods frees %d: %s\n", c.r.n.node.Name, c.r.alloc-c.r.use, c.r.alloc, c.moved, pluralN(int(c.moved)), blocked, strings.Join(pods, ", "))
			out.Clear = append(out.Clear, contract.NodeToClear{Node: c.r.n.node.Name, Free: c.r.alloc - c.r.use, Allocatable: c.r.alloc, Move: c.moved, Pods: holders(ps)})
		}
	}
	b.WriteString("\nper node:\n")
	nodes := mcptool.Table{Header: []string{"NODE", "ALLOCATABLE", "USED", "FREE", "STATE", "PODS"}}
	slices.SortStableFunc(rows, func(x, y row) int { return int((y.alloc - y.use) - (x.alloc - x.use)) })
	for _, r := range rows {
		state := "ok"
		if r.cordoned {
			state = "cordoned"
		}
		var pods []string
		for _, p := range r.pods {
			pods = append(pods, fmt.Sprintf("%s/%s(%s)", p.Namespace, p.Name, qty(res, podRequests(&p.Spec)[res])))
		}
		nodes.Add(r.n.node.Name, fmt.Sprint(r.alloc), fmt.Sprint(r.use), fmt.Sprint(max(r.alloc-r.use, 0)), state, strings.Join(pods, " "))
		out.Nodes = append(out.Nodes, contract.FragmentationNode{Node: r.n.node.Name, Allocatable: r.alloc, Used: r.use, Free: max(r.alloc-r.use, 0), Cordoned: r.cordoned, Pods: holders(r.pods)})
	}
	out.Nodes = bounded(out.Nodes, &out.Truncated)
	b.WriteString(nodes.Render(t.maxBytes - b.Len() - 128))
	return out, b.String(), nil
}

func countRows(n int, ok func(int) bool) int {
	c := 0
	for i := range n {
		if ok(i) {
			c++
		}
	}
	return c
}
