package mcppool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/opsmesh/opsmesh/internal/metrics"
	"github.com/opsmesh/opsmesh/internal/tracing"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/redact"
)

// Endpoint is how to reach one ToolServer: exactly one of URL (streamable HTTP), Command (stdio)
// or InProcess (a server of this binary).
type Endpoint struct {
	// Name is the ToolServer's name, as agents' grants refer to it.
	Name string
	// URL of the streamable HTTP endpoint (http://host:port/mcp), with the bearer Token.
	URL   string
	Token string
	// Command and its arguments, started once and spoken to over stdio.
	Command []string
	Env     []string
	// InProcess is a server in this process (the builtin servers of the opsmesh binary).
	InProcess *server.MCPServer
}

// String says where the endpoint is: its URL, "in process", or "stdio <command>".
func (e Endpoint) String() string {
	switch {
	case e.InProcess != nil:
		return "in process"
	case e.URL != "":
		if u, err := url.Parse(e.URL); err == nil && u.User != nil {
			u.User = url.User("REDACTED")
			return u.String()
		}
		return e.URL
	case len(e.Command) > 0:
		return "stdio " + e.Command[0]
	}
	return "nowhere"
}

func (e Endpoint) check() error {
	n := 0
	for _, set := range []bool{e.URL != "", len(e.Command) > 0, e.InProcess != nil} {
		if set {
			n++
		}
	}
	if e.Name == "" {
		return errors.New("mcppool: an endpoint has no name: give it its ToolServer's name")
	}
	if n != 1 {
		return fmt.Errorf("mcppool: ToolServer %s: give exactly one of a URL, a command or an in-process server (got %d)", e.Name, n)
	}
	return nil
}

// Pool holds one connection per endpoint, shared by every Toolset made from it.
type Pool struct {
	log     *slog.Logger
	timeout time.Duration
	max     int

	mu    sync.Mutex
	conns map[string]*conn
}

// Options tune a Pool.
type Options struct {
	// CallTimeout bounds each tool call (default 60s); the caller's context may end it sooner.
	CallTimeout time.Duration
	// MaxResultBytes caps each tool result's text (default 16 KiB).
	MaxResultBytes int
	Logger         *slog.Logger
}

// New builds a pool of endpoints. Nothing connects until a Toolset is used.
func New(endpoints []Endpoint, o Options) (*Pool, error) {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 60 * time.Second
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = 16 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{log: o.Logger, timeout: o.CallTimeout, max: o.MaxResultBytes, conns: map[string]*conn{}}
	for _, e := range endpoints {
		if err := p.Add(e); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Add adds or replaces an endpoint; a replaced one's connection is closed.
func (p *Pool) Add(e Endpoint) error {
	if err := e.check(); err != nil {
		return err
	}
	p.mu.Lock()
	old := p.conns[e.Name]
	p.conns[e.Name] = &conn{ep: e, pool: p}
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

// Close closes every connection.
func (p *Pool) Close() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*conn{}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

func (p *Pool) conn(name string) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.conns[name]
	if !ok {
		var names []string
		for n := range p.conns {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("ToolServer %s is not known to this runtime (known: %s)", name, strings.Join(names, ", "))
	}
	return c, nil
}

// conn is one endpoint's client, connected on first use and again after a failure.
type conn struct {
	ep   Endpoint
	pool *Pool

	mu     sync.Mutex
	client *mcpclient.Client
	tools  []mcp.Tool
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		_ = c.client.Close()
		c.client, c.tools = nil, nil
	}
}

// get returns a connected, initialized client and the server's tools.
func (c *conn) get(ctx context.Context) (*mcpclient.Client, []mcp.Tool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, c.tools, nil
	}
	var (
		cl  *mcpclient.Client
		err error
	)
	switch {
	case c.ep.InProcess != nil:
		cl, err = mcpclient.NewInProcessClient(c.ep.InProcess)
	case c.ep.URL != "":
		var opts []transport.StreamableHTTPCOption
		if c.ep.Token != "" {
			opts = append(opts, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + c.ep.Token}))
		}
		cl, err = mcpclient.NewStreamableHttpClient(c.ep.URL, opts...)
	default:
		cl, err = mcpclient.NewStdioMCPClient(c.ep.Command[0], c.ep.Env, c.ep.Command[1:]...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ToolServer %s: %w", c.ep.Name, err)
	}
	fail := func(what string, err error) error {
		_ = cl.Close()
		return fmt.Errorf("ToolServer %s (%s): %s: %w", c.ep.Name, c.ep, what, err)
	}
	// A stdio client's process lives as long as the context given to Start: use the pool's.
	if err := cl.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, nil, fail("connecting", err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "opsmesh-agent", Version: "1"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		return nil, nil, fail("initializing the MCP session", err)
	}
	var tools []mcp.Tool
	req := mcp.ListToolsRequest{}
	for {
		res, err := cl.ListTools(ctx, req)
		if err != nil {
			return nil, nil, fail("listing tools", err)
		}
		tools = append(tools, res.Tools...)
		if res.NextCursor == "" {
			break
		}
		req.Params.Cursor = res.NextCursor
	}
	c.client, c.tools = cl, tools
	return cl, tools, nil
}

