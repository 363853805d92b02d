// Package events watches what the cluster says is going wrong and raises Incidents for it
// through the de-duplicating Incident writer: Kubernetes Warning events with chosen reasons
// (crash loops, failed scheduling, OOM kills, failing probes, nodes not ready), and the GPU node
// agents' XID events on the JetStream stream OPSMESH_GPU (a durable consumer). Both watchers
// are controller-runtime Runnables that run only on the elected leader.
//
// It must not write Incidents itself (package dedup does), receive alerts (package alertmanager
// does), or act on the problems it reports.
package events

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
	"github.com/opsmesh/opsmesh/controller/trigger/owners"
)

// DefaultReasons are the Warning event reasons that raise Incidents unless configured otherwise;
// one that ends in * stands for every reason that starts with what comes before it.
var DefaultReasons = []string{"BackOff", "CrashLoopBackOff", "FailedScheduling", "OOMKilling", "OOMKilled", "Unhealthy", "NodeNotReady",
	// The kubelet's reason for an image it cannot pull (ErrImagePull, ImagePullBackOff) and a
	// container it cannot create or start (CreateContainerConfigError); its "Back-off pulling
	// image" events are Normal, so this is the only Warning such a pod gets. Pods only.
	"Failed",
	// A Job that gave up, pods a controller may not create (quota, admission), volumes that do
	// not mount or cannot be provisioned.
	"BackoffLimitExceeded", "DeadlineExceeded", "FailedCreate", "FailedMount", "ProvisioningFailed",
	// A pod the kubelet refuses to admit (OutOfcpu, OutOfmemory, OutOfnvidia.com/gpu: a pod
	// bound past the scheduler by nodeName), or cannot give a sandbox, a volume attachment or a
	// lifecycle hook; a pod the kubelet evicts.
	"OutOf*", "UnexpectedAdmissionError", "FailedCreatePodSandBox", "FailedAttachVolume", "FailedPostStartHook", "Evicted"}

// Raiser is what the watchers need of the Incident writer (dedup.Writer).
type Raiser interface {
	Raise(ctx context.Context, s dedup.Signal) (dedup.Result, error)
}

// WarningsConfig configures the Warning event watcher.
type WarningsConfig struct {
	// Reasons that raise Incidents; default DefaultReasons.
	Reasons []string
	// ExcludeNamespaces are namespaces whose events are ignored.
	ExcludeNamespaces []string
	// Window: events last seen more than Window before the watcher started are history and
	// ignored (unless their count rises later). Default 1m.
	Window time.Duration
	// Log records events that could not be raised; default discards.
	Log logr.Logger
	// Informers, when set, is a watch cache that already holds every Event (one whose other
	// readers watch all events anyway: the builtin servers under controller --runtime); the
	// watcher then reads Warning events from its informer instead of a Warning-only watch of its
	// own, so the process watches Events once. Without it (a controller alone) the watch is
	// Warning-only, and holds no Normal events.
	Informers ctrlcache.Informers
}

// Warnings watches core/v1 Events of type Warning.
type Warnings struct {
	cs       kubernetes.Interface
	r        client.Reader
	raiser   Raiser
	cfg      WarningsConfig
	reasons  map[string]bool
	prefixes []string // reasons given as a prefix (OutOf*)
	exclude  map[string]bool
	start    time.Time
}

// NewWarnings returns a watcher that lists and watches Events with cs, reads the owners of the
// objects they are about with r (metadata only, up to the top controller) and raises through
// raiser.
func NewWarnings(cs kubernetes.Interface, r client.Reader, raiser Raiser, cfg WarningsConfig) (*Warnings, error) {
	if cfg.Reasons == nil {
		cfg.Reasons = DefaultReasons
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = logr.Discard()
	}
	w := &Warnings{cs: cs, r: r, raiser: raiser, cfg: cfg, reasons: map[string]bool{}, exclude: map[string]bool{}}
	for _, reason := range cfg.Reasons {
		reason = strings.TrimSpace(reason)
		if reason == "" || reason == "*" || strings.ContainsAny(reason, " ,") || strings.Contains(strings.TrimSuffix(reason, "*"), "*") {
			return nil, fmt.Errorf("event reason %q is not a reason (one word, such as BackOff, or a prefix ending in *, such as OutOf*); list them comma-separated in --event-reasons", reason)
		}
		if p, ok := strings.CutSuffix(reason, "*"); ok {
			w.prefixes = append(w.prefixes, p)
			continue
		}
		w.reasons[reason] = true
	}
	for _, ns := range cfg.ExcludeNamespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("excluded namespace %q is not a namespace name: %s", ns, errs[0])
		}
		w.exclude[ns] = true
	}
	return w, nil
}

