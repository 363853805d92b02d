package contract

// The cluster server's read answers. Each carries, typed, what its text shows; a list bounded in
// the text (by the server's output cap or a limit argument) is bounded the same way here, and
// counts what it left out in Truncated. analyze answers with Analysis (analysis.go) and every
// write tool with Change (common.go).

// NamespaceList is namespaces_list's answer: the namespaces the server may see.
type NamespaceList struct {
	Namespaces []Namespace `json:"namespaces"`
	// Truncated counts namespaces left out to stay within the output cap.
	Truncated int `json:"truncated,omitempty"`
}

// Namespace is one namespace with its phase and age.
type Namespace struct {
	Name string `json:"name"`
	// Phase is Active or Terminating.
	Phase string `json:"phase,omitempty"`
	// Age is how long ago it was created, as kubectl prints it (45s, 12m, 3h, 5d).
	Age string `json:"age,omitempty"`
	// Error says why a namespace the server is confined to could not be read.
	Error string `json:"error,omitempty"`
}

// APIResourceList is api_resources's answer: the kinds the cluster serves that can be listed.
type APIResourceList struct {
	Resources []APIResource `json:"resources"`
	// Truncated counts kinds left out to stay within the output cap.
	Truncated int `json:"truncated,omitempty"`
}

// APIResource is one kind the cluster serves.
type APIResource struct {
	// Name is the plural resource name: pods, deployments, clusterqueues.
	Name       string   `json:"name"`
	ShortNames []string `json:"shortNames,omitempty"`
	// APIVersion is group/version, or the version for the core group: v1, apps/v1.
	APIVersion string `json:"apiVersion"`
	Namespaced bool   `json:"namespaced"`
	Kind       string `json:"kind"`
}

// ResourceList is resources_list's answer: one page of the objects of a kind.
type ResourceList struct {
	// Resource is the plural resource name listed: pods, deployments, clusterqueues.
	Resource string `json:"resource"`
	// Namespace is the namespace listed; empty for every namespace or a cluster-scoped kind.
	Namespace string `json:"namespace,omitempty"`
	// Columns are the table's column names (NAME, READY, STATUS, ...), the order of every
	// item's Cells; empty with output yaml.
	Columns []string       `json:"columns,omitempty"`
	Items   []ResourceItem `json:"items"`
	// Total is how many objects matched, when the server knows it (kinds served from its watch
	// cache); 0 when unknown.
	Total int `json:"total,omitempty"`
	// Continue is the token for the next page (argument "continue"); empty on the last page.
	Continue string `json:"continue,omitempty"`
	// Truncated counts the items of this page left out to stay within the output cap.
	Truncated int `json:"truncated,omitempty"`
	// YAML is, with output yaml, the page's objects as YAML (managedFields removed, Secret
	// values redacted), cut as the text is at the output cap; Items then name them.
	YAML string `json:"yaml,omitempty"`
}

// ResourceItem is one listed object.
type ResourceItem struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Status is the STATUS column, when the table has one (a pod's CrashLoopBackOff, a node's
	// Ready,SchedulingDisabled).
	Status string `json:"status,omitempty"`
	// Age is the AGE column, when the table has one.
	Age string `json:"age,omitempty"`
	// Cells are the table's cells, in the order of ResourceList.Columns.
	Cells []string `json:"cells,omitempty"`
}

// ObjectYAML is resource_get's answer: one object as YAML, managedFields removed and Secret
// values redacted, cut as the text is at the output cap.
type ObjectYAML struct {
	// Object is kind/namespace/name (kind/name when cluster-scoped).
	Object string `json:"object"`
	YAML   string `json:"yaml"`
}

// Description is describe's answer: one object described as kubectl describe does, compactly.
type Description struct {
	// Object is kind/namespace/name (kind/name when cluster-scoped).
	Object string `json:"object"`
	// Text is the description: state, conditions, its pods, its recent events (Secret values
	// never shown), cut as the text is at the output cap.
	Text string `json:"text"`
}

// EventList is events_list's answer: events collapsed by object and reason, newest first.
type EventList struct {
	Events []Event `json:"events"`
	// Matched is how many events matched the filter, before collapsing.
	Matched int `json:"matched"`
	// Truncated counts the collapsed lines left out by the limit or the output cap.
	Truncated int `json:"truncated,omitempty"`
}

// Event is one line of events collapsed by object and reason: the newest event's type and
// message, and the count summed over the group.
type Event struct {
	// LastSeen is how long ago the newest event happened (45s, 12m, 3h, 5d).
	LastSeen string `json:"lastSeen"`
	// LastTimestamp is when, in RFC 3339.
	LastTimestamp string `json:"lastTimestamp,omitempty"`
	// Type is Normal or Warning.
	Type   string `json:"type"`
	Reason string `json:"reason"`
	// Object is what the event is about, kind/namespace/name.
	Object  string `json:"object"`
	Count   int    `json:"count"`
	Message string `json:"message"`
}

