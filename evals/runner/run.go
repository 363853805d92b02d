package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
	"github.com/opsmesh/opsmesh/evals/scenario"
)

// attempt is one run of one scenario.
type attempt struct {
	r     *runner
	s     *scenario.Scenario
	ns    string
	start time.Time
	res   *Result

	coordinator string
	// created are objects to delete afterwards (outside the namespace, which goes as a whole).
	created []*unstructured.Unstructured
	// cordons are the nodes' spec.unschedulable before the scenario.
	cordons map[string]bool
	faulted []string
	// decided are the actions the runner approved or rejected.
	decided map[string]opsv1.ApprovalDecision
	// early watches, during setup, for the Incident the platform raises by itself.
	early     *sighting
	stopEarly func()
}

// sighting is what a watch during setup saw of the platform's Incident: the last look that did
// not find it, and when its diagnosis was first seen.
type sighting struct {
	mu                  sync.Mutex
	lastMiss, diagnosed time.Time
	done                chan struct{}
}

// run runs one attempt of s and scores it.
func (r *runner) run(ctx context.Context, s *scenario.Scenario, n int) Result {
	res := Result{Scenario: s.Name, Dir: s.Dir, Attempt: n, Area: s.Tags.Area, Difficulty: s.Tags.Difficulty,
		Namespace: namespaceFor(r.cfg.Run, nameOf(s.Dir), n)}
	a := &attempt{r: r, s: s, ns: res.Namespace, start: time.Now(), res: &res, cordons: map[string]bool{}, decided: map[string]opsv1.ApprovalDecision{}}
	if why := a.cannotRun(); why != "" {
		res.Skipped = why
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, s.TimeoutOr())
	defer cancel()
	defer a.cleanup()
	if err := a.prepare(ctx); err != nil {
		res.Problem = err.Error()
		return res
	}
	if s.Incident.Platform {
		stop := a.watchEarly(ctx)
		defer stop()
		if err := a.setup(ctx); err != nil {
			res.Problem = "setup: " + err.Error()
			return res
		}
	} else if err := a.setup(ctx); err != nil {
		res.Problem = "setup: " + err.Error()
		return res
	}
	if err := a.verifyCanFail(ctx); err != nil {
		res.Problem = err.Error()
		return res
	}
	if err := a.inject(ctx); err != nil {
		res.Problem = "setup: " + err.Error()
		return res
	}
	raised, err := a.raise(ctx)
	if err != nil {
		res.Problem = "raising the incident: " + err.Error()
		return res
	}
	if a.early != nil {
		a.stopEarly()
	}
	inc, err := a.follow(ctx, raised)
	if inc != nil {
		fill(&res, inc, a.decided)
	}
	if err != nil {
		res.Problem = err.Error()
	}
	if inc == nil {
		return res
	}
	score(&res, s, inc, func(c scenario.Check) string {
		vctx, vcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer vcancel()
		return a.holds(vctx, c)
	}, r.cfg.VerifyWait)
	res.Took = time.Since(a.start)
	return res
}

// verifyCanFail checks, before the GPU faults and events go in (the platform may act on them at
// once, under policy Auto) and so before any remediation, that a scenario that expects a
// remediation has a verify check that does not hold yet: checks that already hold cannot tell a
// fix from no fix.
func (a *attempt) verifyCanFail(ctx context.Context) error {
	if len(a.s.Expect.Remediation) == 0 || len(a.s.Verify) == 0 {
		return nil
	}
	for _, c := range a.s.Verify {
		if a.holds(ctx, c) != "" {
			return nil
		}
	}
	return fmt.Errorf("scenario defect: every verify check already holds before any remediation, so they cannot tell whether the fix worked; check a state the fault changes (%d checks)", len(a.s.Verify))
}

// cannotRun says why the scenario cannot run on this cluster ("" when it can).
func (a *attempt) cannotRun() string {
	if len(a.s.Setup.GPUFaults) > 0 && a.r.cfg.Faults == nil {
		return "needs simulated GPU faults: only the sandbox's simulated GPU node agents take them (opsmesh sandbox up)"
	}
	if a.s.Incident.Alert != nil && a.r.cfg.Webhook == nil {
		return "needs the platform's Alertmanager webhook (the sandbox's is in its state.json; else pass --webhook-url and --webhook-token-file)"
	}
	return ""
}

