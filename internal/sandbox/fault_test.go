//go:build cgo

package sandbox

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	defer cancel()
	go node.Follow(ctx, s.faultFile("sim-gpu-1"), 50*time.Millisecond, nil)
	sink := &sinkRecorder{}
	a, err := gpu.NewNodeAgent(ctx, node, gpu.Config{NodeName: "sim-gpu-1", XIDSink: sink})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.HTTPHandler(a.MCP, "secret-token"))
	defer srv.Close()
	s.Agents = map[string]string{"sim-gpu-1": srv.URL + "/mcp"}

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
