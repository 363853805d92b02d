// Package agent reconciles Agent objects: it checks every reference an Agent makes (its
// ToolServers, that they are Ready and serve the allowed tools, its delegates, its model's API
// key Secret) and reports each problem in the Accepted condition, and it sets Ready when an agent
// runtime hosts the Agent, which it learns from the agent cards in the JetStream KV bucket
// OPSMESH_AGENTS (watched, so a card that appears or goes re-reconciles the Agent at once).
//
// It must not host agents itself (package agents/runtime does, run by `opsmesh runtime` or in the
// controller's process) and it never reads a Secret's value: only that the key exists.
package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Defaults of Config and of RateLimits.
const (
	DefaultMaxConcurrentReconciles = 16
	DefaultResync                  = 30 * time.Second
	DefaultBackoff                 = 10 * time.Second
	// DefaultQPS and DefaultBurst are the API client's rate limits RateLimits sets: enough for
	// a fleet of 1,000 Agents and 100 ToolServers to turn Ready within seconds.
	DefaultQPS   = 200
	DefaultBurst = 400

	toolServersIndex = "opsmesh.dev/agent-toolservers"
	delegatesIndex   = "opsmesh.dev/agent-delegates"
	secretsIndex     = "opsmesh.dev/agent-secrets"
)

// Condition reasons of an Agent.
const (
	ReasonResolved           = "Resolved"
	ReasonToolServerNotFound = "ToolServerNotFound"
	ReasonToolServerNotReady = "ToolServerNotReady"
	ReasonToolNotServed      = "ToolNotServed"
	ReasonDelegateNotFound   = "DelegateNotFound"
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonSecretKeyNotFound  = "SecretKeyNotFound"
	ReasonNotAccepted        = "NotAccepted"
	ReasonNotHosted          = "NotHosted"
	ReasonHosted             = "Hosted"
)

// RateLimits sets cfg's client-side rate limits to DefaultQPS and DefaultBurst when they are
// unset (client-go's own default of 5 QPS would take minutes to write a large fleet's status),
// and returns cfg. Apply it to the Manager's rest.Config.
func RateLimits(cfg *rest.Config) *rest.Config {
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	return cfg
}

// Config configures the Agent reconciler.
type Config struct {
	// NATS is the connection to the NATS the agent runtimes publish their cards on. Required.
	NATS *nats.Conn
	// MaxConcurrentReconciles (default 16).
	MaxConcurrentReconciles int
	// Resync re-checks a Ready Agent's card this often (default 30s, the card TTL), since a
	// card that expires sends no event.
	Resync time.Duration
	// Backoff is the wait before checking again for a card that is missing (default 10s).
	Backoff time.Duration
}

// Reconciler reconciles Agents. Make one with a Config and call SetupWithManager.
type Reconciler struct {
	Config
	client client.Client
	events chan event.GenericEvent
}

// RBAC the controller needs for this reconciler.
// +kubebuilder:rbac:groups=opsmesh.dev,resources=agents;agents/status,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=opsmesh.dev,resources=toolservers,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// SetupWithManager registers the reconciler with mgr: it watches Agents, the ToolServers,
// delegates and Secrets they name, and the OPSMESH_AGENTS KV bucket.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.NATS == nil {
		return errors.New("agent reconciler: Config.NATS is required: it is where the agent runtimes publish the cards that make Agents Ready")
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if r.Resync <= 0 {
		r.Resync = DefaultResync
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultBackoff
	}
	r.client = mgr.GetClient()
	r.events = make(chan event.GenericEvent, 1024)
	idx := mgr.GetFieldIndexer()
	ctx := context.Background()
	for name, fn := range map[string]func(*opsv1.Agent) []string{
		toolServersIndex: func(a *opsv1.Agent) []string {
			var out []string
			for _, t := range a.Spec.Tools {
				out = append(out, t.ToolServer)
			}
			return out
		},
		delegatesIndex: func(a *opsv1.Agent) []string {
			var out []string
			for _, d := range a.Spec.Delegates {
				out = append(out, d.Name)
			}
			return out
		},
		secretsIndex: func(a *opsv1.Agent) []string {
			if m := a.Spec.Model; m != nil && m.APIKeySecretRef != nil {
				return []string{m.APIKeySecretRef.Name}
			}
			return nil
		},
	} {
		if err := idx.IndexField(ctx, &opsv1.Agent{}, name, func(o client.Object) []string { return fn(o.(*opsv1.Agent)) }); err != nil {
			return fmt.Errorf("agent reconciler: indexing Agents: %w", err)
		}
	}
	if err := mgr.Add(manager.RunnableFunc(r.watchCards)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&opsv1.Agent{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&opsv1.ToolServer{}, handler.EnqueueRequestsFromMapFunc(r.referrers(toolServersIndex)), builder.WithPredicates(toolServerChanged)).
		Watches(&opsv1.Agent{}, handler.EnqueueRequestsFromMapFunc(r.referrers(delegatesIndex)), builder.WithPredicates(existence)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.referrers(secretsIndex))).
		WatchesRawSource(source.Channel(r.events, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("agent").
		Complete(r)
}

// toolServerChanged passes a ToolServer event that can change an Agent's acceptance: creation,
// deletion, or a new Ready condition or tool list.
var toolServerChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*opsv1.ToolServer), e.ObjectNew.(*opsv1.ToolServer)
		return !equality.Semantic.DeepEqual(o.Status.Tools, n.Status.Tools) || readyOf(o.Status.Conditions) != readyOf(n.Status.Conditions)
	},
}

