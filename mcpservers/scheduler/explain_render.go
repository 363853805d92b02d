package scheduler

// explain_pending's answer rendered: the text for people and models, and the contract's
// Explanation (its structured content, and its text with output: json).

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// render writes the explanation: verdict and fixes first, then the evidence, within max bytes.
func (x *explanation) render(max int) string {
	var b strings.Builder
	b.WriteString(x.status + "\n")
	b.WriteString("verdict: " + x.verdict + "\n")
	if c := x.cause; c != nil {
		field := ""
		if c.Field != "" {
			field = " " + c.Field
		}
		fmt.Fprintf(&b, "cause: %s %s%s: %s\n", c.Category, c.Object, field, c.Summary)
	}
	if len(x.fixes) > 0 {
		b.WriteString("\nfixes, most effective first:\n")
		seen := map[string]bool{}
		n := 0
		for _, f := range x.fixes {
			if seen[f.text] {
				continue
			}
			seen[f.text] = true
			n++
			fmt.Fprintf(&b, "%d. %s\n", n, f.text)
		}
	}
	if w := x.sched; w != nil && (w.cond != nil || w.message != "") {
		b.WriteString("\nscheduler's word:")
		if w.cond != nil {
			fmt.Fprintf(&b, " PodScheduled=%s", w.cond.Status)
			if w.cond.Reason != "" {
				b.WriteString(" (" + w.cond.Reason + ")")
			}
		}
		if w.events > 0 {
			sep := ";"
			if w.cond == nil {
				sep = ""
			}
			fmt.Fprintf(&b, "%s FailedScheduling ×%d, last %s ago", sep, w.events, time.Since(w.last).Round(time.Second))
		}
		b.WriteString("\n")
		if w.message != "" {
			b.WriteString("  " + w.message + "\n")
		}
		if len(w.reasons) > 0 {
			var rs []string
			for _, r := range w.reasons {
				rs = append(rs, fmt.Sprintf("%d %s", r.nodes, r.reason))
			}
			fmt.Fprintf(&b, "  per reason (of %d nodes): %s\n", w.total, strings.Join(rs, "; "))
		}
	}
	for _, q := range x.queue {
		b.WriteString("\n" + q)
	}
	if e := x.eval; e != nil && len(e.results) > 0 && !(x.tg.pod.Spec.NodeName != "" && !x.tg.fromTemplate) {
		fit := len(e.fitting())
		fmt.Fprintf(&b, "\nnodes: %d evaluated, %d fit; nearest first\n", len(e.results), fit)
		b.WriteString(x.nodeTable(max - b.Len() - 512))
		if fit == 0 && !x.unadvertised() {
			near := e.nearest()[0]
			fmt.Fprintf(&b, "nearest node: %s %s\n", near.n.node.Name, lacks(near, e.req))
		}
	}
	for _, n := range x.notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

// nodeTable renders nodes × the predicates they fail ("-" where they pass), with what each node
// has free of the requested resources.
func (x *explanation) nodeTable(room int) string {
	e := x.eval
	failing := map[string]bool{}
	for _, r := range e.results {
		for _, f := range r.fails {
			failing[f.pred] = true
		}
	}
	var cols []string
	for _, p := range predOrder {
		if failing[p] {
			cols = append(cols, p)
		}
	}
	tbl := mcptool.Table{Header: append(append([]string{"NODE"}, cols...), "FREE")}
	for _, r := range e.nearest() {
		row := []string{r.n.node.Name}
		for _, c := range cols {
			cell := "-"
			if f := r.failing(c); f != nil {
				cell = f.detail
			}
			row = append(row, cell)
		}
		var free []string
		for _, res := range e.req.names() {
			free = append(free, shortRes(res)+" "+qty(res, max(r.n.free(res), 0)))
		}
		row = append(row, strings.Join(free, " "))
		tbl.Add(row...)
	}
	return tbl.Render(max(room, 1024))
}

// structured is the explanation as the contract's Explanation: every distinct fix, best first, and
// the evidence the verdict rests on.
func (x *explanation) structured() contract.Explanation {
	out := contract.Explanation{Target: x.tg.ref, Verdict: x.verdict, Category: x.category, Fixes: []contract.Fix{}, Evidence: []string{x.status}, Notes: x.notes}
	seen := map[string]bool{}
	for _, f := range x.fixes {
		if !seen[f.text] {
			seen[f.text] = true
			out.Fixes = append(out.Fixes, contract.Fix{Text: f.text, Tool: f.tool, Arguments: f.args})
		}
	}
	if w := x.sched; w != nil && w.message != "" {
		out.Evidence = append(out.Evidence, "scheduler: "+w.message)
	}
	if e := x.eval; e != nil && len(e.results) > 0 && len(e.fitting()) == 0 && !x.unadvertised() {
		near := e.nearest()[0]
		out.Evidence = append(out.Evidence, fmt.Sprintf("nearest node: %s %s", near.n.node.Name, lacks(near, e.req)))
	}
	out.Evidence = append(out.Evidence, x.selector...)
	out.Cause = x.cause
	return out
}

// unadvertised reports whether the verdict is a resource no node advertises: then the nearest
// node, which lacks it like every other, says nothing about why.
func (x *explanation) unadvertised() bool {
	return x.cause != nil && x.cause.Category == contract.ResourceNotAdvertised
}

// jsonText renders an Explanation as explain_pending's text with output: json, within max bytes:
// the last fixes are left out until it fits.
func jsonText(out contract.Explanation, max int) (string, error) {
	for len(out.Fixes) > 1 {
		b, err := json.Marshal(out)
		if err != nil {
			return "", err
		}
		if len(b) < max {
			return string(b) + "\n", nil
		}
		out.Fixes = out.Fixes[:len(out.Fixes)-1]
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", err
	}
	return mcptool.Cap(string(b)+"\n", max), nil
}
