//go:build cgo

package incident_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
	"github.com/opsmesh/opsmesh/controller/audit"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/internal/fixture"
)

// release creates Deployment ns/name whose revision 1 (image :1) was good and whose revision 2
// (image :2, current) crashloops, with one crashing pod.
func (b *bed) release(ns, name string) {
	ctx := context.Background()
	labels := map[string]string{"app": name}
	spec := func(tag string) corev1.PodSpec {
		return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":" + tag}}}
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec("2")}}}
	b.c.Create(d)
	var current *appsv1.ReplicaSet
	for rev, tag := range []string{"1", "2"} {
		l := map[string]string{"app": name, "pod-template-hash": "h" + tag}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-h" + tag, Labels: l,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(rev + 1)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: d.UID, Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: l},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: spec(tag)}}}
		b.c.Create(rs)
		current = rs
	}
	b.c.Pod(current, ns, name+"-h2-0", "", fixture.Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", fixture.Terminated("Error", 1)))
	_ = ctx
}

// backOff emits the kubelet's Warning BackOff event about pod (twice, as a crash loop does) and
// returns the name of the Incident the event trigger raises on Deployment owner.
func (b *bed) backOff(ns, pod, owner string) string {
	b.t.Helper()
	ctx := context.Background()
	now := metav1.Now()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod + ".backoff"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, APIVersion: "v1"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app in pod " + pod,
		FirstTimestamp: now, LastTimestamp: now, Count: 1, Source: corev1.EventSource{Component: "kubelet"}}
	b.c.Create(ev)
	var name string
	eventually(b.t, 30*time.Second, "the BackOff event raises an Incident on deployment "+ns+"/"+owner, func() error {
		var list opsv1.IncidentList
		if err := b.env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, inc := range list.Items {
			if t := inc.Spec.Target; t != nil && t.Kind == "Deployment" && t.Name == owner {
				name = inc.Name
				return nil
			}
		}
		return fmt.Errorf("%d Incidents, none on the Deployment", len(list.Items))
	})
	ev.Count, ev.LastTimestamp = 2, metav1.Now()
	if err := b.env.Client.Update(ctx, ev); err != nil {
		b.t.Fatal(err)
	}
	return name
}

// image is the image of Deployment ns/name's template.
func (b *bed) image(ns, name string) string {
	var d appsv1.Deployment
	if err := b.env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		b.t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// rollOut does what the deployment controller and the kubelet would after a rollback to
// revision 1: the crashing pod goes, a healthy one of revision 1 runs, and the Deployment's
// status says its rollout is complete.
func (b *bed) rollOut(ns, name string) {
	b.t.Helper()
	b.rollOutPods(ns, name)
	b.deploymentReady(ns, name, 1)
}

// deploymentReady writes the status the deployment controller would once the Deployment's
// current generation is rolled out with ready of its replicas ready.
func (b *bed) deploymentReady(ns, name string, ready int32) {
	b.t.Helper()
	var d appsv1.Deployment
	if err := b.env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		b.t.Fatal(err)
	}
	want := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: ready,
		AvailableReplicas: ready, UnavailableReplicas: want - ready}
	b.c.SetStatus(&d)
}

// rollOutPods is rollOut's part of the kubelet: the pods change, the Deployment's status does not.
func (b *bed) rollOutPods(ns, name string) {
	ctx := context.Background()
	if err := b.env.Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-h2-0"}}); err != nil {
		b.t.Fatal(err)
	}
	var rs appsv1.ReplicaSet
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-h1"}, &rs); err != nil {
		b.t.Fatal(err)
	}
	b.c.Pod(&rs, ns, name+"-h1-0", "", healthy())
}

func count(evs []audit.Event, event, actionID string) int {
	n := 0
	for _, e := range evs {
		if e.Event == event && (actionID == "" || e.ActionID == actionID) {
			n++
		}
	}
	return n
}

