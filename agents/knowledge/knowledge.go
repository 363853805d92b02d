// Package knowledge is opsmesh's diagnostic knowledge as data: runbooks, each an error signature
// (a pattern over the lines a failure leaves: termination messages, events, logs), the cause
// category it points to, the follow-up tool calls that find the object at fault, and the action
// it proposes. The built-in knowledge (builtin.yaml) and the runbooks users add (files, or a
// ConfigMap mounted as files) are one format, loaded and validated here; the runbook engine
// (package runbook) applies them.
//
// This package only parses, validates and matches: it calls no tool and reads no cluster.
package knowledge

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"

	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/api/contract"
)

// APIVersion and Kind head every runbook file.
const (
	APIVersion = "opsmesh.dev/v1alpha1"
	Kind       = "Runbooks"
)

// File is one runbook file: a header and its runbooks.
//
//	apiVersion: opsmesh.dev/v1alpha1
//	kind: Runbooks
//	runbooks:
//	- name: ...
type File struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Runbooks   []Runbook `json:"runbooks"`
}

// Runbook is one piece of knowledge: when Match matches a line a failure left, the cause is
// Cause, the follow-up calls Follow find the object at fault, and Action is what to propose.
type Runbook struct {
	// Name is unique within a Set (lower-case words joined by dashes).
	Name string `json:"name"`
	// Description says what the runbook knows, for people.
	Description string `json:"description,omitempty"`
	// Source names the public material the signature comes from.
	Source string `json:"source,omitempty"`
	// Symptoms are the symptom categories the runbook applies to (empty: any). (Not "on":
	// YAML 1.1 reads that key as true.)
	Symptoms []string `json:"symptoms,omitempty"`
	// Server marks a signature of the other side: a line a dependency (a database, a broker)
	// writes about a client it refuses, which the client never sees ("Could not find user",
	// "no pg_hba.conf entry for host"). It is matched only against the logs of the Services a
	// failing workload's settings name, after the workload's own signature said the dependency
	// refuses it; its cause replaces that one, and its Setting is looked for among the
	// workload's settings. Follow and Action are not used.
	Server bool `json:"server,omitempty"`
	// Match is the signature: a regular expression (RE2) over one line of evidence. Its named
	// groups are variables for the templates below. A name may repeat in several alternatives
	// ((?P<value>...)|(?P<value>...)): the group that took part gives the variable.
	Match string `json:"match"`
	// Unless is a regular expression (RE2) of lines the signature does not apply to although
	// Match matches them: the kubelet's own probe lines for a runbook about an application's
	// calls ("Readiness probe failed: ... connection refused" is the probe's, not a dependency's).
	Unless string `json:"unless,omitempty"`
	// Extract are more variables, each a regular expression whose first group (or whole
	// match) is taken from the same line when it matches there; a missing one is empty.
	Extract map[string]string `json:"extract,omitempty"`
	// Gather are more variables, like Extract, for messages that print their parts on lines of
	// their own (Spring Boot's "Property: x" and "Value: \"y\"" under "Failed to bind
	// properties"; Node.js's "port: 9464" under "EADDRINUSE"): each is taken from the matching
	// line when it has it, else from the first of the failure's other lines that has it. The
	// matching line is still chosen by Match and Extract alone.
	Gather map[string]string `json:"gather,omitempty"`
	// Cause is the cause the signature establishes before the follow-up calls (which may name
	// a more precise one).
	Cause CauseTemplate `json:"cause"`
	// Follow are read-only tool calls whose answers (contract.CheckReport) name the object at
	// fault; the first cause any of them reports replaces Cause. A call whose tool the agent
	// lacks is skipped (and said in the diagnosis's notes).
	Follow []Call `json:"follow,omitempty"`
	// Setting is a template for the value the failure names (a host, an option, a path) to
	// look for among the failing container's env values and arguments: the setting that
	// carries it (REDIS_URL=redis://redis-master:6379/0) is named in the cause. Empty: the
	// variable "value", when the signature has one.
	Setting string `json:"setting,omitempty"`
	// SettingPattern is a regular expression (RE2) for the settings known to govern this
	// failure, for when Setting's value is not found among the container's settings: an env
	// entry whose name or value matches it (JAVA_TOOL_OPTIONS=-XX:MaxRAMPercentage=25 for a
	// heap exhausted), or an argument that matches it (--gpu-memory-utilization=0.95 for GPU
	// memory exhausted), is the setting to name. Empty: none is known.
	SettingPattern string `json:"settingPattern,omitempty"`
	// Action is what to propose once the cause is known.
	Action Action `json:"action,omitempty"`
	// Examples are lines the signature must match (with the variables it must extract) and
	// lines it must not: every runbook's are checked when it is loaded in tests.
	Examples Examples `json:"examples"`

	match          *regexp.Regexp
	unless         *regexp.Regexp
	extract        map[string]*regexp.Regexp
	gather         map[string]*regexp.Regexp
	settingPattern *regexp.Regexp
	tmpl           map[string]*template.Template
}

