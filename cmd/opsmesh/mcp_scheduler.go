package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

func newMCPSchedulerCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Serve scheduling as MCP tools: why a pod, Job or Kueue Workload is pending, queues, GPU fragmentation, preemption",
		Long: `Serve scheduling as MCP tools: explain_pending (why a pod, a Job or any owner of pods, or a Kueue
Workload is not running: the scheduler's own word, every node evaluated against the pod, Kueue
and Volcano admission, a one-sentence verdict and ranked fixes), queue_status (Kueue ClusterQueues
and LocalQueues, Volcano Queues), gpu_fragmentation, preemption_candidates, and writes
(workload_set_queue, clusterqueue_set_quota, job_suspend, job_resume, workload_set_priority) that
each take dryRun to preview the change as a diff. Kueue and Volcano are optional: without their
CRDs the answers say so and come from pods and nodes.

Over stdio (the default) an MCP client starts this command itself. Over HTTP every request must
carry "Authorization: Bearer <token>" with the token from --token-file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			// controller-runtime (the watch cache) logs through its own global logger.
			ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))
			s, err := scheduler.New(ctx, cfg, scheduler.Config{
				ReadOnly: f.readOnly, AllowNamespaces: f.allow, MaxBytes: f.maxOutputBytes,
				Version: version, Logger: log,
			})
			if err != nil {
				return err
			}
			return runMCP(ctx, cmd, &f, s.MCP, log)
		},
	}
	f.register(cmd)
	return cmd
}
