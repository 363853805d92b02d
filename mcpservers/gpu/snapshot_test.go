//go:build cgo

package gpu_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/gpu"
)

// TestToolListSnapshot keeps every tool's name, description, annotations and input schema in
// testdata/tools.golden.json. Regenerate with UPDATE_GOLDEN=1 and read the diff.
func TestToolListSnapshot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := gpu.NewNodeAgent(ctx, simNode(t, "dgxh100", ""), gpu.Config{Version: "snapshot"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range mcptest.GoldenTools(t, a.MCP) {
		an := tl.Annotations
		if (tl.Name == "gpu_reset") != !*an.ReadOnlyHint || (tl.Name == "gpu_reset") != *an.DestructiveHint {
			t.Errorf("tool %s: only gpu_reset may be a destructive write: %+v", tl.Name, an)
		}
	}
}

// FuzzToolArguments feeds arbitrary bytes to every tool's argument decoding: it never panics, and
// a refusal always says what is wrong. Seed corpus: testdata/fuzz/FuzzToolArguments.
func FuzzToolArguments(f *testing.F) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := gpu.NewNodeAgent(ctx, simNode(f, "dgxh100", ""), gpu.Config{})
	if err != nil {
		f.Fatal(err)
	}
	tools := a.Tools()
	f.Add([]byte(`{"index":3}`), uint8(0))
	f.Add([]byte(`{"uuid":"GPU-1","index":1}`), uint8(1))
	f.Add([]byte(`{"index":-1,"limit":0}`), uint8(4))
	f.Add([]byte(`{"dryRun":"yes"}`), uint8(5))
	f.Add([]byte(`[]`), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		tool := tools[int(which)%len(tools)]
		if err := tool.Decode(raw); err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatalf("%s refused %q with an empty error", tool.Name(), raw)
		}
	})
}

// TestRealDriver reads the machine's GPUs through the real NVML, when there is one.
func TestRealDriver(t *testing.T) {
	lib, err := gpu.OpenDriver()
	if err != nil {
		t.Skipf("no NVIDIA driver on this machine: libnvidia-ml.so.1 did not load (%v)", err)
	}
	defer lib.Shutdown()
	s := connect(t, lib, gpu.Config{ReadOnly: true})
	for _, tool := range []string{"gpu_list", "gpu_metrics", "gpu_health"} {
		start := time.Now()
		out := s.OK(tool, nil)
		t.Logf("%s in %v:\n%s", tool, time.Since(start), out)
		if strings.Contains(out, "simulated: true") {
			t.Errorf("%s on the real driver says simulated", tool)
		}
		if !strings.Contains(out, "node: gpu-node-1") {
			t.Errorf("%s does not name the node", tool)
		}
	}
}

// BenchmarkRealGPUHealth times a full gpu_health snapshot through the real NVML beside
// `nvidia-smi -q` on the same machine in the same run (the target: gpu_health at least 10×
// faster). It skips, saying why, on a machine without an NVIDIA driver or nvidia-smi.
func BenchmarkRealGPUHealth(b *testing.B) {
	lib, err := gpu.OpenDriver()
	if err != nil {
		b.Skipf("no NVIDIA driver on this machine: libnvidia-ml.so.1 did not load (%v)", err)
	}
	defer lib.Shutdown()
	b.Run("gpu_health", func(b *testing.B) {
		s := connect(b, lib, gpu.Config{ReadOnly: true})
		for b.Loop() {
			s.OK("gpu_health", nil)
		}
	})
	b.Run("nvidia-smi-q", func(b *testing.B) {
		smi, err := exec.LookPath("nvidia-smi")
		if err != nil {
			b.Skipf("nvidia-smi is not on PATH: %v", err)
		}
		for b.Loop() {
			if out, err := exec.Command(smi, "-q").CombinedOutput(); err != nil {
				b.Fatalf("nvidia-smi -q: %v\n%s", err, out)
			}
		}
	})
}

func BenchmarkGPUMetrics8Simulated(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a, err := gpu.NewNodeAgent(ctx, simNode(b, "dgxh100", faultFile), gpu.Config{})
		if err != nil {
			b.Fatal(err)
		}
		tools := a.Tools()
		var metrics = tools[1]
		if metrics.Name() != "gpu_metrics" {
			b.Fatalf("tool 1 is %s", metrics.Name())
		}
		c, err := mcpclient.NewInProcessClient(a.MCP)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
		if _, err := c.Initialize(ctx, init); err != nil {
			b.Fatal(err)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "gpu_metrics"
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.CallTool(ctx, req)
			if err != nil || res.IsError {
				b.Fatal(err, res)
			}
		}
	})
	b.Run("mcp-http", func(b *testing.B) {
		s := connect(b, simNode(b, "dgxh100", faultFile), gpu.Config{})
		b.ReportAllocs()
		for b.Loop() {
			s.OK("gpu_metrics", nil)
		}
	})
}
