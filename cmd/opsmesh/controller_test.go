package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/internal/fixture/rollout"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// applySamples creates the sample ToolServers and Agents of deploy/samples in ns.
func applySamples(t *testing.T, c client.Client, ns string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testbed.RepoRoot(), "deploy", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "agent-") && !strings.HasPrefix(base, "toolserver-") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		u.SetNamespace(ns)
		if err := c.Create(context.Background(), &u); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
	}
}

// TestControllerCommand runs the real binary as a person would: `opsmesh controller --runtime`
// (the whole platform in one process, embedded NATS) with the sample Agents and ToolServers turns
// them Ready; a crashlooping Deployment's warning event raises an Incident (and a person raises
// one with `opsmesh incidents create`), the rollback waits for approval, `opsmesh approve` runs
// it, and verification resolves the incident.
func TestControllerCommand(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	env := apiServer(t)
	ctx := context.Background()
	c := env.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"opsmesh", "cc-shop"} {
		must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	applySamples(t, c, "opsmesh")

	// checkout: revision 1 (image :1) was good, revision 2 (:2, current) crashloops.
	labels := map[string]string{"app": "checkout"}
	spec := func(tag string) corev1.PodSpec {
		return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/checkout:" + tag}}}
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "cc-shop", Name: "checkout"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec("2")}}}
	must(c.Create(ctx, d))
	rss := map[string]*appsv1.ReplicaSet{}
	for rev, tag := range []string{"1", "2"} {
		l := map[string]string{"app": "checkout", "pod-template-hash": "h" + tag}
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "cc-shop", Name: "checkout-h" + tag, Labels: l,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(rev + 1)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "checkout", UID: d.UID, Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: l},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: spec(tag)}}}
		must(c.Create(ctx, rs))
		rss[tag] = rs
	}
	pod := func(tag string, st corev1.PodStatus) {
		rs := rss[tag]
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "cc-shop", Name: "checkout-h" + tag + "-0", Labels: rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
			Spec: *rs.Spec.Template.Spec.DeepCopy()}
		must(c.Create(ctx, p))
		p.Status = st
		must(c.Status().Update(ctx, p))
	}
	pod("2", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 6,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=app"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}})
	// What the ReplicaSet and deployment controllers write: revision 2 is rolled out, 0 of 1 ready.
	must(rollout.Sync(ctx, c, "cc-shop", "checkout"))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	addr := l.Addr().String()
	l.Close()
	cctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(cctx, bin, "controller", "--runtime", "--kubeconfig", kc, "--nats-listen", addr, "--nats-data-dir", t.TempDir(),
		"--health-probe-bind-address", "0", "--identity", "test-replica", "--verify-timeout", "30s")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("opsmesh controller output:\n%s", out.String())
		}
	})

	// The samples turn Ready: ToolServers discovered in process, Agents hosted by the runtime.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var tss opsv1.ToolServerList
		var ags opsv1.AgentList
		must(c.List(ctx, &tss, client.InNamespace("opsmesh")))
		must(c.List(ctx, &ags, client.InNamespace("opsmesh")))
		var notReady []string
		for _, ts := range tss.Items {
			if !meta.IsStatusConditionTrue(ts.Status.Conditions, opsv1.ConditionReady) || ts.Status.ToolCount == 0 {
				notReady = append(notReady, "toolserver/"+ts.Name)
			}
		}
		for _, a := range ags.Items {
			if !meta.IsStatusConditionTrue(a.Status.Conditions, opsv1.ConditionReady) {
				notReady = append(notReady, fmt.Sprintf("agent/%s %v", a.Name, a.Status.Conditions))
			}
		}
		if len(tss.Items) == 3 && len(ags.Items) == 4 && len(notReady) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("samples not Ready within 90s: %v", notReady)
		}
		time.Sleep(200 * time.Millisecond)
	}

	run := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(bin, append(args, "--kubeconfig", kc)...).CombinedOutput()
		if err != nil {
			t.Fatalf("opsmesh %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return strings.TrimSpace(string(b))
	}
	// The kubelet's warning event about the crashing pod raises the Incident, on the Deployment.
	now := metav1.Now()
	must(c.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "cc-shop", Name: "checkout-h2-0.backoff"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "cc-shop", Name: "checkout-h2-0", APIVersion: "v1"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container app in pod checkout-h2-0_cc-shop",
		FirstTimestamp: now, LastTimestamp: now, Count: 1, Source: corev1.EventSource{Component: "kubelet"}}))
	var name string
	for deadline := time.Now().Add(60 * time.Second); name == ""; time.Sleep(200 * time.Millisecond) {
		var list opsv1.IncidentList
		must(c.List(ctx, &list, client.InNamespace("cc-shop")))
		for _, i := range list.Items {
			if i.Spec.Target != nil && i.Spec.Target.Kind == "Deployment" && i.Spec.Target.Name == "checkout" && i.Spec.Source.Type == opsv1.SourceEvent {
				name = i.Name
			}
		}
		if name == "" && time.Now().After(deadline) {
			t.Fatalf("no Incident on deployment cc-shop/checkout from its pod's BackOff event (Incidents: %d)", len(list.Items))
		}
	}

	// A person raises another by hand; both are handled.
	manual := run("incidents", "create", "-n", "cc-shop", "--summary", "is checkout healthy?", "--target", "deployment/cc-shop/checkout", "--severity", "info")

	var inc opsv1.Incident
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			must(c.Get(ctx, client.ObjectKey{Namespace: "cc-shop", Name: name}, &inc))
			if ok() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Incident %s: %s: not within 90s; phase %s\n%s", name, what, inc.Status.Phase, run("incidents", "get", name, "-n", "cc-shop"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	wait("the rollback waits for approval", func() bool { return inc.Status.Phase == opsv1.PhaseAwaitingApproval })
	var m opsv1.Incident
	for deadline := time.Now().Add(60 * time.Second); m.Status.Phase != opsv1.PhaseAwaitingApproval; time.Sleep(200 * time.Millisecond) {
		must(c.Get(ctx, client.ObjectKey{Namespace: "cc-shop", Name: manual}, &m))
		if time.Now().After(deadline) {
			t.Fatalf("Incident %s raised by opsmesh incidents create: phase %q, want AwaitingApproval", manual, m.Status.Phase)
		}
	}
	if inc.Status.RootCause.Category != "CrashLoopBackOff" || len(inc.Status.Actions) == 0 || inc.Status.Actions[0].Tool != "workload_rollback" {
		t.Fatalf("diagnosis %+v, actions %+v", inc.Status.RootCause, inc.Status.Actions)
	}
	got := run("approve", name, "a1", "-n", "cc-shop", "--reason", "the :2 release is bad")
	if !strings.Contains(got, "a1") {
		t.Errorf("opsmesh approve printed %q; want it to name the action", got)
	}
	wait("the rollback runs", func() bool { return inc.Status.Actions[0].State == opsv1.ActionSucceeded })
	must(c.Get(ctx, client.ObjectKey{Namespace: "cc-shop", Name: "checkout"}, d))
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example/checkout:1" {
		t.Fatalf("image %s after the approved rollback", img)
	}
	// What the deployment controller and kubelet would do next: the crashing pod goes, revision
	// 1's runs and is Ready, and the Deployment's status says the rollout is complete (the
	// orchestrator verifies a fix only once the workload is healthy again).
	must(c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "cc-shop", Name: "checkout-h2-0"}}))
	pod("1", corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}})
	must(rollout.Sync(ctx, c, "cc-shop", "checkout"))
	wait("verification resolves it", func() bool { return inc.Status.Phase == opsv1.PhaseResolved })
	if ready := meta.FindStatusCondition(inc.Status.Conditions, opsv1.ConditionReady); ready == nil || ready.Reason != incident.ReasonVerified ||
		!strings.Contains(ready.Message, "deployment cc-shop/checkout is healthy (1 of 1 replicas are ready, updated and available)") {
		t.Errorf("Ready condition %+v: want Verified, naming the healthy Deployment", ready)
	}
	if len(inc.Status.Approvals) != 1 || inc.Status.Approvals[0].By == "" || inc.Status.Approvals[0].Reason != "the :2 release is bad" {
		t.Errorf("approvals %+v: want the approver and reason recorded", inc.Status.Approvals)
	}
	for _, e := range inc.Status.Timeline {
		if e.Event == "Detected" && e.Actor != "controller test-replica" {
			t.Errorf("Detected by %q, want the replica's identity", e.Actor)
		}
	}
}