// checkAudit asserts that the audit trail holds every timeline entry of inc once, in order.
func checkAudit(t *testing.T, inc *opsv1.Incident, evs []audit.Event) {
	t.Helper()
	seen := map[int64]bool{}
	for i, e := range evs {
		if seen[e.Seq] {
			t.Errorf("audit event seq %d (%s) stored twice", e.Seq, e.Event)
		}
		seen[e.Seq] = true
		if e.Seq != int64(i+1) {
			t.Errorf("audit event %d has seq %d: the trail has a gap or is out of order", i, e.Seq)
		}
		if e.UID != string(inc.UID) || e.Namespace != inc.Namespace || e.Incident != inc.Name {
			t.Errorf("audit event %d names %s/%s uid %s", e.Seq, e.Namespace, e.Incident, e.UID)
		}
	}
	for _, e := range inc.Status.Timeline {
		if !seen[e.Seq] {
			t.Errorf("timeline entry %d (%s) is not on the audit stream", e.Seq, e.Event)
		}
	}
	if inc.Status.AuditedSeq != inc.Status.Timeline[len(inc.Status.Timeline)-1].Seq {
		t.Errorf("status.auditedSeq %d, last entry %d", inc.Status.AuditedSeq, inc.Status.Timeline[len(inc.Status.Timeline)-1].Seq)
	}
}

