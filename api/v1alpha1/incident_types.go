package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Severity of an incident, as Alertmanager's severity label names it.
// +kubebuilder:validation:Enum=critical;warning;info
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// IncidentSourceType says how an incident was raised.
// +kubebuilder:validation:Enum=manual;alertmanager;event
type IncidentSourceType string

const (
	// SourceManual is an Incident created by a person (kubectl, the opsmesh CLI, a chat client).
	SourceManual IncidentSourceType = "manual"
	// SourceAlertmanager is an alert received on the Alertmanager webhook.
	SourceAlertmanager IncidentSourceType = "alertmanager"
	// SourceEvent is a Kubernetes Warning event (or a GPU XID event) seen by the event watcher.
	SourceEvent IncidentSourceType = "event"
)

// IncidentPhase is where an incident is in its lifecycle:
// Detected → Investigating → Diagnosed → (AwaitingApproval) → Remediating → Verifying → Resolved,
// or Escalated / Failed.
// +kubebuilder:validation:Enum=Detected;Investigating;Diagnosed;AwaitingApproval;Remediating;Verifying;Resolved;Escalated;Failed
type IncidentPhase string

const (
	PhaseDetected         IncidentPhase = "Detected"
	PhaseInvestigating    IncidentPhase = "Investigating"
	PhaseDiagnosed        IncidentPhase = "Diagnosed"
	PhaseAwaitingApproval IncidentPhase = "AwaitingApproval"
	PhaseRemediating      IncidentPhase = "Remediating"
	PhaseVerifying        IncidentPhase = "Verifying"
	PhaseResolved         IncidentPhase = "Resolved"
	PhaseEscalated        IncidentPhase = "Escalated"
	PhaseFailed           IncidentPhase = "Failed"
)

// Terminal reports whether no further transition is expected from the phase.
func (p IncidentPhase) Terminal() bool {
	return p == PhaseResolved || p == PhaseEscalated || p == PhaseFailed
}

// ActionRisk classifies what a remediation action may disturb.
// +kubebuilder:validation:Enum=safe;disruptive;destructive
type ActionRisk string

const (
	// RiskSafe actions change nothing a workload depends on (cordon a node, add a label).
	RiskSafe ActionRisk = "safe"
	// RiskDisruptive actions interrupt work that comes back by itself (restart, roll back, scale).
	RiskDisruptive ActionRisk = "disruptive"
	// RiskDestructive actions may lose work or data (delete, drain, GPU reset).
	RiskDestructive ActionRisk = "destructive"
)

// ActionState is where one remediation action is.
// +kubebuilder:validation:Enum=Proposed;AwaitingApproval;Approved;Rejected;Running;Succeeded;Failed;Skipped
type ActionState string

const (
	ActionProposed         ActionState = "Proposed"
	ActionAwaitingApproval ActionState = "AwaitingApproval"
	ActionApproved         ActionState = "Approved"
	ActionRejected         ActionState = "Rejected"
	ActionRunning          ActionState = "Running"
	ActionSucceeded        ActionState = "Succeeded"
	ActionFailed           ActionState = "Failed"
	ActionSkipped          ActionState = "Skipped"
)

// ApprovalDecision is a person's answer to an action that waits for approval.
// +kubebuilder:validation:Enum=Approved;Rejected
type ApprovalDecision string

const (
	DecisionApproved ApprovalDecision = "Approved"
	DecisionRejected ApprovalDecision = "Rejected"
)

// Confidence of a root cause.
// +kubebuilder:validation:Enum=high;medium;low
type Confidence string

const (
	ConfidenceHigh   Confidence = "high"
	ConfidenceMedium Confidence = "medium"
	ConfidenceLow    Confidence = "low"
)

