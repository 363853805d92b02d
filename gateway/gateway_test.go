package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
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

type echoArgs struct {
	Text string `json:"text"`
}

// measured is the structured result of the remote servers' data tool, length.
type measured struct {
	Text   string `json:"text"`
	Length int    `json:"length"`
}

// remoteServer is a real MCP server over streamable HTTP (bearer token mcptest.Token) with a
// read tool, echo, that says who answered, a read data tool, length, with an output schema and
// structured content, and a write tool, reset.
func remoteServer(t testing.TB, who string) string {
	t.Helper()
	s := mcptool.NewServer("remote-"+who, "test", "")
	mcptool.Register(s, mcptool.Options{},
		mcptool.New(mcptool.Spec{Name: "echo", Description: "Echo the text back.", Effect: mcptool.Read,
			Params: []mcp.ToolOption{mcp.WithString("text", mcp.Required())}},
			func(_ context.Context, a echoArgs) (string, error) { return who + " says: " + a.Text, nil }),
		mcptool.NewData(mcptool.Spec{Name: "length", Description: "Count the characters of the text.", Effect: mcptool.Read,
			Params: []mcp.ToolOption{mcp.WithString("text", mcp.Required())}},
			func(_ context.Context, a echoArgs) (measured, string, error) {
				return measured{Text: a.Text, Length: len(a.Text)}, fmt.Sprintf("%s: %q has %d characters", who, a.Text, len(a.Text)), nil
			}),
		mcptool.New(mcptool.Spec{Name: "reset", Description: "Reset everything.", Effect: mcptool.Destructive},
			func(context.Context, struct{}) (string, error) { return who + " was reset", nil }),
	)
	return mcptest.Serve(t, s) + serve.Path
}

func namespace(t testing.TB, c client.Client, name string) string {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// tokenSecret holds mcptest.Token for remote ToolServers.
func tokenSecret(t testing.TB, c client.Client, ns string) *opsv1.SecretKeyReference {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "remote-token"},
		StringData: map[string]string{"token": mcptest.Token}}); err != nil {
		t.Fatal(err)
	}
	return &opsv1.SecretKeyReference{Name: "remote-token", Key: "token"}
}

func remoteTS(ns, name, url string, tok *opsv1.SecretKeyReference) *opsv1.ToolServer {
	return &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerRemote, Remote: &opsv1.RemoteToolServer{URL: url, BearerTokenSecretRef: tok}}}
}

func builtinTS(ns, name string) *opsv1.ToolServer {
	return &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: opsv1.ToolServerSpec{Type: opsv1.ToolServerBuiltin, Builtin: &opsv1.BuiltinToolServer{Server: opsv1.BuiltinCluster}}}
}

// create creates ts and sets its status as the ToolServer controller would: Ready (or not) with
// the tools it discovered.
func create(t testing.TB, c client.Client, ts *opsv1.ToolServer, ready bool, tools ...opsv1.DiscoveredTool) {
	t.Helper()
	if err := c.Create(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
	setStatus(t, c, ts, ready, tools...)
}

func setStatus(t testing.TB, c client.Client, ts *opsv1.ToolServer, ready bool, tools ...opsv1.DiscoveredTool) {
	t.Helper()
	st := metav1.ConditionFalse
	reason := "Unreachable"
	if ready {
		st, reason = metav1.ConditionTrue, "Serving"
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(ts), ts); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&ts.Status.Conditions, metav1.Condition{Type: opsv1.ConditionReady, Status: st, Reason: reason, Message: "test"})
	if tools != nil {
		ts.Status.Tools = tools
		ts.Status.ToolCount = int32(len(tools))
	}
	if err := c.Status().Update(context.Background(), ts); err != nil {
		t.Fatal(err)
	}
}

var (
	echoTools    = []opsv1.DiscoveredTool{{Name: "echo", ReadOnly: true, Idempotent: true}, {Name: "length", ReadOnly: true, Idempotent: true}, {Name: "reset", Destructive: true}}
	clusterTools = []opsv1.DiscoveredTool{{Name: "namespaces_list", ReadOnly: true, Idempotent: true}, {Name: "node_cordon", Idempotent: true}}
)

