package gpuview

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kube is the cluster view's access to the Kubernetes API: a watch cache of nodes and pods
// (started on first use, after checking that this identity may list and watch them, since an
// informer for a refused kind never syncs) and a direct client for the node agents' pods, which
// may live outside --allow-namespaces. It is the cluster server's access pattern, cut to what
// these tools read.
type kube struct {
	cfg    *rest.Config
	scheme *runtime.Scheme
	direct client.Client
	allow  []string // sorted; empty means every namespace
	log    *slog.Logger
	life   context.Context

	mu    sync.Mutex
	perms map[string]error // "resource/namespace" -> the answer of the access check
	cache cache.Cache
}

func newKube(life context.Context, cfg *rest.Config, allow []string, log *slog.Logger) (*kube, error) {
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
	return &kube{cfg: cfg, scheme: scheme, direct: direct, allow: slices.Compact(allow), log: log, life: life}, nil
}

// may checks once that this identity may list and watch resource in ns ("" for the cluster).
func (k *kube) may(ctx context.Context, resource, ns string) error {
	key := resource + "/" + ns
	k.mu.Lock()
	defer k.mu.Unlock()
	if err, ok := k.perms[key]; ok {
		return err
	}
	var denied error
	for _, verb := range []string{"list", "watch"} {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: resource, Namespace: ns},
		}}
		if err := k.direct.Create(ctx, review); err != nil {
			return fmt.Errorf("checking whether this server may %s %s: %w", verb, resource, err)
		}
		if !review.Status.Allowed && denied == nil {
			where := "across the cluster"
			if ns != "" {
				where = "in namespace " + ns
			}
			denied = fmt.Errorf("RBAC denied: this server's identity may not %s %s %s; grant it to its ServiceAccount", verb, resource, where)
		}
	}
	if k.perms == nil {
		k.perms = map[string]error{}
	}
	k.perms[key] = denied
	return denied
}

// reader returns the watch cache after checking access to nodes and pods; the first call starts it.
func (k *kube) reader(ctx context.Context) (client.Reader, error) {
	if err := k.may(ctx, "nodes", ""); err != nil {
		return nil, err
	}
	for _, ns := range k.podScopes() {
		if err := k.may(ctx, "pods", ns); err != nil {
			return nil, err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cache != nil {
		return k.cache, nil
	}
	opts := cache.Options{Scheme: k.scheme}
	if len(k.allow) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range k.allow {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(k.cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("starting the watch cache: %w", err)
	}
	go func() {
		if err := c.Start(k.life); err != nil {
			k.log.Error("watch cache stopped", "error", err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("starting the watch cache: %w", context.Cause(ctx))
	}
	k.cache = c
	return c, nil
}

func (k *kube) podScopes() []string {
	if len(k.allow) > 0 {
		return k.allow
	}
	return []string{""}
}

// checkNamespace refuses a namespace outside --allow-namespaces.
func (k *kube) checkNamespace(ns string) error {
	if ns == "" || len(k.allow) == 0 || slices.Contains(k.allow, ns) {
		return nil
	}
	return fmt.Errorf("namespace %q is outside this server's --allow-namespaces (%s)", ns, strings.Join(k.allow, ", "))
}

// nodes lists every node.
func (k *kube) nodes(ctx context.Context) ([]corev1.Node, error) {
	r, err := k.reader(ctx)
	if err != nil {
		return nil, err
	}
	var list corev1.NodeList
	if err := r.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

// pods lists the pods in ns ("" for every allowed namespace).
func (k *kube) pods(ctx context.Context, ns string) ([]corev1.Pod, error) {
	r, err := k.reader(ctx)
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := r.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return list.Items, nil
}

// agentPods lists the node agents' pods straight from the API (they may run outside the
// namespaces the cache watches).
func (k *kube) agentPods(ctx context.Context, selector, ns string) ([]corev1.Pod, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("node-agent selector %q: %w", selector, err)
	}
	var list corev1.PodList
	opts := []client.ListOption{client.MatchingLabelsSelector{Selector: sel}}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := k.direct.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing the GPU node agents' pods (selector %s): %w", selector, err)
	}
	return list.Items, nil
}
