package runbook

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/api/contract"
)

// traced is what the step from a symptom to its cause found: the cause (nil when none was
// found) and the runbook whose signature led there (nil when the analyzer named the cause itself
// or a neighbour was linked).
type traced struct {
	cause *contract.Cause
	hit   *knowledge.Hit
	// lines are the log lines read on the way (quoted as evidence when they matched nothing).
	lines []string
}

// trace goes from the finding f (the symptom) to its cause:
//  1. the cause the analyzer established itself (a DaemonSet's untolerated taint, the budget
//     that refuses a node's evictions, an Ingress's missing backend);
//  2. else the first runbook whose signature matches one of the lines the failure left — the
//     finding's evidence (termination messages, events), then the failing container's
//     previous and current logs — and the follow-up checks it names, whose first cause (the
//     Role, the NetworkPolicy, the claim) replaces the signature's own;
//  3. else, or when the signature points at a dependency it could not resolve, a failing
//     neighbour the subject's own spec names (a dependency crashlooping next to it).
func (inv *investigation) trace(f contract.Finding, sub *subject) traced {
	if f.Cause != nil && f.Cause.Category != "" {
		return traced{cause: f.Cause}
	}
	ctx := inv.contextOf(f)
	lines := slices.Clone(f.Evidence)
	var logLines []string
	if ctx.Pod != "" {
		logLines = append(logLines, inv.logLines(f, true)...)
		logLines = append(logLines, inv.logLines(f, false)...)
	}
	lines = append(lines, logLines...)
	t := traced{lines: logLines}
	if hit, ok := inv.e.book.Match(lines, ctx); ok {
		c := hit.Cause()
		t.cause, t.hit = &c, &hit
		for _, call := range hit.Calls() {
			if _, granted := inv.where[call.Tool]; !granted {
				inv.note("runbook %s: follow-up %s is not granted to this agent; the cause stays at the signature's word", hit.Runbook.Name, call.Tool)
				continue
			}
			var rep contract.CheckReport
			if !inv.callData(call.Tool, call.Args, &rep) {
				continue
			}
			if rep.Checked != "" {
				inv.note("%s: %s", call.Tool, firstLine(rep.Checked))
			}
			if len(rep.Causes) > 0 {
				better := rep.Causes[0]
				better.Evidence = append([]string{hit.Line}, better.Evidence...)
				t.cause = &better
				break
			}
		}
	}
	if t.cause == nil || (t.cause.Category == contract.DependencyUnreachable && !strings.HasPrefix(t.cause.Object, "service/")) || t.cause.Category == contract.ApplicationError {
		if dep := inv.failingNeighbour(f, sub); dep != nil {
			t.cause, t.hit = dep, nil
		}
	}
	return t
}

// contextOf is the failure's context for the runbooks' templates.
func (inv *investigation) contextOf(f contract.Finding) knowledge.Context {
	c := knowledge.Context{Symptom: f.Category, Container: f.Container, Owner: f.Owner, Object: f.Object}
	parts := strings.Split(f.Object, "/")
	switch len(parts) {
	case 3:
		c.Namespace = parts[1]
		if parts[0] == "pod" {
			c.Pod = parts[2]
		}
	case 2:
		if parts[0] == "node" {
			c.Node = parts[1]
		}
	}
	if c.Owner == "" {
		c.Owner = f.Object
	}
	return c
}

