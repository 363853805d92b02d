// Package gateway is the one MCP endpoint a chat client (Claude Desktop, Cursor, VS Code) needs:
// it serves the tools of every Ready ToolServer of the namespaces it watches, each prefixed by its
// server (<toolserver>__<tool>, or <namespace>__<toolserver>__<tool> when two namespaces have a
// ToolServer of that name), forwarding calls through an MCP connection pool (agents/mcppool) to
// the ToolServer's endpoint, with the source's input and output schemas and its structured
// content passed through as they are; and its own tools over the platform, each answering with a
// result type of api/contract beside its text: list_agents, ask_agent (A2A over NATS, through
// agents/ask), list_incidents, get_incident and, when allowed, approve_action. It keeps the tool
// list in step with the ToolServers (a tools/list_changed notification on every change). Write
// tools of ToolServers are served only when AllowWrites is set, and a ToolServer that is not
// Ready is never called. It owns no tool of its own kind of server and decides no risk; it
// changes nothing in the cluster except the approvals approve_action records
// (controller/approval).
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/nats-io/nats.go"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// DefaultApprover is who approve_action records decisions as when Config.Approver is empty.
const DefaultApprover = "mcp-gateway"

// Config configures a Gateway.
type Config struct {
	// RestConfig reaches the API server: ToolServers are watched, Agents and Incidents read and
	// approvals written with it.
	RestConfig *rest.Config
	// Namespaces to watch; empty watches every namespace.
	Namespaces []string
	// Builtins are builtin servers running in this process; a builtin ToolServer whose server is
	// here is called in process, else at its Service.
	Builtins map[opsv1.BuiltinServer]*server.MCPServer
	// ServicePort is the port of ToolServers' Services (default kubehost.DefaultServicePort).
	ServicePort int
	// Endpoint, when set, replaces kubehost.Endpoint for reaching a ToolServer (tests).
	Endpoint func(ctx context.Context, r client.Reader, ts *opsv1.ToolServer) (mcppool.Endpoint, error)
	// AllowWrites serves the ToolServers' write tools; without it they are neither listed nor
	// callable.
	AllowWrites bool
	// AllowApprovals serves approve_action.
	AllowApprovals bool
	// Approver is who approve_action records as deciding (default DefaultApprover).
	Approver string
	// NATS reaches the agents for ask_agent; nil leaves ask_agent answering that it has none.
	NATS *nats.Conn
	// MaxBytes caps every tool result (default mcptool.DefaultMaxBytes).
	MaxBytes int
	// Resync re-reads the ToolServers this often besides reacting to changes (default 30s), so a
	// ToolServer whose endpoint could not be listed is tried again.
	Resync  time.Duration
	Version string
	Logger  *slog.Logger
}

// Gateway is a running gateway. Serve MCP with package serve.
type Gateway struct {
	// MCP is the gateway's MCP server.
	MCP *server.MCPServer

	cfg    Config
	log    *slog.Logger
	cache  cache.Cache
	client client.Client
	pool   *mcppool.Pool

	// servers is what is served of each Ready ToolServer (namespace/name); only sync, which
	// runs on one goroutine at a time, touches it.
	servers map[string]*upstream

	mu     sync.Mutex
	routes map[string]route // exposed tool name -> where it goes
}

// upstream is one Ready ToolServer as served.
type upstream struct {
	hash  string
	tools []mcppool.Tool
	set   *mcppool.Toolset
}

// route is where one exposed tool goes.
type route struct {
	key  string // namespace/name of the ToolServer
	tool string
	set  *mcppool.Toolset
	hash string // of the exposed declaration and the server's state, to notice a change
}

// Scheme holds the kinds the gateway reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = opsv1.AddToScheme(s)
	return s
}

// New starts a gateway until ctx ends: it watches the ToolServers and returns once the first set
// of Ready ToolServers is served (a ToolServer that cannot be reached is logged and tried again).
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.RestConfig == nil {
		return nil, errors.New("gateway: no Kubernetes configuration (RestConfig)")
	}
	if cfg.Approver == "" {
		cfg.Approver = DefaultApprover
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = mcptool.DefaultMaxBytes
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme := Scheme()
	c, err := cache.New(cfg.RestConfig, kubeaccess.CacheOptions(scheme, cfg.Namespaces))
	if err != nil {
		return nil, fmt.Errorf("gateway: watching ToolServers: %w", err)
	}
	direct, err := client.New(cfg.RestConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	pool, err := mcppool.New(nil, mcppool.Options{MaxResultBytes: cfg.MaxBytes, Logger: log})
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		MCP: server.NewMCPServer("opsmesh-gateway", cfg.Version,
			server.WithToolCapabilities(true),
			server.WithStrictInputSchemaDefault(),
			server.WithRecovery(),
			server.WithInstructions(instructions)),
		cfg: cfg, log: log, cache: c, client: direct, pool: pool,
		servers: map[string]*upstream{}, routes: map[string]route{},
	}
	mcptool.Register(g.MCP, mcptool.Options{Server: "gateway", MaxBytes: cfg.MaxBytes, Logger: log}, g.ownTools()...)

	inf, err := c.GetInformer(ctx, &opsv1.ToolServer{})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("gateway: watching ToolServers: %w (are the opsmesh CRDs installed? kubectl apply -f deploy/crds/)", err)
	}
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		pool.Close()
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		pool.Close()
		return nil, errors.New("gateway: the watch of ToolServers did not sync (check RBAC: list and watch toolservers.opsmesh.dev)")
	}
	g.sync(ctx)
	go func() {
		defer pool.Close()
		tick := time.NewTicker(cfg.Resync)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-tick.C:
			}
			// Debounce bursts (an apply of many objects) into one pass.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			g.sync(ctx)
		}
	}()
	return g, nil
}

