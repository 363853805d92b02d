package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Labels and annotations the demo uses.
const (
	// FaultAnnotation on a pod template selects the kwok Stage that gives its pods a failure
	// state, as a kubelet reports it (CrashLoopBackOff, OOMKilled, LivenessProbe, StartupProbe,
	// ReadinessProbe, Fail, Complete or Hold: deploy/sandbox/stages/pod-ready.yaml lists them);
	// pods without it become Running and Ready.
	FaultAnnotation = "demo.opsmesh.dev/fault"
	// FaultWhenAnnotation ties the fault to its cause: conditions on the pod's own spec
	// ("env LOG_LEVEL=verbose", "image ghcr.io/x:1.2", "arg --storage-uri=s3://old",
	// "field resources.limits.memory=64Mi", ";"-separated, "!" negates) that must hold for the
	// fault to apply, so that fixing only that field clears it.
	FaultWhenAnnotation = "demo.opsmesh.dev/fault-when"
	// FaultPodsAnnotation narrows the fault to some pods: ","-separated names (a pod whose name
	// holds the entry between dashes) or indexes (apps.kubernetes.io/pod-index,
	// batch.kubernetes.io/job-completion-index).
	FaultPodsAnnotation = "demo.opsmesh.dev/fault-pods"
	// ProbeFailureAnnotation says how a probe fault's probe fails: a status code (default 404),
	// timeout or refused.
	ProbeFailureAnnotation = "demo.opsmesh.dev/probe-failure"
	// SimulatedLabel marks the sandbox's simulated nodes.
	SimulatedLabel = "opsmesh.dev/simulated"
	// OwnerLabel marks what the demo created.
	OwnerLabel = "demo.opsmesh.dev/owner"
	ownerValue = "opsmesh-demo"
	gpuRes     = corev1.ResourceName("nvidia.com/gpu")
)

// The demo's namespaces.
const (
	NSInference = "demo-inference"
	NSTraining  = "demo-training"
	NSBatch     = "demo-batch"
)

// runner is one run of the demo.
type runner struct {
	cfg   Config
	c     client.Client
	start time.Time
	show  *show

	nodes []corev1.Node
	// placed is closed once the XID scenario's training pod has a node (or that scenario will
	// not place one), so the pending-GPU scenario sees the GPUs it takes.
	placed chan struct{}
	// pendingDiagnosed is closed once the pending-GPU scenario has its diagnosis (or has
	// ended without one), so the XID scenario's cordon does not change the GPUs it counts.
	pendingDiagnosed chan struct{}
}

// errSkip says why a scenario does not run on this cluster.
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

// scenario is one incident the demo provokes and what it expects of it.
type scenario struct {
	name, title string
	// categories the diagnosis may name; phases the incident may end the demo in.
	categories []string
	phases     []opsv1.IncidentPhase
	// setup creates the scenario's objects and returns the object the Incident is about.
	setup func(ctx context.Context) (*opsv1.TargetReference, error)
	// react is called on every change of the Incident (may be nil).
	react func(ctx context.Context, res *ScenarioResult, inc *opsv1.Incident) error
	// check says what is still missing for the scenario to be done ("" when nothing).
	check func(inc *opsv1.Incident) string
	// diagnosed, when set, is closed once the Incident has a root cause or the scenario ends.
	diagnosed chan struct{}
}

// preflight checks that the platform runs and reads the nodes.
func (r *runner) preflight(ctx context.Context) error {
	var agents opsv1.AgentList
	if err := r.c.List(ctx, &agents, client.InNamespace(r.cfg.AgentNamespace)); err != nil {
		if apimeta.IsNoMatchError(err) {
			return fmt.Errorf("demo: the cluster at %s has no opsmesh.dev Agent kind: install the CRDs (kubectl apply -f deploy/crds) and run opsmesh controller --runtime, or use the sandbox (opsmesh sandbox up)", r.cfg.RestConfig.Host)
		}
		return fmt.Errorf("demo: listing the Agents of namespace %s: %w", r.cfg.AgentNamespace, err)
	}
	if r.coordinator(agents.Items) == nil {
		return fmt.Errorf("demo: namespace %s has no coordinator Agent taking every Incident (role: coordinator, incidentSelector: {}): apply deploy/samples (kubectl apply -n %s -f deploy/samples) with opsmesh controller --runtime running, or use the sandbox (opsmesh sandbox up)", r.cfg.AgentNamespace, r.cfg.AgentNamespace)
	}
	var nodes corev1.NodeList
	if err := r.c.List(ctx, &nodes); err != nil {
		return fmt.Errorf("demo: listing nodes: %w", err)
	}
	r.nodes = nodes.Items
	if len(r.nodes) == 0 {
		return fmt.Errorf("demo: the cluster at %s has no nodes; the sandbox (opsmesh sandbox up) has simulated ones", r.cfg.RestConfig.Host)
	}
	return nil
}