// prepare creates the scenario's namespace and coordinator.
func (a *attempt) prepare(ctx context.Context) error {
	c := a.r.c
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.ns, Labels: a.labels()}}
	if err := c.Create(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", a.ns, err)
	}
	base := a.r.base
	a.coordinator = namespaceFor(a.r.cfg.Run, a.s.Name, a.res.Attempt)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"namespace": a.ns}}
	if t := a.s.Incident.Target; t.Kind == "Node" {
		sel = &metav1.LabelSelector{MatchLabels: map[string]string{"node": t.Name}}
	}
	mode := a.s.Remediation.Mode
	if mode == "" {
		mode = opsv1.RemediationApprovalRequired
	}
	rem := &opsv1.RemediationPolicy{Mode: mode, MaxActions: ptr.To[int32](5)}
	if base.Spec.Remediation != nil && base.Spec.Remediation.MaxActions != nil {
		rem.MaxActions = base.Spec.Remediation.MaxActions
	}
	model := base.Spec.Model.DeepCopy()
	if m := a.r.cfg.Model; m != nil {
		if model == nil || model.Provider != m.Provider {
			model = &opsv1.ModelSpec{Provider: m.Provider}
		}
		model.Model = m.Model
		if m.BaseURL != "" {
			model.BaseURL = m.BaseURL
		}
		if m.APIKeySecretRef != nil {
			model.APIKeySecretRef = m.APIKeySecretRef
		}
	}
	ag := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: a.r.cfg.AgentNamespace, Name: a.coordinator, Labels: a.labels()},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator,
			Description: fmt.Sprintf("opsmesh eval %s: scenario %s (a copy of %s)", a.r.cfg.Run, a.s.Name, base.Name),
			Model:       model, Tools: base.Spec.Tools, Delegates: base.Spec.Delegates, Skills: base.Spec.Skills,
			Instructions: base.Spec.Instructions, Limits: base.Spec.Limits, IncidentSelector: sel, Remediation: rem}}
	if err := c.Create(ctx, ag); err != nil {
		return fmt.Errorf("creating the scenario's coordinator Agent %s/%s: %w", ag.Namespace, ag.Name, err)
	}
	return a.wait(ctx, "coordinator Agent "+ag.Namespace+"/"+ag.Name+" to be Ready", func() (bool, error) {
		var cur opsv1.Agent
		if err := c.Get(ctx, client.ObjectKeyFromObject(ag), &cur); err != nil {
			return false, err
		}
		return apimeta.IsStatusConditionTrue(cur.Status.Conditions, opsv1.ConditionReady), nil
	})
}

func (a *attempt) labels() map[string]string {
	return map[string]string{RunLabel: a.r.cfg.Run, ScenarioLabel: a.s.Name}
}

// setup does what the scenario's setup says, in order, up to the GPU faults and events.
func (a *attempt) setup(ctx context.Context) error {
	c := a.r.c
	if err := a.recordCordons(ctx); err != nil {
		return err
	}
	for i, o := range a.s.Setup.Objects {
		u := o.Unstructured()
		if err := a.place(u); err != nil {
			return fmt.Errorf("objects[%d]: %w", i, err)
		}
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range a.labels() {
			labels[k] = v
		}
		u.SetLabels(labels)
		if err := c.Create(ctx, u, client.FieldOwner(fieldSetup)); err != nil {
			return fmt.Errorf("creating %s: %w", describe(u), err)
		}
		if u.GetNamespace() != a.ns {
			a.created = append(a.created, u)
		}
	}
	if err := a.waitAll(ctx, "waitFor", a.s.Setup.WaitFor); err != nil {
		return err
	}
	for i, o := range a.s.Setup.Updates {
		u := o.Unstructured()
		if err := a.place(u); err != nil {
			return fmt.Errorf("updates[%d]: %w", i, err)
		}
		u.SetManagedFields(nil)
		u.SetResourceVersion("")
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner(fieldUpdate), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying update %s: %w", describe(u), err)
		}
	}
	for i, p := range a.s.Setup.Status {
		objs, err := a.pick(ctx, p.Ref)
		if err != nil {
			return fmt.Errorf("status[%d]: %w", i, err)
		}
		body, err := json.Marshal(map[string]any{"status": p.Status})
		if err != nil {
			return fmt.Errorf("status[%d]: %w", i, err)
		}
		for _, u := range objs {
			if err := c.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, body)); err != nil {
				return fmt.Errorf("status[%d]: patching the status of %s: %w", i, describe(u), err)
			}
		}
	}
	return a.waitAll(ctx, "settle", a.s.Setup.Settle)
}

