// Package change is how opsmesh's MCP write tools change an object and say what they did, the
// same way for every server: the read-edit-patch loop guarded by the resourceVersion read (with
// dry runs, and nothing sent when nothing changes), and the result — a summary line, the notes,
// and a capped unified diff of the object's YAML before and after. It does not render objects
// itself: each server passes its own renderer (which redacts what it must).
package change

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
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
	_, text, err := r.Answer(yamlOf, maxBytes, realCap)
	return text, err
}

// Answer is a write tool's answer: r as the contract's Change (structured content, with the same
// capped diff) and as the text Render writes.
func (r *Result) Answer(yamlOf func(client.Object) (string, error), maxBytes, realCap int) (contract.Change, string, error) {
	out := contract.Change{Object: r.Ref, Summary: r.Summary, DryRun: r.DryRun, NoChange: r.NoChange, Notes: r.Notes}
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
		return out, b.String(), nil
	}
	out.Deleted = r.After == nil && r.Before != nil
	before, err := yamlOf(r.Before)
	if err != nil {
		return out, "", err
	}
	after, err := yamlOf(r.After)
	if err != nil {
		return out, "", err
	}
	label := "after"
	if r.DryRun {
		label = "after, dry run"
	}
	diff := UnifiedDiff(r.Ref+" (live)", r.Ref+" ("+label+")", before, after)
	if diff == "" {
		b.WriteString("(the stored object is unchanged)\n")
		return out, b.String(), nil
	}
	room := maxBytes - b.Len() - 128
	if !r.DryRun && realCap > 0 {
		room = min(room, realCap)
	}
	out.Diff = mcptool.Cap(diff, max(room, 256))
	b.WriteString(out.Diff)
	return out, b.String(), nil
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

// ErrUnchanged is what an edit returns when the object already is as asked: nothing is sent.
var ErrUnchanged = errors.New("unchanged")

// Update reads the object at key into newObj(), lets edit change it, and sends the difference as
// patchFrom(the object as read) — a patch guarded by the resourceVersion it read — as a dry run
// when dryRun; on a conflict it reads and edits again. edit returns the change's summary,
// ErrUnchanged when the object already is as asked (then nothing is sent), or an error that says
// what to fix. getErr and patchErr reword the API server's errors for the server's callers.
func Update(ctx context.Context, c client.Client, ref string, key client.ObjectKey, newObj func() client.Object, dryRun bool,
	patchFrom func(orig client.Object) client.Patch, edit func(obj client.Object) (string, error),
	getErr, patchErr func(error) error) (*Result, error) {
	var r *Result
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := newObj()
		if err := c.Get(ctx, key, obj); err != nil {
			return getErr(err)
		}
		orig := obj.DeepCopyObject().(client.Object)
		summary, err := edit(obj)
		if errors.Is(err, ErrUnchanged) || (err == nil && apiequality.Semantic.DeepEqual(orig, obj)) {
			r = &Result{Ref: ref, Summary: summary, Before: orig, After: orig, DryRun: dryRun, NoChange: true}
			return nil
		}
		if err != nil {
			return err
		}
		var opts []client.PatchOption
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Patch(ctx, obj, patchFrom(orig), opts...); err != nil {
			if apierrors.IsConflict(err) {
				return err // retried on a fresh read
			}
			return patchErr(err)
		}
		r = &Result{Ref: ref, Summary: summary, Before: orig, After: obj, DryRun: dryRun}
		return nil
	})
	if apierrors.IsConflict(err) {
		return nil, fmt.Errorf("%s kept changing while this write was prepared (%v); nothing was changed; try again", ref, err)
	}
	return r, err
}
