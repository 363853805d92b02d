// Package dedup is the de-duplicating Incident writer the triggers raise Incidents through: a
// Signal (an alert, a Warning event, a GPU XID) with a fingerprint either creates an Incident or,
// while an Incident with that fingerprint is open or finished for less than the cooldown, raises
// that Incident's status.count and status.lastSeen. Concurrent signals with one fingerprint are
// coalesced in memory — one lookup, at most one creation — and their counts are written in
// batches with a merge patch of only status.count, status.firstSeen and status.lastSeen. A Warning
// event about a workload that an open event Incident is already about (label opsmesh.dev/target)
// counts into that Incident, whatever its reason: one workload's problem is one Incident.
//
// It owns an Incident's metadata, spec and those three status fields, and nothing else: it never
// sets status.phase or any other status field (the incident orchestrator does), and it never
// reads alerts or events itself (the alertmanager and events packages do).
package dedup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Labels and annotations the writer puts on the Incidents it creates.
const (
	// LabelSource is the source type: alertmanager or event.
	LabelSource = "opsmesh.dev/source"
	// LabelFingerprint is spec.fingerprint, so that repeats find their Incident by label.
	LabelFingerprint = "opsmesh.dev/fingerprint"
	// AnnotationResolvedAt is set (RFC 3339) when Alertmanager says the alert is resolved.
	AnnotationResolvedAt = "opsmesh.dev/resolved-at"
	// LabelTarget is TargetHash of spec.target, so that an event about a workload finds the
	// Incident already open about it.
	LabelTarget = "opsmesh.dev/target"
)

// DefaultCopyLabels are the signal labels copied onto an Incident's labels (when they are valid
// label values), so that a coordinator's incidentSelector can match them.
var DefaultCopyLabels = []string{"alertname", "severity", "namespace", "team", "service", "cluster", "reason", "node", "xid", "simulated"}

// Config configures a Writer.
type Config struct {
	// DefaultNamespace receives Incidents whose signal names no namespace and whose target is
	// cluster-scoped (a Node) or absent. Required.
	DefaultNamespace string
	// Cooldown is how long after an Incident is finished (Resolved, Escalated, Failed) a repeat
	// still counts into it instead of raising a new Incident. Default 10m.
	Cooldown time.Duration
	// FlushInterval is how often accumulated counts are written. Default 250ms.
	FlushInterval time.Duration
	// Recheck is how long the writer trusts what it knows of a fingerprint's Incident (its
	// name and phase) before a repeat looks it up again. Default 1s.
	Recheck time.Duration
	// CopyLabels are the signal labels copied onto the Incident's labels. Default
	// DefaultCopyLabels.
	CopyLabels []string
	// Log records flush failures and re-creations; default discards.
	Log logr.Logger
}

// Result says what a signal did.
type Result struct {
	// Incident is the Incident the signal was counted in.
	Incident types.NamespacedName
	// Fingerprint is the fingerprint the signal was de-duplicated by.
	Fingerprint string
	// Created is true for the signal that created the Incident.
	Created bool
}

// Writer raises Incidents from signals, de-duplicated by fingerprint. Run Start (it is a
// controller-runtime Runnable that needs no leader election) so that counts are written.
type Writer struct {
	c   client.Client
	r   client.Reader
	cfg Config

	flushMu  sync.Mutex // one flush at a time: each reads a count and writes it plus its batch
	mu       sync.Mutex
	entries  map[string]*entry // by namespace/fingerprint
	pending  map[types.NamespacedName]*tally
	stopped  bool
	inflight sync.WaitGroup
}

// entry is what the writer knows of one fingerprint's Incident.
type entry struct {
	ready              chan struct{} // closed when resolved
	done               bool
	err                error
	key                types.NamespacedName
	created            bool
	terminal           bool
	terminalSince      time.Time
	checked, lastRaise time.Time
}

// tally is the count not yet written to one Incident.
type tally struct {
	n           int64
	first, last time.Time
	sig         Signal // the latest signal, to raise again should the Incident be deleted
}

