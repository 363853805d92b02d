//go:build cgo

package simulate

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
)

// Models are the simulated nodes New accepts.
var Models = []string{"dgxa100", "dgxh100", "dgxh200"}

// profile holds the values go-nvml's mocks do not report, per model.
type profile struct {
	id                    uint16
	powerLimitMW, idleMW  uint32
	busyMW                uint32
	smMHz, memMHz, idleSM uint32
	nvlinks               int
	idleTempC, busyTempC  uint32
}

var profiles = map[string]profile{
	"dgxa100": {id: 0xa100, powerLimitMW: 400000, idleMW: 55000, busyMW: 310000, smMHz: 1410, memMHz: 1215, idleSM: 210, nvlinks: 12, idleTempC: 31, busyTempC: 64},
	"dgxh100": {id: 0x0100, powerLimitMW: 700000, idleMW: 72000, busyMW: 540000, smMHz: 1980, memMHz: 2619, idleSM: 345, nvlinks: 18, idleTempC: 33, busyTempC: 68},
	"dgxh200": {id: 0x0200, powerLimitMW: 700000, idleMW: 76000, busyMW: 560000, smMHz: 1980, memMHz: 3201, idleSM: 345, nvlinks: 18, idleTempC: 34, busyTempC: 69},
}

// Node is a simulated GPU node: a gpu.Library on one of go-nvml's mock DGX servers, with faults
// from a fault file. It is safe for concurrent use.
type Node struct {
	*gpu.NVML
	model string

	mu     sync.Mutex
	faults map[int]GPUFaults // by GPU index, in effect: the fault file's less what resets cleared
	file   map[int]GPUFaults // by GPU index, as the last fault file (New's or Load's) says
	reset  map[int]GPUFaults // by GPU index: the file's faults of a GPU when gpu_reset cleared them
	seen   map[xidKey]bool   // XID events already reported to the watcher
	watch  func(gpu.XIDEvent)
	forget func(gpu.XIDEvent) // told of reported XID events a later fault file no longer lists
}

// xidKey identifies one injected XID event, so a fault file loaded again reports only new ones.
type xidKey struct {
	index, code int
	time        time.Time
}

// keyOf is the key of XID x of GPU idx; the time in UTC, so that a time written with an offset
// is the same key in every load of the file.
func keyOf(idx int, x XID) xidKey { return xidKey{idx, x.Code, x.Time.UTC()} }

// New builds a simulated node of model (dgxa100, dgxh100 or dgxh200) with faults (nil for none).
func New(model string, faults *Faults) (*Node, error) {
	var srv *server.Server
	switch model {
	case "dgxa100":
		srv = dgxa100.New()
	case "dgxh100":
		srv = dgxh100.New()
	case "dgxh200":
		srv = dgxh200.New()
	default:
		return nil, fmt.Errorf("--simulate=%q is not a simulated node; use one of %s", model, strings.Join(Models, ", "))
	}
	n := &Node{NVML: gpu.FromNVML(srv), model: model, faults: map[int]GPUFaults{}, file: map[int]GPUFaults{}, reset: map[int]GPUFaults{}, seen: map[xidKey]bool{}}
	if faults != nil {
		for _, g := range faults.GPUs {
			if g.Index >= len(srv.Devices) {
				return nil, fmt.Errorf("fault file: GPU %d does not exist; %s has GPUs 0..%d", g.Index, model, len(srv.Devices)-1)
			}
			n.faults[g.Index], n.file[g.Index] = g, g
		}
	}
	p := profiles[model]
	for i, d := range srv.Devices {
		n.fill(d.(*server.Device), i, p)
	}
	return n, nil
}

// Simulated is true.
func (n *Node) Simulated() bool { return true }

// Model is the simulated model name.
func (n *Node) Model() string { return n.model }

// WatchXIDs reports the fault file's XID events, oldest first, before it returns, and later
// the new XID events of every fault file given to Load, as a driver would report new XIDs.
func (n *Node) WatchXIDs(_ context.Context, fn func(gpu.XIDEvent), _ func(error)) error {
	n.mu.Lock()
	n.watch = fn
	events := n.unseenLocked()
	n.mu.Unlock()
	for _, e := range events {
		fn(e)
	}
	return nil
}

// WatchWithdrawnXIDs (gpu.XIDWithdrawer) registers fn to be told of every reported XID event
// that a fault file given to Load no longer lists, so that the agent forgets it.
func (n *Node) WatchWithdrawnXIDs(fn func(gpu.XIDEvent)) {
	n.mu.Lock()
	n.forget = fn
	n.mu.Unlock()
}

