package kubeaccess_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

func TestMayListWatch(t *testing.T) {
	ctx := context.Background()
	env := shared.Env(t)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ka"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "ka", Name: "pods"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "ka", Name: "pods"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pods"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "ka-user"}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := kubeaccess.New(env.Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.MayListWatch(ctx, schema.GroupResource{Resource: "pods"}, ""); err != nil {
		t.Errorf("an administrator may not watch pods: %v", err)
	}

	cfg, err := env.UserConfig("ka-user")
	if err != nil {
		t.Fatal(err)
	}
	user, err := kubeaccess.New(cfg, []string{"ka", "ka"})
	if err != nil {
		t.Fatal(err)
	}
	if len(user.Allow) != 1 || user.Allow[0] != "ka" {
		t.Errorf("Allow = %v, want [ka] (sorted, unique)", user.Allow)
	}
	if err := user.MayListWatch(ctx, schema.GroupResource{Resource: "pods"}, "ka"); err != nil {
		t.Errorf("the user may list and watch pods in ka, but: %v", err)
	}
	for _, tc := range []struct {
		gr   schema.GroupResource
		ns   string
		want string
	}{
		{schema.GroupResource{Resource: "pods"}, "", "pods is forbidden: the watch cache needs list on it across the cluster"},
		{schema.GroupResource{Group: "apps", Resource: "deployments"}, "ka", "deployments.apps is forbidden: the watch cache needs list on it in namespace ka"},
	} {
		err := user.MayListWatch(ctx, tc.gr, tc.ns)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MayListWatch(%s, %q) = %v, want Forbidden saying %q", tc.gr, tc.ns, err, tc.want)
		}
	}

	// A cache confined to ka reads pods there.
	life, cancel := context.WithCancel(ctx)
	defer cancel()
	wc, err := user.StartCache(ctx, life, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var pods corev1.PodList
	if err := wc.List(ctx, &pods, client.InNamespace("ka")); err != nil {
		t.Errorf("the confined cache cannot list pods in ka: %v", err)
	}
}

// TestSharedServes: a server shares the process's access only with the same identity and the
// same allowed namespaces (in any order, repeated or not).
func TestSharedServes(t *testing.T) {
	cfg := &rest.Config{Host: "https://api.example:6443", BearerToken: "controller-token"}
	s, err := kubeaccess.NewShared(context.Background(), cfg, []string{"b", "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := func(change func(*rest.Config)) *rest.Config {
		c := rest.CopyConfig(cfg)
		change(c)
		return c
	}
	for _, tc := range []struct {
		name  string
		cfg   *rest.Config
		allow []string
		want  bool
	}{
		{"the same", cfg, []string{"a", "b"}, true},
		{"a copy, namespaces repeated and unsorted", other(func(*rest.Config) {}), []string{"b", "a", "b"}, true},
		{"another transport wrapper (the same identity)", other(func(c *rest.Config) { c.QPS = 5 }), []string{"a", "b"}, true},
		{"other namespaces", cfg, []string{"a"}, false},
		{"every namespace", cfg, nil, false},
		{"another token", other(func(c *rest.Config) { c.BearerToken = "user-token" }), []string{"a", "b"}, false},
		{"impersonating", other(func(c *rest.Config) { c.Impersonate.UserName = "alice" }), []string{"a", "b"}, false},
		{"another API server", other(func(c *rest.Config) { c.Host = "https://other:6443" }), []string{"a", "b"}, false},
	} {
		if got := s.Serves(tc.cfg, tc.allow); got != tc.want {
			t.Errorf("%s: Serves = %v, want %v", tc.name, got, tc.want)
		}
	}
	var none *kubeaccess.Shared
	if none.Serves(cfg, nil) {
		t.Error("a nil Shared serves a server")
	}
}

// TestResolveKind resolves kinds as kubectl does, from discovery: short names, plurals and
// group-qualified names, a CRD's short name installed after the first lookup, and an unknown
// kind with an error that says where to look.
func TestResolveKind(t *testing.T) {
	ctx := context.Background()
	env := shared.Env(t)
	s, err := kubeaccess.NewShared(ctx, env.Config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		gvk        schema.GroupVersionKind
		gvr        schema.GroupVersionResource
		namespaced bool
	}
	check := func(kind string, w want) {
		t.Helper()
		gvk, gvr, namespaced, err := s.ResolveKind(ctx, kind)
		if err != nil {
			t.Errorf("ResolveKind(%q): %v", kind, err)
			return
		}
		if got := (want{gvk, gvr, namespaced}); got != w {
			t.Errorf("ResolveKind(%q) = %+v, want %+v", kind, got, w)
		}
	}
	deploy := want{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true}
	for _, k := range []string{"deploy", "deployments", "Deployment", "deployments.apps", " deploy "} {
		check(k, deploy)
	}
	check("pvc", want{schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}, schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, true})
	check("no", want{schema.GroupVersionKind{Version: "v1", Kind: "Node"}, schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, false})

	// An unknown kind says so and where the kinds are listed.
	for _, k := range []string{"foo", "wdg"} {
		_, _, _, err := s.ResolveKind(ctx, k)
		if err == nil || !meta.IsNoMatchError(err) || !strings.Contains(err.Error(), `no kind "`+k+`" on this cluster; kubectl api-resources lists them`) {
			t.Errorf("ResolveKind(%q) = %v, want a no-match error saying kubectl api-resources lists the kinds", k, err)
		}
	}
	if _, _, _, err := s.ResolveKind(ctx, ""); err == nil || !strings.Contains(err.Error(), "no kind given") {
		t.Errorf("ResolveKind(\"\") = %v, want an error asking for a kind", err)
	}

	// A CRD installed after the first lookup of its short name is found by it.
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.ClusterScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList", ShortNames: []string{"wdg"}},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}}}},
		},
	}
	if err := env.Client.Create(ctx, crd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), crd) })
	widget := want{schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, false}
	// The API server serves the new kind a moment after the CRD is created.
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, _, _, lastErr = s.ResolveKind(ctx, "wdg"); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("the short name of a CRD installed after the first lookup is never found: %v", lastErr)
	}
	check("wdg", widget)
	check("widgets.example.com", widget)
}
