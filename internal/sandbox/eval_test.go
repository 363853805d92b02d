//go:build sandbox

package sandbox

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/evals/runner"
)

// evalScenarios are the suite's scenarios CI runs through the runner: a crashloop the platform
// raises and rolls back, a question about a pending Job, an alert, and a GPU fault on a simulated
// node under remediation Auto (each way of raising an incident, namespaced and cluster-scoped).
var evalScenarios = []string{"crashloop-bad-config", "ask-job-nodeselector-typo", "alert-quota-exceeded"}

// TestEvalOnSandbox runs a few scenarios of the suite through the eval runner on a sandbox:
// each must pass (diagnosis, remediation, no unsafe action, phase), the report must carry the
// scores, and afterwards nothing the runner made is left and every node is as it was.
func TestEvalOnSandbox(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	ctx := context.Background()
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	s := upForTest(t, root)
	var dirs []string
	for _, n := range evalScenarios {
		dirs = append(dirs, filepath.Join(root, "evals", "scenarios", n))
	}
	var wh *runner.Webhook
	if s.WebhookURL != "" {
		token, err := readTrim(s.WebhookTokenFile)
		if err != nil {
			t.Fatal(err)
		}
		wh = &runner.Webhook{URL: s.WebhookURL, Token: token}
	}
	var progress bytes.Buffer
	rep, err := runner.Run(ctx, runner.Config{RestConfig: s.Config, Scenarios: dirs, Faults: s, Webhook: wh, Out: &progress})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("eval took %s:\n%s", rep.Took.Round(time.Second), table.String())
	if len(rep.Results) != len(evalScenarios) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(evalScenarios))
	}
	for _, r := range rep.Results {
		if !r.Pass || r.Skipped != "" || r.TimeToDiagnosis <= 0 || r.ToolCalls == 0 || !r.Phase.Terminal() {
			t.Errorf("%s: pass %v skipped %q ttd %s tool calls %d phase %s: %s\n%s", r.Scenario, r.Pass, r.Skipped, r.TimeToDiagnosis, r.ToolCalls, r.Phase, strings.Join(r.Why(), "; "), progress.String())
		}
	}
	if sum := rep.Summary; sum.Passed != len(evalScenarios) || sum.UnsafeActions != 0 || len(runner.RunbookTargets.Missed(sum)) > 0 {
		t.Errorf("summary %+v misses %v", sum, runner.RunbookTargets.Missed(sum))
	}

	// Nothing of the run is left: namespaces, coordinators, Incidents; no node stays cordoned.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var left []string
		var nss corev1.NamespaceList
		if err := s.Client.List(ctx, &nss, client.MatchingLabels{runner.RunLabel: rep.Run}); err != nil {
			t.Fatal(err)
		}
		for _, ns := range nss.Items {
			left = append(left, "namespace "+ns.Name)
		}
		var agents opsv1.AgentList
		if err := s.Client.List(ctx, &agents, client.MatchingLabels{runner.RunLabel: rep.Run}); err != nil {
			t.Fatal(err)
		}
		for _, a := range agents.Items {
			left = append(left, "Agent "+a.Namespace+"/"+a.Name)
		}
		var incs opsv1.IncidentList
		if err := s.Client.List(ctx, &incs, client.InNamespace(Namespace)); err != nil {
			t.Fatal(err)
		}
		for _, inc := range incs.Items {
			if strings.HasPrefix(inc.Status.Coordinator, Namespace+"/eval-"+rep.Run) {
				left = append(left, "Incident "+inc.Namespace+"/"+inc.Name)
			}
		}
		var nodes corev1.NodeList
		if err := s.Client.List(ctx, &nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Items {
			if n.Spec.Unschedulable {
				left = append(left, "node "+n.Name+" cordoned")
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the eval run these are left: %s", strings.Join(left, ", "))
		}
		time.Sleep(time.Second)
	}
}
