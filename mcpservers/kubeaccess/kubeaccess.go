// Package kubeaccess is how opsmesh's MCP servers reach the Kubernetes API: a client built from a
// rest.Config, the check that the server's identity may list and watch a resource before a watch
// cache reads it (an informer on a forbidden resource never syncs, so the read would wait until
// the caller gave up), and a watch cache confined to the allowed namespaces, with the remembered
// access checks in front of it (Watch). It holds no tool logic.
package kubeaccess

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
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

// StartCache starts a watch cache confined to Allow, running until life ends, and waits (at most
// as long as ctx) until it runs: reads before that fail with "the cache is not started".
// Informers for each kind start on that kind's first read.
func (c *Client) StartCache(ctx, life context.Context, log *slog.Logger) (cache.Cache, error) {
	opts := cache.Options{Scheme: c.Scheme}
	if len(c.Allow) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range c.Allow {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	wc, err := cache.New(c.Config, opts)
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

// Watch is one server's watch cache and the access checks in front of it: each resource and
// namespace is checked once (a refusal is remembered, a failed check is asked again), and the
// cache starts on first use and runs until life ends.
type Watch struct {
	*Client
	life context.Context
	log  *slog.Logger

	mu    sync.Mutex
	perms map[string]error // "group/resource/namespace" -> the access check's answer
	cache cache.Cache
}

// NewWatch returns the watch of a server that runs until life ends.
func (c *Client) NewWatch(life context.Context, log *slog.Logger) *Watch {
	return &Watch{Client: c, life: life, log: log}
}

// Scopes lists where a namespaced kind is watched: every allowed namespace, or the cluster ("").
func (w *Watch) Scopes() []string {
	if len(w.Allow) > 0 {
		return w.Allow
	}
	return []string{""}
}

// Allowed checks once that this identity may list and watch gr in ns ("" for the cluster); a
// refusal says what to grant.
func (w *Watch) Allowed(ctx context.Context, gr schema.GroupResource, ns string) error {
	key := gr.String() + "/" + ns
	w.mu.Lock()
	defer w.mu.Unlock()
	if err, ok := w.perms[key]; ok {
		return err
	}
	denied := w.MayListWatch(ctx, gr, ns)
	if denied != nil {
		if !apierrors.IsForbidden(denied) {
			return denied // the check itself failed: ask again next time
		}
		denied = fmt.Errorf("RBAC denied: %w; grant it to this server's ServiceAccount", denied)
	}
	if w.perms == nil {
		w.perms = map[string]error{}
	}
	w.perms[key] = denied
	return denied
}

// Cache returns the watch cache, starting it on the first call (and again after a failed start).
// Check access with Allowed first: an informer on a forbidden resource never syncs.
func (w *Watch) Cache(ctx context.Context) (cache.Cache, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cache != nil {
		return w.cache, nil
	}
	c, err := w.StartCache(ctx, w.life, w.log)
	if err != nil {
		return nil, err
	}
	w.cache = c
	return c, nil
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
