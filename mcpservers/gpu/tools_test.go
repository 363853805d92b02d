//go:build cgo

package gpu_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/xid"
)

const faultFile = "testdata/faults.yaml"

var allTools = []string{"gpu_list", "gpu_metrics", "gpu_processes", "gpu_health", "xid_events", "gpu_reset"}

func TestSimulatedOnEveryOutput(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{})
	for _, tool := range allTools {
		args := map[string]any{}
		if tool == "gpu_reset" {
			args = map[string]any{"index": 7, "dryRun": true}
		}
		out := s.OK(tool, args)
		if !strings.HasPrefix(out, "simulated: true\nnode: gpu-node-1\n") {
			t.Errorf("%s does not start with simulated: true and the node:\n%s", tool, out)
		}
		// The structured form says so too, in its own fields, and its strings carry no header.
		var data map[string]any
		s.Data(tool, args, &data)
		if data["simulated"] != true || data["node"] != "gpu-node-1" {
			t.Errorf("%s structured content lacks simulated: true and node gpu-node-1: %v", tool, data)
		}
		if raw, _ := json.Marshal(data); strings.Contains(string(raw), "simulated: true") {
			t.Errorf("%s structured content carries the text header: %s", tool, raw)
		}
	}
	out := s.Fails("gpu_metrics", map[string]any{"index": 8}, "GPU index 8 does not exist", "0, 1, 2, 3, 4, 5, 6, 7")
	if !strings.HasPrefix(out, "simulated: true\n") {
		t.Errorf("an error in simulated mode does not say simulated: true:\n%s", out)
	}
}

func TestGPUList(t *testing.T) {
	for _, tc := range []struct{ model, name, memory string }{
		{"dgxa100", "NVIDIA A100-SXM4-40GB", "/40960 MiB"},
		{"dgxh100", "NVIDIA H100 80GB HBM3", "/81920 MiB"},
		{"dgxh200", "NVIDIA H200 141GB HBM3e", "/144384 MiB"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			s := connect(t, simNode(t, tc.model, faultFile), gpu.Config{})
			out := s.OK("gpu_list", nil)
			mustContain(t, out, "driver 550.54.15, CUDA 12.4, 8 GPUs shown", tc.name, tc.memory, "disabled")
			if !strings.Contains(line(out, "0 "), "21504/") {
				t.Errorf("GPU 0 runs 21504 MiB of processes; memory used should show them:\n%s", out)
			}
			if l := line(out, "3 "); !strings.Contains(l, "lost") {
				t.Errorf("GPU 3 fell off the bus; gpu_list says %q", l)
			}
		})
	}
	var list contract.GPUList
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{})
	s.Data("gpu_list", nil, &list)
	if list.DriverVersion != "550.54.15" || list.CUDAVersion != "12.4" || len(list.GPUs) != 8 || !list.Simulated {
		t.Errorf("gpu_list structured: driver %q, CUDA %q, %d GPUs, simulated %t", list.DriverVersion, list.CUDAVersion, len(list.GPUs), list.Simulated)
	}
	if g := list.GPUs[0]; g.Name != "NVIDIA H100 80GB HBM3" || g.MemoryTotalMiB == nil || *g.MemoryTotalMiB != 81920 ||
		g.MemoryUsedMiB == nil || *g.MemoryUsedMiB != 21504 || g.MIGEnabled || g.UUID != "GPU-5131a7ed-0100-4000-8000-000000000000" || g.Error != "" {
		t.Errorf("gpu_list structured GPU 0: %+v", g)
	}
	if g := list.GPUs[3]; !g.Lost || g.Error != "lost" || g.MemoryTotalMiB != nil {
		t.Errorf("gpu_list structured GPU 3 (lost): %+v", g)
	}

	s = connect(t, simNode(t, "dgxh100", ""), gpu.Config{})
	one := s.OK("gpu_list", map[string]any{"index": 5})
	mustContain(t, one, "1 GPUs shown", "GPU-5131a7ed-0100-4000-8000-000000000005")
	byUUID := s.OK("gpu_list", map[string]any{"uuid": "GPU-5131a7ed-0100-4000-8000-000000000002"})
	if line(byUUID, "2 ") == "" || line(byUUID, "0 ") != "" {
		t.Errorf("gpu_list by uuid should list GPU 2 only:\n%s", byUUID)
	}
}

