package runbook

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/knowledge"
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

// reported is finding f as the diagnosis lists it.
func (inv *investigation) reported(f contract.Finding) opsv1.Finding {
	return opsv1.Finding{Agent: inv.e.agent, Category: f.Category, Summary: f.Object + ": " + firstEvidence(f), Severity: severityOf(f.Severity), Evidence: evidenceOf(f)}
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

// fromFinding names the cause after the most severe finding, preferring one on the subject: the
// finding is the symptom; trace follows it to its cause (the object and field at fault), and the
// plan is what the cause calls for — the symptom's own fix (a restart) only when nothing
// behind it says otherwise.
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
	t := inv.trace(f, sub)
	if c := t.cause; c != nil {
		rc.Cause = &opsv1.CauseRef{Category: c.Category, Object: clip(c.Object, 512), Field: clip(c.Field, 256), Summary: clip(c.Summary, 1000)}
		rc.Summary = clip(fmt.Sprintf("%s: %s (symptom: %s)", owner, c.Summary, findingWord(f.Category)), 1000)
		var ev []opsv1.Evidence
		for _, e := range c.Evidence {
			ev = append(ev, evidence(c.Object, e))
		}
		rc.Evidence = append(ev, rc.Evidence...)
	} else if f.Category == diagnosis.CrashLoopBackOff && strings.HasPrefix(f.Object, "pod/") {
		if lines := crashLines(t.previousLog); len(lines) > 0 {
			for _, l := range lines {
				rc.Evidence = append(rc.Evidence, evidence(f.Object, "previous log: "+l))
			}
			rc.Summary += "; its last log says: " + lines[len(lines)-1]
		}
	}
	if t.cause == nil {
		// no cause named, but what the revision the failure began with changed is said, or the
		// moving tag a new pod may have pulled another version of
		rc.Summary = withRevision(rc.Summary, f)
		if f.Category == diagnosis.CrashLoopBackOff || f.Category == diagnosis.JobFailed {
			if phrase, ev := inv.latestImage(rc.Summary, f); phrase != "" {
				rc.Summary = clip(rc.Summary+phrase, 1000)
				rc.Evidence = append(rc.Evidence, evidence(f.Object, ev))
			}
		}
	}
	if len(rc.Evidence) > 16 {
		rc.Evidence = rc.Evidence[:16]
	}
	inv.d.RootCause = rc
	switch {
	case t.hit != nil:
		inv.act(*t.hit, t.cause, f, owner)
	case t.cause != nil && t.cause.Category == contract.DependencyUnreachable:
		inv.note("no automatic fix: fix the dependency %s first; restarting %s cannot help", t.cause.Object, owner)
	case t.cause != nil && t.cause.Fix != nil && t.cause.Fix.Tool != "":
		inv.planFix(*t.cause.Fix, f.Category, owner)
	default:
		// The symptom's fix (a rollback to the revision before the change) where the cause
		// says only what is wrong, in words.
		if t.cause != nil && t.cause.Fix != nil && t.cause.Fix.Text != "" {
			inv.note("to fix the cause: %s", t.cause.Fix.Text)
		}
		inv.symptomFix(t.cause, f, owner)
	}
}

// symptomFix plans the analyzer's fix for the symptom — unless it restarts the workload while the
// cause lies in another object (a ConfigMap, a Secret, a dependency), which a restart reads
// again unchanged: that waits for a person's change.
func (inv *investigation) symptomFix(cause *contract.Cause, f contract.Finding, owner string) {
	if cause != nil && strings.HasPrefix(cause.Object, "resourcequota/") && (f.Fix.Tool == "workload_rollback" || f.Fix.Tool == "workload_restart") && !revisionChanged(f, "limits.") {
		// a quota without room refuses the old template's pods as it does the new one's (the
		// revision did not change what they ask for): a rollback abandons the release without
		// fixing the quota
		inv.note("no automatic fix: %s (%s); rolling back or restarting %s does not make room in it", cause.Object, cause.Summary, owner)
		return
	}
	if cause != nil && cause.Category == contract.ApplicationConfig && f.Fix.Tool == "workload_set_resources" {
		// a setting that makes the program use more (a runtime's heap budget, a batch size): a
		// larger limit only lets it grow again
		inv.note("no automatic fix: %s (%s); raising %s's resources does not correct it", cause.Object, cause.Summary, owner)
		return
	}
	if cause != nil && elsewhere(cause.Object, owner) && (f.Fix.Tool == "workload_restart" || f.Fix.Tool == "pod_delete") {
		inv.note("no automatic fix: fix %s first (%s); restarting %s before that cannot help", cause.Object, cause.Summary, owner)
		return
	}
	if f.Category == diagnosis.CrashLoopBackOff && (f.Fix.Tool == "workload_restart" || f.Fix.Tool == "pod_delete") {
		// The kubelet restarts the container already, and it crashes again each time: a restart
		// of the workload starts the same container with the same settings.
		inv.note("no automatic fix: %s crashes at every start and the kubelet already restarts it; restarting it again cannot help: fix what its logs say%s", owner, suggestionNote(f.Fix.Text))
		return
	}
	inv.planFindingFix(f, owner)
}