// drop forgets a client that failed, so the next use reconnects.
func (c *conn) drop(cl *mcpclient.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == cl {
		_ = c.client.Close()
		c.client, c.tools = nil, nil
	}
}

// Grant is what an Agent may use of one ToolServer (spec.tools[i]).
type Grant struct {
	// Server is the ToolServer's name, as the agent and its results name it.
	Server string
	// Endpoint is the pool endpoint that serves it (default Server); a runtime that hosts
	// several namespaces names endpoints namespace/name.
	Endpoint        string
	Allowed         []string
	RequireApproval []string
}

// Toolset is one agent's view of the pool.
type Toolset struct {
	pool   *Pool
	grants map[string]Grant
	order  []string
	writes bool
	calls  *atomic.Int64 // shared with the WithWrites view
}

// Toolset returns the view of an agent with grants. Investigations use it as is: only read-only
// tools run. WithWrites returns a view that also runs the granted write tools (for executing an
// approved plan).
func (p *Pool) Toolset(grants []Grant) *Toolset {
	t := &Toolset{pool: p, grants: map[string]Grant{}, calls: new(atomic.Int64)}
	for _, g := range grants {
		if g.Endpoint == "" {
			g.Endpoint = g.Server
		}
		if _, dup := t.grants[g.Server]; !dup {
			t.order = append(t.order, g.Server)
		}
		t.grants[g.Server] = g
	}
	return t
}

// WithWrites returns a view with the same grants that also runs write tools.
func (t *Toolset) WithWrites() *Toolset {
	return &Toolset{pool: t.pool, grants: t.grants, order: t.order, writes: true, calls: t.calls}
}

// Calls is how many tool calls this view and its WithWrites view have run.
func (t *Toolset) Calls() int { return int(t.calls.Load()) }

// List returns the granted tools each server actually serves, in grant order. A server that
// cannot be reached is an error naming it; a granted tool the server does not serve is left out.
func (t *Toolset) List(ctx context.Context) ([]Tool, error) {
	var out []Tool
	var errs []error
	for _, name := range t.order {
		g := t.grants[name]
		c, err := t.pool.conn(g.Endpoint)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, tools, err := c.get(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, mt := range tools {
			if !slices.Contains(g.Allowed, mt.Name) {
				continue
			}
			out = append(out, toolOf(name, mt, slices.Contains(g.RequireApproval, mt.Name)))
		}
	}
	return out, errors.Join(errs...)
}

// effects reads a tool's readOnlyHint and destructiveHint (MCP's default for destructiveHint is
// true for a tool that is not read-only).
func effects(mt mcp.Tool) (readOnly, destructive bool) {
	readOnly = mt.Annotations.ReadOnlyHint != nil && *mt.Annotations.ReadOnlyHint
	return readOnly, !readOnly && (mt.Annotations.DestructiveHint == nil || *mt.Annotations.DestructiveHint)
}

func toolOf(server string, mt mcp.Tool, approval bool) Tool {
	schema, _ := json.Marshal(mt.InputSchema)
	if len(mt.RawInputSchema) > 0 {
		schema = mt.RawInputSchema
	}
	var output json.RawMessage
	switch {
	case len(mt.RawOutputSchema) > 0:
		output = mt.RawOutputSchema
	case mt.OutputSchema.Type != "":
		output, _ = json.Marshal(mt.OutputSchema)
	}
	ro, de := effects(mt)
	return Tool{Server: server, Name: mt.Name, Description: mt.Description, InputSchema: schema, OutputSchema: output, ReadOnly: ro, Destructive: de, NeedsApproval: approval}
}

// Call runs a granted tool. It refuses, without calling anything, a server or tool outside the
// grants and, unless the view was made WithWrites, any tool that is not read-only. A transport
// failure reconnects once and retries a read-only tool; a write is never retried.
func (t *Toolset) Call(ctx context.Context, server, tool string, args map[string]any) (Result, error) {
	g, ok := t.grants[server]
	if !ok {
		// Names outside the grants may come from a model: they never become label values.
		metrics.ClientCalls.WithLabelValues(notGranted, notGranted, metrics.OutcomeRefused).Inc()
		return Result{}, fmt.Errorf("ToolServer %s is not granted to this agent (granted: %s)", server, strings.Join(t.order, ", "))
	}
	if !slices.Contains(g.Allowed, tool) {
		metrics.ClientCalls.WithLabelValues(server, notGranted, metrics.OutcomeRefused).Inc()
		return Result{}, fmt.Errorf("tool %q of ToolServer %s is not on this agent's allowlist (allowed: %s)", tool, server, strings.Join(g.Allowed, ", "))
	}
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "mcp "+server+"/"+tool, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("mcp.server", server), attribute.String("mcp.tool", tool)))
	res, outcome, err := t.call(ctx, g, server, tool, args)
	span.SetAttributes(attribute.String("mcp.outcome", outcome))
	if outcome != metrics.OutcomeOK {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
	metrics.ClientCalls.WithLabelValues(server, tool, outcome).Inc()
	if outcome != metrics.OutcomeRefused {
		metrics.ClientCallDuration.WithLabelValues(server, tool).Observe(time.Since(start).Seconds())
	}
	return res, err
}

