// Package scenario owns the format of an opsmesh eval scenario: a folder with a scenario.yaml
// that says what to set up on a cluster, how the incident is raised, what the diagnosis and the
// remediation must be, and what must hold on the API server afterwards. It reads and validates
// scenario folders (strictly: an unknown field, a bad pattern or a missing part is an error that
// names the file and the field) and substitutes the run's values into them. It must not talk to
// a cluster: evals/runner runs scenarios and scores them.
package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
)

// File is the name of a scenario's file inside its folder.
const File = "scenario.yaml"

// Areas a scenario's tags.area may name.
var Areas = []string{"workload", "network", "storage", "node", "gpu", "scheduler", "security"}

// Difficulties a scenario's tags.difficulty may name.
var Difficulties = []string{"easy", "medium", "hard"}

// Scenario is one scenario.yaml.
type Scenario struct {
	// Name is the scenario's name (a DNS label); the folder's name when empty.
	Name string `json:"name,omitempty"`
	// Description says in a sentence or two what breaks and what the right answer is.
	Description string `json:"description"`
	Tags        Tags   `json:"tags"`
	Setup       Setup  `json:"setup"`
	// Incident says how the incident is raised and what it is about.
	Incident Incident `json:"incident"`
	// Remediation is the policy the scenario's coordinator runs under (default: every action
	// waits for approval, and the runner approves those expect.remediation names).
	Remediation Remediation `json:"remediation,omitempty"`
	Expect      Expect      `json:"expect"`
	// Verify is the object state that must hold after remediation, checked against the API
	// server once the incident has ended.
	Verify []Check `json:"verify,omitempty"`
	// Timeout bounds the scenario from setup to the incident's end (default 3m).
	Timeout Duration `json:"timeout,omitempty"`
	// Exclusive runs the scenario alone. Scenarios that touch what others share — nodes, GPU
	// faults, cluster-scoped objects, pods asking for GPUs or bound to a node — always do.
	Exclusive bool `json:"exclusive,omitempty"`

	// Dir is the folder the scenario was read from.
	Dir string `json:"-"`
}

// Tags classify a scenario.
type Tags struct {
	Area       string `json:"area"`
	Difficulty string `json:"difficulty"`
}

// Setup is what the runner creates before the incident is raised, in this order: objects,
// waits, updates, status patches, settling waits, GPU faults, events.
type Setup struct {
	// Objects are Kubernetes objects, created in order. A namespaced object without a namespace
	// goes into the scenario's namespace; cluster-scoped objects (Nodes, StorageClasses, ...)
	// should carry ${RUN} in their names, and are deleted after the scenario.
	Objects []Object `json:"objects,omitempty"`
	// WaitFor are conditions that must hold before the updates (revision 1 rolled out, a pod
	// scheduled); each is polled until it holds or the timeout.
	WaitFor []Check `json:"waitFor,omitempty"`
	// Updates are applied after the waits (server-side apply, field manager opsmesh-eval): a
	// second revision of a Deployment that breaks it, a node cordoned after its pods run.
	Updates []Object `json:"updates,omitempty"`
	// Status patches set states the simulated kubelet cannot produce, through the status
	// subresource.
	Status []StatusPatch `json:"status,omitempty"`
	// Settle are conditions polled after the updates and status patches, before the GPU faults
	// and events: the state the bad revision produces (its pods crash, a rollout stalls).
	Settle []Check `json:"settle,omitempty"`
	// GPUFaults are injected into the sandbox's simulated GPUs (they need the sandbox).
	GPUFaults []GPUFault `json:"gpuFaults,omitempty"`
	// Events are Kubernetes Events recorded on objects, as a kubelet or controller would.
	Events []Event `json:"events,omitempty"`
	// Logs are container logs the sandbox serves for pods (pod_logs reads them as from a
	// kubelet): the current container's and, with Previous, the last terminated one's.
	Logs []Logs `json:"logs,omitempty"`
}

// Logs are one container's log lines, served by the sandbox for every pod Pod selects.
type Logs struct {
	// Pod selects the pods (by Name or Selector; Kind is Pod).
	Pod Ref `json:"pod"`
	// Container is the container's name (default: the pod's first container).
	Container string `json:"container,omitempty"`
	// Previous serves the lines as the last terminated container's log (kubectl logs
	// --previous), not the current one's.
	Previous bool `json:"previous,omitempty"`
	// Lines are the log lines, oldest first; ${NAMESPACE}, ${RUN} and the other variables are
	// expanded.
	Lines []string `json:"lines"`
}

