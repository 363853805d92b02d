package gpuview

import (
	"context"
	"fmt"

	"log/slog"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kube is the cluster view's access to the Kubernetes API: a watch cache of nodes and pods
// (started on first use, after checking that this identity may list and watch them, since an
// informer for a refused kind never syncs) and a direct client for the node agents' pods, which
// may live outside --allow-namespaces. Client construction, the access check and the cache start
// are package kubeaccess's, shared with the cluster server.
type kube struct {
	*kubeaccess.Client // Config, Scheme, Direct (uncached) and Allow (sorted; empty means all)

	log  *slog.Logger
	life context.Context

	mu    sync.Mutex
	perms map[string]error // "resource/namespace" -> the answer of the access check
	cache cache.Cache
}

func newKube(life context.Context, cfg *rest.Config, allow []string, log *slog.Logger) (*kube, error) {
	access, err := kubeaccess.New(cfg, allow)
	if err != nil {
		return nil, err
	}
	return &kube{Client: access, log: log, life: life}, nil
}

// may checks once that this identity may list and watch resource in ns ("" for the cluster).
func (k *kube) may(ctx context.Context, resource, ns string) error {
	key := resource + "/" + ns
	k.mu.Lock()
	defer k.mu.Unlock()
	if err, ok := k.perms[key]; ok {
		return err
	}
	denied := k.MayListWatch(ctx, schema.GroupResource{Resource: resource}, ns)
	if denied != nil {
		if !apierrors.IsForbidden(denied) {
			return denied // the check itself failed: ask again next time
		}
		denied = fmt.Errorf("RBAC denied: %w; grant it to this server's ServiceAccount", denied)
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
	c, err := k.StartCache(ctx, k.life, k.log)
	if err != nil {
		return nil, err
	}
	k.cache = c
	return c, nil
}

func (k *kube) podScopes() []string {
	if len(k.Allow) > 0 {
		return k.Allow
	}
	return []string{""}
}

// checkNamespace refuses a namespace outside --allow-namespaces.
func (k *kube) checkNamespace(ns string) error {
	if ns == "" || len(k.Allow) == 0 || slices.Contains(k.Allow, ns) {
		return nil
	}
	return fmt.Errorf("namespace %q is outside this server's --allow-namespaces (%s)", ns, strings.Join(k.Allow, ", "))
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
	if err := k.Direct.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing the GPU node agents' pods (selector %s): %w", selector, err)
	}
	return list.Items, nil
}
