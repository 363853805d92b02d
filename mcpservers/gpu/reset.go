package gpu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func (a *NodeAgent) resetTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "gpu_reset",
			Description: "Reset one GPU (by index or uuid). Refuses while any process uses the GPU, and lists them. " +
				"dryRun: true says what would happen and changes nothing.",
			Effect: mcptool.Destructive,
			Params: append(selectParams(),
				mcp.WithBoolean("dryRun", mcp.Description("check and describe the reset without doing it"))),
		}, a.gpuReset),
	}
}

type resetArgs struct {
	gpuArgs
	DryRun bool `json:"dryRun,omitempty"`
}

func (r *resetArgs) Validate() error {
	if r.Index == nil && r.UUID == "" {
		return errors.New("say which GPU to reset: pass index or uuid")
	}
	return r.gpuArgs.Validate()
}

func (a *NodeAgent) gpuReset(ctx context.Context, args resetArgs) (contract.GPUReset, string, error) {
	idx, err := a.selectGPUs(args.Index, args.UUID)
	if err != nil {
		return contract.GPUReset{}, "", err
	}
	i := idx[0]
	ps, err := a.processes(i)
	lost := errors.Is(err, ErrGPULost)
	if err != nil && !lost {
		return contract.GPUReset{}, "", fmt.Errorf("GPU %d: cannot list its processes, so a reset is not safe: %w", i, err)
	}
	if len(ps) > 0 {
		var lines []string
		for _, p := range ps {
			pod := p.Pod
			if pod == "" {
				pod = "unknown pod"
			}
			lines = append(lines, fmt.Sprintf("  pid %d, %d MiB, %s %s", p.PID, mib(p.UsedMemory), pod, p.Container))
		}
		return contract.GPUReset{}, "", fmt.Errorf("GPU %d is in use by %d processes; stop them first (delete or drain their pods), then reset:\n%s",
			i, len(ps), strings.Join(lines, "\n"))
	}
	out := contract.GPUReset{Node: a.cfg.NodeName, Index: i, DryRun: args.DryRun, Summary: fmt.Sprintf("reset GPU %d", i), Simulated: a.lib.Simulated()}
	if d, err := a.lib.Device(i); err == nil {
		if u, err := d.UUID(); err == nil {
			out.UUID = u
		}
	}
	state := "no process uses it"
	if lost {
		state = "it is lost (fell off the bus); a reset may not bring it back, a node reboot might"
	}
	out.Notes = []string{state}
	if args.DryRun {
		return out, fmt.Sprintf("dry run: would reset GPU %d; %s. Nothing was changed.\n", i, state), nil
	}
	if err := a.lib.Reset(ctx, i); err != nil {
		return contract.GPUReset{}, "", fmt.Errorf("resetting GPU %d: %w", i, err)
	}
	a.mu.Lock()
	a.resetAt[i] = time.Now()
	a.mu.Unlock()
	note := ""
	if a.lib.Simulated() {
		note = " (simulated: its injected faults were cleared)"
		out.Notes = append(out.Notes, "simulated: its injected faults were cleared")
	}
	out.Notes = append(out.Notes, "check it with gpu_health")
	return out, fmt.Sprintf("GPU %d reset%s. Check it with gpu_health.\n", i, note), nil
}
