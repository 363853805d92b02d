//go:build cgo

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

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

func newMCPGPUCommand() *cobra.Command {
	var (
		f                            serveFlags
		simulated, faultFile, nodeNm string
		view                         viewFlags
		natsFlags                    gpuNATSFlags
	)
	cmd := &cobra.Command{
		Use:   "gpu",
		Short: "Serve this node's NVIDIA GPUs as MCP tools: list, metrics, health with XID verdicts, processes, XID events, reset",
		Long:  gpuLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			if err := view.validate(cmd); err != nil {
				return err
			}
			if faultFile != "" && simulated == "" {
				return fmt.Errorf("--fault-file injects faults into simulated GPUs only; add --simulate=dgxh100 (or dgxa100, dgxh200)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if view.noNodeAgent {
				if simulated != "" || faultFile != "" || natsFlags.url != "" {
					return fmt.Errorf("--no-node-agent serves the cluster view only: --simulate, --fault-file and --nats-url belong to the node agent; drop them or drop --no-node-agent")
				}
				s := mcptool.NewServer("opsmesh-gpu", version, "The cluster's GPU view: gpu_inventory, gpu_allocation, gpu_idle, gpu_node_health.")
				if err := view.register(ctx, s, &f, log); err != nil {
					return err
				}
				return runMCP(ctx, cmd, &f, s, log)
			}
			var lib gpu.Library
			if simulated != "" {
				var faults *simulate.Faults
				if faultFile != "" {
					data, err := os.ReadFile(faultFile)
					if err != nil {
						return fmt.Errorf("--fault-file: %w", err)
					}
					if faults, err = simulate.ParseFaults(data, simulate.NodeGPUs); err != nil {
						return fmt.Errorf("--fault-file %s: %w", faultFile, err)
					}
				}
				node, err := simulate.New(simulated, faults)
				if err != nil {
					return err
				}
				if faultFile != "" {
					// Faults written to the file later are injected into the running agent.
					go node.Follow(ctx, faultFile, time.Second, log)
				}
				lib = node
			} else {
				nv, err := gpu.OpenDriver()
				if err != nil {
					return err
				}
				defer nv.Shutdown()
				lib = nv
			}
			// XID events to NATS (--nats-url, --nats-creds): see mcp_gpu_nats.go.
			sink, closeSink, err := natsFlags.sink(ctx, nodeName(nodeNm), lib.Simulated(), log)
			if err != nil {
				return err
			}
			defer closeSink()
			a, err := gpu.NewNodeAgent(ctx, lib, gpu.Config{
				ReadOnly: f.readOnly, MaxBytes: f.maxOutputBytes, NodeName: nodeName(nodeNm),
				Version: version, Logger: log, XIDSink: sink,
			})
			if err != nil {
				return err
			}
			if view.on {
				if err := view.register(ctx, a.MCP, &f, log); err != nil {
					return err
				}
			}
			return runMCP(ctx, cmd, &f, a.MCP, log)
		},
	}
	f.registerServe(cmd)
	cmd.Flags().StringVar(&simulated, "simulate", "", "serve simulated GPUs instead of the node's: dgxa100, dgxh100 or dgxh200 (8 GPUs each)")
	cmd.Flags().StringVar(&faultFile, "fault-file", "", "YAML file of faults to inject into the simulated GPUs (XIDs, ECC, temperature, throttling, a lost GPU, processes), re-read every second while the agent runs; see docs/gpu.md")
	cmd.Flags().StringVar(&nodeNm, "node-name", "", "the node's name in every result (default: $NODE_NAME, or the host name)")
	view.registerFlags(cmd, &f)
	natsFlags.register(cmd)
	return cmd
}

// viewFlags are the flags of the cluster's GPU view (package gpuview).
type viewFlags struct {
	on, noNodeAgent bool
	selector, ns    string
	port            int
	tokenFile       string
	promURL         string
	promTokenFile   string
	promLookback    time.Duration
}

