package toolserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Defaults of Config.
const (
	DefaultBinary                  = "/usr/local/bin/opsmesh"
	DefaultRediscover              = 5 * time.Minute
	DefaultBackoff                 = 10 * time.Second
	DefaultDiscoveryTimeout        = 15 * time.Second
	DefaultMaxConcurrentReconciles = 16
	// FieldOwner is the server-side apply field manager of everything the reconciler writes.
	FieldOwner = "opsmesh-toolserver-controller"

	secretRefsIndex = "opsmesh.dev/toolserver-secret-refs"
)

// Condition reasons of a ToolServer.
const (
	ReasonResolved          = "Resolved"
	ReasonSecretNotFound    = "SecretNotFound"
	ReasonSecretKeyNotFound = "SecretKeyNotFound"
	ReasonInvalidSpec       = "InvalidSpec"
	ReasonToolsDiscovered   = "ToolsDiscovered"
	ReasonNotAvailable      = "WorkloadNotAvailable"
	ReasonDiscoveryFailed   = "DiscoveryFailed"
	ReasonNotAccepted       = "NotAccepted"
)

// DefaultImage is the opsmesh image of a version.
func DefaultImage(version string) string {
	if version == "" || version == "dev" {
		version = "latest"
	}
	return "ghcr.io/opsmesh/opsmesh:" + version
}

// Config configures the ToolServer reconciler. The zero value works, with the defaults named.
type Config struct {
	// Image is the opsmesh image builtin servers and the stdio bridge run from
	// (default DefaultImage(Version)); Binary is the opsmesh binary's path in it
	// (default DefaultBinary).
	Image, Binary, Version string
	// Builtins are the builtin servers this process runs itself (kubehost.Builtins): a builtin
	// ToolServer whose server is here is discovered in process, without waiting for its pods.
	Builtins map[opsv1.BuiltinServer]*server.MCPServer
	// ServicePort is the port of the Services made (default kubehost.DefaultServicePort).
	ServicePort int
	// Rediscover lists a Ready server's tools again this often (default 5m); Backoff is the
	// wait before trying again while it is not Ready (default 10s).
	Rediscover, Backoff time.Duration
	// DiscoveryTimeout bounds one discovery (default 15s).
	DiscoveryTimeout time.Duration
	// Resolve, when set, rewrites the URL discovery connects to (tests point a Service URL
	// at a local server); the status keeps the real one.
	Resolve func(url string) string
	// MaxConcurrentReconciles (default 16): discovery waits on the network, so many run at once.
	MaxConcurrentReconciles int
}

func (c *Config) defaults() {
	if c.Image == "" {
		c.Image = DefaultImage(c.Version)
	}
	if c.Binary == "" {
		c.Binary = DefaultBinary
	}
	if c.ServicePort == 0 {
		c.ServicePort = kubehost.DefaultServicePort
	}
	if c.Rediscover <= 0 {
		c.Rediscover = DefaultRediscover
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.DiscoveryTimeout <= 0 {
		c.DiscoveryTimeout = DefaultDiscoveryTimeout
	}
	if c.MaxConcurrentReconciles <= 0 {
		c.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
}

// Reconciler reconciles ToolServers. Make one with a Config and call SetupWithManager.
type Reconciler struct {
	Config
	client client.Client
	// api reads around the cache, for the token Secret this reconciler has just created.
	api    client.Reader
	scheme *runtime.Scheme
}

// RBAC the controller needs for this reconciler.
// +kubebuilder:rbac:groups=opsmesh.dev,resources=toolservers;toolservers/status;toolservers/finalizers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments;daemonsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts;secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles;clusterrolebindings,verbs=get;list;watch;create;update;patch;delete;bind;escalate

// SetupWithManager registers the reconciler with mgr: it watches ToolServers, the objects it
// makes for them, and the Secrets they refer to.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.defaults()
	r.client = mgr.GetClient()
	r.api = mgr.GetAPIReader()
	r.scheme = mgr.GetScheme()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &opsv1.ToolServer{}, secretRefsIndex, func(o client.Object) []string {
		ts := o.(*opsv1.ToolServer)
		refs := secretRefs(ts)
		if needsToken(ts) {
			refs = append(refs, TokenSecretName(ts))
		}
		return refs
	}); err != nil {
		return fmt.Errorf("toolserver reconciler: indexing ToolServers by Secret: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1.ToolServer{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.DaemonSet{}).
		Owns(&corev1.Service{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.forSecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("toolserver").
		Complete(r)
}

// forSecret maps a Secret to the ToolServers of its namespace that refer to it.
func (r *Reconciler) forSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list opsv1.ToolServerList
	if err := r.client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretRefsIndex: o.GetName()}); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "listing the ToolServers that refer to a Secret", "secret", o.GetNamespace()+"/"+o.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, ts := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ts)})
	}
	return out
}

