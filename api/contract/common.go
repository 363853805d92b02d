package contract

// Fix is one suggested remedy: in words, and when it is one tool call, the tool and its
// arguments (without dryRun: preview it with dryRun true first). Where a result lists several,
// they are alternatives, best first, not steps.
type Fix struct {
	// Text says what to do, for a person; always set.
	Text string `json:"text"`
	// Tool is the write tool that applies the fix, when one does.
	Tool string `json:"tool,omitempty"`
	// Arguments of that call, as the tool's input schema takes them.
	Arguments map[string]any `json:"arguments,omitempty"`
}

// GPUPod is a pod that holds GPU resources, where it holds them, and what owns it: what a GPU
// fault on that node hits, and what "restart the application" applies to.
type GPUPod struct {
	// Pod is namespace/name.
	Pod string `json:"pod"`
	// Node the pod runs on.
	Node string `json:"node,omitempty"`
	// Owner is the controlling workload as kind/namespace/name (deployment, statefulset,
	// daemonset, job; empty for a bare pod).
	Owner string `json:"owner,omitempty"`
	// Resources is how many it requests, by resource name (nvidia.com/gpu,
	// nvidia.com/mig-1g.10gb).
	Resources map[string]int64 `json:"resources,omitempty"`
	// GPUs are the GPU indexes its processes run on, when the node agent sees them.
	GPUs []int `json:"gpus,omitempty"`
}

// GPUHealth is one GPU's verdict as the node agent's gpu_health gives it (and the cluster view
// relays it).
type GPUHealth struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid"`
	// Verdict is healthy, degraded or failed.
	Verdict string `json:"verdict"`
	// Action is what to do about it, from NVIDIA's XID catalog ("none" when healthy).
	Action  string   `json:"action"`
	Reasons []string `json:"reasons,omitempty"`
	// XIDs are the XID codes among the reasons (NVML's lost-GPU state counts as 79).
	XIDs []int `json:"xids,omitempty"`
	// Detail is the evidence the node agent read (GPUHealthDetail in gpu.go); absent when
	// it could not open the GPU.
	Detail *GPUHealthDetail `json:"detail,omitempty"`
}

// Change is what a write tool did or, with dryRun, would do.
type Change struct {
	// Object is kind/namespace/name (kind/name when cluster-scoped).
	Object string `json:"object"`
	// Summary says what changes, tense-neutral: "replicas 3 → 5".
	Summary string `json:"summary,omitempty"`
	// DryRun is true when the API server checked the change and stored nothing.
	DryRun bool `json:"dryRun"`
	// NoChange is true when the object already was as asked and nothing was sent.
	NoChange bool `json:"noChange,omitempty"`
	// Notes are what else the caller should know.
	Notes []string `json:"notes,omitempty"`
	// Diff is a unified diff of the object's YAML before and after (capped; secrets redacted).
	Diff string `json:"diff,omitempty"`
	// Deleted is true when the object was (or, in a dry run, would be) deleted.
	Deleted bool `json:"deleted,omitempty"`
}
