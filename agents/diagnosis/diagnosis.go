// Package diagnosis is the structured result of an agent's investigation: a Diagnosis (root cause
// from a fixed taxonomy, evidence, confidence, findings) and its RemediationPlan (ordered tool
// calls with risk and reason), as both reasoning engines produce it, as A2A artifacts carry it,
// and as the controller writes it into an Incident's status. It reuses the Incident API's types
// (api/v1alpha1) so there is one model. It decides the risk of every action from the tool itself,
// never from what a model says. It must not call tools or talk to the network.
package diagnosis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// Category is a root-cause category of the taxonomy, which lives in the contract package
// (api/contract) so that tool servers, agents, the controller and the evals share it.
type Category = contract.Category

// The taxonomy's categories, as the contract declares them.
const (
	CrashLoopBackOff           = contract.CrashLoopBackOff
	ImagePullBackOff           = contract.ImagePullBackOff
	OOMKilled                  = contract.OOMKilled
	CreateContainerConfigError = contract.CreateContainerConfigError
	ProbeFailing               = contract.ProbeFailing
	RolloutStuck               = contract.RolloutStuck
	ReplicasUnavailable        = contract.ReplicasUnavailable
	ServiceNoEndpoints         = contract.ServiceNoEndpoints
	JobFailed                  = contract.JobFailed
	HPAUnableToScale           = contract.HPAUnableToScale
	QuotaExceeded              = contract.QuotaExceeded
	QuotaFull                  = contract.QuotaFull
	PVCPending                 = contract.PVCPending
	NodeNotReady               = contract.NodeNotReady
	NodePressure               = contract.NodePressure
	Unschedulable              = contract.Unschedulable
	InsufficientGPU            = contract.InsufficientGPU
	InsufficientResource       = contract.InsufficientResource
	SchedulingConstraint       = contract.SchedulingConstraint
	NodeCordoned               = contract.NodeCordoned
	GPUFragmentation           = contract.GPUFragmentation
	QueueQuotaExhausted        = contract.QueueQuotaExhausted
	QueueClosed                = contract.QueueClosed
	GangUnsatisfiable          = contract.GangUnsatisfiable
	Suspended                  = contract.Suspended
	GPUFailed                  = contract.GPUFailed
	GPUDegraded                = contract.GPUDegraded
	GPUIdle                    = contract.GPUIdle
	NoProblemFound             = contract.NoProblemFound
	Unknown                    = contract.Unknown
)

// Categories is the taxonomy, in the order docs/diagnosis.md lists it (GPUXid<N> aside).
var Categories = contract.Categories

// ValidCategory reports whether c is in the taxonomy.
func ValidCategory(c string) bool { return contract.ValidCategory(c) }

// XidCategory is the category of an XID: GPUXid79.
func XidCategory(xid int) Category { return contract.XidCategory(xid) }

// Action is one step of a remediation plan: a tool call, its risk and why.
type Action struct {
	// Tool to call, and the ToolServer that serves it.
	Tool       string `json:"tool"`
	ToolServer string `json:"toolServer,omitempty"`
	// Agent is the specialist that would run it (empty: the agent that proposed it).
	Agent string `json:"agent,omitempty"`
	// Arguments of the call, as the tool's input schema takes them.
	Arguments map[string]any `json:"arguments,omitempty"`
	// Risk is decided by RiskOf from the tool, whatever the proposer said.
	Risk opsv1.ActionRisk `json:"risk"`
	// Reason says why, for the person who approves it.
	Reason string `json:"reason"`
}

// Diagnosis is what an investigation concluded.
type Diagnosis struct {
	// Subject is what was investigated: an object (kind/namespace/name) or a question.
	Subject string `json:"subject"`
	// RootCause: its Category is in the taxonomy.
	RootCause opsv1.RootCause `json:"rootCause"`
	// Findings are every problem seen on the way, by the agent that saw it.
	Findings []opsv1.Finding `json:"findings,omitempty"`
	// Plan is the remediation, in order; empty when nothing should be done automatically.
	Plan []Action `json:"plan,omitempty"`
	// Engine is what reasoned: "runbook", or "<provider>/<model>".
	Engine string `json:"engine"`
	// Nodes are the nodes the subject's pods run on, as far as the investigation saw them (a
	// coordinator asks its GPU specialist about them).
	Nodes []string `json:"nodes,omitempty"`
	// Agents consulted, the answering agent first.
	Agents []string `json:"agents,omitempty"`
	// Notes say what the reader should know about how the answer was reached: a fallback from
	// an unreachable model, a specialist that did not answer, a tool that failed.
	Notes []string `json:"notes,omitempty"`
	// ToolCalls counts the tool calls made; Tokens the model tokens used (0 for the runbook).
	ToolCalls int `json:"toolCalls"`
	Tokens    int `json:"tokens,omitempty"`
}

