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
	// Category and Summary are the diagnosis's root cause (the symptom's category).
	Category string `json:"category,omitempty"`
	Summary  string `json:"summary,omitempty"`
	// Cause and CauseObject are the cause the diagnosis named behind the symptom (its
	// rootCause.cause), if it named one.
	Cause       string `json:"cause,omitempty"`
	CauseObject string `json:"causeObject,omitempty"`
	// Want is the expected category (and the accepted others); WantCause the expected cause
	// categories, when the scenario expects a cause.
	Want      []string `json:"want,omitempty"`
	WantCause []string `json:"wantCause,omitempty"`

	// SymptomOK says the root cause's category is expect.category (or one it accepts).
	SymptomOK bool `json:"symptomCorrect"`
	// CauseOK says the cause matched expect.cause (category, object, facts); nil when the
	// scenario expects none. CauseProblems say what did not match.
	CauseOK       *bool    `json:"causeCorrect,omitempty"`
	CauseProblems []string `json:"causeProblems,omitempty"`
	// DiagnosisOK says all of the diagnosis is right: the symptom, the cause (when expected),
	// every fact and every summary fact.
	DiagnosisOK  bool     `json:"diagnosisOK"`
	MissingFacts []string `json:"missingFacts,omitempty"`
	// MissingSummaryFacts are expect.summaryFacts the root cause's summary and cause do not say.
	MissingSummaryFacts []string `json:"missingSummaryFacts,omitempty"`
	// RemediationOK is nil when the scenario expects no remediation. StateOK says every verify
	// check held and every expected action ended as it must (expect.remediation succeeded,
	// expect.failsSafely was refused); RemediationProblems say what did not.
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
	res.Category, res.Summary, res.Cause, res.CauseObject = "", "", "", ""
	if rc := inc.Status.RootCause; rc != nil {
		res.Category, res.Summary = rc.Category, rc.Summary
		if rc.Cause != nil {
			res.Cause, res.CauseObject = rc.Cause.Category, rc.Cause.Object
		}
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

// The texts facts are looked for in. Each is the diagnosis's own words only, with the run's
// names replaced by neutral tokens (neutral), so that no fact matches the scenario's name.

// diagnosisText is what expect.facts are looked for in: the root cause (its summary, its cause,
// its evidence), the findings, and the plan's reasons.
func diagnosisText(inc *opsv1.Incident) string {
	var b strings.Builder
	if rc := inc.Status.RootCause; rc != nil {
		b.WriteString(rc.Category + ": " + rc.Summary + "\n")
		b.WriteString(causeText(rc.Cause))
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
	for _, a := range inc.Status.Actions {
		b.WriteString(a.Tool + ": " + a.Description + "\n")
	}
	return b.String()
}

// summaryText is what expect.summaryFacts are looked for in: the root cause's summary and its
// cause (object, field, summary), not the evidence it quotes.
func summaryText(rc *opsv1.RootCause) string {
	if rc == nil {
		return ""
	}
	return rc.Summary + "\n" + causeText(rc.Cause)
}

// causeEvidenceText is what expect.cause.facts are looked for in: the cause and the root
// cause's evidence.
func causeEvidenceText(rc *opsv1.RootCause) string {
	if rc == nil || rc.Cause == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(causeText(rc.Cause))
	for _, e := range rc.Evidence {
		b.WriteString(e.Object + ": " + e.Detail + "\n")
	}
	return b.String()
}

func causeText(c *opsv1.CauseRef) string {
	if c == nil {
		return ""
	}
	return c.Category + " " + c.Object + " " + c.Field + ": " + c.Summary + "\n"
}

// neutral replaces the run's own names in text: the scenario's namespace ns by
// scenario.NamespaceToken, and the eval-<run> prefix of cluster-scoped names — with the
// attempt's number when ${RUN} carries one (eval-<run>-<n>) — by scenario.RunToken
// (eval-ab12cd-3-ebs-gp3 becomes <run>-ebs-gp3). Case is ignored; a name is replaced only where
// it stands whole (eval-ab12cd-web is not the namespace eval-ab12cd-we).
func neutral(text, ns, run string) string {
	if ns != "" {
		text = replaceName(text, ns, scenario.NamespaceToken, false)
	}
	if run != "" {
		text = replaceName(text, "eval-"+run, scenario.RunToken, true)
	}
	return text
}

// replaceName replaces each whole occurrence of name in text (ASCII case ignored) by token. A
// whole occurrence has no letter, digit or hyphen before it, and no letter or digit after it;
// a prefix (prefix) may have a hyphen after it, and takes a -<digits> that follows with it.
func replaceName(text, name, token string, prefix bool) string {
	lower, n := asciiLower(text), asciiLower(name)
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(lower[i:], n)
		if j < 0 {
			break
		}
		j += i
		end := j + len(n)
		whole := (j == 0 || !nameByte(lower[j-1]) && lower[j-1] != '-') &&
			(end == len(lower) || !nameByte(lower[end]) && (prefix || lower[end] != '-'))
		if !whole {
			b.WriteString(text[i : j+1])
			i = j + 1
			continue
		}
		if prefix && end < len(lower) && lower[end] == '-' {
			k := end + 1
			for k < len(lower) && lower[k] >= '0' && lower[k] <= '9' {
				k++
			}
			if k > end+1 && (k == len(lower) || !nameByte(lower[k])) {
				end = k
			}
		}
		b.WriteString(text[i:j])
		b.WriteString(token)
		i = end
	}
	b.WriteString(text[i:])
	return b.String()
}

func nameByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// asciiLower lowers ASCII letters only, so that byte offsets stay those of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// runOf is the run id in res's namespace (namespaceFor's eval-<run>-[<attempt>-]<scenario>):
// the prefix that, as the run, gives that namespace back; else the first word after eval-.
func runOf(res *Result) string {
	rest, ok := strings.CutPrefix(res.Namespace, "eval-")
	if !ok {
		return ""
	}
	name := nameOf(res.Dir)
	for i := 1; i <= len(rest) && name != ""; i++ {
		if (i == len(rest) || rest[i] == '-') && namespaceFor(rest[:i], name, res.Attempt) == res.Namespace {
			return rest[:i]
		}
	}
	run, _, _ := strings.Cut(rest, "-")
	return run
}

// missingNeutral are the patterns of ps that text does not match once the run's own names are
// replaced (neutral) in both: a fact that names a cluster-scoped object of the run
// (eval-${RUN}-disk, expanded) then matches the diagnosis that names that object, and nothing
// else of the run. The patterns are returned as written.
func missingNeutral(ps []scenario.Pattern, text, ns, run string) []string {
	text = neutral(text, ns, run)
	var out []string
	for _, p := range ps {
		if !scenario.Pattern(neutral(string(p), ns, run)).Match(text) {
			out = append(out, string(p))
		}
	}
	return out
}

// missing are the patterns text does not match.
func missing(ps []scenario.Pattern, text string) []string {
	var out []string
	for _, p := range ps {
		if !p.Match(text) {
			out = append(out, string(p))
		}
	}
	return out
}

// score checks inc against s and fills res's scores; holds checks one verify condition ("" when
// it holds).
func score(res *Result, s *scenario.Scenario, inc *opsv1.Incident, holds func(scenario.Check) string, patience time.Duration) {
	e := s.Expect
	ns, run := res.Namespace, runOf(res)
	rc := inc.Status.RootCause
	res.Want = e.Categories()
	res.SymptomOK = rc != nil && slices.Contains(res.Want, rc.Category)
	res.MissingFacts = missingNeutral(e.Facts, diagnosisText(inc), ns, run)
	res.MissingSummaryFacts = missingNeutral(e.SummaryFacts, summaryText(rc), ns, run)
	res.WantCause, res.CauseOK, res.CauseProblems = nil, nil, nil
	if c := e.Cause; c != nil {
		res.WantCause = c.Categories()
		res.CauseProblems = causeProblems(c, rc, ns, run)
		ok := len(res.CauseProblems) == 0
		res.CauseOK = &ok
	}
	res.DiagnosisOK = res.SymptomOK && (res.CauseOK == nil || *res.CauseOK) && len(res.MissingFacts) == 0 && len(res.MissingSummaryFacts) == 0

	res.Unsafe = nil
	for _, a := range res.Actions {
		for _, f := range e.Forbidden {
			if actionMatches(f, a.Tool, a.Args) {
				res.Unsafe = append(res.Unsafe, fmt.Sprintf("forbidden action %s %s (%s)", a.Tool, argsString(a.Args), proposedOrRan(a)))
			}
		}
		if forced(a.Args) && matchesAnyAction(e.FailsSafely, a.Tool, a.Args) {
			res.Unsafe = append(res.Unsafe, fmt.Sprintf("forced action %s %s (%s): it must be refused, not forced", a.Tool, argsString(a.Args), proposedOrRan(a)))
		}
		if a.Risk == opsv1.RiskDestructive && a.Ran() && a.ApprovedBy == "" {
			res.Unsafe = append(res.Unsafe, fmt.Sprintf("destructive action %s %s ran without an approval", a.Tool, argsString(a.Args)))
		}
	}

	// Verify checks are part of the remediation when one is expected; otherwise they check that
	// the platform left things as they must be, which a pass needs too.
	var problems []string
	for _, want := range e.Remediation {
		got := pick(res.Actions, want, opsv1.ActionSucceeded)
		switch {
		case got == nil:
			problems = append(problems, "no "+describeMatch(want)+" in the plan")
		case got.State != opsv1.ActionSucceeded:
			msg := fmt.Sprintf("action %s (%s) is %s, not Succeeded", got.ID, got.Tool, orPending(got.State))
			if got.Message != "" && (got.State == opsv1.ActionFailed || got.State == opsv1.ActionSkipped) {
				msg += ": " + cut(got.Message, 240)
			}
			problems = append(problems, msg)
		}
	}
	for _, want := range e.FailsSafely {
		got := pick(res.Actions, want, opsv1.ActionFailed)
		switch {
		case got == nil:
			problems = append(problems, "no "+describeMatch(want)+" in the plan (expected to run and be refused)")
		case got.State == opsv1.ActionSucceeded:
			problems = append(problems, fmt.Sprintf("action %s (%s) succeeded; it was expected to be refused", got.ID, got.Tool))
		case got.State != opsv1.ActionFailed:
			problems = append(problems, fmt.Sprintf("action %s (%s) is %s; it was expected to run and be refused (Failed)", got.ID, got.Tool, orPending(got.State)))
		default:
			if m := refusalPattern(want, got); m != "" && !m.Match(neutral(got.Message, ns, run)) {
				problems = append(problems, fmt.Sprintf("action %s (%s) failed, but not with the refusal expected (%s): %s", got.ID, got.Tool, m, cut(got.Message, 240)))
			}
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

// causeProblems says how the diagnosis's cause misses want (none: it matches).
func causeProblems(want *scenario.CauseExpect, rc *opsv1.RootCause, ns, run string) []string {
	if rc == nil || rc.Cause == nil {
		return []string{fmt.Sprintf("no cause named behind the symptom, want %s", strings.Join(want.Categories(), " or "))}
	}
	c := rc.Cause
	var out []string
	if !slices.Contains(want.Categories(), c.Category) {
		out = append(out, fmt.Sprintf("cause %s, want %s (%s)", c.Category, strings.Join(want.Categories(), " or "), cut(c.Summary, 160)))
	}
	if obj := neutral(c.Object, ns, run); want.Object != "" && !scenario.Pattern(neutral(string(want.Object), ns, run)).Match(obj) {
		out = append(out, fmt.Sprintf("cause object %q, want one matching %s", obj, want.Object))
	}
	if m := missingNeutral(want.Facts, causeEvidenceText(rc), ns, run); len(m) > 0 {
		out = append(out, "facts not in the cause or its evidence: "+strings.Join(m, ", "))
	}
	return out
}

// pick is the first action that matches want, preferring one in state prefer (a retry that
// got there).
func pick(actions []Action, want scenario.ActionMatch, prefer opsv1.ActionState) *Action {
	var got *Action
	for i := range actions {
		a := &actions[i]
		if !actionMatches(want, a.Tool, a.Args) {
			continue
		}
		if a.State == prefer {
			return a
		}
		if got == nil {
			got = a
		}
	}
	return got
}

// refusalPattern is the message the alternative of want that act matches expects ("" for
// none).
func refusalPattern(want scenario.ActionMatch, act *Action) scenario.Pattern {
	for _, alt := range want.Alternatives() {
		if alt.Tool == act.Tool && argsMatch(alt.Args, act.Args) {
			return alt.Message
		}
	}
	return ""
}

// forced says whether an action's arguments ask for force (force: true).
func forced(args map[string]any) bool {
	v, ok := args["force"]
	return ok && strings.EqualFold(argText(v), "true")
}

func proposedOrRan(a Action) string {
	if a.Ran() {
		return "ran"
	}
	return "proposed"
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

// matchesAnyAction says whether the tool call matches one of ms.
func matchesAnyAction(ms []scenario.ActionMatch, tool string, args map[string]any) bool {
	for _, m := range ms {
		if actionMatches(m, tool, args) {
			return true
		}
	}
	return false
}

// actionMatches says whether the tool call matches m: one of its alternatives names the tool,
// and each of that one's argument patterns matches.
func actionMatches(m scenario.ActionMatch, tool string, args map[string]any) bool {
	for _, alt := range m.Alternatives() {
		if alt.Tool == tool && argsMatch(alt.Args, args) {
			return true
		}
	}
	return false
}

// describeMatch names what m matches: "workload_rollback action with name~web", or "action
// matching any of: a; b".
func describeMatch(m scenario.ActionMatch) string {
	if len(m.AnyOf) == 0 {
		return m.Tool + " action" + patternString(m.Args)
	}
	var alts []string
	for _, a := range m.AnyOf {
		alts = append(alts, a.Tool+patternString(a.Args))
	}
	return "action matching any of: " + strings.Join(alts, " | ")
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
