package runbook

import (
	"fmt"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

func firstEvidence(f contract.Finding) string {
	if len(f.Evidence) == 0 {
		return f.Category
	}
	return f.Evidence[0]
}

func severityOf(s string) opsv1.Severity {
	if s == "critical" {
		return opsv1.SeverityCritical
	}
	return opsv1.SeverityWarning
}

func evidenceOf(f contract.Finding) []opsv1.Evidence {
	var out []opsv1.Evidence
	for _, e := range f.Evidence {
		if len(out) == 8 {
			break
		}
		out = append(out, evidence(f.Object, e))
	}
	return out
}

// fromFinding names the cause after the most severe finding, preferring one on the subject, and
// plans its fix. For a crash it reads the crashed container's last log lines as evidence.
func (inv *investigation) fromFinding(found []contract.Finding, sub *subject) {
	f := found[0] // critical first, in the analyzers' order
	rc := opsv1.RootCause{Category: f.Category, Evidence: evidenceOf(f), Confidence: opsv1.ConfidenceHigh}
	if !diagnosis.ValidCategory(rc.Category) {
		rc.Category = diagnosis.Unknown
	}
	distinct := map[string]bool{}
	for _, g := range found {
		distinct[g.Category] = true
	}
	if len(distinct) > 1 {
		rc.Confidence = opsv1.ConfidenceMedium
	}
	owner := f.Object
	if f.Owner != "" {
		owner = f.Owner
	}
	rc.Summary = fmt.Sprintf("%s: %s", owner, summaryOf(f))
	if f.Category == diagnosis.CrashLoopBackOff && strings.HasPrefix(f.Object, "pod/") {
		if lines := inv.crashLog(f); len(lines) > 0 {
			for _, l := range lines {
				rc.Evidence = append(rc.Evidence, evidence(f.Object, "previous log: "+l))
			}
			rc.Summary += "; its last log says: " + lines[len(lines)-1]
		}
	}
	if len(rc.Evidence) > 16 {
		rc.Evidence = rc.Evidence[:16]
	}
	inv.d.RootCause = rc
	if p := placeholder(f.Fix.Arguments); f.Fix.Tool != "" && p != "" {
		// A value only a person knows (an image the registry has): proposed as words, not as a
		// call that would write the placeholder itself.
		inv.note("no automatic fix: %s needs %s for %s%s", f.Fix.Tool, p, owner, suggestionNote(f.Fix.Text))
	} else if f.Fix.Tool != "" {
		inv.plan(f.Fix.Tool, f.Fix.Arguments, "fixes "+f.Category+" on "+owner+suggestionNote(f.Fix.Text))
	} else if f.Fix.Text != "" {
		inv.note("no automatic fix: %s", f.Fix.Text)
	}
}

// placeholder is the first argument value written as <what to put here>, as the analyzers write
// values they cannot know; "" when there is none.
func placeholder(args map[string]any) string {
	for _, v := range args {
		if s, ok := v.(string); ok && len(s) > 2 && strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
			return s
		}
	}
	return ""
}

func suggestionNote(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

// findingWords say each analyzer category in words.
var findingWords = map[string]string{
	diagnosis.CrashLoopBackOff:           "its containers crash and restart in a loop",
	diagnosis.ImagePullBackOff:           "its image cannot be pulled",
	diagnosis.OOMKilled:                  "its container is killed for running out of its memory limit",
	diagnosis.CreateContainerConfigError: "its container cannot start: a ConfigMap, Secret or key it references is missing",
	diagnosis.ProbeFailing:               "its probes fail",
	diagnosis.RolloutStuck:               "its rollout is stuck",
	diagnosis.ReplicasUnavailable:        "replicas are unavailable",
	diagnosis.ServiceNoEndpoints:         "the Service has no ready endpoints",
	diagnosis.JobFailed:                  "the Job failed",
	diagnosis.HPAUnableToScale:           "the HorizontalPodAutoscaler cannot scale",
	diagnosis.QuotaExceeded:              "a ResourceQuota refuses its pods",
	diagnosis.QuotaFull:                  "a ResourceQuota is full",
	diagnosis.PVCPending:                 "its PersistentVolumeClaim is not bound",
	diagnosis.NodeNotReady:               "the node is not Ready",
	diagnosis.NodePressure:               "the node is under resource pressure",
	diagnosis.Unschedulable:              "its pods cannot be scheduled",
}

// summaryOf says a finding in words.
func summaryOf(f contract.Finding) string {
	w, ok := findingWords[f.Category]
	if !ok {
		w = f.Category
	}
	if len(f.Evidence) > 0 {
		w += " (" + f.Evidence[0] + ")"
	}
	return w
}

// crashLog reads the crashed container's previous log and keeps its last error-looking lines.
func (inv *investigation) crashLog(f contract.Finding) []string {
	parts := strings.SplitN(strings.TrimPrefix(f.Object, "pod/"), "/", 2)
	if len(parts) != 2 {
		return nil
	}
	args := map[string]any{"namespace": parts[0], "name": parts[1], "previous": true, "tailLines": 50}
	if f.Container != "" {
		args["container"] = f.Container
	}
	var logs contract.PodLogs
	if !inv.callData("pod_logs", args, &logs) {
		return nil
	}
	var all, errs []string
	for _, l := range logs.Lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		all = append(all, l)
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, "fatal") || strings.Contains(low, "panic") || strings.Contains(low, "exception") || strings.Contains(low, "invalid") || strings.Contains(low, "not found") || strings.Contains(low, "no such") {
			errs = append(errs, l)
		}
	}
	if len(errs) == 0 && len(all) > 0 {
		errs = all[len(all)-1:]
	}
	if len(errs) > 3 {
		errs = errs[len(errs)-3:]
	}
	for i, l := range errs {
		if len(l) > 300 {
			errs[i] = l[:300] + "..."
		}
	}
	return errs
}