// New returns a Writer that writes with c and reads with r (an uncached reader, such as a
// manager's APIReader, so that a just-created Incident is always seen).
func New(c client.Client, r client.Reader, cfg Config) (*Writer, error) {
	if cfg.DefaultNamespace == "" {
		return nil, errors.New("incident writer: the default namespace is empty: name the namespace for Incidents about nodes and alerts without a namespace (--incident-namespace)")
	}
	if errs := validation.IsDNS1123Label(cfg.DefaultNamespace); len(errs) > 0 {
		return nil, fmt.Errorf("incident writer: default namespace %q is not a namespace name: %s", cfg.DefaultNamespace, errs[0])
	}
	if cfg.Cooldown < 0 {
		return nil, fmt.Errorf("incident writer: cooldown %s is negative; use 0 for none or a duration such as 10m", cfg.Cooldown)
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = 10 * time.Minute
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 250 * time.Millisecond
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = time.Second
	}
	if cfg.CopyLabels == nil {
		cfg.CopyLabels = DefaultCopyLabels
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = logr.Discard()
	}
	return &Writer{c: c, r: r, cfg: cfg, entries: map[string]*entry{}, pending: map[types.NamespacedName]*tally{}}, nil
}

// Cooldown is the writer's cooldown.
func (w *Writer) Cooldown() time.Duration { return w.cfg.Cooldown }

// errStopped is returned by Raise after Start has returned.
var errStopped = errors.New("incident writer stopped: the controller is shutting down; the sender should retry")

// Raise counts s into the Incident of its fingerprint, creating that Incident when none is open
// or within the cooldown. It returns once the Incident is known; the count is written with the
// next flush. A signal that cannot make a valid Incident is refused, changing nothing.
func (w *Writer) Raise(ctx context.Context, s Signal) (Result, error) {
	s, fp, ns, err := w.normalize(s)
	if err != nil {
		return Result{}, err
	}
	n := s.Count
	if n <= 0 {
		n = 1
	}
	k := ns + "/" + fp
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return Result{}, errStopped
	}
	w.inflight.Add(1)
	w.mu.Unlock()
	defer w.inflight.Done()

	for attempt := 0; ; attempt++ {
		now := time.Now()
		w.mu.Lock()
		e := w.entries[k]
		if e != nil && e.done && (e.err != nil || w.stale(e, now)) {
			e = nil
		}
		mine := e == nil
		if mine {
			e = &entry{ready: make(chan struct{})}
			w.entries[k] = e
		}
		w.mu.Unlock()
		if mine {
			w.resolve(ctx, e, s, fp, ns)
		} else {
			select {
			case <-e.ready:
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		}
		w.mu.Lock()
		if e.err != nil {
			err := e.err
			if w.entries[k] == e {
				delete(w.entries, k)
			}
			w.mu.Unlock()
			if mine || attempt >= 2 || ctx.Err() != nil {
				return Result{}, err
			}
			continue // the signal that resolved failed (its own context, perhaps): try ourselves
		}
		t := w.pending[e.key]
		if t == nil {
			t = &tally{first: s.Time}
			w.pending[e.key] = t
		}
		t.n += n
		if s.Time.Before(t.first) {
			t.first = s.Time
		}
		if s.Time.After(t.last) {
			t.last = s.Time
		}
		t.sig = s
		e.lastRaise = now
		res := Result{Incident: e.key, Fingerprint: fp, Created: mine && e.created}
		w.mu.Unlock()
		return res, nil
	}
}

// Resolved records on the Incident of s's fingerprint, when one is open or within the cooldown,
// that the alert was resolved (annotation opsmesh.dev/resolved-at). It creates nothing; found is
// false when there was no such Incident.
func (w *Writer) Resolved(ctx context.Context, s Signal) (res Result, found bool, err error) {
	s, fp, ns, err := w.normalize(s)
	if err != nil {
		return Result{}, false, err
	}
	var inc *opsv1.Incident
	for _, n := range []string{ns, w.cfg.DefaultNamespace} {
		var list opsv1.IncidentList
		if err := w.r.List(ctx, &list, client.InNamespace(n), client.MatchingLabels{LabelFingerprint: fp}); err != nil {
			return Result{}, false, fmt.Errorf("looking up Incidents with fingerprint %s in namespace %s: %w", fp, n, err)
		}
		if inc = w.current(list.Items, time.Now()); inc != nil || n == w.cfg.DefaultNamespace {
			break
		}
	}
	if inc == nil {
		return Result{Fingerprint: fp}, false, nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationResolvedAt: s.Time.UTC().Format(time.RFC3339)}}})
	if err := w.c.Patch(ctx, inc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return Result{}, false, fmt.Errorf("marking Incident %s/%s resolved: %w", inc.Namespace, inc.Name, err)
	}
	return Result{Incident: client.ObjectKeyFromObject(inc), Fingerprint: fp}, true, nil
}

