package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

// kube is the scheduler server's access to the Kubernetes API: a watch cache of the kinds every
// answer needs (nodes, pods, events, PVCs, PVs, StorageClasses), started on first use after
// checking that this identity may list and watch each (an informer on a refused kind never
// syncs), and a dynamic client for Kueue's and Volcano's kinds, whose served versions are found by
// discovery on each call so that installing either is noticed without a restart. Client
// construction, the access check and the cache start are package kubeaccess's; the cache and the
// checks are the process's (Config.Access) when it shares them with other servers.
type kube struct {
	*kubeaccess.Shared // Config, Scheme, Direct (uncached), Allow; the checked watch cache

	dyn   dynamic.Interface
	disco discovery.DiscoveryInterface

	// reqs remembers each cached pod's requests by UID and resourceVersion, so that summing what
	// 20,000 pods hold on their nodes does not recompute (and allocate) them on every call.
	reqMu sync.Mutex
	reqs  map[types.UID]podReq
}

type podReq struct {
	rv  string
	req resList // shared: never modify
}

// newKube uses shared when it serves cfg's identity and allow (kubeaccess.Shared.Serves), else
// builds the server's own access, whose cache runs until life ends.
func newKube(life context.Context, cfg *rest.Config, allow []string, shared *kubeaccess.Shared, log *slog.Logger) (*kube, error) {
	access, err := kubeaccess.Or(life, shared, cfg, allow, log)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(access.Config)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(access.Config)
	if err != nil {
		return nil, err
	}
	return &kube{Shared: access, dyn: dyn, disco: dc}, nil
}

// cached returns the watch cache after checking access to the namespaced resource (or the
// cluster-scoped one, when clusterScoped); the first call starts it.
func (k *kube) cached(ctx context.Context, gr schema.GroupResource, clusterScoped bool) (cache.Cache, error) {
	scopes := k.Scopes()
	if clusterScoped {
		scopes = []string{""}
	}
	for _, ns := range scopes {
		if err := k.Allowed(ctx, gr, ns); err != nil {
			return nil, err
		}
	}
	return k.Cache(ctx)
}

var (
	grNodes          = schema.GroupResource{Resource: "nodes"}
	grPods           = schema.GroupResource{Resource: "pods"}
	grEvents         = schema.GroupResource{Resource: "events"}
	grPVCs           = schema.GroupResource{Resource: "persistentvolumeclaims"}
	grPVs            = schema.GroupResource{Resource: "persistentvolumes"}
	grStorageClasses = schema.GroupResource{Group: "storage.k8s.io", Resource: "storageclasses"}
)

// each calls fn with every cached object of proto's kind in ns ("" for all), without copying:
// objects come straight from the informer's store and must not be modified. Where the cache is
// not one shared informer (a server confined to namespaces), it falls back to the cache's List.
func (k *kube) each(ctx context.Context, gr schema.GroupResource, clusterScoped bool, proto client.Object, list client.ObjectList, ns string, fn func(obj any)) error {
	c, err := k.cached(ctx, gr, clusterScoped)
	if err != nil {
		return err
	}
	if err := kubeaccess.EachCached(ctx, c, proto, list, ns, fn); err != nil {
		return fmt.Errorf("watching %s: %w", gr, err)
	}
	return nil
}

// nodes returns every node, sorted by name (shared with the cache: do not modify).
func (k *kube) nodes(ctx context.Context) ([]*corev1.Node, error) {
	var out []*corev1.Node
	err := k.each(ctx, grNodes, true, &corev1.Node{}, &corev1.NodeList{}, "", func(o any) {
		out = append(out, o.(*corev1.Node))
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// eachPodRequests calls fn with every pod in the cache and what it requests (the list is
// shared between calls and must not be modified), remembering requests across calls.
func (k *kube) eachPodRequests(ctx context.Context, fn func(p *corev1.Pod, req resList)) error {
	k.reqMu.Lock()
	defer k.reqMu.Unlock()
	if k.reqs == nil {
		k.reqs = map[types.UID]podReq{}
	}
	seen := 0
	err := k.pods(ctx, "", func(p *corev1.Pod) {
		seen++
		r, ok := k.reqs[p.UID]
		if !ok || r.rv != p.ResourceVersion {
			r = podReq{rv: p.ResourceVersion, req: podRequests(&p.Spec)}
			k.reqs[p.UID] = r
		}
		fn(p, r.req)
	})
	if len(k.reqs) > 2*seen+1024 { // forget deleted pods now and then
		k.reqs = nil
	}
	return err
}

// pods calls fn with every pod in ns ("" for every allowed namespace), uncopied.
func (k *kube) pods(ctx context.Context, ns string, fn func(p *corev1.Pod)) error {
	return k.each(ctx, grPods, false, &corev1.Pod{}, &corev1.PodList{}, ns, func(o any) { fn(o.(*corev1.Pod)) })
}

// pod reads one pod from the cache.
func (k *kube) pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	c, err := k.cached(ctx, grPods, false)
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		return nil, apiError(err, "get", "pod "+ns+"/"+name)
	}
	return &p, nil
}

// events lists the events about the object of kind and name in ns, from the cache.
func (k *kube) events(ctx context.Context, ns, kind, name string) ([]*corev1.Event, error) {
	var out []*corev1.Event
	err := k.each(ctx, grEvents, false, &corev1.Event{}, &corev1.EventList{}, ns, func(o any) {
		e := o.(*corev1.Event)
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	})
	return out, err
}

// pvc reads a PersistentVolumeClaim; nil when it does not exist.
func (k *kube) pvc(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	c, err := k.cached(ctx, grPVCs, false)
	if err != nil {
		return nil, err
	}
	var pvc corev1.PersistentVolumeClaim
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, apiError(err, "get", "persistentvolumeclaim "+ns+"/"+name)
	}
	return &pvc, nil
}