// inject does the rest of setup: the GPU faults and the events, which the platform's triggers
// act on at once.
func (a *attempt) inject(ctx context.Context) error {
	for i, f := range a.s.Setup.GPUFaults {
		node := f.Node
		if node == "" {
			node = a.r.nodes["GPU_NODE"]
		}
		if node == "" {
			return fmt.Errorf("gpuFaults[%d]: no node given and the cluster has no simulated GPU node", i)
		}
		if !slices.Contains(a.faulted, node) {
			if err := a.staleNodeIncidents(ctx, node); err != nil {
				return err
			}
			a.faulted = append(a.faulted, node)
		}
		if err := a.r.cfg.Faults.SetGPUFaults(ctx, node, f.Faults()); err != nil {
			return fmt.Errorf("gpuFaults[%d]: GPU %d of node %s: %w", i, f.GPU, node, err)
		}
	}
	for i, e := range a.s.Setup.Events {
		if err := a.event(ctx, e); err != nil {
			return fmt.Errorf("events[%d]: %w", i, err)
		}
	}
	return nil
}

// staleNodeIncidents deletes the simulated Incidents an earlier run left on node: one still
// open would take this scenario's fault as a repeat.
func (a *attempt) staleNodeIncidents(ctx context.Context, node string) error {
	var l opsv1.IncidentList
	if err := a.r.c.List(ctx, &l, client.InNamespace(a.r.cfg.AgentNamespace), client.MatchingLabels{"node": node, "simulated": "true"}); err != nil {
		return fmt.Errorf("listing earlier simulated Incidents of node %s: %w", node, err)
	}
	for i := range l.Items {
		if err := a.r.c.Delete(ctx, &l.Items[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Incident %s/%s (simulated, of an earlier run): %w", l.Items[i].Namespace, l.Items[i].Name, err)
		}
	}
	return nil
}

// recordCordons remembers every node's spec.unschedulable, to restore it afterwards.
func (a *attempt) recordCordons(ctx context.Context) error {
	if !a.s.RunsAlone() {
		return nil
	}
	var nodes corev1.NodeList
	if err := a.r.c.List(ctx, &nodes); err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range nodes.Items {
		a.cordons[n.Name] = n.Spec.Unschedulable
	}
	return nil
}

// place fills in the object's namespace (the scenario's, for namespaced kinds without one).
func (a *attempt) place(u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	m, err := a.r.c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: the cluster does not serve this kind (is its CRD installed?): %w", describe(u), err)
	}
	if m.Scope.Name() == "namespace" && u.GetNamespace() == "" {
		u.SetNamespace(a.ns)
	}
	return nil
}

// gvkOf resolves a Ref's kind (apiVersion may be left out for built-in kinds).
func (a *attempt) gvkOf(r scenario.Ref) (schema.GroupVersionKind, bool, error) {
	var gvk schema.GroupVersionKind
	if r.APIVersion != "" {
		gv, err := schema.ParseGroupVersion(r.APIVersion)
		if err != nil {
			return gvk, false, fmt.Errorf("%s: apiVersion %q: %w", r, r.APIVersion, err)
		}
		gvk = gv.WithKind(r.Kind)
	} else {
		gv, ok := builtinKinds[r.Kind]
		if !ok {
			return gvk, false, fmt.Errorf("%s: give its apiVersion (only built-in kinds may leave it out)", r)
		}
		gvk = schema.FromAPIVersionAndKind(gv, r.Kind)
	}
	m, err := a.r.c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return gvk, false, fmt.Errorf("%s: the cluster does not serve %s: %w", r, gvk, err)
	}
	return gvk, m.Scope.Name() == "namespace", nil
}