// CauseTemplate is a contract.Cause whose strings are templates over the match's variables
// (text/template: {{.namespace}}, {{.verb}}).
type CauseTemplate struct {
	// Category is a cause category (contract.CauseCategories); empty when only the follow-up
	// checks may name the cause (a runbook that says where to look, not what is wrong).
	Category string `json:"category,omitempty"`
	Object   string `json:"object,omitempty"`
	Field    string `json:"field,omitempty"`
	Summary  string `json:"summary,omitempty"`
}

// Call is one follow-up tool call; argument values are templates.
type Call struct {
	Tool string            `json:"tool"`
	Args map[string]string `json:"args,omitempty"`
	// When is a template; the call is made only when it renders non-empty (to skip a call
	// whose needed variable was not found).
	When string `json:"when,omitempty"`
}

// Action kinds.
const (
	// ActionNone proposes nothing automatic: the cause is a person's change (a Role, a
	// policy, a budget); the symptom's own fix (a restart) would not help and is dropped.
	ActionNone = "none"
	// ActionRollback proposes rolling the owning workload back to its previous revision, when
	// the owner can roll back (the new revision brought the fault).
	ActionRollback = "rollback"
	// ActionFinding keeps the fix the analyzer suggested for the symptom.
	ActionFinding = "finding"
	// ActionTool proposes Tool with Args.
	ActionTool = "tool"
)

// Action is what a runbook proposes.
type Action struct {
	// Kind is none (default), rollback, finding or tool.
	Kind string `json:"kind,omitempty"`
	// Tool and Args, for kind tool (argument values are templates).
	Tool string            `json:"tool,omitempty"`
	Args map[string]string `json:"args,omitempty"`
	// Advice says what a person should do (a template); it goes into the diagnosis's notes.
	Advice string `json:"advice,omitempty"`
}

// Examples test a runbook's signature.
type Examples struct {
	// Match are lines that must match, each with the variables it must yield.
	Match []Example `json:"match"`
	// NoMatch are lines that must not match.
	NoMatch []string `json:"noMatch,omitempty"`
}

// Example is one line and the variables it must yield (a subset of all of them).
type Example struct {
	Line string `json:"line"`
	// Context are other lines of the same failure, which Gather may take variables from.
	Context []string          `json:"context,omitempty"`
	Vars    map[string]string `json:"vars,omitempty"`
}

// Set is a validated, ordered set of runbooks: the first that matches wins.
type Set struct {
	runbooks []*Runbook
}

//go:embed builtin.yaml
var builtin []byte

// Builtin is opsmesh's built-in knowledge (parsed once; a Set is never changed).
func Builtin() *Set { return builtinSet() }

var builtinSet = sync.OnceValue(func() *Set {
	s, err := Parse("builtin.yaml", builtin)
	if err != nil {
		panic(fmt.Sprintf("the built-in runbooks do not load: %v", err)) // TestBuiltinExamples catches this
	}
	return s
})

// Runbooks are the set's runbooks, in order.
func (s *Set) Runbooks() []Runbook {
	out := make([]Runbook, len(s.runbooks))
	for i, r := range s.runbooks {
		out[i] = *r
	}
	return out
}

