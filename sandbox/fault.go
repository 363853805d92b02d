package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

// InjectXID makes the simulated GPU gpu of node report XID code xid, now: it adds the XID to the
// node agent's fault file, which the running agent re-reads, and returns once the agent reports
// it (xid_events), by which time the agent has handed it to its NATS publisher. Bad arguments
// change nothing.
func (s *Sandbox) InjectXID(ctx context.Context, node string, gpu, xid int) error {
	if err := s.checkGPU(node, gpu); err != nil {
		return err
	}
	if xid < 1 || xid > 1000 {
		return fmt.Errorf("XID %d is not an XID code (1..1000); 79 is \"GPU has fallen off the bus\", 48 a double-bit ECC error", xid)
	}
	var at time.Time
	if err := s.editFaults(node, func(f *simulate.Faults) {
		g := gpuOf(f, gpu)
		at = stampAfter(time.Now(), g.XIDs, xid)
		g.XIDs = append(g.XIDs, simulate.XID{Code: xid, Time: at})
	}); err != nil {
		return err
	}
	when := at.Format(time.RFC3339)
	return s.waitAgent(ctx, node, fmt.Sprintf("XID %d on GPU %d at %s", xid, gpu, when), func(ctx context.Context) (string, error) {
		var x contract.XIDEvents
		if err := s.callAgentData(ctx, node, "xid_events", map[string]any{"index": gpu}, &x); err != nil {
			return "", err
		}
		if !slices.ContainsFunc(x.Events, func(e contract.XIDEvent) bool { return e.Time == when && e.Index == gpu && e.Code == xid }) {
			return fmt.Sprintf("xid_events does not list it yet; it lists %v", xidsOf(x, gpu)), nil
		}
		return "", nil
	})
}

// SetGPUFaults puts f as the faults of GPU f.Index of node's simulated GPUs (replacing what that
// GPU had; XIDs in f whose Time is zero are stamped now, one second apart, and after any XID the
// GPU had, so that each is a new event) and returns once the node agent reports them: xid_events
// lists exactly f's XIDs for that GPU, and gpu_health, gpu_metrics and gpu_processes show its ECC
// counters, remapped rows, NVLink links, lost state, temperature, utilization, throttle reasons
// and processes. Faults the fault file would refuse change nothing. A GPU that gpu_reset reset
// since its faults were set keeps clear of those the reset cleared when f sets them unchanged (the
// simulated node cannot tell them from the file rewritten for another GPU): ClearGPUFaults first
// to inject the same faults again.
func (s *Sandbox) SetGPUFaults(ctx context.Context, node string, f simulate.GPUFaults) error {
	if err := s.checkGPU(node, f.Index); err != nil {
		return err
	}
	var put simulate.GPUFaults
	if err := s.editFaults(node, func(all *simulate.Faults) {
		g := gpuOf(all, f.Index)
		put = f
		put.XIDs = make([]simulate.XID, len(f.XIDs))
		at := time.Now()
		for i, x := range f.XIDs {
			if x.Time.IsZero() {
				x.Time = stampAfter(at, slices.Concat(g.XIDs, put.XIDs[:i]), 0)
				at = x.Time
			}
			put.XIDs[i] = x
		}
		*g = put
	}); err != nil {
		return err
	}
	return s.waitAgent(ctx, node, fmt.Sprintf("the faults set on GPU %d", f.Index), func(ctx context.Context) (string, error) {
		return s.agentShows(ctx, node, []simulate.GPUFaults{put})
	})
}

// ClearGPUFaults removes every fault injected into node's simulated GPUs and returns once the
// node agent reports all its GPUs healthy again (gpu_health), with no XID events (xid_events: the
// agent forgets the XIDs taken out of its fault file), no throttle reasons, overrides or
// processes, so the next scenario starts clean.
func (s *Sandbox) ClearGPUFaults(ctx context.Context, node string) error {
	if err := s.checkGPU(node, 0); err != nil {
		return err
	}
	if err := s.editFaults(node, func(f *simulate.Faults) { f.GPUs = []simulate.GPUFaults{} }); err != nil {
		return err
	}
	clean := make([]simulate.GPUFaults, simulate.NodeGPUs)
	for i := range clean {
		clean[i].Index = i
	}
	return s.waitAgent(ctx, node, "every GPU clean and healthy", func(ctx context.Context) (string, error) {
		if why, err := s.agentShows(ctx, node, clean); why != "" || err != nil {
			return why, err
		}
		var h contract.GPUHealthReport
		if err := s.callAgentData(ctx, node, "gpu_health", nil, &h); err != nil {
			return "", err
		}
		var bad []string
		for _, g := range h.GPUs {
			if g.Verdict != "healthy" {
				bad = append(bad, fmt.Sprintf("GPU %d %s: %s", g.Index, g.Verdict, strings.Join(g.Reasons, "; ")))
			}
		}
		if len(bad) > 0 {
			return "gpu_health: " + strings.Join(bad, "; "), nil
		}
		return "", nil
	})
}

