package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// strict rejects unknown fields, as `kubectl apply` does by default.
var strict = client.FieldValidation(metav1.FieldValidationStrict)

func createNamespace(t *testing.T, env *testbed.Env, name string) string {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// decode turns one YAML document into an unstructured object, so that every field written —
// unknown ones too — reaches the API server, as with kubectl apply.
func decode(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("test YAML does not parse: %v\n%s", err, doc)
	}
	return &unstructured.Unstructured{Object: m}
}

func readSamples(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testbed.RepoRoot(), "deploy", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found under deploy/samples: %v", err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = decode(t, string(b))
	}
	return out
}

func TestSamplesAreAccepted(t *testing.T) {
	env := apiServer(t)
	ctx := context.Background()
	ns := createNamespace(t, env, "samples")
	samples := readSamples(t)

	kinds := map[string]int{}
	roles := map[string]int{}
	servers := map[string]bool{}
	for file, obj := range samples {
		obj.SetNamespace(ns)
		if err := env.Client.Create(ctx, obj, strict); err != nil {
			t.Errorf("sample %s was rejected: %v", file, err)
			continue
		}
		kinds[obj.GetKind()]++
		switch obj.GetKind() {
		case "Agent":
			role, _, _ := unstructured.NestedString(obj.Object, "spec", "role")
			roles[role]++
		case "ToolServer":
			server, _, _ := unstructured.NestedString(obj.Object, "spec", "builtin", "server")
			servers[server] = true
		}
	}

	// The samples the foundation promises: a coordinator, three specialists, three builtin
	// ToolServers, one Incident.
	if roles["coordinator"] != 1 || roles["specialist"] != 3 {
		t.Errorf("samples hold %d coordinator and %d specialist Agents, want 1 and 3", roles["coordinator"], roles["specialist"])
	}
	if !servers["cluster"] || !servers["gpu"] || !servers["scheduler"] || kinds["ToolServer"] != 3 {
		t.Errorf("samples hold ToolServers for %v, want builtin cluster, gpu and scheduler", servers)
	}
	if kinds["Incident"] != 1 {
		t.Errorf("samples hold %d Incidents, want 1", kinds["Incident"])
	}

	// Defaults from the schema are applied by the API server.
	var gpu v1.Agent
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpu-specialist"}, &gpu); err != nil {
		t.Fatal(err)
	}
	if gpu.Spec.Remediation == nil || gpu.Spec.Remediation.Mode != v1.RemediationApprovalRequired ||
		ptr.Deref(gpu.Spec.Remediation.MaxActions, 0) != 5 {
		t.Errorf("gpu-specialist remediation defaulted to %+v, want mode ApprovalRequired and maxActions 5", gpu.Spec.Remediation)
	}
	if gpu.Spec.Limits == nil || ptr.Deref(gpu.Spec.Limits.MaxSteps, 0) != 20 || ptr.Deref(gpu.Spec.Replicas, 0) != 1 {
		t.Errorf("gpu-specialist limits %+v replicas %v, want maxSteps 20 and replicas 1 by default", gpu.Spec.Limits, gpu.Spec.Replicas)
	}
	var inc v1.Incident
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "training-job-7-pending"}, &inc); err != nil {
		t.Fatal(err)
	}
	if inc.Spec.Target == nil || inc.Spec.Target.Kind != "Job" || inc.Spec.Severity != v1.SeverityWarning {
		t.Errorf("incident sample read back as %+v", inc.Spec)
	}
}

// invalidCase is an object the API server must refuse, with the words a person needs to fix it.
type invalidCase struct {
	name string
	// create is the object to create. When patch is set, create must be valid and patch (a JSON
	// merge patch written as YAML) is the update that must be refused.
	create string
	patch  string
	// want are fragments of the error: the field path and the rule's message.
	want []string
}

