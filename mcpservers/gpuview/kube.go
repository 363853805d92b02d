package gpuview

import (
	"context"
	"fmt"

	"log/slog"
	"slices"
	"strings"

	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kube is the cluster view's access to the Kubernetes API: a watch cache of nodes and pods
// (started on first use, after checking that this identity may list and watch them, since an
// informer for a refused kind never syncs) and a direct client for the node agents' pods, which
// may live outside --allow-namespaces. Client construction, the access check and the cache start
// are package kubeaccess's; the cache and the checks are the process's (Config.Access) when it
// shares them with other servers.
type kube struct {
	*kubeaccess.Shared // Config, Scheme, Direct (uncached), Allow; the checked watch cache
}

// newKube uses shared when it serves cfg's identity and allow (kubeaccess.Shared.Serves), else
// builds the view's own access, whose cache runs until life ends.
func newKube(life context.Context, cfg *rest.Config, allow []string, shared *kubeaccess.Shared, log *slog.Logger) (*kube, error) {
	access, err := kubeaccess.Or(life, shared, cfg, allow, log)
	if err != nil {
		return nil, err
	}
	return &kube{Shared: access}, nil
}

// reader returns the watch cache after checking access to nodes and pods; the first call starts it.
func (k *kube) reader(ctx context.Context) (client.Reader, error) {
	if err := k.Allowed(ctx, schema.GroupResource{Resource: "nodes"}, ""); err != nil {
		return nil, err
	}
	for _, ns := range k.Scopes() {
		if err := k.Allowed(ctx, schema.GroupResource{Resource: "pods"}, ns); err != nil {
			return nil, err
		}
	}
	return k.Cache(ctx)
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
