package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/agents/broker"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/audit"
)

func entry(seq int64, ev, msg string) opsv1.TimelineEntry {
	return opsv1.TimelineEntry{Seq: seq, Time: metav1.Now(), Event: ev, Message: msg, Actor: "controller"}
}

// TestPublishOnce publishes a timeline twice (as a controller does when it restarts before
// recording auditedSeq) and reads every entry back once, with its action named.
func TestPublishOnce(t *testing.T) {
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	trail, err := audit.New(ctx, b.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout.v2", UID: "u-1"}}
	inc.Status.Actions = []opsv1.RemediationAction{{ID: "a1", Tool: "workload_rollback", IdempotencyKey: "u-1.a1"}}
	inc.Status.Timeline = []opsv1.TimelineEntry{entry(1, "Detected", "raised"), entry(2, "ActionStarted", "action a1: workload_rollback")}
	for range 2 {
		seq, err := trail.Publish(ctx, inc)
		if err != nil || seq != 2 {
			t.Fatalf("Publish = %d, %v", seq, err)
		}
	}
	inc.Status.AuditedSeq = 2
	inc.Status.Timeline = append(inc.Status.Timeline, entry(3, "ActionSucceeded", "action a1: workload_rollback succeeded"))
	if seq, err := trail.Publish(ctx, inc); err != nil || seq != 3 {
		t.Fatalf("Publish after auditedSeq 2 = %d, %v", seq, err)
	}
	evs, err := audit.Read(ctx, b.JetStream(), "shop", "checkout.v2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Event+"/"+e.ActionID+"/"+e.IdempotencyKey)
	}
	if strings.Join(got, " ") != "Detected// ActionStarted/a1/u-1.a1 ActionSucceeded/a1/u-1.a1" {
		t.Errorf("trail %v: want each entry once, actions named", got)
	}
	if s := evs[0].Subject(); s != "opsmesh.incidents.shop.checkout_v2.Detected" {
		t.Errorf("subject %s: a name's dots must not split the token", s)
	}
	if evs[2].MsgID() != "u-1.3" || evs[2].Time.After(time.Now()) {
		t.Errorf("msg id %s", evs[2].MsgID())
	}
}