// planFindingFix plans the finding's own fix, but no rollback that would run an older image
// over data the newer one may have converted.
func (inv *investigation) planFindingFix(f contract.Finding, owner string) {
	if f.Fix.Tool == "workload_rollback" && inv.heldDataRollback(owner, f) {
		return
	}
	inv.planFix(f.Fix, f.Category, owner)
}

// heldDataRollback notes, and reports, that a rollback of owner is left to a person because
// it would run an older image over data the newer one may have converted (dataRollback).
func (inv *investigation) heldDataRollback(owner string, f contract.Finding) bool {
	if !dataRollback(owner, f) {
		return false
	}
	inv.note("no automatic fix: rolling %s back would start the previous image on data the new one may already have converted; fix the cause, or roll back by hand with a backup at hand%s", owner, suggestionNote(f.Fix.Text))
	return true
}

// revisionChanged says whether the finding's evidence says the latest revision changed
// something whose description contains what ("limits." for a container's limits).
func revisionChanged(f contract.Finding, what string) bool {
	for _, e := range f.Evidence {
		if strings.HasPrefix(e, "the latest revision") && strings.Contains(e, what) {
			return true
		}
	}
	return false
}

// dataRollback says whether rolling owner back would run an older image over data the newer one
// may have written: a StatefulSet whose latest revision changed an image's major version (a
// database upgraded from 5.7 to 8.0 rewrites its data files at first start; the older server may
// not read them). A minor or runtime change (a JRE bump) rolls back as any other.
// Such a rollback is a person's decision, with a backup at hand.
func dataRollback(owner string, f contract.Finding) bool {
	if !strings.HasPrefix(owner, "statefulset/") {
		return false
	}
	for _, e := range f.Evidence {
		if !strings.HasPrefix(e, "the latest revision") {
			continue
		}
		for _, m := range imageChange.FindAllStringSubmatch(e, -1) {
			from, to := majorOf(m[1]), majorOf(m[2])
			if from != "" && to != "" && from != to {
				return true // mysql:5.7.44 → mysql:8.0.40; not zookeeper:3.8.4-jre11 → zookeeper:3.9.3-jre21
			}
		}
	}
	return false
}

// imageChange reads "image A → B" in a revision's evidence.
var imageChange = regexp.MustCompile(`image (\S+) → (\S+?)[;,)]?(?:\s|$)`)

// majorOf is the leading number of an image's tag (the application's major version), "" when
// the tag does not start with one.
func majorOf(image string) string {
	if i := strings.LastIndex(image, "@"); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	tag := strings.TrimPrefix(image[i+1:], "v")
	j := 0
	for j < len(tag) && tag[j] >= '0' && tag[j] <= '9' {
		j++
	}
	return tag[:j]
}

// planFix plans a suggested fix: a tool call when it is one and needs no value only a person
// knows, else words.
func (inv *investigation) planFix(fix contract.Fix, category, owner string) {
	if p := placeholder(fix.Arguments); fix.Tool != "" && p != "" {
		// A value only a person knows (an image the registry has): proposed as words, not as a
		// call that would write the placeholder itself.
		inv.note("no automatic fix: %s needs %s for %s%s", fix.Tool, p, owner, suggestionNote(fix.Text))
	} else if fix.Tool != "" {
		inv.plan(fix.Tool, fix.Arguments, "fixes "+category+" on "+owner+suggestionNote(fix.Text))
	} else if fix.Text != "" {
		inv.note("no automatic fix: %s", fix.Text)
	}
}

