// Package bridge re-serves an MCP server that speaks stdio over streamable HTTP: it starts the
// server as a child process, speaks to it with mcp-go's stdio client, and serves the child's tools
// (names, descriptions, input schemas, annotations) with every call forwarded to the child. When
// the child exits, calls fail with an error that says so and the health endpoint answers 503, so
// Kubernetes takes the pod out of its Service and restarts it. The controller runs it for
// container ToolServers with transport stdio (`opsmesh mcp bridge -- <command>`).
//
// It owns the child process and the forwarding only: no tools of its own, no output shaping
// (the child's results pass through as they are), and no auth beyond serve's bearer token.
package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/opsmesh/opsmesh/mcpservers/redact"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

// Config configures a Bridge.
type Config struct {
	// Command and its arguments start the stdio MCP server.
	Command []string
	// Env is added to this process's environment for the child (KEY=value).
	Env []string
	// StartTimeout bounds starting the child and listing its tools (default 30s).
	StartTimeout time.Duration
	// CheckEvery is how often the child is probed to notice that it has died (default 2s).
	CheckEvery time.Duration
	Logger     *slog.Logger
}

// Bridge is a running child server and the HTTP server that re-serves it.
type Bridge struct {
	// MCP is the re-served server: the child's tools, each forwarding its calls.
	MCP *server.MCPServer

	cfg    Config
	log    *slog.Logger
	client *mcpclient.Client
	stderr *tail
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	err error // why the child is gone; nil while it answers
}

// Start starts the child, initializes an MCP session with it and lists its tools. The child
// lives until Close or ctx ends.
func Start(ctx context.Context, cfg Config) (*Bridge, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("bridge: no command: give the stdio MCP server's command after --, e.g. opsmesh mcp bridge -- npx -y @modelcontextprotocol/server-everything")
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{cfg: cfg, log: log.With("command", cfg.Command[0]), stderr: &tail{max: 4096}, done: make(chan struct{})}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	stdio := transport.NewStdioWithOptions(cfg.Command[0], cfg.Env, cfg.Command[1:],
		transport.WithCommandStderrWriter(b.stderr),
		transport.WithCommandLogger(b.log),
		transport.WithCommandFunc(func(_ context.Context, command string, env, args []string) (*exec.Cmd, error) {
			cmd := exec.CommandContext(cctx, command, args...)
			cmd.Env = append(cmd.Environ(), env...)
			return cmd, nil
		}))
	if err := stdio.Start(cctx); err != nil {
		cancel()
		return nil, fmt.Errorf("bridge: starting %s: %w", b.what(), err)
	}
	b.client = mcpclient.NewClient(stdio)
	fail := func(what string, err error) (*Bridge, error) {
		_ = b.client.Close()
		cancel()
		return nil, fmt.Errorf("bridge: %s %s: %w%s", what, b.what(), err, b.stderrNote())
	}
	sctx, scancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer scancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-bridge", Version: "1"}
	ir, err := b.client.Initialize(sctx, init)
	if err != nil {
		return fail("initializing an MCP session with", err)
	}
	var tools []mcp.Tool
	req := mcp.ListToolsRequest{}
	for range 100 {
		res, err := b.client.ListTools(sctx, req)
		if err != nil {
			return fail("listing the tools of", err)
		}
		tools = append(tools, res.Tools...)
		if res.NextCursor == "" {
			break
		}
		req.Params.Cursor = res.NextCursor
	}
	opts := []server.ServerOption{server.WithToolCapabilities(false)}
	if ir.Instructions != "" {
		opts = append(opts, server.WithInstructions(ir.Instructions))
	}
	name := ir.ServerInfo.Name
	if name == "" {
		name = cfg.Command[0]
	}
	b.MCP = server.NewMCPServer(name, ir.ServerInfo.Version, opts...)
	for _, t := range tools {
		b.MCP.AddTool(t, b.forward)
	}
	b.log.Info("bridging stdio MCP server", "server", name, "tools", len(tools))
	go b.check(cctx)
	return b, nil
}

func (b *Bridge) what() string { return "stdio MCP server `" + strings.Join(b.cfg.Command, " ") + "`" }

func (b *Bridge) stderrNote() string {
	if s := strings.TrimSpace(b.stderr.String()); s != "" {
		return "; its stderr ends: " + redact.Text(s)
	}
	return ""
}

// forward passes a call to the child.
func (b *Bridge) forward(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if err := b.Err(); err != nil {
		return nil, err
	}
	res, err := b.client.CallTool(ctx, req)
	if err != nil {
		if gone := b.probe(); gone != nil {
			return nil, gone
		}
		return nil, fmt.Errorf("%s: calling %s: %w", b.what(), req.Params.Name, err)
	}
	return res, nil
}

// check probes the child until it stops answering.
func (b *Bridge) check(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(b.cfg.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if b.probe() != nil {
				return
			}
		}
	}
}

// probe asks the child for its tools; a child that does not answer is marked gone, and the error says so.
func (b *Bridge) probe() error {
	if err := b.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// tools/list, not ping: mcp-go's client answers ping itself on the current protocol.
	if _, err := b.client.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		b.mu.Lock()
		if b.err == nil {
			b.err = fmt.Errorf("the %s exited or stopped answering (%v)%s; the bridge serves nothing until it is restarted", b.what(), err, b.stderrNote())
			b.log.Error("stdio MCP server gone", "error", err)
		}
		e := b.err
		b.mu.Unlock()
		return e
	}
	return nil
}

// Err is why the child is gone, or nil while it answers.
func (b *Bridge) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Done is closed when the bridge has noticed that the child is gone, or was closed.
func (b *Bridge) Done() <-chan struct{} { return b.done }

// Close stops the child.
func (b *Bridge) Close() {
	_ = b.client.Close()
	b.cancel()
}

// Handler serves the bridged tools over streamable HTTP at serve.Path, requiring the bearer
// token when it is not empty, and GET /healthz: 200 while the child answers, 503 with the
// reason once it is gone.
func (b *Bridge) Handler(token string) http.Handler {
	var mcpHandler http.Handler
	if token != "" {
		mcpHandler = serve.HTTPHandler(b.MCP, token)
	} else {
		mcpHandler = server.NewStreamableHTTPServer(b.MCP, server.WithEndpointPath(serve.Path))
	}
	mux := http.NewServeMux()
	mux.Handle(serve.Path, mcpHandler)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := b.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// tail keeps the last max bytes written to it: the end of the child's stderr, for errors.
type tail struct {
	max int
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
