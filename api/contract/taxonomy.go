package contract

import (
	"fmt"
	"regexp"
	"slices"
)

// Category is a root-cause category of the taxonomy below (docs/diagnosis.md lists them with
// their meaning).
type Category = string

// The taxonomy. Cluster categories are the cluster server's analyzer categories; scheduler
// categories name why a pod does not schedule; GPU categories come from the GPU server's
// verdicts. GPUXid<N> (for example GPUXid79) names an XID of NVIDIA's catalog.
const (
	CrashLoopBackOff           Category = "CrashLoopBackOff"
	ImagePullBackOff           Category = "ImagePullBackOff"
	OOMKilled                  Category = "OOMKilled"
	CreateContainerConfigError Category = "CreateContainerConfigError"
	ProbeFailing               Category = "ProbeFailing"
	RolloutStuck               Category = "RolloutStuck"
	ReplicasUnavailable        Category = "ReplicasUnavailable"
	ServiceNoEndpoints         Category = "ServiceNoEndpoints"
	JobFailed                  Category = "JobFailed"
	HPAUnableToScale           Category = "HPAUnableToScale"
	QuotaExceeded              Category = "QuotaExceeded"
	QuotaFull                  Category = "QuotaFull"
	PVCPending                 Category = "PVCPending"
	NodeNotReady               Category = "NodeNotReady"
	NodePressure               Category = "NodePressure"
	Unschedulable              Category = "Unschedulable"

	InsufficientGPU      Category = "InsufficientGPU"
	InsufficientResource Category = "InsufficientResources"
	SchedulingConstraint Category = "SchedulingConstraint"
	NodeCordoned         Category = "NodeCordoned"
	GPUFragmentation     Category = "GPUFragmentation"
	QueueQuotaExhausted  Category = "QueueQuotaExhausted"
	QueueClosed          Category = "QueueClosed"
	GangUnsatisfiable    Category = "GangUnsatisfiable"
	// Suspended is a Job or workload held with spec.suspend: nothing schedules until it resumes.
	Suspended Category = "Suspended"

	GPUFailed   Category = "GPUFailed"
	GPUDegraded Category = "GPUDegraded"
	GPUIdle     Category = "GPUIdle"

	// NoProblemFound is the answer when the investigation found nothing wrong.
	NoProblemFound Category = "NoProblemFound"
	// Unknown is the answer when something is wrong but the evidence names no cause.
	Unknown Category = "Unknown"
)

// Categories is the taxonomy, in the order docs/diagnosis.md lists it (GPUXid<N> aside).
var Categories = []Category{
	CrashLoopBackOff, ImagePullBackOff, OOMKilled, CreateContainerConfigError, ProbeFailing,
	RolloutStuck, ReplicasUnavailable, ServiceNoEndpoints, JobFailed, HPAUnableToScale,
	QuotaExceeded, QuotaFull, PVCPending, NodeNotReady, NodePressure, Unschedulable,
	InsufficientGPU, InsufficientResource, SchedulingConstraint, NodeCordoned, GPUFragmentation,
	QueueQuotaExhausted, QueueClosed, GangUnsatisfiable, Suspended,
	GPUFailed, GPUDegraded, GPUIdle,
	NoProblemFound, Unknown,
}

var xidCategory = regexp.MustCompile(`^GPUXid[1-9][0-9]{0,3}$`)

// ValidCategory reports whether c is in the taxonomy.
func ValidCategory(c string) bool {
	return slices.Contains(Categories, c) || xidCategory.MatchString(c)
}

// ValidCauseCategory reports whether c is a cause category.
func ValidCauseCategory(c string) bool { return slices.Contains(CauseCategories, c) }

// XidCategory is the category of an XID: GPUXid79.
func XidCategory(xid int) Category { return fmt.Sprintf("GPUXid%d", xid) }