func TestGPUMetrics(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{})
	out := s.OK("gpu_metrics", nil)
	mustContain(t, out, "INDEX", "CLOCK-EVENTS")
	if l := line(out, "7 "); !strings.Contains(l, "0%/0%") || !strings.Contains(l, "72W/700W") || !strings.Contains(l, "GpuIdle") {
		t.Errorf("an idle H100 should show 0%% utilization, 72W of 700W, GpuIdle: %q", l)
	}
	if l := line(out, "0 "); !strings.Contains(l, "87%/46%") || !strings.Contains(l, "1980MHz") || !strings.Contains(l, "none") {
		t.Errorf("a busy H100 should show its utilization, full SM clock and no clock events: %q", l)
	}
	l := line(out, "4 ")
	for _, w := range []string{"100%/80%", "91C", "SwThermalSlowdown,HwPowerBrakeSlowdown"} {
		if !strings.Contains(l, w) {
			t.Errorf("GPU 4 (throttled, hot) metrics %q lack %q", l, w)
		}
	}
	if l := line(out, "3 "); !strings.Contains(l, "lost") {
		t.Errorf("GPU 3 is lost; metrics say %q", l)
	}

	var m contract.GPUMetrics
	s.Data("gpu_metrics", nil, &m)
	if len(m.GPUs) != 8 || !m.Simulated || m.Node != "gpu-node-1" {
		t.Fatalf("gpu_metrics structured: %d GPUs, simulated %t, node %q", len(m.GPUs), m.Simulated, m.Node)
	}
	u := func(p *uint32) any {
		if p == nil {
			return nil
		}
		return *p
	}
	for _, tc := range []struct {
		gpu                      int
		util, mem, temp, draw    any
		limit, sm                any
		clockEvents, errorReason string
	}{
		{gpu: 7, util: uint32(0), mem: uint32(0), draw: uint32(72), limit: uint32(700), clockEvents: "GpuIdle"},
		{gpu: 0, util: uint32(87), mem: uint32(46), sm: uint32(1980), clockEvents: "none"},
		{gpu: 4, util: uint32(100), mem: uint32(80), temp: uint32(91), clockEvents: "SwThermalSlowdown,HwPowerBrakeSlowdown"},
	} {
		g := m.GPUs[tc.gpu]
		if u(g.UtilizationGPU) != tc.util || u(g.UtilizationMemory) != tc.mem || !strings.Contains(g.ClockEvents, tc.clockEvents) || g.Lost || g.Error != "" ||
			(tc.temp != nil && u(g.TemperatureC) != tc.temp) || (tc.draw != nil && u(g.PowerDrawW) != tc.draw) ||
			(tc.limit != nil && u(g.PowerLimitW) != tc.limit) || (tc.sm != nil && u(g.SMClockMHz) != tc.sm) {
			t.Errorf("gpu_metrics structured GPU %d: util %v/%v temp %v power %v/%v sm %v clock events %q error %q; want %+v",
				tc.gpu, u(g.UtilizationGPU), u(g.UtilizationMemory), u(g.TemperatureC), u(g.PowerDrawW), u(g.PowerLimitW), u(g.SMClockMHz), g.ClockEvents, g.Error, tc)
		}
	}
	if g := m.GPUs[3]; !g.Lost || g.Error != "lost" || g.UtilizationGPU != nil || g.TemperatureC != nil {
		t.Errorf("gpu_metrics structured GPU 3 (lost): readings must be absent, with the reason: %+v", g)
	}
	// output: json still answers the same facts as text, for programs older than structured content.
	js := s.OK("gpu_metrics", map[string]any{"output": "json", "index": 4})
	var old contract.GPUMetrics
	if err := json.Unmarshal([]byte(js[strings.IndexByte(js, '{'):]), &old); err != nil || len(old.GPUs) != 1 || u(old.GPUs[0].TemperatureC) != uint32(91) {
		t.Errorf("gpu_metrics output: json: %v\n%s", err, js)
	}
}