const (
	validToolServer = `
apiVersion: opsmesh.dev/v1alpha1
kind: ToolServer
metadata: {name: NAME}
spec:
  type: builtin
  builtin: {server: cluster}
`
	validAgent = `
apiVersion: opsmesh.dev/v1alpha1
kind: Agent
metadata: {name: NAME}
spec:
  role: specialist
  description: looks at pods
  tools:
  - toolServer: cluster-tools
    allowedTools: [pod_logs, workload_restart]
`
	validIncident = `
apiVersion: opsmesh.dev/v1alpha1
kind: Incident
metadata: {name: NAME}
spec:
  summary: checkout is crashlooping
  source: {type: event, name: BackOff}
  fingerprint: abc123
  target: {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: checkout}
`
)

// with returns base with the spec lines replaced by spec (indented under "spec:").
func with(base, spec string) string {
	head := base[:strings.Index(base, "spec:")]
	return head + "spec:\n" + spec
}

var invalidCases = []invalidCase{
	// ToolServer
	{name: "toolserver without any server block",
		create: with(validToolServer, "  type: builtin\n"),
		want:   []string{"spec: Invalid value", "exactly one of spec.builtin, spec.container or spec.remote must be set"}},
	{name: "toolserver with two server blocks",
		create: with(validToolServer, "  type: builtin\n  builtin: {server: cluster}\n  remote: {url: https://mcp.example.com/mcp}\n"),
		want:   []string{"spec: Invalid value", "exactly one of spec.builtin, spec.container or spec.remote must be set"}},
	{name: "toolserver type does not match its block",
		create: with(validToolServer, "  type: container\n  builtin: {server: cluster}\n"),
		want:   []string{"spec: Invalid value", "spec.type must name the block that is set"}},
	{name: "toolserver type outside the enum",
		create: with(validToolServer, "  type: sidecar\n  builtin: {server: cluster}\n"),
		want:   []string{"spec.type: Unsupported value: \"sidecar\"", `supported values: "builtin", "container", "remote"`}},
	{name: "builtin server outside the enum",
		create: with(validToolServer, "  type: builtin\n  builtin: {server: dns}\n"),
		want:   []string{"spec.builtin.server: Unsupported value: \"dns\"", `"cluster", "gpu", "scheduler"`}},
	{name: "builtin gpu server with replicas",
		create: with(validToolServer, "  type: builtin\n  builtin: {server: gpu, replicas: 2}\n"),
		want:   []string{"spec.builtin.replicas: Invalid value", "builtin.replicas does not apply to the gpu server"}},
	{name: "builtin replicas above the bound",
		create: with(validToolServer, "  type: builtin\n  builtin: {server: cluster, replicas: 50}\n"),
		want:   []string{"spec.builtin.replicas: Invalid value: 50", "should be less than or equal to 10"}},
	{name: "container without image",
		create: with(validToolServer, "  type: container\n  container: {transport: stdio}\n"),
		want:   []string{"spec.container.image: Required value"}},
	{name: "container speaking http without a port",
		create: with(validToolServer, "  type: container\n  container: {image: ghcr.io/example/mcp:1, transport: http}\n"),
		want:   []string{"spec.container.port: Invalid value", "container.port is required when container.transport is http"}},
	{name: "remote url that is not an http URL",
		create: with(validToolServer, "  type: remote\n  remote: {url: 'ftp://mcp.example.com/'}\n"),
		want:   []string{"spec.remote.url: Invalid value", "remote.url must be an absolute http or https URL"}},
	{name: "remote toolserver with a service account",
		create: with(validToolServer, "  type: remote\n  remote: {url: 'https://mcp.example.com/mcp'}\n  serviceAccountName: mcp\n"),
		want:   []string{"spec.serviceAccountName: Invalid value", "spec.serviceAccountName does not apply to a remote ToolServer"}},
	{name: "remote timeout that is not a duration",
		create: with(validToolServer, "  type: remote\n  remote: {url: 'https://mcp.example.com/mcp', timeout: soon}\n"),
		want:   []string{`spec.remote.timeout: Invalid value: "soon": remote.timeout must be a duration between 1s and 10m`}},
	{name: "toolserver type changed on update",
		create: validToolServer,
		patch:  "spec: {type: remote, builtin: null, remote: {url: 'https://mcp.example.com/mcp'}}",
		want:   []string{"spec.type: Invalid value", "spec.type is immutable; delete and re-create the ToolServer"}},
	{name: "builtin server changed on update",
		create: validToolServer,
		patch:  "spec: {builtin: {server: scheduler}}",
		want:   []string{"spec.builtin.server: Invalid value", "builtin.server is immutable"}},
	{name: "toolserver with an unknown field",
		create: with(validToolServer, "  type: builtin\n  builtin: {server: cluster}\n  readonly: true\n"),
		want:   []string{`unknown field "spec.readonly"`}},

	// Agent
	{name: "agent role outside the enum",
		create: with(validAgent, "  role: boss\n  description: d\n"),
		want:   []string{"spec.role: Unsupported value: \"boss\"", `"coordinator", "specialist"`}},
	{name: "agent without description",
		create: with(validAgent, "  role: specialist\n"),
		want:   []string{"spec.description: Required value"}},
	{name: "requireApproval not a subset of allowedTools",
		create: with(validAgent, "  role: specialist\n  description: d\n  tools:\n  - toolServer: cluster-tools\n    allowedTools: [pod_logs]\n    requireApproval: [pod_delete]\n"),
		want:   []string{"spec.tools[0].requireApproval: Invalid value", "every tool in requireApproval must also be listed in allowedTools"}},
	{name: "tool grant with no tools",
		create: with(validAgent, "  role: specialist\n  description: d\n  tools:\n  - toolServer: cluster-tools\n    allowedTools: []\n"),
		want:   []string{"spec.tools[0].allowedTools: Invalid value", "should have at least 1 items"}},
	{name: "tool name with spaces",
		create: with(validAgent, "  role: specialist\n  description: d\n  tools:\n  - toolServer: cluster-tools\n    allowedTools: ['pod logs']\n"),
		want:   []string{"spec.tools[0].allowedTools[0]: Invalid value: \"pod logs\"", "should match"}},
	{name: "same ToolServer granted twice",
		create: with(validAgent, "  role: specialist\n  description: d\n  tools:\n  - {toolServer: a, allowedTools: [pod_logs]}\n  - {toolServer: a, allowedTools: [events_list]}\n"),
		want:   []string{`spec.tools[1]: Duplicate value: {"toolServer":"a"}`}},
	{name: "coordinator without delegates",
		create: with(validAgent, "  role: coordinator\n  description: d\n"),
		want:   []string{"spec.delegates: Invalid value", "a coordinator Agent must name at least one delegate in spec.delegates"}},
	{name: "agent delegating to itself",
		create: strings.Replace(with(validAgent, "  role: coordinator\n  description: d\n  delegates: [{name: self-ref}]\n"), "NAME", "self-ref", 1),
		want:   []string{"spec.delegates: Invalid value", "spec.delegates must not name the Agent itself"}},
	{name: "replicas out of bounds",
		create: with(validAgent, "  role: specialist\n  description: d\n  replicas: 0\n"),
		want:   []string{"spec.replicas: Invalid value: 0", "should be greater than or equal to 1"}},
	{name: "step limit out of bounds",
		create: with(validAgent, "  role: specialist\n  description: d\n  limits: {maxSteps: 1000}\n"),
		want:   []string{"spec.limits.maxSteps: Invalid value: 1000", "should be less than or equal to 100"}},
	{name: "task timeout out of bounds",
		create: with(validAgent, "  role: specialist\n  description: d\n  limits: {timeout: 72h}\n"),
		want:   []string{"spec.limits.timeout: Invalid value", "limits.timeout must be a duration between 10s and 24h"}},
	{name: "anthropic model without an API key",
		create: with(validAgent, "  role: specialist\n  description: d\n  model: {provider: anthropic, model: claude-sonnet-4-5}\n"),
		want:   []string{"spec.model.apiKeySecretRef: Invalid value", "model.apiKeySecretRef is required for provider anthropic and google"}},
	{name: "model baseURL that is not a URL",
		create: with(validAgent, "  role: specialist\n  description: d\n  model: {provider: openai, model: m, baseURL: 'vllm:8000'}\n"),
		want:   []string{"spec.model.baseURL: Invalid value", "model.baseURL must be an absolute http or https URL"}},
	{name: "autoClasses without mode Auto",
		create: with(validAgent, "  role: specialist\n  description: d\n  remediation: {mode: Suggest, autoClasses: [workload_restart]}\n"),
		want:   []string{"spec.remediation.autoClasses: Invalid value", "remediation.autoClasses applies only with remediation.mode Auto"}},
	{name: "remediation mode outside the enum",
		create: with(validAgent, "  role: specialist\n  description: d\n  remediation: {mode: YOLO}\n"),
		want:   []string{"spec.remediation.mode: Unsupported value: \"YOLO\"", `"Suggest", "ApprovalRequired", "Auto"`}},

	// Incident
	{name: "incident without summary",
		create: with(validIncident, "  source: {type: manual}\n"),
		want:   []string{"spec.summary: Required value"}},
	{name: "incident severity outside the enum",
		create: with(validIncident, "  summary: s\n  severity: sev1\n  source: {type: manual}\n"),
		want:   []string{"spec.severity: Unsupported value: \"sev1\"", `"critical", "warning", "info"`}},
	{name: "incident target without kind",
		create: with(validIncident, "  summary: s\n  source: {type: manual}\n  target: {name: checkout}\n"),
		want:   []string{"spec.target.kind: Required value"}},
	{name: "incident fingerprint changed on update",
		create: validIncident,
		patch:  "spec: {fingerprint: def456}",
		want:   []string{"spec.fingerprint: Invalid value", "spec.fingerprint is immutable once set"}},
	{name: "incident target changed on update",
		create: validIncident,
		patch:  "spec: {target: {name: cart}}",
		want:   []string{"spec.target: Invalid value", "spec.target is immutable; raise a new Incident for another object"}},
	{name: "incident source changed on update",
		create: validIncident,
		patch:  "spec: {source: {type: manual}}",
		want:   []string{"spec.source: Invalid value", "spec.source is immutable"}},
}

