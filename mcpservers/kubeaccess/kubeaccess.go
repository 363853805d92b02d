// Package kubeaccess is how opsmesh's MCP servers reach the Kubernetes API: a client built from a
// rest.Config, the check that the server's identity may list and watch a resource before a watch
// cache reads it (an informer on a forbidden resource never syncs, so the read would wait until
// the caller gave up), and a watch cache confined to the allowed namespaces, with the remembered
// access checks in front of it, and kind resolution as kubectl does it: all of it one per process
// and identity (Shared), whichever servers the process runs. It holds no tool logic.
package kubeaccess

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	toolscache "k8s.io/client-go/tools/cache"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Client reaches one API server.
type Client struct {
	// Config is a copy of the configuration given, with client-side rate limits set.
	Config *rest.Config
	// Scheme holds the built-in kinds.
	Scheme *runtime.Scheme
	// Direct is an uncached client.
	Direct client.Client
	// Allow is the namespaces the server is confined to, sorted and unique; empty means all.
	Allow []string
}

// New builds a client for the API server at cfg, confined to allow (empty: every namespace).
func New(cfg *rest.Config, allow []string) (*Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the Kubernetes API at %s: %w", cfg.Host, err)
	}
	allow = slices.Clone(allow)
	slices.Sort(allow)
	return &Client{Config: cfg, Scheme: scheme, Direct: direct, Allow: slices.Compact(allow)}, nil
}

// MayListWatch asks the API server (SelfSubjectAccessReview) whether this identity may list and
// watch gr in namespace ns ("" for the whole cluster). When it may not, it returns a Forbidden
// error naming the verb and the scope; an error reaching the API server is returned as is.
func (c *Client) MayListWatch(ctx context.Context, gr schema.GroupResource, ns string) error {
	for _, verb := range []string{"list", "watch"} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: gr.Group, Resource: gr.Resource, Namespace: ns},
		}}
		if err := c.Direct.Create(ctx, review); err != nil {
			return fmt.Errorf("checking whether this server may %s %s: %w", verb, gr, err)
		}
		if !review.Status.Allowed {
			where := "across the cluster"
			if ns != "" {
				where = "in namespace " + ns
			}
			return apierrors.NewForbidden(gr, "", fmt.Errorf("the watch cache needs %s on it %s", verb, where))
		}
	}
	return nil
}

// CacheOptions are a watch cache's options for scheme, confined to namespaces (empty: every
// namespace).
func CacheOptions(scheme *runtime.Scheme, namespaces []string) cache.Options {
	opts := cache.Options{Scheme: scheme}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// StartCache starts a watch cache confined to Allow, running until life ends, and waits (at most
// as long as ctx) until it runs: reads before that fail with "the cache is not started".
// Informers for each kind start on that kind's first read.
func (c *Client) StartCache(ctx, life context.Context, log *slog.Logger) (cache.Cache, error) {
	wc, err := cache.New(c.Config, CacheOptions(c.Scheme, c.Allow))
	if err != nil {
		return nil, fmt.Errorf("starting the watch cache: %w", err)
	}
	go func() {
		if err := wc.Start(life); err != nil {
			log.Error("watch cache stopped", "error", err)
		}
	}()
	if !wc.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("starting the watch cache: %w", context.Cause(ctx))
	}
	return wc, nil
}

// Shared is one process's access to one API server as one identity, confined to one set of
// namespaces: the Client, one watch cache (started on first use, running until life ends), the
// remembered access checks in front of it (each resource and namespace is checked once; a refusal
// is remembered, a failed check is asked again), and one discovery RESTMapper that resolves kinds
// as kubectl does (ResolveKind).
//
// Every MCP server of a process that reaches the API server with the same identity and the same
// allowed namespaces should share one, so that the process holds one informer per resource
// (agents/kubehost builds one for the builtin servers). A server with another identity or other
// --allow-namespaces must not share it: the cache is confined to this Shared's namespaces, and an
// access check answers for one identity only. Serves says whether a server may; a server that
// may not builds its own (NewShared).
//
// A process that already runs a watch cache over the same API server, identity and namespaces
// (opsmesh controller --runtime: the controller's manager) hands it over with NewSharedWithCache,
// so that the manager, the agent host and the builtin servers hold one informer per resource.
type Shared struct {
	*Client
	life     context.Context
	log      *slog.Logger
	identity string // of the rest.Config it was made from; see Serves

	// Disco is discovery, cached in memory; Invalidate it to notice kinds installed since.
	Disco discovery.CachedDiscoveryInterface
	// Mapper resolves kinds, plurals and short names (deploy, pvc, every CRD's short names) from
	// Disco; reset it (meta.ResettableRESTMapper) with Disco after a miss.
	Mapper meta.RESTMapper

	permMu sync.Mutex
	perms  map[string]error // "group/resource/namespace" -> the access check's answer

	cacheMu sync.Mutex
	cache   cache.Cache
	owned   bool // the cache is its owner's (NewSharedWithCache): Cache waits for it, never starts it
	// ownerStarted: an owned cache has been seen started and synced.
	ownerStarted bool
}