func TestGPUProcesses(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{})
	out := s.OK("gpu_processes", nil)
	mustContain(t, out, "4242", "20480 MiB", "training/job-7-worker-0", "trainer")
	if l := line(out, "0 "+strings.Repeat(" ", 5)+"4243"); l == "" && !strings.Contains(out, "unknown pod") {
		t.Errorf("a process without a pod mapping should say unknown pod:\n%s", out)
	}
	mustContain(t, out, "GPU 3: lost")
	idle := s.OK("gpu_processes", map[string]any{"index": 7})
	mustContain(t, idle, "no compute processes on GPUs 7")

	var ps contract.GPUProcesses
	s.Data("gpu_processes", nil, &ps)
	if len(ps.GPUs) != 8 || !ps.Simulated {
		t.Fatalf("gpu_processes structured: %+v", ps)
	}
	want := []contract.GPUProcess{{PID: 4242, UsedMiB: 20480, Pod: "training/job-7-worker-0", Container: "trainer"}, {PID: 4243, UsedMiB: 1024}}
	if g := ps.GPUs[0]; !slices.Equal(g.Processes, want) || g.Error != "" {
		t.Errorf("gpu_processes structured GPU 0: %+v; want %+v", g, want)
	}
	if g := ps.GPUs[3]; g.Error != "lost" || len(g.Processes) != 0 {
		t.Errorf("gpu_processes structured GPU 3 (lost): %+v", g)
	}
	if g := ps.GPUs[7]; g.Processes == nil || len(g.Processes) != 0 {
		t.Errorf("gpu_processes structured GPU 7 (idle): want an empty list, got %+v", g)
	}
}

func TestGPUHealthFromFaultFile(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{})
	out := s.OK("gpu_health", nil)
	mustContain(t, out, "8 GPUs: 2 healthy, 3 degraded, 3 failed")
	for _, tc := range []struct {
		gpu  int
		head string
		says []string
	}{
		{0, "healthy; action: none", []string{"nvlink: 18/18 links up", "retired pages: n/a", "driver recovery action: none"}},
		{1, "degraded; action: reset the GPU", []string{"XID 94", "volatile 0 corrected / 1 uncorrected", "pending yes", "driver recovery action: GPU reset"}},
		{2, "failed; action: reset the GPU", []string{"XID 48 (Double-bit ECC error)"}},
		{3, "failed; action: drain and reboot the node", []string{"lost, fell off the bus", "XID 79"}},
		{4, "degraded; action: none", []string{"clocks held down by: SwThermalSlowdown, HwPowerBrakeSlowdown at 91 °C",
			"thermal throttling: clocks are held down by SwThermalSlowdown, HwPowerBrakeSlowdown at 91 °C", "check the node's cooling"}},
		{5, "degraded; action: reset the GPU", []string{"17/18 links up", "down: 3", "recovery 3", "XID 74"}},
		{6, "failed; action: contact support / RMA", []string{"row remapping failed", "XID 64"}},
	} {
		block := healthBlock(out, tc.gpu)
		if !strings.Contains(block, tc.head) {
			t.Errorf("GPU %d: want %q in\n%s", tc.gpu, tc.head, block)
		}
		mustContain(t, block, tc.says...)
	}
	// output: json says the same, with the XIDs as numbers for programs.
	var h contract.GPUHealthReport
	js := s.OK("gpu_health", map[string]any{"output": "json"})
	if err := json.Unmarshal([]byte(js[strings.IndexByte(js, '{'):]), &h); err != nil {
		t.Fatal(err)
	}
	check := func(how string, h contract.GPUHealthReport) {
		t.Helper()
		if len(h.GPUs) != 8 || h.GPUs[3].Verdict != "failed" || h.GPUs[3].Action != "drain and reboot the node" || !slices.Equal(h.GPUs[3].XIDs, []int{79}) ||
			!slices.Equal(h.GPUs[1].XIDs, []int{94}) || h.GPUs[0].Verdict != "healthy" || len(h.GPUs[0].XIDs) != 0 ||
			h.GPUs[4].Verdict != "degraded" || h.GPUs[4].Action != "none" || len(h.GPUs[4].XIDs) != 0 ||
			h.GPUs[6].Verdict != "failed" || h.GPUs[6].Action != "contact support / RMA" || !h.Simulated || h.Node != "gpu-node-1" {
			t.Errorf("gpu_health %s: %+v", how, h)
		}
	}
	check("output: json", h)
	// The structured content is the same report.
	var data contract.GPUHealthReport
	s.Data("gpu_health", nil, &data)
	check("structured", data)
	if !slices.ContainsFunc(data.GPUs[2].Reasons, func(r string) bool { return strings.HasPrefix(r, "XID 48 (Double-bit ECC error)") }) {
		t.Errorf("gpu_health structured GPU 2 reasons lack XID 48: %q", data.GPUs[2].Reasons)
	}
	// The evidence read from each GPU, as its text block gives it.
	for _, tc := range []struct {
		gpu  int
		want contract.GPUHealthDetail
	}{
		{0, contract.GPUHealthDetail{ECC: &contract.ECCCounts{}, RemappedRows: &contract.RemappedRows{}, NVLinks: 18}},
		{1, contract.GPUHealthDetail{ECC: &contract.ECCCounts{VolatileUncorrected: 1, AggregateCorrected: 12, AggregateUncorrected: 1},
			RemappedRows: &contract.RemappedRows{Uncorrectable: 1, Pending: true}, NVLinks: 18}},
		{3, contract.GPUHealthDetail{Lost: true}},
		{5, contract.GPUHealthDetail{ECC: &contract.ECCCounts{}, RemappedRows: &contract.RemappedRows{}, NVLinks: 18, NVLinkDown: []int{3}}},
		{6, contract.GPUHealthDetail{ECC: &contract.ECCCounts{}, RemappedRows: &contract.RemappedRows{Correctable: 2, Uncorrectable: 9, Failure: true}, NVLinks: 18}},
	} {
		if d := data.GPUs[tc.gpu].Detail; d == nil || !reflect.DeepEqual(*d, tc.want) {
			t.Errorf("gpu_health structured GPU %d detail: got %+v, want %+v", tc.gpu, d, tc.want)
		}
	}
}

