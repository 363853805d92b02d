// Package simulate provides the GPU node agent's simulated GPUs: go-nvml's mock DGX servers
// (dgxa100, dgxh100, dgxh200) with the values the mocks lack filled in (utilization,
// temperature, power, clocks, ECC, remapped rows, NVLink, processes, ...) and faults injected from
// a YAML fault file. It must not touch a real GPU; everything it reports is simulated.
package simulate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
)

// NodeGPUs is the number of GPUs of every simulated model.
const NodeGPUs = 8

// Faults is a fault file: per-GPU faults and processes to inject into simulated GPUs.
type Faults struct {
	GPUs []GPUFaults `yaml:"gpus"`
}

// GPUFaults are the faults and processes of one simulated GPU, named by its index.
type GPUFaults struct {
	Index int `yaml:"index"`
	// XIDs are XID events the GPU reported.
	XIDs []XID `yaml:"xids"`
	ECC  *ECC  `yaml:"ecc"`
	// TemperatureC overrides the GPU's temperature.
	TemperatureC *uint32 `yaml:"temperatureC"`
	// Utilization overrides GPU and memory utilization (percent).
	Utilization *Utilization `yaml:"utilization"`
	// Throttle names clock-event reasons, as gpu_metrics prints them (HwThermalSlowdown, ...).
	Throttle     []string      `yaml:"throttle"`
	RemappedRows *RemappedRows `yaml:"remappedRows"`
	// NVLinkDown lists links that are down.
	NVLinkDown []int `yaml:"nvlinkDown"`
	// Lost: the GPU fell off the bus; every call to it returns ERROR_GPU_IS_LOST.
	Lost bool `yaml:"lost"`
	// Processes running on the GPU, with the pod and container they belong to.
	Processes []Process `yaml:"processes"`
}

// XID is one injected XID event.
type XID struct {
	Code int       `yaml:"code"`
	Time time.Time `yaml:"time"`
}

// ECC counts memory errors.
type ECC struct {
	VolatileCorrected    uint64 `yaml:"volatileCorrected" json:"volatileCorrected,omitempty"`
	VolatileUncorrected  uint64 `yaml:"volatileUncorrected" json:"volatileUncorrected,omitempty"`
	AggregateCorrected   uint64 `yaml:"aggregateCorrected" json:"aggregateCorrected,omitempty"`
	AggregateUncorrected uint64 `yaml:"aggregateUncorrected" json:"aggregateUncorrected,omitempty"`
}

// Utilization in percent.
type Utilization struct {
	GPU    uint32 `yaml:"gpu" json:"gpu,omitempty"`
	Memory uint32 `yaml:"memory" json:"memory,omitempty"`
}

// RemappedRows are row-remapping counters.
type RemappedRows struct {
	Correctable   int  `yaml:"correctable" json:"correctable,omitempty"`
	Uncorrectable int  `yaml:"uncorrectable" json:"uncorrectable,omitempty"`
	Pending       bool `yaml:"pending" json:"pending,omitempty"`
	Failure       bool `yaml:"failure" json:"failure,omitempty"`
}

// Process is a process on a simulated GPU.
type Process struct {
	PID       uint32 `yaml:"pid" json:"pid,omitempty"`
	UsedMiB   uint64 `yaml:"usedMiB" json:"usedMiB,omitempty"`
	Pod       string `yaml:"pod" json:"pod,omitempty"`
	Container string `yaml:"container" json:"container,omitempty"`
}

// maxFaultFile bounds a fault file.
const maxFaultFile = 1 << 20

// ParseFaults decodes a fault file strictly: unknown fields, wrong types, and values out of
// range are refused with the line or the field that is wrong. gpus, when > 0, is the number of
// simulated GPUs the indexes must fall within.
func ParseFaults(data []byte, gpus int) (*Faults, error) {
	if len(data) > maxFaultFile {
		return nil, fmt.Errorf("fault file is %d bytes; the most is %d", len(data), maxFaultFile)
	}
	var f Faults
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("fault file: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("fault file: holds more than one YAML document; put every GPU under one gpus: list")
	}
	seen := map[int]bool{}
	for i, g := range f.GPUs {
		at := fmt.Sprintf("fault file: gpus[%d]", i)
		if g.Index < 0 || (gpus > 0 && g.Index >= gpus) {
			return nil, fmt.Errorf("%s.index: %d is not a GPU of the simulated node (indexes 0..%d)", at, g.Index, gpus-1)
		}
		if seen[g.Index] {
			return nil, fmt.Errorf("%s.index: GPU %d is listed twice; merge its faults into one entry", at, g.Index)
		}
		seen[g.Index] = true
		for j, x := range g.XIDs {
			if x.Code < 1 || x.Code > 1000 {
				return nil, fmt.Errorf("%s.xids[%d].code: %d is not an XID code (1..1000)", at, j, x.Code)
			}
			if x.Time.IsZero() {
				return nil, fmt.Errorf("%s.xids[%d].time: required, as RFC 3339 (2025-01-02T15:04:05Z)", at, j)
			}
		}
		if g.TemperatureC != nil && *g.TemperatureC > 150 {
			return nil, fmt.Errorf("%s.temperatureC: %d °C is beyond any GPU (0..150)", at, *g.TemperatureC)
		}
		if u := g.Utilization; u != nil && (u.GPU > 100 || u.Memory > 100) {
			return nil, fmt.Errorf("%s.utilization: percentages must be 0..100", at)
		}
		for j, name := range g.Throttle {
			if _, ok := gpu.ClockEventBit(name); !ok {
				var names []string
				for _, r := range gpu.ClockEventReasons {
					names = append(names, r.Name)
				}
				return nil, fmt.Errorf("%s.throttle[%d]: unknown reason %q; use one of %s", at, j, name, strings.Join(names, ", "))
			}
		}
		if r := g.RemappedRows; r != nil && (r.Correctable < 0 || r.Uncorrectable < 0) {
			return nil, fmt.Errorf("%s.remappedRows: counts must not be negative", at)
		}
		for j, l := range g.NVLinkDown {
			if l < 0 || l >= 18 {
				return nil, fmt.Errorf("%s.nvlinkDown[%d]: link %d does not exist (0..17)", at, j, l)
			}
		}
		for j, p := range g.Processes {
			if p.PID == 0 {
				return nil, fmt.Errorf("%s.processes[%d].pid: required and not 0", at, j)
			}
			if p.Pod != "" && strings.Count(p.Pod, "/") != 1 {
				return nil, fmt.Errorf("%s.processes[%d].pod: %q must be namespace/name", at, j, p.Pod)
			}
		}
	}
	return &f, nil
}