// stale says whether a repeat must look the fingerprint's Incident up again: what the writer
// knows is old, or the Incident finished more than the cooldown ago.
func (w *Writer) stale(e *entry, now time.Time) bool {
	return now.Sub(e.checked) > w.cfg.Recheck || (e.terminal && now.Sub(e.terminalSince) >= w.cfg.Cooldown)
}

// normalize checks s and fills in its defaults, fingerprint and namespace.
func (w *Writer) normalize(s Signal) (Signal, string, string, error) {
	switch s.Source {
	case opsv1.SourceAlertmanager, opsv1.SourceEvent, opsv1.SourceManual:
	default:
		return s, "", "", fmt.Errorf("signal %q: source %q is not alertmanager, event or manual", s.Name, s.Source)
	}
	if s.Target != nil {
		t := *s.Target
		if t.Kind == "" || t.Name == "" {
			return s, "", "", fmt.Errorf("signal %q: target %s/%s needs both a kind and a name", s.Name, t.Kind, t.Name)
		}
		if len(t.Name) > 253 || len(t.Kind) > 63 || len(t.Namespace) > 63 || len(t.APIVersion) > 253 {
			return s, "", "", fmt.Errorf("signal %q: target %s %s is too long for an Incident's target", s.Name, t.Kind, t.Name)
		}
		s.Target = &t
	}
	ns := s.Namespace
	if ns == "" && s.Target != nil {
		ns = s.Target.Namespace
	}
	if ns == "" {
		ns = w.cfg.DefaultNamespace
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return s, "", "", fmt.Errorf("signal %q: namespace %q is not a namespace name: %s", s.Name, ns, errs[0])
	}
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	return s, fingerprintOf(s), ns, nil
}

// resolve finds or creates the Incident for e and wakes those waiting on it.
func (w *Writer) resolve(ctx context.Context, e *entry, s Signal, fp, ns string) {
	inc, created, err := w.lookupOrCreate(ctx, s, fp, ns)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	e.err, e.done, e.checked, e.lastRaise = err, true, now, now
	if err == nil {
		e.key, e.created = client.ObjectKeyFromObject(inc), created
		e.terminal, e.terminalSince = inc.Status.Phase.Terminal(), terminalSince(inc)
	}
	close(e.ready)
}

// lookupOrCreate returns the live Incident with fingerprint fp in ns, or creates one. Its names
// are derived from the fingerprint and how many Incidents had it before, so two replicas that
// race to create the same Incident pick the same name and one of them finds the other's.
func (w *Writer) lookupOrCreate(ctx context.Context, s Signal, fp, ns string) (*opsv1.Incident, bool, error) {
	var list opsv1.IncidentList
	if err := w.r.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{LabelFingerprint: fp}); err != nil {
		return nil, false, fmt.Errorf("looking up Incidents with fingerprint %s in namespace %s: %w", fp, ns, err)
	}
	if inc := w.current(list.Items, time.Now()); inc != nil {
		return inc, false, nil
	}
	if inc, err := w.openAbout(ctx, s, ns); err != nil || inc != nil {
		return inc, false, err
	}
	for i := 0; i < 4; i++ {
		inc := w.newIncident(s, fp, ns, len(list.Items)+i)
		if i == 3 {
			inc.GenerateName, inc.Name = baseName(s)+"-", ""
		}
		err := w.c.Create(ctx, inc)
		if err == nil {
			return inc, true, nil
		}
		if apierrors.IsNotFound(err) && ns != w.cfg.DefaultNamespace {
			// The namespace does not exist (an alert's namespace label from elsewhere, or a
			// namespace being deleted): the Incident goes to the default namespace instead.
			w.cfg.Log.Info("namespace not found; raising the Incident in the default namespace", "namespace", ns, "defaultNamespace", w.cfg.DefaultNamespace, "fingerprint", fp)
			return w.lookupOrCreate(ctx, s, fp, w.cfg.DefaultNamespace)
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("creating Incident %s/%s for %s %q (fingerprint %s): %w", ns, inc.Name, s.Source, s.Name, fp, err)
		}
		var other opsv1.Incident
		if err := w.r.Get(ctx, client.ObjectKeyFromObject(inc), &other); err != nil {
			continue
		}
		if other.Spec.Fingerprint == fp && w.current([]opsv1.Incident{other}, time.Now()) != nil {
			return &other, false, nil // another replica created it first
		}
	}
	return nil, false, fmt.Errorf("creating an Incident in %s for fingerprint %s: every name tried was taken", ns, fp)
}

