package gpu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func selectParams() []mcp.ToolOption {
	return []mcp.ToolOption{
		mcp.WithInteger("index", mcp.Description("only the GPU with this index (default: every GPU)"), mcp.Min(0), mcp.Max(1023)),
		mcp.WithString("uuid", mcp.Description("only the GPU with this UUID (GPU-...)"), mcp.MaxLength(96)),
	}
}

// outputParam is the output argument of the tools whose text can be the JSON of their structured
// content, for programs written before structured content (they find the JSON after the header
// lines); structuredContent is there either way, and is what programs should read.
func outputParam() mcp.ToolOption {
	return mcp.WithString("output", mcp.Description("text (default, a table for people and models) or json (the same facts for programs)"), mcp.Enum("text", "json"))
}

// outputArgs are gpuArgs with the output format.
type outputArgs struct {
	gpuArgs
	Output string `json:"output,omitempty"`
}

// asJSON renders v as one line of JSON: the text of output: json.
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
		mcptool.NewData(mcptool.Spec{
			Name:        "gpu_list",
			Description: "The node's GPUs: index, UUID, name, memory used/total, MIG mode and MIG devices, with the driver and CUDA versions.",
			Effect:      mcptool.Read,
			Params:      selectParams(),
		}, a.gpuList),
		mcptool.NewData(mcptool.Spec{
			Name:        "gpu_metrics",
			Description: "Per GPU: utilization (GPU and memory), temperature, power draw vs limit, SM and memory clocks, and the decoded clock-event (throttle) reasons.",
			Effect:      mcptool.Read,
			Params:      append(selectParams(), outputParam()),
		}, a.gpuMetrics),
		mcptool.NewData(mcptool.Spec{
			Name:        "gpu_processes",
			Description: "Compute processes on each GPU with the GPU memory they use, and the pod and container each belongs to where its cgroup says.",
			Effect:      mcptool.Read,
			Params:      append(selectParams(), outputParam()),
		}, a.gpuProcesses),
	}
}

// readingErrors collects, for a GPU's Error, the readings that failed and why.
type readingErrors []string

func (r *readingErrors) add(what string, err error) {
	if err != nil {
		*r = append(*r, what+": "+errText(err))
	}
}

func (r readingErrors) String() string { return strings.Join(r, "; ") }

func (a *NodeAgent) gpuList(_ context.Context, args gpuArgs) (contract.GPUList, string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return contract.GPUList{}, "", err
	}
	out := contract.GPUList{Node: a.cfg.NodeName, GPUs: []contract.GPU{}, Simulated: a.lib.Simulated()}
	var b strings.Builder
	drv, err := a.lib.DriverVersion()
	cuda, cerr := a.lib.CUDAVersion()
	if err == nil {
		out.DriverVersion = drv
	}
	if cerr == nil {
		out.CUDAVersion = cuda
	}
	fmt.Fprintf(&b, "driver %s, CUDA %s, %d GPUs shown\n", value(err, "%s", drv), value(cerr, "%s", cuda), len(idx))
	t := mcptool.Table{Header: []string{"INDEX", "UUID", "NAME", "MEMORY(USED/TOTAL)", "MIG"}}
	var migLines []string
	for _, i := range idx {
		g := contract.GPU{Index: i}
		d, err := a.lib.Device(i)
		if err != nil {
			t.Add(fmt.Sprint(i), value(err, ""), "", "", "")
			g.Error = errText(err)
			out.GPUs = append(out.GPUs, g)
			continue
		}
		u, uerr := d.UUID()
		if errors.Is(uerr, ErrGPULost) {
			t.Add(fmt.Sprint(i), "lost", "fell off the bus (see gpu_health)", "", "")
			g.Lost, g.Error = true, errText(uerr)
			out.GPUs = append(out.GPUs, g)
			continue
		}
		var errs readingErrors
		errs.add("uuid", uerr)
		if uerr == nil {
			g.UUID = u
		}
		name, nerr := d.Name()
		errs.add("name", nerr)
		if nerr == nil {
			g.Name = name
		}
		total, used, merr := d.Memory()
		errs.add("memory", merr)
		if merr == nil {
			g.MemoryTotalMiB, g.MemoryUsedMiB = ptr(mib(total)), ptr(mib(used))
		}
		on, migs, migErr := d.MIG()
		if !errors.Is(migErr, ErrNotSupported) {
			errs.add("mig", migErr)
		}
		mig := value(migErr, "disabled")
		if migErr == nil && on {
			g.MIGEnabled = true
			mig = fmt.Sprintf("enabled, %d devices", len(migs))
			for _, m := range migs {
				migLines = append(migLines, fmt.Sprintf("  GPU %d: %s %s %d MiB", i, m.UUID, m.Name, mib(m.MemoryTotal)))
				g.MIGDevices = append(g.MIGDevices, contract.MIGDevice{UUID: m.UUID, Name: m.Name, MemoryMiB: mib(m.MemoryTotal)})
			}
		}
		g.Error = errs.String()
		out.GPUs = append(out.GPUs, g)
		t.Add(fmt.Sprint(i), value(uerr, "%s", u), value(nerr, "%s", name),
			value(merr, "%d/%d MiB", mib(used), mib(total)), mig)
	}
	b.WriteString(t.Render(a.cfg.MaxBytes))
	if len(migLines) > 0 {
		b.WriteString("MIG devices:\n" + strings.Join(migLines, "\n") + "\n")
	}
	return out, b.String(), nil
}