// TestCrashLoopApprovedThroughRestarts: a crashlooping Deployment's warning event raises an
// Incident (the repeat is counted, not a second Incident), which is diagnosed by the
// coordinator and its specialists over A2A, the rollback waits for approval, the controller and
// NATS restart while it waits, a person approves, the rollback runs once, the controller
// restarts again during verification, and verification resolves the incident. The audit stream
// shows each step once.
func TestCrashLoopApprovedThroughRestarts(t *testing.T) {
	b := newBed(t)
	ns := b.c.Namespace("shop")
	b.release(ns, "checkout")
	// The kubelet's BackOff events about the crashing pod raise one Incident, on the Deployment.
	name := b.backOff(ns, "checkout-h2-0", "checkout")

	inc := b.waitPhase(ns, name, opsv1.PhaseAwaitingApproval, 60*time.Second)
	if inc.Spec.Source.Type != opsv1.SourceEvent || inc.Status.Count < 1 {
		t.Errorf("source %+v count %d: want the event trigger's Incident", inc.Spec.Source, inc.Status.Count)
	}
	eventually(t, 20*time.Second, "the repeated event is counted into the same Incident", func() error {
		var list opsv1.IncidentList
		if err := b.env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) != 1 || list.Items[0].Status.Count != 2 {
			return fmt.Errorf("%d Incidents, count %d", len(list.Items), list.Items[0].Status.Count)
		}
		return nil
	})
	if inc.Status.Coordinator != "opsmesh/incident-coordinator" {
		t.Errorf("coordinator %q, want the namespace-wide one of opsmesh", inc.Status.Coordinator)
	}
	if rc := inc.Status.RootCause; rc == nil || rc.Category != "CrashLoopBackOff" {
		t.Fatalf("root cause %+v, want CrashLoopBackOff", inc.Status.RootCause)
	}
	a := action(inc, "workload_rollback")
	if a == nil || a.State != opsv1.ActionAwaitingApproval || a.Risk != opsv1.RiskDisruptive || a.IdempotencyKey == "" {
		t.Fatalf("rollback action %+v, want one AwaitingApproval, disruptive, with a key:\n%s", a, timeline(inc))
	}
	if len(inc.Status.Findings) == 0 || inc.Status.TaskID == "" {
		t.Errorf("findings %d, task %q: want the coordinator's findings and its A2A task", len(inc.Status.Findings), inc.Status.TaskID)
	}
	if got := b.image(ns, "checkout"); !strings.HasSuffix(got, ":2") {
		t.Fatalf("image %s before approval: nothing may run before it", got)
	}

	// Mid-incident: the controller restarts, then the NATS server restarts under the running
	// controller and runtime.
	b.stopController()
	b.startController()
	b.restartNATS()

	if _, err := approval.Decide(context.Background(), b.env.Client, types.NamespacedName{Namespace: ns, Name: name}, a.ID, opsv1.DecisionApproved, "alice", "the :2 release is bad"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the approved rollback runs", func() error {
		inc = b.get(ns, name)
		if a := action(inc, "workload_rollback"); a.State != opsv1.ActionSucceeded {
			return fmt.Errorf("rollback %s: %s\n%s", a.State, a.Message, timeline(inc))
		}
		return nil
	})
	if got := b.image(ns, "checkout"); !strings.HasSuffix(got, ":1") {
		t.Fatalf("image %s after the rollback, want revision 1's", got)
	}

	// The controller restarts while it verifies; meanwhile the rollout finishes.
	b.stopController()
	b.rollOut(ns, "checkout")
	b.startController()
	inc = b.waitPhase(ns, name, opsv1.PhaseResolved, 60*time.Second)

	if ap, ok := inc.ApprovalOf(a.ID); !ok || ap.By != "alice" || ap.Decision != opsv1.DecisionApproved {
		t.Errorf("approval %+v: want alice's", ap)
	}
	var phases []string
	for _, e := range inc.Status.Timeline {
		if e.Phase != "" {
			phases = append(phases, string(e.Phase))
		}
	}
	if got, want := strings.Join(phases, ">"), "Detected>Investigating>Diagnosed>AwaitingApproval>Remediating>Verifying>Resolved"; got != want {
		t.Errorf("phases %s, want %s", got, want)
	}
	eventually(t, 20*time.Second, "the audit trail catches up", func() error {
		if inc = b.get(ns, name); inc.Status.AuditedSeq < inc.Status.Timeline[len(inc.Status.Timeline)-1].Seq {
			return fmt.Errorf("audited %d", inc.Status.AuditedSeq)
		}
		return nil
	})
	evs := b.auditEvents(ns, name)
	checkAudit(t, inc, evs)
	if n := count(evs, "ActionStarted", a.ID); n != 1 {
		t.Errorf("rollback started %d times on the audit stream, want exactly once", n)
	}
	if n := count(evs, "ActionSucceeded", a.ID); n != 1 {
		t.Errorf("rollback succeeded %d times on the audit stream, want exactly once", n)
	}
	for _, e := range evs {
		if e.Event == "ActionStarted" && e.IdempotencyKey != a.IdempotencyKey {
			t.Errorf("ActionStarted carries key %q, want %q", e.IdempotencyKey, a.IdempotencyKey)
		}
	}
}

