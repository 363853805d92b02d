// Package tsclient_test drives opsmesh's MCP servers with the stock TypeScript MCP SDK client
// (npm @modelcontextprotocol/sdk, pinned in package-lock.json beside this file), as a new user's
// chat client would: the real opsmesh binary's cluster server over stdio, and its gateway over
// streamable HTTP with the builtin ToolServers Ready, both on a real API server (envtest). The
// script check.mjs fails for any tool that lists no outputSchema and for any result whose
// structuredContent does not validate against it (with the SDK's validation on, and Ajv's to name
// the field). The tests skip only when node is not on PATH; the first run installs the npm
// packages with npm ci (make tsclient-deps does the same).
package tsclient_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// ns holds the objects the tools read; nodes are cluster-scoped and named after it.
const ns = "tsclient"

var (
	shared testbed.Shared

	binOnce sync.Once
	binPath string
	binErr  error

	depsOnce sync.Once
	depsErr  error

	fixtureOnce sync.Once
	fixtureErr  error
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestTypeScriptClientClusterOverStdio calls every tool of `opsmesh mcp cluster` (writes as dry
// runs) from the TypeScript SDK client over stdio.
func TestTypeScriptClientClusterOverStdio(t *testing.T) {
	node := nodeJS(t)
	env := shared.Env(t)
	fixture(t, env.Client)
	bin, kc := opsmeshBinary(t), kubeconfig(t, env.KubeConfig)

	workload := map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "dryRun": true}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range workload {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	plan := plan{CallEveryTool: true, Calls: []call{
		{Tool: "namespaces_list"},
		{Tool: "api_resources", Arguments: map[string]any{"group": "apps"}},
		{Tool: "resources_list", Arguments: map[string]any{"kind": "pod", "namespace": ns}},
		{Tool: "resources_list", Arguments: map[string]any{"kind": "deploy", "namespace": ns}},
		{Tool: "resource_get", Arguments: map[string]any{"kind": "cm", "namespace": ns, "name": "settings"}},
		{Tool: "resource_get", Arguments: map[string]any{"kind": "service", "namespace": ns, "name": "web"}},
		{Tool: "describe", Arguments: map[string]any{"kind": "deployment", "namespace": ns, "name": "web"}},
		{Tool: "describe", Arguments: map[string]any{"kind": "pod", "namespace": ns, "name": "web-0"}},
		{Tool: "events_list", Arguments: map[string]any{"namespace": ns}},
		// No kubelet serves logs here: the tool answers with an error that says so.
		{Tool: "pod_logs", Arguments: map[string]any{"namespace": ns, "name": "web-0"}, IsError: true},
		{Tool: "nodes_status"},
		{Tool: "workload_health", Arguments: map[string]any{"namespace": ns}},
		{Tool: "analyze", Arguments: map[string]any{"namespace": ns}},
		// The follow-up checks: each answers a CheckReport, validated against its schema.
		{Tool: "access_check", Arguments: map[string]any{"namespace": ns, "serviceAccount": "default", "verb": "list", "resource": "pods"}},
		{Tool: "network_check", Arguments: map[string]any{"namespace": ns, "pod": "web-0"}},
		{Tool: "volume_check", Arguments: map[string]any{"namespace": ns, "pod": "web-0"}},
		{Tool: "disruption_check", Arguments: map[string]any{"namespace": ns, "pod": "web-0"}},
		{Tool: "placement_check", Arguments: map[string]any{"namespace": ns, "kind": "deployment", "name": "web"}},
		{Tool: "reference_check", Arguments: map[string]any{"namespace": ns, "kind": "service", "name": "web"}},
		{Tool: "pod_delete", Arguments: map[string]any{"namespace": ns, "name": "web-0", "dryRun": true}},
		{Tool: "workload_restart", Arguments: workload},
		{Tool: "workload_scale", Arguments: with(map[string]any{"replicas": 3})},
		// The Deployment has no previous revision: an error that says so.
		{Tool: "workload_rollback", Arguments: workload, IsError: true},
		{Tool: "workload_set_image", Arguments: with(map[string]any{"container": "app", "image": "registry.example/app:2"})},
		{Tool: "workload_set_resources", Arguments: with(map[string]any{"container": "app", "limits": map[string]any{"memory": "256Mi"}})},
		{Tool: "node_cordon", Arguments: map[string]any{"name": ns + "-node", "dryRun": true}},
		{Tool: "node_uncordon", Arguments: map[string]any{"name": ns + "-node", "dryRun": true}},
		// web-0 has no controller: a drain refuses it without force (a dry run all the same).
		{Tool: "node_drain", Arguments: map[string]any{"name": ns + "-node", "dryRun": true, "force": true, "timeoutSeconds": 5}},
		{Tool: "resource_patch", Arguments: map[string]any{"kind": "cm", "namespace": ns, "name": "settings", "patch": `{"data":{"mode":"slow"}}`, "dryRun": true}},
		{Tool: "resource_apply", Arguments: map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: " + ns + "}\ndata: {a: b}\n", "dryRun": true}},
	}}
	rep := check(t, node, plan, "--stdio", "--", bin, "mcp", "cluster", "--kubeconfig", kc)
	assertReport(t, rep, plan)
}

// TestTypeScriptClientGatewayOverHTTP lists every tool the gateway serves (its own and the Ready
// builtin ToolServers' cluster, scheduler and gpu view, writes included) and calls a
// representative set, from the TypeScript SDK client over streamable HTTP with a bearer token.
func TestTypeScriptClientGatewayOverHTTP(t *testing.T) {
	node := nodeJS(t)
	env := shared.Env(t)
	fixture(t, env.Client)
	readyBuiltins(t, env)
	bin, kc := opsmeshBinary(t), kubeconfig(t, env.KubeConfig)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(mcptest.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startGateway(t, bin, "mcp", "gateway", "--transport", "http", "--listen", "127.0.0.1:0",
		"--token-file", tokenFile, "--kubeconfig", kc, "--namespace", ns, "--nats-url", "", "--allow-writes")

	plan := plan{Calls: []call{
		{Tool: "list_agents"},
		{Tool: "list_incidents"},
		{Tool: "cluster__namespaces_list"},
		{Tool: "cluster__resources_list", Arguments: map[string]any{"kind": "pod", "namespace": ns}},
		{Tool: "cluster__describe", Arguments: map[string]any{"kind": "service", "namespace": ns, "name": "web"}},
		{Tool: "cluster__workload_health", Arguments: map[string]any{"namespace": ns}},
		{Tool: "cluster__nodes_status"},
		{Tool: "cluster__workload_scale", Arguments: map[string]any{"kind": "deployment", "namespace": ns, "name": "web", "replicas": 3, "dryRun": true}},
		{Tool: "scheduler__explain_pending", Arguments: map[string]any{"namespace": ns, "name": "pending-0"}},
		{Tool: "scheduler__gpu_fragmentation"},
		{Tool: "gpu__gpu_inventory"},
		{Tool: "gpu__gpu_allocation", Arguments: map[string]any{"namespace": ns}},
	}}
	rep := check(t, node, plan, "--url", url, "--token-file", tokenFile)
	assertReport(t, rep, plan)
	for _, want := range []string{"list_agents", "list_incidents", "get_incident", "cluster__node_drain", "scheduler__queue_status", "gpu__gpu_inventory"} {
		if !rep.listed(want) {
			t.Errorf("the gateway does not list %s (it lists %s)", want, strings.Join(rep.names(), ", "))
		}
	}
}

// plan is check.mjs's input: the calls to make.
type plan struct {
	CallEveryTool bool     `json:"callEveryTool"`
	TextOnly      []string `json:"textOnly,omitempty"`
	Calls         []call   `json:"calls"`
}

type call struct {
	Tool      string         `json:"tool"`
	Arguments map[string]any `json:"arguments,omitempty"`
	IsError   bool           `json:"isError,omitempty"`
}

// report is check.mjs's output.
type report struct {
	Target          string `json:"target"`
	Server          any    `json:"server"`
	ProtocolVersion string `json:"protocolVersion"`
	OK              bool   `json:"ok"`
	Tools           []struct {
		Name         string   `json:"name"`
		OutputSchema bool     `json:"outputSchema"`
		SchemaOK     bool     `json:"schemaOk"`
		Errors       []string `json:"errors"`
		Calls        []struct {
			Arguments         map[string]any `json:"arguments"`
			ExpectError       bool           `json:"expectError"`
			IsError           *bool          `json:"isError"`
			StructuredContent bool           `json:"structuredContent"`
			Valid             *bool          `json:"valid"`
			Errors            []string       `json:"errors"`
		} `json:"calls"`
	} `json:"tools"`
	Failures []string `json:"failures"`
	exitCode int
}

func (r *report) names() []string {
	var out []string
	for _, tl := range r.Tools {
		out = append(out, tl.Name)
	}
	return out
}

func (r *report) listed(name string) bool {
	for _, tl := range r.Tools {
		if tl.Name == name {
			return true
		}
	}
	return false
}

// assertReport fails t for every tool without an outputSchema and every planned call that did not
// answer as planned with structuredContent valid against the schema, each naming the tool.
func assertReport(t *testing.T, r *report, p plan) {
	t.Helper()
	if len(r.Tools) == 0 {
		t.Fatalf("%s lists no tools; check.mjs says:\n%s", r.Target, strings.Join(r.Failures, "\n"))
	}
	failed := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		failed++
		t.Errorf(format, args...)
	}
	called := map[string]int{}
	for _, tl := range r.Tools {
		called[tl.Name] = len(tl.Calls)
		switch {
		case !tl.OutputSchema:
			errorf("tool %s lists no outputSchema", tl.Name)
		case !tl.SchemaOK:
			errorf("tool %s: %s", tl.Name, strings.Join(tl.Errors, "; "))
		}
		for _, c := range tl.Calls {
			args, _ := json.Marshal(c.Arguments)
			switch {
			case len(c.Errors) > 0:
				errorf("tool %s(%s): %s", tl.Name, args, strings.Join(c.Errors, "; "))
			case tl.OutputSchema && !c.ExpectError && (c.Valid == nil || !*c.Valid):
				errorf("tool %s(%s): no structuredContent valid against the outputSchema", tl.Name, args)
			}
		}
	}
	for _, c := range p.Calls {
		if _, ok := called[c.Tool]; !ok {
			errorf("the plan calls %s, which %s does not list", c.Tool, r.Target)
		}
	}
	if p.CallEveryTool {
		for name, n := range called {
			if n == 0 {
				errorf("tool %s has no call in the plan; add one", name)
			}
		}
	}
	switch {
	case r.exitCode != 0 && failed == 0:
		t.Errorf("check.mjs failed (exit %d) on %s:\n%s", r.exitCode, r.Target, strings.Join(r.Failures, "\n"))
	case r.exitCode == 0 && failed > 0:
		t.Errorf("check.mjs exited 0 on %s although the report has failures (a bug in check.mjs)", r.Target)
	}
}

// nodeJS returns node's path, skipping the test when node is absent, and installs the npm
// packages (the SDK, Ajv) on first use when node_modules is missing.
func nodeJS(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: skipping the TypeScript MCP SDK client test " +
			"(install Node.js 18 or later, then `make tsclient-deps` or let this test run npm ci)")
	}
	depsOnce.Do(func() { depsErr = npmCI() })
	if depsErr != nil {
		t.Fatal(depsErr)
	}
	return node
}

