package incident

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/opsmesh/opsmesh/agents/mcppool"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/audit"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
)

// Config configures the orchestrator.
type Config struct {
	// Client reads and writes Incidents, Agents and ToolServers (the manager's client).
	Client client.Client
	// Reader reads the workloads, nodes and events whose health ends an Incident, uncached (so
	// that the controller needs only get on them). Default: the manager's APIReader, set by
	// SetupWithManager; Client when the orchestrator runs outside a manager.
	Reader client.Reader
	// NATS carries A2A to the coordinators; JetStream keeps the audit trail and the action ledger.
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	// Builtins are the builtin ToolServers this process serves itself (opsmesh controller
	// --runtime); the others are reached at their Service.
	Builtins    map[opsv1.BuiltinServer]*server.MCPServer
	ServicePort int
	// Endpoint overrides how a ToolServer is reached (default kubehost.Endpoint).
	Endpoint func(ctx context.Context, ts *opsv1.ToolServer) (mcppool.Endpoint, error)
	// CoordinatorNamespace is where coordinators that take the incidents of namespaces without
	// a coordinator of their own live (the controller's namespace, usually opsmesh).
	CoordinatorNamespace string
	// InvestigateTimeout bounds one investigation when the coordinator's spec.limits.timeout does
	// not (default 5m); InvestigateAttempts is how often a failed one is tried (default 5).
	InvestigateTimeout  time.Duration
	InvestigateAttempts int
	// VerifyTimeout is how long after remediation the problem may take to go away (default 3m);
	// VerifyInterval how often it is checked (default 5s).
	VerifyTimeout  time.Duration
	VerifyInterval time.Duration
	// ActionTimeout bounds one remediation tool call (default 2m).
	ActionTimeout time.Duration
	// MaxConcurrentReconciles is how many Incidents are worked at once (default 8).
	MaxConcurrentReconciles int
	// Identity names this controller replica in the timeline's actor field ("controller" when
	// empty; `opsmesh controller` passes its leader-election identity).
	Identity string
	Logger   logr.Logger
}

func (c *Config) defaults() {
	if c.InvestigateTimeout == 0 {
		c.InvestigateTimeout = 5 * time.Minute
	}
	if c.InvestigateAttempts == 0 {
		c.InvestigateAttempts = 5
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = 3 * time.Minute
	}
	if c.VerifyInterval == 0 {
		c.VerifyInterval = 5 * time.Second
	}
	if c.ActionTimeout == 0 {
		c.ActionTimeout = 2 * time.Minute
	}
	if c.MaxConcurrentReconciles == 0 {
		c.MaxConcurrentReconciles = 8
	}
}

// Reconciler is the orchestrator.
type Reconciler struct {
	cfg    Config
	c      client.Client
	reader client.Reader
	log    logr.Logger
	trail  *audit.Trail
	ledger *ledger
	pool   *mcppool.Pool

	mu        sync.Mutex
	endpoints map[string]string // pool endpoint (namespace/name) → what it was built from
	runs      map[types.NamespacedName]*run
	wake      chan event.GenericEvent
}

// New makes the orchestrator: it creates the audit stream and the action ledger.
func New(ctx context.Context, cfg Config) (*Reconciler, error) {
	cfg.defaults()
	if cfg.Client == nil || cfg.NATS == nil || cfg.JetStream == nil {
		return nil, errors.New("incident orchestrator: a Kubernetes client, a NATS connection and JetStream are all needed")
	}
	trail, err := audit.New(ctx, cfg.JetStream)
	if err != nil {
		return nil, err
	}
	l, err := newLedger(ctx, cfg.JetStream)
	if err != nil {
		return nil, err
	}
	pool, err := mcppool.New(nil, mcppool.Options{})
	if err != nil {
		return nil, err
	}
	reader := cfg.Reader
	if reader == nil {
		reader = cfg.Client
	}
	return &Reconciler{cfg: cfg, c: cfg.Client, reader: reader, log: cfg.Logger, trail: trail, ledger: l, pool: pool,
		endpoints: map[string]string{}, runs: map[types.NamespacedName]*run{}, wake: make(chan event.GenericEvent, 1024)}, nil
}

// Close closes the MCP connections the orchestrator opened to run actions.
func (r *Reconciler) Close() { r.pool.Close() }

// SetupWithManager registers the orchestrator: it works Incidents, and wakes when an
// investigation or verification it started in the background finishes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.cfg.Reader == nil {
		r.reader = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("incident").
		For(&opsv1.Incident{}, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.cfg.MaxConcurrentReconciles}).
		Complete(r)
}

func (r *Reconciler) actor() string {
	if r.cfg.Identity == "" {
		return "controller"
	}
	return "controller " + r.cfg.Identity
}

// Reconcile moves one Incident on as far as it can go now.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := r.log.WithValues("incident", req.NamespacedName.String())
	var inc opsv1.Incident
	if err := r.c.Get(ctx, req.NamespacedName, &inc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			observed.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	observed.observe(&inc)
	auditErr := r.audit(ctx, &inc)
	var res ctrl.Result
	for range 16 {
		before := inc.Status.DeepCopy()
		what := string(inc.Status.Phase)
		if what == "" {
			what = "Detect"
		}
		sctx, span := stepSpan(ctx, &inc, what)
		again, rs, err := r.step(sctx, &inc)
		span.SetAttributes(attribute.String("incident.phaseAfter", string(inc.Status.Phase)))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if err != nil {
			return ctrl.Result{}, err
		}
		res = rs
		if !equality.Semantic.DeepEqual(before, &inc.Status) {
			inc.Status.ObservedGeneration = inc.Generation
			if err := r.c.Status().Update(ctx, &inc); err != nil {
				if apierrors.IsConflict(err) {
					return ctrl.Result{Requeue: true}, nil
				}
				return ctrl.Result{}, fmt.Errorf("writing the status of Incident %s: %w", req.NamespacedName, err)
			}
			observed.observe(&inc)
			auditErr = r.audit(ctx, &inc)
		}
		if !again {
			break
		}
	}
	if auditErr != nil {
		log.Error(auditErr, "audit trail behind; retrying")
		if res.RequeueAfter == 0 || res.RequeueAfter > 5*time.Second {
			res.RequeueAfter = 5 * time.Second
		}
	}
	return res, nil
}