// TestAutoRunsSafeActionHoldsDestructive: under policy Auto, an XID 79 under a training job
// plans a cordon (safe: runs at once) and a drain (destructive: still waits for approval).
func TestAutoRunsSafeActionHoldsDestructive(t *testing.T) {
	b := newBed(t)
	ns := b.c.Namespace("ml")
	b.c.GPUNode("gpu-auto-1", fixture.XID79)
	rs := b.c.Deployment(ns, "trainer", 1, func(p *corev1.PodSpec) {
		p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}
	})
	b.c.Pod(rs, ns, "trainer-h1-0", "gpu-auto-1", fixture.Waiting("CrashLoopBackOff", "back-off 5m0s", fixture.Terminated("Error", 1)))
	b.raise(ns, "trainer-crashloop", map[string]string{"policy": "auto"}, &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "trainer"}, "trainer pods are crashlooping")

	var inc *opsv1.Incident
	eventually(t, 60*time.Second, "the cordon runs and the drain waits", func() error {
		inc = b.get(ns, "trainer-crashloop")
		c, d := action(inc, "node_cordon"), action(inc, "node_drain")
		if c == nil || d == nil {
			return fmt.Errorf("phase %s, actions %v\n%s", inc.Status.Phase, inc.Status.Actions, timeline(inc))
		}
		if c.State != opsv1.ActionSucceeded || d.State != opsv1.ActionAwaitingApproval || inc.Status.Phase != opsv1.PhaseAwaitingApproval {
			return fmt.Errorf("phase %s; cordon %s, drain %s\n%s", inc.Status.Phase, c.State, d.State, timeline(inc))
		}
		return nil
	})
	if inc.Status.Coordinator != "opsmesh/auto-coordinator" {
		t.Errorf("coordinator %q: the Incident labelled policy=auto belongs to auto-coordinator", inc.Status.Coordinator)
	}
	if rc := inc.Status.RootCause; rc.Category != "GPUXid79" {
		t.Errorf("root cause %s, want GPUXid79", rc.Category)
	}
	if d := action(inc, "node_drain"); d.Risk != opsv1.RiskDestructive {
		t.Errorf("drain risk %s", d.Risk)
	}
	var n corev1.Node
	if err := b.env.Client.Get(context.Background(), client.ObjectKey{Name: "gpu-auto-1"}, &n); err != nil {
		t.Fatal(err)
	}
	if !n.Spec.Unschedulable {
		t.Error("node gpu-auto-1 is not cordoned after the cordon succeeded")
	}
	var pod corev1.Pod
	if err := b.env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "trainer-h1-0"}, &pod); err != nil || pod.DeletionTimestamp != nil {
		t.Errorf("the trainer pod was evicted without approval: %v", err)
	}
	found := false
	for _, e := range inc.Status.Timeline {
		if e.Event == "ActionApproved" && e.Actor == "policy Auto" && strings.Contains(e.Message, "node_cordon") {
			found = true
		}
	}
	if !found {
		t.Errorf("no timeline entry says policy Auto approved the cordon:\n%s", timeline(inc))
	}

	// A person rejects the drain: the cordon ran, the XID is still there, so verification
	// escalates to a person (the reboot is theirs).
	if _, err := approval.Decide(context.Background(), b.env.Client, types.NamespacedName{Namespace: ns, Name: "trainer-crashloop"}, "", opsv1.DecisionRejected, "bob", "drain after the checkpoint"); err != nil {
		t.Fatal(err)
	}
	inc = b.waitPhase(ns, "trainer-crashloop", opsv1.PhaseEscalated, 60*time.Second)
	if d := action(inc, "node_drain"); d.State != opsv1.ActionRejected {
		t.Errorf("drain %s after bob's rejection", d.State)
	}
	if last := inc.Status.Timeline[len(inc.Status.Timeline)-1]; !strings.Contains(last.Message, "still find GPUXid79") {
		t.Errorf("escalation says %q, want why", last.Message)
	}
}

// TestAutoResolvesSafeFix: a pod pinned to a cordoned node; under Auto the uncordon (safe, proposed
// by the scheduler specialist, run through the cluster specialist's grant) runs and verification
// resolves the incident.
func TestAutoResolvesSafeFix(t *testing.T) {
	b := newBed(t)
	n, _, ns := b.pinnedToCordoned(t, "cordoned-1", "batch")
	b.raise(ns, "pinned-pending", map[string]string{"policy": "auto"}, &opsv1.TargetReference{Kind: "Pod", Namespace: ns, Name: "pinned-0"}, "pinned-0 is Pending")

	inc := b.waitPhase(ns, "pinned-pending", opsv1.PhaseResolved, 60*time.Second)
	if rc := inc.Status.RootCause; rc.Category != "NodeCordoned" {
		t.Errorf("root cause %s, want NodeCordoned", rc.Category)
	}
	u := action(inc, "node_uncordon")
	if u == nil || u.State != opsv1.ActionSucceeded {
		t.Fatalf("uncordon %+v:\n%s", u, timeline(inc))
	}
	if err := b.env.Client.Get(context.Background(), client.ObjectKey{Name: "cordoned-1"}, n); err != nil || n.Spec.Unschedulable {
		t.Errorf("node cordoned-1 still cordoned (%v)", err)
	}
}

