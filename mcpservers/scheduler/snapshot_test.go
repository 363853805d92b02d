package scheduler_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// offlineServer builds the server against an address nothing listens on: enough to list tools
// and decode arguments, which need no API server.
func offlineServer(t testing.TB) *scheduler.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := scheduler.New(ctx, &rest.Config{Host: "http://127.0.0.1:1"}, scheduler.Config{Version: "snapshot"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestToolListSnapshot keeps every tool's name, description, annotations and input schema in
// testdata/tools.golden.json; regenerate with UPDATE_GOLDEN=1 and review the diff. The writes'
// annotations are checked here too: job_suspend is the one destructive tool (it terminates
// running pods), and every write is idempotent and takes dryRun.
func TestToolListSnapshot(t *testing.T) {
	tools := mcptest.GoldenTools(t, offlineServer(t).MCP)
	if len(tools) != 9 {
		t.Errorf("%d tools, want 9", len(tools))
	}
	for _, tl := range tools {
		a := tl.Annotations
		read := !strings.Contains("workload_set_queue clusterqueue_set_quota job_suspend job_resume workload_set_priority", tl.Name)
		if *a.ReadOnlyHint != read || *a.DestructiveHint != (tl.Name == "job_suspend") || !*a.IdempotentHint || *a.OpenWorldHint {
			t.Errorf("%s: annotations %+v", tl.Name, a)
		}
		if _, ok := tl.InputSchema.Properties["dryRun"]; ok == read {
			t.Errorf("%s: dryRun offered %v, want %v", tl.Name, ok, !read)
		}
	}
}

// FuzzToolArguments feeds arbitrary bytes to the argument decoding of every tool: decoding never
// panics, and a refusal always says what is wrong. The seed corpus is in
// testdata/fuzz/FuzzToolArguments.
func FuzzToolArguments(f *testing.F) {
	tools := offlineServer(f).Tools()
	f.Add([]byte(`{"namespace":"ml","name":"train","kind":"job"}`), uint8(0))
	f.Add([]byte(`{"kind":"clusterqueue","name":"team-a"}`), uint8(1))
	f.Add([]byte(`{"sizes":[1,2,0],"resource":""}`), uint8(2))
	f.Add([]byte(`{"name":"team-a","flavor":"h100","resource":"nvidia.com/gpu","nominalQuota":"-3"}`), uint8(5))
	f.Add([]byte(`[]`), uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, which uint8) {
		tool := tools[int(which)%len(tools)]
		if err := tool.Decode(raw); err != nil && strings.TrimSpace(err.Error()) == "" {
			t.Fatalf("%s refused %q with an empty error", tool.Name(), raw)
		}
	})
}

// TestArgumentErrorsSayWhatToFix: refused arguments name the argument and the fix.
func TestArgumentErrorsSayWhatToFix(t *testing.T) {
	byName := map[string]interface{ Decode([]byte) error }{}
	for _, tl := range offlineServer(t).Tools() {
		byName[tl.Name()] = tl
	}
	for _, tc := range []struct{ tool, raw, want string }{
		{"explain_pending", `{"namespace":"ml"}`, `argument "name" is required`},
		{"explain_pending", `{"namespace":"ml","name":"x","kinds":"job"}`, `unknown argument "kinds"`},
		{"gpu_fragmentation", `{"sizes":[0]}`, `must be at least 1, not 0`},
		{"clusterqueue_set_quota", `{"name":"a","flavor":"f","resource":"cpu","nominalQuota":"-3"}`, `argument "nominalQuota" must not be negative`},
		{"clusterqueue_set_quota", `{"name":"a","flavor":"f","resource":"cpu","nominalQuota":"x"}`, `must be a quantity such as 32`},
		{"workload_set_queue", `{"kind":"deployment","namespace":"ml","name":"x","queue":"q"}`, `argument "kind" must be one of "job", "workload"`},
		{"queue_status", `{"kind":"localqueue","name":"q"}`, `argument "namespace" is required with kind localqueue`},
		{"workload_set_priority", `{"namespace":"ml","name":"x","priority":"high"}`, `argument "priority" must be an integer`},
	} {
		err := byName[tc.tool].Decode([]byte(tc.raw))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s(%s) = %v, want %q", tc.tool, tc.raw, err, tc.want)
		}
	}
}
