//go:build cgo

package sandbox

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsmesh/opsmesh/mcpservers/gpu"
	"github.com/opsmesh/opsmesh/mcpservers/gpu/simulate"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

// TestInjectXIDReachesARunningAgent runs a real simulated node agent following its fault file,
// as the sandbox's are, and checks that InjectXID makes it report the XID, through its tools and
// to its XID sink (NATS in the sandbox), and that two injections in a row are both kept.
func TestInjectXIDReachesARunningAgent(t *testing.T) {
	s, sink := runningAgent(t)
	ctx := context.Background()
	if err := s.InjectXID(ctx, "sim-gpu-1", 3, 79); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectXID(ctx, "sim-gpu-1", 5, 48); err != nil {
		t.Fatal(err)
	}
	health, err := s.CallAgent(ctx, "sim-gpu-1", "gpu_health", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(health, "simulated: true") || !strings.Contains(health, "79") || !strings.Contains(health, "48") {
		t.Errorf("gpu_health after XID 79 on GPU 3 and XID 48 on GPU 5:\n%s", health)
	}
	if got := sink.codes(); len(got) != 2 || got[0] != 79 || got[1] != 48 {
		t.Errorf("the agent handed XIDs %v to its sink; want [79 48]", got)
	}
}

// TestSetAndClearGPUFaults sets every kind of fault on a GPU of a running agent, replaces them,
// clears them, and sets them again: each call returns only once the agent shows the new state,
// the cleared agent is healthy with no XID events, and the XID set again is published again.
func TestSetAndClearGPUFaults(t *testing.T) {
	s, sink := runningAgent(t)
	ctx := context.Background()
	temp := uint32(91)
	faults := simulate.GPUFaults{
		Index:        2,
		XIDs:         []simulate.XID{{Code: 48}, {Code: 63}},
		ECC:          &simulate.ECC{VolatileUncorrected: 2, AggregateUncorrected: 2},
		RemappedRows: &simulate.RemappedRows{Uncorrectable: 2, Pending: true},
		Throttle:     []string{"HwThermalSlowdown"},
		TemperatureC: &temp,
		NVLinkDown:   []int{4},
		Processes:    []simulate.Process{{PID: 4242, UsedMiB: 1000, Pod: "team-a/trainer-0", Container: "train"}},
	}
	if err := s.SetGPUFaults(ctx, "sim-gpu-1", faults); err != nil {
		t.Fatal(err)
	}
	health := call(t, s, "gpu_health", map[string]any{"index": 2})
	for _, want := range []string{"GPU 2 ", "degraded", "XID 48", "XID 63", "2 uncorrectable ECC errors", "a row remapping is pending", "NVLink links 4 are down"} {
		if !strings.Contains(health, want) {
			t.Errorf("gpu_health of GPU 2 after SetGPUFaults lacks %q:\n%s", want, health)
		}
	}
	metrics := call(t, s, "gpu_metrics", map[string]any{"index": 2})
	if !strings.Contains(metrics, "HwThermalSlowdown") || !strings.Contains(metrics, "91C") {
		t.Errorf("gpu_metrics of GPU 2 after SetGPUFaults:\n%s", metrics)
	}
	xids := call(t, s, "xid_events", nil)
	times := map[string]bool{}
	for _, line := range strings.Split(xids, "\n") {
		if f := strings.Fields(line); len(f) > 2 && (f[2] == "48" || f[2] == "63") {
			times[f[0]] = true
		}
	}
	if len(times) != 2 {
		t.Errorf("the two XIDs set without a time should be stamped a second apart:\n%s", xids)
	}

	// Replacing: GPU 2 now only lost; GPU 6 gets an XID of its own.
	if err := s.SetGPUFaults(ctx, "sim-gpu-1", simulate.GPUFaults{Index: 2, Lost: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGPUFaults(ctx, "sim-gpu-1", simulate.GPUFaults{Index: 6, XIDs: []simulate.XID{{Code: 79}}}); err != nil {
		t.Fatal(err)
	}
	if x := call(t, s, "xid_events", map[string]any{"index": 2}); !strings.Contains(x, "no XID events") {
		t.Errorf("GPU 2's faults were replaced, but xid_events still lists its old XIDs:\n%s", x)
	}
	if h := call(t, s, "gpu_health", map[string]any{"index": 2}); !strings.Contains(h, "state: lost") {
		t.Errorf("gpu_health of GPU 2 set lost:\n%s", h)
	}

	if err := s.ClearGPUFaults(ctx, "sim-gpu-1"); err != nil {
		t.Fatal(err)
	}
	if h := call(t, s, "gpu_health", nil); !strings.Contains(h, "8 GPUs: 8 healthy, 0 degraded, 0 failed") {
		t.Errorf("gpu_health after ClearGPUFaults:\n%s", h)
	}
	if x := call(t, s, "xid_events", nil); !strings.Contains(x, "no XID events") {
		t.Errorf("xid_events after ClearGPUFaults:\n%s", x)
	}
	if b, _ := os.ReadFile(s.faultFile("sim-gpu-1")); !strings.Contains(string(b), "gpus: []") {
		t.Errorf("the fault file after ClearGPUFaults:\n%s", b)
	}

	// The next scenario injects the same XID again: a new event, published again.
	if err := s.SetGPUFaults(ctx, "sim-gpu-1", simulate.GPUFaults{Index: 6, XIDs: []simulate.XID{{Code: 79}}}); err != nil {
		t.Fatal(err)
	}
	if got := sink.codes(); !slices.Equal(got, []int{48, 63, 79, 79}) {
		t.Errorf("the agent handed XIDs %v to its sink; want [48 63 79 79] (79 set, cleared, set again)", got)
	}
	if h := call(t, s, "gpu_health", map[string]any{"index": 6}); !strings.Contains(h, "failed") || !strings.Contains(h, "XID 79") {
		t.Errorf("gpu_health of GPU 6 after XID 79 was set again:\n%s", h)
	}

	// A scenario's remediation resets the GPU; the next scenario, within the same second, sets an
	// XID on it again: gpu_health (XIDs after the last reset) must count it.
	if r := call(t, s, "gpu_reset", map[string]any{"index": 6}); !strings.Contains(r, "GPU 6 reset") {
		t.Fatalf("gpu_reset: %s", r)
	}
	if err := s.ClearGPUFaults(ctx, "sim-gpu-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGPUFaults(ctx, "sim-gpu-1", simulate.GPUFaults{Index: 6, XIDs: []simulate.XID{{Code: 48}}}); err != nil {
		t.Fatal(err)
	}
	if h := call(t, s, "gpu_health", map[string]any{"index": 6}); !strings.Contains(h, "XID 48") {
		t.Errorf("gpu_health of GPU 6, XID 48 set right after a reset, does not count it:\n%s", h)
	}
}

// TestAgentShowsSaysWhatIsMissing sets faults on a GPU of a running agent and asks agentShows,
// which SetGPUFaults and ClearGPUFaults wait on, about other states than the agent's: it must
// name each difference, read from the agent's structured content, and nothing once they match.
func TestAgentShowsSaysWhatIsMissing(t *testing.T) {
	s, _ := runningAgent(t)
	ctx := context.Background()
	temp := uint32(88)
	set := simulate.GPUFaults{
		Index:        1,
		XIDs:         []simulate.XID{{Code: 48, Time: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}},
		ECC:          &simulate.ECC{VolatileUncorrected: 3, AggregateUncorrected: 5},
		RemappedRows: &simulate.RemappedRows{Correctable: 1, Failure: true},
		Throttle:     []string{"SwThermalSlowdown"},
		TemperatureC: &temp,
		Utilization:  &simulate.Utilization{GPU: 97, Memory: 60},
		NVLinkDown:   []int{7, 2},
		Processes:    []simulate.Process{{PID: 777, UsedMiB: 10}},
	}
	if err := s.SetGPUFaults(ctx, "sim-gpu-1", set); err != nil {
		t.Fatal(err)
	}
	if why, err := s.agentShows(ctx, "sim-gpu-1", []simulate.GPUFaults{set}); why != "" || err != nil {
		t.Fatalf("agentShows of the faults just set: %q, %v; want nothing missing", why, err)
	}

	clean := simulate.GPUFaults{Index: 1}
	why, err := s.agentShows(ctx, "sim-gpu-1", []simulate.GPUFaults{clean})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"GPU 1: xid_events lists [2025-03-01T10:00:00Z XID 48], want []",
		`GPU 1: gpu_health lacks "ecc: volatile 0 corrected / 0 uncorrected; aggregate 0 corrected / 0 uncorrected"`,
		`GPU 1: gpu_health lacks "remapped rows: correctable 0, uncorrectable 0, pending no, failure no"`,
		"GPU 1: gpu_health still has NVLink links down",
		`GPU 1: gpu_metrics clock events are "SwThermalSlowdown", want throttle reasons []`,
		"GPU 1: gpu_processes lists PIDs [777], want []",
	} {
		if !strings.Contains(why, want) {
			t.Errorf("agentShows of GPU 1 clean, with faults set, lacks %q:\n%s", want, why)
		}
	}

	other := set
	other.NVLinkDown = []int{3}
	other.TemperatureC = new(uint32)
	other.Utilization = &simulate.Utilization{GPU: 10, Memory: 60}
	why, err = s.agentShows(ctx, "sim-gpu-1", []simulate.GPUFaults{other, {Index: 4, Lost: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`GPU 1: gpu_health lacks NVLink "; down: 3"`,
		"GPU 1: gpu_metrics temperature is not 0 °C",
		"GPU 1: gpu_metrics utilization is not 10%/60%",
		"GPU 4: gpu_health says lost=false, want true",
	} {
		if !strings.Contains(why, want) {
			t.Errorf("agentShows of other faults lacks %q:\n%s", want, why)
		}
	}
	if strings.Contains(why, "ecc:") || strings.Contains(why, "xid_events") {
		t.Errorf("agentShows names differences that are not there:\n%s", why)
	}
}

func TestSetGPUFaultsRefusesBadFaults(t *testing.T) {
	dir := t.TempDir()
	s := &Sandbox{State: State{Dir: dir, GPUNodes: []string{"sim-gpu-1"}, Agents: map[string]string{"sim-gpu-1": "http://127.0.0.1:1/mcp"}}}
	if err := os.MkdirAll(filepath.Join(dir, "faults"), 0o700); err != nil {
		t.Fatal(err)
	}
	orig := []byte("gpus: []\n")
	if err := os.WriteFile(s.faultFile("sim-gpu-1"), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	hot := uint32(200)
	for _, tc := range []struct {
		node string
		f    simulate.GPUFaults
		want string
	}{
		{"sim-cpu-1", simulate.GPUFaults{}, `node "sim-cpu-1" has no simulated GPU node agent`},
		{"sim-gpu-1", simulate.GPUFaults{Index: 8}, "GPU 8 does not exist on sim-gpu-1"},
		{"sim-gpu-1", simulate.GPUFaults{XIDs: []simulate.XID{{Code: 2000}}}, "2000 is not an XID code"},
		{"sim-gpu-1", simulate.GPUFaults{Throttle: []string{"Hot"}}, `unknown reason "Hot"`},
		{"sim-gpu-1", simulate.GPUFaults{TemperatureC: &hot}, "200 °C is beyond any GPU"},
	} {
		err := s.SetGPUFaults(context.Background(), tc.node, tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetGPUFaults(%s, %+v) = %v; want %q", tc.node, tc.f, err, tc.want)
		}
	}
	if b, _ := os.ReadFile(s.faultFile("sim-gpu-1")); string(b) != string(orig) {
		t.Errorf("refused faults changed the fault file:\n%s", b)
	}
	if err := s.ClearGPUFaults(context.Background(), "sim-cpu-1"); err == nil || !strings.Contains(err.Error(), "no simulated GPU node agent") {
		t.Errorf("ClearGPUFaults of a CPU node: %v", err)
	}
}

// runningAgent runs a real simulated node agent following its fault file, as the sandbox's
// are, behind the sandbox's MCP transport, and a Sandbox that knows it as sim-gpu-1's.
func runningAgent(t *testing.T) (*Sandbox, *sinkRecorder) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "faults"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := &Sandbox{State: State{Dir: dir, GPUNodes: []string{"sim-gpu-1"}, AgentTokenFile: filepath.Join(dir, "agent-token")}}
	if err := os.WriteFile(s.AgentTokenFile, []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.faultFile("sim-gpu-1"), []byte("gpus: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node, err := simulate.New("dgxh100", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go node.Follow(ctx, s.faultFile("sim-gpu-1"), 50*time.Millisecond, nil)
	sink := &sinkRecorder{}
	a, err := gpu.NewNodeAgent(ctx, node, gpu.Config{NodeName: "sim-gpu-1", XIDSink: sink})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.HTTPHandler(a.MCP, "secret-token"))
	t.Cleanup(srv.Close)
	s.Agents = map[string]string{"sim-gpu-1": srv.URL + "/mcp"}
	return s, sink
}

func call(t *testing.T, s *Sandbox, tool string, args map[string]any) string {
	t.Helper()
	text, err := s.CallAgent(context.Background(), "sim-gpu-1", tool, args)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

type sinkRecorder struct {
	mu     sync.Mutex
	events []gpu.XIDEvent
}

func (r *sinkRecorder) Publish(e gpu.XIDEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}
func (r *sinkRecorder) Status() string { return "NATS: test sink" }
func (r *sinkRecorder) codes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, e := range r.events {
		out = append(out, e.Code)
	}
	return out
}
