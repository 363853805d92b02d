package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

func newMCPCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Run an MCP tool server (for Claude Desktop, Cursor, VS Code, or opsmesh agents)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newMCPClusterCommand(), newMCPGPUCommand(), newMCPSchedulerCommand(), newMCPGatewayCommand(), newMCPBridgeCommand())
	return cmd
}

// serveFlags are the flags every MCP server command takes.
type serveFlags struct {
	transport      string
	listen         string
	tokenFile      string
	readOnly       bool
	allow          []string
	kubeconfig     string
	kubeContext    string
	maxOutputBytes int
}

func (f *serveFlags) register(cmd *cobra.Command) {
	f.registerServe(cmd)
	f.registerKube(cmd)
}

// registerKube registers the flags of reaching the Kubernetes API (--allow-namespaces,
// --kubeconfig, --context).
func (f *serveFlags) registerKube(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringSliceVar(&f.allow, "allow-namespaces", nil, "confine every tool to these namespaces (comma-separated; default: the whole cluster)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&f.kubeContext, "context", "", "the kubeconfig context to use")
}

// registerServe registers the flags of serving alone (transport, auth, read-only, output cap),
// for servers that do not talk to the Kubernetes API.
func (f *serveFlags) registerServe(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.transport, "transport", "stdio", "stdio, or http (streamable HTTP at /mcp, bearer token required)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on with --transport http")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token HTTP clients must send (required with --transport http)")
	fs.BoolVar(&f.readOnly, "read-only", false, "serve only read-only tools")
	fs.IntVar(&f.maxOutputBytes, "max-output", mcptool.DefaultMaxBytes, "cap on one tool result in bytes; longer results end with a truncation marker")
}

func (f *serveFlags) validate() error {
	switch f.transport {
	case "stdio":
	case "http":
		if f.tokenFile == "" {
			return fmt.Errorf("--transport http needs --token-file: HTTP clients must authenticate")
		}
	default:
		return fmt.Errorf("--transport %q is not supported; use stdio or http", f.transport)
	}
	if f.maxOutputBytes < 1024 {
		return fmt.Errorf("--max-output %d is too small; use at least 1024", f.maxOutputBytes)
	}
	for _, ns := range f.allow {
		if strings.TrimSpace(ns) == "" {
			return fmt.Errorf("--allow-namespaces has an empty name")
		}
	}
	return nil
}

// restConfig loads the Kubernetes client configuration as kubectl does.
func (f *serveFlags) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.kubeconfig != "" {
		rules.ExplicitPath = f.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: f.kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the Kubernetes configuration: %w (use --kubeconfig, or run inside a pod)", err)
	}
	return cfg, nil
}

func newMCPClusterCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Serve Kubernetes operations as MCP tools: list, get, describe, events, logs, analyze, and safe writes",
		Long: `Serve Kubernetes operations as MCP tools: resources_list and resource_get for any kind, describe,
events_list, pod_logs, nodes_status, workload_health, analyze (findings with evidence and a
suggested fix), and writes (restart, scale, roll back, set image or resources, cordon, drain,
patch, apply) that each take dryRun to preview the change as a diff. Secret values never appear
in any result.

Over stdio (the default) an MCP client starts this command itself. Over HTTP every request must
carry "Authorization: Bearer <token>" with the token from --token-file.`,
		Args: cobra.NoArgs,
		RunE: runKubeServer(&f, func(ctx context.Context, cfg *rest.Config, log *slog.Logger) (*server.MCPServer, error) {
			s, err := cluster.New(ctx, cfg, cluster.Config{
				ReadOnly: f.readOnly, AllowNamespaces: f.allow, MaxBytes: f.maxOutputBytes,
				Version: version, Logger: log,
			})
			if err != nil {
				return nil, err
			}
			return s.MCP, nil
		}),
	}
	f.register(cmd)
	return cmd
}

// runKubeServer is the RunE of an MCP server command on the Kubernetes API: it checks the flags,
// reaches the API, builds the server with build and serves it until SIGINT or SIGTERM.
func runKubeServer(f *serveFlags, build func(ctx context.Context, cfg *rest.Config, log *slog.Logger) (*server.MCPServer, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := f.validate(); err != nil {
			return err
		}
		cfg, err := f.restConfig()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		// controller-runtime (the watch cache) logs through its own global logger, and prints a
		// stack trace to stderr when none was set.
		ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
		s, err := build(ctx, cfg, log)
		if err != nil {
			return err
		}
		return runMCP(ctx, cmd, f, s, log)
	}
}

// runMCP serves an MCP server on the transport the flags choose.
func runMCP(ctx context.Context, cmd *cobra.Command, f *serveFlags, s *server.MCPServer, log *slog.Logger) error {
	if f.transport == "stdio" {
		return serve.Stdio(ctx, s, cmd.InOrStdin(), cmd.OutOrStdout())
	}
	token, err := serve.ReadToken(f.tokenFile)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", f.listen, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "opsmesh MCP server on http://%s%s (bearer token from %s)\n", l.Addr(), serve.Path, f.tokenFile)
	return serve.HTTP(ctx, s, l, token, log)
}