// Load replaces the injected faults with f while the node runs (the agent re-reading its fault
// file): XID events in f that were not reported before are reported to the watcher, oldest
// first, and returned (before WatchXIDs, they are left for it to report). A GPU that f does not
// list has no faults any more. Reported XID events that f no longer lists are withdrawn
// (WatchWithdrawnXIDs) and forgotten here too, so the same event written into a later file is
// reported, and published, again. A GPU reset since keeps clear of the faults it cleared while f
// still lists them unchanged (f may be the same file with another GPU's fault added); a fault that
// f changes, or a GPU that f no longer lists, ends that. Indexes beyond the node's GPUs are
// refused and change nothing.
func (n *Node) Load(f *Faults) ([]gpu.XIDEvent, error) {
	count, err := n.Count()
	if err != nil {
		return nil, err
	}
	faults := map[int]GPUFaults{}
	if f != nil {
		for _, g := range f.GPUs {
			if g.Index < 0 || g.Index >= count {
				return nil, fmt.Errorf("fault file: GPU %d does not exist; %s has GPUs 0..%d", g.Index, n.model, count-1)
			}
			faults[g.Index] = g
		}
	}
	n.mu.Lock()
	n.file, n.faults = faults, map[int]GPUFaults{}
	for idx, g := range faults {
		if r, ok := n.reset[idx]; ok {
			g = afterReset(g, r)
		}
		n.faults[idx] = g
	}
	for idx := range n.reset {
		if _, ok := faults[idx]; !ok {
			delete(n.reset, idx)
		}
	}
	withdrawn := n.withdrawnLocked()
	var events []gpu.XIDEvent
	fn, forget := n.watch, n.forget
	if fn != nil { // else WatchXIDs reports them when it starts
		events = n.unseenLocked()
	}
	n.mu.Unlock()
	if forget != nil {
		for _, e := range withdrawn {
			forget(e)
		}
	}
	if fn != nil {
		for _, e := range events {
			fn(e)
		}
	}
	return events, nil
}

// withdrawnLocked returns the reported XID events that the faults no longer list, oldest first,
// and forgets that they were reported. n.mu is held.
func (n *Node) withdrawnLocked() []gpu.XIDEvent {
	listed := map[xidKey]bool{}
	for idx, f := range n.faults {
		for _, x := range f.XIDs {
			listed[keyOf(idx, x)] = true
		}
	}
	var events []gpu.XIDEvent
	for k := range n.seen {
		if !listed[k] {
			delete(n.seen, k)
			events = append(events, gpu.XIDEvent{Index: k.index, UUID: uuidOf(n.model, k.index), Code: k.code, Time: k.time})
		}
	}
	slices.SortFunc(events, func(a, b gpu.XIDEvent) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return a.Code - b.Code
	})
	return events
}

// unseenLocked returns the XID events of the faults not reported yet, oldest first, and marks
// them reported. n.mu is held.
func (n *Node) unseenLocked() []gpu.XIDEvent {
	var events []gpu.XIDEvent
	for _, idx := range sortedKeys(n.faults) {
		for _, x := range n.faults[idx].XIDs {
			k := keyOf(idx, x)
			if n.seen[k] {
				continue
			}
			n.seen[k] = true
			events = append(events, gpu.XIDEvent{Index: idx, UUID: uuidOf(n.model, idx), Code: x.Code, Time: x.Time})
		}
	}
	slices.SortStableFunc(events, func(a, b gpu.XIDEvent) int { return a.Time.Compare(b.Time) })
	return events
}

// Reset clears the injected faults of the GPU at index, as a reset would (and a GPU that fell
// off the bus comes back); its processes stay. They stay cleared when the fault file is loaded
// again with them unchanged (Load).
func (n *Node) Reset(_ context.Context, index int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := n.faults[index]
	if !ok {
		return nil
	}
	n.faults[index] = GPUFaults{Index: index, Processes: f.Processes}
	if g, ok := n.file[index]; ok {
		n.reset[index] = g
	}
	return nil
}