// uncordon undoes an earlier run's cordon (the XID scenario's), which would change where this
// run's pods go (the pending-GPU scenario reckons free GPUs per schedulable node): the simulated
// GPU nodes are uncordoned first, in the cluster and in r.nodes.
func (r *runner) uncordon(ctx context.Context) error {
	for i := range r.nodes {
		n := &r.nodes[i]
		if !simulated(n) || gpus(n) == 0 || !n.Spec.Unschedulable {
			continue
		}
		r.show.note("uncordoning simulated node %s (cordoned by an earlier demo run)", n.Name)
		orig := n.DeepCopy()
		n.Spec.Unschedulable = false
		if err := r.c.Patch(ctx, n, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("demo: uncordoning node %s: %w", n.Name, err)
		}
	}
	return nil
}

// coordinator is the sample coordinator that takes every Incident (an empty selector).
func (r *runner) coordinator(agents []opsv1.Agent) *opsv1.Agent {
	for i := range agents {
		a := &agents[i]
		if a.Spec.Role == opsv1.RoleCoordinator && a.Spec.IncidentSelector != nil &&
			len(a.Spec.IncidentSelector.MatchLabels) == 0 && len(a.Spec.IncidentSelector.MatchExpressions) == 0 &&
			a.Labels[OwnerLabel] != ownerValue {
			return a
		}
	}
	return nil
}

func simulated(n *corev1.Node) bool { return n.Labels[SimulatedLabel] == "true" }

func gpus(n *corev1.Node) int64 {
	q, ok := n.Status.Allocatable[gpuRes]
	if !ok {
		return 0
	}
	return q.Value()
}

// anySimulated says whether the cluster has simulated nodes (kwok gives their pods the demo's
// failure states).
func (r *runner) anySimulated() bool {
	for i := range r.nodes {
		if simulated(&r.nodes[i]) {
			return true
		}
	}
	return false
}

// clusterKind says in words how much of the cluster is simulated.
func (r *runner) clusterKind() string {
	sim, gpuSim := 0, 0
	for i := range r.nodes {
		if simulated(&r.nodes[i]) {
			sim++
			if gpus(&r.nodes[i]) > 0 {
				gpuSim++
			}
		}
	}
	if sim == 0 {
		return fmt.Sprintf("%d nodes, none simulated", len(r.nodes))
	}
	return fmt.Sprintf("%d nodes, %d of them simulated (kwok), %d with simulated GPUs", len(r.nodes), sim, gpuSim)
}

// namespace deletes what an earlier run left in ns and creates it afresh.
func (r *runner) namespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{}
	err := r.c.Get(ctx, client.ObjectKey{Name: name}, ns)
	if err == nil {
		if ns.Labels[OwnerLabel] != ownerValue {
			return fmt.Errorf("namespace %s exists and is not the demo's (no label %s=%s); delete it or run the demo on another cluster", name, OwnerLabel, ownerValue)
		}
		r.show.note("deleting namespace %s, left by an earlier demo run", name)
		if err := r.c.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting namespace %s: %w", name, err)
		}
		if err := r.wait(ctx, "namespace "+name+" to be deleted", 2*time.Minute, func() (bool, error) {
			err := r.c.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		}); err != nil {
			return err
		}
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", name, err)
	}
	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{OwnerLabel: ownerValue}}}
	if err := r.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// wait polls cond until it is true, an error, or d passes.
func (r *runner) wait(ctx context.Context, what string, d time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %v", what, last)
			}
			return fmt.Errorf("waiting for %s: not within %s", what, d)
		case <-time.After(r.cfg.Poll):
		}
	}
}

