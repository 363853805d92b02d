//go:build cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// OpenDriver loads the node's NVML (libnvidia-ml.so.1) and initializes it. When the library is
// not there it returns ErrNoDriver. Close the returned library with Shutdown.
func OpenDriver() (*NVML, error) {
	lib := nvml.New()
	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return nil, ErrNoDriver
	default:
		return nil, fmt.Errorf("NVML did not initialize: %v (check the NVIDIA driver with nvidia-smi)", ret.Error())
	}
	return &NVML{lib: lib}, nil
}

// FromNVML serves an NVML implementation (a real library already initialized, or a go-nvml
// mock) as a Library.
func FromNVML(lib nvml.Interface) *NVML { return &NVML{lib: lib} }

// NVML is a Library on go-nvml.
type NVML struct {
	lib nvml.Interface
}

// Shutdown releases NVML.
func (n *NVML) Shutdown() { _ = n.lib.Shutdown() }

// Simulated is false: these are the node's GPUs.
func (n *NVML) Simulated() bool { return false }

func (n *NVML) DriverVersion() (string, error) {
	v, ret := n.lib.SystemGetDriverVersion()
	return v, nvmlError(ret)
}

func (n *NVML) CUDAVersion() (string, error) {
	v, ret := n.lib.SystemGetCudaDriverVersion()
	if err := nvmlError(ret); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10), nil
}

func (n *NVML) Count() (int, error) {
	c, ret := n.lib.DeviceGetCount()
	return c, nvmlError(ret)
}

func (n *NVML) Device(index int) (Device, error) {
	d, ret := n.lib.DeviceGetHandleByIndex(index)
	if err := nvmlError(ret); err != nil {
		return nil, err
	}
	return nvmlDevice{d}, nil
}

// WatchXIDs registers every GPU for critical XID events in one NVML event set and waits on it.
func (n *NVML) WatchXIDs(ctx context.Context, fn func(XIDEvent), fail func(error)) error {
	set, ret := n.lib.EventSetCreate()
	if err := nvmlError(ret); err != nil {
		return fmt.Errorf("creating an NVML event set: %w", err)
	}
	count, err := n.Count()
	if err != nil {
		_ = set.Free()
		return err
	}
	uuids := map[string]int{}
	for i := range count {
		d, ret := n.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		if ret := d.RegisterEvents(nvml.EventTypeXidCriticalError, set); ret != nvml.SUCCESS && ret != nvml.ERROR_NOT_SUPPORTED {
			_ = set.Free()
			return fmt.Errorf("registering GPU %d for XID events: %w", i, nvmlError(ret))
		}
		if u, ret := d.GetUUID(); ret == nvml.SUCCESS {
			uuids[u] = i
		}
	}
	go n.waitXIDs(ctx, set, uuids, fn, fail)
	return nil
}

func (n *NVML) waitXIDs(ctx context.Context, set nvml.EventSet, uuids map[string]int, fn func(XIDEvent), fail func(error)) {
	defer set.Free()
	for ctx.Err() == nil {
		e, ret := set.Wait(1000)
		if ret == nvml.ERROR_TIMEOUT {
			continue
		}
		if ret != nvml.SUCCESS {
			fail(fmt.Errorf("waiting for XID events: %w", nvmlError(ret)))
			return
		}
		if e.EventType&nvml.EventTypeXidCriticalError == 0 {
			continue
		}
		ev := XIDEvent{Index: -1, Code: int(e.EventData), Time: time.Now()}
		if e.Device != nil {
			if u, ret := e.Device.GetUUID(); ret == nvml.SUCCESS {
				ev.UUID = u
				if i, ok := uuids[u]; ok {
					ev.Index = i
				}
			}
		}
		fn(ev)
	}
}

