//go:build cgo

package simulate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
)

// recorder collects the XID events a node reports to its watcher.
type recorder struct {
	mu     sync.Mutex
	events []gpu.XIDEvent
}

func (r *recorder) add(e gpu.XIDEvent) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) get() []gpu.XIDEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gpu.XIDEvent(nil), r.events...)
}

func TestLoadReportsOnlyNewXIDs(t *testing.T) {
	first, err := ParseFaults([]byte("gpus:\n  - index: 1\n    xids: [{code: 48, time: 2025-03-01T10:00:00Z}]\n"), NodeGPUs)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New("dgxh100", first)
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	if err := n.WatchXIDs(context.Background(), r.add, func(error) {}); err != nil {
		t.Fatal(err)
	}
	if got := r.get(); len(got) != 1 || got[0].Code != 48 {
		t.Fatalf("at start the watcher got %+v; want the fault file's XID 48", got)
	}
	more, err := ParseFaults([]byte("gpus:\n  - index: 1\n    xids: [{code: 48, time: 2025-03-01T10:00:00Z}]\n  - index: 3\n    xids: [{code: 79, time: 2025-03-01T11:00:00Z}]\n"), NodeGPUs)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := n.Load(more)
	if err != nil {
		t.Fatal(err)
	}
	got := r.get()
	if len(evs) != 1 || len(got) != 2 || got[1].Code != 79 || got[1].Index != 3 || got[1].UUID == "" {
		t.Fatalf("after loading XID 79 on GPU 3: Load returned %+v, the watcher has %+v; want exactly one new event, XID 79 on GPU 3", evs, got)
	}
	if _, err := n.Load(&Faults{GPUs: []GPUFaults{{Index: 8}}}); err == nil {
		t.Fatal("Load accepted GPU 8 on an 8-GPU node")
	}
	if n.state(3).XIDs[0].Code != 79 {
		t.Fatal("a refused Load changed the faults")
	}
}

func TestFollowInjectsFaultsIntoARunningNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.yaml")
	if err := os.WriteFile(path, []byte("gpus: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New("dgxh100", nil)
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	if err := n.WatchXIDs(context.Background(), r.add, func(error) {}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Follow(ctx, path, 20*time.Millisecond, nil)

	// A broken file changes nothing; the next good one is loaded.
	if err := os.WriteFile(path, []byte("gpus: [{index: 99}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := r.get(); len(got) != 0 {
		t.Fatalf("a refused fault file reported %+v", got)
	}
	if err := os.WriteFile(path, []byte("gpus:\n  - index: 3\n    xids: [{code: 79, time: 2026-01-01T00:00:00Z}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(r.get()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := r.get()
	if len(got) != 1 || got[0].Code != 79 || got[0].Index != 3 {
		t.Fatalf("after writing XID 79 on GPU 3 into the followed file the watcher has %+v", got)
	}
}

// sink records what a node agent hands to its XID publisher (NATS in the sandbox).
type sink struct{ recorder }

func (s *sink) Publish(e gpu.XIDEvent) { s.add(e) }
func (s *sink) Status() string         { return "NATS: test sink" }

// TestClearedFaultsAreForgottenByTheAgent runs a node agent on a node following its fault file,
// as the sandbox does: faults removed from the file leave the agent's gpu_health healthy and its
// xid_events empty, and the same XID written again is a new event, published again.
func TestClearedFaultsAreForgottenByTheAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("gpus: []\n")
	n, err := New("dgxh100", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Follow(ctx, path, 20*time.Millisecond, nil)
	var published sink
	a, err := gpu.NewNodeAgent(ctx, n, gpu.Config{NodeName: "sim-gpu-1", XIDSink: &published})
	if err != nil {
		t.Fatal(err)
	}
	c, err := mcpclient.NewInProcessClient(a.MCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	call := func(tool string, args map[string]any) string {
		t.Helper()
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = tool, args
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v", tool, err, res)
		}
		var b strings.Builder
		for _, content := range res.Content {
			if tc, ok := content.(mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}
	// verdicts is gpu_health's verdict of GPU 2 with its XIDs, once it is want (or after 5 s).
	verdict := func(want string) contract.GPUHealth {
		t.Helper()
		var g contract.GPUHealth
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = "gpu_health", map[string]any{"index": 2}
			res, err := c.CallTool(ctx, req)
			if err != nil || res.IsError {
				t.Fatalf("gpu_health: %v %+v", err, res)
			}
			var h contract.GPUHealthReport
			if err := json.Unmarshal(res.RawStructuredContent, &h); err != nil || len(h.GPUs) != 1 || !h.Simulated {
				t.Fatalf("gpu_health structured content: %v\n%s", err, res.RawStructuredContent)
			}
			if g = h.GPUs[0]; g.Verdict == want {
				break
			}
		}
		return g
	}
	faulty := "gpus:\n  - index: 2\n    xids: [{code: 79, time: 2026-01-01T00:00:00Z}]\n    ecc: {volatileUncorrected: 3}\n    throttle: [HwThermalSlowdown]\n"
	write(faulty)
	if g := verdict("failed"); g.Verdict != "failed" || len(g.XIDs) != 1 || g.XIDs[0] != 79 {
		t.Fatalf("after injecting XID 79 and ECC errors on GPU 2, gpu_health says %+v", g)
	}
	write("gpus: []\n")
	if g := verdict("healthy"); g.Verdict != "healthy" || len(g.XIDs) != 0 || len(g.Reasons) != 0 {
		t.Fatalf("after clearing the fault file, gpu_health of GPU 2 says %+v; want healthy with no reasons", g)
	}
	if x := call("xid_events", nil); !strings.Contains(x, "no XID events") {
		t.Errorf("after clearing the fault file xid_events still lists events:\n%s", x)
	}
	if m := call("gpu_metrics", map[string]any{"index": 2}); strings.Contains(m, "HwThermalSlowdown") {
		t.Errorf("after clearing the fault file gpu_metrics still shows the throttle:\n%s", m)
	}
	// The very same event again (same GPU, code and time) is new once it was cleared.
	write(faulty)
	if g := verdict("failed"); g.Verdict != "failed" || len(g.XIDs) != 1 {
		t.Fatalf("after injecting XID 79 again, gpu_health says %+v", g)
	}
	if got := published.get(); len(got) != 2 || got[0].Code != 79 || got[1].Code != 79 {
		t.Errorf("the agent published %+v; want XID 79 twice (injected, cleared, injected again)", got)
	}
	if x := call("xid_events", nil); strings.Count(x, "2026-01-01T00:00:00Z") != 1 {
		t.Errorf("xid_events after the re-injection should list XID 79 once:\n%s", x)
	}
}

// TestLoadBeforeWatchLeavesXIDsToWatchXIDs: a fault file loaded before the agent watches XIDs
// (Follow's first tick can come before NewNodeAgent) keeps its XIDs for WatchXIDs to report.
func TestLoadBeforeWatchLeavesXIDsToWatchXIDs(t *testing.T) {
	n, err := New("dgxh100", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFaults([]byte("gpus:\n  - index: 4\n    xids: [{code: 48, time: 2026-01-01T00:00:00Z}]\n"), NodeGPUs)
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := n.Load(f); err != nil || len(evs) != 0 {
		t.Fatalf("Load before WatchXIDs = %+v, %v; want no events reported yet", evs, err)
	}
	var r recorder
	if err := n.WatchXIDs(context.Background(), r.add, func(error) {}); err != nil {
		t.Fatal(err)
	}
	if got := r.get(); len(got) != 1 || got[0].Code != 48 || got[0].Index != 4 {
		t.Fatalf("WatchXIDs after the load reported %+v; want XID 48 on GPU 4", got)
	}
}

// TestResetSurvivesReloads: a gpu_reset clears a GPU's faults, and they stay cleared when the
// fault file is loaded again for another GPU's sake; a changed fault, or the GPU's entry removed
// and written again, is injected anew.
func TestResetSurvivesReloads(t *testing.T) {
	load := func(n *Node, text string) {
		t.Helper()
		f, err := ParseFaults([]byte(text), NodeGPUs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Load(f); err != nil {
			t.Fatal(err)
		}
	}
	gpu1 := "  - index: 1\n    ecc: {volatileUncorrected: 2}\n    remappedRows: {uncorrectable: 2, pending: true}\n    lost: true\n    processes: [{pid: 7, usedMiB: 10}]\n"
	n, err := New("dgxh100", nil)
	if err != nil {
		t.Fatal(err)
	}
	load(n, "gpus:\n"+gpu1)
	if err := n.Reset(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if g := n.state(1); g.ECC != nil || g.RemappedRows != nil || g.Lost || len(g.Processes) != 1 {
		t.Fatalf("after the reset GPU 1 has %+v; want no faults, its process kept", g)
	}
	load(n, "gpus:\n"+gpu1+"  - index: 3\n    throttle: [HwSlowdown]\n")
	if g := n.state(1); g.ECC != nil || g.RemappedRows != nil || g.Lost {
		t.Errorf("another GPU's fault brought GPU 1's reset faults back: %+v", g)
	}
	if g := n.state(3); len(g.Throttle) != 1 {
		t.Errorf("GPU 3's new fault was not loaded: %+v", g)
	}
	load(n, "gpus:\n"+strings.Replace(gpu1, "volatileUncorrected: 2", "volatileUncorrected: 5", 1))
	if g := n.state(1); g.ECC == nil || g.ECC.VolatileUncorrected != 5 || g.RemappedRows != nil || g.Lost {
		t.Errorf("after new ECC errors on the reset GPU 1 it has %+v; want the new ECC count only", g)
	}
	load(n, "gpus: []\n")
	load(n, "gpus:\n"+gpu1)
	if g := n.state(1); g.ECC == nil || g.RemappedRows == nil || !g.Lost {
		t.Errorf("GPU 1's faults cleared from the file and written again are not injected: %+v", g)
	}
}
