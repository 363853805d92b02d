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
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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
// values that outputs are scrubbed of. The cache, the access checks in front of it and the kind
// resolution are the process's (Config.Access) when it shares them with other servers.
type kube struct {
	*kubeaccess.Shared // Config, Scheme, Direct (uncached), Allow; the checked cache; ResolveKind

	clientset kubernetes.Interface
	disco     discovery.CachedDiscoveryInterface // the Shared's
	mapper    meta.RESTMapper                    // the Shared's: kinds, plurals and short names
	secrets   *redact.Values
	log       *slog.Logger

	scopeMu sync.Mutex
	scopes  map[schema.GroupVersionKind]watched // what mayWatch checks, per kind

	secretOnce sync.Once
}

// newKube uses shared when it serves cfg's identity and allow (kubeaccess.Shared.Serves), else
// builds the server's own access, whose cache runs until life ends.
func newKube(life context.Context, cfg *rest.Config, allow []string, shared *kubeaccess.Shared, log *slog.Logger) (*kube, error) {
	access, err := kubeaccess.Or(life, shared, cfg, allow, log)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(access.Config)
	if err != nil {
		return nil, err
	}
	return &kube{
		Shared: access, clientset: cs, disco: access.Disco, mapper: access.Mapper,
		secrets: &redact.Values{},
		log:     log,
	}, nil
}

// cached returns the informer-backed reader for common kinds, starting the cache on first use.
// Informers for each kind start on that kind's first read.
func (k *kube) cached(ctx context.Context) (client.Reader, error) {
	c, err := k.Cache(ctx)
	if err != nil {
		return nil, err
	}
	return guardedReader{k: k, c: c}, nil
}

// guardedReader reads from the watch cache after checking that the server's identity may list
// and watch the kind: an informer for a kind it may not watch never syncs, and the read would
// wait until the caller gave up. Refused kinds fail at once with a Forbidden error.
type guardedReader struct {
	k *kube
	c cache.Cache
}

func (g guardedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := g.k.mayWatch(ctx, obj); err != nil {
		return err
	}
	return g.c.Get(ctx, key, obj, opts...)
}

func (g guardedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := g.k.mayWatch(ctx, list); err != nil {
		return err
	}
	return g.c.List(ctx, list, opts...)
}

// mayWatch checks that the server may list and watch obj's kind where the cache watches it: in
// every allowed namespace when confined, else across the cluster. The answers are remembered
// (kubeaccess.Shared.Checked), a refusal as the Forbidden error the API server's review gave.
func (k *kube) mayWatch(ctx context.Context, obj runtime.Object) error {
	gvk, err := apiutil.GVKForObject(obj, k.Scheme)
	if err != nil {
		return err
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	k.scopeMu.Lock()
	w, known := k.scopes[gvk]
	k.scopeMu.Unlock()
	if !known {
		mapping, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		w = watched{gr: mapping.Resource.GroupResource(), namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}
		k.scopeMu.Lock()
		if k.scopes == nil {
			k.scopes = map[schema.GroupVersionKind]watched{}
		}
		k.scopes[gvk] = w
		k.scopeMu.Unlock()
	}
	scopes := []string{""}
	if k.confined() && w.namespaced {
		scopes = k.Allow
	}
	for _, ns := range scopes {
		if err := k.Checked(ctx, w.gr, ns); err != nil {
			return err
		}
	}
	return nil
}

// watched is the resource of a kind the cache reads, and whether it is namespaced.
type watched struct {
	gr         schema.GroupResource
	namespaced bool
}

// scrub removes every known Secret value from text; it is the filter every tool result passes
// through. The first call starts the Secret watch and waits until the existing values are known.
func (k *kube) scrub(ctx context.Context, text string) string {
	if c, err := k.Cache(ctx); err == nil {
		k.watchSecrets(ctx, c)
	}
	return k.secrets.Scrub(text)
}

// watchSecrets feeds every Secret value the server may read into the scrubber, so that a value
// copied elsewhere (a ConfigMap, an env var, a log line) is still removed from output. Without
// RBAC to list Secrets it does nothing; name-based redaction still applies.
func (k *kube) watchSecrets(ctx context.Context, c cache.Cache) {
	k.secretOnce.Do(func() {
		namespaces := k.Allow
		if len(namespaces) == 0 {
			namespaces = []string{""}
		}
		for _, ns := range namespaces {
			if err := k.Checked(ctx, schema.GroupResource{Resource: "secrets"}, ns); err != nil {
				k.log.Info("not scrubbing Secret values from output: the server may not watch Secrets", "namespace", ns, "error", err)
				return
			}
		}
		inf, err := c.GetInformer(ctx, &corev1.Secret{})
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
// after start-up (kubeaccess.Shared.ResolveKind).
func (k *kube) resolve(kind string) (resource, error) {
	if strings.TrimSpace(kind) == "" {
		return resource{}, errors.New("kind is required, such as pods, deployments or nodes")
	}
	gvk, gvr, namespaced, err := k.ResolveKind(context.Background(), kind)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return resource{}, fmt.Errorf("unknown kind %q: this cluster serves no such resource; list the kinds it serves with api_resources", strings.TrimSpace(kind))
		}
		return resource{}, err
	}
	return resource{gvr: gvr, gvk: gvk, namespaced: namespaced}, nil
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
	c, err := k.Cache(ctx)
	if err != nil {
		return err
	}
	if err := k.mayWatch(ctx, proto); err != nil {
		return err
	}
	return kubeaccess.EachCached(ctx, c, proto, list, ns, fn)
}
