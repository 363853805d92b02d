package manager_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/broker"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/manager"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// replica runs one controller replica with leader election until its stop is called.
func replica(t *testing.T, env *testbed.Env, b *broker.Broker, id string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- manager.Run(ctx, manager.Options{RestConfig: env.Config, NATS: b.Conn(), JetStream: b.JetStream(), Identity: id,
			LeaderElection: true, LeaderElectionNamespace: "opsmesh", LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
			Logger: logr.Discard()})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replica %s: %v", id, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func holder(env *testbed.Env) string {
	var l coordinationv1.Lease
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "opsmesh", Name: "opsmesh-controller"}, &l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func raise(t *testing.T, env *testbed.Env, name string) {
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "opsmesh", Name: name},
		Spec: opsv1.IncidentSpec{Summary: "something is wrong", Source: opsv1.IncidentSource{Type: opsv1.SourceManual}}}
	if err := env.Client.Create(context.Background(), inc); err != nil {
		t.Fatal(err)
	}
}

// actors waits until the Incident has a timeline and returns who wrote each entry.
func actors(t *testing.T, env *testbed.Env, name string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var inc opsv1.Incident
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "opsmesh", Name: name}, &inc); err != nil {
			t.Fatal(err)
		}
		if len(inc.Status.Timeline) > 0 {
			var out []string
			for _, e := range inc.Status.Timeline {
				out = append(out, e.Actor)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("Incident %s: no replica handled it", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOneLeaderActs runs two replicas: only the one holding the Lease handles Incidents; when it
// stops, the other takes the Lease and handles the next one, and leaves the first alone.
func TestOneLeaderActs(t *testing.T) {
	env := shared.Env(t)
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "opsmesh"}}); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(context.Background(), broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stops := map[string]func(){"replica-a": replica(t, env, b, "replica-a"), "replica-b": replica(t, env, b, "replica-b")}

	var leader string
	for deadline := time.Now().Add(30 * time.Second); leader == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica took the Lease opsmesh/opsmesh-controller")
		}
		leader = holder(env)
	}
	other := map[string]string{"replica-a": "replica-b", "replica-b": "replica-a"}[leader]
	raise(t, env, "first")
	got := actors(t, env, "first")
	for _, a := range got {
		if a != "controller "+leader {
			t.Errorf("Incident first: entry by %q while %s leads: %v", a, leader, got)
		}
	}

	stops[leader]()
	for deadline := time.Now().Add(30 * time.Second); holder(env) != other; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not take the Lease after %s stopped (holder %q)", other, leader, holder(env))
		}
	}
	raise(t, env, "second")
	if got := actors(t, env, "second"); got[0] != "controller "+other {
		t.Errorf("Incident second handled by %v, want %s", got, other)
	}
	time.Sleep(time.Second)
	var first opsv1.Incident
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "opsmesh", Name: "first"}, &first); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range first.Status.Timeline {
		if e.Event == "Detected" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Incident first detected %d times: %s", n, fmt.Sprint(first.Status.Timeline))
	}
}
