package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

const gatewayLong = `Serve one MCP endpoint for chat clients (Claude Desktop, Cursor, VS Code) with the tools of
every Ready ToolServer of the watched namespaces, each named <toolserver>__<tool>
(<namespace>__<toolserver>__<tool> when two namespaces have a ToolServer of that name), and
opsmesh's own tools: list_agents, ask_agent (ask an Agent over A2A on NATS), list_incidents,
get_incident and, with --allow-approvals, approve_action. The tool list follows the ToolServers
as they turn Ready or not (clients are sent tools/list_changed).

Write tools of the ToolServers are served only with --allow-writes. approve_action is served
only with --allow-approvals, and records decisions as --approver-name: a chat client approving a
node drain is something an operator turns on on purpose.

The builtin cluster, gpu (cluster view) and scheduler ToolServers are called inside this process
with this process's Kubernetes credentials unless --builtin-tools=false (then at their Service,
which only works inside the cluster). ask_agent needs the NATS the opsmesh runtime serves agents
on (--nats-url; the runtime's embedded server listens on nats://127.0.0.1:4222 by default).

Over stdio (the default) an MCP client starts this command itself. Over HTTP every request must
carry "Authorization: Bearer <token>" with the token from --token-file.`

func newMCPGatewayCommand() *cobra.Command {
	var (
		f          serveFlags
		namespaces []string
		cfg        gateway.Config
		builtin    bool
		natsURL    string
		natsCreds  string
		agentToken string
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Serve every Ready ToolServer's tools and opsmesh's agents and incidents as one MCP endpoint",
		Long:  gatewayLong,
		Args:  cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&f.transport, "transport", "stdio", "stdio, or http (streamable HTTP at /mcp, bearer token required)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on with --transport http")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token HTTP clients must send (required with --transport http)")
	fs.IntVar(&f.maxOutputBytes, "max-output", mcptool.DefaultMaxBytes, "cap on one tool result in bytes; longer results end with a truncation marker")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&f.kubeContext, "context", "", "the kubeconfig context to use")
	fs.StringSliceVarP(&namespaces, "namespace", "n", nil, "serve the ToolServers, Agents and Incidents of these namespaces (comma-separated or repeated; default: every namespace)")
	fs.BoolVar(&cfg.AllowWrites, "allow-writes", false, "also serve the ToolServers' write tools (default: read-only tools only)")
	fs.BoolVar(&cfg.AllowApprovals, "allow-approvals", false, "serve approve_action, which approves or rejects an Incident's remediation actions")
	fs.StringVar(&cfg.Approver, "approver-name", gateway.DefaultApprover, "who approve_action records as deciding (name the person or client behind this gateway's token)")
	fs.BoolVar(&builtin, "builtin-tools", true, "call the builtin cluster, gpu and scheduler ToolServers inside this process")
	fs.StringVar(&agentToken, "node-agent-token-file", "", "with --builtin-tools: file holding the bearer token the GPU node agents require (the gpu cluster view calls them for gpu_node_health, gpu_idle)")
	fs.StringVar(&natsURL, "nats-url", "nats://127.0.0.1:4222", "the NATS the opsmesh runtime serves agents on, for ask_agent; empty turns ask_agent off")
	fs.StringVar(&natsCreds, "nats-creds", "", "NATS credentials file (JWT and NKey seed) for --nats-url")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := f.validate(); err != nil {
			return err
		}
		if cfg.Approver == "" {
			return fmt.Errorf("--approver-name is empty: name who approvals through this gateway are recorded as")
		}
		rc, err := f.restConfig()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
		cfg.RestConfig, cfg.Namespaces, cfg.MaxBytes, cfg.Version, cfg.Logger = rc, namespaces, f.maxOutputBytes, version, log
		if builtin {
			o := kubehost.BuiltinOptions{Version: version, Logger: log}
			if agentToken != "" {
				if o.GPUView.NodeAgentToken, err = serve.ReadToken(agentToken); err != nil {
					return fmt.Errorf("--node-agent-token-file: %w", err)
				}
			}
			if cfg.Builtins, err = kubehost.Builtins(ctx, rc, o); err != nil {
				return err
			}
		} else {
			cfg.Builtins = map[opsv1.BuiltinServer]*server.MCPServer{}
		}
		if natsURL != "" {
			nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			b, err := broker.Start(nctx, broker.Options{URL: natsURL, CredsFile: natsCreds, Name: "opsmesh-gateway", Logger: log})
			cancel()
			if err != nil {
				log.Warn("ask_agent is off: cannot reach NATS", "error", err)
			} else {
				defer b.Close()
				cfg.NATS = b.Conn()
			}
		}
		g, err := gateway.New(ctx, cfg)
		if err != nil {
			return err
		}
		return runMCP(ctx, cmd, &f, g.MCP, log)
	}
	return cmd
}
