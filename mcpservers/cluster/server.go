// Package cluster is opsmesh's cluster MCP server: Kubernetes operations as MCP tools for chat
// clients and agents — discovery, lists and gets of any kind, describe, events, logs, node and
// workload health, deterministic analyzers, and safe writes with server-side dry run. Each family
// of tools is one file (resources.go, events.go, ...), each tool declared once next to its
// handler. It must not hold state beyond the API server's: every answer is read fresh from the
// informer cache or the API.
package cluster

import (
	"context"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"
	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// Config configures the cluster server.
type Config struct {
	// ReadOnly serves only read tools.
	ReadOnly bool
	// AllowNamespaces confines every tool to these namespaces; empty means the whole cluster.
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

const instructions = `Kubernetes operations for one cluster. Start with analyze (findings with evidence and a
suggested fix) or describe (an object with its events and pods); use resources_list and
resource_get to look further. Write tools take dryRun: true to preview the change as a diff.
Secret values are never returned.`

// Server is the cluster MCP server.
type Server struct {
	MCP  *server.MCPServer
	kube *kube
}

// New builds the cluster server on the Kubernetes API at cfg. The informer cache it reads common
// kinds from starts on first use and stops when ctx ends.
func New(ctx context.Context, cfg *rest.Config, c Config) (*Server, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = mcptool.DefaultMaxBytes
	}
	k, err := newKube(ctx, cfg, c.AllowNamespaces, c.Access, c.Logger)
	if err != nil {
		return nil, err
	}
	version := c.Version
	if version == "" {
		version = "dev"
	}
	s := &Server{MCP: mcptool.NewServer("opsmesh-cluster", version, instructions), kube: k}
	mcptool.Register(s.MCP, mcptool.Options{
		Server: "cluster", ReadOnly: c.ReadOnly, MaxBytes: c.MaxBytes, Logger: c.Logger,
		Filter: k.scrub,
	}, s.Tools(c.MaxBytes)...)
	return s, nil
}

// Tools declares every tool of the server, read and write, in the order tools/list shows them.
func (s *Server) Tools(maxBytes int) []mcptool.Tool {
	t := &tools{k: s.kube, maxBytes: maxBytes}
	var all []mcptool.Tool
	for _, family := range []func() []mcptool.Tool{
		t.resourceTools,
		t.inspectTools,
		t.analyzeTools,
		t.checkTools,
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
