package gateway

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// The text views of Incidents below are shared by the gateway's tools and `opsmesh incidents`,
// so that a chat client and a terminal show an incident the same way.

// Age is how long ago t was, as kubectl prints it (5m, 3h, 2d); "<unknown>" for a zero time.
func Age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// Target is an Incident's target as kind/namespace/name (kind/name when cluster-scoped), or "-".
func Target(inc *opsv1.Incident) string {
	t := inc.Spec.Target
	if t == nil {
		return "-"
	}
	if t.Namespace == "" {
		return t.Kind + "/" + t.Name
	}
	return t.Kind + "/" + t.Namespace + "/" + t.Name
}

func phaseWord(inc *opsv1.Incident) string {
	if inc.Status.Phase == "" {
		return "Pending"
	}
	return string(inc.Status.Phase)
}

func severityWord(inc *opsv1.Incident) string {
	if inc.Spec.Severity == "" {
		return string(opsv1.SeverityWarning)
	}
	return string(inc.Spec.Severity)
}

func rootCauseWord(inc *opsv1.Incident) string {
	if rc := inc.Status.RootCause; rc != nil {
		return rc.Category
	}
	return "-"
}

// SortIncidents orders items newest first, then by namespace and name.
func SortIncidents(items []opsv1.Incident) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].CreationTimestamp.Time, items[j].CreationTimestamp.Time
		if !a.Equal(b) {
			return a.After(b)
		}
		return items[i].Namespace+"/"+items[i].Name < items[j].Namespace+"/"+items[j].Name
	})
}

// IncidentHeader are the columns of IncidentRow.
var IncidentHeader = []string{"NAMESPACE", "NAME", "SEVERITY", "PHASE", "ROOT CAUSE", "TARGET", "COUNT", "AGE"}

// IncidentRow is one Incident as a table row: namespace, name, severity, phase, root cause,
// target, count and age.
func IncidentRow(inc *opsv1.Incident, now time.Time) []string {
	count := inc.Status.Count
	if count == 0 {
		count = 1
	}
	return []string{inc.Namespace, inc.Name, severityWord(inc), phaseWord(inc), rootCauseWord(inc), Target(inc), fmt.Sprint(count), Age(inc.CreationTimestamp.Time, now)}
}

// IncidentTable renders items (sorted newest first, at most limit of them) as a table of
// IncidentHeader, in at most max bytes.
func IncidentTable(items []opsv1.Incident, now time.Time, limit, max int) string {
	SortIncidents(items)
	t := mcptool.Table{Header: IncidentHeader}
	for i := range items {
		if i == limit {
			break
		}
		t.Add(IncidentRow(&items[i], now)...)
	}
	out := t.Render(max)
	if n := len(items) - limit; n > 0 {
		out += fmt.Sprintf("… %d more incidents (raise limit, or filter by namespace or phase)\n", n)
	}
	return out
}

// DescribeIncident renders one Incident for a person or a model: summary, phase, root cause with
// evidence, actions with id, state and risk, approvals and the last timeline entries (at most
// timeline; 0 for all).
func DescribeIncident(inc *opsv1.Incident, now time.Time, timeline int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s/%s: %s\n", inc.Namespace, inc.Name, inc.Spec.Summary)
	fmt.Fprintf(&b, "phase: %s   severity: %s   source: %s", phaseWord(inc), severityWord(inc), inc.Spec.Source.Type)
	if inc.Spec.Source.Name != "" {
		fmt.Fprintf(&b, " (%s)", inc.Spec.Source.Name)
	}
	fmt.Fprintf(&b, "   age: %s\n", Age(inc.CreationTimestamp.Time, now))
	fmt.Fprintf(&b, "target: %s\n", Target(inc))
	if inc.Spec.Question != "" {
		fmt.Fprintf(&b, "question: %s\n", inc.Spec.Question)
	}
	coord := inc.Status.Coordinator
	if coord == "" {
		coord = inc.Spec.Coordinator
	}
	if coord != "" {
		fmt.Fprintf(&b, "coordinator: %s\n", coord)
	}
	if inc.Status.Count > 1 {
		fmt.Fprintf(&b, "count: %d\n", inc.Status.Count)
	}
	if rc := inc.Status.RootCause; rc != nil {
		fmt.Fprintf(&b, "root cause: %s: %s", rc.Category, rc.Summary)
		if rc.Confidence != "" {
			fmt.Fprintf(&b, " (confidence %s)", rc.Confidence)
		}
		b.WriteByte('\n')
		for _, e := range rc.Evidence {
			if e.Object != "" {
				fmt.Fprintf(&b, "  evidence: %s: %s\n", e.Object, e.Detail)
			} else {
				fmt.Fprintf(&b, "  evidence: %s\n", e.Detail)
			}
		}
	} else {
		b.WriteString("root cause: not named yet\n")
	}
	if len(inc.Status.Findings) > 0 {
		fmt.Fprintf(&b, "findings: %d\n", len(inc.Status.Findings))
		for _, f := range inc.Status.Findings {
			who := ""
			if f.Agent != "" {
				who = " (" + f.Agent + ")"
			}
			fmt.Fprintf(&b, "  %s%s: %s\n", f.Category, who, f.Summary)
		}
	}
	if len(inc.Status.Actions) == 0 {
		b.WriteString("actions: none\n")
	} else {
		b.WriteString("actions:\n")
		t := mcptool.Table{Header: []string{"  ID", "STATE", "RISK", "TOOL", "DESCRIPTION"}}
		for _, a := range inc.Status.Actions {
			desc := a.Description
			if a.Message != "" {
				desc += " — " + a.Message
			}
			tool := a.Tool
			if a.Arguments != nil && len(a.Arguments.Raw) > 0 && len(a.Arguments.Raw) <= 80 {
				tool += " " + string(a.Arguments.Raw)
			}
			t.Add("  "+a.ID, string(a.State), string(a.Risk), tool, desc)
		}
		b.WriteString(t.Render(1 << 20))
	}
	if len(inc.Status.Approvals) > 0 {
		b.WriteString("approvals:\n")
		for _, a := range inc.Status.Approvals {
			fmt.Fprintf(&b, "  %s %s by %s", a.ActionID, strings.ToLower(string(a.Decision)), a.By)
			if a.Reason != "" {
				fmt.Fprintf(&b, ": %s", a.Reason)
			}
			fmt.Fprintf(&b, " (%s ago)\n", Age(a.Time.Time, now))
		}
	}
	if tl := inc.Status.Timeline; len(tl) > 0 {
		from := 0
		if timeline > 0 && len(tl) > timeline {
			from = len(tl) - timeline
			fmt.Fprintf(&b, "timeline (last %d of %d):\n", timeline, len(tl))
		} else {
			b.WriteString("timeline:\n")
		}
		for _, e := range tl[from:] {
			fmt.Fprintf(&b, "  %s ago  %s", Age(e.Time.Time, now), e.Event)
			if e.Phase != "" {
				fmt.Fprintf(&b, " → %s", e.Phase)
			}
			if e.Message != "" {
				fmt.Fprintf(&b, ": %s", e.Message)
			}
			if e.Actor != "" {
				fmt.Fprintf(&b, " (%s)", e.Actor)
			}
			b.WriteByte('\n')
		}
	}
	return mcptool.Cap(b.String(), mcptool.DefaultMaxBytes)
}