// Parse reads one runbook file; name is what errors call it.
func Parse(name string, data []byte) (*Set, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("runbooks %s: %w (a runbook file is apiVersion: %s, kind: %s, runbooks: [...]; see docs/runbooks.md)", name, err, APIVersion, Kind)
	}
	if f.APIVersion != APIVersion || f.Kind != Kind {
		return nil, fmt.Errorf("runbooks %s: apiVersion %q kind %q: want apiVersion: %s and kind: %s", name, f.APIVersion, f.Kind, APIVersion, Kind)
	}
	if len(f.Runbooks) == 0 {
		return nil, fmt.Errorf("runbooks %s: no runbooks: list them under runbooks:", name)
	}
	s := &Set{}
	var errs []error
	for i := range f.Runbooks {
		r := &f.Runbooks[i]
		if err := r.compile(); err != nil {
			errs = append(errs, fmt.Errorf("runbooks %s: runbook %d (%q): %w", name, i, r.Name, err))
			continue
		}
		s.runbooks = append(s.runbooks, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, s.unique(name)
}

// Load reads the built-in runbooks then every *.yaml and *.yml file of dirs (in name order);
// a user's runbook comes before the built-in ones, so it wins where both match. A runbook
// whose name is a built-in one replaces it.
func Load(dirs ...string) (*Set, error) {
	user := &Set{}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("runbooks directory %s: %w", dir, err)
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("runbooks %s: %w", path, err)
			}
			s, err := Parse(path, data)
			if err != nil {
				return nil, err
			}
			user.runbooks = append(user.runbooks, s.runbooks...)
		}
	}
	if err := user.unique("the runbooks directories"); err != nil {
		return nil, err
	}
	out := &Set{runbooks: slices.Clone(user.runbooks)}
	for _, r := range Builtin().runbooks {
		if !slices.ContainsFunc(user.runbooks, func(u *Runbook) bool { return u.Name == r.Name }) {
			out.runbooks = append(out.runbooks, r)
		}
	}
	return out, nil
}

