package gpuview

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (s *Server) healthTool() mcptool.Tool {
	return mcptool.NewData(mcptool.Spec{
		Name: "gpu_node_health",
		Description: "Per GPU node a verdict (healthy, degraded, failed) with the reasons: allocatable nvidia.com/gpu lower than capacity " +
			"(the device plugin's sign of an unhealthy GPU), GPU-related node conditions (types naming GPU, NVIDIA or XID, e.g. from " +
			"node-problem-detector), taints, cordoning, readiness, and each GPU's verdict from the node's GPU node agent (gpu_health) " +
			"when it is reachable.",
		Effect: mcptool.Read,
		Params: []mcp.ToolOption{nodeParam(),
			mcp.WithString("output", mcp.Description("text (default, for people and models) or json (the same verdicts for programs)"), mcp.Enum("text", "json"))},
	}, s.gpuNodeHealth)
}

// nodeHealthArgs are gpu_node_health's arguments.
type nodeHealthArgs struct {
	nodeArgs
	Output string `json:"output,omitempty"`
}

type verdict int

const (
	healthy verdict = iota
	degraded
	failed
)

func (v verdict) String() string { return [...]string{"healthy", "degraded", "failed"}[v] }

func parseVerdict(s string) verdict {
	switch s {
	case "failed":
		return failed
	case "degraded":
		return degraded
	}
	return healthy
}

type nodeHealth struct {
	verdict   verdict
	reasons   []string
	facts     []string
	gpus      []contract.GPUHealth // from the node agent
	podGPUs   map[string][]int     // "namespace/name" or "uid <UID>" -> GPU indexes, from the node agent's processes
	simulated bool                 // the node agent answered and serves simulated GPUs
}

func (h *nodeHealth) add(v verdict, reason string) {
	h.verdict = max(h.verdict, v)
	h.reasons = append(h.reasons, reason)
}

func gpuCondition(t corev1.NodeConditionType) bool {
	l := strings.ToLower(string(t))
	return strings.Contains(l, "gpu") || strings.Contains(l, "nvidia") || strings.Contains(l, "xid")
}

// fromAPI judges a node from what the API server says of it.
func fromAPI(n *corev1.Node) *nodeHealth {
	h := &nodeHealth{}
	c, a := count(n.Status.Capacity, resGPU), count(n.Status.Allocatable, resGPU)
	if _, ok := n.Status.Capacity[resGPU]; ok {
		h.facts = append(h.facts, fmt.Sprintf("nvidia.com/gpu: capacity %d, allocatable %d", c, a))
	}
	switch {
	case c > 0 && a == 0:
		h.add(failed, fmt.Sprintf("allocatable nvidia.com/gpu is 0 of capacity %d: the device plugin marks every GPU unhealthy", c))
	case a < c:
		h.add(degraded, fmt.Sprintf("allocatable nvidia.com/gpu %d < capacity %d: the device plugin marks %d GPUs unhealthy", a, c, c-a))
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
			h.add(failed, fmt.Sprintf("node is not Ready (%s: %s)", cond.Reason, cond.Message))
		}
		if gpuCondition(cond.Type) {
			line := fmt.Sprintf("condition %s=%s", cond.Type, cond.Status)
			if cond.Reason != "" || cond.Message != "" {
				line += fmt.Sprintf(" (%s: %s)", cond.Reason, cond.Message)
			}
			if cond.Status == corev1.ConditionTrue {
				h.add(degraded, line+": a GPU problem is reported on the node")
			} else {
				h.facts = append(h.facts, line)
			}
		}
	}
	for _, t := range n.Spec.Taints {
		desc := fmt.Sprintf("taint %s", t.ToString())
		switch {
		case t.Effect == corev1.TaintEffectNoExecute:
			h.add(degraded, desc+": pods without a toleration are evicted")
		case t.Key == corev1.TaintNodeUnschedulable:
			// reported as cordoned below
		case strings.HasPrefix(t.Key, "nvidia.com/gpu") || t.Effect == corev1.TaintEffectNoSchedule:
			h.facts = append(h.facts, desc+" (new pods need a toleration)")
		}
	}
	if n.Spec.Unschedulable {
		h.add(degraded, "cordoned: no new pods are scheduled here")
	}
	return h
}

