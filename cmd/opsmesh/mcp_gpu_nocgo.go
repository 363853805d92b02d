//go:build !cgo

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newMCPGPUCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "gpu",
		Short:              "Serve this node's NVIDIA GPUs as MCP tools (needs a binary built with cgo)",
		Long:               gpuLong,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("this opsmesh binary was built without cgo, so NVML is unavailable and `opsmesh mcp gpu` cannot run; build it with CGO_ENABLED=1 (make build does)")
		},
	}
}