// PodLogs is pod_logs's answer: the newest lines of one container's log.
type PodLogs struct {
	// Pod is namespace/name.
	Pod       string `json:"pod"`
	Container string `json:"container"`
	// Previous is true for the log of the container's previous (crashed) instance.
	Previous bool `json:"previous,omitempty"`
	// Grep is the regular expression lines were filtered with, if any.
	Grep      string `json:"grep,omitempty"`
	TailLines int64  `json:"tailLines"`
	// Lines are the log's lines, oldest first, without their line ends; empty when the log is
	// empty or no line matches.
	Lines []string `json:"lines"`
	// TruncatedBytes counts the earlier bytes left out to stay within maxBytes.
	TruncatedBytes int `json:"truncatedBytes,omitempty"`
}

// NodeStatusList is nodes_status's answer: every node's status (or the one named, with its
// details).
type NodeStatusList struct {
	Nodes []NodeStatus `json:"nodes"`
	// Truncated counts nodes left out to stay within the output cap.
	Truncated int `json:"truncated,omitempty"`
	// Detail is, when one node was named, its conditions, pods and events.
	Detail *NodeDetail `json:"detail,omitempty"`
}

// NodeStatus is one node's line of nodes_status.
type NodeStatus struct {
	Name string `json:"name"`
	// Status is Ready, NotReady or Unknown, with ",SchedulingDisabled" when cordoned.
	Status   string `json:"status"`
	Ready    bool   `json:"ready"`
	Cordoned bool   `json:"cordoned,omitempty"`
	// Problems are its pressure and network conditions that are true (MemoryPressure, ...).
	Problems []string `json:"problems,omitempty"`
	// Taints are key:effect.
	Taints []string `json:"taints,omitempty"`
	// Resources are what its running pods request of cpu, memory and nvidia.com/gpu against
	// what it can give (only those it has or that are asked of it).
	Resources []ResourceUsage `json:"resources,omitempty"`
	// Pods is how many running pods are bound to it; PodsAllocatable how many it takes.
	Pods            int    `json:"pods"`
	PodsAllocatable string `json:"podsAllocatable,omitempty"`
}

// ResourceUsage is how much of one resource the pods on a node request against its allocatable.
type ResourceUsage struct {
	// Resource is cpu, memory, nvidia.com/gpu, ...
	Resource string `json:"resource"`
	// Requested and Allocatable are quantities: cpu in cores or millicores, memory in binary
	// units ("1500m", "2.5Gi").
	Requested   string `json:"requested"`
	Allocatable string `json:"allocatable"`
	// Percent is requested of allocatable; absent when nothing is allocatable.
	Percent *int64 `json:"percent,omitempty"`
}

// NodeDetail is one node in detail.
type NodeDetail struct {
	Roles   []string `json:"roles,omitempty"`
	Age     string   `json:"age,omitempty"`
	Kubelet string   `json:"kubelet,omitempty"`
	// Conditions are all its status conditions.
	Conditions []Condition `json:"conditions,omitempty"`
	// Taints are key=value:effect.
	Taints []string `json:"taints,omitempty"`
	// Resources are every resource it has or that its pods ask of it.
	Resources []ResourceUsage `json:"resources,omitempty"`
	// Pods are its running pods with their requests (at most 200).
	Pods []NodePod `json:"pods,omitempty"`
	// PodsTruncated counts pods left out.
	PodsTruncated int `json:"podsTruncated,omitempty"`
	// Events are its recent events collapsed by reason, newest first (at most 50).
	Events []Event `json:"events,omitempty"`
}

// Condition is one status condition.
type Condition struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Since is how long ago it last changed.
	Since   string `json:"since,omitempty"`
	Message string `json:"message,omitempty"`
}

// NodePod is one pod on a node with what it requests.
type NodePod struct {
	// Pod is namespace/name.
	Pod    string `json:"pod"`
	Status string `json:"status"`
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// GPU is its nvidia.com/gpu request; empty when none.
	GPU string `json:"gpu,omitempty"`
}

// WorkloadHealthReport is workload_health's answer: unhealthy workloads first, then healthy ones.
type WorkloadHealthReport struct {
	Workloads []WorkloadHealth `json:"workloads"`
	// Truncated counts workloads left out to stay within the output cap.
	Truncated int `json:"truncated,omitempty"`
}

// WorkloadHealth is one Deployment, StatefulSet, DaemonSet, Job or CronJob's health.
type WorkloadHealth struct {
	// Object is kind/namespace/name.
	Object  string `json:"object"`
	Healthy bool   `json:"healthy"`
	// Summary is its progress in one line: "ready 2/3, updated 3/3, available 2/3".
	Summary string `json:"summary"`
	// Problems say why it is unhealthy, one fact each, then its failing conditions.
	Problems []string `json:"problems,omitempty"`
	// Notes are facts worth knowing even when healthy (paused, suspended).
	Notes []string `json:"notes,omitempty"`
}
