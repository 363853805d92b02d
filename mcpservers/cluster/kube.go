package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/redact"
)

// kube is the cluster server's access to the Kubernetes API: an informer cache for reads of
// common kinds (started on first use), a direct client for everything else, kind resolution as
// kubectl does it, the namespace confinement of --allow-namespaces, and the registry of Secret
// values that outputs are scrubbed of.
type kube struct {
	*kubeaccess.Client // Config, Scheme, Direct (uncached) and Allow (sorted; empty means all)

	clientset kubernetes.Interface
	disco     discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper // resolves kinds, plurals and short names from discovery
	secrets   *redact.Values
	log       *slog.Logger

	permMu sync.Mutex
	perms  map[schema.GroupVersionKind]error // mayWatch's answers, per kind

	life       context.Context // the cache lives as long as the server
	cacheOnce  sync.Once
	cache      cache.Cache
	cacheErr   error
	secretOnce sync.Once
}

func newKube(life context.Context, cfg *rest.Config, allow []string, log *slog.Logger) (*kube, error) {
	access, err := kubeaccess.New(cfg, allow)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(access.Config)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(access.Config)
	if err != nil {
		return nil, err
	}
	disco := memory.NewMemCacheClient(dc)
	return &kube{
		Client: access, clientset: cs, disco: disco,
		mapper:  restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(disco), disco, nil),
		secrets: &redact.Values{},
		log:     log,
		life:    life,
	}, nil
}

// cached returns the informer-backed reader for common kinds, starting the cache on first use.
// Informers for each kind start on that kind's first read.
func (k *kube) cached(ctx context.Context) (client.Reader, error) {
	k.cacheOnce.Do(func() { k.cache, k.cacheErr = k.StartCache(ctx, k.life, k.log) })
	if k.cacheErr != nil {
		return nil, k.cacheErr
	}
	return guardedReader{k: k}, nil
}

// guardedReader reads from the watch cache after checking that the server's identity may list
// and watch the kind: an informer for a kind it may not watch never syncs, and the read would
// wait until the caller gave up. Refused kinds fail at once with a Forbidden error.
type guardedReader struct{ k *kube }

func (g guardedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := g.k.mayWatch(ctx, obj); err != nil {
		return err
	}
	return g.k.cache.Get(ctx, key, obj, opts...)
}

func (g guardedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := g.k.mayWatch(ctx, list); err != nil {
		return err
	}
	return g.k.cache.List(ctx, list, opts...)
}

// mayWatch checks, once per kind, that the server may list and watch it where the cache watches
// it: in every allowed namespace when confined, else across the cluster.
func (k *kube) mayWatch(ctx context.Context, obj runtime.Object) error {
	gvk, err := apiutil.GVKForObject(obj, k.Scheme)
	if err != nil {
		return err
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	k.permMu.Lock()
	defer k.permMu.Unlock()
	if err, ok := k.perms[gvk]; ok {
		return err
	}
	mapping, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	gr := mapping.Resource.GroupResource()
	scopes := []string{""}
	if k.confined() && mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		scopes = k.Allow
	}
	var denied error
	for _, ns := range scopes {
		if denied = k.MayListWatch(ctx, gr, ns); denied != nil {
			if !apierrors.IsForbidden(denied) {
				return denied // the check itself failed: ask again next time
			}
			break
		}
	}
	if k.perms == nil {
		k.perms = map[schema.GroupVersionKind]error{}
	}
	k.perms[gvk] = denied
	return denied
}

// scrub removes every known Secret value from text; it is the filter every tool result passes
// through. The first call starts the Secret watch and waits until the existing values are known.
func (k *kube) scrub(ctx context.Context, text string) string {
	if _, err := k.cached(ctx); err == nil {
		k.watchSecrets(ctx)
	}
	return k.secrets.Scrub(text)
}

// watchSecrets feeds every Secret value the server may read into the scrubber, so that a value
// copied elsewhere (a ConfigMap, an env var, a log line) is still removed from output. Without
// RBAC to list Secrets it does nothing; name-based redaction still applies.
func (k *kube) watchSecrets(ctx context.Context) {
	k.secretOnce.Do(func() {
		namespaces := k.Allow
		if len(namespaces) == 0 {
			namespaces = []string{""}
		}
		for _, ns := range namespaces {
			if err := k.MayListWatch(ctx, schema.GroupResource{Resource: "secrets"}, ns); err != nil {
				k.log.Info("not scrubbing Secret values from output: the server may not watch Secrets", "namespace", ns, "error", err)
				return
			}
		}
		inf, err := k.cache.GetInformer(ctx, &corev1.Secret{})
		if err != nil {
			k.log.Error("watching Secrets for scrubbing", "error", err)
			return
		}
		add := func(obj any) {
			if s, ok := obj.(*corev1.Secret); ok {
				for _, v := range s.Data {
					k.secrets.Add(string(v))
				}
				for _, v := range s.StringData {
					k.secrets.Add(v)
				}
			}
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    add,
			UpdateFunc: func(_, obj any) { add(obj) },
		})
		if err != nil {
			k.log.Error("watching Secrets for scrubbing", "error", err)
			return
		}
		// Outputs wait until the Secrets that exist now are registered.
		toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced)
	})
}

