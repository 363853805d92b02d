package contract

// The GPU node agent's answers (gpu_list, gpu_metrics, gpu_processes, xid_events, gpu_reset;
// gpu_health's is GPUHealthReport in analysis.go) and the cluster GPU view's (gpu_inventory,
// gpu_allocation, gpu_idle; gpu_node_health's is NodeHealthReport). Every node-agent answer names
// its node and says Simulated when its GPUs are go-nvml's mock, not hardware.

// GPUList is the node agent's gpu_list answer: the node's GPUs with the driver and CUDA versions.
type GPUList struct {
	Node string `json:"node,omitempty"`
	// DriverVersion is the NVIDIA driver's ("550.54.15"); empty when NVML cannot say.
	DriverVersion string `json:"driverVersion,omitempty"`
	// CUDAVersion is the highest CUDA version the driver supports ("12.4"); empty when NVML
	// cannot say.
	CUDAVersion string `json:"cudaVersion,omitempty"`
	GPUs        []GPU  `json:"gpus"`
	Simulated   bool   `json:"simulated,omitempty"`
}

// GPU is one GPU of a node: what it is, its framebuffer, and its MIG devices. A reading the GPU
// does not give is absent, with the reason in Error.
type GPU struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid,omitempty"`
	// Name is the product name ("NVIDIA H100 80GB HBM3").
	Name           string  `json:"name,omitempty"`
	MemoryTotalMiB *uint64 `json:"memoryTotalMiB,omitempty"`
	MemoryUsedMiB  *uint64 `json:"memoryUsedMiB,omitempty"`
	// MIGEnabled is true when the GPU is in MIG mode; MIGDevices are then its MIG devices.
	MIGEnabled bool        `json:"migEnabled,omitempty"`
	MIGDevices []MIGDevice `json:"migDevices,omitempty"`
	// Lost is true when the GPU fell off the bus: it answers nothing (see gpu_health).
	Lost  bool   `json:"lost,omitempty"`
	Error string `json:"error,omitempty"`
}

// MIGDevice is one MIG device of a GPU.
type MIGDevice struct {
	UUID string `json:"uuid"`
	// Name is the MIG profile's device name ("NVIDIA H100 80GB HBM3 MIG 1g.10gb").
	Name      string `json:"name"`
	MemoryMiB uint64 `json:"memoryMiB"`
}

// GPUMetrics is the node agent's gpu_metrics answer: every selected GPU's readings.
type GPUMetrics struct {
	Node      string       `json:"node,omitempty"`
	GPUs      []GPUReading `json:"gpus"`
	Simulated bool         `json:"simulated,omitempty"`
}

// GPUReading is one GPU's metrics. A reading the GPU does not give is absent; Error says why when
// the GPU gives none (unreadable utilization, a lost GPU).
type GPUReading struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid,omitempty"`
	// UtilizationGPU and UtilizationMemory are percent of time busy over the last sample period.
	UtilizationGPU    *uint32 `json:"utilizationGPU,omitempty"`
	UtilizationMemory *uint32 `json:"utilizationMemory,omitempty"`
	TemperatureC      *uint32 `json:"temperatureC,omitempty"`
	PowerDrawW        *uint32 `json:"powerDrawW,omitempty"`
	PowerLimitW       *uint32 `json:"powerLimitW,omitempty"`
	SMClockMHz        *uint32 `json:"smClockMHz,omitempty"`
	MemoryClockMHz    *uint32 `json:"memoryClockMHz,omitempty"`
	// ClockEvents are NVML's clock-event (throttle) reasons, comma-separated
	// ("SwThermalSlowdown,HwPowerBrakeSlowdown"), "none" when clocks are not held down.
	ClockEvents string `json:"clockEvents,omitempty"`
	// Lost is true when the GPU fell off the bus.
	Lost  bool   `json:"lost,omitempty"`
	Error string `json:"error,omitempty"`
}

// GPUProcesses is the node agent's gpu_processes answer: every selected GPU's compute processes.
type GPUProcesses struct {
	Node      string           `json:"node,omitempty"`
	GPUs      []GPUProcessList `json:"gpus"`
	Simulated bool             `json:"simulated,omitempty"`
}

// GPUProcessList is one GPU's compute processes; Error says why they could not be listed.
type GPUProcessList struct {
	Index     int          `json:"index"`
	Processes []GPUProcess `json:"processes"`
	Error     string       `json:"error,omitempty"`
}

// GPUProcess is one compute process on a GPU.
type GPUProcess struct {
	PID     uint32 `json:"pid"`
	UsedMiB uint64 `json:"usedMiB"`
	// Pod is namespace/name, or "uid <pod UID>" when only the cgroup names it; empty when the
	// process belongs to no known pod.
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
}