// logLines reads the finding's pod's container log — the previous (crashed) one or the
// current one — and keeps the lines that look like errors, last ones first kept (at most 20).
func (inv *investigation) logLines(f contract.Finding, previous bool) []string {
	parts := strings.SplitN(strings.TrimPrefix(f.Object, "pod/"), "/", 2)
	if len(parts) != 2 || !strings.HasPrefix(f.Object, "pod/") {
		return nil
	}
	args := map[string]any{"namespace": parts[0], "name": parts[1], "tailLines": 100}
	if previous {
		args["previous"] = true
	}
	if f.Container != "" {
		args["container"] = f.Container
	}
	var logs contract.PodLogs
	res, ok := inv.call("pod_logs", args)
	if !ok || res.Decode(&logs) != nil {
		return nil
	}
	var out []string
	for _, l := range logs.Lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, clip(l, 500))
		}
	}
	if len(out) > 20 {
		out = out[len(out)-20:]
	}
	// the last lines are the latest: match them first
	slices.Reverse(out)
	return out
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// failingNeighbour looks for a failing workload in the subject's namespace that the subject's
// own spec names (an environment variable, an argument, a ConfigMap it mounts): a dependency
// that crashloops next to the service asked about. It returns that dependency as the cause,
// with its own finding's evidence, or nil.
func (inv *investigation) failingNeighbour(f contract.Finding, sub *subject) *contract.Cause {
	owner := f.Owner
	if owner == "" {
		owner = f.Object
	}
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return nil
	}
	kind, ns, name := parts[0], parts[1], parts[2]
	var nsAn contract.Analysis
	if !inv.callData("analyze", map[string]any{"namespace": ns}, &nsAn) {
		return nil
	}
	var spec string
	for _, g := range nsAn.Findings {
		other := g.Owner
		if other == "" {
			other = g.Object
		}
		if g.Severity != "critical" || other == owner || sameWorkload(g, f) {
			continue
		}
		if spec == "" {
			spec = inv.specText(kind, ns, name)
			if spec == "" {
				return nil
			}
		}
		op := strings.Split(other, "/")
		depName := op[len(op)-1]
		if !mentions(spec, depName) {
			continue
		}
		c := &contract.Cause{
			Category: contract.DependencyUnreachable,
			Object:   other,
			Summary:  fmt.Sprintf("%s depends on %s (named in its spec), which fails: %s", owner, other, summaryOf(g)),
			Evidence: slices.Clone(g.Evidence),
		}
		if g.Cause != nil {
			c.Summary += "; behind it: " + g.Cause.Summary
			c.Evidence = append(c.Evidence, g.Cause.Evidence...)
		} else if h, ok := inv.e.book.Match(append(slices.Clone(g.Evidence), inv.logLines(g, true)...), inv.contextOf(g)); ok {
			hc := h.Cause()
			c.Summary += "; behind it: " + hc.Summary + " (" + h.Line + ")"
			c.Evidence = append(c.Evidence, h.Line)
		}
		return c
	}
	return nil
}

// sameWorkload says whether g is about f's workload (the same pod, or pods of the same owner).
func sameWorkload(g, f contract.Finding) bool {
	return g.Object == f.Object || (g.Owner != "" && g.Owner == f.Owner)
}

// specText is the pod template of the workload (or the pod's spec) as YAML — or, for an agent
// without resource_get, its description: what it names.
func (inv *investigation) specText(kind, ns, name string) string {
	args := map[string]any{"kind": kind, "namespace": ns, "name": name}
	var o contract.ObjectYAML
	if _, ok := inv.where["resource_get"]; !ok {
		var d contract.Description
		if inv.callData("describe", args, &d) {
			return d.Text
		}
		return ""
	}
	if !inv.callData("resource_get", args, &o) {
		return ""
	}
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(o.YAML), &obj); err != nil {
		return o.YAML
	}
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return ""
	}
	if tmpl, ok := spec["template"].(map[string]any); ok {
		spec, _ = tmpl["spec"].(map[string]any)
	}
	out, err := yaml.Marshal(spec)
	if err != nil {
		return ""
	}
	return string(out)
}

// mentions says whether text names name as a word of a host or reference (kv-cache in
// "redis://kv-cache:6379", "kv-cache.shop.svc", "name: kv-cache").
func mentions(text, name string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		j += i
		before, after := byte(' '), byte(' ')
		if j > 0 {
			before = text[j-1]
		}
		if k := j + len(name); k < len(text) {
			after = text[k]
		}
		if !isNameByte(before) && !isNameByte(after) {
			return true
		}
		i = j + 1
	}
}

func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b >= 'A' && b <= 'Z' || b == '_'
}
