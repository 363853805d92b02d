package gpu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func selectParams() []mcp.ToolOption {
	return []mcp.ToolOption{
		mcp.WithInteger("index", mcp.Description("only the GPU with this index (default: every GPU)"), mcp.Min(0), mcp.Max(1023)),
		mcp.WithString("uuid", mcp.Description("only the GPU with this UUID (GPU-...)"), mcp.MaxLength(96)),
	}
}

// outputParam is the output argument of the tools that can answer in JSON for programs (the
// cluster's GPU view reads gpu_metrics, gpu_processes and gpu_health so).
func outputParam() mcp.ToolOption {
	return mcp.WithString("output", mcp.Description("text (default, a table for people and models) or json (the same facts for programs)"), mcp.Enum("text", "json"))
}

// outputArgs are gpuArgs with the output format.
type outputArgs struct {
	gpuArgs
	Output string `json:"output,omitempty"`
}

// asJSON renders v as one line of JSON.
func asJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b) + "\n", nil
}

// errText is value's wording of a failed reading, "" when err is nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return value(err, "")
}

func (a *NodeAgent) inventoryTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.New(mcptool.Spec{
			Name:        "gpu_list",
			Description: "The node's GPUs: index, UUID, name, memory used/total, MIG mode and MIG devices, with the driver and CUDA versions.",
			Effect:      mcptool.Read,
			Params:      selectParams(),
		}, a.gpuList),
		mcptool.New(mcptool.Spec{
			Name:        "gpu_metrics",
			Description: "Per GPU: utilization (GPU and memory), temperature, power draw vs limit, SM and memory clocks, and the decoded clock-event (throttle) reasons.",
			Effect:      mcptool.Read,
			Params:      append(selectParams(), outputParam()),
		}, a.gpuMetrics),
		mcptool.New(mcptool.Spec{
			Name:        "gpu_processes",
			Description: "Compute processes on each GPU with the GPU memory they use, and the pod and container each belongs to where its cgroup says.",
			Effect:      mcptool.Read,
			Params:      append(selectParams(), outputParam()),
		}, a.gpuProcesses),
	}
}

func (a *NodeAgent) gpuList(_ context.Context, args gpuArgs) (string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	drv, err := a.lib.DriverVersion()
	cuda, cerr := a.lib.CUDAVersion()
	fmt.Fprintf(&b, "driver %s, CUDA %s, %d GPUs shown\n", value(err, "%s", drv), value(cerr, "%s", cuda), len(idx))
	t := mcptool.Table{Header: []string{"INDEX", "UUID", "NAME", "MEMORY(USED/TOTAL)", "MIG"}}
	var migLines []string
	for _, i := range idx {
		d, err := a.lib.Device(i)
		if err != nil {
			t.Add(fmt.Sprint(i), value(err, ""), "", "", "")
			continue
		}
		u, uerr := d.UUID()
		if errors.Is(uerr, ErrGPULost) {
			t.Add(fmt.Sprint(i), "lost", "fell off the bus (see gpu_health)", "", "")
			continue
		}
		name, nerr := d.Name()
		total, used, merr := d.Memory()
		on, migs, migErr := d.MIG()
		mig := value(migErr, "disabled")
		if migErr == nil && on {
			mig = fmt.Sprintf("enabled, %d devices", len(migs))
			for _, m := range migs {
				migLines = append(migLines, fmt.Sprintf("  GPU %d: %s %s %d MiB", i, m.UUID, m.Name, mib(m.MemoryTotal)))
			}
		}
		t.Add(fmt.Sprint(i), value(uerr, "%s", u), value(nerr, "%s", name),
			value(merr, "%d/%d MiB", mib(used), mib(total)), mig)
	}
	b.WriteString(t.Render(a.cfg.MaxBytes))
	if len(migLines) > 0 {
		b.WriteString("MIG devices:\n" + strings.Join(migLines, "\n") + "\n")
	}
	return b.String(), nil
}

// MetricsJSON is gpu_metrics' answer with output: json; readings a GPU does not give are absent,
// with the reason in Error.
type MetricsJSON struct {
	GPUs []GPUMetricsJSON `json:"gpus"`
}

// GPUMetricsJSON is one GPU's metrics.
type GPUMetricsJSON struct {
	Index             int     `json:"index"`
	UUID              string  `json:"uuid,omitempty"`
	UtilizationGPU    *uint32 `json:"utilizationGPU,omitempty"`
	UtilizationMemory *uint32 `json:"utilizationMemory,omitempty"`
	TemperatureC      *uint32 `json:"temperatureC,omitempty"`
	PowerDrawW        *uint32 `json:"powerDrawW,omitempty"`
	PowerLimitW       *uint32 `json:"powerLimitW,omitempty"`
	ClockEvents       string  `json:"clockEvents,omitempty"`
	Error             string  `json:"error,omitempty"`
}