// openAbout is the newest open Incident in ns that a Warning event raised about s's target, for
// an event signal with a target: events of another reason about the same workload (its pods
// crashloop, its ReplicaSet may not create pods) are one problem of that workload, counted into
// one Incident rather than raising a second. Nil when there is none; alerts are not folded, as
// each alert's Incident keeps its own resolution.
func (w *Writer) openAbout(ctx context.Context, s Signal, ns string) (*opsv1.Incident, error) {
	if s.Source != opsv1.SourceEvent || s.Target == nil {
		return nil, nil
	}
	var list opsv1.IncidentList
	if err := w.r.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{LabelTarget: TargetHash(*s.Target), LabelSource: string(opsv1.SourceEvent)}); err != nil {
		return nil, fmt.Errorf("looking up open Incidents about %s %s/%s in namespace %s: %w", s.Target.Kind, s.Target.Namespace, s.Target.Name, ns, err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[j].CreationTimestamp.Before(&list.Items[i].CreationTimestamp)
	})
	for i := range list.Items {
		inc := &list.Items[i]
		t := inc.Spec.Target
		if inc.DeletionTimestamp != nil || inc.Status.Phase.Terminal() || t == nil ||
			t.Kind != s.Target.Kind || t.Namespace != s.Target.Namespace || t.Name != s.Target.Name {
			continue
		}
		return inc, nil
	}
	return nil, nil
}

// current is the newest of items that is open, or finished less than the cooldown ago.
func (w *Writer) current(items []opsv1.Incident, now time.Time) *opsv1.Incident {
	sort.Slice(items, func(i, j int) bool {
		return items[j].CreationTimestamp.Before(&items[i].CreationTimestamp)
	})
	for i := range items {
		inc := &items[i]
		if inc.DeletionTimestamp != nil {
			continue
		}
		if !inc.Status.Phase.Terminal() || now.Sub(terminalSince(inc)) < w.cfg.Cooldown {
			return inc
		}
	}
	return nil
}

// terminalSince is when inc entered its (terminal) phase: the last timeline entry for that
// phase, else its latest condition change, else when it was last seen or created.
func terminalSince(inc *opsv1.Incident) time.Time {
	for i := len(inc.Status.Timeline) - 1; i >= 0; i-- {
		if e := inc.Status.Timeline[i]; e.Phase == inc.Status.Phase {
			return e.Time.Time
		}
	}
	var t time.Time
	for _, c := range inc.Status.Conditions {
		if c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime.Time
		}
	}
	if t.IsZero() && inc.Status.LastSeen != nil {
		t = inc.Status.LastSeen.Time
	}
	if t.IsZero() {
		t = inc.CreationTimestamp.Time
	}
	return t
}

// newIncident is the Incident s raises, the n-th with fingerprint fp.
func (w *Writer) newIncident(s Signal, fp, ns string, n int) *opsv1.Incident {
	labels := map[string]string{LabelSource: string(s.Source), LabelFingerprint: fp}
	if s.Target != nil {
		labels[LabelTarget] = TargetHash(*s.Target)
	}
	for _, k := range w.cfg.CopyLabels {
		v, ok := s.Labels[k]
		if !ok || v == "" || len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			continue
		}
		labels[k] = v
	}
	summary := s.Summary
	if summary == "" {
		summary = s.Name
	}
	if summary == "" {
		summary = string(s.Source) + " signal " + fp
	}
	var srcLabels map[string]string
	if len(s.Labels) > 0 {
		keys := make([]string, 0, len(s.Labels))
		for k := range s.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 64 {
			keys = keys[:64]
		}
		srcLabels = make(map[string]string, len(keys))
		for _, k := range keys {
			srcLabels[k] = truncate(s.Labels[k], 1024)
		}
	}
	return &opsv1.Incident{
		ObjectMeta: metav1.ObjectMeta{
			Name:      baseName(s) + "-" + Hash(fp, fmt.Sprint(n))[:5],
			Namespace: ns,
			Labels:    labels,
		},
		Spec: opsv1.IncidentSpec{
			Summary:     truncate(summary, 1024),
			Severity:    severityOf(s.Severity),
			Source:      opsv1.IncidentSource{Type: s.Source, Name: truncate(s.Name, 253), Labels: srcLabels},
			Target:      s.Target,
			Fingerprint: fp,
		},
	}
}