// NeedLeaderElection is true: one replica watches, so each event is raised once.
func (w *Warnings) NeedLeaderElection() bool { return true }

// Start watches until ctx ends. Events last seen before the start minus the window are ignored.
func (w *Warnings) Start(ctx context.Context) error {
	w.start = time.Now()
	sel := fields.OneTermEqualSelector("type", corev1.EventTypeWarning).String()
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (k8sruntime.Object, error) {
			o.FieldSelector = sel
			return w.cs.CoreV1().Events(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return w.cs.CoreV1().Events(metav1.NamespaceAll).Watch(ctx, o)
		},
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if ev, ok := obj.(*corev1.Event); ok {
				w.handle(ctx, ev, nil)
			}
		},
		UpdateFunc: func(old, obj any) {
			prev, ok1 := old.(*corev1.Event)
			ev, ok2 := obj.(*corev1.Event)
			if ok1 && ok2 {
				w.handle(ctx, ev, prev)
			}
		},
	}
	if w.cfg.Informers != nil {
		inf, err := w.cfg.Informers.GetInformer(ctx, &corev1.Event{})
		if err != nil {
			return fmt.Errorf("watching Warning events in the shared cache: %w", err)
		}
		reg, err := inf.AddEventHandler(handler)
		if err != nil {
			return fmt.Errorf("watching Warning events: %w", err)
		}
		<-ctx.Done()
		return inf.RemoveEventHandler(reg)
	}
	inf := toolscache.NewSharedIndexInformer(lw, &corev1.Event{}, 0, toolscache.Indexers{})
	if _, err := inf.AddEventHandler(handler); err != nil {
		return fmt.Errorf("watching Warning events: %w", err)
	}
	inf.RunWithContext(ctx)
	return nil
}

// countOf is how many times ev happened: its series count, else its count, at least 1.
func countOf(ev *corev1.Event) int64 {
	n := int64(ev.Count)
	if ev.Series != nil && int64(ev.Series.Count) > n {
		n = int64(ev.Series.Count)
	}
	return max(n, 1)
}

// LastSeen is when ev last happened: the latest of its lastTimestamp, its series' last
// observation and its eventTime, else when it was created.
func LastSeen(ev *corev1.Event) time.Time {
	t := ev.LastTimestamp.Time
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	if ev.EventTime.After(t) {
		t = ev.EventTime.Time
	}
	if t.IsZero() {
		t = ev.CreationTimestamp.Time
	}
	return t
}