// run runs one scenario to its end.
func (r *runner) run(ctx context.Context, s scenario) ScenarioResult {
	var signal sync.Once
	diagnosed := func() {
		if s.diagnosed != nil {
			signal.Do(func() { close(s.diagnosed) })
		}
	}
	defer diagnosed()
	res := ScenarioResult{Scenario: s.name, Simulated: s.name == ScenarioXID || r.anySimulated()}
	tgt, err := s.setup(ctx)
	var skip errSkip
	if errors.As(err, &skip) {
		res.Skipped = skip.why
		return res
	}
	if err != nil {
		res.Problem = err.Error()
		return res
	}
	r.show.status(s.name, "waiting for the platform to raise an Incident on "+tgt.String())
	faulted := time.Now()
	var inc *opsv1.Incident
	rv := ""
	for {
		if inc == nil {
			inc, err = r.find(ctx, tgt)
			if inc != nil {
				r.show.note("%s: Incident %s/%s raised by %s (%s) for %s", s.name, inc.Namespace, inc.Name, sourceOf(inc), inc.Spec.Summary, tgt.String())
			}
		} else {
			var cur opsv1.Incident
			if err = r.c.Get(ctx, client.ObjectKeyFromObject(inc), &cur); err == nil {
				inc = &cur
			}
		}
		if inc != nil && inc.ResourceVersion != rv {
			rv = inc.ResourceVersion
			fill(&res, inc)
			if res.RootCause != "" && res.TimeToDiagnosis == 0 {
				// As the demo sees it: from the fault to the diagnosis in the Incident's status.
				res.TimeToDiagnosis = max(time.Since(faulted), time.Millisecond)
			}
			if res.RootCause != "" {
				diagnosed()
			}
			r.show.update(res, inc)
			if s.react != nil {
				if err := s.react(ctx, &res, inc); err != nil {
					res.Problem = err.Error()
					return res
				}
			}
			missing := want(s, inc)
			if missing == "" {
				res.OK = true
				return res
			}
			if inc.Status.Phase.Terminal() {
				res.Problem = fmt.Sprintf("Incident %s/%s ended %s: %s (%s)", inc.Namespace, inc.Name, inc.Status.Phase, lastMessage(inc), missing)
				return res
			}
			res.Problem = missing
		}
		select {
		case <-ctx.Done():
			switch {
			case inc == nil && err != nil:
				res.Problem = fmt.Sprintf("no Incident was raised for %s (last error: %v); is opsmesh controller running with its event and XID triggers?", tgt.String(), err)
			case inc == nil:
				res.Problem = fmt.Sprintf("no Incident was raised for %s within %s; is opsmesh controller running with its event and XID triggers?", tgt.String(), r.cfg.Timeout)
			case errors.Is(ctx.Err(), context.Canceled):
				res.Problem = fmt.Sprintf("interrupted in phase %s: %s", orPending(inc.Status.Phase), res.Problem)
			default:
				res.Problem = fmt.Sprintf("timed out in phase %s: %s", orPending(inc.Status.Phase), res.Problem)
			}
			return res
		case <-time.After(r.cfg.Poll):
		}
	}
}

// want says what inc still lacks for s ("" when it is where s expects it).
func want(s scenario, inc *opsv1.Incident) string {
	rc := inc.Status.RootCause
	if rc == nil {
		return "no diagnosis yet"
	}
	if !slices.Contains(s.categories, rc.Category) {
		return fmt.Sprintf("root cause %s, want %s", rc.Category, strings.Join(s.categories, " or "))
	}
	if !slices.Contains(s.phases, inc.Status.Phase) {
		var ps []string
		for _, p := range s.phases {
			ps = append(ps, string(p))
		}
		return fmt.Sprintf("phase %s, want %s", orPending(inc.Status.Phase), strings.Join(ps, " or "))
	}
	if s.check != nil {
		return s.check(inc)
	}
	return ""
}

