package contract

// The scheduler server's answers besides explain_pending's Explanation (analysis.go) and its
// writes' Change (common.go). Quantities are strings as Kubernetes writes them ("32", "500m",
// "256Gi"); workloads, pods and PodGroups in a queue are namespace/name.

// QueueStatus is the scheduler server's queue_status answer: the Kueue and Volcano queues, or one
// queue in detail with what waits in it.
type QueueStatus struct {
	// Kueue is set when Kueue's queues were asked about (no kind, clusterqueue or localqueue).
	Kueue *KueueQueues `json:"kueue,omitempty"`
	// Volcano is set when Volcano's queues were asked about (no kind, or volcano).
	Volcano *VolcanoQueues `json:"volcano,omitempty"`
}

// KueueQueues are Kueue's queues (kueue.x-k8s.io). In a detail answer (a name was given),
// ClusterQueues holds the one ClusterQueue (with its Active condition), LocalQueues the one
// LocalQueue asked about if any, and Pending what waits in it.
type KueueQueues struct {
	// Installed is false when the cluster serves no kueue.x-k8s.io CRDs; nothing else is set then.
	Installed bool `json:"installed"`
	// Version is the API version read, such as v1beta2.
	Version string `json:"version,omitempty"`
	// ClusterQueuesHidden says why ClusterQueues are not listed (a server confined to namespaces
	// does not show cluster-scoped queues).
	ClusterQueuesHidden string         `json:"clusterQueuesHidden,omitempty"`
	ClusterQueues       []ClusterQueue `json:"clusterQueues,omitempty"`
	LocalQueues         []LocalQueue   `json:"localQueues,omitempty"`
	// Pending are the ClusterQueue's pending workloads in the order Kueue would admit them
	// (priority, then age); of a LocalQueue's, only those in it (detail answers only).
	Pending []PendingWorkload `json:"pending,omitempty"`
	// Truncated counts the ClusterQueues, LocalQueues and pending workloads left out.
	Truncated int `json:"truncated,omitempty"`
}

// ClusterQueue is one Kueue ClusterQueue: its admission counts and its quota and use per flavor
// and resource.
type ClusterQueue struct {
	Name   string `json:"name"`
	Cohort string `json:"cohort,omitempty"`
	// StopPolicy is set when the queue is stopped (Hold, HoldAndDrain): it admits nothing.
	StopPolicy string `json:"stopPolicy,omitempty"`
	// Active is its Active condition, as "Active=False (Reason): message" (detail answers).
	Active   string `json:"active,omitempty"`
	Pending  int64  `json:"pending"`
	Admitted int64  `json:"admitted"`
	// Quotas are per flavor and covered resource, in the order of its resourceGroups.
	Quotas []FlavorQuota `json:"quotas"`
}

// FlavorQuota is a ClusterQueue's quota and use of one resource in one ResourceFlavor.
type FlavorQuota struct {
	Flavor   string `json:"flavor"`
	Resource string `json:"resource"`
	Nominal  string `json:"nominal"`
	// BorrowingLimit and LendingLimit are empty when the queue sets none.
	BorrowingLimit string `json:"borrowingLimit,omitempty"`
	LendingLimit   string `json:"lendingLimit,omitempty"`
	// Used is the quota its admitted workloads hold, Borrowed the part of it over Nominal.
	Used     string `json:"used"`
	Borrowed string `json:"borrowed"`
}

// LocalQueue is one Kueue LocalQueue and the ClusterQueue it feeds.
type LocalQueue struct {
	// Queue is namespace/name.
	Queue        string `json:"queue"`
	ClusterQueue string `json:"clusterQueue"`
	Pending      int64  `json:"pending"`
	Admitted     int64  `json:"admitted"`
}

// PendingWorkload is a Kueue Workload waiting for admission.
type PendingWorkload struct {
	// Position is its place in the ClusterQueue's admission order, from 1.
	Position int `json:"position"`
	// Workload is namespace/name.
	Workload   string `json:"workload"`
	LocalQueue string `json:"localQueue"`
	Priority   int64  `json:"priority"`
	// Requests are what it asks for, by resource name.
	Requests map[string]string `json:"requests,omitempty"`
	// Message is Kueue's word: its QuotaReserved condition's message.
	Message string `json:"message,omitempty"`
}

// VolcanoQueues are Volcano's queues (scheduling.volcano.sh). In a detail answer Queues holds
// the one queue and PodGroups its PodGroups.
type VolcanoQueues struct {
	// Installed is false when the cluster serves no scheduling.volcano.sh CRDs.
	Installed bool `json:"installed"`
	// Version is the API version read, such as v1beta1.
	Version   string         `json:"version,omitempty"`
	Queues    []VolcanoQueue `json:"queues,omitempty"`
	PodGroups []PodGroup     `json:"podGroups,omitempty"`
	// Truncated counts the queues and PodGroups left out.
	Truncated int `json:"truncated,omitempty"`
}