// handle raises ev: once when new (and not history), by the rise of its count when updated.
func (w *Warnings) handle(ctx context.Context, ev *corev1.Event, prev *corev1.Event) {
	if ev.Type != corev1.EventTypeWarning || !w.watches(ev.Reason) || w.exclude[ev.Namespace] || w.exclude[ev.InvolvedObject.Namespace] {
		return
	}
	if ev.Reason == "Failed" && ev.InvolvedObject.Kind != "Pod" {
		// Failed is the kubelet's word for a pod's container; other components use it loosely.
		return
	}
	n := int64(1)
	if prev == nil {
		if LastSeen(ev).Before(w.start.Add(-w.cfg.Window)) {
			return
		}
	} else {
		n = countOf(ev) - countOf(prev)
		if n <= 0 {
			return
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s := w.signal(ctx, ev)
	s.Count = n
	if _, err := w.raiser.Raise(ctx, s); err != nil {
		w.cfg.Log.Error(err, "raising an Incident for a Warning event", "event", ev.Namespace+"/"+ev.Name, "reason", ev.Reason)
	}
}

// watches says whether reason raises Incidents: one of the reasons, or one a prefix covers.
func (w *Warnings) watches(reason string) bool {
	return w.reasons[reason] || slices.ContainsFunc(w.prefixes, func(p string) bool { return strings.HasPrefix(reason, p) })
}

// reasonClass groups reasons that are one problem, so that BackOff, CrashLoopBackOff and the
// kubelet's Failed (a container it could not pull, create or start, which it then backs off) of
// one workload make one Incident. The class is part of the fingerprint: "CrashLoop" stays as it
// was before Failed joined it.
func reasonClass(reason string) string {
	switch reason {
	case "BackOff", "CrashLoopBackOff", "Failed":
		return "CrashLoop"
	case "OOMKilling", "OOMKilled":
		return "OOM"
	default:
		return reason
	}
}

// signal is the signal ev raises, its target the workload that owns the object it is about (the
// pod's or ReplicaSet's Deployment, the Job's CronJob...); the object itself stays in the summary
// and the labels involvedKind/involvedName.
func (w *Warnings) signal(ctx context.Context, ev *corev1.Event) dedup.Signal {
	io := ev.InvolvedObject
	target := w.owner(ctx, io)
	labels := map[string]string{"reason": ev.Reason, "involvedKind": io.Kind, "involvedName": io.Name}
	if io.Namespace != "" {
		labels["involvedNamespace"] = io.Namespace
	}
	if ev.Source.Component != "" {
		labels["component"] = ev.Source.Component
	}
	if ev.Source.Host != "" {
		labels["host"] = ev.Source.Host
	}
	var where string
	if target != nil {
		if target.Namespace != "" {
			labels["namespace"] = target.Namespace
		}
		if target.Kind == "Node" {
			labels["node"] = target.Name
		}
		where = describe(target.Kind, target.Namespace, target.Name)
	}
	summary := fmt.Sprintf("%s on %s", ev.Reason, describe(io.Kind, io.Namespace, io.Name))
	if target != nil && (target.Kind != io.Kind || target.Name != io.Name) {
		summary += " (" + where + ")"
	}
	if msg := strings.TrimSpace(ev.Message); msg != "" {
		summary += ": " + msg
	}
	sev := opsv1.SeverityWarning
	if ev.Reason == "NodeNotReady" {
		sev = opsv1.SeverityCritical
	}
	fpParts := []string{"event", reasonClass(ev.Reason), io.Kind, io.Namespace, io.Name}
	if target != nil {
		fpParts = []string{"event", reasonClass(ev.Reason), target.Kind, target.Namespace, target.Name}
	}
	return dedup.Signal{
		Source:      opsv1.SourceEvent,
		Name:        ev.Reason,
		Labels:      labels,
		Severity:    sev,
		Summary:     summary,
		Target:      target,
		Fingerprint: dedup.Hash(fpParts...),
		Time:        LastSeen(ev),
	}
}

func describe(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// owner is the object an event's involved object stands for: the workload a person owns, found
// by following controller ownerReferences to the top (owners.Top): a Pod's Deployment (through
// its ReplicaSet), a ReplicaSet's Deployment, a Job's CronJob, a pod's StatefulSet, DaemonSet or
// custom controller (JobSet, LeaderWorkerSet...); a Node as itself; anything else, or an object
// that cannot be read, as itself.
func (w *Warnings) owner(ctx context.Context, io corev1.ObjectReference) *opsv1.TargetReference {
	if io.Kind == "" || io.Name == "" || !validKind(io.Kind) {
		return nil
	}
	if io.Kind == "Node" {
		return &opsv1.TargetReference{APIVersion: "v1", Kind: "Node", Name: io.Name}
	}
	self := opsv1.TargetReference{APIVersion: io.APIVersion, Kind: io.Kind, Namespace: io.Namespace, Name: io.Name}
	if io.Namespace == "" {
		return &self
	}
	top := owners.Top(ctx, w.r, self)
	if !validKind(top.Kind) || len(top.Name) > 253 {
		return &self
	}
	if top.Kind == self.Kind && top.Name == self.Name {
		// Keep the event's own apiVersion (empty stays empty, as before).
		return &self
	}
	return &top
}

func validKind(k string) bool {
	if k == "" || len(k) > 63 || k[0] < 'A' || k[0] > 'Z' {
		return false
	}
	return !slices.ContainsFunc([]rune(k), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
}
