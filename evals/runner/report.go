package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one run's results and scores.
type Report struct {
	Run         string        `json:"run"`
	Started     time.Time     `json:"started"`
	Took        time.Duration `json:"took"`
	Engine      string        `json:"engine"`
	Coordinator string        `json:"coordinator"`
	Repeat      int           `json:"repeat"`
	Results     []Result      `json:"results"`
	Summary     Summary       `json:"summary"`
}

// Summary are the run's scores.
type Summary struct {
	// Scenarios run (not skipped), and attempts in all.
	Scenarios int `json:"scenarios"`
	Attempts  int `json:"attempts"`
	Skipped   int `json:"skipped"`
	// SymptomCorrect: attempts whose root cause named the expected (symptom) category.
	SymptomCorrect int `json:"symptomCorrect"`
	// CauseCorrect: attempts whose diagnosis named the expected cause, of the CauseCounted
	// attempts whose scenario expects one (expect.cause).
	CauseCorrect int `json:"causeCorrect"`
	CauseCounted int `json:"causeCounted"`
	// Diagnosis: attempts whose diagnosis was correct in full (symptom, cause, facts).
	DiagnosisCorrect int `json:"diagnosisCorrect"`
	// Remediation: attempts whose remediation was verified, of those that expect one.
	RemediationVerified int `json:"remediationVerified"`
	RemediationCounted  int `json:"remediationCounted"`
	// UnsafeActions in all attempts.
	UnsafeActions int `json:"unsafeActions"`
	Passed        int `json:"passed"`
	// MedianTimeToDiagnosis over attempts with a diagnosis.
	MedianTimeToDiagnosis time.Duration `json:"medianTimeToDiagnosis"`
	MedianToolCalls       int           `json:"medianToolCalls"`
	Tokens                int           `json:"tokens"`
	// PassAt1 is the mean pass rate of single attempts; PassK the share of scenarios that
	// passed every one of their attempts (k = Repeat).
	PassAt1 float64 `json:"passAt1"`
	PassK   float64 `json:"passK"`
	// Areas are per-area counts.
	Areas []AreaSummary `json:"areas"`
}

// AreaSummary are the scores of one area.
type AreaSummary struct {
	Area             string `json:"area"`
	Attempts         int    `json:"attempts"`
	DiagnosisCorrect int    `json:"diagnosisCorrect"`
	Passed           int    `json:"passed"`
}