// Reset resets a GPU with nvidia-smi: NVML's public API has no GPU reset.
func (n *NVML) Reset(ctx context.Context, index int) error {
	smi, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return fmt.Errorf("NVML has no GPU reset and nvidia-smi is not on this node's PATH; reset GPU %d from the node with nvidia-smi --gpu-reset -i %d", index, index)
	}
	out, err := exec.CommandContext(ctx, smi, "--gpu-reset", "-i", strconv.Itoa(index)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nvidia-smi --gpu-reset -i %d: %v: %s", index, err, out)
	}
	return nil
}

// nvmlError turns an NVML return code into an error: nil, ErrNotSupported, ErrGPULost, or the
// driver's message.
func nvmlError(ret nvml.Return) error {
	switch ret {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_FUNCTION_NOT_FOUND:
		return ErrNotSupported
	case nvml.ERROR_GPU_IS_LOST:
		return ErrGPULost
	}
	return errors.New(ret.Error())
}

type nvmlDevice struct{ d nvml.Device }

func (g nvmlDevice) UUID() (string, error) {
	u, ret := g.d.GetUUID()
	return u, nvmlError(ret)
}

func (g nvmlDevice) Name() (string, error) {
	n, ret := g.d.GetName()
	return n, nvmlError(ret)
}

func (g nvmlDevice) Memory() (uint64, uint64, error) {
	m, ret := g.d.GetMemoryInfo()
	return m.Total, m.Used, nvmlError(ret)
}

func (g nvmlDevice) MIG() (bool, []MIGDevice, error) {
	current, _, ret := g.d.GetMigMode()
	if err := nvmlError(ret); err != nil || current != nvml.DEVICE_MIG_ENABLE {
		return false, nil, err
	}
	max, ret := g.d.GetMaxMigDeviceCount()
	if err := nvmlError(ret); err != nil {
		return true, nil, err
	}
	var devs []MIGDevice
	for i := range max {
		m, ret := g.d.GetMigDeviceHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		md := MIGDevice{}
		md.UUID, _ = m.GetUUID()
		md.Name, _ = m.GetName()
		if mem, ret := m.GetMemoryInfo(); ret == nvml.SUCCESS {
			md.MemoryTotal = mem.Total
		}
		devs = append(devs, md)
	}
	return true, devs, nil
}

func (g nvmlDevice) Utilization() (uint32, uint32, error) {
	u, ret := g.d.GetUtilizationRates()
	return u.Gpu, u.Memory, nvmlError(ret)
}

func (g nvmlDevice) Temperature() (uint32, error) {
	t, ret := g.d.GetTemperature(nvml.TEMPERATURE_GPU)
	return t, nvmlError(ret)
}

func (g nvmlDevice) Power() (uint32, uint32, error) {
	draw, ret := g.d.GetPowerUsage()
	if err := nvmlError(ret); err != nil {
		return 0, 0, err
	}
	limit, ret := g.d.GetEnforcedPowerLimit()
	return draw, limit, nvmlError(ret)
}

func (g nvmlDevice) Clocks() (uint32, uint32, error) {
	sm, ret := g.d.GetClockInfo(nvml.CLOCK_SM)
	if err := nvmlError(ret); err != nil {
		return 0, 0, err
	}
	mem, ret := g.d.GetClockInfo(nvml.CLOCK_MEM)
	return sm, mem, nvmlError(ret)
}

func (g nvmlDevice) ClockEventReasons() (uint64, error) {
	r, ret := g.d.GetCurrentClocksEventReasons()
	return r, nvmlError(ret)
}

func (g nvmlDevice) ECC() (ECC, error) {
	var e ECC
	for _, c := range []struct {
		dst *uint64
		typ nvml.MemoryErrorType
		cnt nvml.EccCounterType
	}{
		{&e.VolatileCorrected, nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC},
		{&e.VolatileUncorrected, nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC},
		{&e.AggregateCorrected, nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.AGGREGATE_ECC},
		{&e.AggregateUncorrected, nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.AGGREGATE_ECC},
	} {
		v, ret := g.d.GetTotalEccErrors(c.typ, c.cnt)
		if err := nvmlError(ret); err != nil {
			return ECC{}, err
		}
		*c.dst = v
	}
	return e, nil
}

