package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/opsmesh/opsmesh/agents/knowledge"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/controller/manager"
	"github.com/opsmesh/opsmesh/controller/toolserver"
	"github.com/opsmesh/opsmesh/controller/trigger"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

const controllerLong = `Run the opsmesh controller: it moves every Incident through its lifecycle
(Detected → Investigating → Diagnosed → AwaitingApproval → Remediating → Verifying → Resolved, or
Escalated / Failed). It asks the coordinator Agent over A2A, writes the diagnosis and the plan to
the Incident's status, runs each action the coordinator's remediation policy or a person approved
exactly once through the specialist's MCP tools, verifies the result by asking again, and records
every step in the Incident's timeline and on the OPSMESH_INCIDENTS JetStream stream.

Replicas elect a leader (Lease opsmesh-controller in --leader-election-namespace); only the leader
acts. For a small install, --runtime also hosts the agent runtime and the builtin ToolServers in
this process, so one process runs the whole platform.

By default the process starts an embedded NATS server with JetStream in --nats-data-dir;
--nats-url connects to an external NATS server or cluster instead (needed for several replicas).`

func newControllerCommand() *cobra.Command {
	var (
		kube                  serveFlags
		namespaces            []string
		withRuntime           bool
		nodeAgentNS           string
		nodeAgentTokenFile    string
		leaderElect           bool
		leaderNS, identity    string
		coordinatorNS         string
		metricsAddr, probeAdr string
		verifyTimeout         time.Duration
		investigateTimeout    time.Duration
		image                 string
	)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the controller: diagnose, remediate and verify Incidents",
		Long:  controllerLong,
		Args:  cobra.NoArgs,
	}
	natsOpts := broker.RegisterFlags(cmd.Flags())
	trigOpts := trigger.RegisterFlags(cmd.Flags())
	fs := cmd.Flags()
	podNS := os.Getenv("POD_NAMESPACE")
	if podNS == "" {
		podNS = "opsmesh"
	}
	fs.StringVar(&kube.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&kube.kubeContext, "context", "", "the kubeconfig context to use")
	fs.StringSliceVarP(&namespaces, "namespace", "n", nil, "watch these namespaces (comma-separated or repeated; default: every namespace)")
	fs.BoolVar(&withRuntime, "runtime", false, "also host the agent runtime and the builtin cluster, gpu (cluster view) and scheduler ToolServers in this process")
	fs.StringVar(&nodeAgentNS, "node-agent-namespace", "", "with --runtime: namespace of the GPU node agents' pods (default: every namespace)")
	runbookDirs := runbooksFlag(fs)
	fs.StringVar(&nodeAgentTokenFile, "node-agent-token-file", "", "with --runtime: file holding the bearer token the GPU node agents require")
	fs.BoolVar(&leaderElect, "leader-elect", true, "elect a leader among replicas; only the leader acts")
	fs.StringVar(&leaderNS, "leader-election-namespace", podNS, "namespace of the leader-election Lease (default: $POD_NAMESPACE or opsmesh)")
	fs.StringVar(&identity, "identity", os.Getenv("POD_NAME"), "this replica's name in the Lease and in Incident timelines (default: $POD_NAME, else the host name)")
	fs.StringVar(&coordinatorNS, "coordinator-namespace", podNS, "coordinators in this namespace also take the Incidents of namespaces that have none")
	fs.StringVar(&metricsAddr, "metrics-bind-address", "0", "address of the /metrics endpoint (0: off)")
	fs.StringVar(&probeAdr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints (0: off)")
	fs.DurationVar(&verifyTimeout, "verify-timeout", 3*time.Minute, "how long after remediation the problem may take to go away before the Incident escalates")
	fs.StringVar(&image, "image", "", "the opsmesh image the ToolServers' Deployments and DaemonSets run (default ghcr.io/opsmesh/opsmesh:<version>)")
	fs.DurationVar(&investigateTimeout, "investigate-timeout", 5*time.Minute, "bound on one investigation by the coordinator")
	otlp := otlpFlag(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := natsOpts.Validate(); err != nil {
			return err
		}
		if err := trigOpts.Validate(); err != nil {
			return err
		}
		if verifyTimeout <= 0 || investigateTimeout <= 0 {
			return fmt.Errorf("--verify-timeout and --investigate-timeout must be positive (got %s and %s)", verifyTimeout, investigateTimeout)
		}
		cfg, err := kube.restConfig()
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
		ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		flush, err := startTracing(ctx, *otlp, "opsmesh-controller", log)
		if err != nil {
			return err
		}
		defer flush()

		b, err := broker.Start(ctx, *natsOpts)
		if err != nil {
			return err
		}
		defer b.Close()
		p := controllerProcess{namespaces: namespaces, withRuntime: withRuntime, log: log,
			manager: manager.Options{LeaderElection: leaderElect, LeaderElectionNamespace: leaderNS, Identity: identity, MetricsAddr: metricsAddr, ProbeAddr: probeAdr,
				Incident:   incident.Config{CoordinatorNamespace: coordinatorNS, VerifyTimeout: verifyTimeout, InvestigateTimeout: investigateTimeout},
				ToolServer: toolserver.Config{Version: version, Image: image},
				Triggers:   trigOpts,
				Logger:     logr.FromSlogHandler(log.Handler())}}
		if withRuntime {
			if p.runbooks, err = knowledge.Load(*runbookDirs...); err != nil {
				return err
			}
			p.gpuView = gpuview.Config{NodeAgentNamespace: nodeAgentNS}
			if nodeAgentTokenFile != "" {
				if p.gpuView.NodeAgentToken, err = serve.ReadToken(nodeAgentTokenFile); err != nil {
					return fmt.Errorf("--node-agent-token-file: %w", err)
				}
			}
		}
		what := "controller"
		if withRuntime {
			what = "controller with the agent runtime and builtin ToolServers"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "opsmesh %s: NATS at %s; watching %s\n", what, b.ClientURL(), namespacesWord(namespaces))
		err = p.run(ctx, cfg, b)
		stop()
		if ctx.Err() != nil && err == nil {
			return nil
		}
		return err
	}
	return cmd
}

