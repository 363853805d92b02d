package main

import (
	"slices"
	"strings"
	"testing"

	mcpclient "github.com/mark3labs/mcp-go/client"
)

// TestMCPSchedulerOverStdio runs the real binary as an MCP client would, against the test API
// server (no Kueue, no Volcano there), read-only.
func TestMCPSchedulerOverStdio(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	c, err := mcpclient.NewStdioMCPClient(bin, nil, "mcp", "scheduler", "--kubeconfig", kc, "--read-only")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)
	reads, writes := listTools(t, c)
	if !slices.Contains(reads, "explain_pending") || len(writes) != 0 {
		t.Errorf("read-only scheduler over stdio serves reads %v and writes %v", reads, writes)
	}
	out, isErr := callTool(t, c, "queue_status", nil)
	if isErr || !strings.Contains(out, "Kueue: not installed") || !strings.Contains(out, "Volcano: not installed") {
		t.Errorf("queue_status over stdio: %s", out)
	}
	if out, isErr := callTool(t, c, "explain_pending", map[string]any{"namespace": "default", "name": "nope"}); !isErr || !strings.Contains(out, "pod default/nope not found") {
		t.Errorf("explain_pending of a missing pod over stdio: error=%v %s", isErr, out)
	}
}

func TestMCPSchedulerFlagsSayWhatToFix(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mcp", "scheduler", "--transport", "http"}, "--transport http needs --token-file"},
		{[]string{"mcp", "scheduler", "--kubeconfig", "/nonexistent/kubeconfig"}, "loading the Kubernetes configuration"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: err = %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