// dial connects a real MCP client over streamable HTTP, listening for server notifications;
// listChanged counts the tools/list_changed notifications received.
func dial(t *testing.T, s *server.MCPServer) (*mcptest.Session, *atomic.Int32) {
	t.Helper()
	c, err := mcpclient.NewStreamableHttpClient(mcptest.Serve(t, s)+serve.Path,
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + mcptest.Token}), transport.WithContinuousListening())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var n atomic.Int32
	c.OnNotification(func(note mcp.JSONRPCNotification) {
		if note.Method == mcp.MethodNotificationToolsListChanged {
			n.Add(1)
		}
	})
	return mcptest.Init(t, c), &n
}

func tools(t *testing.T, s *mcptest.Session) map[string]mcp.Tool {
	t.Helper()
	res, err := s.C.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mcp.Tool{}
	for _, tl := range res.Tools {
		out[tl.Name] = tl
	}
	return out
}

// eventually waits until the gateway's tool list satisfies ok.
func eventually(t *testing.T, s *mcptest.Session, what string, ok func(map[string]mcp.Tool) bool) map[string]mcp.Tool {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := tools(t, s)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			var names []string
			for n := range got {
				names = append(names, n)
			}
			slices.Sort(names)
			t.Fatalf("the tool list never came to %s; it has: %s", what, strings.Join(names, " "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func start(t *testing.T, cfg gateway.Config) *gateway.Gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg.Resync = time.Second
	g, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestAggregation serves two Ready ToolServers — a remote MCP server over HTTP and the builtin
// cluster server in this process — and one that is not Ready: the gateway lists the Ready ones'
// read tools under prefixed names with the source's description, schema and annotations, forwards
// a call to the server that serves it, keeps write tools out, and follows ToolServers turning
// Ready and not Ready with tools/list_changed.
func TestAggregation(t *testing.T) {
	env := shared.Env(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := namespace(t, env.Client, "gw-agg")
	tok := tokenSecret(t, env.Client, ns)
	create(t, env.Client, remoteTS(ns, "echo-tools", remoteServer(t, "echo-server"), tok), true, echoTools...)
	create(t, env.Client, builtinTS(ns, "cluster-tools"), true, clusterTools...)
	late := remoteTS(ns, "late-tools", remoteServer(t, "late-server"), tok)
	create(t, env.Client, late, false, echoTools...)
	builtins, err := kubehost.Builtins(ctx, env.Config, kubehost.BuiltinOptions{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}

	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{ns}, Builtins: builtins})
	s, listChanged := dial(t, g.MCP)
	got := tools(t, s)
	for _, want := range []string{"echo-tools__echo", "cluster-tools__namespaces_list", "list_agents", "ask_agent", "list_incidents", "get_incident"} {
		if _, ok := got[want]; !ok {
			t.Errorf("tool %s is not listed", want)
		}
	}
	for _, hidden := range []string{"echo-tools__reset", "cluster-tools__node_cordon", "late-tools__echo", "approve_action"} {
		if _, ok := got[hidden]; ok {
			t.Errorf("tool %s is listed: write tools, tools of ToolServers that are not Ready and approve_action must be off by default", hidden)
		}
	}
	for name := range got {
		if strings.HasPrefix(name, "cluster-tools__") && name != "cluster-tools__namespaces_list" {
			t.Errorf("tool %s is listed, but ToolServer cluster-tools' status does not list it", name)
		}
	}
	echo := got["echo-tools__echo"]
	if !strings.HasPrefix(echo.Description, "[ToolServer gw-agg/echo-tools] Echo the text back.") {
		t.Errorf("description %q does not keep the source's, prefixed with its server", echo.Description)
	}
	if a := echo.Annotations; a.ReadOnlyHint == nil || !*a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint || a.IdempotentHint == nil || !*a.IdempotentHint {
		t.Errorf("annotations of echo-tools__echo: %+v", a)
	}
	schema, _ := json.Marshal(echo)
	if !strings.Contains(string(schema), `"required":["text"]`) {
		t.Errorf("the input schema of echo-tools__echo is not the source's: %s", schema)
	}

	// Forwarded calls reach the server that serves the tool, and the source's errors come back.
	mcptest.MustContain(t, s.OK("echo-tools__echo", map[string]any{"text": "hello"}), "echo-server says: hello")
	// A data tool keeps its output schema, and its structured content comes through as sent.
	if echo.RawOutputSchema != nil || echo.OutputSchema.Type != "" {
		t.Errorf("echo-tools__echo lists an output schema, but its source declares none: %s", schema)
	}
	length := got["echo-tools__length"]
	if out, _ := json.Marshal(length); !strings.Contains(string(out), `"outputSchema":{`) || !strings.Contains(string(out), `"length":{"type":"integer"}`) {
		t.Errorf("echo-tools__length does not list its source's output schema: %s", out)
	}
	var m measured
	text := s.Data("echo-tools__length", map[string]any{"text": "hello"}, &m)
	if m != (measured{Text: "hello", Length: 5}) || text != `echo-server: "hello" has 5 characters` {
		t.Errorf("echo-tools__length: structured %+v, text %q", m, text)
	}
	mcptest.MustContain(t, s.OK("cluster-tools__namespaces_list", nil), "gw-agg")
	s.Fails("echo-tools__echo", map[string]any{"text": 3}, `argument "text" must be a string`)
	s.Fails("echo-tools__echo", map[string]any{}, `"text" is required`)

	// late-tools turns Ready: its tools appear, and the client is told.
	before := listChanged.Load()
	setStatus(t, env.Client, late, true)
	eventually(t, s, "have late-tools__echo", func(m map[string]mcp.Tool) bool { _, ok := m["late-tools__echo"]; return ok })
	mcptest.MustContain(t, s.OK("late-tools__echo", map[string]any{"text": "hi"}), "late-server says: hi")
	for deadline := time.Now().Add(5 * time.Second); listChanged.Load() == before; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no notifications/tools/list_changed after late-tools turned Ready")
		}
	}

	// echo-tools stops being Ready: its tools go, and a call to one is refused.
	setStatus(t, env.Client, &opsv1.ToolServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "echo-tools"}}, false)
	eventually(t, s, "lose echo-tools__echo", func(m map[string]mcp.Tool) bool { _, ok := m["echo-tools__echo"]; return !ok })
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "echo-tools__echo", map[string]any{"text": "x"}
	if res, err := s.C.CallTool(ctx, req); err == nil {
		if b, _ := json.Marshal(res); !res.IsError || strings.Contains(string(b), "echo-server says") {
			t.Errorf("a tool of a ToolServer that is not Ready was forwarded: %s", b)
		}
	} else if !strings.Contains(err.Error(), "not found") {
		t.Errorf("calling a withdrawn tool: %v", err)
	}
	// A deleted ToolServer's tools go too.
	if err := env.Client.Delete(ctx, late); err != nil {
		t.Fatal(err)
	}
	eventually(t, s, "lose late-tools__echo", func(m map[string]mcp.Tool) bool { _, ok := m["late-tools__echo"]; return !ok })
}

