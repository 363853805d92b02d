package contract

// Cause categories name what is wrong behind a symptom: the object and field at fault, where the
// symptom categories above name what the subject shows. A Diagnosis carries both (the symptom as
// its category, the cause as its Cause); docs/diagnosis.md lists them with their meaning.
const (
	// RBACDenied: the API server refuses the workload's service account a verb on a resource;
	// the Role, ClusterRole or binding at fault is the object.
	RBACDenied Category = "RBACDenied"
	// NetworkPolicyBlocked: a NetworkPolicy selecting the pod denies the traffic it needs.
	NetworkPolicyBlocked Category = "NetworkPolicyBlocked"
	// DNSFailure: names do not resolve (the resolver is unreachable or answers nothing) and no
	// NetworkPolicy explains it.
	DNSFailure Category = "DNSFailure"
	// DependencyUnreachable: a service the workload calls refuses or does not answer; the
	// dependency (its Service or workload) is the object, with its own state.
	DependencyUnreachable Category = "DependencyUnreachable"
	// VolumeFull: a volume the container writes to has no space left; the claim is the object.
	VolumeFull Category = "VolumeFull"
	// AccessModeUnsupported: a claim asks for an access mode its StorageClass's provisioner
	// cannot give (ReadWriteMany from a block or node-local provisioner).
	AccessModeUnsupported Category = "AccessModeUnsupported"
	// DisruptionBudgetBlocks: a PodDisruptionBudget allows no disruption, so evictions (a drain)
	// are refused.
	DisruptionBudgetBlocks Category = "DisruptionBudgetBlocks"
	// TaintNotTolerated: a node's taint keeps pods (a DaemonSet's, a pending pod) off it.
	TaintNotTolerated Category = "TaintNotTolerated"
	// ResourceNotAdvertised: a pod requests a resource name (an extended resource, a MIG
	// profile, a shared or renamed GPU resource) that no node advertises.
	ResourceNotAdvertised Category = "ResourceNotAdvertised"
	// CUDADriverMismatch: the image's CUDA runtime needs a newer driver than the node has.
	CUDADriverMismatch Category = "CUDADriverMismatch"
	// ImageArchitecture: the image is built for another CPU architecture than the node's.
	ImageArchitecture Category = "ImageArchitecture"
	// ImageReference: the image name or tag does not exist in its registry.
	ImageReference Category = "ImageReference"
	// RegistryAuth: the registry refuses to serve the image without (valid) pull credentials.
	RegistryAuth Category = "RegistryAuth"
	// ApplicationConfig: the application refuses its configuration (an environment variable,
	// a flag, a ConfigMap key, a file it needs); the field or key is the object.
	ApplicationConfig Category = "ApplicationConfig"
	// CredentialsRejected: a dependency refuses the workload's credentials.
	CredentialsRejected Category = "CredentialsRejected"
	// ReferenceMissing: an object references another that does not exist (a Service, a
	// ConfigMap or Secret key, a claim), or a port the referenced object does not expose.
	ReferenceMissing Category = "ReferenceMissing"
	// ProbeMisconfigured: a probe checks a path or port that does not answer, or gives a check
	// less time than it takes; the kubelet kills a container that otherwise works.
	ProbeMisconfigured Category = "ProbeMisconfigured"
	// MemoryLimit: the container needs more memory than its limit.
	MemoryLimit Category = "MemoryLimit"
	// GPUApplicationFault: a GPU error caused by one application's process (XID 13, 31, 43),
	// not by the hardware; the application is the object, and the GPU needs no reset.
	GPUApplicationFault Category = "GPUApplicationFault"
	// GPUHardwareFault: the GPU itself failed (XID 48, 79, 94, ...): the workloads on it are
	// victims.
	GPUHardwareFault Category = "GPUHardwareFault"
	// ApplicationError: the application fails on its own (an unhandled exception, a bug) with
	// nothing in the cluster to blame.
	ApplicationError Category = "ApplicationError"
)

// CauseCategories are the cause categories, in the order docs/diagnosis.md lists them.
var CauseCategories = []Category{
	RBACDenied, NetworkPolicyBlocked, DNSFailure, DependencyUnreachable, VolumeFull,
	AccessModeUnsupported, DisruptionBudgetBlocks, TaintNotTolerated, ResourceNotAdvertised,
	CUDADriverMismatch, ImageArchitecture, ImageReference, RegistryAuth, ApplicationConfig,
	CredentialsRejected, ReferenceMissing, ProbeMisconfigured, MemoryLimit, GPUApplicationFault,
	GPUHardwareFault, ApplicationError,
}

// Cause is what is wrong behind a symptom: the object at fault and its field, in a cause
// category, with the evidence quoted verbatim.
type Cause struct {
	// Category is a cause category (CauseCategories).
	Category Category `json:"category"`
	// Object at fault as kind/namespace/name (kind/name when cluster-scoped): the Role, the
	// NetworkPolicy, the claim, the node with the taint, the dependency's Service.
	Object string `json:"object"`
	// Field of Object that is wrong, when one is: "rules", "spec.accessModes",
	// "spec.taints[inference-only]", "spec.containers[app].env[LOG_LEVEL]".
	Field string `json:"field,omitempty"`
	// Summary says the cause in one line, naming the object and what is wrong with it.
	Summary string `json:"summary"`
	// Evidence quotes what the cause rests on, verbatim: the log or termination line, the
	// event, the field's value.
	Evidence []string `json:"evidence,omitempty"`
	// Fix is what would remove the cause.
	Fix *Fix `json:"fix,omitempty"`
}

// CheckReport is the answer of a follow-up check tool (access_check, network_check,
// volume_check, disruption_check, placement_check, reference_check): what it examined, the causes
// it established, and the facts it read on the way. A check that establishes nothing says so in
// Checked and returns no Causes.
type CheckReport struct {
	// Checked says what was examined: "ServiceAccount ml/runner: 2 RoleBindings, 1
	// ClusterRoleBinding".
	Checked string `json:"checked"`
	// Causes found, most decisive first.
	Causes []Cause `json:"causes,omitempty"`
	// Facts are what else was read that a person would want to see.
	Facts []string `json:"facts,omitempty"`
}

// PodsListenOn marks, in the summary of a cause on a Service's spec.ports, a port the Service
// does not expose while the pods it selects listen on it: the Service lacks the port, and the
// callers' setting that names it is right.
const PodsListenOn = "its pods listen on port"

// LikeNamedService marks, in the summary of a cause on a Service that does not exist, the
// Services of a like name that do: the caller's setting that names it is what is wrong.
const LikeNamedService = "a Service of a like name exists"
