// Package scheduler is opsmesh's scheduler MCP server: why a pod, a Job or a Kueue Workload is
// pending and what would make it run, the state of Kueue and Volcano queues, GPU fragmentation,
// preemption candidates, and a few queue writes with dry-run diffs. It evaluates every node
// against a pod itself (resources, node affinity, taints, cordons, volumes, inter-pod affinity,
// topology spread) from a watch cache of nodes and pods, and reads Kueue (kueue.x-k8s.io) and
// Volcano (scheduling.volcano.sh) objects through the dynamic client, so that neither project's
// Go packages are imported and either may be absent. It never schedules or binds anything: the
// answers are advice, and kube-scheduler, Kueue and Volcano stay the deciders.
package scheduler

import (
	"context"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"
	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// Config configures the scheduler server.
type Config struct {
	// ReadOnly serves only read tools.
	ReadOnly bool
	// AllowNamespaces confines every tool to these namespaces; empty means the whole cluster.
	// Nodes are cluster-scoped and always read; pods outside these namespaces are not seen, so
	// free capacity may be overstated, which the answers say.
	AllowNamespaces []string
	// MaxBytes caps every tool result (default mcptool.DefaultMaxBytes).
	MaxBytes int
	// Version is reported to MCP clients.
	Version string
	// Access is the process's shared access to the Kubernetes API (kubeaccess.NewShared): its
	// watch cache, access checks and kind resolution serve this server too, so that a process
	// running several servers holds one informer per resource. It is used only when it was made
	// for the same identity and the same AllowNamespaces (kubeaccess.Shared.Serves); otherwise, or
	// when nil, the server builds its own.
	Access *kubeaccess.Shared
	// Logger records tool failures; default discards.
	Logger *slog.Logger
}

const instructions = `Scheduling for one Kubernetes cluster. Ask explain_pending why a pod, Job or Kueue
Workload is not running: it answers with the scheduler's own word, a per-node evaluation, the
queue's admission state, a one-sentence verdict and ranked fixes. queue_status shows Kueue and
Volcano queues; gpu_fragmentation shows free GPUs and what blocks large jobs;
preemption_candidates names the pods whose eviction would make a pod fit. Write tools take
dryRun: true to preview the change as a diff.`

// Server is the scheduler MCP server.
type Server struct {
	MCP  *server.MCPServer
	kube *kube
	cfg  Config
}

// New builds the scheduler server on the Kubernetes API at restConfig. Its watch cache starts on
// first use and stops when ctx ends.
func New(ctx context.Context, restConfig *rest.Config, c Config) (*Server, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = mcptool.DefaultMaxBytes
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	k, err := newKube(ctx, restConfig, c.AllowNamespaces, c.Access, c.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{MCP: mcptool.NewServer("opsmesh-scheduler", c.Version, instructions), kube: k, cfg: c}
	mcptool.Register(s.MCP, mcptool.Options{Server: "scheduler", ReadOnly: c.ReadOnly, MaxBytes: c.MaxBytes, Logger: c.Logger}, s.Tools()...)
	return s, nil
}

// Tools declares every tool of the server, read and write, in the order tools/list shows them.
func (s *Server) Tools() []mcptool.Tool {
	t := &tools{k: s.kube, maxBytes: s.cfg.MaxBytes}
	var all []mcptool.Tool
	for _, family := range []func() []mcptool.Tool{
		t.explainTools,
		t.queueTools,
		t.gpuTools,
		t.preemptionTools,
		t.writeTools,
	} {
		all = append(all, family()...)
	}
	return all
}

// tools holds what every tool handler needs.
type tools struct {
	k        *kube
	maxBytes int
}