// TestAllowWrites: with AllowWrites the write tools of Ready ToolServers are listed, with their
// annotations, and forwarded.
func TestAllowWrites(t *testing.T) {
	env := shared.Env(t)
	ns := namespace(t, env.Client, "gw-writes")
	create(t, env.Client, remoteTS(ns, "echo-tools", remoteServer(t, "writer"), tokenSecret(t, env.Client, ns)), true, echoTools...)
	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{ns}, AllowWrites: true})
	s, _ := dial(t, g.MCP)
	reset, ok := tools(t, s)["echo-tools__reset"]
	if !ok {
		t.Fatal("echo-tools__reset is not listed with AllowWrites")
	}
	if a := reset.Annotations; a.ReadOnlyHint == nil || *a.ReadOnlyHint || a.DestructiveHint == nil || !*a.DestructiveHint {
		t.Errorf("annotations of echo-tools__reset: %+v", a)
	}
	mcptest.MustContain(t, s.OK("echo-tools__reset", nil), "writer was reset")
}

// TestSameNameInTwoNamespaces: ToolServers of one name in two namespaces get the namespace in
// their prefix, so that both are served and stay apart.
func TestSameNameInTwoNamespaces(t *testing.T) {
	env := shared.Env(t)
	a := namespace(t, env.Client, "gw-twin-a")
	b := namespace(t, env.Client, "gw-twin-b")
	create(t, env.Client, remoteTS(a, "twin-tools", remoteServer(t, "server-a"), tokenSecret(t, env.Client, a)), true, echoTools...)
	create(t, env.Client, remoteTS(b, "twin-tools", remoteServer(t, "server-b"), tokenSecret(t, env.Client, b)), true, echoTools...)
	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{a, b}})
	s, _ := dial(t, g.MCP)
	got := tools(t, s)
	if _, ok := got["twin-tools__echo"]; ok {
		t.Error("twin-tools__echo is listed: ambiguous between two namespaces")
	}
	mcptest.MustContain(t, s.OK("gw-twin-a__twin-tools__echo", map[string]any{"text": "1"}), "server-a says: 1")
	mcptest.MustContain(t, s.OK("gw-twin-b__twin-tools__echo", map[string]any{"text": "2"}), "server-b says: 2")
}

