package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Helpers for the tests of the inspect tools (describe, events_list, pod_logs, nodes_status,
// workload_health). envtest runs no kubelet and no controllers: tests write the status a
// controller would through the status subresource, and the events a component would.

// createWithStatus creates obj and then writes its status, as its controller or kubelet would.
func createWithStatus(t *testing.T, obj client.Object, status func()) {
	t.Helper()
	ctx := context.Background()
	c := apiServer(t).Client
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
	if status != nil {
		status()
		if err := c.Status().Update(ctx, obj); err != nil {
			t.Fatalf("writing the status of %s: %v", obj.GetName(), err)
		}
	}
}

// event records an event about an object, last seen ago, as a component would.
func event(t *testing.T, ns, name string, about corev1.ObjectReference, typ, reason, message string, count int32, ago time.Duration) {
	t.Helper()
	last := metav1.NewTime(time.Now().Add(-ago).Truncate(time.Second))
	e := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
		InvolvedObject: about,
		Type:           typ, Reason: reason, Message: message, Count: count,
		FirstTimestamp: last, LastTimestamp: last,
		Source: corev1.EventSource{Component: "opsmesh-test"},
	}
	if err := apiServer(t).Client.Create(context.Background(), e); err != nil {
		t.Fatalf("creating event %s: %v", name, err)
	}
}

func refTo(kind, ns, name string, uid ...string) corev1.ObjectReference {
	r := corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name}
	if len(uid) > 0 {
		r.UID = types.UID(uid[0])
	}
	return r
}

// line returns the one line of text that contains each of want, failing when there is none.
func line(t *testing.T, text string, want ...string) string {
	t.Helper()
	for l := range strings.SplitSeq(text, "\n") {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return l
		}
	}
	t.Fatalf("no line contains all of %q:\n%s", want, text)
	return ""
}

// inOrder checks that each of want appears in text after the one before.
func inOrder(t *testing.T, text string, want ...string) {
	t.Helper()
	at := 0
	for _, w := range want {
		i := strings.Index(text[at:], w)
		if i < 0 {
			t.Errorf("%q does not appear after %q in:\n%s", w, text[:at], text)
			return
		}
		at += i + len(w)
	}
}

// fields splits a table line into its cells.
func fields(l string) []string { return strings.Fields(l) }

func hasField(t *testing.T, l, want string) {
	t.Helper()
	for _, f := range fields(l) {
		if f == want {
			return
		}
	}
	t.Errorf("line has no cell %q: %s", want, l)
}

func notContain(t *testing.T, text string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(text, u) {
			t.Errorf("output contains %q, which it must not:\n%s", u, text)
		}
	}
}

// noRow checks that no table row has a cell equal to cell.
func noRow(t *testing.T, text, cell string) {
	t.Helper()
	for l := range strings.SplitSeq(text, "\n") {
		for _, f := range fields(l) {
			if f == cell {
				t.Errorf("a row has %q, which it must not: %s\n%s", cell, l, text)
			}
		}
	}
}