const instructions = `opsmesh gateway: the tools of the cluster's ToolServers, each named <toolserver>__<tool>, and opsmesh's own: list_agents, ask_agent (ask a diagnosing agent), list_incidents, get_incident, approve_action (when enabled).`

// Ready reports whether a ToolServer's Ready condition is True.
func Ready(ts *opsv1.ToolServer) bool {
	return meta.IsStatusConditionTrue(ts.Status.Conditions, opsv1.ConditionReady)
}

// sync serves the tools of the Ready ToolServers and withdraws the others'.
func (g *Gateway) sync(ctx context.Context) {
	var list opsv1.ToolServerList
	if err := g.cache.List(ctx, &list); err != nil {
		g.log.Error("listing ToolServers", "error", err)
		return
	}
	byName := map[string]int{}
	for i := range list.Items {
		byName[list.Items[i].Name]++
	}
	ready := map[string]*opsv1.ToolServer{}
	for i := range list.Items {
		ts := &list.Items[i]
		if Ready(ts) {
			ready[ts.Namespace+"/"+ts.Name] = ts
		}
	}

	for key := range g.servers {
		if ready[key] == nil {
			delete(g.servers, key)
			g.log.Info("ToolServer withdrawn: not Ready", "toolServer", key)
		}
	}
	keys := make([]string, 0, len(ready))
	for k := range ready {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		ts := ready[key]
		ep, err := g.endpoint(ctx, ts)
		if err != nil {
			g.log.Error("ToolServer cannot be reached", "toolServer", key, "error", err)
			delete(g.servers, key)
			continue
		}
		h := hashOf(ts.Spec, ts.Status.Tools, ep.Token, ep.URL)
		if up := g.servers[key]; up != nil && up.hash == h {
			continue
		}
		ep.Name = key
		if err := g.pool.Add(ep); err != nil {
			g.log.Error("ToolServer endpoint refused", "toolServer", key, "error", err)
			delete(g.servers, key)
			continue
		}
		var allowed []string
		for _, t := range ts.Status.Tools {
			allowed = append(allowed, t.Name)
		}
		set := g.pool.Toolset([]mcppool.Grant{{Server: key, Endpoint: key, Allowed: allowed}})
		if g.cfg.AllowWrites {
			set = set.WithWrites()
		}
		lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		tools, err := set.List(lctx)
		cancel()
		if err != nil {
			g.log.Error("listing the tools of a Ready ToolServer", "toolServer", key, "error", err)
			delete(g.servers, key)
			continue
		}
		g.servers[key] = &upstream{hash: h, tools: tools, set: set}
		g.log.Info("ToolServer served", "toolServer", key, "where", location(ep), "tools", len(tools))
	}

	// The exposed tools, and the difference to what is registered.
	want := map[string]server.ServerTool{}
	wantRoute := map[string]route{}
	for _, key := range keys {
		up := g.servers[key]
		if up == nil {
			continue
		}
		ts := ready[key]
		idem := map[string]bool{}
		for _, t := range ts.Status.Tools {
			idem[t.Name] = t.Idempotent
		}
		prefix := ts.Name
		if byName[ts.Name] > 1 {
			prefix = ts.Namespace + "__" + ts.Name
		}
		for _, t := range up.tools {
			if !t.ReadOnly && !g.cfg.AllowWrites {
				continue
			}
			name := ToolName(prefix, t.Name)
			if _, own := ownToolNames[name]; own {
				continue
			}
			if _, dup := want[name]; dup {
				g.log.Error("two tools map to one gateway name; the second is not served", "toolServer", key, "tool", t.Name, "name", name)
				continue
			}
			def := exposed(name, key, t, idem[t.Name])
			r := route{key: key, tool: t.Name, set: up.set, hash: hashOf(def, t.InputSchema, t.OutputSchema, up.hash)}
			want[name] = server.ServerTool{Tool: def, Handler: g.forward(name)}
			wantRoute[name] = r
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var gone []string
	for name, r := range g.routes {
		if w, ok := wantRoute[name]; !ok || w.hash != r.hash {
			gone = append(gone, name)
		}
	}
	var add []server.ServerTool
	for name, st := range want {
		if r, ok := g.routes[name]; !ok || r.hash != wantRoute[name].hash {
			add = append(add, st)
		}
	}
	g.routes = wantRoute
	if len(gone) > 0 {
		sort.Strings(gone)
		g.MCP.DeleteTools(gone...)
	}
	if len(add) > 0 {
		g.MCP.AddTools(add...)
	}
	if len(gone)+len(add) > 0 {
		g.log.Info("tool list changed", "added", len(add), "removed", len(gone), "served", len(wantRoute))
	}
}

func (g *Gateway) endpoint(ctx context.Context, ts *opsv1.ToolServer) (mcppool.Endpoint, error) {
	if g.cfg.Endpoint != nil {
		return g.cfg.Endpoint(ctx, g.client, ts)
	}
	return kubehost.Endpoint(ctx, g.client, ts, g.cfg.Builtins, g.cfg.ServicePort)
}

// exposed is the gateway's declaration of tool t of ToolServer key: the source's description
// (prefixed with the server), input schema, output schema (when it declares one) and annotations.
func exposed(name, key string, t mcppool.Tool, idempotent bool) mcp.Tool {
	schema := t.InputSchema
	if len(schema) == 0 || string(schema) == "null" {
		schema = json.RawMessage(`{"type":"object"}`)
	}
	def := mcp.NewToolWithRawSchema(name, fmt.Sprintf("[ToolServer %s] %s", key, t.Description), schema)
	if len(t.OutputSchema) > 0 && string(t.OutputSchema) != "null" {
		def.RawOutputSchema = t.OutputSchema
	}
	def.Annotations = mcp.ToolAnnotation{
		ReadOnlyHint:    mcp.ToBoolPtr(t.ReadOnly),
		DestructiveHint: mcp.ToBoolPtr(t.Destructive),
		IdempotentHint:  mcp.ToBoolPtr(t.ReadOnly || idempotent),
	}
	return def
}

// forward is the handler of exposed tool name: it calls the source tool of a ToolServer that is
// still Ready, and answers with its text and, when it has one, its structured content as the
// source sent it (strings redacted by the pool).
func (g *Gateway) forward(name string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		g.mu.Lock()
		r, ok := g.routes[name]
		g.mu.Unlock()
		if !ok {
			return mcp.NewToolResultError(fmt.Sprintf("%s: the ToolServer that served it is gone or not Ready; list the tools again", name)), nil
		}
		ns, n, _ := strings.Cut(r.key, "/")
		var ts opsv1.ToolServer
		if err := g.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &ts); err != nil || !Ready(&ts) {
			return mcp.NewToolResultError(fmt.Sprintf("%s: ToolServer %s is not Ready (kubectl describe toolserver -n %s %s says why); the gateway does not call it", name, r.key, ns, n)), nil
		}
		args := req.GetArguments()
		res, err := r.set.Call(ctx, r.key, r.tool, args)
		if err != nil {
			return mcp.NewToolResultError(fmt.Sprintf("%s: %v", name, err)), nil
		}
		if res.IsError {
			return mcp.NewToolResultError(res.Text), nil
		}
		out := mcp.NewToolResultText(res.Text)
		if len(res.Structured) > 0 {
			out.RawStructuredContent = res.Structured
		}
		return out, nil
	}
}

// maxToolName is the longest tool name the gateway exposes: MCP allows 128 characters, but
// several clients refuse names longer than 64.
const maxToolName = 64

var invalidToolChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// ToolName is the name the gateway exposes tool of a server under: prefix__tool, with characters
// MCP does not allow in a tool name replaced by '_', and names longer than 64 characters
// shortened with a hash of the full name, so that they stay valid and distinct.
func ToolName(prefix, tool string) string {
	orig := prefix + "__" + tool
	full := invalidToolChars.ReplaceAllString(orig, "_")
	if len(full) <= maxToolName {
		return full
	}
	sum := sha256.Sum256([]byte(orig))
	tag := "_" + hex.EncodeToString(sum[:4])
	return full[:maxToolName-len(tag)] + tag
}

func hashOf(v ...any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// location says where an endpoint is, for the log, without a password a URL may carry.
func location(ep mcppool.Endpoint) string {
	if ep.URL != "" {
		if u, err := url.Parse(ep.URL); err == nil {
			return u.Redacted()
		}
		return "a URL that does not parse"
	}
	return ep.String()
}