// TestBearerAuth: over HTTP, a request without the token is refused with 401.
func TestBearerAuth(t *testing.T) {
	env := shared.Env(t)
	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{"gw-auth-empty"}})
	url := mcptest.Serve(t, g.MCP) + serve.Path
	for _, auth := range []string{"", "Bearer wrong-token"} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, res.StatusCode)
		}
	}
}

// TestOwnToolsGolden snapshots the gateway's own tools (approve_action included): names,
// descriptions, annotations and input schemas.
func TestOwnToolsGolden(t *testing.T) {
	env := shared.Env(t)
	g := start(t, gateway.Config{RestConfig: env.Config, Namespaces: []string{"gw-golden-empty"}, AllowApprovals: true})
	got := mcptest.GoldenTools(t, g.MCP)
	var names []string
	for _, tl := range got {
		names = append(names, tl.Name)
	}
	if strings.Join(names, " ") != "approve_action ask_agent get_incident list_agents list_incidents" {
		t.Errorf("tools %v", names)
	}
}

func TestToolName(t *testing.T) {
	for _, c := range []struct{ prefix, tool, want string }{
		{"cluster-tools", "pods_list", "cluster-tools__pods_list"},
		{"ns__gpu.tools", "gpu inventory/v2", "ns__gpu.tools__gpu_inventory_v2"},
	} {
		if got := gateway.ToolName(c.prefix, c.tool); got != c.want {
			t.Errorf("ToolName(%q, %q) = %q, want %q", c.prefix, c.tool, got, c.want)
		}
	}
	long1 := gateway.ToolName(strings.Repeat("a", 60), "tool_one")
	long2 := gateway.ToolName(strings.Repeat("a", 60), "tool_two")
	if len(long1) > 64 || len(long2) > 64 || long1 == long2 {
		t.Errorf("long names %q and %q: each at most 64 characters, and distinct", long1, long2)
	}
}

// FuzzToolName: whatever a ToolServer calls itself and its tools, the exposed name is a valid MCP
// tool name of at most 64 characters, and the same input gives the same name.
func FuzzToolName(f *testing.F) {
	for _, seed := range [][2]string{{"cluster-tools", "pods_list"}, {"", ""}, {"ns__x", "a/b c"}, {strings.Repeat("x", 100), "é🙂"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, prefix, tool string) {
		name := gateway.ToolName(prefix, tool)
		if len(name) == 0 || len(name) > 64 {
			t.Fatalf("ToolName(%q, %q) = %q: length %d", prefix, tool, name, len(name))
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
				t.Fatalf("ToolName(%q, %q) = %q has %q", prefix, tool, name, r)
			}
		}
		if gateway.ToolName(prefix, tool) != name {
			t.Fatal("not deterministic")
		}
	})
}
