package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/opsmesh/opsmesh/agents/knowledge"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/llm"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

const runtimeLong = `Host every Agent of the watched namespaces as an A2A agent over NATS
(subject opsmesh.a2a.<namespace>.<agent>, cards in the OPSMESH_AGENTS bucket, tasks in
OPSMESH_TASKS). One process hosts many agents; replicas of the runtime share each agent's load
through NATS queue groups.

Agents reason with the built-in runbook engine, or with their spec.model (OpenAI-compatible,
Anthropic, Google) when they have one, falling back to the runbook engine when the model is
unreachable. They reach their ToolServers through a shared MCP connection pool: the builtin
cluster, gpu (cluster view) and scheduler servers run inside this process unless
--builtin-tools=false; other ToolServers are reached at their URL or their Service.

By default the process starts an embedded NATS server with JetStream in --nats-data-dir;
--nats-url connects to an external NATS server or cluster instead.`

func newRuntimeCommand() *cobra.Command {
	var (
		kube        serveFlags
		namespaces  []string
		builtin     bool
		nodeAgentNS string
		metricsAt   string
	)
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "Run the agent runtime: host Agents as A2A agents over NATS",
		Long:  runtimeLong,
		Args:  cobra.NoArgs,
	}
	natsOpts := broker.RegisterFlags(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&kube.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&kube.kubeContext, "context", "", "the kubeconfig context to use")
	fs.StringSliceVarP(&namespaces, "namespace", "n", nil, "host the Agents of these namespaces (comma-separated or repeated; default: every namespace)")
	fs.BoolVar(&builtin, "builtin-tools", true, "serve the builtin cluster, gpu (cluster view) and scheduler ToolServers inside this process")
	fs.StringVar(&nodeAgentNS, "node-agent-namespace", "", "namespace of the GPU node agents' pods, for the builtin gpu cluster view (default: every namespace)")
	runbookDirs := runbooksFlag(fs)
	fs.StringVar(&metricsAt, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics, e.g. :9090 (default: off)")
	otlp := otlpFlag(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := natsOpts.Validate(); err != nil {
			return err
		}
		cfg, err := kube.restConfig()
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
		ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := serveMetrics(ctx, metricsAt, log); err != nil {
			return err
		}
		flush, err := startTracing(ctx, *otlp, "opsmesh-runtime", log)
		if err != nil {
			return err
		}
		defer flush()

		book, err := knowledge.Load(*runbookDirs...)
		if err != nil {
			return err
		}
		b, err := broker.Start(ctx, *natsOpts)
		if err != nil {
			return err
		}
		defer b.Close()
		pool, err := mcppool.New(nil, mcppool.Options{Logger: log})
		if err != nil {
			return err
		}
		defer pool.Close()
		// One access for the builtins' watch cache and the runtime's kind resolution.
		access, err := kubeaccess.NewShared(ctx, cfg, nil, log)
		if err != nil {
			return err
		}
		builtins := map[opsv1.BuiltinServer]*server.MCPServer{}
		if builtin {
			if builtins, err = kubehost.Builtins(ctx, cfg, kubehost.BuiltinOptions{Version: version, Logger: log,
				GPUView: gpuview.Config{NodeAgentNamespace: nodeAgentNS}, Access: access}); err != nil {
				return err
			}
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "opsmesh runtime: NATS at %s; watching Agents in %s\n", b.ClientURL(), namespacesWord(namespaces))
		return hostAgents(ctx, cfg, b, pool, namespaces, builtins, access, nil, book, log)
	}
	return cmd
}

// hostAgents hosts the Agents of namespaces (every one when empty) on b until ctx ends: the
// runtime, with models' API keys read from their Secrets, kept in step with the cluster.
// Subjects' kinds are resolved by kinds (discovery, as kubectl does; no watch cache starts for
// it). Agents and ToolServers are read from c when set (the controller's watch cache, over the
// same namespaces: kubehost.Config.Cache), else from a cache of the host's own.
func hostAgents(ctx context.Context, cfg *rest.Config, b *broker.Broker, pool *mcppool.Pool, namespaces []string, builtins map[opsv1.BuiltinServer]*server.MCPServer, kinds *kubeaccess.Shared, c cache.Cache, book *knowledge.Set, log *slog.Logger) error {
	direct, err := client.New(cfg, client.Options{Scheme: kubehost.Scheme()})
	if err != nil {
		return err
	}
	rt, err := agentruntime.New(agentruntime.Config{
		NATS: b.Conn(), Pool: pool, NamespacedEndpoints: true, Logger: log, Kinds: kinds, Runbooks: book,
		Models: func(ctx context.Context, a *opsv1.Agent, tools agentruntime.Tools, fallback agentruntime.Engine) (agentruntime.Engine, error) {
			key, err := kubehost.APIKey(ctx, direct, a)
			if err != nil {
				return nil, err
			}
			return llm.NewForAgent(a, tools, fallback, key, log)
		},
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	return kubehost.Run(ctx, kubehost.Config{RestConfig: cfg, Namespaces: namespaces, Runtime: rt, Pool: pool, Builtins: builtins, Cache: c, Logger: log})
}

func namespacesWord(ns []string) string {
	if len(ns) == 0 {
		return "every namespace"
	}
	return fmt.Sprint(ns)
}
