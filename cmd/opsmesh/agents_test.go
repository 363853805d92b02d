package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// TestAgentsAndToolsCLI: agents list/describe and tools list/call against the real API server, in
// each output format, with a builtin ToolServer's tool called in process and its read-only flag
// honoured.
func TestAgentsAndToolsCLI(t *testing.T) {
	kc := kubeconfig(t)
	ns := incidentNamespace(t, "cli-agents")
	env := apiServer(t)
	ctx := context.Background()
	k := func(args ...string) []string { return append(args, "--kubeconfig", kc, "-n", ns) }

	// Before anything exists: a clear word, not an empty table.
	if _, errOut, err := run(t, k("agents", "list")...); err != nil || !strings.Contains(errOut, "No Agents in namespace cli-agents") {
		t.Errorf("agents list of an empty namespace: %v %q", err, errOut)
	}

	ro := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cluster-tools"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}}}
	rw := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cluster-writes"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, ReadOnly: ptr.To(false), Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}}}
	for _, ts := range []*opsv1.ToolServer{ro, rw} {
		if err := env.Client.Create(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
	ro.Status.Tools = []opsv1.DiscoveredTool{
		{Name: "analyze", Description: "Find what is wrong in a namespace.", ReadOnly: true},
		{Name: "resources_list", Description: "List resources of a kind.", ReadOnly: true},
	}
	ro.Status.Conditions = []metav1.Condition{{Type: opsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Serving", Message: "2 tools", LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(ctx, ro); err != nil {
		t.Fatal(err)
	}
	coord := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "coordinator"},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleCoordinator, Description: "Leads incidents.",
			Delegates:   []opsv1.LocalObjectReference{{Name: "cluster-specialist"}},
			Remediation: &opsv1.RemediationPolicy{Mode: opsv1.RemediationApprovalRequired}}}
	spec := &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cluster-specialist"},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "Workloads and pods.",
			Tools: []opsv1.AgentTools{{ToolServer: "cluster-writes", AllowedTools: []string{"analyze", "workload_restart"}, RequireApproval: []string{"workload_restart"}}}}}
	for _, a := range []*opsv1.Agent{coord, spec} {
		if err := env.Client.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	spec.Status = opsv1.AgentStatus{Reasoning: "runbook", ToolCount: 2, Subject: "opsmesh.a2a.cli-agents.cluster-specialist", Runtime: "runtime-0",
		Conditions: []metav1.Condition{{Type: opsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Served", Message: "served over A2A", LastTransitionTime: metav1.Now()}}}
	if err := env.Client.Status().Update(ctx, spec); err != nil {
		t.Fatal(err)
	}

	out, _, err := run(t, k("agents", "list")...)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "agents_list.golden", ages(out))
	out, _, err = run(t, k("agents", "describe", "cluster-specialist")...)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "agents_describe.golden", ages(out))
	out, _, err = run(t, k("agents", "list", "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	var list opsv1.AgentList
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "AgentList" || len(list.Items) != 2 || list.Items[0].ManagedFields != nil {
		t.Errorf("agents list -o json: %v\n%s", err, out)
	}
	if out, _, err = run(t, k("agents", "describe", "coordinator", "-o", "yaml")...); err != nil || !strings.Contains(out, "kind: Agent\n") || !strings.Contains(out, "mode: ApprovalRequired") {
		t.Errorf("agents describe -o yaml: %v\n%s", err, out)
	}
	if _, _, err = run(t, k("agents", "describe", "nobody")...); err == nil || !strings.Contains(err.Error(), "Agents in cli-agents: cluster-specialist, coordinator") {
		t.Errorf("describing a missing Agent: %v", err)
	}
	if _, _, err = run(t, k("agents", "list", "-o", "wide")...); err == nil || !strings.Contains(err.Error(), "use table, yaml or json") {
		t.Errorf("-o wide: %v", err)
	}

	out, _, err = run(t, k("tools", "list")...)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tools_list.golden", ages(out))
	out, _, err = run(t, k("tools", "list", "cluster-tools")...)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tools_list_server.golden", out)
	if out, _, err = run(t, k("tools", "list", "cluster-tools", "-o", "json")...); err != nil || !strings.Contains(out, `"name": "analyze"`) {
		t.Errorf("tools list -o json: %v\n%s", err, out)
	}
	if _, _, err = run(t, k("tools", "list", "gpu-tools")...); err == nil || !strings.Contains(err.Error(), "ToolServers in cli-agents: cluster-tools, cluster-writes") {
		t.Errorf("listing a missing ToolServer: %v", err)
	}

	// A call runs the builtin server in process with the caller's credentials.
	out, _, err = run(t, k("tools", "call", "cluster-tools", "analyze", "--arg", "namespace=cli-agents")...)
	if err != nil || !strings.Contains(out, "no findings in namespace cli-agents") {
		t.Errorf("tools call analyze: %v\n%s", err, out)
	}
	out, _, err = run(t, k("tools", "call", "cluster-tools", "resources_list", "--args", `{"kind":"Namespace"}`)...)
	if err != nil || !strings.Contains(out, "cli-agents") {
		t.Errorf("tools call resources_list --args: %v\n%s", err, out)
	}
	// -o json prints the structured content: analyze's contract.Analysis.
	out, _, err = run(t, k("tools", "call", "cluster-tools", "analyze", "--arg", "namespace=cli-agents", "-o", "json")...)
	var analysis contract.Analysis
	if err != nil || json.Unmarshal([]byte(out), &analysis) != nil || analysis.Where != "namespace cli-agents" || analysis.Findings == nil {
		t.Errorf("tools call analyze -o json: %v\n%s", err, out)
	}
	if _, _, err = run(t, k("tools", "call", "cluster-tools", "analyze", "-o", "xml")...); err == nil || !strings.Contains(err.Error(), "use text") {
		t.Errorf("tools call -o xml: %v", err)
	}
	// Writes: never on a read-only ToolServer; elsewhere only with --write.
	if _, _, err = run(t, k("tools", "call", "cluster-tools", "node_cordon", "--arg", "name=nowhere", "--write")...); err == nil || !strings.Contains(err.Error(), "is read-only") {
		t.Errorf("a write on a read-only ToolServer: %v", err)
	}
	if _, _, err = run(t, k("tools", "call", "cluster-writes", "node_cordon", "--arg", "name=nowhere")...); err == nil || !strings.Contains(err.Error(), "again with --write") {
		t.Errorf("a write without --write: %v", err)
	}
	if _, errOut, err := run(t, k("tools", "call", "cluster-writes", "node_cordon", "--arg", "name=nowhere", "--write")...); err == nil || !strings.Contains(errOut, "nowhere") {
		t.Errorf("cordoning a missing node: %v %q", err, errOut)
	}
	for _, bad := range [][]string{{"--arg", "novalue"}, {"--args", "[1]"}} {
		if _, _, err := run(t, k(append([]string{"tools", "call", "cluster-tools", "analyze"}, bad...)...)...); err == nil {
			t.Errorf("tools call %v was accepted", bad)
		}
	}
}

// TestCompletion: cobra's completion scripts for bash, zsh and fish.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_opsmesh", "zsh": "#compdef opsmesh", "fish": "complete -c opsmesh"} {
		out, _, err := run(t, "completion", shell)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("completion %s: %v; no %q in %d bytes", shell, err, want, len(out))
		}
	}
}

// TestKubectlPlugin: started as kubectl-opsmesh (how kubectl runs a plugin on PATH), usage
// and help say kubectl opsmesh.
func TestKubectlPlugin(t *testing.T) {
	bin := opsmeshBinary(t)
	plugin := filepath.Join(t.TempDir(), "kubectl-opsmesh")
	if err := os.Symlink(bin, plugin); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(plugin, "incidents", "list", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "kubectl opsmesh incidents list [flags]") {
		t.Errorf("kubectl-opsmesh help does not say kubectl opsmesh:\n%s", out)
	}
	out, _ = exec.Command(bin, "incidents", "list", "--help").CombinedOutput()
	if strings.Contains(string(out), "kubectl opsmesh") {
		t.Errorf("opsmesh's own help says kubectl opsmesh:\n%s", out)
	}
}
