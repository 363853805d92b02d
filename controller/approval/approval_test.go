package approval_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
)

// TestDecideRefusesBadInput checks that Decide refuses a decision it cannot record before it
// asks the API server anything (the client is nil: a call would panic). Decide's reads and
// writes are exercised against a real API server by controller/incident's end-to-end tests.
func TestDecideRefusesBadInput(t *testing.T) {
	key := types.NamespacedName{Namespace: "shop", Name: "checkout"}
	for _, c := range []struct {
		name     string
		decision opsv1.ApprovalDecision
		by       string
		reason   string
		wantErr  string
	}{
		{"an unknown decision", "Maybe", "alice", "", `decision "Maybe": use Approved or Rejected`},
		{"nobody decides", opsv1.DecisionApproved, "  ", "", "who decides is empty"},
		{"a reason too long", opsv1.DecisionRejected, "bob", strings.Repeat("x", 1025), "the reason is 1025 bytes long; keep it under 1024"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := approval.Decide(context.Background(), nil, key, "a1", c.decision, c.by, c.reason)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, c.wantErr)
			}
		})
	}
}
