// Command opsmesh is the one binary of the opsmesh platform. Each part of the platform is a
// subcommand; this file wires them into a cobra command tree and owns nothing else.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=..." (see the Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	root := newRootCommand(os.Stdout, os.Stderr)
	asKubectlPlugin(root, os.Args[0])
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

const rootLong = `opsmesh runs AI operations agents on Kubernetes. Agents, declared as Agent resources,
diagnose and fix incidents in a cluster — crashing workloads, pods that will not schedule,
failing GPUs, starved queues — acting only through MCP tool servers (ToolServer resources) and
talking to each other over A2A carried on NATS. Safe fixes can run by themselves; risky ones
wait for a person's approval.

What this build contains: the opsmesh.dev/v1alpha1 API (the Agent, ToolServer and Incident
CRDs, installed from deploy/crds), the cluster MCP server (opsmesh mcp cluster), the GPU node
agent (opsmesh mcp gpu, with simulated GPUs when no NVIDIA driver is present), the scheduler MCP
server (opsmesh mcp scheduler), the MCP gateway for chat clients (opsmesh mcp gateway), the agent
runtime (opsmesh runtime), the controller that diagnoses, remediates and verifies Incidents
(opsmesh controller), the incident commands (opsmesh incidents, opsmesh approve), opsmesh agents
and opsmesh tools, diagnose and chat, the sandbox (opsmesh sandbox: a local control plane with
simulated nodes and GPUs), the demo (opsmesh demo), and the commands listed below. README.md
gives the status of each part. On PATH as kubectl-opsmesh, it runs as kubectl opsmesh.`

// newRootCommand builds the command tree, writing to out and errOut.
func newRootCommand(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "opsmesh",
		Short:         "Agentic operations for Kubernetes: agents that diagnose and fix incidents",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(newVersionCommand(), newMCPCommand(), newRuntimeCommand(), newControllerCommand())
	root.AddCommand(newIncidentsCommand(), newApproveCommand(), newSandboxCommand(), newDemoCommand(sandboxFaults), newEvalCommand())
	root.AddCommand(newAgentsCommand(), newToolsCommand(), newDiagnoseCommand(), newChatCommand(), newRunbooksCommand())
	return root
}

// asKubectlPlugin makes usage and help say "kubectl opsmesh" when the binary was started as
// kubectl-opsmesh (kubectl runs plugins found on PATH by that name; see make install-plugin).
func asKubectlPlugin(root *cobra.Command, argv0 string) {
	if strings.HasPrefix(filepath.Base(argv0), "kubectl-opsmesh") {
		if root.Annotations == nil {
			root.Annotations = map[string]string{}
		}
		root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl opsmesh"
	}
}
