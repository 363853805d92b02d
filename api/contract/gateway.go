package contract

// The results of the MCP gateway's own tools (package gateway): the platform's Agents and
// Incidents as a chat client sees them. They mirror the fields of the Agent and Incident API
// (api/v1alpha1) and of an agent's diagnosis (agents/diagnosis) that a client needs, in contract
// terms: this package imports neither.

// AgentList is the gateway's list_agents answer, sorted by namespace and name.
type AgentList struct {
	Agents []Agent `json:"agents"`
}

// Agent is one opsmesh Agent.
type Agent struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Role is coordinator or specialist.
	Role string `json:"role"`
	// Ready is the Ready condition's status: True, False or Unknown.
	Ready string `json:"ready"`
	// Reasoning is runbook, or the model as provider/model.
	Reasoning string `json:"reasoning"`
	// Skills are the ids of its A2A skills.
	Skills []string `json:"skills,omitempty"`
	// Delegates are the names of the specialists a coordinator asks (in its namespace).
	Delegates []string `json:"delegates,omitempty"`
}

// Evidence is one fact a cause or a finding rests on.
type Evidence struct {
	// Object is kind/namespace/name (kind/name when cluster-scoped), when the fact is about one.
	Object string `json:"object,omitempty"`
	Detail string `json:"detail"`
}

// RootCause is the root cause an agent named: the symptom's category, the summary, and the
// cause behind the symptom when the agent got that far.
type RootCause struct {
	// Category is in the taxonomy (taxonomy.go): the symptom's category.
	Category Category `json:"category"`
	Summary  string   `json:"summary"`
	// Confidence is high, medium or low.
	Confidence string     `json:"confidence,omitempty"`
	Evidence   []Evidence `json:"evidence,omitempty"`
	// Cause is the object and field at fault, in a cause category (cause.go).
	Cause *CauseRef `json:"cause,omitempty"`
}

// CauseRef names the cause behind a symptom: its cause category, the object at fault and its
// field.
type CauseRef struct {
	Category Category `json:"category"`
	Object   string   `json:"object"`
	Field    string   `json:"field,omitempty"`
	Summary  string   `json:"summary,omitempty"`
}

