//go:build cgo

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xidpub"
)

// gpuNATSFlags are `opsmesh mcp gpu`'s flags for publishing XID events to NATS.
type gpuNATSFlags struct {
	url, creds string
}

func (n *gpuNATSFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&n.url, "nats-url", "", "NATS server to publish XID events to (stream OPSMESH_GPU, subject opsmesh.gpu.<node>.xid), e.g. nats://nats.opsmesh:4222; the agent starts and retries while it is down")
	cmd.Flags().StringVar(&n.creds, "nats-creds", "", "NATS credentials file (JWT and NKey seed) for --nats-url")
}

// sink starts publishing XID events when --nats-url is set: nil (NATS not configured)
// otherwise. The publisher stops when ctx ends; close closes its connection.
func (n *gpuNATSFlags) sink(ctx context.Context, node string, simulated bool, log *slog.Logger) (s gpu.XIDSink, closeFn func(), err error) {
	if n.url == "" {
		if n.creds != "" {
			return nil, nil, fmt.Errorf("--nats-creds is for --nats-url; add --nats-url nats://host:4222")
		}
		return nil, func() {}, nil
	}
	p, err := xidpub.New(ctx, xidpub.Config{URL: n.url, CredsFile: n.creds, Node: node, Simulated: simulated, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("--nats-url: %w", err)
	}
	return p, p.Close, nil
}