// Start writes accumulated counts every FlushInterval until ctx ends, then refuses new signals,
// waits for those in flight and writes what is left.
func (w *Writer) Start(ctx context.Context) error {
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := w.Flush(ctx); err != nil && ctx.Err() == nil {
				w.cfg.Log.Error(err, "writing incident counts; retrying with the next flush")
			}
		case <-ctx.Done():
			w.mu.Lock()
			w.stopped = true
			w.mu.Unlock()
			w.inflight.Wait()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := w.Flush(fctx); err != nil {
				return fmt.Errorf("writing incident counts on shutdown: %w", err)
			}
			return nil
		}
	}
}

// NeedLeaderElection is false: every replica may receive alerts and must write their counts.
func (w *Writer) NeedLeaderElection() bool { return false }

// Flush writes the counts accumulated so far. Counts it could not write are kept for the next
// flush.
func (w *Writer) Flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	p := w.pending
	w.pending = map[types.NamespacedName]*tally{}
	w.mu.Unlock()
	var errs []error
	for key, t := range p {
		if err := w.flushOne(ctx, key, t); err != nil {
			errs = append(errs, err)
			w.mu.Lock()
			if cur := w.pending[key]; cur != nil {
				cur.n += t.n
				if t.first.Before(cur.first) {
					cur.first = t.first
				}
				if t.last.After(cur.last) {
					cur.last = t.last
				}
			} else {
				w.pending[key] = t
			}
			w.mu.Unlock()
		}
	}
	w.evict(time.Now())
	return errors.Join(errs...)
}

// flushOne adds t to the Incident at key.
func (w *Writer) flushOne(ctx context.Context, key types.NamespacedName, t *tally) error {
	var inc opsv1.Incident
	err := w.r.Get(ctx, key, &inc)
	if apierrors.IsNotFound(err) {
		// Deleted while counted: forget it and raise the counts again, creating a new one.
		w.mu.Lock()
		for k, e := range w.entries {
			if e.done && e.key == key {
				delete(w.entries, k)
			}
		}
		w.mu.Unlock()
		w.cfg.Log.Info("Incident deleted while its repeats were counted; raising a new one", "incident", key.String(), "count", t.n)
		s := t.sig
		s.Count, s.Time = t.n, t.last
		_, err := w.Raise(ctx, s)
		return err
	}
	if err != nil {
		return fmt.Errorf("reading Incident %s to add %d repeats: %w", key, t.n, err)
	}
	var p struct {
		Status struct {
			Count     int64        `json:"count"`
			FirstSeen *metav1.Time `json:"firstSeen,omitempty"`
			LastSeen  *metav1.Time `json:"lastSeen,omitempty"`
		} `json:"status"`
	}
	p.Status.Count = inc.Status.Count + t.n
	if inc.Status.FirstSeen == nil {
		p.Status.FirstSeen = &metav1.Time{Time: t.first}
	}
	last := metav1.NewTime(t.last)
	if inc.Status.LastSeen != nil && inc.Status.LastSeen.After(t.last) {
		last = *inc.Status.LastSeen
	}
	p.Status.LastSeen = &last
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := w.c.Status().Patch(ctx, &inc, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("adding %d repeats to Incident %s: %w", t.n, key, err)
	}
	now := time.Now()
	w.mu.Lock()
	for _, e := range w.entries {
		if e.done && e.err == nil && e.key == key {
			e.checked, e.terminal, e.terminalSince = now, inc.Status.Phase.Terminal(), terminalSince(&inc)
		}
	}
	w.mu.Unlock()
	return nil
}

// evict forgets fingerprints not seen for a cooldown; a later repeat looks its Incident up again.
func (w *Writer) evict(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, e := range w.entries {
		if e.done && now.Sub(e.lastRaise) > w.cfg.Cooldown+w.cfg.Recheck {
			delete(w.entries, k)
		}
	}
}