// healthBlock returns gpu_health's lines about one GPU.
func healthBlock(out string, index int) string {
	var b []string
	in := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "GPU ") {
			in = strings.HasPrefix(l, fmt.Sprintf("GPU %d ", index))
		}
		if in {
			b = append(b, l)
		}
	}
	return strings.Join(b, "\n")
}

// TestEveryCatalogXID injects each XID of the catalog into a GPU and checks gpu_health's verdict,
// action and reason, and xid_events' row.
func TestEveryCatalogXID(t *testing.T) {
	for _, code := range []int{13, 31, 43, 45, 48, 63, 64, 74, 79, 92, 94, 95, 109, 119, 120} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			want := xid.Lookup(code)
			if !want.Known {
				t.Fatalf("XID %d is not in the catalog", code)
			}
			node, err := simulate.New("dgxh100", &simulate.Faults{GPUs: []simulate.GPUFaults{{
				Index: 2, XIDs: []simulate.XID{{Code: code, Time: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			s := connect(t, node, gpu.Config{})
			out := s.OK("gpu_health", map[string]any{"index": 2})
			head := fmt.Sprintf("%s; action: %s", want.Verdict, want.Action)
			mustContain(t, out, head, fmt.Sprintf("XID %d (%s): %s", code, want.Name, want.Reason))
			events := s.OK("xid_events", nil)
			mustContain(t, events, "1 XID events", fmt.Sprintf("2025-03-01T10:00:00Z  2    %-3d  %s", code, want.Name),
				want.Verdict.String(), want.Action.String())

			var h contract.GPUHealthReport
			s.Data("gpu_health", map[string]any{"index": 2}, &h)
			if len(h.GPUs) != 1 || h.GPUs[0].Index != 2 || h.GPUs[0].Verdict != want.Verdict.String() || h.GPUs[0].Action != want.Action.String() ||
				!slices.Equal(h.GPUs[0].XIDs, []int{code}) {
				t.Errorf("gpu_health structured: %+v; want verdict %s, action %s, xids [%d]", h, want.Verdict, want.Action, code)
			}
			var x contract.XIDEvents
			s.Data("xid_events", nil, &x)
			wantEvent := contract.XIDEvent{Time: "2025-03-01T10:00:00Z", Index: 2, UUID: "GPU-5131a7ed-0100-4000-8000-000000000002", Code: code,
				Name: want.Name, Verdict: want.Verdict.String(), Action: want.Action.String(), Reason: want.Reason}
			if len(x.Events) != 1 || x.Events[0] != wantEvent || x.Publishing != "NATS: not configured" {
				t.Errorf("xid_events structured: %+v; want the one event %+v", x, wantEvent)
			}
		})
	}
}

func TestXIDEvents(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{})
	out := s.OK("xid_events", nil)
	mustContain(t, out, "5 XID events since the agent started, newest first", "reasons:", "XID 79: the GPU no longer answers on PCIe")
	var order []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "2025-") {
			order = append(order, strings.Fields(l)[2])
		}
	}
	if !slices.Equal(order, []string{"79", "48", "94", "74", "64"}) {
		t.Errorf("XIDs not newest first: %v\n%s", order, out)
	}
	limited := s.OK("xid_events", map[string]any{"limit": 2})
	mustContain(t, limited, "… 3 older events left out (raise limit)")
	var x contract.XIDEvents
	s.Data("xid_events", map[string]any{"limit": 2}, &x)
	if len(x.Events) != 2 || x.Events[0].Code != 79 || x.Events[1].Code != 48 || x.Truncated != 3 || !x.Simulated {
		t.Errorf("xid_events structured with limit 2: want XIDs 79, 48 and 3 truncated: %+v", x)
	}
	one := s.OK("xid_events", map[string]any{"index": 5})
	mustContain(t, one, "1 XID events", "NVLink error")
	none := s.OK("xid_events", map[string]any{"index": 7})
	mustContain(t, none, "no XID events since the agent started")
}

