package main

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

func incidentNamespace(t *testing.T, name string) string {
	t.Helper()
	if err := apiServer(t).Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// diagnosed gives an Incident the status the orchestrator writes: a root cause and actions, two
// of them waiting for approval.
func diagnosed(t *testing.T, ns, name string) {
	t.Helper()
	c := apiServer(t).Client
	ctx := context.Background()
	var inc opsv1.Incident
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &inc); err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(time.Now().Add(-90 * time.Second).Truncate(time.Second))
	inc.Status = opsv1.IncidentStatus{Phase: opsv1.PhaseAwaitingApproval, Count: 1, Coordinator: "incident-coordinator",
		RootCause: &opsv1.RootCause{Category: "GPUXid79", Summary: "GPU 3 on node gpu-7 reports XID 79", Confidence: opsv1.ConfidenceHigh,
			Evidence: []opsv1.Evidence{{Object: "node/gpu-7", Detail: "NVML reports GPU 3 lost"}}},
		Actions: []opsv1.RemediationAction{
			{ID: "cordon", Description: "keep new pods off gpu-7", Tool: "node_cordon", Risk: opsv1.RiskSafe, State: opsv1.ActionSucceeded,
				Arguments: &runtime.RawExtension{Raw: []byte(`{"name":"gpu-7"}`)}},
			{ID: "drain", Description: "move the pods off gpu-7", Tool: "node_drain", Risk: opsv1.RiskDestructive, State: opsv1.ActionAwaitingApproval,
				Arguments: &runtime.RawExtension{Raw: []byte(`{"name":"gpu-7"}`)}},
			{ID: "restart", Description: "restart the trainer", Tool: "workload_restart", Risk: opsv1.RiskDisruptive, State: opsv1.ActionAwaitingApproval},
		},
		Timeline: []opsv1.TimelineEntry{
			{Time: at, Phase: opsv1.PhaseInvestigating, Event: "Delegated", Message: "asked opsmesh/incident-coordinator", Actor: "controller"},
			{Time: at, Phase: opsv1.PhaseAwaitingApproval, Event: "Diagnosed", Message: "GPUXid79; 2 actions wait for approval", Actor: "opsmesh/incident-coordinator"},
		}}
	if err := c.Status().Update(ctx, &inc); err != nil {
		t.Fatal(err)
	}
}

// ages makes relative times stable for golden files: every age becomes "<age>" and runs of
// spaces (which follow the ages' widths) become two.
func ages(s string) string {
	s = regexp.MustCompile(`\b\d+(s|m|m\d+s|h|d)\b`).ReplaceAllString(s, "<age>")
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, "  ")
}