var builtinKinds = map[string]string{
	"Pod": "v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1", "Node": "v1", "Endpoints": "v1", "Event": "v1",
	"PersistentVolumeClaim": "v1", "PersistentVolume": "v1", "ResourceQuota": "v1", "LimitRange": "v1", "ServiceAccount": "v1", "Namespace": "v1",
	"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
	"Job": "batch/v1", "CronJob": "batch/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
	"StorageClass": "storage.k8s.io/v1", "PodDisruptionBudget": "policy/v1", "NetworkPolicy": "networking.k8s.io/v1",
}

// pick returns the objects a Ref names, waiting until at least one exists.
func (a *attempt) pick(ctx context.Context, r scenario.Ref) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := a.wait(ctx, r.String()+" to exist", func() (bool, error) {
		var err error
		out, err = a.find(ctx, r)
		return len(out) > 0, err
	})
	return out, err
}

// find returns the objects a Ref names (none is not an error).
func (a *attempt) find(ctx context.Context, r scenario.Ref) ([]*unstructured.Unstructured, error) {
	gvk, namespaced, err := a.gvkOf(r)
	if err != nil {
		return nil, err
	}
	ns := r.Namespace
	if namespaced && ns == "" {
		ns = a.ns
	}
	if r.Name != "" {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := a.r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Name}, u); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading %s: %w", r, err)
		}
		return []*unstructured.Unstructured{u}, nil
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	opts := []client.ListOption{client.MatchingLabels(r.Selector)}
	if namespaced {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := a.r.c.List(ctx, l, opts...); err != nil {
		return nil, fmt.Errorf("listing %s: %w", r, err)
	}
	var out []*unstructured.Unstructured
	for i := range l.Items {
		if l.Items[i].GetDeletionTimestamp() == nil {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

// event records e on every object its ref picks.
func (a *attempt) event(ctx context.Context, e scenario.Event) error {
	objs, err := a.pick(ctx, e.Object)
	if err != nil {
		return err
	}
	for _, o := range objs {
		ns := o.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		typ := e.Type
		if typ == "" {
			typ = corev1.EventTypeWarning
		}
		count := e.Count
		if count <= 0 {
			count = 1
		}
		comp := e.Component
		if comp == "" {
			comp = "opsmesh-eval"
		}
		now := metav1.Now()
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, GenerateName: o.GetName() + ".", Labels: a.labels()},
			InvolvedObject: corev1.ObjectReference{APIVersion: o.GetAPIVersion(), Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), UID: o.GetUID()},
			Type:           typ, Reason: e.Reason, Message: e.Message, Count: count,
			FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: comp},
			ReportingController: comp, ReportingInstance: comp,
		}
		if err := a.r.c.Create(ctx, ev); err != nil {
			return fmt.Errorf("recording event %s on %s: %w", e.Reason, describe(o), err)
		}
		if ns != a.ns {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Event"))
			u.SetNamespace(ev.Namespace)
			u.SetName(ev.Name)
			a.created = append(a.created, u)
		}
	}
	return nil
}

// raise raises the incident and returns when it did.
func (a *attempt) raise(ctx context.Context) (time.Time, error) {
	in := a.s.Incident
	now := time.Now()
	switch {
	case in.Question != "":
		t, err := a.target(in.Target)
		if err != nil {
			return now, err
		}
		inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: a.incidentNamespace(), GenerateName: "eval-", Labels: a.labels()},
			Spec: opsv1.IncidentSpec{Summary: in.Question, Question: in.Question, Coordinator: a.coordinator, Target: t, Severity: opsv1.SeverityWarning,
				Source: opsv1.IncidentSource{Type: opsv1.SourceManual, Name: "opsmesh-eval"}}}
		if err := a.r.c.Create(ctx, inc); err != nil {
			return now, fmt.Errorf("creating the Incident: %w", err)
		}
	case in.Event != nil:
		if err := a.event(ctx, *in.Event); err != nil {
			return now, err
		}
	case in.Alert != nil:
		if err := a.alert(ctx, *in.Alert); err != nil {
			return now, err
		}
	}
	return now, nil
}

