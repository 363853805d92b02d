// Package kubehost keeps an agent runtime in step with the cluster: it watches the Agent and
// ToolServer objects of the namespaces it is given and hosts every Agent in the runtime, with
// each ToolServer as an endpoint of the runtime's MCP pool — builtin servers in this process when
// the binary serves them, remote servers by URL (with their bearer token from a Secret), and
// container servers through the Service the controller makes for them — and starts those builtin
// servers (Builtins). It reads the API and the Secrets it is pointed at; it writes nothing
// (status is the controller's job).
package kubehost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
	"github.com/opsmesh/opsmesh/mcpservers/gpuview"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// Config configures a Host.
type Config struct {
	RestConfig *rest.Config
	// Namespaces to watch; empty watches every namespace.
	Namespaces []string
	// Runtime hosts the agents; it must have been made with NamespacedEndpoints.
	Runtime *agentruntime.Runtime
	// Pool is the runtime's pool; the host adds the ToolServers to it.
	Pool *mcppool.Pool
	// Builtins are the builtin servers this process serves itself; a builtin ToolServer whose
	// server is not here is reached through its Service.
	Builtins map[opsv1.BuiltinServer]*server.MCPServer
	// ServicePort is the port of the Services the controller makes for ToolServers (default 8080).
	ServicePort int
	// Resync re-reads everything this often (default 1m), besides reacting to changes.
	Resync time.Duration
	// Cache, when set, is a watch cache that its owner starts (opsmesh controller --runtime: the
	// controller's manager, whose cache runs whether or not it leads), so that the process
	// watches Agents and ToolServers once: Run reads them from it and never starts it. It must
	// reach the API server at RestConfig as the same identity, be confined to exactly Namespaces
	// and know opsmesh's kinds (Scheme). Nil: Run starts a cache of its own.
	Cache  cache.Cache
	Logger *slog.Logger
}

// Host is a running watch.
type Host struct {
	cfg    Config
	log    *slog.Logger
	cache  cache.Cache
	reader client.Reader
	direct client.Client

	servers map[string]string // namespace/name -> hash of what the endpoint was built from
	agents  map[string]string // namespace/name -> hash of the hosted spec and its ToolServers
}

// Scheme holds the kinds the host reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = opsv1.AddToScheme(s)
	return s
}