// Reconcile brings one ToolServer's objects and status in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx).WithValues("toolServer", req.String())
	var ts opsv1.ToolServer
	if err := r.client.Get(ctx, req.NamespacedName, &ts); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ts.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, &ts)
	}
	if runsPods(&ts) && !controllerutil.ContainsFinalizer(&ts, Finalizer) {
		patch := client.MergeFrom(ts.DeepCopy())
		controllerutil.AddFinalizer(&ts, Finalizer)
		if err := r.client.Patch(ctx, &ts, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("ToolServer %s: adding finalizer %s: %w", req, Finalizer, err)
		}
	}
	orig := ts.DeepCopy()
	ts.Status.ObservedGeneration = ts.Generation
	ts.Status.Endpoint = r.endpointURL(&ts)

	// Accepted: every Secret the spec names exists with its key, and the spec can be run.
	secrets, problem := r.referencedSecrets(ctx, &ts)
	if problem == nil && runsPods(&ts) {
		if _, err := podTemplate(&ts, r.Image, r.Binary, ""); err != nil {
			problem = &condition{ReasonInvalidSpec, err.Error()}
		}
	}
	if problem != nil {
		setCond(&ts, opsv1.ConditionAccepted, metav1.ConditionFalse, problem.reason, problem.message)
		setCond(&ts, opsv1.ConditionReady, metav1.ConditionFalse, ReasonNotAccepted, fmt.Sprintf("ToolServer %s is not accepted: %s", req, problem.message))
		log.Info("ToolServer not accepted", "reason", problem.reason)
		return ctrl.Result{RequeueAfter: r.Backoff}, r.writeStatus(ctx, orig, &ts)
	}
	setCond(&ts, opsv1.ConditionAccepted, metav1.ConditionTrue, ReasonResolved, fmt.Sprintf("ToolServer %s: spec resolved", req))

	var token string
	if runsPods(&ts) {
		var err error
		if token, err = r.apply(ctx, &ts, secrets); err != nil {
			return ctrl.Result{}, err
		}
	}

	// Ready: the server answers tools/list.
	notAvailable := r.workloadNotAvailable(ctx, &ts)
	tools, where, err := r.discover(ctx, &ts, token)
	now := metav1.Now()
	if err != nil {
		reason, msg := ReasonDiscoveryFailed, fmt.Sprintf("ToolServer %s: listing tools at %s failed: %v", req, where, err)
		if notAvailable != "" {
			reason, msg = ReasonNotAvailable, fmt.Sprintf("ToolServer %s: %s; listing tools at %s failed: %v", req, notAvailable, where, err)
		}
		setCond(&ts, opsv1.ConditionReady, metav1.ConditionFalse, reason, msg)
		log.Info("ToolServer not ready", "reason", reason, "endpoint", where, "error", err.Error())
		return ctrl.Result{RequeueAfter: r.Backoff}, r.writeStatus(ctx, orig, &ts)
	}
	ts.Status.Tools = tools
	ts.Status.ToolCount = int32(len(tools))
	ts.Status.LastDiscoveryTime = &now
	setCond(&ts, opsv1.ConditionReady, metav1.ConditionTrue, ReasonToolsDiscovered, fmt.Sprintf("ToolServer %s serves %d tools at %s", req, len(tools), where))
	return ctrl.Result{RequeueAfter: r.Rediscover}, r.writeStatus(ctx, orig, &ts)
}

type condition struct{ reason, message string }

func setCond(ts *opsv1.ToolServer, typ string, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&ts.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: ts.Generation})
}

func (r *Reconciler) writeStatus(ctx context.Context, orig, ts *opsv1.ToolServer) error {
	if err := r.client.Status().Patch(ctx, ts, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("ToolServer %s/%s: writing status: %w", ts.Namespace, ts.Name, err)
	}
	return nil
}