func TestInvalidObjectsAreRejected(t *testing.T) {
	env := apiServer(t)
	ctx := context.Background()
	ns := createNamespace(t, env, "invalid")
	for i, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("case-%d", i)
			obj := decode(t, strings.Replace(tc.create, "NAME", name, 1))
			obj.SetNamespace(ns)
			err := env.Client.Create(ctx, obj, strict)
			if tc.patch != "" {
				if err != nil {
					t.Fatalf("the valid object to update was rejected: %v", err)
				}
				patch, jerr := yaml.YAMLToJSON([]byte(tc.patch))
				if jerr != nil {
					t.Fatal(jerr)
				}
				before := obj.DeepCopy()
				err = env.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch), strict)
				// A refused update changes nothing.
				after := before.DeepCopy()
				if gerr := env.Client.Get(ctx, client.ObjectKeyFromObject(before), after); gerr != nil {
					t.Fatal(gerr)
				}
				if after.GetResourceVersion() != before.GetResourceVersion() {
					t.Errorf("a refused update changed the object (resourceVersion %s → %s)", before.GetResourceVersion(), after.GetResourceVersion())
				}
			}
			if err == nil {
				t.Fatalf("the API server accepted the object; want it refused with %q", tc.want)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Errorf("error is %T (%v), want an Invalid or BadRequest status", err, err)
			}
			t.Logf("refused: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
	if len(invalidCases) < 15 {
		t.Errorf("%d invalid cases; the API promises at least 15", len(invalidCases))
	}
}

