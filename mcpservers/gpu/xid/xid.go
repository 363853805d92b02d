// Package xid is NVIDIA's XID error catalog as the GPU node agent reads it: for each XID code a
// name, a verdict on the GPU (healthy, degraded, failed), the recommended action (none, restart
// the application, reset the GPU, drain and reboot the node, contact support for an RMA) and the
// reason in words. It is data only: it reads no GPU and decides nothing about a node.
package xid

import (
	"fmt"
	"slices"
)

// Verdict is what an XID says about the GPU that reported it.
type Verdict int

const (
	// Healthy: the GPU itself is fine (the fault was the application's, or informational).
	Healthy Verdict = iota
	// Degraded: the GPU works but needs attention.
	Degraded
	// Failed: the GPU cannot be trusted with work until the action is taken.
	Failed
)

func (v Verdict) String() string {
	switch v {
	case Healthy:
		return "healthy"
	case Degraded:
		return "degraded"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Action is the recommended response, ordered from least to most disruptive.
type Action int

const (
	// None: nothing to do now.
	None Action = iota
	// RestartApp: restart the application (the pod) that used the GPU.
	RestartApp
	// ResetGPU: reset the GPU once no process uses it (gpu_reset).
	ResetGPU
	// DrainReboot: drain the node and reboot it.
	DrainReboot
	// RMA: take the GPU out of service and contact NVIDIA support for a return (RMA).
	RMA
)

func (a Action) String() string {
	switch a {
	case None:
		return "none"
	case RestartApp:
		return "restart the application"
	case ResetGPU:
		return "reset the GPU"
	case DrainReboot:
		return "drain and reboot the node"
	case RMA:
		return "contact support / RMA"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Entry is one XID in the catalog.
type Entry struct {
	Code    int
	Name    string
	Verdict Verdict
	Action  Action
	// Reason says why, in words a person acts on.
	Reason string
	// Known is false for a code the catalog does not hold.
	Known bool
}

var catalog = map[int]Entry{
	13: {Name: "Graphics engine exception", Verdict: Healthy, Action: RestartApp,
		Reason: "the application faulted on the GPU (out-of-range access or illegal instruction); the GPU is usually fine: restart the application and fix it if it recurs"},
	31: {Name: "GPU memory page fault (MMU fault)", Verdict: Healthy, Action: RestartApp,
		Reason: "the application accessed memory it does not own; restart it; if it recurs across applications, suspect the driver or the GPU"},
	43: {Name: "GPU stopped processing", Verdict: Healthy, Action: RestartApp,
		Reason: "the application's channel was stopped after a fault in that application; the GPU keeps serving others: restart the application"},
	45: {Name: "Preemptive cleanup, due to previous errors", Verdict: Healthy, Action: None,
		Reason: "the driver cleaned up after an earlier error or a killed process; look at the XID that came before it"},
	48: {Name: "Double-bit ECC error", Verdict: Failed, Action: ResetGPU,
		Reason: "an uncorrectable memory error; reset the GPU to retire or remap the row (drain and reboot if the reset fails; RMA if it repeats)"},
	61: {Name: "Internal micro-controller breakpoint/warning", Verdict: Degraded, Action: ResetGPU,
		Reason: "an internal micro-controller of the GPU hit a breakpoint; reset the GPU when it is idle, and drain and reboot the node if it repeats"},
	62: {Name: "Internal micro-controller halt", Verdict: Failed, Action: ResetGPU,
		Reason: "an internal micro-controller of the GPU halted; stop its applications and reset the GPU (drain and reboot the node if the reset fails)"},
	63: {Name: "ECC page retirement or row remapping recorded", Verdict: Degraded, Action: ResetGPU,
		Reason: "a faulty memory row was recorded for remapping; it takes effect at the next GPU reset: reset the GPU when it is idle"},
	64: {Name: "ECC page retirement or row remapping failure", Verdict: Failed, Action: RMA,
		Reason: "the GPU could not retire or remap a faulty memory row (it has run out of spare rows); take it out of service and contact support for an RMA"},
	68: {Name: "Video decoder (NVDEC) exception", Verdict: Healthy, Action: RestartApp,
		Reason: "the application's video decode faulted (a bad stream or an application error); the GPU is usually fine: restart the application"},
	69: {Name: "Graphics engine class error", Verdict: Healthy, Action: RestartApp,
		Reason: "the application sent the GPU an invalid command; the GPU is usually fine: restart the application and fix it if it recurs"},
	74: {Name: "NVLink error", Verdict: Degraded, Action: ResetGPU,
		Reason: "an NVLink connection reported an error; reset the GPU and check the NVLink state; contact support if it persists"},
	79: {Name: "GPU has fallen off the bus", Verdict: Failed, Action: DrainReboot,
		Reason: "the GPU no longer answers on PCIe; drain and reboot the node; if it falls off again, contact support for an RMA (check power and cooling)"},
	92: {Name: "High single-bit ECC error rate", Verdict: Degraded, Action: None,
		Reason: "corrected memory errors are frequent; the GPU still works: watch the ECC counters and contact support for an RMA if the rate persists"},
	94: {Name: "Contained ECC error", Verdict: Degraded, Action: RestartApp,
		Reason: "an uncorrectable memory error was contained to one application; restart that application; other work is unaffected, and a GPU reset when idle remaps the row"},
	95: {Name: "Uncontained ECC error", Verdict: Failed, Action: ResetGPU,
		Reason: "an uncorrectable memory error could not be contained; every application on the GPU is affected: stop them and reset the GPU (drain the node if the reset fails)"},
	109: {Name: "Context switch timeout", Verdict: Degraded, Action: RestartApp,
		Reason: "the GPU timed out switching contexts, usually an application fault; restart the application, and reset the GPU if it repeats"},
	119: {Name: "GSP RPC timeout", Verdict: Failed, Action: ResetGPU,
		Reason: "the GPU System Processor stopped answering the driver; reset the GPU, and drain and reboot the node if it repeats"},
	120: {Name: "GSP error", Verdict: Failed, Action: ResetGPU,
		Reason: "the GPU System Processor reported an error; reset the GPU, and drain and reboot the node if it repeats"},
	154: {Name: "GPU recovery action changed", Verdict: Failed, Action: DrainReboot,
		Reason: "the driver changed the GPU's recovery action after a fault (to a GPU reset, a node reboot or a drain; nvidia-smi -q shows which under Recovery Action); until it is known to be a reset, a reset may not clear it: drain and reboot the node"},
}

// Lookup returns the catalog's entry for code. A code the catalog does not hold gets a degraded
// verdict, no action, and a reason that says to look it up.
func Lookup(code int) Entry {
	e, ok := catalog[code]
	if !ok {
		return Entry{Code: code, Name: "unknown XID", Verdict: Degraded, Action: None,
			Reason: fmt.Sprintf("XID %d is not in opsmesh's catalog; look it up in NVIDIA's XID documentation (https://docs.nvidia.com/deploy/xid-errors/)", code)}
	}
	e.Code, e.Known = code, true
	return e
}

// Codes returns the catalog's codes in ascending order.
func Codes() []int {
	codes := make([]int, 0, len(catalog))
	for c := range catalog {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}