// act plans what the runbook that found the cause proposes.
func (inv *investigation) act(h knowledge.Hit, cause *contract.Cause, f contract.Finding, owner string) {
	switch {
	case cause != nil && cause.Category != h.Runbook.Cause.Category && cause.Fix != nil && cause.Fix.Text != "":
		// a follow-up check found another cause than the signature's: its fix, not the runbook's
		inv.note("to fix the cause: %s", cause.Fix.Text)
	case h.Advice() != "":
		inv.note("runbook %s: %s", h.Runbook.Name, h.Advice())
	}
	switch h.Runbook.Action.Kind {
	case knowledge.ActionFinding:
		inv.symptomFix(cause, f, owner)
	case knowledge.ActionRollback:
		if f.Fix.Tool == "workload_restart" {
			// the analyzer offers a restart only where the workload has no previous revision
			inv.note("no automatic fix: %s has no previous revision to roll back to", owner)
			return
		}
		if inv.heldDataRollback(owner, f) {
			return
		}
		if args := restartArgs(owner); args != nil {
			inv.plan("workload_rollback", args, fmt.Sprintf("roll %s back to its previous revision: %s (runbook %s)", owner, h.Cause().Summary, h.Runbook.Name))
		} else {
			inv.note("no automatic fix: %s cannot be rolled back; change its template", owner)
		}
	case knowledge.ActionTool:
		inv.plan(h.Runbook.Action.Tool, h.ActionArgs(), fmt.Sprintf("%s (runbook %s)", h.Cause().Summary, h.Runbook.Name))
	default:
		// a new image brings its libraries' defaults too (a TLS client that now verifies, a driver
		// that now encrypts): a credentials failure in the workload itself that began with it
		imageBrought := cause != nil && cause.Category == contract.CredentialsRejected && revisionChanged(f, ": image ")
		if f.Fix.Tool == "workload_rollback" && cause != nil && !elsewhere(cause.Object, owner) && (revisionMayBring[cause.Category] || templateChanged(cause, f) || imageBrought) {
			// The analyzer offers a rollback because the revision before worked: a setting,
			// an image or a probe the new revision brought is undone by it.
			inv.planFindingFix(f, owner)
			return
		}
		inv.note("no automatic fix: the cause is not in %s itself; a restart or rollback cannot help", owner)
	}
}

// revisionMayBring are the causes a new revision of the workload's own template can bring (and a
// rollback undo): its settings, its image, its probes, its limits.
var revisionMayBring = map[string]bool{
	contract.ApplicationConfig: true, contract.ApplicationError: true, contract.ImageArchitecture: true,
	contract.CUDADriverMismatch: true, contract.ImageReference: true, contract.ProbeMisconfigured: true,
	contract.MemoryLimit: true,
}

// templateChanged says whether the cause is a field of the workload's own pod template and the
// analyzer saw the latest revision change the template (its "the latest revision ... changed"
// evidence): a rollback undoes what the revision brought (a hostNetwork without its dnsPolicy).
func templateChanged(cause *contract.Cause, f contract.Finding) bool {
	if !strings.HasPrefix(cause.Field, "spec.template.") && !strings.HasPrefix(cause.Field, "spec.jobTemplate.") {
		return false
	}
	for _, e := range f.Evidence {
		if strings.HasPrefix(e, "the latest revision") && strings.Contains(e, " changed ") {
			return true
		}
	}
	return false
}

// elsewhere says whether the object at fault is another object than the workload (or its pods).
func elsewhere(object, owner string) bool {
	if object == "" || object == owner {
		return false
	}
	return !strings.HasPrefix(object, "pod/")
}

// findingWord says a symptom category in a few words.
func findingWord(c string) string {
	if w, ok := findingWords[c]; ok {
		return c + ", " + w
	}
	return c
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
	diagnosis.Unknown:                    "no analyzer finds it broken: its pods run",
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

// crashLines keeps the last error-looking lines (at most 3) of the crashed container's previous
// log, which trace already read (newest first).
func crashLines(newestFirst []string) []string {
	var all, errs []string
	for i := len(newestFirst) - 1; i >= 0; i-- {
		l := strings.TrimSpace(newestFirst[i])
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
