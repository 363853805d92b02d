//go:build sandbox

package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestFaultStagesOnSandbox brings a sandbox up and checks, on the real kwok and API server, what
// sandbox/stagetest checks on kwok's engine alone: a liveness probe fault gives the kubelet's
// events (applied as Event objects) and exit code 137; a fault tied by fault-when to an env var
// crashloops a Deployment until only that env var is patched, after which its new pods are Ready
// with the annotation still on the template; fault-pods fails one pod of several. Run it with
// go test -tags sandbox -run TestFaultStagesOnSandbox ./sandbox/.
func TestFaultStagesOnSandbox(t *testing.T) {
	ctx := context.Background()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	s := upForTest(t, root)
	c := s.Client
	ns := "stages-test"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	t.Run("a liveness probe fault: Unhealthy, Killing, BackOff, exit 137, CrashLoopBackOff", func(t *testing.T) {
		p := testPod(ns, "live", map[string]string{"demo.opsmesh.dev/fault": "LivenessProbe", "demo.opsmesh.dev/probe-failure": "timeout"})
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		got := waitPod(t, c, ns, "live", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
		})
		cs := got.Status.ContainerStatuses[0]
		if term := cs.LastTerminationState.Terminated; term == nil || term.ExitCode != 137 || term.Reason != "Error" {
			t.Errorf("last state %+v; want terminated exit code 137, reason Error", cs.LastTerminationState)
		}
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || podReady(got) {
			t.Errorf("state %+v, pod Ready %v; want waiting CrashLoopBackOff, not Ready", cs.State, podReady(got))
		}
		want := `Liveness probe failed: Get "http://` + got.Status.PodIP + `:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`
		if e := waitEvent(t, c, ns, "live", "Unhealthy"); e.Type != corev1.EventTypeWarning || e.Message != want || e.Source.Component != "kubelet" || e.Count < 3 {
			t.Errorf("Unhealthy: %s %q from %q ×%d; want Warning %q from the kubelet, ×3 or more", e.Type, e.Message, e.Source.Component, e.Count, want)
		}
		if e := waitEvent(t, c, ns, "live", "Killing"); e.Type != corev1.EventTypeNormal || e.Message != "Container main failed liveness probe, will be restarted" {
			t.Errorf("Killing: %s %q", e.Type, e.Message)
		}
		if e := waitEvent(t, c, ns, "live", "BackOff"); !strings.HasPrefix(e.Message, "Back-off restarting failed container main in pod live_"+ns) {
			t.Errorf("BackOff: %q", e.Message)
		}
	})

	t.Run("fault-when env: crashloops until only the env var is patched", func(t *testing.T) {
		labels := map[string]string{"app": "tied"}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tied"}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					"demo.opsmesh.dev/fault": "CrashLoopBackOff", "demo.opsmesh.dev/fault-when": "env LOG_LEVEL=verbose"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox",
					Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "verbose"}, {Name: "PORT", Value: "8080"}}}}}}}}
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		waitPods(t, c, ns, labels, "two crashlooping pods", func(pods []corev1.Pod) bool {
			n := 0
			for _, p := range pods {
				if cs := p.Status.ContainerStatuses; len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff" {
					n++
				}
			}
			return n == 2
		})
		orig := d.DeepCopy()
		d.Spec.Template.Spec.Containers[0].Env[0].Value = "info"
		if err := c.Patch(ctx, d, client.MergeFrom(orig)); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			var cur appsv1.Deployment
			if err := c.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil {
				t.Fatal(err)
			}
			if cur.Status.ObservedGeneration == cur.Generation && cur.Status.UpdatedReplicas == 2 && cur.Status.ReadyReplicas == 2 && cur.Status.Replicas == 2 {
				if cur.Spec.Template.Annotations["demo.opsmesh.dev/fault"] != "CrashLoopBackOff" {
					t.Errorf("the fault annotation left the template: %v", cur.Spec.Template.Annotations)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("90 s after patching only LOG_LEVEL the Deployment is %+v; want 2 updated, Ready replicas", cur.Status)
			}
		}
	})

	t.Run("fault-pods: one worker of three fails, the others run", func(t *testing.T) {
		for _, name := range []string{"gang-worker-0", "gang-worker-1", "gang-worker-10"} {
			p := testPod(ns, name, map[string]string{"demo.opsmesh.dev/fault": "Fail", "demo.opsmesh.dev/fault-pods": "worker-1"})
			p.Labels = map[string]string{"gang": "g"}
			if err := c.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		waitPod(t, c, ns, "gang-worker-1", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		for _, name := range []string{"gang-worker-0", "gang-worker-10"} {
			waitPod(t, c, ns, name, podReady)
		}
	})
}

// waitPods waits until the pods with labels satisfy ok.
func waitPods(t *testing.T, c client.Client, ns string, labels map[string]string, what string, ok func([]corev1.Pod) bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		var l corev1.PodList
		if err := c.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			t.Fatal(err)
		}
		if ok(l.Items) {
			return
		}
		if time.Now().After(deadline) {
			var states []string
			for _, p := range l.Items {
				states = append(states, p.Name+" "+string(p.Status.Phase))
			}
			t.Fatalf("waited 90 s for %s in %s: %v", what, ns, states)
		}
	}
}