func npmCI() error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err == nil {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("node is on PATH but npm is not: install npm (it comes with Node.js) to install the " +
			"packages in test/mcpclient-ts (npm ci), or run `make tsclient-deps`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s failed (%v): the TypeScript MCP SDK client cannot be installed; "+
			"check that the npm registry is reachable, or run `make tsclient-deps`:\n%s", dir, err, out)
	}
	return nil
}

// check runs check.mjs with the plan and returns its report.
func check(t *testing.T, node string, p plan, args ...string) *report {
	t.Helper()
	planFile := filepath.Join(t.TempDir(), "plan.json")
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"check.mjs", "--plan", planFile, "--timeout-ms", "30000"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running check.mjs: %v\n%s", err, stderr.String())
	}
	r := &report{}
	if err := json.Unmarshal(stdout.Bytes(), r); err != nil {
		t.Fatalf("check.mjs printed no JSON report (%v; %v):\nstdout:\n%s\nstderr:\n%s", err, cmd.ProcessState, stdout.String(), stderr.String())
	}
	r.exitCode = cmd.ProcessState.ExitCode()
	if r.exitCode == 2 {
		t.Fatalf("check.mjs could not check %s:\n%s", r.Target, stderr.String())
	}
	if r.exitCode != 0 {
		t.Logf("check.mjs on %s (exit %d), its log and the server's:\n%s", r.Target, r.exitCode, stderr.String())
	}
	return r
}