// Object is one Kubernetes object, as it would appear in a manifest.
type Object map[string]any

// Unstructured returns the object as an unstructured.Unstructured.
func (o Object) Unstructured() *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any(o)}
	return u.DeepCopy()
}

// Ref names one object. Namespace defaults to the scenario's namespace for namespaced kinds.
type Ref struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	// Selector picks objects by label instead of Name (for pods a controller made).
	Selector map[string]string `json:"selector,omitempty"`
}

func (r Ref) String() string {
	s := r.Kind
	if r.Namespace != "" {
		s += " " + r.Namespace + "/"
	} else {
		s += " "
	}
	if r.Name != "" {
		return s + r.Name
	}
	var kv []string
	for k, v := range r.Selector {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return s + "[" + strings.Join(kv, ",") + "]"
}

// StatusPatch is a JSON merge patch applied to the status subresource of every object Ref
// picks (at least one must exist within the scenario's timeout).
type StatusPatch struct {
	Ref `json:",inline"`
	// Status is merged into the object's .status.
	Status map[string]any `json:"status"`
}

// GPUFault is a fault injected into one simulated GPU (the fields of the sandbox's fault file,
// mcpservers/gpu/simulate). Node defaults to ${GPU_NODE}.
type GPUFault struct {
	Node string `json:"node,omitempty"`
	GPU  int    `json:"gpu"`
	// XIDs are XID codes the GPU reports now, in order.
	XIDs         []int                  `json:"xids,omitempty"`
	ECC          *simulate.ECC          `json:"ecc,omitempty"`
	TemperatureC *uint32                `json:"temperatureC,omitempty"`
	Utilization  *simulate.Utilization  `json:"utilization,omitempty"`
	Throttle     []string               `json:"throttle,omitempty"`
	RemappedRows *simulate.RemappedRows `json:"remappedRows,omitempty"`
	NVLinkDown   []int                  `json:"nvlinkDown,omitempty"`
	Lost         bool                   `json:"lost,omitempty"`
	Processes    []simulate.Process     `json:"processes,omitempty"`
}

// Faults is the fault as the sandbox's fault file has it (XIDs without times: stamped when
// injected).
func (f GPUFault) Faults() simulate.GPUFaults {
	g := simulate.GPUFaults{Index: f.GPU, ECC: f.ECC, TemperatureC: f.TemperatureC, Utilization: f.Utilization, Throttle: f.Throttle,
		RemappedRows: f.RemappedRows, NVLinkDown: f.NVLinkDown, Lost: f.Lost, Processes: f.Processes}
	for _, x := range f.XIDs {
		g.XIDs = append(g.XIDs, simulate.XID{Code: x})
	}
	return g
}

// Event is a Kubernetes Event on an object (its uid is looked up); with a selector, on each
// object it picks (at least one must exist within the scenario's timeout).
type Event struct {
	Object Ref `json:"object"`
	// Type is Warning (default) or Normal.
	Type    string `json:"type,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Count is how many times it happened (default 1).
	Count int32 `json:"count,omitempty"`
	// Component is the source that reports it (default opsmesh-eval).
	Component string `json:"component,omitempty"`
}

// Incident says how the incident is raised (exactly one of Question, Event, Alert, Platform)
// and which object it is about.
type Incident struct {
	// Target is the object the Incident is about; the runner finds the Incident by it.
	Target Ref `json:"target"`
	// Question: the runner creates the Incident itself, with this summary, as a person would
	// with opsmesh incidents create.
	Question string `json:"question,omitempty"`
	// Event: the runner records this Warning Event; the platform's event trigger raises the
	// Incident.
	Event *Event `json:"event,omitempty"`
	// Alert: the runner posts this alert to the platform's Alertmanager webhook.
	Alert *Alert `json:"alert,omitempty"`
	// Platform: the platform raises the Incident from what setup made happen (kwok's BackOff
	// events, a GPU node agent's XID); the runner only waits for it.
	Platform bool `json:"platform,omitempty"`
}

// Alert is one Alertmanager alert.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Remediation is the scenario coordinator's policy.
type Remediation struct {
	// Mode is ApprovalRequired (default), Auto or Suggest, as in an Agent's spec.remediation.
	Mode opsv1.RemediationMode `json:"mode,omitempty"`
	// Approve says which waiting actions the runner approves: "expected" (default: those
	// expect.remediation names; the rest are rejected) or "none" (every one is rejected).
	Approve string `json:"approve,omitempty"`
}

// Expect is what the incident's diagnosis and remediation must be.
//
// Facts are matched against the diagnosis only — the root cause (its summary, its cause's
// object, field and summary, its evidence), the findings and the plan's reasons — after the
// run's own names are replaced by neutral tokens (the scenario's namespace
// eval-<run>-<scenario> by <namespace>, the eval-${RUN} prefix of cluster-scoped names by
// <run>), so that a fact can only match the diagnosis's own words, never the scenario's name.
type Expect struct {
	// Category is the root cause's category in the taxonomy (the symptom: CrashLoopBackOff,
	// Pending, NodeCordoned); Accept lists others that are also right (a symptom named at a
	// different level of detail).
	Category string   `json:"category"`
	Accept   []string `json:"accept,omitempty"`
	// Cause is the cause behind the symptom that the diagnosis must name (its rootCause.cause),
	// scored apart from the symptom: with it, a scenario passes only if both are right.
	Cause *CauseExpect `json:"cause,omitempty"`
	// Facts must each appear in the diagnosis (root cause summary, cause, evidence, findings,
	// the plan's reasons): a string (case-insensitive) or /a regular expression/.
	Facts []Pattern `json:"facts,omitempty"`
	// SummaryFacts must each appear in the root cause's summary or its cause (object, field,
	// summary): what the diagnosis must say in its own words, not only quote in evidence.
	SummaryFacts []Pattern `json:"summaryFacts,omitempty"`
	// Remediation are the actions the plan must hold, each run to success. An entry is one
	// action ({tool, args}) or alternatives ({anyOf: [{tool, args}...]}), any one of which
	// satisfies it.
	Remediation []ActionMatch `json:"remediation,omitempty"`
	// FailsSafely are actions the plan must hold and run, and that must fail: the tool refuses
	// them (a drain an eviction budget blocks), as it should. None may be proposed with
	// force: true. The incident then ends Escalated (the default phase with them).
	FailsSafely []ActionMatch `json:"failsSafely,omitempty"`
	// Forbidden are actions that must be neither proposed nor taken.
	Forbidden []ActionMatch `json:"forbidden,omitempty"`
	// Phases the incident may end in (default: Escalated when FailsSafely is set, else
	// Resolved when Remediation is, else Escalated).
	Phases []opsv1.IncidentPhase `json:"phases,omitempty"`
}

// CauseExpect is the cause a diagnosis must name behind the symptom (the Incident's
// status.rootCause.cause).
type CauseExpect struct {
	// Category is a cause category (api/contract: RBACDenied, NetworkPolicyBlocked, VolumeFull,
	// TaintNotTolerated, ...); Accept lists other cause categories that are also right.
	Category string   `json:"category"`
	Accept   []string `json:"accept,omitempty"`
	// Object matches the object at fault as the cause names it (kind/namespace/name, with the
	// namespace as <namespace>): a substring such as "role/<namespace>/autoscaler-watch" or
	// "autoscaler-watch", or a /regular expression/.
	Object Pattern `json:"object,omitempty"`
	// Facts must each appear in the cause (its object, field and summary) or in the root
	// cause's evidence.
	Facts []Pattern `json:"facts,omitempty"`
}

// Categories are the cause categories a correct diagnosis may name.
func (c CauseExpect) Categories() []string { return append([]string{c.Category}, c.Accept...) }

// ActionMatch matches remediation actions: the tool's name, and the arguments' values (as
// text), each exactly or as a /regular expression/. Written with AnyOf instead of Tool, it
// holds alternatives: an action that matches any one of them matches it.
type ActionMatch struct {
	Tool string             `json:"tool,omitempty"`
	Args map[string]Pattern `json:"args,omitempty"`
	// Message, only under failsSafely, must appear in what the tool answered when it refused
	// the action (the action's status message), such as /disruption budget/: the refusal is
	// the right one, not a tool that was missing or an agent that did not answer.
	Message Pattern `json:"message,omitempty"`
	// AnyOf are alternative actions (each a tool and its args), any one of which will do.
	AnyOf []ActionMatch `json:"anyOf,omitempty"`
}

// Alternatives are the actions m stands for: its AnyOf, or m itself.
func (m ActionMatch) Alternatives() []ActionMatch {
	if len(m.AnyOf) > 0 {
		return m.AnyOf
	}
	return []ActionMatch{m}
}

// Check is one condition on an object: the JSONPath's value equals Equals, matches Matches,
// or (Absent) the object or the value does not exist.
type Check struct {
	Ref `json:",inline"`
	// Path is a kubectl JSONPath, such as {.spec.unschedulable}; empty checks that the object
	// exists (or, with Absent, that it does not).
	Path    string   `json:"path,omitempty"`
	Equals  *string  `json:"equals,omitempty"`
	Matches *Pattern `json:"matches,omitempty"`
	Absent  bool     `json:"absent,omitempty"`
}

// Tokens that stand for the run's own names in the text facts are matched against: the
// scenario's namespace (eval-<run>-<scenario>) and the eval-<run> prefix of cluster-scoped
// names. A fact may not match them.
const (
	NamespaceToken = "<namespace>"
	RunToken       = "<run>"
)

// Pattern is a case-insensitive substring, or a regular expression written /like this/.
type Pattern string

// Regexp compiles the pattern (a substring is quoted and made case-insensitive).
func (p Pattern) Regexp() (*regexp.Regexp, error) {
	s := string(p)
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		return regexp.Compile(s[1 : len(s)-1])
	}
	return regexp.Compile("(?i)" + regexp.QuoteMeta(s))
}

// Match says whether text matches the pattern (an invalid pattern matches nothing; Validate
// refuses those).
func (p Pattern) Match(text string) bool {
	re, err := p.Regexp()
	return err == nil && re.MatchString(text)
}

// MatchValue is how an action's argument is matched: a /regular expression/, else the exact
// text.
func (p Pattern) MatchValue(text string) bool {
	s := string(p)
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		return p.Match(text)
	}
	return s == text
}

// Duration is a time.Duration written as "90s" or "3m".
type Duration time.Duration

// UnmarshalJSON reads "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"90s\" or \"3m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// DefaultTimeout bounds a scenario whose timeout is not given.
const DefaultTimeout = 3 * time.Minute

// TimeoutOr is the scenario's timeout, or DefaultTimeout.
func (s *Scenario) TimeoutOr() time.Duration {
	if s.Timeout > 0 {
		return time.Duration(s.Timeout)
	}
	return DefaultTimeout
}

// Categories are the categories a correct diagnosis may name.
func (e Expect) Categories() []string { return append([]string{e.Category}, e.Accept...) }

// EndPhases are the phases the incident may end in.
func (e Expect) EndPhases() []opsv1.IncidentPhase {
	switch {
	case len(e.Phases) > 0:
		return e.Phases
	case len(e.FailsSafely) > 0:
		return []opsv1.IncidentPhase{opsv1.PhaseEscalated}
	case len(e.Remediation) > 0:
		return []opsv1.IncidentPhase{opsv1.PhaseResolved}
	}
	return []opsv1.IncidentPhase{opsv1.PhaseEscalated}
}

// RunsAlone says whether the scenario must run alone: it says so (exclusive), or it changes or
// takes what other scenarios share (nodes, GPU faults, cluster-scoped objects, GPUs, a node's
// room by nodeName).
func (s *Scenario) RunsAlone() bool {
	if s.Exclusive || len(s.Setup.GPUFaults) > 0 || s.Incident.Target.Kind == "Node" {
		return true
	}
	for _, o := range append(append([]Object(nil), s.Setup.Objects...), s.Setup.Updates...) {
		if ClusterScoped(o.Unstructured().GetKind()) || usesShared(map[string]any(o)) {
			return true
		}
	}
	for _, p := range s.Setup.Status {
		if ClusterScoped(p.Kind) {
			return true
		}
	}
	return false
}

// usesShared says whether an object asks for GPUs (an nvidia.com/ resource) or binds a pod to a
// node (nodeName), anywhere in it (a pod, a template, a Workload's pod sets).
func usesShared(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "nodeName" || strings.HasPrefix(k, "nvidia.com/") {
				return true
			}
			if usesShared(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if usesShared(e) {
				return true
			}
		}
	}
	return false
}

// clusterScoped are the cluster-scoped kinds scenarios use.
var clusterScoped = []string{"Node", "Namespace", "StorageClass", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
	"PriorityClass", "ClusterQueue", "ResourceFlavor", "Queue", "RuntimeClass", "CustomResourceDefinition"}

// ClusterScoped says whether kind is one of the cluster-scoped kinds scenarios use.
func ClusterScoped(kind string) bool { return slices.Contains(clusterScoped, kind) }

// Vars are the values substituted for ${NAME} in a scenario file before it is decoded.
type Vars map[string]string

// VarNames are the variables a scenario may use, and what each is.
var VarNames = map[string]string{
	"NAMESPACE": "the scenario's own namespace (created for the run, deleted after)",
	"RUN":       "a short id of this run, for the names of cluster-scoped objects",
	"GPU_NODE":  "a simulated GPU node (whole GPUs, no MIG)",
	"MIG_NODE":  "the simulated GPU node whose GPUs are MIG-partitioned",
	"CPU_NODE":  "a simulated node without GPUs",
	"AGENT_NS":  "the namespace of the platform's agents, where Incidents about nodes land",
	"NOW":       "the time the scenario file is read (RFC 3339, UTC); ${NOW-90s} or ${NOW-2h} is that long before it",
}

var varRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:-([^}]*))?\}`)

// Substitute replaces every ${NAME} in data with vars[NAME]; a name that is not a known
// variable, or has no value, is an error naming the line.
func Substitute(data []byte, vars Vars) ([]byte, error) {
	var errs []string
	unknown := false
	out := varRe.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := varRe.FindSubmatch(m)
		name, offset := string(sub[1]), sub[2]
		v, ok := vars[name]
		line := func() int { return 1 + strings.Count(string(data[:strings.Index(string(data), string(m))]), "\n") }
		if sub[2] != nil {
			if name != "NOW" {
				errs = append(errs, fmt.Sprintf("line %d: ${%s-%s}: only ${NOW} takes an offset (${NOW-90s}, ${NOW-2h})", line(), name, offset))
				return m
			}
			at, err := time.Parse(time.RFC3339, v)
			d, derr := time.ParseDuration(string(offset))
			switch {
			case !ok || err != nil:
				errs = append(errs, fmt.Sprintf("line %d: ${NOW} has no value (want an RFC 3339 time)", line()))
			case derr != nil || d < 0:
				errs = append(errs, fmt.Sprintf("line %d: ${NOW-%s}: the offset is not a positive Go duration such as 90s, 5m or 2h", line(), offset))
			default:
				return []byte(at.Add(-d).UTC().Format(time.RFC3339))
			}
			return m
		}
		if _, known := VarNames[name]; !known || !ok {
			if !known {
				unknown = true
				errs = append(errs, fmt.Sprintf("line %d: unknown variable ${%s}; the variables are %s", line(), name, strings.Join(sortedVarNames(), ", ")))
			} else {
				errs = append(errs, fmt.Sprintf("line %d: variable ${%s} (%s) has no value on this cluster", line(), name, VarNames[name]))
			}
			return m
		}
		return []byte(v)
	})
	if len(errs) > 0 {
		if !unknown {
			return nil, noValueError(strings.Join(errs, "; "))
		}
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// ErrNoValue is what Substitute's error Is when the only problem is that the cluster has no
// value for a variable (no simulated GPU node, say): the scenario cannot run there.
var ErrNoValue = errors.New("a variable has no value on this cluster")

type noValueError string

func (e noValueError) Error() string        { return string(e) }
func (e noValueError) Is(target error) bool { return target == ErrNoValue }

func sortedVarNames() []string {
	var out []string
	for k := range VarNames {
		out = append(out, "${"+k+"}")
	}
	sort.Strings(out)
	return out
}

// PlaceholderVars are values that let a scenario be read without a cluster (Validate).
func PlaceholderVars() Vars {
	return Vars{"NAMESPACE": "eval-check", "RUN": "check", "GPU_NODE": "gpu-node", "MIG_NODE": "mig-node", "CPU_NODE": "cpu-node", "AGENT_NS": "opsmesh",
		"NOW": time.Now().UTC().Format(time.RFC3339)}
}

// maxFile bounds a scenario file.
const maxFile = 1 << 20

// Parse decodes and validates one scenario file's contents (after substitution). dir names
// the folder in errors and is the default name.
func Parse(data []byte, dir string) (*Scenario, error) {
	where := filepath.Join(dir, File)
	if len(data) > maxFile {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a scenario may have", where, len(data), maxFile)
	}
	var s Scenario
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	s.Dir = dir
	if s.Name == "" {
		s.Name = filepath.Base(dir)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &s, nil
}

// Read reads the scenario in folder dir, substituting vars (PlaceholderVars when nil).
func Read(dir string, vars Vars) (*Scenario, error) {
	data, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w (a scenario is a folder with a %s)", dir, err, File)
	}
	if vars == nil {
		vars = PlaceholderVars()
	}
	sub, err := Substitute(data, vars)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, File), err)
	}
	return Parse(sub, dir)
}

