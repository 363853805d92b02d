package cluster

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// The check tools follow a symptom to the object at fault: the diagnosis engine calls them after
// an error signature matched, with values parsed from the error message, and a model can call
// them to go from "forbidden", "i/o timeout on :53", "No space left on device" or "Cannot evict
// pod" to the Role, NetworkPolicy, claim or PodDisruptionBudget behind it. Each answers a
// contract.CheckReport: what it examined, the causes it established (most decisive first, each
// with the object and field at fault and the evidence quoted verbatim), and the facts it read on
// the way. A check that establishes nothing says so in Checked and returns no cause. They only
// read: a Fix says what to change, and no check changes it.

// checkTools declares the check tools, one family per file (checks_<family>.go). Adding a check
// is one line here.
func (t *tools) checkTools() []mcptool.Tool {
	var all []mcptool.Tool
	for _, family := range []func() []mcptool.Tool{
		t.accessCheckTools,
		t.networkCheckTools,
		t.volumeCheckTools,
		t.disruptionCheckTools,
		t.placementCheckTools,
		t.referenceCheckTools,
	} {
		all = append(all, family()...)
	}
	return all
}

// Bounds on what one report quotes.
const (
	maxCheckEvidence = 12 // evidence lines of one cause
	maxCheckFacts    = 40 // facts of one report
	maxQuoteBytes    = 400
)

// checkReport builds a contract.CheckReport, bounding what it quotes.
type checkReport struct {
	contract.CheckReport
	factsLeft int // facts left out past maxCheckFacts
}

func (r *checkReport) fact(format string, a ...any) {
	if len(r.Facts) >= maxCheckFacts {
		r.factsLeft++
		return
	}
	r.Facts = append(r.Facts, oneLine(fmt.Sprintf(format, a...), maxQuoteBytes))
}

func (r *checkReport) cause(c contract.Cause) {
	if len(c.Evidence) > maxCheckEvidence {
		n := len(c.Evidence) - maxCheckEvidence
		c.Evidence = append(c.Evidence[:maxCheckEvidence:maxCheckEvidence], fmt.Sprintf("… %d more", n))
	}
	for i, e := range c.Evidence {
		c.Evidence[i] = oneLine(e, maxQuoteBytes)
	}
	r.Causes = append(r.Causes, c)
}

// done returns the report and its text.
func (r *checkReport) done(maxBytes int) (contract.CheckReport, string, error) {
	if r.factsLeft > 0 {
		r.Facts = append(r.Facts, fmt.Sprintf("… %d more facts", r.factsLeft))
	}
	return r.CheckReport, mcptool.Cap(renderCheck(r.CheckReport), maxBytes), nil
}

// renderCheck is a report as text for a model: what was checked, each cause with its object,
// field, evidence and fix, then the facts.
func renderCheck(r contract.CheckReport) string {
	var b strings.Builder
	b.WriteString("checked: " + r.Checked + "\n")
	if len(r.Causes) == 0 {
		b.WriteString("cause: none found\n")
	}
	for i, c := range r.Causes {
		fmt.Fprintf(&b, "cause %d: %s %s", i+1, c.Category, c.Object)
		if c.Field != "" {
			b.WriteString(" (" + c.Field + ")")
		}
		b.WriteString("\n  " + c.Summary + "\n")
		for _, e := range c.Evidence {
			b.WriteString("  evidence: " + e + "\n")
		}
		if c.Fix != nil {
			b.WriteString("  fix: " + c.Fix.Text + "\n")
		}
	}
	if len(r.Facts) > 0 {
		b.WriteString("facts:\n")
		for _, f := range r.Facts {
			b.WriteString("- " + f + "\n")
		}
	}
	return b.String()
}

// dnsName is what Kubernetes accepts as a namespace, object or ServiceAccount name (lower-case
// RFC 1123 subdomain; namespaces are labels, a subset).
var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// checkName trims an argument that names an object and checks that it could be a name; required
// arguments must be given. example shows the caller what to pass.
func checkName(arg string, v *string, required bool, example string) error {
	*v = strings.TrimSpace(*v)
	switch {
	case *v == "" && required:
		return fmt.Errorf("argument %q is required: %s", arg, example)
	case *v != "" && (len(*v) > 253 || !dnsName.MatchString(*v)):
		return fmt.Errorf("argument %q is %q, which is not a Kubernetes name (lower-case letters, digits, '-' and '.'): %s", arg, *v, example)
	}
	return nil
}

// readPod reads a pod from the watch cache.
func (t *tools) readPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		return nil, apiError(err, "get", objectRef("pod", ns, name))
	}
	return &p, nil
}

// eventLines quotes the events about one object (kind as events name it), newest first, as
// "Reason: message (×count)", keeping those keep accepts (nil keeps all).
func (t *tools) eventLines(ctx context.Context, kind, ns, name, uid string, keep func(*corev1.Event) bool) ([]string, error) {
	events, err := t.listEvents(ctx, ns)
	if err != nil {
		return nil, err
	}
	about := indexEvents(events).of(kind, ns, name, uid)
	sort.SliceStable(about, func(i, j int) bool { return eventLastSeen(about[i]).After(eventLastSeen(about[j])) })
	var out []string
	for _, e := range about {
		if keep != nil && !keep(e) {
			continue
		}
		line := fmt.Sprintf("%s event %s on %s: %s", e.Type, e.Reason, objectRef(strings.ToLower(kind), ns, name), e.Message)
		if c := eventCount(e); c > 1 {
			line += fmt.Sprintf(" (×%d)", c)
		}
		out = append(out, line)
	}
	return out, nil
}

// clusterScoped says why a confined server does not read a cluster-scoped kind, or nil when it
// may.
func (t *tools) clusterScoped(what string) error {
	if !t.k.confined() {
		return nil
	}
	return fmt.Errorf("%s not read: this server is confined to namespaces %s (--allow-namespaces) and reads no cluster-scoped objects", what, strings.Join(t.k.Allow, ", "))
}

// nOf counts in words: "1 binding", "2 bindings", "no bindings".
func nOf(n int, noun string) string {
	nouns := noun + "s"
	if strings.HasSuffix(noun, "y") {
		nouns = strings.TrimSuffix(noun, "y") + "ies"
	}
	switch n {
	case 0:
		return "no " + nouns
	case 1:
		return "1 " + noun
	}
	return fmt.Sprintf("%d %s", n, nouns)
}

// listOf joins names as prose: "a", "a and b", "a, b and c".
func listOf(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