func (a *attempt) incidentNamespace() string {
	if a.s.Incident.Target.Kind == "Node" || scenario.ClusterScoped(a.s.Incident.Target.Kind) {
		return a.r.cfg.AgentNamespace
	}
	return a.ns
}

// target is the Incident's target for a Ref.
func (a *attempt) target(r scenario.Ref) (*opsv1.TargetReference, error) {
	gvk, namespaced, err := a.gvkOf(r)
	if err != nil {
		return nil, err
	}
	t := &opsv1.TargetReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: r.Name}
	if namespaced {
		t.Namespace = r.Namespace
		if t.Namespace == "" {
			t.Namespace = a.ns
		}
	}
	return t, nil
}

// alert posts one firing alert to the platform's Alertmanager webhook, as Alertmanager would.
func (a *attempt) alert(ctx context.Context, al scenario.Alert) error {
	wh := a.r.cfg.Webhook
	now := time.Now().UTC()
	body, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "opsmesh", "groupKey": "{}:{alertname=\"" + al.Labels["alertname"] + "\"}",
		"groupLabels": map[string]string{"alertname": al.Labels["alertname"]}, "commonLabels": al.Labels, "commonAnnotations": al.Annotations,
		"externalURL": "http://opsmesh-eval", "truncatedAlerts": 0,
		"alerts": []map[string]any{{"status": "firing", "labels": al.Labels, "annotations": al.Annotations,
			"startsAt": now.Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://opsmesh-eval/" + a.s.Name,
			"fingerprint": fingerprint(a.ns + al.Labels["alertname"])}},
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", wh.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if wh.Token != "" {
		req.Header.Set("Authorization", "Bearer "+wh.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting the alert to %s: %w", wh.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return fmt.Errorf("the webhook %s answered %s: %s", wh.URL, resp.Status, strings.TrimSpace(b.String()))
	}
	return nil
}

// fingerprint is a stable Alertmanager-style fingerprint (16 hex digits) of s.
func fingerprint(s string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64())
}

// follow finds the Incident about the target, decides its approvals, and returns it once it
// ended (or the context did). The diagnosis time is measured from raised.
func (a *attempt) follow(ctx context.Context, raised time.Time) (*opsv1.Incident, error) {
	t, err := a.target(a.s.Incident.Target)
	if err != nil {
		return nil, err
	}
	var inc *opsv1.Incident
	var last error
	if w := a.early; w != nil {
		// The platform raises it from what setup did, perhaps during setup: it is timed from the
		// last look that did not find it (an over-estimate by at most one poll).
		w.mu.Lock()
		raised = w.lastMiss
		if !w.diagnosed.IsZero() {
			a.res.TimeToDiagnosis = max(w.diagnosed.Sub(w.lastMiss), time.Millisecond)
		}
		w.mu.Unlock()
	}
	for {
		if inc == nil {
			before := time.Now()
			inc, last = a.findIncident(ctx, t)
			if inc == nil && a.s.Incident.Platform {
				raised = before
			}
		} else {
			var cur opsv1.Incident
			if err := a.r.c.Get(ctx, client.ObjectKeyFromObject(inc), &cur); err == nil {
				inc = &cur
			} else {
				last = err
			}
		}
		if inc != nil {
			if c := inc.Status.Coordinator; c != "" && c != a.r.cfg.AgentNamespace+"/"+a.coordinator {
				return inc, fmt.Errorf("Incident %s/%s is handled by coordinator %s, not the scenario's %s/%s: another coordinator selects it more specifically (one left by opsmesh demo, say); delete it or run on a cluster without it",
					inc.Namespace, inc.Name, c, a.r.cfg.AgentNamespace, a.coordinator)
			}
			if inc.Status.RootCause != nil && a.res.TimeToDiagnosis == 0 {
				a.res.TimeToDiagnosis = max(time.Since(raised), time.Millisecond)
			}
			if err := a.decide(ctx, inc); err != nil {
				return inc, err
			}
			if inc.Status.Phase.Terminal() {
				return inc, nil
			}
		}
		select {
		case <-ctx.Done():
			if inc == nil {
				why := fmt.Sprintf("no Incident was raised about %s within %s", t.String(), a.s.TimeoutOr())
				if last != nil {
					why += fmt.Sprintf(" (last error: %v)", last)
				}
				return nil, errors.New(why + "; is opsmesh controller running with its triggers?")
			}
			return inc, fmt.Errorf("timed out after %s in phase %s", a.s.TimeoutOr(), orDetected(inc.Status.Phase))
		case <-time.After(a.r.cfg.Poll):
		}
	}
}

