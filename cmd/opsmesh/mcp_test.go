package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/opsmesh/opsmesh/internal/mcptest"
	"github.com/opsmesh/opsmesh/internal/testbed"
)

// shared is the real kube-apiserver and etcd, started on first use; the opsmesh binary is built
// once.
var (
	shared  testbed.Shared
	binOnce sync.Once
	binPath string
	binErr  error
)

func apiServer(t testing.TB) *testbed.Env { return shared.Env(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// opsmeshBinary builds the real binary the way a user gets it.
func opsmeshBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "opsmesh-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "opsmesh")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func kubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, apiServer(t).KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func initialize(t *testing.T, c *mcpclient.Client) { mcptest.Init(t, c) }

func callTool(t *testing.T, c *mcpclient.Client, name string, args map[string]any) (string, bool) {
	t.Helper()
	return (&mcptest.Session{T: t, C: c}).Call(name, args)
}

// listTools returns the tools a client sees, split by their readOnly annotation.
func listTools(t *testing.T, c *mcpclient.Client) (reads, writes []string) {
	t.Helper()
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		if tool.Annotations.ReadOnlyHint != nil && *tool.Annotations.ReadOnlyHint {
			reads = append(reads, tool.Name)
		} else {
			writes = append(writes, tool.Name)
		}
	}
	return reads, writes
}

func TestMCPClusterOverStdio(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	c, err := mcpclient.NewStdioMCPClient(bin, nil, "mcp", "cluster", "--kubeconfig", kc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)

	reads, writes := listTools(t, c)
	if !slices.Contains(reads, "resources_list") || !slices.Contains(reads, "resource_get") {
		t.Errorf("read tools over stdio = %v", reads)
	}
	out, isErr := callTool(t, c, "resources_list", map[string]any{"kind": "namespaces"})
	if isErr || !strings.Contains(out, "kube-system") {
		t.Errorf("resources_list namespaces over stdio: %s", out)
	}
	if out, isErr := callTool(t, c, "resources_list", map[string]any{"kind": "nope"}); !isErr || !strings.Contains(out, `unknown kind "nope"`) {
		t.Errorf("an unknown kind over stdio: error=%v %s", isErr, out)
	}
	t.Logf("%d read tools, %d write tools", len(reads), len(writes))
}

func TestMCPClusterOverHTTP(t *testing.T) {
	bin, kc := opsmeshBinary(t), kubeconfig(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	cmd := exec.Command(bin, "mcp", "cluster", "--kubeconfig", kc, "--transport", "http", "--listen", addr, "--token-file", tokenFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HTTP server did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, auth := range []string{"", "Bearer wrong-token", "Basic czNjcmV0"} {
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}

	c, err := mcpclient.NewStreamableHttpClient(base+"/mcp",
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer s3cret-token-for-tests"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initialize(t, c)
	out, isErr := callTool(t, c, "resources_list", map[string]any{"kind": "namespaces"})
	if isErr || !strings.Contains(out, "default") {
		t.Errorf("resources_list over HTTP: %s", out)
	}
}

func TestMCPFlagsSayWhatToFix(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mcp", "cluster", "--transport", "http"}, "--transport http needs --token-file"},
		{[]string{"mcp", "cluster", "--transport", "carrier-pigeon"}, `--transport "carrier-pigeon" is not supported; use stdio or http`},
		{[]string{"mcp", "cluster", "--max-output", "10"}, "--max-output 10 is too small"},
		{[]string{"mcp", "cluster", "--kubeconfig", "/nonexistent/kubeconfig"}, "loading the Kubernetes configuration"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("opsmesh %s: err = %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
