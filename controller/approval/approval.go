// Package approval records a person's decision on the remediation actions of an Incident that
// wait for approval: it appends an Approval (action, decision, who, why, when) to the Incident's
// status. It never changes an action's state or runs anything — the incident orchestrator reads
// the approvals and moves the actions on. The CLI (`opsmesh approve`, `opsmesh incidents
// reject`) and the MCP gateway's approve_action tool both decide through Decide. What waits for
// approval and who decided what are read from the Incident itself (opsv1.Incident's
// PendingApprovals, ApprovalOf, ApprovedBy and RecordDecision): this package is only the part
// that talks to the API server.
package approval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// maxReason bounds the reason given with a decision (the Approval field's limit).
const maxReason = 1024

// Decide records decision d by `by` on the action actionID of the Incident at key, or on every
// action that waits for approval when actionID is empty. It refuses, changing nothing, an
// Incident that is finished, an action it does not have, and an action that does not wait for
// approval or was already decided; the error names the incident, the action and what to do. It
// returns the Incident as written.
func Decide(ctx context.Context, c client.Client, key types.NamespacedName, actionID string, d opsv1.ApprovalDecision, by, reason string) (*opsv1.Incident, error) {
	if d != opsv1.DecisionApproved && d != opsv1.DecisionRejected {
		return nil, fmt.Errorf("decision %q: use %s or %s", d, opsv1.DecisionApproved, opsv1.DecisionRejected)
	}
	by = strings.TrimSpace(by)
	if by == "" {
		return nil, errors.New("who decides is empty: pass the user or service account that approves")
	}
	if len(by) > 253 {
		by = by[:253]
	}
	if len(reason) > maxReason {
		return nil, fmt.Errorf("the reason is %d bytes long; keep it under %d", len(reason), maxReason)
	}
	var out *opsv1.Incident
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var inc opsv1.Incident
		if err := c.Get(ctx, key, &inc); err != nil {
			return fmt.Errorf("reading Incident %s: %w", key, err)
		}
		if _, err := inc.RecordDecision(actionID, d, by, reason, metav1.NewTime(time.Now().Truncate(time.Second))); err != nil {
			return err
		}
		if err := c.Status().Update(ctx, &inc); err != nil {
			return err
		}
		out = &inc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WhoAmI is the user name the API server knows the client c by (as `kubectl auth whoami`).
func WhoAmI(ctx context.Context, c client.Client) (string, error) {
	r := &authnv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return "", fmt.Errorf("asking the API server who you are (SelfSubjectReview): %w; pass --as-user to name yourself", err)
	}
	if r.Status.UserInfo.Username == "" {
		return "", errors.New("the API server did not say who you are; pass --as-user to name yourself")
	}
	return r.Status.UserInfo.Username, nil
}