// endpointURL is where agents reach the server: its Service, or the remote URL.
func (r *Reconciler) endpointURL(ts *opsv1.ToolServer) string {
	if ts.Spec.Type == opsv1.ToolServerRemote && ts.Spec.Remote != nil {
		return ts.Spec.Remote.URL
	}
	path := "/mcp"
	if c := ts.Spec.Container; c != nil && c.Transport == opsv1.TransportHTTP && c.Path != "" {
		path = c.Path
	}
	return fmt.Sprintf("http://%s.%s.svc:%d%s", ts.Name, ts.Namespace, r.ServicePort, path)
}

// referencedSecrets reads the Secrets the spec names, checking each key.
func (r *Reconciler) referencedSecrets(ctx context.Context, ts *opsv1.ToolServer) ([]*corev1.Secret, *condition) {
	type ref struct{ field, name, key string }
	var refs []ref
	if rm := ts.Spec.Remote; rm != nil && rm.BearerTokenSecretRef != nil {
		refs = append(refs, ref{"spec.remote.bearerTokenSecretRef", rm.BearerTokenSecretRef.Name, rm.BearerTokenSecretRef.Key})
	}
	if c := ts.Spec.Container; c != nil {
		for i, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && (e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional) {
				refs = append(refs, ref{fmt.Sprintf("spec.container.env[%d] (%s)", i, e.Name), e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key})
			}
		}
	}
	got := map[string]*corev1.Secret{}
	for _, rf := range refs {
		s, ok := got[rf.name]
		if !ok {
			s = &corev1.Secret{}
			if err := r.client.Get(ctx, client.ObjectKey{Namespace: ts.Namespace, Name: rf.name}, s); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, &condition{ReasonSecretNotFound, fmt.Sprintf("ToolServer %s/%s: %s names Secret %q, which does not exist; create it or fix the name", ts.Namespace, ts.Name, rf.field, rf.name)}
				}
				return nil, &condition{ReasonSecretNotFound, fmt.Sprintf("ToolServer %s/%s: %s: reading Secret %q: %v", ts.Namespace, ts.Name, rf.field, rf.name, err)}
			}
			got[rf.name] = s
		}
		if _, ok := s.Data[rf.key]; !ok {
			return nil, &condition{ReasonSecretKeyNotFound, fmt.Sprintf("ToolServer %s/%s: %s: Secret %q has no key %q (it has: %s); add the key or fix the reference",
				ts.Namespace, ts.Name, rf.field, rf.name, rf.key, strings.Join(slices.Sorted(maps.Keys(s.Data)), ", "))}
		}
	}
	return slices.Collect(maps.Values(got)), nil
}

