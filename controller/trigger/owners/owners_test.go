package owners_test

import (
	"context"
	"os"
	"testing"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/trigger/owners"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// TestJobOrCronJob: an alert's job_name that names no Job but a CronJob (a nightly job's name, as
// a rule or a person writes it) is about that CronJob; a Job that exists, or a name that is
// neither, stays as it is.
func TestJobOrCronJob(t *testing.T) {
	env := shared.Env(t)
	c, ctx := env.Client, context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "own-jobs"}}); err != nil {
		t.Fatal(err)
	}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "c:1"}}}}
	if err := c.Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "own-jobs", Name: "ledger-reconcile"},
		Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "own-jobs", Name: "migrate"}, Spec: batchv1.JobSpec{Template: tmpl}}); err != nil {
		t.Fatal(err)
	}
	job := func(name string) opsv1.TargetReference {
		return opsv1.TargetReference{APIVersion: "batch/v1", Kind: "Job", Namespace: "own-jobs", Name: name}
	}
	for _, tc := range []struct {
		in   opsv1.TargetReference
		want string
	}{
		{job("ledger-reconcile"), "CronJob ledger-reconcile"},
		{job("migrate"), "Job migrate"},
		{job("nothing-here"), "Job nothing-here"},
		{opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "own-jobs", Name: "ledger-reconcile"}, "Deployment ledger-reconcile"},
	} {
		got := owners.JobOrCronJob(ctx, c, tc.in)
		if got.Kind+" "+got.Name != tc.want {
			t.Errorf("JobOrCronJob(%s %s) = %s %s, want %s", tc.in.Kind, tc.in.Name, got.Kind, got.Name, tc.want)
		}
	}
}

// TestPodWithContainer: an alert that keeps only namespace and container is about the pod whose
// container of that name fails; with no such container, or two workloads failing alike, it is
// about no pod.
func TestPodWithContainer(t *testing.T) {
	env := shared.Env(t)
	c, ctx := env.Client, context.Background()
	const ns = "own-containers"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	pod := func(name, owner, container string, restarts int32, waiting string) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: types.UID("u-" + owner), Controller: ptrTrue()}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: "x:1"}, {Name: "sidecar", Image: "y:1"}}}}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		st := corev1.ContainerStatus{Name: container, RestartCount: restarts}
		if waiting != "" {
			st.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting}
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{st}}
		if err := c.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pod("orders-a", "orders-1", "api", 0, "")
	pod("orders-b", "orders-1", "api", 7, "CrashLoopBackOff")
	pod("billing-a", "billing-1", "worker", 3, "CrashLoopBackOff")
	pod("billing-b", "reports-1", "worker", 3, "CrashLoopBackOff")
	for _, tc := range []struct {
		container, want string
	}{
		{"api", "orders-b"},
		{"worker", ""},  // two workloads fail alike
		{"missing", ""}, // no pod has it
		{"sidecar", ""}, // on every pod, failing nowhere
	} {
		got, ok := owners.PodWithContainer(ctx, c, ns, tc.container)
		if !ok {
			got.Name = ""
		}
		if got.Name != tc.want {
			t.Errorf("PodWithContainer(%s) = %q (ok %v), want %q", tc.container, got.Name, ok, tc.want)
		}
	}
}

func ptrTrue() *bool { b := true; return &b }
