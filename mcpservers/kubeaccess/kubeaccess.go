// Package kubeaccess is how opsmesh's MCP servers reach the Kubernetes API: a client built from a
// rest.Config, the check that the server's identity may list and watch a resource before a watch
// cache reads it (an informer on a forbidden resource never syncs, so the read would wait until
// the caller gave up), and a watch cache confined to the allowed namespaces. It holds no tool
// logic and no per-server state beyond the client.
package kubeaccess

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
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