// apply writes the objects a builtin or container ToolServer runs with, and returns the bearer
// token its pods require ("" for an HTTP container server).
func (r *Reconciler) apply(ctx context.Context, ts *opsv1.ToolServer, secrets []*corev1.Secret) (string, error) {
	var token string
	if needsToken(ts) {
		sec, err := r.ensureToken(ctx, ts)
		if err != nil {
			return "", err
		}
		token = string(sec.Data[TokenKey])
		secrets = append(secrets, sec)
	}
	pt, err := podTemplate(ts, r.Image, r.Binary, hashSecrets(secrets))
	if err != nil {
		return "", err
	}
	var objs []client.Object
	if managesRBAC(ts) {
		objs = append(objs, serviceAccount(ts))
	}
	objs = append(objs, service(ts, int32(r.ServicePort)))
	if isDaemonSet(ts) {
		objs = append(objs, daemonSet(ts, pt))
	} else {
		objs = append(objs, deployment(ts, pt))
	}
	for _, o := range objs {
		if err := controllerutil.SetControllerReference(ts, o, r.scheme); err != nil {
			return "", err
		}
	}
	if managesRBAC(ts) {
		objs = append(objs, clusterRole(ts), clusterRoleBinding(ts))
	} else if err := r.deleteClusterRBAC(ctx, ts); err != nil {
		return "", err
	}
	for _, o := range objs {
		if err := r.ssa(ctx, o); err != nil {
			return "", fmt.Errorf("ToolServer %s/%s: applying %s %s: %w", ts.Namespace, ts.Name, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	return token, nil
}

// ssa server-side applies o, owning every field it sets.
func (r *Reconciler) ssa(ctx context.Context, o client.Object) error {
	gvk, err := apiutil.GVKForObject(o, r.scheme)
	if err != nil {
		return err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	delete(u.Object, "status")
	return r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// ensureToken returns the ToolServer's token Secret, creating it with a random token once.
func (r *Reconciler) ensureToken(ctx context.Context, ts *opsv1.ToolServer) (*corev1.Secret, error) {
	var sec corev1.Secret
	err := r.client.Get(ctx, client.ObjectKey{Namespace: ts.Namespace, Name: TokenSecretName(ts)}, &sec)
	if err == nil && len(sec.Data[TokenKey]) > 0 {
		return &sec, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("ToolServer %s/%s: reading token Secret %s: %w", ts.Namespace, ts.Name, TokenSecretName(ts), err)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s := tokenSecret(ts, hex.EncodeToString(b))
	if err := controllerutil.SetControllerReference(ts, s, r.scheme); err != nil {
		return nil, err
	}
	if err := r.client.Create(ctx, s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Made by an earlier reconcile that the cache has not seen yet.
			if err := r.api.Get(ctx, client.ObjectKeyFromObject(s), &sec); err != nil {
				return nil, fmt.Errorf("ToolServer %s/%s: reading token Secret %s: %w", ts.Namespace, ts.Name, s.Name, err)
			}
			return &sec, nil
		}
		return nil, fmt.Errorf("ToolServer %s/%s: creating token Secret %s: %w", ts.Namespace, ts.Name, s.Name, err)
	}
	return s, nil
}

// workloadNotAvailable says, when the ToolServer's Deployment or DaemonSet has no available pod,
// so ("Deployment ns/x has 0 of 1 replicas available"); "" otherwise.
func (r *Reconciler) workloadNotAvailable(ctx context.Context, ts *opsv1.ToolServer) string {
	if !runsPods(ts) {
		return ""
	}
	key := client.ObjectKeyFromObject(ts)
	if isDaemonSet(ts) {
		var ds appsv1.DaemonSet
		if err := r.client.Get(ctx, key, &ds); err != nil {
			return "DaemonSet " + key.String() + " not found yet"
		}
		if ds.Status.NumberAvailable == 0 {
			return fmt.Sprintf("DaemonSet %s has %d of %d node agents available (no GPU node matches the node selector, or the pods are starting)", key, ds.Status.NumberAvailable, ds.Status.DesiredNumberScheduled)
		}
		return ""
	}
	var d appsv1.Deployment
	if err := r.client.Get(ctx, key, &d); err != nil {
		return "Deployment " + key.String() + " not found yet"
	}
	if d.Status.AvailableReplicas == 0 {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		return fmt.Sprintf("Deployment %s has %d of %d replicas available yet", key, d.Status.AvailableReplicas, want)
	}
	return ""
}

// discover lists the server's tools through a short-lived client: in process when this process
// runs the builtin server, else at its Service or remote URL.
func (r *Reconciler) discover(ctx context.Context, ts *opsv1.ToolServer, token string) ([]opsv1.DiscoveredTool, string, error) {
	ep, err := kubehost.Endpoint(ctx, r.client, ts, r.Builtins, r.ServicePort)
	if err != nil {
		return nil, ts.Status.Endpoint, err
	}
	where := ts.Status.Endpoint
	if ep.InProcess != nil {
		where = "the builtin " + string(ts.Spec.Builtin.Server) + " server in this process"
	} else {
		ep.URL = ts.Status.Endpoint
		if token != "" {
			ep.Token = token
		}
		if r.Resolve != nil {
			ep.URL = r.Resolve(ep.URL)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, r.DiscoveryTimeout)
	defer cancel()
	tools, err := listTools(dctx, ep)
	if err != nil {
		return nil, where, err
	}
	return discovered(ts, tools), where, nil
}

// finalize removes the cluster-scoped RBAC and then the finalizer.
func (r *Reconciler) finalize(ctx context.Context, ts *opsv1.ToolServer) error {
	if !controllerutil.ContainsFinalizer(ts, Finalizer) {
		return nil
	}
	if err := r.deleteClusterRBAC(ctx, ts); err != nil {
		return err
	}
	patch := client.MergeFrom(ts.DeepCopy())
	controllerutil.RemoveFinalizer(ts, Finalizer)
	if err := r.client.Patch(ctx, ts, patch); err != nil {
		return fmt.Errorf("ToolServer %s/%s: removing finalizer %s: %w", ts.Namespace, ts.Name, Finalizer, err)
	}
	return nil
}

func (r *Reconciler) deleteClusterRBAC(ctx context.Context, ts *opsv1.ToolServer) error {
	name := ClusterRBACName(ts)
	var errs []error
	for _, o := range []client.Object{&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}} {
		if err := r.client.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("ToolServer %s/%s: deleting %T %s: %w", ts.Namespace, ts.Name, o, name, err))
		}
	}
	return errors.Join(errs...)
}
