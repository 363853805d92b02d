//go:build cgo

package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

func newMCPGPUCommand() *cobra.Command {
	var (
		f                            serveFlags
		simulated, faultFile, nodeNm string
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
			if faultFile != "" && simulated == "" {
				return fmt.Errorf("--fault-file injects faults into simulated GPUs only; add --simulate=dgxh100 (or dgxa100, dgxh200)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
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
			return runMCP(ctx, cmd, &f, a.MCP, log)
		},
	}
	f.registerServe(cmd)
	cmd.Flags().StringVar(&simulated, "simulate", "", "serve simulated GPUs instead of the node's: dgxa100, dgxh100 or dgxh200 (8 GPUs each)")
	cmd.Flags().StringVar(&faultFile, "fault-file", "", "YAML file of faults to inject into the simulated GPUs (XIDs, ECC, temperature, throttling, a lost GPU, processes); see docs/gpu.md")
	cmd.Flags().StringVar(&nodeNm, "node-name", "", "the node's name in every result (default: $NODE_NAME, or the host name)")
	natsFlags.register(cmd)
	return cmd
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