// afterReset is g, a GPU's faults in the fault file, less those that were in the file already,
// unchanged, when the GPU was reset (r): those the reset cleared. XIDs stay (the agent counts only
// those after the reset) and so do processes.
func afterReset(g, r GPUFaults) GPUFaults {
	out := GPUFaults{Index: g.Index, XIDs: g.XIDs, Processes: g.Processes}
	if !reflect.DeepEqual(g.ECC, r.ECC) {
		out.ECC = g.ECC
	}
	if !reflect.DeepEqual(g.TemperatureC, r.TemperatureC) {
		out.TemperatureC = g.TemperatureC
	}
	if !reflect.DeepEqual(g.Utilization, r.Utilization) {
		out.Utilization = g.Utilization
	}
	if !slices.Equal(g.Throttle, r.Throttle) {
		out.Throttle = g.Throttle
	}
	if !reflect.DeepEqual(g.RemappedRows, r.RemappedRows) {
		out.RemappedRows = g.RemappedRows
	}
	if !slices.Equal(g.NVLinkDown, r.NVLinkDown) {
		out.NVLinkDown = g.NVLinkDown
	}
	out.Lost = g.Lost && !r.Lost
	return out
}

// PodOf maps a simulated process to the pod and container the fault file gives it.
func (n *Node) PodOf(pid uint32) (pod, container string, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, f := range n.faults {
		for _, p := range f.Processes {
			if p.PID == pid && p.Pod != "" {
				return p.Pod, p.Container, true
			}
		}
	}
	return "", "", false
}

func sortedKeys(m map[int]GPUFaults) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func uuidOf(model string, index int) string {
	return fmt.Sprintf("GPU-5131a7ed-%04x-4000-8000-%012x", profiles[model].id, index)
}

// state returns the GPU's faults under the lock.
func (n *Node) state(i int) GPUFaults {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faults[i]
}

