//go:build cgo

package incident_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
	"github.com/opsmesh/opsmesh/controller/incident"
	"github.com/opsmesh/opsmesh/controller/trigger/dedup"
)

// TestNoProblemFoundEndsByTheSignal: the agents find nothing wrong with a healthy Deployment.
// An Incident whose alert still fires is not Resolved on that word: it escalates as Inconclusive,
// saying what was checked and which signal persists. One whose alert Alertmanager resolved is
// Resolved.
func TestNoProblemFoundEndsByTheSignal(t *testing.T) {
	b := newBed(t)
	ns := b.c.Namespace("quiet")
	rs := b.c.Deployment(ns, "web", 1, nil)
	b.c.Pod(rs, ns, "web-h1-0", "", healthy())
	b.deploymentReady(ns, "web", 1)
	target := &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "web"}

	for _, tc := range []struct {
		name     string
		resolved bool // Alertmanager said the alert is resolved (opsmesh.dev/resolved-at)
		phase    opsv1.IncidentPhase
		reason   string
		says     []string
	}{
		{name: "alert-firing", phase: opsv1.PhaseEscalated, reason: incident.ReasonInconclusive,
			says: []string{"inconclusive: the agents found no problem", "alert KubeDeploymentReplicasMismatch is still firing", "Checked: diagnosis: NoProblemFound", "tool calls"}},
		{name: "alert-resolved", resolved: true, phase: opsv1.PhaseResolved, reason: incident.ReasonNoProblemFound,
			says: []string{"the agents found no problem and the signal is gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := &opsv1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tc.name},
				Spec: opsv1.IncidentSpec{Summary: "web has fewer replicas than desired", Target: target,
					Source: opsv1.IncidentSource{Type: opsv1.SourceAlertmanager, Name: "KubeDeploymentReplicasMismatch"}}}
			if tc.resolved {
				inc.Annotations = map[string]string{dedup.AnnotationResolvedAt: time.Now().UTC().Format(time.RFC3339)}
			}
			b.c.Create(inc)
			var got *opsv1.Incident
			eventually(t, 60*time.Second, "the Incident ends", func() error {
				got = b.get(ns, tc.name)
				if !got.Status.Phase.Terminal() {
					return fmt.Errorf("phase %q:\n%s", got.Status.Phase, timeline(got))
				}
				return nil
			})
			if rc := got.Status.RootCause; rc == nil || rc.Category != "NoProblemFound" {
				t.Fatalf("root cause %+v; this test needs the agents to find no problem with a healthy Deployment:\n%s", rc, timeline(got))
			}
			if got.Status.Phase != tc.phase {
				t.Fatalf("phase %s, want %s:\n%s", got.Status.Phase, tc.phase, timeline(got))
			}
			c := meta.FindStatusCondition(got.Status.Conditions, opsv1.ConditionReady)
			if c == nil || c.Reason != tc.reason {
				t.Fatalf("Ready condition %+v, want reason %s", c, tc.reason)
			}
			for _, s := range tc.says {
				if !strings.Contains(c.Message, s) {
					t.Errorf("the ending says %q; want it to say %q", c.Message, s)
				}
			}
		})
	}
}

// approveRollback raises an Incident about release ns/name's crashloop, approves the rollback the
// agents propose, and waits until it ran.
func (b *bed) approveRollback(ns, name string) {
	b.t.Helper()
	b.raise(ns, name+"-crashloop", nil, &opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: name}, name+" pods are crashlooping")
	inc := b.waitPhase(ns, name+"-crashloop", opsv1.PhaseAwaitingApproval, 60*time.Second)
	a := action(inc, "workload_rollback")
	if a == nil {
		b.t.Fatalf("no rollback proposed:\n%s", timeline(inc))
	}
	if _, err := approval.Decide(context.Background(), b.env.Client, types.NamespacedName{Namespace: ns, Name: name + "-crashloop"}, a.ID, opsv1.DecisionApproved, "alice", ""); err != nil {
		b.t.Fatal(err)
	}
	eventually(b.t, 60*time.Second, "the approved rollback runs", func() error {
		inc = b.get(ns, name+"-crashloop")
		if a := action(inc, "workload_rollback"); a.State != opsv1.ActionSucceeded {
			return fmt.Errorf("rollback %s: %s\n%s", a.State, a.Message, timeline(inc))
		}
		return nil
	})
}

// TestRollbackVerifiedWhenTheDeploymentIsReady: after the rollback the crashing pod is gone, so
// the agents no longer find the crash loop; but the Deployment has none of its replicas ready,
// and the incident waits in Verifying until it has.
func TestRollbackVerifiedWhenTheDeploymentIsReady(t *testing.T) {
	b := newBed(t)
	ns := b.c.Namespace("slow-rollout")
	b.release(ns, "cart")
	b.approveRollback(ns, "cart")
	b.rollOutPods(ns, "cart")
	b.deploymentReady(ns, "cart", 0)

	name := "cart-crashloop"
	eventually(t, 30*time.Second, "verification waits for the Deployment", func() error {
		inc := b.get(ns, name)
		if inc.Status.Phase != opsv1.PhaseVerifying {
			t.Fatalf("phase %s while the Deployment has 0 of 1 replicas ready, want Verifying:\n%s", inc.Status.Phase, timeline(inc))
		}
		for _, e := range inc.Status.Timeline {
			if e.Event == "WaitingForWorkload" && strings.Contains(e.Message, "deployment "+ns+"/cart") && strings.Contains(e.Message, "0 of 1 replicas are ready") {
				return nil
			}
		}
		return fmt.Errorf("no WaitingForWorkload entry yet:\n%s", timeline(inc))
	})
	b.deploymentReady(ns, "cart", 1)
	inc := b.waitPhase(ns, name, opsv1.PhaseResolved, 30*time.Second)
	if c := meta.FindStatusCondition(inc.Status.Conditions, opsv1.ConditionReady); c == nil || c.Reason != incident.ReasonVerified || !strings.Contains(c.Message, "is healthy (1 of 1 replicas are ready") {
		t.Errorf("Ready condition %+v: want Verified, naming the Deployment's health", c)
	}
}

// TestRollbackEscalatedWhenTheDeploymentNeverGetsReady: the rollback ran, the crash loop is gone,
// but the Deployment never has a replica ready: after the verify timeout the incident escalates,
// saying what ran and what is not healthy.
func TestRollbackEscalatedWhenTheDeploymentNeverGetsReady(t *testing.T) {
	b := newBed(t)
	ns := b.c.Namespace("stuck-rollout")
	b.release(ns, "cart")
	b.approveRollback(ns, "cart")
	b.rollOutPods(ns, "cart")
	b.deploymentReady(ns, "cart", 0)

	inc := b.waitPhase(ns, "cart-crashloop", opsv1.PhaseEscalated, 60*time.Second)
	c := meta.FindStatusCondition(inc.Status.Conditions, opsv1.ConditionReady)
	if c == nil || c.Reason != incident.ReasonNotVerified {
		t.Fatalf("Ready condition %+v, want NotVerified:\n%s", c, timeline(inc))
	}
	for _, s := range []string{"workload_rollback on deployment " + ns + "/cart applied", "0 of 1 replicas are ready", "after 20s"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("the escalation says %q; want %q", c.Message, s)
		}
	}
}