// notGranted is the label value of a server or tool outside the caller's grants.
const notGranted = "(not granted)"

// call runs a granted tool and says its outcome for the opsmesh_mcp_client_calls_total series.
func (t *Toolset) call(ctx context.Context, g Grant, server, tool string, args map[string]any) (Result, string, error) {
	c, err := t.pool.conn(g.Endpoint)
	if err != nil {
		return Result{}, metrics.OutcomeUnreachable, err
	}
	for attempt := 0; ; attempt++ {
		cl, tools, err := c.get(ctx)
		if err != nil {
			return Result{}, metrics.OutcomeUnreachable, err
		}
		i := slices.IndexFunc(tools, func(mt mcp.Tool) bool { return mt.Name == tool })
		if i < 0 {
			return Result{}, metrics.OutcomeRefused, fmt.Errorf("tool %q is not served by ToolServer %s: its allowlist names a tool the server lacks", tool, server)
		}
		readOnly, _ := effects(tools[i])
		if !readOnly && !t.writes {
			return Result{}, metrics.OutcomeRefused, fmt.Errorf("tool %q of ToolServer %s changes the cluster: an investigation only reads; propose it in the remediation plan instead", tool, server)
		}
		t.calls.Add(1)
		cctx, cancel := context.WithTimeout(ctx, t.pool.timeout)
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = tool, args
		res, err := cl.CallTool(cctx, req)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, metrics.OutcomeUnreachable, fmt.Errorf("%s/%s: %w", server, tool, ctx.Err())
			}
			c.drop(cl)
			if attempt == 0 && readOnly {
				t.pool.log.Info("tool call failed; reconnecting", "toolServer", server, "tool", tool, "err", err)
				continue
			}
			return Result{}, metrics.OutcomeUnreachable, fmt.Errorf("%s/%s: %w", server, tool, err)
		}
		var b strings.Builder
		for _, content := range res.Content {
			if tc, ok := content.(mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		outcome := metrics.OutcomeOK
		if res.IsError {
			outcome = metrics.OutcomeError
		}
		out := Result{Text: mcptool.Cap(redact.Text(b.String()), t.pool.max), IsError: res.IsError}
		if !res.IsError {
			out.Structured = structured(res)
		}
		return out, outcome, nil
	}
}

// structured is a result's structuredContent with every string in it passed through
// redact.Text, as the text is: a second line of defence for servers that are not opsmesh's.
// Content that is not a JSON object is dropped.
func structured(res *mcp.CallToolResult) json.RawMessage {
	raw := res.RawStructuredContent
	if len(raw) == 0 && res.StructuredContent != nil {
		raw, _ = json.Marshal(res.StructuredContent)
	}
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if dec.Decode(&v) != nil {
		return nil
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return redact.Text(v)
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			for k, e := range v {
				v[k] = walk(e)
			}
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		return nil
	}
	return out
}