// NewShared builds the access of a process to the API server at cfg, confined to allow (empty:
// every namespace), whose watch cache runs until life ends and logs to log.
func NewShared(life context.Context, cfg *rest.Config, allow []string, log *slog.Logger) (*Shared, error) {
	c, err := New(cfg, allow)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("discovering the kinds of the Kubernetes API at %s: %w", c.Config.Host, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	disco := memory.NewMemCacheClient(dc)
	return &Shared{
		Client: c, life: life, log: log, identity: identity(cfg),
		Disco:  disco,
		Mapper: restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(disco), disco, nil),
	}, nil
}

// NewSharedWithCache is NewShared over c, a watch cache that its owner starts and stops (the
// controller's manager starts its cache with the manager, whether or not it leads). Shared never
// starts c; Cache waits until its owner has. The access checks stay in front of reads as with
// NewShared's own cache.
//
// Sharing is sound only when c reaches the API server at cfg as the same identity, is confined to
// exactly allow (empty: every namespace: a cache confined to fewer namespaces would answer "not
// found" for objects elsewhere) and knows the built-in kinds (client-go's scheme) besides its
// owner's: the caller vouches for that, since a cache cannot say what it watches.
func NewSharedWithCache(cfg *rest.Config, allow []string, c cache.Cache, log *slog.Logger) (*Shared, error) {
	if c == nil {
		return nil, errors.New("sharing a watch cache: no cache given; use NewShared to start one")
	}
	s, err := NewShared(context.Background(), cfg, allow, log)
	if err != nil {
		return nil, err
	}
	s.cache, s.owned = c, true
	return s, nil
}

// Or returns shared when it serves cfg's identity and allow (Serves), else a new Shared of the
// server's own, whose cache runs until life ends; it logs why a server given a Shared does not use
// it.
func Or(life context.Context, shared *Shared, cfg *rest.Config, allow []string, log *slog.Logger) (*Shared, error) {
	if shared.Serves(cfg, allow) {
		return shared, nil
	}
	if shared != nil && log != nil {
		log.Info("not sharing the process's watch cache: this server has another identity or other --allow-namespaces", "allowNamespaces", allow)
	}
	return NewShared(life, cfg, allow, log)
}

// Serves reports whether a server that reaches the API server with cfg, confined to allow, may
// share s: the same API server and identity (user, token, client certificate, impersonation,
// auth plugins) and the same allowed namespaces, in any order.
func (s *Shared) Serves(cfg *rest.Config, allow []string) bool {
	if s == nil || cfg == nil {
		return false
	}
	allow = slices.Clone(allow)
	slices.Sort(allow)
	return slices.Equal(slices.Compact(allow), s.Allow) && identity(cfg) == s.identity
}

// identity digests what in cfg decides which API server is reached and as whom.
func identity(cfg *rest.Config) string {
	type auth struct {
		Host, APIPath             string
		Username, Password, Token string
		TokenFile                 string
		Impersonate               rest.ImpersonationConfig
		CertFile, KeyFile, CAFile string
		CertData, KeyData, CAData []byte
		ServerName                string
		AuthProvider              string // its name: its Config holds tokens it refreshes
		ExecProvider              *clientcmdapi.ExecConfig
	}
	exec := cfg.ExecProvider
	if exec != nil {
		exec = exec.DeepCopy()
		exec.Config = nil // runtime.Object, not part of who runs
	}
	a := auth{
		Host: cfg.Host, APIPath: cfg.APIPath,
		Username: cfg.Username, Password: cfg.Password, Token: cfg.BearerToken, TokenFile: cfg.BearerTokenFile,
		Impersonate: cfg.Impersonate,
		CertFile:    cfg.CertFile, KeyFile: cfg.KeyFile, CAFile: cfg.CAFile,
		CertData: cfg.CertData, KeyData: cfg.KeyData, CAData: cfg.CAData, ServerName: cfg.ServerName,
		ExecProvider: exec,
	}
	if cfg.AuthProvider != nil {
		a.AuthProvider = cfg.AuthProvider.Name
	}
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Sprintf("unshareable %p", cfg) // matches only itself
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Scopes lists where a namespaced kind is watched: every allowed namespace, or the cluster ("").
func (s *Shared) Scopes() []string {
	if len(s.Allow) > 0 {
		return s.Allow
	}
	return []string{""}
}

// Checked checks once that this identity may list and watch gr in ns ("" for the cluster) and
// returns the answer as MayListWatch gives it: nil, a Forbidden error naming the verb and scope,
// or (not remembered, so asked again next time) the error of the check itself.
func (s *Shared) Checked(ctx context.Context, gr schema.GroupResource, ns string) error {
	key := gr.String() + "/" + ns
	s.permMu.Lock()
	defer s.permMu.Unlock()
	if err, ok := s.perms[key]; ok {
		return err
	}
	denied := s.MayListWatch(ctx, gr, ns)
	if denied != nil && !apierrors.IsForbidden(denied) {
		return denied // the check itself failed: ask again next time
	}
	if s.perms == nil {
		s.perms = map[string]error{}
	}
	s.perms[key] = denied
	return denied
}

// Allowed is Checked, with a refusal that says what to grant.
func (s *Shared) Allowed(ctx context.Context, gr schema.GroupResource, ns string) error {
	err := s.Checked(ctx, gr, ns)
	if err != nil && apierrors.IsForbidden(err) {
		return fmt.Errorf("RBAC denied: %w; grant it to this server's ServiceAccount", err)
	}
	return err
}

// Cache returns the watch cache, starting it on the first call (and again after a failed start);
// a cache given to NewSharedWithCache is waited for (at most as long as ctx) until its owner has
// started it and its informers have synced. Check access with Allowed first: an informer on a
// forbidden resource never syncs.
func (s *Shared) Cache(ctx context.Context) (cache.Cache, error) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.owned {
		if !s.ownerStarted {
			if !s.cache.WaitForCacheSync(ctx) {
				return nil, fmt.Errorf("the process's watch cache has not started (its owner, the controller's manager, starts it): %w", context.Cause(ctx))
			}
			s.ownerStarted = true
		}
		return s.cache, nil
	}
	if s.cache != nil {
		return s.cache, nil
	}
	c, err := s.StartCache(ctx, s.life, s.log)
	if err != nil {
		return nil, err
	}
	s.cache = c
	return c, nil
}

