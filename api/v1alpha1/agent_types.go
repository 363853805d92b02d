package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentRole says whether an Agent leads an investigation or serves one.
// +kubebuilder:validation:Enum=coordinator;specialist
type AgentRole string

const (
	// RoleCoordinator receives incidents, delegates to specialists over A2A, and names the root
	// cause and the remediation plan.
	RoleCoordinator AgentRole = "coordinator"
	// RoleSpecialist investigates one area (cluster, GPU, scheduler) with its own tools when a
	// coordinator asks.
	RoleSpecialist AgentRole = "specialist"
)

// ModelProvider names an LLM API family.
// +kubebuilder:validation:Enum=openai;anthropic;google
type ModelProvider string

const (
	// ProviderOpenAI is any OpenAI-compatible chat completions endpoint: OpenAI, vLLM, Ollama's
	// /v1, LiteLLM.
	ProviderOpenAI ModelProvider = "openai"
	// ProviderAnthropic is Anthropic's Messages API.
	ProviderAnthropic ModelProvider = "anthropic"
	// ProviderGoogle is Google's Gemini API.
	ProviderGoogle ModelProvider = "google"
)

// RemediationMode says what the controller may do with the actions an Agent proposes.
// +kubebuilder:validation:Enum=Suggest;ApprovalRequired;Auto
type RemediationMode string

const (
	// RemediationSuggest records proposed actions and never executes them.
	RemediationSuggest RemediationMode = "Suggest"
	// RemediationApprovalRequired executes each action only after a person approves it.
	RemediationApprovalRequired RemediationMode = "ApprovalRequired"
	// RemediationAuto executes safe actions at once; disruptive and destructive actions still wait
	// for approval unless their class is listed in autoClasses.
	RemediationAuto RemediationMode = "Auto"
)

// ReasoningRunbook is what status.reasoning says of an Agent without a model: it reasons with the
// built-in runbook engine.
const ReasoningRunbook = "runbook"

// AgentSpec declares an agent.
//
// +kubebuilder:validation:XValidation:rule="self.role != 'coordinator' || (has(self.delegates) && size(self.delegates) > 0)",message="a coordinator Agent must name at least one delegate in spec.delegates: the specialists it hands work to",fieldPath=.delegates
type AgentSpec struct {
	// Role is coordinator (leads incidents, delegates) or specialist (investigates one area).
	// +required
	Role AgentRole `json:"role"`

	// Description says what the agent does, in a sentence or two. It is published in the agent's
	// A2A card, where other agents and people read it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Description string `json:"description"`

	// Instructions guide the agent's reasoning: the system prompt for a model, hints for the
	// runbook engine.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Instructions string `json:"instructions,omitempty"`

	// Model is the LLM the agent reasons with. When absent the agent uses opsmesh's built-in
	// runbook engine, which needs no model.
	// +optional
	Model *ModelSpec `json:"model,omitempty"`

	// Tools are the ToolServers the agent may use, each with the tools allowed and those that need
	// approval.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=toolServer
	// +optional
	Tools []AgentTools `json:"tools,omitempty"`

	// Delegates are other Agents, in the same namespace, that this agent may send tasks to over
	// A2A.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	Delegates []LocalObjectReference `json:"delegates,omitempty"`

	// Skills are the A2A skills the agent advertises in its card.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=id
	// +optional
	Skills []AgentSkill `json:"skills,omitempty"`

	// IncidentSelector chooses the Incidents a coordinator handles, by the Incident's labels. An
	// empty selector matches every Incident in the namespace. Only coordinators take incidents.
	// +optional
	IncidentSelector *metav1.LabelSelector `json:"incidentSelector,omitempty"`

	// Remediation is the policy for the actions this agent proposes.
	// +kubebuilder:default={mode: ApprovalRequired}
	// +optional
	Remediation *RemediationPolicy `json:"remediation,omitempty"`

	// Limits bound one task of the agent.
	// +kubebuilder:default={maxSteps: 20}
	// +optional
	Limits *AgentLimits `json:"limits,omitempty"`

	// Replicas is how many runtime instances serve the agent; they share its A2A subject through
	// a NATS queue group.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	// +kubebuilder:default=1
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
}

// ModelSpec names the LLM an agent reasons with.
//
// +kubebuilder:validation:XValidation:rule="self.provider == 'openai' || has(self.apiKeySecretRef)",message="model.apiKeySecretRef is required for provider anthropic and google: name the Secret key that holds the API key",fieldPath=.apiKeySecretRef
type ModelSpec struct {
	// Provider is the API family: openai (any OpenAI-compatible endpoint), anthropic or google.
	// +required
	Provider ModelProvider `json:"provider"`

	// Model is the provider's model name, such as gpt-4o or claude-sonnet-4-5.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +required
	Model string `json:"model"`

	// BaseURL overrides the provider's endpoint, for vLLM, Ollama, LiteLLM or a proxy.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="model.baseURL must be an absolute http or https URL, such as http://vllm.models:8000/v1"
	// +optional
	BaseURL string `json:"baseURL,omitempty"`

	// APIKeySecretRef names the Secret key that holds the API key. Optional for openai-compatible
	// endpoints that need none.
	// +optional
	APIKeySecretRef *SecretKeyReference `json:"apiKeySecretRef,omitempty"`
}