// TestUnknownOutcomeNeverRunsAgain: when the ledger shows an action was started before and never
// finished (the controller died during the call), the action is not run again: it fails and the
// incident escalates, naming what to check.
func TestUnknownOutcomeNeverRunsAgain(t *testing.T) {
	b := newBed(t)
	ns := b.c.Namespace("cart")
	b.release(ns, "cart")
	b.raise(ns, "cart-crashloop", nil, &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "cart"}, "cart pods are crashlooping")
	inc := b.waitPhase(ns, "cart-crashloop", opsv1.PhaseAwaitingApproval, 60*time.Second)
	a := action(inc, "workload_rollback")
	ctx := context.Background()
	kv, err := b.js.KeyValue(ctx, incident.LedgerBucket)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"state": "started", "time": time.Now().UTC()})
	if _, err := kv.Create(ctx, a.IdempotencyKey, body); err != nil {
		t.Fatal(err)
	}
	if _, err := approval.Decide(ctx, b.env.Client, types.NamespacedName{Namespace: ns, Name: "cart-crashloop"}, a.ID, opsv1.DecisionApproved, "alice", ""); err != nil {
		t.Fatal(err)
	}
	inc = b.waitPhase(ns, "cart-crashloop", opsv1.PhaseEscalated, 60*time.Second)
	if a := action(inc, "workload_rollback"); a.State != opsv1.ActionFailed || !strings.Contains(a.Message, "not run again") {
		t.Errorf("rollback %s: %q", a.State, a.Message)
	}
	if got := b.image(ns, "cart"); !strings.HasSuffix(got, ":2") {
		t.Errorf("image %s: the rollback ran a second time", got)
	}
}

// TestUngrantedActionIsSkipped: an action no Agent is granted is skipped with why, never put
// up for an approval that could only end in a failure, and the incident escalates.
func TestUngrantedActionIsSkipped(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	var cs opsv1.Agent
	if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: agentNS, Name: "cluster-specialist"}, &cs); err != nil {
		t.Fatal(err)
	}
	granted := slices.Clone(cs.Spec.Tools[0].AllowedTools)
	cs.Spec.Tools[0].AllowedTools = slices.DeleteFunc(cs.Spec.Tools[0].AllowedTools, func(s string) bool { return s == "workload_rollback" })
	if err := b.env.Client.Update(ctx, &cs); err != nil {
		t.Fatal(err)
	}
	// The fleet is shared by the tests of this control plane: the grant comes back.
	t.Cleanup(func() {
		var cs opsv1.Agent
		if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: agentNS, Name: "cluster-specialist"}, &cs); err != nil {
			t.Error(err)
			return
		}
		cs.Spec.Tools[0].AllowedTools = granted
		if err := b.env.Client.Update(ctx, &cs); err != nil {
			t.Error(err)
		}
	})
	ns := b.c.Namespace("cart-ungranted")
	b.release(ns, "cart")
	b.raise(ns, "cart-crashloop", nil, &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "cart"}, "cart pods are crashlooping")
	inc := b.waitPhase(ns, "cart-crashloop", opsv1.PhaseEscalated, 60*time.Second)
	a := action(inc, "workload_rollback")
	if a == nil || a.State != opsv1.ActionSkipped || !strings.Contains(a.Message, "no Agent of") || !strings.Contains(a.Message, "is granted tool workload_rollback") {
		t.Fatalf("rollback %+v, want Skipped naming the missing grant:\n%s", a, timeline(inc))
	}
	for _, e := range inc.Status.Timeline {
		if e.Event == "ActionAwaitingApproval" {
			t.Errorf("an ungranted action waited for approval: %s", e.Message)
		}
	}
	if got := b.image(ns, "cart"); !strings.HasSuffix(got, ":2") {
		t.Errorf("image %s: something ran", got)
	}
}
