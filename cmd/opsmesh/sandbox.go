package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsmesh/opsmesh/sandbox"
)

const sandboxLong = `Run the whole opsmesh platform on this machine: a real control plane (etcd, kube-apiserver,
kube-scheduler, kube-controller-manager, built once from their Go modules), kwok simulating the
kubelets of 3 CPU nodes and 3 GPU nodes (8 simulated H100 each, one MIG-partitioned), a simulated
GPU node agent per GPU node, the controller with the agent runtime and embedded NATS, and the MCP
gateway, with the sample Agents and ToolServers. Everything simulated is labelled simulated.

State (pid files, logs, the kubeconfig, tokens, state.json) is kept in --state-dir
(default $OPSMESH_SANDBOX_DIR or ~/.cache/opsmesh/sandbox). See docs/sandbox.md.`

func newSandboxCommand() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{Use: "sandbox", Short: "Run opsmesh on a local control plane with simulated nodes and GPUs (up, down, status, fault)", Long: sandboxLong}
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", sandbox.DefaultStateDir(), "the sandbox's state directory (pid files, logs, kubeconfig, tokens)")

	var opts sandbox.Options
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the sandbox (building the control-plane binaries the first time) and print how to reach it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.StateDir, opts.Progress = stateDir, cmd.ErrOrStderr()
			s, err := sandbox.Up(ctx, opts)
			if err != nil {
				return err
			}
			s.PrintAccess(cmd.OutOrStdout())
			return nil
		},
	}
	up.Flags().StringVar(&opts.RepoRoot, "repo-root", "", "the opsmesh clone (hack/testbins.sh, deploy/) (default: found from the working directory)")
	up.Flags().StringVar(&opts.BinDir, "bin-dir", "", "directory holding etcd, kube-apiserver, kube-scheduler and kube-controller-manager (with --kwok: build nothing)")
	up.Flags().StringVar(&opts.KwokBin, "kwok", "", "the kwok binary (with --bin-dir: build nothing)")
	up.Flags().DurationVar(&opts.Timeout, "timeout", 3*time.Minute, "bound on each wait (control plane, nodes, samples)")

	down := &cobra.Command{
		Use:   "down",
		Short: "Stop every process of the sandbox and check that none is left",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sandbox.Down(cmd.Context(), stateDir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sandbox in %s stopped; no process of it is left (logs stay in %s/logs)\n", stateDir, stateDir)
			return nil
		},
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Show each component of the sandbox and whether it is up and healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := sandbox.Status(cmd.Context(), stateDir)
			if err != nil {
				return err
			}
			r.Print(cmd.OutOrStdout())
			if !r.Healthy() {
				return fmt.Errorf("the sandbox in %s is not healthy; restart it with opsmesh sandbox down && opsmesh sandbox up", stateDir)
			}
			return nil
		},
	}

	var node string
	var gpu, xid int
	fault := &cobra.Command{
		Use:   "fault",
		Short: "Inject an XID error into a simulated GPU of the running sandbox (the node agent reports it and publishes it on NATS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := sandbox.Open(cmd.Context(), stateDir)
			if err != nil {
				return err
			}
			if err := s.InjectXID(cmd.Context(), node, gpu, xid); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "simulated XID %d on GPU %d of %s: the node agent reports it and published it on NATS (opsmesh.gpu.%s.xid)\n", xid, gpu, node, node)
			return nil
		},
	}
	fault.Flags().StringVar(&node, "node", "", "the simulated GPU node (sim-gpu-1, sim-gpu-2, sim-gpu-3)")
	fault.Flags().IntVar(&gpu, "gpu", 0, "the GPU's index, 0..7")
	fault.Flags().IntVar(&xid, "xid", 79, "the XID code (79: fallen off the bus; 48: double-bit ECC; 94/95: contained/uncontained ECC)")
	_ = fault.MarkFlagRequired("node")

	cmd.AddCommand(up, down, status, fault)
	return cmd
}