// XIDEvents is the node agent's xid_events answer: the XID events its GPUs reported since it
// started, newest first.
type XIDEvents struct {
	Node string `json:"node,omitempty"`
	// Since is when the agent started watching (RFC 3339).
	Since  string     `json:"since"`
	Events []XIDEvent `json:"events"`
	// Truncated counts older events left out by the limit.
	Truncated int `json:"truncated,omitempty"`
	// Dropped counts events the agent no longer keeps (it keeps the last 1000).
	Dropped int `json:"dropped,omitempty"`
	// WatchError says why XID events are not being watched, when they are not.
	WatchError string `json:"watchError,omitempty"`
	// Publishing says where the events are published ("NATS: not configured", "published to
	// NATS: 12, pending 0, dropped 0").
	Publishing string `json:"publishing,omitempty"`
	Simulated  bool   `json:"simulated,omitempty"`
}

// XIDEvent is one XID a GPU reported, with NVIDIA's XID catalog's word on it.
type XIDEvent struct {
	// Time is when the driver reported it (RFC 3339).
	Time string `json:"time"`
	// Index is the GPU's index; -1 when the driver did not say which GPU.
	Index int    `json:"index"`
	UUID  string `json:"uuid,omitempty"`
	Code  int    `json:"code"`
	// Name, Verdict (healthy, degraded, failed), Action and Reason come from the XID catalog.
	Name    string `json:"name"`
	Verdict string `json:"verdict"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
}

// GPUReset is the node agent's gpu_reset answer: the GPU reset or, with dryRun, the reset that
// would be done. A reset that is refused (processes on the GPU) is an error, not a GPUReset.
type GPUReset struct {
	Node  string `json:"node,omitempty"`
	Index int    `json:"index"`
	UUID  string `json:"uuid,omitempty"`
	// DryRun is true when nothing was changed.
	DryRun bool `json:"dryRun"`
	// Summary says what was (or would be) done: "reset GPU 2".
	Summary string `json:"summary"`
	// Notes are what else the caller should know: the GPU's state before the reset, what a
	// simulated reset does.
	Notes     []string `json:"notes,omitempty"`
	Simulated bool     `json:"simulated,omitempty"`
}

// GPUInventory is the cluster GPU view's gpu_inventory answer: the GPU nodes with their GPU
// resources, and totals per resource.
type GPUInventory struct {
	Nodes []GPUNodeInventory `json:"nodes"`
	// Totals are per resource name, sorted by name.
	Totals []GPUResourceCount `json:"totals"`
	// RequestedIn, when set, are the only namespaces whose pods Requested counts
	// (--allow-namespaces).
	RequestedIn []string `json:"requestedIn,omitempty"`
}

// GPUNodeInventory is one GPU node: GPU Feature Discovery's labels and its GPU resources.
type GPUNodeInventory struct {
	Node string `json:"node"`
	// Product, MemoryMiB, Count and MIGStrategy are GPU Feature Discovery's nvidia.com/gpu.product,
	// gpu.memory, gpu.count and mig.strategy labels (absent without them).
	Product     string `json:"product,omitempty"`
	MemoryMiB   int64  `json:"memoryMiB,omitempty"`
	Count       int64  `json:"count,omitempty"`
	MIGStrategy string `json:"migStrategy,omitempty"`
	// Resources are its nvidia.com/gpu, gpu.shared and mig-* resources, sorted by name.
	Resources []GPUResourceCount `json:"resources"`
}

// GPUResourceCount is how much of one GPU resource there is, is requested by pods that are not
// terminated, and is free (allocatable less requested, at least 0).
type GPUResourceCount struct {
	// Resource is nvidia.com/gpu, nvidia.com/gpu.shared or nvidia.com/mig-<profile>.
	Resource    string `json:"resource"`
	Capacity    int64  `json:"capacity"`
	Allocatable int64  `json:"allocatable"`
	Requested   int64  `json:"requested"`
	Free        int64  `json:"free"`
}

// GPUAllocation is the cluster GPU view's gpu_allocation answer: the pods that hold GPU
// resources on a node, by namespace then name.
type GPUAllocation struct {
	// Node and Namespace are the filters asked for, if any.
	Node      string            `json:"node,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Pods      []GPUAllocatedPod `json:"pods"`
	// Totals are what the pods hold, by resource name.
	Totals map[string]int64 `json:"totals"`
	// Unscheduled counts pods that request GPUs and are not scheduled yet (without a node filter).
	Unscheduled int `json:"unscheduled,omitempty"`
	// Truncated counts pods left out to stay within the answer's size.
	Truncated int `json:"truncated,omitempty"`
}