// Limits of a Diagnosis, so that one fits an A2A artifact and an Incident's status.
const (
	maxEvidence = 16
	maxFindings = 32
	maxActions  = 16
	maxText     = 1024
	maxDetail   = 2048
)

// Validate says what is wrong with d, naming the field; nil when d is complete.
func (d *Diagnosis) Validate() error {
	var errs []error
	rc := d.RootCause
	switch {
	case rc.Category == "":
		errs = append(errs, errors.New("rootCause.category is empty: give one of the taxonomy's categories"))
	case !ValidCategory(rc.Category):
		errs = append(errs, fmt.Errorf("rootCause.category %q is not in the taxonomy: use one of %s, or GPUXid<N>", rc.Category, strings.Join(Categories, ", ")))
	}
	if strings.TrimSpace(rc.Summary) == "" {
		errs = append(errs, errors.New("rootCause.summary is empty: say the cause in one line"))
	} else if len(rc.Summary) > maxText {
		errs = append(errs, fmt.Errorf("rootCause.summary is %d bytes: keep it under %d", len(rc.Summary), maxText))
	}
	switch rc.Confidence {
	case opsv1.ConfidenceHigh, opsv1.ConfidenceMedium, opsv1.ConfidenceLow:
	default:
		errs = append(errs, fmt.Errorf("rootCause.confidence %q must be high, medium or low", rc.Confidence))
	}
	if len(rc.Evidence) > maxEvidence {
		errs = append(errs, fmt.Errorf("rootCause.evidence has %d items: at most %d", len(rc.Evidence), maxEvidence))
	}
	for i, e := range rc.Evidence {
		if strings.TrimSpace(e.Detail) == "" {
			errs = append(errs, fmt.Errorf("rootCause.evidence[%d].detail is empty: say what was seen", i))
		} else if len(e.Detail) > maxDetail {
			errs = append(errs, fmt.Errorf("rootCause.evidence[%d].detail is %d bytes: at most %d", i, len(e.Detail), maxDetail))
		}
	}
	if c := rc.Cause; c != nil {
		switch {
		case !contract.ValidCauseCategory(c.Category) && !ValidCategory(c.Category):
			errs = append(errs, fmt.Errorf("rootCause.cause.category %q is not a cause category: use one of %s", c.Category, strings.Join(contract.CauseCategories, ", ")))
		case strings.TrimSpace(c.Object) == "":
			errs = append(errs, errors.New("rootCause.cause.object is empty: name the object at fault as kind/namespace/name"))
		}
		if len(c.Object) > 512 || len(c.Field) > 256 || len(c.Summary) > maxText {
			errs = append(errs, errors.New("rootCause.cause is too long: object at most 512 bytes, field 256, summary 1024"))
		}
	}
	if rc.Category != NoProblemFound && rc.Category != Unknown && len(rc.Evidence) == 0 {
		errs = append(errs, fmt.Errorf("rootCause.evidence is empty: a %s cause must cite what it rests on", rc.Category))
	}
	if len(d.Findings) > maxFindings {
		errs = append(errs, fmt.Errorf("findings has %d items: at most %d", len(d.Findings), maxFindings))
	}
	if len(d.Plan) > maxActions {
		errs = append(errs, fmt.Errorf("plan has %d actions: at most %d", len(d.Plan), maxActions))
	}
	for i, a := range d.Plan {
		if a.Tool == "" {
			errs = append(errs, fmt.Errorf("plan[%d].tool is empty: name the tool to call", i))
		}
		if strings.TrimSpace(a.Reason) == "" {
			errs = append(errs, fmt.Errorf("plan[%d].reason is empty: say why %s", i, a.Tool))
		}
	}
	return errors.Join(errs...)
}

