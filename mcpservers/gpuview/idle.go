package gpuview

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// idleBelow is the GPU utilization, in percent, under which a GPU counts as idle.
const idleBelow = 5

type idleArgs struct {
	Namespace      string `json:"namespace,omitempty"`
	MinIdleMinutes *int   `json:"minIdleMinutes,omitempty"`
}

func (a *idleArgs) Validate() error {
	if a.MinIdleMinutes != nil && *a.MinIdleMinutes < 0 {
		return errors.New("minIdleMinutes must be 0 or more")
	}
	return nil
}

func (s *Server) idleTool() mcptool.Tool {
	return mcptool.NewData(mcptool.Spec{
		Name: "gpu_idle",
		Description: "Pods holding nvidia.com/gpu whose GPUs are idle (utilization below 5%), with how long they have been idle. " +
			"With --prometheus-url, utilization and idle time come from Prometheus (the DCGM exporter's DCGM_FI_DEV_GPU_UTIL and its history); " +
			"otherwise from the GPU node agents (gpu_metrics and gpu_processes over MCP), which keep no history, so idle time counts " +
			"from this server's first idle observation. The answer ends with its source.",
		Effect: mcptool.Read,
		Params: []mcp.ToolOption{
			namespaceParam(),
			mcp.WithInteger("minIdleMinutes", mcp.Description("report pods idle at least this long (default 10); shorter idleness is listed apart"), mcp.Min(0), mcp.Max(100000)),
		},
	}, s.gpuIdle)
}

// nodeUse is what the source (a node's agent, or Prometheus) says of a node: GPU utilization by
// index (a GPU whose utilization could not be read is absent), UUIDs, and GPU indexes by pod.
type nodeUse struct {
	util      map[int]uint32
	uuid      map[int]string
	byPod     map[string][]int // "namespace/name" or "uid <UID>" -> GPU indexes
	simulated bool             // the node agent serves simulated GPUs
	err       error
}

func newNodeUse() *nodeUse {
	return &nodeUse{util: map[int]uint32{}, uuid: map[int]string{}, byPod: map[string][]int{}}
}

// agentUse asks the node agents of nodes for their GPUs' utilization and processes.
func (s *Server) agentUse(ctx context.Context, nodes []string) (map[string]*nodeUse, error) {
	use := map[string]*nodeUse{}
	var mu sync.Mutex
	err := s.eachAgent(ctx, nodes, func(ctx context.Context, node string, a agent) {
		u := newNodeUse()
		var m contract.GPUMetrics
		var ps contract.GPUProcesses
		if u.err = s.call(ctx, a, "gpu_metrics", &m); u.err == nil {
			u.err = s.call(ctx, a, "gpu_processes", &ps)
		}
		u.simulated = u.err == nil && (m.Simulated || ps.Simulated)
		for _, g := range m.GPUs {
			u.uuid[g.Index] = g.UUID
			if g.UtilizationGPU != nil {
				u.util[g.Index] = *g.UtilizationGPU
			}
		}
		for _, g := range ps.GPUs {
			for _, p := range g.Processes {
				if p.Pod != "" && !slices.Contains(u.byPod[p.Pod], g.Index) {
					u.byPod[p.Pod] = append(u.byPod[p.Pod], g.Index)
				}
			}
		}
		mu.Lock()
		use[node] = u
		mu.Unlock()
	})
	return use, err
}