// audit publishes the timeline entries not yet on the audit stream and records how far it got.
func (r *Reconciler) audit(ctx context.Context, inc *opsv1.Incident) error {
	last := int64(0)
	if n := len(inc.Status.Timeline); n > 0 {
		last = inc.Status.Timeline[n-1].Seq
	}
	if inc.Status.AuditedSeq >= last {
		return nil
	}
	seq, err := r.trail.Publish(ctx, inc)
	if seq > inc.Status.AuditedSeq {
		patch := []byte(fmt.Sprintf(`{"status":{"auditedSeq":%d}}`, seq))
		if perr := r.c.Status().Patch(ctx, inc, client.RawPatch(types.MergePatchType, patch)); perr != nil {
			return errors.Join(err, fmt.Errorf("recording audited entries of Incident %s/%s: %w", inc.Namespace, inc.Name, perr))
		}
	}
	return err
}

// step does the next thing the incident's phase calls for, changing inc.Status in memory. again
// says the next step can follow at once (after the status is written).
func (r *Reconciler) step(ctx context.Context, inc *opsv1.Incident) (again bool, res ctrl.Result, err error) {
	switch inc.Status.Phase {
	case "":
		r.detect(inc)
		return true, ctrl.Result{}, nil
	case opsv1.PhaseDetected:
		return r.assign(ctx, inc)
	case opsv1.PhaseInvestigating:
		return r.investigate(ctx, inc)
	case opsv1.PhaseDiagnosed, opsv1.PhaseAwaitingApproval, opsv1.PhaseRemediating:
		return r.remediate(ctx, inc)
	case opsv1.PhaseVerifying:
		return r.verify(ctx, inc)
	}
	return false, ctrl.Result{}, nil
}

// detect starts the lifecycle of a new Incident.
func (r *Reconciler) detect(inc *opsv1.Incident) {
	// A trigger's Incident is counted by its de-duplicating writer, which may not have added its
	// first count yet: setting one here as well would count that signal twice.
	if inc.Status.Count == 0 && inc.Labels[dedup.LabelFingerprint] == "" {
		inc.Status.Count = 1
	}
	if inc.Status.FirstSeen == nil {
		t := inc.CreationTimestamp
		inc.Status.FirstSeen = &t
	}
	if inc.Status.LastSeen == nil {
		inc.Status.LastSeen = inc.Status.FirstSeen.DeepCopy()
	}
	src := string(inc.Spec.Source.Type)
	if inc.Spec.Source.Name != "" {
		src += " " + inc.Spec.Source.Name
	}
	transition(inc, opsv1.PhaseDetected, "Detected", "raised by "+src+": "+inc.Spec.Summary, r.actor())
}

// transition enters phase with a timeline entry.
func transition(inc *opsv1.Incident, phase opsv1.IncidentPhase, ev, msg, actor string) {
	inc.Status.Phase = phase
	note(inc, phase, ev, msg, actor)
}

// maxTimeline is the Incident schema's bound on status.timeline.
const maxTimeline = 256

// note appends a timeline entry (phase set when it is a transition).
func note(inc *opsv1.Incident, phase opsv1.IncidentPhase, ev, msg, actor string) {
	seq := inc.Status.AuditedSeq
	if n := len(inc.Status.Timeline); n > 0 {
		seq = max(seq, inc.Status.Timeline[n-1].Seq)
	}
	inc.Status.Timeline = append(inc.Status.Timeline, opsv1.TimelineEntry{Seq: seq + 1, Time: metav1.Now(), Phase: phase, Event: ev, Message: clip(msg, 2048), Actor: actor})
	if n := len(inc.Status.Timeline); n > maxTimeline {
		inc.Status.Timeline = inc.Status.Timeline[n-maxTimeline:]
	}
}

// setReady sets the Ready condition.
func setReady(inc *opsv1.Incident, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&inc.Status.Conditions, metav1.Condition{Type: opsv1.ConditionReady, Status: st, Reason: reason, Message: clip(msg, 32768), ObservedGeneration: inc.Generation})
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// enteredAt is when inc last entered phase.
func enteredAt(inc *opsv1.Incident, phase opsv1.IncidentPhase) time.Time {
	for i := len(inc.Status.Timeline) - 1; i >= 0; i-- {
		if inc.Status.Timeline[i].Phase == phase {
			return inc.Status.Timeline[i].Time.Time
		}
	}
	return time.Now()
}

// since counts the timeline entries ev since inc last entered phase.
func since(inc *opsv1.Incident, phase opsv1.IncidentPhase, ev string) int {
	n := 0
	for i := len(inc.Status.Timeline) - 1; i >= 0; i-- {
		e := inc.Status.Timeline[i]
		if e.Phase == phase {
			break
		}
		if e.Event == ev {
			n++
		}
	}
	return n
}