// ResolveKind turns what a person types (pod, pods, po, Deployment, deploy, pvc,
// deployments.apps, clusterqueues.kueue.x-k8s.io, a CRD's short name) into its kind, its
// resource and whether it is namespaced, as kubectl does. A miss refreshes discovery once, so
// that kinds installed after start-up are found. An unknown kind's error says so and where to
// look (meta.IsNoMatchError holds for it).
func (s *Shared) ResolveKind(ctx context.Context, kind string) (schema.GroupVersionKind, schema.GroupVersionResource, bool, error) {
	kind = strings.TrimSpace(kind)
	if kind == "" {
		return schema.GroupVersionKind{}, schema.GroupVersionResource{}, false, errors.New("no kind given; name one, such as pods, deploy or nodes (kubectl api-resources lists them)")
	}
	if err := ctx.Err(); err != nil {
		return schema.GroupVersionKind{}, schema.GroupVersionResource{}, false, err
	}
	gvk, gvr, namespaced, err := s.resolveOnce(kind)
	if meta.IsNoMatchError(err) {
		s.Disco.Invalidate()
		if reset, ok := s.Mapper.(meta.ResettableRESTMapper); ok {
			reset.Reset()
		}
		gvk, gvr, namespaced, err = s.resolveOnce(kind)
	}
	switch {
	case meta.IsNoMatchError(err):
		return gvk, gvr, false, fmt.Errorf("no kind %q on this cluster; kubectl api-resources lists them: %w", kind, err)
	case err != nil:
		return gvk, gvr, false, fmt.Errorf("resolving kind %q: %w", kind, err)
	}
	return gvk, gvr, namespaced, nil
}

func (s *Shared) resolveOnce(kind string) (schema.GroupVersionKind, schema.GroupVersionResource, bool, error) {
	fullySpecified, gr := schema.ParseResourceArg(strings.ToLower(kind))
	var gvr schema.GroupVersionResource
	var err error
	if fullySpecified != nil {
		gvr, err = s.Mapper.ResourceFor(*fullySpecified)
	}
	if fullySpecified == nil || err != nil {
		gvr, err = s.Mapper.ResourceFor(gr.WithVersion(""))
	}
	if err != nil {
		return schema.GroupVersionKind{}, schema.GroupVersionResource{}, false, err
	}
	gvk, err := s.Mapper.KindFor(gvr)
	if err != nil {
		return schema.GroupVersionKind{}, gvr, false, err
	}
	mapping, err := s.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return gvk, gvr, false, err
	}
	return gvk, gvr, mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// EachCached calls fn with a pointer to every cached object of proto's kind in ns ("" for all),
// without copying: objects come straight from the informer's index and must not be modified.
// Where the cache is not a plain shared informer (a cache confined to namespaces), it falls back
// to the cache's List, which copies.
func EachCached(ctx context.Context, c cache.Cache, proto client.Object, list client.ObjectList, ns string, fn func(obj any)) error {
	inf, err := c.GetInformer(ctx, proto)
	if err != nil {
		return err
	}
	if sii, ok := inf.(toolscache.SharedIndexInformer); ok {
		if !sii.HasSynced() && !toolscache.WaitForCacheSync(ctx.Done(), sii.HasSynced) {
			return context.Cause(ctx)
		}
		var objs []any
		if ns == "" {
			objs = sii.GetStore().List()
		} else if objs, err = sii.GetIndexer().ByIndex(toolscache.NamespaceIndex, ns); err != nil {
			return err
		}
		for _, o := range objs {
			fn(o)
		}
		return nil
	}
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return err
	}
	return meta.EachListItem(list, func(o runtime.Object) error {
		fn(o)
		return nil
	})
}
