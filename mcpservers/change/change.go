// Package change renders what an MCP write tool did, the same way for every opsmesh server: a
// summary line (a dry run, a real change, or nothing to change), the notes, and a unified diff of
// the object's YAML before and after, capped. It does not talk to the API server and does not
// render objects itself: each server passes its own renderer (which redacts what it must).
package change

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// Result is one write's outcome.
type Result struct {
	Ref     string   // kind/namespace/name
	Summary string   // what changed, tense-neutral: "replicas 3 → 5"
	Notes   []string // what else the caller should know
	Before  client.Object
	After   client.Object // as the API server returned it; nil when deleted
	DryRun  bool
	// NoChange is true when the object already was as asked and nothing was sent.
	NoChange bool
}

// Render writes r for a tool result of at most maxBytes. yamlOf renders an object as the server
// shows objects (nil is empty text); realCap, when above 0, caps the diff of a real (not dry-run)
// change, whose full object the caller can read back.
func (r *Result) Render(yamlOf func(client.Object) (string, error), maxBytes, realCap int) (string, error) {
	var b strings.Builder
	switch {
	case r.NoChange:
		fmt.Fprintf(&b, "%s: nothing to change", r.Ref)
		if r.Summary != "" {
			fmt.Fprintf(&b, " (%s)", r.Summary)
		}
		b.WriteString("; nothing was sent to the API server.\n")
	case r.DryRun:
		fmt.Fprintf(&b, "dry run of %s: %s. The API server accepted the change and stored nothing; call again without dryRun to make it.\n", r.Ref, r.Summary)
	default:
		fmt.Fprintf(&b, "changed %s: %s.\n", r.Ref, r.Summary)
	}
	for _, n := range r.Notes {
		b.WriteString("note: " + n + "\n")
	}
	if r.NoChange {
		return b.String(), nil
	}
	before, err := yamlOf(r.Before)
	if err != nil {
		return "", err
	}
	after, err := yamlOf(r.After)
	if err != nil {
		return "", err
	}
	label := "after"
	if r.DryRun {
		label = "after, dry run"
	}
	diff := UnifiedDiff(r.Ref+" (live)", r.Ref+" ("+label+")", before, after)
	if diff == "" {
		b.WriteString("(the stored object is unchanged)\n")
		return b.String(), nil
	}
	room := maxBytes - b.Len() - 128
	if !r.DryRun && realCap > 0 {
		room = min(room, realCap)
	}
	b.WriteString(mcptool.Cap(diff, max(room, 256)))
	return b.String(), nil
}

// UnifiedDiff returns the unified diff, with three lines of context, of text a (labelled from)
// and text b (labelled to); "" when they are equal.
func UnifiedDiff(from, to, a, b string) string {
	if a == b {
		return ""
	}
	out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(a), B: splitLines(b),
		FromFile: from, ToFile: to,
		Context: 3,
	})
	if err != nil { // only a failing writer errs, and a strings.Builder does not fail
		return fmt.Sprintf("(no diff: %v)\n", err)
	}
	return out
}

// splitLines splits text into lines that keep their "\n"; a last line without one gets one, and
// empty text is no lines (difflib.SplitLines would make it one empty line).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n"
	}
	return lines
}
