// Package gpuview is the cluster's GPU view: MCP tools that read GPU capacity, allocation and
// health from the Kubernetes API (nodes' nvidia.com/* resources and GPU Feature Discovery labels,
// pods' GPU requests, GPU-related conditions and taints), and utilization and GPU health from the
// GPU node agents (package gpu) over MCP. Its tools are served by `opsmesh mcp gpu --cluster-view`,
// beside or without the node agent's. It changes nothing in the cluster, and must not read GPUs
// itself: NVML is the node agent's job.
package gpuview

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// Config configures the cluster view.
type Config struct {
	// ReadOnly serves only read tools (all of this server's tools are reads).
	ReadOnly bool
	// MaxBytes caps every tool result (default mcptool.DefaultMaxBytes).
	MaxBytes int
	// AllowNamespaces confines pod reads to these namespaces; empty means the whole cluster.
	// Nodes are cluster-scoped and always read.
	AllowNamespaces []string
	// NodeAgentSelector is the label selector of the GPU node agents' pods (default
	// DefaultNodeAgentSelector).
	NodeAgentSelector string
	// NodeAgentNamespace is where the node agents' pods run; empty means every namespace.
	NodeAgentNamespace string
	// NodeAgentPort is the port of the agents' streamable HTTP endpoint (default 8080). A pod's
	// annotation opsmesh.dev/mcp-port overrides it for that pod.
	NodeAgentPort int
	// NodeAgentToken is the bearer token the node agents require.
	NodeAgentToken string
	// PrometheusURL, when set, makes gpu_idle read GPU utilization and idle time from this
	// Prometheus (which scrapes NVIDIA's DCGM exporter) instead of from the node agents.
	PrometheusURL string
	// PrometheusToken is the bearer token Prometheus requires, if any.
	PrometheusToken string
	// PrometheusLookback is how far back gpu_idle looks for when a GPU was last busy (default 24h).
	PrometheusLookback time.Duration
	// AgentTimeout bounds each call to a node agent (default 10s).
	AgentTimeout time.Duration
	// Access is the process's shared access to the Kubernetes API (kubeaccess.NewShared): its
	// watch cache, access checks and kind resolution serve this server too, so that a process
	// running several servers holds one informer per resource. It is used only when it was made
	// for the same identity and the same AllowNamespaces (kubeaccess.Shared.Serves); otherwise, or
	// when nil, the server builds its own.
	Access *kubeaccess.Shared
	// Logger records failures; default discards.
	Logger *slog.Logger
}

// DefaultNodeAgentSelector selects the GPU node agents' pods.
const DefaultNodeAgentSelector = "app.kubernetes.io/component=gpu-node-agent"

// PortAnnotation on a node-agent pod overrides Config.NodeAgentPort for that pod.
const PortAnnotation = "opsmesh.dev/mcp-port"

// AgentURLAnnotation on a Node names the full MCP URL of that node's GPU node agent
// (http://127.0.0.1:7101/mcp) and, only when set, replaces the agent found through the node
// agents' pods. It exists for clusters whose pod IPs cannot be reached, such as the sandbox's
// kwok nodes, where the simulated node agents run as local processes.
const AgentURLAnnotation = "opsmesh.dev/gpu-node-agent-url"

// Server is the cluster's GPU view.
type Server struct {
	cfg  Config
	kube *kube
	prom *prometheus // nil without Config.PrometheusURL

	idleMu    sync.Mutex
	idleSince map[string]time.Time // node/GPU UUID -> when first seen idle, across calls
}

// New builds the cluster view on the Kubernetes API at restConfig. Its watch cache starts on
// first use and stops when ctx ends.
func New(ctx context.Context, restConfig *rest.Config, c Config) (*Server, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = mcptool.DefaultMaxBytes
	}
	if c.NodeAgentSelector == "" {
		c.NodeAgentSelector = DefaultNodeAgentSelector
	}
	if c.NodeAgentPort == 0 {
		c.NodeAgentPort = 8080
	}
	if c.AgentTimeout == 0 {
		c.AgentTimeout = 10 * time.Second
	}
	var prom *prometheus
	if c.PrometheusURL != "" {
		var err error
		if prom, err = newPrometheus(c.PrometheusURL, c.PrometheusToken, c.PrometheusLookback); err != nil {
			return nil, err
		}
	}
	k, err := newKube(ctx, restConfig, c.AllowNamespaces, c.Access, c.Logger)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: c, kube: k, prom: prom, idleSince: map[string]time.Time{}}, nil
}

// Tools declares the cluster view's tools, in the order tools/list shows them. Register them with
// mcptool.Register on any MCP server (the node agent's, in `opsmesh mcp gpu --cluster-view`).
func (s *Server) Tools() []mcptool.Tool {
	return append(s.inventoryTools(), s.idleTool(), s.healthTool())
}