func (s *Server) gpuNodeHealth(ctx context.Context, args nodeHealthArgs) (contract.NodeHealthReport, string, error) {
	out := contract.NodeHealthReport{Nodes: []contract.NodeHealth{}}
	nodes, err := s.gpuNodes(ctx, args.Node)
	if err != nil {
		return out, "", err
	}
	if len(nodes) == 0 {
		return out, noGPUNodes, nil
	}
	health := map[string]*nodeHealth{}
	names := make([]string, len(nodes))
	for i := range nodes {
		names[i] = nodes[i].Name
		health[nodes[i].Name] = fromAPI(&nodes[i])
	}
	var mu sync.Mutex
	err = s.eachAgent(ctx, names, func(ctx context.Context, node string, a agent) {
		var ah contract.GPUHealthReport
		err := s.call(ctx, a, "gpu_health", &ah)
		// Which pods' processes run on which GPU, for the pods' GPUs (best effort).
		var ps contract.GPUProcesses
		psOK := err == nil && s.call(ctx, a, "gpu_processes", &ps) == nil
		mu.Lock()
		defer mu.Unlock()
		h := health[node]
		if err != nil {
			h.facts = append(h.facts, "node agent: no GPU health data: "+err.Error())
			return
		}
		if psOK {
			h.podGPUs = map[string][]int{}
			for _, g := range ps.GPUs {
				for _, p := range g.Processes {
					if p.Pod != "" && !slices.Contains(h.podGPUs[p.Pod], g.Index) {
						h.podGPUs[p.Pod] = append(h.podGPUs[p.Pod], g.Index)
					}
				}
			}
		}
		h.simulated = ah.Simulated
		counts := map[verdict]int{}
		var lines []string
		for _, g := range ah.GPUs {
			v := parseVerdict(g.Verdict)
			counts[v]++
			lines = append(lines, fmt.Sprintf("  GPU %d %s: %s; action: %s", g.Index, g.UUID, g.Verdict, g.Action))
			h.gpus = append(h.gpus, g)
			if v > healthy {
				reason := strings.Join(g.Reasons, "; ")
				h.add(v, fmt.Sprintf("node agent: GPU %d %s: %s", g.Index, g.Verdict, reason))
			}
		}
		h.facts = append(h.facts, fmt.Sprintf("node agent %s: %d GPUs: %d healthy, %d degraded, %d failed", a.pod, len(ah.GPUs), counts[healthy], counts[degraded], counts[failed]))
		h.facts = append(h.facts, lines...)
	})
	if err != nil {
		return out, "", err
	}
	pods, err := s.kube.pods(ctx, "")
	if err != nil {
		return out, "", err
	}
	byNode := map[string][]contract.GPUPod{}
	for _, p := range holding(pods) {
		name := p.Namespace + "/" + p.Name
		var gpus []int
		if h := health[p.Spec.NodeName]; h != nil {
			gpus = append(slices.Clone(h.podGPUs[name]), h.podGPUs["uid "+string(p.UID)]...)
			slices.Sort(gpus)
			gpus = slices.Compact(gpus)
		}
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], gpuPod(&p, gpus))
	}
	counts := map[verdict]int{}
	var blocks []string
	for _, n := range nodes {
		h := health[n.Name]
		ps := byNode[n.Name]
		slices.SortFunc(ps, func(a, b contract.GPUPod) int { return strings.Compare(a.Pod, b.Pod) })
		out.Nodes = append(out.Nodes, contract.NodeHealth{Node: n.Name, Verdict: h.verdict.String(), Reasons: h.reasons, Facts: h.facts, GPUs: h.gpus, Pods: ps, Simulated: h.simulated})
		counts[h.verdict]++
		lines := []string{fmt.Sprintf("node %s: %s", n.Name, h.verdict)}
		for _, r := range h.reasons {
			lines = append(lines, "  reason: "+r)
		}
		for _, f := range h.facts {
			lines = append(lines, "  "+f)
		}
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	if args.Output == "json" {
		text, err := asJSON(out, s.cfg.MaxBytes)
		return out, text, err
	}
	summary := fmt.Sprintf("%d GPU nodes: %d healthy, %d degraded, %d failed\n", len(nodes), counts[healthy], counts[degraded], counts[failed])
	return out, mcptool.Cap(summary+strings.Join(blocks, "\n")+"\n", s.cfg.MaxBytes), nil
}

// asJSON is the text of output: json: the structured content as one line of JSON, for programs
// written before structured content.
func asJSON(v any, maxBytes int) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return mcptool.Cap(string(b)+"\n", maxBytes), nil
}

// gpuPod is a pod holding GPU resources as the contract gives it: where, what owns it, what it
// requests, and the GPU indexes its processes run on (when the node agent sees them).
func gpuPod(p *corev1.Pod, gpus []int) contract.GPUPod {
	res := map[string]int64{}
	for r, n := range PodGPUs(p) {
		res[string(r)] = n
	}
	return contract.GPUPod{Pod: p.Namespace + "/" + p.Name, Node: p.Spec.NodeName, Owner: workloadOf(p), Resources: res, GPUs: gpus}
}

// workloadOf is the workload that owns a pod, as kind/namespace/name: its controller, and a
// ReplicaSet's Deployment by the name the Deployment controller gives its ReplicaSets
// (<deployment>-<pod-template-hash>); empty for a pod no controller owns.
func workloadOf(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		switch o.Kind {
		case "ReplicaSet":
			if h := p.Labels["pod-template-hash"]; h != "" && strings.HasSuffix(o.Name, "-"+h) {
				return "deployment/" + p.Namespace + "/" + strings.TrimSuffix(o.Name, "-"+h)
			}
			return "replicaset/" + p.Namespace + "/" + o.Name
		case "StatefulSet", "DaemonSet", "Job":
			return strings.ToLower(o.Kind) + "/" + p.Namespace + "/" + o.Name
		}
		return strings.ToLower(o.Kind) + "/" + p.Namespace + "/" + o.Name
	}
	return ""
}