func TestStatusGoesThroughTheStatusSubresource(t *testing.T) {
	env := apiServer(t)
	ctx := context.Background()
	ns := createNamespace(t, env, "status")
	agent := &v1.Agent{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a"},
		Spec:       v1.AgentSpec{Role: v1.RoleSpecialist, Description: "d"},
	}
	if err := env.Client.Create(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if agent.Generation != 1 {
		t.Fatalf("generation after create = %d, want 1", agent.Generation)
	}

	// A status written through the main resource is dropped.
	agent.Status.Reasoning = "written-through-main-resource"
	if err := env.Client.Update(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if agent.Status.Reasoning != "" {
		t.Errorf("status written through the main resource was kept: %q", agent.Status.Reasoning)
	}

	// Through /status it is kept, the spec written alongside is dropped, and generation stays.
	agent.Status = v1.AgentStatus{
		ObservedGeneration: 1,
		Reasoning:          agent.Spec.Reasoning(),
		ToolCount:          3,
		Conditions: []metav1.Condition{{
			Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Served",
			Message: "served on opsmesh.a2a.status.a", LastTransitionTime: metav1.Now(),
		}},
	}
	agent.Spec.Description = "written-through-status"
	if err := env.Client.Status().Update(ctx, agent); err != nil {
		t.Fatal(err)
	}
	var got v1.Agent
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(agent), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Reasoning != "runbook" || got.Status.ToolCount != 3 || len(got.Status.Conditions) != 1 {
		t.Errorf("status through the subresource was not kept: %+v", got.Status)
	}
	if got.Spec.Description != "d" {
		t.Errorf("spec written through /status was kept: %q", got.Spec.Description)
	}
	if got.Generation != 1 {
		t.Errorf("generation after a status update = %d, want 1", got.Generation)
	}

	// A spec change bumps the generation, so status.observedGeneration can say what it describes.
	got.Spec.Description = "looks at pods"
	if err := env.Client.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 2 || got.Status.ObservedGeneration != 1 {
		t.Errorf("after a spec change: generation %d observedGeneration %d, want 2 and 1", got.Generation, got.Status.ObservedGeneration)
	}

	// Status is validated too.
	got.Status.Conditions[0].Status = "Maybe"
	err := env.Client.Status().Update(ctx, &got)
	if err == nil || !strings.Contains(err.Error(), `status.conditions[0].status: Unsupported value: "Maybe"`) {
		t.Errorf("a condition with status Maybe: err = %v, want it refused", err)
	}
}

func TestPrinterColumnsAndNames(t *testing.T) {
	env := apiServer(t)
	ctx := context.Background()
	want := map[string]struct {
		columns    []string
		shortNames []string
	}{
		"agents.opsmesh.dev":      {[]string{"Role", "Model", "Tools", "Ready", "Age"}, []string{"ag"}},
		"toolservers.opsmesh.dev": {[]string{"Type", "Server", "Read-Only", "Tools", "Ready", "Age"}, []string{"ts"}},
		"incidents.opsmesh.dev":   {[]string{"Severity", "Phase", "Root Cause", "Target", "Count", "Age"}, []string{"inc"}},
	}
	for name, w := range want {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			t.Fatalf("CRD %s is not installed: %v", name, err)
		}
		v := crd.Spec.Versions[0]
		var cols []string
		for _, c := range v.AdditionalPrinterColumns {
			cols = append(cols, c.Name)
		}
		if !slices.Equal(cols, w.columns) {
			t.Errorf("%s printer columns = %v, want %v", name, cols, w.columns)
		}
		if v.Subresources == nil || v.Subresources.Status == nil {
			t.Errorf("%s has no status subresource", name)
		}
		if !slices.Equal(crd.Spec.Names.ShortNames, w.shortNames) || !slices.Contains(crd.Spec.Names.Categories, "opsmesh") {
			t.Errorf("%s names = %+v, want short names %v and category opsmesh", name, crd.Spec.Names, w.shortNames)
		}
	}

	// The server answers discovery with the short names, so `kubectl get ag` works.
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dc.ServerResourcesForGroupVersion("opsmesh.dev/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	short := map[string][]string{}
	for _, r := range list.APIResources {
		short[r.Name] = r.ShortNames
	}
	if !slices.Equal(short["agents"], []string{"ag"}) || !slices.Equal(short["incidents"], []string{"inc"}) {
		t.Errorf("discovery short names = %v", short)
	}
}

// TestKubectlGetShowsTheColumns asks the API server for the table kubectl prints, and checks the
// cells a person sees for an Agent, a ToolServer and an Incident.
func TestKubectlGetShowsTheColumns(t *testing.T) {
	env := apiServer(t)
	ctx := context.Background()
	ns := createNamespace(t, env, "table")
	c := env.Client

	agent := &v1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "coord"}, Spec: v1.AgentSpec{
		Role: v1.RoleCoordinator, Description: "d", Delegates: []v1.LocalObjectReference{{Name: "s"}},
	}}
	ts := &v1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tools"}, Spec: v1.ToolServerSpec{
		Type: v1.ToolServerBuiltin, Builtin: &v1.BuiltinToolServer{Server: v1.BuiltinScheduler},
	}}
	inc := &v1.Incident{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inc"}, Spec: v1.IncidentSpec{
		Summary: "s", Severity: v1.SeverityCritical, Source: v1.IncidentSource{Type: v1.SourceManual},
		Target: &v1.TargetReference{Kind: "Pod", Namespace: ns, Name: "p"},
	}}
	for _, o := range []client.Object{agent, ts, inc} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	ready := []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.Now()}}
	agent.Status = v1.AgentStatus{Reasoning: agent.Spec.Reasoning(), ToolCount: 7, Conditions: ready}
	ts.Status = v1.ToolServerStatus{ToolCount: 4, Conditions: ready}
	inc.Status = v1.IncidentStatus{Phase: v1.PhaseDiagnosed, Count: 3, RootCause: &v1.RootCause{Category: "OOMKilled", Summary: "container app exceeds its 512Mi limit"}}
	for _, o := range []client.Object{agent, ts, inc} {
		if err := c.Status().Update(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		resource string
		want     []any // cells before Age; numbers come back as float64
	}{
		{"agents", []any{"coord", "coordinator", "runbook", float64(7), "True"}},
		{"toolservers", []any{"tools", "builtin", "scheduler", true, float64(4), "True"}},
		{"incidents", []any{"inc", "critical", "Diagnosed", "container app exceeds its 512Mi limit", "p", float64(3)}},
	} {
		table := getTable(t, env.Config, ns, tc.resource)
		if len(table.Rows) != 1 {
			t.Fatalf("%s table has %d rows, want 1", tc.resource, len(table.Rows))
		}
		cells := table.Rows[0].Cells
		if len(cells) != len(tc.want)+1 {
			t.Fatalf("%s row = %v, want %v and an age", tc.resource, cells, tc.want)
		}
		for i, w := range tc.want {
			if cells[i] != w {
				t.Errorf("%s column %q = %v, want %v", tc.resource, table.ColumnDefinitions[i].Name, cells[i], w)
			}
		}
	}
}

