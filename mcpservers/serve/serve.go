// Package serve runs an MCP server over stdio or streamable HTTP. Over HTTP every request must
// carry the bearer token (compared in constant time; 401 otherwise); stdio needs none, as the
// process that starts the server owns it. It owns transports and auth only, not tools.
package serve

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/opsmesh/opsmesh/internal/metrics"
)

// Stdio serves s on in/out until in closes or ctx ends.
func Stdio(ctx context.Context, s *server.MCPServer, in io.Reader, out io.Writer) error {
	return server.NewStdioServer(s).Listen(ctx, in, out)
}

// Path is where the MCP endpoint is served over HTTP.
const Path = "/mcp"

// HTTPHandler serves s over streamable HTTP at Path, requiring "Authorization: Bearer <token>".
// It also answers GET /healthz without auth, for probes, and GET /metrics without auth, for
// Prometheus: the process's opsmesh series (tool calls by server, tool and outcome; no arguments,
// results or tokens).
func HTTPHandler(s *server.MCPServer, token string) http.Handler {
	mcpHandler := server.NewStreamableHTTPServer(s, server.WithEndpointPath(Path))
	mux := http.NewServeMux()
	mux.Handle(Path, requireBearer(token, mcpHandler))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", metrics.Handler())
	return mux
}

func requireBearer(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="opsmesh"`)
			http.Error(w, "unauthorized: send the server's token as 'Authorization: Bearer <token>' (see --token-file)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ReadToken reads a bearer token from a file, refusing an empty one.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("token file %s is empty; put a long random token in it (for example: openssl rand -hex 32 > %s)", path, path)
	}
	return token, nil
}

// HTTP serves s over streamable HTTP on listener l until ctx ends, then shuts down gracefully.
func HTTP(ctx context.Context, s *server.MCPServer, l net.Listener, token string, log *slog.Logger) error {
	srv := &http.Server{Handler: HTTPHandler(s, token), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("serving MCP over streamable HTTP", "url", "http://"+l.Addr().String()+Path)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
