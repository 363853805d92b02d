package cluster_test

import (
	"context"
	"testing"

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

	mustContain(t, s.ok("resources_list", map[string]any{"kind": "pods", "namespace": ns}), "p ")
	s.fails("resource_get", map[string]any{"kind": "configmap", "namespace": ns, "name": "x"},
		"RBAC denied", `may not get configmap/rbac/x`, `cannot get resource "configmaps"`)
	s.fails("resources_list", map[string]any{"kind": "configmaps", "namespace": ns},
		"RBAC denied: this server's identity may not list configmaps; grant that verb")
}
