// Package gpu is opsmesh's GPU node agent: an MCP server that runs on each GPU node and reads its
// GPUs through NVML — inventory, metrics, health with a verdict and an action from NVIDIA's XID
// catalog, processes mapped to pods, XID events, and a GPU reset. NVML sits behind the small
// Library interface (go-nvml in the cgo build; simulated GPUs in package simulate). It must not
// read the Kubernetes API: the cluster's GPU view is another server's job.
package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// Config configures the node agent.
type Config struct {
	// ReadOnly serves only read tools (gpu_reset is left out).
	ReadOnly bool
	// MaxBytes caps every tool result (default mcptool.DefaultMaxBytes).
	MaxBytes int
	// NodeName names the node in every result.
	NodeName string
	// Version is reported to MCP clients.
	Version string
	// Logger records tool failures; default discards.
	Logger *slog.Logger
	// Pods maps processes to pods; default: the library's own (simulated) mapping, or the
	// process's cgroup under /proc.
	Pods PodResolver
	// XIDSink, when set, receives every XID event the agent sees (package xidpub publishes them
	// to NATS); nil means NATS is not configured.
	XIDSink XIDSink
}

// XIDSink receives the node agent's XID events. Publish must not block: the XID watcher calls
// it for each new event. Status is one line for xid_events, e.g. "published to NATS: 12,
// pending 0, dropped 0".
type XIDSink interface {
	Publish(XIDEvent)
	Status() string
}

// PodResolver maps a process on the node to its pod ("namespace/name", or "uid <pod UID>") and
// container.
type PodResolver interface {
	PodOf(pid uint32) (pod, container string, ok bool)
}

const instructions = `GPUs of one Kubernetes node, read through NVML. Start with gpu_health (a verdict and a
recommended action per GPU, from NVIDIA's XID catalog), then gpu_metrics, gpu_processes (which pod
uses which GPU) and xid_events. gpu_reset takes dryRun and refuses while processes use the GPU.`

// maxXIDs bounds the XID events the agent keeps.
const maxXIDs = 1000

// NodeAgent is the GPU node agent's MCP server.
type NodeAgent struct {
	MCP *server.MCPServer

	lib      Library
	cfg      Config
	pods     PodResolver
	started  time.Time
	mu       sync.Mutex
	xids     []XIDEvent        // oldest first, at most maxXIDs
	dropped  int               // events dropped to keep maxXIDs
	watchErr error             // why XID watching stopped, if it did
	resetAt  map[int]time.Time // last gpu_reset per GPU index
}

// NewNodeAgent builds the node agent on lib and starts watching XID events until ctx ends.
func NewNodeAgent(ctx context.Context, lib Library, c Config) (*NodeAgent, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = mcptool.DefaultMaxBytes
	}
	if c.NodeName == "" {
		c.NodeName = "unknown-node"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	a := &NodeAgent{lib: lib, cfg: c, pods: c.Pods, started: time.Now(), resetAt: map[int]time.Time{}}
	if a.pods == nil {
		if r, ok := lib.(PodResolver); ok {
			a.pods = r
		} else {
			a.pods = CgroupPods{Root: "/proc"}
		}
	}
	if _, err := lib.Count(); err != nil {
		return nil, fmt.Errorf("counting GPUs through NVML: %w", err)
	}
	if w, ok := lib.(XIDWithdrawer); ok {
		w.WatchWithdrawnXIDs(a.forgetXID)
	}
	if err := lib.WatchXIDs(ctx, a.recordXID, a.watchFailed); err != nil {
		c.Logger.Warn("XID events are not watched", "error", err)
		a.watchFailed(err)
	}
	a.MCP = mcptool.NewServer("opsmesh-gpu", c.Version, instructions)
	tools := a.Tools()
	// The header goes on the text (results and errors) only, never into structured content, so
	// it is added by a middleware rather than mcptool's Filter (which also rewrites every string
	// of structured content); the middleware caps the text, header included, at MaxBytes.
	a.MCP.Use(a.headerMiddleware(tools))
	mcptool.Register(a.MCP, mcptool.Options{
		Server: "gpu", ReadOnly: c.ReadOnly, MaxBytes: math.MaxInt, Logger: c.Logger,
	}, tools...)
	return a, nil
}

// Tools declares every tool of the node agent, in the order tools/list shows them.
func (a *NodeAgent) Tools() []mcptool.Tool {
	var all []mcptool.Tool
	for _, family := range []func() []mcptool.Tool{a.inventoryTools, a.healthTools, a.resetTools} {
		all = append(all, family()...)
	}
	return all
}

// header starts every result, and every error, with whether the GPUs are simulated and the node.
func (a *NodeAgent) header(text string) string {
	h := "node: " + a.cfg.NodeName + "\n"
	if a.lib.Simulated() {
		h = "simulated: true\n" + h
	}
	return h + text
}