// Run watches until ctx ends. It returns early only when the watch cannot start (the CRDs are not
// installed, or RBAC forbids listing Agents).
func Run(ctx context.Context, cfg Config) error {
	if cfg.ServicePort == 0 {
		cfg.ServicePort = DefaultServicePort
	}
	if cfg.Resync <= 0 {
		cfg.Resync = time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme := Scheme()
	c := cfg.Cache
	if c == nil {
		var err error
		if c, err = cache.New(cfg.RestConfig, kubeaccess.CacheOptions(scheme, cfg.Namespaces)); err != nil {
			return fmt.Errorf("runtime: watching Agents: %w", err)
		}
	}
	direct, err := client.New(cfg.RestConfig, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	h := &Host{cfg: cfg, log: log, cache: c, reader: c, direct: direct, servers: map[string]string{}, agents: map[string]string{}}
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for _, obj := range []client.Object{&opsv1.Agent{}, &opsv1.ToolServer{}} {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("runtime: watching %T: %w (are the opsmesh CRDs installed? kubectl apply -f deploy/crds/)", obj, err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { poke() },
			UpdateFunc: func(any, any) { poke() },
			DeleteFunc: func(any) { poke() },
		}); err != nil {
			return err
		}
	}
	if cfg.Cache == nil {
		go func() { _ = c.Start(ctx) }()
	}
	// A given cache is its owner's to start: this waits until it has.
	if !c.WaitForCacheSync(ctx) {
		if ctx.Err() != nil && cfg.Cache != nil {
			return nil // the process ended before the owner started the cache
		}
		return fmt.Errorf("runtime: the watch of Agents and ToolServers did not sync (check RBAC: list and watch agents and toolservers.opsmesh.dev)")
	}
	tick := time.NewTicker(cfg.Resync)
	defer tick.Stop()
	for {
		// Debounce bursts (an apply of many objects) into one pass.
		timer := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		h.sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

func hash(v ...any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// sync brings the pool and the runtime in line with the cluster.
func (h *Host) sync(ctx context.Context) {
	var servers opsv1.ToolServerList
	if err := h.reader.List(ctx, &servers); err != nil {
		h.log.Error("listing ToolServers", "error", err)
		return
	}
	serverHash := map[string]string{}
	for i := range servers.Items {
		ts := &servers.Items[i]
		key := ts.Namespace + "/" + ts.Name
		ep, err := Endpoint(ctx, h.direct, ts, h.cfg.Builtins, h.cfg.ServicePort)
		token := ep.Token
		if err != nil {
			h.log.Error("ToolServer cannot be reached", "toolServer", key, "error", err)
			continue
		}
		hs := hash(ts.Spec, token)
		serverHash[key] = hs
		if h.servers[key] == hs {
			continue
		}
		if err := h.cfg.Pool.Add(ep); err != nil {
			h.log.Error("adding ToolServer", "toolServer", key, "error", err)
			continue
		}
		h.servers[key] = hs
		h.log.Info("ToolServer endpoint", "toolServer", key, "where", ep.String())
	}

	var agents opsv1.AgentList
	if err := h.reader.List(ctx, &agents); err != nil {
		h.log.Error("listing Agents", "error", err)
		return
	}
	seen := map[string]bool{}
	for i := range agents.Items {
		a := &agents.Items[i]
		key := a.Namespace + "/" + a.Name
		seen[key] = true
		var deps []string
		for _, t := range a.Spec.Tools {
			deps = append(deps, serverHash[a.Namespace+"/"+t.ToolServer])
		}
		// A rotated model API key re-hosts the agent with the new key.
		if m := a.Spec.Model; m != nil && m.APIKeySecretRef != nil {
			var sec corev1.Secret
			if err := h.direct.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: m.APIKeySecretRef.Name}, &sec); err == nil {
				deps = append(deps, sec.ResourceVersion)
			}
		}
		hs := hash(a.Spec, deps)
		if h.agents[key] == hs {
			continue
		}
		if err := h.cfg.Runtime.Host(ctx, a); err != nil {
			h.log.Error("cannot host agent", "agent", key, "error", err)
			continue
		}
		h.agents[key] = hs
	}
	var gone []string
	for key := range h.agents {
		if !seen[key] {
			gone = append(gone, key)
		}
	}
	sort.Strings(gone)
	for _, key := range gone {
		ns, name, _ := strings.Cut(key, "/")
		h.cfg.Runtime.Remove(ns, name)
		delete(h.agents, key)
		h.log.Info("agent removed", "agent", key)
	}
}

// DefaultServicePort is the port of the Service the controller makes for a builtin or container
// ToolServer; the MCP endpoint is http://<toolserver>.<namespace>.svc:<port>/mcp.
const DefaultServicePort = 8080

// Endpoint is how a process reaches ts: an in-process server when builtins has ts's builtin
// server, else the Service the controller makes for builtin and container ToolServers (port
// servicePort, 0 for DefaultServicePort; with the token from TokenSecretName when it exists), or a remote one's URL with its bearer token read from
// the Secret spec.remote.bearerTokenSecretRef names. The endpoint's name is namespace/name.
func Endpoint(ctx context.Context, r client.Reader, ts *opsv1.ToolServer, builtins map[opsv1.BuiltinServer]*server.MCPServer, servicePort int) (mcppool.Endpoint, error) {
	if servicePort == 0 {
		servicePort = DefaultServicePort
	}
	ep := mcppool.Endpoint{Name: ts.Namespace + "/" + ts.Name}
	svc := fmt.Sprintf("http://%s.%s.svc:%d/mcp", ts.Name, ts.Namespace, servicePort)
	switch ts.Spec.Type {
	case opsv1.ToolServerBuiltin:
		if ts.Spec.Builtin == nil {
			return ep, fmt.Errorf("ToolServer %s/%s has type builtin but no builtin block", ts.Namespace, ts.Name)
		}
		if s, ok := builtins[ts.Spec.Builtin.Server]; ok {
			if ts.Spec.IsReadOnly() {
				s = ReadOnly(s)
			}
			ep.InProcess = s
			return ep, nil
		}
		ep.URL, ep.Token = svc, serviceToken(ctx, r, ts)
	case opsv1.ToolServerContainer:
		ep.URL, ep.Token = svc, serviceToken(ctx, r, ts)
	case opsv1.ToolServerRemote:
		if ts.Spec.Remote == nil {
			return ep, fmt.Errorf("ToolServer %s/%s has type remote but no remote block", ts.Namespace, ts.Name)
		}
		ep.URL = ts.Spec.Remote.URL
		if ref := ts.Spec.Remote.BearerTokenSecretRef; ref != nil {
			tok, err := secretKey(ctx, r, ts.Namespace, ref.Name, ref.Key)
			if err != nil {
				return ep, fmt.Errorf("ToolServer %s/%s: spec.remote.bearerTokenSecretRef: %w", ts.Namespace, ts.Name, err)
			}
			ep.Token = tok
		}
	default:
		return ep, fmt.Errorf("ToolServer %s/%s has unknown type %q", ts.Namespace, ts.Name, ts.Spec.Type)
	}
	return ep, nil
}

// readOnlyViews caches ReadOnly's view of each server.
var readOnlyViews sync.Map // *server.MCPServer → *server.MCPServer

// ReadOnly is the view of an in-process server that serves only its read-only tools (MCP
// annotation readOnlyHint), with the same handlers: how a builtin ToolServer with
// spec.readOnly (the default) is served in process, as its Deployment runs with --read-only.
func ReadOnly(s *server.MCPServer) *server.MCPServer {
	if v, ok := readOnlyViews.Load(s); ok {
		return v.(*server.MCPServer)
	}
	ro := server.NewMCPServer("opsmesh-read-only", "", server.WithToolCapabilities(false))
	for _, t := range s.ListTools() {
		if h := t.Tool.Annotations.ReadOnlyHint; h != nil && *h {
			ro.AddTool(t.Tool, t.Handler)
		}
	}
	v, _ := readOnlyViews.LoadOrStore(s, ro)
	return v.(*server.MCPServer)
}

// TokenSecretName is the Secret (key "token") in which the controller keeps the bearer token
// that the pods of a builtin or stdio container ToolServer require.
func TokenSecretName(ts *opsv1.ToolServer) string { return ts.Name + "-mcp-token" }

// serviceToken is the token of TokenSecretName, "" when there is none (an HTTP container server
// does its own auth).
func serviceToken(ctx context.Context, r client.Reader, ts *opsv1.ToolServer) string {
	tok, _ := secretKey(ctx, r, ts.Namespace, TokenSecretName(ts), "token")
	return tok
}

// secretKey reads one key of a Secret; the error names the Secret and the keys it has.
func secretKey(ctx context.Context, c client.Reader, ns, name, key string) (string, error) {
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		return "", fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		keys := slices.Sorted(maps.Keys(s.Data))
		return "", fmt.Errorf("Secret %s/%s has no key %q (it has %s)", ns, name, key, strings.Join(keys, ", "))
	}
	return strings.TrimSpace(string(v)), nil
}

// APIKey reads an Agent's model API key from its Secret (spec.model.apiKeySecretRef); "" when
// the Agent names none.
func APIKey(ctx context.Context, c client.Reader, a *opsv1.Agent) (string, error) {
	if a.Spec.Model == nil || a.Spec.Model.APIKeySecretRef == nil {
		return "", nil
	}
	ref := a.Spec.Model.APIKeySecretRef
	key, err := secretKey(ctx, c, a.Namespace, ref.Name, ref.Key)
	if err != nil {
		return "", fmt.Errorf("spec.model.apiKeySecretRef: %w", err)
	}
	return key, nil
}

// BuiltinOptions configure the builtin ToolServers a process serves itself.
type BuiltinOptions struct {
	Version string
	Logger  *slog.Logger
	// GPUView configures the gpu server's cluster view (where the node agents are, their token).
	GPUView gpuview.Config
	// Access is the process's access to the API server for the three servers to share
	// (opsmesh controller --runtime gives kubeaccess.NewSharedWithCache over the controller's
	// cache, so that the builtins and the controller hold one informer per resource). It must
	// serve cfg over every namespace (kubeaccess.Shared.Serves(cfg, nil)). Nil: Builtins makes one
	// (kubeaccess.NewShared), whose cache starts on first use.
	Access *kubeaccess.Shared
}

// Builtins starts opsmesh's builtin ToolServers in this process, on the API server at cfg, until
// ctx ends: the cluster server, the gpu server's cluster view (the node agents run on the GPU
// nodes) and the scheduler server. The map is Config.Builtins.
//
// The three share one kubeaccess.Shared (o.Access, else one made here): one watch cache (one
// informer per resource, started on first use unless its owner starts it), one set of remembered
// access checks and one discovery RESTMapper, since they reach the API server as the same
// identity over the same namespaces. A GPUView configured with other AllowNamespaces does not
// share them (kubeaccess.Shared.Serves) and builds its own.
func Builtins(ctx context.Context, cfg *rest.Config, o BuiltinOptions) (map[opsv1.BuiltinServer]*server.MCPServer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	access := o.Access
	if access == nil {
		var err error
		if access, err = kubeaccess.NewShared(ctx, cfg, nil, o.Logger); err != nil {
			return nil, fmt.Errorf("builtin ToolServers: %w", err)
		}
	} else if !access.Serves(cfg, nil) {
		return nil, fmt.Errorf("builtin ToolServers: the access given (BuiltinOptions.Access) is confined to namespaces %v or has another identity than the config given; the builtins watch every namespace: give one made for this config with no namespaces, or none", access.Allow)
	}
	cs, err := cluster.New(ctx, cfg, cluster.Config{Version: o.Version, Logger: o.Logger, Access: access})
	if err != nil {
		return nil, fmt.Errorf("builtin cluster ToolServer: %w", err)
	}
	if o.GPUView.Logger == nil {
		o.GPUView.Logger = o.Logger
	}
	if o.GPUView.Access == nil {
		o.GPUView.Access = access
	}
	view, err := gpuview.New(ctx, cfg, o.GPUView)
	if err != nil {
		return nil, fmt.Errorf("builtin gpu ToolServer (cluster view): %w", err)
	}
	gs := mcptool.NewServer("opsmesh-gpu", o.Version, "The cluster's GPU view: gpu_inventory, gpu_allocation, gpu_idle, gpu_node_health.")
	mcptool.Register(gs, mcptool.Options{Server: "gpu", Logger: o.Logger}, view.Tools()...)
	ss, err := scheduler.New(ctx, cfg, scheduler.Config{Version: o.Version, Logger: o.Logger, Access: access})
	if err != nil {
		return nil, fmt.Errorf("builtin scheduler ToolServer: %w", err)
	}
	return map[opsv1.BuiltinServer]*server.MCPServer{opsv1.BuiltinCluster: cs.MCP, opsv1.BuiltinGPU: gs, opsv1.BuiltinScheduler: ss.MCP}, nil
}