func (v *viewFlags) registerFlags(cmd *cobra.Command, f *serveFlags) {
	fs := cmd.Flags()
	fs.BoolVar(&v.on, "cluster-view", false, "also serve the cluster's GPU view (gpu_inventory, gpu_allocation, gpu_idle, gpu_node_health) from the Kubernetes API")
	fs.BoolVar(&v.noNodeAgent, "no-node-agent", false, "serve only the cluster view, without NVML (for a central Deployment); implies --cluster-view")
	fs.StringVar(&v.selector, "node-agent-selector", gpuview.DefaultNodeAgentSelector, "label selector of the GPU node agents' pods (the cluster view calls them for utilization and health)")
	fs.StringVar(&v.ns, "node-agent-namespace", "", "namespace of the node agents' pods (default: every namespace)")
	fs.IntVar(&v.port, "node-agent-port", 8080, "port of the node agents' MCP endpoint (a pod's opsmesh.dev/mcp-port annotation overrides it)")
	fs.StringVar(&v.tokenFile, "node-agent-token-file", "", "file holding the bearer token the node agents require")
	fs.StringVar(&v.promURL, "prometheus-url", "", "read gpu_idle's utilization and idle time from this Prometheus, which scrapes NVIDIA's DCGM exporter (DCGM_FI_DEV_GPU_UTIL), instead of from the node agents")
	fs.StringVar(&v.promTokenFile, "prometheus-token-file", "", "file holding the bearer token Prometheus requires, if any")
	fs.DurationVar(&v.promLookback, "prometheus-lookback", 24*time.Hour, "how far back gpu_idle looks in Prometheus for when a GPU was last busy")
	f.registerKube(cmd)
}

func (v *viewFlags) validate(cmd *cobra.Command) error {
	if v.noNodeAgent {
		v.on = true
	}
	if !v.on {
		for _, name := range []string{"kubeconfig", "context", "allow-namespaces", "node-agent-selector", "node-agent-namespace", "node-agent-port", "node-agent-token-file", "prometheus-url", "prometheus-token-file", "prometheus-lookback"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s is a flag of the cluster view; add --cluster-view (or --no-node-agent)", name)
			}
		}
	}
	if v.port < 1 || v.port > 65535 {
		return fmt.Errorf("--node-agent-port %d is not a port number", v.port)
	}
	if v.promURL != "" {
		if err := gpuview.CheckPrometheus(v.promURL, v.promLookback); err != nil {
			return fmt.Errorf("--prometheus-url, --prometheus-lookback: %w", err)
		}
	} else {
		for _, name := range []string{"prometheus-token-file", "prometheus-lookback"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s goes with --prometheus-url; add it or drop --%s", name, name)
			}
		}
	}
	return nil
}

// register adds the cluster view's tools to s.
func (v *viewFlags) register(ctx context.Context, s *server.MCPServer, f *serveFlags, log *slog.Logger) error {
	cfg, err := f.restConfig()
	if err != nil {
		return err
	}
	ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
	token := ""
	if v.tokenFile != "" {
		if token, err = serve.ReadToken(v.tokenFile); err != nil {
			return fmt.Errorf("--node-agent-token-file: %w", err)
		}
	}
	promToken := ""
	if v.promTokenFile != "" {
		if promToken, err = serve.ReadToken(v.promTokenFile); err != nil {
			return fmt.Errorf("--prometheus-token-file: %w", err)
		}
	}
	view, err := gpuview.New(ctx, cfg, gpuview.Config{
		ReadOnly: f.readOnly, MaxBytes: f.maxOutputBytes, AllowNamespaces: f.allow,
		NodeAgentSelector: v.selector, NodeAgentNamespace: v.ns, NodeAgentPort: v.port, NodeAgentToken: token,
		PrometheusURL: v.promURL, PrometheusToken: promToken, PrometheusLookback: v.promLookback, Logger: log,
	})
	if err != nil {
		return err
	}
	mcptool.Register(s, mcptool.Options{Server: "gpu", ReadOnly: f.readOnly, MaxBytes: f.maxOutputBytes, Logger: log}, view.Tools()...)
	return nil
}

// nodeName is the flag's value, else $NODE_NAME (set from the downward API), else the host name.
func nodeName(flag string) string {
	if flag != "" {
		return flag
	}
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "unknown-node"
}