// opsmeshBinary builds the real binary the way a user gets it.
func opsmeshBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "opsmesh-tsclient")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "opsmesh")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/opsmesh")
		cmd.Dir = testbed.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/opsmesh: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func kubeconfig(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixture creates, once, what the tools read: two nodes (one with 8 GPUs), a Deployment with a
// running pod, a running GPU pod, a pending GPU pod the scheduler cannot place, a Service and a
// ConfigMap.
func fixture(t *testing.T, c client.Client) {
	t.Helper()
	fixtureOnce.Do(func() { fixtureErr = createFixture(context.Background(), c) })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
}

func createFixture(ctx context.Context, c client.Client) error {
	gpu := corev1.ResourceName("nvidia.com/gpu")
	labels := map[string]string{"app": "web"}
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}}
	cpuNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-node"}}
	gpuNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-gpu-node", Labels: map[string]string{
		"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8"}}}
	gpus := func(n string) corev1.ResourceRequirements {
		q := corev1.ResourceList{gpu: resource.MustParse(n)}
		return corev1.ResourceRequirements{Requests: q, Limits: q}
	}
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-0", Labels: labels}, Spec: *podSpec.DeepCopy()}
	web.Spec.NodeName = cpuNode.Name
	trainer := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "trainer-0"}, Spec: corev1.PodSpec{
		NodeName:   gpuNode.Name,
		Containers: []corev1.Container{{Name: "train", Image: "registry.example/train:1", Resources: gpus("2")}}}}
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pending-0"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "train", Image: "registry.example/train:1", Resources: gpus("16")}}}}

	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		cpuNode, gpuNode,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec}}},
		web, trainer, pending,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"mode": "fast"}},
	} {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}

	// Status, as the kubelet and the scheduler would write it.
	cpuNode.Status = corev1.NodeStatus{Conditions: ready,
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")}}
	gpuNode.Status = corev1.NodeStatus{Conditions: ready,
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("512Gi"), corev1.ResourcePods: resource.MustParse("110"), gpu: resource.MustParse("8")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("512Gi"), corev1.ResourcePods: resource.MustParse("110"), gpu: resource.MustParse("8")}}
	started := metav1.NewTime(time.Now().Add(-time.Hour))
	running := func(name string) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: name, Ready: true, Image: "registry.example/" + name + ":1",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}}
	}
	web.Status = running("app")
	trainer.Status = running("train")
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.", LastTransitionTime: metav1.Now()}}}
	for _, o := range []client.Object{cpuNode, gpuNode, web, trainer, pending} {
		if err := c.Status().Update(ctx, o); err != nil {
			return fmt.Errorf("setting the status of %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// readyBuiltins creates the builtin cluster, scheduler and gpu ToolServers, not read-only, with
// the status the ToolServer controller gives them: Ready, with the tools their servers list (read
// from the same servers started in this process).
func readyBuiltins(t *testing.T, env *testbed.Env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	servers, err := kubehost.Builtins(ctx, env.Config, kubehost.BuiltinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []opsv1.BuiltinServer{opsv1.BuiltinCluster, opsv1.BuiltinScheduler, opsv1.BuiltinGPU} {
		c, err := mcpclient.NewInProcessClient(servers[name])
		if err != nil {
			t.Fatal(err)
		}
		s := mcptest.Init(t, c)
		res, err := s.C.ListTools(ctx, mcp.ListToolsRequest{})
		_ = c.Close()
		if err != nil {
			t.Fatalf("listing the tools of the builtin %s server: %v", name, err)
		}
		tools := []opsv1.DiscoveredTool{}
		for _, tl := range res.Tools {
			a := tl.Annotations
			ro := a.ReadOnlyHint != nil && *a.ReadOnlyHint
			tools = append(tools, opsv1.DiscoveredTool{Name: tl.Name, ReadOnly: ro,
				Destructive: !ro && (a.DestructiveHint == nil || *a.DestructiveHint),
				Idempotent:  a.IdempotentHint != nil && *a.IdempotentHint})
		}
		ts := &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: string(name)},
			Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: name},
				ReadOnly: ptr.To(false)}}
		if err := env.Client.Create(ctx, ts); err != nil {
			t.Fatal(err)
		}
		meta.SetStatusCondition(&ts.Status.Conditions, metav1.Condition{Type: opsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Serving", Message: "test"})
		ts.Status.Tools, ts.Status.ToolCount = tools, int32(len(tools))
		if err := env.Client.Status().Update(ctx, ts); err != nil {
			t.Fatal(err)
		}
	}
}

var listening = regexp.MustCompile(`opsmesh MCP server on (http://\S+)`)

// startGateway runs the gateway binary until the test ends and returns its MCP URL, read from the
// line it prints once it listens.
func startGateway(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	urls := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("the gateway's log:\n%s", log.String())
			mu.Unlock()
		}
	})
	select {
	case u := <-urls:
		return u
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the gateway exited before listening (%v):\n%s", cmd.Wait(), log.String())
	case <-time.After(90 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the gateway did not listen within 90s:\n%s", log.String())
	}
	return ""
}
