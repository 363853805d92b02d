package kubehost_test

import (
	"context"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	askclient "github.com/opsmesh/opsmesh/agents/ask"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/a2anats"
	"github.com/opsmesh/opsmesh/agents/broker"
	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	agentruntime "github.com/opsmesh/opsmesh/agents/runtime"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
	"github.com/opsmesh/opsmesh/mcpservers/serve"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// remoteServer is a real MCP server over HTTP that requires token, with one read tool, analyze,
// that names itself (so the test can tell which server answered).
func remoteServer(t *testing.T, token string) string {
	s := mcptool.NewServer("remote", "test", "")
	mcptool.Register(s, mcptool.Options{}, mcptool.NewData(mcptool.Spec{Name: "analyze", Description: "remote analyze", Effect: mcptool.Read,
		Params: []mcp.ToolOption{mcp.WithString("namespace"), mcp.WithString("kind"), mcp.WithString("name"), mcp.WithString("output")}},
		func(context.Context, struct {
			Namespace string `json:"namespace"`
			Kind      string `json:"kind"`
			Name      string `json:"name"`
			Output    string `json:"output"`
		}) (contract.Analysis, string, error) {
			return contract.Analysis{Where: "the remote server", Checked: "nothing", Findings: []contract.Finding{}}, "no findings in the remote server", nil
		}))
	srv := httptest.NewServer(serve.HTTPHandler(s, token))
	t.Cleanup(srv.Close)
	return srv.URL + serve.Path
}

func ask(t *testing.T, b *broker.Broker, ref, subject string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a2anats.Dial(ctx, b.Conn(), ref)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewDataPart(map[string]any{"namespace": subject}))})
	if err != nil {
		t.Fatal(err)
	}
	d, err := askclient.DiagnosisOf(res.(*a2a.Task))
	if err != nil {
		t.Fatal(err)
	}
	return d.Text()
}

// TestHostsAgentsFromTheCluster applies a builtin and a remote ToolServer and two Agents, and
// checks that the runtime hosts them with the right tools, follows a change and a deletion.
func TestHostsAgentsFromTheCluster(t *testing.T) {
	env := shared.Env(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := env.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ops"}}))
	must(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "remote-token"}, Data: map[string][]byte{"token": []byte("s3cret-remote-token\n")}}))
	url := remoteServer(t, "s3cret-remote-token")
	must(c.Create(ctx, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "cluster-tools"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}}}))
	must(c.Create(ctx, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "remote-tools"},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerRemote, Remote: &opsv1.RemoteToolServer{URL: url,
			BearerTokenSecretRef: &opsv1.SecretKeyReference{Name: "remote-token", Key: "token"}}}}))
	specialist := func(name, ts string) *opsv1.Agent {
		return &opsv1.Agent{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: name}, Spec: opsv1.AgentSpec{Role: opsv1.RoleSpecialist, Description: "specialist " + name,
			Tools: []opsv1.AgentTools{{ToolServer: ts, AllowedTools: []string{"analyze"}}}}}
	}
	must(c.Create(ctx, specialist("local", "cluster-tools")))
	must(c.Create(ctx, specialist("far", "remote-tools")))
	must(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "openai"}, Data: map[string][]byte{"api-key": []byte("key-1")}}))
	modeled := specialist("modeled", "cluster-tools")
	modeled.Spec.Model = &opsv1.ModelSpec{Provider: "openai", Model: "gpt-4o", APIKeySecretRef: &opsv1.SecretKeyReference{Name: "openai", Key: "api-key"}}
	must(c.Create(ctx, modeled))

	cs, err := cluster.New(ctx, env.Config, cluster.Config{})
	must(err)
	b, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir()})
	must(err)
	t.Cleanup(b.Close)
	pool, err := mcppool.New(nil, mcppool.Options{})
	must(err)
	var mu sync.Mutex
	var keys []string // the API keys the model engine was built with, in order
	rt, err := agentruntime.New(agentruntime.Config{NATS: b.Conn(), Pool: pool, NamespacedEndpoints: true,
		Models: func(ctx context.Context, a *opsv1.Agent, _ agentruntime.Tools, fallback agentruntime.Engine) (agentruntime.Engine, error) {
			key, err := kubehost.APIKey(ctx, c, a)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			keys = append(keys, key)
			mu.Unlock()
			return fallback, nil
		}})
	must(err)
	t.Cleanup(rt.Close)
	done := make(chan error, 1)
	go func() {
		done <- kubehost.Run(ctx, kubehost.Config{RestConfig: env.Config, Namespaces: []string{"ops"}, Runtime: rt, Pool: pool,
			Builtins: map[opsv1.BuiltinServer]*server.MCPServer{opsv1.BuiltinCluster: cs.MCP}, Resync: time.Second})
	}()
	waitFor(t, func() bool { return slices.Equal(rt.Agents(), []string{"ops/far", "ops/local", "ops/modeled"}) }, func() string { return strings.Join(rt.Agents(), " ") })

	// Rotating the model's API key re-hosts the agent with the new key.
	var sec corev1.Secret
	must(c.Get(ctx, client.ObjectKey{Namespace: "ops", Name: "openai"}, &sec))
	sec.Data["api-key"] = []byte("key-2")
	must(c.Update(ctx, &sec))
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(keys, []string{"key-1", "key-2"})
	}, func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(keys, " ")
	})

	// The builtin cluster server answers in process; the remote one over HTTP with its token.
	if out := ask(t, b, "ops/local", "ops"); !strings.Contains(out, "no problem found in namespace ops") {
		t.Errorf("local agent: %s", out)
	}
	if out := ask(t, b, "ops/far", "ops"); !strings.Contains(out, "no problem found in the remote server") {
		t.Errorf("remote agent: %s", out)
	}

	// Deleting an Agent takes it off the runtime.
	must(c.Delete(ctx, specialist("far", "remote-tools")))
	waitFor(t, func() bool { return slices.Equal(rt.Agents(), []string{"ops/local", "ops/modeled"}) }, func() string { return strings.Join(rt.Agents(), " ") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; last: %s", what())
		}
	}
}