func TestIncidentsCLI(t *testing.T) {
	kc := kubeconfig(t)
	ns := incidentNamespace(t, "cli-inc")
	incidentNamespace(t, "cli-inc-other")
	k := func(args ...string) []string { return append(args, "--kubeconfig", kc) }

	out, _, err := run(t, k("incidents", "create", "-n", ns, "--name", "gpu-7-xid", "--summary", "trainer pods crash on gpu-7",
		"--target", "deployment/cli-inc/trainer", "--severity", "critical", "--question", "why does the trainer crash?",
		"--coordinator", "incident-coordinator", "--label", "team=ml")...)
	if err != nil {
		t.Fatal(err)
	}
	if out != "gpu-7-xid\n" {
		t.Errorf("create printed %q, want the name", out)
	}
	var inc opsv1.Incident
	if err := apiServer(t).Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "gpu-7-xid"}, &inc); err != nil {
		t.Fatal(err)
	}
	if inc.Spec.Source.Type != opsv1.SourceManual || inc.Spec.Severity != opsv1.SeverityCritical || inc.Labels["team"] != "ml" ||
		inc.Spec.Target == nil || *inc.Spec.Target != (opsv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: "trainer"}) ||
		inc.Spec.Question != "why does the trainer crash?" || inc.Spec.Coordinator != "incident-coordinator" {
		t.Errorf("created %+v", inc.Spec)
	}
	out, _, err = run(t, k("incidents", "create", "-n", ns, "--summary", "node gpu-2 is flaky", "--target", "node/gpu-2", "--severity", "info")...)
	if err != nil || !strings.HasPrefix(out, "manual-") {
		t.Fatalf("create without --name: %q, %v", out, err)
	}
	if _, _, err := run(t, k("incidents", "create", "-n", "cli-inc-other", "--name", "elsewhere", "--summary", "another namespace")...); err != nil {
		t.Fatal(err)
	}
	diagnosed(t, ns, "gpu-7-xid")

	// Bad input changes nothing and says what to fix.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"incidents", "create", "-n", ns}, "--summary is required"},
		{[]string{"incidents", "create", "-n", ns, "--summary", "x", "--target", "widget/a/b"}, `unknown kind "widget": this cluster serves no such resource`},
		{[]string{"incidents", "create", "-n", ns, "--summary", "x", "--target", "deployment/trainer"}, "deployment/<namespace>/<name>"},
		{[]string{"incidents", "create", "-n", ns, "--summary", "x", "--severity", "panic"}, "use critical, warning or info"},
		{[]string{"incidents", "create", "-n", ns, "--summary", "x", "--label", "team"}, "write it as key=value"},
		{[]string{"incidents", "list", "-n", ns, "-o", "wide"}, `--output "wide" is not supported`},
		{[]string{"incidents", "get", "nope", "-n", ns}, "Incident nope not found in namespace cli-inc; its Incidents: gpu-7-xid, manual-"},
		{[]string{"approve", "gpu-7-xid", "reboot", "-n", ns, "--as-user", "bob"}, `has no action "reboot"; its actions: cordon, drain, restart (waiting for approval: drain, restart)`},
		{[]string{"approve", "gpu-7-xid", "cordon", "-n", ns, "--as-user", "bob"}, "action cordon is Succeeded, not AwaitingApproval"},
		{[]string{"approve", "nope", "-n", ns}, "Incident nope not found in namespace cli-inc"},
	} {
		_, _, err := run(t, k(tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: err = %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	var list opsv1.IncidentList
	if err := apiServer(t).Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil || len(list.Items) != 2 {
		t.Fatalf("refused creates made Incidents: %d, %v", len(list.Items), err)
	}

	out, _, err = run(t, k("incidents", "list", "-n", ns)...)
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: the node incident was created after gpu-7-xid (same second possible: then by name).
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Contains(out, "elsewhere") || strings.HasPrefix(out, "NAMESPACE") {
		t.Errorf("incidents list -n %s:\n%s", ns, out)
	}
	var gpuLine string
	for _, l := range lines {
		if strings.HasPrefix(l, "gpu-7-xid") {
			gpuLine = l
		}
	}
	golden(t, "incidents_list.golden", ages(lines[0]+"\n"+gpuLine+"\n"))
	out, _, err = run(t, k("incidents", "list", "-A")...)
	if err != nil || !strings.HasPrefix(out, "NAMESPACE") || !strings.Contains(out, "cli-inc-other  elsewhere") {
		t.Errorf("incidents list -A: %v\n%s", err, out)
	}
	out, _, err = run(t, k("incidents", "list", "-n", ns, "-o", "json")...)
	var got opsv1.IncidentList
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got.Items) != 2 || got.Kind != "IncidentList" {
		t.Errorf("incidents list -o json: %v\n%s", err, out)
	}
	out, _, err = run(t, k("incidents", "get", "gpu-7-xid", "-n", ns, "-o", "yaml")...)
	if err != nil || !strings.Contains(out, "kind: Incident\n") || !strings.Contains(out, "category: GPUXid79") || strings.Contains(out, "managedFields") {
		t.Errorf("incidents get -o yaml: %v\n%s", err, out)
	}
	out, _, err = run(t, k("incidents", "get", "gpu-7-xid", "-n", ns)...)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "incidents_get.golden", ages(out))

	// approve as the API server's user (SelfSubjectReview), then reject the rest as bob.
	out, _, err = run(t, k("approve", "gpu-7-xid", "drain", "-n", ns, "--reason", "the GPU is gone")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := apiServer(t).Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "gpu-7-xid"}, &inc); err != nil {
		t.Fatal(err)
	}
	if len(inc.Status.Approvals) != 1 || inc.Status.Approvals[0].By == "" || inc.Status.Approvals[0].Reason != "the GPU is gone" {
		t.Fatalf("approvals %+v", inc.Status.Approvals)
	}
	if want := "Incident cli-inc/gpu-7-xid: action drain (node_drain, destructive) approved by " + inc.Status.Approvals[0].By + "\n"; out != want {
		t.Errorf("approve printed %q, want %q", out, want)
	}
	out, _, err = run(t, k("incidents", "reject", "gpu-7-xid", "-n", ns, "--as-user", "bob")...)
	if err != nil || out != "Incident cli-inc/gpu-7-xid: action restart (workload_restart, disruptive) rejected by bob\n" {
		t.Errorf("reject: %v %q", err, out)
	}
	if _, _, err := run(t, k("approve", "gpu-7-xid", "-n", ns, "--as-user", "bob")...); err == nil || !strings.Contains(err.Error(), "has no action waiting for approval") {
		t.Errorf("approving with nothing left to approve: %v", err)
	}
}

