package sandbox

import (
	"context"
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

	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

// InjectXID makes the simulated GPU gpu of node report XID code xid, now: it adds the XID to the
// node agent's fault file, which the running agent re-reads, and returns once the agent reports
// it (xid_events), by which time the agent has handed it to its NATS publisher. Bad arguments
// change nothing.
func (s *Sandbox) InjectXID(ctx context.Context, node string, gpu, xid int) error {
	if _, ok := s.Agents[node]; !ok {
		return fmt.Errorf("node %q has no simulated GPU node agent; the sandbox's GPU nodes are %s", node, strings.Join(s.GPUNodes, ", "))
	}
	if gpu < 0 || gpu >= simulate.NodeGPUs {
		return fmt.Errorf("GPU %d does not exist on %s: its simulated GPUs are 0..%d", gpu, node, simulate.NodeGPUs-1)
	}
	if xid < 1 || xid > 1000 {
		return fmt.Errorf("XID %d is not an XID code (1..1000); 79 is \"GPU has fallen off the bus\", 48 a double-bit ECC error", xid)
	}
	path := s.faultFile(node)
	// One injection at a time per node, so that concurrent ones (two opsmesh sandbox fault) add both.
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
	at := time.Now().UTC().Truncate(time.Second)
	i := slices.IndexFunc(f.GPUs, func(g simulate.GPUFaults) bool { return g.Index == gpu })
	if i < 0 {
		f.GPUs = append(f.GPUs, simulate.GPUFaults{Index: gpu})
		i = len(f.GPUs) - 1
	}
	for _, x := range f.GPUs[i].XIDs {
		if x.Code == xid && !x.Time.Before(at) {
			at = x.Time.Add(time.Second) // a second XID in the same second is a new event
		}
	}
	f.GPUs[i].XIDs = append(f.GPUs[i].XIDs, simulate.XID{Code: xid, Time: at})
	out, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	out = append([]byte("# Faults injected into "+node+"'s simulated GPUs (opsmesh sandbox fault); the agent re-reads this file.\n"), out...)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	want := fmt.Sprintf("%s  %d    %d", at.Format(time.RFC3339), gpu, xid)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for {
		text, err := s.callAgent(ctx, node, "xid_events", map[string]any{"index": gpu})
		if err == nil && xidListed(text, at, gpu, xid) {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "xid_events does not list it yet:\n" + text
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wrote XID %d on GPU %d into %s, but the node agent of %s did not report it (want %q): %s; see %s",
				xid, gpu, path, node, want, last, s.path("logs", "gpu-agent-"+node+".log"))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// xidListed reports whether xid_events' table has a row for the event.
func xidListed(text string, at time.Time, gpu, xid int) bool {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == at.Format(time.RFC3339) && f[1] == fmt.Sprint(gpu) && f[2] == fmt.Sprint(xid) {
			return true
		}
	}
	return false
}

// CallAgent calls a tool of node's simulated GPU node agent and returns its text.
func (s *Sandbox) callAgent(ctx context.Context, node, tool string, args map[string]any) (string, error) {
	token, err := readTrim(s.AgentTokenFile)
	if err != nil {
		return "", err
	}
	c, err := mcpclient.NewStreamableHttpClient(s.Agents[node], transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return "", err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-sandbox", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return "", fmt.Errorf("node agent of %s at %s: %w", node, s.Agents[node], err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = tool, args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return "", fmt.Errorf("node agent of %s: %s: %w", node, tool, err)
	}
	var b strings.Builder
	for _, content := range res.Content {
		if tc, ok := content.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.IsError {
		return "", fmt.Errorf("node agent of %s: %s failed: %s", node, tool, b.String())
	}
	return b.String(), nil
}

// CallAgent calls a tool of node's simulated GPU node agent (gpu_health, xid_events, ...) and
// returns its text.
func (s *Sandbox) CallAgent(ctx context.Context, node, tool string, args map[string]any) (string, error) {
	if _, ok := s.Agents[node]; !ok {
		return "", fmt.Errorf("node %q has no simulated GPU node agent; the sandbox's GPU nodes are %s", node, strings.Join(s.GPUNodes, ", "))
	}
	return s.callAgent(ctx, node, tool, args)
}