// Find lists the scenario folders under each of dirs: a folder with a scenario.yaml is one
// scenario; otherwise each of its subfolders that has one is. Sorted by path; a dir with
// none is an error.
func Find(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, File)); err == nil {
			out = append(out, d)
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("scenarios %s: %w", d, err)
		}
		n := 0
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(d, e.Name(), File)); err == nil {
				out = append(out, filepath.Join(d, e.Name()))
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("scenarios %s: no %s in it or in its subfolders", d, File)
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// Validate checks what decoding cannot: required parts, known names, valid patterns.
func (s *Scenario) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 {
		bad("name %q: %s (it is also the folder's name by default)", s.Name, strings.Join(msgs, "; "))
	}
	if strings.TrimSpace(s.Description) == "" {
		bad("description: say what breaks and what the right answer is")
	}
	if !slices.Contains(Areas, s.Tags.Area) {
		bad("tags.area %q: use one of %s", s.Tags.Area, strings.Join(Areas, ", "))
	}
	if !slices.Contains(Difficulties, s.Tags.Difficulty) {
		bad("tags.difficulty %q: use one of %s", s.Tags.Difficulty, strings.Join(Difficulties, ", "))
	}
	for i, o := range s.Setup.Objects {
		u := o.Unstructured()
		if u.GetAPIVersion() == "" || u.GetKind() == "" || (u.GetName() == "" && u.GetGenerateName() == "") {
			bad("setup.objects[%d]: an object needs apiVersion, kind and metadata.name", i)
		}
		if u.GetKind() == "Namespace" {
			bad("setup.objects[%d]: the runner makes the scenario's namespace (${NAMESPACE}); do not create namespaces", i)
		}
	}
	for i, o := range s.Setup.Updates {
		u := o.Unstructured()
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			bad("setup.updates[%d]: an update needs apiVersion, kind and metadata.name", i)
		}
	}
	for i, c := range s.Setup.WaitFor {
		checkCheck(fmt.Sprintf("setup.waitFor[%d]", i), c, bad)
	}
	for i, c := range s.Setup.Settle {
		checkCheck(fmt.Sprintf("setup.settle[%d]", i), c, bad)
	}
	for i, p := range s.Setup.Status {
		checkRef(fmt.Sprintf("setup.status[%d]", i), p.Ref, bad)
		if len(p.Status) == 0 {
			bad("setup.status[%d]: status is empty: give the fields to merge into .status", i)
		}
	}
	for i, f := range s.Setup.GPUFaults {
		if f.GPU < 0 || f.GPU > 7 {
			bad("setup.gpuFaults[%d].gpu %d: a simulated node's GPUs are 0..7", i, f.GPU)
		}
		for _, x := range f.XIDs {
			if x < 1 || x > 1000 {
				bad("setup.gpuFaults[%d].xids: %d is not an XID code (1..1000)", i, x)
			}
		}
	}
	for i, e := range s.Setup.Events {
		checkEvent(fmt.Sprintf("setup.events[%d]", i), e, bad)
	}
	for i, l := range s.Setup.Logs {
		where := fmt.Sprintf("setup.logs[%d]", i)
		if l.Pod.Kind != "" && l.Pod.Kind != "Pod" {
			bad("%s.pod.kind %q: logs are a pod's; leave kind out or write Pod", where, l.Pod.Kind)
		}
		if l.Pod.Name == "" && len(l.Pod.Selector) == 0 {
			bad("%s.pod: give the pod's name or a selector for the pods that serve these lines", where)
		}
		if l.Pod.Name != "" && len(l.Pod.Selector) > 0 {
			bad("%s.pod: give name or selector, not both", where)
		}
		if len(l.Lines) == 0 {
			bad("%s.lines: give at least one log line", where)
		}
	}
	in := s.Incident
	checkRef("incident.target", in.Target, bad)
	if in.Target.Name == "" {
		bad("incident.target.name: name the object the Incident is about")
	}
	ways := 0
	for _, set := range []bool{in.Question != "", in.Event != nil, in.Alert != nil, in.Platform} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		bad("incident: give exactly one of question, event, alert and platform (got %d)", ways)
	}
	if in.Event != nil {
		checkEvent("incident.event", *in.Event, bad)
	}
	if in.Alert != nil && in.Alert.Labels["alertname"] == "" {
		bad("incident.alert.labels.alertname: an alert needs its alertname")
	}
	switch s.Remediation.Mode {
	case "", opsv1.RemediationApprovalRequired, opsv1.RemediationAuto, opsv1.RemediationSuggest:
	default:
		bad("remediation.mode %q: use ApprovalRequired, Auto or Suggest", s.Remediation.Mode)
	}
	if a := s.Remediation.Approve; a != "" && a != "expected" && a != "none" {
		bad("remediation.approve %q: use expected or none", a)
	}
	e := s.Expect
	for _, c := range e.Categories() {
		if !diagnosis.ValidCategory(c) {
			bad("expect.category/accept %q is not in the taxonomy (agents/diagnosis); e.g. CrashLoopBackOff, InsufficientGPU, GPUXid79", c)
		}
	}
	checkFacts("expect.facts", e.Facts, bad)
	checkFacts("expect.summaryFacts", e.SummaryFacts, bad)
	if c := e.Cause; c != nil {
		if c.Category == "" {
			bad("expect.cause.category: name the cause category the diagnosis must find (%s)", causeCategoryList())
		}
		for i, cat := range c.Categories() {
			if cat != "" && !contract.ValidCauseCategory(cat) {
				where := "expect.cause.category"
				if i > 0 {
					where = fmt.Sprintf("expect.cause.accept[%d]", i-1)
				}
				bad("%s %q is not a cause category (api/contract); use one of %s", where, cat, causeCategoryList())
			}
		}
		if c.Object != "" {
			checkPattern("expect.cause.object", c.Object, bad)
		}
		checkFacts("expect.cause.facts", c.Facts, bad)
	}
	for i, a := range e.Remediation {
		checkAction(fmt.Sprintf("expect.remediation[%d]", i), a, false, bad)
	}
	for i, a := range e.FailsSafely {
		where := fmt.Sprintf("expect.failsSafely[%d]", i)
		checkAction(where, a, true, bad)
		for j, alt := range a.Alternatives() {
			if f, ok := alt.Args["force"]; ok && f.MatchValue("true") {
				w := where
				if len(a.AnyOf) > 0 {
					w = fmt.Sprintf("%s.anyOf[%d]", where, j)
				}
				bad("%s.args.force %q: an action expected to fail safely must not be forced; leave force out (a forced %s is an unsafe action: list it under expect.forbidden)", w, f, alt.Tool)
			}
		}
	}
	if len(e.FailsSafely) > 0 {
		if s.Remediation.Approve == "none" {
			bad("expect.failsSafely: the runner must approve these actions for them to run and be refused; remove remediation.approve: none")
		}
		if s.Remediation.Mode == opsv1.RemediationSuggest {
			bad("expect.failsSafely: under remediation.mode Suggest no action runs, so none can be refused; use ApprovalRequired (the default) or Auto")
		}
	}
	for i, a := range e.Forbidden {
		checkAction(fmt.Sprintf("expect.forbidden[%d]", i), a, false, bad)
	}
	for i, p := range e.Phases {
		if !p.Terminal() {
			bad("expect.phases[%d] %q: use Resolved, Escalated or Failed (the runner decides every approval, so the incident ends in one of them)", i, p)
		}
	}
	for i, c := range s.Verify {
		checkCheck(fmt.Sprintf("verify[%d]", i), c, bad)
	}
	if len(e.Facts) == 0 && len(e.SummaryFacts) == 0 && e.Cause == nil && len(e.Remediation) == 0 && len(e.FailsSafely) == 0 && len(e.Forbidden) == 0 && len(s.Verify) == 0 {
		bad("expect: give facts, summaryFacts, a cause, remediation, failsSafely or forbidden actions, or verify checks besides the category, so that the scenario tests more than a label")
	}
	if s.Timeout < 0 {
		bad("timeout %s: give a positive duration", time.Duration(s.Timeout))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func checkRef(where string, r Ref, bad func(string, ...any)) {
	if r.Kind == "" {
		bad("%s.kind: name the object's kind", where)
	}
	if r.Name == "" && len(r.Selector) == 0 {
		bad("%s: give name or selector", where)
	}
	if r.Name != "" && len(r.Selector) > 0 {
		bad("%s: give name or selector, not both", where)
	}
}

func checkEvent(where string, e Event, bad func(string, ...any)) {
	checkRef(where+".object", e.Object, bad)
	if e.Reason == "" || e.Message == "" {
		bad("%s: an event needs reason and message", where)
	}
	if e.Type != "" && e.Type != "Warning" && e.Type != "Normal" {
		bad("%s.type %q: use Warning or Normal", where, e.Type)
	}
	if e.Count < 0 {
		bad("%s.count %d: give a positive count", where, e.Count)
	}
}

// checkFacts checks patterns that are looked for in a diagnosis (checkPattern).
func checkFacts(where string, facts []Pattern, bad func(string, ...any)) {
	for i, f := range facts {
		checkPattern(fmt.Sprintf("%s[%d]", where, i), f, bad)
	}
}

// checkPattern checks one pattern that is looked for in a diagnosis: it compiles, and matches
// neither an empty diagnosis nor the tokens that stand for the run's own names.
func checkPattern(where string, f Pattern, bad func(string, ...any)) {
	if _, err := f.Regexp(); err != nil {
		bad("%s %q: %v", where, f, err)
	} else if f.Match("") {
		bad("%s %q matches any diagnosis, even an empty one: name something the diagnosis must say", where, f)
	} else if f.Match(NamespaceToken) || f.Match(RunToken) {
		bad("%s %q matches %s or %s, which stand for the run's own names in the diagnosis: name something the diagnosis must say in its own words", where, f, NamespaceToken, RunToken)
	}
}

func causeCategoryList() string {
	var out []string
	for _, c := range contract.CauseCategories {
		out = append(out, string(c))
	}
	return strings.Join(out, ", ")
}

// checkAction checks one expected action: a tool with its args, or alternatives (anyOf), each a
// tool with its args.
func checkAction(where string, a ActionMatch, failsSafely bool, bad func(string, ...any)) {
	switch {
	case a.Tool != "" && len(a.AnyOf) > 0:
		bad("%s: give tool (one action) or anyOf (alternatives), not both; move %s into anyOf", where, a.Tool)
		return
	case a.Tool == "" && len(a.AnyOf) == 0:
		bad("%s: give tool (one action, such as workload_rollback) or anyOf (alternatives, each with its tool)", where)
		return
	case len(a.AnyOf) > 0:
		if len(a.Args) > 0 || a.Message != "" {
			bad("%s: with anyOf, each alternative has its own args and message; move them into the alternatives", where)
		}
		for j, alt := range a.AnyOf {
			w := fmt.Sprintf("%s.anyOf[%d]", where, j)
			if len(alt.AnyOf) > 0 {
				bad("%s.anyOf: alternatives do not nest; list every alternative in %s.anyOf", w, where)
				continue
			}
			checkAction(w, alt, failsSafely, bad)
		}
		return
	}
	if a.Message != "" {
		if !failsSafely {
			bad("%s.message: only an action expected to fail safely (expect.failsSafely) is matched on its message; remove it", where)
		} else {
			checkPattern(where+".message", a.Message, bad)
		}
	}
	for k, p := range a.Args {
		if _, err := p.Regexp(); err != nil {
			bad("%s.args.%s %q: %v", where, k, p, err)
		}
		if v := string(p); !strings.HasPrefix(v, "/") && (strings.HasPrefix(v, "^") || strings.HasSuffix(v, "$")) {
			bad("%s.args.%s %q: an argument is matched exactly unless it is written /like this/; write \"/%s/\" for a regular expression", where, k, p, v)
		}
	}
}

func checkCheck(where string, c Check, bad func(string, ...any)) {
	checkRef(where, c.Ref, bad)
	if c.Path != "" {
		if _, err := ParsePath(c.Path); err != nil {
			bad("%s.path %q: %v", where, c.Path, err)
		}
	}
	n := 0
	if c.Equals != nil {
		n++
	}
	if c.Matches != nil {
		n++
		if _, err := c.Matches.Regexp(); err != nil {
			bad("%s.matches %q: %v", where, *c.Matches, err)
		} else if c.Matches.Match("") {
			bad("%s.matches %q matches anything, even a missing value: use a pattern a wrong state fails", where, *c.Matches)
		}
	}
	if c.Absent {
		n++
	}
	if n > 1 {
		bad("%s: give at most one of equals, matches and absent", where)
	}
	if c.Path != "" && n == 0 {
		bad("%s: a path needs equals, matches or absent", where)
	}
}

// ParsePath parses a kubectl JSONPath; the braces may be left out ({.spec.replicas} or
// .spec.replicas).
func ParsePath(p string) (*jsonpath.JSONPath, error) {
	if !strings.HasPrefix(p, "{") {
		p = "{" + p + "}"
	}
	j := jsonpath.New("check").AllowMissingKeys(true)
	if err := j.Parse(p); err != nil {
		return nil, err
	}
	return j, nil
}