// watchEarly looks for the platform's Incident from the start of setup, as the platform may
// raise and diagnose it while setup goes on; stopEarly (or the returned func) ends the watch.
func (a *attempt) watchEarly(ctx context.Context) func() {
	t, err := a.target(a.s.Incident.Target)
	w := &sighting{lastMiss: time.Now(), done: make(chan struct{})}
	a.early = w
	stop := make(chan struct{})
	var once sync.Once
	a.stopEarly = func() { once.Do(func() { close(stop); <-w.done }) }
	go func() {
		defer close(w.done)
		if err != nil {
			return
		}
		for {
			before := time.Now()
			inc, _ := a.findIncident(ctx, t)
			w.mu.Lock()
			switch {
			case inc == nil:
				w.lastMiss = before
			case inc.Status.RootCause != nil:
				w.diagnosed = time.Now()
			}
			done := !w.diagnosed.IsZero()
			w.mu.Unlock()
			if done {
				return
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(a.r.cfg.Poll):
			}
		}
	}()
	return a.stopEarly
}

// raisedBy says whether inc came the way the scenario raises its incident: the runner's own
// Incident for a question, one from an event or an alert for those; any for the platform. (The
// platform may raise others about the same target from its own triggers; the runner follows the
// one the scenario raised, and times it from the raise.)
func (a *attempt) raisedBy(inc *opsv1.Incident) bool {
	in := a.s.Incident
	switch {
	case in.Question != "":
		return inc.Labels[RunLabel] == a.r.cfg.Run && inc.Labels[ScenarioLabel] == a.s.Name
	case in.Event != nil:
		return inc.Spec.Source.Type == opsv1.SourceEvent
	case in.Alert != nil:
		return inc.Spec.Source.Type == opsv1.SourceAlertmanager && inc.Spec.Source.Name == in.Alert.Labels["alertname"]
	}
	return true
}

// findIncident is the first Incident about t, raised the scenario's way, created since the
// scenario began.
func (a *attempt) findIncident(ctx context.Context, t *opsv1.TargetReference) (*opsv1.Incident, error) {
	nss := []string{a.r.cfg.AgentNamespace}
	if t.Namespace != "" && t.Namespace != a.r.cfg.AgentNamespace {
		nss = append(nss, t.Namespace)
	}
	since := a.start.Truncate(time.Second)
	var found *opsv1.Incident
	for _, ns := range nss {
		var l opsv1.IncidentList
		if err := a.r.c.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing the Incidents of namespace %s: %w", ns, err)
		}
		for i := range l.Items {
			inc := &l.Items[i]
			it := inc.Spec.Target
			if it == nil || it.Kind != t.Kind || it.Name != t.Name || it.Namespace != t.Namespace || inc.CreationTimestamp.Time.Before(since) || !a.raisedBy(inc) {
				continue
			}
			if found == nil || inc.CreationTimestamp.Before(&found.CreationTimestamp) {
				found = inc.DeepCopy()
			}
		}
	}
	return found, nil
}

