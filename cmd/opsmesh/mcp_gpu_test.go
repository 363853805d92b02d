//go:build cgo

package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	mcpclient "github.com/mark3labs/mcp-go/client"
)

func TestMCPGPUSimulatedOverStdio(t *testing.T) {
	bin := opsmeshBinary(t)
	c, err := mcpclient.NewStdioMCPClient(bin, nil, "mcp", "gpu", "--simulate=dgxh100",
		"--fault-file", "../../mcpservers/gpu/testdata/faults.yaml", "--node-name", "dgx-7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)

	reads, writes := listTools(t, c)
	slices.Sort(reads)
	if !slices.Equal(reads, []string{"gpu_health", "gpu_list", "gpu_metrics", "gpu_processes", "xid_events"}) || !slices.Equal(writes, []string{"gpu_reset"}) {
		t.Errorf("tools over stdio: reads %v, writes %v", reads, writes)
	}
	out, isErr := callTool(t, c, "gpu_health", map[string]any{"index": 3})
	if isErr || !strings.HasPrefix(out, "simulated: true\nnode: dgx-7\n") || !strings.Contains(out, "failed; action: drain and reboot the node") {
		t.Errorf("gpu_health of the lost GPU over stdio: %s", out)
	}
	out, isErr = callTool(t, c, "gpu_reset", map[string]any{"index": 0})
	if !isErr || !strings.Contains(out, "in use by 2 processes") {
		t.Errorf("gpu_reset of a busy GPU over stdio: error=%v %s", isErr, out)
	}
}

func TestMCPGPUClusterViewOverStdio(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	for _, args := range [][]string{
		{"--simulate=dgxh100", "--cluster-view", "--kubeconfig", kc},
		{"--no-node-agent", "--kubeconfig", kc},
	} {
		c, err := mcpclient.NewStdioMCPClient(bin, nil, append([]string{"mcp", "gpu"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		initialize(t, c)
		reads, _ := listTools(t, c)
		slices.Sort(reads)
		want := []string{"gpu_allocation", "gpu_health", "gpu_idle", "gpu_inventory", "gpu_list", "gpu_metrics", "gpu_node_health", "gpu_processes", "xid_events"}
		if args[0] == "--no-node-agent" {
			want = []string{"gpu_allocation", "gpu_idle", "gpu_inventory", "gpu_node_health"}
		}
		if !slices.Equal(reads, want) {
			t.Errorf("opsmesh mcp gpu %v: read tools %v, want %v", args, reads, want)
		}
		out, isErr := callTool(t, c, "gpu_inventory", map[string]any{"node": "no-such-node"})
		if !isErr || !strings.Contains(out, `node "no-such-node" not found`) {
			t.Errorf("gpu_inventory over stdio with %v: error=%v %s", args, isErr, out)
		}
		c.Close()
	}
}

func TestMCPGPUErrors(t *testing.T) {
	bin := opsmeshBinary(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--simulate=dgx1"}, `--simulate="dgx1" is not a simulated node; use one of dgxa100, dgxh100, dgxh200`},
		{[]string{"--fault-file", "x.yaml"}, "add --simulate=dgxh100"},
		{[]string{"--simulate=dgxh100", "--fault-file", "testdata/no-such-file.yaml"}, "--fault-file: open testdata/no-such-file.yaml"},
		{[]string{"--simulate=dgxh100", "--kubeconfig", "x"}, "--kubeconfig is a flag of the cluster view; add --cluster-view"},
		{[]string{"--cluster-view", "--no-node-agent", "--simulate=dgxh100"}, "--no-node-agent serves the cluster view only"},
		{[]string{"--simulate=dgxh100", "--prometheus-url", "http://127.0.0.1:9090"}, "--prometheus-url is a flag of the cluster view; add --cluster-view"},
		{[]string{"--no-node-agent", "--prometheus-lookback", "1h"}, "--prometheus-lookback goes with --prometheus-url; add it or drop --prometheus-lookback"},
		{[]string{"--no-node-agent", "--prometheus-url", "prometheus:9090"}, `prometheus URL "prometheus:9090" is not an http:// or https:// URL`},
		{[]string{"--no-node-agent", "--prometheus-url", "http://127.0.0.1:9090", "--prometheus-lookback", "10s"}, "prometheus lookback 10s is too short: give at least 1m"},
	} {
		out, err := exec.Command(bin, append([]string{"mcp", "gpu"}, tc.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("opsmesh mcp gpu %v: err=%v, want it to say %q:\n%s", tc.args, err, tc.want, out)
		}
	}
	// Without a driver (this machine, unless it has a GPU) the error says what to do.
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		out, err := exec.Command(bin, "mcp", "gpu").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no NVIDIA driver found on this node (libnvidia-ml.so.1 did not load): run with --simulate=dgxh100") {
			t.Errorf("opsmesh mcp gpu without a driver: err=%v\n%s", err, out)
		}
	}
}
