//go:build sandbox

package sandbox

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/sandbox/demo"
)

// TestDemoOnSandbox is `make demo` as a test: the sandbox comes up, the demo runs
// non-interactively on it — twice, as a person running make demo again would — and each of its
// incidents reaches the diagnosis and phase it must; then the sandbox goes down and no process
// it started is left.
func TestDemoOnSandbox(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	ctx := context.Background()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	s := upForTest(t, root)
	dir := s.Dir
	var pids []int
	for _, c := range s.Components {
		pids = append(pids, c.PID)
	}

	want := map[string]struct {
		cause string
		phase opsv1.IncidentPhase
	}{
		demo.ScenarioCrashLoop:  {"CrashLoopBackOff", opsv1.PhaseResolved},
		demo.ScenarioPendingGPU: {"GPUFragmentation", opsv1.PhaseEscalated},
		demo.ScenarioXID:        {"GPUXid79", opsv1.PhaseAwaitingApproval},
		demo.ScenarioOOM:        {"OOMKilled", opsv1.PhaseAwaitingApproval},
	}
	for run := 1; run <= 2; run++ {
		var out bytes.Buffer
		start := time.Now()
		res, err := demo.Run(ctx, demo.Config{RestConfig: s.Config, Out: &out, Faults: s, Timeout: 5 * time.Minute})
		t.Logf("demo run %d took %s", run, time.Since(start).Round(time.Second))
		if err != nil {
			t.Fatalf("demo run %d: %v\n%s", run, err, out.String())
		}
		if len(res.Scenarios) != len(want) {
			t.Fatalf("demo run %d: %d scenarios, want %d", run, len(res.Scenarios), len(want))
		}
		for _, sc := range res.Scenarios {
			w := want[sc.Scenario]
			if !sc.OK || sc.Skipped != "" || sc.RootCause != w.cause || sc.Phase != w.phase || !sc.Simulated {
				t.Errorf("demo run %d, %s: root cause %s, phase %s, ok %v, skipped %q, simulated %v; want %s, %s, simulated\n%s",
					run, sc.Scenario, sc.RootCause, sc.Phase, sc.OK, sc.Skipped, sc.Simulated, w.cause, w.phase, out.String())
			}
			var inc opsv1.Incident
			if err := s.Client.Get(ctx, client.ObjectKey{Namespace: sc.Namespace, Name: sc.Incident}, &inc); err != nil {
				t.Errorf("%s: Incident %s/%s: %v", sc.Scenario, sc.Namespace, sc.Incident, err)
				continue
			}
			if inc.Status.Phase != w.phase || inc.Status.RootCause == nil || inc.Status.RootCause.Category != w.cause {
				t.Errorf("%s: the API server has Incident %s/%s %s with %+v", sc.Scenario, sc.Namespace, sc.Incident, inc.Status.Phase, inc.Status.RootCause)
			}
		}
		crash, _ := res.Scenario(demo.ScenarioCrashLoop)
		if !strings.HasPrefix(crash.Approved, "opsmesh approve ") {
			t.Errorf("the crashloop's rollback was approved by %q, want the opsmesh approve command a person types", crash.Approved)
		}
		xid, _ := res.Scenario(demo.ScenarioXID)
		states := map[string]string{}
		for _, a := range xid.Actions {
			states[a.Tool] = string(a.State) + "/" + a.ApprovedBy
		}
		if states["node_cordon"] != "Succeeded/policy Auto" || !strings.HasPrefix(states["node_drain"], "AwaitingApproval") {
			t.Errorf("XID actions %v: want the cordon run by policy Auto and the drain waiting", states)
		}
		if !strings.Contains(out.String(), "Summary") {
			t.Errorf("the demo printed no summary table:\n%s", out.String())
		}
	}

	if err := Down(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still runs after Down", pid)
		}
	}
}