func (s *Server) gpuIdle(ctx context.Context, args idleArgs) (contract.IdleGPUs, string, error) {
	minIdle := 10 * time.Minute
	if args.MinIdleMinutes != nil {
		minIdle = time.Duration(*args.MinIdleMinutes) * time.Minute
	}
	out := contract.IdleGPUs{IdleBelowPercent: idleBelow, MinIdleMinutes: int(minIdle.Minutes()), Idle: []contract.IdlePod{}}
	if err := s.kube.checkNamespace(args.Namespace); err != nil {
		return out, "", err
	}
	all, err := s.kube.pods(ctx, "")
	if err != nil {
		return out, "", err
	}
	gpuPodsByNode := map[string][]corev1.Pod{} // every GPU pod, to know who shares a node
	var wanted []corev1.Pod
	for _, p := range holding(all) {
		if PodGPUs(&p)[resGPU] == 0 {
			continue
		}
		gpuPodsByNode[p.Spec.NodeName] = append(gpuPodsByNode[p.Spec.NodeName], p)
		if args.Namespace == "" || p.Namespace == args.Namespace {
			wanted = append(wanted, p)
		}
	}
	if len(wanted) == 0 {
		return out, "no pod holds nvidia.com/gpu" + map[bool]string{true: " in namespace " + args.Namespace, false: ""}[args.Namespace != ""] + "\n", nil
	}
	var nodes []string
	for _, p := range wanted {
		if !slices.Contains(nodes, p.Spec.NodeName) {
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	slices.Sort(nodes)
	now := time.Now()
	var (
		use       map[string]*nodeUse
		since     func(node string, u *nodeUse, index int) (t time.Time, exact bool)
		source    string
		badSeries []string
		// unmapped says why a pod's GPUs are not known, and unmappedHint what it suggests.
		unmapped, unmappedHint string
	)
	if s.prom != nil {
		pu, err := s.prom.read(ctx, now)
		if err != nil {
			return out, "", err
		}
		use = pu.nodes
		for _, n := range nodes {
			if use[n] == nil {
				use[n] = &nodeUse{err: fmt.Errorf("Prometheus has no %s series with Hostname=%q: is the DCGM exporter running on that node, and scraped?", utilMetric, n)}
			}
		}
		since = func(node string, u *nodeUse, i int) (time.Time, bool) {
			k := gpuSeries{node: node, uuid: u.uuid[i], index: i}.key()
			return pu.since[k], pu.exact[k]
		}
		source = s.prom.source()
		badSeries = pu.bad
		unmapped = "no " + utilMetric + " series carries its pod label"
		unmappedHint = "turn on the DCGM exporter's Kubernetes pod mapping"
	} else {
		var err error
		if use, err = s.agentUse(ctx, nodes); err != nil {
			return out, "", err
		}
		s.idleMu.Lock()
		defer s.idleMu.Unlock()
		for _, n := range nodes {
			u := use[n]
			if u.err != nil {
				continue
			}
			// Track every GPU's idleness, whoever holds it.
			for i, v := range u.util {
				key := n + "/" + u.uuid[i] + "/" + fmt.Sprint(i)
				if v < idleBelow {
					if _, ok := s.idleSince[key]; !ok {
						s.idleSince[key] = now
					}
				} else {
					delete(s.idleSince, key)
				}
			}
		}
		since = func(node string, u *nodeUse, i int) (time.Time, bool) {
			return s.idleSince[node+"/"+u.uuid[i]+"/"+fmt.Sprint(i)], false
		}
		source = "the GPU node agents (gpu_metrics, gpu_processes); they keep no history, so idle time counts from this server's first idle observation"
		unmapped = "no GPU process of it is seen"
		unmappedHint = "no process at all suggests it holds its GPUs idle"
	}

	idleT := mcptool.Table{Header: []string{"NAMESPACE", "POD", "NODE", "GPUS", "UTILIZATION", "IDLE"}}
	recentT := mcptool.Table{Header: []string{"NAMESPACE", "POD", "NODE", "GPUS", "UTILIZATION", "IDLE"}}
	var busy int
	var unknown, noData []string
	for _, n := range nodes {
		if u := use[n]; u.err != nil {
			noData = append(noData, fmt.Sprintf("node %s: no utilization data: %v", n, u.err))
		} else if u.simulated {
			out.Simulated = true
		}
	}
	for _, p := range wanted {
		u := use[p.Spec.NodeName]
		if u.err != nil {
			continue
		}
		name := p.Namespace + "/" + p.Name
		gpus := append(u.byPod[name], u.byPod["uid "+string(p.UID)]...)
		how := ""
		if len(gpus) == 0 {
			if len(gpuPodsByNode[p.Spec.NodeName]) != 1 {
				unknown = append(unknown, fmt.Sprintf("%s on %s: %s and %d GPU pods share the node, so which GPUs it holds is unknown (%s)", name, p.Spec.NodeName, unmapped, len(gpuPodsByNode[p.Spec.NodeName]), unmappedHint))
				continue
			}
			for i := range u.util {
				gpus = append(gpus, i)
			}
			how = " (all GPUs of the node: the only GPU pod there)"
		}
		slices.Sort(gpus)
		gpus = slices.Compact(gpus)
		var utils, idx []string
		var percents []uint32
		isIdle := true
		var first time.Time
		exact := true
		for _, i := range gpus {
			idx = append(idx, fmt.Sprint(i))
			v, ok := u.util[i]
			if !ok {
				utils = append(utils, "n/a")
				isIdle = false
				continue
			}
			utils = append(utils, fmt.Sprintf("%d%%", v))
			percents = append(percents, v)
			if v >= idleBelow {
				isIdle = false
				continue
			}
			t, ok := since(p.Spec.NodeName, u, i)
			if first.IsZero() || t.After(first) {
				first = t // the pod is idle since its most recently idle GPU
			}
			exact = exact && ok
		}
		if !isIdle || len(gpus) == 0 {
			busy++
			continue
		}
		idleFor := now.Sub(first)
		when := fmt.Sprintf("at least %dm (since %s)", int(idleFor.Minutes()), first.UTC().Format(time.RFC3339))
		switch {
		case s.prom != nil && exact:
			when = fmt.Sprintf("%dm (since %s)", int(idleFor.Minutes()), first.UTC().Format(time.RFC3339))
		case s.prom != nil:
			when = fmt.Sprintf("at least %dm (idle through the whole lookback, since %s)", int(idleFor.Minutes()), first.UTC().Format(time.RFC3339))
		case first.Equal(now):
			when = "first observation now (" + now.UTC().Format(time.RFC3339) + "): call again later to see how long it stays idle"
		}
		row := []string{p.Namespace, p.Name, p.Spec.NodeName, strings.Join(idx, ",") + how, strings.Join(utils, ","), when}
		ip := contract.IdlePod{
			Pod: name, Node: p.Spec.NodeName, GPUs: gpus, UtilizationPercent: percents, AllGPUsOfNode: how != "",
			IdleSince: first.UTC().Format(time.RFC3339), IdleMinutes: int(idleFor.Minutes()), AtLeast: s.prom == nil || !exact,
		}
		if idleFor >= minIdle {
			idleT.Add(row...)
			out.Idle = append(out.Idle, ip)
		} else {
			recentT.Add(row...)
			out.Recent = append(out.Recent, ip)
		}
	}
	out.Busy, out.Unknown, out.NoData, out.Unreadable, out.Source = busy, unknown, noData, badSeries, source
	var b strings.Builder
	fmt.Fprintf(&b, "%d pods hold idle GPUs (utilization below %d%%) for at least %d minutes; %d pods use their GPUs\n", len(idleT.Rows), idleBelow, int(minIdle.Minutes()), busy)
	b.WriteString(idleT.Render(s.cfg.MaxBytes / 2))
	if len(recentT.Rows) > 0 {
		fmt.Fprintf(&b, "\nidle, but seen idle for less than %d minutes:\n", int(minIdle.Minutes()))
		b.WriteString(recentT.Render(s.cfg.MaxBytes / 4))
	}
	for _, l := range unknown {
		b.WriteString("unknown: " + l + "\n")
	}
	for _, l := range noData {
		b.WriteString(l + "\n")
	}
	for _, l := range badSeries {
		b.WriteString("unreadable: " + l + "\n")
	}
	b.WriteString("source: " + source + "\n")
	return out, mcptool.Cap(b.String(), s.cfg.MaxBytes), nil
}