func (g nvmlDevice) RemappedRows() (RemappedRows, error) {
	corr, unc, pending, failure, ret := g.d.GetRemappedRows()
	return RemappedRows{Correctable: corr, Uncorrectable: unc, Pending: pending, Failure: failure}, nvmlError(ret)
}

func (g nvmlDevice) RetiredPages() (RetiredPages, error) {
	sbe, ret := g.d.GetRetiredPages(nvml.PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
	if err := nvmlError(ret); err != nil {
		return RetiredPages{}, err
	}
	dbe, ret := g.d.GetRetiredPages(nvml.PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
	if err := nvmlError(ret); err != nil {
		return RetiredPages{}, err
	}
	pending, ret := g.d.GetRetiredPagesPendingStatus()
	return RetiredPages{SingleBit: len(sbe), DoubleBit: len(dbe), Pending: pending == nvml.FEATURE_ENABLED}, nvmlError(ret)
}

func (g nvmlDevice) NVLinks() ([]NVLink, error) {
	var links []NVLink
	for l := range nvml.NVLINK_MAX_LINKS {
		state, ret := g.d.GetNvLinkState(l)
		if ret == nvml.ERROR_GPU_IS_LOST {
			return nil, ErrGPULost
		}
		if ret != nvml.SUCCESS {
			continue // a link this GPU does not have
		}
		link := NVLink{Link: l, Up: state == nvml.FEATURE_ENABLED}
		link.Replay, _ = g.d.GetNvLinkErrorCounter(l, nvml.NVLINK_ERROR_DL_REPLAY)
		link.Recovery, _ = g.d.GetNvLinkErrorCounter(l, nvml.NVLINK_ERROR_DL_RECOVERY)
		link.CRC, _ = g.d.GetNvLinkErrorCounter(l, nvml.NVLINK_ERROR_DL_CRC_FLIT)
		links = append(links, link)
	}
	if len(links) == 0 {
		return nil, ErrNotSupported
	}
	return links, nil
}

func (g nvmlDevice) Processes() ([]Process, error) {
	ps, ret := g.d.GetComputeRunningProcesses()
	if err := nvmlError(ret); err != nil {
		return nil, err
	}
	out := make([]Process, len(ps))
	for i, p := range ps {
		out[i] = Process{PID: p.Pid, UsedMemory: p.UsedGpuMemory}
	}
	return out, nil
}

func (g nvmlDevice) RecoveryAction() (string, error) {
	fv := []nvml.FieldValue{{FieldId: nvml.FI_DEV_GET_GPU_RECOVERY_ACTION}}
	if err := nvmlError(g.d.GetFieldValues(fv)); err != nil {
		return "", err
	}
	if err := nvmlError(nvml.Return(fv[0].NvmlReturn)); err != nil {
		return "", err
	}
	v := uint32(fv[0].Value[0]) | uint32(fv[0].Value[1])<<8 | uint32(fv[0].Value[2])<<16 | uint32(fv[0].Value[3])<<24
	switch nvml.DeviceGpuRecoveryAction(v) {
	case nvml.GPU_RECOVERY_ACTION_NONE:
		return "none", nil
	case nvml.GPU_RECOVERY_ACTION_GPU_RESET:
		return "GPU reset", nil
	case nvml.GPU_RECOVERY_ACTION_NODE_REBOOT:
		return "node reboot", nil
	case nvml.GPU_RECOVERY_ACTION_DRAIN_P2P:
		return "drain peer-to-peer traffic", nil
	case nvml.GPU_RECOVERY_ACTION_DRAIN_AND_RESET:
		return "drain and reset", nil
	case nvml.GPU_RECOVERY_ACTION_RECOVER_IMEX_DOMAIN:
		return "recover the IMEX domain", nil
	case nvml.GPU_RECOVERY_ACTION_BUS_RESET:
		return "bus reset", nil
	}
	return fmt.Sprintf("action %d", v), nil
}