// existence passes the creation and deletion of a delegate (what a delegator checks).
var existence = predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}

func readyOf(conds []metav1.Condition) string {
	c := apimeta.FindStatusCondition(conds, opsv1.ConditionReady)
	if c == nil {
		return ""
	}
	return string(c.Status) + c.Reason
}

// referrers maps an object to the Agents of its namespace whose index names it.
func (r *Reconciler) referrers(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list opsv1.AgentList
		if err := r.client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "listing Agents that refer to an object", "object", o.GetNamespace()+"/"+o.GetName())
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return out
	}
}

// watchCards watches OPSMESH_AGENTS (waiting for it to be created by the first runtime) and
// enqueues the Agent of every card that appears, changes or is deleted.
func (r *Reconciler) watchCards(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("agent-cards")
	js, err := jetstream.New(r.NATS)
	if err != nil {
		return fmt.Errorf("agent reconciler: JetStream: %w", err)
	}
	var kv jetstream.KeyValue
	for {
		kv, err = js.KeyValue(ctx, a2anats.AgentsBucket)
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrBucketNotFound) {
			log.Error(err, "opening the agent cards' KV bucket; retrying", "bucket", a2anats.AgentsBucket)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	for ctx.Err() == nil {
		if err := r.watch(ctx, kv); err != nil && ctx.Err() == nil {
			log.Error(err, "watching agent cards; restarting", "bucket", a2anats.AgentsBucket)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (r *Reconciler) watch(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	seen := map[string]string{} // key -> card, to skip the periodic refreshes of a card
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("the KV watch ended")
			}
			if e == nil {
				continue // the initial values are all delivered
			}
			key := e.Key()
			val := string(e.Value())
			if e.Operation() != jetstream.KeyValuePut {
				val = ""
			}
			if old, ok := seen[key]; ok && old == val {
				continue
			}
			seen[key] = val
			ns, name, ok := strings.Cut(key, ".")
			if !ok {
				continue
			}
			select {
			case r.events <- event.GenericEvent{Object: &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// problem is one thing wrong with an Agent's references.
type problem struct{ reason, message string }

// Reconcile checks one Agent's references and whether it is hosted, and writes its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var a opsv1.Agent
	if err := r.client.Get(ctx, req.NamespacedName, &a); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := a.DeepCopy()
	ref := req.Namespace + "/" + req.Name
	problems, served, err := r.check(ctx, &a)
	if err != nil {
		return ctrl.Result{}, err
	}
	a.Status.ObservedGeneration = a.Generation
	a.Status.Reasoning = a.Spec.Reasoning()
	a.Status.ToolCount = int32(served)
	a.Status.Subject = a2anats.Subject(req.Namespace, req.Name)
	result := ctrl.Result{RequeueAfter: r.Resync}
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.message
		}
		set(&a, opsv1.ConditionAccepted, metav1.ConditionFalse, problems[0].reason, strings.Join(msgs, "; "))
		set(&a, opsv1.ConditionReady, metav1.ConditionFalse, ReasonNotAccepted, fmt.Sprintf("Agent %s is not accepted: fix the Accepted condition's problems first", ref))
	} else {
		set(&a, opsv1.ConditionAccepted, metav1.ConditionTrue, ReasonResolved, fmt.Sprintf("Agent %s: every ToolServer, tool, delegate and Secret it names resolves", ref))
		_, err := a2anats.Resolve(ctx, r.NATS, ref)
		switch {
		case err == nil:
			set(&a, opsv1.ConditionReady, metav1.ConditionTrue, ReasonHosted, fmt.Sprintf("Agent %s is served over A2A on %s", ref, a.Status.Subject))
		case errors.Is(err, a2anats.ErrAgentNotAvailable):
			set(&a, opsv1.ConditionReady, metav1.ConditionFalse, ReasonNotHosted, fmt.Sprintf("no runtime hosts Agent %s: start `opsmesh runtime` or `opsmesh controller --runtime` (no card in KV %s)", ref, a2anats.AgentsBucket))
			result.RequeueAfter = r.Backoff
		default:
			return ctrl.Result{}, fmt.Errorf("Agent %s: reading its card: %w", ref, err)
		}
	}
	if equality.Semantic.DeepEqual(orig.Status, a.Status) {
		return result, nil
	}
	if err := r.client.Status().Patch(ctx, &a, client.MergeFrom(orig)); err != nil {
		return ctrl.Result{}, fmt.Errorf("Agent %s: writing status: %w", ref, err)
	}
	return result, nil
}

func set(a *opsv1.Agent, typ string, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: a.Generation})
}

// check lists what is wrong with a's references, and counts its allowed tools that are served.
// What CEL already refuses (requireApproval outside allowedTools, a coordinator without
// delegates, an Agent delegating to itself, a missing API key reference for anthropic and
// google) is not checked again.
func (r *Reconciler) check(ctx context.Context, a *opsv1.Agent) ([]problem, int, error) {
	ref := a.Namespace + "/" + a.Name
	var out []problem
	served := 0
	for i, t := range a.Spec.Tools {
		var ts opsv1.ToolServer
		err := r.client.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: t.ToolServer}, &ts)
		if apierrors.IsNotFound(err) {
			out = append(out, problem{ReasonToolServerNotFound, fmt.Sprintf("Agent %s: spec.tools[%d].toolServer %q does not exist; create it or fix the name", ref, i, t.ToolServer)})
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("Agent %s: reading ToolServer %s: %w", ref, t.ToolServer, err)
		}
		have := map[string]bool{}
		for _, d := range ts.Status.Tools {
			have[d.Name] = true
		}
		ready := apimeta.FindStatusCondition(ts.Status.Conditions, opsv1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionTrue {
			why := "it has not been reconciled yet"
			if ready != nil {
				why = ready.Reason + ": " + ready.Message
			}
			out = append(out, problem{ReasonToolServerNotReady, fmt.Sprintf("Agent %s: spec.tools[%d].toolServer %q is not Ready (%s)", ref, i, t.ToolServer, why)})
			continue
		}
		var missing []string
		for _, name := range t.AllowedTools {
			if have[name] {
				served++
			} else {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			q := make([]string, len(missing))
			for j, m := range missing {
				q[j] = fmt.Sprintf("%q", m)
			}
			what := "tool " + q[0] + " is"
			if len(q) > 1 {
				what = "tools " + strings.Join(q, ", ") + " are"
			}
			out = append(out, problem{ReasonToolNotServed, fmt.Sprintf("Agent %s: spec.tools[%d]: %s not served by ToolServer %s; it serves: %s", ref, i, what, t.ToolServer, servedList(ts.Status.Tools))})
		}
	}
	for i, d := range a.Spec.Delegates {
		err := r.client.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: d.Name}, &opsv1.Agent{})
		if apierrors.IsNotFound(err) {
			out = append(out, problem{ReasonDelegateNotFound, fmt.Sprintf("Agent %s: spec.delegates[%d] %q does not exist in namespace %s; create that Agent or fix the name", ref, i, d.Name, a.Namespace)})
		} else if err != nil {
			return nil, 0, fmt.Errorf("Agent %s: reading delegate %s: %w", ref, d.Name, err)
		}
	}
	if m := a.Spec.Model; m != nil && m.APIKeySecretRef != nil {
		sr := m.APIKeySecretRef
		var s corev1.Secret
		err := r.client.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: sr.Name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, problem{ReasonSecretNotFound, fmt.Sprintf("Agent %s: spec.model.apiKeySecretRef names Secret %q, which does not exist; create it with key %q or fix the name", ref, sr.Name, sr.Key)})
		case err != nil:
			return nil, 0, fmt.Errorf("Agent %s: reading Secret %s: %w", ref, sr.Name, err)
		default:
			if _, ok := s.Data[sr.Key]; !ok {
				out = append(out, problem{ReasonSecretKeyNotFound, fmt.Sprintf("Agent %s: spec.model.apiKeySecretRef: Secret %q has no key %q (it has: %s); add the key or fix the reference",
					ref, sr.Name, sr.Key, strings.Join(slices.Sorted(maps.Keys(s.Data)), ", "))})
			}
		}
	}
	return out, served, nil
}

// servedList names a ToolServer's tools, the first 20 of them.
func servedList(tools []opsv1.DiscoveredTool) string {
	names := make([]string, 0, len(tools))
	for _, t := range tools {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "no tools"
	}
	if len(names) > 20 {
		return strings.Join(names[:20], ", ") + fmt.Sprintf(" (and %d more)", len(names)-20)
	}
	return strings.Join(names, ", ")
}