// headerMiddleware puts the header on the text of every result and error of the node agent's own
// tools (the cluster view's tools, served on the same server with --cluster-view, go without it)
// and caps the text at Config.MaxBytes. Structured content is left as the tool made it.
func (a *NodeAgent) headerMiddleware(tools []mcptool.Tool) server.ToolHandlerMiddleware {
	own := map[string]bool{}
	for _, t := range tools {
		own[t.Name()] = true
	}
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := next(ctx, req)
			if err != nil || res == nil || !own[req.Params.Name] {
				return res, err
			}
			for i, c := range res.Content {
				if tc, ok := c.(mcp.TextContent); ok {
					tc.Text = mcptool.Cap(a.header(tc.Text), a.cfg.MaxBytes)
					res.Content[i] = tc
				}
			}
			return res, nil
		}
	}
}

func (a *NodeAgent) recordXID(e XIDEvent) {
	a.keepXID(e)
	// Publishing to NATS (Config.XIDSink): never blocks, so the watcher is never held up.
	if a.cfg.XIDSink != nil {
		a.cfg.XIDSink.Publish(e)
	}
}

// natsStatus is xid_events' line on publishing the events to NATS.
func (a *NodeAgent) natsStatus() string {
	if a.cfg.XIDSink == nil {
		return "NATS: not configured"
	}
	return a.cfg.XIDSink.Status()
}

func (a *NodeAgent) keepXID(e XIDEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.xids = append(a.xids, e)
	if len(a.xids) > maxXIDs {
		n := len(a.xids) - maxXIDs
		a.xids = slices.Delete(a.xids, 0, n)
		a.dropped += n
	}
}

// forgetXID drops an event the library withdrew (XIDWithdrawer): same GPU, code and time.
func (a *NodeAgent) forgetXID(e XIDEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.xids = slices.DeleteFunc(a.xids, func(x XIDEvent) bool {
		return x.Index == e.Index && x.Code == e.Code && x.Time.Equal(e.Time)
	})
}

func (a *NodeAgent) watchFailed(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.watchErr = err
}

// xidsOf returns the XID events of GPU index (all GPUs for -1), newest first; sinceReset keeps
// only those after the GPU's last reset by this agent.
func (a *NodeAgent) xidsOf(index int, sinceReset bool) []XIDEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []XIDEvent
	for i := len(a.xids) - 1; i >= 0; i-- {
		e := a.xids[i]
		if index >= 0 && e.Index != index {
			continue
		}
		if sinceReset {
			if t, ok := a.resetAt[e.Index]; ok && !e.Time.After(t) {
				continue
			}
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(x, y XIDEvent) int { return y.Time.Compare(x.Time) })
	return out
}

// selectGPUs resolves the optional index and uuid arguments to GPU indexes: every GPU when both
// are unset.
func (a *NodeAgent) selectGPUs(index *int, uuid string) ([]int, error) {
	count, err := a.lib.Count()
	if err != nil {
		return nil, fmt.Errorf("counting GPUs: %w", err)
	}
	all := make([]int, count)
	for i := range all {
		all[i] = i
	}
	switch {
	case index != nil:
		if *index < 0 || *index >= count {
			return nil, fmt.Errorf("GPU index %d does not exist on node %s; its GPU indexes are %s", *index, a.cfg.NodeName, indexList(count))
		}
		return []int{*index}, nil
	case uuid != "":
		var known []string
		for _, i := range all {
			d, err := a.lib.Device(i)
			if err != nil {
				continue
			}
			u, err := d.UUID()
			if err != nil {
				continue
			}
			if strings.EqualFold(u, uuid) {
				return []int{i}, nil
			}
			known = append(known, fmt.Sprintf("%d=%s", i, u))
		}
		return nil, fmt.Errorf("no GPU on node %s has UUID %q; its GPUs are %s (or pass index)", a.cfg.NodeName, uuid, strings.Join(known, ", "))
	}
	return all, nil
}

func indexList(count int) string {
	if count == 0 {
		return "none (NVML sees no GPU)"
	}
	parts := make([]string, count)
	for i := range parts {
		parts[i] = fmt.Sprint(i)
	}
	return strings.Join(parts, ", ")
}

// gpuArgs select GPUs by index or UUID; neither means every GPU.
type gpuArgs struct {
	Index *int   `json:"index,omitempty"`
	UUID  string `json:"uuid,omitempty"`
}

func (g *gpuArgs) Validate() error {
	if g.Index != nil && g.UUID != "" {
		return errors.New("pass index or uuid, not both")
	}
	return nil
}

// value formats a reading, "n/a" when the GPU does not report it, "lost" when the GPU is lost,
// and "error: ..." otherwise.
func value(err error, format string, args ...any) string {
	switch {
	case err == nil:
		return fmt.Sprintf(format, args...)
	case errors.Is(err, ErrNotSupported):
		return "n/a"
	case errors.Is(err, ErrGPULost):
		return "lost"
	}
	return "error: " + err.Error()
}

func mib(b uint64) uint64 { return b >> 20 }