// fill sets the mock functions go-nvml leaves empty, and wraps the ones it sets so that a lost
// GPU fails them.
func (n *Node) fill(d *server.Device, i int, p profile) {
	d.UUID = uuidOf(n.model, i)
	lost := func() bool { return n.state(i).Lost }
	uuidFn, nameFn, migFn := d.GetUUIDFunc, d.GetNameFunc, d.GetMigModeFunc
	d.GetUUIDFunc = func() (string, nvml.Return) {
		if lost() {
			return "", nvml.ERROR_GPU_IS_LOST
		}
		return uuidFn()
	}
	d.GetNameFunc = func() (string, nvml.Return) {
		if lost() {
			return "", nvml.ERROR_GPU_IS_LOST
		}
		return nameFn()
	}
	d.GetMigModeFunc = func() (int, int, nvml.Return) {
		if lost() {
			return 0, 0, nvml.ERROR_GPU_IS_LOST
		}
		return migFn()
	}
	total := d.MemoryInfo.Total
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		f := n.state(i)
		if f.Lost {
			return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST
		}
		var used uint64
		for _, pr := range f.Processes {
			used += pr.UsedMiB << 20
		}
		used = min(used, total)
		return nvml.Memory{Total: total, Used: used, Free: total - used}, nvml.SUCCESS
	}
	d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
	d.GetMigDeviceHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_NOT_FOUND }
	busy := func(f GPUFaults) bool { return len(f.Processes) > 0 }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		f := n.state(i)
		switch {
		case f.Lost:
			return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST
		case f.Utilization != nil:
			return nvml.Utilization{Gpu: f.Utilization.GPU, Memory: f.Utilization.Memory}, nvml.SUCCESS
		case busy(f):
			return nvml.Utilization{Gpu: 87, Memory: 46}, nvml.SUCCESS
		}
		return nvml.Utilization{}, nvml.SUCCESS
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) {
		f := n.state(i)
		switch {
		case f.Lost:
			return 0, nvml.ERROR_GPU_IS_LOST
		case f.TemperatureC != nil:
			return *f.TemperatureC, nvml.SUCCESS
		case busy(f):
			return p.busyTempC + uint32(i%3), nvml.SUCCESS
		}
		return p.idleTempC + uint32(i%3), nvml.SUCCESS
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		f := n.state(i)
		switch {
		case f.Lost:
			return 0, nvml.ERROR_GPU_IS_LOST
		case busy(f):
			return p.busyMW, nvml.SUCCESS
		}
		return p.idleMW, nvml.SUCCESS
	}
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) {
		if lost() {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		return p.powerLimitMW, nvml.SUCCESS
	}
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		f := n.state(i)
		switch {
		case f.Lost:
			return 0, nvml.ERROR_GPU_IS_LOST
		case c == nvml.CLOCK_MEM:
			return p.memMHz, nvml.SUCCESS
		case c != nvml.CLOCK_SM && c != nvml.CLOCK_GRAPHICS:
			return 0, nvml.ERROR_NOT_SUPPORTED
		case busy(f):
			return p.smMHz, nvml.SUCCESS
		}
		return p.idleSM, nvml.SUCCESS
	}
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
		f := n.state(i)
		if f.Lost {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		var mask uint64
		if !busy(f) {
			mask |= nvml.ClocksEventReasonGpuIdle
		}
		for _, name := range f.Throttle {
			bit, _ := gpu.ClockEventBit(name)
			mask |= bit
		}
		return mask, nvml.SUCCESS
	}
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
		f := n.state(i)
		if f.Lost {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		if f.ECC == nil {
			return 0, nvml.SUCCESS
		}
		switch {
		case t == nvml.MEMORY_ERROR_TYPE_CORRECTED && c == nvml.VOLATILE_ECC:
			return f.ECC.VolatileCorrected, nvml.SUCCESS
		case t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && c == nvml.VOLATILE_ECC:
			return f.ECC.VolatileUncorrected, nvml.SUCCESS
		case t == nvml.MEMORY_ERROR_TYPE_CORRECTED:
			return f.ECC.AggregateCorrected, nvml.SUCCESS
		}
		return f.ECC.AggregateUncorrected, nvml.SUCCESS
	}
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) {
		f := n.state(i)
		if f.Lost {
			return 0, 0, false, false, nvml.ERROR_GPU_IS_LOST
		}
		if r := f.RemappedRows; r != nil {
			return r.Correctable, r.Uncorrectable, r.Pending, r.Failure, nvml.SUCCESS
		}
		return 0, 0, false, false, nvml.SUCCESS
	}
	// Ampere and later GPUs remap rows instead of retiring pages; NVML says so.
	d.GetRetiredPagesFunc = func(nvml.PageRetirementCause) ([]uint64, nvml.Return) {
		if lost() {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		return nil, nvml.ERROR_NOT_SUPPORTED
	}
	d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) {
		if lost() {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		return 0, nvml.ERROR_NOT_SUPPORTED
	}
	d.GetNvLinkStateFunc = func(link int) (nvml.EnableState, nvml.Return) {
		f := n.state(i)
		switch {
		case f.Lost:
			return 0, nvml.ERROR_GPU_IS_LOST
		case link >= p.nvlinks:
			return 0, nvml.ERROR_INVALID_ARGUMENT
		case slices.Contains(f.NVLinkDown, link):
			return nvml.FEATURE_DISABLED, nvml.SUCCESS
		}
		return nvml.FEATURE_ENABLED, nvml.SUCCESS
	}
	d.GetNvLinkErrorCounterFunc = func(link int, c nvml.NvLinkErrorCounter) (uint64, nvml.Return) {
		f := n.state(i)
		switch {
		case f.Lost:
			return 0, nvml.ERROR_GPU_IS_LOST
		case link >= p.nvlinks:
			return 0, nvml.ERROR_INVALID_ARGUMENT
		case slices.Contains(f.NVLinkDown, link) && c == nvml.NVLINK_ERROR_DL_RECOVERY:
			return 3, nvml.SUCCESS
		}
		return 0, nvml.SUCCESS
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		f := n.state(i)
		if f.Lost {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		ps := make([]nvml.ProcessInfo, len(f.Processes))
		for j, pr := range f.Processes {
			ps[j] = nvml.ProcessInfo{Pid: pr.PID, UsedGpuMemory: pr.UsedMiB << 20}
		}
		return ps, nvml.SUCCESS
	}
	d.GetFieldValuesFunc = func(values []nvml.FieldValue) nvml.Return {
		f := n.state(i)
		if f.Lost {
			return nvml.ERROR_GPU_IS_LOST
		}
		for k := range values {
			values[k].NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
			if values[k].FieldId != nvml.FI_DEV_GET_GPU_RECOVERY_ACTION {
				continue
			}
			action := nvml.GPU_RECOVERY_ACTION_NONE
			if r := f.RemappedRows; r != nil && r.Pending {
				action = nvml.GPU_RECOVERY_ACTION_GPU_RESET
			}
			values[k].NvmlReturn = uint32(nvml.SUCCESS)
			values[k].Timestamp = time.Now().UnixMicro()
			values[k].Value = [8]byte{byte(action)}
		}
		return nvml.SUCCESS
	}
}