// controllerProcess is what `opsmesh controller` runs in one process, from its flags.
type controllerProcess struct {
	namespaces  []string
	withRuntime bool           // --runtime: also the builtin ToolServers and the agent runtime
	gpuView     gpuview.Config // with --runtime: the builtin gpu server's view of the node agents
	runbooks    *knowledge.Set // with --runtime: the runbook engine's knowledge (--runbooks)
	// manager configures the controller; run fills in its RestConfig, NATS, JetStream,
	// Namespaces and Builtins.
	manager manager.Options
	log     *slog.Logger
	// builtinsMade, when set, is called with the builtin servers once they are made (tests).
	builtinsMade func(map[opsv1.BuiltinServer]*server.MCPServer)
}

// run runs the controller on cfg and b until ctx ends or a part fails; with --runtime also the
// builtin ToolServers and the agent runtime.
//
// With --runtime the process holds one informer per resource: the controller's watch cache
// (Events included: the Warning-event trigger reads them from it)
// (manager.Controller.Cache, started with the manager whether or not this replica leads) is the
// agent host's too, since both watch the same namespaces as the same identity; and it is the
// builtin servers' when the controller watches every namespace (no --namespace), as the builtins
// always do. With --namespace the builtins keep a cache of their own over every namespace: the
// controller's, confined to fewer, would hide the rest of the cluster from them.
func (p controllerProcess) run(ctx context.Context, cfg *rest.Config, b *broker.Broker) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mo := p.manager
	mo.RestConfig, mo.NATS, mo.JetStream, mo.Namespaces = cfg, b.Conn(), b.JetStream(), p.namespaces
	if p.withRuntime && len(p.namespaces) == 0 && mo.Triggers != nil {
		// The builtins read every Event from the controller's cache: the Warning-event trigger
		// reads them there too, instead of a Warning-only watch of its own.
		t := *mo.Triggers
		t.EventsFromCache = true
		mo.Triggers = &t
	}
	ctl, err := manager.New(mo)
	if err != nil {
		return err
	}
	if !p.withRuntime {
		return ctl.Run(ctx)
	}
	var access *kubeaccess.Shared
	if len(p.namespaces) == 0 {
		access, err = kubeaccess.NewSharedWithCache(cfg, nil, ctl.Cache(), p.log)
	} else {
		access, err = kubeaccess.NewShared(ctx, cfg, nil, p.log)
	}
	if err != nil {
		return fmt.Errorf("builtin ToolServers: %w", err)
	}
	builtins, err := kubehost.Builtins(ctx, cfg, kubehost.BuiltinOptions{Version: version, Logger: p.log, GPUView: p.gpuView, Access: access})
	if err != nil {
		return err
	}
	ctl.Builtins = builtins
	if p.builtinsMade != nil {
		p.builtinsMade(builtins)
	}
	pool, err := mcppool.New(nil, mcppool.Options{Logger: p.log})
	if err != nil {
		return err
	}
	defer pool.Close()
	errc := make(chan error, 2)
	go func() {
		errc <- hostAgents(ctx, cfg, b, pool, p.namespaces, builtins, access, ctl.Cache(), p.runbooks, p.log)
	}()
	go func() { errc <- ctl.Run(ctx) }()
	// The first to return ends the other; both have returned when run does.
	err = <-errc
	cancel()
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}
