package runner

// What a scenario's setup does before the incident is raised: the namespace and the copy of
// the coordinator, the setup objects, updates and status patches, the waits, the GPU faults and
// the events, and the lookups of the objects a scenario names.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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
	"github.com/opsmesh/opsmesh/evals/scenario"
)

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
	if err := a.logs(ctx); err != nil {
		return err
	}
	if err := a.waitAll(ctx, "settle", a.s.Setup.Settle); err != nil {
		return err
	}
	if len(a.s.Setup.Updates) > 0 {
		// An update may replace the pods the logs were set on while the set-up settles (a
		// StatefulSet's pod-0 comes back with a new UID, and a new pod starts with no log): the
		// pods there are now get them.
		return a.logs(ctx)
	}
	return nil
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