// checkGPU says what is wrong when node has no simulated GPU node agent or no GPU index.
func (s *Sandbox) checkGPU(node string, index int) error {
	if _, ok := s.Agents[node]; !ok {
		return fmt.Errorf("node %q has no simulated GPU node agent; the sandbox's GPU nodes are %s", node, strings.Join(s.GPUNodes, ", "))
	}
	if index < 0 || index >= simulate.NodeGPUs {
		return fmt.Errorf("GPU %d does not exist on %s: its simulated GPUs are 0..%d", index, node, simulate.NodeGPUs-1)
	}
	return nil
}

// editFaults changes node's fault file with edit, under the node's lock so that concurrent
// changes (two opsmesh sandbox fault, an eval clearing while another injects) all take, and
// writes it atomically (the running agent re-reads it and must never see half a file). A result
// the fault file refuses (ParseFaults) is not written.
func (s *Sandbox) editFaults(node string, edit func(*simulate.Faults)) error {
	path := s.faultFile(node)
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("fault file of %s: %w", node, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking the fault file of %s: %w", node, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("fault file of %s: %w", node, err)
	}
	f, err := simulate.ParseFaults(data, simulate.NodeGPUs)
	if err != nil {
		return fmt.Errorf("fault file %s: %w", path, err)
	}
	edit(f)
	slices.SortFunc(f.GPUs, func(a, b simulate.GPUFaults) int { return a.Index - b.Index })
	out, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	if _, err := simulate.ParseFaults(out, simulate.NodeGPUs); err != nil {
		return fmt.Errorf("refused, %s was left as it was: %w", path, err)
	}
	out = append([]byte("# Faults injected into "+node+"'s simulated GPUs (opsmesh sandbox fault); the agent re-reads this file.\n"), out...)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// gpuOf returns the entry of GPU index in f, adding an empty one if f has none.
func gpuOf(f *simulate.Faults, index int) *simulate.GPUFaults {
	i := slices.IndexFunc(f.GPUs, func(g simulate.GPUFaults) bool { return g.Index == index })
	if i < 0 {
		f.GPUs = append(f.GPUs, simulate.GPUFaults{Index: index})
		i = len(f.GPUs) - 1
	}
	return &f.GPUs[i]
}

// stampAfter is the time for a new XID of code (0: any code) at now: a second after the latest
// of xids with that code when that is not before now, so that it is a new event. The time keeps
// its fraction of a second, so that an XID stamped after a gpu_reset is after the reset (the agent
// counts only XIDs after a GPU's last reset) even within the same second.
func stampAfter(now time.Time, xids []simulate.XID, code int) time.Time {
	at := now.UTC()
	for _, x := range xids {
		if (code == 0 || x.Code == code) && !x.Time.Before(at) {
			at = x.Time.UTC().Add(time.Second)
		}
	}
	return at
}

// waitAgent polls check until it finds nothing missing (""), for up to 30 s; what is the
// awaited state, for the error.
func (s *Sandbox) waitAgent(ctx context.Context, node, what string, check func(context.Context) (string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for {
		why, err := check(ctx)
		if err == nil && why == "" {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wrote %s into %s, but the node agent of %s did not report it: %s; see %s",
				what, s.faultFile(node), node, last, s.path("logs", "gpu-agent-"+node+".log"))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// agentShows says what the node agent does not show yet of the faults of the GPUs in want
// (each GPU's whole state: what a field leaves unset must be absent), "" once it shows all. It
// reads the agent's structured content: xid_events, gpu_health (with each GPU's detail),
// gpu_metrics and gpu_processes.
func (s *Sandbox) agentShows(ctx context.Context, node string, want []simulate.GPUFaults) (string, error) {
	var xids contract.XIDEvents
	if err := s.callAgentData(ctx, node, "xid_events", map[string]any{"limit": 1000}, &xids); err != nil {
		return "", err
	}
	var health contract.GPUHealthReport
	if err := s.callAgentData(ctx, node, "gpu_health", nil, &health); err != nil {
		return "", err
	}
	var metrics contract.GPUMetrics
	if err := s.callAgentData(ctx, node, "gpu_metrics", nil, &metrics); err != nil {
		return "", err
	}
	var procs contract.GPUProcesses
	if err := s.callAgentData(ctx, node, "gpu_processes", nil, &procs); err != nil {
		return "", err
	}
	var missing []string
	for _, g := range want {
		// XIDs: exactly g's, as xid_events lists them.
		got := xidsOf(xids, g.Index)
		var exp []string
		for _, x := range g.XIDs {
			exp = append(exp, x.Time.UTC().Format(time.RFC3339)+" XID "+fmt.Sprint(x.Code))
		}
		slices.Sort(exp)
		if exp = slices.Compact(exp); !slices.Equal(got, exp) {
			missing = append(missing, fmt.Sprintf("GPU %d: xid_events lists %v, want %v", g.Index, got, exp))
		}

		var detail contract.GPUHealthDetail
		if i := slices.IndexFunc(health.GPUs, func(h contract.GPUHealth) bool { return h.Index == g.Index }); i < 0 {
			missing = append(missing, fmt.Sprintf("GPU %d: gpu_health does not list it", g.Index))
			continue
		} else if d := health.GPUs[i].Detail; d != nil {
			detail = *d
		}
		if g.Lost != detail.Lost {
			missing = append(missing, fmt.Sprintf("GPU %d: gpu_health says lost=%t, want %t", g.Index, detail.Lost, g.Lost))
		}
		if g.Lost {
			continue // a lost GPU answers nothing else
		}
		var ecc simulate.ECC
		if g.ECC != nil {
			ecc = *g.ECC
		}
		wantECC := contract.ECCCounts{VolatileCorrected: ecc.VolatileCorrected, VolatileUncorrected: ecc.VolatileUncorrected,
			AggregateCorrected: ecc.AggregateCorrected, AggregateUncorrected: ecc.AggregateUncorrected}
		if detail.ECC == nil || *detail.ECC != wantECC {
			missing = append(missing, fmt.Sprintf("GPU %d: gpu_health lacks %q", g.Index, fmt.Sprintf(
				"ecc: volatile %d corrected / %d uncorrected; aggregate %d corrected / %d uncorrected",
				ecc.VolatileCorrected, ecc.VolatileUncorrected, ecc.AggregateCorrected, ecc.AggregateUncorrected)))
		}
		var rows simulate.RemappedRows
		if g.RemappedRows != nil {
			rows = *g.RemappedRows
		}
		wantRows := contract.RemappedRows{Correctable: rows.Correctable, Uncorrectable: rows.Uncorrectable, Pending: rows.Pending, Failure: rows.Failure}
		if detail.RemappedRows == nil || *detail.RemappedRows != wantRows {
			missing = append(missing, fmt.Sprintf("GPU %d: gpu_health lacks %q", g.Index, fmt.Sprintf(
				"remapped rows: correctable %d, uncorrectable %d, pending %s, failure %s",
				rows.Correctable, rows.Uncorrectable, yesNo(rows.Pending), yesNo(rows.Failure))))
		}
		down := slices.Clone(g.NVLinkDown)
		slices.Sort(down)
		down = slices.Compact(down)
		if len(down) > 0 {
			if !slices.Equal(detail.NVLinkDown, down) {
				links := make([]string, len(down))
				for i, l := range down {
					links[i] = fmt.Sprint(l)
				}
				missing = append(missing, fmt.Sprintf("GPU %d: gpu_health lacks NVLink %q", g.Index, "; down: "+strings.Join(links, ",")))
			}
		} else if len(detail.NVLinkDown) > 0 {
			missing = append(missing, fmt.Sprintf("GPU %d: gpu_health still has NVLink links down", g.Index))
		}

		for _, m := range metrics.GPUs {
			if m.Index != g.Index {
				continue
			}
			if t := g.TemperatureC; t != nil && (m.TemperatureC == nil || *m.TemperatureC != *t) {
				missing = append(missing, fmt.Sprintf("GPU %d: gpu_metrics temperature is not %d °C", g.Index, *t))
			}
			if u := g.Utilization; u != nil && (m.UtilizationGPU == nil || *m.UtilizationGPU != u.GPU || m.UtilizationMemory == nil || *m.UtilizationMemory != u.Memory) {
				missing = append(missing, fmt.Sprintf("GPU %d: gpu_metrics utilization is not %d%%/%d%%", g.Index, u.GPU, u.Memory))
			}
			shown := strings.Split(m.ClockEvents, ",")
			for _, r := range gpu.ClockEventReasons {
				if r.Name == "GpuIdle" {
					continue // the simulation's own: idle without processes
				}
				if slices.Contains(g.Throttle, r.Name) != slices.Contains(shown, r.Name) {
					missing = append(missing, fmt.Sprintf("GPU %d: gpu_metrics clock events are %q, want throttle reasons %v", g.Index, m.ClockEvents, g.Throttle))
					break
				}
			}
		}
		var gotPIDs, wantPIDs []uint32
		for _, p := range procs.GPUs {
			if p.Index == g.Index {
				for _, pr := range p.Processes {
					gotPIDs = append(gotPIDs, pr.PID)
				}
			}
		}
		for _, p := range g.Processes {
			wantPIDs = append(wantPIDs, p.PID)
		}
		slices.Sort(gotPIDs)
		slices.Sort(wantPIDs)
		if !slices.Equal(gotPIDs, wantPIDs) {
			missing = append(missing, fmt.Sprintf("GPU %d: gpu_processes lists PIDs %v, want %v", g.Index, gotPIDs, wantPIDs))
		}
	}
	return strings.Join(missing, "; "), nil
}

// xidsOf are the events of GPU index in x, each as "<time> XID <code>", sorted.
func xidsOf(x contract.XIDEvents, index int) []string {
	var out []string
	for _, e := range x.Events {
		if e.Index == index {
			out = append(out, e.Time+" XID "+fmt.Sprint(e.Code))
		}
	}
	slices.Sort(out)
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// callAgent calls a tool of node's simulated GPU node agent; a tool's error answer is an error.
func (s *Sandbox) callAgent(ctx context.Context, node, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	token, err := readTrim(s.AgentTokenFile)
	if err != nil {
		return nil, err
	}
	c, err := mcpclient.NewStreamableHttpClient(s.Agents[node], transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-sandbox", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return nil, fmt.Errorf("node agent of %s at %s: %w", node, s.Agents[node], err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = tool, args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("node agent of %s: %s: %w", node, tool, err)
	}
	if res.IsError {
		return nil, fmt.Errorf("node agent of %s: %s failed: %s", node, tool, textOf(res))
	}
	return res, nil
}

// callAgentData calls a tool of node's simulated GPU node agent and decodes its structured
// content (the api/contract type the tool declares) into v.
func (s *Sandbox) callAgentData(ctx context.Context, node, tool string, args map[string]any, v any) error {
	res, err := s.callAgent(ctx, node, tool, args)
	if err != nil {
		return err
	}
	raw := res.RawStructuredContent
	if len(raw) == 0 && res.StructuredContent != nil {
		if raw, err = json.Marshal(res.StructuredContent); err != nil {
			return fmt.Errorf("node agent of %s: %s: re-encoding its structured content: %w", node, tool, err)
		}
	}
	if len(raw) == 0 {
		return fmt.Errorf("node agent of %s: %s answered without structured content: the agent is older than this opsmesh; run opsmesh sandbox down and up again", node, tool)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("node agent of %s: %s answered structured content this opsmesh cannot read: %w", node, tool, err)
	}
	return nil
}

// textOf is the text of a tool's answer.
func textOf(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, content := range res.Content {
		if tc, ok := content.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// CallAgent calls a tool of node's simulated GPU node agent (gpu_health, xid_events, ...) and
// returns its text.
func (s *Sandbox) CallAgent(ctx context.Context, node, tool string, args map[string]any) (string, error) {
	if _, ok := s.Agents[node]; !ok {
		return "", fmt.Errorf("node %q has no simulated GPU node agent; the sandbox's GPU nodes are %s", node, strings.Join(s.GPUNodes, ", "))
	}
	res, err := s.callAgent(ctx, node, tool, args)
	if err != nil {
		return "", err
	}
	return textOf(res), nil
}