// VolcanoQueue is one Volcano Queue.
type VolcanoQueue struct {
	Name string `json:"name"`
	// State is Open, Closed, Closing or Unknown (empty when the status has none).
	State  string `json:"state,omitempty"`
	Weight int64  `json:"weight"`
	// Capability is its spec.capability, by resource name.
	Capability map[string]string `json:"capability,omitempty"`
	// Pending, Inqueue and Running count its PodGroups in each phase.
	Pending int64 `json:"pending"`
	Inqueue int64 `json:"inqueue"`
	Running int64 `json:"running"`
}

// PodGroup is one Volcano PodGroup (a gang) in a queue.
type PodGroup struct {
	// PodGroup is namespace/name.
	PodGroup string `json:"podGroup"`
	Phase    string `json:"phase,omitempty"`
	// MinMember is how many of its pods must be placed together.
	MinMember int64 `json:"minMember"`
	Running   int64 `json:"running"`
	// Condition is its last condition, as "Type=Status (Reason): message".
	Condition string `json:"condition,omitempty"`
}

// GPUFragmentationReport is the scheduler server's gpu_fragmentation answer: free devices per
// node, and how many jobs of each size fit now versus if the free devices were consolidated.
type GPUFragmentationReport struct {
	// Resource is the device resource counted: nvidia.com/gpu or a MIG profile.
	Resource string `json:"resource"`
	// Free and Allocatable sum the schedulable (not cordoned) nodes.
	Free             int64 `json:"free"`
	Allocatable      int64 `json:"allocatable"`
	SchedulableNodes int   `json:"schedulableNodes"`
	// Sizes are the job sizes asked about, smallest first.
	Sizes []JobSizeFit `json:"sizes,omitempty"`
	// Blocked is the largest size that fragmentation blocks (fewer fit now than if consolidated);
	// 0 when none.
	Blocked int `json:"blocked,omitempty"`
	// Clear are, for the Blocked size, the nodes closest to holding such a job (fewest devices to
	// move first), at most 3.
	Clear []NodeToClear `json:"clear,omitempty"`
	// Nodes are the nodes that advertise the resource, most free first; cordoned ones included.
	Nodes []FragmentationNode `json:"nodes"`
	// Truncated counts the nodes left out.
	Truncated int      `json:"truncated,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// JobSizeFit is how many jobs of one size, each on one node, fit.
type JobSizeFit struct {
	// Size is the devices per job.
	Size           int   `json:"size"`
	Now            int64 `json:"now"`
	IfConsolidated int64 `json:"ifConsolidated"`
}

// NodeToClear is a node that could hold a job of the blocked size once small pods leave it.
type NodeToClear struct {
	Node        string `json:"node"`
	Free        int64  `json:"free"`
	Allocatable int64  `json:"allocatable"`
	// Move is how many devices of small pods would have to leave.
	Move int64 `json:"move"`
	// Pods are the pods that hold devices there, fewest devices first.
	Pods []GPUPod `json:"pods"`
}

// FragmentationNode is one node's devices of the resource.
type FragmentationNode struct {
	Node        string `json:"node"`
	Allocatable int64  `json:"allocatable"`
	Used        int64  `json:"used"`
	Free        int64  `json:"free"`
	// Cordoned nodes are shown but not counted.
	Cordoned bool `json:"cordoned,omitempty"`
	// Pods are the pods that hold devices of the resource there.
	Pods []GPUPod `json:"pods,omitempty"`
}

// PreemptionCandidates is the scheduler server's preemption_candidates answer: for a pending
// pod, the lower-priority pods whose eviction would make it fit, per node.
type PreemptionCandidates struct {
	// Target is what was asked about, such as "Pod ml/train-0" or "Job ml/train".
	Target string `json:"target"`
	// Pod is the pod evaluated, namespace/name (a Job's pending pod, or one from its template).
	Pod      string `json:"pod"`
	Priority int32  `json:"priority"`
	// Requests are what the pod asks for, by resource name.
	Requests map[string]string `json:"requests,omitempty"`
	// Verdict is the answer in one sentence: not pending, fits without eviction, no eviction
	// makes it fit (and why), or how many nodes can make room.
	Verdict string `json:"verdict"`
	// Node is the node the pod runs on when it is not pending, or the node it fits now without
	// evicting anything.
	Node string `json:"node,omitempty"`
	// Candidates are the nodes where evictions make it fit, fewest evictions first.
	Candidates []PreemptionCandidate `json:"candidates,omitempty"`
	// Truncated counts the candidates left out.
	Truncated int      `json:"truncated,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// PreemptionCandidate is one node and the pods to evict from it.
type PreemptionCandidate struct {
	Node string `json:"node"`
	// Victims are the pods to evict, by namespace/name.
	Victims         []Victim `json:"victims"`
	HighestPriority int32    `json:"highestPriority"`
	// Frees is what the evictions free of each resource the pod requests.
	Frees map[string]string `json:"frees,omitempty"`
}

// Victim is a pod that would be evicted.
type Victim struct {
	// Pod is namespace/name.
	Pod      string `json:"pod"`
	Priority int32  `json:"priority"`
}