func (a *NodeAgent) gpuMetricsJSON(idx []int) (string, error) {
	out := MetricsJSON{GPUs: []GPUMetricsJSON{}}
	for _, i := range idx {
		m := GPUMetricsJSON{Index: i}
		d, err := a.lib.Device(i)
		if err != nil {
			m.Error = errText(err)
			out.GPUs = append(out.GPUs, m)
			continue
		}
		if u, err := d.UUID(); err == nil {
			m.UUID = u
		}
		g, mem, uerr := d.Utilization()
		if uerr != nil {
			m.Error = errText(uerr)
		} else {
			m.UtilizationGPU, m.UtilizationMemory = &g, &mem
		}
		if errors.Is(uerr, ErrGPULost) {
			out.GPUs = append(out.GPUs, m)
			continue
		}
		if t, err := d.Temperature(); err == nil {
			m.TemperatureC = &t
		}
		if draw, limit, err := d.Power(); err == nil {
			dw, lw := draw/1000, limit/1000
			m.PowerDrawW, m.PowerLimitW = &dw, &lw
		}
		if r, err := d.ClockEventReasons(); err == nil {
			m.ClockEvents = ClockEventNames(r)
		}
		out.GPUs = append(out.GPUs, m)
	}
	return asJSON(out)
}

func (a *NodeAgent) gpuMetrics(_ context.Context, args outputArgs) (string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return "", err
	}
	if args.Output == "json" {
		return a.gpuMetricsJSON(idx)
	}
	t := mcptool.Table{Header: []string{"INDEX", "UTIL(GPU/MEM)", "TEMP", "POWER(DRAW/LIMIT)", "SM-CLOCK", "MEM-CLOCK", "CLOCK-EVENTS"}}
	for _, i := range idx {
		d, err := a.lib.Device(i)
		if err != nil {
			t.Add(fmt.Sprint(i), value(err, ""))
			continue
		}
		g, m, uerr := d.Utilization()
		if errors.Is(uerr, ErrGPULost) {
			t.Add(fmt.Sprint(i), "lost", "", "", "", "", "fell off the bus (see gpu_health)")
			continue
		}
		temp, terr := d.Temperature()
		draw, limit, perr := d.Power()
		sm, mem, cerr := d.Clocks()
		reasons, rerr := d.ClockEventReasons()
		t.Add(fmt.Sprint(i),
			value(uerr, "%d%%/%d%%", g, m),
			value(terr, "%dC", temp),
			value(perr, "%dW/%dW", draw/1000, limit/1000),
			value(cerr, "%dMHz", sm),
			value(cerr, "%dMHz", mem),
			value(rerr, "%s", ClockEventNames(reasons)))
	}
	return t.Render(a.cfg.MaxBytes), nil
}

// ProcessesJSON is gpu_processes' answer with output: json.
type ProcessesJSON struct {
	GPUs []GPUProcessesJSON `json:"gpus"`
}

// GPUProcessesJSON is one GPU's compute processes; Pod is "namespace/name" (or "uid <UID>") when
// known, empty otherwise.
type GPUProcessesJSON struct {
	Index     int           `json:"index"`
	Processes []ProcessJSON `json:"processes"`
	Error     string        `json:"error,omitempty"`
}

// ProcessJSON is one compute process.
type ProcessJSON struct {
	PID       uint32 `json:"pid"`
	UsedMiB   uint64 `json:"usedMiB"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
}

func (a *NodeAgent) gpuProcessesJSON(idx []int) (string, error) {
	out := ProcessesJSON{GPUs: []GPUProcessesJSON{}}
	for _, i := range idx {
		g := GPUProcessesJSON{Index: i}
		ps, err := a.processes(i)
		g.Error = errText(err)
		g.Processes = make([]ProcessJSON, len(ps))
		for k, p := range ps {
			g.Processes[k].PID, g.Processes[k].UsedMiB = p.PID, mib(p.UsedMemory)
			g.Processes[k].Pod, g.Processes[k].Container = p.Pod, p.Container
		}
		out.GPUs = append(out.GPUs, g)
	}
	return asJSON(out)
}

func (a *NodeAgent) gpuProcesses(_ context.Context, args outputArgs) (string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return "", err
	}
	if args.Output == "json" {
		return a.gpuProcessesJSON(idx)
	}
	t := mcptool.Table{Header: []string{"INDEX", "PID", "GPU-MEMORY", "POD", "CONTAINER"}}
	var notes []string
	for _, i := range idx {
		ps, err := a.processes(i)
		if err != nil {
			notes = append(notes, fmt.Sprintf("GPU %d: %s", i, value(err, "")))
			continue
		}
		for _, p := range ps {
			pod, container := p.Pod, p.Container
			if pod == "" {
				pod, container = "unknown pod", "-"
			}
			t.Add(fmt.Sprint(i), fmt.Sprint(p.PID), fmt.Sprintf("%d MiB", mib(p.UsedMemory)), pod, container)
		}
	}
	var b strings.Builder
	if len(t.Rows) == 0 {
		fmt.Fprintf(&b, "no compute processes on GPUs %s\n", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(idx)), ", "), "[]"))
	}
	b.WriteString(t.Render(a.cfg.MaxBytes))
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	return b.String(), nil
}

// processes lists the GPU's processes with their pods.
func (a *NodeAgent) processes(i int) ([]Process, error) {
	d, err := a.lib.Device(i)
	if err != nil {
		return nil, err
	}
	ps, err := d.Processes()
	if err != nil {
		return nil, err
	}
	for k := range ps {
		if pod, c, ok := a.pods.PodOf(ps[k].PID); ok {
			ps[k].Pod, ps[k].Container = pod, c
		}
	}
	return ps, nil
}