func (s *Set) unique(where string) error {
	seen := map[string]bool{}
	for _, r := range s.runbooks {
		if seen[r.Name] {
			return fmt.Errorf("runbooks %s: two runbooks are named %q: names must be unique", where, r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)

// funcs are the templates' functions.
var funcs = template.FuncMap{
	// before "/" "pods/log" is "pods"; after "/" "pods/log" is "log" ("" without the separator).
	"before":    func(sep, s string) string { b, _, _ := strings.Cut(s, sep); return b },
	"after":     func(sep, s string) string { _, a, _ := strings.Cut(s, sep); return a },
	"lower":     strings.ToLower,
	"hasPrefix": func(s, prefix string) bool { return strings.HasPrefix(s, prefix) },
	// isIP says whether s is an IP address (a host that names no Service by itself).
	"isIP":  func(s string) bool { return net.ParseIP(s) != nil },
	"trim":  strings.TrimSpace,
	"upper": strings.ToUpper,
	// hasSuffix "/etc/app/config.yaml" ".yaml" is true (the argument order of hasPrefix).
	"hasSuffix": func(s, suffix string) bool { return strings.HasSuffix(s, suffix) },
	// preferName is the first of its arguments that is a host name (not empty, not an IP
	// address), else the first that is not empty: the Service a failure names over the
	// address it was resolved to.
	"preferName": func(hosts ...string) string {
		first := ""
		for _, h := range hosts {
			if h == "" {
				continue
			}
			if net.ParseIP(strings.Trim(h, "[]")) == nil {
				return h
			}
			if first == "" {
				first = h
			}
		}
		return first
	},
}

// compile checks the runbook and compiles its patterns and templates.
func (r *Runbook) compile() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !nameRE.MatchString(r.Name) {
		bad("name %q: use lower-case letters, digits and dashes (at most 64)", r.Name)
	}
	for _, c := range r.Symptoms {
		if !contract.ValidCategory(c) {
			bad("symptoms: %q is not a symptom category of the taxonomy (%s)", c, strings.Join(contract.Categories, ", "))
		}
	}
	var err error
	if r.Match == "" {
		bad("match is empty: give the signature as a regular expression")
	} else if r.match, err = regexp.Compile(r.Match); err != nil {
		bad("match: %v", err)
	}
	if r.Unless != "" {
		if r.unless, err = regexp.Compile(r.Unless); err != nil {
			bad("unless: %v", err)
		}
	}
	r.extract = map[string]*regexp.Regexp{}
	for k, p := range r.Extract {
		re, err := regexp.Compile(p)
		if err != nil {
			bad("extract.%s: %v", k, err)
			continue
		}
		r.extract[k] = re
	}
	r.gather = map[string]*regexp.Regexp{}
	for k, p := range r.Gather {
		re, err := regexp.Compile(p)
		if err != nil {
			bad("gather.%s: %v", k, err)
			continue
		}
		r.gather[k] = re
	}
	if r.SettingPattern != "" {
		if r.settingPattern, err = regexp.Compile(r.SettingPattern); err != nil {
			bad("settingPattern: %v (give the settings that govern the failure as a regular expression)", err)
		}
	}
	switch {
	case r.Cause.Category == "" && len(r.Follow) == 0:
		bad("cause.category is empty and there is no follow-up: give the cause category, or the checks that find it")
	case r.Cause.Category == "":
		// the follow-up checks alone name the cause
	case !contract.ValidCauseCategory(r.Cause.Category) && !contract.ValidCategory(r.Cause.Category):
		bad("cause.category %q is not a cause category: use one of %s", r.Cause.Category, strings.Join(contract.CauseCategories, ", "))
	case r.Cause.Summary == "":
		bad("cause.summary is empty: say the cause in one line")
	}
	switch r.Action.Kind {
	case "", ActionNone, ActionRollback, ActionFinding:
		if r.Action.Tool != "" {
			bad("action.tool is set but action.kind is %q: use kind: tool", r.Action.Kind)
		}
	case ActionTool:
		if r.Action.Tool == "" {
			bad("action.kind is tool but action.tool is empty")
		}
	default:
		bad("action.kind %q: use none, rollback, finding or tool", r.Action.Kind)
	}
	r.tmpl = map[string]*template.Template{}
	parse := func(key, text string) {
		if text == "" {
			return
		}
		t, err := template.New(key).Funcs(funcs).Option("missingkey=zero").Parse(text)
		if err != nil {
			bad("%s: %v", key, err)
			return
		}
		r.tmpl[key] = t
	}
	parse("cause.object", r.Cause.Object)
	parse("cause.field", r.Cause.Field)
	parse("cause.summary", r.Cause.Summary)
	parse("action.advice", r.Action.Advice)
	parse("setting", r.Setting)
	for k, v := range r.Action.Args {
		parse("action.args."+k, v)
	}
	for i, c := range r.Follow {
		if c.Tool == "" {
			bad("follow[%d].tool is empty", i)
		}
		parse(fmt.Sprintf("follow[%d].when", i), c.When)
		for k, v := range c.Args {
			parse(fmt.Sprintf("follow[%d].args.%s", i, k), v)
		}
	}
	if len(r.Examples.Match) == 0 {
		bad("examples.match is empty: give at least one line the signature must match")
	}
	if r.Server && (len(r.Follow) > 0 || (r.Action.Kind != "" && r.Action.Kind != "none")) {
		bad("server: a server runbook names the cause and the setting only; remove follow and action (the workload's own runbook proposes what to do)")
	}
	return errors.Join(errs...)
}

// Context are the variables of the failure a line comes from; templates see them beside the
// match's own.
type Context struct {
	Symptom   string // the symptom category
	Namespace string
	Pod       string // the pod the line is about, when one is
	Container string
	Node      string
	// Owner is the pod's (or object's) controlling workload as kind/namespace/name.
	Owner string
	// Object is the object the line is about, kind/namespace/name.
	Object string
	// ServiceAccount is the pod's ServiceAccount (its spec.serviceAccountName), when known.
	ServiceAccount string
	// GPUs are the GPU resources the failing container asks for ("nvidia.com/mig-1g.10gb: 1"),
	// when known: a GPU, a shared GPU or a MIG slice.
	GPUs string
	// Image is the failing container's image, when known.
	Image string
}

// Hit is a runbook that matched a line, with its variables.
type Hit struct {
	Runbook *Runbook
	Line    string
	Vars    map[string]string
}

// Match returns the first runbook (in the set's order) that applies to symptom and matches one
// of lines (the earlier line wins within a runbook); ok is false when none does.
func (s *Set) Match(lines []string, c Context) (Hit, bool) {
	return s.match(lines, c, false)
}

// MatchServer is Match over the server runbooks: lines are a dependency's log, c the context
// of the workload it refuses.
func (s *Set) MatchServer(lines []string, c Context) (Hit, bool) {
	return s.match(lines, c, true)
}

// match tries the runbooks on the lines a program logged as failures first (not at an info,
// debug or notice level: nginx's entrypoint says "info: can not modify ... (read-only file
// system?)" before the [emerg] that stops it), then, when no runbook matches one of those, on
// every line.
func (s *Set) match(lines []string, c Context, server bool) (Hit, bool) {
	var failures []string
	for _, l := range lines {
		if !InfoLine(l) {
			failures = append(failures, l)
		}
	}
	if len(failures) < len(lines) {
		if h, ok := s.matchLines(failures, lines, c, server); ok {
			return h, true
		}
	}
	return s.matchLines(lines, lines, c, server)
}

// infoLevel finds a log line's level when it says info, debug, notice or trace, in the ways
// common loggers write it near the line's start: "INFO" first or after a timestamp, "[info]",
// "[Note]", "info:", "level=info",
// "\"level\":\"info\"", klog's "I1207 ".
var infoLevel = regexp.MustCompile(`^(?:I\d{4} \d|\[?(?:INFO|DEBUG|NOTICE|TRACE)\b|.{0,40}?\d\]?\s+\[?(?:INFO|DEBUG|NOTICE|TRACE)\b|.{0,60}?(?:\[(?i:info|debug|notice|note|trace)\]|\b(?:info|debug|notice): |level=(?:info|debug|trace)\b|"level":\s*"(?:info|debug|trace)"))`)

// InfoLine says whether a log line is at an info, debug, notice or trace level: a program's
// account of what it does, not of a failure.
func InfoLine(l string) bool { return infoLevel.MatchString(l) }

// matchLines is match over lines; all are the failure's lines, for gather.
func (s *Set) matchLines(lines, all []string, c Context, server bool) (Hit, bool) {
	for _, r := range s.runbooks {
		if r.Server != server || (len(r.Symptoms) > 0 && !slices.Contains(r.Symptoms, c.Symptom)) {
			continue
		}
		// The line that says most wins within a runbook (the JVM's "Unrecognized VM option
		// 'X'" over its later "Could not create the Java Virtual Machine"); among equals, the
		// earliest.
		var best *Hit
		for _, l := range lines {
			// A message quoted inside a JSON or logfmt log line has its quotes escaped.
			l = unescape(l)
			if vars, ok := r.vars(l); ok && (best == nil || len(vars) > len(best.Vars)) {
				best = &Hit{Runbook: r, Line: l, Vars: vars}
			}
		}
		if best != nil {
			if len(best.Vars) == 0 {
				// a trace's first line says only that something failed: its root says what
				best.Line = TraceRoot(best.Line, all)
			}
			r.gatherVars(best.Vars, best.Line, all)
			best.Vars["line"] = clipLine(best.Line, 240)
			c.add(best.Vars)
			return *best, true
		}
	}
	return Hit{}, false
}

// traceStart is the line a Python traceback starts with.
var traceStart = regexp.MustCompile(`^` + rankPrefix + `\s*Traceback \(most recent call last\):?\s*$`)

// rankPrefix is what a launcher writes before each line of one of its workers: torchrun's
// "[rank0]: ", "[default0]:", DeepSpeed's "[1,0]<stderr>:", vLLM's "(APIServer pid=1) ".
const rankPrefix = `(?:\[[\w,.-]{1,20}\](?:<std(?:out|err)>)?:\s?|\(\w{1,30} pid=\d+\)\s)?`

// pyFrame is a frame of a Python traceback.
var pyFrame = regexp.MustCompile(`^` + rankPrefix + `\s*File "[^"]*", line \d+`)

// exceptionLine is the line that ends a Python traceback: the exception's (dotted) class name,
// then its message, if any ("amqp.exceptions.PreconditionFailed: (406) ...", "KeyboardInterrupt").
var exceptionLine = regexp.MustCompile(`^` + rankPrefix + `\s*(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?::\s.*)?$`)

// causedBy is a JVM's account of the exception under the one above it.
var causedBy = regexp.MustCompile(`^\s*Caused by: \S`)

// TraceRoot is the line of all that says why the trace that line starts failed: for a Python
// "Traceback (most recent call last):", the exception line that ends it (whatever its class is
// called: PreconditionFailed, KeyboardInterrupt); for a JVM exception followed by "Caused by:"
// lines, the deepest of them (Liquibase's LockException under Spring's BeanCreationException).
// Lines may run oldest or newest first. It is line itself when the trace has no such line.
func TraceRoot(line string, all []string) string {
	i := slices.Index(all, line)
	if i < 0 {
		return line
	}
	step := 1
	if i > 0 && pyFrame.MatchString(all[i-1]) && !(i+1 < len(all) && pyFrame.MatchString(all[i+1])) {
		step = -1 // newest first: the frames lie before it
	}
	if traceStart.MatchString(line) {
		frame := false
		for j, n := i+step, 0; j >= 0 && j < len(all) && n < 80; j, n = j+step, n+1 {
			l := all[j]
			switch {
			case pyFrame.MatchString(l):
				frame = true
			case frame && exceptionLine.MatchString(l):
				return l
			}
		}
		return line
	}
	// a JVM's chain: the Caused-by lines on one side of it, the deepest the farthest
	root := line
	for _, dir := range []int{1, -1} {
		for j, n := i+dir, 0; j >= 0 && j < len(all) && n < 80; j, n = j+dir, n+1 {
			l := strings.TrimSpace(all[j])
			switch {
			case causedBy.MatchString(l):
				root = l
			case strings.HasPrefix(l, "at ") || strings.HasPrefix(l, "...") || l == "":
			default:
				n = 80 // the trace ends here
			}
		}
		if root != line {
			return root
		}
	}
	return line
}

// unescape undoes the quoting of a message inside a JSON or logfmt log line.
func unescape(l string) string { return strings.ReplaceAll(l, `\"`, `"`) }

// gatherVars adds the runbook's Gather variables that vars lacks: from the matching line, else
// from the first of lines that has one.
func (r *Runbook) gatherVars(vars map[string]string, line string, lines []string) {
	for k, re := range r.gather {
		if _, set := vars[k]; set {
			continue
		}
		for _, l := range append([]string{line}, lines...) {
			if v, ok := submatch(re, unescape(l)); ok {
				vars[k] = v
				break
			}
		}
	}
}

// submatch is re's first group that took part in its match of s (or the whole match).
func submatch(re *regexp.Regexp, s string) (string, bool) {
	x := re.FindStringSubmatch(s)
	if x == nil {
		return "", false
	}
	for _, g := range x[1:] {
		if g != "" {
			return g, true
		}
	}
	return x[0], true
}

// clipLine shortens a matched line for templates ({{.line}}) to at most n bytes.
func clipLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}

// vars matches one line: the named groups and extracted values, or ok false.
func (r *Runbook) vars(line string) (map[string]string, bool) {
	m := r.match.FindStringSubmatch(line)
	if m == nil || (r.unless != nil && r.unless.MatchString(line)) {
		return nil, false
	}
	vars := map[string]string{}
	for i, n := range r.match.SubexpNames() {
		if n != "" && m[i] != "" {
			vars[n] = m[i]
		}
	}
	for k, re := range r.extract {
		if _, set := vars[k]; set {
			continue
		}
		if v, ok := submatch(re, line); ok {
			vars[k] = v
		}
	}
	return vars, true
}

// add puts the context's variables under the match's (the match's own win).
func (c Context) add(vars map[string]string) {
	ownerKind, ownerName := "", ""
	if parts := strings.Split(c.Owner, "/"); len(parts) == 3 {
		ownerKind, ownerName = parts[0], parts[2]
	}
	objectKind, objectName := "", ""
	if parts := strings.Split(c.Object, "/"); len(parts) >= 2 {
		objectKind, objectName = parts[0], parts[len(parts)-1]
	}
	for k, v := range map[string]string{"symptom": c.Symptom, "namespace": c.Namespace, "pod": c.Pod, "container": c.Container,
		"node": c.Node, "owner": c.Owner, "ownerKind": ownerKind, "ownerName": ownerName, "object": c.Object,
		"objectKind": objectKind, "objectName": objectName, "serviceAccount": c.ServiceAccount, "gpus": c.GPUs, "image": c.Image} {
		if _, set := vars[k]; !set && v != "" {
			vars[k] = v
		}
	}
}

// Render renders the runbook's template key (cause.summary, follow[0].args.verb, ...) with vars;
// "" when the runbook has no such template.
func (r *Runbook) Render(key string, vars map[string]string) string {
	t, ok := r.tmpl[key]
	if !ok {
		return ""
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}

// Cause renders the cause the hit establishes by itself, with the line as its evidence.
func (h Hit) Cause() contract.Cause {
	r := h.Runbook
	return contract.Cause{
		Category: r.Cause.Category,
		Object:   r.Render("cause.object", h.Vars),
		Field:    r.Render("cause.field", h.Vars),
		Summary:  r.Render("cause.summary", h.Vars),
		Evidence: []string{h.Line},
	}
}

// Setting is the value to look for among the container's settings: the runbook's setting
// template, else the variable "value"; "" when neither says one.
func (h Hit) Setting() string {
	if h.Runbook.Setting != "" {
		return h.Runbook.Render("setting", h.Vars)
	}
	return h.Vars["value"]
}

// SettingPattern is the runbook's pattern for the settings known to govern its failure (an env
// entry's name or value, or an argument, that matches it), for when Setting's value is not
// found; nil when the runbook knows none.
func (h Hit) SettingPattern() *regexp.Regexp {
	if h.Runbook == nil {
		return nil
	}
	return h.Runbook.settingPattern
}

// Calls renders the hit's follow-up calls: each call's arguments, without those that rendered
// empty; calls whose When renders empty are left out.
func (h Hit) Calls() []RenderedCall {
	var out []RenderedCall
	for i, c := range h.Runbook.Follow {
		if c.When != "" && h.Runbook.Render(fmt.Sprintf("follow[%d].when", i), h.Vars) == "" {
			continue
		}
		args := map[string]any{}
		for k := range c.Args {
			if v := h.Runbook.Render(fmt.Sprintf("follow[%d].args.%s", i, k), h.Vars); v != "" {
				args[k] = v
			}
		}
		out = append(out, RenderedCall{Tool: c.Tool, Args: args})
	}
	return out
}

// RenderedCall is a follow-up call ready to make.
type RenderedCall struct {
	Tool string
	Args map[string]any
}

// ActionArgs renders the action's arguments.
func (h Hit) ActionArgs() map[string]any {
	args := map[string]any{}
	for k := range h.Runbook.Action.Args {
		if v := h.Runbook.Render("action.args."+k, h.Vars); v != "" {
			args[k] = v
		}
	}
	return args
}

// Advice renders the action's advice.
func (h Hit) Advice() string { return h.Runbook.Render("action.advice", h.Vars) }

// Check runs the runbook's examples: an error names each example that fails.
func (r *Runbook) Check() error {
	var errs []error
	for _, ex := range r.Examples.Match {
		vars, ok := r.vars(unescape(ex.Line))
		if !ok {
			errs = append(errs, fmt.Errorf("runbook %s: example %q does not match %s", r.Name, ex.Line, r.Match))
			continue
		}
		r.gatherVars(vars, unescape(ex.Line), ex.Context)
		for k, want := range ex.Vars {
			if vars[k] != want {
				errs = append(errs, fmt.Errorf("runbook %s: example %q gives %s=%q, want %q", r.Name, ex.Line, k, vars[k], want))
			}
		}
	}
	for _, l := range r.Examples.NoMatch {
		if _, ok := r.vars(unescape(l)); ok {
			errs = append(errs, fmt.Errorf("runbook %s: %q matches, but is listed under noMatch", r.Name, l))
		}
	}
	return errors.Join(errs...)
}