// pv reads a PersistentVolume; nil when it does not exist or may not be read.
func (k *kube) pv(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	c, err := k.cached(ctx, grPVs, true)
	if err != nil {
		return nil, err
	}
	var pv corev1.PersistentVolume
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &pv); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, apiError(err, "get", "persistentvolume "+name)
	}
	return &pv, nil
}

// pvs lists the PersistentVolumes, sorted by name (shared with the cache: do not modify).
func (k *kube) pvs(ctx context.Context) ([]*corev1.PersistentVolume, error) {
	var out []*corev1.PersistentVolume
	err := k.each(ctx, grPVs, true, &corev1.PersistentVolume{}, &corev1.PersistentVolumeList{}, "", func(o any) {
		out = append(out, o.(*corev1.PersistentVolume))
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *corev1.PersistentVolume) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// storageClasses lists the StorageClasses, sorted by name.
func (k *kube) storageClasses(ctx context.Context) ([]storagev1.StorageClass, error) {
	c, err := k.cached(ctx, grStorageClasses, true)
	if err != nil {
		return nil, err
	}
	var list storagev1.StorageClassList
	if err := c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing storageclasses: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b storagev1.StorageClass) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

// checkNamespace refuses a namespace outside --allow-namespaces.
func (k *kube) checkNamespace(ns string) error {
	if len(k.Allow) == 0 || slices.Contains(k.Allow, ns) {
		return nil
	}
	if ns == "" {
		return fmt.Errorf("this server is confined to namespaces %s (--allow-namespaces); name one of them", strings.Join(k.Allow, ", "))
	}
	return fmt.Errorf("namespace %q is outside this server's --allow-namespaces (%s)", ns, strings.Join(k.Allow, ", "))
}

// served returns the version of group that serves resource, preferring the versions in order
// and else any version discovery lists; "" when the group or the resource is not served (its
// CRDs are not installed).
func (k *kube) served(group, resource string, prefer ...string) (string, error) {
	groups, err := k.disco.ServerGroups()
	if err != nil {
		return "", fmt.Errorf("discovering the API groups: %w", err)
	}
	var versions []string
	for _, g := range groups.Groups {
		if g.Name == group {
			for _, v := range g.Versions {
				versions = append(versions, v.Version)
			}
			if pv := g.PreferredVersion.Version; pv != "" {
				prefer = append(prefer, pv)
			}
		}
	}
	if len(versions) == 0 {
		return "", nil
	}
	order := append(slices.Clone(prefer), versions...)
	for _, v := range order {
		if !slices.Contains(versions, v) {
			continue
		}
		res, err := k.disco.ServerResourcesForGroupVersion(group + "/" + v)
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return "", fmt.Errorf("discovering %s/%s: %w", group, v, err)
		}
		for _, r := range res.APIResources {
			if r.Name == resource {
				return v, nil
			}
		}
	}
	return "", nil
}

// dynGet reads one object of group/resource at version through the dynamic client; nil when it
// does not exist.
func (k *kube) dynGet(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	var ri dynamic.ResourceInterface = k.dyn.Resource(gvr)
	if ns != "" {
		ri = k.dyn.Resource(gvr).Namespace(ns)
	}
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, apiError(err, "get", gvr.Resource+" "+joinName(ns, name))
	}
	return u, nil
}

// dynList lists group/resource at version in ns ("" for all namespaces the server may see).
func (k *kube) dynList(ctx context.Context, gvr schema.GroupVersionResource, ns string, namespaced bool) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	scopes := []string{ns}
	if namespaced && ns == "" {
		scopes = k.Scopes()
	}
	if !namespaced {
		scopes = []string{""}
	}
	for _, s := range scopes {
		var ri dynamic.ResourceInterface = k.dyn.Resource(gvr)
		if s != "" {
			ri = k.dyn.Resource(gvr).Namespace(s)
		}
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			where := gvr.Resource
			if s != "" {
				where += " in namespace " + s
			}
			return nil, apiError(err, "list", where)
		}
		out = append(out, list.Items...)
	}
	slices.SortFunc(out, func(a, b unstructured.Unstructured) int {
		return strings.Compare(joinName(a.GetNamespace(), a.GetName()), joinName(b.GetNamespace(), b.GetName()))
	})
	return out, nil
}

func joinName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// apiError rewords an API error so that it says what was refused and what to do.
func apiError(err error, verb, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		return fmt.Errorf("RBAC denied: this server's identity may not %s %s (%v); grant that verb on that resource to its ServiceAccount", verb, what, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s not found; check the name and namespace", what)
	}
	return fmt.Errorf("%s %s: %w", verb, what, err)
}