// Rate is n/d (0 when d is 0).
func Rate(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// Summarize computes the Summary from the Results.
func (r *Report) Summarize() {
	s := Summary{}
	var ttds []time.Duration
	var calls []int
	byScenario := map[string][]bool{}
	areas := map[string]*AreaSummary{}
	for _, res := range r.Results {
		if res.Skipped != "" {
			s.Skipped++
			continue
		}
		s.Attempts++
		byScenario[res.Scenario] = append(byScenario[res.Scenario], res.Pass)
		a := areas[res.Area]
		if a == nil {
			a = &AreaSummary{Area: res.Area}
			areas[res.Area] = a
		}
		a.Attempts++
		if res.SymptomOK {
			s.SymptomCorrect++
		}
		if res.CauseOK != nil {
			s.CauseCounted++
			if *res.CauseOK {
				s.CauseCorrect++
			}
		}
		if res.DiagnosisOK {
			s.DiagnosisCorrect++
			a.DiagnosisCorrect++
		}
		if res.RemediationOK != nil {
			s.RemediationCounted++
			if *res.RemediationOK {
				s.RemediationVerified++
			}
		}
		s.UnsafeActions += len(res.Unsafe)
		if res.Pass {
			s.Passed++
			a.Passed++
		}
		if res.TimeToDiagnosis > 0 {
			ttds = append(ttds, res.TimeToDiagnosis)
		}
		if res.Incident != "" {
			calls = append(calls, res.ToolCalls)
		}
		s.Tokens += res.Tokens
	}
	s.Scenarios = len(byScenario)
	s.Skipped = s.Skipped / max(r.Repeat, 1)
	if len(ttds) > 0 {
		slices.Sort(ttds)
		s.MedianTimeToDiagnosis = ttds[len(ttds)/2]
		if len(ttds)%2 == 0 {
			s.MedianTimeToDiagnosis = (ttds[len(ttds)/2-1] + ttds[len(ttds)/2]) / 2
		}
	}
	if len(calls) > 0 {
		slices.Sort(calls)
		s.MedianToolCalls = calls[len(calls)/2]
	}
	s.PassAt1 = Rate(s.Passed, s.Attempts)
	all := 0
	for _, runs := range byScenario {
		if !slices.Contains(runs, false) {
			all++
		}
	}
	s.PassK = Rate(all, len(byScenario))
	for _, a := range areas {
		s.Areas = append(s.Areas, *a)
	}
	sort.Slice(s.Areas, func(i, j int) bool { return s.Areas[i].Area < s.Areas[j].Area })
	r.Summary = s
}

// Line is the one-line progress report of a result.
func (res Result) Line() string {
	name := res.Scenario
	if res.Attempt > 1 {
		name = fmt.Sprintf("%s#%d", name, res.Attempt)
	}
	switch {
	case res.Skipped != "":
		return fmt.Sprintf("SKIP %s: %s", name, res.Skipped)
	case res.Pass:
		diag := res.Category
		if res.Cause != "" {
			diag += " (cause " + res.Cause + ")"
		}
		return fmt.Sprintf("PASS %s: %s, %s in %s, %d tool calls, ended %s", name, diag, "diagnosed", round(res.TimeToDiagnosis), res.ToolCalls, res.Phase)
	}
	return fmt.Sprintf("FAIL %s: %s", name, strings.Join(res.Why(), "; "))
}

// Why says what failed.
func (res Result) Why() []string {
	var why []string
	if res.Problem != "" {
		why = append(why, res.Problem)
	}
	if res.Incident == "" {
		return why
	}
	if !res.DiagnosisOK {
		switch {
		case res.Category == "":
			why = append(why, "no diagnosis")
		case !slices.Contains(res.Want, res.Category):
			why = append(why, fmt.Sprintf("diagnosed %s, want %s (%s)", res.Category, strings.Join(res.Want, " or "), cut(res.Summary, 160)))
		}
		why = append(why, res.CauseProblems...)
		if len(res.MissingFacts) > 0 {
			why = append(why, "facts not in the diagnosis: "+strings.Join(res.MissingFacts, ", "))
		}
		if len(res.MissingSummaryFacts) > 0 {
			why = append(why, "facts not in the root cause's summary or cause: "+strings.Join(res.MissingSummaryFacts, ", "))
		}
	}
	why = append(why, res.RemediationProblems...)
	why = append(why, res.Unsafe...)
	if !res.PhaseOK && res.Phase != "" {
		why = append(why, fmt.Sprintf("ended %s", res.Phase))
	}
	return why
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d > 0:
		return d.Round(time.Millisecond)
	}
	return 0
}

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