func TestGPUReset(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{})
	s.Fails("gpu_reset", map[string]any{"index": 0}, "GPU 0 is in use by 2 processes", "pid 4242", "training/job-7-worker-0", "pid 4243, 1024 MiB, unknown pod")
	s.Fails("gpu_reset", map[string]any{}, "pass index or uuid")
	s.Fails("gpu_reset", map[string]any{"index": 1, "uuid": "GPU-x"}, "not both")
	s.Fails("gpu_reset", map[string]any{"uuid": "GPU-nope"}, `no GPU on node gpu-node-1 has UUID "GPU-nope"`, "0=GPU-5131a7ed")

	var dryData contract.GPUReset
	dry := s.Data("gpu_reset", map[string]any{"index": 2, "dryRun": true}, &dryData)
	mustContain(t, dry, "dry run: would reset GPU 2", "Nothing was changed")
	if !dryData.DryRun || dryData.Index != 2 || dryData.UUID != "GPU-5131a7ed-0100-4000-8000-000000000002" || !dryData.Simulated {
		t.Errorf("gpu_reset dry run structured: %+v", dryData)
	}
	if !strings.Contains(healthBlock(s.OK("gpu_health", nil), 2), "failed") {
		t.Error("a dry run changed GPU 2's health")
	}
	var reset contract.GPUReset
	out := s.Data("gpu_reset", map[string]any{"uuid": "GPU-5131a7ed-0100-4000-8000-000000000002"}, &reset)
	mustContain(t, out, "GPU 2 reset (simulated: its injected faults were cleared)")
	if reset.DryRun || reset.Index != 2 || reset.Summary != "reset GPU 2" || !reset.Simulated {
		t.Errorf("gpu_reset structured: %+v", reset)
	}
	if b := healthBlock(s.OK("gpu_health", nil), 2); !strings.Contains(b, "healthy; action: none") {
		t.Errorf("after a reset GPU 2 should be healthy:\n%s", b)
	}
	// The lost GPU comes back after a reset.
	s.OK("gpu_reset", map[string]any{"index": 3})
	if b := healthBlock(s.OK("gpu_health", nil), 3); !strings.Contains(b, "healthy") {
		t.Errorf("after a reset GPU 3 should be back and healthy:\n%s", b)
	}
	// XID history stays.
	mustContain(t, s.OK("xid_events", nil), "5 XID events")
}

func TestBadArguments(t *testing.T) {
	s := connect(t, simNode(t, "dgxa100", ""), gpu.Config{})
	s.Fails("gpu_metrics", map[string]any{"index": -1}, `argument "index" must be at least 0`)
	s.Fails("gpu_health", map[string]any{"index": 8}, "GPU index 8 does not exist on node gpu-node-1; its GPU indexes are 0, 1, 2, 3, 4, 5, 6, 7")
	s.Fails("gpu_list", map[string]any{"gpu": 1}, `unknown argument "gpu"`)
	s.Fails("gpu_processes", map[string]any{"index": "one"}, `argument "index" must be an integer`)
	s.Fails("xid_events", map[string]any{"limit": 0}, `argument "limit" must be at least 1`)
	s.Fails("gpu_health", map[string]any{"index": 1, "uuid": "GPU-1"}, "pass index or uuid, not both")
}

func TestReadOnly(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", ""), gpu.Config{ReadOnly: true})
	names := s.ToolNames()
	if slices.Contains(names, "gpu_reset") || len(names) != 5 {
		t.Errorf("read-only tools = %v; want the five reads without gpu_reset", names)
	}
}

func TestOutputCap(t *testing.T) {
	s := connect(t, simNode(t, "dgxh100", faultFile), gpu.Config{MaxBytes: 1024})
	out := s.OK("gpu_health", nil)
	if len(out) > 1024 || !strings.Contains(out, "truncated") {
		t.Errorf("gpu_health with a 1 KiB cap: %d bytes, want at most 1024 ending in a truncation marker:\n%s", len(out), out)
	}
}