// decide approves the waiting actions the scenario expects and rejects the others.
func (a *attempt) decide(ctx context.Context, inc *opsv1.Incident) error {
	for _, act := range inc.Status.Actions {
		if act.State != opsv1.ActionAwaitingApproval {
			continue
		}
		if _, done := a.decided[act.ID]; done {
			continue
		}
		if _, ok := approval.Decision(inc, act.ID); ok {
			continue
		}
		d, why := opsv1.DecisionRejected, "opsmesh eval: scenario "+a.s.Name+" does not expect this action"
		if a.s.Remediation.Approve != "none" && matchesAny(a.s.Expect.Remediation, act) && !matchesAny(a.s.Expect.Forbidden, act) {
			d, why = opsv1.DecisionApproved, "opsmesh eval: the action scenario "+a.s.Name+" expects"
		}
		who, err := approval.WhoAmI(ctx, a.r.c)
		if err != nil {
			return fmt.Errorf("who approves: %w", err)
		}
		if _, err := approval.Decide(ctx, a.r.c, types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}, act.ID, d, who, why); err != nil {
			return fmt.Errorf("deciding action %s (%s) of Incident %s/%s: %w", act.ID, act.Tool, inc.Namespace, inc.Name, err)
		}
		a.decided[act.ID] = d
	}
	return nil
}

// holds checks c against the API server: "" when it holds, else what is wrong.
func (a *attempt) holds(ctx context.Context, c scenario.Check) string {
	objs, err := a.find(ctx, c.Ref)
	if err != nil {
		return err.Error()
	}
	if c.Path == "" {
		switch {
		case c.Absent && len(objs) > 0:
			return fmt.Sprintf("%s exists", c.Ref)
		case !c.Absent && len(objs) == 0:
			return fmt.Sprintf("%s does not exist", c.Ref)
		}
		return ""
	}
	if len(objs) == 0 {
		if c.Absent {
			return ""
		}
		return fmt.Sprintf("%s does not exist", c.Ref)
	}
	j, err := scenario.ParsePath(c.Path)
	if err != nil {
		return err.Error()
	}
	for _, o := range objs {
		var b bytes.Buffer
		if err := j.Execute(&b, o.Object); err != nil {
			if c.Absent && strings.Contains(err.Error(), "out of bounds") {
				continue // an index past the end of a list: the value is absent
			}
			return fmt.Sprintf("%s: %s: %v", describe(o), c.Path, err)
		}
		v := b.String()
		switch {
		case c.Absent && v != "":
			return fmt.Sprintf("%s: %s is %q, want it absent", describe(o), c.Path, v)
		case c.Equals != nil && v != *c.Equals:
			return fmt.Sprintf("%s: %s is %q, want %q", describe(o), c.Path, v, *c.Equals)
		case c.Matches != nil && !c.Matches.Match(v):
			return fmt.Sprintf("%s: %s is %q, want it to match %s", describe(o), c.Path, v, *c.Matches)
		}
	}
	return ""
}