// TestApproveWait: --wait returns once the orchestrator has moved the action on, printing the
// outcome, and gives up after --timeout saying what it still waits for.
func TestApproveWait(t *testing.T) {
	kc := kubeconfig(t)
	ns := incidentNamespace(t, "cli-wait")
	for _, name := range []string{"waited", "forgotten"} {
		if _, _, err := run(t, "incidents", "create", "-n", ns, "--name", name, "--summary", "gpu-7 lost a GPU", "--kubeconfig", kc); err != nil {
			t.Fatal(err)
		}
		diagnosed(t, ns, name)
	}
	// A stand-in for the orchestrator: it runs the drain of "waited" once it is approved.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := apiServer(t).Client
	go func() {
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			var inc opsv1.Incident
			if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "waited"}, &inc) != nil || len(inc.Status.Approvals) == 0 {
				continue
			}
			i := slices.IndexFunc(inc.Status.Actions, func(a opsv1.RemediationAction) bool { return a.ID == "drain" })
			inc.Status.Actions[i].State, inc.Status.Actions[i].Message = opsv1.ActionSucceeded, "node gpu-7 drained: 3 pods evicted"
			if c.Status().Update(ctx, &inc) == nil {
				return
			}
		}
	}()
	out, _, err := run(t, "approve", "waited", "drain", "-n", ns, "--as-user", "alice", "--wait", "--timeout", "30s", "--kubeconfig", kc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "action drain (node_drain, destructive) approved by alice\naction drain: Succeeded: node gpu-7 drained: 3 pods evicted\n") {
		t.Errorf("approve --wait printed:\n%s", out)
	}
	_, _, err = run(t, "approve", "forgotten", "-n", ns, "--as-user", "alice", "--wait", "--timeout", "1s", "--kubeconfig", kc)
	if err == nil || !strings.Contains(err.Error(), "still has drain (AwaitingApproval), restart (AwaitingApproval): is the opsmesh controller running?") {
		t.Errorf("approve --wait with no controller: %v", err)
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"deployment/ml/trainer", "node/gpu-7", "pod/a", "Widget/a/b", "", "/", "pvc/ns/data-0", "job/ns/Upper"} {
		f.Add(s)
	}
	kinds, err := kubeaccess.NewShared(context.Background(), apiServer(f).Config, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseTarget(context.Background(), kinds, s)
		if err != nil {
			if !strings.Contains(err.Error(), "--target") {
				t.Fatalf("error does not name the flag: %v", err)
			}
			return
		}
		if ref.Kind == "" || ref.Name == "" || (ref.Kind == "Node" && ref.Namespace != "") || (ref.Kind == "Pod" && ref.Namespace == "") {
			t.Fatalf("parseTarget(%q) = %+v", s, ref)
		}
	})
}

// TestMCPGatewayOverStdio runs `opsmesh mcp gateway` as a chat client would: its own tools are
// served, approve_action only with --allow-approvals.
func TestMCPGatewayOverStdio(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	for _, tc := range []struct {
		flags []string
		want  bool
	}{{nil, false}, {[]string{"--allow-approvals"}, true}} {
		args := append([]string{"mcp", "gateway", "--kubeconfig", kc, "-n", "cli-gw", "--nats-url", ""}, tc.flags...)
		c, err := mcpclient.NewStdioMCPClient(bin, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		initialize(t, c)
		reads, writes := listTools(t, c)
		if !slices.Contains(reads, "list_incidents") || !slices.Contains(reads, "ask_agent") {
			t.Errorf("%v: tools %v %v", tc.flags, reads, writes)
		}
		if slices.Contains(writes, "approve_action") != tc.want {
			t.Errorf("%v: approve_action served = %v, want %v", tc.flags, !tc.want, tc.want)
		}
		text, isErr := callTool(t, c, "list_incidents", nil)
		if isErr || !strings.Contains(text, "no Incidents in namespaces cli-gw") {
			t.Errorf("list_incidents: %s", text)
		}
		_ = c.Close()
	}
}