// IncidentSpec declares what went wrong and where. Its identity (source, target, fingerprint)
// cannot change once set; raise a new Incident for another problem.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.fingerprint) || (has(self.fingerprint) && self.fingerprint == oldSelf.fingerprint)",message="spec.fingerprint is immutable once set",fieldPath=.fingerprint
// +kubebuilder:validation:XValidation:rule="has(self.target) == has(oldSelf.target) && (!has(self.target) || self.target == oldSelf.target)",message="spec.target is immutable; raise a new Incident for another object",fieldPath=.target
type IncidentSpec struct {
	// Summary says what is wrong in one line, such as "checkout pods are crashlooping".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Summary string `json:"summary"`

	// Severity is critical, warning or info. Default: warning.
	// +kubebuilder:default=warning
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// Source says how the incident was raised.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.source is immutable"
	// +required
	Source IncidentSource `json:"source"`

	// Target is the object the incident is about, when there is one.
	// +optional
	Target *TargetReference `json:"target,omitempty"`

	// Fingerprint identifies the problem for de-duplication: alerts and events with the same
	// fingerprint within the cooldown raise the count of one Incident instead of a new one.
	// Set by the trigger that raised the incident; immutable once set.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._:-]+$`
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`

	// Question is what a person wants to know, in words, for incidents raised by hand
	// ("why is training-job-7 pending?").
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Question string `json:"question,omitempty"`

	// Coordinator names the coordinator Agent that handles the incident. When empty the controller
	// chooses one whose incidentSelector matches the Incident's labels.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	Coordinator string `json:"coordinator,omitempty"`
}

// IncidentSource says how an incident was raised.
type IncidentSource struct {
	// Type is manual, alertmanager or event.
	// +required
	Type IncidentSourceType `json:"type"`

	// Name is the alert's alertname or the event's reason, such as KubePodCrashLooping or
	// BackOff.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Name string `json:"name,omitempty"`

	// Labels of the alert or event that raised the incident.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// TargetReference points at the object an incident is about.
type TargetReference struct {
	// APIVersion of the object, such as apps/v1. Empty means the core group v1.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the object, such as Deployment, Pod, Node or Job.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	// +required
	Kind string `json:"kind"`

	// Namespace of the object; empty for cluster-scoped kinds such as Node.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// Evidence is one observation a finding rests on, citing the object it came from.
type Evidence struct {
	// Object the evidence came from, as kind/namespace/name (or kind/name for cluster-scoped).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Object string `json:"object,omitempty"`

	// Detail is what was seen, such as "last termination: OOMKilled, exit code 137".
	// +kubebuilder:validation:MaxLength=2048
	// +required
	Detail string `json:"detail"`
}

// Finding is one thing an agent found while investigating.
type Finding struct {
	// Agent that reported the finding.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Agent string `json:"agent,omitempty"`

	// Category of the finding, such as CrashLoopBackOff, OOMKilled or GPUXid.
	// +kubebuilder:validation:MaxLength=128
	// +required
	Category string `json:"category"`

	// Summary of the finding in one line.
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Summary string `json:"summary"`

	// Severity of the finding.
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// Evidence the finding rests on.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Evidence []Evidence `json:"evidence,omitempty"`
}

// RootCause is the cause the coordinator named.
type RootCause struct {
	// Category of the cause, such as OOMKilled, ImagePullBackOff, InsufficientGPU or GPUXid79.
	// +kubebuilder:validation:MaxLength=128
	// +required
	Category string `json:"category"`

	// Summary of the cause in one line; shown by kubectl get incidents.
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Summary string `json:"summary"`

	// Confidence in the cause: high, medium or low.
	// +optional
	Confidence Confidence `json:"confidence,omitempty"`

	// Evidence the cause rests on.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Evidence []Evidence `json:"evidence,omitempty"`

	// Cause is what is wrong behind the symptom that Category names: the object and field at
	// fault, in a cause category (RBACDenied, VolumeFull, TaintNotTolerated, ...). Absent when
	// the investigation could not get past the symptom.
	// +optional
	Cause *CauseRef `json:"cause,omitempty"`
}

// CauseRef names the cause behind a symptom.
type CauseRef struct {
	// Category of the cause, such as RBACDenied, NetworkPolicyBlocked or VolumeFull.
	// +kubebuilder:validation:MaxLength=128
	// +required
	Category string `json:"category"`

	// Object at fault as kind/namespace/name (kind/name when cluster-scoped).
	// +kubebuilder:validation:MaxLength=512
	// +required
	Object string `json:"object"`

	// Field of the object that is wrong, when one is (rules, spec.accessModes, spec.taints).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Field string `json:"field,omitempty"`

	// Summary of the cause in one line.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Summary string `json:"summary,omitempty"`
}

// RemediationAction is one proposed step of a remediation plan and its state.
type RemediationAction struct {
	// ID of the action, unique within the incident.
	// +kubebuilder:validation:MaxLength=64
	// +required
	ID string `json:"id"`

	// Description of the action for the person who approves it.
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Description string `json:"description"`

	// Agent that executes the action (a specialist with the tool).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Agent string `json:"agent,omitempty"`

	// ToolServer that serves the tool.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ToolServer string `json:"toolServer,omitempty"`

	// Tool to call; also the action's class for remediation.autoClasses.
	// +kubebuilder:validation:MaxLength=128
	// +required
	Tool string `json:"tool"`

	// Arguments of the tool call.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Arguments *runtime.RawExtension `json:"arguments,omitempty"`

	// Risk of the action: safe, disruptive or destructive.
	// +required
	Risk ActionRisk `json:"risk"`

	// IdempotencyKey makes a retried or redelivered step run once.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	IdempotencyKey string `json:"idempotencyKey,omitempty"`

	// State of the action.
	// +required
	State ActionState `json:"state"`

	// Message says what happened: the tool's answer, or why the action failed or was skipped.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Message string `json:"message,omitempty"`

	// StartedAt is when the action started running.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// CompletedAt is when it finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// Approval records a person's decision on an action.
type Approval struct {
	// ActionID of the action decided on.
	// +kubebuilder:validation:MaxLength=64
	// +required
	ActionID string `json:"actionID"`

	// Decision is Approved or Rejected.
	// +required
	Decision ApprovalDecision `json:"decision"`

	// By is who decided (a user name or service account).
	// +kubebuilder:validation:MaxLength=253
	// +required
	By string `json:"by"`

	// Reason given with the decision.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Reason string `json:"reason,omitempty"`

	// Time of the decision.
	// +required
	Time metav1.Time `json:"time"`
}

// TimelineEntry is one step in an incident's history.
type TimelineEntry struct {
	// Seq is the entry's place in the incident's whole history, from 1. Its audit event on the
	// OPSMESH_INCIDENTS stream carries the Nats-Msg-Id <incident uid>.<seq>.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Seq int64 `json:"seq,omitempty"`

	// Time of the entry.
	// +required
	Time metav1.Time `json:"time"`

	// Phase the incident entered, when the entry is a transition.
	// +optional
	Phase IncidentPhase `json:"phase,omitempty"`

	// Event is a PascalCase word for what happened, such as Delegated or ActionSucceeded.
	// +kubebuilder:validation:MaxLength=64
	// +required
	Event string `json:"event"`

	// Message says what happened in words.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Message string `json:"message,omitempty"`

	// Actor is who or what did it: an agent, the controller, or a person.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Actor string `json:"actor,omitempty"`
}

// IncidentStatus is the incident's progress: phase, findings, root cause, plan, approvals and
// timeline.
type IncidentStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the incident.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase of the incident's lifecycle.
	// +optional
	Phase IncidentPhase `json:"phase,omitempty"`

	// Count of alerts or events de-duplicated into this incident.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Count int64 `json:"count,omitempty"`

	// FirstSeen is when the problem was first seen.
	// +optional
	FirstSeen *metav1.Time `json:"firstSeen,omitempty"`

	// LastSeen is when the problem was last seen.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`

	// Coordinator is the Agent handling the incident.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Coordinator string `json:"coordinator,omitempty"`

	// TaskID is the A2A task the coordinator works the incident in.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	TaskID string `json:"taskID,omitempty"`

	// Findings the agents reported.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Findings []Finding `json:"findings,omitempty"`

	// RootCause the coordinator named.
	// +optional
	RootCause *RootCause `json:"rootCause,omitempty"`

	// Actions of the remediation plan, in order, each with its state.
	// +kubebuilder:validation:MaxItems=20
	// +listType=map
	// +listMapKey=id
	// +optional
	Actions []RemediationAction `json:"actions,omitempty"`

	// Approvals people gave or refused.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Approvals []Approval `json:"approvals,omitempty"`

	// AuditedSeq is the Seq of the last timeline entry published on the OPSMESH_INCIDENTS
	// stream; the controller publishes the later ones (again, after a NATS outage).
	// +kubebuilder:validation:Minimum=0
	// +optional
	AuditedSeq int64 `json:"auditedSeq,omitempty"`

	// Timeline of the incident, oldest first; the full audit trail is on the OPSMESH_INCIDENTS
	// stream.
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	// +optional
	Timeline []TimelineEntry `json:"timeline,omitempty"`
}

// Incident is something wrong in the cluster — raised by an alert, a warning event or a person —
// and its diagnosis and remediation.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=inc,categories=opsmesh
// +kubebuilder:printcolumn:name="Severity",type=string,JSONPath=`.spec.severity`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Root Cause",type=string,JSONPath=`.status.rootCause.summary`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.name`,priority=1
// +kubebuilder:printcolumn:name="Count",type=integer,JSONPath=`.status.count`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Incident struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says what went wrong and where.
	// +required
	Spec IncidentSpec `json:"spec"`

	// Status is the incident's progress.
	// +optional
	Status IncidentStatus `json:"status,omitempty"`
}

// IncidentList is a list of Incidents.
//
// +kubebuilder:object:root=true
type IncidentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Incident `json:"items"`
}