// AgentFinding is one problem an agent found on the way to its root cause.
type AgentFinding struct {
	// Agent that found it, namespace/name.
	Agent string `json:"agent,omitempty"`
	// Category is in the taxonomy (taxonomy.go).
	Category Category `json:"category"`
	Summary  string   `json:"summary"`
	// Severity is critical, warning or info.
	Severity string     `json:"severity,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
}

// PlannedAction is one step of the remediation plan an agent proposes: a tool call, its risk and
// why. Proposing runs nothing.
type PlannedAction struct {
	Tool       string `json:"tool"`
	ToolServer string `json:"toolServer,omitempty"`
	// Agent is the specialist that would run it.
	Agent string `json:"agent,omitempty"`
	// Arguments of the call, as the tool's input schema takes them.
	Arguments map[string]any `json:"arguments,omitempty"`
	// Risk is safe, disruptive or destructive, decided from the tool.
	Risk   string `json:"risk"`
	Reason string `json:"reason"`
}

// AgentAnswer is the gateway's ask_agent answer: the agent's diagnosis.
type AgentAnswer struct {
	// Agent that was asked, namespace/name.
	Agent string `json:"agent"`
	// TaskID is the A2A task it ran.
	TaskID string `json:"taskId"`
	// Subject is what was investigated: kind/namespace/name, node/name or namespace/name.
	Subject string `json:"subject,omitempty"`
	// RootCause is empty when the agent answered in text only.
	RootCause RootCause       `json:"rootCause"`
	Findings  []AgentFinding  `json:"findings,omitempty"`
	Plan      []PlannedAction `json:"plan,omitempty"`
	// Agents are every agent that took part (a coordinator and the specialists it asked).
	Agents []string `json:"agents,omitempty"`
	// Notes are what else the agents said: who did not answer, what they could not check.
	Notes []string `json:"notes,omitempty"`
}

// IncidentList is the gateway's list_incidents answer, newest first.
type IncidentList struct {
	Incidents []IncidentSummary `json:"incidents"`
	// Truncated counts the incidents left out beyond the limit.
	Truncated int `json:"truncated,omitempty"`
}

// IncidentSummary is one Incident as a list shows it.
type IncidentSummary struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Severity is critical, warning or info.
	Severity string `json:"severity"`
	// Phase is the Incident's phase (Pending before the controller has seen it).
	Phase string `json:"phase"`
	// RootCause is the root cause's category, once named.
	RootCause Category `json:"rootCause,omitempty"`
	// Target is the object it is about, kind/namespace/name (kind/name when cluster-scoped).
	Target string `json:"target,omitempty"`
	// Count is how many times it was reported.
	Count int `json:"count"`
	// Created is when it was created, RFC 3339.
	Created string `json:"created"`
}

// Incident is the gateway's get_incident answer: one Incident in full.
type Incident struct {
	IncidentSummary
	Summary string `json:"summary"`
	// Source is what reported it (manual, alertmanager, ...), and its name there.
	Source     string `json:"source"`
	SourceName string `json:"sourceName,omitempty"`
	Question   string `json:"question,omitempty"`
	// Coordinator is the Agent that handles it, namespace/name or name.
	Coordinator string `json:"coordinator,omitempty"`
	// Cause is the root cause, once named.
	Cause     *RootCause       `json:"cause,omitempty"`
	Findings  []AgentFinding   `json:"findings,omitempty"`
	Actions   []IncidentAction `json:"actions"`
	Approvals []Decision       `json:"approvals,omitempty"`
	// Timeline are the last entries, oldest first; TimelineTruncated counts the earlier ones
	// left out.
	Timeline          []TimelineEntry `json:"timeline,omitempty"`
	TimelineTruncated int             `json:"timelineTruncated,omitempty"`
}

// IncidentAction is one remediation action of an Incident.
type IncidentAction struct {
	// ID names it for approve_action.
	ID          string `json:"id"`
	Description string `json:"description"`
	Tool        string `json:"tool"`
	ToolServer  string `json:"toolServer,omitempty"`
	Agent       string `json:"agent,omitempty"`
	// Arguments of the call, as the tool's input schema takes them.
	Arguments map[string]any `json:"arguments,omitempty"`
	// Risk is safe, disruptive or destructive.
	Risk string `json:"risk"`
	// State is Proposed, AwaitingApproval, Approved, Rejected, Running, Succeeded, Failed or
	// Skipped.
	State string `json:"state"`
	// Message says what happened when it ran, or why it did not.
	Message string `json:"message,omitempty"`
}

// Decision is an approval or a rejection of one action.
type Decision struct {
	// Action is the action's id.
	Action string `json:"action"`
	// Decision is Approved or Rejected.
	Decision string `json:"decision"`
	By       string `json:"by"`
	Reason   string `json:"reason,omitempty"`
	// Time is when it was decided, RFC 3339.
	Time string `json:"time"`
	// Tool and Risk (safe, disruptive or destructive) are the action's, in approve_action's
	// answer.
	Tool string `json:"tool,omitempty"`
	Risk string `json:"risk,omitempty"`
}

// TimelineEntry is one event in an Incident's life.
type TimelineEntry struct {
	// Time is RFC 3339.
	Time  string `json:"time"`
	Event string `json:"event"`
	// Phase is the phase it moved to, if it moved.
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message,omitempty"`
	Actor   string `json:"actor,omitempty"`
}

// Approval is the gateway's approve_action answer: the decisions recorded. The controller then
// runs the approved actions and skips the rejected ones.
type Approval struct {
	// Incident is namespace/name.
	Incident  string     `json:"incident"`
	Decisions []Decision `json:"decisions"`
}