// ptr returns a pointer to v, for a reading that is present.
func ptr[T any](v T) *T { return &v }

func (a *NodeAgent) gpuMetrics(_ context.Context, args outputArgs) (contract.GPUMetrics, string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return contract.GPUMetrics{}, "", err
	}
	out := contract.GPUMetrics{Node: a.cfg.NodeName, GPUs: []contract.GPUReading{}, Simulated: a.lib.Simulated()}
	t := mcptool.Table{Header: []string{"INDEX", "UTIL(GPU/MEM)", "TEMP", "POWER(DRAW/LIMIT)", "SM-CLOCK", "MEM-CLOCK", "CLOCK-EVENTS"}}
	for _, i := range idx {
		m := contract.GPUReading{Index: i}
		d, err := a.lib.Device(i)
		if err != nil {
			t.Add(fmt.Sprint(i), value(err, ""))
			m.Error = errText(err)
			out.GPUs = append(out.GPUs, m)
			continue
		}
		if u, err := d.UUID(); err == nil {
			m.UUID = u
		}
		g, mu, uerr := d.Utilization()
		if uerr != nil {
			m.Error = errText(uerr)
		} else {
			m.UtilizationGPU, m.UtilizationMemory = ptr(g), ptr(mu)
		}
		if errors.Is(uerr, ErrGPULost) {
			t.Add(fmt.Sprint(i), "lost", "", "", "", "", "fell off the bus (see gpu_health)")
			m.Lost = true
			out.GPUs = append(out.GPUs, m)
			continue
		}
		temp, terr := d.Temperature()
		if terr == nil {
			m.TemperatureC = ptr(temp)
		}
		draw, limit, perr := d.Power()
		if perr == nil {
			m.PowerDrawW, m.PowerLimitW = ptr(draw/1000), ptr(limit/1000)
		}
		sm, mem, cerr := d.Clocks()
		if cerr == nil {
			m.SMClockMHz, m.MemoryClockMHz = ptr(sm), ptr(mem)
		}
		reasons, rerr := d.ClockEventReasons()
		if rerr == nil {
			m.ClockEvents = ClockEventNames(reasons)
		}
		out.GPUs = append(out.GPUs, m)
		t.Add(fmt.Sprint(i),
			value(uerr, "%d%%/%d%%", g, mu),
			value(terr, "%dC", temp),
			value(perr, "%dW/%dW", draw/1000, limit/1000),
			value(cerr, "%dMHz", sm),
			value(cerr, "%dMHz", mem),
			value(rerr, "%s", ClockEventNames(reasons)))
	}
	if args.Output == "json" {
		text, err := asJSON(out)
		return out, text, err
	}
	return out, t.Render(a.cfg.MaxBytes), nil
}

func (a *NodeAgent) gpuProcesses(_ context.Context, args outputArgs) (contract.GPUProcesses, string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return contract.GPUProcesses{}, "", err
	}
	out := contract.GPUProcesses{Node: a.cfg.NodeName, GPUs: []contract.GPUProcessList{}, Simulated: a.lib.Simulated()}
	t := mcptool.Table{Header: []string{"INDEX", "PID", "GPU-MEMORY", "POD", "CONTAINER"}}
	var notes []string
	for _, i := range idx {
		ps, err := a.processes(i)
		g := contract.GPUProcessList{Index: i, Processes: make([]contract.GPUProcess, len(ps)), Error: errText(err)}
		for k, p := range ps {
			g.Processes[k] = contract.GPUProcess{PID: p.PID, UsedMiB: mib(p.UsedMemory), Pod: p.Pod, Container: p.Container}
		}
		out.GPUs = append(out.GPUs, g)
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
	if args.Output == "json" {
		text, err := asJSON(out)
		return out, text, err
	}
	var b strings.Builder
	if len(t.Rows) == 0 {
		fmt.Fprintf(&b, "no compute processes on GPUs %s\n", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(idx)), ", "), "[]"))
	}
	b.WriteString(t.Render(a.cfg.MaxBytes))
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	return out, b.String(), nil
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
