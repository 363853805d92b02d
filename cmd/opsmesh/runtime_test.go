package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/ask"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRuntimeCommand runs the real binary: `opsmesh runtime` with its embedded NATS listening on
// loopback hosts an Agent applied to the API server, with the builtin cluster ToolServer in its
// process, and a stock a2a-go client over that NATS gets a diagnosis from it.
func TestRuntimeCommand(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	env := apiServer(t)
	ctx := context.Background()
	mustCreate := func(obj client.Object) {
		t.Helper()
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rt-cmd"}})
	mustCreate(&opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "rt-cmd", Name: "cluster-tools"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}}})
	mustCreate(&opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: "rt-cmd", Name: "cluster-specialist"},
		Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "workloads",
			Tools: []opsv1.AgentTools{{ToolServer: "cluster-tools", AllowedTools: []string{"analyze", "resources_list"}}}}})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ml.Addr().String()
	ml.Close()
	cctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(cctx, bin, "runtime", "--kubeconfig", kc, "-n", "rt-cmd", "--nats-listen", addr, "--nats-data-dir", t.TempDir(),
		"--metrics-listen", metricsAddr)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})

	var nc *nats.Conn
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if nc, err = nats.Connect("nats://" + addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runtime's NATS never listened on %s: %v\n%s", addr, err, out.String())
		}
	}
	defer nc.Close()
	var card *a2a.AgentCard
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if card, err = a2anats.Resolve(ctx, nc, "rt-cmd/cluster-specialist"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent was never hosted: %v\n%s", err, out.String())
		}
	}
	if card.Description != "workloads" {
		t.Errorf("card %+v", card)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	c, err := a2anats.Dial(rctx, nc, "rt-cmd/cluster-specialist")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SendMessage(rctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewDataPart(map[string]any{"namespace": "rt-cmd"}))})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ask.DiagnosisOf(res.(*a2a.Task))
	if err != nil {
		t.Fatal(err)
	}
	if d.RootCause.Category != "NoProblemFound" || !strings.Contains(d.RootCause.Summary, "no problem found in namespace rt-cmd") {
		t.Errorf("diagnosis: %s", d.Text())
	}
	if !strings.Contains(out.String(), "opsmesh runtime: NATS at nats://"+addr) {
		t.Errorf("the runtime does not say where its NATS is:\n%s", out.String())
	}

	// --metrics-listen: the request and the tool calls it made are on /metrics.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`opsmesh_a2a_requests_total{agent="rt-cmd/cluster-specialist",method="SendMessage",outcome="ok"} 1`,
		`opsmesh_a2a_request_duration_seconds_count{agent="rt-cmd/cluster-specialist",method="SendMessage"} 1`,
		`opsmesh_mcp_client_calls_total{outcome="ok",server="cluster-tools",tool="analyze"}`,
		`opsmesh_mcp_tool_calls_total{outcome="ok",server="cluster",tool="analyze"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the runtime's /metrics lacks %s:\n%s", want, grepOpsmesh(string(body)))
		}
	}

	// opsmesh diagnose asks the hosted agent over the runtime's NATS and prints its diagnosis.
	diag := []string{"diagnose", "pod/missing-0", "-n", "rt-cmd", "--kubeconfig", kc, "--nats-url", "nats://" + addr, "--agent", "rt-cmd/cluster-specialist"}
	text, _, err := run(t, diag...)
	if err != nil {
		t.Fatalf("diagnose: %v", err)
	}
	if !strings.Contains(text, "subject: pod/rt-cmd/missing-0") || !strings.Contains(text, "(confidence ") {
		t.Errorf("diagnose printed:\n%s", text)
	}
	js, _, err := run(t, append(diag, "-o", "json")...)
	var got struct {
		Subject   string `json:"subject"`
		RootCause struct {
			Category string `json:"category"`
		} `json:"rootCause"`
	}
	if err != nil || json.Unmarshal([]byte(js), &got) != nil || got.Subject != "pod/rt-cmd/missing-0" || got.RootCause.Category == "" {
		t.Errorf("diagnose -o json: %v\n%s", err, js)
	}

	// opsmesh chat reads questions from a pipe: each line one turn, an object's name investigated,
	// a failed turn reported without ending the session, exit ending it.
	var chatOut, chatErr bytes.Buffer
	root := newRootCommand(&chatOut, &chatErr)
	root.SetIn(strings.NewReader("pod/rt-cmd/missing-0\n\nwhat is wrong in namespace rt-cmd?\nexit\nnode/never-sent\n"))
	root.SetArgs([]string{"chat", "--nats-url", "nats://" + addr, "--agent", "rt-cmd/cluster-specialist"})
	if err := root.Execute(); err != nil {
		t.Errorf("chat: %v", err)
	}
	chat := chatOut.String()
	if !strings.Contains(chat, "subject: pod/rt-cmd/missing-0") {
		t.Errorf("chat did not answer the object line:\n%s", chat)
	}
	if n := strings.Count(chat, "(confidence "); n != 2 || strings.Contains(chat, "never-sent") {
		t.Errorf("chat gave %d answers, want 2 (two lines before exit):\n%s", n, chat)
	}
	if chatErr.Len() != 0 {
		t.Errorf("chat wrote to a non-terminal stderr (a spinner or prompt in captured output): %q", chatErr.String())
	}
	if _, _, err := run(t, "diagnose", "pod/x", "-n", "rt-cmd", "--kubeconfig", kc, "--nats-url", "nats://"+addr, "--agent", "rt-cmd/nobody", "--timeout", "5s"); err == nil || !strings.Contains(err.Error(), "rt-cmd/nobody") {
		t.Errorf("diagnose with a missing agent: %v", err)
	}
}

// TestDiagnoseRefusesBadSubjects: a malformed KIND/NAME or a kind the agents cannot diagnose is
// refused before anything is sent, naming what to give.
func TestDiagnoseRefusesBadSubjects(t *testing.T) {
	for arg, want := range map[string]string{
		"web-0":   "give KIND/NAME",
		"pod/":    "give KIND/NAME",
		"pod/a/b": "give KIND/NAME",
	} {
		_, _, err := run(t, "diagnose", arg, "-n", "default", "--nats-url", "nats://127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("diagnose %s: %v, want %q", arg, err, want)
		}
	}
	// Kinds resolve as kubectl resolves them, from the cluster's discovery.
	kinds, err := kubeaccess.NewShared(context.Background(), apiServer(t).Config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for arg, want := range map[string]string{
		"deploy/trainer": "deployment/ml/trainer",
		"node/gpu-7":     "node/gpu-7",
		"no/gpu-7":       "node/gpu-7",
		"hpa/web":        "horizontalpodautoscaler/ml/web",
		"PO/web-0":       "pod/ml/web-0",
	} {
		if s, err := diagnoseSubject(context.Background(), kinds, arg, "ml"); err != nil || s != want {
			t.Errorf("%s = %q, %v; want %s", arg, s, err, want)
		}
	}
	if _, err := diagnoseSubject(context.Background(), kinds, "gizmo/x", "ml"); err == nil || !strings.Contains(err.Error(), `unknown kind "gizmo"`) {
		t.Errorf("gizmo/x: %v", err)
	}
	// Without a cluster the runtime resolves the kind: the subject goes as written.
	if s, err := diagnoseSubject(context.Background(), nil, "deploy/trainer", "ml"); err != nil || s != "deploy/ml/trainer" {
		t.Errorf("deploy/trainer without a cluster = %q, %v", s, err)
	}
}

// grepOpsmesh keeps the opsmesh_ lines of a /metrics page.
func grepOpsmesh(page string) string {
	var b strings.Builder
	for line := range strings.Lines(page) {
		if strings.HasPrefix(line, "opsmesh_") {
			b.WriteString(line)
		}
	}
	return b.String()
}
