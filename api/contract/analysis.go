package contract

// Analysis is the cluster server's analyze answer: the problems found in a namespace, an object
// or the cluster, critical first.
type Analysis struct {
	// Where is what was analyzed: "namespace shop", "deployment/shop/web", "the cluster".
	Where string `json:"where"`
	// Checked says what was examined: "12 pods, 3 deployments, ...".
	Checked  string    `json:"checked"`
	Findings []Finding `json:"findings"`
	// Skipped says what could not be analyzed, and why (RBAC, confinement).
	Skipped []string `json:"skipped,omitempty"`
	// Truncated counts findings left out to stay within the output cap.
	Truncated int `json:"truncated,omitempty"`
	// GPUPods are, when one object was analyzed, its pods that hold GPUs on a node (at most 50):
	// where a GPU fault that no finding shows would hit it.
	GPUPods []GPUPod `json:"gpuPods,omitempty"`
}

// Finding is one problem an analyzer found.
type Finding struct {
	// Severity is critical or warning.
	Severity string `json:"severity"`
	// Category is in the taxonomy (taxonomy.go).
	Category Category `json:"category"`
	// Object is kind/namespace/name (kind/name when cluster-scoped).
	Object string `json:"object"`
	// Owner is the controlling workload, if any, as kind/namespace/name.
	Owner     string `json:"owner,omitempty"`
	Container string `json:"container,omitempty"`
	// More are the other pods of the owner with the same finding.
	More []string `json:"more,omitempty"`
	// Evidence quotes what the finding rests on: the termination reason and exit code, the
	// event, the status field.
	Evidence []string `json:"evidence"`
	// Fix is the suggested write tool call, or, without a tool, what a person should do.
	Fix Fix `json:"fix"`
	// Cause is what the analyzer established behind the finding, when it followed the symptom
	// to the object at fault (the taint a DaemonSet does not tolerate, the budget that refuses
	// a node's evictions, an Ingress's missing backend).
	Cause *Cause `json:"cause,omitempty"`
}

// Explanation is the scheduler server's explain_pending answer: why a pod, Job or queued
// workload does not run, and how to make it.
type Explanation struct {
	// Target is what was explained, such as "Pod ml/train-0".
	Target  string `json:"target"`
	Verdict string `json:"verdict"`
	// Category is the verdict's root-cause category: InsufficientGPU, GPUFragmentation,
	// InsufficientResources, SchedulingConstraint, NodeCordoned, PVCPending,
	// QueueQuotaExhausted, QueueClosed, GangUnsatisfiable, Suspended, Unschedulable, or
	// NoProblemFound when it is not pending.
	Category Category `json:"category"`
	// Fixes are alternatives, best first.
	Fixes []Fix `json:"fixes"`
	// Evidence are the facts the verdict rests on: what the object requests, the scheduler's
	// word, the nearest node and what it lacks.
	Evidence []string `json:"evidence"`
	Notes    []string `json:"notes,omitempty"`
	// Cause is the object and field at fault behind the verdict, when the explanation found
	// one: the resource name no node advertises (ResourceNotAdvertised), the taint no
	// toleration matches (TaintNotTolerated), the claim whose access mode its class cannot give.
	Cause *Cause `json:"cause,omitempty"`
}

// GPUHealthReport is the node agent's gpu_health answer: every selected GPU's verdict.
type GPUHealthReport struct {
	// Node is the node the agent runs on, when it knows it.
	Node string      `json:"node,omitempty"`
	GPUs []GPUHealth `json:"gpus"`
	// Simulated is true when the GPUs are go-nvml's mock, not hardware.
	Simulated bool `json:"simulated,omitempty"`
}

// NodeHealthReport is the cluster GPU view's gpu_node_health answer.
type NodeHealthReport struct {
	Nodes []NodeHealth `json:"nodes"`
}

// NodeHealth is one GPU node's verdict with its reasons, the other facts, its GPUs' verdicts from
// the node agent (empty when the agent did not answer; a fact says why), and the pods that hold
// GPUs there.
type NodeHealth struct {
	Node    string      `json:"node"`
	Verdict string      `json:"verdict"`
	Reasons []string    `json:"reasons,omitempty"`
	Facts   []string    `json:"facts,omitempty"`
	GPUs    []GPUHealth `json:"gpus,omitempty"`
	Pods    []GPUPod    `json:"pods,omitempty"`
	// Simulated is true when the node's GPU node agent answered and serves simulated GPUs.
	Simulated bool `json:"simulated,omitempty"`
}