// find is the Incident the platform raised about tgt since the demo started, if any.
func (r *runner) find(ctx context.Context, tgt *opsv1.TargetReference) (*opsv1.Incident, error) {
	nss := []string{r.cfg.AgentNamespace}
	if tgt.Namespace != "" && tgt.Namespace != r.cfg.AgentNamespace {
		nss = append(nss, tgt.Namespace)
	}
	since := r.start.Truncate(time.Second)
	var found []opsv1.Incident
	for _, ns := range nss {
		var l opsv1.IncidentList
		if err := r.c.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing the Incidents of namespace %s: %w", ns, err)
		}
		for _, inc := range l.Items {
			t := inc.Spec.Target
			if t == nil || t.Kind != tgt.Kind || t.Name != tgt.Name || t.Namespace != tgt.Namespace || inc.CreationTimestamp.Time.Before(since) {
				continue
			}
			found = append(found, inc)
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	sort.Slice(found, func(i, j int) bool { return found[i].CreationTimestamp.Before(&found[j].CreationTimestamp) })
	return &found[0], nil
}

// fill copies what inc's status says into res.
func fill(res *ScenarioResult, inc *opsv1.Incident) {
	res.Namespace, res.Incident, res.Phase, res.Coordinator = inc.Namespace, inc.Name, inc.Status.Phase, inc.Status.Coordinator
	if rc := inc.Status.RootCause; rc != nil {
		res.RootCause, res.Summary = rc.Category, rc.Summary
	}
	res.Agents = nil
	if inc.Status.Coordinator != "" {
		res.Agents = append(res.Agents, inc.Status.Coordinator)
	}
	consulted := diagnosedAgents(inc)
	for _, f := range inc.Status.Findings {
		consulted = append(consulted, f.Agent)
	}
	for _, a := range consulted {
		if a != "" && !slices.Contains(res.Agents, a) {
			res.Agents = append(res.Agents, a)
		}
	}
	res.Actions = nil
	for _, a := range inc.Status.Actions {
		res.Actions = append(res.Actions, Action{ID: a.ID, Tool: a.Tool, Risk: a.Risk, State: a.State, ApprovedBy: inc.ApprovedBy(a.ID)})
	}
}

// diagnosedAgents are the agents the Diagnosed timeline entry names ("...; agents a, b; 4
// tool calls)"): every agent that took part, also those that found nothing.
func diagnosedAgents(inc *opsv1.Incident) []string {
	for _, e := range inc.Status.Timeline {
		if e.Event != "Diagnosed" {
			continue
		}
		i := strings.LastIndex(e.Message, "; agents ")
		if i < 0 {
			return nil
		}
		rest := e.Message[i+len("; agents "):]
		if j := strings.Index(rest, "; "); j >= 0 {
			return strings.Split(rest[:j], ", ")
		}
	}
	return nil
}

func action(inc *opsv1.Incident, tool string) *opsv1.RemediationAction {
	for i := range inc.Status.Actions {
		if inc.Status.Actions[i].Tool == tool {
			return &inc.Status.Actions[i]
		}
	}
	return nil
}

// actionIs says what is missing for inc's action of tool to be in state ("" when it is).
func actionIs(inc *opsv1.Incident, tool string, state opsv1.ActionState) string {
	a := action(inc, tool)
	if a == nil {
		return fmt.Sprintf("the plan has no %s action", tool)
	}
	if a.State != state {
		return fmt.Sprintf("action %s (%s) is %s, want %s", a.ID, tool, a.State, state)
	}
	return ""
}

func lastMessage(inc *opsv1.Incident) string {
	if n := len(inc.Status.Timeline); n > 0 {
		return inc.Status.Timeline[n-1].Message
	}
	return ""
}

func sourceOf(inc *opsv1.Incident) string {
	s := string(inc.Spec.Source.Type)
	if inc.Spec.Source.Name != "" {
		s += " " + inc.Spec.Source.Name
	}
	return s
}

func orPending(p opsv1.IncidentPhase) string {
	if p == "" {
		return "Detected"
	}
	return string(p)
}

// podOf waits for a pod matching sel in ns to satisfy ok and returns it.
func (r *runner) podOf(ctx context.Context, ns string, sel map[string]string, what string, d time.Duration, ok func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var got *corev1.Pod
	err := r.wait(ctx, what, d, func() (bool, error) {
		var pods corev1.PodList
		if err := r.c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(sel)); err != nil {
			return false, err
		}
		for i := range pods.Items {
			if p := &pods.Items[i]; p.DeletionTimestamp == nil && ok(p) {
				got = p
				return true, nil
			}
		}
		return false, nil
	})
	return got, err
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// agentReady says whether the Agent's Ready condition is True.
func agentReady(a *opsv1.Agent) bool {
	return apimeta.IsStatusConditionTrue(a.Status.Conditions, opsv1.ConditionReady)
}
