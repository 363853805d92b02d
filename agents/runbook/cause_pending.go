package runbook

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// pending asks the scheduler server why the subject (or the first unschedulable pod the
// analyzers found) does not run, and names that cause.
func (inv *investigation) pending(sub *subject, an contract.Analysis) bool {
	if _, ok := inv.where["explain_pending"]; !ok {
		return false
	}
	var args map[string]any
	switch {
	case sub != nil && (sub.kind == "pod" || sub.kind == "job" || sub.kind == "workload") && (sub.kind == "workload" || hasCategory(an, diagnosis.Unschedulable) || len(an.Findings) == 0):
		args = map[string]any{"kind": sub.kind, "namespace": sub.namespace, "name": sub.name}
	default:
		for _, f := range an.Findings {
			if f.Category == diagnosis.Unschedulable && strings.HasPrefix(f.Object, "pod/") {
				parts := strings.SplitN(strings.TrimPrefix(f.Object, "pod/"), "/", 2)
				args = map[string]any{"kind": "pod", "namespace": parts[0], "name": parts[1]}
				break
			}
		}
	}
	if args == nil {
		return false
	}
	var x contract.Explanation
	if !inv.callData("explain_pending", args, &x) || x.Category == "" || x.Category == diagnosis.NoProblemFound {
		return false
	}
	object := fmt.Sprintf("%s/%s/%s", args["kind"], args["namespace"], args["name"])
	if x.Cause == nil || x.Cause.Category == "" {
		// a pod that waits for a claim: what the claim waits for (its StorageClass, its access
		// modes, the snapshot it is restored from)
		x.Cause = inv.unboundClaimCause(x)
	}
	rc := opsv1.RootCause{Category: x.Category, Summary: x.Verdict, Confidence: opsv1.ConfidenceHigh}
	if !diagnosis.ValidCategory(rc.Category) {
		rc.Category = diagnosis.Unschedulable
	}
	if c := x.Cause; c != nil && c.Category != "" {
		inv.failingPodLog(c, append([]string{x.Verdict}, x.Evidence...)...)
		rc.Cause = &opsv1.CauseRef{Category: c.Category, Object: clip(c.Object, 512), Field: clip(c.Field, 256), Summary: clip(c.Summary, 1000)}
		rc.Summary = clip(x.Verdict+": "+c.Summary, 1000)
		for _, e := range c.Evidence {
			rc.Evidence = append(rc.Evidence, evidence(c.Object, e))
		}
	}
	rc.Evidence = append(rc.Evidence, evidence(object, x.Verdict))
	for _, e := range x.Evidence {
		if len(rc.Evidence) == 16 {
			break
		}
		rc.Evidence = append(rc.Evidence, evidence(object, e))
	}
	if len(rc.Evidence) > 16 {
		rc.Evidence = rc.Evidence[:16]
	}
	inv.d.RootCause = rc
	inv.d.Findings = append(inv.d.Findings, opsv1.Finding{Agent: inv.e.agent, Category: rc.Category, Summary: x.Verdict, Severity: opsv1.SeverityCritical, Evidence: rc.Evidence})
	// The scheduler's fixes are alternatives, best first. The best one is the plan when it is one
	// tool call (raise a ClusterQueue's quota, move to another LocalQueue, resume a Job, uncordon
	// a node); the others, and changes only a person can make (a toleration, a smaller request),
	// are said as ranked notes.
	for i, f := range x.Fixes {
		if i == 0 && f.Tool != "" {
			inv.plan(f.Tool, f.Arguments, f.Text)
			continue
		}
		inv.note("fix %d: %s", i+1, f.Text)
	}
	return true
}

func hasCategory(an contract.Analysis, c string) bool {
	return slices.ContainsFunc(an.Findings, func(f contract.Finding) bool { return f.Category == c })
}

// unboundClaim is how the scheduler's explanation names a claim the pod waits for.
var unboundClaim = regexp.MustCompile(`PersistentVolumeClaim ([a-z0-9][a-z0-9.-]*)/([a-z0-9][a-z0-9.-]*) is unbound`)

// unboundClaimCause runs volume_check on the unbound claim the explanation names and returns its
// first cause; without one, the cause the claim's own analysis names (its StorageClass missing,
// its provisioner not running). nil when none, or volume_check is not granted.
func (inv *investigation) unboundClaimCause(x contract.Explanation) *contract.Cause {
	if _, ok := inv.where["volume_check"]; !ok {
		return nil
	}
	m := unboundClaim.FindStringSubmatch(strings.Join(append([]string{x.Verdict}, x.Evidence...), "\n"))
	if m == nil {
		return nil
	}
	var rep contract.CheckReport
	if inv.callData("volume_check", map[string]any{"namespace": m[1], "claim": m[2]}, &rep) && len(rep.Causes) > 0 {
		c := rep.Causes[0]
		return &c
	}
	// what the claim's own analysis found (a StorageClass that does not exist, a provisioner
	// that does not run)
	var an contract.Analysis
	if !inv.callData("analyze", map[string]any{"namespace": m[1], "kind": "persistentvolumeclaim", "name": m[2]}, &an) {
		return nil
	}
	for _, f := range an.Findings {
		if f.Cause != nil && f.Cause.Category != "" {
			c := *f.Cause
			return &c
		}
	}
	return nil
}
