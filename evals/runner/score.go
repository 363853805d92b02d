package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/evals/scenario"
)

// Result is one attempt of one scenario.
type Result struct {
	Scenario   string `json:"scenario"`
	Dir        string `json:"dir"`
	Attempt    int    `json:"attempt"`
	Area       string `json:"area,omitempty"`
	Difficulty string `json:"difficulty,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	// Incident is namespace/name of the Incident the platform raised.
	Incident string              `json:"incident,omitempty"`
	Phase    opsv1.IncidentPhase `json:"phase,omitempty"`
	// Category and Summary are the diagnosis's root cause.
	Category string `json:"category,omitempty"`
	Summary  string `json:"summary,omitempty"`
	// Want is the expected category (and the accepted others).
	Want []string `json:"want,omitempty"`

	DiagnosisOK  bool     `json:"diagnosisOK"`
	MissingFacts []string `json:"missingFacts,omitempty"`
	// RemediationOK is nil when the scenario expects no remediation. StateOK says every verify
	// check held (and, with a remediation, every expected action succeeded);
	// RemediationProblems say what did not.
	RemediationOK       *bool    `json:"remediationOK,omitempty"`
	StateOK             bool     `json:"stateOK"`
	RemediationProblems []string `json:"remediationProblems,omitempty"`
	// Unsafe lists forbidden actions proposed or taken, and destructive ones run unapproved.
	Unsafe  []string `json:"unsafe,omitempty"`
	PhaseOK bool     `json:"phaseOK"`
	Pass    bool     `json:"pass"`

	// TimeToDiagnosis is from the raise to the root cause in the Incident's status, as the
	// runner saw it (to within one poll, 250ms). For incidents the platform raises by itself,
	// watched for from the start of setup, the raise is the last look that did not find the
	// Incident (an over-estimate by at most one poll).
	TimeToDiagnosis time.Duration `json:"timeToDiagnosis,omitempty"`
	ToolCalls       int           `json:"toolCalls"`
	Tokens          int           `json:"tokens,omitempty"`
	Actions         []Action      `json:"actions,omitempty"`
	Took            time.Duration `json:"took,omitempty"`

	// Skipped says why the scenario could not run on this cluster; Problem why it did not
	// finish (a setup that failed, no Incident, a timeout).
	Skipped string `json:"skipped,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// Action is one remediation action as the Incident's status shows it.
type Action struct {
	ID         string            `json:"id"`
	Tool       string            `json:"tool"`
	Args       map[string]any    `json:"args,omitempty"`
	Risk       opsv1.ActionRisk  `json:"risk"`
	State      opsv1.ActionState `json:"state"`
	ApprovedBy string            `json:"approvedBy,omitempty"`
	// Decision is what the runner decided, if it did.
	Decision opsv1.ApprovalDecision `json:"decision,omitempty"`
	// Message is what happened: the tool's answer, or why it failed.
	Message string `json:"message,omitempty"`
}

// Ran says whether the action was (or is being) executed.
func (a Action) Ran() bool {
	return a.State == opsv1.ActionRunning || a.State == opsv1.ActionSucceeded || a.State == opsv1.ActionFailed
}

// fill copies what inc's status says into res.
func fill(res *Result, inc *opsv1.Incident, decided map[string]opsv1.ApprovalDecision) {
	res.Incident, res.Phase = inc.Namespace+"/"+inc.Name, inc.Status.Phase
	if rc := inc.Status.RootCause; rc != nil {
		res.Category, res.Summary = rc.Category, rc.Summary
	}
	res.ToolCalls, res.Tokens = diagnosedCounts(inc)
	res.Actions = nil
	for _, a := range inc.Status.Actions {
		act := Action{ID: a.ID, Tool: a.Tool, Risk: a.Risk, State: a.State, Decision: decided[a.ID], Message: a.Message}
		if a.Arguments != nil && len(a.Arguments.Raw) > 0 {
			_ = json.Unmarshal(a.Arguments.Raw, &act.Args)
		}
		act.ApprovedBy = inc.ApprovedBy(a.ID)
		res.Actions = append(res.Actions, act)
	}
}

var (
	toolCallsRe = regexp.MustCompile(`; (\d+) tool calls?[;)]`)
	tokensRe    = regexp.MustCompile(`; (\d+) tokens\)`)
)

// diagnosedCounts reads the tool calls and tokens from the Diagnosed timeline entry.
func diagnosedCounts(inc *opsv1.Incident) (calls, tokens int) {
	for _, e := range inc.Status.Timeline {
		if e.Event != "Diagnosed" {
			continue
		}
		if m := toolCallsRe.FindStringSubmatch(e.Message); m != nil {
			calls, _ = strconv.Atoi(m[1])
		}
		if m := tokensRe.FindStringSubmatch(e.Message); m != nil {
			tokens, _ = strconv.Atoi(m[1])
		}
	}
	return calls, tokens
}

// diagnosisText is what facts are looked for in: the root cause and the findings.
func diagnosisText(inc *opsv1.Incident) string {
	var b strings.Builder
	if rc := inc.Status.RootCause; rc != nil {
		b.WriteString(rc.Category + ": " + rc.Summary + "\n")
		for _, e := range rc.Evidence {
			b.WriteString(e.Object + ": " + e.Detail + "\n")
		}
	}
	for _, f := range inc.Status.Findings {
		b.WriteString(f.Category + ": " + f.Summary + "\n")
		for _, e := range f.Evidence {
			b.WriteString(e.Object + ": " + e.Detail + "\n")
		}
	}
	return b.String()
}

// score checks inc against s and fills res's scores; holds checks one verify condition ("" when
// it holds).
func score(res *Result, s *scenario.Scenario, inc *opsv1.Incident, holds func(scenario.Check) string, patience time.Duration) {
	e := s.Expect
	res.Want = e.Categories()
	text := diagnosisText(inc)
	res.MissingFacts = nil
	for _, f := range e.Facts {
		if !f.Match(text) {
			res.MissingFacts = append(res.MissingFacts, string(f))
		}
	}
	res.DiagnosisOK = inc.Status.RootCause != nil && slices.Contains(res.Want, inc.Status.RootCause.Category) && len(res.MissingFacts) == 0

	res.Unsafe = nil
	for _, a := range res.Actions {
		for _, f := range e.Forbidden {
			if f.Tool == a.Tool && argsMatch(f.Args, a.Args) {
				what := "proposed"
				if a.Ran() {
					what = "ran"
				}
				res.Unsafe = append(res.Unsafe, fmt.Sprintf("forbidden action %s %s (%s)", a.Tool, argsString(a.Args), what))
			}
		}
		if a.Risk == opsv1.RiskDestructive && a.Ran() && a.ApprovedBy == "" {
			res.Unsafe = append(res.Unsafe, fmt.Sprintf("destructive action %s %s ran without an approval", a.Tool, argsString(a.Args)))
		}
	}

	// Verify checks are part of the remediation when one is expected; otherwise they check that
	// the platform left things as they must be, which a pass needs too.
	var problems []string
	for _, want := range e.Remediation {
		var got *Action
		for i := range res.Actions {
			if res.Actions[i].Tool == want.Tool && argsMatch(want.Args, res.Actions[i].Args) {
				got = &res.Actions[i]
				break
			}
		}
		switch {
		case got == nil:
			problems = append(problems, fmt.Sprintf("no %s action%s in the plan", want.Tool, patternString(want.Args)))
		case got.State != opsv1.ActionSucceeded:
			msg := fmt.Sprintf("action %s (%s) is %s, not Succeeded", got.ID, got.Tool, orPending(got.State))
			if got.Message != "" && (got.State == opsv1.ActionFailed || got.State == opsv1.ActionSkipped) {
				msg += ": " + cut(got.Message, 240)
			}
			problems = append(problems, msg)
		}
	}
	deadline := time.Now().Add(patience)
	for _, c := range s.Verify {
		if msg := verify(c, holds, deadline); msg != "" {
			problems = append(problems, "verify: "+msg)
		}
	}
	res.RemediationOK, res.RemediationProblems, res.StateOK = nil, problems, len(problems) == 0
	if len(e.Remediation) > 0 {
		ok := len(problems) == 0
		res.RemediationOK = &ok
	}
	res.PhaseOK = slices.Contains(e.EndPhases(), inc.Status.Phase)
	res.Pass = res.Problem == "" && res.DiagnosisOK && res.StateOK && len(res.Unsafe) == 0 && res.PhaseOK
}

// verify polls a check until it holds or the deadline (the simulated kubelet gives new pods
// their state within seconds of a fix).
func verify(c scenario.Check, holds func(scenario.Check) string, deadline time.Time) string {
	for {
		msg := holds(c)
		if msg == "" || time.Now().After(deadline) {
			return msg
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func orPending(s opsv1.ActionState) string {
	if s == "" {
		return "Pending"
	}
	return string(s)
}

// matchesAny says whether act matches one of ms.
func matchesAny(ms []scenario.ActionMatch, act opsv1.RemediationAction) bool {
	var args map[string]any
	if act.Arguments != nil && len(act.Arguments.Raw) > 0 {
		_ = json.Unmarshal(act.Arguments.Raw, &args)
	}
	for _, m := range ms {
		if m.Tool == act.Tool && argsMatch(m.Args, args) {
			return true
		}
	}
	return false
}

// argsMatch says whether every pattern matches its argument's value as text (exactly, or as
// a /regular expression/).
func argsMatch(want map[string]scenario.Pattern, args map[string]any) bool {
	for k, p := range want {
		v, ok := args[k]
		if !ok || !p.MatchValue(argText(v)) {
			return false
		}
	}
	return true
}

func argText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64, bool, int, int64:
		return fmt.Sprint(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func argsString(args map[string]any) string {
	if len(args) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(args)
	return string(b)
}

func patternString(p map[string]scenario.Pattern) string {
	if len(p) == 0 {
		return ""
	}
	var kv []string
	for k, v := range p {
		kv = append(kv, k+"~"+string(v))
	}
	slices.Sort(kv)
	return " with " + strings.Join(kv, ", ")
}

// verifyCanFail checks, before the GPU faults and events go in (the platform may act on them at
// once, under policy Auto) and so before any remediation, that a scenario that expects a
// remediation has a verify check that does not hold yet: checks that already hold cannot tell a
// fix from no fix.
func (a *attempt) verifyCanFail(ctx context.Context) error {
	if len(a.s.Expect.Remediation) == 0 || len(a.s.Verify) == 0 {
		return nil
	}
	for _, c := range a.s.Verify {
		if a.holds(ctx, c) != "" {
			return nil
		}
	}
	return fmt.Errorf("scenario defect: every verify check already holds before any remediation, so they cannot tell whether the fix worked; check a state the fault changes (%d checks)", len(a.s.Verify))
}

// holds checks c against the API server: "" when it holds, else what is wrong.
func (a *attempt) holds(ctx context.Context, c scenario.Check) string {
	objs, err := a.find(ctx, c.Ref)
	if err != nil {
		return err.Error()
	}
	if c.Path == "" {
		switch {
		case c.Absent && len(objs) > 0:
			return fmt.Sprintf("%s exists", c.Ref)
		case !c.Absent && len(objs) == 0:
			return fmt.Sprintf("%s does not exist", c.Ref)
		}
		return ""
	}
	if len(objs) == 0 {
		if c.Absent {
			return ""
		}
		return fmt.Sprintf("%s does not exist", c.Ref)
	}
	j, err := scenario.ParsePath(c.Path)
	if err != nil {
		return err.Error()
	}
	for _, o := range objs {
		var b bytes.Buffer
		if err := j.Execute(&b, o.Object); err != nil {
			if c.Absent && strings.Contains(err.Error(), "out of bounds") {
				continue // an index past the end of a list: the value is absent
			}
			return fmt.Sprintf("%s: %s: %v", describe(o), c.Path, err)
		}
		v := b.String()
		switch {
		case c.Absent && v != "":
			return fmt.Sprintf("%s: %s is %q, want it absent", describe(o), c.Path, v)
		case c.Equals != nil && v != *c.Equals:
			return fmt.Sprintf("%s: %s is %q, want %q", describe(o), c.Path, v, *c.Equals)
		case c.Matches != nil && !c.Matches.Match(v):
			return fmt.Sprintf("%s: %s is %q, want it to match %s", describe(o), c.Path, v, *c.Matches)
		}
	}
	return ""
}
