package gpu

import (
	"context"
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
			Params:      selectParams(),
		}, a.gpuMetrics),
		mcptool.New(mcptool.Spec{
			Name:        "gpu_processes",
			Description: "Compute processes on each GPU with the GPU memory they use, and the pod and container each belongs to where its cgroup says.",
			Effect:      mcptool.Read,
			Params:      selectParams(),
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

func (a *NodeAgent) gpuMetrics(_ context.Context, args gpuArgs) (string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return "", err
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

func (a *NodeAgent) gpuProcesses(_ context.Context, args gpuArgs) (string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return "", err
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