// GPUAllocatedPod is a pod holding GPU resources, with its phase and since when it holds them.
type GPUAllocatedPod struct {
	GPUPod
	// Phase is the pod's phase (Running, Pending).
	Phase string `json:"phase"`
	// HeldSince is when the pod was scheduled onto its node (RFC 3339).
	HeldSince string `json:"heldSince"`
}

// IdleGPUs is the cluster GPU view's gpu_idle answer: pods holding nvidia.com/gpu whose GPUs are
// idle, and how long.
type IdleGPUs struct {
	// IdleBelowPercent is the utilization under which a GPU counts as idle.
	IdleBelowPercent int `json:"idleBelowPercent"`
	// MinIdleMinutes is how long a pod must be idle to be listed in Idle.
	MinIdleMinutes int `json:"minIdleMinutes"`
	// Idle are the pods idle at least MinIdleMinutes; Recent those seen idle for less.
	Idle   []IdlePod `json:"idle"`
	Recent []IdlePod `json:"recent,omitempty"`
	// Busy counts the pods that use their GPUs (or whose GPUs' utilization is unknown).
	Busy int `json:"busy"`
	// Unknown are pods whose GPUs are not known, each with why.
	Unknown []string `json:"unknown,omitempty"`
	// NoData are the nodes without utilization data, each with why.
	NoData []string `json:"noData,omitempty"`
	// Unreadable are Prometheus series that could not be read.
	Unreadable []string `json:"unreadable,omitempty"`
	// Source is where utilization and idle time come from: Prometheus or the GPU node agents.
	Source string `json:"source,omitempty"`
	// Simulated is true when a node agent that answered serves simulated GPUs.
	Simulated bool `json:"simulated,omitempty"`
}

// IdlePod is a pod whose GPUs are all idle.
type IdlePod struct {
	// Pod is namespace/name.
	Pod  string `json:"pod"`
	Node string `json:"node"`
	// GPUs are the indexes of its GPUs, and UtilizationPercent each one's utilization in the same
	// order.
	GPUs               []int    `json:"gpus"`
	UtilizationPercent []uint32 `json:"utilizationPercent"`
	// AllGPUsOfNode is true when no process maps the pod to GPUs and it is the node's only GPU
	// pod, so all the node's GPUs are counted as its.
	AllGPUsOfNode bool `json:"allGPUsOfNode,omitempty"`
	// IdleSince is when its GPUs were first seen idle (RFC 3339), IdleMinutes how long ago.
	IdleSince   string `json:"idleSince"`
	IdleMinutes int    `json:"idleMinutes"`
	// AtLeast is true when the pod may have been idle longer: idle through Prometheus's whole
	// lookback, or counted from the node agents' first idle observation.
	AtLeast bool `json:"atLeast,omitempty"`
}

// GPUHealthDetail is the evidence gpu_health read from one GPU beside its verdict: its memory
// error counters, row remapping, NVLink links down, and whether it fell off the bus. A reading
// the GPU does not give is absent.
type GPUHealthDetail struct {
	// Lost is true when the GPU fell off the bus: every NVML call fails, so nothing else is read.
	Lost bool `json:"lost,omitempty"`
	// ECC are the memory error counters.
	ECC *ECCCounts `json:"ecc,omitempty"`
	// RemappedRows are the row-remapping counters.
	RemappedRows *RemappedRows `json:"remappedRows,omitempty"`
	// NVLinks counts the GPU's NVLink links; NVLinkDown are the indexes of those down, ascending.
	NVLinks    int   `json:"nvlinks,omitempty"`
	NVLinkDown []int `json:"nvlinkDown,omitempty"`
}

// ECCCounts are a GPU's memory error counters: volatile since the driver last loaded, aggregate
// over the GPU's life.
type ECCCounts struct {
	VolatileCorrected    uint64 `json:"volatileCorrected"`
	VolatileUncorrected  uint64 `json:"volatileUncorrected"`
	AggregateCorrected   uint64 `json:"aggregateCorrected"`
	AggregateUncorrected uint64 `json:"aggregateUncorrected"`
}

// RemappedRows are a GPU's row-remapping counters (GPUs from Ampere on remap faulty memory rows
// instead of retiring pages).
type RemappedRows struct {
	Correctable   int `json:"correctable"`
	Uncorrectable int `json:"uncorrectable"`
	// Pending is true when a remapping waits for a GPU reset.
	Pending bool `json:"pending"`
	// Failure is true when a remapping failed (no spare rows left): the GPU needs service.
	Failure bool `json:"failure"`
}
