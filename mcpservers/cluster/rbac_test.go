package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// A server whose identity RBAC does not allow something says so, naming the verb and resource.
func TestRBACDenialsNameVerbAndResource(t *testing.T) {
	ctx := context.Background()
	env := apiServer(t)
	ns := namespace(t, "rbac")
	if err := env.Client.Create(ctx, pod(ns, "p", nil)); err != nil {
		t.Fatal(err)
	}
	// The user may read pods in ns and nothing else.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "limited"}}}
	for _, o := range []clientObject{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := env.UserConfig("limited")
	if err != nil {
		t.Fatal(err)
	}
	s := connectAs(t, cfg, cluster.Config{AllowNamespaces: []string{ns}})

	mustContain(t, s.OK("resources_list", map[string]any{"kind": "pods", "namespace": ns}), "p ")
	s.Fails("resource_get", map[string]any{"kind": "configmap", "namespace": ns, "name": "x"},
		"RBAC denied", `may not get configmap/rbac/x`, `cannot get resource "configmaps"`)
	s.Fails("resources_list", map[string]any{"kind": "configmaps", "namespace": ns},
		"RBAC denied: this server's identity may not list configmaps; grant that verb")

	// Tools that read kinds the identity may not watch answer at once, saying so; before the
	// permission check, the watch cache waited for a sync that never came. The bounded context
	// turns a regression into a failure rather than a hung test.
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"events_list", map[string]any{"namespace": ns}, "events is forbidden: the watch cache needs list on it in namespace rbac"},
		{"resources_list", map[string]any{"kind": "deployments", "namespace": ns}, "deployments.apps is forbidden: the watch cache needs list on it in namespace rbac"},
		{"analyze", map[string]any{"namespace": ns}, "not analyzed: RBAC denied: this server's identity may not list events"},
	} {
		callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		req := mcp.CallToolRequest{}
		req.Params.Name = tc.tool
		req.Params.Arguments = tc.args
		res, err := s.C.CallTool(callCtx, req)
		cancel()
		if err != nil {
			t.Errorf("%s as a user who may not watch what it reads: %v (a hang ends here)", tc.tool, err)
			continue
		}
		text := ""
		for _, c := range res.Content {
			if tc, ok := c.(mcp.TextContent); ok {
				text += tc.Text
			}
		}
		t.Logf("%s: %s", tc.tool, text)
		if !strings.Contains(text, tc.want) {
			t.Errorf("%s as a user who may not watch what it reads = %q, want it to say %q", tc.tool, text, tc.want)
		}
	}
}
