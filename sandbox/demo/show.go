package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// show is the live view: notes (one line per change, kept), and on a terminal a table of the
// scenarios redrawn in place below them.
type show struct {
	mu          sync.Mutex
	w           io.Writer
	interactive bool
	width       int // terminal columns; table lines are cut to fit (0: not cut)
	start       time.Time
	order       []string
	rows        map[string]*row
	drawn       int // lines of the table last drawn
	closed      bool
}

type row struct {
	title, status string
	phase         string
	rootCause     string
	agents        string
	actions       map[string]string // id → "tool risk state"
	actionOrder   []string
}

func newShow(w io.Writer, interactive bool, width int, start time.Time) *show {
	return &show{w: w, interactive: interactive, width: width, start: start, rows: map[string]*row{}}
}

func (s *show) add(name, title string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order = append(s.order, name)
	s.rows[name] = &row{title: title, status: "setting up", actions: map[string]string{}}
	s.printf("  %-21s %s\n", name, title)
}

// note prints a line that stays.
func (s *show) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.printf("[%6.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// printf writes above the table (s.mu held).
func (s *show) printf(format string, args ...any) {
	if s.closed {
		return
	}
	s.clear()
	fmt.Fprintf(s.w, format, args...)
	s.draw()
}

// status sets a scenario's state before it has an Incident.
func (s *show) status(name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rows[name]; r != nil && r.status != status {
		r.status = status
		s.clear()
		fmt.Fprintf(s.w, "[%6.1fs] %s: %s\n", time.Since(s.start).Seconds(), name, status)
		s.draw()
	}
}

// update shows what changed in a scenario's Incident, one line per change.
func (s *show) update(res ScenarioResult, inc *opsv1.Incident) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rows[res.Scenario]
	if r == nil {
		return
	}
	at := fmt.Sprintf("[%6.1fs] %s:", time.Since(s.start).Seconds(), res.Scenario)
	var lines []string
	if p := orPending(res.Phase); p != r.phase {
		r.phase = p
		r.status = inc.Namespace + "/" + inc.Name
		l := fmt.Sprintf("%s phase %s", at, p)
		if res.Coordinator != "" && p == string(opsv1.PhaseInvestigating) {
			l += " (coordinator " + res.Coordinator + ")"
		}
		if m := lastMessage(inc); inc.Status.Phase.Terminal() && m != "" {
			l += ": " + m
		}
		lines = append(lines, l)
	}
	if res.RootCause != "" && res.RootCause != r.rootCause {
		r.rootCause = res.RootCause
		r.agents = strings.Join(res.Agents, ", ")
		lines = append(lines, fmt.Sprintf("%s diagnosis %s: %s", at, res.RootCause, res.Summary),
			fmt.Sprintf("%s agents consulted: %s", at, r.agents))
	}
	for _, a := range res.Actions {
		d := fmt.Sprintf("%s [%s] %s", a.Tool, a.Risk, a.State)
		if r.actions[a.ID] == d {
			continue
		}
		if _, ok := r.actions[a.ID]; !ok {
			r.actionOrder = append(r.actionOrder, a.ID)
		}
		r.actions[a.ID] = d
		l := fmt.Sprintf("%s action %s %s", at, a.ID, d)
		switch {
		case a.State == opsv1.ActionAwaitingApproval:
			l += fmt.Sprintf(" — approve with: opsmesh approve %s %s -n %s", inc.Name, a.ID, inc.Namespace)
		case a.ApprovedBy != "" && (a.State == opsv1.ActionApproved || a.State == opsv1.ActionRunning || a.State == opsv1.ActionSucceeded):
			l += " (approved by " + a.ApprovedBy + ")"
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return
	}
	s.clear()
	for _, l := range lines {
		fmt.Fprintln(s.w, l)
	}
	s.draw()
}

// finish records a scenario's end.
func (s *show) finish(res ScenarioResult) {
	switch {
	case res.Skipped != "":
		s.status(res.Scenario, "skipped: "+res.Skipped)
	case res.OK:
		s.status(res.Scenario, fmt.Sprintf("done: %s, %s", res.RootCause, res.Phase))
	default:
		s.status(res.Scenario, "FAILED: "+res.Problem)
	}
}

// close stops redrawing and leaves the last table.
func (s *show) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
	s.closed = true
}

// clear erases the table drawn last (a terminal only).
func (s *show) clear() {
	if s.interactive && s.drawn > 0 {
		fmt.Fprintf(s.w, "\x1b[%dA\x1b[J", s.drawn)
		s.drawn = 0
	}
}

// draw draws the table (a terminal only).
func (s *show) draw() {
	if !s.interactive || s.closed {
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tPHASE\tROOT CAUSE\tACTIONS\tINCIDENT / STATUS")
	for _, name := range s.order {
		r := s.rows[name]
		var acts []string
		for _, id := range r.actionOrder {
			acts = append(acts, id+" "+r.actions[id])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, dash(r.phase), dash(r.rootCause), dash(strings.Join(acts, "; ")), clipTo(r.status, 70))
	}
	_ = tw.Flush()
	lines := strings.SplitAfter(strings.TrimSuffix(b.String(), "\n"), "\n")
	for _, l := range lines {
		// A line wider than the terminal would wrap, and the table could not be erased.
		l = strings.TrimSuffix(l, "\n")
		if r := []rune(l); s.width > 1 && len(r) >= s.width {
			l = string(r[:s.width-2]) + "…"
		}
		fmt.Fprintln(s.w, l)
	}
	s.drawn = len(lines)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// WriteSummary writes the summary table of res.
func WriteSummary(w io.Writer, res Result) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Summary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tINCIDENT\tROOT CAUSE\tACTIONS\tPHASE\tDIAGNOSED IN\tRESULT")
	for _, s := range res.Scenarios {
		if s.Skipped != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tskipped\n", s.Scenario)
			continue
		}
		var acts []string
		for _, a := range s.Actions {
			d := fmt.Sprintf("%s %s [%s] %s", a.ID, a.Tool, a.Risk, a.State)
			if a.ApprovedBy != "" {
				d += " by " + a.ApprovedBy
			}
			acts = append(acts, d)
		}
		inc, diag, rc := "-", "-", dash(s.RootCause)
		if s.Incident != "" {
			inc = s.Namespace + "/" + s.Incident
		}
		if s.TimeToDiagnosis > 0 || s.RootCause != "" {
			diag = s.TimeToDiagnosis.Round(100 * time.Millisecond).String()
		}
		if s.Simulated && s.RootCause != "" {
			rc += " (simulated)"
		}
		result := "ok"
		if !s.OK {
			result = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Scenario, inc, rc, dash(strings.Join(acts, "; ")), dash(string(s.Phase)), diag, result)
	}
	_ = tw.Flush()
	for _, s := range res.Scenarios {
		switch {
		case s.Skipped != "":
			fmt.Fprintf(w, "%s skipped: %s\n", s.Scenario, s.Skipped)
		case !s.OK:
			fmt.Fprintf(w, "%s FAILED: %s\n", s.Scenario, s.Problem)
		}
	}
}