// Parse decodes a Diagnosis from JSON strictly (unknown fields are errors), fills each action's
// risk from RiskOf — a tool opsmesh does not know counts as destructive, since its annotations are
// not at hand here (a caller that has them may refine it) — and validates it. The error says what to fix, so a model can be re-asked.
func Parse(data []byte) (*Diagnosis, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Diagnosis
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("the diagnosis is not valid JSON of the expected shape: %w", err)
	}
	if dec.More() {
		return nil, errors.New("the diagnosis has data after its JSON object: answer with one object")
	}
	for i := range d.Plan {
		d.Plan[i].Risk = RiskOf(d.Plan[i].Tool, true)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// toolRisk is the risk of each write tool of opsmesh's own servers. A tool of another server is
// destructive when its MCP annotations say so, and disruptive otherwise.
var toolRisk = map[string]opsv1.ActionRisk{
	// cluster
	"node_cordon":            opsv1.RiskSafe,
	"node_uncordon":          opsv1.RiskSafe,
	"workload_restart":       opsv1.RiskDisruptive,
	"workload_rollback":      opsv1.RiskDisruptive,
	"workload_scale":         opsv1.RiskDisruptive,
	"workload_set_image":     opsv1.RiskDisruptive,
	"workload_set_resources": opsv1.RiskDisruptive,
	"resource_patch":         opsv1.RiskDisruptive,
	"resource_apply":         opsv1.RiskDisruptive,
	"pod_delete":             opsv1.RiskDestructive,
	"node_drain":             opsv1.RiskDestructive,
	// gpu
	"gpu_reset": opsv1.RiskDestructive,
	// scheduler
	"job_resume":             opsv1.RiskSafe,
	"job_suspend":            opsv1.RiskDisruptive,
	"workload_set_queue":     opsv1.RiskDisruptive,
	"workload_set_priority":  opsv1.RiskDisruptive,
	"clusterqueue_set_quota": opsv1.RiskDisruptive,
}

// RiskOf is the risk of calling tool; destructive is the tool's MCP destructive annotation, for
// tools opsmesh does not know.
func RiskOf(tool string, destructive bool) opsv1.ActionRisk {
	if r, ok := toolRisk[tool]; ok {
		return r
	}
	if destructive {
		return opsv1.RiskDestructive
	}
	return opsv1.RiskDisruptive
}

// Text renders d for a person: the cause, its evidence, the plan, and the notes.
func (d *Diagnosis) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (confidence %s)\n", d.RootCause.Category, d.RootCause.Summary, d.RootCause.Confidence)
	if d.Subject != "" {
		fmt.Fprintf(&b, "subject: %s\n", d.Subject)
	}
	if c := d.RootCause.Cause; c != nil {
		where := c.Object
		if c.Field != "" {
			where += " " + c.Field
		}
		fmt.Fprintf(&b, "cause: %s at %s: %s\n", c.Category, where, c.Summary)
	}
	for _, e := range d.RootCause.Evidence {
		if e.Object != "" {
			fmt.Fprintf(&b, "  evidence: %s: %s\n", e.Object, e.Detail)
		} else {
			fmt.Fprintf(&b, "  evidence: %s\n", e.Detail)
		}
	}
	if len(d.Plan) == 0 {
		b.WriteString("plan: nothing to run automatically\n")
	}
	for i, a := range d.Plan {
		args, _ := json.Marshal(a.Arguments)
		fmt.Fprintf(&b, "plan %d: %s %s [%s] — %s\n", i+1, a.Tool, args, a.Risk, a.Reason)
	}
	for _, f := range d.Findings {
		who := ""
		if f.Agent != "" {
			who = " (" + f.Agent + ")"
		}
		fmt.Fprintf(&b, "finding%s: %s: %s\n", who, f.Category, f.Summary)
	}
	for _, n := range d.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "engine: %s; agents: %s; tool calls: %d", d.Engine, strings.Join(d.Agents, ", "), d.ToolCalls)
	if d.Tokens > 0 {
		fmt.Fprintf(&b, "; tokens: %d", d.Tokens)
	}
	b.WriteString("\n")
	return b.String()
}