// AgentTools grants an agent tools of one ToolServer.
//
// +kubebuilder:validation:XValidation:rule="!has(self.requireApproval) || self.requireApproval.all(t, t in self.allowedTools)",message="every tool in requireApproval must also be listed in allowedTools",fieldPath=.requireApproval
type AgentTools struct {
	// ToolServer is the name of a ToolServer in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	ToolServer string `json:"toolServer"`

	// AllowedTools are the names of the tools the agent may call; no other tool of the server is
	// offered to it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_.-]+$`
	// +listType=set
	// +required
	AllowedTools []string `json:"allowedTools"`

	// RequireApproval are the allowed tools whose calls always wait for a person's approval,
	// whatever the remediation mode.
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MaxLength=128
	// +listType=set
	// +optional
	RequireApproval []string `json:"requireApproval,omitempty"`
}

// AgentSkill is an A2A skill advertised in the agent's card.
type AgentSkill struct {
	// ID of the skill, unique within the agent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$`
	// +required
	ID string `json:"id"`

	// Name of the skill, for people.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +required
	Name string `json:"name"`

	// Description of what the skill does.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Description string `json:"description"`

	// Tags are keywords for discovery.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=set
	// +optional
	Tags []string `json:"tags,omitempty"`

	// Examples are requests the skill answers, in words.
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	// +optional
	Examples []string `json:"examples,omitempty"`
}

// RemediationPolicy says which proposed actions the controller executes on its own.
//
// +kubebuilder:validation:XValidation:rule="!has(self.autoClasses) || size(self.autoClasses) == 0 || self.mode == 'Auto'",message="remediation.autoClasses applies only with remediation.mode Auto",fieldPath=.autoClasses
type RemediationPolicy struct {
	// Mode is Suggest (never execute), ApprovalRequired (execute after approval) or Auto
	// (execute safe actions at once). Default: ApprovalRequired.
	// +kubebuilder:default=ApprovalRequired
	// +required
	Mode RemediationMode `json:"mode"`

	// AutoClasses are action classes (the remediation tool's name, such as workload_restart) that
	// Auto executes without approval even when their risk is disruptive or destructive. Tools
	// listed in a tool grant's requireApproval still wait.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_.-]+$`
	// +listType=set
	// +optional
	AutoClasses []string `json:"autoClasses,omitempty"`

	// MaxActions bounds the actions executed for one incident. Default: 5.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	// +kubebuilder:default=5
	// +optional
	MaxActions *int32 `json:"maxActions,omitempty"`
}

// AgentLimits bound one task of an agent, so that a confused model or a loop of tool calls stops.
type AgentLimits struct {
	// MaxSteps is the most reasoning steps (model turns or runbook steps) in one task.
	// Default: 20.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=20
	// +optional
	MaxSteps *int32 `json:"maxSteps,omitempty"`

	// MaxTokens is the most model tokens (prompt and completion) spent on one task.
	// +kubebuilder:validation:Minimum=1000
	// +kubebuilder:validation:Maximum=10000000
	// +optional
	MaxTokens *int64 `json:"maxTokens,omitempty"`

	// Timeout for one task, between 10s and 24h, such as 5m.
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="limits.timeout must be a duration between 10s and 24h, such as 5m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// AgentStatus is what the controller observed of an Agent.
type AgentStatus struct {
	// ObservedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (served over A2A) and Accepted (every reference resolves); a False
	// condition's message names the ToolServer, tool, delegate or Secret at fault.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Reasoning is the engine the agent reasons with: "runbook", or "<provider>/<model>".
	// +kubebuilder:validation:MaxLength=300
	// +optional
	Reasoning string `json:"reasoning,omitempty"`

	// ToolCount is the number of tools offered to the agent's reasoning engine.
	// +optional
	ToolCount int32 `json:"toolCount,omitempty"`

	// Subject is the NATS subject the agent is served on (opsmesh.a2a.<namespace>.<name>).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Subject string `json:"subject,omitempty"`

	// Runtime names the runtime instance the agent is assigned to.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Runtime string `json:"runtime,omitempty"`
}

// Agent is an AI operations agent: a coordinator that leads incidents or a specialist that
// investigates one area, reasoning with a model or with the built-in runbook engine, and acting
// only through the MCP tools it is granted.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ag,categories=opsmesh
// +kubebuilder:validation:XValidation:rule="!has(self.spec.delegates) || self.spec.delegates.all(d, d.name != self.metadata.name)",message="spec.delegates must not name the Agent itself",fieldPath=.spec.delegates
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.status.reasoning`
// +kubebuilder:printcolumn:name="Tools",type=integer,JSONPath=`.status.toolCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Agent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec declares the agent.
	// +required
	Spec AgentSpec `json:"spec"`

	// Status is what the controller observed.
	// +optional
	Status AgentStatus `json:"status,omitempty"`
}

// AgentList is a list of Agents.
//
// +kubebuilder:object:root=true
type AgentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Agent `json:"items"`
}