func getTable(t *testing.T, cfg *rest.Config, ns, resource string) metav1.Table {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.JoinPath(cfg.Host, "apis/opsmesh.dev/v1alpha1/namespaces", ns, resource)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as a table: %s: %s", req.URL, resp.Status, body)
	}
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("GET %s as a table: %v\n%s", resource, err, body)
	}
	return table
}

// TestSchemaIsDocumented checks that every field has a description, which `kubectl explain`
// shows; a field without a doc comment is a public surface nobody can learn from.
func TestSchemaIsDocumented(t *testing.T) {
	env := apiServer(t)
	ctx := context.Background()
	for _, name := range []string{"agents.opsmesh.dev", "toolservers.opsmesh.dev", "incidents.opsmesh.dev"} {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			t.Fatal(err)
		}
		root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
		for _, part := range []string{"spec", "status"} {
			walkSchema(root.Properties[part], name+"."+part, func(path string, s apiextensionsv1.JSONSchemaProps) {
				if strings.TrimSpace(s.Description) == "" {
					t.Errorf("%s has no description; add a doc comment to its Go field", path)
				}
			})
		}
	}
}

func walkSchema(s apiextensionsv1.JSONSchemaProps, path string, visit func(string, apiextensionsv1.JSONSchemaProps)) {
	visit(path, s)
	for k, p := range s.Properties {
		walkSchema(p, path+"."+k, visit)
	}
	if s.Items != nil && s.Items.Schema != nil {
		for k, p := range s.Items.Schema.Properties {
			walkSchema(p, path+"[]."+k, visit)
		}
	}
}
