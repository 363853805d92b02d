package main

import (
	"context"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

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
		RunE: runKubeServer(&f, func(ctx context.Context, cfg *rest.Config, log *slog.Logger) (*server.MCPServer, error) {
			s, err := scheduler.New(ctx, cfg, scheduler.Config{
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