// resource is a resolved kind.
type resource struct {
	gvr        schema.GroupVersionResource
	gvk        schema.GroupVersionKind
	namespaced bool
}

// resolve turns what a person types (pod, pods, po, Deployment, deploy, deployments.apps,
// clusterqueues.kueue.x-k8s.io) into a resource, refreshing discovery once for kinds installed
// after start-up.
func (k *kube) resolve(kind string) (resource, error) {
	kind = strings.TrimSpace(kind)
	if kind == "" {
		return resource{}, errors.New("kind is required, such as pods, deployments or nodes")
	}
	r, err := k.resolveOnce(kind)
	if meta.IsNoMatchError(err) {
		k.disco.Invalidate()
		if reset, ok := k.mapper.(meta.ResettableRESTMapper); ok {
			reset.Reset()
		}
		r, err = k.resolveOnce(kind)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return resource{}, fmt.Errorf("unknown kind %q: this cluster serves no such resource; list the kinds it serves with api_resources", kind)
		}
		return resource{}, fmt.Errorf("resolving kind %q: %w", kind, err)
	}
	return r, nil
}

func (k *kube) resolveOnce(kind string) (resource, error) {
	fullySpecified, gr := schema.ParseResourceArg(strings.ToLower(kind))
	var gvr schema.GroupVersionResource
	var err error
	if fullySpecified != nil {
		gvr, err = k.mapper.ResourceFor(*fullySpecified)
	}
	if fullySpecified == nil || err != nil {
		gvr, err = k.mapper.ResourceFor(gr.WithVersion(""))
	}
	if err != nil {
		return resource{}, err
	}
	gvk, err := k.mapper.KindFor(gvr)
	if err != nil {
		return resource{}, err
	}
	mapping, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return resource{}, err
	}
	return resource{gvr: gvr, gvk: gvk, namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

// confined reports whether --allow-namespaces limits the server.
func (k *kube) confined() bool { return len(k.Allow) > 0 }

// checkNamespace refuses a namespace outside --allow-namespaces.
func (k *kube) checkNamespace(ns string) error {
	if !k.confined() || slices.Contains(k.Allow, ns) {
		return nil
	}
	if ns == "" {
		return fmt.Errorf("this server is confined to namespaces %s (--allow-namespaces); name one of them", strings.Join(k.Allow, ", "))
	}
	return fmt.Errorf("namespace %q is outside this server's --allow-namespaces (%s)", ns, strings.Join(k.Allow, ", "))
}

// checkScope refuses cluster-scoped kinds on a confined server, and a namespaced kind without a
// namespace when one is required.
func (k *kube) checkScope(r resource, ns string) error {
	if !r.namespaced {
		if k.confined() {
			return fmt.Errorf("%s is cluster-scoped, and this server is confined to namespaces %s (--allow-namespaces)", r.gvr.Resource, strings.Join(k.Allow, ", "))
		}
		return nil
	}
	if ns == "" {
		return nil // every allowed namespace
	}
	return k.checkNamespace(ns)
}

// namespaces lists the namespaces a request for ns covers: ns itself, or every allowed one
// (nil meaning all, unconfined).
func (k *kube) namespaces(ns string) []string {
	if ns != "" {
		return []string{ns}
	}
	return k.Allow
}

// apiError rewords an API error so that it says what was refused and what to do.
func apiError(err error, verb, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		detail := ""
		if msg := err.Error(); msg != "" && msg != "unknown" {
			detail = " (" + msg + ")"
		}
		return fmt.Errorf("RBAC denied: this server's identity may not %s %s%s; grant that verb on that resource to its ServiceAccount", verb, what, detail)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s not found; check the name and namespace (resources_list lists what exists)", what)
	}
	return fmt.Errorf("%s %s: %w", verb, what, err)
}

// eachCached calls fn with a pointer to every cached object of proto's kind in ns ("" for all),
// without copying: objects come straight from the informer's index and must not be modified.
// Where the cache is not a plain shared informer (a server confined to namespaces), it falls back
// to the cache's List, which copies.
func (k *kube) eachCached(ctx context.Context, proto client.Object, list client.ObjectList, ns string, fn func(obj any)) error {
	if _, err := k.cached(ctx); err != nil {
		return err
	}
	if err := k.mayWatch(ctx, proto); err != nil {
		return err
	}
	return kubeaccess.EachCached(ctx, k.cache, proto, list, ns, fn)
}