// WriteTable prints the results, one row per attempt, and the summary.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tAREA\tDIAGNOSIS\tCAUSE\tREMEDIATION\tUNSAFE\tPHASE\tTTD\tTOOLS\tRESULT")
	for _, res := range r.Results {
		name := res.Scenario
		if r.Repeat > 1 {
			name = fmt.Sprintf("%s#%d", name, res.Attempt)
		}
		if res.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\tskipped\n", name, res.Area)
			continue
		}
		diag := "-"
		if res.Category != "" {
			diag = res.Category + " " + mark(res.symptomFactsOK())
		} else if res.Incident != "" {
			diag = "none FAIL"
		}
		rem := "-"
		if res.RemediationOK != nil {
			rem = mark(*res.RemediationOK)
		}
		phase := "-"
		cause := causeCell(res, "-")
		if res.Phase != "" {
			phase = string(res.Phase)
		}
		ttd := "-"
		if res.TimeToDiagnosis > 0 {
			ttd = round(res.TimeToDiagnosis).String()
		}
		result := "PASS"
		if !res.Pass {
			result = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", name, res.Area, diag, cause, rem, len(res.Unsafe), phase, ttd, res.ToolCalls, result)
	}
	_ = tw.Flush()
	s := r.Summary
	fmt.Fprintf(w, "\n%d scenarios", s.Scenarios)
	if r.Repeat > 1 {
		fmt.Fprintf(w, " × %d", r.Repeat)
	}
	if s.Skipped > 0 {
		fmt.Fprintf(w, " (%d skipped)", s.Skipped)
	}
	fmt.Fprintf(w, ", engine %s, took %s\n", r.Engine, r.Took.Round(time.Second))
	fmt.Fprintf(w, "symptom correct       %d/%d (%.1f%%)\n", s.SymptomCorrect, s.Attempts, 100*Rate(s.SymptomCorrect, s.Attempts))
	fmt.Fprintf(w, "cause correct         %d/%d (%.1f%%)\n", s.CauseCorrect, s.CauseCounted, 100*Rate(s.CauseCorrect, s.CauseCounted))
	fmt.Fprintf(w, "diagnosis correct     %d/%d (%.1f%%)\n", s.DiagnosisCorrect, s.Attempts, 100*Rate(s.DiagnosisCorrect, s.Attempts))
	fmt.Fprintf(w, "remediation verified  %d/%d (%.1f%%)\n", s.RemediationVerified, s.RemediationCounted, 100*Rate(s.RemediationVerified, s.RemediationCounted))
	fmt.Fprintf(w, "unsafe actions        %d\n", s.UnsafeActions)
	fmt.Fprintf(w, "median time to diagnosis %s, median tool calls %d", round(s.MedianTimeToDiagnosis), s.MedianToolCalls)
	if s.Tokens > 0 {
		fmt.Fprintf(w, ", tokens %d", s.Tokens)
	}
	fmt.Fprintln(w)
	if r.Repeat > 1 {
		fmt.Fprintf(w, "Pass@1 %.1f%%, Pass^%d %.1f%%\n", 100*s.PassAt1, r.Repeat, 100*s.PassK)
	} else {
		fmt.Fprintf(w, "passed %d/%d (%.1f%%)\n", s.Passed, s.Attempts, 100*s.PassAt1)
	}
	var failed []string
	for _, res := range r.Results {
		if res.Skipped == "" && !res.Pass {
			failed = append(failed, "  "+strings.TrimPrefix(res.Line(), "FAIL "))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nfailed:\n%s\n", strings.Join(failed, "\n"))
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Targets are the scores the runbook engine must reach on the suite (issue 10).
type Targets struct {
	Diagnosis, Remediation float64
	MedianTTD              time.Duration
}

// RunbookTargets are the runbook engine's targets.
var RunbookTargets = Targets{Diagnosis: 0.90, Remediation: 0.85, MedianTTD: 3 * time.Second}

// Missed says which targets s misses (none: all met). No unsafe action is always a target.
func (t Targets) Missed(s Summary) []string {
	var out []string
	if d := Rate(s.DiagnosisCorrect, s.Attempts); d < t.Diagnosis {
		out = append(out, fmt.Sprintf("diagnosis correct %.1f%% < %.0f%%", 100*d, 100*t.Diagnosis))
	}
	if r := Rate(s.RemediationVerified, s.RemediationCounted); s.RemediationCounted > 0 && r < t.Remediation {
		out = append(out, fmt.Sprintf("remediation verified %.1f%% < %.0f%%", 100*r, 100*t.Remediation))
	}
	if s.UnsafeActions > 0 {
		out = append(out, fmt.Sprintf("%d unsafe action(s)", s.UnsafeActions))
	}
	if s.MedianTimeToDiagnosis >= t.MedianTTD {
		out = append(out, fmt.Sprintf("median time to diagnosis %s ≥ %s", round(s.MedianTimeToDiagnosis), t.MedianTTD))
	}
	if s.Attempts == 0 {
		out = append(out, "no scenario ran")
	}
	return out
}

// WriteMarkdown writes the report as RESULTS.md: how it was made, the scores against the
// targets, per area, and per scenario.
func (r *Report) WriteMarkdown(w io.Writer, command string) {
	s := r.Summary
	t := RunbookTargets
	fmt.Fprintf(w, "# opsmesh eval results\n\n")
	fmt.Fprintf(w, "Generated by `%s` on %s (run %s); do not edit by hand.\n\n", command, r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Run)
	fmt.Fprintf(w, "Engine **%s** (coordinator %s), %d scenarios", r.Engine, r.Coordinator, s.Scenarios)
	if r.Repeat > 1 {
		fmt.Fprintf(w, " × %d runs", r.Repeat)
	}
	if s.Skipped > 0 {
		fmt.Fprintf(w, " (%d skipped)", s.Skipped)
	}
	fmt.Fprintf(w, ", took %s. The cluster is the opsmesh sandbox: a real kube-apiserver, scheduler and controller-manager with **simulated** nodes (kwok) and **simulated** GPUs (go-nvml's mock); pod failure states come from kwok stages and status patches, GPU faults are injected into the simulated GPUs.\n\n", r.Took.Round(time.Second))
	fmt.Fprintf(w, "| score | result | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(w, "| symptom correct | %d/%d (%.1f%%) | |\n", s.SymptomCorrect, s.Attempts, 100*Rate(s.SymptomCorrect, s.Attempts))
	fmt.Fprintf(w, "| cause correct (scenarios that expect one) | %d/%d (%.1f%%) | |\n", s.CauseCorrect, s.CauseCounted, 100*Rate(s.CauseCorrect, s.CauseCounted))
	fmt.Fprintf(w, "| diagnosis correct | %d/%d (%.1f%%) | ≥ %.0f%% |\n", s.DiagnosisCorrect, s.Attempts, 100*Rate(s.DiagnosisCorrect, s.Attempts), 100*t.Diagnosis)
	fmt.Fprintf(w, "| remediation verified | %d/%d (%.1f%%) | ≥ %.0f%% |\n", s.RemediationVerified, s.RemediationCounted, 100*Rate(s.RemediationVerified, s.RemediationCounted), 100*t.Remediation)
	fmt.Fprintf(w, "| unsafe actions | %d | 0 |\n", s.UnsafeActions)
	fmt.Fprintf(w, "| median time to diagnosis | %s | < %s |\n", round(s.MedianTimeToDiagnosis), t.MedianTTD)
	fmt.Fprintf(w, "| median tool calls | %d | |\n", s.MedianToolCalls)
	if r.Repeat > 1 {
		fmt.Fprintf(w, "| Pass@1 | %.1f%% | |\n| Pass^%d | %.1f%% | |\n", 100*s.PassAt1, r.Repeat, 100*s.PassK)
	} else {
		fmt.Fprintf(w, "| passed (every score) | %d/%d (%.1f%%) | |\n", s.Passed, s.Attempts, 100*s.PassAt1)
	}
	fmt.Fprintf(w, "\n## By area\n\n| area | runs | diagnosis correct | passed |\n| --- | --- | --- | --- |\n")
	for _, a := range s.Areas {
		fmt.Fprintf(w, "| %s | %d | %d | %d |\n", a.Area, a.Attempts, a.DiagnosisCorrect, a.Passed)
	}
	fmt.Fprintf(w, "\n## Scenarios\n\n| scenario | area | difficulty | diagnosis | cause | remediation | unsafe | phase | time to diagnosis | tool calls | result |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, res := range r.Results {
		name := res.Scenario
		if r.Repeat > 1 {
			name = fmt.Sprintf("%s #%d", name, res.Attempt)
		}
		if res.Skipped != "" {
			fmt.Fprintf(w, "| %s | %s | %s | skipped: %s | | | | | | | |\n", name, res.Area, res.Difficulty, mdEscape(res.Skipped))
			continue
		}
		diag := "none"
		if res.Category != "" {
			diag = res.Category
		}
		diag += " " + mark(res.symptomFactsOK())
		rem := "n/a"
		if res.RemediationOK != nil {
			rem = mark(*res.RemediationOK)
		}
		result := "pass"
		if !res.Pass {
			result = "**fail**: " + mdEscape(strings.Join(res.Why(), "; "))
		}
		ttd := "-"
		if res.TimeToDiagnosis > 0 {
			ttd = round(res.TimeToDiagnosis).String()
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s | %s | %d | %s |\n", name, res.Area, res.Difficulty, diag, causeCell(res, "n/a"), rem, len(res.Unsafe), orDetected(res.Phase), ttd, res.ToolCalls, result)
	}
	fmt.Fprintf(w, "\nScoring is described in [README.md](README.md#scoring).\n")
}

// symptomFactsOK says the diagnosis is right but for its cause (which has a column of its
// own): the symptom's category, the facts and the summary facts.
func (res Result) symptomFactsOK() bool {
	return res.SymptomOK && len(res.MissingFacts) == 0 && len(res.MissingSummaryFacts) == 0
}

// causeCell is the cause column of a result: the cause named and whether it is the expected
// one; the cause alone when none is expected; none when none is named.
func causeCell(res Result, none string) string {
	switch {
	case res.CauseOK != nil && res.Cause == "":
		return "none " + mark(*res.CauseOK)
	case res.CauseOK != nil:
		return res.Cause + " " + mark(*res.CauseOK)
	case res.Cause != "":
		return res.Cause
	}
	return none
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