// waitAll waits for each check in turn to hold.
func (a *attempt) waitAll(ctx context.Context, what string, checks []scenario.Check) error {
	for i, w := range checks {
		if err := a.wait(ctx, fmt.Sprintf("%s[%d] (%s)", what, i, checkString(w)), func() (bool, error) {
			if msg := a.holds(ctx, w); msg != "" {
				return false, errors.New(msg)
			}
			return true, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// wait polls cond until it holds or ctx ends; an error from cond is kept for the message and
// polling goes on (the API server may be busy, an object not there yet).
func (a *attempt) wait(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, a.r.cfg.Poll, true, func(context.Context) (bool, error) {
		ok, err := cond()
		if err != nil {
			last = err
		}
		return ok, nil
	})
	switch {
	case err == nil:
		return nil
	case last != nil:
		return fmt.Errorf("waiting for %s: %v", what, last)
	}
	return fmt.Errorf("waiting for %s: not within the scenario's timeout (%s)", what, a.s.TimeoutOr())
}

// cleanup undoes the scenario: its namespace, cluster-scoped objects, Incidents, coordinator,
// cordons and GPU faults.
func (a *attempt) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := a.r.c
	var problems []string
	for _, node := range a.faulted {
		if err := a.r.cfg.Faults.ClearGPUFaults(ctx, node); err != nil {
			problems = append(problems, fmt.Sprintf("clearing the GPU faults of node %s: %v", node, err))
		}
	}
	var l opsv1.IncidentList
	if a.r.cfg.Keep {
		a.r.log.printf("%s: kept namespace %s, Agent %s/%s and the Incident (--keep)", a.s.Name, a.ns, a.r.cfg.AgentNamespace, a.coordinator)
	} else if err := c.List(ctx, &l, client.InNamespace(a.r.cfg.AgentNamespace)); err == nil {
		for i := range l.Items {
			inc := &l.Items[i]
			if inc.Status.Coordinator == a.r.cfg.AgentNamespace+"/"+a.coordinator || inc.Labels[RunLabel] == a.r.cfg.Run && inc.Labels[ScenarioLabel] == a.s.Name {
				if err := c.Delete(ctx, inc); client.IgnoreNotFound(err) != nil {
					problems = append(problems, fmt.Sprintf("deleting Incident %s/%s: %v", inc.Namespace, inc.Name, err))
				}
			}
		}
	}
	for name, was := range a.cordons {
		var n corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil || n.Spec.Unschedulable == was {
			continue
		}
		orig := n.DeepCopy()
		n.Spec.Unschedulable = was
		if err := c.Patch(ctx, &n, client.MergeFrom(orig)); err != nil {
			problems = append(problems, fmt.Sprintf("restoring spec.unschedulable=%v of node %s: %v", was, name, err))
		}
	}
	for i := len(a.created) - 1; i >= 0; i-- {
		if err := c.Delete(ctx, a.created[i]); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting %s: %v", describe(a.created[i]), err))
		}
	}
	if a.r.cfg.Keep {
		// The namespace and coordinator stay too.
	} else if a.coordinator != "" {
		ag := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: a.r.cfg.AgentNamespace, Name: a.coordinator}}
		if err := c.Delete(ctx, ag); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting Agent %s/%s: %v", ag.Namespace, ag.Name, err))
		}
	}
	if !a.r.cfg.Keep {
		problems = append(problems, a.deletePods(ctx)...)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: a.ns}}
		if err := c.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting namespace %s: %v", a.ns, err))
		}
	}
	if len(problems) > 0 {
		a.r.log.printf("%s: cleanup: %s", a.s.Name, strings.Join(problems, "; "))
	}
}

// deletePods deletes the namespace's workloads and pods and waits for the pods to be gone:
// they hold GPUs and node room, and the namespace controller takes its time (seconds) to get to
// them, so the next scenario would start beside them.
func (a *attempt) deletePods(ctx context.Context) []string {
	c := a.r.c
	var problems []string
	bg := client.PropagationPolicy(metav1.DeletePropagationBackground)
	for _, o := range []client.Object{&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}, &appsv1.ReplicaSet{}, &batchv1.Job{}} {
		if err := c.DeleteAllOf(ctx, o, client.InNamespace(a.ns), bg); client.IgnoreNotFound(err) != nil {
			problems = append(problems, fmt.Sprintf("deleting the workloads of namespace %s: %v", a.ns, err))
		}
	}
	if err := c.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(a.ns), client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
		problems = append(problems, fmt.Sprintf("deleting the pods of namespace %s: %v", a.ns, err))
	}
	for {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(a.ns)); err != nil || len(pods.Items) == 0 {
			return problems
		}
		if ctx.Err() != nil {
			return append(problems, fmt.Sprintf("%d pods of namespace %s still there after a minute", len(pods.Items), a.ns))
		}
		time.Sleep(a.r.cfg.Poll)
	}
}

func describe(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetKind() + " " + u.GetName()
	}
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

func checkString(c scenario.Check) string {
	s := c.Ref.String()
	if c.Path != "" {
		s += " " + c.Path
	}
	switch {
	case c.Equals != nil:
		s += " = " + *c.Equals
	case c.Matches != nil:
		s += " ~ " + string(*c.Matches)
	case c.Absent:
		s += " absent"
	}
	return s
}

func orDetected(p opsv1.IncidentPhase) string {
	if p == "" {
		return "Detected"
	}
	return string(p)
}
