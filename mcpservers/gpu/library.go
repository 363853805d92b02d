package gpu

import (
	"context"
	"errors"
	"time"
)

// Library is the part of NVML the node agent uses. The cgo build implements it on go-nvml
// (FromNVML, OpenDriver); the simulate package implements it on go-nvml's mock servers.
type Library interface {
	// DriverVersion is the NVIDIA driver version ("550.54.15").
	DriverVersion() (string, error)
	// CUDAVersion is the highest CUDA version the driver supports ("12.4").
	CUDAVersion() (string, error)
	// Count is the number of GPUs.
	Count() (int, error)
	// Device returns the GPU at index.
	Device(index int) (Device, error)
	// WatchXIDs starts watching XID events: fn is called for each until ctx ends (events already
	// known are delivered before it returns), and fail if watching stops on an error. It returns an
	// error when watching cannot start.
	WatchXIDs(ctx context.Context, fn func(XIDEvent), fail func(error)) error
	// Reset resets the GPU at index.
	Reset(ctx context.Context, index int) error
	// Simulated says whether the GPUs are simulated.
	Simulated() bool
}

// XIDWithdrawer is a Library whose XID events can be taken back: the simulated node's, when its
// fault file no longer lists an injected XID (the fault was cleared). The node agent calls
// WatchWithdrawnXIDs once, before WatchXIDs; fn is then called with each withdrawn event, and the
// agent forgets it (xid_events, gpu_health), as if the GPU had never reported it. Real drivers do
// not withdraw events; package gpu's NVML does not implement it.
type XIDWithdrawer interface {
	WatchWithdrawnXIDs(fn func(XIDEvent))
}

// Device is one GPU. Every method returns ErrNotSupported when the GPU or driver cannot say, and
// ErrGPULost when the GPU has fallen off the bus.
type Device interface {
	UUID() (string, error)
	Name() (string, error)
	// Memory is the framebuffer total and used, in bytes.
	Memory() (total, used uint64, err error)
	// MIG says whether MIG mode is on, and lists the MIG devices.
	MIG() (enabled bool, devices []MIGDevice, err error)
	// Utilization in percent of time busy over the last sample period.
	Utilization() (gpu, memory uint32, err error)
	// Temperature of the GPU die in °C.
	Temperature() (uint32, error)
	// Power draw and enforced limit in milliwatts.
	Power() (drawMW, limitMW uint32, err error)
	// Clocks are the current SM and memory clocks in MHz.
	Clocks() (smMHz, memMHz uint32, err error)
	// ClockEventReasons is NVML's bit mask of why clocks are held down.
	ClockEventReasons() (uint64, error)
	// ECC are the memory error counters.
	ECC() (ECC, error)
	// RemappedRows are the row-remapping counters (Ampere and later).
	RemappedRows() (RemappedRows, error)
	// RetiredPages are the retired pages (before Ampere).
	RetiredPages() (RetiredPages, error)
	// NVLinks are the NVLink links with their state and error counters.
	NVLinks() ([]NVLink, error)
	// Processes are the compute processes on the GPU.
	Processes() ([]Process, error)
	// RecoveryAction is the action the driver asks for ("none", "GPU reset", ...).
	RecoveryAction() (string, error)
}

var (
	// ErrNotSupported is returned for what the GPU or driver does not report.
	ErrNotSupported = errors.New("not supported by this GPU or driver")
	// ErrGPULost is returned by every call to a GPU that has fallen off the bus.
	ErrGPULost = errors.New("the GPU is lost (fell off the bus)")
	// ErrNoDriver says NVML could not be loaded.
	ErrNoDriver = errors.New("no NVIDIA driver found on this node (libnvidia-ml.so.1 did not load): run with --simulate=dgxh100 to use simulated GPUs")
)

// MIGDevice is one MIG device of a GPU.
type MIGDevice struct {
	UUID        string
	Name        string
	MemoryTotal uint64
}

// ECC holds the memory error counters: volatile since the last driver load, aggregate for the
// GPU's life.
type ECC struct {
	VolatileCorrected, VolatileUncorrected   uint64
	AggregateCorrected, AggregateUncorrected uint64
}

// RemappedRows are the row-remapping counters.
type RemappedRows struct {
	Correctable, Uncorrectable int
	// Pending: a remapping waits for a GPU reset.
	Pending bool
	// Failure: a remapping failed; the GPU needs service.
	Failure bool
}

// RetiredPages counts retired framebuffer pages by cause.
type RetiredPages struct {
	SingleBit, DoubleBit int
	// Pending: a retirement waits for a GPU reset or reboot.
	Pending bool
}

// NVLink is one link.
type NVLink struct {
	Link int
	Up   bool
	// Replay, Recovery and CRC are the data-link error counters.
	Replay, Recovery, CRC uint64
}

// Process is one compute process on a GPU.
type Process struct {
	PID        uint32
	UsedMemory uint64
	// Pod and Container, when known ("namespace/name" and the container name or ID).
	Pod, Container string
}

// XIDEvent is one XID reported by a GPU.
type XIDEvent struct {
	Index int
	UUID  string
	Code  int
	Time  time.Time
}
