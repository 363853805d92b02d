package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsmesh/opsmesh/mcpservers/bridge"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

func newMCPBridgeCommand() *cobra.Command {
	var listen, tokenFile string
	cmd := &cobra.Command{
		Use:   "bridge [flags] -- <command> [args...]",
		Short: "Serve a stdio MCP server over streamable HTTP: start it as a child and forward its tools",
		Long: `Serve a stdio MCP server over streamable HTTP. The bridge starts <command> as a child process,
speaks MCP to it over stdin and stdout, and serves the child's tools (names, descriptions, input
schemas, annotations) at /mcp, forwarding every call. The controller runs it for container
ToolServers with transport stdio. When the child exits, calls fail saying so and GET /healthz
answers 503, so Kubernetes restarts the pod.

With --token-file every request must carry "Authorization: Bearer <token>"; without it the
endpoint is open, for a bridge that only a local process or a NetworkPolicy-guarded pod reaches.`,
		Example: `  opsmesh mcp bridge --listen :8080 --token-file /var/run/opsmesh/token/token -- npx -y @modelcontextprotocol/server-everything`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || cmd.ArgsLenAtDash() != 0 {
				return fmt.Errorf("give the stdio MCP server's command after --, e.g. opsmesh mcp bridge -- npx -y @modelcontextprotocol/server-everything")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var token string
			if tokenFile != "" {
				var err error
				if token, err = serve.ReadToken(tokenFile); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			b, err := bridge.Start(ctx, bridge.Config{Command: args, Logger: log})
			if err != nil {
				return err
			}
			defer b.Close()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			auth := "no auth: set --token-file to require a bearer token"
			if token != "" {
				auth = "bearer token from " + tokenFile
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "opsmesh MCP bridge for %s on http://%s%s (%s)\n", args[0], l.Addr(), serve.Path, auth)
			srv := &http.Server{Handler: b.Handler(token), ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(l) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return srv.Shutdown(sctx)
			}
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve streamable HTTP on")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the bearer token clients must send (default: no auth)")
	return cmd
}
